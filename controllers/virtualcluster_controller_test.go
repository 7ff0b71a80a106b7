package controllers_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/controllers"
	"github.com/nestor-dev/nestor/internal/controlplane"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/pki"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
	"github.com/nestor-dev/nestor/internal/translate"
)

// child is one object DESIGN.md §2 says a VirtualCluster becomes.
type child struct {
	obj  client.Object
	name string
}

// namespacedChildren lists the namespaced children every VirtualCluster has.
func namespacedChildren(vc *tenancyv1alpha1.VirtualCluster) []child {
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	return []child{
		{&corev1.ServiceAccount{}, n.SyncerServiceAccount},
		{&corev1.ServiceAccount{}, n.WorkloadServiceAccount},
		{&rbacv1.Role{}, n.RBAC},
		{&rbacv1.RoleBinding{}, n.RBAC},
		{&corev1.Secret{}, n.Certs},
		{&corev1.Secret{}, n.Kubeconfig},
		{&appsv1.StatefulSet{}, n.ControlPlane},
		{&corev1.Service{}, n.ControlPlane},
		{&corev1.Service{}, n.HeadlessService},
		{&appsv1.Deployment{}, n.Syncer},
		{&corev1.ConfigMap{}, n.Syncer},
		{&appsv1.Deployment{}, n.DNS},
		{&corev1.Service{}, n.DNS},
		{&corev1.ConfigMap{}, n.DNS},
	}
}

// expectNamespacedChildren checks each child exists, is controlled by vc and
// carries vc's labels.
func expectNamespacedChildren(t testing.TB, vc *tenancyv1alpha1.VirtualCluster) {
	t.Helper()
	for _, c := range namespacedChildren(vc) {
		NewWithT(t).Eventually(func(g Gomega) {
			obj := c.obj.DeepCopyObject().(client.Object)
			g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: vc.Namespace, Name: c.name}, obj)).To(Succeed())
			ref := metav1.GetControllerOf(obj)
			g.Expect(ref).NotTo(BeNil(), "%T %s has no controller", obj, c.name)
			g.Expect(ref.UID).To(Equal(vc.UID))
			g.Expect(ref.Kind).To(Equal("VirtualCluster"))
			g.Expect(obj.GetLabels()).To(HaveKeyWithValue(tenancyv1alpha1.LabelVirtualCluster, vc.Name))
			g.Expect(obj.GetLabels()).To(HaveKeyWithValue(tenancyv1alpha1.LabelVirtualClusterNamespace, vc.Namespace))
			g.Expect(obj.GetLabels()).To(HaveKeyWithValue(tenancyv1alpha1.LabelManagedBy, tenancyv1alpha1.ManagedByValue))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	}
}

// clusterRBACFor lists the ClusterRoles and ClusterRoleBindings of vc, found
// both by label and by name, so neither an unlabelled nor a misnamed one hides.
func clusterRBACFor(g Gomega, vc *tenancyv1alpha1.VirtualCluster) (roles []rbacv1.ClusterRole, bindings []rbacv1.ClusterRoleBinding) {
	ctx := context.Background()
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	name := n.ClusterRBAC
	var rl rbacv1.ClusterRoleList
	g.Expect(k8s.List(ctx, &rl)).To(Succeed())
	for _, r := range rl.Items {
		if r.Name == name || r.Name == n.NamespaceRBAC || r.Labels[tenancyv1alpha1.LabelVirtualClusterNamespace] == vc.Namespace {
			roles = append(roles, r)
		}
	}
	var bl rbacv1.ClusterRoleBindingList
	g.Expect(k8s.List(ctx, &bl)).To(Succeed())
	for _, b := range bl.Items {
		if b.Name == name || b.Labels[tenancyv1alpha1.LabelVirtualClusterNamespace] == vc.Namespace {
			bindings = append(bindings, b)
		}
		for _, s := range b.Subjects {
			if s.Namespace == vc.Namespace && b.Name != name {
				bindings = append(bindings, b)
			}
		}
	}
	return roles, bindings
}

func condition(vc *tenancyv1alpha1.VirtualCluster, t string) *metav1.Condition {
	return meta.FindStatusCondition(vc.Status.Conditions, t)
}

