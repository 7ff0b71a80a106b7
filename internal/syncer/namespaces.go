package syncer

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

// namespaceReconciler removes, in multi-namespace mode, the host namespace
// of a virtual namespace that is gone, and keeps the host cache watching
// the host namespaces there are: after a restart, the syncer's grant in
// each is made again before the cache watches it. Host namespaces are
// created by the first object that needs one (ensureNamespace).
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
	err := r.virtual.Get(ctx, req.NamespacedName, v)
	if client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, err
	}
	alive := err == nil && v.DeletionTimestamp.IsZero()
	if err != nil {
		// Everything in the namespace goes with it: be sure, not cached.
		if gone, err := r.gone(ctx, req.NamespacedName, &corev1.Namespace{}); err != nil || !gone {
			return ctrl.Result{}, err
		}
		why = orphaned
	}
	h := &corev1.Namespace{}
	h.Name = r.tr.Names.HostNamespace(req.Name)
	if exists, err := r.hostNamespaceExists(ctx, h); err != nil || !exists {
		if err == nil {
			r.hostNamespaces.forget(h.Name)
		}
		return ctrl.Result{}, err
	}
	if !alive {
		// The virtual namespace is gone or going: so is everything in it, but
		// not what was made for another virtual cluster, which no virtual
		// object stands for here. Its host namespace stays while it holds any.
		if n, _, err := r.countForeign(ctx, h.Name); err != nil {
			return ctrl.Result{}, err
		} else if n > 0 {
			r.reportForeign(ctx)
			return ctrl.Result{}, nil
		}
		_, err := r.applier.Delete(ctx, h, r.narrow(ctx, why, r.ownsNamespace(req.Name)))
		return ctrl.Result{}, err
	}
	if !h.DeletionTimestamp.IsZero() || !r.ownsNamespace(req.Name)(h) {
		return ctrl.Result{}, nil
	}
	if err := r.ensureNamespace(ctx, req.Name); !errors.Is(err, errNamespaceGone) {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, nil
}

// hostNamespaceExists reads host namespace h from the cache or, to be sure
// of an absence (the cache may not hold one just made), from the host.
func (r *namespaceReconciler) hostNamespaceExists(ctx context.Context, h *corev1.Namespace) (bool, error) {
	key := client.ObjectKeyFromObject(h)
	err := r.host.Get(ctx, key, h)
	if apierrors.IsNotFound(err) {
		err = r.hostReader.Get(ctx, key, h)
	}
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading host namespace %s: %w", key.Name, err)
	}
	return true, nil
}
