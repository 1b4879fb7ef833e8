#!/usr/bin/env bats
# Many connections on one port: serve --workers, connect -n, portscope bench.

load helpers

# kernel_established PORT: established TCP sockets whose local port is PORT.
kernel_established() {
	"$PORTSCOPE" ls -t --local-only --state established -f json -s "$1" |
		sed -n 's/.*"sockets":\([0-9]*\).*/\1/p'
}

# wait_established PORT N SECS: waits until the kernel has N established sockets on PORT.
wait_established() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		[ "$(kernel_established "$1")" -eq "$2" ] && return 0
		sleep 0.1
	done
	echo "not $2 established sockets on port $1 after $3 s" >&2
	return 1
}

# server_open: the sum of the workers' latest "open" counts (serve -q --interval).
server_open() {
	awk '/^worker [0-9]+ pid [0-9]+: open/ { open[$2] = $6 } END { s = 0; for (w in open) s += open[w]; print s }' "$TMP/out"
}

@test "3,000 connections, 2 workers, 2 client processes: server, clients and kernel agree, every reply matches, all gone after close" {
	start_server --workers 2 --keep -q --interval 0.2 127.0.0.1:0
	: >"$TMP/client.json"; : >"$TMP/client.err"; "$PORTSCOPE" connect -n 3000 --procs 2 --hold 3 -f json "$PORT" >"$TMP/client.json" 2>"$TMP/client.err" &
	client=$!
	BG_PIDS+=("$client")
	wait_established "$PORT" 3000 20
	# The workers' own counts, printed every 0.2 s, reach the same number.
	for i in $(seq 50); do
		[ "$(server_open)" -eq 3000 ] && break
		sleep 0.1
	done
	[ "$(server_open)" -eq 3000 ]
	[ "$(grep -c '^worker [12] pid' "$TMP/out" | head -1)" -gt 0 ]
	wait_pid "$client" 30
	cat "$TMP/client.json"
	grep -q '"requested":3000,"established":3000,"failed":0,' "$TMP/client.json"
	grep -q '"replies":3000,"matched":3000,"mismatched":0,"no_reply":0,' "$TMP/client.json"
	grep -q '"procs":2,' "$TMP/client.json"
	# The clients closed: the kernel and the server let go of every connection.
	for i in $(seq 50); do
		[ "$(kernel_established "$PORT")" -eq 0 ] && [ "$(server_open)" -eq 0 ] && break
		sleep 0.1
	done
	[ "$(kernel_established "$PORT")" -eq 0 ]
	[ "$(server_open)" -eq 0 ]
}

@test "serve --workers: one SO_REUSEPORT listener per worker on the same port; one summary per worker and a total" {
	start_server --workers 3 --keep -f line 127.0.0.1:0
	grep -qx "portscope: 3 workers, each with its own SO_REUSEPORT listener" "$TMP/err"
	run "$PORTSCOPE" ls -o --state listen "$PORT"
	echo "$output"
	no_pidfd || [ "$(grep -c "^tcp .*listener .*reuseport=1 .*reuseport_group=1\$" <<<"$output")" -eq 3 ]
	[ "$(grep -Eo '^tcp .*listener' <<<"$output" | wc -l)" -eq 3 ]
	run "$PSTEST" hold "$PORT" 60
	[ "$output" = "connected=60 replies=60 matched=60" ]
	wait_for_count "$TMP/out" '^conn=' 60 5
	# The clients have closed: once the workers have closed their ends too, none is open.
	wait_server_closed "$PORT" 20
	stop_server TERM
	cat "$TMP/err"
	[ "$SERVER_STATUS" -eq 0 ]
	[ "$(grep -c '^portscope: worker [123] (pid [0-9]*): served [0-9]* (0 still open, now closed)$' "$TMP/err")" -eq 3 ]
	grep -qx 'portscope: served 60 connections (0 still open, now closed)' "$TMP/err"
	# Every report line is whole: workers never interleave mid-line.
	[ "$(grep -cv '^conn=[0-9]* tcp fd=[0-9]* local=127.0.0.1:[0-9]* peer=127.0.0.1:[0-9]* listener_fd=[0-9]* listener=127.0.0.1:[0-9]*$' "$TMP/out")" -eq 0 ]
}

