package syncer

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/translate"
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

// An event is about a copy only if its object's group and kind are the
// copy's: a kind of another group may share a core kind's name.
func TestEventAboutMatchesGroupAndKind(t *testing.T) {
	tr := translate.Context{Names: naming.NewTranslator("team-a", "vc", false), VirtualCluster: "vc", HostNamespace: "team-a"}
	h := tr.Pod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "web", UID: "u"}})
	r := &eventReconciler{&env{
		tr:      tr,
		host:    fake.NewClientBuilder().WithObjects(h).Build(),
		watched: map[schema.GroupKind]func() client.Object{kindPod: func() client.Object { return &corev1.Pod{} }},
	}}
	for _, tc := range []struct {
		apiVersion string
		about      bool
	}{
		{"v1", true},
		{"example.com/v1", false},
	} {
		t.Run(tc.apiVersion, func(t *testing.T) {
			e := &corev1.Event{InvolvedObject: corev1.ObjectReference{APIVersion: tc.apiVersion, Kind: "Pod", Namespace: h.Namespace, Name: h.Name}}
			o, ok, err := r.about(context.Background(), e)
			if err != nil || ok != tc.about {
				t.Fatalf("about = %+v, %t, %v; want about it: %t", o, ok, err, tc.about)
			}
		})
	}
}
