package webhook

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

func vc(mutate ...func(*tenancyv1alpha1.VirtualCluster)) *tenancyv1alpha1.VirtualCluster {
	v := &tenancyv1alpha1.VirtualCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "vc", Namespace: "team-a"},
		Spec: tenancyv1alpha1.VirtualClusterSpec{
			ControlPlane: tenancyv1alpha1.ControlPlaneSpec{Version: "v1.37.2", Replicas: 1, Resources: tenancyv1alpha1.ControlPlaneResources{
				// The schema's defaults.
				Etcd:              resources("100m", "256Mi", "2Gi"),
				APIServer:         resources("250m", "512Mi", "3Gi"),
				ControllerManager: resources("100m", "128Mi", "1Gi"),
				Syncer:            resources("50m", "64Mi", "512Mi"),
				CoreDNS:           resources("50m", "64Mi", "256Mi"),
			}, Persistence: tenancyv1alpha1.PersistenceSpec{Size: resource.MustParse("5Gi")}},
			Networking: tenancyv1alpha1.NetworkingSpec{ServiceCIDR: "10.96.0.0/12", ClusterDomain: "cluster.local"},
		},
	}
	for _, m := range mutate {
		m(v)
	}
	return v
}

func resources(cpu, memory, memoryLimit string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(memoryLimit)},
	}
}

func mode(enabled *bool) func(*tenancyv1alpha1.VirtualCluster) {
	return func(v *tenancyv1alpha1.VirtualCluster) {
		if enabled == nil {
			v.Spec.Experimental = nil
			return
		}
		v.Spec.Experimental = &tenancyv1alpha1.ExperimentalSpec{MultiNamespaceMode: &tenancyv1alpha1.MultiNamespaceModeSpec{Enabled: *enabled}}
	}
}

func fields(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field)
	}
	return out
}

func TestModeTransitions(t *testing.T) {
	absent, off, on := (*bool)(nil), ptr.To(false), ptr.To(true)
	for _, tc := range []struct {
		name     string
		from, to *bool
		denied   bool
		says     string
	}{
		{"false to true", off, on, true, "cannot change from false to true"},
		{"true to false", on, off, true, "cannot change from true to false"},
		{"absent to true", absent, on, true, "the field was added"},
		{"true to absent", on, absent, true, "the field was removed, and its default is false"},
		{"absent to false", absent, off, false, ""},
		{"false to absent", off, absent, false, ""},
		{"true to true", on, on, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs, _ := ValidateUpdate(vc(mode(tc.from)), vc(mode(tc.to)))
			if !tc.denied {
				if len(errs) > 0 {
					t.Fatalf("denied: %v", errs)
				}
				return
			}
			if len(errs) != 1 || errs[0].Field != "spec.experimental.multiNamespaceMode.enabled" || errs[0].Type != field.ErrorTypeForbidden {
				t.Fatalf("errors = %v, want one Forbidden on the mode field", errs)
			}
			for _, want := range []string{tc.says, "keyed differently in each mode", "orphan or destroy", "create a new VirtualCluster"} {
				if !strings.Contains(errs[0].Detail, want) {
					t.Errorf("message %q does not say %q", errs[0].Detail, want)
				}
			}
		})
	}
}

