#!/usr/bin/env bats
# How a connection failed, as the kernel reports it: every reject nftables offers (ICMP,
# ICMPv6, icmpx, a TCP reset), a real reset, a drop, a host down on the link, a router with
# no route, and the kernel's SYN retries ending before -w.  Two namespaces joined by a veth
# pair: the client (198.18.0.2/24, 2001:db8::2/64) and the server (198.18.0.1/24,
# 2001:db8::1/64), whose nftables input chain rejects each port its own way.

load helpers
bats_require_minimum_version 1.5.0

# netns_pair: sets NS_C and NS_S (removed at teardown), joined by a veth pair, addressed as
# above; the server does not rate-limit its ICMP errors (a test sends dozens in a row).
netns_pair() {
	[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
	command -v ip >/dev/null || skip "needs ip"
	command -v nft >/dev/null || skip "needs nft"
	NS_S=portscope-fs-$$
	NS_C=portscope-fc-$$
	ip netns add "$NS_S"
	NETNS=$NS_S
	ip netns add "$NS_C"
	NETNS_MORE=$NS_C
	ip link add "pf$$a" type veth peer name "pf$$b"
	ip link set "pf$$a" netns "$NS_S"
	ip link set "pf$$b" netns "$NS_C"
	ip -n "$NS_S" addr add 198.18.0.1/24 dev "pf$$a"
	ip -n "$NS_C" addr add 198.18.0.2/24 dev "pf$$b"
	ip -n "$NS_S" addr add 2001:db8::1/64 dev "pf$$a" nodad
	ip -n "$NS_C" addr add 2001:db8::2/64 dev "pf$$b" nodad
	for ns in "$NS_S" "$NS_C"; do ip -n "$ns" link set lo up; done
	ip -n "$NS_S" link set "pf$$a" up
	ip -n "$NS_C" link set "pf$$b" up
	ip netns exec "$NS_S" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
}

# code_of FAMILY NAME: the code nftables gives NAME (nft describe icmp_code / icmpv6_code).
code_of() {
	nft describe "$1_code" | awk -v n="$2" '$1 == n { print $2 }'
}

# fails ADDR: runs connect -f json -w 5 ADDR in the client's namespace; sets status, ERR
# (its stderr) and JSON (its stdout).
fails() {
	run --separate-stderr timeout 20 ip netns exec "$NS_C" "$PORTSCOPE" connect -f json -w 5 "$1"
	ERR=$stderr
	JSON=$output
	echo "$1: exit $status; $ERR; $JSON"
}

# json_has KEY:VALUE...: each "KEY":VALUE is in JSON.
json_has() {
	local kv
	for kv in "$@"; do
		[[ $JSON == *"$kv"* ]] || { echo "missing $kv" >&2; return 1; }
	done
}

# icmp_case ADDR FAMILY(icmp|icmpv6) TYPE CODE ERRNO CODE_NAME: an ICMP error from the server,
# exit 4, named with its type, code and sender in the message and in JSON.
icmp_case() {
	local addr=$1 proto=$2 type=$3 code=$4 errno=$5 name=$6 from=198.18.0.1 label=ICMP
	[ "$proto" = icmpv6 ] && from=2001:db8::1 label=ICMPv6
	fails "$addr"
	[ "$status" -eq 4 ]
	[ "$ERR" = "portscope connect: connect $addr: $label destination unreachable, $name (type $type, code $code) from $from (a firewall rejected it, or a router could not deliver it)" ]
	json_has '"verdict":"failed"' '"kind":"icmp"' "\"errno\":\"$errno\"" "\"protocol\":\"$proto\"" \
		"\"type\":$type,\"code\":$code" "\"code_name\":\"$name\"" "\"offender\":\"$from\"" \
		'"offender_is_local":false' '"exit":4'
}

# reset_case ADDR: a TCP reset came back: exit 3, no ICMP.
reset_case() {
	fails "$1"
	[ "$status" -eq 3 ]
	[ "$ERR" = "portscope connect: connect $1: Connection refused (a reset came back: nothing listens there, or a firewall answered with a reset)" ]
	json_has '"kind":"reset"' '"errno":"ECONNREFUSED"' '"icmp":null' '"exit":3'
}

@test "every IPv4 reject nftables offers: the ICMP type, code and sender named, exit 4; a TCP reset and a closed port exit 3" {
	netns_pair
	# Port, rule, then what the kernel makes of it (icmp_err_convert) and RFC 792/1812's name.
	cases=(
		"1001|reject|3|ECONNREFUSED|port unreachable"
		"1002|reject with icmp type port-unreachable|3|ECONNREFUSED|port unreachable"
		"1003|reject with icmp type host-unreachable|1|EHOSTUNREACH|host unreachable"
		"1004|reject with icmp type net-unreachable|0|ENETUNREACH|net unreachable"
		"1005|reject with icmp type prot-unreachable|2|ENOPROTOOPT|protocol unreachable"
		"1006|reject with icmp type admin-prohibited|13|EHOSTUNREACH|communication administratively prohibited"
		"1007|reject with icmp type net-prohibited|9|ENETUNREACH|communication with destination network administratively prohibited"
		"1008|reject with icmp type host-prohibited|10|EHOSTUNREACH|communication with destination host administratively prohibited"
		"1009|reject with icmpx type port-unreachable|3|ECONNREFUSED|port unreachable"
		"1010|reject with icmpx type admin-prohibited|13|EHOSTUNREACH|communication administratively prohibited"
		"1011|reject with icmpx type no-route|0|ENETUNREACH|net unreachable"
		"1012|reject with icmpx type host-unreachable|1|EHOSTUNREACH|host unreachable"
	)
	rules=
	for c in "${cases[@]}"; do
		IFS='|' read -r port rule code errno name <<<"$c"
		rules+="ip daddr 198.18.0.1 tcp dport $port $rule"$'\n'
	done
	ip netns exec "$NS_S" nft -f - <<-EOF
	table inet fw {
		chain in {
			type filter hook input priority 0;
			$rules
			ip daddr 198.18.0.1 tcp dport 1013 reject with tcp reset
		}
	}
	EOF
	for c in "${cases[@]}"; do
		IFS='|' read -r port rule code errno name <<<"$c"
		# nftables's own numbering of the icmp codes it names.
		case $rule in *"icmp type "*) [ "$(code_of icmp "${rule##* }")" = "$code" ] ;; esac
		icmp_case "198.18.0.1:$port" icmp 3 "$code" "$errno" "$name"
	done
	reset_case 198.18.0.1:1013
	reset_case 198.18.0.1:1014
}

@test "every IPv6 reject nftables offers: the ICMPv6 type, code and sender named, exit 4; a TCP reset and a closed port exit 3" {
	netns_pair
	# Port, rule, then what the kernel makes of it (icmpv6_err_convert) and RFC 4443's name.
	cases=(
		"1001|reject|4|ECONNREFUSED|port unreachable"
		"1002|reject with icmpv6 type no-route|0|ENETUNREACH|no route to destination"
		"1003|reject with icmpv6 type admin-prohibited|1|EACCES|communication with destination administratively prohibited"
		"1004|reject with icmpv6 type addr-unreachable|3|EHOSTUNREACH|address unreachable"
		"1005|reject with icmpv6 type port-unreachable|4|ECONNREFUSED|port unreachable"
		"1006|reject with icmpv6 type policy-fail|5|EACCES|source address failed ingress/egress policy"
		"1007|reject with icmpv6 type reject-route|6|EACCES|reject route to destination"
		"1008|reject with icmpx type port-unreachable|4|ECONNREFUSED|port unreachable"
		"1009|reject with icmpx type admin-prohibited|1|EACCES|communication with destination administratively prohibited"
		"1010|reject with icmpx type no-route|0|ENETUNREACH|no route to destination"
		"1011|reject with icmpx type host-unreachable|3|EHOSTUNREACH|address unreachable"
	)
	rules=
	for c in "${cases[@]}"; do
		IFS='|' read -r port rule code errno name <<<"$c"
		rules+="ip6 daddr 2001:db8::1 tcp dport $port $rule"$'\n'
	done
	ip netns exec "$NS_S" nft -f - <<-EOF
	table inet fw {
		chain in {
			type filter hook input priority 0;
			$rules
			ip6 daddr 2001:db8::1 tcp dport 1012 reject with tcp reset
		}
	}
	EOF
	for c in "${cases[@]}"; do
		IFS='|' read -r port rule code errno name <<<"$c"
		case $rule in *"icmpv6 type "*) [ "$(code_of icmpv6 "${rule##* }")" = "$code" ] ;; esac
		icmp_case "[2001:db8::1]:$port" icmpv6 1 "$code" "$errno" "$name"
	done
	reset_case "[2001:db8::1]:1012"
	reset_case "[2001:db8::1]:1013"
}

@test "a router with no route: ICMP net unreachable named as the router's, not the destination's, exit 4" {
	netns_pair
	ip netns exec "$NS_S" sysctl -qw net.ipv4.ip_forward=1
	ip -n "$NS_C" route add 198.18.2.0/24 via 198.18.0.1
	fails 198.18.2.9:80
	[ "$status" -eq 4 ]
	[ "$ERR" = "portscope connect: connect 198.18.2.9:80: ICMP destination unreachable, net unreachable (type 3, code 0) from 198.18.0.1 (a firewall rejected it, or a router could not deliver it)" ]
	json_has '"kind":"icmp"' '"errno":"ENETUNREACH"' '"type":3,"code":0' '"offender":"198.18.0.1"'
}

# drop_syns: the server namespace drops what comes to port 80, counting it (nftables).
drop_syns() {
	ip netns exec "$NS_S" nft -f - <<-EOF
	table inet fw {
		chain in {
			type filter hook input priority 0;
			tcp dport 80 counter drop
		}
	}
	EOF
}

# host_down ADDR FAMILY_WORD OWN: an address of the link with no host: after about 3 s
# (ARP or neighbour discovery giving up), this host's own ICMP says so; exit 5.
host_down() {
	local t0 ms
	t0=$(date +%s%N)
	fails "$1"
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ "$status" -eq 5 ]
	[[ $ERR =~ ^"portscope connect: connect $1: no answer to $2 after "([0-9.]+)" s: the host is down or absent ("(ICMP|ICMPv6)" destination unreachable, "(host|address)" unreachable (type "[13]", code "[13]") from $3, this host itself)"$ ]]
	said=${BASH_REMATCH[1]}
	# The time it says is the time that passed (valgrind's start-up is slower).
	[ "$ms" -ge 2000 ] && [ "$ms" -lt 15000 ]
	awk -v s="$said" -v ms="$ms" 'BEGIN { exit !(s * 1000 <= ms + 100 && s * 1000 >= ms - 1500) }'
	json_has '"kind":"host-down"' '"errno":"EHOSTUNREACH"' "\"offender\":\"$3\"" '"offender_is_local":true' '"exit":5'
}

@test "a host down on the link: no answer to ARP or neighbour discovery, this host's own ICMP, exit 5 after about 3 s" {
	netns_pair
	# The sender is the client's own address, as ip shows it.
	own4=$(ip -n "$NS_C" -4 -o addr show dev "pf$$b" | awk '{ sub("/.*", "", $4); print $4 }')
	own6=$(ip -n "$NS_C" -6 -o addr show dev "pf$$b" scope global | awk '{ sub("/.*", "", $4); print $4 }')
	host_down 198.18.0.77:80 ARP "$own4"
	json_has '"type":3,"code":1' '"neighbour":"198.18.0.77"'
	host_down "[2001:db8::77]:80" "neighbour discovery" "$own6"
	json_has '"type":1,"code":3' '"neighbour":"2001:db8::77"'
}

@test "a gateway down on the link: no answer to ARP from the gateway, named, exit 5" {
	netns_pair
	ip -n "$NS_C" route add 198.18.4.0/24 via 198.18.0.99
	fails 198.18.4.4:80
	[ "$status" -eq 5 ]
	[[ $ERR =~ ^"portscope connect: connect 198.18.4.4:80: no answer to ARP after "[0-9.]+" s: the gateway 198.18.0.99 is down or absent (ICMP destination unreachable, host unreachable (type 3, code 1) from 198.18.0.2, this host itself)"$ ]]
	json_has '"kind":"host-down"' '"neighbour":"198.18.0.99"' '"exit":5'
}

@test "a drop: timed out at -w with the SYNs sent named, exit 5" {
	netns_pair
	drop_syns
	t0=$(date +%s%N)
	run --separate-stderr timeout 20 ip netns exec "$NS_C" "$PORTSCOPE" connect -f json -w 1.5 198.18.0.1:80
	ms=$((($(date +%s%N) - t0) / 1000000))
	ERR=$stderr
	JSON=$output
	echo "$ERR; $JSON; $ms ms"
	[ "$status" -eq 5 ]
	# The SYNs the server's counter saw.
	syns=$(nft_counter "$NS_S")
	s=s
	[ "$syns" -eq 1 ] && s=
	[ "$ERR" = "portscope connect: connect 198.18.0.1:80: timed out after 1.5 s, -w (no answer to $syns SYN$s: dropped by a firewall, or no such host)" ]
	json_has '"kind":"timeout"' '"errno":"ETIMEDOUT"' "\"syns\":$syns," '"icmp":null' '"exit":5'
	[ "$ms" -ge 1400 ]
}

@test "-w longer than the kernel's SYN retries: the time that really passed, and that the kernel gave up, exit 5" {
	netns_pair
	ip netns exec "$NS_C" sysctl -qw net.ipv4.tcp_syn_retries=1
	drop_syns
	t0=$(date +%s%N)
	run --separate-stderr timeout 20 ip netns exec "$NS_C" "$PORTSCOPE" connect -f json -w 8 198.18.0.1:80
	ms=$((($(date +%s%N) - t0) / 1000000))
	ERR=$stderr
	JSON=$output
	echo "$ERR; $JSON; $ms ms"
	[ "$status" -eq 5 ]
	syns=$(nft_counter "$NS_S")
	[[ $ERR =~ ^"portscope connect: connect 198.18.0.1:80: timed out after "([0-9.]+)" s: the kernel stopped retrying the SYN (net.ipv4.tcp_syn_retries) before -w 8 s (no answer to $syns SYNs: dropped by a firewall, or no such host)"$ ]]
	said=${BASH_REMATCH[1]}
	# Well before -w, and what it says is what passed.
	[ "$ms" -lt 7000 ]
	awk -v s="$said" -v ms="$ms" 'BEGIN { exit !(s * 1000 <= ms + 100 && s * 1000 >= ms - 1500) }'
	json_has '"kind":"syn-retries"' '"errno":"ETIMEDOUT"' "\"syns\":$syns," '"exit":5'
}

@test "connect -n counts failures by how they failed: icmp, reset, timeout, host-down, in the summary and JSON" {
	netns_pair
	ip netns exec "$NS_S" nft -f - <<-EOF
	table inet fw {
		chain in {
			type filter hook input priority 0;
			tcp dport 81 reject
			tcp dport 82 reject with tcp reset
			tcp dport 83 drop
		}
	}
	EOF
	run timeout 20 ip netns exec "$NS_C" "$PORTSCOPE" connect -n 5 198.18.0.1:81
	echo "$output"
	[ "$status" -eq 1 ]
	[ "${lines[2]}" = "  failed      5: icmp 5 (ECONNREFUSED 5)" ]
	run timeout 20 ip netns exec "$NS_C" "$PORTSCOPE" connect -n 5 -f json 198.18.0.1:82
	echo "$output"
	[[ $output == *'"failed":5,"failures":{"ECONNREFUSED":5},"failure_kinds":{"reset":5},'* ]]
	run timeout 20 ip netns exec "$NS_C" "$PORTSCOPE" connect -n 3 -w 0.5 -f json "[2001:db8::1]:83"
	echo "$output"
	[[ $output == *'"failed":3,"failures":{"ETIMEDOUT":3},"failure_kinds":{"timeout":3},'* ]]
	run timeout 20 ip netns exec "$NS_C" "$PORTSCOPE" connect -n 2 -f json 198.18.0.77:80
	echo "$output"
	[[ $output == *'"failed":2,"failures":{"EHOSTUNREACH":2},"failure_kinds":{"host-down":2},'* ]]
}

@test "this host's own firewall answering with host or address unreachable is not a host down: exit 4 at once" {
	netns_pair
	ip netns exec "$NS_C" nft -f - <<-EOF
	table inet fw {
		chain out {
			type filter hook output priority 0;
			ip daddr 198.18.0.1 tcp dport 84 reject with icmp type host-unreachable
			ip6 daddr 2001:db8::1 tcp dport 84 reject with icmpv6 type addr-unreachable
		}
	}
	EOF
	fails 198.18.0.1:84
	[ "$status" -eq 4 ]
	[ "$ERR" = "portscope connect: connect 198.18.0.1:84: ICMP destination unreachable, host unreachable (type 3, code 1) from 198.18.0.2, this host itself (its own firewall rejected it)" ]
	json_has '"kind":"local-icmp"' '"offender":"198.18.0.2"' '"offender_is_local":true' '"exit":4'
	fails "[2001:db8::1]:84"
	[ "$status" -eq 4 ]
	[ "$ERR" = "portscope connect: connect [2001:db8::1]:84: ICMPv6 destination unreachable, address unreachable (type 1, code 3) from 2001:db8::2, this host itself (its own firewall rejected it)" ]
	json_has '"kind":"local-icmp"' '"offender":"2001:db8::2"' '"exit":4'
}
