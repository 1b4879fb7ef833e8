/*
 * portscope connect -n: many non-blocking connections, each checked against
 * the server's portscope/1 line, spread over source and destination addresses
 * and over processes (one process may hold only so many descriptors).
 *
 * Ports are left to the kernel: each socket binds its source address with
 * IP_BIND_ADDRESS_NO_PORT, so connect() picks the port for the whole 4-tuple
 * and every (source, destination, port) combination has the full ephemeral
 * range.  Connections are dealt round-robin over the combinations, and the
 * count per combination is kept under half the range: beyond that the
 * kernel's search for a free port (even ports first) slows each connect().
 * Per connection the client keeps 8 bytes: a state and a timestamp.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "load.h"

#define MAX_ERRNO 160
#define TICK_MS 100
#define PROGRESS_MS 250

enum slot_state { S_FREE, S_CONNECTING, S_WAIT_REPLY, S_HOLDING };

struct slot {
	uint32_t t_us;			/* when it started connecting, or was established (wraps) */
	uint16_t dst;			/* index of its destination address in the range */
	uint8_t state;
};

struct stats {
	uint64_t attempted, established, failed, replies, matched, mismatched, no_reply;
	uint64_t closed_by_peer;
	uint32_t fail_errno[MAX_ERRNO];
	double ramp_s;
	double held_s;
	uint64_t rss_before_kb, rss_peak_kb;
	struct pscope_hist lat_us;
	uint64_t ports[65536 / 64];	/* source ports seen */
	uint64_t srcs[65536 / 64];	/* source addresses used, by index in the range */
	int interrupted;
};

struct progress {
	uint64_t established, inflight, failed;
};

enum { MSG_PROGRESS = 1, MSG_FINAL = 2 };

