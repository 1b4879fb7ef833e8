#!/usr/bin/env bats
# portscope lab: each experiment's prediction checked against this kernel.

load helpers

EXPERIMENTS="accept-shares-port no-peer-yet bind-conflict reuseport specific-beats-wildcard
client-port-reuse ephemeral-ports time-wait dual-stack udp-demux accept-queue"

# time_wait_cases: the restarts of lab time-wait, one a line: the check's name, then
# |listener|accepted|new|user: the options of the old listener (-, RA, RP), what is done to
# the accepted socket before close (-, clear, set: SO_REUSEADDR), the new server's
# options, and its user (root or nobody).  Written here from the issue, not read from the lab.
time_wait_cases() {
	cat <<'CASES'
listener no option, accepted socket as accepted, new server no option: bind()|-|-|-|root
listener no option, accepted socket as accepted, new server SO_REUSEADDR: bind()|-|-|RA|root
listener SO_REUSEADDR, accepted socket as accepted, new server no option: bind()|RA|-|-|root
listener SO_REUSEADDR, accepted socket as accepted, new server SO_REUSEADDR: bind()|RA|-|RA|root
listener SO_REUSEADDR, accepted socket SO_REUSEADDR cleared before close(), new server SO_REUSEADDR: bind()|RA|clear|RA|root
listener no option, accepted socket SO_REUSEADDR set before close(), new server SO_REUSEADDR: bind()|-|set|RA|root
listener SO_REUSEPORT, accepted socket as accepted, new server SO_REUSEPORT: bind()|RP|-|RP|root
listener SO_REUSEPORT, accepted socket as accepted, new server SO_REUSEADDR: bind()|RP|-|RA|root
listener SO_REUSEADDR, accepted socket as accepted, new server SO_REUSEPORT: bind()|RA|-|RP|root
listener SO_REUSEPORT, accepted socket as accepted, new server SO_REUSEPORT as another user (uid 65534): bind()|RP|-|RP|nobody
listener SO_REUSEADDR, accepted socket as accepted, new server SO_REUSEADDR as another user (uid 65534): bind()|RA|-|RA|nobody
CASES
}

