package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultKubernetesVersion is the control-plane version a VirtualCluster gets
// when its manifest names none. It must match the +kubebuilder:default marker
// on ControlPlaneSpec.Version and the version the project's tools module builds.
const DefaultKubernetesVersion = "v1.37.2"

// Mode says how a virtual cluster maps its namespaces onto the host.
// +kubebuilder:validation:Enum=SingleNamespace;MultiNamespace
type Mode string

const (
	// SingleNamespaceMode puts every synced object into the VirtualCluster's
	// own namespace under a rewritten name.
	SingleNamespaceMode Mode = "SingleNamespace"
	// MultiNamespaceMode gives every virtual namespace a host namespace of its
	// own and keeps object names as they are.
	MultiNamespaceMode Mode = "MultiNamespace"
)

// Phase is a one-word summary of a VirtualCluster for humans; tools should
// read the Ready condition instead.
// +kubebuilder:validation:Enum=Pending;Provisioning;Ready;Failed;Deleting
type Phase string

const (
	PhasePending      Phase = "Pending"
	PhaseProvisioning Phase = "Provisioning"
	PhaseReady        Phase = "Ready"
	PhaseFailed       Phase = "Failed"
	PhaseDeleting     Phase = "Deleting"
)

// VirtualClusterSpec follows the layout of vcluster's vcluster.yaml, so an
// existing vcluster.yaml can be pasted under spec.
type VirtualClusterSpec struct {
	// Experimental holds the settings vcluster marks as experimental, among
	// them the namespace mode.
	// +optional
	Experimental *ExperimentalSpec `json:"experimental,omitempty"`

	// Sync selects what the syncer copies between the virtual cluster and the host.
	// +kubebuilder:default={}
	// +optional
	Sync SyncSpec `json:"sync,omitempty"`

	// ControlPlane configures the StatefulSet that runs etcd, kube-apiserver and
	// kube-controller-manager for the virtual cluster.
	// +kubebuilder:default={}
	// +optional
	ControlPlane ControlPlaneSpec `json:"controlPlane,omitempty"`

	// Networking configures the virtual cluster's service network.
	// +kubebuilder:default={}
	// +optional
	Networking NetworkingSpec `json:"networking,omitempty"`

	// Policies are host-side guard rails for the tenant's host namespace(s).
	// +kubebuilder:default={}
	// +optional
	Policies PoliciesSpec `json:"policies,omitempty"`
}

// ExperimentalSpec holds settings vcluster marks as experimental.
type ExperimentalSpec struct {
	// MultiNamespaceMode gives each virtual namespace a host namespace of its own.
	// +optional
	MultiNamespaceMode *MultiNamespaceModeSpec `json:"multiNamespaceMode,omitempty"`
}

// MultiNamespaceModeSpec switches multi-namespace mode.
type MultiNamespaceModeSpec struct {
	// Enabled picks multi-namespace mode. It is chosen once, at creation: host
	// objects are keyed differently in each mode, so a change would orphan or
	// destroy them, and it is rejected.
	// +kubebuilder:default=false
	// +optional
	Enabled bool `json:"enabled,omitempty"`
}

// SyncSpec selects what is synced in each direction.
type SyncSpec struct {
	// ToHost lists what the tenant creates in the virtual cluster and the syncer
	// copies down to the host.
	// +kubebuilder:default={}
	// +optional
	ToHost SyncToHost `json:"toHost,omitempty"`

	// FromHost lists what the syncer copies from the host into the virtual cluster.
	// +kubebuilder:default={}
	// +optional
	FromHost SyncFromHost `json:"fromHost,omitempty"`
}

// Switches whose default is true are pointers, so that a client written in
// Go that leaves them unset sends nothing and gets the default, not false.

// EnabledByDefault switches a kind that is synced unless turned off.
type EnabledByDefault struct {
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
}

// IsEnabled reports whether the kind is synced.
func (e EnabledByDefault) IsEnabled() bool { return e.Enabled == nil || *e.Enabled }

// DisabledByDefault switches a kind that is synced only when turned on.
type DisabledByDefault struct {
	// +kubebuilder:default=false
	// +optional
	Enabled bool `json:"enabled,omitempty"`
}

// IsEnabled reports whether the kind is synced.
func (e DisabledByDefault) IsEnabled() bool { return e.Enabled }

