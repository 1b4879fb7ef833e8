#!/usr/bin/env bats
# The endpoint grammar (docs/endpoints.md): every form of its table through serve, connect
# and ls, each meaning checked against what the kernel (ss), python3 or glibc's own
# inet_aton (through python3's socket.inet_aton) say, never against portscope itself.

load helpers

# refused CMD FORM STATUS WHY: `portscope CMD FORM` exits STATUS and its first line is
# "portscope CMD: bad endpoint 'FORM': WHY" (STATUS 2; FORM cut after 60 bytes), or
# "portscope CMD: WHY" (STATUS 1: what this machine said).
refused() {
	local cmd=$1 form=$2 want=$3 why=$4 shown=$2
	[ ${#form} -gt 60 ] && shown="${form:0:60}..."
	run timeout 5 "$PORTSCOPE" "$cmd" -- "$form"
	echo "$cmd '$form' -> $status: $output"
	[ "$status" -eq "$want" ]
	if [ "$want" -eq 2 ]; then
		[ "${lines[0]}" = "portscope $cmd: bad endpoint '$shown': $why" ]
		[ "${lines[1]}" = "Try 'portscope $cmd --help' for more information." ]
	else
		[ "${lines[0]}" = "portscope $cmd: $why" ]
	fi
	[ "${#lines[@]}" -le 2 ]
}

# refused_by_all FORM WHY: serve, connect and ls each refuse FORM as a bad endpoint, WHY.
refused_by_all() {
	local cmd
	for cmd in serve connect ls; do
		refused "$cmd" "$1" 2 "$2"
	done
}

# no_connection_to PORT: the kernel has no connection to or from PORT (ss), only listeners.
no_connection_to() {
	[ -z "$(ss -Htan "( sport = :$1 or dport = :$1 )" | grep -v '^LISTEN')" ]
}

# listening_on PORT: the local addresses of the TCP listeners on PORT, as ss shows them, sorted.
listening_on() {
	ss -Htln "( sport = :$1 )" | awk '{ print $4 }' | LC_ALL=C sort | tr '\n' ' '
}

# ls_sockets ARG: "proto state local peer" of each socket `portscope ls -t -f json ARG` lists
# (listening, established and in TIME_WAIT: the states that last), sorted.
ls_sockets() {
	"$PORTSCOPE" ls -t -f json "$1" | python3 -c 'import json, sys
for s in json.load(sys.stdin)["sockets"]:
    if s["state"] in ("LISTEN", "ESTABLISHED", "TIME_WAIT"):
        print(s["proto"], s["state"], s["local"], s["peer"] or "*")' | LC_ALL=C sort
}

# ss_sockets PORT: the same, as ss shows the TCP sockets whose local or remote port is PORT.
ss_sockets() {
	ss -Htan "( sport = :$1 or dport = :$1 )" | awk '{
		peer = $5; if ($1 == "LISTEN") peer = "*"
		state = $1; if (state == "ESTAB") state = "ESTABLISHED"; if (state == "TIME-WAIT") state = "TIME_WAIT"
		if (state == "LISTEN" || state == "ESTABLISHED" || state == "TIME_WAIT") print "tcp", state, $4, peer }' | LC_ALL=C sort
}

# hosts_ns CMD...: runs CMD with $TMP/hosts as /etc/hosts, in a mount namespace of its own.
hosts_ns() {
	exec unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$TMP/hosts" "$@"
}

needs_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root ($1)"
	command -v "$2" >/dev/null || skip "needs $2"
}

# name_of LEN LABEL: a host name of LEN characters in labels of at most LABEL, ending in .test.
name_of() {
	python3 -c 'import sys
n, lab = int(sys.argv[1]), int(sys.argv[2])
body = "".join("." if (i + 1) % (lab + 1) == 0 else "abcdefghijklmnopqrstuvwxyz"[i % 26]
               for i in range(n - len(".test")))
if body.endswith("."):
    body = body[:-1] + "z"
print(body + ".test")' "$1" "$2"
}

