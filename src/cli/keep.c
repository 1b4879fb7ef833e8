/* serve --keep: held connections, their lines and their deadlines (see keep.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cli.h"
#include "keep.h"
#include "portscope/loop.h"
#include "portscope/portscope.h"

/*
 * What the server keeps for one connection: no buffer, only counts and times
 * (milliseconds since keep_init(), plus one so that 0 means "none").
 */
struct keep_conn {
	uint64_t seq;
	uint32_t rx_ms;		/* last byte received, or the accept */
	uint32_t line_ms;	/* first byte of the unfinished line; 0: none */
	struct pscope_line line;	/* the unfinished line's framing (line.h) */
	uint32_t blocked_ms;	/* an answer waits for room since; 0: none */
	uint32_t pending;	/* answers owed */
	uint16_t sent;		/* bytes of the first owed answer already sent */
	uint8_t live : 1;
	uint8_t eof : 1;	/* the client has shut its side: answer, then close */
	uint8_t capped : 1;	/* its send buffer is limited (SEND_BUFFER) */
};

/* The README and the man page say so. */
_Static_assert(sizeof(struct keep_conn) == 32, "32 bytes per held connection");

/* What the kernel may hold of answers to one client (SO_SNDBUF; the kernel doubles it). */
#define SEND_BUFFER 16384

/* Reads of one wake-up, so that one chatty client cannot starve the others. */
#define READS_PER_EVENT 4

/*
 * Times wrap after 49 days; they are compared by their signed difference
 * (every limit is far below 2^31 ms).  0 is kept for "none".
 */
static uint32_t now_ms(const struct keep_table *t)
{
	uint32_t v = (uint32_t)(pscope_now_ms() - t->t0) + 1;

	return v ? v : 1;
}

static int32_t ms_until(uint32_t at, uint32_t now)
{
	return (int32_t)(at - now);
}

static long long on_sweep(struct pscope_loop *l, long long id, void *arg);

/* The sweep timer runs by T->due: made, or made again if it would run later. */
static void arm(struct keep_table *t, uint32_t now)
{
	int32_t left;

	if (!t->due || t->sweeping || (t->timer >= 0 && ms_until(t->due, t->timer_at) >= 0))
		return;
	if (t->timer >= 0)
		pscope_loop_timer_del(t->loop, t->timer);
	left = ms_until(t->due, now);
	t->timer = pscope_loop_timer(t->loop, left > 0 ? left : 0, on_sweep, t);
	t->timer_at = t->due;
}

/* A deadline AFTER ms from NOW exists: the next sweep is due by then. */
static void due_in(struct keep_table *t, uint32_t now, int after)
{
	uint32_t at = now + (uint32_t)after;

	if (!at)
		at = 1;
	if (after > 0 && (!t->due || ms_until(at, t->due) < 0)) {
		t->due = at;
		arm(t, now);
	}
}

void keep_init(struct keep_table *t, struct pscope_loop *loop, const struct keep_opts *o,
	       keep_end_fn *end_fn, void *arg)
{
	memset(t, 0, sizeof(*t));
	t->o = *o;
	t->loop = loop;
	t->end_fn = end_fn;
	t->end_arg = arg;
	t->max_fd = -1;
	t->timer = -1;
	t->t0 = pscope_now_ms();
}

void keep_free(struct keep_table *t)
{
	free(t->c);
	t->c = NULL;
	t->size = 0;
}

/* Fresh and zeroed (a large table by mmap(2)): entries no connection reached cost no memory. */
static int grow(struct keep_table *t, int fd)
{
	return CLI_RESERVE(t->c, t->size, (size_t)fd, 1024, true);
}

static void on_conn(struct pscope_loop *l, int fd, uint32_t events, void *arg);

int keep_add(struct keep_table *t, int fd, unsigned long long seq)
{
	int rc;

	if ((size_t)fd >= t->size && (rc = grow(t, fd)) < 0)
		return rc;
	rc = pscope_loop_watch(t->loop, fd, PSCOPE_EV_READ | PSCOPE_EV_RDHUP, on_conn, t);
	if (rc < 0)
		return rc;
	t->c[fd] = (struct keep_conn){ .seq = seq, .rx_ms = now_ms(t), .live = 1 };
	due_in(t, t->c[fd].rx_ms, t->o.idle_ms);
	if (fd > t->max_fd)
		t->max_fd = fd;
	return 0;
}

void keep_forget(struct keep_table *t, int fd, enum keep_end end)
{
	if (fd < 0 || (size_t)fd >= t->size || !t->c[fd].live)
		return;
	/* Closing the descriptor takes it out of the kernel's watch: the loop need not ask. */
	pscope_loop_forget(t->loop, fd);
	t->c[fd].live = 0;
	t->ended[end]++;
	while (t->max_fd >= 0 && !t->c[t->max_fd].live)
		t->max_fd--;
}

