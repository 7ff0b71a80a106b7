package translate

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Event is the virtual cluster's copy of host event h about the copy of
// virtual object o: it names o, lives in o's namespace, and its message
// speaks of o where it spoke of the copy.
func (c Context) Event(h *corev1.Event, o Origin) *corev1.Event {
	hostKey := c.Names.HostKey(o.Namespace, o.Name)
	// Host event names are <object>.<unique suffix>; keep the suffix.
	suffix := h.Name
	if i := strings.LastIndex(h.Name, "."); i >= 0 {
		suffix = h.Name[i+1:]
	}
	message := strings.NewReplacer(
		hostKey.Namespace+"/"+hostKey.Name, o.Namespace+"/"+o.Name,
		hostKey.Name, o.Name,
	).Replace(h.Message)
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: o.Name + "." + suffix, Namespace: o.Namespace},
		InvolvedObject: corev1.ObjectReference{
			Kind: o.Kind.Kind, APIVersion: h.InvolvedObject.APIVersion,
			Namespace: o.Namespace, Name: o.Name, UID: o.UID,
			FieldPath: h.InvolvedObject.FieldPath,
		},
		Reason:              h.Reason,
		Message:             message,
		Source:              h.Source,
		FirstTimestamp:      h.FirstTimestamp,
		LastTimestamp:       h.LastTimestamp,
		Count:               h.Count,
		Type:                h.Type,
		EventTime:           h.EventTime,
		Series:              h.Series.DeepCopy(),
		Action:              h.Action,
		ReportingController: h.ReportingController,
		ReportingInstance:   h.ReportingInstance,
	}
}
