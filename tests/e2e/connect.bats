#!/usr/bin/env bats
# portscope connect: the note's client, and the comparison of both ends' views.

load helpers

# start_peer TEXT [-6]: a fake server that sends TEXT to one client; sets PORT.
start_peer() {
	: >"$TMP/peer"; "$PSTEST" reply "$@" >"$TMP/peer" &
	SERVER_PID=$!
	wait_for_line "$TMP/peer" '^[0-9]' 5
	PORT=$(head -1 "$TMP/peer")
}

# in_hosts CMD...: runs CMD with a private /etc/hosts (a mount namespace of its own, root
# only), so that names resolve the same on every host: pshost.test is 127.0.0.1 and ::1,
# pshost4.test only 127.0.0.1, pshost6.test only 2001:db8::1 (glibc answers an IPv4 query
# for ::1 with 127.0.0.1, so IPv6-only needs another address).
in_hosts() {
	printf '%s\n' '127.0.0.1 pshost.test pshost4.test' '::1 pshost.test' '2001:db8::1 pshost6.test' >"$TMP/hosts"
	exec unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$TMP/hosts" "$@"
}

needs_private_hosts() {
	[ "$(id -u)" -eq 0 ] || skip "needs root for a private /etc/hosts (unshare -m)"
	command -v unshare >/dev/null || skip "needs unshare"
}

@test "seed format: prints the note's client output, then the server's view and a match" {
	start_server 127.0.0.1:0
	run timeout 10 "$PORTSCOPE" connect "$PORT"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "client socket address is " ]
	[[ ${lines[1]} =~ ^\(\'127\.0\.0\.1\',\ ([0-9]+)\)$ ]]
	cport=${BASH_REMATCH[1]}
	[ "${lines[2]}" = "server saw this client as ('127.0.0.1', $cport) and itself as ('127.0.0.1', $PORT)" ]
	[[ ${lines[3]} == "match: the server saw the same 4-tuple <127.0.0.1:$cport, 127.0.0.1:$PORT>"* ]]
	# The server's report names the same client port.
	wait_for_line "$TMP/out" "^('127.0.0.1', $cport)\$" 5
}

@test "--before shows getsockname() before connect: ('0.0.0.0', 0), and ('::', 0, 0, 0) for IPv6" {
	start_server 127.0.0.1:0
	run timeout 10 "$PORTSCOPE" connect --before "$PORT"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "client socket address before connect is " ]
	[ "${lines[1]}" = "('0.0.0.0', 0)" ]
	[ "${lines[2]}" = "client socket address is " ]
	stop_server
	start_server '[::1]:0'
	run timeout 10 "$PORTSCOPE" connect -b "[::1]:$PORT"
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "('::', 0, 0, 0)" ]
	[[ ${lines[3]} =~ ^\(\'::1\',\ [0-9]+,\ 0,\ 0\)$ ]]
}

@test "line and json formats carry both ends, the server's view and the verdict" {
	start_server 127.0.0.1:0
	run timeout 10 "$PORTSCOPE" connect -f line "$PORT"
	[ "$status" -eq 0 ]
	[[ $output =~ ^local=127\.0\.0\.1:([0-9]+)\ peer=127\.0\.0\.1:$PORT\ server_you=127\.0\.0\.1:([0-9]+)\ server_me=127\.0\.0\.1:$PORT\ verdict=match$ ]]
	[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]
	run timeout 10 "$PORTSCOPE" connect -f json "$PORT"
	[ "$status" -eq 0 ]
	[[ $output == '{"socket":{"fd":'*'"raddr":"127.0.0.1:'$PORT'"},"server":{"you":"127.0.0.1:'*'","me":"127.0.0.1:'$PORT'","conn":2},"reply":"portscope/1 you='*'","verdict":"match",'* ]]
	echo "$output" | python3 -c 'import json,sys; json.loads(sys.stdin.read())'
}

@test "-4 and -6 choose the family of a name's addresses" {
	needs_private_hosts
	# One server on both loopback addresses, one port (pshost.test resolves to both).
	: >"$TMP/out"; : >"$TMP/err"; in_hosts "$PORTSCOPE" serve pshost.test:0 >"$TMP/out" 2>"$TMP/err" &
	SERVER_PID=$!
	wait_for_count "$TMP/err" 'listening on' 2 5
	PORT=$(sed -n 's/^portscope: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$TMP/err")
	grep -qx "portscope: listening on \[::1\]:$PORT" "$TMP/err"
	run in_hosts timeout 10 "$PORTSCOPE" connect -4 -f line "pshost.test:$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == "local=127.0.0.1:"*" peer=127.0.0.1:$PORT "*" verdict=match" ]]
	run in_hosts timeout 10 "$PORTSCOPE" connect -6 -f line "pshost.test:$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == "local=[::1]:"*" peer=[::1]:$PORT "*" verdict=match" ]]
	# A name with no address of the family asked for is not resolved at all.
	run in_hosts timeout 10 "$PORTSCOPE" connect -4 -f line "pshost6.test:$PORT"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ $output == "portscope connect: pshost6.test: "* ]]
	run in_hosts timeout 10 "$PORTSCOPE" connect -6 -f line "pshost4.test:$PORT"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ $output == "portscope connect: pshost4.test: "* ]]
	# A literal of the other family is a contradiction on the command line.
	run timeout 10 "$PORTSCOPE" connect -6 -f line "127.0.0.1:$PORT"
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope connect: bad endpoint '127.0.0.1:$PORT': '127.0.0.1' is an IPv4 address, and only IPv6 was asked for (-6)" ]
}

