package syncer

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/nestor-dev/nestor/internal/translate"
)

// setupClusterServices shows the virtual cluster's own Services, the API
// server's "kubernetes" and the DNS's "kube-dns", at the host Services
// that reach them from the tenant's host pods, with Endpoints and
// EndpointSlices that name those (README, "The kubernetes Service"): the
// virtual API server runs without an endpoint reconciler, and its own
// addresses mean nothing on the host.
func (e *env) setupClusterServices(mgr ctrl.Manager) error {
	only := builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
		s, ok := translate.ClusterServiceOf(o.GetNamespace(), o.GetName())
		return ok && e.clusterServiceIP(s) != ""
	}))
	return ctrl.NewControllerManagedBy(mgr).
		Named("clusterservices").
		For(&corev1.Service{}, only).
		Watches(&corev1.Endpoints{}, &handler.EnqueueRequestForObject{}, only).
		Watches(&discoveryv1.EndpointSlice{}, &handler.EnqueueRequestForObject{}, only).
		WatchesRawSource(e.madeBySyncer()).
		Complete(reconcileFunc(e.syncClusterService))
}

// madeBySyncer requests, once at start, the Services the syncer makes:
// while one is missing no event of its own comes.
func (e *env) madeBySyncer() source.Source {
	ch := make(chan event.GenericEvent, len(translate.ClusterServices))
	for _, s := range translate.ClusterServices {
		if !s.MadeByAPIServer && e.clusterServiceIP(s) != "" {
			ch <- event.GenericEvent{Object: s.Service("")}
		}
	}
	return source.Channel(ch, &handler.EnqueueRequestForObject{})
}

// clusterServiceIP is the cluster IP of the host Service that s leads to,
// empty while the configuration has none.
func (e *env) clusterServiceIP(s translate.ClusterService) string {
	if s.MadeByAPIServer {
		return e.cfg.APIServerIP
	}
	return e.cfg.DNSNameserver
}

func (e *env) syncClusterService(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	s, ok := translate.ClusterServiceOf(req.Namespace, req.Name)
	if !ok {
		return ctrl.Result{}, nil
	}
	ip := e.clusterServiceIP(s)
	ep, slice := s.Endpoints(ip)
	// Nobody else writes them: the API server leaves them to the syncer.
	ours := func(client.Object) bool { return true }
	for _, obj := range []client.Object{ep, slice} {
		if _, err := e.virtualApplier.Apply(ctx, obj, ours); err != nil {
			return ctrl.Result{}, fmt.Errorf("pointing the virtual cluster's %T %s/%s at %s: %w", obj, s.Namespace, s.Name, ip, err)
		}
	}
	svc := &corev1.Service{}
	err := e.virtual.Get(ctx, req.NamespacedName, svc)
	switch {
	case apierrors.IsNotFound(err) && s.MadeByAPIServer:
		return ctrl.Result{}, nil // the API server makes it again; its event brings us back
	case apierrors.IsNotFound(err):
		return ctrl.Result{}, e.createClusterService(ctx, s, ip)
	case err != nil:
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, e.showClusterServiceIP(ctx, s, svc, ip)
}

// createClusterService makes s at the host Service's cluster IP, when the
// virtual cluster's service range holds it: at any other address it would
// lead a host pod nowhere.
func (e *env) createClusterService(ctx context.Context, s translate.ClusterService, ip string) error {
	if !e.inServiceCIDR(ip) {
		return nil // its endpoints name the address; showClusterServiceIP reports a range that misses it
	}
	if err := e.virtual.Create(ctx, s.Service(ip)); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the virtual cluster's Service %s/%s at %s: %w", s.Namespace, s.Name, ip, err)
	}
	return nil
}

// showClusterServiceIP re-creates virtual Service v of s with cluster IP
// ip, as services are re-created with their host copies' (see
// showHostClusterIP): with the address it gets in the virtual cluster (the
// first of its service range, for "kubernetes"), a name lookup of it would
// lead a host pod to whatever the host has there, often the host's own API
// server. It holds nothing to lose: it is made again (by the API server,
// or here) if the create fails, and the next pass retries.
func (e *env) showClusterServiceIP(ctx context.Context, s translate.ClusterService, v *corev1.Service, ip string) error {
	if v.Spec.ClusterIP == ip {
		return nil
	}
	if !e.inServiceCIDR(ip) {
		e.recorder.Eventf(v, nil, corev1.EventTypeWarning, ReasonClusterIPOutsideRange, "Sync",
			"This service is reached on the host at %s, outside the virtual cluster's service range %s, so it keeps %s "+
				"and only the pods' environment and DNS configuration lead there. Set spec.networking.serviceCIDR of "+
				"VirtualCluster %s/%s to the host's service range when you create it.",
			ip, e.cfg.ServiceCIDR, v.Spec.ClusterIP, e.cfg.HostNamespace, e.cfg.VirtualCluster.Name)
		return nil
	}
	// The API server's own keeps what it was made with; the syncer's is
	// made as the table says.
	var again *corev1.Service
	if s.MadeByAPIServer {
		again = recreation(v, ip)
		again.UID = ""
	} else {
		again = s.Service(ip)
	}
	uid := v.UID
	err := e.virtual.Delete(ctx, v, client.Preconditions{UID: &uid, ResourceVersion: &v.ResourceVersion})
	switch {
	case apierrors.IsConflict(err):
		return nil // changed meanwhile: its event brings it back
	case err != nil && !apierrors.IsNotFound(err):
		return fmt.Errorf("re-creating the virtual cluster's Service %s/%s with cluster IP %s: %w", s.Namespace, s.Name, ip, err)
	}
	if err := e.virtual.Create(ctx, again); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("re-creating the virtual cluster's Service %s/%s with cluster IP %s: %w", s.Namespace, s.Name, ip, err)
	}
	return nil
}
