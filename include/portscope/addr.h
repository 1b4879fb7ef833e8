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

/*
 * Limits apply per part of an endpoint, not to its whole text: a host name has
 * at most 253 characters (a trailing dot not counted) in labels of at most 63
 * (RFC 1035 section 2.3.4, RFC 1123 section 2.1); the port is separate.
 */
#define PSCOPE_HOST_MAX 253
#define PSCOPE_LABEL_MAX 63
/* Longest endpoint text the grammar can accept: a 253-character name, ':', 5 digits. */
#define PSCOPE_ENDPOINT_MAX (PSCOPE_HOST_MAX + 6)

/* Room for any formatted address: "[v6%scope]:65535" or Python's 4-tuple. */
#define PSCOPE_ADDRSTRLEN 96

/* Error codes beyond errno's range. */
#define PSCOPE_ERR_BASE 4096
enum pscope_error {
	PSCOPE_E_EMPTY = PSCOPE_ERR_BASE + 1, /* endpoint is empty */
	PSCOPE_E_TOOLONG,	/* host name longer than PSCOPE_HOST_MAX */
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
	PSCOPE_E_PORT_RANGE,	/* port digits with a value above 65535 */
	PSCOPE_E_SPACE,		/* white space before, after or inside */
	PSCOPE_E_CONTROL,	/* a control character */
	PSCOPE_E_NOT_QUAD,	/* numeric host that is not a dotted quad (127.1, 0x7f.0.0.1) */
	PSCOPE_E_NAME_CHAR,	/* host name with a character other than letter, digit, '-', '.' */
	PSCOPE_E_LABEL,		/* empty label, or one that starts or ends with '-' */
	PSCOPE_E_LABEL_LONG,	/* a label longer than PSCOPE_LABEL_MAX */
	PSCOPE_E_SCOPE_BAD,	/* %scope that is no interface name or index */
	PSCOPE_E_SCOPE_NOT_LL,	/* %scope on an address that is not link-local */
	PSCOPE_E_SCOPE_NEEDED,	/* link-local address without its %scope */
	PSCOPE_E_SCOPE_UNKNOWN,	/* %scope names no interface of this machine */
	PSCOPE_E_ANY_NOT_DEST,	/* '*', 0.0.0.0 or :: as a destination */
	PSCOPE_E_NOT_UNICAST,	/* multicast or broadcast address for TCP */
	PSCOPE_E_V4COMPAT,	/* deprecated IPv4-compatible IPv6 address (::127.0.0.1) */
	PSCOPE_E_FAMILY,	/* address of another family than the one asked for */
	PSCOPE_E_NAME_UNUSABLE,	/* a name resolves only to addresses that cannot serve */
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

/* What the host part of an endpoint is. */
enum pscope_host_kind {
	PSCOPE_HOST_NONE,	/* no host: a bare port without a default host */
	PSCOPE_HOST_ANY,	/* '*': any address */
	PSCOPE_HOST_IPV4,	/* a dotted quad, as inet_pton(AF_INET) reads it */
	PSCOPE_HOST_IPV6,	/* an IPv6 literal, as inet_pton(AF_INET6) reads it, with %scope */
	PSCOPE_HOST_NAME,	/* a host name, syntactically a DNS name (RFC 1123) */
};

/* An endpoint as written by a user, split and checked but not yet resolved. */
struct pscope_endpoint {
	char host[PSCOPE_HOST_MAX + 2]; /* without brackets; "" if none */
	uint16_t port;
	bool host_given;
	bool port_given;
	enum pscope_host_kind kind;
	/* After a failed parse: the part of the text at fault (offset, length). */
	size_t err_at, err_len;
};

/*
 * Parses LEN bytes of S, portscope's endpoint grammar, the same for every
 * command:
 *
 *   ENDPOINT = PORT | HOST | HOST ":" PORT | "[" IPV6 "]" [":" PORT] | IPV6
 *   HOST     = IPV4 | NAME | "*"
 *   PORT     = 1*5DIGIT, 0 to 65535 (no sign, no space)
 *   IPV4     = a dotted quad as inet_pton(AF_INET) reads it (no 127.1,
 *              0x7f.0.0.1, 017.0.0.1, 2130706433: inet_aton's forms)
 *   IPV6     = an address as inet_pton(AF_INET6) reads it, then an optional
 *              "%" ZONE (RFC 4007 section 11.2: an interface name of at most
 *              15 characters, or an index), on a link-local address only
 *   NAME     = labels of 1 to 63 letters, digits and hyphens (not first or
 *              last), joined by dots, at most 253 characters, an optional
 *              final dot, the last label not all digits (RFC 1123 section
 *              2.1, RFC 3696 section 2)
 *
 * A bare number is a port; the missing part takes DEFAULT_HOST or
 * DEFAULT_PORT (DEFAULT_HOST may be NULL: then a bare port leaves host empty,
 * kind PSCOPE_HOST_NONE).  DEFAULT_HOST is trusted, not parsed; its kind is
 * found as for a written host.  No system call, no resolver.  Returns 0 or a
 * negated PSCOPE_E_* code; then EP->err_at and err_len mark the part at fault:
 *   -PSCOPE_E_EMPTY, -PSCOPE_E_NUL, -PSCOPE_E_SPACE, -PSCOPE_E_CONTROL  the text
 *   -PSCOPE_E_PORT, -PSCOPE_E_PORT_RANGE  the port
 *   -PSCOPE_E_HOST_EMPTY, -PSCOPE_E_BRACKET, -PSCOPE_E_BAD_IPV6,
 *   -PSCOPE_E_AMBIGUOUS, -PSCOPE_E_NEED_BRACKETS  the shape
 *   -PSCOPE_E_NOT_QUAD  a host inet_aton or a resolver would read as a number
 *   -PSCOPE_E_NAME_CHAR, -PSCOPE_E_LABEL, -PSCOPE_E_LABEL_LONG,
 *   -PSCOPE_E_TOOLONG  a host name outside RFC 1123
 *   -PSCOPE_E_SCOPE_BAD, -PSCOPE_E_SCOPE_NOT_LL  the %scope
 */
int pscope_endpoint_parse(const char *s, size_t len, const char *default_host,
			  uint16_t default_port, struct pscope_endpoint *ep);

enum {
	PSCOPE_RESOLVE_PASSIVE = 1,	/* addresses to bind (serve) */
	PSCOPE_RESOLVE_NUMERIC = 2,	/* never ask a resolver */
	PSCOPE_RESOLVE_CONNECT = 4,	/* addresses to connect to (connect) */
};

/*
 * Resolves EP into at most MAX addresses of FAMILY (AF_UNSPEC for any) for
 * sockets of SOCKTYPE, duplicates removed.  Numeric hosts are converted here
 * with inet_pton (a zone through if_nametoindex), never by getaddrinfo; only
 * a NAME goes to getaddrinfo (AI_NUMERICSERV), in its order.  What a host
 * means depends on the use, one meaning each:
 *
 *   PSCOPE_RESOLVE_PASSIVE (to bind): '*' is 0.0.0.0 then :: (of FAMILY);
 *     no host is the wildcard too; multicast, broadcast and IPv4-compatible
 *     addresses and link-local ones without a zone are refused.
 *   PSCOPE_RESOLVE_CONNECT (to connect to): as PASSIVE, and '*' and the
 *     unspecified addresses (0.0.0.0, ::, ::ffff:0.0.0.0) are refused; no
 *     host is the loopback address.
 *   neither (an address to compare, or to print): any address as written;
 *     '*' and no host are refused with -PSCOPE_E_NOT_NUMERIC.
 *
 * A name's addresses go through the same checks; those that fail are left
 * out.  Returns how many addresses (at least 1), or:
 *   -PSCOPE_E_NOT_NUMERIC  a name with PSCOPE_RESOLVE_NUMERIC
 *   -PSCOPE_E_FAMILY       a literal of the other family than FAMILY
 *   -PSCOPE_E_SCOPE_UNKNOWN  a zone that names no interface
 *   -PSCOPE_E_SCOPE_NEEDED, -PSCOPE_E_NOT_UNICAST, -PSCOPE_E_V4COMPAT,
 *   -PSCOPE_E_ANY_NOT_DEST  a literal its use refuses (above)
 *   -PSCOPE_E_NAME_UNUSABLE  a name whose every address was refused
 *   getaddrinfo's errors, mapped (PSCOPE_EAI_BASE), or -errno
 */
int pscope_endpoint_resolve(const struct pscope_endpoint *ep, int family,
			    int socktype, int flags, struct pscope_addr *out,
			    size_t max);

/*
 * Writes into BUF (SIZE bytes) one sentence that says what is wrong with the
 * endpoint text S (LEN bytes), given the error ERR that pscope_endpoint_parse
 * or pscope_endpoint_resolve returned for it and the EP they filled, naming
 * the part at fault: "'127.1' is not a dotted quad (inet_aton would read it
 * as 127.0.0.1); write the address in full".  For a code of no endpoint,
 * pscope_strerror's text.  Returns the length written (truncated to fit).
 */
int pscope_endpoint_explain(const struct pscope_endpoint *ep, const char *s, size_t len,
			    int err, char *buf, size_t size);

/*
 * Parses a numeric "IPV4:PORT" or "[IPV6]:PORT" (the endpoint grammar, both
 * parts required) into A, taking the address as written (no use checks).
 * Returns 0, -PSCOPE_E_NOPORT, -PSCOPE_E_NOT_NUMERIC (a name, '*'), or a
 * code of pscope_endpoint_parse or of the zone's lookup.
 */
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
