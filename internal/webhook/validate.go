// Package webhook is the admission webhooks: the VirtualClusters' rejects
// what the schema cannot, above all a change of the namespace mode after
// creation, with errors that name the field and say what to do; the
// syncers' holds each syncer's writes of namespaces and RoleBindings to its
// own host namespaces (syncer.go).
package webhook

import (
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/version"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/controlplane"
	"github.com/nestor-dev/nestor/internal/references"
)

var (
	specPath  = field.NewPath("spec")
	modePath  = specPath.Child("experimental", "multiNamespaceMode", "enabled")
	namePath  = field.NewPath("metadata", "name")
	syncPath  = specPath.Child("sync")
	cpPath    = specPath.Child("controlPlane")
	netPath   = specPath.Child("networking")
	polPath   = specPath.Child("policies")
	multiHint = "only multi-namespace mode grants cluster-level host access, and the mode is chosen at creation " +
		"(spec.experimental.multiNamespaceMode.enabled: true); turn this off, or create a VirtualCluster in multi-namespace mode"
)

// ValidateCreate checks a new VirtualCluster.
func ValidateCreate(vc *tenancyv1alpha1.VirtualCluster) (field.ErrorList, []string) {
	return validateSpec(vc), warnings(vc)
}

// ValidateUpdate checks a change. Fields that cannot change after creation
// are compared with old; the rest is checked as on creation, but only for
// errors the old object did not already have, so that an object admitted
// under older rules can still be edited.
func ValidateUpdate(old, vc *tenancyv1alpha1.VirtualCluster) (field.ErrorList, []string) {
	errs := immutable(old, vc)
	previous := validateSpec(old)
	for _, err := range validateSpec(vc) {
		if !slices.ContainsFunc(previous, func(p *field.Error) bool { return sameError(p, err) }) {
			errs = append(errs, err)
		}
	}
	return errs, warnings(vc)
}

// sameError reports whether two errors are the same complaint about the same
// value. List indices are ignored, so that inserting an item before an old
// offending one does not make that one new.
func sameError(a, b *field.Error) bool {
	return a.Type == b.Type && a.Detail == b.Detail &&
		listIndex.ReplaceAllString(a.Field, "[]") == listIndex.ReplaceAllString(b.Field, "[]") &&
		fmt.Sprint(a.BadValue) == fmt.Sprint(b.BadValue)
}

var listIndex = regexp.MustCompile(`\[[0-9]+\]`)

// immutable rejects changes the operator cannot carry out on a running
// virtual cluster.
func immutable(old, vc *tenancyv1alpha1.VirtualCluster) field.ErrorList {
	var errs field.ErrorList
	// The mode the host objects were laid out for is the recorded one. A
	// spec that already disagrees with it (the webhook was bypassed) may
	// stay as it is, or go back to the recorded mode: the fix the operator
	// asks for.
	recorded := old.Status.Mode
	if recorded == "" {
		recorded = old.SpecMode()
	}
	if was, is := old.SpecMode(), vc.SpecMode(); is != was && is != recorded {
		errs = append(errs, field.Forbidden(modePath, fmt.Sprintf(
			"cannot change from %t to %t%s after creation: host objects are keyed differently in each mode "+
				"(single-namespace mode rewrites the tenant's object names into the VirtualCluster's namespace, "+
				"multi-namespace mode keeps them in a host namespace per virtual namespace), so switching would orphan "+
				"or destroy the tenant's host objects. To change the mode, create a new VirtualCluster with the mode you "+
				"want and migrate the workloads to it",
			was == tenancyv1alpha1.MultiNamespaceMode, is == tenancyv1alpha1.MultiNamespaceMode, removedNote(old, vc))))
	}
	oldNet, newNet := old.Spec.Networking, vc.Spec.Networking
	if oldNet.ServiceCIDR != newNet.ServiceCIDR {
		errs = append(errs, field.Forbidden(netPath.Child("serviceCIDR"), fmt.Sprintf(
			"cannot change from %q to %q after creation: the virtual cluster's Services already hold addresses from it. "+
				"Create a new VirtualCluster with the range you need and migrate to it", oldNet.ServiceCIDR, newNet.ServiceCIDR)))
	}
	if oldNet.ClusterDomain != newNet.ClusterDomain {
		errs = append(errs, field.Forbidden(netPath.Child("clusterDomain"), fmt.Sprintf(
			"cannot change from %q to %q after creation: it is part of the service-account token issuer, so every token "+
				"the virtual cluster issued would stop working", oldNet.ClusterDomain, newNet.ClusterDomain)))
	}
	errs = append(errs, versionChange(old, vc)...)
	return errs
}

