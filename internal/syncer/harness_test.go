package syncer_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/localcluster"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/rbac"
	"github.com/nestor-dev/nestor/internal/syncer"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
)

// The machine has two cores and runs three control planes: be patient.
const (
	timeout = 30 * time.Second
	poll    = 250 * time.Millisecond
	// quiet is how long "nothing happens" is watched for.
	quiet = 3 * time.Second
)

// Service ranges. The virtual one holds the host's, so that a virtual
// service can take its host copy's cluster IP (spec.networking.serviceCIDR);
// it is wider, so that what the virtual cluster allocates on its own seldom
// takes an address the host gives out.
const (
	hostServiceCIDR    = "10.0.0.0/24"
	virtualServiceCIDR = "10.0.0.0/16"
)

// The two virtual clusters, one per VirtualCluster name used in the tests.
const (
	vcA = "vc-a"
	vcB = "vc-b"
)

// apiServerIP plays, per virtual cluster, the cluster IP of the control
// plane's Service that the operator hands the syncer: one per virtual
// cluster, which all its tenants' syncers agree on, in the virtual service
// range and outside the host's, which never gives it to a copy.
var apiServerIP = map[string]string{vcA: "10.0.1.1", vcB: "10.0.1.2"}

var (
	// host plays the host cluster; hostClient is its administrator.
	host       *localcluster.Cluster
	hostClient client.Client
	// virtuals play the virtual clusters of vc-a and vc-b.
	virtuals = map[string]*virtualCluster{}
	scheme   = runtime.NewScheme()
)

// virtualCluster is one virtual control plane and its administrator.
type virtualCluster struct {
	*localcluster.Cluster
	client client.Client
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.Level(zapLevel()))))
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), tenancyv1alpha1.AddToScheme(scheme), apiextensionsv1.AddToScheme(scheme)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var clusters []*localcluster.Cluster
	defer func() {
		// Before the host it works on.
		if err := stopCertManager(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping cert-manager:", err)
		}
		for _, c := range clusters {
			if err := c.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "stopping a local cluster:", err)
			}
		}
	}()
	start := func(controllers []string, serviceCIDR string, crds ...string) (*localcluster.Cluster, client.Client, error) {
		c, cl, err := startCluster(controllers, serviceCIDR, nil, crds...)
		if c != nil {
			clusters = append(clusters, c)
		}
		return c, cl, err
	}

	var err error
	// The host deletes namespaces and collects garbage; nothing schedules or
	// runs pods: the tests play scheduler and kubelet.
	// The host knows VirtualClusters, whose objects own the single-mode
	// copies of custom resources, and cert-manager's kinds, the custom
	// resources the tests sync.
	if host, hostClient, err = start(localcluster.GarbageCollection, hostServiceCIDR, filepath.Join("..", "..", "config", "crd", "bases")); err != nil {
		fmt.Fprintln(os.Stderr, "host:", err)
		return 1
	}
	if err := localcluster.InstallCertManagerCRDs(context.Background(), host.Config); err != nil {
		fmt.Fprintln(os.Stderr, "host:", err)
		return 1
	}
	for _, name := range []string{vcA, vcB} {
		c, cl, err := start(virtualControllers, virtualServiceCIDR)
		if err != nil {
			fmt.Fprintf(os.Stderr, "virtual cluster of %s: %v\n", name, err)
			return 1
		}
		virtuals[name] = &virtualCluster{Cluster: c, client: cl}
	}
	return m.Run()
}

// virtualControllers run beside a virtual cluster's API server: it needs
// each namespace's default ServiceAccount (pods are rejected without it)
// and kube-root-ca.crt (kube-api-access reads it).
var virtualControllers = []string{"serviceaccount-controller", "root-ca-certificate-publisher-controller", "namespace-controller", "garbage-collector-controller"}

