package controlplane

import (
	"maps"
	"net"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/pki"
	"github.com/nestor-dev/nestor/internal/podsecurity"
)

// vc returns a VirtualCluster with the schema's defaults filled in.
func vc(mutate ...func(*tenancyv1alpha1.VirtualCluster)) *tenancyv1alpha1.VirtualCluster {
	v := &tenancyv1alpha1.VirtualCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "vc", Namespace: "team-a", UID: "uid-1"},
		Spec: tenancyv1alpha1.VirtualClusterSpec{
			ControlPlane: tenancyv1alpha1.ControlPlaneSpec{
				Version:     "v1.37.2",
				Replicas:    1,
				Persistence: tenancyv1alpha1.PersistenceSpec{Enabled: ptr.To(true), Size: resource.MustParse("5Gi"), RetentionPolicy: tenancyv1alpha1.RetentionDelete},
				Service:     tenancyv1alpha1.ControlPlaneService{Type: corev1.ServiceTypeClusterIP},
			},
			Networking: tenancyv1alpha1.NetworkingSpec{ServiceCIDR: "10.96.0.0/12", ClusterDomain: "cluster.local"},
		},
	}
	for _, m := range mutate {
		m(v)
	}
	return v
}

func container(t *testing.T, sts *appsv1.StatefulSet, name string) corev1.Container {
	t.Helper()
	for _, c := range sts.Spec.Template.Spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return corev1.Container{}
}

func arg(c corev1.Container, flag string) (string, bool) {
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v, true
		}
	}
	return "", false
}

func TestStatefulSetDefaults(t *testing.T) {
	sts := StatefulSet(vc(), "hash")
	if sts.Name != "vc" || sts.Namespace != "team-a" || *sts.Spec.Replicas != 1 || sts.Spec.ServiceName != "vc-headless" {
		t.Fatalf("metadata/replicas/serviceName: %s/%s %d %s", sts.Namespace, sts.Name, *sts.Spec.Replicas, sts.Spec.ServiceName)
	}
	images := map[string]string{}
	for _, c := range sts.Spec.Template.Spec.Containers {
		images[c.Name] = c.Image
	}
	want := map[string]string{
		"etcd":                    "registry.k8s.io/etcd:3.7.0-0",
		"kube-apiserver":          "registry.k8s.io/kube-apiserver:v1.37.2",
		"kube-controller-manager": "registry.k8s.io/kube-controller-manager:v1.37.2",
	}
	if !maps.Equal(images, want) {
		t.Fatalf("images = %v, want %v", images, want)
	}
	if sts.Spec.Template.Annotations[AnnotationPKIHash] != "hash" {
		t.Error("the PKI hash must be on the pod template, to roll the pods when it changes")
	}
	if got := sts.Spec.Template.Spec.AutomountServiceAccountToken; got == nil || *got {
		t.Error("the control plane must not get a host API token")
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 || sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String() != "5Gi" {
		t.Fatalf("volumeClaimTemplates = %+v", sts.Spec.VolumeClaimTemplates)
	}
	if p := sts.Spec.PersistentVolumeClaimRetentionPolicy; p == nil || p.WhenDeleted != appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
		t.Fatalf("retention policy = %+v, want volumes deleted with the VirtualCluster", p)
	}
	if v, _ := arg(container(t, sts, "etcd"), "--initial-cluster"); v != "vc-0=https://vc-0.vc-headless.team-a.svc:2380" {
		t.Errorf("--initial-cluster = %q", v)
	}
	if v, _ := arg(container(t, sts, "kube-apiserver"), "--service-cluster-ip-range"); v != "10.96.0.0/12" {
		t.Errorf("--service-cluster-ip-range = %q", v)
	}
}

// Every file a component's flags name under the PKI directory must be
// projected into that component's PKI volume, and nothing more.
func TestEachContainerSeesExactlyThePKIFilesItsFlagsName(t *testing.T) {
	sts := StatefulSet(vc(), "hash")
	volumes := map[string][]string{}
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			for _, it := range v.Secret.Items {
				volumes[v.Name] = append(volumes[v.Name], it.Path)
			}
		}
	}
	for _, c := range sts.Spec.Template.Spec.Containers {
		var mounted []string
		for _, m := range c.VolumeMounts {
			if m.MountPath == PKIDir {
				mounted = volumes[m.Name]
			}
		}
		var named []string
		for _, a := range c.Args {
			if _, v, ok := strings.Cut(a, "="); ok {
				if f, ok := strings.CutPrefix(v, PKIDir+"/"); ok {
					named = append(named, f)
				}
			}
		}
		slices.Sort(mounted)
		slices.Sort(named)
		named = slices.Compact(named)
		if !slices.Equal(mounted, named) {
			t.Errorf("%s: projected %v, flags name %v", c.Name, mounted, named)
		}
	}
}

