#!/usr/bin/env bats
# portscope proxycheck: the table of PROXY protocol cases, against a scripted python3
# receiver (what each case sends, read and checked by python3's own parser of the
# specification, and each outcome the receiver chose, reported as it was), against nginx
# (stream, `listen ... proxy_protocol`) and against HAProxy (`bind ... accept-proxy`).

load helpers

# free_port: a port the kernel chose for a socket that python3 bound and let go.
# (nginx and HAProxy refuse port 0 in their configuration.)
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT SECS: waits until something listens on 127.0.0.1:PORT (per ss).
wait_port() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		[ -n "$(ss -Hltn "sport = :$1")" ] && return 0
		sleep 0.05
	done
	echo "nothing listens on port $1 after $2 s" >&2
	return 1
}

# The receiver: for its connection number K (0, 1, ... in the order proxycheck makes
# them, one at a time), reads until the client has been quiet for 0.35 s, records every
# read (time, bytes), then does ACTIONS[K % 4]: answer "ok K" and close, close, reset
# (SO_LINGER 0), or hold the connection 2 s without a word.  Each connection is one JSON
# line in $TMP/recv.jsonl.  Prints its port first.
start_receiver() {
	cat >"$TMP/recv.py" <<'PY'
import json, socket, struct, sys, threading, time
out = open(sys.argv[1], "a")
lock = threading.Lock()
ACTIONS = ["serve", "close", "reset", "hang"]
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(64)
print(ls.getsockname()[1], flush=True)

def handle(c, k):
    t0 = time.monotonic()
    reads, data = [], b""
    c.settimeout(0.35)
    while True:
        try:
            d = c.recv(65536)
        except socket.timeout:
            break
        except OSError:
            break
        if not d:
            break
        reads.append([round(time.monotonic() - t0, 3), len(d)])
        data += d
    action = ACTIONS[k % 4]
    try:
        if action == "serve":
            c.sendall(b"ok %d\n" % k)
        elif action == "reset":
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif action == "hang":
            time.sleep(2)
    except OSError:
        pass
    c.close()
    with lock:
        out.write(json.dumps({"k": k, "action": action, "reads": reads, "data": data.hex()}) + "\n")
        out.flush()

k = 0
while True:
    c, _ = ls.accept()
    threading.Thread(target=handle, args=(c, k), daemon=True).start()
    k += 1
PY
	spawn "$TMP/recv.port" python3 "$TMP/recv.py" "$TMP/recv.jsonl"
	wait_for_line "$TMP/recv.port" '^[0-9]' 5
	RPORT=$(head -1 "$TMP/recv.port")
}

