package controllers_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/events"
	certutil "k8s.io/client-go/util/cert"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/controllers"
	"github.com/nestor-dev/nestor/internal/apply"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/pki"
)

// markRolledOut sets the status a StatefulSet and Deployment controller and
// kubelets would set once every replica is up; the tests run none of them.
func markRolledOut(t testing.TB, vc *tenancyv1alpha1.VirtualCluster, ready bool) {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	count := int32(0)
	if ready {
		count = 1
	}
	g.Eventually(func(g Gomega) {
		sts := &appsv1.StatefulSet{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: n.ControlPlane}, sts)).To(Succeed())
		replicas := *sts.Spec.Replicas
		sts.Status = appsv1.StatefulSetStatus{
			ObservedGeneration: sts.Generation, Replicas: replicas, ReadyReplicas: count * replicas,
			UpdatedReplicas: replicas, CurrentReplicas: replicas, AvailableReplicas: count * replicas,
			CurrentRevision: "rev-1", UpdateRevision: "rev-1",
		}
		g.Expect(k8s.Status().Update(ctx, sts)).To(Succeed())
		for _, name := range []string{n.Syncer, n.DNS} {
			dep := &appsv1.Deployment{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: name}, dep)).To(Succeed())
			dep.Status = appsv1.DeploymentStatus{
				ObservedGeneration: dep.Generation, Replicas: 1, UpdatedReplicas: 1,
				ReadyReplicas: count, AvailableReplicas: count,
			}
			g.Expect(k8s.Status().Update(ctx, dep)).To(Succeed())
		}
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
}

// kstatusOf is what Flux and Argo CD make of vc as the API server holds it.
func kstatusOf(g Gomega, vc *tenancyv1alpha1.VirtualCluster) status.Status {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(tenancyv1alpha1.GroupVersion.WithKind("VirtualCluster"))
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(vc), u)).To(Succeed())
	res, err := status.Compute(u)
	g.Expect(err).NotTo(HaveOccurred())
	return res.Status
}