struct engine {
	const struct load_opts *o;
	unsigned long first, count, next;
	unsigned long connecting, waiting, open;
	int epfd, sigfd, report_fd;
	struct slot *slots;
	int nslots;
	long long t0;
	uint64_t t0_us;
	long long last_scan, last_progress;
	bool stop, tty;
	struct stats st;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Microseconds since the start, modulo 2^32: differences stay right for 71 minutes. */
static uint32_t since(const struct engine *e)
{
	return (uint32_t)(now_us() - e->t0_us);
}

static void set_bit(uint64_t *bits, uint32_t i)
{
	bits[i / 64] |= 1ULL << (i % 64);
}

static unsigned popcount(const uint64_t *bits)
{
	unsigned n = 0;

	for (unsigned i = 0; i < 65536 / 64; i++)
		n += (unsigned)__builtin_popcountll(bits[i]);
	return n;
}

static void fail(struct engine *e, int err)
{
	e->st.failed++;
	if (err > 0 && err < MAX_ERRNO)
		e->st.fail_errno[err]++;
}

static void release(struct engine *e, int fd)
{
	struct slot *s = &e->slots[fd];

	if (s->state == S_CONNECTING)
		e->connecting--;
	else if (s->state == S_WAIT_REPLY)
		e->waiting--;
	if (s->state != S_FREE) {
		e->open--;
		s->state = S_FREE;
	}
	close(fd);
}

static void established(struct engine *e, int fd)
{
	struct slot *s = &e->slots[fd];
	uint32_t now = since(e);

	pscope_hist_add(&e->st.lat_us, (uint32_t)(now - s->t_us));
	e->st.established++;
	e->connecting--;
	e->waiting++;
	s->state = S_WAIT_REPLY;
	s->t_us = now;
}

/* This end's address: its port is counted, and the server's view is checked against it. */
static int local_end(struct engine *e, int fd, struct pscope_addr *a)
{
	if (pscope_sock_local(fd, a) < 0)
		return -1;
	set_bit(e->st.ports, (uint32_t)pscope_addr_port(a));
	return 0;
}

/* The reply never came: still count the port this connection used. */
static void no_reply(struct engine *e, int fd)
{
	struct pscope_addr a;

	e->waiting--;
	e->st.no_reply++;
	e->slots[fd].state = S_HOLDING;
	local_end(e, fd, &a);
}

/* Reads the portscope/1 line once it is whole (the kernel keeps partial data: no buffer here). */
static void read_reply(struct engine *e, int fd)
{
	char line[PSCOPE_WHOAMI_MAX + 1];
	struct pscope_whoami w;
	struct pscope_addr local, peer;
	ssize_t n = recv(fd, line, sizeof(line) - 1, MSG_PEEK | MSG_DONTWAIT);
	char *nl;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		return; /* end of file or an error: the hang-up event says so */
	nl = memchr(line, '\n', (size_t)n);
	if (!nl && (size_t)n < sizeof(line) - 1)
		return; /* the rest is on its way; edge-triggered epoll tells when */
	n = recv(fd, line, nl ? (size_t)(nl - line + 1) : (size_t)n, MSG_DONTWAIT);
	if (n <= 0 || pscope_whoami_parse(line, (size_t)n, &w) < 0) {
		no_reply(e, fd);
		return;
	}
	e->waiting--;
	e->slots[fd].state = S_HOLDING;
	e->st.replies++;
	/* The peer is the destination this socket was sent to: connect() succeeded there. */
	pscope_range_at(&e->o->dst, e->slots[fd].dst, e->o->port, &peer);
	if (local_end(e, fd, &local) == 0 && pscope_addr_same(&w.you, &local) &&
	    pscope_addr_same(&w.me, &peer))
		e->st.matched++;
	else
		e->st.mismatched++;
}

static void on_event(struct engine *e, int fd, uint32_t events)
{
	struct slot *s = &e->slots[fd];

	if (s->state == S_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		/* Writable without an error flag is connected: no need to ask SO_ERROR. */
		if ((events & (EPOLLERR | EPOLLHUP)) &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if ((events & (EPOLLERR | EPOLLHUP)) && !err)
			err = ECONNRESET;
		if (err) {
			fail(e, err);
			release(e, fd);
			return;
		}
		if (!(events & (EPOLLOUT | EPOLLIN)))
			return;
		established(e, fd);
	}
	if (s->state == S_WAIT_REPLY && (events & EPOLLIN))
		read_reply(e, fd);
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		if (s->state == S_WAIT_REPLY) {
			read_reply(e, fd);
			if (s->state == S_WAIT_REPLY)
				no_reply(e, fd);
		}
		e->st.closed_by_peer++;
		release(e, fd);
	}
}

static void launch(struct engine *e)
{
	const struct load_opts *o = e->o;
	unsigned long k = e->first + e->next++;
	uint32_t nsrc = o->src.count ? o->src.count : 1;
	uint32_t si = (uint32_t)(k % nsrc), di = (uint32_t)((k / nsrc) % o->dst.count);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET };
	struct pscope_addr dst, src;
	int one = 1, fd;

	e->st.attempted++;
	pscope_range_at(&o->dst, di, o->port, &dst);
	fd = socket(dst.u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fail(e, errno);
		return;
	}
	if (fd >= e->nslots) {
		fail(e, EMFILE);
		close(fd);
		return;
	}
	if (o->src.count) {
		pscope_range_at(&o->src, si, 0, &src);
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, &src.u.sa, src.len) < 0) {
			fail(e, errno);
			close(fd);
			return;
		}
	}
	set_bit(e->st.srcs, si);
	e->slots[fd] = (struct slot){ .t_us = since(e), .dst = (uint16_t)di, .state = S_CONNECTING };
	e->connecting++;
	e->open++;
	if (connect(fd, &dst.u.sa, dst.len) < 0 && errno != EINPROGRESS) {
		fail(e, errno);
		release(e, fd);
		return;
	}
	ev.data.fd = fd;
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		fail(e, errno);
		release(e, fd);
	}
}

