#!/usr/bin/env bats
# portscope watch: events about the sockets of a port, from dumps and the kernel's
# destroy notifications.  Expected values come from ss and python3's own sockets.

load helpers

# Tests that need TIME_WAIT sockets run in a network namespace of their own: the
# kernel keeps at most net.ipv4.tcp_max_tw_buckets of them per namespace, and other
# jobs on the host may have filled the host's.  NS is the command prefix (empty: the host's).
NS=()
own_netns() {
	NETNS="ps-watch-$$-$BATS_TEST_NUMBER"
	ip netns add "$NETNS"
	ip -n "$NETNS" link set lo up
	NS=(ip netns exec "$NETNS")
}

# start_server_ns ARGS...: start_server, in NS.
start_server_ns() {
	: >"$TMP/out"; : >"$TMP/err"; "${NS[@]}" "$PORTSCOPE" serve "$@" >"$TMP/out" 2>"$TMP/err" &
	SERVER_PID=$!
	server_listening
}

# start_watch ARGS...: runs `portscope watch ARGS` in the background (stdout to
# $TMP/events, stderr to $TMP/watch.err), waits until it says it is watching; sets WATCH_PID.
start_watch() {
	: >"$TMP/events"; : >"$TMP/watch.err"; "${NS[@]}" "$PORTSCOPE" watch "$@" >"$TMP/events" 2>"$TMP/watch.err" &
	WATCH_PID=$!
	BG_PIDS+=("$WATCH_PID")
	wait_for_line "$TMP/watch.err" 'watching' 5 || { cat "$TMP/watch.err" >&2; return 1; }
}

# stop_watch: SIGTERM, and its exit status must be 0.
stop_watch() {
	kill -TERM "$WATCH_PID"
	wait_pid "$WATCH_PID" 5
}

# ss_cookies PORT: "cookie state local peer" of the TCP sockets on PORT, from ss -e (sk:HEX).
ss_cookies() {
	local ck st l p
	"${NS[@]}" ss -Htanoe "( src 127.0.0.1:$1 or dst 127.0.0.1:$1 )" | awk '{
		ck = ""; for (i = 1; i <= NF; i++) if ($i ~ /^sk:/) ck = substr($i, 4)
		st = $1; gsub("-", "_", st); if (st == "ESTAB") st = "ESTABLISHED"
		print ck, st, $4, $5 }' | while read -r ck st l p; do
		[ "$p" = "0.0.0.0:*" ] && p=null
		echo "$((16#$ck)) $st $l $p"
	done | sort
}

@test "watch: the sockets there at the start, marked initial, as ss lists them (cookie, state, 4-tuple)" {
	start_server 127.0.0.1:0 --keep -f line
	exec {c1}<>"/dev/tcp/127.0.0.1/$PORT"
	exec {c2}<>"/dev/tcp/127.0.0.1/$PORT"
	wait_for_count "$TMP/out" '^conn=' 2 5
	# TCP only (-t): a UDP socket of another test may have the same port number.
	start_watch -f json -t -i 10 "127.0.0.1:$PORT"
	wait_for_count "$TMP/events" '"event"' 5 5
	stop_watch
	cat "$TMP/events"
	# Every line is a JSON object; all five are initial appearances, seen by the dump.
	[ "$(jq -c 'select(.event == "appeared" and .initial == true and .via == "dump")' "$TMP/events" | wc -l)" -eq 5 ]
	got=$(jq -r '"\(.cookie) \(.state) \(.local) \(.peer)"' "$TMP/events" | sort)
	want=$(ss_cookies "$PORT")
	echo "ss: $want"
	[ -n "$want" ]
	[ "$got" = "$want" ]
	# Roles, from the ports: the listener, 2 accepted (local port), 2 clients (remote port).
	[ "$(jq -r 'select(.role == "listener") | .local' "$TMP/events")" = "127.0.0.1:$PORT" ]
	[ "$(jq -r 'select(.role == "accepted") | .local' "$TMP/events" | sort -u)" = "127.0.0.1:$PORT" ]
	[ "$(jq -r 'select(.role == "client") | .peer' "$TMP/events" | sort -u)" = "127.0.0.1:$PORT" ]
	# -n: the same start, not reported.
	start_watch -f json -t --no-initial -i 10 "127.0.0.1:$PORT"
	sleep 0.3
	stop_watch
	[ ! -s "$TMP/events" ]
	exec {c1}>&- {c2}>&-
}

