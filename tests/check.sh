#!/usr/bin/env bash
# Runs the unit tests (cmocka) and the end-to-end tests (bats) against one build,
# and ends with one line: "check: N passed, M failed, K skipped".
#   tests/check.sh BUILD_DIR [unit|e2e|all]
# With VALGRIND=1 every test program, and every run of portscope, is under
# valgrind's memcheck; any error it reports fails the run.  With CI set (1, true) a skipped
# test fails the run unless tests/expected-skips lists it (see there).  Each
# end-to-end test has a deadline (BATS_TEST_TIMEOUT, 120 s; 300 s under valgrind)
# that holds, and no process outlives its test file.
set -u
build=${1:?usage: tests/check.sh BUILD_DIR [unit|e2e|all]}
what=${2:-all}
passed=0 failed=0 skipped=0 status=0
log=$(mktemp)
trap 'rm -f "$log" "$log".*' EXIT
vg=()
program=$(realpath "$build/portscope")
if [ "${VALGRIND:-}" = 1 ]; then
	vglogs=$(realpath -m "$build/valgrind")
	rm -rf "$vglogs"
	mkdir -p "$vglogs"
	chmod 1777 "$vglogs"	# some tests run the program as nobody
	vg=(valgrind -q --error-exitcode=99 --leak-check=no --vgdb=no --log-file="$vglogs/%p.log")
	# The end-to-end tests run this in place of the program; its pid is the program's.
	printf '#!/bin/sh\nexec %s "%s" "$@"\n' "${vg[*]}" "$program" >"$vglogs/portscope"
	chmod +x "$vglogs/portscope"
	program=$vglogs/portscope
	export PORTSCOPE_VALGRIND=1
fi

if [ "$what" != e2e ]; then
	for t in "$build"/tests/test_*; do
		[ -x "$t" ] || continue
		echo "== ${t##*/}"
		timeout 600 ${vg[@]+"${vg[@]}"} "$t" >"$log" 2>&1
		rc=$?
		cat "$log"
		cat "$log" >>"$log.unit"
		p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
		f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
		k=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
		skipped=$((skipped + ${k:-0}))
		passed=$((passed + ${p:-0}))
		failed=$((failed + ${f:-0}))
		if [ "$rc" -ne 0 ]; then
			status=1
			[ -n "$f" ] || failed=$((failed + 1)) # crashed or timed out: count it
		fi
	done
fi

