package webhook

import (
	"maps"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psapi "k8s.io/pod-security-admission/api"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/ownership"
	"github.com/nestor-dev/nestor/internal/podsecurity"
	"github.com/nestor-dev/nestor/internal/rbac"
)

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func TestAdmitSyncerNamespace(t *testing.T) {
	tenant := vc()
	baseline := podsecurity.Requested(tenancyv1alpha1.PodSecurityBaseline)
	// host is the host namespace of virtual namespace vns, as the syncer
	// makes it, changed by mutate.
	host := func(vns string, mutate ...func(*corev1.Namespace)) *corev1.Namespace {
		labels := ownership.Labels(tenant)
		maps.Copy(labels, baseline.NamespaceLabels())
		labels[tenancyv1alpha1.LabelVirtualNamespace] = vns
		labels[tenancyv1alpha1.LabelVirtualClusterUID] = "uid-1"
		ns := namespace(naming.NewTranslator(tenant.Namespace, tenant.Name, true).HostNamespace(vns), labels)
		ns.Annotations = map[string]string{tenancyv1alpha1.AnnotationVirtualNamespace: vns}
		for _, m := range mutate {
			m(ns)
		}
		return ns
	}
	label := func(k, v string) func(*corev1.Namespace) { return func(ns *corev1.Namespace) { ns.Labels[k] = v } }
	neighbour := vc(func(v *tenancyv1alpha1.VirtualCluster) { v.Name = "other" })
	cases := []struct {
		name     string
		old, obj *corev1.Namespace
		refusal  string
	}{
		{"create its own", nil, host("web"), ""},
		{"stamp a new identity", host("web"), host("web", label(tenancyv1alpha1.LabelVirtualClusterUID, "uid-2")), ""},
		{"enforce a stricter level", host("web"), host("web", label(psapi.EnforceLevelLabel, "restricted")), ""},
		{"keep a label someone else set", host("web", label("team", "a")), host("web", label("team", "a")), ""},
		{"delete its own", host("web"), nil, ""},
		{"create one unlabelled", nil, namespace("mine", nil), "nestor.dev/virtualcluster=vc"},
		{"create one of another VirtualCluster", nil, namespace("theirs", ownership.Labels(neighbour)), "nestor.dev/virtualcluster=vc"},
		{"label one not its own", namespace("kube-system", nil), namespace("kube-system", ownership.Labels(tenant)), "nestor.dev/virtualcluster=vc"},
		{"unlabel its own", host("web"), namespace(host("web").Name, nil), "nestor.dev/virtualcluster=vc"},
		{"delete kube-system", namespace("kube-system", nil), nil, "nestor.dev/virtualcluster=vc"},
		{"create one under another name", nil, host("web", func(ns *corev1.Namespace) { ns.Name = "team-b" }), "named after the virtual namespace"},
		{"create one for no virtual namespace", nil, host("web", func(ns *corev1.Namespace) { delete(ns.Labels, tenancyv1alpha1.LabelVirtualNamespace) }), "named after the virtual namespace"},
		{"open it to privileged pods", host("web"), host("web", label(psapi.EnforceLevelLabel, "privileged")), "looser than level baseline"},
		{"drop the enforce label", host("web"), host("web", func(ns *corev1.Namespace) { delete(ns.Labels, psapi.EnforceLevelLabel) }), "must enforce Pod Security"},
		{"pin an older version of the standards", host("web"), host("web", label(psapi.EnforceVersionLabel, "v1.0")), "must enforce Pod Security"},
		{"add a label policies select on", host("web"), host("web", label("team", "a")), "label team is not one the syncer sets"},
		{"add a node selector", host("web"), host("web", func(ns *corev1.Namespace) {
			ns.Annotations["scheduler.alpha.kubernetes.io/node-selector"] = "dedicated=infra"
		}), "annotation scheduler.alpha.kubernetes.io/node-selector is not one the syncer sets"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectRefusal(t, AdmitSyncerNamespace(tenant, baseline, tc.old, tc.obj), tc.refusal != "", tc.refusal)
		})
	}
}

func TestAdmitSyncerRoleBinding(t *testing.T) {
	tenant := vc()
	own := namespace("vc-ns-1", ownership.Labels(tenant))
	grant := func(mutate ...func(*rbacv1.RoleBinding)) *rbacv1.RoleBinding {
		rb := rbac.NamespaceRoleBinding(tenant, own.Name, nil)
		for _, m := range mutate {
			m(rb)
		}
		return rb
	}
	cases := []struct {
		name     string
		rb       *rbacv1.RoleBinding
		ns       *corev1.Namespace
		admitted bool
	}{
		{"its grant in its own namespace", grant(), own, true},
		{"its grant in kube-system", grant(func(rb *rbacv1.RoleBinding) { rb.Namespace = "kube-system" }), namespace("kube-system", nil), false},
		{"its grant in a namespace there is not", grant(), nil, false},
		{"another ClusterRole", grant(func(rb *rbacv1.RoleBinding) { rb.RoleRef.Name = "cluster-admin" }), own, false},
		{"a Role", grant(func(rb *rbacv1.RoleBinding) { rb.RoleRef.Kind = "Role" }), own, false},
		{"another subject too", grant(func(rb *rbacv1.RoleBinding) {
			rb.Subjects = append(rb.Subjects, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "default", Namespace: own.Name})
		}), own, false},
		{"another subject instead", grant(func(rb *rbacv1.RoleBinding) { rb.Subjects[0].Name = "default" }), own, false},
		{"a group", grant(func(rb *rbacv1.RoleBinding) {
			rb.Subjects = []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:authenticated"}}
		}), own, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A refusal names the ClusterRole the syncer may bind.
			expectRefusal(t, AdmitSyncerRoleBinding(tenant, tc.rb, tc.ns), !tc.admitted, "nestor-team-a-vc:host-namespace")
		})
	}
}

// expectRefusal checks that refusal is there when refused is, and then says words.
func expectRefusal(t *testing.T, refusal string, refused bool, words string) {
	t.Helper()
	if (refusal != "") != refused {
		t.Fatalf("refused %t, want %t: %q", refusal != "", refused, refusal)
	}
	if refused && !strings.Contains(refusal, words) {
		t.Fatalf("the refusal does not say %q: %q", words, refusal)
	}
}

func TestSyncerUser(t *testing.T) {
	cases := map[string][]string{
		"system:serviceaccount:team-a:vc-my-vcluster":       {"team-a", "my-vcluster"},
		"system:serviceaccount:team-a:vc-workload-my-vc":    {"team-a", "workload-my-vc"},
		"system:serviceaccount:team-a:default":              nil,
		"system:serviceaccount:team-a:vc-":                  nil,
		"vc-my-vcluster":                                    nil,
		"system:serviceaccount:team-a:vc-a:b":               nil,
		"system:serviceaccounts:team-a:vc-my-vcluster":      nil,
		"system:serviceaccount:kube-system:namespace-admin": nil,
	}
	for user, want := range cases {
		m := syncerUser.FindStringSubmatch(user)
		if want == nil {
			if m != nil {
				t.Errorf("%s taken for a syncer: %v", user, m)
			}
			continue
		}
		if m == nil || m[1] != want[0] || m[2] != want[1] {
			t.Errorf("%s: got %v, want VirtualCluster %s/%s", user, m, want[0], want[1])
		}
	}
}
