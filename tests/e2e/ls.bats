#!/usr/bin/env bats
# portscope ls: the kernel's view of every socket on a port.

load helpers

# need_split_dump: skips the test unless ls makes its two dumps at once, which it does with
# two CPUs or more (counted as ls counts them, by sched_getaffinity); with one, ls makes one
# dump and the test proves less.
need_split_dump() {
	local cpus
	cpus=$(python3 -c 'import os; print(len(os.sched_getaffinity(0)))')
	[ "$cpus" -ge 2 ] || skip "ls splits its dump only with 2 CPUs or more (sched_getaffinity); here $cpus"
}

# ss_set PORT: "proto state local peer" lines from ss for TCP and UDP
# sockets on PORT, sorted, with ss's state abbreviations spelled as the kernel does.
ss_set() {
	local port=${*: -1}
	ss -Hntua "${@:1:$#-1}" "( sport = :$port or dport = :$port )" |
		awk '{print $1, $2, $5, $6}' |
		sed -e 's/ ESTAB / ESTABLISHED /' -e 's/ TIME-WAIT / TIME_WAIT /' \
			-e 's/ FIN-WAIT-\([12]\) / FIN_WAIT\1 /' -e 's/ CLOSE-WAIT / CLOSE_WAIT /' \
			-e 's/ SYN-SENT / SYN_SENT /' -e 's/ SYN-RECV / SYN_RECV /' \
			-e 's/ LAST-ACK / LAST_ACK /' -e 's/ CLOSED / CLOSE /' | sort
}

# ls_set ARGS...: the same from portscope ls.
ls_set() {
	"$PORTSCOPE" ls -H "$@" | awk '/^(tcp|udp) / {print $1, $2, $5, $6}' | sort
}

# ss_roles PORT [PROTO]: "proto state local peer role" from ss for TCP and UDP
# sockets on PORT (only PROTO's, if given), the role derived here from ss's columns, as ls --help defines them:
# a remote port PORT is a client; a local one is a listener (LISTEN), an accepted
# TCP socket, a bound UDP socket (UNCONN) or a connected one.
ss_roles() {
	local port=$1
	ss_set "$port" | grep "^${2:-}" | awk -v p="$port" '{
		n = split($3, l, ":"); lp = l[n]
		if (lp != p) role = "client"
		else if ($2 == "LISTEN") role = "listener"
		else if ($1 == "tcp") role = "accepted"
		else if ($2 == "UNCONN") role = "bound"
		else role = "connected"
		print $0, role }' | sort
}

# ls_roles PORT [LS-ARGS...]: the same from portscope ls, with its Role column.
ls_roles() {
	local port=$1
	shift
	set -o pipefail
	"$PORTSCOPE" ls -H "$@" "$port" | awk '/^(tcp|udp) / {print $1, $2, $5, $6, $7}' | sort
}

# nonempty_same A B: A and B are the same lines, and not none.
nonempty_same() {
	echo "portscope: $1" | sed 's/^/# /'
	echo "expected: $2" | sed 's/^/# /'
	[ -n "$2" ]
	[ "$1" = "$2" ]
}

# hold N PORT [HOST]: opens N connections from this shell; their fds are in HELD.
HELD=()
hold() {
	local i fd
	for ((i = 0; i < $1; i++)); do
		exec {fd}<>"/dev/tcp/${3:-127.0.0.1}/$2"
		HELD+=("$fd")
	done
}

# accepted N: waits until the server started with -f line has reported N
# connections: until then a connection may still wait in its accept queue.
accepted() {
	wait_for_count "$TMP/out" '^conn=' "$1" 5
}

@test "ls: a TCP listener and held connections, IPv4 and IPv6, exactly as ss shows them" {
	start_server 127.0.0.1:0 --keep -f line
	hold 2 "$PORT"
	run ls_set "$PORT"
	echo "$output"
	[ "${#lines[@]}" -eq 5 ]
	[ "$output" = "$(ss_set "$PORT")" ]
	[ "$(grep -c ' LISTEN ' <<<"$output")" -eq 1 ]
	[ "$(grep -c ' ESTABLISHED ' <<<"$output")" -eq 4 ]

	spawn "$TMP/out6" "$PORTSCOPE" serve '[::1]:0' --keep
	wait_for_line "$TMP/spawn.err" 'listening on \[::1\]' 5
	port6=$(sed -n 's/.*listening on \[::1\]:\([0-9]*\)$/\1/p' "$TMP/spawn.err")
	hold 2 "$port6" ::1
	run ls_set "$port6"
	echo "$output"
	[ "${#lines[@]}" -eq 5 ]
	[ "$output" = "$(ss_set "$port6")" ]
	grep -q "^tcp LISTEN \[::1\]:$port6 \[::\]:\*\$" <<<"$output"
}

