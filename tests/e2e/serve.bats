#!/usr/bin/env bats
# portscope serve: the note's report, formats, the portscope/1 line, many clients, signals.

load helpers

# connect_json PORT [HOST]: one client; sets CPORT (its own port) and CFD (the server's fd for it).
connect_json() {
	local host=${2:-127.0.0.1}
	[[ $host == *:* ]] && host="[$host]"
	run timeout 10 "$PORTSCOPE" connect -f json "$host:$1"
	[ "$status" -eq 0 ]
	CPORT=$(echo "$output" | grep -o '"laddr":"[^"]*:[0-9]*"' | head -1 | grep -o '[0-9]*"$' | tr -d '"')
	CFD=$(echo "$output" | grep -o 'fd=[0-9]*' | head -1 | cut -d= -f2)
	[ -n "$CPORT" ] && [ -n "$CFD" ]
}

# hold_client [HOST]: one client that stays connected (the server runs with --keep, so
# that its end is there to be found); sets CONN (the client's descriptor), then takes the
# server's view of it from the kernel, not from the server: CPORT (the client's port) and
# CFD (the server's descriptor for it, whose socket inode is the one ss shows).
hold_client() {
	local host=${1:-127.0.0.1} row ino f
	exec {CONN}<>"/dev/tcp/$host/$PORT"
	IFS= read -r -t 5 line <&$CONN
	[[ $line == portscope/1* ]]
	row=$(ss -Htne state established "( sport = :$PORT )")
	echo "ss: $row"
	[ -n "$row" ] && [ "$(wc -l <<<"$row")" -eq 1 ]
	ino=$(grep -o 'ino:[0-9]*' <<<"$row" | cut -d: -f2)
	CPORT=$(awk '{ print $4 }' <<<"$row" | sed 's/.*://')
	CFD=
	for f in /proc/"$SERVER_PID"/fd/*; do
		[ "$(readlink "$f")" = "socket:[$ino]" ] && CFD=${f##*/}
	done
	echo "client port $CPORT, server fd $CFD (inode $ino)"
	[ -n "$ino" ] && [ -n "$CPORT" ] && [ -n "$CFD" ]
}

# HOSTS: /etc/hosts for the tests that resolve names, so that they do not depend on this
# host's: pshost.test is 127.0.0.1 and ::1.
hosts_file() {
	printf '127.0.0.1 localhost pshost.test\n::1 localhost pshost.test\n' >"$TMP/hosts"
}

# start_server_hosts ARGS...: start_server, with /etc/hosts replaced by $TMP/hosts in a
# private mount namespace (root only: the tests run as root in CI).
start_server_hosts() {
	[ "$(id -u)" -eq 0 ] || skip "needs root for a private /etc/hosts (unshare -m)"
	command -v unshare >/dev/null || skip "needs unshare"
	hosts_file
	: >"$TMP/out"
	: >"$TMP/err"
	unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$TMP/hosts" \
		"$PORTSCOPE" serve "$@" >"$TMP/out" 2>"$TMP/err" &
	SERVER_PID=$!
	server_listening
}

@test "seed format: an IPv4 connection prints the note's block line for line" {
	# --keep: the connection is still there to be found in /proc when the block is checked.
	start_server --keep 127.0.0.1:0
	hold_client
	wait_for_line "$TMP/out" '^\*\{48\}$' 5
	seed_block "$CFD" "$LFD" "('127.0.0.1', $PORT)" "('127.0.0.1', $CPORT)" AF_INET >"$TMP/expected"
	diff -u "$TMP/expected" "$TMP/out"
}

@test "seed format: an IPv6 connection prints Python's 4-item addresses and AF_INET6" {
	start_server --keep '[::1]:0'
	grep -qx "portscope: listening on \[::1\]:$PORT" "$TMP/err"
	hold_client ::1
	wait_for_line "$TMP/out" '^\*\{48\}$' 5
	seed_block "$CFD" "$LFD" "('::1', $PORT, 0, 0)" "('::1', $CPORT, 0, 0)" AF_INET6 >"$TMP/expected"
	diff -u "$TMP/expected" "$TMP/out"
}

