package webhook

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/controlplane"
	"github.com/nestor-dev/nestor/internal/naming"
)

// collisions refuses a new VirtualCluster whose host objects would be
// another's: a sibling in its namespace whose children share a kind and a
// name with its own, or, in multi-namespace mode, one anywhere whose
// cluster-scoped names are its own. The names are fixed by the README; the
// operator would report NameConflict and wait, so the webhook says it
// first. others are all the VirtualClusters of the cluster.
func collisions(vc *tenancyv1alpha1.VirtualCluster, others []tenancyv1alpha1.VirtualCluster) field.ErrorList {
	mine := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	var errs field.ErrorList
	for i := range others {
		other := &others[i]
		if other.Namespace == vc.Namespace && other.Name == vc.Name {
			continue
		}
		theirs := naming.ForVirtualCluster(other.Namespace, other.Name)
		if other.Namespace == vc.Namespace {
			errs = append(errs, shared(vc, other, mine.Namespaced(controlplane.EtcdClaims(vc), multiNamespace(vc)),
				theirs.Namespaced(controlplane.EtcdClaims(other), multiNamespace(other)),
				"in namespace "+vc.Namespace, "")...)
		}
		if multiNamespace(vc) && multiNamespace(other) {
			errs = append(errs, shared(vc, other, mine.ClusterScoped(), theirs.ClusterScoped(), "cluster-wide",
				` (cluster-scoped names join the namespace and the name with "-")`)...)
		}
	}
	return errs
}

// shared reports each object of mine that is one of theirs.
func shared(vc, other *tenancyv1alpha1.VirtualCluster, mine, theirs []naming.Object, where, why string) field.ErrorList {
	var errs field.ErrorList
	for _, m := range mine {
		for _, t := range theirs {
			if m.Kind == t.Kind && m.Name == t.Name {
				errs = append(errs, field.Invalid(namePath, vc.Name, fmt.Sprintf(
					"%s %s %s, %s of this VirtualCluster, is already %s of VirtualCluster %s/%s%s; "+
						"choose another name for this VirtualCluster", m.Kind, m.Name, where, m.Role, t.Role, other.Namespace, other.Name, why)))
			}
		}
	}
	return errs
}

// multiNamespace reports whether vc's host objects are laid out for
// multi-namespace mode.
func multiNamespace(vc *tenancyv1alpha1.VirtualCluster) bool {
	return layoutMode(vc) == tenancyv1alpha1.MultiNamespaceMode
}

// layoutMode is the mode the operator lays out vc's host objects in: the
// recorded one, or the spec's before the first reconcile.
func layoutMode(vc *tenancyv1alpha1.VirtualCluster) tenancyv1alpha1.Mode {
	if vc.Status.Mode != "" {
		return vc.Status.Mode
	}
	return vc.SpecMode()
}
