#!/usr/bin/env bash
# Runs the unit tests (cmocka) and the end-to-end tests (bats) against one build,
# and ends with one line: "check: N passed, M failed, K skipped".
#   tests/check.sh BUILD_DIR [unit|e2e|all]
set -u
build=${1:?usage: tests/check.sh BUILD_DIR [unit|e2e|all]}
what=${2:-all}
passed=0 failed=0 skipped=0 status=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

if [ "$what" != e2e ]; then
	for t in "$build"/tests/test_*; do
		[ -x "$t" ] || continue
		echo "== ${t##*/}"
		timeout 120 "$t" >"$log" 2>&1
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
		if timeout 300 "$t" "tests/fuzz/corpus/$name"; then
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
	PORTSCOPE=$(realpath "$build/portscope") PSTEST=$(realpath "$build/tests/pstest") \
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

echo "check: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] || status=1
exit "$status"
