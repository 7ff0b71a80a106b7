package syncer_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
	"github.com/nestor-dev/nestor/internal/apply"
	"github.com/nestor-dev/nestor/internal/naming"
	"github.com/nestor-dev/nestor/internal/syncer"
	"github.com/nestor-dev/nestor/internal/syncerconfig"
	"github.com/nestor-dev/nestor/internal/translate"
)

// Every test runs in both modes, with the syncer impersonating its host
// ServiceAccount: in single-namespace mode that is a Role in one namespace
// and nothing cluster-wide, so each "single" subtest also proves the
// generated rules suffice.

func TestPodAndWhatItReadsGoToTheHost(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		g := NewWithT(t)
		ctx := context.Background()
		tn := newTenant(t, mode)
		ns := tn.newVirtualNamespace(t)

		tn.createVirtual(t, secret(ns, "s", map[string]string{"password": "hunter2"}))
		tn.createVirtual(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "c"}, Data: map[string]string{"setting": "on"}})
		pod := podUsing(ns, "p", "s", "c")
		pod.Labels = map[string]string{"app": "web", "tier": "front"}
		pod.Annotations = map[string]string{"example.com/note": "hello"}
		tn.createVirtual(t, pod)

		h := &corev1.Pod{}
		tn.hostObject(t, ns, "p", h)
		v := &corev1.Pod{}
		g.Expect(tn.Virtual.Get(ctx, client.ObjectKeyFromObject(pod), v)).To(Succeed())

		// The host pod runs as the workload ServiceAccount, which has no
		// rights and no token on the host.
		g.Expect(h.Spec.ServiceAccountName).To(Equal(tn.Config.WorkloadServiceAccount))
		g.Expect(h.Spec.ServiceAccountName).To(Equal("vc-workload-" + tn.VC.Name))
		g.Expect(h.Spec.AutomountServiceAccountToken).To(HaveValue(BeFalse()))
		// In multi-namespace mode the syncer created that ServiceAccount
		// with the host namespace; in single-namespace mode the operator did.
		workload := &corev1.ServiceAccount{}
		g.Expect(hostClient.Get(ctx, client.ObjectKey{Namespace: h.Namespace, Name: h.Spec.ServiceAccountName}, workload)).To(Succeed())
		g.Expect(workload.AutomountServiceAccountToken).To(HaveValue(BeFalse()))

		expectCopyMeta(g, tn, "Pod", v, h)
		g.Expect(h.Labels).To(HaveKeyWithValue("app", "web"))
		g.Expect(h.Labels).To(HaveKeyWithValue("tier", "front"))
		g.Expect(h.Annotations).To(HaveKeyWithValue("example.com/note", "hello"))

		// Every reference points at the translated copy.
		hostSecret, hostConfigMap := tn.Names.HostName(ns, "s"), tn.Names.HostName(ns, "c")
		g.Expect(volume(h, "secret-vol")).To(HaveField("Secret.SecretName", hostSecret))
		g.Expect(volume(h, "cm-vol")).To(HaveField("ConfigMap.Name", hostConfigMap))
		c := h.Spec.Containers[0]
		g.Expect(c.EnvFrom).To(HaveExactElements(
			HaveField("SecretRef.Name", hostSecret),
			HaveField("ConfigMapRef.Name", hostConfigMap)))
		g.Expect(env(c, "FROM_SECRET")).To(HaveField("ValueFrom.SecretKeyRef.Name", hostSecret))
		g.Expect(env(c, "FROM_CONFIGMAP")).To(HaveField("ValueFrom.ConfigMapKeyRef.Name", hostConfigMap))

		// What it reads is there, with the same data.
		s := &corev1.Secret{}
		tn.hostObject(t, ns, "s", s)
		g.Expect(s.Data).To(Equal(map[string][]byte{"password": []byte("hunter2")}))
		vs := &corev1.Secret{}
		g.Expect(tn.Virtual.Get(ctx, client.ObjectKey{Namespace: ns, Name: "s"}, vs)).To(Succeed())
		expectCopyMeta(g, tn, "Secret", vs, s)
		cm := &corev1.ConfigMap{}
		tn.hostObject(t, ns, "c", cm)
		g.Expect(cm.Data).To(Equal(map[string]string{"setting": "on"}))
		vcm := &corev1.ConfigMap{}
		g.Expect(tn.Virtual.Get(ctx, client.ObjectKey{Namespace: ns, Name: "c"}, vcm)).To(Succeed())
		expectCopyMeta(g, tn, "ConfigMap", vcm, cm)

		// kube-api-access: the virtual cluster's token travels in a host
		// Secret; no host token is projected, and the CA comes from the
		// copy of the virtual namespace's kube-root-ca.crt.
		g.Expect(hasTokenProjection(v)).To(BeTrue(), "the virtual pod has no kube-api-access volume to translate")
		var tokenSecrets, caConfigMaps []string
		for _, vol := range h.Spec.Volumes {
			if vol.Projected == nil {
				continue
			}
			for _, src := range vol.Projected.Sources {
				g.Expect(src.ServiceAccountToken).To(BeNil(), "volume %s projects a host token", vol.Name)
				if src.Secret != nil {
					g.Expect(src.Secret.Items).To(ContainElement(HaveField("Key", "token")))
					tokenSecrets = append(tokenSecrets, src.Secret.Name)
				}
				if src.ConfigMap != nil {
					caConfigMaps = append(caConfigMaps, src.ConfigMap.Name)
				}
			}
		}
		g.Expect(tokenSecrets).To(HaveLen(1), "the projected token secret of the host pod")
		g.Eventually(func(g Gomega) {
			token := &corev1.Secret{}
			g.Expect(hostClient.Get(ctx, client.ObjectKey{Namespace: h.Namespace, Name: tokenSecrets[0]}, token)).To(Succeed())
			g.Expect(token.Data).To(HaveKeyWithValue("token", Not(BeEmpty())))
			// The virtual cluster issued it, for the virtual pod's
			// ServiceAccount, bound to the virtual pod.
			review := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: string(token.Data["token"])}}
			g.Expect(tn.Virtual.Create(ctx, review)).To(Succeed())
			g.Expect(review.Status.Authenticated).To(BeTrue(), "%+v", review.Status)
			g.Expect(review.Status.User.Username).To(Equal(serviceAccountUser(ns, v.Spec.ServiceAccountName)))
			g.Expect(review.Status.User.Extra).To(HaveKeyWithValue("authentication.kubernetes.io/pod-uid", ContainElement(string(v.UID))))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
		// Not the host's own kube-root-ca.crt, which multi-namespace mode's
		// host namespaces hold too.
		caName := translate.Context{Names: tn.Names}.ConfigMapName(ns, "kube-root-ca.crt")
		g.Expect(caName).NotTo(Equal("kube-root-ca.crt"))
		g.Expect(caConfigMaps).To(ConsistOf(caName))
		ca, vca := &corev1.ConfigMap{}, &corev1.ConfigMap{}
		g.Eventually(func() error {
			return hostClient.Get(ctx, client.ObjectKey{Namespace: h.Namespace, Name: caName}, ca)
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
		g.Expect(tn.Virtual.Get(ctx, client.ObjectKey{Namespace: ns, Name: "kube-root-ca.crt"}, vca)).To(Succeed())
		g.Expect(ca.Data).To(Equal(vca.Data), "the virtual cluster's CA")
	})
}

func TestPodStatusComesBackFromTheHost(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		ctx := context.Background()
		tn := newTenant(t, mode)
		ns := tn.newVirtualNamespace(t)
		tn.createVirtual(t, podUsing(ns, "p", "", ""))
		key := tn.HostKey(ns, "p")
		tn.hostObject(t, ns, "p", &corev1.Pod{})

		// The test plays the host's scheduler, then its kubelet.
		bindHostPod(t, key, "node-1")
		now := metav1.Now()
		updateHostPodStatus(t, key, corev1.PodStatus{
			Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			},
			PodIP:     "10.1.2.3",
			PodIPs:    []corev1.PodIP{{IP: "10.1.2.3"}},
			HostIP:    "192.168.10.1",
			HostIPs:   []corev1.HostIP{{IP: "192.168.10.1"}},
			StartTime: &now,
		})

		NewWithT(t).Eventually(func(g Gomega) {
			h, v := &corev1.Pod{}, &corev1.Pod{}
			g.Expect(hostClient.Get(ctx, key, h)).To(Succeed())
			g.Expect(tn.Virtual.Get(ctx, client.ObjectKey{Namespace: ns, Name: "p"}, v)).To(Succeed())
			g.Expect(v.Spec.NodeName).To(Equal("node-1"))
			g.Expect(v.Status.Phase).To(Equal(corev1.PodRunning))
			g.Expect(v.Status.PodIP).To(Equal("10.1.2.3"))
			g.Expect(v.Status.PodIPs).To(Equal([]corev1.PodIP{{IP: "10.1.2.3"}}))
			g.Expect(v.Status.HostIP).To(Equal("192.168.10.1"))
			g.Expect(v.Status.HostIPs).To(Equal([]corev1.HostIP{{IP: "192.168.10.1"}}))
			g.Expect(v.Status.Conditions).To(ContainElement(And(
				HaveField("Type", corev1.PodReady), HaveField("Status", corev1.ConditionTrue))))
			g.Expect(equality.Semantic.DeepEqual(v.Status.Conditions, h.Status.Conditions)).To(BeTrue(),
				"virtual conditions %+v, host conditions %+v", v.Status.Conditions, h.Status.Conditions)
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	})
}

