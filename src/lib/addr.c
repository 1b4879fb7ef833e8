/* Endpoints and socket addresses: parse, resolve, format, compare. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "portscope/addr.h"

/* Parses LEN bytes of decimal digits as a port. Returns 0..65535 or -PSCOPE_E_PORT. */
static int parse_port(const char *s, size_t len)
{
	unsigned long v = 0;

	if (len == 0)
		return -PSCOPE_E_PORT;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -PSCOPE_E_PORT;
		v = v * 10 + (unsigned long)(s[i] - '0');
		if (v > 65535)
			return -PSCOPE_E_PORT;
	}
	return (int)v;
}

/* Linux interface names exclude '/', ':' and white space; brackets and '%' would confuse us. */
#define SCOPE_REJECT ":/[]% \t\r\n\v\f"

/* True if LEN bytes of S are an IPv6 literal, with an optional non-empty %scope. */
static bool is_ipv6(const char *s, size_t len)
{
	char buf[PSCOPE_ENDPOINT_MAX + 1];
	struct in6_addr a;
	char *pct;

	if (len == 0 || len > PSCOPE_ENDPOINT_MAX)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	pct = strchr(buf, '%');
	if (pct) {
		/* A scope is an interface name or number: never a colon, so never a port. */
		if (pct[1] == '\0' || strcspn(pct + 1, SCOPE_REJECT) != strlen(pct + 1))
			return false;
		*pct = '\0';
	}
	return inet_pton(AF_INET6, buf, &a) == 1;
}

static size_t count_char(const char *s, size_t len, char c)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += s[i] == c;
	return n;
}

/* A bare number is a port; so is anything that starts like one and has no dot. */
static bool looks_like_port(const char *s, size_t len)
{
	size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;

	return i < len && s[i] >= '0' && s[i] <= '9' && !memchr(s, '.', len);
}

static void set_host(struct pscope_endpoint *ep, const char *s, size_t len)
{
	memcpy(ep->host, s, len);
	ep->host[len] = '\0';
	ep->host_given = true;
}

static int set_port(struct pscope_endpoint *ep, const char *s, size_t len)
{
	int port = parse_port(s, len);

	if (port < 0)
		return port;
	ep->port = (uint16_t)port;
	ep->port_given = true;
	return 0;
}

static int parse_bracketed(const char *s, size_t len, struct pscope_endpoint *ep)
{
	const char *close = memchr(s, ']', len);
	size_t hlen, rest;

	if (!close)
		return -PSCOPE_E_BRACKET;
	hlen = (size_t)(close - s) - 1;
	if (!is_ipv6(s + 1, hlen))
		return -PSCOPE_E_BAD_IPV6;
	set_host(ep, s + 1, hlen);
	rest = len - (size_t)(close - s) - 1;
	if (rest == 0)
		return 0;
	if (close[1] != ':')
		return -PSCOPE_E_BRACKET;
	return set_port(ep, close + 2, rest - 1);
}

/* Two or more colons and no brackets: an IPv6 address alone, or a mistake. */
static int parse_bare_ipv6(const char *s, size_t len, struct pscope_endpoint *ep)
{
	const char *colon = memrchr(s, ':', len);
	size_t hlen = (size_t)(colon - s);
	bool whole = is_ipv6(s, len);
	bool split = is_ipv6(s, hlen) && parse_port(colon + 1, len - hlen - 1) >= 0;

	if (whole && split)
		return -PSCOPE_E_AMBIGUOUS;
	if (split)
		return -PSCOPE_E_NEED_BRACKETS;
	if (!whole)
		return -PSCOPE_E_BAD_IPV6;
	set_host(ep, s, len);
	return 0;
}

