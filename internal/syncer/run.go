package syncer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/nestor-dev/nestor/internal/clientlimit"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
)

// RunOptions are the syncer command's.
type RunOptions struct {
	// ConfigFile is the configuration the operator renders, mounted from
	// its ConfigMap.
	ConfigFile string
	// VirtualKubeconfig is the virtual cluster's admin kubeconfig.
	VirtualKubeconfig string
	// Host reaches the host cluster: the pod's ServiceAccount in a
	// deployment, a kubeconfig for local runs.
	Host *rest.Config
	// LeaderElection, MetricsBindAddress, HealthProbeBindAddress,
	// PprofBindAddress, KubeletBindAddress: see Options.
	LeaderElection                                                                   bool
	MetricsBindAddress, HealthProbeBindAddress, PprofBindAddress, KubeletBindAddress string
	// Workers and Limit: see Options.
	Workers int
	Limit   clientlimit.Limit
}

// Run runs the syncer until ctx ends. When the configuration file changes
// (the kubelet updates a mounted ConfigMap in place), the syncer stops and
// starts again with the new one: everything it knows lives in the two API
// servers, so nothing is lost, and its caches fill again from them.
func Run(ctx context.Context, o RunOptions) error {
	log := logf.FromContext(ctx).WithName("syncer")
	virtual, err := clientcmd.BuildConfigFromFlags("", o.VirtualKubeconfig)
	if err != nil {
		return fmt.Errorf("reading the virtual cluster's kubeconfig %s: %w", o.VirtualKubeconfig, err)
	}
	// The control plane and the syncer start together: wait for it rather
	// than fail and be restarted.
	if err := waitForAPIServer(ctx, virtual); err != nil {
		return err
	}
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer watcher.Close()
	// A mounted ConfigMap is swapped in by renaming a directory: watch the
	// directory, not the file.
	if err := watcher.Add(filepath.Dir(o.ConfigFile)); err != nil {
		return fmt.Errorf("watching %s: %w", o.ConfigFile, err)
	}
	for {
		raw, err := os.ReadFile(o.ConfigFile)
		if err != nil {
			return fmt.Errorf("reading the syncer configuration: %w", err)
		}
		cfg, err := syncerconfig.Parse(raw)
		if err != nil {
			return err
		}
		mgr, err := New(ctx, Options{
			Config: cfg, Host: o.Host, Virtual: virtual, LeaderElection: o.LeaderElection,
			MetricsBindAddress: o.MetricsBindAddress, HealthProbeBindAddress: o.HealthProbeBindAddress, PprofBindAddress: o.PprofBindAddress,
			KubeletBindAddress: o.KubeletBindAddress, Workers: o.Workers, Limit: o.Limit,
		})
		if err != nil {
			return err
		}
		if err := errors.Join(mgr.AddHealthzCheck("ping", healthz.Ping), mgr.AddReadyzCheck("ping", healthz.Ping)); err != nil {
			return err
		}
		runCtx, stop := context.WithCancel(ctx)
		changed := make(chan struct{})
		go func() {
			defer stop()
			for {
				select {
				case <-runCtx.Done():
					return
				case <-watcher.Events:
					if now, err := os.ReadFile(o.ConfigFile); err == nil && !bytes.Equal(now, raw) {
						close(changed)
						return
					}
				case err := <-watcher.Errors:
					log.Error(err, "watching the configuration")
				}
			}
		}()
		log.Info("starting", "virtualCluster", cfg.VirtualCluster.Namespace+"/"+cfg.VirtualCluster.Name, "mode", cfg.Mode)
		err = mgr.Start(runCtx)
		stop()
		select {
		case <-changed:
			log.Info("the configuration changed; starting again with it")
			continue
		default:
		}
		return err
	}
}

// waitForAPIServer waits until the virtual cluster's API server answers.
func waitForAPIServer(ctx context.Context, cfg *rest.Config) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	log := logf.FromContext(ctx).WithName("syncer")
	err = wait.PollUntilContextCancel(ctx, 2*time.Second, true, func(context.Context) (bool, error) {
		if _, err := dc.ServerVersion(); err != nil {
			log.Info("waiting for the virtual cluster's API server", "host", cfg.Host, "error", err.Error())
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the virtual cluster's API server at %s: %w", cfg.Host, err)
	}
	return nil
}
