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

// forSync is For for a VirtualCluster team-a/my-vcluster with spec.sync sync.
func forSync(sync tenancyv1alpha1.SyncSpec, mode tenancyv1alpha1.Mode) Rules {
	vc := &tenancyv1alpha1.VirtualCluster{}
	vc.Namespace, vc.Name, vc.Spec.Sync = "team-a", "my-vcluster", sync
	return For(vc, mode)
}

// multiCluster are the cluster rules every multi-namespace syncer has, for
// team-a/my-vcluster.
var multiCluster = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch", "create", "patch", "delete"}},
	{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"rolebindings"}, Verbs: []string{"get", "create", "patch"}},
	{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles"}, Verbs: []string{"bind"},
		ResourceNames: []string{"nestor-team-a-my-vcluster:host-namespace"}},
}

// podStreams are the host subresources of the pods' kubelet API.
var podStreams = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
	{APIGroups: []string{""}, Resources: []string{"pods/attach", "pods/exec", "pods/portforward"}, Verbs: []string{"create"}},
}

// podStatus carries readiness gates' conditions to the host pods: only
// with pods and endpoints synced.
var podStatus = rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/status"}, Verbs: []string{"patch"}}

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
	got := forSync(defaults(), tenancyv1alpha1.SingleNamespaceMode)
	want := Rules{Namespaced: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps", "endpoints", "persistentvolumeclaims", "pods", "secrets", "services"}, Verbs: rw},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: ro},
		podStreams[0], podStreams[1], podStatus,
		leases, recordEvents,
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rules:\n got %+v\nwant %+v", got, want)
	}
}

func TestDefaultsInMultiNamespaceMode(t *testing.T) {
	got := forSync(defaults(), tenancyv1alpha1.MultiNamespaceMode)
	want := Rules{
		Namespaced: []rbacv1.PolicyRule{leases, recordEvents},
		Cluster:    multiCluster,
		PerNamespace: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"configmaps", "endpoints", "persistentvolumeclaims", "pods", "secrets", "services"}, Verbs: rw},
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: ro},
			podStreams[0], podStreams[1], podStatus,
			{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"get", "list", "watch", "create", "patch"}},
			{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"rolebindings"}, Verbs: []string{"list", "watch"}},
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
	base, got := forSync(defaults(), tenancyv1alpha1.SingleNamespaceMode), forSync(with, tenancyv1alpha1.SingleNamespaceMode)
	want := []rbacv1.PolicyRule{{APIGroups: []string{"cert-manager.io"}, Resources: []string{"certificates"}, Verbs: rw}}
	if diff := added(base.Namespaced, got.Namespaced); !reflect.DeepEqual(diff, want) {
		t.Fatalf("single-namespace mode added %+v, want %+v", diff, want)
	}
	if len(added(got.Namespaced, base.Namespaced)) != 0 || len(got.Cluster) != 0 || len(got.PerNamespace) != 0 {
		t.Fatalf("single-namespace mode removed rules or added cluster rules: %+v", got)
	}

	// In multi-namespace mode the rule is granted in each host namespace,
	// and still the only one: the operator hands the syncer the definition,
	// which it never reads.
	base, got = forSync(defaults(), tenancyv1alpha1.MultiNamespaceMode), forSync(with, tenancyv1alpha1.MultiNamespaceMode)
	if diff := added(base.PerNamespace, got.PerNamespace); !reflect.DeepEqual(diff, want) {
		t.Fatalf("multi-namespace mode added %+v, want %+v", diff, want)
	}
	if !reflect.DeepEqual(got.Cluster, base.Cluster) {
		t.Fatalf("a namespaced custom resource changed the cluster rules: %+v", got.Cluster)
	}

	// A disabled entry grants nothing.
	with.ToHost.CustomResources["certificates.cert-manager.io"] = tenancyv1alpha1.CustomResourceToHost{Enabled: false}
	if got := forSync(with, tenancyv1alpha1.MultiNamespaceMode); !reflect.DeepEqual(got, base) {
		t.Fatalf("a disabled custom resource changed the rules: %+v", got)
	}
}

