/* Child processes, forked and watched in one place (see supervise.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "portscope/net.h"
#include "supervise.h"

#define HDR 8	/* type and length, two uint32_t in host order */

static void on_sigchld(struct pscope_loop *l, int sig, void *arg);

int sup_init(struct sup *s, struct pscope_loop *loop, int n, sup_child_fn *run,
	     sup_msg_fn *on_msg, sup_exit_fn *on_exit, void *arg)
{
	*s = (struct sup){ .loop = loop, .n = n, .run = run, .on_msg = on_msg, .on_exit = on_exit,
			   .arg = arg, .max_restarts = 10 };
	s->c = calloc((size_t)n, sizeof(*s->c));
	if (!s->c)
		return -ENOMEM;
	for (int i = 0; i < n; i++)
		s->c[i].fd = -1;
	return pscope_loop_signal(loop, SIGCHLD, on_sigchld, s);
}

/* Child INDEX has ended and said all it will: tell the caller. */
static void finish(struct sup *s, int index)
{
	struct sup_child *c = &s->c[index];
	pid_t pid = c->pid;

	if (c->fd >= 0) {
		pscope_loop_unwatch(s->loop, c->fd);
		close(c->fd);
		c->fd = -1;
	}
	free(c->buf);
	c->buf = NULL;
	c->have = c->want = 0;
	c->pid = 0;
	c->exited = false;
	s->running--;
	if (s->on_exit)
		s->on_exit(s, index, pid, c->wstatus, s->arg);
}

/* Hands child INDEX's whole message in its buffer to on_msg, and makes ready for the next. */
static void deliver(struct sup *s, int index)
{
	struct sup_child *c = &s->c[index];
	uint32_t type;
	size_t len = c->want - HDR;

	memcpy(&type, c->buf, sizeof(type));
	c->have = c->want = 0;
	if (s->on_msg)
		s->on_msg(s, index, type, c->buf + HDR, len, s->arg);
}

/*
 * Reads what child INDEX has sent, handing each whole message to on_msg.
 * Returns 1 at end of file (or when the child breaks the format), 0 when
 * nothing more waits now.
 */
static int drain(struct sup *s, int index)
{
	struct sup_child *c = &s->c[index];

	for (;;) {
		ssize_t n;

		if (!c->want)
			c->want = HDR;
		if (!c->buf && !(c->buf = malloc(HDR)))
			return 1;
		n = read(c->fd, c->buf + c->have, c->want - c->have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 && errno == EAGAIN ? 0 : 1;
		c->have += (size_t)n;
		if (c->have < c->want)
			continue;
		if (c->want == HDR) {
			uint32_t len;
			unsigned char *b;

			memcpy(&len, c->buf + 4, sizeof(len));
			if (len > SUP_MSG_MAX)
				return 1;
			if (len > 0) {
				if (!(b = realloc(c->buf, HDR + len)))
					return 1;
				c->buf = b;
				c->want = HDR + len;
				continue;
			}
		}
		deliver(s, index);
	}
}

static int index_of_fd(const struct sup *s, int fd)
{
	for (int i = 0; i < s->n; i++)
		if (s->c[i].fd == fd)
			return i;
	return -1;
}

static void on_pipe(struct pscope_loop *l, int fd, uint32_t events, void *arg)
{
	struct sup *s = arg;
	int i = index_of_fd(s, fd);

	(void)l;
	(void)events;
	if (i < 0 || drain(s, i) == 0)
		return;
	/* The end of what it says; its end as a process comes with SIGCHLD, if not already. */
	pscope_loop_unwatch(s->loop, fd);
	close(fd);
	s->c[i].fd = -1;
	if (s->c[i].exited)
		finish(s, i);
}

/* Reaps child INDEX if it has ended.  Returns true if it had. */
static bool reap(struct sup *s, int index, int flags)
{
	struct sup_child *c = &s->c[index];
	pid_t r;

	if (c->pid <= 0 || c->exited)
		return false;
	/* Without WUNTRACED or WCONTINUED, waitpid() tells only of a real end. */
	do
		r = waitpid(c->pid, &c->wstatus, flags);
	while (r < 0 && errno == EINTR);
	if (r != c->pid)
		return false;
	c->exited = true;
	/* A dead child's pipe holds all it wrote, then end of file. */
	if (c->fd >= 0 && drain(s, index) == 0)
		return true;	/* someone else holds the write end: wait for its end of file */
	finish(s, index);
	return true;
}

static void on_sigchld(struct pscope_loop *l, int sig, void *arg)
{
	struct sup *s = arg;

	(void)l;
	(void)sig;
	for (int i = 0; i < s->n; i++)
		reap(s, i, WNOHANG);
}

/*
 * In the child, just after fork(): becomes a plain process of its own, then
 * runs.  MASK is the parent's signal mask from before the fork blocked all.
 */
static void child(struct sup *s, int index, int out, pid_t parent, sigset_t *mask)
{
	/* If the parent dies, even by SIGKILL, this process must not live on. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
		_exit(EXIT_FAILURE);
	for (int j = 0; j < s->n; j++)
		if (s->c[j].fd >= 0)
			close(s->c[j].fd);
	pscope_loop_free(s->loop);	/* the parent's: its signals go back to their defaults */
	s->loop = NULL;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	/*
	 * The parent's mask, not everything blocked: SIGHUP, SIGQUIT, ... act on
	 * a child as on it.  But SIGINT and SIGTERM wait until the child's own
	 * loop catches them (pscope_loop_signal unblocks them): a Ctrl-C in its
	 * first milliseconds must end it through its loop, with its report, not
	 * kill it before it has one.
	 */
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGTERM);
	sigdelset(mask, SIGCHLD);
	sigprocmask(SIG_SETMASK, mask, NULL);
	_exit(s->run(s, index, out, s->arg));
}

