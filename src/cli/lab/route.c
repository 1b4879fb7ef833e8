/* portscope lab: which socket gets a connection or a datagram, and whose port a client may share. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lab.h"

/* A second IPv6 address for lo, from the benchmarking prefix (RFC 5180): only in a namespace of our own. */
#define SECOND_V6 "2001:2::2"

/* The kernel's struct in6_ifreq (linux/ipv6.h), which glibc does not declare. */
struct lab_in6_ifreq {
	struct in6_addr addr;
	uint32_t prefixlen;
	int ifindex;
};

/* Adds SECOND_V6/128 to lo (in this process's own network namespace).  Returns 0 or -errno. */
static int add_second_v6(struct lab *x)
{
	/* As large as struct ifreq and zeroed: tools such as valgrind check that many bytes. */
	union {
		struct lab_in6_ifreq r;
		struct ifreq size;
	} u;
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;

	if (fd < 0)
		return -errno;
	memset(&u, 0, sizeof(u));
	u.r.prefixlen = 128;
	u.r.ifindex = (int)if_nametoindex("lo");
	inet_pton(AF_INET6, SECOND_V6, &u.r.addr);
	if (ioctl(fd, SIOCSIFADDR, &u) < 0 && errno != EEXIST)
		rc = -errno;
	close(fd);
	lab_step(x, "ioctl(SIOCSIFADDR, lo, %s/128) = %s", SECOND_V6, rc ? pscope_errno_name(rc) : "0");
	return rc;
}

/* Notes which listener is ready first: the wait is over. */
static bool first_ready(int i, void *arg)
{
	*(int *)arg = i;
	return true;
}

/*
 * Waits for a connection on one of the N listeners LFD and accepts it.
 * Returns the accepted descriptor and sets *WHICH, or -errno.
 */
static int accept_any(struct lab *x, const int *lfd, int n, int *which)
{
	int rc = lab_wait_readable(lfd, n, LAB_TIMEOUT_MS, first_ready, which);

	return rc < 0 ? rc : lab_accept(x, lfd[*which], 0);
}

/* Connects to DEST and says which of the listeners accepted it; fills OBS.  Returns 0 or -errno. */
static int which_listener(struct lab *x, const struct pscope_addr *dest, const int *lfd,
			  const char *const *names, int n, char *obs, size_t size)
{
	char buf[PSCOPE_ADDRSTRLEN], buf2[PSCOPE_ADDRSTRLEN];
	struct pscope_addr local;
	int c = lab_socket(x, dest->u.sa.sa_family, SOCK_STREAM), s = -1, which = 0, rc;

	rc = c < 0 ? c : lab_connect(x, c, dest, LAB_TIMEOUT_MS);
	if (rc == 0)
		rc = s = accept_any(x, lfd, n, &which);
	if (rc >= 0)
		rc = pscope_sock_local(s, &local);
	if (rc >= 0) {
		snprintf(obs, size, "the %s listener, local address %s", names[which],
			 lab_fmt(&local, buf, sizeof(buf)));
		lab_say(x, "%s: a client connects to %s: accepted by the %s listener (fd %d) as fd %d, local %s",
			x->part, lab_fmt(dest, buf2, sizeof(buf2)), names[which], lfd[which], s, buf);
	}
	lab_close(x, &c, true);
	lab_close(x, &s, true);
	return rc < 0 ? rc : 0;
}

/* How the two listeners of one coexistence check are made. */
struct pair_case {
	const char *what;	/* after "next to the wildcard listener, " */
	unsigned flags;		/* on both */
	const char *wdev, *sdev;/* SO_BINDTODEVICE of the wildcard and of the loopback listener, or NULL */
	bool nobody;		/* the loopback one is another user's (uid 65534): bind() only */
	const char *predicted;
};

static const char pair_source[] =
	"inet_csk_bind_conflict (net/ipv4/inet_connection_sock.c): a wildcard listener conflicts with "
	"every address of its port unless both have SO_REUSEPORT and one uid, or both are bound to "
	"devices and not the same one; socket(7), SO_REUSEADDR, SO_REUSEPORT, SO_BINDTODEVICE";

/*
 * A listener on the wildcard address, port 0, then one on loopback at its port,
 * made as K says; checks the second.  A pair on devices says SKIP, with NO_DEV,
 * if NO_DEV is not empty (no second device).
 */
