package conformance

import (
	"bytes"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// report is shaped as the e2e binary's junit_01.xml: ginkgo's JUnit with
// the leaf node type before each name and no failure message attribute.
const report = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="7" disabled="2" errors="0" failures="3" time="10">
  <testsuite name="Kubernetes e2e suite" package="/" tests="7">
    <testcase name="[SynchronizedBeforeSuite]" classname="Kubernetes e2e suite" status="passed" time="1"></testcase>
    <testcase name="[It] [sig-node] Pods should get a host IP [NodeConformance] [Conformance]" classname="Kubernetes e2e suite" status="passed" time="3"></testcase>
    <testcase name="[It] [sig-storage] Projected secret should be consumable from pods in volume [NodeConformance] [Conformance]" classname="Kubernetes e2e suite" status="passed" time="3"></testcase>
    <testcase name="[It] [sig-network] Services should serve a basic endpoint from pods [Conformance]" classname="Kubernetes e2e suite" status="failed" time="300">
      <failure type="failed">[FAILED] timed out waiting for the condition&#xA;In [It] at: service.go:800</failure>
    </testcase>
    <testcase name="[It] [sig-network] Services should have session affinity work for NodePort service [LinuxOnly] [Conformance]" classname="Kubernetes e2e suite" status="skipped" time="0">
      <skipped message="skipped - Requires at least 2 nodes (not 1)"></skipped>
    </testcase>
    <testcase name="[It] [sig-network] Services should be rejected when no endpoints exist" classname="Kubernetes e2e suite" status="skipped" time="0">
      <skipped message="skipped"></skipped>
    </testcase>
    <testcase name="[It] [sig-cli] Kubectl Port forwarding With a server listening on localhost should support forwarding over websockets" classname="Kubernetes e2e suite" status="timedout" time="60">
      <failure type="timedout">[TIMEDOUT] A suite timeout occurred</failure>
    </testcase>
    <testcase name="[It] [sig-apps] Deployment should run the lifecycle of a Deployment [Conformance]" classname="Kubernetes e2e suite" status="skipped" time="0">
      <skipped message="skipped"></skipped>
    </testcase>
    <testcase name="[SynchronizedAfterSuite]" classname="Kubernetes e2e suite" status="failed" time="1">
      <failure type="failed">[FAILED] namespaces left</failure>
    </testcase>
  </testsuite>
</testsuites>`

func TestSummarize(t *testing.T) {
	groups := []Group{
		{Name: "Pods", Prefix: `\[sig-node\] Pods `},
		{Name: "Projected", Prefix: `\[sig-storage\] Projected `},
		{Name: "Services", Prefix: `\[sig-network\] Services `},
		{Name: "Kubectl port-forward", Prefix: `\[sig-cli\] Kubectl Port forwarding `, All: true},
	}
	got, err := Summarize(strings.NewReader(report), groups)
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{
		Groups: []Counts{
			{Group: "Pods", Passed: 1},
			{Group: "Projected", Passed: 1},
			{Group: "Services", Failed: 1, Skipped: 1},
			{Group: "Kubectl port-forward", Failed: 1},
		},
		Failures: []Failure{
			{Group: "Services", Name: "[It] [sig-network] Services should serve a basic endpoint from pods [Conformance]",
				Message: "[FAILED] timed out waiting for the condition\nIn [It] at: service.go:800"},
			{Group: "Kubectl port-forward", Name: "[It] [sig-cli] Kubectl Port forwarding With a server listening on localhost should support forwarding over websockets",
				Message: "[TIMEDOUT] A suite timeout occurred"},
			{Name: "[SynchronizedAfterSuite]", Message: "[FAILED] namespaces left"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Summarize:\n got %+v\nwant %+v", got, want)
	}

	var table bytes.Buffer
	if err := got.Table(&table, 1); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"            group  passed  failed  skipped",
		"         Services       0       1        1",
		"            total       2       2        1",
		"FAILED [It] [sig-network] Services should serve a basic endpoint from pods [Conformance]\n    [FAILED] timed out waiting for the condition\n\n",
	} {
		if !strings.Contains(table.String(), line) {
			t.Errorf("table lacks %q:\n%s", line, table.String())
		}
	}
}

func TestSummarizeMalformed(t *testing.T) {
	if _, err := Summarize(strings.NewReader("<testsuites><testsuite>"), Groups); err == nil {
		t.Error("a truncated report summarized without an error")
	}
}

// TestFocus matches the focus and skip expressions against spec texts as
// ginkgo does: after the suite's description.
func TestFocus(t *testing.T) {
	focus := regexp.MustCompile(Focus(Groups))
	skip := regexp.MustCompile(Skip)
	for text, want := range map[string]bool{
		"[sig-node] Pods should get a host IP [NodeConformance] [Conformance]":                                           true,
		"[sig-node] Pods should support retrieving logs from the container over websockets [NodeConformance]":            false,
		"[sig-storage] ConfigMap should be consumable from pods in volume [NodeConformance] [Conformance]":               true,
		"[sig-node] ConfigMap should be consumable via environment variable [NodeConformance] [Conformance]":             true,
		"[sig-node] Downward API should provide pod UID as env vars [NodeConformance] [Conformance]":                     true,
		"[sig-storage] Downward API volume should provide podname only [NodeConformance] [Conformance]":                  true,
		"[sig-network] DNS should provide DNS for services  [Conformance]":                                               true,
		"[sig-network] Services should serve multiport endpoints from pods  [Conformance]":                               true,
		"[sig-network] Services should be able to up and down services [Serial] [Conformance]":                           false,
		"[sig-cli] Kubectl client Simple pod should support exec":                                                        true,
		"[sig-cli] Kubectl client Simple pod should support exec idle connections [Slow]":                                false,
		"[sig-cli] Kubectl client Simple pod should support port-forward":                                                false,
		"[sig-cli] Kubectl Port forwarding With a server listening on 0.0.0.0 should support forwarding over websockets": true,
		"[sig-apps] Deployment should run the lifecycle of a Deployment [Conformance]":                                   false,
		"[sig-network] EndpointSlice should support creating EndpointSlice API operations [Conformance]":                 false,
	} {
		text = "Kubernetes e2e suite " + text
		if got := focus.MatchString(text) && !skip.MatchString(text); got != want {
			t.Errorf("%q selected: %v, want %v", text, got, want)
		}
	}
}
