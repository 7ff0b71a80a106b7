package syncer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/apply"
	"github.com/nestor-dev/nestor/internal/ownership"
	"github.com/nestor-dev/nestor/internal/podsecurity"
	"github.com/nestor-dev/nestor/internal/rbac"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
	"github.com/nestor-dev/nestor/internal/translate"
)

// Reasons of the events the syncer records on virtual objects.
const (
	ReasonHostObjectNotOwned = "HostObjectNotOwned"
	ReasonHostPodLost        = "HostPodLost"
	ReasonSyncFailed         = "SyncFailed"
)

// env is what every kind's controller shares.
type env struct {
	tr  translate.Context
	cfg syncerconfig.Config
	// vc stands for the VirtualCluster, for the labels of what it owns.
	vc *tenancyv1alpha1.VirtualCluster

	virtual       client.Client // cached
	virtualReader client.Reader // uncached, to confirm an absence before acting on it
	tokens        typedcorev1.CoreV1Interface
	host          client.Client // reads from the label-selected host cache
	hostReader    client.Reader // uncached, to confirm an absence on the host
	hostCache     cache.Cache
	// hostNamespaces is hostCache in multi-namespace mode, nil in
	// single-namespace mode.
	hostNamespaces *namespacesCache
	applier        *apply.Applier // writes to the host
	// virtualApplier writes what the syncer shows from the host.
	virtualApplier *apply.Applier
	// definitions are the custom kinds' definitions installed in the
	// virtual cluster, by <plural>.<group>: only these kinds sync.
	definitions definitions
	// recorder records events on virtual objects, hostRecorder on the
	// VirtualCluster.
	recorder, hostRecorder events.EventRecorder
	// watched makes an empty host object of each kind a controller
	// watches on the host, by the kind its origin records (watchHost).
	// Filled while the controllers are set up, read-only once they run.
	watched map[schema.GroupKind]func() client.Object
	// resync is how long a sync that waits on someone else waits.
	resync time.Duration

	// podSecurity is the Pod Security policy the tenant's pods are held
	// to, once worked out.
	podSecurityMu sync.Mutex
	podSecurity   *podsecurity.Policy

	// foreignReported is set once the copies made for another virtual
	// cluster have been reported (reportForeign).
	foreignMu       sync.Mutex
	foreignReported bool
}

// owns is the OwnedFunc of the host copy of a virtual object.
func (e *env) owns(kind schema.GroupKind, v client.Object) apply.OwnedFunc {
	return func(live client.Object) bool { return e.tr.Owns(kind, v.GetNamespace(), v.GetName(), live) }
}

// toHost writes desired, the host copy of v, and reports whether it did:
// not when v's namespace is going away, nor when a host object of that name
// is not v's copy, which is left alone while v gets a Warning event. Each of
// fallbacks, in turn, builds the copy sent instead when the host finds the
// one before it invalid; only the last refusal is reported.
func (e *env) toHost(ctx context.Context, kind schema.GroupKind, v, desired client.Object, fallbacks ...func() (client.Object, error)) (bool, error) {
	return e.write(ctx, kind, v, desired, fallbacks, e.applier.Apply)
}

// write is toHost with the applier's method of choice.
func (e *env) write(ctx context.Context, kind schema.GroupKind, v, desired client.Object, fallbacks []func() (client.Object, error),
	send func(context.Context, client.Object, apply.OwnedFunc) (apply.Result, error)) (bool, error) {
	if err := e.ensureNamespace(ctx, v.GetNamespace()); errors.Is(err, errNamespaceGone) {
		return false, nil // the namespace's deletion removes v
	} else if err != nil {
		return false, err
	}
	_, err := send(ctx, desired, e.owns(kind, v))
	for _, next := range fallbacks {
		if !apierrors.IsInvalid(err) {
			break
		}
		logf.FromContext(ctx).V(1).Info("the host refused a copy; sending the next", "error", err.Error())
		if desired, err = next(); err != nil {
			return false, fmt.Errorf("building the next copy of %s %s/%s: %w", kind, v.GetNamespace(), v.GetName(), err)
		}
		_, err = send(ctx, desired, e.owns(kind, v))
	}
	if apply.IsNotOwned(err) {
		e.recorder.Eventf(v, nil, corev1.EventTypeWarning, ReasonHostObjectNotOwned, "Sync",
			"%s %s/%s already exists on the host and is not this object's copy: Nestor leaves it alone. "+
				"Rename this object, or ask the host's administrator to remove that one.",
			kind, desired.GetNamespace(), desired.GetName())
		return false, nil
	}
	if refused(err) {
		// The host's quota, Pod Security, a webhook of its own or its
		// validation said no: the tenant is told why, and it is tried again.
		e.recorder.Eventf(v, nil, corev1.EventTypeWarning, ReasonSyncFailed, "Sync",
			"The host refused this object's copy, %s %s/%s: %s", kind, desired.GetNamespace(), desired.GetName(), err.Error())
	}
	if err != nil {
		return false, fmt.Errorf("syncing %s %s/%s to the host: %w", kind, v.GetNamespace(), v.GetName(), err)
	}
	return true, nil
}

