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

// ForVirtualCluster returns the names of the children of VirtualCluster name
// in host namespace namespace.
func ForVirtualCluster(namespace, name string) Children {
	return Children{
		SyncerServiceAccount:   "vc-" + name,
		WorkloadServiceAccount: "vc-workload-" + name,
		RBAC:                   "vc-" + name,
		ClusterRBAC:            Shorten("nestor-"+namespace+"-"+name, MaxLabel),
		Certs:                  name + "-certs",
		Kubeconfig:             "vc-" + name,
		ControlPlane:           name,
		HeadlessService:        name + "-headless",
		Syncer:                 name + "-syncer",
		Policy:                 "vc-" + name,
	}
}
