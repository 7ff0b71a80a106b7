package localcluster

import (
	"net"
	"slices"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestRewriteArg(t *testing.T) {
	ports := map[int32]int32{6443: 41001, 2379: 41002, 2380: 41003, 10257: 41004}
	for _, tc := range []struct{ arg, want string }{
		{"--secure-port=6443", "--secure-port=41001"},
		{"--secure-port=10257", "--secure-port=41004"},
		{"--port=2379", "--port=41002"},
		{"--secure-port=8443", "--secure-port=8443"},
		{"--etcd-servers=https://127.0.0.1:2379", "--etcd-servers=https://127.0.0.1:41002"},
		{"--listen-client-urls=https://127.0.0.1:2379,http://localhost:2379/", "--listen-client-urls=https://127.0.0.1:41002,http://localhost:41002/"},
		{"--listen-peer-urls=https://[::]:2380", "--listen-peer-urls=https://[::]:41003"},
		{
			"--initial-cluster=vc-0=https://vc-0.vc-headless.ns.svc:2380,vc-1=https://vc-1.vc-headless.ns.svc:2380",
			"--initial-cluster=vc-0=https://vc-0.vc-headless.ns.svc:41003,vc-1=https://vc-1.vc-headless.ns.svc:41003",
		},
		// Numbers that are not a mapped port stay.
		{"--listen-metrics-urls=http://0.0.0.0:2381", "--listen-metrics-urls=http://0.0.0.0:2381"},
		{"--etcd-servers=https://127.0.0.1:23790", "--etcd-servers=https://127.0.0.1:23790"},
		{"--snapshot-count=6443", "--snapshot-count=6443"},
		{"--service-node-port-range=2379-2380", "--service-node-port-range=2379-2380"},
		{"--data-dir=/tmp/root-6443/var/lib/etcd:2379", "--data-dir=/tmp/root-6443/var/lib/etcd:2379"},
		{"--bind-address=127.0.0.1", "--bind-address=127.0.0.1"},
		{"--service-account-issuer=https://kubernetes.default.svc.cluster.local", "--service-account-issuer=https://kubernetes.default.svc.cluster.local"},
		{"--initial-cluster-token=ns-6443", "--initial-cluster-token=ns-6443"},
		{"6443", "6443"},
	} {
		if got := rewriteArg(tc.arg, ports); got != tc.want {
			t.Errorf("rewriteArg(%q) = %q, want %q", tc.arg, got, tc.want)
		}
	}
}

func TestRewriteURLPortsInKubeconfig(t *testing.T) {
	in := "clusters:\n- cluster:\n    certificate-authority-data: LS0tLS1CRUdJTi6443==\n    server: https://127.0.0.1:6443\n  name: vc\n"
	want := "clusters:\n- cluster:\n    certificate-authority-data: LS0tLS1CRUdJTi6443==\n    server: https://127.0.0.1:41001\n  name: vc\n"
	if got := rewriteURLPorts(in, map[int32]int32{6443: 41001}); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestPodPorts(t *testing.T) {
	spec := corev1.PodSpec{Containers: []corev1.Container{
		{
			Args: []string{
				"--listen-client-urls=https://127.0.0.1:2379",
				"--listen-peer-urls=https://0.0.0.0:2380",
				"--initial-cluster=vc-0=https://vc-0.vc-headless.ns.svc:2390",
				"--oidc-issuer-url=https://issuer.example.com:8443",
			},
			Ports:        []corev1.ContainerPort{{Name: "metrics", ContainerPort: 2381}},
			StartupProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("metrics")}}},
		},
		{
			Args:          []string{"--secure-port=10257", "--etcd-servers=https://localhost:2379"},
			LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(10258)}}},
		},
	}}
	// Not 2390 nor 8443: other hosts' ports, which the pod does not serve.
	want := []int32{2379, 2380, 2381, 10257, 10258}
	if got := podPorts(spec); !slices.Equal(got, want) {
		t.Errorf("podPorts = %v, want %v", got, want)
	}
}

func TestFreePorts(t *testing.T) {
	want := []int32{6443, 2379, 2380}
	free, err := freePorts(want)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int32]bool{}
	for _, p := range want {
		local := free[p]
		if local == 0 || seen[local] {
			t.Fatalf("freePorts(%v) = %v: want a distinct port for each", want, free)
		}
		seen[local] = true
		// Free once chosen: the pod can bind it.
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(int(local)))
		if err != nil {
			t.Fatalf("port %d, chosen for %d: %v", local, p, err)
		}
		l.Close()
	}
}