@test "watch: 1000 connections born and gone within one dump interval, each reported via the kernel's notifications" {
	own_netns
	start_server_ns 127.0.0.1:0 -f line
	# A 30 s interval: after the first dump, only destroy notifications can tell.
	start_watch -f json -t -i 30 "127.0.0.1:$PORT"
	# Each client connects, reads the server's line and closes: the server closed
	# first, so its end waits in TIME_WAIT; the client's end is freed.
	"${NS[@]}" python3 -c '
import socket, sys
for i in range(1000):
    c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    print(c.getsockname()[1])
    while c.recv(512):
        pass
    c.close()' "$PORT" | sort -n >"$TMP/ports"
	[ "$(wc -l <"$TMP/ports")" -eq 1000 ]
	wait_for_count "$TMP/events" '"role":"client"' 2000 20 || true
	wait_for_count "$TMP/events" '"state":"TIME_WAIT"' 1000 20 || true
	stop_watch
	# No dump ran after the first: everything below came from notifications.
	[ "$(jq -c 'select(.via == "dump" and .initial == false)' "$TMP/events" | wc -l)" -eq 0 ]
	# Every client end appeared and went away, by its port.
	jq -r 'select(.role == "client" and .event == "appeared") | .local' "$TMP/events" | sed 's/.*://' | sort -n >"$TMP/appeared"
	jq -r 'select(.role == "client" and .event == "gone") | .local' "$TMP/events" | sed 's/.*://' | sort -n >"$TMP/gone"
	diff "$TMP/ports" "$TMP/appeared"
	diff "$TMP/ports" "$TMP/gone"
	# Every server end appeared in TIME_WAIT (its stand-in, found by a lookup of the 4-tuple),
	# closed by its owner: orphaned, as ls says.
	jq -r 'select(.role == "orphaned" and .event == "appeared" and .state == "TIME_WAIT" and .recv_q == null) | .peer' "$TMP/events" |
		sed 's/.*://' | sort -n >"$TMP/tw"
	diff "$TMP/ports" "$TMP/tw"
	# The kernel agrees: 1000 TIME_WAIT sockets on the port now.
	[ "$("${NS[@]}" ss -Htan state time-wait "( src 127.0.0.1:$PORT )" | wc -l)" -eq 1000 ]
	[ "$(grep -c '"event":"lost"' "$TMP/events")" -eq 0 ]
}

@test "watch: a closing connection known from a dump changes to TIME_WAIT (same cookie), its peer is gone" {
	own_netns
	start_server_ns 127.0.0.1:0 --keep -f line
	mkfifo "$TMP/go"
	spawn "$TMP/client" "${NS[@]}" python3 -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
b = b""
while not b.endswith(b"\n"):  # the portscope/1 line: a close with unread data would be a reset
    b += c.recv(512)
print(c.getsockname()[1], flush=True)
open(sys.argv[2]).read()
c.close()
print("closed", flush=True)
import time; time.sleep(20)' "$PORT" "$TMP/go"
	wait_for_line "$TMP/client" '^[0-9]' 5
	cport=$(head -1 "$TMP/client")
	wait_for_count "$TMP/out" '^conn=' 1 5
	start_watch -f json -t -i 30 "127.0.0.1:$PORT"
	cookie=$(ss_cookies "$PORT" | awk -v p="127.0.0.1:$cport" '$3 == p {print $1}')
	[ -n "$cookie" ]
	echo go >"$TMP/go"
	wait_for_line "$TMP/client" closed 5
	wait_for_line "$TMP/events" '"event":"changed"' 5 || { cat "$TMP/events" "$TMP/client"; "${NS[@]}" ss -tanoe "( src 127.0.0.1:$PORT or dst 127.0.0.1:$PORT )"; false; }
	wait_for_line "$TMP/events" '"event":"gone"' 5
	stop_watch
	cat "$TMP/events"
	# The client closed first: its end went to TIME_WAIT, with the cookie it had.
	run jq -r 'select(.event == "changed") | "\(.cookie) \(.prev_state) \(.state) \(.local) \(.via)"' "$TMP/events"
	[ "$output" = "$cookie ESTABLISHED TIME_WAIT 127.0.0.1:$cport lookup" ]
	[ "$("${NS[@]}" ss -Htan state time-wait "( src 127.0.0.1:$cport and dst 127.0.0.1:$PORT )" | awk '{print $3}')" = "127.0.0.1:$cport" ]
	# The server's end closed second (LAST_ACK) and was freed: gone, seen by a notification.
	run jq -r 'select(.event == "gone") | "\(.role) \(.peer) \(.via)"' "$TMP/events"
	[ "$output" = "accepted 127.0.0.1:$cport destroy" ]
}

@test "watch --until 'listen>=1': waits for a server started later, exit 0" {
	port=$("$PSTEST" freeport)
	start=$(date +%s%N)
	: >"$TMP/watch.err"; "$PORTSCOPE" watch -q -i 0.1 --until 'listen>=1' --timeout 10 "$port" 2>"$TMP/watch.err" &
	wpid=$!
	BG_PIDS+=("$wpid")
	sleep 1
	# Still waiting: nothing listens yet.
	kill -0 "$wpid"
	start_server "127.0.0.1:$port" -f line
	status=0
	wait_pid "$wpid" 5 || status=$?
	[ "$status" -eq 0 ]
	elapsed=$((($(date +%s%N) - start) / 1000000))
	echo "exit after $elapsed ms"
	[ "$elapsed" -ge 1000 ]
	[ "$elapsed" -lt 5000 ]
}

