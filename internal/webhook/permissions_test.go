package webhook_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/operator"
)

// user is someone the API server authenticates, with the roles the test
// binds to it and nothing else.
type user struct {
	name string
	c    client.Client
}

func newUser(t *testing.T, prefix string) user {
	t.Helper()
	name := prefix + "-" + rand.String(6)
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: name}
	scheme, _ := operator.Scheme()
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	return user{name, c}
}

// bind grants u the ClusterRole in namespace, or cluster-wide when
// namespace is "".
func (u user) bind(t *testing.T, namespace, clusterRole string) user {
	t.Helper()
	meta := metav1.ObjectMeta{Namespace: namespace, Name: u.name + "-" + clusterRole}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole}
	subjects := []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: u.name}}
	var binding client.Object = &rbacv1.RoleBinding{ObjectMeta: meta, RoleRef: ref, Subjects: subjects}
	if namespace == "" {
		binding = &rbacv1.ClusterRoleBinding{ObjectMeta: meta, RoleRef: ref, Subjects: subjects}
	}
	NewWithT(t).Expect(k8s.Create(context.Background(), binding)).To(Succeed())
	return u
}

// role creates a ClusterRole of rules for the test.
func role(t *testing.T, rules ...rbacv1.PolicyRule) string {
	t.Helper()
	r := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "test-" + rand.String(6)}, Rules: rules}
	NewWithT(t).Expect(k8s.Create(context.Background(), r)).To(Succeed())
	return r.Name
}

// apply sends the manifest as u, as `kubectl apply --server-side` does.
func (u user) apply(m *unstructured.Unstructured) error {
	return applyWith(u.c, m)
}

const endpointsOff = "  sync: {toHost: {endpoints: {enabled: false}}}\n"

// expectRefused checks that err refuses the VirtualCluster for permissions
// its user lacks, saying which, the fields that ask for them and who can
// grant them, and that nothing was stored.
func expectRefused(t *testing.T, err error, m *unstructured.Unstructured, u user, says ...string) {
	t.Helper()
	g := NewWithT(t)
	g.Expect(err).To(HaveOccurred(), "admitted")
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
	ns := m.GetNamespace()
	for _, want := range append(says, "VirtualCluster "+ns+"/"+m.GetName(), `user "`+u.name+`" does not hold`,
		"a cluster administrator can grant you these permissions, or `escalate` on virtualclusters.tenancy.nestor.dev in namespace "+ns) {
		g.Expect(err.Error()).To(ContainSubstring(want))
	}
}

func TestAnEditorIsRefusedMultiNamespaceMode(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	editor := newUser(t, "editor").bind(t, ns, "edit")
	m := manifest(t, ns, multi)
	err := editor.apply(m)
	expectRefused(t, err, m, editor, "asked for by spec.experimental.multiNamespaceMode.enabled, ",
		"spec.sync.toHost.pods", "spec.sync.toHost.customResources[certificates.cert-manager.io]")
	g.Expect(err.Error()).To(MatchRegexp(`\blist\b[a-z/]* pods \(cluster-wide\)`))
	g.Expect(err.Error()).To(MatchRegexp(`\bdelete\b[a-z/]* namespaces \(cluster-wide\)`))
	g.Expect(apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKeyFromObject(m), &tenancyv1alpha1.VirtualCluster{}))).To(BeTrue())
}

// The built-in edit role holds the kinds single-namespace mode syncs by
// default, except writing endpoints (Kubernetes took that out of edit, as
// it lets a Service lead anywhere).
func TestAnEditorGetsSingleNamespaceModeForWhatEditHolds(t *testing.T) {
	ns := newNamespace(t)
	editor := newUser(t, "editor").bind(t, ns, "edit")

	defaults := manifest(t, ns, vcYAML("defaults", "  {}\n"))
	expectRefused(t, editor.apply(defaults), defaults, editor, "create/delete/patch/update endpoints in namespace "+ns, "asked for by spec.sync.toHost.endpoints.")

	NewWithT(t).Expect(editor.apply(manifest(t, ns, vcYAML("pods", endpointsOff)))).To(Succeed(),
		"pods, services, claims, configMaps, secrets and events, as edit holds")

	custom := manifest(t, ns, vcYAML("custom", "  sync: {toHost: {endpoints: {enabled: false}, customResources: {widgets.example.com: {enabled: true}}}}\n"))
	expectRefused(t, editor.apply(custom), custom, editor, "create/delete/get/list/patch/update/watch widgets.example.com in namespace "+ns,
		"asked for by spec.sync.toHost.customResources[widgets.example.com].")
}

