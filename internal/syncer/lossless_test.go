package syncer_test

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/syncer"
)

// What the syncer never deletes on the host: the copies made for a virtual
// cluster that came back empty, and a Service it is re-creating.

func TestAReplacedVirtualClusterDeletesNothingOnTheHost(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		g := NewWithT(t)
		ctx := context.Background()
		tn := newTenant(t, mode)
		ns := tn.newVirtualNamespace(t)
		earlier := tn.identity(g)

		tn.createVirtual(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"setting": "on"}})
		tn.createVirtual(t, podUsing(ns, "web", "", "settings"))
		tn.createVirtual(t, claim(ns, "data"))
		tn.createVirtual(t, webService(ns, "web"))
		for name, obj := range map[string]client.Object{
			"settings": &corev1.ConfigMap{}, "web": &corev1.Pod{}, "data": &corev1.PersistentVolumeClaim{},
		} {
			tn.hostObject(t, ns, name, obj)
		}
		waitClusterIPShown(t, tn, ns, "web")
		snapshot := tn.hostCopies(g)
		// The pod's token and the virtual cluster's CA came along.
		g.Expect(len(snapshot)).To(BeNumerically(">=", 6), "host copies %v", snapshot)

		// The control plane comes back with an empty etcd: nothing of the
		// tenant's is there any more, and a new syncer starts on it.
		tn.StopSyncer()
		tn.runSyncer(t, newVirtualCluster(t, nil))
		now := tn.identity(g)
		g.Expect(now).NotTo(Equal(earlier))

		ev := tn.waitHostEvent(t, syncer.ReasonVirtualClusterReplaced, "")
		g.Expect(ev.Type).To(Equal(corev1.EventTypeWarning))
		g.Expect(ev.Note).To(HavePrefix(fmt.Sprintf("%d host objects record another virtual cluster", len(snapshot))))
		g.Expect(ev.Note).To(ContainSubstring(tenancyv1alpha1.LabelVirtualClusterUID + "!=" + string(now)))
		g.Expect(len(ev.Note)).To(BeNumerically("<=", 1024), "an event's note")
		g.Consistently(func(g Gomega) {
			g.Expect(tn.hostCopies(g)).To(Equal(snapshot))
		}).WithTimeout(quiet).WithPolling(poll).Should(Succeed(), "host copies of the earlier virtual cluster")
		g.Expect(tn.hostEvents(g, syncer.ReasonVirtualClusterReplaced, "")).To(HaveLen(1), "reported once per start")

		// The tenant creates the claim again: it takes its copy over.
		tn.createVirtual(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		tn.createVirtual(t, claim(ns, "data"))
		v := &corev1.PersistentVolumeClaim{}
		g.Expect(tn.Virtual.Get(ctx, client.ObjectKey{Namespace: ns, Name: "data"}, v)).To(Succeed())
		g.Eventually(func(g Gomega) {
			h := &corev1.PersistentVolumeClaim{}
			g.Expect(hostClient.Get(ctx, tn.HostKey(ns, "data"), h)).To(Succeed())
			g.Expect(h.UID).To(Equal(snapshot["PersistentVolumeClaim "+client.ObjectKeyFromObject(h).String()]))
			g.Expect(h.Labels).To(HaveKeyWithValue(tenancyv1alpha1.LabelVirtualClusterUID, string(now)))
			g.Expect(h.Annotations).To(HaveKeyWithValue(tenancyv1alpha1.AnnotationVirtualUID, string(v.UID)))
			if mode == tenancyv1alpha1.MultiNamespaceMode {
				hostNs := &corev1.Namespace{}
				g.Expect(hostClient.Get(ctx, client.ObjectKey{Name: h.Namespace}, hostNs)).To(Succeed())
				g.Expect(hostNs.UID).To(Equal(snapshot["Namespace "+h.Namespace]))
				g.Expect(hostNs.Labels).To(HaveKeyWithValue(tenancyv1alpha1.LabelVirtualClusterUID, string(now)))
			}
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed(), "the claim's copy taken over")
	})
}

