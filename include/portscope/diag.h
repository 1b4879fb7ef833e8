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
	uint32_t ifindex;	/* bound device (sk_bound_dev_if, SO_BINDTODEVICE), or 0 */
	uint32_t rqueue, wqueue;/* receive and send queue; for a listener, its accept queue and backlog */
	uint32_t uid;
	uint64_t inode;		/* 0: no socket file (not accepted yet, or closed by its owner) */
	uint64_t cookie;	/* the kernel's socket cookie */
	uint16_t absent;	/* PSCOPE_DIAG_NO_* bits: fields the source did not give */
};

/*
 * Fields a source leaves at 0 because it does not know them: the 0 is a
 * placeholder, not the kernel's value, and is to be shown as unknown.
 *   sock_diag: a minisocket (a TIME_WAIT socket, or a request in a listener's
 *     SYN queue; inet_twsk_diag_fill() and inet_req_diag_fill() in
 *     net/ipv4/inet_diag.c) has idiag_rqueue, idiag_wqueue and idiag_uid 0.
 *     A minisocket is told by the INET_DIAG_SHUTDOWN attribute, which the
 *     kernel puts on every full socket and on no minisocket.
 *   /proc/net/tcp{,6}: no cookie and no bound device, ever; a listener's
 *     tx_queue is 0, not its backlog (get_tcp4_sock() in net/ipv4/tcp_ipv4.c);
 *     a TIME_WAIT minisocket (timer 3) has tx_queue, rx_queue and uid 0
 *     (get_timewait4_sock()); a request (state SYN_RECV, refcount 0) has
 *     both queues 0 (get_openreq4()).
 *   Both: inode 0 means the socket has no file (sock_i_ino()): it is
 *     PSCOPE_DIAG_NO_INODE, never an inode number.
 */
enum {
	PSCOPE_DIAG_NO_RQUEUE = 1 << 0,
	PSCOPE_DIAG_NO_WQUEUE = 1 << 1,
	PSCOPE_DIAG_NO_UID = 1 << 2,
	PSCOPE_DIAG_NO_INODE = 1 << 3,
	PSCOPE_DIAG_NO_COOKIE = 1 << 4,
	PSCOPE_DIAG_NO_IFINDEX = 1 << 5,
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
	bool remote_only;	/* only sockets whose remote port is PORT and local port is not:
				 * with a local_only listing of the same filter, each socket once */
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
	PSCOPE_E_PROC_FILTER,	/* a filter on the interface, which /proc/net does not give */
	PSCOPE_E_DIAG_LAST
};

/*
 * Lists sockets through NETLINK_SOCK_DIAG, the port filter compiled into
 * inet_diag bytecode so the kernel does the filtering.  It asks for F's states
 * within PSCOPE_DIAG_STATES_ALL, never for bound-only TCP sockets (bit 13,
 * TCP_BOUND_INACTIVE in recent kernels), which /proc/net does not list.  If
 * DUMP_FD >= 0 every request and reply is also written there, raw, for
 * pscope_diag_replay().
 * TCP of both families comes from one walk of the kernel's tables (the compat
 * request TCPDIAG_GETSOCK, which inet_diag_dump_compat() in net/ipv4/inet_diag.c
 * runs with family AF_UNSPEC), so IPv4 and IPv6 sockets reach CB mixed, in the
 * kernel's hash order; a kernel that refuses it gets one SOCK_DIAG_BY_FAMILY
 * dump per family.  UDP is one dump per family, IPv4 first.
 * Returns the number of sockets passed to CB, or a negative error code
 * (-EPROTONOSUPPORT etc. if the kernel has no sock_diag: try /proc).
 * Listings may run at once in several threads, each on a netlink socket of its own.
 */
int pscope_diag_netlink(const struct pscope_diag_filter *f, pscope_diag_cb cb, void *ctx,
			int dump_fd, struct pscope_diag_stats *st);

/*
 * As pscope_diag_netlink, in the network namespace NSFD (an open
 * /run/netns/NAME or /proc/PID/ns/net: pscope_netns_open(); -1: the caller's
 * own): the sock_diag socket is created there (pscope_netns_socket()), so the
 * dump lists that namespace's sockets.  Also returns pscope_netns_socket()'s
 * errors (-EPERM without CAP_SYS_ADMIN, -EINVAL for a file that is not a
 * network namespace).
 */
int pscope_diag_netlink_in(int nsfd, const struct pscope_diag_filter *f, pscope_diag_cb cb,
			   void *ctx, int dump_fd, struct pscope_diag_stats *st);

/*
 * Lists the sockets recorded in BUF (LEN bytes written by pscope_diag_netlink's
 * DUMP_FD; either request kind, SOCK_DIAG_BY_FAMILY or TCPDIAG_GETSOCK), validating
 * it as a kernel reply.  Returns as pscope_diag_netlink.
 */
int pscope_diag_replay(const void *buf, size_t len, const struct pscope_diag_filter *f,
		       pscope_diag_cb cb, void *ctx, struct pscope_diag_stats *st);

/*
 * Lists sockets from /proc/net/{tcp,tcp6,udp,udp6} under ROOT ("/proc/net" if
 * NULL).  Returns as pscope_diag_netlink, or -PSCOPE_E_PROC_FILTER (before
 * reading anything) if F filters on what /proc/net does not give (see
 * pscope_diag_proc_filter_ok()).
 */
