/* portscope demo: the note's experiment end to end, server and clients in one run. */
#include <errno.h>
#include <getopt.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "report.h"

#define CLIENTS 2
#define SERVER "server   | "

static const char usage[] =
	"usage: portscope demo [ENDPOINT]\n"
	"\n"
	"Run the note's experiment: a server on ENDPOINT (default 127.0.0.1:8080; if that\n"
	"port is taken, one the kernel chooses), two clients one after the other, both\n"
	"sides' output labelled, the note's two remarks shown live, and what it all shows.\n"
	"\n"
	"Options:\n"
	"  -h, --help   show this help\n"
	"\n"
	"Exit status: 0 if everything behaved as the note says, 1 if not, 2 for a bad\n"
	"command line.\n";

struct demo {
	int lfd;
	struct pscope_sockinfo listener;
	struct pscope_addr client_local[CLIENTS];	/* each client's own getsockname */
	struct pscope_sockinfo conn[CLIENTS];		/* each accepted socket */
	uint64_t cookie[CLIENTS];			/* and its cookie, which its TIME_WAIT keeps */
	int failures;
};

static void say(const char *prefix, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const char *prefix, const char *fmt, ...)
{
	va_list ap;

	fputs(prefix, stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void unexpected(struct demo *d, const char *what)
{
	say("", "UNEXPECTED: %s", what);
	d->failures++;
}

/* Listens on A; the default endpoint falls back to a kernel-chosen port if 8080 is taken. */
static int open_listener(struct demo *d, struct pscope_addr a, bool is_default)
{
	char text[PSCOPE_ADDRSTRLEN];
	int wanted = pscope_addr_port(&a);

	d->lfd = pscope_listen(&a, 16, 0);
	if (d->lfd == -EADDRINUSE && is_default) {
		pscope_addr_set_port(&a, 0);
		d->lfd = pscope_listen(&a, 16, 0);
		if (d->lfd >= 0)
			say("", "(port %u is taken on this machine, so the kernel chose another port)",
			    (unsigned)wanted);
	}
	if (d->lfd < 0) {
		pscope_addr_format(&a, text, sizeof(text));
		cli_warn("bind %s: %s", text, pscope_strerror(d->lfd));
		return -1;
	}
	pscope_sock_describe(d->lfd, &d->listener);
	pscope_addr_format(&d->listener.local, text, sizeof(text));
	say(SERVER, "listening on %s (fd %d)", text, d->lfd);
	return 0;
}

/*
 * Takes the next client within 5 s.  One poll(2) on one descriptor, not an
 * event loop: a loop's epoll descriptor would take one of the low numbers the
 * demo prints (listener 3, client 4, accepted 5, as in the note).
 */
static int accept_one(struct demo *d, struct pscope_addr *from)
{
	struct pollfd p = { .fd = d->lfd, .events = POLLIN };

	if (poll(&p, 1, 5000) != 1)
		return -ETIMEDOUT;
	return pscope_accept(d->lfd, from, NULL);
}

/* FD's socket cookie (socket(7), SO_COOKIE), or 0 if the kernel does not give it. */
static uint64_t cookie_of(int fd)
{
	uint64_t c = 0;
	socklen_t len = sizeof(c);

	return getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &len) == 0 && len == sizeof(c) ? c : 0;
}

/* The server's half: the note's block, then the portscope/1 line, then close. */
static int serve_one(struct demo *d, int i)
{
	struct conn_report r = { .seq = (unsigned long long)i + 1, .listener = &d->listener };
	char line[PSCOPE_WHOAMI_MAX];
	int fd = accept_one(d, &r.from), n;

	if (fd < 0) {
		cli_warn("accept: %s", pscope_strerror(fd));
		return -1;
	}
	pscope_sock_describe(fd, &r.conn);
	d->conn[i] = r.conn;
	d->cookie[i] = cookie_of(fd);
	report_print(FMT_SEED, SERVER, &r);
	n = report_whoami(&r, line, sizeof(line));
	if (n > 0)
		(void)send(fd, line, (size_t)n, MSG_NOSIGNAL);
	close(fd);
	return 0;
}

static int run_client(struct demo *d, int i)
{
	char prefix[32], buf[PSCOPE_WHOAMI_BUF];
	struct pscope_sockinfo si;
	struct pscope_whoami w;
	size_t len;
	int fd, rc;

	snprintf(prefix, sizeof(prefix), "client %d | ", i + 1);
	fd = pscope_socket(d->listener.family, SOCK_STREAM);
	if (fd < 0 || (rc = pscope_connect(fd, &d->listener.local, 5000)) < 0) {
		cli_warn("connect: %s", pscope_strerror(fd < 0 ? fd : rc));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	pscope_sock_describe(fd, &si);
	d->client_local[i] = si.local;
	say(prefix, "client socket address is ");
	report_py_addr(&si.local, si.local_err, buf, sizeof(buf));
	say(prefix, "%s", buf);

	if (serve_one(d, i) < 0) {
		close(fd);
		return -1;
	}
	rc = pscope_read_line(fd, buf, sizeof(buf), &len, 2000);
	close(fd);
	if ((rc != PSCOPE_LINE_LF && rc != PSCOPE_LINE_CRLF) || pscope_whoami_parse(buf, len, &w) < 0) {
		unexpected(d, "the server's portscope/1 line did not arrive");
		return 0;
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	say(prefix, "the server told it: %s", buf);
	if (pscope_addr_same(&w.you, &si.local) && pscope_addr_same(&w.me, &si.peer))
		say(prefix, "the same 4-tuple as this client sees: nothing in between");
	else
		unexpected(d, "the server saw a different 4-tuple than the client");
	return 0;
}

#define HELD 2
/* The demo's own sockets on the port: the listener, the HELD connections' two ends, the CLIENTS' earlier ones. */
#define OWN (1 + 2 * HELD + CLIENTS)

/* One of the demo's own sockets, and the row the kernel listed for it. */
struct own_sock {
	char label[96];
	uint64_t inode;		/* an open descriptor's socket: found by its inode (fstat) */
	uint64_t cookie;	/* a closed one: by its cookie, which its TIME_WAIT socket keeps */
	struct pscope_addr local, peer;	/* or by its 4-tuple, where the source has no cookie (/proc) */
	bool found;
	struct pscope_diag_sock row;
};

/*
 * The kernel's list of the port, cut to the demo's own sockets: one slot for
 * each, so nothing of them can be lost for want of room; the others are
 * counted, not kept.
 */
struct kview {
	struct own_sock own[OWN];
	int n;
	unsigned others;
};

static bool is_own(const struct own_sock *o, const struct pscope_diag_sock *s)
{
	struct pscope_addr a;

	if (o->inode)
		return !(s->absent & PSCOPE_DIAG_NO_INODE) && s->inode == o->inode;
	if (o->cookie && !(s->absent & PSCOPE_DIAG_NO_COOKIE))
		return s->cookie == o->cookie;
	pscope_diag_local(s, &a);
	if (!pscope_addr_same(&a, &o->local))
		return false;
	pscope_diag_peer(s, &a);
	return pscope_addr_same(&a, &o->peer);
}

static int keep_row(const struct pscope_diag_sock *s, void *ctx)
{
	struct kview *k = ctx;

	if (!s) {		/* the listing starts again */
		for (int i = 0; i < k->n; i++)
			k->own[i].found = false;
		k->others = 0;
		return 0;
	}
	for (int i = 0; i < k->n; i++)
		if (!k->own[i].found && is_own(&k->own[i], s)) {
			k->own[i].found = true;
			k->own[i].row = *s;
			return 0;
		}
	k->others++;
	return 0;
}

static uint64_t inode_of(int fd)
{
	struct stat st;

	return fd >= 0 && fstat(fd, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static struct own_sock *add_own(struct kview *k, uint64_t inode, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static struct own_sock *add_own(struct kview *k, uint64_t inode, const char *fmt, ...)
{
	struct own_sock *o = &k->own[k->n++];
	va_list ap;

	o->inode = inode;
	va_start(ap, fmt);
	vsnprintf(o->label, sizeof(o->label), fmt, ap);
	va_end(ap);
	return o;
}

/* The demo's sockets, in the order they are shown: listener, accepted, clients, earlier connections. */
static void own_sockets(const struct demo *d, const int *cfd, const int *sfd, struct kview *k)
{
	k->n = 0;
	add_own(k, inode_of(d->lfd), "the listening socket (fd %d)", d->lfd);
	for (int i = 0; i < HELD; i++)
		add_own(k, inode_of(sfd[i]), "accepted for client %d (server fd %d)", CLIENTS + i + 1, sfd[i]);
	for (int i = 0; i < HELD; i++)
		add_own(k, inode_of(cfd[i]), "client %d's own socket (fd %d)", CLIENTS + i + 1, cfd[i]);
	for (int i = 0; i < CLIENTS; i++) {
		struct own_sock *o = add_own(k, 0, "accepted for client %d, closed by the server first",
					     i + 1);

		o->cookie = d->cookie[i];
		o->local = d->conn[i].local;
		o->peer = d->conn[i].peer;
	}
}

static void print_row(const struct own_sock *o)
{
	char lbuf[PSCOPE_ADDRSTRLEN], pbuf[PSCOPE_ADDRSTRLEN];
	struct pscope_addr a;

	pscope_diag_local(&o->row, &a);
	pscope_addr_format(&a, lbuf, sizeof(lbuf));
	pscope_diag_peer(&o->row, &a);
	if (o->row.rport == 0)
		snprintf(pbuf, sizeof(pbuf), "*");
	else
		pscope_addr_format(&a, pbuf, sizeof(pbuf));
	say("", "  %-11s %-22s %-22s <- %s", pscope_diag_state_name(&o->row), lbuf, pbuf, o->label);
}

/*
 * Lists the demo's own sockets on the port as the kernel sees them, and
 * concludes only from what was listed: every one of them must be there.
 */
static void print_kernel_view(struct demo *d, const int *cfd, const int *sfd)
{
	struct pscope_diag_filter f = { .protos = PSCOPE_DIAG_TCP, .port = pscope_addr_port(&d->listener.local) };
	struct kview k = { .n = 0 };
	int rc, local = 0, missing = 0, accepted = 0;

	own_sockets(d, cfd, sfd, &k);
	rc = pscope_diag_netlink(&f, keep_row, &k, -1, NULL);
	if (rc < 0) {
		keep_row(NULL, &k);
		rc = pscope_diag_proc(NULL, &f, keep_row, &k, NULL);
	}
	say("", "\nThe kernel's own view (portscope ls %d), with clients %d and %d holding their", f.port,
	    CLIENTS + 1, CLIENTS + 2);
	say("", "connections open:");
	if (rc < 0) {
		say("", "  (the kernel's socket list could not be read: %s)", pscope_strerror(rc));
		return;
	}
	for (int i = 0; i < k.n; i++) {
		const struct own_sock *o = &k.own[i];

		if (!o->found) {
			say("", "  (not in the kernel's list: %s)", o->label);
			missing++;
			continue;
		}
		print_row(o);
		local += o->row.lport == f.port;
		/* Everything but the clients' own sockets is the listener's or was accepted from it. */
		accepted += i == 0 || i <= HELD || i > 2 * HELD;
	}
	if (k.others)
		say("", "  (the %u other socket%s on port %d %s not the demo's: left out)", k.others,
		    k.others == 1 ? "" : "s", f.port, k.others == 1 ? "is" : "are");
	if (missing) {
		unexpected(d, "some of the demo's own sockets were not in the kernel's list");
		say("", "  With %d of the demo's sockets missing, no conclusion is drawn from this list.",
		    missing);
		return;
	}
	if (local != accepted) {
		unexpected(d, "the sockets with the listener's local port are not the listener and "
			      "the connections it accepted");
		return;
	}
	say("", "  %d sockets of the demo's own; %d of them have local port %d: the listener and", k.n,
	    local, f.port);
	say("", "  every connection it accepted.  The clients' sockets have it as their remote port.");
}

/* Two more clients connect and stay; the kernel lists the port; then all close. */
static void show_kernel_view(struct demo *d)
{
	int cfd[HELD] = { -1, -1 }, sfd[HELD] = { -1, -1 };
	struct pscope_addr from;

	for (int i = 0; i < HELD; i++) {
		cfd[i] = pscope_socket(d->listener.family, SOCK_STREAM);
		if (cfd[i] < 0 || pscope_connect(cfd[i], &d->listener.local, 5000) < 0 ||
		    (sfd[i] = accept_one(d, &from)) < 0) {
			unexpected(d, "could not hold two connections open for the kernel's view");
			goto out;
		}
	}
	print_kernel_view(d, cfd, sfd);
out:
	for (int i = 0; i < HELD; i++) {
		if (cfd[i] >= 0)
			close(cfd[i]);
		if (sfd[i] >= 0)
			close(sfd[i]);
	}
}

static void show_remarks(struct demo *d)
{
	struct pscope_addr none;
	struct pscope_sockinfo fresh;
	char text[PSCOPE_ADDRSTRLEN];
	int fd;

	say("", "\nThe note's two remarks, live:");
	pscope_addr_format(&d->listener.local, text, sizeof(text));
	if (pscope_sock_peer(d->lfd, &none) == -ENOTCONN) {
		say("", "  getpeername() on the listening socket (fd %d) fails: ENOTCONN (%s).",
		    d->lfd, strerror(ENOTCONN));
		say("", "    It listens on %s and is connected to no one, so it has no peer.", text);
	} else {
		unexpected(d, "getpeername() on the listening socket did not fail with ENOTCONN");
	}
	fd = pscope_socket(d->listener.family, SOCK_STREAM);
	if (fd < 0 || pscope_sock_describe(fd, &fresh) < 0 || fresh.local_err) {
		unexpected(d, "could not make a fresh socket to look at");
	} else {
		report_py_addr(&fresh.local, 0, text, sizeof(text));
		say("", "  getsockname() on a new socket (fd %d) before connect(): %s.", fd, text);
		say("", "    No address and no port yet: connect() or bind() gives it one.");
		if (pscope_addr_port(&fresh.local) != 0)
			unexpected(d, "a fresh socket already had a port");
	}
	if (fd >= 0)
		close(fd);
}

/* States what the run showed, checking each claim against what was observed. */
static void conclude(struct demo *d)
{
	char lst[PSCOPE_ADDRSTRLEN], any[PSCOPE_ADDRSTRLEN];
	int port = pscope_addr_port(&d->listener.local);
	bool wildcard = pscope_addr_host(&d->listener.local, any, sizeof(any)) > 0 &&
			(!strcmp(any, "0.0.0.0") || !strcmp(any, "::"));

	pscope_addr_format(&d->listener.local, lst, sizeof(lst));
	say("", "\nWhat this showed:");
	for (int i = 0; i < CLIENTS; i++)
		if (wildcard ? pscope_addr_port(&d->conn[i].local) != port
			     : !pscope_addr_same(&d->conn[i].local, &d->listener.local))
			unexpected(d, "a connected socket's local address differs from the listener's");
	if (pscope_addr_same(&d->conn[0].peer, &d->conn[1].peer))
		unexpected(d, "both clients had the same address and port");
	if (wildcard) {
		say("", "  The listening socket (fd %d) takes any address (%s); each connected", d->lfd, lst);
		say("", "  socket has a real one, on the same port %d: one port, many sockets.", port);
		say("", "  Only the 4-tuple");
	} else {
		say("", "  The listening socket (fd %d) and each connected socket had the same local", d->lfd);
		say("", "  address, %s: one port, many sockets.  Only the 4-tuple", lst);
	}
	say("", "  <client ip, client port, server ip, server port> tells them apart:");
	for (int i = 0; i < CLIENTS; i++) {
		char host[PSCOPE_ADDRSTRLEN], shost[PSCOPE_ADDRSTRLEN];

		pscope_addr_host(&d->conn[i].peer, host, sizeof(host));
		pscope_addr_host(&d->conn[i].local, shost, sizeof(shost));
		say("", "    connection %d (server fd %d): <%s, %d, %s, %d>", i + 1, d->conn[i].fd,
		    host, pscope_addr_port(&d->conn[i].peer), shost, port);
	}
	say("", "  The listener has no peer at all; the connections differ only in the");
	say("", "  client's port, which the kernel chose for each client at connect().");
	if (d->failures)
		say("", "\n%d observation%s did not match the note: see UNEXPECTED above.",
		    d->failures, d->failures == 1 ? "" : "s");
}

int cmd_demo(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct demo d = { .lfd = -1 };
	struct pscope_endpoint ep;
	struct cli_opts o;
	struct pscope_addr a;
	const char *arg;
	int c, rc;

	cli_opts_init(&o, "h", longopts);
	while ((c = cli_getopt(&o, argc, argv)) != -1) {
		if (c != 'h')
			return EXIT_USAGE;
		fputs(usage, stdout);
		return cli_finish(EXIT_OK);
	}
	if (argc - optind > 1)
		return cli_usage_error("too many arguments: one ENDPOINT at most");
	arg = optind < argc ? argv[optind] : "127.0.0.1:8080";
	if (cli_parse_endpoint(arg, "127.0.0.1", 8080, &ep) < 0)
		return EXIT_USAGE;
	/* The demo connects to its own listener: one address, so not '*' (0.0.0.0 and [::]). */
	if (ep.kind == PSCOPE_HOST_ANY)
		return cli_usage_error("bad endpoint '%s': the demo listens on one address; write "
				       "0.0.0.0 or [::] for every interface of one family", arg);
	rc = cli_resolve_endpoint(arg, &ep, AF_UNSPEC, PSCOPE_RESOLVE_PASSIVE, &a, 1);
	if (rc < 0)
		return -rc;
	cli_ignore_sigpipe();

	say("", "portscope demo: the note's experiment. One server, two clients, one port.\n");
	if (open_listener(&d, a, optind >= argc) < 0)
		return cli_finish(EXIT_FAIL);
	for (int i = 0; i < CLIENTS; i++) {
		putchar('\n');
		if (run_client(&d, i) < 0) {
			close(d.lfd);
			return cli_finish(EXIT_FAIL);
		}
	}
	show_kernel_view(&d);
	show_remarks(&d);
	conclude(&d);
	close(d.lfd);
	return cli_finish(d.failures ? EXIT_FAIL : EXIT_OK);
}
