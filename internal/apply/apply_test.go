package apply_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/apply"
	"github.com/nestor-dev/nestor/internal/controlplane"
	"github.com/nestor-dev/nestor/internal/localcluster"
	"github.com/nestor-dev/nestor/internal/operator"
	"github.com/nestor-dev/nestor/internal/ownership"
)

var (
	k8s     client.Client // the test's own, uncached
	cached  cluster.Cluster
	applier *apply.Applier
	writes  atomic.Int64
)

type counter struct{ next http.RoundTripper }

func (c counter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodGet {
		writes.Add(1)
	}
	return c.next.RoundTrip(r)
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	lc, err := localcluster.Start(localcluster.Options{CRDDirectoryPaths: []string{"testdata"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer lc.Stop()
	scheme, _ := operator.Scheme()
	k8s, _ = client.New(lc.Config, client.Options{Scheme: scheme})

	cfg := rest.CopyConfig(lc.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return counter{rt} })
	cached, err = cluster.New(cfg, func(o *cluster.Options) {
		o.Scheme = scheme
		// As the operator's and the syncer's caches are.
		o.Cache.DefaultTransform = apply.OwnFieldsOnly("test-owner")
		o.Cache.ByObject = map[client.Object]cache.ByObject{
			&corev1.ConfigMap{}:   {Label: operator.ManagedSelector()},
			&corev1.Service{}:     {Label: operator.ManagedSelector()},
			&appsv1.StatefulSet{}: {Label: operator.ManagedSelector()},
			&appsv1.Deployment{}:  {Label: operator.ManagedSelector()},
		}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = cached.Start(ctx) }()
	applier = apply.New(cached.GetClient(), cached.GetAPIReader(), "test-owner")
	return m.Run()
}

func owner(t *testing.T) *tenancyv1alpha1.VirtualCluster {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apply-" + rand.String(6)}}
	NewWithT(t).Expect(k8s.Create(context.Background(), ns)).To(Succeed())
	return &tenancyv1alpha1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Name: "vc", Namespace: ns.Name, UID: types.UID("uid-" + ns.Name)}}
}

func configMap(vc *tenancyv1alpha1.VirtualCluster, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: ownership.NamespacedMeta(vc, "cm"), Data: data}
}

// applySettled applies desired until the cache has caught up with the
// previous write, then returns the result of an apply made on a settled cache.
func applySettled(t *testing.T, desired client.Object, owned apply.OwnedFunc) apply.Result {
	t.Helper()
	g := NewWithT(t)
	var res apply.Result
	g.Eventually(func(g Gomega) {
		live := desired.DeepCopyObject().(client.Object)
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(desired), live)).To(Succeed())
		fromCache := desired.DeepCopyObject().(client.Object)
		g.Expect(cached.GetClient().Get(context.Background(), client.ObjectKeyFromObject(desired), fromCache)).To(Succeed())
		g.Expect(fromCache.GetResourceVersion()).To(Equal(live.GetResourceVersion()))
	}).WithTimeout(10 * time.Second).WithPolling(20 * time.Millisecond).Should(Succeed())
	res, err := applier.Apply(context.Background(), desired, owned)
	g.Expect(err).NotTo(HaveOccurred())
	return res
}

