// Package packaging checks what ships besides the code: the kustomize
// configuration users deploy from and the Dockerfile that builds the image.
package packaging

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/nestor-dev/nestor/internal/operator"
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

// nested reads a field of an unstructured object, failing the test if absent.
func nested(t *testing.T, obj map[string]any, path ...string) any {
	t.Helper()
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("no %v", path)
		}
		if cur, ok = m[p]; !ok {
			t.Fatalf("no %v", path)
		}
	}
	return cur
}

func TestDefaultDeploysTheWebhookWithSelfManagedCertificates(t *testing.T) {
	m := build(t, "config/default")
	cfg := find(t, m, "ValidatingWebhookConfiguration", operator.WebhookConfiguration)
	hooks := map[string]map[string]any{}
	for _, h := range nested(t, cfg, "webhooks").([]any) {
		hooks[fmt.Sprint(h.(map[string]any)["name"])] = h.(map[string]any)
	}
	for name, hook := range hooks {
		for k, want := range map[string]any{"failurePolicy": "Fail", "sideEffects": "None", "timeoutSeconds": int64(10)} {
			if got := hook[k]; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("webhook %s: %s = %v, want %v", name, k, got, want)
			}
		}
		svcRef := nested(t, hook, "clientConfig", "service").(map[string]any)
		if svcRef["name"] != operator.WebhookService || svcRef["namespace"] != "nestor-system" {
			t.Errorf("webhook %s calls %v", name, svcRef)
		}
	}
	// Only a syncer's requests reach the webhook of the syncers' writes:
	// no other namespace write depends on Nestor.
	syncerHook, ok := hooks["vsyncer.tenancy.nestor.dev"]
	if !ok {
		t.Fatalf("no webhook for the syncers' writes in %v", hooks)
	}
	if conds := fmt.Sprint(syncerHook["matchConditions"]); !strings.Contains(conds, "request.userInfo.username.matches('^system:serviceaccount:[^:]+:vc-[^:]+$')") {
		t.Errorf("matchConditions = %s: only syncers' requests may reach the webhook of the syncers' writes", conds)
	}
	hook, ok := hooks["vvirtualcluster.tenancy.nestor.dev"]
	if !ok {
		t.Fatalf("no VirtualCluster webhook in %v", hooks)
	}
	ops := fmt.Sprint(nested(t, hook, "rules").([]any)[0].(map[string]any)["operations"])
	if ops != "[CREATE UPDATE]" {
		t.Errorf("operations = %s: deletion and status updates must never be blocked", ops)
	}
	if res := fmt.Sprint(nested(t, hook, "rules").([]any)[0].(map[string]any)["resources"]); res != "[virtualclusters]" {
		t.Errorf("resources = %s, want the main resource only, not status", res)
	}

	if conds := fmt.Sprint(hook["matchConditions"]); !strings.Contains(conds, "object.spec != oldObject.spec") {
		t.Errorf("matchConditions = %s: updates that leave the spec alone must not reach the webhook", conds)
	}
	// The operator may rewrite the caBundle of its own configuration only.
	role := find(t, m, "ClusterRole", "nestor-manager-role")
	for _, r := range role["rules"].([]any) {
		r := r.(map[string]any)
		if fmt.Sprint(r["resources"]) == "[validatingwebhookconfigurations]" && strings.Contains(fmt.Sprint(r["verbs"]), "update") &&
			fmt.Sprint(r["resourceNames"]) != "["+operator.WebhookConfiguration+"]" {
			t.Errorf("the operator may update validatingwebhookconfigurations %v, want only %s", r["resourceNames"], operator.WebhookConfiguration)
		}
	}

	pdb := find(t, m, "PodDisruptionBudget", "nestor-controller-manager")
	if got := fmt.Sprint(nested(t, pdb, "spec", "minAvailable")); got != "1" {
		t.Errorf("minAvailable = %s: a drain must leave one replica to answer admission", got)
	}

	svc := find(t, m, "Service", operator.WebhookService)
	dep := find(t, m, "Deployment", "nestor-controller-manager")
	podLabels := nested(t, dep, "spec", "template", "metadata", "labels").(map[string]any)
	for k, v := range nested(t, svc, "spec", "selector").(map[string]any) {
		if podLabels[k] != v {
			t.Errorf("the webhook Service selects %s=%v, which the operator's pods lack", k, v)
		}
	}
	find(t, m, "Secret", operator.WebhookSecret)
	mountsWebhookSecret(t, dep)
	c := nested(t, dep, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
	if slices.Contains(c["args"].([]any), any("--manage-webhook-certs=false")) {
		t.Error("config/default must let the operator manage the webhook's certificate")
	}
}

// mountsWebhookSecret checks that the operator reads its serving
// certificate from the Secret the webhook's issuer writes.
func mountsWebhookSecret(t *testing.T, dep map[string]any) {
	t.Helper()
	spec := nested(t, dep, "spec", "template", "spec").(map[string]any)
	volume := ""
	for _, v := range spec["volumes"].([]any) {
		if secret, ok := v.(map[string]any)["secret"].(map[string]any); ok && secret["secretName"] == operator.WebhookSecret {
			volume = v.(map[string]any)["name"].(string)
		}
	}
	c := spec["containers"].([]any)[0].(map[string]any)
	for _, vm := range c["volumeMounts"].([]any) {
		if vm := vm.(map[string]any); volume != "" && vm["name"] == volume && vm["mountPath"] == operator.WebhookCertDir {
			return
		}
	}
	t.Errorf("the operator does not mount Secret %s at %s", operator.WebhookSecret, operator.WebhookCertDir)
}

func TestCertManagerOverlayBuilds(t *testing.T) {
	m := build(t, "config/overlays/cert-manager")
	cert := find(t, m, "Certificate", "nestor-serving-cert")
	if got := nested(t, cert, "spec", "secretName"); got != operator.WebhookSecret {
		t.Errorf("cert-manager writes %v, the operator reads %s", got, operator.WebhookSecret)
	}
	if names := fmt.Sprint(nested(t, cert, "spec", "dnsNames")); !strings.Contains(names, operator.WebhookService+".nestor-system.svc") {
		t.Errorf("certificate names %s", names)
	}
	find(t, m, "Issuer", "nestor-selfsigned-issuer")
	cfg := find(t, m, "ValidatingWebhookConfiguration", operator.WebhookConfiguration)
	if got := nested(t, cfg, "metadata", "annotations", "cert-manager.io/inject-ca-from"); got != "nestor-system/nestor-serving-cert" {
		t.Errorf("inject-ca-from = %v", got)
	}
	for _, r := range m.Resources() {
		if r.GetKind() == "Secret" && r.GetName() == operator.WebhookSecret {
			t.Error("with cert-manager the empty Secret must not be shipped")
		}
	}
	dep := find(t, m, "Deployment", "nestor-controller-manager")
	c := nested(t, dep, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
	if !slices.Contains(c["args"].([]any), any("--manage-webhook-certs=false")) {
		t.Error("with cert-manager the operator must not manage the certificate too")
	}
	mountsWebhookSecret(t, dep)
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