func TestSingleNamespaceSampleBecomesItsChildren(t *testing.T) {
	g := NewWithT(t)
	vc := create(t, sample(t, "tenancy_v1alpha1_virtualcluster_single.yaml", newNamespace(t)))
	expectNamespacedChildren(t, vc)

	g.Eventually(func(g Gomega) {
		got := get(g, vc)
		g.Expect(got.Status.Mode).To(Equal(tenancyv1alpha1.SingleNamespaceMode))
		g.Expect(got.Finalizers).To(ContainElement(tenancyv1alpha1.Finalizer))
		g.Expect(condition(got, controllers.ConditionRBACReady)).To(HaveField("Status", metav1.ConditionTrue))
		g.Expect(got.Status.KubeconfigSecretRef).To(Equal(&tenancyv1alpha1.SecretKeyReference{Name: "vc-sample", Key: "config"}))
		g.Expect(got.Status.ControlPlaneEndpoint).To(Equal("https://sample." + vc.Namespace + ".svc:443"))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

	// The syncer's whole identity is namespace-scoped.
	g.Consistently(func(g Gomega) {
		roles, bindings := clusterRBACFor(g, vc)
		g.Expect(roles).To(BeEmpty())
		g.Expect(bindings).To(BeEmpty())
	}).WithTimeout(time.Second).Should(Succeed())

	role := &rbacv1.Role{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: vc.Namespace, Name: "vc-sample"}, role)).To(Succeed())
	g.Expect(role.Rules).To(ContainElement(rbacv1.PolicyRule{
		APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"},
		Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"},
	}), "the sample syncs ingresses")
	binding := &rbacv1.RoleBinding{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: vc.Namespace, Name: "vc-sample"}, binding)).To(Succeed())
	g.Expect(binding.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Name: "vc-sample", Namespace: vc.Namespace}))
	g.Expect(binding.RoleRef).To(Equal(rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "vc-sample"}))

	workload := &corev1.ServiceAccount{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: vc.Namespace, Name: "vc-workload-sample"}, workload)).To(Succeed())
	g.Expect(workload.AutomountServiceAccountToken).To(HaveValue(BeFalse()))

	dep := &appsv1.Deployment{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: vc.Namespace, Name: "sample-syncer"}, dep)).To(Succeed())
	g.Expect(dep.Spec.Template.Spec.ServiceAccountName).To(Equal("vc-sample"))
	g.Expect(dep.Spec.Template.Spec.Containers[0].Image).To(Equal(syncerImage))
	g.Expect(dep.Spec.Template.Spec.Containers[0].Args).To(HaveExactElements("syncer",
		"--config=/etc/nestor/syncer/config.yaml", "--virtual-kubeconfig=/etc/nestor/virtual/config", "--leader-elect=true"))

	cm := &corev1.ConfigMap{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: vc.Namespace, Name: "sample-syncer"}, cm)).To(Succeed())
	g.Expect(cm.Data["config.yaml"]).To(ContainSubstring("mode: SingleNamespace"))

	svc := &corev1.Service{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: vc.Namespace, Name: "sample"}, svc)).To(Succeed())
	// The syncer learns where tenant pods reach the API server.
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		g.Expect(cm.Data["config.yaml"]).To(ContainSubstring("apiServerIP: " + svc.Spec.ClusterIP))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	g.Expect(svc.Spec.Ports).To(HaveLen(1))
	g.Expect(svc.Spec.Ports[0].Port).To(BeEquivalentTo(443))
	g.Expect(svc.Spec.Ports[0].TargetPort.String()).To(Equal("https"))
}

