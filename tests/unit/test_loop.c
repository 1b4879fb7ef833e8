/*
 * Unit tests of loop.h (issue 10): descriptors level- and edge-triggered,
 * timers in the order of their deadlines, the before-sleep hook, signals as
 * loop events, unwatching (and closing, and reusing) a descriptor while its
 * event waits in the same batch, and thousands of descriptors; the table of
 * (callback, argument) pairs behind the 4 bytes per descriptor: each
 * descriptor gets its own pair back, a pair no descriptor uses any more is
 * taken back (heap use, read with mallinfo2, stays flat), and a descriptor
 * given another pair in the middle of a batch gets nothing of the old one's.
 * No wait is unbounded: every turn has a max_ms and every loop a count of
 * turns.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"
#include "portscope/loop.h"

/* --- helpers --- */

static int setup_loop(void **state)
{
	struct pscope_loop *l;

	if (pscope_loop_new(&l) < 0)
		return -1;
	*state = l;
	return 0;
}

static int teardown_loop(void **state)
{
	pscope_loop_free(*state);
	return 0;
}

/* A non-blocking, close-on-exec pipe, or a failed test. */
static void pipe_or_fail(int p[2])
{
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
		fail_msg("pipe2: %s", strerror(errno));
}

static void close_pipe(const int p[2])
{
	close(p[0]);
	close(p[1]);
}

static void put_byte(int fd)
{
	assert_num_equal(write(fd, "x", 1), 1);
}

/* Reads all that waits in the non-blocking FD; returns how many bytes. */
static int drain(int fd)
{
	char buf[512];
	ssize_t n;
	int total = 0;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += (int)n;
	return total;
}

/* One turn that does not wait; returns the events handled. */
static int turn(struct pscope_loop *l)
{
	int n = pscope_loop_once(l, 0);

	assert_true(n >= 0);
	return n;
}

/* Turns of at most 50 ms each until *DONE is true, at most WAIT_MS / 10 of them. */
static void turns_until(struct pscope_loop *l, const int *done)
{
	for (int i = 0; i < WAIT_MS / 10 && !*done; i++) {
		int rc = pscope_loop_once(l, 50);

		assert_true(rc >= 0 || rc == -EINTR);
	}
	assert_true(*done);
}

/* A descriptor handler: counts its calls in the int ARG and keeps the last events. */
struct calls {
	int n;
	uint32_t events;
	bool read;	/* read everything that waits */
	bool zero;	/* a call had no events */
};

static void on_count(struct pscope_loop *l, int fd, uint32_t events, void *arg)
{
	struct calls *c = arg;

	(void)l;
	c->n++;
	c->events = events;
	c->zero |= events == 0;
	if (c->read)
		(void)drain(fd);
}

static void on_other(struct pscope_loop *l, int fd, uint32_t events, void *arg)
{
	on_count(l, fd, events, arg);
}

/* --- descriptors --- */

/* Level-triggered: one call per turn while data waits, none once it is read. */
static void level_triggered(void **state)
{
	struct pscope_loop *l = *state;
	struct calls c = { 0 };
	int p[2];

	pipe_or_fail(p);
	assert_rc(pscope_loop_watch(l, p[0], PSCOPE_EV_READ, on_count, &c), 0);
	assert_num_equal(turn(l), 0);
	assert_num_equal(c.n, 0);
	put_byte(p[1]);
	put_byte(p[1]);
	for (int i = 1; i <= 3; i++) {
		assert_num_equal(turn(l), 1);
		assert_num_equal(c.n, i);
		assert_num_equal(c.events, PSCOPE_EV_READ);
	}
	c.read = true;
	assert_num_equal(turn(l), 1);
	assert_num_equal(c.n, 4);
	for (int i = 0; i < 3; i++)
		assert_num_equal(turn(l), 0);
	assert_num_equal(c.n, 4);
	close_pipe(p);
}

/* Edge-triggered: one call per write, however long the data waits unread. */
static void edge_triggered(void **state)
{
	struct pscope_loop *l = *state;
	struct calls c = { 0 };
	int p[2];

	pipe_or_fail(p);
	assert_rc(pscope_loop_watch(l, p[0], PSCOPE_EV_READ | PSCOPE_EV_EDGE, on_count, &c), 0);
	put_byte(p[1]);
	assert_num_equal(turn(l), 1);
	assert_num_equal(c.n, 1);
	for (int i = 0; i < 3; i++)
		assert_num_equal(turn(l), 0);
	assert_num_equal(c.n, 1);
	put_byte(p[1]);
	assert_num_equal(turn(l), 1);
	assert_num_equal(c.n, 2);
	assert_num_equal(turn(l), 0);
	assert_num_equal(drain(p[0]), 2);
	close_pipe(p);
}

/* Watching again replaces events, callback and argument; pscope_loop_events tells them. */
static void watch_again_replaces(void **state)
{
	struct pscope_loop *l = *state;
	struct calls c1 = { 0 }, c2 = { 0 }, cw = { 0 };
	int p[2];

	pipe_or_fail(p);
	assert_num_equal(pscope_loop_events(l, p[0]), 0);
	assert_rc(pscope_loop_watch(l, p[0], PSCOPE_EV_READ, on_count, &c1), 0);
	assert_num_equal(pscope_loop_events(l, p[0]), PSCOPE_EV_READ);
	assert_rc(pscope_loop_watch(l, p[0], PSCOPE_EV_READ | PSCOPE_EV_RDHUP, on_other, &c2), 0);
	assert_num_equal(pscope_loop_events(l, p[0]), PSCOPE_EV_READ | PSCOPE_EV_RDHUP);
	assert_rc(pscope_loop_watch(l, p[1], PSCOPE_EV_WRITE | PSCOPE_EV_EDGE, on_count, &cw), 0);
	assert_num_equal(pscope_loop_events(l, p[1]), PSCOPE_EV_WRITE | PSCOPE_EV_EDGE);
	assert_num_equal(pscope_loop_events(l, 1000), 0);

	put_byte(p[1]);
	c2.read = true;
	assert_num_equal(turn(l), 2);
	assert_num_equal(c1.n, 0);
	assert_num_equal(c2.n, 1);
	assert_num_equal(c2.events, PSCOPE_EV_READ);
	assert_num_equal(cw.n, 1);
	assert_num_equal(cw.events, PSCOPE_EV_WRITE);

	/* The write end closed: the read end hangs up, reported though not asked for. */
	assert_rc(pscope_loop_unwatch(l, p[1]), 0);
	assert_num_equal(pscope_loop_events(l, p[1]), 0);
	close(p[1]);
	assert_num_equal(turn(l), 1);
	assert_num_equal(c2.n, 2);
	assert_true(c2.events & PSCOPE_EV_HUP);
	assert_rc(pscope_loop_unwatch(l, p[0]), 0);
	assert_num_equal(pscope_loop_events(l, p[0]), 0);
	assert_num_equal(turn(l), 0);
	close(p[0]);
}

