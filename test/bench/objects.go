package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// benchPod is the pod every scenario writes: one container, reading a
// secret and a configMap as volumes and as environment.
func benchPod(namespace, name, secret, configMap string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "app",
				Image: "registry.example/bench/app:1.0",
				EnvFrom: []corev1.EnvFromSource{
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: configMap}}},
				},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi"),
				}},
				VolumeMounts: []corev1.VolumeMount{{Name: "secret", MountPath: "/etc/secret", ReadOnly: true}},
			}},
			Volumes: []corev1.Volume{{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}}},
		},
	}
}

func benchSecret(namespace, name string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Data:       map[string][]byte{"password": []byte("p-" + name)},
	}
}

func benchConfigMap(namespace, name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Data:       map[string]string{"MODE": "bench", "NAME": name},
	}
}

// names of the i-th pod and of what it references.
func podName(i int) string       { return fmt.Sprintf("pod-%05d", i) }
func secretName(i int) string    { return fmt.Sprintf("secret-%05d", i) }
func configMapName(i int) string { return fmt.Sprintf("config-%05d", i) }

// load is the outcome of running n requests.
type load struct {
	Elapsed   time.Duration
	Latencies []time.Duration
}

// runLoad calls do(i) for i in [0, n), concurrency at a time (0: all at
// once), and times each call and the whole.
func runLoad(ctx context.Context, n, concurrency int, do func(ctx context.Context, i int) error) (load, error) {
	g, ctx := errgroup.WithContext(ctx)
	if concurrency > 0 {
		g.SetLimit(concurrency)
	}
	var mu sync.Mutex
	latencies := make([]time.Duration, 0, n)
	start := time.Now()
	for i := range n {
		g.Go(func() error {
			t := time.Now()
			if err := do(ctx, i); err != nil {
				return err
			}
			d := time.Since(t)
			mu.Lock()
			latencies = append(latencies, d)
			mu.Unlock()
			return nil
		})
	}
	err := g.Wait()
	return load{Elapsed: time.Since(start), Latencies: latencies}, err
}

// ensureNamespace creates a namespace and its default ServiceAccount,
// which the ServiceAccount admission plugin wants for every pod; no
// controller makes it on the host the bench starts.
func ensureNamespace(ctx context.Context, s *apiServer, name string, defaultServiceAccount bool) error {
	if _, err := s.Admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating namespace %s on the %s API server: %w", name, s.Name, err)
	}
	if !defaultServiceAccount {
		return nil
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: name}}
	if _, err := s.Admin.CoreV1().ServiceAccounts(name).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the default ServiceAccount of %s: %w", name, err)
	}
	return nil
}
