/*
 * portstats: one sock_diag dump of every TCP and UDP socket, counted by port
 * (for exporter and top).  Each socket is counted once, under the port it
 * serves or uses: a listener and a bound UDP socket under their local port; a
 * socket whose local port is a listening (or bound UDP) port under that port
 * (accepted, queued, handshake or orphaned, as ls says; connected for UDP); one whose remote port is such a port under it
 * (client); else the end with a port in the kernel's ephemeral range
 * (ip_local_port_range) is the client, counted under the other end's port.
 * When both ends or neither are ephemeral, nothing tells which is the server:
 * port 0 ("other").  So clients with ephemeral ports never make a series of
 * their own.
 */
#ifndef PORTSCOPE_PORTSTATS_H
#define PORTSCOPE_PORTSTATS_H

#include <stddef.h>
#include <stdint.h>

#include "portscope/diag.h"

/* ls's roles (pscope_diag_role()): a server-side TCP socket is accepted, queued, handshake or orphaned. */
enum ps_role {
	PS_LISTENER = PSCOPE_ROLE_LISTENER, PS_ACCEPTED = PSCOPE_ROLE_ACCEPTED,
	PS_QUEUED = PSCOPE_ROLE_QUEUED, PS_HANDSHAKE = PSCOPE_ROLE_HANDSHAKE,
	PS_ORPHANED = PSCOPE_ROLE_ORPHANED, PS_BOUND = PSCOPE_ROLE_BOUND,
	PS_CONNECTED = PSCOPE_ROLE_CONNECTED, PS_CLIENT = PSCOPE_ROLE_CLIENT, PS_ROLES = PSCOPE_ROLES
};
#define PS_STATES 13	/* the kernel's TCP states, 1..12 (NEW_SYN_RECV) */

extern const char *const ps_role_names[PS_ROLES];

/* Sockets counted under one port of one protocol. */
struct ps_port {
	uint8_t proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t port;
	uint32_t count[PS_ROLES][PS_STATES];
	uint32_t listeners;	/* TCP listeners (or bound UDP sockets) on it */
	uint32_t queued;	/* connections in the listeners' accept queues */
	uint32_t backlog;	/* the sum of the listeners' backlogs */
	uint32_t biggest_group;	/* most listeners on one address and port (SO_REUSEPORT) */
};

/* A listener on one address and port, and how many share them (SO_REUSEPORT). */
struct ps_listener {
	struct pscope_diag_sock s;
	uint32_t group_size;	/* listeners on the same family, address, port and device */
};

struct ps_sock {
	uint64_t cookie;
	uint64_t tuple;		/* ps_tuple_key() of its ports and remote address */
	uint16_t lport, rport;
	uint8_t proto, state;
	uint8_t server_role;	/* its role if its local end is the server's (pscope_diag_role()) */
};

struct portstats {
	struct ps_sock *socks;	/* every socket of the dump */
	size_t nsocks, socks_cap;
	struct ps_listener *listeners;
	size_t nlisteners, listeners_cap;
	struct ps_port *ports;	/* sorted by protocol, then port */
	size_t nports;
	uint16_t *port_of;	/* per socket: the port it is counted under */
	int oom;
};

/*
 * Lists every TCP and UDP socket (one dump: pscope_diag_netlink) and counts
 * them.  Returns 0, or a negative error code (pscope_strerror explains it).
 * PS keeps its arrays between calls; portstats_free() frees them.
 */
int portstats_collect(struct portstats *ps);

/* As portstats_collect, in network namespace NSFD (-1: ours; pscope_diag_netlink_in). */
int portstats_collect_in(struct portstats *ps, int nsfd);

/* Frees what PS holds. */
void portstats_free(struct portstats *ps);

/* The port PS->socks[I] is counted under. */
static inline uint16_t portstats_port_of(const struct portstats *ps, size_t i)
{
	return ps->port_of[i];
}

/* A key (never 0) for a TCP connection's ports and remote address. */
uint64_t ps_tuple_key(uint16_t lport, uint16_t rport, const uint8_t raddr[16]);

/* The state's name in lower case with underscores ("time_wait"), as node_exporter's labels. */
const char *ps_state_label(uint8_t proto, uint8_t state);

#endif