// SyncReferenced switches a kind that is synced when a synced object
// references it, or entirely when All is set.
type SyncReferenced struct {
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// All syncs every object of the kind, referenced or not.
	// +kubebuilder:default=false
	// +optional
	All bool `json:"all,omitempty"`
}

// IsEnabled reports whether the kind is synced at all.
func (e SyncReferenced) IsEnabled() bool { return e.Enabled == nil || *e.Enabled }

// SyncToHost lists the kinds copied from the virtual cluster to the host.
type SyncToHost struct {
	// +kubebuilder:default={}
	Pods EnabledByDefault `json:"pods,omitempty"`
	// +kubebuilder:default={}
	Services EnabledByDefault `json:"services,omitempty"`
	// +kubebuilder:default={}
	Endpoints EnabledByDefault `json:"endpoints,omitempty"`
	// +kubebuilder:default={}
	PersistentVolumeClaims EnabledByDefault `json:"persistentVolumeClaims,omitempty"`
	// +kubebuilder:default={}
	ConfigMaps SyncReferenced `json:"configMaps,omitempty"`
	// +kubebuilder:default={}
	Secrets SyncReferenced `json:"secrets,omitempty"`
	// +kubebuilder:default={}
	Ingresses DisabledByDefault `json:"ingresses,omitempty"`
	// +kubebuilder:default={}
	NetworkPolicies DisabledByDefault `json:"networkPolicies,omitempty"`
	// +kubebuilder:default={}
	ServiceAccounts DisabledByDefault `json:"serviceAccounts,omitempty"`
	// +kubebuilder:default={}
	PodDisruptionBudgets DisabledByDefault `json:"podDisruptionBudgets,omitempty"`

	// CustomResources syncs namespaced custom resources, keyed by
	// <plural>.<group>, for example certificates.cert-manager.io. The host's
	// CustomResourceDefinition is copied into the virtual cluster (without
	// its conversion webhook); everything of an object but its status goes
	// to the host, and the host's status comes back. In single-namespace
	// mode the fields that name other objects (patches) are rewritten to
	// the host names. A Secret the host writes where such a field points
	// (a certificate's) is shown in the virtual cluster. A kind the host
	// has no definition of turns CustomResourcesReady false.
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.size() <= 253 && k.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)+$'))",message="keys must be <plural>.<group> in lower case, for example certificates.cert-manager.io"
	// +optional
	CustomResources map[string]CustomResourceToHost `json:"customResources,omitempty"`
}

// CustomResourceToHost switches the sync of one custom resource to the host.
type CustomResourceToHost struct {
	// +kubebuilder:default=false
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// Patches declare the fields of this kind's objects that name another
	// object in the same namespace. In single-namespace mode each is
	// rewritten to the host name of what it names; in both modes a Secret
	// named by a field written by the host (a certificate's
	// spec.secretName) is shown in the virtual cluster from the host.
	// certificates.cert-manager.io and issuers.cert-manager.io have
	// Nestor's built-in list (docs/custom-resources.md), which these add
	// to; patches: [] says a kind of no built-in list names nothing.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Patches []ReferencePatch `json:"patches,omitempty"`
}

// ReferencePatch declares one field that names another object.
type ReferencePatch struct {
	// Path to the field holding the name, in dots from the object's root:
	// spec.secretName. A [*] after a segment goes through every item of a
	// list: spec.tls[*].secretName.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+(\[\*\])?(\.[A-Za-z0-9_-]+(\[\*\])?)*$`
	Path string `json:"path"`
	// Reference is the kind of the object the field names.
	Reference PatchReference `json:"reference"`
	// WrittenByHost says a host controller writes the object the field
	// names, for this one (cert-manager a certificate's Secret): the host's
	// is shown in the virtual cluster, read-only, and a virtual one of that
	// name is never copied down, where it would fight the host's.
	// +optional
	WrittenByHost bool `json:"writtenByHost,omitempty"`
}

// PatchReference is the kind a declared field refers to.
type PatchReference struct {
	// APIVersion of the kind; v1 (core) when empty.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// Kind of the object named.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind"`
	// KindPath, when the field sits in a reference that says its own kind
	// (cert-manager's issuerRef), names the field beside it that holds the
	// kind: the name is rewritten only when that field is empty or Kind.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	// +optional
	KindPath string `json:"kindPath,omitempty"`
}