@test "every connected socket has the listener's local address and a different peer" {
	start_server 127.0.0.1:0 -f line
	for i in 1 2 3; do connect_json "$PORT"; done
	wait_for_count "$TMP/out" '^conn=' 3 5
	[ "$(grep -c " local=127.0.0.1:$PORT .* listener=127.0.0.1:$PORT$" "$TMP/out")" -eq 3 ]
	[ "$(grep -o ' peer=[^ ]*' "$TMP/out" | sort -u | wc -l)" -eq 3 ]
}

@test "line format: one line per connection with both ends and the listener" {
	start_server --keep 127.0.0.1:0 --format=line
	hold_client
	wait_for_line "$TMP/out" '^conn=1 ' 5
	grep -Ex "conn=1 tcp fd=$CFD local=127.0.0.1:$PORT peer=127.0.0.1:$CPORT listener_fd=$LFD listener=127.0.0.1:$PORT" "$TMP/out"
}

@test "json format: one object per line with laddr, raddr, fd, family, type, proto and the listener" {
	start_server --keep '[::1]:0' -f json
	hold_client ::1
	wait_for_line "$TMP/out" '^{' 5
	expected="{\"conn\":1,\"fd\":$CFD,\"family\":\"AF_INET6\",\"type\":\"SOCK_STREAM\",\"proto\":6,\"laddr\":\"[::1]:$PORT\",\"raddr\":\"[::1]:$CPORT\",\"listener\":{\"fd\":$LFD,\"family\":\"AF_INET6\",\"type\":\"SOCK_STREAM\",\"proto\":6,\"laddr\":\"[::1]:$PORT\",\"raddr\":null,\"raddr_error\":\"ENOTCONN\"}}"
	[ "$(cat "$TMP/out")" = "$expected" ]
	python3 -c 'import json,sys; json.loads(sys.stdin.read())' <"$TMP/out"
}

@test "the portscope/1 line tells the client what the server saw, then the server closes" {
	start_server 127.0.0.1:0
	idle=$(ls "/proc/$SERVER_PID/fd" | wc -l)
	exec {conn}<>"/dev/tcp/127.0.0.1/$PORT"
	IFS= read -r -t 5 line <&$conn
	[[ $line =~ ^portscope/1\ you=127\.0\.0\.1:[0-9]+\ me=127\.0\.0\.1:$PORT\ proto=tcp\ conn=1\ fd=[0-9]+$ ]]
	# Then end of file at once: read's status is 1, not > 128 (a timeout).
	status=0
	IFS= read -r -t 5 more <&$conn || status=$?
	[ "$status" -eq 1 ]
	# The FIN comes from shutdown(); that the server closed its descriptor is seen in
	# /proc, while the client still holds its end: the count is back to before the client.
	for i in $(seq 50); do
		[ "$(ls "/proc/$SERVER_PID/fd" | wc -l)" -eq "$idle" ] && break
		sleep 0.1
	done
	ls -l "/proc/$SERVER_PID/fd"
	[ "$(ls "/proc/$SERVER_PID/fd" | wc -l)" -eq "$idle" ]
	exec {conn}<&-
}

@test "a client that writes first (an HTTP request the server never reads) still gets its line, IPv4 and IPv6" {
	# close() of a socket with unread input sends a reset and drops what is still queued:
	# the line must have left before it.  Each client writes, waits 20 ms, then reads.
	for host in 127.0.0.1 ::1; do
		bracket=$host
		[ "$host" = ::1 ] && bracket='[::1]'
		start_server "$bracket:0" -f line
		run timeout 30 python3 -c '
import socket, sys, time
host, port, got = sys.argv[1], int(sys.argv[2]), 0
for i in range(20):
    c = socket.create_connection((host, port), timeout=5)
    c.sendall(b"GET / HTTP/1.0\r\n\r\n")
    time.sleep(0.02)
    try:
        data = c.recv(600)
        got += data.startswith(b"portscope/1 you=") and data.endswith(b"\n")
    except ConnectionResetError:
        pass
    c.close()
print("replies=%d" % got)' "$host" "$PORT"
		echo "$host: $output"
		[ "$status" -eq 0 ]
		[ "$output" = "replies=20" ]
		stop_server TERM
		[ "$SERVER_STATUS" -eq 0 ]
	done
}