/* Connects that take too long fail with ETIMEDOUT; replies that never come are counted. */
static void scan_timeouts(struct engine *e)
{
	uint32_t now = since(e);

	if (!e->connecting && !e->waiting)
		return;
	for (int fd = 0; fd < e->nslots; fd++) {
		struct slot *s = &e->slots[fd];

		if (s->state == S_CONNECTING && now - s->t_us > (uint32_t)e->o->timeout_ms * 1000) {
			fail(e, ETIMEDOUT);
			release(e, fd);
		} else if (s->state == S_WAIT_REPLY && now - s->t_us > (uint32_t)e->o->reply_ms * 1000) {
			no_reply(e, fd);
		}
	}
}

static long rss_kb(void)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	char *p;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* Anonymous memory only: the program's own pages, not the shared library's file pages. */
	p = strstr(buf, "RssAnon:");
	return p ? strtol(p + 8, NULL, 10) : 0;
}

static int send_msg(int fd, uint32_t type, const void *p, size_t len)
{
	uint32_t hdr[2] = { type, (uint32_t)len };

	return pscope_write_all(fd, hdr, sizeof(hdr)) < 0 ? -1 : pscope_write_all(fd, p, len);
}

static void show_progress(bool tty, const struct progress *p, double secs)
{
	if (!tty)
		return;
	fprintf(stderr, "\rportscope: established %llu, in flight %llu, failed %llu, %.0f/s   ",
		(unsigned long long)p->established, (unsigned long long)p->inflight,
		(unsigned long long)p->failed, secs > 0 ? (double)p->established / secs : 0.0);
}

static void progress(struct engine *e, bool force)
{
	long long now = pscope_now_ms();
	struct progress p = { e->st.established, e->connecting + e->waiting, e->st.failed };

	if (!force && now - e->last_progress < PROGRESS_MS)
		return;
	e->last_progress = now;
	if (e->report_fd >= 0)
		send_msg(e->report_fd, MSG_PROGRESS, &p, sizeof(p));
	else
		show_progress(e->tty, &p, (double)(now - e->t0) / 1000);
}

static void handle_signals(struct engine *e)
{
	struct signalfd_siginfo si;

	while (read(e->sigfd, &si, sizeof(si)) == sizeof(si)) {
		e->stop = true;
		e->st.interrupted = 1;
	}
}

/* One round of the loop: wait for events (at most MAX_MS), then handle them. */
static void poll_once(struct engine *e, int max_ms)
{
	struct epoll_event evs[256];
	int n = epoll_wait(e->epfd, evs, 256, max_ms);

	for (int i = 0; i < n; i++) {
		if (evs[i].data.fd == e->sigfd)
			handle_signals(e);
		else
			on_event(e, evs[i].data.fd, evs[i].events);
	}
	if (pscope_now_ms() - e->last_scan >= TICK_MS) {
		e->last_scan = pscope_now_ms();
		scan_timeouts(e);
	}
	progress(e, false);
}

static bool may_launch(const struct engine *e, long long now)
{
	const struct load_opts *o = e->o;
	double per_proc = o->rate / (o->procs ? o->procs : 1);

	/* A connection is in flight until the server has answered it (or -r has passed): counting
	 * only connects would pile clients into the accept queue of a server slow to accept. */
	if (e->next >= e->count || e->connecting + e->waiting >= o->inflight)
		return false;
	return o->rate <= 0 || (double)e->next < per_proc * (double)(now - e->t0) / 1000 + 1;
}

static void ramp(struct engine *e)
{
	while (!e->stop && (e->next < e->count || e->connecting || e->waiting)) {
		long long now = pscope_now_ms();

		/* A few at a time between polls, so that waiting to be launched is not counted as latency. */
		for (int i = 0; i < 64 && may_launch(e, now); i++)
			launch(e);
		poll_once(e, may_launch(e, pscope_now_ms()) ? 0 :
			     e->next < e->count && e->o->rate > 0 ? 2 : TICK_MS);
	}
	e->st.ramp_s = (double)(now_us() - e->t0_us) / 1e6;
}

