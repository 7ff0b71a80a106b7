//go:build e2e

package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// certManagerDir holds cert-manager's controller and its rendered CRDs
// (crds/*.yaml), as hack/kube-binaries.sh builds them; run.sh passes it.
var certManagerDir = os.Getenv("NESTOR_E2E_CERT_MANAGER")

const certManagerNamespace = "cert-manager"

// installCertManager installs cert-manager on the host as a platform team
// would, before Nestor: its CRDs from the directory hack/kube-binaries.sh
// renders them into, then its controller (test/e2e/manifests/cert-manager.yaml),
// and waits until the CRDs are served and the controller runs.
func installCertManager(t *testing.T) {
	if certManagerDir == "" {
		t.Fatal("NESTOR_E2E_CERT_MANAGER is not set: run `make test-e2e`")
	}
	crds := filepath.Join(certManagerDir, "crds")
	mustKubectl(t, "apply", "--server-side", "-f", crds)
	mustKubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "-f", crds)
	manifest, err := os.ReadFile(filepath.Join(root, "test", "e2e", "manifests", "cert-manager.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := applyManifest(t, bytes.ReplaceAll(manifest, []byte("@TAG@"), []byte(imageTag))); err != nil {
		t.Fatal(err)
	}
	if _, err := kubectl("rollout", "status", "-n", certManagerNamespace, "deployment/cert-manager", "--timeout=2m"); err != nil {
		out, _ := kubectl("get", "pods,events", "-n", certManagerNamespace)
		logs, _ := kubectl("logs", "-n", certManagerNamespace, "deployment/cert-manager", "--tail=50")
		t.Fatal(err, out, logs)
	}
	t.Logf("cert-manager's controller runs in %s", time.Since(start).Round(time.Second))
}
