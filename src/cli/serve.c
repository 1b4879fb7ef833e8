/* portscope serve: listen, and report every accepted connection as the note does. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/fsuid.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keep.h"
#include "ppserve.h"
#include "portscope/loop.h"
#include "report.h"
#include "supervise.h"

#define MAX_LISTENERS 16
#define BACKLOG 4096
/* A worker writes each report whole, in one write(): a seed block is well under this. */
#define WORKER_BUF 65536
/* Accepts per wake-up on one listener, so that one busy port cannot starve the rest. */
#define ACCEPT_BATCH 256

/*
 * Descriptors kept free below the limit: a worker that reaches it stops
 * listening, and listens again once an eighth of the limit more is free.
 */
#define FD_RESERVE 64

/* A worker must listen this soon after it is started; told to stop, workers have this long. */
#define START_MS 10000
#define STOP_MS 10000

struct server {
	enum format fmt;
	bool keep;
	bool quiet;
	int workers;			/* worker processes; 0: this process serves alone */
	int worker;			/* this worker's number from 1, or 0 */
	int listen_flags;
	int interval_ms;		/* -q: how often to print the count */
	struct pscope_loop *loop;
	struct pscope_spare spare;	/* a descriptor given up when they run out; clients shed */
	size_t nlisten;
	int lfd[MAX_LISTENERS];		/* -1: closed (paused, or a parent's reserved socket closed) */
	struct pscope_sockinfo linfo[MAX_LISTENERS];
	bool paused;			/* listeners closed for want of descriptors */
	long long retry_timer;		/* paused: the timer that tries listening again, or -1 */
	long fd_limit;
	unsigned long long base_fds;	/* descriptors open besides connections */
	unsigned long long served;
	unsigned long long open;
	long long last_warn_ms;
	int status;			/* the exit status, once the loop stopped */
	bool flush_at_end;		/* stopped by a signal: a last flush, with a deadline */
	bool reader_gone;		/* stdout's reader left: end quietly */
	unsigned long long max_conns;	/* 0: no limit */
	unsigned long long over_max;	/* connections closed at once for --max-conns */
	struct keep_opts kopts;
	struct keep_table kept;		/* with --keep */
	struct pp_opts ppo;		/* --proxy-protocol and its limits */
	struct pp_table pp;		/* connections waiting for their header */
	struct cli_user *user;		/* --user: whom to run as once bound; NULL: stay */
	bool dropped;			/* already running as USER (a worker started after the drop) */
};

static const char usage[] =
	"usage: portscope serve [OPTIONS] [ENDPOINT]\n"
	"\n"
	"Listen on ENDPOINT (default 127.0.0.1:8080) and, for each client, print what the\n"
	"note's Python server prints: the client's address, the connected and the listening\n"
	"socket, and their addresses.  Then tell the client, in one portscope/1 line, what\n"
	"the server saw, and close.\n"
	"\n"
	"ENDPOINT is PORT (on 127.0.0.1), HOST, HOST:PORT, IPv4:PORT or [IPv6]:PORT\n"
	"(a dotted quad, an IPv6 literal, a name).  Listening on every interface must be\n"
	"asked for: *:PORT (both families: 0.0.0.0 and [::]), 0.0.0.0:PORT (IPv4 only)\n"
	"or [::]:PORT (IPv6 only: IPV6_V6ONLY is on, so IPv4 clients are refused).\n"
	"Port 0 lets the kernel choose.  A name listens on every address it resolves to.\n"
	"\n"
	"Options:\n"
	"  -f, --format FMT   seed (the note's block, default), line, or json (one object a line)\n"
	"  -k, --keep         keep each connection open until the client closes it; each\n"
	"                     line the client sends is answered with a new portscope/1 line\n"
	"      --workers N    N worker processes, each with its own SO_REUSEPORT listener\n"
	"                     on the same port; one that nears its descriptor limit stops\n"
	"                     listening until it has room, so the others take new clients;\n"
	"                     one killed by a signal is replaced (at most 10 a minute)\n"
	"  -q, --quiet        no report per connection (so no -f): each worker prints its\n"
	"                     count of open and served connections every --interval seconds\n"
	"      --interval S   seconds between counts with -q (default 1)\n"
	"  -4, -6             only IPv4, or only IPv6, addresses of ENDPOINT\n"
	"      --user USER    once listening, run as USER (name or uid): its groups, no\n"
	"                     capabilities, no way back to root; serve 80 as root, then drop\n"
	"  -h, --help         show this help\n"
	"\n"
	"Behind a proxy (HAProxy's send-proxy, nginx's proxy_protocol on, a load balancer):\n"
	"      --proxy-protocol v1|v2|any\n"
	"                     every connection must start with a PROXY protocol header of\n"
	"                     that version; each report then also says what it said\n"
	"                     (the client's address, TLVs) and the portscope/1 line gains\n"
	"                     pp= src= dst=.  A bad header: one line on stderr, closed\n"
	"      --proxy-from CIDR[,CIDR...]\n"
	"                     take headers only from these sources; others are closed\n"
	"                     (default: loopback only, 127.0.0.0/8,::1/128); an IPv4\n"
	"                     address matches as ::ffff:a.b.c.d too, and the reverse\n"
	"      --proxy-timeout S  the header must be whole S seconds after the accept\n"
	"                     (default 3)\n"
	"      --proxy-max BYTES  longest header (default 4096, as nginx; 16 to 65551)\n"
	"\n"
	"Limits of --keep (a client that breaks one is closed, and counted in the summary):\n"
	"      --max-conns N      at most N open connections (per worker): one more is\n"
	"                         closed at once, unserved\n"
	"      --idle-timeout S   close a connection that sends nothing for S seconds\n"
	"                         (default 0: never)\n"
	"      --line-timeout S   a line must be complete S seconds after its first byte;\n"
	"                         sending slowly does not extend it (default 10; 0: never)\n"
	"      --max-line BYTES   longest line, its \\n or \\r\\n not counted (default 4096)\n"
	"      --send-timeout S   close a client that leaves an answer unread for S seconds\n"
	"                         (default 10; 0: never); its lines are not read meanwhile,\n"
	"                         and the kernel holds at most 32 KiB of answers for it\n"
	"\n"
	"Prints 'portscope: listening on ADDR:PORT' on stderr for each listening socket.\n"
	"SIGINT or SIGTERM ends it (and every worker) with a summary on stderr.  Exit\n"
	"status: 0 after a signal (workers replaced meanwhile included), 1 if it cannot\n"
	"listen or a worker could not be replaced, 2 for a bad command line.\n";

