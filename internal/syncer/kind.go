package syncer

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// kind describes how the objects of one kind go to the host and what comes
// back. Every kind but pods, whose lifecycle is the host's, is synced by it.
type kind[V client.Object] struct {
	// gvk is the kind's identity: its controller's name and, by its
	// GroupKind, what the origin of a copy records.
	gvk schema.GroupVersionKind
	// newV and newH make empty virtual and host objects.
	newV func() V
	newH func() client.Object
	// copy builds the host copy of v; copyCtx, when the copy depends on
	// other virtual objects, is used instead.
	copy    func(v V) client.Object
	copyCtx func(ctx context.Context, v V) (client.Object, error)
	// wanted reports whether v goes to the host at all; nil means always.
	wanted func(ctx context.Context, v V) (bool, error)
	// status, if set, copies the status of host copy h into v; v's status
	// is written when that changed it.
	status func(v V, h client.Object)
	// after, if set, runs once the copy is in place and read back.
	after func(ctx context.Context, v V, h client.Object) error
	// watches are further sources of requests, such as the pods that
	// reference a secret.
	watches []watch
}

type watch struct {
	obj     client.Object
	handler handler.EventHandler
}

type kindReconciler[V client.Object] struct {
	*env
	kind[V]
}

// setupKind registers k's controller: the virtual kind, and its host copies.
func setupKind[V client.Object](mgr manager.Manager, e *env, k kind[V]) error {
	r := &kindReconciler[V]{env: e, kind: k}
	b := ctrl.NewControllerManagedBy(mgr).
		Named(k.gvk.GroupKind().String()).
		For(k.newV()).
		WatchesRawSource(e.watchHost(k.gvk.GroupKind(), k.newH))
	for _, w := range k.watches {
		b = b.Watches(w.obj, w.handler, builder.WithPredicates())
	}
	return b.Complete(r)
}

// Reconcile makes the host copy of one virtual object match it, or removes
// the copy when the object is gone or no longer wanted.
func (r *kindReconciler[V]) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	v := r.newV()
	err := r.virtual.Get(ctx, req.NamespacedName, v)
	if apierrors.IsNotFound(err) {
		if gone, err := r.gone(ctx, req.NamespacedName, r.newV()); err != nil || !gone {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, r.deleteCopy(ctx, r.gvk.GroupKind(), r.newH(), req.Namespace, req.Name)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	wanted := v.GetDeletionTimestamp().IsZero()
	if wanted && r.wanted != nil {
		if wanted, err = r.wanted(ctx, v); err != nil {
			return ctrl.Result{}, err
		}
	}
	if !wanted {
		return ctrl.Result{}, r.deleteCopy(ctx, r.gvk.GroupKind(), r.newH(), req.Namespace, req.Name)
	}

	var desired client.Object
	if r.copyCtx != nil {
		if desired, err = r.copyCtx(ctx, v); err != nil {
			return ctrl.Result{}, err
		}
	} else {
		desired = r.copy(v)
	}
	synced, err := r.toHost(ctx, r.gvk.GroupKind(), v, desired)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !synced {
		// Nothing says when the object in the way goes: look again now and then.
		return ctrl.Result{RequeueAfter: r.resync}, nil
	}
	if r.status == nil && r.after == nil {
		return ctrl.Result{}, nil
	}
	h := r.newH()
	if err := r.host.Get(ctx, client.ObjectKeyFromObject(desired), h); err != nil {
		// A copy just created may not be in the cache yet: its event
		// brings us back.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.status != nil {
		before := v.DeepCopyObject()
		if r.status(v, h); !equality.Semantic.DeepEqual(before, v) {
			if err := r.virtual.Status().Update(ctx, v); err != nil {
				return ctrl.Result{}, fmt.Errorf("updating the status of %s %s/%s: %w", r.gvk.GroupKind(), v.GetNamespace(), v.GetName(), err)
			}
		}
	}
	if r.after != nil {
		return ctrl.Result{}, r.after(ctx, v, h)
	}
	return ctrl.Result{}, nil
}
