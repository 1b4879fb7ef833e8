/*
 * portscope: socket helpers.  All descriptors are made non-blocking and
 * close-on-exec.  Returns are as in addr.h: a value >= 0, or -errno.
 */
#ifndef PORTSCOPE_NET_H
#define PORTSCOPE_NET_H

#include <stddef.h>
#include <sys/types.h>
#include "addr.h"
#include "line.h"

enum {
	PSCOPE_LISTEN_REUSEPORT = 1,	/* SO_REUSEPORT: share the port with other listeners */
	PSCOPE_LISTEN_DUALSTACK = 2,	/* IPv6 socket also accepts IPv4 (IPV6_V6ONLY off) */
	PSCOPE_LISTEN_BIND_ONLY = 4,	/* bind but do not listen: hold the port, take no clients */
};

/*
 * Makes a TCP socket bound to A (SO_REUSEADDR on; IPv6 sockets are IPv6-only
 * unless PSCOPE_LISTEN_DUALSTACK, or A is IPv4-mapped: ::ffff:127.0.0.1 is an
 * IPv4 address through an IPv6 socket, which the kernel binds only with
 * IPV6_V6ONLY off, __inet6_bind; Python's socket does the same) and listening
 * with BACKLOG.  Returns the descriptor, or -errno from the step that failed.
 */
int pscope_listen(const struct pscope_addr *a, int backlog, int flags);

/*
 * Accepts a connection waiting on listener LFD: accept4(2) with SOCK_NONBLOCK
 * and SOCK_CLOEXEC, retried after EINTR.  Fills *PEER (may be NULL) with the
 * client's address.  Returns the new descriptor, or -errno: -EAGAIN (nothing
 * waits), -ECONNABORTED (the client left before it was taken), -EMFILE or
 * -ENFILE (out of descriptors), -ENOBUFS or -ENOMEM, -EPERM (a firewall
 * refused it), -EBADF, -EINVAL (LFD does not listen).
 *
 * SPARE (may be NULL) holds a descriptor kept open for one purpose: when
 * descriptors run out, SPARE->fd is closed to take the waiting client and
 * close it at once (so the client is told, and the listener does not stay
 * readable for ever: libuv's trick in uv__emfile_trick), then opened again
 * (-1 if it could not be); each client so taken and closed adds one to
 * SPARE->shed.  The return is still -EMFILE or -ENFILE.  Open the spare's
 * descriptor with pscope_spare_open().
 */
struct pscope_spare {
	int fd;				/* the spare descriptor, or -1 */
	unsigned long long shed;	/* clients taken and closed at once for want of descriptors */
};
int pscope_accept(int lfd, struct pscope_addr *peer, struct pscope_spare *spare);

/* A descriptor to keep as pscope_accept()'s spare (/dev/null, read-only).  Returns it or -errno. */
int pscope_spare_open(void);

/* A new socket of FAMILY and TYPE. Returns the descriptor or -errno. */
int pscope_socket(int family, int type);

/*
 * Connects socket FD to A, waiting at most TIMEOUT_MS (negative: no limit).
 * An IPv4-mapped A turns IPV6_V6ONLY off on FD first (net.ipv6.bindv6only=1
 * would otherwise make the connect fail with ENETUNREACH).
 * Returns 0, -ETIMEDOUT, or -errno of the failure (-ECONNREFUSED, ...).
 */
int pscope_connect(int fd, const struct pscope_addr *a, int timeout_ms);

/*
 * Reads one line from FD, framed as line.h says with a limit of SIZE - 3
 * bytes before the end of line, into BUF (SIZE bytes, at least 3: room for
 * the line, its "\r\n" and a NUL).  Takes from the socket only this line's
 * bytes (MSG_PEEK, then recv of as many), so the next line stays for the next
 * call; waits at most TIMEOUT_MS (negative: no limit).  BUF holds what was
 * taken, NUL-terminated, whatever the result, and *LEN its length.  Returns
 *   PSCOPE_LINE_LF, _CRLF  a whole line, its end of line included in BUF;
 *   PSCOPE_LINE_TOO_LONG   more than SIZE - 3 bytes came before an end of line;
 *   PSCOPE_LINE_UNENDED    the peer's FIN came inside a line (BUF: its bytes);
 *   PSCOPE_LINE_NONE       the peer's FIN came first;
 *   -ETIMEDOUT             TIMEOUT_MS passed first; -EINVAL: SIZE < 3;
 *   -errno                 of recv(2) or poll(2) (-ECONNRESET: a reset).
 */
int pscope_read_line(int fd, char *buf, size_t size, size_t *len, int timeout_ms);

/* Writes all LEN bytes of BUF to FD, retrying after EINTR. Returns 0 or -errno (-EIO: no progress). */
int pscope_write_all(int fd, const void *buf, size_t len);

/* Reads exactly LEN bytes from FD. Returns 0, -EIO at end of file, or -errno. */
int pscope_read_full(int fd, void *buf, size_t len);

/* Monotonic clock in milliseconds. */
long long pscope_now_ms(void);

#endif
