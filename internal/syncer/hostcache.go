package syncer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// namespacesCache is the host cache in multi-namespace mode.
//
// The syncer may read the kinds it syncs only in its own host namespaces,
// where it binds its per-namespace ClusterRole, and the API cannot list a
// kind across "the namespaces I may read": so each host namespace gets a
// cache of its own, watched once the syncer's grant there works (watch)
// and forgotten once the namespace is gone (forget). Cluster-scoped kinds
// (namespaces, the host's fromHost kinds) come from one cluster-wide cache.
//
// A namespace not watched reads as empty. Watching it replays its objects
// as events to every handler, which brings back each reconcile that read it
// empty.
type namespacesCache struct {
	cluster cache.Cache
	scheme  *runtime.Scheme
	mapper  meta.RESTMapper
	// newCache makes the cache of one host namespace.
	newCache func(namespace string) (cache.Cache, error)

	mu sync.Mutex
	// ctx is Start's, nil before: the namespaces' caches run under it.
	ctx        context.Context
	running    sync.WaitGroup
	namespaces map[string]watchedNamespace
	// informers are the namespaced kinds' informers handed out, each over
	// every watched namespace.
	informers map[schema.GroupVersionKind]*spreadInformer
}

type watchedNamespace struct {
	cache cache.Cache
	stop  context.CancelFunc
}

var _ cache.Cache = &namespacesCache{}

// newNamespacesCache is a cluster.Options.NewCache: opts select what it
// holds as they would for one cache, their cluster-scoped ByObject entries
// for the cluster-wide cache, their namespaced ones for each namespace's.
func newNamespacesCache(config *rest.Config, opts cache.Options) (cache.Cache, error) {
	clusterOpts, namespaceOpts := opts, opts
	clusterOpts.ByObject, namespaceOpts.ByObject = map[client.Object]cache.ByObject{}, map[client.Object]cache.ByObject{}
	for obj, by := range opts.ByObject {
		namespaced, err := apiutil.IsObjectNamespaced(obj, opts.Scheme, opts.Mapper)
		if err != nil {
			return nil, fmt.Errorf("the scope of %T in the host cache: %w", obj, err)
		}
		if namespaced {
			namespaceOpts.ByObject[obj] = by
		} else {
			clusterOpts.ByObject[obj] = by
		}
	}
	cluster, err := cache.New(config, clusterOpts)
	if err != nil {
		return nil, err
	}
	return &namespacesCache{
		cluster: cluster,
		scheme:  opts.Scheme,
		mapper:  opts.Mapper,
		newCache: func(namespace string) (cache.Cache, error) {
			o := namespaceOpts
			o.DefaultNamespaces = map[string]cache.Config{namespace: {}}
			return cache.New(config, o)
		},
		namespaces: map[string]watchedNamespace{},
		informers:  map[schema.GroupVersionKind]*spreadInformer{},
	}, nil
}

// watch starts the cache of host namespace namespace, if it has none: the
// syncer must hold its grant there, or its informers never sync.
func (c *namespacesCache) watch(namespace string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.namespaces[namespace]; ok {
		return nil
	}
	if c.ctx == nil {
		return errors.New("the host cache has not started")
	}
	nc, err := c.newCache(namespace)
	if err != nil {
		return fmt.Errorf("making the cache of host namespace %s: %w", namespace, err)
	}
	ctx, stop := context.WithCancel(c.ctx)
	c.running.Go(func() {
		if err := nc.Start(ctx); err != nil {
			logf.FromContext(ctx).Error(err, "the cache of a host namespace stopped", "namespace", namespace)
		}
	})
	c.namespaces[namespace] = watchedNamespace{cache: nc, stop: stop}
	// With no informer yet, this returns once the cache has started: a
	// read of a cache not started fails rather than waits.
	if !nc.WaitForCacheSync(ctx) {
		c.forgetLocked(namespace)
		return fmt.Errorf("the cache of host namespace %s did not start", namespace)
	}
	for _, s := range c.informers {
		inf, err := nc.GetInformer(ctx, s.obj, cache.BlockUntilSynced(false))
		if err == nil {
			err = s.add(namespace, inf)
		}
		if err != nil {
			c.forgetLocked(namespace)
			return fmt.Errorf("watching %T in host namespace %s: %w", s.obj, namespace, err)
		}
	}
	return nil
}