@test "a server that sends no portscope/1 line is fine: it says so and exits 0" {
	start_peer ""
	run timeout 10 "$PORTSCOPE" connect "$PORT"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "client socket address is " ]
	[[ ${lines[2]} == "no portscope/1 line from the server"* ]]
}

@test "a server that sends something else is named as not portscope/1, exit 0" {
	start_peer "HTTP/1.1 400 Bad Request"
	run timeout 10 "$PORTSCOPE" connect -f json "$PORT"
	[ "$status" -eq 0 ]
	[[ $output == *'"server":null,"reply":"HTTP/1.1 400 Bad Request","verdict":"bad-reply"'* ]]
}

@test "json: the reply is escaped as every JSON string is: control characters, quotes, UTF-8 kept, other bytes as U+FFFD" {
	start_peer "$(printf 'x\ty"\\\001 \303\251 \377')"
	run timeout 10 "$PORTSCOPE" connect -f json "$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *'"server":null,"reply":"x\ty\"\\\u0001 é \ufffd","verdict":"bad-reply",'* ]]
	echo "$output" | python3 -c 'import json,sys; json.loads(sys.stdin.read())'
}

@test "a server that saw another address (a NAT or proxy) is reported as a mismatch" {
	start_peer "portscope/1 you=198.18.0.7:40000 me=198.18.0.1:80 proto=tcp"
	run timeout 10 "$PORTSCOPE" connect "$PORT"
	[ "$status" -eq 0 ]
	[ "${lines[2]}" = "server saw this client as ('198.18.0.7', 40000) and itself as ('198.18.0.1', 80)" ]
	[[ ${lines[3]} == "mismatch: the server saw this client as 198.18.0.7:40000, but this end is 127.0.0.1:"*"(source NAT or a proxy in between); the server's end is 198.18.0.1:80, but this client connected to 127.0.0.1:$PORT (destination NAT, port forwarding or a proxy)" ]]
}

