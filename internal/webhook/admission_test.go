package webhook_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/yaml"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/controllers"
	"github.com/nestor-dev/nestor/internal/localcluster"
	"github.com/nestor-dev/nestor/internal/operator"
)

var (
	cluster *localcluster.Cluster
	k8s     client.Client
	// warned collects the admission warnings the API server passes on.
	warned = &warningLog{}
)

type warningLog struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningLog) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warningLog) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

// run starts an API server that calls the webhook through its admission
// path, and the operator (webhook and controller) beside it.
func run(m *testing.M) int {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.Level(zapLevel()))))
	root := filepath.Join("..", "..")
	var err error
	cluster, err = localcluster.Start(localcluster.Options{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{filepath.Join(root, "config", "webhook")}},
		// The aggregation controller fills the built-in edit role, which
		// the escalation tests bind users to.
		Controllers: append(slices.Clone(localcluster.GarbageCollection), "clusterrole-aggregation-controller"),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cluster.Stop()

	scheme, _ := operator.Scheme()
	cfg := rest.CopyConfig(cluster.Config)
	cfg.WarningHandlerWithContext = warned
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	wio := cluster.Env.WebhookInstallOptions
	mgr, err := operator.NewManager(cluster.Config, operator.Options{
		Manager: manager.Options{
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			WebhookServer: ctrlwebhook.NewServer(ctrlwebhook.Options{
				Host: wio.LocalServingHost, Port: wio.LocalServingPort, CertDir: wio.LocalServingCertDir,
			}),
		},
		SyncerImage: "example.com/nestor:test",
	})
	if err == nil {
		_, err = operator.AddWebhook(mgr, nil)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		<-done // before the control plane, and the webhook's certificates, go away
	}()
	// Admission fails closed: wait until the webhook answers.
	for start := time.Now(); mgr.GetWebhookServer().StartedChecker()(nil) != nil; time.Sleep(50 * time.Millisecond) {
		if time.Since(start) > time.Minute {
			fmt.Fprintln(os.Stderr, "the webhook server did not start")
			return 1
		}
	}
	if err := installEditorRole(root); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// installEditorRole installs the role config/rbac aggregates into the
// built-in admin and edit roles, and waits until edit holds it: a
// namespace's editors may create VirtualClusters in it, as deployed.
func installEditorRole(root string) error {
	b, err := os.ReadFile(filepath.Join(root, "config", "rbac", "virtualcluster_editor_role.yaml"))
	if err != nil {
		return err
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(b, role); err != nil {
		return err
	}
	ctx := context.Background()
	if err := k8s.Create(ctx, role); err != nil {
		return fmt.Errorf("installing %s: %w", role.Name, err)
	}
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		edit := &rbacv1.ClusterRole{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: "edit"}, edit); err != nil {
			return err
		}
		if slices.ContainsFunc(edit.Rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Resources, "virtualclusters") }) {
			return nil
		}
		if time.Since(start) > time.Minute {
			return fmt.Errorf("the edit role did not aggregate %s", role.Name)
		}
	}
}

func zapLevel() int8 {
	if os.Getenv("NESTOR_TEST_VERBOSE") != "" {
		return -2
	}
	return 2
}

const fieldManager = "kubectl"

func newNamespace(t *testing.T) string {
	t.Helper()
	return createNamespace(t, "wh-"+rand.String(6))
}

func createNamespace(t *testing.T, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	NewWithT(t).Expect(k8s.Create(context.Background(), ns)).To(Succeed())
	return ns.Name
}

// manifest parses a VirtualCluster manifest and places it in namespace.
func manifest(t *testing.T, namespace, text string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	NewWithT(t).Expect(yaml.Unmarshal([]byte(text), &u.Object)).To(Succeed())
	u.SetNamespace(namespace)
	return u
}

// apply sends u as `kubectl apply --server-side` does, as an administrator.
func apply(u *unstructured.Unstructured, opts ...client.ApplyOption) error {
	return applyWith(k8s, u, opts...)
}

func applyWith(c client.Client, u *unstructured.Unstructured, opts ...client.ApplyOption) error {
	return c.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u.DeepCopy()), append(opts, client.FieldOwner(fieldManager))...)
}

func get(t *testing.T, namespace, name string) *tenancyv1alpha1.VirtualCluster {
	t.Helper()
	vc := &tenancyv1alpha1.VirtualCluster{}
	NewWithT(t).Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, vc)).To(Succeed())
	return vc
}