func TestApplyWritesOnlyWhatDiffers(t *testing.T) {
	g := NewWithT(t)
	vc := owner(t)
	ctx := context.Background()
	owned := ownership.ControlledBy(vc)

	res, err := applier.Apply(ctx, configMap(vc, map[string]string{"a": "1", "b": "2"}), owned)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res).To(Equal(apply.Created))

	before := writes.Load()
	g.Expect(applySettled(t, configMap(vc, map[string]string{"a": "1", "b": "2"}), owned)).To(Equal(apply.Unchanged))
	g.Expect(writes.Load()-before).To(BeZero(), "an unchanged object must not be written")

	// Someone else edits a field the applier owns: the next apply restores it.
	live := &corev1.ConfigMap{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: "cm"}, live)).To(Succeed())
	live.Data["a"] = "edited"
	live.Labels["team"] = "theirs" // and adds a field of its own
	g.Expect(k8s.Update(ctx, live, client.FieldOwner("someone-else"))).To(Succeed())
	g.Expect(applySettled(t, configMap(vc, map[string]string{"a": "1", "b": "2"}), owned)).To(Equal(apply.Updated))
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(live), live)).To(Succeed())
	g.Expect(live.Data).To(Equal(map[string]string{"a": "1", "b": "2"}))
	g.Expect(live.Labels).To(HaveKeyWithValue("team", "theirs"), "a field the applier never owned stays")
	g.Expect(applySettled(t, configMap(vc, map[string]string{"a": "1", "b": "2"}), owned)).To(Equal(apply.Unchanged),
		"someone else's field is no reason to write")

	// A field the applier no longer wants is removed.
	g.Expect(applySettled(t, configMap(vc, map[string]string{"a": "1"}), owned)).To(Equal(apply.Updated))
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(live), live)).To(Succeed())
	g.Expect(live.Data).To(Equal(map[string]string{"a": "1"}))
}

// Built-in kinds that the API server defaults heavily must settle too.
func TestApplySettlesOnDefaultedWorkloads(t *testing.T) {
	g := NewWithT(t)
	vc := owner(t)
	vc.Spec.ControlPlane = tenancyv1alpha1.ControlPlaneSpec{
		Version: "v1.37.2", Replicas: 3,
		Persistence: tenancyv1alpha1.PersistenceSpec{Enabled: ptr.To(true), Size: resource.MustParse("1Gi")},
	}
	owned := ownership.ControlledBy(vc)
	for _, obj := range []client.Object{
		controlplane.StatefulSet(vc, "hash"), controlplane.Service(vc), controlplane.HeadlessService(vc),
		controlplane.SyncerDeployment(vc, "example.com/nestor:test"),
	} {
		res, err := applier.Apply(context.Background(), obj, owned)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res).To(Equal(apply.Created))
		before := writes.Load()
		g.Expect(applySettled(t, obj, owned)).To(Equal(apply.Unchanged), "%T", obj)
		g.Expect(writes.Load() - before).To(BeZero())
	}
}

func TestApplyNeverTakesOverAnotherObject(t *testing.T) {
	g := NewWithT(t)
	vc := owner(t)
	ctx := context.Background()

	// An unlabelled object of the same name: the label-selected cache does
	// not even see it, and it must still not be overwritten.
	theirs := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: vc.Namespace}, Data: map[string]string{"keep": "me"}}
	g.Expect(k8s.Create(ctx, theirs)).To(Succeed())
	_, err := applier.Apply(ctx, configMap(vc, map[string]string{"a": "1"}), ownership.ControlledBy(vc))
	g.Expect(apply.IsNotOwned(err)).To(BeTrue(), "got %v", err)
	g.Expect(err.Error()).To(ContainSubstring("ConfigMap " + vc.Namespace + "/cm already exists and is not managed by this VirtualCluster"))

	deleted, err := applier.Delete(ctx, configMap(vc, nil), ownership.ControlledBy(vc))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(deleted).To(BeFalse())

	got := &corev1.ConfigMap{}
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(theirs), got)).To(Succeed())
	g.Expect(got.Data).To(Equal(map[string]string{"keep": "me"}))
	g.Expect(got.OwnerReferences).To(BeEmpty())
	g.Expect(got.ManagedFields).NotTo(ContainElement(HaveField("Manager", "test-owner")))
}

