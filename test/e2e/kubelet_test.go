//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nestor-dev/nestor/internal/translate"
)

// kubeletAPI is the scenario of the kubelet API through the syncer (both
// modes): the virtual cluster shows the node its pods run on, and the real
// kubectl, with the virtual cluster's kubeconfig, reads a pod's logs (-f,
// --previous, --timestamps), runs a command in it on a terminal, attaches
// to it and forwards a port to it. It follows runWorkload, whose pods it
// uses.
func kubeletAPI(t *testing.T, tn *tenant) {
	t.Cleanup(func() { diagnose(t, tn.vc) })
	ctx := context.Background()
	g := NewWithT(t)
	vk := func(args ...string) string {
		return mustKubectl(t, append([]string{"--kubeconfig", tn.kubeconfig}, args...)...)
	}

	// Nodes: the one the web pods run on, addressed at the syncer.
	web := webPods(g, tn)
	g.Expect(web).NotTo(BeEmpty())
	nodeName := web[0].Spec.NodeName
	g.Expect(vk("get", "nodes", "-o", "name")).To(ContainSubstring("node/" + nodeName))
	node := &corev1.Node{}
	g.Expect(tn.client.Get(ctx, client.ObjectKey{Name: nodeName}, node)).To(Succeed())
	// Its InternalIP is the host node's, where node ports answer; its
	// kubelet, the syncer's, is at its InternalDNS address.
	g.Expect(node.Status.Addresses).To(ContainElement(corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: web[0].Status.HostIP}))
	g.Expect(node.Status.Addresses[0].Type).To(Equal(corev1.NodeInternalDNS))
	if tn.vc.Spec.Sync.FromHost.Nodes.IsEnabled() {
		g.Expect(node.Status.Capacity.Cpu().IsZero()).To(BeFalse(), "the host node's capacity")
	} else {
		g.Expect(node.Annotations).To(HaveKeyWithValue(translate.AnnotationHostIP, web[0].Status.HostIP))
		// Schedulable as a tenant's tools judge it: no taint, Ready.
		g.Expect(node.Spec.Taints).To(BeEmpty())
	}

	talker := testPod("talker", corev1.RestartPolicyAlways, "tick")
	crasher := testPod("crasher", corev1.RestartPolicyAlways, "crash", "crashed once", "/scratch/crashed")
	crasher.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	crasher.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}
	for _, p := range []*corev1.Pod{talker, crasher} {
		g.Expect(tn.client.Create(ctx, p)).To(Succeed())
	}
	g.Eventually(func(g Gomega) {
		p := &corev1.Pod{}
		g.Expect(tn.client.Get(ctx, client.ObjectKeyFromObject(talker), p)).To(Succeed())
		g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning))
	}).WithTimeout(2*time.Minute).WithPolling(time.Second).Should(Succeed(), "talker runs")

	t.Run("logs -f and --timestamps", func(t *testing.T) {
		// Lines come as they are written, while kubectl keeps following.
		lines := streamKubectl(t, tn, "logs", "-f", "-n", demoNamespace, "talker")
		seen := map[string]bool{}
		NewWithT(t).Eventually(lines).WithTimeout(30 * time.Second).Should(Receive(HavePrefix("tick ")))
		for len(seen) < 3 {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("kubectl logs -f ended after %d lines", len(seen))
				}
				seen[l] = true
			case <-time.After(30 * time.Second):
				t.Fatalf("kubectl logs -f: no new line in 30s after %v", seen)
			}
		}
		out := mustKubectl(t, "--kubeconfig", tn.kubeconfig, "logs", "--timestamps", "--tail=1", "-n", demoNamespace, "talker")
		if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z tick \d+\n$`).MatchString(out) {
			t.Errorf("kubectl logs --timestamps --tail=1: %q", out)
		}
	})

	t.Run("logs --previous", func(t *testing.T) {
		NewWithT(t).Eventually(func(g Gomega) {
			p := &corev1.Pod{}
			g.Expect(tn.client.Get(ctx, client.ObjectKeyFromObject(crasher), p)).To(Succeed())
			g.Expect(p.Status.ContainerStatuses).NotTo(BeEmpty())
			g.Expect(p.Status.ContainerStatuses[0].RestartCount).To(BeNumerically(">=", 1))
		}).WithTimeout(2*time.Minute).WithPolling(time.Second).Should(Succeed(), "crasher restarted")
		// The kubelet may be between a restart's containers: ask again.
		NewWithT(t).Eventually(func() (string, error) {
			return kubectl("--kubeconfig", tn.kubeconfig, "logs", "--previous", "-n", demoNamespace, "crasher")
		}).WithTimeout(30 * time.Second).WithPolling(time.Second).Should(Equal("crashed once\n"))
	})

	t.Run("exec -it", func(t *testing.T) {
		// kubectl on a terminal of its own: -t is honoured only then.
		term := newTerminal(t)
		cmd := exec.Command(kubectlPath, "--kubeconfig", tn.kubeconfig, "exec", "-it", "-n", demoNamespace, "talker", "--", "/testapp", "tty")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = term.tty, term.tty, term.tty
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
		NewWithT(t).Expect(cmd.Start()).To(Succeed())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		term.expect(t, "tty=true")
		_, err := term.pty.Write([]byte("hello from a terminal\r"))
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		term.expect(t, "echo: hello from a terminal")
		_, err = term.pty.Write([]byte("exit\r"))
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		select {
		case err := <-done:
			NewWithT(t).Expect(err).NotTo(HaveOccurred(), "kubectl exec -it: %s", term.seen())
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("kubectl exec -it did not end: %s", term.seen())
		}
		// Without a terminal, the command gets none.
		out := mustKubectl(t, "--kubeconfig", tn.kubeconfig, "exec", "-n", demoNamespace, "talker", "--", "/testapp", "tty")
		NewWithT(t).Expect(out).To(Equal("tty=false\n"))
	})

	t.Run("attach", func(t *testing.T) {
		lines := streamKubectl(t, tn, "attach", "-n", demoNamespace, "talker")
		NewWithT(t).Eventually(lines).WithTimeout(30 * time.Second).Should(Receive(HavePrefix("tick ")))
	})

	t.Run("node port at the Node's InternalIP", func(t *testing.T) {
		g := NewWithT(t)
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: "web-node-port"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "web"},
				Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
		}
		g.Expect(tn.client.Create(ctx, svc)).To(Succeed())
		var nodePort int32
		g.Eventually(func(g Gomega) {
			h := &corev1.Service{}
			g.Expect(host.Get(ctx, tn.names.HostKey(demoNamespace, svc.Name), h)).To(Succeed())
			v := &corev1.Service{}
			g.Expect(tn.client.Get(ctx, client.ObjectKeyFromObject(svc), v)).To(Succeed())
			nodePort = v.Spec.Ports[0].NodePort
			g.Expect(nodePort).To(Equal(h.Spec.Ports[0].NodePort), "the virtual Service shows the host's node port")
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
		var internalIP string
		for _, a := range node.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				internalIP = a.Address
			}
		}
		url := fmt.Sprintf("http://%s/", net.JoinHostPort(internalIP, strconv.Itoa(int(nodePort))))
		g.Eventually(func() (string, error) {
			resp, err := http.Get(url)
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			return string(body), err
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(ContainSubstring("file="+greeting), url)
	})

	t.Run("port-forward", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		local := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		l.Close()
		lines := streamKubectl(t, tn, "port-forward", "-n", demoNamespace, "pod/"+web[0].Name, local+":8080")
		NewWithT(t).Eventually(lines).WithTimeout(30 * time.Second).Should(Receive(ContainSubstring("Forwarding from")))
		resp, err := http.Get("http://127.0.0.1:" + local + "/")
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		NewWithT(t).Expect(string(body)).To(ContainSubstring("file=" + greeting))
	})
}

// testPod is a pod of testapp with args, restricted as the samples' Pod
// Security levels allow.
func testPod(name string, restart corev1.RestartPolicy, args ...string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy:   restart,
			SecurityContext: restricted(),
			Containers: []corev1.Container{{Name: "main", Image: "nestor.e2e/testapp:" + imageTag, Args: args,
				SecurityContext: containerRestricted()}},
		},
	}
}

// streamKubectl runs kubectl against the tenant's virtual cluster until the
// test ends, and passes its output on line by line.
func streamKubectl(t *testing.T, tn *tenant, args ...string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, kubectlPath, append([]string{"--kubeconfig", tn.kubeconfig}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1000)
	go func() {
		defer close(lines)
		s := bufio.NewScanner(out)
		for s.Scan() {
			lines <- s.Text()
		}
	}()
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	return lines
}

// terminal is a pseudo-terminal: kubectl runs on tty, the test types and
// reads on pty.
type terminal struct {
	pty, tty *os.File
	out      chan byte
	buf      strings.Builder
}

func newTerminal(t *testing.T) *terminal {
	t.Helper()
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(pty.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(pty.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	term := &terminal{pty: pty, tty: tty, out: make(chan byte, 1<<16)}
	go func() {
		defer close(term.out)
		b := make([]byte, 1024)
		for {
			n, err := pty.Read(b)
			for _, c := range b[:n] {
				term.out <- c
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { _ = tty.Close(); _ = pty.Close() })
	return term
}

// expect reads the terminal until it has shown want.
func (term *terminal) expect(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(term.buf.String(), want) {
		select {
		case c, ok := <-term.out:
			if !ok {
				t.Fatalf("the terminal closed before %q: %q", want, term.buf.String())
			}
			term.buf.WriteByte(c)
		case <-deadline:
			t.Fatalf("the terminal did not show %q in 30s: %q", want, term.buf.String())
		}
	}
}

func (term *terminal) seen() string { return term.buf.String() }
