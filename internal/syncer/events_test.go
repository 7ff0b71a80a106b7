package syncer

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRecent(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }
	microAgo := func(d time.Duration) metav1.MicroTime { return metav1.NewMicroTime(now.Add(-d)) }
	old := metav1.ObjectMeta{CreationTimestamp: ago(time.Hour)}
	for _, tc := range []struct {
		name string
		h    corev1.Event
		want bool
	}{
		{"just created", corev1.Event{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: ago(time.Second)}}, true},
		{"created long ago", corev1.Event{ObjectMeta: old}, false},
		{"created a minute ago", corev1.Event{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: ago(time.Minute)}}, false},
		{"repeated just now", corev1.Event{ObjectMeta: old, LastTimestamp: ago(time.Second)}, true},
		{"repeated long ago", corev1.Event{ObjectMeta: old, LastTimestamp: ago(time.Hour)}, false},
		{"events.k8s.io, just now", corev1.Event{ObjectMeta: old, EventTime: microAgo(time.Second)}, true},
		{"events.k8s.io series, just now", corev1.Event{ObjectMeta: old, EventTime: microAgo(time.Hour),
			Series: &corev1.EventSeries{Count: 2, LastObservedTime: microAgo(time.Second)}}, true},
		{"events.k8s.io series, long ago", corev1.Event{ObjectMeta: old, EventTime: microAgo(2 * time.Hour),
			Series: &corev1.EventSeries{Count: 2, LastObservedTime: microAgo(time.Hour)}}, false},
		{"reporter's clock ahead", corev1.Event{ObjectMeta: old, LastTimestamp: ago(-time.Minute)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := recent(&tc.h, now); got != tc.want {
				t.Errorf("recent = %v, want %v", got, tc.want)
			}
		})
	}
}
