#!/usr/bin/env bash
# `portscope ls` against ss on N held loopback connections (2N sockets), timed in turn.
#   bench/ls-vs-ss.sh [N] [RUNS] [PORTSCOPE] [OTHER-PORTSCOPE]
# (defaults 1000000, 5, build/portscope; OTHER, e.g. an older build, is timed in the
# same rounds.)  `portscope bench -n N --hold` holds the connections in a network
# namespace of its own (so no other program's sockets are in the walk); each round then
# times, in that namespace and in an order that alternates from round to round:
#   ls -s PORT              the summary (the whole dump, no rows)
#   ls PORT > /dev/null     every row of the port (2N)
#   ss -tan 'sport = :PORT or dport = :PORT' > /dev/null   the same rows from ss
#   ls -l PORT > /dev/null  the server side (N rows)
#   ss -tan 'sport = :PORT' > /dev/null                    the same rows from ss
# and prints each time, then the median and range of each, and of each ratio of a
# round's pair.  Needs root (the namespace), about 10 KB of kernel memory per
# connection.  Every step has a deadline; bench is stopped by its pid (SIGTERM), and it
# ends every process it started.
set -u
N=${1:-1000000}
RUNS=${2:-5}
PS=$(realpath "${3:-build/portscope}")
OTHER=${4:+$(realpath "$4")}
tmp=$(mktemp -d)
bpid=

cleanup() {
	if [ -n "$bpid" ]; then
		kill -TERM "$bpid" 2>/dev/null
		wait "$bpid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A reader that goes away (| head) must not leave bench holding its connections.
trap 'exit 141' PIPE

"$PS" bench -n "$N" --hold 3600 -f json >"$tmp/bench.json" 2>"$tmp/bench.err" &
bpid=$!
inns() { nsenter -t "$bpid" -n "$@"; }

# bench unshares its namespace at once and measures the floor (on a listener of its
# own), then starts the server: the port is the one a process other than bench listens on,
# looked for once bench is in its own namespace (before that, nsenter would find this one's).
for _ in $(seq 100); do
	[ "$(readlink "/proc/$bpid/ns/net" 2>/dev/null)" != "$(readlink /proc/self/ns/net)" ] && break
	sleep 0.1
done
[ "$(readlink "/proc/$bpid/ns/net" 2>/dev/null)" != "$(readlink /proc/self/ns/net)" ] ||
	{ echo "bench is not in a namespace of its own (it needs root):" >&2; cat "$tmp/bench.err" >&2; exit 1; }
port=
for _ in $(seq 600); do
	port=$(inns ss -Htlnp 2>/dev/null | awk -v b="pid=$bpid," 'index($0, b) == 0 {
		sub(/.*:/, "", $4); print $4; exit }')
	[ -n "$port" ] && break
	kill -0 "$bpid" 2>/dev/null || break
	sleep 0.2
done
[ -n "$port" ] || { echo "bench did not start:" >&2; cat "$tmp/bench.err" >&2; exit 1; }
t0=$(date +%s.%N)
# Wait (at most 10 minutes) until the kernel shows both ends of every connection.
n=0
for _ in $(seq 600); do
	n=$(inns "$PS" ls -t --state established -f json -s "$port" | sed -n 's/.*"sockets":\([0-9]*\).*/\1/p')
	[ "${n:-0}" -ge $((2 * N)) ] && break
	kill -0 "$bpid" 2>/dev/null || { echo "bench ended:" >&2; cat "$tmp/bench.err" >&2; exit 1; }
	sleep 1
done
[ "${n:-0}" -ge $((2 * N)) ] || { echo "only $n sockets established after 10 minutes" >&2; exit 1; }
echo "$(date -u '+%F %T') UTC: $n established sockets on port $port (N = $N) after" \
	"$(echo "$(date +%s.%N) - $t0" | bc -l | xargs printf '%.0f') s; load: $(cut -d' ' -f1-3 /proc/loadavg)"

seconds() { # seconds CMD...: wall-clock seconds of CMD in the namespace, output discarded
	local a b
	a=$(date +%s.%N)
	timeout 300 nsenter -t "$bpid" -n "$@" >/dev/null 2>&1 || { echo timeout; return; }
	b=$(date +%s.%N)
	echo "$b - $a" | bc -l | xargs printf '%.3f'
}

names=("ls -s" "ls" "ss" "ls -l" "ss sport")
cmds=("$PS ls -s $port" "$PS ls $port" "ss -tan sport = :$port or dport = :$port"
      "$PS ls -l $port" "ss -tan sport = :$port")
if [ -n "$OTHER" ]; then
	names+=("other ls -s" "other ls" "other ls -l")
	cmds+=("$OTHER ls -s $port" "$OTHER ls $port" "$OTHER ls -l $port")
fi
declare -A t
for r in $(seq "$RUNS"); do
	order=$(seq 0 $((${#names[@]} - 1)))
	[ $((r % 2)) -eq 0 ] && order=$(echo "$order" | tac)
	line="round $r:"
	for i in $order; do
		# shellcheck disable=SC2086
		t[$r,$i]=$(seconds ${cmds[$i]})
	done
	for i in $(seq 0 $((${#names[@]} - 1))); do line+=" ${names[$i]} ${t[$r,$i]} s,"; done
	echo "${line%,}"
done

stats() { # stats LABEL VALUES...: median (lowest to highest) of those that are not "timeout"
	local label=$1
	shift
	printf '%s\n' "$@" | grep -vx timeout | sort -g | awk -v l="$label" '{ v[NR] = $1 }
		END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		      printf "%-34s %.3f (%.3f to %.3f)\n", l, m, v[1], v[NR] }'
}
echo
echo "median (lowest to highest) of $RUNS rounds:"
for i in $(seq 0 $((${#names[@]} - 1))); do
	v=()
	for r in $(seq "$RUNS"); do v+=("${t[$r,$i]}"); done
	stats "${names[$i]}, s" "${v[@]}"
done
ratio() { # ratio LABEL I J: each round's t[I] / t[J]
	local v=()
	for r in $(seq "$RUNS"); do
		[[ ${t[$r,$2]} == timeout || ${t[$r,$3]} == timeout ]] && continue
		v+=("$(echo "${t[$r,$2]} / ${t[$r,$3]}" | bc -l)")
	done
	[ ${#v[@]} -gt 0 ] && stats "$1" "${v[@]}"
}
ratio "ls / ss, all of the port" 1 2
ratio "ls -s / ss, all of the port" 0 2
ratio "ls -l / ss sport, server side" 3 4
if [ -n "$OTHER" ]; then
	ratio "other ls / ss, all of the port" 6 2
	ratio "other ls -s / ss, all of the port" 5 2
	ratio "other ls -l / ss sport, server side" 7 4
	ratio "ls / other ls" 1 6
fi
