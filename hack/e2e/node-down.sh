#!/usr/bin/env bash
# Tears down what node-up.sh and the suite left, whatever state a run ended
# in (finished, failed or interrupted): every process it started, the pods'
# containers and cgroups, the network namespaces, the node's files and the
# fixed paths it created. Safe to run twice, and before a run.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/hack/e2e/env.sh"

# alive PID...: those of PIDs that still run (a zombie has ended).
alive() {
	for p in "$@"; do
		local state
		state=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) || continue
		[ "$state" != Z ] && echo "$p"
	done
}

# stop PID...: TERM, then KILL what is left after a grace period
# (kube-apiserver may ignore TERM for a minute), and wait until all are gone.
stop() {
	[ $# -eq 0 ] && return 0
	kill -TERM "$@" 2>/dev/null
	local left
	for _ in $(seq 1 20); do
		left=$(alive "$@")
		[ -z "$left" ] && return 0
		sleep 0.5
	done
	# shellcheck disable=SC2086
	kill -KILL $left 2>/dev/null
	for _ in $(seq 1 20); do
		# shellcheck disable=SC2086
		[ -z "$(alive $left)" ] && return 0
		sleep 0.25
	done
	echo "node-down: still running after KILL: $left" >&2
}

# ours PIDFILE: the PID in PIDFILE if it still is one of the node's
# processes: a PID from an earlier run may since belong to something else.
netns_inode=$(stat -L -c %i "/run/netns/$E2E_NETNS" 2>/dev/null)
ours() {
	local p
	p=$(cat "$1" 2>/dev/null) || return 0
	[ -n "$netns_inode" ] && [ "$(stat -L -c %i "/proc/$p/ns/net" 2>/dev/null)" = "$netns_inode" ] && echo "$p"
	return 0
}

# The kubelet first, so it restarts nothing; then the pods' processes, by
# the cgroups the kubelet put them in; then everything else in the node's
# namespace (containerd's shims included).
if [ -d "$E2E_RUN/pids" ]; then
	for name in kubelet kube-proxy; do
		# shellcheck disable=SC2046
		stop $(ours "$E2E_RUN/pids/$name.pid")
	done
fi
pod_cgroups() { find "${E2E_POD_CGROUPS[@]}" -depth -type d 2>/dev/null; }
for _ in 1 2 3 4 5; do
	pids=$(pod_cgroups | while read -r d; do cat "$d/cgroup.procs" 2>/dev/null; done | sort -u)
	[ -z "$pids" ] && break
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null
	sleep 0.5
done
pod_cgroups | while read -r d; do rmdir "$d" 2>/dev/null; done
if [ -d "$E2E_RUN/pids" ]; then
	for f in "$E2E_RUN"/pids/*.pid; do
		# shellcheck disable=SC2046
		stop $(ours "$f")
	done
fi
if ip netns list 2>/dev/null | grep -qw "^$E2E_NETNS"; then
	# shellcheck disable=SC2046
	stop $(ip netns pids "$E2E_NETNS" 2>/dev/null)
fi

# The pods' network namespaces are files containerd made under /run/netns.
if [ -f "$E2E_STATE/netns-before" ]; then
	for f in /run/netns/cni-*; do
		[ -e "$f" ] || continue
		grep -qxF "$(basename "$f")" "$E2E_STATE/netns-before" && continue
		umount "$f" 2>/dev/null
		rm -f "$f"
	done
fi
ip netns delete "$E2E_NETNS" 2>/dev/null

# Mounts live in the node's own mount namespace and go with its processes;
# any that reached this one are undone, deepest first.
grep -E " ($E2E_STATE|$E2E_RUN|/var/lib/kubelet|/run/containerd)" /proc/self/mounts | awk '{print $2}' | sort -r |
	while read -r m; do umount -l "$m" 2>/dev/null; done

if [ -f "$E2E_STATE/created" ]; then
	while read -r p; do rm -rf "$p"; done <"$E2E_STATE/created"
fi
rm -rf "$E2E_RUN" "$E2E_STATE"
exit 0
