/* portscope lab: the note itself, its two remarks, bind conflicts and SO_REUSEPORT. */
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lab.h"

#define CLIENTS 3

/* Experiment 1: one listener, several clients; every accepted socket has the listener's address. */
static void accept_family(struct lab *x, const struct lab_family *f)
{
	int lfd, c[CLIENTS], s[CLIENTS], same = 0, distinct = 0, matched = 0, port, kernel_rc;
	char buf[PSCOPE_ADDRSTRLEN], buf2[PSCOPE_ADDRSTRLEN], pred[LAB_TEXT], obs[LAB_TEXT];
	struct pscope_addr l, local[CLIENTS], peer[CLIENTS], mine[CLIENTS];
	struct lab_rows rows;

	for (int i = 0; i < CLIENTS; i++)
		c[i] = s[i] = -1;
	lab_addr(&l, f->loopback, 0);
	lfd = lab_listener(x, &l, 8, 0);
	if (lfd < 0 || pscope_sock_local(lfd, &l) < 0) {
		lab_broke(x, "listen on loopback, port 0", lfd < 0 ? lfd : -errno);
		goto out;
	}
	port = pscope_addr_port(&l);
	lab_say(x, "%s: the listener is fd %d on %s", f->label, lfd,
		lab_fmt(&l, buf, sizeof(buf)));
	for (int i = 0; i < CLIENTS; i++) {
		int rc;

		c[i] = lab_socket(x, f->family, SOCK_STREAM);
		rc = c[i] < 0 ? c[i] : lab_connect(x, c[i], &l, LAB_TIMEOUT_MS);
		if (rc == 0)
			rc = s[i] = lab_accept(x, lfd, LAB_TIMEOUT_MS);
		if (rc < 0 || pscope_sock_local(s[i], &local[i]) < 0 || pscope_sock_peer(s[i], &peer[i]) < 0 ||
		    pscope_sock_local(c[i], &mine[i]) < 0) {
			lab_broke(x, "connect a client and accept it", rc < 0 ? rc : -errno);
			goto out;
		}
		lab_say(x, "  accepted fd %d: local %s, peer %s (client fd %d calls itself %s)", s[i],
			lab_fmt(&local[i], buf, sizeof(buf)), lab_fmt(&peer[i], buf2, sizeof(buf2)), c[i],
			lab_fmt(&mine[i], buf2, sizeof(buf2)));
	}
	for (int i = 0; i < CLIENTS; i++) {
		bool dup = false;

		same += pscope_addr_same(&local[i], &l);
		matched += pscope_addr_same(&peer[i], &mine[i]);
		for (int j = 0; j < i; j++)
			dup |= pscope_addr_same(&peer[i], &peer[j]);
		distinct += !dup;
	}
	lab_fmt(&l, buf, sizeof(buf));
	snprintf(pred, sizeof(pred), "%d of %d have local address %s", CLIENTS, CLIENTS, buf);
	snprintf(obs, sizeof(obs), "%d of %d have local address %s", same, CLIENTS, buf);
	lab_check(x, "the accepted sockets' own address (getsockname)",
		  "accept(2), DESCRIPTION; RFC 9293: a pair of sockets identifies a connection", pred, obs);
	snprintf(pred, sizeof(pred), "%d different peers, each the client's own getsockname", CLIENTS);
	snprintf(obs, sizeof(obs), "%d different peers, %s", distinct,
		 matched == CLIENTS ? "each the client's own getsockname"
				    : "some not the client's own getsockname");
	lab_check(x, "the accepted sockets' peers (getpeername)", "getpeername(2); ip(7), ip_local_port_range",
		  pred, obs);
	if ((kernel_rc = lab_kernel(IPPROTO_TCP, f->family, port, &rows)) < 0) {
		lab_broke(x, "read the kernel's list of sockets", kernel_rc);
		goto out;
	}
	lab_show_kernel(x, port, &rows, false);
	snprintf(pred, sizeof(pred), "local port %d: 1 LISTEN, %d ESTABLISHED; remote port %d: %d ESTABLISHED",
		 port, CLIENTS, port, CLIENTS);
	snprintf(obs, sizeof(obs), "local port %d: %d LISTEN, %d ESTABLISHED; remote port %d: %d ESTABLISHED",
		 port, lab_count(&rows, TCP_LISTEN, port, true), lab_count(&rows, TCP_ESTABLISHED, port, true),
		 port, lab_count(&rows, TCP_ESTABLISHED, port, false));
	lab_check(x, "the kernel's list of sockets on the port", "tcp(7); sock_diag(7)", pred, obs);
out:
	lab_close_all(x, c, CLIENTS, true);
	lab_close_all(x, s, CLIENTS, true);
	lab_close(x, &lfd, false);
}

