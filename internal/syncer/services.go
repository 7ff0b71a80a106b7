package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

var kindService = schema.GroupKind{Group: corev1.GroupName, Kind: "Service"}

// ReasonClusterIPOutsideRange says the host's cluster IP of a service cannot
// be shown in the virtual cluster.
const ReasonClusterIPOutsideRange = "ClusterIPOutsideServiceCIDR"

// annotationClusterIPRefused marks a virtual service that the virtual
// cluster refused to re-create with the host's cluster IP, which is not
// tried again.
const annotationClusterIPRefused = "nestor.dev/host-cluster-ip-refused"

// annotationRestore, on the host copy of a virtual Service, records as JSON
// the Service the syncer is re-creating with the host's cluster IP (a
// cluster IP cannot change, so the virtual Service is deleted first): its
// name, labels, annotations, owners, spec and the UID of the Service it
// replaces. The host copy outlives the virtual Service, and while the
// record stands every pass re-creates the Service from it and none takes
// its absence for a deletion: a create that fails (the virtual API server
// down, a webhook, a quota) loses nothing. It goes once the re-created
// Service is there: that Service's copy does not carry it (serviceCopy).
const annotationRestore = "nestor.dev/restore-virtual-service"

// annotationNodePortsRefused marks a virtual Service that the virtual
// cluster refused to give its host copy's node ports, with those ports,
// which are not tried again.
const annotationNodePortsRefused = "nestor.dev/host-node-ports-refused"

// ReasonNodePortsNotShown says the host's node ports of a service cannot be
// shown in the virtual cluster.
const ReasonNodePortsNotShown = "HostNodePortsNotShown"

// ReasonServiceNotRestored says a virtual Service being re-created with the
// host's cluster IP could not be created yet.
const ReasonServiceNotRestored = "VirtualServiceNotRestored"

// serviceCopy is the host copy of virtual Service v, asking the host for
// v's own addresses where its copy there has none yet (withAddresses). While
// v is the Service a record stands for (the virtual cache may lag behind its
// deletion), the copy keeps the record: only the re-created Service's copy
// drops it.
func (e *env) serviceCopy(ctx context.Context, v *corev1.Service) (*corev1.Service, error) {
	return e.serviceCopyAsking(ctx, v, true)
}

// serviceCopyHostChosen is serviceCopy leaving to the host the addresses
// its copy does not have yet: what is sent when the host refuses v's own.
func (e *env) serviceCopyHostChosen(ctx context.Context, v *corev1.Service) (*corev1.Service, error) {
	return e.serviceCopyAsking(ctx, v, false)
}

func (e *env) serviceCopyAsking(ctx context.Context, v *corev1.Service, ask bool) (*corev1.Service, error) {
	desired := e.tr.Service(v)
	live := &corev1.Service{}
	switch err := e.host.Get(ctx, client.ObjectKeyFromObject(desired), live); {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return nil, err
	}
	withAddresses(desired, v, live, ask, e.cfg.ServiceCIDR)
	if live == nil {
		return desired, nil
	}
	if record, ok := live.Annotations[annotationRestore]; ok {
		if again, err := decodeRestore(record); err == nil && again.UID == v.UID {
			desired.Annotations[annotationRestore] = record
		}
	}
	return desired, nil
}

// showHost makes virtual service v show the addresses its host copy h
// answers at: its cluster IP, then its node ports.
func (e *env) showHost(ctx context.Context, v, h *corev1.Service) error {
	if err := e.showHostClusterIP(ctx, v, h); err != nil {
		return err
	}
	return e.showHostNodePorts(ctx, v, h)
}

