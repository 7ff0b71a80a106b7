package translate

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/utils/ptr"
)

// Service is the host copy of virtual service v. Its selector, when it has
// one, gains the markers of v's namespace, so that it selects the host
// copies of that namespace's pods and nothing else on the host. The host
// allocates its own cluster IPs and node ports.
func (c Context) Service(v *corev1.Service) *corev1.Service {
	h := &corev1.Service{ObjectMeta: c.Meta(kindService, v)}
	spec := v.Spec.DeepCopy()
	if len(spec.Selector) > 0 {
		spec.Selector = withoutReserved(spec.Selector)
		maps.Copy(spec.Selector, c.Markers(v.Namespace))
	}
	spec.ClusterIP, spec.ClusterIPs = "", nil
	// External IPs would let a tenant intercept traffic to any address on
	// the host (CVE-2020-8554): they are the host's to give.
	spec.ExternalIPs = nil
	if spec.Type == corev1.ServiceTypeClusterIP && v.Spec.ClusterIP == corev1.ClusterIPNone {
		spec.ClusterIP, spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
	}
	for i := range spec.Ports {
		spec.Ports[i].NodePort = 0
	}
	spec.HealthCheckNodePort = 0
	h.Spec = *spec
	return h
}

// Secret is the host copy of virtual secret v, data and all. A virtual
// service-account token Secret keeps its type out of the host, where its
// ServiceAccount does not exist: the type is immutable and would tie it to
// a host ServiceAccount.
func (c Context) Secret(v *corev1.Secret) *corev1.Secret {
	h := &corev1.Secret{ObjectMeta: c.Meta(kindSecret, v), Type: v.Type, Immutable: v.Immutable}
	if h.Type == corev1.SecretTypeServiceAccountToken {
		h.Type = corev1.SecretTypeOpaque
	}
	h.Data = maps.Clone(v.Data)
	return h
}

// ConfigMap is the host copy of virtual configMap v.
func (c Context) ConfigMap(v *corev1.ConfigMap) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: c.Meta(kindConfigMap, v),
		Data:       maps.Clone(v.Data),
		BinaryData: maps.Clone(v.BinaryData),
		Immutable:  v.Immutable,
	}
}

// PersistentVolumeClaim is the host copy of virtual claim v. A volume the
// tenant names is one of the virtual cluster's, not the host's, so the
// binding is left to the host.
func (c Context) PersistentVolumeClaim(v *corev1.PersistentVolumeClaim) *corev1.PersistentVolumeClaim {
	h := &corev1.PersistentVolumeClaim{ObjectMeta: c.Meta(kindPersistentVolumeClaim, v)}
	spec := v.Spec.DeepCopy()
	spec.VolumeName = ""
	c.dataSources(spec, v.Namespace)
	h.Spec = *spec
	// The claim's annotations from the virtual cluster's controllers bind
	// it there; on the host they would bind it to nothing.
	delete(h.Annotations, "pv.kubernetes.io/bind-completed")
	delete(h.Annotations, "pv.kubernetes.io/bound-by-controller")
	delete(h.Annotations, "volume.kubernetes.io/selected-node")
	return h
}

// dataSources points a claim's data source (a claim to clone, a snapshot)
// at the tenant's own objects: by a raw name it could read another
// tenant's volume. A source in another namespace is the tenant's to reach
// only in its own virtual cluster, so it is dropped.
func (c Context) dataSources(spec *corev1.PersistentVolumeClaimSpec, ns string) {
	if spec.DataSource != nil {
		spec.DataSource.Name = c.Names.HostName(ns, spec.DataSource.Name)
	}
	if r := spec.DataSourceRef; r != nil {
		if r.Namespace != nil && *r.Namespace != ns {
			spec.DataSourceRef, spec.DataSource = nil, nil
			return
		}
		r.Name, r.Namespace = c.Names.HostName(ns, r.Name), nil
	}
}

// Endpoints is the host copy of the endpoints of a selectorless virtual
// service, which the tenant manages by hand: its name is the host service's,
// and the host mirrors it into endpoint slices as it does its own.
func (c Context) Endpoints(v *corev1.Endpoints) *corev1.Endpoints {
	h := &corev1.Endpoints{ObjectMeta: c.Meta(kindEndpoints, v)}
	for _, subset := range v.Subsets {
		subset = *subset.DeepCopy()
		for _, addrs := range [][]corev1.EndpointAddress{subset.Addresses, subset.NotReadyAddresses} {
			for i := range addrs {
				// The address stays; what it points at in the virtual
				// cluster does not exist on the host.
				addrs[i].TargetRef, addrs[i].NodeName = nil, nil
			}
		}
		h.Subsets = append(h.Subsets, subset)
	}
	return h
}

// Ingress is the host copy of virtual ingress v: its backends are the
// translated services, its TLS secrets the translated secrets.
func (c Context) Ingress(v *networkingv1.Ingress) *networkingv1.Ingress {
	h := &networkingv1.Ingress{ObjectMeta: c.Meta(kindIngress, v)}
	spec := v.Spec.DeepCopy()
	backend := func(b *networkingv1.IngressBackend) {
		if b != nil && b.Service != nil {
			b.Service.Name = c.Names.HostName(v.Namespace, b.Service.Name)
		}
	}
	backend(spec.DefaultBackend)
	for i := range spec.Rules {
		if http := spec.Rules[i].HTTP; http != nil {
			for j := range http.Paths {
				backend(&http.Paths[j].Backend)
			}
		}
	}
	for i := range spec.TLS {
		if spec.TLS[i].SecretName != "" {
			spec.TLS[i].SecretName = c.Names.HostName(v.Namespace, spec.TLS[i].SecretName)
		}
	}
	h.Spec = *spec
	return h
}

// IngressSecrets lists the TLS secrets virtual ingress v reads.
func IngressSecrets(v *networkingv1.Ingress) []string {
	var out []string
	for _, tls := range v.Spec.TLS {
		if tls.SecretName != "" {
			out = append(out, tls.SecretName)
		}
	}
	return out
}

// PodDisruptionBudget is the host copy of virtual budget v, selecting the
// host copies of the pods it selects in the virtual cluster.
func (c Context) PodDisruptionBudget(v *policyv1.PodDisruptionBudget) *policyv1.PodDisruptionBudget {
	h := &policyv1.PodDisruptionBudget{ObjectMeta: c.Meta(kindPodDisruptionBudget, v)}
	spec := v.Spec.DeepCopy()
	// A null selector selects no pod, and must stay one.
	if sel := spec.Selector; sel != nil {
		sel.MatchLabels = withoutReserved(sel.MatchLabels)
		maps.Copy(sel.MatchLabels, c.Markers(v.Namespace))
	}
	h.Spec = *spec
	return h
}

// ServiceAccount is the host copy of virtual ServiceAccount v: its
// annotations (a cloud's workload identity, say) and image pull secrets,
// and never a host token.
func (c Context) ServiceAccount(v *corev1.ServiceAccount) *corev1.ServiceAccount {
	h := &corev1.ServiceAccount{ObjectMeta: c.Meta(kindServiceAccount, v), AutomountServiceAccountToken: ptr.To(false)}
	for _, s := range v.ImagePullSecrets {
		h.ImagePullSecrets = append(h.ImagePullSecrets, corev1.LocalObjectReference{Name: c.Names.HostName(v.Namespace, s.Name)})
	}
	return h
}
