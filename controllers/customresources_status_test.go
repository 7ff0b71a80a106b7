package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/references"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
)

// hostCRD is a host definition of <plural>.<group> serving v1beta1 and
// storing v1, established unless told otherwise.
func hostCRD(plural, group, kind string, scope apiextensionsv1.ResourceScope, conditions ...apiextensionsv1.CustomResourceDefinitionCondition) *apiextensionsv1.CustomResourceDefinition {
	if conditions == nil {
		conditions = []apiextensionsv1.CustomResourceDefinitionCondition{
			{Type: apiextensionsv1.NamesAccepted, Status: apiextensionsv1.ConditionTrue},
			{Type: apiextensionsv1.Established, Status: apiextensionsv1.ConditionTrue},
		}
	}
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: plural + "." + group, Labels: map[string]string{"app": "cert-manager"}},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: group, Scope: scope,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: plural, Kind: kind},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{
				{Name: "v1beta1", Served: true}, {Name: "v1", Served: true, Storage: true},
			},
			Conversion: &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.WebhookConverter},
		},
		Status: apiextensionsv1.CustomResourceDefinitionStatus{Conditions: conditions},
	}
}

var (
	certificates   = hostCRD("certificates", "cert-manager.io", "Certificate", apiextensionsv1.NamespaceScoped)
	issuers        = hostCRD("issuers", "cert-manager.io", "Issuer", apiextensionsv1.NamespaceScoped)
	clusterIssuers = hostCRD("clusterissuers", "cert-manager.io", "ClusterIssuer", apiextensionsv1.ClusterScoped)
)

func toHost(keys ...string) map[string]tenancyv1alpha1.CustomResourceToHost {
	out := map[string]tenancyv1alpha1.CustomResourceToHost{}
	for _, k := range keys {
		out[k] = tenancyv1alpha1.CustomResourceToHost{Enabled: true}
	}
	return out
}

var extraPatch = tenancyv1alpha1.ReferencePatch{Path: "spec.extra", Reference: tenancyv1alpha1.PatchReference{Kind: "Secret"}}

