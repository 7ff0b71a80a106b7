//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	"github.com/nestor-dev/nestor/test/e2e/conformance"
)

// What `make test-conformance` hands the suite: the modes to run the
// conformance subset in, and where e2e.test and ginkgo are.
var (
	conformanceModes = os.Getenv("NESTOR_E2E_CONFORMANCE")
	// conformanceFocus, if set, selects the specs it matches instead of the
	// groups' (to run again those that failed).
	conformanceFocus = os.Getenv("NESTOR_E2E_CONFORMANCE_FOCUS")
	k8sDir           = os.Getenv("NESTOR_E2E_K8S")
)

// conformanceSamples is the sample each mode's virtual cluster is made of,
// and the namespace its manifest allows.
var conformanceSamples = map[string]struct{ file, namespace string }{
	"single": {"tenancy_v1alpha1_virtualcluster_single.yaml", "conformance-single"},
	"multi":  {"tenancy_v1alpha1_virtualcluster_cert-manager.yaml", "team-a"},
}

// TestConformance runs the Kubernetes e2e specs of conformance.Groups inside
// a virtual cluster of each mode, the modes side by side, and writes their
// counts per group to bin/e2e/conformance/<mode>/summary.txt
// (docs/conformance.md). `make test-e2e` skips it: it takes about an hour.
func TestConformance(t *testing.T) {
	modes := strings.Fields(conformanceModes)
	if len(modes) == 0 {
		t.Skip("`make test-conformance` runs it")
	}
	for _, mode := range modes {
		s, ok := conformanceSamples[mode]
		if !ok {
			t.Fatalf("no mode %q: CONFORMANCE_MODES takes single and multi", mode)
		}
		t.Run(mode, func(t *testing.T) {
			// Most specs wait on pods, so the modes share the node's two
			// cores: three spec processes in all, or two a mode.
			procs := 3
			if len(modes) > 1 {
				t.Parallel()
				procs = 2
			}
			runConformance(t, mode, sample(t, s.file, s.namespace), procs)
		})
	}
}

func runConformance(t *testing.T, mode string, s samplefile, procs int) {
	tn := boot(t, s, 4*time.Minute)
	if tn == nil {
		return
	}
	if !t.Run("a node shows", func(t *testing.T) { anchor(t, tn) }) {
		return
	}
	dir := filepath.Join(root, "bin", "e2e", "conformance", mode)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "dry-run"), 0o755); err != nil {
		t.Fatal(err)
	}
	e2eTest, ginkgo := filepath.Join(k8sDir, "e2e.test"), filepath.Join(k8sDir, "ginkgo")
	focus, skip := conformance.Focus(conformance.Groups), conformance.Skip
	if conformanceFocus != "" {
		focus = conformanceFocus
	}
	// The flags of e2e.test (k8s.io/kubernetes/test/e2e/framework). The
	// driver runs on the node, which reaches the virtual API server at its
	// Service's cluster IP.
	flags := func(reportDir string) []string {
		return []string{"--kubeconfig=" + tn.kubeconfig, "--provider=skeleton", "--dns-domain=cluster.local",
			"--kubectl-path=" + kubectlPath, "--report-dir=" + reportDir}
	}

	t.Run("dry run", func(t *testing.T) {
		args := append([]string{"--ginkgo.dry-run", "--ginkgo.no-color", "--ginkgo.focus=" + focus, "--ginkgo.skip=" + skip}, flags(filepath.Join(dir, "dry-run"))...)
		out, err := e2eCommand(tn, dir, e2eTest, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("e2e.test --ginkgo.dry-run: %v\n%s", err, out)
		}
		ran := regexp.MustCompile(`Ran \d+ of \d+ Specs`).Find(out)
		t.Logf("the dry run selects: %s", ran)
		summarize(t, filepath.Join(dir, "dry-run"), "selected (as passed)")
	})

	t.Run("specs pass", func(t *testing.T) {
		log, err := os.Create(filepath.Join(dir, "ginkgo.log"))
		if err != nil {
			t.Fatal(err)
		}
		defer log.Close()
		// The suite's timeout leaves the Go test's room to report.
		args := append([]string{"--procs=" + strconv.Itoa(procs), "--timeout=2h", "--no-color", "--silence-skips",
			"--focus=" + focus, "--skip=" + skip, e2eTest, "--"}, flags(dir)...)
		cmd := e2eCommand(tn, dir, ginkgo, args...)
		cmd.Stdout = io.MultiWriter(os.Stdout, log)
		cmd.Stderr = cmd.Stdout
		start := time.Now()
		err = cmd.Run()
		t.Logf("ginkgo ran for %s (%v); its output is in %s", time.Since(start).Round(time.Second), err, log.Name())
		if s := summarize(t, dir, "outcome"); len(s.Failures) > 0 {
			t.Errorf("%d specs or suite nodes failed (%s)", len(s.Failures), filepath.Join(dir, "summary.txt"))
		}
	})

	t.Run("deletion leaves nothing", func(t *testing.T) { deleteVirtualCluster(t, tn.vc) })
}

// e2eCommand runs the e2e binary or ginkgo in dir, with the virtual
// cluster's kubeconfig as the one of every kubectl it starts.
func e2eCommand(tn *tenant, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KUBECONFIG="+tn.kubeconfig)
	return cmd
}

// summarize counts the JUnit report in dir per group, writes the table to
// dir/summary.txt and logs it.
func summarize(t *testing.T, dir, title string) conformance.Summary {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "junit_01.xml"))
	if err != nil {
		t.Fatalf("no JUnit report: %v", err)
	}
	defer f.Close()
	s, err := conformance.Summarize(f, conformance.Groups)
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	if err := s.Table(&table, 6); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.txt"), table.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s per group:\n%s", title, table.String())
	return s
}

// anchor runs a pod in the virtual cluster for the whole run: the virtual
// cluster shows a Node only while a tenant pod runs on it (README), and the
// e2e framework waits for a schedulable one before any spec.
func anchor(t *testing.T, tn *tenant) {
	ctx := context.Background()
	pod := testPod("conformance-anchor", corev1.RestartPolicyAlways, "pause")
	pod.Namespace = "default"
	g := NewWithT(t)
	g.Expect(tn.client.Create(ctx, pod)).To(Succeed())
	g.Eventually(func(g Gomega) {
		nodes := &corev1.NodeList{}
		g.Expect(tn.client.List(ctx, nodes)).To(Succeed())
		g.Expect(nodes.Items).NotTo(BeEmpty())
	}).WithTimeout(3*time.Minute).WithPolling(time.Second).Should(Succeed(), "a Node in the virtual cluster")
}
