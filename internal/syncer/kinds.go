package syncer

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/references"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
	"github.com/nestor-dev/nestor/internal/translate"
)

// Field indexes of virtual objects by the secrets and configMaps they read,
// and of custom resources by the Secrets the host writes for them.
const (
	indexSecrets     = "nestor.dev/secrets"
	indexConfigMaps  = "nestor.dev/configmaps"
	indexHostSecrets = "nestor.dev/host-secrets"
)

// A controller is one of the syncer's, ready to be set up on a manager.
type controller interface {
	setup(mgr manager.Manager, e *env) error
}

// ownController is a controller with a reconciler of its own.
type ownController func(e *env, mgr manager.Manager) error

func (f ownController) setup(mgr manager.Manager, e *env) error { return f(e, mgr) }

// entry is one row of the syncer's table: a controller, and whether the
// configuration runs it.
type entry struct {
	enabled    bool
	controller controller
}

// controllers is the table of the syncer's controllers: one per kind it
// copies to the host, keyed by GVK, then those of events and namespaces.
// Pods bring the Nodes they run on.
func (e *env) controllers() []entry {
	to := e.cfg.ToHost
	return append([]entry{
		{to.Pods.IsEnabled(), ownController((*env).setupPods)},
		// The nodes the pods run on, and their kubelet API (nodes.go).
		{to.Pods.IsEnabled(), ownController((*env).setupNodes)},
		{to.Secrets.IsEnabled(), kind[*corev1.Secret]{
			gvk:     corev1.SchemeGroupVersion.WithKind("Secret"),
			newObj:  func() *corev1.Secret { return &corev1.Secret{} },
			copy:    e.tr.Secret,
			wanted:  e.notHosts(referencedOnly[*corev1.Secret](e, to.Secrets.All, indexSecrets)),
			watches: e.secretReaders(),
			indexes: e.secretIndexes(),
		}},
		{to.ConfigMaps.IsEnabled(), kind[*corev1.ConfigMap]{
			gvk:     corev1.SchemeGroupVersion.WithKind("ConfigMap"),
			newObj:  func() *corev1.ConfigMap { return &corev1.ConfigMap{} },
			copy:    e.tr.ConfigMap,
			wanted:  referencedOnly[*corev1.ConfigMap](e, to.ConfigMaps.All, indexConfigMaps),
			watches: []watch{{&corev1.Pod{}, requestsFor(podConfigMaps)}},
			indexes: []index{{&corev1.Pod{}, indexConfigMaps, podConfigMaps}},
		}},
		{to.Services.IsEnabled(), kind[*corev1.Service]{
			gvk:      corev1.SchemeGroupVersion.WithKind("Service"),
			newObj:   func() *corev1.Service { return &corev1.Service{} },
			copyCtx:  e.serviceCopy,
			fallback: e.serviceCopyHostChosen,
			wanted:   func(_ context.Context, v *corev1.Service) (bool, error) { return !clusterService(v), nil },
			status:   func(v, h *corev1.Service) { v.Status = *h.Status.DeepCopy() },
			restore:  e.restoreService,
			after:    e.showHost,
		}},
		{to.Endpoints.IsEnabled(), kind[*corev1.Endpoints]{
			gvk:    corev1.SchemeGroupVersion.WithKind("Endpoints"),
			newObj: func() *corev1.Endpoints { return &corev1.Endpoints{} },
			copy:   e.tr.Endpoints,
			wanted: e.selectorless,
			// A service that gains or loses its selector changes whose
			// endpoints the host needs.
			watches: []watch{{&corev1.Service{}, &handler.EnqueueRequestForObject{}}},
		}},
		{to.PersistentVolumeClaims.IsEnabled(), kind[*corev1.PersistentVolumeClaim]{
			gvk:    corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"),
			newObj: func() *corev1.PersistentVolumeClaim { return &corev1.PersistentVolumeClaim{} },
			copy:   e.tr.PersistentVolumeClaim,
			status: func(v, h *corev1.PersistentVolumeClaim) { v.Status = *h.Status.DeepCopy() },
		}},
		{to.Ingresses.Enabled, kind[*networkingv1.Ingress]{
			gvk:    networkingv1.SchemeGroupVersion.WithKind("Ingress"),
			newObj: func() *networkingv1.Ingress { return &networkingv1.Ingress{} },
			copy:   e.tr.Ingress,
			status: func(v, h *networkingv1.Ingress) { v.Status = *h.Status.DeepCopy() },
		}},
		{to.PodDisruptionBudgets.Enabled, kind[*policyv1.PodDisruptionBudget]{
			gvk:    policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"),
			newObj: func() *policyv1.PodDisruptionBudget { return &policyv1.PodDisruptionBudget{} },
			copy:   e.tr.PodDisruptionBudget,
			status: func(v, h *policyv1.PodDisruptionBudget) {
				// The host counts the pods; the virtual budget shows its figures.
				v.Status = *h.Status.DeepCopy()
				v.Status.ObservedGeneration = v.Generation
			},
		}},
		{to.ServiceAccounts.Enabled, kind[*corev1.ServiceAccount]{
			gvk:    corev1.SchemeGroupVersion.WithKind("ServiceAccount"),
			newObj: func() *corev1.ServiceAccount { return &corev1.ServiceAccount{} },
			copy:   e.tr.ServiceAccount,
		}},
		{to.NetworkPolicies.Enabled, kind[*networkingv1.NetworkPolicy]{
			gvk:     networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"),
			newObj:  func() *networkingv1.NetworkPolicy { return &networkingv1.NetworkPolicy{} },
			copyCtx: e.networkPolicy,
			// A namespace's labels decide which policies' peers it is in.
			watches: []watch{{&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(e.allNetworkPolicies)}},
		}},
		{e.cfg.APIServerIP != "" || e.cfg.DNSNameserver != "", ownController((*env).setupClusterServices)},
		{e.cfg.FromHost.Events.IsEnabled(), ownController((*env).setupEvents)},
		{e.tr.Names.MultiNamespace(), ownController((*env).setupNamespaces)},
	}, e.customControllers()...)
}

