package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/nestor-dev/nestor/internal/localcluster"
)

// Service ranges as the syncer's envtests use them: the virtual one holds
// the host's, so that a virtual Service can take its host copy's cluster IP.
const (
	hostServiceCIDR    = "10.0.0.0/24"
	virtualServiceCIDR = "10.0.0.0/16"
	// apiServerIP plays the cluster IP of the control plane's Service.
	apiServerIP = "10.0.1.1"
	// operatorServiceCIDR holds the three cluster IPs of each of hundreds
	// of VirtualClusters (control plane, syncer, DNS).
	operatorServiceCIDR = "10.96.0.0/16"
)

// virtualArgs are a virtual control plane's, as the StatefulSet's
// (internal/controlplane): the syncer, not the API server, keeps the
// kubernetes Service's endpoints.
var virtualArgs = map[string]string{"endpoint-reconciler-type": "none"}

// virtualControllers run beside a virtual API server: pods are rejected
// without their namespace's default ServiceAccount, and kube-api-access
// reads kube-root-ca.crt.
var virtualControllers = []string{"serviceaccount-controller", "root-ca-certificate-publisher-controller"}

// apiServer is one local control plane with its audit log.
type apiServer struct {
	*localcluster.Cluster
	Name     string
	AuditLog string
	// Admin is the bench's own client; its requests are not counted.
	Admin *kubernetes.Clientset
}

// startAPIServer starts a control plane named name, its files under dir.
// Every cluster the bench starts runs the ServiceAccount admission plugin,
// as a real one does (envtest turns it off).
func startAPIServer(name, dir string, controllers []string, serviceCIDR string, extraArgs map[string]string, crds ...string) (*apiServer, error) {
	dir = filepath.Join(dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o644); err != nil {
		return nil, err
	}
	auditLog := filepath.Join(dir, "audit.log")
	args := auditArgs(policy, auditLog)
	args["disable-admission-plugins"] = ""
	args["service-cluster-ip-range"] = serviceCIDR
	maps.Copy(args, extraArgs)
	c, err := localcluster.Start(localcluster.Options{
		Controllers: controllers, CRDDirectoryPaths: crds, APIServerArgs: args, LogDir: dir,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the %s API server: %w", name, err)
	}
	s := &apiServer{Cluster: c, Name: name, AuditLog: auditLog}
	if s.Admin, err = kubernetes.NewForConfig(unlimited(c.Config)); err != nil {
		return nil, errors.Join(err, c.Stop())
	}
	return s, nil
}

// serviceAccount is an identity the API server authenticates as
// ServiceAccount namespace/name, by a client certificate: what it may do
// is what RBAC grants that ServiceAccount, and priority and fairness
// classify it as one.
func (s *apiServer) serviceAccount(namespace, name string) (*envtest.AuthenticatedUser, error) {
	return s.Env.AddUser(envtest.User{
		Name:   "system:serviceaccount:" + namespace + ":" + name,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace},
	}, nil)
}

// administrator is an identity in system:masters, such as the virtual
// cluster's admin kubeconfig the syncer uses.
func (s *apiServer) administrator(name string) (*envtest.AuthenticatedUser, error) {
	return s.Env.AddUser(envtest.User{Name: name, Groups: []string{"system:masters"}}, nil)
}

// pids finds the API server's and its etcd's processes, named for s, to
// meter their CPU.
func (s *apiServer) pids() (map[string]int, error) {
	cp := s.Env.ControlPlane
	apiserver, err := findProcess("--cert-dir=" + cp.GetAPIServer().CertDir)
	if err != nil {
		return nil, fmt.Errorf("the %s kube-apiserver: %w", s.Name, err)
	}
	etcd, err := findProcess("--data-dir=" + cp.Etcd.DataDir)
	if err != nil {
		return nil, fmt.Errorf("the %s etcd: %w", s.Name, err)
	}
	return map[string]int{s.Name + " kube-apiserver": apiserver, s.Name + " etcd": etcd}, nil
}

// requests parses the audit log.
func (s *apiServer) requests() ([]request, error) { return readAudit(s.AuditLog) }

// unlimited copies cfg without a client-side rate limit.
func unlimited(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	return cfg
}

// stopAll stops the API servers.
func stopAll(servers ...*apiServer) error {
	var errs []error
	for _, s := range servers {
		if s != nil {
			errs = append(errs, s.Stop())
		}
	}
	return errors.Join(errs...)
}
