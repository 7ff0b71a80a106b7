package translate

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// hostConditions are the pod conditions the host sets: its scheduler, its
// kubelet and its disruption controllers. They come up from the host pod
// whatever the virtual pod says, and a readiness gate cannot name one.
var hostConditions = []corev1.PodConditionType{
	corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady,
	corev1.PodReadyToStartContainers, corev1.DisruptionTarget,
	corev1.PodResizePending, corev1.PodResizeInProgress,
}

// gates are the condition types v's readiness gates name, the host's own
// left out.
func gates(v *corev1.Pod) []corev1.PodConditionType {
	var out []corev1.PodConditionType
	for _, g := range v.Spec.ReadinessGates {
		if !slices.Contains(hostConditions, g.ConditionType) && !slices.Contains(out, g.ConditionType) {
			out = append(out, g.ConditionType)
		}
	}
	return out
}

// PodStatus is the status virtual pod v shows for its host pod h. The host
// has the word on everything but the conditions it does not set: those the
// tenant's controllers write on v (its readiness gates' among them) stay
// v's. When the host pod does not carry the readiness gates (CarryReadinessGates
// is off), its Ready says only that the containers are; Ready is then False
// here until every gate's condition is True too, as a kubelet would report
// it.
func (c Context) PodStatus(v, h *corev1.Pod) corev1.PodStatus {
	s := *h.Status.DeepCopy()
	// The hosts file's init container is the host pod's, not the tenant's.
	s.InitContainerStatuses = slices.DeleteFunc(s.InitContainerStatuses, func(cs corev1.ContainerStatus) bool { return cs.Name == HostsContainer })
	own := gates(v)
	s.Conditions = slices.DeleteFunc(s.Conditions, func(cond corev1.PodCondition) bool { return slices.Contains(own, cond.Type) })
	// The host's kubelet counts the host pod's generations: what it has
	// acted on is shown as the generation of v that h was written from, and
	// a generation of h that no longer stands for one of v's is not shown.
	generation, known := virtualGeneration(h)
	s.ObservedGeneration = v.Status.ObservedGeneration
	if known && h.Status.ObservedGeneration == h.Generation {
		s.ObservedGeneration = generation
	}
	for i := range s.Conditions {
		if cond := &s.Conditions[i]; cond.ObservedGeneration != 0 {
			if known && cond.ObservedGeneration == h.Generation {
				cond.ObservedGeneration = generation
			} else {
				cond.ObservedGeneration = 0
			}
		}
	}
	for _, cond := range v.Status.Conditions {
		if !slices.Contains(hostConditions, cond.Type) && (slices.Contains(own, cond.Type) || condition(h.Status.Conditions, cond.Type) == nil) {
			s.Conditions = append(s.Conditions, cond)
		}
	}
	if c.CarryReadinessGates {
		return s
	}
	ready := condition(s.Conditions, corev1.PodReady)
	if ready == nil || ready.Status != corev1.ConditionTrue {
		return s
	}
	var missing []string
	for _, g := range own {
		if cond := condition(v.Status.Conditions, g); cond == nil || cond.Status != corev1.ConditionTrue {
			missing = append(missing, string(g))
		}
	}
	if len(missing) > 0 {
		ready.Status, ready.Reason = corev1.ConditionFalse, "ReadinessGatesNotReady"
		ready.Message = fmt.Sprintf("the status of pod readiness gate %s is not True", strings.Join(missing, ", "))
	}
	return s
}

// virtualGeneration is the generation of the virtual pod that host pod h
// was last written from, if h records it.
func virtualGeneration(h *corev1.Pod) (int64, bool) {
	g, err := strconv.ParseInt(h.Annotations[AnnotationVirtualGeneration], 10, 64)
	return g, err == nil && g > 0
}

// GateConditions are the conditions of v's readiness gates that its host
// pod h lacks or holds otherwise, as v has them: the host's kubelet reports
// h Ready only once each is True there. None when h is up to date, or when
// the host pod does not carry the readiness gates.
func (c Context) GateConditions(v, h *corev1.Pod) []corev1.PodCondition {
	if !c.CarryReadinessGates {
		return nil
	}
	var out []corev1.PodCondition
	for _, g := range gates(v) {
		want := condition(v.Status.Conditions, g)
		if want == nil {
			continue
		}
		if have := condition(h.Status.Conditions, g); have == nil || !equality.Semantic.DeepEqual(*have, *want) {
			out = append(out, *want)
		}
	}
	return out
}

func condition(conds []corev1.PodCondition, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}