pid_t sup_start(struct sup *s, int index)
{
	struct sup_child *c = &s->c[index];
	pid_t parent = getpid(), pid;
	sigset_t all, old;
	int p[2], e;

	fflush(stdout);
	fflush(stderr);
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	/* No signal handler of the parent's may run in the child before it sets its own. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	e = errno;
	if (pid == 0) {
		close(p[0]);
		child(s, index, p[1], parent, &old);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return -e;
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	*c = (struct sup_child){ .pid = pid, .fd = p[0] };
	s->running++;
	if (pscope_loop_watch(s->loop, p[0], PSCOPE_EV_READ, on_pipe, s) < 0) {
		/* Unwatched, its messages are lost, but its end is still reaped. */
		close(p[0]);
		c->fd = -1;
	}
	return pid;
}

pid_t sup_restart(struct sup *s, int index)
{
	long long now = pscope_now_ms();
	unsigned recent = 0, n = s->nrestarts < 64 ? s->nrestarts : 64;

	for (unsigned i = 0; i < n; i++)
		recent += now - s->restarts[i] < 60000;
	if (recent >= s->max_restarts)
		return -EBUSY;
	s->restarts[s->nrestarts++ % 64] = now;
	return sup_start(s, index);
}

void sup_kill(struct sup *s, int sig)
{
	for (int i = 0; i < s->n; i++)
		if (s->c[i].pid > 0 && !s->c[i].exited)
			kill(s->c[i].pid, sig);
}

int sup_wait(struct sup *s, int timeout_ms)
{
	long long end = pscope_now_ms() + timeout_ms;
	int rc = 0;

	while (s->running > 0) {
		long long left = end - pscope_now_ms();

		if (left <= 0)
			break;
		/* A SIGCHLD that came before the loop watched for it: look anyway. */
		for (int i = 0; i < s->n; i++)
			reap(s, i, WNOHANG);
		if (s->running > 0)
			pscope_loop_once(s->loop, left < 100 ? (int)left : 100);
	}
	if (s->running > 0) {
		rc = -ETIMEDOUT;
		sup_kill(s, SIGKILL);
	}
	for (int i = 0; i < s->n && s->running > 0; i++) {
		reap(s, i, 0);
		if (s->c[i].exited)
			finish(s, i);	/* its pipe is held open elsewhere: what it said is lost */
	}
	return rc;
}

void sup_free(struct sup *s)
{
	for (int i = 0; s->c && i < s->n; i++) {
		if (s->c[i].fd >= 0) {
			if (s->loop)
				pscope_loop_unwatch(s->loop, s->c[i].fd);
			close(s->c[i].fd);
		}
		free(s->c[i].buf);
	}
	free(s->c);
	s->c = NULL;
}

int sup_send(int out, uint32_t type, const void *msg, size_t len)
{
	uint32_t hdr[2] = { type, (uint32_t)len };
	unsigned char small[4096];
	int rc;

	if (len > SUP_MSG_MAX)
		return -EMSGSIZE;
	/* One write() for a small message: it reaches the parent whole (PIPE_BUF). */
	if (len + HDR <= sizeof(small)) {
		memcpy(small, hdr, HDR);
		if (len)
			memcpy(small + HDR, msg, len);
		return pscope_write_all(out, small, HDR + len);
	}
	rc = pscope_write_all(out, hdr, HDR);
	return rc < 0 ? rc : pscope_write_all(out, msg, len);
}

const char *sup_describe(int wstatus, char *buf, size_t size)
{
	if (WIFEXITED(wstatus)) {
		snprintf(buf, size, "exited with status %d", WEXITSTATUS(wstatus));
	} else if (WIFSIGNALED(wstatus)) {
		const char *name = sigabbrev_np(WTERMSIG(wstatus));

		if (name)
			snprintf(buf, size, "killed by SIG%s%s", name,
				 WCOREDUMP(wstatus) ? " (core dumped)" : "");
		else
			snprintf(buf, size, "killed by signal %d", WTERMSIG(wstatus));
	} else {
		snprintf(buf, size, "ended (wait status %#x)", (unsigned)wstatus);
	}
	return buf;
}
