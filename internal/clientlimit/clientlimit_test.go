package clientlimit

import (
	"flag"
	"testing"

	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// Every client made from a config of a Limit shares its one limiter,
// whatever its kind.
func TestOneLimiterPerAPIServer(t *testing.T) {
	base := &rest.Config{Host: "https://example.invalid", QPS: 5, Burst: 10}
	cfg := Limit{QPS: 200, Burst: 400}.Config(base)
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

	if off := (Limit{QPS: -1}).Config(base); off.RateLimiter != nil || off.QPS >= 0 {
		t.Errorf("a QPS below 0 must leave no limit: %+v", off)
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want Limit
		ok   bool
	}{
		{nil, Default, true},
		{[]string{"--kube-api-qps=50", "--kube-api-burst=100"}, Limit{QPS: 50, Burst: 100}, true},
		{[]string{"--kube-api-qps=-1"}, Limit{QPS: -1, Burst: Default.Burst}, true},
		{[]string{"--kube-api-qps=0"}, Limit{}, false},
		{[]string{"--kube-api-burst=0"}, Limit{}, false},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		f := Bind(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		got, err := f.Limit()
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("%v: got %+v, %v", tc.args, got, err)
		}
	}
}
