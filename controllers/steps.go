package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/apply"
	"github.com/nestor-dev/nestor/internal/controlplane"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/ownership"
	"github.com/nestor-dev/nestor/internal/pki"
	"github.com/nestor-dev/nestor/internal/policy"
	"github.com/nestor-dev/nestor/internal/rbac"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
)

// applyAll applies objects in order, each owned when its VirtualCluster controls it.
func (r *VirtualClusterReconciler) applyAll(ctx context.Context, vc *tenancyv1alpha1.VirtualCluster, objs ...client.Object) error {
	for _, obj := range objs {
		if _, err := r.Applier.Apply(ctx, obj, ownedBy(vc, obj)); err != nil {
			return err
		}
	}
	return nil
}

// ownedBy is the ownership test for a child: a controller reference in the
// VirtualCluster's namespace, labels elsewhere (where references cannot reach).
func ownedBy(vc *tenancyv1alpha1.VirtualCluster, obj client.Object) apply.OwnedFunc {
	if obj.GetNamespace() == vc.Namespace {
		return ownership.ControlledBy(vc)
	}
	return ownership.LabelledFor(vc)
}

// reconcileRBAC gives the syncer its identity and exactly the rules spec.sync
// needs; cluster-scoped rules exist only in multi-namespace mode, where the
// ClusterRole the syncer binds in each host namespace holds the synced
// kinds. What the mode does not want is removed.
func (r *VirtualClusterReconciler) reconcileRBAC(ctx context.Context, st *state) (outcome, error) {
	vc := st.vc
	rules := rbac.For(vc, st.mode)
	desired, unwanted := rbac.Objects(vc, rules, st.mode)
	if err := r.applyAll(ctx, vc, desired...); err != nil {
		return outcome{}, err
	}
	for _, obj := range unwanted {
		if _, err := r.Applier.Delete(ctx, obj, ownedBy(vc, obj)); err != nil {
			return outcome{}, err
		}
	}
	if len(rules.NeedMultiNamespace) > 0 {
		return notReady(ReasonNeedsMultiNS, fmt.Sprintf(
			"%s need cluster-level host access, which only multi-namespace mode grants; nothing is synced for them. "+
				"Turn them off, or create a VirtualCluster with spec.experimental.multiNamespaceMode.enabled: true.",
			strings.Join(rules.NeedMultiNamespace, ", "))), nil
	}
	return ready(ReasonReady, "The syncer's ServiceAccount and RBAC are in place."), nil
}

// reconcileCertificates keeps the control plane's PKI and the admin
// kubeconfig. Certificates are issued once and kept; a leaf is re-issued only
// when it lacks a name it needs or nears its expiry.
func (r *VirtualClusterReconciler) reconcileCertificates(ctx context.Context, st *state) (outcome, error) {
	vc := st.vc
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)

	current := &corev1.Secret{}
	current.Name, current.Namespace = n.Certs, vc.Namespace
	found, err := r.Applier.Get(ctx, current)
	if err != nil {
		return outcome{}, err
	}
	if found && !ownership.ControlledBy(vc)(current) {
		// Never adopt, or build on, keys someone else put there.
		return outcome{}, &apply.NotOwnedError{Kind: "Secret", Key: client.ObjectKeyFromObject(current)}
	}
	// The Services come first: the serving certificate holds the cluster
	// IP the host gives the API's Service as it creates it, at which the
	// tenant's pods reach the API server.
	if err := r.applyAll(ctx, vc, controlplane.Service(vc), controlplane.HeadlessService(vc)); err != nil {
		return outcome{}, err
	}
	svc := &corev1.Service{}
	svc.Name, svc.Namespace = n.ControlPlane, vc.Namespace
	if found, err := r.Applier.Get(ctx, svc); err != nil {
		return outcome{}, err
	} else if !found {
		return notReady(ReasonWaiting, fmt.Sprintf("Waiting for Service %s to appear.", svc.Name)), nil
	}

	data, changed, err := pki.Ensure(current.Data, controlplane.PKIConfig(vc, svc, r.HostClusterDomain), r.now())
	if err != nil {
		return outcome{}, fmt.Errorf("issuing certificates: %w", err)
	}
	certs, err := controlplane.CertsSecret(vc, data)
	if err != nil {
		return outcome{}, err
	}
	kubeconfig, err := controlplane.KubeconfigSecret(vc, data)
	if err != nil {
		return outcome{}, err
	}
	if err := r.applyAll(ctx, vc, certs, kubeconfig); err != nil {
		return outcome{}, err
	}
	switch {
	case !found:
		r.Recorder.Eventf(vc, nil, corev1.EventTypeNormal, "CertificatesIssued", "Reconcile",
			"Issued the control plane's certificates into Secret %s and an admin kubeconfig into Secret %s", n.Certs, n.Kubeconfig)
	case changed:
		r.Recorder.Eventf(vc, nil, corev1.EventTypeNormal, "CertificatesRenewed", "Reconcile",
			"Re-issued certificates in Secret %s that were due for renewal or lacked a name", n.Certs)
	}

	st.pkiHash = controlplane.PKIHash(data)
	st.dnsKubeconfig = certs.Data[controlplane.CoreDNSKubeconfig]
	st.status.KubeconfigSecretRef = &tenancyv1alpha1.SecretKeyReference{Name: n.Kubeconfig, Key: controlplane.KubeconfigKey}
	return ready(ReasonReady, fmt.Sprintf("Certificates are in Secret %s, an admin kubeconfig in Secret %s.", n.Certs, n.Kubeconfig)), nil
}