static void hold(struct engine *e)
{
	long long start = pscope_now_ms();
	long long end = e->o->hold_s < 0 ? -1 : start + (long long)(e->o->hold_s * 1000);

	while (!e->stop && (end < 0 || pscope_now_ms() < end)) {
		long long left = end < 0 ? TICK_MS : end - pscope_now_ms();

		poll_once(e, left < TICK_MS ? (int)left : TICK_MS);
	}
	e->st.held_s = (double)(pscope_now_ms() - start) / 1000;
}

static int engine_init(struct engine *e, const struct load_opts *o, unsigned long first,
		       unsigned long count, int report_fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct rlimit rl;
	sigset_t mask;

	memset(e, 0, sizeof(*e));
	e->o = o;
	e->first = first;
	e->count = count;
	e->report_fd = report_fd;
	e->tty = isatty(STDERR_FILENO);
	getrlimit(RLIMIT_NOFILE, &rl);
	e->nslots = rl.rlim_cur > 1 << 20 ? 1 << 20 : (int)rl.rlim_cur;
	e->slots = calloc((size_t)e->nslots, sizeof(*e->slots));
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	e->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = e->sigfd;
	if (!e->slots || e->sigfd < 0 || e->epfd < 0 ||
	    epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->sigfd, &ev) < 0) {
		cli_warn("cannot set up: %s", strerror(errno ? errno : ENOMEM));
		return -1;
	}
	e->st.rss_before_kb = (uint64_t)rss_kb();
	e->t0 = e->last_scan = e->last_progress = pscope_now_ms();
	e->t0_us = now_us();
	return 0;
}

/* Runs this process's share; closes everything at the end. */
static void engine_run(struct engine *e)
{
	ramp(e);
	progress(e, true);
	if (!e->stop && e->o->hold_s != 0)
		hold(e);
	e->st.rss_peak_kb = (uint64_t)rss_kb();
	for (int fd = 0; fd < e->nslots; fd++)
		if (e->slots[fd].state != S_FREE)
			release(e, fd);
	if (e->tty && e->report_fd < 0)
		fputc('\n', stderr);
}

static void merge(struct stats *into, const struct stats *from)
{
	into->attempted += from->attempted;
	into->established += from->established;
	into->failed += from->failed;
	into->replies += from->replies;
	into->matched += from->matched;
	into->mismatched += from->mismatched;
	into->no_reply += from->no_reply;
	into->closed_by_peer += from->closed_by_peer;
	for (int i = 0; i < MAX_ERRNO; i++)
		into->fail_errno[i] += from->fail_errno[i];
	if (from->ramp_s > into->ramp_s)
		into->ramp_s = from->ramp_s;
	if (from->held_s > into->held_s)
		into->held_s = from->held_s;
	into->rss_before_kb += from->rss_before_kb;
	into->rss_peak_kb += from->rss_peak_kb;
	pscope_hist_merge(&into->lat_us, &from->lat_us);
	for (int i = 0; i < 65536 / 64; i++) {
		into->ports[i] |= from->ports[i];
		into->srcs[i] |= from->srcs[i];
	}
	into->interrupted |= from->interrupted;
}

static void print_ms(const char *label, uint64_t us)
{
	printf(" %s %.3g ms", label, (double)us / 1000);
}

