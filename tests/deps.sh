#!/bin/sh
# Makes sure the build libraries and the test-only tools are here: cmocka (unit tests), bats (end-to-end),
# and what the end-to-end tests use: prlimit, ip (namespaces), nft (firewall rules in them),
# python3 and jq (their JSON checks, and python3's own socket calls), tmux (a terminal
# for bench's live line and Ctrl-C), and the PROXY
# protocol peers (haproxy, nginx with its stream module): none of these may be missing,
# or the checks that need them would be skipped.
# As root it installs what is missing with apt-get; otherwise it prints the command.
# `deps.sh build` checks only what building the program needs: libmicrohttpd (exporter's
# HTTP) and ncurses (top), the only libraries beyond libc.
missing=""
[ -f /usr/include/microhttpd.h ] || missing="$missing libmicrohttpd-dev"
[ -f /usr/include/curses.h ] || missing="$missing libncurses-dev"
if [ "${1:-}" = build ]; then
	shift
	what="build packages"
else
what="test packages"
[ -f /usr/include/cmocka.h ] || missing="$missing libcmocka-dev"
command -v bats >/dev/null 2>&1 || missing="$missing bats"
command -v prlimit >/dev/null 2>&1 || missing="$missing util-linux"
command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
command -v nft >/dev/null 2>&1 || missing="$missing nftables"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
command -v jq >/dev/null 2>&1 || missing="$missing jq"
command -v tmux >/dev/null 2>&1 || missing="$missing tmux"
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing="$missing haproxy"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || missing="$missing libnginx-mod-stream"
# exporter's tests: promtool checks the exposition format, a real prometheus scrapes it,
# curl asks it over HTTP; top's: tmux runs it on a terminal.
command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v tmux >/dev/null 2>&1 || missing="$missing tmux"
command -v script >/dev/null 2>&1 || missing="$missing bsdutils"
fi
# Further commands named on the command line (valgrind), each from the package of its name.
for extra in "$@"; do
	command -v "$extra" >/dev/null 2>&1 || missing="$missing $extra"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "$what needed:$missing" >&2
	echo "run: sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "installing $what:$missing"
export DEBIAN_FRONTEND=noninteractive
# haproxy, nginx and prometheus are servers: their packages start them on install, nginx on port 80.
# The tests start their own; a policy-rc.d that says 101 (action not allowed) stops
# invoke-rc.d from starting the packaged ones, unless the machine has a policy already.
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d &&
		policy=/usr/sbin/policy-rc.d
	trap 'rm -f $policy' EXIT
fi
# shellcheck disable=SC2086
apt-get install -y -q $missing >/dev/null 2>&1 || {
	apt-get update -q >/dev/null 2>&1
	apt-get install -y -q $missing
} || { echo "apt-get install -y$missing failed" >&2; exit 1; }