# pause_one_worker [USER]: one worker (run as USER, if given) in a namespace of our own,
# with room for about 50 connections (128 descriptors less a reserve of 64).  40 clients
# are held; another member joins its SO_REUSEPORT group (as USER too); 60 more clients
# are shared between the two, so that the worker passes its limit and stops listening;
# then the 40 leave.  Sets output to connect's JSON for the 60.
pause_one_worker() {
	local ns=portscope-test-$$ user=() as=() wave1
	[ "$(id -u)" -eq 0 ] || skip "needs root for a network namespace"
	command -v prlimit >/dev/null && command -v ip >/dev/null || skip "needs prlimit and ip"
	[ -z "${PORTSCOPE_VALGRIND:-}" ] || skip "valgrind blocks setrlimit"
	if [ -n "${1:-}" ]; then
		command -v setpriv >/dev/null && id "$1" >/dev/null 2>&1 || skip "needs setpriv and $1"
		user=(--user "$1")
		as=(setpriv --reuid="$1" --regid="$(id -g "$1")" --clear-groups)
	fi
	# With tcp_migrate_req, set here without touching the host, clients queued on a
	# listener that closes move to the other listeners.
	ip netns add "$ns"
	NETNS=$ns
	ip netns exec "$ns" ip link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv4.tcp_migrate_req=1 || skip "no tcp_migrate_req in this kernel"
	: >"$TMP/out"; : >"$TMP/err"; ip netns exec "$ns" prlimit --nofile=128 "$PORTSCOPE" serve --workers 1 --keep -q --interval 0.2 "${user[@]}" 127.0.0.1:0 >"$TMP/out" 2>"$TMP/err" &
	SERVER_PID=$!
	wait_for_line "$TMP/err" '^portscope: 1 worker,' 5
	PORT=$(sed -n 's/^portscope: listening on .*:\([0-9]*\)$/\1/p' "$TMP/err")
	ip netns exec "$ns" "$PORTSCOPE" connect -n 40 --hold forever -f json "$PORT" >"$TMP/wave1" 2>&1 &
	wave1=$!
	BG_PIDS+=("$wave1")
	wait_for_line "$TMP/out" 'open 40 ' 10
	! grep -q 'not listening' "$TMP/err" || false
	: >"$TMP/acceptor"; ip netns exec "$ns" "${as[@]}" "$PSTEST" acceptor "$PORT" >"$TMP/acceptor" &
	BG_PIDS+=("$!")
	wait_for_line "$TMP/acceptor" ready 5
	run timeout 30 ip netns exec "$ns" "$PORTSCOPE" connect -n 60 --rate 1000 --hold 0.5 -f json "$PORT"
	echo "$output"
	cat "$TMP/err"
	[ "$status" -eq 0 ]
	grep -q 'near the limit of 128 descriptors: not listening until some close' "$TMP/err"
	kill -INT "$wave1"
}

@test "a worker near its descriptor limit stops listening, the others take the clients, none is refused" {
	pause_one_worker
	[[ $output == *'"established":60,"failed":0,'* ]]
	[[ $output == *'"replies":60,"matched":60,'* ]]
	# Once the clients have gone, the worker listens again.
	wait_for_line "$TMP/err" 'listening again' 5
}

@test "--workers with --user: a worker that stopped listening near its limit listens again as the new user" {
	pause_one_worker nobody
	grep -q 'running as nobody' "$TMP/err"
	[[ $output == *'"established":60,"failed":0,'* ]]
	# Its new listener is nobody's, as the others of the group are: it may join them.
	wait_for_line "$TMP/err" 'listening again' 5
	! grep -q 'listening again: ' "$TMP/err" || false
}