func TestReadyFollowsTheWorkloads(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout) // ends the watch
	defer cancel()
	ns := newNamespace(t)
	watcher, err := client.NewWithWatch(cluster.Config, client.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	w, err := watcher.Watch(ctx, &unstructured.UnstructuredList{Object: map[string]any{
		"apiVersion": tenancyv1alpha1.GroupVersion.String(), "kind": "VirtualClusterList"}}, client.InNamespace(ns))
	g.Expect(err).NotTo(HaveOccurred())
	defer w.Stop()
	vc := create(t, sample(t, "tenancy_v1alpha1_virtualcluster_single.yaml", ns))
	expectNamespacedChildren(t, vc)

	// Every status the operator writes on the way reads InProgress: the
	// control plane never rolls out here until markRolledOut. (The object as
	// created has no status at all, the API server drops it, and kstatus reads
	// that as Current: README, "Status".)
	var statuses int
	for ev := range w.ResultChan() {
		u := ev.Object.(*unstructured.Unstructured)
		if _, ok := u.Object["status"]; !ok {
			continue
		}
		statuses++
		res, err := status.Compute(u)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.Status).To(Equal(status.InProgressStatus), "status #%d: %v", statuses, u.Object["status"])
		got := &tenancyv1alpha1.VirtualCluster{}
		g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, got)).To(Succeed())
		if c := condition(got, controllers.ConditionControlPlaneReady); c != nil && c.Reason == controllers.ReasonRollingOut {
			break
		}
	}
	g.Expect(statuses).To(BeNumerically(">=", 2), "the first status, then the steps'")

	g.Eventually(func(g Gomega) {
		got := get(g, vc)
		g.Expect(condition(got, controllers.ConditionReady)).To(HaveField("Status", metav1.ConditionFalse))
		g.Expect(condition(got, controllers.ConditionControlPlaneReady)).To(HaveField("Reason", controllers.ReasonRollingOut))
		g.Expect(condition(got, controllers.ConditionReconciling)).To(HaveField("Status", metav1.ConditionTrue))
		g.Expect(got.Status.Phase).To(Equal(tenancyv1alpha1.PhaseProvisioning))
		g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		g.Expect(got.Status.KubernetesVersion).To(BeEmpty(), "no version is reported before the control plane runs")
		g.Expect(kstatusOf(g, vc)).To(Equal(status.InProgressStatus))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

	markRolledOut(t, vc, true)
	g.Eventually(func(g Gomega) {
		got := get(g, vc)
		g.Expect(condition(got, controllers.ConditionReady)).To(And(
			HaveField("Status", metav1.ConditionTrue), HaveField("ObservedGeneration", got.Generation)))
		for _, c := range []string{controllers.ConditionRBACReady, controllers.ConditionCertificatesReady, controllers.ConditionControlPlaneReady,
			controllers.ConditionCustomResourcesReady, controllers.ConditionSyncerReady, controllers.ConditionPoliciesReady} {
			g.Expect(condition(got, c)).To(HaveField("Status", metav1.ConditionTrue), c)
		}
		g.Expect(got.Status.Phase).To(Equal(tenancyv1alpha1.PhaseReady))
		g.Expect(got.Status.KubernetesVersion).To(Equal(tenancyv1alpha1.DefaultKubernetesVersion))
		g.Expect(condition(got, controllers.ConditionReconciling)).To(BeNil())
		g.Expect(condition(got, controllers.ConditionStalled)).To(BeNil())
		g.Expect(kstatusOf(g, vc)).To(Equal(status.CurrentStatus))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

	markRolledOut(t, vc, false)
	g.Eventually(func(g Gomega) {
		got := get(g, vc)
		g.Expect(condition(got, controllers.ConditionReady)).To(HaveField("Status", metav1.ConditionFalse))
		g.Expect(condition(got, controllers.ConditionControlPlaneReady)).To(And(
			HaveField("Reason", controllers.ReasonRollingOut),
			HaveField("Message", ContainSubstring("0/1 control-plane replicas are ready"))))
		g.Expect(condition(got, controllers.ConditionSyncerReady)).To(HaveField("Status", metav1.ConditionFalse))
		g.Expect(got.Status.Phase).To(Equal(tenancyv1alpha1.PhaseProvisioning))
		g.Expect(kstatusOf(g, vc)).To(Equal(status.InProgressStatus))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
}

// writeLog records the requests of one reconciler.
type writeLog struct {
	mu   sync.Mutex
	reqs []string
	next http.RoundTripper
}

func (w *writeLog) RoundTrip(req *http.Request) (*http.Response, error) {
	w.mu.Lock()
	w.reqs = append(w.reqs, req.Method+" "+req.URL.Path)
	w.mu.Unlock()
	return w.next.RoundTrip(req)
}

// writes returns the requests other than reads.
func writes(reqs []string) []string {
	var out []string
	for _, r := range reqs {
		if !strings.HasPrefix(r, http.MethodGet+" ") {
			out = append(out, r)
		}
	}
	return out
}

func (w *writeLog) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.reqs
	w.reqs = nil
	return out
}

// countingReconciler is the operator's reconciler on the manager's cache,
// whose every request to the API server is logged.
func countingReconciler(t testing.TB) (*controllers.VirtualClusterReconciler, *writeLog) {
	t.Helper()
	log := &writeLog{}
	cfg := operatorConfig()
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { log.next = rt; return log })
	c, err := client.New(cfg, client.Options{Scheme: mgr.GetScheme(), Cache: &client.CacheOptions{Reader: mgr.GetCache()}})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	reader, err := client.New(cfg, client.Options{Scheme: mgr.GetScheme()})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	return &controllers.VirtualClusterReconciler{
		Client:            c,
		APIReader:         reader,
		Applier:           apply.New(c, reader, controllers.FieldOwner),
		Recorder:          events.NewFakeRecorder(100),
		SyncerImage:       syncerImage,
		HostClusterDomain: "cluster.local",
		FromHostSelectors: fromHostSelectors,
	}, log
}

// waitForCache waits until the manager's cache holds every child of vc, and
// vc itself, at the resource version the API server has.
func waitForCache(t testing.TB, vc *tenancyv1alpha1.VirtualCluster) {
	t.Helper()
	objs := []child{{&tenancyv1alpha1.VirtualCluster{}, vc.Name}}
	objs = append(objs, namespacedChildren(vc)...)
	NewWithT(t).Eventually(func(g Gomega) {
		for _, c := range objs {
			key := client.ObjectKey{Namespace: vc.Namespace, Name: c.name}
			live, cached := c.obj.DeepCopyObject().(client.Object), c.obj.DeepCopyObject().(client.Object)
			g.Expect(k8s.Get(context.Background(), key, live)).To(Succeed())
			g.Expect(mgr.GetCache().Get(context.Background(), key, cached)).To(Succeed())
			g.Expect(cached.GetResourceVersion()).To(Equal(live.GetResourceVersion()), "%T %s", c.obj, c.name)
		}
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
}

func TestSteadyStateReconcileWritesNothing(t *testing.T) {
	g := NewWithT(t)
	for _, file := range []string{"tenancy_v1alpha1_virtualcluster_single.yaml", "tenancy_v1alpha1_virtualcluster_cert-manager.yaml", "tenancy_v1alpha1_virtualcluster_production.yaml"} {
		vc := create(t, sample(t, file, newNamespace(t)))
		expectNamespacedChildren(t, vc)
		markRolledOut(t, vc, true)
		g.Eventually(func(g Gomega) {
			g.Expect(condition(get(g, vc), controllers.ConditionReady)).To(HaveField("Status", metav1.ConditionTrue))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
		waitForCache(t, vc)

		r, log := countingReconciler(t)
		req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(vc)}
		// A reconciler new to the host reads the definitions of the custom
		// resources the VirtualCluster names once, and keeps them.
		_, err := r.Reconcile(context.Background(), req)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(writes(log.take())).To(BeEmpty(), "%s: a reconcile of an unchanged VirtualCluster must write nothing", file)
		_, err = r.Reconcile(context.Background(), req)
		g.Expect(err).NotTo(HaveOccurred())
		reqs := log.take()
		g.Expect(writes(reqs)).To(BeEmpty(), "%s: a reconcile of an unchanged VirtualCluster must write nothing", file)
		g.Expect(reqs).To(BeEmpty(), "%s: everything a steady-state reconcile reads is in the cache", file)
		g.Expect(r.Recorder.(*events.FakeRecorder).Events).To(BeEmpty(), "%s: and it records no event", file)
	}
}

func TestDriftIsUndone(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	vc := create(t, sample(t, "tenancy_v1alpha1_virtualcluster_single.yaml", newNamespace(t)))
	expectNamespacedChildren(t, vc)
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)

	// A deleted child comes back.
	role := &rbacv1.Role{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: n.RBAC}, role)).To(Succeed())
	g.Expect(k8s.Delete(ctx, role)).To(Succeed())
	g.Eventually(func(g Gomega) {
		back := &rbacv1.Role{}
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(role), back)).To(Succeed())
		g.Expect(back.UID).NotTo(Equal(role.UID))
		g.Expect(back.Rules).To(Equal(role.Rules))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

	// Edits to what the operator owns are undone, as `kubectl edit` would make them.
	sts := &appsv1.StatefulSet{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: n.ControlPlane}, sts)).To(Succeed())
	want := sts.Spec.Template.Spec.Containers[1].DeepCopy()
	sts.Spec.Template.Spec.Containers[1].Image = "evil.example.com/kube-apiserver:v0"
	sts.Spec.Template.Spec.Containers[1].Args = append(sts.Spec.Template.Spec.Containers[1].Args, "--anonymous-auth=true")
	g.Expect(k8s.Update(ctx, sts, client.FieldOwner("kubectl-edit"))).To(Succeed())

	svc := &corev1.Service{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: n.ControlPlane}, svc)).To(Succeed())
	svc.Spec.Ports[0].Port = 8443
	g.Expect(k8s.Update(ctx, svc, client.FieldOwner("kubectl-edit"))).To(Succeed())

	kubeconfig := &corev1.Secret{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: n.Kubeconfig}, kubeconfig)).To(Succeed())
	wantConfig := kubeconfig.Data["config"]
	kubeconfig.Data["config"] = []byte("garbage")
	g.Expect(k8s.Update(ctx, kubeconfig, client.FieldOwner("kubectl-edit"))).To(Succeed())

	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sts), sts)).To(Succeed())
		g.Expect(sts.Spec.Template.Spec.Containers[1].Image).To(Equal(want.Image))
		g.Expect(sts.Spec.Template.Spec.Containers[1].Args).To(Equal(want.Args))
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(svc), svc)).To(Succeed())
		g.Expect(svc.Spec.Ports).To(HaveLen(1))
		g.Expect(svc.Spec.Ports[0].Port).To(BeEquivalentTo(443))
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(kubeconfig), kubeconfig)).To(Succeed())
		g.Expect(kubeconfig.Data["config"]).To(Equal(wantConfig))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
}