// setup registers the controllers the configuration runs.
func (e *env) setup(mgr manager.Manager) error {
	for _, c := range e.controllers() {
		if !c.enabled {
			continue
		}
		if err := c.controller.setup(mgr, e); err != nil {
			return fmt.Errorf("setting up the syncer's controllers: %w", err)
		}
	}
	return nil
}

// referencedOnly is the wanted of a kind that pods read: only the objects
// something reads through index go to the host, unless all is set.
func referencedOnly[V client.Object](e *env, all bool, index string) func(context.Context, V) (bool, error) {
	if all {
		return nil
	}
	return func(ctx context.Context, v V) (bool, error) { return e.referenced(ctx, index, v) }
}

// notHosts is a secret's wanted, except for a Secret that is the host's:
// one the syncer shows from the host, or one a synced object names where
// the host writes (a certificate's), which a copy would fight over with
// the host's controller.
func (e *env) notHosts(wanted func(context.Context, *corev1.Secret) (bool, error)) func(context.Context, *corev1.Secret) (bool, error) {
	return func(ctx context.Context, v *corev1.Secret) (bool, error) {
		if translate.Shown(v) {
			return false, nil
		}
		if hosts, err := e.hostWritten(ctx, v.Namespace, v.Name); err != nil || hosts {
			return false, err
		}
		if wanted == nil {
			return true, nil
		}
		return wanted(ctx, v)
	}
}

// referenced reports whether a virtual pod (or, for a secret, an ingress
// or a custom resource) in v's namespace reads v.
func (e *env) referenced(ctx context.Context, index string, v client.Object) (bool, error) {
	in, reads := client.InNamespace(v.GetNamespace()), client.MatchingFields{index: v.GetName()}
	var pods corev1.PodList
	if err := e.virtual.List(ctx, &pods, in, reads); err != nil {
		return false, fmt.Errorf("listing the pods that read %s/%s: %w", v.GetNamespace(), v.GetName(), err)
	}
	for i := range pods.Items {
		if pods.Items[i].DeletionTimestamp.IsZero() {
			return true, nil
		}
	}
	if index != indexSecrets {
		return false, nil
	}
	var readers []client.ObjectList
	if e.cfg.ToHost.Ingresses.Enabled {
		readers = append(readers, &networkingv1.IngressList{})
	}
	for _, cr := range e.secretNamingKinds() {
		readers = append(readers, newUnstructuredList(cr.GroupVersionKind()))
	}
	for _, list := range readers {
		if err := e.virtual.List(ctx, list, in, reads); err != nil {
			return false, fmt.Errorf("listing the objects that read %s/%s: %w", v.GetNamespace(), v.GetName(), err)
		}
		if meta.LenList(list) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// What a virtual object reads by name, in its own namespace: what makes a
// secret or a configMap wanted.
func podSecrets(o client.Object) []string {
	secrets, _, _ := translate.PodReferences(o.(*corev1.Pod))
	return secrets
}

func podConfigMaps(o client.Object) []string {
	_, configMaps, _ := translate.PodReferences(o.(*corev1.Pod))
	return configMaps
}

func ingressSecrets(o client.Object) []string {
	return translate.IngressSecrets(o.(*networkingv1.Ingress))
}

// requestsFor maps a virtual object to what reads says it reads.
func requestsFor(reads func(client.Object) []string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		names := reads(o)
		reqs := make([]reconcile.Request, 0, len(names))
		for _, n := range names {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: n}})
		}
		return reqs
	})
}

