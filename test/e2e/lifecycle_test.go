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
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/naming"
)

// restartsConverge is scenario 5: the operator's pods and the syncer's pod
// are deleted while the tenant scales 2 → 3 → 2; everything converges, and
// no tenant pod is lost or made twice.
func restartsConverge(t *testing.T, tn *tenant) {
	t.Cleanup(func() { diagnose(t, tn.vc) })
	g := NewWithT(t)
	ctx := context.Background()
	// The other mode's steps that need the webhook wait meanwhile.
	admission.Lock()
	defer admission.Unlock()
	before := uids(g, tn)
	operator := []client.ListOption{client.InNamespace(operatorNamespace), client.MatchingLabels{"app.kubernetes.io/component": "operator"}}
	syncer := []client.ListOption{client.InNamespace(tn.vc.Namespace), client.MatchingLabels{
		tenancyv1alpha1.LabelVirtualCluster: tn.vc.Name, tenancyv1alpha1.LabelComponent: tenancyv1alpha1.ComponentSyncer}}

	// Up to three while both are down or starting.
	oldOperator := deletePods(g, operator...)
	scaleWeb(g, tn, 3)
	oldSyncer := deletePods(g, syncer...)
	waitWeb(t, tn, 3)
	waitReplaced(t, oldOperator, operator...)
	waitReplaced(t, oldSyncer, syncer...)
	at3 := uids(g, tn)
	for v, h := range before {
		g.Expect(at3).To(HaveKeyWithValue(v, h), "a pod from before the scale-up, virtual and host")
	}

	// Down to two while the syncer is down: the new pod goes, as its
	// deletion cost asks, whatever the ReplicaSet's ranking would pick.
	for _, p := range webPods(g, tn) {
		if _, old := before[p.UID]; !old {
			base := p.DeepCopy()
			if p.Annotations == nil {
				p.Annotations = map[string]string{}
			}
			p.Annotations["controller.kubernetes.io/pod-deletion-cost"] = "-100"
			g.Expect(tn.client.Patch(ctx, &p, client.MergeFrom(base))).To(Succeed())
		}
	}
	oldSyncer = deletePods(g, syncer...)
	scaleWeb(g, tn, 2)
	waitWeb(t, tn, 2)
	waitReplaced(t, oldSyncer, syncer...)
	g.Expect(uids(g, tn)).To(Equal(before), "virtual pod UID → host pod UID, before and after")
	waitReady(t, tn.vc, 3*time.Minute)
}

// uids maps each virtual web pod's UID to its host copy's, checking that
// each has exactly one copy that records that origin.
func uids(g Gomega, tn *tenant) map[types.UID]types.UID {
	out := map[types.UID]types.UID{}
	byOrigin := map[string]corev1.Pod{}
	for _, h := range hostWebPods(g, tn) {
		origin := h.Annotations[tenancyv1alpha1.AnnotationVirtualUID]
		g.Expect(byOrigin).NotTo(HaveKey(origin), "a second host copy of virtual pod UID "+origin)
		byOrigin[origin] = h
	}
	for _, v := range webPods(g, tn) {
		h, ok := byOrigin[string(v.UID)]
		g.Expect(ok).To(BeTrue(), "host copy of virtual pod "+v.Name)
		out[v.UID] = h.UID
	}
	return out
}

func scaleWeb(g Gomega, tn *tenant, replicas int32) {
	dep := &appsv1.Deployment{}
	key := client.ObjectKey{Namespace: demoNamespace, Name: "web"}
	g.Expect(tn.client.Get(context.Background(), key, dep)).To(Succeed())
	patch := client.MergeFrom(dep.DeepCopy())
	dep.Spec.Replicas = &replicas
	g.Expect(tn.client.Patch(context.Background(), dep, patch)).To(Succeed())
}

// deletePods deletes the selected host pods that are not already going,
// and returns their UIDs.
func deletePods(g Gomega, opts ...client.ListOption) map[types.UID]bool {
	ctx := context.Background()
	list := &corev1.PodList{}
	g.Expect(host.List(ctx, list, opts...)).To(Succeed())
	old := map[types.UID]bool{}
	for i := range list.Items {
		if list.Items[i].DeletionTimestamp != nil {
			continue
		}
		old[list.Items[i].UID] = true
		g.Expect(client.IgnoreNotFound(host.Delete(ctx, &list.Items[i]))).To(Succeed())
	}
	g.Expect(old).NotTo(BeEmpty())
	return old
}