@test "--keep holds each connection open until the client closes" {
	start_server 127.0.0.1:0 --keep -f line
	idle=$("$PSTEST" fdcount "$SERVER_PID")
	exec {conn}<>"/dev/tcp/127.0.0.1/$PORT"
	IFS= read -r -t 5 line <&$conn
	[[ $line == portscope/1* ]]
	# Still open: a read times out (status > 128) instead of seeing end of file (status 1).
	status=0
	IFS= read -r -t 0.5 more <&$conn || status=$?
	[ "$status" -gt 128 ]
	# Each line the client sends is answered with a new portscope/1 line: three lines in one
	# write, three answers, then nothing more.
	# (bash's own printf writes each line apart: its stdout is line-buffered)
	env printf 'one\ntwo\nthree\n' >&$conn
	for i in 1 2 3; do
		IFS= read -r -t 5 line <&$conn
		[[ $line =~ ^portscope/1\ you=127\.0\.0\.1:[0-9]+\ me=127\.0\.0\.1:$PORT\ proto=tcp\ conn=1\ fd=[0-9]+$ ]]
	done
	status=0
	IFS= read -r -t 0.5 more <&$conn || status=$?
	[ "$status" -gt 128 ]
	[ "$("$PSTEST" fdcount "$SERVER_PID")" -eq $((idle + 1)) ]
	exec {conn}<&-
	# The server closes its end when the client has gone.
	for i in $(seq 50); do
		[ "$("$PSTEST" fdcount "$SERVER_PID")" -eq "$idle" ] && break
		sleep 0.1
	done
	[ "$("$PSTEST" fdcount "$SERVER_PID")" -eq "$idle" ]
	stop_server TERM
	[ "$SERVER_STATUS" -eq 0 ]
	grep -q 'served 1 connection' "$TMP/err"
}

@test "1,000 clients connected at the same time are all served, each reply matching its client" {
	start_server 127.0.0.1:0 -f line
	run timeout 60 "$PSTEST" hold "$PORT" 1000
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "connected=1000 replies=1000 matched=1000" ]
	wait_for_count "$TMP/out" '^conn=' 1000 10
	[ "$(grep -o ' peer=[^ ]*' "$TMP/out" | sort -u | wc -l)" -eq 1000 ]
}

@test "SIGINT and SIGTERM end it cleanly: output flushed, a summary, exit 0" {
	for sig in INT TERM; do
		start_server 127.0.0.1:0 -f line
		connect_json "$PORT"
		connect_json "$PORT"
		stop_server "$sig"
		[ "$SERVER_STATUS" -eq 0 ]
		[ "$(grep -c '^conn=' "$TMP/out")" -eq 2 ]
		[ "$(tail -1 "$TMP/err")" = "portscope: served 2 connections" ]
	done
}

@test "output into a pipe is flushed while the server waits, not only at exit" {
	mkfifo "$TMP/fifo"
	cat "$TMP/fifo" >"$TMP/out" &
	: >"$TMP/err"; "$PORTSCOPE" serve 127.0.0.1:0 -f line >"$TMP/fifo" 2>"$TMP/err" &
	SERVER_PID=$!
	server_listening
	connect_json "$PORT"
	wait_for_line "$TMP/out" '^conn=1 ' 5
	stop_server TERM
}

