#!/usr/bin/env bats
# portscope bench: the kernel's floor beside each rate, the live line on a terminal (run
# under tmux), and how a signal stops a run.  Small loads only: the figures themselves are
# bench/README.md's business, not a test's.

load helpers

# The helpers' teardown, kept under another name: this file's also ends its tmux server.
eval "helpers_$(declare -f teardown)"

TMUX_SOCK=

teardown() {
	term_end
	helpers_teardown
}

# term_end: ends the tmux server of term(), and waits until it has gone.
term_end() {
	[ -n "$TMUX_SOCK" ] && [ -S "$TMUX_SOCK" ] || return 0
	local tpid
	tpid=$(tmux -S "$TMUX_SOCK" display-message -p '#{pid}' 2>/dev/null)
	tmux -S "$TMUX_SOCK" kill-server 2>/dev/null
	for _ in $(seq 50); do
		[ -n "$tpid" ] && kill -0 "$tpid" 2>/dev/null || break
		sleep 0.1
	done
	rm -f "$TMUX_SOCK"
}

# descendants PID: every process under PID, children first.
descendants() {
	local c
	for c in $(ps -o pid= --ppid "$1"); do
		echo "$c"
		descendants "$c"
	done
}

# term CMD: runs CMD in a terminal of 200 columns (a tmux pane of its own server), the
# pane kept once CMD ends; its exit status goes to $TMP/status.
term() {
	TMUX_SOCK=$TMP/tmux.sock
	tmux -S "$TMUX_SOCK" -f /dev/null new-session -d -x 200 -y 50 \
		"$*; echo \$? >$TMP/status; sleep 600"
}

# screen: what the pane shows, its blank lines left out.
screen() {
	tmux -S "$TMUX_SOCK" capture-pane -p -J | grep -v '^$' || true
}

# wait_file FILE SECS: waits until FILE exists and is not empty.
wait_file() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	echo "no $1 after $2 s" >&2
	return 1
}

# wait_held PID N SECS: waits until bench PID's server workers hold N established
# connections, as ss counts them on the server's port (set as $port), in bench's network namespace.
wait_held() {
	local i serve n w
	port=
	for ((i = 0; i < $3 * 10; i++)); do
		serve=$(ps -o pid=,args= --ppid "$1" | awk '$3 == "serve" { print $1 }')
		if [ -z "$port" ] && [ -n "$serve" ]; then
			for w in $(ps -o pid= --ppid "$serve"); do
				port=$(nsenter -t "$1" -n ss -Hltnp | sed -n "s/^LISTEN .* [0-9.*]*:\([0-9]*\) .*pid=$w,.*/\1/p" | head -1)
				[ -n "$port" ] && break
			done
		fi
		if [ -n "$port" ]; then
			n=$(nsenter -t "$1" -n ss -Htn state established "( sport = :$port )" | wc -l)
			[ "$n" -eq "$2" ] && return 0
		fi
		sleep 0.1
	done
	echo "bench $1 does not hold $2 connections after $3 s (port ${port:-unknown}, ${n:-0} held)" >&2
	return 1
}

# elapsed T0: seconds since T0 (date +%s.%N).
elapsed() {
	python3 -c "import sys, time; print(round(time.time() - float(sys.argv[1]), 2))" "$1"
}

# stopped_ok PIDS...: none of PIDS runs any more (a zombie counts as ended).
stopped_ok() {
	local p state
	for p in "$@"; do
		state=$(ps -o stat= -p "$p" 2>/dev/null) || continue
		case $state in Z*) ;; *) echo "process $p still runs: $(ps -o args= -p "$p")" >&2; return 1 ;; esac
	done
}

