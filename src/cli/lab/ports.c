/* portscope lab: running out of ephemeral ports, TIME_WAIT, and the accept queue. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "lab.h"

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51	/* linux/in.h, since Linux 6.3 */
#endif

#define DESTS 3
#define RANGE 6			/* ports in the narrowed range; even, as connect() walks it two by two */
#define TRIES (RANGE + 2)	/* connections tried per destination */

enum how { PLAIN, BIND_FIRST, NO_PORT };

struct ephemeral {
	int family;
	int lfd[DESTS];
	struct pscope_addr dest[DESTS];
	int lo, hi;		/* the narrowed range */
	int fds[DESTS * TRIES];
	int nfds;
};

/* Narrows FD's ephemeral ports to LO-HI (IP_LOCAL_PORT_RANGE: high bound in the upper 16 bits). */
static int set_range(struct lab *x, int fd, int lo, int hi)
{
	uint32_t v = (uint32_t)hi << 16 | (uint32_t)lo;
	int rc = setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &v, sizeof(v)) < 0 ? -errno : 0;

	lab_step(x, "setsockopt(fd %d, IP_LOCAL_PORT_RANGE, %d-%d) = %s", fd, lo, hi,
		 rc ? pscope_errno_name(rc) : "0");
	return rc;
}

/* True if no TCP socket of either family has a local port from LO to HI. */
static bool range_free(int lo, int hi)
{
	struct lab_rows rows;

	for (int port = lo; port <= hi; port++)
		for (int f = 0; f < LAB_NFAMILIES; f++)
			if (lab_kernel(IPPROTO_TCP, lab_families[f].family, port, &rows) != 0)
				return false;
	return true;
}

/* Chooses RANGE ports inside net.ipv4.ip_local_port_range that no socket uses now. */
static int choose_range(struct ephemeral *e)
{
	int glo = 32768, ghi = 60999;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");

	if (f) {
		if (fscanf(f, "%d %d", &glo, &ghi) != 2) {
			glo = 32768;
			ghi = 60999;
		}
		fclose(f);
	}
	for (int start = (glo + 1000) & ~1, n = 0; start + RANGE - 1 <= ghi && n < 64;
	     start += 2 * RANGE + 50, n++)
		if (range_free(start, start + RANGE - 1)) {
			e->lo = start;
			e->hi = start + RANGE - 1;
			return 0;
		}
	return -EADDRINUSE;
}

/*
 * Connects to destination D, HOW, until it fails or TRIES connections are
 * made; every socket has the narrowed range.  Writes "N ok, then ERR" to OBS
 * and adds to *OUTSIDE the connections whose port is outside the range.
 */
static int fill(struct lab *x, struct ephemeral *e, int d, enum how how, char *obs, size_t size,
		int *outside)
{
	int ok = 0;

	for (int i = 0; i < TRIES; i++) {
		struct pscope_addr me;
		int fd, rc;

		lab_loopback(&me, e->family, 0);
		fd = lab_socket_opts(x, e->family, SOCK_STREAM, how == NO_PORT ? LAB_NO_PORT : 0);
		if (fd < 0)
			return fd;
		rc = set_range(x, fd, e->lo, e->hi);
		if (rc < 0) {
			snprintf(obs, size, "%d ok, then setsockopt(IP_LOCAL_PORT_RANGE) %s", ok,
				 pscope_errno_name(rc));
			lab_close(x, &fd, true);
			return 0;
		}
		if (how != PLAIN) {
			rc = lab_bind(x, fd, &me);
			if (rc < 0) {
				snprintf(obs, size, "%d ok, then bind() %s", ok, pscope_errno_name(rc));
				lab_close(x, &fd, true);
				return 0;
			}
		}
		if (rc == 0)
			rc = lab_connect(x, fd, &e->dest[d], LAB_TIMEOUT_MS);
		if (rc < 0) {
			snprintf(obs, size, "%d ok, then connect() %s", ok, pscope_errno_name(rc));
			lab_close(x, &fd, true);
			return 0;
		}
		e->fds[e->nfds++] = fd;
		ok++;
		if (pscope_sock_local(fd, &me) == 0 &&
		    (pscope_addr_port(&me) < e->lo || pscope_addr_port(&me) > e->hi))
			(*outside)++;
	}
	snprintf(obs, size, "%d ok, no failure", ok);
	return 0;
}

