package translate

import (
	"net"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// APIServerServiceName is the virtual cluster's own API Service, in
// namespace default.
const APIServerServiceName = "kubernetes"

// apiServerPort is the port of the virtual "kubernetes" Service, as the
// API server makes it, and of the control plane's Service on the host.
var apiServerPort = corev1.EndpointPort{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}

// APIServerEndpoints are the virtual cluster's "kubernetes" Endpoints and
// EndpointSlice, which its API server, run without an endpoint reconciler,
// leaves to the syncer: the control plane's Service on the host, at ip, is
// what reaches the API server from a tenant's host pod. They name that
// Service's address, not its pods', so they hold while the control plane's
// pods move. The Endpoints are not mirrored into a second slice, as the
// API server's own are not.
func APIServerEndpoints(ip string) (*corev1.Endpoints, *discoveryv1.EndpointSlice) {
	meta := metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: APIServerServiceName}
	ep := &corev1.Endpoints{ObjectMeta: *meta.DeepCopy(), Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: ip}},
		Ports:     []corev1.EndpointPort{apiServerPort},
	}}}
	ep.Labels = map[string]string{discoveryv1.LabelSkipMirror: "true"}
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
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To(apiServerPort.Name), Port: ptr.To(apiServerPort.Port), Protocol: ptr.To(apiServerPort.Protocol)}},
	}
	slice.Labels = map[string]string{discoveryv1.LabelServiceName: APIServerServiceName}
	return ep, slice
}
