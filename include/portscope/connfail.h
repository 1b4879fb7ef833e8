/*
 * portscope: how a TCP connect failed, as the kernel reports it.
 *
 * An errno alone does not say it: the kernel maps an ICMP port unreachable
 * to ECONNREFUSED, the errno of a reset, and an ICMP host unreachable that
 * this host sends itself when ARP or neighbour discovery gets no answer to
 * EHOSTUNREACH, the errno of a router's.  With IP_RECVERR (IPv6:
 * IPV6_RECVERR) set before connect(), the kernel also queues the ICMP error
 * on the socket's error queue, with its type, code and sender (ip(7),
 * ipv6(7): struct sock_extended_err, SO_EE_ORIGIN_ICMP, SO_EE_OFFENDER; the
 * kernel's ip_icmp_error() and ipv6_icmp_error(), called by tcp_v4_err()
 * and tcp_v6_err() in SYN-SENT).  Returns are as in addr.h: a value >= 0,
 * or -errno.
 */
#ifndef PORTSCOPE_CONNFAIL_H
#define PORTSCOPE_CONNFAIL_H

#include <stdbool.h>
#include <stdint.h>
#include "addr.h"

/* How a connect failed. */
enum pscope_fail_kind {
	PSCOPE_FAIL_RESET,	/* a TCP reset to the SYN: ECONNREFUSED, no ICMP queued */
	PSCOPE_FAIL_ICMP,	/* an ICMP or ICMPv6 error from another host (a router, a firewall) */
	PSCOPE_FAIL_NEIGH,	/* this host's own ICMP host/address unreachable with the next
				 * hop's neighbour entry failed: no ARP or neighbour discovery
				 * answer (the kernel's arp_error_report(), ndisc_error_report()):
				 * the host (or the gateway) is down or absent */
	PSCOPE_FAIL_LOCAL_ICMP,	/* another ICMP error this host sent itself (its own firewall's reject) */
	PSCOPE_FAIL_LOCAL,	/* refused here before any packet went out: no route, a
				 * prohibiting route, this host's firewall dropping it */
	PSCOPE_FAIL_DEADLINE,	/* no answer before the caller's deadline */
	PSCOPE_FAIL_SYN_RETRIES,/* no answer: the kernel stopped retrying the SYN first
				 * (net.ipv4.tcp_syn_retries, TCP_SYNCNT) */
	PSCOPE_FAIL_OTHER,	/* anything else: the errno says it */
};

/* An ICMP or ICMPv6 error, as the socket's error queue holds it. */
struct pscope_icmp {
	int family;		/* AF_INET: ICMP (SO_EE_ORIGIN_ICMP); AF_INET6: ICMPv6 */
	uint8_t type, code;	/* the message's type and code (RFC 792, RFC 4443) */
	uint32_t info;		/* ee_info: the next-hop MTU of "fragmentation needed", else 0 */
	int err;		/* ee_errno: the errno the kernel made of it */
	struct pscope_addr offender;	/* who sent it (SO_EE_OFFENDER); len 0 if not given */
	bool offender_local;	/* the sender is an address of this host */
};

/* A failed connect, explained. */
struct pscope_connfail {
	enum pscope_fail_kind kind;
	int err;		/* the errno connect() or SO_ERROR gave (positive) */
	bool have_icmp;
	struct pscope_icmp icmp;
	struct pscope_addr neighbour;	/* PSCOPE_FAIL_NEIGH: the next hop that did not answer
					 * (DST, or the route's gateway), port 0 */
	long long elapsed_ms;	/* from connect() to the failure */
	unsigned syns;		/* SYNs sent: 1 + retransmissions (TCP_INFO), 0 if unknown */
};

/*
 * Asks the kernel to queue ICMP errors on socket FD of FAMILY (IP_RECVERR;
 * on an AF_INET6 socket IPV6_RECVERR, and IP_RECVERR too, for IPv4-mapped
 * destinations), ON true, or to stop (which empties the queue: on a
 * connected socket, IP_RECVERR makes soft ICMP errors fatal, tcp_v4_err()).
 * One or two system calls, as a connect -n makes one per connection.
 * Returns 0 or -errno from setsockopt(): -EBADF, -ENOTSOCK, -ENOPROTOOPT.
 */
int pscope_recverr(int fd, int family, bool on);

/*
 * Takes the first ICMP or ICMPv6 error off FD's error queue
 * (recvmsg(MSG_ERRQUEUE)) into *ICMP.  Returns 1 if one was there, 0 if
 * the queue holds no ICMP error (-EAGAIN from the kernel; entries of other
 * origins are skipped), or -errno from recvmsg().
 */
int pscope_icmp_read(int fd, struct pscope_icmp *icmp);

/*
 * Explains why the connect of FD to DST failed with -ERR after ELAPSED_MS,
 * into *WHY: reads FD's error queue (pscope_recverr() on before connect()),
 * its TCP state and SYN count (TCP_INFO, tcp(7)), and, for a host or address
 * unreachable this host sent itself, the kernel's neighbour entry of the next
 * hop (rtnetlink(7): the route's gateway or DST, NUD_FAILED or NUD_INCOMPLETE:
 * no ARP or neighbour discovery answer; else it is this host's firewall).  DEADLINE_PASSED says the
 * caller gave up waiting (its -ETIMEDOUT): if the kernel had already closed
 * the socket, its own SYN retries ended first.  The classes are those of
 * enum pscope_fail_kind.  Returns 0, or -EINVAL if ERR is 0.
 */
int pscope_connfail_explain(int fd, const struct pscope_addr *dst, int err, long long elapsed_ms,
			    bool deadline_passed, struct pscope_connfail *why);

/*
 * Connects FD to A as pscope_connect() does (TIMEOUT_MS, negative: no
 * limit), with the error queue on while it connects.  Returns 0 (the queue
 * is off again), or -errno of the failure with *WHY filled in
 * (pscope_connfail_explain()).
 */
int pscope_connect_explained(int fd, const struct pscope_addr *a, int timeout_ms,
			     struct pscope_connfail *why);

/*
 * The name of an ICMP (FAMILY AF_INET) or ICMPv6 (AF_INET6) TYPE: "destination
 * unreachable", "time exceeded", ... (RFC 792, RFC 4443 section 2.1), or NULL
 * if unknown.
 */
const char *pscope_icmp_type_name(int family, unsigned type);

/*
 * The name of CODE of destination unreachable (ICMP type 3, RFC 792, RFC
 * 1122 3.2.2.1, RFC 1812 5.2.7.1; ICMPv6 type 1, RFC 4443 3.1, RFC 6550,
 * RFC 8883) and of the codes of time exceeded and parameter problem: "port
 * unreachable", "communication administratively prohibited", ... or NULL if
 * unknown.
 */
const char *pscope_icmp_code_name(int family, unsigned type, unsigned code);

/* A short name of KIND for scripts: "reset", "icmp", "host-down", "local-icmp", "local", "timeout", "syn-retries", "other". */
const char *pscope_fail_kind_name(enum pscope_fail_kind kind);

#endif
