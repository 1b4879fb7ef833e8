/*
 * portscope: what a socket is, as the kernel tells it.
 *
 * Returns are as in addr.h: a value >= 0, or a negative error code.
 */
#ifndef PORTSCOPE_SOCK_H
#define PORTSCOPE_SOCK_H

#include <stddef.h>
#include "addr.h"
#include "json.h"

/* A socket's identity: the fields of Python's socket repr, and why any is missing. */
struct pscope_sockinfo {
	int fd;
	int family;		/* SO_DOMAIN */
	int type;		/* SO_TYPE */
	int protocol;		/* SO_PROTOCOL: the kernel's, e.g. 6 for TCP */
	struct pscope_addr local;
	int local_err;		/* 0, or -errno from getsockname() */
	struct pscope_addr peer;
	int peer_err;		/* 0, or -errno from getpeername(): -ENOTCONN on a listener */
};

/*
 * Fills SI from the kernel's view of FD.  A missing local or peer address is
 * not a failure: it is recorded in local_err or peer_err.  Returns 0, or
 * -errno if FD is not an open socket.
 */
int pscope_sock_describe(int fd, struct pscope_sockinfo *si);

/* FD's own address (getsockname) into *A.  Returns 0 or -errno. */
int pscope_sock_local(int fd, struct pscope_addr *a);

/* FD's peer's address (getpeername) into *A.  Returns 0, or -errno: -ENOTCONN without a peer. */
int pscope_sock_peer(int fd, struct pscope_addr *a);

/*
 * The state the kernel keeps for TCP socket FD: TCP_ESTABLISHED,
 * TCP_CLOSE_WAIT, TCP_CLOSE, ... (netinet/tcp.h, the kernel's
 * include/net/tcp_states.h), read with getsockopt(TCP_INFO) (tcp(7)).  A
 * connection's reset is told once, as the error of whichever call comes
 * first; its state stays: a peer's FIN leaves CLOSE_WAIT, a reset CLOSE
 * (the kernel's tcp_reset()).  Returns the state, or -errno: -EOPNOTSUPP
 * if FD is not a TCP socket, -ENOTSOCK, -EBADF.
 */
int pscope_sock_tcp_state(int fd);

/*
 * Python's repr of the socket, as the note's server prints it:
 * "<socket.socket fd=4, family=AddressFamily.AF_INET, type=SocketKind.SOCK_STREAM,
 *  proto=0, laddr=('127.0.0.1', 8080), raddr=('127.0.0.1', 39992)>".
 * proto is 0 when the kernel's protocol is the default for the family and
 * type, as for a Python socket made with socket.socket().  laddr and raddr
 * are left out when unknown, as Python does.  Returns the length or -ENOSPC.
 */
int pscope_sock_repr_py(const struct pscope_sockinfo *si, char *buf, size_t size);

/*
 * The socket as a JSON object: {"fd":4,"family":"AF_INET","type":"SOCK_STREAM",
 * "proto":6,"laddr":"127.0.0.1:8080","raddr":"127.0.0.1:39992"}; a missing
 * address is null with "laddr_error"/"raddr_error" naming the errno.
 * Returns the length or -ENOSPC.
 */
int pscope_sock_json(const struct pscope_sockinfo *si, char *buf, size_t size);

/*
 * The same members ("fd" to "raddr", and any "..._error"), written into the
 * object J has open, so that a caller can add members of its own around them.
 */
void pscope_sock_json_members(struct pscope_json *j, const struct pscope_sockinfo *si);

/* "AF_INET", "AF_INET6", "AF_UNIX", or NULL. */
const char *pscope_family_name(int family);

/* "SOCK_STREAM", "SOCK_DGRAM", ..., or NULL. */
const char *pscope_socktype_name(int type);

/* "tcp" or "udp" for a stream or datagram socket of an IP family, else NULL. */
const char *pscope_proto_name(int type);

/* The errno's symbolic name ("ENOTCONN") for ERR (either sign), or "E?" if unknown. */
const char *pscope_errno_name(int err);

#endif
