#!/usr/bin/env bats
# portscope ls: state names with ss(8)'s meanings, roles from the kernel's facts,
# '-' where a source gives no value, and the same answer from netlink and /proc.
# The sockets are tests/tools/states.py's, in a network namespace each test makes:
# TCP in every state it can hold (nft drops the packets that would move them on),
# over IPv4 and IPv6, and UDP.  Expected values come from ss.

load helpers

STATES_PY=$BATS_TEST_DIRNAME/../tools/states.py

in_ns() {
	ip netns exec "$NETNS" "$@"
}

# ls_rows ARGS...: portscope ls's socket rows (no header, no summary), in the namespace.
# /proc has no bound device: ls writes the local address's "%-" (unknown, checked in
# reuseport.bats); it is taken off here, as no socket of these tests is bound to one.
ls_rows() {
	in_ns "$PORTSCOPE" ls -H "$@" | awk '/^(tcp|udp) /' | sed 's/%-:/:/'
}

# make_states: a namespace with states.py's sockets, IPv4 then IPv6; sets P4 and P6.
make_states() {
	command -v nft >/dev/null || skip "nft is needed to hold sockets in SYN_SENT, SYN_RECV, FIN_WAIT1, LAST_ACK"
	NETNS=psstates-$$-$BATS_TEST_NUMBER
	ip netns add "$NETNS"
	ip -n "$NETNS" link set lo up
	spawn "$TMP/v4" ip netns exec "$NETNS" python3 "$STATES_PY"
	wait_for_line "$TMP/v4" '^ready$' 15
	spawn "$TMP/v6" ip netns exec "$NETNS" python3 "$STATES_PY" -6
	wait_for_line "$TMP/v6" '^ready$' 15
	P4=$(head -1 "$TMP/v4")
	P6=$(head -1 "$TMP/v6")
}

# same NAME A B: A and B are the same lines, and not none; both shown on failure.
same() {
	echo "# $1: portscope:" && sed 's/^/#   /' <<<"$2"
	echo "# $1: expected:" && sed 's/^/#   /' <<<"$3"
	[ -n "$3" ]
	[ "$2" = "$3" ]
}

# ss's state names, spelled as the kernel's (ls's State column).
ss_states() {
	sed -e 's/ ESTAB / ESTABLISHED /' -e 's/ TIME-WAIT / TIME_WAIT /' \
		-e 's/ FIN-WAIT-\([12]\) / FIN_WAIT\1 /' -e 's/ CLOSE-WAIT / CLOSE_WAIT /' \
		-e 's/ SYN-SENT / SYN_SENT /' -e 's/ SYN-RECV / SYN_RECV /' \
		-e 's/ LAST-ACK / LAST_ACK /' -e 's/ CLOSED / CLOSE /'
}

@test "ls --state NAME: the same sockets as ss state NAME, for every name and group of ss(8)'s STATE-FILTER" {
	make_states
	set -o pipefail
	# Every socket with its state, once: the names below pick from these.
	all=$(ls_rows | awk '{print $1, $2, $5, $6}' | sort)
	same all "$all" "$(in_ns ss -Htuan | awk '{print $1, $2, $5, $6}' | ss_states | sort)"
	# No name below matches nothing by chance: each state states.py holds is there, on both families.
	for st in established syn-sent syn-recv fin-wait-1 fin-wait-2 time-wait close-wait last-ack listening; do
		[ "$(ls_rows -4 --state "$st" "$P4" | grep -c .)" -ge 1 ]
		[ "$(ls_rows -6 --state "$st" "$P6" | grep -c .)" -ge 1 ]
	done
	# ss hides its State column when one state is asked for: compare proto, local, peer.
	for name in established syn-sent syn-recv fin-wait-1 fin-wait-2 time-wait closed close-wait \
		last-ack listening closing all connected synchronized bucket big syn-rcv unconnected; do
		# Once more if they differ: a TIME_WAIT socket may end (after 60 s) between the two.
		for try in 1 2; do
			got=$(ls_rows --state "$name" | awk '{print $1, $5, $6}' | sort)
			want=$(in_ns ss -Htuan state "$name" | awk '{print $1, $(NF-1), $NF}' | sort)
			[ "$got" = "$want" ] && break
		done
		echo "# $name: $(grep -c . <<<"$got") sockets"
		[ "$got" = "$want" ] || { same "$name" "$got" "$want"; false; }
	done
	# connected: every state but listening and closed, so the SYN-SENT clients belong;
	# synchronized leaves them out.
	[ "$(ls_rows --state connected | grep -c '^tcp *SYN_SENT ')" -eq 2 ]
	[ "$(ls_rows --state synchronized | grep -c '^tcp *SYN_SENT ')" -eq 0 ]
	# portscope's own names, and the kernel's spelling of a state, as ls shows it.
	same listen "$(ls_rows --state listen)" "$(ls_rows --state listening)"
	same FIN_WAIT1 "$(ls_rows --state FIN_WAIT1)" "$(ls_rows --state fin-wait-1)"
	# A list is the union of its names.
	[ "$(ls_rows --state syn-sent,time-wait | awk '{print $1, $5, $6}' | sort)" = \
		"$(in_ns ss -Htuan state syn-sent state time-wait | awk '{print $1, $(NF-1), $NF}' | sort)" ]
}

