package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/naming"
)

// The operator's identity, as config/default deploys it.
const (
	operatorNamespace      = "nestor-system"
	operatorServiceAccount = "nestor-controller-manager"
	// operatorVC names every VirtualCluster; each has a namespace of its own.
	operatorVC = "vc"
)

// operatorRun is what one run of scenario 3 measured.
type operatorRun struct {
	vcs                      int
	all, first, ready        time.Duration
	converge, rollout, idle  window
	minChildren, maxChildren int
	rss                      float64
	cpu                      map[string]float64 // cores each process spent converging
	depths                   map[string]float64
	queues                   queues
	requests                 []request
	user                     string
}

// operator measures the operator bringing up vcs VirtualClusters, which
// exist when it starts: until each has its children and its
// observedGeneration, then, once the bench marks their StatefulSets and
// Deployments rolled out (no kubelet runs them), until each is Ready.
func (b *bench) operator(ctx context.Context, scenario string, vcs int) (*operatorRun, error) {
	suffix := fmt.Sprintf("-%d", vcs)
	host, err := startAPIServer("operator-host"+suffix, b.dir, nil, operatorServiceCIDR, nil, filepath.Join(b.root, "config", "crd", "bases"))
	if err != nil {
		return nil, err
	}
	defer b.stop(host)
	dir := filepath.Join(b.dir, "operator"+suffix)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	kubeconfig, err := b.operatorIdentity(ctx, host, dir)
	if err != nil {
		return nil, err
	}
	c, err := hostClient(host)
	if err != nil {
		return nil, err
	}
	_, err = runLoad(ctx, vcs, setupConcurrency, func(ctx context.Context, i int) error {
		ns := vcNamespace(i)
		if err := ensureNamespace(ctx, host, ns, false); err != nil {
			return err
		}
		return c.Create(ctx, virtualClusterManifest(ns, operatorVC))
	})
	if err != nil {
		return nil, fmt.Errorf("creating the VirtualClusters: %w", err)
	}
	b.logf("%s: %d VirtualClusters created", scenario, vcs)
	vcw, err := watchVirtualClusters(ctx, host, vcs)
	if err != nil {
		return nil, err
	}
	defer vcw.stop()

	args := []string{"manager",
		"--syncer-image=registry.example/nestor:bench",
		"--enable-webhooks=false",
		"--metrics-secure=false",
		"--health-probe-bind-address=0",
	}
	args = append(args, b.flags.operatorFlags...)
	proc, err := startComponent(ctx, b.nestor, args, []string{"KUBECONFIG=" + kubeconfig}, filepath.Join(dir, "operator.log"))
	if err != nil {
		return nil, err
	}
	defer proc.stop()
	endCPU, err := meterCPU("operator", proc, host)
	if err != nil {
		return nil, fmt.Errorf("metering CPU: %w", err)
	}

	run := &operatorRun{vcs: vcs, user: serviceAccountUser(operatorNamespace, operatorServiceAccount)}
	done, err := vcw.wait(ctx, vcw.observed, b.flags.timeout, proc)
	if err != nil {
		return nil, fmt.Errorf("waiting for observedGeneration: %w", err)
	}
	run.all = done.Sub(proc.Started)
	b.logf("%s: every VirtualCluster observed after %v", scenario, run.all.Round(time.Millisecond))
	proc.idle(ctx, time.Minute)
	run.converge = window{proc.Started, time.Now()}
	if run.cpu, err = endCPU(); err != nil {
		return nil, fmt.Errorf("metering CPU: %w", err)
	}
	if run.minChildren, run.maxChildren, err = countChildren(ctx, host); err != nil {
		return nil, err
	}

	run.rollout.From = time.Now()
	if _, err := runLoad(ctx, vcs, setupConcurrency, func(ctx context.Context, i int) error {
		return markRolledOut(ctx, host, vcNamespace(i), operatorVC)
	}); err != nil {
		return nil, fmt.Errorf("marking the control planes rolled out: %w", err)
	}
	readyAt, err := vcw.wait(ctx, vcw.readied, b.flags.timeout, proc)
	if err != nil {
		return nil, fmt.Errorf("waiting for Ready: %w", err)
	}
	run.ready = readyAt.Sub(run.rollout.From)
	proc.idle(ctx, time.Minute)
	proc.endSampling()
	run.rollout.To = time.Now()
	run.depths = proc.depths()
	if run.queues, err = proc.queues(); err != nil {
		return nil, err
	}
	b.logf("%s: every VirtualCluster Ready %v after the rollouts", scenario, run.ready.Round(time.Millisecond))

	if run.idle, run.rss, err = b.idleThenStop(ctx, proc); err != nil {
		return nil, err
	}
	if run.requests, err = host.requests(); err != nil {
		return nil, err
	}
	run.first = sinceStart(run.requests, run.user, run.converge)
	return run, nil
}

func vcNamespace(i int) string { return fmt.Sprintf("team-%04d", i) }

// operatorIdentity grants the operator's ServiceAccount exactly the
// ClusterRole of config/rbac/role.yaml and writes its kubeconfig.
func (b *bench) operatorIdentity(ctx context.Context, host *apiServer, dir string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(b.root, "config", "rbac", "role.yaml"))
	if err != nil {
		return "", err
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(raw, role); err != nil {
		return "", fmt.Errorf("config/rbac/role.yaml: %w", err)
	}
	if _, err := host.Admin.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return "", err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: operatorNamespace, Name: operatorServiceAccount}},
	}
	if _, err := host.Admin.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return "", err
	}
	user, err := host.serviceAccount(operatorNamespace, operatorServiceAccount)
	if err != nil {
		return "", err
	}
	return writeKubeconfig(filepath.Join(dir, "operator.kubeconfig"), user)
}

