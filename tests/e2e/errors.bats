#!/usr/bin/env bats
# Bad input of every kind: one clear line naming what was wrong, and a meaningful exit status.

load helpers

# bad_endpoint ARG PHRASE: serve ARG must fail with exit 2, naming ARG and saying PHRASE.
bad_endpoint() {
	run timeout 5 "$PORTSCOPE" serve "$1"
	echo "$output"
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope serve: bad endpoint '$1': $2" ]
	[ "${lines[1]}" = "Try 'portscope serve --help' for more information." ]
}

@test "serve 70000: port out of range, exit 2" {
	bad_endpoint 70000 "port must be a number from 0 to 65535"
}

@test "serve -1: a negative port is a bad endpoint, not an unknown option" {
	bad_endpoint -1 "port must be a number from 0 to 65535"
}

@test "serve 80x: not a number, exit 2" {
	bad_endpoint 80x "port must be a number from 0 to 65535"
	bad_endpoint 127.0.0.1:80x "port must be a number from 0 to 65535"
	bad_endpoint 127.0.0.1: "port must be a number from 0 to 65535"
}

@test "serve '[::1': unbalanced bracket, exit 2" {
	bad_endpoint '[::1' "unbalanced brackets: write [IPv6]:PORT"
	bad_endpoint '[::1]80' "unbalanced brackets: write [IPv6]:PORT"
	bad_endpoint '[::g]:80' "not a valid IPv6 address"
}

@test "serve '': empty endpoint, exit 2" {
	bad_endpoint '' "empty endpoint"
}

@test "serve ::1:80: ambiguous, with a suggestion of brackets" {
	bad_endpoint ::1:80 "ambiguous: an IPv6 address, or an address and a port? Use brackets: [IPv6]:PORT (did you mean [::1]:80?)"
}

@test "serve :80 says how to ask for every interface" {
	bad_endpoint :80 "no host before ':' (write 0.0.0.0:PORT for every interface, or PORT for 127.0.0.1)"
}

@test "an endpoint over 255 characters is refused" {
	long=$(printf 'a%.0s' $(seq 256))
	run timeout 5 "$PORTSCOPE" serve "$long"
	[ "$status" -eq 2 ]
	[[ ${lines[0]} == *"endpoint longer than 255 characters" ]]
}

@test "connect takes the same endpoints and the same errors" {
	run timeout 5 "$PORTSCOPE" connect 65536
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope connect: bad endpoint '65536': port must be a number from 0 to 65535" ]
}

@test "unknown options, subcommands and bad option values: usage on stderr, exit 2" {
	run timeout 5 "$PORTSCOPE" serve --bogus
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope serve: unknown option '--bogus'" ]
	run timeout 5 "$PORTSCOPE" connect -x
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope connect: unknown option '-x'" ]
	run timeout 5 "$PORTSCOPE" frobnicate
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope: unknown command 'frobnicate'" ]
	run timeout 5 "$PORTSCOPE"
	[ "$status" -eq 2 ]
	[[ ${lines[0]} == "usage: portscope COMMAND"* ]]
	run timeout 5 "$PORTSCOPE" serve -f xml
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope serve: bad format 'xml': use seed, line or json" ]
	run timeout 5 "$PORTSCOPE" connect -w
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope connect: option '-w' needs a value" ]
	run timeout 5 "$PORTSCOPE" connect -w 0
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope connect: bad wait '0': give a number of seconds above 0" ]
	run timeout 5 "$PORTSCOPE" serve 1 2
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope serve: too many arguments: one ENDPOINT at most" ]
}

@test "usage errors go to stderr, not stdout" {
	run bash -c '"$0" serve --bogus 2>/dev/null' "$PORTSCOPE"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
}

@test "--help on every subcommand: usage on stdout, exit 0" {
	for cmd in serve connect demo; do
		run timeout 5 "$PORTSCOPE" "$cmd" --help
		[ "$status" -eq 0 ]
		[[ ${lines[0]} == "usage: portscope $cmd "* ]]
		run timeout 5 "$PORTSCOPE" help "$cmd"
		[ "$status" -eq 0 ]
		[[ ${lines[0]} == "usage: portscope $cmd "* ]]
	done
	run timeout 5 "$PORTSCOPE" --help
	[ "$status" -eq 0 ]
	[[ $output == *"serve"*"connect"*"demo"* ]]
	run timeout 5 "$PORTSCOPE" --version
	[ "$status" -eq 0 ]
	[[ $output == "portscope "[0-9]* ]]
}

@test "port already in use: the bind error and a hint, exit 1" {
	start_server 127.0.0.1:0
	run timeout 5 "$PORTSCOPE" serve "$PORT"
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "portscope serve: bind 127.0.0.1:$PORT: Address already in use" ]
	[[ ${lines[1]} == "portscope serve: hint: another socket holds this port"* ]]
}

@test "a port below 1024 without privilege: the EACCES message and a hint, exit 1" {
	start=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)
	[ "$start" -gt 80 ] || skip "ip_unprivileged_port_start is $start: port 80 needs no privilege here"
	if [ "$(id -u)" -eq 0 ]; then
		command -v setpriv >/dev/null || skip "setpriv is needed to drop root"
		run timeout 5 setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
			"$PORTSCOPE" serve 80
	else
		run timeout 5 "$PORTSCOPE" serve 80
	fi
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "portscope serve: bind 127.0.0.1:80: Permission denied" ]
	[[ ${lines[1]} == "portscope serve: hint: ports below net.ipv4.ip_unprivileged_port_start"* ]]
}

@test "an unresolvable host: the resolver's message, exit 1" {
	run timeout 30 "$PORTSCOPE" serve nonexistent.invalid:0
	[ "$status" -eq 1 ]
	[[ ${lines[0]} == "portscope serve: nonexistent.invalid: "* ]]
}