@test "ls --state: an empty or unknown name is refused in one line that lists the names, exit 2" {
	for list in 'listen,,time-wait' ',listen' 'listen,' '' ','; do
		run "$PORTSCOPE" ls --state "$list" 80
		echo "$list: $output"
		[ "$status" -eq 2 ]
		[ "${lines[0]}" = "portscope ls: empty state name in --state '$list': use one or more of established, syn-sent, syn-recv, fin-wait-1, fin-wait-2, time-wait, closed, close-wait, last-ack, listening, closing, all, connected, synchronized, bucket, big, syn-rcv, unconnected, listen, close, unconn" ]
	done
	for name in bogus new-syn-recv bound-inactive fin-wait; do
		run "$PORTSCOPE" ls --state "listen,$name" 80
		[ "$status" -eq 2 ]
		[[ ${lines[0]} == "portscope ls: unknown state '$name' in --state: use one or more of established, "* ]]
	done
}

# ss_roles PORT: "proto state local peer role" for every socket on PORT, the role
# from ss's own columns by the rule README states: a remote port PORT is a client;
# a local one is a listener (LISTEN), a bound (UNCONN) or connected UDP socket, or
# a TCP socket: accepted if it has an inode (ss -e: ino), else handshake in SYN-RECV,
# queued in ESTAB or CLOSE-WAIT (the accept queue), orphaned in any other state.
ss_roles() {
	in_ns ss -Htuane "( sport = :$1 or dport = :$1 )" 2>/dev/null | ss_states | awk -v p="$1" '{
		ino = ""; for (i = 7; i <= NF; i++) if ($i ~ /^ino:/) ino = substr($i, 5)
		n = split($5, l, ":"); lp = l[n]
		if (lp != p) role = "client"
		else if ($2 == "LISTEN") role = "listener"
		else if ($1 == "udp") role = ($2 == "UNCONN") ? "bound" : "connected"
		else if (ino != "0") role = "accepted"
		else if ($2 == "SYN_RECV") role = "handshake"
		else if ($2 == "ESTABLISHED" || $2 == "CLOSE_WAIT") role = "queued"
		else role = "orphaned"
		print $1, $2, $5, $6, role }' | sort
}

# ls_roles PORT [ARGS...]: the same from portscope ls's Role column.
ls_roles() {
	local port=$1
	shift
	in_ns "$PORTSCOPE" ls -H "$@" "$port" | awk '/^(tcp|udp) / {print $1, $2, $5, $6, $7}' | sed 's/%-:/:/' | sort
}

@test "ls: a connection in the accept queue is queued, not accepted; each role from the kernel's facts, counted apart" {
	make_states
	set -o pipefail
	for port in "$P4" "$P6"; do
		want=$(ss_roles "$port")
		# Every role is there: the test cannot pass on an empty or one-role listing.
		for role in listener accepted queued handshake orphaned bound connected client; do
			grep -q " $role\$" <<<"$want"
		done
		same "netlink $port" "$(ls_roles "$port")" "$want"
		same "proc $port" "$(ls_roles "$port" --proc)" "$want"
		# A user who cannot see the owners sees the same roles: they do not depend on owners.
		same "-p $port" "$(ls_roles "$port" -p)" "$want"
		run in_ns setpriv --reuid=65534 --regid=65534 --clear-groups "$PORTSCOPE" ls -H -p "$port"
		[ "$status" -eq 0 ]
		same "unprivileged $port" "$(awk '/^(tcp|udp) / {print $1, $2, $5, $6, $7}' <<<"$output" | sort)" "$want"

		# The summary counts each role apart, and each listener's accept queue: its
		# Recv-Q (and, from netlink, its backlog: the Send-Q), as ss shows them.
		count() { grep -c " $1\$" <<<"$want" || true; }
		read -r lq lb lport < <(in_ns ss -Htln "sport = :$port" | awk '{print $2, $3, $4}')
		[ "$lq" -eq "$(count queued)" ]
		text="port $port: $(grep -c . <<<"$want") sockets - 1 listening, $(count accepted) accepted (local port $port), $(count queued) queued (in an accept queue, not accepted yet), $(count handshake) in the handshake (SYN_RECV), $(count orphaned) orphaned (closed by the owner), 1 bound udp, 1 connected udp (local port $port), $(count client) clients (remote port $port); $lq waiting in the accept queue of $lport"
		run in_ns "$PORTSCOPE" ls -s "$port"
		[ "${lines[0]}" = "$text (backlog $lb); 2 in TIME_WAIT" ]
		run in_ns "$PORTSCOPE" ls --proc -s "$port"
		# /proc has no bound device: the listener's address carries "%-" (unknown).
		[ "${lines[0]}" = "${text%:*}%-:${text##*:}; 2 in TIME_WAIT" ]
		run in_ns "$PORTSCOPE" ls -f json -s "$port"
		[ "$(jq -c '.summary | [.accepted, .queued, .handshake, .orphaned, .clients, .accept_queues]' <<<"$output")" = \
			"[$(count accepted),$(count queued),$(count handshake),$(count orphaned),$(count client),[{\"local\":\"$lport\",\"ifindex\":0,\"dev\":null,\"waiting\":$lq,\"backlog\":$lb}]]" ]
		run in_ns "$PORTSCOPE" ls --proc -f json -s "$port"
		[ "$(jq -c '.summary.accept_queues' <<<"$output")" = "[{\"local\":\"$lport\",\"ifindex\":null,\"dev\":null,\"waiting\":$lq,\"backlog\":null}]" ]
	done
}

