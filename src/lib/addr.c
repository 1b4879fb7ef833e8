/* Endpoints and socket addresses: parse, resolve, format, compare. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "portscope/addr.h"

/*
 * The endpoint grammar (addr.h).  Each part is checked by one function that
 * returns 0 or a negated PSCOPE_E_* code and marks the part at fault in the
 * endpoint (err_at, err_len), so that pscope_endpoint_explain can name it.
 */

static int fault(struct pscope_endpoint *ep, int err, size_t at, size_t len)
{
	ep->err_at = at;
	ep->err_len = len;
	return -err;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!is_digit(s[i]))
			return false;
	return len > 0;
}

/* White space as isspace() in the C locale. */
static bool is_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool is_control(char c)
{
	return (unsigned char)c < 0x20 || c == 0x7f;
}

/* Decimal digits only, 0 to 65535.  Returns the port, -PSCOPE_E_PORT or -PSCOPE_E_PORT_RANGE. */
static int port_value(const char *s, size_t len)
{
	unsigned long v = 0;

	if (!all_digits(s, len))
		return -PSCOPE_E_PORT;
	for (size_t i = 0; i < len; i++) {
		v = v * 10 + (unsigned long)(s[i] - '0');
		if (v > 65535)
			return -PSCOPE_E_PORT_RANGE;
	}
	return (int)v;
}

/* Linux interface names (dev_valid_name): at most IFNAMSIZ - 1 bytes, no '/', ':' or space. */
#define ZONE_REJECT ":/[]%"

/*
 * Checks LEN bytes of S (at offset AT of the text) as an IPv6 literal with an
 * optional %zone (RFC 4007 section 11.2), as inet_pton(AF_INET6) reads it.
 */
static int check_ipv6(struct pscope_endpoint *ep, const char *s, size_t at, size_t len)
{
	char buf[INET6_ADDRSTRLEN];
	const char *pct = memchr(s, '%', len);
	size_t alen = pct ? (size_t)(pct - s) : len;
	struct in6_addr a;

	if (alen == 0 || alen >= sizeof(buf))
		return fault(ep, PSCOPE_E_BAD_IPV6, at, alen);
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET6, buf, &a) != 1)
		return fault(ep, PSCOPE_E_BAD_IPV6, at, alen);
	if (pct) {
		size_t zlen = len - alen - 1;
		const char *z = pct + 1;

		if (zlen == 0 || zlen >= IF_NAMESIZE)
			return fault(ep, PSCOPE_E_SCOPE_BAD, at + alen, zlen + 1);
		for (size_t i = 0; i < zlen; i++)
			if (strchr(ZONE_REJECT, z[i]) || (unsigned char)z[i] > 0x7e)
				return fault(ep, PSCOPE_E_SCOPE_BAD, at + alen, zlen + 1);
		if (!IN6_IS_ADDR_LINKLOCAL(&a) && !IN6_IS_ADDR_MC_LINKLOCAL(&a) &&
		    !IN6_IS_ADDR_MC_NODELOCAL(&a))
			return fault(ep, PSCOPE_E_SCOPE_NOT_LL, at, len);
	}
	return 0;
}

/*
 * True if a resolver would read HOST (LEN bytes) as a number: its last label
 * is all digits (RFC 1123 section 2.1 keeps such names out of the DNS), or
 * inet_aton takes it (0x7f, 0x7f.1: glibc's getaddrinfo tries inet_aton first).
 */
static bool looks_numeric(const char *h, size_t len)
{
	char buf[PSCOPE_HOST_MAX + 2];
	struct in_addr a;
	const char *dot;
	size_t n = len;

	if (n > 0 && h[n - 1] == '.')
		n--;
	dot = memrchr(h, '.', n);
	if (all_digits(dot ? dot + 1 : h, dot ? n - (size_t)(dot + 1 - h) : n))
		return true;
	if (len >= sizeof(buf))
		return false;
	memcpy(buf, h, len);
	buf[len] = '\0';
	return inet_aton(buf, &a) != 0;
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
	       c == '.';
}