const struct lab_experiment lab_accept_shares_port = {
	.name = "accept-shares-port",
	.title = "one listener, many clients: every accepted socket has the listener's address",
	.story = "The note's experiment: a server listens, three clients connect, the server\n"
		 "accepts each.  Every connected socket the server holds has the listener's own\n"
		 "address and port; only the peer differs.  A connection is named by its 4-tuple\n"
		 "<client ip, client port, server ip, server port>, not by the server's port.",
	.predict = "each accepted socket's getsockname() is the listener's address and port\n"
		   "  (accept(2): a new connected socket for the listening socket's connection)\n"
		   "the peers all differ, each the client's own address and port (getpeername(2))\n"
		   "the kernel lists 1 LISTEN + 3 ESTABLISHED with the port as local port, and the\n"
		   "  3 clients' sockets with it as remote port (tcp(7))",
	.each_family = accept_family,
};

/* Reads net.ipv4.ip_local_port_range (it applies to IPv6 too). */
static void local_port_range(int *lo, int *hi)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");

	*lo = 32768;
	*hi = 60999;
	if (f) {
		if (fscanf(f, "%d %d", lo, hi) != 2) {
			*lo = 32768;
			*hi = 60999;
		}
		fclose(f);
	}
}

/* Experiment 2: the note's two remarks. */
static void no_peer_family(struct lab *x, const struct lab_family *f)
{
	const char *any = f->family == AF_INET6 ? "[::]:0" : "0.0.0.0:0";
	char buf[PSCOPE_ADDRSTRLEN], pred[LAB_TEXT], obs[LAB_TEXT], h[PSCOPE_ADDRSTRLEN];
	struct pscope_addr l, a;
	int lfd, fd = -1, rc, lo, hi, port;

	lab_addr(&l, f->loopback, 0);
	lfd = lab_listener(x, &l, 8, 0);
	if (lfd < 0 || pscope_sock_local(lfd, &l) < 0) {
		lab_broke(x, "listen on loopback, port 0", lfd < 0 ? lfd : -errno);
		goto out;
	}
	rc = pscope_sock_peer(lfd, &a);
	lab_step(x, "getpeername(fd %d) = %s", lfd, rc < 0 ? pscope_errno_name(rc) : "0");
	lab_say(x, "%s: getpeername() on the listener (fd %d, %s): %s", x->part, lfd,
		lab_fmt(&l, buf, sizeof(buf)), rc < 0 ? pscope_errno_name(rc) : "an address");
	lab_check(x, "getpeername() on a listening socket", "getpeername(2), ERRORS: ENOTCONN",
		  "ENOTCONN", lab_outcome(rc));

	fd = lab_socket(x, f->family, SOCK_STREAM);
	if (fd < 0 || (rc = pscope_sock_local(fd, &a)) < 0) {
		lab_broke(x, "a new socket and its getsockname()", fd < 0 ? fd : rc);
		goto out;
	}
	lab_fmt(&a, buf, sizeof(buf));
	lab_step(x, "getsockname(fd %d) = 0: %s", fd, buf);
	lab_say(x, "%s: getsockname() on a new socket (fd %d) before bind or connect: %s", x->part, fd,
		buf);
	lab_check(x, "getsockname() on a new socket",
		  f->family == AF_INET6 ? "an unbound socket has no address yet: the unspecified one, "
				       "in6addr_any (ipv6(7)), and port 0"
				     : "an unbound socket has no address yet: the unspecified one, "
				       "INADDR_ANY (ip(7)), and port 0",
		  any, buf);
	rc = pscope_sock_peer(fd, &a);
	lab_check(x, "getpeername() on a new socket", "getpeername(2), ERRORS: ENOTCONN", "ENOTCONN",
		  lab_outcome(rc));

	rc = lab_connect(x, fd, &l, LAB_TIMEOUT_MS);
	if (rc < 0 || (rc = pscope_sock_local(fd, &a)) < 0) {
		lab_broke(x, "connect to the listener", rc);
		goto out;
	}
	local_port_range(&lo, &hi);
	port = pscope_addr_port(&a);
	pscope_addr_host(&a, h, sizeof(h));
	lab_say(x, "%s: after connect(), getsockname(fd %d): %s", x->part, fd, lab_fmt(&a, buf, sizeof(buf)));
	snprintf(pred, sizeof(pred), "%s, a port from %d to %d", f->loopback, lo, hi);
	if (port >= lo && port <= hi)
		snprintf(obs, sizeof(obs), "%s, a port from %d to %d", h, lo, hi);
	else
		snprintf(obs, sizeof(obs), "%s, port %d", h, port);
	lab_check(x, "getsockname() after connect()",
		  "ip(7), ip_local_port_range: connect(2) on a socket not bound", pred, obs);
out:
	lab_close(x, &fd, true);
	lab_close(x, &lfd, false);
}

