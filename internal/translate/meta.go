// Package translate builds the host copy of a virtual object, and the
// virtual view of a host object's status: pure functions, one per kind, on
// top of the names package naming computes. The syncer's controllers only
// read, call these, and write.
package translate

import (
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/rbac"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
)

// Context is what every translation of one virtual cluster needs.
type Context struct {
	// Names maps virtual names and namespaces to the host.
	Names naming.Translator
	// VirtualCluster and HostNamespace identify the VirtualCluster, and
	// VirtualClusterUID the object itself.
	VirtualCluster, HostNamespace string
	VirtualClusterUID             types.UID
	// Identity is the UID of the virtual cluster's kube-system namespace,
	// which the syncer reads at start: every copy records it (Meta), and
	// only a copy made for this virtual cluster is removed for its virtual
	// object's absence (Current). The operator, which makes no copies,
	// leaves it empty.
	Identity types.UID
	// WorkloadServiceAccount is the host identity of every tenant pod.
	WorkloadServiceAccount string
	// APIServerHost is how a host pod reaches the virtual cluster's API
	// server: the cluster IP of the control plane's Service, or its name
	// while the syncer's configuration has no IP; the serving certificate
	// holds both.
	APIServerHost string
	// CarryReadinessGates says the host pods carry the virtual pods'
	// readiness gates, and the syncer their conditions (rbac.CarryReadinessGates).
	CarryReadinessGates bool
	// Nameserver is the address of the virtual cluster's DNS on the host,
	// and ClusterDomain the virtual cluster's domain: the tenant's pods
	// resolve names there. Without a nameserver pods keep their DNS policy.
	Nameserver, ClusterDomain string
	// Image is the syncer's own image, which writes the hosts file of a pod
	// of a subdomain (RewriteHosts); without it pods keep the host's.
	Image string
}

// For is the translation of the virtual cluster that syncer configuration
// cfg is for: the syncer's, and the operator's when it cleans up after it.
func For(cfg syncerconfig.Config) Context {
	apiServer := cfg.APIServerIP
	if apiServer == "" {
		apiServer = naming.ForVirtualCluster(cfg.HostNamespace, cfg.VirtualCluster.Name).ControlPlane + "." + cfg.HostNamespace + ".svc"
	}
	domain := cfg.ClusterDomain
	if domain == "" {
		domain = "cluster.local" // the schema's default
	}
	return Context{
		Names:                  naming.NewTranslator(cfg.HostNamespace, cfg.VirtualCluster.Name, cfg.Mode == tenancyv1alpha1.MultiNamespaceMode),
		VirtualCluster:         cfg.VirtualCluster.Name,
		VirtualClusterUID:      cfg.VirtualCluster.UID,
		HostNamespace:          cfg.HostNamespace,
		WorkloadServiceAccount: cfg.WorkloadServiceAccount,
		APIServerHost:          apiServer,
		CarryReadinessGates:    rbac.CarryReadinessGates(cfg.ToHost),
		Nameserver:             cfg.DNSNameserver,
		ClusterDomain:          domain,
		Image:                  cfg.Image,
	}
}

// Origin is a virtual object as its host copy records it.
type Origin struct {
	Kind            schema.GroupKind
	Namespace, Name string
	UID             types.UID
}

// The kinds translated here. A copy's origin records its kind's
// GroupKind.String(), which for a core kind is the bare Kind.
var (
	kindPod                   = schema.GroupKind{Group: corev1.GroupName, Kind: "Pod"}
	kindService               = schema.GroupKind{Group: corev1.GroupName, Kind: "Service"}
	kindSecret                = schema.GroupKind{Group: corev1.GroupName, Kind: "Secret"}
	kindConfigMap             = schema.GroupKind{Group: corev1.GroupName, Kind: "ConfigMap"}
	kindPersistentVolumeClaim = schema.GroupKind{Group: corev1.GroupName, Kind: "PersistentVolumeClaim"}
	kindEndpoints             = schema.GroupKind{Group: corev1.GroupName, Kind: "Endpoints"}
	kindServiceAccount        = schema.GroupKind{Group: corev1.GroupName, Kind: "ServiceAccount"}
	kindIngress               = schema.GroupKind{Group: networkingv1.GroupName, Kind: "Ingress"}
	kindNetworkPolicy         = schema.GroupKind{Group: networkingv1.GroupName, Kind: "NetworkPolicy"}
	kindPodDisruptionBudget   = schema.GroupKind{Group: policyv1.GroupName, Kind: "PodDisruptionBudget"}
)

// legacyKinds are the kinds outside the core group whose copies Nestor
// marked with the bare Kind before it recorded groups. Those copies are
// still these kinds': never orphaned, and the next apply records the group.
// No other bare Kind is taken for a kind of another group.
var legacyKinds = map[string]schema.GroupKind{
	kindIngress.Kind:             kindIngress,
	kindNetworkPolicy.Kind:       kindNetworkPolicy,
	kindPodDisruptionBudget.Kind: kindPodDisruptionBudget,
}

// recordedKind is the kind an origin annotation records.
func recordedKind(recorded string) schema.GroupKind {
	if gk, ok := legacyKinds[recorded]; ok {
		return gk
	}
	return schema.ParseGroupKind(recorded)
}

// rootCA is the configMap every namespace holds with its cluster's CA.
const rootCA = "kube-root-ca.crt"

