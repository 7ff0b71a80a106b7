package webhook

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	psapi "k8s.io/pod-security-admission/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/podsecurity"
)

var podSecurityPath = polPath.Child("podSecurity", "level")

// podSecurity adds to errs and warns what spec.policies.podSecurity.level
// calls for with the labels of vc's namespace (docs/pod-security.md):
// privileged is the platform's to allow, by labelling the namespace, and a
// level the namespace's label makes stricter is warned about. old is nil on
// creation; an update is refused only for setting privileged anew, so that
// a VirtualCluster whose namespace lost the label can still be edited.
func (v *Validator) podSecurity(ctx context.Context, old, vc *tenancyv1alpha1.VirtualCluster,
	errs field.ErrorList, warns []string) (field.ErrorList, []string) {
	level := vc.Spec.Policies.PodSecurity.Level
	newlyPrivileged := level == tenancyv1alpha1.PodSecurityPrivileged &&
		(old == nil || old.Spec.Policies.PodSecurity.Level != tenancyv1alpha1.PodSecurityPrivileged)
	ns := &corev1.Namespace{} // none: no labels
	if err := v.Namespaces.Get(ctx, client.ObjectKey{Name: vc.Namespace}, ns); client.IgnoreNotFound(err) != nil {
		err = fmt.Errorf("reading the Pod Security labels of namespace %s: %w", vc.Namespace, err)
		if newlyPrivileged {
			// They decide whether privileged is allowed: fail closed.
			return append(errs, field.InternalError(podSecurityPath, err)), warns
		}
		// Otherwise they only make a warning: failing to look is no reason to refuse.
		logf.FromContext(ctx).Error(err, "looking for a stricter level than the VirtualCluster's")
		return errs, warns
	}
	effective := podsecurity.Effective(level, vc.Namespace, ns.Labels)
	requested := podsecurity.Requested(level)
	switch {
	case effective.Level == requested.Level:
	case newlyPrivileged:
		errs = append(errs, field.Forbidden(podSecurityPath, fmt.Sprintf(
			"privileged lets the tenant's pods run privileged containers, use the node's network, processes and files, "+
				"and add capabilities on the host's nodes. It is the platform's to allow, and namespace %s is not labelled %s=privileged: "+
				"choose baseline or restricted, or have the platform label the namespace (kubectl label namespace %s %s=privileged)",
			vc.Namespace, psapi.EnforceLevelLabel, vc.Namespace, psapi.EnforceLevelLabel)))
	default:
		warns = append(warns, fmt.Sprintf("%s is %s, but the tenant's pods are held to %s, set by %s: the stricter level applies",
			podSecurityPath, requested.Level, effective.Level, effective.From))
	}
	return errs, warns
}