// startCluster starts a local cluster with controllers, service range
// serviceCIDR and further API server flags args, and returns its
// administrator.
func startCluster(controllers []string, serviceCIDR string, args map[string]string, crds ...string) (*localcluster.Cluster, client.Client, error) {
	apiServerArgs := map[string]string{
		// envtest turns the ServiceAccount admission plugin off; a
		// real cluster, host or virtual, runs it: it checks a pod's
		// ServiceAccount and adds the kube-api-access volume.
		"disable-admission-plugins": "",
		"service-cluster-ip-range":  serviceCIDR,
	}
	maps.Copy(apiServerArgs, args)
	c, err := localcluster.Start(localcluster.Options{
		Controllers:       controllers,
		CRDDirectoryPaths: crds,
		APIServerArgs:     apiServerArgs,
	})
	if err != nil {
		return nil, nil, err
	}
	cl, err := client.New(c.Config, client.Options{Scheme: scheme})
	return c, cl, err
}

// newVirtualCluster starts a virtual control plane of its own, with an
// empty etcd and further API server flags args, for one test: what a
// virtual cluster whose data was lost comes back as. It stops when the
// test ends.
func newVirtualCluster(t *testing.T, args map[string]string) *virtualCluster {
	t.Helper()
	c, cl, err := startCluster(virtualControllers, virtualServiceCIDR, args)
	if c != nil {
		t.Cleanup(func() {
			if err := c.Stop(); err != nil {
				t.Errorf("stopping a virtual cluster: %v", err)
			}
		})
	}
	NewWithT(t).Expect(err).NotTo(HaveOccurred(), "starting a virtual cluster")
	return &virtualCluster{Cluster: c, client: cl}
}

func zapLevel() int8 {
	if os.Getenv("NESTOR_TEST_VERBOSE") != "" {
		return -2
	}
	return 2 // errors only
}

// modes runs f once per namespace mode.
func modes(t *testing.T, f func(t *testing.T, mode tenancyv1alpha1.Mode)) {
	t.Run("single", func(t *testing.T) { f(t, tenancyv1alpha1.SingleNamespaceMode) })
	t.Run("multi", func(t *testing.T) { f(t, tenancyv1alpha1.MultiNamespaceMode) })
}

// tenant is one VirtualCluster with its syncer running.
type tenant struct {
	VC     *tenancyv1alpha1.VirtualCluster
	Mode   tenancyv1alpha1.Mode
	Names  naming.Translator
	Config syncerconfig.Config
	Rules  rbac.Rules
	// Virtual is the administrator of the tenant's virtual cluster.
	Virtual client.Client
	// ConfigFile is the syncer's configuration file, when it runs via Run.
	ConfigFile string
	// StopSyncer stops the syncer before the test ends, when it runs via New.
	StopSyncer func()

	// host reaches the host as the syncer's ServiceAccount; opts are the
	// tenant's options, for the syncers runSyncer starts.
	host *rest.Config
	opts tenantOptions
}

type tenantOptions struct {
	name          string
	hostNamespace string
	config        func(*syncerconfig.Config)
	sync          func(*tenancyv1alpha1.SyncSpec)
	writes        *writeCounter
	elect         bool
	viaRun        bool
	// virtual is the tenant's virtual cluster when not vc-a's or vc-b's.
	virtual *virtualCluster
	// kubelet serves the kubelet API, trusting callers certified by its CA.
	kubelet *kubeletOptions
}

type kubeletOptions struct {
	address string
	ca      []byte
}

type tenantOption func(*tenantOptions)

// named picks the VirtualCluster, and so the virtual cluster: vc-a or vc-b.
func named(name string) tenantOption { return func(o *tenantOptions) { o.name = name } }

// inHostNamespace puts the VirtualCluster in an existing host namespace.
func inHostNamespace(ns string) tenantOption { return func(o *tenantOptions) { o.hostNamespace = ns } }

// withConfig changes the syncer's configuration before it starts.
func withConfig(f func(*syncerconfig.Config)) tenantOption {
	return func(o *tenantOptions) { o.config = f }
}

// withSync changes the VirtualCluster's spec.sync, from which both the
// syncer's configuration and its rules are derived.
func withSync(f func(*tenancyv1alpha1.SyncSpec)) tenantOption {
	return func(o *tenantOptions) { o.sync = f }
}