// removedNote explains a change that comes from removing the field.
func removedNote(old, vc *tenancyv1alpha1.VirtualCluster) string {
	has := func(v *tenancyv1alpha1.VirtualCluster) bool {
		return v.Spec.Experimental != nil && v.Spec.Experimental.MultiNamespaceMode != nil
	}
	switch {
	case has(old) && !has(vc):
		return " (the field was removed, and its default is false)"
	case !has(old) && has(vc):
		return " (the field was added; without it the mode was false)"
	}
	return ""
}

// versionChange allows upgrades of one minor version at a time and no
// downgrade, not even of a patch release.
func versionChange(old, vc *tenancyv1alpha1.VirtualCluster) field.ErrorList {
	from, err1 := version.ParseSemantic(controlplane.Version(old))
	to, err2 := version.ParseSemantic(controlplane.Version(vc))
	if err1 != nil || err2 != nil {
		return nil // validateSpec reports a malformed version
	}
	p := cpPath.Child("version")
	switch {
	case to.Major() != from.Major():
		return field.ErrorList{field.Forbidden(p, fmt.Sprintf(
			"cannot move from %s to %s in one step: only upgrades within one major version, one minor at a time, are supported", from, to))}
	case to.LessThan(from):
		return field.ErrorList{field.Forbidden(p, fmt.Sprintf(
			"cannot downgrade from %s to %s: etcd's data may already use the newer version's formats, "+
				"and a patch release may carry fixes the older one lacks. Stay on %s or upgrade", from, to, from))}
	case to.Minor() > from.Minor()+1:
		return field.ErrorList{field.Forbidden(p, fmt.Sprintf(
			"cannot upgrade from %s to %s in one step: upgrade one minor version at a time (v1.%d first)", from, to, from.Minor()+1))}
	}
	return nil
}

// validateSpec checks what the schema cannot express.
func validateSpec(vc *tenancyv1alpha1.VirtualCluster) field.ErrorList {
	var errs field.ErrorList
	if strings.Contains(vc.Name, "-x-") {
		errs = append(errs, field.Invalid(namePath, vc.Name,
			`must not contain "-x-": single-namespace mode names the tenant's host objects <name>-x-<namespace>-x-<virtualcluster>, `+
				"so this name could collide with one of them; choose a name without it"))
	}
	errs = append(errs, validateSync(vc)...)
	errs = append(errs, validateControlPlane(vc)...)
	errs = append(errs, validateNetworking(vc.Spec.Networking)...)
	errs = append(errs, validatePolicies(vc.Spec.Policies)...)
	errs = append(errs, controlPlaneFitsPolicies(vc)...)
	return errs
}

// builtinGroups are the API groups of Kubernetes' own kinds: those are no
// custom resources, and the built-in ones have switches of their own.
var builtinGroups = []string{
	"admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io", "apps",
	"authentication.k8s.io", "authorization.k8s.io", "autoscaling", "batch", "certificates.k8s.io",
	"coordination.k8s.io", "discovery.k8s.io", "events.k8s.io", "extensions", "flowcontrol.apiserver.k8s.io",
	"internal.apiserver.k8s.io", "networking.k8s.io", "node.k8s.io", "policy", "rbac.authorization.k8s.io",
	"resource.k8s.io", "scheduling.k8s.io", "storage.k8s.io", "storagemigration.k8s.io",
}

