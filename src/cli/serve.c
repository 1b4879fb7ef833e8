/* portscope serve: listen, and report every accepted connection as the note does. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "report.h"

#define MAX_LISTENERS 16
#define BACKLOG 4096
/* Accepts per wake-up on one listener, so that one busy port cannot starve the rest. */
#define ACCEPT_BATCH 256

/* epoll tags: a listener's index or the signalfd, apart from connection descriptors. */
#define TAG_LISTENER (1ULL << 32)
#define TAG_SIGNAL (2ULL << 32)

struct server {
	enum format fmt;
	bool keep;
	int epfd;
	int sigfd;
	int spare;			/* kept open to be given up when descriptors run out */
	size_t nlisten;
	int lfd[MAX_LISTENERS];
	struct pscope_sockinfo linfo[MAX_LISTENERS];
	unsigned long long served;
	unsigned long long open;
	long long last_warn_ms;
	bool stop;
};

static const char usage[] =
	"usage: portscope serve [OPTIONS] [ENDPOINT]\n"
	"\n"
	"Listen on ENDPOINT (default 127.0.0.1:8080) and, for each client, print what the\n"
	"note's Python server prints: the client's address, the connected and the listening\n"
	"socket, and their addresses.  Then tell the client, in one portscope/1 line, what\n"
	"the server saw, and close.\n"
	"\n"
	"ENDPOINT is PORT (on 127.0.0.1), HOST, HOST:PORT, IPv4:PORT or [IPv6]:PORT.\n"
	"Listening on every interface must be asked for: 0.0.0.0:PORT or [::]:PORT.\n"
	"Port 0 lets the kernel choose.  A name listens on every address it resolves to.\n"
	"\n"
	"Options:\n"
	"  -f, --format FMT   seed (the note's block, default), line, or json (one object a line)\n"
	"  -k, --keep         keep each connection open until the client closes it\n"
	"  -4, -6             only IPv4, or only IPv6, addresses of ENDPOINT\n"
	"  -h, --help         show this help\n"
	"\n"
	"Prints 'portscope: listening on ADDR:PORT' on stderr for each listening socket.\n"
	"SIGINT or SIGTERM ends it with a summary on stderr.  Exit status: 0 after a\n"
	"signal, 1 if it cannot listen, 2 for a bad command line.\n";

static void warn_limited(struct server *s, const char *what, int err)
{
	long long now = pscope_now_ms();

	/* At most one line a second: a flood of clients must not become a flood of output. */
	if (now - s->last_warn_ms < 1000)
		return;
	s->last_warn_ms = now;
	cli_warn("%s: %s", what, strerror(err));
}

/* Out of descriptors: give up the spare to accept and close one client, so it is not left waiting. */
static void shed_one(struct server *s, int lfd)
{
	int fd;

	if (s->spare >= 0) {
		close(s->spare);
		s->spare = -1;
	}
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	s->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void send_whoami(const struct conn_report *r)
{
	char line[PSCOPE_WHOAMI_MAX];
	int n = report_whoami(r, line, sizeof(line));

	/* The socket is new and its buffer empty, so a short line is sent whole or the peer is gone. */
	if (n > 0)
		(void)send(r->conn.fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void close_conn(struct server *s, int fd)
{
	close(fd);
	if (s->open)
		s->open--;
}

static void serve_conn(struct server *s, size_t li, int fd, const struct pscope_addr *from)
{
	struct conn_report r = { .seq = ++s->served, .from = *from, .listener = &s->linfo[li] };
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = (uint64_t)fd };

	s->open++;
	if (pscope_sock_describe(fd, &r.conn) < 0) {
		close_conn(s, fd);
		return;
	}
	report_print(s->fmt, "", &r);
	send_whoami(&r);
	if (!s->keep) {
		close_conn(s, fd);
		return;
	}
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		warn_limited(s, "cannot watch a connection", errno);
		close_conn(s, fd);
	}
}

static void accept_some(struct server *s, size_t li)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		struct pscope_addr from;
		int fd = accept4(s->lfd[li], (struct sockaddr *)&ss, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			pscope_addr_set(&from, (struct sockaddr *)&ss, len);
			serve_conn(s, li, fd, &from);
			continue;
		}
		switch (errno) {
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
		case EPERM:
			continue;
		case EMFILE:
		case ENFILE:
			warn_limited(s, "accept", errno);
			shed_one(s, s->lfd[li]);
			continue;
		case EAGAIN:
			return;
		default:
			/* ENOBUFS, ENOMEM: the next wake-up tries again. */
			warn_limited(s, "accept", errno);
			return;
		}
	}
}