@test "connect -n: the summary names what happened; json carries every figure" {
	start_server --workers 2 --keep -q 127.0.0.1:0
	run timeout 30 "$PORTSCOPE" connect -n 500 -c 50 --source 127.0.0.2-127.0.0.3 "$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "portscope connect: 500 of 500 connections established to 127.0.0.1:$PORT" ]
	[[ ${lines[1]} =~ ^\ \ ramp\ +[0-9.]+\ s,\ [0-9]+\ connections/s,\ 1\ process$ ]]
	[ "${lines[2]}" = "  failed      0" ]
	# Each latency to the microsecond, always with three decimals (never %g's 1 or 3.01e+03).
	[[ ${lines[3]} =~ ^\ \ latency\ +p50\ [0-9]+\.[0-9]{3}\ ms\ p90\ [0-9]+\.[0-9]{3}\ ms\ p99\ [0-9]+\.[0-9]{3}\ ms\ max\ [0-9]+\.[0-9]{3}\ ms$ ]]
	[ "${lines[4]}" = "  replies     500 portscope/1 lines: 500 matched this end's view, 0 differed, 0 missing" ]
	[[ ${lines[5]} =~ ^\ \ distinct\ +[0-9]+\ source\ ports,\ 2\ source\ addresses$ ]]
	t0=$(date +%s%N)
	run timeout 30 "$PORTSCOPE" connect -n 200 --rate 2000 -f json "$PORT"
	t1=$(date +%s%N)
	[ "$status" -eq 0 ]
	# By this test's own clock too: at least 0.08 s.
	[ $(( (t1 - t0) / 1000000 )) -ge 80 ]
	for key in requested established failed failures ramp_seconds rate_per_s latency_us replies matched source_ports source_addresses; do
		[[ $output == *"\"$key\":"* ]]
	done
	# --rate 2000 makes 200 connections take about a tenth of a second, not less.
	ramp=$(sed -n 's/.*"ramp_seconds":\([0-9.]*\).*/\1/p' <<<"$output")
	[ "$(echo "$ramp >= 0.08" | bc)" -eq 1 ]
}

# late_accept FILE: a python3 listener on 127.0.0.1 with a queue of 1 that accepts nothing
# for 1.5 s, then everything (held, silent); its port is the first line of FILE.
late_accept() {
	spawn "$1" python3 -c '
import socket, time
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(1)
print(l.getsockname()[1], flush=True)
time.sleep(1.5)
held = []
end = time.time() + 20
l.settimeout(0.2)
while time.time() < end:
    try:
        held.append(l.accept()[0])
    except socket.timeout:
        pass'
	wait_for_line "$1" '^[0-9]' 5
}

@test "connect -n: a latency of seconds (SYNs dropped by a full accept queue) is printed whole, to the microsecond" {
	# The kernel drops the SYNs past the full queue, and the client's retransmission (after
	# 1 s, then 3 s) makes a connect time of seconds: JSON's latency_us says so, and the text
	# line gives it in ms with three decimals, never as %g's 3.01e+03.
	late_accept "$TMP/a"
	run timeout 30 "$PORTSCOPE" connect -n 6 -c 6 -r 0.1 -f json "127.0.0.1:$(cat "$TMP/a")"
	echo "$output"
	[ "$(jq .established <<<"$output")" -eq 6 ]
	[ "$(jq .latency_us.max <<<"$output")" -ge 1000000 ]
	late_accept "$TMP/b"
	run timeout 30 "$PORTSCOPE" connect -n 6 -c 6 -r 0.1 "127.0.0.1:$(cat "$TMP/b")"
	echo "$output"
	[[ ${lines[0]} == "portscope connect: 6 of 6 connections established to "* ]]
	max=$(sed -n 's/^  latency .* max \([^ ]*\) ms$/\1/p' <<<"$output")
	[[ $max =~ ^[0-9]{4,}\.[0-9]{3}$ ]]
}