// refused reports whether err is the host's answer to the object itself,
// which only a change of the object (or of the host's rules) can mend.
func refused(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsRequestEntityTooLargeError(err)
}

// deleteCopy deletes the host copy of virtual object namespace/name, if
// there is one, it is that object's, and why lets it go (see deletion).
func (e *env) deleteCopy(ctx context.Context, why deletion, kind schema.GroupKind, h client.Object, namespace, name string, opts ...client.DeleteOption) error {
	key := e.tr.HostKey(kind, namespace, name)
	h.SetNamespace(key.Namespace)
	h.SetName(key.Name)
	owned := func(live client.Object) bool { return e.tr.Owns(kind, namespace, name, live) }
	_, err := e.applier.Delete(ctx, h, e.narrow(ctx, why, owned), opts...)
	return err
}

// gone reports whether virtual object key of obj's kind is really absent:
// the cache may lag behind a re-creation.
func (e *env) gone(ctx context.Context, key types.NamespacedName, obj client.Object) (bool, error) {
	err := e.virtualReader.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	return false, err
}

// errNamespaceGone says a virtual namespace is being deleted: its host
// namespace is not to be created again.
var errNamespaceGone = errors.New("the virtual namespace is being deleted")

// ensureNamespace creates, in multi-namespace mode, the host namespace of
// virtual namespace ns, the RoleBinding that grants the syncer its rules
// there, and the ServiceAccount its pods run as; then the host cache
// watches the namespace.
func (e *env) ensureNamespace(ctx context.Context, ns string) error {
	if !e.tr.Names.MultiNamespace() {
		return nil
	}
	vns := &corev1.Namespace{}
	err := e.virtual.Get(ctx, client.ObjectKey{Name: ns}, vns)
	if apierrors.IsNotFound(err) || (err == nil && !vns.DeletionTimestamp.IsZero()) {
		// The namespace cache may lag behind the object's: ask.
		err = e.virtualReader.Get(ctx, client.ObjectKey{Name: ns}, vns)
	}
	switch {
	case apierrors.IsNotFound(err) || (err == nil && !vns.DeletionTimestamp.IsZero()):
		return errNamespaceGone
	case err != nil:
		return err
	}
	hostNs := e.tr.Names.HostNamespace(ns)
	ps, err := e.podSecurityPolicy(ctx)
	if err != nil {
		return err
	}
	// The host enforces the level too, on whatever writes pods there.
	labels := ps.NamespaceLabels()
	maps.Copy(labels, ownership.Labels(e.vc))
	labels[tenancyv1alpha1.LabelVirtualNamespace] = ns
	labels[tenancyv1alpha1.LabelVirtualClusterUID] = string(e.tr.Identity)
	desired := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:        hostNs,
		Labels:      labels,
		Annotations: map[string]string{tenancyv1alpha1.AnnotationVirtualNamespace: ns},
	}}
	if _, err := e.applier.Apply(ctx, desired, e.ownsNamespace(ns)); err != nil {
		return fmt.Errorf("creating host namespace %s for virtual namespace %s: %w", hostNs, ns, err)
	}
	// The syncer's rules there come first: it may write nothing else in
	// the namespace before. Labelled as the syncer's, so its cache sees it;
	// with no origin, it is no virtual object's copy.
	grant := rbac.NamespaceRoleBinding(e.vc, hostNs, e.tr.SelectorLabels())
	if _, err := e.applier.Apply(ctx, grant, e.madeForItself(grant.Name)); err != nil {
		return fmt.Errorf("granting the syncer its rules in host namespace %s: %w", hostNs, err)
	}
	saLabels := e.tr.SelectorLabels()
	saLabels[tenancyv1alpha1.LabelVirtualClusterUID] = string(e.tr.Identity)
	sa := &corev1.ServiceAccount{
		ObjectMeta:                   metav1.ObjectMeta{Name: e.cfg.WorkloadServiceAccount, Namespace: hostNs, Labels: saLabels},
		AutomountServiceAccountToken: ptr.To(false),
	}
	if _, err := e.applier.Apply(ctx, sa, e.madeForItself(sa.Name)); err != nil {
		return fmt.Errorf("creating the workload ServiceAccount in %s: %w", hostNs, err)
	}
	// The ServiceAccount went through the grant: the namespace's informers
	// can list.
	return e.hostNamespaces.watch(hostNs)
}