func TestStatefulSetOptions(t *testing.T) {
	sts := StatefulSet(vc(func(v *tenancyv1alpha1.VirtualCluster) {
		v.Spec.ControlPlane.Replicas = 3
		v.Spec.ControlPlane.Persistence = tenancyv1alpha1.PersistenceSpec{
			Enabled: ptr.To(true), Size: resource.MustParse("10Gi"), StorageClassName: ptr.To("fast"), RetentionPolicy: tenancyv1alpha1.RetentionRetain,
		}
		v.Spec.ControlPlane.Images.APIServer = "mirror.example.com/kube-apiserver:v1.37.2"
		v.Spec.ControlPlane.ExtraArgs.APIServer = []string{"--audit-log-maxage=7"}
	}), "hash")

	if *sts.Spec.Replicas != 3 || sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Fatalf("replicas %d, policy %s", *sts.Spec.Replicas, sts.Spec.PodManagementPolicy)
	}
	etcd := container(t, sts, "etcd")
	if v, _ := arg(etcd, "--initial-cluster"); strings.Count(v, "=https://") != 3 || !strings.Contains(v, "vc-2=https://vc-2.vc-headless.team-a.svc:2380") {
		t.Errorf("--initial-cluster = %q", v)
	}
	claim := sts.Spec.VolumeClaimTemplates[0]
	if claim.Spec.Resources.Requests.Storage().String() != "10Gi" || ptr.Deref(claim.Spec.StorageClassName, "") != "fast" {
		t.Errorf("claim = %+v", claim.Spec)
	}
	if sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		t.Error("Retain must keep the volumes")
	}
	api := container(t, sts, "kube-apiserver")
	if api.Image != "mirror.example.com/kube-apiserver:v1.37.2" {
		t.Errorf("image override ignored: %s", api.Image)
	}
	if api.Args[len(api.Args)-1] != "--audit-log-maxage=7" {
		t.Errorf("extra args must come last, to win over ours: %v", api.Args)
	}

	ephemeral := StatefulSet(vc(func(v *tenancyv1alpha1.VirtualCluster) { v.Spec.ControlPlane.Persistence.Enabled = ptr.To(false) }), "hash")
	if len(ephemeral.Spec.VolumeClaimTemplates) != 0 || ephemeral.Spec.PersistentVolumeClaimRetentionPolicy != nil {
		t.Fatal("no persistence, no claims")
	}
	if !slices.ContainsFunc(ephemeral.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "data" && v.EmptyDir != nil }) {
		t.Fatal("without persistence etcd's data lives in an emptyDir")
	}
}

// A container runs as a non-root user; every Secret it mounts must be
// readable by that user, through the pod's fsGroup when the files are not
// world-readable.
func TestMountedSecretsAreReadableByTheContainerUser(t *testing.T) {
	for name, spec := range map[string]corev1.PodSpec{
		"control plane": StatefulSet(vc(), "hash").Spec.Template.Spec,
		"syncer":        SyncerDeployment(vc(), "image").Spec.Template.Spec,
		"dns":           DNSDeployment(vc(), "hash").Spec.Template.Spec,
	} {
		sc := spec.SecurityContext
		if sc == nil || !ptr.Deref(sc.RunAsNonRoot, false) {
			t.Errorf("%s: runs as root", name)
			continue
		}
		for _, v := range spec.Volumes {
			var mode int32
			switch {
			case v.Secret != nil:
				mode = ptr.Deref(v.Secret.DefaultMode, 0o644)
			case v.Projected != nil:
				mode = ptr.Deref(v.Projected.DefaultMode, 0o644)
			default:
				continue
			}
			worldReadable := mode&0o004 != 0
			groupReadable := mode&0o040 != 0 && sc.FSGroup != nil
			if !worldReadable && !groupReadable {
				t.Errorf("%s: volume %s (mode %o) is unreadable to user %d without fsGroup", name, v.Name, mode, ptr.Deref(sc.RunAsUser, -1))
			}
		}
	}
}

