// Package clientlimit is the client-side limit of a component's requests to
// one API server: one budget that all its clients share, whatever their
// kind, set by the --kube-api-qps and --kube-api-burst flags.
package clientlimit

import (
	"flag"
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// Limit is requests a second and the burst above them. A QPS below zero
// turns the limit off.
type Limit struct {
	QPS   float32
	Burst int
}

// Default leaves the pace to the API server's priority and fairness, which
// queues a busy component's requests fairly beside everyone else's; the
// limit only stops a component gone wrong from taking a whole priority
// level.
var Default = Limit{QPS: 500, Burst: 1000}

// Config copies cfg with l as its one limit. controller-runtime makes a
// client per kind, each with a limiter of its own unless the config
// carries one: a limit of cfg's QPS would multiply by the kinds.
func (l Limit) Config(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst, cfg.RateLimiter = l.QPS, l.Burst, nil
	if l.QPS > 0 {
		cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(l.QPS, l.Burst)
	}
	return cfg
}

// Flags are the two flags of a Limit, bound to a flag set.
type Flags struct {
	qps   *float64
	burst *int
}

// Bind adds --kube-api-qps and --kube-api-burst to fs, with Default's values.
func Bind(fs *flag.FlagSet) Flags {
	return Flags{
		qps:   fs.Float64("kube-api-qps", float64(Default.QPS), "requests a second to each API server, all kinds together; below 0, no client-side limit"),
		burst: fs.Int("kube-api-burst", Default.Burst, "requests above --kube-api-qps sent at once"),
	}
}

// Limit is the parsed flags' limit, or an error that says what to give.
func (f Flags) Limit() (Limit, error) {
	l := Limit{QPS: float32(*f.qps), Burst: *f.burst}
	if l.QPS == 0 || (l.QPS > 0 && l.Burst < 1) {
		return l, fmt.Errorf("--kube-api-qps=%v --kube-api-burst=%d: give a QPS above 0 with a burst of 1 or more, or a QPS below 0 for no limit", *f.qps, *f.burst)
	}
	return l, nil
}