int pscope_endpoint_parse(const char *s, size_t len, const char *default_host,
			  uint16_t default_port, struct pscope_endpoint *ep)
{
	const char *colon;
	size_t colons;

	memset(ep, 0, sizeof(*ep));
	ep->port = default_port;
	if (default_host && strlen(default_host) <= PSCOPE_ENDPOINT_MAX)
		strcpy(ep->host, default_host);
	if (len == 0)
		return -PSCOPE_E_EMPTY;
	if (len > PSCOPE_ENDPOINT_MAX)
		return -PSCOPE_E_TOOLONG;
	if (memchr(s, '\0', len))
		return -PSCOPE_E_NUL;
	if (s[0] == '[')
		return parse_bracketed(s, len, ep);
	if (memchr(s, ']', len))
		return -PSCOPE_E_BRACKET;
	colons = count_char(s, len, ':');
	if (colons >= 2)
		return parse_bare_ipv6(s, len, ep);
	if (colons == 0) {
		if (looks_like_port(s, len))
			return set_port(ep, s, len);
		set_host(ep, s, len);
		return 0;
	}
	colon = memchr(s, ':', len);
	if (colon == s)
		return -PSCOPE_E_HOST_EMPTY;
	set_host(ep, s, (size_t)(colon - s));
	if (colon + 1 == s + len)
		return -PSCOPE_E_PORT;
	return set_port(ep, colon + 1, len - (size_t)(colon - s) - 1);
}

int pscope_addr_set(struct pscope_addr *a, const struct sockaddr *sa, socklen_t len)
{
	memset(a, 0, sizeof(*a));
	if (len > sizeof(a->u))
		return -EINVAL;
	memcpy(&a->u, sa, len);
	a->len = len;
	return 0;
}

static int eai_error(int eai)
{
	if (eai == EAI_SYSTEM)
		return errno ? -errno : -EIO;
	return -(PSCOPE_EAI_BASE - eai);
}

static bool seen(const struct pscope_addr *out, size_t n, const struct addrinfo *ai)
{
	for (size_t i = 0; i < n; i++)
		if (out[i].len == ai->ai_addrlen && !memcmp(&out[i].u, ai->ai_addr, ai->ai_addrlen))
			return true;
	return false;
}

int pscope_endpoint_resolve(const struct pscope_endpoint *ep, int family,
			    int socktype, int flags, struct pscope_addr *out,
			    size_t max)
{
	struct addrinfo hints = { 0 }, *res, *ai;
	char port[8];
	size_t n = 0;
	int rc;

	hints.ai_family = family;
	hints.ai_socktype = socktype;
	hints.ai_flags = AI_NUMERICSERV;
	if (flags & PSCOPE_RESOLVE_PASSIVE)
		hints.ai_flags |= AI_PASSIVE;
	if (flags & PSCOPE_RESOLVE_NUMERIC)
		hints.ai_flags |= AI_NUMERICHOST;
	snprintf(port, sizeof(port), "%u", (unsigned)ep->port);
	rc = getaddrinfo(ep->host[0] ? ep->host : NULL, port, &hints, &res);
	if (rc != 0)
		return eai_error(rc);
	for (ai = res; ai && n < max; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (ai->ai_addrlen > sizeof(out[n].u) || seen(out, n, ai))
			continue;
		pscope_addr_set(&out[n++], ai->ai_addr, ai->ai_addrlen);
	}
	freeaddrinfo(res);
	return n > 0 ? (int)n : eai_error(EAI_NONAME);
}

int pscope_addr_parse(const char *s, size_t len, struct pscope_addr *a)
{
	struct pscope_endpoint ep;
	int rc;

	memset(a, 0, sizeof(*a));
	rc = pscope_endpoint_parse(s, len, NULL, 0, &ep);
	if (rc < 0)
		return rc;
	if (!ep.port_given)
		return -PSCOPE_E_NOPORT;
	if (!ep.host_given)
		return -PSCOPE_E_NOT_NUMERIC;
	rc = pscope_endpoint_resolve(&ep, AF_UNSPEC, SOCK_STREAM, PSCOPE_RESOLVE_NUMERIC, a, 1);
	if (rc < 0)
		return -PSCOPE_E_NOT_NUMERIC;
	return 0;
}

int pscope_addr_port(const struct pscope_addr *a)
{
	switch (a->u.sa.sa_family) {
	case AF_INET:
		return ntohs(a->u.sin.sin_port);
	case AF_INET6:
		return ntohs(a->u.sin6.sin6_port);
	default:
		return -EAFNOSUPPORT;
	}
}