# checks_of NAME: the names of NAME's checks, in order, one a line: what the lab must
# check, written here and not read from the lab (not root: as the lab names a check it
# skips for want of root).  A line "both: X" is "IPv4: X" then, after
# all of those, "IPv6: X" the same way.
checks_of() {
	local both=()
	while IFS= read -r line; do
		case $line in
		"both: "*) both+=("${line#both: }") ;;
		*) echo "$line" ;;
		esac
	done < <(case $1 in
	accept-shares-port) printf 'both: %s\n' "the accepted sockets' own address (getsockname)" \
		"the accepted sockets' peers (getpeername)" "the kernel's list of sockets on the port" ;;
	no-peer-yet) printf 'both: %s\n' "getpeername() on a listening socket" "getsockname() on a new socket" \
		"getpeername() on a new socket" "getsockname() after connect()" ;;
	bind-conflict) printf 'both: %s\n' "no options, first only bound: second bind() to the same address and port" \
		"SO_REUSEADDR on both, first listening: second bind()" \
		"SO_REUSEADDR on both, neither listening: second bind()" \
		"then listen() on the first" "then listen() on the second: two listeners still conflict" \
		"first listening on the wildcard, no options: bind() to loopback" \
		"SO_REUSEADDR on both, first listening on the wildcard: bind() to loopback" \
		"SO_REUSEADDR on both, first listening on loopback: bind() to the wildcard" \
		"SO_REUSEADDR on both, first bound to the wildcard, not listening: bind() to loopback" ;;
	reuseport) printf 'both: %s\n' "connections spread among the listeners" \
		"one more socket without SO_REUSEPORT: bind()" \
		"$(if [ "$(id -u)" -eq 0 ]; then echo "a socket of another user (uid 65534) with SO_REUSEPORT: bind()"
		else echo "a socket of another user with SO_REUSEPORT"; fi)" ;;
	specific-beats-wildcard) for fam in IPv4 IPv6; do
		if [ $fam = IPv4 ]; then lo=127.0.0.1 other=127.0.0.2; else lo=::1 other=2001:2::2; fi
		printf "$fam: next to the wildcard listener, %s\n" "no option: a listener on loopback" \
			"SO_REUSEADDR on both: a listener on loopback" "SO_REUSEPORT on both: a listener on loopback" \
			"SO_REUSEPORT on both, the loopback one another user's (uid 65534): bind()" \
			"no option, the wildcard one bound to pslab0, the loopback one to lo: a listener on loopback" \
			"no option, the wildcard one bound to lo, the loopback one to none: a listener on loopback"
		printf "$fam: %s\n" "a connection to $lo" "a connection to $other" \
			"on devices: a connection to $lo" "on devices: a connection to $other"
	done ;;
	client-port-reuse) printf 'both: %s\n' "a second client socket, SO_REUSEADDR on both: bind() to the same address and port" \
		"then connect() to the other server" "the kernel's list of sockets on the client's port" \
		"a third client socket without SO_REUSEADDR: bind() to the same address and port" \
		"a fourth, with SO_REUSEADDR, bound there: connect() to the first server again" ;;
	ephemeral-ports) printf 'both: %s\n' "plain connect()" "bind(port 0), then connect()" \
		"IP_BIND_ADDRESS_NO_PORT, bind(port 0), then connect()" ;;
	time-wait) printf 'both: %s\n' "after the server closed first, and stopped: the kernel's list of the port"
		time_wait_cases | cut -d'|' -f1 | sed 's/^/both: /' ;;
	dual-stack) printf 'V6ONLY %s\n' "0: the IPv4 client as the IPv6 server sees it (getpeername, getsockname)" \
		"0: the kernel's list: the accepted socket is an IPv6 one" \
		"0: an IPv4 socket: bind() to 0.0.0.0 on the same port" \
		"0: SO_REUSEADDR on both: an IPv4 listener on 0.0.0.0 next to [::], same port" \
		"0: SO_REUSEPORT on both: an IPv4 listener on 0.0.0.0 next to [::], same port" \
		"1: with IPV6_V6ONLY on: an IPv4 listener on 0.0.0.0, same port" \
		"1: an IPv4 client" "1: an IPv6 client" ;;
	udp-demux) printf 'both: %s\n' "which socket receives which sender's datagrams" \
		"the kernel's list of UDP sockets on the port" ;;
	accept-queue) printf 'both: %s\n' "before any accept(): the server's side of the connections" \
		"the clients' own sockets, the queue holding backlog + 1" \
		"the order in which accept() hands out the connections" ;;
	*) echo "checks_of: no list for '$1'" >&2; return 1 ;;
	esac)
	[ ${#both[@]} -eq 0 ] && return 0
	printf 'IPv4: %s\n' "${both[@]}"
	printf 'IPv6: %s\n' "${both[@]}"
}

# assert_checks [--count-only]: every experiment in the lab's JSON in $output has
# exactly the checks checks_of names, in that order: "checks" is their count, and
# "observed" is "NAME: value; NAME: value..." with those names, "predicted" the same
# less the checks skipped (observed "skipped: ..."), which have no prediction
# (--count-only: only the count).  Parsed by python3, not by the lab.
assert_checks() {
	local only=${1:-} e f=$TMP/checks
	: >"$f"
	for e in $EXPERIMENTS; do
		checks_of "$e" | sed "s/^/$e\t/" >>"$f"
	done
	printf '%s' "$output" >"$TMP/lab.json"
	python3 - "$f" "$only" "$TMP/lab.json" <<'PY'
import json, re, sys
want = {}
for line in open(sys.argv[1]):
    e, name = line.rstrip("\n").split("\t", 1)
    want.setdefault(e, []).append(name)
d = json.load(open(sys.argv[3]))
assert d["experiments"], "no experiment in the JSON"
for x in d["experiments"]:
    names = want[x["name"]]
    assert x["checks"] == len(names), (x["name"], "checks", x["checks"], "want", len(names))
    if sys.argv[2] == "--count-only":
        continue
    pattern = "^" + "; ".join(re.escape(n) + ": (.+?)" for n in names) + "$"
    m = re.match(pattern, x["observed"], re.S)
    assert m, (x["name"], "observed", x["observed"], "want checks", names)
    done = [n for n, v in zip(names, m.groups()) if not v.startswith("skipped: ")]
    pattern = "^" + "; ".join(re.escape(n) + ": (.+?)" for n in done) + "$"
    assert re.match(pattern, x["predicted"], re.S), (x["name"], "predicted", x["predicted"], "want checks", done)
print("checks named as expected:", ", ".join("%s %d" % (x["name"], x["checks"]) for x in d["experiments"]))
PY
}

# run_json NAME: runs `lab NAME -f json`; checks that it is one object for that one
# experiment, with exactly the checks checks_of names.
run_json() {
	run timeout 60 "$PORTSCOPE" lab "$1" -f json
	echo "$output"
	[ "${#lines[@]}" -eq 1 ]
	[[ $output == '{"kernel":"'"$(uname -r)"'","experiments":[{"name":"'"$1"'","result":'* ]]
	[[ $output == *'}]}' ]]
	[ "$(grep -o '"name":' <<<"$output" | wc -l)" -eq 1 ]
	assert_checks
}

# expect_pass NAME: the experiment passed, with no check skipped; not as root, only the
# checks that need root are skipped (reuseport's other user), each saying so.
expect_pass() {
	run_json "$1"
	[ "$status" -eq 0 ]
	grep -q '"name":"'"$1"'","result":"PASS"' <<<"$output"
	if [ "$(id -u)" -eq 0 ] || [ "$1" != reuseport ]; then
		! grep -q 'skipped' <<<"$output" || false
	else
		[ "$(grep -o ': skipped: [^;"]*' <<<"$output" | sort | uniq -c | sed 's/^ *//')" = \
			"2 : skipped: needs root, to make a socket as another user (setresuid)" ]
	fi
}

