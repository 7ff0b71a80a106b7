package webhook

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

// +kubebuilder:webhook:path=/validate-tenancy-nestor-dev-v1alpha1-virtualcluster,mutating=false,failurePolicy=fail,sideEffects=None,groups=tenancy.nestor.dev,resources=virtualclusters,verbs=create;update,versions=v1alpha1,name=vvirtualcluster.tenancy.nestor.dev,admissionReviewVersions=v1,timeoutSeconds=10,patch=`{"matchConditions":[{"name":"create-or-spec-change","expression":"request.operation != 'UPDATE' || !has(object.spec) || !has(oldObject.spec) || object.spec != oldObject.spec"}]}`

// Validator admits VirtualClusters. It is registered for create and update
// of the main resource only: status updates and deletions never reach it.
type Validator struct {
	// Reader lists the VirtualClusters of the cluster, whose names a new
	// one must not collide with.
	Reader client.Reader
	// Reviewer creates the SubjectAccessReviews that ask whether the
	// requesting user holds what the syncer would get.
	Reviewer client.Writer
	// Namespaces reads a VirtualCluster's namespace, uncached: the
	// manager caches only the namespaces Nestor made.
	Namespaces client.Reader
}

var _ admission.Validator[*tenancyv1alpha1.VirtualCluster] = &Validator{}

// Setup registers the webhooks with the manager's webhook server: the
// VirtualClusters', and the syncers' writes of namespaces and RoleBindings.
func Setup(mgr ctrl.Manager) error {
	mgr.GetWebhookServer().Register(SyncerWritesPath, &ctrlwebhook.Admission{Handler: &SyncerWrites{
		Reader: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Decoder: admission.NewDecoder(mgr.GetScheme()),
	}})
	return ctrl.NewWebhookManagedBy(mgr, &tenancyv1alpha1.VirtualCluster{}).
		WithValidator(&Validator{Reader: mgr.GetClient(), Reviewer: mgr.GetClient(), Namespaces: mgr.GetAPIReader()}).
		Complete()
}

// ValidateCreate admits a new VirtualCluster.
func (v *Validator) ValidateCreate(ctx context.Context, vc *tenancyv1alpha1.VirtualCluster) (admission.Warnings, error) {
	errs, warns := ValidateCreate(vc)
	errs, warns = v.podSecurity(ctx, nil, vc, errs, warns)
	if len(errs) > 0 {
		return nil, invalid(vc, errs) // no advice on an object that is not admitted
	}
	// The operator's cache holds every VirtualCluster. Two created at the
	// same instant may both pass; the second's children then report
	// NameConflict.
	var all tenancyv1alpha1.VirtualClusterList
	if err := v.Reader.List(ctx, &all); err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("VirtualCluster %s/%s is refused: listing the VirtualClusters "+
			"whose host objects it must not share names with failed; try again: %w", vc.Namespace, vc.Name, err))
	}
	if errs := collisions(vc, all.Items); len(errs) > 0 {
		return nil, invalid(vc, errs)
	}
	if err := v.authorize(ctx, nil, vc); err != nil {
		return nil, err
	}
	if shared := sharing(vc, all.Items); len(shared) > 0 {
		warns = append(warns, fmt.Sprintf("namespace %s already holds VirtualCluster %s: the syncers of VirtualClusters that share a namespace "+
			"can read each other's Secrets, certificates included; give each tenant a namespace of its own", vc.Namespace, strings.Join(shared, ", ")))
	}
	return warns, nil
}

// ValidateUpdate admits a change. A change that leaves the spec as it was
// (labels, annotations, finalizers) is always admitted.
func (v *Validator) ValidateUpdate(ctx context.Context, old, vc *tenancyv1alpha1.VirtualCluster) (admission.Warnings, error) {
	if equality.Semantic.DeepEqual(old.Spec, vc.Spec) {
		return nil, nil
	}
	errs, warns := ValidateUpdate(old, vc)
	errs, warns = v.podSecurity(ctx, old, vc, errs, warns)
	if len(errs) > 0 {
		return nil, invalid(vc, errs)
	}
	if err := v.authorize(ctx, old, vc); err != nil {
		return nil, err
	}
	return warns, nil
}

// ValidateDelete admits every deletion; the webhook is not registered for it.
func (v *Validator) ValidateDelete(context.Context, *tenancyv1alpha1.VirtualCluster) (admission.Warnings, error) {
	return nil, nil
}

// sharing lists the other VirtualClusters of vc's namespace among all.
func sharing(vc *tenancyv1alpha1.VirtualCluster, all []tenancyv1alpha1.VirtualCluster) []string {
	var names []string
	for _, other := range all {
		if other.Namespace == vc.Namespace && other.Name != vc.Name {
			names = append(names, other.Name)
		}
	}
	return names
}

func invalid(vc *tenancyv1alpha1.VirtualCluster, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(tenancyv1alpha1.GroupVersion.WithKind("VirtualCluster").GroupKind(), vc.Name, errs)
}
