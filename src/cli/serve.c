/* portscope serve: listen, and report every accepted connection as the note does. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/fsuid.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "keep.h"
#include "report.h"

#define MAX_LISTENERS 16
#define BACKLOG 4096
/* A worker writes each report whole, in one write(): a seed block is well under this. */
#define WORKER_BUF 65536
/* Accepts per wake-up on one listener, so that one busy port cannot starve the rest. */
#define ACCEPT_BATCH 256

/* epoll tags: a listener's index or the signal pipe, apart from connection descriptors. */
#define TAG_LISTENER (1ULL << 32)
#define TAG_SIGNAL (2ULL << 32)

/*
 * Descriptors kept free below the limit: a worker that reaches it stops
 * listening, and listens again once an eighth of the limit more is free.
 */
#define FD_RESERVE 64

/* Set by SIGINT and SIGTERM (see catch_signals()). */
static volatile sig_atomic_t got_signal;

struct server {
	enum format fmt;
	bool keep;
	bool quiet;
	int workers;			/* worker processes; 0: this process serves alone */
	int worker;			/* this worker's number from 1, or 0 */
	int listen_flags;
	int interval_ms;		/* -q: how often to print the count */
	int epfd;
	int sigpipe;			/* read end of the pipe the signal handler writes to */
	int spare;			/* kept open to be given up when descriptors run out */
	size_t nlisten;
	int lfd[MAX_LISTENERS];
	struct pscope_sockinfo linfo[MAX_LISTENERS];
	bool paused;			/* listeners closed for want of descriptors */
	long fd_limit;
	unsigned long long base_fds;	/* descriptors open besides connections */
	unsigned long long served;
	unsigned long long open;
	long long last_warn_ms;
	long long next_tick_ms;
	long long retry_ms;		/* paused: when to try listening again */
	bool stop;
	bool reader_gone;		/* stdout's reader left: end quietly */
	unsigned long long max_conns;	/* 0: no limit */
	unsigned long long over_max;	/* connections closed at once for --max-conns */
	struct keep_opts kopts;
	struct keep_table kept;		/* with --keep */
	struct cli_user *user;		/* --user: whom to run as once bound; NULL: stay */
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
	"  -k, --keep         keep each connection open until the client closes it; each\n"
	"                     line the client sends is answered with a new portscope/1 line\n"
	"  -w, --workers N    N worker processes, each with its own SO_REUSEPORT listener\n"
	"                     on the same port; one that nears its descriptor limit stops\n"
	"                     listening until it has room, so the others take new clients\n"
	"  -q, --quiet        no report per connection: each worker prints its count of\n"
	"                     open and served connections every --interval seconds\n"
	"      --interval S   seconds between counts with -q (default 1)\n"
	"  -4, -6             only IPv4, or only IPv6, addresses of ENDPOINT\n"
	"      --user USER    once listening, run as USER (name or uid): its groups, no\n"
	"                     capabilities, no way back to root; serve 80 as root, then drop\n"
	"  -h, --help         show this help\n"
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
	"status: 0 after a signal, 1 if it cannot listen, 2 for a bad command line.\n";

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

static void serve_conn(struct server *s, size_t li, int fd, const struct pscope_addr *from)
{
	struct conn_report r = { .from = *from, .listener = &s->linfo[li] };
	int rc;

	if (s->max_conns && s->open >= s->max_conns) {
		/* Closed at once, unserved: the client sees EOF now, not a wait. */
		close(fd);
		s->over_max++;
		warn_limited(s, "--max-conns reached: new connections are closed at once", 0);
		return;
	}
	r.seq = ++s->served;
	s->open++;
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
	send_whoami(&r);
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

static bool near_limit(const struct server *s)
{
	return s->fd_limit > 0 && (long)(s->base_fds + s->open) >= s->fd_limit - FD_RESERVE;
}

static void accept_some(struct server *s, size_t li)
{
	for (int i = 0; i < ACCEPT_BATCH && !s->paused && !got_signal && !(s->workers && near_limit(s));
	     i++) {
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

static void close_listeners(struct server *s)
{
	for (size_t i = 0; i < s->nlisten; i++)
		close(s->lfd[i]);
	s->nlisten = 0;
}

/*
 * A worker near its descriptor limit takes what waits in its accept queues
 * (the reserve leaves room), then closes its listeners: the kernel then sends
 * new clients to the other workers of the SO_REUSEPORT group.
 */
static void pause_listening(struct server *s)
{
	s->paused = true;	/* accept_some() takes no more than what waits now */
	for (size_t i = 0; i < s->nlisten; i++) {
		/* Empty the queue while the reserve lasts: what is left there when the listener
		 * closes is reset, unless net.ipv4.tcp_migrate_req moves it to another worker. */
		for (int k = 0; k < FD_RESERVE - 8; k++) {
			struct sockaddr_storage ss;
			socklen_t len = sizeof(ss);
			struct pscope_addr from;
			int fd = accept4(s->lfd[i], (struct sockaddr *)&ss, &len,
					 SOCK_NONBLOCK | SOCK_CLOEXEC);

			if (fd < 0)
				break;
			pscope_addr_set(&from, (struct sockaddr *)&ss, len);
			serve_conn(s, i, fd, &from);
		}
		close(s->lfd[i]);
		s->lfd[i] = -1;
	}
	s->paused = true;
	fprintf(stderr, "portscope: worker %d: %llu connections open, near the limit of %ld "
		"descriptors: not listening until some close\n", s->worker, s->open, s->fd_limit);
}

static void resume_listening(struct server *s)
{
	for (size_t i = 0; i < s->nlisten; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_LISTENER | i };
		int fd = pscope_listen(&s->linfo[i].local, BACKLOG, s->listen_flags);

		if (fd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			warn_limited(s, "listening again", fd < 0 ? -fd : errno);
			if (fd >= 0)
				close(fd);
			continue;	/* tried again when the next connection closes */
		}
		s->lfd[i] = fd;
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

/* Closes a kept connection and counts why. */
static void end_conn(void *arg, int fd, enum keep_end end)
{
	struct server *s = arg;

	keep_forget(&s->kept, fd, end);
	close_conn(s, fd);
	after_close(s);
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

/* Resolves EP and opens its listeners (bound only, with PSCOPE_LISTEN_BIND_ONLY). */
static int open_listeners(struct server *s, const struct pscope_endpoint *ep, int family, int flags)
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
		rc = try_listen_all(s, addrs, (size_t)n, flags, &failed);
		if (rc == 0)
			break;
		close_listeners(s);
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

/*
 * SIGINT and SIGTERM set a flag and wake epoll through a pipe.  They are
 * handled without SA_RESTART, so that a write to a stdout whose reader has
 * stopped reading is interrupted too: the server must stop when told.
 */
static int signal_pipe = -1;

static void on_signal(int sig)
{
	int saved = errno;

	(void)sig;
	got_signal = 1;
	/* If the pipe is full, the loop is woken already. */
	(void)!write(signal_pipe, "", 1);
	errno = saved;
}

static void on_alarm(int sig)
{
	(void)sig;
}

static int catch_signals(int *read_end)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t mask;
	int p[2];

	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	signal_pipe = p[1];
	*read_end = p[0];
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	/* A worker inherits its parent's blocked signals. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGALRM);
	return sigprocmask(SIG_UNBLOCK, &mask, NULL);
}

static int setup_loop(struct server *s)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_SIGNAL };
	struct rlimit rl;

	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0 || catch_signals(&s->sigpipe) < 0 ||
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sigpipe, &ev) < 0) {
		cli_warn("cannot set up the event loop: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < s->nlisten; i++) {
		ev.data.u64 = TAG_LISTENER | i;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd[i], &ev) < 0) {
			cli_warn("cannot watch a listener: %s", strerror(errno));
			return -1;
		}
	}
	keep_init(&s->kept, s->epfd, &s->kopts);
	s->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (s->workers && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		s->fd_limit = (long)rl.rlim_cur;
	s->base_fds = (unsigned long long)count_open_fds();
	return 0;
}

static void dispatch(struct server *s, const struct epoll_event *ev)
{
	uint64_t tag = ev->data.u64 & ~0xffffffffULL;

	if (tag == TAG_LISTENER) {
		accept_some(s, (size_t)(ev->data.u64 & 0xffffffffULL));
		if (s->workers && !s->paused && near_limit(s))
			pause_listening(s);
	} else if (tag == TAG_SIGNAL) {
		char buf[16];

		while (read(s->sigpipe, buf, sizeof(buf)) > 0)
			;
		s->stop = true;
	} else {
		enum keep_end end = keep_event(&s->kept, (int)ev->data.u64, ev->events);

		if (end != KEEP_OPEN)
			end_conn(s, (int)ev->data.u64, end);
	}
}

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


/*
 * Milliseconds epoll may sleep: until the next count with -q, or the next
 * deadline of a kept connection (whose passing this enforces), else for ever.
 */
static int sleep_ms(struct server *s)
{
	int ms = s->keep ? keep_sweep(&s->kept, end_conn, s) : -1;
	long long now;

	if (s->paused) {
		/* Listening again may have failed, and no connection may be left to close: retry each second. */
		now = pscope_now_ms();
		if (now >= s->retry_ms) {
			after_close(s);
			s->retry_ms = now + 1000;
		}
		if (s->paused && (ms < 0 || ms > 1000))
			ms = 1000;
	}
	if (!s->quiet)
		return ms;
	now = pscope_now_ms();
	if (now >= s->next_tick_ms) {
		print_count(s);
		s->next_tick_ms = now + s->interval_ms;
	}
	if (ms < 0 || s->next_tick_ms - now < ms)
		ms = (int)(s->next_tick_ms - now);
	return ms;
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
	struct epoll_event evs[64];

	s->next_tick_ms = pscope_now_ms() + s->interval_ms;
	while (!s->stop && !got_signal) {
		int timeout = sleep_ms(s);
		/* Output is flushed whenever the loop is about to sleep: prompt when idle, batched when busy. */
		int rc = cli_flush();
		int n;

		if (rc == 2 && got_signal)
			break;	/* a write blocked on a reader that does not read, and a signal came */
		if (rc == 1) {
			s->reader_gone = true;
			return EXIT_OK;
		}
		if (rc != 0)
			return EXIT_FAIL;
		n = epoll_wait(s->epfd, evs, 64, timeout);
		if (n < 0 && errno != EINTR) {
			cli_warn("epoll_wait: %s", strerror(errno));
			return EXIT_FAIL;
		}
		for (int i = 0; i < n && !got_signal; i++)
			dispatch(s, &evs[i]);
	}
	return final_flush();
}

/* ", closed N (why)" for each reason a kept connection ended, and for --max-conns. */
static void print_ends(const unsigned long long *ended, unsigned long long over_max)
{
	for (int e = KEEP_RESET; e < KEEP_STOPPED; e++)
		if (ended[e])
			fprintf(stderr, ", %llu %s", ended[e], keep_end_name((enum keep_end)e));
	if (over_max)
		fprintf(stderr, ", %llu refused over --max-conns", over_max);
}

static void print_summary(const struct server *s)
{
	fprintf(stderr, "portscope: served %llu connection%s", s->served, s->served == 1 ? "" : "s");
	if (s->keep)
		fprintf(stderr, " (%llu still open, now closed)", s->open);
	print_ends(s->kept.ended, s->over_max);
	fputc('\n', stderr);
}

/* What a worker tells the parent: once when it listens, once when it ends. */
struct worker_msg {
	int ready;			/* 1: listening; 0: the final count */
	int status;
	int reader_gone;
	unsigned long long served, open, over_max;
	unsigned long long ended[KEEP_NENDS];
};

struct worker {
	pid_t pid;
	int pipe;			/* the parent's end */
	struct worker_msg end;
	bool ended;
};

static void worker_main(struct server *s, const struct server *parent, int out)
{
	struct worker_msg m = { .ready = 1 };
	int status = EXIT_FAIL;

	/* Each worker opens its own listener on the port its parent reserved. */
	for (size_t i = 0; i < parent->nlisten; i++) {
		int fd = pscope_listen(&parent->linfo[i].local, BACKLOG, s->listen_flags);

		if (fd < 0) {
			report_bind_error(&parent->linfo[i].local, fd);
			_exit(EXIT_FAIL);
		}
		s->lfd[s->nlisten] = fd;
		pscope_sock_describe(fd, &s->linfo[s->nlisten++]);
	}
	if (setup_loop(s) == 0) {
		if (s->user && cli_drop_privileges(s->user) < 0)
			_exit(EXIT_FAIL);
		if (write(out, &m, sizeof(m)) != sizeof(m))
			_exit(EXIT_FAIL);
		status = run(s);
	}
	m = (struct worker_msg){ .status = status, .reader_gone = s->reader_gone,
				 .served = s->served, .open = s->open, .over_max = s->over_max };
	memcpy(m.ended, s->kept.ended, sizeof(m.ended));
	if (write(out, &m, sizeof(m)) != sizeof(m))
		status = EXIT_FAIL;
	_exit(status);
}

static int start_workers(struct server *s, struct worker *w)
{
	/* Lines from several workers must not mix: each line goes out in one write(). */
	fflush(stdout);
	for (int i = 0; i < s->workers; i++) {
		int p[2];

		if (pipe2(p, O_CLOEXEC) < 0) {
			cli_warn("pipe: %s", strerror(errno));
			return -1;
		}
		w[i].pid = fork();
		if (w[i].pid < 0) {
			cli_warn("fork: %s", strerror(errno));
			close(p[0]);
			close(p[1]);
			return -1;
		}
		if (w[i].pid == 0) {
			struct server child = *s;

		/* If the parent dies, even by SIGKILL, this process must not live on. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);

			close(p[0]);
			for (int j = 0; j < i; j++)
				close(w[j].pipe);
			close_listeners(&child);
			child.nlisten = 0;
			child.worker = i + 1;
			setvbuf(stdout, NULL, _IOFBF, WORKER_BUF);
			worker_main(&child, s, p[1]);
		}
		close(p[1]);
		w[i].pipe = p[0];
	}
	return 0;
}

static int read_msg(int fd, struct worker_msg *m, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, timeout_ms) != 1)
		return -1;
	n = read(fd, m, sizeof(*m));
	return n == sizeof(*m) ? 0 : -1;
}

static void stop_workers(struct worker *w, int n)
{
	for (int i = 0; i < n; i++)
		if (w[i].pid > 0)
			kill(w[i].pid, SIGTERM);
	for (int i = 0; i < n; i++) {
		if (w[i].pid <= 0)
			continue;
		w[i].ended = read_msg(w[i].pipe, &w[i].end, 10000) == 0;
		waitpid(w[i].pid, NULL, 0);
		close(w[i].pipe);
	}
}

/* The parent of the workers: waits for a signal, or for a worker to die, then stops them all. */
static int supervise(struct server *s, struct worker *w)
{
	unsigned long long served = 0, open = 0;
	int status = EXIT_OK, sig;
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGCHLD);
	sig = sigwaitinfo(&mask, NULL);
	stop_workers(w, s->workers);
	for (int i = 0; i < s->workers; i++)
		if (w[i].ended && w[i].end.reader_gone)
			return EXIT_OK;	/* stdout's reader left: as quiet as a single server */
	if (sig == SIGCHLD) {
		cli_warn("a worker ended on its own: the others were stopped");
		status = EXIT_FAIL;
	}
	for (int i = 0; i < s->workers; i++) {
		if (!w[i].ended) {
			fprintf(stderr, "portscope: worker %d (pid %d): no summary\n", i + 1, (int)w[i].pid);
			status = EXIT_FAIL;
			continue;
		}
		fprintf(stderr, "portscope: worker %d (pid %d): served %llu", i + 1, (int)w[i].pid,
			w[i].end.served);
		if (s->keep)
			fprintf(stderr, " (%llu still open, now closed)", w[i].end.open);
		print_ends(w[i].end.ended, w[i].end.over_max);
		fputc('\n', stderr);
		served += w[i].end.served;
		open += w[i].end.open;
		s->over_max += w[i].end.over_max;
		for (int e = 0; e < KEEP_NENDS; e++)
			s->kept.ended[e] += w[i].end.ended[e];
		if (w[i].end.status != EXIT_OK)
			status = EXIT_FAIL;
	}
	s->served = served;
	s->open = open;
	print_summary(s);
	return status;
}

static int serve_workers(struct server *s)
{
	struct worker *w = calloc((size_t)s->workers, sizeof(*w));
	struct worker_msg m;
	sigset_t mask;
	int status = EXIT_FAIL;

	if (!w) {
		cli_warn("%s", strerror(ENOMEM));
		return EXIT_FAIL;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if (start_workers(s, w) < 0) {
		stop_workers(w, s->workers);
		goto out;
	}
	for (int i = 0; i < s->workers; i++)
		if (read_msg(w[i].pipe, &m, 10000) < 0 || !m.ready) {
			cli_warn("worker %d did not start", i + 1);
			stop_workers(w, s->workers);
			goto out;
		}
	/* Every worker listens now: the parent's bound sockets have done their job. */
	print_listening(s);
	fprintf(stderr, "portscope: %d worker%s, each with its own SO_REUSEPORT listener\n", s->workers,
		s->workers == 1 ? "" : "s");
	close_listeners(s);
	if (s->user) {
		if (cli_drop_privileges(s->user) < 0) {
			stop_workers(w, s->workers);
			goto out;
		}
		fprintf(stderr, "portscope: running as %s (uid %u, gid %u)\n", s->user->name,
			(unsigned)s->user->uid, (unsigned)s->user->gid);
	}
	status = supervise(s, w);
out:
	free(w);
	return status;
}

enum {
	OPT_INTERVAL = 256, OPT_MAX_CONNS, OPT_IDLE, OPT_LINE_TIMEOUT, OPT_MAX_LINE, OPT_SEND_TIMEOUT,
	OPT_USER
};

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

int cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "keep", no_argument, NULL, 'k' },
		{ "workers", required_argument, NULL, 'w' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "interval", required_argument, NULL, OPT_INTERVAL },
		{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
		{ "idle-timeout", required_argument, NULL, OPT_IDLE },
		{ "line-timeout", required_argument, NULL, OPT_LINE_TIMEOUT },
		{ "max-line", required_argument, NULL, OPT_MAX_LINE },
		{ "send-timeout", required_argument, NULL, OPT_SEND_TIMEOUT },
		{ "user", required_argument, NULL, OPT_USER },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct server s = { .fmt = FMT_SEED, .epfd = -1, .sigpipe = -1, .spare = -1,
			    .interval_ms = 1000,
			    .kopts = { .max_line = 4096, .line_ms = 10000, .send_ms = 10000 } };
	struct pscope_endpoint ep;
	struct cli_user user;
	bool keep_opt = false;
	int family = AF_UNSPEC, c, rc;
	double secs;
	unsigned long n;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f:kw:q46h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_MAX_CONNS:
			if (cli_parse_count("connection limit", optarg, 1, 1UL << 40, &n) < 0)
				return EXIT_USAGE;
			s.max_conns = n;
			break;
		case OPT_IDLE:
		case OPT_LINE_TIMEOUT:
		case OPT_MAX_LINE:
		case OPT_SEND_TIMEOUT:
			if (parse_limit(&s, c, optarg) < 0)
				return EXIT_USAGE;
			keep_opt = true;
			break;
		case OPT_USER:
			if (cli_user_lookup(optarg, &user) < 0)
				return EXIT_USAGE;
			s.user = &user;
			break;
		case 'f':
			if (cli_parse_format(optarg, &s.fmt) < 0)
				return EXIT_USAGE;
			break;
		case 'k':
			s.keep = true;
			break;
		case 'w':
			if (cli_parse_count("number of workers", optarg, 1, 1024, &n) < 0)
				return EXIT_USAGE;
			s.workers = (int)n;
			break;
		case 'q':
			s.quiet = true;
			break;
		case OPT_INTERVAL:
			if (cli_parse_seconds("interval", optarg, &secs) < 0)
				return EXIT_USAGE;
			s.interval_ms = secs < 0.01 ? 10 : (int)(secs * 1000);
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
	if (keep_opt && !s.keep)
		return cli_usage_error("--idle-timeout, --line-timeout, --max-line and --send-timeout "
				       "go with --keep");
	if (s.max_conns && !s.keep)
		return cli_usage_error("--max-conns goes with --keep (without it, no connection "
				       "stays open)");
	if (cli_parse_endpoint(optind < argc ? argv[optind] : "127.0.0.1:8080", "127.0.0.1",
			       8080, &ep) < 0)
		return EXIT_USAGE;
	if (s.user && geteuid() != 0)
		return cli_warn("--user %s needs root", s.user->name), EXIT_FAIL;

	cli_ignore_sigpipe();
	if (s.workers) {
		/*
		 * A SO_REUSEPORT group takes only sockets of one owner, the
		 * creator's fsuid: made as USER from the start, a worker's
		 * listener can join the group again after the drop.
		 */
		if (s.user)
			setfsuid(s.user->uid);
		/* The parent only reserves the port: bound, not listening, so it gets no clients. */
		s.listen_flags = PSCOPE_LISTEN_REUSEPORT;
		rc = open_listeners(&s, &ep, family, PSCOPE_LISTEN_REUSEPORT | PSCOPE_LISTEN_BIND_ONLY);
		return rc != EXIT_OK ? rc : serve_workers(&s);
	}
	rc = open_listeners(&s, &ep, family, 0);
	if (rc != EXIT_OK)
		return rc;
	print_listening(&s);
	if (setup_loop(&s) < 0 || (s.user && cli_drop_privileges(s.user) < 0))
		return EXIT_FAIL;
	if (s.user)
		fprintf(stderr, "portscope: running as %s (uid %u, gid %u)\n", s.user->name,
			(unsigned)s.user->uid, (unsigned)s.user->gid);
	rc = run(&s);
	if (rc == EXIT_OK && !s.reader_gone)
		print_summary(&s);
	keep_free(&s.kept);
	return rc;
}