@test "port 0 lets the kernel choose, and the listening line shows the real port" {
	start_server 0
	[ "$PORT" -gt 0 ]
	grep -qx "portscope: listening on 127.0.0.1:$PORT" "$TMP/err"
}

@test "a bare port listens on 127.0.0.1 only, as the note does" {
	start_server 0
	[ "$(grep -c 'listening on' "$TMP/err")" -eq 1 ]
	run timeout 5 "$PORTSCOPE" connect -w 2 "127.0.0.2:$PORT"
	[ "$status" -eq 3 ]
	[[ $output == *"Connection refused"* ]]
}

@test "localhost listens on every address it resolves to, all on one port" {
	# A private /etc/hosts where localhost is 127.0.0.1 and ::1: two addresses, two listeners.
	start_server_hosts localhost:0
	cat "$TMP/err"
	[ "$(grep -c 'listening on' "$TMP/err")" -eq 2 ]
	grep -qx "portscope: listening on 127.0.0.1:$PORT" "$TMP/err"
	grep -qx "portscope: listening on \[::1\]:$PORT" "$TMP/err"
	# The kernel's view agrees: exactly these two listening sockets on the port.
	ss -Htln "( sport = :$PORT )"
	[ "$(ss -Htln "( sport = :$PORT )" | awk '{ print $4 }' | LC_ALL=C sort | tr '\n' ' ')" = "127.0.0.1:$PORT [::1]:$PORT " ]
}

@test "-4 and -6 listen on only that family of a name's addresses" {
	# localhost is 127.0.0.1 and ::1 in the private /etc/hosts.
	start_server_hosts -4 localhost:0
	cat "$TMP/err"
	[ "$(ss -Htln "( sport = :$PORT )" | awk '{ print $4 }')" = "127.0.0.1:$PORT" ]
	[ "$(grep -c 'listening on' "$TMP/err")" -eq 1 ]
	stop_server
	start_server_hosts -6 localhost:0
	cat "$TMP/err"
	[ "$(ss -Htln "( sport = :$PORT )" | awk '{ print $4 }')" = "[::1]:$PORT" ]
	[ "$(grep -c 'listening on' "$TMP/err")" -eq 1 ]
}

@test "-q: no report per connection, a count of open and served connections every --interval" {
	start_server -q --interval 0.2 127.0.0.1:0
	connect_json "$PORT"
	connect_json "$PORT"
	wait_for_line "$TMP/out" '^open 0 served 2$' 5
	# Only count lines: no report of a connection.
	cat "$TMP/out"
	! grep -v '^open [0-9]* served [0-9]*$' "$TMP/out" || false
	# Every 0.2 s: in a further second, at least 3 more.
	n=$(wc -l <"$TMP/out")
	sleep 1
	[ "$(wc -l <"$TMP/out")" -ge $((n + 3)) ]
	stop_server TERM
	[ "$SERVER_STATUS" -eq 0 ]
	[ "$(tail -1 "$TMP/err")" = "portscope: served 2 connections" ]
}

@test "0.0.0.0 and [::] listen on every interface when asked" {
	start_server 0.0.0.0:0
	grep -qx "portscope: listening on 0.0.0.0:$PORT" "$TMP/err"
	run timeout 5 "$PORTSCOPE" connect -f line "127.0.0.2:$PORT"
	[ "$status" -eq 0 ]
	stop_server
	start_server '[::]:0'
	grep -qx "portscope: listening on \[::\]:$PORT" "$TMP/err"
	run timeout 5 "$PORTSCOPE" connect -f line "[::1]:$PORT"
	[ "$status" -eq 0 ]
}

@test "clients that reset, or leave before reading, do not stop the server" {
	start_server 127.0.0.1:0 -f line
	for i in $(seq 20); do
		"$PSTEST" reset "$PORT"
		"$PSTEST" quit "$PORT"
	done
	connect_json "$PORT"
	kill -0 "$SERVER_PID"
	wait_for_count "$TMP/out" '^conn=' 41 5
}

