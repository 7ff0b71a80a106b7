// Package operator assembles the operator: its scheme, a manager whose caches
// hold only what Nestor manages, and the VirtualCluster controller. The
// binary, the tests and the local quick start all build it here, so they run
// the same thing.
package operator

import (
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/controllers"
	"github.com/nestor-dev/nestor/internal/apply"
)

// Options configure the operator.
type Options struct {
	// Manager holds the manager's own options (metrics, probes, leader
	// election); Scheme and cache selection are set here.
	Manager manager.Options
	// SyncerImage is the image the syncer Deployments run by default: the
	// operator's own.
	SyncerImage string
	// HostClusterDomain is the host cluster's DNS domain.
	HostClusterDomain string
	// FromHostSelectors pick, by <plural>.<group>, the host objects of a
	// fromHost custom resource that tenants see, as a label selector that
	// parses (cmd checks --from-host-selector at start).
	FromHostSelectors map[string]string
}

// Scheme knows the built-in kinds, CustomResourceDefinitions and Nestor's.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := tenancyv1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// ManagedSelector selects what Nestor manages.
func ManagedSelector() labels.Selector {
	return labels.SelectorFromSet(labels.Set{tenancyv1alpha1.LabelManagedBy: tenancyv1alpha1.ManagedByValue})
}

// DefaultWorkers reconcile VirtualClusters at once: each waits mostly on
// the API server, and hundreds arrive together when the operator starts.
const DefaultWorkers = 8

// NewManager returns a manager running the VirtualCluster controller.
func NewManager(cfg *rest.Config, o Options) (manager.Manager, error) {
	scheme, err := Scheme()
	if err != nil {
		return nil, err
	}
	mo := o.Manager
	mo.Scheme = scheme
	// A host cluster holds far more Secrets, ConfigMaps and Services than
	// Nestor made; caching only the labelled ones keeps the operator's memory
	// proportional to the virtual clusters, not to the host.
	mo.Cache.ByObject = map[client.Object]cache.ByObject{}
	mo.Cache.DefaultTransform = apply.OwnFieldsOnly(controllers.FieldOwner)
	for _, obj := range controllers.WatchedChildren() {
		mo.Cache.ByObject[obj] = cache.ByObject{Label: ManagedSelector()}
	}
	// The controller watches the metadata of every host definition: they
	// carry no label of Nestor's to select by, and the ones VirtualClusters
	// name are found by name. Their managed fields would only take memory.
	mo.Cache.ByObject[&apiextensionsv1.CustomResourceDefinition{}] = cache.ByObject{
		Label: labels.Everything(), Transform: cache.TransformStripManagedFields(),
	}
	if mo.LeaderElectionID == "" {
		mo.LeaderElectionID = "nestor-operator.tenancy.nestor.dev"
	}

	mgr, err := ctrl.NewManager(cfg, mo)
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	domain := o.HostClusterDomain
	if domain == "" {
		domain = "cluster.local"
	}
	r := &controllers.VirtualClusterReconciler{
		Client:            mgr.GetClient(),
		APIReader:         mgr.GetAPIReader(),
		Applier:           apply.New(mgr.GetClient(), mgr.GetAPIReader(), controllers.FieldOwner),
		Recorder:          mgr.GetEventRecorder("nestor-operator"),
		SyncerImage:       o.SyncerImage,
		HostClusterDomain: domain,
		FromHostSelectors: o.FromHostSelectors,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the VirtualCluster controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}
