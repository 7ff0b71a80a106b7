// Package syncer copies what a tenant creates in a virtual cluster to the
// host and copies status back. One controller per kind runs in a manager
// on the virtual cluster; each watches its kind on both sides, the host side
// through a cache that holds only this virtual cluster's copies.
package syncer

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/apply"
	"github.com/nestor-dev/nestor/internal/clientlimit"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/ownership"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
	"github.com/nestor-dev/nestor/internal/translate"
)

// FieldOwner is the syncer's field manager on both sides.
const FieldOwner = "nestor-syncer"

// Options configure a syncer.
type Options struct {
	// Config is what the operator rendered.
	Config syncerconfig.Config
	// Host reaches the host cluster as the syncer's ServiceAccount.
	Host *rest.Config
	// Virtual reaches the virtual cluster as its administrator.
	Virtual *rest.Config
	// LeaderElection elects one active replica, through a Lease in the
	// host namespace.
	LeaderElection bool
	// MetricsBindAddress, HealthProbeBindAddress and PprofBindAddress
	// (Go's profiles); "0" turns each off, and "" the profiles too.
	MetricsBindAddress, HealthProbeBindAddress, PprofBindAddress string
	// KubeletBindAddress is where the kubelet API of the virtual
	// cluster's Nodes is served (kubelet.go); "" or "0" turns it off.
	KubeletBindAddress string
	// Workers is how many objects of each kind sync at once; 0 is
	// DefaultWorkers.
	Workers int
	// Limit is the client-side limit of the requests to each API server;
	// zero is clientlimit.Default.
	Limit clientlimit.Limit
}

// DefaultWorkers keep a syncer that starts on thousands of objects busy
// enough that the API servers, not its queues, set the pace (docs/bench.md).
const DefaultWorkers = 16

// New builds the syncer's manager. Start runs it. The definitions of the
// custom kinds are installed in the virtual cluster first, with ctx: their
// controllers cannot start before their kinds are served.
func New(ctx context.Context, o Options) (manager.Manager, error) {
	cfg := o.Config
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))

	multi := cfg.Mode == tenancyv1alpha1.MultiNamespaceMode
	tr := translate.For(cfg)

	if o.Workers == 0 {
		o.Workers = DefaultWorkers
	}
	if o.Limit == (clientlimit.Limit{}) {
		o.Limit = clientlimit.Default
	}
	// The leader's lease keeps a client of its own: a syncer at its limit
	// must not lose its lease for waiting behind its own copies.
	lease := rest.CopyConfig(o.Host)
	o.Host, o.Virtual = o.Limit.Config(o.Host), o.Limit.Config(o.Virtual)
	direct, err := client.New(o.Virtual, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("connecting to the virtual cluster: %w", err)
	}
	if tr.Identity, err = readIdentity(ctx, direct); err != nil {
		return nil, err
	}
	defs, err := installDefinitions(ctx, direct, cfg)
	if err != nil {
		return nil, err
	}
	if err := grantDNS(ctx, direct); err != nil {
		return nil, err
	}
	// Custom resources are unstructured: read them from the caches too.
	// Each client gets options of its own: the manager and the cluster
	// fill in their own cache as the reader.
	cached := func() client.Options { return client.Options{Cache: &client.CacheOptions{Unstructured: true}} }
	mgr, err := manager.New(o.Virtual, manager.Options{
		Scheme: scheme,
		Client: cached(),
		Cache:  cache.Options{DefaultTransform: apply.OwnFieldsOnly(FieldOwner)},
		// Run starts a new manager when the configuration changes, with
		// controllers of the same names.
		Controller:                    config.Controller{SkipNameValidation: ptr.To(true), MaxConcurrentReconciles: o.Workers},
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsBindAddress},
		HealthProbeBindAddress:        o.HealthProbeBindAddress,
		PprofBindAddress:              o.PprofBindAddress,
		LeaderElection:                o.LeaderElection,
		LeaderElectionConfig:          lease,
		LeaderElectionNamespace:       cfg.HostNamespace,
		LeaderElectionID:              naming.ForVirtualCluster(cfg.HostNamespace, cfg.VirtualCluster.Name).Syncer,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the virtual cluster's manager: %w", err)
	}

	hostCache, err := hostCacheOptions(cfg, tr, multi)
	if err != nil {
		return nil, err
	}
	host, err := cluster.New(o.Host, func(co *cluster.Options) {
		co.Scheme = scheme
		co.Client = cached()
		co.Cache = hostCache
		if multi {
			co.NewCache = newNamespacesCache
		}
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to the host: %w", err)
	}
	if err := mgr.Add(host); err != nil {
		return nil, err
	}
	virtualClientset, err := kubernetes.NewForConfig(o.Virtual)
	if err != nil {
		return nil, err
	}

	e := &env{
		tr:             tr,
		cfg:            cfg,
		virtual:        mgr.GetClient(),
		virtualReader:  mgr.GetAPIReader(),
		tokens:         virtualClientset.CoreV1(),
		host:           host.GetClient(),
		hostReader:     host.GetAPIReader(),
		hostCache:      host.GetCache(),
		applier:        apply.New(host.GetClient(), host.GetAPIReader(), FieldOwner),
		virtualApplier: apply.New(mgr.GetClient(), mgr.GetAPIReader(), FieldOwner),
		definitions:    defs,
		recorder:       mgr.GetEventRecorder(FieldOwner),
		hostRecorder:   host.GetEventRecorder(FieldOwner),
		watched:        map[schema.GroupKind]func() client.Object{},
		vc:             &tenancyv1alpha1.VirtualCluster{},
		resync:         time.Minute,
	}
	e.vc.Name, e.vc.Namespace, e.vc.UID = cfg.VirtualCluster.Name, cfg.HostNamespace, cfg.VirtualCluster.UID
	if multi {
		e.hostNamespaces = host.GetCache().(*namespacesCache)
	}
	// The scheme does not know VirtualClusters: its events name it so.
	e.vc.APIVersion, e.vc.Kind = tenancyv1alpha1.GroupVersion.String(), "VirtualCluster"
	if err := e.setup(mgr); err != nil {
		return nil, err
	}
	if o.KubeletBindAddress != "" && o.KubeletBindAddress != "0" {
		kubelet, err := newKubeletServer(e, o.KubeletBindAddress, o.Host, o.Virtual)
		if err != nil {
			return nil, err
		}
		if err := mgr.Add(kubelet); err != nil {
			return nil, err
		}
	}
	return mgr, nil
}