func TestDeleteRemovesOnlyWhatItOwns(t *testing.T) {
	for name, child := range map[string]func(*tenancyv1alpha1.VirtualCluster) client.Object{
		"typed": func(vc *tenancyv1alpha1.VirtualCluster) client.Object {
			return configMap(vc, map[string]string{"a": "1"})
		},
		"custom resource": func(vc *tenancyv1alpha1.VirtualCluster) client.Object { return widget(vc, widgetSpec()) },
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			vc := owner(t)
			ctx := context.Background()
			key := client.ObjectKeyFromObject(child(vc))
			applied := func() {
				_, err := applier.Apply(ctx, child(vc), ownership.ControlledBy(vc))
				g.Expect(err).NotTo(HaveOccurred())
				g.Eventually(func() error { return cached.GetClient().Get(ctx, key, child(vc)) }).WithTimeout(10 * time.Second).Should(Succeed())
			}
			gone := func() { g.Expect(k8s.Get(ctx, key, child(vc))).To(Satisfy(apierrors.IsNotFound)) }

			applied()
			other := vc.DeepCopy()
			other.UID = "someone-else"
			deleted, err := applier.Delete(ctx, child(vc), ownership.ControlledBy(other))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(deleted).To(BeFalse(), "another owner's object must stay")
			deleted, err = applier.Delete(ctx, child(vc), ownership.ControlledBy(vc))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(deleted).To(BeTrue())
			gone()

			// DeleteLive deletes the object it was given, and only that one.
			applied()
			live := child(vc)
			g.Expect(k8s.Get(ctx, key, live)).To(Succeed())
			stale := live.DeepCopyObject().(client.Object)
			stale.SetUID("an-earlier-one")
			_, err = applier.DeleteLive(ctx, stale, ownership.ControlledBy(vc))
			g.Expect(err).To(HaveOccurred(), "a delete of another incarnation is refused")
			deleted, err = applier.DeleteLive(ctx, live, ownership.ControlledBy(vc))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(deleted).To(BeTrue())
			gone()
		})
	}
}

// An edit that renumbers a Service port makes a new list item under another
// manager, which a plain apply cannot remove and which collides with the
// port being restored. The applier takes over and restores the Service.
func TestApplyRestoresAnEditThatChangedAListKey(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	vc := owner(t)
	svc := controlplane.Service(vc)
	_, err := applier.Apply(ctx, svc, ownership.ControlledBy(vc))
	g.Expect(err).NotTo(HaveOccurred())

	live := &corev1.Service{}
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(svc), live)).To(Succeed())
	live.Spec.Ports[0].Port = 8443
	live.Annotations = map[string]string{"added-by": "kubectl-edit"}
	g.Expect(k8s.Update(ctx, live, client.FieldOwner("kubectl-edit"))).To(Succeed())

	g.Expect(applySettled(t, svc, ownership.ControlledBy(vc))).To(Equal(apply.Updated))
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(svc), live)).To(Succeed())
	g.Expect(live.Spec.Ports).To(HaveLen(1))
	g.Expect(live.Spec.Ports[0].Port).To(BeEquivalentTo(443))
	g.Expect(live.Spec.ClusterIP).NotTo(BeEmpty(), "the Service keeps its address")
	g.Expect(live.Annotations).To(HaveKeyWithValue("added-by", "kubectl-edit"), "metadata is never taken over")
	g.Expect(applySettled(t, svc, ownership.ControlledBy(vc))).To(Equal(apply.Unchanged))
}

// A change the API server forbids (an immutable field) is reported as it is;
// nothing is taken over.
func TestApplyReportsAnImmutableChange(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	vc := owner(t)
	vc.Spec.ControlPlane = tenancyv1alpha1.ControlPlaneSpec{Replicas: 1, Persistence: tenancyv1alpha1.PersistenceSpec{Enabled: ptr.To(true), Size: resource.MustParse("1Gi")}}
	_, err := applier.Apply(ctx, controlplane.StatefulSet(vc, "hash"), ownership.ControlledBy(vc))
	g.Expect(err).NotTo(HaveOccurred())
	before := &appsv1.StatefulSet{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: vc.Name}, before)).To(Succeed())

	vc.Spec.ControlPlane.Persistence.Size = resource.MustParse("2Gi")
	g.Eventually(func(g Gomega) {
		_, err := applier.Apply(ctx, controlplane.StatefulSet(vc, "hash"), ownership.ControlledBy(vc))
		g.Expect(err).To(MatchError(ContainSubstring("field is immutable")))
	}).WithTimeout(10 * time.Second).Should(Succeed())
	after := &appsv1.StatefulSet{}
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(before), after)).To(Succeed())
	g.Expect(after.ResourceVersion).To(Equal(before.ResourceVersion), "a rejected apply changes nothing")
}

