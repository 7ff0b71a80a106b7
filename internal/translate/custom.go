package translate

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/references"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
)

// CustomResource is the host copy of virtual object v of custom kind cr:
// all of it but its status, which the host's controller writes. In
// single-namespace mode the fields cr declares as references name the host
// copies, and the copy is owned by the VirtualCluster beside it, so that it
// goes with the VirtualCluster: the operator holds no rule on a tenant's
// custom kinds to delete it with.
func (c Context) CustomResource(cr syncerconfig.CustomResource, v *unstructured.Unstructured) *unstructured.Unstructured {
	gk := cr.GroupVersionKind().GroupKind()
	h := &unstructured.Unstructured{Object: map[string]any{}}
	for k, val := range v.Object {
		if k != "metadata" && k != "status" {
			h.Object[k] = runtime.DeepCopyJSONValue(val)
		}
	}
	h.SetGroupVersionKind(cr.GroupVersionKind())
	meta := c.Meta(gk, v)
	h.SetName(meta.Name)
	h.SetNamespace(meta.Namespace)
	h.SetLabels(meta.Labels)
	h.SetAnnotations(meta.Annotations)
	if c.Names.MultiNamespace() {
		return h
	}
	references.Rewrite(h.Object, cr.References, func(kind schema.GroupKind, name string) string {
		return c.HostKey(kind, v.GetNamespace(), name).Name
	})
	h.SetOwnerReferences([]metav1.OwnerReference{c.VirtualClusterReference()})
	return h
}

// VirtualClusterReference is an owner reference to the VirtualCluster.
func (c Context) VirtualClusterReference() metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion: tenancyv1alpha1.GroupVersion.String(),
		Kind:       "VirtualCluster",
		Name:       c.VirtualCluster,
		UID:        c.VirtualClusterUID,
	}
}

// CustomResourceStatus gives virtual object v the status of its host copy h.
func CustomResourceStatus(v, h *unstructured.Unstructured) {
	if status, ok := h.Object["status"]; ok {
		v.Object["status"] = runtime.DeepCopyJSONValue(status)
		return
	}
	delete(v.Object, "status")
}

// Shown reports whether virtual object v is one the syncer shows from the
// host, and so the host's to change: never copied to the host, and undone
// when the tenant changes it.
func Shown(v metav1.Object) bool {
	_, from := v.GetAnnotations()[tenancyv1alpha1.AnnotationHostName]
	return from && v.GetLabels()[tenancyv1alpha1.LabelManagedBy] == tenancyv1alpha1.SyncerManagedByValue
}

// ShownFrom reports whether virtual object v is what the syncer shows of
// host object namespace/name: a copy of it elsewhere (kubectl get -o yaml |
// kubectl apply -n other) is not, and is left alone.
func ShownFrom(v metav1.Object, namespace, name string) bool {
	a := v.GetAnnotations()
	return Shown(v) && a[tenancyv1alpha1.AnnotationHostName] == name && a[tenancyv1alpha1.AnnotationHostNamespace] == namespace
}

// showMeta is the virtual metadata of what the syncer shows from host
// object h: h's labels and annotations but Nestor's own, marked as shown.
func showMeta(h metav1.Object, namespace, name string) metav1.ObjectMeta {
	labels := withoutReserved(h.GetLabels())
	labels[tenancyv1alpha1.LabelManagedBy] = tenancyv1alpha1.SyncerManagedByValue
	annotations := withoutReserved(h.GetAnnotations())
	annotations[tenancyv1alpha1.AnnotationHostName] = h.GetName()
	if h.GetNamespace() != "" {
		annotations[tenancyv1alpha1.AnnotationHostNamespace] = h.GetNamespace()
	}
	return metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels, Annotations: annotations}
}

// FromHost is the virtual cluster's view of host object h of a fromHost
// kind: under the same name, with its content and status.
func FromHost(h *unstructured.Unstructured) *unstructured.Unstructured {
	v := &unstructured.Unstructured{Object: map[string]any{}}
	for k, val := range h.Object {
		if k != "metadata" {
			v.Object[k] = runtime.DeepCopyJSONValue(val)
		}
	}
	meta := showMeta(h, h.GetNamespace(), h.GetName())
	v.SetName(meta.Name)
	v.SetNamespace(meta.Namespace)
	v.SetLabels(meta.Labels)
	v.SetAnnotations(meta.Annotations)
	return v
}

// HostMadeSecret is the virtual view of host Secret h, which a host
// controller wrote at the host name of virtual secret namespace/name (a
// certificate's spec.secretName): the tenant reads it where the reference
// the tenant wrote points.
func HostMadeSecret(h *corev1.Secret, namespace, name string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: showMeta(h, namespace, name),
		Type:       h.Type,
		// Never immutable: the view follows the host's Secret as it changes.
		Data: maps.Clone(h.Data),
	}
}
