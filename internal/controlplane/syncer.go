package controlplane

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/ownership"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
)

// Paths and ports inside the syncer's container.
const (
	SyncerConfigDir     = "/etc/nestor/syncer"
	SyncerKubeconfigDir = "/etc/nestor/virtual"
	SyncerProbePort     = 8081
	SyncerMetricsPort   = 8080
	// SyncerKubeletPort serves the kubelet API of the virtual cluster's
	// Nodes, on the syncer's container and its Service.
	SyncerKubeletPort = 10250
)

// SyncerService is the address of the syncer's kubelet API, which every
// Node of the virtual cluster gives (README, "Nodes"): a Service, not the
// syncer pod's IP, so that the address outlives the syncer's pod and the
// Nodes need no rewrite when it is replaced.
func SyncerService(vc *tenancyv1alpha1.VirtualCluster) *corev1.Service {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	return &corev1.Service{
		ObjectMeta: ownership.NamespacedMeta(vc, n.Syncer),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: ownership.Selector(vc, tenancyv1alpha1.ComponentSyncer),
			Ports: []corev1.ServicePort{{
				Name:       "kubelet",
				Port:       SyncerKubeletPort,
				TargetPort: intstr.FromString("kubelet"),
				Protocol:   corev1.ProtocolTCP,
			}},
		},
	}
}

// SyncerConfigMap holds the rendered syncer configuration. The syncer reads
// it from a mounted file and picks up changes without a restart.
func SyncerConfigMap(vc *tenancyv1alpha1.VirtualCluster, rendered string) *corev1.ConfigMap {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	return &corev1.ConfigMap{
		ObjectMeta: ownership.NamespacedMeta(vc, n.Syncer),
		Data:       map[string]string{syncerconfig.FileName: rendered},
	}
}

// SyncerDeployment runs the operator's own image with the syncer subcommand,
// as the syncer's ServiceAccount, against the virtual cluster's admin
// kubeconfig.
func SyncerDeployment(vc *tenancyv1alpha1.VirtualCluster, defaultImage string) *appsv1.Deployment {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	_, _, _, image := Images(vc, defaultImage)
	return &appsv1.Deployment{
		ObjectMeta: ownership.NamespacedMeta(vc, n.Syncer),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: ownership.Selector(vc, tenancyv1alpha1.ComponentSyncer)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: ownership.ComponentLabels(vc, tenancyv1alpha1.ComponentSyncer)},
				Spec: corev1.PodSpec{
					ServiceAccountName: n.SyncerServiceAccount,
					EnableServiceLinks: ptr.To(false),
					SecurityContext:    podSecurityContext(),
					Containers: []corev1.Container{{
						Name:  "syncer",
						Image: image,
						Args: []string{
							"syncer",
							"--config=" + SyncerConfigDir + "/" + syncerconfig.FileName,
							"--virtual-kubeconfig=" + SyncerKubeconfigDir + "/config",
							"--leader-elect=true",
						},
						Ports: []corev1.ContainerPort{
							{Name: "metrics", ContainerPort: SyncerMetricsPort, Protocol: corev1.ProtocolTCP},
							{Name: "probes", ContainerPort: SyncerProbePort, Protocol: corev1.ProtocolTCP},
							{Name: "kubelet", ContainerPort: SyncerKubeletPort, Protocol: corev1.ProtocolTCP},
						},
						VolumeMounts: []corev1.VolumeMount{
							{Name: "config", MountPath: SyncerConfigDir, ReadOnly: true},
							{Name: "virtual-kubeconfig", MountPath: SyncerKubeconfigDir, ReadOnly: true},
						},
						Resources:       vc.Spec.ControlPlane.Resources.Syncer,
						SecurityContext: restricted(),
						LivenessProbe:   syncerProbe("/healthz"),
						ReadinessProbe:  syncerProbe("/readyz"),
					}},
					Volumes: []corev1.Volume{
						{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
							LocalObjectReference: corev1.LocalObjectReference{Name: n.Syncer},
						}}},
						{Name: "virtual-kubeconfig", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
							SecretName:  n.Kubeconfig,
							Items:       []corev1.KeyToPath{{Key: KubeconfigKey, Path: "config"}},
							DefaultMode: ptr.To[int32](0o440),
						}}},
					},
				},
			},
		},
	}
}

func syncerProbe(path string) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: path, Port: intstr.FromString("probes"), Scheme: corev1.URISchemeHTTP,
		}},
		PeriodSeconds:  10,
		TimeoutSeconds: 5,
	}
}
