package syncer

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

// namespaceReconciler removes, in multi-namespace mode, the host namespace
// of a virtual namespace that is gone. Host namespaces are created by the
// first object that needs one (ensureNamespace).
type namespaceReconciler struct{ *env }

func (e *env) setupNamespaces(mgr ctrl.Manager) error {
	toVirtual := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, h client.Object) []reconcile.Request {
		if ns := h.GetLabels()[tenancyv1alpha1.LabelVirtualNamespace]; ns != "" {
			return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: ns}}}
		}
		return nil
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("namespace").
		For(&corev1.Namespace{}).
		WatchesRawSource(source.Kind(e.hostCache, client.Object(&corev1.Namespace{}), toVirtual)).
		Complete(&namespaceReconciler{e})
}

func (r *namespaceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	v := &corev1.Namespace{}
	why := requested
	if err := r.virtual.Get(ctx, req.NamespacedName, v); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, err
	} else if err == nil && v.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	} else if err != nil {
		// Everything in the namespace goes with it: be sure, not cached.
		if gone, err := r.gone(ctx, req.NamespacedName, &corev1.Namespace{}); err != nil || !gone {
			return ctrl.Result{}, err
		}
		why = orphaned
	}
	// The virtual namespace is gone or going: so is everything in it, but
	// not what was made for another virtual cluster, which no virtual
	// object stands for here. Its host namespace stays while it holds any.
	hostNs := r.tr.Names.HostNamespace(req.Name)
	if n, _, err := r.countForeign(ctx, hostNs); err != nil {
		return ctrl.Result{}, err
	} else if n > 0 {
		r.reportForeign(ctx)
		return ctrl.Result{}, nil
	}
	h := &corev1.Namespace{}
	h.Name = hostNs
	_, err := r.applier.Delete(ctx, h, r.narrow(ctx, why, r.ownsNamespace(req.Name)))
	return ctrl.Result{}, err
}