# observed: the "observed" field of the one experiment in $output.
observed() {
	sed 's/.*"observed":"\([^"]*\)".*/\1/' <<<"$output"
}

@test "lab lists the eleven experiments, one line each, exit 0" {
	run "$PORTSCOPE" lab
	[ "$status" -eq 0 ]
	for name in $EXPERIMENTS; do
		[ "$(grep -Ec "^  $name +[^ ]" <<<"$output")" -eq 1 ]
	done
	[ "$(grep -Ec '^  [a-z-]+ +' <<<"$output")" -eq 11 ]
}

@test "lab -f json lists them as one object" {
	run "$PORTSCOPE" lab -f json
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ $output == '{"kernel":"'"$(uname -r)"'","experiments":[{"name":"accept-shares-port","title":'* ]]
	[ "$(grep -o '"name":' <<<"$output" | wc -l)" -eq 11 ]
}

@test "lab accept-shares-port: every accepted socket has the listener's address; 1 LISTEN + 3 ESTABLISHED" {
	expect_pass accept-shares-port
	obs=$(observed)
	[[ $obs =~ IPv4:\ the\ accepted\ sockets.\ own\ address\ \(getsockname\):\ 3\ of\ 3\ have\ local\ address\ 127\.0\.0\.1:[0-9]+\; ]]
	[[ $obs =~ IPv6:\ the\ accepted\ sockets.\ own\ address\ \(getsockname\):\ 3\ of\ 3\ have\ local\ address\ \[::1\]:[0-9]+\; ]]
	[[ $obs =~ local\ port\ [0-9]+:\ 1\ LISTEN,\ 3\ ESTABLISHED\;\ remote\ port\ [0-9]+:\ 3\ ESTABLISHED ]]
}

@test "lab accept-shares-port in text: story, predictions with sources, evidence, checks, PASS" {
	run timeout 60 "$PORTSCOPE" lab accept-shares-port
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "== accept-shares-port: one listener, many clients: every accepted socket has the listener's address" ]
	grep -q "^  Predictions:$" <<<"$output"
	grep -q "accept(2)" <<<"$output"
	grep -Eq "^  IPv4: the listener is fd [0-9]+ on 127\.0\.0\.1:[0-9]+$" <<<"$output"
	grep -Eq "^    LISTEN +127\.0\.0\.1:[0-9]+ +\*$" <<<"$output"
	[ "$(grep -c '^    -> PASS$' <<<"$output")" -eq 6 ]
	grep -q "^  result: PASS  accept-shares-port$" <<<"$output"
	! grep -q FAIL <<<"$output" || false
}

