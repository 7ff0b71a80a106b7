package main

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

const (
	mib = 1024 * 1024
	kib = 1024
)

// syncerFigures reports a run of the syncer scenario. A synced object is
// a pod, a secret or a configMap of the tenant: three per pod.
func (b *bench) syncerFigures(scenario string, r *syncerRun) {
	rep := &b.report
	objects := float64(3 * r.pods)
	hostSync := count(r.host, r.hostUser, r.sync)
	virtualSync := count(r.virtual, syncerVirtualUser, r.sync)
	working := r.all - r.first
	rep.add(scenario, "time to all on the host", r.all.Seconds(), "s")
	rep.add(scenario, "start to first host write", r.first.Seconds(), "s")
	rep.addRatio(scenario, "pods/s", perSecond(r.pods, working), "1/s", rawCreates)
	rep.addRatio(scenario, "host writes/s", perSecond(hostSync.Writes, working), "1/s", rawApplies)
	rep.add(scenario, "host writes per synced object", per(float64(hostSync.Writes), objects), "")
	rep.add(scenario, "host requests per synced object", per(float64(hostSync.Requests), objects), "")
	rep.add(scenario, "host GETs answered 404 per synced object", per(float64(hostSync.NotFoundGets), objects), "")
	rep.add(scenario, "virtual writes per synced object", per(float64(virtualSync.Writes), objects), "")
	rep.add(scenario, "virtual requests per synced object", per(float64(virtualSync.Requests), objects), "")
	rep.requests(scenario, "host "+r.hostUser+" sync", hostSync)
	rep.requests(scenario, "virtual "+syncerVirtualUser+" sync", virtualSync)

	for _, p := range []float64{50, 95, 99} {
		rep.addRatio(scenario, fmt.Sprintf("status round trip p%.0f", p), ms(percentile(r.roundTrips, p)), "ms", rawCreateP50)
	}
	rep.add(scenario, "status changes not shown in time", float64(r.lost), "")
	virtualStatus := count(r.virtual, syncerVirtualUser, r.status)
	hostStatus := count(r.host, r.hostUser, r.status)
	changes := float64(len(r.roundTrips) + r.lost)
	rep.add(scenario, "virtual writes per status change", per(float64(virtualStatus.Writes), changes), "")
	rep.add(scenario, "host writes per status change", per(float64(hostStatus.Writes), changes), "")
	rep.requests(scenario, "host "+r.hostUser+" status", hostStatus)
	rep.requests(scenario, "virtual "+syncerVirtualUser+" status", virtualStatus)

	hostIdle := count(r.host, r.hostUser, r.idle)
	virtualIdle := count(r.virtual, syncerVirtualUser, r.idle)
	idle := r.idle.To.Sub(r.idle.From)
	rep.add(scenario, fmt.Sprintf("idle host writes in %v", idle.Round(time.Second)), float64(hostIdle.Writes), "")
	rep.add(scenario, fmt.Sprintf("idle virtual writes in %v", idle.Round(time.Second)), float64(virtualIdle.Writes), "")
	rep.add(scenario, fmt.Sprintf("idle host requests in %v", idle.Round(time.Second)), float64(hostIdle.Requests), "")
	rep.requests(scenario, "host "+r.hostUser+" idle", hostIdle)
	rep.requests(scenario, "virtual "+syncerVirtualUser+" idle", virtualIdle)

	rep.add(scenario, "peak RSS (VmHWM)", r.rss/mib, "MiB")
	rep.add(scenario, "peak RSS per synced object", r.rss/objects/kib, "KiB")
	b.cpuFigures(scenario, "sync", r.cpu)
	b.queueFigures(scenario, r.queues, r.depths, r.sync)
}

