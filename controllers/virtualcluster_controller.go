// Package controllers holds the operator's reconcilers.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/apply"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/ownership"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
)

// Condition types. Ready summarises the others.
const (
	ConditionReady             = "Ready"
	ConditionRBACReady         = "RBACReady"
	ConditionCertificatesReady = "CertificatesReady"
	ConditionControlPlaneReady = "ControlPlaneReady"
	// ConditionCustomResourcesReady says whether the host defines every
	// custom resource spec.sync names, so that the syncer can sync it.
	ConditionCustomResourcesReady = "CustomResourcesReady"
	ConditionSyncerReady          = "SyncerReady"
	// ConditionDNSReady says whether the virtual cluster's CoreDNS runs.
	ConditionDNSReady      = "DNSReady"
	ConditionPoliciesReady = "PoliciesReady"
)

// Reasons a user can act on.
const (
	ReasonReady              = "Ready"
	ReasonModeChangeRejected = "ModeChangeRejected"
	ReasonNameConflict       = "NameConflict"
	// ApplyFailed may pass on a retry (the API server was unreachable, say);
	// ApplyRefused will not: the host refused the object itself.
	ReasonApplyFailed  = "ApplyFailed"
	ReasonApplyRefused = "ApplyRefused"
	ReasonNeedsMultiNS = "RequiresMultiNamespaceMode"
	ReasonRollingOut   = "RollingOut"
	ReasonWaiting      = "Waiting"
	ReasonNotRequested = "NotRequested"
	ReasonDeleting     = "Deleting"
	// A custom resource of spec.sync has no definition on the host, one the
	// host does not serve yet, or one of another scope than the entry says.
	ReasonDefinitionMissing        = "CustomResourceDefinitionMissing"
	ReasonDefinitionNotEstablished = "CustomResourceDefinitionNotEstablished"
	ReasonScopeMismatch            = "CustomResourceScopeMismatch"
)

// FieldOwner is the field manager of every write the operator makes.
const FieldOwner = "nestor-operator"

// VirtualClusterReconciler turns each VirtualCluster into its host objects
// (DESIGN.md §2) and reports their state in its status.
type VirtualClusterReconciler struct {
	client.Client
	// APIReader reads from the API server, where the cache may lag.
	APIReader client.Reader
	Applier   *apply.Applier
	Recorder  events.EventRecorder
	// SyncerImage runs the syncer unless a VirtualCluster names another.
	SyncerImage string
	// HostClusterDomain is the host cluster's DNS domain, for the API server's
	// fully qualified Service name in its certificate.
	HostClusterDomain string
	// FromHostSelectors pick, by <plural>.<group>, the host objects of a
	// fromHost custom resource that tenants see, as a label selector; a kind
	// without one shows them all. The platform chooses, not the tenant.
	FromHostSelectors map[string]string
	// Now is the clock for certificate validity; time.Now when nil.
	Now func() time.Time

	// definitions keeps the host definitions VirtualClusters name (see
	// hostDefinition).
	definitions definitionCache
}

// +kubebuilder:rbac:groups=tenancy.nestor.dev,resources=virtualclusters,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=tenancy.nestor.dev,resources=virtualclusters/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=tenancy.nestor.dev,resources=virtualclusters/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets;configmaps;serviceaccounts;services,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=resourcequotas;limitranges,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=apps,resources=statefulsets;deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings;clusterroles;clusterrolebindings,verbs=get;list;watch;create;update;patch;delete
// The syncer's rules name whatever kinds a tenant syncs, custom resources
// among them, which the operator cannot hold in advance: it may grant and
// bind roles beyond its own permissions, and nothing else.
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;clusterroles,verbs=escalate;bind
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one VirtualCluster's host objects to the state its spec asks for.
func (r *VirtualClusterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	vc := &tenancyv1alpha1.VirtualCluster{}
	if err := r.Get(ctx, req.NamespacedName, vc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !vc.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, vc)
	}

	status := vc.Status.DeepCopy()
	err := r.reconcile(ctx, vc, status)
	progress(vc, status)
	if statusErr := r.writeStatus(ctx, vc, status); statusErr != nil {
		err = errors.Join(err, statusErr)
	}
	return ctrl.Result{}, err
}

