package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/operator"
	"github.com/nestor-dev/nestor/internal/rbac"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
)

// The tenant of scenario 2: one VirtualCluster in single-namespace mode,
// whose objects are all in one virtual namespace.
const (
	tenantHostNamespace = "tenant"
	tenantName          = "bench"
	virtualNamespace    = "bench"
	// syncerVirtualUser is the syncer's identity in the virtual cluster:
	// an administrator, as the admin kubeconfig the operator hands it.
	syncerVirtualUser = "nestor-syncer"
)

// syncerRun is what one run of scenario 2 measured.
type syncerRun struct {
	pods          int
	all, first    time.Duration // from the syncer's start to all on the host, to its first host write
	rss           float64
	cpu           map[string]float64 // cores each process spent in the sync phase
	sync, status  window
	idle          window
	roundTrips    []time.Duration
	lost          int // status changes not seen in time
	depths        map[string]float64
	queues        queues
	host, virtual []request
	hostUser      string
}

// syncer measures the syncer of one virtual cluster copying pods, each with
// a secret and a configMap of its own, to the host: the objects are all in
// the virtual cluster when the syncer starts.
func (b *bench) syncer(ctx context.Context, scenario string, pods int) (*syncerRun, error) {
	suffix := fmt.Sprintf("-%d", pods)
	host, virtual, err := startPair(
		func() (*apiServer, error) {
			return startAPIServer("syncer-host"+suffix, b.dir, nil, hostServiceCIDR, nil, filepath.Join(b.root, "config", "crd", "bases"))
		},
		func() (*apiServer, error) {
			return startAPIServer("syncer-virtual"+suffix, b.dir, virtualControllers, virtualServiceCIDR, virtualArgs)
		})
	if err != nil {
		return nil, err
	}
	defer b.stop(host, virtual)
	dir := filepath.Join(b.dir, "syncer"+suffix)

	vc, err := setUpTenant(ctx, host)
	if err != nil {
		return nil, err
	}
	args, err := b.syncerFiles(dir, host, virtual, vc)
	if err != nil {
		return nil, err
	}
	if err := fillVirtual(ctx, virtual, pods); err != nil {
		return nil, err
	}
	b.logf("%s: %d pods, secrets and configMaps in the virtual cluster", scenario, pods)

	names := naming.NewTranslator(vc.Namespace, vc.Name, false)
	want := map[string]map[string]bool{"pods": {}, "secrets": {}, "configmaps": {}}
	for i := range pods {
		want["pods"][names.HostKey(virtualNamespace, podName(i)).Name] = true
		want["secrets"][names.HostKey(virtualNamespace, secretName(i)).Name] = true
		want["configmaps"][names.HostKey(virtualNamespace, configMapName(i)).Name] = true
	}
	arrived, err := watchArrivals(ctx, host, tenantHostNamespace, want)
	if err != nil {
		return nil, err
	}

	proc, err := startComponent(ctx, b.nestor, args, nil, filepath.Join(dir, "syncer.log"))
	if err != nil {
		return nil, err
	}
	defer proc.stop()
	endCPU, err := meterCPU("syncer", proc, host, virtual)
	if err != nil {
		return nil, fmt.Errorf("metering CPU: %w", err)
	}

	run := &syncerRun{pods: pods, hostUser: serviceAccountUser(vc.Namespace, naming.ForVirtualCluster(vc.Namespace, vc.Name).SyncerServiceAccount)}
	done, err := arrived.wait(ctx, b.flags.timeout, proc)
	if err != nil {
		return nil, err
	}
	run.all = done.Sub(proc.Started)
	b.logf("%s: all on the host after %v", scenario, run.all.Round(time.Millisecond))
	proc.idle(ctx, time.Minute)
	proc.endSampling()
	run.sync = window{proc.Started, time.Now()}
	if run.cpu, err = endCPU(); err != nil {
		return nil, fmt.Errorf("metering CPU: %w", err)
	}
	run.depths = proc.depths()
	if run.queues, err = proc.queues(); err != nil {
		return nil, err
	}

	run.status.From = time.Now()
	if run.roundTrips, run.lost, err = b.roundTrips(ctx, host, virtual, names, pods); err != nil {
		return nil, err
	}
	run.status.To = time.Now()
	b.logf("%s: %d status round trips", scenario, len(run.roundTrips))

	if run.idle, run.rss, err = b.idleThenStop(ctx, proc); err != nil {
		return nil, err
	}
	if run.host, err = host.requests(); err != nil {
		return nil, err
	}
	if run.virtual, err = virtual.requests(); err != nil {
		return nil, err
	}
	run.first = sinceStart(run.host, run.hostUser, run.sync)
	return run, nil
}