static void pair(struct lab *x, const struct lab_family *f, const struct pair_case *k, const char *no_dev)
{
	struct pscope_addr w, s;
	int fd1, fd2 = -1, rc;
	char what[160];

	snprintf(what, sizeof(what), "next to the wildcard listener, %s", k->what);
	if (k->nobody && !x->root) {
		lab_skip(x, what, "needs root, to make a socket as another user (setresuid)");
		return;
	}
	if ((k->wdev || k->sdev) && *no_dev) {
		lab_skip(x, what, no_dev);
		return;
	}
	lab_addr(&w, f->any, 0);
	fd1 = lab_socket_opts(x, f->family, SOCK_STREAM, k->flags);
	rc = fd1 < 0 ? fd1 : k->wdev ? lab_bind_device(x, fd1, k->wdev) : 0;
	if (rc == 0)
		rc = lab_bind(x, fd1, &w);
	if (rc == 0)
		rc = lab_listen(x, fd1, 8);
	if (rc < 0 || (rc = pscope_sock_local(fd1, &w)) < 0) {
		lab_broke(x, "listen on the wildcard address", rc);
		goto out;
	}
	lab_addr(&s, f->loopback, pscope_addr_port(&w));
	if (k->nobody) {
		rc = lab_bind_as_nobody(&s, k->flags);
		lab_step(x, "in a child after setresuid(65534): socket(), bind(%s) = %s", f->loopback,
			 rc ? pscope_errno_name(rc) : "0");
	} else {
		fd2 = lab_socket_opts(x, f->family, SOCK_STREAM, k->flags);
		rc = fd2 < 0 ? fd2 : k->sdev ? lab_bind_device(x, fd2, k->sdev) : 0;
		if (rc == 0)
			rc = lab_bind(x, fd2, &s);
		if (rc == 0)
			rc = lab_listen(x, fd2, 8);
	}
	lab_check(x, what, pair_source, k->predicted, lab_outcome(rc));
out:
	lab_close(x, &fd2, false);
	lab_close(x, &fd1, false);
}

/*
 * Two listeners on port P, on the wildcard address (bound to WDEV if not NULL)
 * and on loopback (to SDEV), with FLAGS; a connection to loopback and one to
 * OTHER, each checked against PREDICTED[i] (a listener's name, "wildcard" or
 * "specific", or an errno name).  LABEL prefixes the checks' names.
 */
static void route(struct lab *x, const struct lab_family *f, unsigned flags, const char *wdev,
		  const char *sdev, const char *label, const char *const predicted[2])
{
	const char *other = f->family == AF_INET6 ? SECOND_V6 : "127.0.0.2";
	char names[2][64], pred[LAB_TEXT], obs[LAB_TEXT], buf[PSCOPE_ADDRSTRLEN];
	const char *name[2] = { names[0], names[1] };
	struct pscope_addr w, s, dest;
	int lfd[2] = { -1, -1 }, port, rc;

	lab_addr(&w, f->any, 0);
	lfd[0] = lab_socket_opts(x, f->family, SOCK_STREAM, flags);
	rc = lfd[0] < 0 ? lfd[0] : wdev ? lab_bind_device(x, lfd[0], wdev) : 0;
	if (rc == 0)
		rc = lab_bind(x, lfd[0], &w);
	if (rc == 0)
		rc = lab_listen(x, lfd[0], 8);
	if (rc < 0 || (rc = pscope_sock_local(lfd[0], &w)) < 0) {
		lab_broke(x, "listen on the wildcard address", rc);
		goto out;
	}
	port = pscope_addr_port(&w);
	lab_addr(&s, f->loopback, port);
	lfd[1] = lab_socket_opts(x, f->family, SOCK_STREAM, flags);
	rc = lfd[1] < 0 ? lfd[1] : sdev ? lab_bind_device(x, lfd[1], sdev) : 0;
	if (rc == 0)
		rc = lab_bind(x, lfd[1], &s);
	if (rc == 0)
		rc = lab_listen(x, lfd[1], 8);
	if (rc < 0) {
		lab_broke(x, "listen on loopback next to the wildcard", rc);
		goto out;
	}
	snprintf(names[0], sizeof(names[0]), "%s", lab_fmt(&w, buf, sizeof(buf)));
	snprintf(names[1], sizeof(names[1]), "%s", lab_fmt(&s, buf, sizeof(buf)));
	lab_say(x, "%s: listeners on %s (fd %d%s%s) and %s (fd %d%s%s)%s", x->part, names[0], lfd[0],
		wdev ? ", on " : "", wdev ? wdev : "", names[1], lfd[1], sdev ? ", on " : "",
		sdev ? sdev : "", flags & LAB_REUSEPORT ? ", both with SO_REUSEPORT" : "");
	for (int i = 0; i < 2; i++) {
		const char *to = i ? other : f->loopback;

		lab_addr(&dest, to, port);
		if (!strcmp(predicted[i], "wildcard") || !strcmp(predicted[i], "specific"))
			snprintf(pred, sizeof(pred), "the %s listener, local address %s",
				 name[strcmp(predicted[i], "wildcard") != 0], lab_fmt(&dest, buf, sizeof(buf)));
		else
			snprintf(pred, sizeof(pred), "%s", predicted[i]);
		rc = which_listener(x, &dest, lfd, name, 2, obs, sizeof(obs));
		if (rc == -ECONNREFUSED) {
			snprintf(obs, sizeof(obs), "%s", pscope_errno_name(rc));
			lab_say(x, "%s: a client connects to %s: refused", x->part, lab_fmt(&dest, buf, sizeof(buf)));
		} else if (rc < 0) {
			lab_broke(x, "connect and accept", rc);
			goto out;
		}
		snprintf(buf, sizeof(buf), "%sa connection to %s", label, to);
		lab_check(x, buf, f->family == AF_INET6
				  ? "ipv6(7): in6addr_any binds every address; net/ipv6/inet6_hashtables.c, "
				    "inet6_lookup_listener, compute_score: a socket bound to a device takes only "
				    "that device's packets; the exact address scores above the wildcard"
				  : "ip(7): INADDR_ANY binds every local address; net/ipv4/inet_hashtables.c, "
				    "__inet_lookup_listener, compute_score: a socket bound to a device takes only "
				    "that device's packets; the exact address scores above the wildcard",
			  pred, obs);
	}
out:
	lab_close_all(x, lfd, 2, false);
}

