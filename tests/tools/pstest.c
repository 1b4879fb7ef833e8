/*
 * pstest: peers for the end-to-end tests, each bounded in count and time.
 *
 *   pstest hold PORT N [HOST]   open N connections at once, then read every
 *                               portscope/1 line and check it against the
 *                               client's own view; prints the counts
 *   pstest reply [-6] TEXT      listen on loopback port 0, print the port, send
 *                               TEXT and a newline (nothing if TEXT is empty)
 *                               to one client, close; TEXT "MAPPED" sends
 *                               the client's true 4-tuple as IPv4-mapped addresses
 *   pstest reset PORT [HOST]    connect, then reset (SO_LINGER 0) at once
 *   pstest quit PORT [HOST]     connect, then close without reading
 *   pstest udp [-6]             bind a UDP socket on loopback port 0 and connect
 *                               another to it; print the port; hold them 20 s
 *   pstest reuseport [-6]       two TCP listeners with SO_REUSEPORT on one
 *                               loopback port; print the port; hold them 20 s
 *   pstest acceptor PORT        join the SO_REUSEPORT group on 127.0.0.1:PORT,
 *                               accept and hold every client (portscope/1 line
 *                               sent), for 20 s at most
 *   pstest freeport             print a loopback port that nothing listens on
 *   pstest fdcount PID          print how many descriptors PID has open
 */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "portscope/portscope.h"

#define DEADLINE_MS 20000

static int die(const char *what, int err)
{
	fprintf(stderr, "pstest: %s: %s\n", what, pscope_strerror(err));
	return 1;
}

static int loopback(const char *host, const char *port, struct pscope_addr *a)
{
	struct pscope_endpoint ep;
	char text[300];
	int rc;

	snprintf(text, sizeof(text), strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
	rc = pscope_endpoint_parse(text, strlen(text), NULL, 0, &ep);
	if (rc == 0)
		rc = pscope_endpoint_resolve(&ep, AF_UNSPEC, SOCK_STREAM, PSCOPE_RESOLVE_NUMERIC, a, 1);
	return rc < 0 ? rc : 0;
}

/*
 * Tests count the sockets of the port they are given, and a port the kernel chose
 * may still carry sockets of an earlier test (a client end in TIME_WAIT towards
 * it, for one).  foreign_sockets: how many rows of /proc/net/{tcp,tcp6,udp,udp6}
 * have PORT at either end and are not FD's own socket (TIME_WAIT rows have inode 0).
 */
static int foreign_sockets(int port, int fd)
{
	static const char *const tables[] = { "/proc/net/tcp", "/proc/net/tcp6",
					      "/proc/net/udp", "/proc/net/udp6" };
	struct stat st;
	int n = 0;

	if (fstat(fd, &st) < 0)
		return -1;
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		FILE *f = fopen(tables[t], "r");
		char line[512];

		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			unsigned lport, rport;
			unsigned long inode;

			/* sl local:port rem:port st tx:rx tr:when retrnsmt uid timeout inode */
			if (sscanf(line, " %*s %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%x %*x %*x:%*x %*x:%*x %*x %*u %*u %lu",
				   &lport, &rport, &inode) != 3)
				continue;
			if (((int)lport == port || (int)rport == port) && inode != st.st_ino)
				n++;
		}
		fclose(f);
	}
	return n;
}

/* Up to this many kernel-chosen ports are kept aside (open) while looking for a clean one. */
#define DIRTY_MAX 16

/*
 * clean_port_socket: calls OPEN() until it gives a socket whose port no other
 * socket uses (foreign_sockets); the ones it refused stay open meanwhile, so that
 * the kernel does not hand their port out again, and are closed before returning.
 */
static int clean_port_socket(int (*open_one)(void *), void *arg)
{
	int dirty[DIRTY_MAX], ndirty = 0, fd;

	for (;;) {
		struct pscope_sockinfo si;

		fd = open_one(arg);
		if (fd < 0 || pscope_sock_describe(fd, &si) < 0)
			break;
		if (foreign_sockets(pscope_addr_port(&si.local), fd) == 0 || ndirty == DIRTY_MAX)
			break;
		fprintf(stderr, "pstest: port %d still carries sockets of an earlier test: another one\n",
			pscope_addr_port(&si.local));
		dirty[ndirty++] = fd;
	}
	while (ndirty)
		close(dirty[--ndirty]);
	return fd;
}

struct opener {
	struct pscope_addr a;
	int type, flags, backlog;
};

static int open_listener(void *arg)
{
	struct opener *o = arg;

	return pscope_listen(&o->a, o->backlog, o->flags);
}