func validateSync(vc *tenancyv1alpha1.VirtualCluster) field.ErrorList {
	var errs field.ErrorList
	to, from := vc.Spec.Sync.ToHost, vc.Spec.Sync.FromHost
	toPath, fromPath := syncPath.Child("toHost", "customResources"), syncPath.Child("fromHost", "customResources")
	checkKey := func(p *field.Path, key string) {
		_, group, _ := strings.Cut(key, ".")
		switch {
		case slices.Contains(builtinGroups, group):
			errs = append(errs, field.Invalid(p, key, fmt.Sprintf(
				"%s is a built-in API group: its kinds are not custom resources and cannot be synced as such", group)))
		case group == tenancyv1alpha1.GroupVersion.Group:
			errs = append(errs, field.Invalid(p, key, "VirtualClusters cannot be synced into a virtual cluster"))
		}
	}
	for _, key := range slices.Sorted(maps.Keys(to.CustomResources)) {
		checkKey(toPath.Key(key), key)
		seen := map[string]bool{}
		for i, patch := range to.CustomResources[key].Patches {
			p := toPath.Key(key).Child("patches").Index(i).Child("path")
			if msg := references.PathError(patch.Path); msg != "" {
				errs = append(errs, field.Invalid(p, patch.Path, msg))
			}
			if seen[patch.Path] {
				errs = append(errs, field.Duplicate(p, patch.Path))
			}
			seen[patch.Path] = true
		}
	}
	for _, key := range slices.Sorted(maps.Keys(from.CustomResources)) {
		checkKey(fromPath.Key(key), key)
		if _, both := to.CustomResources[key]; both {
			errs = append(errs, field.Duplicate(fromPath.Key(key),
				key+" is also under spec.sync.toHost.customResources: a resource is synced in one direction only; keep one of the two"))
		}
		if cr := from.CustomResources[key]; cr.Enabled && cr.Scope == tenancyv1alpha1.NamespaceScoped {
			errs = append(errs, field.Invalid(fromPath.Key(key).Child("scope"), cr.Scope,
				"namespaced custom resources from the host are not supported yet: no virtual namespace is set aside to show them in. "+
					"Use a cluster-scoped kind with scope: Cluster, or sync the kind to the host instead"))
		}
	}

	if vc.SpecMode() == tenancyv1alpha1.MultiNamespaceMode {
		return errs
	}
	// Single-namespace mode: nothing that needs cluster-level host access.
	for name, on := range map[string]bool{
		"nodes": from.Nodes.IsEnabled(), "storageClasses": from.StorageClasses.IsEnabled(),
		"ingressClasses": from.IngressClasses.IsEnabled(), "priorityClasses": from.PriorityClasses.IsEnabled(),
		"runtimeClasses": from.RuntimeClasses.IsEnabled(),
	} {
		if on {
			errs = append(errs, field.Forbidden(syncPath.Child("fromHost", name, "enabled"),
				fmt.Sprintf("syncing %s from the host reads a cluster-scoped kind: %s", name, multiHint)))
		}
	}
	for _, key := range slices.Sorted(maps.Keys(from.CustomResources)) {
		if cr := from.CustomResources[key]; cr.Enabled && cr.Scope != tenancyv1alpha1.NamespaceScoped {
			errs = append(errs, field.Forbidden(fromPath.Key(key).Child("scope"),
				fmt.Sprintf("a cluster-scoped custom resource is read cluster-wide: %s", multiHint)))
		}
	}
	sortErrors(errs)
	return errs
}

