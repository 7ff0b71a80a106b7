package syncer

import (
	"testing"

	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// Every client made from a config of the syncer's shares its one limit,
// whatever its kind.
func TestRateIsOneLimitPerAPIServer(t *testing.T) {
	base := &rest.Config{Host: "https://example.invalid", QPS: 5, Burst: 10}
	cfg := Rate{QPS: 200, Burst: 400}.config(base)
	if cfg.RateLimiter == nil || cfg.RateLimiter.QPS() != 200 {
		t.Fatalf("limiter %v", cfg.RateLimiter)
	}
	if base.RateLimiter != nil {
		t.Error("the config given was changed")
	}
	var limiters []any
	for _, path := range []string{"/api", "/apis"} {
		c := rest.CopyConfig(cfg)
		c.APIPath = path
		c.NegotiatedSerializer = clientgoscheme.Codecs.WithoutConversion()
		rc, err := rest.UnversionedRESTClientFor(c)
		if err != nil {
			t.Fatal(err)
		}
		limiters = append(limiters, rc.GetRateLimiter())
	}
	if limiters[0] != limiters[1] || limiters[0] != cfg.RateLimiter {
		t.Errorf("two clients, two limiters: %v", limiters)
	}

	if off := (Rate{QPS: -1}).config(base); off.RateLimiter != nil || off.QPS >= 0 {
		t.Errorf("a QPS below 0 must leave no limit: %+v", off)
	}
}
