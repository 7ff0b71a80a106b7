package controlplane

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/ownership"
	"github.com/nestor-dev/nestor/internal/pki"
)

// Keys of the admin kubeconfig Secret.
const (
	KubeconfigKey           = "config"
	KubeconfigCAKey         = "certificate-authority"
	KubeconfigClientCertKey = "client-certificate"
	KubeconfigClientKeyKey  = "client-key"
)

// CertsSecret holds the control plane's PKI plus the kubeconfigs
// kube-controller-manager uses to reach its own API server and CoreDNS to
// reach it through its Service.
func CertsSecret(vc *tenancyv1alpha1.VirtualCluster, data map[string][]byte) (*corev1.Secret, error) {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	all := maps.Clone(data)
	cm, err := pki.Kubeconfig(data, "https://127.0.0.1:6443", vc.Name, pki.ControllerManagerCert, pki.ControllerManagerKey)
	if err != nil {
		return nil, err
	}
	all[ControllerManagerKubeconfig] = cm
	dns, err := pki.Kubeconfig(data, InClusterEndpoint(vc), vc.Name, pki.CoreDNSCert, pki.CoreDNSKey)
	if err != nil {
		return nil, err
	}
	all[CoreDNSKubeconfig] = dns
	return &corev1.Secret{
		ObjectMeta: ownership.NamespacedMeta(vc, n.Certs),
		Type:       corev1.SecretTypeOpaque,
		Data:       all,
	}, nil
}

// KubeconfigSecret holds an admin kubeconfig for the virtual cluster and its
// parts, for tools that want them as files.
func KubeconfigSecret(vc *tenancyv1alpha1.VirtualCluster, data map[string][]byte) (*corev1.Secret, error) {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	cfg, err := pki.Kubeconfig(data, InClusterEndpoint(vc), vc.Name, pki.AdminCert, pki.AdminKey)
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		ObjectMeta: ownership.NamespacedMeta(vc, n.Kubeconfig),
		Type:       corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			KubeconfigKey:           cfg,
			KubeconfigCAKey:         data[pki.CACert],
			KubeconfigClientCertKey: data[pki.AdminCert],
			KubeconfigClientKeyKey:  data[pki.AdminKey],
		},
	}, nil
}

// PKIHash digests the PKI files the control-plane containers read only at
// start, so that the pods roll when one changes. The API server's serving
// certificate is left out (kube-apiserver reloads it, so adding a name needs
// no restart), and so is what no container mounts, such as the admin
// certificate.
func PKIHash(data map[string][]byte) string {
	keys := slices.Concat(etcdPKI, apiServerPKI, controllerManagerPKI)
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range slices.Compact(keys) {
		if k == pki.APIServerCert || k == pki.APIServerKey {
			continue
		}
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write(data[k])
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
