package translate

import (
	"net"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// A ClusterService is a Service of the virtual cluster's own, which leads
// to a host Service Nestor runs for it: the API server's and the DNS's
// (README, "The kubernetes Service"). The syncer shows it at the host
// Service's cluster IP and writes its Endpoints and EndpointSlice, which
// name that address, not the pods behind it: they hold while those pods
// move. It is never copied to the host.
type ClusterService struct {
	Namespace, Name string
	Ports           []corev1.ServicePort
	Labels          map[string]string
	// MadeByAPIServer says the virtual API server makes the Service, and
	// the syncer only re-creates it at the host's address; the syncer
	// makes the others.
	MadeByAPIServer bool
}

// The virtual cluster's own Services.
var (
	// APIServerService is "kubernetes" in default, which the virtual API
	// server makes and, run without an endpoint reconciler, leaves the
	// endpoints of to the syncer. Its port is the control plane Service's.
	APIServerService = ClusterService{
		Namespace: metav1.NamespaceDefault, Name: "kubernetes", MadeByAPIServer: true,
		Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}},
	}
	// DNSService is "kube-dns" in kube-system, where tools look for a
	// cluster's DNS, under the labels kubeadm's has.
	DNSService = ClusterService{
		Namespace: metav1.NamespaceSystem, Name: "kube-dns",
		Ports: []corev1.ServicePort{
			{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
			{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP},
		},
		Labels: map[string]string{"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"},
	}
	ClusterServices = []ClusterService{APIServerService, DNSService}
)

// ClusterServiceOf is the ClusterService at namespace/name, if one is.
func ClusterServiceOf(namespace, name string) (ClusterService, bool) {
	for _, s := range ClusterServices {
		if s.Namespace == namespace && s.Name == name {
			return s, true
		}
	}
	return ClusterService{}, false
}

// Service is s at cluster IP ip, as the syncer makes it.
func (s ClusterService) Service(ip string) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name, Labels: s.Labels},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: ip, ClusterIPs: []string{ip}},
	}
	for _, p := range s.Ports {
		p.TargetPort = intstr.FromInt32(p.Port)
		svc.Spec.Ports = append(svc.Spec.Ports, p)
	}
	return svc
}

// Endpoints are s's Endpoints and EndpointSlice, naming the host Service
// at ip. The Endpoints are not mirrored into a second slice, as the API
// server's own are not.
func (s ClusterService) Endpoints(ip string) (*corev1.Endpoints, *discoveryv1.EndpointSlice) {
	meta := metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name}
	subset := corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{{IP: ip}}}
	family := discoveryv1.AddressTypeIPv4
	if parsed := net.ParseIP(ip); parsed != nil && parsed.To4() == nil {
		family = discoveryv1.AddressTypeIPv6
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  *meta.DeepCopy(),
		AddressType: family,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
		}},
	}
	for _, p := range s.Ports {
		subset.Ports = append(subset.Ports, corev1.EndpointPort{Name: p.Name, Port: p.Port, Protocol: p.Protocol})
		slice.Ports = append(slice.Ports, discoveryv1.EndpointPort{Name: ptr.To(p.Name), Port: ptr.To(p.Port), Protocol: ptr.To(p.Protocol)})
	}
	ep := &corev1.Endpoints{ObjectMeta: *meta.DeepCopy(), Subsets: []corev1.EndpointSubset{subset}}
	ep.Labels = map[string]string{discoveryv1.LabelSkipMirror: "true"}
	slice.Labels = map[string]string{discoveryv1.LabelServiceName: s.Name}
	return ep, slice
}
