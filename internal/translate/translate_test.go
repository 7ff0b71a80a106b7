package translate

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
)

func contexts() map[string]Context {
	out := map[string]Context{}
	for mode, multi := range map[string]bool{"single": false, "multi": true} {
		out[mode] = Context{
			Names:                  naming.NewTranslator("team-a", "vc", multi),
			VirtualCluster:         "vc",
			VirtualClusterUID:      "vc-uid",
			HostNamespace:          "team-a",
			WorkloadServiceAccount: "vc-workload-vc",
			APIServerHost:          "10.96.0.20",
			Identity:               "kube-system-uid",
		}
	}
	return out
}

// pod reads secret s and configMap c every way a pod can, and mounts a
// service-account token as the ServiceAccount admission plugin adds it.
func pod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: "ns1", UID: "uid-1",
			Labels: map[string]string{
				"app": "web", tenancyv1alpha1.LabelVirtualCluster: "other", tenancyv1alpha1.LabelComponent: "control-plane",
				tenancyv1alpha1.LabelManagedBy: "me",
			},
			Annotations: map[string]string{"note": "kept", tenancyv1alpha1.AnnotationVirtualUID: "forged"},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName: "builder",
			NodeName:           "virtual-node",
			PriorityClassName:  "system-node-critical",
			ImagePullSecrets:   []corev1.LocalObjectReference{{Name: "pull"}},
			Volumes: []corev1.Volume{
				{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
				{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}}}},
				{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
				{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3607)}},
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}}},
					{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
						{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}},
					}}},
				}}}},
			},
			Containers: []corev1.Container{{
				Name: "app",
				Env: []corev1.EnvVar{
					{Name: "S", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}},
					{Name: "C", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, Key: "k"}}},
					{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "KUBERNETES_SERVICE_PORT", Value: "6443"},
				},
				EnvFrom: []corev1.EnvFromSource{
					{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}},
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}}},
				},
			}},
		},
	}
}

func TestPodReferences(t *testing.T) {
	secrets, configMaps, claims := PodReferences(pod())
	if want := []string{"pull", "s"}; !slices.Equal(secrets, want) {
		t.Errorf("secrets = %v, want %v", secrets, want)
	}
	if want := []string{"c", "kube-root-ca.crt"}; !slices.Equal(configMaps, want) {
		t.Errorf("configMaps = %v, want %v", configMaps, want)
	}
	if want := []string{"data"}; !slices.Equal(claims, want) {
		t.Errorf("claims = %v, want %v", claims, want)
	}
}

