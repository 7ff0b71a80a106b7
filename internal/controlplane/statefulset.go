// Package controlplane builds the workloads of a virtual cluster: the
// StatefulSet running etcd, kube-apiserver and kube-controller-manager, the
// Services in front of it, and the syncer's Deployment. Every function is
// pure: same VirtualCluster in, same objects out.
package controlplane

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/ownership"
	"github.com/nestor-dev/nestor/internal/pki"
)

// Paths inside the control-plane containers.
const (
	PKIDir      = "/etc/nestor/pki"
	EtcdDataDir = "/var/lib/etcd"

	// ControllerManagerKubeconfig is the key, in the PKI Secret, of the
	// kubeconfig kube-controller-manager uses to reach its API server.
	ControllerManagerKubeconfig = "controller-manager.conf"

	// AnnotationPKIHash on the pod template rolls the control plane when a
	// certificate is re-issued: etcd and kube-controller-manager do not reload
	// theirs.
	AnnotationPKIHash = "nestor.dev/pki-hash"
)

// Ports of the control plane.
const (
	APIServerPort         = 6443
	ServicePort           = 443
	EtcdClientPort        = 2379
	EtcdPeerPort          = 2380
	EtcdMetricsPort       = 2381
	ControllerManagerPort = 10257
)

// DefaultEtcdImage is the etcd that Kubernetes v1.37 is released with.
const DefaultEtcdImage = "registry.k8s.io/etcd:3.7.0-0"

// nonRootUser is the distroless "nonroot" user; the control plane needs no root.
const nonRootUser = 65532

// disabledControllers are the kube-controller-manager controllers that act on
// nodes or volumes: in a virtual cluster the host does that work, and, for
// example, the node-lifecycle controller would evict the tenant's pods
// because no kubelet of the virtual cluster's Nodes sends heartbeats. The
// pod garbage collector runs: the syncer shows the Node of every pod it
// binds before it binds it, until the node's last pod is gone (README,
// "Nodes").
var disabledControllers = []string{
	"node-ipam-controller",
	"node-lifecycle-controller",
	"taint-eviction-controller",
	"device-taint-eviction-controller",
	"ttl-controller",
	"persistentvolume-attach-detach-controller",
	"persistentvolume-binder-controller",
	"persistentvolume-expander-controller",
	"ephemeral-volume-controller",
}

// Images returns the images of the control plane's containers.
func Images(vc *tenancyv1alpha1.VirtualCluster, syncerImage string) (etcd, apiServer, controllerManager, syncer string) {
	img := vc.Spec.ControlPlane.Images
	version := Version(vc)
	etcd = orDefault(img.Etcd, DefaultEtcdImage)
	apiServer = orDefault(img.APIServer, "registry.k8s.io/kube-apiserver:"+version)
	controllerManager = orDefault(img.ControllerManager, "registry.k8s.io/kube-controller-manager:"+version)
	syncer = orDefault(img.Syncer, syncerImage)
	return etcd, apiServer, controllerManager, syncer
}

// Version is the Kubernetes version of the control plane.
func Version(vc *tenancyv1alpha1.VirtualCluster) string {
	return orDefault(vc.Spec.ControlPlane.Version, tenancyv1alpha1.DefaultKubernetesVersion)
}

// Replicas of the control plane.
func Replicas(vc *tenancyv1alpha1.VirtualCluster) int32 {
	if r := vc.Spec.ControlPlane.Replicas; r > 0 {
		return r
	}
	return 1
}

// EtcdClaims is how many claims the StatefulSet's claim template makes:
// one per replica with persistence on, none without.
func EtcdClaims(vc *tenancyv1alpha1.VirtualCluster) int32 {
	if !vc.Spec.ControlPlane.Persistence.IsEnabled() {
		return 0
	}
	return Replicas(vc)
}

