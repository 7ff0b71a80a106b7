//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/naming"
)

// TestNestor installs Nestor as a user would and runs every scenario of
// docs/e2e.md: the highly available sample alone (it needs most of the
// node's two cores), then both modes side by side.
func TestNestor(t *testing.T) {
	t.Run("sample production", func(t *testing.T) {
		vc := sample(t, "tenancy_v1alpha1_virtualcluster_production.yaml", "e2e-production")
		if boot(t, vc, 6*time.Minute) == nil {
			return
		}
		deleteVirtualCluster(t, vc.vc)
	})
	t.Run("modes", func(t *testing.T) {
		t.Run("single", func(t *testing.T) {
			t.Parallel()
			lifecycle(t, sample(t, "tenancy_v1alpha1_virtualcluster_single.yaml", "e2e-single"))
		})
		t.Run("multi", func(t *testing.T) {
			t.Parallel()
			lifecycle(t, sample(t, "tenancy_v1alpha1_virtualcluster_cert-manager.yaml", "team-a"))
		})
	})
}

// tenant is one virtual cluster as a user reaches it.
type tenant struct {
	sample     samplefile
	vc         *tenancyv1alpha1.VirtualCluster
	kubeconfig string
	client     client.Client
	names      naming.Translator
}

// step is one scenario of lifecycle.
type step struct {
	name string
	run  func(*testing.T, *tenant)
}

// lifecycle runs the scenarios on one VirtualCluster, each step only if
// the one before passed: cert-manager's for the sample that syncs its
// kinds, and deletion last.
func lifecycle(t *testing.T, s samplefile) {
	tn := boot(t, s, 4*time.Minute)
	if tn == nil {
		return
	}
	steps := []step{
		{"workload runs", runWorkload},
		{"in-cluster clients and readiness gates", apiAccess},
		{"names resolve", namesResolve},
		{"nodes, and kubectl logs, exec, attach and port-forward through the syncer", kubeletAPI},
		{"operator and syncer restarts converge", restartsConverge},
		{"mode flip denied", modeFlipDenied},
	}
	if syncsCertManager(tn.vc) {
		steps = append(steps, step{"cert-manager issues a tenant's certificate", certManagerWalkthrough})
	}
	steps = append(steps, step{"deletion leaves nothing", func(t *testing.T, tn *tenant) { deleteVirtualCluster(t, tn.vc) }})
	for _, st := range steps {
		if !t.Run(st.name, func(t *testing.T) { st.run(t, tn) }) {
			return
		}
	}
}

// boot is scenario 1: the sample reaches Ready because its control-plane
// pod runs and its syncer connects, and its kubeconfig works through a
// port-forward, with kubectl.
func boot(t *testing.T, s samplefile, timeout time.Duration) *tenant {
	vc := s.vc
	if !installed(t) {
		return nil
	}
	t.Run("boots", func(t *testing.T) {
		t.Cleanup(func() { diagnose(t, vc) })
		ensureNamespace(t, vc.Namespace)
		start := time.Now()
		admission.RLock()
		out, err := applyManifest(t, s.data, "-n", vc.Namespace)
		admission.RUnlock()
		if err != nil {
			t.Fatal(out, err)
		}
		got := waitReady(t, vc, timeout)
		t.Logf("%s/%s Ready in %s (mode %s)", vc.Namespace, vc.Name, time.Since(start).Round(time.Second), got.Status.Mode)
		for _, c := range []string{"ControlPlaneReady", "DNSReady", "SyncerReady"} {
			if cond := condition(got, c); cond == nil || cond.Status != metav1.ConditionTrue {
				t.Fatalf("%s: %+v", c, cond)
			}
		}
		// The later steps read the spec as the API server defaulted it.
		got.DeepCopyInto(vc)

		file := portForward(t, vc)
		ns := mustKubectl(t, "--kubeconfig", file, "get", "namespaces", "-o", "name")
		for _, want := range []string{"namespace/default", "namespace/kube-system"} {
			if !strings.Contains(ns, want) {
				t.Errorf("kubectl get namespaces in the virtual cluster: no %s in\n%s", want, ns)
			}
		}
		version := mustKubectl(t, "--kubeconfig", file, "version")
		if !strings.Contains(version, "Server Version: "+got.Spec.ControlPlane.Version) {
			t.Errorf("kubectl version against the virtual cluster:\n%s", version)
		}
	})
	if t.Failed() {
		return nil
	}
	file := serviceKubeconfig(t, vc)
	cfg, err := clientcmd.BuildConfigFromFlags("", file)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return &tenant{sample: s, vc: vc, kubeconfig: file, client: c,
		names: naming.NewTranslator(vc.Namespace, vc.Name, vc.Status.Mode == tenancyv1alpha1.MultiNamespaceMode)}
}

