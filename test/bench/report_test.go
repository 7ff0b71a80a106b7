package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sampleReport() *report {
	r := &report{}
	r.add(limitScenario, rawCreates, 800, "1/s")
	r.addRatio("2 syncer N=10", "pods/s", 200, "1/s", rawCreates)
	r.addRatio("2 syncer N=10", "status round trip p95", 12.5, "ms", "no such figure")
	r.add("2 syncer N=10", "host writes per synced object", 1.3333333, "")
	r.requests("2 syncer N=10", "host bench sync", counts{Requests: 3, Writes: 2, ByVerb: map[string]int{"patch pods 201": 2, "get pods 404": 1}})
	r.Errors = append(r.Errors, "3 operator M=1: it broke")
	return r
}

func TestTableShowsRatiosToTheLimit(t *testing.T) {
	var out bytes.Buffer
	if err := sampleReport().writeTable(&out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("want a header, four figures and an error:\n%s", out.String())
	}
	if !strings.Contains(lines[2], "200") || !strings.HasSuffix(strings.TrimSpace(lines[2]), "25.0% of pod creates/s best") {
		t.Errorf("pods/s line: %q", lines[2])
	}
	if strings.Contains(lines[3], "%") || !strings.Contains(lines[3], "12.50") {
		t.Errorf("a figure whose limit is missing has no ratio: %q", lines[3])
	}
	if !strings.Contains(lines[4], "1.33") {
		t.Errorf("values are rounded: %q", lines[4])
	}
	if !strings.HasPrefix(lines[5], "ERROR") || !strings.Contains(lines[5], "it broke") {
		t.Errorf("error line: %q", lines[5])
	}
}

func TestJSONHoldsEveryFigureAndCount(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bench.json")
	if err := sampleReport().writeJSON(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got report
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Figures) != 4 || got.Figures[1].Ratio == nil || *got.Figures[1].Ratio != 0.25 || got.Figures[2].Ratio != nil {
		t.Errorf("figures: %+v", got.Figures)
	}
	if c := got.Requests["2 syncer N=10"]["host bench sync"]; c.Writes != 2 || c.ByVerb["get pods 404"] != 1 {
		t.Errorf("counts: %+v", got.Requests)
	}
	if len(got.Errors) != 1 {
		t.Errorf("errors: %v", got.Errors)
	}
}

func TestFormatting(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 1113: "1113", 23.94: "23.94", 842.6: "843", 0.0634: "0.0634", 1.0: "1"} {
		if got := formatValue(v); got != want {
			t.Errorf("formatValue(%v) = %q, want %q", v, got, want)
		}
	}
	for r, want := range map[float64]string{0.034: "3.4%", 0.85: "85.0%", 5.5: "5.5×", 1.999: "199.9%"} {
		if got := formatRatio(r); got != want {
			t.Errorf("formatRatio(%v) = %q, want %q", r, got, want)
		}
	}
}
