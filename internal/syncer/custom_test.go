package syncer_test

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/localcluster"
	"github.com/nestor-dev/nestor/internal/references"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
	"github.com/nestor-dev/nestor/internal/translate"
)

// handDefinitions resolves the custom kinds of vc's spec.sync against the
// host's definitions into cfg, as the operator does.
func handDefinitions(t *testing.T, vc *tenancyv1alpha1.VirtualCluster, cfg *syncerconfig.Config) {
	t.Helper()
	g := NewWithT(t)
	var defs []apiextensionsv1.CustomResourceDefinition
	add := func(key string, dir syncerconfig.Direction, patches []tenancyv1alpha1.ReferencePatch) {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		g.Expect(hostClient.Get(context.Background(), client.ObjectKey{Name: key}, crd)).To(Succeed(), "host CRD %s", key)
		cr := syncerconfig.CustomResource{
			Resource: key, Direction: dir, Group: crd.Spec.Group, Version: translate.StorageVersion(crd),
			Kind: crd.Spec.Names.Kind, Namespaced: crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
		}
		if dir == syncerconfig.ToHost {
			cr.References = references.For(key, patches)
		}
		cfg.CustomResources = append(cfg.CustomResources, cr)
		defs = append(defs, *translate.Definition(crd))
	}
	to, from := vc.Spec.Sync.ToHost.CustomResources, vc.Spec.Sync.FromHost.CustomResources
	for _, key := range slices.Sorted(maps.Keys(to)) {
		if to[key].Enabled {
			add(key, syncerconfig.ToHost, to[key].Patches)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(from)) {
		if from[key].Enabled {
			add(key, syncerconfig.FromHost, nil)
		}
	}
	var err error
	cfg.Definitions, err = syncerconfig.EncodeDefinitions(defs)
	g.Expect(err).NotTo(HaveOccurred())
}

// certManager runs one cert-manager controller on the host for the tests
// that need one, until the test binary ends (stopCertManager).
var (
	certManagerOnce    sync.Once
	certManagerProcess *localcluster.CertManager
	certManagerErr     error
)

func certManager() (*localcluster.CertManager, error) {
	certManagerOnce.Do(func() {
		certManagerProcess, certManagerErr = localcluster.StartCertManager(host.Config, localcluster.CertManagerOptions{ClusterResourceNamespace: "kube-system"})
	})
	return certManagerProcess, certManagerErr
}

// stopCertManager stops the controller certManager started, if it did.
func stopCertManager() error {
	if certManagerProcess == nil {
		return nil
	}
	return certManagerProcess.Stop()
}

// seedSync is spec.sync of the walkthrough: cert-manager's Certificates
// and Issuers go to the host, its ClusterIssuers come from it (in
// multi-namespace mode, which cluster-scoped kinds need).
func seedSync(mode tenancyv1alpha1.Mode) func(*tenancyv1alpha1.SyncSpec) {
	return func(s *tenancyv1alpha1.SyncSpec) {
		s.ToHost.Secrets.All = true
		s.ToHost.Ingresses.Enabled = true
		s.ToHost.CustomResources = map[string]tenancyv1alpha1.CustomResourceToHost{
			"certificates.cert-manager.io": {Enabled: true},
			"issuers.cert-manager.io":      {Enabled: true},
		}
		if mode == tenancyv1alpha1.MultiNamespaceMode {
			s.FromHost.CustomResources = map[string]tenancyv1alpha1.CustomResourceFromHost{
				"clusterissuers.cert-manager.io": {Enabled: true, Scope: tenancyv1alpha1.ClusterScoped},
			}
		}
	}
}

func manifest(t *testing.T, text string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	NewWithT(t).Expect(yaml.Unmarshal([]byte(text), &u.Object)).To(Succeed())
	return u
}

func condition(u *unstructured.Unstructured, kind string) string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, _ := c.(map[string]any); m["type"] == kind {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}

// TestCertManagerWalkthrough is the flagship use, with the real cert-manager
// controller on the host: a tenant's Issuer and Certificate go down, the
// host issues the certificate, and the tenant reads its Secret and sees it
// Ready; in multi-namespace mode the host's ClusterIssuers are shown,
// read-only.
func TestCertManagerWalkthrough(t *testing.T) {
	cm, err := certManager()
	NewWithT(t).Expect(err).NotTo(HaveOccurred(), "starting cert-manager")
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		g := NewWithT(t)
		ctx := context.Background()
		// The platform shows tenants only its ClusterIssuers labelled so.
		tn := newTenant(t, mode, withSync(seedSync(mode)), withConfig(func(c *syncerconfig.Config) {
			for i := range c.CustomResources {
				if c.CustomResources[i].Direction == syncerconfig.FromHost {
					c.CustomResources[i].Selector = "team=platform"
				}
			}
		}))
		defer func() {
			if t.Failed() {
				t.Log(cm.Log())
			}
		}()

		// The definitions are there, and only those.
		want := []string{"certificates.cert-manager.io", "issuers.cert-manager.io"}
		if mode == tenancyv1alpha1.MultiNamespaceMode {
			want = append(want, "clusterissuers.cert-manager.io")
		}
		for _, name := range want {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			g.Expect(tn.Virtual.Get(ctx, client.ObjectKey{Name: name}, crd)).To(Succeed(), "virtual CRD %s", name)
			g.Expect(crd.Spec.Conversion.Strategy).To(Equal(apiextensionsv1.NoneConverter))
		}

		ns := tn.newVirtualNamespace(t)
		issuer := manifest(t, `
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: test-selfsigned}
spec: {selfSigned: {}}
`)
		cert := manifest(t, `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: test-cert}
spec:
  secretName: test-cert-tls
  commonName: example.com
  subject: {organizations: [example.com]}
  issuerRef: {name: test-selfsigned, kind: Issuer}
`)
		for _, o := range []*unstructured.Unstructured{issuer, cert} {
			o.SetNamespace(ns)
			tn.createVirtual(t, o)
		}

		// The copies are on the host; in single-namespace mode their
		// references name the other copies.
		hostCert := manifest(t, "apiVersion: cert-manager.io/v1\nkind: Certificate\n")
		tn.hostObject(t, ns, "test-cert", hostCert)
		secretName, _, _ := unstructured.NestedString(hostCert.Object, "spec", "secretName")
		issuerName, _, _ := unstructured.NestedString(hostCert.Object, "spec", "issuerRef", "name")
		g.Expect(secretName).To(Equal(tn.HostKey(ns, "test-cert-tls").Name))
		g.Expect(issuerName).To(Equal(tn.HostKey(ns, "test-selfsigned").Name))
		g.Expect(hostCert.GetOwnerReferences()).To(HaveLen(map[bool]int{true: 0, false: 1}[mode == tenancyv1alpha1.MultiNamespaceMode]))
		tn.hostObject(t, ns, "test-selfsigned", manifest(t, "apiVersion: cert-manager.io/v1\nkind: Issuer\n"))

		// The host issues; the tenant reads the Secret where it asked for it.
		defer func() {
			if !t.Failed() {
				return
			}
			var secrets corev1.SecretList
			_ = hostClient.List(ctx, &secrets, client.InNamespace(tn.HostKey(ns, "x").Namespace))
			for _, s := range secrets.Items {
				t.Logf("host secret %s labels %v", s.Name, s.Labels)
			}
			_ = hostClient.Get(ctx, tn.HostKey(ns, "test-cert"), hostCert)
			t.Logf("host certificate status %v", hostCert.Object["status"])
			_ = tn.Virtual.Get(ctx, client.ObjectKeyFromObject(cert), cert)
			t.Logf("virtual certificate status %v", cert.Object["status"])
		}()
		secret := &corev1.Secret{}
		g.Eventually(func(g Gomega) {
			g.Expect(tn.Virtual.Get(ctx, client.ObjectKey{Namespace: ns, Name: "test-cert-tls"}, secret)).To(Succeed())
			g.Expect(secret.Type).To(Equal(corev1.SecretTypeTLS))
			g.Expect(secret.Data).To(HaveLen(3))
		}).WithTimeout(2 * timeout).WithPolling(poll).Should(Succeed())
		g.Eventually(func(g Gomega) {
			g.Expect(tn.Virtual.Get(ctx, client.ObjectKeyFromObject(cert), cert)).To(Succeed())
			g.Expect(condition(cert, "Ready")).To(Equal("True"))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed(), "the virtual Certificate turns Ready")

		// What the host made is not pushed back down as the tenant's.
		g.Consistently(func() []corev1.Event {
			var events corev1.EventList
			_ = tn.Virtual.List(ctx, &events, client.InNamespace(ns), client.MatchingFields{"reason": "HostObjectNotOwned"})
			return events.Items
		}).WithTimeout(quiet).WithPolling(poll).Should(BeEmpty())

		// A tenant's edit of what is shown from the host is undone.
		secret.Data["tls.crt"] = []byte("forged")
		g.Expect(tn.Virtual.Update(ctx, secret)).To(Succeed())
		g.Eventually(func() string {
			_ = tn.Virtual.Get(ctx, client.ObjectKeyFromObject(secret), secret)
			return string(secret.Data["tls.crt"])
		}).WithTimeout(timeout).WithPolling(poll).ShouldNot(Equal("forged"))

		// Deleting the virtual Certificate deletes its copy, and the Secret
		// shown for it goes from view (cert-manager keeps the host's).
		g.Expect(tn.Virtual.Delete(ctx, cert)).To(Succeed())
		gone(t, hostClient, tn.HostKey(ns, "test-cert"), manifest(t, "apiVersion: cert-manager.io/v1\nkind: Certificate\n"))
		gone(t, tn.Virtual, client.ObjectKeyFromObject(secret), &corev1.Secret{})

		if mode == tenancyv1alpha1.MultiNamespaceMode {
			clusterIssuerShown(t, tn)
			return
		}
		// In single-namespace mode the copies go with the VirtualCluster,
		// once its syncer has stopped, as the operator's finalizer waits for.
		g.Expect(hostCert.GetOwnerReferences()[0].UID).To(Equal(tn.VC.UID))
		tn.StopSyncer()
		g.Expect(hostClient.Delete(ctx, tn.VC)).To(Succeed())
		gone(t, hostClient, tn.HostKey(ns, "test-selfsigned"), manifest(t, "apiVersion: cert-manager.io/v1\nkind: Issuer\n"))
	})
}

