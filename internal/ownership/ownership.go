// Package ownership marks what a VirtualCluster owns on the host and
// recognises it again: labels, owner references, and the predicates the apply
// path uses before it writes or deletes anything.
package ownership

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

// Labels are the labels every host object of vc carries.
func Labels(vc *tenancyv1alpha1.VirtualCluster) map[string]string {
	return map[string]string{
		tenancyv1alpha1.LabelManagedBy:               tenancyv1alpha1.ManagedByValue,
		tenancyv1alpha1.LabelVirtualCluster:          vc.Name,
		tenancyv1alpha1.LabelVirtualClusterNamespace: vc.Namespace,
		"app.kubernetes.io/instance":                 vc.Name,
		"app.kubernetes.io/part-of":                  "nestor",
	}
}

// ComponentLabels are Labels plus the component, for pod templates and the
// selectors that find them.
func ComponentLabels(vc *tenancyv1alpha1.VirtualCluster, component string) map[string]string {
	l := Labels(vc)
	l[tenancyv1alpha1.LabelComponent] = component
	return l
}

// Selector picks the pods of one component of vc. It must never change for
// an existing workload, as selectors are immutable.
func Selector(vc *tenancyv1alpha1.VirtualCluster, component string) map[string]string {
	return map[string]string{
		tenancyv1alpha1.LabelVirtualCluster: vc.Name,
		tenancyv1alpha1.LabelComponent:      component,
	}
}

// NamespacedMeta is the metadata of a child in vc's namespace: vc's labels
// and a controller reference to vc, so the garbage collector removes it
// with vc.
func NamespacedMeta(vc *tenancyv1alpha1.VirtualCluster, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            name,
		Namespace:       vc.Namespace,
		Labels:          Labels(vc),
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(vc, tenancyv1alpha1.GroupVersion.WithKind("VirtualCluster"))},
	}
}

// ClusterMeta is the metadata of a cluster-scoped child, which cannot have an
// owner reference to a namespaced object: its labels alone tie it to vc.
func ClusterMeta(vc *tenancyv1alpha1.VirtualCluster, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Labels: Labels(vc)}
}

// ControlledBy accepts a live object whose controller is vc.
func ControlledBy(vc *tenancyv1alpha1.VirtualCluster) func(client.Object) bool {
	return func(live client.Object) bool {
		return metav1.IsControlledBy(live, vc)
	}
}

// LabelledFor accepts a live cluster-scoped object labelled as vc's.
func LabelledFor(vc *tenancyv1alpha1.VirtualCluster) func(client.Object) bool {
	return func(live client.Object) bool {
		l := live.GetLabels()
		return l[tenancyv1alpha1.LabelManagedBy] == tenancyv1alpha1.ManagedByValue &&
			l[tenancyv1alpha1.LabelVirtualCluster] == vc.Name &&
			l[tenancyv1alpha1.LabelVirtualClusterNamespace] == vc.Namespace
	}
}

// ClusterSelector selects the cluster-scoped objects labelled as vc's.
func ClusterSelector(vc *tenancyv1alpha1.VirtualCluster) client.MatchingLabels {
	return client.MatchingLabels{
		tenancyv1alpha1.LabelManagedBy:               tenancyv1alpha1.ManagedByValue,
		tenancyv1alpha1.LabelVirtualCluster:          vc.Name,
		tenancyv1alpha1.LabelVirtualClusterNamespace: vc.Namespace,
	}
}
