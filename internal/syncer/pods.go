package syncer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nestor-dev/nestor/internal/translate"
)

// Kinds of host objects that belong to a virtual pod. The token's is no
// kind of the API: it tells a pod's token Secret from a copied Secret.
var (
	kindPod      = schema.GroupKind{Group: corev1.GroupName, Kind: "Pod"}
	kindPodToken = schema.GroupKind{Group: corev1.GroupName, Kind: "PodServiceAccountToken"}
)

// annotationTokenRenew records when the token in a pod's token Secret is
// to be renewed, in Unix seconds: at 80% of the life the virtual cluster
// gave it, which may be shorter than the life asked for.
const annotationTokenRenew = "nestor.dev/token-renew"

// annotationPlaced marks a virtual pod the syncer bound to the node its
// host pod runs on.
const annotationPlaced = "nestor.dev/placed-on"

// defaultTokenSeconds is the lifetime of a token whose projection sets none,
// as the kubelet asks for.
const defaultTokenSeconds = 3600

// podReconciler syncs pods. A pod's life is the host's: the host schedules
// and runs it, and the virtual pod follows, down to its deletion.
type podReconciler struct {
	*env
	// minted holds, by the key of the host Secret, the tokens stored
	// that the host cache may not show yet, so that the next sync does
	// not mint another and write the Secret again.
	minted sync.Map // client.ObjectKey → mintedToken
}

// mintedToken is a token stored for the virtual pod of UID pod, due for
// renewal at renew.
type mintedToken struct {
	pod   types.UID
	renew time.Time
}

func (e *env) setupPods(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("pod").
		For(&corev1.Pod{}).
		WatchesRawSource(e.watchHost(kindPod, func() client.Object { return &corev1.Pod{} })).
		WatchesRawSource(e.watchHost(kindPodToken, func() client.Object { return &corev1.Secret{} })).
		Complete(&podReconciler{env: e})
}

