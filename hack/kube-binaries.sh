#!/usr/bin/env bash
# Builds etcd, kube-apiserver and kube-controller-manager from the Go module
# proxy (see hack/kube/go.mod) and caches them under bin/k8s/<version>-<os>-<arch>.
# envtest and `make run` use that directory as KUBEBUILDER_ASSETS. With --node
# it also builds what a real node runs for the end-to-end suite: kubelet,
# kube-scheduler, kube-proxy, kubectl, and CoreDNS (hack/coredns/go.mod).
# With --conformance it builds what `make test-conformance` runs
# (docs/conformance.md): the Kubernetes e2e test binary e2e.test, the ginkgo
# CLI at the version that binary was written for, and agnhost, the command of
# the e2e tests' main image.
# It also builds cert-manager's controller (hack/cert-manager/go.mod) and its
# CRDs, rendered to plain YAML, into bin/cert-manager/<version>-<os>-<arch>
# for the tests that run cert-manager (--print-cert-manager-dir prints it).
# A binary that is present and reports the pinned version is kept; anything
# else is rebuilt.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/hack/kube"
version=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$mod/go.mod")
etcd_version=$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2 }' "$mod/go.mod")
platform="$(go env GOOS)-$(go env GOARCH)"
dir="$root/bin/k8s/${version#v}-$platform"
cm_mod="$root/hack/cert-manager"
cm_version=$(awk '$1 == "github.com/cert-manager/cert-manager" { print $2 }' "$cm_mod/go.mod")
cm_dir="$root/bin/cert-manager/${cm_version#v}-$platform"

case "${1:-}" in
--print-dir)
	echo "$dir"
	exit 0
	;;
--print-cert-manager-dir)
	echo "$cm_dir"
	exit 0
	;;
esac

major=${version#v}; major=${major%%.*}
minor=${version#v*.}; minor=${minor%%.*}
ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=$version \
 -X k8s.io/component-base/version.gitMajor=$major \
 -X k8s.io/component-base/version.gitMinor=$minor \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"

mkdir -p "$dir" "$cm_dir"

# version_of <binary> prints what the binary says its version is. (The callers
# read all of it: grep -q would stop early and fail the pipe.)
version_of() {
	case $(basename "$1") in
	kubectl) "$1" version --client 2>/dev/null ;;
	# cert-manager's controller has no --version; its build info names the
	# module it was built from.
	controller) go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $2, $3 }' ;;
	ginkgo) "$1" version 2>/dev/null ;;
	*) "$1" --version 2>/dev/null ;;
	esac
}

# build <binary> <package> <expected version string> [module directory]
# builds into $dir with $ldflags; a caller may set either for one call. A
# binary named *.test is the package's test binary.
build() {
	local bin=$1 pkg=$2 want=$3 mod=${4:-$mod}
	if [ -x "$dir/$bin" ] && version_of "$dir/$bin" | grep -F "$want" >/dev/null; then
		return 0
	fi
	echo "building $bin $want (first build takes several minutes)" >&2
	local start=$SECONDS
	local gocmd=(build)
	[[ $bin == *.test ]] && gocmd=(test -c)
	(cd "$mod" && CGO_ENABLED=0 go "${gocmd[@]}" -trimpath -ldflags "$ldflags" -o "$dir/.$bin.tmp" "$pkg")
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

if [ "${1:-}" = "--conformance" ]; then
	# e2e.test --version prints the gitVersion its ldflags stamped.
	build e2e.test k8s.io/kubernetes/test/e2e "$version"
	ginkgo_version=$(awk '$1 == "github.com/onsi/ginkgo/v2" { print $2 }' "$mod/go.mod")
	build ginkgo github.com/onsi/ginkgo/v2/ginkgo "Ginkgo Version ${ginkgo_version#v}"
	# agnhost's version is the tag of its image, kept beside its source.
	agnhost_version=$(cat "$(cd "$mod" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/test/images/agnhost/VERSION")
	ldflags="-s -w -X main.Version=$agnhost_version" \
		build agnhost k8s.io/kubernetes/test/images/agnhost "app version $agnhost_version"
fi

# cert-manager keeps its version in a variable of its own; the Kubernetes
# ldflags above do not apply to it.
dir=$cm_dir ldflags="-s -w -X github.com/cert-manager/cert-manager/pkg/util.AppVersion=$cm_version" \
	build controller github.com/cert-manager/cert-manager/cmd/controller \
	"github.com/cert-manager/cert-manager $cm_version" "$cm_mod"

# The CRDs ship as Helm templates whose only templated lines are labels:
# fill those in as the released static manifests do, and drop the comment
# that pulls in more. Rendered aside and moved into place, so a crds
# directory that exists is complete.
if [ ! -d "$cm_dir/crds" ]; then
	src=$(cd "$cm_mod" && go mod download github.com/cert-manager/cert-manager &&
		go list -m -f '{{.Dir}}' github.com/cert-manager/cert-manager)/deploy/crds
	rm -rf "$cm_dir/.crds.tmp"
	mkdir -p "$cm_dir/.crds.tmp"
	for f in "$src"/crd-*.yaml; do
		sed -e 's/{{ template "cert-manager.name" . }}/cert-manager/' \
			-e 's/{{ .Release.Name }}/cert-manager/' \
			-e '/# Generated labels {{/d' "$f" >"$cm_dir/.crds.tmp/$(basename "$f")"
	done
	if grep -l '{{' "$cm_dir"/.crds.tmp/*.yaml >&2; then
		echo "cert-manager CRDs above still hold Helm templates" >&2
		exit 1
	fi
	mv "$cm_dir/.crds.tmp" "$cm_dir/crds"
fi
