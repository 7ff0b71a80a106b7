// Package rbac derives the syncer's host permissions from spec.sync and
// builds its ServiceAccounts, Role, RoleBinding and, in multi-namespace mode
// only, its ClusterRole and ClusterRoleBinding, and the ClusterRole it binds
// in each host namespace it makes.
//
// Every rule is there because a synced kind needs it; turning a kind off
// removes its rule. Nothing grants a synced kind cluster-wide: in
// multi-namespace mode the syncer holds those rules only in its own host
// namespaces (README, "What the syncer may do on the host").
package rbac

import (
	"maps"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/naming"
)

var (
	readWrite = []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	readOnly  = []string{"get", "list", "watch"}
)

// Rules are the syncer's permissions.
type Rules struct {
	// Namespaced rules go into the Role in the VirtualCluster's namespace.
	Namespaced []rbacv1.PolicyRule
	// Cluster rules go into the ClusterRole, bound cluster-wide: only what
	// exists at cluster scope, and what the syncer needs to grant itself
	// PerNamespace in a host namespace it makes. Always empty in
	// single-namespace mode.
	Cluster []rbacv1.PolicyRule
	// PerNamespace rules go into a second ClusterRole, which the syncer binds
	// by a RoleBinding in each host namespace as it makes the namespace,
	// and which is never bound cluster-wide: the synced kinds, the events
	// about them, and the tenant pods' ServiceAccount. Always empty in
	// single-namespace mode.
	PerNamespace []rbacv1.PolicyRule
	// NeedMultiNamespace lists the spec fields that ask for something only
	// cluster-level access can serve, in single-namespace mode: nothing is
	// granted for them.
	NeedMultiNamespace []string
}

// resource is one kind the syncer touches, and the spec field that asks
// for it.
type resource struct {
	group, plural, field string
}

// ModeField is the field whose multi-namespace mode asks for the cluster rules.
const ModeField = "spec.experimental.multiNamespaceMode.enabled"

// For derives the rules of vc's syncer from its spec.sync for the recorded
// mode.
func For(vc *tenancyv1alpha1.VirtualCluster, mode tenancyv1alpha1.Mode) Rules {
	r, _ := derive(vc, mode)
	return r
}

// AskedFor names, for each resource For grants a rule on, the spec fields
// that ask for it, keyed by GroupResource: what a user turns off to do
// without the rule.
func AskedFor(vc *tenancyv1alpha1.VirtualCluster, mode tenancyv1alpha1.Mode) map[string][]string {
	_, fields := derive(vc, mode)
	return fields
}

// GroupResource keys a resource as <plural>.<group>, <plural> alone for the
// core group, as RBAC and kubectl spell it.
func GroupResource(group, plural string) string {
	if group == "" {
		return plural
	}
	return plural + "." + group
}

