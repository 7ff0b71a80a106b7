// Package apply is the one write path for the objects the operator manages.
//
// Every write is a server-side apply under one field manager, and it is sent
// only when it would change something: the live object already carries every
// value the manager wants and the manager owns exactly the fields it wants.
// That keeps a steady-state reconcile free of writes, and an edit by anyone
// else to a field the manager owns is undone on the next reconcile.
//
// An object is only ever written when the caller's OwnedFunc accepts the live
// object, so a user's object that happens to bear a child's name is reported,
// never taken over.
//
// Objects of kinds the client's scheme does not know, custom resources, are
// written as *unstructured.Unstructured.
package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
)

// OwnedFunc reports whether a live object belongs to the caller.
type OwnedFunc func(live client.Object) bool

// Result says what Apply did.
type Result string

const (
	Unchanged Result = "Unchanged"
	Created   Result = "Created"
	Updated   Result = "Updated"
)

// NotOwnedError is returned when an object of the desired name exists but
// belongs to someone else. Nothing was written.
type NotOwnedError struct {
	Kind string
	Key  client.ObjectKey
}

func (e *NotOwnedError) Error() string {
	return fmt.Sprintf("%s %s already exists and is not managed by this VirtualCluster: "+
		"rename or remove it so that Nestor can create its own", e.Kind, e.Key)
}

// IsNotOwned reports whether err is, or wraps, a NotOwnedError.
func IsNotOwned(err error) bool {
	var e *NotOwnedError
	return errors.As(err, &e)
}

// Applier applies desired objects under one field manager.
type Applier struct {
	client    client.Client // reads from the cache, writes to the API server
	reader    client.Reader // reads from the API server, for what the cache cannot see
	owner     string
	converter managedfields.TypeConverter // for the kinds of the client's scheme
}

// deduced compares the kinds the scheme does not know; see upToDate.
var deduced = managedfields.NewDeducedTypeConverter()

// New returns an Applier. c is normally the manager's cache-backed client,
// whose caches hold only labelled objects; reader is an uncached reader, asked
// before creating anything, so that an unlabelled object of the same name is
// never overwritten.
func New(c client.Client, reader client.Reader, fieldOwner string) *Applier {
	return &Applier{
		client:    c,
		reader:    reader,
		owner:     fieldOwner,
		converter: applyconfigurations.NewTypeConverter(c.Scheme()),
	}
}

// Apply makes the fields the applier owns on the object equal to desired.
func (a *Applier) Apply(ctx context.Context, desired client.Object, owned OwnedFunc) (Result, error) {
	return a.applyObject(ctx, desired, owned, true)
}

// Update is Apply for an object that must exist already: it never creates
// one, and reports a NotFound error instead.
func (a *Applier) Update(ctx context.Context, desired client.Object, owned OwnedFunc) (Result, error) {
	return a.applyObject(ctx, desired, owned, false)
}

func (a *Applier) applyObject(ctx context.Context, desired client.Object, owned OwnedFunc, create bool) (Result, error) {
	gvk, err := a.gvkOf(desired)
	if err != nil {
		return Unchanged, err
	}
	live, err := a.get(ctx, gvk, client.ObjectKeyFromObject(desired))
	if err != nil {
		return Unchanged, err
	}
	if live != nil && !owned(live) {
		return Unchanged, &NotOwnedError{Kind: gvk.Kind, Key: client.ObjectKeyFromObject(desired)}
	}
	if live == nil && !create {
		return Unchanged, apierrors.NewNotFound(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, desired.GetName())
	}

	want, err := applyObject(desired, gvk)
	if err != nil {
		return Unchanged, err
	}
	result := Created
	if live != nil {
		same, err := a.upToDate(want, live, gvk)
		if err != nil {
			return Unchanged, fmt.Errorf("comparing %s %s: %w", gvk.Kind, client.ObjectKeyFromObject(desired), err)
		}
		if same {
			return Unchanged, nil
		}
		// Apply to the version whose ownership and content were checked:
		// if it changed since, the apply fails with a conflict and the
		// caller tries again on fresh data.
		want.SetResourceVersion(live.GetResourceVersion())
		result = Updated
	}
	err = a.apply(ctx, want)
	if live != nil && collides(err) {
		// Someone's edit is in the way: say a Service port renumbered by
		// `kubectl edit`, now a second list item, under that editor, beside
		// the one we restore. Take over what imperative edits hold in the
		// object's body, so the apply removes what we do not want.
		if terr := a.takeOver(ctx, live, want); terr != nil {
			return Unchanged, fmt.Errorf("applying %s %s: %w (and taking over conflicting fields: %w)", gvk.Kind, client.ObjectKeyFromObject(desired), err, terr)
		}
		want.SetResourceVersion("")
		err = a.apply(ctx, want)
	}
	if err != nil {
		return Unchanged, fmt.Errorf("applying %s %s: %w", gvk.Kind, client.ObjectKeyFromObject(desired), err)
	}
	return result, nil
}