@test "proxycheck: each case sends what its name says (read by python3), and each outcome is reported as the receiver chose it" {
	start_receiver
	run timeout 120 "$PORTSCOPE" proxycheck -f json -r 1 --silent-wait 1 --pause 0.2 "127.0.0.1:$RPORT"
	echo "$output"
	[ "$status" -eq 0 ]
	echo "$output" >"$TMP/pc.json"
	# Every connection is recorded once its handler is done (a held one after 2 s).
	ncases=$("$PORTSCOPE" proxycheck --list | wc -l)
	wait_for_count "$TMP/recv.jsonl" '"k"' "$ncases" 10
	python3 - "$TMP/pc.json" "$TMP/recv.jsonl" <<'PY'
import json, struct, sys
pc = json.load(open(sys.argv[1]))
recv = {r["k"]: r for r in map(json.loads, open(sys.argv[2]))}
SIG = bytes.fromhex("0d0a0d0a000d0a515549540a")
def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF
def v2(d):
    """The spec's fields of a v2 header, and the TLVs after the addresses."""
    assert d[:12] == SIG, d[:16].hex()
    ver_cmd, fam, ln = d[12], d[13], struct.unpack(">H", d[14:16])[0]
    body = d[16:16 + ln]
    alen = {0x00: 0, 0x11: 12, 0x21: 36}[fam] if ver_cmd & 0xF else (12 if fam == 0x11 else 0)
    return ver_cmd, fam, ln, body[:alen], body[alen:]
def tlvs(b):
    out = []
    while b:
        t, l = b[0], struct.unpack(">H", b[1:3])[0]
        out.append((t, l, b[3:3 + l]))
        b = b[3 + l:]
    return out
want_result = {"serve": "served", "close": "closed", "reset": "reset", "hang": "timed out"}
assert pc["ran"] == len(pc["cases"]) == len(recv), (pc["ran"], len(recv))
for i, c in enumerate(pc["cases"]):
    r = recv[i]
    d = bytes.fromhex(r["data"])
    name, port = c["case"], 50000 + i + 1
    sizes = [n for _, n in r["reads"]]
    print(name, r["action"], c["result"], sizes, d[:20])
    # The outcome the receiver chose; "silent" sent nothing, so it is judged the same way.
    assert c["result"] == want_result[r["action"]], (name, c["result"], r["action"])
    if r["action"] == "serve":
        assert c["answer"] == "ok %d\n" % i, c["answer"]
    tcp4 = bytes([192, 0, 2, 1, 192, 0, 2, 2]) + struct.pack(">HH", port, 443)
    if name == "v1":
        assert d == b"PROXY TCP4 192.0.2.1 192.0.2.2 %d 443\r\n" % port, d
    elif name == "v1-unknown":
        assert d == b"PROXY UNKNOWN\r\n", d
    elif name == "v1-lf":
        assert d == b"PROXY TCP4 192.0.2.1 192.0.2.2 %d 443\n" % port, d
    elif name == "v1-port":
        assert d == b"PROXY TCP4 192.0.2.1 192.0.2.2 65536 443\r\n", d
    elif name == "no-header":
        assert d == b"GET / HTTP/1.0\r\n\r\n", d
    elif name == "silent":
        assert d == b"", d
    else:
        vc, fam, ln, addr, rest = v2(d)
        body_len = len(d) - 16
        if name == "v2-with-data":
            assert d[28:] == b"GET / HTTP/1.0\r\n\r\n", d[28:]
            body_len = 12
        assert ln == body_len, (name, ln, body_len)
        if name in ("v2", "v2-with-data") or name.startswith("v2-split") or name == "v2-3-pieces":
            assert (vc, fam, addr, rest) == (0x21, 0x11, tcp4, b""), (name, d.hex())
        if name.startswith("v2-split-"):
            cut = int(name[9:])
            assert sizes == [cut, 28 - cut], (name, r["reads"])
            assert r["reads"][1][0] - r["reads"][0][0] >= 0.15, r["reads"]
        if name == "v2-3-pieces":
            assert sizes == [5, 15, 8], r["reads"]
        if name == "v2-local":
            assert (vc, fam, ln) == (0x20, 0x00, 0), d.hex()
        if name == "v2-local-addr":
            assert (vc, fam, addr, rest) == (0x20, 0x11, tcp4, b""), d.hex()
        if name == "v2-unspec":
            assert (vc, fam, ln) == (0x21, 0x00, 0), d.hex()
        if name == "v2-tcp6-mapped":
            mapped = lambda a: bytes(10) + b"\xff\xff" + bytes(a)
            assert (vc, fam) == (0x21, 0x21)
            assert addr == mapped([192, 0, 2, 1]) + mapped([192, 0, 2, 2]) + struct.pack(">HH", port, 443)
        if name == "v2-tlv-empty":
            assert tlvs(rest) == [(0x04, 0, b"")], rest.hex()
        if name == "v2-tlv-unknown":
            assert tlvs(rest) == [(0x5a, 9, b"portscope")], rest.hex()
        if name.startswith("v2-crc-"):
            (t, l, v), = tlvs(rest)
            assert (t, l) == (0x03, 4)
            zeroed = d[:-4] + b"\0\0\0\0"
            good = struct.unpack(">I", v)[0] == crc32c(zeroed)
            assert good == (name == "v2-crc-good"), name
        if name in ("v2-108", "v2-4095", "v2-4097"):
            assert len(d) == int(name[3:]), (name, len(d))
            assert [t for t, _, _ in tlvs(rest)] == [0x04]
        if name == "v2-tlv-overrun":
            assert rest[0] == 0x04 and struct.unpack(">H", rest[1:3])[0] > len(rest) - 3, rest.hex()
print("all", len(recv), "cases checked")
PY
}

