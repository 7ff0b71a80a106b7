package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/ownership"
)

// finalize removes what owner references cannot: the cluster-scoped children
// and the tenant's host namespaces. The garbage collector takes the
// namespaced children once the VirtualCluster is gone.
func (r *VirtualClusterReconciler) finalize(ctx context.Context, vc *tenancyv1alpha1.VirtualCluster) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(vc, tenancyv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	status := vc.Status.DeepCopy()
	status.Phase = tenancyv1alpha1.PhaseDeleting
	setCondition(status, vc, ConditionReady, metav1.ConditionFalse, ReasonDeleting, "The VirtualCluster is being deleted.")
	if err := r.writeStatus(ctx, vc, status); client.IgnoreNotFound(errors.Unwrap(err)) != nil {
		return ctrl.Result{}, err
	}

	// A syncer still running could create a host namespace after we looked.
	if stopped, err := r.stopSyncer(ctx, vc); err != nil || !stopped {
		return ctrl.Result{RequeueAfter: 2 * time.Second}, err
	}
	remaining := 0
	for _, list := range []client.ObjectList{&rbacv1.ClusterRoleBindingList{}, &rbacv1.ClusterRoleList{}, &corev1.NamespaceList{}} {
		n, err := r.deleteLabelled(ctx, vc, list)
		if err != nil {
			return ctrl.Result{}, err
		}
		remaining += n
	}
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

// deleteLabelled deletes every cluster-scoped object of list's kind labelled
// as vc's, read from the API server rather than the cache, which may lag.
// It returns how many it found that were not already on their way out.
func (r *VirtualClusterReconciler) deleteLabelled(ctx context.Context, vc *tenancyv1alpha1.VirtualCluster, list client.ObjectList) (int, error) {
	if err := r.APIReader.List(ctx, list, ownership.ClusterSelector(vc)); err != nil {
		return 0, fmt.Errorf("listing %T: %w", list, err)
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return 0, err
	}
	remaining := 0
	for _, item := range items {
		obj, ok := item.(client.Object)
		if !ok || obj.GetDeletionTimestamp() != nil {
			continue
		}
		remaining++
		if _, err := r.Applier.DeleteLive(ctx, obj, ownership.LabelledFor(vc)); err != nil {
			return 0, err
		}
	}
	return remaining, nil
}