// secretReaders watch, and secretIndexes index, the virtual objects that
// make a secret wanted: pods, ingresses, and custom resources that name
// Secrets (an Issuer's CA).
func (e *env) secretReaders() []watch {
	w := []watch{{&corev1.Pod{}, requestsFor(podSecrets)}}
	if e.cfg.ToHost.Ingresses.Enabled {
		w = append(w, watch{&networkingv1.Ingress{}, requestsFor(ingressSecrets)})
	}
	for _, cr := range e.secretNamingKinds() {
		w = append(w, watch{newUnstructured(cr.GroupVersionKind()), requestsFor(func(o client.Object) []string {
			u := o.(*unstructured.Unstructured).Object
			return append(references.Names(u, cr.References, kindSecret, false), references.Names(u, cr.References, kindSecret, true)...)
		})})
	}
	return w
}

func (e *env) secretIndexes() []index {
	ix := []index{{&corev1.Pod{}, indexSecrets, podSecrets}}
	if e.cfg.ToHost.Ingresses.Enabled {
		ix = append(ix, index{&networkingv1.Ingress{}, indexSecrets, ingressSecrets})
	}
	for _, cr := range e.secretNamingKinds() {
		for field, hostWritten := range map[string]bool{indexSecrets: false, indexHostSecrets: true} {
			ix = append(ix, index{newUnstructured(cr.GroupVersionKind()), field, func(o client.Object) []string {
				return references.Names(o.(*unstructured.Unstructured).Object, cr.References, kindSecret, hostWritten)
			}})
		}
	}
	return ix
}

// secretNamingKinds are the custom kinds synced to the host whose
// references name Secrets.
func (e *env) secretNamingKinds() []syncerconfig.CustomResource {
	var out []syncerconfig.CustomResource
	for _, cr := range e.cfg.CustomResources {
		if _, installed := e.definitions[cr.Resource]; !installed || cr.Direction != syncerconfig.ToHost || !cr.Namespaced {
			continue
		}
		if slices.ContainsFunc(cr.References, func(r tenancyv1alpha1.ReferencePatch) bool { return references.GroupKind(r.Reference) == kindSecret }) {
			out = append(out, cr)
		}
	}
	return out
}

// apiServerService reports whether v is the virtual cluster's own API
// server Service, default/kubernetes: its pods reach that API server
// through KUBERNETES_SERVICE_HOST instead.
func apiServerService(v *corev1.Service) bool {
	return v.Namespace == translate.APIServerService.Namespace && v.Name == translate.APIServerService.Name
}

// clusterService reports whether v is one of the virtual cluster's own
// Services (translate.ClusterServices), which lead to host Services of
// Nestor's and whose endpoints are addresses only they know: never copied.
func clusterService(v *corev1.Service) bool {
	_, ok := translate.ClusterServiceOf(v.Namespace, v.Name)
	return ok
}

// virtualNamespaces maps the virtual cluster's namespaces to their labels.
func (e *env) virtualNamespaces(ctx context.Context) (map[string]map[string]string, error) {
	var list corev1.NamespaceList
	if err := e.virtual.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("listing the virtual namespaces: %w", err)
	}
	out := make(map[string]map[string]string, len(list.Items))
	for _, ns := range list.Items {
		out[ns.Name] = ns.Labels
	}
	return out, nil
}

// networkPolicy is the host copy of virtual policy v, whose peers the
// virtual namespaces' labels decide.
func (e *env) networkPolicy(ctx context.Context, v *networkingv1.NetworkPolicy) (*networkingv1.NetworkPolicy, error) {
	namespaces, err := e.virtualNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	return e.tr.NetworkPolicy(v, namespaces), nil
}

// allNetworkPolicies requests every virtual network policy.
func (e *env) allNetworkPolicies(ctx context.Context, _ client.Object) []reconcile.Request {
	var list networkingv1.NetworkPolicyList
	if err := e.virtual.List(ctx, &list); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, np := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&np)})
	}
	return reqs
}

// selectorless reports whether v belongs to a service without a selector,
// whose endpoints the tenant manages by hand. Others' endpoints the host
// computes itself.
func (e *env) selectorless(ctx context.Context, v *corev1.Endpoints) (bool, error) {
	svc := &corev1.Service{}
	if err := e.virtual.Get(ctx, client.ObjectKeyFromObject(v), svc); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return !clusterService(svc) && len(svc.Spec.Selector) == 0 && svc.Spec.Type != corev1.ServiceTypeExternalName, nil
}
