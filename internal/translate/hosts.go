package translate

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// HostsContainer is the init container that writes a host pod's hosts file
// under the virtual namespace's names, and hostsVolume the volume it writes
// it into, which the pod's other containers mount at /etc/hosts.
const (
	HostsContainer = "nestor-hosts"
	hostsVolume    = "nestor-hosts"
	hostsDir       = "/nestor-hosts"
	etcHosts       = "/etc/hosts"
)

// wantsHostsRewrite reports whether host pod h needs its hosts file
// rewritten: the host's kubelet names a pod of a subdomain after its host
// namespace, and manages no hosts file on the host's network.
func (c Context) wantsHostsRewrite(h *corev1.Pod) bool {
	return c.Image != "" && h.Spec.Subdomain != "" && !h.Spec.HostNetwork
}

// RewritesHosts reports whether host pod h was made with the init
// container that rewrites its hosts file. A pod's containers are fixed
// once it is made.
func RewritesHosts(h *corev1.Pod) bool {
	return slices.ContainsFunc(h.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == HostsContainer })
}

// RewriteHosts gives host pod h, the copy of virtual pod v, the init
// container that writes its hosts file with the name a kubelet of the
// virtual cluster gives it, <hostname>.<subdomain>.<virtual
// namespace>.svc.<domain> (so `hostname -f` shows it), and mounts that file
// at /etc/hosts in its other containers, except one that mounts its own.
// The container runs the syncer's image, restricted as any Pod Security
// level allows.
func (c Context) RewriteHosts(h, v *corev1.Pod) {
	if !c.wantsHostsRewrite(h) || RewritesHosts(h) {
		return
	}
	spec := &h.Spec
	fqdn := spec.Hostname + "." + spec.Subdomain + "." + v.Namespace + ".svc." + c.ClusterDomain
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: hostsVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	mount := corev1.VolumeMount{Name: hostsVolume, MountPath: etcHosts, SubPath: "hosts"}
	for _, containers := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range containers {
			if !slices.ContainsFunc(containers[i].VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == etcHosts }) {
				containers[i].VolumeMounts = append(containers[i].VolumeMounts, mount)
			}
		}
	}
	spec.InitContainers = append([]corev1.Container{{
		Name:  HostsContainer,
		Image: c.Image,
		Args: []string{"hosts-file", "--hostname=" + spec.Hostname, "--fqdn=" + fqdn,
			"--in=" + etcHosts, "--out=" + hostsDir + "/hosts"},
		VolumeMounts: []corev1.VolumeMount{{Name: hostsVolume, MountPath: hostsDir}},
		SecurityContext: &corev1.SecurityContext{
			// The image's user, whatever the pod's says.
			RunAsUser:                ptr.To[int64](65532),
			RunAsGroup:               ptr.To[int64](65532),
			RunAsNonRoot:             ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}}, spec.InitContainers...)
}