@test "stdout closed early (| head -1): a quiet exit, status 0" {
	{ "$PORTSCOPE" serve 127.0.0.1:0 2>"$TMP/err"; echo $? >"$TMP/status"; } | head -1 >"$TMP/out" &
	wait_for_line "$TMP/err" 'listening on' 5
	PORT=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$TMP/err")
	# The first client's block fills head; a later write finds the pipe closed.
	for i in $(seq 20); do
		[ -e "$TMP/status" ] && break
		timeout 5 "$PORTSCOPE" connect -r 1 "$PORT" >/dev/null 2>&1 || true
		sleep 0.1
	done
	wait_for_line "$TMP/status" . 5
	[ "$(cat "$TMP/status")" -eq 0 ]
	[ "$(wc -l <"$TMP/out")" -eq 1 ]
	[ "$(cat "$TMP/err")" = "portscope: listening on 127.0.0.1:$PORT" ]
}

@test "a write error (>/dev/full) is reported and the exit status is 1" {
	: >"$TMP/err"; "$PORTSCOPE" serve 127.0.0.1:0 >/dev/full 2>"$TMP/err" &
	SERVER_PID=$!
	server_listening
	timeout 5 "$PORTSCOPE" connect -r 1 "$PORT" >/dev/null
	status=0
	wait_pid "$SERVER_PID" 5 || status=$?
	SERVER_PID=
	[ "$status" -eq 1 ]
	grep -q 'write error: No space left on device' "$TMP/err"
}

@test "SIGTERM ends a server whose output is stuck (a reader that does not read), exit 0" {
	mkfifo "$TMP/fifo"
	# The reader opens the pipe and never reads: the server's writes block once it is full.
	sleep 30 <"$TMP/fifo" &
	BG_PIDS+=("$!")
	: >"$TMP/err"; "$PORTSCOPE" serve 127.0.0.1:0 >"$TMP/fifo" 2>"$TMP/err" &
	SERVER_PID=$!
	server_listening
	# About 700 bytes a report: 1,000 reports are far more than a pipe holds.
	timeout 30 "$PORTSCOPE" connect -n 1000 -r 0.5 "$PORT" >/dev/null || true
	stop_server TERM
	[ "$SERVER_STATUS" -eq 0 ]
	grep -q 'output not written: the reader of standard output is not reading' "$TMP/err"
	grep -q '^portscope: served [0-9]* connections$' "$TMP/err"
}

@test "workers write each seed block whole: blocks of different workers never mix" {
	start_server --workers 2 127.0.0.1:0
	run timeout 30 "$PORTSCOPE" connect -n 600 -c 100 "$PORT"
	[ "$status" -eq 0 ]
	wait_for_count "$TMP/out" '^\*\{48\}$' 600 10
	# Each block is 11 lines, from "client address is" to the line of stars.
	awk 'NR % 11 == 1 && $0 != "client address is" { bad++ } NR % 11 == 0 && $0 !~ /^\*+$/ { bad++ } END { exit bad > 0 }' "$TMP/out"
}

# workers: the pids of the server's worker processes, one a line.
workers() {
	ps -o pid= --ppid "$SERVER_PID" | tr -d ' '
}

# sockets PID: how many sockets PID holds (a worker: its listener, and the connections it serves).
sockets() {
	find "/proc/$1/fd" -lname 'socket:*' 2>/dev/null | wc -l
}

