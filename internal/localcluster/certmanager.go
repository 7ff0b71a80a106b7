package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// CertManagerDirEnv names the directory holding cert-manager's controller
// and its CRDs (crds/*.yaml), as hack/kube-binaries.sh builds them.
const CertManagerDirEnv = "NESTOR_CERT_MANAGER_DIR"

// CertManagerDir finds cert-manager's controller and CRDs: $NESTOR_CERT_MANAGER_DIR
// if set, otherwise what hack/kube-binaries.sh --print-cert-manager-dir
// prints, of the nearest directory above the working directory that has it.
func CertManagerDir() (string, error) {
	dir := os.Getenv(CertManagerDirEnv)
	if dir == "" {
		script, err := findUp(filepath.Join("hack", "kube-binaries.sh"))
		if err != nil {
			return "", fmt.Errorf("%w: set %s to a directory holding cert-manager's controller and crds/", err, CertManagerDirEnv)
		}
		// The script owns the directory scheme; asking it keeps one copy.
		out, err := exec.Command(script, "--print-cert-manager-dir").Output()
		if err != nil {
			return "", fmt.Errorf("%s --print-cert-manager-dir: %w", script, err)
		}
		dir = strings.TrimSpace(string(out))
	}
	for _, name := range []string{"controller", "crds"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("no cert-manager %s in %s: run `make test` or hack/kube-binaries.sh to build it", name, dir)
		}
	}
	return dir, nil
}

// findUp returns the path of name in the nearest directory above the
// working directory that has it.
func findUp(name string) (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return filepath.Join(dir, name), nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no %s above %s", name, wd)
		}
	}
}

// InstallCertManagerCRDs creates or updates cert-manager's CRDs and waits
// until each is established, so that Issuers and Certificates can be
// created right away.
func InstallCertManagerCRDs(ctx context.Context, cfg *rest.Config) error {
	dir, err := CertManagerDir()
	if err != nil {
		return err
	}
	o := envtest.CRDInstallOptions{Paths: []string{filepath.Join(dir, "crds")}, ErrorIfPathMissing: true}
	if err := envtest.ReadCRDFiles(&o); err != nil {
		return err
	}
	if err := envtest.CreateCRDs(cfg, o.CRDs); err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	for _, crd := range o.CRDs {
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			live := &apiextensionsv1.CustomResourceDefinition{}
			if err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, live); err != nil {
				return false, err
			}
			for _, cond := range live.Status.Conditions {
				if cond.Type == apiextensionsv1.Established {
					return cond.Status == apiextensionsv1.ConditionTrue, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("waiting for CRD %s to be established: %w", crd.Name, err)
		}
	}
	return nil
}

// CertManagerOptions configure StartCertManager.
type CertManagerOptions struct {
	// ClusterResourceNamespace holds the Secrets ClusterIssuers refer to;
	// cert-manager's default, kube-system, if empty.
	ClusterResourceNamespace string
	// LogDir receives cert-manager-controller.log; a temporary directory,
	// removed by Stop, if empty.
	LogDir string
	// Args are extra controller flags.
	Args []string
}

// CertManager is a running cert-manager controller. It runs alone: without
// its webhook nothing defaults or validates cert-manager's objects, and
// without cainjector no caBundle is injected.
type CertManager struct {
	// LogFile is where the controller logs.
	LogFile string

	cmd    *exec.Cmd
	done   chan error
	tmpDir string
}

// StartCertManager runs cert-manager's controller against the API server of
// cfg, without leader election, and waits until it serves its metrics: by
// then it has taken its flags and built its clients, and starts its
// controllers next.
func StartCertManager(cfg *rest.Config, o CertManagerOptions) (*CertManager, error) {
	dir, err := CertManagerDir()
	if err != nil {
		return nil, err
	}
	m := &CertManager{}
	if m.tmpDir, err = os.MkdirTemp("", "nestor-cert-manager-"); err != nil {
		return nil, err
	}
	if err := m.start(filepath.Join(dir, "controller"), cfg, o); err != nil {
		return nil, errors.Join(err, m.Stop())
	}
	return m, nil
}