const struct lab_experiment lab_no_peer_yet = {
	.name = "no-peer-yet",
	.title = "a listener has no peer; a new socket has no address until bind or connect",
	.story = "The note's two remarks.  A listening socket is connected to no one, so asking\n"
		 "for its peer fails.  A socket just made has neither address nor port: the\n"
		 "kernel gives it both when it connects (or binds), the port from the\n"
		 "ephemeral range.",
	.predict = "getpeername() on a listener fails with ENOTCONN (getpeername(2), ERRORS)\n"
		   "getsockname() on a new socket gives 0.0.0.0:0, or [::]:0 for IPv6 (ip(7), ipv6(7))\n"
		   "after connect(), getsockname() gives the loopback address and a port from\n"
		   "  net.ipv4.ip_local_port_range (ip(7), ip_local_port_range)",
	.each_family = no_peer_family,
};

/*
 * Binds a second socket with FLAGS2 next to a first one with FLAGS1 (bound to
 * FIRST, port 0, then listening if LISTEN1), to SECOND with the first's port;
 * checks the outcome against PREDICTED.
 */
static void conflict(struct lab *x, const char *what, const char *source, const char *first,
		     unsigned flags1, bool listen1, const char *second, unsigned flags2,
		     const char *predicted)
{
	struct pscope_addr a, b;
	int fd1, fd2 = -1, rc;

	lab_addr(&a, first, 0);
	fd1 = lab_socket_opts(x, a.u.sa.sa_family, SOCK_STREAM, flags1);
	rc = fd1 < 0 ? fd1 : lab_bind(x, fd1, &a);
	if (rc == 0 && listen1)
		rc = lab_listen(x, fd1, 8);
	if (rc < 0 || (rc = pscope_sock_local(fd1, &a)) < 0) {
		lab_broke(x, "bind the first socket", rc);
		goto out;
	}
	lab_addr(&b, second, pscope_addr_port(&a));
	fd2 = lab_socket_opts(x, b.u.sa.sa_family, SOCK_STREAM, flags2);
	if (fd2 < 0) {
		lab_broke(x, "make the second socket", fd2);
		goto out;
	}
	rc = lab_bind(x, fd2, &b);
	lab_check(x, what, source, predicted, lab_outcome(rc));
out:
	lab_close(x, &fd2, false);
	lab_close(x, &fd1, false);
}