// Reconcile runs the steps of one virtual pod's sync.
func (r *podReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	v := &corev1.Pod{}
	err := r.virtual.Get(ctx, req.NamespacedName, v)
	if apierrors.IsNotFound(err) {
		if gone, err := r.gone(ctx, req.NamespacedName, &corev1.Pod{}); err != nil || !gone {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, r.deleteHostPod(ctx, orphaned, req.Namespace, req.Name, nil)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if !v.DeletionTimestamp.IsZero() {
		return r.deleting(ctx, v)
	}

	h := &corev1.Pod{}
	key := r.tr.Names.HostKey(v.Namespace, v.Name)
	exists, ours, err := r.hostPod(ctx, v, h)
	if err != nil {
		return ctrl.Result{}, err
	}
	if exists && !ours {
		if stale, err := r.replaceStale(ctx, v, h); err != nil || stale {
			return ctrl.Result{}, err
		}
	}
	if !exists {
		if lost, err := r.lost(ctx, v, key); err != nil || lost {
			return ctrl.Result{}, err
		}
	}

	// A pod the host has placed is never created again: if its host pod
	// went since we looked, the pod was lost (the next pass sees it).
	send := r.applier.Apply
	if v.Annotations[annotationPlaced] != "" {
		send = r.applier.Update
	}
	desired := r.tr.Pod(v)
	if !ours || translate.RewritesHosts(h) {
		r.tr.RewriteHosts(desired, v)
	}
	if ours {
		// A pod's DNS is fixed when it is created: a host pod made before
		// the virtual cluster had its own DNS keeps the host's until the
		// tenant re-creates it, rather than be refused on every pass.
		desired.Spec.DNSPolicy, desired.Spec.DNSConfig, desired.Spec.Subdomain = h.Spec.DNSPolicy, h.Spec.DNSConfig, h.Spec.Subdomain
		// So are its containers' variables, service links included.
		keepEnv(desired, h)
	} else {
		links, wait, err := r.serviceLinks(ctx, v)
		if err != nil || wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, err
		}
		translate.WithServiceLinks(desired, links)
	}
	admitted, err := r.admitted(ctx, v, desired, ours)
	if err != nil {
		return ctrl.Result{}, err
	}
	// A pod its level refuses gets no host copy; a refused change leaves
	// the copy as it was, still followed. Only a change of the pod, or of
	// the level (which restarts the syncer), can mend it.
	synced, syncErr := ours, error(nil)
	if admitted {
		synced, syncErr = r.write(ctx, kindPod, v, desired, nil, send)
	} else if !ours {
		return ctrl.Result{}, nil
	}
	if apierrors.IsNotFound(syncErr) {
		return ctrl.Result{Requeue: true}, nil
	}
	// The host's word on the pod comes back even when a change of its spec
	// cannot go down (most of a pod's spec is immutable).
	if ours {
		if err := r.statusUp(ctx, v, h); err != nil {
			return ctrl.Result{}, errors.Join(syncErr, err)
		}
	}
	if syncErr != nil {
		return ctrl.Result{}, syncErr
	}
	if !synced {
		return ctrl.Result{RequeueAfter: r.resync}, nil
	}
	// The kubelet waits for the token's Secret before it starts the pod.
	refresh, err := r.token(ctx, v)
	return ctrl.Result{RequeueAfter: refresh}, err
}

// linkWait is how long a new pod waits for the host copy of a Service made
// in its namespace just before it (its variables need the host's cluster
// IP), and linkRetry how often it looks again. A Service whose copy takes
// longer is left out, as a kubelet leaves out a Service made after the
// container starts.
const (
	linkWait  = 10 * time.Second
	linkRetry = 500 * time.Millisecond
)

// serviceLinks are the service variables of v's containers, for a pod that
// keeps enableServiceLinks on: those of the Services of its namespace at
// the cluster IPs of their host copies, the addresses host pods reach them
// at (README, "Service variables"). Without synced Services there are
// none: a virtual cluster IP leads nowhere on the host. wait > 0 says to
// look again, as a Service of the last linkWait has no host copy yet.
func (r *podReconciler) serviceLinks(ctx context.Context, v *corev1.Pod) ([]corev1.EnvVar, time.Duration, error) {
	if !r.cfg.ToHost.Services.IsEnabled() || !ptr.Deref(v.Spec.EnableServiceLinks, true) {
		return nil, 0, nil
	}
	var list corev1.ServiceList
	if err := r.virtual.List(ctx, &list, client.InNamespace(v.Namespace)); err != nil {
		return nil, 0, fmt.Errorf("listing the services of virtual namespace %s for pod %s's variables: %w", v.Namespace, v.Name, err)
	}
	var linked []corev1.Service
	for _, svc := range list.Items {
		if apiServerService(&svc) || svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
			continue // the API server's variables are the translation's own
		}
		if clusterService(&svc) {
			linked = append(linked, svc) // shown at its host Service's address, with no copy
			continue
		}
		h := &corev1.Service{}
		err := r.host.Get(ctx, r.tr.Names.HostKey(svc.Namespace, svc.Name), h)
		switch {
		case apierrors.IsNotFound(err):
			if time.Since(svc.CreationTimestamp.Time) < linkWait {
				return nil, linkRetry, nil
			}
			continue
		case err != nil:
			return nil, 0, fmt.Errorf("reading the host copy of service %s/%s for pod %s's variables: %w", svc.Namespace, svc.Name, v.Name, err)
		}
		svc.Spec.ClusterIP = h.Spec.ClusterIP
		linked = append(linked, svc)
	}
	return translate.ServiceLinks(linked), 0, nil
}

// keepEnv gives desired, the host copy of a pod as it would be made now,
// the variables of h, its host copy as it was made: they cannot change.
func keepEnv(desired, h *corev1.Pod) {
	for _, pair := range [][2][]corev1.Container{{desired.Spec.InitContainers, h.Spec.InitContainers}, {desired.Spec.Containers, h.Spec.Containers}} {
		for i := range pair[0] {
			if i < len(pair[1]) && pair[0][i].Name == pair[1][i].Name {
				pair[0][i].Env = pair[1][i].Env
			}
		}
	}
}