@test "lab no-peer-yet: ENOTCONN on a listener, 0.0.0.0:0 and [::]:0 before connect, a port after" {
	expect_pass no-peer-yet
	obs=$(observed)
	[[ $obs == *"IPv4: getpeername() on a listening socket: ENOTCONN;"* ]]
	[[ $obs == *"IPv4: getsockname() on a new socket: 0.0.0.0:0;"* ]]
	[[ $obs == *"IPv6: getsockname() on a new socket: [::]:0;"* ]]
	[[ $obs =~ IPv6:\ getsockname\(\)\ after\ connect\(\):\ ::1,\ a\ port\ from\ [0-9]+\ to\ [0-9]+ ]]
}

@test "lab bind-conflict: EADDRINUSE, SO_REUSEADDR's limits, wildcard next to specific" {
	expect_pass bind-conflict
	obs=$(observed)
	[[ $obs == *"IPv4: no options, first only bound: second bind() to the same address and port: EADDRINUSE"* ]]
	[[ $obs == *"IPv4: then listen() on the second: two listeners still conflict: EADDRINUSE"* ]]
	[[ $obs == *"IPv6: SO_REUSEADDR on both, first listening on the wildcard: bind() to loopback: EADDRINUSE"* ]]
	[[ $obs == *"IPv6: SO_REUSEADDR on both, first bound to the wildcard, not listening: bind() to loopback: ok"* ]]
}

@test "lab reuseport: 64 connections spread over 4 listeners; no option or another user: EADDRINUSE" {
	expect_pass reuseport
	obs=$(observed)
	[[ $obs =~ IPv4:\ connections\ spread\ among\ the\ listeners:\ 64\ accepted,\ each\ on\ 127\.0\.0\.1:[0-9]+\;\ 4\ of\ 4\ listeners\ got\ some ]]
	if [ "$(id -u)" -eq 0 ]; then
		[[ $obs == *"IPv6: a socket of another user (uid 65534) with SO_REUSEPORT: bind(): EADDRINUSE"* ]]
	fi
	# The bar chart, in text.
	run timeout 60 "$PORTSCOPE" lab reuseport
	[ "$(grep -Ec '^    listener [1-4] \(fd +[0-9]+\) \|#+ *\| +[0-9]+ \([0-9]+%\)$' <<<"$output")" -eq 8 ]
}

# py_specific: specific-beats-wildcard's coexistence checks done by python3 in a namespace
# of the test's own, with a tun device pslab0 made by ip(8): "IPv4: NAME: outcome" lines.
py_specific() {
	NETNS=portscope-sw-$$
	ip netns add "$NETNS"
	ip -n "$NETNS" link set lo up
	ip -n "$NETNS" tuntap add pslab0 mode tun
	ip netns exec "$NETNS" timeout 60 python3 - <<'PY'
import errno, os, socket
RA, RP = [socket.SO_REUSEADDR], [socket.SO_REUSEPORT]
CASES = [("no option: a listener on loopback", [], None, None, False),
         ("SO_REUSEADDR on both: a listener on loopback", RA, None, None, False),
         ("SO_REUSEPORT on both: a listener on loopback", RP, None, None, False),
         ("SO_REUSEPORT on both, the loopback one another user's (uid 65534): bind()", RP, None, None, True),
         ("no option, the wildcard one bound to pslab0, the loopback one to lo: a listener on loopback", [], "pslab0", "lo", False),
         ("no option, the wildcard one bound to lo, the loopback one to none: a listener on loopback", [], "lo", None, False)]

def sock(fam, opts, dev):
    s = socket.socket(fam)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    for o in opts:
        s.setsockopt(socket.SOL_SOCKET, o, 1)
    if dev:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
    return s

def second(fam, lo, port, opts, dev, nobody):
    pid = os.fork()
    if pid == 0:
        if nobody:
            os.setgroups([]); os.setresgid(65534, 65534, 65534); os.setresuid(65534, 65534, 65534)
        try:
            s = sock(fam, opts, dev)
            s.bind((lo, port))
            if not nobody:
                s.listen(8)
            os._exit(0)
        except OSError as e:
            os._exit(e.errno)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return "ok" if code == 0 else errno.errorcode[code]

for label, fam, any_, lo in (("IPv4", socket.AF_INET, "0.0.0.0", "127.0.0.1"), ("IPv6", socket.AF_INET6, "::", "::1")):
    for name, opts, wdev, sdev, nobody in CASES:
        w = sock(fam, opts, wdev)
        w.bind((any_, 0)); w.listen(8)
        print("%s: next to the wildcard listener, %s: %s" % (label, name, second(fam, lo, w.getsockname()[1], opts, sdev, nobody)))
        w.close()
PY
}