// The tenant's pods get the DNS Service's address as their nameserver
// through the syncer's configuration, and CoreDNS a kubeconfig of its own
// that is no administrator's.
func TestTheVirtualClusterGetsItsDNS(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	vc := create(t, sample(t, "tenancy_v1alpha1_virtualcluster_single.yaml", newNamespace(t)))
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)

	svc := &corev1.Service{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: n.DNS}, svc)).To(Succeed())
		cm := &corev1.ConfigMap{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: n.Syncer}, cm)).To(Succeed())
		cfg, err := syncerconfig.Parse([]byte(cm.Data[syncerconfig.FileName]))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(cfg.DNSNameserver).To(Equal(svc.Spec.ClusterIP))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	g.Expect(svc.Spec.ClusterIP).NotTo(BeEmpty())

	corefile := &corev1.ConfigMap{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: n.DNS}, corefile)).To(Succeed())
	g.Expect(corefile.Data[controlplane.CorefileKey]).To(ContainSubstring("kubernetes cluster.local in-addr.arpa ip6.arpa {"))

	certs := &corev1.Secret{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: n.Certs}, certs)).To(Succeed())
	kubeconfig, err := clientcmd.Load(certs.Data[controlplane.CoreDNSKubeconfig])
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(kubeconfig.Clusters[kubeconfig.Contexts[kubeconfig.CurrentContext].Cluster].Server).To(Equal(controlplane.InClusterEndpoint(vc)))
	block, _ := pem.Decode(kubeconfig.AuthInfos[kubeconfig.Contexts[kubeconfig.CurrentContext].AuthInfo].ClientCertificateData)
	g.Expect(block).NotTo(BeNil())
	cert, err := x509.ParseCertificate(block.Bytes)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cert.Subject.CommonName).To(Equal(pki.CoreDNSUser))
	g.Expect(cert.Subject.Organization).To(BeEmpty(), "CoreDNS is in no group, system:masters least of all")

	dep := &appsv1.Deployment{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: n.DNS}, dep)).To(Succeed())
	g.Expect(dep.Spec.Template.Spec.Containers[0].Image).To(Equal(controlplane.DefaultCoreDNSImage))
	g.Expect(dep.Spec.Template.Annotations).To(HaveKeyWithValue(controlplane.AnnotationDNSConfigHash,
		controlplane.DNSConfigHash(corefile.Data[controlplane.CorefileKey], certs.Data[controlplane.CoreDNSKubeconfig])))

	// DNSReady, and so Ready, waits for CoreDNS to run.
	markRolledOut(t, vc, true)
	g.Eventually(func(g Gomega) {
		got := get(g, vc)
		g.Expect(condition(got, controllers.ConditionDNSReady)).To(HaveField("Status", metav1.ConditionTrue))
		g.Expect(condition(got, controllers.ConditionReady)).To(HaveField("Status", metav1.ConditionTrue))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	g.Eventually(func(g Gomega) {
		dns := &appsv1.Deployment{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: n.DNS}, dns)).To(Succeed())
		dns.Status.AvailableReplicas, dns.Status.ReadyReplicas = 0, 0
		g.Expect(k8s.Status().Update(ctx, dns)).To(Succeed())
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	g.Eventually(func(g Gomega) {
		got := get(g, vc)
		g.Expect(condition(got, controllers.ConditionDNSReady)).To(HaveField("Status", metav1.ConditionFalse))
		g.Expect(condition(got, controllers.ConditionReady)).To(HaveField("Message", ContainSubstring("DNSReady: 0/1 DNS replicas are available")))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
}

func TestMultiNamespaceSampleGetsTwoClusterRolesOneBoundClusterWide(t *testing.T) {
	g := NewWithT(t)
	vc := create(t, sample(t, "tenancy_v1alpha1_virtualcluster_cert-manager.yaml", newNamespace(t)))
	expectNamespacedChildren(t, vc)

	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	roles := map[string]rbacv1.ClusterRole{}
	g.Eventually(func(g Gomega) {
		found, bindings := clusterRBACFor(g, vc)
		g.Expect(found).To(HaveLen(2))
		for _, r := range found {
			roles[r.Name] = r
		}
		g.Expect(roles).To(HaveKey(n.ClusterRBAC))
		g.Expect(roles).To(HaveKey(n.NamespaceRBAC))
		// Only the cluster one is bound cluster-wide; the syncer binds the
		// other in each host namespace it makes.
		g.Expect(bindings).To(HaveLen(1))
		g.Expect(bindings[0].RoleRef).To(Equal(rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: n.ClusterRBAC}))
		g.Expect(bindings[0].Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Name: "vc-my-vcluster", Namespace: vc.Namespace}))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

	rw := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	g.Expect(roles[n.ClusterRBAC].Rules).To(ContainElements(
		rbacv1.PolicyRule{APIGroups: []string{"cert-manager.io"}, Resources: []string{"clusterissuers"},
			Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"namespaces"},
			Verbs: []string{"get", "list", "watch", "create", "patch", "delete"}},
		rbacv1.PolicyRule{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"},
			Verbs: []string{"bind"}, ResourceNames: []string{n.NamespaceRBAC}},
	))
	for _, rule := range roles[n.ClusterRBAC].Rules {
		g.Expect(rule.Resources).NotTo(ContainElements("secrets", "pods", "certificates"), "granted cluster-wide: %+v", rule)
	}
	g.Expect(roles[n.NamespaceRBAC].Rules).To(ContainElements(
		rbacv1.PolicyRule{APIGroups: []string{"cert-manager.io"}, Resources: []string{"certificates", "issuers"}, Verbs: rw},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps", "endpoints", "persistentvolumeclaims", "pods", "secrets", "services"}, Verbs: rw},
	))
	g.Expect(roles[n.NamespaceRBAC].Labels).To(HaveKeyWithValue(tenancyv1alpha1.LabelVirtualCluster, vc.Name))
	g.Eventually(func(g Gomega) {
		g.Expect(get(g, vc).Status.Mode).To(Equal(tenancyv1alpha1.MultiNamespaceMode))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
}

// TestClusterRBACTheModeDoesNotWantIsRemoved: a single-namespace
// VirtualCluster has no cluster-scoped RBAC, even one labelled as its own.
func TestClusterRBACTheModeDoesNotWantIsRemoved(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	vc := create(t, sample(t, "tenancy_v1alpha1_virtualcluster_single.yaml", newNamespace(t)))
	expectNamespacedChildren(t, vc)
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	labels := map[string]string{
		tenancyv1alpha1.LabelManagedBy:               tenancyv1alpha1.ManagedByValue,
		tenancyv1alpha1.LabelVirtualCluster:          vc.Name,
		tenancyv1alpha1.LabelVirtualClusterNamespace: vc.Namespace,
	}
	left := []client.Object{
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: n.NamespaceRBAC, Labels: labels}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: n.ClusterRBAC, Labels: labels},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: n.ClusterRBAC}},
	}
	for _, obj := range left {
		g.Expect(k8s.Create(ctx, obj)).To(Succeed())
	}
	g.Eventually(func(g Gomega) {
		roles, bindings := clusterRBACFor(g, vc)
		g.Expect(roles).To(BeEmpty())
		g.Expect(bindings).To(BeEmpty())
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

	// One not labelled as its own is not its to remove.
	theirs := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: n.NamespaceRBAC}}
	g.Expect(k8s.Create(ctx, theirs)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), theirs) })
	g.Consistently(func() error {
		return k8s.Get(ctx, client.ObjectKeyFromObject(theirs), &rbacv1.ClusterRole{})
	}).WithTimeout(time.Second).Should(Succeed())
}

