/*
 * portscope: which listeners the kernel puts in one SO_REUSEPORT group, that
 * is, among which it spreads new connections.
 */
#ifndef PORTSCOPE_REUSEPORT_H
#define PORTSCOPE_REUSEPORT_H

#include <stdbool.h>
#include "diag.h"
#include "owners.h"

/*
 * The bound device of socket S (sk_bound_dev_if: 0 for none): from the kernel's
 * listing if it has it (sock_diag's idiag_if; not PSCOPE_DIAG_NO_IFINDEX), else
 * from the owner's options O
 * (SO_BINDTOIFINDEX; O may be NULL).  Returns the interface index, 0, or
 * -ENODATA if neither source knows it (a /proc listing of a socket whose
 * options could not be read).
 */
long pscope_bound_dev_if(const struct pscope_diag_sock *s, const struct pscope_sockopts *o);

/*
 * True if the kernel puts TCP listeners A and B (with their options AO and BO,
 * read from their owners) in one SO_REUSEPORT group.  This is the whole test of
 * inet_reuseport_add_sock() in net/ipv4/inet_hashtables.c (the same in Linux 6.1,
 * Debian 12's, and 6.18, which reads the uid as sk_uid()), which a listener passes
 * at listen() to join another's group:
 *   both in TCP_LISTEN (only listeners are in the listening hash it walks);
 *   the same family (sk_family);
 *   the same IPV6_V6ONLY (ipv6_only_sock());
 *   the same bound device (sk_bound_dev_if, SO_BINDTODEVICE);
 *   the same port and network namespace (icsk_bind_hash == tb: one bind bucket;
 *     a listing is of one namespace, so the port is what is left to compare);
 *   SO_REUSEPORT on both (sk_reuseport);
 *   the same owner uid (sock_i_uid(), which sock_diag and /proc report as uid);
 *   the same bound address, inet_rcv_saddr_equal(sk, sk2, false): exactly equal,
 *     a wildcard equal only to the wildcard (0.0.0.0 to 0.0.0.0, :: to ::).
 * Each condition is an equality, so "is in one group with" is an equivalence and
 * the groups are its classes.  False if either's options, uid or bound device are
 * unknown (AO or BO NULL, PSCOPE_DIAG_NO_UID, no device from either source), as
 * the rule cannot be decided then.  UDP's rule
 * (udp_reuseport_add_sock() in net/ipv4/udp.c, at bind()) is not covered: this
 * answers false for UDP sockets.
 */
bool pscope_reuseport_same_group(const struct pscope_diag_sock *a, const struct pscope_sockopts *ao,
				 const struct pscope_diag_sock *b, const struct pscope_sockopts *bo);

#endif
