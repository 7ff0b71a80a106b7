package controlplane

import (
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

// SupportedMinors are the Kubernetes minor versions (1.x) the control plane
// is built and tested for: its flags, and the controllers it turns off, must
// exist in the version that runs.
var SupportedMinors = []uint{37}

// overridable flags are set by Nestor but safe for a user to change through
// spec.controlPlane.extraArgs.
var overridable = []string{"--snapshot-count", "--profiling", "--allow-privileged"}

// ManagedFlags lists, per spec.controlPlane.extraArgs field, the flags that
// wire the control plane together and that extraArgs must not override. They
// are read off the containers the builders make, so the list cannot drift
// from what is actually set.
func ManagedFlags() map[string][]string {
	vc := &tenancyv1alpha1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Name: "vc", Namespace: "ns"}}
	field := map[string]string{"etcd": "etcd", "kube-apiserver": "apiServer", "kube-controller-manager": "controllerManager"}
	out := map[string][]string{}
	for _, c := range StatefulSet(vc, "").Spec.Template.Spec.Containers {
		for _, arg := range c.Args {
			flag, _, _ := strings.Cut(arg, "=")
			if !slices.Contains(overridable, flag) {
				out[field[c.Name]] = append(out[field[c.Name]], flag)
			}
		}
	}
	return out
}
