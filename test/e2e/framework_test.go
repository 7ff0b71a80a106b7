//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/controlplane"
	"github.com/nestor-dev/nestor/internal/naming"
)

// What run.sh hands the suite.
var (
	root        = os.Getenv("NESTOR_E2E_ROOT")
	kubectlPath = os.Getenv("NESTOR_E2E_KUBECTL")
	logDir      = os.Getenv("NESTOR_E2E_LOGS")
	imageTag    = os.Getenv("NESTOR_E2E_IMAGE_TAG")
)

// operatorNamespace is where config/default installs Nestor.
const operatorNamespace = "nestor-system"

var (
	scheme = runtime.NewScheme()
	host   client.Client
)

func TestMain(m *testing.M) {
	if root == "" || kubectlPath == "" {
		fmt.Fprintln(os.Stderr, "the e2e suite runs on the node hack/e2e/run.sh brings up: run `make test-e2e`")
		os.Exit(2)
	}
	logf.SetLogger(logr.Discard())
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, tenancyv1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		panic(err)
	}
	if host, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// kubectl runs the real kubectl against the host (or, given --kubeconfig,
// another cluster) and returns its output, and an error that carries it.
func kubectl(args ...string) (string, error) {
	cmd := exec.Command(kubectlPath, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

func mustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := kubectl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// applyManifest applies a manifest as a user would, with server-side apply.
func applyManifest(t *testing.T, manifest []byte, extra ...string) (string, error) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(f, manifest, 0o600); err != nil {
		t.Fatal(err)
	}
	return kubectl(append([]string{"apply", "--server-side", "-f", f}, extra...)...)
}

// samplefile is a manifest of config/samples, as a user applies it, and
// the VirtualCluster it makes in the namespace the test gives it.
type samplefile struct {
	data []byte
	vc   *tenancyv1alpha1.VirtualCluster
}

func sample(t *testing.T, file, namespace string) samplefile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "config", "samples", file))
	if err != nil {
		t.Fatal(err)
	}
	vc := &tenancyv1alpha1.VirtualCluster{}
	if err := yaml.UnmarshalStrict(data, vc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	vc.Namespace = namespace
	return samplefile{data: data, vc: vc}
}

func manifestOf(t *testing.T, obj any) []byte {
	t.Helper()
	b, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := host.Create(context.Background(), ns); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
}

// portForward forwards a free local port to the VirtualCluster's API
// Service, as a user without a load balancer reaches it, until the test
// ends, and returns the path of its admin kubeconfig (Secret vc-<name>)
// pointed there. kubectl port-forward ends when its pod goes or a stream
// breaks; it is started again on the same port.
func portForward(t *testing.T, vc *tenancyv1alpha1.VirtualCluster) string {
	t.Helper()
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	local := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cmd := exec.CommandContext(ctx, kubectlPath, "port-forward", "-n", vc.Namespace, "svc/"+n.ControlPlane, fmt.Sprintf("%s:%d", local, controlplane.ServicePort))
			_ = cmd.Run()
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	file := adminKubeconfig(t, vc, "https://127.0.0.1:"+local)
	NewWithT(t).Eventually(func() error {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+local, time.Second)
		if err == nil {
			conn.Close()
		}
		return err
	}).WithTimeout(30*time.Second).WithPolling(200*time.Millisecond).Should(Succeed(), "kubectl port-forward to %s/%s", vc.Namespace, n.ControlPlane)
	return file
}

// serviceKubeconfig returns the path of the VirtualCluster's admin
// kubeconfig pointed at its API Service's cluster IP, which the node
// reaches through kube-proxy as a host pod does. The scenarios after boot
// use it: a port-forward breaks with a single stream of its (an exec that
// ends, say), and a command started in the second before it is back fails.
func serviceKubeconfig(t *testing.T, vc *tenancyv1alpha1.VirtualCluster) string {
	t.Helper()
	svc := &corev1.Service{}
	key := client.ObjectKey{Namespace: vc.Namespace, Name: naming.ForVirtualCluster(vc.Namespace, vc.Name).ControlPlane}
	if err := host.Get(context.Background(), key, svc); err != nil {
		t.Fatal(err)
	}
	return adminKubeconfig(t, vc, fmt.Sprintf("https://%s", net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(controlplane.ServicePort))))
}

