// Package rbac derives the syncer's host permissions from spec.sync and
// builds its ServiceAccounts, Role, RoleBinding and, in multi-namespace mode
// only, its ClusterRole and ClusterRoleBinding.
//
// Every rule is there because a synced kind needs it; turning a kind off
// removes its rule.
package rbac

import (
	"maps"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

var (
	readWrite = []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	readOnly  = []string{"get", "list", "watch"}
)

// Rules are the syncer's permissions.
type Rules struct {
	// Namespaced rules go into the Role in the VirtualCluster's namespace.
	Namespaced []rbacv1.PolicyRule
	// Cluster rules go into the ClusterRole; always empty in single-namespace mode.
	Cluster []rbacv1.PolicyRule
	// NeedMultiNamespace lists the spec fields that ask for something only
	// cluster-level access can serve, in single-namespace mode: nothing is
	// granted for them.
	NeedMultiNamespace []string
}

// resource is one kind the syncer touches.
type resource struct {
	group, plural string
}

// For derives the syncer's rules from spec.sync for the recorded mode.
func For(sync tenancyv1alpha1.SyncSpec, mode tenancyv1alpha1.Mode) Rules {
	to, from := sync.ToHost, sync.FromHost

	// Kinds the syncer writes wherever the tenant's host objects live.
	var synced []resource
	add := func(on bool, group, plural string) {
		if on {
			synced = append(synced, resource{group, plural})
		}
	}
	add(to.Pods.IsEnabled(), "", "pods")
	add(to.Services.IsEnabled(), "", "services")
	add(to.Endpoints.IsEnabled(), "", "endpoints")
	add(to.PersistentVolumeClaims.IsEnabled(), "", "persistentvolumeclaims")
	add(to.ConfigMaps.IsEnabled(), "", "configmaps")
	// A synced pod's service-account token reaches the host as a Secret.
	add(to.Secrets.IsEnabled() || to.Pods.IsEnabled(), "", "secrets")
	add(to.Ingresses.IsEnabled(), "networking.k8s.io", "ingresses")
	add(to.NetworkPolicies.IsEnabled(), "networking.k8s.io", "networkpolicies")
	add(to.ServiceAccounts.IsEnabled(), "", "serviceaccounts")
	add(to.PodDisruptionBudgets.IsEnabled(), "policy", "poddisruptionbudgets")
	for _, key := range slices.Sorted(maps.Keys(to.CustomResources)) {
		add(to.CustomResources[key].Enabled, groupOf(key), pluralOf(key))
	}

	// Kinds the syncer only reads where the tenant's host objects live.
	var observed []resource
	if from.Events.IsEnabled() {
		observed = append(observed, resource{"", "events"})
	}

	// Kinds read cluster-wide: they exist only at cluster scope.
	var clusterRead []resource
	var clusterFields []string
	addCluster := func(on bool, field, group, plural string) {
		if on {
			clusterRead = append(clusterRead, resource{group, plural})
			clusterFields = append(clusterFields, field)
		}
	}
	addCluster(from.Nodes.IsEnabled(), "spec.sync.fromHost.nodes", "", "nodes")
	addCluster(from.StorageClasses.IsEnabled(), "spec.sync.fromHost.storageClasses", "storage.k8s.io", "storageclasses")
	addCluster(from.IngressClasses.IsEnabled(), "spec.sync.fromHost.ingressClasses", "networking.k8s.io", "ingressclasses")
	addCluster(from.PriorityClasses.IsEnabled(), "spec.sync.fromHost.priorityClasses", "scheduling.k8s.io", "priorityclasses")
	addCluster(from.RuntimeClasses.IsEnabled(), "spec.sync.fromHost.runtimeClasses", "node.k8s.io", "runtimeclasses")
	for _, key := range slices.Sorted(maps.Keys(from.CustomResources)) {
		// Namespaced kinds from the host are not synced (the webhook
		// refuses them): they get no rule.
		cr := from.CustomResources[key]
		addCluster(cr.Enabled && cr.Scope != tenancyv1alpha1.NamespaceScoped,
			"spec.sync.fromHost.customResources["+key+"]", groupOf(key), pluralOf(key))
	}

	// Leader election of the syncer's replicas, and the events it records
	// about its Lease (core events) and its VirtualCluster (events.k8s.io).
	leases := rbacv1.PolicyRule{
		APIGroups: []string{"coordination.k8s.io"},
		Resources: []string{"leases"},
		Verbs:     []string{"get", "create", "update"},
	}
	recordEvents := rbacv1.PolicyRule{
		APIGroups: []string{"", "events.k8s.io"},
		Resources: []string{"events"},
		Verbs:     []string{"create", "patch"},
	}

	var r Rules
	if mode != tenancyv1alpha1.MultiNamespaceMode {
		r.Namespaced = append(rulesFor(synced, readWrite), rulesFor(observed, readOnly)...)
		r.Namespaced = append(r.Namespaced, leases, recordEvents)
		r.NeedMultiNamespace = clusterFields
		return r
	}
	r.Namespaced = []rbacv1.PolicyRule{leases, recordEvents}
	r.Cluster = []rbacv1.PolicyRule{{
		APIGroups: []string{""},
		Resources: []string{"namespaces"},
		Verbs:     readWrite,
	}}
	// Each host namespace gets the ServiceAccount the tenant's pods run as.
	r.Cluster = append(r.Cluster, rbacv1.PolicyRule{
		APIGroups: []string{""},
		Resources: []string{"serviceaccounts"},
		Verbs:     []string{"get", "list", "watch", "create", "patch"},
	})
	r.Cluster = append(r.Cluster, rulesFor(synced, readWrite)...)
	// No rule on customresourcedefinitions in either mode: the operator
	// reads the definitions and hands them over in the syncer's configuration.
	r.Cluster = append(r.Cluster, rulesFor(append(observed, clusterRead...), readOnly)...)
	return r
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