func TestTurningAKindOffRemovesItsRule(t *testing.T) {
	sync := defaults()
	sync.ToHost.Secrets.Enabled = ptr.To(false)
	sync.ToHost.Pods.Enabled = ptr.To(false)
	sync.ToHost.ConfigMaps.Enabled = ptr.To(false)
	sync.FromHost.Events.Enabled = ptr.To(false)
	got := forSync(sync, tenancyv1alpha1.SingleNamespaceMode)
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"endpoints", "persistentvolumeclaims", "services"}, Verbs: rw},
		leases, recordEvents,
	}
	if !reflect.DeepEqual(got.Namespaced, want) {
		t.Fatalf("rules:\n got %+v\nwant %+v", got.Namespaced, want)
	}

	// Pods alone still need secrets: their service-account tokens travel as Secrets.
	sync.ToHost.Pods.Enabled = ptr.To(true)
	got = forSync(sync, tenancyv1alpha1.SingleNamespaceMode)
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

	single := forSync(sync, tenancyv1alpha1.SingleNamespaceMode)
	if len(single.Cluster) != 0 {
		t.Fatalf("single-namespace mode got cluster rules: %+v", single.Cluster)
	}
	wantFields := []string{"spec.sync.fromHost.nodes", "spec.sync.fromHost.storageClasses", "spec.sync.fromHost.customResources[clusterissuers.cert-manager.io]"}
	if !reflect.DeepEqual(single.NeedMultiNamespace, wantFields) {
		t.Fatalf("NeedMultiNamespace = %v, want %v", single.NeedMultiNamespace, wantFields)
	}
	// A namespaced kind from the host is not synced, and gets no rule.
	multi := forSync(sync, tenancyv1alpha1.MultiNamespaceMode)
	for _, rules := range [][]rbacv1.PolicyRule{single.Namespaced, multi.Namespaced, multi.Cluster, multi.PerNamespace} {
		if slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Resources, "widgets") }) {
			t.Fatalf("namespaced fromHost custom resource granted: %+v", rules)
		}
	}

	if len(multi.NeedMultiNamespace) != 0 {
		t.Fatalf("multi-namespace mode serves everything, got %v", multi.NeedMultiNamespace)
	}
	for _, want := range []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: ro},
		{APIGroups: []string{"storage.k8s.io"}, Resources: []string{"storageclasses"}, Verbs: ro},
		{APIGroups: []string{"cert-manager.io"}, Resources: []string{"clusterissuers"}, Verbs: ro},
	} {
		if !slices.ContainsFunc(multi.Cluster, func(r rbacv1.PolicyRule) bool { return reflect.DeepEqual(r, want) }) {
			t.Errorf("missing cluster rule %+v in %+v", want, multi.Cluster)
		}
	}
	for _, rule := range slices.Concat(multi.Cluster, multi.Namespaced, multi.PerNamespace) {
		if slices.Contains(rule.APIGroups, "apiextensions.k8s.io") {
			t.Errorf("the syncer may not read definitions, the operator hands them over: %+v", rule)
		}
	}
}

func TestAskedFor(t *testing.T) {
	sync := defaults()
	sync.ToHost.Secrets.Enabled = ptr.To(false)
	sync.ToHost.CustomResources = map[string]tenancyv1alpha1.CustomResourceToHost{"certificates.cert-manager.io": {Enabled: true}}
	sync.FromHost.Nodes.Enabled = true
	for _, tc := range []struct {
		mode tenancyv1alpha1.Mode
		want map[string][]string
	}{
		{tenancyv1alpha1.SingleNamespaceMode, map[string][]string{
			"pods": {"spec.sync.toHost.pods"}, "services": {"spec.sync.toHost.services"}, "endpoints": {"spec.sync.toHost.endpoints"},
			"persistentvolumeclaims": {"spec.sync.toHost.persistentVolumeClaims"}, "configmaps": {"spec.sync.toHost.configMaps"},
			// Secrets are off, but pods' tokens still travel as Secrets.
			"secrets":                      {"spec.sync.toHost.pods"},
			"certificates.cert-manager.io": {"spec.sync.toHost.customResources[certificates.cert-manager.io]"},
			"events":                       {"spec.sync.fromHost.events"},
			"pods/log":                     {"spec.sync.toHost.pods"}, "pods/attach": {"spec.sync.toHost.pods"},
			"pods/exec": {"spec.sync.toHost.pods"}, "pods/portforward": {"spec.sync.toHost.pods"},
			"pods/status": {"spec.sync.toHost.endpoints"},
			// Nodes get no rule in this mode, so nothing asks for one.
		}},
		{tenancyv1alpha1.MultiNamespaceMode, map[string][]string{
			"namespaces":                             {ModeField},
			"serviceaccounts":                        {ModeField},
			"rolebindings.rbac.authorization.k8s.io": {ModeField},
			"clusterroles.rbac.authorization.k8s.io": {ModeField},
			"pods":                                   {"spec.sync.toHost.pods"}, "services": {"spec.sync.toHost.services"}, "endpoints": {"spec.sync.toHost.endpoints"},
			"persistentvolumeclaims": {"spec.sync.toHost.persistentVolumeClaims"}, "configmaps": {"spec.sync.toHost.configMaps"},
			"secrets":                      {"spec.sync.toHost.pods"},
			"certificates.cert-manager.io": {"spec.sync.toHost.customResources[certificates.cert-manager.io]"},
			"events":                       {"spec.sync.fromHost.events"},
			"nodes":                        {"spec.sync.fromHost.nodes"},
			"pods/log":                     {"spec.sync.toHost.pods"}, "pods/attach": {"spec.sync.toHost.pods"},
			"pods/exec": {"spec.sync.toHost.pods"}, "pods/portforward": {"spec.sync.toHost.pods"},
			"pods/status": {"spec.sync.toHost.endpoints"},
		}},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			vc := &tenancyv1alpha1.VirtualCluster{}
			vc.Namespace, vc.Name, vc.Spec.Sync = "team-a", "my-vcluster", sync
			if got := AskedFor(vc, tc.mode); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("AskedFor:\n got %v\nwant %v", got, tc.want)
			}
			// Every resource with a rule but the housekeeping ones is asked for by some field.
			rules := For(vc, tc.mode)
			for _, rule := range slices.Concat(rules.Namespaced, rules.Cluster, rules.PerNamespace) {
				if slices.ContainsFunc(Housekeeping(), func(h rbacv1.PolicyRule) bool { return reflect.DeepEqual(h, rule) }) {
					continue
				}
				for _, res := range rule.Resources {
					if key := GroupResource(rule.APIGroups[0], res); tc.want[key] == nil {
						t.Errorf("nothing asks for %s", key)
					}
				}
			}
		})
	}
}