// collides reports whether err rejects an object because two of its list
// items collide, the trace of an edit that changed an item's key.
func collides(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &status) || status.Status().Details == nil {
		return false
	}
	for _, c := range status.Status().Details.Causes {
		if c.Type == metav1.CauseTypeFieldValueDuplicate {
			return true
		}
	}
	return false
}

func (a *Applier) apply(ctx context.Context, want *unstructured.Unstructured) error {
	return a.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(want), client.FieldOwner(a.owner), client.ForceOwnership)
}

// OwnFieldsOnly is a cache transform that keeps, of the managed fields of
// what the cache stores, only owner's: the applier reads no others from
// the cache (upToDate), and they are much of a small object's size. A
// takeover reads the object afresh.
func OwnFieldsOnly(owner string) toolscache.TransformFunc {
	return func(in any) (any, error) {
		if obj, err := meta.Accessor(in); err == nil && len(obj.GetManagedFields()) > 0 {
			obj.SetManagedFields(slices.DeleteFunc(obj.GetManagedFields(), func(mf metav1.ManagedFieldsEntry) bool { return mf.Manager != owner }))
		}
		return in, nil
	}
}

// takeOver makes the applier the owner of the fields that other managers
// set through imperative updates (not applies, not subresources) in the
// parts of the object want sets other than its metadata, so that the next
// apply removes those it does not want. Metadata (finalizers, annotations
// of other controllers) is never taken. It is used only when an apply is
// rejected, never in normal operation.
func (a *Applier) takeOver(ctx context.Context, cached client.Object, want *unstructured.Unstructured) error {
	// The cache may keep no other manager's fields (OwnFieldsOnly).
	live := cached.DeepCopyObject().(client.Object)
	if err := a.reader.Get(ctx, client.ObjectKeyFromObject(cached), live); err != nil {
		return err
	}
	var body []fieldpath.PathElement
	for k := range want.Object {
		if k != "apiVersion" && k != "kind" && k != "metadata" {
			body = append(body, fieldpath.PathElement{FieldName: &k})
		}
	}
	taken := &fieldpath.Set{}
	var kept []metav1.ManagedFieldsEntry
	for _, mf := range live.GetManagedFields() {
		ours := mf.Manager == a.owner && mf.Operation == metav1.ManagedFieldsOperationApply && mf.Subresource == ""
		imperative := mf.Manager != a.owner && mf.Operation == metav1.ManagedFieldsOperationUpdate && mf.Subresource == ""
		if (!ours && !imperative) || mf.FieldsV1 == nil {
			kept = append(kept, mf)
			continue
		}
		set := &fieldpath.Set{}
		if err := set.FromJSON(mf.FieldsV1.GetRawReader()); err != nil {
			return err
		}
		if ours {
			taken = taken.Union(set)
			continue
		}
		theirs := &fieldpath.Set{}
		set.Iterate(func(p fieldpath.Path) {
			if len(p) > 0 && slices.ContainsFunc(body, p[0].Equals) {
				taken.Insert(p)
			} else {
				theirs.Insert(p)
			}
		})
		if !theirs.Empty() {
			raw, err := theirs.ToJSON()
			if err != nil {
				return err
			}
			mf.FieldsV1 = &metav1.FieldsV1{Raw: raw}
			kept = append(kept, mf)
		}
	}
	raw, err := taken.ToJSON()
	if err != nil {
		return err
	}
	now := metav1.Now()
	kept = append(kept, metav1.ManagedFieldsEntry{
		Manager: a.owner, Operation: metav1.ManagedFieldsOperationApply, APIVersion: want.GetAPIVersion(),
		Time: &now, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: raw},
	})
	base := live.DeepCopyObject().(client.Object)
	live.SetManagedFields(kept)
	return a.client.Patch(ctx, live, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
}

