package localcluster

import (
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// urlPort matches a URL up to its port, capturing the host and the port. The
// host is a name, an IPv4 address or a bracketed IPv6 address; a scheme is
// required, so that only the port of a URL matches, not a digit elsewhere.
var urlPort = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://(\[[0-9A-Fa-f:.]+\]|[^/?#:@\[\]\s,]+):([0-9]+)`)

// podPorts lists, sorted, the ports spec's containers listen on or call
// themselves at: those they declare, probe by number, set with a port flag,
// or name in a URL of a loopback or unspecified host.
func podPorts(spec corev1.PodSpec) []int32 {
	set := map[int32]bool{}
	add := func(s string) {
		if p, err := strconv.ParseInt(s, 10, 32); err == nil {
			set[int32(p)] = true
		}
	}
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			set[p.ContainerPort] = true
		}
		for _, probe := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
			if port, ok := probePort(probe); ok {
				set[port] = true
			}
		}
		for _, arg := range c.Args {
			if flag, value, ok := strings.Cut(arg, "="); ok && isPortFlag(flag) {
				add(value)
				continue
			}
			for _, m := range urlPort.FindAllStringSubmatch(arg, -1) {
				if ip := net.ParseIP(strings.Trim(m[1], "[]")); m[1] == "localhost" || ip != nil && (ip.IsLoopback() || ip.IsUnspecified()) {
					add(m[2])
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// probePort is the port a probe names by number; a named port is one the
// container declares.
func probePort(p *corev1.Probe) (int32, bool) {
	var port intstr.IntOrString
	switch {
	case p == nil:
		return 0, false
	case p.HTTPGet != nil:
		port = p.HTTPGet.Port
	case p.TCPSocket != nil:
		port = p.TCPSocket.Port
	}
	return port.IntVal, port.Type == intstr.Int && port.IntVal != 0
}

// isPortFlag reports whether flag, such as --secure-port, takes a port.
func isPortFlag(flag string) bool {
	name := strings.TrimLeft(flag, "-")
	return name != flag && (name == "port" || strings.HasSuffix(name, "-port"))
}

// freePorts maps each of ports to a distinct port that is free on this
// machine. The listeners stay open until all are chosen, so that no two
// ports get the same one; another process may still take one before the
// pod binds it, a race envtest accepts too.
func freePorts(ports []int32) (map[int32]int32, error) {
	free := make(map[int32]int32, len(ports))
	for _, p := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port for port %d: %w", p, err)
		}
		defer l.Close()
		free[p] = int32(l.Addr().(*net.TCPAddr).Port)
	}
	return free, nil
}

// rewriteArg moves the ports of a container argument: the value of a port
// flag (--secure-port=6443) and the ports of URLs (https://127.0.0.1:2379,
// also inside lists such as etcd's --initial-cluster). Ports not in ports,
// and numbers anywhere else, stay as they are.
func rewriteArg(arg string, ports map[int32]int32) string {
	if flag, value, ok := strings.Cut(arg, "="); ok && isPortFlag(flag) {
		if local, ok := lookupPort(ports, value); ok {
			return flag + "=" + local
		}
		return arg
	}
	return rewriteURLPorts(arg, ports)
}

// rewriteURLPorts moves the ports of the URLs in s, such as a kubeconfig's
// server.
func rewriteURLPorts(s string, ports map[int32]int32) string {
	return urlPort.ReplaceAllStringFunc(s, func(url string) string {
		i := strings.LastIndexByte(url, ':')
		if local, ok := lookupPort(ports, url[i+1:]); ok {
			return url[:i+1] + local
		}
		return url
	})
}

func lookupPort(ports map[int32]int32, s string) (string, bool) {
	p, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return "", false
	}
	local, ok := ports[int32(p)]
	return strconv.Itoa(int(local)), ok
}