func parseCert(g Gomega, pemBytes []byte) *x509.Certificate {
	certs, err := certutil.ParseCertsPEM(pemBytes)
	g.Expect(err).NotTo(HaveOccurred())
	return certs[0]
}

func TestKubeconfigAndCertificates(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	vc := create(t, sample(t, "tenancy_v1alpha1_virtualcluster_single.yaml", newNamespace(t)))
	expectNamespacedChildren(t, vc)
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)

	certs, kubeconfig := &corev1.Secret{}, &corev1.Secret{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: n.Certs}, certs)).To(Succeed())
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: n.Kubeconfig}, kubeconfig)).To(Succeed())
	g.Expect(kubeconfig.Data).To(HaveKey("config"))
	g.Expect(kubeconfig.Data).To(HaveKey("certificate-authority"))
	g.Expect(kubeconfig.Data).To(HaveKey("client-certificate"))
	g.Expect(kubeconfig.Data).To(HaveKey("client-key"))

	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig.Data["config"])
	g.Expect(err).NotTo(HaveOccurred(), "the kubeconfig must parse")
	g.Expect(cfg.Host).To(Equal("https://sample." + vc.Namespace + ".svc:443"))

	roots := x509.NewCertPool()
	roots.AddCert(parseCert(g, certs.Data[pki.CACert]))
	_, err = parseCert(g, cfg.CertData).Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	g.Expect(err).NotTo(HaveOccurred(), "the kubeconfig's client certificate must chain to the CA in %s", n.Certs)
	g.Expect(cfg.CAData).To(Equal(certs.Data[pki.CACert]))

	serving := parseCert(g, certs.Data[pki.APIServerCert])
	_, err = serving.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	g.Expect(err).NotTo(HaveOccurred())
	// Tenant pods reach it at the cluster IP of its Service, and by the
	// names of the virtual "kubernetes" Service.
	svc := &corev1.Service{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: n.ControlPlane}, svc)).To(Succeed())
	g.Expect(svc.Spec.ClusterIP).NotTo(BeEmpty())
	for _, host := range []string{"sample", "sample." + vc.Namespace, "sample." + vc.Namespace + ".svc", "localhost", svc.Spec.ClusterIP, "kubernetes.default.svc"} {
		g.Expect(serving.VerifyHostname(host)).To(Succeed(), "serving certificate must cover %s", host)
	}

	// Certificates are kept across reconciles...
	waitForCache(t, vc)
	r, log := countingReconciler(t)
	_, err = r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(vc)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(writes(log.take())).NotTo(ContainElement(ContainSubstring("/secrets/")), "a reconcile must not rewrite certificates")
	again := &corev1.Secret{}
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(certs), again)).To(Succeed())
	g.Expect(again.Data).To(Equal(certs.Data))

	// ...and a lost leaf is re-issued from the same CA.
	broken := certs.DeepCopy()
	delete(broken.Data, pki.APIServerCert)
	g.Expect(k8s.Update(ctx, broken, client.FieldOwner("kubectl-edit"))).To(Succeed())
	g.Eventually(func(g Gomega) {
		again := &corev1.Secret{}
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(certs), again)).To(Succeed())
		g.Expect(again.Data).To(HaveKey(pki.APIServerCert))
		g.Expect(again.Data[pki.CACert]).To(Equal(certs.Data[pki.CACert]))
		g.Expect(again.Data[pki.AdminCert]).To(Equal(certs.Data[pki.AdminCert]))
		_, err := parseCert(g, again.Data[pki.APIServerCert]).Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		g.Expect(err).NotTo(HaveOccurred())
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
}

