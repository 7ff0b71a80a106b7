// Package syncerconfig is the configuration the operator renders for a
// virtual cluster's syncer, and the syncer reads. It carries everything the
// syncer must not work out on its own, above all the namespace mode as the
// operator recorded it, never as the spec may say later.
package syncerconfig

import (
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/naming"
)

// FileName is the key of the configuration in its ConfigMap, and the name of
// the file the syncer reads.
const FileName = "config.yaml"

// Config is the syncer's configuration.
type Config struct {
	// VirtualCluster the syncer works for.
	VirtualCluster Reference `json:"virtualCluster"`
	// Mode is the recorded namespace mode.
	Mode tenancyv1alpha1.Mode `json:"mode"`
	// HostNamespace is the VirtualCluster's namespace on the host.
	HostNamespace string `json:"hostNamespace"`
	// WorkloadServiceAccount is the host identity the tenant's pods run as.
	WorkloadServiceAccount string `json:"workloadServiceAccount"`
	// ServiceCIDR and ClusterDomain of the virtual cluster.
	ServiceCIDR   string `json:"serviceCIDR"`
	ClusterDomain string `json:"clusterDomain"`
	// APIServerIP is the cluster IP of the control plane's Service on the
	// host: the address a tenant's host pod reaches its API server at, which
	// the virtual cluster's "kubernetes" Service shows and its endpoints
	// name. Empty until the host has given the Service one.
	APIServerIP string `json:"apiServerIP,omitempty"`
	// DNSNameserver is the cluster IP of the virtual cluster's CoreDNS on
	// the host, the nameserver of the tenant's host pods.
	DNSNameserver string `json:"dnsNameserver,omitempty"`
	// ToHost and FromHost are spec.sync as the operator accepted it.
	ToHost   tenancyv1alpha1.SyncToHost   `json:"toHost"`
	FromHost tenancyv1alpha1.SyncFromHost `json:"fromHost"`
	// PodSecurity is spec.policies.podSecurity: the level the syncer holds
	// the tenant's pods to, with the namespace's enforce label
	// (docs/pod-security.md).
	PodSecurity tenancyv1alpha1.PodSecurityPolicy `json:"podSecurity"`
	// CustomResources are the custom kinds of ToHost and FromHost whose
	// definitions the host has, resolved by the operator.
	CustomResources []CustomResource `json:"customResources,omitempty"`
	// Definitions are the CustomResourceDefinitions of CustomResources as
	// the virtual cluster gets them (EncodeDefinitions). The operator reads
	// them from the host: in single-namespace mode the syncer may not.
	Definitions []byte `json:"definitions,omitempty"`
	// Kubelet is where the virtual cluster's API server reaches the
	// kubelet API the syncer serves: the InternalDNS address and the port
	// every Node the syncer shows in the virtual cluster gives. The
	// operator fills it in with the syncer's Service's name; empty, logs,
	// exec and port-forward do not work.
	Kubelet KubeletEndpoint `json:"kubelet,omitempty"`
	// Image is the syncer's own image: the init container that writes the
	// hosts file of a tenant pod of a subdomain runs it. The operator fills
	// it in; empty, such pods keep the hosts file the host's kubelet writes.
	Image string `json:"image,omitempty"`
}

// KubeletEndpoint is an address and port of the syncer's kubelet API.
type KubeletEndpoint struct {
	Address string `json:"address,omitempty"`
	Port    int32  `json:"port,omitempty"`
}

// Reference identifies the VirtualCluster.
type Reference struct {
	Name      string    `json:"name"`
	Namespace string    `json:"namespace"`
	UID       types.UID `json:"uid"`
}

// For renders the configuration of vc's syncer for the recorded mode.
func For(vc *tenancyv1alpha1.VirtualCluster, mode tenancyv1alpha1.Mode) Config {
	return Config{
		VirtualCluster:         Reference{Name: vc.Name, Namespace: vc.Namespace, UID: vc.UID},
		Mode:                   mode,
		HostNamespace:          vc.Namespace,
		WorkloadServiceAccount: naming.ForVirtualCluster(vc.Namespace, vc.Name).WorkloadServiceAccount,
		ServiceCIDR:            vc.Spec.Networking.ServiceCIDR,
		ClusterDomain:          vc.Spec.Networking.ClusterDomain,
		ToHost:                 vc.Spec.Sync.ToHost,
		FromHost:               vc.Spec.Sync.FromHost,
		PodSecurity:            vc.Spec.Policies.PodSecurity,
	}
}

// Marshal renders c as YAML.
func (c Config) Marshal() (string, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("rendering syncer configuration: %w", err)
	}
	return string(b), nil
}

// Parse reads a configuration rendered by Marshal; unknown fields are an
// error, so an operator and a syncer of different versions do not silently
// disagree.
func Parse(data []byte) (Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return Config{}, fmt.Errorf("parsing syncer configuration: %w", err)
	}
	if c.VirtualCluster.Name == "" || c.HostNamespace == "" {
		return Config{}, fmt.Errorf("parsing syncer configuration: virtualCluster.name and hostNamespace are required")
	}
	switch c.Mode {
	case tenancyv1alpha1.SingleNamespaceMode, tenancyv1alpha1.MultiNamespaceMode:
	default:
		return Config{}, fmt.Errorf("parsing syncer configuration: mode %q is neither %s nor %s",
			c.Mode, tenancyv1alpha1.SingleNamespaceMode, tenancyv1alpha1.MultiNamespaceMode)
	}
	switch c.PodSecurity.Level {
	case "", tenancyv1alpha1.PodSecurityPrivileged, tenancyv1alpha1.PodSecurityBaseline, tenancyv1alpha1.PodSecurityRestricted:
	default:
		return Config{}, fmt.Errorf("parsing syncer configuration: podSecurity.level %q is none of %s, %s, %s", c.PodSecurity.Level,
			tenancyv1alpha1.PodSecurityPrivileged, tenancyv1alpha1.PodSecurityBaseline, tenancyv1alpha1.PodSecurityRestricted)
	}
	return c, nil
}