@test "ls: UDP sockets, bound and connected, IPv4 and IPv6, exactly as ss shows them" {
	for v in -4 -6; do
		spawn "$TMP/udp$v" "$PSTEST" udp "$v"
		wait_for_line "$TMP/udp$v" '^[0-9]' 5
		port=$(head -1 "$TMP/udp$v")
		# Only UDP: a TCP socket may use the same port number (a client's ephemeral port).
		run ls_set -u "$port"
		echo "$output"
		[ "${#lines[@]}" -eq 2 ]
		[ "$output" = "$(ss_set "$port" | grep '^udp ')" ]
		grep -q "^udp UNCONN " <<<"$output"
		grep -q "^udp ESTABLISHED " <<<"$output"
		# Each socket's role, from the Role column, against ss's columns.
		run ls_roles "$port" -u
		[ "$status" -eq 0 ]
		nonempty_same "$output" "$(ss_roles "$port" udp)"
		[ "$(grep -c ' bound$' <<<"$output")" -eq 1 ]
		[ "$(grep -c ' client$' <<<"$output")" -eq 1 ]
	done
	# All three UDP roles on one port, from python3's own sockets: a bound one, one
	# connected from that port (SO_REUSEADDR on both), and the client it is connected to.
	for host in 127.0.0.1 ::1; do
		spawn "$TMP/udp3" python3 -c '
import socket, sys, time
h = sys.argv[1]
fam = socket.AF_INET6 if ":" in h else socket.AF_INET
def sock():
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return s
a = sock(); a.bind((h, 0)); port = a.getsockname()[1]
c = sock(); c.bind((h, 0))
b = sock(); b.bind((h, port)); b.connect(c.getsockname()[:2])
c.connect((h, port))
print(port, flush=True)
time.sleep(30)' "$host"
		wait_for_line "$TMP/udp3" '^[0-9]' 5
		port=$(head -1 "$TMP/udp3")
		run ls_roles "$port" -u
		echo "$output"
		[ "$status" -eq 0 ]
		nonempty_same "$output" "$(ss_roles "$port" udp)"
		[ "$(grep -c '^udp UNCONN .* bound$' <<<"$output")" -eq 1 ]
		[ "$(grep -c '^udp ESTABLISHED .* connected$' <<<"$output")" -eq 1 ]
		[ "$(grep -c '^udp ESTABLISHED .* client$' <<<"$output")" -eq 1 ]
		kill "$SPAWNED"
	done
}

@test "ls -4 and -6: only that family's sockets, exactly as ss -4 and ss -6 show them" {
	# One port, both families: a listener and a held connection on each, python3's own.
	spawn "$TMP/both" python3 -c '
import socket, time
l4 = socket.socket(); l4.bind(("127.0.0.1", 0)); l4.listen(); port = l4.getsockname()[1]
l6 = socket.socket(socket.AF_INET6); l6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
l6.bind(("::1", port)); l6.listen()
c4 = socket.create_connection(("127.0.0.1", port)); a4 = l4.accept()
c6 = socket.create_connection(("::1", port)); a6 = l6.accept()
print(port, flush=True)
time.sleep(30)'
	wait_for_line "$TMP/both" '^[0-9]' 5
	port=$(head -1 "$TMP/both")
	set -o pipefail
	v4=$(ls_set -4 "$port")
	nonempty_same "$v4" "$(ss_set -4 "$port")"
	[ "$(wc -l <<<"$v4")" -eq 3 ]
	! grep -q '\[' <<<"$v4" || false
	v6=$(ls_set -6 "$port")
	nonempty_same "$v6" "$(ss_set -6 "$port")"
	[ "$(wc -l <<<"$v6")" -eq 3 ]
	[ "$(grep -c "^tcp [A-Z]* \[::1\]:[0-9]* \[::1\]:[0-9]*\$" <<<"$v6")" -eq 2 ]
	# Both: the two together; the summary counts each family's own.
	[ "$(ls_set "$port")" = "$(sort <<<"$v4"$'\n'"$v6")" ]
	run "$PORTSCOPE" ls -4 "$port"
	[ "$status" -eq 0 ]
	grep -q "^port $port: 3 sockets - 1 listening, 1 accepted (local port $port), 1 client (remote port $port)" <<<"$output"
	run "$PORTSCOPE" ls -6 "$port"
	[ "$status" -eq 0 ]
	grep -q "^port $port: 3 sockets - 1 listening, 1 accepted (local port $port), 1 client (remote port $port)" <<<"$output"
}