static void print_text(const struct load_opts *o, const struct stats *st)
{
	char dst[PSCOPE_ADDRSTRLEN];
	struct pscope_addr a;
	double rate = st->ramp_s > 0 ? (double)st->established / st->ramp_s : 0;

	pscope_range_at(&o->dst, 0, o->port, &a);
	pscope_addr_format(&a, dst, sizeof(dst));
	printf("portscope connect: %llu of %lu connections established to %s%s%s\n",
	       (unsigned long long)st->established, o->n, dst,
	       o->dst.count > 1 ? " and the next addresses" : "",
	       st->interrupted ? " (interrupted)" : "");
	printf("  ramp        %.2f s, %.0f connections/s, %u process%s\n", st->ramp_s, rate,
	       o->procs, o->procs == 1 ? "" : "es");
	printf("  failed      %llu", (unsigned long long)st->failed);
	for (int i = 0, first = 1; i < MAX_ERRNO; i++)
		if (st->fail_errno[i]) {
			printf("%s %s %u", first ? ":" : ",", pscope_errno_name(i), st->fail_errno[i]);
			first = 0;
		}
	putchar('\n');
	printf("  latency    ");
	print_ms("p50", pscope_hist_quantile(&st->lat_us, 500));
	print_ms("p90", pscope_hist_quantile(&st->lat_us, 900));
	print_ms("p99", pscope_hist_quantile(&st->lat_us, 990));
	print_ms("max", st->lat_us.max);
	putchar('\n');
	printf("  replies     %llu portscope/1 lines: %llu matched this end's view, %llu differed, "
	       "%llu missing\n", (unsigned long long)st->replies, (unsigned long long)st->matched,
	       (unsigned long long)st->mismatched, (unsigned long long)st->no_reply);
	printf("  distinct    %u source ports, %u source address%s\n", popcount(st->ports),
	       popcount(st->srcs), popcount(st->srcs) == 1 ? "" : "es");
	if (o->hold_s != 0)
		printf("  held        %s%.3g s, then closed\n", o->hold_s < 0 ? "until a signal: " : "",
		       o->hold_s < 0 ? st->held_s : o->hold_s);
	if (st->closed_by_peer)
		printf("  closed      %llu by the server before the end\n",
		       (unsigned long long)st->closed_by_peer);
}

static void print_json(const struct load_opts *o, const struct stats *st)
{
	double rate = st->ramp_s > 0 ? (double)st->established / st->ramp_s : 0;
	const char *sep = "";

	printf("{\"requested\":%lu,\"established\":%llu,\"failed\":%llu,\"failures\":{", o->n,
	       (unsigned long long)st->established, (unsigned long long)st->failed);
	for (int i = 0; i < MAX_ERRNO; i++)
		if (st->fail_errno[i]) {
			printf("%s\"%s\":%u", sep, pscope_errno_name(i), st->fail_errno[i]);
			sep = ",";
		}
	printf("},\"ramp_seconds\":%.3f,\"rate_per_s\":%.0f,\"procs\":%u,", st->ramp_s, rate, o->procs);
	printf("\"latency_us\":{\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"max\":%llu},",
	       (unsigned long long)pscope_hist_quantile(&st->lat_us, 500),
	       (unsigned long long)pscope_hist_quantile(&st->lat_us, 900),
	       (unsigned long long)pscope_hist_quantile(&st->lat_us, 990),
	       (unsigned long long)st->lat_us.max);
	printf("\"replies\":%llu,\"matched\":%llu,\"mismatched\":%llu,\"no_reply\":%llu,",
	       (unsigned long long)st->replies, (unsigned long long)st->matched,
	       (unsigned long long)st->mismatched, (unsigned long long)st->no_reply);
	printf("\"closed_by_server\":%llu,\"source_ports\":%u,\"source_addresses\":%u,",
	       (unsigned long long)st->closed_by_peer, popcount(st->ports), popcount(st->srcs));
	printf("\"client_rss_kb\":{\"before\":%llu,\"peak\":%llu},\"interrupted\":%s}\n",
	       (unsigned long long)st->rss_before_kb, (unsigned long long)st->rss_peak_kb,
	       st->interrupted ? "true" : "false");
}

static int finish(const struct load_opts *o, const struct stats *st)
{
	if (o->fmt == FMT_JSON)
		print_json(o, st);
	else
		print_text(o, st);
	return cli_finish(st->established == o->n && !st->failed ? EXIT_OK : EXIT_FAIL);
}

