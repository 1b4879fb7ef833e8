#!/usr/bin/env bash
# The kernel's floor as the table grows (bench/floor-grow.c): one thread at a time doing
# blocking connect() + accept() and holding what it made, 9,000 connections a process,
# to N held connections; prints the rate of each step of 9,000.
#   bench/floor-grow.sh [N]      (default 900000; root: a network namespace of its own,
#                                 its established-socket table sized as bench sizes it)
# Every process is killed by pid when the last step is done (or after 10 minutes).
set -u
N=${1:-900000}
K=$(( (N + 8999) / 9000 ))
[ "$K" -le 250 ] || { echo "N at most 2,250,000" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -Wall -Wextra -o "$tmp/floor-grow" "$(dirname "$0")/floor-grow.c" || exit 1
[ "$(id -u)" = 0 ] || { echo "needs root (a network namespace of its own)" >&2; exit 1; }
# Each process holds 18,000 descriptors and a few more.
ulimit -n 18100 2>/dev/null || { echo "needs a descriptor limit of 18,100 (ulimit -n)" >&2; exit 1; }
old=$(sysctl -n net.ipv4.tcp_child_ehash_entries)
sysctl -qw net.ipv4.tcp_child_ehash_entries=$((2 * N > 65536 ? 2 * N : 65536))
# The table's size is read when the namespace is made: the caller's setting is put back as
# soon as the new namespace says it exists.
timeout 600 unshare -n bash -c ': >"$1"; ip link set lo up && exec "$2" "$3" 9000' \
	floor-grow "$tmp/made" "$tmp/floor-grow" "$K" &
pid=$!
for _ in $(seq 100); do [ -e "$tmp/made" ] && break; sleep 0.05; done
sysctl -qw net.ipv4.tcp_child_ehash_entries="$old"
wait "$pid"