// on runs the tenant's syncer on virtual cluster virtual.
func on(virtual *virtualCluster) tenantOption { return func(o *tenantOptions) { o.virtual = virtual } }

// servingKubelet has the syncer serve the kubelet API of its Nodes on
// address, for the virtual API server, whose kubelet client certificate
// ca signs. ca joins the syncer's trust in the virtual cluster, as in a
// virtual cluster of Nestor's one CA signs every certificate.
func servingKubelet(address string, ca []byte) tenantOption {
	return func(o *tenantOptions) { o.kubelet = &kubeletOptions{address, ca} }
}

// leaderElected runs the syncer with leader election on, as its
// Deployment does: its controllers start only once it holds the Lease.
func leaderElected() tenantOption { return func(o *tenantOptions) { o.elect = true } }

// viaRun starts the syncer as the command does, through Run, from a
// configuration file and a virtual kubeconfig file (tenant.ConfigFile).
func viaRun() tenantOption { return func(o *tenantOptions) { o.viaRun = true } }

// countingWrites counts the syncer's writes to either cluster in w.
func countingWrites(w *writeCounter) tenantOption {
	return func(o *tenantOptions) { o.writes = w }
}

// writeCounter counts requests that are not reads, by method and path.
type writeCounter struct {
	mu     sync.Mutex
	writes []string
}

func (w *writeCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		if req.Method != http.MethodGet {
			w.mu.Lock()
			w.writes = append(w.writes, req.Method+" "+req.URL.Path)
			w.mu.Unlock()
		}
		return rt.RoundTrip(req)
	})
}

// take returns the writes counted since the last call.
func (w *writeCounter) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.writes
	w.writes = nil
	return out
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// newHostNamespace creates a host namespace to play a VirtualCluster's.
func newHostNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "host-" + rand.String(6)}}
	NewWithT(t).Expect(hostClient.Create(context.Background(), ns)).To(Succeed())
	return ns.Name
}

// newTenant creates on the host what the operator would for a
// VirtualCluster in mode, and starts its syncer as the syncer's
// ServiceAccount, with exactly the generated rules. The syncer stops when
// the test ends.
func newTenant(t *testing.T, mode tenancyv1alpha1.Mode, opts ...tenantOption) *tenant {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	o := tenantOptions{name: vcA}
	for _, opt := range opts {
		opt(&o)
	}
	if o.hostNamespace == "" {
		o.hostNamespace = newHostNamespace(t)
	}

	// Created on the host, where no operator acts on it: the syncer needs
	// only what the operator renders from it, and its UID, which owns
	// what the syncer creates beside it.
	vc := &tenancyv1alpha1.VirtualCluster{
		ObjectMeta: metav1.ObjectMeta{Name: o.name, Namespace: o.hostNamespace},
		Spec: tenancyv1alpha1.VirtualClusterSpec{
			Sync:       defaultSync(),
			Networking: tenancyv1alpha1.NetworkingSpec{ServiceCIDR: virtualServiceCIDR, ClusterDomain: "cluster.local"},
		},
	}
	if o.sync != nil {
		o.sync(&vc.Spec.Sync)
	}
	if mode == tenancyv1alpha1.MultiNamespaceMode {
		vc.Spec.Experimental = &tenancyv1alpha1.ExperimentalSpec{MultiNamespaceMode: &tenancyv1alpha1.MultiNamespaceModeSpec{Enabled: true}}
	}
	g.Expect(vc.SpecMode()).To(Equal(mode))
	g.Expect(hostClient.Create(ctx, vc)).To(Succeed(), "creating VirtualCluster %s/%s on the host", vc.Namespace, vc.Name)
	t.Cleanup(func() { _ = hostClient.Delete(context.Background(), vc) })

	rules := rbac.For(vc, mode)
	objs, _ := rbac.Objects(vc, rules, mode)
	for _, obj := range objs {
		// Their owner, the VirtualCluster, does not exist on the host: the
		// garbage collector would delete them.
		obj.SetOwnerReferences(nil)
		g.Expect(hostClient.Create(ctx, obj)).To(Succeed(), "creating %T %s", obj, obj.GetName())
		if obj.GetNamespace() == "" {
			t.Cleanup(func() { _ = hostClient.Delete(context.Background(), obj) })
		}
	}

	cfg := syncerconfig.For(vc, mode)
	cfg.APIServerIP = apiServerIP[o.name]
	handDefinitions(t, vc, &cfg)
	if o.config != nil {
		o.config(&cfg)
	}
	hostConfig := syncerHostConfig(vc)
	if o.writes != nil {
		hostConfig.Wrap(o.writes.wrap)
	}
	tn := &tenant{
		VC:     vc,
		Mode:   mode,
		Names:  naming.NewTranslator(vc.Namespace, vc.Name, mode == tenancyv1alpha1.MultiNamespaceMode),
		Config: cfg,
		Rules:  rules,
		host:   hostConfig,
		opts:   o,
	}
	virtual := virtuals[o.name]
	if o.virtual != nil {
		virtual = o.virtual
	}
	tn.runSyncer(t, virtual)
	return tn
}