@test "bench measures the kernel's floor in the same run: each rate a ratio to it, in JSON and text, and a line on the chart" {
	# The two floors are two measurements of one thing and often agree to 0.1 %; then a ratio
	# to the wrong one would pass unseen.  So runs repeat (each checked whole) until one has
	# floors far enough apart that the two ratios cannot be taken for each other: ten runs
	# or 60 s at most.  If none has, everything else was still checked, and the test says so
	# (and fails only under make mutants, where telling them apart is its whole point).
	apart=0 t0=$SECONDS
	for try in 1 2 3 4 5 6 7 8 9 10; do
		run timeout 120 "$PORTSCOPE" bench -n 2000 --hold 0.2 -f json --chart "$TMP/ramp.svg"
		echo "$output"
		[ "$status" -eq 0 ]
		# The floor is a real rate (loopback connections: thousands a second at least) and the
		# ratio is the rate over it, as python3 divides them.  Rates are printed whole and
		# ratios to 3 decimals: a ratio q of r/f may be off by 0.0005 + 0.5 (1 + q) / f.
		python3 - "$output" <<-'EOF' && apart=1 && break
			import json, sys
			d = json.loads(sys.argv[1])
			assert d["interrupted"] is False and d["ok"] is True, d
			r, f, fh = d["rate_per_s"], d["floor_per_s"], d["floor_held_per_s"]
			tol = lambda q, f: 0.0005 + 0.5 * (1 + q) / f + 1e-9
			assert f > 1000, d
			assert abs(d["rate_to_floor"] - r / f) <= tol(r / f, f), d
			# The floor at scale, measured once the connections are held, and the ramp's ratio to it.
			assert fh > 1000, d
			assert abs(d["rate_to_floor_held"] - r / fh) <= tol(r / fh, fh), d
			# Apart: the ratio to the other floor would have failed the line above.
			sys.exit(0 if abs(r / f - r / fh) > 2 * max(tol(r / f, f), tol(r / fh, fh)) + 0.001 else 3)
		EOF
		# 3: checked, but the floors were too close to tell the two ratios apart.
		[ "$?" -eq 3 ]
		[ $((SECONDS - t0)) -lt 60 ] || break
	done
	if [ "$apart" -eq 0 ]; then
		echo "# the two floors never far enough apart to tell their ratios apart" >&3
		[ -z "${PSMUTANT_RUN:-}" ]
	fi
	floor=$(jq .floor_per_s <<<"$output")
	# The chart: the floor as a dashed line, labelled with the same figure, inside the plot.
	grep -q "^<line class=\"floor\" .*stroke-dasharray" "$TMP/ramp.svg"
	grep -q ">kernel floor $floor/s (one thread, blocking connect() + accept())</text>" "$TMP/ramp.svg"
	y=$(sed -n 's/^<line class="floor" x1="[0-9]*" y1="\([0-9.]*\)".*/\1/p' "$TMP/ramp.svg")
	python3 -c "import sys; y = float(sys.argv[1]); assert 40 <= y <= 350, y" "$y"
	# In text: the ramp's ratio, and the floor on a line of its own.
	run timeout 120 "$PORTSCOPE" bench -n 2000 --hold 0.2
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[2]} =~ ^\ \ ramp\ +[0-9.]+\ s,\ ([0-9]+)\ connections/s,\ ([0-9.]+)\ of\ the\ floor$ ]]
	rate=${BASH_REMATCH[1]} ratio=${BASH_REMATCH[2]}
	[[ ${lines[3]} =~ ^\ \ kernel\ floor\ +([0-9]+)\ connections/s\ \(one\ thread,\ blocking\ connect\(\)\ \+\ accept\(\)\)$ ]]
	python3 -c "import sys; r, f, q = map(float, sys.argv[1:]); assert abs(r / f - q) <= 0.006, (r, f, q)" \
		"$rate" "${BASH_REMATCH[1]}" "$ratio"
	[[ ${lines[4]} =~ ^\ \ floor\ at\ scale\ +([0-9]+)\ connections/s,\ one\ round\ with\ the\ 2000\ held\ \(the\ ramp:\ ([0-9.]+)\ of\ it\)$ ]]
	python3 -c "import sys; r, f, q = map(float, sys.argv[1:]); assert abs(r / f - q) <= 0.006, (r, f, q)" \
		"$rate" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
}

