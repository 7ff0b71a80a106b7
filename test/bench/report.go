package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"text/tabwriter"
	"time"
)

// figure is one measured value.
type figure struct {
	Scenario string  `json:"scenario"`
	Name     string  `json:"name"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	// Ratio is Value over the scenario-1 figure named by Of, when one
	// compares.
	Ratio *float64 `json:"ratio,omitempty"`
	Of    string   `json:"of,omitempty"`
}

// report is everything one run measured: the figures of the table, and
// the request counts behind them.
type report struct {
	Started time.Time         `json:"started"`
	Flags   map[string]string `json:"flags"`
	CPUs    int               `json:"cpus"` // the machine's, not only those the bench may use
	Figures []figure          `json:"figures"`
	// Requests are the audit-log counts per scenario, then per
	// "<api server> <identity> <phase>".
	Requests map[string]map[string]counts `json:"requests"`
	// Errors are what failed; the figures of a failed scenario are left out.
	Errors []string `json:"errors,omitempty"`
}

// add records a figure of scenario.
func (r *report) add(scenario, name string, value float64, unit string) {
	r.Figures = append(r.Figures, figure{Scenario: scenario, Name: name, Value: value, Unit: unit})
}

// addRatio records a figure with its ratio to the limit figure of.
func (r *report) addRatio(scenario, name string, value float64, unit, of string) {
	f := figure{Scenario: scenario, Name: name, Value: value, Unit: unit, Of: of}
	if base, ok := r.find(limitScenario, of); ok && base != 0 {
		ratio := value / base
		f.Ratio = &ratio
	}
	r.Figures = append(r.Figures, f)
}

// find returns the value of a figure.
func (r *report) find(scenario, name string) (float64, bool) {
	for _, f := range r.Figures {
		if f.Scenario == scenario && f.Name == name {
			return f.Value, true
		}
	}
	return 0, false
}

// requests records the counts of one scenario.
func (r *report) requests(scenario, key string, c counts) {
	if r.Requests == nil {
		r.Requests = map[string]map[string]counts{}
	}
	if r.Requests[scenario] == nil {
		r.Requests[scenario] = map[string]counts{}
	}
	r.Requests[scenario][key] = c
}

// writeTable prints the figures, one a line, with their ratios.
func (r *report) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tFIGURE\tVALUE\tUNIT\tRATIO TO LIMIT")
	for _, f := range r.Figures {
		ratio := ""
		if f.Ratio != nil {
			ratio = fmt.Sprintf("%s of %s", formatRatio(*f.Ratio), f.Of)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Scenario, f.Name, formatValue(f.Value), f.Unit, ratio)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(tw, "ERROR\t%s\t\t\t\n", e)
	}
	return tw.Flush()
}

// writeJSON writes the whole report to path.
func (r *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// formatValue shows whole numbers whole, others to about three digits.
func formatValue(v float64) string {
	switch abs := math.Abs(v); {
	case v == math.Trunc(v) && abs < 1e15:
		return strconv.FormatInt(int64(v), 10)
	case abs >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case abs >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// formatRatio shows a ratio as a percentage, or as a multiple from 2 up.
func formatRatio(r float64) string {
	if r >= 2 {
		return strconv.FormatFloat(r, 'f', 1, 64) + "×"
	}
	return strconv.FormatFloat(r*100, 'f', 1, 64) + "%"
}
