package syncer_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
	"github.com/nestor-dev/nestor/internal/translate"
)

// kubeletEndpoint plays the address of the syncer's Service.
var kubeletEndpoint = syncerconfig.KubeletEndpoint{Address: "vc-syncer.team.svc", Port: 10250}

func withKubelet(c *syncerconfig.Config) { c.Kubelet = kubeletEndpoint }

// TestNodeStandIn: without any host permission on nodes (single-namespace
// mode, or multi-namespace mode without fromHost.nodes), the virtual
// cluster shows a Node for the host node its pods are placed on, from the
// first pod until the last one is gone, addressed at the syncer's kubelet
// API.
func TestNodeStandIn(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		ctx := context.Background()
		tn := newTenant(t, mode, withConfig(withKubelet))
		ns := tn.newVirtualNamespace(t)
		node := "node-" + rand.String(6)

		first, last := tn.placedPod(t, ns, "first", node), tn.placedPod(t, ns, "last", node)
		v := &corev1.Node{}
		NewWithT(t).Eventually(func(g Gomega) {
			g.Expect(tn.Virtual.Get(ctx, client.ObjectKey{Name: node}, v)).To(Succeed())
			g.Expect(v.Status.Conditions).To(ContainElement(And(
				HaveField("Type", corev1.NodeReady), HaveField("Status", corev1.ConditionTrue))))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed(), "virtual node %s", node)
		g := NewWithT(t)
		// The kubelet's address is the syncer's; the host's address its pods
		// report is the node's, where node ports answer.
		g.Expect(v.Status.Addresses).To(Equal([]corev1.NodeAddress{
			{Type: corev1.NodeInternalDNS, Address: kubeletEndpoint.Address},
			{Type: corev1.NodeInternalIP, Address: "192.168.10.7"}, {Type: corev1.NodeHostName, Address: node}}))
		g.Expect(v.Status.DaemonEndpoints.KubeletEndpoint.Port).To(Equal(kubeletEndpoint.Port))
		g.Expect(v.Annotations).To(HaveKeyWithValue(translate.AnnotationHostIP, "192.168.10.7"))
		g.Expect(v.Labels).To(HaveKeyWithValue(corev1.LabelHostname, node))

		tn.deletePlaced(t, first)
		NewWithT(t).Consistently(func() error {
			return tn.Virtual.Get(ctx, client.ObjectKey{Name: node}, &corev1.Node{})
		}).WithTimeout(quiet).WithPolling(poll).Should(Succeed(), "node %s went with a pod still on it", node)
		tn.deletePlaced(t, last)
		gone(t, tn.Virtual, client.ObjectKey{Name: node}, &corev1.Node{})
	})
}

// TestNodeFromHost: in multi-namespace mode with fromHost.nodes, the Node
// is the host's, capacity, labels and addresses, and follows it; its
// kubelet's address is still the syncer's, the host's InternalDNS left out.
func TestNodeFromHost(t *testing.T) {
	ctx := context.Background()
	tn := newTenant(t, tenancyv1alpha1.MultiNamespaceMode, withConfig(withKubelet),
		withSync(func(s *tenancyv1alpha1.SyncSpec) { s.FromHost.Nodes.Enabled = true }))
	h := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "host-" + rand.String(6), Labels: map[string]string{"topology.kubernetes.io/zone": "z1"}}}
	g := NewWithT(t)
	g.Expect(hostClient.Create(ctx, h)).To(Succeed())
	t.Cleanup(func() { _ = hostClient.Delete(context.Background(), h) })
	h.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourcePods: resource.MustParse("110")}
	h.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.10.8"}, {Type: corev1.NodeInternalDNS, Address: "ip-192-168-10-8.internal"}}
	g.Expect(hostClient.Status().Update(ctx, h)).To(Succeed())

	ns := tn.newVirtualNamespace(t)
	pod := tn.placedPod(t, ns, "p", h.Name)
	NewWithT(t).Eventually(func(g Gomega) {
		v := &corev1.Node{}
		g.Expect(tn.Virtual.Get(ctx, client.ObjectKey{Name: h.Name}, v)).To(Succeed())
		g.Expect(v.Labels).To(HaveKeyWithValue("topology.kubernetes.io/zone", "z1"))
		g.Expect(v.Status.Capacity.Cpu().String()).To(Equal("8"))
		g.Expect(v.Status.Addresses).To(Equal([]corev1.NodeAddress{
			{Type: corev1.NodeInternalDNS, Address: kubeletEndpoint.Address},
			{Type: corev1.NodeInternalIP, Address: "192.168.10.8"}, {Type: corev1.NodeHostName, Address: h.Name}}))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed(), "virtual node %s", h.Name)

	h.Labels["topology.kubernetes.io/zone"] = "z2"
	g.Expect(hostClient.Update(ctx, h)).To(Succeed())
	NewWithT(t).Eventually(func(g Gomega) {
		v := &corev1.Node{}
		g.Expect(tn.Virtual.Get(ctx, client.ObjectKey{Name: h.Name}, v)).To(Succeed())
		g.Expect(v.Labels).To(HaveKeyWithValue("topology.kubernetes.io/zone", "z2"))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed(), "virtual node %s follows the host's", h.Name)

	tn.deletePlaced(t, pod)
	gone(t, tn.Virtual, client.ObjectKey{Name: h.Name}, &corev1.Node{})
}

// placedPod creates virtual pod ns/name and plays the host's scheduler and
// kubelet: its host pod runs on node. It returns the virtual pod once the
// syncer has bound it.
func (tn *tenant) placedPod(t *testing.T, ns, name, node string) *corev1.Pod {
	t.Helper()
	tn.createVirtual(t, podUsing(ns, name, "", ""))
	key := tn.HostKey(ns, name)
	tn.hostObject(t, ns, name, &corev1.Pod{})
	bindHostPod(t, key, node)
	updateHostPodStatus(t, key, corev1.PodStatus{Phase: corev1.PodRunning, HostIP: "192.168.10.7"})
	v := &corev1.Pod{}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(tn.Virtual.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, v)).To(Succeed())
		g.Expect(v.Spec.NodeName).To(Equal(node))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed(), "virtual pod %s/%s not bound", ns, name)
	return v
}

// deletePlaced deletes placed virtual pod v as a tenant does, finishes
// its host pod's graceful deletion as the host's kubelet would, and waits
// until the virtual pod is gone.
func (tn *tenant) deletePlaced(t *testing.T, v *corev1.Pod) {
	t.Helper()
	ctx := context.Background()
	NewWithT(t).Expect(tn.Virtual.Delete(ctx, v)).To(Succeed())
	key, h := tn.HostKey(v.Namespace, v.Name), &corev1.Pod{}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(hostClient.Get(ctx, key, h)).To(Succeed())
		g.Expect(h.DeletionTimestamp).NotTo(BeNil())
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed(), "host pod %s not deleted", key)
	forceDelete(t, hostClient, h)
	gone(t, tn.Virtual, client.ObjectKeyFromObject(v), &corev1.Pod{})
}
