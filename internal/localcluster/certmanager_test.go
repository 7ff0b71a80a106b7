package localcluster

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// TestCertManagerIssuesSelfSigned runs the real cert-manager controller on a
// local API server and has it issue a Certificate from a selfSigned Issuer.
func TestCertManagerIssuesSelfSigned(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Before the cluster, so that a missing build fails at once.
	if _, err := CertManagerDir(); err != nil {
		t.Fatal(err)
	}
	lc, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Stop()
	if err := InstallCertManagerCRDs(ctx, lc.Config); err != nil {
		t.Fatal(err)
	}
	cm, err := StartCertManager(lc.Config, CertManagerOptions{ClusterResourceNamespace: "cert-manager", LogDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Log(cm.Log())
		}
		if err := cm.Stop(); err != nil {
			t.Error(err)
		}
	}()

	c, err := client.New(lc.Config, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	const ns = "certs"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	issuer := object(t, `
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: selfsigned, namespace: certs}
spec: {selfSigned: {}}
`)
	cert := object(t, `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: test-cert, namespace: certs}
spec:
  secretName: test-cert-tls
  commonName: example.com
  issuerRef: {name: selfsigned, kind: Issuer}
`)
	start := time.Now()
	for _, o := range []*unstructured.Unstructured{issuer, cert} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	secret := &corev1.Secret{}
	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(cert), cert); err != nil {
			return false, err
		}
		if !ready(cert) {
			return false, nil
		}
		return true, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "test-cert-tls"}, secret)
	})
	if err != nil {
		t.Fatalf("Certificate not Ready with its Secret: %v\nstatus: %v", err, cert.Object["status"])
	}
	t.Logf("cert-manager issued the Certificate in %s", time.Since(start).Round(time.Millisecond))
	if secret.Type != corev1.SecretTypeTLS || len(secret.Data[corev1.TLSCertKey]) == 0 || len(secret.Data[corev1.TLSPrivateKeyKey]) == 0 {
		t.Errorf("Secret test-cert-tls: type %s, keys %v; want a %s with tls.crt and tls.key", secret.Type, slices.Sorted(maps.Keys(secret.Data)), corev1.SecretTypeTLS)
	}
}

func object(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

// ready reports whether u has the condition Ready=True.
func ready(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" && m["status"] == "True" {
			return true
		}
	}
	return false
}