func TestServiceSelectsOnlyItsOwnPods(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		g := NewWithT(t)
		ctx := context.Background()
		tn := newTenant(t, mode)
		ns, other := tn.newVirtualNamespace(t), tn.newVirtualNamespace(t)

		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: corev1.ServiceSpec{
				Type:     corev1.ServiceTypeLoadBalancer,
				Selector: map[string]string{"app": "web"},
				Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
			},
		}
		tn.createVirtual(t, svc)
		h := &corev1.Service{}
		tn.hostObject(t, ns, "web", h)
		want := maps.Clone(svc.Spec.Selector)
		maps.Copy(want, tn.Markers(ns))
		g.Expect(h.Spec.Selector).To(Equal(want))
		selector := labels.SelectorFromSet(h.Spec.Selector)

		// The host copy of a pod of ns is selected...
		tn.createVirtual(t, withLabels(podUsing(ns, "web-1", "", ""), map[string]string{"app": "web"}))
		mine := &corev1.Pod{}
		tn.hostObject(t, ns, "web-1", mine)
		g.Expect(selector.Matches(labels.Set(mine.Labels))).To(BeTrue(), "host pod labels %v", mine.Labels)

		// ...the same app in another virtual namespace, which shares the
		// host namespace in single-namespace mode, is not...
		tn.createVirtual(t, withLabels(podUsing(other, "web-1", "", ""), map[string]string{"app": "web"}))
		theirs := &corev1.Pod{}
		tn.hostObject(t, other, "web-1", theirs)
		g.Expect(selector.Matches(labels.Set(theirs.Labels))).To(BeFalse(), "host pod labels %v", theirs.Labels)

		// ...nor a host pod beside it that did not come from the tenant.
		intruder := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: h.Namespace, Name: "intruder", Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{
				ServiceAccountName:           tn.Config.WorkloadServiceAccount,
				AutomountServiceAccountToken: ptr.To(false),
				Containers:                   []corev1.Container{{Name: "main", Image: "registry.example/app:1"}},
			},
		}
		g.Expect(hostClient.Create(ctx, intruder)).To(Succeed())
		g.Expect(selector.Matches(labels.Set(intruder.Labels))).To(BeFalse())

		// The host's status, here a load balancer's address, comes back.
		g.Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			live := &corev1.Service{}
			if err := hostClient.Get(ctx, client.ObjectKeyFromObject(h), live); err != nil {
				return err
			}
			live.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.10"}}
			return hostClient.Status().Update(ctx, live)
		})).To(Succeed())
		g.Eventually(func(g Gomega) {
			hs, vs := &corev1.Service{}, &corev1.Service{}
			g.Expect(hostClient.Get(ctx, client.ObjectKeyFromObject(h), hs)).To(Succeed())
			g.Expect(tn.Virtual.Get(ctx, client.ObjectKeyFromObject(svc), vs)).To(Succeed())
			g.Expect(vs.Status.LoadBalancer.Ingress).To(ContainElement(HaveField("IP", "203.0.113.10")))
			g.Expect(equality.Semantic.DeepEqual(vs.Status, hs.Status)).To(BeTrue(), "virtual status %+v, host status %+v", vs.Status, hs.Status)
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

		t.Run("ClusterIP", func(t *testing.T) {
			NewWithT(t).Eventually(func(g Gomega) {
				hs, vs := &corev1.Service{}, &corev1.Service{}
				g.Expect(hostClient.Get(ctx, client.ObjectKeyFromObject(h), hs)).To(Succeed())
				g.Expect(tn.Virtual.Get(ctx, client.ObjectKeyFromObject(svc), vs)).To(Succeed())
				g.Expect(vs.Spec.ClusterIP).To(Equal(hs.Spec.ClusterIP))
			}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
		})
	})
}

func TestOnlyReferencedSecretsGoToTheHost(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		t.Run("referenced", func(t *testing.T) {
			tn := newTenant(t, mode)
			ns := tn.newVirtualNamespace(t)
			tn.createVirtual(t, secret(ns, "lonely", map[string]string{"k": "v"}))
			tn.createVirtual(t, secret(ns, "used", map[string]string{"k": "v"}))
			tn.createVirtual(t, podUsing(ns, "p", "used", ""))

			// Once the referenced one is there, the syncer has seen both.
			tn.hostObject(t, ns, "used", &corev1.Secret{})
			key := tn.HostKey(ns, "lonely")
			NewWithT(t).Consistently(func() bool {
				return apierrors.IsNotFound(hostClient.Get(context.Background(), key, &corev1.Secret{}))
			}).WithTimeout(quiet).WithPolling(poll).Should(BeTrue(), "unreferenced secret %s synced", key)
		})
		t.Run("all", func(t *testing.T) {
			tn := newTenant(t, mode, withConfig(func(c *syncerconfig.Config) { c.ToHost.Secrets.All = true }))
			ns := tn.newVirtualNamespace(t)
			tn.createVirtual(t, secret(ns, "lonely", map[string]string{"k": "v"}))
			s := &corev1.Secret{}
			tn.hostObject(t, ns, "lonely", s)
			NewWithT(t).Expect(s.Data).To(Equal(map[string][]byte{"k": []byte("v")}))
		})
	})
}

func TestDeletion(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		ctx := context.Background()
		tn := newTenant(t, mode)
		ns := tn.newVirtualNamespace(t)

		t.Run("virtual pod deleted", func(t *testing.T) {
			pod := podUsing(ns, "pending", "", "")
			tn.createVirtual(t, pod)
			tn.hostObject(t, ns, pod.Name, &corev1.Pod{})
			NewWithT(t).Expect(tn.Virtual.Delete(ctx, pod)).To(Succeed())
			gone(t, hostClient, tn.HostKey(ns, pod.Name), &corev1.Pod{})
			gone(t, tn.Virtual, client.ObjectKeyFromObject(pod), &corev1.Pod{})
		})

		t.Run("virtual pod deleted while running", func(t *testing.T) {
			pod := podUsing(ns, "running", "", "")
			tn.createVirtual(t, pod)
			key := tn.HostKey(ns, pod.Name)
			tn.hostObject(t, ns, pod.Name, &corev1.Pod{})
			bindHostPod(t, key, "node-1")
			waitBound(t, tn, ns, pod.Name)

			// A bound pod's deletion is graceful: the syncer passes it on,
			// and the test, playing the host's kubelet, finishes it.
			tn.deletePlaced(t, pod)
		})

		t.Run("bound host pod deleted", func(t *testing.T) {
			pod := podUsing(ns, "lost", "", "")
			tn.createVirtual(t, pod)
			key := tn.HostKey(ns, pod.Name)
			h := &corev1.Pod{}
			tn.hostObject(t, ns, pod.Name, h)
			bindHostPod(t, key, "node-1")
			waitBound(t, tn, ns, pod.Name)

			// As the host's pod garbage collector does after a node loss.
			forceDelete(t, hostClient, h)
			gone(t, tn.Virtual, client.ObjectKeyFromObject(pod), &corev1.Pod{})
		})

		t.Run("host secret deleted", func(t *testing.T) {
			tn.createVirtual(t, secret(ns, "s", map[string]string{"k": "v"}))
			tn.createVirtual(t, podUsing(ns, "reader", "s", ""))
			s := &corev1.Secret{}
			tn.hostObject(t, ns, "s", s)
			NewWithT(t).Expect(hostClient.Delete(ctx, s)).To(Succeed())
			NewWithT(t).Eventually(func(g Gomega) {
				again := &corev1.Secret{}
				g.Expect(hostClient.Get(ctx, client.ObjectKeyFromObject(s), again)).To(Succeed())
				g.Expect(again.UID).NotTo(Equal(s.UID))
				g.Expect(again.Data).To(Equal(s.Data))
			}).WithTimeout(timeout).WithPolling(poll).Should(Succeed(), "host secret not re-created")
		})

		if mode != tenancyv1alpha1.MultiNamespaceMode {
			return
		}
		t.Run("virtual namespace deleted", func(t *testing.T) {
			doomed := tn.newVirtualNamespace(t)
			tn.createVirtual(t, podUsing(doomed, "p", "", ""))
			tn.hostObject(t, doomed, "p", &corev1.Pod{})
			hostNs := &corev1.Namespace{}
			NewWithT(t).Expect(hostClient.Get(ctx, client.ObjectKey{Name: tn.Names.HostNamespace(doomed)}, hostNs)).To(Succeed())
			NewWithT(t).Expect(hostNs.Labels).To(And(
				HaveKeyWithValue(tenancyv1alpha1.LabelVirtualCluster, tn.VC.Name),
				HaveKeyWithValue(tenancyv1alpha1.LabelVirtualClusterNamespace, tn.VC.Namespace),
				HaveKeyWithValue(tenancyv1alpha1.LabelVirtualNamespace, doomed)))

			NewWithT(t).Expect(tn.Virtual.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: doomed}})).To(Succeed())
			// Two namespace controllers empty the namespaces in turn.
			NewWithT(t).Eventually(func() bool {
				return apierrors.IsNotFound(hostClient.Get(ctx, client.ObjectKeyFromObject(hostNs), &corev1.Namespace{}))
			}).WithTimeout(2*timeout).WithPolling(poll).Should(BeTrue(), "host namespace %s still exists", hostNs.Name)
		})
	})
}