static void specific_family(struct lab *x, const struct lab_family *f)
{
	static const char *const by_address[2] = { "specific", "wildcard" };
	static const char *const by_device[2] = { "specific", "ECONNREFUSED" };
	const struct pair_case pairs[] = {
		{ "no option: a listener on loopback", 0, NULL, NULL, false, "EADDRINUSE" },
		{ "SO_REUSEADDR on both: a listener on loopback", LAB_REUSEADDR, NULL, NULL, false, "EADDRINUSE" },
		{ "SO_REUSEPORT on both: a listener on loopback", LAB_REUSEPORT, NULL, NULL, false, "ok" },
		{ "SO_REUSEPORT on both, the loopback one another user's (uid 65534): bind()", LAB_REUSEPORT,
		  NULL, NULL, true, "EADDRINUSE" },
		{ "no option, the wildcard one bound to " LAB_TUN ", the loopback one to lo: a listener on "
		  "loopback", 0, LAB_TUN, "lo", false, "ok" },
		{ "no option, the wildcard one bound to lo, the loopback one to none: a listener on loopback",
		  0, "lo", NULL, false, "EADDRINUSE" },
	};
	char no_dev[128] = "";
	int tun = -1, rc;

	if (f->family == AF_INET6 && (rc = add_second_v6(x)) < 0) {
		lab_broke(x, "add " SECOND_V6 " to lo", rc);
		return;
	}
	/* Without root, or without a tun driver, the device checks say SKIP and why. */
	if (!x->root)
		snprintf(no_dev, sizeof(no_dev), "needs root, to make a second device (/dev/net/tun)");
	else if ((tun = lab_tun(x)) < 0)
		snprintf(no_dev, sizeof(no_dev), "no second device: making the tun device " LAB_TUN
			 " failed with %s", pscope_errno_name(tun));
	lab_say(x, "%s: a listener on %s, port P; a second one on %s, port P, made in six ways", x->part,
		f->any, f->loopback);
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		pair(x, f, &pairs[i], no_dev);
	route(x, f, LAB_REUSEPORT, NULL, NULL, "", by_address);
	if (tun < 0) {
		char what[96];

		for (int i = 0; i < 2; i++) {
			snprintf(what, sizeof(what), "on devices: a connection to %s",
				 i ? f->family == AF_INET6 ? SECOND_V6 : "127.0.0.2" : f->loopback);
			lab_skip(x, what, no_dev);
		}
	} else {
		lab_say(x, "%s: the same, without options: the wildcard listener on " LAB_TUN
			", the loopback one on lo", x->part);
		route(x, f, 0, LAB_TUN, "lo", "on devices: ", by_device);
	}
	lab_close(x, &tun, false);
}

static void specific_or_skip(struct lab *x, const struct lab_family *f)
{
	if (!x->own_netns)
		lab_skip(x, "specific and wildcard listeners",
			 "listening on a wildcard address outside a network namespace of its own "
			 "would open a port to the network");
	else
		specific_family(x, f);
}

