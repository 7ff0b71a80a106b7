package webhook

import (
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

func named(namespace, name string) func(*tenancyv1alpha1.VirtualCluster) {
	return func(v *tenancyv1alpha1.VirtualCluster) { v.Namespace, v.Name = namespace, name }
}

func TestCollisions(t *testing.T) {
	multi := mode(ptr.To(true))
	recordedSingle := func(v *tenancyv1alpha1.VirtualCluster) { v.Status.Mode = tenancyv1alpha1.SingleNamespaceMode }
	for _, tc := range []struct {
		name   string
		vc     *tenancyv1alpha1.VirtualCluster
		others []*tenancyv1alpha1.VirtualCluster
		says   []string // one per error
	}{
		{"a headless Service's name", vc(named("ns", "sample-headless")), []*tenancyv1alpha1.VirtualCluster{vc(named("ns", "sample"))},
			[]string{"Service sample-headless in namespace ns, the API server's Service of this VirtualCluster, " +
				"is already the control plane's headless Service of VirtualCluster ns/sample; choose another name for this VirtualCluster"}},
		{"the tenant pods' ServiceAccount", vc(named("ns", "workload-sample")), []*tenancyv1alpha1.VirtualCluster{vc(named("ns", "sample"))},
			[]string{"ServiceAccount vc-workload-sample in namespace ns, the syncer's ServiceAccount of this VirtualCluster, " +
				"is already the ServiceAccount of the tenant's pods of VirtualCluster ns/sample"}},
		{"the PKI and the kubeconfig", vc(named("ns", "b-certs")), []*tenancyv1alpha1.VirtualCluster{vc(named("ns", "vc-b"))},
			[]string{"Secret vc-b-certs in namespace ns, the admin kubeconfig of this VirtualCluster, is already the control plane's PKI of VirtualCluster ns/vc-b"}},
		{"siblings that share nothing", vc(named("ns", "dev")), []*tenancyv1alpha1.VirtualCluster{vc(named("ns", "prod")), vc(named("ns", "sample"))}, nil},
		{"the same names in another namespace", vc(named("other", "sample-headless")), []*tenancyv1alpha1.VirtualCluster{vc(named("ns", "sample"))}, nil},
		{"itself", vc(named("ns", "sample")), []*tenancyv1alpha1.VirtualCluster{vc(named("ns", "sample"))}, nil},
		{"a ClusterRole across namespaces", vc(named("team-a", "dev"), multi), []*tenancyv1alpha1.VirtualCluster{vc(named("team", "a-dev"), multi)}, []string{
			`ClusterRole nestor-team-a-dev cluster-wide, the syncer's ClusterRole of this VirtualCluster, is already the syncer's ClusterRole of VirtualCluster team/a-dev ` +
				`(cluster-scoped names join the namespace and the name with "-"); choose another name for this VirtualCluster`,
			"ClusterRoleBinding nestor-team-a-dev cluster-wide",
			"ClusterRole nestor-team-a-dev:host-namespace cluster-wide, the ClusterRole the syncer binds in each host namespace",
		}},
		{"a single-namespace VirtualCluster has no ClusterRole", vc(named("team-a", "dev")), []*tenancyv1alpha1.VirtualCluster{vc(named("team", "a-dev"), multi)}, nil},
		{"nor has one beside it", vc(named("team-a", "dev"), multi), []*tenancyv1alpha1.VirtualCluster{vc(named("team", "a-dev"))}, nil},
		{"nor one whose recorded mode is single", vc(named("team-a", "dev"), multi),
			[]*tenancyv1alpha1.VirtualCluster{vc(named("team", "a-dev"), multi, recordedSingle)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var others []tenancyv1alpha1.VirtualCluster
			for _, o := range tc.others {
				others = append(others, *o)
			}
			errs := collisions(tc.vc, others)
			if len(errs) != len(tc.says) {
				t.Fatalf("errors %v, want %d", errs, len(tc.says))
			}
			for i, e := range errs {
				if e.Field != "metadata.name" || !strings.Contains(e.Detail, tc.says[i]) {
					t.Errorf("error %q on %s, want metadata.name saying %q", e.Detail, e.Field, tc.says[i])
				}
			}
		})
	}
}