@test "lab specific-beats-wildcard: who may listen next to a wildcard listener, as python3 finds it; where connections go" {
	[ "$(id -u)" -eq 0 ] || skip "needs root for a network namespace, a tun device and another user"
	expect_pass specific-beats-wildcard
	obs=$(observed)
	[[ $obs =~ IPv4:\ a\ connection\ to\ 127\.0\.0\.1:\ the\ 127\.0\.0\.1:[0-9]+\ listener ]]
	[[ $obs =~ IPv4:\ a\ connection\ to\ 127\.0\.0\.2:\ the\ 0\.0\.0\.0:[0-9]+\ listener,\ local\ address\ 127\.0\.0\.2: ]]
	[[ $obs =~ IPv6:\ a\ connection\ to\ 2001:2::2:\ the\ \[::\]:[0-9]+\ listener ]]
	[[ $obs =~ IPv4:\ on\ devices:\ a\ connection\ to\ 127\.0\.0\.1:\ the\ 127\.0\.0\.1:[0-9]+\ listener ]]
	[[ $obs == *"IPv6: on devices: a connection to 2001:2::2: ECONNREFUSED"* ]]
	py=$(py_specific)
	echo "$py"
	[ "$(wc -l <<<"$py")" -eq 12 ]
	while IFS= read -r line; do
		[[ $obs == *"$line"* ]] || { echo "python3: $line; not so in the lab"; false; }
	done <<<"$py"
	# The issue's instance: on two devices they coexist without SO_REUSEPORT.
	grep -qx "IPv4: next to the wildcard listener, no option, the wildcard one bound to pslab0, the loopback one to lo: a listener on loopback: ok" <<<"$py"
	run timeout 60 "$PORTSCOPE" lab specific-beats-wildcard
	! grep -q "coexist only with SO_REUSEPORT on both (see" <<<"$output" || false
}

@test "lab client-port-reuse: one client port, two servers; the same server again: EADDRNOTAVAIL" {
	expect_pass client-port-reuse
	obs=$(observed)
	[[ $obs =~ IPv4:\ then\ connect\(\)\ to\ the\ other\ server:\ ok,\ from\ 127\.0\.0\.1:[0-9]+ ]]
	[[ $obs == *"IPv6: a fourth, with SO_REUSEADDR, bound there: connect() to the first server again: EADDRNOTAVAIL"* ]]
}

@test "lab ephemeral-ports: per destination for connect(), one range for bind(0), NO_PORT per destination" {
	expect_pass ephemeral-ports
	obs=$(observed)
	[ "$(grep -o '6 ok, then connect() EADDRNOTAVAIL' <<<"$obs" | wc -l)" -eq 12 ]
	[ "$(grep -o '6 ok, then bind() EADDRINUSE' <<<"$obs" | wc -l)" -eq 2 ]
	[ "$(grep -o '0 ok, then bind() EADDRINUSE' <<<"$obs" | wc -l)" -eq 4 ]
}

# py_time_wait: each of time_wait_cases's restarts done by python3 in a namespace of the
# test's own, IPv4 and IPv6: "IPv4: NAME: ok" or "...: EADDRINUSE", one a line.
py_time_wait() {
	NETNS=portscope-tw-$$
	ip netns add "$NETNS"
	ip -n "$NETNS" link set lo up
	time_wait_cases >"$TMP/cases"
	ip netns exec "$NETNS" timeout 60 python3 - "$TMP/cases" <<'PY'
import errno, os, socket, sys, time
OPT = {"-": [], "RA": [socket.SO_REUSEADDR], "RP": [socket.SO_REUSEPORT]}

def sock(fam, opts):
    s = socket.socket(fam)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    for o in opts:
        s.setsockopt(socket.SOL_SOCKET, o, 1)
    return s

def restart(fam, host, old, acc, new, user):
    l = sock(fam, OPT[old])
    l.bind((host, 0)); l.listen(8)
    addr = l.getsockname()[:2]
    c = socket.create_connection(addr)
    s, _ = l.accept()
    if acc != "-":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, acc == "set")
    s.close()                      # the server closes first
    assert c.recv(1) == b""
    c.close()
    time.sleep(0.05)
    l.close()
    pid = os.fork()
    if pid == 0:
        if user == "nobody":
            os.setgroups([]); os.setresgid(65534, 65534, 65534); os.setresuid(65534, 65534, 65534)
        try:
            sock(fam, OPT[new]).bind(addr)
            os._exit(0)
        except OSError as e:
            os._exit(e.errno)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return "ok" if code == 0 else errno.errorcode[code]