const struct lab_experiment lab_specific_beats_wildcard = {
	.name = "specific-beats-wildcard",
	.title = "listeners on 0.0.0.0:P and 127.0.0.1:P: the exact address wins",
	.story = "Two servers on one port, one on the wildcard address, one on a specific\n"
		 "address.  On Linux a wildcard listener holds its port on every address, so\n"
		 "they coexist only with SO_REUSEPORT on both (of one user; they are still two\n"
		 "groups, not one), or when each is bound to a device (SO_BINDTODEVICE) and not\n"
		 "the same one; SO_REUSEADDR is not enough.  A connection goes to the listener\n"
		 "whose address matches exactly; the wildcard one gets the rest.  A listener\n"
		 "bound to a device takes only what arrives on that device.  IPv6 uses [::],\n"
		 "[::1] and a second address, " SECOND_V6 ", added to lo; the second device\n"
		 "is a tun device, " LAB_TUN ", made by the experiment (as root).",
	.predict = "the loopback listener next to the wildcard one: EADDRINUSE without options or\n"
		   "  with SO_REUSEADDR on both; it binds with SO_REUSEPORT on both, not as another\n"
		   "  user; it binds without options when the wildcard one is bound to " LAB_TUN "\n"
		   "  and it to lo, not when only one is bound to a device (inet_csk_bind_conflict)\n"
		   "a connection to 127.0.0.1:P (or [::1]:P) reaches the 127.0.0.1:P ([::1]:P) listener\n"
		   "a connection to 127.0.0.2:P (or [" SECOND_V6 "]:P) reaches the wildcard listener,\n"
		   "  its local address the one it was sent to (ip(7): INADDR_ANY; the kernel looks\n"
		   "  up the exact address first, then the wildcard: __inet_lookup_listener)\n"
		   "with the wildcard listener on " LAB_TUN ": 127.0.0.2:P is refused, as nothing on\n"
		   "  lo listens there (compute_score: a device-bound socket takes only its device)",
	.netns = true,
	.each_family = specific_or_skip,
};

/* Experiment 6: one client address and port, several destinations. */
static void client_family(struct lab *x, const struct lab_family *f)
{
	int l1 = -1, l2 = -1, c[4] = { -1, -1, -1, -1 }, rc, q;
	char buf[PSCOPE_ADDRSTRLEN], b2[PSCOPE_ADDRSTRLEN], pred[LAB_TEXT], obs[LAB_TEXT];
	struct pscope_addr d1, d2, me, got;
	struct lab_rows rows;

	lab_addr(&d1, f->loopback, 0);
	lab_addr(&d2, f->loopback, 0);
	l1 = lab_listener(x, &d1, 8, 0);
	l2 = lab_listener(x, &d2, 8, 0);
	if (l1 < 0 || l2 < 0 || pscope_sock_local(l1, &d1) < 0 || pscope_sock_local(l2, &d2) < 0) {
		lab_broke(x, "two listeners on loopback", l1 < 0 ? l1 : l2 < 0 ? l2 : -errno);
		goto out;
	}
	lab_say(x, "%s: two servers, %s and %s", x->part, lab_fmt(&d1, buf, sizeof(buf)),
		lab_fmt(&d2, b2, sizeof(b2)));
	lab_addr(&me, f->loopback, 0);
	c[0] = lab_socket_opts(x, f->family, SOCK_STREAM, LAB_REUSEADDR);
	rc = c[0] < 0 ? c[0] : lab_bind(x, c[0], &me);
	if (rc == 0)
		rc = pscope_sock_local(c[0], &me);
	if (rc == 0)
		rc = lab_connect(x, c[0], &d1, LAB_TIMEOUT_MS);
	if (rc < 0) {
		lab_broke(x, "bind a client to port 0 and connect it", rc);
		goto out;
	}
	q = pscope_addr_port(&me);
	lab_say(x, "%s: client fd %d bound to %s, connected to %s", x->part, c[0],
		lab_fmt(&me, buf, sizeof(buf)), lab_fmt(&d1, b2, sizeof(b2)));

	c[1] = lab_socket_opts(x, f->family, SOCK_STREAM, LAB_REUSEADDR);
	rc = c[1] < 0 ? c[1] : lab_bind(x, c[1], &me);
	lab_check(x, "a second client socket, SO_REUSEADDR on both: bind() to the same address and port",
		  "socket(7), SO_REUSEADDR: may bind unless a socket listens there", "ok", lab_outcome(rc));
	if (rc < 0)
		goto out;
	rc = lab_connect(x, c[1], &d2, LAB_TIMEOUT_MS);
	if (rc == 0)
		rc = pscope_sock_local(c[1], &got);
	snprintf(pred, sizeof(pred), "ok, from %s", lab_fmt(&me, buf, sizeof(buf)));
	snprintf(obs, sizeof(obs), "%s, from %s", lab_outcome(rc), rc ? "-" : lab_fmt(&got, b2, sizeof(b2)));
	lab_check(x, "then connect() to the other server", "socket(7), SO_REUSEADDR; a connection is "
							   "its 4-tuple, so a source port may serve two destinations "
							   "(net/ipv4/inet_hashtables.c, __inet_check_established)",
		  pred, obs);
	if ((rc = lab_kernel(IPPROTO_TCP, f->family, q, &rows)) < 0) {
		lab_broke(x, "read the kernel's list of sockets", rc);
	} else {
		lab_show_kernel(x, q, &rows, false);
		snprintf(pred, sizeof(pred), "2 ESTABLISHED with local port %d", q);
		snprintf(obs, sizeof(obs), "%d ESTABLISHED with local port %d", lab_count(&rows, TCP_ESTABLISHED, q, true),
			 q);
		lab_check(x, "the kernel's list of sockets on the client's port", "tcp(7); sock_diag(7)",
			  pred, obs);
	}

	c[2] = lab_socket_opts(x, f->family, SOCK_STREAM, 0);
	rc = c[2] < 0 ? c[2] : lab_bind(x, c[2], &me);
	lab_check(x, "a third client socket without SO_REUSEADDR: bind() to the same address and port",
		  "bind(2), ERRORS: EADDRINUSE; socket(7), SO_REUSEADDR", "EADDRINUSE", lab_outcome(rc));

	c[3] = lab_socket_opts(x, f->family, SOCK_STREAM, LAB_REUSEADDR);
	rc = c[3] < 0 ? c[3] : lab_bind(x, c[3], &me);
	if (rc < 0) {
		lab_broke(x, "bind a fourth client socket with SO_REUSEADDR", rc);
		goto out;
	}
	rc = lab_connect(x, c[3], &d1, LAB_TIMEOUT_MS);
	lab_check(x, "a fourth, with SO_REUSEADDR, bound there: connect() to the first server again",
		  "the 4-tuple is taken: net/ipv4/inet_hashtables.c, __inet_check_established "
		  "(connect(2) lists EADDRNOTAVAIL only for unbound sockets)",
		  "EADDRNOTAVAIL", lab_outcome(rc));
out:
	lab_close_all(x, c, 4, true);
	lab_close(x, &l1, false);
	lab_close(x, &l2, false);
}

