package translate

import (
	"net"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ServiceLinks are the variables a kubelet gives each container of a pod
// with enableServiceLinks on (the default) for every Service of its
// namespace that has a cluster IP: <NAME>_SERVICE_HOST, <NAME>_SERVICE_PORT
// and <NAME>_SERVICE_PORT_<PORT NAME>, and the Docker-link variables
// <NAME>_PORT and, per port, <NAME>_PORT_<PORT>_<PROTOCOL> with its _PROTO,
// _PORT and _ADDR. A host pod gets enableServiceLinks off (the host's
// Services are not the tenant's), so the syncer writes these for the
// virtual namespace's Services, which it passes with the cluster IPs the
// host serves them at. The order is the Services' names'.
func ServiceLinks(services []corev1.Service) []corev1.EnvVar {
	services = slices.Clone(services)
	slices.SortFunc(services, func(a, b corev1.Service) int { return strings.Compare(a.Name, b.Name) })
	var env []corev1.EnvVar
	add := func(name, value string) { env = append(env, corev1.EnvVar{Name: name, Value: value}) }
	for _, svc := range services {
		ip := svc.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
			continue
		}
		prefix := linkName(svc.Name)
		add(prefix+"_SERVICE_HOST", ip)
		add(prefix+"_SERVICE_PORT", strconv.Itoa(int(svc.Spec.Ports[0].Port)))
		for _, p := range svc.Spec.Ports {
			if p.Name != "" {
				add(prefix+"_SERVICE_PORT_"+linkName(p.Name), strconv.Itoa(int(p.Port)))
			}
		}
		add(prefix+"_PORT", linkURL(ip, svc.Spec.Ports[0]))
		for _, p := range svc.Spec.Ports {
			port := strconv.Itoa(int(p.Port))
			protocol := protocolOf(p)
			portPrefix := prefix + "_PORT_" + port + "_" + string(protocol)
			add(portPrefix, linkURL(ip, p))
			add(portPrefix+"_PROTO", strings.ToLower(string(protocol)))
			add(portPrefix+"_PORT", port)
			add(portPrefix+"_ADDR", ip)
		}
	}
	return env
}

// linkName is a Service's or port's name as a variable name's part.
func linkName(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

func protocolOf(p corev1.ServicePort) corev1.Protocol {
	if p.Protocol == "" {
		return corev1.ProtocolTCP
	}
	return p.Protocol
}

func linkURL(ip string, p corev1.ServicePort) string {
	return strings.ToLower(string(protocolOf(p))) + "://" + net.JoinHostPort(ip, strconv.Itoa(int(p.Port)))
}

// WithServiceLinks puts links ahead of each container's own variables in
// host pod h, as a kubelet sets them before a container's: a variable of
// the container's own of the same name wins, and its values may refer to
// them as $(NAME).
func WithServiceLinks(h *corev1.Pod, links []corev1.EnvVar) {
	for _, containers := range [][]corev1.Container{h.Spec.InitContainers, h.Spec.Containers} {
		for i := range containers {
			containers[i].Env = withDefaults(containers[i].Env, links)
		}
	}
}