static void watch_errors(void **state)
{
	struct pscope_loop *l = *state;
	struct calls c = { 0 };
	char path[] = "/tmp/portscope-test-loop-XXXXXX";
	int p[2], file;

	pipe_or_fail(p);
	assert_rc(pscope_loop_watch(l, -1, PSCOPE_EV_READ, on_count, &c), -EINVAL);
	assert_rc(pscope_loop_watch(l, p[0], PSCOPE_EV_READ, NULL, &c), -EINVAL);
	assert_num_equal(pscope_loop_events(l, p[0]), 0);
	assert_num_equal(pscope_loop_events(l, -1), 0);

	assert_rc(pscope_loop_unwatch(l, -1), -ENOENT);
	assert_rc(pscope_loop_unwatch(l, p[0]), -ENOENT);
	assert_rc(pscope_loop_unwatch(l, 100000), -ENOENT);
	assert_rc(pscope_loop_watch(l, p[0], PSCOPE_EV_READ, on_count, &c), 0);
	assert_rc(pscope_loop_unwatch(l, p[0]), 0);
	assert_rc(pscope_loop_unwatch(l, p[0]), -ENOENT);
	close_pipe(p);

	/* Not open; a file epoll cannot watch. */
	assert_rc(pscope_loop_watch(l, p[0], PSCOPE_EV_READ, on_count, &c), -EBADF);
	assert_num_equal(pscope_loop_events(l, p[0]), 0);
	file = mkstemp(path);
	assert_true(file >= 0);
	unlink(path);
	assert_rc(pscope_loop_watch(l, file, PSCOPE_EV_READ, on_count, &c), -EPERM);
	assert_num_equal(pscope_loop_events(l, file), 0);
	close(file);

	assert_num_equal(pscope_loop_timer(l, -1, NULL, NULL), -EINVAL);
	assert_rc(pscope_loop_signal(l, SIGKILL, NULL, NULL), -EINVAL);
	assert_rc(pscope_loop_signal(l, SIGSTOP, NULL, NULL), -EINVAL);
	assert_rc(pscope_loop_signal(l, 0, NULL, NULL), -EINVAL);
	assert_rc(pscope_loop_signal(l, NSIG, NULL, NULL), -EINVAL);
	assert_num_equal(c.n, 0);
}

/*
 * Two pipes readable in the same turn, one handler for both: the first call
 * closes the other pipe's read end, and then, as the case may be, makes a new
 * pipe whose read end takes that number and is watched by another handler.
 */
enum close_how { UNWATCH_CLOSE, UNWATCH_CLOSE_REUSE, CLOSE_REUSE };

struct batch {
	enum close_how how;
	int r[2], w[2];		/* the two pipes */
	struct calls c[2];
	int victim;		/* the index of the pipe closed, or -1 */
	int np[2];		/* the new pipe, its read end on the victim's number */
	struct calls fresh;
	int rc;
};

/*
 * Opens a new pipe NP whose read end takes the number FD (just closed) and
 * watches it with on_other counting into FRESH, unless *RC already holds an
 * error; *RC gets the first failure.
 */
static void reuse_number(struct pscope_loop *l, int fd, int np[2], struct calls *fresh, int *rc)
{
	if (pipe2(np, O_NONBLOCK | O_CLOEXEC) < 0) {
		*rc = -errno;
		return;
	}
	if (np[0] != fd) {
		if (np[1] == fd)
			np[1] = fcntl(np[1], F_DUPFD_CLOEXEC, 0);
		dup3(np[0], fd, O_CLOEXEC);
		close(np[0]);
		np[0] = fd;
	}
	if (*rc == 0)
		*rc = pscope_loop_watch(l, np[0], PSCOPE_EV_READ, on_other, fresh);
}

static void on_batch(struct pscope_loop *l, int fd, uint32_t events, void *arg)
{
	struct batch *b = arg;
	int i = fd == b->r[1];
	int v = !i;

	on_count(l, fd, events, &b->c[i]);
	if (b->victim >= 0)
		return;
	b->victim = v;
	if (b->how != CLOSE_REUSE)
		b->rc = pscope_loop_unwatch(l, b->r[v]);
	close(b->r[v]);
	if (b->how == UNWATCH_CLOSE)
		return;
	reuse_number(l, b->r[v], b->np, &b->fresh, &b->rc);
}

static void close_in_batch(struct pscope_loop *l, enum close_how how)
{
	struct batch b = { .how = how, .victim = -1, .np = { -1, -1 } };
	int p[2];

	for (int i = 0; i < 2; i++) {
		pipe_or_fail(p);
		b.r[i] = p[0];
		b.w[i] = p[1];
		b.c[i].read = true;
		assert_rc(pscope_loop_watch(l, b.r[i], PSCOPE_EV_READ, on_batch, &b), 0);
		put_byte(b.w[i]);
	}
	/* Both readable before the turn: both in the one batch epoll_wait gives. */
	assert_num_equal(turn(l), 1);
	assert_rc(b.rc, 0);
	assert_true(b.victim >= 0);
	assert_num_equal(b.c[!b.victim].n, 1);
	assert_num_equal(b.c[b.victim].n, 0);
	assert_num_equal(b.fresh.n, 0);
	for (int i = 0; i < 3; i++)
		assert_num_equal(turn(l), 0);
	assert_num_equal(b.c[b.victim].n, 0);
	assert_num_equal(b.fresh.n, 0);

	if (how == UNWATCH_CLOSE) {
		assert_num_equal(pscope_loop_events(l, b.r[b.victim]), 0);
	} else {
		/* The new pipe on the old number is watched, and told when it has data. */
		assert_num_equal(b.np[0], b.r[b.victim]);
		assert_num_equal(pscope_loop_events(l, b.np[0]), PSCOPE_EV_READ);
		put_byte(b.np[1]);
		b.fresh.read = true;
		assert_num_equal(turn(l), 1);
		assert_num_equal(b.fresh.n, 1);
		assert_num_equal(b.c[b.victim].n, 0);
		assert_rc(pscope_loop_unwatch(l, b.np[0]), 0);
		close_pipe(b.np);
	}
	close(b.r[!b.victim]);
	close(b.w[0]);
	close(b.w[1]);
}

static void unwatch_close_in_batch(void **state)
{
	close_in_batch(*state, UNWATCH_CLOSE);
}

static void unwatch_close_reuse_in_batch(void **state)
{
	close_in_batch(*state, UNWATCH_CLOSE_REUSE);
}

/* loop.h: "the caller may close it then (or close it first ...)". */
static void close_reuse_in_batch(void **state)
{
	close_in_batch(*state, CLOSE_REUSE);
}

/* pscope_loop_stop from a handler leaves the rest of the turn's events for the next turn. */
struct stopper {
	int r[2];
	int n[2];
};

static void on_stop(struct pscope_loop *l, int fd, uint32_t events, void *arg)
{
	struct stopper *s = arg;

	(void)events;
	s->n[fd == s->r[1]]++;
	(void)drain(fd);
	pscope_loop_stop(l);
}

