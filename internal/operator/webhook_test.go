package operator_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/nestor-dev/nestor/internal/localcluster"
	"github.com/nestor-dev/nestor/internal/operator"
)

// TestWebhookCertificatesAreSelfManaged deploys the webhook's objects from
// config/default and runs the operator as config/default runs it: as its
// ServiceAccount with the generated role, managing its own certificate. The
// operator fills the Secret, injects the CA into the webhook configuration,
// and, once the Secret is mounted (this test plays the kubelet), serves
// the webhook with a certificate that CA vouches for.
func TestWebhookCertificatesAreSelfManaged(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	root := filepath.Join("..", "..")
	lc, err := localcluster.Start(localcluster.Options{CRDDirectoryPaths: []string{filepath.Join(root, "config", "crd", "bases")}})
	g.Expect(err).NotTo(HaveOccurred())
	defer lc.Stop()
	scheme, err := operator.Scheme()
	g.Expect(err).NotTo(HaveOccurred())
	admin, err := client.New(lc.Config, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())

	// The webhook's Secret, Service and configuration, as config/default has them.
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(root, "config", "default"))
	g.Expect(err).NotTo(HaveOccurred())
	cfg, err := lc.ImpersonateWithRole(filepath.Join(root, "config", "rbac", "role.yaml"), "nestor-system", "nestor-controller-manager")
	g.Expect(err).NotTo(HaveOccurred())
	for _, r := range resources.Resources() {
		kind, name := r.GetKind(), r.GetName()
		if !(kind == "Secret" && name == operator.WebhookSecret || kind == "Service" && name == operator.WebhookService ||
			kind == "ValidatingWebhookConfiguration" && name == operator.WebhookConfiguration) {
			continue
		}
		m, err := r.Map()
		g.Expect(err).NotTo(HaveOccurred())
		obj, err := scheme.New(schemaKind(kind))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(m, obj)).To(Succeed())
		g.Expect(admin.Create(ctx, obj.(client.Object))).To(Succeed(), "%s %s", kind, name)
	}

	certDir := t.TempDir()
	port := freePort(t)
	mgr, err := operator.NewManager(cfg, operator.Options{
		Manager: manager.Options{
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			WebhookServer:          ctrlwebhook.NewServer(ctrlwebhook.Options{Host: "127.0.0.1", Port: port, CertDir: certDir}),
		},
		SyncerImage: "example.com/nestor:test",
	})
	g.Expect(err).NotTo(HaveOccurred())
	ready, err := operator.AddWebhook(mgr, &operator.CertRotation{
		Namespace: "nestor-system", Secret: operator.WebhookSecret, Service: operator.WebhookService,
		Configuration: operator.WebhookConfiguration, CertDir: certDir,
	})
	g.Expect(err).NotTo(HaveOccurred())
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	defer func() { cancel(); <-done }()
	g.Expect(ready(nil)).NotTo(Succeed(), "not ready before the certificate is in place")

	// The operator issues the certificate into its Secret.
	secret := &corev1.Secret{}
	g.Eventually(func(g Gomega) {
		g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: "nestor-system", Name: operator.WebhookSecret}, secret)).To(Succeed())
		g.Expect(secret.Data).To(HaveKey("ca.crt"))
		g.Expect(secret.Data).To(HaveKey("tls.crt"))
		g.Expect(secret.Data).To(HaveKey("tls.key"))
	}).WithTimeout(30 * time.Second).Should(Succeed())

	// The kubelet's part: the Secret appears in the mounted directory.
	for _, k := range []string{"ca.crt", "tls.crt", "tls.key"} {
		g.Expect(os.WriteFile(filepath.Join(certDir, k), secret.Data[k], 0o600)).To(Succeed())
	}

	// The webhook configuration trusts the CA, and the webhook serves.
	g.Eventually(func(g Gomega) {
		vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		g.Expect(admin.Get(ctx, client.ObjectKey{Name: operator.WebhookConfiguration}, vwc)).To(Succeed())
		g.Expect(vwc.Webhooks).NotTo(BeEmpty())
		for _, w := range vwc.Webhooks {
			g.Expect(w.ClientConfig.CABundle).To(Equal(secret.Data["ca.crt"]), "webhook %s", w.Name)
		}
	}).WithTimeout(30 * time.Second).Should(Succeed())
	g.Eventually(func() error { return ready(nil) }).WithTimeout(60*time.Second).Should(Succeed(), "ready once the webhook serves")

	// Call the webhook as the API server would: through the path the
	// configuration names, trusting the injected CA for the Service's name.
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	g.Expect(admin.Get(ctx, client.ObjectKey{Name: operator.WebhookConfiguration}, vwc)).To(Succeed())
	i := slices.IndexFunc(vwc.Webhooks, func(w admissionregistrationv1.ValidatingWebhook) bool {
		return w.Name == "vvirtualcluster.tenancy.nestor.dev"
	})
	g.Expect(i).NotTo(BeNumerically("<", 0), "the VirtualCluster webhook is configured")
	vcWebhook := vwc.Webhooks[i]
	roots := x509.NewCertPool()
	g.Expect(roots.AppendCertsFromPEM(vcWebhook.ClientConfig.CABundle)).To(BeTrue())
	https := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: roots, ServerName: operator.WebhookService + ".nestor-system.svc", MinVersion: tls.VersionTLS12,
	}}}
	review := func(vc string, user authenticationv1.UserInfo) *admissionv1.AdmissionResponse {
		body, err := json.Marshal(admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{
				UID:       types.UID("review-" + vc[:8]),
				Kind:      metav1.GroupVersionKind{Group: "tenancy.nestor.dev", Version: "v1alpha1", Kind: "VirtualCluster"},
				Resource:  metav1.GroupVersionResource{Group: "tenancy.nestor.dev", Version: "v1alpha1", Resource: "virtualclusters"},
				Namespace: "team-a", Operation: admissionv1.Create, UserInfo: user,
				Object: runtime.RawExtension{Raw: []byte(vc)},
			},
		})
		g.Expect(err).NotTo(HaveOccurred())
		url := fmt.Sprintf("https://127.0.0.1:%d%s", port, *vcWebhook.ClientConfig.Service.Path)
		resp, err := https.Post(url, "application/json", bytes.NewReader(body))
		g.Expect(err).NotTo(HaveOccurred(), "the webhook's certificate must verify against the injected CA for its Service name")
		defer resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
		var out admissionv1.AdmissionReview
		g.Expect(json.NewDecoder(resp.Body).Decode(&out)).To(Succeed())
		g.Expect(out.Response).NotTo(BeNil())
		return out.Response
	}
	const vc = `{"apiVersion":"tenancy.nestor.dev/v1alpha1","kind":"VirtualCluster","metadata":{"name":"vc","namespace":"team-a"},
		"spec":{"controlPlane":{"version":"v1.37.2","replicas":1,"persistence":{"size":"5Gi"}},"networking":{"serviceCIDR":"10.96.0.0/12","clusterDomain":"cluster.local"}%s}}`
	// The webhook asks the API server what the requester holds, with the
	// operator's own permissions.
	master := authenticationv1.UserInfo{Username: "admin", Groups: []string{"system:masters"}}
	g.Expect(review(fmt.Sprintf(vc, ""), master).Allowed).To(BeTrue())
	denied := review(fmt.Sprintf(vc, `,"sync":{"fromHost":{"nodes":{"enabled":true}}}`), master)
	g.Expect(denied.Allowed).To(BeFalse())
	g.Expect(denied.Result.Message).To(ContainSubstring("spec.sync.fromHost.nodes.enabled"))
	// A request the API server cannot check (it names no user) is refused.
	unchecked := review(fmt.Sprintf(vc, ""), authenticationv1.UserInfo{})
	g.Expect(unchecked.Allowed).To(BeFalse())
	g.Expect(unchecked.Result.Message).To(ContainSubstring("could not check that its requester holds the permissions its syncer would get"))
}

func schemaKind(kind string) schema.GroupVersionKind {
	switch kind {
	case "Secret", "Service":
		return corev1.SchemeGroupVersion.WithKind(kind)
	}
	return admissionregistrationv1.SchemeGroupVersion.WithKind(kind)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