@test "ls: each socket's role: the listener, accepted sockets (local port) and clients (remote port)" {
	start_server 127.0.0.1:0 --keep -f line
	hold 2 "$PORT"
	accepted 2
	run "$PORTSCOPE" ls "$PORT"
	[ "$status" -eq 0 ]
	[ "$(grep -c " listener *\$" <<<"$output")" -eq 1 ]
	[ "$(grep -Ec "^tcp +ESTABLISHED +[0-9]+ +[0-9]+ 127.0.0.1:$PORT +127.0.0.1:[0-9]+ +accepted" <<<"$output")" -eq 2 ]
	[ "$(grep -Ec "^tcp +ESTABLISHED +[0-9]+ +[0-9]+ 127.0.0.1:[0-9]+ +127.0.0.1:$PORT +client" <<<"$output")" -eq 2 ]
	grep -qx "port $PORT: 5 sockets - 1 listening, 2 accepted (local port $PORT), 2 clients (remote port $PORT)" <<<"$output"
	grep -q "^They share port $PORT because the kernel tells sockets apart by the whole 4-tuple" <<<"$output"
	run "$PORTSCOPE" ls --local-only "$PORT"
	[ "$(grep -c ' client *$' <<<"$output")" -eq 0 ]
	grep -q "^port $PORT: 3 sockets - 1 listening, 2 accepted" <<<"$output"
}

@test "ls: IPv4 and IPv6 on one port: the rows in ss's order (IPv4 then IPv6, kernel order), listeners, local, clients" {
	# The kernel gives both families in one walk of its TCP tables, mixed in its
	# hash order; ls puts them back as ss, which walks once per family, lists them.
	start_server --keep -f line '*:0'
	local i
	for i in 1 2 3 4 5 6; do
		hold 2 "$PORT" 127.0.0.1
		hold 2 "$PORT" ::1
	done
	# 2 listeners, 24 accepted, 24 clients.
	accepted 24
	ss -Htan "( sport = :$PORT or dport = :$PORT )" | awk '{print $4, $5}' >"$TMP/ss"
	# ss's rows in ls's groups: listeners, then other local sockets, then clients.
	awk '$2 ~ /:\*$/' "$TMP/ss" >"$TMP/want.local"
	awk -v p=":$PORT" '$2 !~ /:\*$/ && substr($1, length($1) - length(p) + 1) == p' "$TMP/ss" >>"$TMP/want.local"
	awk -v p=":$PORT" 'substr($1, length($1) - length(p) + 1) != p' "$TMP/ss" >"$TMP/want.clients"
	cat "$TMP/want.local" "$TMP/want.clients" >"$TMP/want"
	[ "$(wc -l <"$TMP/want")" -eq 50 ]
	grep -q '^\[::1\]' "$TMP/want" && grep -q '^127\.0\.0\.1' "$TMP/want"
	# Both sides at once (two dumps on two CPUs), the local side alone, a recorded dump.
	"$PORTSCOPE" ls -H "$PORT" | awk '/^tcp / {print $5, $6}' | diff -u "$TMP/want" -
	"$PORTSCOPE" ls -H -l "$PORT" | awk '/^tcp / {print $5, $6}' | diff -u "$TMP/want.local" -
	"$PORTSCOPE" ls -H --dump "$TMP/dump" "$PORT" | awk '/^tcp / {print $5, $6}' | diff -u "$TMP/want" -
	"$PORTSCOPE" ls -H --replay "$TMP/dump" "$PORT" | awk '/^tcp / {print $5, $6}' | diff -u "$TMP/want" -
}