static void stop_in_batch(struct pscope_loop *l, uint32_t edge)
{
	struct stopper s = { { -1, -1 }, { 0, 0 } };
	int p[2][2];

	for (int i = 0; i < 2; i++) {
		pipe_or_fail(p[i]);
		s.r[i] = p[i][0];
		assert_rc(pscope_loop_watch(l, s.r[i], PSCOPE_EV_READ | edge, on_stop, &s), 0);
		put_byte(p[i][1]);
	}
	assert_num_equal(turn(l), 1);
	assert_true(pscope_loop_stopped(l));
	assert_num_equal(s.n[0] + s.n[1], 1);
	for (int i = 0; i < 3 && s.n[0] + s.n[1] < 2; i++)
		(void)turn(l);
	assert_num_equal(s.n[0], 1);
	assert_num_equal(s.n[1], 1);
	close_pipe(p[0]);
	close_pipe(p[1]);
}

static void stop_leaves_rest_of_batch(void **state)
{
	stop_in_batch(*state, 0);
}

/*
 * Events fetched but not handed out when a callback stops the loop wait for
 * the next turn: level-triggered ones would come again anyway, edge-triggered
 * ones only this way (loop.h: "the rest of the turn's events wait").
 */
static void stop_keeps_edge_events(void **state)
{
	stop_in_batch(*state, PSCOPE_EV_EDGE);
}

/*
 * A descriptor watched again, from a handler, with the same callback and
 * argument but other events: its event already fetched in this turn, masked
 * by the new events, may be empty; the handler is then not called at all.
 */
static void on_rewatch(struct pscope_loop *l, int fd, uint32_t events, void *arg)
{
	struct batch *b = arg;
	int i = fd == b->r[1];

	on_count(l, fd, events, &b->c[i]);
	if (b->victim >= 0)
		return;
	b->victim = !i;
	b->rc = pscope_loop_watch(l, b->r[!i], PSCOPE_EV_WRITE, on_rewatch, b);
}

static void rewatch_never_calls_with_no_events(void **state)
{
	struct pscope_loop *l = *state;
	struct batch b = { .victim = -1 };
	int p[2];

	for (int i = 0; i < 2; i++) {
		pipe_or_fail(p);
		b.r[i] = p[0];
		b.w[i] = p[1];
		assert_rc(pscope_loop_watch(l, b.r[i], PSCOPE_EV_READ, on_rewatch, &b), 0);
		put_byte(b.w[i]);
	}
	(void)turn(l);
	assert_rc(b.rc, 0);
	assert_false(b.c[0].zero || b.c[1].zero);
	assert_num_equal(b.c[b.victim].n, 0);
	for (int i = 0; i < 2; i++) {
		close(b.r[i]);
		close(b.w[i]);
	}
}

/* Thousands of descriptors, all readable: each handler once, after which none. */
#define MANY 3000

static void many_descriptors(void **state)
{
	struct pscope_loop *l = *state;
	struct rlimit rl, saved;
	rlim_t need = 2 * MANY + 64;
	struct calls *c;
	int (*p)[2];
	int handled = 0;

	assert_num_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	saved = rl;
	if (rl.rlim_cur < need) {
		if (rl.rlim_max < need) {
			print_message("  RLIMIT_NOFILE %llu < %llu: skipped\n",
				      (unsigned long long)rl.rlim_max, (unsigned long long)need);
			skip();
		}
		rl.rlim_cur = need;
		assert_num_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	c = calloc(MANY, sizeof(*c));
	p = calloc(MANY, sizeof(*p));
	assert_non_null(c);
	assert_non_null(p);
	for (int i = 0; i < MANY; i++) {
		pipe_or_fail(p[i]);
		c[i].read = true;
		assert_rc(pscope_loop_watch(l, p[i][0], PSCOPE_EV_READ, on_count, &c[i]), 0);
		put_byte(p[i][1]);
	}
	for (int i = 0; i < 10 * MANY / 256 && handled < MANY; i++) {
		int n = turn(l);

		assert_true(n > 0);
		handled += n;
	}
	assert_num_equal(handled, MANY);
	for (int i = 0; i < 3; i++)
		assert_num_equal(turn(l), 0);
	for (int i = 0; i < MANY; i++) {
		if (c[i].n != 1)
			fail_msg("descriptor %d (pipe %d): %d calls, want 1", p[i][0], i, c[i].n);
		assert_num_equal(c[i].events, PSCOPE_EV_READ);
		assert_rc(pscope_loop_unwatch(l, p[i][0]), 0);
		close_pipe(p[i]);
	}
	free(c);
	free(p);
	assert_num_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
}

/* --- the table of handlers: (callback, argument) pairs --- */

/* Bytes the allocator has handed out and not had back (heap and mmap'd blocks). */
static long long heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (long long)(mi.uordblks + mi.hblkhd);
}

/*
 * True if heap_in_use() sees this process's malloc(): not under a sanitizer
 * or valgrind, whose allocators glibc's mallinfo2 does not know.
 */
static bool heap_counted(void)
{
	long long before = heap_in_use(), grew;
	char *p = malloc(1 << 20);

	assert_non_null(p);
	memset(p, 1, 1 << 20);
	grew = heap_in_use() - before;
	free(p);
	if (grew < 1 << 20)
		print_message("  mallinfo2 does not see malloc here (sanitizer, valgrind): "
			      "heap bound not checked\n");
	return grew >= 1 << 20;
}

