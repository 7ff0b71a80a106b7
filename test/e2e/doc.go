// Package e2e is Nestor's end-to-end suite: it runs on a real single-node
// cluster that hack/e2e/run.sh (`make test-e2e`) brings up, and its tests
// are built only with the e2e build tag. docs/e2e.md says what it covers.
package e2e
