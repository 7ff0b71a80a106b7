package syncer

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/nestor-dev/nestor/internal/translate"
)

const (
	// eventRetry is how soon an event about an object not in the host
	// cache is looked at again: informers lag by well under a second.
	eventRetry = 2 * time.Second
	// recentEvent is how long after it happened an event waits for its
	// object; an object still missing by then is gone.
	recentEvent = time.Minute
)

// eventReconciler copies the host's events about synced objects into the
// virtual cluster, about the virtual objects and in their words: no host
// name is left in them. The kinds synced are the ones this configuration
// runs controllers for: an event about any other kind is passed over.
type eventReconciler struct{ *env }

func (e *env) setupEvents(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("event").
		WatchesRawSource(source.Kind(e.hostCache, client.Object(&corev1.Event{}), &handler.EnqueueRequestForObject{})).
		Complete(&eventReconciler{e})
}

// Reconcile handles one host event, named by req.
func (r *eventReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	h := &corev1.Event{}
	if err := r.host.Get(ctx, req.NamespacedName, h); err != nil {
		// A host event that expired leaves its copy to expire in turn.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	o, ok, err := r.about(ctx, h)
	if apierrors.IsNotFound(err) && recent(h, time.Now()) {
		// The event's informer may run ahead of its object's: look again.
		return ctrl.Result{RequeueAfter: eventRetry}, nil
	}
	if !ok {
		// Not about a copy of ours, or its object is gone for good.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	want := r.tr.Event(h, o)
	v := &corev1.Event{}
	err = r.virtual.Get(ctx, client.ObjectKeyFromObject(want), v)
	switch {
	case apierrors.IsNotFound(err):
		if err := r.virtual.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return ctrl.Result{}, fmt.Errorf("copying event %s: %w", req.NamespacedName, err)
		}
		return ctrl.Result{}, nil
	case err != nil:
		return ctrl.Result{}, err
	}
	if v.Count == want.Count && v.Message == want.Message && v.LastTimestamp.Equal(&want.LastTimestamp) {
		return ctrl.Result{}, nil
	}
	v.Count, v.Message, v.LastTimestamp, v.Series = want.Count, want.Message, want.LastTimestamp, want.Series
	return ctrl.Result{}, r.virtual.Update(ctx, v)
}

// about finds the virtual object a host event is about, if it is about a
// copy of this virtual cluster's. Only a watched kind is looked up: asking
// the host cache for another starts an informer the syncer's rules may
// forbid, which never syncs, and the lookup waits for it forever. An object
// not in the cache is a NotFound error: it may be on its way.
func (r *eventReconciler) about(ctx context.Context, h *corev1.Event) (translate.Origin, bool, error) {
	// By group too: a custom resource may share a core kind's name.
	kind := h.InvolvedObject.GroupVersionKind().GroupKind()
	newObj, ok := r.watched[kind]
	if !ok || h.InvolvedObject.Namespace == "" {
		return translate.Origin{}, false, nil
	}
	obj := newObj()
	key := client.ObjectKey{Namespace: h.InvolvedObject.Namespace, Name: h.InvolvedObject.Name}
	if err := r.host.Get(ctx, key, obj); err != nil {
		return translate.Origin{}, false, fmt.Errorf("looking up %s %s, which event %s/%s is about: %w",
			kind, key, h.Namespace, h.Name, err)
	}
	o, ok := r.tr.OriginOf(obj)
	return o, ok && o.Kind == kind, nil
}

// recent reports whether host event h last happened within recentEvent of
// now, by whichever of its times its reporter filled in.
func recent(h *corev1.Event, now time.Time) bool {
	times := []time.Time{h.CreationTimestamp.Time, h.LastTimestamp.Time, h.EventTime.Time}
	if h.Series != nil {
		times = append(times, h.Series.LastObservedTime.Time)
	}
	return now.Sub(slices.MaxFunc(times, time.Time.Compare)) < recentEvent
}
