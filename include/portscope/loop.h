/*
 * portscope: a small event loop in the manner of redis `ae`: descriptors
 * watched with a callback and its argument, timers whose callback says when
 * to run again, a hook run before the loop sleeps, and signals delivered as
 * loop events.  Linux epoll(7) underneath; nothing outside loop.c needs to
 * know that.
 *
 * Signals: pscope_loop_signal() installs a handler (sigaction(2) without
 * SA_RESTART, so that a write(2) blocked on a reader that does not read is
 * interrupted with EINTR) that notes the signal and wakes the loop through a
 * pipe (the self-pipe trick); the loop then calls the callback, in order, from
 * pscope_loop_run().  One loop in a process owns the signals at a time: the
 * last one made (a forked child makes its own and frees its parent's copy).
 *
 * Every function returns a value >= 0, or -errno; none prints or exits.
 */
#ifndef PORTSCOPE_LOOP_H
#define PORTSCOPE_LOOP_H

#include <stdbool.h>
#include <stdint.h>

/* Events of a descriptor: the values of epoll(7)'s EPOLLIN, EPOLLOUT, ... */
#define PSCOPE_EV_READ 0x001u		/* readable, or a listener has a connection (EPOLLIN) */
#define PSCOPE_EV_WRITE 0x004u		/* writable; a connect() finished (EPOLLOUT) */
#define PSCOPE_EV_ERROR 0x008u		/* an error is pending (EPOLLERR); always reported */
#define PSCOPE_EV_HUP 0x010u		/* both directions closed (EPOLLHUP); always reported */
#define PSCOPE_EV_RDHUP 0x2000u		/* the peer shut its side (EPOLLRDHUP) */
#define PSCOPE_EV_EDGE 0x80000000u	/* edge-triggered (EPOLLET): told once per change */

struct pscope_loop;

/* Called with the descriptor, the events that fired (PSCOPE_EV_*) and the argument given. */
typedef void pscope_fd_fn(struct pscope_loop *l, int fd, uint32_t events, void *arg);

/* Returns the milliseconds until it should run again (0: at the next turn), or -1: never. */
typedef long long pscope_timer_fn(struct pscope_loop *l, long long id, void *arg);

/* Called from the loop, not from the signal handler, once per signal caught. */
typedef void pscope_signal_fn(struct pscope_loop *l, int sig, void *arg);

/* Called each time the loop is about to wait (flush output here). */
typedef void pscope_hook_fn(struct pscope_loop *l, void *arg);

/*
 * Makes a loop.  Returns 0 and sets *LP, or -ENOMEM, or -errno of
 * epoll_create1(2) or pipe2(2) (-EMFILE, -ENFILE).
 */
int pscope_loop_new(struct pscope_loop **lp);

/*
 * Frees L: closes its epoll descriptor and signal pipe, gives the signals it
 * caught back their default action (if L still owns them), and cancels its
 * timers.  Watched descriptors are the caller's to close.  L may be NULL.
 */
void pscope_loop_free(struct pscope_loop *l);

/*
 * Watches FD for EVENTS (PSCOPE_EV_READ, _WRITE, _RDHUP, _EDGE, or'ed), calling
 * FN(L, FD, fired, ARG) when any fires.  Watching an FD already watched
 * replaces its events, callback and argument (epoll_ctl MOD; ADD otherwise).
 * A watched descriptor costs the loop 4 bytes, and each distinct (FN, ARG)
 * pair watched at the time some 32 to 48 more: give all connections one pair (the
 * connection found by FD) rather than an ARG each when there are many.
 * Returns 0; -EINVAL for a negative FD or no FN; -ENOMEM; or -errno of
 * epoll_ctl(2): -EBADF (not open), -EPERM (a file epoll cannot watch), -ENOSPC
 * (fs.epoll.max_user_watches reached).
 */
int pscope_loop_watch(struct pscope_loop *l, int fd, uint32_t events, pscope_fd_fn *fn, void *arg);

