package policy

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/controlplane"
	"github.com/nestor-dev/nestor/internal/ownership"
)

func vc() *tenancyv1alpha1.VirtualCluster {
	return &tenancyv1alpha1.VirtualCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "vc", Namespace: "team-a", UID: "u-1"},
		Spec: tenancyv1alpha1.VirtualClusterSpec{Policies: tenancyv1alpha1.PoliciesSpec{
			ResourceQuota: tenancyv1alpha1.ResourceQuotaPolicy{Enabled: true, Quota: corev1.ResourceList{"pods": resource.MustParse("10")}},
			NetworkPolicy: tenancyv1alpha1.NetworkPolicyPolicy{Enabled: true, OutgoingConnections: tenancyv1alpha1.OutgoingConnections{
				IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"10.0.0.0/8"}},
			}},
		}},
	}
}

func TestObjectsFollowTheSwitches(t *testing.T) {
	desired, unwanted := Objects(vc(), "team-a")
	if len(desired) != 2 || len(unwanted) != 1 {
		t.Fatalf("desired %d, unwanted %d", len(desired), len(unwanted))
	}
	if _, ok := unwanted[0].(*corev1.LimitRange); !ok {
		t.Fatalf("the disabled LimitRange must be unwanted, got %T", unwanted[0])
	}
	for _, obj := range desired {
		if obj.GetName() != "vc-vc" || obj.GetNamespace() != "team-a" || len(obj.GetOwnerReferences()) != 1 {
			t.Errorf("%T: %s/%s owners %v", obj, obj.GetNamespace(), obj.GetName(), obj.GetOwnerReferences())
		}
	}
	// In a tenant namespace of multi-namespace mode, no owner reference can
	// point back across namespaces: labels tie the objects to their owner.
	desired, _ = Objects(vc(), "team-a-tenant")
	for _, obj := range desired {
		if len(obj.GetOwnerReferences()) != 0 || obj.GetLabels()[tenancyv1alpha1.LabelVirtualClusterNamespace] != "team-a" {
			t.Errorf("%T in another namespace: owners %v labels %v", obj, obj.GetOwnerReferences(), obj.GetLabels())
		}
	}
}

func TestNetworkPolicySelectsOnlyTheTenantsWorkloads(t *testing.T) {
	np := NetworkPolicy(vc(), "team-a")
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		labels labels.Set
		want   bool
	}{
		{"tenant pod", labels.Set{tenancyv1alpha1.LabelVirtualCluster: "vc"}, true},
		{"control plane", labels.Set{tenancyv1alpha1.LabelVirtualCluster: "vc", tenancyv1alpha1.LabelComponent: "control-plane"}, false},
		{"syncer", labels.Set{tenancyv1alpha1.LabelVirtualCluster: "vc", tenancyv1alpha1.LabelComponent: "syncer"}, false},
		{"DNS", labels.Set{tenancyv1alpha1.LabelVirtualCluster: "vc", tenancyv1alpha1.LabelComponent: "dns"}, false},
		{"another virtual cluster's pod", labels.Set{tenancyv1alpha1.LabelVirtualCluster: "other"}, false},
		{"a host pod", labels.Set{"app": "web"}, false},
	} {
		if got := sel.Matches(tc.labels); got != tc.want {
			t.Errorf("%s: selected=%t, want %t", tc.name, got, tc.want)
		}
	}
	if len(np.Spec.Egress) != 3 || np.Spec.Egress[2].To[0].IPBlock.CIDR != "0.0.0.0/0" {
		t.Errorf("egress = %+v", np.Spec.Egress)
	}
}

// Tenant pods reach their API server through the control plane's Service,
// whose traffic arrives at the control-plane pods: the egress allows them,
// on every port.
func TestNetworkPolicyLetsTenantPodsReachTheirAPIServer(t *testing.T) {
	v := vc()
	np := NetworkPolicy(v, "team-a-tenant")
	controlPlane := labels.Set(ownership.ComponentLabels(v, tenancyv1alpha1.ComponentControlPlane))
	namespace := labels.Set{corev1.LabelMetadataName: v.Namespace}
	rule := np.Spec.Egress[0]
	if len(rule.Ports) != 0 {
		t.Fatalf("the egress to the virtual cluster's pods is limited to %+v", rule.Ports)
	}
	for _, peer := range rule.To {
		ns, err1 := metav1.LabelSelectorAsSelector(peer.NamespaceSelector)
		pods, err2 := metav1.LabelSelectorAsSelector(peer.PodSelector)
		if err1 == nil && err2 == nil && ns.Matches(namespace) && pods.Matches(controlPlane) {
			return
		}
	}
	t.Errorf("no egress peer selects the control plane's pods: %+v", rule.To)
}

// The tenant's pods reach their virtual cluster's CoreDNS, on the port its
// pod listens on (a policy sees the Service's target), from either mode's
// namespaces; CoreDNS itself is not confined, so it reaches the virtual API
// server and the host's DNS.
func TestTenantPodsReachTheirDNS(t *testing.T) {
	v := vc()
	dns := controlplane.DNSDeployment(v, "hash").Spec.Template
	dnsNamespace := labels.Set{corev1.LabelMetadataName: v.Namespace}
	for _, ns := range []string{v.Namespace, "team-a-tenant"} {
		np := NetworkPolicy(v, ns)
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil {
			t.Fatal(err)
		}
		if sel.Matches(labels.Set(dns.Labels)) {
			t.Errorf("%s: the policy confines CoreDNS", ns)
		}
		for _, proto := range []corev1.Protocol{corev1.ProtocolUDP, corev1.ProtocolTCP} {
			if !egressAllows(t, np, dnsNamespace, labels.Set(dns.Labels), proto, controlplane.DNSPort) {
				t.Errorf("%s: a tenant pod cannot reach CoreDNS on %s %d", ns, proto, controlplane.DNSPort)
			}
		}
		if egressAllows(t, np, labels.Set{corev1.LabelMetadataName: "elsewhere"}, labels.Set(dns.Labels), corev1.ProtocolUDP, controlplane.DNSPort) {
			t.Errorf("%s: the rule that lets tenant pods reach CoreDNS reaches another namespace's pods too", ns)
		}
	}
}

// egressAllows says whether one of np's egress rules lets a selected pod
// reach a pod with podLabels in a namespace with nsLabels on proto/port.
func egressAllows(t *testing.T, np *networkingv1.NetworkPolicy, nsLabels, podLabels labels.Set, proto corev1.Protocol, port int32) bool {
	t.Helper()
	matches := func(s *metav1.LabelSelector, l labels.Set) bool {
		if s == nil {
			return true
		}
		sel, err := metav1.LabelSelectorAsSelector(s)
		if err != nil {
			t.Fatal(err)
		}
		return sel.Matches(l)
	}
	for _, rule := range np.Spec.Egress {
		portOK := len(rule.Ports) == 0
		for _, p := range rule.Ports {
			portOK = portOK || (*p.Protocol == proto && p.Port.IntVal == port)
		}
		peerOK := len(rule.To) == 0
		for _, peer := range rule.To {
			peerOK = peerOK || (peer.IPBlock == nil && peer.NamespaceSelector != nil && matches(peer.NamespaceSelector, nsLabels) && matches(peer.PodSelector, podLabels))
		}
		if portOK && peerOK {
			return true
		}
	}
	return false
}
