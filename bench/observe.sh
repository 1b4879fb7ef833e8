#!/usr/bin/env bash
# The observers' cost: one `portscope exporter --once` scrape (every TCP and UDP
# socket of the host, counted by port) against `portscope ls -s` on the same
# sockets, at N held connections; then `portscope watch`'s CPU while short
# connections come and go on one port as fast as `connect -n` makes them.
#   bench/observe.sh [N] [PORTSCOPE]      (default 100000, build/portscope)
# Connections come from `serve --workers` and `connect -n --procs`, as in
# bench/ls.sh.  Every step has a deadline; everything started is stopped by its pid.
set -u
# In a network namespace of its own (as root), so that the host's other sockets (other
# jobs' thousands) are not in the dumps being timed; OBSERVE_NO_NETNS=1 stays on the host.
if [ -z "${OBSERVE_IN_NETNS:-}${OBSERVE_NO_NETNS:-}" ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
	exec env OBSERVE_IN_NETNS=1 unshare -n bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
fi
N=${1:-100000}
PS=${2:-build/portscope}
PER_PROC=18000
workers=$(( (N + PER_PROC - 1) / PER_PROC + 1 ))
procs=$(( (N + PER_PROC - 1) / PER_PROC ))
srcs=$(( (N + 13999) / 14000 ))
[ "$srcs" -lt 254 ] || { echo "N too large for one /24 of source addresses" >&2; exit 2; }
tmp=$(mktemp -d)
spid= cpid= wpid= s2pid=

cleanup() {
	for p in $wpid $cpid; do kill -INT "$p" 2>/dev/null; done
	for p in $spid $s2pid; do kill -TERM "$p" 2>/dev/null; done
	for p in $wpid $cpid $spid $s2pid; do wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
# A signal ends the script through its EXIT trap, which stops what it started.
trap 'exit 130' INT
trap 'exit 143' TERM

best_of_3() { # best_of_3 CMD...: the fastest of three runs, in seconds
	local best= t0 t1 d
	for _ in 1 2 3; do
		t0=$(date +%s.%N)
		timeout 300 "$@" >/dev/null 2>&1
		t1=$(date +%s.%N)
		d=$(echo "$t1 - $t0" | bc -l)
		if [ -z "$best" ] || [ "$(echo "$d < $best" | bc -l)" = 1 ]; then best=$d; fi
	done
	printf '%.3f' "$best"
}

"$PS" serve --workers "$workers" --keep -q --interval 3600 127.0.0.1:0 >/dev/null 2>"$tmp/serve.err" &
spid=$!
for _ in $(seq 100); do grep -q 'listening on' "$tmp/serve.err" && break; sleep 0.1; done
port=$(sed -n 's/^portscope: listening on .*:\([0-9]*\)$/\1/p' "$tmp/serve.err")
[ -n "$port" ] || { cat "$tmp/serve.err" >&2; exit 1; }
echo "opening $N connections to 127.0.0.1:$port"
"$PS" connect -n "$N" --procs "$procs" --source "127.0.0.2-127.0.0.$((1 + srcs))" --hold forever \
	-f json "$port" >/dev/null 2>&1 &
cpid=$!
for _ in $(seq 6000); do
	n=$("$PS" ls -t --local-only --state established -f json -s "$port" | sed -n 's/.*"sockets":\([0-9]*\).*/\1/p')
	[ "${n:-0}" -ge "$N" ] && break
	sleep 0.1
done
total=$(ss -Htan | wc -l)
echo "established: $n on the server side; $total TCP sockets on the host"
printf '%-44s %8s\n' "one exporter scrape (exporter --once)" "$(best_of_3 "$PS" exporter --once) s"
printf '%-44s %8s\n' "ls -s (every socket of the port, summary)" "$(best_of_3 "$PS" ls -s "$port") s"
printf '%-44s %8s\n' "ls -s (every socket of the host)" "$(best_of_3 "$PS" ls -s) s"
printf '%-44s %8s\n' "ss -s" "$(best_of_3 ss -s) s"
kill -INT "$cpid"; wait "$cpid" 2>/dev/null; cpid=

# watch's CPU while short connections come and go on another port.
"$PS" serve -q --workers 2 --interval 3600 127.0.0.1:0 >/dev/null 2>"$tmp/serve2.err" &
s2pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$tmp/serve2.err" && break; sleep 0.1; done
port2=$(sed -n 's/^portscope: listening on .*:\([0-9]*\)$/\1/p' "$tmp/serve2.err")
"$PS" watch -f json "$port2" >"$tmp/events" 2>/dev/null &
wpid=$!
sleep 0.5
t0=$(date +%s.%N)
timeout 300 "$PS" connect -n 60000 -c 500 --procs 4 --source 127.0.0.100-127.0.0.129 --hold 0 -f json "$port2" >"$tmp/c.json" 2>"$tmp/c.err" || cat "$tmp/c.err" >&2
t1=$(date +%s.%N)
sleep 1
cpu=$(awk '{print ($14 + $15) / 100}' "/proc/$wpid/stat")
kill -INT "$wpid"; wait "$wpid" 2>/dev/null; wpid=
wall=$(echo "$t1 - $t0" | bc -l)
made=$(sed -n 's/.*"established":\([0-9]*\).*/\1/p' "$tmp/c.json")
printf 'watch: %s connections in %.1f s (%.0f a second): watch used %.2f s of CPU (%.0f%% of one core); %s events, %s lost events\n' \
	"$made" "$wall" "$(echo "$made / $wall" | bc -l)" "$cpu" "$(echo "100 * $cpu / $wall" | bc -l)" \
	"$(wc -l <"$tmp/events")" "$(grep -c '"event":"lost"' "$tmp/events")"