@test "proxycheck: text table, one row per case, the count of those that differ" {
	start_receiver
	run timeout 60 "$PORTSCOPE" proxycheck -r 1 --case v2 --case v2-local --case no-header "127.0.0.1:$RPORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 6 ]
	[[ ${lines[0]} == "proxycheck 127.0.0.1:$RPORT (127.0.0.1:$RPORT): "* ]]
	# Connection 0 is answered ("serve"), 1 closed, 2 reset (the receiver's script).
	[[ ${lines[2]} =~ ^v2\ +v2\ PROXY\ TCP4,\ whole\ +accept\ served\ .*\ ok\ +ok\ 0$ ]]
	[[ ${lines[3]} =~ ^v2-local\ .*\ accept\ closed\ .*\ differs\ *$ ]]
	[[ ${lines[4]} =~ ^no-header\ .*\ refuse\ reset\ .*\ ok\ *$ ]]
	[ "${lines[5]}" = "3 cases: 2 as the specification expects, 1 differ" ]
}

@test "proxycheck: bad command lines and a receiver that is not there" {
	run "$PORTSCOPE" proxycheck
	[ "$status" -eq 2 ]
	[[ $output == *"an ENDPOINT is required"* ]]
	run "$PORTSCOPE" proxycheck --case nosuch 127.0.0.1:1
	[ "$status" -eq 2 ]
	[[ $output == *"unknown case 'nosuch'"* ]]
	run "$PORTSCOPE" proxycheck -f yaml 127.0.0.1:1
	[ "$status" -eq 2 ]
	run "$PORTSCOPE" proxycheck 127.0.0.1:0
	[ "$status" -eq 2 ]
	run "$PORTSCOPE" proxycheck --list 127.0.0.1:1
	[ "$status" -eq 2 ]
	run "$PORTSCOPE" proxycheck -f json --list
	[ "$status" -eq 0 ]
	python3 -c 'import json, sys; d = json.loads(sys.argv[1]); assert d["cases"][0] == {"case": "v1", "sent": "v1 TCP4, whole", "expect": "accept"}, d' "$output"
	# A port where nothing listens: one attempt, connect's words and exit status (3: refused), no table.
	port=$(free_port)
	run timeout 30 "$PORTSCOPE" proxycheck "127.0.0.1:$port"
	echo "$output"
	[ "$status" -eq 3 ]
	[ "${#lines[@]}" -eq 1 ]
	[ "$output" = "portscope proxycheck: connect 127.0.0.1:$port: Connection refused (a reset came back: nothing listens there, or a firewall answered with a reset)" ]
	run timeout 30 "$PORTSCOPE" connect "127.0.0.1:$port"
	[ "$status" -eq 3 ]
	run timeout 30 "$PORTSCOPE" proxycheck -f json "127.0.0.1:$port"
	[ "$status" -eq 3 ]
	[ "${#lines[@]}" -eq 1 ]
}

@test "proxycheck: a portscope server without --proxy-protocol took no header: every case it answers differs" {
	start_server -f line 127.0.0.1:0
	run timeout 60 "$PORTSCOPE" proxycheck -r 0.5 --silent-wait 1 --case v1 --case v2 --case v2-split-12 "127.0.0.1:$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[2]} =~ ^v1\ .*\ served\ .*\ differs\ portscope/1\ without\ pp=,\ you=127\.0\.0\.1:[0-9]+:\ took\ no\ header$ ]]
	[[ ${lines[3]} =~ ^v2\ .*\ differs\ portscope/1\ without ]]
	[[ ${lines[4]} =~ ^v2-split-12\ .*\ differs\ portscope/1\ without ]]
	[ "${lines[5]}" = "3 cases: 0 as the specification expects, 3 differ" ]
	# The columns line up: "verdict" starts where each row's verdict does.
	head=${lines[1]%%verdict*}
	row=${lines[2]%%differs*}
	[ "${#head}" -eq "${#row}" ]
	stop_server INT
}