func TestCreate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		vc    *tenancyv1alpha1.VirtualCluster
		field string
	}{
		{"name joins like a host name", vc(func(v *tenancyv1alpha1.VirtualCluster) { v.Name = "web-x-default" }), "metadata.name"},
		{"nodes in single-namespace mode", vc(func(v *tenancyv1alpha1.VirtualCluster) { v.Spec.Sync.FromHost.Nodes.Enabled = true }), "spec.sync.fromHost.nodes.enabled"},
		{"cluster-scoped custom resource from the host in single-namespace mode", vc(func(v *tenancyv1alpha1.VirtualCluster) {
			v.Spec.Sync.FromHost.CustomResources = map[string]tenancyv1alpha1.CustomResourceFromHost{"clusterissuers.cert-manager.io": {Enabled: true, Scope: tenancyv1alpha1.ClusterScoped}}
		}), "spec.sync.fromHost.customResources[clusterissuers.cert-manager.io].scope"},
		{"a built-in kind as a custom resource", vc(func(v *tenancyv1alpha1.VirtualCluster) {
			v.Spec.Sync.ToHost.CustomResources = map[string]tenancyv1alpha1.CustomResourceToHost{"deployments.apps": {Enabled: true}}
		}), "spec.sync.toHost.customResources[deployments.apps]"},
		{"a custom resource synced both ways", vc(mode(ptr.To(true)), func(v *tenancyv1alpha1.VirtualCluster) {
			v.Spec.Sync.ToHost.CustomResources = map[string]tenancyv1alpha1.CustomResourceToHost{"issuers.cert-manager.io": {Enabled: true}}
			v.Spec.Sync.FromHost.CustomResources = map[string]tenancyv1alpha1.CustomResourceFromHost{"issuers.cert-manager.io": {Enabled: true}}
		}), "spec.sync.fromHost.customResources[issuers.cert-manager.io]"},
		{"an unsupported version", vc(func(v *tenancyv1alpha1.VirtualCluster) { v.Spec.ControlPlane.Version = "v1.30.4" }), "spec.controlPlane.version"},
		{"a volume of size 0", vc(func(v *tenancyv1alpha1.VirtualCluster) { v.Spec.ControlPlane.Persistence.Size = resource.Quantity{} }), "spec.controlPlane.persistence.size"},
		{"a flag Nestor sets", vc(func(v *tenancyv1alpha1.VirtualCluster) {
			v.Spec.ControlPlane.ExtraArgs.APIServer = []string{"--etcd-servers=http://evil:2379"}
		}), "spec.controlPlane.extraArgs.apiServer[0]"},
		{"a malformed image", vc(func(v *tenancyv1alpha1.VirtualCluster) { v.Spec.ControlPlane.Images.Etcd = "Registry/Etcd:3.7" }), "spec.controlPlane.images.etcd"},
		{"requests above limits", vc(func(v *tenancyv1alpha1.VirtualCluster) {
			v.Spec.ControlPlane.Resources.APIServer = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("4Gi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
			}
		}), "spec.controlPlane.resources.apiServer.requests[memory]"},
		{"a service range that is not a network address", vc(func(v *tenancyv1alpha1.VirtualCluster) { v.Spec.Networking.ServiceCIDR = "10.96.0.1/12" }), "spec.networking.serviceCIDR"},
		{"a limit range whose min exceeds its max", vc(func(v *tenancyv1alpha1.VirtualCluster) {
			v.Spec.Policies.LimitRange = tenancyv1alpha1.LimitRangePolicy{Enabled: true,
				Min: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("2Gi")}, Max: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("1Gi")}}
		}), "spec.policies.limitRange.min[ephemeral-storage]"},
		{"a default CPU limit below the API server's request", vc(func(v *tenancyv1alpha1.VirtualCluster) {
			v.Spec.Policies.LimitRange = tenancyv1alpha1.LimitRangePolicy{Enabled: true, Default: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")}}
		}), "spec.policies.limitRange.default[cpu]"},
		{"a max memory below etcd's limit", vc(func(v *tenancyv1alpha1.VirtualCluster) {
			v.Spec.Policies.LimitRange = tenancyv1alpha1.LimitRangePolicy{Enabled: true, Max: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")}}
		}), "spec.policies.limitRange.max[memory]"},
		{"a quota on CPU limits the control plane does not set", vc(func(v *tenancyv1alpha1.VirtualCluster) {
			v.Spec.Policies.ResourceQuota = tenancyv1alpha1.ResourceQuotaPolicy{Enabled: true, Quota: corev1.ResourceList{corev1.ResourceLimitsCPU: resource.MustParse("10")}}
		}), "spec.policies.resourceQuota.quota[limits.cpu]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs, _ := ValidateCreate(tc.vc)
			got := slices.Compact(fields(errs))
			if len(got) != 1 || got[0] != tc.field {
				t.Fatalf("errors on %v (%v), want them on %s only", got, errs, tc.field)
			}
		})
	}
	if errs, _ := ValidateCreate(vc()); len(errs) > 0 {
		t.Fatalf("a plain VirtualCluster is rejected: %v", errs)
	}
	noVolumes := vc(func(v *tenancyv1alpha1.VirtualCluster) {
		v.Spec.ControlPlane.Persistence = tenancyv1alpha1.PersistenceSpec{Enabled: ptr.To(false)}
	})
	if errs, _ := ValidateCreate(noVolumes); len(errs) > 0 {
		t.Fatalf("without persistence the size means nothing: %v", errs)
	}
	multi := vc(mode(ptr.To(true)), func(v *tenancyv1alpha1.VirtualCluster) {
		v.Spec.Sync.FromHost.Nodes.Enabled = true
		v.Spec.Sync.FromHost.CustomResources = map[string]tenancyv1alpha1.CustomResourceFromHost{"clusterissuers.cert-manager.io": {Enabled: true, Scope: tenancyv1alpha1.ClusterScoped}}
	})
	if errs, _ := ValidateCreate(multi); len(errs) > 0 {
		t.Fatalf("multi-namespace mode may read cluster-scoped kinds: %v", errs)
	}
	// Policies that leave room for the control plane, and policies in
	// multi-namespace mode, which never reach its namespace.
	roomy := func(v *tenancyv1alpha1.VirtualCluster) {
		v.Spec.Policies.LimitRange = tenancyv1alpha1.LimitRangePolicy{Enabled: true, Default: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}
		v.Spec.Policies.ResourceQuota = tenancyv1alpha1.ResourceQuotaPolicy{Enabled: true, Quota: corev1.ResourceList{corev1.ResourceLimitsCPU: resource.MustParse("10")}}
	}
	tight := func(v *tenancyv1alpha1.VirtualCluster) {
		v.Spec.Policies.LimitRange = tenancyv1alpha1.LimitRangePolicy{Enabled: true, Default: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")}}
	}
	for name, v := range map[string]*tenancyv1alpha1.VirtualCluster{"roomy": vc(roomy), "tight, multi-namespace": vc(mode(ptr.To(true)), tight)} {
		if errs, _ := ValidateCreate(v); len(errs) > 0 {
			t.Errorf("%s policies rejected: %v", name, errs)
		}
	}
}