func TestTwoVirtualClusters(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		t.Run("same host namespace", func(t *testing.T) {
			hostNs := newHostNamespace(t)
			twoVirtualClusters(t, newTenant(t, mode, named(vcA), inHostNamespace(hostNs)), newTenant(t, mode, named(vcB), inHostNamespace(hostNs)))
		})
		t.Run("own host namespaces", func(t *testing.T) {
			twoVirtualClusters(t, newTenant(t, mode, named(vcA)), newTenant(t, mode, named(vcB)))
		})
	})
}

// twoVirtualClusters checks that the same pod in two virtual clusters
// gives two host pods, each its own virtual cluster's.
func twoVirtualClusters(t *testing.T, a, b *tenant) {
	g := NewWithT(t)
	ctx := context.Background()
	const ns, name = "default", "web"
	hosts := map[*tenant]*corev1.Pod{}
	for _, tn := range []*tenant{a, b} {
		tn.waitForDefaultServiceAccount(t, ns)
		pod := podUsing(ns, name, "", "")
		tn.createVirtual(t, pod)
		// The next test uses the same name; the syncer is still running
		// when this runs, and removes the host copy.
		t.Cleanup(func() { forceDelete(t, tn.Virtual, pod) })
		hosts[tn] = &corev1.Pod{}
		tn.hostObject(t, ns, name, hosts[tn])
		g.Expect(hosts[tn].Labels).To(HaveKeyWithValue(tenancyv1alpha1.LabelVirtualCluster, tn.VC.Name))
		g.Expect(hosts[tn].Labels).To(HaveKeyWithValue(tenancyv1alpha1.LabelVirtualClusterNamespace, tn.VC.Namespace))
		g.Expect(hosts[tn].Annotations).To(HaveKeyWithValue(tenancyv1alpha1.AnnotationVirtualUID, string(pod.UID)))
	}
	g.Expect(client.ObjectKeyFromObject(hosts[a])).NotTo(Equal(client.ObjectKeyFromObject(hosts[b])))
	g.Expect(hosts[a].UID).NotTo(Equal(hosts[b].UID))

	g.Expect(a.Virtual.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})).To(Succeed())
	gone(t, hostClient, client.ObjectKeyFromObject(hosts[a]), &corev1.Pod{})
	g.Consistently(func(g Gomega) {
		h := &corev1.Pod{}
		g.Expect(hostClient.Get(ctx, client.ObjectKeyFromObject(hosts[b]), h)).To(Succeed())
		g.Expect(h.UID).To(Equal(hosts[b].UID))
		g.Expect(h.DeletionTimestamp).To(BeNil())
		g.Expect(b.Virtual.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &corev1.Pod{})).To(Succeed())
	}).WithTimeout(quiet).WithPolling(poll).Should(Succeed())
}

func TestHostObjectsNotOwnedAreLeftAlone(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		t.Run("secret", func(t *testing.T) {
			tn := newTenant(t, mode)
			ns := tn.newVirtualNamespace(t)
			tn.ensureHostNamespace(t, ns)
			key := tn.HostKey(ns, "s")
			squatter := secret(key.Namespace, key.Name, map[string]string{"k": "host"})
			NewWithT(t).Expect(hostClient.Create(context.Background(), squatter)).To(Succeed())

			tn.createVirtual(t, secret(ns, "s", map[string]string{"k": "tenant"}))
			tn.createVirtual(t, podUsing(ns, "reader", "s", ""))
			expectLeftAlone(t, tn, ns, "s", squatter, &corev1.Secret{}, func(g Gomega, live client.Object) {
				g.Expect(live.(*corev1.Secret).Data).To(Equal(squatter.Data))
			})
		})
		t.Run("pod", func(t *testing.T) {
			tn := newTenant(t, mode)
			ns := tn.newVirtualNamespace(t)
			tn.ensureHostNamespace(t, ns)
			key := tn.HostKey(ns, "p")
			squatter := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
				Spec: corev1.PodSpec{
					ServiceAccountName:           tn.Config.WorkloadServiceAccount,
					AutomountServiceAccountToken: ptr.To(false),
					Containers:                   []corev1.Container{{Name: "host", Image: "registry.example/host:1"}},
				},
			}
			NewWithT(t).Expect(hostClient.Create(context.Background(), squatter)).To(Succeed())

			tn.createVirtual(t, podUsing(ns, "p", "", ""))
			expectLeftAlone(t, tn, ns, "p", squatter, &corev1.Pod{}, func(g Gomega, live client.Object) {
				g.Expect(live.(*corev1.Pod).Spec.Containers[0].Image).To(Equal("registry.example/host:1"))
			})
		})
	})
}

// expectLeftAlone waits for the Warning event on virtual object ns/name,
// which says the syncer has come across squatter, then checks squatter
// stays as it was.
func expectLeftAlone(t *testing.T, tn *tenant, ns, name string, squatter, live client.Object, same func(Gomega, client.Object)) {
	t.Helper()
	ctx := context.Background()
	g := NewWithT(t)
	g.Eventually(func() ([]string, error) {
		return tn.warnings(ctx, ns, name)
	}).WithTimeout(timeout).WithPolling(poll).ShouldNot(BeEmpty(), "no Warning event on virtual %s/%s", ns, name)
	g.Consistently(func(g Gomega) {
		g.Expect(hostClient.Get(ctx, client.ObjectKeyFromObject(squatter), live)).To(Succeed())
		g.Expect(live.GetResourceVersion()).To(Equal(squatter.GetResourceVersion()))
		g.Expect(live.GetLabels()).To(BeEmpty())
		g.Expect(live.GetDeletionTimestamp()).To(BeNil())
		same(g, live)
	}).WithTimeout(quiet).WithPolling(poll).Should(Succeed())
}