func (r *VirtualClusterReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// reconcileControlPlane runs etcd, kube-apiserver and kube-controller-manager
// and reports whether they are rolled out and ready.
func (r *VirtualClusterReconciler) reconcileControlPlane(ctx context.Context, st *state) (outcome, error) {
	vc := st.vc
	sts := controlplane.StatefulSet(vc, st.pkiHash)
	res, err := r.Applier.Apply(ctx, sts, ownedBy(vc, sts))
	if err != nil {
		return outcome{}, err
	}

	svc := &corev1.Service{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(sts), svc); err != nil {
		svc = nil
	}
	st.status.ControlPlaneEndpoint = controlplane.Endpoint(vc, svc)

	// The cache may not hold the spec just written; its status would tell of
	// the one before. The write's own event brings us back.
	if res != apply.Unchanged {
		return notReady(ReasonRollingOut, fmt.Sprintf("StatefulSet %s was %s; waiting for it to roll out.", sts.Name, strings.ToLower(string(res)))), nil
	}
	live := &appsv1.StatefulSet{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(sts), live); err != nil {
		return notReady(ReasonWaiting, "Waiting for the control-plane StatefulSet to appear."), client.IgnoreNotFound(err)
	}
	if msg, done := statefulSetRolledOut(live, *sts.Spec.Replicas); !done {
		return notReady(ReasonRollingOut, msg), nil
	}
	st.status.KubernetesVersion = controlplane.Version(vc)
	return ready(ReasonReady, fmt.Sprintf("%d/%d control-plane replicas are ready.", live.Status.ReadyReplicas, *sts.Spec.Replicas)), nil
}

func statefulSetRolledOut(sts *appsv1.StatefulSet, want int32) (string, bool) {
	s := sts.Status
	switch {
	case s.ObservedGeneration < sts.Generation:
		return fmt.Sprintf("Waiting for the StatefulSet controller to observe generation %d of StatefulSet %s.", sts.Generation, sts.Name), false
	case s.UpdatedReplicas < want:
		return fmt.Sprintf("%d/%d control-plane replicas run the current revision.", s.UpdatedReplicas, want), false
	case s.ReadyReplicas < want:
		return fmt.Sprintf("%d/%d control-plane replicas are ready; see the pods of StatefulSet %s.", s.ReadyReplicas, want, sts.Name), false
	case s.UpdateRevision != "" && s.CurrentRevision != s.UpdateRevision:
		return fmt.Sprintf("StatefulSet %s is rolling to revision %s.", sts.Name, s.UpdateRevision), false
	}
	return "", true
}

// reconcileDNS runs the virtual cluster's CoreDNS and its Service, whose
// cluster IP the syncer gives the tenant's host pods as their nameserver.
func (r *VirtualClusterReconciler) reconcileDNS(ctx context.Context, st *state) (outcome, error) {
	vc := st.vc
	cm := controlplane.DNSConfigMap(vc)
	svc := controlplane.DNSService(vc)
	dep := controlplane.DNSDeployment(vc, controlplane.DNSConfigHash(cm.Data[controlplane.CorefileKey], st.dnsKubeconfig))
	if err := r.applyAll(ctx, vc, cm, svc); err != nil {
		return outcome{}, err
	}
	// The API server gives the Service its address as it creates it; the
	// cache may not hold the Service yet, the API server does.
	live := &corev1.Service{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(svc), live); client.IgnoreNotFound(err) != nil {
		return outcome{}, fmt.Errorf("reading the DNS Service %s: %w", svc.Name, err)
	}
	if live.Spec.ClusterIP == "" {
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(svc), live); err != nil {
			return outcome{}, fmt.Errorf("reading the DNS Service %s: %w", svc.Name, err)
		}
	}
	if ip := live.Spec.ClusterIP; ip != corev1.ClusterIPNone {
		st.dnsNameserver = ip
	}
	return r.rollOut(ctx, vc, dep, "DNS",
		fmt.Sprintf("CoreDNS serves the virtual cluster's names at %s (Service %s).", st.dnsNameserver, svc.Name))
}

