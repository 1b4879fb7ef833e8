#!/usr/bin/env bash
# Times `portscope ls` against ss on N loopback connections to one port.
#   bench/ls.sh [N] [PORTSCOPE]      (default 100000, build/portscope)
# Opens the connections with `portscope serve --workers` and `portscope connect -n
# --procs` (one process may hold at most 20,000 descriptors), then times, on the
# same sockets:  all sockets of the port, the server side alone, and with owners.
# Every step has a deadline; everything started is stopped by its pid.
set -u
N=${1:-100000}
PS=${2:-build/portscope}
PER_PROC=18000
workers=$(( (N + PER_PROC - 1) / PER_PROC + 1 ))
procs=$(( (N + PER_PROC - 1) / PER_PROC ))
srcs=$(( (N + 13999) / 14000 ))
[ "$srcs" -lt 254 ] || { echo "N too large for one /24 of source addresses" >&2; exit 2; }
tmp=$(mktemp -d)
spid= cpid=

cleanup() {
	[ -n "$cpid" ] && kill -INT "$cpid" 2>/dev/null
	[ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null
	[ -n "$cpid" ] && wait "$cpid" 2>/dev/null
	[ -n "$spid" ] && wait "$spid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
# A signal ends the script through its EXIT trap, which stops what it started.
trap 'exit 130' INT
trap 'exit 143' TERM

seconds() { # seconds CMD...: wall-clock seconds of CMD, output discarded; "timeout" past 300 s
	local t0 t1
	t0=$(date +%s.%N)
	timeout 300 "$@" >/dev/null 2>&1 || { [ $? -eq 124 ] && { echo timeout; return; }; }
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l | xargs printf '%.3f'
}

"$PS" serve --workers "$workers" --keep -q --interval 3600 127.0.0.1:0 >/dev/null 2>"$tmp/serve.err" &
spid=$!
for i in $(seq 100); do grep -q 'listening on' "$tmp/serve.err" && break; sleep 0.1; done
port=$(sed -n 's/^portscope: listening on .*:\([0-9]*\)$/\1/p' "$tmp/serve.err")
[ -n "$port" ] || { cat "$tmp/serve.err" >&2; exit 1; }

echo "opening $N connections to 127.0.0.1:$port: $workers server workers, $procs client processes, $srcs source addresses"
t0=$(date +%s.%N)
"$PS" connect -n "$N" --procs "$procs" --source "127.0.0.2-127.0.0.$((1 + srcs))" --hold forever \
	-f json "$port" >"$tmp/connect.json" 2>/dev/null &
cpid=$!
# Wait (at most 10 minutes) until the kernel shows every connection established on the server side.
for i in $(seq 6000); do
	n=$("$PS" ls -t --local-only --state established -f json -s "$port" | sed -n 's/.*"sockets":\([0-9]*\).*/\1/p')
	[ "${n:-0}" -ge "$N" ] && break
	sleep 0.1
done
t1=$(date +%s.%N)
echo "established: $n (kernel count, server side) in $(echo "$t1 - $t0" | bc -l | xargs printf '%.1f') s"
total=$("$PS" ls -f json -s "$port" | sed -n 's/.*"sockets":\([0-9]*\).*/\1/p')
echo "sockets on port $port: $total"
echo

row() { # row LABEL PORTSCOPE-ARGS -- SS-ARGS
	local label=$1 a b
	shift
	local -a mine=() theirs=()
	while [ "$1" != -- ]; do mine+=("$1"); shift; done
	shift
	theirs=("$@")
	a=$(seconds "$PS" ls "${mine[@]}")
	b=$(seconds ss "${theirs[@]}")
	if [[ $a != timeout && $b != timeout ]]; then
		printf '%-26s %10s s %10s s %8.1fx\n' "$label" "$a" "$b" "$(echo "$b / $a" | bc -l)"
	else
		printf '%-26s %10s s %10s s %9s\n' "$label" "$a" "$b" "-"
	fi
}
printf '%-26s %12s %12s %9s\n' "" "portscope" "ss" "ss/ours"
row "all sockets of the port" "$port" -- -tan "sport = :$port or dport = :$port"
row "server side only" --local-only "$port" -- -tan "sport = :$port"
row "with owners (-p)" -p "$port" -- -tanp "sport = :$port or dport = :$port"
row "owners, server side" -p --local-only "$port" -- -tanp "sport = :$port"
