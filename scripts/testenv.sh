#!/usr/bin/env bash
# Brings up (and takes down) everything Firebreak's tests and demo need on a
# Debian machine, as root: containerd, dockerd, a MinIO server on loopback and
# a small local busybox image in both engines. `down` stops only what `up`
# started. Usage: scripts/testenv.sh up|down|env
set -euo pipefail

RUN_DIR=${FIREBREAK_TESTENV_DIR:-/run/firebreak-testenv}
CACHE_DIR=${FIREBREAK_CACHE_DIR:-/var/cache/firebreak}
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_BIN=$CACHE_DIR/bin/minio-$MINIO_VERSION
MINIO_ADDR=${FIREBREAK_MINIO_ADDR:-127.0.0.1:9123}
MINIO_USER=firebreak-test
MINIO_PASS=firebreak-test-secret
IMAGE=${FIREBREAK_TEST_IMAGE:-firebreak.local/busybox:test}
PAUSE_IMAGE=${FIREBREAK_TEST_PAUSE_IMAGE:-firebreak.local/pause:test}
CTR_NS=${FIREBREAK_TEST_CONTAINERD_NAMESPACE:-firebreak-test}
DOCKER_SOCK=/var/run/docker.sock
CONTAINERD_SOCK=/run/containerd/containerd.sock
CNI_CONF_DIR=$RUN_DIR/cni/net.d
POD_BRIDGE=fbpod0
POD_SUBNET=${FIREBREAK_TEST_POD_SUBNET:-10.231.0.0/24}

log() { printf 'testenv: %s\n' "$*" >&2; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= end)); then
      log "$what did not become ready within ${secs}s"
      return 1
    fi
    sleep 0.2
  done
}

install_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  command -v nft >/dev/null || missing+=(nftables)
  command -v iptables >/dev/null || missing+=(iptables)
  [ -x /bin/busybox ] || missing+=(busybox-static)
  command -v zstd >/dev/null || missing+=(zstd)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v curl >/dev/null || missing+=(curl)
  command -v nsenter >/dev/null || missing+=(util-linux)
  command -v gdb >/dev/null || missing+=(gdb)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v tmux >/dev/null || missing+=(tmux) # the console's end-to-end tests
  command -v chromium >/dev/null || missing+=(chromium) # the drill report's HTML test
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins) # pods' networks (CRI tests)
  command -v bsdtar >/dev/null || missing+=(libarchive-tools) # reads the captured layers in the interop test
  command -v umoci >/dev/null || missing+=(umoci) # unpacks an OCI image with the captured layer in the interop test
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

start_containerd() {
  if ctr --address "$CONTAINERD_SOCK" version >/dev/null 2>&1; then
    log "containerd already running"
    return
  fi
  log "starting containerd"
  mkdir -p "$RUN_DIR"
  # The CRI plugin gives a pod's sandbox container an OOM score below the
  # daemon's, which needs CAP_SYS_RESOURCE (this sandbox lacks it): keep it
  # at the daemon's, as a node without that capability must.
  # Pods get their own network namespaces on a CNI bridge with addresses
  # from a private test range and no NAT: traffic stays between the tests'
  # own pods. Docker sets FORWARD's policy to DROP and bridged traffic
  # passes iptables here, so the firewall plugin is chained to accept the
  # pods' traffic in FORWARD.
  mkdir -p "$CNI_CONF_DIR"
  cat >"$CNI_CONF_DIR/10-firebreak-test.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "firebreak-test-pods",
  "plugins": [
    {"type": "bridge", "bridge": "$POD_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_SUBNET"}]], "dataDir": "$RUN_DIR/cni/ipam"}},
    {"type": "firewall", "backend": "iptables"}
  ]
}
JSON
  cat >"$RUN_DIR/containerd.toml" <<TOML
version = 2
[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "$CNI_CONF_DIR"
TOML
  setsid containerd --config "$RUN_DIR/containerd.toml" >"$RUN_DIR/containerd.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/containerd.pid"
  wait_for 60 containerd ctr --address "$CONTAINERD_SOCK" version
}