// startPair starts two API servers at once; if either fails, neither runs.
func startPair(a, b func() (*apiServer, error)) (*apiServer, *apiServer, error) {
	var sb *apiServer
	var errB error
	var wg sync.WaitGroup
	wg.Go(func() { sb, errB = b() })
	sa, errA := a()
	wg.Wait()
	if err := errors.Join(errA, errB); err != nil {
		return nil, nil, errors.Join(err, stopAll(sa, sb))
	}
	return sa, sb, nil
}

// setUpTenant creates on the host what the operator would for the
// tenant's syncer: the VirtualCluster, which owns its copies, and the
// syncer's ServiceAccounts and RBAC. The API server fills in the
// VirtualCluster's defaults.
func setUpTenant(ctx context.Context, host *apiServer) (*tenancyv1alpha1.VirtualCluster, error) {
	c, err := hostClient(host)
	if err != nil {
		return nil, err
	}
	if err := ensureNamespace(ctx, host, tenantHostNamespace, false); err != nil {
		return nil, err
	}
	u := virtualClusterManifest(tenantHostNamespace, tenantName)
	if err := c.Create(ctx, u); err != nil {
		return nil, fmt.Errorf("creating the VirtualCluster: %w", err)
	}
	vc := &tenancyv1alpha1.VirtualCluster{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(u), vc); err != nil {
		return nil, err
	}
	objs, _ := rbac.Objects(vc, rbac.For(vc, tenancyv1alpha1.SingleNamespaceMode), tenancyv1alpha1.SingleNamespaceMode)
	for _, obj := range objs {
		if err := c.Create(ctx, obj); err != nil {
			return nil, fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
	}
	return vc, nil
}

// virtualClusterManifest is a VirtualCluster as a tenant would write it:
// the defaults, with the virtual service range the bench's clusters use.
func virtualClusterManifest(namespace, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": tenancyv1alpha1.GroupVersion.String(),
		"kind":       "VirtualCluster",
		"metadata":   map[string]any{"name": name, "namespace": namespace},
		"spec": map[string]any{"networking": map[string]any{
			"serviceCIDR": virtualServiceCIDR, "clusterDomain": "cluster.local",
		}},
	}}
}

func hostClient(s *apiServer) (client.Client, error) {
	scheme, err := operator.Scheme()
	if err != nil {
		return nil, err
	}
	return client.New(unlimited(s.Config), client.Options{Scheme: scheme})
}

// syncerFiles writes what the syncer's Deployment mounts — its
// configuration, the virtual cluster's admin kubeconfig — and a host
// kubeconfig of its ServiceAccount, and returns the syncer's arguments.
func (b *bench) syncerFiles(dir string, host, virtual *apiServer, vc *tenancyv1alpha1.VirtualCluster) ([]string, error) {
	// The syncer watches its configuration's directory: give it its own.
	if err := os.MkdirAll(filepath.Join(dir, "config"), 0o755); err != nil {
		return nil, err
	}
	cfg := syncerconfig.For(vc, tenancyv1alpha1.SingleNamespaceMode)
	cfg.APIServerIP = apiServerIP
	text, err := cfg.Marshal()
	if err != nil {
		return nil, err
	}
	configFile := filepath.Join(dir, "config", syncerconfig.FileName)
	if err := os.WriteFile(configFile, []byte(text), 0o644); err != nil {
		return nil, err
	}
	hostUser, err := host.serviceAccount(vc.Namespace, naming.ForVirtualCluster(vc.Namespace, vc.Name).SyncerServiceAccount)
	if err != nil {
		return nil, err
	}
	virtualUser, err := virtual.administrator(syncerVirtualUser)
	if err != nil {
		return nil, err
	}
	hostKubeconfig, err := writeKubeconfig(filepath.Join(dir, "host.kubeconfig"), hostUser)
	if err != nil {
		return nil, err
	}
	virtualKubeconfig, err := writeKubeconfig(filepath.Join(dir, "virtual.kubeconfig"), virtualUser)
	if err != nil {
		return nil, err
	}
	return append([]string{"syncer",
		"--config=" + configFile,
		"--host-kubeconfig=" + hostKubeconfig,
		"--virtual-kubeconfig=" + virtualKubeconfig,
		"--health-probe-bind-address=0",
		"--kubelet-bind-address=0",
	}, b.flags.syncerFlags...), nil
}