// snapshot records the resource version of every child of vc.
func snapshot(g Gomega, vc *tenancyv1alpha1.VirtualCluster) map[string]string {
	out := map[string]string{}
	for _, c := range namespacedChildren(vc) {
		obj := c.obj.DeepCopyObject().(client.Object)
		g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: vc.Namespace, Name: c.name}, obj)).To(Succeed())
		out[fmt.Sprintf("%T/%s", obj, c.name)] = obj.GetResourceVersion()
	}
	roles, bindings := clusterRBACFor(g, vc)
	for _, r := range roles {
		out["ClusterRole/"+r.Name] = r.ResourceVersion
	}
	for _, b := range bindings {
		out["ClusterRoleBinding/"+b.Name] = b.ResourceVersion
	}
	return out
}

func TestModeChangeBehindTheWebhooksBackChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		file string
		flip string
	}{
		{"tenancy_v1alpha1_virtualcluster_single.yaml", `{"spec":{"experimental":{"multiNamespaceMode":{"enabled":true}}}}`},
		{"tenancy_v1alpha1_virtualcluster_cert-manager.yaml", `{"spec":{"experimental":null}}`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			vc := create(t, sample(t, tc.file, newNamespace(t)))
			expectNamespacedChildren(t, vc)
			recorded := vc.SpecMode()
			g.Eventually(func(g Gomega) {
				got := get(g, vc)
				g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
				roles, _ := clusterRBACFor(g, vc)
				g.Expect(len(roles)).To(Equal(map[bool]int{true: 2, false: 0}[recorded == tenancyv1alpha1.MultiNamespaceMode]))
			}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
			before := snapshot(g, vc)

			g.Expect(k8s.Patch(ctx, vc.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(tc.flip)))).To(Succeed())
			g.Eventually(func(g Gomega) {
				got := get(g, vc)
				g.Expect(got.SpecMode()).NotTo(Equal(recorded))
				c := condition(got, controllers.ConditionReady)
				g.Expect(c).To(And(HaveField("Status", metav1.ConditionFalse), HaveField("Reason", controllers.ReasonModeChangeRejected)))
				g.Expect(c.Message).To(ContainSubstring("spec.experimental.multiNamespaceMode.enabled"))
				g.Expect(got.Status.Mode).To(Equal(recorded))
				g.Expect(got.Status.Phase).To(Equal(tenancyv1alpha1.PhaseFailed))
				g.Expect(condition(got, controllers.ConditionStalled)).To(HaveField("Reason", controllers.ReasonModeChangeRejected))
				g.Expect(kstatusOf(g, vc)).To(Equal(status.FailedStatus))
				var evs eventsv1.EventList
				g.Expect(k8s.List(ctx, &evs, client.InNamespace(vc.Namespace))).To(Succeed())
				g.Expect(evs.Items).To(ContainElement(And(
					HaveField("Reason", controllers.ReasonModeChangeRejected),
					HaveField("Type", corev1.EventTypeWarning),
					HaveField("Regarding.Name", vc.Name))))
			}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

			// Nothing on the host moved: same objects, same versions; and
			// reconciling again writes nothing at all.
			g.Expect(snapshot(g, vc)).To(Equal(before))
			waitForCache(t, vc)
			r, log := countingReconciler(t)
			_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(vc)})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(writes(log.take())).To(BeEmpty())
			g.Expect(snapshot(g, vc)).To(Equal(before))

			// Nor can a status write make the API forget the mode, to have
			// the operator take the new spec's.
			lost := get(g, vc)
			lost.Status = tenancyv1alpha1.VirtualClusterStatus{}
			g.Expect(k8s.Status().Update(ctx, lost)).To(MatchError(ContainSubstring("status.mode cannot change or be removed once recorded")))
			g.Expect(snapshot(g, vc)).To(Equal(before))
		})
	}
}

