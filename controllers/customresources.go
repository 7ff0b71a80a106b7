package controllers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/references"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
	"github.com/nestor-dev/nestor/internal/translate"
)

// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch

// customKind is one enabled customResources entry of spec.sync.
type customKind struct {
	key       string
	direction syncerconfig.Direction
	// scope is what a fromHost entry says the kind's scope is.
	scope   tenancyv1alpha1.ResourceScope
	patches []tenancyv1alpha1.ReferencePatch
}

// field is the spec field of the entry, as messages name it.
func (k customKind) field() string {
	if k.direction == syncerconfig.ToHost {
		return "spec.sync.toHost.customResources[" + k.key + "]"
	}
	return "spec.sync.fromHost.customResources[" + k.key + "]"
}

// customKinds are sync's enabled customResources entries, sorted by key.
func customKinds(sync tenancyv1alpha1.SyncSpec) []customKind {
	var out []customKind
	for key, cr := range sync.ToHost.CustomResources {
		if cr.Enabled {
			out = append(out, customKind{key: key, direction: syncerconfig.ToHost, patches: cr.Patches})
		}
	}
	for key, cr := range sync.FromHost.CustomResources {
		if cr.Enabled {
			scope := cr.Scope
			if scope == "" {
				scope = tenancyv1alpha1.ClusterScoped // the schema's default
			}
			out = append(out, customKind{key: key, direction: syncerconfig.FromHost, scope: scope})
		}
	}
	slices.SortFunc(out, func(a, b customKind) int { return strings.Compare(a.key, b.key) })
	return out
}

// customResources is what the syncer is handed: the kinds it syncs, and
// the definitions it installs in the virtual cluster, both sorted by key.
type customResources struct {
	kinds       []syncerconfig.CustomResource
	definitions []apiextensionsv1.CustomResourceDefinition
	// versions names each definition at the resourceVersion it was read
	// at: the same versions encode the same.
	versions string
}

// reconcileCustomResources finds the host definition of every custom kind
// spec.sync names, for reconcileSyncer to hand over: in single-namespace
// mode the syncer may not read definitions itself. A kind whose definition
// is missing, not established or of the wrong scope syncs nothing; the
// others sync all the same.
func (r *VirtualClusterReconciler) reconcileCustomResources(ctx context.Context, st *state) (outcome, error) {
	wanted := slices.DeleteFunc(customKinds(st.vc.Spec.Sync), func(k customKind) bool {
		// The syncer may not read these cluster-wide; RBACReady says so.
		return st.mode != tenancyv1alpha1.MultiNamespaceMode &&
			k.direction == syncerconfig.FromHost && k.scope == tenancyv1alpha1.ClusterScoped
	})
	found := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, k := range wanted {
		crd, err := r.hostDefinition(ctx, k.key)
		if err != nil {
			return outcome{}, err
		}
		if crd != nil {
			found[k.key] = crd
		}
	}
	resolved, out := resolveCustomResources(wanted, found, r.FromHostSelectors)
	st.customResources = resolved
	if announce(meta.FindStatusCondition(st.status.Conditions, ConditionCustomResourcesReady), out) {
		r.Recorder.Eventf(st.vc, nil, corev1.EventTypeWarning, out.reason, "Reconcile", "%s", out.message)
	}
	return out, nil
}