// podSecurityPolicy is the level of the Pod Security Standards the
// tenant's pods are held to (docs/pod-security.md). In multi-namespace mode
// it is the stricter of spec.policies.podSecurity.level and the enforce
// label of the VirtualCluster's namespace. In single-namespace mode the
// syncer may not read that namespace, and need not: the pods land there,
// where the host's own admission holds them to its labels.
func (e *env) podSecurityPolicy(ctx context.Context) (podsecurity.Policy, error) {
	// Worked out once per start: every pod's and host namespace's sync
	// asks, the platform sets the label when it creates the namespace, and
	// a change of the level restarts the syncer.
	e.podSecurityMu.Lock()
	defer e.podSecurityMu.Unlock()
	if e.podSecurity != nil {
		return *e.podSecurity, nil
	}
	p := podsecurity.Requested(e.cfg.PodSecurity.Level)
	if e.tr.Names.MultiNamespace() {
		own := &corev1.Namespace{}
		if err := e.hostReader.Get(ctx, client.ObjectKey{Name: e.cfg.HostNamespace}, own); err != nil {
			return podsecurity.Policy{}, fmt.Errorf("reading the Pod Security labels of namespace %s: %w", e.cfg.HostNamespace, err)
		}
		p = podsecurity.Effective(e.cfg.PodSecurity.Level, own.Name, own.Labels)
	}
	e.podSecurity = &p
	return p, nil
}

// madeForItself accepts the object named name that the syncer made for
// itself in a host namespace of its own: its grant, the workload
// ServiceAccount.
func (e *env) madeForItself(name string) apply.OwnedFunc {
	return func(live client.Object) bool {
		for k, v := range e.tr.SelectorLabels() {
			if live.GetLabels()[k] != v {
				return false
			}
		}
		_, isCopy := e.tr.OriginOf(live)
		return !isCopy && live.GetName() == name
	}
}

// ownsNamespace accepts the host namespace of virtual namespace ns.
func (e *env) ownsNamespace(ns string) apply.OwnedFunc {
	labelled := ownership.LabelledFor(e.vc)
	return func(live client.Object) bool {
		return labelled(live) && live.GetLabels()[tenancyv1alpha1.LabelVirtualNamespace] == ns
	}
}

// watchHost is the source of a controller's requests from the host copies
// of kind, each mapped to the virtual object it comes from. It records kind
// as watched: a lookup beyond a controller's own kinds (the event
// controller's) reads only watched kinds from the host cache, whose
// informers the controllers start.
func (e *env) watchHost(kind schema.GroupKind, newH func() client.Object) source.Source {
	e.watched[kind] = newH
	return source.Kind(e.hostCache, newH(), handler.EnqueueRequestsFromMapFunc(func(_ context.Context, h client.Object) []reconcile.Request {
		o, ok := e.tr.OriginOf(h)
		if !ok || o.Kind != kind {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.Namespace, Name: o.Name}}}
	}))
}
