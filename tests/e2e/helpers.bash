# Shared by the end-to-end tests: start the real binary, read its port, stop it by pid.
# Every wait has a deadline; every test has BATS_TEST_TIMEOUT.

: "${PORTSCOPE:?set PORTSCOPE to the binary under test}"
: "${PSTEST:?set PSTEST to the pstest tool}"
PSHOSTILE=${PSHOSTILE:-$(dirname "$PSTEST")/pshostile}

# The program's command name as ls -p shows it: under valgrind, the tool's.
COMM=portscope
[ -n "${PORTSCOPE_VALGRIND:-}" ] && COMM=memcheck-amd64-

# no_pidfd: true under valgrind, which does not know pidfd_open (ls -o needs it);
# says so on the TAP stream, so that what was not checked is visible.
no_pidfd() {
	[ -n "${PORTSCOPE_VALGRIND:-}" ] || return 1
	echo "# not checked under valgrind (no pidfd_open): ls -o socket options" >&3
}
export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-60}

SERVER_PID=

setup() {
	TMP=$(mktemp -d "${BATS_TMPDIR:-/tmp}/portscope.XXXXXX")
}

teardown() {
	stop_server TERM
	local pid
	for pid in "${BG_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	[ -n "${NETNS:-}" ] && ip netns delete "$NETNS" 2>/dev/null
	[ -n "${NETNS_MORE:-}" ] && ip netns delete "$NETNS_MORE" 2>/dev/null
	# Every namespace a test makes is named portscope-...-$$ or ps...-$$, maybe with -N
	# after it (portscope-k-$$, ps-watch-$$-3), and $$ is the same in a subshell: one
	# made inside $(...) or `run`, whose name the test's NETNS never held, goes too.  Only
	# names of that form: a container runtime's (cni-..., netns-UUID) are never touched.
	local ns
	for ns in $(ip netns list 2>/dev/null | cut -d' ' -f1); do
		case $ns in
		portscope-*-"$$" | portscope-*-"$$"-[0-9]* | ps*-"$$" | ps*-"$$"-[0-9]*)
			ip netns delete "$ns" 2>/dev/null ;;
		esac
	done
	rm -rf "$TMP"
}

BG_PIDS=()
NETNS=
NETNS_MORE=

# spawn OUT CMD...: runs CMD in the background with stdout to OUT, to be killed
# by pid at teardown; sets SPAWNED to its pid.
spawn() {
	local out=$1
	shift
	# Emptied here, not only by the child's redirection: a wait that reads OUT at once
	# must not find what an earlier process left in it.
	: >"$out"
	"$@" >"$out" 2>>"$TMP/spawn.err" &
	SPAWNED=$!
	BG_PIDS+=("$SPAWNED")
}

# start_server ARGS...: runs `portscope serve ARGS` in the background and waits
# for its "listening on" line; sets SERVER_PID and PORT (the first listener's port).
# A port the kernel chose may still carry sockets of an earlier test (a client end
# in TIME_WAIT towards it, for one): tests count the sockets of PORT, so a port that
# is not clean is given back and another one asked for, up to 5 times.
start_server() {
	local try
	for try in 1 2 3 4 5; do
		# Emptied before the start: the child empties them only once it runs, and a
		# wait that read an earlier server's "listening on" there would take no port.
		: >"$TMP/out"
		: >"$TMP/err"
		"$PORTSCOPE" serve "$@" >"$TMP/out" 2>"$TMP/err" &
		SERVER_PID=$!
		server_listening || return 1
		kernel_chose_port "$@" || return 0
		port_clean "$PORT" && return 0
		echo "# port $PORT still carries sockets of an earlier test: another one" >&3
		stop_server KILL
	done
	echo "no clean port in 5 tries" >&2
	return 1
}

# kernel_chose_port ARGS...: true when an endpoint among ARGS asks for port 0.
kernel_chose_port() {
	local a
	for a in "$@"; do
		[[ $a == 0 || $a == *:0 ]] && return 0
	done
	return 1
}

# port_clean PORT: true when ss shows no TCP socket with PORT at either end other
# than listeners.
port_clean() {
	[ -z "$(ss -Htan "( sport = :$1 or dport = :$1 )" | grep -v '^LISTEN')" ]
}

