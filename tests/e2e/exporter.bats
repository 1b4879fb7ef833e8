#!/usr/bin/env bats
# portscope exporter: Prometheus metrics, checked by promtool, scraped by a real
# Prometheus, with expected values from ss and python3's own sockets.

load helpers

# metric FILE SERIES: the value of one series (name and labels exactly as written), or nothing.
metric() {
	awk -v s="$2" '$1 == s {print $2}' "$1"
}

# hold_python OUT: python3 listens on 127.0.0.1:0 with backlog 7, holds 3
# accepted connections and 2 it never accepts; prints "PORT" then sleeps.
hold_python() {
	spawn "$1" python3 -c '
import socket, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(7)
port = l.getsockname()[1]
cs = [socket.create_connection(("127.0.0.1", port)) for i in range(5)]
acc = [l.accept() for i in range(3)]
print(port, flush=True)
time.sleep(60)'
	wait_for_line "$1" '^[0-9]' 5
}

@test "exporter --once: promtool accepts it; counts by port, role (queued apart from accepted) and state as ss sees them" {
	hold_python "$TMP/py"
	port=$(head -1 "$TMP/py")
	run "$PORTSCOPE" exporter --once
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" >"$TMP/metrics"
	promtool check metrics <"$TMP/metrics"
	# Every family has HELP and TYPE; no _total on a gauge.
	for name in portscope_sockets portscope_listener_accept_queue_length \
		portscope_listener_accept_queue_limit portscope_reuseport_group_listeners \
		portscope_scrape_duration_seconds; do
		grep -q "^# HELP $name " "$TMP/metrics"
		grep -q "^# TYPE $name gauge\$" "$TMP/metrics"
	done
	! grep -q '_total' "$TMP/metrics"
	# ss: 1 listener, 5 established on the server's side (3 accepted, 2 waiting), 5 clients.
	[ "$(ss -Htn state established "( src 127.0.0.1:$port )" | wc -l)" -eq 5 ]
	[ "$(ss -Htn state established "( dst 127.0.0.1:$port )" | wc -l)" -eq 5 ]
	[ "$(metric "$TMP/metrics" "portscope_sockets{port=\"$port\",proto=\"tcp\",role=\"listener\",state=\"listen\"}")" = 1 ]
	[ "$(metric "$TMP/metrics" "portscope_sockets{port=\"$port\",proto=\"tcp\",role=\"client\",state=\"established\"}")" = 5 ]
	# The accept queue: 2 waiting, of a backlog of 7, as ss shows the listener (Recv-Q, Send-Q).
	read -r rq sq < <(ss -Htln "( src 127.0.0.1:$port )" | awk '{print $2, $3}')
	[ "$rq" -eq 2 ] && [ "$sq" -eq 7 ]
	# ls's roles: those in the accept queue are queued, the others accepted.
	[ "$(metric "$TMP/metrics" "portscope_sockets{port=\"$port\",proto=\"tcp\",role=\"accepted\",state=\"established\"}")" = $((5 - rq)) ]
	[ "$(metric "$TMP/metrics" "portscope_sockets{port=\"$port\",proto=\"tcp\",role=\"queued\",state=\"established\"}")" = "$rq" ]
	cookie=$(ss -Htlne "( src 127.0.0.1:$port )" | grep -o 'sk:[0-9a-f]*' | cut -d: -f2)
	[ "$(metric "$TMP/metrics" "portscope_listener_accept_queue_length{address=\"127.0.0.1\",port=\"$port\",cookie=\"$((16#$cookie))\"}")" = "$rq" ]
	[ "$(metric "$TMP/metrics" "portscope_listener_accept_queue_limit{address=\"127.0.0.1\",port=\"$port\",cookie=\"$((16#$cookie))\"}")" = "$sq" ]
	[ "$(metric "$TMP/metrics" "portscope_reuseport_group_listeners{address=\"127.0.0.1\",port=\"$port\"}")" = 1 ]
	[ "$(metric "$TMP/metrics" portscope_scrape_success)" = 1 ]
}

@test "exporter: labels stay bounded: no series for a client's ephemeral port" {
	start_server 127.0.0.1:0 --keep -f line
	spawn "$TMP/held" python3 -c '
import socket, sys, time
cs = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for i in range(200)]
print("held", flush=True)
time.sleep(60)' "$PORT"
	wait_for_line "$TMP/held" held 10
	wait_for_count "$TMP/out" '^conn=' 200 10
	"$PORTSCOPE" exporter --once >"$TMP/metrics"
	# The 200 clients' ports, from ss: none is a label.
	ss -Htn state established "( dst 127.0.0.1:$PORT )" | awk '{print $3}' | sed 's/.*://' >"$TMP/cports"
	[ "$(wc -l <"$TMP/cports")" -eq 200 ]
	while read -r p; do
		! grep -q "port=\"$p\"" "$TMP/metrics" || { echo "a series for client port $p"; false; }
	done <"$TMP/cports"
	[ "$(metric "$TMP/metrics" "portscope_sockets{port=\"$PORT\",proto=\"tcp\",role=\"client\",state=\"established\"}")" = 200 ]
	[ "$(metric "$TMP/metrics" "portscope_sockets{port=\"$PORT\",proto=\"tcp\",role=\"accepted\",state=\"established\"}")" = 200 ]
}

@test "exporter: an SO_REUSEPORT group of 2 listeners is one series of 2" {
	spawn "$TMP/rp" "$PSTEST" reuseport
	wait_for_line "$TMP/rp" '^[0-9]' 5
	port=$(head -1 "$TMP/rp")
	[ "$(ss -Htln "( src 127.0.0.1:$port )" | wc -l)" -eq 2 ]
	"$PORTSCOPE" exporter --once >"$TMP/metrics"
	[ "$(metric "$TMP/metrics" "portscope_reuseport_group_listeners{address=\"127.0.0.1\",port=\"$port\"}")" = 2 ]
	[ "$(grep -c "^portscope_listener_accept_queue_limit{address=\"127.0.0.1\",port=\"$port\"," "$TMP/metrics")" -eq 2 ]
}

@test "exporter over HTTP: /metrics, /, 404, 405; stops on SIGTERM" {
	hold_python "$TMP/py"
	port=$(head -1 "$TMP/py")
	: >"$TMP/err"; "$PORTSCOPE" exporter --listen 127.0.0.1:0 2>"$TMP/err" &
	SERVER_PID=$!
	wait_for_line "$TMP/err" 'listening on' 5
	url=$(sed -n 's/.*\(http:[^ ]*\)$/\1/p' "$TMP/err")
	run curl -s -m 5 -D "$TMP/headers" -o "$TMP/metrics" -w '%{http_code}' "$url"
	[ "$output" = 200 ]
	grep -qi '^content-type: text/plain; version=0.0.4' "$TMP/headers"
	promtool check metrics <"$TMP/metrics"
	[ "$(metric "$TMP/metrics" "portscope_sockets{port=\"$port\",proto=\"tcp\",role=\"accepted\",state=\"established\"}")" = 3 ]
	[ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "${url%metrics}")" = 200 ]
	[ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "${url%metrics}nothing")" = 404 ]
	[ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST -d x=1 "$url")" = 405 ]
	[ "$(curl -s -m 5 -I -o /dev/null -w '%{http_code}' "$url")" = 200 ]
	stop_server TERM
	[ "$SERVER_STATUS" -eq 0 ]
	grep -q 'served 2 scrapes' "$TMP/err"  # the GET and the HEAD of /metrics
}

@test "exporter scraped by a real Prometheus: its query API shows the established connections on a port we hold" {
	hold_python "$TMP/py"
	port=$(head -1 "$TMP/py")
	: >"$TMP/err"; "$PORTSCOPE" exporter --listen 127.0.0.1:0 2>"$TMP/err" &
	SERVER_PID=$!
	wait_for_line "$TMP/err" 'listening on' 5
	target=$(sed -n 's/.*listening on \([0-9.:]*\):.*/\1/p' "$TMP/err")
	cat >"$TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: portscope
    static_configs:
      - targets: ['$target']
EOF
	promtool check config "$TMP/prometheus.yml"
	pport=$("$PSTEST" freeport)
	spawn "$TMP/prom.out" prometheus --config.file="$TMP/prometheus.yml" \
		--storage.tsdb.path="$TMP/tsdb" --web.listen-address="127.0.0.1:$pport"
	ppid=$SPAWNED
	query="sum(portscope_sockets{port=\"$port\",role=~\"accepted|queued\",state=\"established\"})"
	got=
	for ((i = 0; i < 300; i++)); do
		got=$(curl -s -m 2 -G "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$query" |
			jq -r '.data.result[0].value[1] // empty' 2>/dev/null) || true
		[ -n "$got" ] && break
		sleep 0.1
	done
	kill -TERM "$ppid"
	wait_pid "$ppid" 10 || true
	echo "prometheus says: $got"
	[ "$got" = 5 ]
	[ "$(ss -Htn state established "( src 127.0.0.1:$port )" | wc -l)" -eq 5 ]
}

@test "exporter --textfile DIR: written whole (temporary file, rename), promtool accepts it; --interval rewrites it" {
	hold_python "$TMP/py"
	port=$(head -1 "$TMP/py")
	mkdir "$TMP/tf"
	run "$PORTSCOPE" exporter --textfile "$TMP/tf"
	[ "$status" -eq 0 ]
	[ "$(ls -A "$TMP/tf")" = portscope.prom ]
	promtool check metrics <"$TMP/tf/portscope.prom"
	[ "$(metric "$TMP/tf/portscope.prom" "portscope_sockets{port=\"$port\",proto=\"tcp\",role=\"client\",state=\"established\"}")" = 5 ]
	# Rewritten every 0.2 s: a new inode each time (rename), never a partial file.
	ino=$(stat -c %i "$TMP/tf/portscope.prom")
	"$PORTSCOPE" exporter --textfile "$TMP/tf" --interval 0.2 &
	SERVER_PID=$!
	for ((i = 0; i < 50; i++)); do
		[ "$(stat -c %i "$TMP/tf/portscope.prom")" != "$ino" ] && break
		sleep 0.1
	done
	[ "$(stat -c %i "$TMP/tf/portscope.prom")" != "$ino" ]
	tail -1 "$TMP/tf/portscope.prom" | grep -q '^portscope_scrape_duration_seconds '
	stop_server TERM
	[ "$SERVER_STATUS" -eq 0 ]
	[ "$(ls -A "$TMP/tf")" = portscope.prom ]
	# A directory that is not there: one line, exit 1.
	run "$PORTSCOPE" exporter --textfile "$TMP/none"
	[ "$status" -eq 1 ]
	grep -q "^portscope exporter: --textfile $TMP/none: No such file or directory" <<<"$output"
	# A file, not a directory: the same.
	run "$PORTSCOPE" exporter --textfile "$TMP/tf/portscope.prom"
	[ "$status" -eq 1 ]
	grep -q "^portscope exporter: --textfile $TMP/tf/portscope.prom: not a directory" <<<"$output"
}

@test "exporter: bad command lines are refused with one line and exit 2; a port in use is exit 1" {
	for args in "--listen 1.2.3.4:99999" "--interval 1" "--textfile /tmp --once" "--once --listen 127.0.0.1:0" "extra" "--interval -1 --textfile /tmp"; do
		# shellcheck disable=SC2086
		run "$PORTSCOPE" exporter $args
		echo "$args: $output"
		[ "$status" -eq 2 ]
		grep -q '^portscope exporter: ' <<<"${lines[0]}"
	done
	start_server 127.0.0.1:0 -f line
	run "$PORTSCOPE" exporter --listen "127.0.0.1:$PORT"
	[ "$status" -eq 1 ]
	grep -q "cannot listen on 127.0.0.1:$PORT" <<<"$output"
}
