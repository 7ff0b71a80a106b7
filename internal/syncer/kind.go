package syncer

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// kind describes how the objects of one kind go to the host and what comes
// back. Every kind but pods, whose lifecycle is the host's, is synced by it.
// A host copy is of its virtual object's type.
type kind[V client.Object] struct {
	// gvk is the kind's identity: its controller's name and, by its
	// GroupKind, what the origin of a copy records.
	gvk schema.GroupVersionKind
	// newObj makes an empty object of the kind, virtual or host.
	newObj func() V
	// copy builds the host copy of v; copyCtx, when the copy depends on
	// other virtual objects, is used instead.
	copy    func(v V) V
	copyCtx func(ctx context.Context, v V) (V, error)
	// fallback, if set, builds the copy sent instead when the host finds
	// the first one invalid: one that asks it for less.
	fallback func(ctx context.Context, v V) (V, error)
	// wanted reports whether v goes to the host at all; nil means always.
	wanted func(ctx context.Context, v V) (bool, error)
	// status, if set, copies the status of host copy h into v; v's status
	// is written when that changed it.
	status func(v, h V)
	// statusInMain says the kind has no status subresource: its status is
	// written with the rest of the object.
	statusInMain bool
	// restore, if set, runs when the virtual object is absent, before its
	// copy is deleted: it reports whether the object is on its way back (a
	// Service being re-created), and its copy stays.
	restore func(ctx context.Context, key types.NamespacedName) (bool, error)
	// after, if set, runs once the copy is in place and read back.
	after func(ctx context.Context, v, h V) error
	// recheck syncs a synced object again every resync, for what after
	// looks at that no watch tells of.
	recheck bool
	// watches are further sources of requests, such as the pods that
	// reference a secret.
	watches []watch
	// indexes are the field indexes of virtual objects that wanted reads.
	indexes []index
}

type watch struct {
	obj     client.Object
	handler handler.EventHandler
}

type index struct {
	obj     client.Object
	field   string
	extract client.IndexerFunc
}

type kindReconciler[V client.Object] struct {
	*env
	kind[V]
}

// setup registers k's indexes and its controller: the virtual kind, and
// its host copies.
func (k kind[V]) setup(mgr manager.Manager, e *env) error {
	for _, ix := range k.indexes {
		if err := mgr.GetFieldIndexer().IndexField(context.Background(), ix.obj, ix.field, ix.extract); err != nil {
			return fmt.Errorf("indexing %T by %s for %s: %w", ix.obj, ix.field, k.gvk.GroupKind(), err)
		}
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named(k.gvk.GroupKind().String()).
		For(k.newObj()).
		WatchesRawSource(e.watchHost(k.gvk.GroupKind(), func() client.Object { return k.newObj() }))
	for _, w := range k.watches {
		b = b.Watches(w.obj, w.handler, builder.WithPredicates())
	}
	return b.Complete(&kindReconciler[V]{env: e, kind: k})
}

// Reconcile makes the host copy of one virtual object match it, or removes
// the copy when the object is gone or no longer wanted.
func (r *kindReconciler[V]) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	v := r.newObj()
	err := r.virtual.Get(ctx, req.NamespacedName, v)
	if apierrors.IsNotFound(err) {
		if gone, err := r.gone(ctx, req.NamespacedName, r.newObj()); err != nil || !gone {
			return ctrl.Result{}, err
		}
		if r.restore != nil {
			if back, err := r.restore(ctx, req.NamespacedName); err != nil || back {
				return ctrl.Result{}, err
			}
		}
		return ctrl.Result{}, r.deleteCopy(ctx, orphaned, r.gvk.GroupKind(), r.newObj(), req.Namespace, req.Name)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if !v.GetDeletionTimestamp().IsZero() {
		return ctrl.Result{}, r.deleteCopy(ctx, requested, r.gvk.GroupKind(), r.newObj(), req.Namespace, req.Name)
	}
	if r.wanted != nil {
		wanted, err := r.wanted(ctx, v)
		if err != nil {
			return ctrl.Result{}, err
		}
		if !wanted {
			return ctrl.Result{}, r.deleteCopy(ctx, orphaned, r.gvk.GroupKind(), r.newObj(), req.Namespace, req.Name)
		}
	}

	var desired V
	if r.copyCtx != nil {
		if desired, err = r.copyCtx(ctx, v); err != nil {
			return ctrl.Result{}, err
		}
	} else {
		desired = r.copy(v)
	}
	var fallbacks []func() (client.Object, error)
	if r.fallback != nil {
		fallbacks = append(fallbacks, func() (client.Object, error) { return r.fallback(ctx, v) })
	}
	synced, err := r.toHost(ctx, r.gvk.GroupKind(), v, desired, fallbacks...)
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
	h := r.newObj()
	if err := r.host.Get(ctx, client.ObjectKeyFromObject(desired), h); err != nil {
		// A copy just created may not be in the cache yet: its event
		// brings us back.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.status != nil {
		before := v.DeepCopyObject()
		if r.status(v, h); !equality.Semantic.DeepEqual(before, v) {
			write := func() error { return r.virtual.Status().Update(ctx, v) }
			if r.statusInMain {
				write = func() error { return r.virtual.Update(ctx, v) }
			}
			if err := write(); err != nil {
				return ctrl.Result{}, fmt.Errorf("updating the status of %s %s/%s: %w", r.gvk.GroupKind(), v.GetNamespace(), v.GetName(), err)
			}
		}
	}
	if r.after != nil {
		if err := r.after(ctx, v, h); err != nil {
			return ctrl.Result{}, err
		}
	}
	if r.recheck {
		return ctrl.Result{RequeueAfter: r.resync}, nil
	}
	return ctrl.Result{}, nil
}
