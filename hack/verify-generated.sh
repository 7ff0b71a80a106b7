#!/usr/bin/env bash
# Fails when a generated file (CRDs, RBAC, webhook manifests, deepcopy) is
# out of date with the code it is generated from. It regenerates into a
# temporary directory and compares, so it never touches the working tree.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
gen=${CONTROLLER_GEN:-bin/controller-gen}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$gen" object:headerFile=hack/boilerplate.go.txt paths=./api/... output:object:dir="$tmp/object"
"$gen" rbac:roleName=manager-role crd webhook paths=./... \
	output:crd:artifacts:config="$tmp/crd" \
	output:rbac:artifacts:config="$tmp/rbac" \
	output:webhook:artifacts:config="$tmp/webhook"

stale=0
check() { # check <generated dir> <committed dir> <glob>
	local gen_dir=$1 dir=$2 glob=$3 f
	for f in "$gen_dir"/$glob; do
		[ -e "$f" ] || continue
		if ! diff -u "$dir/$(basename "$f")" "$f" >"$tmp/diff" 2>&1; then
			echo "stale: $dir/$(basename "$f")" >&2
			head -n 40 "$tmp/diff" >&2
			stale=1
		fi
	done
	for f in "$dir"/$glob; do
		[ -e "$f" ] || continue
		if [ ! -e "$gen_dir/$(basename "$f")" ]; then
			echo "stale: $f is no longer generated" >&2
			stale=1
		fi
	done
}
check "$tmp/object" api/v1alpha1 'zz_generated.deepcopy.go'
check "$tmp/crd" config/crd/bases '*.yaml'
check "$tmp/rbac" config/rbac 'role.yaml'
check "$tmp/webhook" config/webhook 'manifests.yaml'

if [ "$stale" -ne 0 ]; then
	echo "generated files are stale: run 'make generate manifests' and commit the result" >&2
	exit 1
fi
echo "generated files are up to date"