// SyncFromHost lists the kinds copied from the host into the virtual cluster.
// Cluster-scoped kinds need cluster-level host access, which only
// multi-namespace mode grants.
type SyncFromHost struct {
	// Events about synced objects, with host names translated back.
	// +kubebuilder:default={}
	Events EnabledByDefault `json:"events,omitempty"`
	// +kubebuilder:default={}
	Nodes DisabledByDefault `json:"nodes,omitempty"`
	// +kubebuilder:default={}
	StorageClasses DisabledByDefault `json:"storageClasses,omitempty"`
	// +kubebuilder:default={}
	IngressClasses DisabledByDefault `json:"ingressClasses,omitempty"`
	// +kubebuilder:default={}
	PriorityClasses DisabledByDefault `json:"priorityClasses,omitempty"`
	// +kubebuilder:default={}
	RuntimeClasses DisabledByDefault `json:"runtimeClasses,omitempty"`

	// CustomResources shows the host's objects of cluster-scoped custom
	// resources in the virtual cluster, read-only, keyed by
	// <plural>.<group>, for example clusterissuers.cert-manager.io: a
	// tenant's edit is undone, and an object deleted on the host goes. The
	// platform may narrow which objects with the operator's
	// --from-host-selector. They need multi-namespace mode.
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.size() <= 253 && k.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)+$'))",message="keys must be <plural>.<group> in lower case, for example clusterissuers.cert-manager.io"
	// +optional
	CustomResources map[string]CustomResourceFromHost `json:"customResources,omitempty"`
}

// ResourceScope is the scope of a custom resource synced from the host.
// +kubebuilder:validation:Enum=Cluster;Namespaced
type ResourceScope string

const (
	ClusterScoped   ResourceScope = "Cluster"
	NamespaceScoped ResourceScope = "Namespaced"
)

// CustomResourceFromHost switches the sync of one custom resource from the host.
type CustomResourceFromHost struct {
	// +kubebuilder:default=false
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// Scope of the resource, which must be its definition's: Cluster.
	// Namespaced kinds from the host are not supported yet.
	// +kubebuilder:default=Cluster
	// +optional
	Scope ResourceScope `json:"scope,omitempty"`
}

// ControlPlaneSpec configures the virtual cluster's control plane.
// +kubebuilder:validation:XValidation:rule="!has(self.replicas) || self.replicas == 1 || (has(self.persistence) && has(self.persistence.enabled) && self.persistence.enabled)",fieldPath=".persistence.enabled",message="spec.controlPlane.persistence.enabled must be true when spec.controlPlane.replicas is above 1: an etcd member that restarts without its data cannot rejoin its cluster"
type ControlPlaneSpec struct {
	// Version of Kubernetes the control plane runs.
	// +kubebuilder:default="v1.37.2"
	// +kubebuilder:validation:Pattern=`^v1\.[0-9]+\.[0-9]+$`
	// +optional
	Version string `json:"version,omitempty"`

	// Replicas of the control plane. Each replica runs an etcd member, so the
	// count is odd to keep a quorum.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Enum=1;3;5
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.controlPlane.replicas cannot change after creation: every replica is an etcd member, and etcd's membership is fixed when the cluster forms. Create a new VirtualCluster with the replicas you need and migrate to it"
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// Images overrides the container images; an empty field uses the upstream
	// image for Version.
	// +optional
	Images ControlPlaneImages `json:"images,omitempty"`

	// Resources of each container.
	// +kubebuilder:default={}
	// +optional
	Resources ControlPlaneResources `json:"resources,omitempty"`

	// Persistence of etcd's data.
	// +kubebuilder:default={}
	// +optional
	Persistence PersistenceSpec `json:"persistence,omitempty"`

	// Service through which the virtual cluster's API is reached.
	// +kubebuilder:default={}
	// +optional
	Service ControlPlaneService `json:"service,omitempty"`

	// ExtraArgs are appended to each component's command line.
	// +optional
	ExtraArgs ControlPlaneArgs `json:"extraArgs,omitempty"`
}

// ControlPlaneImages overrides container images.
type ControlPlaneImages struct {
	// Etcd image. Default: registry.k8s.io/etcd:3.7.0-0.
	// +optional
	Etcd string `json:"etcd,omitempty"`
	// APIServer image. Default: registry.k8s.io/kube-apiserver:<version>.
	// +optional
	APIServer string `json:"apiServer,omitempty"`
	// ControllerManager image. Default: registry.k8s.io/kube-controller-manager:<version>.
	// +optional
	ControllerManager string `json:"controllerManager,omitempty"`
	// Syncer image. Default: the operator's own image.
	// +optional
	Syncer string `json:"syncer,omitempty"`
	// CoreDNS image, the virtual cluster's DNS server. Default:
	// registry.k8s.io/coredns/coredns:v1.14.7.
	// +optional
	CoreDNS string `json:"coreDNS,omitempty"`
}

