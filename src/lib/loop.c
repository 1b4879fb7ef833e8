/*
 * The event loop (see loop.h).  The public functions first, then the epoll
 * backend, the timers and the signals as static functions beside them, as
 * redis keeps ae.c and ae_epoll.c.
 *
 * Memory per descriptor.  portscope holds some 20,000 connections per
 * process and tells its users how many bytes of user space each costs (the
 * client of connect -n keeps 4 of its own, a server worker 32), so the loop's
 * share is kept to 4 bytes: the table indexed by descriptor holds one
 * uint32_t per descriptor,
 *
 *	bits 31..4: the index of its handler (from 1), bits 3..0: its events
 *	(READ, WRITE, RDHUP, EDGE; errors and hang-ups are always reported),
 *
 * and 0 for a descriptor not watched.  A handler is a (callback, argument)
 * pair, interned: the table of handlers holds each distinct pair once, with
 * the count of descriptors watched with it, found by a hash of both pointers
 * (index-chained: buckets of indices, a power of two of them, at least twice
 * as many as the handlers; each entry links to the next of its bucket).  A
 * handler whose last descriptor goes is unlinked and put on a free list, and
 * the next new pair takes its place.  So a program that watches all its
 * connections with one pair (serve, connect -n) pays 4 bytes per descriptor
 * and one 24-byte entry in all; one that gives each descriptor an argument of
 * its own pays an entry (and two bucket indices) per descriptor besides,
 * taken back when the descriptor goes; the table never holds more entries
 * than pairs watched at once.
 *
 * The table of descriptors is pages mapped for it alone, doubled with
 * mremap(2) (nothing copied), never past the descriptor limit: a page no
 * descriptor number reached yet is never touched and costs nothing (see
 * grow_watches for why not calloc).  epoll's data is the descriptor; the
 * handler is looked up when its event is handed out.  An index alone cannot
 * tell a stale event (a freed handler's index is soon another pair's), so
 * whatever ends or changes a descriptor's handler drops its events still
 * waiting in the batch (drop_fired), as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "portscope/loop.h"
#include "portscope/net.h"

_Static_assert(PSCOPE_EV_READ == (uint32_t)EPOLLIN && PSCOPE_EV_WRITE == (uint32_t)EPOLLOUT &&
	       PSCOPE_EV_ERROR == (uint32_t)EPOLLERR && PSCOPE_EV_HUP == (uint32_t)EPOLLHUP &&
	       PSCOPE_EV_RDHUP == (uint32_t)EPOLLRDHUP && PSCOPE_EV_EDGE == (uint32_t)EPOLLET,
	       "loop.h's events are epoll's");

/* Events fetched by one epoll_wait(): more wait for the next turn. */
#define BATCH 256

/* The first table of descriptors: one page of 4 KB. */
#define MIN_WATCHES 1024

/* A descriptor's word in the table: its handler's index above EV_BITS bits of events. */
#define EV_BITS 4
#define W_READ 0x1u
#define W_WRITE 0x2u
#define W_RDHUP 0x4u
#define W_EDGE 0x8u
#define MAX_HANDLERS ((UINT32_C(1) << (32 - EV_BITS)) - 1)
#define FD_EVENTS (PSCOPE_EV_READ | PSCOPE_EV_WRITE | PSCOPE_EV_RDHUP | PSCOPE_EV_EDGE)

/*
 * A (callback, argument) pair and the number of descriptors watched with it
 * (0: free).  NEXT links it to the next in its hash bucket, or, free, to the
 * next free one; index 0 is no entry, and entry 0 is never used.
 */
struct handler {
	pscope_fd_fn *fn;
	void *arg;
	uint32_t refs;
	uint32_t next;
};

struct timer {
	long long id;
	long long when;		/* loop clock, milliseconds */
	long long turn;		/* the turn it last ran in */
	pscope_timer_fn *fn;
	void *arg;
	bool dead;
};

struct sigwatch {
	pscope_signal_fn *fn;
	void *arg;
	bool caught;
};