func TestLeastPrivilege(t *testing.T) {
	t.Run("single", func(t *testing.T) {
		g := NewWithT(t)
		ctx := context.Background()
		tn := newTenant(t, tenancyv1alpha1.SingleNamespaceMode, leaderElected())
		g.Expect(tn.Rules.Cluster).To(BeEmpty())
		names := naming.ForVirtualCluster(tn.VC.Namespace, tn.VC.Name)
		g.Expect(apierrors.IsNotFound(hostClient.Get(ctx, client.ObjectKey{Name: names.ClusterRBAC}, &rbacv1.ClusterRole{}))).To(BeTrue())
		g.Expect(apierrors.IsNotFound(hostClient.Get(ctx, client.ObjectKey{Name: names.ClusterRBAC}, &rbacv1.ClusterRoleBinding{}))).To(BeTrue())
		var bindings rbacv1.ClusterRoleBindingList
		g.Expect(hostClient.List(ctx, &bindings)).To(Succeed())
		for _, b := range bindings.Items {
			g.Expect(b.Subjects).NotTo(ContainElement(And(
				HaveField("Kind", rbacv1.ServiceAccountKind),
				HaveField("Name", names.SyncerServiceAccount),
				HaveField("Namespace", tn.VC.Namespace))), "ClusterRoleBinding %s", b.Name)
		}

		g.Expect(tn.can(t, authorizationv1.ResourceAttributes{Verb: "list", Resource: "pods"})).To(BeFalse(), "list pods cluster-wide")
		g.Expect(tn.can(t, authorizationv1.ResourceAttributes{Verb: "list", Resource: "namespaces"})).To(BeFalse(), "list namespaces")
		// The review itself works: what the Role grants is granted.
		g.Expect(tn.can(t, authorizationv1.ResourceAttributes{Verb: "list", Resource: "pods", Namespace: tn.VC.Namespace})).To(BeTrue(), "list pods in its namespace")

		// And with that, a pod makes the round trip.
		ns := tn.newVirtualNamespace(t)
		tn.createVirtual(t, podUsing(ns, "p", "", ""))
		tn.hostObject(t, ns, "p", &corev1.Pod{})
		bindHostPod(t, tn.HostKey(ns, "p"), "node-1")
		waitBound(t, tn, ns, "p")
		// It did so as the elected leader, through a Lease its Role allows.
		lease := &coordinationv1.Lease{}
		g.Expect(hostClient.Get(ctx, client.ObjectKey{Namespace: tn.VC.Namespace, Name: names.Syncer}, lease)).To(Succeed())
		g.Expect(lease.Spec.HolderIdentity).To(HaveValue(Not(BeEmpty())))
	})
	t.Run("multi", func(t *testing.T) {
		g := NewWithT(t)
		ctx := context.Background()
		tn := newTenant(t, tenancyv1alpha1.MultiNamespaceMode)
		names := naming.ForVirtualCluster(tn.VC.Namespace, tn.VC.Name)
		g.Expect(tn.Rules.Cluster).NotTo(BeEmpty())
		// Cluster-wide, it reads no synced kind: it holds those in its own
		// host namespaces alone.
		for _, res := range []string{"pods", "secrets", "configmaps", "services", "endpoints", "persistentvolumeclaims", "events", "serviceaccounts"} {
			g.Expect(tn.can(t, authorizationv1.ResourceAttributes{Verb: "list", Resource: res})).To(BeFalse(), "list %s cluster-wide", res)
			g.Expect(tn.can(t, authorizationv1.ResourceAttributes{Verb: "get", Resource: res, Namespace: "kube-system"})).To(BeFalse(), "get %s in kube-system", res)
		}
		g.Expect(tn.can(t, authorizationv1.ResourceAttributes{Verb: "list", Resource: "nodes"})).To(BeFalse(), "list nodes")
		g.Expect(tn.can(t, authorizationv1.ResourceAttributes{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"})).To(BeFalse(), "create clusterroles")
		g.Expect(tn.can(t, authorizationv1.ResourceAttributes{Verb: "list", Group: "apps", Resource: "deployments"})).To(BeFalse(), "list deployments")
		// It may bind its per-namespace ClusterRole, and no other.
		g.Expect(tn.can(t, authorizationv1.ResourceAttributes{Verb: "bind", Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Name: names.NamespaceRBAC})).To(BeTrue(), "bind %s", names.NamespaceRBAC)
		for _, role := range []string{names.ClusterRBAC, "cluster-admin", "admin"} {
			g.Expect(tn.can(t, authorizationv1.ResourceAttributes{Verb: "bind", Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Name: role})).To(BeFalse(), "bind %s", role)
		}

		// A Secret in a namespace not its own is out of its reach, read by
		// name or listed.
		other := newHostNamespace(t)
		hidden := secret(other, "db", map[string]string{"password": "hunter2"})
		g.Expect(hostClient.Create(ctx, hidden)).To(Succeed())
		syncerClient := tn.asSyncer(t)
		g.Expect(syncerClient.Get(ctx, client.ObjectKeyFromObject(hidden), &corev1.Secret{})).To(Satisfy(apierrors.IsForbidden))
		g.Expect(syncerClient.List(ctx, &corev1.SecretList{}, client.InNamespace(other))).To(Satisfy(apierrors.IsForbidden))
		g.Expect(syncerClient.List(ctx, &corev1.SecretList{})).To(Satisfy(apierrors.IsForbidden))

		// In a host namespace of its own it may, through the RoleBinding it
		// made there: a pod makes the round trip.
		ns := tn.newVirtualNamespace(t)
		tn.createVirtual(t, podUsing(ns, "p", "", ""))
		tn.hostObject(t, ns, "p", &corev1.Pod{})
		bindHostPod(t, tn.HostKey(ns, "p"), "node-1")
		waitBound(t, tn, ns, "p")
		hostNs := tn.Names.HostNamespace(ns)
		g.Expect(syncerClient.List(ctx, &corev1.SecretList{}, client.InNamespace(hostNs))).To(Succeed())
		grant := &rbacv1.RoleBinding{}
		g.Expect(hostClient.Get(ctx, client.ObjectKey{Namespace: hostNs, Name: names.NamespaceRBAC}, grant)).To(Succeed())
		g.Expect(grant.RoleRef).To(Equal(rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: names.NamespaceRBAC}))
		g.Expect(grant.Subjects).To(ConsistOf(rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: names.SyncerServiceAccount, Namespace: tn.VC.Namespace}))
	})
}

// can asks the host whether the tenant's syncer may do attrs.
func (tn *tenant) can(t *testing.T, attrs authorizationv1.ResourceAttributes) bool {
	t.Helper()
	sa := naming.ForVirtualCluster(tn.VC.Namespace, tn.VC.Name).SyncerServiceAccount
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               serviceAccountUser(tn.VC.Namespace, sa),
		Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + tn.VC.Namespace, "system:authenticated"},
		ResourceAttributes: &attrs,
	}}
	NewWithT(t).Expect(hostClient.Create(context.Background(), review)).To(Succeed())
	return review.Status.Allowed
}

// waitBound waits until virtual pod ns/name shows the node of its host pod.
func waitBound(t *testing.T, tn *tenant, ns, name string) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		v := &corev1.Pod{}
		g.Expect(tn.Virtual.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, v)).To(Succeed())
		g.Expect(v.Spec.NodeName).To(Equal("node-1"))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed(), "virtual pod %s/%s not bound", ns, name)
}

// ensureHostNamespace has the syncer create, in multi-namespace mode, the
// host namespace of virtual namespace ns, with a Service, which is always
// synced; a test that places objects there beforehand needs it.
func (tn *tenant) ensureHostNamespace(t *testing.T, ns string) {
	t.Helper()
	if tn.Mode != tenancyv1alpha1.MultiNamespaceMode {
		return
	}
	tn.createVirtual(t, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "warm-up"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	})
	tn.waitHostNamespace(t, ns)
}

// expectCopyMeta checks that host object h is the copy of virtual object v
// of kind: the tenant's labels and annotations, the markers, the origin.
func expectCopyMeta(g Gomega, tn *tenant, kind string, v, h metav1.Object) {
	for k, val := range v.GetLabels() {
		g.Expect(h.GetLabels()).To(HaveKeyWithValue(k, val))
	}
	for k, val := range tn.Markers(v.GetNamespace()) {
		g.Expect(h.GetLabels()).To(HaveKeyWithValue(k, val))
	}
	for k, val := range v.GetAnnotations() {
		g.Expect(h.GetAnnotations()).To(HaveKeyWithValue(k, val))
	}
	g.Expect(h.GetAnnotations()).To(And(
		HaveKeyWithValue(tenancyv1alpha1.AnnotationVirtualName, v.GetName()),
		HaveKeyWithValue(tenancyv1alpha1.AnnotationVirtualNamespace, v.GetNamespace()),
		HaveKeyWithValue(tenancyv1alpha1.AnnotationVirtualUID, string(v.GetUID())),
		HaveKeyWithValue(tenancyv1alpha1.AnnotationVirtualKind, kind)))
	g.Expect(h.GetLabels()).To(HaveKeyWithValue(tenancyv1alpha1.LabelVirtualClusterUID, string(tn.identity(g))))
	g.Expect(types.NamespacedName{Namespace: h.GetNamespace(), Name: h.GetName()}).To(Equal(tn.HostKey(v.GetNamespace(), v.GetName())))
}

func volume(p *corev1.Pod, name string) *corev1.Volume {
	for i := range p.Spec.Volumes {
		if p.Spec.Volumes[i].Name == name {
			return &p.Spec.Volumes[i]
		}
	}
	return nil
}

