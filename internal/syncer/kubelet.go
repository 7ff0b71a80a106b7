package syncer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	certutil "k8s.io/client-go/util/cert"
	portforwardserver "k8s.io/cri-streaming/pkg/streaming/portforward"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/nestor-dev/nestor/internal/pki"
)

// Timeouts of the streams, as the kubelet's defaults: a session idle this
// long is closed; its streams must come this soon after the upgrade.
const (
	streamIdleTimeout     = 4 * time.Hour
	streamCreationTimeout = remotecommandserver.DefaultStreamCreationTimeout
)

// kubeletServer serves, at the address of every Node the syncer shows
// (nodes.go), the part of the kubelet API the virtual cluster's API server
// calls for a pod: its logs, exec, attach and port-forward. Each is
// answered by the same subresource of the pod's host copy on the host API
// server, as the syncer's ServiceAccount (internal/rbac).
type kubeletServer struct {
	*env
	// address is where it listens.
	address string
	// hostConfig reaches the host API server for the streams, hostClient
	// for logs.
	hostConfig *rest.Config
	hostClient kubernetes.Interface
	// callers is the virtual cluster's CA: only its API server's kubelet
	// client certificate is let in (authorized).
	callers *x509.CertPool
	mux     *http.ServeMux
}

func newKubeletServer(e *env, address string, host, virtual *rest.Config) (*kubeletServer, error) {
	hostClient, err := kubernetes.NewForConfig(host)
	if err != nil {
		return nil, err
	}
	ca := virtual.CAData
	if len(ca) == 0 && virtual.CAFile != "" {
		if ca, err = os.ReadFile(virtual.CAFile); err != nil {
			return nil, fmt.Errorf("reading the virtual cluster's certificate authority: %w", err)
		}
	}
	callers := x509.NewCertPool()
	if !callers.AppendCertsFromPEM(ca) {
		return nil, errors.New("the virtual cluster's kubeconfig names no certificate authority: the kubelet API could not tell its API server")
	}
	s := &kubeletServer{env: e, address: address, hostConfig: host, hostClient: hostClient, callers: callers, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", s.logs)
	// The API server names the pod's UID in some of these paths; the
	// virtual pod's name alone decides which host pod it is.
	for _, p := range []string{"/{namespace}/{pod}/{container}", "/{namespace}/{pod}/{uid}/{container}"} {
		s.mux.HandleFunc("/exec"+p, s.exec)
		s.mux.HandleFunc("/attach"+p, s.attach)
	}
	s.mux.HandleFunc("/portForward/{namespace}/{pod}", s.portForward)
	s.mux.HandleFunc("/portForward/{namespace}/{pod}/{uid}", s.portForward)
	return s, nil
}

// Start serves the kubelet API until ctx ends. Its serving
// certificate is made here, self-signed: the virtual API server does not
// check it (no --kubelet-certificate-authority), as with kubeadm's
// kubelets; it reaches the syncer at the address the syncer itself writes
// into the Nodes.
func (s *kubeletServer) Start(ctx context.Context) error {
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey(s.cfg.Kubelet.Address, nil, nil)
	if err != nil {
		return fmt.Errorf("making the kubelet API's serving certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.address)
	if err != nil {
		return fmt.Errorf("serving the kubelet API on %s: %w", s.address, err)
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    s.callers,
		},
	}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// NeedLeaderElection is false: any replica answers, from its caches.
func (s *kubeletServer) NeedLeaderElection() bool { return false }

func (s *kubeletServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !authorized(r.TLS) {
		http.Error(w, "only the virtual cluster's API server may call its kubelet API", http.StatusForbidden)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// authorized reports whether the TLS client of a request is the virtual
// cluster's API server: a chain to the virtual cluster's CA (which the
// handshake verified) for its kubelet client certificate. The CA signs
// other clients' certificates too, the administrator's among them.
func authorized(cs *tls.ConnectionState) bool {
	return cs != nil && len(cs.VerifiedChains) > 0 && len(cs.VerifiedChains[0]) > 0 &&
		cs.VerifiedChains[0][0].Subject.CommonName == pki.KubeletClientName
}

// hostPod is the host copy of the virtual pod a request names. Only the
// syncer's translation names the host pod, and only the copy of this
// virtual pod counts: a caller reaches nothing else on the host.
func (s *kubeletServer) hostPod(r *http.Request) (types.NamespacedName, error) {
	ns, name := r.PathValue("namespace"), r.PathValue("pod")
	v := &corev1.Pod{}
	if err := s.virtual.Get(r.Context(), client.ObjectKey{Namespace: ns, Name: name}, v); err != nil {
		return types.NamespacedName{}, err
	}
	if uid := r.PathValue("uid"); uid != "" && types.UID(uid) != v.UID {
		return types.NamespacedName{}, apierrors.NewNotFound(corev1.Resource("pods"), name)
	}
	key := s.tr.Names.HostKey(ns, name)
	h := &corev1.Pod{}
	if err := s.host.Get(r.Context(), key, h); err != nil {
		return types.NamespacedName{}, hostPodMissing(ns, name, err)
	}
	if o, ok := s.tr.OriginOf(h); !ok || o.Kind != kindPod || o.UID != v.UID {
		return types.NamespacedName{}, hostPodMissing(ns, name, nil)
	}
	return key, nil
}

func hostPodMissing(ns, name string, err error) error {
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return apierrors.NewServiceUnavailable(fmt.Sprintf("pod %s/%s has no copy on the host yet", ns, name))
}

// fail answers a request with err's HTTP status: the host's, or the
// virtual cluster's, word on it.
func fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	if status, ok := err.(apierrors.APIStatus); ok || errors.As(err, &status) {
		code = int(status.Status().Code)
	}
	http.Error(w, err.Error(), code)
}

func (s *kubeletServer) logs(w http.ResponseWriter, r *http.Request) {
	key, opts, ok := resolve(s, w, r, func(r *http.Request) (*corev1.PodLogOptions, error) { return logOptions(r.URL.Query()) })
	if !ok {
		return
	}
	opts.Container = r.PathValue("container")
	logs, err := s.hostClient.CoreV1().Pods(key.Namespace).GetLogs(key.Name, opts).Stream(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	defer func() { _ = logs.Close() }()
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	// With follow, each line is passed on as it comes.
	out := io.Writer(w)
	if f, ok := w.(http.Flusher); ok {
		out = flushWriter{w, f}
	}
	if _, err := io.Copy(out, logs); err != nil && r.Context().Err() == nil {
		logf.FromContext(r.Context()).Error(err, "streaming logs", "pod", key)
	}
}

type flushWriter struct {
	io.Writer
	http.Flusher
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.Writer.Write(p)
	f.Flush()
	return n, err
}

// logOptions reads the options of a log request as the API server passes
// them to the kubelet: pods/log's query parameters.
func logOptions(q url.Values) (*corev1.PodLogOptions, error) {
	opts := &corev1.PodLogOptions{}
	flags := map[string]*bool{"follow": &opts.Follow, "previous": &opts.Previous, "timestamps": &opts.Timestamps}
	for name, field := range flags {
		if v := q.Get(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("%s=%q: %w", name, v, err)
			}
			*field = b
		}
	}
	ints := map[string]**int64{"sinceSeconds": &opts.SinceSeconds, "tailLines": &opts.TailLines, "limitBytes": &opts.LimitBytes}
	for name, field := range ints {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s=%q: %w", name, v, err)
			}
			*field = &n
		}
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, fmt.Errorf("sinceTime=%q: %w", v, err)
		}
		opts.SinceTime = &metav1.Time{Time: t}
	}
	if v := q.Get("stream"); v != "" {
		opts.Stream = &v
	}
	return opts, nil
}

func (s *kubeletServer) exec(w http.ResponseWriter, r *http.Request) {
	if key, opts, ok := resolve(s, w, r, remotecommandserver.NewOptions); ok {
		remotecommandserver.ServeExec(w, r, hostStreams{s, key}, "", "", r.PathValue("container"), r.URL.Query()[corev1.ExecCommandParam], opts,
			streamIdleTimeout, streamCreationTimeout, remotecommandserver.SupportedStreamingProtocols)
	}
}

func (s *kubeletServer) attach(w http.ResponseWriter, r *http.Request) {
	if key, opts, ok := resolve(s, w, r, remotecommandserver.NewOptions); ok {
		remotecommandserver.ServeAttach(w, r, hostStreams{s, key}, "", "", r.PathValue("container"), opts,
			streamIdleTimeout, streamCreationTimeout, remotecommandserver.SupportedStreamingProtocols)
	}
}

// resolve reads a request's options with parse and finds its host pod;
// when either fails, it answers the request itself.
func resolve[O any](s *kubeletServer, w http.ResponseWriter, r *http.Request, parse func(*http.Request) (O, error)) (types.NamespacedName, O, bool) {
	opts, err := parse(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return types.NamespacedName{}, opts, false
	}
	key, err := s.hostPod(r)
	if err != nil {
		fail(w, err)
		return key, opts, false
	}
	return key, opts, true
}

// hostStreams runs exec and attach in host pod pod: the streaming server
// takes the caller's streams, and the host API server's pods/exec or
// pods/attach gets them.
type hostStreams struct {
	s   *kubeletServer
	pod types.NamespacedName
}

func (h hostStreams) ExecInContainer(ctx context.Context, _, _, container string, cmd []string, in io.Reader, out, errOut io.WriteCloser,
	tty bool, resize <-chan remotecommandserver.TerminalSize, _ time.Duration) error {
	opts := &corev1.PodExecOptions{Container: container, Command: cmd, Stdin: in != nil, Stdout: out != nil, Stderr: errOut != nil, TTY: tty}
	return h.stream(ctx, "exec", opts, in, out, errOut, tty, resize)
}

func (h hostStreams) AttachContainer(ctx context.Context, _, _, container string, in io.Reader, out, errOut io.WriteCloser,
	tty bool, resize <-chan remotecommandserver.TerminalSize) error {
	opts := &corev1.PodAttachOptions{Container: container, Stdin: in != nil, Stdout: out != nil, Stderr: errOut != nil, TTY: tty}
	return h.stream(ctx, "attach", opts, in, out, errOut, tty, resize)
}

func (h hostStreams) stream(ctx context.Context, subresource string, opts runtime.Object, in io.Reader, out, errOut io.WriteCloser,
	tty bool, resize <-chan remotecommandserver.TerminalSize) error {
	u := h.s.hostURL(h.pod, subresource, opts)
	// SPDY, which the host's API server authorizes as create, the verb the
	// syncer holds.
	exec, err := remotecommand.NewSPDYExecutor(h.s.hostConfig, http.MethodPost, u)
	if err != nil {
		return err
	}
	so := remotecommand.StreamOptions{Tty: tty}
	// Each stream only when there is one: a nil io.WriteCloser in an
	// io.Writer would not read as absent.
	if in != nil {
		so.Stdin = in
	}
	if out != nil {
		so.Stdout = out
	}
	if errOut != nil {
		so.Stderr = errOut
	}
	if resize != nil {
		so.TerminalSizeQueue = sizeQueue{ctx, resize}
	}
	return exec.StreamWithContext(ctx, so)
}

// hostURL is subresource of host pod pod with opts as its query.
func (s *kubeletServer) hostURL(pod types.NamespacedName, subresource string, opts runtime.Object) *url.URL {
	req := s.hostClient.CoreV1().RESTClient().Post().Namespace(pod.Namespace).Resource("pods").Name(pod.Name).SubResource(subresource)
	if opts != nil {
		req = req.VersionedParams(opts, scheme.ParameterCodec)
	}
	return req.URL()
}

// sizeQueue passes the caller's terminal sizes on.
type sizeQueue struct {
	ctx    context.Context
	resize <-chan remotecommandserver.TerminalSize
}

func (q sizeQueue) Next() *remotecommand.TerminalSize {
	select {
	case size, ok := <-q.resize:
		if !ok {
			return nil
		}
		return &remotecommand.TerminalSize{Width: size.Width, Height: size.Height}
	case <-q.ctx.Done():
		return nil
	}
}

func (s *kubeletServer) portForward(w http.ResponseWriter, r *http.Request) {
	if key, opts, ok := resolve(s, w, r, portforwardserver.NewV4Options); ok {
		portforwardserver.ServePortForward(w, r, hostPortForward{s, key}, "", "", opts,
			streamIdleTimeout, streamCreationTimeout, portforwardserver.SupportedProtocols)
	}
}

// hostPortForward forwards each of the caller's connections to a port of
// host pod pod, through the host API server's pods/portforward.
type hostPortForward struct {
	s   *kubeletServer
	pod types.NamespacedName
}

func (h hostPortForward) PortForward(ctx context.Context, _, _ string, port int32, stream io.ReadWriteCloser) error {
	defer func() { _ = stream.Close() }()
	transport, upgrader, err := spdy.RoundTripperFor(h.s.hostConfig)
	if err != nil {
		return err
	}
	u := h.s.hostURL(h.pod, "portforward", nil)
	conn, _, err := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u).Dial(portforward.PortForwardProtocolV1Name)
	if err != nil {
		return fmt.Errorf("forwarding to port %d of host pod %s: %w", port, h.pod, err)
	}
	defer func() { _ = conn.Close() }()

	headers := http.Header{}
	headers.Set(corev1.StreamType, corev1.StreamTypeError)
	headers.Set(corev1.PortHeader, strconv.Itoa(int(port)))
	headers.Set(corev1.PortForwardRequestIDHeader, "0")
	errStream, err := conn.CreateStream(headers)
	if err != nil {
		return fmt.Errorf("forwarding to port %d of host pod %s: %w", port, h.pod, err)
	}
	// Nothing is sent on the error stream; the host writes to it.
	_ = errStream.Close()
	headers.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := conn.CreateStream(headers)
	if err != nil {
		return fmt.Errorf("forwarding to port %d of host pod %s: %w", port, h.pod, err)
	}
	hostErr := make(chan error, 1)
	go func() {
		msg, err := io.ReadAll(errStream)
		switch {
		case err != nil:
			hostErr <- err
		case len(msg) > 0:
			hostErr <- fmt.Errorf("forwarding to port %d of host pod %s: %s", port, h.pod, msg)
		default:
			hostErr <- nil
		}
	}()
	go func() {
		// The caller's end closed: so is the host's, once sent.
		_, _ = io.Copy(data, stream)
		_ = data.Close()
	}()
	if _, err := io.Copy(stream, data); err != nil && ctx.Err() == nil {
		return err
	}
	select {
	case err := <-hostErr:
		return err
	case <-ctx.Done():
		return nil
	}
}