func orDefault(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// PodDNSName is the stable DNS name of control-plane replica i.
func PodDNSName(vc *tenancyv1alpha1.VirtualCluster, i int32) string {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	return fmt.Sprintf("%s-%d.%s.%s.svc", n.ControlPlane, i, n.HeadlessService, vc.Namespace)
}

// StatefulSet builds the control-plane StatefulSet. pkiHash changes whenever
// a certificate does, and rolls the pods.
func StatefulSet(vc *tenancyv1alpha1.VirtualCluster, pkiHash string) *appsv1.StatefulSet {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	cp := vc.Spec.ControlPlane
	etcdImage, apiServerImage, cmImage, _ := Images(vc, "")
	podLabels := ownership.ComponentLabels(vc, tenancyv1alpha1.ComponentControlPlane)

	sts := &appsv1.StatefulSet{
		ObjectMeta: ownership.NamespacedMeta(vc, n.ControlPlane),
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(Replicas(vc)),
			ServiceName:         n.HeadlessService,
			PodManagementPolicy: appsv1.ParallelPodManagement, // etcd members must start together to form a quorum
			Selector:            &metav1.LabelSelector{MatchLabels: ownership.Selector(vc, tenancyv1alpha1.ComponentControlPlane)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      podLabels,
					Annotations: map[string]string{AnnotationPKIHash: pkiHash},
				},
				Spec: corev1.PodSpec{
					// The control plane talks to no host API.
					AutomountServiceAccountToken: ptr.To(false),
					EnableServiceLinks:           ptr.To(false),
					SecurityContext:              podSecurityContext(),
					Containers: []corev1.Container{
						etcdContainer(vc, etcdImage),
						apiServerContainer(vc, apiServerImage),
						controllerManagerContainer(vc, cmImage),
					},
					Volumes: []corev1.Volume{
						pkiVolume("etcd-pki", n.Certs, etcdPKI),
						pkiVolume("apiserver-pki", n.Certs, apiServerPKI),
						pkiVolume("controller-manager-pki", n.Certs, controllerManagerPKI),
					},
				},
			},
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
		},
	}

	if cp.Persistence.IsEnabled() {
		size := cp.Persistence.Size
		if size.IsZero() {
			size = resource.MustParse("5Gi")
		}
		sts.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{
			ObjectMeta: metav1.ObjectMeta{Name: naming.EtcdVolume, Labels: ownership.Labels(vc)},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: cp.Persistence.StorageClassName,
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
				// Defaults of the API server, spelled out: the list is atomic,
				// and a difference would rewrite it on every reconcile.
				VolumeMode: ptr.To(corev1.PersistentVolumeFilesystem),
			},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
		}}
		retention := appsv1.DeletePersistentVolumeClaimRetentionPolicyType
		if cp.Persistence.RetentionPolicy == tenancyv1alpha1.RetentionRetain {
			retention = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
		}
		sts.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenDeleted: retention,
			WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		}
	} else {
		sts.Spec.Template.Spec.Volumes = append(sts.Spec.Template.Spec.Volumes, corev1.Volume{
			Name:         naming.EtcdVolume,
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
		})
	}
	return sts
}

// The keys of the PKI Secret each container sees: those its flags name.
var (
	etcdPKI      = []string{pki.EtcdCACert, pki.EtcdServerCert, pki.EtcdServerKey, pki.EtcdPeerCert, pki.EtcdPeerKey}
	apiServerPKI = []string{
		pki.CACert, pki.APIServerCert, pki.APIServerKey,
		pki.EtcdCACert, pki.APIServerEtcdClientCert, pki.APIServerEtcdClientKey,
		pki.FrontProxyCACert, pki.FrontProxyClientCert, pki.FrontProxyClientKey,
		pki.ServiceAccountKey, pki.ServiceAccountPub,
		pki.KubeletClientCert, pki.KubeletClientKey,
	}
	controllerManagerPKI = []string{pki.CACert, pki.CAKey, pki.ServiceAccountKey, ControllerManagerKubeconfig}
)

// pkiVolume projects only the listed keys of the PKI Secret, so each
// container sees the keys it needs and no others.
func pkiVolume(name, secret string, keys []string) corev1.Volume {
	items := make([]corev1.KeyToPath, 0, len(keys))
	for _, k := range keys {
		items = append(items, corev1.KeyToPath{Key: k, Path: k})
	}
	return corev1.Volume{
		Name: name,
		VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName:  secret,
			Items:       items,
			DefaultMode: ptr.To[int32](0o440),
		}},
	}
}

func pkiPath(key string) string { return PKIDir + "/" + key }