static int open_bound(void *arg)
{
	struct opener *o = arg;
	int fd = pscope_socket(o->a.u.sa.sa_family, o->type);

	if (fd >= 0 && bind(fd, &o->a.u.sa, o->a.len) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int cmd_hold(const char *port, int n, const char *host)
{
	struct pscope_addr a;
	struct pollfd *p = calloc((size_t)n, sizeof(*p));
	int connected = 0, replies = 0, matched = 0, pending;
	long long deadline = pscope_now_ms() + DEADLINE_MS;
	int rc = loopback(host, port, &a);

	if (rc < 0 || !p)
		return die("hold", rc < 0 ? rc : -ENOMEM);
	for (int i = 0; i < n; i++) {
		p[i].fd = pscope_socket(a.u.sa.sa_family, SOCK_STREAM);
		if (p[i].fd < 0)
			return die("socket", p[i].fd);
		if (connect(p[i].fd, &a.u.sa, a.len) < 0 && errno != EINPROGRESS)
			return die("connect", -errno);
		p[i].events = POLLOUT;
	}
	/* Every connection is established before any reply is read: all N are open at once. */
	for (pending = n; pending > 0 && pscope_now_ms() < deadline;) {
		if (poll(p, (nfds_t)n, 100) < 0 && errno != EINTR)
			return die("poll", -errno);
		for (int i = 0; i < n; i++) {
			int err = 0;
			socklen_t len = sizeof(err);

			if (p[i].events != POLLOUT || !p[i].revents)
				continue;
			getsockopt(p[i].fd, SOL_SOCKET, SO_ERROR, &err, &len);
			connected += err == 0;
			p[i].events = 0;
			pending--;
		}
	}
	for (int i = 0; i < n; i++) {
		char line[PSCOPE_WHOAMI_BUF];
		struct pscope_sockinfo si;
		struct pscope_whoami w;
		size_t len;
		int got;

		pscope_sock_describe(p[i].fd, &si);
		got = pscope_read_line(p[i].fd, line, sizeof(line), &len,
				       (int)(deadline - pscope_now_ms()));
		if ((got == PSCOPE_LINE_LF || got == PSCOPE_LINE_CRLF) &&
		    pscope_whoami_parse(line, len, &w) == 0) {
			replies++;
			matched += pscope_addr_same(&w.you, &si.local) &&
				   pscope_addr_same(&w.me, &si.peer);
		}
		close(p[i].fd);
	}
	free(p);
	printf("connected=%d replies=%d matched=%d\n", connected, replies, matched);
	return connected == n && matched == n ? 0 : 1;
}

static int cmd_reply(bool v6, const char *text)
{
	struct opener o = { .backlog = 4 };
	struct pscope_sockinfo si;
	struct pollfd p;
	int lfd, fd, rc = loopback(v6 ? "::1" : "127.0.0.1", "0", &o.a);

	if (rc < 0)
		return die("reply", rc);
	lfd = clean_port_socket(open_listener, &o);
	if (lfd < 0)
		return die("listen", lfd);
	pscope_sock_describe(lfd, &si);
	printf("%d\n", pscope_addr_port(&si.local));
	fflush(stdout);
	p = (struct pollfd){ .fd = lfd, .events = POLLIN };
	if (poll(&p, 1, DEADLINE_MS) != 1)
		return die("accept", -ETIMEDOUT);
	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		return die("accept", -errno);
	if (!strcmp(text, "MAPPED")) {
		/* What a dual-stack server would say: both ends as IPv4-mapped IPv6 addresses. */
		struct pscope_sockinfo c;
		char you[64], me[64];

		pscope_sock_describe(fd, &c);
		pscope_addr_host(&c.peer, you, sizeof(you));
		pscope_addr_host(&c.local, me, sizeof(me));
		dprintf(fd, "portscope/1 you=[::ffff:%s]:%d me=[::ffff:%s]:%d\n", you,
			pscope_addr_port(&c.peer), me, pscope_addr_port(&c.local));
	} else if (text[0]) {
		dprintf(fd, "%s\n", text);
	} else {
		/* Silent: hold the connection a moment, then close it without a word. */
		usleep(300000);
	}
	close(fd);
	close(lfd);
	return 0;
}

static int cmd_leave(const char *port, const char *host, bool reset)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct pscope_addr a;
	int fd, rc = loopback(host, port, &a);

	if (rc < 0)
		return die("connect", rc);
	fd = pscope_socket(a.u.sa.sa_family, SOCK_STREAM);
	if (fd < 0)
		return die("socket", fd);
	rc = pscope_connect(fd, &a, DEADLINE_MS);
	if (rc < 0)
		return die("connect", rc);
	if (reset)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	return 0;
}

/* Prints PORT, then holds whatever is open until killed or HOLD_S have passed. */
#define HOLD_S 20
static int print_and_hold(int port)
{
	printf("%d\n", port);
	fflush(stdout);
	sleep(HOLD_S);
	return 0;
}

static int cmd_udp(bool v6)
{
	struct opener o = { .type = SOCK_DGRAM };
	struct pscope_sockinfo si;
	int srv, cli, rc = loopback(v6 ? "::1" : "127.0.0.1", "0", &o.a);

	if (rc < 0)
		return die("udp", rc);
	srv = clean_port_socket(open_bound, &o);
	if (srv < 0)
		return die("bind", srv);
	pscope_sock_describe(srv, &si);
	cli = pscope_socket(o.a.u.sa.sa_family, SOCK_DGRAM);
	if (cli < 0 || connect(cli, &si.local.u.sa, si.local.len) < 0)
		return die("connect", cli < 0 ? cli : -errno);
	return print_and_hold(pscope_addr_port(&si.local));
}

static int cmd_reuseport(bool v6)
{
	struct opener o = { .backlog = 16, .flags = PSCOPE_LISTEN_REUSEPORT };
	struct pscope_sockinfo si;
	int l1, l2, rc = loopback(v6 ? "::1" : "127.0.0.1", "0", &o.a);

	if (rc < 0)
		return die("reuseport", rc);
	l1 = clean_port_socket(open_listener, &o);
	if (l1 < 0)
		return die("listen", l1);
	pscope_sock_describe(l1, &si);
	l2 = pscope_listen(&si.local, 16, PSCOPE_LISTEN_REUSEPORT);
	if (l2 < 0)
		return die("second listen", l2);
	return print_and_hold(pscope_addr_port(&si.local));
}

static int cmd_acceptor(const char *port)
{
	struct pscope_addr a;
	long long end = pscope_now_ms() + HOLD_S * 1000;
	int lfd, held = 0, rc = loopback("127.0.0.1", port, &a);

	if (rc < 0)
		return die("acceptor", rc);
	lfd = pscope_listen(&a, 4096, PSCOPE_LISTEN_REUSEPORT);
	if (lfd < 0)
		return die("listen", lfd);
	printf("ready\n");
	fflush(stdout);
	while (pscope_now_ms() < end) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		struct pscope_sockinfo si;
		char you[64], me[64];
		int fd;

		if (poll(&p, 1, 100) != 1)
			continue;
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		/* Held open until this process ends: the point is to take clients. */
		held++;
		pscope_sock_describe(fd, &si);
		pscope_addr_format(&si.peer, you, sizeof(you));
		pscope_addr_format(&si.local, me, sizeof(me));
		dprintf(fd, "portscope/1 you=%s me=%s\n", you, me);
	}
	printf("held=%d\n", held);
	return 0;
}

