/* portscope connect -n: many connections at once, from one or several processes. */
#ifndef PORTSCOPE_LOAD_H
#define PORTSCOPE_LOAD_H

#include "cli.h"

struct load_opts {
	unsigned long n;		/* connections to make */
	unsigned inflight;		/* -c: connects in progress at once, per process */
	double rate;			/* --rate: new connections a second, all processes; 0: no limit */
	unsigned procs;			/* --procs */
	double hold_s;			/* --hold: seconds to hold once all are made; < 0: until a signal */
	int timeout_ms;			/* -w: connect timeout */
	int reply_ms;			/* -r: wait this long for the portscope/1 line */
	bool progress;			/* --progress: progress lines on stderr even off a terminal */
	enum format fmt;		/* seed (text), line or json summary */
	struct pscope_range src;	/* --source; count 0: let the kernel choose */
	struct pscope_range dst;
	uint16_t port;
	bool strict;			/* --strict: a mismatch, or no line, is an exit status */
};

/* Runs the load and prints its summary. Returns the exit status. */
int load_run(const struct load_opts *o);

#endif
