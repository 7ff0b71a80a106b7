// Package references knows which fields of a custom resource name other
// objects in its namespace, and reads or rewrites those names: in
// single-namespace mode a copy's references must name host copies, and a
// Secret a host controller writes for a copy is found through them.
package references

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

// builtin are the references of kinds Nestor knows, by <plural>.<group>:
// cert-manager's, which the flagship use syncs (docs/custom-resources.md).
// In single-namespace mode a name left as it is would name an object in
// the VirtualCluster's own host namespace, so these are complete for the
// fields cert-manager v1.11 reads objects by.
var builtin = map[string][]tenancyv1alpha1.ReferencePatch{
	"certificates.cert-manager.io": {
		{Path: "spec.secretName", Reference: secretKind, WrittenByHost: true},
		{Path: "spec.issuerRef.name", Reference: tenancyv1alpha1.PatchReference{APIVersion: "cert-manager.io/v1", Kind: "Issuer", KindPath: "kind"}},
		secret("spec.keystores.jks.passwordSecretRef.name"),
		secret("spec.keystores.pkcs12.passwordSecretRef.name"),
	},
	"issuers.cert-manager.io": append([]tenancyv1alpha1.ReferencePatch{
		secret("spec.ca.secretName"),
		{Path: "spec.acme.privateKeySecretRef.name", Reference: secretKind, WrittenByHost: true},
		secret("spec.acme.externalAccountBinding.keySecretRef.name"),
		{Path: "spec.acme.solvers[*].http01.ingress.name", Reference: tenancyv1alpha1.PatchReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"}},
		secret("spec.vault.tokenSecretRef.name"),
		secret("spec.vault.caBundleSecretRef.name"),
		secret("spec.vault.auth.tokenSecretRef.name"),
		secret("spec.vault.auth.appRole.secretRef.name"),
		secret("spec.vault.auth.kubernetes.secretRef.name"),
		secret("spec.venafi.tpp.credentialsRef.name"),
		secret("spec.venafi.tpp.caBundleSecretRef.name"),
		secret("spec.venafi.cloud.apiTokenSecretRef.name"),
	}, dns01Secrets()...),
}

var secretKind = tenancyv1alpha1.PatchReference{APIVersion: "v1", Kind: "Secret"}

func secret(path string) tenancyv1alpha1.ReferencePatch {
	return tenancyv1alpha1.ReferencePatch{Path: path, Reference: secretKind}
}

// dns01Secrets are the Secrets an ACME issuer's DNS-01 solvers read.
func dns01Secrets() []tenancyv1alpha1.ReferencePatch {
	var out []tenancyv1alpha1.ReferencePatch
	for _, p := range []string{
		"akamai.clientTokenSecretRef", "akamai.clientSecretSecretRef", "akamai.accessTokenSecretRef",
		"cloudDNS.serviceAccountSecretRef", "cloudflare.apiKeySecretRef", "cloudflare.apiTokenSecretRef",
		"route53.accessKeyIDSecretRef", "route53.secretAccessKeySecretRef", "azureDNS.clientSecretSecretRef",
		"digitalocean.tokenSecretRef", "acmeDNS.accountSecretRef", "rfc2136.tsigSecretSecretRef",
	} {
		out = append(out, secret("spec.acme.solvers[*].dns01."+p+".name"))
	}
	return out
}

// For is the references of resource's objects: the built-in ones and the
// spec's patches. The spec adds to what is built in, never takes from it:
// a name not rewritten would name an object beside the VirtualCluster.
func For(resource string, patches []tenancyv1alpha1.ReferencePatch) []tenancyv1alpha1.ReferencePatch {
	return append(slices.Clone(builtin[resource]), patches...)
}

// Declared reports whether resource's references are known: built in, or
// set in the spec (an empty list says there are none).
func Declared(resource string, patches []tenancyv1alpha1.ReferencePatch) bool {
	_, known := builtin[resource]
	return patches != nil || known
}

// GroupKind is the kind ref names.
func GroupKind(ref tenancyv1alpha1.PatchReference) schema.GroupKind {
	gv, _ := schema.ParseGroupVersion(ref.APIVersion)
	return schema.GroupKind{Group: gv.Group, Kind: ref.Kind}
}

// Rewrite replaces every name obj's references hold by rename's answer.
func Rewrite(obj map[string]any, refs []tenancyv1alpha1.ReferencePatch, rename func(schema.GroupKind, string) string) {
	for _, ref := range refs {
		gk := GroupKind(ref.Reference)
		visit(obj, segments(ref.Path), ref.Reference, func(holder map[string]any, field, name string) {
			holder[field] = rename(gk, name)
		})
	}
}

// Names lists the names obj's references of kind gk hold, those the host
// writes when writtenByHost is set, the others when not.
func Names(obj map[string]any, refs []tenancyv1alpha1.ReferencePatch, gk schema.GroupKind, writtenByHost bool) []string {
	var out []string
	for _, ref := range refs {
		if GroupKind(ref.Reference) != gk || ref.WrittenByHost != writtenByHost {
			continue
		}
		visit(obj, segments(ref.Path), ref.Reference, func(_ map[string]any, _, name string) {
			out = append(out, name)
		})
	}
	return out
}

// segment is one step of a path: a field, and whether it is a list to go
// through item by item.
type segment struct {
	field string
	list  bool
}

func segments(path string) []segment {
	parts := strings.Split(path, ".")
	out := make([]segment, len(parts))
	for i, p := range parts {
		field, list := strings.CutSuffix(p, "[*]")
		out[i] = segment{field, list}
	}
	return out
}

// visit calls found for each non-empty name at path under node whose
// reference, when ref has a KindPath, is of ref's kind. A path's last
// segment names a string field, never a list. Anything of another shape
// than the path says is passed over: the schema is the CRD's, not Nestor's.
func visit(node map[string]any, path []segment, ref tenancyv1alpha1.PatchReference, found func(holder map[string]any, field, name string)) {
	if len(path) == 0 || node == nil {
		return
	}
	seg := path[0]
	if len(path) == 1 {
		if name, ok := node[seg.field].(string); ok && name != "" && ofKind(node, ref) {
			found(node, seg.field, name)
		}
		return
	}
	if !seg.list {
		child, _ := node[seg.field].(map[string]any)
		visit(child, path[1:], ref, found)
		return
	}
	items, _ := node[seg.field].([]any)
	for _, item := range items {
		child, _ := item.(map[string]any)
		visit(child, path[1:], ref, found)
	}
}

// ofKind reports whether the reference holder is one of ref's kind: it
// says no kind, or ref's.
func ofKind(holder map[string]any, ref tenancyv1alpha1.PatchReference) bool {
	if ref.KindPath == "" {
		return true
	}
	kind, _ := holder[ref.KindPath].(string)
	return kind == "" || kind == ref.Kind
}

// PathError says what is wrong with a declared path, or "" when nothing is.
func PathError(path string) string {
	segs := segments(path)
	if segs[len(segs)-1].list {
		return "the last segment names the field that holds the name, a string, and cannot be a list ([*])"
	}
	if segs[0].field == "metadata" {
		return "a path into metadata is not a reference; names there are not rewritten"
	}
	return ""
}
