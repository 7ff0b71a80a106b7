package syncer_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/client-go/util/exec"
	portforwardserver "k8s.io/cri-streaming/pkg/streaming/portforward"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	codeexec "k8s.io/utils/exec"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/pki"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
)

// TestKubeletAPI: the virtual cluster's API server reaches a pod's kubelet
// at its Node's address, which the syncer serves: logs, exec and
// port-forward of the virtual pod are those of its host copy, through the
// host API server, as the syncer with exactly its generated rules. The
// test plays the host's kubelet (fakeKubelet), which tells which host pod
// and what options reached it. Only the virtual API server's kubelet
// client certificate is let in.
func TestKubeletAPI(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		ctx := context.Background()
		g := NewWithT(t)
		certs, _, err := pki.Ensure(nil, pki.Config{}, time.Now())
		g.Expect(err).NotTo(HaveOccurred())
		dir := t.TempDir()
		for _, key := range []string{pki.KubeletClientCert, pki.KubeletClientKey} {
			g.Expect(os.WriteFile(filepath.Join(dir, key), certs[key], 0o600)).To(Succeed())
		}
		virtual := newVirtualCluster(t, map[string]string{
			"kubelet-client-certificate":      filepath.Join(dir, pki.KubeletClientCert),
			"kubelet-client-key":              filepath.Join(dir, pki.KubeletClientKey),
			"kubelet-preferred-address-types": "InternalDNS",
		})
		address := freeAddress(t)
		host, port, _ := net.SplitHostPort(address)
		p, _ := strconv.Atoi(port)
		tn := newTenant(t, mode, on(virtual), servingKubelet(address, certs[pki.CACert]),
			withConfig(func(c *syncerconfig.Config) { c.Kubelet = syncerconfig.KubeletEndpoint{Address: host, Port: int32(p)} }))

		node := fakeKubelet(t)
		ns := tn.newVirtualNamespace(t)
		tn.placedPod(t, ns, "app", node)
		hostPod := tn.HostKey(ns, "app")
		NewWithT(t).Eventually(func() error {
			return tn.Virtual.Get(ctx, client.ObjectKey{Name: node}, &corev1.Node{})
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed(), "virtual node %s", node)
		tenantAPI := kubernetes.NewForConfigOrDie(virtual.Config)

		t.Run("logs", func(t *testing.T) {
			g := NewWithT(t)
			body, err := tenantAPI.CoreV1().Pods(ns).GetLogs("app", &corev1.PodLogOptions{
				Container: "main", Follow: true, Previous: true, Timestamps: true,
			}).DoRaw(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(body)).To(Equal(fmt.Sprintf("logs of %s/%s/main follow=true previous=true timestamps=true\n", hostPod.Namespace, hostPod.Name)))
		})

		t.Run("exec", func(t *testing.T) {
			g := NewWithT(t)
			var out, errOut bytes.Buffer
			err := tenantStream(ctx, virtual.Config, tenantAPI, ns, "app", "exec", true, &corev1.PodExecOptions{
				Container: "main", Command: []string{"cat", "-"}, Stdin: true, Stdout: true, Stderr: true,
			}, remotecommand.StreamOptions{Stdin: strings.NewReader("typed in the virtual cluster"), Stdout: &out, Stderr: &errOut})
			var exit utilexec.CodeExitError
			g.Expect(errors.As(err, &exit)).To(BeTrue(), "exec: %v", err)
			g.Expect(exit.Code).To(Equal(3), "the host's exit code")
			g.Expect(out.String()).To(Equal(fmt.Sprintf("exec in %s/%s/main: [cat -]\ntyped in the virtual cluster", hostPod.Namespace, hostPod.Name)))
		})

		t.Run("attach with a terminal", func(t *testing.T) {
			g := NewWithT(t)
			var out bytes.Buffer
			err := tenantStream(ctx, virtual.Config, tenantAPI, ns, "app", "attach", false, &corev1.PodAttachOptions{
				Container: "main", Stdin: true, Stdout: true, TTY: true,
			}, remotecommand.StreamOptions{Stdin: strings.NewReader("hello"), Stdout: &out, Tty: true})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(out.String()).To(Equal(fmt.Sprintf("attach to %s/%s/main tty=true\nhello", hostPod.Namespace, hostPod.Name)))
		})

		t.Run("port-forward", func(t *testing.T) {
			g := NewWithT(t)
			transport, upgrader, err := spdy.RoundTripperFor(virtual.Config)
			g.Expect(err).NotTo(HaveOccurred())
			u := tenantAPI.CoreV1().RESTClient().Post().Namespace(ns).Resource("pods").Name("app").SubResource("portforward").URL()
			stop, ready := make(chan struct{}), make(chan struct{})
			defer close(stop)
			fw, err := portforward.NewOnAddresses(spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u),
				[]string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, io.Discard, io.Discard)
			g.Expect(err).NotTo(HaveOccurred())
			go func() { _ = fw.ForwardPorts() }()
			<-ready
			ports, err := fw.GetPorts()
			g.Expect(err).NotTo(HaveOccurred())
			conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0].Local))
			g.Expect(err).NotTo(HaveOccurred())
			defer conn.Close()
			_, err = conn.Write([]byte("ping"))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(conn.(*net.TCPConn).CloseWrite()).To(Succeed())
			got, err := io.ReadAll(conn)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(got)).To(Equal(fmt.Sprintf("port 8080 of %s/%s: ping", hostPod.Namespace, hostPod.Name)))
		})

		t.Run("only the API server", func(t *testing.T) {
			g := NewWithT(t)
			// The administrator's certificate is the virtual cluster CA's too.
			admin, err := tls.X509KeyPair(certs[pki.AdminCert], certs[pki.AdminKey])
			g.Expect(err).NotTo(HaveOccurred())
			resp, err := kubeletClient(admin).Get("https://" + address + "/containerLogs/" + ns + "/app/main")
			g.Expect(err).NotTo(HaveOccurred())
			_ = resp.Body.Close()
			g.Expect(resp.StatusCode).To(Equal(http.StatusForbidden))

			// The API server's own, naming a host pod: no virtual pod of that name.
			apiServer, err := tls.X509KeyPair(certs[pki.KubeletClientCert], certs[pki.KubeletClientKey])
			g.Expect(err).NotTo(HaveOccurred())
			resp, err = kubeletClient(apiServer).Get("https://" + address + "/containerLogs/" + hostPod.Namespace + "/" + hostPod.Name + "/main")
			g.Expect(err).NotTo(HaveOccurred())
			_ = resp.Body.Close()
			g.Expect(resp.StatusCode).To(Equal(http.StatusNotFound))
		})
	})
}