static unsigned long share(const struct load_opts *o, unsigned i)
{
	return o->n / o->procs + (i < o->n % o->procs ? 1 : 0);
}

struct child {
	pid_t pid;
	int fd;
	struct progress p;
	bool done;
};

/* Reads one message from a child. Returns 0 for progress, -1 once it has finished. */
static int child_msg(struct child *c, struct stats *total)
{
	uint32_t hdr[2];
	static struct stats st;

	if (pscope_read_full(c->fd, hdr, sizeof(hdr)) < 0)
		return -1;
	if (hdr[0] == MSG_PROGRESS && hdr[1] == sizeof(c->p))
		return pscope_read_full(c->fd, &c->p, sizeof(c->p));
	if (hdr[0] == MSG_FINAL && hdr[1] == sizeof(st) && pscope_read_full(c->fd, &st, sizeof(st)) == 0) {
		merge(total, &st);
		c->done = true;
	}
	return -1; /* the final report, or garbage: either way this child is finished */
}

static void forward_signals(int sigfd, struct child *kids, unsigned n)
{
	struct signalfd_siginfo si;

	while (read(sigfd, &si, sizeof(si)) == sizeof(si))
		for (unsigned i = 0; i < n; i++)
			if (kids[i].fd >= 0)
				kill(kids[i].pid, SIGINT);
}

