package controllers

import (
	"errors"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/apply"
)

func TestErrorReason(t *testing.T) {
	gr := schema.GroupResource{Resource: "statefulsets"}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"someone else's object", fmt.Errorf("applying: %w", &apply.NotOwnedError{Kind: "Secret", Key: types.NamespacedName{Name: "x"}}), ReasonNameConflict},
		{"invalid object", apierrors.NewInvalid(schema.GroupKind{Kind: "StatefulSet"}, "x", nil), ReasonApplyRefused},
		{"forbidden", fmt.Errorf("applying: %w", apierrors.NewForbidden(gr, "x", errors.New("no"))), ReasonApplyRefused},
		{"too large", apierrors.NewRequestEntityTooLargeError("limit is 3145728"), ReasonApplyRefused},
		{"configuration too large", &configTooLargeError{size: 1 << 20, kinds: []string{"widgets.example.com"}}, ReasonApplyRefused},
		{"over quota, for now", apierrors.NewForbidden(schema.GroupResource{Resource: "services"}, "x", errors.New("exceeded quota: q, requested: services=1")), ReasonApplyFailed},
		{"server timeout", apierrors.NewServerTimeout(gr, "patch", 1), ReasonApplyFailed},
		{"connection refused", errors.New("dial tcp 10.0.0.1:443: connect: connection refused"), ReasonApplyFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(errorReason(tc.err)).To(Equal(tc.want))
		})
	}
}

// kstatusOf is what Flux and Argo CD make of a VirtualCluster.
func kstatusOf(g Gomega, vc *tenancyv1alpha1.VirtualCluster) status.Status {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(vc)
	g.Expect(err).NotTo(HaveOccurred())
	res, err := status.Compute(&unstructured.Unstructured{Object: obj})
	g.Expect(err).NotTo(HaveOccurred())
	return res.Status
}

