// Package policy builds the host-side guard rails of spec.policies: a
// ResourceQuota, a LimitRange and a NetworkPolicy in each host namespace
// that holds the tenant's workloads.
package policy

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/ownership"
)

// Objects returns, for one host namespace, the policy objects spec.policies
// asks for (desired) and those it does not (unwanted, to be removed if they
// exist). The objects carry an owner reference only in the VirtualCluster's
// own namespace: owner references cannot cross namespaces.
func Objects(vc *tenancyv1alpha1.VirtualCluster, namespace string) (desired, unwanted []client.Object) {
	p := vc.Spec.Policies
	sort := func(on bool, obj client.Object) {
		if on {
			desired = append(desired, obj)
		} else {
			unwanted = append(unwanted, obj)
		}
	}
	sort(p.ResourceQuota.Enabled, ResourceQuota(vc, namespace))
	sort(p.LimitRange.Enabled, LimitRange(vc, namespace))
	sort(p.NetworkPolicy.Enabled, NetworkPolicy(vc, namespace))
	return desired, unwanted
}

func meta(vc *tenancyv1alpha1.VirtualCluster, namespace string) metav1.ObjectMeta {
	name := naming.ForVirtualCluster(vc.Namespace, vc.Name).Policy
	if namespace == vc.Namespace {
		return ownership.NamespacedMeta(vc, name)
	}
	m := ownership.ClusterMeta(vc, name)
	m.Namespace = namespace
	return m
}

// ResourceQuota caps what the tenant's workloads use in namespace.
func ResourceQuota(vc *tenancyv1alpha1.VirtualCluster, namespace string) *corev1.ResourceQuota {
	q := vc.Spec.Policies.ResourceQuota
	return &corev1.ResourceQuota{
		ObjectMeta: meta(vc, namespace),
		Spec:       corev1.ResourceQuotaSpec{Hard: q.Quota, Scopes: q.Scopes},
	}
}

// LimitRange sets container defaults and bounds in namespace.
func LimitRange(vc *tenancyv1alpha1.VirtualCluster, namespace string) *corev1.LimitRange {
	l := vc.Spec.Policies.LimitRange
	return &corev1.LimitRange{
		ObjectMeta: meta(vc, namespace),
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Default:        l.Default,
			DefaultRequest: l.DefaultRequest,
			Max:            l.Max,
			Min:            l.Min,
		}}},
	}
}

// NetworkPolicy lets the tenant's workload pods in namespace talk to each
// other and to their control plane, resolve names, and reach
// outgoingConnections; all else is denied. Policies add up, so a platform
// team can allow more (an ingress controller, say) with a policy of its own.
func NetworkPolicy(vc *tenancyv1alpha1.VirtualCluster, namespace string) *networkingv1.NetworkPolicy {
	vcPods := &metav1.LabelSelector{MatchLabels: map[string]string{tenancyv1alpha1.LabelVirtualCluster: vc.Name}}
	// Peers: the virtual cluster's pods in the VirtualCluster's namespace
	// (control plane, syncer, CoreDNS, single-namespace workloads) and in the
	// tenant's own host namespaces (multi-namespace workloads). CoreDNS is
	// reached here on the port its pod listens on, which is what a policy
	// sees behind its Service's port 53.
	peers := []networkingv1.NetworkPolicyPeer{
		{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: vc.Namespace}},
			PodSelector:       vcPods,
		},
		{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
				tenancyv1alpha1.LabelVirtualCluster:          vc.Name,
				tenancyv1alpha1.LabelVirtualClusterNamespace: vc.Namespace,
			}},
			PodSelector: vcPods,
		},
	}
	egress := []networkingv1.NetworkPolicyEgressRule{
		{To: peers},
		{Ports: []networkingv1.NetworkPolicyPort{
			{Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(intstr.FromInt32(53))},
			{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(53))},
		}},
	}
	if block := vc.Spec.Policies.NetworkPolicy.OutgoingConnections.IPBlock; block != nil {
		egress = append(egress, networkingv1.NetworkPolicyEgressRule{
			To: []networkingv1.NetworkPolicyPeer{{IPBlock: block.DeepCopy()}},
		})
	}
	return &networkingv1.NetworkPolicy{
		ObjectMeta: meta(vc, namespace),
		Spec: networkingv1.NetworkPolicySpec{
			// The tenant's workloads: the virtual cluster's pods that are
			// not Nestor's components (control plane, syncer, CoreDNS, which
			// reaches the virtual API server and the host's DNS).
			PodSelector: metav1.LabelSelector{
				MatchLabels: map[string]string{tenancyv1alpha1.LabelVirtualCluster: vc.Name},
				MatchExpressions: []metav1.LabelSelectorRequirement{{
					Key: tenancyv1alpha1.LabelComponent, Operator: metav1.LabelSelectorOpDoesNotExist,
				}},
			},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: peers}},
			Egress:      egress,
		},
	}
}