/* Two sockets with SO_REUSEADDR bound to one address and port: the second listen() fails. */
static void two_listeners(struct lab *x, const struct lab_family *f)
{
	struct pscope_addr a;
	int fd1, fd2 = -1, rc;

	lab_addr(&a, f->loopback, 0);
	fd1 = lab_socket_opts(x, f->family, SOCK_STREAM, LAB_REUSEADDR);
	rc = fd1 < 0 ? fd1 : lab_bind(x, fd1, &a);
	if (rc < 0 || (rc = pscope_sock_local(fd1, &a)) < 0) {
		lab_broke(x, "bind the first socket", rc);
		goto out;
	}
	fd2 = lab_socket_opts(x, f->family, SOCK_STREAM, LAB_REUSEADDR);
	if (fd2 < 0) {
		lab_broke(x, "make the second socket", fd2);
		goto out;
	}
	rc = lab_bind(x, fd2, &a);
	lab_check(x, "SO_REUSEADDR on both, neither listening: second bind()",
		  "socket(7), SO_REUSEADDR: may bind unless a socket listens there", "ok", lab_outcome(rc));
	if (rc < 0)
		goto out;
	rc = lab_listen(x, fd1, 8);
	lab_check(x, "then listen() on the first", "listen(2)", "ok", lab_outcome(rc));
	rc = lab_listen(x, fd2, 8);
	lab_check(x, "then listen() on the second: two listeners still conflict",
		  "listen(2), ERRORS: EADDRINUSE; socket(7), SO_REUSEADDR", "EADDRINUSE", lab_outcome(rc));
out:
	lab_close(x, &fd2, false);
	lab_close(x, &fd1, false);
}

static void bind_conflict_family(struct lab *x, const struct lab_family *f)
{
	const char *lo = f->loopback, *any = f->any;

	lab_say(x, "%s: first socket on %s, port 0 (the kernel chooses P); second on the same P", x->part, lo);
	conflict(x, "no options, first only bound: second bind() to the same address and port",
		 "bind(2), ERRORS: EADDRINUSE", lo, 0, false, lo, 0, "EADDRINUSE");
	conflict(x, "SO_REUSEADDR on both, first listening: second bind()",
		 "socket(7), SO_REUSEADDR: except when a socket listens there", lo, LAB_REUSEADDR,
		 true, lo, LAB_REUSEADDR, "EADDRINUSE");
	two_listeners(x, f);
	if (!x->own_netns) {
		lab_skip(x, "wildcard next to specific",
			 "binding a wildcard address outside a network namespace of its own would "
			 "open a port to the network");
		return;
	}
	lab_say(x, "%s: a wildcard address (%s) next to a specific one (%s), same port", x->part, any, lo);
	conflict(x, "first listening on the wildcard, no options: bind() to loopback",
		 "bind(2), ERRORS: EADDRINUSE; a listener on INADDR_ANY holds the port for every address",
		 any, 0, true, lo, 0, "EADDRINUSE");
	conflict(x, "SO_REUSEADDR on both, first listening on the wildcard: bind() to loopback",
		 "socket(7), SO_REUSEADDR: a listener on INADDR_ANY holds the port for every address",
		 any, LAB_REUSEADDR, true, lo, LAB_REUSEADDR, "EADDRINUSE");
	conflict(x, "SO_REUSEADDR on both, first listening on loopback: bind() to the wildcard",
		 "socket(7), SO_REUSEADDR: except when a socket listens there", lo, LAB_REUSEADDR,
		 true, any, LAB_REUSEADDR, "EADDRINUSE");
	conflict(x, "SO_REUSEADDR on both, first bound to the wildcard, not listening: bind() to loopback",
		 "socket(7), SO_REUSEADDR: may bind unless a socket listens there", any,
		 LAB_REUSEADDR, false, lo, LAB_REUSEADDR, "ok");
}

