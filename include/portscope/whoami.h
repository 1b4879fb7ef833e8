/*
 * portscope: the portscope/1 line, in which a server tells a client what it saw.
 *
 *   portscope/1 you=127.0.0.1:49400 me=127.0.0.1:8080 proto=tcp conn=1 fd=5\n
 *
 * "you" is the client's end as the server sees it (getpeername), "me" the
 * server's own end (getsockname).  Further key=value pairs are optional and a
 * reader ignores keys it does not know.  A server that took a PROXY protocol
 * header (HAProxy's doc/proxy-protocol.txt) adds what it said:
 *
 *   pp=2 pp_cmd=proxy pp_proto=tcp4 src=192.0.2.1:50001 dst=192.0.2.2:443
 *
 * pp is the header's version (1 or 2), pp_cmd "proxy" or "local", pp_proto
 * the family and transport ("tcp4", "tcp6", "udp4", "udp6", "unix_stream",
 * "unix_dgram", "unspec", v1's "unknown"), src and dst the addresses it
 * carried (for tcp4, tcp6, udp4 and udp6 only).  Returns are as in addr.h.
 */
#ifndef PORTSCOPE_WHOAMI_H
#define PORTSCOPE_WHOAMI_H

#include <stddef.h>
#include <stdint.h>
#include "addr.h"

#define PSCOPE_WHOAMI_PREFIX "portscope/1 "
/*
 * Longest line a reader accepts: bytes before its end of line ("\n" or
 * "\r\n", not counted), as line.h frames it.  A reader's buffer is
 * PSCOPE_WHOAMI_BUF bytes: the line, its "\r\n" and a NUL, and
 * pscope_read_line() given that size applies this limit.
 */
#define PSCOPE_WHOAMI_MAX 512
#define PSCOPE_WHOAMI_BUF (PSCOPE_WHOAMI_MAX + 3)

struct pscope_whoami {
	struct pscope_addr you;
	struct pscope_addr me;
	char proto[8];		/* "tcp", "udp"; "" if not given */
	uint64_t conn;		/* the server's count of this connection; 0 if not given */
	int fd;			/* the server's descriptor; -1 if not given */
	/* What a PROXY protocol header told the server; pp 0: no header. */
	uint8_t pp;		/* the header's version: 1 or 2 */
	uint8_t pp_command;	/* PSCOPE_PROXY_LOCAL (0) or PSCOPE_PROXY_PROXY (1) */
	char pp_proto[16];	/* "tcp4", ..., as above; "" if not given */
	struct pscope_addr src;	/* len 0 if not given */
	struct pscope_addr dst;
};

/*
 * Writes the line, newline included (the PROXY keys when W->pp is 1 or 2;
 * src and dst when their len is not 0).  Returns its length or -ENOSPC.
 */
int pscope_whoami_format(const struct pscope_whoami *w, char *buf, size_t size);

/*
 * Parses one line of LEN bytes (the newline, or "\r\n", may be included).
 * Returns 0, or -PSCOPE_E_PROTO if it is not a well-formed portscope/1 line
 * of at most PSCOPE_WHOAMI_MAX bytes before its end of line
 * with numeric "you" and "me" addresses, or if pp is neither 1 nor 2, pp_cmd
 * neither "proxy" nor "local", or src or dst is not a numeric address.
 */
int pscope_whoami_parse(const char *line, size_t len, struct pscope_whoami *w);

#endif
