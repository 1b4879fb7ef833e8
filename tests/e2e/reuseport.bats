#!/usr/bin/env bats
# ls -o's SO_REUSEPORT groups against where the kernel really sends connections, and the
# bound device (SO_BINDTODEVICE) shown as ss shows it.  Listeners are made by Python, in
# a network namespace each test makes (lo, and a veth pair ps0/ps1 on 198.18.0.0/15).

load helpers

LISTENERS=$(dirname "$BATS_TEST_FILENAME")/../tools/reuseport_listeners.py

# rp_netns: a namespace with lo and ps0 (198.18.0.1/24) up; sets NETNS, removed at teardown.
rp_netns() {
	[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
	command -v ip >/dev/null || skip "needs ip"
	NETNS=portscope-rp-$$
	ip netns add "$NETNS"
	ip -n "$NETNS" link set lo up
	ip -n "$NETNS" link add ps0 type veth peer name ps1
	ip -n "$NETNS" addr add 198.18.0.1/24 dev ps0
	ip -n "$NETNS" link set ps0 up
	ip -n "$NETNS" link set ps1 up
}

# in_ns CMD...: runs CMD in the test's namespace.
in_ns() {
	ip netns exec "$NETNS" "$@"
}

# listeners ADDR CONNECT-TO SPEC...: makes one listener per SPEC on ADDR and one port
# (see reuseport_listeners.py), connects 60 times to CONNECT-TO and waits for the counts.
# Sets PORT, FD[i] (listener i's descriptor), GOT[i] (connections it accepted) and LPID.
listeners() {
	local addr=$1 target=$2 i
	shift 2
	# ip itself, not the in_ns function: ip netns exec execs Python, so the pid that
	# teardown kills is Python's (a subshell's death would leave it holding bats's output).
	spawn "$TMP/rp" ip netns exec "$NETNS" python3 "$LISTENERS" "$addr" "$target" 60 "$@"
	wait_for_line "$TMP/rp" '^done' 30 || { cat "$TMP/rp" "$TMP/spawn.err" >&2; return 1; }
	cat "$TMP/rp"
	LPID=$(awk '$1 == "listener" {print $4; exit}' "$TMP/rp")
	PORT=$(awk '$1 == "port" {print $2}' "$TMP/rp")
	FD=() GOT=()
	for ((i = 1; i <= $#; i++)); do
		FD[i]=$(awk -v i="$i" '$1 == "listener" && $2 == i {print $6}' "$TMP/rp")
		GOT[i]=$(awk -v i="$i" '$1 == "accepted" && $2 == i {print $3}' "$TMP/rp")
	done
}

# groups: listener i's reuseport_group as ls -o -f json gives it (0 for none), in the
# order the listeners were made, found by their owner (pid and descriptor).
groups() {
	local json
	json=$(in_ns "$PORTSCOPE" ls -p -o -f json --state listen "$PORT")
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])
fds = [int(f) for f in sys.argv[3:]]
by_fd = {}
for s in d["sockets"]:
    for p in s["processes"]:
        if p["pid"] == int(sys.argv[2]):
            by_fd[p["fd"]] = (s["options"] or {}).get("reuseport_group", 0)
print(" ".join(str(by_fd[f]) for f in fds))' "$json" "$LPID" "${FD[@]:1}"
}

# kernel_groups: what the kernel's choices show, per listener: B (busy: it accepted
# connections) or 0 (it got none).
kernel_groups() {
	local i out=()
	for ((i = 1; i < ${#GOT[@]} + 1; i++)); do
		[ "${GOT[i]}" -gt 0 ] && out+=(B) || out+=(0)
	done
	echo "${out[*]}"
}

# same_grouping LS KERNEL: LS's group numbers (0: in no group) agree with what the kernel
# did: listeners that both accepted connections are in one group; one that got none
# while another was busy is not in the busy one's group.  Of two that both got none,
# the kernel's choices say nothing.
same_grouping() {
	echo "# ls -o groups: $1; kernel: $2 (accepted: ${GOT[*]})"
	local -a a=($1) b=($2)
	local i j same
	[ ${#a[@]} -eq ${#b[@]} ]
	for ((i = 0; i < ${#a[@]}; i++)); do
		for ((j = 0; j < ${#a[@]}; j++)); do
			[ $i -ne $j ] && [ "${b[i]}" = B ] || continue
			same=0
			[ "${a[i]}" != 0 ] && [ "${a[i]}" = "${a[j]}" ] && same=1
			if [ "${b[j]}" = B ]; then [ $same -eq 1 ] || return 1; else [ $same -eq 0 ] || return 1; fi
		done
	done
}

# nonempty_same A B: A and B are the same lines, and not none.
nonempty_same() {
	echo "portscope: $1" | sed 's/^/# /'
	echo "expected: $2" | sed 's/^/# /'
	[ -n "$2" ]
	[ "$1" = "$2" ]
}

skip_no_pidfd() {
	[ -z "${PORTSCOPE_VALGRIND:-}" ] || skip "valgrind does not know pidfd_open, which ls -o needs"
}

@test "reuseport: all alike (0.0.0.0, lo, same uid): one group, and the kernel spreads connections over all three" {
	skip_no_pidfd
	rp_netns
	listeners 0.0.0.0 127.0.0.1 "" "" ""
	[ "${GOT[1]}" -gt 0 ] && [ "${GOT[2]}" -gt 0 ] && [ "${GOT[3]}" -gt 0 ]
	same_grouping "$(groups)" "$(kernel_groups)"
	[ "$(groups)" = "1 1 1" ]
}

@test "reuseport: bound device (SO_BINDTODEVICE lo, lo, ps0): the kernel sends none to ps0's, ls -o puts it apart" {
	skip_no_pidfd
	rp_netns
	listeners 0.0.0.0 127.0.0.1 dev=lo dev=lo dev=ps0
	[ "${GOT[3]}" -eq 0 ]
	same_grouping "$(groups)" "$(kernel_groups)"
}

@test "reuseport: IPV6_V6ONLY 1, 1, 0 on [::]: the kernel sends none to the third, ls -o puts it apart" {
	skip_no_pidfd
	rp_netns
	listeners :: ::1 v6only=1 v6only=1 v6only=0
	[ "${GOT[3]}" -eq 0 ]
	same_grouping "$(groups)" "$(kernel_groups)"
}

@test "reuseport: family (0.0.0.0, 0.0.0.0, dual-stack [::]): the kernel sends IPv4 clients to the IPv4 pair only" {
	skip_no_pidfd
	rp_netns
	listeners 0.0.0.0 127.0.0.1 "" "" addr=::,v6only=0
	[ "${GOT[3]}" -eq 0 ]
	same_grouping "$(groups)" "$(kernel_groups)"
}

@test "reuseport: address (127.0.0.1, 127.0.0.1, 127.0.0.2): the kernel sends 127.0.0.1's clients to the pair only" {
	skip_no_pidfd
	rp_netns
	listeners 127.0.0.1 127.0.0.1 "" "" addr=127.0.0.2
	[ "${GOT[3]}" -eq 0 ]
	same_grouping "$(groups)" "$(kernel_groups)"
}

@test "reuseport: bound to lo (two) and unbound (one) on 0.0.0.0: the kernel sends to one side only, ls -o agrees" {
	skip_no_pidfd
	rp_netns
	listeners 0.0.0.0 127.0.0.1 dev=lo dev=lo ""
	# Which side wins is the kernel's (the first of the best in its listening hash); that
	# one side gets all 60 is what shows two groups.
	[ $((GOT[1] + GOT[2])) -eq 0 ] || [ "${GOT[3]}" -eq 0 ]
	same_grouping "$(groups)" "$(kernel_groups)"
}

@test "reuseport: SO_REUSEPORT off: refused beside a listener on the same device; on another, in no group" {
	skip_no_pidfd
	rp_netns
	listeners 0.0.0.0 127.0.0.1 dev=lo dev=lo,reuseport=0 dev=ps0,reuseport=0
	[ "$(grep -c '^refused 2 EADDRINUSE$' "$TMP/rp")" -eq 1 ]
	[ "${GOT[1]}" -eq 60 ]
	run in_ns "$PORTSCOPE" ls -o --state listen "$PORT"
	echo "$output"
	[ "$(grep -c "reuseport=0" <<<"$output")" -eq 1 ]
	[[ $output != *reuseport_group* ]]
}

@test "reuseport: owner uid: the kernel refuses a second user's listener on the same address and device" {
	rp_netns
	# So listeners of two users share a port only on different devices, which the device
	# condition sets apart already; the uid condition alone is checked in test_reuseport.
	listeners 0.0.0.0 127.0.0.1 "" uid=65534
	[ "$(grep -c '^refused 2 EADDRINUSE$' "$TMP/rp")" -eq 1 ]
	listeners 0.0.0.0 127.0.0.1 dev=lo uid=65534,dev=ps0
	grep -q '^listener 2 ' "$TMP/rp"
	[ "${GOT[1]}" -eq 60 ]
	no_pidfd && return 0
	same_grouping "$(groups)" "$(kernel_groups)"
	[ "$(in_ns "$PORTSCOPE" ls -e --state listen "$PORT" | grep -c ' uid=65534 ')" -eq 1 ]
}

@test "ls shows the bound device as ss does: 0.0.0.0%lo:P, [::]%ps0:P; JSON ifindex and dev" {
	rp_netns
	listeners 0.0.0.0 127.0.0.1 dev=lo dev=ps0 "" addr=::,v6only=1,dev=lo addr=::,v6only=1,dev=ps0
	lsset=$(in_ns "$PORTSCOPE" ls -H --state listen "$PORT" | awk '/^tcp / {print $5}' | sort)
	ssset=$(in_ns ss -Hltn "sport = :$PORT" | awk '{print $4}' | sort)
	nonempty_same "$lsset" "$ssset"
	grep -qx "0.0.0.0%lo:$PORT" <<<"$lsset"
	grep -qx "\[::\]%ps0:$PORT" <<<"$lsset"
	run in_ns "$PORTSCOPE" ls -f json --state listen "$PORT"
	[ "$status" -eq 0 ]
	# The indexes are the kernel's, as ip shows them.
	lo=$(in_ns cat /sys/class/net/lo/ifindex)
	ps0=$(in_ns cat /sys/class/net/ps0/ifindex)
	got=$(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
print(" ".join(sorted("%s/%s/%s" % (s["local"], s["ifindex"], s["dev"]) for s in d["sockets"])))' "$output")
	echo "# $got"
	[ "$got" = "$(printf '%s\n' "0.0.0.0:$PORT/$lo/lo" "0.0.0.0:$PORT/$ps0/ps0" "0.0.0.0:$PORT/0/None" \
		"[::]:$PORT/$lo/lo" "[::]:$PORT/$ps0/ps0" | sort | tr '\n' ' ' | sed 's/ $//')" ]
}

@test "ls --proc: /proc has no bound device: %- in the table, null in JSON; -o reads it from the owner" {
	rp_netns
	listeners 0.0.0.0 127.0.0.1 dev=lo ""
	run in_ns "$PORTSCOPE" ls --proc -H --state listen "$PORT"
	echo "$output"
	[ "$(grep -c "^tcp .* 0\.0\.0\.0%-:$PORT " <<<"$output")" -eq 2 ]
	run in_ns "$PORTSCOPE" ls --proc -f json --state listen "$PORT"
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])
ends = d["sockets"] + d["summary"]["accept_queues"]
assert len(d["sockets"]) == 2 and all(e["ifindex"] is None and e["dev"] is None for e in ends), ends' "$output"
	no_pidfd && return 0
	run in_ns "$PORTSCOPE" ls --proc -o -H --state listen "$PORT"
	echo "$output"
	[ "$(grep -c "^tcp .* 0\.0\.0\.0%lo:$PORT " <<<"$output")" -eq 1 ]
	[ "$(grep -c "^tcp .* 0\.0\.0\.0:$PORT " <<<"$output")" -eq 1 ]
}
