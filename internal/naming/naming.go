// Package naming holds the pure functions that name what Nestor creates on
// the host (DESIGN.md §2 and §3).
package naming

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
	// Syncer names the syncer's Deployment and its configuration ConfigMap.
	Syncer string
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
		Policy:                 "vc-" + name,
	}
}
