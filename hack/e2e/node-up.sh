#!/usr/bin/env bash
# Brings up a single-node Kubernetes cluster inside network namespace
# $E2E_NETNS (run.sh creates it and runs this script inside it): etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, containerd, the
# kubelet and kube-proxy, each a process whose PID is kept in $E2E_RUN/pids;
# then it imports the images in each IMAGE_DIR and deploys CoreDNS.
# node-down.sh undoes all of it. Usage: node-up.sh IMAGE_DIR...
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/hack/e2e/env.sh"
images=("$@")
bin=$("$root/hack/kube-binaries.sh" --print-dir)
pki=$E2E_STATE/pki
logs=$E2E_STATE/logs
mkdir -p "$pki" "$logs" "$E2E_RUN/pids" "$E2E_STATE/cni/net.d" "$E2E_STATE/pv"

# The fixed paths that are not there yet are the suite's to remove.
for p in "${E2E_FIXED_PATHS[@]}"; do
	[ -e "$p" ] || echo "$p" >>"$E2E_STATE/created"
done

# start NAME COMMAND...: run COMMAND in a session of its own, logging to
# $logs/NAME.log; node-down.sh stops it by the PID kept here.
start() {
	local name=$1
	shift
	setsid "$@" >"$logs/$name.log" 2>&1 </dev/null &
	echo $! >"$E2E_RUN/pids/$name.pid"
}

# until_ok SECONDS WHAT COMMAND...: wait for a component that offers nothing
# to watch until it answers.
until_ok() {
	local deadline=$((SECONDS + $1)) what=$2
	shift 2
	until "$@" >/dev/null 2>&1; do
		if [ $SECONDS -ge $deadline ]; then
			echo "node-up: $what did not come up; its log:" >&2
			tail -n 40 "$logs/$what.log" >&2 || true
			return 1
		fi
		sleep 0.5
	done
}

# --- network: the node's address and what pods need of the kernel --------
ip link set lo up
ip link add "$E2E_BRIDGE" type bridge
ip addr add "$E2E_NODE_IP/24" dev "$E2E_BRIDGE"
ip link set "$E2E_BRIDGE" up
# Service addresses need a route before kube-proxy's rules rewrite them; what
# no rule rewrites ends on the bridge, which has no ports.
ip route add default dev "$E2E_BRIDGE"
modprobe br_netfilter 2>/dev/null || true # built in on some kernels
sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.ipv4.conf.all.route_localnet=1

# --- PKI -----------------------------------------------------------------
cert() { # cert NAME SUBJECT [SANS]: a key and a certificate signed by the CA
	local name=$1 subj=$2 sans=${3:-}
	openssl genrsa -out "$pki/$name.key" 2048 2>/dev/null
	openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
	local ext=$pki/$name.ext
	printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n' >"$ext"
	[ -n "$sans" ] && echo "subjectAltName=$sans" >>"$ext"
	openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
		-days 2 -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
}
kubeconfig() { # kubeconfig NAME: a kubeconfig for cert NAME
	cat >"$pki/$1.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: "https://$E2E_NODE_IP:6443", certificate-authority: "$pki/ca.crt"}
users:
- name: $1
  user: {client-certificate: "$pki/$1.crt", client-key: "$pki/$1.key"}
contexts:
- name: e2e
  context: {cluster: e2e, user: $1}
current-context: e2e
KC
}
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=nestor-e2e-ca" \
	-keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
cert apiserver "/CN=kube-apiserver" "IP:$E2E_NODE_IP,IP:$E2E_API_SERVICE_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
# The components of the node's own control plane act as administrators: the
# suite tests Nestor's permissions, not theirs.
cert admin "/O=system:masters/CN=e2e-admin"
cert kubelet "/O=system:nodes/CN=system:node:$E2E_NODE"
kubeconfig admin
kubeconfig kubelet

# --- control plane ---------------------------------------------------------
start etcd "$bin/etcd" --data-dir "$E2E_STATE/etcd" --name "$E2E_NODE" \
	--listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
	--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
	--initial-cluster "$E2E_NODE=http://127.0.0.1:2380" --unsafe-no-fsync
start kube-apiserver "$bin/kube-apiserver" \
	--advertise-address "$E2E_NODE_IP" --secure-port 6443 \
	--etcd-servers http://127.0.0.1:2379 \
	--service-cluster-ip-range "$E2E_SERVICE_CIDR" \
	--client-ca-file "$pki/ca.crt" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
	--kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
	--service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
	--service-account-issuer https://kubernetes.default.svc.cluster.local \
	--authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
	--kubelet-preferred-address-types InternalIP \
	--allow-privileged=true --profiling=false