/* Watches FD for input, or for room to send while answers are owed; unchanged, the kernel is not asked. */
static int watch(struct keep_table *t, int fd, const struct keep_conn *c)
{
	uint32_t want = c->pending ? PSCOPE_EV_WRITE : PSCOPE_EV_READ | PSCOPE_EV_RDHUP;

	if (pscope_loop_events(t->loop, fd) == want)
		return 0;
	return pscope_loop_watch(t->loop, fd, want, on_conn, t);
}

/* The answer to a line: what the server sees of this connection now. */
static int answer(const struct keep_table *t, int fd, uint64_t seq, char *buf, size_t size)
{
	struct pscope_whoami w = { .conn = seq, .fd = fd };
	int rc;

	memcpy(w.proto, "tcp", 4);
	if ((rc = pscope_sock_peer(fd, &w.you)) < 0 || (rc = pscope_sock_local(fd, &w.me)) < 0)
		return rc;
	if (t->whoami_fn)
		t->whoami_fn(t->whoami_arg, fd, &w);
	return pscope_whoami_format(&w, buf, size);
}

/*
 * Sends what is owed, many answers to a send().  Returns 0 when all is sent,
 * 1 when the socket has no room (the rest waits for PSCOPE_EV_WRITE), or -errno.
 * The answer is made again on each call: it is the same bytes, so none need
 * be kept.  The send deadline runs from the first time there was no room
 * until everything owed has gone: a reader that takes a trickle is still late.
 */
static int send_owed(struct keep_table *t, int fd, struct keep_conn *c)
{
	static char batch[16384];
	char line[PSCOPE_WHOAMI_MAX];
	int len;

	if (!c->pending)
		return 0;
	if (!c->capped) {
		/*
		 * Left to itself the kernel lets a socket's send buffer grow to
		 * megabytes, all of which a client that never reads would hold.
		 * Capped, such a client soon leaves an answer waiting here, where
		 * the send deadline sees it.
		 */
		int size = SEND_BUFFER;

		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
		c->capped = 1;
	}
	len = answer(t, fd, c->seq, line, sizeof(line));
	if (len < 0)
		return len;
	while (c->pending) {
		size_t k = c->pending < sizeof(batch) / (size_t)len ? c->pending : sizeof(batch) / (size_t)len;
		ssize_t n;

		for (size_t i = 0; i < k; i++)
			memcpy(batch + i * (size_t)len, line, (size_t)len);
		n = send(fd, batch + c->sent, k * (size_t)len - c->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			if (!c->blocked_ms) {
				c->blocked_ms = now_ms(t);
				due_in(t, c->blocked_ms, t->o.send_ms);
			}
			return 1;
		}
		n += c->sent;
		c->pending -= (uint32_t)(n / len);
		c->sent = (uint16_t)(n % len);
	}
	if (c->blocked_ms) {
		/* Its input was not read meanwhile: that time does not count against the line or idle limits. */
		uint32_t waited = now_ms(t) - c->blocked_ms;

		if (c->line_ms)
			c->line_ms = c->line_ms + waited ? c->line_ms + waited : 1;
		c->rx_ms = c->rx_ms + waited ? c->rx_ms + waited : 1;
		c->blocked_ms = 0;
	}
	return 0;
}

/* Counts the lines in BUF[0..N), framed as line.h says; returns KEEP_LINE_LONG if one is too long. */
static enum keep_end take_bytes(struct keep_table *t, struct keep_conn *c, const char *buf, size_t n)
{
	size_t used;

	c->rx_ms = now_ms(t);
	while (n > 0) {
		bool started = c->line.len || c->line.cr;

		switch (pscope_line_feed(&c->line, buf, n, t->o.max_line, 0, &used)) {
		case PSCOPE_LINE_LF:
		case PSCOPE_LINE_CRLF:
			c->pending++;
			c->line_ms = 0;
			break;
		case PSCOPE_LINE_MORE:
			if (!started) {
				c->line_ms = c->rx_ms;
				due_in(t, c->rx_ms, t->o.line_ms);
			}
			break;
		default:
			return KEEP_LINE_LONG;
		}
		buf += used;
		n -= used;
	}
	return KEEP_OPEN;
}

static enum keep_end read_lines(struct keep_table *t, int fd, struct keep_conn *c)
{
	static char buf[16384];

	for (int i = 0; i < READS_PER_EVENT && !c->pending; i++) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		enum keep_end end;

		if (n == 0) {
			c->eof = 1;
			return KEEP_OPEN;
		}
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? KEEP_OPEN : KEEP_RESET;
		if ((end = take_bytes(t, c, buf, (size_t)n)) != KEEP_OPEN)
			return end;
	}
	return KEEP_OPEN;
}

/* Handles EVENTS (PSCOPE_EV_*) on FD.  Returns KEEP_OPEN or why FD must be closed. */
static enum keep_end keep_event(struct keep_table *t, int fd, uint32_t events)
{
	struct keep_conn *c;
	enum keep_end end;
	int rc;

