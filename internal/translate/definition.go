package translate

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

// Definition is the virtual cluster's copy of host CustomResourceDefinition
// h: its names, scope, versions with their schemas, printer columns and
// subresources. What only works on the host goes: a conversion webhook is a
// host Service the virtual API server cannot reach (both clusters store the
// same version, so none is needed), and the host's annotations name host
// objects (cert-manager's CA injection). It is labelled as the syncer's, so
// the syncer knows which definitions it may remove.
func Definition(h *apiextensionsv1.CustomResourceDefinition) *apiextensionsv1.CustomResourceDefinition {
	spec := h.Spec.DeepCopy()
	spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.NoneConverter}
	labels := withoutReserved(h.Labels)
	labels[tenancyv1alpha1.LabelManagedBy] = tenancyv1alpha1.SyncerManagedByValue
	return &apiextensionsv1.CustomResourceDefinition{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiextensionsv1.SchemeGroupVersion.String(), Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{Name: h.Name, Labels: labels},
		Spec:       *spec,
	}
}

// StorageVersion is the version h stores its objects in, which the syncer
// reads and writes on both sides: the one version sure to be served by
// both once the virtual copy drops the conversion webhook.
func StorageVersion(h *apiextensionsv1.CustomResourceDefinition) string {
	for _, v := range h.Spec.Versions {
		if v.Storage {
			return v.Name
		}
	}
	return ""
}
