package main

import (
	"strings"
	"testing"
)

const exposition = `# HELP workqueue_depth Current depth of workqueue
# TYPE workqueue_depth gauge
workqueue_depth{controller="pod",name="pod"} 48
workqueue_depth{name="Secret"} 0
workqueue_adds_total{controller="pod",name="pod"} 2000
workqueue_work_duration_seconds_sum{name="pod"} 91.5 1733133600000
workqueue_work_duration_seconds_bucket{name="pod",le="+Inf"} 2000
rest_client_requests_total{code="200",host="127.0.0.1:6443",method="GET"} 12
odd_label{name="a \"quoted\", comma"} 1
`

func TestParseMetricsKeepsTheAskedFor(t *testing.T) {
	samples, err := parseMetrics(strings.NewReader(exposition), func(name string) bool {
		return workqueueMetrics[name] || name == "odd_label"
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 5 {
		t.Fatalf("got %d samples, want 5: %+v", len(samples), samples)
	}
	if s := samples[0]; s.Name != "workqueue_depth" || s.Labels["name"] != "pod" || s.Labels["controller"] != "pod" || s.Value != 48 {
		t.Errorf("first sample: %+v", s)
	}
	if s := samples[3]; s.Value != 91.5 {
		t.Errorf("a timestamp is not the value: %+v", s)
	}
	if s := samples[4]; s.Labels["name"] != `a "quoted", comma` {
		t.Errorf("escaped label value: %q", s.Labels["name"])
	}
}

func TestParseMetricsRejectsBrokenLines(t *testing.T) {
	all := func(string) bool { return true }
	for _, line := range []string{`x{name="a"`, `x{name=a} 1`, `x`, `x{name="a"} one`} {
		if _, err := parseMetrics(strings.NewReader(line+"\n"), all); err == nil {
			t.Errorf("%q parsed", line)
		}
	}
}
