package translate

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func cond(t corev1.PodConditionType, s corev1.ConditionStatus) corev1.PodCondition {
	return corev1.PodCondition{Type: t, Status: s}
}

func TestPodStatusAndGateConditions(t *testing.T) {
	const lb, own corev1.PodConditionType = "example.com/lb", "example.com/own"
	yes, no := corev1.ConditionTrue, corev1.ConditionFalse
	gated := []corev1.PodReadinessGate{{ConditionType: lb}, {ConditionType: corev1.PodReady}}
	for _, tc := range []struct {
		name       string
		carry      bool
		gates      []corev1.PodReadinessGate
		virtual    []corev1.PodCondition
		host       []corev1.PodCondition
		wantStatus []corev1.PodCondition
		wantDown   []corev1.PodCondition
	}{{
		name:       "no gates: the host's conditions, a tenant's own kept",
		carry:      true,
		virtual:    []corev1.PodCondition{cond(corev1.PodReady, no), cond(own, yes)},
		host:       []corev1.PodCondition{cond(corev1.PodScheduled, yes), cond(corev1.PodReady, yes)},
		wantStatus: []corev1.PodCondition{cond(corev1.PodScheduled, yes), cond(corev1.PodReady, yes), cond(own, yes)},
	}, {
		name:       "the gate's condition goes down, and stays the tenant's",
		carry:      true,
		gates:      gated,
		virtual:    []corev1.PodCondition{cond(lb, yes)},
		host:       []corev1.PodCondition{cond(corev1.PodReady, no), cond(lb, no)},
		wantStatus: []corev1.PodCondition{cond(corev1.PodReady, no), cond(lb, yes)},
		wantDown:   []corev1.PodCondition{cond(lb, yes)},
	}, {
		name:       "up to date: nothing goes down",
		carry:      true,
		gates:      gated,
		virtual:    []corev1.PodCondition{cond(lb, yes)},
		host:       []corev1.PodCondition{cond(corev1.PodReady, yes), cond(lb, yes)},
		wantStatus: []corev1.PodCondition{cond(corev1.PodReady, yes), cond(lb, yes)},
	}, {
		name:       "not set yet: nothing goes down",
		carry:      true,
		gates:      gated,
		host:       []corev1.PodCondition{cond(corev1.PodReady, no)},
		wantStatus: []corev1.PodCondition{cond(corev1.PodReady, no)},
	}, {
		name:       "not carried: Ready only once the gate is True",
		gates:      gated,
		virtual:    []corev1.PodCondition{cond(lb, no)},
		host:       []corev1.PodCondition{cond(corev1.PodReady, yes)},
		wantStatus: []corev1.PodCondition{{Type: corev1.PodReady, Status: no, Reason: "ReadinessGatesNotReady", Message: "the status of pod readiness gate example.com/lb is not True"}, cond(lb, no)},
	}, {
		name:       "not carried, gate True: the host's Ready",
		gates:      gated,
		virtual:    []corev1.PodCondition{cond(lb, yes)},
		host:       []corev1.PodCondition{cond(corev1.PodReady, yes)},
		wantStatus: []corev1.PodCondition{cond(corev1.PodReady, yes), cond(lb, yes)},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			c := Context{CarryReadinessGates: tc.carry}
			v := &corev1.Pod{Spec: corev1.PodSpec{ReadinessGates: tc.gates}, Status: corev1.PodStatus{Conditions: tc.virtual}}
			h := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: tc.host}}
			got := c.PodStatus(v, h)
			if got.Phase != corev1.PodRunning || !equality.Semantic.DeepEqual(got.Conditions, tc.wantStatus) {
				t.Errorf("PodStatus = %s %+v, want Running %+v", got.Phase, got.Conditions, tc.wantStatus)
			}
			if down := c.GateConditions(v, h); !equality.Semantic.DeepEqual(down, tc.wantDown) {
				t.Errorf("GateConditions = %+v, want %+v", down, tc.wantDown)
			}
			if len(h.Status.Conditions) != len(tc.host) {
				t.Error("the host pod was changed")
			}
		})
	}
}

func TestPodKeepsReadinessGatesOnlyWhenCarried(t *testing.T) {
	v := pod()
	v.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}}
	for _, carry := range []bool{true, false} {
		c := contexts()["single"]
		c.CarryReadinessGates = carry
		if got := len(c.Pod(v).Spec.ReadinessGates); got != map[bool]int{true: 1, false: 0}[carry] {
			t.Errorf("carry %t: %d readiness gates on the host pod", carry, got)
		}
	}
}

// The virtual pod shows as observed the generation of its own that the host
// pod was written from, once the host's kubelet has acted on that host
// generation; a host generation that stands for none of its own is not
// shown.
func TestPodStatusObservedGeneration(t *testing.T) {
	for _, tc := range []struct {
		name             string
		recorded         string // the host pod's record of the virtual generation
		hostGen, hostObs int64
		hostCondObs      int64
		virtualObs, want int64
		wantCond         int64
	}{
		{name: "acted on", recorded: "3", hostGen: 5, hostObs: 5, hostCondObs: 5, virtualObs: 2, want: 3, wantCond: 3},
		{name: "not yet acted on", recorded: "3", hostGen: 5, hostObs: 4, hostCondObs: 4, virtualObs: 2, want: 2, wantCond: 0},
		{name: "no record (an older syncer's copy)", hostGen: 5, hostObs: 5, hostCondObs: 5, virtualObs: 2, want: 2, wantCond: 0},
		{name: "a condition without a generation keeps none", recorded: "3", hostGen: 5, hostObs: 5, virtualObs: 1, want: 3, wantCond: 0},
	} {
		v := &corev1.Pod{Status: corev1.PodStatus{ObservedGeneration: tc.virtualObs}}
		h := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Generation: tc.hostGen},
			Status: corev1.PodStatus{ObservedGeneration: tc.hostObs, Conditions: []corev1.PodCondition{
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, ObservedGeneration: tc.hostCondObs},
			}},
		}
		if tc.recorded != "" {
			h.Annotations = map[string]string{AnnotationVirtualGeneration: tc.recorded}
		}
		got := (Context{CarryReadinessGates: true}).PodStatus(v, h)
		if got.ObservedGeneration != tc.want || got.Conditions[0].ObservedGeneration != tc.wantCond {
			t.Errorf("%s: observed generation %d (condition %d), want %d (condition %d)",
				tc.name, got.ObservedGeneration, got.Conditions[0].ObservedGeneration, tc.want, tc.wantCond)
		}
	}
}
