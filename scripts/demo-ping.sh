#!/usr/bin/env bash
# The embedded default: two "nodes" (network namespaces) joined by a veth underlay, a vxlan-user VTEP in each
# (the seed recipe's nodes 001 and 002: VNI 10001, UDP port 4899), then a ping across the overlay.
# Everything lives in namespaces named vxdemo-*; all of it is removed on exit, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="node dist/src/cli/main.js"
A=vxdemo-node001 B=vxdemo-node002
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

[ "$(id -u)" = 0 ] || { echo "demo-ping: needs root (network namespaces, TAP devices)" >&2; exit 2; }
[ -f dist/src/cli/main.js ] || { echo "demo-ping: not built; run 'npm ci' first" >&2; exit 2; }
ip netns del "$A" 2>/dev/null || true
ip netns del "$B" 2>/dev/null || true

echo "== underlay: $A (192.168.0.21) <-veth-> $B (192.168.0.31)"
ip netns add "$A"; ip netns add "$B"
ip -n "$A" link set lo up; ip -n "$B" link set lo up
ip link add vxdemo-a netns "$A" type veth peer name vxdemo-b netns "$B"
ip -n "$A" link set vxdemo-a name eth0; ip -n "$B" link set vxdemo-b name eth0
ip -n "$A" addr add 192.168.0.21/24 dev eth0; ip -n "$B" addr add 192.168.0.31/24 dev eth0
ip -n "$A" link set eth0 up; ip -n "$B" link set eth0 up

start() { # ns, then vxlan-user up options
  local ns=$1; shift
  local out; out=$(mktemp)
  ip netns exec "$ns" $BIN up "$@" >"$out" &
  PIDS+=($!)
  for _ in $(seq 100); do grep -q '^ready:' "$out" && break; sleep 0.1; done
  grep '^ready:' "$out" || { echo "vxlan-user did not become ready in $ns" >&2; exit 1; }
  rm -f "$out"
}

echo "== vxlan-user on both nodes"
start "$A" --vni 10001 --name vxlan-test --dstport 4899 --local 192.168.0.21 --mac c2:6a:9b:e5:39:8d \
  --addr 179.17.1.21/24 --neigh 179.17.1.31=7a:3a:fe:45:a3:76 --fdb 7a:3a:fe:45:a3:76=192.168.0.31
start "$B" --vni 10001 --name vxlan-test --dstport 4899 --local 192.168.0.31 --mac 7a:3a:fe:45:a3:76 \
  --addr 179.17.1.31/24 --neigh 179.17.1.21=c2:6a:9b:e5:39:8d --fdb c2:6a:9b:e5:39:8d=192.168.0.21

echo "== ping 179.17.1.31 from $A through the overlay"
ip netns exec "$A" ping -c 3 -i 0.2 -W 2 179.17.1.31
echo "== counters of $A's VTEP (SIGUSR1)"
kill -USR1 "${PIDS[0]}"; sleep 0.3
echo "== done; tearing down"