const struct lab_experiment lab_bind_conflict = {
	.name = "bind-conflict",
	.title = "a second bind to a taken address and port fails; what SO_REUSEADDR allows",
	.story = "Why can't a second server bind the port?  On Linux a port taken on an address\n"
		 "is refused to a second socket with EADDRINUSE.  SO_REUSEADDR (set on both)\n"
		 "lets sockets share it only while none of them listens: two listeners still\n"
		 "conflict, and a listener on the wildcard address holds the port for every\n"
		 "address.  (BSD differs: there SO_REUSEADDR lets a specific address bind next\n"
		 "to a wildcard listener.)  What SO_REUSEADDR cannot do, SO_REUSEPORT on both\n"
		 "sockets (see reuseport) or binding them to different devices (see\n"
		 "specific-beats-wildcard) can: this experiment sets neither.",
	.predict = "no options: the second bind() fails with EADDRINUSE (bind(2), ERRORS)\n"
		   "SO_REUSEADDR on both, the first listening: EADDRINUSE (socket(7), SO_REUSEADDR:\n"
		   "  \"a socket may bind, except when there is an active listening socket\")\n"
		   "SO_REUSEADDR on both, neither listening: both bind; the first listen() works,\n"
		   "  the second fails with EADDRINUSE (listen(2), ERRORS)\n"
		   "a wildcard listener (0.0.0.0 or [::]) and a loopback bind on its port: EADDRINUSE,\n"
		   "  with or without SO_REUSEADDR, either way round (socket(7), SO_REUSEADDR);\n"
		   "  with SO_REUSEADDR on both and no listener, they share it",
	.netns = true,
	.each_family = bind_conflict_family,
};

#define LISTENERS 4
#define CONNS 64

/* Prints COUNTS as bars, one per listener. */
static void bar_chart(struct lab *x, const int *fds, const int *counts, int n, int total)
{
	int max = 1;

	for (int i = 0; i < n; i++)
		if (counts[i] > max)
			max = counts[i];
	for (int i = 0; i < n; i++) {
		char bar[41];
		int len = counts[i] * 40 / max;

		memset(bar, '#', (size_t)len);
		bar[len] = '\0';
		lab_say(x, "  listener %d (fd %2d) |%-40s| %2d (%d%%)", i + 1, fds[i], bar, counts[i],
			total ? counts[i] * 100 / total : 0);
	}
}

/* What spread() has accepted so far, on which listener. */
struct spreading {
	const struct pscope_addr *a;
	const int *lfd;
	int *counts, *sfd, *same;
	int accepted;
};

/* Accepts one connection from listener I; true once all CONNS are in. */
static bool take_one(int i, void *arg)
{
	struct spreading *sp = arg;
	struct pscope_addr l;
	int fd = pscope_accept(sp->lfd[i], NULL, NULL);

	if (fd >= 0) {
		sp->sfd[sp->accepted++] = fd;
		sp->counts[i]++;
		*sp->same += pscope_sock_local(fd, &l) == 0 && pscope_addr_same(&l, sp->a);
	}
	return sp->accepted == CONNS;
}

/* Connects CONNS clients to A and accepts them on whichever listener they reach. */
static int spread(struct lab *x, const struct pscope_addr *a, const int *lfd, int *counts, int *cfd,
		  int *sfd, int *same)
{
	struct spreading sp = { a, lfd, counts, sfd, same, 0 };
	bool verbose = x->verbose;
	int rc;

	x->verbose = false; /* 128 steps say nothing the first few do not */
	lab_step(x, "(%d connections and accepts, steps not shown)", CONNS);
	for (int i = 0; i < CONNS; i++) {
		cfd[i] = lab_socket(x, a->u.sa.sa_family, SOCK_STREAM);
		rc = cfd[i] < 0 ? cfd[i] : lab_connect(x, cfd[i], a, LAB_TIMEOUT_MS);
		if (rc < 0) {
			x->verbose = verbose;
			return lab_broke(x, "connect a client", rc), -1;
		}
	}
	rc = lab_wait_readable(lfd, LISTENERS, LAB_TIMEOUT_MS, take_one, &sp);
	x->verbose = verbose;
	if (rc < 0 && rc != -ETIMEDOUT) /* a timeout leaves fewer accepted: the check says so */
		return lab_broke(x, "wait for the connections", rc), -1;
	return sp.accepted;
}