// reconcile runs the steps in order; status collects what they found.
func (r *VirtualClusterReconciler) reconcile(ctx context.Context, vc *tenancyv1alpha1.VirtualCluster, status *tenancyv1alpha1.VirtualClusterStatus) error {
	// The mode is fixed, and written down, before anything exists on the host.
	// The API server records only the spec's mode first, and keeps it
	// (the CRD's rules): a status write cannot open another mode.
	recorded := status.Mode
	if recorded == "" {
		mode, err := r.recordedMode(ctx, vc)
		if err != nil {
			return err
		}
		recorded = mode
		if mode == vc.SpecMode() {
			status.Mode = mode
			status.Phase = tenancyv1alpha1.PhasePending
			progress(vc, status) // Reconciling from the first status on
			if err := r.writeStatus(ctx, vc, status); err != nil {
				return err
			}
		}
	}
	// A spec that disagrees with the recorded mode got past the webhook: act
	// on nothing rather than re-key the tenant's host objects.
	if specMode := vc.SpecMode(); specMode != recorded {
		msg := fmt.Sprintf("spec.experimental.multiNamespaceMode.enabled asks for %s mode, but this virtual cluster was created in %s mode. "+
			"Host objects are keyed differently in each mode, so nothing was changed. Set the field back to %t, "+
			"or create a new VirtualCluster and migrate to it.", specMode, recorded, recorded == tenancyv1alpha1.MultiNamespaceMode)
		r.Recorder.Eventf(vc, nil, corev1.EventTypeWarning, ReasonModeChangeRejected, "Reconcile", msg)
		setCondition(status, vc, ConditionReady, metav1.ConditionFalse, ReasonModeChangeRejected, msg)
		status.Phase = tenancyv1alpha1.PhaseFailed
		// This generation is judged: Stalled, not still in progress.
		status.ObservedGeneration = vc.Generation
		return nil
	}

	if !controllerutil.ContainsFinalizer(vc, tenancyv1alpha1.Finalizer) {
		base := vc.DeepCopy()
		controllerutil.AddFinalizer(vc, tenancyv1alpha1.Finalizer)
		if err := r.Patch(ctx, vc, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return fmt.Errorf("adding finalizer: %w", err)
		}
	}

	st := &state{vc: vc, mode: status.Mode, status: status}
	steps := []struct {
		condition string
		run       func(context.Context, *state) (outcome, error)
	}{
		{ConditionRBACReady, r.reconcileRBAC},
		{ConditionCertificatesReady, r.reconcileCertificates},
		{ConditionControlPlaneReady, r.reconcileControlPlane},
		{ConditionDNSReady, r.reconcileDNS},
		{ConditionCustomResourcesReady, r.reconcileCustomResources},
		{ConditionSyncerReady, r.reconcileSyncer},
		{ConditionPoliciesReady, r.reconcilePolicies},
	}
	for _, step := range steps {
		out, err := step.run(ctx, st)
		if apierrors.IsConflict(err) {
			// Someone wrote in between: try again on fresh data; nothing failed.
			return err
		}
		if err != nil {
			reason := errorReason(err)
			if stalledReasons[reason] {
				// Judged, and stuck until a person acts (Stalled).
				status.ObservedGeneration = vc.Generation
			}
			setCondition(status, vc, step.condition, metav1.ConditionFalse, reason, err.Error())
			setCondition(status, vc, ConditionReady, metav1.ConditionFalse, reason, step.condition+": "+err.Error())
			status.Phase = tenancyv1alpha1.PhaseFailed
			r.Recorder.Eventf(vc, nil, corev1.EventTypeWarning, reason, "Reconcile", "%s", err.Error())
			return err
		}
		setCondition(status, vc, step.condition, out.status, out.reason, out.message)
	}

	status.ObservedGeneration = vc.Generation
	summarize(vc, status)
	return nil
}

// recordedMode is the mode the host objects are laid out for when
// status.mode is empty. That is normally the first reconcile, and the spec
// decides; but if the status was lost (a restore that drops it), the syncer's
// rendered configuration still tells the mode its objects were made for.
func (r *VirtualClusterReconciler) recordedMode(ctx context.Context, vc *tenancyv1alpha1.VirtualCluster) (tenancyv1alpha1.Mode, error) {
	cm := &corev1.ConfigMap{}
	cm.Name, cm.Namespace = naming.ForVirtualCluster(vc.Namespace, vc.Name).Syncer, vc.Namespace
	found, err := r.Applier.Get(ctx, cm)
	if err != nil {
		return "", err
	}
	if found && ownership.LabelledFor(vc)(cm) {
		if cfg, err := syncerconfig.Parse([]byte(cm.Data[syncerconfig.FileName])); err == nil {
			return cfg.Mode, nil
		}
	}
	return vc.SpecMode(), nil
}

// state is what one reconcile of one VirtualCluster carries from step to step.
type state struct {
	vc     *tenancyv1alpha1.VirtualCluster
	mode   tenancyv1alpha1.Mode
	status *tenancyv1alpha1.VirtualClusterStatus
	// pkiHash digests the PKI; the control plane rolls when it changes.
	pkiHash string
	// dnsKubeconfig is CoreDNS's kubeconfig, which it reads at start.
	dnsKubeconfig []byte
	// dnsNameserver is the cluster IP of CoreDNS's Service, once it has one.
	dnsNameserver string
	// customResources are the custom kinds the syncer is handed.
	customResources customResources
}

