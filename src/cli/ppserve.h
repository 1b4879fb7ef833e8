/*
 * serve --proxy-protocol: every connection must start with a PROXY protocol
 * header (HAProxy's doc/proxy-protocol.txt; the spec forbids guessing whether
 * one is there), from a source in --proxy-from, whole within --proxy-timeout
 * of the accept and at most --proxy-max bytes long.
 *
 * No buffer per connection: on each readable event the bytes are peeked
 * (recv(2) MSG_PEEK) into one buffer of the cap's size and parsed from the
 * start; after "need more", SO_RCVLOWAT is set one byte past what was peeked
 * (socket(7)), so the level-triggered loop wakes again only when more bytes,
 * or the end, arrive.  A connection the kernel wakes below that mark (its
 * receive queue under memory pressure: see drain() in ppserve.c) has its
 * header read off into a buffer of its own instead.  Once whole, exactly the
 * header's bytes are read off
 * the stream, and what follows is the connection's.  The deadlines are one
 * list in the order of the accepts (every connection has the same timeout)
 * and one timer of the loop at its head.  What the header said is kept (40
 * bytes) for answers of serve --keep.
 */
#ifndef PORTSCOPE_PPSERVE_H
#define PORTSCOPE_PPSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "portscope/portscope.h"
#include "portscope/proxy.h"

#define PP_MAX_FROM 32

/* One network of --proxy-from: FAMILY (AF_INET or AF_INET6), ADDR, the prefix's bits. */
struct pp_cidr {
	int family;
	uint8_t addr[16];
	unsigned bits;
};

struct pp_opts {
	unsigned accept;	/* 0: off; else PSCOPE_PROXY_V1, _V2 or _ANY */
	size_t max;		/* cap on a header, bytes */
	int timeout_ms;		/* the header must be whole this long after the accept */
	size_t nfrom;
	struct pp_cidr from[PP_MAX_FROM];
	char from_text[256];	/* as given, for messages */
};

/* Why a connection never got past its header. */
enum pp_end {
	PP_NOT_FROM,		/* its source is not in --proxy-from */
	PP_BAD,			/* the bytes are not a header, or too many */
	PP_SLOW,		/* no whole header within the timeout */
	PP_CLOSED,		/* closed (or reset) by the client before a whole header */
	PP_NENDS
};

/* The connection on FD, accepted on listener LI, sent header H (valid during the call). */
typedef void pp_done_fn(void *arg, int fd, unsigned li, const struct pscope_proxy_hdr *h);
/* The connection on FD is refused: close it (the table forgot it). */
typedef void pp_fail_fn(void *arg, int fd);

struct pp_conn;
struct pscope_loop;

struct pp_table {
	const struct pp_opts *o;
	struct pscope_loop *loop;
	pp_done_fn *done;
	pp_fail_fn *fail;
	void *arg;
	struct pp_conn *c;	/* indexed by descriptor */
	size_t size;
	int head, tail;		/* the waiting connections, oldest first; -1: none */
	long long timer;	/* at the head's deadline, or -1 */
	uint8_t *buf;		/* o->max bytes, for peeking */
	long long log_sec;	/* the second of the last log lines, and how many then */
	unsigned log_n;
	unsigned long long unlogged;
	long long log_timer;	/* says how many were not logged, or -1 */
	unsigned long long ended[PP_NENDS];
};

/* Sets the defaults: off, cap 4096 bytes, timeout 3 s, from loopback (127.0.0.0/8, ::1). */
void pp_opts_init(struct pp_opts *o);

/* "v1", "v2" or "any" into O->accept.  Returns 0, or -1 after a usage message. */
int pp_parse_versions(struct pp_opts *o, const char *arg);

/* "CIDR[,CIDR...]" (an address alone is one host) into O->from.  Returns 0, or -1 after a usage message. */
int pp_parse_from(struct pp_opts *o, const char *arg);

/* True if A (IPv4-mapped IPv6 taken as IPv4) is in one of O's networks. */
bool pp_from_allowed(const struct pp_opts *o, const struct pscope_addr *a);

/* Sets T up on LOOP.  Returns 0 or -ENOMEM. */
int pp_init(struct pp_table *t, struct pscope_loop *loop, const struct pp_opts *o, pp_done_fn *done,
	    pp_fail_fn *fail, void *arg);

/*
 * Takes FD, just accepted on listener LI from FROM: refused at once (logged,
 * counted, -EACCES: the caller closes FD) if FROM is not in --proxy-from;
 * otherwise watched until its header is whole (DONE) or it is refused (FAIL).
 * Returns 0, -EACCES, or -errno (-ENOMEM, of pscope_loop_watch): the caller closes FD.
 */
int pp_add(struct pp_table *t, int fd, unsigned li, const struct pscope_addr *from);

/* Fills W's PROXY keys with what FD's header said, if FD sent one. */
void pp_whoami_of(const struct pp_table *t, int fd, struct pscope_whoami *w);

/* Words for END, as in "3 refused (no PROXY header in time)". */
const char *pp_end_name(enum pp_end end);

/* Says on stderr how many refusals were counted and not logged, if any (at exit). */
void pp_flush_log(struct pp_table *t);

/* Frees T's memory; descriptors still waiting are the caller's to close (pp_each_waiting). */
void pp_free(struct pp_table *t);

#endif