func TestPod(t *testing.T) {
	for mode, c := range contexts() {
		t.Run(mode, func(t *testing.T) {
			v := pod()
			h := c.Pod(v)
			name := func(n string) string { return c.Names.HostName("ns1", n) }

			if key := c.Names.HostKey("ns1", "web"); h.Name != key.Name || h.Namespace != key.Namespace {
				t.Errorf("host pod %s/%s, want %s", h.Namespace, h.Name, key)
			}
			if h.Labels["app"] != "web" || h.Annotations["note"] != "kept" {
				t.Errorf("the tenant's labels and annotations must be kept: %v %v", h.Labels, h.Annotations)
			}
			if h.Labels[tenancyv1alpha1.LabelVirtualCluster] != "vc" || h.Labels[tenancyv1alpha1.LabelManagedBy] != tenancyv1alpha1.SyncerManagedByValue {
				t.Errorf("markers must win over the tenant's labels: %v", h.Labels)
			}
			if _, ok := h.Labels[tenancyv1alpha1.LabelComponent]; ok {
				t.Error("a tenant pod must never carry the control plane's component label")
			}
			if h.Annotations[tenancyv1alpha1.AnnotationVirtualUID] != "uid-1" {
				t.Errorf("origin UID %q, want uid-1", h.Annotations[tenancyv1alpha1.AnnotationVirtualUID])
			}
			if o, ok := c.OriginOf(h); !ok || o != (Origin{Kind: kindPod, Namespace: "ns1", Name: "web", UID: "uid-1"}) {
				t.Errorf("OriginOf = %+v, %t", o, ok)
			}

			s := h.Spec
			if s.ServiceAccountName != "vc-workload-vc" || ptr.Deref(s.AutomountServiceAccountToken, true) {
				t.Errorf("runs as %q, automount %v", s.ServiceAccountName, s.AutomountServiceAccountToken)
			}
			if s.NodeName != "" || s.PriorityClassName != "" || ptr.Deref(s.EnableServiceLinks, true) {
				t.Errorf("nodeName %q, priorityClassName %q, enableServiceLinks %v", s.NodeName, s.PriorityClassName, s.EnableServiceLinks)
			}
			if s.ImagePullSecrets[0].Name != name("pull") ||
				s.Volumes[0].Secret.SecretName != name("s") ||
				s.Volumes[1].ConfigMap.Name != name("c") ||
				s.Volumes[2].PersistentVolumeClaim.ClaimName != name("data") {
				t.Errorf("references not translated: %+v", s)
			}
			proj := s.Volumes[3].Projected.Sources
			if proj[0].ServiceAccountToken != nil || proj[0].Secret == nil || proj[0].Secret.Name != c.TokenSecretName("ns1", "web") ||
				proj[0].Secret.Items[0] != (corev1.KeyToPath{Key: TokenKey, Path: "token"}) {
				t.Errorf("token projection %+v, want the token Secret", proj[0])
			}
			if proj[1].ConfigMap.Name != c.ConfigMapName("ns1", "kube-root-ca.crt") || proj[1].ConfigMap.Name == "kube-root-ca.crt" {
				t.Errorf("projected configMap %q", proj[1].ConfigMap.Name)
			}
			if got := proj[2].DownwardAPI.Items[0].FieldRef.FieldPath; got != "metadata.annotations['nestor.dev/virtual-namespace']" {
				t.Errorf("downward namespace reads %q", got)
			}
			env := s.Containers[0].Env
			// The container's own variables come after the kubelet's, in
			// their order.
			own := env[len(env)-4:]
			if own[0].ValueFrom.SecretKeyRef.Name != name("s") || own[1].ValueFrom.ConfigMapKeyRef.Name != name("c") ||
				own[2].ValueFrom.FieldRef.FieldPath != "metadata.annotations['nestor.dev/virtual-name']" {
				t.Errorf("env not translated: %+v", env)
			}
			if env[0].Name != "KUBERNETES_SERVICE_HOST" {
				t.Errorf("the API server's variables come first: %+v", env)
			}
			from := s.Containers[0].EnvFrom
			if from[0].SecretRef.Name != name("s") || from[1].ConfigMapRef.Name != name("c") {
				t.Errorf("envFrom not translated: %+v", from)
			}
			got := map[string]string{}
			for _, e := range env {
				got[e.Name] = e.Value
			}
			for k, want := range map[string]string{
				"KUBERNETES_SERVICE_HOST": "10.96.0.20", "KUBERNETES_SERVICE_PORT": "6443", "KUBERNETES_SERVICE_PORT_HTTPS": "443",
				"KUBERNETES_PORT": "tcp://10.96.0.20:443", "KUBERNETES_PORT_443_TCP": "tcp://10.96.0.20:443",
				"KUBERNETES_PORT_443_TCP_PROTO": "tcp", "KUBERNETES_PORT_443_TCP_PORT": "443", "KUBERNETES_PORT_443_TCP_ADDR": "10.96.0.20",
			} {
				if got[k] != want {
					t.Errorf("%s = %q, want %q: the virtual cluster's API server, unless the tenant set it", k, got[k], want)
				}
			}
			if v.Spec.Volumes[0].Secret.SecretName != "s" || v.Spec.ServiceAccountName != "builder" {
				t.Error("the virtual pod was changed")
			}
		})
	}
}

func TestServiceSelectsOnlyItsNamespacesPods(t *testing.T) {
	for mode, c := range contexts() {
		t.Run(mode, func(t *testing.T) {
			v := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns1", UID: "s1"},
				Spec: corev1.ServiceSpec{
					Selector: map[string]string{"app": "web"}, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"},
					Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080}},
				},
			}
			h := c.Service(v)
			sel := labels.SelectorFromSet(h.Spec.Selector)
			p := pod()
			p.Labels = map[string]string{"app": "web"}
			if !sel.Matches(labels.Set(c.Pod(p).Labels)) {
				t.Errorf("selector %v misses the translated pod", sel)
			}
			other := pod()
			other.Namespace, other.Labels = "ns2", map[string]string{"app": "web"}
			if sel.Matches(labels.Set(c.Pod(other).Labels)) {
				t.Error("selects a pod of another virtual namespace")
			}
			if sel.Matches(labels.Set{"app": "web"}) {
				t.Error("selects a host pod that is no copy")
			}
			if h.Spec.ClusterIP != "" || h.Spec.Ports[0].NodePort != 0 {
				t.Error("the host allocates its own addresses")
			}
		})
	}
}

