package syncer

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/nestor-dev/nestor/internal/apply"
	"github.com/nestor-dev/nestor/internal/translate"
)

// indexPlacedOn indexes virtual pods by the host node the syncer bound
// them to (annotationPlaced).
const indexPlacedOn = "nestor.dev/placed-on"

// nodeReconciler shows in the virtual cluster a Node for each host node
// the tenant's pods run on, from the first pod placed there until the last
// one is gone (README, "Nodes"): the virtual cluster's pod garbage
// collector deletes the pods of a node that does not exist. Its address is
// the syncer's kubelet API (kubelet.go).
type nodeReconciler struct{ *env }

func (e *env) setupNodes(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Pod{}, indexPlacedOn, placedOn); err != nil {
		return fmt.Errorf("indexing pods by node: %w", err)
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named("node").
		For(&corev1.Node{}, builder.WithPredicates(predicate.NewPredicateFuncs(ownedShown))).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			names := placedOn(o)
			reqs := make([]reconcile.Request, 0, len(names))
			for _, n := range names {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Name: n}})
			}
			return reqs
		}))
	if e.readsHostNodes() {
		b = b.WatchesRawSource(source.Kind(e.hostCache, client.Object(&corev1.Node{}), &handler.EnqueueRequestForObject{}))
	}
	return b.Complete(&nodeReconciler{e})
}

func placedOn(o client.Object) []string {
	if n := o.GetAnnotations()[annotationPlaced]; n != "" {
		return []string{n}
	}
	return nil
}

// readsHostNodes reports whether the syncer may read the host's nodes:
// only in multi-namespace mode, with spec.sync.fromHost.nodes (rbac).
// Otherwise each Node is a stand-in.
func (e *env) readsHostNodes() bool {
	return e.tr.Names.MultiNamespace() && e.cfg.FromHost.Nodes.IsEnabled()
}

// Reconcile shows host node req.Name while a virtual pod is placed on it.
func (r *nodeReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	hostIP, placed, err := r.placed(ctx, req.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	owned := func(live client.Object) bool { return translate.ShownFrom(live, "", req.Name) }
	if !placed {
		v := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: req.Name}}
		_, err := r.virtualApplier.Delete(ctx, v, owned)
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, r.showNode(ctx, req.Name, hostIP)
}

// placed reports whether a virtual pod is placed on host node name, and
// the host address such a pod reports. The cache may lag behind a binding:
// an absence is confirmed with the API server.
func (r *nodeReconciler) placed(ctx context.Context, name string) (hostIP string, placed bool, err error) {
	var pods corev1.PodList
	if err := r.virtual.List(ctx, &pods, client.MatchingFields{indexPlacedOn: name}); err != nil {
		return "", false, fmt.Errorf("listing the pods on node %s: %w", name, err)
	}
	if len(pods.Items) == 0 {
		sel := client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("spec.nodeName", name)}
		if err := r.virtualReader.List(ctx, &pods, sel); err != nil {
			return "", false, fmt.Errorf("listing the pods on node %s: %w", name, err)
		}
	}
	for _, p := range pods.Items {
		if p.Annotations[annotationPlaced] != name {
			continue
		}
		placed = true
		if p.Status.HostIP != "" {
			return p.Status.HostIP, true, nil
		}
	}
	return "", placed, nil
}

// showNode creates or updates the virtual Node of host node name: the
// host's own when the syncer may read it, a stand-in otherwise. The pod
// controller calls it too, before it binds a pod to the node.
func (e *env) showNode(ctx context.Context, name, hostIP string) error {
	live := &corev1.Node{}
	err := e.virtual.Get(ctx, client.ObjectKey{Name: name}, live)
	if apierrors.IsNotFound(err) {
		live = nil
	} else if err != nil {
		return err
	}
	var build func(since metav1.Time) *corev1.Node
	if e.readsHostNodes() {
		h := &corev1.Node{}
		if err := e.host.Get(ctx, client.ObjectKey{Name: name}, h); err != nil {
			return fmt.Errorf("reading host node %s: %w", name, err)
		}
		build = func(metav1.Time) *corev1.Node { return translate.NodeFromHost(h, e.cfg.Kubelet) }
	} else {
		build = func(since metav1.Time) *corev1.Node { return translate.StandInNode(name, hostIP, e.cfg.Kubelet, since) }
	}
	// The status is written apart, once the Node exists.
	desired := build(metav1.Now())
	desired.Status = corev1.NodeStatus{}
	owned := func(live client.Object) bool { return translate.ShownFrom(live, "", name) }
	if _, err := e.virtualApplier.Apply(ctx, desired, owned); apply.IsNotOwned(err) {
		// A Node the tenant made under that name is theirs to keep.
		return nil
	} else if err != nil {
		return fmt.Errorf("showing node %s in the virtual cluster: %w", name, err)
	}
	if live == nil {
		// Just created: not in the cache yet, the uncached read has it.
		live = &corev1.Node{}
		if err := e.virtualReader.Get(ctx, client.ObjectKey{Name: name}, live); err != nil {
			return fmt.Errorf("reading node %s back: %w", name, err)
		}
	}
	// A stand-in has been Ready since it was first shown.
	status := build(live.CreationTimestamp).Status
	if !translate.ShownFrom(live, "", name) || equality.Semantic.DeepEqual(live.Status, status) {
		return nil
	}
	live.Status = status
	if err := e.virtual.Status().Update(ctx, live); err != nil {
		return fmt.Errorf("updating the status of node %s in the virtual cluster: %w", name, err)
	}
	return nil
}