const (
	single = `
apiVersion: tenancy.nestor.dev/v1alpha1
kind: VirtualCluster
metadata: {name: single}
spec:
  sync:
    toHost:
      ingresses: {enabled: true}
`
	singleExplicit = `
apiVersion: tenancy.nestor.dev/v1alpha1
kind: VirtualCluster
metadata: {name: explicit}
spec:
  experimental:
    multiNamespaceMode: {enabled: false}
`
	multi = `
apiVersion: tenancy.nestor.dev/v1alpha1
kind: VirtualCluster
metadata: {name: multi}
spec:
  experimental:
    multiNamespaceMode: {enabled: true}
  sync:
    toHost:
      customResources:
        certificates.cert-manager.io: {enabled: true}
`
)

// setMode returns a copy of u with the mode field set to enabled, or
// removed when enabled is nil.
func setMode(u *unstructured.Unstructured, enabled *bool) *unstructured.Unstructured {
	out := u.DeepCopy()
	if enabled == nil {
		unstructured.RemoveNestedField(out.Object, "spec", "experimental")
		return out
	}
	_ = unstructured.SetNestedField(out.Object, *enabled, "spec", "experimental", "multiNamespaceMode", "enabled")
	return out
}

// Every way a client changes an object: update, merge patch, JSON patch,
// and server-side apply of the changed manifest.
var methods = map[string]func(ctx context.Context, applied, changed *unstructured.Unstructured) error{
	"update": func(ctx context.Context, _, changed *unstructured.Unstructured) error {
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(changed.GroupVersionKind())
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(changed), live); err != nil {
			return err
		}
		live.Object["spec"] = changed.Object["spec"]
		return k8s.Update(ctx, live)
	},
	"merge patch": func(ctx context.Context, applied, changed *unstructured.Unstructured) error {
		// The patch is the difference between the two, as `kubectl patch --type merge` sends it.
		return k8s.Patch(ctx, changed.DeepCopy(), client.MergeFrom(applied))
	},
	"json patch": func(ctx context.Context, applied, changed *unstructured.Unstructured) error {
		_, had, _ := unstructured.NestedBool(applied.Object, "spec", "experimental", "multiNamespaceMode", "enabled")
		enabled, has, _ := unstructured.NestedBool(changed.Object, "spec", "experimental", "multiNamespaceMode", "enabled")
		var ops string
		switch {
		case has && had:
			ops = fmt.Sprintf(`[{"op":"replace","path":"/spec/experimental/multiNamespaceMode/enabled","value":%t}]`, enabled)
		case has:
			ops = fmt.Sprintf(`[{"op":"add","path":"/spec/experimental","value":{"multiNamespaceMode":{"enabled":%t}}}]`, enabled)
		default:
			ops = `[{"op":"remove","path":"/spec/experimental"}]`
		}
		return k8s.Patch(ctx, applied.DeepCopy(), client.RawPatch(types.JSONPatchType, []byte(ops)))
	},
	"server-side apply": func(_ context.Context, _, changed *unstructured.Unstructured) error {
		return apply(changed)
	},
}

func TestModeChangesAreDeniedEveryWay(t *testing.T) {
	on, off := true, false
	for _, start := range []struct {
		text        string
		transitions map[string]*bool
	}{
		{single, map[string]*bool{"absent to true": &on}},
		{singleExplicit, map[string]*bool{"false to true": &on}},
		{multi, map[string]*bool{"true to false": &off, "true to absent": nil}},
	} {
		for transition, to := range start.transitions {
			for method, change := range methods {
				t.Run(transition+" by "+method, func(t *testing.T) {
					g := NewWithT(t)
					ctx := context.Background()
					applied := manifest(t, newNamespace(t), start.text)
					g.Expect(apply(applied)).To(Succeed())
					before := get(t, applied.GetNamespace(), applied.GetName())

					err := change(ctx, applied, setMode(applied, to))
					g.Expect(err).To(HaveOccurred(), "the mode change went through")
					g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
					for _, says := range []string{
						"spec.experimental.multiNamespaceMode.enabled", "cannot change from", "after creation",
						"keyed differently in each mode", "orphan or destroy", "create a new VirtualCluster",
					} {
						g.Expect(err.Error()).To(ContainSubstring(says))
					}
					after := get(t, applied.GetNamespace(), applied.GetName())
					g.Expect(after.Spec).To(Equal(before.Spec), "the object must be unchanged")
				})
			}
		}
	}
}

