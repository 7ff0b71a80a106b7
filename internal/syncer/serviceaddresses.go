package syncer

import (
	"math/big"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
)

// The host copy of a Service asks the host for the addresses the virtual
// cluster gave the Service: the cluster IP and node ports its creator was
// told, and any client read since, then answer on the host too, and the
// Service is not re-created (README, "Cluster IPs"). The host may refuse
// them (another Service there holds one, or its ranges differ): then the
// copy is sent again without them, the host chooses, and the virtual
// Service comes to show the host's choice.

// Node ports the virtual API server gives: the default range, which it
// runs with.
const nodePortBase, nodePortSize = 30000, 2768

// withAddresses makes host copy h of virtual service v ask for the
// addresses of live, the copy on the host now, which cannot change, and,
// where live has none and ask is set, for v's own, unless those lie in the
// part of their range that an API server keeps for addresses asked for by
// name: a tenant's chosen address could take one the host's own Services
// are to be given there. cidr is the virtual cluster's service range.
func withAddresses(h, v, live *corev1.Service, ask bool, cidr string) {
	if h.Spec.Type != corev1.ServiceTypeExternalName && h.Spec.ClusterIP != corev1.ClusterIPNone {
		switch {
		case live != nil && live.Spec.ClusterIP != "" && live.Spec.ClusterIP != corev1.ClusterIPNone:
			h.Spec.ClusterIP, h.Spec.ClusterIPs = live.Spec.ClusterIP, live.Spec.ClusterIPs
		case ask && len(v.Spec.ClusterIPs) == 1 && v.Spec.ClusterIP == v.Spec.ClusterIPs[0] && dynamicIP(cidr, v.Spec.ClusterIP):
			h.Spec.ClusterIP, h.Spec.ClusterIPs = v.Spec.ClusterIP, []string{v.Spec.ClusterIP}
		}
	}
	if h.Spec.Type != corev1.ServiceTypeNodePort && h.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return
	}
	for i := range h.Spec.Ports {
		p := &h.Spec.Ports[i]
		if live != nil {
			if lp := portOf(live.Spec.Ports, p.Port, p.Protocol); lp != nil && lp.NodePort != 0 {
				p.NodePort = lp.NodePort
				continue
			}
		}
		if vp := portOf(v.Spec.Ports, p.Port, p.Protocol); ask && vp != nil && dynamicPort(vp.NodePort) {
			p.NodePort = vp.NodePort
		}
	}
}

// portOf is the port of ports with the given number and protocol, or nil.
func portOf(ports []corev1.ServicePort, port int32, protocol corev1.Protocol) *corev1.ServicePort {
	for i := range ports {
		if ports[i].Port == port && ports[i].Protocol == protocol {
			return &ports[i]
		}
	}
	return nil
}

// dynamicIP reports whether ip lies in cidr above the addresses an API
// server keeps for Services that ask for one by name: the first sixteenth
// of the range after its network address, at least 16 and at most 256
// (kube-apiserver's allocator).
func dynamicIP(cidr, ip string) bool {
	prefix, err1 := netip.ParsePrefix(cidr)
	addr, err2 := netip.ParseAddr(ip)
	if err1 != nil || err2 != nil || !prefix.Contains(addr) {
		return false
	}
	prefix = prefix.Masked()
	size := new(big.Int).Lsh(big.NewInt(1), uint(addr.BitLen()-prefix.Bits()))
	offset := new(big.Int).Sub(new(big.Int).SetBytes(addr.AsSlice()), new(big.Int).SetBytes(prefix.Addr().AsSlice()))
	return offset.Cmp(big.NewInt(staticBand(size, 16, 256))) > 0
}

// dynamicPort reports whether port is a node port the virtual API server
// gives of its own accord: in its range, above the ports kept for Services
// that ask for one (the first thirty-second, at least 16 and at most 128).
func dynamicPort(port int32) bool {
	band := staticBand(big.NewInt(nodePortSize), 32, 128)
	return int64(port) >= nodePortBase+band && int64(port) < nodePortBase+nodePortSize
}

// staticBand is how much of a range of size an API server's allocator
// keeps for asked-for values: size/step, at least 16 and at most max, none
// of a range of 16 or fewer.
func staticBand(size *big.Int, step, max int64) int64 {
	band := new(big.Int).Quo(size, big.NewInt(step))
	switch {
	case size.Cmp(big.NewInt(16)) <= 0:
		return 0
	case band.Cmp(big.NewInt(16)) < 0:
		return 16
	case band.Cmp(big.NewInt(max)) > 0:
		return max
	}
	return band.Int64()
}
