package translate

import (
	"fmt"
	"net"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/naming"
)

// TokenKey is the key of the service-account token in a pod's token Secret.
const TokenKey = "token"

// AnnotationVirtualServiceAccount records a host pod's virtual
// ServiceAccount, for the downward API.
const AnnotationVirtualServiceAccount = "nestor.dev/virtual-service-account"

// AnnotationVirtualGeneration, on a host pod, is the generation of the
// virtual pod it was last written from: the host's kubelet reports the host
// pod's own generation as observed, which PodStatus turns back into the
// virtual pod's.
const AnnotationVirtualGeneration = "nestor.dev/virtual-generation"

// TokenSecretName is the host Secret holding the token the virtual cluster
// issued for virtual pod namespace/name.
func (c Context) TokenSecretName(namespace, name string) string {
	return naming.Shorten(c.Names.HostName(namespace, name)+"-sa-token", naming.MaxLabel)
}

// downward maps the fields a virtual pod reads about itself through the
// downward API to the host pod's annotations that hold the virtual values:
// the host pod's own name, namespace and UID are not the tenant's.
var downward = map[string]string{
	"metadata.name":           annotationPath(tenancyv1alpha1.AnnotationVirtualName),
	"metadata.namespace":      annotationPath(tenancyv1alpha1.AnnotationVirtualNamespace),
	"metadata.uid":            annotationPath(tenancyv1alpha1.AnnotationVirtualUID),
	"spec.serviceAccountName": annotationPath(AnnotationVirtualServiceAccount),
}

func annotationPath(key string) string {
	return fmt.Sprintf("metadata.annotations['%s']", key)
}

// Pod is the host copy of virtual pod v. It runs as the workload
// ServiceAccount with no host token; every reference to a secret, configMap
// or claim points at the translated copy; a projected service-account token
// becomes the Secret in which the syncer keeps a token the virtual cluster
// issued for v; and the in-cluster API address is the virtual cluster's.
func (c Context) Pod(v *corev1.Pod) *corev1.Pod {
	h := &corev1.Pod{ObjectMeta: c.Meta(kindPod, v)}
	h.Annotations[AnnotationVirtualServiceAccount] = v.Spec.ServiceAccountName
	h.Annotations[AnnotationVirtualGeneration] = strconv.FormatInt(v.Generation, 10)
	spec := v.Spec.DeepCopy()
	ns := v.Namespace
	name := func(n string) string { return c.Names.HostName(ns, n) }

	spec.ServiceAccountName = c.WorkloadServiceAccount
	spec.DeprecatedServiceAccount = ""
	spec.AutomountServiceAccountToken = ptr.To(false)
	// The host schedules the pod; the tenant's nodes are not the host's.
	spec.NodeName = ""
	// Host Services must not leak into the tenant's environment.
	spec.EnableServiceLinks = ptr.To(false)
	// A priority class is the host's to give: the tenant's name means
	// nothing there, and could pick a host-critical one.
	spec.PriorityClassName, spec.Priority, spec.PreemptionPolicy = "", nil, nil
	// The pod's own name is the virtual one; its subdomain names a virtual
	// headless Service, which the virtual cluster's DNS serves.
	if spec.Hostname == "" && len(validation.IsDNS1123Label(v.Name)) == 0 {
		spec.Hostname = v.Name
	}
	if c.Nameserver != "" {
		spec.DNSPolicy, spec.DNSConfig = PodDNS(spec.DNSPolicy, spec.HostNetwork, spec.DNSConfig, c.Nameserver, ns, c.ClusterDomain)
	}
	for i := range spec.ImagePullSecrets {
		spec.ImagePullSecrets[i].Name = name(spec.ImagePullSecrets[i].Name)
	}
	for i := range spec.Volumes {
		c.volume(&spec.Volumes[i], v)
	}
	env := c.apiServerEnv()
	for _, containers := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range containers {
			containerRefs(&containers[i].Env, containers[i].EnvFrom, name, func(n string) string { return c.ConfigMapName(ns, n) })
			containers[i].Env = withDefaults(containers[i].Env, env)
		}
	}
	// Without their conditions, which the syncer may not carry, the gates
	// would keep the host pod from ever being Ready (PodStatus reports them).
	if !c.CarryReadinessGates {
		spec.ReadinessGates = nil
	}
	// The API adds ephemeral containers through a subresource only, never
	// on create or update: a debug container stays in the virtual cluster.
	spec.EphemeralContainers = nil
	h.Spec = *spec
	return h
}