struct pscope_loop {
	int epfd;
	uint32_t *w;		/* indexed by descriptor: handler << EV_BITS | events; 0: not watched */
	size_t nw;
	struct handler *h;	/* h[1..nh - 1]: the handlers, free ones included */
	uint32_t nh, caph;
	uint32_t live;		/* handlers with refs > 0 */
	uint32_t free_h;	/* the first free handler, or 0 */
	uint32_t *bucket;	/* hash of (fn, arg) -> the first handler of its chain, or 0 */
	uint32_t nbucket;	/* a power of two, or 0 */
	struct timer *t;
	size_t nt, capt;
	long long next_id;
	long long turn;
	long long now;
	pscope_hook_fn *before;
	void *before_arg;
	struct epoll_event fired[BATCH];
	int nfired, cur;	/* the batch fetched, and the next event to hand out */
	bool dispatching;	/* inside the callback of fired[cur] */
	bool stop;
	int sig_rfd;		/* the signal pipe's read end, or -1 */
	struct sigwatch sig[NSIG];
};

/* Signals: the handler's state, for the loop that owns the signals. */
static volatile sig_atomic_t sig_pending[NSIG];
static volatile sig_atomic_t sig_any;
static volatile sig_atomic_t sig_wfd = -1;
static struct pscope_loop *sig_owner;

static void on_signal(int sig)
{
	int saved = errno;

	sig_pending[sig] = 1;
	sig_any = 1;
	/* A full pipe means the loop is woken already. */
	if (sig_wfd >= 0)
		(void)!write(sig_wfd, "", 1);
	errno = saved;
}

int pscope_loop_new(struct pscope_loop **lp)
{
	struct pscope_loop *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->sig_rfd = -1;
	l->nh = 1;		/* entry 0 is "none": no handler is index 0 */
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int e = errno;

		free(l);
		return -e;
	}
	l->now = pscope_now_ms();
	*lp = l;
	return 0;
}

void pscope_loop_free(struct pscope_loop *l)
{
	if (!l)
		return;
	if (sig_owner == l) {
		for (int s = 1; s < NSIG; s++)
			if (l->sig[s].caught)
				signal(s, SIG_DFL);
		if (sig_wfd >= 0)
			close(sig_wfd);
		sig_wfd = -1;
		sig_owner = NULL;
	}
	if (l->sig_rfd >= 0)
		close(l->sig_rfd);
	close(l->epfd);
	if (l->w)
		munmap(l->w, l->nw * sizeof(*l->w));
	free(l->h);
	free(l->bucket);
	free(l->t);
	free(l);
}

/* --- descriptors (the epoll backend) --- */

/* The bytes of a table of N words: whole pages. */
static size_t watch_bytes(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (n * sizeof(uint32_t) + page - 1) / page * page;
}

/*
 * Makes room in the table of watches for FD (doubling, up to the descriptor
 * limit).  Returns 0 or -ENOMEM.
 *
 * The table is mapped pages of its own, grown by mremap(2): a page no
 * descriptor number reached is never touched and costs nothing, and growing
 * copies nothing.  (calloc() would not do: at 4 bytes a slot the tables of
 * 20,000 descriptors are below malloc's mmap threshold, so calloc zeroes them
 * whole, and each outgrown table stays in the heap: 11 bytes per descriptor
 * for 19,000, not 4.)
 */
static int grow_watches(struct pscope_loop *l, int fd)
{
	size_t n = l->nw ? l->nw : MIN_WATCHES, bytes;
	struct rlimit rl;
	void *w;

	while (n <= (size_t)fd)
		n *= 2;
	/* No descriptor reaches the limit: doubling past it would keep memory no one uses. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur > (rlim_t)fd && n > rl.rlim_cur)
		n = (size_t)rl.rlim_cur;
	/* Whole pages (past the limit by less than one): N > FD >= nw, so it grows. */
	bytes = watch_bytes(n);
	if (l->w)
		w = mremap(l->w, watch_bytes(l->nw), bytes, MREMAP_MAYMOVE);
	else
		w = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w == MAP_FAILED)
		return -ENOMEM;
	/* Page by page, even where transparent huge pages are "always": not 2 MB at the first touch. */
	(void)madvise(w, bytes, MADV_NOHUGEPAGE);
	l->w = w;
	l->nw = bytes / sizeof(uint32_t);
	return 0;
}

