package syncer_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/syncer"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
)

const enforceLabel = "pod-security.kubernetes.io/enforce"

func privileged(p *corev1.Pod) *corev1.Pod {
	p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	return p
}

func hostPath(p *corev1.Pod) *corev1.Pod {
	p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "root", VolumeSource: corev1.VolumeSource{
		HostPath: &corev1.HostPathVolumeSource{Path: "/"},
	}})
	return p
}

// hardened meets the restricted level.
func hardened(p *corev1.Pod) *corev1.Pod {
	p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	return p
}

func atLevel(level tenancyv1alpha1.PodSecurityLevel) tenantOption {
	return withConfig(func(c *syncerconfig.Config) { c.PodSecurity.Level = level })
}

// expectRefused creates pod in a virtual namespace of its own and checks
// that the syncer refuses it: a SyncFailed event on it that says all of
// says, and, the refusal made, no host copy.
func (tn *tenant) expectRefused(t *testing.T, pod func(ns string) *corev1.Pod, says ...string) {
	t.Helper()
	g := NewWithT(t)
	ns := tn.newVirtualNamespace(t)
	p := pod(ns)
	tn.createVirtual(t, p)
	ev := tn.waitVirtualEvent(t, ns, syncer.ReasonSyncFailed)
	g.Expect(ev.InvolvedObject.Name).To(Equal(p.Name))
	g.Expect(ev.Type).To(Equal(corev1.EventTypeWarning))
	g.Expect(ev.Message).To(ContainSubstring("Not copied to the host: this pod violates PodSecurity"))
	for _, s := range says {
		g.Expect(ev.Message).To(ContainSubstring(s))
	}
	err := hostClient.Get(context.Background(), tn.HostKey(ns, p.Name), &corev1.Pod{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the refused pod has a host copy: %v", err)
}

// The envtest host enforces no Pod Security of its own in an unlabelled
// namespace: what keeps these pods off it is the syncer.
func TestPodsThatViolateTheirLevelStayOffTheHost(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		tn := newTenant(t, mode)
		tn.expectRefused(t, func(ns string) *corev1.Pod { return privileged(podUsing(ns, "root", "", "")) },
			`violates PodSecurity "baseline:latest": privileged (container "main" must not set securityContext.privileged=true)`,
			"The level baseline is set by spec.policies.podSecurity.level")
		tn.expectRefused(t, func(ns string) *corev1.Pod { return hostPath(podUsing(ns, "disk", "", "")) },
			`violates PodSecurity "baseline:latest": hostPath volumes (volume "root")`)

		ns := tn.newVirtualNamespace(t)
		tn.createVirtual(t, podUsing(ns, "web", "", ""))
		tn.hostObject(t, ns, "web", &corev1.Pod{})
	})
}

func TestRestrictedRefusesAPodThatMayRunAsRoot(t *testing.T) {
	tn := newTenant(t, tenancyv1alpha1.SingleNamespaceMode, atLevel(tenancyv1alpha1.PodSecurityRestricted))
	tn.expectRefused(t, func(ns string) *corev1.Pod { return podUsing(ns, "web", "", "") },
		`violates PodSecurity "restricted:latest"`, `runAsNonRoot != true (pod or container "main" must set securityContext.runAsNonRoot=true)`,
		`allowPrivilegeEscalation != false`, `seccompProfile`, "The level restricted is set by spec.policies.podSecurity.level")

	// What the syncer adds to a copy (the token's Secret, the
	// environment) keeps a hardened pod restricted.
	ns := tn.newVirtualNamespace(t)
	tn.createVirtual(t, secret(ns, "s", map[string]string{"password": "hunter2"}))
	tn.createVirtual(t, hardened(podUsing(ns, "web", "s", "")))
	tn.hostObject(t, ns, "web", &corev1.Pod{})
}

