package main

import (
	"slices"
	"testing"

	"github.com/nestor-dev/nestor/internal/clientlimit"
)

func TestFlags(t *testing.T) {
	f, err := parseFlags([]string{"-pods=5000", "-concurrency=4, 0", "-scenarios=limit,syncer", "-syncer-flags=--workers=1  --kube-api-qps=50"})
	if err != nil {
		t.Fatal(err)
	}
	if f.pods != 5000 || f.vcs != 200 || !slices.Equal(f.concurrency, []int{4, 0}) || !slices.Equal(f.syncerFlags, []string{"--workers=1", "--kube-api-qps=50"}) {
		t.Errorf("parsed %+v", f)
	}
	if !f.scenarios["limit"] || !f.scenarios["syncer"] || f.scenarios["operator"] {
		t.Errorf("scenarios %v", f.scenarios)
	}
	if f.values["pods"] != "5000" || f.values["idle"] != "1m0s" {
		t.Errorf("the report's flags: %v", f.values)
	}
	for _, args := range [][]string{{"-scenarios=limit,speed"}, {"-concurrency=8,x"}, {"-concurrency=-1"}, {"-pods=0"}} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestRawClientsEndWithTheSyncersSettings(t *testing.T) {
	clients := rawClients([]int{1, 0})
	if len(clients) != 3 || clients[1].name != "unlimited" || clients[1].qps >= 0 {
		t.Fatalf("clients %+v", clients)
	}
	if last := clients[2]; last.qps != clientlimit.Default.QPS || last.burst != clientlimit.Default.Burst || last.concurrency != 0 {
		t.Errorf("the syncer's client: %+v", last)
	}
}
