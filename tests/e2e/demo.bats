#!/usr/bin/env bats
# portscope demo: the note's experiment end to end.

load helpers

# check_demo_output: the parts every demo run must show.
check_demo_output() {
	[ "$(grep -c '^server   | \*\{48\}$' <<<"$output")" -eq 2 ]
	[ "$(grep -c '^client [12] | client socket address is $' <<<"$output")" -eq 2 ]
	[ "$(grep -c '^client [12] | the same 4-tuple as this client sees' <<<"$output")" -eq 2 ]
	grep -q "getpeername() on the listening socket (fd [0-9]*) fails: ENOTCONN" <<<"$output"
	grep -q "What this showed:" <<<"$output"
	# The kernel's view, with two connections held: each row named after the demo's own fds.
	grep -Eq "^  LISTEN +[^ ]+ +\* +<- the listening socket \(fd [0-9]+\)$" <<<"$output"
	[ "$(grep -Ec "^  ESTABLISHED .*<- accepted for client [34] \(server fd [0-9]+\)$" <<<"$output")" -eq 2 ]
	[ "$(grep -Ec "^  ESTABLISHED .*<- client [34]'s own socket \(fd [0-9]+\)$" <<<"$output")" -eq 2 ]
	! grep -q UNEXPECTED <<<"$output" || false
}

@test "demo: server and two clients on one port, the two remarks, the conclusion; exit 0" {
	run timeout 30 "$PORTSCOPE" demo
	echo "$output"
	[ "$status" -eq 0 ]
	check_demo_output
	grep -q "getsockname() on a new socket (fd [0-9]*) before connect(): ('0.0.0.0', 0)." <<<"$output"
	port=$(sed -n 's/^server   | listening on 127\.0\.0\.1:\([0-9]*\) (fd [0-9]*)$/\1/p' <<<"$output")
	lfd=$(sed -n 's/^server   | listening on 127\.0\.0\.1:[0-9]* (fd \([0-9]*\))$/\1/p' <<<"$output")
	[ -n "$port" ] && [ -n "$lfd" ]
	# The conclusion for a listener bound to one address: the connections have its address.
	grep -qx "  The listening socket (fd $lfd) and each connected socket had the same local" <<<"$output"
	grep -qx "  address, 127.0.0.1:$port: one port, many sockets.  Only the 4-tuple" <<<"$output"
	! grep -q 'takes any address' <<<"$output" || false
	# Each client's own port is the one the server reports for it.
	for n in 1 2; do
		cport=$(grep -A1 "^client $n | client socket address is" <<<"$output" | tail -1 | grep -o '[0-9]*)$' | tr -d ')')
		grep -q "^server   | ('127.0.0.1', $cport)\$" <<<"$output"
		grep -q "^    connection $n (server fd [0-9]*): <127.0.0.1, $cport, 127.0.0.1, $port>\$" <<<"$output"
	done
}

@test "demo: when port 8080 is taken it uses a kernel-chosen port and says so" {
	: >"$TMP/err"; "$PORTSCOPE" serve 127.0.0.1:8080 >/dev/null 2>"$TMP/err" &
	SERVER_PID=$!
	sleep 0.3 # it may fail if 8080 is taken already, which suits this test as well
	run timeout 30 "$PORTSCOPE" demo
	[ "$status" -eq 0 ]
	grep -q "port 8080 is taken on this machine, so the kernel chose another port" <<<"$output"
	! grep -q "listening on 127.0.0.1:8080 " <<<"$output" || false
	check_demo_output
}

@test "demo [::1]:0 runs the experiment over IPv6" {
	run timeout 30 "$PORTSCOPE" demo '[::1]:0'
	[ "$status" -eq 0 ]
	check_demo_output
	grep -q "before connect(): ('::', 0, 0, 0)." <<<"$output"
	grep -q "^    connection 1 (server fd [0-9]*): <::1, [0-9]*, ::1, [0-9]*>\$" <<<"$output"
}

@test "demo to a full disk: write error, exit 1" {
	run timeout 30 bash -c '"$0" demo >/dev/full' "$PORTSCOPE"
	[ "$status" -eq 1 ]
	[[ $output == *"write error: No space left on device" ]]
}

@test "demo 0.0.0.0:0: a wildcard listener, its connections on real addresses, the same port" {
	run timeout 30 "$PORTSCOPE" demo 0.0.0.0:0
	echo "$output"
	[ "$status" -eq 0 ]
	check_demo_output
	grep -q "takes any address (0.0.0.0:[0-9]*); each connected" <<<"$output"
}

# time_wait_on_8080 NS: in namespace NS, a Python server on 127.0.0.1:8080 takes 100
# connections and closes each first (each leaves a TIME_WAIT socket on 8080), then stops.
time_wait_on_8080() {
	ip netns exec "$1" timeout 20 python3 - <<'PY'
import socket
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 8080))
srv.listen(128)
for _ in range(100):
    c = socket.create_connection(("127.0.0.1", 8080))
    s, _ = srv.accept()
    s.close()                   # the server closes first: its side waits in TIME_WAIT
    assert c.recv(1) == b""
    c.close()
