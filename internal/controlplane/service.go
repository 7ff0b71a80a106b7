package controlplane

import (
	"fmt"
	"net"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/ownership"
	"github.com/nestor-dev/nestor/internal/pki"
)

// Service is the virtual cluster's API endpoint on the host: 443 to the API
// servers' 6443.
func Service(vc *tenancyv1alpha1.VirtualCluster) *corev1.Service {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	svc := &corev1.Service{
		ObjectMeta: ownership.NamespacedMeta(vc, n.ControlPlane),
		Spec: corev1.ServiceSpec{
			Type:     serviceType(vc),
			Selector: ownership.Selector(vc, tenancyv1alpha1.ComponentControlPlane),
			Ports: []corev1.ServicePort{{
				Name:       "https",
				Port:       ServicePort,
				TargetPort: intstr.FromString("https"),
				Protocol:   corev1.ProtocolTCP,
			}},
		},
	}
	if a := vc.Spec.ControlPlane.Service.Annotations; len(a) > 0 {
		svc.Annotations = a
	}
	return svc
}

func serviceType(vc *tenancyv1alpha1.VirtualCluster) corev1.ServiceType {
	if t := vc.Spec.ControlPlane.Service.Type; t != "" {
		return t
	}
	return corev1.ServiceTypeClusterIP
}

// HeadlessService gives each control-plane pod the stable DNS name its etcd
// peers find it by. Peers must find each other before they are ready.
func HeadlessService(vc *tenancyv1alpha1.VirtualCluster) *corev1.Service {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	return &corev1.Service{
		ObjectMeta: ownership.NamespacedMeta(vc, n.HeadlessService),
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			PublishNotReadyAddresses: true,
			Selector:                 ownership.Selector(vc, tenancyv1alpha1.ComponentControlPlane),
			Ports: []corev1.ServicePort{{
				Name:       "etcd-peer",
				Port:       EtcdPeerPort,
				TargetPort: intstr.FromString("etcd-peer"),
				Protocol:   corev1.ProtocolTCP,
			}},
		},
	}
}

// InClusterEndpoint is the API's URL from inside the host cluster.
func InClusterEndpoint(vc *tenancyv1alpha1.VirtualCluster) string {
	return fmt.Sprintf("https://%s.%s.svc:%d", naming.ForVirtualCluster(vc.Namespace, vc.Name).ControlPlane, vc.Namespace, ServicePort)
}

// Endpoint is the API's URL as users should reach it: the load balancer's
// address once it has one, the in-cluster name otherwise.
func Endpoint(vc *tenancyv1alpha1.VirtualCluster, svc *corev1.Service) string {
	if svc != nil && svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, in := range svc.Status.LoadBalancer.Ingress {
			host := in.Hostname
			if host == "" {
				host = in.IP
			}
			if host != "" {
				return "https://" + net.JoinHostPort(host, fmt.Sprint(ServicePort))
			}
		}
	}
	return InClusterEndpoint(vc)
}

// ClusterIP is the address svc, the API's Service, has in the host
// cluster, "" if it has none (yet).
func ClusterIP(svc *corev1.Service) string {
	if ip := svc.Spec.ClusterIP; ip != corev1.ClusterIPNone {
		return ip
	}
	return ""
}

// PKIConfig lists the names the certificates must carry. svc, when known,
// adds its cluster IPs (tenant pods reach the API server there) and its
// load-balancer addresses to the serving certificate.
func PKIConfig(vc *tenancyv1alpha1.VirtualCluster, svc *corev1.Service, hostClusterDomain string) pki.Config {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	domain := ClusterDomain(vc)
	cfg := pki.Config{
		APIServerDNSNames: []string{
			"localhost",
			n.ControlPlane,
			n.ControlPlane + "." + vc.Namespace,
			n.ControlPlane + "." + vc.Namespace + ".svc",
			n.ControlPlane + "." + vc.Namespace + ".svc." + hostClusterDomain,
			"kubernetes",
			"kubernetes.default",
			"kubernetes.default.svc",
			"kubernetes.default.svc." + domain,
		},
		APIServerIPs: []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback},
		EtcdDNSNames: []string{"*." + n.HeadlessService + "." + vc.Namespace + ".svc"},
	}
	for i := range Replicas(vc) {
		cfg.EtcdDNSNames = append(cfg.EtcdDNSNames, PodDNSName(vc, i))
	}
	if ip, ok := firstServiceIP(orDefault(vc.Spec.Networking.ServiceCIDR, "10.96.0.0/12")); ok {
		cfg.APIServerIPs = append(cfg.APIServerIPs, ip)
	}
	for _, san := range vc.Spec.ControlPlane.Service.ExtraSANs {
		cfg = addSAN(cfg, san)
	}
	if svc != nil {
		for _, ip := range svc.Spec.ClusterIPs {
			if ip != corev1.ClusterIPNone {
				cfg = addSAN(cfg, ip)
			}
		}
		for _, in := range svc.Status.LoadBalancer.Ingress {
			cfg = addSAN(cfg, in.IP)
			cfg = addSAN(cfg, in.Hostname)
		}
	}
	return cfg
}

func addSAN(cfg pki.Config, san string) pki.Config {
	switch ip := net.ParseIP(san); {
	case san == "":
	case ip != nil:
		cfg.APIServerIPs = append(cfg.APIServerIPs, ip)
	default:
		cfg.APIServerDNSNames = append(cfg.APIServerDNSNames, san)
	}
	return cfg
}

// firstServiceIP is the address the virtual cluster's "kubernetes" Service
// gets: the first of the service range.
func firstServiceIP(cidr string) (net.IP, bool) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, false
	}
	return net.IP(p.Masked().Addr().Next().AsSlice()), true
}
