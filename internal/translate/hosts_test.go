package translate

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/podsecurity"
)

func TestRewriteHosts(t *testing.T) {
	restrictedPod := func(mutate func(*corev1.PodSpec)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-0"}, Spec: corev1.PodSpec{
			Hostname: "web-0", Subdomain: "web",
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			InitContainers:  []corev1.Container{{Name: "setup", Image: "app"}},
			Containers: []corev1.Container{
				{Name: "app", Image: "app"},
				{Name: "own-hosts", Image: "app", VolumeMounts: []corev1.VolumeMount{{Name: "mine", MountPath: "/etc/hosts"}}},
			},
		}}
		for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
			for i := range cs {
				cs[i].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
			}
		}
		if mutate != nil {
			mutate(&p.Spec)
		}
		return p
	}
	c := Context{ClusterDomain: "cluster.local", Image: "ghcr.io/nestor-dev/nestor:v1"}

	t.Run("a pod of a subdomain", func(t *testing.T) {
		v := restrictedPod(nil)
		h := v.DeepCopy()
		c.RewriteHosts(h, v)
		if !RewritesHosts(h) || h.Spec.InitContainers[0].Name != HostsContainer {
			t.Fatalf("the hosts container runs first: %+v", h.Spec.InitContainers)
		}
		init := h.Spec.InitContainers[0]
		if init.Image != c.Image || !slices.Contains(init.Args, "--fqdn=web-0.web.shop.svc.cluster.local") || !slices.Contains(init.Args, "--hostname=web-0") {
			t.Errorf("hosts container: %+v", init)
		}
		mounted := func(ct corev1.Container) bool {
			return slices.ContainsFunc(ct.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == hostsVolume && m.MountPath == "/etc/hosts" })
		}
		if !mounted(h.Spec.InitContainers[1]) || !mounted(h.Spec.Containers[0]) {
			t.Errorf("the tenant's containers mount the file: %+v", h.Spec)
		}
		if mounted(h.Spec.Containers[1]) || len(h.Spec.Containers[1].VolumeMounts) != 1 {
			t.Errorf("a container with a hosts file of its own keeps it: %+v", h.Spec.Containers[1].VolumeMounts)
		}
		if violations := podsecurity.Requested(tenancyv1alpha1.PodSecurityRestricted).Check(&h.ObjectMeta, &h.Spec); violations != "" {
			t.Errorf("a restricted pod stays restricted: %s", violations)
		}
		again := h.DeepCopy()
		c.RewriteHosts(again, v)
		if len(again.Spec.InitContainers) != len(h.Spec.InitContainers) || len(again.Spec.Volumes) != len(h.Spec.Volumes) {
			t.Error("rewriting twice adds a second container")
		}
	})
	for _, tc := range []struct {
		name string
		c    Context
		pod  *corev1.Pod
	}{
		{"no subdomain", c, restrictedPod(func(s *corev1.PodSpec) { s.Subdomain = "" })},
		{"the host's network (no hosts file of the kubelet's)", c, restrictedPod(func(s *corev1.PodSpec) { s.HostNetwork = true })},
		{"no image configured", Context{ClusterDomain: "cluster.local"}, restrictedPod(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.pod.DeepCopy()
			tc.c.RewriteHosts(h, tc.pod)
			if RewritesHosts(h) || len(h.Spec.Volumes) != 0 {
				t.Errorf("rewritten: %+v", h.Spec)
			}
		})
	}
}

func TestPodStatusLeavesOutTheHostsContainer(t *testing.T) {
	h := &corev1.Pod{Status: corev1.PodStatus{InitContainerStatuses: []corev1.ContainerStatus{{Name: HostsContainer}, {Name: "setup"}}}}
	got := Context{CarryReadinessGates: true}.PodStatus(&corev1.Pod{}, h)
	if len(got.InitContainerStatuses) != 1 || got.InitContainerStatuses[0].Name != "setup" {
		t.Errorf("init container statuses: %+v", got.InitContainerStatuses)
	}
}
