// Command nestor is Nestor's one binary. "nestor manager" runs the operator;
// "nestor syncer" runs a virtual cluster's syncer; "nestor hosts-file" is
// the init container the syncer gives a tenant pod of a subdomain.
package main

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/nestor-dev/nestor/internal/clientlimit"
	"github.com/nestor-dev/nestor/internal/controlplane"
	"github.com/nestor-dev/nestor/internal/hostsfile"
	"github.com/nestor-dev/nestor/internal/memlimit"
	"github.com/nestor-dev/nestor/internal/operator"
	"github.com/nestor-dev/nestor/internal/syncer"
)

const usage = `Usage: nestor <command> [flags]

Commands:
  manager     run the operator (VirtualCluster controller)
  syncer      run a virtual cluster's syncer
  hosts-file  write a tenant pod's hosts file under its virtual names (the syncer's init container)

Run "nestor <command> -h" for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "manager":
		err = runManager(args)
	case "syncer":
		err = runSyncer(args)
	case "hosts-file":
		err = runHostsFile(args)
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "nestor: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "nestor %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// setMemoryLimit keeps the heap under the container's memory limit
// (internal/memlimit); a limit it cannot read leaves Go's default pacing.
func setMemoryLimit() {
	log := ctrl.Log.WithName("memlimit")
	soft, err := memlimit.Set()
	switch {
	case err != nil:
		log.Error(err, "no Go memory limit set; set GOMEMLIMIT to give one")
	case soft > 0:
		log.Info("Go memory limit set below the container's", "bytes", soft)
	}
}

func runManager(args []string) error {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	var (
		metricsAddr   = fs.String("metrics-bind-address", ":8443", `address of the metrics endpoint; "0" turns it off`)
		metricsSecure = fs.Bool("metrics-secure", true, "serve metrics over HTTPS, to callers the host's RBAC allows")
		probeAddr     = fs.String("health-probe-bind-address", ":8081", "address of the liveness and readiness endpoints")
		leaderElect   = fs.Bool("leader-elect", false, "elect a leader, so that only one replica reconciles")
		syncerImage   = fs.String("syncer-image", os.Getenv("NESTOR_SYNCER_IMAGE"), "image of the syncer Deployments (default $NESTOR_SYNCER_IMAGE): the operator's own")
		domain        = fs.String("host-cluster-domain", "cluster.local", "DNS domain of the host cluster")

		webhooks      = fs.Bool("enable-webhooks", true, "serve the VirtualCluster admission webhook")
		webhookPort   = fs.Int("webhook-port", operator.WebhookPort, "port of the webhook server")
		certDir       = fs.String("webhook-cert-dir", operator.WebhookCertDir, "directory of the webhook server's tls.crt and tls.key")
		manageCerts   = fs.Bool("manage-webhook-certs", true, "issue and rotate the webhook's certificate in --webhook-secret and inject its CA into --webhook-configuration; off when cert-manager does it")
		namespace     = fs.String("namespace", os.Getenv("POD_NAMESPACE"), "namespace the operator runs in (default $POD_NAMESPACE)")
		webhookSecret = fs.String("webhook-secret", operator.WebhookSecret, "Secret holding the webhook's certificate")
		webhookSvc    = fs.String("webhook-service", operator.WebhookService, "Service in front of the webhook server")
		webhookConfig = fs.String("webhook-configuration", operator.WebhookConfiguration, "ValidatingWebhookConfiguration of the webhook")
		pprofAddr     = fs.String("pprof-bind-address", "", `address of Go's profiles (/debug/pprof/); "" turns them off`)
		workers       = fs.Int("workers", operator.DefaultWorkers, "VirtualClusters reconciled at once")
		limitFlags    = clientlimit.Bind(fs)
		selectors     = fromHostSelectors{}
	)
	fs.Var(selectors, "from-host-selector", "show tenants only the host objects of a fromHost custom resource that "+
		"`<plural>.<group>=<label selector>` selects (default: all); once per kind")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	setMemoryLimit()
	if *syncerImage == "" {
		return errors.New("--syncer-image (or NESTOR_SYNCER_IMAGE) is required: the syncer runs the operator's own image")
	}
	if *webhooks && *manageCerts && *namespace == "" {
		return errors.New("--namespace (or POD_NAMESPACE) is required to manage the webhook's certificate")
	}
	if *workers < 1 {
		return fmt.Errorf("--workers=%d: give 1 or more", *workers)
	}
	limit, err := limitFlags.Limit()
	if err != nil {
		return err
	}

	metrics := metricsserver.Options{BindAddress: *metricsAddr, SecureServing: *metricsSecure}
	if *metricsSecure {
		metrics.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	// The leader's lease keeps a client of its own: an operator at its
	// limit must not lose its lease for waiting behind its own writes.
	lease := rest.CopyConfig(cfg)
	mgr, err := operator.NewManager(limit.Config(cfg), operator.Options{
		Manager: manager.Options{
			Controller:             ctrlconfig.Controller{MaxConcurrentReconciles: *workers},
			LeaderElectionConfig:   lease,
			Metrics:                metrics,
			HealthProbeBindAddress: *probeAddr,
			PprofBindAddress:       *pprofAddr,
			LeaderElection:         *leaderElect,
			WebhookServer:          ctrlwebhook.NewServer(ctrlwebhook.Options{Port: *webhookPort, CertDir: *certDir}),
		},
		SyncerImage:       *syncerImage,
		HostClusterDomain: *domain,
		FromHostSelectors: selectors,
	})
	if err != nil {
		return err
	}

	if *webhooks {
		var rotation *operator.CertRotation
		if *manageCerts {
			rotation = &operator.CertRotation{
				Namespace: *namespace, Secret: *webhookSecret, Service: *webhookSvc,
				Configuration: *webhookConfig, CertDir: *certDir,
			}
		}
		ready, err := operator.AddWebhook(mgr, rotation)
		if err != nil {
			return err
		}
		if err := mgr.AddReadyzCheck("webhook", ready); err != nil {
			return err
		}
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}

// fromHostSelectors collects --from-host-selector, checked as it is parsed.
type fromHostSelectors map[string]string

func (s fromHostSelectors) String() string {
	out := make([]string, 0, len(s))
	for _, key := range slices.Sorted(maps.Keys(s)) {
		out = append(out, key+"="+s[key])
	}
	return strings.Join(out, " ")
}

func (s fromHostSelectors) Set(value string) error {
	key, selector, ok := strings.Cut(value, "=")
	if !ok || !strings.Contains(key, ".") || len(validation.IsDNS1123Subdomain(key)) > 0 {
		return fmt.Errorf("%q is not <plural>.<group>=<label selector>, as in clusterissuers.cert-manager.io=platform.example.com/shared=true", value)
	}
	if _, dup := s[key]; dup {
		return fmt.Errorf("%s has a selector already: give each kind one, combining requirements with commas", key)
	}
	parsed, err := labels.Parse(selector)
	if err != nil {
		return fmt.Errorf("the selector of %s is not a label selector: %w", key, err)
	}
	s[key] = parsed.String()
	return nil
}

func runHostsFile(args []string) error {
	fs := flag.NewFlagSet("hosts-file", flag.ContinueOnError)
	var (
		hostname = fs.String("hostname", "", "the pod's hostname")
		fqdn     = fs.String("fqdn", "", "the pod's name in its virtual namespace: <hostname>.<subdomain>.<namespace>.svc.<domain>")
		in       = fs.String("in", "/etc/hosts", "the hosts file the host's kubelet wrote")
		out      = fs.String("out", "", "where to write the pod's hosts file")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *hostname == "" || *fqdn == "" || *out == "" {
		return errors.New("--hostname, --fqdn and --out are required")
	}
	return hostsfile.RewriteFile(*in, *out, *hostname, *fqdn)
}

func runSyncer(args []string) error {
	fs := flag.NewFlagSet("syncer", flag.ContinueOnError)
	var (
		config         = fs.String("config", "", "path of the syncer configuration the operator renders")
		virtual        = fs.String("virtual-kubeconfig", "", "path of the virtual cluster's admin kubeconfig")
		hostKubeconfig = fs.String("host-kubeconfig", "", "kubeconfig of the host cluster; the pod's ServiceAccount when empty")
		leaderElect    = fs.Bool("leader-elect", false, "elect a leader among the syncer's replicas")
		metricsAddr    = fs.String("metrics-bind-address", fmt.Sprintf(":%d", controlplane.SyncerMetricsPort), `address of the metrics endpoint; "0" turns it off`)
		probeAddr      = fs.String("health-probe-bind-address", fmt.Sprintf(":%d", controlplane.SyncerProbePort), "address of the liveness and readiness endpoints")
		kubeletAddr    = fs.String("kubelet-bind-address", fmt.Sprintf(":%d", controlplane.SyncerKubeletPort), `address of the kubelet API of the virtual cluster's Nodes; "0" turns it off`)
		pprofAddr      = fs.String("pprof-bind-address", "", `address of Go's profiles (/debug/pprof/); "" turns them off`)
		workers        = fs.Int("workers", syncer.DefaultWorkers, "objects of each kind synced at once")
		limitFlags     = clientlimit.Bind(fs)
	)
	opts := zap.Options{}
	opts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *config == "" || *virtual == "" {
		return errors.New("--config and --virtual-kubeconfig are required")
	}
	if *workers < 1 {
		return fmt.Errorf("--workers=%d: give 1 or more", *workers)
	}
	limit, err := limitFlags.Limit()
	if err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	setMemoryLimit()
	host, err := clientcmd.BuildConfigFromFlags("", *hostKubeconfig)
	if err != nil {
		return fmt.Errorf("connecting to the host: %w", err)
	}
	return syncer.Run(ctrl.SetupSignalHandler(), syncer.RunOptions{
		ConfigFile: *config, VirtualKubeconfig: *virtual, Host: host, LeaderElection: *leaderElect,
		MetricsBindAddress: *metricsAddr, HealthProbeBindAddress: *probeAddr, PprofBindAddress: *pprofAddr, KubeletBindAddress: *kubeletAddr,
		Workers: *workers, Limit: limit,
	})
}