@test "bench on a terminal: a live line with both counts, the rate, its ratio to the floor, the time and memory" {
	term "$PORTSCOPE" bench -n 3000 --hold 1.5
	wait_file "$TMP/status" 120
	screen
	[ "$(cat "$TMP/status")" -eq 0 ]
	# The last live line stays above the results: the hold, every connection counted by both.
	screen | grep -Eq '^hold [0-9.]+ s: held server 3000, clients 3000; [0-9]+/s, [0-9.]+ of the floor; memory kernel [-+]*[0-9]+ MiB, server [-+]*[0-9.]+ MiB$'
	[ "$(screen | grep -c '^portscope bench: 3000 connections')" -eq 1 ]
	screen | grep -Eq '^  held +server 3000, clients 3000, kernel 3000, for [0-9.]+ s; 0 failures$'
}

@test "bench draws no live line when stdout is not a terminal, nor with -f json" {
	term "$PORTSCOPE" bench -n 1000 --hold 0.5 ">$TMP/out"
	wait_file "$TMP/status" 120
	screen
	[ "$(cat "$TMP/status")" -eq 0 ]
	[ -z "$(screen | grep -v '^[0-9]*$')" ]
	! grep -q $'\r' "$TMP/out"
	grep -q '^portscope bench: 1000 connections' "$TMP/out"
	term_end
	rm -f "$TMP/status"
	term "$PORTSCOPE" bench -n 1000 --hold 0.5 -f json
	wait_file "$TMP/status" 120
	screen
	[ "$(cat "$TMP/status")" -eq 0 ]
	# The JSON object alone (tmux may wrap it: -J joins it again).
	[ "$(screen | head -1 | jq -r .ok)" = true ]
	[ "$(screen | wc -l)" -eq 1 ]
}

@test "Ctrl-C on a terminal stops bench within two seconds: every process it started ends, the figures so far are printed, marked interrupted, exit 130" {
	term "$PORTSCOPE" bench -n 2000 --hold 60
	for _ in $(seq 300); do
		bench=$(pgrep -P "$(tmux -S "$TMUX_SOCK" display-message -p '#{pane_pid}')" -x portscope || pgrep -P "$(tmux -S "$TMUX_SOCK" display-message -p '#{pane_pid}')" memcheck-amd64- || true)
		[ -n "$bench" ] && break
		sleep 0.1
	done
	[ -n "$bench" ]
	wait_held "$bench" 2000 60
	kids=$(descendants "$bench")
	[ "$(wc -w <<<"$kids")" -ge 4 ]	# the server, its workers, the clients' parent and its process
	sleep 1
	t0=$(date +%s.%N)
	tmux -S "$TMUX_SOCK" send-keys C-c
	wait_file "$TMP/status" 10
	t=$(elapsed "$t0")
	screen
	python3 -c "import sys; assert float(sys.argv[1]) < 2.5, sys.argv[1]" "$t"
	[ "$(cat "$TMP/status")" -eq 130 ]
	stopped_ok $kids
	screen | grep -q '^  interrupted     by SIGINT in the hold: what was measured until then$'
	screen | grep -Eq '^  held +server 2000, clients 2000, kernel 2000, for [0-9.]+ s; 0 failures$'
	screen | grep -Eq '^  ramp +[0-9.]+ s, [0-9]+ connections/s, [0-9.]+ of the floor$'
}

# interrupt SIG STATUS: bench in the background (so SIGINT is ignored there, as for any
# background job of a shell without job control), SIG sent to its pid alone during the hold.
interrupt() {
	: >"$TMP/out"; : >"$TMP/err"; "$PORTSCOPE" bench -n 2000 --hold 60 -f json >"$TMP/out" 2>"$TMP/err" &
	bench=$!
	BG_PIDS+=("$bench")
	wait_held "$bench" 2000 60
	kids=$(descendants "$bench")
	[ "$(wc -w <<<"$kids")" -ge 4 ]
	sleep 1
	t0=$(date +%s.%N)
	kill -"$1" "$bench"
	rc=0
	wait "$bench" || rc=$?
	t=$(elapsed "$t0")
	cat "$TMP/out" "$TMP/err"
	python3 -c "import sys; assert float(sys.argv[1]) < 2.5, sys.argv[1]" "$t"
	[ "$rc" -eq "$2" ]
	stopped_ok $kids
	[ ! -s "$TMP/err" ]
	python3 - "$1" "$(cat "$TMP/out")" <<-'EOF'
		import json, sys
		d = json.loads(sys.argv[2])
		assert d["interrupted"] is True and d["signal"] == sys.argv[1], d
		assert d["stopped_in"] == "the hold" and d["ok"] is False, d
		assert d["server_count"] == d["client_count"] == d["connections_held"] == 2000, d
		assert d["kernel_count"] == 2000 and d["rate_per_s"] > 0 and d["floor_per_s"] > 0, d
	EOF
}