// apiServerEnv are the variables of the "kubernetes" Service that a
// kubelet gives every container, whatever enableServiceLinks says, here
// naming the virtual cluster's API server: in-cluster clients read
// KUBERNETES_SERVICE_HOST and _PORT, older ones KUBERNETES_PORT. The host's
// kubelet sets them for the host's API server, and a container's own
// variables win over those.
func (c Context) apiServerEnv() []corev1.EnvVar {
	const port = "443"
	url := "tcp://" + net.JoinHostPort(c.APIServerHost, port)
	return []corev1.EnvVar{
		{Name: "KUBERNETES_SERVICE_HOST", Value: c.APIServerHost},
		{Name: "KUBERNETES_SERVICE_PORT", Value: port},
		{Name: "KUBERNETES_SERVICE_PORT_HTTPS", Value: port},
		{Name: "KUBERNETES_PORT", Value: url},
		{Name: "KUBERNETES_PORT_443_TCP", Value: url},
		{Name: "KUBERNETES_PORT_443_TCP_PROTO", Value: "tcp"},
		{Name: "KUBERNETES_PORT_443_TCP_PORT", Value: port},
		{Name: "KUBERNETES_PORT_443_TCP_ADDR", Value: c.APIServerHost},
	}
}

// maxNameservers is how many nameservers a pod may have (the resolver's
// limit, which the API enforces).
const maxNameservers = 3

// PodDNS is the DNS policy and configuration of a host pod whose virtual
// pod in namespace has policy and config: a pod that asks for its cluster's
// DNS (ClusterFirst without the host's network, or ClusterFirstWithHostNet)
// gets the virtual cluster's, at nameserver, with the search path and ndots
// a kubelet of the virtual cluster would give it, and the tenant's own
// dnsConfig merged in as a kubelet merges it. Any other pod (Default, None,
// ClusterFirst on the host's network, which a kubelet treats as Default)
// keeps what the tenant wrote.
func PodDNS(policy corev1.DNSPolicy, hostNetwork bool, config *corev1.PodDNSConfig, nameserver, namespace, domain string) (corev1.DNSPolicy, *corev1.PodDNSConfig) {
	switch {
	case policy == corev1.DNSClusterFirstWithHostNet:
	case (policy == "" || policy == corev1.DNSClusterFirst) && !hostNetwork:
	default:
		return policy, config
	}
	out := &corev1.PodDNSConfig{
		Nameservers: []string{nameserver},
		Searches:    []string{namespace + ".svc." + domain, "svc." + domain, domain},
		Options:     []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("5")}},
	}
	if config == nil {
		return corev1.DNSNone, out
	}
	for _, n := range config.Nameservers {
		if !slices.Contains(out.Nameservers, n) && len(out.Nameservers) < maxNameservers {
			out.Nameservers = append(out.Nameservers, n)
		}
	}
	for _, s := range config.Searches {
		if !slices.Contains(out.Searches, s) {
			out.Searches = append(out.Searches, s)
		}
	}
	// The tenant's option of a name replaces ours.
	for _, o := range config.Options {
		if i := slices.IndexFunc(out.Options, func(x corev1.PodDNSConfigOption) bool { return x.Name == o.Name }); i >= 0 {
			out.Options[i] = *o.DeepCopy()
		} else {
			out.Options = append(out.Options, *o.DeepCopy())
		}
	}
	return corev1.DNSNone, out
}

// containerRefs translates the secrets and configMaps a container reads,
// and the downward-API fields it reads about its pod.
func containerRefs(env *[]corev1.EnvVar, envFrom []corev1.EnvFromSource, name, configMap func(string) string) {
	for i := range *env {
		vf := (*env)[i].ValueFrom
		switch {
		case vf == nil:
		case vf.SecretKeyRef != nil:
			vf.SecretKeyRef.Name = name(vf.SecretKeyRef.Name)
		case vf.ConfigMapKeyRef != nil:
			vf.ConfigMapKeyRef.Name = configMap(vf.ConfigMapKeyRef.Name)
		case vf.FieldRef != nil:
			if path, ok := downward[vf.FieldRef.FieldPath]; ok {
				vf.FieldRef.FieldPath = path
			}
		}
	}
	for i := range envFrom {
		if r := envFrom[i].SecretRef; r != nil {
			r.Name = name(r.Name)
		}
		if r := envFrom[i].ConfigMapRef; r != nil {
			r.Name = configMap(r.Name)
		}
	}
}

// withDefaults puts the variables of defaults that env does not set ahead
// of env's own: a kubelet's variables come first, so that a container's may
// refer to them as $(NAME).
func withDefaults(env, defaults []corev1.EnvVar) []corev1.EnvVar {
	var out []corev1.EnvVar
	for _, d := range defaults {
		if !slices.ContainsFunc(env, func(e corev1.EnvVar) bool { return e.Name == d.Name }) {
			out = append(out, d)
		}
	}
	if out == nil {
		return env
	}
	return append(out, env...)
}

