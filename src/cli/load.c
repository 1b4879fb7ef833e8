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
 * Per connection the engine keeps 4 bytes: a state and a timestamp (2 more
 * for the destination's index with several destinations; the event loop
 * keeps 4 more for each descriptor it watches).
 *
 * The engine runs on the event loop (loop.h): each socket is watched
 * edge-triggered, timers scan for timeouts and send progress, and SIGINT or
 * SIGTERM stop it.  New connections are launched between turns of the loop,
 * a few at a time, by the ramp's own driver.  With --procs, the client
 * processes are children of the supervisor (supervise.h), and report to the
 * parent in its messages.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "load.h"
#include "portscope/connfail.h"
#include "portscope/json.h"
#include "portscope/loop.h"
#include "supervise.h"

#define MAX_ERRNO 160
#define TICK_MS 100
#define PROGRESS_MS 250

enum slot_state { S_FREE, S_CONNECTING, S_WAIT_REPLY, S_HOLDING };

/*
 * A connection's slot, 4 bytes: its state in the low 2 bits, and in the rest
 * when it started connecting or was established, in microseconds rounded down
 * to a multiple of 4 (it wraps after 71 minutes; only differences are used).
 * The index of its destination address is kept apart (dsts), and only when
 * there is more than one destination.
 */
typedef uint32_t slot_t;

#define SLOT_STATE 3u

static enum slot_state state_of(slot_t s)
{
	return (enum slot_state)(s & SLOT_STATE);
}

static uint32_t time_of(slot_t s)
{
	return s & ~SLOT_STATE;
}

static slot_t make_slot(uint32_t t_us, enum slot_state st)
{
	return (t_us & ~SLOT_STATE) | (uint32_t)st;
}

static void set_state(slot_t *s, enum slot_state st)
{
	*s = make_slot(time_of(*s), st);
}