func validateControlPlane(vc *tenancyv1alpha1.VirtualCluster) field.ErrorList {
	var errs field.ErrorList
	cp := vc.Spec.ControlPlane
	if v, err := version.ParseSemantic(controlplane.Version(vc)); err != nil {
		errs = append(errs, field.Invalid(cpPath.Child("version"), cp.Version, "must be a Kubernetes version such as "+tenancyv1alpha1.DefaultKubernetesVersion))
	} else if !slices.Contains(controlplane.SupportedMinors, v.Minor()) {
		errs = append(errs, field.NotSupported(cpPath.Child("version"), cp.Version, supportedVersions()))
	}

	imgPath := cpPath.Child("images")
	for name, img := range map[string]string{"etcd": cp.Images.Etcd, "apiServer": cp.Images.APIServer, "controllerManager": cp.Images.ControllerManager, "syncer": cp.Images.Syncer, "coreDNS": cp.Images.CoreDNS} {
		if img == "" {
			continue
		}
		if _, err := reference.ParseNormalizedNamed(img); err != nil {
			errs = append(errs, field.Invalid(imgPath.Child(name), img, "must be an image reference such as registry.k8s.io/kube-apiserver:v1.37.2: "+err.Error()))
		}
	}

	persistPath := cpPath.Child("persistence")
	if size := cp.Persistence.Size; cp.Persistence.IsEnabled() && size.Sign() <= 0 {
		errs = append(errs, field.Invalid(persistPath.Child("size"), size.String(),
			"must be a positive size such as 5Gi when persistence is enabled: it is what each etcd member's volume claims"))
	} else if _, fits := size.AsInt64(); !fits {
		errs = append(errs, field.Invalid(persistPath.Child("size"), size.String(),
			"is larger than a volume claim can hold (under 8Ei): use a size such as 5Gi"))
	}
	if class := cp.Persistence.StorageClassName; class != nil && *class != "" {
		if msgs := validation.IsDNS1123Subdomain(*class); len(msgs) > 0 {
			errs = append(errs, field.Invalid(persistPath.Child("storageClassName"), *class,
				"must be the name of a StorageClass (empty for none): "+strings.Join(msgs, "; ")))
		}
	}

	resPath := cpPath.Child("resources")
	for name, r := range map[string]corev1.ResourceRequirements{"etcd": cp.Resources.Etcd, "apiServer": cp.Resources.APIServer, "controllerManager": cp.Resources.ControllerManager, "syncer": cp.Resources.Syncer, "coreDNS": cp.Resources.CoreDNS} {
		for kind, list := range map[string]corev1.ResourceList{"requests": r.Requests, "limits": r.Limits} {
			for res, q := range list {
				if q.Sign() < 0 {
					errs = append(errs, field.Invalid(resPath.Child(name, kind).Key(string(res)), q.String(), "must not be negative"))
				}
			}
		}
		for res, req := range r.Requests {
			if limit, ok := r.Limits[res]; ok && req.Cmp(limit) > 0 {
				errs = append(errs, field.Invalid(resPath.Child(name, "requests").Key(string(res)), req.String(),
					fmt.Sprintf("must not exceed the limit %s: the pod would be rejected", limit.String())))
			}
		}
	}

	argsPath := cpPath.Child("extraArgs")
	reserved := controlplane.ManagedFlags()
	for name, args := range map[string][]string{"etcd": cp.ExtraArgs.Etcd, "apiServer": cp.ExtraArgs.APIServer, "controllerManager": cp.ExtraArgs.ControllerManager} {
		if len(args) > maxExtraArgs {
			errs = append(errs, field.TooMany(argsPath.Child(name), len(args), maxExtraArgs))
		}
		for i, arg := range args {
			flag, _, _ := strings.Cut(arg, "=")
			switch {
			case len(arg) > maxExtraArgLength:
				errs = append(errs, field.TooLong(argsPath.Child(name).Index(i), "", maxExtraArgLength))
			case slices.Contains(reserved[name], flag):
				errs = append(errs, field.Forbidden(argsPath.Child(name).Index(i),
					flag+" is set by Nestor to wire the control plane together (certificates, addresses, etcd membership); it cannot be overridden"))
			case slices.Contains(rewiring[name], flag):
				errs = append(errs, field.Forbidden(argsPath.Child(name).Index(i),
					flag+" would point the component at another cluster or configuration than the one Nestor wires up; it cannot be set"))
			}
		}
	}

	svcPath := cpPath.Child("service")
	errs = append(errs, apivalidation.ValidateAnnotations(cp.Service.Annotations, svcPath.Child("annotations"))...)
	for i, san := range cp.Service.ExtraSANs {
		if _, err := netip.ParseAddr(san); err == nil {
			continue
		}
		if msgs := validation.IsWildcardDNS1123Subdomain(san); strings.HasPrefix(san, "*.") && len(msgs) > 0 {
			errs = append(errs, field.Invalid(svcPath.Child("extraSANs").Index(i), san, strings.Join(msgs, "; ")))
		} else if msgs := validation.IsDNS1123Subdomain(san); !strings.HasPrefix(san, "*.") && len(msgs) > 0 {
			errs = append(errs, field.Invalid(svcPath.Child("extraSANs").Index(i), san, "must be a DNS name or an IP address: "+strings.Join(msgs, "; ")))
		}
	}
	sortErrors(errs)
	return errs
}

