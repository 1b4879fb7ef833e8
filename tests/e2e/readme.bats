#!/usr/bin/env bats
# The README and docs/ say what is true: every sample block marked
# `<!-- sample: NAME -->` is compared with a real run (tests/tools/samples.py masks
# ports, pids and times), the library example compiles with the README's own command
# line and runs, the man page's synopses list what each --help lists, and the JSON key
# lists name the keys the program prints.  Each run is in a network namespace of its own
# (port 8080 free, no TIME_WAIT from other runs), made and removed here.

load helpers

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
SAMPLES="python3 $ROOT/tests/tools/samples.py"
DOCS=("$ROOT/README.md" "$ROOT"/docs/*.md "$ROOT/bench/README.md")

needs_netns() {
	[ "$(id -u)" -eq 0 ] || skip "needs root for a network namespace"
	command -v ip >/dev/null || skip "needs ip"
	NETNS=psreadme-$$
	ip netns add "$NETNS"
	ip -n "$NETNS" link set lo up
}

# closefds: closes every descriptor but 0 to 2 (bats keeps others open), so that the
# program run next has the descriptor numbers it has when started from a shell.
closefds() {
	local fd
	for fd in $(ls "/proc/$BASHPID/fd"); do
		[ "$fd" -gt 2 ] && eval "exec $fd>&-"
	done
}

# in_ns CMD...: runs CMD in the namespace.
in_ns() {
	(
		closefds
		exec ip netns exec "$NETNS" "$@"
	)
}

# serve_ns ARGS...: portscope serve in the namespace (the subshell becomes it: its pid
# is SERVER_PID); sets PORT.
serve_ns() {
	(
		closefds
		exec ip netns exec "$NETNS" "$PORTSCOPE" serve "$@"
	) >"$TMP/out" 2>"$TMP/err" &
	SERVER_PID=$!
	server_listening
}

# check_sample NAME ACTUAL: every block of that name, in the README and docs/, is ACTUAL.
check_sample() {
	local f n=0
	for f in "${DOCS[@]}"; do
		if $SAMPLES names "$f" | grep -x "$1" >/dev/null; then
			$SAMPLES check "$f" "$1" "$2"
			n=$((n + 1))
		fi
	done
	[ "$n" -gt 0 ]
}

@test "every sample in the README and docs/ has a test here" {
	for f in "${DOCS[@]}"; do $SAMPLES names "$f"; done | sort -u >"$TMP/names"
	cat "$TMP/names"
	grep -o 'check_sample [a-z.-]*' "$BATS_TEST_FILENAME" | sed 's/check_sample //' | sort -u >"$TMP/tested"
	[ -z "$(comm -23 "$TMP/names" "$TMP/tested")" ]
}

@test "sample demo: make demo's output (portscope demo on a free 8080)" {
	needs_netns
	in_ns "$PORTSCOPE" demo >"$TMP/demo"
	check_sample demo "$TMP/demo"
}

@test "samples serve-line, serve-json, connect, connect-line: serve and two clients" {
	needs_netns
	serve_ns -f line
	in_ns "$PORTSCOPE" connect >"$TMP/connect"
	in_ns "$PORTSCOPE" connect -b -f line >"$TMP/connect-line"
	stop_server
	check_sample serve-line "$TMP/out"
	check_sample connect "$TMP/connect"
	check_sample connect-line "$TMP/connect-line"
	serve_ns -f json 9090
	in_ns "$PORTSCOPE" connect 9090 >/dev/null
	stop_server
	check_sample serve-json "$TMP/out"
}

@test "sample connect-n: the summary against serve, and the JSON keys docs/connect.md lists" {
	needs_netns
	serve_ns
	in_ns "$PORTSCOPE" connect -n 500 -c 50 --source 127.0.0.2-127.0.0.3 8080 >"$TMP/cn"
	check_sample connect-n "$TMP/cn"
	in_ns "$PORTSCOPE" connect -n 5 -f json 8080 | jq -r 'keys_unsorted[]' >"$TMP/keys"
	# The list in "the same as one object (`requested`, ...)."
	tr '\n' ' ' <"$ROOT/docs/connect.md" | grep -o 'same as one object ([^)]*)' |
		grep -o '`[a-z_]*`' | tr -d '`' >"$TMP/listed"
	diff "$TMP/listed" "$TMP/keys"
}

@test "sample ls: serve --keep and two held connections, with owners" {
	needs_netns
	serve_ns --keep
	(
		closefds
		exec ip netns exec "$NETNS" "$PORTSCOPE" connect -n 2 --hold 60
	) >/dev/null 2>&1 &
	BG_PIDS+=($!)
	for ((i = 0; i < 50; i++)); do
		[ "$(in_ns ss -Htn state established | wc -l)" -eq 4 ] && break
		sleep 0.1
	done
	in_ns "$PORTSCOPE" ls -p 8080 | sed "s/$COMM/portscope/g" >"$TMP/ls"
	check_sample ls "$TMP/ls"
}

@test "sample lab: the list of experiments" {
	"$PORTSCOPE" lab >"$TMP/lab"
	check_sample lab "$TMP/lab"
}

@test "samples lib-check.c and lib-run: the README's program compiles with its command line and runs" {
	needs_netns
	$SAMPLES show "$ROOT/README.md" lib-check.c >"$TMP/check.c"
	check_sample lib-check.c "$TMP/check.c"	# one program, wherever it is shown
	cmd=$($SAMPLES commands "$ROOT/README.md" lib-run)
	echo "$cmd"
	[[ $cmd == "cc -Iinclude check.c build/libportscope.a -o check && ./check 127.0.0.1:8080" ]]
	# The build under test: build/, or build/sanitize/ whose library needs the sanitizers.
	build=$(cd "$(dirname "$PSTEST")/.." && pwd)
	extra=()
	[[ $build == */sanitize ]] && extra=(-fsanitize=address,undefined)
	cc -Wall -Wextra -Werror "${extra[@]}" -I"$ROOT/include" "$TMP/check.c" "$build/libportscope.a" -o "$TMP/check"
	serve_ns
	in_ns "$TMP/check" 127.0.0.1:8080 >"$TMP/run"
	cat "$TMP/run"
	check_sample lib-run "$TMP/run"
	stop_server
	run in_ns "$TMP/check" 127.0.0.1:8080
	[ "$status" -eq 1 ]
	[ "$output" = "check 127.0.0.1:8080: Connection refused" ]
}

@test "the man page's synopses list exactly the options of each command's --help" {
	python3 "$ROOT/tests/tools/mansynopsis.py" "$PORTSCOPE" "$ROOT/man/portscope.1"
}

@test "[::]:PORT is IPv6 only: an IPv4 client is refused; *:PORT takes both (as the README says)" {
	# In a namespace of its own: no other program may hold the IPv4 port [::] leaves free.
	needs_netns
	serve_ns '[::]:0'
	run timeout 10 ip netns exec "$NETNS" "$PORTSCOPE" connect -f line "127.0.0.1:$PORT"
	echo "$output"
	[ "$status" -eq 3 ]
	run timeout 10 ip netns exec "$NETNS" "$PORTSCOPE" connect -f line "[::1]:$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	stop_server
	serve_ns '*:0'
	cat "$TMP/err"
	run timeout 10 ip netns exec "$NETNS" "$PORTSCOPE" connect -f line "127.0.0.1:$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *" verdict=match" ]]
	run timeout 10 ip netns exec "$NETNS" "$PORTSCOPE" connect -f line "[::1]:$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *" verdict=match" ]]
	grep -q 'IPv6 only' "$ROOT/README.md"
}
