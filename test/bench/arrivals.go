package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// arrivals notes when each of a set of objects first exists, by watching
// their metadata only.
type arrivals struct {
	mu      sync.Mutex
	missing map[string]map[string]bool // resource, then name
	left    int
	last    time.Time
	done    chan struct{}
	stop    context.CancelFunc
}

// watchArrivals watches namespace ns of s for want: resource (of the core
// group) to the names awaited.
func watchArrivals(ctx context.Context, s *apiServer, ns string, want map[string]map[string]bool) (*arrivals, error) {
	mc, err := metadata.NewForConfig(unlimited(s.Config))
	if err != nil {
		return nil, err
	}
	a := &arrivals{missing: map[string]map[string]bool{}, done: make(chan struct{})}
	for resource, names := range want {
		a.missing[resource] = map[string]bool{}
		for name := range names {
			a.missing[resource][name] = true
			a.left++
		}
	}
	factory := metadatainformer.NewFilteredSharedInformerFactory(mc, 0, ns, nil)
	var synced []cache.InformerSynced
	for resource := range want {
		informer := factory.ForResource(schema.GroupVersionResource{Version: "v1", Resource: resource}).Informer()
		if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) { a.arrived(resource, obj.(*metav1.PartialObjectMetadata).Name) },
		}); err != nil {
			return nil, err
		}
		synced = append(synced, informer.HasSynced)
	}
	watching, stop := context.WithCancel(ctx)
	a.stop = stop
	factory.Start(watching.Done())
	if !cache.WaitForCacheSync(watching.Done(), synced...) {
		stop()
		return nil, fmt.Errorf("watching %s on the %s API server did not start", ns, s.Name)
	}
	return a, nil
}

func (a *arrivals) arrived(resource, name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.missing[resource][name] {
		return
	}
	delete(a.missing[resource], name)
	a.left--
	a.last = time.Now()
	if a.left == 0 {
		close(a.done)
	}
}

// wait returns when the last object arrived, once all have; it fails when
// timeout passes first or proc ends.
func (a *arrivals) wait(ctx context.Context, timeout time.Duration, proc *component) (time.Time, error) {
	defer a.stop()
	deadline := time.After(timeout)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-a.done:
			a.mu.Lock()
			defer a.mu.Unlock()
			return a.last, nil
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-deadline:
			a.mu.Lock()
			defer a.mu.Unlock()
			return time.Time{}, fmt.Errorf("after %v, %d objects had not arrived", timeout, a.left)
		case <-tick.C:
			if err := proc.exited(); err != nil {
				return time.Time{}, err
			}
		}
	}
}

// serviceAccountUser is the user name of ServiceAccount namespace/name.
func serviceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// grantClusterAdmin binds ServiceAccount namespace/name to cluster-admin.
func grantClusterAdmin(ctx context.Context, s *apiServer, namespace, name string) error {
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: namespace + "-" + name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: name}},
	}
	_, err := s.Admin.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{})
	return err
}

// writeKubeconfig writes user's kubeconfig to path and returns path.
func writeKubeconfig(path string, user *envtest.AuthenticatedUser) (string, error) {
	b, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, b, 0o600)
}