const struct lab_experiment lab_client_port_reuse = {
	.name = "client-port-reuse",
	.title = "one client address and port, connected to several servers at once",
	.story = "The 4-tuple works for clients too: one local address and port can carry\n"
		 "connections to several destinations, since each 4-tuple still differs.  The\n"
		 "sockets bind the same port (SO_REUSEADDR on each, none listening).  A second\n"
		 "connection to the same destination from that port would repeat a 4-tuple:\n"
		 "the kernel refuses it.",
	.predict = "with SO_REUSEADDR on both, a second client socket binds the first's address\n"
		   "  and port (socket(7), SO_REUSEADDR) and connects to another server from it\n"
		   "without SO_REUSEADDR, that bind() fails with EADDRINUSE (bind(2))\n"
		   "a connection to the same server from the same port fails with EADDRNOTAVAIL\n"
		   "  (connect(2), ERRORS; the kernel's check that the 4-tuple is unique)",
	.each_family = client_family,
};

/* Experiment 9: an IPv6 listener that takes IPv4 too, and one that leaves IPv4 to another. */

/* A dual-stack listener on [::] and an IPv4 one on 0.0.0.0, same port, both with FLAGS (named NAME). */
static void dual_pair(struct lab *x, unsigned flags, const char *name, const char *predicted)
{
	struct pscope_addr a;
	int fd6, fd4 = -1;
	char what[128];

	lab_addr(&a, "::", 0);
	fd6 = lab_listener(x, &a, 8, LAB_DUALSTACK | flags);
	if (fd6 < 0 || pscope_sock_local(fd6, &a) < 0) {
		lab_broke(x, "listen on [::] with IPV6_V6ONLY off", fd6 < 0 ? fd6 : -errno);
		goto out;
	}
	lab_addr(&a, "0.0.0.0", pscope_addr_port(&a));
	fd4 = lab_listener(x, &a, 8, flags);
	snprintf(what, sizeof(what), "%s on both: an IPv4 listener on 0.0.0.0 next to [::], same port", name);
	lab_check(x, what,
		  "inet_csk_bind_conflict (net/ipv4/inet_connection_sock.c): a dual-stack wildcard "
		  "conflicts with 0.0.0.0 unless both have SO_REUSEPORT (one uid) or are bound to "
		  "different devices; socket(7), SO_REUSEADDR, SO_REUSEPORT",
		  predicted, lab_outcome(fd4));
out:
	lab_close(x, &fd4, false);
	lab_close(x, &fd6, false);
}
static void dual_on(struct lab *x)
{
	char buf[PSCOPE_ADDRSTRLEN], pred[LAB_TEXT], obs[LAB_TEXT];
	struct pscope_addr a, to, me, peer, local;
	int lfd, c = -1, s = -1, fd = -1, rc, port;
	struct lab_rows rows;

	lab_addr(&a, "::", 0);
	lfd = lab_listener(x, &a, 8, LAB_DUALSTACK);
	if (lfd < 0 || pscope_sock_local(lfd, &a) < 0) {
		lab_broke(x, "listen on [::] with IPV6_V6ONLY off", lfd < 0 ? lfd : -errno);
		goto out;
	}
	port = pscope_addr_port(&a);
	lab_say(x, "%s: a listener on %s (fd %d); an IPv4 client connects to 127.0.0.1:%d", x->part,
		lab_fmt(&a, buf, sizeof(buf)), lfd, port);
	lab_addr(&to, "127.0.0.1", port);
	c = lab_socket(x, AF_INET, SOCK_STREAM);
	rc = c < 0 ? c : lab_connect(x, c, &to, LAB_TIMEOUT_MS);
	if (rc == 0)
		rc = s = lab_accept(x, lfd, LAB_TIMEOUT_MS);
	if (rc < 0 || pscope_sock_local(c, &me) < 0 || pscope_sock_peer(s, &peer) < 0 || pscope_sock_local(s, &local) < 0) {
		lab_broke(x, "connect over IPv4 and accept on the IPv6 listener", rc < 0 ? rc : -errno);
		goto out;
	}
	lab_say(x, "%s: the client (fd %d) calls itself %s", x->part, c, lab_fmt(&me, buf, sizeof(buf)));
	snprintf(pred, sizeof(pred), "peer [::ffff:127.0.0.1]:%d, local [::ffff:127.0.0.1]:%d",
		 pscope_addr_port(&me), port);
	snprintf(obs, sizeof(obs), "peer %s, ", lab_fmt(&peer, buf, sizeof(buf)));
	snprintf(obs + strlen(obs), sizeof(obs) - strlen(obs), "local %s", lab_fmt(&local, buf, sizeof(buf)));
	lab_check(x, "the IPv4 client as the IPv6 server sees it (getpeername, getsockname)",
		  "ipv6(7): an IPv4 connection to an IPv6 socket has its address mapped to v6", pred, obs);
	if ((rc = lab_kernel(IPPROTO_TCP, AF_INET6, port, &rows)) < 0) {
		lab_broke(x, "read the kernel's list of sockets", rc);
	} else {
		lab_show_kernel(x, port, &rows, false);
		snprintf(pred, sizeof(pred), "IPv6 sockets with local port %d: 1 LISTEN, 1 ESTABLISHED", port);
		snprintf(obs, sizeof(obs), "IPv6 sockets with local port %d: %d LISTEN, %d ESTABLISHED", port,
			 lab_count(&rows, TCP_LISTEN, port, true), lab_count(&rows, TCP_ESTABLISHED, port, true));
		lab_check(x, "the kernel's list: the accepted socket is an IPv6 one", "ipv6(7); sock_diag(7)",
			  pred, obs);
	}
	lab_addr(&a, "0.0.0.0", port);
	fd = lab_socket_opts(x, AF_INET, SOCK_STREAM, 0);
	rc = fd < 0 ? fd : lab_bind(x, fd, &a);
	lab_check(x, "an IPv4 socket: bind() to 0.0.0.0 on the same port",
		  "ipv6(7): IPv4 and IPv6 share the local port space", "EADDRINUSE", lab_outcome(rc));
	dual_pair(x, LAB_REUSEADDR, "SO_REUSEADDR", "EADDRINUSE");
	dual_pair(x, LAB_REUSEPORT, "SO_REUSEPORT", "ok");
out:
	lab_close(x, &fd, false);
	lab_close(x, &c, true);
	lab_close(x, &s, true);
	lab_close(x, &lfd, false);
}