// widget is a Widget of testdata/widgets.yaml, a kind the scheme does not
// know, with the metadata of vc's children.
func widget(vc *tenancyv1alpha1.VirtualCluster, spec map[string]any) *unstructured.Unstructured {
	meta := ownership.NamespacedMeta(vc, "w")
	u := &unstructured.Unstructured{Object: map[string]any{}}
	if spec != nil {
		u.Object["spec"] = spec
	}
	u.SetAPIVersion("example.nestor.dev/v1")
	u.SetKind("Widget")
	u.SetNamespace(meta.Namespace)
	u.SetName(meta.Name)
	u.SetLabels(meta.Labels)
	u.SetOwnerReferences(meta.OwnerReferences)
	return u
}

func widgetSpec() map[string]any {
	return map[string]any{
		"color":   "blue",
		"size":    int64(3),
		"tags":    []any{"a", "b"},
		"aliases": []any{"x", "y"},
		"labels":  map[string]any{"k": "v", "l": "w"},
	}
}

func TestApplyWritesOnlyWhatDiffersOnACustomResource(t *testing.T) {
	g := NewWithT(t)
	vc := owner(t)
	ctx := context.Background()
	owned := ownership.ControlledBy(vc)
	liveSpec := func() map[string]any {
		live := widget(vc, nil)
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(live), live)).To(Succeed())
		return live.Object["spec"].(map[string]any)
	}

	desired := widget(vc, widgetSpec())
	desired.Object["status"] = map[string]any{"ready": true}
	res, err := applier.Apply(ctx, desired, owned)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res).To(Equal(apply.Created))
	g.Expect(desired.Object).To(HaveKey("status"), "the caller's object is left as it was")
	g.Expect(liveSpec()).To(Equal(widgetSpec()))

	before := writes.Load()
	g.Expect(applySettled(t, desired, owned)).To(Equal(apply.Unchanged))
	g.Expect(writes.Load()-before).To(BeZero(), "an unchanged object must not be written")

	for name, edit := range map[string]func(spec map[string]any){
		"an item of an atomic list": func(spec map[string]any) { spec["tags"] = []any{"a", "c"} },
		"an item of a set":          func(spec map[string]any) { spec["aliases"] = []any{"x"} },
		"a map entry":               func(spec map[string]any) { spec["labels"] = map[string]any{"k": "changed"} },
		"a scalar":                  func(spec map[string]any) { spec["size"] = int64(4) },
	} {
		spec := widgetSpec()
		edit(spec)
		g.Expect(applySettled(t, widget(vc, spec), owned)).To(Equal(apply.Updated), name)
		g.Expect(liveSpec()).To(Equal(spec), name)
		before := writes.Load()
		g.Expect(applySettled(t, widget(vc, spec), owned)).To(Equal(apply.Unchanged), name)
		g.Expect(writes.Load()-before).To(BeZero(), name)
	}
}

func TestApplyNeverTakesOverAnotherCustomResource(t *testing.T) {
	g := NewWithT(t)
	vc := owner(t)
	ctx := context.Background()
	theirs := widget(vc, map[string]any{"color": "red"})
	theirs.SetOwnerReferences(nil)
	theirs.SetLabels(nil)
	g.Expect(k8s.Create(ctx, theirs)).To(Succeed())

	_, err := applier.Apply(ctx, widget(vc, widgetSpec()), ownership.ControlledBy(vc))
	g.Expect(apply.IsNotOwned(err)).To(BeTrue(), "got %v", err)
	deleted, err := applier.Delete(ctx, widget(vc, nil), ownership.ControlledBy(vc))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(deleted).To(BeFalse())

	got := widget(vc, nil)
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(theirs), got)).To(Succeed())
	g.Expect(got.GetResourceVersion()).To(Equal(theirs.GetResourceVersion()), "their object is untouched")
}
