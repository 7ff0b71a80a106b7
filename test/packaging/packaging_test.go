// Package packaging checks what ships besides the code: the kustomize
// configuration users deploy from and the Dockerfile that builds the image.
package packaging

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// root is the repository root, two levels above this package.
var root = filepath.Join("..", "..")

func build(t *testing.T, dir string) resmap.ResMap {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(root, dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	return m
}

func find(t *testing.T, m resmap.ResMap, kind, name string) map[string]any {
	t.Helper()
	for _, r := range m.Resources() {
		if r.GetKind() == kind && r.GetName() == name {
			obj, err := r.Map()
			if err != nil {
				t.Fatal(err)
			}
			return obj
		}
	}
	t.Fatalf("no %s %s in the build", kind, name)
	return nil
}

func TestDefaultDeploysTheOperator(t *testing.T) {
	m := build(t, "config/default")
	find(t, m, "CustomResourceDefinition", "virtualclusters.tenancy.nestor.dev")
	find(t, m, "Namespace", "nestor-system")
	find(t, m, "ServiceAccount", "nestor-controller-manager")
	find(t, m, "ClusterRole", "nestor-manager-role")

	binding := find(t, m, "ClusterRoleBinding", "nestor-manager-rolebinding")
	subject := binding["subjects"].([]any)[0].(map[string]any)
	if subject["namespace"] != "nestor-system" || subject["name"] != "nestor-controller-manager" {
		t.Errorf("the operator's role is bound to %v", subject)
	}
	roleRef := binding["roleRef"].(map[string]any)
	if roleRef["name"] != "nestor-manager-role" {
		t.Errorf("roleRef = %v", roleRef)
	}

	dep := find(t, m, "Deployment", "nestor-controller-manager")
	spec := dep["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	if spec["serviceAccountName"] != "nestor-controller-manager" {
		t.Errorf("serviceAccountName = %v", spec["serviceAccountName"])
	}
	c := spec["containers"].([]any)[0].(map[string]any)
	image := c["image"].(string)
	if image != "ghcr.io/nestor-dev/nestor:latest" {
		t.Errorf("image = %s", image)
	}
	if args := c["args"].([]any); args[0] != "manager" {
		t.Errorf("args = %v, want the manager subcommand first", args)
	}
	var syncerImage string
	for _, e := range c["env"].([]any) {
		if e := e.(map[string]any); e["name"] == "NESTOR_SYNCER_IMAGE" {
			syncerImage, _ = e["value"].(string)
		}
	}
	if syncerImage != image {
		t.Errorf("NESTOR_SYNCER_IMAGE = %q, want the operator's own image %q", syncerImage, image)
	}
}

func TestSamplesBuild(t *testing.T) {
	m := build(t, "config/samples")
	if got := len(m.Resources()); got != 3 {
		t.Fatalf("config/samples holds %d VirtualClusters, want 3", got)
	}
}

// TestDockerfileCopiesWhatTheBinaryImports guards the image build, which
// cannot run here (no Docker engine): every package of this module that
// ./cmd imports must lie under a directory the Dockerfile copies.
func TestDockerfileCopiesWhatTheBinaryImports(t *testing.T) {
	f, err := os.Open(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var copied []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 3 && fields[0] == "COPY" && !strings.HasPrefix(fields[1], "--") {
			for _, src := range fields[1 : len(fields)-1] {
				copied = append(copied, strings.TrimSuffix(src, "/"))
			}
		}
	}
	for _, want := range []string{"go.mod", "go.sum"} {
		if !slices.Contains(copied, want) {
			t.Errorf("the Dockerfile does not copy %s", want)
		}
	}

	out, err := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.ImportPath}}{{end}}{{end}}", "../../cmd").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const module = "github.com/nestor-dev/nestor/"
	for _, pkg := range strings.Fields(string(out)) {
		dir := strings.TrimPrefix(pkg, module)
		top, _, _ := strings.Cut(dir, "/")
		if !slices.Contains(copied, top) {
			t.Errorf("./cmd imports %s, but the Dockerfile does not copy %s/", pkg, top)
		}
	}
}