/* A host name as RFC 1123 section 2.1 writes it; one final dot allowed. */
static int check_name(struct pscope_endpoint *ep, const char *h, size_t at, size_t len)
{
	size_t n = len, start = 0;

	for (size_t i = 0; i < len; i++)
		if (!is_name_char(h[i]))
			return fault(ep, PSCOPE_E_NAME_CHAR, at + i, 1);
	if (h[n - 1] == '.' && n > 1)
		n--;
	if (n > PSCOPE_HOST_MAX)
		return fault(ep, PSCOPE_E_TOOLONG, at, len);
	for (size_t i = 0; i <= n; i++) {
		size_t llen;

		if (i < n && h[i] != '.')
			continue;
		llen = i - start;
		if (llen == 0)
			return fault(ep, PSCOPE_E_LABEL, at + start, 0);
		if (llen > PSCOPE_LABEL_MAX)
			return fault(ep, PSCOPE_E_LABEL_LONG, at + start, llen);
		if (h[start] == '-' || h[i - 1] == '-')
			return fault(ep, PSCOPE_E_LABEL, at + start, llen);
		start = i + 1;
	}
	return 0;
}

/* The host of HOST or HOST:PORT: '*', a dotted quad, or a name. */
static int check_host(struct pscope_endpoint *ep, const char *h, size_t at, size_t len,
		      enum pscope_host_kind *kind)
{
	char buf[INET_ADDRSTRLEN];
	struct in_addr a;

	if (len == 1 && h[0] == '*') {
		*kind = PSCOPE_HOST_ANY;
		return 0;
	}
	if (len < sizeof(buf)) {
		memcpy(buf, h, len);
		buf[len] = '\0';
		if (inet_pton(AF_INET, buf, &a) == 1) {
			*kind = PSCOPE_HOST_IPV4;
			return 0;
		}
	}
	if (looks_numeric(h, len))
		return fault(ep, PSCOPE_E_NOT_QUAD, at, len);
	*kind = PSCOPE_HOST_NAME;
	return check_name(ep, h, at, len);
}

static void set_host(struct pscope_endpoint *ep, const char *s, size_t len,
		     enum pscope_host_kind kind)
{
	memcpy(ep->host, s, len);
	ep->host[len] = '\0';
	ep->host_given = true;
	ep->kind = kind;
}

static int set_port(struct pscope_endpoint *ep, const char *s, size_t at, size_t len)
{
	int port = port_value(s, len);

	if (port < 0)
		return fault(ep, -port, at, len);
	ep->port = (uint16_t)port;
	ep->port_given = true;
	return 0;
}

/* [IPV6] or [IPV6]:PORT; S[0] is '['. */
static int parse_bracketed(struct pscope_endpoint *ep, const char *s, size_t len)
{
	const char *close = memchr(s, ']', len);
	size_t hlen, rest;
	int rc;

	if (!close)
		return fault(ep, PSCOPE_E_BRACKET, 0, len);
	hlen = (size_t)(close - s) - 1;
	rc = check_ipv6(ep, s + 1, 1, hlen);
	if (rc < 0)
		return rc;
	rest = len - hlen - 2;
	if (rest > 0 && close[1] != ':')
		return fault(ep, PSCOPE_E_BRACKET, hlen + 2, rest);
	set_host(ep, s + 1, hlen, PSCOPE_HOST_IPV6);
	return rest == 0 ? 0 : set_port(ep, close + 2, hlen + 3, rest - 1);
}

/* Two or more colons and no brackets: an IPv6 address alone, or a mistake. */
static int parse_bare_ipv6(struct pscope_endpoint *ep, const char *s, size_t len)
{
	const char *colon = memrchr(s, ':', len);
	size_t hlen = (size_t)(colon - s);
	struct pscope_endpoint scratch;
	int whole = check_ipv6(ep, s, 0, len);
	bool split = check_ipv6(&scratch, s, 0, hlen) == 0 &&
		     port_value(colon + 1, len - hlen - 1) >= 0;

	if (whole == 0 && split)
		return fault(ep, PSCOPE_E_AMBIGUOUS, 0, len);
	if (split)
		return fault(ep, PSCOPE_E_NEED_BRACKETS, 0, len);
	if (whole < 0)
		return whole;
	set_host(ep, s, len, PSCOPE_HOST_IPV6);
	return 0;
}

/* The text as a whole: not empty, no NUL, no white space, no control character. */
static int check_text(struct pscope_endpoint *ep, const char *s, size_t len)
{
	if (len == 0)
		return fault(ep, PSCOPE_E_EMPTY, 0, 0);
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\0')
			return fault(ep, PSCOPE_E_NUL, i, 1);
	if (is_space(s[0]))
		return fault(ep, PSCOPE_E_SPACE, 0, 1);
	if (is_space(s[len - 1]))
		return fault(ep, PSCOPE_E_SPACE, len - 1, 1);
	for (size_t i = 0; i < len; i++) {
		if (is_space(s[i]))
			return fault(ep, PSCOPE_E_SPACE, i, 1);
		if (is_control(s[i]))
			return fault(ep, PSCOPE_E_CONTROL, i, 1);
	}
	return 0;
}