// deleteAndExpectNothingLeft deletes vc and waits until neither it nor any
// object labelled as its own exists, namespaced or cluster-scoped.
func deleteAndExpectNothingLeft(t *testing.T, vc *tenancyv1alpha1.VirtualCluster) {
	t.Helper()
	ctx := context.Background()
	g := NewWithT(t)
	g.Expect(k8s.Delete(ctx, vc)).To(Succeed())
	selector := labelledFor(vc)
	lists := append(namespacedChildLists(), &rbacv1.ClusterRoleList{}, &rbacv1.ClusterRoleBindingList{})
	g.Eventually(func(g Gomega) {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(vc), &tenancyv1alpha1.VirtualCluster{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "VirtualCluster still exists: %v", err)
		for _, list := range lists {
			g.Expect(k8s.List(ctx, list, selector)).To(Succeed())
			g.Expect(meta.LenList(list)).To(BeZero(), "%T still has items", list)
		}
		for _, c := range namespacedChildren(vc) {
			err := k8s.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: c.name}, c.obj.DeepCopyObject().(client.Object))
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%T %s still exists", c.obj, c.name)
		}
		roles, bindings := clusterRBACFor(g, vc)
		g.Expect(roles).To(BeEmpty())
		g.Expect(bindings).To(BeEmpty())
	}).WithTimeout(60*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), func() string {
		return "kube-controller-manager log:\n" + cluster.ControllerManagerLog()
	})
}

func labelledFor(vc *tenancyv1alpha1.VirtualCluster) client.MatchingLabels {
	return client.MatchingLabels{tenancyv1alpha1.LabelVirtualCluster: vc.Name, tenancyv1alpha1.LabelVirtualClusterNamespace: vc.Namespace}
}

// namespacedChildLists are the namespaced kinds the operator makes.
func namespacedChildLists() []client.ObjectList {
	return []client.ObjectList{
		&corev1.ServiceAccountList{}, &corev1.SecretList{}, &corev1.ConfigMapList{}, &corev1.ServiceList{},
		&corev1.ResourceQuotaList{}, &corev1.LimitRangeList{}, &networkingv1.NetworkPolicyList{},
		&appsv1.StatefulSetList{}, &appsv1.DeploymentList{}, &rbacv1.RoleList{}, &rbacv1.RoleBindingList{},
	}
}

