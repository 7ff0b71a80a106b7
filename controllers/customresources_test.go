package controllers_test

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/controllers"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
)

// widgetsCRD is internal/apply's test definition in an API group of its
// own, so that no other test, nor an earlier run, has installed it.
func widgetsCRD(t testing.TB) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "internal", "apply", "testdata", "widgets.yaml"))
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	crd := &apiextensionsv1.CustomResourceDefinition{}
	NewWithT(t).Expect(yaml.UnmarshalStrict(b, crd)).To(Succeed())
	crd.Spec.Group = rand.String(6) + ".example.nestor.dev"
	crd.Name = crd.Spec.Names.Plural + "." + crd.Spec.Group
	return crd
}

// syncerConfig is the configuration the operator rendered for vc's syncer.
func syncerConfig(g Gomega, vc *tenancyv1alpha1.VirtualCluster) syncerconfig.Config {
	cm := &corev1.ConfigMap{}
	key := client.ObjectKey{Namespace: vc.Namespace, Name: naming.ForVirtualCluster(vc.Namespace, vc.Name).Syncer}
	g.Expect(k8s.Get(context.Background(), key, cm)).To(Succeed())
	cfg, err := syncerconfig.Parse([]byte(cm.Data[syncerconfig.FileName]))
	g.Expect(err).NotTo(HaveOccurred())
	return cfg
}

func resources(cfg syncerconfig.Config) []string {
	var out []string
	for _, cr := range cfg.CustomResources {
		out = append(out, cr.Resource)
	}
	return out
}