// Delete removes the object named like obj, read from the cache, if it
// exists and is owned. It reports whether a delete was sent.
func (a *Applier) Delete(ctx context.Context, obj client.Object, owned OwnedFunc, opts ...client.DeleteOption) (bool, error) {
	gvk, err := a.gvkOf(obj)
	if err != nil {
		return false, err
	}
	live, err := a.newObject(gvk)
	if err != nil {
		return false, err
	}
	// Everything the applier writes is labelled, so the cache sees it; what
	// the cache does not hold is not ours to delete.
	if err := a.client.Get(ctx, client.ObjectKeyFromObject(obj), live); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return a.DeleteLive(ctx, live, owned, opts...)
}

// DeleteLive deletes live, an object the caller has just read, if it is
// owned and not already being deleted. The delete is conditional on live's
// UID, so an object re-created under the same name in the meantime stays.
func (a *Applier) DeleteLive(ctx context.Context, live client.Object, owned OwnedFunc, opts ...client.DeleteOption) (bool, error) {
	if !owned(live) || live.GetDeletionTimestamp() != nil {
		return false, nil
	}
	uid := live.GetUID()
	opts = append([]client.DeleteOption{client.Preconditions{UID: &uid}, client.PropagationPolicy(metav1.DeletePropagationBackground)}, opts...)
	err := a.client.Delete(ctx, live, opts...)
	if err != nil && !apierrors.IsNotFound(err) {
		gvk, _ := a.gvkOf(live)
		return false, fmt.Errorf("deleting %s %s: %w", gvk.Kind, client.ObjectKeyFromObject(live), err)
	}
	return err == nil, nil
}

// get reads the live object of the given kind, or nil when there is none.
func (a *Applier) get(ctx context.Context, gvk schema.GroupVersionKind, key client.ObjectKey) (client.Object, error) {
	live, err := a.newObject(gvk)
	if err != nil {
		return nil, err
	}
	live.SetName(key.Name)
	live.SetNamespace(key.Namespace)
	found, err := a.Get(ctx, live)
	if err != nil || !found {
		return nil, err
	}
	return live, nil
}

// Get reads the live object named like obj into obj, from the cache or, on a
// miss, from the API server: the cache holds only labelled objects, and a miss
// must not be taken for absence before anything is created. It reports
// whether the object exists.
func (a *Applier) Get(ctx context.Context, obj client.Object) (bool, error) {
	key := client.ObjectKeyFromObject(obj)
	err := a.client.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) {
		err = a.reader.Get(ctx, key, obj)
	}
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reading %s: %w", key, err)
	}
	return true, nil
}

// gvkOf is obj's kind as obj states it, all there is to know of a custom
// resource's, or else as the scheme knows obj's type.
func (a *Applier) gvkOf(obj client.Object) (schema.GroupVersionKind, error) {
	if gvk := obj.GetObjectKind().GroupVersionKind(); gvk.Kind != "" && gvk.Version != "" {
		return gvk, nil
	}
	gvk, err := apiutil.GVKForObject(obj, a.client.Scheme())
	if err != nil {
		return gvk, fmt.Errorf("kind of %s: %w", client.ObjectKeyFromObject(obj), err)
	}
	return gvk, nil
}

// newObject is an empty object of kind gvk, unstructured if the scheme does
// not know the kind.
func (a *Applier) newObject(gvk schema.GroupVersionKind) (client.Object, error) {
	if !a.client.Scheme().Recognizes(gvk) {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		return u, nil
	}
	o, err := a.client.Scheme().New(gvk)
	if err != nil {
		return nil, err
	}
	obj, ok := o.(client.Object)
	if !ok {
		return nil, fmt.Errorf("%s is not a client.Object", gvk)
	}
	return obj, nil
}