func (m *CertManager) start(bin string, cfg *rest.Config, o CertManagerOptions) error {
	kubeconfig, err := kubeconfigFor(cfg)
	if err != nil {
		return err
	}
	kubeconfigPath := filepath.Join(m.tmpDir, "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		return err
	}
	ports, err := freePorts([]int32{9402})
	if err != nil {
		return err
	}
	metrics := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[9402])))
	args := []string{
		"--kubeconfig=" + kubeconfigPath,
		"--leader-elect=false",
		"--metrics-listen-address=" + metrics,
	}
	if o.ClusterResourceNamespace != "" {
		args = append(args, "--cluster-resource-namespace="+o.ClusterResourceNamespace)
	}
	logDir := o.LogDir
	if logDir == "" {
		logDir = m.tmpDir
	}
	m.LogFile = filepath.Join(logDir, "cert-manager-controller.log")
	logFile, err := os.Create(m.LogFile)
	if err != nil {
		return err
	}
	m.cmd = exec.Command(bin, append(args, o.Args...)...)
	m.cmd.Stdout, m.cmd.Stderr = logFile, logFile
	if err := m.cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting cert-manager: %w", err)
	}
	m.done = make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		err := m.cmd.Wait()
		logFile.Close()
		close(exited)
		m.done <- err
	}()

	err = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		select {
		case <-exited:
			return false, errors.New("cert-manager exited")
		default:
		}
		conn, err := net.Dial("tcp", metrics)
		if err != nil {
			return false, nil
		}
		conn.Close()
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for cert-manager to serve metrics on %s: %w\n%s", metrics, err, m.Log())
	}
	return nil
}

// kubeconfigFor renders cfg, with its credentials inline, as a kubeconfig.
func kubeconfigFor(cfg *rest.Config) ([]byte, error) {
	caData, certData, keyData := cfg.CAData, cfg.CertData, cfg.KeyData
	for _, f := range []struct {
		path string
		data *[]byte
	}{{cfg.CAFile, &caData}, {cfg.CertFile, &certData}, {cfg.KeyFile, &keyData}} {
		if len(*f.data) == 0 && f.path != "" {
			b, err := os.ReadFile(f.path)
			if err != nil {
				return nil, err
			}
			*f.data = b
		}
	}
	const name = "local"
	return clientcmd.Write(clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{name: {
			Server:                   cfg.Host,
			CertificateAuthorityData: caData,
			TLSServerName:            cfg.ServerName,
			InsecureSkipTLSVerify:    cfg.Insecure,
		}},
		AuthInfos: map[string]*clientcmdapi.AuthInfo{name: {
			ClientCertificateData: certData,
			ClientKeyData:         keyData,
			Token:                 cfg.BearerToken,
			TokenFile:             cfg.BearerTokenFile,
			Impersonate:           cfg.Impersonate.UserName,
			ImpersonateUID:        cfg.Impersonate.UID,
			ImpersonateGroups:     cfg.Impersonate.Groups,
			ImpersonateUserExtra:  cfg.Impersonate.Extra,
		}},
		Contexts:       map[string]*clientcmdapi.Context{name: {Cluster: name, AuthInfo: name}},
		CurrentContext: name,
	})
}

// Log returns the tail of what the controller has logged, for a failing
// test to show.
func (m *CertManager) Log() string {
	b, err := os.ReadFile(m.LogFile)
	if err != nil {
		return err.Error()
	}
	if len(b) > 5000 {
		b = b[len(b)-5000:]
	}
	return string(b)
}

// Stop stops the controller and removes its temporary files.
func (m *CertManager) Stop() error {
	var errs []error
	if m.cmd != nil && m.cmd.Process != nil {
		errs = append(errs, stopProcess(m.cmd, m.done))
	}
	if m.tmpDir != "" {
		errs = append(errs, os.RemoveAll(m.tmpDir))
	}
	return errors.Join(errs...)
}