struct stats {
	uint64_t attempted, established, failed, replies, matched, mismatched, no_reply;
	uint64_t bad_reply;		/* a line that is not portscope/1, or has no \n before the FIN */
	uint64_t reset;			/* accepted, then reset before a whole line */
	uint64_t closed_by_peer;
	uint32_t fail_errno[MAX_ERRNO];
	uint64_t fail_kind[PSCOPE_FAIL_OTHER + 1];	/* how each failed, as the kernel said (connfail.h) */
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

/* The messages a client process sends its parent (sup_send()). */
enum { MSG_PROGRESS = 1, MSG_FINAL = 2 };

struct engine {
	const struct load_opts *o;
	struct pscope_loop *loop;
	unsigned long first, count, next;
	unsigned long connecting, waiting, open;
	int report_fd;			/* a client process's pipe to its parent, or -1 */
	slot_t *slots;
	uint16_t *dsts;			/* destination index per descriptor, with several; else NULL */
	int nslots;
	long long t0;
	uint64_t t0_us;
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

static void fail(struct engine *e, int err, enum pscope_fail_kind kind)
{
	e->st.failed++;
	e->st.fail_kind[kind]++;
	if (err > 0 && err < MAX_ERRNO)
		e->st.fail_errno[err]++;
}

/* A connect of FD failed with ERR: how, from its error queue and state (connfail.h). */
static void connect_failed(struct engine *e, int fd, int err)
{
	struct pscope_connfail why;
	struct pscope_addr dst;

	pscope_range_at(&e->o->dst, e->dsts ? e->dsts[fd] : 0, e->o->port, &dst);
	if (pscope_connfail_explain(fd, &dst, err, 0, false, &why) < 0)
		why.kind = PSCOPE_FAIL_OTHER;
	fail(e, err, why.kind);
}

static void release(struct engine *e, int fd)
{
	slot_t *s = &e->slots[fd];

	if (state_of(*s) == S_CONNECTING)
		e->connecting--;
	else if (state_of(*s) == S_WAIT_REPLY)
		e->waiting--;
	if (state_of(*s) != S_FREE) {
		e->open--;
		*s = 0;
	}
	/* Its last reference: closing it drops it from the kernel's watch list, so no system call to unwatch it. */
	pscope_loop_forget(e->loop, fd);
	close(fd);
}

static void established(struct engine *e, int fd)
{
	slot_t *s = &e->slots[fd];
	uint32_t now = since(e) & ~SLOT_STATE;

	pscope_hist_add(&e->st.lat_us, now - time_of(*s));
	e->st.established++;
	e->connecting--;
	/* The error queue was for the connect: on a connected socket it makes soft ICMP errors fatal. */
	pscope_recverr(fd, e->o->dst.first.u.sa.sa_family, false);
	e->waiting++;
	*s = make_slot(now, S_WAIT_REPLY);
}

/* This end's address: its port is counted, and the server's view is checked against it. */
static int local_end(struct engine *e, int fd, struct pscope_addr *a)
{
	if (pscope_sock_local(fd, a) < 0)
		return -1;
	set_bit(e->st.ports, (uint32_t)pscope_addr_port(a));
	return 0;
}

/*
 * Frames what the kernel holds of FD's reply (MSG_PEEK: the kernel keeps a
 * partial line, no buffer here) as every reader frames a line (line.h), into
 * LINE (PSCOPE_WHOAMI_BUF bytes).  Returns PSCOPE_LINE_MORE (no decision yet,
 * or nothing to read now), another PSCOPE_LINE_* with the bytes that decided
 * it in *USED, or PSCOPE_LINE_UNENDED for bytes without an end of line when
 * FIN is true (the peer has closed, or the wait is over).
 */
static int frame_reply(int fd, char *line, bool fin, size_t *used)
{
	struct pscope_line l = { 0 };
	ssize_t n = recv(fd, line, PSCOPE_WHOAMI_BUF - 1, MSG_PEEK | MSG_DONTWAIT);
	int r;

	*used = 0;
	if (n <= 0)
		return PSCOPE_LINE_MORE;
	/* PSCOPE_WHOAMI_BUF - 1 bytes always decide: the buffer is never full undecided. */
	r = pscope_line_feed(&l, line, (size_t)n, PSCOPE_WHOAMI_MAX, 0, used);
	return r == PSCOPE_LINE_MORE && fin ? PSCOPE_LINE_UNENDED : r;
}

/*
 * No whole line came (the FIN, a reset or -r ended the wait), as connect
 * judges one connection: a reset (the kernel's state says it, once its error
 * has been read), part of a line (bad: no end of line), or nothing.  The port
 * this connection used is still counted.
 */
static void no_reply(struct engine *e, int fd)
{
	char line[PSCOPE_WHOAMI_BUF];
	struct pscope_addr a;
	size_t used;

	e->waiting--;
	if (pscope_sock_tcp_state(fd) == TCP_CLOSE)
		e->st.reset++;
	else if (frame_reply(fd, line, true, &used) != PSCOPE_LINE_MORE)
		e->st.bad_reply++;
	else
		e->st.no_reply++;
	set_state(&e->slots[fd], S_HOLDING);
	local_end(e, fd, &a);
}

/* Reads the portscope/1 line once it is whole or too long; a line that is neither waits in the kernel. */
static void read_reply(struct engine *e, int fd)
{
	char line[PSCOPE_WHOAMI_BUF];
	struct pscope_whoami w;
	struct pscope_addr local, peer;
	size_t used;
	int r = frame_reply(fd, line, false, &used);
	ssize_t n;

	if (r == PSCOPE_LINE_MORE)
		return; /* the rest is on its way (the edge-triggered watch tells when), or the hang-up says why not */
	n = recv(fd, line, used, MSG_DONTWAIT);
	if (n <= 0) {
		no_reply(e, fd);
		return;
	}
	/* Too long is a bad reply, never a mismatch: a cut line proves nothing of what the server saw. */
	if ((r != PSCOPE_LINE_LF && r != PSCOPE_LINE_CRLF) ||
	    pscope_whoami_parse(line, (size_t)n, &w) < 0) {
		e->waiting--;
		e->st.bad_reply++;
		set_state(&e->slots[fd], S_HOLDING);
		local_end(e, fd, &local);
		return;
	}
	e->waiting--;
	set_state(&e->slots[fd], S_HOLDING);
	e->st.replies++;
	/* The peer is the destination this socket was sent to: connect() succeeded there. */
	pscope_range_at(&e->o->dst, e->dsts ? e->dsts[fd] : 0, e->o->port, &peer);
	if (local_end(e, fd, &local) == 0 && pscope_addr_same(&w.you, &local) &&
	    pscope_addr_same(&w.me, &peer))
		e->st.matched++;
	else
		e->st.mismatched++;
}

/* A connect that has finished, well or not.  Returns true if it is established. */
static bool connect_done(struct engine *e, int fd, uint32_t events)
{
	int err = 0;
	socklen_t len = sizeof(err);
	bool bad = events & (PSCOPE_EV_ERROR | PSCOPE_EV_HUP);

	/* Writable without an error flag is connected: no need to ask SO_ERROR. */
	if (bad && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (bad && !err)
		err = ECONNRESET;
	/*
	 * ECONNRESET (EPIPE after a FIN) comes only once the handshake is done (a
	 * reset in SYN-SENT is ECONNREFUSED: the kernel's tcp_reset()): the server
	 * accepted, then reset.  Established, as connect counts it; the hang-up
	 * that follows counts the reset.
	 */
	if (err == ECONNRESET || err == EPIPE) {
		established(e, fd);
		return true;
	}
	if (err) {
		connect_failed(e, fd, err);
		release(e, fd);
		return false;
	}
	if (!(events & (PSCOPE_EV_WRITE | PSCOPE_EV_READ)))
		return false;
	established(e, fd);
	return true;
}

/* The loop's handler of every connection's socket. */
static void on_conn(struct pscope_loop *l, int fd, uint32_t events, void *arg)
{
	struct engine *e = arg;
	slot_t *s = &e->slots[fd];

	(void)l;
	if (state_of(*s) == S_CONNECTING && !connect_done(e, fd, events))
		return;
	if (state_of(*s) == S_WAIT_REPLY && (events & PSCOPE_EV_READ))
		read_reply(e, fd);
	if (events & (PSCOPE_EV_RDHUP | PSCOPE_EV_HUP | PSCOPE_EV_ERROR)) {
		if (state_of(*s) == S_WAIT_REPLY) {
			read_reply(e, fd);
			if (state_of(*s) == S_WAIT_REPLY)
				no_reply(e, fd);
		}
		e->st.closed_by_peer++;
		release(e, fd);
	}
}

/* A new socket for connection K, bound to its source address if there is a range of them. */
static int new_socket(struct engine *e, unsigned long k, struct pscope_addr *dst, uint32_t *di)
{
	const struct load_opts *o = e->o;
	uint32_t nsrc = o->src.count ? o->src.count : 1;
	uint32_t si = (uint32_t)(k % nsrc);
	struct pscope_addr src;
	int one = 1, fd;

	*di = (uint32_t)((k / nsrc) % o->dst.count);
	pscope_range_at(&o->dst, *di, o->port, dst);
	fd = socket(dst->u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (fd >= e->nslots) {
		close(fd);
		return -EMFILE;
	}
	if (o->src.count) {
		pscope_range_at(&o->src, si, 0, &src);
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, &src.u.sa, src.len) < 0) {
			int err = errno;

			close(fd);
			return -err;
		}
	}
	set_bit(e->st.srcs, si);
	/* ICMP errors are queued with their type, code and sender: how a connect failed. */
	pscope_recverr(fd, dst->u.sa.sa_family, true);
	return fd;
}

static void launch(struct engine *e)
{
	struct pscope_addr dst;
	uint32_t di;
	int fd, rc;

	e->st.attempted++;
	fd = new_socket(e, e->first + e->next++, &dst, &di);
	if (fd < 0) {
		fail(e, -fd, PSCOPE_FAIL_OTHER);
		return;
	}
	e->slots[fd] = make_slot(since(e), S_CONNECTING);
	if (e->dsts)
		e->dsts[fd] = (uint16_t)di;
	e->connecting++;
	e->open++;
	if (connect(fd, &dst.u.sa, dst.len) < 0 && errno != EINPROGRESS) {
		connect_failed(e, fd, errno);
		release(e, fd);
		return;
	}
	rc = pscope_loop_watch(e->loop, fd, PSCOPE_EV_READ | PSCOPE_EV_WRITE | PSCOPE_EV_RDHUP |
			       PSCOPE_EV_EDGE, on_conn, e);
	if (rc < 0) {
		fail(e, -rc, PSCOPE_FAIL_OTHER);
		release(e, fd);
	}
}

/* Connects that take too long fail with ETIMEDOUT; replies that never come are counted. */
static void scan_timeouts(struct engine *e)
{
	uint32_t now = since(e) & ~SLOT_STATE;

	if (!e->connecting && !e->waiting)
		return;
	for (int fd = 0; fd < e->nslots; fd++) {
		slot_t s = e->slots[fd];

		if (state_of(s) == S_CONNECTING && now - time_of(s) > (uint32_t)e->o->timeout_ms * 1000) {
			fail(e, ETIMEDOUT, PSCOPE_FAIL_DEADLINE);
			release(e, fd);
		} else if (state_of(s) == S_WAIT_REPLY && now - time_of(s) > (uint32_t)e->o->reply_ms * 1000) {
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

/* On a terminal, one line written over; with --progress, whole lines (TTY is then false). */
static void show_progress(const struct load_opts *o, bool tty, const struct progress *p,
			  double secs)
{
	if (!tty && !o->progress)
		return;
	fprintf(stderr, "%sportscope: established %llu, in flight %llu, failed %llu, %.0f/s%s",
		tty ? "\r" : "", (unsigned long long)p->established, (unsigned long long)p->inflight,
		(unsigned long long)p->failed, secs > 0 ? (double)p->established / secs : 0.0,
		tty ? "   " : "\n");
	if (!tty)
		fflush(stderr);
}

/* Progress goes to the parent (a client process) or to the terminal. */
static void progress(struct engine *e)
{
	struct progress p = { e->st.established, e->connecting + e->waiting, e->st.failed };

	if (e->report_fd >= 0)
		sup_send(e->report_fd, MSG_PROGRESS, &p, sizeof(p));
	else
		show_progress(e->o, e->tty, &p, (double)(pscope_now_ms() - e->t0) / 1000);
}

static long long progress_timer(struct pscope_loop *l, long long id, void *arg)
{
	(void)l;
	(void)id;
	progress(arg);
	return PROGRESS_MS;
}

static long long scan_timer(struct pscope_loop *l, long long id, void *arg)
{
	(void)l;
	(void)id;
	scan_timeouts(arg);
	return TICK_MS;
}

/* SIGINT or SIGTERM: stop launching, stop holding, and say the run was interrupted. */
static void on_stop_signal(struct pscope_loop *l, int sig, void *arg)
{
	struct engine *e = arg;

	(void)sig;
	e->stop = true;
	e->st.interrupted = 1;
	pscope_loop_stop(l);
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

/* Launches between turns of the loop until every connection is made and answered (or failed). */
static void ramp(struct engine *e)
{
	while (!e->stop && (e->next < e->count || e->connecting || e->waiting)) {
		long long now = pscope_now_ms();

		/* A few at a time between turns, so that waiting to be launched is not counted as latency. */
		for (int i = 0; i < 64 && may_launch(e, now); i++)
			launch(e);
		pscope_loop_once(e->loop, may_launch(e, pscope_now_ms()) ? 0 :
				 e->next < e->count && e->o->rate > 0 ? 2 : TICK_MS);
	}
	e->st.ramp_s = (double)(now_us() - e->t0_us) / 1e6;
}

static long long hold_over(struct pscope_loop *l, long long id, void *arg)
{
	(void)id;
	(void)arg;
	pscope_loop_stop(l);
	return -1;
}

/* Holds what is open for --hold seconds, or until a signal. */
static void hold(struct engine *e)
{
	long long start = pscope_now_ms();

	if (e->o->hold_s >= 0 &&
	    pscope_loop_timer(e->loop, (long long)(e->o->hold_s * 1000), hold_over, e) < 0)
		return;
	pscope_loop_run(e->loop);
	e->st.held_s = (double)(pscope_now_ms() - start) / 1000;
}

/* The loop's part of the engine: its signals and its timers.  Returns 0 or -errno. */
static int engine_loop(struct engine *e)
{
	long long rc;

	if ((rc = pscope_loop_new(&e->loop)) < 0 ||
	    (rc = pscope_loop_signal(e->loop, SIGINT, on_stop_signal, e)) < 0 ||
	    (rc = pscope_loop_signal(e->loop, SIGTERM, on_stop_signal, e)) < 0 ||
	    (rc = pscope_loop_timer(e->loop, TICK_MS, scan_timer, e)) < 0)
		return (int)rc;
	if (e->report_fd >= 0 || e->tty || e->o->progress)
		rc = pscope_loop_timer(e->loop, PROGRESS_MS, progress_timer, e);
	return rc < 0 ? (int)rc : 0;
}

static void engine_free(struct engine *e)
{
	pscope_loop_free(e->loop);
	e->loop = NULL;
	free(e->slots);
	free(e->dsts);
	e->slots = NULL;
	e->dsts = NULL;
}

/*
 * Sets E up for COUNT connections, numbered from FIRST, reporting to
 * REPORT_FD (a client process) or to the terminal (-1).  Returns 0, or -1
 * after saying why.
 */
static int engine_init(struct engine *e, const struct load_opts *o, unsigned long first,
		       unsigned long count, int report_fd)
{
	struct rlimit rl;
	int rc = -ENOMEM;

	memset(e, 0, sizeof(*e));
	e->o = o;
	e->first = first;
	e->count = count;
	e->report_fd = report_fd;
	e->tty = isatty(STDERR_FILENO) && !o->progress;
	getrlimit(RLIMIT_NOFILE, &rl);
	e->nslots = rl.rlim_cur > 1 << 20 ? 1 << 20 : (int)rl.rlim_cur;
	e->slots = calloc((size_t)e->nslots, sizeof(*e->slots));
	if (o->dst.count > 1)
		e->dsts = calloc((size_t)e->nslots, sizeof(*e->dsts));
	if (!e->slots || (o->dst.count > 1 && !e->dsts) || (rc = engine_loop(e)) < 0) {
		cli_warn("cannot set up: %s", strerror(-rc));
		engine_free(e);
		return -1;
	}
	e->st.rss_before_kb = (uint64_t)rss_kb();
	e->t0 = pscope_now_ms();
	e->t0_us = now_us();
	return 0;
}

/* Runs this process's share; closes everything at the end. */
static void engine_run(struct engine *e)
{
	ramp(e);
	progress(e);
	if (!e->stop && e->o->hold_s != 0)
		hold(e);
	e->st.rss_peak_kb = (uint64_t)rss_kb();
	for (int fd = 0; fd < e->nslots; fd++)
		if (state_of(e->slots[fd]) != S_FREE)
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
	into->bad_reply += from->bad_reply;
	into->reset += from->reset;
	into->closed_by_peer += from->closed_by_peer;
	for (int i = 0; i < MAX_ERRNO; i++)
		into->fail_errno[i] += from->fail_errno[i];
	for (int i = 0; i <= PSCOPE_FAIL_OTHER; i++)
		into->fail_kind[i] += from->fail_kind[i];
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

/* A latency in ms to the microsecond it was measured in: 0.094, 1.000, 3012.417 (never
 * %g's "1" or "3.01e+03", which a reader or a script would take for another figure). */
static void print_ms(const char *label, uint64_t us)
{
	printf(" %s %llu.%03llu ms", label, (unsigned long long)(us / 1000),
	       (unsigned long long)(us % 1000));
}

static void print_text(const struct load_opts *o, const struct stats *st)
{
	char dst[PSCOPE_ADDRSTRLEN];
	struct pscope_addr a;
	double rate = st->ramp_s > 0 ? (double)st->established / st->ramp_s : 0;
	bool named = false;

	pscope_range_at(&o->dst, 0, o->port, &a);
	pscope_addr_format(&a, dst, sizeof(dst));
	printf("portscope connect: %llu of %lu connections established to %s%s%s\n",
	       (unsigned long long)st->established, o->n, dst,
	       o->dst.count > 1 ? " and the next addresses" : "",
	       st->interrupted ? " (interrupted)" : "");
	printf("  ramp        %.2f s, %.0f connections/s, %u process%s\n", st->ramp_s, rate,
	       o->procs, o->procs == 1 ? "" : "es");
	printf("  failed      %llu", (unsigned long long)st->failed);
	for (int i = 0, first = 1; i <= PSCOPE_FAIL_OTHER; i++)
		if (st->fail_kind[i]) {
			printf("%s %s %llu", first ? ":" : ",", pscope_fail_kind_name(i),
			       (unsigned long long)st->fail_kind[i]);
			first = 0;
		}
	for (int i = 0; i < MAX_ERRNO; i++)
		if (st->fail_errno[i]) {
			printf("%s%s %u", named ? ", " : " (", pscope_errno_name(i), st->fail_errno[i]);
			named = true;
		}
	puts(named ? ")" : "");
	printf("  latency    ");
	print_ms("p50", pscope_hist_quantile(&st->lat_us, 500));
	print_ms("p90", pscope_hist_quantile(&st->lat_us, 900));
	print_ms("p99", pscope_hist_quantile(&st->lat_us, 990));
	print_ms("max", st->lat_us.max);
	putchar('\n');
	printf("  replies     %llu portscope/1 lines: %llu matched this end's view, %llu differed, "
	       "%llu missing", (unsigned long long)st->replies, (unsigned long long)st->matched,
	       (unsigned long long)st->mismatched, (unsigned long long)st->no_reply);
	if (st->bad_reply)
		printf(", %llu bad (not portscope/1, or no end of line)",
		       (unsigned long long)st->bad_reply);
	if (st->reset)
		printf(", %llu reset by the server before one", (unsigned long long)st->reset);
	putchar('\n');
	printf("  distinct    %u source ports, %u source address%s\n", popcount(st->ports),
	       popcount(st->srcs), popcount(st->srcs) == 1 ? "" : "es");
	if (o->hold_s != 0)
		printf("  held        %s%.2f s, then closed\n", o->hold_s < 0 ? "until a signal: " : "",
		       o->hold_s < 0 ? st->held_s : o->hold_s);
	if (st->closed_by_peer)
		printf("  closed      %llu by the server before the end\n",
		       (unsigned long long)st->closed_by_peer);
}

static void json_latency(struct pscope_json *j, const struct pscope_hist *h)
{
	pscope_json_object_begin(j, "latency_us");
	pscope_json_uint(j, "p50", pscope_hist_quantile(h, 500));
	pscope_json_uint(j, "p90", pscope_hist_quantile(h, 900));
	pscope_json_uint(j, "p99", pscope_hist_quantile(h, 990));
	pscope_json_uint(j, "max", h->max);
	pscope_json_object_end(j);
}

static void print_json(const struct load_opts *o, const struct stats *st)
{
	double rate = st->ramp_s > 0 ? (double)st->established / st->ramp_s : 0;
	struct pscope_json j;

	pscope_json_init_file(&j, stdout);
	pscope_json_object_begin(&j, NULL);
	pscope_json_uint(&j, "requested", o->n);
	pscope_json_uint(&j, "established", st->established);
	pscope_json_uint(&j, "failed", st->failed);
	pscope_json_object_begin(&j, "failures");
	for (int i = 0; i < MAX_ERRNO; i++)
		if (st->fail_errno[i])
			pscope_json_uint(&j, pscope_errno_name(i), st->fail_errno[i]);
	pscope_json_object_end(&j);
	pscope_json_object_begin(&j, "failure_kinds");
	for (int i = 0; i <= PSCOPE_FAIL_OTHER; i++)
		if (st->fail_kind[i])
			pscope_json_uint(&j, pscope_fail_kind_name(i), st->fail_kind[i]);
	pscope_json_object_end(&j);
	pscope_json_double(&j, "ramp_seconds", st->ramp_s, 3);
	pscope_json_double(&j, "rate_per_s", rate, 0);
	pscope_json_uint(&j, "procs", o->procs);
	json_latency(&j, &st->lat_us);
	pscope_json_uint(&j, "replies", st->replies);
	pscope_json_uint(&j, "matched", st->matched);
	pscope_json_uint(&j, "mismatched", st->mismatched);
	pscope_json_uint(&j, "no_reply", st->no_reply);
	pscope_json_uint(&j, "bad_reply", st->bad_reply);
	pscope_json_uint(&j, "reset", st->reset);
	pscope_json_uint(&j, "closed_by_server", st->closed_by_peer);
	pscope_json_uint(&j, "source_ports", popcount(st->ports));
	pscope_json_uint(&j, "source_addresses", popcount(st->srcs));
	pscope_json_object_begin(&j, "client_rss_kb");
	pscope_json_uint(&j, "before", st->rss_before_kb);
	pscope_json_uint(&j, "peak", st->rss_peak_kb);
	pscope_json_object_end(&j);
	pscope_json_bool(&j, "interrupted", st->interrupted);
	pscope_json_object_end(&j);
	putchar('\n');
}

static int finish(const struct load_opts *o, const struct stats *st)
{
	if (o->fmt == FMT_JSON)
		print_json(o, st);
	else
		print_text(o, st);
	/* As connect: 6 when the only trouble was resets after the handshake; 1 for any other. */
	if (st->established != o->n || st->failed)
		return cli_finish(EXIT_FAIL);
	if (st->reset)
		return cli_finish(EXIT_RESET);
	/* --strict: what the lines showed. */
	if (o->strict && st->mismatched)
		return cli_finish(EXIT_MISMATCH);
	if (o->strict && (st->no_reply || st->bad_reply))
		return cli_finish(EXIT_UNJUDGED);
	return cli_finish(EXIT_OK);
}

static unsigned long share(const struct load_opts *o, unsigned i)
{
	return o->n / o->procs + (i < o->n % o->procs ? 1 : 0);
}

/* --- the parent of client processes (--procs) --- */

struct kid {
	struct progress p;	/* the latest it sent */
	bool done;		/* its final report came */
};

struct parent {
	const struct load_opts *o;
	struct pscope_loop *loop;
	struct sup sup;
	struct kid *kids;
	struct stats *total;
	long long t0;
	bool tty;
};

/* In a client process: runs its share of the connections and sends the parent the result. */
static int client_process(struct sup *s, int index, int out, void *arg)
{
	const struct load_opts *o = ((const struct parent *)arg)->o;
	unsigned long first = 0;
	struct engine e;
	int rc;

	(void)s;
	for (unsigned i = 0; i < (unsigned)index; i++)
		first += share(o, i);
	if (engine_init(&e, o, first, share(o, (unsigned)index), out) < 0)
		return EXIT_FAIL;
	engine_run(&e);
	rc = sup_send(out, MSG_FINAL, &e.st, sizeof(e.st));
	engine_free(&e);
	return rc < 0 ? EXIT_FAIL : EXIT_OK;
}

static void on_client_msg(struct sup *s, int index, uint32_t type, const void *msg, size_t len,
			  void *arg)
{
	struct parent *p = arg;
	struct kid *k = &p->kids[index];
	struct stats st;

	(void)s;
	if (type == MSG_PROGRESS && len == sizeof(k->p)) {
		memcpy(&k->p, msg, len);
	} else if (type == MSG_FINAL && len == sizeof(st) && !k->done) {
		memcpy(&st, msg, len);	/* the message's bytes need not be aligned */
		merge(p->total, &st);
		k->done = true;
	}
}

/* A client process that ended without its report: say how, and count the run as interrupted. */
static void on_client_exit(struct sup *s, int index, pid_t pid, int wstatus, void *arg)
{
	struct parent *p = arg;
	char how[64];

	(void)s;
	if (p->kids[index].done)
		return;
	p->total->interrupted = 1;
	if (p->tty)
		fputc('\n', stderr);	/* off the progress line */
	cli_warn("client process %d (pid %d) %s: its connections are not counted", index + 1,
		 (int)pid, sup_describe(wstatus, how, sizeof(how)));
}

static void forward_signal(struct pscope_loop *l, int sig, void *arg)
{
	struct parent *p = arg;

	(void)l;
	(void)sig;
	/* Each client stops, and still sends what it has done. */
	sup_kill(&p->sup, SIGINT);
}

static long long parent_progress(struct pscope_loop *l, long long id, void *arg)
{
	struct parent *p = arg;
	struct progress sum = { 0 };

	(void)l;
	(void)id;
	for (unsigned i = 0; i < p->o->procs; i++) {
		sum.established += p->kids[i].p.established;
		sum.inflight += p->kids[i].p.inflight;
		sum.failed += p->kids[i].p.failed;
	}
	show_progress(p->o, p->tty, &sum, (double)(pscope_now_ms() - p->t0) / 1000);
	return PROGRESS_MS;
}

/* The parent's loop: signals forwarded, the supervisor, progress on a terminal.  Returns 0 or -errno. */
static int parent_init(struct parent *p)
{
	long long rc = -ENOMEM;

	p->kids = calloc(p->o->procs, sizeof(*p->kids));
	p->total = calloc(1, sizeof(*p->total));
	if (!p->kids || !p->total ||
	    (rc = pscope_loop_new(&p->loop)) < 0 ||
	    (rc = pscope_loop_signal(p->loop, SIGINT, forward_signal, p)) < 0 ||
	    (rc = pscope_loop_signal(p->loop, SIGTERM, forward_signal, p)) < 0 ||
	    (rc = sup_init(&p->sup, p->loop, (int)p->o->procs, client_process, on_client_msg,
			   on_client_exit, p)) < 0)
		return (int)rc;
	if (p->tty || p->o->progress)
		rc = pscope_loop_timer(p->loop, PROGRESS_MS, parent_progress, p);
	return rc < 0 ? (int)rc : 0;
}

/* Starts the client processes, each with its share. */
static void start_clients(struct parent *p)
{
	for (unsigned i = 0; i < p->o->procs; i++) {
		pid_t pid = sup_start(&p->sup, (int)i);

		if (pid >= 0)
			continue;
		cli_warn("cannot start client process %u: %s", i + 1, strerror((int)-pid));
		/* Those that started stop early; their summary still says what happened. */
		sup_kill(&p->sup, SIGINT);
		p->total->interrupted = 1;
		return;
	}
}

/* Runs the parent's loop until every client process has ended. */
static void collect(struct parent *p)
{
	while (p->sup.running > 0) {
		int rc = pscope_loop_once(p->loop, -1);

		if (rc < 0 && rc != -EINTR) {
			cli_warn("cannot wait for the client processes: %s", strerror(-rc));
			p->total->interrupted = 1;
			sup_wait(&p->sup, 0);
			break;
		}
	}
	if (p->tty)
		fputc('\n', stderr);
}

static int run_parent(const struct load_opts *o)
{
	struct parent p = { .o = o, .t0 = pscope_now_ms(),
			    .tty = isatty(STDERR_FILENO) && !o->progress };
	int status = EXIT_FAIL, rc = parent_init(&p);

	if (rc < 0) {
		cli_warn("cannot set up: %s", strerror(-rc));
		goto out;
	}
	start_clients(&p);
	collect(&p);
	/* A client process that ended without its report did not make its share: never exit 0. */
	status = finish(o, p.total);
out:
	sup_free(&p.sup);
	pscope_loop_free(p.loop);
	free(p.kids);
	free(p.total);
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

/*
 * Runs connect -n as O says, in this process or in O->procs client
 * processes, and prints its summary.  Returns the exit status: EXIT_OK only
 * if all O->n connections were established and none reset; EXIT_RESET if all
 * were established and some reset; EXIT_FAIL otherwise.
 */
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
	engine_free(&e);
	return status;
}
