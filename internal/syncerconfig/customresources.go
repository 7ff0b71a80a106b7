package syncerconfig

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

// Direction says which way a custom kind is synced.
type Direction string

const (
	// ToHost kinds are the tenant's: spec down, status up.
	ToHost Direction = "ToHost"
	// FromHost kinds are the host's: shown in the virtual cluster, read-only.
	FromHost Direction = "FromHost"
)

// CustomResource is one custom kind the syncer syncs, as the operator found
// its definition on the host: only kinds whose definition is there and
// established are listed.
type CustomResource struct {
	// Resource is the spec's key, <plural>.<group>.
	Resource  string    `json:"resource"`
	Direction Direction `json:"direction"`
	// Group, Version and Kind of the objects; Version is the definition's
	// storage version, which both clusters serve.
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
	// Namespaced is the definition's scope.
	Namespaced bool `json:"namespaced"`
	// References are the fields of a ToHost kind's objects that name other
	// objects: the built-in ones and the spec's patches.
	References []tenancyv1alpha1.ReferencePatch `json:"references,omitempty"`
	// Selector, a label selector in its string form, picks the host objects
	// a FromHost kind shows; empty shows them all. The platform sets it.
	Selector string `json:"selector,omitempty"`
}

// GroupVersionKind of the kind's objects.
func (c CustomResource) GroupVersionKind() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: c.Group, Version: c.Version, Kind: c.Kind}
}

// EncodeDefinitions packs the definitions the syncer installs in the virtual
// cluster for Config.Definitions: compressed, because a ConfigMap holds at
// most 1 MiB and one CRD's schema can take a good part of that.
func EncodeDefinitions(defs []apiextensionsv1.CustomResourceDefinition) ([]byte, error) {
	if len(defs) == 0 {
		return nil, nil
	}
	raw, err := json.Marshal(defs)
	if err != nil {
		return nil, fmt.Errorf("encoding the custom resource definitions: %w", err)
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(raw); err != nil {
		return nil, fmt.Errorf("compressing the custom resource definitions: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compressing the custom resource definitions: %w", err)
	}
	return buf.Bytes(), nil
}

// DefinitionsOf unpacks c.Definitions.
func (c Config) DefinitionsOf() ([]apiextensionsv1.CustomResourceDefinition, error) {
	if len(c.Definitions) == 0 {
		return nil, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(c.Definitions))
	if err != nil {
		return nil, fmt.Errorf("reading the custom resource definitions: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("reading the custom resource definitions: %w", err)
	}
	var defs []apiextensionsv1.CustomResourceDefinition
	if err := json.Unmarshal(raw, &defs); err != nil {
		return nil, fmt.Errorf("reading the custom resource definitions: %w", err)
	}
	return defs, nil
}