func TestOwnership(t *testing.T) {
	c := contexts()["single"]
	h := c.Secret(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns1", UID: "u"}})
	if !c.Owns(kindSecret, "ns1", "s", h) {
		t.Fatal("a copy is its origin's")
	}
	for name, mutate := range map[string]func(*corev1.Secret){
		"unlabelled":            func(s *corev1.Secret) { s.Labels = nil },
		"another cluster's":     func(s *corev1.Secret) { s.Labels[tenancyv1alpha1.LabelVirtualCluster] = "other" },
		"no origin":             func(s *corev1.Secret) { delete(s.Annotations, tenancyv1alpha1.AnnotationVirtualUID) },
		"another kind's":        func(s *corev1.Secret) { s.Annotations[tenancyv1alpha1.AnnotationVirtualKind] = "ConfigMap" },
		"in another namespace":  func(s *corev1.Secret) { s.Namespace = "elsewhere" },
		"the operator's object": func(s *corev1.Secret) { s.Labels[tenancyv1alpha1.LabelManagedBy] = tenancyv1alpha1.ManagedByValue },
	} {
		s := h.DeepCopy()
		mutate(s)
		if c.Owns(kindSecret, "ns1", "s", s) {
			t.Errorf("%s: taken for the copy", name)
		}
	}
}

// A copy records the virtual cluster it was made for; only one of the
// context's own is current, whatever the tenant sets.
func TestCurrent(t *testing.T) {
	c := contexts()["single"]
	v := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns1", UID: "u",
		Labels: map[string]string{tenancyv1alpha1.LabelVirtualClusterUID: "forged"}}}
	h := c.Secret(v)
	if got := h.Labels[tenancyv1alpha1.LabelVirtualClusterUID]; got != "kube-system-uid" {
		t.Fatalf("a copy records virtual cluster %q, want kube-system-uid", got)
	}
	earlier := c
	earlier.Identity = "earlier-uid"
	unknown := c
	unknown.Identity = ""
	none := h.DeepCopy()
	delete(none.Labels, tenancyv1alpha1.LabelVirtualClusterUID)
	for _, tc := range []struct {
		name string
		c    Context
		h    metav1.Object
		want bool
	}{
		{"made for this virtual cluster", c, h, true},
		{"made for an earlier one", earlier, h, false},
		{"made before copies recorded it", c, none, false},
		{"by a context that knows no virtual cluster", unknown, none, false},
	} {
		if got := tc.c.Current(tc.h); got != tc.want {
			t.Errorf("%s: current %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A copy's origin records its kind by group. A copy that an earlier Nestor
// marked with the bare Kind of a non-core kind is still that kind's; no
// other bare Kind, and no kind of another group of the same name, passes.
func TestOriginKind(t *testing.T) {
	c := contexts()["single"]
	meta := metav1.ObjectMeta{Name: "web", Namespace: "ns1", UID: "u"}
	pod := c.Pod(&corev1.Pod{ObjectMeta: meta})
	ingress := c.Ingress(&networkingv1.Ingress{ObjectMeta: meta})
	for want, h := range map[string]metav1.Object{
		"Pod":                             pod,
		"Ingress.networking.k8s.io":       ingress,
		"NetworkPolicy.networking.k8s.io": c.NetworkPolicy(&networkingv1.NetworkPolicy{ObjectMeta: meta}, nil),
		"PodDisruptionBudget.policy":      c.PodDisruptionBudget(&policyv1.PodDisruptionBudget{ObjectMeta: meta}),
	} {
		if got := h.GetAnnotations()[tenancyv1alpha1.AnnotationVirtualKind]; got != want {
			t.Errorf("a copy records kind %q, want %q", got, want)
		}
	}

	// recording is the copy of ns1/web as one that records kind.
	recording := func(kind string) metav1.Object {
		h := ingress.DeepCopy()
		h.Annotations[tenancyv1alpha1.AnnotationVirtualKind] = kind
		return h
	}
	certificate := schema.GroupKind{Group: "cert-manager.io", Kind: "Certificate"}
	for _, tc := range []struct {
		name string
		h    metav1.Object
		kind schema.GroupKind
		owns bool
	}{
		{"pod", pod, kindPod, true},
		{"ingress", ingress, kindIngress, true},
		{"custom resource", recording("Certificate.cert-manager.io"), certificate, true},
		{"legacy ingress", recording("Ingress"), kindIngress, true},
		{"legacy network policy", recording("NetworkPolicy"), kindNetworkPolicy, true},
		{"legacy pod disruption budget", recording("PodDisruptionBudget"), kindPodDisruptionBudget, true},

		{"ingress, asked for another group's", ingress, schema.GroupKind{Group: "example.com", Kind: "Ingress"}, false},
		{"pod, asked for another group's", pod, schema.GroupKind{Group: "example.com", Kind: "Pod"}, false},
		{"another group's ingress", recording("Ingress.example.com"), kindIngress, false},
		{"another group's pod", recording("Pod.example.com"), kindPod, false},
		{"custom kind, bare", recording("Certificate"), certificate, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.Owns(tc.kind, "ns1", "web", tc.h); got != tc.owns {
				t.Errorf("Owns(%s) of a copy recording %q = %t, want %t",
					tc.kind, tc.h.GetAnnotations()[tenancyv1alpha1.AnnotationVirtualKind], got, tc.owns)
			}
		})
	}
}

func TestSecretOfAServiceAccountTokenIsOpaqueOnTheHost(t *testing.T) {
	c := contexts()["single"]
	h := c.Secret(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "t", Namespace: "ns1"},
		Type:       corev1.SecretTypeServiceAccountToken,
		Data:       map[string][]byte{"token": []byte("x")},
	})
	if h.Type != corev1.SecretTypeOpaque || string(h.Data["token"]) != "x" {
		t.Errorf("type %s, data %v", h.Type, h.Data)
	}
}