@test "connect -n: failures are counted by reason, and the exit status is 1" {
	port=$("$PSTEST" freeport)
	run timeout 30 "$PORTSCOPE" connect -n 20 -f json "$port"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ $output == *'"established":0,"failed":20,"failures":{"ECONNREFUSED":20}'* ]]
	run timeout 30 "$PORTSCOPE" connect -n 20 "$port"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "portscope connect: 0 of 20 connections established to 127.0.0.1:$port" ]
	[ "${lines[2]}" = "  failed      20: reset 20 (ECONNREFUSED 20)" ]
}

@test "connect -n: replies are compared with this end's view: matched, differed, missing; exit 0 all the same" {
	# A server of python3's own: of every three connections, it tells the first the truth,
	# the second a wrong port for it, and the third nothing.
	spawn "$TMP/liar" python3 -c '
import socket, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(100)
print(l.getsockname()[1], flush=True)
held = []
for i in range(30):
    c, (host, port) = l.accept()
    me = "%s:%d" % c.getsockname()
    if i % 3 == 0:
        c.sendall(("portscope/1 you=%s:%d me=%s proto=tcp conn=%d fd=%d\n" % (host, port, me, i + 1, c.fileno())).encode())
    elif i % 3 == 1:
        c.sendall(("portscope/1 you=%s:%d me=%s proto=tcp conn=%d fd=%d\n" % (host, port ^ 1, me, i + 1, c.fileno())).encode())
    held.append(c)
time.sleep(30)'
	wait_for_line "$TMP/liar" '^[0-9]' 5
	port=$(head -1 "$TMP/liar")
	run timeout 30 "$PORTSCOPE" connect -n 30 -r 0.5 -f json "$port"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *'"established":30,"failed":0,'* ]]
	[[ $output == *'"replies":20,"matched":10,"mismatched":10,"no_reply":10,'* ]]
}

