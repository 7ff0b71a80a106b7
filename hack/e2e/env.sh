# Settings of the end-to-end node, sourced by its scripts (docs/e2e.md).
# Everything the node runs lives in network namespace $E2E_NETNS, so its
# fixed ports and addresses belong to the suite alone; its files live under
# $E2E_STATE and $E2E_RUN.
E2E_NETNS=nestor-e2e
E2E_STATE=/var/lib/nestor-e2e
E2E_RUN=/run/nestor-e2e
E2E_NODE=nestor-e2e-node
# The node's address, on a bridge with no ports inside the namespace.
E2E_BRIDGE=nestor-e2e0
E2E_NODE_IP=10.200.0.1
E2E_POD_CIDR=10.244.0.0/24
E2E_SERVICE_CIDR=10.96.0.0/12
E2E_API_SERVICE_IP=10.96.0.1
E2E_DNS_IP=10.96.0.10
# Paths the kubelet, containerd and the CNI plugins use whatever they are
# told: the suite removes the ones it created.
E2E_FIXED_PATHS=(/var/lib/kubelet /var/lib/cni /var/log/pods /var/log/containers /run/containerd /usr/libexec/kubernetes /etc/cni)
E2E_IMAGE_TAG=e2e
# The pods' cgroups, as the kubelet's cgroupfs driver makes them on cgroup v1
# (one hierarchy per controller) or v2.
E2E_POD_CGROUPS=(/sys/fs/cgroup/*/kubepods* /sys/fs/cgroup/kubepods*)

# iptables_chains lists the chains of this network namespace's iptables.
iptables_chains() { { iptables-save 2>/dev/null || true; } | awk '/^:/ {print $1}' | sort; }
