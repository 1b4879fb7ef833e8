/*
 * serve --keep: connections held open.  A client may send lines; the server
 * answers each with a fresh portscope/1 line.  Nothing a client does can make
 * the server hold more than a few bytes for it, or hold it for ever:
 *
 *   - a line longer than max_line bytes closes the connection (framed as
 *     every line is, portscope/line.h: its "\n" or "\r\n" not counted,
 *     whatever the reads that bring it);
 *   - a line must be complete line_ms after its first byte (trickling does
 *     not move the deadline: slowloris);
 *   - with idle_ms, a connection that sends nothing for that long is closed;
 *   - an answer that cannot be sent for send_ms (a client that does not read)
 *     closes the connection; while one waits, the client's lines are not read.
 */
#ifndef PORTSCOPE_KEEP_H
#define PORTSCOPE_KEEP_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

/* Why a kept connection ended. */
enum keep_end {
	KEEP_OPEN = 0,		/* not ended */
	KEEP_EOF,		/* the client closed it */
	KEEP_RESET,		/* a reset or another error from the socket */
	KEEP_LINE_LONG,		/* a line longer than max_line */
	KEEP_LINE_SLOW,		/* a line not finished within line_ms */
	KEEP_IDLE,		/* nothing received for idle_ms */
	KEEP_SEND_SLOW,		/* an answer not taken within send_ms */
	KEEP_STOPPED,		/* the server stopped */
	KEEP_NENDS
};

struct keep_opts {
	uint32_t max_line;	/* bytes before the end of line (line.h) */
	int line_ms;		/* 0: no deadline */
	int idle_ms;		/* 0: none */
	int send_ms;		/* 0: none */
};

struct keep_conn;
struct pscope_loop;

/* Closes FD, which must end for reason END, and calls keep_forget() (the server's part). */
typedef void keep_end_fn(void *arg, int fd, enum keep_end end);

struct pscope_whoami;
/* Adds what the server knows of FD besides its sockets (serve --proxy-protocol: the header) to W. */
typedef void keep_whoami_fn(void *arg, int fd, struct pscope_whoami *w);

struct keep_table {
	struct keep_opts o;
	struct pscope_loop *loop;
	keep_end_fn *end_fn;
	void *end_arg;
	keep_whoami_fn *whoami_fn;	/* NULL: nothing to add */
	void *whoami_arg;
	struct keep_conn *c;	/* indexed by descriptor */
	size_t size;
	int max_fd;		/* highest descriptor in use, or -1 */
	long long t0;		/* pscope_now_ms() at keep_init() */
	uint32_t due;		/* when a deadline may have passed (as in keep.c); 0: none */
	long long timer;	/* the loop's timer that sweeps the deadlines, or -1 */
	uint32_t timer_at;	/* when it runs (as due) */
	bool sweeping;		/* inside the sweep: its return value sets the next one */
	unsigned long long ended[KEEP_NENDS];
};

/*
 * Sets T up for connections watched on LOOP, and their deadlines swept by a
 * timer of LOOP; END_FN(ARG, fd, why) is called for each connection that must
 * end (from a callback of LOOP).
 */
void keep_init(struct keep_table *t, struct pscope_loop *loop, const struct keep_opts *o,
	       keep_end_fn *end_fn, void *arg);

/*
 * Holds FD, connection number SEQ of the server, and watches it for input.
 * Returns 0 or -errno of pscope_loop_watch() or -ENOMEM (the caller closes FD).
 */
int keep_add(struct keep_table *t, int fd, unsigned long long seq);

/* Forgets FD, which the caller closes now (the loop forgets it too), and counts END. */
void keep_forget(struct keep_table *t, int fd, enum keep_end end);

/* Words for END, as in "closed 3 (line too long)". */
const char *keep_end_name(enum keep_end end);

/* Frees T's memory (descriptors are the caller's). */
void keep_free(struct keep_table *t);

#endif
