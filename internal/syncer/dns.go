package syncer

import (
	"context"
	"fmt"

	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/apply"
	"github.com/nestor-dev/nestor/internal/pki"
)

// dnsReader names the ClusterRole and ClusterRoleBinding in the virtual
// cluster that let its CoreDNS read what it answers from.
const dnsReader = "nestor:coredns"

// dnsRules are what CoreDNS's kubernetes plugin reads: Services and
// their EndpointSlices for the names, namespaces to tell an empty one
// from one that is not there. Pods it answers for without reading them
// (pods insecure).
var dnsRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"services", "namespaces"}, Verbs: []string{"list", "watch"}},
	{APIGroups: []string{discoveryv1.GroupName}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
}

// grantDNS lets the virtual cluster's CoreDNS, which authenticates as
// pki.CoreDNSUser, read its names, and nothing else. The operator cannot:
// it never talks to the virtual cluster; the syncer, its administrator,
// does it as it starts, and so puts back what a tenant removed.
func grantDNS(ctx context.Context, c client.Client) error {
	labels := map[string]string{tenancyv1alpha1.LabelManagedBy: tenancyv1alpha1.SyncerManagedByValue}
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: dnsReader, Labels: labels},
		Rules:      dnsRules,
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: dnsReader, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: dnsReader},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: pki.CoreDNSUser}},
	}
	applier := apply.New(c, c, FieldOwner)
	// The names are Nestor's: a tenant's object of that name is taken over.
	always := func(client.Object) bool { return true }
	for _, obj := range []client.Object{role, binding} {
		if _, err := applier.Apply(ctx, obj, always); err != nil {
			return fmt.Errorf("granting the virtual cluster's DNS its reads in the virtual cluster: %w", err)
		}
	}
	return nil
}