// vcYAML wraps a spec (and optionally a name) into a manifest.
func vcYAML(name, spec string) string {
	return "apiVersion: tenancy.nestor.dev/v1alpha1\nkind: VirtualCluster\nmetadata: {name: " + name + "}\nspec:\n" + spec
}

func TestInvalidManifestsAreRejectedNamingTheField(t *testing.T) {
	single := func(spec string) string { return vcYAML("vc", spec) }
	multiMode := "  experimental: {multiNamespaceMode: {enabled: true}}\n"
	for _, tc := range []struct {
		name, manifest, field string
	}{
		{"name joined with -x-", vcYAML("web-x-default", "  {}\n"), "metadata.name"},
		{"name too long for its children", vcYAML(strings.Repeat("a", 53), "  {}\n"), "metadata.name"},
		{"name starting with a digit", vcYAML("1vc", "  {}\n"), "metadata.name"},
		{"nodes need multi-namespace mode", single("  sync: {fromHost: {nodes: {enabled: true}}}\n"), "spec.sync.fromHost.nodes.enabled"},
		{"storage classes need multi-namespace mode", single("  sync: {fromHost: {storageClasses: {enabled: true}}}\n"), "spec.sync.fromHost.storageClasses.enabled"},
		{"ingress classes need multi-namespace mode", single("  sync: {fromHost: {ingressClasses: {enabled: true}}}\n"), "spec.sync.fromHost.ingressClasses.enabled"},
		{"priority classes need multi-namespace mode", single("  sync: {fromHost: {priorityClasses: {enabled: true}}}\n"), "spec.sync.fromHost.priorityClasses.enabled"},
		{"runtime classes need multi-namespace mode", single("  sync: {fromHost: {runtimeClasses: {enabled: true}}}\n"), "spec.sync.fromHost.runtimeClasses.enabled"},
		{"cluster-scoped custom resources need multi-namespace mode", single("  sync: {fromHost: {customResources: {clusterissuers.cert-manager.io: {enabled: true}}}}\n"),
			"spec.sync.fromHost.customResources[clusterissuers.cert-manager.io].scope"},
		{"custom resource key in upper case", single("  sync: {toHost: {customResources: {Certificates.cert-manager.io: {enabled: true}}}}\n"), "spec.sync.toHost.customResources"},
		{"custom resource key without a group", single("  sync: {toHost: {customResources: {certificates: {enabled: true}}}}\n"), "spec.sync.toHost.customResources"},
		{"built-in kind as a custom resource", single("  sync: {toHost: {customResources: {deployments.apps: {enabled: true}}}}\n"), "spec.sync.toHost.customResources[deployments.apps]"},
		{"custom resource in both directions", single(multiMode + "  sync: {toHost: {customResources: {issuers.cert-manager.io: {enabled: true}}}, fromHost: {customResources: {issuers.cert-manager.io: {enabled: true}}}}\n"),
			"spec.sync.fromHost.customResources[issuers.cert-manager.io]"},
		{"VirtualClusters as a custom resource", single("  sync: {toHost: {customResources: {virtualclusters.tenancy.nestor.dev: {enabled: true}}}}\n"),
			"spec.sync.toHost.customResources[virtualclusters.tenancy.nestor.dev]"},
		{"unknown scope", single(multiMode + "  sync: {fromHost: {customResources: {widgets.example.com: {enabled: true, scope: Global}}}}\n"),
			"spec.sync.fromHost.customResources.widgets.example.com.scope"},
		{"namespaced custom resources from the host", single(multiMode + "  sync: {fromHost: {customResources: {widgets.example.com: {enabled: true, scope: Namespaced}}}}\n"),
			"spec.sync.fromHost.customResources[widgets.example.com].scope"},
		{"reference path ending in a list", single("  sync: {toHost: {customResources: {widgets.example.com: {enabled: true, patches: [{path: \"spec.names[*]\", reference: {kind: Secret}}]}}}}\n"),
			"spec.sync.toHost.customResources[widgets.example.com].patches[0].path"},
		{"malformed reference path", single("  sync: {toHost: {customResources: {widgets.example.com: {enabled: true, patches: [{path: \"spec..name\", reference: {kind: Secret}}]}}}}\n"),
			"spec.sync.toHost.customResources.widgets.example.com.patches[0].path"},
		{"the same reference path twice", single("  sync: {toHost: {customResources: {widgets.example.com: {enabled: true, patches: [{path: spec.a, reference: {kind: Secret}}, {path: spec.a, reference: {kind: Secret}}]}}}}\n"),
			"spec.sync.toHost.customResources[widgets.example.com].patches[1].path"},
		{"reference without a kind", single("  sync: {toHost: {customResources: {widgets.example.com: {enabled: true, patches: [{path: spec.secretName, reference: {}}]}}}}\n"),
			"spec.sync.toHost.customResources.widgets.example.com.patches[0].reference.kind"},
		{"unsupported version", single("  controlPlane: {version: v1.30.4}\n"), "spec.controlPlane.version"},
		{"malformed version", single("  controlPlane: {version: \"1.37\"}\n"), "spec.controlPlane.version"},
		{"even replicas", single("  controlPlane: {replicas: 2}\n"), "spec.controlPlane.replicas"},
		{"replicas without persistence", single("  controlPlane: {replicas: 3, persistence: {enabled: false}}\n"), "spec.controlPlane.persistence.enabled"},
		{"overriding a flag Nestor sets", single("  controlPlane: {extraArgs: {apiServer: [\"--etcd-servers=http://elsewhere:2379\"]}}\n"), "spec.controlPlane.extraArgs.apiServer[0]"},
		{"an argument that is no flag", single("  controlPlane: {extraArgs: {etcd: [\"snapshot-count=5\"]}}\n"), "spec.controlPlane.extraArgs.etcd[0]"},
		{"malformed image", single("  controlPlane: {images: {apiServer: \"Registry/Kube Apiserver\"}}\n"), "spec.controlPlane.images.apiServer"},
		{"requests above limits", single("  controlPlane: {resources: {etcd: {requests: {memory: 4Gi}, limits: {memory: 1Gi}}}}\n"), "spec.controlPlane.resources.etcd.requests[memory]"},
		{"unknown service type", single("  controlPlane: {service: {type: ExternalName}}\n"), "spec.controlPlane.service.type"},
		{"malformed service annotation", single("  controlPlane: {service: {annotations: {\"bad key!\": x}}}\n"), "spec.controlPlane.service.annotations"},
		{"malformed extra SAN", single("  controlPlane: {service: {extraSANs: [\"not_a_host\"]}}\n"), "spec.controlPlane.service.extraSANs[0]"},
		{"unknown retention policy", single("  controlPlane: {persistence: {retentionPolicy: Keep}}\n"), "spec.controlPlane.persistence.retentionPolicy"},
		{"persistence larger than a claim holds", single("  controlPlane: {persistence: {size: 8Ei}}\n"), "spec.controlPlane.persistence.size"},
		{"storage class that is no name", single("  controlPlane: {persistence: {storageClassName: \"Fast SSD\"}}\n"), "spec.controlPlane.persistence.storageClassName"},
		{"negative memory", single("  controlPlane: {resources: {syncer: {requests: {memory: -64Mi}}}}\n"), "spec.controlPlane.resources.syncer.requests[memory]"},
		{"negative cpu limit", single("  controlPlane: {resources: {etcd: {limits: {cpu: \"-1\"}}}}\n"), "spec.controlPlane.resources.etcd.limits[cpu]"},
		{"a flag that points the controller manager elsewhere", single("  controlPlane: {extraArgs: {controllerManager: [\"--master=https://elsewhere\"]}}\n"), "spec.controlPlane.extraArgs.controllerManager[0]"},
		{"a configuration file that replaces etcd's flags", single("  controlPlane: {extraArgs: {etcd: [\"--config-file=/tmp/etcd.yaml\"]}}\n"), "spec.controlPlane.extraArgs.etcd[0]"},
		{"too many arguments", single("  controlPlane: {extraArgs: {etcd: [" + strings.TrimSuffix(strings.Repeat("\"--v=1\", ", 65), ", ") + "]}}\n"), "spec.controlPlane.extraArgs.etcd"},
		{"an argument of unbounded size", single("  controlPlane: {extraArgs: {apiServer: [\"--v=" + strings.Repeat("9", 5000) + "\"]}}\n"), "spec.controlPlane.extraArgs.apiServer[0]"},
		{"persistence of size 0", single("  controlPlane: {persistence: {size: \"0\"}}\n"), "spec.controlPlane.persistence.size"},
		{"persistence of a negative size", single("  controlPlane: {persistence: {enabled: true, size: -1Gi}}\n"), "spec.controlPlane.persistence.size"},
		{"service range that is no network address", single("  networking: {serviceCIDR: 10.96.0.1/12}\n"), "spec.networking.serviceCIDR"},
		{"service range too small", single("  networking: {serviceCIDR: 10.96.0.0/30}\n"), "spec.networking.serviceCIDR"},
		{"quota without limits", single("  policies: {resourceQuota: {enabled: true}}\n"), "spec.policies.resourceQuota"},
		{"limit range with min above max", single("  policies: {limitRange: {enabled: true, min: {cpu: \"2\"}, max: {cpu: \"1\"}}}\n"), "spec.policies.limitRange.min[cpu]"},
		{"egress exception outside its block", single("  policies: {networkPolicy: {enabled: true, outgoingConnections: {ipBlock: {cidr: 10.0.0.0/8, except: [192.168.0.0/16]}}}}\n"),
			"spec.policies.networkPolicy.outgoingConnections.ipBlock.except[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			u := manifest(t, newNamespace(t), tc.manifest)
			err := apply(u)
			g.Expect(err).To(HaveOccurred(), "accepted")
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
			g.Expect(causeFields(err)).To(ContainElement(tc.field), "the error must name the field: %v", err)
			g.Expect(apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKeyFromObject(u), &tenancyv1alpha1.VirtualCluster{}))).To(BeTrue())
		})
	}
}

