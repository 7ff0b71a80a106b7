package pki

import (
	"fmt"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Kubeconfig renders a kubeconfig that reaches server, trusts the cluster CA
// in data and authenticates with the client certificate certKey/keyKey of data.
func Kubeconfig(data map[string][]byte, server, name, certKey, keyKey string) ([]byte, error) {
	for _, k := range []string{CACert, certKey, keyKey} {
		if len(data[k]) == 0 {
			return nil, fmt.Errorf("rendering kubeconfig: PKI has no %s", k)
		}
	}
	cfg := clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{
			name: {Server: server, CertificateAuthorityData: data[CACert]},
		},
		AuthInfos: map[string]*clientcmdapi.AuthInfo{
			name: {ClientCertificateData: data[certKey], ClientKeyData: data[keyKey]},
		},
		Contexts: map[string]*clientcmdapi.Context{
			name: {Cluster: name, AuthInfo: name},
		},
		CurrentContext: name,
	}
	return clientcmd.Write(cfg)
}
