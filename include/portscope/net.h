/*
 * portscope: socket helpers.  All descriptors are made non-blocking and
 * close-on-exec.  Returns are as in addr.h: a value >= 0, or -errno.
 */
#ifndef PORTSCOPE_NET_H
#define PORTSCOPE_NET_H

#include <stddef.h>
#include <sys/types.h>
#include "addr.h"

enum {
	PSCOPE_LISTEN_REUSEPORT = 1,	/* SO_REUSEPORT: share the port with other listeners */
	PSCOPE_LISTEN_DUALSTACK = 2,	/* IPv6 socket also accepts IPv4 (IPV6_V6ONLY off) */
	PSCOPE_LISTEN_BIND_ONLY = 4,	/* bind but do not listen: hold the port, take no clients */
};

/*
 * Makes a TCP socket bound to A (SO_REUSEADDR on; IPv6 sockets are IPv6-only
 * unless PSCOPE_LISTEN_DUALSTACK) and listening with BACKLOG.  Returns the
 * descriptor, or -errno from the step that failed.
 */
int pscope_listen(const struct pscope_addr *a, int backlog, int flags);

/* A new socket of FAMILY and TYPE. Returns the descriptor or -errno. */
int pscope_socket(int family, int type);

/*
 * Connects socket FD to A, waiting at most TIMEOUT_MS (negative: no limit).
 * Returns 0, -ETIMEDOUT, or -errno of the failure (-ECONNREFUSED, ...).
 */
int pscope_connect(int fd, const struct pscope_addr *a, int timeout_ms);

/*
 * Reads from FD until a newline, end of file, SIZE - 1 bytes or TIMEOUT_MS
 * have passed, and NUL-terminates BUF.  Returns the number of bytes read
 * (0 at end of file with nothing read), -ETIMEDOUT with nothing read, or -errno.
 */
ssize_t pscope_read_line(int fd, char *buf, size_t size, int timeout_ms);

/* Writes all LEN bytes of BUF to FD, retrying after EINTR. Returns 0 or -errno (-EIO: no progress). */
int pscope_write_all(int fd, const void *buf, size_t len);

/* Reads exactly LEN bytes from FD. Returns 0, -EIO at end of file, or -errno. */
int pscope_read_full(int fd, void *buf, size_t len);

/* Monotonic clock in milliseconds. */
long long pscope_now_ms(void);

#endif