var metadataField = regexp.MustCompile(`metadata\.[a-zA-Z]+`)

// causeFields lists the fields a rejection names. A CEL rule on the root
// cannot point at metadata.name (the schema does not describe metadata),
// so its message starts with the field instead.
func causeFields(err error) []string {
	var out []string
	if status, ok := err.(apierrors.APIStatus); ok && status.Status().Details != nil {
		for _, c := range status.Status().Details.Causes {
			f := c.Field
			if f == "" || f == "<nil>" {
				f = metadataField.FindString(c.Message)
			}
			out = append(out, f)
		}
	}
	return out
}

func TestTheSamplesAreAccepted(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "config", "samples", "tenancy_*.yaml"))
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	NewWithT(t).Expect(files).NotTo(BeEmpty())
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			NewWithT(t).Expect(err).NotTo(HaveOccurred())
			NewWithT(t).Expect(apply(manifest(t, newNamespace(t), string(b)))).To(Succeed())
		})
	}
}

// A VirtualCluster built in Go, as `make run` and Go clients build one,
// leaves the size unset and gets the schema's default: its zero value is
// not sent as a size of 0, which is rejected.
func TestATypedVirtualClusterGetsTheDefaultSize(t *testing.T) {
	g := NewWithT(t)
	vc := &tenancyv1alpha1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Namespace: newNamespace(t), Name: "typed"}}
	g.Expect(k8s.Create(context.Background(), vc)).To(Succeed())
	g.Expect(vc.Spec.ControlPlane.Persistence.Size.String()).To(Equal("5Gi"))
}