@test "ls: a value the source does not give is '-' in text and null in JSON, never a 0 it made up" {
	make_states
	set -o pipefail
	for port in "$P4" "$P6"; do
		# The kernel's facts, from ss -e: each socket's inode and cookie (0 inode: none).
		in_ns ss -Htane "( sport = :$port or dport = :$port )" 2>/dev/null | ss_states | awk '{
			ino = sk = ""; for (i = 6; i <= NF; i++) { if ($i ~ /^ino:/) ino = substr($i, 5); if ($i ~ /^sk:/) sk = $i }
			print $1, $4, $5, $2, $3, ino, sk }' | sort >"$TMP/ss"
		for src in netlink proc; do
			args=()
			[ $src = proc ] && args=(--proc)
			ls_rows -e -t "${args[@]}" "$port" |
				sed -E 's/ +(listener|accepted|queued|handshake|orphaned|client) / /' |
				awk '{print $2, $5, $6, $3, $4, $7, $8, $9}' | sort >"$TMP/ls.$src"
			echo "# $src:" && sed 's/^/#   /' "$TMP/ls.$src"
			[ "$(wc -l <"$TMP/ls.$src")" -eq "$(wc -l <"$TMP/ss")" ]
			[ "$(wc -l <"$TMP/ss")" -ge 15 ]
			while read -r state local peer rq sq uid inode cookie; do
				ss_line=$(awk -v l="$local" -v p="$peer" '$2 == l && $3 == p' "$TMP/ss")
				read -r _ _ _ ssrq sssq ssino sssk <<<"$ss_line"
				# inode: '-' exactly where the socket has no file.
				if [ "$ssino" = 0 ]; then [ "$inode" = inode=- ]; else [ "$inode" = "inode=$ssino" ]; fi
				# cookie: /proc has none; netlink's is ss's sk.
				if [ $src = proc ]; then [ "$cookie" = cookie=- ]; else [ "cookie=sk:$(printf %x "${cookie#cookie=}")" = "cookie=$sssk" ]; fi
				# Minisockets (TIME_WAIT, a request in SYN_RECV, an orphan's FIN_WAIT2) have
				# no queues and no uid of their own; full sockets show ss's numbers.
				case $state:$ssino in
				TIME_WAIT:* | SYN_RECV:0 | FIN_WAIT2:0)
					[ "$rq $sq" = "- -" ]
					[ $src = proc ] && [ $state = SYN_RECV ] || [ "$uid" = uid=- ]
					;;
				LISTEN:*)
					[ "$rq" = "$ssrq" ]
					# /proc/net has no backlog: its tx_queue there is not the Send-Q.
					if [ $src = proc ]; then [ "$sq" = - ]; else [ "$sq" = "$sssq" ]; fi
					;;
				*)
					[ "$rq $sq" = "$ssrq $sssq" ]
					[ "$uid" = uid=0 ]
					;;
				esac
			done <"$TMP/ls.$src"
		done
		# JSON: null where the text has '-'.
		run in_ns "$PORTSCOPE" ls --proc -f json "$port"
		[ "$(jq -c '[.sockets[] | select(.state == "LISTEN") | .send_q, .recv_q, .cookie]' <<<"$output")" = "[null,3,null]" ]
		[ "$(jq -c '[.sockets[] | select(.state == "TIME_WAIT") | [.recv_q, .send_q, .uid, .inode]] | unique' <<<"$output")" = "[[null,null,null,null]]" ]
		run in_ns "$PORTSCOPE" ls -f json "$port"
		[ "$(jq -c '[.sockets[] | select(.state == "LISTEN") | .send_q, .recv_q]' <<<"$output")" = "[8,3]" ]
		[ "$(jq -c '[.sockets[] | select(.role == "queued") | .inode] | unique' <<<"$output")" = "[null]" ]
	done
}