/* A descriptor's events (PSCOPE_EV_*, without ERROR) packed in EV_BITS bits, and back. */
static uint32_t pack_events(uint32_t ev)
{
	return (ev & PSCOPE_EV_READ ? W_READ : 0) | (ev & PSCOPE_EV_WRITE ? W_WRITE : 0) |
	       (ev & PSCOPE_EV_RDHUP ? W_RDHUP : 0) | (ev & PSCOPE_EV_EDGE ? W_EDGE : 0);
}

static uint32_t unpack_events(uint32_t word)
{
	return (word & W_READ ? PSCOPE_EV_READ : 0) | (word & W_WRITE ? PSCOPE_EV_WRITE : 0) |
	       (word & W_RDHUP ? PSCOPE_EV_RDHUP : 0) | (word & W_EDGE ? PSCOPE_EV_EDGE : 0);
}

/* The bucket of (FN, ARG) among N, a power of two: both pointers mixed (splitmix64's finalizer). */
static uint32_t bucket_of(pscope_fd_fn *fn, void *arg, uint32_t n)
{
	uint64_t x = (uint64_t)(uintptr_t)fn * UINT64_C(0x9e3779b97f4a7c15);

	x ^= (uint64_t)(uintptr_t)arg;
	x ^= x >> 29;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 32;
	return (uint32_t)x & (n - 1);
}

/* Doubles the buckets (16 at first) and links every live handler again.  Returns 0 or -ENOMEM. */
static int rehash(struct pscope_loop *l)
{
	uint32_t n = l->nbucket ? l->nbucket * 2 : 16;
	uint32_t *b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (uint32_t i = 1; i < l->nh; i++) {
		struct handler *h = &l->h[i];
		uint32_t k;

		if (!h->refs)
			continue;
		k = bucket_of(h->fn, h->arg, n);
		h->next = b[k];
		b[k] = i;
	}
	free(l->bucket);
	l->bucket = b;
	l->nbucket = n;
	return 0;
}

/*
 * The index of the handler (FN, ARG), added if new, with one more reference.
 * Returns it (>= 1) or -ENOMEM.
 */
static int handler_get(struct pscope_loop *l, pscope_fd_fn *fn, void *arg)
{
	uint32_t i, k;

	if (l->nbucket)
		for (i = l->bucket[bucket_of(fn, arg, l->nbucket)]; i; i = l->h[i].next)
			if (l->h[i].fn == fn && l->h[i].arg == arg) {
				l->h[i].refs++;
				return (int)i;
			}
	/* New: at most one handler per two buckets, so that chains stay short. */
	if (l->live >= l->nbucket / 2 && rehash(l) < 0)
		return -ENOMEM;
	if (l->free_h) {
		i = l->free_h;
		l->free_h = l->h[i].next;
	} else {
		if (l->nh > MAX_HANDLERS)
			return -ENOMEM;
		if (l->nh >= l->caph) {	/* caph is 0 at first, nh 1 */
			uint32_t cap = l->caph ? l->caph * 2 : 16;
			struct handler *h;

			if (cap > MAX_HANDLERS + 1)
				cap = MAX_HANDLERS + 1;
			h = realloc(l->h, cap * sizeof(*h));
			if (!h)
				return -ENOMEM;
			l->h = h;
			l->caph = cap;
		}
		i = l->nh++;
	}
	k = bucket_of(fn, arg, l->nbucket);
	l->h[i] = (struct handler){ .fn = fn, .arg = arg, .refs = 1, .next = l->bucket[k] };
	l->bucket[k] = i;
	l->live++;
	return (int)i;
}

