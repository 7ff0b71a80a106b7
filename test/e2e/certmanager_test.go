//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

// certManagerDir holds cert-manager's controller and its rendered CRDs
// (crds/*.yaml), as hack/kube-binaries.sh builds them; run.sh passes it.
var certManagerDir = os.Getenv("NESTOR_E2E_CERT_MANAGER")

const certManagerNamespace = "cert-manager"

// The cert-manager kinds the multi-namespace sample syncs, and the names
// the scenario gives its objects.
var (
	certificateGVK   = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}
	issuerGVK        = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Issuer"}
	clusterIssuerGVK = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "ClusterIssuer"}
	// CertificateRequests are cert-manager's own, made beside a Certificate.
	certificateRequestGVK = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "CertificateRequest"}

	certManagerDefinitions = []string{"certificates.cert-manager.io", "clusterissuers.cert-manager.io", "issuers.cert-manager.io"}
)

const (
	certNamespace   = "default"
	issuerName      = "test-selfsigned"
	certName        = "test-cert"
	certSecretName  = "test-cert-tls"
	platformIssuer  = "e2e-platform-selfsigned"
	platformCRL     = "http://crl.platform.example/root.crl"
	tenantCRL       = "http://crl.tenant.example/root.crl"
	tenantResources = `apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: test-selfsigned, namespace: default}
spec:
  selfSigned: {}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: test-cert, namespace: default}
spec:
  secretName: test-cert-tls
  commonName: example.com
  subject:
    organizations: [example.com]
  issuerRef: {name: test-selfsigned, kind: Issuer}
`
	// The label shows in the virtual cluster: one under nestor.dev would
	// not (the syncer's keys are reserved).
	platformResources = `apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: ` + platformIssuer + `
  labels: {platform.example.com/shared: "true"}
spec:
  selfSigned:
    crlDistributionPoints: ["` + platformCRL + `"]
`
)

func newObject(gvk schema.GroupVersionKind) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u
}

func newList(gvk schema.GroupVersionKind) *unstructured.UnstructuredList {
	u := &unstructured.UnstructuredList{}
	u.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	return u
}

// installCertManager installs cert-manager on the host as a platform team
// would, before Nestor: its CRDs from the directory hack/kube-binaries.sh
// renders them into, then its controller (test/e2e/manifests/cert-manager.yaml),
// and waits until the CRDs are served and the controller runs.
func installCertManager(t *testing.T) {
	if certManagerDir == "" {
		t.Fatal("NESTOR_E2E_CERT_MANAGER is not set: run `make test-e2e`")
	}
	crds := filepath.Join(certManagerDir, "crds")
	mustKubectl(t, "apply", "--server-side", "-f", crds)
	mustKubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "-f", crds)
	manifest, err := os.ReadFile(filepath.Join(root, "test", "e2e", "manifests", "cert-manager.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := applyManifest(t, bytes.ReplaceAll(manifest, []byte("@TAG@"), []byte(imageTag))); err != nil {
		t.Fatal(err)
	}
	if _, err := kubectl("rollout", "status", "-n", certManagerNamespace, "deployment/cert-manager", "--timeout=2m"); err != nil {
		out, _ := kubectl("get", "pods,events", "-n", certManagerNamespace)
		logs, _ := kubectl("logs", "-n", certManagerNamespace, "deployment/cert-manager", "--tail=50")
		t.Fatal(err, out, logs)
	}
	t.Logf("cert-manager's controller runs in %s", time.Since(start).Round(time.Second))
}

// syncsCertManager reports whether vc is the flagship walkthrough's: multi-
// namespace mode, Certificates and Issuers to the host, ClusterIssuers from it.
func syncsCertManager(vc *tenancyv1alpha1.VirtualCluster) bool {
	return vc.Status.Mode == tenancyv1alpha1.MultiNamespaceMode &&
		vc.Spec.Sync.ToHost.CustomResources["certificates.cert-manager.io"].Enabled &&
		vc.Spec.Sync.ToHost.CustomResources["issuers.cert-manager.io"].Enabled &&
		vc.Spec.Sync.FromHost.CustomResources["clusterissuers.cert-manager.io"].Enabled
}

// certManagerWalkthrough is scenario 6, the walkthrough of the README's
// VirtualCluster as a tenant types it: the virtual cluster serves
// cert-manager's kinds; an Issuer and a Certificate applied there are
// issued by the host's cert-manager, and the Secret and the status come
// back; a host ClusterIssuer shows in the virtual cluster, read-only.
func certManagerWalkthrough(t *testing.T, tn *tenant) {
	t.Cleanup(func() { diagnose(t, tn.vc); diagnoseCertManager(t, tn) })
	t.Run("definitions", func(t *testing.T) { certManagerDefinitionsServed(t, tn) })
	if t.Failed() {
		return
	}
	t.Run("certificate issued", func(t *testing.T) { certificateIssued(t, tn) })
	t.Run("cluster issuer shown read-only", func(t *testing.T) { clusterIssuerShown(t, tn) })
}

