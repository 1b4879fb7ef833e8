/*
 * Child processes, supervised: `serve --workers` and `connect --procs` fork
 * their workers here, and nowhere else.
 *
 * Each child gets a pipe back to the parent, on which it sends messages of
 * one format (sup_send(): a type, a length, the bytes), dies with its parent
 * (PR_SET_PDEATHSIG), and runs the caller's function.  The parent watches
 * the pipes and SIGCHLD through its event loop: messages are handed to
 * on_msg as they come whole; a child's end (exit status or signal, read with
 * waitpid(2), which reports only real ends: a child stopped by SIGSTOP and
 * continued by SIGCONT is running all along) is handed to on_exit after its
 * last message.  A child may be started again in its place (sup_restart()),
 * within a bound on restarts per minute.
 */
#ifndef PORTSCOPE_SUPERVISE_H
#define PORTSCOPE_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "portscope/loop.h"

/* The largest message a child may send, header excluded. */
#define SUP_MSG_MAX (1u << 20)

struct sup;

/*
 * What a child runs: INDEX from 0, OUT the descriptor to sup_send() on.
 * Returns the child's exit status.  Runs with no event loop (it makes its
 * own), SIGINT and SIGTERM at their default action but blocked until its loop
 * catches them with pscope_loop_signal(), which unblocks them; the rest of
 * the parent's signal mask as it was.
 */
typedef int sup_child_fn(struct sup *s, int index, int out, void *arg);

/* In the parent: a whole message of TYPE and LEN bytes from child INDEX. */
typedef void sup_msg_fn(struct sup *s, int index, uint32_t type, const void *msg, size_t len,
			void *arg);

/* In the parent: child INDEX (process PID) ended with WSTATUS (see waitpid(2)), after its last message. */
typedef void sup_exit_fn(struct sup *s, int index, pid_t pid, int wstatus, void *arg);

struct sup_child {
	pid_t pid;		/* 0: not running */
	int fd;			/* the parent's end of the pipe, or -1 */
	unsigned char *buf;	/* a message arriving in parts */
	size_t have, want;
	bool exited;		/* reaped; waiting for the pipe to be drained */
	int wstatus;
};

struct sup {
	struct pscope_loop *loop;
	int n;
	struct sup_child *c;
	int running;		/* children not yet ended */
	sup_child_fn *run;
	sup_msg_fn *on_msg;
	sup_exit_fn *on_exit;
	void *arg;
	unsigned max_restarts;	/* per minute, for all children */
	long long restarts[64];	/* when the last ones were made (ring) */
	unsigned nrestarts;
};

/*
 * Sets S up for N children on LOOP (which must outlive S): RUN in each child,
 * ON_MSG and ON_EXIT in the parent, ARG given to all three.  Catches SIGCHLD
 * through LOOP.  Returns 0, -ENOMEM, or -errno of pscope_loop_signal().
 */
int sup_init(struct sup *s, struct pscope_loop *loop, int n, sup_child_fn *run,
	     sup_msg_fn *on_msg, sup_exit_fn *on_exit, void *arg);

/*
 * Starts child INDEX.  Returns its pid, or -errno of pipe2(2) or fork(2)
 * (-EAGAIN, -ENOMEM).  Standard output is flushed first, so that no buffered
 * text is written twice.
 */
pid_t sup_start(struct sup *s, int index);

/*
 * Starts child INDEX again after it ended, unless max_restarts restarts were
 * made in the last 60 seconds.  Returns its pid, -EBUSY when over the bound,
 * or -errno as sup_start().
 */
pid_t sup_restart(struct sup *s, int index);

/* Sends SIG to every running child. */
void sup_kill(struct sup *s, int sig);

/*
 * Runs the loop until every child has ended, or TIMEOUT_MS passed (then the
 * rest get SIGKILL and are waited for).  Returns 0, or -ETIMEDOUT if some had
 * to be killed.
 */
int sup_wait(struct sup *s, int timeout_ms);

/* Frees what S holds (children should have ended; their pipes are closed). */
void sup_free(struct sup *s);

/*
 * In a child: sends a message of TYPE and LEN bytes (at most SUP_MSG_MAX) on
 * OUT.  Returns 0 or -errno of write(2) (-EPIPE: the parent is gone), or
 * -EMSGSIZE.
 */
int sup_send(int out, uint32_t type, const void *msg, size_t len);

/*
 * How a child ended, in words: "exited with status 1", "killed by SIGKILL",
 * "killed by SIGSEGV (core dumped)".  Returns BUF.
 */
const char *sup_describe(int wstatus, char *buf, size_t size);

#endif
