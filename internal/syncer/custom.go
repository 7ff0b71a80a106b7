package syncer

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/nestor-dev/nestor/internal/apply"
	"github.com/nestor-dev/nestor/internal/references"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
	"github.com/nestor-dev/nestor/internal/translate"
)

// Reasons of the events about custom resources.
const (
	ReasonVirtualObjectInTheWay = "VirtualObjectInTheWay"
)

// newUnstructured makes an empty object of gvk.
func newUnstructured(gvk schema.GroupVersionKind) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u
}

// customControllers are the table's rows for the custom kinds whose
// definitions are installed: a ToHost kind syncs as the core kinds do, a
// FromHost kind is shown from the host; and, when a ToHost kind names
// Secrets, the controller that shows what a host controller writes there.
func (e *env) customControllers() []entry {
	var rows []entry
	for _, cr := range e.cfg.CustomResources {
		def, ok := e.definitions[cr.Resource]
		switch {
		case !ok:
			continue
		case cr.Direction == syncerconfig.ToHost:
			rows = append(rows, entry{cr.Namespaced, e.customKind(cr, statusSubresource(def, cr.Version))})
		case cr.Direction == syncerconfig.FromHost:
			// Namespaced kinds from the host have no virtual namespace to
			// go to yet: the webhook refuses them.
			rows = append(rows, entry{!cr.Namespaced, fromHostController{cr: cr, statusSubresource: statusSubresource(def, cr.Version)}})
		}
	}
	return append(rows, entry{len(e.secretNamingKinds()) > 0 && e.cfg.ToHost.Secrets.IsEnabled(), ownController((*env).setupHostMade)})
}

