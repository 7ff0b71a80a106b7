package syncer

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/nestor-dev/nestor/internal/translate"
)

// Field indexes of virtual pods: the secrets and configMaps each reads.
const (
	indexSecrets    = "nestor.dev/secrets"
	indexConfigMaps = "nestor.dev/configmaps"
)

// setup registers a controller for every kind the configuration syncs.
func (e *env) setup(mgr manager.Manager) error {
	to := e.cfg.ToHost
	idx := mgr.GetFieldIndexer()
	ctx := context.Background()
	if err := idx.IndexField(ctx, &corev1.Pod{}, indexSecrets, func(o client.Object) []string {
		secrets, _, _ := translate.PodReferences(o.(*corev1.Pod))
		return secrets
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &corev1.Pod{}, indexConfigMaps, func(o client.Object) []string {
		_, configMaps, _ := translate.PodReferences(o.(*corev1.Pod))
		return configMaps
	}); err != nil {
		return err
	}

	if to.Ingresses.Enabled {
		if err := idx.IndexField(ctx, &networkingv1.Ingress{}, indexSecrets, func(o client.Object) []string {
			return translate.IngressSecrets(o.(*networkingv1.Ingress))
		}); err != nil {
			return err
		}
	}

	var errs []error
	add := func(on bool, register func() error) {
		if on {
			errs = append(errs, register())
		}
	}
	add(to.Pods.IsEnabled(), func() error { return e.setupPods(mgr) })
	add(to.Secrets.IsEnabled(), func() error {
		return setupKind(mgr, e, kind[*corev1.Secret]{
			gvk:  corev1.SchemeGroupVersion.WithKind("Secret"),
			newV: func() *corev1.Secret { return &corev1.Secret{} },
			newH: func() client.Object { return &corev1.Secret{} },
			copy: func(v *corev1.Secret) client.Object { return e.tr.Secret(v) },
			wanted: func(ctx context.Context, v *corev1.Secret) (bool, error) {
				if to.Secrets.All {
					return true, nil
				}
				return e.referenced(ctx, indexSecrets, v)
			},
			watches: e.secretReaders(),
		})
	})
	add(to.ConfigMaps.IsEnabled(), func() error {
		return setupKind(mgr, e, kind[*corev1.ConfigMap]{
			gvk:  corev1.SchemeGroupVersion.WithKind("ConfigMap"),
			newV: func() *corev1.ConfigMap { return &corev1.ConfigMap{} },
			newH: func() client.Object { return &corev1.ConfigMap{} },
			copy: func(v *corev1.ConfigMap) client.Object { return e.tr.ConfigMap(v) },
			wanted: func(ctx context.Context, v *corev1.ConfigMap) (bool, error) {
				if to.ConfigMaps.All {
					return true, nil
				}
				return e.referenced(ctx, indexConfigMaps, v)
			},
			watches: []watch{{&corev1.Pod{}, e.referencedBy(indexConfigMaps)}},
		})
	})
	add(to.Services.IsEnabled(), func() error {
		return setupKind(mgr, e, kind[*corev1.Service]{
			gvk:    corev1.SchemeGroupVersion.WithKind("Service"),
			newV:   func() *corev1.Service { return &corev1.Service{} },
			newH:   func() client.Object { return &corev1.Service{} },
			copy:   func(v *corev1.Service) client.Object { return e.tr.Service(v) },
			wanted: func(_ context.Context, v *corev1.Service) (bool, error) { return !apiServerService(v), nil },
			status: func(v *corev1.Service, h client.Object) {
				v.Status = *h.(*corev1.Service).Status.DeepCopy()
			},
			after: func(ctx context.Context, v *corev1.Service, h client.Object) error {
				return e.showHostClusterIP(ctx, v, h.(*corev1.Service))
			},
		})
	})
	add(to.Endpoints.IsEnabled(), func() error {
		return setupKind(mgr, e, kind[*corev1.Endpoints]{
			gvk:    corev1.SchemeGroupVersion.WithKind("Endpoints"),
			newV:   func() *corev1.Endpoints { return &corev1.Endpoints{} },
			newH:   func() client.Object { return &corev1.Endpoints{} },
			copy:   func(v *corev1.Endpoints) client.Object { return e.tr.Endpoints(v) },
			wanted: e.selectorless,
			// A service that gains or loses its selector changes whose
			// endpoints the host needs.
			watches: []watch{{&corev1.Service{}, &handler.EnqueueRequestForObject{}}},
		})
	})
	add(to.PersistentVolumeClaims.IsEnabled(), func() error {
		return setupKind(mgr, e, kind[*corev1.PersistentVolumeClaim]{
			gvk:  corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"),
			newV: func() *corev1.PersistentVolumeClaim { return &corev1.PersistentVolumeClaim{} },
			newH: func() client.Object { return &corev1.PersistentVolumeClaim{} },
			copy: func(v *corev1.PersistentVolumeClaim) client.Object { return e.tr.PersistentVolumeClaim(v) },
			status: func(v *corev1.PersistentVolumeClaim, h client.Object) {
				v.Status = *h.(*corev1.PersistentVolumeClaim).Status.DeepCopy()
			},
		})
	})
	add(to.Ingresses.Enabled, func() error {
		return setupKind(mgr, e, kind[*networkingv1.Ingress]{
			gvk:  networkingv1.SchemeGroupVersion.WithKind("Ingress"),
			newV: func() *networkingv1.Ingress { return &networkingv1.Ingress{} },
			newH: func() client.Object { return &networkingv1.Ingress{} },
			copy: func(v *networkingv1.Ingress) client.Object { return e.tr.Ingress(v) },
			status: func(v *networkingv1.Ingress, h client.Object) {
				v.Status = *h.(*networkingv1.Ingress).Status.DeepCopy()
			},
		})
	})
	add(to.PodDisruptionBudgets.Enabled, func() error {
		return setupKind(mgr, e, kind[*policyv1.PodDisruptionBudget]{
			gvk:  policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"),
			newV: func() *policyv1.PodDisruptionBudget { return &policyv1.PodDisruptionBudget{} },
			newH: func() client.Object { return &policyv1.PodDisruptionBudget{} },
			copy: func(v *policyv1.PodDisruptionBudget) client.Object { return e.tr.PodDisruptionBudget(v) },
			status: func(v *policyv1.PodDisruptionBudget, h client.Object) {
				// The host counts the pods; the virtual budget shows its figures.
				st := h.(*policyv1.PodDisruptionBudget).Status.DeepCopy()
				st.ObservedGeneration = v.Generation
				v.Status = *st
			},
		})
	})
	add(to.ServiceAccounts.Enabled, func() error {
		return setupKind(mgr, e, kind[*corev1.ServiceAccount]{
			gvk:  corev1.SchemeGroupVersion.WithKind("ServiceAccount"),
			newV: func() *corev1.ServiceAccount { return &corev1.ServiceAccount{} },
			newH: func() client.Object { return &corev1.ServiceAccount{} },
			copy: func(v *corev1.ServiceAccount) client.Object { return e.tr.ServiceAccount(v) },
		})
	})
	add(to.NetworkPolicies.Enabled, func() error {
		return setupKind(mgr, e, kind[*networkingv1.NetworkPolicy]{
			gvk:  networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"),
			newV: func() *networkingv1.NetworkPolicy { return &networkingv1.NetworkPolicy{} },
			newH: func() client.Object { return &networkingv1.NetworkPolicy{} },
			copyCtx: func(ctx context.Context, v *networkingv1.NetworkPolicy) (client.Object, error) {
				namespaces, err := e.virtualNamespaces(ctx)
				return e.tr.NetworkPolicy(v, namespaces), err
			},
			// A namespace's labels decide which policies' peers it is in.
			watches: []watch{{&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(e.allNetworkPolicies)}},
		})
	})
	add(e.cfg.FromHost.Events.IsEnabled(), func() error { return e.setupEvents(mgr) })
	if e.tr.Names.MultiNamespace() {
		errs = append(errs, e.setupNamespaces(mgr))
	}
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("setting up the syncer's controllers: %w", err)
		}
	}
	return nil
}

