#!/usr/bin/env bash
# Builds etcd, kube-apiserver and kube-controller-manager from the Go module
# proxy (see hack/kube/go.mod) and caches them under bin/k8s/<version>-<os>-<arch>.
# envtest and `make run` use that directory as KUBEBUILDER_ASSETS. A binary that
# is present and reports the pinned version is kept; anything else is rebuilt.
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

# build <binary> <package> <expected version string>
build() {
	local bin=$1 pkg=$2 want=$3
	if [ -x "$dir/$bin" ] && "$dir/$bin" --version 2>/dev/null | grep -qF "$want"; then
		return 0
	fi
	echo "building $bin $want (first build takes several minutes)" >&2
	local start=$SECONDS
	(cd "$mod" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$dir/.$bin.tmp" "$pkg")
	mv "$dir/.$bin.tmp" "$dir/$bin"
	if ! "$dir/$bin" --version 2>/dev/null | grep -qF "$want"; then
		echo "$bin does not report $want: $("$dir/$bin" --version 2>&1 | head -n1)" >&2
		exit 1
	fi
	echo "built $bin in $((SECONDS - start))s" >&2
}

build etcd go.etcd.io/etcd/server/v3 "etcd Version: ${etcd_version#v}"
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "Kubernetes $version"
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "Kubernetes $version"