static void reuseport_family(struct lab *x, const struct lab_family *f)
{
	int lfd[LISTENERS], cfd[CONNS], sfd[CONNS], counts[LISTENERS] = { 0 }, same = 0, got, fd = -1,
	    rc, some = 0;
	char buf[PSCOPE_ADDRSTRLEN], pred[LAB_TEXT], obs[LAB_TEXT];
	struct pscope_addr a;

	for (int i = 0; i < CONNS; i++)
		cfd[i] = sfd[i] = -1;
	for (int i = 0; i < LISTENERS; i++)
		lfd[i] = -1;
	lab_addr(&a, f->loopback, 0);
	for (int i = 0; i < LISTENERS; i++) {
		lfd[i] = lab_listener(x, &a, CONNS, LAB_REUSEPORT);
		if (lfd[i] < 0 || (i == 0 && pscope_sock_local(lfd[0], &a) < 0)) {
			lab_broke(x, "listen with SO_REUSEPORT", lfd[i] < 0 ? lfd[i] : -errno);
			goto out;
		}
	}
	lab_say(x, "%s: %d listeners with SO_REUSEPORT on %s; %d clients connect:", x->part, LISTENERS,
		lab_fmt(&a, buf, sizeof(buf)), CONNS);
	got = spread(x, &a, lfd, counts, cfd, sfd, &same);
	if (got < 0)
		goto out;
	bar_chart(x, lfd, counts, LISTENERS, got);
	for (int i = 0; i < LISTENERS; i++)
		some += counts[i] > 0;
	snprintf(pred, sizeof(pred), "%d accepted, each on %s; %d of %d listeners got some", CONNS, buf,
		 LISTENERS, LISTENERS);
	snprintf(obs, sizeof(obs), "%d accepted, %s on %s; %d of %d listeners got some", got,
		 same == got ? "each" : "not all", buf, some, LISTENERS);
	lab_check(x, "connections spread among the listeners",
		  "socket(7), SO_REUSEPORT: accept(2) load distribution", pred, obs);

	fd = lab_socket_opts(x, f->family, SOCK_STREAM, 0);
	rc = fd < 0 ? fd : lab_bind(x, fd, &a);
	lab_check(x, "one more socket without SO_REUSEPORT: bind()",
		  "socket(7), SO_REUSEPORT: must be set on each socket", "EADDRINUSE", lab_outcome(rc));
	lab_close(x, &fd, false);
	if (!x->root) {
		lab_skip(x, "a socket of another user with SO_REUSEPORT",
			 "needs root, to make a socket as another user (setresuid)");
		goto out;
	}
	rc = lab_bind_as_nobody(&a, LAB_REUSEPORT);
	lab_step(x, "in a child after setresuid(65534): socket(), setsockopt(SO_REUSEPORT, 1), bind(%s) = %s",
		 buf, rc ? pscope_errno_name(rc) : "0");
	lab_check(x, "a socket of another user (uid 65534) with SO_REUSEPORT: bind()",
		  "socket(7), SO_REUSEPORT: the same effective UID", "EADDRINUSE", lab_outcome(rc));
out:
	lab_close_all(x, cfd, CONNS, true);
	lab_close_all(x, sfd, CONNS, true);
	lab_close_all(x, lfd, LISTENERS, false);
}

const struct lab_experiment lab_reuseport = {
	.name = "reuseport",
	.title = "several listeners on one port with SO_REUSEPORT; the kernel spreads clients",
	.story = "SO_REUSEPORT lets several sockets listen on the same address and port, for\n"
		 "one listener per thread or process.  The kernel picks a listener for each new\n"
		 "connection by a hash of its 4-tuple.  A socket without the option, or one of\n"
		 "another user, cannot join: that would let it steal the port's connections.",
	.predict = "4 listeners with SO_REUSEPORT on one port: 64 connections all accepted, every\n"
		   "  listener gets some (socket(7), SO_REUSEPORT: load distribution)\n"
		   "a socket without SO_REUSEPORT cannot bind there: EADDRINUSE (socket(7): must be set\n"
		   "  on each socket)\n"
		   "a socket of another user with SO_REUSEPORT: EADDRINUSE (socket(7): the same\n"
		   "  effective UID; needs root to try)",
	.each_family = reuseport_family,
};