static int cmd_freeport(void)
{
	struct opener o = { .type = SOCK_STREAM };
	struct pscope_sockinfo si;
	int fd, rc = loopback("127.0.0.1", "0", &o.a);

	if (rc < 0)
		return die("freeport", rc);
	/* Bound but not listening: the port is ours and nobody accepts on it. */
	fd = clean_port_socket(open_bound, &o);
	if (fd < 0)
		return die("bind", fd);
	pscope_sock_describe(fd, &si);
	printf("%d\n", pscope_addr_port(&si.local));
	close(fd);
	return 0;
}

static int cmd_fdcount(const char *pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%s/fd", pid);
	d = opendir(path);
	if (!d)
		return die(path, -errno);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	printf("%d\n", n);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (!strcmp(cmd, "hold") && argc >= 4)
		return cmd_hold(argv[2], atoi(argv[3]), argc > 4 ? argv[4] : "127.0.0.1");
	if (!strcmp(cmd, "reply") && argc == 4 && !strcmp(argv[2], "-6"))
		return cmd_reply(true, argv[3]);
	if (!strcmp(cmd, "reply") && argc == 3)
		return cmd_reply(false, argv[2]);
	if ((!strcmp(cmd, "reset") || !strcmp(cmd, "quit")) && argc >= 3)
		return cmd_leave(argv[2], argc > 3 ? argv[3] : "127.0.0.1", cmd[1] == 'e');
	if (!strcmp(cmd, "udp") || !strcmp(cmd, "reuseport")) {
		bool v6 = argc > 2 && !strcmp(argv[2], "-6");

		return cmd[0] == 'u' ? cmd_udp(v6) : cmd_reuseport(v6);
	}
	if (!strcmp(cmd, "acceptor") && argc == 3)
		return cmd_acceptor(argv[2]);
	if (!strcmp(cmd, "freeport"))
		return cmd_freeport();
	if (!strcmp(cmd, "fdcount") && argc == 3)
		return cmd_fdcount(argv[2]);
	fprintf(stderr, "usage: pstest hold|reply|reset|quit|udp|reuseport|acceptor|freeport|fdcount ...\n");
	return 2;
}
