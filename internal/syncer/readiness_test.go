package syncer_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

const gate corev1.PodConditionType = "example.com/load-balancer-ready"

// A readiness gate's condition, which the tenant's controller sets on the
// virtual pod, reaches the host pod, whose kubelet counts it towards
// Ready; the virtual pod keeps it, and shows the host's Ready. The syncer
// runs with exactly its generated rules, so it may patch the host pod's
// status.
func TestReadinessGateConditionsGoToTheHost(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		g := NewWithT(t)
		ctx := context.Background()
		tn := newTenant(t, mode)
		ns := tn.newVirtualNamespace(t)
		tn.createVirtual(t, gatedPod(ns))
		key := tn.HostKey(ns, "gated")
		h := &corev1.Pod{}
		tn.hostObject(t, ns, "gated", h)
		g.Expect(h.Spec.ReadinessGates).To(Equal([]corev1.PodReadinessGate{{ConditionType: gate}}))

		// The host's kubelet: the containers are ready, the gate is not.
		bindHostPod(t, key, "node-1")
		setHostCondition(t, key, corev1.PodReady, corev1.ConditionFalse, "ReadinessGatesNotReady")
		setVirtualCondition(t, tn, ns, gate, corev1.ConditionTrue)

		g.Eventually(func(g Gomega) {
			g.Expect(hostClient.Get(ctx, key, h)).To(Succeed())
			g.Expect(h.Status.Conditions).To(ContainElement(And(HaveField("Type", gate), HaveField("Status", corev1.ConditionTrue))))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
		// ...which now reports the pod Ready.
		setHostCondition(t, key, corev1.PodReady, corev1.ConditionTrue, "")
		g.Eventually(func(g Gomega) {
			v := &corev1.Pod{}
			g.Expect(tn.Virtual.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gated"}, v)).To(Succeed())
			g.Expect(v.Status.Conditions).To(ContainElements(
				And(HaveField("Type", gate), HaveField("Status", corev1.ConditionTrue)),
				And(HaveField("Type", corev1.PodReady), HaveField("Status", corev1.ConditionTrue))))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

		// The tenant's controller takes it back: so does the host pod.
		setVirtualCondition(t, tn, ns, gate, corev1.ConditionFalse)
		g.Eventually(func(g Gomega) {
			g.Expect(hostClient.Get(ctx, key, h)).To(Succeed())
			g.Expect(h.Status.Conditions).To(ContainElement(And(HaveField("Type", gate), HaveField("Status", corev1.ConditionFalse))))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	})
}

// Without endpoints synced the syncer may not patch the host pods' status
// (rbac.CarryReadinessGates): the host pod runs without the gate, and the
// virtual pod shows Ready only once the gate's condition is True.
func TestReadinessGatesWithoutEndpoints(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		g := NewWithT(t)
		ctx := context.Background()
		tn := newTenant(t, mode, withSync(func(s *tenancyv1alpha1.SyncSpec) { s.ToHost.Endpoints.Enabled = ptr.To(false) }))
		ns := tn.newVirtualNamespace(t)
		tn.createVirtual(t, gatedPod(ns))
		key := tn.HostKey(ns, "gated")
		h := &corev1.Pod{}
		tn.hostObject(t, ns, "gated", h)
		g.Expect(h.Spec.ReadinessGates).To(BeEmpty())

		bindHostPod(t, key, "node-1")
		setHostCondition(t, key, corev1.PodReady, corev1.ConditionTrue, "")
		ready := func(want corev1.ConditionStatus) {
			t.Helper()
			g.Eventually(func(g Gomega) {
				v := &corev1.Pod{}
				g.Expect(tn.Virtual.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gated"}, v)).To(Succeed())
				g.Expect(v.Status.Conditions).To(ContainElement(And(HaveField("Type", corev1.PodReady), HaveField("Status", want))))
			}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
		}
		ready(corev1.ConditionFalse)
		setVirtualCondition(t, tn, ns, gate, corev1.ConditionTrue)
		ready(corev1.ConditionTrue)
	})
}

func gatedPod(ns string) *corev1.Pod {
	p := podUsing(ns, "gated", "", "")
	p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: gate}}
	return p
}

// setVirtualCondition plays the tenant's controller that owns a gate.
func setVirtualCondition(t *testing.T, tn *tenant, ns string, c corev1.PodConditionType, status corev1.ConditionStatus) {
	t.Helper()
	NewWithT(t).Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		v := &corev1.Pod{}
		if err := tn.Virtual.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "gated"}, v); err != nil {
			return err
		}
		v.Status.Conditions = withCondition(v.Status.Conditions, corev1.PodCondition{Type: c, Status: status, LastTransitionTime: metav1.Now()})
		return tn.Virtual.Status().Update(context.Background(), v)
	})).To(Succeed(), "setting condition %s of virtual pod %s/gated", c, ns)
}

// setHostCondition plays the host's kubelet, which keeps the conditions it
// does not own.
func setHostCondition(t *testing.T, key types.NamespacedName, c corev1.PodConditionType, status corev1.ConditionStatus, reason string) {
	t.Helper()
	NewWithT(t).Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		h := &corev1.Pod{}
		if err := hostClient.Get(context.Background(), key, h); err != nil {
			return err
		}
		h.Status.Phase = corev1.PodRunning
		h.Status.Conditions = withCondition(h.Status.Conditions, corev1.PodCondition{Type: c, Status: status, Reason: reason, LastTransitionTime: metav1.Now()})
		return hostClient.Status().Update(context.Background(), h)
	})).To(Succeed(), "setting condition %s of host pod %s", c, key)
}

func withCondition(conds []corev1.PodCondition, c corev1.PodCondition) []corev1.PodCondition {
	for i := range conds {
		if conds[i].Type == c.Type {
			conds[i] = c
			return conds
		}
	}
	return append(conds, c)
}