func TestAllowedChangesGoThrough(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	u := manifest(t, newNamespace(t), multi)
	g.Expect(apply(u)).To(Succeed())

	// A sync setting that may change, by server-side apply.
	changed := u.DeepCopy()
	g.Expect(unstructured.SetNestedField(changed.Object, true, "spec", "sync", "toHost", "ingresses", "enabled")).To(Succeed())
	g.Expect(unstructured.SetNestedField(changed.Object, map[string]any{"enabled": true}, "spec", "sync", "toHost", "customResources", "issuers.cert-manager.io")).To(Succeed())
	g.Expect(apply(changed)).To(Succeed())
	// Re-applying the same manifest, as GitOps tools do all the time.
	g.Expect(apply(changed)).To(Succeed())

	// Labels, annotations and finalizers.
	vc := get(t, u.GetNamespace(), u.GetName())
	vc.Labels = map[string]string{"team": "a"}
	vc.Annotations = map[string]string{"note": "x"}
	vc.Finalizers = append(vc.Finalizers, "example.com/hold")
	g.Expect(k8s.Update(ctx, vc)).To(Succeed())

	// Status, through its subresource.
	vc = get(t, u.GetNamespace(), u.GetName())
	vc.Status.Phase = tenancyv1alpha1.PhaseProvisioning
	g.Expect(k8s.Status().Update(ctx, vc)).To(Succeed())

	// Deletion.
	vc = get(t, u.GetNamespace(), u.GetName())
	vc.Finalizers = nil
	g.Expect(k8s.Update(ctx, vc)).To(Succeed())
	g.Expect(k8s.Delete(ctx, vc)).To(Succeed())
}