@test "the plain forms: PORT, IPv4:PORT, [IPv6]:PORT, NAME:PORT mean one address each, in all three commands" {
	needs_root "a private /etc/hosts" unshare
	printf '127.0.0.1 pshost.test\n' >"$TMP/hosts"
	start_server -f line 127.0.0.1:0
	[ "$(listening_on "$PORT")" = "127.0.0.1:$PORT " ]
	for form in "$PORT" "127.0.0.1:$PORT" "pshost.test:$PORT"; do
		run hosts_ns timeout 5 "$PORTSCOPE" connect -f line "$form"
		echo "$form: $output"
		[ "$status" -eq 0 ]
		[[ $output == "local=127.0.0.1:"*" peer=127.0.0.1:$PORT "*" verdict=match" ]]
	done
	# ls PORT and ls 127.0.0.1:PORT: the sockets ss lists on the port.
	[ "$(ls_sockets "$PORT")" = "$(ss_sockets "$PORT")" ]
	[ "$(ls_sockets "127.0.0.1:$PORT")" = "$(ss_sockets "$PORT")" ]
	stop_server
	start_server -f line '[::1]:0'
	[ "$(listening_on "$PORT")" = "[::1]:$PORT " ]
	run timeout 5 "$PORTSCOPE" connect -f line "[::1]:$PORT"
	[ "$status" -eq 0 ]
	[[ $output == "local=[::1]:"*" peer=[::1]:$PORT "*" verdict=match" ]]
	[ "$(ls_sockets "[::1]:$PORT")" = "$(ss_sockets "$PORT")" ]
	# A name is no filter for ls: a filter is one address, and a name may have many.
	run timeout 5 "$PORTSCOPE" ls "pshost.test:$PORT"
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope ls: bad address 'pshost.test:$PORT': 'pshost.test' is a host name; ls filters on a numeric address (or * for any)" ]
}

@test "'*' to serve: every interface, 0.0.0.0 and [::] (IPv6-only), as ss shows; -4 and -6 one of them" {
	start_server '*:0'
	[ "$(listening_on "$PORT")" = "0.0.0.0:$PORT [::]:$PORT " ]
	# The IPv6 one is IPv6-only, so that both families have a listener of their own.
	ss -Htlne "( sport = :$PORT )" | grep '^LISTEN.*\[::\]:' | grep -q 'v6only:1'
	run timeout 5 "$PORTSCOPE" connect -f line "127.0.0.2:$PORT"
	[ "$status" -eq 0 ]
	stop_server
	start_server -4 '*:0'
	[ "$(listening_on "$PORT")" = "0.0.0.0:$PORT " ]
	stop_server
	start_server -6 '*:0'
	[ "$(listening_on "$PORT")" = "[::]:$PORT " ]
}

@test "'*' to connect: refused as no destination; nothing is sent" {
	start_server -f line 127.0.0.1:0
	refused connect "*:$PORT" 2 "'*' means any address and is not a destination; write 127.0.0.1 or ::1"
	refused connect '*' 2 "'*' means any address and is not a destination; write 127.0.0.1 or ::1"
	refused connect "0.0.0.0:$PORT" 2 "'0.0.0.0' means any address and is not a destination (Linux would send to 127.0.0.1 in its place); write 127.0.0.1"
	refused connect "[::]:$PORT" 2 "'::' means any address and is not a destination (Linux would send to ::1 in its place); write ::1"
	refused connect "[::ffff:0.0.0.0]:$PORT" 2 "'::ffff:0.0.0.0' means any address and is not a destination (Linux would send to 127.0.0.1 in its place); write 127.0.0.1"
	run timeout 10 "$PORTSCOPE" connect -n 5 "*:$PORT"
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope connect: bad endpoint '*:$PORT': '*' means any address and is not a destination; write 127.0.0.1 or ::1" ]
	no_connection_to "$PORT"
	[ ! -s "$TMP/out" ]
}