// certManagerDefinitionsServed: the VirtualCluster says the host defines
// what it syncs, and `kubectl get customresourcedefinitions` in the
// virtual cluster lists exactly the three definitions.
func certManagerDefinitionsServed(t *testing.T, tn *tenant) {
	g := NewWithT(t)
	vc := &tenancyv1alpha1.VirtualCluster{}
	g.Expect(host.Get(context.Background(), client.ObjectKeyFromObject(tn.vc), vc)).To(Succeed())
	g.Expect(condition(vc, "CustomResourcesReady")).To(HaveField("Status", metav1.ConditionTrue))

	var table string
	g.Eventually(func(g Gomega) {
		out, err := kubectl("--kubeconfig", tn.kubeconfig, "get", "customresourcedefinitions", "-o", "name")
		g.Expect(err).NotTo(HaveOccurred())
		var names []string
		for _, l := range strings.Fields(out) {
			names = append(names, strings.TrimPrefix(l, "customresourcedefinition.apiextensions.k8s.io/"))
		}
		slices.Sort(names)
		g.Expect(names).To(Equal(certManagerDefinitions))
		table, err = kubectl("--kubeconfig", tn.kubeconfig, "get", "customresourcedefinitions")
		g.Expect(err).NotTo(HaveOccurred())
	}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
	t.Logf("kubectl get customresourcedefinitions, in the virtual cluster:\n%s", table)
}

// certificateIssued: the tenant's Issuer and Certificate go to the host
// namespace of virtual namespace default under their own names, the host's
// cert-manager issues the certificate there, and the virtual cluster shows
// the Secret and the Certificate's Ready status.
func certificateIssued(t *testing.T, tn *tenant) {
	g := NewWithT(t)
	ctx := context.Background()
	start := time.Now()
	if out, err := applyManifest(t, []byte(tenantResources), "--kubeconfig", tn.kubeconfig); err != nil {
		t.Fatal(out, err)
	}

	// The host namespace of virtual namespace default, by its labels.
	var hostNamespace string
	g.Eventually(func(g Gomega) {
		list := &corev1.NamespaceList{}
		g.Expect(host.List(ctx, list, client.MatchingLabels{
			tenancyv1alpha1.LabelVirtualNamespace:        certNamespace,
			tenancyv1alpha1.LabelVirtualCluster:          tn.vc.Name,
			tenancyv1alpha1.LabelVirtualClusterNamespace: tn.vc.Namespace,
		})).To(Succeed())
		g.Expect(list.Items).To(HaveLen(1))
		hostNamespace = list.Items[0].Name
	}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed(), "the host namespace of virtual namespace %s", certNamespace)
	g.Expect(hostNamespace).To(Equal(tn.names.HostNamespace(certNamespace)))

	// Both copies, under the tenant's names, marked as the syncer's.
	for _, c := range []struct {
		gvk  schema.GroupVersionKind
		name string
	}{{issuerGVK, issuerName}, {certificateGVK, certName}} {
		g.Eventually(func(g Gomega) {
			h := newObject(c.gvk)
			g.Expect(host.Get(ctx, client.ObjectKey{Namespace: hostNamespace, Name: c.name}, h)).To(Succeed())
			g.Expect(h.GetLabels()).To(HaveKeyWithValue(tenancyv1alpha1.LabelManagedBy, tenancyv1alpha1.SyncerManagedByValue))
			g.Expect(h.GetLabels()).To(HaveKeyWithValue(tenancyv1alpha1.LabelVirtualCluster, tn.vc.Name))
			// What the deletion scenario selects the leftovers by.
			g.Expect(h.GetLabels()).To(HaveKeyWithValue(tenancyv1alpha1.LabelVirtualClusterNamespace, tn.vc.Namespace))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed(), "host %s %s/%s", c.gvk.Kind, hostNamespace, c.name)
	}
	hostCert := newObject(certificateGVK)
	g.Expect(host.Get(ctx, client.ObjectKey{Namespace: hostNamespace, Name: certName}, hostCert)).To(Succeed())
	g.Expect(hostCert.Object["spec"]).To(And(
		HaveKeyWithValue("secretName", certSecretName),
		HaveKeyWithValue("commonName", "example.com"),
		HaveKeyWithValue("issuerRef", HaveKeyWithValue("name", issuerName))))

	// cert-manager issues on the host; the Secret shows in the virtual
	// cluster. When each is first seen, counted from the apply.
	var hostAt, virtualAt time.Duration
	hostSecret, virtualSecret := &corev1.Secret{}, &corev1.Secret{}
	g.Eventually(func(g Gomega) {
		if hostAt == 0 && host.Get(ctx, client.ObjectKey{Namespace: hostNamespace, Name: certSecretName}, hostSecret) == nil && len(hostSecret.Data) == 3 {
			hostAt = time.Since(start)
		}
		if virtualAt == 0 && tn.client.Get(ctx, client.ObjectKey{Namespace: certNamespace, Name: certSecretName}, virtualSecret) == nil && len(virtualSecret.Data) == 3 {
			virtualAt = time.Since(start)
		}
		g.Expect(hostAt).NotTo(BeZero(), "host Secret %s/%s with 3 keys", hostNamespace, certSecretName)
		g.Expect(virtualAt).NotTo(BeZero(), "virtual Secret %s/%s with 3 keys", certNamespace, certSecretName)
	}).WithTimeout(2 * time.Minute).WithPolling(100 * time.Millisecond).Should(Succeed())
	g.Expect(hostSecret.Type).To(Equal(corev1.SecretTypeTLS))

	// As the tenant sees it.
	out := mustKubectl(t, "--kubeconfig", tn.kubeconfig, "get", "secret", "-n", certNamespace, certSecretName, "-o", "json")
	shown := &corev1.Secret{}
	g.Expect(json.Unmarshal([]byte(out), shown)).To(Succeed())
	g.Expect(shown.Type).To(Equal(corev1.SecretTypeTLS))
	g.Expect(shown.Data).To(HaveLen(3))
	g.Expect(shown.Data).To(HaveKey("ca.crt"))
	g.Expect(shown.Data).To(HaveKey("tls.key"))
	g.Expect(shown.Data["tls.crt"]).To(Equal(hostSecret.Data["tls.crt"]), "the host's certificate")
	t.Logf("kubectl get secret %s, in the virtual cluster:\n%s", certSecretName,
		mustKubectl(t, "--kubeconfig", tn.kubeconfig, "get", "secret", "-n", certNamespace, certSecretName))

	var readyAt time.Duration
	for _, c := range []struct{ resource, name string }{{"certificate", certName}, {"issuer", issuerName}} {
		g.Eventually(func() (string, error) {
			return kubectl("--kubeconfig", tn.kubeconfig, "get", c.resource, "-n", certNamespace, c.name,
				"-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		}).WithTimeout(time.Minute).WithPolling(200*time.Millisecond).Should(Equal("True"), "virtual %s %s Ready", c.resource, c.name)
		if c.resource == "certificate" {
			readyAt = time.Since(start)
		}
	}
	t.Logf("kubectl get certificate, in the virtual cluster:\n%s",
		mustKubectl(t, "--kubeconfig", tn.kubeconfig, "get", "certificate", "-n", certNamespace, certName))
	t.Logf("from kubectl apply of the Issuer and Certificate: host Secret issued after %.1fs, "+
		"virtual Secret %s shown after %.1fs, virtual Certificate Ready by %.1fs",
		hostAt.Seconds(), certSecretName, virtualAt.Seconds(), readyAt.Seconds())
}

// clusterIssuerShown: a ClusterIssuer the platform creates on the host
// shows in the virtual cluster with its status; the tenant's edit is
// undone, the tenant's deletion brought back, and the host's deletion
// takes it away.
func clusterIssuerShown(t *testing.T, tn *tenant) {
	g := NewWithT(t)
	ctx := context.Background()
	t.Cleanup(func() { _, _ = kubectl("delete", "clusterissuer", platformIssuer, "--ignore-not-found") })
	start := time.Now()
	if out, err := applyManifest(t, []byte(platformResources)); err != nil {
		t.Fatal(out, err)
	}
	key := client.ObjectKey{Name: platformIssuer}
	crl := func(u *unstructured.Unstructured) []string {
		points, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "selfSigned", "crlDistributionPoints")
		return points
	}
	shown := func(g Gomega) *unstructured.Unstructured {
		v := newObject(clusterIssuerGVK)
		g.Expect(tn.client.Get(ctx, key, v)).To(Succeed())
		return v
	}
	var first *unstructured.Unstructured
	g.Eventually(func(g Gomega) {
		first = shown(g)
		g.Expect(crl(first)).To(Equal([]string{platformCRL}))
		g.Expect(first.GetLabels()).To(HaveKeyWithValue("platform.example.com/shared", "true"))
		g.Expect(first.GetLabels()).To(HaveKeyWithValue(tenancyv1alpha1.LabelManagedBy, tenancyv1alpha1.SyncerManagedByValue))
		g.Expect(first.GetAnnotations()).To(HaveKeyWithValue(tenancyv1alpha1.AnnotationHostName, platformIssuer))
	}).WithTimeout(time.Minute).WithPolling(200*time.Millisecond).Should(Succeed(), "host ClusterIssuer %s in the virtual cluster", platformIssuer)
	t.Logf("host ClusterIssuer shown in the virtual cluster after %.1fs", time.Since(start).Seconds())
	// cert-manager's verdict on the host shows too.
	g.Eventually(func() (string, error) {
		return kubectl("--kubeconfig", tn.kubeconfig, "get", "clusterissuer", platformIssuer,
			"-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
	}).WithTimeout(time.Minute).WithPolling(200*time.Millisecond).Should(Equal("True"), "virtual ClusterIssuer Ready")

	// The tenant's edit is undone; the host's object never sees it.
	out := mustKubectl(t, "--kubeconfig", tn.kubeconfig, "patch", "clusterissuer", platformIssuer, "--type=merge",
		"-p", `{"spec":{"selfSigned":{"crlDistributionPoints":["`+tenantCRL+`"]}}}`)
	g.Expect(out).NotTo(ContainSubstring("no change"), "the tenant's edit was written")
	g.Eventually(func(g Gomega) {
		g.Expect(crl(shown(g))).To(Equal([]string{platformCRL}))
	}).WithTimeout(time.Minute).WithPolling(200*time.Millisecond).Should(Succeed(), "the tenant's edit is undone")
	h := newObject(clusterIssuerGVK)
	g.Expect(host.Get(ctx, key, h)).To(Succeed())
	g.Expect(crl(h)).To(Equal([]string{platformCRL}), "the host's ClusterIssuer")

	// The tenant's deletion is undone: a new object, the host's again.
	mustKubectl(t, "--kubeconfig", tn.kubeconfig, "delete", "clusterissuer", platformIssuer)
	g.Eventually(func(g Gomega) {
		v := shown(g)
		g.Expect(v.GetUID()).NotTo(Equal(first.GetUID()))
		g.Expect(crl(v)).To(Equal([]string{platformCRL}))
	}).WithTimeout(time.Minute).WithPolling(200*time.Millisecond).Should(Succeed(), "the ClusterIssuer deleted in the virtual cluster is back")

	// The host's deletion takes it away.
	mustKubectl(t, "delete", "clusterissuer", platformIssuer)
	g.Eventually(func() bool {
		return apierrors.IsNotFound(tn.client.Get(ctx, key, newObject(clusterIssuerGVK)))
	}).WithTimeout(time.Minute).WithPolling(200*time.Millisecond).Should(BeTrue(), "the ClusterIssuer deleted on the host is gone from the virtual cluster")
	out = mustKubectl(t, "--kubeconfig", tn.kubeconfig, "get", "clusterissuers", "-o", "name")
	g.Expect(strings.TrimSpace(out)).To(BeEmpty())
}

// diagnoseCertManager prints, when the walkthrough failed, cert-manager's
// objects on both sides and the host controller's log.
func diagnoseCertManager(t *testing.T, tn *tenant) {
	t.Helper()
	if !t.Failed() {
		return
	}
	show := func(title string, args ...string) { showKubectl(t, title, args...) }
	hostNamespace := tn.names.HostNamespace(certNamespace)
	show("host: cert-manager's objects in "+hostNamespace, "get", "certificates,certificaterequests,issuers", "-n", hostNamespace, "-o", "yaml")
	show("host: Secrets in "+hostNamespace, "get", "secrets", "-n", hostNamespace, "--show-labels")
	show("host: ClusterIssuers", "get", "clusterissuers", "-o", "yaml")
	show("host: cert-manager's pods", "get", "pods", "-n", certManagerNamespace, "-o", "wide")
	show("host: cert-manager's log", "logs", "-n", certManagerNamespace, "deployment/cert-manager", "--tail=80")
	vk := "--kubeconfig=" + tn.kubeconfig
	show("virtual: CustomResourceDefinitions", vk, "get", "customresourcedefinitions")
	show("virtual: cert-manager's objects in "+certNamespace, vk, "get", "certificates,issuers", "-n", certNamespace, "-o", "yaml")
	show("virtual: Secrets in "+certNamespace, vk, "get", "secrets", "-n", certNamespace, "--show-labels")
	show("virtual: ClusterIssuers", vk, "get", "clusterissuers", "-o", "yaml")
	show("virtual: events in "+certNamespace, vk, "get", "events", "-n", certNamespace)
}
