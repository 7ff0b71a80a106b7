package webhook

import (
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/utils/ptr"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

func TestExpand(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scopes []scope
		want   []permission
	}{
		{"every group, resource and verb", []scope{{"ns", []rbacv1.PolicyRule{
			{APIGroups: []string{"", "apps"}, Resources: []string{"pods", "deployments"}, Verbs: []string{"list", "get"}},
		}}}, []permission{
			{"ns", "get", "", "deployments", "", ""}, {"ns", "list", "", "deployments", "", ""},
			{"ns", "get", "", "pods", "", ""}, {"ns", "list", "", "pods", "", ""},
			{"ns", "get", "apps", "deployments", "", ""}, {"ns", "list", "apps", "deployments", "", ""},
			{"ns", "get", "apps", "pods", "", ""}, {"ns", "list", "apps", "pods", "", ""},
		}},
		{"a subresource and resource names", []scope{{"ns", []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}, ResourceNames: []string{"a", "b"}},
		}}}, []permission{{"ns", "get", "", "pods", "log", "a"}, {"ns", "get", "", "pods", "log", "b"}}},
		{"cluster-wide apart from namespaced, each once", []scope{
			{"ns", []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}}},
			{"", []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}},
				{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "watch"}},
			}},
		}, []permission{{"", "get", "", "pods", "", ""}, {"", "watch", "", "pods", "", ""}, {"ns", "get", "", "pods", "", ""}}},
		{"no rules", []scope{{"ns", nil}, {"", nil}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := expand(tc.scopes); !slices.Equal(got, tc.want) {
				t.Fatalf("expand:\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestPermissionString(t *testing.T) {
	for p, want := range map[permission]string{
		{"", "list", "", "pods", "", ""}:                                "list pods (cluster-wide)",
		{"team-a", "create", "cert-manager.io", "certificates", "", ""}: "create certificates.cert-manager.io in namespace team-a",
		{"team-a", "get", "", "pods", "log", "web"}:                     `get pods/log "web" in namespace team-a`,
	} {
		if got := p.String(); got != want {
			t.Errorf("%#v: got %q, want %q", p, got, want)
		}
	}
}

// has reports whether perms holds verb on resource in namespace.
func has(perms []permission, namespace, verb, resource string) bool {
	return slices.ContainsFunc(perms, func(p permission) bool {
		return p.namespace == namespace && p.verb == verb && p.resource == resource
	})
}

func TestWanted(t *testing.T) {
	multi := mode(ptr.To(true))
	off := func(v *tenancyv1alpha1.VirtualCluster) { v.Spec.Sync.ToHost.Endpoints.Enabled = ptr.To(false) }
	for _, tc := range []struct {
		name    string
		old, vc *tenancyv1alpha1.VirtualCluster
		has     [][3]string // namespace, verb, resource
		hasNot  [][3]string
		none    bool
	}{
		{name: "single-namespace defaults: the synced kinds in the namespace, no housekeeping", vc: vc(),
			has:    [][3]string{{"team-a", "create", "pods"}, {"team-a", "delete", "endpoints"}, {"team-a", "watch", "events"}},
			hasNot: [][3]string{{"team-a", "create", "events"}, {"team-a", "get", "leases"}, {"", "list", "pods"}}},
		{name: "multi-namespace defaults: all cluster-wide", vc: vc(multi),
			has:    [][3]string{{"", "list", "pods"}, {"", "delete", "namespaces"}, {"", "create", "serviceaccounts"}},
			hasNot: [][3]string{{"team-a", "get", "leases"}, {"team-a", "list", "pods"}}},
		{name: "an update that turns a kind on asks for that kind alone", old: vc(off), vc: vc(),
			has:    [][3]string{{"team-a", "create", "endpoints"}},
			hasNot: [][3]string{{"team-a", "create", "pods"}}},
		{name: "an update that turns a kind off asks for nothing", old: vc(), vc: vc(off), none: true},
		{name: "an update of the control plane asks for nothing", old: vc(), vc: vc(func(v *tenancyv1alpha1.VirtualCluster) {
			v.Spec.ControlPlane.Version = "v1.37.3"
		}), none: true},
		// The spec asks for multi-namespace mode behind the webhook's back;
		// the operator grants in the recorded one.
		{name: "an update is taken in the recorded mode", old: vc(multi, off, func(v *tenancyv1alpha1.VirtualCluster) {
			v.Status.Mode = tenancyv1alpha1.SingleNamespaceMode
		}), vc: vc(multi), has: [][3]string{{"team-a", "create", "endpoints"}}, hasNot: [][3]string{{"", "create", "endpoints"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := wanted(tc.old, tc.vc, grantedMode(tc.old, tc.vc))
			if tc.none && len(got) > 0 {
				t.Fatalf("wanted %v, want nothing", got)
			}
			for _, h := range tc.has {
				if !has(got, h[0], h[1], h[2]) {
					t.Errorf("missing %v in %v", h, got)
				}
			}
			for _, h := range tc.hasNot {
				if has(got, h[0], h[1], h[2]) {
					t.Errorf("unexpected %v in %v", h, got)
				}
			}
		})
	}
}

func TestRefusal(t *testing.T) {
	v := vc(mode(ptr.To(true)), func(v *tenancyv1alpha1.VirtualCluster) {
		v.Spec.Sync.ToHost.CustomResources = map[string]tenancyv1alpha1.CustomResourceToHost{
			"widgets.example.com": {Enabled: true}, "gadgets.example.com": {Enabled: true},
		}
	})
	perms := wanted(nil, v, tenancyv1alpha1.MultiNamespaceMode)
	fields := askedFor(v, tenancyv1alpha1.MultiNamespaceMode, perms)
	if fields[0] != "spec.experimental.multiNamespaceMode.enabled" || slices.Index(fields[1:], fields[0]) >= 0 {
		t.Errorf("cluster-wide permissions are asked for by the mode first, once: %v", fields)
	}
	for _, want := range []string{"spec.sync.toHost.pods", "spec.sync.toHost.secrets", "spec.sync.toHost.customResources[widgets.example.com]", "spec.sync.fromHost.events"} {
		if !slices.Contains(fields, want) {
			t.Errorf("fields %v lack %s", fields, want)
		}
	}

	described := describe(perms)
	if described[0] != "create/delete/get/list/patch/update/watch configmaps (cluster-wide)" || len(described) != 18 {
		t.Fatalf("one entry per resource, with its verbs: %v", described)
	}
	msg := refusal(v, "alice", perms, fields, false)
	for _, want := range []string{
		"VirtualCluster team-a/vc", `user "alice"`, described[0], described[maxListed-1] + " and 8 more;",
		"the user who creates it", "a cluster administrator can grant you these permissions",
		"or `escalate` on virtualclusters.tenancy.nestor.dev in namespace team-a",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}

	few := perms[:2]
	if msg := refusal(v, "alice", few, askedFor(v, tenancyv1alpha1.MultiNamespaceMode, few), true); strings.Contains(msg, "more") ||
		!strings.Contains(msg, "the user who changes it") {
		t.Errorf("a short refusal of an update: %s", msg)
	}
}