@test "'*:PORT' to ls: port PORT on any address, IPv4 and IPv6, the sockets ss lists" {
	start_server --keep -f line '*:0'
	exec {c4}<>"/dev/tcp/127.0.0.1/$PORT"
	exec {c6}<>"/dev/tcp/::1/$PORT"
	wait_for_count "$TMP/out" '^conn=' 2 5
	[ "$(ss_sockets "$PORT" | wc -l)" -eq 6 ]
	[ "$(ls_sockets "*:$PORT")" = "$(ss_sockets "$PORT")" ]
	[ "$(ls_sockets "$PORT")" = "$(ss_sockets "$PORT")" ]
	# An address narrows it: 0.0.0.0 is the IPv4 wildcard listener, as bound.
	[ "$(ls_sockets "0.0.0.0:$PORT")" = "tcp LISTEN 0.0.0.0:$PORT *" ]
	exec {c4}>&- {c6}>&-
}

@test "white space and control characters: refused by all three, naming where" {
	refused_by_all ' 80' "white space at its start; write the endpoint without spaces"
	refused_by_all '80 ' "white space at its end; write the endpoint without spaces"
	refused_by_all ' 127.0.0.1:80' "white space at its start; write the endpoint without spaces"
	refused_by_all '127.0.0.1:80 ' "white space at its end; write the endpoint without spaces"
	refused_by_all '127.0.0.1: 80' "white space inside it; write the endpoint without spaces"
	# A control character is shown escaped: the message stays one line.
	run timeout 5 "$PORTSCOPE" connect $'local\033[2Jhost:80'
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = 'portscope connect: bad endpoint '\''local\x1b[2Jhost:80'\'': a control character (0x1b) at offset 5' ]
	run timeout 5 "$PORTSCOPE" serve $'a\nb:80'
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = 'portscope serve: bad endpoint '\''a\x0ab:80'\'': white space inside it; write the endpoint without spaces' ]
}

@test "numbers that are not dotted quads: refused by all three, saying what inet_aton would read; nothing is sent" {
	start_server -f line 127.0.0.1:0
	for host in 127.1 10.1 0x7f.0.0.1 0x7f.1 0x7f000001 2130706433 017.0.0.1 127.0.0.01 0x7f 0 127.0.1; do
		# glibc's inet_aton, through python3, says what getaddrinfo would have made of it.
		read=$(python3 -c 'import socket, sys; print(socket.inet_ntoa(socket.inet_aton(sys.argv[1])))' "$host")
		dots=${host//[^.]/}
		if [ ${#dots} -lt 3 ] && [[ $host =~ (^|\.)0[0-9xX] ]]; then
			fix="write the address in full, in decimal"
		elif [ ${#dots} -lt 3 ]; then
			fix="write the address in full"
		else
			fix="write each number in decimal, without leading zeros"
		fi
		refused_by_all "$host:$PORT" "'$host' is not a dotted quad (inet_aton would read it as $read); $fix"
	done
	for host in 1.2.3.4.5 256.0.0.1 1.2.3.256 999.1.1.1; do
		! python3 -c 'import socket, sys; socket.inet_aton(sys.argv[1])' "$host" 2>/dev/null || false
		refused_by_all "$host:$PORT" "'$host' is not a dotted quad: an IPv4 address is four decimal numbers from 0 to 255, separated by dots"
	done
	refused_by_all "127.0.0.1.:$PORT" "'127.0.0.1.' is not a dotted quad (with its final dot a resolver would look it up as a name); write 127.0.0.1"
	no_connection_to "$PORT"
	[ ! -s "$TMP/out" ]
}

@test "a 253-character name with a port: connect reaches it, serve listens on it (private /etc/hosts)" {
	needs_root "a private /etc/hosts" unshare
	name=$(name_of 253 63)
	[ ${#name} -eq 253 ]
	printf '127.0.0.1 %s\n' "$name" >"$TMP/hosts"
	start_server -f line 127.0.0.1:0
	run hosts_ns timeout 5 "$PORTSCOPE" connect -f line "$name:$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == "local=127.0.0.1:"*" peer=127.0.0.1:$PORT "*" verdict=match" ]]
	stop_server
	: >"$TMP/out"; : >"$TMP/err"; hosts_ns "$PORTSCOPE" serve -f line "$name:0" >"$TMP/out" 2>"$TMP/err" &
	SERVER_PID=$!
	server_listening
	[ "$(listening_on "$PORT")" = "127.0.0.1:$PORT " ]
	# ls filters on addresses only: the name is refused as a name, not for its length.
	run timeout 5 "$PORTSCOPE" ls "$name:$PORT"
	[ "$status" -eq 2 ]
	[[ ${lines[0]} == *": '$name' is a host name; ls filters on a numeric address (or * for any)" ]]
}

@test "a 254-character name or a 64-character label: refused by all three, naming the limit" {
	name=$(name_of 254 63)
	[ ${#name} -eq 254 ]
	refused_by_all "$name:80" "the host name has 254 characters; a host name has at most 253 (RFC 1035 section 2.3.4)"
	label=$(printf 'l%.0s' $(seq 64))
	refused_by_all "$label.test:80" "the label '${label:0:20}...' has 64 characters; a label of a host name has at most 63 (RFC 1035 section 2.3.4)"
	refused_by_all "x.$label:80" "the label '${label:0:20}...' has 64 characters; a label of a host name has at most 63 (RFC 1035 section 2.3.4)"
}

@test "host names outside RFC 1123: refused by all three before any lookup" {
	refused_by_all 'a_b.test:80' "'_' is not allowed in a host name: letters, digits, hyphens and dots only (RFC 1123 section 2.1)"
	refused_by_all 'h'$'\xc3\xa9''llo.test:80' "byte 0xc3 is not allowed in a host name: letters, digits, hyphens and dots only (RFC 1123 section 2.1; a name in another script is written in its xn-- form)"
	refused_by_all '*.test:80' "'*' is not allowed in a host name: letters, digits, hyphens and dots only (RFC 1123 section 2.1)"
	refused_by_all 'a..test:80' "empty label in the host name (a dot at its start, or two dots in a row)"
	refused_by_all '-a.test:80' "the label '-a' starts with a hyphen (RFC 1123 section 2.1)"
	refused_by_all 'a-.test:80' "the label 'a-' ends with a hyphen (RFC 1123 section 2.1)"
}

@test "ports: decimal from 0 to 65535, no sign, no space, in all three" {
	refused_by_all '65536' "port 65536 is larger than 65535"
	refused_by_all '127.0.0.1:99999999999999999999' "port 99999999999999999999 is larger than 65535"
	refused_by_all '127.0.0.1:+80' "port '+80' has a sign; a port is a decimal number from 0 to 65535"
	refused_by_all '[::1]:-1' "port '-1' has a sign; a port is a decimal number from 0 to 65535"
	refused_by_all '127.0.0.1:0x50' "port '0x50' is not a decimal number from 0 to 65535"
	refused_by_all 'localhost:http' "port 'http' is not a decimal number from 0 to 65535"
	refused_by_all '[::1]:' "no port after ':'; a port is a decimal number from 0 to 65535"
}

@test "[::ffff:127.0.0.1]: serve listens on it as python3 does (IPV6_V6ONLY off); connect and ls agree with ss" {
	# python3 binds the same text on an AF_INET6 socket: the form is a bindable address.
	python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::ffff:127.0.0.1", 0)); s.listen()'
	start_server --keep '[::ffff:127.0.0.1]:0'
	grep -qx "portscope: listening on \[::ffff:127.0.0.1\]:$PORT" "$TMP/err"
	[ "$(listening_on "$PORT")" = "[::ffff:127.0.0.1]:$PORT " ]
	ss -Htlne "( sport = :$PORT )" | grep -q 'v6only:0'
	# An IPv4 client (python3) reaches it, and the server's seed report is python3's own
	# text for the same accepted socket: an IPv6 4-tuple of the mapped address.
	cport=$(python3 -c 'import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print(c.getsockname()[1]); c.recv(200)' "$PORT")
	want=$(python3 -c 'import socket
l = socket.socket(socket.AF_INET6); l.bind(("::ffff:127.0.0.1", 0)); l.listen()
c = socket.create_connection(("127.0.0.1", l.getsockname()[1]))
a, addr = l.accept(); print(repr(addr).replace(str(addr[1]), "CPORT"))')
	[ "$want" = "('::ffff:127.0.0.1', CPORT, 0, 0)" ]
	wait_for_line "$TMP/out" "^${want/CPORT/$cport}\$" 5
	# connect, through an IPv6 socket to the mapped address or to 127.0.0.1: the same 4-tuple.
	run timeout 5 "$PORTSCOPE" connect -f line "[::ffff:127.0.0.1]:$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output =~ ^local=\[::ffff:127\.0\.0\.1\]:([0-9]+)\ peer=\[::ffff:127\.0\.0\.1\]:$PORT\ server_you=\[::ffff:127\.0\.0\.1\]:([0-9]+)\ server_me=\[::ffff:127\.0\.0\.1\]:$PORT\ verdict=match$ ]]
	[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]
	run timeout 5 "$PORTSCOPE" connect -f line "127.0.0.1:$PORT"
	[ "$status" -eq 0 ]
	[[ $output == "local=127.0.0.1:"*" peer=127.0.0.1:$PORT server_you=[::ffff:127.0.0.1]:"*" verdict=match" ]]
	# ls with the mapped form or the IPv4 one: the sockets ss shows on the port.
	[ "$(ls_sockets "[::ffff:127.0.0.1]:$PORT")" = "$(ss_sockets "$PORT")" ]
	[ "$(ls_sockets "127.0.0.1:$PORT")" = "$(ss_sockets "$PORT")" ]
}

@test "[::ffff:0.0.0.0]: serve listens on every IPv4 address through an IPv6 socket; connect refuses it" {
	start_server '[::ffff:0.0.0.0]:0'
	[ "$(listening_on "$PORT")" = "[::ffff:0.0.0.0]:$PORT " ]
	run timeout 5 "$PORTSCOPE" connect -f line "127.0.0.2:$PORT"
	[ "$status" -eq 0 ]
	[[ $output == *" server_me=[::ffff:127.0.0.2]:$PORT verdict=match" ]]
	refused connect "[::ffff:0.0.0.0]:$PORT" 2 "'::ffff:0.0.0.0' means any address and is not a destination (Linux would send to 127.0.0.1 in its place); write 127.0.0.1"
}

@test "link-local: no zone is refused to serve and connect; a zone that is no interface, or on ::1, is named" {
	refused serve '[fe80::1]:0' 2 "'fe80::1' is link-local: name its interface, [fe80::1%IFACE] (ip link lists them)"
	refused connect '[fe80::1]:80' 2 "'fe80::1' is link-local: name its interface, [fe80::1%IFACE] (ip link lists them)"
	# ls takes it: fe80::1 on any interface.
	run timeout 5 "$PORTSCOPE" ls -s '[fe80::1]:80'
	[ "$status" -eq 0 ]
	! ip link show pscope-none0 2>/dev/null || skip "an interface pscope-none0 exists"
	refused serve '[fe80::1%pscope-none0]:0' 1 "fe80::1%pscope-none0: no interface named 'pscope-none0' on this machine (ip link lists them)"
	refused connect '[fe80::1%pscope-none0]:80' 1 "fe80::1%pscope-none0: no interface named 'pscope-none0' on this machine (ip link lists them)"
	refused ls '[fe80::1%pscope-none0]:80' 1 "fe80::1%pscope-none0: no interface named 'pscope-none0' on this machine (ip link lists them)"
	refused_by_all '[::1%lo]:80' "a zone (%interface) belongs to a link-local address only (fe80::/10, ff02::/16); write '::1' without it"
	refused_by_all '[2001:db8::1%1]:80' "a zone (%interface) belongs to a link-local address only (fe80::/10, ff02::/16); write '2001:db8::1' without it"
}

@test "[fe80::1%lo] in a namespace: serve, connect and ls, as ss shows" {
	needs_root "network namespaces" ip
	NETNS=portscope-ep-$$
	ip netns add "$NETNS"
	ip -n "$NETNS" link set lo up
	ip -n "$NETNS" addr add fe80::1/64 dev lo nodad
	: >"$TMP/out"; : >"$TMP/err"; ip netns exec "$NETNS" "$PORTSCOPE" serve -f line '[fe80::1%lo]:0' >"$TMP/out" 2>"$TMP/err" &
	SERVER_PID=$!
	server_listening
	[ "$(ip netns exec "$NETNS" ss -Htln "( sport = :$PORT )" | awk '{ print $4 }')" = "[fe80::1]%lo:$PORT" ]
	run ip netns exec "$NETNS" timeout 5 "$PORTSCOPE" connect -f line "[fe80::1%lo]:$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == "local=[fe80::1%lo]:"*" peer=[fe80::1%lo]:$PORT "*"verdict=match" ]]
	run ip netns exec "$NETNS" "$PORTSCOPE" ls -H "[fe80::1%lo]:$PORT"
	echo "$output"
	[ "$(grep -c LISTEN <<<"$output")" -eq 1 ]
}

@test "IPv4-compatible, multicast and broadcast addresses: refused by serve and connect with a sentence, no raw errno" {
	for cmd in serve connect; do
		refused $cmd '[::127.0.0.1]:80' 2 "'::127.0.0.1' is an IPv4-compatible IPv6 address, deprecated (RFC 4291 section 2.5.5.1) and routed nowhere; write 127.0.0.1, or [::ffff:127.0.0.1] for IPv4 through an IPv6 socket"
		refused $cmd '224.0.0.1:80' 2 "'224.0.0.1' is a multicast address; TCP can neither listen on it nor connect to it"
		refused $cmd '255.255.255.255:80' 2 "'255.255.255.255' is a broadcast address; TCP can neither listen on it nor connect to it"
		refused $cmd '[ff02::1%lo]:80' 2 "'ff02::1%lo' is a multicast address; TCP can neither listen on it nor connect to it"
	done
	# No listener was made on any of them (the kernel would have bound the multicast one).
	[ -z "$(ss -Htln '( src 224.0.0.1 or src 255.255.255.255 )')" ]
	# ls filters on what it is given: a UDP socket may be bound to a multicast group.
	run timeout 5 "$PORTSCOPE" ls -s '224.0.0.1:80'
	[ "$status" -eq 0 ]
}

@test "-4 with an IPv6 literal, -6 with an IPv4 one: a contradiction, refused by serve and connect" {
	for cmd in serve connect; do
		run timeout 5 "$PORTSCOPE" $cmd -4 '[::1]:80'
		[ "$status" -eq 2 ]
		[ "${lines[0]}" = "portscope $cmd: bad endpoint '[::1]:80': '::1' is an IPv6 address, and only IPv4 was asked for (-4)" ]
		run timeout 5 "$PORTSCOPE" $cmd -6 '127.0.0.1:80'
		[ "$status" -eq 2 ]
		[ "${lines[0]}" = "portscope $cmd: bad endpoint '127.0.0.1:80': '127.0.0.1' is an IPv4 address, and only IPv6 was asked for (-6)" ]
	done
}