@test "--strict: a mismatch exits 8, a proxy that named another client 8, no line or a bad one 9, a match 0" {
	start_peer "portscope/1 you=198.18.0.7:40000 me=198.18.0.1:80 proto=tcp"
	run timeout 10 "$PORTSCOPE" connect --strict -f line "$PORT"
	echo "$output"
	[ "$status" -eq 8 ]
	[[ $output == *" verdict=mismatch" ]]
	wait_pid "$SERVER_PID" 5 || true
	start_peer "portscope/1 you=198.18.0.7:40000 me=198.18.0.1:80 proto=tcp pp=1 pp_cmd=proxy pp_proto=tcp4 src=192.0.2.9:1 dst=192.0.2.10:80"
	run timeout 10 "$PORTSCOPE" connect --strict -f line "$PORT"
	echo "$output"
	[ "$status" -eq 8 ]
	[[ $output == *" verdict=proxy-mismatch" ]]
	wait_pid "$SERVER_PID" 5 || true
	start_peer ""
	run timeout 10 "$PORTSCOPE" connect --strict -f line "$PORT"
	[ "$status" -eq 9 ]
	[[ $output == *" verdict=no-reply" ]]
	wait_pid "$SERVER_PID" 5 || true
	start_peer "HTTP/1.1 400 Bad Request"
	run timeout 10 "$PORTSCOPE" connect --strict -f line "$PORT"
	[ "$status" -eq 9 ]
	[[ $output == *" verdict=bad-reply" ]]
	wait_pid "$SERVER_PID" 5 || true
	# Without --strict the same mismatch is exit 0; through portscope serve, a match is 0.
	start_peer "portscope/1 you=198.18.0.7:40000 me=198.18.0.1:80 proto=tcp"
	run timeout 10 "$PORTSCOPE" connect -f line "$PORT"
	[ "$status" -eq 0 ]
	wait_pid "$SERVER_PID" 5 || true
	start_server 127.0.0.1:0
	run timeout 10 "$PORTSCOPE" connect --strict -f line "$PORT"
	[ "$status" -eq 0 ]
	[[ $output == *" verdict=match" ]]
}

@test "connect -n --strict: exit 8 when a line differed, 9 when one was missing, 0 when all matched" {
	start_server 127.0.0.1:0
	run timeout 20 "$PORTSCOPE" connect -n 20 --strict "$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	stop_server
	: >"$TMP/peer"; "$PSTEST" reply "portscope/1 you=198.18.0.7:40000 me=198.18.0.1:80 proto=tcp" >"$TMP/peer" &
	SERVER_PID=$!
	wait_for_line "$TMP/peer" '^[0-9]' 5
	PORT=$(head -1 "$TMP/peer")
	run timeout 20 "$PORTSCOPE" connect -n 1 --strict -f json "$PORT"
	echo "$output"
	[ "$status" -eq 8 ]
	[ "$(echo "$output" | jq .mismatched)" -eq 1 ]
	wait_pid "$SERVER_PID" 5 || true
	start_peer ""
	run timeout 20 "$PORTSCOPE" connect -n 1 --strict -f json "$PORT"
	echo "$output"
	[ "$status" -eq 9 ]
	[ "$(echo "$output" | jq .no_reply)" -eq 1 ]
}