// clusterIssuerShown checks that a host ClusterIssuer the selector picks is
// shown in tn's virtual cluster, read-only, and goes when the host's goes,
// and one it leaves out is not shown.
func clusterIssuerShown(t *testing.T, tn *tenant) {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	name := "host-issuer-" + rand.String(5)
	h := manifest(t, "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: "+name+", labels: {team: platform}}\nspec: {selfSigned: {}}\n")
	g.Expect(hostClient.Create(ctx, h)).To(Succeed())
	t.Cleanup(func() { _ = hostClient.Delete(context.Background(), h) })
	hidden := manifest(t, "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: "+name+"-hidden}\nspec: {selfSigned: {}}\n")
	g.Expect(hostClient.Create(ctx, hidden)).To(Succeed())
	t.Cleanup(func() { _ = hostClient.Delete(context.Background(), hidden) })

	v := manifest(t, "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\n")
	key := client.ObjectKey{Name: name}
	g.Eventually(func(g Gomega) {
		g.Expect(tn.Virtual.Get(ctx, key, v)).To(Succeed())
		g.Expect(v.GetLabels()).To(HaveKeyWithValue("team", "platform"))
		g.Expect(condition(v, "Ready")).To(Equal("True"), "the host's status is shown")
	}).WithTimeout(2 * timeout).WithPolling(poll).Should(Succeed())

	// One the platform's selector leaves out is not shown.
	g.Consistently(func() bool {
		return apierrors.IsNotFound(tn.Virtual.Get(ctx, client.ObjectKeyFromObject(hidden), manifest(t, "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\n")))
	}).WithTimeout(quiet).WithPolling(poll).Should(BeTrue(), "a ClusterIssuer outside the selector")

	// An edit is undone, a deletion too.
	g.Expect(unstructured.SetNestedField(v.Object, map[string]any{"secretName": "mine"}, "spec", "ca")).To(Succeed())
	unstructured.RemoveNestedField(v.Object, "spec", "selfSigned")
	g.Expect(tn.Virtual.Update(ctx, v)).To(Succeed())
	g.Eventually(func() bool {
		_ = tn.Virtual.Get(ctx, key, v)
		_, selfSigned, _ := unstructured.NestedMap(v.Object, "spec", "selfSigned")
		return selfSigned
	}).WithTimeout(timeout).WithPolling(poll).Should(BeTrue(), "the tenant's edit is undone")
	g.Expect(tn.Virtual.Delete(ctx, v)).To(Succeed())
	g.Eventually(func() error {
		return tn.Virtual.Get(ctx, key, manifest(t, "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\n"))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed(), "the deleted view is shown again")

	// Gone from the host, gone from the virtual cluster.
	g.Expect(hostClient.Delete(ctx, h)).To(Succeed())
	g.Eventually(func() bool {
		err := tn.Virtual.Get(ctx, key, manifest(t, "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\n"))
		return apierrors.IsNotFound(err)
	}).WithTimeout(timeout).WithPolling(poll).Should(BeTrue())
}

// TestCustomResourcesMakeTheSecretsTheyNameWanted: an Issuer's CA Secret
// goes to the host as a pod's would, and the Issuer's copy names the copy.
func TestCustomResourcesMakeTheSecretsTheyNameWanted(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		g := NewWithT(t)
		tn := newTenant(t, mode, withSync(func(s *tenancyv1alpha1.SyncSpec) {
			s.ToHost.CustomResources = map[string]tenancyv1alpha1.CustomResourceToHost{"issuers.cert-manager.io": {Enabled: true}}
		}))
		ns := tn.newVirtualNamespace(t)
		tn.createVirtual(t, secret(ns, "ca", map[string]string{"tls.crt": "c", "tls.key": "k"}))
		tn.createVirtual(t, secret(ns, "unread", nil))
		issuer := manifest(t, "apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata: {name: ca, namespace: "+ns+"}\nspec: {ca: {secretName: ca}}\n")
		tn.createVirtual(t, issuer)

		tn.hostObject(t, ns, "ca", &corev1.Secret{})
		h := manifest(t, "apiVersion: cert-manager.io/v1\nkind: Issuer\n")
		tn.hostObject(t, ns, "ca", h)
		name, _, _ := unstructured.NestedString(h.Object, "spec", "ca", "secretName")
		g.Expect(name).To(Equal(tn.HostKey(ns, "ca").Name))
		g.Consistently(func() bool {
			return apierrors.IsNotFound(hostClient.Get(context.Background(), tn.HostKey(ns, "unread"), &corev1.Secret{}))
		}).WithTimeout(quiet).WithPolling(poll).Should(BeTrue(), "a Secret nothing reads stays in the virtual cluster")
	})
}

