// Command localrun is `make run`: it runs the operator on this machine.
//
// With a cluster configured (KUBECONFIG, ~/.kube/config, or in-cluster), it
// installs the CRD there and runs the operator against it. With none, it
// starts a control plane of its own from bin/k8s (etcd, kube-apiserver,
// kube-controller-manager), and also runs the sample's virtual control plane
// as local processes, since that control plane has no nodes to run pods on.
// Either way it applies a sample VirtualCluster and says how to reach things.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/yaml"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/controlplane"
	"github.com/nestor-dev/nestor/internal/localcluster"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/operator"
	"github.com/nestor-dev/nestor/internal/syncer"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "make run:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		sampleFile  = flag.String("sample", "config/samples/tenancy_v1alpha1_virtualcluster_single.yaml", `VirtualCluster to apply; "" applies none`)
		namespace   = flag.String("namespace", "nestor-demo", "namespace to apply the sample in")
		syncerImage = flag.String("syncer-image", "ghcr.io/nestor-dev/nestor:latest", "image of the syncer Deployments")
		stateDir    = flag.String("state-dir", ".local", "where the local control plane's kubeconfigs and logs go")
	)
	opts := zap.Options{Development: true}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	state, err := filepath.Abs(*stateDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		return err
	}

	cfg, local, err := hostCluster(state)
	if err != nil {
		return err
	}
	if local != nil {
		defer func() {
			fmt.Println("Stopping the local control plane.")
			if err := local.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}()
	} else if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{"config/crd/bases"}, ErrorIfPathMissing: true}); err != nil {
		return fmt.Errorf("installing the CRD: %w", err)
	}

	// Nothing probes the operator here, and fixed ports would clash with a
	// cluster or a test running on this machine.
	mo := manager.Options{Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"}
	if local != nil {
		// The local API server calls the webhook here, on a certificate
		// envtest made for it.
		wio := local.Env.WebhookInstallOptions
		mo.WebhookServer = webhook.NewServer(webhook.Options{Host: wio.LocalServingHost, Port: wio.LocalServingPort, CertDir: wio.LocalServingCertDir})
	}
	mgr, err := operator.NewManager(cfg, operator.Options{Manager: mo, SyncerImage: *syncerImage})
	if err != nil {
		return err
	}
	if local != nil {
		if _, err := operator.AddWebhook(mgr, nil); err != nil {
			return err
		}
	} else {
		fmt.Println("The admission webhook is off: the cluster cannot call back into this machine. `make deploy` installs it.")
	}
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(ctx) }()

	var vc *tenancyv1alpha1.VirtualCluster
	if *sampleFile != "" {
		if vc, err = applySample(ctx, mgr.GetClient(), *sampleFile, *namespace); err != nil {
			return err
		}
	}
	if local != nil && vc != nil {
		pod, err := bootVirtualControlPlane(ctx, mgr.GetAPIReader(), vc, state)
		if err != nil {
			return err
		}
		defer pod.Stop()
		syncerDone, err := runSyncer(ctx, local, mgr.GetAPIReader(), vc, state)
		if err != nil {
			return err
		}
		defer func() { cancel(); <-syncerDone }()
	}
	explain(local != nil, vc, state)

	select {
	case <-ctx.Done():
		return <-mgrDone
	case err := <-mgrDone:
		return err
	}
}

// hostCluster returns the configured cluster, or starts a local one when
// none is configured. A configured cluster that does not answer is an error,
// not a reason to fall back: the user meant that cluster.
func hostCluster(state string) (*rest.Config, *localcluster.Cluster, error) {
	if configured() {
		cfg, err := ctrl.GetConfig()
		if err != nil {
			return nil, nil, fmt.Errorf("loading kubeconfig: %w", err)
		}
		dc, err := discovery.NewDiscoveryClientForConfig(cfg)
		if err != nil {
			return nil, nil, err
		}
		v, err := dc.ServerVersion()
		if err != nil {
			return nil, nil, fmt.Errorf("the configured cluster %s does not answer (%w); fix KUBECONFIG, or unset it and move %s away to run against a local control plane",
				cfg.Host, err, clientcmd.RecommendedHomeFile)
		}
		fmt.Printf("Using the cluster of your kubeconfig: %s (Kubernetes %s).\n", cfg.Host, v.GitVersion)
		return cfg, nil, nil
	}

	fmt.Println("No cluster configured: starting etcd, kube-apiserver and kube-controller-manager from bin/k8s.")
	lc, err := localcluster.Start(localcluster.Options{
		CRDDirectoryPaths:     []string{"config/crd/bases"},
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{"config/webhook"}},
		Controllers:           localcluster.Workloads,
		// The samples' service range, so that the sample's services show
		// the cluster IPs the host gives them.
		APIServerArgs: map[string]string{"service-cluster-ip-range": "10.96.0.0/12"},
		LogDir:        state,
	})
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(filepath.Join(state, "kubeconfig"), lc.Kubeconfig, 0o600); err != nil {
		return nil, nil, errors.Join(err, lc.Stop())
	}
	return lc.Config, lc, nil
}

// configured reports whether a cluster is configured the way kubectl finds
// one: $KUBECONFIG, ~/.kube/config, or running inside a cluster.
func configured() bool {
	if os.Getenv(clientcmd.RecommendedConfigPathEnvVar) != "" || os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		return true
	}
	_, err := os.Stat(clientcmd.RecommendedHomeFile)
	return err == nil
}

