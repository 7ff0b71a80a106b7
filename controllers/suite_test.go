package controllers_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/localcluster"
	"github.com/nestor-dev/nestor/internal/operator"
)

const syncerImage = "example.com/nestor:test"

// fromHostSelectors are the operator's --from-host-selector.
var fromHostSelectors = map[string]string{"clusterissuers.cert-manager.io": "tenants=shared"}

var (
	cluster *localcluster.Cluster
	// k8s is the tests' own client, straight to the API server.
	k8s client.Client
	// mgr is the operator under test, built exactly as the binary builds it.
	mgr manager.Manager
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.Level(zapLevel()))))
	var err error
	cluster, err = localcluster.Start(localcluster.Options{
		// The host has cert-manager's definitions, which a sample syncs.
		CRDDirectoryPaths: []string{filepath.Join("..", "config", "crd", "bases"), filepath.Join("testdata", "crds")},
		// A VirtualCluster's deletion waits for the syncer's claims, which go
		// once no pod uses them: the protection controller says so.
		Controllers: append(slices.Clone(localcluster.GarbageCollection), "persistentvolumeclaim-protection-controller"),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the local cluster:", err)
		}
	}()

	scheme, err := operator.Scheme()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if k8s, err = client.New(cluster.Config, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	// The operator runs with exactly the permissions config/rbac/role.yaml
	// gives it, as the ServiceAccount that config/default deploys.
	cfg, err := cluster.ImpersonateWithRole(filepath.Join("..", "config", "rbac", "role.yaml"), "nestor-system", "nestor-controller-manager")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	operatorConfig = func() *rest.Config { return rest.CopyConfig(cfg) }
	mgr, err = operator.NewManager(operatorConfig(), operator.Options{
		Manager: manager.Options{
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
		},
		SyncerImage:       syncerImage,
		FromHostSelectors: fromHostSelectors,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "operator:", err)
		}
	}()
	return m.Run()
}

const (
	operatorNamespace      = "nestor-system"
	operatorServiceAccount = "nestor-controller-manager"
)

// operatorConfig reaches the API server as the operator's ServiceAccount,
// with exactly the permissions config/rbac/role.yaml grants.
var operatorConfig func() *rest.Config

func zapLevel() int8 {
	if os.Getenv("NESTOR_TEST_VERBOSE") != "" {
		return -2
	}
	return 2 // errors only
}

// newNamespace creates a namespace for one test.
func newNamespace(t testing.TB) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "test-" + rand.String(6)}}
	NewWithT(t).Expect(k8s.Create(context.Background(), ns)).To(Succeed())
	return ns.Name
}

// sample reads a manifest from config/samples and places it in namespace,
// untyped: the API server gets it as kubectl would send it, and defaults it.
func sample(t testing.TB, file, namespace string) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "config", "samples", file))
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{}
	NewWithT(t).Expect(yaml.Unmarshal(b, &u.Object)).To(Succeed())
	u.SetNamespace(namespace)
	return u
}

// create creates obj and returns the VirtualCluster the API server stored.
func create(t testing.TB, obj *unstructured.Unstructured) *tenancyv1alpha1.VirtualCluster {
	t.Helper()
	g := NewWithT(t)
	g.Expect(k8s.Create(context.Background(), obj)).To(Succeed())
	vc := &tenancyv1alpha1.VirtualCluster{}
	g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, vc)).To(Succeed())
	return vc
}

const (
	timeout = 30 * time.Second
	poll    = 100 * time.Millisecond
)

// get returns the current state of vc.
func get(g Gomega, vc *tenancyv1alpha1.VirtualCluster) *tenancyv1alpha1.VirtualCluster {
	out := &tenancyv1alpha1.VirtualCluster{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(vc), out)).To(Succeed())
	return out
}