// Bounds of spec.controlPlane.extraArgs: the arguments go into the
// StatefulSet, which, like every object, must stay well under etcd's 1.5 MB.
const (
	maxExtraArgs      = 64
	maxExtraArgLength = 4096
)

// rewiring are the flags, per extraArgs field, that Nestor does not set but
// that would connect a component elsewhere, or replace its configuration
// whole: another API server, another kubeconfig, another configuration file.
var rewiring = map[string][]string{
	"etcd":              {"--config-file"},
	"apiServer":         {"--etcd-servers-overrides", "--egress-selector-config-file"},
	"controllerManager": {"--master", "--authorization-kubeconfig"},
}

func validateNetworking(n tenancyv1alpha1.NetworkingSpec) field.ErrorList {
	if n.ServiceCIDR == "" {
		return nil
	}
	p := netPath.Child("serviceCIDR")
	prefix, err := netip.ParsePrefix(n.ServiceCIDR)
	switch {
	case err != nil:
		return field.ErrorList{field.Invalid(p, n.ServiceCIDR, "must be a CIDR such as 10.96.0.0/12")}
	case prefix.Masked() != prefix:
		return field.ErrorList{field.Invalid(p, n.ServiceCIDR, fmt.Sprintf("must be a network address: %s", prefix.Masked()))}
	case prefix.Addr().BitLen()-prefix.Bits() < 4:
		return field.ErrorList{field.Invalid(p, n.ServiceCIDR, "must hold at least 16 addresses: kube-apiserver allocates the virtual cluster's Services from it")}
	}
	return nil
}

func validatePolicies(p tenancyv1alpha1.PoliciesSpec) field.ErrorList {
	var errs field.ErrorList
	for name := range p.ResourceQuota.Quota {
		if msgs := validation.IsQualifiedName(string(name)); len(msgs) > 0 {
			errs = append(errs, field.Invalid(polPath.Child("resourceQuota", "quota").Key(string(name)), string(name), strings.Join(msgs, "; ")))
		}
	}
	lr, lrPath := p.LimitRange, polPath.Child("limitRange")
	// A LimitRange must hold min <= defaultRequest <= default <= max.
	order := []struct {
		name string
		list corev1.ResourceList
	}{{"min", lr.Min}, {"defaultRequest", lr.DefaultRequest}, {"default", lr.Default}, {"max", lr.Max}}
	for i := range order {
		for j := i + 1; j < len(order); j++ {
			for res, low := range order[i].list {
				if high, ok := order[j].list[res]; ok && low.Cmp(high) > 0 {
					errs = append(errs, field.Invalid(lrPath.Child(order[i].name).Key(string(res)), low.String(),
						fmt.Sprintf("must not exceed %s %s", order[j].name, high.String())))
				}
			}
		}
	}
	if block := p.NetworkPolicy.OutgoingConnections.IPBlock; block != nil {
		bp := polPath.Child("networkPolicy", "outgoingConnections", "ipBlock")
		cidr, err := netip.ParsePrefix(block.CIDR)
		if err != nil {
			errs = append(errs, field.Invalid(bp.Child("cidr"), block.CIDR, "must be a CIDR such as 0.0.0.0/0"))
		} else {
			for i, e := range block.Except {
				ex, err := netip.ParsePrefix(e)
				if err != nil || !cidr.Contains(ex.Addr()) || ex.Bits() < cidr.Bits() {
					errs = append(errs, field.Invalid(bp.Child("except").Index(i), e, "must be a CIDR inside "+block.CIDR))
				}
			}
		}
	}
	sortErrors(errs)
	return errs
}