func TestADeletionWhileTheSyncerIsDownStillRemovesTheCopy(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		g := NewWithT(t)
		ctx := context.Background()
		tn := newTenant(t, mode)
		ns := tn.newVirtualNamespace(t)
		// Selectorless: it is never re-created for its cluster IP.
		external := func(ns string) *corev1.Service {
			return &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "external"},
				Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
			}
		}
		svc := external(ns)
		tn.createVirtual(t, svc)
		tn.hostObject(t, ns, svc.Name, &corev1.Service{})
		var doomed string
		if mode == tenancyv1alpha1.MultiNamespaceMode {
			doomed = tn.newVirtualNamespace(t)
			tn.createVirtual(t, external(doomed))
			tn.hostObject(t, doomed, svc.Name, &corev1.Service{})
		}

		tn.StopSyncer()
		g.Expect(tn.Virtual.Delete(ctx, svc)).To(Succeed())
		if doomed != "" {
			g.Expect(tn.Virtual.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: doomed}})).To(Succeed())
			gone(t, tn.Virtual, client.ObjectKey{Name: doomed}, &corev1.Namespace{})
		}

		// The same virtual cluster, the same identity: its absence is the
		// tenant's deletion.
		tn.runSyncer(t, virtuals[tn.VC.Name])
		gone(t, hostClient, tn.HostKey(ns, svc.Name), &corev1.Service{})
		if doomed != "" {
			NewWithT(t).Eventually(func() bool {
				return apierrors.IsNotFound(hostClient.Get(ctx, client.ObjectKey{Name: tn.Names.HostNamespace(doomed)}, &corev1.Namespace{}))
			}).WithTimeout(2*timeout).WithPolling(poll).Should(BeTrue(), "host namespace of %s", doomed)
		}
	})
}

func TestAServiceReCreatedWithTheHostClusterIPIsNeverLost(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		tn := newTenant(t, mode)
		ns := tn.newVirtualNamespace(t)

		t.Run("the fault clears", func(t *testing.T) {
			lift := refuseReCreatedServices(t, tn, ns)
			hostUID := refusedReCreation(t, tn, ns, "web")
			lift()
			expectRestored(t, tn, ns, "web", hostUID)
		})
		t.Run("the syncer restarts meanwhile", func(t *testing.T) {
			lift := refuseReCreatedServices(t, tn, ns)
			hostUID := refusedReCreation(t, tn, ns, "api")
			tn.StopSyncer()
			lift()
			tn.runSyncer(t, virtuals[tn.VC.Name])
			expectRestored(t, tn, ns, "api", hostUID)
		})
	})
}

// refuseReCreatedServices makes the tenant's virtual cluster refuse the
// Services the syncer creates in namespace ns, as a webhook might, until
// the function it returns is called.
func refuseReCreatedServices(t *testing.T, tn *tenant, ns string) func() {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	name := "refuse-syncer-services-" + ns
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"services"}},
				},
			}}},
			Validations: []admissionregistrationv1.Validation{{
				Expression: fmt.Sprintf("!has(object.metadata.managedFields) || !object.metadata.managedFields.exists(f, f.manager == '%s')", syncer.FieldOwner),
				Message:    "the test refuses the Services the syncer creates",
			}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{corev1.LabelMetadataName: ns},
			}},
		},
	}
	g.Expect(tn.Virtual.Create(ctx, policy)).To(Succeed())
	g.Expect(tn.Virtual.Create(ctx, binding)).To(Succeed())
	lift := func() {
		g.Expect(client.IgnoreNotFound(tn.Virtual.Delete(ctx, binding))).To(Succeed())
		g.Expect(client.IgnoreNotFound(tn.Virtual.Delete(ctx, policy))).To(Succeed())
	}
	t.Cleanup(lift)
	// In force once the API server has loaded it.
	g.Eventually(func() error {
		probe := webService(ns, "probe")
		return tn.Virtual.Create(ctx, probe, client.FieldOwner(syncer.FieldOwner), client.DryRunAll)
	}).WithTimeout(timeout).WithPolling(poll).Should(HaveOccurred(), "the policy refusing the syncer's Services")
	return lift
}

// refusedReCreation creates Service name in ns and waits until the syncer,
// re-creating it with its host copy's cluster IP, has been refused. It
// returns the UID of the host copy.
func refusedReCreation(t *testing.T, tn *tenant, ns, name string) types.UID {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	tn.createVirtual(t, webService(ns, name))
	h := &corev1.Service{}
	tn.hostObject(t, ns, name, h)
	tn.waitHostEvent(t, syncer.ReasonServiceNotRestored, ns+"/"+name)
	// Gone from the virtual cluster, and recorded on its host copy.
	g.Expect(apierrors.IsNotFound(tn.Virtual.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &corev1.Service{}))).To(BeTrue())
	live := &corev1.Service{}
	g.Expect(hostClient.Get(ctx, client.ObjectKeyFromObject(h), live)).To(Succeed())
	g.Expect(live.UID).To(Equal(h.UID))
	g.Expect(live.Annotations).To(HaveKey("nestor.dev/restore-virtual-service"))
	return h.UID
}