// showHostNodePorts makes virtual service v show the node ports of its host
// copy h, where the host's nodes answer: those differ from v's where the
// host would not give v's (README, "Node ports"). A port the virtual cluster
// refuses (another Service holds it there, or its range lacks it) is
// reported once and not tried again.
func (e *env) showHostNodePorts(ctx context.Context, v, h *corev1.Service) error {
	ports, changed := hostNodePorts(v.Spec.Ports, h.Spec.Ports)
	if !changed || v.Annotations[annotationNodePortsRefused] == nodePortList(ports) {
		return nil
	}
	updated := v.DeepCopy()
	updated.Spec.Ports = ports
	err := e.virtual.Update(ctx, updated, client.FieldOwner(FieldOwner))
	switch {
	case err == nil, apierrors.IsConflict(err), apierrors.IsNotFound(err):
		return nil // shown, or changed or re-created meanwhile: its event brings it back
	case !nodePortRefused(err):
		return fmt.Errorf("showing the host's node ports on virtual service %s/%s: %w", v.Namespace, v.Name, err)
	}
	e.recorder.Eventf(v, nil, corev1.EventTypeWarning, ReasonNodePortsNotShown, "Sync",
		"The host gave this service node ports %s, which the virtual cluster refused (%s): the host's nodes answer there, not at the ports shown.",
		nodePortList(ports), err.Error())
	patch := client.MergeFrom(v.DeepCopy())
	marked := v.DeepCopy()
	if marked.Annotations == nil {
		marked.Annotations = map[string]string{}
	}
	marked.Annotations[annotationNodePortsRefused] = nodePortList(ports)
	if err := e.virtual.Patch(ctx, marked, patch); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("marking virtual service %s/%s: %w", v.Namespace, v.Name, err)
	}
	return nil
}

// hostNodePorts is virtual with each port's node port that of the host
// port of the same port and protocol, where the host gave one, and whether
// that changes any.
func hostNodePorts(virtual, host []corev1.ServicePort) ([]corev1.ServicePort, bool) {
	out := make([]corev1.ServicePort, len(virtual))
	copy(out, virtual)
	changed := false
	for i := range out {
		for _, hp := range host {
			if hp.Port == out[i].Port && hp.Protocol == out[i].Protocol && hp.NodePort != 0 && hp.NodePort != out[i].NodePort {
				out[i].NodePort, changed = hp.NodePort, true
			}
		}
	}
	return out, changed
}

// nodePortList names ports' node ports, as the refusal mark records them.
func nodePortList(ports []corev1.ServicePort) string {
	var parts []string
	for _, p := range ports {
		if p.NodePort != 0 {
			parts = append(parts, fmt.Sprintf("%d/%s", p.NodePort, p.Protocol))
		}
	}
	return strings.Join(parts, ",")
}

// nodePortRefused reports whether err refuses a Service a node port.
func nodePortRefused(err error) bool {
	return invalidField(err, func(field string) bool {
		return strings.HasPrefix(field, "spec.ports[") && strings.HasSuffix(field, ".nodePort")
	})
}

// showHostClusterIP makes virtual service v show the cluster IP of its host
// copy h, the address pods on the host actually reach it at, where the host
// would not give v's own (README, "Cluster IPs"). A service's cluster IP
// cannot change, so v is re-created with h's (as vcluster does):
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

	// First the record, then the deletion: the deletion is conditional on
	// v's resource version, so what goes is what the record holds.
	again := recreation(v, ip)
	record, err := json.Marshal(again)
	if err != nil {
		return err
	}
	desired := e.tr.Service(v)
	withAddresses(desired, v, h, false, e.cfg.ServiceCIDR)
	desired.Annotations[annotationRestore] = string(record)
	if synced, err := e.toHost(ctx, kindService, v, desired); err != nil || !synced {
		return err
	}
	uid := v.UID
	err = e.virtual.Delete(ctx, v, client.Preconditions{UID: &uid, ResourceVersion: &v.ResourceVersion})
	switch {
	case apierrors.IsConflict(err):
		return nil // changed meanwhile: its event brings it back, recorded afresh
	case err != nil && !apierrors.IsNotFound(err):
		return fmt.Errorf("re-creating virtual service %s/%s with the host's cluster IP: %w", v.Namespace, v.Name, err)
	}
	// Gone, by this deletion or an earlier one the cache had not yet seen
	// (or the tenant's, an instant ago: then it comes back, rather than
	// risk losing it).
	return e.recreate(ctx, again, h)
}

// recreation is virtual Service v as it is created again with cluster IP
// ip, and v's UID, which the record names.
func recreation(v *corev1.Service, ip string) *corev1.Service {
	again := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: v.Name, Namespace: v.Namespace, UID: v.UID, Labels: v.Labels, Annotations: v.Annotations,
			OwnerReferences: v.OwnerReferences,
		},
		Spec: *v.Spec.DeepCopy(),
	}
	again.Spec.ClusterIP, again.Spec.ClusterIPs = ip, []string{ip}
	return again
}