// controlPlaneFitsPolicies checks, in single-namespace mode, that the
// policies admit the control plane's own pods: the LimitRange and the
// ResourceQuota apply to the whole namespace, the control plane and the
// syncer included.
func controlPlaneFitsPolicies(vc *tenancyv1alpha1.VirtualCluster) field.ErrorList {
	p := vc.Spec.Policies
	if vc.SpecMode() == tenancyv1alpha1.MultiNamespaceMode || !(p.LimitRange.Enabled || p.ResourceQuota.Enabled) {
		return nil
	}
	lr, lrPath := p.LimitRange, polPath.Child("limitRange")
	if !lr.Enabled {
		lr = tenancyv1alpha1.LimitRangePolicy{}
	}
	res := vc.Spec.ControlPlane.Resources
	containers := map[string]corev1.ResourceRequirements{"etcd": res.Etcd, "apiServer": res.APIServer, "controllerManager": res.ControllerManager, "syncer": res.Syncer, "coreDNS": res.CoreDNS}
	// The API server defaults a LimitRange's default limit from its max, and
	// its default request from the default limit, then from its min.
	defaultLimit, defaultRequest := corev1.ResourceList{}, corev1.ResourceList{}
	for _, from := range []corev1.ResourceList{lr.Default, lr.Max} {
		for k, v := range from {
			if _, ok := defaultLimit[k]; !ok {
				defaultLimit[k] = v
			}
		}
	}
	for _, from := range []corev1.ResourceList{lr.DefaultRequest, defaultLimit, lr.Min} {
		for k, v := range from {
			if _, ok := defaultRequest[k]; !ok {
				defaultRequest[k] = v
			}
		}
	}
	// effective is what a container ends up with: a request defaults to its
	// own limit, and the LimitRange fills in what is still unset.
	effective := func(r corev1.ResourceRequirements, name corev1.ResourceName) (request, limit *resource.Quantity) {
		pick := func(lists ...corev1.ResourceList) *resource.Quantity {
			for _, l := range lists {
				if q, ok := l[name]; ok {
					return &q
				}
			}
			return nil
		}
		return pick(r.Requests, r.Limits, defaultRequest), pick(r.Limits, defaultLimit)
	}
	var errs field.ErrorList
	for _, c := range slices.Sorted(maps.Keys(containers)) {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			request, limit := effective(containers[c], name)
			switch max, hasMax := lr.Max[name]; {
			case request != nil && limit != nil && request.Cmp(*limit) > 0:
				errs = append(errs, field.Invalid(lrPath.Child("default").Key(string(name)), limit.String(), fmt.Sprintf(
					"would limit the control plane's %s container below its request %s and keep its pod from starting; raise it, or set spec.controlPlane.resources.%s.limits.%s",
					c, request, c, name)))
			case hasMax && limit != nil && limit.Cmp(max) > 0:
				errs = append(errs, field.Invalid(lrPath.Child("max").Key(string(name)), max.String(), fmt.Sprintf(
					"is below the control plane's %s container's limit %s, so its pod would be rejected; raise it, or lower spec.controlPlane.resources.%s.limits.%s",
					c, limit, c, name)))
			}
			if min, ok := lr.Min[name]; ok && (request == nil || request.Cmp(min) < 0) {
				errs = append(errs, field.Invalid(lrPath.Child("min").Key(string(name)), min.String(), fmt.Sprintf(
					"is above what the control plane's %s container requests, so its pod would be rejected; lower it, or raise spec.controlPlane.resources.%s.requests.%s",
					c, c, name)))
			}
		}
	}
	if p.ResourceQuota.Enabled {
		for _, key := range slices.Sorted(maps.Keys(p.ResourceQuota.Quota)) {
			kind, name, ok := quotaTracks(key)
			if !ok {
				continue
			}
			for _, c := range slices.Sorted(maps.Keys(containers)) {
				request, limit := effective(containers[c], name)
				if (kind == "limits" && limit == nil) || (kind == "requests" && request == nil) {
					quota := p.ResourceQuota.Quota[key]
					errs = append(errs, field.Invalid(polPath.Child("resourceQuota", "quota").Key(string(key)), quota.String(), fmt.Sprintf(
						"the quota tracks %s, which the control plane's %s container does not set, so its pod would be rejected; set spec.controlPlane.resources.%s.%s.%s, or a spec.policies.limitRange default",
						key, c, c, kind, name)))
				}
			}
		}
	}
	return errs
}

