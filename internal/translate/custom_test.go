package translate

import (
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/references"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
)

func unstructuredOf(t *testing.T, text string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(text), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestCustomResource(t *testing.T) {
	cr := syncerconfig.CustomResource{
		Resource: "certificates.cert-manager.io", Direction: syncerconfig.ToHost,
		Group: "cert-manager.io", Version: "v1", Kind: "Certificate", Namespaced: true,
		References: references.For("certificates.cert-manager.io", nil),
	}
	v := unstructuredOf(t, `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: web
  namespace: ns1
  uid: uid-1
  resourceVersion: "7"
  labels: {app: web, nestor.dev/virtualcluster: forged}
spec: {secretName: web-tls, issuerRef: {name: ca, kind: Issuer}, commonName: example.com}
status: {conditions: [{type: Ready, status: "True"}]}
`)
	for mode, c := range contexts() {
		t.Run(mode, func(t *testing.T) {
			h := c.CustomResource(cr, v)
			if _, ok := h.Object["status"]; ok {
				t.Error("the status is the host's to write")
			}
			if h.GetResourceVersion() != "" || h.GetUID() != "" {
				t.Errorf("virtual metadata reached the copy: %v", h.Object["metadata"])
			}
			if !c.Owns(cr.GroupVersionKind().GroupKind(), "ns1", "web", h) || h.GetLabels()["app"] != "web" {
				t.Errorf("copy metadata = %v", h.Object["metadata"])
			}
			secret, _, _ := unstructured.NestedString(h.Object, "spec", "secretName")
			issuer, _, _ := unstructured.NestedString(h.Object, "spec", "issuerRef", "name")
			common, _, _ := unstructured.NestedString(h.Object, "spec", "commonName")
			wantSecret, wantIssuer, owners := "web-tls", "ca", 0
			if mode == "single" {
				wantSecret, wantIssuer, owners = "web-tls-x-ns1-x-vc", "ca-x-ns1-x-vc", 1
			}
			if secret != wantSecret || issuer != wantIssuer || common != "example.com" {
				t.Errorf("spec = %v", h.Object["spec"])
			}
			if refs := h.GetOwnerReferences(); len(refs) != owners || (owners == 1 && (refs[0].UID != "vc-uid" || refs[0].Kind != "VirtualCluster")) {
				t.Errorf("owner references = %+v", refs)
			}
			if v.Object["spec"].(map[string]any)["secretName"] != "web-tls" {
				t.Error("the virtual object was changed")
			}
		})
	}
}

func TestCustomResourceStatusFollowsTheHost(t *testing.T) {
	v := unstructuredOf(t, "status: {old: true}")
	CustomResourceStatus(v, unstructuredOf(t, "status: {ready: true}"))
	if v.Object["status"].(map[string]any)["ready"] != true {
		t.Fatalf("status = %v", v.Object["status"])
	}
	CustomResourceStatus(v, unstructuredOf(t, "spec: {}"))
	if _, ok := v.Object["status"]; ok {
		t.Fatal("a host copy without status leaves none")
	}
}

func TestFromHostIsShownUnderTheSameName(t *testing.T) {
	h := unstructuredOf(t, `
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: letsencrypt, uid: host-uid, resourceVersion: "9", labels: {team: platform}, annotations: {nestor.dev/virtual-name: forged}}
spec: {acme: {server: "https://acme"}}
status: {conditions: [{type: Ready, status: "True"}]}
`)
	v := FromHost(h)
	if v.GetName() != "letsencrypt" || v.GetUID() != "" || v.GetResourceVersion() != "" || !ShownFrom(v, "", "letsencrypt") || ShownFrom(v, "", "other") {
		t.Fatalf("metadata = %v", v.Object["metadata"])
	}
	if v.GetLabels()["team"] != "platform" || v.GetAnnotations()[tenancyv1alpha1.AnnotationVirtualName] != "" ||
		v.GetAnnotations()[tenancyv1alpha1.AnnotationHostName] != "letsencrypt" {
		t.Fatalf("labels and annotations = %v %v", v.GetLabels(), v.GetAnnotations())
	}
	if v.Object["status"] == nil || v.Object["spec"] == nil {
		t.Fatal("content and status are shown")
	}
}

func TestDefinitionDropsWhatOnlyWorksOnTheHost(t *testing.T) {
	h := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{
			Name: "certificates.cert-manager.io", ResourceVersion: "3", UID: "u",
			Labels:      map[string]string{"app": "cert-manager"},
			Annotations: map[string]string{"cert-manager.io/inject-ca-from-secret": "cert-manager/ca"},
		},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "cert-manager.io",
			Conversion: &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.WebhookConverter,
				Webhook: &apiextensionsv1.WebhookConversion{ConversionReviewVersions: []string{"v1"}}},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1alpha2", Served: true}, {Name: "v1", Served: true, Storage: true}},
		},
		Status: apiextensionsv1.CustomResourceDefinitionStatus{StoredVersions: []string{"v1"}},
	}
	v := Definition(h)
	if v.Spec.Conversion.Strategy != apiextensionsv1.NoneConverter || v.Spec.Conversion.Webhook != nil {
		t.Errorf("conversion = %+v", v.Spec.Conversion)
	}
	if len(v.Annotations) != 1 || !ShownFrom(v, "", h.Name) || v.ResourceVersion != "" || len(v.Status.StoredVersions) != 0 || v.Labels["app"] != "cert-manager" {
		t.Errorf("metadata and status = %+v %+v", v.ObjectMeta, v.Status)
	}
	if v.Spec.Versions[0].Served || !v.Spec.Versions[1].Served {
		t.Errorf("only the storage version is served: %+v", v.Spec.Versions)
	}
	if h.Spec.Conversion.Strategy != apiextensionsv1.WebhookConverter || StorageVersion(h) != "v1" || !h.Spec.Versions[0].Served {
		t.Error("the host's definition was changed, or its storage version missed")
	}
}