/*
 * Stops watching FD (EPOLL_CTL_DEL); the caller closes it after.  Events of FD
 * already fetched in this turn are not delivered.  Returns 0, or -ENOENT if
 * FD was not watched.  Unwatch before closing: epoll forgets a file only when
 * its last descriptor closes, so a file still open elsewhere (dup(2), a
 * forked child) would go on firing, for whatever descriptor takes FD's number.
 */
int pscope_loop_unwatch(struct pscope_loop *l, int fd);

/*
 * Forgets FD without a system call, for a descriptor about to be closed that
 * is the last reference to its file (no dup(2), no forked child holds it):
 * epoll then drops the file by itself, and an EPOLL_CTL_DEL would only cost
 * time.  A connection's socket in serve or connect -n is such a descriptor.
 * Events of FD already fetched in this turn are not delivered.  Returns 0, or
 * -ENOENT if FD was not watched.
 */
int pscope_loop_forget(struct pscope_loop *l, int fd);

/* The events FD is watched for, or 0 if it is not. */
uint32_t pscope_loop_events(const struct pscope_loop *l, int fd);

/*
 * Runs FN(L, id, ARG) in MS milliseconds (0: at the next turn), and then again
 * as often as FN's return value says.  Returns the timer's id (>= 0), or
 * -ENOMEM, or -EINVAL (no FN, or MS < 0).  Timers due at the same time run in
 * the order of their deadlines, then of their ids.
 */
long long pscope_loop_timer(struct pscope_loop *l, long long ms, pscope_timer_fn *fn, void *arg);

/* Cancels timer ID (from inside its own callback too).  Returns 0, or -ENOENT. */
int pscope_loop_timer_del(struct pscope_loop *l, long long id);

/* Calls FN(L, ARG) each time before the loop waits; NULL removes it. */
void pscope_loop_before_sleep(struct pscope_loop *l, pscope_hook_fn *fn, void *arg);

/*
 * Catches SIG through the loop: FN(L, SIG, ARG) runs from pscope_loop_run()
 * after it arrives (NULL FN: the signal only interrupts, as SIGALRM does for a
 * blocked write).  The signal is unblocked in this thread.  SIGCHLD is
 * caught with SA_NOCLDSTOP: a child stopped or continued is not an event.  Returns 0;
 * -EINVAL for a signal that cannot be caught (SIGKILL, SIGSTOP, out of range);
 * or -errno of sigaction(2).
 */
int pscope_loop_signal(struct pscope_loop *l, int sig, pscope_signal_fn *fn, void *arg);

/*
 * True if a signal caught through L has not been delivered to its callback
 * yet: a caller whose write(2) failed with EINTR asks this to tell "told to
 * stop" from a stray interruption.
 */
bool pscope_loop_signal_pending(const struct pscope_loop *l);

/*
 * Waits for events and timers and calls their callbacks, turn after turn,
 * until pscope_loop_stop() is called (from a callback).  Returns 0 once stopped, or
 * -errno of epoll_wait(2) (EINTR is retried).
 */
int pscope_loop_run(struct pscope_loop *l);

/*
 * One turn: runs the before-sleep hook, waits at most MAX_MS milliseconds (0:
 * not at all; -1: until something happens) or until the next timer, calls the
 * callbacks of what fired and of the timers due.  If the hook stopped the
 * loop, it returns 0 at once, without waiting.  Returns the number of
 * descriptor events handled, or -errno of epoll_wait(2) (-EINTR included, so
 * that a caller in its own loop sees the interruption).
 */
int pscope_loop_once(struct pscope_loop *l, int max_ms);

/* Makes pscope_loop_run() return after the callback that called this; the rest of the turn's events wait. */
void pscope_loop_stop(struct pscope_loop *l);

/* True once pscope_loop_stop() was called in this turn (each turn starts afresh). */
bool pscope_loop_stopped(const struct pscope_loop *l);

/* The loop's clock: CLOCK_MONOTONIC in milliseconds, read once per turn. */
long long pscope_loop_now_ms(const struct pscope_loop *l);

#endif