/* Drops a reference to handler I; the last one unlinks it from its bucket and frees it. */
static void handler_put(struct pscope_loop *l, uint32_t i)
{
	struct handler *h = &l->h[i];
	uint32_t *p;

	if (--h->refs)
		return;
	for (p = &l->bucket[bucket_of(h->fn, h->arg, l->nbucket)]; *p != i; p = &l->h[*p].next)
		;
	*p = h->next;
	*h = (struct handler){ .next = l->free_h };
	l->free_h = i;
	l->live--;
}

static int ctl(struct pscope_loop *l, int op, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	if (epoll_ctl(l->epfd, op, fd, &ev) == 0)
		return 0;
	/* Closed and opened again without an unwatch: the kernel forgot it, we did not. */
	if (op == EPOLL_CTL_MOD && errno == ENOENT)
		return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
	return -errno;
}

/* Events of FD still waiting in this turn's batch are dropped: FD is gone or changed hands. */
static void drop_fired(struct pscope_loop *l, int fd)
{
	for (int i = l->cur + l->dispatching; i < l->nfired; i++)
		if (l->fired[i].data.fd == fd)
			l->fired[i].events = 0;
}

int pscope_loop_watch(struct pscope_loop *l, int fd, uint32_t events, pscope_fd_fn *fn, void *arg)
{
	uint32_t old;
	int idx, rc;

	if (fd < 0 || !fn)
		return -EINVAL;
	if ((size_t)fd >= l->nw && (rc = grow_watches(l, fd)) < 0)
		return rc;
	/* Taken before the old one is let go: the same pair keeps its entry. */
	idx = handler_get(l, fn, arg);
	if (idx < 0)
		return idx;
	old = l->w[fd];
	events &= FD_EVENTS;
	/* Watched for nothing is still watched: errors and hang-ups are always told. */
	rc = ctl(l, old ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, events);
	if (rc < 0) {
		handler_put(l, (uint32_t)idx);
		return rc;
	}
	if (old) {
		if (old >> EV_BITS != (uint32_t)idx)
			drop_fired(l, fd);
		handler_put(l, old >> EV_BITS);
	}
	l->w[fd] = (uint32_t)idx << EV_BITS | pack_events(events);
	return 0;
}

int pscope_loop_unwatch(struct pscope_loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->nw || !l->w[fd])
		return -ENOENT;
	/* Fails with EBADF or ENOENT if FD was closed first: the kernel has forgotten it already. */
	(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	return pscope_loop_forget(l, fd);
}

int pscope_loop_forget(struct pscope_loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->nw || !l->w[fd])
		return -ENOENT;
	handler_put(l, l->w[fd] >> EV_BITS);
	l->w[fd] = 0;
	drop_fired(l, fd);
	return 0;
}

uint32_t pscope_loop_events(const struct pscope_loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->nw)
		return 0;
	return unpack_events(l->w[fd]);
}

/* --- timers --- */

long long pscope_loop_timer(struct pscope_loop *l, long long ms, pscope_timer_fn *fn, void *arg)
{
	struct timer *t;

	if (!fn || ms < 0)
		return -EINVAL;
	if (l->nt == l->capt) {
		size_t cap = l->capt ? l->capt * 2 : 8;

		t = realloc(l->t, cap * sizeof(*t));
		if (!t)
			return -ENOMEM;
		l->t = t;
		l->capt = cap;
	}
	l->now = pscope_now_ms();
	/* A timer made now first runs at the next turn at the earliest. */
	l->t[l->nt++] = (struct timer){ .id = l->next_id, .when = l->now + ms, .turn = l->turn,
					.fn = fn, .arg = arg };
	return l->next_id++;
}

int pscope_loop_timer_del(struct pscope_loop *l, long long id)
{
	for (size_t i = 0; i < l->nt; i++)
		if (l->t[i].id == id && !l->t[i].dead) {
			l->t[i].dead = true;
			return 0;
		}
	return -ENOENT;
}