// ConfigMapName is the host name of virtual configMap namespace/name. In
// multi-namespace mode names stay, but the host's own kube-root-ca.crt is
// in every host namespace: the virtual cluster's goes beside it, under a
// name of its own.
func (c Context) ConfigMapName(namespace, name string) string {
	if c.Names.MultiNamespace() && name == rootCA {
		return "nestor-" + rootCA
	}
	return c.Names.HostName(namespace, name)
}

// HostKey is where virtual object namespace/name of kind lives on the host.
func (c Context) HostKey(kind schema.GroupKind, namespace, name string) types.NamespacedName {
	key := c.Names.HostKey(namespace, name)
	if kind == kindConfigMap {
		key.Name = c.ConfigMapName(namespace, name)
	}
	return key
}

// Markers are the labels by which the syncer finds its host objects, and
// by which a host Service selects the pods of one virtual namespace only.
func (c Context) Markers(virtualNamespace string) map[string]string {
	m := map[string]string{
		tenancyv1alpha1.LabelManagedBy:               tenancyv1alpha1.SyncerManagedByValue,
		tenancyv1alpha1.LabelVirtualCluster:          c.VirtualCluster,
		tenancyv1alpha1.LabelVirtualClusterNamespace: c.HostNamespace,
	}
	if virtualNamespace != "" {
		m[tenancyv1alpha1.LabelVirtualNamespace] = virtualNamespace
	}
	return m
}

// SelectorLabels are the markers every host object of this virtual
// cluster carries: the syncer's host caches select by them.
func (c Context) SelectorLabels() map[string]string {
	return c.Markers("")
}

// Meta is the host metadata of virtual object v of kind: the translated
// name, the tenant's labels and annotations minus the keys Nestor reserves,
// the markers, and the origin annotations.
func (c Context) Meta(kind schema.GroupKind, v metav1.Object) metav1.ObjectMeta {
	key := c.HostKey(kind, v.GetNamespace(), v.GetName())
	labels := withoutReserved(v.GetLabels())
	maps.Copy(labels, c.Markers(v.GetNamespace()))
	labels[tenancyv1alpha1.LabelVirtualClusterUID] = string(c.Identity)
	annotations := withoutReserved(v.GetAnnotations())
	annotations[tenancyv1alpha1.AnnotationVirtualKind] = kind.String()
	annotations[tenancyv1alpha1.AnnotationVirtualNamespace] = v.GetNamespace()
	annotations[tenancyv1alpha1.AnnotationVirtualName] = v.GetName()
	annotations[tenancyv1alpha1.AnnotationVirtualUID] = string(v.GetUID())
	return metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace, Labels: labels, Annotations: annotations}
}

// withoutReserved copies m without Nestor's keys, which a tenant must not
// set on a host object (they would make it pass for another's, or be
// selected by the control plane's Services), nor kubectl's record of the
// last applied configuration, which would be the virtual object's.
func withoutReserved(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+4)
	for k, v := range m {
		if reserved(k) {
			continue
		}
		out[k] = v
	}
	return out
}

func reserved(key string) bool {
	prefix, _, found := strings.Cut(key, "/")
	if !found {
		return false
	}
	return prefix == "nestor.dev" || strings.HasSuffix(prefix, ".nestor.dev") ||
		key == tenancyv1alpha1.LabelManagedBy || key == "kubectl.kubernetes.io/last-applied-configuration"
}

// OriginOf reads where host object h comes from, and whether h belongs to
// this virtual cluster at all: it must carry this VirtualCluster's markers
// and every origin annotation. Nothing else is ever changed or deleted.
func (c Context) OriginOf(h metav1.Object) (Origin, bool) {
	l, a := h.GetLabels(), h.GetAnnotations()
	if l[tenancyv1alpha1.LabelManagedBy] != tenancyv1alpha1.SyncerManagedByValue ||
		l[tenancyv1alpha1.LabelVirtualCluster] != c.VirtualCluster ||
		l[tenancyv1alpha1.LabelVirtualClusterNamespace] != c.HostNamespace {
		return Origin{}, false
	}
	o := Origin{
		Kind:      recordedKind(a[tenancyv1alpha1.AnnotationVirtualKind]),
		Namespace: a[tenancyv1alpha1.AnnotationVirtualNamespace],
		Name:      a[tenancyv1alpha1.AnnotationVirtualName],
		UID:       types.UID(a[tenancyv1alpha1.AnnotationVirtualUID]),
	}
	if o.Kind.Kind == "" || o.Namespace == "" || o.Name == "" || o.UID == "" {
		return Origin{}, false
	}
	// The origin must lie in the virtual namespace h's namespace serves.
	if c.Names.HostNamespace(o.Namespace) != h.GetNamespace() {
		return Origin{}, false
	}
	return o, true
}

// Owns reports whether host object h is the copy of virtual object
// namespace/name of kind. The virtual UID may differ: an object deleted
// and re-created under the same name takes over its copy.
func (c Context) Owns(kind schema.GroupKind, namespace, name string, h metav1.Object) bool {
	o, ok := c.OriginOf(h)
	return ok && o.Kind == kind && o.Namespace == namespace && o.Name == name
}

// Current reports whether host object h was made for the virtual cluster
// of c.Identity. A copy made for an earlier one (its etcd lost or replaced)
// or before copies recorded it is not: its virtual object's absence from
// this one says nothing about the tenant's wishes.
func (c Context) Current(h metav1.Object) bool {
	return c.Identity != "" && h.GetLabels()[tenancyv1alpha1.LabelVirtualClusterUID] == string(c.Identity)
}