/* How many descriptors this process has open, from /proc/self/fd. */
static int count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return 3;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the directory's own descriptor */
}

static void warn_limited(struct server *s, const char *what, int err)
{
	long long now = pscope_now_ms();

	/* At most one line a second: a flood of clients must not become a flood of output. */
	if (now - s->last_warn_ms < 1000)
		return;
	s->last_warn_ms = now;
	if (err)
		cli_warn("%s: %s", what, strerror(err));
	else
		cli_warn("%s", what);
}

/* --- one connection --- */

/*
 * Sends the portscope/1 line.  CLOSING: the connection is closed right after,
 * so the line is sent with MSG_MORE, held back (tcp(7), TCP_CORK), and
 * shutdown(SHUT_WR) sends it with the FIN in one segment (the kernel's
 * tcp_send_fin tacks the FIN onto a queued segment not yet sent): one packet
 * instead of two, each way's work in the kernel included.  The shutdown comes
 * before close() because close() of a socket with input never read (an HTTP
 * client's request) sends a reset and drops what is still queued: the line
 * must be gone by then, as it was when it went out at once.
 */
static void send_whoami(const struct conn_report *r, bool closing)
{
	char line[PSCOPE_WHOAMI_MAX];
	int n = report_whoami(r, line, sizeof(line));

	/* The socket is new and its buffer empty, so a short line is sent whole or the peer is gone. */
	if (n <= 0)
		return;
	(void)send(r->conn.fd, line, (size_t)n,
		   MSG_NOSIGNAL | MSG_DONTWAIT | (closing ? MSG_MORE : 0));
	if (closing)
		(void)shutdown(r->conn.fd, SHUT_WR);
}

static void close_conn(struct server *s, int fd)
{
	/* Watched while its PROXY header came (no system call; -ENOENT otherwise). */
	pscope_loop_forget(s->loop, fd);
	close(fd);
	if (s->open)
		s->open--;
}

/*
 * A connection's description in one system call: family, type and protocol
 * are its listener's, the peer is what accept() returned; only the local
 * address needs getsockname() (a wildcard listener's connections differ).
 */
static bool is_wildcard(const struct pscope_addr *a)
{
	if (a->u.sa.sa_family == AF_INET)
		return a->u.sin.sin_addr.s_addr == htonl(INADDR_ANY);
	return a->u.sa.sa_family != AF_INET6 || IN6_IS_ADDR_UNSPECIFIED(&a->u.sin6.sin6_addr);
}

/*
 * With TRUST_LISTENER (-q, where no report shows getsockname's own answer),
 * even that call is saved when the listener is bound to one address.
 */
static int describe_quick(int fd, const struct pscope_addr *from, const struct pscope_sockinfo *lst,
			  bool trust_listener, struct pscope_sockinfo *si)
{
	memset(si, 0, sizeof(*si));
	si->fd = fd;
	si->family = lst->family;
	si->type = lst->type;
	si->protocol = lst->protocol;
	si->peer = *from;
	if (trust_listener && !is_wildcard(&lst->local)) {
		/* A listener bound to one address gives its connections that address. */
		si->local = lst->local;
		return 0;
	}
	return pscope_sock_local(fd, &si->local);
}

/* Reports the connection on FD and answers it (PP: the PROXY header it sent, or NULL). */
static void report_conn(struct server *s, size_t li, int fd, const struct pscope_addr *from,
			const struct pscope_proxy_hdr *pp)
{
	struct conn_report r = { .from = *from, .listener = &s->linfo[li], .pp = pp };
	int rc;

	r.seq = ++s->served;
	rc = describe_quick(fd, from, r.listener, s->quiet, &r.conn);
	if (rc < 0) {
		close_conn(s, fd);
		return;
	}
	/* After a failed write (a reader gone, or a signal while blocked) nothing more is written. */
	if (!s->quiet && !ferror(stdout)) {
		report_print(s->fmt, "", &r);
		cli_check_stdout();
		/* Workers share standard output: a report goes out whole or not at all. */
		if (s->worker && fflush(stdout) != 0)
			cli_check_stdout();
	}
	send_whoami(&r, !s->keep);
	if (!s->keep) {
		close_conn(s, fd);
		return;
	}
	rc = keep_add(&s->kept, fd, r.seq);
	if (rc < 0) {
		warn_limited(s, "cannot keep a connection", -rc);
		close_conn(s, fd);
	}
}

static void serve_conn(struct server *s, size_t li, int fd, const struct pscope_addr *from)
{
	int rc;

	if (s->max_conns && s->open >= s->max_conns) {
		/* Closed at once, unserved: the client sees EOF now, not a wait. */
		close(fd);
		s->over_max++;
		warn_limited(s, "--max-conns reached: new connections are closed at once", 0);
		return;
	}
	s->open++;
	if (!s->ppo.accept) {
		report_conn(s, li, fd, from, NULL);
		return;
	}
	/* Served once its PROXY header is whole (pp_done), or refused (pp_refused). */
	rc = pp_add(&s->pp, fd, (unsigned)li, from);
	if (rc < 0) {
		if (rc != -EACCES)
			warn_limited(s, "cannot wait for a PROXY header", -rc);
		close_conn(s, fd);
	}
}

/* The PROXY header of FD is whole: the connection is reported and answered as any other. */
static void pp_done(void *arg, int fd, unsigned li, const struct pscope_proxy_hdr *h)
{
	struct server *s = arg;
	struct pscope_addr from;

	/* The report's "client address is" is accept()'s; the same as getpeername's. */
	if (pscope_sock_peer(fd, &from) < 0) {
		close_conn(s, fd);
		return;
	}
	report_conn(s, li, fd, &from, h);
}

static void after_close(struct server *s);

/* FD's header was refused, late or never came (said on stderr already). */
static void pp_refused(void *arg, int fd)
{
	struct server *s = arg;

	close_conn(s, fd);
	after_close(s);
}

/* --keep's answers carry what the header said, as the first one did. */
static void pp_keep_whoami(void *arg, int fd, struct pscope_whoami *w)
{
	pp_whoami_of(arg, fd, w);
}

