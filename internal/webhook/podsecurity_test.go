package webhook_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

const enforceLabel = "pod-security.kubernetes.io/enforce"

// labelNamespace sets, or with level "" removes, the namespace's
// pod-security.kubernetes.io/enforce label, as the platform would.
func labelNamespace(t *testing.T, ns, level string) {
	t.Helper()
	g := NewWithT(t)
	live := &corev1.Namespace{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Name: ns}, live)).To(Succeed())
	before := live.DeepCopy()
	if level == "" {
		delete(live.Labels, enforceLabel)
	} else {
		live.Labels[enforceLabel] = level
	}
	g.Expect(k8s.Patch(context.Background(), live, client.MergeFrom(before))).To(Succeed())
}

// expectRefusedPrivileged checks that err is the refusal of a privileged
// level in namespace ns, naming the field, the namespace and the label.
func expectRefusedPrivileged(g Gomega, err error, ns string) {
	g.Expect(err).To(HaveOccurred(), "privileged was admitted in namespace %s", ns)
	g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
	g.Expect(causeFields(err)).To(ContainElement("spec.policies.podSecurity.level"))
	for _, says := range []string{"namespace " + ns + " is not labelled " + enforceLabel + "=privileged", "choose baseline or restricted",
		"kubectl label namespace " + ns + " " + enforceLabel + "=privileged"} {
		g.Expect(err.Error()).To(ContainSubstring(says))
	}
}

func TestPrivilegedIsThePlatformsToAllow(t *testing.T) {
	privileged := vcYAML("vc", "  policies: {podSecurity: {level: privileged}}\n")
	t.Run("refused in a namespace that does not allow it", func(t *testing.T) {
		for _, label := range []string{"", "baseline"} {
			ns := newNamespace(t)
			if label != "" {
				labelNamespace(t, ns, label)
			}
			expectRefusedPrivileged(NewWithT(t), apply(manifest(t, ns, privileged)), ns)
		}
	})
	t.Run("admitted where the platform allows it", func(t *testing.T) {
		g := NewWithT(t)
		ns := newNamespace(t)
		labelNamespace(t, ns, "privileged")
		warned.take()
		g.Expect(apply(manifest(t, ns, privileged))).To(Succeed())
		g.Expect(warned.take()).NotTo(ContainElement(ContainSubstring("spec.policies.podSecurity.level")))
		g.Expect(get(t, ns, "vc").Spec.Policies.PodSecurity.Level).To(Equal(tenancyv1alpha1.PodSecurityPrivileged))

		// The platform withdraws it: the VirtualCluster can still be
		// edited, and is told that baseline applies.
		labelNamespace(t, ns, "")
		changed := manifest(t, ns, privileged)
		g.Expect(unstructured.SetNestedField(changed.Object, true, "spec", "sync", "toHost", "ingresses", "enabled")).To(Succeed())
		g.Expect(apply(changed)).To(Succeed())
		g.Expect(warned.take()).To(ContainElement(
			"spec.policies.podSecurity.level is privileged, but the tenant's pods are held to baseline, set by namespace " + ns +
				", not labelled " + enforceLabel + "=privileged: the stricter level applies"))
	})
	t.Run("refused when an update asks for it", func(t *testing.T) {
		g := NewWithT(t)
		ns := newNamespace(t)
		u := manifest(t, ns, vcYAML("vc", "  {}\n"))
		g.Expect(apply(u)).To(Succeed())
		g.Expect(get(t, ns, "vc").Spec.Policies.PodSecurity.Level).To(Equal(tenancyv1alpha1.PodSecurityBaseline), "the schema's default")
		for method, change := range methods {
			if method == "json patch" { // it patches only the mode
				continue
			}
			changed := manifest(t, ns, privileged)
			expectRefusedPrivileged(NewWithT(t), change(context.Background(), u, changed), ns)
		}
		g.Expect(get(t, ns, "vc").Spec.Policies.PodSecurity.Level).To(Equal(tenancyv1alpha1.PodSecurityBaseline))
	})
}

func TestAStricterNamespaceIsWarnedAbout(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	labelNamespace(t, ns, "restricted")
	warned.take()
	g.Expect(apply(manifest(t, ns, vcYAML("vc", "  {}\n")))).To(Succeed())
	g.Expect(warned.take()).To(ContainElement(
		"spec.policies.podSecurity.level is baseline, but the tenant's pods are held to restricted, set by label " +
			enforceLabel + "=restricted of namespace " + ns + ": the stricter level applies"))

	// As strict as the namespace, or stricter: nothing to say.
	g.Expect(apply(manifest(t, ns, vcYAML("vc", "  policies: {podSecurity: {level: restricted}}\n")))).To(Succeed())
	g.Expect(warned.take()).NotTo(ContainElement(ContainSubstring("spec.policies.podSecurity.level")))
}

func TestAnUnknownLevelIsRejectedByTheSchema(t *testing.T) {
	g := NewWithT(t)
	err := apply(manifest(t, newNamespace(t), vcYAML("vc", "  policies: {podSecurity: {level: root}}\n")))
	g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
	g.Expect(causeFields(err)).To(ContainElement("spec.policies.podSecurity.level"))
	g.Expect(err.Error()).To(ContainSubstring(`supported values: "privileged", "baseline", "restricted"`))
}