const (
	demoNamespace = "demo"
	greeting      = "hello from the virtual cluster"
)

// runWorkload is scenario 2: a ConfigMap and a Secret, a Deployment of two
// replicas that mounts the one and reads both, a Service and a claim, made
// in the virtual cluster, run on the node;
// a client pod reaches the Service by its ClusterIP; the host's events show
// on the virtual pods.
func runWorkload(t *testing.T, tn *tenant) {
	t.Cleanup(func() { diagnose(t, tn.vc) })
	g := NewWithT(t)
	ctx := context.Background()
	mustKubectl(t, "--kubeconfig", tn.kubeconfig, "create", "namespace", demoNamespace)
	for _, obj := range []client.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: "web"},
			Data: map[string]string{"greeting.txt": greeting, "env": "from-configmap"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: "web"},
			StringData: map[string]string{"token": "from-secret"}},
		webDeployment(),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: "web"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
				Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: "data"},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}},
	} {
		g.Expect(tn.client.Create(ctx, obj)).To(Succeed())
	}
	waitWeb(t, tn, 2)

	// The host copies run on the node, one per virtual pod.
	virtualPods := webPods(g, tn)
	for _, v := range virtualPods {
		h := &corev1.Pod{}
		g.Expect(host.Get(ctx, tn.names.HostKey(v.Namespace, v.Name), h)).To(Succeed())
		g.Expect(h.Status.Phase).To(Equal(corev1.PodRunning))
		g.Expect(h.Spec.NodeName).NotTo(BeEmpty())
		g.Expect(v.Spec.NodeName).To(Equal(h.Spec.NodeName))
		g.Expect(h.Annotations[tenancyv1alpha1.AnnotationVirtualUID]).To(Equal(string(v.UID)))
	}

	// The claim binds on the host, and the virtual claim shows it.
	g.Eventually(func() (corev1.PersistentVolumeClaimPhase, error) {
		pvc := &corev1.PersistentVolumeClaim{}
		err := tn.client.Get(ctx, client.ObjectKey{Namespace: demoNamespace, Name: "data"}, pvc)
		return pvc.Status.Phase, err
	}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Equal(corev1.ClaimBound))

	// A client pod reaches the Service by the ClusterIP the virtual cluster
	// shows, and the answer carries the mounted file and the env variable.
	svc := &corev1.Service{}
	g.Expect(tn.client.Get(ctx, client.ObjectKey{Namespace: demoNamespace, Name: "web"}, svc)).To(Succeed())
	hostSvc := &corev1.Service{}
	g.Expect(host.Get(ctx, tn.names.HostKey(demoNamespace, "web"), hostSvc)).To(Succeed())
	g.Expect(svc.Spec.ClusterIP).To(Equal(hostSvc.Spec.ClusterIP), "the virtual Service shows its host ClusterIP")
	want := fmt.Sprintf("file=%s env=from-configmap token=from-secret", greeting)
	clientPod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: "client"},
		Spec: corev1.PodSpec{
			RestartPolicy:   corev1.RestartPolicyNever,
			SecurityContext: restricted(),
			Containers: []corev1.Container{{Name: "get", Image: "nestor.e2e/testapp:" + imageTag,
				Args:            []string{"get", "http://" + svc.Spec.ClusterIP + "/", want, "90s"},
				SecurityContext: containerRestricted()}},
		},
	}
	g.Expect(tn.client.Create(ctx, clientPod)).To(Succeed())
	g.Eventually(func() (corev1.PodPhase, error) {
		p := &corev1.Pod{}
		err := tn.client.Get(ctx, client.ObjectKeyFromObject(clientPod), p)
		return p.Status.Phase, err
	}).WithTimeout(2*time.Minute).WithPolling(time.Second).Should(Equal(corev1.PodSucceeded), func() string {
		out, _ := kubectl("--kubeconfig", tn.kubeconfig, "logs", "-n", demoNamespace, "client")
		return "client log: " + out
	})
	// kubectl logs in the virtual cluster reaches the host pod's, through the syncer.
	out := mustKubectl(t, "--kubeconfig", tn.kubeconfig, "logs", "-n", demoNamespace, "client")
	g.Expect(out).To(ContainSubstring(want))

	// The host's events about each pod reach the virtual pod.
	for _, v := range virtualPods {
		g.Eventually(func(g Gomega) {
			list := &corev1.EventList{}
			g.Expect(tn.client.List(ctx, list, client.InNamespace(demoNamespace))).To(Succeed())
			reasons := map[string]bool{}
			for _, e := range list.Items {
				if e.InvolvedObject.Kind == "Pod" && e.InvolvedObject.Name == v.Name {
					reasons[e.Reason] = true
				}
			}
			g.Expect(reasons).To(HaveKey("Scheduled"))
			g.Expect(reasons).To(HaveKey("Pulled"))
			g.Expect(reasons).To(HaveKey("Started"))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed(), "events of virtual pod "+v.Name)
	}
}