/* Accepts and closes what waits on the listeners, so that their queues never fill. */
static void drain(struct lab *x, struct ephemeral *e)
{
	int n = 0, fd;

	for (int d = 0; d < DESTS; d++)
		while (n < 4 * DESTS * TRIES && (fd = pscope_accept(e->lfd[d], NULL, NULL)) >= 0) {
			close(fd);
			n++;
		}
	lab_step(x, "accept() and close() the %d connections the servers had queued", n);
}

/* One way of connecting, to every destination in turn; checks it against PREDICTED. */
static void exhaust(struct lab *x, struct ephemeral *e, enum how how, const char *what,
		    const char *source, const char *const *predicted)
{
	char pred[LAB_TEXT] = "", obs[LAB_TEXT] = "", one[128], buf[PSCOPE_ADDRSTRLEN];
	int outside = 0, rc = 0;

	for (int d = 0; d < DESTS && rc == 0; d++) {
		size_t len = strlen(obs);

		rc = fill(x, e, d, how, one, sizeof(one), &outside);
		lab_fmt(&e->dest[d], buf, sizeof(buf));
		snprintf(obs + len, sizeof(obs) - len, "%sto %s: %s", d ? "; " : "", buf, one);
		len = strlen(pred);
		snprintf(pred + len, sizeof(pred) - len, "%sto %s: %s", d ? "; " : "", buf, predicted[d]);
		lab_say(x, "%s: %s, to %s: %s", x->part, what, buf, one);
	}
	if (rc < 0) {
		lab_broke(x, "make a client socket", rc);
	} else {
		if (outside) {
			size_t len = strlen(obs);

			snprintf(obs + len, sizeof(obs) - len, "; %d port%s outside %d-%d", outside,
				 outside == 1 ? "" : "s", e->lo, e->hi);
		}
		lab_check(x, what, source, pred, obs);
	}
	lab_close_all(x, e->fds, e->nfds, true);
	e->nfds = 0;
	drain(x, e);
}

static void ephemeral_family(struct lab *x, const struct lab_family *f)
{
	static const char *const per_dest[DESTS] = { "6 ok, then connect() EADDRNOTAVAIL",
						     "6 ok, then connect() EADDRNOTAVAIL",
						     "6 ok, then connect() EADDRNOTAVAIL" };
	static const char *const shared[DESTS] = { "6 ok, then bind() EADDRINUSE",
						   "0 ok, then bind() EADDRINUSE",
						   "0 ok, then bind() EADDRINUSE" };
	struct ephemeral e = { .family = f->family };
	char buf[PSCOPE_ADDRSTRLEN];
	int probe, rc;

	for (int d = 0; d < DESTS; d++)
		e.lfd[d] = -1;
	probe = lab_socket(x, f->family, SOCK_STREAM);
	rc = probe < 0 ? probe : set_range(x, probe, 40000, 40001);
	lab_close(x, &probe, false);
	if (rc == -ENOPROTOOPT) {
		lab_skip(x, "narrowed port ranges", "IP_LOCAL_PORT_RANGE needs Linux 6.3 or later");
		return;
	}
	for (int d = 0; d < DESTS; d++) {
		lab_addr(&e.dest[d], f->loopback, 0);
		e.lfd[d] = lab_listener(x, &e.dest[d], 2 * TRIES, 0);
		if (e.lfd[d] < 0 || pscope_sock_local(e.lfd[d], &e.dest[d]) < 0) {
			lab_broke(x, "listen on loopback", e.lfd[d] < 0 ? e.lfd[d] : -errno);
			goto out;
		}
	}
	if ((rc = choose_range(&e)) < 0) {
		lab_broke(x, "find 6 ports in a row that no socket uses", rc);
		goto out;
	}
	lab_say(x, "%s: %d servers on %s and two more ports of it; every client socket gets", x->part,
		DESTS, lab_fmt(&e.dest[0], buf, sizeof(buf)));
	lab_say(x, "%s: IP_LOCAL_PORT_RANGE %d-%d (%d ports, none in use by any socket now)", x->part,
		e.lo, e.hi, RANGE);
	exhaust(x, &e, PLAIN, "plain connect()",
		"ip(7), ip_local_port_range; IP_LOCAL_PORT_RANGE (linux/in.h, Linux 6.3); "
		"connect(2), ERRORS: EADDRNOTAVAIL",
		per_dest);
	exhaust(x, &e, BIND_FIRST, "bind(port 0), then connect()",
		"ip(7), ip_local_port_range: bind(2) with port 0 takes a port for itself; "
		"bind(2), ERRORS: EADDRINUSE",
		shared);
	exhaust(x, &e, NO_PORT, "IP_BIND_ADDRESS_NO_PORT, bind(port 0), then connect()",
		"ip(7), IP_BIND_ADDRESS_NO_PORT: the port is chosen at connect(2), shared while the "
		"4-tuple is unique",
		per_dest);
out:
	lab_close_all(x, e.lfd, DESTS, false);
}

