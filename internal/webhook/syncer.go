package webhook

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	psapi "k8s.io/pod-security-admission/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/ownership"
	"github.com/nestor-dev/nestor/internal/podsecurity"
	"github.com/nestor-dev/nestor/internal/rbac"
)

// A syncer in multi-namespace mode may write namespaces and RoleBindings
// cluster-wide (it makes a host namespace per virtual namespace, and grants
// itself its rules in each); this webhook holds it to its own. Only requests
// of ServiceAccounts named like a syncer reach it (matchConditions): no other
// namespace or RoleBinding write depends on Nestor.
//
// +kubebuilder:webhook:path=/validate-syncer-host-writes,mutating=false,failurePolicy=fail,sideEffects=None,groups="";rbac.authorization.k8s.io,resources=namespaces;rolebindings,verbs=create;update;delete,versions=v1,name=vsyncer.tenancy.nestor.dev,admissionReviewVersions=v1,timeoutSeconds=10,patch=`{"matchConditions":[{"name":"syncer-service-accounts","expression":"request.userInfo.username.matches('^system:serviceaccount:[^:]+:vc-[^:]+$')"}]}`

// SyncerWritesPath is where the webhook for the syncers' writes is served.
const SyncerWritesPath = "/validate-syncer-host-writes"

// syncerUser matches a syncer's ServiceAccount, vc-<name> in the
// VirtualCluster's namespace, as it authenticates.
var syncerUser = regexp.MustCompile(`^system:serviceaccount:([^:]+):vc-([^:]+)$`)

// SyncerWrites admits a syncer's writes of namespaces and RoleBindings.
type SyncerWrites struct {
	// Reader finds the VirtualCluster of a syncer.
	Reader client.Reader
	// APIReader reads namespaces from the API server: a syncer makes its
	// RoleBinding in a namespace it has just made.
	APIReader client.Reader
	Decoder   admission.Decoder
}

var _ admission.Handler = &SyncerWrites{}

// Handle admits req unless its user is a VirtualCluster's syncer reaching
// beyond that VirtualCluster's host namespaces.
func (h *SyncerWrites) Handle(ctx context.Context, req admission.Request) admission.Response {
	vc, err := h.syncerOf(ctx, req.UserInfo.Username)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if vc == nil {
		return admission.Allowed("not a VirtualCluster's syncer")
	}
	var refusal string
	switch req.Kind.Kind {
	case "Namespace":
		var old, obj *corev1.Namespace
		if old, obj, err = decodeBoth[corev1.Namespace](h.Decoder, req); err == nil {
			var policy podsecurity.Policy
			if policy, err = h.podSecurity(ctx, vc); err == nil {
				refusal = AdmitSyncerNamespace(vc, policy, old, obj)
			}
		}
	case "RoleBinding":
		var old, obj *rbacv1.RoleBinding
		if old, obj, err = decodeBoth[rbacv1.RoleBinding](h.Decoder, req); err == nil {
			refusal, err = h.admitRoleBinding(ctx, vc, old, obj)
		}
	default:
		return admission.Allowed("")
	}
	switch {
	case err != nil:
		return admission.Errored(http.StatusInternalServerError, err)
	case refusal != "":
		return admission.Denied(refusal)
	}
	return admission.Allowed("")
}

// syncerOf is the VirtualCluster whose syncer user is, or nil.
func (h *SyncerWrites) syncerOf(ctx context.Context, user string) (*tenancyv1alpha1.VirtualCluster, error) {
	m := syncerUser.FindStringSubmatch(user)
	if m == nil {
		return nil, nil
	}
	vc := &tenancyv1alpha1.VirtualCluster{}
	key := client.ObjectKey{Namespace: m[1], Name: m[2]}
	err := h.Reader.Get(ctx, key, vc)
	if apierrors.IsNotFound(err) {
		// The cache may not hold a VirtualCluster just made: be sure.
		err = h.APIReader.Get(ctx, key, vc)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking up the VirtualCluster of %s: %w", user, err)
	}
	return vc, nil
}

