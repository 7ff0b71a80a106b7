package syncerconfig

import (
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

func TestRoundTrip(t *testing.T) {
	vc := &tenancyv1alpha1.VirtualCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "vc", Namespace: "team-a", UID: "u-1"},
		Spec: tenancyv1alpha1.VirtualClusterSpec{
			Experimental: &tenancyv1alpha1.ExperimentalSpec{MultiNamespaceMode: &tenancyv1alpha1.MultiNamespaceModeSpec{Enabled: true}},
			Sync: tenancyv1alpha1.SyncSpec{ToHost: tenancyv1alpha1.SyncToHost{
				Secrets:         tenancyv1alpha1.SyncReferenced{Enabled: ptr.To(true), All: true},
				CustomResources: map[string]tenancyv1alpha1.CustomResourceToHost{"certificates.cert-manager.io": {Enabled: true}},
			}},
			Networking: tenancyv1alpha1.NetworkingSpec{ServiceCIDR: "10.96.0.0/12", ClusterDomain: "cluster.local"},
			Policies:   tenancyv1alpha1.PoliciesSpec{PodSecurity: tenancyv1alpha1.PodSecurityPolicy{Level: tenancyv1alpha1.PodSecurityRestricted}},
		},
	}
	// The recorded mode wins over the spec's.
	cfg := For(vc, tenancyv1alpha1.SingleNamespaceMode)
	if cfg.Mode != tenancyv1alpha1.SingleNamespaceMode || cfg.WorkloadServiceAccount != "vc-workload-vc" || cfg.HostNamespace != "team-a" ||
		cfg.PodSecurity.Level != tenancyv1alpha1.PodSecurityRestricted {
		t.Fatalf("config = %+v", cfg)
	}
	out, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse([]byte(out))
	if err != nil {
		t.Fatalf("Parse(Marshal()) = %v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, cfg) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", back, cfg)
	}
}

func TestParseRejects(t *testing.T) {
	for name, in := range map[string]string{
		"unknown field":   "virtualCluster: {name: vc, namespace: a}\nhostNamespace: a\nmode: SingleNamespace\nsurprise: 1\n",
		"no mode":         "virtualCluster: {name: vc, namespace: a}\nhostNamespace: a\n",
		"bad mode":        "virtualCluster: {name: vc, namespace: a}\nhostNamespace: a\nmode: Both\n",
		"no host ns":      "virtualCluster: {name: vc, namespace: a}\nmode: SingleNamespace\n",
		"not yaml at all": "{{",
		"unknown level":   "virtualCluster: {name: vc, namespace: a}\nhostNamespace: a\nmode: SingleNamespace\npodSecurity: {level: root}\n",
	} {
		if _, err := Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), "syncer configuration") {
			t.Errorf("%s: Parse = %v, want an error that says what it parsed", name, err)
		}
	}
}
