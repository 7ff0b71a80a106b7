package rbac

import (
	"reflect"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/utils/ptr"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

var rw = []string{"get", "list", "watch", "create", "update", "patch", "delete"}
var ro = []string{"get", "list", "watch"}
var (
	leases       = rbacv1.PolicyRule{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}}
	recordEvents = rbacv1.PolicyRule{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}}
)

// defaults is spec.sync as the schema defaults it.
func defaults() tenancyv1alpha1.SyncSpec {
	on := tenancyv1alpha1.EnabledByDefault{Enabled: ptr.To(true)}
	ref := tenancyv1alpha1.SyncReferenced{Enabled: ptr.To(true)}
	return tenancyv1alpha1.SyncSpec{
		ToHost: tenancyv1alpha1.SyncToHost{
			Pods: on, Services: on, Endpoints: on, PersistentVolumeClaims: on,
			ConfigMaps: ref, Secrets: ref,
		},
		FromHost: tenancyv1alpha1.SyncFromHost{Events: on},
	}
}

func TestDefaultsInSingleNamespaceMode(t *testing.T) {
	got := For(defaults(), tenancyv1alpha1.SingleNamespaceMode)
	want := Rules{Namespaced: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps", "endpoints", "persistentvolumeclaims", "pods", "secrets", "services"}, Verbs: rw},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: ro},
		leases, recordEvents,
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rules:\n got %+v\nwant %+v", got, want)
	}
}

func TestDefaultsInMultiNamespaceMode(t *testing.T) {
	got := For(defaults(), tenancyv1alpha1.MultiNamespaceMode)
	want := Rules{
		Namespaced: []rbacv1.PolicyRule{leases, recordEvents},
		Cluster: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: rw},
			{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"get", "list", "watch", "create", "patch"}},
			{APIGroups: []string{""}, Resources: []string{"configmaps", "endpoints", "persistentvolumeclaims", "pods", "secrets", "services"}, Verbs: rw},
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: ro},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rules:\n got %+v\nwant %+v", got, want)
	}
}

// added returns the rules in b that are not in a.
func added(a, b []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, r := range b {
		if !slices.ContainsFunc(a, func(x rbacv1.PolicyRule) bool { return reflect.DeepEqual(x, r) }) {
			out = append(out, r)
		}
	}
	return out
}

func TestACustomResourceAddsExactlyItsRule(t *testing.T) {
	with := defaults()
	with.ToHost.CustomResources = map[string]tenancyv1alpha1.CustomResourceToHost{"certificates.cert-manager.io": {Enabled: true}}
	base, got := For(defaults(), tenancyv1alpha1.SingleNamespaceMode), For(with, tenancyv1alpha1.SingleNamespaceMode)
	want := []rbacv1.PolicyRule{{APIGroups: []string{"cert-manager.io"}, Resources: []string{"certificates"}, Verbs: rw}}
	if diff := added(base.Namespaced, got.Namespaced); !reflect.DeepEqual(diff, want) {
		t.Fatalf("single-namespace mode added %+v, want %+v", diff, want)
	}
	if len(added(got.Namespaced, base.Namespaced)) != 0 || len(got.Cluster) != 0 {
		t.Fatalf("single-namespace mode removed rules or added cluster rules: %+v", got)
	}

	// In multi-namespace mode the rule is cluster-wide, and still the only
	// one: the operator hands the syncer the definition, which it never reads.
	base, got = For(defaults(), tenancyv1alpha1.MultiNamespaceMode), For(with, tenancyv1alpha1.MultiNamespaceMode)
	if diff := added(base.Cluster, got.Cluster); !reflect.DeepEqual(diff, want) {
		t.Fatalf("multi-namespace mode added %+v, want %+v", diff, want)
	}

	// A disabled entry grants nothing.
	with.ToHost.CustomResources["certificates.cert-manager.io"] = tenancyv1alpha1.CustomResourceToHost{Enabled: false}
	if got := For(with, tenancyv1alpha1.MultiNamespaceMode); !reflect.DeepEqual(got, base) {
		t.Fatalf("a disabled custom resource changed the rules: %+v", got)
	}
}

