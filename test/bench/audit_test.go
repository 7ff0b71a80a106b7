package main

import (
	"strings"
	"testing"
	"time"
)

// auditLog holds events as kube-apiserver writes them at Metadata level,
// one JSON object a line.
const auditLog = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","stage":"ResponseComplete","verb":"get","user":{"username":"system:serviceaccount:tenant:vc-bench"},"objectRef":{"resource":"pods","namespace":"tenant","name":"a"},"responseStatus":{"metadata":{},"code":404},"requestReceivedTimestamp":"2026-12-02T10:00:00.100000Z","stageTimestamp":"2026-12-02T10:00:00.101000Z"}
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","stage":"ResponseComplete","verb":"patch","user":{"username":"system:serviceaccount:tenant:vc-bench"},"objectRef":{"resource":"pods","namespace":"tenant","name":"a"},"responseStatus":{"metadata":{},"code":201},"requestReceivedTimestamp":"2026-12-02T10:00:00.200000Z","stageTimestamp":"2026-12-02T10:00:00.210000Z"}

{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","stage":"ResponseComplete","verb":"update","user":{"username":"admin"},"impersonatedUser":{"username":"system:serviceaccount:tenant:vc-bench"},"objectRef":{"resource":"pods","subresource":"status","namespace":"tenant","name":"a"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-12-02T10:00:01.500000Z","stageTimestamp":"2026-12-02T10:00:01.510000Z"}
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","stage":"ResponseStarted","verb":"watch","user":{"username":"system:serviceaccount:tenant:vc-bench"},"objectRef":{"resource":"pods"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-12-02T10:00:00.300000Z","stageTimestamp":"2026-12-02T10:00:00.300000Z"}
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","stage":"ResponseComplete","verb":"watch","user":{"username":"system:serviceaccount:tenant:vc-bench"},"objectRef":{"resource":"pods"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-12-02T10:00:00.300000Z","stageTimestamp":"2026-12-02T10:05:00.300000Z"}
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","stage":"ResponseComplete","verb":"create","user":{"username":"someone-else"},"objectRef":{"resource":"secrets"},"responseStatus":{"metadata":{},"code":201},"requestReceivedTimestamp":"2026-12-02T10:00:00.400000Z","stageTimestamp":"2026-12-02T10:00:00.410000Z"}
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","stage":"ResponseComplete","verb":"get","user":{"username":"system:serviceaccount:tenant:vc-bench"},"requestURI":"/api","responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-12-02T10:00:00.050000Z","stageTimestamp":"2026-12-02T10:00:00.051000Z"}
`

const syncerUser = "system:serviceaccount:tenant:vc-bench"

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, "2026-12-02T"+s+"Z")
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseAuditKeepsFinishedRequestsUnderTheirIdentity(t *testing.T) {
	reqs, err := parseAudit(strings.NewReader(auditLog))
	if err != nil {
		t.Fatal(err)
	}
	// The ResponseStarted stage of the watch is not a request of its own.
	if len(reqs) != 6 {
		t.Fatalf("got %d requests, want 6: %+v", len(reqs), reqs)
	}
	status := reqs[2]
	if status.User != syncerUser || status.Resource != "pods/status" || status.Code != 200 || !status.Received.Equal(at("10:00:01.5")) {
		t.Errorf("the impersonated status update was read as %+v", status)
	}
}

func TestCountTalliesOneIdentityInAWindow(t *testing.T) {
	reqs, err := parseAudit(strings.NewReader(auditLog))
	if err != nil {
		t.Fatal(err)
	}
	c := count(reqs, syncerUser, window{at("10:00:00"), at("10:00:01")})
	// The discovery GET, the 404 and the apply; not the watch, the other
	// user's create, or the status update after the window.
	if c.Requests != 3 || c.Writes != 1 || c.NotFoundGets != 1 {
		t.Errorf("got %d requests, %d writes, %d 404s; want 3, 1, 1", c.Requests, c.Writes, c.NotFoundGets)
	}
	if c.ByVerb["patch pods 201"] != 1 || c.ByVerb["get pods 404"] != 1 || c.ByVerb["get  200"] != 1 {
		t.Errorf("by verb: %v", c.ByVerb)
	}
	all := count(reqs, syncerUser, window{at("10:00:00"), at("10:01:00")})
	if all.Writes != 2 || all.ByVerb["update pods/status 200"] != 1 {
		t.Errorf("the whole minute: %+v", all)
	}
	if first := firstWrite(reqs, syncerUser, window{at("10:00:00"), at("10:01:00")}); !first.Equal(at("10:00:00.2")) {
		t.Errorf("first write at %v, want 10:00:00.2", first)
	}
	if first := firstWrite(reqs, "nobody", window{at("10:00:00"), at("10:01:00")}); !first.IsZero() {
		t.Errorf("a user who wrote nothing wrote first at %v", first)
	}
}

func TestParseAuditNamesTheBrokenLine(t *testing.T) {
	_, err := parseAudit(strings.NewReader(auditLog + "{not json\n"))
	if err == nil || !strings.Contains(err.Error(), "line 9") {
		t.Errorf("got %v, want an error naming line 9", err)
	}
}