// admitted reports whether h, the host copy of virtual pod v, meets the
// Pod Security level the tenant's pods are held to. A pod that does not
// gets a SyncFailed Warning event that lists what it violates, in the words
// of the host's PodSecurity admission, and where the level comes from.
// copied says v has a host copy already, which stays as it is.
func (r *podReconciler) admitted(ctx context.Context, v, h *corev1.Pod, copied bool) (bool, error) {
	p, err := r.podSecurityPolicy(ctx)
	if err != nil {
		return false, err
	}
	violations := p.Check(&h.ObjectMeta, &h.Spec)
	if violations == "" {
		return true, nil
	}
	what := "Not copied to the host"
	if copied {
		what = "The host copy is not updated"
	}
	r.recorder.Eventf(v, nil, corev1.EventTypeWarning, ReasonSyncFailed, "Sync",
		"%s: this pod %s. The level %s is set by %s; change the pod to meet it.", what, violations, p.Level, p.From)
	return false, nil
}

// replaceStale deletes old, the host copy of an earlier virtual pod of v's
// name (deleted and re-created faster than the syncer saw, or made for an
// earlier virtual cluster whose data was lost), which v cannot take over: a
// pod's spec is immutable, and its token is bound to the old pod. The
// tenant asked for a pod of that name: v replaces old, as a StatefulSet's
// pod replaces its predecessor. It reports whether old is on its way out;
// its deletion event brings us back.
func (r *podReconciler) replaceStale(ctx context.Context, v, old *corev1.Pod) (bool, error) {
	o, ok := r.tr.OriginOf(old)
	if !ok || o.Kind != kindPod || o.UID == v.UID {
		return false, nil
	}
	if !old.DeletionTimestamp.IsZero() {
		return true, nil
	}
	_, err := r.applier.DeleteLive(ctx, old, func(client.Object) bool { return true })
	return err == nil, err
}

// lost reports, and handles, a virtual pod whose host pod ran and is gone,
// as after a node loss: the virtual pod goes too, and its controller (a
// ReplicaSet, say) replaces it. Only a pod the syncer itself bound counts:
// a tenant may set spec.nodeName, and the host is asked, not the cache.
func (r *podReconciler) lost(ctx context.Context, v *corev1.Pod, key client.ObjectKey) (bool, error) {
	if v.Annotations[annotationPlaced] == "" {
		return false, nil
	}
	err := r.hostReader.Get(ctx, key, &corev1.Pod{})
	if !apierrors.IsNotFound(err) {
		return false, err
	}
	r.recorder.Eventf(v, nil, corev1.EventTypeWarning, ReasonHostPodLost, "Sync",
		"Host pod %s was deleted outside the virtual cluster; deleting this pod as a lost node would.", key)
	return true, r.forceDelete(ctx, v)
}

// hostPod reads the host pod at v's host name from the cache into h,
// reporting whether there is one and whether it is v's own copy: not an
// object in the way (the apply step reports that one), nor the copy of an
// earlier pod of the same name.
func (r *podReconciler) hostPod(ctx context.Context, v, h *corev1.Pod) (exists, ours bool, err error) {
	err = r.host.Get(ctx, r.tr.Names.HostKey(v.Namespace, v.Name), h)
	if apierrors.IsNotFound(err) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	o, ok := r.tr.OriginOf(h)
	return true, ok && o.Kind == kindPod && o.UID == v.UID, nil
}

