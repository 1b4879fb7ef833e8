/*
 * portscope: endpoints and socket addresses.
 *
 * Every function returns a value >= 0 on success or a negative error code:
 * -errno, or one of the PSCOPE_E_* codes below, or a getaddrinfo error mapped
 * into its own range.  pscope_strerror() turns any of them into a message.
 * Nothing here prints, exits or allocates memory the caller must free.
 */
#ifndef PORTSCOPE_ADDR_H
#define PORTSCOPE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* Longest endpoint text accepted, in bytes. */
#define PSCOPE_ENDPOINT_MAX 255

/* Room for any formatted address: "[v6%scope]:65535" or Python's 4-tuple. */
#define PSCOPE_ADDRSTRLEN 96

/* Error codes beyond errno's range. */
#define PSCOPE_ERR_BASE 4096
enum pscope_error {
	PSCOPE_E_EMPTY = PSCOPE_ERR_BASE + 1, /* endpoint is empty */
	PSCOPE_E_TOOLONG,	/* longer than PSCOPE_ENDPOINT_MAX */
	PSCOPE_E_NUL,		/* contains a NUL byte */
	PSCOPE_E_PORT,		/* port not a number from 0 to 65535 */
	PSCOPE_E_NOPORT,	/* a port was required and is missing */
	PSCOPE_E_HOST_EMPTY,	/* ":PORT" with nothing before the colon */
	PSCOPE_E_BRACKET,	/* "[..." without "]", or junk after "]" */
	PSCOPE_E_BAD_IPV6,	/* text in brackets is not an IPv6 address */
	PSCOPE_E_AMBIGUOUS,	/* "::1:80": an address, or an address and port? */
	PSCOPE_E_NEED_BRACKETS,	/* IPv6 address with a port, not in brackets */
	PSCOPE_E_NOT_NUMERIC,	/* a numeric address was required */
	PSCOPE_E_PROTO,		/* a malformed portscope/1 line */
	PSCOPE_E_RANGE,		/* a malformed address range */
	PSCOPE_E_LAST
};

/* getaddrinfo's EAI_* codes (negative in glibc) map to -(PSCOPE_EAI_BASE - eai). */
#define PSCOPE_EAI_BASE 8192

/* A socket address of any family the kernel may return, with its length. */
struct pscope_addr {
	socklen_t len;
	union {
		struct sockaddr sa;
		struct sockaddr_in sin;
		struct sockaddr_in6 sin6;
		struct sockaddr_storage ss;
	} u;
};

/* An endpoint as written by a user, split but not yet resolved. */
struct pscope_endpoint {
	char host[PSCOPE_ENDPOINT_MAX + 1]; /* without brackets; "" if none */
	uint16_t port;
	bool host_given;
	bool port_given;
};

/*
 * Parses LEN bytes of S as PORT, HOST, HOST:PORT, IPv4:PORT, [IPv6]:PORT,
 * [IPv6] or a bare IPv6 address.  A bare number is a port; the missing part
 * takes DEFAULT_HOST or DEFAULT_PORT (DEFAULT_HOST may be NULL: then a bare
 * port leaves host empty).  Returns 0 or a PSCOPE_E_* code, negated.
 */
int pscope_endpoint_parse(const char *s, size_t len, const char *default_host,
			  uint16_t default_port, struct pscope_endpoint *ep);

enum {
	PSCOPE_RESOLVE_PASSIVE = 1,	/* addresses to bind, not to connect to */
	PSCOPE_RESOLVE_NUMERIC = 2,	/* never ask a resolver */
};

/*
 * Resolves EP into at most MAX addresses of FAMILY (AF_UNSPEC for any) for
 * sockets of SOCKTYPE, in getaddrinfo's order with duplicates removed.
 * Returns how many (at least 1) or a negative error code.
 */
int pscope_endpoint_resolve(const struct pscope_endpoint *ep, int family,
			    int socktype, int flags, struct pscope_addr *out,
			    size_t max);

/* Parses a numeric "ADDR:PORT" or "[ADDR]:PORT" into A. Returns 0 or -error. */
int pscope_addr_parse(const char *s, size_t len, struct pscope_addr *a);

/* Copies a kernel address into A. Returns 0 or -EINVAL if LEN is too large. */
int pscope_addr_set(struct pscope_addr *a, const struct sockaddr *sa,
		    socklen_t len);

/* The port of an AF_INET or AF_INET6 address, or -EAFNOSUPPORT. */
int pscope_addr_port(const struct pscope_addr *a);

/* Sets the port of an AF_INET or AF_INET6 address. Returns 0 or -EAFNOSUPPORT. */
int pscope_addr_set_port(struct pscope_addr *a, uint16_t port);

/*
 * The following format into BUF of SIZE bytes and return the length written
 * (as snprintf) or -ENOSPC if it did not fit, -EAFNOSUPPORT for other families.
 *   host:   "127.0.0.1", "::1", "fe80::1%lo"
 *   format: "127.0.0.1:8080", "[::1]:8080"
 *   py:     Python's tuple, "('127.0.0.1', 8080)", "('::1', 8080, 0, 0)",
 *           "('fe80::1', 8080, 0, 1)": as Python 3.7 and later write it
 *           (bpo-32221), the scope is only the fourth item, as a number
 */
int pscope_addr_host(const struct pscope_addr *a, char *buf, size_t size);
int pscope_addr_format(const struct pscope_addr *a, char *buf, size_t size);
int pscope_addr_py(const struct pscope_addr *a, char *buf, size_t size);

/*
 * True if A and B name the same address and port.  An IPv4-mapped IPv6
 * address (::ffff:127.0.0.1) equals the IPv4 address it carries, as it is
 * the same peer seen through a dual-stack socket.
 */
bool pscope_addr_same(const struct pscope_addr *a, const struct pscope_addr *b);

/* True if A is an IPv4-mapped IPv6 address. */
bool pscope_addr_is_v4mapped(const struct pscope_addr *a);

/* An inclusive range of IPv4 addresses ("127.0.0.2-127.0.0.80"), or one address. */
struct pscope_range {
	struct pscope_addr first;
	uint32_t count;
};

/*
 * Parses LEN bytes of S as "A-B" (IPv4, A <= B, at most 65536 addresses) or as
 * one numeric address of either family, with port 0.  Returns 0 or -error.
 */
int pscope_range_parse(const char *s, size_t len, struct pscope_range *r);

/* The I-th address of R (I < R->count), with PORT. */
void pscope_range_at(const struct pscope_range *r, uint32_t i, uint16_t port,
		     struct pscope_addr *out);

/* A message for any error code returned by this library (ERR < 0). */
const char *pscope_strerror(int err);

#endif