func TestCustomResourcesFollowTheirDefinitions(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	widgets := widgetsCRD(t)
	manifest := sample(t, "tenancy_v1alpha1_virtualcluster_single.yaml", newNamespace(t))
	g.Expect(unstructured.SetNestedMap(manifest.Object, map[string]any{
		"certificates.cert-manager.io": map[string]any{"enabled": true},
		widgets.Name:                   map[string]any{"enabled": true},
	}, "spec", "sync", "toHost", "customResources")).To(Succeed())
	// Cluster-scoped kinds from the host need multi-namespace mode.
	g.Expect(unstructured.SetNestedField(manifest.Object, true, "spec", "experimental", "multiNamespaceMode", "enabled")).To(Succeed())
	g.Expect(unstructured.SetNestedMap(manifest.Object, map[string]any{
		"clusterissuers.cert-manager.io": map[string]any{"enabled": true},
	}, "spec", "sync", "fromHost", "customResources")).To(Succeed())
	vc := create(t, manifest)
	expectNamespacedChildren(t, vc)
	markRolledOut(t, vc, true)

	// The host has cert-manager's definitions (testdata/crds) but not the
	// widgets': those sync, the widgets do not, and the user is told.
	g.Eventually(func(g Gomega) {
		got := get(g, vc)
		g.Expect(condition(got, controllers.ConditionCustomResourcesReady)).To(And(
			HaveField("Status", metav1.ConditionFalse),
			HaveField("Reason", controllers.ReasonDefinitionMissing),
			HaveField("Message", ContainSubstring("install its CustomResourceDefinition on the host, or remove spec.sync.toHost.customResources["+widgets.Name+"]"))))
		g.Expect(condition(got, controllers.ConditionReady)).To(And(
			HaveField("Status", metav1.ConditionFalse),
			HaveField("Message", ContainSubstring(controllers.ConditionCustomResourcesReady))))
		for _, c := range []string{controllers.ConditionControlPlaneReady, controllers.ConditionSyncerReady} {
			g.Expect(condition(got, c)).To(HaveField("Status", metav1.ConditionTrue), "only the custom resources hold Ready back")
		}

		var evs eventsv1.EventList
		g.Expect(k8s.List(ctx, &evs, client.InNamespace(vc.Namespace))).To(Succeed())
		g.Expect(evs.Items).To(ContainElement(And(
			HaveField("Reason", controllers.ReasonDefinitionMissing),
			HaveField("Type", corev1.EventTypeWarning),
			HaveField("Regarding.Name", vc.Name),
			HaveField("Note", ContainSubstring(widgets.Name)))))

		cfg := syncerConfig(g, got)
		g.Expect(resources(cfg)).To(Equal([]string{"certificates.cert-manager.io", "clusterissuers.cert-manager.io"}))
		g.Expect(cfg.CustomResources[1]).To(And(
			HaveField("Direction", syncerconfig.FromHost),
			HaveField("Selector", fromHostSelectors["clusterissuers.cert-manager.io"]),
			HaveField("Namespaced", false)))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

	// Reconciling again tells the user nothing new.
	waitForCache(t, vc)
	r, _ := countingReconciler(t)
	_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(vc)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Recorder.(*events.FakeRecorder).Events).To(BeEmpty(), "the event is recorded when the condition turns False, not on every reconcile")

	// Installing the definition is all it takes: the watch on definitions
	// brings the VirtualCluster back, and the syncer is handed the kind.
	g.Expect(k8s.Create(ctx, widgets)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), widgets) })
	g.Eventually(func(g Gomega) {
		got := get(g, vc)
		g.Expect(condition(got, controllers.ConditionCustomResourcesReady)).To(And(
			HaveField("Status", metav1.ConditionTrue),
			HaveField("Reason", controllers.ReasonReady),
			HaveField("Message", ContainSubstring(widgets.Name))))
		g.Expect(condition(got, controllers.ConditionReady)).To(HaveField("Status", metav1.ConditionTrue))

		cfg := syncerConfig(g, got)
		g.Expect(resources(cfg)).To(Equal([]string{"certificates.cert-manager.io", "clusterissuers.cert-manager.io", widgets.Name}))
		g.Expect(cfg.CustomResources[2]).To(Equal(syncerconfig.CustomResource{
			Resource: widgets.Name, Direction: syncerconfig.ToHost,
			Group: widgets.Spec.Group, Version: "v1", Kind: "Widget", Namespaced: true,
		}))
		defs, err := cfg.DefinitionsOf()
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(defs).To(HaveLen(3))
		def := defs[2]
		g.Expect(def.Name).To(Equal(widgets.Name))
		g.Expect(def.Spec.Names.Kind).To(Equal("Widget"))
		g.Expect(def.Spec.Versions).To(HaveLen(1))
		g.Expect(def.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties).To(HaveKey("spec"))
		g.Expect(def.Spec.Conversion == nil || def.Spec.Conversion.Strategy == apiextensionsv1.NoneConverter).
			To(BeTrue(), "the virtual API server cannot reach a host conversion webhook: %+v", def.Spec.Conversion)
		g.Expect(def.Labels).To(HaveKeyWithValue(tenancyv1alpha1.LabelManagedBy, tenancyv1alpha1.SyncerManagedByValue))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
}

func TestDefinitionsTooLargeForTheConfigMapAreRefused(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	// A schema of a megabyte that no compression shrinks enough.
	noise := make([]byte, 768<<10)
	_, err := cryptorand.Read(noise)
	g.Expect(err).NotTo(HaveOccurred())
	huge := widgetsCRD(t)
	huge.Spec.Versions[0].Schema.OpenAPIV3Schema.Description = base64.StdEncoding.EncodeToString(noise)
	g.Expect(k8s.Create(ctx, huge)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), huge) })

	manifest := sample(t, "tenancy_v1alpha1_virtualcluster_single.yaml", newNamespace(t))
	g.Expect(unstructured.SetNestedMap(manifest.Object, map[string]any{huge.Name: map[string]any{"enabled": true}},
		"spec", "sync", "toHost", "customResources")).To(Succeed())
	vc := create(t, manifest)
	g.Eventually(func(g Gomega) {
		got := get(g, vc)
		g.Expect(condition(got, controllers.ConditionCustomResourcesReady)).To(HaveField("Status", metav1.ConditionTrue))
		g.Expect(condition(got, controllers.ConditionSyncerReady)).To(And(
			HaveField("Status", metav1.ConditionFalse),
			HaveField("Message", And(ContainSubstring(huge.Name), ContainSubstring("sync fewer custom resources")))))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	cm := &corev1.ConfigMap{}
	err = k8s.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: naming.ForVirtualCluster(vc.Namespace, vc.Name).Syncer}, cm)
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "no configuration is rendered without the definitions: %v", err)
}
