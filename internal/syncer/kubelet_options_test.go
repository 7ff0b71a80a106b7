package syncer

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/nestor-dev/nestor/internal/pki"
)

// TestLogOptions: the query the API server sends the kubelet for pods/log
// becomes the same options on the host's pods/log.
func TestLogOptions(t *testing.T) {
	since := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		query   string
		want    *corev1.PodLogOptions
		wantErr bool
	}{
		{query: "", want: &corev1.PodLogOptions{}},
		{query: "follow=true&previous=true&timestamps=true", want: &corev1.PodLogOptions{Follow: true, Previous: true, Timestamps: true}},
		{query: "tailLines=10&limitBytes=4096&sinceSeconds=60", want: &corev1.PodLogOptions{
			TailLines: ptr.To[int64](10), LimitBytes: ptr.To[int64](4096), SinceSeconds: ptr.To[int64](60)}},
		{query: "sinceTime=2026-12-02T08:00:00Z&stream=Stderr", want: &corev1.PodLogOptions{
			SinceTime: &metav1.Time{Time: since}, Stream: ptr.To("Stderr")}},
		{query: "follow=maybe", wantErr: true},
		{query: "tailLines=ten", wantErr: true},
		{query: "sinceTime=yesterday", wantErr: true},
	} {
		t.Run(tc.query, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := logOptions(q)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("logOptions(%q) = %+v, want an error", tc.query, got)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("logOptions(%q) = %+v, %v; want %+v", tc.query, got, err, tc.want)
			}
		})
	}
}

// TestAuthorized: only a verified chain for the API server's kubelet
// client certificate is let in.
func TestAuthorized(t *testing.T) {
	chain := func(cn string) [][]*x509.Certificate {
		return [][]*x509.Certificate{{{Subject: pkix.Name{CommonName: cn}}}}
	}
	for _, tc := range []struct {
		name string
		cs   *tls.ConnectionState
		want bool
	}{
		{"no TLS", nil, false},
		{"no verified chain", &tls.ConnectionState{PeerCertificates: chain(pki.KubeletClientName)[0]}, false},
		{"the administrator", &tls.ConnectionState{VerifiedChains: chain("nestor-admin")}, false},
		{"the API server", &tls.ConnectionState{VerifiedChains: chain(pki.KubeletClientName)}, true},
	} {
		if got := authorized(tc.cs); got != tc.want {
			t.Errorf("%s: authorized = %t, want %t", tc.name, got, tc.want)
		}
	}
}