// quotaTracks says which container resource a quota key needs pods to set.
func quotaTracks(key corev1.ResourceName) (kind string, name corev1.ResourceName, ok bool) {
	switch key {
	case corev1.ResourceCPU, corev1.ResourceRequestsCPU:
		return "requests", corev1.ResourceCPU, true
	case corev1.ResourceMemory, corev1.ResourceRequestsMemory:
		return "requests", corev1.ResourceMemory, true
	case corev1.ResourceLimitsCPU:
		return "limits", corev1.ResourceCPU, true
	case corev1.ResourceLimitsMemory:
		return "limits", corev1.ResourceMemory, true
	}
	return "", "", false
}

// warnings are for settings that are legal but risky.
func warnings(vc *tenancyv1alpha1.VirtualCluster) []string {
	var w []string
	cp := vc.Spec.ControlPlane
	if !cp.Persistence.IsEnabled() {
		w = append(w, "spec.controlPlane.persistence.enabled is false: etcd keeps its data in an emptyDir, and the virtual cluster loses all its state whenever its pod restarts")
	}
	if cp.Persistence.IsEnabled() && cp.Persistence.RetentionPolicy == tenancyv1alpha1.RetentionRetain {
		w = append(w, "spec.controlPlane.persistence.retentionPolicy is Retain: etcd's volumes stay behind when the VirtualCluster is deleted, until you delete them")
	}
	if vc.SpecMode() == tenancyv1alpha1.MultiNamespaceMode {
		w = append(w, "multi-namespace mode gives the syncer the right to create namespaces and RoleBindings anywhere on the host; "+
			"Nestor's admission webhook holds it to its own host namespaces")
	}
	if vc.Spec.Sync.ToHost.Secrets.All {
		w = append(w, "spec.sync.toHost.secrets.all is true: every Secret of the virtual cluster is copied to the host, referenced or not")
	}
	for _, key := range slices.Sorted(maps.Keys(vc.Spec.Sync.ToHost.CustomResources)) {
		cr := vc.Spec.Sync.ToHost.CustomResources[key]
		switch {
		case !cr.Enabled:
			w = append(w, fmt.Sprintf("spec.sync.toHost.customResources[%s] has enabled: false and syncs nothing", key))
		case vc.SpecMode() == tenancyv1alpha1.SingleNamespaceMode && !references.Declared(key, cr.Patches):
			w = append(w, fmt.Sprintf("spec.sync.toHost.customResources[%s] declares no references: in single-namespace mode a field of its objects "+
				"that names another object is copied as it is, and on the host names an object beside the VirtualCluster instead of the tenant's copy. "+
				"List such fields under patches, or set patches: [] to say there are none", key))
		}
	}
	for _, key := range slices.Sorted(maps.Keys(vc.Spec.Sync.FromHost.CustomResources)) {
		if !vc.Spec.Sync.FromHost.CustomResources[key].Enabled {
			w = append(w, fmt.Sprintf("spec.sync.fromHost.customResources[%s] has enabled: false and syncs nothing", key))
		}
	}
	return w
}

func supportedVersions() []string {
	out := make([]string, 0, len(controlplane.SupportedMinors))
	for _, m := range controlplane.SupportedMinors {
		out = append(out, fmt.Sprintf("v1.%d.x", m))
	}
	return out
}

// sortErrors orders errors by field, so that the messages are stable.
func sortErrors(errs field.ErrorList) {
	slices.SortStableFunc(errs, func(a, b *field.Error) int { return strings.Compare(a.Field, b.Field) })
}