// podSecurity is the Pod Security level vc's pods are held to, which its
// host namespaces enforce: the stricter of its spec's and its namespace's.
func (h *SyncerWrites) podSecurity(ctx context.Context, vc *tenancyv1alpha1.VirtualCluster) (podsecurity.Policy, error) {
	ns := &corev1.Namespace{}
	if err := h.APIReader.Get(ctx, client.ObjectKey{Name: vc.Namespace}, ns); err != nil {
		return podsecurity.Policy{}, fmt.Errorf("reading namespace %s: %w", vc.Namespace, err)
	}
	return podsecurity.Effective(vc.Spec.Policies.PodSecurity.Level, ns.Name, ns.Labels), nil
}

// admitRoleBinding reads the namespace of each side of the change for
// AdmitSyncerRoleBinding.
func (h *SyncerWrites) admitRoleBinding(ctx context.Context, vc *tenancyv1alpha1.VirtualCluster, old, obj *rbacv1.RoleBinding) (string, error) {
	for _, rb := range []*rbacv1.RoleBinding{old, obj} {
		if rb == nil {
			continue
		}
		ns := &corev1.Namespace{}
		err := h.APIReader.Get(ctx, client.ObjectKey{Name: rb.Namespace}, ns)
		if apierrors.IsNotFound(err) {
			ns = nil
		} else if err != nil {
			return "", fmt.Errorf("reading namespace %s: %w", rb.Namespace, err)
		}
		if refusal := AdmitSyncerRoleBinding(vc, rb, ns); refusal != "" {
			return refusal, nil
		}
	}
	return "", nil
}

// decodeBoth decodes the old object and the new one of req; either is nil
// where the operation has none (a create's old, a delete's new).
func decodeBoth[T any, P interface {
	*T
	runtime.Object
}](d admission.Decoder, req admission.Request) (old, obj P, err error) {
	if len(req.OldObject.Raw) > 0 {
		old = P(new(T))
		if err := d.DecodeRaw(req.OldObject, old); err != nil {
			return nil, nil, fmt.Errorf("decoding the old %s: %w", req.Kind.Kind, err)
		}
	}
	if len(req.Object.Raw) > 0 {
		obj = P(new(T))
		if err := d.DecodeRaw(req.Object, obj); err != nil {
			return nil, nil, fmt.Errorf("decoding the %s: %w", req.Kind.Kind, err)
		}
	}
	return old, obj, nil
}