@test "an IPv4 client of a dual-stack server matches through the IPv4-mapped address" {
	start_peer MAPPED
	run timeout 10 "$PORTSCOPE" connect "$PORT"
	[ "$status" -eq 0 ]
	[[ ${lines[2]} =~ ^server\ saw\ this\ client\ as\ \(\'::ffff:127\.0\.0\.1\',\ [0-9]+,\ 0,\ 0\) ]]
	[[ ${lines[3]} == "match: "*"(its IPv6 socket shows this IPv4 address as IPv4-mapped)" ]]
}

@test "connect to a closed port: Connection refused, a reset, exit 3" {
	port=$("$PSTEST" freeport)
	run timeout 10 "$PORTSCOPE" connect "$port"
	[ "$status" -eq 3 ]
	[ "$output" = "portscope connect: connect 127.0.0.1:$port: Connection refused (a reset came back: nothing listens there, or a firewall answered with a reset)" ]
}

@test "an unresolvable host: the resolver's message, exit 1" {
	run timeout 30 "$PORTSCOPE" connect nonexistent.invalid:80
	[ "$status" -eq 1 ]
	[[ $output == "portscope connect: nonexistent.invalid: "* ]]
	[ "${#lines[@]}" -eq 1 ]
}

@test "a write error (>/dev/full) is reported, exit 1" {
	start_server 127.0.0.1:0
	run timeout 10 bash -c '"$0" connect "$1" >/dev/full' "$PORTSCOPE" "$PORT"
	[ "$status" -eq 1 ]
	[[ $output == *"write error: No space left on device" ]]
}

# netns_lo: a network namespace of its own with only lo up (so 198.18.0.0/15 has no route
# but the ones a test adds); sets NETNS, removed at teardown.
netns_lo() {
	[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
	command -v ip >/dev/null || skip "needs ip"
	NETNS=portscope-k-$$
	ip netns add "$NETNS"
	ip -n "$NETNS" link set lo up
}

@test "exit 4 when the path refuses: no route (ENETUNREACH), this host's own ICMP reject, a prohibiting route (EACCES)" {
	netns_lo
	command -v nft >/dev/null || skip "needs nft"
	ip -n "$NETNS" addr add 198.18.0.1/32 dev lo
	ip -n "$NETNS" route add prohibit 198.18.2.0/24
	ip netns exec "$NETNS" nft -f - <<-EOF
	table inet fw {
		chain out {
			type filter hook output priority 0;
			ip daddr 198.18.0.1 tcp flags syn reject with icmp type host-unreachable
		}
	}
	EOF
	run timeout 10 ip netns exec "$NETNS" "$PORTSCOPE" connect -w 5 198.18.1.9:80
	echo "$output"
	[ "$status" -eq 4 ]
	[ "$output" = "portscope connect: connect 198.18.1.9:80: Network is unreachable (refused by this host before anything was sent: no route, a prohibiting route, or its own firewall)" ]
	run timeout 10 ip netns exec "$NETNS" "$PORTSCOPE" connect -w 5 198.18.0.1:80
	echo "$output"
	[ "$status" -eq 4 ]
	[ "$output" = "portscope connect: connect 198.18.0.1:80: ICMP destination unreachable, host unreachable (type 3, code 1) from 198.18.0.1, this host itself (its own firewall rejected it)" ]
	run timeout 10 ip netns exec "$NETNS" "$PORTSCOPE" connect -w 5 198.18.2.1:80
	echo "$output"
	[ "$status" -eq 4 ]
	[ "$output" = "portscope connect: connect 198.18.2.1:80: Permission denied (refused by this host before anything was sent: no route, a prohibiting route, or its own firewall)" ]
}

@test "exit 5 when nothing answers: a dropped SYN times out at -w, not before and not much after" {
	netns_lo
	command -v nft >/dev/null || skip "needs nft"
	ip -n "$NETNS" addr add 198.18.0.1/32 dev lo
	ip netns exec "$NETNS" nft -f - <<-EOF
	table inet fw {
		chain in {
			type filter hook input priority 0;
			ip daddr 198.18.0.1 tcp flags syn drop
		}
	}
	EOF
	t0=$(date +%s%N)
	run timeout 30 ip netns exec "$NETNS" "$PORTSCOPE" connect -w 1.5 198.18.0.1:80
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "$output; $ms ms"
	[ "$status" -eq 5 ]
	[[ $output =~ ^"portscope connect: connect 198.18.0.1:80: timed out after 1.5 s, -w (no answer to "[12]" SYN"s?": dropped by a firewall, or no such host)"$ ]]
	# Not before the deadline, and not long after it (valgrind's start-up is slower).
	max=5000
	[ -n "${PORTSCOPE_VALGRIND:-}" ] && max=20000
	[ "$ms" -ge 1400 ] && [ "$ms" -lt "$max" ]
}

@test "-r S: a server that accepts and says nothing is given S seconds for its line, then named no-reply, exit 0" {
	# A listener that never accepts: the connection completes in its queue, and stays silent.
	spawn "$TMP/silent" python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(4)
print(s.getsockname()[1], flush=True)
time.sleep(60)'
	wait_for_line "$TMP/silent" '^[0-9]' 5
	port=$(head -1 "$TMP/silent")
	t0=$(date +%s%N)
	run timeout 10 "$PORTSCOPE" connect -r 0.5 -f json "$port"
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "$output; $ms ms"
	[ "$status" -eq 0 ]
	[[ $output == *'"server":null,"reply":null,"verdict":"no-reply"'* ]]
	# Half a second, not the default two (valgrind's start-up is slower).
	max=1700
	[ -n "${PORTSCOPE_VALGRIND:-}" ] && max=10000
	[ "$ms" -ge 450 ] && [ "$ms" -lt "$max" ]
}

# python_peer MODE: a server of python3's own on 127.0.0.1, port 0 (printed first), that
# serves its clients one after another:
#   reset       accepts, then resets at once (SO_LINGER {1, 0}, then close)
#   late-reset  accepts, waits 0.3 s (well within -r), then resets
#   no-newline  sends a whole portscope/1 line but its \n, then closes (a FIN)
#   no-conn     sends a portscope/1 line without conn=, then closes
# Sets PORT; the peer is stopped by pid at teardown.
python_peer() {
	spawn "$TMP/peer" python3 -c '
import socket, struct, sys, time
mode = sys.argv[1]
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(64)
print(l.getsockname()[1], flush=True)
while True:
    c, (host, port) = l.accept()
    line = "portscope/1 you=%s:%d me=%s:%d proto=tcp" % ((host, port) + c.getsockname())
    if mode == "late-reset":
        time.sleep(0.3)
    if mode == "no-newline":
        c.sendall(line.encode())
    if mode == "no-conn":
        c.sendall((line + "\n").encode())
    if mode.endswith("reset"):
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()' "$1"
	wait_for_line "$TMP/peer" '^[0-9]' 5
	PORT=$(head -1 "$TMP/peer")
}

@test "a server that accepts, then resets at once: reset, exit 6, every time (not a connect failure, not no-reply)" {
	python_peer reset
	# The reset comes while connect() still waits, or just after: the same answer either way.
	for i in $(seq 10); do
		run timeout 10 "$PORTSCOPE" connect -f line "$PORT"
		echo "$i: $status $output"
		[ "$status" -eq 6 ]
		[[ $output =~ ^local=127\.0\.0\.1:[0-9]+\ .*\ verdict=reset$ ]]
	done
	run timeout 10 "$PORTSCOPE" connect "$PORT"
	[ "$status" -eq 6 ]
	[ "${lines[0]}" = "client socket address is " ]
	[[ ${lines[1]} =~ ^\(\'127\.0\.0\.1\',\ [0-9]+\)$ ]]
	[ "${lines[2]}" = "reset: the server accepted the connection, then reset it before a whole portscope/1 line" ]
}

@test "a reset that reaches connect() itself (nftables answers the handshake's last ACK with one): the same reset, exit 6, IPv4 and IPv6, in connect and connect -n" {
	# Against a real server, whether the reset comes before connect() has read SO_ERROR or
	# after depends on which CPU the server runs; here it comes first all but always: the
	# client's ACK is refused with a reset on its way out, inside the connect() system call
	# (should the kernel put that work off, the reset reaches the read: the same answer).
	netns_lo
	command -v nft >/dev/null || skip "needs nft"
	spawn "$TMP/ports" ip netns exec "$NETNS" python3 -c '
import socket, sys, time
held = []
for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    l = socket.socket(family)
    l.bind((host, 0))
    l.listen(64)
    held.append(l)
    print(l.getsockname()[1], flush=True)
time.sleep(120)'
	wait_for_line "$TMP/ports" '^[0-9]' 5
	for _ in $(seq 100); do [ "$(wc -l <"$TMP/ports")" -eq 2 ] && break; sleep 0.05; done
	p4=$(sed -n 1p "$TMP/ports") p6=$(sed -n 2p "$TMP/ports")
	ip netns exec "$NETNS" nft -f - <<-EOF
	table inet fw {
		chain out {
			type filter hook output priority 0;
			tcp dport { $p4, $p6 } tcp flags & (syn | ack | fin | rst) == ack counter reject with tcp reset
		}
	}
	EOF
	for target in "127.0.0.1:$p4" "[::1]:$p6"; do
		run timeout 10 ip netns exec "$NETNS" "$PORTSCOPE" connect -f line "$target"
		echo "$target: $status $output"
		[ "$status" -eq 6 ]
		[[ $output =~ ^local=(127\.0\.0\.1|\[::1\]):[0-9]+\ .*\ verdict=reset$ ]]
		run timeout 10 ip netns exec "$NETNS" "$PORTSCOPE" connect "$target"
		echo "$output"
		[ "$status" -eq 6 ]
		[ "${lines[2]}" = "reset: the server accepted the connection, then reset it before a whole portscope/1 line" ]
		run timeout 30 ip netns exec "$NETNS" "$PORTSCOPE" connect -n 10 -c 2 -f json "$target"
		echo "$output"
		[ "$status" -eq 6 ]
		[ "$(jq -c '[.established, .failed, .reset]' <<<"$output")" = "[10,0,10]" ]
	done
	# Each of those resets was the firewall's (1 + 1 + 10 connections a family).
	[ "$(nft_counter "$NETNS")" -ge 24 ]
}

@test "a server that accepts, then resets 0.3 s later: the same reset, exit 6" {
	python_peer late-reset
	run timeout 10 "$PORTSCOPE" connect -f json "$PORT"
	echo "$output"
	[ "$status" -eq 6 ]
	[ "$(jq -r '.verdict + " " + (.server | tostring) + " " + (.reply | tostring)' <<<"$output")" = "reset null null" ]
}

@test "connect -n counts a reset after the handshake as connect does: established, then reset; exit 6 as connect" {
	python_peer reset
	run timeout 10 "$PORTSCOPE" connect "$PORT"
	[ "$status" -eq 6 ]
	run timeout 30 "$PORTSCOPE" connect -n 10 -c 2 -f json "$PORT"
	echo "$output"
	[ "$status" -eq 6 ]
	[ "$(jq -c '[.established, .failed, .replies, .no_reply, .bad_reply, .reset]' <<<"$output")" = "[10,0,0,0,0,10]" ]
	run timeout 30 "$PORTSCOPE" connect -n 10 -c 2 "$PORT"
	[[ $output == *"  replies     0 portscope/1 lines: 0 matched this end's view, 0 differed, 0 missing, 10 reset by the server before one"* ]]
}

@test "a line is a reply only if its \\n comes before the FIN: bad reply, in connect and connect -n alike" {
	python_peer no-newline
	run timeout 10 "$PORTSCOPE" connect "$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[2]}" = 'bad reply: no end of line (the server closed the connection before its \n)' ]
	run timeout 10 "$PORTSCOPE" connect -f json "$PORT"
	[ "$(jq -r '.verdict + " " + (.server | tostring)' <<<"$output")" = "bad-reply null" ]
	[[ $(jq -r .reply <<<"$output") == "portscope/1 you=127.0.0.1:"* ]]
	run timeout 30 "$PORTSCOPE" connect -n 5 -c 1 -f json "$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.established, .replies, .no_reply, .bad_reply, .reset]' <<<"$output")" = "[5,0,0,5,0]" ]
}

# long_peer LEN EOL [CUT]: a server of python3's own on 127.0.0.1 (port printed first) that
# sends each client, one after another, a portscope/1 line of LEN bytes before its end of
# line EOL ("\n" or "\r\n"), true to what it saw, with "you=" last: its port's five digits
# are the line's last bytes.  With CUT, the line goes in two segments (TCP_NODELAY) cut
# after CUT bytes, 0.3 s apart.  Sets PORT.
long_peer() {
	local out=$TMP/peer.$#.$1.${3:-0}.$RANDOM
	spawn "$out" python3 -c '
import socket, sys, time
n, eol, cut = int(sys.argv[1]), sys.argv[2].encode().decode("unicode_escape").encode(), int(sys.argv[3])
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(64)
print(l.getsockname()[1], flush=True)
while True:
    c, (host, port) = l.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    tail = " you=%s:%d" % (host, port)
    head = "portscope/1 me=%s:%d proto=tcp pad=" % c.getsockname()
    line = (head + "x" * (n - len(head) - len(tail)) + tail).encode()
    assert len(line) == n and port >= 10000
    line += eol
    if cut:
        c.sendall(line[:cut])
        time.sleep(0.3)
    c.sendall(line[cut:])
    time.sleep(0.3)
    c.close()' "$1" "$2" "${3:-0}"
	wait_for_line "$out" '^[0-9]' 5
	PORT=$(head -1 "$out")
}

@test "a line of 512 bytes before its end of line is a reply; one byte more is too long: a bad reply, never a mismatch (connect and connect -n)" {
	# 512 bytes and "\n" or "\r\n", whole or cut between "\r" and "\n": the line, compared.
	for args in '512 \n' '512 \r\n' '512 \r\n 513' '512 \r\n 510'; do
		long_peer $args
		run timeout 10 "$PORTSCOPE" connect -f json "$PORT"
		echo "$args: $output"
		[ "$status" -eq 0 ]
		[ "$(jq -r .verdict <<<"$output")" = match ]
		[ "$(jq -r '.reply | length' <<<"$output")" = 512 ]
		run timeout 30 "$PORTSCOPE" connect -n 3 -c 1 -f json "$PORT"
		[ "$(jq -c '[.replies, .matched, .mismatched, .bad_reply]' <<<"$output")" = "[3,3,0,0]" ]
		kill "$SPAWNED"
	done
	# 514 bytes: byte 512 falls inside the port of "you=".  Whole, or cut after byte 512
	# (a read that holds 512 bytes and no end of line yet): too long, never a NAT.
	for args in '513 \r\n' '514 \n' '514 \n 512' '514 \r\n 511'; do
		long_peer $args
		run timeout 10 "$PORTSCOPE" connect -f json "$PORT"
		echo "$args: $output"
		[ "$status" -eq 0 ]
		[ "$(jq -r '.verdict + " " + (.server | tostring)' <<<"$output")" = "bad-reply null" ]
		[ "$(jq -r .detail <<<"$output")" = 'bad reply: too long (more than 512 bytes before an end of line: no portscope/1 line is)' ]
		run timeout 30 "$PORTSCOPE" connect -n 3 -c 1 -f json "$PORT"
		echo "$output"
		[ "$status" -eq 0 ]
		[ "$(jq -c '[.established, .replies, .mismatched, .no_reply, .bad_reply]' <<<"$output")" = "[3,0,0,0,3]" ]
		kill "$SPAWNED"
	done
}

@test "json: a server line without conn= gives \"conn\":null, as every absent value" {
	python_peer no-conn
	run timeout 10 "$PORTSCOPE" connect -f json "$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(jq -c '.server.conn, .verdict' <<<"$output" | tr '\n' ' ')" = "null \"match\" " ]
	[[ $output == *'"conn":null'* ]]
	# From portscope's own server, its count.
	start_server 127.0.0.1:0
	run timeout 10 "$PORTSCOPE" connect -f json "$PORT"
	[ "$(jq -c .server.conn <<<"$output")" = 1 ]
}

@test "link-local: every tuple connect prints is the one python3 prints for the same connection" {
	netns_linklocal
	# python3's own server in the namespace: a fresh socket's address, its port, then
	# for its client the accepted address, getpeername() and getsockname(); it tells
	# the client what it saw in a portscope/1 line.
	spawn "$TMP/py" ip netns exec "$NETNS" python3 -c '
import socket
lo = socket.if_nametoindex("lo")
print(socket.socket(socket.AF_INET6).getsockname())
l = socket.socket(socket.AF_INET6)
l.bind(("fe80::1", 0, 0, lo))
l.listen(1)
print(l.getsockname()[1], flush=True)
c, address = l.accept()
you, me = c.getpeername(), c.getsockname()
c.sendall(("portscope/1 you=[%s%%lo]:%d me=[%s%%lo]:%d\n" % (you[0], you[1], me[0], me[1])).encode())
print(address)
print(you)
print(me, flush=True)
c.close()'
	wait_for_line "$TMP/py" '^[0-9]' 5
	port=$(sed -n 2p "$TMP/py")
	run timeout 10 ip netns exec "$NETNS" "$PORTSCOPE" connect -b "[fe80::1%lo]:$port"
	echo "$output"
	[ "$status" -eq 0 ]
	wait_for_count "$TMP/py" . 5 5
	cat "$TMP/py"
	[ "${lines[1]}" = "$(sed -n 1p "$TMP/py")" ]
	[ "${lines[3]}" = "$(sed -n 3p "$TMP/py")" ]
	[ "${lines[4]}" = "server saw this client as $(sed -n 4p "$TMP/py") and itself as $(sed -n 5p "$TMP/py")" ]
	[[ ${lines[5]} == "match: "* ]]
}