// statusUp shows the host pod's node and status on the virtual pod, and
// carries the conditions of its readiness gates, which the tenant's
// controllers set on the virtual pod, down to the host pod.
func (r *podReconciler) statusUp(ctx context.Context, v, h *corev1.Pod) error {
	if v.Spec.NodeName == "" && h.Spec.NodeName != "" {
		// The node first: the virtual cluster's pod garbage collector
		// deletes a pod bound to a node that does not exist.
		if err := r.showNode(ctx, h.Spec.NodeName, h.Status.HostIP); err != nil {
			return err
		}
		// The binding's annotations go onto the pod: they record that the
		// host placed it.
		binding := &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: v.Name, Namespace: v.Namespace, UID: v.UID,
				Annotations: map[string]string{annotationPlaced: h.Spec.NodeName}},
			Target: corev1.ObjectReference{Kind: "Node", Name: h.Spec.NodeName},
		}
		if err := r.virtual.SubResource("binding").Create(ctx, v, binding); err != nil {
			return fmt.Errorf("binding virtual pod %s/%s to node %s: %w", v.Namespace, v.Name, h.Spec.NodeName, err)
		}
		// The binding changed the pod: its next event brings the status.
		return nil
	}
	if gates := r.tr.GateConditions(v, h); len(gates) > 0 {
		if err := r.gatesDown(ctx, h, gates); err != nil {
			return err
		}
	}
	want := r.tr.PodStatus(v, h)
	if equality.Semantic.DeepEqual(v.Status, want) {
		return nil
	}
	v.Status = want
	if err := r.virtual.Status().Update(ctx, v); err != nil {
		return fmt.Errorf("updating the status of virtual pod %s/%s: %w", v.Namespace, v.Name, err)
	}
	return nil
}

// gatesDown sets conditions on host pod h's status, by a patch of those
// alone: the host's kubelet writes the others.
func (r *podReconciler) gatesDown(ctx context.Context, h *corev1.Pod, conditions []corev1.PodCondition) error {
	before := h.DeepCopy()
	for _, c := range conditions {
		if i := slices.IndexFunc(h.Status.Conditions, func(have corev1.PodCondition) bool { return have.Type == c.Type }); i >= 0 {
			h.Status.Conditions[i] = c
		} else {
			h.Status.Conditions = append(h.Status.Conditions, c)
		}
	}
	if err := r.host.Status().Patch(ctx, h, client.StrategicMergeFrom(before)); err != nil {
		return fmt.Errorf("setting the readiness gates' conditions of host pod %s/%s: %w", h.Namespace, h.Name, err)
	}
	return nil
}

// deleting carries a virtual pod's graceful deletion to the host pod, and
// removes the virtual pod once the host pod is gone: no kubelet does it in
// the virtual cluster.
func (r *podReconciler) deleting(ctx context.Context, v *corev1.Pod) (ctrl.Result, error) {
	_, ours, err := r.hostPod(ctx, v, &corev1.Pod{})
	if err != nil {
		return ctrl.Result{}, err
	}
	if ours {
		if err := r.deleteHostPod(ctx, requested, v.Namespace, v.Name, v.DeletionGracePeriodSeconds); err != nil {
			return ctrl.Result{}, err
		}
		// The host pod's deletion event brings us back.
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, r.forceDelete(ctx, v)
}

// forceDelete removes virtual pod v at once, if it is still the same pod,
// and its token: as an orphan, for v may have no host pod of its own (a
// host pod made for an earlier virtual cluster keeps the token it reads).
func (r *podReconciler) forceDelete(ctx context.Context, v *corev1.Pod) error {
	err := r.virtual.Delete(ctx, v, client.GracePeriodSeconds(0), client.Preconditions{UID: &v.UID})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting virtual pod %s/%s: %w", v.Namespace, v.Name, err)
	}
	return r.deleteToken(ctx, orphaned, v.Namespace, v.Name)
}

// deleteHostPod deletes the host copy of virtual pod namespace/name and its
// token, with the virtual deletion's grace period when there is one.
func (r *podReconciler) deleteHostPod(ctx context.Context, why deletion, namespace, name string, grace *int64) error {
	var opts []client.DeleteOption
	if grace != nil {
		opts = append(opts, client.GracePeriodSeconds(*grace))
	}
	if err := r.deleteCopy(ctx, why, kindPod, &corev1.Pod{}, namespace, name, opts...); err != nil {
		return err
	}
	return r.deleteToken(ctx, why, namespace, name)
}

