// Package localcluster starts a throw-away control plane on this machine
// from the binaries the project builds under bin/: etcd and kube-apiserver
// through envtest, and, when asked, kube-controller-manager beside them for
// what envtest lacks (garbage collection, namespace deletion, workloads).
// The tests and the quick start (`make run`) both use it.
package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/mod/modfile"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// Controllers commonly run beside the API server.
var (
	// GarbageCollection is enough for deletions to cascade.
	GarbageCollection = []string{"garbage-collector-controller", "namespace-controller"}
	// Workloads adds what turns StatefulSets and Deployments into pods.
	Workloads = append([]string{
		"statefulset-controller", "deployment-controller", "replicaset-controller",
		"serviceaccount-controller", "endpointslice-controller",
	}, GarbageCollection...)
)

// Options configure a local cluster.
type Options struct {
	// CRDDirectoryPaths are installed before Start returns.
	CRDDirectoryPaths []string
	// Controllers of kube-controller-manager to run; none runs no kube-controller-manager.
	Controllers []string
	// WebhookInstallOptions, as envtest's, to install webhook configurations.
	WebhookInstallOptions envtest.WebhookInstallOptions
	// APIServerArgs are extra kube-apiserver flags, name to value.
	APIServerArgs map[string]string
	// LogDir receives the control plane's logs; a temporary directory if empty.
	LogDir string
}

// Cluster is a running local control plane.
type Cluster struct {
	Env *envtest.Environment
	// Config reaches the API server as a member of system:masters.
	Config *rest.Config
	// Kubeconfig is Config as a kubeconfig file's contents.
	Kubeconfig []byte
	// LogDir holds kube-controller-manager.log.
	LogDir string

	kcm     *exec.Cmd
	kcmDone chan error
	tmpDir  string
}

// AssetsDir finds etcd, kube-apiserver and kube-controller-manager:
// $KUBEBUILDER_ASSETS if set, otherwise bin/k8s/<version>-<os>-<arch> of the
// version hack/kube/go.mod pins, in the nearest directory above the working
// directory that has that file.
func AssetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if data, err := os.ReadFile(filepath.Join(dir, "hack", "kube", "go.mod")); err == nil {
			return pinnedAssets(dir, data)
		}
		if filepath.Dir(dir) == dir {
			return "", errors.New("no hack/kube/go.mod above the working directory: set KUBEBUILDER_ASSETS to a directory holding etcd, kube-apiserver and kube-controller-manager")
		}
	}
}

func pinnedAssets(root string, goMod []byte) (string, error) {
	f, err := modfile.ParseLax("go.mod", goMod, nil)
	if err != nil {
		return "", fmt.Errorf("hack/kube/go.mod: %w", err)
	}
	for _, r := range f.Require {
		if r.Mod.Path != "k8s.io/kubernetes" {
			continue
		}
		dir := filepath.Join(root, "bin", "k8s", strings.TrimPrefix(r.Mod.Version, "v")+"-"+runtime.GOOS+"-"+runtime.GOARCH)
		if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err != nil {
			return "", fmt.Errorf("no kube-apiserver %s in %s: run `make kube-binaries` (or `make test`) to build it", r.Mod.Version, dir)
		}
		return dir, nil
	}
	return "", errors.New("hack/kube/go.mod does not require k8s.io/kubernetes")
}

// Start starts the control plane and waits until it serves.
func Start(o Options) (*Cluster, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     o.CRDDirectoryPaths,
		ErrorIfCRDPathMissing: len(o.CRDDirectoryPaths) > 0,
		WebhookInstallOptions: o.WebhookInstallOptions,
	}
	args := env.ControlPlane.GetAPIServer().Configure()
	for k, v := range o.APIServerArgs {
		args.Set(k, v)
	}
	cfg, err := env.Start()
	if err != nil {
		// Start leaves the processes running when a later step, such as
		// installing the CRDs, fails.
		return nil, errors.Join(fmt.Errorf("starting etcd and kube-apiserver from %s: %w", assets, err), env.Stop())
	}
	c := &Cluster{Env: env, Config: cfg, LogDir: o.LogDir}
	if err := c.init(assets, o.Controllers); err != nil {
		return nil, errors.Join(err, c.Stop())
	}
	return c, nil
}

func (c *Cluster) init(assets string, controllers []string) error {
	admin, err := c.Env.AddUser(envtest.User{Name: "local-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("creating an admin user: %w", err)
	}
	if c.Kubeconfig, err = admin.KubeConfig(); err != nil {
		return err
	}
	if c.tmpDir, err = os.MkdirTemp("", "nestor-localcluster-"); err != nil {
		return err
	}
	if c.LogDir == "" {
		c.LogDir = c.tmpDir
	}
	if len(controllers) == 0 {
		return nil
	}
	return c.startControllerManager(filepath.Join(assets, "kube-controller-manager"), controllers)
}

func (c *Cluster) startControllerManager(bin string, controllers []string) error {
	kubeconfig := filepath.Join(c.tmpDir, "kube-controller-manager.kubeconfig")
	if err := os.WriteFile(kubeconfig, c.Kubeconfig, 0o600); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(c.LogDir, "kube-controller-manager.log"))
	if err != nil {
		return err
	}
	c.kcm = exec.Command(bin,
		"--kubeconfig="+kubeconfig,
		"--controllers="+strings.Join(controllers, ","),
		"--leader-elect=false",
		"--secure-port=0",
		"--use-service-account-credentials=false",
		"--concurrent-gc-syncs=5",
	)
	c.kcm.Stdout, c.kcm.Stderr = logFile, logFile
	if err := c.kcm.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting kube-controller-manager: %w", err)
	}
	c.kcmDone = make(chan error, 1)
	go func() {
		c.kcmDone <- c.kcm.Wait()
		logFile.Close()
	}()
	return nil
}

// Stop stops every process Start started.
func (c *Cluster) Stop() error {
	var errs []error
	if c.kcm != nil && c.kcm.Process != nil {
		errs = append(errs, stopProcess(c.kcm, c.kcmDone))
	}
	errs = append(errs, c.Env.Stop())
	if c.tmpDir != "" {
		errs = append(errs, os.RemoveAll(c.tmpDir))
	}
	return errors.Join(errs...)
}

// ControllerManagerLog returns what kube-controller-manager has logged, for
// a failing test to show.
func (c *Cluster) ControllerManagerLog() string {
	b, err := os.ReadFile(filepath.Join(c.LogDir, "kube-controller-manager.log"))
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// stopProcess sends SIGTERM, then SIGKILL if the process lingers.
func stopProcess(cmd *exec.Cmd, done <-chan error) error {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
	}
	_ = cmd.Process.Kill()
	<-done
	return nil
}

// ImpersonateWithRole creates ServiceAccount namespace/name, grants it the
// ClusterRole in roleFile (the operator's generated config/rbac/role.yaml),
// and returns a configuration that acts as that ServiceAccount: what runs
// with it has exactly the permissions the role gives.
func (c *Cluster) ImpersonateWithRole(roleFile, namespace, name string) (*rest.Config, error) {
	ctx := context.Background()
	b, err := os.ReadFile(roleFile)
	if err != nil {
		return nil, err
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(b, role); err != nil {
		return nil, fmt.Errorf("%s: %w", roleFile, err)
	}
	role.Name = namespace + "-" + name
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	if _, err := cs.CoreV1().ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: namespace}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	cfg := rest.CopyConfig(c.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + namespace + ":" + name}
	return cfg, nil
}
