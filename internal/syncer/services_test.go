package syncer

import (
	"encoding/json"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Only a refusal of the address itself makes the syncer give it up.
func TestIPRefused(t *testing.T) {
	services := schema.GroupKind{Kind: "Service"}
	invalid := func(path *field.Path) error {
		return apierrors.NewInvalid(services, "web", field.ErrorList{field.Invalid(path, "10.0.0.5", "provided IP is already allocated")})
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"the address is taken", invalid(field.NewPath("spec", "clusterIPs").Index(0)), true},
		{"the address is outside the range", invalid(field.NewPath("spec", "clusterIP")), true},
		{"another field is invalid", invalid(field.NewPath("spec", "ports").Index(0)), false},
		{"a policy refuses it", apierrors.NewForbidden(schema.GroupResource{Resource: "services"}, "web", errors.New("denied")), false},
		{"the API server is away", errors.New("connection refused"), false},
		{"no error", nil, false},
	} {
		if got := ipRefused(tc.err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A node port refusal is one of a port's node port, and nothing else.
func TestNodePortRefused(t *testing.T) {
	services := schema.GroupKind{Kind: "Service"}
	invalid := func(path *field.Path) error {
		return apierrors.NewInvalid(services, "web", field.ErrorList{field.Invalid(path, 30080, "provided port is already allocated")})
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"the port is taken", invalid(field.NewPath("spec", "ports").Index(1).Child("nodePort")), true},
		{"another field of the port", invalid(field.NewPath("spec", "ports").Index(0).Child("port")), false},
		{"the address", invalid(field.NewPath("spec", "clusterIP")), false},
		{"a policy refuses it", apierrors.NewForbidden(schema.GroupResource{Resource: "services"}, "web", errors.New("denied")), false},
		{"no error", nil, false},
	} {
		if got := nodePortRefused(tc.err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A virtual port takes the node port of the host port of its port and
// protocol; a port the host gave none keeps its own.
func TestHostNodePorts(t *testing.T) {
	port := func(p int32, proto corev1.Protocol, node int32) corev1.ServicePort {
		return corev1.ServicePort{Port: p, Protocol: proto, NodePort: node}
	}
	for _, tc := range []struct {
		name          string
		virtual, host []corev1.ServicePort
		want          []corev1.ServicePort
		changed       bool
	}{
		{"the host's replaces the virtual cluster's",
			[]corev1.ServicePort{port(80, corev1.ProtocolTCP, 30001)}, []corev1.ServicePort{port(80, corev1.ProtocolTCP, 31500)},
			[]corev1.ServicePort{port(80, corev1.ProtocolTCP, 31500)}, true},
		{"matched by port and protocol, not position",
			[]corev1.ServicePort{port(53, corev1.ProtocolUDP, 30001), port(53, corev1.ProtocolTCP, 30002)},
			[]corev1.ServicePort{port(53, corev1.ProtocolTCP, 31002), port(53, corev1.ProtocolUDP, 31001)},
			[]corev1.ServicePort{port(53, corev1.ProtocolUDP, 31001), port(53, corev1.ProtocolTCP, 31002)}, true},
		{"already the host's", []corev1.ServicePort{port(80, corev1.ProtocolTCP, 31500)}, []corev1.ServicePort{port(80, corev1.ProtocolTCP, 31500)},
			[]corev1.ServicePort{port(80, corev1.ProtocolTCP, 31500)}, false},
		{"the host gave none (a ClusterIP copy not yet changed)", []corev1.ServicePort{port(80, corev1.ProtocolTCP, 30001)}, []corev1.ServicePort{port(80, corev1.ProtocolTCP, 0)},
			[]corev1.ServicePort{port(80, corev1.ProtocolTCP, 30001)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := hostNodePorts(tc.virtual, tc.host)
			if !equality.Semantic.DeepEqual(got, tc.want) || changed != tc.changed {
				t.Errorf("got %v, %v; want %v, %v", got, changed, tc.want, tc.changed)
			}
		})
	}
}

// The record holds everything the tenant set, the host's address, and the
// UID of the Service it replaces, and reads back as it was written.
func TestRecreationRecord(t *testing.T) {
	v := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: "ns1", UID: "old", ResourceVersion: "7", Generation: 2,
			Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"note": "kept"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "owner"}},
		},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"}, ClusterIP: "10.0.200.1", ClusterIPs: []string{"10.0.200.1"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80}},
		},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "203.0.113.1"}}}},
	}
	again := recreation(v, "10.0.0.5")
	want := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: "ns1", UID: "old",
			Labels: v.Labels, Annotations: v.Annotations, OwnerReferences: v.OwnerReferences,
		},
		Spec: corev1.ServiceSpec{
			Selector: v.Spec.Selector, ClusterIP: "10.0.0.5", ClusterIPs: []string{"10.0.0.5"}, Ports: v.Spec.Ports,
		},
	}
	if !equality.Semantic.DeepEqual(again, want) {
		t.Fatalf("recreation\n got %+v\nwant %+v", again, want)
	}
	if v.Spec.ClusterIP != "10.0.200.1" {
		t.Error("recreation changed the virtual Service")
	}
	record, err := json.Marshal(again)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeRestore(string(record))
	if err != nil || !equality.Semantic.DeepEqual(back, want) {
		t.Errorf("read back %+v, %v; want %+v", back, err, want)
	}
	if _, err := decodeRestore("{"); err == nil {
		t.Error("a malformed record reads back")
	}
}