// TestADefinitionStaysWhileTheTenantHasObjectsOfIt: a kind taken out of
// spec.sync keeps its definition in the virtual cluster as long as objects
// of it exist there, and loses it after.
func TestADefinitionStaysWhileTheTenantHasObjectsOfIt(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	issuers := withSync(func(s *tenancyv1alpha1.SyncSpec) {
		s.ToHost.CustomResources = map[string]tenancyv1alpha1.CustomResourceToHost{"issuers.cert-manager.io": {Enabled: true}}
	})
	// In vc-b, where no other test leaves objects of the kind behind.
	tn := newTenant(t, tenancyv1alpha1.SingleNamespaceMode, issuers, named(vcB))
	ns := tn.newVirtualNamespace(t)
	issuer := manifest(t, "apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata: {name: mine, namespace: "+ns+"}\nspec: {selfSigned: {}}\n")
	tn.createVirtual(t, issuer)
	tn.hostObject(t, ns, "mine", manifest(t, "apiVersion: cert-manager.io/v1\nkind: Issuer\n"))
	tn.StopSyncer()

	definition := func() error {
		return tn.Virtual.Get(ctx, client.ObjectKey{Name: "issuers.cert-manager.io"}, &apiextensionsv1.CustomResourceDefinition{})
	}
	// The kind is off, in a syncer started again; the tenant's Issuer
	// keeps its definition.
	newTenant(t, tenancyv1alpha1.SingleNamespaceMode, named(vcB)).StopSyncer()
	g.Expect(definition()).To(Succeed())
	g.Expect(tn.Virtual.Get(ctx, client.ObjectKeyFromObject(issuer), issuer)).To(Succeed(), "the tenant's Issuer is still there")

	// Without objects, the next start removes it.
	g.Expect(tn.Virtual.Delete(ctx, issuer)).To(Succeed())
	gone(t, tn.Virtual, client.ObjectKeyFromObject(issuer), manifest(t, "apiVersion: cert-manager.io/v1\nkind: Issuer\n"))
	newTenant(t, tenancyv1alpha1.SingleNamespaceMode, named(vcB)).StopSyncer()
	g.Eventually(func() bool { return apierrors.IsNotFound(definition()) }).WithTimeout(timeout).WithPolling(poll).Should(BeTrue())
}