// waitReplaced waits until as many selected pods as were deleted run
// Ready again, none of them the deleted ones.
func waitReplaced(t *testing.T, old map[types.UID]bool, opts ...client.ListOption) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		now := &corev1.PodList{}
		g.Expect(host.List(context.Background(), now, opts...)).To(Succeed())
		ready := 0
		for _, p := range now.Items {
			if !old[p.UID] && p.DeletionTimestamp == nil && podReady(&p) {
				ready++
			}
		}
		g.Expect(ready).To(Equal(len(old)), "replacements Ready")
	}).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Succeed())
}

// modeFlipDenied is scenario 3: applying the same manifest with the mode
// flipped is refused by the deployed webhook; the object and the workloads
// stay as they were.
func modeFlipDenied(t *testing.T, tn *tenant) {
	t.Cleanup(func() { diagnose(t, tn.vc) })
	g := NewWithT(t)
	ctx := context.Background()
	before := &tenancyv1alpha1.VirtualCluster{}
	g.Expect(host.Get(ctx, client.ObjectKeyFromObject(tn.vc), before)).To(Succeed())
	pods := uids(g, tn)
	admission.RLock()
	defer admission.RUnlock()

	flipped := map[string]any{}
	g.Expect(yaml.Unmarshal(tn.sample.data, &flipped)).To(Succeed())
	spec, _ := flipped["spec"].(map[string]any)
	if spec == nil {
		spec = map[string]any{}
		flipped["spec"] = spec
	}
	spec["experimental"] = map[string]any{"multiNamespaceMode": map[string]any{"enabled": !tn.names.MultiNamespace()}}
	out, err := applyManifest(t, manifestOf(t, flipped), "-n", tn.vc.Namespace)
	g.Expect(err).To(HaveOccurred(), "the flipped manifest was applied:\n"+out)
	// The webhook's own words, which the schema's rules do not have.
	g.Expect(out).To(ContainSubstring("spec.experimental.multiNamespaceMode.enabled: Forbidden"))
	g.Expect(out).To(ContainSubstring("host objects are keyed differently in each mode"))

	after := &tenancyv1alpha1.VirtualCluster{}
	g.Expect(host.Get(ctx, client.ObjectKeyFromObject(tn.vc), after)).To(Succeed())
	g.Expect(after.Generation).To(Equal(before.Generation))
	g.Expect(after.Spec).To(Equal(before.Spec))
	g.Expect(uids(g, tn)).To(Equal(pods))
	waitWeb(t, tn, 2)
}

