package translate

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Definition is the virtual cluster's copy of host CustomResourceDefinition
// h: its names, scope, versions with their schemas, printer columns and
// subresources. What only works on the host goes: a conversion webhook is a
// host Service the virtual API server cannot reach (both clusters store the
// same version, which alone is served, so none is needed), and the host's
// annotations name host objects (cert-manager's CA injection). It is marked
// as shown from the host, so the syncer knows which definitions it may
// remove.
func Definition(h *apiextensionsv1.CustomResourceDefinition) *apiextensionsv1.CustomResourceDefinition {
	spec := h.Spec.DeepCopy()
	spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.NoneConverter}
	// Without conversion, only the storage version reads and writes what
	// the host does: an object written in another would be stored
	// unconverted.
	for i := range spec.Versions {
		spec.Versions[i].Served = spec.Versions[i].Storage
	}
	meta := showMeta(&metav1.ObjectMeta{Name: h.Name, Labels: h.Labels}, "", h.Name)
	return &apiextensionsv1.CustomResourceDefinition{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiextensionsv1.SchemeGroupVersion.String(), Kind: "CustomResourceDefinition"},
		ObjectMeta: meta,
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