/* The kind of a trusted default host ("127.0.0.1", "::1", "*", a name). */
static enum pscope_host_kind default_kind(const char *h)
{
	struct in6_addr a;

	if (!strcmp(h, "*"))
		return PSCOPE_HOST_ANY;
	if (inet_pton(AF_INET, h, &a) == 1)
		return PSCOPE_HOST_IPV4;
	if (strchr(h, ':'))
		return PSCOPE_HOST_IPV6;
	return PSCOPE_HOST_NAME;
}

/* A bare number is a port; so is anything that starts like one and has no dot. */
static bool looks_like_port(const char *s, size_t len)
{
	size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;

	return i < len && is_digit(s[i]) && !memchr(s, '.', len);
}

int pscope_endpoint_parse(const char *s, size_t len, const char *default_host,
			  uint16_t default_port, struct pscope_endpoint *ep)
{
	enum pscope_host_kind kind = PSCOPE_HOST_NONE;
	const char *colon;
	size_t colons = 0, hlen;
	int rc;

	memset(ep, 0, sizeof(*ep));
	ep->port = default_port;
	if (default_host && strlen(default_host) < sizeof(ep->host)) {
		strcpy(ep->host, default_host);
		ep->kind = default_kind(default_host);
	}
	rc = check_text(ep, s, len);
	if (rc < 0)
		return rc;
	if (s[0] == '[')
		return parse_bracketed(ep, s, len);
	if (memchr(s, ']', len))
		return fault(ep, PSCOPE_E_BRACKET, 0, len);
	for (size_t i = 0; i < len; i++)
		colons += s[i] == ':';
	if (colons >= 2)
		return parse_bare_ipv6(ep, s, len);
	if (colons == 0 && looks_like_port(s, len))
		return set_port(ep, s, 0, len);
	colon = memchr(s, ':', len);
	hlen = colon ? (size_t)(colon - s) : len;
	if (hlen == 0)
		return fault(ep, PSCOPE_E_HOST_EMPTY, 0, len);
	rc = check_host(ep, s, 0, hlen, &kind);
	if (rc < 0)
		return rc;
	set_host(ep, s, hlen, kind);
	return colon ? set_port(ep, colon + 1, hlen + 1, len - hlen - 1) : 0;
}

/* snprintf that appends at *N of BUF (SIZE bytes), truncating. */
static void put(char *buf, size_t size, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*n >= size)
		return;
	va_start(ap, fmt);
	k = vsnprintf(buf + *n, size - *n, fmt, ap);
	va_end(ap);
	if (k > 0)
		*n = *n + (size_t)k < size ? *n + (size_t)k : size - 1;
}

/* What inet_aton, and so getaddrinfo, would make of a numeric-looking host. */
static void explain_quad(const char *h, size_t len, char *buf, size_t size, size_t *n)
{
	char text[PSCOPE_HOST_MAX + 2], back[INET_ADDRSTRLEN];
	struct in_addr a;
	size_t dots = 0;

	len = len < sizeof(text) ? len : sizeof(text) - 1;
	memcpy(text, h, len);
	text[len] = '\0';
	bool radix = false;

	for (size_t i = 0; i < len; i++) {
		dots += text[i] == '.';
		/* 0x.. is hexadecimal, 0 and a digit octal, to inet_aton. */
		if ((i == 0 || text[i - 1] == '.') && text[i] == '0' && i + 1 < len &&
		    text[i + 1] != '.')
			radix = true;
	}
	if (inet_aton(text, &a) && inet_ntop(AF_INET, &a, back, sizeof(back))) {
		put(buf, size, n, "'%s' is not a dotted quad (inet_aton would read it as %s); %s",
		    text, back, dots < 3 && radix ? "write the address in full, in decimal"
				: dots < 3 ? "write the address in full"
					   : "write each number in decimal, without leading zeros");
		return;
	}
	if (len > 1 && text[len - 1] == '.') {
		text[len - 1] = '\0';
		put(buf, size, n, "'%s.' is not a dotted quad (with its final dot a resolver would look "
		    "it up as a name); write %s", text, text);
		return;
	}
	put(buf, size, n, "'%s' is not a dotted quad: an IPv4 address is four decimal numbers from "
	    "0 to 255, separated by dots", text);
}