/* Reads and discards what a kept client sends; closes on end of file or error. */
static void drain_conn(struct server *s, int fd)
{
	static char sink[16384];

	for (int i = 0; i < 4; i++) {
		ssize_t n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);

		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		close_conn(s, fd);
		return;
	}
}

static const char *bind_hint(int err)
{
	switch (err) {
	case EADDRINUSE:
		return "another socket holds this port: stop it, choose another port, or 0 to let the kernel choose";
	case EACCES:
		return "ports below net.ipv4.ip_unprivileged_port_start (usually 1024) need root or CAP_NET_BIND_SERVICE";
	case EADDRNOTAVAIL:
		return "no interface of this machine has that address";
	default:
		return NULL;
	}
}

static int report_bind_error(const struct pscope_addr *a, int err)
{
	char text[PSCOPE_ADDRSTRLEN];
	const char *hint = bind_hint(-err);

	pscope_addr_format(a, text, sizeof(text));
	cli_warn("bind %s: %s", text, pscope_strerror(err));
	if (hint)
		cli_warn("hint: %s", hint);
	return EXIT_FAIL;
}

static void close_listeners(struct server *s)
{
	for (size_t i = 0; i < s->nlisten; i++)
		close(s->lfd[i]);
	s->nlisten = 0;
}

/*
 * Opens one listener for each address.  With port 0 every address shares the
 * port the kernel chose for the first; if another socket holds that port on a
 * later address, the whole set is tried again.  Returns -errno of the failure.
 */
static int try_listen_all(struct server *s, struct pscope_addr *addrs, size_t n,
			  size_t *failed)
{
	bool any_port = pscope_addr_port(&addrs[0]) == 0;

	for (size_t i = 0; i < n; i++) {
		int fd;

		if (any_port && i > 0)
			pscope_addr_set_port(&addrs[i], (uint16_t)pscope_addr_port(&s->linfo[0].local));
		fd = pscope_listen(&addrs[i], BACKLOG, 0);
		if (fd < 0) {
			/* A name may resolve to a family this kernel cannot serve; the rest still can. */
			if (n > 1 && (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL)) {
				char text[PSCOPE_ADDRSTRLEN];

				pscope_addr_format(&addrs[i], text, sizeof(text));
				cli_warn("skipping %s: %s", text, strerror(-fd));
				continue;
			}
			*failed = i;
			return fd;
		}
		s->lfd[s->nlisten] = fd;
		pscope_sock_describe(fd, &s->linfo[s->nlisten]);
		s->nlisten++;
	}
	return s->nlisten ? 0 : -EADDRNOTAVAIL;
}

static int open_listeners(struct server *s, const struct pscope_endpoint *ep, int family)
{
	struct pscope_addr addrs[MAX_LISTENERS];
	bool any_port = ep->port == 0;
	size_t failed = 0;
	int n, rc = 0;

	n = pscope_endpoint_resolve(ep, family, SOCK_STREAM, PSCOPE_RESOLVE_PASSIVE, addrs,
				    MAX_LISTENERS);
	if (n < 0) {
		cli_warn("%s: %s", ep->host, pscope_strerror(n));
		return EXIT_FAIL;
	}
	for (int attempt = 0; attempt < 10; attempt++) {
		if (any_port)
			for (int i = 0; i < n; i++)
				pscope_addr_set_port(&addrs[i], 0);
		rc = try_listen_all(s, addrs, (size_t)n, &failed);
		if (rc == 0)
			break;
		close_listeners(s);
		if (!(any_port && failed > 0 && rc == -EADDRINUSE))
			break;
	}
	if (rc < 0)
		return report_bind_error(&addrs[failed], rc);
	for (size_t i = 0; i < s->nlisten; i++) {
		char text[PSCOPE_ADDRSTRLEN];

		pscope_addr_format(&s->linfo[i].local, text, sizeof(text));
		fprintf(stderr, "portscope: listening on %s\n", text);
	}
	return EXIT_OK;
}