// operatorFigures reports a run of the operator scenario.
func (b *bench) operatorFigures(scenario string, r *operatorRun) {
	rep := &b.report
	vcs := float64(r.vcs)
	converge := count(r.requests, r.user, r.converge)
	rollout := count(r.requests, r.user, r.rollout)
	idle := count(r.requests, r.user, r.idle)
	working := r.all - r.first
	rep.add(scenario, "time to children and observedGeneration", r.all.Seconds(), "s")
	rep.add(scenario, "start to first write", r.first.Seconds(), "s")
	rep.add(scenario, "VirtualClusters/s", perSecond(r.vcs, working), "1/s")
	rep.addRatio(scenario, "writes/s", perSecond(converge.Writes, working), "1/s", rawApplies)
	rep.add(scenario, "writes per VirtualCluster", per(float64(converge.Writes), vcs), "")
	rep.add(scenario, "requests per VirtualCluster", per(float64(converge.Requests), vcs), "")
	rep.add(scenario, "children per VirtualCluster (fewest)", float64(r.minChildren), "")
	rep.add(scenario, "children per VirtualCluster (most)", float64(r.maxChildren), "")
	rep.add(scenario, "rollout to all Ready", r.ready.Seconds(), "s")
	rep.add(scenario, "writes per VirtualCluster to Ready", per(float64(rollout.Writes), vcs), "")
	d := r.idle.To.Sub(r.idle.From)
	rep.add(scenario, fmt.Sprintf("idle writes in %v", d.Round(time.Second)), float64(idle.Writes), "")
	rep.add(scenario, fmt.Sprintf("idle requests in %v", d.Round(time.Second)), float64(idle.Requests), "")
	rep.add(scenario, "peak RSS (VmHWM)", r.rss/mib, "MiB")
	b.cpuFigures(scenario, "converging", r.cpu)
	rep.requests(scenario, "host "+r.user+" converge", converge)
	rep.requests(scenario, "host "+r.user+" rollout", rollout)
	rep.requests(scenario, "host "+r.user+" idle", idle)
	b.queueFigures(scenario, r.queues, r.depths, window{r.converge.From, r.rollout.To})
}

// cpuFigures reports the cores each process spent in a phase, and the
// machine's, of how many it has: what is left of them bounds the phase.
func (b *bench) cpuFigures(scenario, phase string, cores map[string]float64) {
	for _, name := range slices.Sorted(maps.Keys(cores)) {
		b.report.add(scenario, fmt.Sprintf("CPU %s: %s", phase, name), cores[name], "cores")
	}
	b.report.add(scenario, fmt.Sprintf("CPU %s: cores of the machine", phase), float64(b.report.CPUs), "cores")
}

// queueFigures reports each controller queue that was used: its deepest,
// its workers' average business over w, and the mean wait of an item.
func (b *bench) queueFigures(scenario string, q queues, depths map[string]float64, w window) {
	elapsed := w.To.Sub(w.From).Seconds()
	for _, name := range slices.Sorted(maps.Keys(q["workqueue_adds_total"])) {
		if q["workqueue_adds_total"][name] == 0 {
			continue
		}
		b.report.add(scenario, "queue "+name+" adds", q["workqueue_adds_total"][name], "items")
		b.report.add(scenario, "queue "+name+" deepest", depths[name], "items")
		b.report.add(scenario, "queue "+name+" busy workers", per(q["workqueue_work_duration_seconds_sum"][name], elapsed), "")
		b.report.add(scenario, "queue "+name+" mean wait",
			1000*per(q["workqueue_queue_duration_seconds_sum"][name], q["workqueue_queue_duration_seconds_count"][name]), "ms")
	}
}

// growthScenario names scenario 4's comparisons of the two sizes.
const growthScenario = "4 growth"

// growthFigures compares the runs at N and at scale×N. Memory grows about
// linearly, so two sizes give its slope and its intercept.
func (b *bench) growthFigures(small, large *syncerRun, smallOp, largeOp *operatorRun) {
	rep := &b.report
	if small != nil && large != nil {
		extra := float64(3 * (large.pods - small.pods))
		slope := (large.rss - small.rss) / extra
		rep.add(growthScenario, "syncer RSS per added synced object", slope/kib, "KiB")
		rep.add(growthScenario, "syncer RSS with no object (extrapolated)", (small.rss-slope*float64(3*small.pods))/mib, "MiB")
		rep.add(growthScenario, "syncer pods/s, large over small", per(perSecond(large.pods, large.all-large.first), perSecond(small.pods, small.all-small.first)), "")
		rep.add(growthScenario, "syncer status p95, large over small", per(ms(percentile(large.roundTrips, 95)), ms(percentile(small.roundTrips, 95))), "")
		writesPer := func(r *syncerRun) float64 {
			return per(float64(count(r.host, r.hostUser, r.sync).Writes), float64(3*r.pods))
		}
		rep.add(growthScenario, "syncer host writes per synced object, large over small", per(writesPer(large), writesPer(small)), "")
	}
	if smallOp != nil && largeOp != nil {
		slope := (largeOp.rss - smallOp.rss) / float64(largeOp.vcs-smallOp.vcs)
		rep.add(growthScenario, "operator RSS per added VirtualCluster", slope/kib, "KiB")
		rep.add(growthScenario, "operator RSS with no VirtualCluster (extrapolated)", (smallOp.rss-slope*float64(smallOp.vcs))/mib, "MiB")
		rep.add(growthScenario, "operator VirtualClusters/s, large over small",
			per(perSecond(largeOp.vcs, largeOp.all-largeOp.first), perSecond(smallOp.vcs, smallOp.all-smallOp.first)), "")
	}
}