/* The zone after '%' in HOST, or "". */
static const char *zone_of(const char *host)
{
	const char *pct = strchr(host, '%');

	return pct ? pct + 1 : "";
}

static void explain_any(const struct pscope_endpoint *ep, char *buf, size_t size, size_t *n)
{
	struct in6_addr a;
	bool v6 = ep->kind == PSCOPE_HOST_IPV6 && inet_pton(AF_INET6, ep->host, &a) == 1 &&
		  !IN6_IS_ADDR_V4MAPPED(&a);

	if (ep->kind == PSCOPE_HOST_ANY)
		put(buf, size, n, "'*' means any address and is not a destination; write 127.0.0.1 "
		    "or ::1");
	else
		put(buf, size, n, "'%s' means any address and is not a destination (Linux would "
		    "send to %s in its place); write %s", ep->host, v6 ? "::1" : "127.0.0.1",
		    v6 ? "::1" : "127.0.0.1");
}

static void explain_v4compat(const char *host, char *buf, size_t size, size_t *n)
{
	char v4[INET_ADDRSTRLEN] = "?";
	struct in6_addr a;

	if (inet_pton(AF_INET6, host, &a) == 1)
		inet_ntop(AF_INET, &a.s6_addr[12], v4, sizeof(v4));
	put(buf, size, n, "'%s' is an IPv4-compatible IPv6 address, deprecated (RFC 4291 section "
	    "2.5.5.1) and routed nowhere; write %s, or [::ffff:%s] for IPv4 through an IPv6 "
	    "socket", host, v4, v4);
}

static void explain_port(const char *p, size_t len, char *buf, size_t size, size_t *n)
{
	int w = len > 20 ? 20 : (int)len;
	const char *more = len > 20 ? "..." : "";

	if (len == 0)
		put(buf, size, n, "no port after ':'; a port is a decimal number from 0 to 65535");
	else if (p[0] == '+' || p[0] == '-')
		put(buf, size, n, "port '%.*s%s' has a sign; a port is a decimal number from 0 to "
		    "65535", w, p, more);
	else
		put(buf, size, n, "port '%.*s%s' is not a decimal number from 0 to 65535", w, p, more);
}

static void explain_name(const struct pscope_endpoint *ep, const char *s, int err, char *buf,
			 size_t size, size_t *n)
{
	const char *part = s + ep->err_at;
	unsigned char c = (unsigned char)part[0];
	size_t len = ep->err_len;

	switch (err) {
	case PSCOPE_E_NAME_CHAR:
		if (c > 0x20 && c < 0x7f)
			put(buf, size, n, "'%c' is not allowed in a host name: letters, digits, "
			    "hyphens and dots only (RFC 1123 section 2.1)", c);
		else
			put(buf, size, n, "byte 0x%02x is not allowed in a host name: letters, "
			    "digits, hyphens and dots only (RFC 1123 section 2.1; a name in another "
			    "script is written in its xn-- form)", c);
		return;
	case PSCOPE_E_TOOLONG:
		put(buf, size, n, "the host name has %zu characters; a host name has at most %d "
		    "(RFC 1035 section 2.3.4)", len - (part[len - 1] == '.'), PSCOPE_HOST_MAX);
		return;
	case PSCOPE_E_LABEL_LONG:
		put(buf, size, n, "the label '%.20s...' has %zu characters; a label of a host name "
		    "has at most %d (RFC 1035 section 2.3.4)", part, len, PSCOPE_LABEL_MAX);
		return;
	default:
		if (len == 0)
			put(buf, size, n, "empty label in the host name (a dot at its start, or two "
			    "dots in a row)");
		else
			put(buf, size, n, "the label '%.*s' %s with a hyphen (RFC 1123 section 2.1)",
			    (int)(len > 63 ? 63 : len), part, c == '-' ? "starts" : "ends");
	}
}