/* Raises RLIMIT_NOFILE to NEED (into *SAVED the old one), or skips the test. */
static void nofile_at_least(rlim_t need, struct rlimit *saved)
{
	struct rlimit rl;

	assert_num_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	*saved = rl;
	if (rl.rlim_cur >= need)
		return;
	if (rl.rlim_max < need) {
		print_message("  RLIMIT_NOFILE %llu < %llu: skipped\n",
			      (unsigned long long)rl.rlim_max, (unsigned long long)need);
		skip();
	}
	rl.rlim_cur = need;
	assert_num_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

/* What one descriptor was told: by which callback, with which argument. */
struct told {
	int n;
	int fd;			/* the descriptor of the last call */
	int fn;			/* 1: on_told_a, 2: on_told_b */
	void *arg;		/* the argument of the last call */
	int bad;		/* calls for a descriptor other than the one this argument was given with */
	int want_fd;
};

static void told(int which, int fd, void *arg)
{
	struct told *t = arg;

	t->n++;
	t->fd = fd;
	t->fn = which;
	t->arg = arg;
	t->bad += fd != t->want_fd;
	(void)drain(fd);
}

static void on_told_a(struct pscope_loop *l, int fd, uint32_t events, void *arg)
{
	(void)l;
	(void)events;
	told(1, fd, arg);
}

static void on_told_b(struct pscope_loop *l, int fd, uint32_t events, void *arg)
{
	(void)l;
	(void)events;
	told(2, fd, arg);
}

#define OWN 2000

/* Turns until HANDLED reaches WANT (each turn handles at most 256); returns the count handled. */
static int turns_for(struct pscope_loop *l, int want)
{
	int handled = 0;

	for (int i = 0; i < 10 * (want / 256 + 1) && handled < want; i++)
		handled += turn(l);
	assert_num_equal(turn(l), 0);
	return handled;
}

/*
 * Thousands of descriptors, each with an argument of its own and one of two
 * callbacks: each call brings the descriptor's own pair.  Then half are let
 * go and the others' numbers watched again with new arguments (the entries
 * taken back are reused): still each its own.
 */
static void own_argument_per_descriptor(void **state)
{
	struct pscope_loop *l = *state;
	struct rlimit saved;
	struct told *t = calloc(2 * OWN, sizeof(*t));
	int (*p)[2] = calloc(OWN, sizeof(*p));

	assert_non_null(t);
	assert_non_null(p);
	nofile_at_least(2 * OWN + 64, &saved);
	for (int i = 0; i < OWN; i++) {
		pipe_or_fail(p[i]);
		t[i].want_fd = p[i][0];
		assert_rc(pscope_loop_watch(l, p[i][0], PSCOPE_EV_READ, i % 3 ? on_told_a : on_told_b,
					    &t[i]), 0);
		put_byte(p[i][1]);
	}
	assert_num_equal(turns_for(l, OWN), OWN);
	for (int i = 0; i < OWN; i++) {
		if (t[i].n != 1 || t[i].fd != p[i][0] || t[i].arg != &t[i] || t[i].fn != (i % 3 ? 1 : 2))
			fail_msg("descriptor %d: %d calls, last for %d, callback %d, argument %s",
				 p[i][0], t[i].n, t[i].fd, t[i].fn, t[i].arg == &t[i] ? "its own" : "another's");
	}
	/* Every other descriptor let go; the rest take new arguments, and the other callback. */
	for (int i = 0; i < OWN; i++) {
		if (i % 2) {
			assert_rc(pscope_loop_unwatch(l, p[i][0]), 0);
			continue;
		}
		t[OWN + i].want_fd = p[i][0];
		assert_rc(pscope_loop_watch(l, p[i][0], PSCOPE_EV_READ, i % 3 ? on_told_b : on_told_a,
					    &t[OWN + i]), 0);
		put_byte(p[i][1]);
	}
	/* Those let go come back with the arguments of the first round, in another order. */
	for (int i = OWN - 1; i >= 0; i--) {
		if (!(i % 2))
			continue;
		assert_rc(pscope_loop_watch(l, p[i][0], PSCOPE_EV_READ, on_told_a, &t[i]), 0);
		put_byte(p[i][1]);
	}
	assert_num_equal(turns_for(l, OWN), OWN);
	for (int i = 0; i < OWN; i++) {
		struct told *want = i % 2 ? &t[i] : &t[OWN + i];
		int fn = i % 2 ? 1 : i % 3 ? 2 : 1;

		if (want->n != 1 + (i % 2) || want->arg != want || want->fn != fn || want->bad)
			fail_msg("descriptor %d, second round: %d calls, callback %d (want %d), "
				 "%d for another descriptor", p[i][0], want->n, want->fn, fn, want->bad);
		if (!(i % 2) && t[i].n != 1)
			fail_msg("descriptor %d: its old argument called again", p[i][0]);
		assert_rc(pscope_loop_unwatch(l, p[i][0]), 0);
		close_pipe(p[i]);
	}
	free(t);
	free(p);
	assert_num_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
}

/*
 * What the loop could be costing: the bytes malloc has handed out (resident
 * or not, reused or fresh), plus the resident anonymous memory of the
 * mappings outside the heap and the stack (mmap(2)'s, counted page by page
 * as touched).
 */
static long long memory_cost(void)
{
	long long cost = (long long)mallinfo2().uordblks;
	char line[512], name[256] = "";
	FILE *f = fopen("/proc/self/smaps", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		long long kb;

		/* A mapping's first line: "start-end perms offset dev inode [name]". */
		if ((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f')) {
			name[0] = '\0';
			(void)sscanf(line, "%*s %*s %*s %*s %*s %255s", name);
		} else if (sscanf(line, "Anonymous: %lld kB", &kb) == 1 && strcmp(name, "[heap]") &&
			   strcmp(name, "[stack]")) {
			cost += kb * 1024;
		}
	}
	fclose(f);
	return cost;
}

/*
 * Watched with one pair, a descriptor costs the loop 4 bytes: memory_cost()
 * grows by 4 bytes per descriptor number, and two pages (the last page of
 * the table, the handlers).  16-byte entries, or 8, would not fit.  Checked
 * where malloc is glibc's own (not under a sanitizer or valgrind).
 */
static void four_bytes_per_descriptor(void **state)
{
	struct pscope_loop *l = *state;
	struct rlimit saved;
	int (*p)[2] = calloc(OWN, sizeof(*p));
	struct told t = { 0 };
	int top = 0;
	long long before, grew, page = sysconf(_SC_PAGESIZE);
	bool counted = heap_counted();

	assert_non_null(p);
	nofile_at_least(2 * OWN + 64, &saved);
	for (int i = 0; i < OWN; i++) {
		pipe_or_fail(p[i]);
		top = p[i][0] > top ? p[i][0] : top;
		top = p[i][1] > top ? p[i][1] : top;
	}
	before = memory_cost();
	for (int i = 0; i < OWN; i++) {
		assert_rc(pscope_loop_watch(l, p[i][0], PSCOPE_EV_READ, on_told_a, &t), 0);
		assert_rc(pscope_loop_watch(l, p[i][1], PSCOPE_EV_WRITE, on_told_a, &t), 0);
	}
	grew = memory_cost() - before;
	if (counted) {
		print_message("  %d descriptors (up to %d) watched with one pair: %lld bytes "
			      "(%.1f per number)\n", 2 * OWN, top, grew, (double)grew / (top + 1));
		if (grew > 4LL * (top + 1) + 2 * page)
			fail_msg("%lld bytes for descriptors up to %d: more than 4 per number", grew, top);
	}
	for (int i = 0; i < OWN; i++) {
		assert_rc(pscope_loop_unwatch(l, p[i][0]), 0);
		assert_rc(pscope_loop_unwatch(l, p[i][1]), 0);
		close_pipe(p[i]);
	}
	free(p);
	assert_num_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
}

/*
 * 100,000 rounds, each with arguments never seen before: watched, watched
 * again with another callback or argument, then let go (unwatch, or forget
 * and close).  The pairs let go are taken back: heap use stays flat, where
 * keeping them would take some 2.4 MB for the entries alone.
 */
#define CHURN 100000

static void churn_takes_pairs_back(void **state)
{
	struct pscope_loop *l = *state;
	static char tags[2 * CHURN];	/* arguments never called with: no byte is written to p */
	struct told last = { 0 }, fin = { 0 };
	int p[2], q[2];
	long long before = 0, grew;
	bool counted = heap_counted();

	pipe_or_fail(p);
	pipe_or_fail(q);
	/* q's end holds one pair throughout: the churn on p must not disturb it. */
	last.want_fd = q[0];
	assert_rc(pscope_loop_watch(l, q[0], PSCOPE_EV_READ, on_told_b, &last), 0);
	for (int i = 0; i < CHURN; i++) {
		void *a = &tags[2 * i], *b = &tags[2 * i + 1];

		/* The tables made in the first rounds are the baseline. */
		if (i == 100)
			before = heap_in_use();
		assert_rc(pscope_loop_watch(l, p[0], PSCOPE_EV_READ, on_told_a, a), 0);
		switch (i % 3) {
		case 0:
			assert_rc(pscope_loop_watch(l, p[0], PSCOPE_EV_READ, on_told_a, b), 0);
			assert_rc(pscope_loop_unwatch(l, p[0]), 0);
			break;
		case 1:
			assert_rc(pscope_loop_watch(l, p[0], PSCOPE_EV_WRITE, on_told_b, a), 0);
			assert_rc(pscope_loop_unwatch(l, p[0]), 0);
			break;
		default:
			assert_rc(pscope_loop_forget(l, p[0]), 0);
			close_pipe(p);
			pipe_or_fail(p);
		}
	}
	grew = heap_in_use() - before;
	if (counted)
		print_message("  %d rounds: heap use grew by %lld bytes\n", CHURN, grew);
	if (counted && grew > 64 * 1024)
		fail_msg("%d rounds with new pairs: the heap grew by %lld bytes", CHURN, grew);
	/* Still right after all that: both descriptors get their own pair. */
	fin.want_fd = p[0];
	assert_rc(pscope_loop_watch(l, p[0], PSCOPE_EV_READ, on_told_a, &fin), 0);
	put_byte(p[1]);
	put_byte(q[1]);
	assert_num_equal(turn(l), 2);
	assert_num_equal(last.n, 1);
	assert_num_equal(last.fn, 2);
	assert_num_equal(last.bad, 0);
	assert_ptr_equal(last.arg, &last);
	assert_num_equal(fin.n, 1);
	assert_num_equal(fin.fn, 1);
	assert_num_equal(fin.bad, 0);
	assert_ptr_equal(fin.arg, &fin);
	close_pipe(p);
	close_pipe(q);
}

/*
 * Watching a descriptor again with another argument (same callback) changes
 * what its calls bring, and only its: another descriptor that shared its
 * old pair keeps it.
 */
static void rewatch_changes_argument(void **state)
{
	struct pscope_loop *l = *state;
	struct calls c1 = { .read = true }, c2 = { .read = true };
	int p[2], q[2];

	pipe_or_fail(p);
	pipe_or_fail(q);
	assert_rc(pscope_loop_watch(l, p[0], PSCOPE_EV_READ, on_count, &c1), 0);
	assert_rc(pscope_loop_watch(l, q[0], PSCOPE_EV_READ, on_count, &c1), 0);
	put_byte(p[1]);
	assert_num_equal(turn(l), 1);
	assert_num_equal(c1.n, 1);

	assert_rc(pscope_loop_watch(l, p[0], PSCOPE_EV_READ, on_count, &c2), 0);
	put_byte(p[1]);
	assert_num_equal(turn(l), 1);
	assert_num_equal(c1.n, 1);
	assert_num_equal(c2.n, 1);
	/* q kept the old pair. */
	put_byte(q[1]);
	assert_num_equal(turn(l), 1);
	assert_num_equal(c1.n, 2);
	assert_num_equal(c2.n, 1);

	/* And back, with other events: the first argument again. */
	assert_rc(pscope_loop_watch(l, p[0], PSCOPE_EV_READ | PSCOPE_EV_RDHUP, on_count, &c1), 0);
	assert_num_equal(pscope_loop_events(l, p[0]), PSCOPE_EV_READ | PSCOPE_EV_RDHUP);
	put_byte(p[1]);
	put_byte(q[1]);
	assert_num_equal(turn(l), 2);
	assert_num_equal(c1.n, 4);
	assert_num_equal(c2.n, 1);
	close_pipe(p);
	close_pipe(q);
}

/*
 * One argument with 64 callbacks is 64 pairs: each descriptor is told
 * through its own callback.  (Pairs that differ in the callback alone land in
 * the same bucket often enough, among 64, for a lookup that compared the
 * arguments only to be caught.)
 */
#define NCB 64

struct by_callback {
	int fd[NCB];
	int got[NCB];		/* the callback that told fd[i], plus 1 */
	int n;
};

static void told_by(int k, int fd, void *arg)
{
	struct by_callback *b = arg;

	b->n++;
	for (int i = 0; i < NCB; i++)
		if (b->fd[i] == fd)
			b->got[i] = k + 1;
	(void)drain(fd);
}

/* K is two octal digits, 00 to 77: 0##K is its value. */
#define CB(k)                                                                                    \
	static void on_cb_##k(struct pscope_loop *l, int fd, uint32_t events, void *arg)           \
	{                                                                                          \
		(void)l;                                                                           \
		(void)events;                                                                      \
		told_by(0##k, fd, arg);                                                            \
	}
#define CB8(d) CB(d##0) CB(d##1) CB(d##2) CB(d##3) CB(d##4) CB(d##5) CB(d##6) CB(d##7)
CB8(0) CB8(1) CB8(2) CB8(3) CB8(4) CB8(5) CB8(6) CB8(7)
#undef CB
#define CB(k) on_cb_##k,
static pscope_fd_fn *const by_cb[NCB] = { CB8(0) CB8(1) CB8(2) CB8(3) CB8(4) CB8(5) CB8(6) CB8(7) };
#undef CB
#undef CB8

static void one_argument_many_callbacks(void **state)
{
	struct pscope_loop *l = *state;
	struct by_callback b = { .n = 0 };
	int p[NCB][2];

	for (int i = 0; i < NCB; i++) {
		pipe_or_fail(p[i]);
		b.fd[i] = p[i][0];
		assert_rc(pscope_loop_watch(l, p[i][0], PSCOPE_EV_READ, by_cb[i], &b), 0);
		put_byte(p[i][1]);
	}
	assert_num_equal(turns_for(l, NCB), NCB);
	assert_num_equal(b.n, NCB);
	for (int i = 0; i < NCB; i++) {
		if (b.got[i] != i + 1)
			fail_msg("descriptor %d: told by callback %d, want %d", p[i][0], b.got[i] - 1, i);
		close_pipe(p[i]);
	}
}

/*
 * Two pipes readable in the same batch, each with an argument of its own:
 * the first call forgets and closes the other, whose pair is then no one's,
 * and watches a new pipe on its number with another pair (which may take the
 * freed entry).  The old event, fetched already, reaches no one.
 */
struct forget_side {
	struct forget_batch *b;
	int i;
	struct calls c;
};

struct forget_batch {
	struct forget_side side[2];
	int r[2], w[2];
	int victim;
	int np[2];
	struct calls fresh;
	int rc;
};

static void on_forget_batch(struct pscope_loop *l, int fd, uint32_t events, void *arg)
{
	struct forget_side *s = arg;
	struct forget_batch *b = s->b;
	int v = !s->i;

	on_count(l, fd, events, &s->c);
	if (b->victim >= 0)
		return;
	b->victim = v;
	b->rc = pscope_loop_forget(l, b->r[v]);
	close(b->r[v]);
	reuse_number(l, b->r[v], b->np, &b->fresh, &b->rc);
}

static void forget_reuse_in_batch(void **state)
{
	struct pscope_loop *l = *state;
	struct forget_batch b = { .victim = -1, .np = { -1, -1 } };
	int p[2];

	for (int i = 0; i < 2; i++) {
		pipe_or_fail(p);
		b.r[i] = p[0];
		b.w[i] = p[1];
		b.side[i] = (struct forget_side){ .b = &b, .i = i, .c = { .read = true } };
		assert_rc(pscope_loop_watch(l, b.r[i], PSCOPE_EV_READ, on_forget_batch, &b.side[i]), 0);
		put_byte(b.w[i]);
	}
	assert_num_equal(turn(l), 1);
	assert_rc(b.rc, 0);
	assert_true(b.victim >= 0);
	assert_num_equal(b.side[!b.victim].c.n, 1);
	assert_num_equal(b.side[b.victim].c.n, 0);
	assert_num_equal(b.fresh.n, 0);
	assert_false(b.fresh.zero);
	for (int i = 0; i < 3; i++)
		assert_num_equal(turn(l), 0);
	assert_num_equal(b.fresh.n, 0);

	/* The new pipe is watched with its own pair, and told when it has data. */
	assert_num_equal(pscope_loop_events(l, b.np[0]), PSCOPE_EV_READ);
	put_byte(b.np[1]);
	b.fresh.read = true;
	assert_num_equal(turn(l), 1);
	assert_num_equal(b.fresh.n, 1);
	assert_num_equal(b.side[b.victim].c.n, 0);
	assert_rc(pscope_loop_unwatch(l, b.np[0]), 0);
	close_pipe(b.np);
	close(b.r[!b.victim]);
	close(b.w[0]);
	close(b.w[1]);
}

/*
 * A callback lets its own descriptor go (its pair is no one's then) and
 * watches a hundred new descriptors with pairs of their own (the table of
 * pairs grows, and moves): the call ends well, and the new ones are told
 * with their own arguments.
 */
#define SPAWN 100

struct spawner {
	int self[2];
	int p[SPAWN][2];
	struct told t[SPAWN];
	int n;
	int rc;
};

static void on_spawn(struct pscope_loop *l, int fd, uint32_t events, void *arg)
{
	struct spawner *s = arg;

	(void)events;
	s->n++;
	s->rc = pscope_loop_unwatch(l, fd);
	for (int i = 0; i < SPAWN && s->rc == 0; i++) {
		pipe_or_fail(s->p[i]);
		s->t[i].want_fd = s->p[i][0];
		put_byte(s->p[i][1]);
		s->rc = pscope_loop_watch(l, s->p[i][0], PSCOPE_EV_READ, on_told_a, &s->t[i]);
	}
	/* Still this call's own argument, whatever became of its entry. */
	s->n += 100 * (arg != s);
}

static void callback_lets_own_pair_go(void **state)
{
	struct pscope_loop *l = *state;
	struct spawner *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	pipe_or_fail(s->self);
	assert_rc(pscope_loop_watch(l, s->self[0], PSCOPE_EV_READ, on_spawn, s), 0);
	put_byte(s->self[1]);
	assert_num_equal(turn(l), 1);
	assert_num_equal(s->n, 1);
	assert_rc(s->rc, 0);
	assert_num_equal(pscope_loop_events(l, s->self[0]), 0);
	assert_num_equal(turns_for(l, SPAWN), SPAWN);
	for (int i = 0; i < SPAWN; i++) {
		assert_num_equal(s->t[i].n, 1);
		assert_num_equal(s->t[i].bad, 0);
		assert_ptr_equal(s->t[i].arg, &s->t[i]);
		assert_rc(pscope_loop_unwatch(l, s->p[i][0]), 0);
		close_pipe(s->p[i]);
	}
	close_pipe(s->self);
	free(s);
}

/* --- timers --- */

struct fired {
	int n;
	long long ms[8];	/* the delay of each timer run, in the order run */
	long long at[8];	/* when it ran */
	long long ids[8];
};

struct timer_arg {
	struct fired *f;
	long long ms;		/* its delay */
	long long again;	/* what it returns */
	int times;		/* it returns -1 once it ran this often */
	long long del;		/* a timer it cancels, or -1 */
	int del_rc;
};

static long long on_timer(struct pscope_loop *l, long long id, void *arg)
{
	struct timer_arg *t = arg;
	struct fired *f = t->f;

	if (f->n < 8) {
		f->ms[f->n] = t->ms;
		f->at[f->n] = pscope_now_ms();
		f->ids[f->n] = id;
	}
	f->n++;
	if (t->del >= 0)
		t->del_rc = pscope_loop_timer_del(l, t->del);
	if (t->times && f->n >= t->times)
		return -1;
	return t->again;
}

/*
 * Added 30, 10, 20 ms: run 10, 20, 30, each no sooner than its deadline, each
 * once; in that order too when all are due in the same turn (LATE).
 */
static void deadline_order(struct pscope_loop *l, bool late)
{
	struct fired f = { 0 };
	struct timer_arg a[3] = {
		{ .f = &f, .ms = 30, .again = -1, .del = -1 },
		{ .f = &f, .ms = 10, .again = -1, .del = -1 },
		{ .f = &f, .ms = 20, .again = -1, .del = -1 },
	};
	long long id[3], t0 = pscope_now_ms();

	for (int i = 0; i < 3; i++) {
		id[i] = pscope_loop_timer(l, a[i].ms, on_timer, &a[i]);
		assert_true(id[i] >= 0);
	}
	assert_true(id[0] != id[1] && id[1] != id[2] && id[0] != id[2]);
	if (late)
		usleep(40 * 1000);
	for (int i = 0; i < 100 && f.n < 3; i++)
		assert_true(pscope_loop_once(l, 100) >= 0);
	assert_num_equal(f.n, 3);
	assert_num_equal(f.ms[0], 10);
	assert_num_equal(f.ms[1], 20);
	assert_num_equal(f.ms[2], 30);
	assert_num_equal(f.ids[0], id[1]);
	for (int i = 0; i < 3; i++)
		assert_true(f.at[i] - t0 >= f.ms[i]);
	/* Each returned -1: gone. */
	for (int i = 0; i < 3; i++)
		assert_true(pscope_loop_once(l, 10) >= 0);
	assert_num_equal(f.n, 3);
	for (int i = 0; i < 3; i++)
		assert_rc(pscope_loop_timer_del(l, id[i]), -ENOENT);
}

static void timers_in_deadline_order(void **state)
{
	deadline_order(*state, false);
}

static void timers_due_together_in_deadline_order(void **state)
{
	deadline_order(*state, true);
}

/* Returning N: runs again N ms later; returning -1: never again. */
static void timer_repeats_then_stops(void **state)
{
	struct pscope_loop *l = *state;
	struct fired f = { 0 };
	struct timer_arg a = { .f = &f, .ms = 0, .again = 15, .times = 4, .del = -1 };
	long long id = pscope_loop_timer(l, 0, on_timer, &a);

	assert_true(id >= 0);
	for (int i = 0; i < 200 && f.n < 4; i++)
		assert_true(pscope_loop_once(l, 100) >= 0);
	assert_num_equal(f.n, 4);
	for (int i = 1; i < 4; i++)
		assert_true(f.at[i] - f.at[i - 1] >= 15);
	for (int i = 0; i < 3; i++)
		assert_true(pscope_loop_once(l, 20) >= 0);
	assert_num_equal(f.n, 4);
	assert_rc(pscope_loop_timer_del(l, id), -ENOENT);
}

/* Returning 0: at the next turn, so once per turn, never twice in one. */
static void timer_zero_once_per_turn(void **state)
{
	struct pscope_loop *l = *state;
	struct fired f = { 0 };
	struct timer_arg a = { .f = &f, .again = 0, .del = -1 };
	long long id = pscope_loop_timer(l, 0, on_timer, &a);

	assert_true(id >= 0);
	for (int i = 1; i <= 5; i++) {
		assert_num_equal(turn(l), 0);
		assert_num_equal(f.n, i);
	}
	assert_rc(pscope_loop_timer_del(l, id), 0);
	assert_num_equal(turn(l), 0);
	assert_num_equal(f.n, 5);
	assert_rc(pscope_loop_timer_del(l, id), -ENOENT);
}

/* A timer cancels itself (and asks to run again), or cancels another due in the same turn. */
static void timer_del_inside_callbacks(void **state)
{
	struct pscope_loop *l = *state;
	struct fired f1 = { 0 }, f2 = { 0 }, f3 = { 0 }, f4 = { 0 };
	struct timer_arg self = { .f = &f1, .again = 1 };
	struct timer_arg killer = { .f = &f2, .again = -1 };
	struct timer_arg victim = { .f = &f3, .again = -1, .del = -1 };
	struct timer_arg later = { .f = &f4, .ms = 5, .again = -1, .del = -1 };
	long long lid;

	self.del = pscope_loop_timer(l, 0, on_timer, &self);
	assert_true(self.del >= 0);
	killer.del = -1;
	assert_true(pscope_loop_timer(l, 0, on_timer, &killer) >= 0);
	/* Due in the same turn as the killer, after it. */
	killer.del = pscope_loop_timer(l, 0, on_timer, &victim);
	assert_true(killer.del >= 0);
	lid = pscope_loop_timer(l, 5, on_timer, &later);
	assert_true(lid >= 0);
	assert_rc(pscope_loop_timer_del(l, lid), 0);
	assert_rc(pscope_loop_timer_del(l, lid), -ENOENT);
	assert_rc(pscope_loop_timer_del(l, 123456), -ENOENT);

	(void)turn(l);
	assert_num_equal(f1.n, 1);
	assert_rc(self.del_rc, 0);
	assert_num_equal(f2.n, 1);
	assert_rc(killer.del_rc, 0);
	assert_num_equal(f3.n, 0);
	for (int i = 0; i < 5; i++)
		assert_true(pscope_loop_once(l, 5) >= 0);
	assert_num_equal(f1.n, 1);
	assert_num_equal(f3.n, 0);
	assert_num_equal(f4.n, 0);
	assert_rc(pscope_loop_timer_del(l, self.del), -ENOENT);
	assert_rc(pscope_loop_timer_del(l, killer.del), -ENOENT);
}

/* --- the before-sleep hook --- */

struct hook {
	int n;
	int wfd;
};

static void on_before(struct pscope_loop *l, void *arg)
{
	struct hook *h = arg;

	(void)l;
	h->n++;
	put_byte(h->wfd);
}

/* The hook runs once per turn, before the wait: what it writes is seen in the same turn. */
static void before_sleep_hook(void **state)
{
	struct pscope_loop *l = *state;
	struct calls c = { .read = true };
	int p[2];
	struct hook h = { 0, -1 };

	pipe_or_fail(p);
	h.wfd = p[1];
	assert_rc(pscope_loop_watch(l, p[0], PSCOPE_EV_READ, on_count, &c), 0);
	pscope_loop_before_sleep(l, on_before, &h);
	for (int i = 1; i <= 3; i++) {
		assert_num_equal(turn(l), 1);
		assert_num_equal(h.n, i);
		assert_num_equal(c.n, i);
	}
	/* A turn allowed to wait does not: the hook wrote first. */
	assert_num_equal(pscope_loop_once(l, WAIT_MS), 1);
	assert_num_equal(h.n, 4);
	pscope_loop_before_sleep(l, NULL, NULL);
	assert_num_equal(turn(l), 0);
	assert_num_equal(h.n, 4);
	assert_num_equal(c.n, 4);
	close_pipe(p);
}

/* --- signals --- */

struct caught {
	int n;
	int sig;
	void *arg;
	bool stop;
};

static void on_sig(struct pscope_loop *l, int sig, void *arg)
{
	struct caught *c = arg;

	c->n++;
	c->sig = sig;
	c->arg = arg;
	if (c->stop)
		pscope_loop_stop(l);
}

static long long on_watchdog(struct pscope_loop *l, long long id, void *arg)
{
	(void)id;
	*(int *)arg = 1;
	pscope_loop_stop(l);
	return -1;
}

/* A SIGTERM whose callback stops the loop stops pscope_loop_run; pending until delivered. */
static void sigterm_stops_run(void **state)
{
	struct pscope_loop *l = *state;
	struct caught c = { .stop = true };
	int timeout = 0;
	pid_t pid;
	int st;

	assert_true(pscope_loop_timer(l, WAIT_MS, on_watchdog, &timeout) >= 0);
	assert_rc(pscope_loop_signal(l, SIGTERM, on_sig, &c), 0);
	assert_false(pscope_loop_signal_pending(l));
	assert_num_equal(raise(SIGTERM), 0);
	assert_true(pscope_loop_signal_pending(l));
	assert_num_equal(c.n, 0);
	assert_rc(pscope_loop_run(l), 0);
	assert_num_equal(timeout, 0);
	assert_num_equal(c.n, 1);
	assert_num_equal(c.sig, SIGTERM);
	assert_ptr_equal(c.arg, &c);
	assert_false(pscope_loop_signal_pending(l));

	/* Sent while the loop sleeps in epoll_wait: it wakes (the signal pipe). */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		usleep(50 * 1000);
		kill(getppid(), SIGTERM);
		_exit(0);
	}
	assert_rc(pscope_loop_run(l), 0);
	assert_num_equal(waitpid(pid, &st, 0), pid);
	assert_num_equal(timeout, 0);
	assert_num_equal(c.n, 2);
	assert_num_equal(c.sig, SIGTERM);
	assert_false(pscope_loop_signal_pending(l));
}

/* kill() of this process, a callback that does not stop: delivered once, the loop goes on. */
static void signal_delivered_once(void **state)
{
	struct pscope_loop *l = *state;
	struct caught c = { 0 };

	assert_rc(pscope_loop_signal(l, SIGUSR1, on_sig, &c), 0);
	assert_num_equal(kill(getpid(), SIGUSR1), 0);
	assert_true(pscope_loop_signal_pending(l));
	turns_until(l, &c.n);
	assert_num_equal(c.sig, SIGUSR1);
	assert_false(pscope_loop_signal_pending(l));
	for (int i = 0; i < 3; i++)
		assert_true(pscope_loop_once(l, 5) >= 0);
	assert_num_equal(c.n, 1);
}

/* A write blocked on a full pipe ends with EINTR when a signal the loop catches arrives. */
static void signal_interrupts_blocked_write(void **state)
{
	struct pscope_loop *l = *state;
	struct itimerval it = { .it_value = { .tv_usec = 50 * 1000 } };
	unsigned int left;
	int p[2], e, st;
	ssize_t n;
	pid_t pid;

	pipe_or_fail(p);
	while (write(p[1], "xxxxxxxxxxxxxxxx", 16) > 0)
		;
	assert_num_equal(errno, EAGAIN);
	assert_num_equal(fcntl(p[1], F_SETFL, 0), 0);
	/* Should the write not be interrupted, a child drains the pipe: the test fails, not hangs. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[1]);
		usleep(WAIT_MS * 1000);
		(void)drain(p[0]);
		_exit(0);
	}
	assert_rc(pscope_loop_signal(l, SIGALRM, NULL, NULL), 0);
	left = alarm(0);	/* main's safety net, put back below */
	assert_num_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
	n = write(p[1], "y", 1);
	e = errno;
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	alarm(left);
	assert_num_equal(n, -1);
	assert_rc(-e, -EINTR);
	assert_true(pscope_loop_signal_pending(l));
	/* Delivered (to no callback): no longer pending. */
	(void)turn(l);
	assert_false(pscope_loop_signal_pending(l));
	close_pipe(p);
}

/* pscope_loop_free gives the loop's signals their default action back. */
static void free_restores_signals(void **state)
{
	struct pscope_loop *l;
	struct sigaction sa;
	struct caught c = { 0 };
	const int sigs[] = { SIGTERM, SIGUSR2, SIGCHLD };

	(void)state;
	assert_rc(pscope_loop_new(&l), 0);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		assert_rc(pscope_loop_signal(l, sigs[i], on_sig, &c), 0);
		assert_num_equal(sigaction(sigs[i], NULL, &sa), 0);
		assert_true(sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN);
		assert_false(sa.sa_flags & SA_RESTART);
		assert_num_equal(!!(sa.sa_flags & SA_NOCLDSTOP), sigs[i] == SIGCHLD);
	}
	pscope_loop_free(l);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		assert_num_equal(sigaction(sigs[i], NULL, &sa), 0);
		if (sa.sa_handler != SIG_DFL)
			fail_msg("signal %d: not SIG_DFL after pscope_loop_free", sigs[i]);
	}
	pscope_loop_free(NULL);
}