// hostCacheOptions select this virtual cluster's copies: in its own
// namespace in single-namespace mode, where the syncer may not read
// anything cluster-wide; in each of its host namespaces in multi-namespace
// mode, where the syncer may read the synced kinds nowhere else
// (newNamespacesCache).
func hostCacheOptions(cfg syncerconfig.Config, tr translate.Context, multi bool) (cache.Options, error) {
	co := cache.Options{
		DefaultLabelSelector: labels.SelectorFromSet(tr.SelectorLabels()),
		DefaultTransform:     apply.OwnFieldsOnly(FieldOwner),
		// Events carry no labels: the event controller keeps those about
		// this virtual cluster's copies.
		ByObject: map[client.Object]cache.ByObject{&corev1.Event{}: {Label: labels.Everything()}},
	}
	// The host's objects of a FromHost kind are the platform's, selected as
	// it chose, not by the syncer's markers.
	for _, cr := range cfg.CustomResources {
		if cr.Direction != syncerconfig.FromHost {
			continue
		}
		sel, err := labels.Parse(cr.Selector)
		if err != nil {
			return co, fmt.Errorf("the selector of %s, %q: %w", cr.Resource, cr.Selector, err)
		}
		co.ByObject[newUnstructured(cr.GroupVersionKind())] = cache.ByObject{Label: sel}
	}
	if multi && cfg.FromHost.Nodes.IsEnabled() {
		// The host's nodes are the platform's: all of them, read-only.
		co.ByObject[&corev1.Node{}] = cache.ByObject{Label: labels.Everything()}
	}
	if !multi {
		co.DefaultNamespaces = map[string]cache.Config{cfg.HostNamespace: {}}
		return co, nil
	}
	// Host namespaces belong to the VirtualCluster itself, labelled as the
	// operator labels its children: its finalizer removes them, and its
	// policies apply in them.
	vc := &tenancyv1alpha1.VirtualCluster{}
	vc.Name, vc.Namespace = cfg.VirtualCluster.Name, cfg.HostNamespace
	owned := labels.SelectorFromSet(ownership.Labels(vc))
	co.ByObject[&corev1.Namespace{}] = cache.ByObject{Label: owned}
	return co, nil
}
