package syncer

import (
	"context"
	"fmt"
	"slices"

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

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
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

// newUnstructuredList makes an empty list of gvk's objects.
func newUnstructuredList(gvk schema.GroupVersionKind) *unstructured.UnstructuredList {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	return list
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
	hostWrites := slices.ContainsFunc(e.secretNamingKinds(), func(cr syncerconfig.CustomResource) bool {
		return slices.ContainsFunc(cr.References, hostWrittenSecret)
	})
	return append(rows, entry{hostWrites && e.cfg.ToHost.Secrets.IsEnabled(), ownController((*env).setupHostMade)})
}

// customKind is the kind of a ToHost custom resource: everything but the
// status goes down, the status comes back, and the Secrets its host-written
// references name are shown in the virtual cluster. A kind with such
// references looks again every resync: the host may write the Secret
// without touching the copy.
func (e *env) customKind(cr syncerconfig.CustomResource, statusApart bool) kind[*unstructured.Unstructured] {
	gvk := cr.GroupVersionKind()
	k := kind[*unstructured.Unstructured]{
		gvk:          gvk,
		newObj:       func() *unstructured.Unstructured { return newUnstructured(gvk) },
		copy:         func(v *unstructured.Unstructured) *unstructured.Unstructured { return e.tr.CustomResource(cr, v) },
		status:       translate.CustomResourceStatus,
		statusInMain: !statusApart,
	}
	if !e.cfg.ToHost.Secrets.IsEnabled() || !slices.ContainsFunc(cr.References, hostWrittenSecret) {
		return k
	}
	k.recheck = true
	k.after = func(ctx context.Context, v, _ *unstructured.Unstructured) error {
		for _, name := range references.Names(v.Object, cr.References, kindSecret, true) {
			shown, err := e.showHostMade(ctx, v.GetNamespace(), name)
			if err != nil {
				return err
			}
			if !shown {
				e.recorder.Eventf(v, nil, corev1.EventTypeWarning, ReasonVirtualObjectInTheWay, "Sync",
					"Secret %s/%s, which the host writes for this %s, is not shown: a Secret of the virtual cluster's own has that name. "+
						"Delete or rename it to see the host's.", v.GetNamespace(), name, gvk.Kind)
			}
		}
		return nil
	}
	return k
}

var kindSecret = schema.GroupKind{Kind: "Secret"}

func hostWrittenSecret(r tenancyv1alpha1.ReferencePatch) bool {
	return r.WrittenByHost && references.GroupKind(r.Reference) == kindSecret
}

// showHostMade shows in the virtual cluster the host Secret a host
// controller wrote at the host name of virtual secret namespace/name,
// while a synced object names it in a host-written reference (a
// certificate's spec.secretName), and removes it once that Secret or the
// reference is gone. It reports false when a Secret of the tenant's own
// has that name, which is left alone. Only a name the tenant's translates
// to is read (single-namespace mode joins the virtual cluster's name in,
// multi-namespace mode uses the tenant's own host namespaces), and nothing
// the operator or a syncer made.
func (e *env) showHostMade(ctx context.Context, namespace, name string) (bool, error) {
	key := e.tr.HostKey(kindSecret, namespace, name)
	owned := func(live client.Object) bool { return translate.ShownFrom(live, key.Namespace, key.Name) }
	named, err := e.hostWritten(ctx, namespace, name)
	if err != nil {
		return true, err
	}
	h := &corev1.Secret{}
	if named {
		if err := e.hostReader.Get(ctx, key, h); client.IgnoreNotFound(err) != nil {
			return true, fmt.Errorf("reading host Secret %s for virtual Secret %s/%s: %w", key, namespace, name, err)
		}
	}
	if _, nestors := h.Labels[tenancyv1alpha1.LabelManagedBy]; !named || h.UID == "" || nestors {
		v := &corev1.Secret{}
		v.Namespace, v.Name = namespace, name
		_, err := e.virtualApplier.Delete(ctx, v, owned)
		return true, err
	}
	_, err = e.virtualApplier.Apply(ctx, translate.HostMadeSecret(h, namespace, name), owned)
	if apply.IsNotOwned(err) {
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("showing host Secret %s as %s/%s: %w", key, namespace, name, err)
	}
	return true, nil
}

// hostWritten reports whether a synced object in namespace names Secret
// name in a reference the host writes.
func (e *env) hostWritten(ctx context.Context, namespace, name string) (bool, error) {
	for _, cr := range e.secretNamingKinds() {
		list := newUnstructuredList(cr.GroupVersionKind())
		if err := e.virtual.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{indexHostSecrets: name}); err != nil {
			return false, fmt.Errorf("listing the %s that name Secret %s/%s: %w", cr.Resource, namespace, name, err)
		}
		for _, o := range list.Items {
			if o.GetDeletionTimestamp().IsZero() {
				return true, nil
			}
		}
	}
	return false, nil
}

// ownedShown accepts what the syncer shows from the host.
func ownedShown(live client.Object) bool { return translate.Shown(live) }

// setupHostMade keeps the Secrets shown from the host in step with it: an
// edit or a deletion in the virtual cluster is undone, and a shown Secret
// that nothing names any more goes. Nothing watches the host's Secrets that
// are not copies: the objects that name them look again every resync
// (customKind's recheck), and that follows the host's.
func (e *env) setupHostMade(mgr manager.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).
		Named("hostmade-secret").
		For(&corev1.Secret{}, builder.WithPredicates(predicate.NewPredicateFuncs(ownedShown)))
	// An object that stops naming a Secret, or goes, takes it from view.
	for _, cr := range e.secretNamingKinds() {
		b = b.Watches(newUnstructured(cr.GroupVersionKind()), requestsFor(func(o client.Object) []string {
			return references.Names(o.(*unstructured.Unstructured).Object, cr.References, kindSecret, true)
		}))
	}
	return b.Complete(reconcileFunc(func(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
		_, err := e.showHostMade(ctx, req.Namespace, req.Name)
		return ctrl.Result{}, err
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
	owned := func(live client.Object) bool { return translate.ShownFrom(live, req.Namespace, req.Name) }
	h := newUnstructured(gvk)
	err := r.host.Get(ctx, req.NamespacedName, h)
	if apierrors.IsNotFound(err) {
		// The host cache holds what the selector lets the tenant see.
		v := newUnstructured(gvk)
		v.SetNamespace(req.Namespace)
		v.SetName(req.Name)
		_, err := r.virtualApplier.Delete(ctx, v, owned)
		return ctrl.Result{}, err
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	desired := translate.FromHost(h)
	if _, err := r.virtualApplier.Apply(ctx, desired, owned); apply.IsNotOwned(err) {
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