int pscope_addr_set_port(struct pscope_addr *a, uint16_t port)
{
	switch (a->u.sa.sa_family) {
	case AF_INET:
		a->u.sin.sin_port = htons(port);
		return 0;
	case AF_INET6:
		a->u.sin6.sin6_port = htons(port);
		return 0;
	default:
		return -EAFNOSUPPORT;
	}
}

static int fit(int n, size_t size)
{
	return n < 0 || (size_t)n >= size ? -ENOSPC : n;
}

/* Writes V in decimal at P. Returns the end. */
static char *put_uint(char *p, unsigned v)
{
	char tmp[10];
	int n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

/*
 * Formats the host part into BUF (at least INET6_ADDRSTRLEN + IF_NAMESIZE + 2
 * bytes).  IPv4 is written by hand: listing a million sockets formats two
 * million addresses, and this is the hot path.  Returns the length or -error.
 */
static int host_text(const struct pscope_addr *a, char *buf)
{
	const uint8_t *b = (const uint8_t *)&a->u.sin.sin_addr;
	char *p = buf;
	size_t n;

	if (a->u.sa.sa_family == AF_INET) {
		for (int i = 0; i < 4; i++) {
			if (i)
				*p++ = '.';
			p = put_uint(p, b[i]);
		}
		*p = '\0';
		return (int)(p - buf);
	}
	if (a->u.sa.sa_family != AF_INET6)
		return -EAFNOSUPPORT;
	if (!inet_ntop(AF_INET6, &a->u.sin6.sin6_addr, buf, INET6_ADDRSTRLEN))
		return -errno;
	n = strlen(buf);
	if (a->u.sin6.sin6_scope_id) {
		char ifname[IF_NAMESIZE];

		buf[n++] = '%';
		/* getaddrinfo takes a name as the scope of link-local addresses only. */
		if ((IN6_IS_ADDR_LINKLOCAL(&a->u.sin6.sin6_addr) ||
		     IN6_IS_ADDR_MC_LINKLOCAL(&a->u.sin6.sin6_addr)) &&
		    if_indextoname(a->u.sin6.sin6_scope_id, ifname)) {
			strcpy(buf + n, ifname);
			n += strlen(ifname);
		} else {
			n = (size_t)(put_uint(buf + n, a->u.sin6.sin6_scope_id) - buf);
			buf[n] = '\0';
		}
	}
	return (int)n;
}

#define HOST_TEXT_MAX (INET6_ADDRSTRLEN + IF_NAMESIZE + 2)

int pscope_addr_host(const struct pscope_addr *a, char *buf, size_t size)
{
	char host[HOST_TEXT_MAX];
	int n = host_text(a, host);

	if (n < 0)
		return n;
	if ((size_t)n >= size)
		return -ENOSPC;
	memcpy(buf, host, (size_t)n + 1);
	return n;
}

int pscope_addr_format(const struct pscope_addr *a, char *buf, size_t size)
{
	char text[HOST_TEXT_MAX + 9], *p = text;
	int n;

	if (a->u.sa.sa_family == AF_INET6)
		*p++ = '[';
	n = host_text(a, p);
	if (n < 0)
		return n;
	p += n;
	if (a->u.sa.sa_family == AF_INET6)
		*p++ = ']';
	*p++ = ':';
	p = put_uint(p, (unsigned)pscope_addr_port(a));
	n = (int)(p - text);
	if ((size_t)n >= size)
		return -ENOSPC;
	memcpy(buf, text, (size_t)n);
	buf[n] = '\0';
	return n;
}

/*
 * Python 3.7 and later (bpo-32221, socketmodule.c's makesockaddr()) write an
 * IPv6 host with inet_ntop(): the scope is only the fourth item, never
 * "%lo" in the host, and the flow label is in host byte order.
 */
int pscope_addr_py(const struct pscope_addr *a, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];
	int rc;

	if (a->u.sa.sa_family != AF_INET6) {
		rc = pscope_addr_host(a, host, sizeof(host));
		if (rc < 0)
			return rc;
		return fit(snprintf(buf, size, "('%s', %d)", host, pscope_addr_port(a)), size);
	}
	if (!inet_ntop(AF_INET6, &a->u.sin6.sin6_addr, host, sizeof(host)))
		return -errno;
	return fit(snprintf(buf, size, "('%s', %d, %u, %u)", host, pscope_addr_port(a),
			    (unsigned)ntohl(a->u.sin6.sin6_flowinfo),
			    (unsigned)a->u.sin6.sin6_scope_id), size);
}