func env(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func hasTokenProjection(p *corev1.Pod) bool {
	for _, vol := range p.Spec.Volumes {
		if vol.Projected != nil {
			for _, src := range vol.Projected.Sources {
				if src.ServiceAccountToken != nil {
					return true
				}
			}
		}
	}
	return false
}

func withLabels(p *corev1.Pod, l map[string]string) *corev1.Pod {
	p.Labels = l
	return p
}

// The virtual cluster's "kubernetes" Service, its Endpoints and its
// EndpointSlice name the address at which host pods reach the API server,
// the control plane's Service on the host, and stay in the virtual cluster.
// Re-created once with that cluster IP, the Service then stays as it is.
func TestTheKubernetesServiceLeadsToTheAPIServer(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		g := NewWithT(t)
		ctx := context.Background()
		tn := newTenant(t, mode)
		ip := tn.Config.APIServerIP
		key := client.ObjectKey{Namespace: "default", Name: "kubernetes"}
		svc := &corev1.Service{}
		g.Eventually(func(g Gomega) {
			g.Expect(tn.Virtual.Get(ctx, key, svc)).To(Succeed())
			g.Expect(svc.Spec.ClusterIP).To(Equal(ip))
			g.Expect(svc.Spec.Ports).To(HaveExactElements(And(HaveField("Name", "https"), HaveField("Port", int32(443)))))
			ep := &corev1.Endpoints{}
			g.Expect(tn.Virtual.Get(ctx, key, ep)).To(Succeed())
			g.Expect(ep.Subsets).To(HaveExactElements(And(
				HaveField("Addresses", HaveExactElements(HaveField("IP", ip))),
				HaveField("Ports", HaveExactElements(HaveField("Port", int32(443)))))))
			slice := &discoveryv1.EndpointSlice{}
			g.Expect(tn.Virtual.Get(ctx, key, slice)).To(Succeed())
			g.Expect(slice.Labels).To(HaveKeyWithValue(discoveryv1.LabelServiceName, "kubernetes"))
			g.Expect(slice.Endpoints).To(HaveExactElements(HaveField("Addresses", []string{ip})))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

		// Someone empties the Endpoints: they come back.
		ep := &corev1.Endpoints{}
		g.Expect(tn.Virtual.Get(ctx, key, ep)).To(Succeed())
		ep.Subsets = nil
		g.Expect(tn.Virtual.Update(ctx, ep)).To(Succeed())
		g.Eventually(func() ([]corev1.EndpointSubset, error) {
			err := tn.Virtual.Get(ctx, key, ep)
			return ep.Subsets, err
		}).WithTimeout(timeout).WithPolling(poll).ShouldNot(BeEmpty())

		// A service synced after the syncer started shows that it is running.
		ns := tn.newVirtualNamespace(t)
		tn.createVirtual(t, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe"},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
		})
		tn.hostObject(t, ns, "probe", &corev1.Service{})
		g.Consistently(func(g Gomega) {
			for _, obj := range []client.Object{&corev1.Service{}, &corev1.Endpoints{}} {
				err := hostClient.Get(ctx, tn.HostKey("default", "kubernetes"), obj)
				g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%T default/kubernetes reached the host: %v", obj, err)
			}
			now := &corev1.Service{}
			g.Expect(tn.Virtual.Get(ctx, key, now)).To(Succeed())
			g.Expect(now.UID).To(Equal(svc.UID), "the virtual API server's Service was re-created again")
		}).WithTimeout(quiet).WithPolling(poll).Should(Succeed())
	})
}

// A NodePort service shows the node ports the host gave its copy, where
// the host's nodes answer.
func TestNodePortsAreTheHosts(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		g := NewWithT(t)
		ctx := context.Background()
		tn := newTenant(t, mode)
		ns := tn.newVirtualNamespace(t)
		svc := webService(ns, "node-port")
		svc.Spec.Type = corev1.ServiceTypeNodePort
		tn.createVirtual(t, svc)
		h := &corev1.Service{}
		g.Eventually(func(g Gomega) {
			g.Expect(hostClient.Get(ctx, tn.HostKey(ns, "node-port"), h)).To(Succeed())
			g.Expect(h.Spec.Ports[0].NodePort).NotTo(BeZero())
			v := &corev1.Service{}
			g.Expect(tn.Virtual.Get(ctx, client.ObjectKeyFromObject(svc), v)).To(Succeed())
			g.Expect(v.Spec.Ports[0].NodePort).To(Equal(h.Spec.Ports[0].NodePort))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	})
}

// A Service keeps the cluster IP and node port the virtual cluster gave it,
// the ones its creator was told, where the host can give the same: its copy
// asks for them and it is not re-created. Where the host cannot (another
// Service holds the address), the host chooses, and the Service shows that.
func TestServicesKeepTheirVirtualAddresses(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		ctx := context.Background()
		// The virtual range is the host's, as spec.networking.serviceCIDR
		// should say.
		tn := newTenant(t, mode, withConfig(func(c *syncerconfig.Config) { c.ServiceCIDR = hostServiceCIDR }))
		ns := tn.newVirtualNamespace(t)

		t.Run("free", func(t *testing.T) {
			g := NewWithT(t)
			svc := webService(ns, "kept")
			svc.Spec.Type = corev1.ServiceTypeNodePort
			svc.Spec.ClusterIP = freeHostIP(t)
			tn.createVirtual(t, svc)
			g.Expect(svc.Spec.Ports[0].NodePort).NotTo(BeZero())
			g.Eventually(func(g Gomega) {
				h := &corev1.Service{}
				g.Expect(hostClient.Get(ctx, tn.HostKey(ns, svc.Name), h)).To(Succeed())
				g.Expect(h.Spec.ClusterIP).To(Equal(svc.Spec.ClusterIP))
				g.Expect(h.Spec.Ports[0].NodePort).To(Equal(svc.Spec.Ports[0].NodePort))
			}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
			g.Consistently(func(g Gomega) {
				v := &corev1.Service{}
				g.Expect(tn.Virtual.Get(ctx, client.ObjectKeyFromObject(svc), v)).To(Succeed())
				g.Expect(v.UID).To(Equal(svc.UID), "re-created")
			}).WithTimeout(quiet).WithPolling(poll).Should(Succeed())
		})

		t.Run("taken", func(t *testing.T) {
			g := NewWithT(t)
			holder := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: newHostNamespace(t), Name: "holder"},
				Spec:       corev1.ServiceSpec{ClusterIP: freeHostIP(t), Ports: []corev1.ServicePort{{Port: 80}}},
			}
			g.Expect(hostClient.Create(ctx, holder)).To(Succeed())
			svc := webService(ns, "moved")
			svc.Spec.ClusterIP = holder.Spec.ClusterIP
			tn.createVirtual(t, svc)
			g.Eventually(func(g Gomega) {
				h, v := &corev1.Service{}, &corev1.Service{}
				g.Expect(hostClient.Get(ctx, tn.HostKey(ns, svc.Name), h)).To(Succeed())
				g.Expect(h.Spec.ClusterIP).NotTo(Equal(holder.Spec.ClusterIP))
				g.Expect(tn.Virtual.Get(ctx, client.ObjectKeyFromObject(svc), v)).To(Succeed())
				g.Expect(v.Spec.ClusterIP).To(Equal(h.Spec.ClusterIP))
			}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
			g.Expect(tn.virtualEvent(g, ns, syncer.ReasonSyncFailed)).To(BeNil(), "a refusal the fallback mended was reported")
		})
	})
}

// freeHostIP is an address of the host's service range, above the band it
// keeps for asked-for addresses, that no host Service holds.
func freeHostIP(t *testing.T) string {
	t.Helper()
	var services corev1.ServiceList
	NewWithT(t).Expect(hostClient.List(context.Background(), &services)).To(Succeed())
	taken := map[string]bool{}
	for _, s := range services.Items {
		taken[s.Spec.ClusterIP] = true
	}
	for i := 17 + rand.IntN(200); i < 255; i++ {
		if ip := fmt.Sprintf("10.0.0.%d", i); !taken[ip] {
			return ip
		}
	}
	t.Fatal("no free address in the host's service range")
	return ""
}

