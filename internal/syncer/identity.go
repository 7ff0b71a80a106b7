package syncer

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/apply"
	"github.com/nestor-dev/nestor/internal/ownership"
)

// ReasonVirtualClusterReplaced is the Warning event on the VirtualCluster
// when the host holds copies made for another virtual cluster than the one
// the syncer reaches: its control plane's data was lost.
const ReasonVirtualClusterReplaced = "VirtualClusterReplaced"

// readIdentity returns the UID of the virtual cluster's kube-system
// namespace, which names the virtual cluster: an etcd that comes back empty
// or another one makes another. The API server creates the namespace
// shortly after it starts serving: wait for it.
func readIdentity(ctx context.Context, c client.Reader) (types.UID, error) {
	log := logf.FromContext(ctx).WithName("syncer")
	ns := &corev1.Namespace{}
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKey{Name: metav1.NamespaceSystem}, ns); err != nil {
			log.Info("waiting for the virtual cluster's kube-system namespace", "error", err.Error())
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return "", fmt.Errorf("reading the virtual cluster's kube-system namespace, which identifies it: %w", err)
	}
	return ns.UID, nil
}

// deletion says why the syncer deletes a copy, which decides whether a
// copy made for another virtual cluster goes too.
type deletion int

const (
	// requested: the tenant deletes the virtual object (it carries a
	// deletionTimestamp), which claims the copy of its name whichever
	// virtual cluster made it.
	requested deletion = iota
	// orphaned: the virtual object is absent, or no longer needs a copy.
	// Only a copy made for this virtual cluster goes: in another one, that
	// says nothing of what the tenant wants. Another's is kept and reported.
	orphaned
)

// narrow makes owned, the predicate of a copy about to be deleted for why,
// refuse a copy made for another virtual cluster when why is orphaned.
func (e *env) narrow(ctx context.Context, why deletion, owned apply.OwnedFunc) apply.OwnedFunc {
	if why == requested {
		return owned
	}
	return func(live client.Object) bool {
		if !owned(live) {
			return false
		}
		if e.tr.Current(live) {
			return true
		}
		e.reportForeign(ctx)
		return false
	}
}

// reportForeign tells the platform, once per start, that the host holds
// copies made for another virtual cluster, which the syncer keeps: a
// Warning event on the VirtualCluster, and a log line. A failed count is
// tried again at the next such copy.
func (e *env) reportForeign(ctx context.Context) {
	e.foreignMu.Lock()
	defer e.foreignMu.Unlock()
	if e.foreignReported {
		return
	}
	log := logf.FromContext(ctx).WithName("syncer")
	n, kinds, err := e.countForeign(ctx, "")
	if err != nil {
		log.Error(err, "counting the host copies made for another virtual cluster")
		return
	}
	if n == 0 {
		return // taken over meanwhile
	}
	e.foreignReported = true
	log.Info("the host holds copies made for another virtual cluster; none is deleted",
		"copies", n, "kinds", kinds, "virtualClusterUID", e.tr.Identity)
	e.hostRecorder.Eventf(e.vc, nil, corev1.EventTypeWarning, ReasonVirtualClusterReplaced, "KeepCopies", "%s", e.replacedNote(n, kinds))
}