/* Milliseconds until the next timer is due (0 if one is), or -1 if there is none. */
static long long next_timer_ms(const struct pscope_loop *l)
{
	long long best = -1;

	for (size_t i = 0; i < l->nt; i++) {
		long long left;

		if (l->t[i].dead)
			continue;
		left = l->t[i].when - l->now;
		if (left < 0)
			left = 0;
		if (best < 0 || left < best)
			best = left;
	}
	return best;
}

/* The due timer with the earliest deadline (then id) not yet run this turn, or NULL. */
static struct timer *next_due(struct pscope_loop *l)
{
	struct timer *best = NULL;

	for (size_t i = 0; i < l->nt; i++) {
		struct timer *t = &l->t[i];

		if (t->dead || t->turn == l->turn || t->when > l->now)
			continue;
		if (!best || t->when < best->when || (t->when == best->when && t->id < best->id))
			best = t;
	}
	return best;
}

static void run_timers(struct pscope_loop *l)
{
	struct timer *t;
	size_t k = 0;

	while (!l->stop && (t = next_due(l))) {
		long long id = t->id, again;

		t->turn = l->turn;
		/* The callback may add timers: the array may move, so find it again after. */
		again = t->fn(l, id, t->arg);
		for (size_t i = 0; i < l->nt; i++)
			if (l->t[i].id == id) {
				if (again < 0)
					l->t[i].dead = true;
				else
					l->t[i].when = pscope_now_ms() + again;
				break;
			}
	}
	for (size_t i = 0; i < l->nt; i++)
		if (!l->t[i].dead)
			l->t[k++] = l->t[i];
	l->nt = k;
}

/* --- signals --- */

static void deliver_signals(struct pscope_loop *l)
{
	char buf[64];

	if (sig_owner != l)
		return;
	while (read(l->sig_rfd, buf, sizeof(buf)) > 0)
		;
	sig_any = 0;
	for (int s = 1; s < NSIG && !l->stop; s++) {
		if (!sig_pending[s])
			continue;
		sig_pending[s] = 0;
		if (l->sig[s].fn)
			l->sig[s].fn(l, s, l->sig[s].arg);
	}
	/* Stopped with signals still to deliver: the next turn must see them. */
	for (int s = 1; s < NSIG; s++)
		if (sig_pending[s]) {
			sig_any = 1;
			if (sig_wfd >= 0)
				(void)!write(sig_wfd, "", 1);
			break;
		}
}

static void on_signal_pipe(struct pscope_loop *l, int fd, uint32_t events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	deliver_signals(l);
}

/* Makes L the owner of the signals, with a pipe of its own. */
static int own_signals(struct pscope_loop *l)
{
	int p[2], rc;

	if (sig_owner == l)
		return 0;
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	rc = pscope_loop_watch(l, p[0], PSCOPE_EV_READ, on_signal_pipe, NULL);
	if (rc < 0) {
		close(p[0]);
		close(p[1]);
		return rc;
	}
	/* The write end of the previous owner's pipe (a parent's, in a forked child) is no use now. */
	if (sig_wfd >= 0)
		close(sig_wfd);
	l->sig_rfd = p[0];
	sig_wfd = p[1];
	sig_owner = l;
	/*
	 * What the previous owner left undelivered is not ours: a child forked
	 * while its parent had a SIGCHLD pending would take it for a signal of
	 * its own, and not sleep until some event came.
	 */
	for (int s = 1; s < NSIG; s++)
		sig_pending[s] = 0;
	sig_any = 0;
	return 0;
}