// adminKubeconfig writes the VirtualCluster's admin kubeconfig (Secret
// vc-<name>) with server as the address, checking the serving certificate
// for the name the Secret gives.
func adminKubeconfig(t *testing.T, vc *tenancyv1alpha1.VirtualCluster, server string) string {
	t.Helper()
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: vc.Namespace, Name: naming.ForVirtualCluster(vc.Namespace, vc.Name).Kubeconfig}
	if err := host.Get(context.Background(), key, secret); err != nil {
		t.Fatal(err)
	}
	raw, err := clientcmd.Load(secret.Data["config"])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range raw.Clusters {
		u, err := url.Parse(c.Server)
		if err != nil {
			t.Fatal(err)
		}
		c.TLSServerName = u.Hostname()
		c.Server = server
	}
	file := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*raw, file); err != nil {
		t.Fatal(err)
	}
	return file
}

// diagnose prints what a person needs when a test about vc failed: its
// status and events, the pods that are not well and their logs, the
// operator's and the syncer's logs, and the kubelet's last words.
func diagnose(t *testing.T, vc *tenancyv1alpha1.VirtualCluster) {
	t.Helper()
	if !t.Failed() {
		return
	}
	show := func(title string, args ...string) { showKubectl(t, title, args...) }
	show("VirtualCluster", "get", "virtualcluster", "-n", vc.Namespace, vc.Name, "-o", "yaml")
	show("events in "+vc.Namespace, "get", "events", "-n", vc.Namespace, "--sort-by=.lastTimestamp")
	show("pods", "get", "pods", "-A", "-o", "wide")
	pods := &corev1.PodList{}
	if err := host.List(context.Background(), pods); err == nil {
		for _, p := range pods.Items {
			if podReady(&p) && p.Namespace != operatorNamespace && p.Labels[tenancyv1alpha1.LabelComponent] != tenancyv1alpha1.ComponentSyncer {
				continue
			}
			show("logs of "+p.Namespace+"/"+p.Name, "logs", "-n", p.Namespace, p.Name, "--all-containers", "--tail=80", "--prefix")
			if restarted(&p) {
				show("logs of "+p.Namespace+"/"+p.Name+" before its last restart", "logs", "-n", p.Namespace, p.Name, "--all-containers", "--tail=40", "--prefix", "--previous")
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(logDir, "kubelet.log")); err == nil {
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		t.Logf("=== kubelet (tail)\n%s", b)
	}
}

// showKubectl logs what kubectl args prints, or its error, under title:
// for a failed test to show.
func showKubectl(t *testing.T, title string, args ...string) {
	t.Helper()
	out, _ := kubectl(args...)
	t.Logf("=== %s\n%s", title, out)
}

func restarted(p *corev1.Pod) bool {
	for _, c := range p.Status.ContainerStatuses {
		if c.RestartCount > 0 {
			return true
		}
	}
	return false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func condition(vc *tenancyv1alpha1.VirtualCluster, t string) *metav1.Condition {
	for i := range vc.Status.Conditions {
		if vc.Status.Conditions[i].Type == t {
			return &vc.Status.Conditions[i]
		}
	}
	return nil
}

// waitReady waits until vc reports Ready=True for its current generation,
// and returns it as it then is.
func waitReady(t *testing.T, vc *tenancyv1alpha1.VirtualCluster, timeout time.Duration) *tenancyv1alpha1.VirtualCluster {
	t.Helper()
	got := &tenancyv1alpha1.VirtualCluster{}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(host.Get(context.Background(), client.ObjectKeyFromObject(vc), got)).To(Succeed())
		g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		g.Expect(condition(got, "Ready")).To(HaveField("Status", metav1.ConditionTrue), func() string {
			b, _ := yaml.Marshal(got.Status)
			return string(b)
		})
		// What Flux and Argo CD read of it.
		obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(got)
		g.Expect(err).NotTo(HaveOccurred())
		res, err := status.Compute(&unstructured.Unstructured{Object: obj})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.Status).To(Equal(status.CurrentStatus), res.Message)
	}).WithTimeout(timeout).WithPolling(time.Second).Should(Succeed())
	return got
}
