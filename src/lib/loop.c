/*
 * The event loop (see loop.h).  The public functions first, then the epoll
 * backend, the timers and the signals as static functions beside them, as
 * redis keeps ae.c and ae_epoll.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
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
#define MAX_FNS 65535

/*
 * A watched descriptor.  The callback is kept as an index into the loop's
 * table of callbacks (a program has a handful), so that an entry is 16 bytes:
 * a server holding 20,000 connections spends 320 KB on them, not 480.
 */
struct watch {
	void *arg;
	uint32_t events;	/* 0: not watched */
	uint16_t fn;		/* index into fns, from 1 */
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
	struct watch *w;	/* indexed by descriptor */
	size_t nw;
	pscope_fd_fn **fns;
	size_t nfns, capfns;
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
	free(l->w);
	free(l->fns);
	free(l->t);
	free(l);
}

/* --- descriptors (the epoll backend) --- */

/* Makes room in the table of watches for FD (doubling, up to the descriptor limit).  Returns 0 or -ENOMEM. */
static int grow_watches(struct pscope_loop *l, int fd)
{
	size_t n = l->nw ? l->nw : 64;
	struct rlimit rl;
	struct watch *w;

	while (n <= (size_t)fd)
		n *= 2;
	/* No descriptor reaches the limit: doubling past it would keep memory no one uses. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur > (rlim_t)fd && n > rl.rlim_cur)
		n = (size_t)rl.rlim_cur;
	/*
	 * A fresh zeroed table, not realloc() and memset(): a large one comes
	 * from mmap(2) already zero, so the part no descriptor reached yet costs
	 * no memory (16 bytes per descriptor watched, not per slot).
	 */
	w = calloc(n, sizeof(*w));
	if (!w)
		return -ENOMEM;
	if (l->nw)
		memcpy(w, l->w, l->nw * sizeof(*w));
	free(l->w);
	l->w = w;
	l->nw = n;
	return 0;
}

/* The index of FN in the loop's table, added if new.  Returns it (>= 1) or -ENOMEM. */
static int fn_index(struct pscope_loop *l, pscope_fd_fn *fn)
{
	for (size_t i = l->nfns; i > 0; i--)
		if (l->fns[i - 1] == fn)
			return (int)i;
	if (l->nfns == MAX_FNS)
		return -ENOMEM;
	if (l->nfns == l->capfns) {
		size_t cap = l->capfns ? l->capfns * 2 : 8;
		pscope_fd_fn **f = realloc(l->fns, cap * sizeof(*f));

		if (!f)
			return -ENOMEM;
		l->fns = f;
		l->capfns = cap;
	}
	l->fns[l->nfns++] = fn;
	return (int)l->nfns;
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
	int rc, idx;
	bool known;

	if (fd < 0 || !fn)
		return -EINVAL;
	if ((size_t)fd >= l->nw && (rc = grow_watches(l, fd)) < 0)
		return rc;
	idx = fn_index(l, fn);
	if (idx < 0)
		return idx;
	known = l->w[fd].events != 0;
	events &= PSCOPE_EV_READ | PSCOPE_EV_WRITE | PSCOPE_EV_RDHUP | PSCOPE_EV_EDGE;
	/* Watched for nothing is still watched: errors and hang-ups are always told. */
	rc = ctl(l, known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, events);
	if (rc < 0)
		return rc;
	if (known && (l->w[fd].fn != idx || l->w[fd].arg != arg))
		drop_fired(l, fd);
	l->w[fd] = (struct watch){ .arg = arg, .events = events | PSCOPE_EV_ERROR, .fn = (uint16_t)idx };
	return 0;
}

int pscope_loop_unwatch(struct pscope_loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->nw || !l->w[fd].events)
		return -ENOENT;
	/* Fails with EBADF or ENOENT if FD was closed first: the kernel has forgotten it already. */
	(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	return pscope_loop_forget(l, fd);
}

int pscope_loop_forget(struct pscope_loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->nw || !l->w[fd].events)
		return -ENOENT;
	l->w[fd].events = 0;
	drop_fired(l, fd);
	return 0;
}

uint32_t pscope_loop_events(const struct pscope_loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->nw)
		return 0;
	return l->w[fd].events & ~(uint32_t)PSCOPE_EV_ERROR;
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
		uint32_t ev = l->fired[l->cur].events;
		struct watch *w;

		if (!ev || (size_t)fd >= l->nw || !l->w[fd].events)
			continue;
		w = &l->w[fd];
		ev &= w->events | PSCOPE_EV_HUP;
		if (!ev)
			continue;	/* watched for other events since it was fetched */
		l->dispatching = true;
		l->fns[w->fn - 1](l, fd, ev, w->arg);
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
