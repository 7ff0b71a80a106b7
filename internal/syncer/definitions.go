package syncer

import (
	"context"
	"fmt"
	"slices"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/apply"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
	"github.com/nestor-dev/nestor/internal/translate"
)

// establishTimeout bounds the wait for a definition the virtual API server
// has accepted to serve its kind.
const establishTimeout = 30 * time.Second

// definitions are what installDefinitions found of the configured custom
// kinds' definitions in the virtual cluster, by <plural>.<group>.
type definitions map[string]*apiextensionsv1.CustomResourceDefinition

// installDefinitions puts the definitions the operator handed over into the
// virtual cluster and waits until each is established: a controller whose
// kind is not served yet would fail to start. A kind whose definition could
// not be installed (a tenant's own definition of that name is in the way,
// or the virtual API server refuses it) is left out, and the others sync.
// Definitions the syncer installed earlier for kinds no longer configured
// are removed, unless the tenant still has objects of them.
func installDefinitions(ctx context.Context, c client.Client, cfg syncerconfig.Config) (definitions, error) {
	log := logf.FromContext(ctx).WithName("syncer")
	defs, err := cfg.DefinitionsOf()
	if err != nil {
		return nil, err
	}
	applier := apply.New(c, c, FieldOwner)
	installed := definitions{}
	for i := range defs {
		def := &defs[i]
		owned := func(live client.Object) bool { return translate.ShownFrom(live, "", def.Name) }
		if _, err := applier.Apply(ctx, def, owned); apply.IsNotOwned(err) {
			log.Error(err, "a CustomResourceDefinition of the virtual cluster's own is in the way: its kind is not synced", "definition", def.Name)
			continue
		} else if err != nil {
			// The virtual API server may refuse what the host's took (a
			// version dropped that it still stores): the other kinds sync.
			log.Error(err, "installing a CustomResourceDefinition in the virtual cluster: its kind is not synced", "definition", def.Name)
			continue
		}
		live, err := waitEstablished(ctx, c, def.Name)
		if err != nil {
			log.Error(err, "its kind is not synced", "definition", def.Name)
			continue
		}
		installed[def.Name] = live
	}
	if err := removeDefinitions(ctx, c, cfg); err != nil {
		// Left for the next start: nothing syncs through them meanwhile.
		log.Error(err, "removing the CustomResourceDefinitions no longer synced")
	}
	return installed, nil
}

func waitEstablished(ctx context.Context, c client.Client, name string) (*apiextensionsv1.CustomResourceDefinition, error) {
	live := &apiextensionsv1.CustomResourceDefinition{}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, establishTimeout, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKey{Name: name}, live); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		for _, cond := range live.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for CustomResourceDefinition %s to be established in the virtual cluster: %w", name, err)
	}
	return live, nil
}

// removeDefinitions deletes the definitions the syncer installed whose kinds
// cfg no longer syncs. One the tenant still has objects of stays: deleting
// it would delete them.
func removeDefinitions(ctx context.Context, c client.Client, cfg syncerconfig.Config) error {
	var list apiextensionsv1.CustomResourceDefinitionList
	if err := c.List(ctx, &list, client.MatchingLabels{tenancyv1alpha1.LabelManagedBy: tenancyv1alpha1.SyncerManagedByValue}); err != nil {
		return fmt.Errorf("listing the virtual cluster's CustomResourceDefinitions: %w", err)
	}
	configured := func(name string) bool {
		return slices.ContainsFunc(cfg.CustomResources, func(cr syncerconfig.CustomResource) bool { return cr.Resource == name })
	}
	for i := range list.Items {
		def := &list.Items[i]
		if configured(def.Name) || !def.DeletionTimestamp.IsZero() || !translate.ShownFrom(def, "", def.Name) {
			continue
		}
		inUse, err := hasObjects(ctx, c, def)
		if err != nil {
			return err
		}
		if inUse {
			logf.FromContext(ctx).WithName("syncer").Info("keeping a CustomResourceDefinition no longer synced: the virtual cluster still has objects of it",
				"definition", def.Name)
			continue
		}
		if err := c.Delete(ctx, def, client.Preconditions{UID: &def.UID}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("removing CustomResourceDefinition %s, no longer synced, from the virtual cluster: %w", def.Name, err)
		}
	}
	return nil
}

// hasObjects reports whether any object of def's kind exists.
func hasObjects(ctx context.Context, c client.Client, def *apiextensionsv1.CustomResourceDefinition) (bool, error) {
	list := newUnstructuredList(schema.GroupVersionKind{Group: def.Spec.Group, Version: translate.StorageVersion(def), Kind: def.Spec.Names.Kind})
	if err := c.List(ctx, list, client.Limit(1)); err != nil {
		return false, fmt.Errorf("looking for objects of %s in the virtual cluster: %w", def.Name, err)
	}
	return len(list.Items) > 0, nil
}

// statusSubresource reports whether def's version serves status apart.
func statusSubresource(def *apiextensionsv1.CustomResourceDefinition, version string) bool {
	for _, v := range def.Spec.Versions {
		if v.Name == version {
			return v.Subresources != nil && v.Subresources.Status != nil
		}
	}
	return false
}