func (c Context) volume(vol *corev1.Volume, v *corev1.Pod) {
	name := func(n string) string { return c.Names.HostName(v.Namespace, n) }
	if ref := secretRefOf(&vol.VolumeSource); ref != nil {
		*ref = name(*ref)
	}
	switch s := vol.VolumeSource; {
	case s.Secret != nil:
		s.Secret.SecretName = name(s.Secret.SecretName)
	case s.ConfigMap != nil:
		s.ConfigMap.Name = c.ConfigMapName(v.Namespace, s.ConfigMap.Name)
	case s.PersistentVolumeClaim != nil:
		s.PersistentVolumeClaim.ClaimName = name(s.PersistentVolumeClaim.ClaimName)
	case s.Ephemeral != nil && s.Ephemeral.VolumeClaimTemplate != nil:
		t := s.Ephemeral.VolumeClaimTemplate
		t.Labels, t.Annotations = withoutReserved(t.Labels), withoutReserved(t.Annotations)
		c.dataSources(&t.Spec, v.Namespace)
	case s.DownwardAPI != nil:
		downwardItems(s.DownwardAPI.Items)
	case s.Projected != nil:
		// A pod certificate would be issued for the host identity: never.
		s.Projected.Sources = slices.DeleteFunc(s.Projected.Sources, func(src corev1.VolumeProjection) bool {
			return src.PodCertificate != nil
		})
		for i := range s.Projected.Sources {
			src := &s.Projected.Sources[i]
			switch {
			case src.Secret != nil:
				src.Secret.Name = name(src.Secret.Name)
			case src.ConfigMap != nil:
				src.ConfigMap.Name = c.ConfigMapName(v.Namespace, src.ConfigMap.Name)
			case src.DownwardAPI != nil:
				downwardItems(src.DownwardAPI.Items)
			case src.ServiceAccountToken != nil:
				path := src.ServiceAccountToken.Path
				src.ServiceAccountToken = nil
				src.Secret = &corev1.SecretProjection{
					LocalObjectReference: corev1.LocalObjectReference{Name: c.TokenSecretName(v.Namespace, v.Name)},
					Items:                []corev1.KeyToPath{{Key: TokenKey, Path: path}},
				}
			}
		}
	}
}

func downwardItems(items []corev1.DownwardAPIVolumeFile) {
	for i := range items {
		if f := items[i].FieldRef; f != nil {
			if path, ok := downward[f.FieldPath]; ok {
				f.FieldPath = path
			}
		}
	}
}

// PodReferences lists the names of the secrets, configMaps and claims
// virtual pod v reads, each once, in order of first appearance.
func PodReferences(v *corev1.Pod) (secrets, configMaps, claims []string) {
	add := func(list *[]string, n string) {
		if n != "" && !slices.Contains(*list, n) {
			*list = append(*list, n)
		}
	}
	for _, s := range v.Spec.ImagePullSecrets {
		add(&secrets, s.Name)
	}
	for _, vol := range v.Spec.Volumes {
		if ref := secretRefOf(&vol.VolumeSource); ref != nil {
			add(&secrets, *ref)
		}
		switch s := vol.VolumeSource; {
		case s.Secret != nil:
			add(&secrets, s.Secret.SecretName)
		case s.ConfigMap != nil:
			add(&configMaps, s.ConfigMap.Name)
		case s.PersistentVolumeClaim != nil:
			add(&claims, s.PersistentVolumeClaim.ClaimName)
		case s.Projected != nil:
			for _, src := range s.Projected.Sources {
				if src.Secret != nil {
					add(&secrets, src.Secret.Name)
				}
				if src.ConfigMap != nil {
					add(&configMaps, src.ConfigMap.Name)
				}
			}
		}
	}
	visit := func(env []corev1.EnvVar, envFrom []corev1.EnvFromSource) {
		for _, e := range env {
			if vf := e.ValueFrom; vf != nil && vf.SecretKeyRef != nil {
				add(&secrets, vf.SecretKeyRef.Name)
			} else if vf != nil && vf.ConfigMapKeyRef != nil {
				add(&configMaps, vf.ConfigMapKeyRef.Name)
			}
		}
		for _, e := range envFrom {
			if e.SecretRef != nil {
				add(&secrets, e.SecretRef.Name)
			}
			if e.ConfigMapRef != nil {
				add(&configMaps, e.ConfigMapRef.Name)
			}
		}
	}
	for _, list := range [][]corev1.Container{v.Spec.InitContainers, v.Spec.Containers} {
		for _, c := range list {
			visit(c.Env, c.EnvFrom)
		}
	}
	for _, e := range v.Spec.EphemeralContainers {
		visit(e.Env, e.EnvFrom)
	}
	return secrets, configMaps, claims
}

// secretRefOf points at the name of the secret a volume plugin
// authenticates with, if it has one: it must be the tenant's copy, never a
// host secret of the same name.
func secretRefOf(s *corev1.VolumeSource) *string {
	var ref *corev1.LocalObjectReference
	switch {
	case s.CSI != nil:
		ref = s.CSI.NodePublishSecretRef
	case s.CephFS != nil:
		ref = s.CephFS.SecretRef
	case s.RBD != nil:
		ref = s.RBD.SecretRef
	case s.ISCSI != nil:
		ref = s.ISCSI.SecretRef
	case s.FlexVolume != nil:
		ref = s.FlexVolume.SecretRef
	case s.ScaleIO != nil:
		ref = s.ScaleIO.SecretRef
	case s.StorageOS != nil:
		ref = s.StorageOS.SecretRef
	case s.AzureFile != nil:
		return &s.AzureFile.SecretName
	}
	if ref == nil {
		return nil
	}
	return &ref.Name
}