func TestAnObjectInTheWayIsReportedNotTakenOver(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	mine := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "vc-sample", Namespace: ns},
		StringData: map[string]string{"password": "hunter2"},
	}
	g.Expect(k8s.Create(ctx, mine)).To(Succeed())
	vc := create(t, sample(t, "tenancy_v1alpha1_virtualcluster_single.yaml", ns))

	g.Eventually(func(g Gomega) {
		got := get(g, vc)
		g.Expect(condition(got, controllers.ConditionCertificatesReady)).To(And(
			HaveField("Status", metav1.ConditionFalse),
			HaveField("Reason", controllers.ReasonNameConflict),
			HaveField("Message", ContainSubstring("Secret "+ns+"/vc-sample already exists and is not managed by this VirtualCluster"))))
		g.Expect(condition(got, controllers.ConditionReady)).To(HaveField("Reason", controllers.ReasonNameConflict))
		g.Expect(condition(got, controllers.ConditionStalled)).To(HaveField("Reason", controllers.ReasonNameConflict))
		g.Expect(kstatusOf(g, vc)).To(Equal(status.FailedStatus), "a person must move the Secret")
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

	got := &corev1.Secret{}
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(mine), got)).To(Succeed())
	g.Expect(got.Data).To(Equal(map[string][]byte{"password": []byte("hunter2")}))
	g.Expect(got.OwnerReferences).To(BeEmpty())
	g.Expect(got.Labels).To(BeEmpty())

	// Once the user moves it away, the VirtualCluster completes.
	g.Expect(k8s.Delete(ctx, got)).To(Succeed())
	g.Eventually(func(g Gomega) {
		got := get(g, vc)
		g.Expect(condition(got, controllers.ConditionCertificatesReady)).To(HaveField("Status", metav1.ConditionTrue))
		g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		g.Expect(condition(got, controllers.ConditionStalled)).To(BeNil())
		g.Expect(kstatusOf(g, vc)).To(Equal(status.InProgressStatus), "the control plane rolls out now")
	}).WithTimeout(60 * time.Second).WithPolling(poll).Should(Succeed())
}

