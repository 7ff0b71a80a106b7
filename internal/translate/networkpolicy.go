package translate

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

// NetworkPolicy is the host copy of virtual policy v. Host namespaces do
// not carry the virtual namespaces' labels, so a peer's namespaceSelector is
// resolved against namespaces, the virtual namespaces and their labels:
// the peer becomes one per matching namespace, selecting the copies of that
// namespace's pods. Its pod selectors select copies only, never a host pod.
func (c Context) NetworkPolicy(v *networkingv1.NetworkPolicy, namespaces map[string]map[string]string) *networkingv1.NetworkPolicy {
	h := &networkingv1.NetworkPolicy{ObjectMeta: c.Meta(kindNetworkPolicy, v)}
	spec := v.Spec.DeepCopy()
	spec.PodSelector = *c.podSelector(&spec.PodSelector, v.Namespace)
	for i := range spec.Ingress {
		spec.Ingress[i].From = c.peers(spec.Ingress[i].From, v.Namespace, namespaces)
	}
	for i := range spec.Egress {
		spec.Egress[i].To = c.peers(spec.Egress[i].To, v.Namespace, namespaces)
	}
	h.Spec = *spec
	return h
}

// podSelector narrows sel (nil or empty: every pod) to the copies of
// virtual namespace ns's pods.
func (c Context) podSelector(sel *metav1.LabelSelector, ns string) *metav1.LabelSelector {
	out := &metav1.LabelSelector{}
	if sel != nil {
		out = sel.DeepCopy()
	}
	out.MatchLabels = withoutReserved(out.MatchLabels)
	maps.Copy(out.MatchLabels, c.Markers(ns))
	return out
}

func (c Context) peers(peers []networkingv1.NetworkPolicyPeer, ns string, namespaces map[string]map[string]string) []networkingv1.NetworkPolicyPeer {
	if len(peers) == 0 {
		return peers // no peers: every source or destination, as in the virtual cluster
	}
	var out []networkingv1.NetworkPolicyPeer
	for _, p := range peers {
		switch {
		case p.IPBlock != nil:
			out = append(out, p)
		case p.NamespaceSelector == nil:
			out = append(out, c.peerIn(ns, p.PodSelector))
		default:
			sel, err := metav1.LabelSelectorAsSelector(p.NamespaceSelector)
			matched := false
			for _, name := range slices.Sorted(maps.Keys(namespaces)) {
				if err == nil && sel.Matches(labels.Set(namespaces[name])) {
					out = append(out, c.peerIn(name, p.PodSelector))
					matched = true
				}
			}
			if !matched {
				// Dropping the peer could leave the rule with none, which
				// allows everything: keep one that matches nothing.
				out = append(out, networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{
					MatchLabels: map[string]string{tenancyv1alpha1.LabelVirtualNamespace: ""},
				}})
			}
		}
	}
	return out
}

// peerIn selects the copies of virtual namespace ns's pods that podSel
// selects.
func (c Context) peerIn(ns string, podSel *metav1.LabelSelector) networkingv1.NetworkPolicyPeer {
	p := networkingv1.NetworkPolicyPeer{PodSelector: c.podSelector(podSel, ns)}
	if c.Names.MultiNamespace() {
		p.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{
			corev1.LabelMetadataName: c.Names.HostNamespace(ns),
		}}
	}
	return p
}
