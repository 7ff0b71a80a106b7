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
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

// +kubebuilder:webhook:path=/validate-tenancy-nestor-dev-v1alpha1-virtualcluster,mutating=false,failurePolicy=fail,sideEffects=None,groups=tenancy.nestor.dev,resources=virtualclusters,verbs=create;update,versions=v1alpha1,name=vvirtualcluster.tenancy.nestor.dev,admissionReviewVersions=v1,timeoutSeconds=10,patch=`{"matchConditions":[{"name":"create-or-spec-change","expression":"request.operation != 'UPDATE' || !has(object.spec) || !has(oldObject.spec) || object.spec != oldObject.spec"}]}`

// Validator admits VirtualClusters. It is registered for create and update
// of the main resource only: status updates and deletions never reach it.
type Validator struct {
	// Reader finds the other VirtualClusters of a namespace, for a warning.
	Reader client.Reader
}

var _ admission.Validator[*tenancyv1alpha1.VirtualCluster] = &Validator{}

// Setup registers the webhooks with the manager's webhook server: the
// VirtualClusters', and the syncers' writes of namespaces and RoleBindings.
func Setup(mgr ctrl.Manager) error {
	mgr.GetWebhookServer().Register(SyncerWritesPath, &ctrlwebhook.Admission{Handler: &SyncerWrites{
		Reader: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Decoder: admission.NewDecoder(mgr.GetScheme()),
	}})
	return ctrl.NewWebhookManagedBy(mgr, &tenancyv1alpha1.VirtualCluster{}).
		WithValidator(&Validator{Reader: mgr.GetClient()}).
		Complete()
}

// ValidateCreate admits a new VirtualCluster.
func (v *Validator) ValidateCreate(ctx context.Context, vc *tenancyv1alpha1.VirtualCluster) (admission.Warnings, error) {
	errs, warns := ValidateCreate(vc)
	if len(errs) > 0 {
		return nil, invalid(vc, errs) // no advice on an object that is not admitted
	}
	// The warning is advice: failing to look is no reason to refuse.
	shared, err := v.sharing(ctx, vc)
	if err != nil {
		logf.FromContext(ctx).Error(err, "looking for VirtualClusters that share the namespace")
	}
	if len(shared) > 0 {
		warns = append(warns, fmt.Sprintf("namespace %s already holds VirtualCluster %s: the syncers of VirtualClusters that share a namespace "+
			"can read each other's Secrets, certificates included; give each tenant a namespace of its own", vc.Namespace, strings.Join(shared, ", ")))
	}
	return warns, nil
}

// ValidateUpdate admits a change. A change that leaves the spec as it was
// (labels, annotations, finalizers) is always admitted.
func (v *Validator) ValidateUpdate(_ context.Context, old, vc *tenancyv1alpha1.VirtualCluster) (admission.Warnings, error) {
	if equality.Semantic.DeepEqual(old.Spec, vc.Spec) {
		return nil, nil
	}
	errs, warns := ValidateUpdate(old, vc)
	if len(errs) > 0 {
		return nil, invalid(vc, errs)
	}
	return warns, nil
}

// ValidateDelete admits every deletion; the webhook is not registered for it.
func (v *Validator) ValidateDelete(context.Context, *tenancyv1alpha1.VirtualCluster) (admission.Warnings, error) {
	return nil, nil
}

// sharing lists the other VirtualClusters of vc's namespace.
func (v *Validator) sharing(ctx context.Context, vc *tenancyv1alpha1.VirtualCluster) ([]string, error) {
	var list tenancyv1alpha1.VirtualClusterList
	if err := v.Reader.List(ctx, &list, client.InNamespace(vc.Namespace)); err != nil {
		return nil, fmt.Errorf("listing the VirtualClusters of namespace %s: %w", vc.Namespace, err)
	}
	var names []string
	for _, other := range list.Items {
		if other.Name != vc.Name {
			names = append(names, other.Name)
		}
	}
	return names, nil
}

func invalid(vc *tenancyv1alpha1.VirtualCluster, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(tenancyv1alpha1.GroupVersion.WithKind("VirtualCluster").GroupKind(), vc.Name, errs)
}
