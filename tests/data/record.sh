#!/usr/bin/env bash
# Re-records the live inputs in tests/data/: netlink/ls-basic.nldump with its expected
# replay output, and the /proc/net samples in proc/good/.  Run from the
# repository root after `make` (it needs build/portscope and python3, and
# loopback with IPv6).  Every process it starts is ended by its pid on exit.
#
# The sockets, all on one port P the kernel picks:
#   tcp  127.0.0.1:P      LISTEN (portscope serve --keep), and 3 accepted connections
#   tcp  2 bash clients   127.0.0.1:x -> 127.0.0.1:P
#   tcp6 [::1]:P          LISTEN (a second portscope serve --keep)
#   tcp6 a python client  [::ffff:127.0.0.1]:y -> [::ffff:127.0.0.1]:P (IPv4-mapped)
#   udp  127.0.0.1:P      bound (UNCONN), and a bash client 127.0.0.1:z -> 127.0.0.1:P
#   udp6 [::1]:P          bound (UNCONN)
set -euo pipefail

bin=build/portscope
out=tests/data
dump=$out/netlink/ls-basic.nldump
pids=()
tmp=$(mktemp -d)

cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

# Waits for the line "portscope: listening on ADDR:PORT" in $1 and prints PORT.
listening_port() {
	for _ in $(seq 100); do
		p=$(sed -n 's/^portscope: listening on .*:\([0-9][0-9]*\)$/\1/p' "$1" | head -1)
		if [ -n "$p" ]; then
			echo "$p"
			return 0
		fi
		sleep 0.05
	done
	echo "record.sh: no listening line in $1" >&2
	return 1
}

"$bin" serve 127.0.0.1:0 --keep >/dev/null 2>"$tmp/serve4" &
pids+=($!)
port=$(listening_port "$tmp/serve4")
"$bin" serve "[::1]:$port" --keep >/dev/null 2>"$tmp/serve6" &
pids+=($!)
listening_port "$tmp/serve6" >/dev/null

# The sockets portscope serve cannot make: bound UDP and an IPv4-mapped client.
python3 - "$port" >"$tmp/py" <<'EOF' &
import socket, sys, time
port = int(sys.argv[1])
u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u4.bind(("127.0.0.1", port))
u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u6.bind(("::1", port))
m = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
m.connect(("::ffff:127.0.0.1", port))
print("ready", flush=True)
time.sleep(60)
EOF
pids+=($!)
for _ in $(seq 100); do
	grep -q ready "$tmp/py" && break
	sleep 0.05
done
grep -q ready "$tmp/py"

exec {c1}<>"/dev/tcp/127.0.0.1/$port"
exec {c2}<>"/dev/tcp/127.0.0.1/$port"
exec {u1}<>"/dev/udp/127.0.0.1/$port"
sleep 0.5 # the servers accept and write their portscope/1 line

mkdir -p "$out/netlink"
"$bin" ls --dump "$dump" "$port" >/dev/null
hexport=$(printf '%04X' "$port")
mkdir -p "$out/proc/good"
for f in tcp tcp6 udp udp6; do
	# The header, and only our sockets: the rest of the machine is not deterministic.
	awk -v p=":$hexport" 'NR == 1 || substr($2, length($2) - 4) == p || substr($3, length($3) - 4) == p' \
		"/proc/net/$f" >"$out/proc/good/$f"
done
exec {c1}>&- {c2}>&- {u1}>&-

"$bin" ls --replay "$dump" "$port" >"$out/ls-basic.expected"
"$bin" ls --replay "$dump" -f json "$port" >"$out/ls-basic.json"
"$bin" ls --replay "$dump" -e >"$out/ls-basic-all.expected"
echo "recorded port $port: $(wc -c <"$dump") bytes of netlink dump"