// TestNoSyncedKindIsGrantedClusterWide: whatever spec.sync turns on, the
// cluster rules of a multi-namespace syncer are the fixed ones and reads of
// cluster-scoped kinds; every synced kind is granted per host namespace.
func TestNoSyncedKindIsGrantedClusterWide(t *testing.T) {
	on := tenancyv1alpha1.DisabledByDefault{Enabled: true}
	cases := []struct {
		name string
		sync func(*tenancyv1alpha1.SyncSpec)
	}{
		{"defaults", func(*tenancyv1alpha1.SyncSpec) {}},
		{"everything to the host", func(s *tenancyv1alpha1.SyncSpec) {
			s.ToHost.Secrets.All, s.ToHost.ConfigMaps.All = true, true
			s.ToHost.Ingresses, s.ToHost.NetworkPolicies, s.ToHost.ServiceAccounts, s.ToHost.PodDisruptionBudgets = on, on, on, on
			s.ToHost.CustomResources = map[string]tenancyv1alpha1.CustomResourceToHost{"certificates.cert-manager.io": {Enabled: true}}
		}},
		{"nothing to the host", func(s *tenancyv1alpha1.SyncSpec) {
			off := tenancyv1alpha1.EnabledByDefault{Enabled: ptr.To(false)}
			s.ToHost.Pods, s.ToHost.Services, s.ToHost.Endpoints, s.ToHost.PersistentVolumeClaims = off, off, off, off
			s.ToHost.ConfigMaps.Enabled, s.ToHost.Secrets.Enabled, s.FromHost.Events = ptr.To(false), ptr.To(false), off
		}},
		{"cluster-scoped kinds from the host", func(s *tenancyv1alpha1.SyncSpec) {
			s.FromHost.StorageClasses.Enabled = true
			s.FromHost.CustomResources = map[string]tenancyv1alpha1.CustomResourceFromHost{
				"clusterissuers.cert-manager.io": {Enabled: true, Scope: tenancyv1alpha1.ClusterScoped},
			}
		}},
	}
	clusterScoped := []string{"namespaces", "rolebindings", "clusterroles", "storageclasses", "clusterissuers"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sync := defaults()
			tc.sync(&sync)
			got := forSync(sync, tenancyv1alpha1.MultiNamespaceMode)
			if !reflect.DeepEqual(got.Cluster[:len(multiCluster)], multiCluster) {
				t.Fatalf("cluster rules %+v do not start with %+v", got.Cluster, multiCluster)
			}
			for _, rule := range got.Cluster {
				for _, res := range rule.Resources {
					if !slices.Contains(clusterScoped, res) {
						t.Errorf("cluster rule grants %s cluster-wide: %+v", res, rule)
					}
				}
			}
			for _, rule := range got.Cluster[len(multiCluster):] {
				if !reflect.DeepEqual(rule.Verbs, ro) {
					t.Errorf("cluster-scoped kinds are only read: %+v", rule)
				}
			}
			// The per-namespace rules always let the syncer set up a namespace.
			if !slices.ContainsFunc(got.PerNamespace, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Resources, "serviceaccounts") }) {
				t.Errorf("no rule for the workload ServiceAccount in %+v", got.PerNamespace)
			}
		})
	}
}

// Readiness gates' conditions reach the host pods only where the syncer
// writes endpoints too: the built-in edit role holds neither.
func TestPodStatusOnlyWithEndpoints(t *testing.T) {
	for _, mode := range []tenancyv1alpha1.Mode{tenancyv1alpha1.SingleNamespaceMode, tenancyv1alpha1.MultiNamespaceMode} {
		sync := defaults()
		sync.ToHost.Endpoints.Enabled = ptr.To(false)
		r := forSync(sync, mode)
		for _, rule := range append(r.Namespaced, r.PerNamespace...) {
			if slices.Contains(rule.Resources, "pods/status") {
				t.Errorf("%s: endpoints off, yet %+v", mode, rule)
			}
		}
	}
}