static void dual_off(struct lab *x)
{
	const char *names[2] = { "IPv6 [::]", "IPv4 0.0.0.0" };
	char buf[PSCOPE_ADDRSTRLEN], pred[LAB_TEXT], obs[LAB_TEXT];
	struct pscope_addr a6, a4, to;
	int lfd[2] = { -1, -1 }, port, rc;

	lab_addr(&a6, "::", 0);
	lfd[0] = lab_listener(x, &a6, 8, 0);
	if (lfd[0] < 0 || pscope_sock_local(lfd[0], &a6) < 0) {
		lab_broke(x, "listen on [::] with IPV6_V6ONLY on", lfd[0] < 0 ? lfd[0] : -errno);
		goto out;
	}
	port = pscope_addr_port(&a6);
	lab_say(x, "%s: a listener on %s (fd %d); then one on 0.0.0.0:%d", x->part,
		lab_fmt(&a6, buf, sizeof(buf)), lfd[0], port);
	lab_addr(&a4, "0.0.0.0", port);
	lfd[1] = rc = lab_listener(x, &a4, 8, 0);
	lab_check(x, "with IPV6_V6ONLY on: an IPv4 listener on 0.0.0.0, same port",
		  "ipv6(7), IPV6_V6ONLY: an IPv4 and an IPv6 application can bind to a single port",
		  "ok", lab_outcome(rc));
	if (rc < 0)
		goto out;
	for (int i = 0; i < 2; i++) {
		lab_addr(&to, i ? "::1" : "127.0.0.1", port);
		snprintf(pred, sizeof(pred), "the %s listener, local address %s", names[i ? 0 : 1],
			 lab_fmt(&to, buf, sizeof(buf)));
		rc = which_listener(x, &to, lfd, names, 2, obs, sizeof(obs));
		if (rc < 0) {
			lab_broke(x, "connect and accept", rc);
			goto out;
		}
		lab_check(x, i ? "an IPv6 client" : "an IPv4 client",
			  "ipv6(7), IPV6_V6ONLY: restricted to IPv6 packets", pred, obs);
	}
out:
	lab_close_all(x, lfd, 2, false);
}