int pscope_endpoint_explain(const struct pscope_endpoint *ep, const char *s, size_t len,
			    int err, char *buf, size_t size)
{
	const char *part = s + (ep->err_at <= len ? ep->err_at : len);
	size_t plen = ep->err_at + ep->err_len <= len ? ep->err_len : 0, n = 0;
	int e = -err;

	if (size == 0)
		return 0;
	buf[0] = '\0';
	switch (e) {
	case PSCOPE_E_NUL:
		put(buf, size, &n, "a NUL byte at offset %zu", ep->err_at);
		break;
	case PSCOPE_E_SPACE:
		put(buf, size, &n, "white space %s; write the endpoint without spaces",
		    ep->err_at == 0 ? "at its start" : ep->err_at + 1 == len ? "at its end" : "inside it");
		break;
	case PSCOPE_E_CONTROL:
		put(buf, size, &n, "a control character (0x%02x) at offset %zu",
		    (unsigned char)*part, ep->err_at);
		break;
	case PSCOPE_E_PORT:
		explain_port(part, plen, buf, size, &n);
		break;
	case PSCOPE_E_PORT_RANGE:
		put(buf, size, &n, "port %.*s%s is larger than 65535", (int)(plen > 20 ? 20 : plen),
		    part, plen > 20 ? "..." : "");
		break;
	case PSCOPE_E_NOT_QUAD:
		explain_quad(part, plen, buf, size, &n);
		break;
	case PSCOPE_E_NAME_CHAR:
	case PSCOPE_E_TOOLONG:
	case PSCOPE_E_LABEL:
	case PSCOPE_E_LABEL_LONG:
		explain_name(ep, s, e, buf, size, &n);
		break;
	case PSCOPE_E_BAD_IPV6:
		put(buf, size, &n, "'%.*s' is not an IPv6 address", (int)(plen > 64 ? 64 : plen),
		    part);
		break;
	case PSCOPE_E_SCOPE_BAD:
		put(buf, size, &n, "'%.*s' is no zone: after '%%' comes an interface name (at most "
		    "%d characters, no '/', ':' or '%%') or index", (int)(plen > 64 ? 64 : plen),
		    part, IF_NAMESIZE - 1);
		break;
	case PSCOPE_E_SCOPE_NOT_LL:
		put(buf, size, &n, "a zone (%%interface) belongs to a link-local address only "
		    "(fe80::/10, ff02::/16); write '%.*s' without it",
		    (int)(memchr(part, '%', plen) ? (size_t)((const char *)memchr(part, '%', plen) - part)
						  : plen), part);
		break;
	case PSCOPE_E_SCOPE_NEEDED:
		put(buf, size, &n, "'%s' is link-local: name its interface, [%s%%IFACE] (ip link "
		    "lists them)", ep->host, ep->host);
		break;
	case PSCOPE_E_SCOPE_UNKNOWN:
		put(buf, size, &n, "no interface %s '%s' on this machine (ip link lists them)",
		    all_digits(zone_of(ep->host), strlen(zone_of(ep->host))) ? "with index" : "named",
		    zone_of(ep->host));
		break;
	case PSCOPE_E_ANY_NOT_DEST:
		explain_any(ep, buf, size, &n);
		break;
	case PSCOPE_E_NOT_UNICAST:
		put(buf, size, &n, "'%s' is a %s address; TCP can neither listen on it nor connect "
		    "to it", ep->host, strcmp(ep->host, "255.255.255.255") ? "multicast" : "broadcast");
		break;
	case PSCOPE_E_V4COMPAT:
		explain_v4compat(ep->host, buf, size, &n);
		break;
	case PSCOPE_E_FAMILY:
		put(buf, size, &n, "'%s' is an %s address, and only %s was asked for (%s)", ep->host,
		    ep->kind == PSCOPE_HOST_IPV6 ? "IPv6" : "IPv4",
		    ep->kind == PSCOPE_HOST_IPV6 ? "IPv4" : "IPv6",
		    ep->kind == PSCOPE_HOST_IPV6 ? "-4" : "-6");
		break;
	case PSCOPE_E_NAME_UNUSABLE:
		put(buf, size, &n, "'%s' resolves only to addresses that cannot be used here "
		    "(any-address, multicast or broadcast)", ep->host);
		break;
	case PSCOPE_E_NOT_NUMERIC:
		if (ep->kind == PSCOPE_HOST_ANY)
			put(buf, size, &n, "'*' means any address, not one address");
		else if (ep->kind == PSCOPE_HOST_NAME)
			put(buf, size, &n, "'%s' is a host name; a numeric address is needed here",
			    ep->host);
		else
			put(buf, size, &n, "%s", pscope_strerror(err));
		break;
	default:
		put(buf, size, &n, "%s", pscope_strerror(err));
	}
	return (int)n;
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

static bool seen(const struct pscope_addr *out, size_t n, const struct pscope_addr *a)
{
	for (size_t i = 0; i < n; i++)
		if (out[i].len == a->len && !memcmp(&out[i].u, &a->u, a->len))
			return true;
	return false;
}

enum { USE = PSCOPE_RESOLVE_PASSIVE | PSCOPE_RESOLVE_CONNECT };

/* Whether an IPv4 address (network order) can be bound (PASSIVE) or connected to (CONNECT). */
static int usable_v4(in_addr_t addr, int flags)
{
	uint32_t h = ntohl(addr);

	if (!(flags & USE))
		return 0;
	if (IN_MULTICAST(h) || h == INADDR_BROADCAST)
		return -PSCOPE_E_NOT_UNICAST;
	if ((flags & PSCOPE_RESOLVE_CONNECT) && h == INADDR_ANY)
		return -PSCOPE_E_ANY_NOT_DEST;
	return 0;
}

/*
 * Whether A can be bound or connected to as FLAGS say.  A link-local address
 * needs its interface: the kernel refuses it without one (__inet6_bind,
 * ip6_datagram_connect: EINVAL).
 */
static int usable(const struct pscope_addr *a, int flags)
{
	const struct in6_addr *x = &a->u.sin6.sin6_addr;

	if (a->u.sa.sa_family == AF_INET)
		return usable_v4(a->u.sin.sin_addr.s_addr, flags);
	if (!(flags & USE))
		return 0;
	if (IN6_IS_ADDR_V4MAPPED(x)) {
		in_addr_t v4;

		memcpy(&v4, &x->s6_addr[12], 4);
		return usable_v4(v4, flags);
	}
	if (IN6_IS_ADDR_MULTICAST(x))
		return -PSCOPE_E_NOT_UNICAST;
	if (IN6_IS_ADDR_V4COMPAT(x))
		return -PSCOPE_E_V4COMPAT;
	if ((flags & PSCOPE_RESOLVE_CONNECT) && IN6_IS_ADDR_UNSPECIFIED(x))
		return -PSCOPE_E_ANY_NOT_DEST;
	if (IN6_IS_ADDR_LINKLOCAL(x) && !a->u.sin6.sin6_scope_id)
		return -PSCOPE_E_SCOPE_NEEDED;
	return 0;
}

/*
 * The interface of ZONE: a name first, then a number (as glibc's
 * __inet6_scopeid_pton).  To bind or connect, a number must name an
 * interface too.  Returns the index or -PSCOPE_E_SCOPE_UNKNOWN.
 */
static long zone_index(const char *zone, int flags)
{
	char name[IF_NAMESIZE];
	unsigned long v = 0;
	unsigned idx = if_nametoindex(zone);

	if (idx)
		return idx;
	if (!all_digits(zone, strlen(zone)))
		return -PSCOPE_E_SCOPE_UNKNOWN;
	for (const char *p = zone; *p; p++)
		if ((v = v * 10 + (unsigned long)(*p - '0')) > UINT32_MAX)
			return -PSCOPE_E_SCOPE_UNKNOWN;
	if ((flags & USE) && !if_indextoname((unsigned)v, name))
		return -PSCOPE_E_SCOPE_UNKNOWN;
	return (long)v;
}

/* A numeric host, as written: inet_pton, never getaddrinfo. */
static int literal(const struct pscope_endpoint *ep, int family, int flags, struct pscope_addr *a)
{
	char buf[sizeof(ep->host)];
	char *pct;

	memset(a, 0, sizeof(*a));
	if (ep->kind == PSCOPE_HOST_IPV4) {
		if (family == AF_INET6)
			return -PSCOPE_E_FAMILY;
		a->len = sizeof(a->u.sin);
		a->u.sin.sin_family = AF_INET;
		a->u.sin.sin_port = htons(ep->port);
		if (inet_pton(AF_INET, ep->host, &a->u.sin.sin_addr) != 1)
			return -PSCOPE_E_NOT_QUAD;
		return usable(a, flags);
	}
	if (family == AF_INET)
		return -PSCOPE_E_FAMILY;
	strcpy(buf, ep->host);
	pct = strchr(buf, '%');
	if (pct)
		*pct++ = '\0';
	a->len = sizeof(a->u.sin6);
	a->u.sin6.sin6_family = AF_INET6;
	a->u.sin6.sin6_port = htons(ep->port);
	if (inet_pton(AF_INET6, buf, &a->u.sin6.sin6_addr) != 1)
		return -PSCOPE_E_BAD_IPV6;
	if (pct) {
		long idx = zone_index(pct, flags);

		if (idx < 0)
			return (int)idx;
		a->u.sin6.sin6_scope_id = (uint32_t)idx;
	}
	return usable(a, flags);
}

/* '*' (or no host) to bind: the wildcard of each family asked for, IPv4 first. */
static int wildcards(const struct pscope_endpoint *ep, int family, struct pscope_addr *out,
		     size_t max, bool loopback)
{
	size_t n = 0;

	if (family != AF_INET6 && n < max) {
		memset(&out[n], 0, sizeof(out[n]));
		out[n].len = sizeof(out[n].u.sin);
		out[n].u.sin.sin_family = AF_INET;
		out[n].u.sin.sin_port = htons(ep->port);
		out[n].u.sin.sin_addr.s_addr = htonl(loopback ? INADDR_LOOPBACK : INADDR_ANY);
		n++;
	}
	if (family != AF_INET && n < max) {
		memset(&out[n], 0, sizeof(out[n]));
		out[n].len = sizeof(out[n].u.sin6);
		out[n].u.sin6.sin6_family = AF_INET6;
		out[n].u.sin6.sin6_port = htons(ep->port);
		out[n].u.sin6.sin6_addr = loopback ? in6addr_loopback : in6addr_any;
		n++;
	}
	return n ? (int)n : -PSCOPE_E_FAMILY;
}

/* A name: getaddrinfo, then the same checks as a literal; the refused are left out. */
static int resolve_name(const struct pscope_endpoint *ep, int family, int socktype, int flags,
			struct pscope_addr *out, size_t max)
{
	struct addrinfo hints = { 0 }, *res, *ai;
	char port[8];
	size_t n = 0;
	int rc, refused = 0;

	if (flags & PSCOPE_RESOLVE_NUMERIC)
		return -PSCOPE_E_NOT_NUMERIC;
	hints.ai_family = family;
	hints.ai_socktype = socktype;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", (unsigned)ep->port);
	rc = getaddrinfo(ep->host, port, &hints, &res);
	if (rc != 0)
		return eai_error(rc);
	for (ai = res; ai && n < max; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (ai->ai_addrlen > sizeof(out[n].u))
			continue;
		pscope_addr_set(&out[n], ai->ai_addr, ai->ai_addrlen);
		if (usable(&out[n], flags) < 0)
			refused++;
		else if (!seen(out, n, &out[n]))
			n++;
	}
	freeaddrinfo(res);
	if (n == 0)
		return refused ? -PSCOPE_E_NAME_UNUSABLE : eai_error(EAI_NONAME);
	return (int)n;
}

int pscope_endpoint_resolve(const struct pscope_endpoint *ep, int family,
			    int socktype, int flags, struct pscope_addr *out,
			    size_t max)
{
	int rc;

	if (max == 0)
		return -ENOSPC;
	switch (ep->kind) {
	case PSCOPE_HOST_IPV4:
	case PSCOPE_HOST_IPV6:
		rc = literal(ep, family, flags, out);
		return rc < 0 ? rc : 1;
	case PSCOPE_HOST_NAME:
		return resolve_name(ep, family, socktype, flags, out, max);
	case PSCOPE_HOST_ANY:
		if (flags & PSCOPE_RESOLVE_CONNECT)
			return -PSCOPE_E_ANY_NOT_DEST;
		if (!(flags & PSCOPE_RESOLVE_PASSIVE))
			return -PSCOPE_E_NOT_NUMERIC;
		return wildcards(ep, family, out, max, false);
	case PSCOPE_HOST_NONE:
	default:
		if (!(flags & USE))
			return -PSCOPE_E_NOT_NUMERIC;
		return wildcards(ep, family, out, max, !(flags & PSCOPE_RESOLVE_PASSIVE));
	}
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
	if (ep.kind != PSCOPE_HOST_IPV4 && ep.kind != PSCOPE_HOST_IPV6)
		return -PSCOPE_E_NOT_NUMERIC;
	rc = literal(&ep, AF_UNSPEC, 0, a);
	if (rc < 0)
		memset(a, 0, sizeof(*a));
	return rc;
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