cases = [line.rstrip("\n").split("|") for line in open(sys.argv[1])]
for label, fam, host in (("IPv4", socket.AF_INET, "127.0.0.1"), ("IPv6", socket.AF_INET6, "::1")):
    for name, old, acc, new, user in cases:
        print("%s: %s: %s" % (label, name, restart(fam, host, old, acc, new, user)))
PY
}

@test "lab time-wait: the server's TIME_WAIT; each restart's bind() as python3 finds it: the accepted socket's options decide" {
	[ "$(id -u)" -eq 0 ] || skip "needs root for a network namespace and another user"
	expect_pass time-wait
	obs=$(observed)
	[[ $obs =~ IPv4:\ after\ the\ server\ closed\ first,\ and\ stopped:\ the\ kernel.s\ list\ of\ the\ port:\ 1\ TIME_WAIT\ on\ 127\.0\.0\.1:[0-9]+ ]]
	py=$(py_time_wait)
	echo "$py"
	[ "$(wc -l <<<"$py")" -eq 22 ]
	while IFS= read -r line; do
		[[ $obs == *"$line"* ]] || { echo "python3: $line; not so in the lab"; false; }
	done <<<"$py"
	# The instances of the issue, as python3 found them (not the lab's own prediction).
	grep -qx "IPv4: listener SO_REUSEADDR, accepted socket SO_REUSEADDR cleared before close(), new server SO_REUSEADDR: bind(): EADDRINUSE" <<<"$py"
	grep -qx "IPv6: listener no option, accepted socket SO_REUSEADDR set before close(), new server SO_REUSEADDR: bind(): ok" <<<"$py"
	grep -qx "IPv6: listener SO_REUSEPORT, accepted socket as accepted, new server SO_REUSEPORT: bind(): ok" <<<"$py"
	# And the text no longer says that the listener's option decides.
	run timeout 60 "$PORTSCOPE" lab time-wait
	! grep -q "keeps the option of the listener\|unless both the old" <<<"$output" || false
	grep -q "inet_twsk_alloc" <<<"$output"
}

@test "lab dual-stack: IPv4 seen as ::ffff:127.0.0.1; with V6ONLY, 0.0.0.0 shares the port" {
	expect_pass dual-stack
	obs=$(observed)
	[[ $obs =~ peer\ \[::ffff:127\.0\.0\.1\]:[0-9]+,\ local\ \[::ffff:127\.0\.0\.1\]:[0-9]+ ]]
	[[ $obs == *"V6ONLY 0: an IPv4 socket: bind() to 0.0.0.0 on the same port: EADDRINUSE"* ]]
	[[ $obs == *"V6ONLY 1: with IPV6_V6ONLY on: an IPv4 listener on 0.0.0.0, same port: ok"* ]]
	# The dual-stack listener holds the port for IPv4 unless SO_REUSEPORT is on both: as python3 finds it.
	[ "$(id -u)" -eq 0 ] || return 0
	NETNS=portscope-ds-$$
	ip netns add "$NETNS"
	ip -n "$NETNS" link set lo up
	py=$(ip netns exec "$NETNS" timeout 20 python3 - <<'PY'
import errno, socket
for name, opt in (("SO_REUSEADDR", socket.SO_REUSEADDR), ("SO_REUSEPORT", socket.SO_REUSEPORT)):
    a, b = socket.socket(socket.AF_INET6), socket.socket(socket.AF_INET)
    a.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    for s in (a, b):
        s.setsockopt(socket.SOL_SOCKET, opt, 1)
    a.bind(("::", 0)); a.listen(8)
    try:
        b.bind(("0.0.0.0", a.getsockname()[1])); b.listen(8); r = "ok"
    except OSError as e:
        r = errno.errorcode[e.errno]
    print("V6ONLY 0: %s on both: an IPv4 listener on 0.0.0.0 next to [::], same port: %s" % (name, r))
PY
)
	echo "$py"
	[ "$(wc -l <<<"$py")" -eq 2 ]
	grep -q "SO_REUSEPORT on both: .*: ok$" <<<"$py"
	while IFS= read -r line; do
		[[ $obs == *"$line"* ]] || { echo "python3: $line; not so in the lab"; false; }
	done <<<"$py"
}