func TestTheCacheHoldsOnlyWhatNestorManages(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	for i := range 20 {
		name := "unrelated-" + string(rune('a'+i))
		g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})).To(Succeed())
		g.Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})).To(Succeed())
	}
	vc := create(t, sample(t, "tenancy_v1alpha1_virtualcluster_single.yaml", ns))
	expectNamespacedChildren(t, vc)
	waitForCache(t, vc)

	for _, list := range []client.ObjectList{&corev1.SecretList{}, &corev1.ConfigMapList{}, &corev1.ServiceList{}, &corev1.ServiceAccountList{}} {
		g.Expect(mgr.GetCache().List(ctx, list)).To(Succeed())
		items, err := meta.ExtractList(list)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(items).NotTo(BeEmpty())
		for _, item := range items {
			obj := item.(client.Object)
			g.Expect(obj.GetLabels()).To(HaveKeyWithValue(tenancyv1alpha1.LabelManagedBy, tenancyv1alpha1.ManagedByValue),
				"%T %s/%s is cached though Nestor does not manage it", list, obj.GetNamespace(), obj.GetName())
		}
	}

	// Of the host's CustomResourceDefinitions, which carry no Nestor label,
	// it holds every one, and of each only the metadata, not what a field
	// manager last wrote.
	defs := &metav1.PartialObjectMetadataList{}
	defs.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinitionList"))
	g.Expect(mgr.GetCache().List(ctx, defs)).To(Succeed())
	g.Expect(defs.Items).To(ContainElements(HaveField("Name", "virtualclusters.tenancy.nestor.dev"), HaveField("Name", "certificates.cert-manager.io")))
	g.Expect(defs.Items).To(HaveEach(HaveField("ManagedFields", BeEmpty())))
}