// markRolledOut sets the status the StatefulSet and Deployment
// controllers and the kubelets would once every replica is up.
func markRolledOut(ctx context.Context, host *apiServer, namespace, name string) error {
	n := naming.ForVirtualCluster(namespace, name)
	apps := host.Admin.AppsV1()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sts, err := apps.StatefulSets(namespace).Get(ctx, n.ControlPlane, metav1.GetOptions{})
		if err != nil {
			return err
		}
		r := *sts.Spec.Replicas
		sts.Status = appsv1.StatefulSetStatus{
			ObservedGeneration: sts.Generation, Replicas: r, ReadyReplicas: r, UpdatedReplicas: r,
			CurrentReplicas: r, AvailableReplicas: r, CurrentRevision: "rev-1", UpdateRevision: "rev-1",
		}
		_, err = apps.StatefulSets(namespace).UpdateStatus(ctx, sts, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("StatefulSet %s/%s: %w", namespace, n.ControlPlane, err)
	}
	for _, dep := range []string{n.Syncer, n.DNS} {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			d, err := apps.Deployments(namespace).Get(ctx, dep, metav1.GetOptions{})
			if err != nil {
				return err
			}
			r := *d.Spec.Replicas
			d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: r, UpdatedReplicas: r, ReadyReplicas: r, AvailableReplicas: r}
			_, err = apps.Deployments(namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("Deployment %s/%s: %w", namespace, dep, err)
		}
	}
	return nil
}

// childKinds are the kinds of a VirtualCluster's namespaced children.
var childKinds = []schema.GroupVersionResource{
	corev1.SchemeGroupVersion.WithResource("serviceaccounts"),
	corev1.SchemeGroupVersion.WithResource("secrets"),
	corev1.SchemeGroupVersion.WithResource("configmaps"),
	corev1.SchemeGroupVersion.WithResource("services"),
	appsv1.SchemeGroupVersion.WithResource("statefulsets"),
	appsv1.SchemeGroupVersion.WithResource("deployments"),
	rbacv1.SchemeGroupVersion.WithResource("roles"),
	rbacv1.SchemeGroupVersion.WithResource("rolebindings"),
}

// countChildren counts the objects labelled for a VirtualCluster, per
// namespace, and returns the fewest and most any namespace has.
func countChildren(ctx context.Context, host *apiServer) (int, int, error) {
	mc, err := metadata.NewForConfig(unlimited(host.Config))
	if err != nil {
		return 0, 0, err
	}
	per := map[string]int{}
	for _, gvr := range childKinds {
		list, err := mc.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: tenancyv1alpha1.LabelVirtualCluster})
		if err != nil {
			return 0, 0, fmt.Errorf("listing %s: %w", gvr.Resource, err)
		}
		for _, item := range list.Items {
			per[item.Namespace]++
		}
	}
	lo, hi := -1, 0
	for _, n := range per {
		if lo < 0 || n < lo {
			lo = n
		}
		hi = max(hi, n)
	}
	return max(lo, 0), hi, nil
}

// vcWatch notes when each VirtualCluster was first observed (its status's
// observedGeneration is its generation) and first Ready.
type vcWatch struct {
	mu       sync.Mutex
	n        int
	observed map[string]time.Time
	readied  map[string]time.Time
	stop     context.CancelFunc
}

func watchVirtualClusters(ctx context.Context, host *apiServer, n int) (*vcWatch, error) {
	dc, err := dynamic.NewForConfig(unlimited(host.Config))
	if err != nil {
		return nil, err
	}
	w := &vcWatch{n: n, observed: map[string]time.Time{}, readied: map[string]time.Time{}}
	factory := dynamicinformer.NewDynamicSharedInformerFactory(dc, 0)
	informer := factory.ForResource(tenancyv1alpha1.GroupVersion.WithResource("virtualclusters")).Informer()
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    w.see,
		UpdateFunc: func(_, obj any) { w.see(obj) },
	}); err != nil {
		return nil, err
	}
	watching, stop := context.WithCancel(ctx)
	w.stop = stop
	factory.Start(watching.Done())
	if !cache.WaitForCacheSync(watching.Done(), informer.HasSynced) {
		stop()
		return nil, fmt.Errorf("watching VirtualClusters on the %s API server did not start", host.Name)
	}
	return w, nil
}

func (w *vcWatch) see(obj any) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	if observed == 0 || observed != u.GetGeneration() {
		return
	}
	key, now := u.GetNamespace()+"/"+u.GetName(), time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.observed[key]; !ok {
		w.observed[key] = now
	}
	conditions, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conditions {
		c, _ := c.(map[string]any)
		if c["type"] == "Ready" && c["status"] == "True" {
			if _, ok := w.readied[key]; !ok {
				w.readied[key] = now
			}
		}
	}
}

// wait returns the latest time in times once it holds every
// VirtualCluster; it fails when timeout passes first or proc ends.
func (w *vcWatch) wait(ctx context.Context, times map[string]time.Time, timeout time.Duration, proc *component) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		got := len(times)
		var last time.Time
		for _, t := range times {
			if t.After(last) {
				last = t
			}
		}
		w.mu.Unlock()
		if got >= w.n {
			return last, nil
		}
		if err := proc.exited(); err != nil {
			return time.Time{}, err
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("after %v, %d of %d VirtualClusters", timeout, got, w.n)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