srv.close()
PY
}

@test "demo with 100 TIME_WAIT sockets on 8080: lists only its own sockets, every one, and concludes from them" {
	[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
	NETNS=portscope-demo-$$
	ip netns add "$NETNS"
	ip -n "$NETNS" link set lo up
	time_wait_on_8080 "$NETNS"
	# The independent count, before the demo: ss sees the 100 the Python server left.
	tw=$(ip netns exec "$NETNS" ss -Htan state time-wait '( sport = :8080 )' | wc -l)
	[ "$tw" -eq 100 ]
	run ip netns exec "$NETNS" timeout 30 "$PORTSCOPE" demo
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q "^server   | listening on 127.0.0.1:8080 (fd [0-9]*)$" <<<"$output"
	check_demo_output
	# Its own sockets only: the listener, 2 held accepted sockets, the 2 clients' own,
	# and the 2 earlier connections the demo's server closed first (TIME_WAIT, by cookie).
	view=$(sed -n '/^The kernel.s own view/,/^$/p' <<<"$output")
	[ "$(grep -c '^  [A-Z_0-9]* .* <- ' <<<"$view")" -eq 7 ]
	# Each of them is the demo's: its peer is that client's own port (as the client printed it).
	for n in 1 2; do
		cport=$(grep -A1 "^client $n | client socket address is" <<<"$output" | tail -1 | grep -o '[0-9]*)$' | tr -d ')')
		[ -n "$cport" ]
		grep -Eq "^  TIME_WAIT +127\.0\.0\.1:8080 +127\.0\.0\.1:$cport +<- accepted for client $n, closed by the server first$" <<<"$view"
	done
	grep -qx "  (the $tw other sockets on port 8080 are not the demo's: left out)" <<<"$view"
	grep -qx "  7 sockets of the demo's own; 5 of them have local port 8080: the listener and" <<<"$view"
	! grep -q 'an earlier connection\|32+ sockets\|32 rows' <<<"$view" || false
}

@test "demo NAME with two addresses: says it uses the first, does not drop the other unannounced" {
	[ "$(id -u)" -eq 0 ] || skip "needs root for a private /etc/hosts (unshare -m)"
	command -v unshare >/dev/null || skip "needs unshare"
	printf '127.0.0.1 pshost.test\n::1 pshost.test\n' >"$TMP/hosts"
	# The independent view of the name: getent, through the same private /etc/hosts.
	run unshare -m sh -c 'mount --bind "$0" /etc/hosts && getent ahosts pshost.test' "$TMP/hosts"
	[ "$(awk '$2 == "STREAM" {print $1}' <<<"$output" | wc -l)" -eq 2 ]
	first=$(awk '$2 == "STREAM" {print $1; exit}' <<<"$output")
	run timeout 30 unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$1" demo pshost.test:0' \
		"$TMP/hosts" "$PORTSCOPE"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx "portscope demo: pshost.test has more than one usable address; using the first, $first" <<<"$output"
	grep -q "^server   | listening on \[*$first\]*:[0-9]* (fd [0-9]*)$" <<<"$output"
}
