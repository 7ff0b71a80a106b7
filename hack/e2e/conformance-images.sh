#!/usr/bin/env bash
# Packs the images that the Kubernetes e2e specs of `make test-conformance`
# run (docs/conformance.md) into $1, under the exact references
# k8s.io/kubernetes/test/utils/image/manifest.go gives them at the pinned
# version, so that the node runs them without pulling. They are stand-ins
# built here: agnhost from its source (hack/kube-binaries.sh --conformance),
# and a shell, nc, dig, getent and curl for the images that run shell
# scripts, from Debian's busybox-static, bash-static, netcat-openbsd and
# bind9-dnsutils (fetched once with apt-get download, with the dependencies
# the host lacks) and the host's own
# getent and curl, each with the shared libraries ldd finds for it.
# Usage: conformance-images.sh IMAGE_DIR (run.sh has built bin/e2e/mkimage
# and bin/e2e/testapp).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$1
e2e=$root/bin/e2e
k8s=$("$root/hack/kube-binaries.sh" --print-dir)
manifest=$(cd "$root/hack/kube" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/test/utils/image/manifest.go
mkdir -p "$out"

# ref ID prints the reference manifest.go gives image ID, such as
# registry.k8s.io/e2e-test-images/agnhost:2.66.1 for Agnhost.
ref() {
	local line list name version registry
	line=$(grep -E "^\s*configs\[$1\] = Config\{list\.[A-Za-z0-9]+, \"[^\"]+\", \"[^\"]+\"\}" "$manifest") ||
		{ echo "conformance-images: no image $1 in $manifest" >&2; return 1; }
	read -r list name version < <(sed -E 's/.*list\.([A-Za-z0-9]+), "([^"]+)", "([^"]+)".*/\1 \2 \3/' <<<"$line")
	registry=$(sed -nE "s|^\s*$list:\s*\"([^\"]+)\",.*|\1|p" "$manifest")
	[ -n "$registry" ] || { echo "conformance-images: no registry $list in $manifest" >&2; return 1; }
	echo "$registry/$name:$version"
}

# Debian's files, unpacked once: busybox, bash, OpenBSD's nc, and dig, with
# those of their dependencies this host lacks (BIND's libraries, and what a
# security update of them adds). $debian/packages lists what was fetched.
debian=$e2e/conformance/debian
packages=(busybox-static bash-static netcat-openbsd bind9-dnsutils)
lacking() {
	apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
		--no-replaces --no-enhances "$@" | grep '^[a-z0-9]' | sort -u | while read -r pkg; do
		dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q 'install ok installed' || echo "$pkg"
	done
}
if [ ! -f "$debian/packages" ]; then
	rm -rf "$debian.tmp"
	mkdir -p "$debian.tmp/debs"
	mapfile -t fetch < <({ printf '%s\n' "${packages[@]}"; lacking "${packages[@]}"; } | sort -u)
	(cd "$debian.tmp/debs" && apt-get download "${fetch[@]}")
	printf '%s\n' "${fetch[@]}" >"$debian.tmp/packages"
	for deb in "$debian.tmp"/debs/*.deb; do
		dpkg -x "$deb" "$debian.tmp/root"
	done
	rm -rf "$debian"
	mv "$debian.tmp" "$debian"
fi
busybox=$debian/root/bin/busybox

# Busybox's applets, each a link to it, as in the busybox image, but for
# its shell and nc. The shell is bash: Debian's busybox 1.35 sh drops the
# environment variables whose names are no shell names (data-1, which
# envFrom gives and the ConfigMap and Secret specs look for), where the
# busybox of the e2e image keeps them. The e2e scripts call nc with
# OpenBSD's flags (-v -t -u), which busybox's lacks.
links=(-link /bin/sh=/bin/bash)
applets=$("$busybox" --list-full)
for applet in $applets; do
	case $applet in
	bin/busybox | bin/sh | usr/bin/nc) ;;
	*) links+=(-link "/$applet=/bin/busybox") ;;
	esac
done
shell=("$debian/root/bin/bash-static=/bin/bash")

# tools: dig, getent and curl, SRC=DEST each, and each shared library and
# loader they need, found by ldd among Debian's unpacked libraries first,
# then the host's (a Debian of the same release).
libpath=$(find "$debian/root" -name '*.so*' -printf '%h\n' | sort -u | paste -sd:)
tools=()
declare -A seen
for spec in "$debian/root/usr/bin/dig=/usr/bin/dig" "$debian/root/bin/nc.openbsd=/usr/bin/nc" \
	"$(command -v getent)=/usr/bin/getent" "$(command -v curl)=/usr/bin/curl"; do
	deps=$(LD_LIBRARY_PATH=$libpath ldd "${spec%%=*}")
	if grep 'not found' <<<"$deps" >&2; then
		echo "conformance-images: ${spec%%=*} needs the libraries above" >&2
		exit 1
	fi
	tools+=("$spec")
	for lib in $(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$deps"); do
		[ -n "${seen[$lib]:-}" ] || tools+=("$lib=${lib#"$debian/root"}")
		seen[$lib]=1
	done
done

agnhost=$(ref Agnhost) agnhost_prev=$(ref AgnhostPrev) glibc_dns=$(ref GlibcDnsTesting)
busybox_ref=$(ref BusyBox) nginx=$(ref Nginx) nginx_new=$(ref NginxNew) pause=$(ref Pause)
image() { # image NAME [mkimage flags and files]
	local name=$1
	shift
	"$e2e/mkimage" -o "$out/$name.tar" "$@"
}
# agnhost, the main test image, with the tools its specs' scripts call (the
# real one is Alpine with bind-tools and curl). The DNS specs run the same
# queries in glibc-dns-testing, which this also stands in for: its dig and
# getent are glibc's.
image agnhost -tag "$agnhost" -tag "$agnhost_prev" -tag "$glibc_dns" \
	-entrypoint /agnhost -cmd pause "${links[@]}" "$k8s/agnhost=/agnhost" "$busybox=/bin/busybox" "${shell[@]}" "${tools[@]}"
image busybox -tag "$busybox_ref" -cmd sh "${links[@]}" "$busybox=/bin/busybox" "${shell[@]}"
# nginx: a web server on port 80, agnhost's, and a shell.
image nginx -tag "$nginx" -tag "$nginx_new" -entrypoint /agnhost -entrypoint test-webserver \
	"${links[@]}" "$k8s/agnhost=/agnhost" "$busybox=/bin/busybox" "${shell[@]}"
image pause -tag "$pause" -user 65535 -entrypoint /testapp -entrypoint pause "$e2e/testapp=/testapp"