	if (fd < 0 || (size_t)fd >= t->size || !t->c[fd].live)
		return KEEP_RESET;
	c = &t->c[fd];
	if ((events & PSCOPE_EV_ERROR) && !(events & PSCOPE_EV_READ))
		return KEEP_RESET;
	/* Input is read only when nothing is owed: a client that does not read is not read either. */
	if (!c->pending && !c->eof && (end = read_lines(t, fd, c)) != KEEP_OPEN)
		return end;
	rc = send_owed(t, fd, c);
	if (rc < 0)
		return KEEP_RESET;
	if (c->eof && !c->pending)
		return KEEP_EOF;	/* every line answered: the client has it all, then EOF */
	if (watch(t, fd, c) < 0)
		return KEEP_RESET;
	return KEEP_OPEN;
}

static void on_conn(struct pscope_loop *l, int fd, uint32_t events, void *arg)
{
	struct keep_table *t = arg;
	enum keep_end end = keep_event(t, fd, events);

	(void)l;
	if (end != KEEP_OPEN)
		t->end_fn(t->end_arg, fd, end);
}

/* Milliseconds from NOW until C's first deadline (0 or less: past), or INT32_MAX if none. */
static long long until_deadline(const struct keep_table *t, const struct keep_conn *c, uint32_t now,
				enum keep_end *which)
{
	long long best = INT32_MAX, d;

	if (t->o.send_ms && c->blocked_ms &&
	    (d = ms_until(c->blocked_ms + (uint32_t)t->o.send_ms, now)) < best) {
		best = d;
		*which = KEEP_SEND_SLOW;
	}
	/* While answers are owed the server does not read: only the send deadline runs. */
	if (c->pending)
		return best;
	if (t->o.line_ms && c->line_ms && (d = ms_until(c->line_ms + (uint32_t)t->o.line_ms, now)) < best) {
		best = d;
		*which = KEEP_LINE_SLOW;
	}
	if (t->o.idle_ms && (d = ms_until(c->rx_ms + (uint32_t)t->o.idle_ms, now)) < best) {
		best = d;
		*which = KEEP_IDLE;
	}
	return best;
}

static int slack(const struct keep_opts *o)
{
	int least = INT32_MAX;

	if (o->line_ms && o->line_ms < least)
		least = o->line_ms;
	if (o->idle_ms && o->idle_ms < least)
		least = o->idle_ms;
	if (o->send_ms && o->send_ms < least)
		least = o->send_ms;
	least /= 16;
	return least < 5 ? 5 : least > 250 ? 250 : least;
}

/*
 * When a deadline is due, ends each connection past its deadline.  Returns
 * the milliseconds until the next deadline, or -1 if none applies.
 */
static int sweep(struct keep_table *t)
{
	long long next = INT32_MAX;
	uint32_t now = now_ms(t);

	if (!t->due)
		return -1;
	if (ms_until(t->due, now) > 0)
		return ms_until(t->due, now);
	/* Connections are few enough (one process's descriptors) to look at them all when one is due. */
	t->due = 0;
	for (int fd = 0; fd <= t->max_fd; fd++) {
		enum keep_end which = KEEP_OPEN;
		long long d;

		if (!t->c[fd].live)
			continue;
		d = until_deadline(t, &t->c[fd], now, &which);
		if (d <= 0)
			t->end_fn(t->end_arg, fd, which);
		else if (d < next)
			next = d;
	}
	if (next == INT32_MAX)
		return t->due ? ms_until(t->due, now) : -1;
	/* A little late rather than a sweep for every connection: 1/16 of the shortest limit. */
	due_in(t, now, (int)next + slack(&t->o));
	return ms_until(t->due, now) > 0 ? ms_until(t->due, now) : 0;
}

/* The loop's timer: sweeps, and runs again when the next deadline is due. */
static long long on_sweep(struct pscope_loop *l, long long id, void *arg)
{
	struct keep_table *t = arg;
	int ms;

	(void)l;
	(void)id;
	t->sweeping = true;
	ms = sweep(t);
	t->sweeping = false;
	if (ms < 0) {
		t->timer = -1;
		return -1;
	}
	t->timer_at = t->due;
	return ms;
}

const char *keep_end_name(enum keep_end end)
{
	static const char *const names[KEEP_NENDS] = {
		[KEEP_OPEN] = "open",
		[KEEP_EOF] = "closed by the client",
		[KEEP_RESET] = "reset or failed",
		[KEEP_LINE_LONG] = "line too long",
		[KEEP_LINE_SLOW] = "line not finished in time",
		[KEEP_IDLE] = "idle too long",
		[KEEP_SEND_SLOW] = "answer not read in time",
		[KEEP_STOPPED] = "closed at exit",
	};

	return (unsigned)end < KEEP_NENDS ? names[end] : "?";
}