func decodeRestore(record string) (*corev1.Service, error) {
	again := &corev1.Service{}
	if err := json.Unmarshal([]byte(record), again); err != nil {
		return nil, fmt.Errorf("reading annotation %s: %w", annotationRestore, err)
	}
	return again, nil
}

// restoreService re-creates virtual Service key from the record on its host
// copy, if there is one: it reports whether the Service is on its way back,
// so that its copy stays. The copy is read from the host itself: the cache
// may not hold the record yet. A record on a copy made for another virtual
// cluster is not followed there; in a virtual namespace that is going away,
// the namespace's deletion wins.
func (e *env) restoreService(ctx context.Context, key types.NamespacedName) (bool, error) {
	h := &corev1.Service{}
	if err := e.hostReader.Get(ctx, e.tr.HostKey(kindService, key.Namespace, key.Name), h); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	record, ok := h.Annotations[annotationRestore]
	if !ok || !e.tr.Owns(kindService, key.Namespace, key.Name, h) || !e.tr.Current(h) {
		return false, nil
	}
	again, err := decodeRestore(record)
	if err != nil {
		return true, fmt.Errorf("virtual service %s, whose host copy %s/%s records it: %w", key, h.Namespace, h.Name, err)
	}
	ns := &corev1.Namespace{}
	if err := e.virtualReader.Get(ctx, client.ObjectKey{Name: key.Namespace}, ns); apierrors.IsNotFound(err) || (err == nil && !ns.DeletionTimestamp.IsZero()) {
		return false, nil
	} else if err != nil {
		return true, err
	}
	return true, e.recreate(ctx, again, h)
}

// recreate creates virtual Service again, which records the host's cluster
// IP, from the record on host copy h. If the virtual cluster will not give that address (another Service
// holds it, or its range does not), the Service is created with an address
// of the virtual cluster's choosing, marked not to try again: a Service
// whose address differs from the host's beats no Service. Any other refusal
// is tried again, with the record left standing, until the Service is back.
func (e *env) recreate(ctx context.Context, again, h *corev1.Service) error {
	svc := again.DeepCopy()
	svc.UID = ""
	err := e.virtual.Create(ctx, svc, client.FieldOwner(FieldOwner))
	if ipRefused(err) {
		logf.FromContext(ctx).Info("the virtual cluster refused the host's cluster IP; re-creating the service with one of its own",
			"service", client.ObjectKeyFromObject(again), "clusterIP", again.Spec.ClusterIP, "error", err.Error())
		svc = again.DeepCopy()
		svc.UID, svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", "", nil
		if svc.Annotations == nil {
			svc.Annotations = map[string]string{}
		}
		svc.Annotations[annotationClusterIPRefused] = again.Spec.ClusterIP
		err = e.virtual.Create(ctx, svc, client.FieldOwner(FieldOwner))
	}
	if err == nil || apierrors.IsAlreadyExists(err) {
		return nil // back, or made again by the tenant: its copy drops the record
	}
	// Related to the host copy: one series of events per Service.
	e.hostRecorder.Eventf(e.vc, h, corev1.EventTypeWarning, ReasonServiceNotRestored, "Recreate",
		"Virtual Service %s/%s is being re-created with its host cluster IP %s and the virtual cluster refused it: %s. "+
			"Its host copy and the record there stay, and it is tried again until it is back.",
		again.Namespace, again.Name, again.Spec.ClusterIP, err.Error())
	return fmt.Errorf("re-creating virtual service %s/%s: %w", again.Namespace, again.Name, err)
}

// ipRefused reports whether err refuses a Service its cluster IP itself:
// the address is taken, or outside the range.
func ipRefused(err error) bool {
	return invalidField(err, func(field string) bool { return strings.HasPrefix(field, "spec.clusterIP") })
}

// invalidField reports whether err is the API's Invalid error for a field
// that match accepts.
func invalidField(err error, match func(field string) bool) bool {
	var status apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &status) || status.Status().Details == nil {
		return false
	}
	for _, c := range status.Status().Details.Causes {
		if match(c.Field) {
			return true
		}
	}
	return false
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
