package syncer_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/pki"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
	"github.com/nestor-dev/nestor/internal/translate"
)

// dnsAddress plays the cluster IP of the virtual cluster's DNS Service,
// and syncerImage the syncer's image.
const (
	dnsAddress  = "10.96.0.53"
	syncerImage = "ghcr.io/nestor-dev/nestor:test"
)

// A tenant pod that asks for its cluster's DNS gets the virtual cluster's,
// under its virtual names; one that says how it resolves keeps that.
func TestPodsResolveTheVirtualClustersNames(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		g := NewWithT(t)
		tn := newTenant(t, mode, withConfig(func(c *syncerconfig.Config) { c.DNSNameserver, c.Image = dnsAddress, syncerImage }))
		ns := tn.newVirtualNamespace(t)

		web := podUsing(ns, "web", "", "")
		web.Spec.Subdomain = "peers"
		tn.createVirtual(t, web)
		own := podUsing(ns, "own", "", "")
		own.Spec.DNSPolicy = corev1.DNSNone
		own.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"192.0.2.1"}, Searches: []string{"corp.example"}}
		tn.createVirtual(t, own)

		h := &corev1.Pod{}
		tn.hostObject(t, ns, "web", h)
		g.Expect(h.Spec.DNSPolicy).To(Equal(corev1.DNSNone))
		g.Expect(h.Spec.DNSConfig).To(Equal(&corev1.PodDNSConfig{
			Nameservers: []string{dnsAddress},
			Searches:    []string{ns + ".svc.cluster.local", "svc.cluster.local", "cluster.local"},
			Options:     []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("5")}},
		}))
		// Its own name, and the headless Service it names, are the virtual
		// ones, which the virtual cluster's DNS serves.
		g.Expect(h.Spec.Hostname).To(Equal("web"))
		g.Expect(h.Spec.Subdomain).To(Equal("peers"))
		// Its hosts file, which the host's kubelet writes under the host
		// namespace's name, is rewritten to the virtual one by the syncer's
		// image before the tenant's containers start.
		g.Expect(h.Spec.InitContainers).NotTo(BeEmpty())
		g.Expect(h.Spec.InitContainers[0]).To(And(HaveField("Name", translate.HostsContainer), HaveField("Image", syncerImage),
			HaveField("Args", ContainElement("--fqdn=web.peers."+ns+".svc.cluster.local"))))
		g.Expect(h.Spec.Containers[0].VolumeMounts).To(ContainElement(HaveField("MountPath", "/etc/hosts")))

		tn.hostObject(t, ns, "own", h)
		g.Expect(h.Spec.DNSPolicy).To(Equal(corev1.DNSNone))
		g.Expect(h.Spec.DNSConfig).To(Equal(own.Spec.DNSConfig))
		g.Expect(h.Spec.InitContainers).To(BeEmpty(), "a pod of no subdomain keeps the kubelet's hosts file")
	})
}

// The virtual cluster's CoreDNS reads, as pki.CoreDNSUser, what it answers
// from, in every namespace, and nothing else.
func TestTheVirtualClustersDNSReadsOnlyItsNames(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	tn := newTenant(t, tenancyv1alpha1.SingleNamespaceMode)
	ns := tn.newVirtualNamespace(t)

	cfg := rest.CopyConfig(virtuals[tn.VC.Name].Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: pki.CoreDNSUser}
	dns, err := client.New(cfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	for _, list := range []client.ObjectList{&corev1.ServiceList{}, &discoveryv1.EndpointSliceList{}, &corev1.NamespaceList{}} {
		g.Eventually(func() error { return dns.List(ctx, list) }).WithTimeout(timeout).WithPolling(poll).Should(Succeed(), "CoreDNS lists %T", list)
	}
	for _, list := range []client.ObjectList{&corev1.PodList{}, &corev1.SecretList{}, &corev1.ConfigMapList{}} {
		g.Expect(apierrors.IsForbidden(dns.List(ctx, list))).To(BeTrue(), "CoreDNS may not list %T", list)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "planted"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	}
	g.Expect(apierrors.IsForbidden(dns.Create(ctx, svc))).To(BeTrue(), "CoreDNS may not create a Service")
}
