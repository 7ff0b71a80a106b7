package references

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

func object(t *testing.T, text string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(text), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRewrite(t *testing.T) {
	secretRef := func(path string) tenancyv1alpha1.ReferencePatch {
		return tenancyv1alpha1.ReferencePatch{Path: path, Reference: tenancyv1alpha1.PatchReference{Kind: "Secret"}}
	}
	for _, tc := range []struct {
		name      string
		refs      []tenancyv1alpha1.ReferencePatch
		in, want  string
		wantNames []string
	}{{
		name: "certificate: its Secret and its Issuer",
		refs: For("certificates.cert-manager.io", nil),
		in:   "spec: {secretName: tls, issuerRef: {name: ca, kind: Issuer}}",
		want: "spec: {secretName: Secret/tls, issuerRef: {name: Issuer.cert-manager.io/ca, kind: Issuer}}", wantNames: []string{"tls"},
	}, {
		name: "an issuerRef without a kind is an Issuer",
		refs: For("certificates.cert-manager.io", nil),
		in:   "spec: {secretName: tls, issuerRef: {name: ca}}",
		want: "spec: {secretName: Secret/tls, issuerRef: {name: Issuer.cert-manager.io/ca}}", wantNames: []string{"tls"},
	}, {
		name: "a ClusterIssuer is not the tenant's to rename",
		refs: For("certificates.cert-manager.io", nil),
		in:   "spec: {secretName: tls, issuerRef: {name: letsencrypt, kind: ClusterIssuer}}",
		want: "spec: {secretName: Secret/tls, issuerRef: {name: letsencrypt, kind: ClusterIssuer}}", wantNames: []string{"tls"},
	}, {
		name: "through a list",
		refs: []tenancyv1alpha1.ReferencePatch{secretRef("spec.tls[*].secretName")},
		in:   "spec: {tls: [{secretName: a}, {hosts: [x]}, {secretName: b}]}",
		want: "spec: {tls: [{secretName: Secret/a}, {hosts: [x]}, {secretName: Secret/b}]}", wantNames: []string{"a", "b"},
	}, {
		name: "shapes the path does not describe are passed over",
		refs: []tenancyv1alpha1.ReferencePatch{secretRef("spec.tls[*].secretName"), secretRef("spec.ca.secretName")},
		in:   "spec: {tls: {secretName: a}, ca: [x], other: 1}",
		want: "spec: {tls: {secretName: a}, ca: [x], other: 1}",
	}, {
		name: "an empty name stays empty",
		refs: []tenancyv1alpha1.ReferencePatch{secretRef("spec.secretName")},
		in:   "spec: {secretName: \"\"}",
		want: "spec: {secretName: \"\"}",
	}, {
		name: "no references, nothing rewritten",
		refs: For("widgets.example.com", nil),
		in:   "spec: {secretName: tls}",
		want: "spec: {secretName: tls}",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			obj := object(t, tc.in)
			if got := append(Names(obj, tc.refs, schema.GroupKind{Kind: "Secret"}, false), Names(obj, tc.refs, schema.GroupKind{Kind: "Secret"}, true)...); !reflect.DeepEqual(got, tc.wantNames) {
				t.Errorf("Names = %q, want %q", got, tc.wantNames)
			}
			Rewrite(obj, tc.refs, func(gk schema.GroupKind, name string) string { return gk.String() + "/" + name })
			if want := object(t, tc.want); !reflect.DeepEqual(obj, want) {
				t.Errorf("Rewrite:\n got %v\nwant %v", obj, want)
			}
		})
	}
}

func TestDeclared(t *testing.T) {
	if !Declared("issuers.cert-manager.io", nil) || Declared("widgets.example.com", nil) || !Declared("widgets.example.com", []tenancyv1alpha1.ReferencePatch{}) {
		t.Fatal("built-in kinds and kinds with patches, even none, declare their references; others do not")
	}
	// The spec adds to what is built in, never takes from it.
	extra := tenancyv1alpha1.ReferencePatch{Path: "spec.extra", Reference: tenancyv1alpha1.PatchReference{Kind: "Secret"}}
	if got := For("certificates.cert-manager.io", []tenancyv1alpha1.ReferencePatch{extra}); len(got) != len(builtin["certificates.cert-manager.io"])+1 || got[len(got)-1] != extra {
		t.Fatalf("For = %v", got)
	}
	if got := For("certificates.cert-manager.io", []tenancyv1alpha1.ReferencePatch{}); len(got) != len(builtin["certificates.cert-manager.io"]) {
		t.Fatalf("patches: [] took from the built-in ones: %v", got)
	}
	// The certificate's Secret is the host's to write; its CA is the tenant's.
	cert := object(t, "spec: {secretName: tls, keystores: {jks: {passwordSecretRef: {name: pw}}}}")
	refs := For("certificates.cert-manager.io", nil)
	if w, r := Names(cert, refs, schema.GroupKind{Kind: "Secret"}, true), Names(cert, refs, schema.GroupKind{Kind: "Secret"}, false); !reflect.DeepEqual(w, []string{"tls"}) || !reflect.DeepEqual(r, []string{"pw"}) {
		t.Fatalf("written by the host %v, read %v", w, r)
	}
}

func TestPathError(t *testing.T) {
	for path, bad := range map[string]bool{"spec.secretName": false, "spec.tls[*].secretName": false, "spec.names[*]": true, "metadata.name": true} {
		if got := PathError(path) != ""; got != bad {
			t.Errorf("PathError(%q) = %q", path, PathError(path))
		}
	}
}
