#!/usr/bin/env bash
# make mutants: proves that the tests guard what they claim.  Each
# tests/mutants/*.patch breaks one behaviour of src/ (a unified diff, after
# comment lines that say what it breaks and which tests must catch it):
#
#   # breaks: the server closes the connection after its portscope/1 line
#   # test: e2e serve.bats the portscope/1 line tells the client
#   # test: unit test_loop
#   --- a/src/cli/serve.c
#   +++ b/src/cli/serve.c
#   ...
#
# "test: e2e FILE FILTER" runs `bats -f FILTER tests/e2e/FILE` (FILTER a regular
# expression on test names); "test: unit NAME" runs build/tests/NAME.  For each
# mutant, in a scratch copy of the tree: apply it, build, run its tests.  A
# mutant is killed when one of its tests fails.  Fails if any mutant survives,
# no longer applies (update it with the code it guards), or does not build.
#   tests/mutants/run.sh [PATCH...]
set -u
mutants=()
for m in "$@"; do mutants+=("$(realpath "$m")"); done
cd "$(dirname "$0")/../.."
root=$PWD
scratch=$(mktemp -d /tmp/portscope-mutants.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
git ls-files -z | tar --null -T - -c | tar -x -C "$scratch"
cd "$scratch"
build=build/mutants
make -s -j2 BUILD=$build all tools >/dev/null 2>&1 || { echo "mutants: the unmutated tree does not build"; exit 1; }
[ ${#mutants[@]} -gt 0 ] || mutants=("$root"/tests/mutants/*.patch)
killed=0 bad=0 unkilled=() t0=$(date +%s) run_id=$$.$RANDOM.$(date +%s)
for m in "${mutants[@]}"; do
	name=${m##*/}
	name=${name%.patch}
	start=$(date +%s)
	if ! patch -p1 -s -f --dry-run <"$m" >/dev/null 2>&1; then
		echo "mutant $name: no longer applies"
		bad=$((bad + 1)) unkilled+=("$name")
		continue
	fi
	patch -p1 -s -f <"$m" >/dev/null
	verdict=survived
	if ! make -s -j2 BUILD=$build all tools >/dev/null 2>&1; then
		verdict="does not build"
	else
		while read -r kind file filter; do
			case $kind in
			e2e)
				PSMUTANT_RUN=$run_id PORTSCOPE=$PWD/$build/portscope PSTEST=$PWD/$build/tests/pstest \
					BATS_TEST_TIMEOUT=120 timeout -k 10 300 bats -f "$filter" "tests/e2e/$file" \
					</dev/null >"$scratch/log" 2>&1
				rc=$?
				# A skipped test ran nothing: it cannot kill a mutant.
				ran=$(grep '^\(not \)\?ok ' "$scratch/log" | grep -vc ' # skip')
				;;
			unit)
				make -s BUILD=$build "$build/tests/$file" >/dev/null 2>&1
				PSMUTANT_RUN=$run_id timeout -k 10 300 "$build/tests/$file" </dev/null >"$scratch/log" 2>&1
				rc=$? ran=1
				;;
			*)
				echo "mutant $name: unknown test kind '$kind'"
				rc=0 ran=0
				;;
			esac
			# A mutant may leave processes behind (a server that no longer exits):
			# whatever carries this run's mark in its environment is killed.
			grep -lzx "PSMUTANT_RUN=$run_id" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 |
				xargs -r kill -KILL 2>/dev/null
			if [ "$ran" -eq 0 ]; then
				echo "mutant $name: no test matches '$kind $file $filter', or each one was skipped"
				verdict="names no test"
				break
			fi
			if [ "$rc" -ne 0 ]; then
				verdict="killed by $kind $file $filter"
				break
			fi
		done < <(sed -n 's/^# test: //p' "$m")
	fi
	patch -p1 -s -f -R <"$m" >/dev/null
	echo "mutant $name: $verdict ($(( $(date +%s) - start )) s)"
	case $verdict in
	killed*) killed=$((killed + 1)) ;;
	*) bad=$((bad + 1)) unkilled+=("$name") ;;
	esac
done
# The last line names every mutant not killed: CI keeps only the end of the log.
echo "mutants: $killed killed, $bad survived or broken, of ${#mutants[@]} ($(( $(date +%s) - t0 )) s)${unkilled[*]:+: ${unkilled[*]}}"
[ "$bad" -eq 0 ]