/*
 * Two signals caught, and the first one's callback stops the loop: the second
 * is still pending (pscope_loop_signal_pending says so) and a later turn
 * delivers it.
 */
static void stop_keeps_second_signal(void **state)
{
	struct pscope_loop *l = *state;
	struct caught c1 = { .stop = true }, c2 = { 0 };
	int timeout = 0;

	assert_true(pscope_loop_timer(l, WAIT_MS, on_watchdog, &timeout) >= 0);
	assert_rc(pscope_loop_signal(l, SIGUSR1, on_sig, &c1), 0);
	assert_rc(pscope_loop_signal(l, SIGUSR2, on_sig, &c2), 0);
	assert_num_equal(raise(SIGUSR1), 0);
	assert_num_equal(raise(SIGUSR2), 0);
	assert_rc(pscope_loop_run(l), 0);
	assert_num_equal(timeout, 0);
	assert_num_equal(c1.n + c2.n, 1);
	assert_true(pscope_loop_signal_pending(l));
	for (int i = 0; i < 5 && c1.n + c2.n < 2; i++)
		assert_true(pscope_loop_once(l, 20) >= 0);
	assert_num_equal(c1.n, 1);
	assert_num_equal(c2.n, 1);
}

/*
 * A second loop that catches signals takes them over with a pipe of its own
 * and closes the first one's write end, which would otherwise leak: one
 * descriptor per forked child that makes its own loop.
 */
