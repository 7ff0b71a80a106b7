package v1alpha1

// Labels and annotations that Nestor puts on what it creates. They are part of
// the API: users and tools select a virtual cluster's host objects by them.
const (
	// LabelVirtualCluster names the VirtualCluster an object belongs to.
	LabelVirtualCluster = "nestor.dev/virtualcluster"
	// LabelVirtualClusterNamespace names the namespace of that VirtualCluster.
	LabelVirtualClusterNamespace = "nestor.dev/virtualcluster-namespace"
	// LabelComponent tells the control plane's and the syncer's pods apart.
	// Pod selectors use it, so the syncer never copies it from a tenant object.
	LabelComponent = "nestor.dev/component"

	// LabelManagedBy is the well-known label; its value is ManagedByValue.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue marks objects the operator manages; its caches select
	// by it. What the syncer copies to the host is marked differently, so
	// the operator never caches the tenant's objects.
	ManagedByValue = "nestor-operator"

	// SyncerManagedByValue marks the tenant's objects the syncer copies to
	// the host.
	SyncerManagedByValue = "nestor-syncer"
	// LabelVirtualNamespace names the virtual namespace a host object comes
	// from; in multi-namespace mode it marks the host namespace of each
	// virtual one.
	LabelVirtualNamespace = "nestor.dev/virtual-namespace"
	// LabelVirtualClusterUID is on everything the syncer makes on the host:
	// the UID of the kube-system namespace of the virtual cluster it was made
	// for. A virtual cluster whose etcd came back empty or was replaced has
	// another, and what an earlier one made is never deleted for being absent
	// from it. A label, not an annotation, so a selector finds them.
	LabelVirtualClusterUID = "nestor.dev/virtual-cluster-uid"

	// Annotations on every object the syncer copies to the host: where it
	// comes from in the virtual cluster. The reverse lookup reads them and
	// never parses a host name. The kind is its GroupKind, as
	// "Ingress.networking.k8s.io"; a core kind's is the bare Kind, as "Pod".
	AnnotationVirtualName      = "nestor.dev/virtual-name"
	AnnotationVirtualNamespace = "nestor.dev/virtual-namespace"
	AnnotationVirtualUID       = "nestor.dev/virtual-uid"
	AnnotationVirtualKind      = "nestor.dev/virtual-kind"

	// Annotations on what the syncer shows in the virtual cluster from the
	// host (objects of fromHost kinds, and Secrets a host controller writes
	// for a copy, such as a certificate's): where it comes from on the host.
	// Such objects carry LabelManagedBy with SyncerManagedByValue.
	AnnotationHostName      = "nestor.dev/host-name"
	AnnotationHostNamespace = "nestor.dev/host-namespace"
	// Finalizer removes what owner references cannot reach, before a
	// VirtualCluster goes away: the cluster-scoped children, the host
	// namespaces and, in single-namespace mode, the syncer's copies.
	Finalizer = "tenancy.nestor.dev/cleanup"
)

// Component values of LabelComponent.
const (
	ComponentControlPlane = "control-plane"
	ComponentSyncer       = "syncer"
	// ComponentDNS is the virtual cluster's CoreDNS.
	ComponentDNS = "dns"
)
