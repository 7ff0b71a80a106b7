package controllers

import (
	"errors"
	"strings"

	corev1 "k8s.io/api/core/v1"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/apply"
)

// kstatus's condition types (README, "Status"): Reconciling while the
// operator works towards the spec, Stalled when it cannot get there without
// a person. Each is present only while True, as kstatus expects.
const (
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
)

// stalledReasons are the condition reasons no retry can mend: the spec, or
// the platform, must change first.
var stalledReasons = map[string]bool{
	ReasonModeChangeRejected: true,
	ReasonNameConflict:       true,
	ReasonApplyRefused:       true,
	ReasonNeedsMultiNS:       true,
	ReasonDefinitionMissing:  true,
	ReasonScopeMismatch:      true,
}

// errorReason is the reason a step's error is reported under.
func errorReason(err error) string {
	var tooLarge *configTooLargeError
	switch {
	case apply.IsNotOwned(err):
		return ReasonNameConflict
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause),
		apierrors.IsForbidden(err) && strings.Contains(err.Error(), "exceeded quota"):
		// Forbidden for now: the namespace goes, or the quota frees up.
		return ReasonApplyFailed
	case apierrors.IsInvalid(err), apierrors.IsForbidden(err), apierrors.IsBadRequest(err),
		apierrors.IsRequestEntityTooLargeError(err), errors.As(err, &tooLarge):
		// The answer to the object itself: trying again sends the same.
		return ReasonApplyRefused
	}
	return ReasonApplyFailed
}

// progress sets Reconciling and Stalled from the other conditions, so that
// kstatus reads InProgress while the operator works, Failed when it is stuck,
// and Current once Ready.
func progress(vc *tenancyv1alpha1.VirtualCluster, status *tenancyv1alpha1.VirtualClusterStatus) {
	ready := meta.FindStatusCondition(status.Conditions, ConditionReady)
	done := ready != nil && ready.Status == metav1.ConditionTrue && status.ObservedGeneration == vc.Generation
	var stuck *metav1.Condition
	switch {
	case ready == nil || ready.Status == metav1.ConditionTrue:
	case stalledReasons[ready.Reason]:
		stuck = ready
	case ready.Reason == ReasonWaiting:
		// Every step ran: a part that waits for a person stalls the whole.
		// (After a step's error the later parts are last round's.)
		for i, c := range status.Conditions {
			if c.Status == metav1.ConditionFalse && stalledReasons[c.Reason] && c.Type != ConditionStalled {
				stuck = &status.Conditions[i]
				break
			}
		}
	}
	switch {
	case done:
		meta.RemoveStatusCondition(&status.Conditions, ConditionReconciling)
		meta.RemoveStatusCondition(&status.Conditions, ConditionStalled)
	case stuck != nil:
		reason, msg := stuck.Reason, stuck.Message
		meta.RemoveStatusCondition(&status.Conditions, ConditionReconciling)
		setCondition(status, vc, ConditionStalled, metav1.ConditionTrue, reason, msg)
		status.Phase = tenancyv1alpha1.PhaseFailed
	default:
		reason, msg := ReasonWaiting, "The operator is creating the virtual cluster's host objects."
		if ready != nil && ready.Status == metav1.ConditionFalse {
			reason, msg = ready.Reason, ready.Message
		}
		meta.RemoveStatusCondition(&status.Conditions, ConditionStalled)
		setCondition(status, vc, ConditionReconciling, metav1.ConditionTrue, reason, msg)
	}
}
