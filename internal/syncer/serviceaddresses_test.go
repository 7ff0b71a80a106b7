package syncer

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// The host copy asks for what its live copy holds, else for the virtual
// cluster's own addresses outside the bands kept for asked-for ones.
func TestWithAddresses(t *testing.T) {
	const cidr = "10.96.0.0/12"
	svc := func(typ corev1.ServiceType, ip string, nodePorts ...int32) *corev1.Service {
		s := &corev1.Service{Spec: corev1.ServiceSpec{Type: typ, ClusterIP: ip}}
		if ip != "" {
			s.Spec.ClusterIPs = []string{ip}
		}
		for i, np := range nodePorts {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 80 + int32(i), Protocol: corev1.ProtocolTCP, NodePort: np})
		}
		return s
	}
	for _, tc := range []struct {
		name string
		h, v *corev1.Service
		live *corev1.Service
		ask  bool
		want *corev1.Service
	}{
		{name: "a new copy asks for the virtual address",
			h: svc(corev1.ServiceTypeClusterIP, ""), v: svc(corev1.ServiceTypeClusterIP, "10.100.3.4"), ask: true,
			want: svc(corev1.ServiceTypeClusterIP, "10.100.3.4")},
		{name: "the fallback leaves it to the host",
			h: svc(corev1.ServiceTypeClusterIP, ""), v: svc(corev1.ServiceTypeClusterIP, "10.100.3.4"),
			want: svc(corev1.ServiceTypeClusterIP, "")},
		{name: "a live copy keeps its address",
			h: svc(corev1.ServiceTypeClusterIP, ""), v: svc(corev1.ServiceTypeClusterIP, "10.100.3.4"),
			live: svc(corev1.ServiceTypeClusterIP, "10.100.9.9"), ask: true,
			want: svc(corev1.ServiceTypeClusterIP, "10.100.9.9")},
		{name: "an address in the band kept for asked-for ones is not asked for",
			h: svc(corev1.ServiceTypeClusterIP, ""), v: svc(corev1.ServiceTypeClusterIP, "10.96.0.10"), ask: true,
			want: svc(corev1.ServiceTypeClusterIP, "")},
		{name: "the first address above that band is asked for",
			h: svc(corev1.ServiceTypeClusterIP, ""), v: svc(corev1.ServiceTypeClusterIP, "10.96.1.1"), ask: true,
			want: svc(corev1.ServiceTypeClusterIP, "10.96.1.1")},
		{name: "an address outside the range is not asked for",
			h: svc(corev1.ServiceTypeClusterIP, ""), v: svc(corev1.ServiceTypeClusterIP, "192.168.0.20"), ask: true,
			want: svc(corev1.ServiceTypeClusterIP, "")},
		{name: "a headless service asks for none",
			h: svc(corev1.ServiceTypeClusterIP, corev1.ClusterIPNone), v: svc(corev1.ServiceTypeClusterIP, corev1.ClusterIPNone), ask: true,
			want: svc(corev1.ServiceTypeClusterIP, corev1.ClusterIPNone)},
		{name: "an ExternalName service drops its live copy's address",
			h: svc(corev1.ServiceTypeExternalName, ""), v: svc(corev1.ServiceTypeExternalName, ""),
			live: svc(corev1.ServiceTypeClusterIP, "10.100.9.9"), ask: true,
			want: svc(corev1.ServiceTypeExternalName, "")},
		{name: "a service that was an ExternalName asks for its new address",
			h: svc(corev1.ServiceTypeClusterIP, ""), v: svc(corev1.ServiceTypeClusterIP, "10.100.3.4"),
			live: svc(corev1.ServiceTypeExternalName, ""), ask: true,
			want: svc(corev1.ServiceTypeClusterIP, "10.100.3.4")},
		{name: "node ports: the live copy's, else the virtual's outside the kept band",
			h: svc(corev1.ServiceTypeNodePort, "", 0, 0, 0), v: svc(corev1.ServiceTypeNodePort, "10.100.3.4", 31000, 30010, 32000),
			live: svc(corev1.ServiceTypeNodePort, "10.100.9.9", 31500), ask: true,
			want: svc(corev1.ServiceTypeNodePort, "10.100.9.9", 31500, 0, 32000)},
		{name: "node ports of a ClusterIP service are none",
			h: svc(corev1.ServiceTypeClusterIP, "", 0), v: svc(corev1.ServiceTypeClusterIP, "10.100.3.4", 31000), ask: true,
			want: svc(corev1.ServiceTypeClusterIP, "10.100.3.4", 0)},
	} {
		withAddresses(tc.h, tc.v, tc.live, tc.ask, cidr)
		if !equality.Semantic.DeepEqual(tc.h, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, tc.h.Spec, tc.want.Spec)
		}
	}
}

// The bands kept for asked-for values are kube-apiserver's.
func TestStaticBands(t *testing.T) {
	for _, tc := range []struct {
		cidr, ip string
		want     bool
	}{
		{"10.96.0.0/12", "10.96.1.0", false}, // the 256th address: the last kept
		{"10.96.0.0/12", "10.96.1.1", true},
		{"10.0.0.0/24", "10.0.0.16", false}, // 256/16 = 16 kept
		{"10.0.0.0/24", "10.0.0.17", true},
		{"10.0.0.0/28", "10.0.0.2", true},   // a range of 16 keeps none
		{"10.0.0.0/26", "10.0.0.16", false}, // 64/16 = 4, at least 16
		{"10.0.0.0/26", "10.0.0.17", true},
		{"fd00::/108", "fd00::101", true},
		{"fd00::/108", "fd00::100", false},
		{"10.96.0.0/12", "10.95.255.255", false},
		{"10.96.0.0/12", "fd00::1", false},
		{"", "10.96.5.5", false},
	} {
		if got := dynamicIP(tc.cidr, tc.ip); got != tc.want {
			t.Errorf("dynamicIP(%q, %q) = %v, want %v", tc.cidr, tc.ip, got, tc.want)
		}
	}
	for port, want := range map[int32]bool{0: false, 30000: false, 30085: false, 30086: true, 32767: true, 32768: false} {
		if got := dynamicPort(port); got != want {
			t.Errorf("dynamicPort(%d) = %v, want %v", port, got, want)
		}
	}
}