int pscope_loop_signal(struct pscope_loop *l, int sig, pscope_signal_fn *fn, void *arg)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t set;
	int rc;

	if (sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP)
		return -EINVAL;
	rc = own_signals(l);
	if (rc < 0)
		return rc;
	l->sig[sig] = (struct sigwatch){ .fn = fn, .arg = arg, .caught = true };
	/* No SA_RESTART: a blocked write must see EINTR, so that the program can stop. */
	sigemptyset(&sa.sa_mask);
	/* A child stopped or continued has not ended: no need to wake for it. */
	if (sig == SIGCHLD)
		sa.sa_flags |= SA_NOCLDSTOP;
	if (sigaction(sig, &sa, NULL) < 0)
		return -errno;
	sigemptyset(&set);
	sigaddset(&set, sig);
	return sigprocmask(SIG_UNBLOCK, &set, NULL) < 0 ? -errno : 0;
}

bool pscope_loop_signal_pending(const struct pscope_loop *l)
{
	return sig_owner == l && sig_any;
}

/* --- running --- */

/* Waits for events (at most TIMEOUT ms), unless some fetched earlier are still to be handed out. */
static int fetch(struct pscope_loop *l, long long timeout)
{
	int n;

	if (l->cur < l->nfired)
		return 0;	/* a stop left part of the last batch: it goes first */
	n = epoll_wait(l->epfd, l->fired, BATCH, (int)timeout);
	if (n < 0)
		return -errno;
	l->nfired = n;
	l->cur = 0;
	return 0;
}

/* Hands out the fetched events until the batch ends or a callback stops the loop. */
static int dispatch(struct pscope_loop *l)
{
	int handled = 0;

	for (; l->cur < l->nfired && !l->stop; l->cur++) {
		int fd = l->fired[l->cur].data.fd;
		uint32_t ev = l->fired[l->cur].events, word;
		pscope_fd_fn *fn;
		void *arg;

		if (!ev || (size_t)fd >= l->nw || !(word = l->w[fd]))
			continue;
		ev &= unpack_events(word) | PSCOPE_EV_ERROR | PSCOPE_EV_HUP;
		if (!ev)
			continue;	/* watched for other events since it was fetched */
		/*
		 * Copied out: the callback may unwatch FD, freeing the entry for
		 * another pair, or watch new pairs, moving the table.
		 */
		fn = l->h[word >> EV_BITS].fn;
		arg = l->h[word >> EV_BITS].arg;
		l->dispatching = true;
		fn(l, fd, ev, arg);
		l->dispatching = false;
		handled++;
		/* A signal that came meanwhile is seen before the rest of the batch. */
		if (sig_any && sig_owner == l)
			deliver_signals(l);
	}
	return handled;
}

int pscope_loop_once(struct pscope_loop *l, int max_ms)
{
	long long timeout;
	int rc, handled;

	l->stop = false;
	if (l->before)
		l->before(l, l->before_arg);
	/* Stopped by the hook (output that cannot be written): nothing to wait for. */
	if (l->stop)
		return 0;
	l->now = pscope_now_ms();
	timeout = next_timer_ms(l);
	if (max_ms >= 0 && (timeout < 0 || max_ms < timeout))
		timeout = max_ms;
	if (sig_owner == l && sig_any)
		timeout = 0;
	if (timeout > 1000000000)
		timeout = 1000000000;
	rc = fetch(l, timeout);
	if (rc < 0)
		return rc;
	l->turn++;
	l->now = pscope_now_ms();
	handled = dispatch(l);
	if (!l->stop)
		run_timers(l);
	return handled;
}

int pscope_loop_run(struct pscope_loop *l)
{
	do {
		int rc = pscope_loop_once(l, -1);

		if (rc < 0 && rc != -EINTR)
			return rc;
	} while (!l->stop);
	return 0;
}

void pscope_loop_stop(struct pscope_loop *l)
{
	l->stop = true;
}

bool pscope_loop_stopped(const struct pscope_loop *l)
{
	return l->stop;
}

void pscope_loop_before_sleep(struct pscope_loop *l, pscope_hook_fn *fn, void *arg)
{
	l->before = fn;
	l->before_arg = arg;
}

long long pscope_loop_now_ms(const struct pscope_loop *l)
{
	return l->now;
}
