package syncer

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/nestor-dev/nestor/internal/translate"
)

// setupAPIServer points the virtual cluster's "kubernetes" Service, its
// Endpoints and its EndpointSlice at the control plane's Service on the
// host, where the tenant's host pods reach the API server (README, "The
// kubernetes Service"): its API server runs without an endpoint
// reconciler, and its own address means nothing on the host.
func (e *env) setupAPIServer(mgr ctrl.Manager) error {
	only := builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetNamespace() == metav1.NamespaceDefault && o.GetName() == translate.APIServerServiceName
	}))
	return ctrl.NewControllerManagedBy(mgr).
		Named("apiserver").
		For(&corev1.Service{}, only).
		Watches(&corev1.Endpoints{}, &handler.EnqueueRequestForObject{}, only).
		Watches(&discoveryv1.EndpointSlice{}, &handler.EnqueueRequestForObject{}, only).
		Complete(reconcileFunc(e.syncAPIServer))
}

func (e *env) syncAPIServer(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ip := e.cfg.APIServerIP
	ep, slice := translate.APIServerEndpoints(ip)
	// Nobody else writes them: the API server leaves them to the syncer.
	ours := func(client.Object) bool { return true }
	for _, obj := range []client.Object{ep, slice} {
		if _, err := e.virtualApplier.Apply(ctx, obj, ours); err != nil {
			return ctrl.Result{}, fmt.Errorf("pointing the virtual cluster's %T default/kubernetes at %s: %w", obj, ip, err)
		}
	}
	svc := &corev1.Service{}
	if err := e.virtual.Get(ctx, req.NamespacedName, svc); err != nil {
		// The API server makes it again; its event brings us back.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{}, e.showAPIServerIP(ctx, svc, ip)
}

// showAPIServerIP re-creates the virtual "kubernetes" Service v with cluster
// IP ip, as services are re-created with their host copies' (see
// showHostClusterIP): with the address it gets in the virtual cluster, the
// first of its service range, a name lookup of kubernetes.default.svc would
// lead a host pod to whatever the host has there, often the host's own API
// server. It holds nothing to lose: the API server makes it again if the
// create fails, and the next pass retries.
func (e *env) showAPIServerIP(ctx context.Context, v *corev1.Service, ip string) error {
	if v.Spec.ClusterIP == ip {
		return nil
	}
	if !e.inServiceCIDR(ip) {
		e.recorder.Eventf(v, nil, corev1.EventTypeWarning, ReasonClusterIPOutsideRange, "Sync",
			"The virtual cluster's API server is reached on the host at %s, outside the virtual cluster's service range %s, so this "+
				"service keeps %s and only KUBERNETES_SERVICE_HOST leads pods to the API server. Set spec.networking.serviceCIDR of "+
				"VirtualCluster %s/%s to the host's service range when you create it.",
			ip, e.cfg.ServiceCIDR, v.Spec.ClusterIP, e.cfg.HostNamespace, e.cfg.VirtualCluster.Name)
		return nil
	}
	again := recreation(v, ip)
	again.UID = ""
	uid := v.UID
	err := e.virtual.Delete(ctx, v, client.Preconditions{UID: &uid, ResourceVersion: &v.ResourceVersion})
	switch {
	case apierrors.IsConflict(err):
		return nil // changed meanwhile: its event brings it back
	case err != nil && !apierrors.IsNotFound(err):
		return fmt.Errorf("re-creating the virtual cluster's kubernetes Service with cluster IP %s: %w", ip, err)
	}
	if err := e.virtual.Create(ctx, again); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("re-creating the virtual cluster's kubernetes Service with cluster IP %s: %w", ip, err)
	}
	return nil
}
