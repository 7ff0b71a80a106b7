//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// overlay is how a platform team installs Nestor with an image of its own:
// a kustomization over config/default that names the image. The
// replacement repeats config/default's, which ran before this overlay's
// image was set: without it the syncers would run the default image.
const overlay = `resources: [%s]
images: [{name: ghcr.io/nestor-dev/nestor, newTag: %s}]
replacements:
- source: {kind: Deployment, name: nestor-controller-manager, fieldPath: "spec.template.spec.containers.[name=manager].image"}
  targets:
  - select: {kind: Deployment, name: nestor-controller-manager}
    fieldPaths: ["spec.template.spec.containers.[name=manager].env.[name=NESTOR_SYNCER_IMAGE].value"]
`

var (
	installOnce sync.Once
	installOK   bool
	// admission is held for reading by steps that need the operator's
	// webhook to answer, and for writing by the step that restarts the
	// operator: the webhook fails closed.
	admission sync.RWMutex
)

// installed installs cert-manager and then Nestor the first time a test
// needs them, in subtests of that test's, and reports whether both are
// installed. cert-manager comes first, as on a platform that already runs
// it: the multi-namespace sample syncs its kinds, and is Ready only once the
// host defines them.
func installed(t *testing.T) bool {
	installOnce.Do(func() {
		installOK = t.Run("install cert-manager", installCertManager) && t.Run("install Nestor", installNestor)
	})
	if !installOK {
		t.Error("cert-manager or Nestor could not be installed")
	}
	return installOK
}

// installNestor applies config/default through such an overlay and waits
// until the operator serves, its webhook included.
func installNestor(t *testing.T) {
	// kustomize takes only relative paths to a base.
	dir := filepath.Join(root, "bin", "e2e", "deploy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), fmt.Appendf(nil, overlay, "../../../config/default", imageTag), 0o644); err != nil {
		t.Fatal(err)
	}
	mustKubectl(t, "apply", "--server-side", "-k", dir)
	NewWithT(t).Eventually(func(g Gomega) {
		dep := &appsv1.Deployment{}
		g.Expect(host.Get(context.Background(), client.ObjectKey{Namespace: operatorNamespace, Name: "nestor-controller-manager"}, dep)).To(Succeed())
		g.Expect(dep.Status.ObservedGeneration).To(Equal(dep.Generation))
		g.Expect(dep.Status.ReadyReplicas).To(Equal(*dep.Spec.Replicas))
		g.Expect(dep.Status.UpdatedReplicas).To(Equal(*dep.Spec.Replicas))
	}).WithTimeout(3*time.Minute).WithPolling(time.Second).Should(Succeed(), func() string {
		out, _ := kubectl("get", "pods,events", "-n", operatorNamespace)
		logs, _ := kubectl("logs", "-n", operatorNamespace, "-l", "app.kubernetes.io/name=nestor", "--tail=50", "--prefix")
		return out + logs
	})
	// The API server reaches the webhook through its Service, which works
	// once kube-proxy has its rules: an admitted dry run shows it does.
	vc := filepath.Join(root, "config", "samples", "tenancy_v1alpha1_virtualcluster_single.yaml")
	NewWithT(t).Eventually(func() error {
		_, err := kubectl("create", "--dry-run=server", "-n", "default", "-f", vc)
		return err
	}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())

	// The images the operator's pods run are the ones imported, never pulled.
	pods := &corev1.PodList{}
	if err := host.List(context.Background(), pods, client.InNamespace(operatorNamespace)); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		for _, c := range p.Spec.Containers {
			if c.Image != "ghcr.io/nestor-dev/nestor:"+imageTag {
				t.Errorf("pod %s runs image %s", p.Name, c.Image)
			}
		}
	}
}
