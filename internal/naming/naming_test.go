package naming

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestForVirtualCluster(t *testing.T) {
	got := ForVirtualCluster("team-a", "my-vcluster")
	want := Children{
		SyncerServiceAccount:   "vc-my-vcluster",
		WorkloadServiceAccount: "vc-workload-my-vcluster",
		RBAC:                   "vc-my-vcluster",
		ClusterRBAC:            "nestor-team-a-my-vcluster",
		NamespaceRBAC:          "nestor-team-a-my-vcluster:host-namespace",
		Certs:                  "my-vcluster-certs",
		Kubeconfig:             "vc-my-vcluster",
		ControlPlane:           "my-vcluster",
		HeadlessService:        "my-vcluster-headless",
		Syncer:                 "my-vcluster-syncer",
		DNS:                    "my-vcluster-dns",
		Policy:                 "vc-my-vcluster",
	}
	if got != want {
		t.Fatalf("ForVirtualCluster:\n got %+v\nwant %+v", got, want)
	}
}

func TestObjectsNamedAfterAVirtualCluster(t *testing.T) {
	n := ForVirtualCluster("team-a", "dev")
	common := []Object{
		{"ServiceAccount", "vc-dev", "the syncer's ServiceAccount"},
		{"ServiceAccount", "vc-workload-dev", "the ServiceAccount of the tenant's pods"},
		{"Role", "vc-dev", "the syncer's Role"},
		{"RoleBinding", "vc-dev", "the syncer's RoleBinding"},
		{"Secret", "dev-certs", "the control plane's PKI"},
		{"Secret", "vc-dev", "the admin kubeconfig"},
		{"StatefulSet", "dev", "the control plane"},
		{"Service", "dev", "the API server's Service"},
		{"Service", "dev-headless", "the control plane's headless Service"},
		{"Deployment", "dev-syncer", "the syncer"},
		{"Service", "dev-syncer", "the syncer's kubelet API"},
		{"ConfigMap", "dev-syncer", "the syncer's configuration"},
		{"Lease", "dev-syncer", "the syncer's leader election"},
		{"Deployment", "dev-dns", "the virtual cluster's DNS"},
		{"Service", "dev-dns", "the virtual cluster's DNS Service"},
		{"ConfigMap", "dev-dns", "the virtual cluster's DNS configuration"},
	}
	policies := []Object{
		{"ResourceQuota", "vc-dev", "the tenant's quota"},
		{"LimitRange", "vc-dev", "the tenant's limit range"},
		{"NetworkPolicy", "vc-dev", "the tenant's network policy"},
	}
	claim := func(name string) Object { return Object{"PersistentVolumeClaim", name, "an etcd member's data"} }
	for _, tc := range []struct {
		name   string
		claims int32
		multi  bool
		want   []Object
	}{
		{"no persistence", 0, false, slices.Concat(common, policies)},
		{"one member", 1, false, slices.Concat(common, policies, []Object{claim("data-dev-0")})},
		{"three members", 3, false, slices.Concat(common, policies, []Object{claim("data-dev-0"), claim("data-dev-1"), claim("data-dev-2")})},
		{"multi-namespace mode: the policies are in the host namespaces", 1, true, slices.Concat(common, []Object{claim("data-dev-0")})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := n.Namespaced(tc.claims, tc.multi); !slices.Equal(got, tc.want) {
				t.Fatalf("Namespaced(%d, %t):\n got %v\nwant %v", tc.claims, tc.multi, got, tc.want)
			}
		})
	}

	wantCluster := []Object{
		{"ClusterRole", "nestor-team-a-dev", "the syncer's ClusterRole"},
		{"ClusterRoleBinding", "nestor-team-a-dev", "the syncer's ClusterRoleBinding"},
		{"ClusterRole", "nestor-team-a-dev:host-namespace", "the ClusterRole the syncer binds in each host namespace"},
	}
	if got := n.ClusterScoped(); !slices.Equal(got, wantCluster) {
		t.Fatalf("ClusterScoped:\n got %v\nwant %v", got, wantCluster)
	}
}

func TestNamespaceRBACFollowsClusterRBAC(t *testing.T) {
	long := strings.Repeat("n", 50)
	cases := []struct {
		name, ns, vc string
		want         string
	}{
		{"fits", "team-a", "my-vcluster", "nestor-team-a-my-vcluster:host-namespace"},
		// ClusterRBAC "nestor-<50 n>-my-vcluster" is 69 characters: hashed,
		// and the suffix follows the hash (digits computed apart, with sha256sum).
		{"hashed", long, "my-vcluster", "nestor-" + strings.Repeat("n", 45) + "-0fd747691d:host-namespace"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ForVirtualCluster(tc.ns, tc.vc)
			if c.NamespaceRBAC != tc.want {
				t.Fatalf("NamespaceRBAC = %q, want %q", c.NamespaceRBAC, tc.want)
			}
			if c.NamespaceRBAC != c.ClusterRBAC+":host-namespace" {
				t.Fatalf("NamespaceRBAC %q does not follow ClusterRBAC %q", c.NamespaceRBAC, c.ClusterRBAC)
			}
		})
	}
}