func derive(vc *tenancyv1alpha1.VirtualCluster, mode tenancyv1alpha1.Mode) (Rules, map[string][]string) {
	to, from := vc.Spec.Sync.ToHost, vc.Spec.Sync.FromHost
	toPath, fromPath := "spec.sync.toHost.", "spec.sync.fromHost."

	// Kinds the syncer writes wherever the tenant's host objects live.
	var synced []resource
	add := func(on bool, field, group, plural string) {
		if on {
			synced = append(synced, resource{group, plural, field})
		}
	}
	add(to.Pods.IsEnabled(), toPath+"pods", "", "pods")
	add(to.Services.IsEnabled(), toPath+"services", "", "services")
	add(to.Endpoints.IsEnabled(), toPath+"endpoints", "", "endpoints")
	add(to.PersistentVolumeClaims.IsEnabled(), toPath+"persistentVolumeClaims", "", "persistentvolumeclaims")
	add(to.ConfigMaps.IsEnabled(), toPath+"configMaps", "", "configmaps")
	add(to.Secrets.IsEnabled(), toPath+"secrets", "", "secrets")
	// A synced pod's service-account token reaches the host as a Secret.
	add(to.Pods.IsEnabled(), toPath+"pods", "", "secrets")
	add(to.Ingresses.IsEnabled(), toPath+"ingresses", "networking.k8s.io", "ingresses")
	add(to.NetworkPolicies.IsEnabled(), toPath+"networkPolicies", "networking.k8s.io", "networkpolicies")
	add(to.ServiceAccounts.IsEnabled(), toPath+"serviceAccounts", "", "serviceaccounts")
	add(to.PodDisruptionBudgets.IsEnabled(), toPath+"podDisruptionBudgets", "policy", "poddisruptionbudgets")
	for _, key := range slices.Sorted(maps.Keys(to.CustomResources)) {
		add(to.CustomResources[key].Enabled, toPath+"customResources["+key+"]", groupOf(key), pluralOf(key))
	}

	// Kinds the syncer only reads where the tenant's host objects live.
	var observed []resource
	if from.Events.IsEnabled() {
		observed = append(observed, resource{"", "events", fromPath + "events"})
	}

	// Kinds read cluster-wide: they exist only at cluster scope.
	var clusterRead []resource
	var clusterFields []string
	addCluster := func(on bool, field, group, plural string) {
		if on {
			clusterRead = append(clusterRead, resource{group, plural, field})
			clusterFields = append(clusterFields, field)
		}
	}
	addCluster(from.Nodes.IsEnabled(), fromPath+"nodes", "", "nodes")
	addCluster(from.StorageClasses.IsEnabled(), fromPath+"storageClasses", "storage.k8s.io", "storageclasses")
	addCluster(from.IngressClasses.IsEnabled(), fromPath+"ingressClasses", "networking.k8s.io", "ingressclasses")
	addCluster(from.PriorityClasses.IsEnabled(), fromPath+"priorityClasses", "scheduling.k8s.io", "priorityclasses")
	addCluster(from.RuntimeClasses.IsEnabled(), fromPath+"runtimeClasses", "node.k8s.io", "runtimeclasses")
	for _, key := range slices.Sorted(maps.Keys(from.CustomResources)) {
		// Namespaced kinds from the host are not synced (the webhook
		// refuses them): they get no rule.
		cr := from.CustomResources[key]
		addCluster(cr.Enabled && cr.Scope != tenancyv1alpha1.NamespaceScoped,
			fromPath+"customResources["+key+"]", groupOf(key), pluralOf(key))
	}

	// The kubelet API the syncer serves for the virtual cluster's Nodes is
	// the host API server's, for each pod's copy: logs, exec, attach and
	// port-forward (README, "Nodes").
	var podLogs, podStreams []resource
	if to.Pods.IsEnabled() {
		podLogs = []resource{{"", "pods/log", toPath + "pods"}}
		for _, sub := range []string{"pods/attach", "pods/exec", "pods/portforward"} {
			podStreams = append(podStreams, resource{"", sub, toPath + "pods"})
		}
	}

	// What the synced kinds need wherever the tenant's host objects live.
	where := slices.Concat(rulesFor(synced, readWrite), rulesFor(observed, readOnly),
		rulesFor(podLogs, []string{"get"}), rulesFor(podStreams, []string{"create"}))
	var statusPatched []resource
	if CarryReadinessGates(to) {
		statusPatched = []resource{{"", "pods/status", toPath + "endpoints"}}
		where = append(where, rulesFor(statusPatched, []string{"patch"})...)
	}

	var r Rules
	if mode != tenancyv1alpha1.MultiNamespaceMode {
		r.Namespaced = append(where, Housekeeping()...)
		r.NeedMultiNamespace = clusterFields
		return r, askedFor(synced, observed, podLogs, podStreams, statusPatched)
	}
	r.Namespaced = Housekeeping()
	r.Cluster = []rbacv1.PolicyRule{
		// The apply path reads, creates and patches (internal/apply); a host
		// namespace whose virtual namespace is gone is deleted. The
		// admission webhook holds the syncer to its own namespaces (README).
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch", "create", "patch", "delete"}},
		// Its RoleBinding in a new host namespace is made before it holds
		// anything there, so these are cluster-wide; the webhook admits only
		// one in its own namespace, of its own ClusterRole, for itself.
		{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"rolebindings"}, Verbs: []string{"get", "create", "patch"}},
		{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}, Verbs: []string{"bind"},
			ResourceNames: []string{naming.ForVirtualCluster(vc.Namespace, vc.Name).NamespaceRBAC}},
	}
	// No rule on customresourcedefinitions in either mode: the operator
	// reads the definitions and hands them over in the syncer's configuration.
	r.Cluster = append(r.Cluster, rulesFor(clusterRead, readOnly)...)

	r.PerNamespace = append(where,
		// Each host namespace gets the ServiceAccount the tenant's pods run as.
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"get", "list", "watch", "create", "patch"}},
		// The syncer's cache of each host namespace watches its RoleBinding there.
		rbacv1.PolicyRule{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"rolebindings"}, Verbs: []string{"list", "watch"}},
	)
	byMode := []resource{
		{"", "namespaces", ModeField}, {"", "serviceaccounts", ModeField},
		{rbacv1.GroupName, "rolebindings", ModeField}, {rbacv1.GroupName, "clusterroles", ModeField},
	}
	return r, askedFor(byMode, synced, observed, podLogs, podStreams, statusPatched, clusterRead)
}