// runSyncer starts a syncer of the tenant on virtual cluster virtual, which
// becomes the tenant's: the one its helpers reach. A syncer started before
// is to be stopped first (StopSyncer).
func (tn *tenant) runSyncer(t *testing.T, virtual *virtualCluster) {
	t.Helper()
	tn.Virtual = virtual.client
	if tn.opts.viaRun {
		tn.ConfigFile = runFromFiles(t, tn.Config, tn.host, virtual.Kubeconfig)
		return
	}
	virtualConfig := rest.CopyConfig(virtual.Config)
	if tn.opts.writes != nil {
		virtualConfig.Wrap(tn.opts.writes.wrap)
	}
	o := syncer.Options{
		Config:                 tn.Config,
		Host:                   tn.host,
		Virtual:                virtualConfig,
		LeaderElection:         tn.opts.elect,
		MetricsBindAddress:     "0",
		HealthProbeBindAddress: "0",
	}
	if k := tn.opts.kubelet; k != nil {
		virtualConfig.CAData = slices.Concat(virtualConfig.CAData, k.ca)
		o.KubeletBindAddress = k.address
	}
	tn.StopSyncer = startSyncer(t, o)
}

// defaultSync is spec.sync as the CRD's defaults fill it in.
func defaultSync() tenancyv1alpha1.SyncSpec {
	on := tenancyv1alpha1.EnabledByDefault{Enabled: ptr.To(true)}
	ref := tenancyv1alpha1.SyncReferenced{Enabled: ptr.To(true)}
	return tenancyv1alpha1.SyncSpec{
		ToHost: tenancyv1alpha1.SyncToHost{
			Pods: on, Services: on, Endpoints: on, PersistentVolumeClaims: on,
			ConfigMaps: ref, Secrets: ref,
		},
		FromHost: tenancyv1alpha1.SyncFromHost{Events: on},
	}
}

// syncerHostConfig reaches the host as vc's syncer, its ServiceAccount.
func syncerHostConfig(vc *tenancyv1alpha1.VirtualCluster) *rest.Config {
	cfg := rest.CopyConfig(host.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: serviceAccountUser(vc.Namespace, naming.ForVirtualCluster(vc.Namespace, vc.Name).SyncerServiceAccount)}
	return cfg
}

// asSyncer is a host client that acts as the tenant's syncer.
func (tn *tenant) asSyncer(t *testing.T) client.Client {
	t.Helper()
	c, err := client.New(syncerHostConfig(tn.VC), client.Options{Scheme: scheme})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	return c
}

func serviceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// runFromFiles writes the syncer's configuration and the virtual
// kubeconfig to files, as the Deployment mounts them, and runs syncer.Run
// on them until the test ends. It returns the configuration's path.
func runFromFiles(t *testing.T, cfg syncerconfig.Config, host *rest.Config, virtualKubeconfig []byte) string {
	t.Helper()
	g := NewWithT(t)
	dir := t.TempDir()
	configDir := filepath.Join(dir, "config")
	g.Expect(os.Mkdir(configDir, 0o700)).To(Succeed())
	configFile := filepath.Join(configDir, syncerconfig.FileName)
	writeConfig(t, configFile, cfg)
	kubeconfig := filepath.Join(dir, "virtual.kubeconfig")
	g.Expect(os.WriteFile(kubeconfig, virtualKubeconfig, 0o600)).To(Succeed())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- syncer.Run(ctx, syncer.RunOptions{
			ConfigFile: configFile, VirtualKubeconfig: kubeconfig, Host: host,
			MetricsBindAddress: "0", HealthProbeBindAddress: "0",
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("syncer.Run: %v", err)
		}
	})
	return configFile
}

