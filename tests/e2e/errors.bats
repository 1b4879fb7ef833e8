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
	bad_endpoint 70000 "port 70000 is larger than 65535"
}

@test "serve -1: a negative port is a bad endpoint, not an unknown option" {
	bad_endpoint -1 "port '-1' has a sign; a port is a decimal number from 0 to 65535"
}

@test "serve 80x: not a number, exit 2" {
	bad_endpoint 80x "port '80x' is not a decimal number from 0 to 65535"
	bad_endpoint 127.0.0.1:80x "port '80x' is not a decimal number from 0 to 65535"
	bad_endpoint 127.0.0.1: "no port after ':'; a port is a decimal number from 0 to 65535"
}

@test "serve '[::1': unbalanced bracket, exit 2" {
	bad_endpoint '[::1' "unbalanced brackets: write [IPv6]:PORT"
	bad_endpoint '[::1]80' "unbalanced brackets: write [IPv6]:PORT"
	bad_endpoint '[::g]:80' "'::g' is not an IPv6 address"
}

@test "serve '': empty endpoint, exit 2" {
	bad_endpoint '' "empty endpoint"
}

@test "serve ::1:80: ambiguous, with a suggestion of brackets" {
	bad_endpoint ::1:80 "ambiguous: an IPv6 address, or an address and a port? Use brackets: [IPv6]:PORT (did you mean [::1]:80?)"
}

@test "serve :80 says how to ask for any address" {
	bad_endpoint :80 "no host before ':' (write PORT alone, or HOST:PORT; '*:PORT' is any address)"
}

@test "a host name over 253 characters is refused, naming the limit; a long text is cut in the message" {
	long=$(printf 'a%.0s' $(seq 256))
	run timeout 5 "$PORTSCOPE" serve "$long"
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope serve: bad endpoint '${long:0:60}...': the host name has 256 characters; a host name has at most 253 (RFC 1035 section 2.3.4)" ]
}