# start_nginx: nginx's stream module in front of nothing: `listen ... proxy_protocol`
# and `return` of what the header said; a 2 s header deadline.  Sets NPORT, NGINX_PID.
start_nginx() {
	local nginx mod=/usr/lib/nginx/modules/ngx_stream_module.so try
	nginx=$(command -v nginx || echo /usr/sbin/nginx)
	[ -x "$nginx" ] && [ -f "$mod" ] || skip "needs nginx and its stream module (tests/deps.sh installs them)"
	for try in 1 2 3; do
		NPORT=$(free_port)
		cat >"$TMP/nginx.conf" <<EOF
daemon off;
master_process off;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log info;
load_module $mod;
events {}
stream {
    log_format pp '\$proxy_protocol_addr:\$proxy_protocol_port \$remote_addr \$status';
    access_log $TMP/nginx-access.log pp;
    server {
        listen 127.0.0.1:$NPORT proxy_protocol;
        proxy_protocol_timeout 2s;
        return "\$proxy_protocol_addr:\$proxy_protocol_port\n";
    }
}
EOF
		spawn "$TMP/nginx.out" "$nginx" -p "$TMP" -c "$TMP/nginx.conf"
		NGINX_PID=$SPAWNED
		wait_port "$NPORT" 5 && kill -0 "$NGINX_PID" && return 0
	done
	cat "$TMP/nginx-error.log" >&2
	return 1
}

@test "proxycheck against nginx (stream, proxy_protocol): whole headers served, split ones reset, the deadline closes a silent client" {
	start_nginx
	run timeout 120 "$PORTSCOPE" proxycheck -f json -r 1 --silent-wait 5 "127.0.0.1:$NPORT"
	echo "$output"
	[ "$status" -eq 0 ]
	echo "$output" >"$TMP/pc.json"
	kill -TERM "$NGINX_PID"
	wait_pid "$NGINX_PID" 5
	cat "$TMP/nginx-access.log"
	python3 - "$TMP/pc.json" "$TMP/nginx-access.log" <<'PY'
import json, sys
pc = {c["case"]: c for c in json.load(open(sys.argv[1]))["cases"]}
log = open(sys.argv[2]).read()
def res(n): return pc[n]["result"]
# What nginx answered is what its own access log says the header said.
for n, src in [("v1", "192.0.2.1:50001"), ("v2", "192.0.2.1:50003"),
               ("v2-tcp6-mapped", "::ffff:192.0.2.1:50013")]:
    assert res(n) == "served" and pc[n]["answer"] == src + "\n", (n, pc[n])
    assert src + " 127.0.0.1 200" in log, src
# nginx 1.22 reads the header in one peek of at most 107 bytes: a split v2 header,
# or one over 107 bytes, is refused, and closing with the bytes unread is a reset.
for n in ("v2-split-1", "v2-split-12", "v2-split-14", "v2-split-16", "v2-3-pieces",
          "v2-108", "v2-4095", "v2-4097"):
    assert res(n) == "reset", (n, pc[n])
assert log.count(" 400\n") >= 8
for n in ("v2-with-data", "v2-local", "v2-local-addr", "v2-unspec", "v2-tlv-empty",
          "v2-tlv-unknown", "v2-crc-good", "v1-unknown"):
    assert res(n) == "served", (n, pc[n])
# It checks no CRC32c and skips the TLVs unread.
assert res("v2-crc-bad") == "served" and res("v2-tlv-overrun") == "served"
for n in ("no-header", "v1-lf", "v1-port"):
    assert res(n) in ("reset", "closed"), (n, pc[n])
# proxy_protocol_timeout 2s: the silent client is closed after 2 s.
assert res("silent") == "closed" and 1.8 <= pc["silent"]["after_s"] <= 3.5, pc["silent"]
PY
}

# start_haproxy: HAProxy 2.6, `bind ... accept-proxy`, mode tcp, to a python3 backend
# through `send-proxy`: the backend answers with the source of the v1 line HAProxy sends
# it, so each answer says what HAProxy took from the header.  Sets HPORT, HAPROXY_PID.
start_haproxy() {
	local haproxy try
	haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)
	[ -x "$haproxy" ] || skip "needs haproxy (tests/deps.sh installs it)"
	cat >"$TMP/backend.py" <<'PY'