// resolveCustomResources matches each wanted kind with the host definition
// found under its key, if any, and says what came of it. Of several
// problems the condition's reason names the one most likely the user's to
// fix: a missing definition, then a wrong scope, then one the host has not
// established yet; its message names them all.
func resolveCustomResources(wanted []customKind, found map[string]*apiextensionsv1.CustomResourceDefinition, selectors map[string]string) (customResources, outcome) {
	if len(wanted) == 0 {
		return customResources{}, ready(ReasonNotRequested, "spec.sync asks for no custom resources.")
	}
	var (
		res                              customResources
		synced                           []string
		missing, mismatched, unavailable []string
	)
	for _, k := range wanted {
		crd := found[k.key]
		if crd == nil {
			missing = append(missing, fmt.Sprintf("The host has no CustomResourceDefinition %s: install its CustomResourceDefinition on the host, or remove %s.", k.key, k.field()))
			continue
		}
		if msg := scopeMismatch(k, crd.Spec.Scope); msg != "" {
			mismatched = append(mismatched, msg)
			continue
		}
		if msg := notEstablished(crd); msg != "" {
			unavailable = append(unavailable, msg)
			continue
		}
		cr := syncerconfig.CustomResource{
			Resource:   k.key,
			Direction:  k.direction,
			Group:      crd.Spec.Group,
			Version:    translate.StorageVersion(crd),
			Kind:       crd.Spec.Names.Kind,
			Namespaced: crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
		}
		if k.direction == syncerconfig.ToHost {
			cr.References = references.For(k.key, k.patches)
		} else {
			cr.Selector = selectors[k.key]
		}
		res.kinds = append(res.kinds, cr)
		res.definitions = append(res.definitions, *translate.Definition(crd))
		res.versions += crd.Name + "@" + crd.ResourceVersion + " "
		synced = append(synced, k.key)
	}

	var reason string
	switch {
	case len(missing) > 0:
		reason = ReasonDefinitionMissing
	case len(mismatched) > 0:
		reason = ReasonScopeMismatch
	case len(unavailable) > 0:
		reason = ReasonDefinitionNotEstablished
	default:
		return res, ready(ReasonReady, "Syncing "+strings.Join(synced, ", ")+".")
	}
	msg := slices.Concat(missing, mismatched, unavailable)
	if len(synced) > 0 {
		msg = append(msg, "The others sync: "+strings.Join(synced, ", ")+".")
	}
	return res, notReady(reason, strings.Join(msg, " "))
}

// scopeMismatch says how k's entry disagrees with the scope of its host
// definition, or "" when it does not: a kind syncs to the host only if it
// is namespaced, and from the host only if it has the scope the entry says.
func scopeMismatch(k customKind, scope apiextensionsv1.ResourceScope) string {
	if k.direction == syncerconfig.ToHost {
		if scope != apiextensionsv1.NamespaceScoped {
			return fmt.Sprintf("%s is cluster-scoped on the host, and only namespaced kinds sync to the host: remove %s, or list it under spec.sync.fromHost.customResources.", k.key, k.field())
		}
		return ""
	}
	if scope == apiextensionsv1.NamespaceScoped {
		// The webhook refuses these now; an entry admitted before may
		// still ask (docs/custom-resources.md).
		return fmt.Sprintf("%s is namespaced on the host, and namespaced kinds from the host are not synced yet: remove %s, or list it under spec.sync.toHost.customResources.", k.key, k.field())
	}
	if string(scope) != string(k.scope) {
		return fmt.Sprintf("%s is %s on the host, but %s.scope says %s: set it to %s.", k.key, scope, k.field(), k.scope, scope)
	}
	return ""
}

// notEstablished says why the host does not serve crd yet, or "" when it does.
func notEstablished(crd *apiextensionsv1.CustomResourceDefinition) string {
	var established, namesAccepted *apiextensionsv1.CustomResourceDefinitionCondition
	for i, c := range crd.Status.Conditions {
		switch c.Type {
		case apiextensionsv1.Established:
			established = &crd.Status.Conditions[i]
		case apiextensionsv1.NamesAccepted:
			namesAccepted = &crd.Status.Conditions[i]
		}
	}
	if established != nil && established.Status == apiextensionsv1.ConditionTrue {
		return ""
	}
	why := ""
	switch {
	case namesAccepted != nil && namesAccepted.Status == apiextensionsv1.ConditionFalse:
		why = " (" + namesAccepted.Message + ")"
	case established != nil && established.Message != "":
		why = " (" + established.Message + ")"
	}
	return fmt.Sprintf("The host's CustomResourceDefinition %s is not established yet%s: it syncs once the host serves it; `kubectl describe crd %s` tells why it does not.", crd.Name, why, crd.Name)
}

// announce reports whether the condition the step found deserves an event:
// when it newly turns False, or says something new while False. The
// reconciles in between would repeat it.
func announce(prev *metav1.Condition, next outcome) bool {
	if next.status != metav1.ConditionFalse {
		return false
	}
	return prev == nil || prev.Status != metav1.ConditionFalse || prev.Message != next.message
}