// The virtual cluster's kube-system/kube-dns is made at its DNS's host
// address, with endpoints there, comes back when deleted, and is never
// copied to the host.
func TestTheDNSServiceIsTheVirtualClustersOwn(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		g := NewWithT(t)
		ctx := context.Background()
		const ip = "10.0.1.53"
		tn := newTenant(t, mode, withConfig(func(c *syncerconfig.Config) { c.DNSNameserver = ip }))
		key := client.ObjectKey{Namespace: "kube-system", Name: "kube-dns"}
		shown := func(g Gomega) *corev1.Service {
			svc := &corev1.Service{}
			g.Expect(tn.Virtual.Get(ctx, key, svc)).To(Succeed())
			g.Expect(svc.Spec.ClusterIP).To(Equal(ip))
			g.Expect(svc.Labels).To(HaveKeyWithValue("k8s-app", "kube-dns"))
			g.Expect(svc.Spec.Ports).To(ConsistOf(
				And(HaveField("Name", "dns"), HaveField("Port", int32(53)), HaveField("Protocol", corev1.ProtocolUDP)),
				And(HaveField("Name", "dns-tcp"), HaveField("Port", int32(53)), HaveField("Protocol", corev1.ProtocolTCP))))
			slice := &discoveryv1.EndpointSlice{}
			g.Expect(tn.Virtual.Get(ctx, key, slice)).To(Succeed())
			g.Expect(slice.Endpoints).To(HaveExactElements(HaveField("Addresses", []string{ip})))
			g.Expect(slice.Ports).To(HaveLen(2))
			return svc
		}
		var first *corev1.Service
		g.Eventually(func(g Gomega) { first = shown(g) }).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

		g.Expect(tn.Virtual.Delete(ctx, first)).To(Succeed())
		g.Eventually(func(g Gomega) {
			g.Expect(shown(g).UID).NotTo(Equal(first.UID))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed(), "made again")
		g.Consistently(func(g Gomega) {
			for _, obj := range []client.Object{&corev1.Service{}, &corev1.Endpoints{}} {
				err := hostClient.Get(ctx, tn.HostKey("kube-system", "kube-dns"), obj)
				g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%T kube-system/kube-dns reached the host: %v", obj, err)
			}
		}).WithTimeout(quiet).WithPolling(poll).Should(Succeed())
	})
}

// A pod made right after a Service gets the Service's variables, at the
// host's cluster IP, as a kubelet gives them; one with enableServiceLinks
// off gets none, and neither gets the host's.
func TestPodsGetTheirNamespacesServiceVariables(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		g := NewWithT(t)
		ctx := context.Background()
		tn := newTenant(t, mode)
		ns := tn.newVirtualNamespace(t)
		tn.createVirtual(t, webService(ns, "web-front"))
		linked := podUsing(ns, "linked", "", "")
		unlinked := podUsing(ns, "unlinked", "", "")
		unlinked.Spec.EnableServiceLinks = ptr.To(false)
		for _, p := range []*corev1.Pod{linked, unlinked} {
			tn.createVirtual(t, p)
		}

		hostSvc := &corev1.Service{}
		tn.hostObject(t, ns, "web-front", hostSvc)
		ip := hostSvc.Spec.ClusterIP
		h := &corev1.Pod{}
		tn.hostObject(t, ns, "linked", h)
		c := h.Spec.Containers[0]
		for name, want := range map[string]string{
			"WEB_FRONT_SERVICE_HOST": ip, "WEB_FRONT_SERVICE_PORT": "80", "WEB_FRONT_SERVICE_PORT_HTTP": "80",
			"WEB_FRONT_PORT": "tcp://" + ip + ":80", "WEB_FRONT_PORT_80_TCP_ADDR": ip,
		} {
			e := env(c, name)
			g.Expect(e).NotTo(BeNil(), "%s missing: %v", name, c.Env)
			g.Expect(e.Value).To(Equal(want), name)
		}
		g.Expect(*h.Spec.EnableServiceLinks).To(BeFalse(), "the host's Services stay out")

		tn.hostObject(t, ns, "unlinked", h)
		g.Expect(env(h.Spec.Containers[0], "WEB_FRONT_SERVICE_HOST")).To(BeNil())
		g.Expect(env(h.Spec.Containers[0], "KUBERNETES_SERVICE_HOST")).NotTo(BeNil(), "the API server's are a kubelet's in any case")

		// A Service made later changes nothing on a pod that exists: a
		// container's variables are fixed.
		tn.createVirtual(t, webService(ns, "later"))
		tn.hostObject(t, ns, "later", &corev1.Service{})
		g.Consistently(func(g Gomega) {
			g.Expect(hostClient.Get(ctx, tn.HostKey(ns, "linked"), h)).To(Succeed())
			g.Expect(env(h.Spec.Containers[0], "LATER_SERVICE_HOST")).To(BeNil())
			g.Expect(env(h.Spec.Containers[0], "WEB_FRONT_SERVICE_HOST")).NotTo(BeNil())
		}).WithTimeout(quiet).WithPolling(poll).Should(Succeed())
	})
}

// Kinds off by default go to the host when enabled, with the rules the
// operator then generates.
func TestOptionalKinds(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		ctx := context.Background()
		tn := newTenant(t, mode, withSync(func(s *tenancyv1alpha1.SyncSpec) {
			s.ToHost.NetworkPolicies.Enabled = true
			s.ToHost.ServiceAccounts.Enabled = true
			s.ToHost.Ingresses.Enabled = true
			s.ToHost.PodDisruptionBudgets.Enabled = true
		}))
		ns, peer := tn.newVirtualNamespace(t), tn.newVirtualNamespace(t)

		t.Run("network policy", func(t *testing.T) {
			g := NewWithT(t)
			// Other tests' namespaces share the virtual cluster: a label
			// value of this test's own.
			tier := "frontend-" + peer
			web := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
			tn.createVirtual(t, &networkingv1.NetworkPolicy{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "from-frontends"},
				Spec: networkingv1.NetworkPolicySpec{
					PodSelector: *web,
					Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
						NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": tier}},
					}}}},
				},
			})
			h := &networkingv1.NetworkPolicy{}
			tn.hostObject(t, ns, "from-frontends", h)
			g.Expect(h.Spec.PodSelector.MatchLabels).To(Equal(map[string]string{"app": "web", "app.kubernetes.io/managed-by": "nestor-syncer",
				"nestor.dev/virtualcluster": tn.VC.Name, "nestor.dev/virtualcluster-namespace": tn.VC.Namespace, "nestor.dev/virtual-namespace": ns}))
			// No virtual namespace is a frontend yet: the peer allows nothing.
			g.Expect(h.Spec.Ingress[0].From).To(HaveExactElements(HaveField("PodSelector.MatchLabels", HaveKeyWithValue("nestor.dev/virtual-namespace", ""))))

			// Labelling a namespace brings its pods into the policy.
			g.Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
				n := &corev1.Namespace{}
				if err := tn.Virtual.Get(ctx, client.ObjectKey{Name: peer}, n); err != nil {
					return err
				}
				n.Labels["tier"] = tier
				return tn.Virtual.Update(ctx, n)
			})).To(Succeed())
			g.Eventually(func(g Gomega) {
				g.Expect(hostClient.Get(ctx, client.ObjectKeyFromObject(h), h)).To(Succeed())
				g.Expect(h.Spec.Ingress[0].From).To(HaveExactElements(HaveField("PodSelector.MatchLabels", HaveKeyWithValue("nestor.dev/virtual-namespace", peer))))
			}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
		})

		t.Run("service account", func(t *testing.T) {
			tn.createVirtual(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
				Namespace: ns, Name: "builder", Annotations: map[string]string{"iam.example.com/role": "builder"},
			}})
			h := &corev1.ServiceAccount{}
			tn.hostObject(t, ns, "builder", h)
			NewWithT(t).Expect(h.Annotations).To(HaveKeyWithValue("iam.example.com/role", "builder"))
			NewWithT(t).Expect(h.AutomountServiceAccountToken).To(HaveValue(BeFalse()))
		})

		t.Run("ingress and its TLS secret", func(t *testing.T) {
			tn.createVirtual(t, secret(ns, "tls", map[string]string{"tls.crt": "c", "tls.key": "k"}))
			tn.createVirtual(t, &networkingv1.Ingress{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
				Spec: networkingv1.IngressSpec{
					TLS:            []networkingv1.IngressTLS{{Hosts: []string{"web.example.com"}, SecretName: "tls"}},
					DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}},
				},
			})
			h := &networkingv1.Ingress{}
			tn.hostObject(t, ns, "web", h)
			NewWithT(t).Expect(h.Spec.DefaultBackend.Service.Name).To(Equal(tn.Names.HostName(ns, "web")))
			NewWithT(t).Expect(h.Spec.TLS[0].SecretName).To(Equal(tn.Names.HostName(ns, "tls")))
			tn.hostObject(t, ns, "tls", &corev1.Secret{})
		})

		t.Run("pod disruption budget", func(t *testing.T) {
			tn.createVirtual(t, &policyv1.PodDisruptionBudget{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
				Spec: policyv1.PodDisruptionBudgetSpec{
					MinAvailable: ptr.To(intstr.FromInt32(1)),
					Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				},
			})
			h := &policyv1.PodDisruptionBudget{}
			tn.hostObject(t, ns, "web", h)
			NewWithT(t).Expect(h.Spec.Selector.MatchLabels).To(HaveKeyWithValue("nestor.dev/virtual-namespace", ns))
		})
	})
}

