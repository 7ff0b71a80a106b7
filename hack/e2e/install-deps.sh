#!/usr/bin/env bash
# Installs what the end-to-end node needs from Debian when it is missing:
# containerd, runc, the CNI plugins, iptables and conntrack (kube-proxy uses
# the last two). Everything else the node runs
# is built from the Go module proxy (hack/kube-binaries.sh --node).
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have containerd || need+=(containerd)
have runc || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
have iptables || need+=(iptables)
have conntrack || need+=(conntrack)
have ip || need+=(iproute2)
have openssl || need+=(openssl)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "the end-to-end node needs these Debian packages: ${need[*]} (run as root to install them)" >&2
	exit 1
fi
echo "installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