kubectl() { "$bin/kubectl" --kubeconfig "$pki/admin.kubeconfig" "$@"; }
until_ok 120 kube-apiserver kubectl get --raw /readyz
start kube-controller-manager "$bin/kube-controller-manager" \
	--kubeconfig "$pki/admin.kubeconfig" --authentication-kubeconfig "$pki/admin.kubeconfig" --authorization-kubeconfig "$pki/admin.kubeconfig" \
	--bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
	--service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
	--cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key"
start kube-scheduler "$bin/kube-scheduler" --kubeconfig "$pki/admin.kubeconfig" \
	--authentication-kubeconfig "$pki/admin.kubeconfig" --authorization-kubeconfig "$pki/admin.kubeconfig" \
	--bind-address 127.0.0.1 --leader-elect=false

# --- containerd ----------------------------------------------------------------
# Every registry is pointed at a port that refuses (and the namespace has no
# way out): run.sh counts PullImage in this log to prove nothing was asked for.
cat >"$E2E_STATE/containerd.toml" <<TOML
version = 2
root = "$E2E_STATE/containerd"
state = "/run/containerd"
[grpc]
  address = "$E2E_RUN/containerd.sock"
[debug]
  level = "debug"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "nestor.e2e/pause:$E2E_IMAGE_TAG"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$E2E_STATE/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."*"]
    endpoint = ["https://127.0.0.1:1"]
TOML
cat >"$E2E_STATE/cni/net.d/10-e2e.conflist" <<CNI
{"cniVersion": "0.4.0", "name": "e2e", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$E2E_POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": "$E2E_STATE/cni/ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}
CNI
start containerd containerd --config "$E2E_STATE/containerd.toml"
ctr() { command ctr --address "$E2E_RUN/containerd.sock" -n k8s.io "$@"; }
until_ok 60 containerd ctr version
for dir in "${images[@]}"; do
	for tar in "$dir"/*.tar; do
		ctr images import "$tar" >/dev/null
	done
done

# --- kubelet and kube-proxy ------------------------------------------------------
cat >"$E2E_STATE/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://$E2E_RUN/containerd.sock
clusterDNS: ["$E2E_DNS_IP"]
clusterDomain: cluster.local
resolvConf: ""
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$pki/ca.crt"}
authorization: {mode: Webhook}
volumePluginDir: $E2E_STATE/volume-plugins
serializeImagePulls: false
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
YAML
start kubelet "$bin/kubelet" --config "$E2E_STATE/kubelet.yaml" --kubeconfig "$pki/kubelet.kubeconfig" \
	--root-dir "$E2E_STATE/kubelet" --cert-dir "$E2E_STATE/kubelet-pki" \
	--hostname-override "$E2E_NODE" --node-ip "$E2E_NODE_IP"
start kube-proxy "$bin/kube-proxy" --kubeconfig "$pki/admin.kubeconfig" --hostname-override "$E2E_NODE" \
	--proxy-mode iptables --cluster-cidr "$E2E_POD_CIDR" --conntrack-max-per-core 0 \
	--metrics-bind-address 127.0.0.1:10249 --healthz-bind-address 127.0.0.1:10256
until_ok 60 kubelet kubectl get node "$E2E_NODE"
kubectl wait --for=condition=Ready "node/$E2E_NODE" --timeout=120s >/dev/null

# --- storage: claims bind to hostPath volumes, writable by any pod user -----------
for i in $(seq 1 12); do
	mkdir -p "$E2E_STATE/pv/pv$i" && chmod 0777 "$E2E_STATE/pv/pv$i"
	cat <<PV
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: e2e-pv$i, labels: {e2e: "true"}}
spec:
  capacity: {storage: 20Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: "$E2E_STATE/pv/pv$i", type: Directory}
PV
done | kubectl apply -f - >/dev/null

# --- cluster DNS ------------------------------------------------------------------
sed -e "s|@DNS_IP@|$E2E_DNS_IP|g" -e "s|@TAG@|$E2E_IMAGE_TAG|g" "$root/test/e2e/manifests/coredns.yaml" | kubectl apply -f - >/dev/null
kubectl -n kube-system rollout status deployment/coredns --timeout=120s >/dev/null
echo "node-up: $E2E_NODE is Ready at $E2E_NODE_IP (logs in $logs)" >&2