func TestProgress(t *testing.T) {
	cond := func(typ string, s metav1.ConditionStatus, reason string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: typ + " says " + reason}
	}
	const (
		yes = metav1.ConditionTrue
		no  = metav1.ConditionFalse
	)
	for _, tc := range []struct {
		name       string
		conditions []metav1.Condition
		// observed is status.observedGeneration; the object is at generation 2.
		observed int64
		want     status.Status
		// reason of Reconciling or Stalled, whichever is set
		reason string
	}{
		{name: "first status: nothing judged yet", want: status.InProgressStatus, reason: ReasonWaiting},
		{name: "rolling out", observed: 2, want: status.InProgressStatus, reason: ReasonWaiting, conditions: []metav1.Condition{
			cond(ConditionReady, no, ReasonWaiting), cond(ConditionControlPlaneReady, no, ReasonRollingOut)}},
		{name: "ready", observed: 2, want: status.CurrentStatus, conditions: []metav1.Condition{
			cond(ConditionReady, yes, ReasonReady), cond(ConditionReconciling, yes, ReasonWaiting), cond(ConditionStalled, yes, ReasonNameConflict)}},
		{name: "ready, but for an older generation", observed: 1, want: status.InProgressStatus, reason: ReasonWaiting, conditions: []metav1.Condition{
			cond(ConditionReady, yes, ReasonReady)}},
		{name: "a transient failure", observed: 1, want: status.InProgressStatus, reason: ReasonApplyFailed, conditions: []metav1.Condition{
			cond(ConditionReady, no, ReasonApplyFailed), cond(ConditionRBACReady, no, ReasonApplyFailed)}},
		{name: "an object in the way", observed: 2, want: status.FailedStatus, reason: ReasonNameConflict, conditions: []metav1.Condition{
			cond(ConditionReady, no, ReasonNameConflict), cond(ConditionCertificatesReady, no, ReasonNameConflict)}},
		{name: "mode change behind the webhook's back", observed: 2, want: status.FailedStatus, reason: ReasonModeChangeRejected, conditions: []metav1.Condition{
			cond(ConditionReady, no, ReasonModeChangeRejected)}},
		{name: "a part waits for a person", observed: 2, want: status.FailedStatus, reason: ReasonDefinitionMissing, conditions: []metav1.Condition{
			cond(ConditionReady, no, ReasonWaiting), cond(ConditionSyncerReady, yes, ReasonReady), cond(ConditionCustomResourcesReady, no, ReasonDefinitionMissing)}},
		{name: "last round's stuck part, behind a transient error", observed: 1, want: status.InProgressStatus, reason: ReasonApplyFailed, conditions: []metav1.Condition{
			cond(ConditionReady, no, ReasonApplyFailed), cond(ConditionCustomResourcesReady, no, ReasonDefinitionMissing)}},
		{name: "stuck no more", observed: 2, want: status.InProgressStatus, reason: ReasonWaiting, conditions: []metav1.Condition{
			cond(ConditionReady, no, ReasonWaiting), cond(ConditionStalled, yes, ReasonNameConflict), cond(ConditionControlPlaneReady, no, ReasonRollingOut)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			vc := &tenancyv1alpha1.VirtualCluster{
				TypeMeta:   metav1.TypeMeta{APIVersion: tenancyv1alpha1.GroupVersion.String(), Kind: "VirtualCluster"},
				ObjectMeta: metav1.ObjectMeta{Name: "sample", Namespace: "team", Generation: 2},
				Status:     tenancyv1alpha1.VirtualClusterStatus{ObservedGeneration: tc.observed, Conditions: tc.conditions},
			}
			progress(vc, &vc.Status)
			g.Expect(kstatusOf(g, vc)).To(Equal(tc.want))
			reconciling := meta.FindStatusCondition(vc.Status.Conditions, ConditionReconciling)
			stalled := meta.FindStatusCondition(vc.Status.Conditions, ConditionStalled)
			switch tc.want {
			case status.CurrentStatus:
				g.Expect(reconciling).To(BeNil())
				g.Expect(stalled).To(BeNil())
			case status.FailedStatus:
				g.Expect(reconciling).To(BeNil())
				g.Expect(stalled).To(HaveField("Reason", tc.reason))
				g.Expect(vc.Status.Phase).To(Equal(tenancyv1alpha1.PhaseFailed))
			default:
				g.Expect(stalled).To(BeNil())
				g.Expect(reconciling).To(HaveField("Reason", tc.reason))
			}
		})
	}
}

func TestDeletionMessage(t *testing.T) {
	vc := func(p tenancyv1alpha1.PersistenceSpec, replicas int32) *tenancyv1alpha1.VirtualCluster {
		v := &tenancyv1alpha1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Name: "sample", Namespace: "team"}}
		v.Spec.ControlPlane.Persistence = p
		v.Spec.ControlPlane.Replicas = replicas
		return v
	}
	for _, tc := range []struct {
		name    string
		vc      *tenancyv1alpha1.VirtualCluster
		want    []string
		notWant []string
	}{
		{"ephemeral", vc(tenancyv1alpha1.PersistenceSpec{Enabled: ptr.To(false)}, 1),
			[]string{"persistence is off"}, []string{"stay"}},
		{"deleted claims", vc(tenancyv1alpha1.PersistenceSpec{RetentionPolicy: tenancyv1alpha1.RetentionDelete}, 1),
			[]string{"go with StatefulSet sample", "retentionPolicy: Delete", "reclaimPolicy"}, []string{"stay"}},
		{"retained claims", vc(tenancyv1alpha1.PersistenceSpec{RetentionPolicy: tenancyv1alpha1.RetentionRetain}, 3),
			[]string{"data-sample-0, data-sample-1, data-sample-2 stay", "retentionPolicy: Retain",
				"kubectl delete pvc -n team -l nestor.dev/virtualcluster=sample,nestor.dev/virtualcluster-namespace=team"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			msg := deletionMessage(tc.vc)
			for _, w := range tc.want {
				g.Expect(msg).To(ContainSubstring(w))
			}
			for _, w := range tc.notWant {
				g.Expect(msg).NotTo(ContainSubstring(w))
			}
		})
	}
}
