//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nestor-dev/nestor/internal/naming"
)

const readyGate corev1.PodConditionType = "example.com/ready"

// apiAccess: the control plane booted without a container restart; a
// tenant pod's in-cluster client lists its virtual namespace's pods; a pod
// with a readiness gate becomes Ready once the gate's condition is set in
// the virtual cluster. It runs after runWorkload, in its namespace.
func apiAccess(t *testing.T, tn *tenant) {
	t.Cleanup(func() { diagnose(t, tn.vc) })
	g := NewWithT(t)
	ctx := context.Background()

	cp := &corev1.Pod{}
	g.Expect(host.Get(ctx, client.ObjectKey{Namespace: tn.vc.Namespace, Name: naming.ForVirtualCluster(tn.vc.Namespace, tn.vc.Name).ControlPlane + "-0"}, cp)).To(Succeed())
	for _, c := range cp.Status.ContainerStatuses {
		g.Expect(c.RestartCount).To(BeZero(), "control-plane container %s restarted", c.Name)
	}

	app := func(name string, args ...string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: name},
			Spec: corev1.PodSpec{
				SecurityContext: restricted(),
				Containers: []corev1.Container{{Name: "app", Image: "nestor.e2e/testapp:" + imageTag, Args: args,
					SecurityContext: containerRestricted()}},
			},
		}
	}
	g.Expect(tn.client.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: "default-view"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "default", Namespace: demoNamespace}},
	})).To(Succeed())
	lister := app("incluster", "pods", demoNamespace)
	lister.Spec.RestartPolicy = corev1.RestartPolicyNever
	gated := app("gated", "pause")
	gated.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: readyGate}}
	g.Expect(tn.client.Create(ctx, lister)).To(Succeed())
	g.Expect(tn.client.Create(ctx, gated)).To(Succeed())

	// The in-cluster client reached the virtual API server: it saw the
	// virtual pods by their virtual names.
	g.Eventually(func(g Gomega) {
		p := &corev1.Pod{}
		g.Expect(tn.client.Get(ctx, client.ObjectKeyFromObject(lister), p)).To(Succeed())
		g.Expect(p.Status.Phase).NotTo(Equal(corev1.PodFailed), "%+v", p.Status.ContainerStatuses)
		g.Expect(p.Status.Phase).To(Equal(corev1.PodSucceeded))
		g.Expect(p.Status.ContainerStatuses).To(HaveLen(1))
		g.Expect(p.Status.ContainerStatuses[0].State.Terminated).NotTo(BeNil())
		msg := p.Status.ContainerStatuses[0].State.Terminated.Message
		g.Expect(strings.Fields(msg)).To(ContainElements("pods:", "incluster", "gated"), msg)
		t.Logf("in-cluster client: %s", msg)
	}).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Succeed())

	ready := func(g Gomega, c client.Client, key client.ObjectKey) corev1.ConditionStatus {
		p := &corev1.Pod{}
		g.Expect(c.Get(ctx, key, p)).To(Succeed())
		g.Expect(p.Status.ContainerStatuses).To(HaveExactElements(HaveField("Ready", true)))
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				return c.Status
			}
		}
		return corev1.ConditionUnknown
	}
	key := client.ObjectKeyFromObject(gated)
	g.Eventually(func(g Gomega) {
		g.Expect(ready(g, tn.client, key)).To(Equal(corev1.ConditionFalse))
	}).WithTimeout(2*time.Minute).WithPolling(time.Second).Should(Succeed(), "the gated pod's containers are ready, the pod not")
	g.Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p := &corev1.Pod{}
		if err := tn.client.Get(ctx, key, p); err != nil {
			return err
		}
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: readyGate, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
		return tn.client.Status().Update(ctx, p)
	})).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(ready(g, tn.client, key)).To(Equal(corev1.ConditionTrue))
		g.Expect(ready(g, host, tn.names.HostKey(key.Namespace, key.Name))).To(Equal(corev1.ConditionTrue))
	}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed(), "the gated pod becomes Ready")
}