// applySample server-side applies the sample VirtualCluster into namespace.
func applySample(ctx context.Context, c client.Client, file, namespace string) (*tenancyv1alpha1.VirtualCluster, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	vc := &tenancyv1alpha1.VirtualCluster{}
	if err := yaml.UnmarshalStrict(b, vc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	vc.Namespace = namespace
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating namespace %s: %w", namespace, err)
	}
	if err := c.Create(ctx, vc); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating VirtualCluster %s/%s: %w", namespace, vc.Name, err)
	}
	fmt.Printf("Applied VirtualCluster %s/%s from %s.\n", namespace, vc.Name, file)
	return vc, nil
}

// bootVirtualControlPlane runs the sample's control-plane pod on this
// machine, as a kubelet would but on free ports, and writes a kubeconfig
// for it.
func bootVirtualControlPlane(ctx context.Context, c client.Reader, vc *tenancyv1alpha1.VirtualCluster, state string) (*localcluster.Pod, error) {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	sts, certs, kubeconfig := &appsv1.StatefulSet{}, &corev1.Secret{}, &corev1.Secret{}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		for name, obj := range map[string]client.Object{n.ControlPlane: sts, n.Certs: certs, n.Kubeconfig: kubeconfig} {
			if err := c.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: name}, obj); err != nil {
				return false, client.IgnoreNotFound(err)
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for the operator to create %s's control plane: %w", vc.Name, err)
	}
	assets, err := localcluster.AssetsDir()
	if err != nil {
		return nil, err
	}
	root := filepath.Join(state, vc.Name)
	if err := os.RemoveAll(root); err != nil {
		return nil, err
	}
	pod, err := localcluster.RunPod(sts.Spec.Template.Spec, localcluster.PodOptions{
		Root:        root,
		Assets:      assets,
		Secrets:     map[string]*corev1.Secret{certs.Name: certs},
		FieldValues: map[string]string{"POD_NAME": sts.Name + "-0", "POD_IP": "127.0.0.1"},
		FreePorts:   true,
	})
	if err != nil {
		return nil, err
	}
	raw, err := clientcmd.Load(kubeconfig.Data["config"])
	if err != nil {
		pod.Stop()
		return nil, err
	}
	for _, cluster := range raw.Clusters {
		cluster.Server = fmt.Sprintf("https://127.0.0.1:%d", pod.Port(controlplane.APIServerPort))
	}
	if err := clientcmd.WriteToFile(*raw, filepath.Join(state, vc.Name+".kubeconfig")); err != nil {
		pod.Stop()
		return nil, err
	}
	return pod, nil
}

// runSyncer runs the sample's syncer in this process, as its Deployment
// would: with the configuration the operator rendered, as the syncer's
// ServiceAccount on the host, and as the administrator of the virtual
// cluster booted above.
func runSyncer(ctx context.Context, lc *localcluster.Cluster, c client.Reader, vc *tenancyv1alpha1.VirtualCluster, state string) (<-chan error, error) {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	cm := &corev1.ConfigMap{}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: n.Syncer}, cm)
		return err == nil, client.IgnoreNotFound(err)
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for the operator to render %s's syncer configuration: %w", vc.Name, err)
	}
	dir := filepath.Join(state, vc.Name+"-syncer")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	configFile := filepath.Join(dir, syncerconfig.FileName)
	if err := os.WriteFile(configFile, []byte(cm.Data[syncerconfig.FileName]), 0o600); err != nil {
		return nil, err
	}
	host := rest.CopyConfig(lc.Config)
	host.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + vc.Namespace + ":" + n.SyncerServiceAccount}
	done := make(chan error, 1)
	go func() {
		err := syncer.Run(ctx, syncer.RunOptions{
			ConfigFile: configFile, VirtualKubeconfig: filepath.Join(state, vc.Name+".kubeconfig"), Host: host,
			MetricsBindAddress: "0", HealthProbeBindAddress: "0",
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "syncer:", err)
		}
		done <- err
	}()
	return done, nil
}

func explain(local bool, vc *tenancyv1alpha1.VirtualCluster, state string) {
	fmt.Println()
	fmt.Println("The operator is running. In another terminal:")
	if local {
		fmt.Printf("  export KUBECONFIG=%s\n", filepath.Join(state, "kubeconfig"))
	}
	fmt.Println("  kubectl get virtualclusters -A")
	if vc != nil {
		fmt.Printf("  kubectl describe virtualcluster -n %s %s\n", vc.Namespace, vc.Name)
		fmt.Printf("  kubectl get statefulsets,deployments,services,secrets,roles -n %s\n", vc.Namespace)
	}
	if local && vc != nil {
		fmt.Println()
		fmt.Printf("The local control plane has no nodes, so the control-plane pod of %s runs here as\n", vc.Name)
		fmt.Printf("processes instead (logs in %s). Talk to the virtual cluster itself with:\n", filepath.Join(state, vc.Name))
		fmt.Printf("  kubectl --kubeconfig %s get namespaces\n", filepath.Join(state, vc.Name+".kubeconfig"))
		fmt.Println("Its status stays Provisioning: no kubelet reports the pod running.")
		fmt.Println("Its syncer runs here too: what you create in the virtual cluster appears on the host, e.g.")
		fmt.Printf("  kubectl --kubeconfig %s create deployment web --image=nginx\n", filepath.Join(state, vc.Name+".kubeconfig"))
		fmt.Printf("  kubectl get pods -n %s    # web-...-x-default-x-%s\n", vc.Namespace, vc.Name)
	}
	fmt.Println()
	fmt.Println("Press Ctrl-C to stop.")
}
