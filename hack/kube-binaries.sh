#!/usr/bin/env bash
# Builds etcd, kube-apiserver and kube-controller-manager from the Go module
# proxy (see hack/kube/go.mod) and caches them under bin/k8s/<version>-<os>-<arch>.
# envtest and `make run` use that directory as KUBEBUILDER_ASSETS. With --node
# it also builds what a real node runs for the end-to-end suite: kubelet,
# kube-scheduler, kube-proxy, kubectl, and CoreDNS (hack/coredns/go.mod).
# A binary that is present and reports the pinned version is kept; anything
# else is rebuilt.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/hack/kube"
version=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$mod/go.mod")
etcd_version=$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2 }' "$mod/go.mod")
dir="$root/bin/k8s/${version#v}-$(go env GOOS)-$(go env GOARCH)"

if [ "${1:-}" = "--print-dir" ]; then
	echo "$dir"
	exit 0
fi

major=${version#v}; major=${major%%.*}
minor=${version#v*.}; minor=${minor%%.*}
ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=$version \
 -X k8s.io/component-base/version.gitMajor=$major \
 -X k8s.io/component-base/version.gitMinor=$minor \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"

mkdir -p "$dir"

# version_of <binary> prints what the binary says its version is. (The callers
# read all of it: grep -q would stop early and fail the pipe.)
version_of() {
	case $(basename "$1") in
	kubectl) "$1" version --client 2>/dev/null ;;
	*) "$1" --version 2>/dev/null ;;
	esac
}

# build <binary> <package> <expected version string> [module directory]
build() {
	local bin=$1 pkg=$2 want=$3 mod=${4:-$mod}
	if [ -x "$dir/$bin" ] && version_of "$dir/$bin" | grep -F "$want" >/dev/null; then
		return 0
	fi
	echo "building $bin $want (first build takes several minutes)" >&2
	local start=$SECONDS
	(cd "$mod" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$dir/.$bin.tmp" "$pkg")
	mv "$dir/.$bin.tmp" "$dir/$bin"
	if ! version_of "$dir/$bin" | grep -F "$want" >/dev/null; then
		echo "$bin does not report $want: $(version_of "$dir/$bin" | head -n1)" >&2
		exit 1
	fi
	echo "built $bin in $((SECONDS - start))s" >&2
}

build etcd go.etcd.io/etcd/server/v3 "etcd Version: ${etcd_version#v}"
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "Kubernetes $version"
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "Kubernetes $version"

if [ "${1:-}" = "--node" ]; then
	build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "Kubernetes $version"
	build kube-proxy k8s.io/kubernetes/cmd/kube-proxy "Kubernetes $version"
	build kubectl k8s.io/kubernetes/cmd/kubectl "Client Version: $version"
	build kubelet k8s.io/kubernetes/cmd/kubelet "Kubernetes $version"
	coredns_version=$(awk '$1 == "github.com/coredns/coredns" { print $2 }' "$root/hack/coredns/go.mod")
	build coredns github.com/coredns/coredns "CoreDNS-${coredns_version#v}" "$root/hack/coredns"
fi
