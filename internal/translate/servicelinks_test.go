package translate

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestServiceLinks(t *testing.T) {
	svc := func(name, ip string, ports ...corev1.ServicePort) corev1.Service {
		return corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{ClusterIP: ip, Ports: ports}}
	}
	env := func(kv ...string) []corev1.EnvVar {
		var out []corev1.EnvVar
		for i := 0; i < len(kv); i += 2 {
			out = append(out, corev1.EnvVar{Name: kv[i], Value: kv[i+1]})
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		services []corev1.Service
		want     []corev1.EnvVar
	}{
		{"one port, unnamed, protocol defaulted", []corev1.Service{svc("web", "10.96.0.7", corev1.ServicePort{Port: 80})}, env(
			"WEB_SERVICE_HOST", "10.96.0.7", "WEB_SERVICE_PORT", "80",
			"WEB_PORT", "tcp://10.96.0.7:80",
			"WEB_PORT_80_TCP", "tcp://10.96.0.7:80", "WEB_PORT_80_TCP_PROTO", "tcp", "WEB_PORT_80_TCP_PORT", "80", "WEB_PORT_80_TCP_ADDR", "10.96.0.7",
		)},
		{"named ports, dashes, UDP, the first port for the service's own", []corev1.Service{svc("my-dns", "10.96.0.10",
			corev1.ServicePort{Name: "dns-udp", Port: 53, Protocol: corev1.ProtocolUDP},
			corev1.ServicePort{Name: "metrics", Port: 9153, Protocol: corev1.ProtocolTCP})}, env(
			"MY_DNS_SERVICE_HOST", "10.96.0.10", "MY_DNS_SERVICE_PORT", "53",
			"MY_DNS_SERVICE_PORT_DNS_UDP", "53", "MY_DNS_SERVICE_PORT_METRICS", "9153",
			"MY_DNS_PORT", "udp://10.96.0.10:53",
			"MY_DNS_PORT_53_UDP", "udp://10.96.0.10:53", "MY_DNS_PORT_53_UDP_PROTO", "udp", "MY_DNS_PORT_53_UDP_PORT", "53", "MY_DNS_PORT_53_UDP_ADDR", "10.96.0.10",
			"MY_DNS_PORT_9153_TCP", "tcp://10.96.0.10:9153", "MY_DNS_PORT_9153_TCP_PROTO", "tcp", "MY_DNS_PORT_9153_TCP_PORT", "9153", "MY_DNS_PORT_9153_TCP_ADDR", "10.96.0.10",
		)},
		{"IPv6", []corev1.Service{svc("v6", "fd00::7", corev1.ServicePort{Port: 443})}, env(
			"V6_SERVICE_HOST", "fd00::7", "V6_SERVICE_PORT", "443",
			"V6_PORT", "tcp://[fd00::7]:443",
			"V6_PORT_443_TCP", "tcp://[fd00::7]:443", "V6_PORT_443_TCP_PROTO", "tcp", "V6_PORT_443_TCP_PORT", "443", "V6_PORT_443_TCP_ADDR", "fd00::7",
		)},
		{"headless, ExternalName and portless services add nothing", []corev1.Service{
			svc("headless", corev1.ClusterIPNone, corev1.ServicePort{Port: 80}),
			svc("external", "", corev1.ServicePort{Port: 80}),
			svc("portless", "10.96.0.8"),
		}, nil},
		{"ordered by name", []corev1.Service{svc("b", "10.96.0.2", corev1.ServicePort{Port: 2}), svc("a", "10.96.0.1", corev1.ServicePort{Port: 1})}, env(
			"A_SERVICE_HOST", "10.96.0.1", "A_SERVICE_PORT", "1", "A_PORT", "tcp://10.96.0.1:1",
			"A_PORT_1_TCP", "tcp://10.96.0.1:1", "A_PORT_1_TCP_PROTO", "tcp", "A_PORT_1_TCP_PORT", "1", "A_PORT_1_TCP_ADDR", "10.96.0.1",
			"B_SERVICE_HOST", "10.96.0.2", "B_SERVICE_PORT", "2", "B_PORT", "tcp://10.96.0.2:2",
			"B_PORT_2_TCP", "tcp://10.96.0.2:2", "B_PORT_2_TCP_PROTO", "tcp", "B_PORT_2_TCP_PORT", "2", "B_PORT_2_TCP_ADDR", "10.96.0.2",
		)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ServiceLinks(tc.services); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestWithServiceLinks(t *testing.T) {
	h := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init"}},
		Containers: []corev1.Container{{Name: "app", Env: []corev1.EnvVar{
			{Name: "WEB_SERVICE_HOST", Value: "mine"}, {Name: "URL", Value: "http://$(WEB_SERVICE_HOST)"},
		}}},
	}}
	WithServiceLinks(h, []corev1.EnvVar{{Name: "WEB_SERVICE_HOST", Value: "10.96.0.7"}, {Name: "WEB_SERVICE_PORT", Value: "80"}})
	if got := h.Spec.InitContainers[0].Env; !reflect.DeepEqual(got, []corev1.EnvVar{
		{Name: "WEB_SERVICE_HOST", Value: "10.96.0.7"}, {Name: "WEB_SERVICE_PORT", Value: "80"}}) {
		t.Errorf("init container: %v", got)
	}
	// The container's own variable wins; the links come first.
	if got := h.Spec.Containers[0].Env; !reflect.DeepEqual(got, []corev1.EnvVar{
		{Name: "WEB_SERVICE_PORT", Value: "80"}, {Name: "WEB_SERVICE_HOST", Value: "mine"}, {Name: "URL", Value: "http://$(WEB_SERVICE_HOST)"}}) {
		t.Errorf("container: %v", got)
	}
}