func TestUpdate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		old, vc *tenancyv1alpha1.VirtualCluster
		field   string
		detail  string
	}{
		{"service range", vc(), vc(func(v *tenancyv1alpha1.VirtualCluster) { v.Spec.Networking.ServiceCIDR = "10.112.0.0/12" }),
			"spec.networking.serviceCIDR", `cannot change from "10.96.0.0/12" to "10.112.0.0/12"`},
		{"cluster domain", vc(), vc(func(v *tenancyv1alpha1.VirtualCluster) { v.Spec.Networking.ClusterDomain = "tenant.local" }),
			"spec.networking.clusterDomain", `cannot change from "cluster.local" to "tenant.local"`},
		{"downgrade", vc(), vc(func(v *tenancyv1alpha1.VirtualCluster) { v.Spec.ControlPlane.Version = "v1.36.4" }),
			"spec.controlPlane.version", "cannot downgrade from 1.37.2 to 1.36.4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs, _ := ValidateUpdate(tc.old, tc.vc)
			if len(errs) == 0 {
				t.Fatal("allowed")
			}
			if e := errs[0]; e.Field != tc.field || e.Type != field.ErrorTypeForbidden || !strings.Contains(e.Detail, tc.detail) {
				t.Fatalf("first error %q, want Forbidden on %s saying %q", e.Error(), tc.field, tc.detail)
			}
		})
	}
	// A patch upgrade, and a change to a sync setting, are fine.
	if errs, _ := ValidateUpdate(vc(), vc(func(v *tenancyv1alpha1.VirtualCluster) {
		v.Spec.ControlPlane.Version = "v1.37.5"
		v.Spec.Sync.ToHost.Ingresses.Enabled = true
	})); len(errs) > 0 {
		t.Fatalf("allowed update denied: %v", errs)
	}
}

