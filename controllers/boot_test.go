package controllers_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nestor-dev/nestor/internal/controlplane"
	"github.com/nestor-dev/nestor/internal/localcluster"
	"github.com/nestor-dev/nestor/internal/naming"
)

// TestGeneratedControlPlaneBoots runs the control plane the operator
// generates, as a kubelet would run its pod: etcd, kube-apiserver and
// kube-controller-manager from bin/, with exactly the arguments of the
// StatefulSet's containers, the PKI Secret's files at their mount paths
// (rebased into a temporary directory), and the pod's environment; see
// localcluster.RunPod. Its ports are moved to free ones, so that the test
// runs beside a local cluster or another run of itself. Then it talks to the
// virtual cluster through the kubeconfig in vc-<name>, and checks that no
// container exited on the way.
func TestGeneratedControlPlaneBoots(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	vc := create(t, sample(t, "tenancy_v1alpha1_virtualcluster_single.yaml", newNamespace(t)))
	expectNamespacedChildren(t, vc)
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)

	sts, certs, kubeconfig := &appsv1.StatefulSet{}, &corev1.Secret{}, &corev1.Secret{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: n.ControlPlane}, sts)).To(Succeed())
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: n.Certs}, certs)).To(Succeed())
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: n.Kubeconfig}, kubeconfig)).To(Succeed())

	assets, err := localcluster.AssetsDir()
	g.Expect(err).NotTo(HaveOccurred())
	// As root, the containers run as the pod's user with the files' modes
	// and owners a kubelet would give them, so the root must be reachable.
	root, err := os.MkdirTemp("", "nestor-boot-")
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { os.RemoveAll(root) })
	g.Expect(os.Chmod(root, 0o755)).To(Succeed())
	if os.Geteuid() != 0 {
		t.Log("not root: the containers run as this user, and file modes go unchecked")
	}
	pod, err := localcluster.RunPod(sts.Spec.Template.Spec, localcluster.PodOptions{
		AsPodUser:   true,
		Root:        root,
		Assets:      assets,
		Secrets:     map[string]*corev1.Secret{certs.Name: certs},
		FieldValues: map[string]string{"POD_NAME": sts.Name + "-0", "POD_IP": "127.0.0.1"},
		FreePorts:   true,
	})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(pod.Stop)

	// Every probe the StatefulSet declares passes, as the kubelet would run
	// it, at the port its port was moved to.
	for _, c := range sts.Spec.Template.Spec.Containers {
		for _, probe := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
			if probe == nil || probe.HTTPGet == nil {
				continue
			}
			url := fmt.Sprintf("%s://127.0.0.1:%d%s", strings.ToLower(string(probe.HTTPGet.Scheme)), pod.Port(portOf(c, probe.HTTPGet.Port)), probe.HTTPGet.Path)
			g.Eventually(func() (int, error) { return httpStatus(url) }).WithTimeout(90*time.Second).WithPolling(time.Second).
				Should(Equal(http.StatusOK), func() string { return c.Name + " probe " + url + "\n" + pod.Logs() })
		}
	}

	// The admin kubeconfig, pointed at where this kube-apiserver listens.
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig.Data["config"])
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.Host).To(Equal("https://" + n.ControlPlane + "." + vc.Namespace + ".svc:443"))
	cfg.Host = fmt.Sprintf("https://127.0.0.1:%d", pod.Port(controlplane.APIServerPort))
	virtual, err := kubernetes.NewForConfig(cfg)
	g.Expect(err).NotTo(HaveOccurred())

	g.Eventually(func(g Gomega) {
		list, err := virtual.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		var names []string
		for _, ns := range list.Items {
			names = append(names, ns.Name)
		}
		g.Expect(names).To(ContainElements("default", "kube-system"))
	}).WithTimeout(60*time.Second).WithPolling(time.Second).Should(Succeed(), pod.Logs)

	// kube-controller-manager, running with the generated flags, creates the
	// default ServiceAccount.
	g.Eventually(func() error {
		_, err := virtual.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	}).WithTimeout(90*time.Second).WithPolling(time.Second).Should(Succeed(), pod.Logs)

	// A Node made as the syncer makes one stays untainted: no
	// node-lifecycle controller runs that would lift the not-ready taint an
	// API server puts on a new Node by default, so the framework and the
	// scheduler of a tenant would see it unschedulable for good.
	node, err := virtual.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "host-node"}}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(node.Spec.Taints).To(BeEmpty())

	// No container exited on the way: a kubelet would show a restartCount
	// of 0 for each (kube-controller-manager once exited until the API
	// server had bootstrapped its RBAC).
	g.Expect(pod.Exits()).To(BeEmpty(), pod.Logs)
}

// portOf resolves a probe's port, named or numbered, against the container.
func portOf(c corev1.Container, port intstr.IntOrString) int32 {
	for _, p := range c.Ports {
		if port.Type == intstr.String && p.Name == port.StrVal {
			return p.ContainerPort
		}
	}
	return port.IntVal
}

// httpStatus does what a kubelet's HTTP probe does: no certificate checks.
func httpStatus(url string) (int, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // as the kubelet's probes
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
