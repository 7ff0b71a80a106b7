// Package conformance names the groups of Kubernetes e2e specs that `make
// test-conformance` runs inside a virtual cluster, and turns the JUnit report
// of such a run into passed, failed and skipped counts per group
// (docs/conformance.md).
package conformance

import (
	"encoding/xml"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
)

// Group is a set of e2e specs counted together.
type Group struct {
	Name string
	// Prefix is a regular expression that the full text of each of the
	// group's specs starts with: its SIG and its top-level containers.
	Prefix string
	// All selects every spec of the group, not only its [Conformance] ones.
	All bool
}

// Groups are what `make test-conformance` selects: the everyday
// Kubernetes a tenant uses. kubectl exec and port-forward have no
// [Conformance] specs, so all of theirs are taken.
var Groups = []Group{
	{Name: "Pods", Prefix: `\[sig-node\] Pods `},
	{Name: "ConfigMap", Prefix: `\[sig-(node|storage)\] ConfigMap `},
	{Name: "Secrets", Prefix: `\[sig-(node|storage)\] Secrets `},
	{Name: "Downward API", Prefix: `\[sig-(node|storage)\] Downward API`},
	{Name: "Projected", Prefix: `\[sig-storage\] Projected `},
	{Name: "Services", Prefix: `\[sig-network\] Services `},
	{Name: "DNS", Prefix: `\[sig-network\] DNS `},
	{Name: "Container Lifecycle Hook", Prefix: `\[sig-node\] Container Lifecycle Hook `},
	{Name: "Kubectl logs", Prefix: `\[sig-cli\] Kubectl logs `},
	{Name: "Kubectl exec", Prefix: `\[sig-cli\] Kubectl client Simple pod should support exec`, All: true},
	{Name: "Kubectl port-forward", Prefix: `\[sig-cli\] Kubectl Port forwarding `, All: true},
}

// Skip is the ginkgo skip expression: specs that must run alone or break
// the cluster cannot share it with parallel ones, and slow, flaky or
// feature-gated specs are not part of the measure.
const Skip = `\[Serial\]|\[Disruptive\]|\[Slow\]|\[Flaky\]|\[Feature:`

// Focus is the ginkgo focus expression that selects the groups' specs. It
// is not anchored: ginkgo matches it against the suite's description, a
// space and the spec's full text.
func Focus(groups []Group) string {
	alts := make([]string, len(groups))
	for i, g := range groups {
		alts[i] = g.Prefix
		if !g.All {
			alts[i] += `.*\[Conformance\]`
		}
	}
	return "(" + strings.Join(alts, ")|(") + ")"
}

// Counts are a group's specs by outcome.
type Counts struct {
	Group                   string
	Passed, Failed, Skipped int
}

// Failure is a spec that failed, or a suite node (such as the
// [SynchronizedBeforeSuite]) that did, with its failure text.
type Failure struct {
	Group, Name, Message string
}

// Summary is a run's outcome per group, in the order of the groups given.
type Summary struct {
	Groups   []Counts
	Failures []Failure
}

// junit is the part of ginkgo's JUnit report a summary reads.
type junit struct {
	Suites []struct {
		Cases []struct {
			Name    string `xml:"name,attr"`
			Status  string `xml:"status,attr"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
			Failure *struct {
				Text string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Text string `xml:",chardata"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// leafType is how ginkgo's JUnit names start: the type of the spec's node.
var leafType = regexp.MustCompile(`^\[[A-Za-z]+\] `)

// Summarize reads a JUnit report that ginkgo wrote (the e2e binary's
// junit_01.xml) and counts its specs per group. A spec the focus or skip
// expression left out is listed as skipped with no reason, and is not
// counted; one that skipped itself at run time gives its reason and is.
func Summarize(r io.Reader, groups []Group) (Summary, error) {
	var report junit
	if err := xml.NewDecoder(r).Decode(&report); err != nil {
		return Summary{}, fmt.Errorf("reading the JUnit report: %w", err)
	}
	prefixes := make([]*regexp.Regexp, len(groups))
	s := Summary{Groups: make([]Counts, len(groups))}
	for i, g := range groups {
		re, err := regexp.Compile("^" + g.Prefix)
		if err != nil {
			return Summary{}, fmt.Errorf("group %s: %w", g.Name, err)
		}
		prefixes[i] = re
		s.Groups[i].Group = g.Name
	}
	for _, suite := range report.Suites {
		for _, c := range suite.Cases {
			if c.Skipped != nil && (c.Skipped.Message == "skipped" || c.Skipped.Message == "pending") {
				continue
			}
			text := leafType.ReplaceAllString(c.Name, "")
			var counts *Counts
			for i, re := range prefixes {
				if re.MatchString(text) {
					counts = &s.Groups[i]
					break
				}
			}
			var failure string
			switch {
			case c.Failure != nil:
				failure = c.Failure.Text
			case c.Error != nil:
				failure = c.Error.Text
			}
			switch {
			case failure != "" || c.Status == "failed":
				group := ""
				if counts != nil {
					counts.Failed++
					group = counts.Group
				}
				s.Failures = append(s.Failures, Failure{Group: group, Name: c.Name, Message: strings.TrimSpace(failure)})
			case counts == nil:
				// A suite node that passed.
			case c.Skipped != nil:
				counts.Skipped++
			default:
				counts.Passed++
			}
		}
	}
	return s, nil
}

// Table writes the counts as a table with a total line, and each failure
// with the first lines of its text.
func (s Summary) Table(w io.Writer, failureLines int) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	var total Counts
	fmt.Fprintln(tw, "group\tpassed\tfailed\tskipped\t")
	for _, c := range s.Groups {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", c.Group, c.Passed, c.Failed, c.Skipped)
		total.Passed += c.Passed
		total.Failed += c.Failed
		total.Skipped += c.Skipped
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t\n", total.Passed, total.Failed, total.Skipped)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, f := range s.Failures {
		lines := strings.Split(f.Message, "\n")
		if len(lines) > failureLines {
			lines = lines[:failureLines]
		}
		if _, err := fmt.Fprintf(w, "\nFAILED %s\n    %s\n", f.Name, strings.Join(lines, "\n    ")); err != nil {
			return err
		}
	}
	return nil
}