// fillVirtual creates the tenant's namespace and, once its default
// ServiceAccount exists, n pods, each with a secret and a configMap.
func fillVirtual(ctx context.Context, virtual *apiServer, n int) error {
	if err := ensureNamespace(ctx, virtual, virtualNamespace, false); err != nil {
		return err
	}
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := virtual.Admin.CoreV1().ServiceAccounts(virtualNamespace).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the default ServiceAccount of virtual namespace %s: %w", virtualNamespace, err)
	}
	core := virtual.Admin.CoreV1()
	_, err = runLoad(ctx, n, setupConcurrency, func(ctx context.Context, i int) error {
		if _, err := core.Secrets(virtualNamespace).Create(ctx, benchSecret(virtualNamespace, secretName(i)), metav1.CreateOptions{}); err != nil {
			return err
		}
		if _, err := core.ConfigMaps(virtualNamespace).Create(ctx, benchConfigMap(virtualNamespace, configMapName(i)), metav1.CreateOptions{}); err != nil {
			return err
		}
		_, err := core.Pods(virtualNamespace).Create(ctx, benchPod(virtualNamespace, podName(i), secretName(i), configMapName(i)), metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("filling the virtual cluster: %w", err)
	}
	return nil
}

// setupConcurrency is how many requests the bench's own setup sends at once.
const setupConcurrency = 32

// roundTrips plays the host's kubelet: it changes the status of sampled
// host pods, one at a time, and times until the virtual pod shows it.
// It returns the round trips and how many changes did not show in time.
func (b *bench) roundTrips(ctx context.Context, host, virtual *apiServer, names naming.Translator, pods int) ([]time.Duration, int, error) {
	seen := &podIPs{want: map[string]podIP{}}
	factory := informers.NewSharedInformerFactoryWithOptions(virtual.Admin, 0, informers.WithNamespace(virtualNamespace))
	informer := factory.Core().V1().Pods().Informer()
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) { seen.observe(obj.(*corev1.Pod)) },
	}); err != nil {
		return nil, 0, err
	}
	watching, stop := context.WithCancel(ctx)
	defer stop()
	factory.Start(watching.Done())
	if !cache.WaitForCacheSync(watching.Done(), informer.HasSynced) {
		return nil, 0, errors.New("the virtual pods' informer did not sync")
	}
	samples := min(pods, b.flags.statusSamples)
	var trips []time.Duration
	lost := 0
	for j := range samples {
		i := j * pods / samples
		ip := fmt.Sprintf("10.%d.%d.%d", 100+i/65536, i/256%256, i%256)
		patch, err := json.Marshal(map[string]any{"status": corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}},
		}})
		if err != nil {
			return nil, 0, err
		}
		shown := seen.expect(podName(i), ip)
		start := time.Now()
		if _, err := host.Admin.CoreV1().Pods(tenantHostNamespace).Patch(ctx, names.HostKey(virtualNamespace, podName(i)).Name,
			types.MergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
			return nil, 0, fmt.Errorf("changing the status of the host copy of pod %s: %w", podName(i), err)
		}
		select {
		case <-shown:
			trips = append(trips, time.Since(start))
		case <-time.After(b.flags.statusTimeout):
			lost++
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
	return trips, lost, nil
}

// podIPs signals when virtual pods show the pod IPs expected of them.
type podIPs struct {
	mu   sync.Mutex
	want map[string]podIP
}

type podIP struct {
	ip   string
	seen chan struct{}
}

func (p *podIPs) expect(pod, ip string) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := make(chan struct{})
	p.want[pod] = podIP{ip, ch}
	return ch
}

func (p *podIPs) observe(pod *corev1.Pod) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w, ok := p.want[pod.Name]; ok && pod.Status.PodIP == w.ip {
		close(w.seen)
		delete(p.want, pod.Name)
	}
}