// Every sync of a pod checks it again. A change of a pod cannot make it
// violate its level on this Kubernetes (AppArmor annotations cannot be
// added, and ephemeral containers are not copied), but a stricter level
// can: the pod's copy then stays as it was, and the tenant is told.
func TestAPodIsCheckedAgainOnEverySync(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	tn := newTenant(t, tenancyv1alpha1.SingleNamespaceMode, viaRun())
	ns := tn.newVirtualNamespace(t)
	tn.createVirtual(t, podUsing(ns, "web", "", ""))
	h := &corev1.Pod{}
	tn.hostObject(t, ns, "web", h)

	cfg := tn.Config
	cfg.PodSecurity.Level = tenancyv1alpha1.PodSecurityRestricted
	writeConfig(t, tn.ConfigFile, cfg)
	ev := tn.waitVirtualEvent(t, ns, syncer.ReasonSyncFailed)
	g.Expect(ev.InvolvedObject.Name).To(Equal("web"))
	g.Expect(ev.Message).To(ContainSubstring(`The host copy is not updated: this pod violates PodSecurity "restricted:latest": `))
	again := &corev1.Pod{}
	g.Expect(hostClient.Get(ctx, client.ObjectKeyFromObject(h), again)).To(Succeed(), "the copy stays")
	g.Expect(again.UID).To(Equal(h.UID))
}

// In multi-namespace mode the host enforces the level too: each host
// namespace is labelled with it, here the stricter one of the
// VirtualCluster's namespace.
func TestHostNamespacesEnforceTheLevel(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	vcNamespace := newHostNamespace(t)
	platform := &corev1.Namespace{}
	g.Expect(hostClient.Get(ctx, client.ObjectKey{Name: vcNamespace}, platform)).To(Succeed())
	platform.Labels[enforceLabel] = "restricted"
	g.Expect(hostClient.Update(ctx, platform)).To(Succeed())
	tn := newTenant(t, tenancyv1alpha1.MultiNamespaceMode, inHostNamespace(vcNamespace))

	tn.expectRefused(t, func(ns string) *corev1.Pod { return podUsing(ns, "web", "", "") },
		`violates PodSecurity "restricted:latest"`, "The level restricted is set by label "+enforceLabel+"=restricted of namespace "+vcNamespace)

	ns := tn.newVirtualNamespace(t)
	tn.createVirtual(t, hardened(podUsing(ns, "web", "", "")))
	h := &corev1.Pod{}
	tn.hostObject(t, ns, "web", h)
	want := map[string]string{
		enforceLabel: "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
		"pod-security.kubernetes.io/warn":            "restricted",
		"pod-security.kubernetes.io/audit":           "restricted",
	}
	hostNs := &corev1.Namespace{}
	g.Expect(hostClient.Get(ctx, client.ObjectKey{Name: h.Namespace}, hostNs)).To(Succeed())
	for k, v := range want {
		g.Expect(hostNs.Labels).To(HaveKeyWithValue(k, v))
	}

	// The host itself refuses a pod below the level, even from the
	// syncer's own identity.
	direct := privileged(podUsing(h.Namespace, "direct", "", ""))
	direct.Spec.ServiceAccountName = tn.Config.WorkloadServiceAccount
	err := tn.asSyncer(t).Create(ctx, direct)
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
	g.Expect(err.Error()).To(And(ContainSubstring(`violates PodSecurity "restricted:latest"`),
		ContainSubstring(`privileged (container "main" must not set securityContext.privileged=true)`)))

	// A host namespace whose labels differ (made by an earlier syncer, or
	// changed by hand) gets them back on the syncer's next write there.
	hostNs.Labels[enforceLabel] = "privileged"
	delete(hostNs.Labels, "pod-security.kubernetes.io/warn")
	g.Expect(hostClient.Update(ctx, hostNs)).To(Succeed())
	tn.createVirtual(t, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	})
	g.Eventually(func(g Gomega) {
		g.Expect(hostClient.Get(ctx, client.ObjectKey{Name: h.Namespace}, hostNs)).To(Succeed())
		for k, v := range want {
			g.Expect(hostNs.Labels).To(HaveKeyWithValue(k, v))
		}
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
}