func TestEventSpeaksOfTheVirtualObject(t *testing.T) {
	for mode, c := range contexts() {
		t.Run(mode, func(t *testing.T) {
			key := c.Names.HostKey("ns1", "web")
			h := &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{Name: key.Name + ".1876a2b3c4d5e6f7", Namespace: key.Namespace},
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: key.Namespace, Name: key.Name, UID: "host-uid"},
				Reason:         "Scheduled",
				Message:        "Successfully assigned " + key.Namespace + "/" + key.Name + " to node-1",
				Count:          1,
				Type:           corev1.EventTypeNormal,
			}
			v := c.Event(h, Origin{Kind: kindPod, Namespace: "ns1", Name: "web", UID: "uid-1"})
			if v.Name != "web.1876a2b3c4d5e6f7" || v.Namespace != "ns1" {
				t.Errorf("event %s/%s", v.Namespace, v.Name)
			}
			if v.InvolvedObject.Name != "web" || v.InvolvedObject.Namespace != "ns1" || v.InvolvedObject.UID != "uid-1" {
				t.Errorf("about %+v", v.InvolvedObject)
			}
			if v.Message != "Successfully assigned ns1/web to node-1" {
				t.Errorf("message %q", v.Message)
			}
		})
	}
}

func TestIngress(t *testing.T) {
	c := contexts()["single"]
	name := func(n string) string { return c.Names.HostName("ns1", n) }
	v := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns1"},
		Spec: networkingv1.IngressSpec{
			DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "fallback"}},
			TLS:            []networkingv1.IngressTLS{{Hosts: []string{"a.example"}, SecretName: "tls"}},
			Rules: []networkingv1.IngressRule{{Host: "a.example", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web"}}}},
			}}}},
		},
	}
	h := c.Ingress(v)
	if h.Spec.DefaultBackend.Service.Name != name("fallback") || h.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name != name("web") ||
		h.Spec.TLS[0].SecretName != name("tls") {
		t.Errorf("not translated: %+v", h.Spec)
	}
	if got := IngressSecrets(v); !slices.Equal(got, []string{"tls"}) {
		t.Errorf("IngressSecrets = %v", got)
	}
}