// referenced reports whether a virtual pod (or, for a secret, an ingress)
// in v's namespace reads v.
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
	if index != indexSecrets || !e.cfg.ToHost.Ingresses.Enabled {
		return false, nil
	}
	var ingresses networkingv1.IngressList
	if err := e.virtual.List(ctx, &ingresses, in, reads); err != nil {
		return false, fmt.Errorf("listing the ingresses that read %s/%s: %w", v.GetNamespace(), v.GetName(), err)
	}
	return len(ingresses.Items) > 0, nil
}

// referencedBy maps a virtual pod to the objects it reads through index.
func (e *env) referencedBy(index string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		pod := o.(*corev1.Pod)
		secrets, configMaps, _ := translate.PodReferences(pod)
		names := secrets
		if index == indexConfigMaps {
			names = configMaps
		}
		reqs := make([]reconcile.Request, 0, len(names))
		for _, n := range names {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: pod.Namespace, Name: n}})
		}
		return reqs
	})
}

// secretReaders are the kinds whose objects make a secret wanted.
func (e *env) secretReaders() []watch {
	w := []watch{{&corev1.Pod{}, e.referencedBy(indexSecrets)}}
	if e.cfg.ToHost.Ingresses.Enabled {
		w = append(w, watch{&networkingv1.Ingress{}, handler.EnqueueRequestsFromMapFunc(
			func(_ context.Context, o client.Object) []reconcile.Request {
				var reqs []reconcile.Request
				for _, n := range translate.IngressSecrets(o.(*networkingv1.Ingress)) {
					reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: n}})
				}
				return reqs
			})})
	}
	return w
}

// apiServerService reports whether v is the virtual cluster's own API
// server Service, default/kubernetes: its pods reach that API server
// through KUBERNETES_SERVICE_HOST instead, and its endpoints are addresses
// only the virtual cluster knows.
func apiServerService(v *corev1.Service) bool {
	return v.Namespace == metav1.NamespaceDefault && v.Name == "kubernetes"
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
	return !apiServerService(svc) && len(svc.Spec.Selector) == 0 && svc.Spec.Type != corev1.ServiceTypeExternalName, nil
}