start_dockerd() {
  if docker -H "unix://$DOCKER_SOCK" version >/dev/null 2>&1; then
    log "dockerd already running"
    return
  fi
  log "starting dockerd"
  mkdir -p "$RUN_DIR"
  setsid dockerd --containerd="$CONTAINERD_SOCK" --storage-driver=overlay2 \
    >"$RUN_DIR/dockerd.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/dockerd.pid"
  wait_for 90 dockerd docker -H "unix://$DOCKER_SOCK" version
}

build_minio() {
  if [ -x "$MINIO_BIN" ]; then return; fi
  log "building MinIO $MINIO_VERSION once (several minutes on a cold machine)"
  mkdir -p "$CACHE_DIR/bin"
  GOBIN="$CACHE_DIR/bin/tmp" go install "github.com/minio/minio@$MINIO_VERSION"
  mv "$CACHE_DIR/bin/tmp/minio" "$MINIO_BIN"
  rmdir "$CACHE_DIR/bin/tmp"
}

start_minio() {
  build_minio
  if curl -fsS "http://$MINIO_ADDR/minio/health/live" >/dev/null 2>&1; then
    log "MinIO already running on $MINIO_ADDR"
    return
  fi
  log "starting MinIO on $MINIO_ADDR"
  mkdir -p "$RUN_DIR/minio-data"
  MINIO_ROOT_USER=$MINIO_USER MINIO_ROOT_PASSWORD=$MINIO_PASS \
    setsid "$MINIO_BIN" server --quiet --address "$MINIO_ADDR" \
    --console-address 127.0.0.1:0 "$RUN_DIR/minio-data" \
    >"$RUN_DIR/minio.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/minio.pid"
  wait_for 60 MinIO curl -fsS "http://$MINIO_ADDR/minio/health/live"
}

build_image() {
  if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "building $IMAGE from busybox-static"
    local root
    root=$(mktemp -d)
    mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,root,var/log}
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    # `busybox --list` names busybox itself; linking it would overwrite the binary.
    for applet in $(/bin/busybox --list); do
      [ "$applet" = busybox ] && continue
      ln -sf busybox "$root/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
    tar -C "$root" -cf - . | docker import \
      --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin:/sbin' - "$IMAGE" >/dev/null
    rm -rf "$root"
  fi
  # A pod's sandbox ("pause") container for the CRI tests: the same files,
  # waiting for a signal.
  if ! docker image inspect "$PAUSE_IMAGE" >/dev/null 2>&1; then
    log "building $PAUSE_IMAGE"
    local cid
    cid=$(docker create "$IMAGE")
    docker export "$cid" | docker import \
      --change 'CMD ["/bin/sh","-c","trap \"exit 0\" TERM INT; sleep 2147483647 & wait"]' - "$PAUSE_IMAGE" >/dev/null
    docker rm "$cid" >/dev/null
  fi
  import_image "$IMAGE" "$CTR_NS"
  import_image "$IMAGE" k8s.io
  import_image "$PAUSE_IMAGE" k8s.io
}

import_image() { # import_image IMAGE NAMESPACE: from docker into containerd
  if ! ctr --address "$CONTAINERD_SOCK" -n "$2" images check "name==$1" 2>/dev/null | grep -q complete; then
    log "importing $1 into containerd namespace $2"
    mkdir -p "$CACHE_DIR"
    docker save "$1" -o "$CACHE_DIR/image.tar"
    ctr --address "$CONTAINERD_SOCK" -n "$2" images import "$CACHE_DIR/image.tar" >/dev/null
    rm -f "$CACHE_DIR/image.tar"
  fi
}