func TestPodDisruptionBudget(t *testing.T) {
	c := contexts()["single"]
	v := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns1"}}
	if c.PodDisruptionBudget(v).Spec.Selector != nil {
		t.Error("a null selector selects no pod and must stay null")
	}
	v.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	sel, err := metav1.LabelSelectorAsSelector(c.PodDisruptionBudget(v).Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	p := pod()
	p.Labels = map[string]string{"app": "web"}
	if !sel.Matches(labels.Set(c.Pod(p).Labels)) || sel.Matches(labels.Set{"app": "web"}) {
		t.Errorf("selector %v must select the copies of ns1's pods only", sel)
	}
}

func TestNetworkPolicy(t *testing.T) {
	namespaces := map[string]map[string]string{
		"ns1":      {"team": "a"},
		"frontend": {"team": "a", "tier": "web"},
		"other":    {"team": "b"},
	}
	web := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	v := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "allow", Namespace: "ns1"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{From: []networkingv1.NetworkPolicyPeer{{PodSelector: web}}},
				{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "web"}}, PodSelector: web}}},
				{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "nobody"}}}}},
				{From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8"}}}},
			},
		},
	}
	for mode, c := range contexts() {
		t.Run(mode, func(t *testing.T) {
			h := c.NetworkPolicy(v, namespaces)
			copyOf := func(ns string, l map[string]string) labels.Set {
				p := pod()
				p.Namespace, p.Labels = ns, l
				return labels.Set(c.Pod(p).Labels)
			}
			// selects answers whether peer selects pod l of virtual namespace ns.
			selects := func(peer networkingv1.NetworkPolicyPeer, ns string, l map[string]string) bool {
				podSel, _ := metav1.LabelSelectorAsSelector(peer.PodSelector)
				if !podSel.Matches(copyOf(ns, l)) {
					return false
				}
				if peer.NamespaceSelector == nil {
					return c.Names.HostNamespace(ns) == h.Namespace
				}
				nsSel, _ := metav1.LabelSelectorAsSelector(peer.NamespaceSelector)
				return nsSel.Matches(labels.Set{corev1.LabelMetadataName: c.Names.HostNamespace(ns)})
			}
			any := func(peers []networkingv1.NetworkPolicyPeer, ns string, l map[string]string) bool {
				return slices.ContainsFunc(peers, func(p networkingv1.NetworkPolicyPeer) bool { return selects(p, ns, l) })
			}
			podSel, _ := metav1.LabelSelectorAsSelector(&h.Spec.PodSelector)
			if !podSel.Matches(copyOf("ns1", nil)) || podSel.Matches(copyOf("other", nil)) || podSel.Matches(labels.Set{}) {
				t.Errorf("the policy applies to %v: want the copies of ns1's pods only", podSel)
			}
			same := h.Spec.Ingress[0].From
			if !any(same, "ns1", map[string]string{"app": "web"}) || any(same, "frontend", map[string]string{"app": "web"}) {
				t.Errorf("a pod selector alone must mean ns1's pods: %+v", same)
			}
			byNs := h.Spec.Ingress[1].From
			if !any(byNs, "frontend", map[string]string{"app": "web"}) || any(byNs, "ns1", map[string]string{"app": "web"}) ||
				any(byNs, "frontend", map[string]string{"app": "db"}) {
				t.Errorf("a namespace selector must mean the matching virtual namespaces: %+v", byNs)
			}
			none := h.Spec.Ingress[2].From
			if len(none) == 0 || any(none, "ns1", nil) || any(none, "other", nil) {
				t.Errorf("a namespace selector that matches nothing must allow nothing, not everything: %+v", none)
			}
			if h.Spec.Ingress[3].From[0].IPBlock.CIDR != "10.0.0.0/8" {
				t.Error("an IP block stays")
			}
		})
	}
}

func TestServiceAccount(t *testing.T) {
	c := contexts()["single"]
	h := c.ServiceAccount(&corev1.ServiceAccount{
		ObjectMeta:       metav1.ObjectMeta{Name: "builder", Namespace: "ns1", Annotations: map[string]string{"iam.example/role": "r"}},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "pull"}},
		Secrets:          []corev1.ObjectReference{{Name: "builder-token"}},
	})
	if h.Annotations["iam.example/role"] != "r" || h.ImagePullSecrets[0].Name != c.Names.HostName("ns1", "pull") ||
		len(h.Secrets) != 0 || ptr.Deref(h.AutomountServiceAccountToken, true) {
		t.Errorf("host ServiceAccount %+v", h)
	}
}