@test "--workers: a worker stopped (SIGSTOP) and continued (SIGCONT) is still running: the server goes on" {
	start_server --workers 2 -f line 127.0.0.1:0
	stopped=$(workers | head -1)
	kill -STOP "$stopped"
	sleep 0.5
	kill -CONT "$stopped"
	sleep 0.5
	kill -0 "$SERVER_PID"
	[ "$(workers | wc -l)" -eq 2 ]
	workers | grep -qx "$stopped"
	# Both workers serve: 40 clients spread between two listeners leave neither without one.
	run timeout 30 "$PSTEST" hold "$PORT" 40
	[ "$output" = "connected=40 replies=40 matched=40" ]
	wait_for_count "$TMP/out" '^conn=' 40 5
	stop_server TERM
	cat "$TMP/err"
	[ "$SERVER_STATUS" -eq 0 ]
	grep -Eqx "portscope: worker [12] \(pid $stopped\): served [1-9][0-9]*" "$TMP/err"
	[ "$(grep -Ec '^portscope: worker [12] \(pid [0-9]+\): served [1-9][0-9]*$' "$TMP/err")" -eq 2 ]
	[ "$(tail -1 "$TMP/err")" = "portscope: served 40 connections" ]
}

@test "--workers: a worker killed (SIGKILL) is said so and replaced in the SO_REUSEPORT group; a connection another worker holds is kept" {
	start_server --workers 2 --keep -f line 127.0.0.1:0
	exec {conn}<>"/dev/tcp/127.0.0.1/$PORT"
	IFS= read -r -t 5 line <&$conn
	[[ $line == portscope/1* ]]
	# The worker that holds it has two sockets (its listener and the connection).
	holder= killed=
	for w in $(workers); do
		if [ "$(sockets "$w")" -eq 2 ]; then holder=$w; else killed=$w; fi
	done
	[ -n "$holder" ] && [ -n "$killed" ]
	kill -KILL "$killed"
	wait_for_line "$TMP/err" 'listening in its place' 10
	cat "$TMP/err"
	new=$(sed -n "s/^portscope: worker [12] (pid $killed) killed by SIGKILL: starting a new one (pid \([0-9]*\))$/\1/p" "$TMP/err")
	[ -n "$new" ]
	grep -Eqx "portscope: worker [12] \(pid $new\): listening in its place" "$TMP/err"
	kill -0 "$SERVER_PID"
	[ "$(workers | sort)" = "$(printf '%s\n' "$holder" "$new" | sort)" ]
	# The held connection is still served: a line gets a fresh answer.
	echo again >&$conn
	IFS= read -r -t 5 line <&$conn
	[[ $line =~ ^portscope/1\ you=127\.0\.0\.1:[0-9]+\ me=127\.0\.0\.1:$PORT\ proto=tcp\ conn=1\ fd=[0-9]+$ ]]
	# The new worker listens in the group: new clients are served, some by it.
	run timeout 30 "$PSTEST" hold "$PORT" 40
	[ "$output" = "connected=40 replies=40 matched=40" ]
	exec {conn}<&-
	# Every client has closed: wait until the workers have closed their ends too, which a
	# slow run (valgrind) takes a while to do.
	wait_server_closed "$PORT" 20
	stop_server TERM
	cat "$TMP/err"
	[ "$SERVER_STATUS" -eq 0 ]
	grep -Eqx "portscope: worker [12] \(pid $killed\): no summary: killed by SIGKILL" "$TMP/err"
	grep -Eqx "portscope: worker [12] \(pid $new\): served [1-9][0-9]* \(0 still open, now closed\)" "$TMP/err"
	grep -Eqx "portscope: worker [12] \(pid $holder\): served [1-9][0-9]* \([01] still open, now closed\)(, 1 closed by the client)?" "$TMP/err"
	grep -Eqx 'portscope: served 41 connections \([01] still open, now closed\)(, 1 closed by the client)?' "$TMP/err"
}