func TestShorten(t *testing.T) {
	long := strings.Repeat("a", 60) + "-x-ns-x-vc"
	// The hash digits were computed apart, with sha256sum.
	cases := []struct {
		name, in string
		max      int
		want     string
	}{
		{"fits", "web-x-default-x-vc1", 63, "web-x-default-x-vc1"},
		{"exactly the limit", strings.Repeat("b", 63), 63, strings.Repeat("b", 63)},
		{"too long", long, 63, strings.Repeat("a", 52) + "-" + "72581a098e"},
		{"dash at the cut is dropped", strings.Repeat("c", 51) + "-" + strings.Repeat("d", 20), 63, strings.Repeat("c", 51) + "-" + "8b9753c52d"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Shorten(tc.in, tc.max)
			if len(got) > tc.max {
				t.Fatalf("Shorten(%q) = %q, %d characters, over %d", tc.in, got, len(got), tc.max)
			}
			if got != tc.want {
				t.Fatalf("Shorten(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzShorten: a result is never over the limit, a name that fits is kept,
// a DNS-1123 label stays one, and two different names never collide.
func FuzzShorten(f *testing.F) {
	f.Add("web", "db")
	f.Add(strings.Repeat("a", 70), strings.Repeat("a", 71))
	f.Add(strings.Repeat("a", 52)+"-"+strings.Repeat("b", 20), strings.Repeat("a", 52)+"."+strings.Repeat("b", 20))
	f.Fuzz(func(t *testing.T, a, b string) {
		sa, sb := Shorten(a, MaxLabel), Shorten(b, MaxLabel)
		if len(sa) > MaxLabel {
			t.Fatalf("Shorten(%q) = %q is %d characters", a, sa, len(sa))
		}
		if len(a) <= MaxLabel && sa != a {
			t.Fatalf("Shorten(%q) = %q changed a name that fits", a, sa)
		}
		if isLabelish(a) && len(validation.IsDNS1123Label(sa)) > 0 {
			t.Fatalf("Shorten(%q) = %q is not a DNS-1123 label: %v", a, sa, validation.IsDNS1123Label(sa))
		}
		if a != b && sa == sb {
			t.Fatalf("Shorten(%q) and Shorten(%q) collide: %q", a, b, sa)
		}
	})
}

// isLabelish reports whether s is a DNS-1123 label but for its length.
func isLabelish(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		alnum := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !alnum && (r != '-' || i == 0 || i == len(s)-1) {
			return false
		}
	}
	return true
}

// FuzzChildNames: for every VirtualCluster the schema admits, each child name
// is valid for its kind, and two VirtualClusters never share a ClusterRole.
func FuzzChildNames(f *testing.F) {
	f.Add("team-a", "my-vcluster", "team", "a-my-vcluster")
	f.Add(strings.Repeat("n", 63), strings.Repeat("v", 52), "n", "v")
	f.Fuzz(func(t *testing.T, ns1, name1, ns2, name2 string) {
		if !admitted(ns1, name1) || !admitted(ns2, name2) {
			t.Skip()
		}
		c := ForVirtualCluster(ns1, name1)
		for kind, check := range map[string]struct {
			name  string
			valid func(string) []string
		}{
			"ServiceAccount":      {c.SyncerServiceAccount, validation.IsDNS1123Subdomain},
			"workload SA":         {c.WorkloadServiceAccount, validation.IsDNS1123Subdomain},
			"Secret certs":        {c.Certs, validation.IsDNS1123Subdomain},
			"Secret kubeconfig":   {c.Kubeconfig, validation.IsDNS1123Subdomain},
			"Service":             {c.ControlPlane, validation.IsDNS1035Label},
			"headless Service":    {c.HeadlessService, validation.IsDNS1035Label},
			"Deployment":          {c.Syncer, validation.IsDNS1123Subdomain},
			"ClusterRole (label)": {c.ClusterRBAC, validation.IsDNS1123Label},
			// A StatefulSet's pods carry "<name>-<10 hex>" as a label value.
			"StatefulSet revision label": {c.ControlPlane + "-0123456789", validation.IsValidLabelValue},
		} {
			if errs := check.valid(check.name); len(errs) > 0 {
				t.Fatalf("%s name %q for %s/%s is invalid: %v", kind, check.name, ns1, name1, errs)
			}
		}
		if errs := path.IsValidPathSegmentName(c.NamespaceRBAC); len(errs) > 0 || len(c.NamespaceRBAC) > validation.DNS1123SubdomainMaxLength {
			t.Fatalf("NamespaceRBAC %q for %s/%s is no valid ClusterRole name: %v", c.NamespaceRBAC, ns1, name1, errs)
		}
		if ns1 == ns2 && name1 == name2 {
			return
		}
		if c2 := ForVirtualCluster(ns2, name2); c.ClusterRBAC == c2.ClusterRBAC && len("nestor-"+ns1+"-"+name1) > MaxLabel {
			// Short names may coincide ("a-b"/"c" and "a"/"b-c"); the apply
			// path refuses to adopt the other's object. Hashed ones must not.
			t.Fatalf("%s/%s and %s/%s share ClusterRole %q", ns1, name1, ns2, name2, c.ClusterRBAC)
		}
		// The ClusterRole a syncer may bind in its host namespaces is never
		// another's cluster-wide one, and is shared only where ClusterRBAC is.
		c2 := ForVirtualCluster(ns2, name2)
		if c.NamespaceRBAC == c2.ClusterRBAC || (c.NamespaceRBAC == c2.NamespaceRBAC) != (c.ClusterRBAC == c2.ClusterRBAC) {
			t.Fatalf("%s/%s's NamespaceRBAC %q against %s/%s's %+v", ns1, name1, c.NamespaceRBAC, ns2, name2, c2)
		}
	})
}

// admitted mirrors what the API admits: a namespace is a DNS-1123 label, a
// VirtualCluster name a DNS-1035 label of at most 52 characters.
func admitted(ns, name string) bool {
	return len(validation.IsDNS1123Label(ns)) == 0 && len(validation.IsDNS1035Label(name)) == 0 && len(name) <= 52
}