# interrupt_held N ARGS...: runs `connect -n N --hold forever ARGS` on $PORT under
# `timeout -s KILL 30` (a backstop, should this test's own teardown not run), waits for
# its N connections, saves what ss sees of the clients' ends then (established, to
# 127.0.0.1:$PORT: Recv-Q Send-Q local peer) in $TMP/ss.held, sends SIGINT to portscope
# itself, and waits 5 s at most for it to end (under valgrind: 30 s, backstop 300 s).
# Both pids are stopped at teardown.  Sets CLIENT (portscope's pid), STATUS (its exit
# status) and output (its stdout); fails if it did not end in time.
interrupt_held() {
	local t i n=$1 limit=5 backstop=30
	shift
	# Under valgrind everything is slower: 30 s to end, and the backstop later.
	[ -z "${PORTSCOPE_VALGRIND:-}" ] || limit=30 backstop=300
	: >"$TMP/client.out"; : >"$TMP/client.err"; timeout -s KILL "$backstop" "$PORTSCOPE" connect -n "$n" --hold forever "$@" "$PORT" >"$TMP/client.out" 2>"$TMP/client.err" &
	t=$!
	BG_PIDS+=("$t")
	# timeout's child, once it is portscope (not before its exec).
	for ((i = 0; i < 50; i++)); do
		CLIENT=$(cat /proc/"$t"/task/*/children 2>/dev/null | tr -d ' ')
		[ -n "$CLIENT" ] && [ "$(cat /proc/"$CLIENT"/comm 2>/dev/null)" = "$COMM" ] && break
		sleep 0.1
	done
	[ -n "$CLIENT" ]
	BG_PIDS+=("$CLIENT")
	[ "$(cat /proc/"$CLIENT"/comm)" = "$COMM" ]
	wait_established "$PORT" "$n" 10
	ss -Htn state established dst "127.0.0.1:$PORT" >"$TMP/ss.held"
	kill -INT "$CLIENT"
	for ((i = 0; i < limit * 10; i++)); do
		kill -0 "$t" 2>/dev/null || break
		sleep 0.1
	done
	output=$(cat "$TMP/client.out")
	echo "$output"
	cat "$TMP/client.err"
	if kill -0 "$t" 2>/dev/null; then
		echo "portscope connect (pid $CLIENT) still running $limit s after SIGINT" >&2
		return 1
	fi
	STATUS=0
	wait "$t" || STATUS=$?
	# No process left: portscope itself is gone, not only timeout.
	[ ! -e "/proc/$CLIENT" ]
}

@test "connect -n: SIGINT prints the summary so far" {
	start_server --keep -q 127.0.0.1:0
	interrupt_held 300 -f json
	# All 300 were established before the signal: exit 0, and the summary says interrupted.
	[ "$STATUS" -eq 0 ]
	[ ! -s "$TMP/client.err" ]
	python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
assert (d["requested"], d["established"], d["failed"], d["interrupted"]) == (300, 300, 0, True), d' <<<"$output"
	# The held connections were closed: ss sees none established to the port.
	for i in $(seq 50); do
		[ "$(ss -Htn state established dst "127.0.0.1:$PORT" | wc -l)" -eq 0 ] && break
		sleep 0.1
	done
	[ "$(ss -Htn state established dst "127.0.0.1:$PORT" | wc -l)" -eq 0 ]
	# In text, the first line says so.
	interrupt_held 300 -f line
	[ "$STATUS" -eq 0 ]
	[ "$(head -1 <<<"$output")" = "portscope connect: 300 of 300 connections established to 127.0.0.1:$PORT (interrupted)" ]
	grep -qx "  failed      0" <<<"$output"
}

@test "connect -n --source: each address of the range makes its share, from ports the kernel picks, as ss sees them" {
	start_server --keep -q 127.0.0.1:0
	interrupt_held 300 --source 127.0.0.2-127.0.0.4 -f json
	[ "$STATUS" -eq 0 ]
	cat "$TMP/ss.held" | head -5
	# 300 connections, 100 from each of the three addresses, none from another.
	[ "$(wc -l <"$TMP/ss.held")" -eq 300 ]
	[ "$(awk '{sub(/:[0-9]+$/, "", $3); print $3}' "$TMP/ss.held" | sort | uniq -c | awk '{print $2, $1}' | tr '\n' ' ')" = "127.0.0.2 100 127.0.0.3 100 127.0.0.4 100 " ]
	# The summary's figures are those ss shows: 3 addresses, and as many distinct ports.
	ports=$(awk '{n = split($3, a, ":"); print a[n]}' "$TMP/ss.held" | sort -u | wc -l)
	python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
assert (d["established"], d["source_addresses"], d["source_ports"]) == (300, 3, int(sys.argv[1])), (d, sys.argv[1])' "$ports" <<<"$output"
	# Without --source: one address, 300 distinct ports.
	interrupt_held 300 -f json
	[ "$STATUS" -eq 0 ]
	[ "$(awk '{print $3}' "$TMP/ss.held" | sort -u | wc -l)" -eq 300 ]
	[ "$(awk '{sub(/:[0-9]+$/, "", $3); print $3}' "$TMP/ss.held" | sort -u)" = 127.0.0.1 ]
	[[ $output == *'"source_ports":300,"source_addresses":1,'* ]]
}

# client_pids PID N: the pids of PID's N child processes (connect --procs's client
# processes), read from /proc by parent pid; waits up to 5 s for all N.
client_pids() {
	local i pids
	for ((i = 0; i < 50; i++)); do
		pids=$(cat /proc/"$1"/task/*/children 2>/dev/null)
		[ "$(wc -w <<<"$pids")" -eq "$2" ] && { echo $pids; return 0; }
		sleep 0.1
	done
	echo "pid $1 has not $2 child processes after 5 s: $pids" >&2
	return 1
}