import socket, threading
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(64)
print(ls.getsockname()[1], flush=True)
def serve(c):
    c.settimeout(5)
    buf = b""
    try:
        while b"\r\n" not in buf and len(buf) < 108:
            d = c.recv(108 - len(buf))
            if not d:
                break
            buf += d
        f = buf.split(b"\r\n")[0].split(b" ")
        c.sendall((f[2] + b":" + f[4] if len(f) == 6 else b"?") + b"\n")
    except OSError:
        pass
    c.close()
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
	spawn "$TMP/backend.port" python3 "$TMP/backend.py"
	wait_for_line "$TMP/backend.port" '^[0-9]' 5
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
    timeout client 2s
    timeout server 2s
frontend fe
    bind 127.0.0.1:$HPORT accept-proxy
    default_backend be
backend be
    server s1 127.0.0.1:$(head -1 "$TMP/backend.port") send-proxy
EOF
		spawn "$TMP/haproxy.log" "$haproxy" -db -f "$TMP/haproxy.cfg"
		HAPROXY_PID=$SPAWNED
		wait_port "$HPORT" 5 && kill -0 "$HAPROXY_PID" && return 0
	done
	return 1
}

@test "proxycheck against HAProxy (accept-proxy): its backend hears the header's source; splits and AF_UNSPEC refused; v1 port 65536 taken as 0" {
	start_haproxy
	run timeout 120 "$PORTSCOPE" proxycheck -f json -r 1 --silent-wait 5 "127.0.0.1:$HPORT"
	echo "$output"
	[ "$status" -eq 0 ]
	echo "$output" >"$TMP/pc.json"
	kill -TERM "$HAPROXY_PID"
	wait_pid "$HAPROXY_PID" 5 || true	# killed by SIGTERM: status 143
	! kill -0 "$HAPROXY_PID" 2>/dev/null
	cat "$TMP/haproxy.log"
	python3 - "$TMP/pc.json" "$TMP/haproxy.log" <<'PY'
import json, sys
pc = {c["case"]: c for c in json.load(open(sys.argv[1]))["cases"]}
log = open(sys.argv[2]).read()
def res(n): return pc[n]["result"]
# Served, and HAProxy's log and its backend both name the header's source.
for n, src in [("v1", "192.0.2.1:50001"), ("v2", "192.0.2.1:50003"),
               ("v2-tcp6-mapped", "::ffff:192.0.2.1:50013"), ("v2-crc-good", "192.0.2.1:50016"),
               ("v2-4095", "192.0.2.1:50019"), ("v2-4097", "192.0.2.1:50020")]:
    assert res(n) == "served" and pc[n]["answer"] == src + "\n", (n, pc[n])
    assert src + " [" in log, src
# LOCAL and UNKNOWN: the real connection's source (this client, on loopback).
for n in ("v2-local", "v2-local-addr", "v1-unknown"):
    assert res(n) == "served" and pc[n]["answer"].startswith("127.0.0.1:"), (n, pc[n])
# HAProxy 2.6 refuses a header that does not come whole ("Truncated PROXY protocol
# header received"), PROXY with AF_UNSPEC, a wrong CRC32c and a TLV overrun.
for n in ("v2-split-1", "v2-split-12", "v2-split-14", "v2-split-16", "v2-3-pieces"):
    assert res(n) in ("reset", "closed"), (n, pc[n])
assert log.count("Truncated PROXY protocol header received") >= 5
for n in ("v2-unspec", "v2-crc-bad", "v2-tlv-overrun", "no-header", "v1-lf"):
    assert res(n) in ("reset", "closed"), (n, pc[n])
# ... but takes v1's port 65536 as port 0.
assert res("v1-port") == "served" and pc["v1-port"]["answer"] == "192.0.2.1:0\n", pc["v1-port"]
# timeout client 2s bounds the wait for a header.
assert res("silent") == "closed" and 1.8 <= pc["silent"]["after_s"] <= 3.5, pc["silent"]
assert "Timeout while waiting for PROXY protocol header" in log
PY
}