@test "ls: a socket connected to itself (local and remote port PORT) is one row, as in ss" {
	# ls lists the two sides of a port in two dumps at once (on two CPUs or more):
	# a socket on both sides is the local side's alone.
	need_split_dump
	spawn "$TMP/self" python3 -c '
import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.connect(s.getsockname())
print(s.getsockname()[1], flush=True)
time.sleep(30)'
	wait_for_line "$TMP/self" '^[0-9]' 5
	port=$(head -1 "$TMP/self")
	run ls_set "$port"
	echo "$output"
	[ "${#lines[@]}" -eq 1 ]
	[ "$output" = "$(ss_set "$port")" ]
	run "$PORTSCOPE" ls -s "$port"
	echo "$output"
	[[ ${lines[0]} == "port $port: 1 socket - 1 accepted (local port $port)" ]]
}

@test "ls ADDR:PORT: a client whose own port is PORT too (127.0.0.1:P to 127.0.0.2:P) is listed, as ss lists it" {
	# The remote side's dump leaves out what the local side's has: a socket whose local
	# port is PORT but whose local address is not ADDR belongs to the remote side.
	need_split_dump
	spawn "$TMP/pair" python3 -c '
import socket, time
l = socket.socket()
l.bind(("127.0.0.2", 0))
l.listen()
p = l.getsockname()[1]
c = socket.socket()
c.bind(("127.0.0.1", p))
c.connect(("127.0.0.2", p))
a, _ = l.accept()
print(p, flush=True)
time.sleep(30)'
	wait_for_line "$TMP/pair" '^[0-9]' 5
	port=$(head -1 "$TMP/pair")
	want=$(ss -Htan "( src 127.0.0.2:$port or dst 127.0.0.2:$port )" | awk '{print "tcp", $1, $4, $5}' |
		sed 's/ ESTAB / ESTABLISHED /' | sort)
	[ "$(wc -l <<<"$want")" -eq 3 ]
	run ls_set "127.0.0.2:$port"
	echo "$output"
	[ "$output" = "$want" ]
	# The client (local 127.0.0.1:P) is a client here; the accepted socket is not.
	"$PORTSCOPE" ls -H "127.0.0.2:$port" | grep -q "^tcp  *ESTABLISHED .* 127\.0\.0\.1:$port  *127\.0\.0\.2:$port  *client$"
}

@test "ls: TIME_WAIT sockets appear" {
	# In a network namespace of its own: each namespace has its own table of TIME_WAIT
	# sockets (net.ipv4.tcp_max_tw_buckets), and the host's may be full of other jobs'
	# (then a closing socket skips TIME_WAIT).  portscope, ss and python3 run in it.
	[ "$(id -u)" -eq 0 ] || skip "needs root for a network namespace"
	NETNS=portscope-tw-$$-$BATS_TEST_NUMBER
	ip netns add "$NETNS"
	ip -n "$NETNS" link set lo up
	printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$NETNS" "$PORTSCOPE" >"$TMP/in-ns"
	chmod +x "$TMP/in-ns"
	local PORTSCOPE=$TMP/in-ns
	ss() { ip netns exec "$NETNS" ss "$@"; }
	python3() { ip netns exec "$NETNS" python3 "$@"; }
	start_server 127.0.0.1:0
	local cports=() line cport n
	for i in 1 2 3; do
		line=$(timeout 5 "$PORTSCOPE" connect -f line "$PORT")
		cports+=("$(sed -n 's/^local=127.0.0.1:\([0-9]*\) .*/\1/p' <<<"$line")")
	done
	run ls_set --state time-wait "$PORT"
	echo "$output"
	# Whichever end closed first waits: the server, as a rule, or a client that was quicker.
	# The kernel may hand this port out again while an older socket on it waits (another
	# test's client port, say): the three connections are found by their client ports,
	# and the rest is compared with ss.
	for cport in "${cports[@]}"; do
		[ -n "$cport" ]
		grep -Eq "^tcp TIME_WAIT 127.0.0.1:($PORT 127.0.0.1:$cport|$cport 127.0.0.1:$PORT)\$" <<<"$output"
	done
	[ "$output" = "$(ss_set "$PORT" | grep " TIME_WAIT ")" ]
	n=$(grep -c . <<<"$output")
	run "$PORTSCOPE" ls -s "$PORT"
	grep -q "; $n in TIME_WAIT" <<<"$output"
	# Clients that close first: the TIME_WAIT is theirs (remote port), and counted too.
	stop_server TERM
	start_server 127.0.0.1:0 --keep -f line
	python3 -c '
import socket, sys
for i in range(2):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    b = b""
    while not b.endswith(b"\n"):
        b += s.recv(4096)
    s.close()' "$PORT"
	for i in $(seq 50); do
		[ "$(ss -Htn state time-wait dst "127.0.0.1:$PORT" | wc -l)" -eq 2 ] && break
		sleep 0.1
	done
	run ls_set --state time-wait "$PORT"
	echo "$output"
	[ "$(grep -c "^tcp TIME_WAIT 127.0.0.1:[0-9]* 127.0.0.1:$PORT\$" <<<"$output")" -eq 2 ]
	nonempty_same "$output" "$(ss_set "$PORT" | grep " TIME_WAIT ")"
	n=$(ss -Htan state time-wait "( sport = :$PORT or dport = :$PORT )" | wc -l)
	run "$PORTSCOPE" ls -s "$PORT"
	echo "$output"
	if [ "$n" -eq 2 ]; then
		[ "$output" = "port $PORT: 3 sockets - 1 listening, 2 clients (remote port $PORT); 2 in TIME_WAIT" ]
	else	# an older socket on this port number waits too (see above)
		grep -q "1 listening, 2 clients (remote port $PORT)" <<<"$output"
		grep -q "; $n in TIME_WAIT" <<<"$output"
	fi
}

