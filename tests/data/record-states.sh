#!/usr/bin/env bash
# Records netlink/states.nldump and proc/states/: the sockets of
# tests/tools/states.py (TCP in every state it can hold, over IPv4 and IPv6,
# and UDP), made in a network namespace of its own, as sock_diag and
# /proc/net/{tcp,tcp6,udp,udp6} give them.  Run as root from the repository
# root after `make` (it needs build/portscope, python3, ip and nft).  The
# namespace and every process are removed on exit.
set -euo pipefail

bin=build/portscope
out=tests/data
ns=psrecord.$$
pids=()
tmp=$(mktemp -d)

cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	ip netns delete "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" python3 tests/tools/states.py >"$tmp/v4" &
pids+=($!)
for _ in $(seq 200); do grep -q ready "$tmp/v4" 2>/dev/null && break; sleep 0.05; done
grep -q ready "$tmp/v4"
port=$(head -1 "$tmp/v4")

mkdir -p "$out/netlink" "$out/proc/states"
ip netns exec "$ns" "$bin" ls --dump "$out/netlink/states.nldump" "$port" >/dev/null
for f in tcp tcp6 udp udp6; do
	ip netns exec "$ns" cat "/proc/net/$f" >"$out/proc/states/$f"
done
"$bin" ls --replay "$out/netlink/states.nldump" -e "$port" >"$out/states.expected"
echo "recorded port $port: $(grep -c '^[tu]' "$out/states.expected") sockets"