# server_listening: waits for the server started as SERVER_PID (stderr in $TMP/err)
# to say it listens, and sets PORT (the first listener's) and LFD.
server_listening() {
	wait_for_line "$TMP/err" 'listening on' 5 || {
		cat "$TMP/err" >&2
		return 1
	}
	PORT=$(sed -n 's/^portscope: listening on .*:\([0-9][0-9]*\)$/\1/p' "$TMP/err" | head -1)
	# With --workers the parent holds no socket: LFD stays empty.
	LFD=$(first_socket_fd "$SERVER_PID" || true)
	[ -n "$PORT" ]
}

# first_socket_fd PID: the lowest descriptor of PID that is a socket.  Before any
# client comes, that is the server's listener (fd numbers depend on what the test
# runner leaves open, so they are read, not assumed).
first_socket_fd() {
	local f
	for f in $(ls "/proc/$1/fd" | sort -n); do
		case $(readlink "/proc/$1/fd/$f") in socket:*) echo "$f"; return 0 ;; esac
	done
	return 1
}

# wait_server_closed PORT SECS: waits until the kernel shows no connection on PORT that the
# server has yet to close (ESTABLISHED or CLOSE-WAIT on its side): clients that have closed
# are not "still open" in a summary only once the server has read their FIN (a server under
# valgrind may be a second behind).
wait_server_closed() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[ -z "$(ss -Htn state established state close-wait "( sport = :$1 )")" ] && return 0
		sleep 0.1
	done
	echo "the server still holds connections on port $1 after $2 s:" >&2
	ss -tn state established state close-wait "( sport = :$1 )" >&2
	return 1
}

# nft_counter NS: the packets the counter of NS's nftables ruleset has counted (the
# ruleset's one counter; nft(8) prints it as "counter packets N bytes M").
nft_counter() {
	ip netns exec "$1" nft list ruleset | sed -n 's/.*counter packets \([0-9]*\).*/\1/p'
}

# stop_server [SIGNAL]: signals the server by its pid and waits for it; sets SERVER_STATUS.
stop_server() {
	[ -n "$SERVER_PID" ] || return 0
	kill -"${1:-TERM}" "$SERVER_PID" 2>/dev/null
	SERVER_STATUS=0
	wait_pid "$SERVER_PID" 5 || SERVER_STATUS=$?
	SERVER_PID=
}

# wait_pid PID SECS: waits for a child to exit, killing it after SECS; returns its status.
wait_pid() {
	local pid=$1 i
	for ((i = 0; i < $2 * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid"; echo "pid $pid did not exit in $2 s" >&2; }
	wait "$pid"
}

# wait_for_line FILE PATTERN SECS: waits until FILE has a line matching PATTERN.
wait_for_line() {
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "no line matching '$2' in $1 after $3 s" >&2
	return 1
}

# wait_for_count FILE PATTERN N SECS: waits until FILE has N lines matching PATTERN.
wait_for_count() {
	local i
	for ((i = 0; i < $4 * 20; i++)); do
		[ "$(grep -c -- "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
		sleep 0.05
	done
	echo "fewer than $3 lines matching '$2' in $1 after $4 s" >&2
	return 1
}

# The seed block the note's Python server prints, for one connection.
# seed_block CONN_FD LISTEN_FD LOCAL_TUPLE PEER_TUPLE FAMILY
seed_block() {
	cat <<BLOCK
client address is
$4
<socket.socket fd=$1, family=AddressFamily.$5, type=SocketKind.SOCK_STREAM, proto=0, laddr=$3, raddr=$4>
<socket.socket fd=$2, family=AddressFamily.$5, type=SocketKind.SOCK_STREAM, proto=0, laddr=$3>
server listen socket is 
$3
server conn socket is 
$3
server conn socket connected to client socket 
$4
************************************************
BLOCK
}

# netns_linklocal: a network namespace of its own whose lo, up, also has the link-local
# address fe80::1/64 (lo does no duplicate address detection: usable at once); sets
# NETNS, removed at teardown.
netns_linklocal() {
	[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
	command -v ip >/dev/null || skip "needs ip"
	NETNS=portscope-ll-$$
	ip netns add "$NETNS"
	ip -n "$NETNS" link set lo up
	ip -n "$NETNS" addr add fe80::1/64 dev lo nodad
}
