package naming

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestHostName(t *testing.T) {
	single := NewTranslator("team-a", "vc1", false)
	multi := NewTranslator("team-a", "vc1", true)
	long := strings.Repeat("a", 60)
	cases := []struct {
		name, namespace, vname string
		tr                     Translator
		want                   string
	}{
		{"joined", "default", "web", single, "web-x-default-x-vc1"},
		{"dots stay", "default", "tls.example.com", single, "tls.example.com-x-default-x-vc1"},
		// The hash digits were computed apart, with sha256sum.
		{"too long", "default", long, single, long[:52] + "-787aba210b"},
		{"separator in the name", "b", "a-x-c", single, "a-x-c-x-b-x-vc1-eea4e01569"},
		{"separator across the join", "ns", "a-x", single, "a-x-x-ns-x-vc1-b7a7a9cbb4"},
		{"multi keeps the name", "default", "web", multi, "web"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.tr.HostName(tc.namespace, tc.vname)
			if got != tc.want {
				t.Errorf("HostName(%q, %q) = %q, want %q", tc.namespace, tc.vname, got, tc.want)
			}
			if len(got) > MaxLabel {
				t.Errorf("%q is over %d characters", got, MaxLabel)
			}
		})
	}
}

// The two joins that read alike are told apart.
func TestHostNameAmbiguousJoins(t *testing.T) {
	tr := NewTranslator("team-a", "vc", false)
	pairs := [][2][2]string{
		{{"ns", "a-x"}, {"x-ns", "a"}},   // "a-x-x-ns-x-vc" both ways
		{{"b-x-c", "a"}, {"c", "a-x-b"}}, // "a-x-b-x-c-x-vc" both ways
		{{"default-x-vc", "web"}, {"default", "web"}},
	}
	for _, p := range pairs {
		a, b := tr.HostName(p[0][0], p[0][1]), tr.HostName(p[1][0], p[1][1])
		if a == b {
			t.Errorf("%v and %v both become %q", p[0], p[1], a)
		}
	}
}

func TestHostNamespace(t *testing.T) {
	if got := NewTranslator("team-a", "vc1", false).HostNamespace("default"); got != "team-a" {
		t.Errorf("single-namespace mode puts everything in the VirtualCluster's namespace, got %q", got)
	}
	multi := NewTranslator("team-a", "vc1", true)
	got := multi.HostNamespace("default")
	if got != "vc1-default-ff20f2ebd6" {
		t.Errorf("HostNamespace(default) = %q, want vc1-default- and the hash of (team-a, vc1, default)", got)
	}
	// The same virtual namespace of another VirtualCluster, or of a
	// VirtualCluster of the same name in another host namespace, differs.
	for _, other := range []Translator{NewTranslator("team-b", "vc1", true), NewTranslator("team-a", "vc2", true)} {
		if other.HostNamespace("default") == got {
			t.Errorf("%+v shares host namespace %q", other, got)
		}
	}
	// Readable prefixes that coincide still hash apart.
	if NewTranslator("t", "a-b", true).HostNamespace("c") == NewTranslator("t", "a", true).HostNamespace("b-c") {
		t.Error("(a-b, c) and (a, b-c) share a host namespace")
	}
}

// FuzzHostName checks, for any valid names, that host names and namespaces
// are valid and at most 63 characters, and that distinct inputs never share
// one.
func FuzzHostName(f *testing.F) {
	f.Add("default", "web", "kube-system", "web")
	f.Add("ns", "a-x", "x-ns", "a")
	f.Add("b-x-c", "a", "c", "a-x-b")
	f.Add(strings.Repeat("n", 63), strings.Repeat("p", 253), strings.Repeat("n", 62), strings.Repeat("p", 253))
	f.Add("default", "tls.example.com", "default", "tls.example.co")
	f.Fuzz(func(t *testing.T, ns1, name1, ns2, name2 string) {
		if !validInput(ns1, name1) || !validInput(ns2, name2) {
			return
		}
		for _, multi := range []bool{false, true} {
			tr := NewTranslator("team-a", "my-vc", multi)
			k1, k2 := tr.HostKey(ns1, name1), tr.HostKey(ns2, name2)
			for _, k := range []struct{ ns, name string }{{k1.Namespace, k1.Name}, {k2.Namespace, k2.Name}} {
				if msgs := validation.IsDNS1123Label(k.ns); len(msgs) > 0 {
					t.Fatalf("host namespace %q: %v", k.ns, msgs)
				}
				if msgs := validation.IsDNS1123Subdomain(k.name); len(msgs) > 0 {
					t.Fatalf("host name %q: %v", k.name, msgs)
				}
				if !multi && len(k.name) > MaxLabel {
					t.Fatalf("host name %q is over %d characters", k.name, MaxLabel)
				}
			}
			if (ns1 != ns2 || name1 != name2) && k1 == k2 {
				t.Fatalf("multi=%t: %s/%s and %s/%s both become %s", multi, ns1, name1, ns2, name2, k1)
			}
			// A name that is a DNS label (a Service's) stays one.
			if msgs := validation.IsDNS1123Label(name1); len(msgs) == 0 {
				if msgs := validation.IsDNS1123Label(k1.Name); len(msgs) > 0 {
					t.Fatalf("label %q became %q: %v", name1, k1.Name, msgs)
				}
			}
		}
	})
}

func validInput(namespace, name string) bool {
	return len(validation.IsDNS1123Label(namespace)) == 0 && len(validation.IsDNS1123Subdomain(name)) == 0
}