if [ "$what" != e2e ]; then
	for t in "$build"/tests/fuzz_*_replay; do
		[ -x "$t" ] || continue
		name=${t##*/fuzz_}
		name=${name%_replay}
		if timeout 600 ${vg[@]+"${vg[@]}"} "$t" "tests/fuzz/corpus/$name"; then
			passed=$((passed + 1))
		else
			echo "not ok: fuzz corpus replay of $name"
			failed=$((failed + 1))
			status=1
		fi
	done
fi

# The processes of this run's end-to-end tests carry PSCHECK_RUN=$run_id in their
# environment (inherited through setsid, namespaces and setpriv), so they can be
# found however they were started.  procs_marked prints "pid args" of each one,
# bats' own processes excepted (its main process, the suite, the file runner, the
# formatter and its cat, and the runner of the current test); kill_past AGE WHY
# kills with SIGKILL those first seen at least AGE seconds ago and says so.
#
# A process's age is counted from when kill_past first saw it (by pid and start
# time, so a reused pid starts again), not taken from ps: procps's etimes reads
# the uptime once, before its walk of /proc, so a process born during the walk
# comes out billions of seconds old (CI saw "4123168608s old" for a valgrind run
# a moment old, and killed it).  Seen every 5 s, an age is at most 5 s short.
run_id=$$.$RANDOM.$(date +%s)
declare -A first_seen=()
procs_marked() {
	local marked
	marked=$(grep -lzx "PSCHECK_RUN=$run_id" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | tr '\n' ' ')
	[ -n "$marked" ] || return 0
	ps -eo pid=,ppid=,args= | awk -v marked="$marked" '
		BEGIN { n = split(marked, m, " "); for (i = 1; i <= n; i++) mk[m[i]] = 1 }
		{ pp[$1] = $2; a = $0; sub(/^ *[0-9]+ +[0-9]+ +/, "", a); args[$1] = a }
		function bats(p) { return args[p] ~ /bats-core\/(bats |bats-exec-suite|bats-exec-file|bats-format-)/ }
		END {
			for (p in mk) {
				if (!(p in args) || bats(p) || bats(pp[p])) continue
				if (args[p] ~ /bats-core\/bats-exec-test/ && args[pp[p]] ~ /bats-core\/bats-exec-file/) continue
				print p, args[p]
			}
		}'
}
# start_time PID: field 22 of /proc/PID/stat (clock ticks after boot; proc(5)),
# read after the command name, which may hold spaces and parentheses.
start_time() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	set -- ${stat##*) }
	echo "${20}"
}
kill_past() {
	local pid args key age
	while read -r pid args; do
		[ "$pid" = "$bats_pid" ] && continue	# the timeout that runs bats
		key=$pid.$(start_time "$pid") || continue
		[ -n "${first_seen[$key]:-}" ] || first_seen[$key]=$SECONDS
		age=$((SECONDS - first_seen[$key]))
		[ "$age" -ge "$1" ] || continue
		kill -KILL "$pid" 2>/dev/null && echo "check: killed pid $pid ($2, seen for ${age}s): $args"
	done < <(procs_marked)
}

# our_netns: the network namespaces of the form tests give theirs (portscope-..., ps...),
# sorted.
our_netns() {
	ip netns list 2>/dev/null | cut -d' ' -f1 | grep -E '^(portscope-|ps)' | sort
}

if [ "$what" != unit ]; then
	echo "== end-to-end (bats)"
	# Deadlines (issue 16).  BATS_TEST_TIMEOUT alone does not hold: when a test
	# reaches it, bats sends SIGTERM to the test's direct children only, and its
	# test runner waits for the command in the foreground before it acts; a
	# program that handles SIGTERM (or `timeout`, which passes it on and waits)
	# keeps the test alive for ever, and a grandchild (a server started in the
	# background by a subshell) is never signalled and holds bats' output pipe
	# (and the one to tee that was here), so the run waits for it to exit.  So
	# each file runs on its own, its output to a file (no pipe anyone can hold),
	# under `timeout` (SIGKILL 10 s after SIGTERM); every 5 s, anything of this
	# run older than the test deadline plus 30 s is killed (then bats records the
	# test as timed out and goes on); once the file is done, whatever it left
	# behind is killed and counted as a failure.
	test_timeout=${BATS_TEST_TIMEOUT:-120} file_timeout=1800
	if [ "${VALGRIND:-}" = 1 ]; then test_timeout=${BATS_TEST_TIMEOUT:-300} file_timeout=3600; fi
	: >"$log"
	for file in tests/e2e/*.bats; do
		echo "# ${file##*/}"
		flog=$log.${file##*/}
		: >"$flog"
		ns_before=$(our_netns)
		PSCHECK_RUN=$run_id PORTSCOPE=$program PSTEST=$(realpath "$build/tests/pstest") \
			BATS_TEST_TIMEOUT=$test_timeout \
			timeout -k 10 "$file_timeout" bats --tap "$file" </dev/null >"$flog" 2>&1 &
		bats_pid=$!
		(
			while kill -0 "$bats_pid" 2>/dev/null; do
				sleep 5
				kill_past $((test_timeout + 30)) "past the test deadline of ${test_timeout}s"
			done | tee "$log.killed"
		) &
		reaper=$!
		tail -n +1 -f --pid="$bats_pid" "$flog"
		wait "$bats_pid"
		rc=$?
		kill "$reaper" 2>/dev/null
		wait "$reaper" 2>/dev/null
		cat "$flog" >>"$log"
		[ "$rc" -eq 0 ] || status=1
		if [ -s "$log.killed" ]; then
			echo "not ok: ${file##*/}: $(wc -l <"$log.killed") process(es) killed past the test deadline" | tee -a "$log"
		fi
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "not ok: ${file##*/}: bats did not finish within ${file_timeout}s" | tee -a "$log"
		fi
		sleep 0.2	# let what the last teardown stopped go
		left=$(kill_past 0 "left behind by ${file##*/}")
		if [ -n "$left" ]; then
			echo "$left"
			echo "not ok: ${file##*/} left $(wc -l <<<"$left") process(es) behind (killed)" | tee -a "$log"
		fi
		# A network namespace a test made and teardown did not remove (one made in a
		# subshell, a name of another form) is removed here and counted as a failure.
		left=$(comm -13 <(echo "$ns_before") <(our_netns))
		if [ -n "$left" ]; then
			for ns in $left; do ip netns delete "$ns" 2>/dev/null; done
			echo "not ok: ${file##*/} left network namespace(s) behind (removed): $(echo $left)" | tee -a "$log"
		fi
	done
	s=$(grep -c '^ok .* # skip' "$log")
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok' "$log")
	skipped=$((skipped + s))
	passed=$((passed + p - s))
	failed=$((failed + f))
fi

# No silent skips in CI (issue 16): with CI set (1 or true) a skipped test fails the run unless
# tests/expected-skips lists it for this mode, with the reason.  Each skip is
# printed with its verdict.
mode=plain
[ "${VALGRIND:-}" = 1 ] && mode=valgrind
# CI=1, CI=true (what CI services set), anything but empty, 0 or false.
case ${CI:-} in '' | 0 | false) ci=0 ;; *) ci=1 ;; esac
expected_skip() { # NAME: prints the reason tests/expected-skips gives for it in this mode
	local line m pat reason
	while IFS= read -r line; do
		case $line in '' | '#'*) continue ;; esac
		m=${line%%: *} pat=${line#*: }
		reason=${pat#* -- } pat=${pat%% -- *}
		[ "$m" = any ] || [ "$m" = "$mode" ] || continue
		# shellcheck disable=SC2053
		if [[ $1 == $pat ]]; then echo "$reason"; return 0; fi
	done <tests/expected-skips
	return 1
}
skip_names=$(
	sed -n 's/^ok [0-9]* \(.*\) # skip.*/\1/p' "$log"
	[ -f "$log.unit" ] && sed -n 's/^\[  SKIPPED \] \([a-z_][a-z0-9_]*\)$/\1/p' "$log.unit" | sort -u
)
while IFS= read -r name; do
	[ -n "$name" ] || continue
	if reason=$(expected_skip "$name"); then
		echo "skipped (expected: $reason): $name"
	elif [ "$ci" = 1 ]; then
		echo "skipped (unexpected, a failure under CI; list it in tests/expected-skips if it must be): $name"
		failed=$((failed + 1))
	else
		echo "skipped (unexpected; a failure under CI): $name"
	fi
done <<<"$skip_names"
# An entry no test needed any more is said (not failed): remove it, or the skip
# it excused could come back unnoticed.
if [ "$what" != unit ]; then
	while IFS= read -r line; do
		case $line in '' | '#'*) continue ;; esac
		m=${line%%: *} pat=${line#*: }
		pat=${pat%% -- *}
		[ "$m" = any ] || [ "$m" = "$mode" ] || continue
		seen=0
		while IFS= read -r name; do
			# shellcheck disable=SC2053
			if [ -n "$name" ] && [[ $name == $pat ]]; then seen=1; break; fi
		done <<<"$skip_names"
		[ "$seen" = 1 ] || echo "note: tests/expected-skips: no test skipped as '$pat' ($mode): remove the line if none does any more"
	done <tests/expected-skips
fi

if [ "${VALGRIND:-}" = 1 ]; then
	# Errors are the "==PID==" lines; "--PID--" lines are valgrind's own warnings
	# (such as a system call it does not know), listed but not failed.
	for f in "$vglogs"/*.log; do
		[ -s "$f" ] || continue
		if grep -q '^==[0-9]*==' "$f"; then
			echo "valgrind found errors (${f##*/}):"
			cat "$f"
			failed=$((failed + 1))
		fi
	done
	grep -ho 'unhandled [a-z0-9-]* syscall: [0-9]*' "$vglogs"/*.log 2>/dev/null | sort | uniq -c |
		sed 's/^ */valgrind warning: /'
	echo "valgrind: every run of the program and of the unit tests was checked"
fi

echo "check: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] || status=1
exit "$status"
