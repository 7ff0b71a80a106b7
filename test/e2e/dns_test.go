//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nestor-dev/nestor/internal/naming"
)

const (
	clientNamespace = "dns-client"
	// outsideName is what the host's DNS answers for a name no cluster
	// serves (test/e2e/manifests/coredns.yaml): the internet, which the
	// node cannot reach.
	outsideName, outsideAddress = "www.outside.nestor.test", "192.0.2.10"
)

// namesResolve is the DNS scenario: a pod in one virtual namespace reaches
// the web Service of another (runWorkload's) by its full and its short
// name, a headless Service's pod by its hostname and subdomain, a headless
// Service by its bare name, and a name outside every cluster through the
// host's DNS; the host's own cluster names are not the tenant's.
func namesResolve(t *testing.T, tn *tenant) {
	t.Cleanup(func() { diagnose(t, tn.vc) })
	g := NewWithT(t)
	ctx := context.Background()
	mustKubectl(t, "--kubeconfig", tn.kubeconfig, "create", "namespace", clientNamespace)
	peerLabels := map[string]string{"app": "peer"}
	peer := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: clientNamespace, Name: "peer-0", Labels: peerLabels},
		Spec: corev1.PodSpec{
			Hostname:        "peer-0",
			Subdomain:       "peers",
			SecurityContext: restricted(),
			Containers: []corev1.Container{{Name: "serve", Image: "nestor.e2e/testapp:" + imageTag,
				Args: []string{"serve", ":8080", "/etc/hosts"}, SecurityContext: containerRestricted(),
				Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}},
		},
	}
	peers := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: clientNamespace, Name: "peers"},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone, Selector: peerLabels,
			Ports: []corev1.ServicePort{{Port: 8080, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	for _, obj := range []client.Object{peer, peers} {
		g.Expect(tn.client.Create(ctx, obj)).To(Succeed())
	}

	dnsSvc := &corev1.Service{}
	g.Expect(host.Get(ctx, client.ObjectKey{Namespace: tn.vc.Namespace, Name: naming.ForVirtualCluster(tn.vc.Namespace, tn.vc.Name).DNS}, dnsSvc)).To(Succeed())
	web := fmt.Sprintf("file=%s", greeting)
	checks := []struct{ name, command, arg, want string }{
		{"service-fqdn", "get", "http://web." + demoNamespace + ".svc.cluster.local/", web},
		{"service-short", "get", "http://web." + demoNamespace + "/", web},
		{"headless-pod", "get", "http://peer-0.peers." + clientNamespace + ".svc.cluster.local:8080/", "host=peer-0"},
		// Its hosts file names it in its virtual namespace, as `hostname -f` reads it.
		{"own-fqdn", "get", "http://peer-0.peers." + clientNamespace + ".svc.cluster.local:8080/", "peer-0.peers." + clientNamespace + ".svc.cluster.local\tpeer-0"},
		{"headless-bare", "get", "http://peers:8080/", "host=peer-0"},
		{"outside", "resolve", outsideName, outsideAddress},
		// The virtual cluster's own kube-dns is its DNS; the host's Services
		// stay out of its names.
		{"kube-dns", "resolve", "kube-dns.kube-system.svc.cluster.local", dnsSvc.Spec.ClusterIP},
		{"host-names-stay-out", "resolve", "nestor-webhook-service." + operatorNamespace + ".svc.cluster.local", "-"},
	}
	var containers []corev1.Container
	for _, c := range checks {
		containers = append(containers, corev1.Container{Name: c.name, Image: "nestor.e2e/testapp:" + imageTag,
			Args: []string{c.command, c.arg, c.want, "90s"}, SecurityContext: containerRestricted()})
	}
	// One after another, as init containers; the last is the pod's own.
	resolver := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: clientNamespace, Name: "resolver"},
		Spec: corev1.PodSpec{
			RestartPolicy:   corev1.RestartPolicyNever,
			SecurityContext: restricted(),
			InitContainers:  containers[:len(containers)-1],
			Containers:      containers[len(containers)-1:],
		},
	}
	g.Expect(tn.client.Create(ctx, resolver)).To(Succeed())
	hostNs, hostName := tn.names.HostNamespace(clientNamespace), tn.names.HostName(clientNamespace, "resolver")
	logs := func() string {
		var b strings.Builder
		for _, c := range checks {
			out, _ := kubectl("logs", "-n", hostNs, hostName, "-c", c.name)
			fmt.Fprintf(&b, "%s: %s\n", c.name, strings.TrimSpace(out))
		}
		return b.String()
	}
	start := time.Now()
	g.Eventually(func() (corev1.PodPhase, error) {
		p := &corev1.Pod{}
		err := tn.client.Get(ctx, client.ObjectKeyFromObject(resolver), p)
		return p.Status.Phase, err
	}).WithTimeout(5*time.Minute).WithPolling(time.Second).Should(Equal(corev1.PodSucceeded), logs)
	t.Logf("every name resolved within %s:\n%s", time.Since(start).Round(time.Second), logs())

	// The host pod resolves through the virtual cluster's DNS, as a pod of
	// its virtual namespace, under its virtual names.
	h := &corev1.Pod{}
	g.Expect(host.Get(ctx, client.ObjectKey{Namespace: hostNs, Name: hostName}, h)).To(Succeed())
	g.Expect(h.Spec.DNSPolicy).To(Equal(corev1.DNSNone))
	g.Expect(h.Spec.DNSConfig.Nameservers).To(Equal([]string{dnsSvc.Spec.ClusterIP}))
	g.Expect(h.Spec.DNSConfig.Searches).To(HaveExactElements(clientNamespace+".svc.cluster.local", "svc.cluster.local", "cluster.local"))
	hostPeer := &corev1.Pod{}
	g.Expect(host.Get(ctx, tn.names.HostKey(clientNamespace, "peer-0"), hostPeer)).To(Succeed())
	g.Expect([]string{hostPeer.Spec.Hostname, hostPeer.Spec.Subdomain}).To(Equal([]string{"peer-0", "peers"}))
}
