package webhook

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/rbac"
)

// The webhook asks the API server what the requesting user may do.
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// virtualClusters is the resource the escalate grant is on.
var virtualClusters = tenancyv1alpha1.GroupVersion.WithResource("virtualclusters").GroupResource()

// reviewConcurrency bounds the SubjectAccessReviews one admission has in
// flight: a multi-namespace VirtualCluster asks for some sixty.
const reviewConcurrency = 8

// maxListed caps the resources and fields a refusal lists.
const maxListed = 10

// scope is a set of rules the syncer is granted in one namespace, or
// cluster-wide.
type scope struct {
	// namespace is "" for rules granted cluster-wide.
	namespace string
	rules     []rbacv1.PolicyRule
}

// grants lists where the syncer of vc is granted which rules in mode, all
// but its housekeeping.
func grants(vc *tenancyv1alpha1.VirtualCluster, mode tenancyv1alpha1.Mode) []scope {
	r := rbac.For(vc, mode)
	return []scope{
		{namespace: vc.Namespace, rules: withoutHousekeeping(r.Namespaced)},
		{namespace: "", rules: r.Cluster},
		// Host namespaces are made as the tenant asks, under any name the
		// syncer picks: what it holds in each it could hold in all.
		{namespace: "", rules: r.PerNamespace},
	}
}

// withoutHousekeeping drops the syncer's leader-election Lease rule and its
// events create/patch rule from its namespaced rules. They need no grant
// of the user's: the tenant cannot direct what the syncer does with them
// (it elects a leader among its own replicas and records events about
// that), they reach no workload data, and they stay in the
// VirtualCluster's own namespace. The built-in edit role holds both in
// Kubernetes v1.37, but a platform's narrower role for tenants may not.
func withoutHousekeeping(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	housekeeping := rbac.Housekeeping()
	return slices.DeleteFunc(slices.Clone(rules), func(r rbacv1.PolicyRule) bool {
		return slices.ContainsFunc(housekeeping, func(h rbacv1.PolicyRule) bool { return equality.Semantic.DeepEqual(r, h) })
	})
}

// permission is one thing a SubjectAccessReview asks about.
type permission struct {
	// namespace is "" for a permission held cluster-wide.
	namespace                                string
	verb, group, resource, subresource, name string
}

func (p permission) String() string {
	what := p.verb + " " + rbac.GroupResource(p.group, p.resource)
	if p.subresource != "" {
		what += "/" + p.subresource
	}
	if p.name != "" {
		what += fmt.Sprintf(" %q", p.name)
	}
	if p.namespace == "" {
		return what + " (cluster-wide)"
	}
	return what + " in namespace " + p.namespace
}

// describe spells out sorted permissions, one entry per resource with its
// verbs: "get/list/watch pods (cluster-wide)".
func describe(perms []permission) []string {
	var out []string
	for i := 0; i < len(perms); {
		entry, verbs := perms[i], []string{}
		for ; i < len(perms) && sameButVerb(entry, perms[i]); i++ {
			verbs = append(verbs, perms[i].verb)
		}
		entry.verb = strings.Join(verbs, "/")
		out = append(out, entry.String())
	}
	return out
}

func sameButVerb(a, b permission) bool {
	a.verb, b.verb = "", ""
	return a == b
}

