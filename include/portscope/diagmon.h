/*
 * portscope: the kernel's notifications of destroyed sockets, and the lookup
 * of one socket by its 4-tuple and cookie, both through NETLINK_SOCK_DIAG.
 *
 * The kernel sends an inet_diag message to the multicast groups
 * SKNLGRP_INET_TCP_DESTROY, SKNLGRP_INET6_TCP_DESTROY, SKNLGRP_INET_UDP_DESTROY
 * and SKNLGRP_INET6_UDP_DESTROY when it frees a TCP or UDP socket
 * (sock_diag_broadcast_destroy(), net/core/sock_diag.c, called from
 * __sk_free()); `ss -E` listens to the same groups.  Joining them needs
 * CAP_NET_ADMIN.  A TCP socket that goes to TIME_WAIT (or FIN_WAIT2, orphaned)
 * is freed too: its stand-in, a timewait socket, keeps the 4-tuple, which
 * pscope_diag_lookup() finds; it keeps the cookie only if one had been
 * given out before (the kernel makes cookies when first asked,
 * sock_gen_cookie(), and inet_twsk_alloc() copies what there is).
 *
 * Sockets are handed over as struct pscope_diag_sock (diag.h), with absent
 * set as a dump sets it: a notification has no queues, uid or inode (the
 * kernel leaves them out; the socket has no file any more), nor has a
 * TIME_WAIT socket's queues or uid.  Returns are as
 * in addr.h: a value >= 0, or a negative error code.
 */
#ifndef PORTSCOPE_DIAGMON_H
#define PORTSCOPE_DIAGMON_H

#include <stddef.h>
#include <stdint.h>
#include "diag.h"

/*
 * Opens a non-blocking NETLINK_SOCK_DIAG socket that receives the destroy
 * notifications of the protocols in PROTOS (PSCOPE_DIAG_TCP | PSCOPE_DIAG_UDP;
 * 0: both) and families in FAMILIES (PSCOPE_DIAG_V4 | PSCOPE_DIAG_V6; 0: both).
 * If PORT >= 0, a socket filter (SO_ATTACH_FILTER, classic BPF) makes the
 * kernel drop, before they are queued, the notifications of sockets with
 * neither port equal to PORT.  RCVBUF (bytes, 0: 4 MiB) sizes the receive
 * queue: SO_RCVBUFFORCE if allowed, else SO_RCVBUF (capped by
 * net.core.rmem_max); *RCVBUF_GOT, if not NULL, receives what the kernel
 * granted (SO_RCVBUF as getsockopt(2) reports it, doubled by the kernel).
 * Returns the descriptor, or -errno: -EPERM without CAP_NET_ADMIN, -EPROTONOSUPPORT
 * without sock_diag, -EMFILE ...
 */
int pscope_diagmon_open(unsigned protos, unsigned families, int port, int rcvbuf,
			int *rcvbuf_got);

/*
 * Reads the notifications waiting on FD (from pscope_diagmon_open), at most
 * MAX messages (0: until none waits), and calls CB with each socket that
 * passes F (pscope_diag_match(); NULL: every socket).  Returns the number of
 * sockets passed to CB; or -ENOBUFS: the kernel's queue overflowed and
 * notifications were lost (FD stays usable: the caller should list the
 * sockets again); -ECANCELED if CB returned a negative value; a message that
 * is not a well-formed inet_diag message from the kernel gives
 * -PSCOPE_E_NL_SHORT, -PSCOPE_E_NL_ATTR, -PSCOPE_E_NL_TRUNC or
 * -PSCOPE_E_NL_FOREIGN (diag.h); or -errno of recvmsg(2).
 */
int pscope_diagmon_read(int fd, const struct pscope_diag_filter *f, pscope_diag_cb cb,
			void *ctx, unsigned max);

/*
 * Parses one netlink message (header included) of LEN bytes holding an
 * inet_diag_msg (a notification or a dump's reply) into S.  PROTO is the
 * protocol to assume when the message has no INET_DIAG_PROTOCOL attribute
 * (a dump's reply has none).  Returns 0, or -PSCOPE_E_NL_TRUNC,
 * -PSCOPE_E_NL_SHORT, -PSCOPE_E_NL_TYPE (not SOCK_DIAG_BY_FAMILY),
 * -PSCOPE_E_NL_FAMILY (neither AF_INET nor AF_INET6) or -PSCOPE_E_NL_ATTR.
 */
int pscope_diagmon_parse(const void *msg, size_t len, int proto, struct pscope_diag_sock *s);

/*
 * Opens a NETLINK_SOCK_DIAG socket for pscope_diag_lookup() (blocking, with a
 * 2 s receive timeout).  Returns the descriptor, or -errno.
 */
int pscope_diag_lookup_open(void);

/*
 * Asks the kernel for the socket with KEY's protocol, family, 4-tuple,
 * bound device and cookie (0: any cookie) (an exact inet_diag request, without NLM_F_DUMP:
 * inet_diag_find_one_icsk() in net/ipv4/inet_diag.c, which finds TIME_WAIT
 * sockets too) on FD from pscope_diag_lookup_open().  Returns 1 and fills
 * *OUT (its side copied from KEY) if it exists; 0 if it does not (the
 * kernel's ENOENT, or ESTALE: another socket, with another cookie, has the
 * 4-tuple now); or a negative error code (-errno of sendto(2)/recv(2), -EAGAIN
 * after the timeout, or a parse error as pscope_diagmon_parse).
 */
int pscope_diag_lookup(int fd, const struct pscope_diag_sock *key, struct pscope_diag_sock *out);

#endif
