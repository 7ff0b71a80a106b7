package webhook_test

import (
	"context"
	"maps"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/ownership"
	"github.com/nestor-dev/nestor/internal/podsecurity"
	"github.com/nestor-dev/nestor/internal/rbac"
)

// The words of the syncer webhook's refusals.
const (
	namespaceRefusal   = "may create, change and delete only its own host namespaces"
	roleBindingRefusal = "may write only RoleBindings of ClusterRole"
)

// asUser is a client of the API server that acts as user.
func asUser(t *testing.T, user string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: k8s.Scheme()})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	return c
}

// multiTenant creates a multi-namespace VirtualCluster, waits until the
// operator has given its syncer its RBAC, and returns it with a client
// that acts as its syncer, holding exactly those rules.
func multiTenant(t *testing.T) (*tenancyv1alpha1.VirtualCluster, client.Client) {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	u := manifest(t, newNamespace(t), vcYAML("tenant", "  experimental: {multiNamespaceMode: {enabled: true}}\n"))
	g.Expect(apply(u)).To(Succeed())
	vc := get(t, u.GetNamespace(), u.GetName())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), vc) })
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	g.Eventually(func(g Gomega) {
		for _, name := range []string{n.ClusterRBAC, n.NamespaceRBAC} {
			g.Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, &rbacv1.ClusterRole{})).To(Succeed())
		}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Name: n.ClusterRBAC}, &rbacv1.ClusterRoleBinding{})).To(Succeed())
	}).WithTimeout(30*time.Second).Should(Succeed(), "the operator makes the syncer's RBAC")
	return vc, asUser(t, "system:serviceaccount:"+vc.Namespace+":"+n.SyncerServiceAccount)
}

// ownNamespace is a host namespace of vc's, as its syncer makes one: named
// for a virtual namespace, enforcing the default Pod Security level.
func ownNamespace(vc *tenancyv1alpha1.VirtualCluster) *corev1.Namespace {
	vns := "own-" + rand.String(6)
	labels := ownership.Labels(vc)
	maps.Copy(labels, podsecurity.Requested(tenancyv1alpha1.PodSecurityBaseline).NamespaceLabels())
	labels[tenancyv1alpha1.LabelVirtualNamespace] = vns
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: naming.NewTranslator(vc.Namespace, vc.Name, true).HostNamespace(vns), Labels: labels}}
}

// refusedBy checks err is the syncer webhook's refusal, in words: a
// refusal of RBAC's (its rules too narrow) would not do.
func refusedBy(g Gomega, err error, words string) {
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "refused: %v", err)
	g.Expect(err).To(MatchError(ContainSubstring(words)))
}