// ControlPlaneResources sets each container's resources. The defaults
// request what a small virtual cluster needs and cap memory only, so that a
// LimitRange's defaults or a ResourceQuota in the namespace do not catch the
// control plane unprepared.
type ControlPlaneResources struct {
	// +kubebuilder:default={requests: {cpu: "100m", memory: "256Mi"}, limits: {memory: "2Gi"}}
	// +optional
	Etcd corev1.ResourceRequirements `json:"etcd,omitempty"`
	// +kubebuilder:default={requests: {cpu: "250m", memory: "512Mi"}, limits: {memory: "3Gi"}}
	// +optional
	APIServer corev1.ResourceRequirements `json:"apiServer,omitempty"`
	// +kubebuilder:default={requests: {cpu: "100m", memory: "128Mi"}, limits: {memory: "1Gi"}}
	// +optional
	ControllerManager corev1.ResourceRequirements `json:"controllerManager,omitempty"`
	// +kubebuilder:default={requests: {cpu: "50m", memory: "64Mi"}, limits: {memory: "512Mi"}}
	// +optional
	Syncer corev1.ResourceRequirements `json:"syncer,omitempty"`
	// +kubebuilder:default={requests: {cpu: "50m", memory: "64Mi"}, limits: {memory: "256Mi"}}
	// +optional
	CoreDNS corev1.ResourceRequirements `json:"coreDNS,omitempty"`
}

// RetentionPolicy says what happens to etcd's volumes when the VirtualCluster is deleted.
// +kubebuilder:validation:Enum=Delete;Retain
type RetentionPolicy string

const (
	RetentionDelete RetentionPolicy = "Delete"
	RetentionRetain RetentionPolicy = "Retain"
)

// PersistenceSpec configures etcd's storage. Only retentionPolicy may
// change after creation: etcd's volumes are created with the control plane
// and the StatefulSet cannot change them.
// +kubebuilder:validation:XValidation:rule="has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)",message="spec.controlPlane.persistence.storageClassName cannot change after creation: the StatefulSet's volume claims are fixed"
type PersistenceSpec struct {
	// Enabled keeps etcd's data on a PersistentVolumeClaim per replica; when
	// off, the data lives in an emptyDir and is lost with the pod.
	// +kubebuilder:default=true
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.controlPlane.persistence.enabled cannot change after creation: etcd's data would be lost or left behind. Create a new VirtualCluster and migrate to it"
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// Size of each volume.
	// +kubebuilder:default="5Gi"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.controlPlane.persistence.size cannot change after creation: the StatefulSet's volume claims are fixed. Expand the PersistentVolumeClaims directly if their storage class allows it"
	// +optional
	Size resource.Quantity `json:"size,omitzero"` // unset in Go gets the default, not a size of 0
	// StorageClassName of the volumes; empty uses the host's default class.
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
	// RetentionPolicy: Delete removes the volumes with the VirtualCluster,
	// Retain keeps them for a later restore.
	// +kubebuilder:default=Delete
	// +optional
	RetentionPolicy RetentionPolicy `json:"retentionPolicy,omitempty"`
}

// IsEnabled reports whether etcd's data is kept on volumes.
func (p PersistenceSpec) IsEnabled() bool { return p.Enabled == nil || *p.Enabled }

// ControlPlaneService configures the Service in front of the API server.
type ControlPlaneService struct {
	// +kubebuilder:default=ClusterIP
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	// +optional
	Type corev1.ServiceType `json:"type,omitempty"`
	// Annotations added to the Service, for example for a cloud load balancer.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// ExtraSANs are added to the API server's serving certificate, for names
	// or addresses the API is reached under from outside the host cluster.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^([a-z0-9*]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*|[0-9a-fA-F:.]+)$`
	// +optional
	ExtraSANs []string `json:"extraSANs,omitempty"`
}