func etcdContainer(vc *tenancyv1alpha1.VirtualCluster, image string) corev1.Container {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	peers := make([]string, 0, Replicas(vc))
	for i := range Replicas(vc) {
		peers = append(peers, fmt.Sprintf("%s-%d=https://%s:%d", n.ControlPlane, i, PodDNSName(vc, i), EtcdPeerPort))
	}
	self := fmt.Sprintf("$(POD_NAME).%s.%s.svc", n.HeadlessService, vc.Namespace)
	args := []string{
		"--name=$(POD_NAME)",
		"--data-dir=" + EtcdDataDir + "/data",
		// Each member serves only its own pod's kube-apiserver.
		fmt.Sprintf("--listen-client-urls=https://127.0.0.1:%d", EtcdClientPort),
		fmt.Sprintf("--advertise-client-urls=https://127.0.0.1:%d", EtcdClientPort),
		fmt.Sprintf("--listen-peer-urls=https://0.0.0.0:%d", EtcdPeerPort),
		fmt.Sprintf("--initial-advertise-peer-urls=https://%s:%d", self, EtcdPeerPort),
		"--initial-cluster=" + strings.Join(peers, ","),
		"--initial-cluster-state=new",
		"--initial-cluster-token=" + vc.Namespace + "-" + vc.Name,
		fmt.Sprintf("--listen-metrics-urls=http://0.0.0.0:%d", EtcdMetricsPort),
		"--client-cert-auth=true",
		"--trusted-ca-file=" + pkiPath(pki.EtcdCACert),
		"--cert-file=" + pkiPath(pki.EtcdServerCert),
		"--key-file=" + pkiPath(pki.EtcdServerKey),
		"--peer-client-cert-auth=true",
		"--peer-trusted-ca-file=" + pkiPath(pki.EtcdCACert),
		"--peer-cert-file=" + pkiPath(pki.EtcdPeerCert),
		"--peer-key-file=" + pkiPath(pki.EtcdPeerKey),
		"--snapshot-count=10000",
	}
	return corev1.Container{
		Name:    "etcd",
		Image:   image,
		Command: []string{"etcd"},
		Args:    append(args, vc.Spec.ControlPlane.ExtraArgs.Etcd...),
		Env: []corev1.EnvVar{{
			Name:      "POD_NAME",
			ValueFrom: fieldRef("metadata.name"),
		}},
		Ports: []corev1.ContainerPort{
			{Name: "etcd-peer", ContainerPort: EtcdPeerPort, Protocol: corev1.ProtocolTCP},
			{Name: "etcd-metrics", ContainerPort: EtcdMetricsPort, Protocol: corev1.ProtocolTCP},
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "etcd-pki", MountPath: PKIDir, ReadOnly: true},
			{Name: naming.EtcdVolume, MountPath: EtcdDataDir},
		},
		Resources:       vc.Spec.ControlPlane.Resources.Etcd,
		SecurityContext: restricted(),
		StartupProbe:    httpProbe("/readyz", EtcdMetricsPort, corev1.URISchemeHTTP, 60),
		LivenessProbe:   httpProbe("/livez", EtcdMetricsPort, corev1.URISchemeHTTP, 8),
		ReadinessProbe:  httpProbe("/readyz", EtcdMetricsPort, corev1.URISchemeHTTP, 3),
	}
}

func apiServerContainer(vc *tenancyv1alpha1.VirtualCluster, image string) corev1.Container {
	net := vc.Spec.Networking
	domain := ClusterDomain(vc)
	args := []string{
		"--advertise-address=$(POD_IP)",
		// The syncer, not the API server, points the virtual "kubernetes"
		// Service at something the tenant's host pods can reach.
		"--endpoint-reconciler-type=none",
		// No node-lifecycle controller runs (disabledControllers) to lift
		// the not-ready taint this plugin puts on every new Node, which would
		// keep the syncer's Nodes, Ready as they are, tainted for good.
		"--disable-admission-plugins=TaintNodesByCondition",
		"--bind-address=0.0.0.0",
		fmt.Sprintf("--secure-port=%d", APIServerPort),
		"--allow-privileged=true",
		"--authorization-mode=RBAC",
		"--profiling=false",
		fmt.Sprintf("--etcd-servers=https://127.0.0.1:%d", EtcdClientPort),
		"--etcd-cafile=" + pkiPath(pki.EtcdCACert),
		"--etcd-certfile=" + pkiPath(pki.APIServerEtcdClientCert),
		"--etcd-keyfile=" + pkiPath(pki.APIServerEtcdClientKey),
		"--client-ca-file=" + pkiPath(pki.CACert),
		"--tls-cert-file=" + pkiPath(pki.APIServerCert),
		"--tls-private-key-file=" + pkiPath(pki.APIServerKey),
		"--service-account-issuer=https://kubernetes.default.svc." + domain,
		"--service-account-key-file=" + pkiPath(pki.ServiceAccountPub),
		"--service-account-signing-key-file=" + pkiPath(pki.ServiceAccountKey),
		"--service-cluster-ip-range=" + orDefault(net.ServiceCIDR, "10.96.0.0/12"),
		"--requestheader-client-ca-file=" + pkiPath(pki.FrontProxyCACert),
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + pkiPath(pki.FrontProxyClientCert),
		"--proxy-client-key-file=" + pkiPath(pki.FrontProxyClientKey),
		// A Node's kubelet is the syncer's kubelet API, at the Node's
		// InternalDNS address; its InternalIP is the host node's, where
		// node ports answer (README, "Nodes"). The API server proves itself to it
		// with this certificate; it does not check the syncer's, which the
		// syncer makes itself at start (internal/syncer/kubelet.go).
		"--kubelet-client-certificate=" + pkiPath(pki.KubeletClientCert),
		"--kubelet-client-key=" + pkiPath(pki.KubeletClientKey),
		"--kubelet-preferred-address-types=InternalDNS",
	}
	return corev1.Container{
		Name:    "kube-apiserver",
		Image:   image,
		Command: []string{"kube-apiserver"},
		Args:    append(args, vc.Spec.ControlPlane.ExtraArgs.APIServer...),
		Env: []corev1.EnvVar{{
			Name:      "POD_IP",
			ValueFrom: fieldRef("status.podIP"),
		}},
		Ports: []corev1.ContainerPort{{Name: "https", ContainerPort: APIServerPort, Protocol: corev1.ProtocolTCP}},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "apiserver-pki", MountPath: PKIDir, ReadOnly: true},
		},
		Resources:       vc.Spec.ControlPlane.Resources.APIServer,
		SecurityContext: restricted(),
		StartupProbe:    httpProbe("/livez", APIServerPort, corev1.URISchemeHTTPS, 60),
		LivenessProbe:   httpProbe("/livez", APIServerPort, corev1.URISchemeHTTPS, 8),
		ReadinessProbe:  httpProbe("/readyz", APIServerPort, corev1.URISchemeHTTPS, 3),
	}
}