@test "ls --proc: a filter /proc/net cannot apply (an address's interface) is an error that says so, exit 2" {
	NETNS=psscope-$$-$BATS_TEST_NUMBER
	ip netns add "$NETNS"
	ip -n "$NETNS" link set lo up
	ip -n "$NETNS" -6 addr add fe80::1/64 dev lo nodad
	spawn "$TMP/ll" ip netns exec "$NETNS" python3 -c '
import socket, time
lo = socket.if_nametoindex("lo")
l = socket.socket(socket.AF_INET6); l.bind(("fe80::1", 0, 0, lo)); l.listen()
port = l.getsockname()[1]
c = socket.socket(socket.AF_INET6); c.connect(("fe80::1", port, 0, lo)); a = l.accept()
print(port, flush=True)
time.sleep(30)'
	wait_for_line "$TMP/ll" '^[0-9]' 10
	port=$(head -1 "$TMP/ll")
	set -o pipefail
	# netlink knows each socket's interface: the listener and both ends of the connection.
	want=$(in_ns ss -Htan "( sport = :$port or dport = :$port )" | awk '{print $4, $5}' | sort)
	[ "$(grep -c . <<<"$want")" -eq 3 ]
	run in_ns "$PORTSCOPE" ls -s "[fe80::1%lo]:$port"
	[ "$status" -eq 0 ]
	[[ $output == "port $port: 3 sockets - "* ]]
	run in_ns "$PORTSCOPE" ls --proc "[fe80::1%lo]:$port"
	echo "$output"
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope ls: --proc cannot apply '[fe80::1%lo]:$port': the address names an interface (%scope), which /proc/net does not give: netlink sock_diag can filter on it, /proc/net cannot" ]
	# Without the interface, /proc can filter, and finds what netlink finds (which
	# alone can name the interface of each address).
	[ "$(ls_rows --proc "[fe80::1]:$port" | awk '{print $1, $2, $5, $6, $7}' | sort)" = \
		"$(ls_rows "[fe80::1]:$port" | awk '{print $1, $2, $5, $6, $7}' | sed 's/%lo\]/]/g' | sort)" ]
	[ "$(ls_rows --proc "[fe80::1]:$port" | grep -c .)" -eq 3 ]
}

@test "ls: netlink and --proc give the same answer for the same filters" {
	make_states
	set -o pipefail
	filters=("" "$P4" "$P6" "127.0.0.1:$P4" "[::1]:$P6" "-l $P4" "-l $P6" "-t $P4" "-u $P6" "-4" "-6"
		"-t" "-u" "--state connected" "--state bucket" "--state syn-sent,listening $P4"
		"--state closed" "-l --state established $P6" "-4 --state time-wait $P4")
	for f in "${filters[@]}"; do
		# Once more if they differ: a TIME_WAIT socket may end (after 60 s) between the two.
		# The summaries must agree too, but for what only netlink knows (the backlog, the
		# bound device) and the source.
		summary='.summary | del(.source) | if .accept_queues then .accept_queues |= map(.backlog = null | .ifindex = null) else . end'
		for try in 1 2; do
			# shellcheck disable=SC2086
			nl=$(ls_rows $f | awk '{print $1, $2, $5, $6, $7}' | sort)
			# shellcheck disable=SC2086
			pr=$(ls_rows --proc $f | awk '{print $1, $2, $5, $6, $7}' | sort)
			# shellcheck disable=SC2086
			sn=$(in_ns "$PORTSCOPE" ls -f json -s $f | jq -c "$summary")
			# shellcheck disable=SC2086
			sp=$(in_ns "$PORTSCOPE" ls --proc -f json -s $f | jq -c "$summary")
			[ "$nl" = "$pr" ] && [ "$sn" = "$sp" ] && break
		done
		echo "# ls $f: $(grep -c . <<<"$nl") sockets"
		[ "$nl" = "$pr" ] || { same "ls $f" "$pr" "$nl"; false; }
		[ -n "$nl" ]
		[ "$sn" = "$sp" ]
	done
	# The whole namespace, as ss lists it: the socket that is only bound is in neither.
	[ "$(ls_rows | awk '{print $1, $2, $5, $6}' | sort)" = \
		"$(in_ns ss -Htuan | awk '{print $1, $2, $5, $6}' | ss_states | sort)" ]
}