static void second_owner_closes_old_pipe(void **state)
{
	struct pscope_loop *a, *b;
	int before;

	(void)state;
	before = open_fds();
	assert_rc(pscope_loop_new(&a), 0);
	assert_rc(pscope_loop_signal(a, SIGUSR1, NULL, NULL), 0);
	assert_rc(pscope_loop_new(&b), 0);
	assert_rc(pscope_loop_signal(b, SIGUSR1, NULL, NULL), 0);
	pscope_loop_free(b);
	pscope_loop_free(a);
	assert_num_equal(open_fds(), before);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup_loop, teardown_loop)
	const struct CMUnitTest tests[] = {
		T(level_triggered),
		T(edge_triggered),
		T(watch_again_replaces),
		T(watch_errors),
		T(unwatch_close_in_batch),
		T(unwatch_close_reuse_in_batch),
		T(close_reuse_in_batch),
		T(stop_leaves_rest_of_batch),
		T(many_descriptors),
		T(own_argument_per_descriptor),
		T(one_argument_many_callbacks),
		T(rewatch_changes_argument),
		T(forget_reuse_in_batch),
		T(callback_lets_own_pair_go),
		T(four_bytes_per_descriptor),
		T(churn_takes_pairs_back),
		T(timers_in_deadline_order),
		T(timers_due_together_in_deadline_order),
		T(timer_repeats_then_stops),
		T(timer_zero_once_per_turn),
		T(timer_del_inside_callbacks),
		T(before_sleep_hook),
		T(sigterm_stops_run),
		T(signal_delivered_once),
		T(signal_interrupts_blocked_write),
		cmocka_unit_test(free_restores_signals),
		T(stop_keeps_edge_events),
		T(rewatch_never_calls_with_no_events),
		T(stop_keeps_second_signal),
		cmocka_unit_test(second_owner_closes_old_pipe),
	};
#undef T

	/* A safety net: the waits have deadlines, but no test may hang the build. */
	alarm(30);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