// maxSyncerConfig is what the syncer's configuration may take: a ConfigMap
// holds at most 1 MiB, its metadata included.
const maxSyncerConfig = 900 << 10

// configTooLargeError says the syncer's configuration cannot fit its
// ConfigMap: only syncing fewer custom resources helps.
type configTooLargeError struct {
	size  int
	kinds []string
}

func (e *configTooLargeError) Error() string {
	return fmt.Sprintf("the syncer's configuration takes %d KiB, more than the %d KiB its ConfigMap may hold, "+
		"with the compressed CustomResourceDefinitions of %s: sync fewer custom resources",
		e.size>>10, maxSyncerConfig>>10, strings.Join(e.kinds, ", "))
}

// reconcileSyncer runs the syncer with the configuration rendered from the
// spec, the recorded mode and the custom resources the host defines.
func (r *VirtualClusterReconciler) reconcileSyncer(ctx context.Context, st *state) (outcome, error) {
	vc := st.vc
	cfg := syncerconfig.For(vc, st.mode)
	svc := &corev1.Service{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: naming.ForVirtualCluster(vc.Namespace, vc.Name).ControlPlane}, svc); client.IgnoreNotFound(err) != nil {
		return outcome{}, fmt.Errorf("reading the control plane's Service: %w", err)
	}
	cfg.APIServerIP = controlplane.ClusterIP(svc)
	cfg.CustomResources = st.customResources.kinds
	defs, err := r.definitions.encode(st.customResources)
	if err != nil {
		return outcome{}, err
	}
	cfg.Definitions = defs
	if st.dnsNameserver == "" {
		// A pod copied without it would keep the host's DNS for its life.
		return notReady(ReasonWaiting, "Waiting for the DNS Service's cluster IP, the tenant's pods' nameserver."), nil
	}
	cfg.DNSNameserver = st.dnsNameserver
	// The Nodes' kubelet address is the syncer's Service, by its name, which
	// the control plane's pod resolves through the host's DNS (README,
	// "Nodes").
	kubelet := controlplane.SyncerService(vc)
	if err := r.applyAll(ctx, vc, kubelet); err != nil {
		return outcome{}, err
	}
	cfg.Kubelet = syncerconfig.KubeletEndpoint{Address: kubelet.Name + "." + kubelet.Namespace + ".svc", Port: controlplane.SyncerKubeletPort}
	_, _, _, cfg.Image = controlplane.Images(vc, r.SyncerImage)
	rendered, err := cfg.Marshal()
	if err != nil {
		return outcome{}, err
	}
	if len(rendered) > maxSyncerConfig {
		keys := make([]string, len(cfg.CustomResources))
		for i, cr := range cfg.CustomResources {
			keys[i] = cr.Resource
		}
		return outcome{}, &configTooLargeError{size: len(rendered), kinds: keys}
	}
	dep := controlplane.SyncerDeployment(vc, r.SyncerImage)
	if err := r.applyAll(ctx, vc, controlplane.SyncerConfigMap(vc, rendered)); err != nil {
		return outcome{}, err
	}
	return r.rollOut(ctx, vc, dep, "syncer", "The syncer is running.")
}