// expectOnlyNamedChildren checks that every object the operator made for
// vc in its namespace is one naming lists: the webhook refuses a sibling
// that would share one by those lists.
func expectOnlyNamedChildren(t *testing.T, vc *tenancyv1alpha1.VirtualCluster) {
	t.Helper()
	g := NewWithT(t)
	named := naming.ForVirtualCluster(vc.Namespace, vc.Name).Namespaced(controlplane.EtcdClaims(vc), vc.SpecMode() == tenancyv1alpha1.MultiNamespaceMode)
	for _, list := range namespacedChildLists() {
		g.Expect(k8s.List(context.Background(), list, client.InNamespace(vc.Namespace), labelledFor(vc))).To(Succeed())
		g.Expect(meta.EachListItem(list, func(o runtime.Object) error {
			gvk, err := apiutil.GVKForObject(o, k8s.Scheme())
			g.Expect(err).NotTo(HaveOccurred())
			name := o.(client.Object).GetName()
			g.Expect(slices.ContainsFunc(named, func(n naming.Object) bool { return n.Kind == gvk.Kind && n.Name == name })).
				To(BeTrue(), "%s %s is not among naming's objects %v", gvk.Kind, name, named)
			return nil
		})).To(Succeed())
	}
}

func TestDeletingLeavesNothingBehind(t *testing.T) {
	for _, file := range []string{"tenancy_v1alpha1_virtualcluster_single.yaml", "tenancy_v1alpha1_virtualcluster_cert-manager.yaml", "tenancy_v1alpha1_virtualcluster_production.yaml"} {
		t.Run(file, func(t *testing.T) {
			g := NewWithT(t)
			vc := create(t, sample(t, file, newNamespace(t)))
			expectNamespacedChildren(t, vc)
			expectOnlyNamedChildren(t, vc)
			if vc.SpecMode() == tenancyv1alpha1.MultiNamespaceMode {
				g.Eventually(func(g Gomega) {
					// The cluster ClusterRole and the one bound in host namespaces.
					roles, bindings := clusterRBACFor(g, vc)
					g.Expect(roles).To(HaveLen(2))
					g.Expect(bindings).To(HaveLen(1))
				}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
				// A host namespace the syncer would have made for the tenant.
				tenantNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: vc.Namespace + "-tenant", Labels: map[string]string{
					tenancyv1alpha1.LabelManagedBy:               tenancyv1alpha1.ManagedByValue,
					tenancyv1alpha1.LabelVirtualCluster:          vc.Name,
					tenancyv1alpha1.LabelVirtualClusterNamespace: vc.Namespace,
				}}}
				NewWithT(t).Expect(k8s.Create(context.Background(), tenantNS)).To(Succeed())
				defer NewWithT(t).Eventually(func() bool {
					return apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKeyFromObject(tenantNS), &corev1.Namespace{}))
				}).WithTimeout(60 * time.Second).Should(BeTrue())
			}
			deleteAndExpectNothingLeft(t, vc)
		})
	}
}

// syncerCopies are host copies of virtual objects in virtual namespace
// default, one of each kind the syncer copies, as its translation makes
// them: first a pod the host has placed on a node, and its token Secret.
func syncerCopies(tr translate.Context) []client.Object {
	virtual := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: name, UID: uuid.NewUUID()}
	}
	web := map[string]string{"app": "web"}
	pod := &corev1.Pod{ObjectMeta: virtual("web"), Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1"}}}}
	hostPod := tr.Pod(pod)
	hostPod.Spec.NodeName = "node-1"
	token := &corev1.Secret{ObjectMeta: tr.Meta(schema.GroupKind{Kind: "PodServiceAccountToken"}, pod), Data: map[string][]byte{"token": []byte("t")}}
	token.Name = tr.TokenSecretName(pod.Namespace, pod.Name)
	return []client.Object{
		hostPod, token,
		tr.Service(&corev1.Service{ObjectMeta: virtual("web"), Spec: corev1.ServiceSpec{Selector: web, Ports: []corev1.ServicePort{{Port: 80}}}}),
		tr.Endpoints(&corev1.Endpoints{ObjectMeta: virtual("external")}),
		tr.PersistentVolumeClaim(&corev1.PersistentVolumeClaim{ObjectMeta: virtual("data"), Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		}}),
		tr.ConfigMap(&corev1.ConfigMap{ObjectMeta: virtual("settings"), Data: map[string]string{"level": "debug"}}),
		tr.Secret(&corev1.Secret{ObjectMeta: virtual("password"), Data: map[string][]byte{"password": []byte("hunter2")}}),
		tr.ServiceAccount(&corev1.ServiceAccount{ObjectMeta: virtual("builder")}),
		tr.Ingress(&networkingv1.Ingress{ObjectMeta: virtual("web"), Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}},
		}}}),
		tr.NetworkPolicy(&networkingv1.NetworkPolicy{ObjectMeta: virtual("deny-all")}, nil),
		tr.PodDisruptionBudget(&policyv1.PodDisruptionBudget{ObjectMeta: virtual("web"), Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: web},
		}}),
	}
}