const struct lab_experiment lab_ephemeral_ports = {
	.name = "ephemeral-ports",
	.title = "a narrow port range: per destination for connect(), shared after bind(0)",
	.story = "Why do clients run out of ports, and when?  Each client socket is narrowed to\n"
		 "6 ports (IP_LOCAL_PORT_RANGE, Linux 6.3; no privilege needed) and connects to\n"
		 "3 servers.  connect() on an unbound socket may reuse a port for another\n"
		 "destination, since the 4-tuple differs: each destination gets the whole range.\n"
		 "bind() with port 0 must choose a port before it knows the destination, so it\n"
		 "takes one no other socket has: one range for all destinations.\n"
		 "IP_BIND_ADDRESS_NO_PORT defers the choice to connect() again.",
	.predict = "plain connect(): 6 connections to each server, then EADDRNOTAVAIL (ip(7),\n"
		   "  ip_local_port_range; connect(2), ERRORS)\n"
		   "bind(port 0) then connect(): 6 connections in all, then bind() fails with\n"
		   "  EADDRINUSE, for every server (ip(7), ip_local_port_range: bind(2) with port 0)\n"
		   "IP_BIND_ADDRESS_NO_PORT, bind(port 0), connect(): 6 per server again, then\n"
		   "  EADDRNOTAVAIL (ip(7), IP_BIND_ADDRESS_NO_PORT)",
	.netns = true,
	.each_family = ephemeral_family,
};

/* Waits up to MS for the kernel to list a TIME_WAIT socket from PORT to PEER_PORT. */
static int wait_time_wait(int family, int port, int peer_port, int ms, struct lab_rows *rows)
{
	long long deadline = pscope_now_ms() + ms;

	do {
		int rc = lab_kernel(IPPROTO_TCP, family, port, rows);

		if (rc < 0)
			return rc;
		for (int i = 0; i < rows->n; i++)
			if (rows->s[i].state == TCP_TIME_WAIT && rows->s[i].lport == port &&
			    rows->s[i].rport == peer_port)
				return 0;
		lab_sleep_ms(20);
	} while (pscope_now_ms() < deadline);
	return -ETIMEDOUT;
}

/* What the old server does to the accepted socket before it closes it. */
enum accepted { AS_ACCEPTED, CLEAR_REUSEADDR, SET_REUSEADDR };