// writeConfig replaces the configuration file whole, by a rename, as the
// kubelet swaps a mounted ConfigMap's files.
func writeConfig(t *testing.T, file string, cfg syncerconfig.Config) {
	t.Helper()
	g := NewWithT(t)
	text, err := cfg.Marshal()
	g.Expect(err).NotTo(HaveOccurred())
	tmp := file + ".new"
	g.Expect(os.WriteFile(tmp, []byte(text), 0o600)).To(Succeed())
	g.Expect(os.Rename(tmp, file)).To(Succeed())
}

// startSyncer runs a syncer until the test ends, or until the function it
// returns is called.
func startSyncer(t *testing.T, o syncer.Options) func() {
	t.Helper()
	mgr, err := syncer.New(context.Background(), o)
	// Every test starts syncers of its own in this one process, as Run does
	// on a configuration change: New must set the manager's
	// Controller.SkipNameValidation, or the second one fails.
	NewWithT(t).Expect(err).NotTo(HaveOccurred(), "syncer.New")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("syncer of %s/%s: %v", o.Config.VirtualCluster.Namespace, o.Config.VirtualCluster.Name, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// HostKey is where virtual object namespace/name lives on the host.
func (tn *tenant) HostKey(namespace, name string) types.NamespacedName {
	return tn.Names.HostKey(namespace, name)
}

// Markers are the labels every host copy from virtual namespace ns carries.
func (tn *tenant) Markers(ns string) map[string]string {
	return map[string]string{
		tenancyv1alpha1.LabelManagedBy:               tenancyv1alpha1.SyncerManagedByValue,
		tenancyv1alpha1.LabelVirtualCluster:          tn.VC.Name,
		tenancyv1alpha1.LabelVirtualClusterNamespace: tn.VC.Namespace,
		tenancyv1alpha1.LabelVirtualNamespace:        ns,
	}
}

// newVirtualNamespace creates a namespace of a random name in the tenant's
// virtual cluster, for one test alone, and waits for its default
// ServiceAccount, without which pods are rejected.
func (tn *tenant) newVirtualNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns-" + rand.String(6)}}
	virtual := tn.Virtual
	NewWithT(t).Expect(virtual.Create(context.Background(), ns)).To(Succeed())
	// Every later syncer of this virtual cluster would sync what is left
	// here: remove it while this one still runs. Pods go at once, as no
	// kubelet finishes a graceful deletion.
	t.Cleanup(func() {
		ctx := context.Background()
		if err := virtual.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns.Name), client.GracePeriodSeconds(0)); err != nil {
			t.Errorf("deleting the pods of virtual namespace %s: %v", ns.Name, err)
		}
		if err := virtual.Delete(ctx, ns); client.IgnoreNotFound(err) != nil {
			t.Errorf("deleting virtual namespace %s: %v", ns.Name, err)
		}
	})
	tn.waitForDefaultServiceAccount(t, ns.Name)
	return ns.Name
}

func (tn *tenant) waitForDefaultServiceAccount(t *testing.T, ns string) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		return tn.Virtual.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "default"}, &corev1.ServiceAccount{})
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed(), "default ServiceAccount of virtual namespace %s", ns)
}

// createVirtual creates obj in the tenant's virtual cluster.
func (tn *tenant) createVirtual(t *testing.T, obj client.Object) {
	t.Helper()
	NewWithT(t).Expect(tn.Virtual.Create(context.Background(), obj)).To(Succeed(), "creating virtual %T %s/%s", obj, obj.GetNamespace(), obj.GetName())
}

