package translate

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nestor-dev/nestor/internal/syncerconfig"
)

// AnnotationHostIP records, on a stand-in Node, the host address its
// tenant pods report (their status.hostIP): the node's own address is
// the syncer's kubelet API.
const AnnotationHostIP = "nestor.dev/host-ip"

// ReasonStandIn is the reason of a stand-in Node's Ready condition.
const ReasonStandIn = "HostPodsRunning"

// StandInNode is the virtual cluster's Node for host node name when the
// syncer may not read the host's nodes (README, "Nodes"): what the host
// copies of the tenant's pods tell of it (its name, the address they
// report, its InternalIP), Ready since they run there, and the syncer's
// kubelet API as its kubelet's address. since is when it was first shown,
// which its condition keeps.
func StandInNode(name, hostIP string, kubelet syncerconfig.KubeletEndpoint, since metav1.Time) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: showMeta(&metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}}, "", name),
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: ReasonStandIn,
				Message:           "This virtual cluster's pods run on host node " + name + "; the syncer shows it without reading the host's nodes.",
				LastHeartbeatTime: since, LastTransitionTime: since,
			}},
		},
	}
	var host []corev1.NodeAddress
	if hostIP != "" {
		n.Annotations[AnnotationHostIP] = hostIP
		host = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: hostIP}}
	}
	kubeletAddress(n, kubelet, host)
	return n
}

// NodeFromHost is the virtual cluster's Node for host node h, which the
// syncer may read (multi-namespace mode with spec.sync.fromHost.nodes):
// h's labels, taints, capacity, conditions, addresses and node info, with
// the syncer's kubelet API as its kubelet's address.
func NodeFromHost(h *corev1.Node, kubelet syncerconfig.KubeletEndpoint) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: showMeta(h, "", h.Name),
		Spec:       corev1.NodeSpec{Taints: h.Spec.Taints, Unschedulable: h.Spec.Unschedulable},
		Status:     *h.Status.DeepCopy(),
	}
	// What the kubelet reports of its images and volumes is the host's.
	n.Status.Images, n.Status.VolumesInUse, n.Status.VolumesAttached = nil, nil, nil
	kubeletAddress(n, kubelet, h.Status.Addresses)
	return n
}

// kubeletAddress gives n the addresses a kubelet of the virtual cluster
// would: the host node's own, at which its node ports and pods' host ports
// answer (hostAddresses), and an InternalDNS address leading to the
// syncer's kubelet API, which the virtual API server prefers for a
// kubelet (the control plane's --kubelet-preferred-address-types) and
// reaches at the daemon endpoint port. A host InternalDNS address, which
// the API server would take for the kubelet's, is left out.
func kubeletAddress(n *corev1.Node, kubelet syncerconfig.KubeletEndpoint, hostAddresses []corev1.NodeAddress) {
	var addresses []corev1.NodeAddress
	if kubelet.Address != "" {
		addresses = append(addresses, corev1.NodeAddress{Type: corev1.NodeInternalDNS, Address: kubelet.Address})
	}
	hasHostname := false
	for _, a := range hostAddresses {
		if a.Type == corev1.NodeInternalDNS {
			continue
		}
		hasHostname = hasHostname || a.Type == corev1.NodeHostName
		addresses = append(addresses, a)
	}
	if !hasHostname {
		addresses = append(addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: n.Name})
	}
	n.Status.Addresses = addresses
	n.Status.DaemonEndpoints = corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: kubelet.Port}}
}