/* One restart: the old listener's options, the accepted socket's, the new server's. */
struct restart_case {
	unsigned old;		/* LAB_REUSEADDR, LAB_REUSEPORT */
	enum accepted acc;
	unsigned new_;
	bool nobody;		/* the new server is another user (uid 65534) */
	const char *predicted;
};

static const char *opts_name(unsigned flags)
{
	return flags & LAB_REUSEADDR ? "SO_REUSEADDR" : flags & LAB_REUSEPORT ? "SO_REUSEPORT" : "no option";
}

/* The check's name: "listener SO_REUSEADDR, accepted socket as accepted, new server SO_REUSEADDR: bind()". */
static void restart_name(const struct restart_case *rc, char *buf, size_t size)
{
	static const char *const acc[] = { "as accepted", "SO_REUSEADDR cleared before close()",
					   "SO_REUSEADDR set before close()" };

	snprintf(buf, size, "listener %s, accepted socket %s, new server %s%s: bind()", opts_name(rc->old),
		 acc[rc->acc], opts_name(rc->new_), rc->nobody ? " as another user (uid 65534)" : "");
}

/* Shows the kernel's list of PORT after the server closed first and stopped; checks it. */
static void check_time_wait_left(struct lab *x, const struct pscope_addr *a, int port, int cport)
{
	char buf[PSCOPE_ADDRSTRLEN], pred[LAB_TEXT], obs[LAB_TEXT];
	struct lab_rows rows;
	int rc, tw, tw_port = 0;

	if ((rc = lab_kernel(IPPROTO_TCP, a->u.sa.sa_family, port, &rows)) < 0) {
		lab_broke(x, "read the kernel's list of sockets", rc);
		return;
	}
	lab_show_kernel(x, port, &rows, false);
	tw = lab_count(&rows, TCP_TIME_WAIT, port, true);
	for (int i = 0; i < rows.n; i++)
		if (rows.s[i].state == TCP_TIME_WAIT && rows.s[i].lport == port)
			tw_port = rows.s[i].rport;
	lab_fmt(a, buf, sizeof(buf));
	snprintf(pred, sizeof(pred), "1 TIME_WAIT on %s to port %d, nothing else", buf, cport);
	snprintf(obs, sizeof(obs), "%d TIME_WAIT on %s to port %d, %s", tw, buf, tw_port,
		 rows.n - tw ? "and other sockets" : "nothing else");
	lab_check(x, "after the server closed first, and stopped: the kernel's list of the port",
		  "tcp(7); RFC 9293, 3.6: the side that closes first waits in TIME-WAIT", pred, obs);
}

/*
 * A server (options RC->old) takes one connection, sets or clears
 * SO_REUSEADDR on the accepted socket (RC->acc), closes it first, then stops;
 * a new server (RC->new_, as another user if RC->nobody) binds the port.
 */