static void run_dual_stack(struct lab *x)
{
	if (!x->own_netns) {
		lab_skip(x, "dual-stack and IPv6-only listeners on [::]",
			 "listening on a wildcard address outside a network namespace of its own would "
			 "open a port to the network");
		return;
	}
	x->part = "V6ONLY 0";
	dual_on(x);
	x->part = "V6ONLY 1";
	dual_off(x);
}

const struct lab_experiment lab_dual_stack = {
	.name = "dual-stack",
	.title = "[::] with IPV6_V6ONLY off takes IPv4 too; with it on, 0.0.0.0 shares the port",
	.story = "An IPv6 socket listening on [::] with IPV6_V6ONLY off is a dual-stack\n"
		 "listener: IPv4 clients reach it, and it sees them as IPv4-mapped IPv6\n"
		 "addresses, ::ffff:127.0.0.1.  It holds the port for IPv4 as well: an IPv4\n"
		 "listener on 0.0.0.0 cannot have it, even with SO_REUSEADDR on both, unless\n"
		 "both have SO_REUSEPORT (then they share it) or are bound to different devices\n"
		 "(see specific-beats-wildcard).  With IPV6_V6ONLY on, it takes IPv6 only, and\n"
		 "an IPv4 listener can have the same port number on 0.0.0.0.",
	.predict = "V6ONLY off: an IPv4 client's address, seen by the server, is [::ffff:127.0.0.1]:its port\n"
		   "  (ipv6(7): \"its source address will be mapped to v6\")\n"
		   "V6ONLY off: 0.0.0.0 on the same port is refused, EADDRINUSE (ipv6(7): IPv4 and\n"
		   "  IPv6 share the local port space), with SO_REUSEADDR on both too; with\n"
		   "  SO_REUSEPORT on both, an IPv4 listener on 0.0.0.0 shares it\n"
		   "  (inet_csk_bind_conflict)\n"
		   "V6ONLY on: 0.0.0.0 on the same port binds and listens; IPv4 clients reach it,\n"
		   "  IPv6 clients reach [::] (ipv6(7), IPV6_V6ONLY)",
	.netns = true,
	.run = run_dual_stack,
};

/* Experiment 10: UDP sockets on one port, connected and not. */
#define SENDERS 3
#define ROUNDS 2

/* What collect() has received so far: on socket I, the first byte of each datagram in GOT[I]. */
struct collecting {
	const int *fds;
	char (*got)[16];
	int want, total;
};

/* Reads every datagram waiting on socket I; true once WANT have come. */
static bool take_datagrams(int i, void *arg)
{
	struct collecting *c = arg;
	char d[32];
	ssize_t len;

	while ((len = recv(c->fds[i], d, sizeof(d), MSG_DONTWAIT)) > 0) {
		size_t at = strlen(c->got[i]);

		if (at + 1 < sizeof(c->got[i]))
			c->got[i][at] = d[0];
		c->total++;
	}
	return c->total >= c->want;
}

/* Reads every datagram waiting on the N sockets FDS for up to MS, naming each by its first byte. */
static void collect(const int *fds, int n, char (*got)[16], int want, int ms)
{
	struct collecting c = { fds, got, want, 0 };

	(void)lab_wait_readable(fds, n, ms, take_datagrams, &c);
}