// CarryReadinessGates reports whether the syncer may carry the conditions
// of a pod's readiness gates to its host pod, whose kubelet counts them
// towards Ready. That takes patching the host pods' status, which, like
// writing endpoints, decides where a Service's traffic goes: it is granted
// only with both pods and endpoints synced, as the built-in edit role holds
// neither. Without it the host pod runs without the gates, and the syncer
// reports the virtual pod Ready only once they are True.
func CarryReadinessGates(to tenancyv1alpha1.SyncToHost) bool {
	return to.Pods.IsEnabled() && to.Endpoints.IsEnabled()
}

// Housekeeping are the rules the syncer needs for itself, whatever it
// syncs: leader election of its replicas, and the events it records about
// its Lease (core events) and its VirtualCluster (events.k8s.io). They go
// into the Role, in the VirtualCluster's namespace.
func Housekeeping() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{{
		APIGroups: []string{"coordination.k8s.io"},
		Resources: []string{"leases"},
		Verbs:     []string{"get", "create", "update"},
	}, {
		APIGroups: []string{"", "events.k8s.io"},
		Resources: []string{"events"},
		Verbs:     []string{"create", "patch"},
	}}
}

// askedFor collects the fields of resources by GroupResource.
func askedFor(lists ...[]resource) map[string][]string {
	fields := map[string][]string{}
	for _, list := range lists {
		for _, res := range list {
			key := GroupResource(res.group, res.plural)
			if !slices.Contains(fields[key], res.field) {
				fields[key] = append(fields[key], res.field)
			}
		}
	}
	return fields
}

// rulesFor groups resources by API group into one rule per group, groups in
// order of first appearance, resources sorted.
func rulesFor(resources []resource, verbs []string) []rbacv1.PolicyRule {
	var rules []rbacv1.PolicyRule
	index := map[string]int{}
	for _, res := range resources {
		i, ok := index[res.group]
		if !ok {
			i = len(rules)
			index[res.group] = i
			rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{res.group}, Verbs: slices.Clone(verbs)})
		}
		if !slices.Contains(rules[i].Resources, res.plural) {
			rules[i].Resources = append(rules[i].Resources, res.plural)
		}
	}
	for i := range rules {
		slices.Sort(rules[i].Resources)
	}
	return rules
}

// pluralOf and groupOf split a <plural>.<group> key at its first dot.
func pluralOf(key string) string {
	plural, _, _ := strings.Cut(key, ".")
	return plural
}

func groupOf(key string) string {
	_, group, _ := strings.Cut(key, ".")
	return group
}