@test "ls -p: owners are right: pid, command and fd of every process sharing a socket" {
	start_server 127.0.0.1:0 --keep -f line
	hold 1 "$PORT"
	accepted 1
	run "$PORTSCOPE" ls -p "$PORT"
	echo "$output"
	grep -q "listener .*$SERVER_PID/$COMM/fd=$LFD\$" <<<"$output"
	grep -Eq "accepted .*$SERVER_PID/$COMM/fd=[0-9]+\$" <<<"$output"
	# The client socket is this shell's (ls inherits it too, but does not count itself).
	grep -Eq "client .* $BASHPID/bash/fd=${HELD[0]}( |\$)" <<<"$output"
	grep -q "owners: pid $SERVER_PID $COMM" <<<"$output"
}

@test "ls -o: SO_REUSEPORT on two listeners sharing a port, shown as one group" {
	[ -z "${PORTSCOPE_VALGRIND:-}" ] || skip "valgrind does not know pidfd_open, which ls -o needs"
	spawn "$TMP/rp" "$PSTEST" reuseport
	wait_for_line "$TMP/rp" '^[0-9]' 5
	port=$(head -1 "$TMP/rp")
	run "$PORTSCOPE" ls -o "$port"
	echo "$output"
	[ "$(grep -c "^tcp .*listener .*reuseaddr=1 reuseport=1 .*reuseport_group=1\$" <<<"$output")" -eq 2 ]
	grep -q "; 1 SO_REUSEPORT group" <<<"$output"
	grep -q "^Listeners in a SO_REUSEPORT group share one address, port, device, IPV6_V6ONLY and owner uid;" <<<"$output"
	# IP_BIND_ADDRESS_NO_PORT has one name, the kernel's, in the table as in JSON.
	[ "$(grep -c " bind_address_no_port=0 reuseport_group=1\$" <<<"$output")" -eq 2 ]
	run "$PORTSCOPE" ls -o -f json "$port"
	[[ $output == *'"options":{"reuseaddr":true,"reuseport":true,"bind_address_no_port":false,"reuseport_group":1}'* ]]
	[[ $output == *'"reuseport_groups":1,'* ]]
	# A listener without SO_REUSEPORT is shown as such.
	start_server 127.0.0.1:0
	run "$PORTSCOPE" ls -o "$PORT"
	grep -q "listener .*reuseaddr=1 reuseport=0" <<<"$output"
}