// Once everything is in place, the syncer writes nothing to either cluster:
// an unchanged object is never written again, and status it has copied is
// not copied again.
func TestSteadyStateWritesNothing(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		g := NewWithT(t)
		ctx := context.Background()
		writes := &writeCounter{}
		tn := newTenant(t, mode, countingWrites(writes))
		ns := tn.newVirtualNamespace(t)
		tn.createVirtual(t, secret(ns, "s", map[string]string{"k": "v"}))
		tn.createVirtual(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "c"}, Data: map[string]string{"k": "v"}})
		pod := withLabels(podUsing(ns, "web", "s", "c"), map[string]string{"app": "web"})
		tn.createVirtual(t, pod)
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}},
		}
		tn.createVirtual(t, svc)

		// The pod runs on the host, and the virtual pod shows it.
		key := tn.HostKey(ns, "web")
		tn.hostObject(t, ns, "web", &corev1.Pod{})
		bindHostPod(t, key, "node-1")
		updateHostPodStatus(t, key, corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}},
			PodIP:      "10.1.2.3", PodIPs: []corev1.PodIP{{IP: "10.1.2.3"}}, HostIP: "192.0.2.1",
		})
		g.Eventually(func(g Gomega) {
			v := &corev1.Pod{}
			g.Expect(tn.Virtual.Get(ctx, client.ObjectKeyFromObject(pod), v)).To(Succeed())
			g.Expect(v.Status.PodIP).To(Equal("10.1.2.3"))
			s := &corev1.Service{}
			h := &corev1.Service{}
			g.Expect(tn.Virtual.Get(ctx, client.ObjectKeyFromObject(svc), s)).To(Succeed())
			g.Expect(hostClient.Get(ctx, tn.HostKey(ns, "web"), h)).To(Succeed())
			g.Expect(s.Spec.ClusterIP).To(Equal(h.Spec.ClusterIP))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

		// Other tests' namespaces, still going away in the shared virtual
		// cluster, are synced and removed too: count this test's writes.
		ours := func() []string {
			var out []string
			for _, w := range writes.take() {
				hostNs := "/namespaces/" + tn.Names.HostNamespace(ns)
				if strings.Contains(w, "/namespaces/"+ns+"/") || strings.Contains(w, "-x-"+ns+"-x-") ||
					(mode == tenancyv1alpha1.MultiNamespaceMode && strings.Contains(w, hostNs)) {
					out = append(out, w)
				}
			}
			return out
		}
		g.Expect(ours()).NotTo(BeEmpty(), "the counter must see the syncer's writes")
		// Let the last writes' own events come back, then count.
		g.Eventually(ours).WithTimeout(timeout).WithPolling(2 * time.Second).Should(BeEmpty())
		g.Consistently(ours).WithTimeout(5*time.Second).WithPolling(poll).Should(BeEmpty(), "the syncer writes in steady state")
	})
}

// A new configuration takes effect without a restart of the process, and
// nothing synced before is lost.
// A syncer started anew over host namespaces of an earlier run grants
// itself its rules there again before it watches them, with nothing to
// write there: a namespace whose RoleBinding is gone (an earlier release
// made none, or someone removed it) is watched again, and a copy whose
// virtual object went while no syncer ran is removed.
func TestARestartedSyncerWatchesItsHostNamespacesAgain(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	tn := newTenant(t, tenancyv1alpha1.MultiNamespaceMode)
	ns := tn.newVirtualNamespace(t)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	}
	tn.createVirtual(t, svc)
	key := tn.HostKey(ns, "web")
	tn.hostObject(t, ns, "web", &corev1.Service{})

	tn.StopSyncer()
	g.Expect(tn.Virtual.Delete(ctx, svc)).To(Succeed())
	grant := &rbacv1.RoleBinding{}
	grantKey := client.ObjectKey{Namespace: key.Namespace, Name: naming.ForVirtualCluster(tn.VC.Namespace, tn.VC.Name).NamespaceRBAC}
	g.Expect(hostClient.Get(ctx, grantKey, grant)).To(Succeed())
	g.Expect(hostClient.Delete(ctx, grant)).To(Succeed())
	startSyncer(t, syncer.Options{
		Config: tn.Config, Host: syncerHostConfig(tn.VC), Virtual: virtuals[tn.VC.Name].Config,
		MetricsBindAddress: "0", HealthProbeBindAddress: "0",
	})

	gone(t, hostClient, key, &corev1.Service{})
	again := &rbacv1.RoleBinding{}
	g.Expect(hostClient.Get(ctx, grantKey, again)).To(Succeed())
	g.Expect(again.UID).NotTo(Equal(grant.UID))
}

func TestConfigurationChangeTakesEffect(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	tn := newTenant(t, tenancyv1alpha1.SingleNamespaceMode, viaRun())
	ns := tn.newVirtualNamespace(t)
	tn.createVirtual(t, podUsing(ns, "p", "used", ""))
	tn.createVirtual(t, secret(ns, "used", map[string]string{"k": "v"}))
	tn.createVirtual(t, secret(ns, "lonely", map[string]string{"k": "v"}))
	used := &corev1.Secret{}
	tn.hostObject(t, ns, "used", used)
	g.Expect(apierrors.IsNotFound(hostClient.Get(ctx, tn.HostKey(ns, "lonely"), &corev1.Secret{}))).To(BeTrue())

	cfg := tn.Config
	cfg.ToHost.Secrets.All = true
	writeConfig(t, tn.ConfigFile, cfg)
	tn.hostObject(t, ns, "lonely", &corev1.Secret{})
	// What was there stays as it was: the restarted syncer found it in place.
	again := &corev1.Secret{}
	g.Expect(hostClient.Get(ctx, client.ObjectKeyFromObject(used), again)).To(Succeed())
	g.Expect(again.UID).To(Equal(used.UID))
	g.Expect(again.ResourceVersion).To(Equal(used.ResourceVersion))
}

// What the host says about a copy reaches the tenant in the tenant's terms:
// a claim's status, and events about a pod, with no host name in them.
func TestClaimStatusAndEventsComeBack(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		g := NewWithT(t)
		ctx := context.Background()
		tn := newTenant(t, mode)
		ns := tn.newVirtualNamespace(t)

		pvc := claim(ns, "data")
		tn.createVirtual(t, pvc)
		h := &corev1.PersistentVolumeClaim{}
		tn.hostObject(t, ns, "data", h)
		// The host's volume controller binds it.
		h.Status = corev1.PersistentVolumeClaimStatus{
			Phase: corev1.ClaimBound, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
		}
		g.Expect(hostClient.Status().Update(ctx, h)).To(Succeed())
		g.Eventually(func(g Gomega) {
			v := &corev1.PersistentVolumeClaim{}
			g.Expect(tn.Virtual.Get(ctx, client.ObjectKeyFromObject(pvc), v)).To(Succeed())
			g.Expect(v.Status.Phase).To(Equal(corev1.ClaimBound))
			g.Expect(v.Status.Capacity.Storage().String()).To(Equal("1Gi"))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

		pod := podUsing(ns, "web", "", "")
		tn.createVirtual(t, pod)
		hp := &corev1.Pod{}
		tn.hostObject(t, ns, "web", hp)
		// The host's scheduler reports, naming the host pod.
		reportOnHost(t, hp, "FailedScheduling", "pod "+hp.Namespace+"/"+hp.Name+" does not fit: 0/3 nodes are available")
		g.Eventually(func(g Gomega) {
			got := tn.virtualEvent(g, ns, "FailedScheduling")
			g.Expect(got).NotTo(BeNil(), "the host's event in the virtual cluster")
			g.Expect(got.InvolvedObject.Name).To(Equal("web"))
			g.Expect(got.InvolvedObject.UID).To(Equal(pod.UID))
			g.Expect(got.Message).To(Equal("pod " + ns + "/web does not fit: 0/3 nodes are available"))
			g.Expect(got.Name).NotTo(ContainSubstring("-x-"))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	})
}

// An event about a host object of a kind this syncer does not sync, here
// the host's own budget with budgets off, is passed over: its lookup must
// not wait for a host cache the syncer's rules forbid, and hold up the
// events about the tenant's copies.
func TestEventsAboutKindsNotSyncedHoldNothingUp(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		g := NewWithT(t)
		ctx := context.Background()
		tn := newTenant(t, mode)
		g.Expect(tn.Config.ToHost.PodDisruptionBudgets.Enabled).To(BeFalse())
		ns := tn.newVirtualNamespace(t)
		tn.ensureHostNamespace(t, ns)

		budget := &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Namespace: tn.Names.HostNamespace(ns), Name: "platform-agent"},
			Spec: policyv1.PodDisruptionBudgetSpec{
				MinAvailable: ptr.To(intstr.FromInt32(1)),
				Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "platform-agent"}},
			},
		}
		g.Expect(hostClient.Create(ctx, budget)).To(Succeed())
		reportOnHost(t, budget, "NoPods", "No matching pods found")

		tn.createVirtual(t, podUsing(ns, "web", "", ""))
		hp := &corev1.Pod{}
		tn.hostObject(t, ns, "web", hp)
		reportOnHost(t, hp, "FailedScheduling", "0/3 nodes are available")
		g.Expect(tn.waitVirtualEvent(t, ns, "FailedScheduling").InvolvedObject.Name).To(Equal("web"))
	})
}

