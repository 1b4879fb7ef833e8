/*
 * portscope: the portscope/1 line, in which a server tells a client what it saw.
 *
 *   portscope/1 you=127.0.0.1:49400 me=127.0.0.1:8080 proto=tcp conn=1 fd=5\n
 *
 * "you" is the client's end as the server sees it (getpeername), "me" the
 * server's own end (getsockname).  Further key=value pairs are optional and a
 * reader ignores keys it does not know.  Returns are as in addr.h.
 */
#ifndef PORTSCOPE_WHOAMI_H
#define PORTSCOPE_WHOAMI_H

#include <stddef.h>
#include <stdint.h>
#include "addr.h"

#define PSCOPE_WHOAMI_PREFIX "portscope/1 "
/* Longest line a reader accepts, newline included. */
#define PSCOPE_WHOAMI_MAX 512

struct pscope_whoami {
	struct pscope_addr you;
	struct pscope_addr me;
	char proto[8];		/* "tcp", "udp"; "" if not given */
	uint64_t conn;		/* the server's count of this connection; 0 if not given */
	int fd;			/* the server's descriptor; -1 if not given */
};

/* Writes the line, newline included.  Returns its length or -ENOSPC. */
int pscope_whoami_format(const struct pscope_whoami *w, char *buf, size_t size);

/*
 * Parses one line of LEN bytes (the newline, or "\r\n", may be included).
 * Returns 0, or -PSCOPE_E_PROTO if it is not a well-formed portscope/1 line
 * with numeric "you" and "me" addresses.
 */
int pscope_whoami_parse(const char *line, size_t len, struct pscope_whoami *w);

#endif