int pscope_diag_proc(const char *root, const struct pscope_diag_filter *f, pscope_diag_cb cb,
		     void *ctx, struct pscope_diag_stats *st);

/*
 * Parses one line of a /proc/net/tcp-style file of FAMILY and PROTO into S,
 * with S->absent marking the fields the line does not really give (see
 * PSCOPE_DIAG_NO_*; the reference count after the inode, when the line has
 * it, tells a request).  Returns 1 for a socket, 0 for the header line,
 * -PSCOPE_E_PROC_LINE otherwise.
 */
int pscope_diag_proc_line(const char *line, size_t len, int family, int proto,
			  struct pscope_diag_sock *s);

/* True if S passes F (the user-space half of the filter); sets S->side. */
bool pscope_diag_match(const struct pscope_diag_filter *f, struct pscope_diag_sock *s);

/* The state's name: "LISTEN", "ESTABLISHED", ...; "UNCONN" for an unconnected UDP socket. */
const char *pscope_diag_state_name(const struct pscope_diag_sock *s);

/*
 * Parses one state name of ss(8)'s STATE-FILTER into its bit mask (1 << the
 * kernel's TCP state): established, syn-sent, syn-recv, fin-wait-1,
 * fin-wait-2, time-wait, closed, close-wait, last-ack, listening, closing, and
 * the groups all, connected (all but listening and closed), synchronized
 * (connected but syn-sent), bucket (syn-recv, time-wait) and big (all but
 * bucket), with ss's meanings (scan_state() in iproute2's misc/ss.c), and
 * ss's other spellings syn-rcv and unconnected.  Also portscope's own: listen,
 * close and unconn.  Case does not matter, and the
 * kernel's spelling is taken too ('_' for '-', FIN_WAIT1 for fin-wait-1), so
 * that a state ls shows can be given back.  Returns 0 for any other name.
 */
uint32_t pscope_diag_state_mask(const char *name);

/* The names pscope_diag_state_mask() knows, comma-separated, for messages. */
extern const char pscope_diag_state_names[];

/* Every state an unfiltered listing asks the kernel for: ss's "all". */
#define PSCOPE_DIAG_STATES_ALL 0x1ffeu /* TCP_ESTABLISHED (1) to TCP_NEW_SYN_RECV (12) */

/*
 * 0 if /proc/net can apply filter F; -PSCOPE_E_PROC_FILTER if F needs what
 * /proc/net does not give: an IPv6 address with a scope (the interface).
 */
int pscope_diag_proc_filter_ok(const struct pscope_diag_filter *f);

/* What a socket is to the port it was listed for (its side): pscope_diag_role(). */
enum pscope_role {
	PSCOPE_ROLE_LISTENER,	/* a TCP socket in LISTEN */
	PSCOPE_ROLE_ACCEPTED,	/* server side with a socket file: accept() took it */
	PSCOPE_ROLE_QUEUED,	/* server side, handshake done, in an accept queue, not accepted */
	PSCOPE_ROLE_HANDSHAKE,	/* server side, SYN_RECV, not accepted */
	PSCOPE_ROLE_ORPHANED,	/* server side, closed by its owner: the kernel ends it alone */
	PSCOPE_ROLE_BOUND,	/* UDP, unconnected, on the port */
	PSCOPE_ROLE_CONNECTED,	/* UDP, connected, its local port the port */
	PSCOPE_ROLE_CLIENT,	/* its remote port is the port */
	PSCOPE_ROLE_NONE,	/* no port was asked for (side PSCOPE_SIDE_ANY) */
	PSCOPE_ROLES = PSCOPE_ROLE_NONE
};

/*
 * The role of S from its side (set by pscope_diag_match(); PSCOPE_SIDE_LOCAL
 * for the server's end) and what the kernel says of it.  A TCP socket gets a
 * socket file (an inode) when accept() takes it from the listener's queue
 * (sock_graft() in inet_accept(), net/ipv4/af_inet.c), and loses it when its
 * owner closes it (sock_orphan()); close() also moves it out of ESTABLISHED
 * and CLOSE_WAIT (tcp_close_state(), net/ipv4/tcp.c).  So on the local side,
 * with no inode: ESTABLISHED or CLOSE_WAIT (the peer closed while it waited)
 * is queued, SYN_RECV (and NEW_SYN_RECV, a request) is in the handshake, any
 * other state (TIME_WAIT included) was orphaned.  With an inode it was
 * accepted, whoever holds it now.  A listener is a listener from either
 * side.  Returns PSCOPE_ROLE_NONE for PSCOPE_SIDE_ANY (but a listener).
 */
enum pscope_role pscope_diag_role(const struct pscope_diag_sock *s);

/* The role's name as ls prints it ("queued"); NULL for PSCOPE_ROLE_NONE. */
const char *pscope_diag_role_name(enum pscope_role r);

/* The socket's local or peer end as a pscope_addr. */
void pscope_diag_local(const struct pscope_diag_sock *s, struct pscope_addr *a);
void pscope_diag_peer(const struct pscope_diag_sock *s, struct pscope_addr *a);


#endif