// deleteVirtualCluster is scenario 4: once the VirtualCluster is gone, so is
// every host object it or its syncer created, by label and by name.
func deleteVirtualCluster(t *testing.T, vc *tenancyv1alpha1.VirtualCluster) {
	t.Cleanup(func() { diagnose(t, vc) })
	g := NewWithT(t)
	ctx := context.Background()
	g.Expect(host.Delete(ctx, vc)).To(Succeed())
	g.Eventually(func() bool {
		err := host.Get(ctx, client.ObjectKeyFromObject(vc), &tenancyv1alpha1.VirtualCluster{})
		return apierrors.IsNotFound(err)
	}).WithTimeout(3*time.Minute).WithPolling(time.Second).Should(BeTrue(), "the VirtualCluster is gone")

	// Namespaced children go with the garbage collector, which may still be
	// at work when the VirtualCluster is gone. etcd's claims stay when the
	// VirtualCluster says Retain, for a later restore; the test removes them.
	byLabel := client.MatchingLabels{tenancyv1alpha1.LabelVirtualCluster: vc.Name, tenancyv1alpha1.LabelVirtualClusterNamespace: vc.Namespace}
	retained := map[string]bool{}
	if vc.Spec.ControlPlane.Persistence.RetentionPolicy == tenancyv1alpha1.RetentionRetain {
		for _, name := range naming.ForVirtualCluster(vc.Namespace, vc.Name).EtcdClaims(vc.Spec.ControlPlane.Replicas) {
			retained["PersistentVolumeClaim "+vc.Namespace+"/"+name] = true
			pvc := &corev1.PersistentVolumeClaim{}
			g.Expect(host.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: name}, pvc)).To(Succeed(), "retained claim")
			g.Expect(host.Delete(ctx, pvc)).To(Succeed())
		}
	}
	g.Eventually(func(g Gomega) {
		var left []string
		for _, list := range []client.ObjectList{
			&corev1.PodList{}, &corev1.ServiceList{}, &corev1.SecretList{}, &corev1.ConfigMapList{},
			&corev1.PersistentVolumeClaimList{}, &corev1.EndpointsList{}, &corev1.ServiceAccountList{},
			&appsv1.StatefulSetList{}, &appsv1.DeploymentList{}, &rbacv1.RoleList{}, &rbacv1.RoleBindingList{},
			&corev1.NamespaceList{}, &rbacv1.ClusterRoleList{}, &rbacv1.ClusterRoleBindingList{},
			// cert-manager runs on the host; its CRDs are there for every sample.
			newList(certificateGVK), newList(issuerGVK), newList(certificateRequestGVK),
		} {
			kind := strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%T", list), "*v1."), "List")
			if u, ok := list.(*unstructured.UnstructuredList); ok {
				kind = strings.TrimSuffix(u.GetKind(), "List")
			}
			g.Expect(host.List(ctx, list, byLabel)).To(Succeed())
			items, err := meta.ExtractList(list)
			g.Expect(err).NotTo(HaveOccurred())
			for _, item := range items {
				o := item.(client.Object)
				if name := kind + " " + o.GetNamespace() + "/" + o.GetName(); !retained[name] {
					left = append(left, name)
				}
			}
		}
		g.Expect(left).To(BeEmpty(), "host objects labelled for the VirtualCluster")
	}).WithTimeout(3 * time.Minute).WithPolling(2 * time.Second).Should(Succeed())

	// By name: the children the operator makes, and the tenant's copies.
	n := naming.ForVirtualCluster(vc.Namespace, vc.Name)
	tr := naming.NewTranslator(vc.Namespace, vc.Name, vc.Status.Mode == tenancyv1alpha1.MultiNamespaceMode)
	for _, c := range []struct {
		obj client.Object
		key client.ObjectKey
	}{
		{&appsv1.StatefulSet{}, client.ObjectKey{Namespace: vc.Namespace, Name: n.ControlPlane}},
		{&appsv1.Deployment{}, client.ObjectKey{Namespace: vc.Namespace, Name: n.Syncer}},
		{&appsv1.Deployment{}, client.ObjectKey{Namespace: vc.Namespace, Name: n.DNS}},
		{&corev1.Service{}, client.ObjectKey{Namespace: vc.Namespace, Name: n.DNS}},
		{&corev1.Secret{}, client.ObjectKey{Namespace: vc.Namespace, Name: n.Certs}},
		{&corev1.Secret{}, client.ObjectKey{Namespace: vc.Namespace, Name: n.Kubeconfig}},
		{&corev1.ServiceAccount{}, client.ObjectKey{Namespace: vc.Namespace, Name: n.SyncerServiceAccount}},
		{&corev1.ServiceAccount{}, client.ObjectKey{Namespace: vc.Namespace, Name: n.WorkloadServiceAccount}},
		{&rbacv1.Role{}, client.ObjectKey{Namespace: vc.Namespace, Name: n.RBAC}},
		{&rbacv1.ClusterRole{}, client.ObjectKey{Name: n.ClusterRBAC}},
		{&rbacv1.ClusterRole{}, client.ObjectKey{Name: n.NamespaceRBAC}},
		{&rbacv1.RoleBinding{}, client.ObjectKey{Namespace: tr.HostNamespace(demoNamespace), Name: n.NamespaceRBAC}},
		{&rbacv1.ClusterRoleBinding{}, client.ObjectKey{Name: n.ClusterRBAC}},
		{&corev1.Service{}, client.ObjectKey{Namespace: vc.Namespace, Name: n.ControlPlane}},
		{&corev1.Service{}, tr.HostKey(demoNamespace, "web")},
		{&corev1.ConfigMap{}, tr.HostKey(demoNamespace, "web")},
		{&corev1.PersistentVolumeClaim{}, tr.HostKey(demoNamespace, "data")},
		{&corev1.Pod{}, tr.HostKey(demoNamespace, "client")},
		{&corev1.Namespace{}, client.ObjectKey{Name: tr.HostNamespace(demoNamespace)}},
		// The cert-manager walkthrough's, and what cert-manager wrote for it.
		{newObject(certificateGVK), tr.HostKey(certNamespace, certName)},
		{newObject(issuerGVK), tr.HostKey(certNamespace, issuerName)},
		{&corev1.Secret{}, tr.HostKey(certNamespace, certSecretName)},
		{&corev1.Namespace{}, client.ObjectKey{Name: tr.HostNamespace(certNamespace)}},
	} {
		if c.key.Name == vc.Namespace { // single mode: the host namespace is the VirtualCluster's own
			continue
		}
		what := fmt.Sprintf("%T", c.obj)
		if u, ok := c.obj.(*unstructured.Unstructured); ok {
			what = u.GetKind()
		}
		err := host.Get(ctx, c.key, c.obj)
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%s %s is still there (%v)", what, c.key, err)
	}
}