// customKind is the kind of a ToHost custom resource: everything but the
// status goes down, the status comes back, and the Secrets its references
// name that a host controller writes are shown in the virtual cluster.
func (e *env) customKind(cr syncerconfig.CustomResource, statusApart bool) kind[*unstructured.Unstructured] {
	gvk := cr.GroupVersionKind()
	return kind[*unstructured.Unstructured]{
		gvk:          gvk,
		newObj:       func() *unstructured.Unstructured { return newUnstructured(gvk) },
		copy:         func(v *unstructured.Unstructured) *unstructured.Unstructured { return e.tr.CustomResource(cr, v) },
		status:       translate.CustomResourceStatus,
		statusInMain: !statusApart,
		after: func(ctx context.Context, v, _ *unstructured.Unstructured) error {
			if !e.cfg.ToHost.Secrets.IsEnabled() {
				return nil
			}
			for _, name := range references.Names(v.Object, cr.References, kindSecret) {
				if err := e.showHostMade(ctx, v.GetNamespace(), name); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

var kindSecret = schema.GroupKind{Kind: "Secret"}

// showHostMade shows in the virtual cluster the host Secret at the host
// name of virtual secret namespace/name when a host controller wrote it
// there (a certificate's spec.secretName), and removes what it showed once
// that Secret is gone. A host object at a name of the tenant's is the
// tenant's to read: in single-namespace mode the name carries the virtual
// cluster's, in multi-namespace mode the namespace is the tenant's.
func (e *env) showHostMade(ctx context.Context, namespace, name string) error {
	key := e.tr.HostKey(kindSecret, namespace, name)
	h := &corev1.Secret{}
	err := e.hostReader.Get(ctx, key, h)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading host Secret %s for virtual Secret %s/%s: %w", key, namespace, name, err)
	}
	_, isCopy := e.tr.OriginOf(h)
	if apierrors.IsNotFound(err) || isCopy {
		// Gone, or the tenant's own Secret synced down: nothing to show.
		v := &corev1.Secret{}
		v.Namespace, v.Name = namespace, name
		_, err := e.virtualApplier.Delete(ctx, v, ownedShown)
		return err
	}
	_, err = e.virtualApplier.Apply(ctx, translate.HostMadeSecret(h, namespace, name), ownedShown)
	if apply.IsNotOwned(err) {
		// The tenant's own Secret of that name stays; it is the tenant's
		// to rename, and it is copied down as any other.
		return nil
	}
	if err != nil {
		return fmt.Errorf("showing host Secret %s as %s/%s: %w", key, namespace, name, err)
	}
	return nil
}

// ownedShown accepts what the syncer shows from the host.
func ownedShown(live client.Object) bool { return translate.Shown(live) }

// setupHostMade keeps the Secrets shown from the host in step with it: an
// edit or a deletion in the virtual cluster is undone, and a shown Secret
// whose host Secret is gone goes. It looks again every resync, since
// nothing watches the host's Secrets that are not copies.
func (e *env) setupHostMade(mgr manager.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("hostmade-secret").
		For(&corev1.Secret{}, builder.WithPredicates(predicate.NewPredicateFuncs(ownedShown))).
		Complete(reconcileFunc(func(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
			if err := e.showHostMade(ctx, req.Namespace, req.Name); err != nil {
				return ctrl.Result{}, err
			}
			return ctrl.Result{RequeueAfter: e.resync}, nil
		}))
}

type reconcileFunc func(context.Context, ctrl.Request) (ctrl.Result, error)

func (f reconcileFunc) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return f(ctx, req)
}

// fromHostController shows the host's objects of a FromHost kind in the
// virtual cluster, read-only: a tenant's edit or deletion is undone, and an
// object gone from the host (or from the platform's selector) goes.
type fromHostController struct {
	cr                syncerconfig.CustomResource
	statusSubresource bool
}

type fromHostReconciler struct {
	*env
	fromHostController
}

func (c fromHostController) setup(mgr manager.Manager, e *env) error {
	gvk := c.cr.GroupVersionKind()
	return ctrl.NewControllerManagedBy(mgr).
		Named("fromhost-"+gvk.GroupKind().String()).
		WatchesRawSource(source.Kind(e.hostCache, client.Object(newUnstructured(gvk)), &handler.EnqueueRequestForObject{})).
		Watches(newUnstructured(gvk), &handler.EnqueueRequestForObject{}, builder.WithPredicates(predicate.NewPredicateFuncs(ownedShown))).
		Complete(&fromHostReconciler{env: e, fromHostController: c})
}

// Reconcile shows host object req, or removes it from view.
func (r *fromHostReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	gvk := r.cr.GroupVersionKind()
	h := newUnstructured(gvk)
	err := r.host.Get(ctx, req.NamespacedName, h)
	if apierrors.IsNotFound(err) {
		// The host cache holds what the selector lets the tenant see.
		v := newUnstructured(gvk)
		v.SetNamespace(req.Namespace)
		v.SetName(req.Name)
		_, err := r.virtualApplier.Delete(ctx, v, ownedShown)
		return ctrl.Result{}, err
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	desired := translate.FromHost(h)
	if _, err := r.virtualApplier.Apply(ctx, desired, ownedShown); apply.IsNotOwned(err) {
		live := newUnstructured(gvk)
		if err := r.virtual.Get(ctx, req.NamespacedName, live); err == nil {
			r.recorder.Eventf(live, nil, corev1.EventTypeWarning, ReasonVirtualObjectInTheWay, "Sync",
				"The host's %s %s is shown in the virtual cluster under this name, but this object is in the way and is left alone. "+
					"Rename or delete it to see the host's.", gvk.Kind, req.Name)
		}
		return ctrl.Result{}, nil
	} else if err != nil {
		return ctrl.Result{}, fmt.Errorf("showing host %s %s in the virtual cluster: %w", gvk.Kind, req.NamespacedName, err)
	}
	if !r.statusSubresource {
		return ctrl.Result{}, nil
	}
	// The status of a kind that serves it apart is not written with the rest.
	v := newUnstructured(gvk)
	if err := r.virtual.Get(ctx, req.NamespacedName, v); err != nil {
		// Just created, not in the cache yet: its event brings us back.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := v.DeepCopy()
	if translate.CustomResourceStatus(v, h); equality.Semantic.DeepEqual(before.Object, v.Object) {
		return ctrl.Result{}, nil
	}
	if err := r.virtual.Status().Update(ctx, v); err != nil {
		return ctrl.Result{}, fmt.Errorf("updating the status of %s %s in the virtual cluster: %w", gvk.Kind, req.NamespacedName, err)
	}
	return ctrl.Result{}, nil
}