// forget stops the cache of host namespace namespace, which is gone.
func (c *namespacesCache) forget(namespace string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetLocked(namespace)
}

func (c *namespacesCache) forgetLocked(namespace string) {
	w, ok := c.namespaces[namespace]
	if !ok {
		return
	}
	for _, s := range c.informers {
		s.remove(namespace)
	}
	w.stop()
	delete(c.namespaces, namespace)
}

func (c *namespacesCache) watched(namespace string) (cache.Cache, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.namespaces[namespace]
	return w.cache, ok
}

// kindOf is obj's kind, a list's items' for a list.
func (c *namespacesCache) kindOf(obj runtime.Object) (schema.GroupVersionKind, bool, error) {
	gvk, err := apiutil.GVKForObject(obj, c.scheme)
	if err != nil {
		return gvk, false, err
	}
	if meta.IsListType(obj) {
		gvk.Kind = strings.TrimSuffix(gvk.Kind, "List")
	}
	namespaced, err := apiutil.IsGVKNamespaced(gvk, c.mapper)
	return gvk, namespaced, err
}

// Get reads a cluster-scoped object from the cluster-wide cache, a
// namespaced one from its namespace's.
func (c *namespacesCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	gvk, namespaced, err := c.kindOf(obj)
	if err != nil {
		return err
	}
	if !namespaced {
		return c.cluster.Get(ctx, key, obj, opts...)
	}
	nc, ok := c.watched(key.Namespace)
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, key.Name)
	}
	return nc.Get(ctx, key, obj, opts...)
}

// List lists a cluster-scoped kind, or a namespaced kind in one namespace.
func (c *namespacesCache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	_, namespaced, err := c.kindOf(list)
	if err != nil {
		return err
	}
	if !namespaced {
		return c.cluster.List(ctx, list, opts...)
	}
	o := (&client.ListOptions{}).ApplyOptions(opts)
	if o.Namespace == "" {
		return fmt.Errorf("listing %T in every host namespace: the syncer's host cache lists one namespace at a time", list)
	}
	nc, ok := c.watched(o.Namespace)
	if !ok {
		return meta.SetList(list, nil)
	}
	return nc.List(ctx, list, opts...)
}

// GetInformer hands out a cluster-scoped kind's informer, or a namespaced
// kind's over every watched namespace, those watched later too.
func (c *namespacesCache) GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error) {
	gvk, namespaced, err := c.kindOf(obj)
	if err != nil {
		return nil, err
	}
	if !namespaced {
		return c.cluster.GetInformer(ctx, obj, opts...)
	}
	s, err := c.spread(ctx, gvk, obj)
	if err != nil {
		return nil, err
	}
	o := cache.InformerGetOptions{}
	for _, opt := range opts {
		opt(&o)
	}
	if (o.BlockUntilSynced == nil || *o.BlockUntilSynced) && !toolscache.WaitForCacheSync(ctx.Done(), s.HasSynced) {
		return nil, apierrors.NewTimeoutError(fmt.Sprintf("waiting for the %s informers of the host namespaces to sync", gvk.Kind), 0)
	}
	return s, nil
}

func (c *namespacesCache) spread(ctx context.Context, gvk schema.GroupVersionKind, obj client.Object) (*spreadInformer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.informers[gvk]; ok {
		return s, nil
	}
	s := &spreadInformer{kind: gvk.Kind, obj: obj.DeepCopyObject().(client.Object), byNamespace: map[string]cache.Informer{}}
	for ns, w := range c.namespaces {
		inf, err := w.cache.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
		if err != nil {
			return nil, fmt.Errorf("watching %s in host namespace %s: %w", gvk.Kind, ns, err)
		}
		if err := s.add(ns, inf); err != nil {
			return nil, err
		}
	}
	c.informers[gvk] = s
	return s, nil
}