@test "lab udp-demux: each connected UDP socket gets only its peer's datagrams" {
	expect_pass udp-demux
	obs=$(observed)
	[ "$(grep -o 'unconnected: XX; connected to A: AA; connected to B: BB' <<<"$obs" | wc -l)" -eq 2 ]
	[[ $obs =~ local\ port\ [0-9]+:\ 1\ UNCONN,\ 2\ ESTABLISHED ]]
}

@test "lab accept-queue: ESTABLISHED with no owner before accept(); SYN_SENT beyond the backlog; in the order completed" {
	expect_pass accept-queue
	obs=$(observed)
	[ "$(grep -o 'clients 1-2: ESTABLISHED, ESTABLISHED; clients 3-4: SYN_SENT, SYN_SENT' <<<"$obs" | wc -l)" -eq 2 ]
	# 1 and 2 first; 3 and 4 in the order their retried handshakes completed (either; the
	# prediction, from the clients' side, is checked by the lab: PASS above).
	[ "$(grep -Eo 'accept\(\) hands out the connections: clients 1, 2, (3, 4|4, 3|then 3 and 4, completed together)(;|$)' <<<"$obs" | wc -l)" -eq 2 ]
	[[ $obs =~ 2\ ESTABLISHED\ with\ local\ port\ [0-9]+,\ 0\ of\ them\ with\ an\ owner ]]
}

@test "lab all as root: every experiment passes, exit 0" {
	[ "$(id -u)" -eq 0 ] || skip "not root"
	run timeout 120 "$PORTSCOPE" lab all
	echo "$output" | tail -14
	[ "$status" -eq 0 ]
	grep -q "^portscope lab on Linux $(uname -r): 11 experiments, 11 PASS, 0 FAIL, 0 SKIP$" <<<"$output"
	[ "$(grep -c '^  result: PASS  ' <<<"$output")" -eq 11 ]
}

@test "lab all as an ordinary user (nobody): nothing fails; what needs root says SKIP and why" {
	[ "$(id -u)" -eq 0 ] || skip "not root"
	command -v setpriv >/dev/null || skip "no setpriv"
	run timeout 120 setpriv --reuid=65534 --regid=65534 --clear-groups "$PORTSCOPE" lab all -f json
	echo "$output"
	[ "$status" -eq 0 ]
	! grep -q '"result":"FAIL"' <<<"$output" || false
	[ "$(grep -o '"result":"PASS"' <<<"$output" | wc -l)" -eq 11 ]
	grep -q 'IPv4: a socket of another user with SO_REUSEPORT skipped: needs root, to make a socket as another user (setresuid)' <<<"$output"
	# A check that needs root says SKIP: it is not left out.
	assert_checks --count-only
}

@test "PORTSCOPE_LAB_WRONG: a wrong prediction is a FAIL, both sides and the kernel printed, exit 1" {
	PORTSCOPE_LAB_WRONG=bind-conflict run timeout 60 "$PORTSCOPE" lab bind-conflict
	echo "$output"
	[ "$status" -eq 1 ]
	grep -q "^    predicted: anything but: EADDRINUSE$" <<<"$output"
	grep -q "^    observed:  EADDRINUSE$" <<<"$output"
	grep -q "^    -> FAIL$" <<<"$output"
	grep -q "^  result: FAIL  bind-conflict$" <<<"$output"
	grep -q "^  kernel: Linux $(uname -r) (uname -r)$" <<<"$output"
	! grep -q -- "-> PASS" <<<"$output" || false
	# In JSON, and among others that pass: only that one fails.
	PORTSCOPE_LAB_WRONG=udp-demux run timeout 60 "$PORTSCOPE" lab no-peer-yet udp-demux -f json
	[ "$status" -eq 1 ]
	grep -q '"name":"no-peer-yet","result":"PASS"' <<<"$output"
	grep -q '"name":"udp-demux","result":"FAIL"' <<<"$output"
	grep -q '"why":"FAILED IPv4: which socket receives' <<<"$output"
	grep -q "kernel $(uname -r)\"" <<<"$output"
}