// hostDefinition is the host's CustomResourceDefinition name, nil when
// there is none. The manager caches the metadata of every host definition,
// unselected since definitions carry no Nestor label, but not their
// schemas, which can run to megabytes: a host may hold hundreds of
// definitions and VirtualClusters name a few. Those few are read from the
// API server and kept at the resourceVersion the cache reports, so a
// reconcile reads one again only when it changed.
func (r *VirtualClusterReconciler) hostDefinition(ctx context.Context, name string) (*apiextensionsv1.CustomResourceDefinition, error) {
	key := client.ObjectKey{Name: name}
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	if err := r.Get(ctx, key, m); err != nil {
		if apierrors.IsNotFound(err) {
			r.definitions.forget(name)
			return nil, nil
		}
		return nil, fmt.Errorf("reading the metadata of CustomResourceDefinition %s: %w", name, err)
	}
	if crd := r.definitions.at(name, m.ResourceVersion); crd != nil {
		return crd, nil
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := r.APIReader.Get(ctx, key, crd); err != nil {
		if apierrors.IsNotFound(err) {
			r.definitions.forget(name)
			return nil, nil
		}
		return nil, fmt.Errorf("reading CustomResourceDefinition %s: %w", name, err)
	}
	crd.ManagedFields = nil
	r.definitions.keep(crd)
	return crd, nil
}

// definitionCache holds the host definitions VirtualClusters name, by
// name, each as last read, and their encodings for the syncer's
// configuration: compressing them takes some 10 ms for cert-manager's, on
// every reconcile otherwise. What it returns is shared: read, never written.
type definitionCache struct {
	mu      sync.Mutex
	byName  map[string]*apiextensionsv1.CustomResourceDefinition
	encoded map[string][]byte
}

// maxEncodings bounds the encodings kept: a new set of versions comes only
// with a changed definition or a VirtualCluster naming other kinds.
const maxEncodings = 64

// encode is syncerconfig.EncodeDefinitions of res's definitions.
func (c *definitionCache) encode(res customResources) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if out, ok := c.encoded[res.versions]; ok {
		return out, nil
	}
	out, err := syncerconfig.EncodeDefinitions(res.definitions)
	if err != nil {
		return nil, err
	}
	if c.encoded == nil || len(c.encoded) >= maxEncodings {
		c.encoded = map[string][]byte{}
	}
	c.encoded[res.versions] = out
	return out, nil
}

// at is the kept definition name if it is at resourceVersion.
func (c *definitionCache) at(name, resourceVersion string) *apiextensionsv1.CustomResourceDefinition {
	c.mu.Lock()
	defer c.mu.Unlock()
	if crd := c.byName[name]; crd != nil && crd.ResourceVersion == resourceVersion {
		return crd
	}
	return nil
}

func (c *definitionCache) keep(crd *apiextensionsv1.CustomResourceDefinition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byName == nil {
		c.byName = map[string]*apiextensionsv1.CustomResourceDefinition{}
	}
	c.byName[crd.Name] = crd
}

func (c *definitionCache) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byName, name)
}

// customResourceIndex indexes VirtualClusters by the keys of their enabled
// customResources entries: the names of the host definitions they need.
const customResourceIndex = "spec.sync.customResources.enabled"

func indexCustomResources(obj client.Object) []string {
	vc, ok := obj.(*tenancyv1alpha1.VirtualCluster)
	if !ok {
		return nil
	}
	keys := map[string]bool{}
	for _, k := range customKinds(vc.Spec.Sync) {
		keys[k.key] = true
	}
	return slices.Sorted(maps.Keys(keys))
}

// configuring maps a host CustomResourceDefinition to the VirtualClusters
// that name it. One that none names is forgotten, so that the definitions
// kept are only those in use.
func (r *VirtualClusterReconciler) configuring(ctx context.Context, crd client.Object) []reconcile.Request {
	var list tenancyv1alpha1.VirtualClusterList
	if err := r.List(ctx, &list, client.MatchingFields{customResourceIndex: crd.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "listing the VirtualClusters that name a CustomResourceDefinition", "customResourceDefinition", crd.GetName())
		return nil
	}
	if len(list.Items) == 0 {
		r.definitions.forget(crd.GetName())
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, vc := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&vc)})
	}
	return reqs
}