@test "SIGINT to bench alone, even with SIGINT ignored as in a background job: it stops within two seconds, every process it started ends, partial figures in JSON, exit 130" {
	interrupt INT 130
}

@test "SIGTERM to bench alone: the same, exit 143" {
	interrupt TERM 143
}

@test "SIGINT to bench's process group before the ramp: it stops, says where, nothing measured is null" {
	: >"$TMP/out"; : >"$TMP/err"; setsid "$PORTSCOPE" bench -n 2000 --hold 60 -f json >"$TMP/out" 2>"$TMP/err" &
	bench=$!
	BG_PIDS+=("$bench")
	# The floor comes first (well under a second); stop it there or at the start: once its
	# listener is up in bench's own namespace (signals are caught by then, even under valgrind).
	for _ in $(seq 1000); do
		[ "$(readlink "/proc/$bench/ns/net")" != "$(readlink /proc/self/ns/net)" ] &&
			[ -n "$(nsenter -t "$bench" -n ss -Hltn 2>/dev/null)" ] && break
		sleep 0.02
	done
	kill -INT -- "-$bench"
	rc=0
	wait "$bench" || rc=$?
	cat "$TMP/out" "$TMP/err"
	[ "$rc" -eq 130 ]
	python3 - "$(cat "$TMP/out")" <<-'EOF'
		import json, sys
		d = json.loads(sys.argv[1])
		assert d["interrupted"] is True and d["stopped_in"] in ("the floor", "the start"), d
		assert d["rate_per_s"] is None and d["kernel_count"] is None and d["ls_seconds"] is None, d
		assert d["connections_held"] == 0, d
	EOF
}

@test "bench --accept-only: K rounds of the floor and each server, alternating; the median and range of each rate and of portscope's ratios to the floor and to nginx" {
	run timeout 120 "$PORTSCOPE" bench --accept-only -n 300 --procs 1 --runs 3 -f json
	echo "$output"
	[ "$status" -eq 0 ]
	python3 - "${lines[-1]}" <<-'EOF'
		import json, sys
		d = json.loads(sys.argv[1])
		assert d["runs"] == 3 and d["interrupted"] is False, d
		r = d["rates_per_s"]
		for k in ("portscope", "nginx"):
		    assert 0 < r[k]["min"] <= r[k]["median"] <= r[k]["max"], (k, r)
		assert abs(d["rate_per_s"] - r["portscope"]["median"]) <= 1, d
		assert abs(d["peers"]["nginx"] - r["nginx"]["median"]) <= 1, d
		f = d["floor_per_s"]
		assert 1000 < f["min"] <= f["median"] <= f["max"], f
		for k in ("portscope_to_floor", "portscope_to_nginx"):
		    assert 0 < d[k]["min"] <= d[k]["median"] <= d[k]["max"], (k, d[k])
		# Each ratio is one round's pair: the extremes lie within those of the rates' quotients.
		lo, hi = r["portscope"]["min"] / f["max"], r["portscope"]["max"] / f["min"]
		assert lo - 0.01 <= d["portscope_to_floor"]["min"] and d["portscope_to_floor"]["max"] <= hi + 0.01, d
	EOF
	run timeout 120 "$PORTSCOPE" bench --accept-only -n 300 --procs 1 --runs 2
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == *"; 2 rounds, the servers in turn, the order reversed each round: the median (lowest to highest)" ]]
	[[ ${lines[2]} =~ ^\ \ kernel\ floor\ \(one\ thread\)\ +[0-9]+\ \([0-9]+\ to\ [0-9]+\)\ +-$ ]]
	printf '%s\n' "${lines[@]}" | grep -Eq '^  portscope / floor +[0-9.]+ \([0-9.]+ to [0-9.]+\)$'
	printf '%s\n' "${lines[@]}" | grep -Eq '^  portscope / nginx +[0-9.]+ \([0-9.]+ to [0-9.]+\)$'
	run timeout 10 "$PORTSCOPE" bench --runs 3
	[ "$status" -eq 2 ]
}