/* --- accepting, and pausing near the descriptor limit --- */

static bool near_limit(const struct server *s)
{
	return s->fd_limit > 0 && (long)(s->base_fds + s->open) >= s->fd_limit - FD_RESERVE;
}

static void accept_some(struct server *s, size_t li)
{
	for (int i = 0; i < ACCEPT_BATCH && !s->paused && !pscope_loop_signal_pending(s->loop) &&
			!(s->workers && near_limit(s));
	     i++) {
		struct pscope_addr from;
		int fd = pscope_accept(s->lfd[li], &from, &s->spare);

		if (fd >= 0) {
			serve_conn(s, li, fd, &from);
			continue;
		}
		switch (-fd) {
		case ECONNABORTED:
		case EPROTO:
		case EPERM:
			continue;
		case EMFILE:
		case ENFILE:
			/* pscope_accept() gave up the spare to take and close the waiting client. */
			warn_limited(s, "accept", -fd);
			continue;
		case EAGAIN:
			return;
		default:
			/* ENOBUFS, ENOMEM: the next wake-up tries again. */
			warn_limited(s, "accept", -fd);
			return;
		}
	}
}

static long long on_retry(struct pscope_loop *l, long long id, void *arg);

/*
 * A worker near its descriptor limit takes what waits in its accept queues
 * (the reserve leaves room), then closes its listeners: the kernel then sends
 * new clients to the other workers of the SO_REUSEPORT group.
 */
static void pause_listening(struct server *s)
{
	s->paused = true;	/* accept_some() takes no more than what waits now */
	for (size_t i = 0; i < s->nlisten; i++) {
		if (s->lfd[i] < 0)
			continue;
		/* Empty the queue while the reserve lasts: what is left there when the listener
		 * closes is reset, unless net.ipv4.tcp_migrate_req moves it to another worker. */
		for (int k = 0; k < FD_RESERVE - 8; k++) {
			struct pscope_addr from;
			int fd = pscope_accept(s->lfd[i], &from, NULL);

			if (fd < 0)
				break;
			serve_conn(s, i, fd, &from);
		}
		pscope_loop_forget(s->loop, s->lfd[i]);
		close(s->lfd[i]);
		s->lfd[i] = -1;
	}
	fprintf(stderr, "portscope: worker %d: %llu connections open, near the limit of %ld "
		"descriptors: not listening until some close\n", s->worker, s->open, s->fd_limit);
	/* Listening again may fail, and no connection may be left to close: it is tried each second too. */
	if (s->retry_timer < 0)
		s->retry_timer = pscope_loop_timer(s->loop, 1000, on_retry, s);
}

static void on_listener(struct pscope_loop *l, int fd, uint32_t events, void *arg);

/* Opens again each listener that is closed. */
static void resume_listening(struct server *s)
{
	for (size_t i = 0; i < s->nlisten; i++) {
		int fd, rc;

		if (s->lfd[i] >= 0)
			continue;
		fd = pscope_listen(&s->linfo[i].local, BACKLOG, s->listen_flags);
		rc = fd < 0 ? fd : pscope_loop_watch(s->loop, fd, PSCOPE_EV_READ, on_listener, s);
		if (rc < 0) {
			warn_limited(s, "listening again", -rc);
			if (fd >= 0)
				close(fd);
			continue;	/* tried again when the next connection closes */
		}
		s->lfd[i] = fd;
		pscope_sock_describe(fd, &s->linfo[i]);
	}
	s->paused = false;
	for (size_t i = 0; i < s->nlisten; i++)
		s->paused |= s->lfd[i] < 0;
	if (!s->paused)
		fprintf(stderr, "portscope: worker %d: %llu connections open: listening again\n",
			s->worker, s->open);
}

static void after_close(struct server *s)
{
	long room = s->fd_limit / 8 > 8 ? s->fd_limit / 8 : 8;

	/* Some room first, so that a worker at the edge does not flap. */
	if (s->paused && (long)(s->base_fds + s->open) < s->fd_limit - FD_RESERVE - room)
		resume_listening(s);
}

static long long on_retry(struct pscope_loop *l, long long id, void *arg)
{
	struct server *s = arg;

	(void)l;
	(void)id;
	after_close(s);
	if (s->paused)
		return 1000;
	s->retry_timer = -1;
	return -1;
}

static void on_listener(struct pscope_loop *l, int fd, uint32_t events, void *arg)
{
	struct server *s = arg;
	size_t li = 0;

	(void)l;
	(void)events;
	while (li < s->nlisten && s->lfd[li] != fd)
		li++;
	if (li == s->nlisten)
		return;
	accept_some(s, li);
	if (s->workers && !s->paused && near_limit(s))
		pause_listening(s);
}

/* Closes a kept connection and counts why (keep's end callback). */
static void end_conn(void *arg, int fd, enum keep_end end)
{
	struct server *s = arg;

	keep_forget(&s->kept, fd, end);
	close_conn(s, fd);
	after_close(s);
}

/* --- listening --- */