func (r *podReconciler) deleteToken(ctx context.Context, why deletion, namespace, name string) error {
	s := &corev1.Secret{}
	s.Namespace, s.Name = r.tr.Names.HostNamespace(namespace), r.tr.TokenSecretName(namespace, name)
	owned := func(live client.Object) bool { return r.tr.Owns(kindPodToken, namespace, name, live) }
	_, err := r.applier.Delete(ctx, s, r.narrow(ctx, why, owned))
	if err == nil {
		r.minted.Delete(client.ObjectKeyFromObject(s))
	}
	return err
}

// token keeps, in a host Secret beside v's synced copy, a service-account token the virtual
// cluster issued for v, as the kubelet keeps a projected token: renewed at
// 80% of its life. It returns when to look again.
func (r *podReconciler) token(ctx context.Context, v *corev1.Pod) (time.Duration, error) {
	projection := tokenProjection(v)
	if projection == nil {
		return 0, nil
	}
	key := client.ObjectKey{Namespace: r.tr.Names.HostNamespace(v.Namespace), Name: r.tr.TokenSecretName(v.Namespace, v.Name)}
	live := &corev1.Secret{}
	if err := r.host.Get(ctx, key, live); client.IgnoreNotFound(err) != nil {
		return 0, err
	}
	seconds := ptr.Deref(projection.ExpirationSeconds, defaultTokenSeconds)
	// A token Secret that records no virtual cluster (kept from before
	// copies did) is renewed now, and so records this one.
	if o, ok := r.tr.OriginOf(live); ok && o.UID == v.UID && r.tr.Current(live) {
		if renew, err := strconv.ParseInt(live.Annotations[annotationTokenRenew], 10, 64); err == nil {
			if wait := time.Until(time.Unix(renew, 0)); wait > 0 {
				r.minted.Delete(key) // the cache has caught up
				return wait, nil
			}
		}
	}
	if m, ok := r.minted.Load(key); ok && m.(mintedToken).pod == v.UID {
		if wait := time.Until(m.(mintedToken).renew); wait > 0 {
			return wait, nil
		}
	}

	var audiences []string
	if projection.Audience != "" {
		audiences = []string{projection.Audience}
	}
	tr, err := r.tokens.ServiceAccounts(v.Namespace).CreateToken(ctx, v.Spec.ServiceAccountName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         audiences,
			ExpirationSeconds: ptr.To(seconds),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: v.Name, UID: v.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return 0, fmt.Errorf("requesting a token for virtual pod %s/%s: %w", v.Namespace, v.Name, err)
	}
	secret := &corev1.Secret{
		ObjectMeta: r.tr.Meta(kindPodToken, &metav1.ObjectMeta{Namespace: v.Namespace, Name: v.Name, UID: v.UID}),
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{translate.TokenKey: []byte(tr.Status.Token)},
	}
	secret.Name = key.Name
	life := max(time.Until(tr.Status.ExpirationTimestamp.Time), time.Minute)
	renew := time.Now().Add(life * 4 / 5)
	secret.Annotations[annotationTokenRenew] = strconv.FormatInt(renew.Unix(), 10)
	if _, err := r.applier.Apply(ctx, secret, func(live client.Object) bool { return r.tr.Owns(kindPodToken, v.Namespace, v.Name, live) }); err != nil {
		return 0, fmt.Errorf("storing the token of virtual pod %s/%s: %w", v.Namespace, v.Name, err)
	}
	r.minted.Store(key, mintedToken{pod: v.UID, renew: renew})
	return time.Until(renew), nil
}

// tokenProjection is the service-account token v mounts, if any.
func tokenProjection(v *corev1.Pod) *corev1.ServiceAccountTokenProjection {
	for _, vol := range v.Spec.Volumes {
		if p := vol.Projected; p != nil {
			for _, src := range p.Sources {
				if src.ServiceAccountToken != nil {
					return src.ServiceAccountToken
				}
			}
		}
	}
	return nil
}
