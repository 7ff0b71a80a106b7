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
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/apply"
	"github.com/nestor-dev/nestor/internal/controlplane"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/ownership"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
	"github.com/nestor-dev/nestor/internal/translate"
)

// finalize removes what owner references cannot reach (see leftovers), and
// waits until it is gone. The garbage collector takes the namespaced
// children once the VirtualCluster is gone.
func (r *VirtualClusterReconciler) finalize(ctx context.Context, vc *tenancyv1alpha1.VirtualCluster) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(vc, tenancyv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	status := vc.Status.DeepCopy()
	status.Phase = tenancyv1alpha1.PhaseDeleting
	msg := deletionMessage(vc)
	setCondition(status, vc, ConditionReady, metav1.ConditionFalse, ReasonDeleting, msg)
	if vc.Status.Phase != tenancyv1alpha1.PhaseDeleting {
		r.Recorder.Eventf(vc, nil, corev1.EventTypeNormal, ReasonDeleting, "Delete", "%s", msg)
	}
	if err := r.writeStatus(ctx, vc, status); client.IgnoreNotFound(errors.Unwrap(err)) != nil {
		return ctrl.Result{}, err
	}

	// A syncer still running could create a host namespace or a copy after
	// we looked.
	if stopped, err := r.stopSyncer(ctx, vc); err != nil || !stopped {
		return ctrl.Result{RequeueAfter: 2 * time.Second}, err
	}
	remaining := 0
	for _, l := range leftovers(vc) {
		for _, list := range l.kinds {
			n, err := r.deleteAll(ctx, list, l.owned, l.selector...)
			if err != nil {
				return ctrl.Result{}, err
			}
			remaining += n
		}
	}
	// A VirtualCluster created again under this name must not find them.
	if remaining > 0 {
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}

	base := vc.DeepCopy()
	controllerutil.RemoveFinalizer(vc, tenancyv1alpha1.Finalizer)
	if err := r.Patch(ctx, vc, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("removing finalizer: %w", err)
	}
	return ctrl.Result{}, nil
}

// deletionMessage tells what goes with vc and what stays (README, "What
// survives a VirtualCluster's deletion").
func deletionMessage(vc *tenancyv1alpha1.VirtualCluster) string {
	p := vc.Spec.ControlPlane.Persistence
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	var etcd string
	switch {
	case !p.IsEnabled():
		etcd = "etcd's data lived in its pods (persistence is off) and goes with them."
	case p.RetentionPolicy == tenancyv1alpha1.RetentionRetain:
		etcd = fmt.Sprintf("etcd's PersistentVolumeClaims %s stay (persistence.retentionPolicy: Retain), for a restore; "+
			"remove them with: kubectl delete pvc -n %s -l %s=%s,%s=%s", strings.Join(n.EtcdClaims(controlplane.EtcdClaims(vc)), ", "), vc.Namespace,
			tenancyv1alpha1.LabelVirtualCluster, vc.Name, tenancyv1alpha1.LabelVirtualClusterNamespace, vc.Namespace)
	default:
		etcd = "etcd's PersistentVolumeClaims go with StatefulSet " + n.ControlPlane + " (persistence.retentionPolicy: Delete)."
	}
	return "The VirtualCluster is being deleted with everything Nestor made for it, the tenant's host copies included " +
		"(a deleted claim's volume follows its StorageClass's reclaimPolicy). " + etcd
}

// stopSyncer deletes the syncer's Deployment in the foreground and reports
// whether it is gone, its pods with it.
func (r *VirtualClusterReconciler) stopSyncer(ctx context.Context, vc *tenancyv1alpha1.VirtualCluster) (bool, error) {
	dep := &appsv1.Deployment{}
	key := client.ObjectKey{Namespace: vc.Namespace, Name: naming.ForVirtualCluster(vc.Namespace, vc.Name).Syncer}
	if err := r.APIReader.Get(ctx, key, dep); err != nil {
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	}
	if !ownership.ControlledBy(vc)(dep) {
		return true, nil
	}
	_, err := r.Applier.DeleteLive(ctx, dep, ownership.ControlledBy(vc), client.PropagationPolicy(metav1.DeletePropagationForeground))
	return false, err
}

// leftover is a set of host objects that no owner reference ties to a
// VirtualCluster: the objects of kinds that selector selects, each deleted
// only if owned accepts it.
type leftover struct {
	kinds    []client.ObjectList
	selector []client.ListOption
	owned    apply.OwnedFunc
}

// leftovers are vc's: its cluster-scoped children and host namespaces, and
// in single-namespace mode the copies its syncer made beside it, selected
// and recognised as the syncer does. In multi-namespace mode the copies are
// in the host namespaces, and go with them.
func leftovers(vc *tenancyv1alpha1.VirtualCluster) []leftover {
	out := []leftover{{
		kinds:    []client.ObjectList{&rbacv1.ClusterRoleBindingList{}, &rbacv1.ClusterRoleList{}, &corev1.NamespaceList{}},
		selector: []client.ListOption{ownership.ClusterSelector(vc)},
		owned:    ownership.LabelledFor(vc),
	}}
	if vc.Status.Mode == tenancyv1alpha1.MultiNamespaceMode {
		return out
	}
	tr := translate.For(syncerconfig.For(vc, tenancyv1alpha1.SingleNamespaceMode))
	return append(out, leftover{
		kinds:    syncerCopyKinds(),
		selector: []client.ListOption{client.InNamespace(vc.Namespace), client.MatchingLabels(tr.SelectorLabels())},
		owned: func(live client.Object) bool {
			_, isCopy := tr.OriginOf(live)
			return isCopy
		},
	})
}

// +kubebuilder:rbac:groups="",resources=pods;endpoints;persistentvolumeclaims,verbs=list;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=list;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=list;delete

// syncerCopyKinds are the kinds the syncer copies to the host
// (internal/syncer); the Secrets include its pods' tokens.
func syncerCopyKinds() []client.ObjectList {
	return []client.ObjectList{
		&corev1.PodList{}, &corev1.ServiceList{}, &corev1.EndpointsList{}, &corev1.PersistentVolumeClaimList{},
		&corev1.ConfigMapList{}, &corev1.SecretList{}, &corev1.ServiceAccountList{},
		&networkingv1.IngressList{}, &networkingv1.NetworkPolicyList{}, &policyv1.PodDisruptionBudgetList{},
	}
}

// deleteAll deletes every object of list's kind that opts select and owned
// accepts, read from the API server: the cache may lag, and holds none of
// the syncer's copies. It returns how many are left, deleting or not.
func (r *VirtualClusterReconciler) deleteAll(ctx context.Context, list client.ObjectList, owned apply.OwnedFunc, opts ...client.ListOption) (int, error) {
	if err := r.APIReader.List(ctx, list, opts...); err != nil {
		return 0, fmt.Errorf("listing %T: %w", list, err)
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return 0, err
	}
	remaining := 0
	for _, item := range items {
		obj, ok := item.(client.Object)
		if !ok || !owned(obj) {
			continue
		}
		remaining++
		if _, err := r.Applier.DeleteLive(ctx, obj, owned); err != nil {
			return 0, err
		}
	}
	return remaining, nil
}