static void udp_family(struct lab *x, const struct lab_family *f)
{
	static const char *const who[SENDERS] = { "A", "B", "X" };
	int recv_fd[3] = { -1, -1, -1 }, send_fd[SENDERS] = { -1, -1, -1 }, rc = 0, port;
	char buf[PSCOPE_ADDRSTRLEN], got[3][16], pred[LAB_TEXT], obs[LAB_TEXT];
	struct pscope_addr p, s[SENDERS];
	struct lab_rows rows;

	memset(got, 0, sizeof(got));
	for (int i = 0; i < SENDERS && rc == 0; i++) {
		lab_addr(&s[i], f->loopback, 0);
		send_fd[i] = rc = lab_socket_opts(x, f->family, SOCK_DGRAM, 0);
		if (rc >= 0)
			rc = lab_bind(x, send_fd[i], &s[i]);
		if (rc == 0)
			rc = pscope_sock_local(send_fd[i], &s[i]);
	}
	lab_addr(&p, f->loopback, 0);
	for (int i = 0; i < 3 && rc == 0; i++) {
		recv_fd[i] = rc = lab_socket_opts(x, f->family, SOCK_DGRAM, LAB_REUSEADDR);
		if (rc >= 0)
			rc = lab_bind(x, recv_fd[i], &p);
		if (rc == 0 && i == 0)
			rc = pscope_sock_local(recv_fd[0], &p);
		if (rc == 0 && i > 0)
			rc = lab_connect(x, recv_fd[i], &s[i - 1], LAB_TIMEOUT_MS);
	}
	if (rc < 0) {
		lab_broke(x, "bind the UDP sockets", rc);
		goto out;
	}
	port = pscope_addr_port(&p);
	lab_say(x, "%s: three UDP sockets on %s (SO_REUSEADDR on each):", x->part, lab_fmt(&p, buf, sizeof(buf)));
	lab_say(x, "  fd %d unconnected; fd %d connected to A (%s)", recv_fd[0], recv_fd[1],
		lab_fmt(&s[0], buf, sizeof(buf)));
	lab_say(x, "  fd %d connected to B (%s); X (%s) is a third sender", recv_fd[2],
		lab_fmt(&s[1], buf, sizeof(buf)), lab_fmt(&s[2], obs, sizeof(obs)));
	for (int r = 0; r < ROUNDS; r++)
		for (int i = 0; i < SENDERS; i++) {
			ssize_t n = sendto(send_fd[i], who[i], 1, 0, &p.u.sa, p.len);

			lab_step(x, "sendto(fd %d, \"%s\", %s) = %s", send_fd[i], who[i],
				 lab_fmt(&p, buf, sizeof(buf)), n == 1 ? "1" : pscope_errno_name(errno));
		}
	collect(recv_fd, 3, got, SENDERS * ROUNDS, LAB_TIMEOUT_MS);
	collect(recv_fd, 3, got, 1000, 100); /* anything more would be a surprise: wait briefly */
	snprintf(pred, sizeof(pred), "unconnected: XX; connected to A: AA; connected to B: BB");
	snprintf(obs, sizeof(obs), "unconnected: %s; connected to A: %s; connected to B: %s",
		 *got[0] ? got[0] : "-", *got[1] ? got[1] : "-", *got[2] ? got[2] : "-");
	lab_say(x, "%s: A, B and X each send %d datagrams to port %d; what each socket received:",
		x->part, ROUNDS, port);
	lab_say(x, "  %s", obs);
	lab_check(x, "which socket receives which sender's datagrams",
		  "connect(2): for SOCK_DGRAM, the only address from which datagrams are received; "
		  "udp(7)", pred, obs);
	if ((rc = lab_kernel(IPPROTO_UDP, f->family, port, &rows)) < 0) {
		lab_broke(x, "read the kernel's list of sockets", rc);
	} else {
		lab_show_kernel(x, port, &rows, false);
		snprintf(pred, sizeof(pred), "local port %d: 1 UNCONN, 2 ESTABLISHED", port);
		snprintf(obs, sizeof(obs), "local port %d: %d UNCONN, %d ESTABLISHED", port,
			 lab_count(&rows, TCP_CLOSE, port, true), lab_count(&rows, TCP_ESTABLISHED, port, true));
		lab_check(x, "the kernel's list of UDP sockets on the port", "udp(7); sock_diag(7)", pred, obs);
	}
out:
	lab_close_all(x, recv_fd, 3, false);
	lab_close_all(x, send_fd, SENDERS, false);
}

const struct lab_experiment lab_udp_demux = {
	.name = "udp-demux",
	.title = "UDP on one port: each connected socket gets only its peer's datagrams",
	.story = "UDP has no accept(), but the 4-tuple still sorts datagrams.  Three UDP\n"
		 "sockets share one port: one unconnected, two connected, to peers A and B.\n"
		 "A datagram goes to the socket whose peer matches its source; the unconnected\n"
		 "socket gets what comes from anyone else (X).",
	.predict = "the socket connected to A receives only A's datagrams, the one connected to B\n"
		   "  only B's (connect(2): for SOCK_DGRAM, \"the only address from which datagrams\n"
		   "  are received\")\n"
		   "the unconnected socket receives X's, and neither A's nor B's\n"
		   "the kernel lists one UNCONN and two ESTABLISHED UDP sockets on the port (udp(7))",
	.each_family = udp_family,
};