@test "ls -f json: one document with sockets and a summary" {
	start_server '[::1]:0' --keep -f line
	hold 1 "$PORT" ::1
	accepted 1
	run "$PORTSCOPE" ls -f json -p -e "$PORT"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ $output == '{"sockets":[{"proto":"tcp","state":"LISTEN","recv_q":0,"send_q":4096,"local":"[::1]:'$PORT'","ifindex":0,"dev":null,"peer":null,"side":"local","role":"listener","inode":'* ]]
	[[ $output == *'"processes":[{"pid":'$SERVER_PID',"comm":"'$COMM'","fd":'$LFD'}]'* ]]
	[[ $output == *'"summary":{"port":'$PORT',"sockets":3,"tcp":3,"udp":0,"time_wait":0,"listening":1,"accepted":1,"bound":0,"connected":0,"clients":1,'* ]]
	[[ $output == *'"source":"netlink"}}' ]]
	# Every socket's fields, against ss: the same (proto, state, local, peer, role) set.
	python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
port = int(sys.argv[1])
for s in d["sockets"]:
    role = "client" if s["side"] == "remote" else "listener" if s["state"] == "LISTEN" else "accepted"
    assert s["role"] == role, s
    assert s["side"] == ("local" if s["local"].endswith(":%d" % port) else "remote"), s
    print(s["proto"], s["state"], s["local"], s["peer"] or "[::]:*", s["role"])' "$PORT" <<<"$output" | sort >"$TMP/json.set"
	nonempty_same "$(cat "$TMP/json.set")" "$(ss_roles "$PORT")"
	[ "$(wc -l <"$TMP/json.set")" -eq 3 ]
	# -e: each socket's inode and cookie, as ss -e shows them (ino:N, sk:HEX).
	python3 -c '
import json, sys
for s in json.loads(sys.stdin.read())["sockets"]:
    print(s["local"], s["peer"] or "[::]:*", "ino:%d" % s["inode"], "sk:%x" % s["cookie"])' <<<"$output" | sort >"$TMP/json.ext"
	ss -Htnae "( sport = :$PORT or dport = :$PORT )" |
		awk '{ino = sk = ""; for (i = 6; i <= NF; i++) { if ($i ~ /^ino:/) ino = $i; if ($i ~ /^sk:/) sk = $i }
			print $4, $5, ino, sk}' | sort >"$TMP/ss.ext"
	nonempty_same "$(cat "$TMP/json.ext")" "$(cat "$TMP/ss.ext")"
}

@test "ls -f json: a command name of any bytes is escaped, and the document stays valid JSON" {
	# A quote, a backslash, a control byte, DEL, a byte that is not UTF-8, then é.
	spawn "$TMP/odd" python3 -c '
import socket, time
open("/proc/self/comm", "wb").write(b"q\"\\\x01\x7f\xff\xc3\xa9z")
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(30)'
	wait_for_line "$TMP/odd" '^[0-9]' 5
	port=$(head -1 "$TMP/odd")
	run "$PORTSCOPE" ls -f json -p "$port"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *'"processes":[{"pid":'$SPAWNED',"comm":"q\"\\\u0001\u007f\ufffd'$'\xc3\xa9''z","fd":'* ]]
	python3 -c '
import json, sys
d = json.loads(sys.stdin.buffer.read())
assert d["summary"]["owners"][0]["comm"] == "q\"\\\x01\x7f\ufffd\u00e9z", d["summary"]["owners"]' <<<"$output"
}

