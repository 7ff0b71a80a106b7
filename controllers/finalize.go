package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/controlplane"
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

	// Stop the syncer first, so it creates no host namespace behind our back.
	if _, err := r.Applier.Delete(ctx, controlplane.SyncerDeployment(vc, ""), ownership.ControlledBy(vc)); err != nil {
		return ctrl.Result{}, err
	}
	for _, list := range []client.ObjectList{&rbacv1.ClusterRoleBindingList{}, &rbacv1.ClusterRoleList{}, &corev1.NamespaceList{}} {
		if err := r.deleteLabelled(ctx, vc, list); err != nil {
			return ctrl.Result{}, err
		}
	}

	base := vc.DeepCopy()
	controllerutil.RemoveFinalizer(vc, tenancyv1alpha1.Finalizer)
	if err := r.Patch(ctx, vc, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("removing finalizer: %w", err)
	}
	return ctrl.Result{}, nil
}

// deleteLabelled deletes every cluster-scoped object of list's kind that is
// labelled as vc's.
func (r *VirtualClusterReconciler) deleteLabelled(ctx context.Context, vc *tenancyv1alpha1.VirtualCluster, list client.ObjectList) error {
	if err := r.List(ctx, list, ownership.ClusterSelector(vc)); err != nil {
		return fmt.Errorf("listing %T: %w", list, err)
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return err
	}
	for _, item := range items {
		obj, ok := item.(client.Object)
		if !ok {
			continue
		}
		if _, err := r.Applier.Delete(ctx, obj, ownership.LabelledFor(vc)); err != nil {
			return err
		}
	}
	return nil
}