// What would reach a host object by its raw name, or act as the host's
// identity, is translated or dropped.
func TestPodReachesNothingOnTheHost(t *testing.T) {
	for mode, c := range contexts() {
		t.Run(mode, func(t *testing.T) {
			name := func(n string) string { return c.Names.HostName("ns1", n) }
			v := pod()
			v.Name = "web.v1" // valid for a pod, not for a hostname
			v.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug"}}}
			v.Spec.Volumes = append(v.Spec.Volumes,
				corev1.Volume{Name: "csi", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{
					Driver: "secrets.example", NodePublishSecretRef: &corev1.LocalObjectReference{Name: "creds"},
				}}},
				corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
					VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{
						ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{tenancyv1alpha1.LabelVirtualCluster: "other"}},
						Spec: corev1.PersistentVolumeClaimSpec{DataSource: &corev1.TypedLocalObjectReference{
							APIGroup: ptr.To(""), Kind: "PersistentVolumeClaim", Name: "data-other-0",
						}},
					},
				}}},
				corev1.Volume{Name: "cert", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{PodCertificate: &corev1.PodCertificateProjection{SignerName: "example.com/signer"}},
				}}}},
			)
			h := c.Pod(v)
			if h.Spec.Hostname != "" {
				t.Errorf("hostname %q is no DNS label", h.Spec.Hostname)
			}
			if len(h.Spec.EphemeralContainers) != 0 {
				t.Error("ephemeral containers cannot be created with a pod")
			}
			byName := map[string]corev1.Volume{}
			for _, vol := range h.Spec.Volumes {
				byName[vol.Name] = vol
			}
			if got := byName["csi"].CSI.NodePublishSecretRef.Name; got != name("creds") {
				t.Errorf("CSI secret %q", got)
			}
			tmpl := byName["scratch"].Ephemeral.VolumeClaimTemplate
			if tmpl.Spec.DataSource.Name != name("data-other-0") || tmpl.Labels[tenancyv1alpha1.LabelVirtualCluster] != "" {
				t.Errorf("ephemeral claim template %+v", tmpl)
			}
			if len(byName["cert"].Projected.Sources) != 0 {
				t.Error("a pod certificate would be the host identity's")
			}
			if secrets, _, _ := PodReferences(v); !slices.Contains(secrets, "creds") {
				t.Errorf("the CSI secret must be synced: %v", secrets)
			}
		})
	}
}

func TestClaimDataSources(t *testing.T) {
	c := contexts()["single"]
	for _, group := range []*string{nil, ptr.To("")} {
		v := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "clone", Namespace: "ns1"},
			Spec: corev1.PersistentVolumeClaimSpec{
				DataSource:    &corev1.TypedLocalObjectReference{APIGroup: group, Kind: "PersistentVolumeClaim", Name: "src"},
				DataSourceRef: &corev1.TypedObjectReference{APIGroup: group, Kind: "PersistentVolumeClaim", Name: "src"},
			},
		}
		h := c.PersistentVolumeClaim(v)
		if want := c.Names.HostName("ns1", "src"); h.Spec.DataSource.Name != want || h.Spec.DataSourceRef.Name != want {
			t.Errorf("group %v: sources %+v %+v", group, h.Spec.DataSource, h.Spec.DataSourceRef)
		}
	}
}

func TestServiceDropsExternalIPs(t *testing.T) {
	c := contexts()["single"]
	h := c.Service(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns1"},
		Spec:       corev1.ServiceSpec{ExternalIPs: []string{"10.0.0.1"}},
	})
	if len(h.Spec.ExternalIPs) != 0 {
		t.Error("external IPs let a tenant intercept host traffic")
	}
}

// A host pod reaches the API server at the control plane Service's cluster
// IP; by its name only while the configuration has no IP.
func TestAPIServerHost(t *testing.T) {
	cfg := syncerconfig.Config{VirtualCluster: syncerconfig.Reference{Name: "vc"}, HostNamespace: "team-a"}
	if got := For(cfg).APIServerHost; got != "vc.team-a.svc" {
		t.Errorf("without an IP: %q", got)
	}
	cfg.APIServerIP = "fd00::20"
	c := For(cfg)
	if c.APIServerHost != "fd00::20" {
		t.Errorf("with an IP: %q", c.APIServerHost)
	}
	if env := c.apiServerEnv(); env[3] != (corev1.EnvVar{Name: "KUBERNETES_PORT", Value: "tcp://[fd00::20]:443"}) {
		t.Errorf("IPv6: %+v", env[3])
	}
}

