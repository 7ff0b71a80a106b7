package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/nestor-dev/nestor/internal/clientlimit"
)

// limitScenario names scenario 1, which every ratio compares with.
const limitScenario = "1 limit"

// The figures of scenario 1 that others compare with: the best rate of
// any concurrency without a client-side limit (every request at once is
// seldom the best: priority and fairness answer part of them 429, and
// the client waits before it tries again), and one request's time alone.
const (
	rawCreates   = "pod creates/s best"
	rawApplies   = "pod applies/s best"
	rawCreateP50 = "create latency p50 c=1"
)

// The identity scenario 1 writes as.
const (
	rawNamespace      = "bench"
	rawServiceAccount = "raw-client"
)

// rawClient is one way of sending requests in scenario 1.
type rawClient struct {
	name        string
	concurrency int // 0: every request at once
	qps         float32
	burst       int
}

// rawClients are scenario 1's: fixed concurrencies without a client-side
// limit, then the components' default client limit (clientlimit.Default).
func rawClients(concurrencies []int) []rawClient {
	var out []rawClient
	for _, c := range concurrencies {
		name := fmt.Sprintf("c=%d", c)
		if c == 0 {
			name = "unlimited"
		}
		out = append(out, rawClient{name: name, concurrency: c, qps: -1})
	}
	r := clientlimit.Default
	return append(out, rawClient{name: fmt.Sprintf("default client limit (%v qps, burst %d)", r.QPS, r.Burst), qps: r.QPS, burst: r.Burst})
}

// limit measures what the host API server takes: pod creates and
// server-side applies of new pods, as a ServiceAccount, the kind of
// identity the syncer is, so that priority and fairness treat both alike.
// Each client and verb writes into a new namespace, as empty as the
// syncer's.
func (b *bench) limit(ctx context.Context) error {
	host, err := startAPIServer("limit-host", b.dir, nil, hostServiceCIDR, nil)
	if err != nil {
		return err
	}
	defer b.stop(host)
	if err := ensureNamespace(ctx, host, rawNamespace, true); err != nil {
		return err
	}
	user, err := host.serviceAccount(rawNamespace, rawServiceAccount)
	if err != nil {
		return err
	}
	if err := grantClusterAdmin(ctx, host, rawNamespace, rawServiceAccount); err != nil {
		return err
	}
	started := time.Now()
	n := b.flags.rawObjects
	best := map[string]float64{}
	bestAt := map[string]string{}
	for i, rc := range rawClients(b.flags.concurrency) {
		for _, verb := range [][2]string{{"create", "creates"}, {"apply", "applies"}} {
			verb, plural := verb[0], verb[1]
			// A client of its own per verb: each starts with a full burst.
			cfg := rest.CopyConfig(user.Config())
			cfg.QPS, cfg.Burst = rc.qps, rc.burst
			cs, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			ns := fmt.Sprintf("raw-%s-%d", verb, i)
			if err := ensureNamespace(ctx, host, ns, true); err != nil {
				return err
			}
			l, err := runLoad(ctx, n, rc.concurrency, rawWrite(cs, verb, ns))
			if err != nil {
				return fmt.Errorf("%s %s: %w", rc.name, plural, err)
			}
			rate := perSecond(n, l.Elapsed)
			b.report.add(limitScenario, fmt.Sprintf("pod %s/s %s", plural, rc.name), rate, "1/s")
			if rc.qps < 0 && rate > best[plural] {
				best[plural], bestAt[plural] = rate, rc.name
			}
			if rc.concurrency == 1 {
				b.report.add(limitScenario, verb+" latency p50 c=1", ms(percentile(l.Latencies, 50)), "ms")
			}
			b.logf("limit: %d pod %s with %s in %v", n, plural, rc.name, l.Elapsed.Round(time.Millisecond))
		}
	}
	for _, plural := range []string{"creates", "applies"} {
		b.report.add(limitScenario, "pod "+plural+"/s best", best[plural], "1/s")
		b.logf("limit: the best pod %s/s came with %s", plural, bestAt[plural])
	}
	reqs, err := host.requests()
	if err != nil {
		return err
	}
	b.report.requests(limitScenario, "host "+rawServiceAccount,
		count(reqs, serviceAccountUser(rawNamespace, rawServiceAccount), window{started, time.Now().Add(time.Minute)}))
	return nil
}

// rawWrite creates the i-th pod in ns, or applies it (server-side, as the
// syncer writes).
func rawWrite(cs *kubernetes.Clientset, verb, ns string) func(context.Context, int) error {
	return func(ctx context.Context, i int) error {
		pod := benchPod(ns, podName(i), secretName(i), configMapName(i))
		if verb == "create" {
			_, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
			return err
		}
		body, err := json.Marshal(pod)
		if err != nil {
			return err
		}
		_, err = cs.CoreV1().Pods(ns).Patch(ctx, pod.Name, types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: "bench", Force: ptr.To(true)})
		return err
	}
}
