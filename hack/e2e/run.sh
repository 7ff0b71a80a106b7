#!/usr/bin/env bash
# `make test-e2e`: builds what the end-to-end suite needs (cached under bin/),
# brings up a single-node cluster in a network namespace of its own, runs the
# suite (test/e2e) against it, and tears it all down — also when the suite
# fails or the run is interrupted — then checks that nothing was left behind
# and that no image was pulled. docs/e2e.md says what it covers.
# E2E_TEST_FLAGS adds flags to the test binary, e.g. -test.run=TestNestor/modes/single.
# NESTOR_E2E_CONFORMANCE, the modes `make test-conformance` runs the
# Kubernetes conformance subset in (docs/conformance.md), adds what that needs;
# NESTOR_E2E_CONFORMANCE_FOCUS selects the specs it matches instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
source hack/e2e/env.sh
if [ "$(id -u)" -ne 0 ]; then
	echo "make test-e2e runs a real node (containerd, kubelet, network namespaces): run it as root" >&2
	exit 1
fi
start=$SECONDS

# --- build ---------------------------------------------------------------------
hack/e2e/install-deps.sh
hack/kube-binaries.sh --node
k8s=$(hack/kube-binaries.sh --print-dir)
cert_manager=$(hack/kube-binaries.sh --print-cert-manager-dir)
version=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' hack/kube/go.mod)
etcd_image=$(grep -o 'registry.k8s.io/etcd:[^"]*' internal/controlplane/statefulset.go | head -n1)
coredns_image=$(grep -o 'registry.k8s.io/coredns/coredns:[^"]*' internal/controlplane/dns.go | head -n1)
out=$root/bin/e2e
mkdir -p "$out/images"
# The operator's binary, built as the Dockerfile builds it.
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$out/nestor" ./cmd
CGO_ENABLED=0 go build -trimpath -o "$out/testapp" ./test/e2e/testapp
go build -o "$out/mkimage" ./hack/e2e/mkimage
go test -tags e2e -c -o "$out/e2e.test" ./test/e2e
image() { # image NAME REF [mkimage flags and files]
	local name=$1 ref=$2
	shift 2
	"$out/mkimage" -o "$out/images/$name.tar" -tag "$ref" "$@"
}
# Tagged as config/default and the samples name them, so both run unmodified.
image nestor "ghcr.io/nestor-dev/nestor:$E2E_IMAGE_TAG" -user 65532 -entrypoint /nestor "$out/nestor=/nestor"
image etcd "$etcd_image" "$k8s/etcd=/usr/local/bin/etcd"
image kube-apiserver "registry.k8s.io/kube-apiserver:$version" "$k8s/kube-apiserver=/usr/local/bin/kube-apiserver"
image kube-controller-manager "registry.k8s.io/kube-controller-manager:$version" "$k8s/kube-controller-manager=/usr/local/bin/kube-controller-manager"
image pause "nestor.e2e/pause:$E2E_IMAGE_TAG" -user 65535 -entrypoint /testapp -entrypoint pause "$out/testapp=/testapp"
# CoreDNS serves the host (test/e2e/manifests/coredns.yaml) and, under the
# reference the virtual clusters' DNS defaults to, each virtual cluster.
image coredns "nestor.e2e/coredns:$E2E_IMAGE_TAG" -tag "$coredns_image" -user 65532 -entrypoint /coredns "$k8s/coredns=/coredns"
image testapp "nestor.e2e/testapp:$E2E_IMAGE_TAG" -user 65532 -entrypoint /testapp "$out/testapp=/testapp"
# The suite installs cert-manager on the host (test/e2e/manifests/cert-manager.yaml).
image cert-manager-controller "nestor.e2e/cert-manager-controller:$E2E_IMAGE_TAG" -user 65532 -entrypoint /controller "$cert_manager/controller=/controller"
image_dirs=("$out/images")
if [ -n "${NESTOR_E2E_CONFORMANCE:-}" ]; then
	hack/kube-binaries.sh --conformance
	image_dirs+=("$out/conformance/images")
	hack/e2e/conformance-images.sh "$out/conformance/images"
fi
echo "e2e: built in $((SECONDS - start))s" >&2

# --- node ---------------------------------------------------------------------------
hack/e2e/node-down.sh # what an interrupted earlier run may have left
mkdir -p "$E2E_STATE"
ls /run/netns 2>/dev/null >"$E2E_STATE/netns-before" || true
chains_before=$(mktemp)
iptables_chains >"$chains_before"

rc=0
child=
finish() {
	local status=$?
	[ "$rc" = 0 ] && rc=$status # a step that failed under set -e
	trap '' INT TERM # a second Ctrl-C must not cut the teardown short
	trap - EXIT
	set +e # tear down whatever fails
	if [ -n "$child" ]; then
		kill -TERM "$child" 2>/dev/null
		wait "$child"
	fi
	hack/e2e/node-down.sh
	hack/e2e/leftovers.sh "$chains_before" || rc=1
	rm -f "$chains_before"
	echo "e2e: done in $((SECONDS - start))s" >&2
	exit "$rc"
}
trap finish EXIT
trap 'rc=130; finish' INT TERM

ip netns add "$E2E_NETNS"
node_start=$SECONDS
# The node's processes share a mount namespace of their own, so their mounts
# go with them; `ip netns exec` would remount /sys and hide the cgroups.
in_netns=(nsenter --net="/run/netns/$E2E_NETNS")
# step COMMAND...: run COMMAND in the background and wait for it, so that a
# signal reaches the trap at once rather than when COMMAND ends, and the
# trap can stop COMMAND (nsenter, unshare and env exec what they run).
step() {
	"$@" &
	child=$!
	local status=0
	wait "$child" || status=$?
	child=
	return "$status"
}
step "${in_netns[@]}" unshare --mount --propagation slave hack/e2e/node-up.sh "${image_dirs[@]}" || { rc=$?; exit; }
echo "e2e: node up in $((SECONDS - node_start))s" >&2

# --- suite ---------------------------------------------------------------------------
# shellcheck disable=SC2086
step "${in_netns[@]}" env \
	KUBECONFIG="$E2E_STATE/pki/admin.kubeconfig" NESTOR_E2E_KUBECTL="$k8s/kubectl" \
	NESTOR_E2E_LOGS="$E2E_STATE/logs" NESTOR_E2E_IMAGE_TAG="$E2E_IMAGE_TAG" NESTOR_E2E_ROOT="$root" \
	NESTOR_E2E_CERT_MANAGER="$cert_manager" NESTOR_E2E_CONFORMANCE="${NESTOR_E2E_CONFORMANCE:-}" NESTOR_E2E_K8S="$k8s" \
	NESTOR_E2E_CONFORMANCE_FOCUS="${NESTOR_E2E_CONFORMANCE_FOCUS:-}" \
	"$out/e2e.test" -test.v -test.timeout 45m ${E2E_TEST_FLAGS:-} || rc=$?

# No image may have been pulled: every registry points at a closed port, and
# containerd logs each request.
pulls=$(grep -c 'PullImage' "$E2E_STATE/logs/containerd.log" || true)
if [ "$pulls" != 0 ]; then
	echo "e2e: containerd was asked to pull $pulls time(s):" >&2
	rc=1
	grep 'PullImage' "$E2E_STATE/logs/containerd.log" | head -n 10 >&2
else
	echo "e2e: no image was pulled"
fi