func TestPolicies(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	vc := create(t, sample(t, "tenancy_v1alpha1_virtualcluster_production.yaml", newNamespace(t)))
	key := client.ObjectKey{Namespace: vc.Namespace, Name: "vc-production"}
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, key, &corev1.ResourceQuota{})).To(Succeed())
		g.Expect(k8s.Get(ctx, key, &corev1.LimitRange{})).To(Succeed())
		g.Expect(k8s.Get(ctx, key, &networkingv1.NetworkPolicy{})).To(Succeed())
		g.Expect(condition(get(g, vc), controllers.ConditionPoliciesReady)).To(HaveField("Status", metav1.ConditionTrue))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	quota := &corev1.ResourceQuota{}
	g.Expect(k8s.Get(ctx, key, quota)).To(Succeed())
	g.Expect(quota.Spec.Hard.Pods().String()).To(Equal("50"))

	// Turning one off removes it and only it.
	g.Expect(k8s.Patch(ctx, vc.DeepCopy(), client.RawPatch(types.MergePatchType,
		[]byte(`{"spec":{"policies":{"limitRange":{"enabled":false}}}}`)))).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(apierrors.IsNotFound(k8s.Get(ctx, key, &corev1.LimitRange{}))).To(BeTrue())
		g.Expect(k8s.Get(ctx, key, &corev1.ResourceQuota{})).To(Succeed())
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

	// In multi-namespace mode they go into each tenant host namespace.
	manifest := sample(t, "tenancy_v1alpha1_virtualcluster_cert-manager.yaml", newNamespace(t))
	g.Expect(unstructured.SetNestedMap(manifest.Object, map[string]any{"enabled": true, "quota": map[string]any{"pods": "50"}},
		"spec", "policies", "resourceQuota")).To(Succeed())
	multi := create(t, manifest)
	tenant := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: multi.Namespace + "-x", Labels: map[string]string{
		tenancyv1alpha1.LabelManagedBy:               tenancyv1alpha1.ManagedByValue,
		tenancyv1alpha1.LabelVirtualCluster:          multi.Name,
		tenancyv1alpha1.LabelVirtualClusterNamespace: multi.Namespace,
	}}}
	g.Expect(k8s.Create(ctx, tenant)).To(Succeed())
	g.Eventually(func(g Gomega) {
		q := &corev1.ResourceQuota{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: tenant.Name, Name: "vc-my-vcluster"}, q)).To(Succeed())
		g.Expect(q.Labels).To(HaveKeyWithValue(tenancyv1alpha1.LabelVirtualClusterNamespace, multi.Namespace))
		g.Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: multi.Namespace, Name: "vc-my-vcluster"}, &corev1.ResourceQuota{}))).
			To(BeTrue(), "the control plane's namespace holds no tenant workloads in multi-namespace mode")
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	deleteAndExpectNothingLeft(t, multi)
}

// BenchmarkSteadyStateReconcile measures what the operator spends on a
// VirtualCluster that needs nothing: the periodic resync of every one.
func BenchmarkSteadyStateReconcile(b *testing.B) {
	for _, file := range []string{"tenancy_v1alpha1_virtualcluster_single.yaml", "tenancy_v1alpha1_virtualcluster_cert-manager.yaml"} {
		b.Run(strings.TrimSuffix(strings.TrimPrefix(file, "tenancy_v1alpha1_virtualcluster_"), ".yaml"), func(b *testing.B) {
			g := NewWithT(b)
			vc := create(b, sample(b, file, newNamespace(b)))
			expectNamespacedChildren(b, vc)
			markRolledOut(b, vc, true)
			g.Eventually(func(g Gomega) {
				g.Expect(condition(get(g, vc), controllers.ConditionReady)).To(HaveField("Status", metav1.ConditionTrue))
			}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
			waitForCache(b, vc)
			r, log := countingReconciler(b)
			req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(vc)}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Reconcile(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
			reqs := log.take()
			b.ReportMetric(float64(len(writes(reqs)))/float64(b.N), "writes/op")
			b.ReportMetric(float64(len(reqs))/float64(b.N), "requests/op")
		})
	}
}