@test "lab all -f json: one object, eleven results, nothing else on stdout" {
	run timeout 120 "$PORTSCOPE" lab all -f json
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ $output == '{"kernel":"'"$(uname -r)"'","experiments":[{'*'}]}' ]]
	[ "$(grep -o '"result":"[A-Z]*"' <<<"$output" | wc -l)" -eq 11 ]
	for name in $EXPERIMENTS; do
		grep -q "\"name\":\"$name\",\"result\":\"PASS\",\"predicted\":\"" <<<"$output"
	done
	[ "$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["experiments"]))' <<<"$output")" -eq 11 ]
	# Every check of every experiment, by name (as an ordinary user, some say SKIP).
	assert_checks
}

@test "lab -v shows each system call with addresses, fds and errno names" {
	run timeout 60 "$PORTSCOPE" lab no-peer-yet -v
	echo "$output"
	[ "$status" -eq 0 ]
	grep -Eq '^  IPv4 \$ socket\(AF_INET, SOCK_STREAM\) = fd [0-9]+$' <<<"$output"
	grep -Eq '^  IPv4 \$ bind\(fd [0-9]+, 127\.0\.0\.1:0\) = 0; getsockname: 127\.0\.0\.1:[0-9]+$' <<<"$output"
	grep -Eq '^  IPv4 \$ getpeername\(fd [0-9]+\) = ENOTCONN$' <<<"$output"
	grep -Eq '^  IPv6 \$ connect\(fd [0-9]+, \[::1\]:[0-9]+\) = 0; getsockname: \[::1\]:[0-9]+$' <<<"$output"
	# Without -v, no steps.
	run timeout 60 "$PORTSCOPE" lab no-peer-yet
	! grep -q '\$ socket(' <<<"$output" || false
}

@test "lab: an experiment that hangs is stopped after 20 s and counted a FAIL" {
	"$PORTSCOPE" lab accept-queue >"$TMP/out" 2>&1 &
	local pid=$! child= i status=0
	BG_PIDS+=("$pid")
	for i in $(seq 250); do
		child=$(pgrep -P "$pid" | head -1)
		[ -n "$child" ] && break
		sleep 0.02
	done
	[ -n "$child" ]
	BG_PIDS+=("$child")
	kill -STOP "$child"	# a hung experiment: alive, and silent
	for i in $(seq 400); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 "$pid" 2>/dev/null || false	# ended within 40 s
	wait "$pid" || status=$?
	cat "$TMP/out"
	[ "$status" -eq 1 ]
	grep -q "^== accept-queue: " "$TMP/out"
	grep -q "^  result: FAIL  accept-queue$" "$TMP/out"
	grep -q "^  why: it did not finish: stopped after 20 s; kernel $(uname -r)$" "$TMP/out"
}

@test "lab: bad arguments exit 2 with a hint; --help exits 0" {
	run "$PORTSCOPE" lab no-such-experiment
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope lab: unknown experiment 'no-such-experiment' (run 'portscope lab' for the list)" ]
	[ "${lines[1]}" = "Try 'portscope lab --help' for more information." ]
	run "$PORTSCOPE" lab --bogus
	[ "$status" -eq 2 ]
	[[ ${lines[0]} == "portscope lab: unknown option '--bogus'" ]]
	run "$PORTSCOPE" lab -f xml all
	[ "$status" -eq 2 ]
	[[ ${lines[0]} == "portscope lab: bad format 'xml': use text or json" ]]
	run "$PORTSCOPE" lab -f
	[ "$status" -eq 2 ]
	run "$PORTSCOPE" lab all reuseport
	[ "$status" -eq 2 ]
	run "$PORTSCOPE" lab --help
	[ "$status" -eq 0 ]
	grep -q '^usage: portscope lab ' <<<"$output"
	grep -q 'PORTSCOPE_LAB_WRONG=NAME' <<<"$output"
}

@test "lab to a full disk: write error, exit 1" {
	run timeout 60 bash -c '"$0" lab no-peer-yet >/dev/full' "$PORTSCOPE"
	[ "$status" -eq 1 ]
	[[ $output == *"write error: No space left on device" ]]
}