@test "connect takes the same endpoints and the same errors" {
	run timeout 5 "$PORTSCOPE" connect 65536
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope connect: bad endpoint '65536': port 65536 is larger than 65535" ]
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

# refused MESSAGE CMD ARGS...: `portscope CMD ARGS` must fail with exit 2 and the one-line
# MESSAGE (after "portscope CMD: "), then the pointer to --help; it must not run.
refused() {
	local msg=$1
	shift
	run timeout 5 "$PORTSCOPE" "$@"
	echo "\$ portscope $*: $status"
	echo "$output"
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope $1: $msg" ]
	[ "${lines[1]}" = "Try 'portscope $1 --help' for more information." ]
	[ "${#lines[@]}" -eq 2 ]
}

@test "connect: the options of many connections need -n, and -b does not go with it, each named as written" {
	# 127.0.0.1:9: were the line run, it would fail otherwise (refused), not with exit 2.
	refused "'-c' needs -n (it is about many connections)" connect -c 5 127.0.0.1:9
	refused "'--procs' needs -n (it is about many connections)" connect --procs 2 127.0.0.1:9
	refused "'--procs' needs -n (it is about many connections)" connect --procs 1 127.0.0.1:9
	refused "'--hold' needs -n (it is about many connections)" connect --hold 0 127.0.0.1:9
	refused "'--hold' needs -n (it is about many connections)" connect --hold forever 127.0.0.1:9
	refused "'--rate' needs -n (it is about many connections)" connect --rate 10 127.0.0.1:9
	refused "'--source' needs -n (it is about many connections)" connect --source 127.0.0.2 127.0.0.1:9
	refused "'-n' and '-b' do not go together: -n shows no socket before connect()" connect -n 5 -b 127.0.0.1:9
	refused "'-n' and '--before' do not go together: -n shows no socket before connect()" connect -n 5 --before 127.0.0.1:9
}

@test "-4 and -6 together are refused by the commands that take one family" {
	refused "'-4' and '-6' do not go together: give one, or neither for both families" connect -4 -6 127.0.0.1:9
	refused "'-4' and '-6' do not go together: give one, or neither for both families" connect -n 2 -4 -6 127.0.0.1:9
	refused "'-4' and '-6' do not go together: give one, or neither for both families" serve -6 -4 127.0.0.1:0
	# A range is one family: the other one is a contradiction too.
	refused "'-6' but the destination '127.0.0.1-127.0.0.2:9' is IPv4" connect -n 2 -6 127.0.0.1-127.0.0.2:9
}

@test "serve: options that mean nothing without another are refused, each named as written" {
	refused "'--interval' needs -q (it times -q's counts)" serve --interval 1 127.0.0.1:0
	refused "'-q' and '-f' do not go together: -q prints no report, in any format" serve -q -f json 127.0.0.1:0
	refused "'--quiet' and '--format' do not go together: -q prints no report, in any format" serve --quiet --format=line 127.0.0.1:0
	refused "'--idle-timeout' needs --keep (it limits held connections)" serve --idle-timeout 5 127.0.0.1:0
	refused "'--max-line' needs --keep (it limits held connections)" serve --max-line=80 127.0.0.1:0
	refused "'--max-conns' needs --keep (without it, no connection stays open)" serve --max-conns 3 127.0.0.1:0
}

@test "ls, bench and lab: options that mean nothing in the mode given are refused" {
	refused "'-H' is about the table: JSON has no header" ls -H -f json 80
	refused "'-s' and '--no-header' do not go together: a summary has no header" ls -s --no-header 80
	refused "'--summary' and '-e' do not go together: a summary shows no socket to extend" ls --summary -e 80
	refused "'-l' needs a PORT" ls -l
	refused "'--local-only' needs a PORT" ls --local-only
	refused "'--note' needs --accept-only (only it runs the note's server)" bench --note /tmp
	refused "'--accept-only' and '--hold' do not go together: --accept-only holds nothing, runs one server and draws no chart" bench --accept-only --hold 1
	refused "'--accept-only' and '--workers' do not go together: --accept-only holds nothing, runs one server and draws no chart" bench --accept-only --workers 2
	refused "'--accept-only' and '--chart' do not go together: --accept-only holds nothing, runs one server and draws no chart" bench --accept-only --chart "$TMP/c.svg"
	[ ! -e "$TMP/c.svg" ]
	refused "'-v' shows an experiment's steps in text: name one (or all)" lab -v
	refused "'--verbose' shows an experiment's steps in text: not with JSON output" lab --verbose -f json no-peer-yet
}

@test "--help with anything else is refused, on every command" {
	for cmd in serve connect ls demo bench lab; do
		refused "'--help' goes alone: it takes no other option or argument" "$cmd" --help extra
		refused "'-h' goes alone: it takes no other option or argument" "$cmd" extra -h
	done
	refused "'--help' goes alone: it takes no other option or argument" serve -k --help
	refused "'-h' goes alone: it takes no other option or argument" serve -kh
	run timeout 5 "$PORTSCOPE" --help extra
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope: '--help' goes alone: it takes no other option or argument" ]
	run timeout 5 "$PORTSCOPE" --version extra
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope: '--version' goes alone: it takes no other option or argument" ]
	run timeout 5 "$PORTSCOPE" help serve extra
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope: 'help' takes one COMMAND at most" ]
}

@test "every command names an option as the user wrote it: the long name for a long option" {
	refused "option '--keep' takes no value" serve --keep=1
	refused "option '--keep' takes no value" serve --kee=1
	refused "option '--before' takes no value" connect --before=yes
	refused "option '--local-only' takes no value" ls --local-only=80
	refused "option '--accept-only' takes no value" bench --accept-only=1
	refused "option '--verbose' takes no value" lab --verbose=1
	refused "option '--help' takes no value" demo --help=1
	refused "option '--format' needs a value" serve --format
	refused "option '--format' needs a value" ls --form
	refused "option '-f' needs a value" serve -qf
	refused "option '--reply-wait' needs a value" connect --reply-wait
	refused "option '--r' is ambiguous: --reply-wait, --rate" connect --r 1
	refused "unknown option '-z'" connect -bz
	refused "unknown option '--bogus'" bench --bogus=1
}

@test "one letter, one meaning: serve -w, proxycheck -c and -l, watch -n, top -s, exporter -l are refused, pointing to the long option; -w is a wait wherever it is taken" {
	run "$PORTSCOPE" serve -w 2 127.0.0.1:0
	[ "$status" -eq 2 ]
	[[ ${lines[0]} == "portscope serve: '-w' is not serve's: give the number of workers as --workers N"* ]]
	run "$PORTSCOPE" proxycheck -c v1 127.0.0.1:1
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope proxycheck: '-c' is not proxycheck's: write --case NAME" ]
	run "$PORTSCOPE" proxycheck -l
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "portscope proxycheck: '-l' is not proxycheck's: write --list" ]
	run "$PORTSCOPE" watch -n 8080
	[ "$status" -eq 2 ]
	[[ ${lines[0]} == "portscope watch: '-n' is not watch's: write --no-initial"* ]]
	run "$PORTSCOPE" top -s p
	[ "$status" -eq 2 ]
	[[ ${lines[0]} == "portscope top: '-s' is not top's: write --sort KEY"* ]]
	run "$PORTSCOPE" exporter -l 127.0.0.1:0
	[ "$status" -eq 2 ]
	[[ ${lines[0]} == "portscope exporter: '-l' is not exporter's: write --listen ADDR:PORT"* ]]
	# Each short letter means one thing in every command's --help that lists it.
	for cmd in serve connect ls watch top exporter demo bench lab proxycheck; do
		"$PORTSCOPE" "$cmd" --help | sed -n 's/^  \(-[a-zA-Z0-9]\), \(--[a-z-]*\).*/\1 \2/p'
	done | sort -u >"$TMP/letters"
	cat "$TMP/letters"
	[ -z "$(cut -d' ' -f1 "$TMP/letters" | uniq -d)" ]
}