@test "watch --until 'established>=2' counts both ends; roles too ('client>=1')" {
	start_server 127.0.0.1:0 --keep -f line
	"$PORTSCOPE" watch -q -i 0.1 --until 'established>=2' --until 'client>=1' --timeout 10 "$PORT" &
	wpid=$!
	BG_PIDS+=("$wpid")
	sleep 0.5
	kill -0 "$wpid"
	exec {c1}<>"/dev/tcp/127.0.0.1/$PORT"
	status=0
	wait_pid "$wpid" 5 || status=$?
	[ "$status" -eq 0 ]
	# The kernel agrees: 2 established sockets on the port, one of them the client's.
	[ "$(ss -Htan state established "( src 127.0.0.1:$PORT or dst 127.0.0.1:$PORT )" | wc -l)" -eq 2 ]
	exec {c1}>&-
}

@test "watch --timeout: exit 5 when the --until condition never held; 0 without --until" {
	start_server 127.0.0.1:0 -f line
	start=$(date +%s%N)
	run "$PORTSCOPE" watch -q -i 0.2 --until 'established>=1' --timeout 1 "$PORT"
	elapsed=$((($(date +%s%N) - start) / 1000000))
	echo "$output"
	[ "$status" -eq 5 ]
	[ "$elapsed" -ge 1000 ]
	[ "$elapsed" -lt 4000 ]
	grep -q -- "--until condition did not hold" <<<"$output"
	run "$PORTSCOPE" watch -q -i 0.2 --timeout 0.5 "$PORT"
	[ "$status" -eq 0 ]
}

@test "watch: lost notifications (a tiny queue, the watcher stopped) give a 'lost' event and a fresh dump" {
	own_netns
	start_server_ns 127.0.0.1:0 -f line
	start_watch -f json -t -i 30 --rcvbuf 1024 "127.0.0.1:$PORT"
	kill -STOP "$WATCH_PID"
	"${NS[@]}" python3 -c '
import socket, sys
for i in range(100):
    c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    while c.recv(512):
        pass
    c.close()' "$PORT"
	kill -CONT "$WATCH_PID"
	wait_for_line "$TMP/events" '"event":"lost"' 5
	want=$("${NS[@]}" ss -Htan state time-wait "( src 127.0.0.1:$PORT )" | wc -l)
	wait_for_count "$TMP/events" '"state":"TIME_WAIT"' "$want" 5
	stop_watch
	jq -c . "$TMP/events" >/dev/null
	[ "$(grep -c '"event":"lost"' "$TMP/events")" -ge 1 ]
	# After the lost event, the fresh dump lists each TIME_WAIT socket the kernel has.
	[ "$want" -eq 100 ]
	[ "$(jq -r 'select(.state == "TIME_WAIT" and .event == "appeared") | .cookie' "$TMP/events" | sort -u | wc -l)" -eq 100 ]
	sed -n '/"event":"lost"/,$p' "$TMP/events" | grep -q '"via":"dump"'
}

@test "watch -p: the owner of each socket as it appears; text on a terminal, JSON when piped" {
	spawn "$TMP/srv" python3 -c '
import os, socket, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen()
print(l.getsockname()[1], os.getpid(), l.fileno(), flush=True)
time.sleep(30)'
	wait_for_line "$TMP/srv" '^[0-9]' 5
	read -r port pid fd <"$TMP/srv"
	run bash -c "timeout 30 $PORTSCOPE watch -p --timeout 0.3 127.0.0.1:$port 2>$TMP/watch.err"
	cat "$TMP/watch.err"
	[ "$status" -eq 0 ]
	echo "$output"
	[ "$(jq -r '"\(.role) \(.processes[0].pid) \(.processes[0].comm) \(.processes[0].fd)"' <<<"$output")" = "listener $pid python3 $fd" ]
	# On a terminal (script gives one): text.  (30 s: -p reads every process's descriptors,
	# which takes long on a host where other jobs hold many connections.)
	run script -qec "timeout 30 $PORTSCOPE watch -p --timeout 0.3 127.0.0.1:$port" /dev/null
	echo "$output"
	grep -Eq "appeared tcp LISTEN +127.0.0.1:$port +0.0.0.0:\* +listener .* dump initial $pid/python3/fd=$fd" <<<"$output"
}

@test "watch: bad command lines are refused with one line and exit 2" {
	for args in "0" "--until foo>=1 80" "--until listen 80" "--until listen>=x 80" \
		"-i 0 80" "-f xml 80" "--rcvbuf 1 80" "1 2" "-l" "--timeout -1 80"; do
		# shellcheck disable=SC2086
		run "$PORTSCOPE" watch $args
		echo "$args: $output"
		[ "$status" -eq 2 ]
		grep -q '^portscope watch: ' <<<"${lines[0]}"
	done
}
