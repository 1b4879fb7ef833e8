#!/usr/bin/env bash
# Runs the unit tests (cmocka) and the end-to-end tests (bats) against one build,
# and ends with one line: "check: N passed, M failed, K skipped".
#   tests/check.sh BUILD_DIR [unit|e2e|all]
# With VALGRIND=1 every test program, and every run of portscope, is under
# valgrind's memcheck; any error it reports fails the run.
set -u
build=${1:?usage: tests/check.sh BUILD_DIR [unit|e2e|all]}
what=${2:-all}
passed=0 failed=0 skipped=0 status=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
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

if [ "$what" != unit ]; then
	echo "== end-to-end (bats)"
	PORTSCOPE=$program PSTEST=$(realpath "$build/tests/pstest") \
		bats --tap tests/e2e | tee "$log"
	[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
	s=$(grep -c '^ok .* # skip' "$log")
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	skipped=$((skipped + s))
	passed=$((passed + p - s))
	failed=$((failed + f))
	grep '^ok .* # skip' "$log" | sed 's/^/skipped: /'
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