// The syncer's leader election and the events about it need no grant: a
// user whose role holds exactly the synced kinds, no leases and no event
// writes, is admitted.
func TestTheSyncersHousekeepingNeedsNoGrant(t *testing.T) {
	ns := newNamespace(t)
	rw := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	narrow := role(t,
		rbacv1.PolicyRule{APIGroups: []string{tenancyv1alpha1.GroupVersion.Group}, Resources: []string{"virtualclusters"}, Verbs: []string{"create", "patch"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods", "services", "persistentvolumeclaims", "configmaps", "secrets"}, Verbs: rw},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/attach", "pods/exec", "pods/portforward"}, Verbs: []string{"create"}},
	)
	u := newUser(t, "narrow").bind(t, ns, narrow)
	NewWithT(t).Expect(u.apply(manifest(t, ns, vcYAML("pods", endpointsOff)))).To(Succeed())
}

func TestAClusterAdminGetsMultiNamespaceMode(t *testing.T) {
	ns := newNamespace(t)
	admin := newUser(t, "admin").bind(t, "", "cluster-admin")
	NewWithT(t).Expect(admin.apply(manifest(t, ns, multi))).To(Succeed())
}

func TestEscalateOnVirtualClustersIsTheGrant(t *testing.T) {
	ns := newNamespace(t)
	escalate := role(t, rbacv1.PolicyRule{APIGroups: []string{tenancyv1alpha1.GroupVersion.Group}, Resources: []string{"virtualclusters"}, Verbs: []string{"escalate"}})
	trusted := newUser(t, "trusted").bind(t, ns, "edit").bind(t, ns, escalate)
	NewWithT(t).Expect(trusted.apply(manifest(t, ns, multi))).To(Succeed())

	// In its namespace only.
	other := newNamespace(t)
	trusted.bind(t, other, "edit")
	m := manifest(t, other, multi)
	expectRefused(t, trusted.apply(m), m, trusted)
}

// An update is checked for what it adds: a setting the updater lacks that
// was there before stays, a new one is refused.
func TestAnUpdateIsCheckedForWhatItAdds(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	// A platform admin made it, with a kind edit does not hold.
	m := manifest(t, ns, vcYAML("shared", "  sync: {toHost: {endpoints: {enabled: false}, customResources: {widgets.example.com: {enabled: true}}}}\n"))
	g.Expect(apply(m)).To(Succeed())
	editor := newUser(t, "editor").bind(t, ns, "edit")

	harmless := m.DeepCopy()
	g.Expect(unstructured.SetNestedField(harmless.Object, "v", "spec", "controlPlane", "service", "annotations", "example.com/note")).To(Succeed())
	g.Expect(editor.apply(harmless)).To(Succeed(), "the custom kind was there before")
	held := harmless.DeepCopy()
	g.Expect(unstructured.SetNestedField(held.Object, true, "spec", "sync", "toHost", "ingresses", "enabled")).To(Succeed())
	g.Expect(editor.apply(held)).To(Succeed(), "ingresses are edit's")

	more := held.DeepCopy()
	g.Expect(unstructured.SetNestedField(more.Object, true, "spec", "sync", "toHost", "endpoints", "enabled")).To(Succeed())
	err := editor.apply(more)
	expectRefused(t, err, more, editor, "create/delete/patch/update endpoints in namespace "+ns, "asked for by spec.sync.toHost.endpoints.", "the user who changes it")
	g.Expect(err.Error()).NotTo(ContainSubstring("widgets"), "what was there before is not asked for again")
	g.Expect(get(t, ns, "shared").Spec.Sync.ToHost.Endpoints.IsEnabled()).To(BeFalse())
}