@test "bench --accept-only stopped by SIGINT: the rounds done so far, marked interrupted, every process ended, exit 130" {
	: >"$TMP/out"; : >"$TMP/err"; "$PORTSCOPE" bench --accept-only -n 500 --procs 1 --runs 100 -f json >"$TMP/out" 2>"$TMP/err" &
	bench=$!
	BG_PIDS+=("$bench")
	# Until a round is done: the floor and three servers, each a second or so at most.
	sleep 6
	kids=$(descendants "$bench")
	t0=$(date +%s.%N)
	kill -INT "$bench"
	rc=0
	wait "$bench" || rc=$?
	t=$(elapsed "$t0")
	cat "$TMP/out" "$TMP/err"
	python3 -c "import sys; assert float(sys.argv[1]) < 2.5, sys.argv[1]" "$t"
	[ "$rc" -eq 130 ]
	stopped_ok $kids
	python3 - "$(cat "$TMP/out")" <<-'EOF'
		import json, sys
		d = json.loads(sys.argv[1])
		assert d["interrupted"] is True and d["signal"] == "INT" and 1 <= d["runs"] < 100, d
		assert d["rate_per_s"] > 0, d
	EOF
}

@test "bench as root: a network namespace of its own, its table sized and removed at the end; two destinations share the source ports; --no-netns stays here" {
	before=$(cat /proc/sys/net/ipv4/tcp_child_ehash_entries)
	: >"$TMP/out"; : >"$TMP/err"; "$PORTSCOPE" bench -n 15000 --hold 60 -f json >"$TMP/out" 2>"$TMP/err" &
	bench=$!
	BG_PIDS+=("$bench")
	wait_held "$bench" 15000 60
	ns=$(readlink "/proc/$bench/ns/net")
	[ "$ns" != "$(readlink /proc/self/ns/net)" ]
	# Not one of them in this namespace; the creating namespace's setting put back.
	[ "$(ss -Htn state established '( sport = :'"$port"' )' | wc -l)" -eq 0 ]
	[ "$(cat /proc/sys/net/ipv4/tcp_child_ehash_entries)" = "$before" ]
	nsenter -t "$bench" -n ss -Htn state established "( dport = :$port )" >"$TMP/clients"
	[ "$(wc -l <"$TMP/clients")" -eq 15000 ]
	# Two destinations, one source address: a source port serves more than one connection.
	[ "$(awk '{ sub(/:[0-9]+$/, "", $4); print $4 }' "$TMP/clients" | sort -u | tr '\n' ' ')" = "127.1.0.1 127.1.0.2 " ]
	ports=$(awk '{ print $3 }' "$TMP/clients" | sort -u | wc -l)
	echo "distinct source address and port: $ports" >&3
	[ "$ports" -lt 15000 ]
	ehash=$(nsenter -t "$bench" -n cat /proc/sys/net/ipv4/tcp_ehash_entries)
	kill -INT "$bench"
	wait "$bench" || true
	cat "$TMP/out" "$TMP/err"
	[ "$(jq -c '[.own_netns, .ehash_entries, .destination_addresses, .source_addresses]' "$TMP/out")" = "[true,$ehash,2,1]" ]
	[ "$ehash" -ge 30000 ]
	# Its last process gone, so is the namespace.
	! lsns -n -t net -o NS | grep -qx "$(sed 's/^net:\[\([0-9]*\)\]$/\1/' <<<"$ns")"
	run timeout 120 "$PORTSCOPE" bench -n 1000 --hold 0.2 --no-netns -f json
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.own_netns, .destination_addresses, .ok]' <<<"$output")" = "[false,1,true]" ]
}
