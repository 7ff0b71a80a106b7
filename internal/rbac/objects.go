package rbac

import (
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/ownership"
)

// SyncerServiceAccount is the syncer's identity on the host.
func SyncerServiceAccount(vc *tenancyv1alpha1.VirtualCluster) *corev1.ServiceAccount {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	return &corev1.ServiceAccount{ObjectMeta: ownership.NamespacedMeta(vc, n.SyncerServiceAccount)}
}

// WorkloadServiceAccount is what the tenant's host pods run as. It has no
// permissions and no token: a tenant's pod must never reach the host API.
func WorkloadServiceAccount(vc *tenancyv1alpha1.VirtualCluster) *corev1.ServiceAccount {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	return &corev1.ServiceAccount{
		ObjectMeta:                   ownership.NamespacedMeta(vc, n.WorkloadServiceAccount),
		AutomountServiceAccountToken: ptr.To(false),
	}
}

func syncerSubject(vc *tenancyv1alpha1.VirtualCluster) []rbacv1.Subject {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	return []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: n.SyncerServiceAccount, Namespace: vc.Namespace}}
}

// Role holds the syncer's namespaced rules.
func Role(vc *tenancyv1alpha1.VirtualCluster, rules Rules) *rbacv1.Role {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	return &rbacv1.Role{ObjectMeta: ownership.NamespacedMeta(vc, n.RBAC), Rules: rules.Namespaced}
}

// RoleBinding grants Role to the syncer.
func RoleBinding(vc *tenancyv1alpha1.VirtualCluster) *rbacv1.RoleBinding {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	return &rbacv1.RoleBinding{
		ObjectMeta: ownership.NamespacedMeta(vc, n.RBAC),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: n.RBAC},
		Subjects:   syncerSubject(vc),
	}
}

// ClusterRole holds the syncer's cluster rules (multi-namespace mode only).
func ClusterRole(vc *tenancyv1alpha1.VirtualCluster, rules Rules) *rbacv1.ClusterRole {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	return &rbacv1.ClusterRole{ObjectMeta: ownership.ClusterMeta(vc, n.ClusterRBAC), Rules: rules.Cluster}
}

// ClusterRoleBinding grants ClusterRole to the syncer.
func ClusterRoleBinding(vc *tenancyv1alpha1.VirtualCluster) *rbacv1.ClusterRoleBinding {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: ownership.ClusterMeta(vc, n.ClusterRBAC),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: n.ClusterRBAC},
		Subjects:   syncerSubject(vc),
	}
}

// NamespaceClusterRole holds the rules the syncer is granted in each of its
// host namespaces (multi-namespace mode only). Nothing binds it
// cluster-wide: the syncer binds it by NamespaceRoleBinding in each host
// namespace it makes.
func NamespaceClusterRole(vc *tenancyv1alpha1.VirtualCluster, rules Rules) *rbacv1.ClusterRole {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	return &rbacv1.ClusterRole{ObjectMeta: ownership.ClusterMeta(vc, n.NamespaceRBAC), Rules: rules.PerNamespace}
}

// NamespaceRoleBinding grants NamespaceClusterRole to the syncer in host
// namespace namespace, labelled with labels. The syncer makes it as it makes
// the namespace; the admission webhook admits no other from the syncer.
func NamespaceRoleBinding(vc *tenancyv1alpha1.VirtualCluster, namespace string, labels map[string]string) *rbacv1.RoleBinding {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: n.NamespaceRBAC, Namespace: namespace, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: n.NamespaceRBAC},
		Subjects:   syncerSubject(vc),
	}
}

// Objects are the syncer's identity and RBAC in mode, with rules: desired
// is what must exist, unwanted what must not (the cluster-scoped children,
// in single-namespace mode).
func Objects(vc *tenancyv1alpha1.VirtualCluster, rules Rules, mode tenancyv1alpha1.Mode) (desired, unwanted []client.Object) {
	desired = []client.Object{SyncerServiceAccount(vc), WorkloadServiceAccount(vc), Role(vc, rules), RoleBinding(vc)}
	cluster := []client.Object{ClusterRole(vc, rules), ClusterRoleBinding(vc), NamespaceClusterRole(vc, rules)}
	if mode == tenancyv1alpha1.MultiNamespaceMode {
		return append(desired, cluster...), nil
	}
	return desired, cluster
}