// expand turns the rules of scopes into one permission per group,
// resource, verb and resource name, sorted, each once. rbac.For grants no
// non-resource URLs.
func expand(scopes []scope) []permission {
	var out []permission
	for _, s := range scopes {
		for _, rule := range s.rules {
			names := rule.ResourceNames
			if len(names) == 0 {
				names = []string{""}
			}
			for _, group := range rule.APIGroups {
				for _, res := range rule.Resources {
					resource, sub, _ := strings.Cut(res, "/")
					for _, verb := range rule.Verbs {
						for _, name := range names {
							out = append(out, permission{s.namespace, verb, group, resource, sub, name})
						}
					}
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b permission) int {
		return cmp.Or(cmp.Compare(a.namespace, b.namespace), cmp.Compare(a.group, b.group), cmp.Compare(a.resource, b.resource),
			cmp.Compare(a.subresource, b.subresource), cmp.Compare(a.name, b.name), cmp.Compare(a.verb, b.verb))
	})
	return slices.Compact(out)
}

// without returns the permissions of wanted that held does not include.
func without(wanted, held []permission) []permission {
	return slices.DeleteFunc(slices.Clone(wanted), func(p permission) bool { return slices.Contains(held, p) })
}

// grantedMode is the mode the operator grants vc's syncer its rules in (old
// is nil on creation). On an update that is old's: the webhook refuses a
// spec that asks for another mode, unless it goes back to the recorded one.
func grantedMode(old, vc *tenancyv1alpha1.VirtualCluster) tenancyv1alpha1.Mode {
	if old != nil {
		return layoutMode(old)
	}
	return layoutMode(vc)
}

// wanted lists the permissions that admitting vc gives its syncer in mode
// and old did not (old is nil on creation).
func wanted(old, vc *tenancyv1alpha1.VirtualCluster, mode tenancyv1alpha1.Mode) []permission {
	perms := expand(grants(vc, mode))
	if old != nil {
		perms = without(perms, expand(grants(old, mode)))
	}
	return perms
}

// askedFor lists the spec fields that ask for the missing permissions, in
// the order of the permissions.
func askedFor(vc *tenancyv1alpha1.VirtualCluster, mode tenancyv1alpha1.Mode, missing []permission) []string {
	fields := rbac.AskedFor(vc, mode)
	var out []string
	for _, p := range missing {
		var by []string
		if p.namespace == "" {
			by = append(by, rbac.ModeField) // it is what makes them cluster-wide
		}
		res := p.resource
		if p.subresource != "" {
			res += "/" + p.subresource
		}
		for _, f := range append(by, fields[rbac.GroupResource(p.group, res)]...) {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// refusal is the message of a VirtualCluster refused for the sorted
// permissions its user lacks.
func refusal(vc *tenancyv1alpha1.VirtualCluster, user string, missing []permission, fields []string, update bool) string {
	who := "creates"
	if update {
		who = "changes"
	}
	return fmt.Sprintf("VirtualCluster %s/%s would give its syncer permissions that user %q does not hold: %s; asked for by %s. "+
		"A VirtualCluster may not give its syncer any permission the user who %s it does not hold: turn those off, "+
		"or ask for them: a cluster administrator can grant you these permissions, or `escalate` on %s in namespace %s",
		vc.Namespace, vc.Name, user, capped(describe(missing)), capped(fields), who, virtualClusters, vc.Namespace)
}

// capped lists items, at most maxListed of them, and says how many more.
func capped(items []string) string {
	out := strings.Join(items[:min(len(items), maxListed)], ", ")
	if more := len(items) - maxListed; more > 0 {
		out += fmt.Sprintf(" and %d more", more)
	}
	return out
}

// authorize refuses vc when it gives its syncer a permission that the user
// who creates it (or, on a spec change, changes it) does not hold: the rule
// RBAC itself applies to roles. A user allowed verb escalate on the
// VirtualCluster, as RBAC's escalate on roles, is exempt: the platform's
// explicit grant (docs/security.md). It fails closed: when the API server
// cannot answer, vc is refused.
func (v *Validator) authorize(ctx context.Context, old, vc *tenancyv1alpha1.VirtualCluster) error {
	mode := grantedMode(old, vc)
	perms := wanted(old, vc, mode)
	if len(perms) == 0 {
		return nil
	}
	failed := func(err error) error {
		return apierrors.NewInternalError(fmt.Errorf("VirtualCluster %s/%s is refused: the webhook could not check that its requester holds "+
			"the permissions its syncer would get, and admits nothing it has not checked; try again: %w", vc.Namespace, vc.Name, err))
	}
	req, err := admission.RequestFromContext(ctx)
	if err != nil {
		return failed(err)
	}
	r := reviewer{client: v.Reviewer, user: req.UserInfo}
	escalate, err := r.allowed(ctx, permission{namespace: vc.Namespace, verb: "escalate",
		group: virtualClusters.Group, resource: virtualClusters.Resource, name: vc.Name})
	if err != nil {
		return failed(err)
	}
	if escalate {
		return nil
	}
	missing, err := r.missing(ctx, perms)
	if err != nil {
		return failed(err)
	}
	if len(missing) == 0 {
		return nil
	}
	msg := refusal(vc, req.UserInfo.Username, missing, askedFor(vc, mode, missing), old != nil)
	return apierrors.NewForbidden(virtualClusters, vc.Name, errors.New(msg))
}

// reviewer asks the API server's authorizer what one user may do.
type reviewer struct {
	client client.Writer
	user   authenticationv1.UserInfo
}

func (r reviewer) allowed(ctx context.Context, p permission) (bool, error) {
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range r.user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: r.user.Username, Groups: r.user.Groups, UID: r.user.UID, Extra: extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: p.namespace, Verb: p.verb, Group: p.group, Resource: p.resource, Subresource: p.subresource, Name: p.name,
		},
	}}
	if err := r.client.Create(ctx, review); err != nil {
		return false, fmt.Errorf("asking whether user %q may %s: %w", r.user.Username, p, err)
	}
	return review.Status.Allowed, nil
}

// missing returns the permissions of perms the user does not hold.
func (r reviewer) missing(ctx context.Context, perms []permission) ([]permission, error) {
	held := make([]bool, len(perms))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(reviewConcurrency)
	for i, p := range perms {
		g.Go(func() error {
			var err error
			held[i], err = r.allowed(ctx, p)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []permission
	for i, p := range perms {
		if !held[i] {
			out = append(out, p)
		}
	}
	return out, nil
}