func webDeployment() *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					SecurityContext: restricted(),
					Containers: []corev1.Container{{
						Name:  "web",
						Image: "nestor.e2e/testapp:" + imageTag,
						Args:  []string{"serve", ":8080", "/config/greeting.txt"},
						Env: []corev1.EnvVar{{Name: "GREETING", ValueFrom: &corev1.EnvVarSource{
							ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "web"}, Key: "env"}}},
							{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{
								SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "web"}, Key: "token"}}}},
						Ports:           []corev1.ContainerPort{{ContainerPort: 8080}},
						ReadinessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 2},
						VolumeMounts:    []corev1.VolumeMount{{Name: "config", MountPath: "/config"}},
						SecurityContext: containerRestricted(),
					}},
					Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{
						ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web"}}}}},
				},
			},
		},
	}
}

func restricted() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
}

func containerRestricted() *corev1.SecurityContext {
	return &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
}

// webPods are the web Deployment's pods in the virtual cluster.
func webPods(g Gomega, tn *tenant) []corev1.Pod {
	list := &corev1.PodList{}
	g.Expect(tn.client.List(context.Background(), list, client.InNamespace(demoNamespace), client.MatchingLabels{"app": "web"})).To(Succeed())
	return list.Items
}

// waitWeb waits until the virtual web Deployment has exactly n pods, all
// Running and Ready, and as many host copies, no more.
func waitWeb(t *testing.T, tn *tenant, n int) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		pods := webPods(g, tn)
		g.Expect(pods).To(HaveLen(n))
		for _, p := range pods {
			g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning), p.Name)
			g.Expect(podReady(&p)).To(BeTrue(), p.Name+" Ready")
		}
		g.Expect(hostWebPods(g, tn)).To(HaveLen(n))
	}).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Succeed())
}

// hostWebPods are the host copies of the web pods, by their origin.
func hostWebPods(g Gomega, tn *tenant) []corev1.Pod {
	list := &corev1.PodList{}
	g.Expect(host.List(context.Background(), list, client.InNamespace(tn.names.HostNamespace(demoNamespace)),
		client.MatchingLabels{tenancyv1alpha1.LabelVirtualCluster: tn.vc.Name, "app": "web"})).To(Succeed())
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}
