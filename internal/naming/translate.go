package naming

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

// Separator joins a name, its virtual namespace and the VirtualCluster in
// single-namespace mode (DESIGN.md §3).
const Separator = "-x-"

// Translator maps the names of one virtual cluster's namespaced objects to
// the host. Its zero value is not useful: build it with NewTranslator.
type Translator struct {
	// multi is true in multi-namespace mode.
	multi bool
	// hostNamespace is the VirtualCluster's own namespace.
	hostNamespace string
	// virtualCluster is the VirtualCluster's name.
	virtualCluster string
}

// NewTranslator returns the translator of VirtualCluster name in host
// namespace namespace, in multi-namespace mode when multi is true.
func NewTranslator(namespace, name string, multi bool) Translator {
	return Translator{multi: multi, hostNamespace: namespace, virtualCluster: name}
}

// MultiNamespace reports the mode.
func (t Translator) MultiNamespace() bool { return t.multi }

// HostKey is where virtual object name in virtual namespace namespace
// lives on the host.
func (t Translator) HostKey(namespace, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: t.HostNamespace(namespace), Name: t.HostName(namespace, name)}
}

// HostName is the host name of virtual object name in virtual namespace
// namespace. References inside an object (a pod's secret, a service's
// endpoints) are translated with it too.
//
// In single-namespace mode it is name-x-namespace-x-vc, shortened with a
// hash over 63 characters. A join is unambiguous only when the separator
// occurs in it exactly twice; any other (a name such as "a-x-b", or one
// ending in "-x") gets a hash of its parts, so that distinct objects never
// share a name.
func (t Translator) HostName(namespace, name string) string {
	if t.multi {
		return name
	}
	joined := name + Separator + namespace + Separator + t.virtualCluster
	if occurrences(joined, Separator) != 2 {
		// The parts are hashed apart: the join reads the same for another split.
		return hashed(joined, MaxLabel, name, namespace, t.virtualCluster)
	}
	return Shorten(joined, MaxLabel)
}

// occurrences counts sep in s, overlapping ones too ("-x-x-" holds two).
func occurrences(s, sep string) int {
	n := 0
	for i := strings.Index(s, sep); i >= 0; {
		n++
		next := strings.Index(s[i+1:], sep)
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return n
}

// HostNamespace is the host namespace of virtual namespace namespace: the
// VirtualCluster's own in single-namespace mode; in multi-namespace mode a
// namespace of its own, readable where it fits and always ending in a hash of
// (host namespace, VirtualCluster, virtual namespace), so that it is unique
// however the three are spelled.
func (t Translator) HostNamespace(namespace string) string {
	if !t.multi {
		return t.hostNamespace
	}
	return hashed(t.virtualCluster+"-"+namespace, MaxLabel, t.hostNamespace, t.virtualCluster, namespace)
}

// hashed returns s's first max-11 characters, "-", and 10 hex digits of the
// SHA-256 of parts (of s itself when none are given), whatever s's length.
func hashed(s string, max int, parts ...string) string {
	if len(parts) == 0 {
		parts = []string{s}
	}
	// A NUL cannot occur in a name: joining with it keeps the parts apart.
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	prefix := s
	if len(prefix) > max-hashDigits-1 {
		prefix = prefix[:max-hashDigits-1]
	}
	prefix = strings.TrimRight(prefix, "-.")
	return prefix + "-" + hex.EncodeToString(sum[:])[:hashDigits]
}