func TestResolveCustomResources(t *testing.T) {
	selectors := map[string]string{"clusterissuers.cert-manager.io": "tenants=shared"}
	tests := []struct {
		name   string
		sync   tenancyv1alpha1.SyncSpec
		host   []*apiextensionsv1.CustomResourceDefinition
		want   outcome
		synced []syncerconfig.CustomResource
	}{
		{
			name: "none configured",
			host: []*apiextensionsv1.CustomResourceDefinition{certificates},
			want: ready(ReasonNotRequested, "spec.sync asks for no custom resources."),
		},
		{
			name: "disabled entries are not configured",
			sync: tenancyv1alpha1.SyncSpec{
				ToHost: tenancyv1alpha1.SyncToHost{CustomResources: map[string]tenancyv1alpha1.CustomResourceToHost{"certificates.cert-manager.io": {}}},
				FromHost: tenancyv1alpha1.SyncFromHost{CustomResources: map[string]tenancyv1alpha1.CustomResourceFromHost{
					"clusterissuers.cert-manager.io": {Scope: tenancyv1alpha1.ClusterScoped},
				}},
			},
			want: ready(ReasonNotRequested, "spec.sync asks for no custom resources."),
		},
		{
			name: "all found, in both directions",
			sync: tenancyv1alpha1.SyncSpec{
				ToHost: tenancyv1alpha1.SyncToHost{CustomResources: toHost("certificates.cert-manager.io")},
				// The scope is the schema's default, Cluster.
				FromHost: tenancyv1alpha1.SyncFromHost{CustomResources: map[string]tenancyv1alpha1.CustomResourceFromHost{
					"clusterissuers.cert-manager.io": {Enabled: true},
				}},
			},
			host: []*apiextensionsv1.CustomResourceDefinition{certificates, clusterIssuers, issuers},
			want: ready(ReasonReady, "Syncing certificates.cert-manager.io, clusterissuers.cert-manager.io."),
			synced: []syncerconfig.CustomResource{
				{
					Resource: "certificates.cert-manager.io", Direction: syncerconfig.ToHost,
					Group: "cert-manager.io", Version: "v1", Kind: "Certificate", Namespaced: true,
					References: references.For("certificates.cert-manager.io", nil),
				},
				{
					Resource: "clusterissuers.cert-manager.io", Direction: syncerconfig.FromHost,
					Group: "cert-manager.io", Version: "v1", Kind: "ClusterIssuer", Selector: "tenants=shared",
				},
			},
		},
		{
			name: "the spec's patches add to the built-in references",
			sync: tenancyv1alpha1.SyncSpec{ToHost: tenancyv1alpha1.SyncToHost{CustomResources: map[string]tenancyv1alpha1.CustomResourceToHost{
				"certificates.cert-manager.io": {Enabled: true, Patches: []tenancyv1alpha1.ReferencePatch{extraPatch}},
			}}},
			host: []*apiextensionsv1.CustomResourceDefinition{certificates},
			want: ready(ReasonReady, "Syncing certificates.cert-manager.io."),
			synced: []syncerconfig.CustomResource{{
				Resource: "certificates.cert-manager.io", Direction: syncerconfig.ToHost,
				Group: "cert-manager.io", Version: "v1", Kind: "Certificate", Namespaced: true,
				References: append(references.For("certificates.cert-manager.io", nil), extraPatch),
			}},
		},
		{
			name: "one missing, the other syncs",
			sync: tenancyv1alpha1.SyncSpec{ToHost: tenancyv1alpha1.SyncToHost{CustomResources: toHost("certificates.cert-manager.io", "widgets.example.com")}},
			host: []*apiextensionsv1.CustomResourceDefinition{certificates},
			want: notReady(ReasonDefinitionMissing, "The host has no CustomResourceDefinition widgets.example.com: install its CustomResourceDefinition on the host, "+
				"or remove spec.sync.toHost.customResources[widgets.example.com]. The others sync: certificates.cert-manager.io."),
			synced: []syncerconfig.CustomResource{{
				Resource: "certificates.cert-manager.io", Direction: syncerconfig.ToHost,
				Group: "cert-manager.io", Version: "v1", Kind: "Certificate", Namespaced: true,
				References: references.For("certificates.cert-manager.io", nil),
			}},
		},
		{
			name: "not established",
			sync: tenancyv1alpha1.SyncSpec{ToHost: tenancyv1alpha1.SyncToHost{CustomResources: toHost("issuers.cert-manager.io")}},
			host: []*apiextensionsv1.CustomResourceDefinition{hostCRD("issuers", "cert-manager.io", "Issuer", apiextensionsv1.NamespaceScoped,
				apiextensionsv1.CustomResourceDefinitionCondition{Type: apiextensionsv1.NamesAccepted, Status: apiextensionsv1.ConditionFalse, Message: `"Issuer" is already in use`},
				apiextensionsv1.CustomResourceDefinitionCondition{Type: apiextensionsv1.Established, Status: apiextensionsv1.ConditionFalse, Message: "not all names are accepted"},
			)},
			want: notReady(ReasonDefinitionNotEstablished, `The host's CustomResourceDefinition issuers.cert-manager.io is not established yet ("Issuer" is already in use): `+
				"it syncs once the host serves it; `kubectl describe crd issuers.cert-manager.io` tells why it does not."),
		},
		{
			name: "not established, and no condition yet",
			sync: tenancyv1alpha1.SyncSpec{ToHost: tenancyv1alpha1.SyncToHost{CustomResources: toHost("issuers.cert-manager.io")}},
			host: []*apiextensionsv1.CustomResourceDefinition{hostCRD("issuers", "cert-manager.io", "Issuer", apiextensionsv1.NamespaceScoped,
				[]apiextensionsv1.CustomResourceDefinitionCondition{}...)},
			want: notReady(ReasonDefinitionNotEstablished, "The host's CustomResourceDefinition issuers.cert-manager.io is not established yet: "+
				"it syncs once the host serves it; `kubectl describe crd issuers.cert-manager.io` tells why it does not."),
		},
		{
			name: "a cluster-scoped kind cannot sync to the host",
			sync: tenancyv1alpha1.SyncSpec{ToHost: tenancyv1alpha1.SyncToHost{CustomResources: toHost("clusterissuers.cert-manager.io")}},
			host: []*apiextensionsv1.CustomResourceDefinition{clusterIssuers},
			want: notReady(ReasonScopeMismatch, "clusterissuers.cert-manager.io is cluster-scoped on the host, and only namespaced kinds sync to the host: "+
				"remove spec.sync.toHost.customResources[clusterissuers.cert-manager.io], or list it under spec.sync.fromHost.customResources."),
		},
		{
			name: "from the host as Cluster, but namespaced",
			sync: tenancyv1alpha1.SyncSpec{FromHost: tenancyv1alpha1.SyncFromHost{CustomResources: map[string]tenancyv1alpha1.CustomResourceFromHost{
				"issuers.cert-manager.io": {Enabled: true, Scope: tenancyv1alpha1.ClusterScoped},
			}}},
			host: []*apiextensionsv1.CustomResourceDefinition{issuers},
			want: notReady(ReasonScopeMismatch, "issuers.cert-manager.io is namespaced on the host, and namespaced kinds from the host are not synced yet: "+
				"remove spec.sync.fromHost.customResources[issuers.cert-manager.io], or list it under spec.sync.toHost.customResources."),
		},
		{
			name: "from the host as Namespaced, admitted before the webhook refused it",
			sync: tenancyv1alpha1.SyncSpec{FromHost: tenancyv1alpha1.SyncFromHost{CustomResources: map[string]tenancyv1alpha1.CustomResourceFromHost{
				"issuers.cert-manager.io": {Enabled: true, Scope: tenancyv1alpha1.NamespaceScoped},
			}}},
			host: []*apiextensionsv1.CustomResourceDefinition{issuers},
			want: notReady(ReasonScopeMismatch, "issuers.cert-manager.io is namespaced on the host, and namespaced kinds from the host are not synced yet: "+
				"remove spec.sync.fromHost.customResources[issuers.cert-manager.io], or list it under spec.sync.toHost.customResources."),
		},
		{
			name: "from the host as Namespaced, but cluster-scoped",
			sync: tenancyv1alpha1.SyncSpec{FromHost: tenancyv1alpha1.SyncFromHost{CustomResources: map[string]tenancyv1alpha1.CustomResourceFromHost{
				"clusterissuers.cert-manager.io": {Enabled: true, Scope: tenancyv1alpha1.NamespaceScoped},
			}}},
			host: []*apiextensionsv1.CustomResourceDefinition{clusterIssuers},
			want: notReady(ReasonScopeMismatch, "clusterissuers.cert-manager.io is Cluster on the host, but spec.sync.fromHost.customResources[clusterissuers.cert-manager.io].scope says Namespaced: set it to Cluster."),
		},
		{
			name: "a missing definition is named first, and every problem told",
			sync: tenancyv1alpha1.SyncSpec{
				ToHost: tenancyv1alpha1.SyncToHost{CustomResources: toHost("clusterissuers.cert-manager.io", "widgets.example.com")},
			},
			host: []*apiextensionsv1.CustomResourceDefinition{clusterIssuers},
			want: notReady(ReasonDefinitionMissing, "The host has no CustomResourceDefinition widgets.example.com: install its CustomResourceDefinition on the host, "+
				"or remove spec.sync.toHost.customResources[widgets.example.com]. "+
				"clusterissuers.cert-manager.io is cluster-scoped on the host, and only namespaced kinds sync to the host: "+
				"remove spec.sync.toHost.customResources[clusterissuers.cert-manager.io], or list it under spec.sync.fromHost.customResources."),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			found := map[string]*apiextensionsv1.CustomResourceDefinition{}
			for _, crd := range tt.host {
				found[crd.Name] = crd
			}
			got, out := resolveCustomResources(customKinds(tt.sync), found, selectors)
			g.Expect(out).To(Equal(tt.want))
			g.Expect(got.kinds).To(Equal(tt.synced))
			g.Expect(got.definitions).To(HaveLen(len(tt.synced)))
			for i, def := range got.definitions {
				g.Expect(def.Name).To(Equal(tt.synced[i].Resource))
				g.Expect(def.Spec.Conversion).To(Equal(&apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.NoneConverter}))
				g.Expect(def.Labels).To(HaveKeyWithValue(tenancyv1alpha1.LabelManagedBy, tenancyv1alpha1.SyncerManagedByValue))
			}
		})
	}
}

func TestAnnounce(t *testing.T) {
	failing := notReady(ReasonDefinitionMissing, "The host has no CustomResourceDefinition widgets.example.com: ...")
	tests := []struct {
		name string
		prev *metav1.Condition
		next outcome
		want bool
	}{
		{"first reconcile, failing", nil, failing, true},
		{"first reconcile, fine", nil, ready(ReasonReady, "Syncing widgets.example.com."), false},
		{"turns False", &metav1.Condition{Status: metav1.ConditionTrue, Reason: ReasonReady, Message: "Syncing widgets.example.com."}, failing, true},
		{"stays False, same message", &metav1.Condition{Status: metav1.ConditionFalse, Reason: failing.reason, Message: failing.message}, failing, false},
		{"stays False, new message", &metav1.Condition{Status: metav1.ConditionFalse, Reason: failing.reason, Message: "another"}, failing, true},
		{"turns True", &metav1.Condition{Status: metav1.ConditionFalse, Reason: failing.reason, Message: failing.message}, ready(ReasonReady, "Syncing."), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(announce(tt.prev, tt.next)).To(Equal(tt.want))
		})
	}
}