static int setup_loop(struct server *s)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	s->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->sigfd < 0 || s->epfd < 0) {
		cli_warn("cannot set up the event loop: %s", strerror(errno));
		return -1;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_SIGNAL };
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sigfd, &ev) < 0)
		return -1;
	for (size_t i = 0; i < s->nlisten; i++) {
		ev.data.u64 = TAG_LISTENER | i;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd[i], &ev) < 0)
			return -1;
	}
	s->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return 0;
}

static void dispatch(struct server *s, const struct epoll_event *ev)
{
	uint64_t tag = ev->data.u64 & ~0xffffffffULL;

	if (tag == TAG_LISTENER) {
		accept_some(s, (size_t)(ev->data.u64 & 0xffffffffULL));
	} else if (tag == TAG_SIGNAL) {
		struct signalfd_siginfo si;

		while (read(s->sigfd, &si, sizeof(si)) == sizeof(si))
			s->stop = true;
	} else {
		drain_conn(s, (int)ev->data.u64);
	}
}

/* Runs until a signal or a write error. Returns the exit status. */
static int run(struct server *s)
{
	struct epoll_event evs[64];

	while (!s->stop) {
		/* Output is flushed whenever the loop is about to sleep: prompt when idle, batched when busy. */
		int rc = cli_flush();
		int n;

		if (rc > 0)
			return EXIT_OK;	/* the reader of our output has gone */
		if (rc < 0)
			return EXIT_FAIL;
		n = epoll_wait(s->epfd, evs, 64, -1);
		if (n < 0 && errno != EINTR) {
			cli_warn("epoll_wait: %s", strerror(errno));
			return EXIT_FAIL;
		}
		for (int i = 0; i < n; i++)
			dispatch(s, &evs[i]);
	}
	if (cli_flush() < 0)
		return EXIT_FAIL;
	if (s->keep)
		fprintf(stderr, "portscope: served %llu connection%s (%llu still open, now closed)\n",
			s->served, s->served == 1 ? "" : "s", s->open);
	else
		fprintf(stderr, "portscope: served %llu connection%s\n", s->served,
			s->served == 1 ? "" : "s");
	return EXIT_OK;
}

int cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "keep", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct server s = { .fmt = FMT_SEED, .epfd = -1, .sigfd = -1, .spare = -1 };
	struct pscope_endpoint ep;
	int family = AF_UNSPEC, c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f:k46h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (cli_parse_format(optarg, &s.fmt) < 0)
				return EXIT_USAGE;
			break;
		case 'k':
			s.keep = true;
			break;
		case '4':
			family = AF_INET;
			break;
		case '6':
			family = AF_INET6;
			break;
		case 'h':
			fputs(usage, stdout);
			return cli_finish(EXIT_OK);
		default:
			return cli_bad_option(argc, argv, c);
		}
	}
	if (argc - optind > 1)
		return cli_usage_error("too many arguments: one ENDPOINT at most");
	if (cli_parse_endpoint(optind < argc ? argv[optind] : "127.0.0.1:8080", "127.0.0.1",
			       8080, &ep) < 0)
		return EXIT_USAGE;

	cli_ignore_sigpipe();
	rc = open_listeners(&s, &ep, family);
	if (rc != EXIT_OK)
		return rc;
	if (setup_loop(&s) < 0)
		return EXIT_FAIL;
	return run(&s);
}