// tenantStream runs exec or attach (subresource, with opts) in virtual
// pod ns/name through the virtual API server: over WebSocket, as kubectl
// does (the API server speaks SPDY to the kubelet), or over SPDY.
func tenantStream(ctx context.Context, cfg *rest.Config, api kubernetes.Interface, ns, name, subresource string, websocket bool,
	opts runtime.Object, so remotecommand.StreamOptions) error {
	u := api.CoreV1().RESTClient().Post().Namespace(ns).Resource("pods").Name(name).SubResource(subresource).
		VersionedParams(opts, runtime.NewParameterCodec(scheme)).URL()
	exec, err := remotecommand.NewSPDYExecutor(cfg, http.MethodPost, u)
	if websocket {
		exec, err = remotecommand.NewWebSocketExecutor(cfg, http.MethodGet, u.String())
	}
	if err != nil {
		return err
	}
	return exec.StreamWithContext(ctx, so)
}

// kubeletClient calls the syncer's kubelet API with certificate cert.
func kubeletClient(cert tls.Certificate) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, //nolint:gosec // the syncer's certificate is self-signed
	}}}
}

// freeAddress is a loopback address with a port nothing listens on.
func freeAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	defer ln.Close()
	return ln.Addr().String()
}

// fakeKubelet plays the kubelet of a host node, which it creates: it
// answers logs, exec, attach and port-forward by naming the host pod and
// the options that reached it, echoing what it is sent, and ending exec
// with exit code 3. The host API server does not check a kubelet's
// serving certificate without --kubelet-certificate-authority.
func fakeKubelet(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		fmt.Fprintf(w, "logs of %s/%s/%s follow=%s previous=%s timestamps=%s\n", r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container"),
			q.Get("follow"), q.Get("previous"), q.Get("timestamps"))
	})
	streams := echoStreams{}
	mux.HandleFunc("/exec/{namespace}/{pod}/{container}", func(w http.ResponseWriter, r *http.Request) {
		opts, err := remotecommandserver.NewOptions(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		remotecommandserver.ServeExec(w, r, streams, r.PathValue("namespace")+"/"+r.PathValue("pod"), "", r.PathValue("container"),
			r.URL.Query()[corev1.ExecCommandParam], opts, time.Minute, time.Minute, remotecommandserver.SupportedStreamingProtocols)
	})
	mux.HandleFunc("/attach/{namespace}/{pod}/{container}", func(w http.ResponseWriter, r *http.Request) {
		opts, err := remotecommandserver.NewOptions(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		remotecommandserver.ServeAttach(w, r, streams, r.PathValue("namespace")+"/"+r.PathValue("pod"), "", r.PathValue("container"),
			opts, time.Minute, time.Minute, remotecommandserver.SupportedStreamingProtocols)
	})
	mux.HandleFunc("/portForward/{namespace}/{pod}", func(w http.ResponseWriter, r *http.Request) {
		opts, err := portforwardserver.NewV4Options(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		portforwardserver.ServePortForward(w, r, streams, r.PathValue("namespace")+"/"+r.PathValue("pod"), "", opts,
			time.Minute, time.Minute, portforwardserver.SupportedProtocols)
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	port, _ := strconv.Atoi(u.Port())

	ctx := context.Background()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "kubelet-" + rand.String(6)}}
	g := NewWithT(t)
	g.Expect(hostClient.Create(ctx, n)).To(Succeed())
	t.Cleanup(func() { _ = hostClient.Delete(context.Background(), n) })
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: u.Hostname()}}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
	g.Expect(hostClient.Status().Update(ctx, n)).To(Succeed())
	return n.Name
}

// echoStreams is fakeKubelet's container runtime.
type echoStreams struct{}

func (echoStreams) ExecInContainer(_ context.Context, pod, _, container string, cmd []string, in io.Reader, out, _ io.WriteCloser,
	_ bool, _ <-chan remotecommandserver.TerminalSize, _ time.Duration) error {
	fmt.Fprintf(out, "exec in %s/%s: %v\n", pod, container, cmd)
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	return codeexec.CodeExitError{Err: errors.New("exit 3"), Code: 3}
}

func (echoStreams) AttachContainer(_ context.Context, pod, _, container string, in io.Reader, out, _ io.WriteCloser,
	tty bool, _ <-chan remotecommandserver.TerminalSize) error {
	fmt.Fprintf(out, "attach to %s/%s tty=%t\n", pod, container, tty)
	_, err := io.Copy(out, in)
	return err
}

func (echoStreams) PortForward(_ context.Context, pod, _ string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	fmt.Fprintf(stream, "port %d of %s: ", port, pod)
	_, err := io.Copy(stream, stream)
	return err
}