@test "connect --procs: a client process stopped (SIGSTOP) and continued (SIGCONT) is still running; the run completes, exit 0" {
	start_server --keep -q 127.0.0.1:0
	# -r 10: a reply that waits in the kernel while its client is stopped is still in time.
	: >"$TMP/client.json"; : >"$TMP/client.err"; "$PORTSCOPE" connect -n 400 --procs 2 -r 10 --hold 3 -f json "$PORT" >"$TMP/client.json" 2>"$TMP/client.err" &
	client=$!
	BG_PIDS+=("$client")
	wait_established "$PORT" 400 10
	kids=($(client_pids "$client" 2))
	BG_PIDS+=("${kids[@]}")
	kill -STOP "${kids[0]}"
	sleep 1
	[ "$(cut -d' ' -f3 "/proc/${kids[0]}/stat")" = T ]
	# Stopped is not ended: the parent waits, and says nothing.
	kill -0 "$client"
	[ ! -s "$TMP/client.err" ]
	kill -CONT "${kids[0]}"
	status=0
	wait_pid "$client" 20 || status=$?
	cat "$TMP/client.json" "$TMP/client.err"
	[ "$status" -eq 0 ]
	grep -q '"requested":400,"established":400,"failed":0,' "$TMP/client.json"
	grep -q '"replies":400,"matched":400,' "$TMP/client.json"
	grep -q '"interrupted":false}' "$TMP/client.json"
	[ ! -s "$TMP/client.err" ]
}

@test "connect --procs: a client process killed (SIGKILL) is named with its signal at once; the run ends interrupted, exit 1" {
	start_server --keep -q 127.0.0.1:0
	: >"$TMP/client.json"; : >"$TMP/client.err"; "$PORTSCOPE" connect -n 400 --procs 2 --hold forever -f json "$PORT" >"$TMP/client.json" 2>"$TMP/client.err" &
	client=$!
	BG_PIDS+=("$client")
	wait_established "$PORT" 400 10
	kids=($(client_pids "$client" 2))
	BG_PIDS+=("${kids[@]}")
	kill -KILL "${kids[1]}"
	# Said as it happens, while the other client process still holds its connections.
	wait_for_line "$TMP/client.err" 'killed by SIGKILL' 5
	cat "$TMP/client.err"
	grep -Eqx "portscope connect: client process [12] \\(pid ${kids[1]}\\) killed by SIGKILL: its connections are not counted" "$TMP/client.err"
	[ "$(wc -l <"$TMP/client.err")" -eq 1 ]
	kill -0 "$client"
	kill -INT "$client"
	status=0
	wait_pid "$client" 10 || status=$?
	cat "$TMP/client.json"
	[ "$status" -eq 1 ]
	grep -q '"requested":400,"established":200,"failed":0,' "$TMP/client.json"
	grep -q '"procs":2,' "$TMP/client.json"
	grep -q '"interrupted":true}' "$TMP/client.json"
	[ "$(wc -l <"$TMP/client.err")" -eq 1 ]
}

@test "connect -n: limits are checked before starting, with a clear message" {
	run timeout 10 "$PORTSCOPE" connect -n 15000 --procs 2 127.0.0.1:9
	[ "$status" -eq 1 ]
	[[ ${lines[0]} == *"15000 connections over 1 (source, destination) address pair need 15000 ports each; ip_local_port_range"*"add source addresses"* ]]
	if [ -z "${PORTSCOPE_VALGRIND:-}" ]; then	# valgrind blocks setrlimit
		run timeout 10 prlimit --nofile=100 "$PORTSCOPE" connect -n 500 127.0.0.1:9
		[ "$status" -eq 1 ]
		[[ ${lines[0]} == *"500 connections in 1 process need 533 descriptors each, but a process may hold 100: use --procs 8 or more" ]]
	fi
	run timeout 10 "$PORTSCOPE" connect -n 10 --source 198.18.0.1 127.0.0.1:9
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "portscope connect: source address 198.18.0.1: Cannot assign requested address" ]
	run timeout 10 "$PORTSCOPE" connect -n 10 --source 127.0.0.9-127.0.0.2 127.0.0.1:9
	[ "$status" -eq 2 ]
	run timeout 10 "$PORTSCOPE" connect --hold 5 127.0.0.1:9
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope connect: '--hold' needs -n (it is about many connections)" ]
	run timeout 10 "$PORTSCOPE" connect -n 0 127.0.0.1:9
	[ "$status" -eq 2 ]
}