// replacedNote says what reportForeign found, why, and what to do. It
// must stay within an event's 1024 characters.
func (e *env) replacedNote(n int, kinds []string) string {
	// Copies and host namespaces carry the virtual namespace they serve;
	// the operator's objects, which record no virtual cluster, do not. A
	// selector's != also picks what records none.
	sel := fmt.Sprintf("%s=%s,%s=%s,%s,%s!=%s",
		tenancyv1alpha1.LabelVirtualCluster, e.vc.Name, tenancyv1alpha1.LabelVirtualClusterNamespace, e.vc.Namespace,
		tenancyv1alpha1.LabelVirtualNamespace, tenancyv1alpha1.LabelVirtualClusterUID, e.tr.Identity)
	where := "-n " + e.cfg.HostNamespace
	if e.tr.Names.MultiNamespace() {
		where = "-A"
	}
	return fmt.Sprintf("%d host objects record another virtual cluster than the one the syncer reaches now "+
		"(kube-system UID %s), or none: the control plane's data was lost, as when spec.controlPlane.persistence is off "+
		"and it restarts, or they were made before Nestor recorded it. "+
		"None is deleted; an object created again under the same name takes its copy over (a pod replaces it). "+
		"Restore the control plane's data to get them back, or remove them: kubectl delete %s %s -l '%s'",
		n, e.tr.Identity, strings.Join(kinds, ","), where, sel)
}

// countForeign counts the copies of the kinds the syncer watches (and, in
// multi-namespace mode, the host namespaces) made for another virtual
// cluster, in host namespace ns or everywhere if ns is empty. It returns the
// kinds they are of, as kubectl names them. It asks the host, not the cache:
// in multi-namespace mode a host namespace the syncer has not watched since
// it started reads as empty there.
func (e *env) countForeign(ctx context.Context, ns string) (int, []string, error) {
	namespaces := []string{ns}
	n, kinds := 0, []string{}
	switch {
	case ns != "":
	case !e.tr.Names.MultiNamespace():
		namespaces = []string{e.cfg.HostNamespace}
	default:
		var list corev1.NamespaceList
		if err := e.host.List(ctx, &list); err != nil {
			return 0, nil, fmt.Errorf("listing the host namespaces: %w", err)
		}
		namespaces = namespaces[:0]
		found := 0
		for i := range list.Items {
			h := &list.Items[i]
			if _, hosts := h.Labels[tenancyv1alpha1.LabelVirtualNamespace]; !hosts || !ownership.LabelledFor(e.vc)(h) {
				continue
			}
			namespaces = append(namespaces, h.Name)
			if !e.tr.Current(h) {
				found++
			}
		}
		if found > 0 {
			n += found
			kinds = append(kinds, "namespace")
		}
	}
	seen := map[schema.GroupVersionKind]bool{}
	for _, newH := range e.watched {
		list, gvk, err := e.listOf(newH())
		if err != nil {
			return 0, nil, err
		}
		if seen[gvk] {
			continue // a pod's token and a copied Secret are both Secrets
		}
		seen[gvk] = true
		found := 0
		for _, in := range namespaces {
			if err := e.hostReader.List(ctx, list, client.InNamespace(in), client.MatchingLabels(e.tr.SelectorLabels())); err != nil {
				return 0, nil, fmt.Errorf("listing the host's %s in %s: %w", gvk.Kind, in, err)
			}
			if err := meta.EachListItem(list, func(o runtime.Object) error {
				if h, ok := o.(metav1.Object); ok {
					if _, isCopy := e.tr.OriginOf(h); isCopy && !e.tr.Current(h) {
						found++
					}
				}
				return nil
			}); err != nil {
				return 0, nil, err
			}
		}
		if found > 0 {
			n += found
			kinds = append(kinds, strings.ToLower(gvk.GroupKind().String()))
		}
	}
	slices.Sort(kinds)
	return n, kinds, nil
}

// listOf makes an empty list of obj's kind, and returns that kind.
func (e *env) listOf(obj client.Object) (client.ObjectList, schema.GroupVersionKind, error) {
	gvk, err := apiutil.GVKForObject(obj, e.host.Scheme())
	if err != nil {
		return nil, gvk, err
	}
	if _, ok := obj.(*unstructured.Unstructured); ok {
		return newUnstructuredList(gvk), gvk, nil
	}
	list, err := e.host.Scheme().New(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err != nil {
		return nil, gvk, fmt.Errorf("a list of %s: %w", gvk.Kind, err)
	}
	return list.(client.ObjectList), gvk, nil
}
