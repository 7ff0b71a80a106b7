#!/usr/bin/env bash
# Fails, listing them, when the end-to-end node left anything behind after
# node-down.sh: a process, a mount, a network namespace, a link, a pod
# cgroup, an iptables chain in this namespace (compared with the list in $1,
# taken before the run), or one of its files.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/hack/e2e/env.sh"
chains_before=$1
found=()
procs=$(ps -eo pid=,stat=,args= | awk '$2 !~ /^Z/' | grep -E "$E2E_STATE|$E2E_RUN|containerd-shim|/kubelet |kube-proxy" | grep -v -e grep -e leftovers.sh)
[ -n "$procs" ] && found+=("processes: $procs")
mounts=$(grep -E "$E2E_STATE|$E2E_RUN|/var/lib/kubelet|/run/containerd|kubepods" /proc/self/mounts)
[ -n "$mounts" ] && found+=("mounts: $mounts")
ns=$(ip netns list 2>/dev/null | grep -E "^($E2E_NETNS|cni-)")
[ -n "$ns" ] && found+=("network namespaces: $ns")
links=$(ip -o link show 2>/dev/null | grep -E "$E2E_BRIDGE|cni0|veth")
[ -n "$links" ] && found+=("links: $links")
cgroups=$(find "${E2E_POD_CGROUPS[@]}" -maxdepth 0 -type d 2>/dev/null)
[ -n "$cgroups" ] && found+=("cgroups: $cgroups")
chains=$(diff <(iptables_chains) "$chains_before")
[ -n "$chains" ] && found+=("iptables chains: $chains")
for p in "$E2E_STATE" "$E2E_RUN"; do
	[ -e "$p" ] && found+=("files: $p")
done
if [ ${#found[@]} -gt 0 ]; then
	printf 'the end-to-end node left behind:\n' >&2
	printf '  %s\n' "${found[@]}" >&2
	exit 1
fi
echo "nothing left behind: no process, mount, network namespace, link, pod cgroup, iptables chain or file of the node"