// expectRestored waits until virtual Service ns/name is back, as it was
// with its host copy's cluster IP, and its host copy, never deleted (it
// has the same UID), no longer records it.
func expectRestored(t *testing.T, tn *tenant, ns, name string, hostUID types.UID) {
	t.Helper()
	ctx := context.Background()
	want := webService(ns, name)
	NewWithT(t).Eventually(func(g Gomega) {
		h, v := &corev1.Service{}, &corev1.Service{}
		g.Expect(hostClient.Get(ctx, tn.HostKey(ns, name), h)).To(Succeed())
		g.Expect(h.UID).To(Equal(hostUID))
		g.Expect(tn.Virtual.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, v)).To(Succeed())
		g.Expect(v.Spec.ClusterIP).To(Equal(h.Spec.ClusterIP))
		g.Expect(v.Spec.Selector).To(Equal(want.Spec.Selector))
		g.Expect(v.Labels).To(Equal(want.Labels))
		g.Expect(h.Annotations).NotTo(HaveKey("nestor.dev/restore-virtual-service"))
		g.Expect(h.Annotations).To(HaveKeyWithValue(tenancyv1alpha1.AnnotationVirtualUID, string(v.UID)))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed(), "virtual Service %s/%s restored", ns, name)
}

// waitClusterIPShown waits until virtual Service ns/name shows its host
// copy's cluster IP, re-created with it.
func waitClusterIPShown(t *testing.T, tn *tenant, ns, name string) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		h, v := &corev1.Service{}, &corev1.Service{}
		g.Expect(hostClient.Get(context.Background(), tn.HostKey(ns, name), h)).To(Succeed())
		g.Expect(tn.Virtual.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, v)).To(Succeed())
		g.Expect(v.Spec.ClusterIP).To(Equal(h.Spec.ClusterIP))
		g.Expect(h.Annotations).NotTo(HaveKey("nestor.dev/restore-virtual-service"))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed(), "virtual Service %s/%s with its host cluster IP", ns, name)
}

// hostCopies maps what the syncer made for the tenant on the host, as
// "<Kind> <namespace>/<name>" (host namespaces as "Namespace <name>"), to
// its UID, or to "deleting".
func (tn *tenant) hostCopies(g Gomega) map[string]types.UID {
	ctx := context.Background()
	out := map[string]types.UID{}
	add := func(kind string, o metav1.Object) {
		key := kind + " " + types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}.String()
		if o.GetNamespace() == "" {
			key = kind + " " + o.GetName()
		}
		out[key] = o.GetUID()
		if o.GetDeletionTimestamp() != nil {
			out[key] = "deleting"
		}
	}
	copies := client.MatchingLabels{
		tenancyv1alpha1.LabelManagedBy:               tenancyv1alpha1.SyncerManagedByValue,
		tenancyv1alpha1.LabelVirtualCluster:          tn.VC.Name,
		tenancyv1alpha1.LabelVirtualClusterNamespace: tn.VC.Namespace,
	}
	for kind, list := range map[string]client.ObjectList{
		"Pod": &corev1.PodList{}, "Service": &corev1.ServiceList{}, "ConfigMap": &corev1.ConfigMapList{},
		"Secret": &corev1.SecretList{}, "PersistentVolumeClaim": &corev1.PersistentVolumeClaimList{}, "Endpoints": &corev1.EndpointsList{},
	} {
		g.Expect(hostClient.List(ctx, list, copies, client.HasLabels{tenancyv1alpha1.LabelVirtualNamespace})).To(Succeed())
		g.Expect(meta.EachListItem(list, func(o runtime.Object) error {
			add(kind, o.(metav1.Object))
			return nil
		})).To(Succeed())
	}
	if tn.Mode == tenancyv1alpha1.MultiNamespaceMode {
		var namespaces corev1.NamespaceList
		g.Expect(hostClient.List(ctx, &namespaces, client.MatchingLabels{
			tenancyv1alpha1.LabelVirtualCluster: tn.VC.Name, tenancyv1alpha1.LabelVirtualClusterNamespace: tn.VC.Namespace,
		}, client.HasLabels{tenancyv1alpha1.LabelVirtualNamespace})).To(Succeed())
		for i := range namespaces.Items {
			add("Namespace", &namespaces.Items[i])
		}
	}
	return out
}