// ControlPlaneArgs are extra command-line flags per component.
type ControlPlaneArgs struct {
	// +kubebuilder:validation:items:Pattern=`^--[a-z0-9][-a-z0-9]*(=.*)?$`
	// +optional
	Etcd []string `json:"etcd,omitempty"`
	// +kubebuilder:validation:items:Pattern=`^--[a-z0-9][-a-z0-9]*(=.*)?$`
	// +optional
	APIServer []string `json:"apiServer,omitempty"`
	// +kubebuilder:validation:items:Pattern=`^--[a-z0-9][-a-z0-9]*(=.*)?$`
	// +optional
	ControllerManager []string `json:"controllerManager,omitempty"`
}

// NetworkingSpec configures the virtual cluster's networks.
type NetworkingSpec struct {
	// ServiceCIDR is the virtual cluster's service range. Set it to the host's
	// service range so that a virtual Service can show its host ClusterIP.
	// +kubebuilder:default="10.96.0.0/12"
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F:.]+/[0-9]{1,3}$`
	// +optional
	ServiceCIDR string `json:"serviceCIDR,omitempty"`
	// ClusterDomain is the DNS domain of the virtual cluster's services, which
	// its CoreDNS serves to the tenant's pods.
	// +kubebuilder:default="cluster.local"
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	ClusterDomain string `json:"clusterDomain,omitempty"`
}

// PoliciesSpec holds host-side guard rails for the tenant's workloads.
type PoliciesSpec struct {
	// +optional
	ResourceQuota ResourceQuotaPolicy `json:"resourceQuota,omitempty"`
	// +optional
	LimitRange LimitRangePolicy `json:"limitRange,omitempty"`
	// +optional
	NetworkPolicy NetworkPolicyPolicy `json:"networkPolicy,omitempty"`
	// PodSecurity holds the tenant's pods to a level of the Pod Security
	// Standards on the host.
	// +kubebuilder:default={}
	// +optional
	PodSecurity PodSecurityPolicy `json:"podSecurity,omitempty"`
}

// PodSecurityLevel is a level of the Kubernetes Pod Security Standards.
// +kubebuilder:validation:Enum=privileged;baseline;restricted
type PodSecurityLevel string

const (
	// PodSecurityPrivileged restricts nothing: privileged containers, host
	// namespaces, host paths and capabilities reach the host's nodes.
	PodSecurityPrivileged PodSecurityLevel = "privileged"
	// PodSecurityBaseline forbids what escapes the container: privileged
	// containers, host namespaces, ports and paths, added capabilities.
	PodSecurityBaseline PodSecurityLevel = "baseline"
	// PodSecurityRestricted adds the hardening of the Pod Security
	// Standards to baseline: non-root, no privilege escalation, all
	// capabilities dropped, a seccomp profile, and only volume kinds that
	// reach nothing of the node (no hostPath, nor network volumes declared
	// in the pod).
	PodSecurityRestricted PodSecurityLevel = "restricted"
)

// PodSecurityPolicy picks the level of the Pod Security Standards the
// tenant's pods are held to on the host.
type PodSecurityPolicy struct {
	// Level the tenant's pods must meet. The syncer copies no pod that
	// violates it and tells the tenant why in a SyncFailed event; in
	// multi-namespace mode the host namespaces are labelled to enforce it.
	// The stricter of this and the pod-security.kubernetes.io/enforce label
	// of the VirtualCluster's namespace applies. privileged is allowed only
	// in a namespace the platform labelled
	// pod-security.kubernetes.io/enforce: privileged.
	// +kubebuilder:default=baseline
	// +optional
	Level PodSecurityLevel `json:"level,omitempty"`
}

// ResourceQuotaPolicy caps what the tenant's workloads may use on the host.
// +kubebuilder:validation:XValidation:rule="!self.enabled || (has(self.quota) && size(self.quota) > 0)",message="spec.policies.resourceQuota.quota must list at least one limit when enabled"
type ResourceQuotaPolicy struct {
	// +kubebuilder:default=false
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// Quota is the hard limit per resource name, as in a ResourceQuota's spec.hard.
	// +optional
	Quota corev1.ResourceList `json:"quota,omitempty"`
	// Scopes, as in a ResourceQuota's spec.scopes.
	// +optional
	Scopes []corev1.ResourceQuotaScope `json:"scopes,omitempty"`
}

// LimitRangePolicy sets default and bounding container resources.
// +kubebuilder:validation:XValidation:rule="!self.enabled || has(self.default) || has(self.defaultRequest) || has(self.max) || has(self.min)",message="spec.policies.limitRange needs at least one of default, defaultRequest, max or min when enabled"
type LimitRangePolicy struct {
	// +kubebuilder:default=false
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// +optional
	Default corev1.ResourceList `json:"default,omitempty"`
	// +optional
	DefaultRequest corev1.ResourceList `json:"defaultRequest,omitempty"`
	// +optional
	Max corev1.ResourceList `json:"max,omitempty"`
	// +optional
	Min corev1.ResourceList `json:"min,omitempty"`
}

// NetworkPolicyPolicy isolates the tenant's workloads from other tenants.
type NetworkPolicyPolicy struct {
	// Enabled lets the tenant's pods reach each other, their control plane and
	// DNS, plus OutgoingConnections, and nothing else.
	// +kubebuilder:default=false
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// OutgoingConnections the tenant's pods may open beyond the virtual cluster.
	// +optional
	OutgoingConnections OutgoingConnections `json:"outgoingConnections,omitempty"`
}

// OutgoingConnections lists the destinations allowed for egress.
type OutgoingConnections struct {
	// IPBlock the tenant's pods may reach. Default: the internet, without
	// private and link-local ranges.
	// +kubebuilder:default={cidr: "0.0.0.0/0", except: {"100.64.0.0/10", "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"}}
	// +optional
	IPBlock *networkingv1.IPBlock `json:"ipBlock,omitempty"`
}

// VirtualClusterStatus is what the operator observed. It follows the kstatus
// conventions: a Ready condition and observedGeneration.
type VirtualClusterStatus struct {
	// ObservedGeneration is the generation of the last fully successful reconcile.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready summarises CertificatesReady, RBACReady,
	// ControlPlaneReady and SyncerReady.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Phase is a one-word summary for humans.
	// +optional
	Phase Phase `json:"phase,omitempty"`

	// Mode is the namespace mode recorded at the first reconcile. The host
	// objects are laid out for this mode, whatever the spec says later.
	// +optional
	Mode Mode `json:"mode,omitempty"`

	// KubeconfigSecretRef names the Secret key holding an admin kubeconfig.
	// +optional
	KubeconfigSecretRef *SecretKeyReference `json:"kubeconfigSecretRef,omitempty"`

	// ControlPlaneEndpoint is the URL of the virtual cluster's API.
	// +optional
	ControlPlaneEndpoint string `json:"controlPlaneEndpoint,omitempty"`

	// KubernetesVersion the control plane runs once it is rolled out.
	// +optional
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
}

// SecretKeyReference points at one key of a Secret in the VirtualCluster's namespace.
type SecretKeyReference struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// VirtualCluster is a Kubernetes API of its own whose workloads run on the
// host cluster.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vc;vcluster,categories=nestor
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.status.mode`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.kubernetesVersion`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// The recorded mode is trusted for what the host objects are laid out for,
// so a status write may neither change nor drop it, and it is first
// recorded as the spec says.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.mode) || (has(self.status) && has(self.status.mode) && self.status.mode == oldSelf.status.mode)",message="status.mode cannot change or be removed once recorded: the host objects are laid out for that mode"
// +kubebuilder:validation:XValidation:rule="(has(oldSelf.status) && has(oldSelf.status.mode)) || !has(self.status) || !has(self.status.mode) || self.status.mode == ((has(self.spec.experimental) && has(self.spec.experimental.multiNamespaceMode) && has(self.spec.experimental.multiNamespaceMode.enabled) && self.spec.experimental.multiNamespaceMode.enabled) ? 'MultiNamespace' : 'SingleNamespace')",message="status.mode is first recorded as spec.experimental.multiNamespaceMode.enabled says"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 52",message="metadata.name must be at most 52 characters: the control-plane StatefulSet and Services are named after it"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must start with a letter and contain only lower-case letters, digits and '-': the API server's Service is named after it"
type VirtualCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:default={}
	// +optional
	Spec   VirtualClusterSpec   `json:"spec,omitempty"`
	Status VirtualClusterStatus `json:"status,omitempty"`
}

// SpecMode is the namespace mode the spec asks for.
func (vc *VirtualCluster) SpecMode() Mode {
	if e := vc.Spec.Experimental; e != nil && e.MultiNamespaceMode != nil && e.MultiNamespaceMode.Enabled {
		return MultiNamespaceMode
	}
	return SingleNamespaceMode
}

// +kubebuilder:object:root=true

// VirtualClusterList is a list of VirtualClusters.
type VirtualClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualCluster `json:"items"`
}

func init() {
	SchemeBuilder.Register(&VirtualCluster{}, &VirtualClusterList{})
}