# cri_pods: can containerd's CRI plugin start a pod here? A pod's sandbox
# container gets an OOM score below the daemon's, which needs
# CAP_SYS_RESOURCE, unless the plugin is told restrict_oom_score_adj (as
# start_containerd does). A daemon this script did not start is judged by
# its config file.
cri_pods() {
  local capeff pid="" p cfg
  capeff=$(awk '/^CapEff/ {print $2}' /proc/self/status)
  (((0x$capeff >> 24) & 1)) && return 0
  for p in /proc/[0-9]*; do
    if [ "$(cat "$p/comm" 2>/dev/null)" = containerd ]; then pid=${p#/proc/}; break; fi
  done
  [ -n "$pid" ] || return 1
  cfg=$(tr '\0' '\n' <"/proc/$pid/cmdline" | awk 'p {print; exit} $0 == "--config" || $0 == "-c" {p = 1}')
  grep -Eq '^[[:space:]]*restrict_oom_score_adj[[:space:]]*=[[:space:]]*true' "${cfg:-/etc/containerd/config.toml}" 2>/dev/null
}

# cri_cni: does the running containerd give pods a CNI network (the conf_dir
# its config names holds a network list)?
cri_cni() {
  local pid="" p cfg dir
  for p in /proc/[0-9]*; do
    if [ "$(cat "$p/comm" 2>/dev/null)" = containerd ]; then pid=${p#/proc/}; break; fi
  done
  [ -n "$pid" ] || return 1
  cfg=$(tr '\0' '\n' <"/proc/$pid/cmdline" | awk 'p {print; exit} $0 == "--config" || $0 == "-c" {p = 1}')
  dir=$(awk -F'"' '/^[[:space:]]*conf_dir[[:space:]]*=/ {print $2; exit}' "${cfg:-/etc/containerd/config.toml}" 2>/dev/null)
  compgen -G "${dir:-/etc/cni/net.d}/*.conflist" >/dev/null || return 1
  [ -x /usr/lib/cni/bridge ] || [ -x /opt/cni/bin/bridge ]
}

print_env() {
  local cri=1 cni=1
  cri_cni || cni=0
  if ! cri_pods; then
    cri=0
    log "the running containerd cannot start pods in this sandbox (no CAP_SYS_RESOURCE, no restrict_oom_score_adj in its config): the CRI tests will skip"
  fi
  cat <<ENV
export FIREBREAK_TEST_CRI=$cri
export FIREBREAK_TEST_CRI_CNI=$cni
export FIREBREAK_TEST_POD_SUBNET=$POD_SUBNET
export FIREBREAK_TEST_IMAGE=$IMAGE
export FIREBREAK_TEST_PAUSE_IMAGE=$PAUSE_IMAGE
export FIREBREAK_TEST_CONTAINERD_NAMESPACE=$CTR_NS
export FIREBREAK_TEST_MINIO_ENDPOINT=$MINIO_ADDR
export FIREBREAK_TEST_MINIO_ACCESS_KEY=$MINIO_USER
export FIREBREAK_TEST_MINIO_SECRET_KEY=$MINIO_PASS
export FIREBREAK_TEST_MINIO_BIN=$MINIO_BIN
ENV
}

stop_started() {
  local name pid
  for name in minio dockerd containerd; do
    [ -f "$RUN_DIR/$name.pid" ] || continue
    pid=$(cat "$RUN_DIR/$name.pid")
    if kill -0 "$pid" 2>/dev/null; then
      log "stopping $name ($pid)"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN_DIR/$name.pid"
    if [ "$name" = containerd ]; then ip link del "$POD_BRIDGE" 2>/dev/null || true; fi
  done
}

case "${1:-}" in
  up)
    [ "$(id -u)" = 0 ] || { log "must run as root (it installs packages and starts daemons)"; exit 1; }
    install_packages
    start_containerd
    start_dockerd
    build_image
    if [ "${FIREBREAK_TESTENV_MINIO:-1}" = 1 ]; then start_minio; fi
    print_env
    ;;
  down) stop_started ;;
  env) print_env ;;
  *) echo "usage: $0 up|down|env" >&2; exit 2 ;;
esac
