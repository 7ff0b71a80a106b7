package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// auditPolicy records one event per finished request, without bodies: the
// bench counts requests by identity, verb, resource and response code.
// Watches end only when they are closed, so they are not counted.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Metadata
`

// auditArgs are the kube-apiserver flags that write the audit log to path
// with the policy in policyFile, synchronously and never rotated.
func auditArgs(policyFile, path string) map[string]string {
	return map[string]string{
		"audit-policy-file":   policyFile,
		"audit-log-path":      path,
		"audit-log-format":    "json",
		"audit-log-mode":      "blocking",
		"audit-log-maxsize":   "100000",
		"audit-log-maxbackup": "0",
	}
}

// request is one finished request of the audit log.
type request struct {
	User     string
	Verb     string
	Resource string
	Code     int
	Received time.Time
}

// auditEvent holds the fields of an audit.k8s.io/v1 Event the bench reads.
type auditEvent struct {
	Stage string `json:"stage"`
	Verb  string `json:"verb"`
	User  struct {
		Username string `json:"username"`
	} `json:"user"`
	ImpersonatedUser *struct {
		Username string `json:"username"`
	} `json:"impersonatedUser"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	RequestReceivedTimestamp time.Time `json:"requestReceivedTimestamp"`
}

// parseAudit reads an audit log of JSON lines: the finished requests, each
// under the identity it acted as (the impersonated user's, if any).
func parseAudit(r io.Reader) ([]request, error) {
	var out []request
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for line := 1; sc.Scan(); line++ {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var e auditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("audit log line %d: %w", line, err)
		}
		if e.Stage != "ResponseComplete" && e.Stage != "Panic" {
			continue
		}
		req := request{User: e.User.Username, Verb: e.Verb, Received: e.RequestReceivedTimestamp}
		if e.ImpersonatedUser != nil {
			req.User = e.ImpersonatedUser.Username
		}
		if e.ObjectRef != nil {
			req.Resource = e.ObjectRef.Resource
			if e.ObjectRef.Subresource != "" {
				req.Resource += "/" + e.ObjectRef.Subresource
			}
		}
		if e.ResponseStatus != nil {
			req.Code = e.ResponseStatus.Code
		}
		out = append(out, req)
	}
	return out, sc.Err()
}

// readAudit parses the audit log at path.
func readAudit(path string) ([]request, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	reqs, err := parseAudit(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return reqs, nil
}

// isWrite says whether verb changes what the API server stores.
func isWrite(verb string) bool {
	switch verb {
	case "create", "update", "patch", "delete", "deletecollection":
		return true
	}
	return false
}

// counts tallies the requests of one identity in one window.
type counts struct {
	// Requests excludes watches (see auditPolicy).
	Requests int `json:"requests"`
	Writes   int `json:"writes"`
	// NotFoundGets are GETs answered 404: reads that found nothing.
	NotFoundGets int `json:"notFoundGets"`
	// ByVerb counts "verb resource code", e.g. "patch pods 200".
	ByVerb map[string]int `json:"byVerb"`
}

// window is a span of time, from its start up to its end.
type window struct{ From, To time.Time }

func (w window) holds(t time.Time) bool { return !t.Before(w.From) && t.Before(w.To) }

// count tallies user's requests received within w.
func count(reqs []request, user string, w window) counts {
	c := counts{ByVerb: map[string]int{}}
	for _, r := range reqs {
		if r.User != user || r.Verb == "watch" || !w.holds(r.Received) {
			continue
		}
		c.Requests++
		if isWrite(r.Verb) {
			c.Writes++
		}
		if r.Verb == "get" && r.Code == 404 {
			c.NotFoundGets++
		}
		c.ByVerb[fmt.Sprintf("%s %s %d", r.Verb, r.Resource, r.Code)]++
	}
	return c
}

// firstWrite is when user's first write within w was received; zero if none.
func firstWrite(reqs []request, user string, w window) time.Time {
	var first time.Time
	for _, r := range reqs {
		if r.User == user && isWrite(r.Verb) && w.holds(r.Received) && (first.IsZero() || r.Received.Before(first)) {
			first = r.Received
		}
	}
	return first
}

// sinceStart is how long after w began, at a component's start, user
// wrote first; zero if it did not.
func sinceStart(reqs []request, user string, w window) time.Duration {
	first := firstWrite(reqs, user, w)
	if first.IsZero() {
		return 0
	}
	return first.Sub(w.From)
}
