// Package naming holds the pure functions that name what Nestor creates on
// the host (DESIGN.md §2 and §3).
package naming

import "fmt"

// MaxLabel is the length limit of a DNS-1123 label, which most names and
// every label value must respect.
const MaxLabel = 63

// hashDigits is how many hex digits of SHA-256 a shortened name keeps.
const hashDigits = 10

// Shorten returns s when it is at most max characters long. Otherwise it
// returns s's first max-11 characters, "-", and the first 10 hex digits of the
// SHA-256 of all of s, so distinct long names stay distinct. Dots and dashes
// at the cut are dropped so the result stays a valid DNS-1123 name.
func Shorten(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return hashed(s, max)
}

// Children are the names of the host objects one VirtualCluster becomes.
type Children struct {
	// SyncerServiceAccount is the syncer's identity on the host.
	SyncerServiceAccount string
	// WorkloadServiceAccount is the identity the tenant's host pods run as.
	WorkloadServiceAccount string
	// RBAC names the Role and RoleBinding of the syncer.
	RBAC string
	// ClusterRBAC names the ClusterRole and ClusterRoleBinding of the syncer
	// (multi-namespace mode only). It is cluster-scoped, so it carries the
	// host namespace too.
	ClusterRBAC string
	// NamespaceRBAC names the ClusterRole the syncer binds in each of its
	// host namespaces, and those RoleBindings (multi-namespace mode only).
	// It is ClusterRBAC with a suffix after a colon, a character no
	// ClusterRBAC holds: it can never name another VirtualCluster's
	// ClusterRole, and it is as unique as ClusterRBAC, hashed where that is.
	NamespaceRBAC string
	// Certs is the Secret holding the control plane's PKI.
	Certs string
	// Kubeconfig is the Secret holding the admin kubeconfig.
	Kubeconfig string
	// ControlPlane names the StatefulSet and the API server's Service.
	ControlPlane string
	// HeadlessService gives the control-plane pods stable DNS names.
	HeadlessService string
	// Syncer names the syncer's Deployment, its configuration ConfigMap
	// and the Service of its kubelet API.
	Syncer string
	// DNS names the virtual cluster's CoreDNS: its Deployment, its Service
	// and its configuration ConfigMap.
	DNS string
	// Policy names the ResourceQuota, LimitRange and NetworkPolicy.
	Policy string
}

// namespaceRBACSuffix follows ClusterRBAC in NamespaceRBAC.
const namespaceRBACSuffix = ":host-namespace"

// ForVirtualCluster returns the names of the children of VirtualCluster name
// in host namespace namespace.
func ForVirtualCluster(namespace, name string) Children {
	clusterRBAC := Shorten("nestor-"+namespace+"-"+name, MaxLabel)
	return Children{
		SyncerServiceAccount:   "vc-" + name,
		WorkloadServiceAccount: "vc-workload-" + name,
		RBAC:                   "vc-" + name,
		ClusterRBAC:            clusterRBAC,
		NamespaceRBAC:          clusterRBAC + namespaceRBACSuffix,
		Certs:                  name + "-certs",
		Kubeconfig:             "vc-" + name,
		ControlPlane:           name,
		HeadlessService:        name + "-headless",
		Syncer:                 name + "-syncer",
		DNS:                    name + "-dns",
		Policy:                 "vc-" + name,
	}
}

// EtcdVolume names etcd's data volume in the control plane's pods, and so
// the StatefulSet's claim template when persistence is on.
const EtcdVolume = "data"

// Object is one host object named after a VirtualCluster.
type Object struct {
	Kind, Name string
	// Role says what the object is to its VirtualCluster, for messages.
	Role string
}

// Namespaced lists every namespaced object named after the VirtualCluster
// in its namespace, the policy objects too whether or not its spec asks
// for them now: what two VirtualClusters of one namespace must not share.
// claims is how many etcd claims the StatefulSet has: its replicas when
// persistence is on, none otherwise. In multi-namespace mode the policy
// objects go into the tenant's host namespaces instead.
func (c Children) Namespaced(claims int32, multiNamespace bool) []Object {
	objects := []Object{
		{"ServiceAccount", c.SyncerServiceAccount, "the syncer's ServiceAccount"},
		{"ServiceAccount", c.WorkloadServiceAccount, "the ServiceAccount of the tenant's pods"},
		{"Role", c.RBAC, "the syncer's Role"},
		{"RoleBinding", c.RBAC, "the syncer's RoleBinding"},
		{"Secret", c.Certs, "the control plane's PKI"},
		{"Secret", c.Kubeconfig, "the admin kubeconfig"},
		{"StatefulSet", c.ControlPlane, "the control plane"},
		{"Service", c.ControlPlane, "the API server's Service"},
		{"Service", c.HeadlessService, "the control plane's headless Service"},
		{"Deployment", c.Syncer, "the syncer"},
		{"Service", c.Syncer, "the syncer's kubelet API"},
		{"ConfigMap", c.Syncer, "the syncer's configuration"},
		{"Lease", c.Syncer, "the syncer's leader election"},
		{"Deployment", c.DNS, "the virtual cluster's DNS"},
		{"Service", c.DNS, "the virtual cluster's DNS Service"},
		{"ConfigMap", c.DNS, "the virtual cluster's DNS configuration"},
	}
	if !multiNamespace {
		objects = append(objects,
			Object{"ResourceQuota", c.Policy, "the tenant's quota"},
			Object{"LimitRange", c.Policy, "the tenant's limit range"},
			Object{"NetworkPolicy", c.Policy, "the tenant's network policy"})
	}
	for _, claim := range c.EtcdClaims(claims) {
		objects = append(objects, Object{"PersistentVolumeClaim", claim, "an etcd member's data"})
	}
	return objects
}

// EtcdClaims names the claims the StatefulSet's claim template gives its
// first replicas members: <template>-<statefulset>-<ordinal>.
func (c Children) EtcdClaims(replicas int32) []string {
	var claims []string
	for i := range replicas {
		claims = append(claims, fmt.Sprintf("%s-%s-%d", EtcdVolume, c.ControlPlane, i))
	}
	return claims
}

// ClusterScoped lists the cluster-scoped objects named after the
// VirtualCluster's namespace and name, made in multi-namespace mode only:
// what no two VirtualClusters of the cluster may share.
func (c Children) ClusterScoped() []Object {
	return []Object{
		{"ClusterRole", c.ClusterRBAC, "the syncer's ClusterRole"},
		{"ClusterRoleBinding", c.ClusterRBAC, "the syncer's ClusterRoleBinding"},
		{"ClusterRole", c.NamespaceRBAC, "the ClusterRole the syncer binds in each host namespace"},
	}
}
