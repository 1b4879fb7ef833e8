#!/usr/bin/env bats
# serve --proxy-protocol and connect --send-proxy, with real peers: HAProxy 2.6 (send-proxy,
# send-proxy-v2, accept-proxy) and nginx's stream module (proxy_protocol on, listen ...
# proxy_protocol), started on ports the kernel chose, from configuration files written
# here, and stopped by pid.  What the proxies say they did comes from their own logs;
# what a client is comes from python3's own socket.

load helpers

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		[ -n "$(ss -Hltn "sport = :$1")" ] && return 0
		sleep 0.05
	done
	echo "nothing listens on port $1 after $2 s" >&2
	return 1
}

need_haproxy() {
	HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
	[ -x "$HAPROXY" ] || skip "needs haproxy (tests/deps.sh installs it)"
}

need_nginx() {
	NGINX=$(command -v nginx || echo /usr/sbin/nginx)
	NGINX_MOD=/usr/lib/nginx/modules/ngx_stream_module.so
	[ -x "$NGINX" ] && [ -f "$NGINX_MOD" ] || skip "needs nginx and its stream module (tests/deps.sh installs them)"
}

# start_haproxy BIND_OPTS SERVER_OPTS [FRONTEND_LINES]: HAProxy, mode tcp, from
# 127.0.0.1:HPORT to portscope serve on $PORT.  Its log (one line per connection,
# the client's address first) goes to $TMP/haproxy.log.
start_haproxy() {
	local try
	need_haproxy
	for try in 1 2 3; do
		HPORT=$(free_port)
		cat >"$TMP/haproxy.cfg" <<EOF
global
    log stdout format raw local0 info
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:$HPORT $1
    unique-id-format %{+X}o\ %ci:%cp_%fi:%fp_%Ts_%rt
${3:-}
    default_backend be
backend be
    server s1 127.0.0.1:$PORT $2
EOF
		spawn "$TMP/haproxy.log" "$HAPROXY" -db -f "$TMP/haproxy.cfg"
		HAPROXY_PID=$SPAWNED
		wait_port "$HPORT" 5 && kill -0 "$HAPROXY_PID" && return 0
	done
	return 1
}

# start_nginx SERVER_BLOCK: nginx's stream module with one server block (NPORT in it).
start_nginx() {
	local try
	need_nginx
	for try in 1 2 3; do
		NPORT=$(free_port)
		cat >"$TMP/nginx.conf" <<EOF
daemon off;
master_process off;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log info;
load_module $NGINX_MOD;
events {}
stream {
    log_format pp '\$proxy_protocol_addr:\$proxy_protocol_port \$remote_addr:\$remote_port \$status';
    access_log $TMP/nginx-access.log pp;
    server {
${1//NPORT/$NPORT}
    }
}
EOF
		spawn "$TMP/nginx.out" "$NGINX" -p "$TMP" -c "$TMP/nginx.conf"
		NGINX_PID=$SPAWNED
		wait_port "$NPORT" 5 && kill -0 "$NGINX_PID" && return 0
	done
	cat "$TMP/nginx-error.log" >&2
	return 1
}

# client_from SRC_IP PORT [BYTES_HEX]: python3 connects from SRC_IP (its own port, which
# it prints first), sends BYTES, and prints the first line it gets back.
client_from() {
	python3 - "$@" <<'PY'
import socket, sys
s = socket.socket()
s.bind((sys.argv[1], 0))
s.settimeout(5)
s.connect(("127.0.0.1", int(sys.argv[2])))
print("%s:%d" % s.getsockname())
if len(sys.argv) > 3:
    s.sendall(bytes.fromhex(sys.argv[3]))
try:
    print(s.makefile().readline().strip())
except ConnectionResetError:
    print("(reset)")
PY
}

@test "proxy: HAProxy send-proxy (v1) in front of serve: the report keeps the socket's 4-tuple and names the real client after it" {
	start_server --proxy-protocol v1 -f line 0
	start_haproxy "" "send-proxy"
	run timeout 10 bash -c "$(declare -f client_from); client_from 127.0.0.5 $HPORT"
	echo "$output"
	[ "$status" -eq 0 ]
	me=${lines[0]}
	[[ ${lines[1]} == "portscope/1 you=127.0.0.1:"*" pp=1 pp_cmd=proxy pp_proto=tcp4 src=$me dst=127.0.0.1:$HPORT" ]]
	wait_for_line "$TMP/out" "pp_src=$me" 5
	cat "$TMP/out"
	line=$(grep "pp_src=$me" "$TMP/out")
	# The socket's peer is HAProxy's own connection (127.0.0.1, not the client's 127.0.0.5).
	[[ $line =~ peer=127\.0\.0\.1:[0-9]+\ .*\ pp=1\ pp_cmd=proxy\ pp_proto=tcp4\ pp_src=$me\ pp_dst=127\.0\.0\.1:$HPORT\ pp_len=[0-9]+$ ]]
	# HAProxy's log names the same client.
	wait_for_line "$TMP/haproxy.log" "^$me " 5
	# connect through HAProxy explains the chain, naming its own address.
	run timeout 10 "$PORTSCOPE" connect -f json "127.0.0.1:$HPORT"
	echo "$output"
	[ "$status" -eq 0 ]
	python3 - "$output" "$HPORT" <<'PY'
import json, sys
j = json.loads(sys.argv[1])
me, proxy = j["socket"]["laddr"], j["socket"]["raddr"]
assert proxy == "127.0.0.1:" + sys.argv[2]
assert j["verdict"] == "proxied", j
assert j["server"]["you"] != me and j["server"]["proxy"]["src"] == me, j
d = j["detail"]
assert d.startswith("you reached a proxy at %s; the server's socket saw the proxy at %s; the proxy told the server you are %s, this client's own address" % (proxy, j["server"]["you"], me)), d
PY
}

@test "proxy: HAProxy send-proxy-v2 with crc32c and unique-id: the JSON report has the real client, the TLVs, the CRC32c verified" {
	start_server --proxy-protocol v2 -f json 0
	start_haproxy "" "send-proxy-v2 proxy-v2-options crc32c,unique-id,authority"
	run timeout 10 bash -c "$(declare -f client_from); client_from 127.0.0.6 $HPORT"
	echo "$output"
	[ "$status" -eq 0 ]
	me=${lines[0]}
	[[ ${lines[1]} == *" pp=2 pp_cmd=proxy pp_proto=tcp4 src=$me dst=127.0.0.1:$HPORT" ]]
	wait_for_line "$TMP/out" "$me" 5
	wait_for_line "$TMP/haproxy.log" "^$me " 5
	python3 - "$TMP/out" "$me" "$HPORT" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])][-1]