// The host's informers are not in step: an event may reach the syncer
// before the object it is about, as the scheduler's Scheduled event about a
// new host pod did. It is kept until the object arrives.
func TestAnEventBeforeItsObjectIsKept(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		tn := newTenant(t, mode)
		ns := tn.newVirtualNamespace(t)
		tn.ensureHostNamespace(t, ns)

		key := tn.HostKey(ns, "web")
		reportOnHost(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}},
			"FailedScheduling", "0/3 nodes are available")
		// Let the syncer see the event while the pod is nowhere.
		time.Sleep(quiet)
		tn.createVirtual(t, podUsing(ns, "web", "", ""))
		NewWithT(t).Expect(tn.waitVirtualEvent(t, ns, "FailedScheduling").InvolvedObject.Name).To(Equal("web"))
	})
}

// A tenant may pin a pod to a node by name: it has no host copy yet, and
// that does not make it lost.
func TestAPinnedPodIsNotTakenForLost(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		tn := newTenant(t, mode)
		ns := tn.newVirtualNamespace(t)
		pod := podUsing(ns, "pinned", "", "")
		pod.Spec.NodeName = "node-7"
		tn.createVirtual(t, pod)
		h := &corev1.Pod{}
		tn.hostObject(t, ns, "pinned", h)
		NewWithT(t).Expect(h.Spec.NodeName).To(BeEmpty(), "the host schedules it")
		NewWithT(t).Consistently(func() error {
			return tn.Virtual.Get(context.Background(), client.ObjectKeyFromObject(pod), &corev1.Pod{})
		}).WithTimeout(quiet).WithPolling(poll).Should(Succeed())
	})
}

// Host copies an earlier Nestor made of a kind outside the core group
// record its bare Kind. A syncer that records groups takes them for the
// copies they are: it updates them and deletes them with their virtual
// objects. One whose virtual object went while it was away stays: those
// Nestors recorded no virtual cluster, so it may be another's.
func TestCopiesThatRecordTheBareKindAreStillCopies(t *testing.T) {
	modes(t, func(t *testing.T, mode tenancyv1alpha1.Mode) {
		g := NewWithT(t)
		ctx := context.Background()
		// The rules allow ingresses; the syncer starts without them, as
		// though the earlier one had just stopped.
		tn := newTenant(t, mode, viaRun(),
			withSync(func(s *tenancyv1alpha1.SyncSpec) { s.ToHost.Ingresses.Enabled = true }),
			withConfig(func(c *syncerconfig.Config) { c.ToHost.Ingresses.Enabled = false }))
		ns := tn.newVirtualNamespace(t)
		tn.ensureHostNamespace(t, ns)

		web := ingressTo(ns, "web", "web-v1")
		tn.createVirtual(t, web)
		synced := tn.bareKindCopy(t, web)
		tn.bareKindCopy(t, ingressTo(ns, "removed", "web-v1"))

		cfg := tn.Config
		cfg.ToHost.Ingresses.Enabled = true
		writeConfig(t, tn.ConfigFile, cfg)
		tn.waitHostEvent(t, syncer.ReasonVirtualClusterReplaced, "ingress.networking.k8s.io")
		g.Expect(hostClient.Get(ctx, tn.HostKey(ns, "removed"), &networkingv1.Ingress{})).To(Succeed())
		// The copy is the same object, now recording the group.
		expectIngressCopy := func(backend string) {
			g.Eventually(func(g Gomega) {
				h := &networkingv1.Ingress{}
				g.Expect(hostClient.Get(ctx, client.ObjectKeyFromObject(synced), h)).To(Succeed())
				g.Expect(h.UID).To(Equal(synced.UID))
				g.Expect(h.Annotations).To(HaveKeyWithValue(tenancyv1alpha1.AnnotationVirtualKind, "Ingress.networking.k8s.io"))
				g.Expect(h.Spec.DefaultBackend.Service.Name).To(Equal(tn.Names.HostName(ns, backend)))
			}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
		}
		expectIngressCopy("web-v1")

		g.Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := tn.Virtual.Get(ctx, client.ObjectKeyFromObject(web), web); err != nil {
				return err
			}
			web.Spec.DefaultBackend.Service.Name = "web-v2"
			return tn.Virtual.Update(ctx, web)
		})).To(Succeed())
		expectIngressCopy("web-v2")

		g.Expect(tn.Virtual.Delete(ctx, web)).To(Succeed())
		gone(t, hostClient, client.ObjectKeyFromObject(synced), &networkingv1.Ingress{})
	})
}

// ingressTo is an ingress whose default backend is service.
func ingressTo(ns, name, service string) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
			Name: service, Port: networkingv1.ServiceBackendPort{Number: 80},
		}}},
	}
}

// bareKindCopy writes the host copy of virtual ingress v as a syncer that
// recorded the bare Kind did, and returns it.
func (tn *tenant) bareKindCopy(t *testing.T, v *networkingv1.Ingress) *networkingv1.Ingress {
	t.Helper()
	h := translate.For(tn.Config).Ingress(v)
	h.Annotations[tenancyv1alpha1.AnnotationVirtualKind] = "Ingress"
	if v.UID == "" {
		h.Annotations[tenancyv1alpha1.AnnotationVirtualUID] = string(uuid.NewUUID())
	}
	_, err := apply.New(hostClient, hostClient, syncer.FieldOwner).Apply(context.Background(), h, func(client.Object) bool { return true })
	NewWithT(t).Expect(err).NotTo(HaveOccurred(), "writing the bare-Kind copy of virtual ingress %s/%s", v.Namespace, v.Name)
	NewWithT(t).Expect(hostClient.Get(context.Background(), client.ObjectKeyFromObject(h), h)).To(Succeed())
	return h
}

// TestAHostRefusalReachesTheTenant: a copy the host refuses (its quota,
// here) is a Warning event on the virtual object with the host's words,
// not only a line in the syncer's log.
func TestAHostRefusalReachesTheTenant(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	tn := newTenant(t, tenancyv1alpha1.SingleNamespaceMode)
	quota := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "no-services", Namespace: tn.VC.Namespace},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceServices: resource.MustParse("0")}},
	}
	g.Expect(hostClient.Create(ctx, quota)).To(Succeed())
	// No quota controller runs on this host: play it, so that admission
	// enforces the quota.
	quota.Status = corev1.ResourceQuotaStatus{Hard: quota.Spec.Hard, Used: corev1.ResourceList{corev1.ResourceServices: resource.MustParse("0")}}
	g.Expect(hostClient.Status().Update(ctx, quota)).To(Succeed())
	ns := tn.newVirtualNamespace(t)
	tn.createVirtual(t, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	})
	ev := tn.waitVirtualEvent(t, ns, syncer.ReasonSyncFailed)
	g.Expect(ev.InvolvedObject.Name).To(Equal("web"))
	g.Expect(ev.Type).To(Equal(corev1.EventTypeWarning))
	g.Expect(ev.Message).To(And(ContainSubstring("The host refused"), ContainSubstring("forbidden")))
}