@test "ls --proc reads /proc/net and finds the same sockets as netlink" {
	start_server 127.0.0.1:0 --keep -f line
	hold 2 "$PORT"
	spawn "$TMP/udp" "$PSTEST" udp -6
	wait_for_line "$TMP/udp" '^[0-9]' 5
	port6=$(head -1 "$TMP/udp")
	set -o pipefail
	# Each way against ss: the listener and both ends of the two connections.  /proc has
	# no bound device: ls writes it "%-" (unknown), which is taken off to compare.
	viaproc=$(ls_set --proc "$PORT" | sed "s/%-:/:/")
	nonempty_same "$viaproc" "$(ss_set "$PORT")"
	[ "$(wc -l <<<"$viaproc")" -eq 5 ]
	vianetlink=$(ls_set "$PORT")
	nonempty_same "$vianetlink" "$(ss_set "$PORT")"
	# --local-only, matched here by portscope itself, not by the kernel's filter: the
	# listener and the 2 accepted sockets, as ss shows those with source port PORT.
	viaproc=$(ls_set --proc --local-only "$PORT" | sed "s/%-:/:/")
	nonempty_same "$viaproc" "$(ss -Hnta "( sport = :$PORT )" | awk '{print "tcp", $1, $4, $5}' | sed 's/ ESTAB / ESTABLISHED /' | sort)"
	[ "$(wc -l <<<"$viaproc")" -eq 3 ]
	# UDP over IPv6, from /proc/net/udp6: bound and connected.
	viaproc=$(ls_set --proc -u "$port6" | sed "s/%-:/:/")
	nonempty_same "$viaproc" "$(ss_set "$port6" | grep '^udp ')"
	[ "$(wc -l <<<"$viaproc")" -eq 2 ]
	run "$PORTSCOPE" ls --proc -f json -s "$PORT"
	[ "$status" -eq 0 ]
	[[ $output == *'"sockets":5,'* ]]
	[[ $output == *'"source":"proc"}}' ]]
}

@test "ls --dump saves the kernel's reply and --replay reads it back to the same listing" {
	start_server 127.0.0.1:0 --keep -f line
	hold 2 "$PORT"
	"$PORTSCOPE" ls --dump "$TMP/dump" "$PORT" >"$TMP/live"
	[ -s "$TMP/dump" ]
	# The live listing is the kernel's, as ss sees it: 5 sockets.
	nonempty_same "$(awk '/^(tcp|udp) / {print $1, $2, $5, $6}' "$TMP/live" | sort)" "$(ss_set "$PORT")"
	[ "$(grep -c '^tcp ' "$TMP/live")" -eq 5 ]
	stop_server KILL
	"$PORTSCOPE" ls --replay "$TMP/dump" "$PORT" >"$TMP/replayed"
	diff -u "$TMP/live" "$TMP/replayed"
}

@test "ls: a malformed replay file is a clear error, exit 1" {
	printf 'this is not netlink' >"$TMP/bad"
	run "$PORTSCOPE" ls --replay "$TMP/bad"
	[ "$status" -eq 1 ]
	[ "$output" = "portscope ls: $TMP/bad: netlink reply truncated: a message runs past the data" ]
	: >"$TMP/empty"
	run "$PORTSCOPE" ls --replay "$TMP/empty"
	[ "$status" -eq 1 ]
	[ "$output" = "portscope ls: $TMP/empty: netlink dump ended without NLMSG_DONE" ]
	run "$PORTSCOPE" ls --replay "$TMP/missing"
	[ "$status" -eq 1 ]
	[ "$output" = "portscope ls: $TMP/missing: No such file or directory" ]
}

@test "ls as an unprivileged user: other users' sockets show owner '?' with one stderr line" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to start a server another user cannot inspect"
	command -v setpriv >/dev/null || skip "setpriv is needed to drop root"
	start_server 127.0.0.1:0 --keep -f line
	hold 1 "$PORT"
	run timeout 10 setpriv --reuid=65534 --regid=65534 --clear-groups "$PORTSCOPE" ls -p "$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c 'may belong to processes this user cannot inspect' <<<"$output")" -eq 1 ]
	grep -Eq "listener +\?\$" <<<"$output"
}

@test "ls: bad arguments are named, exit 2" {
	run "$PORTSCOPE" ls 70000
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope ls: bad endpoint '70000': port 70000 is larger than 65535" ]
	run "$PORTSCOPE" ls localhost
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope ls: bad port 'localhost': ls takes PORT or ADDR:PORT" ]
	run "$PORTSCOPE" ls 0
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope ls: bad port '0': no socket is on port 0; give 1 to 65535" ]
	run "$PORTSCOPE" ls --state listen,bogus 80
	[ "$status" -eq 2 ]
	[[ ${lines[0]} == "portscope ls: unknown state 'bogus' in --state: use one or more of established, syn-sent, "* ]]
	run "$PORTSCOPE" ls -f xml
	[ "$status" -eq 2 ]
	run "$PORTSCOPE" ls --local-only
	[ "$status" -eq 2 ]
	run "$PORTSCOPE" ls --replay x --dump y
	[ "$status" -eq 2 ]
}
