package syncer

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// ReasonClusterIPOutsideRange says the host's cluster IP of a service cannot
// be shown in the virtual cluster.
const ReasonClusterIPOutsideRange = "ClusterIPOutsideServiceCIDR"

// annotationClusterIPRefused marks a virtual service that the virtual
// cluster refused to re-create with the host's cluster IP, which is not
// tried again.
const annotationClusterIPRefused = "nestor.dev/host-cluster-ip-refused"

// showHostClusterIP makes virtual service v show the cluster IP of its host
// copy h, the address pods on the host actually reach it at. A service's
// cluster IP cannot change, so v is re-created with h's (as vcluster does):
// this needs the virtual cluster's service range to hold the host's
// addresses, which spec.networking.serviceCIDR is for.
func (e *env) showHostClusterIP(ctx context.Context, v, h *corev1.Service) error {
	ip := h.Spec.ClusterIP
	if ip == "" || ip == corev1.ClusterIPNone || v.Spec.ClusterIP == ip || v.Spec.ClusterIP == corev1.ClusterIPNone ||
		v.Annotations[annotationClusterIPRefused] == ip {
		return nil
	}
	// Re-creating a selectorless service would lose the endpoints its
	// owner wrote by hand (the endpoints controller removes them with the
	// service), and one with finalizers would not go away to be re-created.
	if len(v.Spec.Selector) == 0 || len(v.Finalizers) > 0 {
		return nil
	}
	if !e.inServiceCIDR(ip) {
		e.recorder.Eventf(v, nil, corev1.EventTypeWarning, ReasonClusterIPOutsideRange, "Sync",
			"The host gave this service cluster IP %s, outside the virtual cluster's service range %s, so pods reach it there "+
				"and not at %s. Set spec.networking.serviceCIDR of VirtualCluster %s/%s to the host's service range when you create it.",
			ip, e.cfg.ServiceCIDR, v.Spec.ClusterIP, e.cfg.HostNamespace, e.cfg.VirtualCluster.Name)
		return nil
	}

	again := v.DeepCopy()
	again.ObjectMeta = metav1.ObjectMeta{
		Name: v.Name, Namespace: v.Namespace, Labels: v.Labels, Annotations: v.Annotations,
		OwnerReferences: v.OwnerReferences, Finalizers: v.Finalizers,
	}
	again.Spec.ClusterIP, again.Spec.ClusterIPs = ip, []string{ip}
	again.Status = corev1.ServiceStatus{}
	uid := v.UID
	if err := e.virtual.Delete(ctx, v, client.Preconditions{UID: &uid, ResourceVersion: &v.ResourceVersion}); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil // changed meanwhile: the next event brings it back
		}
		return fmt.Errorf("re-creating virtual service %s/%s with the host's cluster IP: %w", v.Namespace, v.Name, err)
	}
	if err := e.virtual.Create(ctx, again); err != nil {
		// Never lose the tenant's service: put it back as it was, with an
		// address of the virtual cluster's choosing.
		logf.FromContext(ctx).Error(err, "re-creating a virtual service with the host's cluster IP; restoring it", "service", client.ObjectKeyFromObject(v))
		again.Spec.ClusterIP, again.Spec.ClusterIPs = "", nil
		if again.Annotations == nil {
			again.Annotations = map[string]string{}
		}
		again.Annotations[annotationClusterIPRefused] = ip
		if rerr := e.virtual.Create(ctx, again); rerr != nil {
			return fmt.Errorf("restoring virtual service %s/%s after %w: %w", v.Namespace, v.Name, err, rerr)
		}
	}
	return nil
}

// inServiceCIDR reports whether ip lies in the virtual cluster's service
// range.
func (e *env) inServiceCIDR(ip string) bool {
	if e.cfg.ServiceCIDR == "" {
		return false // unknown: never delete a service on a guess
	}
	prefix, err1 := netip.ParsePrefix(e.cfg.ServiceCIDR)
	addr, err2 := netip.ParseAddr(ip)
	return err1 == nil && err2 == nil && prefix.Contains(addr)
}