func TestServices(t *testing.T) {
	v := vc(func(v *tenancyv1alpha1.VirtualCluster) {
		v.Spec.ControlPlane.Service = tenancyv1alpha1.ControlPlaneService{Type: corev1.ServiceTypeLoadBalancer, Annotations: map[string]string{"lb": "internal"}}
	})
	svc := Service(v)
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Annotations["lb"] != "internal" || svc.Spec.Ports[0].Port != 443 {
		t.Fatalf("service = %+v", svc)
	}
	if got := Endpoint(v, svc); got != "https://vc.team-a.svc:443" {
		t.Errorf("endpoint before the load balancer has an address = %q", got)
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.7"}}
	if got := Endpoint(v, svc); got != "https://203.0.113.7:443" {
		t.Errorf("endpoint = %q", got)
	}
	cfg := PKIConfig(v, svc, "cluster.local")
	if !slices.ContainsFunc(cfg.APIServerIPs, net.ParseIP("203.0.113.7").Equal) {
		t.Error("the load balancer's address must be in the serving certificate")
	}
	for _, name := range []string{"vc", "vc.team-a", "vc.team-a.svc", "vc.team-a.svc.cluster.local", "localhost", "kubernetes.default.svc"} {
		if !slices.Contains(cfg.APIServerDNSNames, name) {
			t.Errorf("serving certificate lacks %s", name)
		}
	}
	if !slices.ContainsFunc(cfg.APIServerIPs, net.ParseIP("10.96.0.1").Equal) {
		t.Error("the virtual kubernetes Service address must be in the serving certificate")
	}
	headless := HeadlessService(v)
	if headless.Spec.ClusterIP != corev1.ClusterIPNone || !headless.Spec.PublishNotReadyAddresses {
		t.Errorf("headless service = %+v", headless.Spec)
	}
}

func TestPKIHashCoversWhatThePodsReadAtStart(t *testing.T) {
	data := map[string][]byte{}
	for _, k := range []string{pki.CACert, pki.EtcdPeerCert, pki.APIServerCert, pki.AdminCert, ControllerManagerKubeconfig} {
		data[k] = []byte(k)
	}
	h := PKIHash(data)
	for k, rolls := range map[string]bool{
		pki.CACert:                  true,
		pki.EtcdPeerCert:            true,
		ControllerManagerKubeconfig: true,
		pki.APIServerCert:           false, // kube-apiserver reloads it
		pki.AdminCert:               false, // no container mounts it
	} {
		changed := maps.Clone(data)
		changed[k] = []byte("renewed")
		if got := PKIHash(changed) != h; got != rolls {
			t.Errorf("renewing %s rolls the pods: %t, want %t", k, got, rolls)
		}
	}
}

func TestSyncerDeployment(t *testing.T) {
	dep := SyncerDeployment(vc(), "ghcr.io/nestor-dev/nestor:v1")
	c := dep.Spec.Template.Spec.Containers[0]
	if c.Image != "ghcr.io/nestor-dev/nestor:v1" || c.Args[0] != "syncer" || dep.Spec.Template.Spec.ServiceAccountName != "vc-vc" {
		t.Fatalf("syncer = %+v", c)
	}
	dep = SyncerDeployment(vc(func(v *tenancyv1alpha1.VirtualCluster) { v.Spec.ControlPlane.Images.Syncer = "mine:1" }), "ghcr.io/nestor-dev/nestor:v1")
	if dep.Spec.Template.Spec.Containers[0].Image != "mine:1" {
		t.Fatal("syncer image override ignored")
	}
}

// The operator's own pods pass the restricted Pod Security Standard, so
// that a platform may label a VirtualCluster's namespace restricted.
func TestTheOperatorsPodsPassRestricted(t *testing.T) {
	restricted := podsecurity.Requested(tenancyv1alpha1.PodSecurityRestricted)
	withoutPersistence := vc(func(v *tenancyv1alpha1.VirtualCluster) { v.Spec.ControlPlane.Persistence.Enabled = ptr.To(false) })
	for name, tmpl := range map[string]corev1.PodTemplateSpec{
		"control plane":                     StatefulSet(vc(), "hash").Spec.Template,
		"control plane without persistence": StatefulSet(withoutPersistence, "hash").Spec.Template,
		"syncer":                            SyncerDeployment(vc(), "ghcr.io/nestor-dev/nestor:v1").Spec.Template,
		"dns":                               DNSDeployment(vc(), "hash").Spec.Template,
	} {
		if violations := restricted.Check(&tmpl.ObjectMeta, &tmpl.Spec); violations != "" {
			t.Errorf("%s: %s", name, violations)
		}
	}
}