// hostObject waits for the host copy of virtual object namespace/name and
// fills obj with it.
func (tn *tenant) hostObject(t *testing.T, namespace, name string, obj client.Object) {
	t.Helper()
	key := tn.HostKey(namespace, name)
	NewWithT(t).Eventually(func() error {
		return hostClient.Get(context.Background(), key, obj)
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed(), "host copy %s of virtual %T %s/%s", key, obj, namespace, name)
}

// waitHostNamespace waits, in multi-namespace mode, until the syncer has
// created the host namespace of virtual namespace ns and the workload
// ServiceAccount in it. Something in ns must need it first.
func (tn *tenant) waitHostNamespace(t *testing.T, ns string) {
	t.Helper()
	hostNs := tn.Names.HostNamespace(ns)
	NewWithT(t).Eventually(func() error {
		return hostClient.Get(context.Background(), client.ObjectKey{Namespace: hostNs, Name: tn.Config.WorkloadServiceAccount}, &corev1.ServiceAccount{})
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed(), "workload ServiceAccount in host namespace %s", hostNs)
}

// gone waits until obj no longer exists in c.
func gone(t *testing.T, c client.Client, key types.NamespacedName, obj client.Object) {
	t.Helper()
	NewWithT(t).Eventually(func() bool {
		return apierrors.IsNotFound(c.Get(context.Background(), key, obj))
	}).WithTimeout(timeout).WithPolling(poll).Should(BeTrue(), "%T %s still exists", obj, key)
}

// bindHostPod plays the host's scheduler: it binds the host pod to node.
func bindHostPod(t *testing.T, key types.NamespacedName, node string) {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	binding := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}
	NewWithT(t).Expect(hostClient.SubResource("binding").Create(context.Background(), pod, binding)).To(Succeed(), "binding host pod %s", key)
}

// updateHostPodStatus plays the host's kubelet: it sets the host pod's
// status, retrying if the syncer wrote the pod meanwhile.
func updateHostPodStatus(t *testing.T, key types.NamespacedName, status corev1.PodStatus) {
	t.Helper()
	NewWithT(t).Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod := &corev1.Pod{}
		if err := hostClient.Get(context.Background(), key, pod); err != nil {
			return err
		}
		pod.Status = status
		return hostClient.Status().Update(context.Background(), pod)
	})).To(Succeed(), "updating the status of host pod %s", key)
}

// reportOnHost plays a host controller: it records a Warning event about
// host object obj, as the core Event API names and fills it. obj need not
// exist (yet): only its kind, namespace, name and UID are used.
func reportOnHost(t *testing.T, obj client.Object, reason, message string) {
	t.Helper()
	gvk, err := apiutil.GVKForObject(obj, scheme)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	now := metav1.Now()
	NewWithT(t).Expect(hostClient.Create(context.Background(), &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: obj.GetNamespace(), Name: fmt.Sprintf("%s.%x", obj.GetName(), now.UnixNano())},
		InvolvedObject: corev1.ObjectReference{Kind: gvk.Kind, APIVersion: gvk.GroupVersion().String(),
			Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID()},
		Reason: reason, Type: corev1.EventTypeWarning, Count: 1, Message: message,
		Source:         corev1.EventSource{Component: "host-" + strings.ToLower(gvk.Kind) + "-controller"},
		FirstTimestamp: now, LastTimestamp: now,
	})).To(Succeed(), "recording event %s about host %s %s/%s", reason, gvk.Kind, obj.GetNamespace(), obj.GetName())
}

// virtualEvent is the core Event of reason in virtual namespace ns, or nil.
func (tn *tenant) virtualEvent(g Gomega, ns, reason string) *corev1.Event {
	var events corev1.EventList
	g.Expect(tn.Virtual.List(context.Background(), &events, client.InNamespace(ns))).To(Succeed())
	for i := range events.Items {
		if events.Items[i].Reason == reason {
			return &events.Items[i]
		}
	}
	return nil
}