// upToDate reports whether applying want would change nothing: the manager
// already owns exactly want's fields, and merging want into live yields live.
//
// Atomic fields (a fieldRef, a list of volumeClaimTemplates) are replaced
// whole by a merge, so the values the API server defaults inside them must be
// in want too, or every apply looks like a change; the builders set them.
//
// A kind the scheme does not know is compared with deduced types, which need
// no schema: maps merge key by key and every list is replaced whole. So a
// list counts as changed unless it is equal item for item, even where the
// server merges it by item (an item another manager added to a set, a
// default filled into an item): what that gets wrong is an extra write,
// never a missed one. The server records no map itself, only its entries,
// and a set or a map list by item; a deduced set records maps and whole
// lists. Both are cut to leaves and whole lists to compare like with like.
func (a *Applier) upToDate(want *unstructured.Unstructured, live client.Object, gvk schema.GroupVersionKind) (bool, error) {
	owned, err := managedSet(live, a.owner)
	if err != nil {
		return false, err
	}
	// The scheme's converter knows the kinds client-go has apply
	// configurations for; others, even in the scheme (a
	// CustomResourceDefinition), are compared by their deduced structure.
	converter, isDeduced := a.converter, !a.client.Scheme().Recognizes(gvk) || applyconfigurations.ForKind(gvk) == nil
	if isDeduced {
		converter = deduced
	}
	wantTV, err := converter.ObjectToTyped(want, typed.AllowDuplicates)
	if err != nil {
		return false, err
	}
	wantSet, err := wantTV.ToFieldSet()
	if err != nil {
		return false, err
	}
	if isDeduced {
		wantSet, owned = wantSet.Leaves(), wholeLists(owned)
	}
	if !wantSet.Difference(strippedFields).Equals(owned) {
		return false, nil
	}

	liveObj, err := toUnstructured(live, gvk)
	if err != nil {
		return false, err
	}
	liveTV, err := converter.ObjectToTyped(liveObj, typed.AllowDuplicates)
	if err != nil {
		return false, err
	}
	merged, err := liveTV.Merge(wantTV)
	if err != nil {
		return false, err
	}
	cmp, err := liveTV.Compare(merged)
	if err != nil {
		return false, err
	}
	return cmp.IsSame(), nil
}

// strippedFields are never recorded in managedFields (the API server strips
// them before it records what an apply owns).
var strippedFields = fieldpath.NewSet(
	fieldpath.MakePathOrDie("apiVersion"),
	fieldpath.MakePathOrDie("kind"),
	fieldpath.MakePathOrDie("metadata"),
	fieldpath.MakePathOrDie("metadata", "name"),
	fieldpath.MakePathOrDie("metadata", "namespace"),
	fieldpath.MakePathOrDie("metadata", "creationTimestamp"),
	fieldpath.MakePathOrDie("metadata", "selfLink"),
	fieldpath.MakePathOrDie("metadata", "uid"),
	fieldpath.MakePathOrDie("metadata", "clusterName"),
	fieldpath.MakePathOrDie("metadata", "generation"),
	fieldpath.MakePathOrDie("metadata", "managedFields"),
	fieldpath.MakePathOrDie("metadata", "resourceVersion"),
)

// wholeLists is set with each path into a list cut at the list.
func wholeLists(set *fieldpath.Set) *fieldpath.Set {
	out := &fieldpath.Set{}
	set.Iterate(func(p fieldpath.Path) {
		if i := slices.IndexFunc(p, func(pe fieldpath.PathElement) bool { return pe.FieldName == nil }); i >= 0 {
			p = p[:i]
		}
		out.Insert(p)
	})
	return out
}

// managedSet is the set of fields the manager owns through apply on the main resource.
func managedSet(obj client.Object, manager string) (*fieldpath.Set, error) {
	set := &fieldpath.Set{}
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager != manager || mf.Operation != metav1.ManagedFieldsOperationApply || mf.Subresource != "" || mf.FieldsV1 == nil {
			continue
		}
		if err := set.FromJSON(mf.FieldsV1.GetRawReader()); err != nil {
			return nil, fmt.Errorf("decoding managed fields of %s: %w", manager, err)
		}
	}
	return set, nil
}

// applyObject turns an object into the apply request for it: status is
// dropped (it is never ours to apply), and so are the nulls that zero-valued
// structs such as creationTimestamp leave behind, which would otherwise claim
// fields for nothing.
func applyObject(obj client.Object, gvk schema.GroupVersionKind) (*unstructured.Unstructured, error) {
	out, err := toUnstructured(obj, gvk)
	if err != nil {
		return nil, err
	}
	delete(out.Object, "status")
	pruneNulls(out.Object)
	return out, nil
}

// toUnstructured is a copy of obj as an unstructured object of kind gvk.
func toUnstructured(obj client.Object, gvk schema.GroupVersionKind) (*unstructured.Unstructured, error) {
	var out *unstructured.Unstructured
	if u, ok := obj.(*unstructured.Unstructured); ok {
		out = u.DeepCopy() // the converter would hand back u's own map
	} else {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return nil, fmt.Errorf("converting %s: %w", gvk.Kind, err)
		}
		out = &unstructured.Unstructured{Object: m}
	}
	out.SetGroupVersionKind(gvk)
	return out, nil
}

func pruneNulls(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if e == nil {
				delete(t, k)
				continue
			}
			pruneNulls(e)
		}
	case []any:
		for _, e := range t {
			pruneNulls(e)
		}
	}
}