// outcome is what a step found, as its condition.
type outcome struct {
	status  metav1.ConditionStatus
	reason  string
	message string
}

func ready(reason, message string) outcome {
	return outcome{status: metav1.ConditionTrue, reason: reason, message: message}
}

func notReady(reason, message string) outcome {
	return outcome{status: metav1.ConditionFalse, reason: reason, message: message}
}

// summarize sets Ready and the phase from the part conditions.
func summarize(vc *tenancyv1alpha1.VirtualCluster, status *tenancyv1alpha1.VirtualClusterStatus) {
	var waiting []string
	for _, t := range []string{ConditionRBACReady, ConditionCertificatesReady, ConditionControlPlaneReady,
		ConditionDNSReady, ConditionCustomResourcesReady, ConditionSyncerReady, ConditionPoliciesReady} {
		if c := meta.FindStatusCondition(status.Conditions, t); c == nil || c.Status != metav1.ConditionTrue {
			msg := t
			if c != nil {
				msg = t + ": " + c.Message
			}
			waiting = append(waiting, msg)
		}
	}
	if len(waiting) == 0 {
		setCondition(status, vc, ConditionReady, metav1.ConditionTrue, ReasonReady, "The virtual cluster is up and its syncer is running.")
		status.Phase = tenancyv1alpha1.PhaseReady
		return
	}
	setCondition(status, vc, ConditionReady, metav1.ConditionFalse, ReasonWaiting, strings.Join(waiting, "; "))
	status.Phase = tenancyv1alpha1.PhaseProvisioning
}

func setCondition(status *tenancyv1alpha1.VirtualClusterStatus, vc *tenancyv1alpha1.VirtualCluster, t string, s metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: vc.Generation,
	})
}

// writeStatus patches the status when it changed, and only then.
func (r *VirtualClusterReconciler) writeStatus(ctx context.Context, vc *tenancyv1alpha1.VirtualCluster, status *tenancyv1alpha1.VirtualClusterStatus) error {
	if equality.Semantic.DeepEqual(&vc.Status, status) {
		return nil
	}
	base := vc.DeepCopy()
	vc.Status = *status.DeepCopy()
	if err := r.Status().Patch(ctx, vc, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("updating status: %w", err)
	}
	return nil
}

// SetupWithManager registers the reconciler. Every child, namespaced or not,
// carries its VirtualCluster's name and namespace in labels, which is how an
// event on any of them finds its way back. A host CustomResourceDefinition
// finds the VirtualClusters that name it through an index; only its
// metadata is watched (see hostDefinition).
func (r *VirtualClusterReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &tenancyv1alpha1.VirtualCluster{},
		customResourceIndex, indexCustomResources); err != nil {
		return fmt.Errorf("indexing VirtualClusters by their custom resources: %w", err)
	}
	toOwner := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		l := obj.GetLabels()
		name, ns := l[tenancyv1alpha1.LabelVirtualCluster], l[tenancyv1alpha1.LabelVirtualClusterNamespace]
		if name == "" || ns == "" || l[tenancyv1alpha1.LabelManagedBy] != tenancyv1alpha1.ManagedByValue {
			return nil
		}
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: ns, Name: name}}}
	})
	b := ctrl.NewControllerManagedBy(mgr).
		For(&tenancyv1alpha1.VirtualCluster{}).
		Named("virtualcluster")
	for _, obj := range WatchedChildren() {
		b = b.Watches(obj, toOwner, builder.WithPredicates())
	}
	b = b.Watches(&apiextensionsv1.CustomResourceDefinition{}, handler.EnqueueRequestsFromMapFunc(r.configuring), builder.OnlyMetadata)
	return b.Complete(r)
}

// WatchedChildren are the kinds of the objects a VirtualCluster becomes. The
// manager caches only the labelled ones (see internal/operator).
func WatchedChildren() []client.Object {
	return []client.Object{
		&corev1.ServiceAccount{}, &corev1.Secret{}, &corev1.ConfigMap{}, &corev1.Service{},
		&corev1.ResourceQuota{}, &corev1.LimitRange{}, &corev1.Namespace{},
		&appsv1.StatefulSet{}, &appsv1.Deployment{},
		&rbacv1.Role{}, &rbacv1.RoleBinding{}, &rbacv1.ClusterRole{}, &rbacv1.ClusterRoleBinding{},
		&networkingv1.NetworkPolicy{},
	}
}
