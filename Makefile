# Nestor's Makefile. `make run` and `make test` are the two commands of the
# quick start; everything they need is built from the Go module proxy.

# Image the operator and the syncers run.
IMG ?= ghcr.io/nestor-dev/nestor:latest

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

CONTROLLER_GEN ?= $(CURDIR)/bin/controller-gen
KUBE_BIN_DIR := $(shell hack/kube-binaries.sh --print-dir)
CERT_MANAGER_DIR := $(shell hack/kube-binaries.sh --print-cert-manager-dir)
GO_TEST_FLAGS ?=
# The modes of the virtual clusters `make test-conformance` runs the
# Kubernetes conformance subset in, side by side.
CONFORMANCE_MODES ?= single multi
# A regular expression that selects the specs it matches instead of the
# subset's groups, such as the ones that failed last time (docs/conformance.md).
CONFORMANCE_FOCUS ?=
# Flags of `make bench`, such as BENCH_FLAGS="-pods=5000 -vcs=500 -scale=1" (docs/bench.md).
BENCH_FLAGS ?=

.PHONY: all
all: build

##@ Quick start

.PHONY: run
run: kube-binaries ## Run the operator: against the cluster of your kubeconfig, or a local control plane if there is none.
	go run ./hack/localrun

.PHONY: test
test: verify-generated kube-binaries vet ## Run every test: generated-file check, unit, envtest and boot tests.
	KUBEBUILDER_ASSETS=$(KUBE_BIN_DIR) NESTOR_CERT_MANAGER_DIR=$(CERT_MANAGER_DIR) go test $(GO_TEST_FLAGS) ./...

.PHONY: test-e2e
test-e2e: ## Run the end-to-end suite on a real single-node cluster it brings up (root; docs/e2e.md).
	hack/e2e/run.sh

.PHONY: test-conformance
test-conformance: ## Run a Kubernetes [Conformance] subset in a virtual cluster per mode (CONFORMANCE_MODES) on that node (root; about 20 minutes; docs/conformance.md).
	NESTOR_E2E_CONFORMANCE="$(CONFORMANCE_MODES)" NESTOR_E2E_CONFORMANCE_FOCUS='$(CONFORMANCE_FOCUS)' E2E_TEST_FLAGS="-test.run=^TestConformance$$ -test.timeout=5h" hack/e2e/run.sh

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRDs, the operator's RBAC and the webhook configuration.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths=./... \
		output:crd:artifacts:config=config/crd/bases \
		output:rbac:artifacts:config=config/rbac \
		output:webhook:artifacts:config=config/webhook

.PHONY: verify-generated
verify-generated: $(CONTROLLER_GEN) ## Fail when a generated file is stale.
	CONTROLLER_GEN=$(CONTROLLER_GEN) hack/verify-generated.sh

.PHONY: vet
vet: ## Run go vet and check formatting.
	go vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*')); \
		if [ -n "$$out" ]; then echo "gofmt would change: $$out" >&2; exit 1; fi

.PHONY: bench
bench: kube-binaries ## Measure the syncer and the operator against real API servers: a table, and bench.json (docs/bench.md; BENCH_FLAGS).
	KUBEBUILDER_ASSETS=$(KUBE_BIN_DIR) go run ./test/bench $(BENCH_FLAGS)

.PHONY: bench-go
bench-go: kube-binaries ## Run the Go benchmarks (go test -bench) and print their figures.
	KUBEBUILDER_ASSETS=$(KUBE_BIN_DIR) NESTOR_CERT_MANAGER_DIR=$(CERT_MANAGER_DIR) go test -run '^$$' -bench . -benchmem ./...

.PHONY: fuzz
fuzz: ## Fuzz the naming functions for a while (FUZZTIME, default 30s).
	go test ./internal/naming -run '^$$' -fuzz FuzzShorten -fuzztime $${FUZZTIME:-30s}

##@ Build

.PHONY: build
build: ## Build the nestor binary (static) into bin/.
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o bin/nestor ./cmd

.PHONY: docker-build
docker-build: ## Build the image (needs a Docker engine).
	docker build -t $(IMG) .

.PHONY: deploy
deploy: manifests ## Install Nestor into the cluster of your kubeconfig, with IMG.
	kubectl kustomize config/default | sed 's|ghcr.io/nestor-dev/nestor:latest|$(IMG)|g' | kubectl apply --server-side -f -

.PHONY: undeploy
undeploy: ## Remove Nestor from the cluster of your kubeconfig.
	kubectl kustomize config/default | kubectl delete --ignore-not-found -f -

##@ Tools

.PHONY: kube-binaries
kube-binaries: ## Build etcd, kube-apiserver and kube-controller-manager into bin/k8s (once).
	hack/kube-binaries.sh

$(CONTROLLER_GEN): hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && go build -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