/* Starts the client processes, each with its share; returns how many started. */
static unsigned start_children(const struct load_opts *o, struct child *kids, int sigfd)
{
	unsigned long first = 0;

	fflush(stdout);
	for (unsigned i = 0; i < o->procs; i++) {
		unsigned long n = share(o, i);
		int p[2];

		if (pipe2(p, O_CLOEXEC) < 0) {
			cli_warn("cannot start client process %u: %s", i + 1, strerror(errno));
			return i;
		}
		kids[i].pid = fork();
		if (kids[i].pid < 0) {
			cli_warn("cannot start client process %u: %s", i + 1, strerror(errno));
			close(p[0]);
			close(p[1]);
			return i;
		}
		if (kids[i].pid == 0) {
			struct engine e;

		/* If the parent dies, even by SIGKILL, this process must not live on. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);

			close(p[0]);
			close(sigfd);
			for (unsigned j = 0; j < i; j++)
				close(kids[j].fd);
			if (engine_init(&e, o, first, n, p[1]) < 0)
				_exit(EXIT_FAIL);
			engine_run(&e);
			_exit(send_msg(p[1], MSG_FINAL, &e.st, sizeof(e.st)) < 0 ? EXIT_FAIL : EXIT_OK);
		}
		close(p[1]);
		kids[i].fd = p[0];
		first += n;
	}
	return o->procs;
}

/* Collects progress and the final reports of NKIDS children until all have ended. */
static void collect(struct child *kids, unsigned nkids, int sigfd, struct stats *total)
{
	struct pollfd pf[nkids + 1];
	long long t0 = pscope_now_ms(), last = 0;
	bool tty = isatty(STDERR_FILENO);
	unsigned left = nkids;

	while (left > 0) {
		struct progress sum = { 0 };

		for (unsigned i = 0; i < nkids; i++)
			pf[i] = (struct pollfd){ .fd = kids[i].fd, .events = POLLIN };
		pf[nkids] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
		if (poll(pf, nkids + 1, 500) < 0 && errno != EINTR)
			break;
		for (unsigned i = 0; i < nkids; i++) {
			if (kids[i].fd >= 0 && pf[i].revents && child_msg(&kids[i], total) < 0) {
				if (!kids[i].done)
					total->interrupted = 1; /* it died without its report */
				close(kids[i].fd);
				kids[i].fd = -1;
				waitpid(kids[i].pid, NULL, 0);
				left--;
			}
			sum.established += kids[i].p.established;
			sum.inflight += kids[i].p.inflight;
			sum.failed += kids[i].p.failed;
		}
		if (pf[nkids].revents)
			forward_signals(sigfd, kids, nkids);
		if (pscope_now_ms() - last >= PROGRESS_MS) {
			last = pscope_now_ms();
			show_progress(tty, &sum, (double)(last - t0) / 1000);
		}
	}
	if (tty)
		fputc('\n', stderr);
}

static int run_parent(const struct load_opts *o)
{
	struct child *kids = calloc(o->procs, sizeof(*kids));
	struct stats *total = calloc(1, sizeof(*total));
	unsigned started;
	sigset_t mask;
	int sigfd, status = EXIT_FAIL;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (!kids || !total || sigfd < 0) {
		cli_warn("cannot set up: %s", strerror(errno ? errno : ENOMEM));
		goto out;
	}
	started = start_children(o, kids, sigfd);
	if (started < o->procs) {
		/* Those that started stop early; their summary still says what happened. */
		for (unsigned i = 0; i < started; i++)
			kill(kids[i].pid, SIGINT);
		total->interrupted = 1;
	}
	collect(kids, started, sigfd, total);
	status = finish(o, total);
out:
	if (sigfd >= 0)
		close(sigfd);
	free(kids);
	free(total);
	return status;
}

/* Checks descriptors, ports and addresses before any connection is made. */
static int check_limits(const struct load_opts *o)
{
	struct rlimit rl;
	unsigned long per_proc = o->n / o->procs + 1, combos, per_combo;
	unsigned lo = 32768, hi = 60999;
	FILE *f;

	/* The soft limit may be raised to the hard one without privilege. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	if (per_proc + 32 > rl.rlim_cur) {
		unsigned long need = (o->n + rl.rlim_cur - 33) / (rl.rlim_cur - 32);

		cli_warn("%lu connections in %u process%s need %lu descriptors each, but a process "
			 "may hold %llu: use --procs %lu or more", o->n, o->procs,
			 o->procs == 1 ? "" : "es", per_proc + 32, (unsigned long long)rl.rlim_cur, need);
		return -1;
	}
	f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (f) {
		if (fscanf(f, "%u %u", &lo, &hi) != 2 || hi < lo)
			lo = 32768, hi = 60999;
		fclose(f);
	}
	combos = (unsigned long)(o->src.count ? o->src.count : 1) * o->dst.count;
	per_combo = (o->n + combos - 1) / combos;
	if (per_combo > (hi - lo + 1) / 2) {
		cli_warn("%lu connections over %lu (source, destination) address pair%s need %lu "
			 "ports each; ip_local_port_range %u-%u gives %u, and connect() slows past half "
			 "of that: add source addresses (--source 127.0.0.2-127.0.0.N) or destinations",
			 o->n, combos, combos == 1 ? "" : "s", per_combo, lo, hi, hi - lo + 1);
		return -1;
	}
	for (uint32_t i = 0; o->src.count && i < o->src.count; i += o->src.count - 1) {
		struct pscope_addr a;
		int fd = pscope_socket(o->src.first.u.sa.sa_family, SOCK_STREAM), one = 1, rc = 0;
		char text[PSCOPE_ADDRSTRLEN];

		pscope_range_at(&o->src, i, 0, &a);
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (fd < 0 || bind(fd, &a.u.sa, a.len) < 0)
			rc = -errno;
		if (fd >= 0)
			close(fd);
		if (rc < 0) {
			pscope_addr_host(&a, text, sizeof(text));
			cli_warn("source address %s: %s", text, strerror(-rc));
			return -1;
		}
		if (o->src.count == 1)
			break;
	}
	return 0;
}

int load_run(const struct load_opts *o)
{
	struct engine e;
	int status;

	if (check_limits(o) < 0)
		return EXIT_FAIL;
	cli_ignore_sigpipe();
	if (o->procs > 1)
		return run_parent(o);
	if (engine_init(&e, o, 0, o->n, -1) < 0)
		return EXIT_FAIL;
	engine_run(&e);
	status = finish(o, &e.st);
	free(e.slots);
	return status;
}