p = r["proxy"]
assert r["raddr"].startswith("127.0.0.1:") and r["raddr"] != sys.argv[2], r
assert (p["version"], p["command"], p["proto"]) == (2, "PROXY", "tcp4"), p
assert p["src"] == sys.argv[2] and p["dst"] == "127.0.0.1:" + sys.argv[3], p
names = [t["name"] for t in p["tlvs"]]
assert "CRC32C" in names and "UNIQUE_ID" in names, names
assert p["crc32c_verified"] is True
# The unique-id-format: the client's address in hex first (127.0.0.6 = 7F000006).
assert p["unique_id"].startswith("7F000006:"), p["unique_id"]
# What the header's length says: 16 + 12 addresses + each TLV's 3 + value.
assert p["length"] == 16 + 12 + sum(3 + t["length"] for t in p["tlvs"]), p
PY
}

@test "proxy: HAProxy that rewrites the source (set-src): connect says the proxy named someone else" {
	start_server --proxy-protocol v2 -f line 0
	start_haproxy "" "send-proxy-v2" "    tcp-request connection set-src ipv4(192.0.2.99)"
	run timeout 10 "$PORTSCOPE" connect "127.0.0.1:$HPORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"the proxy told the server you are 192.0.2.99:"*", but this client sees itself as 127.0.0.1:"*": a NAT between you and the proxy, or a proxy that rewrote the address"* ]]
	run timeout 10 "$PORTSCOPE" connect -f line "127.0.0.1:$HPORT"
	[[ $output == *" server_pp=2 server_src=192.0.2.99:"*" verdict=proxy-mismatch" ]]
}