func controllerManagerContainer(vc *tenancyv1alpha1.VirtualCluster, image string) corev1.Container {
	kubeconfig := pkiPath(ControllerManagerKubeconfig)
	controllers := "--controllers=*"
	for _, c := range disabledControllers {
		controllers += ",-" + c
	}
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		// Its own CA instead of the API server's
		// extension-apiserver-authentication ConfigMap: kube-controller-manager
		// reads that at start, and exits while the API server has not yet
		// bootstrapped the RBAC that lets it (twice at every boot).
		"--authentication-skip-lookup=true",
		"--client-ca-file=" + pkiPath(pki.CACert),
		"--bind-address=0.0.0.0",
		fmt.Sprintf("--secure-port=%d", ControllerManagerPort),
		"--cluster-name=" + vc.Name,
		"--cluster-signing-cert-file=" + pkiPath(pki.CACert),
		"--cluster-signing-key-file=" + pkiPath(pki.CAKey),
		"--root-ca-file=" + pkiPath(pki.CACert),
		"--service-account-private-key-file=" + pkiPath(pki.ServiceAccountKey),
		"--use-service-account-credentials=true",
		"--leader-elect=true",
		"--profiling=false",
		controllers,
	}
	return corev1.Container{
		Name:    "kube-controller-manager",
		Image:   image,
		Command: []string{"kube-controller-manager"},
		Args:    append(args, vc.Spec.ControlPlane.ExtraArgs.ControllerManager...),
		VolumeMounts: []corev1.VolumeMount{
			{Name: "controller-manager-pki", MountPath: PKIDir, ReadOnly: true},
		},
		Resources:       vc.Spec.ControlPlane.Resources.ControllerManager,
		SecurityContext: restricted(),
		StartupProbe:    httpProbe("/healthz", ControllerManagerPort, corev1.URISchemeHTTPS, 60),
		LivenessProbe:   httpProbe("/healthz", ControllerManagerPort, corev1.URISchemeHTTPS, 8),
	}
}

// fieldRef reads a field of the pod. The API version is the API server's
// default, spelled out because a fieldRef is atomic.
func fieldRef(path string) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}
}

// podSecurityContext runs a pod of Nestor's as the non-root user, its
// mounted Secrets (group-readable only) readable through its group.
func podSecurityContext() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To[int64](nonRootUser),
		RunAsGroup:     ptr.To[int64](nonRootUser),
		FSGroup:        ptr.To[int64](nonRootUser),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// restricted is a container security context that passes the "restricted"
// Pod Security Standard.
func restricted() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

func httpProbe(path string, port int32, scheme corev1.URIScheme, failureThreshold int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path:   path,
			Port:   intstr.FromInt32(port),
			Scheme: scheme,
		}},
		PeriodSeconds:    10,
		TimeoutSeconds:   5,
		FailureThreshold: failureThreshold,
	}
}