/* Closes the listeners; their addresses stay (a worker opens its own on them). */
static void close_listeners(struct server *s)
{
	for (size_t i = 0; i < s->nlisten; i++) {
		if (s->lfd[i] >= 0)
			close(s->lfd[i]);
		s->lfd[i] = -1;
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

/*
 * Opens one listener for each address.  With port 0 every address shares the
 * port the kernel chose for the first; if another socket holds that port on a
 * later address, the whole set is tried again.  Returns -errno of the failure.
 */
static int try_listen_all(struct server *s, struct pscope_addr *addrs, size_t n, int flags,
			  size_t *failed)
{
	bool any_port = pscope_addr_port(&addrs[0]) == 0;

	for (size_t i = 0; i < n; i++) {
		int fd;

		if (any_port && i > 0 && s->nlisten > 0)
			pscope_addr_set_port(&addrs[i], (uint16_t)pscope_addr_port(&s->linfo[0].local));
		fd = pscope_listen(&addrs[i], BACKLOG, flags);
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

/* Resolves EP (parsed from ARG) and opens its listeners (bound only, with PSCOPE_LISTEN_BIND_ONLY). */
static int open_listeners(struct server *s, const char *arg, const struct pscope_endpoint *ep,
			  int family, int flags)
{
	struct pscope_addr addrs[MAX_LISTENERS];
	bool any_port = ep->port == 0;
	size_t failed = 0;
	int n, rc = 0;

	n = cli_resolve_endpoint(arg, ep, family, PSCOPE_RESOLVE_PASSIVE, addrs, MAX_LISTENERS);
	if (n < 0)
		return -n;
	for (int attempt = 0; attempt < 10; attempt++) {
		if (any_port)
			for (int i = 0; i < n; i++)
				pscope_addr_set_port(&addrs[i], 0);
		rc = try_listen_all(s, addrs, (size_t)n, flags, &failed);
		if (rc == 0)
			break;
		close_listeners(s);
		s->nlisten = 0;
		if (!(any_port && failed > 0 && rc == -EADDRINUSE))
			break;
	}
	if (rc < 0)
		return report_bind_error(&addrs[failed], rc);
	return EXIT_OK;
}

static void print_listening(const struct server *s)
{
	for (size_t i = 0; i < s->nlisten; i++) {
		char text[PSCOPE_ADDRSTRLEN];

		pscope_addr_format(&s->linfo[i].local, text, sizeof(text));
		fprintf(stderr, "portscope: listening on %s\n", text);
	}
}

/* --- the loop --- */

static void print_count_line(struct server *s)
{
	if (s->worker)
		printf("worker %d pid %d: open %llu served %llu%s\n", s->worker, (int)getpid(), s->open,
		       s->served, s->paused ? " (not listening: near the descriptor limit)" : "");
	else
		printf("open %llu served %llu\n", s->open, s->served);
}

static void print_count(struct server *s)
{
	if (ferror(stdout))
		return;
	print_count_line(s);
	cli_check_stdout();
	if (s->worker)
		fflush(stdout);
}

static long long on_tick(struct pscope_loop *l, long long id, void *arg)
{
	struct server *s = arg;

	(void)l;
	(void)id;
	print_count(s);
	return s->interval_ms;
}

/* SIGINT, SIGTERM: stop, with a last flush. */
static void on_stop(struct pscope_loop *l, int sig, void *arg)
{
	(void)sig;
	(void)arg;
	pscope_loop_stop(l);
}

/*
 * Output is flushed whenever the loop is about to sleep: prompt when idle,
 * batched when busy.  A reader gone (| head) ends the server quietly; a write
 * blocked on a reader that does not read and interrupted by a signal ends it
 * as that signal does; any other write error ends it with status 1.
 */
static void before_sleep(struct pscope_loop *l, void *arg)
{
	struct server *s = arg;
	int rc = cli_flush();

	if (rc == 0)
		return;
	if (rc == 1) {
		s->reader_gone = true;
		s->flush_at_end = false;
	} else if (rc != 2 || !pscope_loop_signal_pending(l)) {
		s->status = EXIT_FAIL;
		s->flush_at_end = false;
	}
	pscope_loop_stop(l);
}

static int catch_signals(struct server *s)
{
	int rc = pscope_loop_signal(s->loop, SIGINT, on_stop, s);

	if (rc == 0)
		rc = pscope_loop_signal(s->loop, SIGTERM, on_stop, s);
	/* final_flush()'s alarm(2) only interrupts a write blocked on a reader that does not read. */
	if (rc == 0)
		rc = pscope_loop_signal(s->loop, SIGALRM, NULL, NULL);
	return rc;
}

/* Makes the loop: listeners, signals, the count's timer, kept connections.  Returns 0, or -1 after saying why. */
static int setup_loop(struct server *s)
{
	struct rlimit rl;
	int rc;

	/*
	 * The tables indexed by descriptor (the loop's, keep's) grow by doubling
	 * into fresh zeroed memory.  A fixed threshold keeps each large one in
	 * mmap(2) pages, zero until a connection reaches them; glibc's sliding
	 * one would put the next on the heap, cleared, and resident in full.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	rc = pscope_loop_new(&s->loop);
	if (rc == 0)
		rc = catch_signals(s);
	for (size_t i = 0; rc == 0 && i < s->nlisten; i++)
		rc = pscope_loop_watch(s->loop, s->lfd[i], PSCOPE_EV_READ, on_listener, s);
	if (rc == 0 && s->quiet) {
		long long id = pscope_loop_timer(s->loop, s->interval_ms, on_tick, s);

		rc = id < 0 ? (int)id : 0;
	}
	if (rc < 0) {
		cli_warn("cannot set up the event loop: %s", strerror(-rc));
		return -1;
	}
	pscope_loop_before_sleep(s->loop, before_sleep, s);
	keep_init(&s->kept, s->loop, &s->kopts, end_conn, s);
	if (s->ppo.accept) {
		if (pp_init(&s->pp, s->loop, &s->ppo, pp_done, pp_refused, s) < 0) {
			cli_warn("cannot set up the event loop: %s", strerror(ENOMEM));
			return -1;
		}
		s->kept.whoami_fn = pp_keep_whoami;
		s->kept.whoami_arg = &s->pp;
	}
	rc = pscope_spare_open();
	s->spare.fd = rc < 0 ? -1 : rc;
	s->status = EXIT_OK;
	s->flush_at_end = true;
	if (s->workers && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		s->fd_limit = (long)rl.rlim_cur;
	s->base_fds = (unsigned long long)count_open_fds();
	return 0;
}

static void teardown(struct server *s)
{
	keep_free(&s->kept);
	if (s->ppo.accept)
		pp_flush_log(&s->pp);
	pp_free(&s->pp);
	pscope_loop_free(s->loop);
	s->loop = NULL;
}

/*
 * The last flush, when told to stop: a reader that does not read gets two
 * seconds, then what is left is given up, and said so.
 */
static int final_flush(void)
{
	int rc;

	alarm(2);
	rc = cli_flush();
	alarm(0);
	if (rc == 2)
		cli_warn("output not written: the reader of standard output is not reading");
	return rc < 0 ? EXIT_FAIL : EXIT_OK;
}

/* Runs until a signal or a write error. Returns the exit status. */
static int run(struct server *s)
{
	int rc = pscope_loop_run(s->loop);

	if (rc < 0) {
		cli_warn("event loop: %s", strerror(-rc));
		return EXIT_FAIL;
	}
	return s->flush_at_end ? final_flush() : s->status;
}

/*
 * ", N why" for each reason a kept connection ended, for --max-conns, for PROXY
 * headers, and for clients shed (taken and closed at once) when descriptors ran out.
 */
static void print_ends(const unsigned long long *ended, unsigned long long over_max,
		       const unsigned long long *pp_ended, unsigned long long shed)
{
	for (int e = KEEP_RESET; e < KEEP_STOPPED; e++)
		if (ended[e])
			fprintf(stderr, ", %llu %s", ended[e], keep_end_name((enum keep_end)e));
	if (over_max)
		fprintf(stderr, ", %llu refused over --max-conns", over_max);
	if (shed)
		fprintf(stderr, ", %llu shed: out of descriptors", shed);
	for (int e = 0; e < PP_NENDS; e++)
		if (pp_ended[e])
			fprintf(stderr, ", %llu %s", pp_ended[e], pp_end_name((enum pp_end)e));
}

static void print_summary(const struct server *s)
{
	fprintf(stderr, "portscope: served %llu connection%s", s->served, s->served == 1 ? "" : "s");
	if (s->keep)
		fprintf(stderr, " (%llu still open, now closed)", s->open);
	print_ends(s->kept.ended, s->over_max, s->pp.ended, s->spare.shed);
	fputc('\n', stderr);
}

/* --- workers: each a child of the supervisor, with its own listeners and loop --- */

enum { MSG_READY = 1, MSG_END };

/* A worker's last message: its counts. */
struct worker_end {
	int status;
	int reader_gone;
	unsigned long long served, open, over_max, shed;
	unsigned long long ended[KEEP_NENDS];
	unsigned long long pp_ended[PP_NENDS];
};

/* A worker that ended, for the summary. */
struct record {
	int index;
	pid_t pid;
	int wstatus;
	bool replaced;		/* killed while the server ran: a new one took its place */
	bool summed;		/* its counts came */
	struct worker_end end;
};

/* Replaced workers remembered one by one; more are only counted (a worker that keeps crashing). */
#define MAX_REPLACED 100

/* The worker running at an index. */
struct slot {
	bool ready;		/* it listens */
	bool summed;		/* its counts came */
	long long started_ms;
	struct worker_end end;
};

/* The parent of the workers. */
struct parent {
	struct server *s;
	struct pscope_loop *loop;
	struct sup sup;
	struct slot *slot;		/* one per worker index */
	struct record *rec;
	size_t nrec, nreplaced;
	unsigned long long more_replaced;
	int nready;
	bool listening;			/* every first worker listens */
	bool stopping;
	bool start_failed;		/* a worker did not start: ends as before any listened */
	int status;
};

/* Each worker opens its own listener on the port the parent reserved.  Returns 0, or -1 after saying why. */
static int worker_listen(struct server *s)
{
	for (size_t i = 0; i < s->nlisten; i++) {
		int fd;

		/* The parent's reserved socket, if it still had it when this worker was made. */
		if (s->lfd[i] >= 0)
			close(s->lfd[i]);
		s->lfd[i] = -1;
		fd = pscope_listen(&s->linfo[i].local, BACKLOG, s->listen_flags);
		if (fd < 0) {
			report_bind_error(&s->linfo[i].local, fd);
			return -1;
		}
		s->lfd[i] = fd;
		pscope_sock_describe(fd, &s->linfo[i]);
	}
	return 0;
}

/* What a worker runs (a sup_child_fn): listen, say so, serve, send the counts.  Returns its exit status. */
static int worker_run(struct sup *sup, int index, int out, void *arg)
{
	struct server *s = ((struct parent *)arg)->s;
	struct worker_end m = { 0 };
	int status;

	(void)sup;
	s->worker = index + 1;
	s->loop = NULL;		/* the parent's: the supervisor freed it in this process */
	/* Workers share standard output: each report goes out whole, in one write(). */
	setvbuf(stdout, NULL, _IOFBF, WORKER_BUF);
	if (worker_listen(s) < 0 || setup_loop(s) < 0)
		return EXIT_FAIL;
	if (s->user && !s->dropped && cli_drop_privileges(s->user) < 0)
		return EXIT_FAIL;
	if (sup_send(out, MSG_READY, NULL, 0) < 0)
		return EXIT_FAIL;
	status = run(s);
	m = (struct worker_end){ .status = status, .reader_gone = s->reader_gone, .served = s->served,
				 .open = s->open, .over_max = s->over_max, .shed = s->spare.shed };
	memcpy(m.ended, s->kept.ended, sizeof(m.ended));
	memcpy(m.pp_ended, s->pp.ended, sizeof(m.pp_ended));
	if (sup_send(out, MSG_END, &m, sizeof(m)) < 0)
		status = EXIT_FAIL;
	teardown(s);
	return status;
}

/* Ends the parent's loop; the workers are told to stop after it. */
static void stop_all(struct parent *p, int status)
{
	if (status != EXIT_OK)
		p->status = status;
	p->stopping = true;
	pscope_loop_stop(p->loop);
}

static void on_parent_signal(struct pscope_loop *l, int sig, void *arg)
{
	(void)l;
	(void)sig;
	stop_all(arg, EXIT_OK);
}

/* A worker not listening START_MS after it was started: something is wrong. */
static long long on_start_deadline(struct pscope_loop *l, long long id, void *arg)
{
	struct parent *p = arg;

	(void)id;
	for (int i = 0; i < p->s->workers && !p->stopping; i++)
		if (p->sup.c[i].pid > 0 && !p->slot[i].ready &&
		    pscope_loop_now_ms(l) - p->slot[i].started_ms >= START_MS - 100) {
			cli_warn("worker %d (pid %d) did not start", i + 1, (int)p->sup.c[i].pid);
			p->start_failed = true;
			stop_all(p, EXIT_FAIL);
		}
	return -1;
}

/* Starts worker INDEX (AGAIN: in place of one that ended).  Returns its pid, or -errno as sup_restart(). */
static pid_t start_worker(struct parent *p, int index, bool again)
{
	pid_t pid = again ? sup_restart(&p->sup, index) : sup_start(&p->sup, index);

	if (pid > 0) {
		memset(&p->slot[index], 0, sizeof(p->slot[index]));
		p->slot[index].started_ms = pscope_now_ms();
		pscope_loop_timer(p->loop, START_MS, on_start_deadline, p);
	}
	return pid;
}

/* Every first worker listens: the parent's bound sockets have done their job. */
static void all_listening(struct parent *p)
{
	struct server *s = p->s;

	print_listening(s);
	fprintf(stderr, "portscope: %d worker%s, each with its own SO_REUSEPORT listener\n", s->workers,
		s->workers == 1 ? "" : "s");
	close_listeners(s);
	p->listening = true;
	if (!s->user)
		return;
	if (cli_drop_privileges(s->user) < 0) {
		stop_all(p, EXIT_FAIL);
		return;
	}
	s->dropped = true;
	fprintf(stderr, "portscope: running as %s (uid %u, gid %u)\n", s->user->name,
		(unsigned)s->user->uid, (unsigned)s->user->gid);
}

static void on_msg(struct sup *sup, int index, uint32_t type, const void *msg, size_t len, void *arg)
{
	struct parent *p = arg;

	if (type == MSG_READY && !p->slot[index].ready) {
		p->slot[index].ready = true;
		if (p->listening)
			fprintf(stderr, "portscope: worker %d (pid %d): listening in its place\n", index + 1,
				(int)sup->c[index].pid);
		else if (++p->nready == p->s->workers && !p->stopping)
			all_listening(p);
	} else if (type == MSG_END && len == sizeof(p->slot[index].end)) {
		memcpy(&p->slot[index].end, msg, len);
		p->slot[index].summed = true;
	}
}

/* Keeps what the summary says of worker INDEX, which ended. */
static void record(struct parent *p, int index, pid_t pid, int wstatus, bool replaced)
{
	struct record *r;

	if (replaced && p->nreplaced == MAX_REPLACED) {
		p->more_replaced++;
		return;
	}
	r = realloc(p->rec, (p->nrec + 1) * sizeof(*r));
	if (!r)
		return;		/* said as "no summary" */
	p->rec = r;
	p->rec[p->nrec++] = (struct record){ .index = index, .pid = pid, .wstatus = wstatus,
					     .replaced = replaced, .summed = p->slot[index].summed,
					     .end = p->slot[index].end };
	p->nreplaced += replaced;
}

/* Worker INDEX was killed while the server ran: another takes its place, within the bound. */
static void replace(struct parent *p, int index, pid_t pid, const char *how)
{
	pid_t now = start_worker(p, index, true);

	if (now > 0) {
		fprintf(stderr, "portscope: worker %d (pid %d) %s: starting a new one (pid %d)\n",
			index + 1, (int)pid, how, (int)now);
		return;
	}
	if (now == -EBUSY)
		fprintf(stderr, "portscope: worker %d (pid %d) %s: %u workers replaced in the last "
			"minute already: stopping\n", index + 1, (int)pid, how, p->sup.max_restarts);
	else
		fprintf(stderr, "portscope: worker %d (pid %d) %s: cannot start a new one: %s\n",
			index + 1, (int)pid, how, strerror(-now));
	stop_all(p, EXIT_FAIL);
}

/*
 * A worker ended.  Told to stop, that is expected.  Otherwise: one that never
 * listened stops the server, as one whose reader left (quietly) or one that
 * exited on its own (it had a reason: a write error); one killed by a signal
 * (the OOM killer, a crash) is replaced, and the others keep their clients.
 */
static void on_end(struct sup *sup, int index, pid_t pid, int wstatus, void *arg)
{
	struct parent *p = arg;
	bool ready = p->slot[index].ready;
	bool gone = p->slot[index].summed && p->slot[index].end.reader_gone;
	bool killed = !p->stopping && ready && !gone && WIFSIGNALED(wstatus);
	char how[64];

	(void)sup;
	record(p, index, pid, wstatus, killed);
	if (p->stopping)
		return;
	sup_describe(wstatus, how, sizeof(how));
	if (killed) {
		replace(p, index, pid, how);
	} else if (!ready) {
		cli_warn("worker %d (pid %d) did not start: %s", index + 1, (int)pid, how);
		p->start_failed = true;
		stop_all(p, EXIT_FAIL);
	} else if (gone) {
		stop_all(p, EXIT_OK);
	} else {
		cli_warn("worker %d (pid %d) %s: the others were stopped", index + 1, (int)pid, how);
		stop_all(p, EXIT_FAIL);
	}
}

/* One worker's line of the summary.  Returns true if it counts as a failure. */
static bool print_worker(struct server *s, const struct record *r)
{
	char how[64];

	if (!r->summed) {
		fprintf(stderr, "portscope: worker %d (pid %d): no summary: %s\n", r->index + 1, (int)r->pid,
			sup_describe(r->wstatus, how, sizeof(how)));
		return !r->replaced;
	}
	fprintf(stderr, "portscope: worker %d (pid %d): served %llu", r->index + 1, (int)r->pid,
		r->end.served);
	if (s->keep)
		fprintf(stderr, " (%llu still open, now closed)", r->end.open);
	print_ends(r->end.ended, r->end.over_max, r->end.pp_ended, r->end.shed);
	fputc('\n', stderr);
	s->served += r->end.served;
	s->open += r->end.open;
	s->over_max += r->end.over_max;
	s->spare.shed += r->end.shed;
	for (int e = 0; e < KEEP_NENDS; e++)
		s->kept.ended[e] += r->end.ended[e];
	for (int e = 0; e < PP_NENDS; e++)
		s->pp.ended[e] += r->end.pp_ended[e];
	return r->end.status != EXIT_OK;
}

/* The summary: one line per worker (in order, each replaced one before its successor) and the total.  Returns the exit status. */
static int report(struct parent *p)
{
	int status = p->status;

	for (size_t k = 0; k < p->nrec; k++)
		if (p->rec[k].summed && p->rec[k].end.reader_gone)
			return EXIT_OK;	/* stdout's reader left: as quiet as a single server */
	for (int i = 0; i < p->s->workers; i++)
		for (size_t k = 0; k < p->nrec; k++)
			if (p->rec[k].index == i && print_worker(p->s, &p->rec[k]))
				status = EXIT_FAIL;
	if (p->more_replaced)
		fprintf(stderr, "portscope: %llu more workers replaced: no summary\n", p->more_replaced);
	print_summary(p->s);
	return status;
}

/* Makes the parent's loop and supervisor.  Returns 0, or -1 after saying why. */
static int parent_init(struct parent *p)
{
	int rc = pscope_loop_new(&p->loop);

	p->slot = calloc((size_t)p->s->workers, sizeof(*p->slot));
	if (rc == 0 && !p->slot)
		rc = -ENOMEM;
	if (rc == 0)
		rc = sup_init(&p->sup, p->loop, p->s->workers, worker_run, on_msg, on_end, p);
	if (rc == 0)
		rc = pscope_loop_signal(p->loop, SIGINT, on_parent_signal, p);
	if (rc == 0)
		rc = pscope_loop_signal(p->loop, SIGTERM, on_parent_signal, p);
	if (rc < 0)
		cli_warn("cannot set up the workers' supervisor: %s", strerror(-rc));
	return rc < 0 ? -1 : 0;
}

static void parent_free(struct parent *p)
{
	sup_free(&p->sup);
	pscope_loop_free(p->loop);
	free(p->slot);
	free(p->rec);
}

/* The parent: starts the workers, watches them until told to stop, then sums up.  Returns the exit status. */
static int serve_workers(struct server *s)
{
	struct parent p = { .s = s, .status = EXIT_OK };
	int status = EXIT_FAIL, rc;

	if (parent_init(&p) == 0) {
		for (int i = 0; i < s->workers && !p.stopping; i++) {
			pid_t pid = start_worker(&p, i, false);

			if (pid < 0) {
				cli_warn("cannot start worker %d: %s", i + 1, strerror(-pid));
				p.start_failed = true;
				stop_all(&p, EXIT_FAIL);
			}
		}
		if (!p.stopping && (rc = pscope_loop_run(p.loop)) < 0) {
			cli_warn("event loop: %s", strerror(-rc));
			p.status = EXIT_FAIL;
		}
		p.stopping = true;
		sup_kill(&p.sup, SIGTERM);
		sup_wait(&p.sup, STOP_MS);
		status = p.start_failed && !p.listening ? EXIT_FAIL : report(&p);
	}
	parent_free(&p);
	return status;
}

/* --- the command --- */

enum {
	OPT_INTERVAL = 256, OPT_MAX_CONNS, OPT_IDLE, OPT_LINE_TIMEOUT, OPT_MAX_LINE, OPT_SEND_TIMEOUT,
	OPT_USER, OPT_PP, OPT_PP_FROM, OPT_PP_TIMEOUT, OPT_PP_MAX, OPT_WORKERS
};

/* One of the --proxy-* options.  Returns -1 to go on, or EXIT_USAGE after saying why. */
static int take_pp_option(struct server *s, int c, const char *arg)
{
	unsigned long n;
	double secs;

	switch (c) {
	case OPT_PP:
		return pp_parse_versions(&s->ppo, arg) < 0 ? EXIT_USAGE : -1;
	case OPT_PP_FROM:
		return pp_parse_from(&s->ppo, arg) < 0 ? EXIT_USAGE : -1;
	case OPT_PP_TIMEOUT:
		if (cli_parse_seconds("PROXY header timeout", arg, &secs) < 0)
			return EXIT_USAGE;
		if (secs > 3600)
			return cli_usage_error("bad --proxy-timeout '%s': at most 3600 seconds", arg);
		s->ppo.timeout_ms = secs < 0.001 ? 1 : (int)(secs * 1000 + 0.5);
		return -1;
	default:
		if (cli_parse_count("PROXY header cap", arg, PSCOPE_PROXY_V2_FIXED, PSCOPE_PROXY_V2_MAX,
				    &n) < 0)
			return EXIT_USAGE;
		s->ppo.max = n;
		return -1;
	}
}

/* Parses a limit of the kept connections: seconds (0: none) or bytes. Returns 0 or -1. */
static int parse_limit(struct server *s, int opt, const char *arg)
{
	static const char *const names[] = {
		[OPT_IDLE - OPT_IDLE] = "idle timeout",
		[OPT_LINE_TIMEOUT - OPT_IDLE] = "line timeout",
		[OPT_SEND_TIMEOUT - OPT_IDLE] = "send timeout",
	};
	unsigned long n;
	double secs = 0;
	int ms;

	if (opt == OPT_MAX_LINE) {
		if (cli_parse_count("line limit", arg, 1, 1UL << 30, &n) < 0)
			return -1;
		s->kopts.max_line = (uint32_t)n;
		return 0;
	}
	if (strcmp(arg, "0") != 0 && cli_parse_seconds(names[opt - OPT_IDLE], arg, &secs) < 0)
		return -1;
	if (secs > 1000000)
		return cli_usage_error("bad %s '%s': at most 1000000 seconds", names[opt - OPT_IDLE], arg), -1;
	ms = secs > 0 && secs < 0.001 ? 1 : (int)(secs * 1000 + 0.5);
	*(opt == OPT_IDLE ? &s->kopts.idle_ms : opt == OPT_LINE_TIMEOUT ? &s->kopts.line_ms
								      : &s->kopts.send_ms) = ms;
	return 0;
}

/* Options that go together, or not.  Returns -1 if all is well, or EXIT_USAGE after saying why. */
static int check_options(const struct server *s, const struct cli_opts *o, int args)
{
	static const int keep_only[] = { OPT_IDLE, OPT_LINE_TIMEOUT, OPT_MAX_LINE, OPT_SEND_TIMEOUT };
	int rc;

	if (args > 1)
		return cli_usage_error("too many arguments: one ENDPOINT at most");
	if ((rc = cli_opt_conflict(o, '4', '6', "give one, or neither for both families")))
		return rc;
	for (size_t i = 0; i < sizeof(keep_only) / sizeof(keep_only[0]); i++)
		if ((rc = cli_opt_needs(o, keep_only[i], s->keep, "--keep (it limits held connections)")))
			return rc;
	if ((rc = cli_opt_needs(o, OPT_MAX_CONNS, s->keep,
				"--keep (without it, no connection stays open)")))
		return rc;
	if ((rc = cli_opt_needs(o, OPT_INTERVAL, s->quiet, "-q (it times -q's counts)")))
		return rc;
	if ((rc = cli_opt_conflict(o, 'q', 'f', "-q prints no report, in any format")))
		return rc;
	for (int pp = OPT_PP_FROM; pp <= OPT_PP_MAX; pp++)
		if ((rc = cli_opt_needs(o, pp, s->ppo.accept, "--proxy-protocol")))
			return rc;
	return -1;
}

/* One option C with OPTARG into S.  Returns -1 to go on, or EXIT_USAGE after saying why. */
static int take_option(struct server *s, int c, struct cli_user *user, int *family)
{
	double secs;
	unsigned long n;

	switch (c) {
	case OPT_MAX_CONNS:
		if (cli_parse_count("connection limit", optarg, 1, 1UL << 40, &n) < 0)
			return EXIT_USAGE;
		s->max_conns = n;
		break;
	case OPT_IDLE:
	case OPT_LINE_TIMEOUT:
	case OPT_MAX_LINE:
	case OPT_SEND_TIMEOUT:
		return parse_limit(s, c, optarg) < 0 ? EXIT_USAGE : -1;
	case OPT_PP:
	case OPT_PP_FROM:
	case OPT_PP_TIMEOUT:
	case OPT_PP_MAX:
		return take_pp_option(s, c, optarg);
	case OPT_USER:
		if (cli_user_lookup(optarg, user) < 0)
			return EXIT_USAGE;
		s->user = user;
		break;
	case 'f':
		return cli_parse_format(optarg, &s->fmt) < 0 ? EXIT_USAGE : -1;
	case 'k':
		s->keep = true;
		break;
	case 'w':
		/* -w is the wait in connect and proxycheck, as in nc: one letter, one meaning. */
		return cli_usage_error("'-w' is not serve's: give the number of workers as --workers N "
				       "(-w is the connect wait of connect, proxycheck and nc)");
	case OPT_WORKERS:
		if (cli_parse_count("number of workers", optarg, 1, 1024, &n) < 0)
			return EXIT_USAGE;
		s->workers = (int)n;
		break;
	case 'q':
		s->quiet = true;
		break;
	case OPT_INTERVAL:
		if (cli_parse_seconds("interval", optarg, &secs) < 0)
			return EXIT_USAGE;
		s->interval_ms = secs < 0.01 ? 10 : (int)(secs * 1000);
		break;
	default:	/* '4' or '6' */
		*family = c == '4' ? AF_INET : AF_INET6;
		break;
	}
	return -1;
}

/* Parses the options into S.  Returns -1 to go on, or the exit status to end with now. */
static int parse_options(int argc, char **argv, struct server *s, struct cli_user *user, int *family)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "keep", no_argument, NULL, 'k' },
		{ "workers", required_argument, NULL, OPT_WORKERS },
		{ "quiet", no_argument, NULL, 'q' },
		{ "interval", required_argument, NULL, OPT_INTERVAL },
		{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
		{ "idle-timeout", required_argument, NULL, OPT_IDLE },
		{ "line-timeout", required_argument, NULL, OPT_LINE_TIMEOUT },
		{ "max-line", required_argument, NULL, OPT_MAX_LINE },
		{ "send-timeout", required_argument, NULL, OPT_SEND_TIMEOUT },
		{ "user", required_argument, NULL, OPT_USER },
		{ "proxy-protocol", required_argument, NULL, OPT_PP },
		{ "proxy-from", required_argument, NULL, OPT_PP_FROM },
		{ "proxy-timeout", required_argument, NULL, OPT_PP_TIMEOUT },
		{ "proxy-max", required_argument, NULL, OPT_PP_MAX },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_opts o;
	int c, rc;

	cli_opts_init(&o, "f:kw:q46h", longopts);
	while ((c = cli_getopt(&o, argc, argv)) != -1) {
		if (c == '?')
			return EXIT_USAGE;
		if (c == 'h') {
			fputs(usage, stdout);
			return cli_finish(EXIT_OK);
		}
		if ((rc = take_option(s, c, user, family)) >= 0)
			return rc;
	}
	return check_options(s, &o, argc - optind);
}

/* One process serves alone.  Returns the exit status. */
static int serve_alone(struct server *s, const char *arg, const struct pscope_endpoint *ep,
		       int family)
{
	int rc = open_listeners(s, arg, ep, family, 0);

	if (rc != EXIT_OK)
		return rc;
	print_listening(s);
	if (setup_loop(s) < 0 || (s->user && cli_drop_privileges(s->user) < 0)) {
		teardown(s);
		return EXIT_FAIL;
	}
	if (s->user)
		fprintf(stderr, "portscope: running as %s (uid %u, gid %u)\n", s->user->name,
			(unsigned)s->user->uid, (unsigned)s->user->gid);
	rc = run(s);
	if (s->ppo.accept)
		pp_flush_log(&s->pp);	/* before the summary */
	if (rc == EXIT_OK && !s->reader_gone)
		print_summary(s);
	teardown(s);
	return rc;
}

int cmd_serve(int argc, char **argv)
{
	struct server s = { .fmt = FMT_SEED, .spare = { .fd = -1 }, .retry_timer = -1, .interval_ms = 1000,
			    .kopts = { .max_line = 4096, .line_ms = 10000, .send_ms = 10000 } };
	struct pscope_endpoint ep;
	struct cli_user user;
	int family = AF_UNSPEC, rc;
	const char *arg;

	pp_opts_init(&s.ppo);
	rc = parse_options(argc, argv, &s, &user, &family);
	if (rc >= 0)
		return rc;
	arg = optind < argc ? argv[optind] : "127.0.0.1:8080";
	if (cli_parse_endpoint(optind < argc ? argv[optind] : "127.0.0.1:8080", "127.0.0.1",
			       8080, &ep) < 0)
		return EXIT_USAGE;
	if (s.user && geteuid() != 0)
		return cli_warn("--user %s needs root", s.user->name), EXIT_FAIL;

	cli_ignore_sigpipe();
	if (!s.workers)
		return serve_alone(&s, arg, &ep, family);
	/*
	 * A SO_REUSEPORT group takes only sockets of one owner, the creator's
	 * fsuid: made as USER from the start, a worker's listener can join the
	 * group again after the drop.
	 */
	if (s.user)
		setfsuid(s.user->uid);
	/* The parent only reserves the port: bound, not listening, so it gets no clients. */
	s.listen_flags = PSCOPE_LISTEN_REUSEPORT;
	rc = open_listeners(&s, arg, &ep, family, PSCOPE_LISTEN_REUSEPORT | PSCOPE_LISTEN_BIND_ONLY);
	return rc != EXIT_OK ? rc : serve_workers(&s);
}