func TestExtraSANs(t *testing.T) {
	for san, ok := range map[string]bool{
		"api.example.com":    true,
		"*.tenants.example":  true,
		"10.0.0.1":           true,
		"fd00::1":            true,
		"2001:db8::10":       true,
		"not_a_host":         false,
		"*.":                 false,
		"api.*.example.com":  false,
		"*example.com":       false,
		"Upper.example.com":  false,
		"10.0.0.0/8":         false,
		"http://example.com": false,
	} {
		errs, _ := ValidateCreate(vc(func(v *tenancyv1alpha1.VirtualCluster) {
			v.Spec.ControlPlane.Service.ExtraSANs = []string{"ok.example", san}
		}))
		switch {
		case ok && len(errs) > 0:
			t.Errorf("%q denied: %v", san, errs)
		case !ok && (len(errs) != 1 || errs[0].Field != "spec.controlPlane.service.extraSANs[1]"):
			t.Errorf("%q: got %v, want one error on spec.controlPlane.service.extraSANs[1]", san, errs)
		}
	}
}

// versionChange is called directly: the versions it must refuse are ones
// validateSpec would refuse anyway, for being unsupported.
func TestVersionChange(t *testing.T) {
	at := func(version string) *tenancyv1alpha1.VirtualCluster {
		return vc(func(v *tenancyv1alpha1.VirtualCluster) { v.Spec.ControlPlane.Version = version })
	}
	for _, tc := range []struct {
		from, to string
		detail   string // empty when allowed
	}{
		{"v1.37.2", "v1.37.2", ""},
		{"v1.37.2", "v1.37.9", ""},
		{"v1.37.2", "v1.37.1", "cannot downgrade"},
		{"v1.37.2", "v1.38.0", ""},
		{"v1.37.2", "v1.39.0", "upgrade one minor version at a time (v1.38 first)"},
		{"v1.37.2", "v1.36.9", "cannot downgrade"},
		{"v1.37.2", "v2.37.2", "in one step"},
		{"v1.37.2", "not-a-version", ""}, // validateSpec's to report
	} {
		errs := versionChange(at(tc.from), at(tc.to))
		switch {
		case tc.detail == "" && len(errs) > 0:
			t.Errorf("%s -> %s denied: %v", tc.from, tc.to, errs)
		case tc.detail != "" && (len(errs) != 1 || !strings.Contains(errs[0].Detail, tc.detail)):
			t.Errorf("%s -> %s: got %v, want one error saying %q", tc.from, tc.to, errs, tc.detail)
		}
	}
}

// An object admitted under older, looser rules can still be edited: only
// errors the change introduces are reported.
func TestUpdateRatchets(t *testing.T) {
	legacy := vc(func(v *tenancyv1alpha1.VirtualCluster) { v.Name = "legacy-x-name" })
	edited := legacy.DeepCopy()
	edited.Spec.Sync.ToHost.Ingresses.Enabled = true
	if errs, _ := ValidateUpdate(legacy, edited); len(errs) > 0 {
		t.Fatalf("an unrelated edit of a legacy object is denied: %v", errs)
	}
	edited.Spec.Sync.FromHost.Nodes.Enabled = true
	if errs, _ := ValidateUpdate(legacy, edited); len(fields(errs)) != 1 || errs[0].Field != "spec.sync.fromHost.nodes.enabled" {
		t.Fatalf("a new error must still be reported: %v", errs)
	}
}

func TestWarnings(t *testing.T) {
	risky := vc(mode(ptr.To(true)), func(v *tenancyv1alpha1.VirtualCluster) {
		v.Spec.ControlPlane.Persistence.Enabled = ptr.To(false)
		v.Spec.Sync.ToHost.Secrets.All = true
		v.Spec.Sync.ToHost.CustomResources = map[string]tenancyv1alpha1.CustomResourceToHost{"certificates.cert-manager.io": {}}
	})
	errs, warns := ValidateCreate(risky)
	if len(errs) > 0 {
		t.Fatalf("risky is legal: %v", errs)
	}
	joined := strings.Join(warns, "\n")
	for _, want := range []string{"persistence.enabled is false", "multi-namespace mode gives the syncer", "secrets.all is true", "[certificates.cert-manager.io] has enabled: false"} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings %q lack %q", joined, want)
		}
	}
	if _, warns := ValidateCreate(vc()); len(warns) > 0 {
		t.Errorf("a plain VirtualCluster gets warnings: %v", warns)
	}
}