@test "proxy: nginx stream proxy_protocol on (v1) in front of serve: the seed block as the note's, then the header's client" {
	start_server --proxy-protocol v1 0
	start_nginx "        listen 127.0.0.1:NPORT;
        proxy_protocol on;
        proxy_pass 127.0.0.1:$PORT;"
	run timeout 10 bash -c "$(declare -f client_from); client_from 127.0.0.7 $NPORT"
	echo "$output"
	[ "$status" -eq 0 ]
	me=${lines[0]}
	[[ ${lines[1]} == *" pp=1 pp_cmd=proxy pp_proto=tcp4 src=$me dst=127.0.0.1:$NPORT" ]]
	wait_for_line "$TMP/out" "^('127.0.0.7'" 5
	cat "$TMP/out"
	# nginx's connection to serve, as ss saw it would: the seed block's peer is nginx's.
	peer=$(sed -n '2p' "$TMP/out")
	[[ $peer =~ ^\(\'127\.0\.0\.1\',\ [0-9]+\)$ ]]
	nport=$(echo "$peer" | sed 's/.*, \([0-9]*\))/\1/')
	seed_block "$(sed -n "3s/.*fd=\([0-9]*\),.*/\1/p" "$TMP/out")" "$LFD" "('127.0.0.1', $PORT)" "('127.0.0.1', $nport)" AF_INET >"$TMP/want"
	head -11 "$TMP/out" | diff "$TMP/want" -
	ip=${me%:*}
	diff <(sed -n '12,15p' "$TMP/out") - <<EOF
PROXY protocol v1 header, tcp4: the proxy says the client is
('$ip', ${me##*:})
and that the client connected to
('127.0.0.1', $NPORT)
EOF
}

@test "proxy: connect --send-proxy v1 and v2 to HAProxy accept-proxy: its log shows the address sent, and the server hears it passed on" {
	start_server --proxy-protocol v2 -f line 0
	start_haproxy "accept-proxy" "send-proxy-v2"
	for v in v1 v2; do
		run timeout 10 "$PORTSCOPE" connect --send-proxy "$v" --pp-src 192.0.2.7:4000 --pp-dst 192.0.2.8:443 "127.0.0.1:$HPORT"
		echo "$output"
		[ "$status" -eq 0 ]
		[[ $output == *"the proxy told the server you are 192.0.2.7:4000, what this client's own PROXY header said: the proxy passed it on"* ]]
		# HAProxy took the v1 line and sent it on as v2: passed on, re-encoded.
		[ "$v" = v2 ] || [[ $output == *"passed it on (this client sent v1, the server got v2)"* ]]
	done
	# v2 split in pieces: HAProxy 2.6 refuses what does not come whole.
	run timeout 10 "$PORTSCOPE" connect -f json --send-proxy v2 --pp-src 192.0.2.9:4001 --pp-split 1,12,16 "127.0.0.1:$HPORT"
	echo "$output"
	[[ $output == *'"verdict":"no-reply"'* || $output == *'"verdict":"reset"'* ]]
	kill -TERM "$HAPROXY_PID"
	wait_pid "$HAPROXY_PID" 5 || true
	cat "$TMP/haproxy.log"
	[ "$(grep -c '^192\.0\.2\.7:4000 ' "$TMP/haproxy.log")" -eq 2 ]
	grep -q "Truncated PROXY protocol header received" "$TMP/haproxy.log"
	[ "$(grep -c 'pp_src=192.0.2.7:4000 pp_dst=192.0.2.8:443' "$TMP/out")" -eq 2 ]
}

@test "proxy: connect --send-proxy v1 to HAProxy without accept-proxy: its own v2 header is told apart from what this client sent" {
	start_server --proxy-protocol any -f line 0
	start_haproxy "" "send-proxy-v2"
	run timeout 10 "$PORTSCOPE" connect --send-proxy v1 --pp-src 192.0.2.7:4000 "127.0.0.1:$HPORT"
	echo "$output"
	[ "$status" -eq 0 ]
	me=$(sed -n 2p <<<"$output" | tr -d "()' " | tr , :)
	[[ $output == *"the proxy told the server you are $me, this client's own address, not what its PROXY header said (192.0.2.7:4000) (this client sent v1, the server got v2): the proxy sent a header of its own and did not take this client's"* ]]
	[[ $output != *"passed it on:"* ]]
	# Without --pp-src both name this client: it cannot tell, and says so.
	run timeout 10 "$PORTSCOPE" connect --send-proxy v1 "127.0.0.1:$HPORT"
	echo "$output"
	[[ $output == *"which its PROXY header named too (this client sent v1, the server got v2): the proxy passed it on, or sent a header of its own"*"(cannot tell"* ]]
	kill -TERM "$HAPROXY_PID"
	wait_pid "$HAPROXY_PID" 5 || true
	stop_server INT
	# The server heard HAProxy's v2 header, the client's v1 line after it as data.
	[ "$(grep -c ' pp=2 ' "$TMP/out")" -eq 2 ]
}

@test "proxy: connect --send-proxy v1 and v2 to nginx listen ... proxy_protocol: its log and answer show the address sent" {
	start_nginx "        listen 127.0.0.1:NPORT proxy_protocol;
        proxy_protocol_timeout 2s;
        return \"\$proxy_protocol_addr:\$proxy_protocol_port\\n\";"
	run timeout 10 "$PORTSCOPE" connect -f json --send-proxy v1 --pp-src 192.0.2.10:4010 "127.0.0.1:$NPORT"
	echo "$output"
	[[ $output == *'"reply":"192.0.2.10:4010"'* ]]
	run timeout 10 "$PORTSCOPE" connect -f json --send-proxy v2 --pp-src '[2001:db8::10]:4011' --pp-dst '[2001:db8::1]:443' --pp-tlv 0xe0=0102 "127.0.0.1:$NPORT"
	echo "$output"
	[[ $output == *'"reply":"2001:db8::10:4011"'* ]]
	# Its own address, by default: what a proxy sends.
	run timeout 10 "$PORTSCOPE" connect -f json --send-proxy v2 "127.0.0.1:$NPORT"
	local=$(echo "$output" | python3 -c 'import json,sys; print(json.load(sys.stdin)["socket"]["laddr"])')
	[[ $output == *"\"reply\":\"$local\""* ]]
	kill -TERM "$NGINX_PID"
	wait_pid "$NGINX_PID" 5
	cat "$TMP/nginx-access.log"
	grep -q '^192\.0\.2\.10:4010 127\.0\.0\.1:[0-9]* 200$' "$TMP/nginx-access.log"
	grep -q '^2001:db8::10:4011 127\.0\.0\.1:[0-9]* 200$' "$TMP/nginx-access.log"
	grep -q "^$local 127\.0\.0\.1:${local##*:} 200$" "$TMP/nginx-access.log"
}

@test "proxy: proxycheck against serve --proxy-protocol any: every case as the specification expects, one log line per refusal" {
	start_server --proxy-protocol any --proxy-timeout 2 -f json 0
	run timeout 120 "$PORTSCOPE" proxycheck -f json -r 1 --silent-wait 4 "127.0.0.1:$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	echo "$output" >"$TMP/pc.json"
	cat "$TMP/err"
	python3 - "$TMP/pc.json" "$TMP/out" "$TMP/err" <<'PY'
import json, sys
pc = {c["case"]: c for c in json.load(open(sys.argv[1]))["cases"]}
reports = [json.loads(l) for l in open(sys.argv[2])]
err = open(sys.argv[3]).read()
assert all(c["verdict"] == "ok" for c in pc.values()), [c for c in pc.values() if c["verdict"] != "ok"]
served = [n for n, c in pc.items() if c["result"] == "served"]
refused = [n for n, c in pc.items() if c["result"] != "served"]
assert sorted(refused) == sorted(["v2-crc-bad", "v2-4097", "no-header", "v1-lf", "v1-port",
                                  "v2-tlv-overrun", "silent"]), refused
# Split headers are taken whole, whatever the pieces.
for n in ("v2-split-1", "v2-split-12", "v2-split-14", "v2-split-16", "v2-3-pieces"):
    assert "src=192.0.2.1:%d" % (50001 + list(pc).index(n)) in pc[n]["answer"], pc[n]
assert len(reports) == len(served)
by_src = {r["proxy"]["src"]: r for r in reports if r["proxy"]["src"]}
assert by_src["192.0.2.1:50003"]["proxy"]["version"] == 2
assert by_src["[::ffff:192.0.2.1]:50013"]["proxy"]["proto"] == "tcp6"
assert [r["proxy"]["command"] for r in reports].count("LOCAL") == 2
assert by_src["192.0.2.1:50015"]["proxy"]["tlvs"] == [{"type": 0x5a, "name": None, "length": 9, "hex": b"portscope".hex()}]
assert by_src["192.0.2.1:50019"]["proxy"]["length"] == 4095
# One line each, with the reason.
for why in ("CRC32c checksum does not match", "longer than the size limit", "neither \"PROXY \"",
            "CRLF required", "port not a decimal", "TLV runs past the end", "no whole PROXY header within 2 s"):
    assert err.count(why) == 1, why
assert pc["silent"]["result"] == "closed" and 1.8 <= pc["silent"]["after_s"] <= 3, pc["silent"]
PY
}

@test "proxy: a client that sends nothing, or half a header, is closed after --proxy-timeout; the server goes on" {
	start_server --proxy-protocol v2 --proxy-timeout 1.5 -f line 0
	run timeout 10 python3 - "$PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
def held(data):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(data)
    return s
silent, half = held(b""), held(bytes.fromhex("0d0a0d0a000d0a51"))
t0 = time.monotonic()
# Meanwhile another client is served.
c = socket.create_connection(("127.0.0.1", port))
c.sendall(bytes.fromhex("0d0a0d0a000d0a515549540a2111000cc0000201c000020213880050"))
assert c.makefile().readline().endswith(" src=192.0.2.1:5000 dst=192.0.2.2:80\n")
for s in (silent, half):
    s.settimeout(4)
    try:
        assert s.recv(100) == b""
    except ConnectionResetError:
        pass
    took = time.monotonic() - t0
    print("closed after %.2f s" % took)
    assert 1.3 <= took <= 2.5, took
PY
	echo "$output"
	[ "$status" -eq 0 ]
	stop_server INT
	cat "$TMP/err"
	[ "$(grep -c 'no whole PROXY header within 1.5 s: closed' "$TMP/err")" -eq 2 ]
	grep -q "served 1 connection, 2 refused: no PROXY header in time" "$TMP/err"
}

@test "proxy: a header that waits for its rest costs no CPU (SO_RCVLOWAT past the peeked bytes)" {
	start_server --proxy-protocol v2 --proxy-timeout 3 -f line 0
	ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"; }
	before=$(ticks)
	# 13 bytes of a header, then 2 s of silence, then the rest: one connection served.
	run timeout 10 "$PORTSCOPE" connect -f line --send-proxy v2 --pp-split 13 --pp-pause 2 "127.0.0.1:$PORT"
	echo "$output"
	after=$(ticks)
	echo "server CPU: $((after - before)) ticks"
	[[ $output == *" verdict=match" ]]
	# A loop woken for every turn would use the whole 2 s (about 200 ticks).
	[ $((after - before)) -le 20 ]
}

@test "proxy: --proxy-from: headers from elsewhere are refused and logged, from the list served" {
	start_server --proxy-protocol v1 --proxy-from 127.0.0.2/32,::1 -f line 0
	hdr=$(printf 'PROXY TCP4 192.0.2.1 192.0.2.2 5000 80\r\n' | od -An -tx1 | tr -d ' \n')
	run timeout 10 bash -c "$(declare -f client_from); client_from 127.0.0.1 $PORT $hdr"
	echo "$output"
	# Closed unread: EOF, or a reset if the header had arrived by then.
	[ "${lines[1]:-}" = "" ] || [ "${lines[1]}" = "(reset)" ]
	refused=${lines[0]}
	run timeout 10 bash -c "$(declare -f client_from); client_from 127.0.0.2 $PORT $hdr"
	echo "$output"
	[[ ${lines[1]} == "portscope/1 you=${lines[0]} "*" pp=1 pp_cmd=proxy pp_proto=tcp4 src=192.0.2.1:5000 dst=192.0.2.2:80" ]]
	stop_server INT
	cat "$TMP/err"
	grep -q "^portscope serve: $refused: not in --proxy-from 127.0.0.2/32,::1: no PROXY header is taken from it: closed$" "$TMP/err"
	grep -q "served 1 connection, 1 refused: not from --proxy-from" "$TMP/err"
	[ "$(wc -l <"$TMP/out")" -eq 1 ]
}

@test "proxy: bad headers of several kinds: one line each with the reason, closed, while a slow good one is served" {
	start_server --proxy-protocol any -f line 0
	run timeout 20 python3 - "$PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
good = socket.create_connection(("127.0.0.1", port))
good.sendall(b"PROXY TCP6 2001:db8::1 ")		# the rest comes after the bad ones
bad = [b"GET / HTTP/1.1\r\n\r\n", b"PROXY TCP4 192.0.2.1 192.0.2.2 5000 80\n",
       b"PROXY TCP5 192.0.2.1 192.0.2.2 5000 80\r\n", b"PROXY TCP4 192.0.2.1 2001:db8::1 5000 80\r\n",
       bytes.fromhex("0d0a0d0a000d0a515549540a3111000c") + bytes(12),
       bytes.fromhex("0d0a0d0a000d0a515549540a21110004") + bytes(4),
       b"PROXY TCP4 192.0.2.1 192.0.2.2 5000 80"]	# then closed
for b in bad:
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b)
    if b.endswith(b"80"):
        s.close()
        continue
    s.settimeout(3)
    try:
        assert s.recv(100) == b"", b
    except ConnectionResetError:
        pass
    s.close()
time.sleep(0.2)
good.sendall(b"2001:db8::2 5000 443\r\n")
print(good.makefile().readline().strip())
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *" pp=1 pp_cmd=proxy pp_proto=tcp6 src=[2001:db8::1]:5000 dst=[2001:db8::2]:443" ]]
	stop_server INT
	cat "$TMP/err"
	grep -q 'bad PROXY header: not a PROXY protocol header.*(18 bytes received): closed$' "$TMP/err"
	grep -q 'bad PROXY header: version 1 line with a CR or LF alone' "$TMP/err"
	grep -q 'bad PROXY header: version 1 protocol' "$TMP/err"
	grep -q 'bad PROXY header: version 1 address' "$TMP/err"
	grep -q 'bad PROXY header: .*version' "$TMP/err"
	grep -q 'bad PROXY header: .*address' "$TMP/err"
	grep -q 'closed by the client after 38 bytes, before a whole PROXY header: closed$' "$TMP/err"
	[ "$(grep -c 'bad PROXY header:' "$TMP/err")" -eq 6 ]
	grep -q "served 1 connection, 6 refused: bad PROXY header, 1 closed before a whole PROXY header" "$TMP/err"
}

@test "proxy: --keep answers every line with the header's keys; --workers serve headers too" {
	start_server --proxy-protocol v2 --keep -f line 0
	run timeout 10 python3 - "$PORT" <<'PY'
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(bytes.fromhex("0d0a0d0a000d0a515549540a2111000cc0000201c000020213880050") + b"again\n")
c.shutdown(socket.SHUT_WR)
lines = c.makefile().read().splitlines()
print("\n".join(lines))
assert len(lines) == 2 and all(l.endswith(" pp=2 pp_cmd=proxy pp_proto=tcp4 src=192.0.2.1:5000 dst=192.0.2.2:80") for l in lines)
PY
	echo "$output"
	[ "$status" -eq 0 ]
	stop_server INT
	start_server --proxy-protocol v1 --workers 2 -f line 0
	for i in 1 2 3 4; do
		run timeout 10 "$PORTSCOPE" connect -f line --send-proxy v1 --pp-src "192.0.2.$i:400$i" "127.0.0.1:$PORT"
		[[ $output == *"server_src=192.0.2.$i:400$i "* ]]
	done
	timeout 5 python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); s.sendall(b"nope\r\n"); s.recv(10)' "$PORT" || true
	stop_server INT
	cat "$TMP/err"
	grep -q "bad PROXY header" "$TMP/err"
	grep -q "served 4 connections, 1 refused: bad PROXY header" "$TMP/err"
}

@test "proxy: bad command lines" {
	run "$PORTSCOPE" serve --proxy-protocol v3
	[ "$status" -eq 2 ]
	[[ $output == *"bad --proxy-protocol 'v3': use v1, v2 or any"* ]]
	run "$PORTSCOPE" serve --proxy-from 10.0.0.0/8 0
	[ "$status" -eq 2 ]
	[[ $output == *"--proxy-protocol"* ]]
	run "$PORTSCOPE" serve --proxy-protocol v1 --proxy-from 10.0.0.0/33 0
	[ "$status" -eq 2 ]
	[[ $output == *"'10.0.0.0/33' is not ADDRESS or ADDRESS/BITS"* ]]
	run "$PORTSCOPE" serve --proxy-protocol v1 --proxy-max 15 0
	[ "$status" -eq 2 ]
	for bad in '10.0.0.0/ 8' '10.0.0.0/-0' '10.0.0.0/+8' '10.0.0.0/' '::1/0128'; do
		run timeout 5 "$PORTSCOPE" serve --proxy-protocol v1 --proxy-from "$bad" 127.0.0.1:0
		echo "$bad: $output"
		[ "$status" -eq 2 ]
		[[ $output == *"'$bad' is not ADDRESS or ADDRESS/BITS"* ]]
	done
	run "$PORTSCOPE" connect --send-proxy v1 --pp-tlv 0xe0=01 127.0.0.1:1
	[ "$status" -eq 2 ]
	[[ $output == *"need --send-proxy v2"* ]]
	run "$PORTSCOPE" connect --pp-crc32c 127.0.0.1:1
	[ "$status" -eq 2 ]
	run "$PORTSCOPE" connect --send-proxy v2 --pp-tlv 0xe0=0 127.0.0.1:1
	[ "$status" -eq 2 ]
	[[ $output == *"bad TLV value"* ]]
	run "$PORTSCOPE" connect --send-proxy v2 --pp-split 12,1 127.0.0.1:1
	[ "$status" -eq 2 ]
	[[ $output == *"bad split '12,1'"* ]]
	run "$PORTSCOPE" connect --send-proxy v2 --pp-src nowhere 127.0.0.1:1
	[ "$status" -eq 2 ]
	run "$PORTSCOPE" connect --send-proxy v2 -n 2 127.0.0.1:1
	[ "$status" -eq 2 ]
}

@test "proxy: over IPv6 (::1 is in the default --proxy-from): a TCP6 header of this client's own 4-tuple, and 127.0.0.1 refused by a v6-only list" {
	start_server --proxy-protocol v2 -f json '[::1]:0'
	run timeout 10 "$PORTSCOPE" connect -f json --send-proxy v2 "[::1]:$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	python3 - "$output" "$TMP/out" <<'PY'
import json, sys
c = json.loads(sys.argv[1])
r = json.loads(open(sys.argv[2]).readline())
assert c["verdict"] == "match", c
assert c["server"]["proxy"] == {"version": 2, "command": "PROXY", "proto": "tcp6",
                                "src": c["socket"]["laddr"], "dst": c["socket"]["raddr"]}, c
assert r["proxy"]["src"] == c["socket"]["laddr"] and r["raddr"] == c["socket"]["laddr"], r
PY
	stop_server INT
	start_server --proxy-protocol v1 --proxy-from ::1 -f line 127.0.0.1:0
	run timeout 10 "$PORTSCOPE" connect --send-proxy v1 "127.0.0.1:$PORT"
	stop_server INT
	grep -q "not in --proxy-from ::1: no PROXY header is taken from it: closed$" "$TMP/err"
}

@test "proxy: connect sends what was asked or nothing: mixed families go as IPv6 with the IPv4 one mapped, a bad CRC32C TLV or a cut past the end is refused before anything is sent" {
	start_server --proxy-protocol any -f line 127.0.0.1:0
	# --pp-src IPv6 over an IPv4 connection: both IPv6, the connection's own address mapped (as HAProxy sends it).
	run timeout 10 "$PORTSCOPE" connect -f line --send-proxy v1 --pp-src '[::1]:5' "127.0.0.1:$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *" server_pp=1 server_src=[::1]:5 server_dst=[::ffff:127.0.0.1]:$PORT "* ]]
	run timeout 10 "$PORTSCOPE" connect -f line --send-proxy v2 --pp-src '[2001:db8::7]:9' "127.0.0.1:$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *" server_pp=2 server_src=[2001:db8::7]:9 server_dst=[::ffff:127.0.0.1]:$PORT "* ]]
	# A CRC32C TLV of 2 bytes: refused on the command line, no connection made.
	run timeout 10 "$PORTSCOPE" connect --send-proxy v2 --pp-tlv 3=0000 "127.0.0.1:$PORT"
	echo "$output"
	[ "$status" -eq 2 ]
	[[ ${lines[0]} == *"bad --pp-tlv CRC32C: its value is 4 bytes"* ]]
	# A cut after byte 100 of a 28-byte header: refused once the length is known, nothing sent.
	run timeout 10 "$PORTSCOPE" connect --send-proxy v2 --pp-split 100 "127.0.0.1:$PORT"
	echo "$output"
	[ "$status" -eq 2 ]
	[[ ${lines[0]} == *"bad --pp-split: a cut after byte 100, but the header is 28 bytes"* ]]
	run "$PORTSCOPE" connect --send-proxy v2 --pp-pause 1 "127.0.0.1:$PORT"
	[ "$status" -eq 2 ]
	[[ $output == *"--pp-pause goes with --pp-split"* ]]
	stop_server INT
	cat "$TMP/err"
	# Two served; the cut past the end connected and sent nothing (a close, not a bad header).
	grep -q "served 2 connections, 1 closed before a whole PROXY header" "$TMP/err"
	! grep -q "bad PROXY header" "$TMP/err"
}

@test "proxy: connect --pp-local sends what proxies' health checks send: LOCAL, UNSPEC, no addresses (python3 reads the bytes)" {
	run timeout 10 python3 - "$PORTSCOPE" <<'PY'
import socket, subprocess, sys
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(1)
p = subprocess.Popen([sys.argv[1], "connect", "-r", "0.2", "--send-proxy", "v2", "--pp-local",
                      "127.0.0.1:%d" % l.getsockname()[1]], stdout=subprocess.DEVNULL)
c, _ = l.accept()
c.settimeout(5)
got = b""
while len(got) < 17:
    b = c.recv(100)
    if not b:
        break
    got += b
p.wait(5)
print(got.hex())
assert got == bytes.fromhex("0d0a0d0a000d0a515549540a") + b"\x20\x00\x00\x00", got
PY
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "proxy: a large header in one-byte segments costs no CPU and is taken whole (the kernel wakes below SO_RCVLOWAT under memory pressure)" {
	start_server --proxy-protocol v2 --proxy-max 65551 --proxy-timeout 20 -f line 0
	ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"; }
	before=$(ticks)
	# A v2 header of 16000 bytes (an application TLV), one byte a segment, in 100 bursts over 3 s.
	run timeout 30 python3 - "$PORT" <<'PY'
import socket, struct, sys, time
n = 16000
value = b"x" * (n - 16 - 12 - 3)
body = bytes([192, 0, 2, 1, 192, 0, 2, 2]) + struct.pack(">HH", 50000, 80) + b"\xe0" + struct.pack(">H", len(value)) + value
hdr = bytes.fromhex("0d0a0d0a000d0a515549540a2111") + struct.pack(">H", len(body)) + body
assert len(hdr) == n
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for i in range(0, n, n // 100):
    for j in range(i, min(i + n // 100, n)):
        s.send(hdr[j:j + 1])
    time.sleep(0.03)
s.settimeout(10)
print(s.makefile().readline().strip())
PY
	echo "$output"
	after=$(ticks)
	echo "server CPU: $((after - before)) ticks"
	[ "$status" -eq 0 ]
	[[ $output == *" src=192.0.2.1:50000 dst=192.0.2.2:80" ]]
	# Peeking without end, woken at every segment, used 50 to 150 ticks of the 3 s.
	[ $((after - before)) -le 25 ]
	stop_server INT
	grep -q "pp_len=16000" "$TMP/out"
}

# burst PORT N: N connections that each send a bad header and wait for the close.
burst() {
	timeout 20 python3 - "$1" "$2" <<'PY'
import socket, sys
socks = []
for i in range(int(sys.argv[2])):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    socks.append(s)
for s in socks:
    s.settimeout(5)
    try:
        s.recv(10)
    except OSError:
        pass
PY
}

# refusals_said FILE: the refusals logged one a line plus those counted in "N more" lines.
refusals_said() {
	awk '/: bad PROXY header: / { n++ } / more connections? refused for (its|their) PROXY header/ { n += $3 } END { print n + 0 }' "$1"
}

@test "proxy: refusals past 20 a second are counted, and the count is said when the second is over and at exit" {
	start_server --proxy-protocol v1 -f line 0
	burst "$PORT" 50
	# No refusal follows the burst: the count comes from a timer within about a second.
	wait_for_line "$TMP/err" "more connections* refused for" 3
	cat "$TMP/err"
	[ "$(refusals_said "$TMP/err")" -eq 50 ]
	[ "$(grep -c 'bad PROXY header' "$TMP/err")" -le 40 ]
	stop_server INT
	# At exit: the server stopped right after a burst says its count before the summary.
	start_server --proxy-protocol v1 -f line 0
	burst "$PORT" 50
	stop_server INT
	cat "$TMP/err"
	[ "$(refusals_said "$TMP/err")" -eq 50 ]
	# ... before the summary, the server's last line.
	tail -1 "$TMP/err" | grep -q "served 0 connections, 50 refused: bad PROXY header"
}

@test "proxy: --proxy-from is one rule for both families: ::ffff:127.0.0.1 and ::/0 take 127.0.0.1 (RFC 4291's mapped form)" {
	start_server --proxy-protocol v1 --proxy-from ::ffff:127.0.0.1 -f line 127.0.0.1:0
	run timeout 10 "$PORTSCOPE" connect -f line --send-proxy v1 --pp-src 192.0.2.5:5 "127.0.0.1:$PORT"
	echo "$output"
	[[ $output == *" server_src=192.0.2.5:5 "* ]]
	stop_server INT
	start_server --proxy-protocol v1 --proxy-from ::/0 -f line 127.0.0.1:0
	run timeout 10 "$PORTSCOPE" connect -f line --send-proxy v1 --pp-src 192.0.2.6:6 "127.0.0.1:$PORT"
	echo "$output"
	[[ $output == *" server_src=192.0.2.6:6 "* ]]
	stop_server INT
	start_server --proxy-protocol v1 --proxy-from ::ffff:127.0.0.0/104 -f line 127.0.0.1:0
	run timeout 10 "$PORTSCOPE" connect -f line --send-proxy v1 --pp-src 192.0.2.6:6 "127.0.0.1:$PORT"
	echo "$output"
	[[ $output == *" server_src=192.0.2.6:6 "* ]]
	stop_server INT
	start_server --proxy-protocol v1 --proxy-from ::ffff:127.0.0.0/104,127.0.0.0/8 -f line '[::1]:0'
	run timeout 10 "$PORTSCOPE" connect -f line --send-proxy v1 --pp-src '[::2]:7' "[::1]:$PORT"
	stop_server INT
	cat "$TMP/err"
	# ... and neither takes ::1, which is no IPv4 address.
	grep -q "^portscope serve: \[::1\]:[0-9]*: not in --proxy-from ::ffff:127.0.0.0/104,127.0.0.0/8" "$TMP/err"
}

@test "proxy: a refusal names the option behind it: --proxy-max for a v1 line over a small cap, the versions for one not accepted" {
	start_server --proxy-protocol v1 --proxy-max 40 -f line 127.0.0.1:0
	# 46 bytes (python3 counts them), with its CRLF.
	line='PROXY TCP4 192.0.2.100 192.0.2.200 50000 443'
	[ "$(python3 -c 'import sys; print(len(sys.argv[1]) + 2)' "$line")" -eq 46 ]
	timeout 5 python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); s.sendall(sys.argv[2].encode()+b"\r\n"); s.recv(10)' "$PORT" "$line" || true
	run timeout 10 "$PORTSCOPE" connect --send-proxy v2 "127.0.0.1:$PORT"
	stop_server INT
	cat "$TMP/err"
	grep -q "bad PROXY header: PROXY protocol header longer than the size limit: --proxy-max 40 (40 bytes received): closed$" "$TMP/err"
	grep -q "bad PROXY header: a PROXY protocol version this receiver does not accept: version 2 sent, --proxy-protocol v1 (" "$TMP/err"
}

# send_hex PORT HEX: one connection that sends HEX and prints the answer's first line.
send_hex() {
	timeout 10 python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); s.sendall(bytes.fromhex(sys.argv[2])); s.settimeout(5); print(s.makefile().readline().strip())' "$1" "$2"
}

@test "proxy: an AF_UNIX v2 header shows its two paths (seed, line, json); LOCAL headers with padding or an unlisted family are taken and skipped (spec 2.2)" {
	sig=0d0a0d0a000d0a515549540a
	path() { python3 -c 'import sys; print((sys.argv[1].encode() + bytes(108 - len(sys.argv[1]))).hex())' "$1"; }
	unix_hdr=${sig}2131$(printf '%04x' 216)$(path /run/a.sock)$(path /run/b.sock)
	start_server --proxy-protocol v2 -f line 127.0.0.1:0
	run send_hex "$PORT" "$unix_hdr"
	echo "$output"
	[[ $output == *" pp=2 pp_cmd=proxy pp_proto=unix_stream" ]]
	# LOCAL, no family, 2 bytes of padding; LOCAL TCP4 and 2 stray bytes; LOCAL \x10 with 12 address bytes.
	run send_hex "$PORT" "${sig}20000002ffff"
	[[ $output == *" pp=2 pp_cmd=local pp_proto=unspec" ]]
	run send_hex "$PORT" "${sig}2011000ec0000201c000020213880050abcd"
	[[ $output == *" pp=2 pp_cmd=local pp_proto=tcp4" ]]
	run send_hex "$PORT" "${sig}2010000cc0000201c000020213880050"
	[[ $output == *" pp=2 pp_cmd=local pp_proto=unspec" ]]
	stop_server INT
	cat "$TMP/out"
	grep -q " pp=2 pp_cmd=proxy pp_proto=unix_stream pp_src=/run/a.sock pp_dst=/run/b.sock pp_len=232" "$TMP/out"
	[ "$(grep -c ' pp_cmd=local pp_proto=unspec' "$TMP/out")" -eq 2 ]
	start_server --proxy-protocol v2 -f json 127.0.0.1:0
	run send_hex "$PORT" "$unix_hdr"
	stop_server INT
	python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).readline())["proxy"]; assert (r["proto"], r["src"], r["dst"]) == ("unix_stream", "/run/a.sock", "/run/b.sock"), r' "$TMP/out"
	start_server --proxy-protocol v2 127.0.0.1:0
	run send_hex "$PORT" "$unix_hdr"
	stop_server INT
	cat "$TMP/out"
	grep -A3 "PROXY protocol v2 header, unix_stream: the proxy says the client is" "$TMP/out" | tr '\n' '|' | grep -q "is|/run/a.sock|and that the client connected to|/run/b.sock|"
}