func TestTurningAKindOffRemovesItsRule(t *testing.T) {
	sync := defaults()
	sync.ToHost.Secrets.Enabled = ptr.To(false)
	sync.ToHost.Pods.Enabled = ptr.To(false)
	sync.ToHost.ConfigMaps.Enabled = ptr.To(false)
	sync.FromHost.Events.Enabled = ptr.To(false)
	got := For(sync, tenancyv1alpha1.SingleNamespaceMode)
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"endpoints", "persistentvolumeclaims", "services"}, Verbs: rw},
		leases, recordEvents,
	}
	if !reflect.DeepEqual(got.Namespaced, want) {
		t.Fatalf("rules:\n got %+v\nwant %+v", got.Namespaced, want)
	}

	// Pods alone still need secrets: their service-account tokens travel as Secrets.
	sync.ToHost.Pods.Enabled = ptr.To(true)
	got = For(sync, tenancyv1alpha1.SingleNamespaceMode)
	if !slices.Contains(got.Namespaced[0].Resources, "secrets") {
		t.Fatalf("pods without secrets sync must still grant secrets: %+v", got.Namespaced)
	}
}

func TestClusterScopedFeaturesNeedMultiNamespaceMode(t *testing.T) {
	sync := defaults()
	sync.FromHost.Nodes.Enabled = true
	sync.FromHost.StorageClasses.Enabled = true
	sync.FromHost.CustomResources = map[string]tenancyv1alpha1.CustomResourceFromHost{
		"clusterissuers.cert-manager.io": {Enabled: true, Scope: tenancyv1alpha1.ClusterScoped},
		"widgets.example.com":            {Enabled: true, Scope: tenancyv1alpha1.NamespaceScoped},
	}

	single := For(sync, tenancyv1alpha1.SingleNamespaceMode)
	if len(single.Cluster) != 0 {
		t.Fatalf("single-namespace mode got cluster rules: %+v", single.Cluster)
	}
	wantFields := []string{"spec.sync.fromHost.nodes", "spec.sync.fromHost.storageClasses", "spec.sync.fromHost.customResources[clusterissuers.cert-manager.io]"}
	if !reflect.DeepEqual(single.NeedMultiNamespace, wantFields) {
		t.Fatalf("NeedMultiNamespace = %v, want %v", single.NeedMultiNamespace, wantFields)
	}
	// A namespaced kind from the host is not synced, and gets no rule.
	for _, rules := range [][]rbacv1.PolicyRule{single.Namespaced, For(sync, tenancyv1alpha1.MultiNamespaceMode).Namespaced, For(sync, tenancyv1alpha1.MultiNamespaceMode).Cluster} {
		if slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Resources, "widgets") }) {
			t.Fatalf("namespaced fromHost custom resource granted: %+v", rules)
		}
	}

	multi := For(sync, tenancyv1alpha1.MultiNamespaceMode)
	if len(multi.NeedMultiNamespace) != 0 {
		t.Fatalf("multi-namespace mode serves everything, got %v", multi.NeedMultiNamespace)
	}
	for _, want := range []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"events", "nodes"}, Verbs: ro},
		{APIGroups: []string{"storage.k8s.io"}, Resources: []string{"storageclasses"}, Verbs: ro},
		{APIGroups: []string{"cert-manager.io"}, Resources: []string{"clusterissuers"}, Verbs: ro},
	} {
		if !slices.ContainsFunc(multi.Cluster, func(r rbacv1.PolicyRule) bool { return reflect.DeepEqual(r, want) }) {
			t.Errorf("missing cluster rule %+v in %+v", want, multi.Cluster)
		}
	}
	for _, rule := range slices.Concat(multi.Cluster, multi.Namespaced) {
		if slices.Contains(rule.APIGroups, "apiextensions.k8s.io") {
			t.Errorf("the syncer may not read definitions, the operator hands them over: %+v", rule)
		}
	}
}