// GetInformerForKind is GetInformer for an object of kind gvk.
func (c *namespacesCache) GetInformerForKind(ctx context.Context, gvk schema.GroupVersionKind, opts ...cache.InformerGetOption) (cache.Informer, error) {
	var obj client.Object = newUnstructured(gvk)
	if c.scheme.Recognizes(gvk) {
		typed, err := c.scheme.New(gvk)
		if err != nil {
			return nil, err
		}
		var ok bool
		if obj, ok = typed.(client.Object); !ok {
			return nil, fmt.Errorf("%s is not a client.Object", gvk)
		}
	}
	return c.GetInformer(ctx, obj, opts...)
}

// RemoveInformer stops a kind's informers.
func (c *namespacesCache) RemoveInformer(ctx context.Context, obj client.Object) error {
	gvk, namespaced, err := c.kindOf(obj)
	if err != nil {
		return err
	}
	if !namespaced {
		return c.cluster.RemoveInformer(ctx, obj)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.informers, gvk)
	for ns, w := range c.namespaces {
		if err := w.cache.RemoveInformer(ctx, obj); err != nil {
			return fmt.Errorf("removing the %s informer of host namespace %s: %w", gvk.Kind, ns, err)
		}
	}
	return nil
}

// Start runs the cluster-wide cache, and the namespaces' as they are
// watched, until ctx ends.
func (c *namespacesCache) Start(ctx context.Context) error {
	c.mu.Lock()
	c.ctx = ctx
	c.mu.Unlock()
	err := c.cluster.Start(ctx)
	c.running.Wait()
	return err
}

// WaitForCacheSync waits for the cluster-wide cache and every watched
// namespace's.
func (c *namespacesCache) WaitForCacheSync(ctx context.Context) bool {
	c.mu.Lock()
	caches := []cache.Cache{c.cluster}
	for _, w := range c.namespaces {
		caches = append(caches, w.cache)
	}
	c.mu.Unlock()
	for _, nc := range caches {
		if !nc.WaitForCacheSync(ctx) {
			return false
		}
	}
	return true
}

// IndexField indexes a cluster-scoped kind. Nothing indexes the syncer's
// namespaced host kinds, and their informers come and go with namespaces.
func (c *namespacesCache) IndexField(ctx context.Context, obj client.Object, field string, extract client.IndexerFunc) error {
	gvk, namespaced, err := c.kindOf(obj)
	if err != nil {
		return err
	}
	if namespaced {
		return fmt.Errorf("indexing %s by %s: the host cache indexes no namespaced kind in multi-namespace mode", gvk.Kind, field)
	}
	return c.cluster.IndexField(ctx, obj, field, extract)
}

// spreadInformer is one namespaced kind's informer over the watched host
// namespaces: each handler is added to every namespace's informer, to
// those watched later as they are.
type spreadInformer struct {
	kind string
	obj  client.Object

	mu          sync.Mutex
	byNamespace map[string]cache.Informer
	handlers    []*spreadRegistration
}

// spreadRegistration is one handler's registrations with the namespaces'
// informers. Its spreadInformer's mutex guards them.
type spreadRegistration struct {
	spread      *spreadInformer
	handler     toolscache.ResourceEventHandler
	options     toolscache.HandlerOptions
	byNamespace map[string]toolscache.ResourceEventHandlerRegistration
}

var _ cache.Informer = &spreadInformer{}

// add spreads the handlers to namespace's informer.
func (s *spreadInformer) add(namespace string, inf cache.Informer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byNamespace[namespace] = inf
	for _, r := range s.handlers {
		reg, err := inf.AddEventHandlerWithOptions(r.handler, r.options)
		if err != nil {
			return fmt.Errorf("adding a %s handler in host namespace %s: %w", s.kind, namespace, err)
		}
		r.byNamespace[namespace] = reg
	}
	return nil
}

// remove drops namespace's informer, which is being stopped.
func (s *spreadInformer) remove(namespace string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inf, ok := s.byNamespace[namespace]
	if !ok {
		return
	}
	for _, r := range s.handlers {
		if reg, ok := r.byNamespace[namespace]; ok {
			// The informer stops with its cache: a handler it keeps is
			// never called again.
			_ = inf.RemoveEventHandler(reg)
			delete(r.byNamespace, namespace)
		}
	}
	delete(s.byNamespace, namespace)
}

func (s *spreadInformer) AddEventHandler(h toolscache.ResourceEventHandler) (toolscache.ResourceEventHandlerRegistration, error) {
	return s.AddEventHandlerWithOptions(h, toolscache.HandlerOptions{})
}

