package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// sample is one line of the Prometheus text format: a metric's name, its
// labels and its value.
type sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// parseMetrics reads the Prometheus text exposition format. It skips
// comments and keeps the samples of the metrics that keep says to.
func parseMetrics(r io.Reader, keep func(name string) bool) ([]sample, error) {
	var out []sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseSample(line, keep)
		if err != nil {
			return nil, err
		}
		if s != nil {
			out = append(out, *s)
		}
	}
	return out, sc.Err()
}

func parseSample(line string, keep func(string) bool) (*sample, error) {
	name, rest := line, ""
	if i := strings.IndexAny(line, "{ "); i >= 0 {
		name, rest = line[:i], line[i:]
	}
	if !keep(name) {
		return nil, nil
	}
	s := &sample{Name: name, Labels: map[string]string{}}
	if strings.HasPrefix(rest, "{") {
		end := strings.LastIndex(rest, "}")
		if end < 0 {
			return nil, fmt.Errorf("metric line %q: unclosed labels", line)
		}
		if err := parseLabels(rest[1:end], s.Labels); err != nil {
			return nil, fmt.Errorf("metric line %q: %w", line, err)
		}
		rest = rest[end+1:]
	}
	// The value, then an optional timestamp.
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return nil, fmt.Errorf("metric line %q: no value", line)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return nil, fmt.Errorf("metric line %q: %w", line, err)
	}
	s.Value = v
	return s, nil
}

// parseLabels reads name="value" pairs separated by commas; values may
// hold escaped quotes and commas.
func parseLabels(text string, into map[string]string) error {
	for text = strings.TrimSpace(text); text != ""; text = strings.TrimLeft(strings.TrimSpace(text), ",") {
		eq := strings.Index(text, "=")
		if eq < 0 || len(text) < eq+2 || text[eq+1] != '"' {
			return fmt.Errorf("label %q is not name=\"value\"", text)
		}
		name := strings.TrimSpace(text[:eq])
		var value strings.Builder
		i := eq + 2
		for ; i < len(text) && text[i] != '"'; i++ {
			if text[i] == '\\' && i+1 < len(text) {
				i++
				switch text[i] {
				case 'n':
					value.WriteByte('\n')
				default:
					value.WriteByte(text[i])
				}
				continue
			}
			value.WriteByte(text[i])
		}
		if i >= len(text) {
			return fmt.Errorf("label %s: unclosed value", name)
		}
		into[name] = value.String()
		text = text[i+1:]
	}
	return nil
}

// workqueueMetrics are the controller-runtime workqueue metrics the bench
// reads, per controller (label "name").
var workqueueMetrics = map[string]bool{
	"workqueue_depth":                        true,
	"workqueue_adds_total":                   true,
	"workqueue_work_duration_seconds_sum":    true,
	"workqueue_queue_duration_seconds_sum":   true,
	"workqueue_queue_duration_seconds_count": true,
}

// queues is one scrape of the workqueue metrics: metric name, then
// controller name, to value.
type queues map[string]map[string]float64

// scrapeQueues reads the workqueue metrics at url.
func scrapeQueues(client *http.Client, url string) (queues, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	samples, err := parseMetrics(resp.Body, func(name string) bool { return workqueueMetrics[name] })
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	q := queues{}
	for _, s := range samples {
		if q[s.Name] == nil {
			q[s.Name] = map[string]float64{}
		}
		q[s.Name][s.Labels["name"]] += s.Value
	}
	return q, nil
}
