package controlplane

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/ownership"
)

// DefaultCoreDNSImage is the CoreDNS the project builds and tests
// (hack/coredns/go.mod pins the same version).
const DefaultCoreDNSImage = "registry.k8s.io/coredns/coredns:v1.14.7"

// The virtual cluster's DNS server.
const (
	// CoreDNSKubeconfig is the key, in the PKI Secret, of the kubeconfig
	// CoreDNS reads the virtual cluster with, as pki.CoreDNSUser.
	CoreDNSKubeconfig = "coredns.conf"
	// CorefileKey is the key of CoreDNS's configuration in its ConfigMap.
	CorefileKey = "Corefile"
	// DNSPort is where CoreDNS listens: above 1024, so that it needs no
	// capability and passes the restricted Pod Security level. Its Service
	// serves port 53.
	DNSPort        = 1053
	DNSServicePort = 53
	// AnnotationDNSConfigHash on CoreDNS's pod template rolls it when its
	// configuration or credentials change: it reads both only at start.
	AnnotationDNSConfigHash = "nestor.dev/config-hash"

	dnsConfigDir  = "/etc/coredns"
	dnsHealthPort = 8080
	dnsReadyPort  = 8181
)

// ClusterDomain is the virtual cluster's DNS domain.
func ClusterDomain(vc *tenancyv1alpha1.VirtualCluster) string {
	return orDefault(vc.Spec.Networking.ClusterDomain, "cluster.local")
}

// CoreDNSImage is the image of the virtual cluster's CoreDNS.
func CoreDNSImage(vc *tenancyv1alpha1.VirtualCluster) string {
	return orDefault(vc.Spec.ControlPlane.Images.CoreDNS, DefaultCoreDNSImage)
}

// Corefile is CoreDNS's configuration for a virtual cluster of domain:
// the virtual cluster's own names (and reverse lookups of its addresses)
// from its API server, read with the kubeconfig at kubeconfig; everything
// else from the nameservers of CoreDNS's own pod, the host cluster's DNS.
// Pod records (a-b-c-d.<ns>.pod.<domain>) are answered without a lookup,
// as kubeadm's CoreDNS does, so CoreDNS needs no right to read pods.
func Corefile(domain, kubeconfig string) string {
	return fmt.Sprintf(`.:%d {
    errors
    health :%d {
        lameduck 5s
    }
    ready :%d
    kubernetes %s in-addr.arpa ip6.arpa {
        kubeconfig %s
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    forward . /etc/resolv.conf
    cache 30
    loop
    loadbalance
}
`, DNSPort, dnsHealthPort, dnsReadyPort, domain, kubeconfig)
}

// DNSConfigMap holds CoreDNS's Corefile.
func DNSConfigMap(vc *tenancyv1alpha1.VirtualCluster) *corev1.ConfigMap {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	return &corev1.ConfigMap{
		ObjectMeta: ownership.NamespacedMeta(vc, n.DNS),
		Data:       map[string]string{CorefileKey: Corefile(ClusterDomain(vc), dnsConfigDir+"/kubeconfig")},
	}
}

// DNSConfigHash digests what CoreDNS reads at start: its Corefile and its
// kubeconfig.
func DNSConfigHash(corefile string, kubeconfig []byte) string {
	h := sha256.New()
	h.Write([]byte(corefile))
	h.Write([]byte{0})
	h.Write(kubeconfig)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// DNSService is the address the tenant's host pods resolve names at.
func DNSService(vc *tenancyv1alpha1.VirtualCluster) *corev1.Service {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	return &corev1.Service{
		ObjectMeta: ownership.NamespacedMeta(vc, n.DNS),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: ownership.Selector(vc, tenancyv1alpha1.ComponentDNS),
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: DNSServicePort, TargetPort: intstr.FromString("dns"), Protocol: corev1.ProtocolUDP},
				{Name: "dns-tcp", Port: DNSServicePort, TargetPort: intstr.FromString("dns-tcp"), Protocol: corev1.ProtocolTCP},
			},
		},
	}
}

// DNSDeployment runs CoreDNS for the virtual cluster, apart from the
// control plane and the syncer: the tenant's running pods keep resolving
// names (from CoreDNS's cache of the virtual cluster) while either
// restarts or rolls, and CoreDNS gets resources of its own. It talks to no
// host API; its own names, and the names it forwards, come from the host's
// DNS (dnsPolicy ClusterFirst).
func DNSDeployment(vc *tenancyv1alpha1.VirtualCluster, configHash string) *appsv1.Deployment {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	return &appsv1.Deployment{
		ObjectMeta: ownership.NamespacedMeta(vc, n.DNS),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: ownership.Selector(vc, tenancyv1alpha1.ComponentDNS)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      ownership.ComponentLabels(vc, tenancyv1alpha1.ComponentDNS),
					Annotations: map[string]string{AnnotationDNSConfigHash: configHash},
				},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken: ptr.To(false),
					EnableServiceLinks:           ptr.To(false),
					DNSPolicy:                    corev1.DNSClusterFirst,
					SecurityContext:              podSecurityContext(),
					Containers: []corev1.Container{{
						Name:  "coredns",
						Image: CoreDNSImage(vc),
						Args:  []string{"-conf", dnsConfigDir + "/" + CorefileKey},
						Ports: []corev1.ContainerPort{
							{Name: "dns", ContainerPort: DNSPort, Protocol: corev1.ProtocolUDP},
							{Name: "dns-tcp", ContainerPort: DNSPort, Protocol: corev1.ProtocolTCP},
						},
						VolumeMounts:    []corev1.VolumeMount{{Name: "config", MountPath: dnsConfigDir, ReadOnly: true}},
						Resources:       vc.Spec.ControlPlane.Resources.CoreDNS,
						SecurityContext: restricted(),
						LivenessProbe:   dnsProbe("/health", dnsHealthPort, 5),
						ReadinessProbe:  dnsProbe("/ready", dnsReadyPort, 3),
					}},
					// The Corefile and, of the PKI Secret, only CoreDNS's
					// kubeconfig, in one directory.
					Volumes: []corev1.Volume{{
						Name: "config",
						VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
							DefaultMode: ptr.To[int32](0o440),
							Sources: []corev1.VolumeProjection{
								{ConfigMap: &corev1.ConfigMapProjection{
									LocalObjectReference: corev1.LocalObjectReference{Name: n.DNS},
									Items:                []corev1.KeyToPath{{Key: CorefileKey, Path: CorefileKey}},
								}},
								{Secret: &corev1.SecretProjection{
									LocalObjectReference: corev1.LocalObjectReference{Name: n.Certs},
									Items:                []corev1.KeyToPath{{Key: CoreDNSKubeconfig, Path: "kubeconfig"}},
								}},
							},
						}},
					}},
				},
			},
		},
	}
}

func dnsProbe(path string, port int32, failureThreshold int32) *corev1.Probe {
	p := httpProbe(path, port, corev1.URISchemeHTTP, failureThreshold)
	p.PeriodSeconds = 5
	return p
}