@test "bench: a small run where server, clients and kernel agree, in text, json and an SVG chart" {
	run timeout 120 "$PORTSCOPE" bench -n 2000 --hold 0.5 -f json --chart "$TMP/ramp.svg"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *'"connections":2000,"connections_held":2000,"server_count":2000,"client_count":2000,"kernel_count":2000,"failures":0,'* ]]
	for key in ramp_seconds rate_per_s server_cpu_us_per_conn server_bytes_per_conn client_bytes_per_conn kernel_bytes_per_conn ls_seconds ss_seconds; do
		[[ $output == *"\"$key\":"* ]]
	done
	[[ $output == *'"ok":true}' ]]
	grep -q '^<svg ' "$TMP/ramp.svg"
	grep -q 'connections held' "$TMP/ramp.svg"
	[ "$(grep -c '<polyline' "$TMP/ramp.svg")" -eq 2 ]
	python3 -c 'import json,sys; d = json.loads(sys.stdin.read()); assert d["ok"] is True and d["connections"] == 2000, d' <<<"$output"
	# In text: the same figures, one line each.
	rm "$TMP/ramp.svg"
	run timeout 120 "$PORTSCOPE" bench -n 2000 --hold 0.5 --chart "$TMP/ramp.svg"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 11 ]
	[[ ${lines[0]} =~ ^portscope\ bench:\ 2000\ connections\ to\ 127\.0\.0\.1:[0-9]+,\ [0-9]+\ server\ workers?,\ [0-9]+\ client\ process(es)?,\ [0-9]+\ source\ address(es)?$ ]]
	[[ ${lines[1]} =~ ^\ \ held\ +server\ 2000,\ clients\ 2000,\ kernel\ 2000,\ for\ [0-9.]+\ s\;\ 0\ failures$ ]]
	[[ ${lines[2]} =~ ^\ \ ramp\ +[0-9.]+\ s,\ [0-9]+\ connections/s,\ [0-9.]+\ of\ the\ floor$ ]]
	[[ ${lines[3]} =~ ^\ \ kernel\ floor\ +[0-9]+\ connections/s\  ]]
	[[ ${lines[4]} =~ ^\ \ floor\ at\ scale\ +[0-9]+\ connections/s,\ one\ round\ with\ the\ 2000\ held\  ]]
	[[ ${lines[5]} =~ ^\ \ server\ CPU\ +[0-9.]+\ us\ per\ accepted\ connection$ ]]
	[[ ${lines[6]} =~ ^\ \ user\ memory\ +server\ -?[0-9.]+\ B,\ client\ -?[0-9.]+\ B\ per\ connection$ ]]
	[[ ${lines[7]} =~ ^\ \ kernel\ memory\ +-?[0-9]+\ B\ per\ connection\ \(slab,\ both\ ends\)$ ]]
	[[ ${lines[8]} =~ ^\ \ listing\ +portscope\ ls\ [0-9.]+\ s,\ ss\ [0-9.]+\ s\ \(ss\ takes\ [0-9.]+x\ as\ long\)$ ]]
	[[ ${lines[9]} =~ ^\ \ namespace\ +(its\ own,\ established-socket\ table\ of\ [0-9]+\ buckets|the\ caller\'s)$ ]]
	[ "${lines[10]}" = "  chart           $TMP/ramp.svg" ]
	grep -q '^<svg ' "$TMP/ramp.svg"
}

# fake_note DIR: a note of the seed's shape in DIR/note.txt: a python block whose server
# listens on localhost:8080 (the bench puts its own port there), accepts and closes.
fake_note() {
	mkdir -p "$1"
	printf '%s\n' '# a note' '``` python' 'import socket' '' 's = socket.socket()' \
		"s.bind(('localhost', 8080))" 's.listen(5)' 'while True:' '    conn, address = s.accept()' \
		"    print('client address is\\n' + str(address))" '    conn.close()' '```' >"$1/note.txt"
}

@test "bench --accept-only finds the note from the program's own path, not the current directory; --note DIR; a peer left out is said" {
	# The project's layout, elsewhere: TREE/repo/build/portscope and the note in TREE/shared/seed.
	# (Under valgrind, the program the wrapper runs: the copy runs without valgrind.)
	bin=$PORTSCOPE
	[ -n "${PORTSCOPE_VALGRIND:-}" ] && bin=$(sed -n 's/^exec .* "\([^"]*\)" "\$@"$/\1/p' "$PORTSCOPE")
	mkdir -p "$TMP/tree/repo/build" "$TMP/cwd"
	cp "$bin" "$TMP/tree/repo/build/portscope"
	fake_note "$TMP/tree/shared/seed"
	cd "$TMP/cwd"
	"$TMP/tree/repo/build/portscope" bench --accept-only -n 200 --procs 1 -f json >"$TMP/json" 2>"$TMP/err"
	cat "$TMP/json" "$TMP/err"
	! grep -q 'python peer left out' "$TMP/err" || false
	[ "$(jq '.peers.python > 0 and .left_out.python == null' "$TMP/json")" = true ]
	# --note DIR, from anywhere.
	run timeout 120 "$PORTSCOPE" bench --accept-only -n 200 --procs 1 -f json --note "$TMP/tree/shared/seed"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(jq '.peers.python > 0' <<<"${lines[-1]}")" = true ]
	# No note where it is said to be: the peer is left out, and both stderr and the JSON say why.
	timeout 120 "$PORTSCOPE" bench --accept-only -n 200 --procs 1 -f json --note "$TMP/cwd" >"$TMP/json" 2>"$TMP/err"
	cat "$TMP/json" "$TMP/err"
	grep -qx "portscope bench: python peer left out: no note (a .txt file) in $TMP/cwd" "$TMP/err"
	[ "$(jq -r '.left_out.python + " " + (.peers.python | tostring)' "$TMP/json")" = "no note (a .txt file) in $TMP/cwd null" ]
}

@test "connect -n --progress: the progress line as whole lines on stderr, a file here; none without it; refused without -n" {
	start_server --workers 2 --keep -q --interval 10 127.0.0.1:0
	timeout 60 "$PORTSCOPE" connect -n 300 --hold 0.6 --progress -f json "$PORT" >"$TMP/client.json" 2>"$TMP/client.err"
	cat "$TMP/client.err"
	! grep -q $'\r' "$TMP/client.err"
	grep -Eq '^portscope: established 300, in flight 0, failed 0, [0-9]+/s$' "$TMP/client.err"
	[ "$(grep -Evc '^portscope: established [0-9]+, in flight [0-9]+, failed [0-9]+, [0-9]+/s$' "$TMP/client.err")" -eq 0 ]
	[ "$(jq .established "$TMP/client.json")" -eq 300 ]
	timeout 60 "$PORTSCOPE" connect -n 300 --hold 0.6 -f json "$PORT" >"$TMP/client.json" 2>"$TMP/client.err"
	[ ! -s "$TMP/client.err" ]
	run timeout 10 "$PORTSCOPE" connect --progress "$PORT"
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope connect: '--progress' needs -n (it is about many connections)" ]
}