// In single-namespace mode the syncer's copies live beside the
// VirtualCluster, tied to it by their labels alone: its deletion waits
// until every one is gone, and leaves alone what is not one.
func TestDeletingRemovesTheSyncersCopies(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	vc := create(t, sample(t, "tenancy_v1alpha1_virtualcluster_single.yaml", newNamespace(t)))
	g.Eventually(func(g Gomega) {
		g.Expect(get(g, vc).Finalizers).To(ContainElement(tenancyv1alpha1.Finalizer))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

	tr := translate.For(syncerconfig.For(vc, tenancyv1alpha1.SingleNamespaceMode))
	copies := syncerCopies(tr)
	other := vc.DeepCopy()
	other.Name = "other"
	strangers := []client.Object{
		// At a copy's name, but the host's own.
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: vc.Namespace, Name: tr.Names.HostName(metav1.NamespaceDefault, "unmanaged")}},
		// With the syncer's labels, but no origin: no copy.
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: vc.Namespace, Name: tr.Names.HostName(metav1.NamespaceDefault, "lookalike"), Labels: tr.SelectorLabels()}},
		// Another VirtualCluster's copy in the same namespace.
		translate.For(syncerconfig.For(other, tenancyv1alpha1.SingleNamespaceMode)).ConfigMap(&corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: "settings", UID: uuid.NewUUID()},
		}),
	}
	for _, obj := range append(slices.Clone(copies), strangers...) {
		g.Expect(k8s.Create(ctx, obj)).To(Succeed(), "creating %T %s", obj, obj.GetName())
	}
	// The test plays the pod's kubelet.
	pod := copies[0].(*corev1.Pod)
	pod.Status.Phase = corev1.PodRunning
	g.Expect(k8s.Status().Update(ctx, pod)).To(Succeed())

	g.Expect(k8s.Delete(ctx, vc)).To(Succeed())
	// The running pod is deleted gracefully, and the VirtualCluster waits
	// until its kubelet has stopped it.
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pod), pod)).To(Succeed())
		g.Expect(pod.DeletionTimestamp).NotTo(BeNil())
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	g.Consistently(func(g Gomega) {
		g.Expect(get(g, vc).Status.Phase).To(Equal(tenancyv1alpha1.PhaseDeleting))
	}).WithTimeout(3 * time.Second).WithPolling(poll).Should(Succeed())
	g.Expect(k8s.Delete(ctx, pod, client.GracePeriodSeconds(0))).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(vc), &tenancyv1alpha1.VirtualCluster{}))
	}).WithTimeout(timeout).WithPolling(poll).Should(BeTrue(), "the VirtualCluster is gone")

	// Gone by then: the finalizer was removed only once they were.
	var left []string
	for _, c := range copies {
		gvk, err := apiutil.GVKForObject(c, k8s.Scheme())
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(c), c.DeepCopyObject().(client.Object)))).
			To(BeTrue(), "%s %s is left", gvk.Kind, c.GetName())
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		g.Expect(k8s.List(ctx, list, client.InNamespace(vc.Namespace), client.MatchingLabels(tr.SelectorLabels()))).To(Succeed())
		for _, item := range list.Items {
			left = append(left, gvk.Kind+"/"+item.GetName())
		}
	}
	g.Expect(slices.Compact(slices.Sorted(slices.Values(left)))).To(ConsistOf("Secret/"+strangers[1].GetName()),
		"only the lookalike carries the syncer's labels")
	for _, s := range strangers {
		live := s.DeepCopyObject().(client.Object)
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(s), live)).To(Succeed(), "%T %s", s, s.GetName())
		g.Expect(live.GetUID()).To(Equal(s.GetUID()))
	}
}