// AdmitSyncerNamespace says why vc's syncer may not make the change from
// old to obj (either nil when absent), or "". A namespace it touches must
// be labelled as vc's before and after; one it creates or changes must be
// named as the host namespace of the virtual namespace it records, enforce
// Pod Security no looser than policy, the level vc's pods are held to, and
// gain no label or annotation but those the syncer sets (README, "The
// syncers' writes"): a namespace's labels and annotations are what the
// host's own policies select on.
func AdmitSyncerNamespace(vc *tenancyv1alpha1.VirtualCluster, policy podsecurity.Policy, old, obj *corev1.Namespace) string {
	for _, ns := range []*corev1.Namespace{old, obj} {
		if ns != nil && !ownership.LabelledFor(vc)(ns) {
			return fmt.Sprintf("the syncer of VirtualCluster %s/%s may create, change and delete only its own host namespaces, "+
				"labelled %s; namespace %s is not, before or after this change", vc.Namespace, vc.Name, ownLabels(vc), ns.Name)
		}
	}
	if obj == nil {
		return ""
	}
	prefix := fmt.Sprintf("the syncer of VirtualCluster %s/%s may not write namespace %s: ", vc.Namespace, vc.Name, obj.Name)
	vns := obj.Labels[tenancyv1alpha1.LabelVirtualNamespace]
	if want := naming.NewTranslator(vc.Namespace, vc.Name, true).HostNamespace(vns); vns == "" || obj.Name != want {
		return prefix + fmt.Sprintf("its host namespaces are named after the virtual namespace in label %s (%q gives %q)",
			tenancyv1alpha1.LabelVirtualNamespace, vns, want)
	}
	if v := obj.Labels[psapi.EnforceLevelLabel]; v == "" || obj.Labels[psapi.EnforceVersionLabel] != psapi.VersionLatest {
		return prefix + fmt.Sprintf("it must enforce Pod Security at level %s, version %s", policy.Level, psapi.VersionLatest)
	} else if level, err := psapi.ParseLevel(v); err != nil || psapi.CompareLevels(level, policy.Level) < 0 {
		return prefix + fmt.Sprintf("label %s=%s is looser than level %s, set by %s", psapi.EnforceLevelLabel, v, policy.Level, policy.From)
	}
	var before corev1.Namespace
	if old != nil {
		before = *old
	}
	own := ownership.Labels(vc)
	if key := added(before.Labels, obj.Labels, func(k string) bool { _, ok := own[k]; return ok || syncerNamespaceLabel(k) }); key != "" {
		return prefix + "label " + key + " is not one the syncer sets"
	}
	if key := added(before.Annotations, obj.Annotations, func(k string) bool { return k == tenancyv1alpha1.AnnotationVirtualNamespace }); key != "" {
		return prefix + "annotation " + key + " is not one the syncer sets"
	}
	return ""
}

// syncerNamespaceLabel reports whether a syncer sets label key on its host
// namespaces, besides its VirtualCluster's own labels (the API server sets
// kubernetes.io/metadata.name).
func syncerNamespaceLabel(key string) bool {
	switch key {
	case tenancyv1alpha1.LabelVirtualNamespace, tenancyv1alpha1.LabelVirtualClusterUID, corev1.LabelMetadataName:
		return true
	}
	return strings.HasPrefix(key, "pod-security.kubernetes.io/")
}

// added is the first key (in sorted order) that after adds to before or
// changes, and allowed refuses; "" if none.
func added(before, after map[string]string, allowed func(string) bool) string {
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if v, had := before[k]; (!had || v != after[k]) && !allowed(k) {
			return k
		}
	}
	return ""
}

// AdmitSyncerRoleBinding says why vc's syncer may not write rb, in
// namespace ns (nil when there is none), or "": it may bind only its
// per-namespace ClusterRole, to itself alone, in its own host namespaces.
func AdmitSyncerRoleBinding(vc *tenancyv1alpha1.VirtualCluster, rb *rbacv1.RoleBinding, ns *corev1.Namespace) string {
	want := rbac.NamespaceRoleBinding(vc, rb.Namespace, nil)
	own := ns != nil && ownership.LabelledFor(vc)(ns)
	if own && equality.Semantic.DeepEqual(rb.RoleRef, want.RoleRef) && equality.Semantic.DeepEqual(rb.Subjects, want.Subjects) {
		return ""
	}
	return fmt.Sprintf("the syncer of VirtualCluster %s/%s may write only RoleBindings of ClusterRole %s to its ServiceAccount %s alone, "+
		"in its own host namespaces, labelled %s; RoleBinding %s/%s is not one",
		vc.Namespace, vc.Name, want.RoleRef.Name, naming.ForVirtualCluster(vc.Namespace, vc.Name).SyncerServiceAccount,
		ownLabels(vc), rb.Namespace, rb.Name)
}

// ownLabels are the labels of vc's host namespaces, for messages.
func ownLabels(vc *tenancyv1alpha1.VirtualCluster) string {
	return fmt.Sprintf("%s=%s, %s=%s, %s=%s", tenancyv1alpha1.LabelManagedBy, tenancyv1alpha1.ManagedByValue,
		tenancyv1alpha1.LabelVirtualCluster, vc.Name, tenancyv1alpha1.LabelVirtualClusterNamespace, vc.Namespace)
}