static void restart(struct lab *x, const struct lab_family *f, const struct restart_case *k, bool show)
{
	int lfd, c = -1, s = -1, fd = -1, rc, port, cport;
	char what[200], byte;
	struct pscope_addr a, me;
	struct lab_rows rows;

	if (k->nobody && !x->root) {
		restart_name(k, what, sizeof(what));
		lab_skip(x, what, "needs root, to make a socket as another user (setresuid)");
		return;
	}
	lab_addr(&a, f->loopback, 0);
	lfd = lab_listener(x, &a, 8, k->old);
	if (lfd < 0 || pscope_sock_local(lfd, &a) < 0) {
		lab_broke(x, "listen on loopback", lfd < 0 ? lfd : -errno);
		goto out;
	}
	port = pscope_addr_port(&a);
	c = lab_socket(x, f->family, SOCK_STREAM);
	rc = c < 0 ? c : lab_connect(x, c, &a, LAB_TIMEOUT_MS);
	if (rc == 0)
		rc = s = lab_accept(x, lfd, LAB_TIMEOUT_MS);
	if (rc >= 0 && k->acc != AS_ACCEPTED)
		rc = lab_setopt(x, s, SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR", k->acc == SET_REUSEADDR);
	if (rc < 0 || pscope_sock_local(c, &me) < 0) {
		lab_broke(x, "connect and accept", rc < 0 ? rc : -errno);
		goto out;
	}
	cport = pscope_addr_port(&me);
	lab_close(x, &s, false); /* the server closes first */
	rc = lab_wait(c, POLLIN, LAB_TIMEOUT_MS) == 0 ? (int)recv(c, &byte, 1, 0) : -1;
	lab_step(x, "recv(fd %d) = %d (the server's FIN: end of file)", c, rc);
	lab_close(x, &c, false);
	rc = wait_time_wait(f->family, port, cport, LAB_TIMEOUT_MS, &rows);
	lab_close(x, &lfd, false); /* the server stops */
	if (show)
		check_time_wait_left(x, &a, port, cport);
	if (k->nobody) {
		rc = lab_bind_as_nobody(&a, k->new_);
		lab_step(x, "in a child after setresuid(65534): socket(), %s, bind(%s) = %s", opts_name(k->new_),
			 lab_fmt(&a, what, sizeof(what)), rc ? pscope_errno_name(rc) : "0");
	} else {
		fd = lab_socket_opts(x, f->family, SOCK_STREAM, k->new_);
		rc = fd < 0 ? fd : lab_bind(x, fd, &a);
	}
	restart_name(k, what, sizeof(what));
	lab_check(x, what,
		  "socket(7), SO_REUSEADDR, SO_REUSEPORT; the TIME_WAIT socket has the options of the "
		  "connection's own socket at close(): inet_twsk_alloc (net/ipv4/inet_timewait_sock.c); "
		  "inet_csk_bind_conflict (net/ipv4/inet_connection_sock.c): SO_REUSEADDR on both, or "
		  "SO_REUSEPORT on both (no uid compared with a TIME_WAIT socket)",
		  k->predicted, lab_outcome(rc));
out:
	lab_close(x, &fd, false);
	lab_close(x, &c, true);
	lab_close(x, &s, true);
	lab_close(x, &lfd, false);
}

/* The variations that decide the rule: which socket has the option, which option, whose socket. */
static const struct restart_case restarts[] = {
	{ 0, AS_ACCEPTED, 0, false, "EADDRINUSE" },
	{ 0, AS_ACCEPTED, LAB_REUSEADDR, false, "EADDRINUSE" },
	{ LAB_REUSEADDR, AS_ACCEPTED, 0, false, "EADDRINUSE" },
	{ LAB_REUSEADDR, AS_ACCEPTED, LAB_REUSEADDR, false, "ok" },
	{ LAB_REUSEADDR, CLEAR_REUSEADDR, LAB_REUSEADDR, false, "EADDRINUSE" },
	{ 0, SET_REUSEADDR, LAB_REUSEADDR, false, "ok" },
	{ LAB_REUSEPORT, AS_ACCEPTED, LAB_REUSEPORT, false, "ok" },
	{ LAB_REUSEPORT, AS_ACCEPTED, LAB_REUSEADDR, false, "EADDRINUSE" },
	{ LAB_REUSEADDR, AS_ACCEPTED, LAB_REUSEPORT, false, "EADDRINUSE" },
	{ LAB_REUSEPORT, AS_ACCEPTED, LAB_REUSEPORT, true, "ok" },
	{ LAB_REUSEADDR, AS_ACCEPTED, LAB_REUSEADDR, true, "ok" },
};

static void time_wait_family(struct lab *x, const struct lab_family *f)
{
	lab_say(x, "%s: a server takes a client, closes the connection first, then stops;", x->part);
	lab_say(x, "%s: a new server binds the same address and port", x->part);
	for (size_t i = 0; i < sizeof(restarts) / sizeof(restarts[0]); i++)
		restart(x, f, &restarts[i], i == 0);
}

const struct lab_experiment lab_time_wait = {
	.name = "time-wait",
	.title = "the side that closes first keeps the 4-tuple in TIME_WAIT; restarting a server",
	.story = "What is TIME_WAIT holding?  The side that closes a connection first keeps its\n"
		 "4-tuple for a while (60 s on Linux), so that late packets of the old\n"
		 "connection are not taken for a new one.  When a server closes first, that\n"
		 "side is the server's, on its own port, and a restarted server finds the port\n"
		 "taken.  The TIME_WAIT socket has the options of the connection's own socket\n"
		 "when it was closed (the accepted socket, which got them from the listener but\n"
		 "may have changed them), not the listener's.  The restart binds if that socket\n"
		 "and the new one both have SO_REUSEADDR, or both SO_REUSEPORT, whoever owns it.",
	.predict = "after the server closes first and stops, the kernel lists one TIME_WAIT socket\n"
		   "  on its port, to the client's port, and nothing else (tcp(7); RFC 9293, 3.6)\n"
		   "a new server's bind() to that port works only if the closed connection's socket\n"
		   "  and the new one both set SO_REUSEADDR, or both SO_REUSEPORT: SO_REUSEADDR\n"
		   "  cleared on the accepted socket before close() fails although the listener\n"
		   "  had it; set on the accepted socket only, it binds; one SO_REUSEADDR and one\n"
		   "  SO_REUSEPORT fail; another user binds as well (inet_twsk_alloc copies the\n"
		   "  closed socket's options; inet_csk_bind_conflict compares no uid with a\n"
		   "  TIME_WAIT socket; socket(7), SO_REUSEADDR, SO_REUSEPORT)",
	.each_family = time_wait_family,
	.netns = true,	/* its TIME_WAIT sockets go with the namespace, not left on the host */
};

/* Experiment 11: connections wait in the accept queue; beyond it, clients wait in SYN_SENT. */
#define QCLIENTS 4
#define BACKLOG 1
#define QUEUED (BACKLOG + 1)	/* the kernel's test is "more than backlog": sk_acceptq_is_full */

/* Connects client I (nonblocking); the first QUEUED are waited for. */
static int queue_client(struct lab *x, const struct pscope_addr *a, int i, int *fd,
			struct pscope_addr *me)
{
	int rc;

	*fd = lab_socket(x, a->u.sa.sa_family, SOCK_STREAM);
	if (*fd < 0)
		return *fd;
	rc = lab_connect(x, *fd, a, i < QUEUED ? LAB_TIMEOUT_MS : 0);
	if (rc == -EINPROGRESS && i >= QUEUED)
		rc = 0;
	if (rc == 0)
		rc = pscope_sock_local(*fd, me);
	return rc;
}

/* The state the kernel lists for the client socket on local port CPORT, or "none". */
static const char *client_state(const struct lab_rows *rows, int cport)
{
	for (int i = 0; i < rows->n; i++)
		if (rows->s[i].lport == cport)
			return pscope_diag_state_name(&rows->s[i]);
	return "none";
}

/*
 * Waits until clients FROM..N-1 (C, connecting) have completed their
 * handshakes (writable), writing their numbers (1-based) to ORDER as they do.
 * *TIE is set if two completed within one wait, so that their order is not
 * known.  Returns how many completed.
 */
static int completion_order(const int *c, int from, int n, int *order, bool *tie)
{
	long long deadline = pscope_now_ms() + 2 * LAB_TIMEOUT_MS;
	bool got[QCLIENTS] = { false };
	int ndone = 0;

	*tie = false;
	while (ndone < n - from) {
		struct pollfd p[QCLIENTS];
		int np = 0, idx[QCLIENTS], fresh = 0, left = (int)(deadline - pscope_now_ms()), rc;

		if (left <= 0)
			break;
		for (int i = from; i < n; i++)
			if (!got[i]) {
				p[np] = (struct pollfd){ .fd = c[i], .events = POLLOUT };
				idx[np++] = i;
			}
		rc = poll(p, (nfds_t)np, left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			break;
		for (int k = 0; k < np; k++)
			if (p[k].revents) {
				got[idx[k]] = true;
				order[ndone++] = idx[k] + 1;
				fresh++;
			}
		*tie |= fresh > 1;
	}
	return ndone;
}

static void queue_family(struct lab *x, const struct lab_family *f)
{
	int lfd, c[QCLIENTS], s[QCLIENTS], rc, port, order[QCLIENTS], nacc = 0, owned = 0, err = 0;
	int done[QCLIENTS], ndone = 0;
	bool tie = false;
	char buf[PSCOPE_ADDRSTRLEN], pred[LAB_TEXT], obs[LAB_TEXT];
	struct pscope_addr a, me[QCLIENTS];
	struct lab_rows rows;

	for (int i = 0; i < QCLIENTS; i++)
		c[i] = s[i] = -1;
	lab_addr(&a, f->loopback, 0);
	lfd = lab_listener(x, &a, BACKLOG, 0);
	if (lfd < 0 || pscope_sock_local(lfd, &a) < 0) {
		lab_broke(x, "listen on loopback", lfd < 0 ? lfd : -errno);
		goto out;
	}
	port = pscope_addr_port(&a);
	lab_say(x, "%s: a listener on %s (fd %d), backlog %d, and no accept() yet; %d clients connect,",
		x->part, lab_fmt(&a, buf, sizeof(buf)), lfd, BACKLOG, QCLIENTS);
	lab_say(x, "%s: one at a time, the last two without waiting", x->part);
	for (int i = 0; i < QCLIENTS; i++) {
		rc = queue_client(x, &a, i, &c[i], &me[i]);
		if (rc < 0) {
			lab_broke(x, "connect a client", rc);
			goto out;
		}
		lab_sleep_ms(i >= QUEUED ? 200 : 20); /* spaced, so their SYN retries are in order too */
	}
	if ((rc = lab_kernel(IPPROTO_TCP, f->family, port, &rows)) < 0) {
		lab_broke(x, "read the kernel's list of sockets", rc);
		goto out;
	}
	lab_show_kernel(x, port, &rows, true);
	for (int i = 0; i < rows.n; i++)
		owned += rows.s[i].lport == port && rows.s[i].state == TCP_ESTABLISHED && rows.s[i].inode != 0;
	snprintf(pred, sizeof(pred), "%d ESTABLISHED with local port %d, %d of them with an owner", QUEUED,
		 port, 0);
	snprintf(obs, sizeof(obs), "%d ESTABLISHED with local port %d, %d of them with an owner",
		 lab_count(&rows, TCP_ESTABLISHED, port, true), port, owned);
	lab_check(x, "before any accept(): the server's side of the connections",
		  "listen(2): backlog, the queue of established sockets waiting to be accepted",
		  pred, obs);
	snprintf(pred, sizeof(pred), "clients 1-2: ESTABLISHED, ESTABLISHED; clients 3-4: SYN_SENT, SYN_SENT");
	snprintf(obs, sizeof(obs), "clients 1-2: %s, ", client_state(&rows, pscope_addr_port(&me[0])));
	snprintf(obs + strlen(obs), sizeof(obs) - strlen(obs), "%s; clients 3-4: ",
		 client_state(&rows, pscope_addr_port(&me[1])));
	snprintf(obs + strlen(obs), sizeof(obs) - strlen(obs), "%s, ",
		 client_state(&rows, pscope_addr_port(&me[2])));
	snprintf(obs + strlen(obs), sizeof(obs) - strlen(obs), "%s",
		 client_state(&rows, pscope_addr_port(&me[3])));
	lab_check(x, "the clients' own sockets, the queue holding backlog + 1",
		  "listen(2): when the queue is full, the request may be ignored so that a later "
		  "reattempt succeeds; include/net/sock.h, sk_acceptq_is_full",
		  pred, obs);
	for (nacc = 0; nacc < QCLIENTS; nacc++) {
		struct pscope_addr peer;

		if (nacc == QUEUED) /* the queue has room again: 3 and 4 get in as their SYNs come again */
			ndone = completion_order(c, QUEUED, QCLIENTS, done, &tie);
		s[nacc] = lab_accept(x, lfd, LAB_TIMEOUT_MS);
		if (s[nacc] < 0) {
			err = s[nacc];
			break;
		}
		if ((err = pscope_sock_peer(s[nacc], &peer)) < 0)
			break;
		order[nacc] = 0;
		for (int j = 0; j < QCLIENTS; j++)
			if (pscope_addr_same(&peer, &me[j]))
				order[nacc] = j + 1;
	}
	/* Predicted: 1, 2, then 3 and 4 in the order their handshakes completed, as the clients saw it. */
	snprintf(pred, sizeof(pred), "clients 1, 2");
	for (int i = 0; i < ndone; i++)
		snprintf(pred + strlen(pred), sizeof(pred) - strlen(pred), ", %d", done[i]);
	if (ndone < QCLIENTS - QUEUED)
		snprintf(pred + strlen(pred), sizeof(pred) - strlen(pred), ", then ETIMEDOUT");
	snprintf(obs, sizeof(obs), "clients");
	for (int i = 0; i < nacc; i++)
		snprintf(obs + strlen(obs), sizeof(obs) - strlen(obs), "%s %d", i ? "," : "", order[i]);
	if (nacc < QCLIENTS)
		snprintf(obs + strlen(obs), sizeof(obs) - strlen(obs), "%s then %s", nacc ? "," : "",
			 pscope_errno_name(err));
	if (tie && nacc == QCLIENTS && order[QUEUED] + order[QUEUED + 1] == 3 + 4) {
		/* 3 and 4 completed within one poll: which was first is not known, either order holds. */
		snprintf(pred, sizeof(pred), "clients 1, 2, then 3 and 4, completed together");
		snprintf(obs, sizeof(obs), "clients 1, 2, then 3 and 4, completed together");
	}
	lab_say(x, "%s: accept() %d times: %s (3 and 4 once their SYN was sent again and the queue had room)",
		x->part, QCLIENTS, obs);
	lab_check(x, "the order in which accept() hands out the connections",
		  "accept(2): it extracts the first connection request on the queue, the one whose "
		  "handshake completed first (inet_csk_reqsk_queue_add appends)", pred, obs);
out:
	lab_close_all(x, c, QCLIENTS, true);
	lab_close_all(x, s, QCLIENTS, true);
	lab_close(x, &lfd, false);
}

const struct lab_experiment lab_accept_queue = {
	.name = "accept-queue",
	.title = "connections are ESTABLISHED before accept(); a full queue leaves clients in SYN_SENT",
	.story = "The kernel completes the handshake on its own: a connection is ESTABLISHED\n"
		 "and waits in the listener's accept queue before the server calls accept(),\n"
		 "held by no process yet.  With a tiny backlog the queue fills; further clients'\n"
		 "SYNs are dropped and they wait in SYN_SENT, sending again after a second.\n"
		 "accept() hands the connections out in the order they completed: 3 and 4\n"
		 "complete once the queue has room and their SYN comes again, in whichever\n"
		 "order their retries arrive, which the clients see (connect() done).",
	.predict = "with backlog 1 and no accept(), 2 connections are ESTABLISHED on the server's\n"
		   "  side, with no owner (listen(2): the queue of established sockets; the kernel\n"
		   "  admits backlog + 1: sk_acceptq_is_full tests \"more than backlog\")\n"
		   "clients 3 and 4 stay in SYN_SENT (listen(2): \"the request may be ignored so\n"
		   "  that a later reattempt at connection succeeds\")\n"
		   "accept() returns clients 1, 2, then 3 and 4 in the order their handshakes\n"
		   "  completed, as the clients saw it (accept(2): the first connection request\n"
		   "  on the queue)",
	.each_family = queue_family,
};