// rollOut applies dep, the Deployment of what (the syncer, DNS), and is
// ready with message once it runs the current revision.
func (r *VirtualClusterReconciler) rollOut(ctx context.Context, vc *tenancyv1alpha1.VirtualCluster, dep *appsv1.Deployment, what, message string) (outcome, error) {
	res, err := r.Applier.Apply(ctx, dep, ownedBy(vc, dep))
	if err != nil {
		return outcome{}, err
	}
	if res != apply.Unchanged {
		return notReady(ReasonRollingOut, fmt.Sprintf("Deployment %s was %s; waiting for it to roll out.", dep.Name, strings.ToLower(string(res)))), nil
	}
	live := &appsv1.Deployment{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(dep), live); err != nil {
		return notReady(ReasonWaiting, fmt.Sprintf("Waiting for the %s Deployment to appear.", what)), client.IgnoreNotFound(err)
	}
	if msg, done := deploymentRolledOut(live, *dep.Spec.Replicas, what); !done {
		return notReady(ReasonRollingOut, msg), nil
	}
	return ready(ReasonReady, message), nil
}

// deploymentRolledOut says whether dep, the Deployment of what (the
// syncer, DNS), runs want up-to-date replicas and no old ones.
func deploymentRolledOut(dep *appsv1.Deployment, want int32, what string) (string, bool) {
	s := dep.Status
	switch {
	case s.ObservedGeneration < dep.Generation:
		return fmt.Sprintf("Waiting for the Deployment controller to observe generation %d of Deployment %s.", dep.Generation, dep.Name), false
	case s.UpdatedReplicas < want:
		return fmt.Sprintf("%d/%d %s replicas run the current revision.", s.UpdatedReplicas, want, what), false
	case s.Replicas > s.UpdatedReplicas:
		return fmt.Sprintf("%d old %s replicas are still running.", s.Replicas-s.UpdatedReplicas, what), false
	case s.AvailableReplicas < want:
		return fmt.Sprintf("%d/%d %s replicas are available; see the pods of Deployment %s.", s.AvailableReplicas, want, what, dep.Name), false
	}
	return "", true
}

// reconcilePolicies puts spec.policies into every host namespace that holds
// the tenant's workloads, and removes what spec.policies no longer asks for.
func (r *VirtualClusterReconciler) reconcilePolicies(ctx context.Context, st *state) (outcome, error) {
	vc := st.vc
	namespaces := []string{vc.Namespace}
	if st.mode == tenancyv1alpha1.MultiNamespaceMode {
		// The syncer creates a host namespace per virtual namespace; the
		// workloads live there, the control plane in vc.Namespace.
		var list corev1.NamespaceList
		if err := r.List(ctx, &list, ownership.ClusterSelector(vc)); err != nil {
			return outcome{}, fmt.Errorf("listing the tenant's host namespaces: %w", err)
		}
		namespaces = namespaces[:0]
		for _, ns := range list.Items {
			if ns.DeletionTimestamp.IsZero() {
				namespaces = append(namespaces, ns.Name)
			}
		}
	}
	for _, ns := range namespaces {
		desired, unwanted := policy.Objects(vc, ns)
		if err := r.applyAll(ctx, vc, desired...); err != nil {
			return outcome{}, err
		}
		for _, obj := range unwanted {
			if _, err := r.Applier.Delete(ctx, obj, ownedBy(vc, obj)); err != nil {
				return outcome{}, err
			}
		}
	}
	if requested, _ := policy.Objects(vc, vc.Namespace); len(requested) == 0 {
		return ready(ReasonNotRequested, "spec.policies asks for no host policies."), nil
	}
	return ready(ReasonReady, fmt.Sprintf("Policies are in place in %d host namespace(s).", len(namespaces))), nil
}