func TestRiskySettingsAreWarnedAbout(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	warned.take()
	g.Expect(apply(manifest(t, ns, vcYAML("first", "  controlPlane: {persistence: {enabled: false}}\n")))).To(Succeed())
	g.Expect(warned.take()).To(ContainElement(ContainSubstring("spec.controlPlane.persistence.enabled is false")))
	// The webhook finds "first" through its cache: ask with dry runs until it has it.
	second := manifest(t, ns, vcYAML("second", "  {}\n"))
	g.Eventually(func(g Gomega) {
		warned.take()
		g.Expect(apply(second, client.DryRunAll)).To(Succeed())
		g.Expect(warned.take()).To(ContainElement(ContainSubstring("namespace " + ns + " already holds VirtualCluster first")))
	}).WithTimeout(10 * time.Second).Should(Succeed())
	g.Expect(apply(second)).To(Succeed())

	// In single-namespace mode a custom kind with references no one
	// declared is copied with names that name nothing on the host.
	warned.take()
	undeclared := "  sync: {toHost: {customResources: {widgets.example.com: {enabled: true}, certificates.cert-manager.io: {enabled: true}, gadgets.example.com: {enabled: true, patches: []}}}}\n"
	g.Expect(apply(manifest(t, newNamespace(t), vcYAML("third", undeclared)))).To(Succeed())
	w := warned.take()
	g.Expect(w).To(ContainElement(ContainSubstring("spec.sync.toHost.customResources[widgets.example.com] declares no references")))
	g.Expect(w).NotTo(ContainElement(ContainSubstring("[certificates.cert-manager.io] declares")), "built in")
	g.Expect(w).NotTo(ContainElement(ContainSubstring("[gadgets.example.com] declares")), "declared empty")
}

