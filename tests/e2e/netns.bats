#!/usr/bin/env bats
# --netns for ls, watch and exporter: namespaces this test makes (ip netns add) and
# removes, and one without a name (unshare -n); expected values from `ip netns exec
# NS ss`, readlink /proc/PID/ns/net and python3's own sockets.

load helpers

# netns_make VAR: a named namespace with lo up and 198.18.0.1 on it; its name in VAR
# (NETNS or NETNS_MORE), removed at teardown.
netns_make() {
	[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
	command -v ip >/dev/null || skip "needs ip"
	local name=portscope-ns$1-$$
	ip netns add "$name"
	ip -n "$name" link set lo up
	ip -n "$name" addr add 198.18.0.1/32 dev lo
	printf -v "$2" '%s' "$name"
}

# hold_in OUT CMD...: runs python3 under CMD (ip netns exec NS, or unshare -n env
# PS_UNSHARE=1: then it sets lo up and uses 127.0.0.1): it listens on 198.18.0.1:0,
# connects 3 clients, accepts 2; prints "PORT PID" then sleeps.
hold_in() {
	local out=$1
	shift
	spawn "$out" "$@" python3 -c '
import os, socket, subprocess, time
host = "198.18.0.1"
if os.environ.get("PS_UNSHARE"):
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    host = "127.0.0.1"
l = socket.socket(); l.bind((host, 0)); l.listen(8)
addr = l.getsockname()
cs = [socket.create_connection(addr) for i in range(3)]
acc = [l.accept() for i in range(2)]
print(addr[1], os.getpid(), flush=True)
time.sleep(100)'
	wait_for_line "$out" '^[0-9]' 10
}

# ss_tuples NS PORT: "local peer" of every TCP socket on PORT in namespace NS, as ss sees them, sorted.
ss_tuples() {
	ip netns exec "$1" ss -Htan "( sport = :$2 or dport = :$2 )" |
		awk '{ print $4, ($5 ~ /\*$/ ? "-" : $5) }' | sort
}

@test "ls --netns NAME: the namespace's sockets as ss inside it sees them, each labelled; the host does not have them" {
	netns_make a NETNS
	hold_in "$TMP/py" ip netns exec "$NETNS"
	read -r port pid <"$TMP/py"
	run "$PORTSCOPE" ls --netns "$NETNS" -f json -p "198.18.0.1:$port"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" >"$TMP/ls.json"
	expected=$(ss_tuples "$NETNS" "$port")
	[ "$(wc -l <<<"$expected")" -eq 7 ]  # 1 listener, 3 server ends, 3 clients
	got=$(jq -r '.sockets[] | "\(.local) \(.peer // "-")"' "$TMP/ls.json" | sed 's/^0\.0\.0\.0:\*/-/' | sort)
	[ "$got" = "$expected" ]
	[ "$(jq -r '[.sockets[].netns] | unique | join(",")' "$TMP/ls.json")" = "$NETNS" ]
	inode=$(stat -L -c %i "/run/netns/$NETNS")
	[ "$(jq -r '[.sockets[].netns_inode] | unique | join(",")' "$TMP/ls.json")" = "$inode" ]
	# Roles as inside: 2 accepted, 1 queued; owners found in the host's /proc.
	[ "$(jq '[.sockets[] | select(.role == "queued")] | length' "$TMP/ls.json")" -eq 1 ]
	[ "$(jq "[.sockets[] | select(.role == \"listener\") | .processes[].pid] == [$pid]" "$TMP/ls.json")" = true ]
	# Text: the label is the first column.
	run "$PORTSCOPE" ls --netns "$NETNS" -H "198.18.0.1:$port"
	[ "$(grep -c "^$NETNS  *tcp " <<<"$output")" -eq 7 ]
	# /proc/net read inside the namespace says the same.
	run "$PORTSCOPE" ls --netns "$NETNS" --proc -f json "198.18.0.1:$port"
	[ "$status" -eq 0 ]
	[ "$(jq '.sockets | length' <<<"$output")" -eq 7 ]
	# The host's own table has none of them.
	run "$PORTSCOPE" ls -f json "198.18.0.1:$port"
	[ "$(jq '.sockets | length' <<<"$output")" -eq 0 ]
}

@test "ls --netns all: named namespaces by name, an unnamed one (unshare -n) as net:[INODE], each once" {
	command -v unshare >/dev/null || skip "needs unshare"
	netns_make a NETNS
	netns_make b NETNS_MORE
	hold_in "$TMP/a" ip netns exec "$NETNS"
	hold_in "$TMP/b" ip netns exec "$NETNS_MORE"
	hold_in "$TMP/u" unshare -n env PS_UNSHARE=1
	read -r pa _ <"$TMP/a"
	read -r pb _ <"$TMP/b"
	read -r pu upid <"$TMP/u"
	uinode=$(readlink "/proc/$upid/ns/net" | tr -dc 0-9)
	# One port at a time (the host may hold many sockets of other jobs): each namespace's
	# sockets on its port, as many as ss inside it lists (not twice, though the named
	# ones are also found through their processes), under its label.
	for x in "$NETNS $pa" "$NETNS_MORE $pb" "net:[$uinode] $pu"; do
		set -- $x
		run "$PORTSCOPE" ls --netns all -f json "$2"
		[ "$status" -eq 0 ]
		printf '%s\n' "$output" >"$TMP/all.json"
		if [ "$1" = "net:[$uinode]" ]; then
			n=$(nsenter --net="/proc/$upid/ns/net" ss -Htan "( sport = :$2 or dport = :$2 )" | wc -l)
		else
			n=$(ss_tuples "$1" "$2" | wc -l)
		fi
		[ "$n" -eq 7 ]
		[ "$(jq --arg ns "$1" '[.sockets[] | select(.netns == $ns)] | length' "$TMP/all.json")" -eq "$n" ]
		# Each namespace once: one label per inode, one inode per label.
		[ "$(jq '[.sockets[] | "\(.netns) \(.netns_inode)"] | unique | length' "$TMP/all.json")" -eq \
			"$(jq '[.sockets[] | .netns_inode] | unique | length' "$TMP/all.json")" ]
		[ "$(jq '[.sockets[] | .netns] | unique | length' "$TMP/all.json")" -eq \
			"$(jq '[.sockets[] | .netns_inode] | unique | length' "$TMP/all.json")" ]
	done
}

@test "exporter --netns NAME and all: series labelled netns=, counts as ss inside, promtool accepts it" {
	command -v unshare >/dev/null || skip "needs unshare"
	netns_make a NETNS
	hold_in "$TMP/a" ip netns exec "$NETNS"
	hold_in "$TMP/u" unshare -n env PS_UNSHARE=1
	read -r pa _ <"$TMP/a"
	read -r pu upid <"$TMP/u"
	uinode=$(readlink "/proc/$upid/ns/net" | tr -dc 0-9)
	run "$PORTSCOPE" exporter --once --netns "$NETNS"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" >"$TMP/m"
	promtool check metrics <"$TMP/m"
	rq=$(ip netns exec "$NETNS" ss -Htln "( sport = :$pa )" | awk '{print $2}')
	[ "$rq" -eq 1 ]
	s="portscope_sockets{netns=\"$NETNS\",port=\"$pa\",proto=\"tcp\""
	grep -qx "$s,role=\"listener\",state=\"listen\"} 1" "$TMP/m"
	grep -qx "$s,role=\"accepted\",state=\"established\"} $((3 - rq))" "$TMP/m"
	grep -qx "$s,role=\"queued\",state=\"established\"} $rq" "$TMP/m"
	grep -qx "$s,role=\"client\",state=\"established\"} 3" "$TMP/m"
	grep -qx "portscope_listener_accept_queue_length{netns=\"$NETNS\",address=\"198.18.0.1\",port=\"$pa\",cookie=\"[0-9]*\"} $rq" "$TMP/m"
	# Every series of the namespace carries the label; none other is there.
	! grep -v '^#' "$TMP/m" | grep -v '^portscope_scrape_' | grep -qv "{netns=\"$NETNS\","
	run "$PORTSCOPE" exporter --once --netns all
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" >"$TMP/all"
	promtool check metrics <"$TMP/all"
	grep -qx "portscope_sockets{netns=\"$NETNS\",port=\"$pa\",proto=\"tcp\",role=\"client\",state=\"established\"} 3" "$TMP/all"
	grep -qx "portscope_sockets{netns=\"net:\\[$uinode\\]\",port=\"$pu\",proto=\"tcp\",role=\"client\",state=\"established\"} 3" "$TMP/all"
}

@test "watch --netns NAME: events from inside the namespace, labelled; --netns all finds an unnamed one" {
	command -v unshare >/dev/null || skip "needs unshare"
	netns_make a NETNS
	hold_in "$TMP/a" ip netns exec "$NETNS"
	read -r pa _ <"$TMP/a"
	run timeout 20 "$PORTSCOPE" watch --netns "$NETNS" -f json --until 'client>=3' --timeout 10 "198.18.0.1:$pa"
	[ "$status" -eq 0 ]
	grep '^{' <<<"$output" >"$TMP/ev"
	[ "$(jq -r 'select(.event == "appeared") | .netns' "$TMP/ev" | sort -u)" = "$NETNS" ]
	[ "$(jq -r 'select(.event == "appeared") | "\(.local) \(.peer // "-")"' "$TMP/ev" | sed 's/^0\.0\.0\.0:\*/-/' | sort)" = \
		"$(ss_tuples "$NETNS" "$pa")" ]
	# A connection closed inside the namespace is seen going away (destroy notifications there).
	: >"$TMP/ev2"; : >"$TMP/err2"; "$PORTSCOPE" watch --netns "$NETNS" -f json --timeout 10 "198.18.0.1:$pa" >"$TMP/ev2" 2>"$TMP/err2" &
	wpid=$!
	BG_PIDS+=("$wpid")
	wait_for_line "$TMP/err2" 'watching' 10
	# Connected and closed at once, between two lists: the client's socket is freed
	# (a destroy notification) and leaves a FIN_WAIT2 stand-in, found by its 4-tuple
	# (via lookup): both sockets must be those of the namespace, or a list would see it first.
	cport=$(ip netns exec "$NETNS" python3 -c "
import socket
c = socket.create_connection(('198.18.0.1', $pa)); print(c.getsockname()[1]); c.close()")
	wait_for_line "$TMP/ev2" "\"event\":\"appeared\".*\"netns\":\"$NETNS\".*\"via\":\"lookup\".*\"local\":\"198.18.0.1:$cport\"" 10
	kill -TERM "$wpid"
	wait_pid "$wpid" 5
	# --netns all: a listener in a namespace without a name, labelled by its inode.
	hold_in "$TMP/u" unshare -n env PS_UNSHARE=1
	read -r pu upid <"$TMP/u"
	uinode=$(readlink "/proc/$upid/ns/net" | tr -dc 0-9)
	run timeout 30 "$PORTSCOPE" watch --netns all -f json --until 'listener>=1' --timeout 20 "127.0.0.1:$pu"
	[ "$status" -eq 0 ]
	[ "$(grep '^{' <<<"$output" | jq -s --arg ns "net:[$uinode]" \
		'[.[] | select(.role == "listener" and .netns == $ns)] | length')" -eq 1 ]
}

@test "--netns: a missing namespace or a file that is none is one line and exit 1; an empty one, or with --replay, exit 2" {
	run "$PORTSCOPE" ls --netns portscope-none-$$ 80
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"--netns 'portscope-none-$$'"* ]]
	run "$PORTSCOPE" exporter --once --netns /etc/hostname
	[ "$status" -eq 1 ]
	[[ "$output" == *"not a network namespace"* ]]
	run "$PORTSCOPE" watch --netns portscope-none-$$ --timeout 1 80
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	run "$PORTSCOPE" ls --netns '' 80
	[ "$status" -eq 2 ]
	run "$PORTSCOPE" ls --netns all --replay /dev/null
	[ "$status" -eq 2 ]
	[[ "${lines[0]}" == *"--netns"*"--replay"* ]]
}