func (s *spreadInformer) AddEventHandlerWithResyncPeriod(h toolscache.ResourceEventHandler, resync time.Duration) (toolscache.ResourceEventHandlerRegistration, error) {
	return s.AddEventHandlerWithOptions(h, toolscache.HandlerOptions{ResyncPeriod: &resync})
}

func (s *spreadInformer) AddEventHandlerWithOptions(h toolscache.ResourceEventHandler, o toolscache.HandlerOptions) (toolscache.ResourceEventHandlerRegistration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &spreadRegistration{spread: s, handler: h, options: o, byNamespace: map[string]toolscache.ResourceEventHandlerRegistration{}}
	for ns, inf := range s.byNamespace {
		reg, err := inf.AddEventHandlerWithOptions(h, o)
		if err != nil {
			return nil, fmt.Errorf("adding a %s handler in host namespace %s: %w", s.kind, ns, err)
		}
		r.byNamespace[ns] = reg
	}
	s.handlers = append(s.handlers, r)
	return r, nil
}

func (s *spreadInformer) RemoveEventHandler(handle toolscache.ResourceEventHandlerRegistration) error {
	r, ok := handle.(*spreadRegistration)
	if !ok {
		return fmt.Errorf("%T is no registration of the host namespaces' %s informer", handle, s.kind)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for ns, reg := range r.byNamespace {
		if err := s.byNamespace[ns].RemoveEventHandler(reg); err != nil {
			return err
		}
	}
	s.handlers = slices.DeleteFunc(s.handlers, func(h *spreadRegistration) bool { return h == r })
	return nil
}

// AddIndexers is refused, as the host cache's IndexField is.
func (s *spreadInformer) AddIndexers(toolscache.Indexers) error {
	return fmt.Errorf("indexing %s: the host cache indexes no namespaced kind in multi-namespace mode", s.kind)
}

// HasSynced reports whether every watched namespace's informer has synced.
func (s *spreadInformer) HasSynced() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, inf := range s.byNamespace {
		if !inf.HasSynced() {
			return false
		}
	}
	return true
}

func (s *spreadInformer) HasSyncedChecker() toolscache.DoneChecker {
	s.mu.Lock()
	defer s.mu.Unlock()
	checkers := make([]toolscache.DoneChecker, 0, len(s.byNamespace))
	for _, inf := range s.byNamespace {
		checkers = append(checkers, inf.HasSyncedChecker())
	}
	return allDone("the host namespaces' "+s.kind+" informers", checkers)
}

// IsStopped reports whether every watched namespace's informer has
// stopped, and there is one.
func (s *spreadInformer) IsStopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, inf := range s.byNamespace {
		if !inf.IsStopped() {
			return false
		}
	}
	return len(s.byNamespace) > 0
}

// HasSynced reports whether the handler has seen every watched namespace's
// first list.
func (r *spreadRegistration) HasSynced() bool {
	r.spread.mu.Lock()
	defer r.spread.mu.Unlock()
	for _, reg := range r.byNamespace {
		if !reg.HasSynced() {
			return false
		}
	}
	return true
}

func (r *spreadRegistration) HasSyncedChecker() toolscache.DoneChecker {
	r.spread.mu.Lock()
	defer r.spread.mu.Unlock()
	checkers := make([]toolscache.DoneChecker, 0, len(r.byNamespace))
	for _, reg := range r.byNamespace {
		checkers = append(checkers, reg.HasSyncedChecker())
	}
	return allDone("a handler of the host namespaces' "+r.spread.kind+" informers", checkers)
}

// allDone is done once every one of checkers is, those of the namespaces
// watched when it was asked for.
func allDone(name string, checkers []toolscache.DoneChecker) toolscache.DoneChecker {
	d := doneChecker{name: name, done: make(chan struct{})}
	go func() {
		for _, c := range checkers {
			<-c.Done()
		}
		close(d.done)
	}()
	return d
}

type doneChecker struct {
	name string
	done chan struct{}
}

func (d doneChecker) Name() string          { return d.name }
func (d doneChecker) Done() <-chan struct{} { return d.done }