// The webhook is the first line and the controller the second: with the
// webhook bypassed, a mode change reaches the API, and the operator still
// changes nothing on the host.
func TestBothLinesHoldTheMode(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	u := manifest(t, newNamespace(t), single)
	g.Expect(apply(u)).To(Succeed())
	g.Eventually(func(g Gomega) {
		vc := get(t, u.GetNamespace(), u.GetName())
		g.Expect(vc.Status.Mode).To(Equal(tenancyv1alpha1.SingleNamespaceMode))
		g.Expect(vc.Status.ObservedGeneration).To(Equal(vc.Generation))
	}).WithTimeout(30 * time.Second).Should(Succeed())
	flipped := setMode(u, ptr.To(true))
	g.Expect(apply(flipped)).To(MatchError(ContainSubstring("cannot change from false to true")))

	// An administrator removes the webhook.
	var configs admissionregistrationv1.ValidatingWebhookConfigurationList
	g.Expect(k8s.List(ctx, &configs)).To(Succeed())
	g.Expect(configs.Items).NotTo(BeEmpty())
	var saved []*admissionregistrationv1.ValidatingWebhookConfiguration
	restore := func() {
		for _, c := range saved {
			c.ResourceVersion, c.UID = "", ""
			NewWithT(t).Expect(client.IgnoreAlreadyExists(k8s.Create(context.Background(), c))).To(Succeed())
		}
		saved = nil
	}
	t.Cleanup(restore)
	for i := range configs.Items {
		saved = append(saved, configs.Items[i].DeepCopy())
		g.Expect(k8s.Delete(ctx, &configs.Items[i])).To(Succeed())
	}

	var roles rbacv1.RoleList
	g.Expect(k8s.List(ctx, &roles, client.InNamespace(u.GetNamespace()))).To(Succeed())
	before := map[string]string{}
	for _, r := range roles.Items {
		before[r.Name] = r.ResourceVersion
	}
	g.Eventually(func() error { return apply(flipped) }).WithTimeout(10*time.Second).Should(Succeed(), "with no webhook the API accepts it")
	g.Eventually(func(g Gomega) {
		vc := get(t, u.GetNamespace(), u.GetName())
		g.Expect(vc.SpecMode()).To(Equal(tenancyv1alpha1.MultiNamespaceMode))
		g.Expect(vc.Status.Mode).To(Equal(tenancyv1alpha1.SingleNamespaceMode))
		g.Expect(readyReason(g, vc)).To(Equal(controllers.ReasonModeChangeRejected))
	}).WithTimeout(30 * time.Second).Should(Succeed())

	var clusterRoles rbacv1.ClusterRoleList
	g.Expect(k8s.List(ctx, &clusterRoles, client.MatchingLabels{tenancyv1alpha1.LabelVirtualClusterNamespace: u.GetNamespace()})).To(Succeed())
	g.Expect(clusterRoles.Items).To(BeEmpty(), "no ClusterRole appears for a rejected mode")
	g.Expect(k8s.List(ctx, &roles, client.InNamespace(u.GetNamespace()))).To(Succeed())
	after := map[string]string{}
	for _, r := range roles.Items {
		after[r.Name] = r.ResourceVersion
	}
	g.Expect(after).To(Equal(before), "the host objects are untouched")

	// With the webhook back, putting the mode back is admitted (it is the
	// mode the cluster runs in) and the operator carries on.
	restore()
	g.Eventually(func() error { return apply(u) }).WithTimeout(10*time.Second).Should(Succeed(), "reverting to the running mode is allowed")
	g.Eventually(func(g Gomega) {
		vc := get(t, u.GetNamespace(), u.GetName())
		g.Expect(vc.SpecMode()).To(Equal(tenancyv1alpha1.SingleNamespaceMode))
		g.Expect(vc.Status.ObservedGeneration).To(Equal(vc.Generation))
		g.Expect(readyReason(g, vc)).NotTo(Equal(controllers.ReasonModeChangeRejected))
	}).WithTimeout(30 * time.Second).Should(Succeed())
	// And flipping again is denied once more.
	g.Eventually(func() error { return apply(flipped) }).WithTimeout(10 * time.Second).Should(MatchError(ContainSubstring("cannot change from false to true")))
}

func readyReason(g Gomega, vc *tenancyv1alpha1.VirtualCluster) string {
	ready := findCondition(vc, controllers.ConditionReady)
	g.Expect(ready).NotTo(BeNil())
	return ready.Reason
}

func findCondition(vc *tenancyv1alpha1.VirtualCluster, t string) *metav1.Condition {
	for i := range vc.Status.Conditions {
		if vc.Status.Conditions[i].Type == t {
			return &vc.Status.Conditions[i]
		}
	}
	return nil
}

// TestAStatusWriteCannotOpenTheMode: the recorded mode is trusted, so the
// API server records it first as the spec says, and never changes or drops
// it after. No operator runs here: the writes race nothing.
func TestAStatusWriteCannotOpenTheMode(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	lc, err := localcluster.Start(localcluster.Options{CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")}})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = lc.Stop() })
	scheme, _ := operator.Scheme()
	c, err := client.New(lc.Config, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())

	vc := &tenancyv1alpha1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: "tenant"}}
	g.Expect(c.Create(ctx, vc)).To(Succeed())
	writeMode := func(mode tenancyv1alpha1.Mode) error {
		live := &tenancyv1alpha1.VirtualCluster{}
		g.Expect(c.Get(ctx, client.ObjectKeyFromObject(vc), live)).To(Succeed())
		live.Status.Mode = mode
		return c.Status().Update(ctx, live)
	}
	g.Expect(writeMode(tenancyv1alpha1.MultiNamespaceMode)).To(MatchError(ContainSubstring("status.mode is first recorded as spec.experimental.multiNamespaceMode.enabled says")))
	g.Expect(writeMode(tenancyv1alpha1.SingleNamespaceMode)).To(Succeed())
	g.Expect(writeMode(tenancyv1alpha1.MultiNamespaceMode)).To(MatchError(ContainSubstring("status.mode cannot change or be removed once recorded")))
	g.Expect(writeMode("")).To(MatchError(ContainSubstring("status.mode cannot change or be removed once recorded")))
}