func TestTheSyncerTouchesOnlyItsOwnNamespaces(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	vc, syncer := multiTenant(t)

	// Its own namespace it may create, relabel and delete: its rules allow
	// it, once the API server has them, and so does the webhook. (It
	// patches, as the apply path does: it may not update.)
	own := ownNamespace(vc)
	g.Eventually(func() error { return syncer.Create(ctx, own.DeepCopy()) }).WithTimeout(10 * time.Second).Should(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), own) })
	g.Expect(syncer.Get(ctx, client.ObjectKeyFromObject(own), own)).To(Succeed())
	before := own.DeepCopy()
	own.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
	g.Expect(syncer.Patch(ctx, own, client.MergeFrom(before))).To(Succeed())

	// Nor may it open its own to what its pods are held from, or name a
	// namespace the platform may mean for someone else.
	open := own.DeepCopy()
	open.Labels["pod-security.kubernetes.io/enforce"] = "privileged"
	refusedBy(g, syncer.Patch(ctx, open, client.MergeFrom(own)), "looser than level baseline")
	squat := ownNamespace(vc)
	squat.Name = "team-" + rand.String(6)
	refusedBy(g, syncer.Create(ctx, squat), "named after the virtual namespace")

	// Nothing else: not kube-system, not an unrelated namespace, not one
	// labelled for it on the way in, nor one unlabelled on the way out.
	err := syncer.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}})
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "deleting kube-system: %v", err)
	unrelated := &corev1.Namespace{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Name: newNamespace(t)}, unrelated)).To(Succeed())
	refusedBy(g, syncer.Delete(ctx, unrelated.DeepCopy()), namespaceRefusal)
	relabelled := unrelated.DeepCopy()
	relabelled.Labels = ownership.Labels(vc)
	refusedBy(g, syncer.Patch(ctx, relabelled, client.MergeFrom(unrelated)), namespaceRefusal)
	refusedBy(g, syncer.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bare-" + rand.String(6)}}), namespaceRefusal)
	unlabelled := own.DeepCopy()
	delete(unlabelled.Labels, tenancyv1alpha1.LabelVirtualCluster)
	refusedBy(g, syncer.Patch(ctx, unlabelled, client.MergeFrom(own)), namespaceRefusal)
	for _, ns := range []string{"kube-system", unrelated.Name} {
		live := &corev1.Namespace{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Name: ns}, live)).To(Succeed())
		g.Expect(live.DeletionTimestamp).To(BeNil(), "namespace %s", ns)
		g.Expect(live.Labels).NotTo(HaveKey(tenancyv1alpha1.LabelVirtualCluster), "namespace %s", ns)
	}

	g.Expect(syncer.Delete(ctx, own)).To(Succeed())
}

func TestTheSyncerBindsOnlyItsOwnRoleInItsOwnNamespaces(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	vc, syncer := multiTenant(t)
	own := ownNamespace(vc)
	g.Expect(k8s.Create(ctx, own)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), own) })
	unrelated := newNamespace(t)

	// In its own namespace, its grant goes through, and works.
	g.Eventually(func() error {
		return syncer.Create(ctx, rbac.NamespaceRoleBinding(vc, own.Name, nil))
	}).WithTimeout(10 * time.Second).Should(Succeed())
	g.Eventually(func() error {
		return syncer.List(ctx, &corev1.SecretList{}, client.InNamespace(own.Name))
	}).WithTimeout(10 * time.Second).Should(Succeed())

	// The same grant elsewhere would read kube-system's Secrets, or an
	// unrelated namespace's: refused.
	for _, ns := range []string{"kube-system", unrelated} {
		refusedBy(g, syncer.Create(ctx, rbac.NamespaceRoleBinding(vc, ns, nil)), roleBindingRefusal)
	}
	g.Expect(syncer.List(ctx, &corev1.SecretList{}, client.InNamespace("kube-system"))).To(Satisfy(apierrors.IsForbidden))

	// In its own namespace, a grant to someone else is refused too.
	other := rbac.NamespaceRoleBinding(vc, own.Name, nil)
	other.Name = "for-others"
	other.Subjects = append(other.Subjects, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "default", Namespace: own.Name})
	refusedBy(g, syncer.Create(ctx, other), roleBindingRefusal)
}

func TestWhoIsNoSyncerIsNotHeldBack(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	// A ServiceAccount named like a syncer, of no VirtualCluster, that may
	// create namespaces.
	ns := newNamespace(t)
	user := "system:serviceaccount:" + ns + ":vc-ghost"
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "ghost-" + ns},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"create", "delete"}}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "vc-ghost", Namespace: ns}},
	}
	for _, obj := range []client.Object{role, binding} {
		g.Expect(k8s.Create(ctx, obj)).To(Succeed())
		t.Cleanup(func() { _ = k8s.Delete(context.Background(), obj) })
	}
	created := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ghosts-" + rand.String(6)}}
	g.Eventually(func() error { return asUser(t, user).Create(ctx, created.DeepCopy()) }).WithTimeout(10 * time.Second).Should(Succeed())
	g.Expect(asUser(t, user).Delete(ctx, created)).To(Succeed())
}
