/*
 * portscope: the kernel's list of sockets, from NETLINK_SOCK_DIAG (inet_diag)
 * or /proc/net/{tcp,tcp6,udp,udp6}.
 *
 * The pipeline is request -> receive -> validate -> parse into struct
 * pscope_diag_sock -> filter -> hand each socket to the caller's callback.
 * The library allocates nothing the caller must free and never prints.
 * Returns are as in addr.h: a value >= 0, or a negative error code.
 */
#ifndef PORTSCOPE_DIAG_H
#define PORTSCOPE_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "addr.h"

/* Which end of a socket matched the port asked for. */
enum pscope_side {
	PSCOPE_SIDE_ANY = 0,	/* no port was asked for */
	PSCOPE_SIDE_LOCAL,	/* its local port is the port: a listener or an accepted socket */
	PSCOPE_SIDE_REMOTE,	/* its remote port is the port: a client of it */
};

/* One socket as the kernel reports it. Addresses are in network byte order. */
struct pscope_diag_sock {
	uint8_t family;		/* AF_INET or AF_INET6 */
	uint8_t proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	uint8_t state;		/* the kernel's TCP state number (UDP: 7 unconnected, 1 connected) */
	uint8_t side;		/* enum pscope_side */
	uint16_t lport, rport;	/* host byte order */
	uint8_t laddr[16], raddr[16]; /* IPv4 in the first 4 bytes */
	uint32_t ifindex;	/* bound device, or 0 */
	uint32_t rqueue, wqueue;/* receive and send queue; for a listener, backlog and its limit */
	uint32_t uid;
	uint64_t inode;
	uint64_t cookie;	/* the kernel's socket cookie; 0 from /proc */
};

enum {
	PSCOPE_DIAG_TCP = 1,
	PSCOPE_DIAG_UDP = 2,
	PSCOPE_DIAG_V4 = 1,
	PSCOPE_DIAG_V6 = 2,
};

/* What to list. Zeroed fields mean "all" (but port: -1 means any). */
struct pscope_diag_filter {
	unsigned protos;	/* PSCOPE_DIAG_TCP | PSCOPE_DIAG_UDP; 0: both */
	unsigned families;	/* PSCOPE_DIAG_V4 | PSCOPE_DIAG_V6; 0: both */
	uint32_t states;	/* bit (1 << state); 0: every state */
	int port;		/* -1: any port */
	bool local_only;	/* only sockets whose local port is PORT */
	bool has_addr;		/* also match this address on the matching side */
	struct pscope_addr addr;
};

/* Called for each socket that passes the filter; a negative return stops the listing with it. */
typedef int (*pscope_diag_cb)(const struct pscope_diag_sock *s, void *ctx);

/* Counters a listing fills in, for the caller to report. */
struct pscope_diag_stats {
	unsigned messages;	/* netlink messages or /proc lines read */
	unsigned restarts;	/* dumps restarted after NLM_F_DUMP_INTR */
	bool inconsistent;	/* still interrupted after the last restart */
	unsigned skipped_protos;/* protocols the kernel could not list (no udp_diag) */
};

/* Error codes beyond errno's range, after addr.h's. */
enum pscope_diag_error {
	PSCOPE_E_NL_TRUNC = PSCOPE_ERR_BASE + 64, /* a message runs past the data */
	PSCOPE_E_NL_SHORT,	/* a message too short for what its type carries */
	PSCOPE_E_NL_FOREIGN,	/* wrong sequence number or port id */
	PSCOPE_E_NL_TYPE,	/* a message type that has no place in a dump */
	PSCOPE_E_NL_ATTR,	/* an attribute with a bad length */
	PSCOPE_E_NL_NODONE,	/* the dump ended without NLMSG_DONE */
	PSCOPE_E_NL_FAMILY,	/* a socket of a family that was not asked for */
	PSCOPE_E_NL_REQUEST,	/* a replay file's request is malformed */
	PSCOPE_E_PROC_LINE,	/* a /proc/net line is truncated, too long or not hex */
	PSCOPE_E_DIAG_LAST
};

/*
 * Lists sockets through NETLINK_SOCK_DIAG, the port filter compiled into
 * inet_diag bytecode so the kernel does the filtering.  If DUMP_FD >= 0 every
 * request and reply is also written there, raw, for pscope_diag_replay().
 * Returns the number of sockets passed to CB, or a negative error code
 * (-EPROTONOSUPPORT etc. if the kernel has no sock_diag: try /proc).
 */
int pscope_diag_netlink(const struct pscope_diag_filter *f, pscope_diag_cb cb, void *ctx,
			int dump_fd, struct pscope_diag_stats *st);

/*
 * Lists the sockets recorded in BUF (LEN bytes written by pscope_diag_netlink's
 * DUMP_FD), validating it as a kernel reply.  Returns as pscope_diag_netlink.
 */
int pscope_diag_replay(const void *buf, size_t len, const struct pscope_diag_filter *f,
		       pscope_diag_cb cb, void *ctx, struct pscope_diag_stats *st);

/*
 * Lists sockets from /proc/net/{tcp,tcp6,udp,udp6} under ROOT ("/proc/net" if
 * NULL).  Returns as pscope_diag_netlink.
 */
int pscope_diag_proc(const char *root, const struct pscope_diag_filter *f, pscope_diag_cb cb,
		     void *ctx, struct pscope_diag_stats *st);

/*
 * Parses one line of a /proc/net/tcp-style file of FAMILY and PROTO into S.
 * Returns 1 for a socket, 0 for the header line, -PSCOPE_E_PROC_LINE otherwise.
 */
int pscope_diag_proc_line(const char *line, size_t len, int family, int proto,
			  struct pscope_diag_sock *s);

/* True if S passes F (the user-space half of the filter); sets S->side. */
bool pscope_diag_match(const struct pscope_diag_filter *f, struct pscope_diag_sock *s);

/* The state's name: "LISTEN", "ESTABLISHED", ...; "UNCONN" for an unconnected UDP socket. */
const char *pscope_diag_state_name(const struct pscope_diag_sock *s);

/* Parses a state name ("listen", "time-wait", "TIME_WAIT", ...) into its bit mask, or 0. */
uint32_t pscope_diag_state_mask(const char *name);

/* The socket's local or peer end as a pscope_addr. */
void pscope_diag_local(const struct pscope_diag_sock *s, struct pscope_addr *a);
void pscope_diag_peer(const struct pscope_diag_sock *s, struct pscope_addr *a);


#endif