@test "--workers: past 10 replacements in a minute, the server says so, stops every worker and exits 1" {
	start_server --workers 2 -f line 127.0.0.1:0
	for i in $(seq 10); do
		kill -KILL "$(workers | head -1)"
		wait_for_count "$TMP/err" 'listening in its place' "$i" 10
	done
	last=$(workers | head -1)
	kill -KILL "$last"
	status=0
	wait_pid "$SERVER_PID" 10 || status=$?
	SERVER_PID=
	cat "$TMP/err"
	[ "$status" -eq 1 ]
	[ "$(grep -c 'killed by SIGKILL: starting a new one' "$TMP/err")" -eq 10 ]
	grep -Eqx "portscope: worker [12] \(pid $last\) killed by SIGKILL: 10 workers replaced in the last minute already: stopping" "$TMP/err"
	# The summary names each worker that died, and the one still serving.
	[ "$(grep -c '): no summary: killed by SIGKILL$' "$TMP/err")" -eq 11 ]
	[ "$(grep -Ec '^portscope: worker [12] \(pid [0-9]+\): served 0$' "$TMP/err")" -eq 1 ]
	[ "$(tail -1 "$TMP/err")" = "portscope: served 0 connections" ]
}

@test "--workers: a worker that exits on its own (a write error) stops the others: said, exit 1" {
	: >"$TMP/err"; "$PORTSCOPE" serve --workers 2 -f line 127.0.0.1:0 >/dev/full 2>"$TMP/err" &
	SERVER_PID=$!
	server_listening
	timeout 5 "$PORTSCOPE" connect -r 1 "$PORT" >/dev/null
	status=0
	wait_pid "$SERVER_PID" 10 || status=$?
	SERVER_PID=
	cat "$TMP/err"
	[ "$status" -eq 1 ]
	grep -q 'write error: No space left on device' "$TMP/err"
	grep -Eqx 'portscope serve: worker [12] \(pid [0-9]+\) exited with status 1: the others were stopped' "$TMP/err"
	! grep -q 'starting a new one' "$TMP/err" || false
}

@test "--workers: SIGINT to the whole process group (Ctrl-C): every worker sums up, exit 0" {
	command -v setsid >/dev/null || skip "needs setsid"
	: >"$TMP/out"; : >"$TMP/err"; setsid "$PORTSCOPE" serve --workers 3 -f line 127.0.0.1:0 >"$TMP/out" 2>"$TMP/err" &
	SERVER_PID=$!
	server_listening
	run timeout 30 "$PSTEST" hold "$PORT" 30
	[ "$output" = "connected=30 replies=30 matched=30" ]
	wait_for_count "$TMP/out" '^conn=' 30 5
	kill -INT -- "-$SERVER_PID"
	status=0
	wait_pid "$SERVER_PID" 10 || status=$?
	SERVER_PID=
	cat "$TMP/err"
	[ "$status" -eq 0 ]
	[ "$(grep -Ec '^portscope: worker [123] \(pid [0-9]+\): served [0-9]+$' "$TMP/err")" -eq 3 ]
	[ "$(tail -1 "$TMP/err")" = "portscope: served 30 connections" ]
}

@test "seed format, link-local server: every tuple is the one python3 prints for the same connection (the scope only as the 4th item)" {
	netns_linklocal
	: >"$TMP/out"; : >"$TMP/err"; ip netns exec "$NETNS" "$PORTSCOPE" serve '[fe80::1%lo]:0' >"$TMP/out" 2>"$TMP/err" &
	SERVER_PID=$!
	server_listening
	# python3's own client in the namespace prints its address, then its peer's.
	run timeout 10 ip netns exec "$NETNS" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6)
s.connect(("fe80::1", int(sys.argv[1]), 0, socket.if_nametoindex("lo")))
print(s.getsockname())
print(s.getpeername())
s.recv(1024)' "$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	client=${lines[0]} server=${lines[1]}
	[[ $client == "('fe80::1', "* ]]
	wait_for_line "$TMP/out" '^\*\*\*' 5
	cat "$TMP/out"
	cfd=$(sed -n '3s/^<socket.socket fd=\([0-9]*\),.*/\1/p' "$TMP/out")
	# The socket repr keeps the note's text (Python 3.7 to 3.10); its laddr and raddr are
	# the same tuples, and so are the listener's (bound to the server's address).
	diff <(seed_block "$cfd" "$LFD" "$server" "$client" AF_INET6) "$TMP/out"
}