func TestPodDNS(t *testing.T) {
	ours := &corev1.PodDNSConfig{
		Nameservers: []string{"10.96.0.53"},
		Searches:    []string{"ns1.svc.cluster.local", "svc.cluster.local", "cluster.local"},
		Options:     []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("5")}},
	}
	tenants := &corev1.PodDNSConfig{
		Nameservers: []string{"192.0.2.1"},
		Searches:    []string{"corp.example", "cluster.local"},
		Options:     []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}, {Name: "edns0"}},
	}
	merged := &corev1.PodDNSConfig{
		Nameservers: []string{"10.96.0.53", "192.0.2.1"},
		Searches:    []string{"ns1.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example"},
		Options:     []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}, {Name: "edns0"}},
	}
	for _, tc := range []struct {
		name        string
		policy      corev1.DNSPolicy
		hostNetwork bool
		config      *corev1.PodDNSConfig
		wantPolicy  corev1.DNSPolicy
		want        *corev1.PodDNSConfig
	}{
		{"no policy is ClusterFirst", "", false, nil, corev1.DNSNone, ours},
		{"ClusterFirst", corev1.DNSClusterFirst, false, nil, corev1.DNSNone, ours},
		{"ClusterFirst with the tenant's additions, merged as a kubelet does", corev1.DNSClusterFirst, false, tenants, corev1.DNSNone, merged},
		{"ClusterFirstWithHostNet", corev1.DNSClusterFirstWithHostNet, true, nil, corev1.DNSNone, ours},
		{"ClusterFirst on the host's network is Default", corev1.DNSClusterFirst, true, nil, corev1.DNSClusterFirst, nil},
		{"Default stays", corev1.DNSDefault, false, nil, corev1.DNSDefault, nil},
		{"None stays as the tenant wrote it", corev1.DNSNone, false, tenants, corev1.DNSNone, tenants},
		{"at most three nameservers", corev1.DNSClusterFirst, false,
			&corev1.PodDNSConfig{Nameservers: []string{"192.0.2.1", "10.96.0.53", "192.0.2.2", "192.0.2.3"}}, corev1.DNSNone,
			&corev1.PodDNSConfig{Nameservers: []string{"10.96.0.53", "192.0.2.1", "192.0.2.2"}, Searches: ours.Searches, Options: ours.Options}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			policy, config := PodDNS(tc.policy, tc.hostNetwork, tc.config, "10.96.0.53", "ns1", "cluster.local")
			if policy != tc.wantPolicy || !equality.Semantic.DeepEqual(config, tc.want) {
				t.Errorf("PodDNS = %s %+v, want %s %+v", policy, config, tc.wantPolicy, tc.want)
			}
		})
	}
}

// The host pod resolves the virtual cluster's names: as a pod of its
// virtual namespace, under its virtual hostname and subdomain.
func TestPodResolvesTheVirtualClustersNames(t *testing.T) {
	for mode, c := range contexts() {
		t.Run(mode, func(t *testing.T) {
			c.Nameserver, c.ClusterDomain = "10.96.0.53", "tenant.example"
			v := pod()
			v.Spec.Subdomain = "peers"
			h := c.Pod(v)
			if h.Spec.DNSPolicy != corev1.DNSNone || h.Spec.DNSConfig == nil ||
				!slices.Equal(h.Spec.DNSConfig.Nameservers, []string{"10.96.0.53"}) ||
				!slices.Equal(h.Spec.DNSConfig.Searches, []string{"ns1.svc.tenant.example", "svc.tenant.example", "tenant.example"}) {
				t.Errorf("dns %s %+v", h.Spec.DNSPolicy, h.Spec.DNSConfig)
			}
			if h.Spec.Hostname != "web" || h.Spec.Subdomain != "peers" {
				t.Errorf("hostname %q subdomain %q, want the virtual web and peers", h.Spec.Hostname, h.Spec.Subdomain)
			}
			if v.Spec.DNSConfig != nil || v.Spec.DNSPolicy != "" {
				t.Error("the virtual pod was changed")
			}
			c.Nameserver = ""
			if h := c.Pod(v); h.Spec.DNSPolicy != "" || h.Spec.DNSConfig != nil {
				t.Errorf("without a nameserver the pod keeps its DNS: %s %+v", h.Spec.DNSPolicy, h.Spec.DNSConfig)
			}
		})
	}
}