bool pscope_addr_is_v4mapped(const struct pscope_addr *a)
{
	return a->u.sa.sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a->u.sin6.sin6_addr);
}

/* Rewrites an IPv4-mapped IPv6 address as the IPv4 address it carries. */
static void unmap(const struct pscope_addr *a, struct pscope_addr *out)
{
	*out = *a;
	if (!pscope_addr_is_v4mapped(a))
		return;
	memset(out, 0, sizeof(*out));
	out->len = sizeof(struct sockaddr_in);
	out->u.sin.sin_family = AF_INET;
	out->u.sin.sin_port = a->u.sin6.sin6_port;
	memcpy(&out->u.sin.sin_addr, &a->u.sin6.sin6_addr.s6_addr[12], 4);
}

bool pscope_addr_same(const struct pscope_addr *a, const struct pscope_addr *b)
{
	struct pscope_addr x, y;

	unmap(a, &x);
	unmap(b, &y);
	if (x.u.sa.sa_family != y.u.sa.sa_family)
		return false;
	if (x.u.sa.sa_family == AF_INET)
		return x.u.sin.sin_port == y.u.sin.sin_port &&
		       x.u.sin.sin_addr.s_addr == y.u.sin.sin_addr.s_addr;
	if (x.u.sa.sa_family == AF_INET6)
		return x.u.sin6.sin6_port == y.u.sin6.sin6_port &&
		       x.u.sin6.sin6_scope_id == y.u.sin6.sin6_scope_id &&
		       IN6_ARE_ADDR_EQUAL(&x.u.sin6.sin6_addr, &y.u.sin6.sin6_addr);
	return false;
}

/* One numeric address of either family, port 0. */
static int parse_one(const char *s, size_t len, struct pscope_addr *a)
{
	char buf[PSCOPE_ENDPOINT_MAX + 8];
	size_t n;

	if (len == 0 || len > PSCOPE_ENDPOINT_MAX || memchr(s, '\0', len))
		return -PSCOPE_E_RANGE;
	n = (size_t)snprintf(buf, sizeof(buf), memchr(s, ':', len) ? "[%.*s]:0" : "%.*s:0",
			     (int)len, s);
	return pscope_addr_parse(buf, n, a) < 0 ? -PSCOPE_E_RANGE : 0;
}

int pscope_range_parse(const char *s, size_t len, struct pscope_range *r)
{
	const char *dash = memchr(s, '-', len);
	struct pscope_addr last;
	uint32_t a, b;

	memset(r, 0, sizeof(*r));
	if (!dash) {
		r->count = 1;
		return parse_one(s, len, &r->first);
	}
	if (parse_one(s, (size_t)(dash - s), &r->first) < 0 ||
	    parse_one(dash + 1, len - (size_t)(dash - s) - 1, &last) < 0 ||
	    r->first.u.sa.sa_family != AF_INET || last.u.sa.sa_family != AF_INET)
		return -PSCOPE_E_RANGE;
	a = ntohl(r->first.u.sin.sin_addr.s_addr);
	b = ntohl(last.u.sin.sin_addr.s_addr);
	if (b < a || b - a >= 65536)
		return -PSCOPE_E_RANGE;
	r->count = b - a + 1;
	return 0;
}

void pscope_range_at(const struct pscope_range *r, uint32_t i, uint16_t port,
		     struct pscope_addr *out)
{
	*out = r->first;
	if (out->u.sa.sa_family == AF_INET)
		out->u.sin.sin_addr.s_addr = htonl(ntohl(r->first.u.sin.sin_addr.s_addr) + i);
	pscope_addr_set_port(out, port);
}