// waitVirtualEvent waits for the core Event of reason in virtual namespace
// ns and returns it.
func (tn *tenant) waitVirtualEvent(t *testing.T, ns, reason string) *corev1.Event {
	t.Helper()
	var got *corev1.Event
	NewWithT(t).Eventually(func(g Gomega) {
		got = tn.virtualEvent(g, ns, reason)
		g.Expect(got).NotTo(BeNil())
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed(), "event %s in virtual namespace %s", reason, ns)
	return got
}

// identity is what identifies the tenant's virtual cluster: the UID of its
// kube-system namespace.
func (tn *tenant) identity(g Gomega) types.UID {
	ns := &corev1.Namespace{}
	g.Expect(tn.Virtual.Get(context.Background(), client.ObjectKey{Name: metav1.NamespaceSystem}, ns)).To(Succeed())
	return ns.UID
}

// hostEvents are the events of reason the syncer recorded on the tenant's
// VirtualCluster on the host whose note contains about.
func (tn *tenant) hostEvents(g Gomega, reason, about string) []eventsv1.Event {
	var events eventsv1.EventList
	g.Expect(hostClient.List(context.Background(), &events, client.InNamespace(tn.VC.Namespace))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range events.Items {
		if e.Reason == reason && e.Regarding.Kind == "VirtualCluster" && e.Regarding.Name == tn.VC.Name &&
			e.Regarding.UID == tn.VC.UID && strings.Contains(e.Note, about) {
			out = append(out, e)
		}
	}
	return out
}

// waitHostEvent waits for an event of hostEvents and returns it.
func (tn *tenant) waitHostEvent(t *testing.T, reason, about string) *eventsv1.Event {
	t.Helper()
	var got []eventsv1.Event
	NewWithT(t).Eventually(func(g Gomega) {
		got = tn.hostEvents(g, reason, about)
		g.Expect(got).NotTo(BeEmpty())
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed(), "event %s on VirtualCluster %s/%s about %q", reason, tn.VC.Namespace, tn.VC.Name, about)
	return &got[0]
}

// forceDelete deletes obj at once, as a kubelet does once its containers
// have stopped.
func forceDelete(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	err := c.Delete(context.Background(), obj, client.GracePeriodSeconds(0))
	if !apierrors.IsNotFound(err) {
		NewWithT(t).Expect(err).NotTo(HaveOccurred(), "deleting %T %s/%s", obj, obj.GetNamespace(), obj.GetName())
	}
}

// podUsing is a pod that reads secret and configMap (when not empty) in
// every way a pod can: volume, envFrom and env valueFrom.
func podUsing(ns, name, secret, configMap string) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "main", Image: "registry.example/app:1"}},
		},
	}
	c := &pod.Spec.Containers[0]
	if secret != "" {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "secret-vol", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: secret},
		}})
		c.EnvFrom = append(c.EnvFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: secret}}})
		c.Env = append(c.Env, corev1.EnvVar{Name: "FROM_SECRET", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: "password"},
		}})
	}
	if configMap != "" {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "cm-vol", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: configMap}},
		}})
		c.EnvFrom = append(c.EnvFrom, corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: configMap}}})
		c.Env = append(c.Env, corev1.EnvVar{Name: "FROM_CONFIGMAP", ValueFrom: &corev1.EnvVarSource{
			ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: configMap}, Key: "setting"},
		}})
	}
	return pod
}

func secret(ns, name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// warnings lists the reasons of the Warning events about the virtual object
// namespace/name, in both event APIs: the syncer may record either.
func (tn *tenant) warnings(ctx context.Context, namespace, name string) ([]string, error) {
	var reasons []string
	var core corev1.EventList
	if err := tn.Virtual.List(ctx, &core, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	for _, e := range core.Items {
		if e.Type == corev1.EventTypeWarning && e.InvolvedObject.Name == name {
			reasons = append(reasons, e.Reason)
		}
	}
	var events eventsv1.EventList
	if err := tn.Virtual.List(ctx, &events, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	for _, e := range events.Items {
		if e.Type == corev1.EventTypeWarning && e.Regarding.Name == name {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons, nil
}

// webService is a Service selecting app=web.
func webService(ns, name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"team": "a"}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80}},
		},
	}
}

// claim is a claim of one gibibyte.
func claim(ns, name string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
}
