/* The PROXY protocol in the command layer: rendering a header, sending one in pieces (see pp.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include "pp.h"
#include "report.h"

const char *pp_proto_name(const struct pscope_proxy_hdr *h)
{
	bool dgram = h->transport == PSCOPE_PROXY_DGRAM;

	if (h->version == 2 && (h->transport < PSCOPE_PROXY_STREAM || h->transport > PSCOPE_PROXY_DGRAM))
		return "unspec";	/* \x10 under LOCAL: no protocol, whatever the family */
	switch (h->family) {
	case PSCOPE_PROXY_AF_INET:
		return dgram ? "udp4" : "tcp4";
	case PSCOPE_PROXY_AF_INET6:
		return dgram ? "udp6" : "tcp6";
	case PSCOPE_PROXY_AF_UNIX:
		return dgram ? "unix_dgram" : "unix_stream";
	case PSCOPE_PROXY_AF_UNSPEC:
	default:
		/* Also a LOCAL header's byte the spec does not list: the receiver ignores it (2.2). */
		return h->version == 1 ? "unknown" : "unspec";
	}
}

/* The header names a client: a PROXY command with IPv4 or IPv6 addresses (spec 2.1, 2.2). */
static bool names_client(const struct pscope_proxy_hdr *h)
{
	return h->command == PSCOPE_PROXY_PROXY && h->src.len && h->dst.len;
}

void pp_whoami(const struct pscope_proxy_hdr *h, struct pscope_whoami *w)
{
	w->pp = h->version;
	w->pp_command = h->command;
	snprintf(w->pp_proto, sizeof(w->pp_proto), "%s", pp_proto_name(h));
	memset(&w->src, 0, sizeof(w->src));
	memset(&w->dst, 0, sizeof(w->dst));
	if (names_client(h)) {
		w->src = h->src;
		w->dst = h->dst;
	}
}

/* A TLV's value as text when it is printable without spaces or commas, else 0x and hex (64 bytes at most). */
static void tlv_value(const struct pscope_proxy_tlv *t, char *buf, size_t size)
{
	bool text = t->len > 0;
	size_t o = 0;

	for (size_t i = 0; i < t->len && text; i++)
		text = t->value[i] > 0x20 && t->value[i] < 0x7f && t->value[i] != ',';
	if (text) {
		snprintf(buf, size, "%.*s", (int)t->len, (const char *)t->value);
		return;
	}
	buf[0] = '\0';
	if (t->len)
		o += (size_t)snprintf(buf, size, "0x");
	for (size_t i = 0; i < t->len && i < 64 && o + 3 < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%02x", t->value[i]);
	if (t->len > 64 && o + 4 < size)
		snprintf(buf + o, size - o, "...");
}

static void tlv_name(uint8_t type, char *buf, size_t size)
{
	const char *name = pscope_proxy_tlv_name(type);

	if (name)
		snprintf(buf, size, "%s", name);
	else
		snprintf(buf, size, "0x%02x", type);
}

/* "ALPN:h2,AUTHORITY:example.com,CRC32C:0x...": every TLV recorded, in order. */
static void tlv_list(const struct pscope_proxy_hdr *h, const char *sep, const char *between,
		     char *buf, size_t size)
{
	size_t o = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < h->ntlv && o < size; i++) {
		char name[16], value[160];

		tlv_name(h->tlv[i].type, name, sizeof(name));
		tlv_value(&h->tlv[i], value, sizeof(value));
		o += (size_t)snprintf(buf + o, size - o, "%s%s%s%s", i ? between : "", name,
				      h->tlv[i].len ? sep : "", value);
	}
	if (h->tlv_count > h->ntlv && o < size)
		snprintf(buf + o, size - o, "%s(%u more)", between, h->tlv_count - h->ntlv);
}

/*
 * An AF_UNIX address of a v2 header (108 bytes, spec 2.2) as text: the path
 * up to its first NUL, or "@" and the name of an abstract socket (a first
 * byte NUL, unix(7)) up to its trailing NULs; bytes that are not printable,
 * spaces and commas as \xNN.
 */
static void unix_text(const uint8_t *a, char *buf, size_t size)
{
	size_t n = PSCOPE_PROXY_UNIX_LEN, o = 0, i = 0;

	if (a[0]) {
		n = strnlen((const char *)a, PSCOPE_PROXY_UNIX_LEN);
	} else {
		while (n > 1 && !a[n - 1])
			n--;
		o = (size_t)snprintf(buf, size, "@");
		i = 1;
	}
	buf[o] = '\0';
	for (; i < n && o + 5 < size; i++) {
		if (a[i] > 0x20 && a[i] < 0x7f && a[i] != ',' && a[i] != '\\')
			buf[o++] = (char)a[i], buf[o] = '\0';
		else
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", a[i]);
	}
}

/* The header names AF_UNIX addresses: a PROXY command, family UNIX (spec 2.2). */
static bool names_unix(const struct pscope_proxy_hdr *h)
{
	return h->command == PSCOPE_PROXY_PROXY && h->unix_src && h->unix_dst;
}

void pp_print_seed(const char *prefix, const struct pscope_proxy_hdr *h)
{
	char buf[PSCOPE_PROXY_TLV_MAX * 180];

	if (names_unix(h)) {
		char src[4 * PSCOPE_PROXY_UNIX_LEN + 2], dst[sizeof(src)];

		unix_text(h->unix_src, src, sizeof(src));
		unix_text(h->unix_dst, dst, sizeof(dst));
		snprintf(buf, sizeof(buf), "PROXY protocol v%u header, %s: the proxy says the "
			 "client is", h->version, pp_proto_name(h));
		cli_line(prefix, buf);
		cli_line(prefix, src);
		cli_line(prefix, "and that the client connected to");
		cli_line(prefix, dst);
	} else if (h->command == PSCOPE_PROXY_LOCAL) {
		snprintf(buf, sizeof(buf), "PROXY protocol v%u header, LOCAL: the proxy's own "
			 "connection (a health check), no client address", h->version);
		cli_line(prefix, buf);
	} else if (!names_client(h)) {
		snprintf(buf, sizeof(buf), "PROXY protocol v%u header, %s: no client address",
			 h->version, pp_proto_name(h));
		cli_line(prefix, buf);
	} else {
		snprintf(buf, sizeof(buf), "PROXY protocol v%u header, %s: the proxy says the "
			 "client is", h->version, pp_proto_name(h));
		cli_line(prefix, buf);
		report_py_addr(&h->src, 0, buf, sizeof(buf));
		cli_line(prefix, buf);
		cli_line(prefix, "and that the client connected to");
		report_py_addr(&h->dst, 0, buf, sizeof(buf));
		cli_line(prefix, buf);
	}
	if (h->tlv_count) {
		char list[sizeof(buf) - 16];

		tlv_list(h, " ", ", ", list, sizeof(list));
		snprintf(buf, sizeof(buf), "TLVs: %s", list);
		cli_line(prefix, buf);
	}
}

void pp_print_line(const struct pscope_proxy_hdr *h)
{
	char src[PSCOPE_ADDRSTRLEN], dst[PSCOPE_ADDRSTRLEN], list[PSCOPE_PROXY_TLV_MAX * 180];

	printf(" pp=%u pp_cmd=%s pp_proto=%s", h->version,
	       h->command == PSCOPE_PROXY_LOCAL ? "local" : "proxy", pp_proto_name(h));
	if (names_client(h) && pscope_addr_format(&h->src, src, sizeof(src)) >= 0 &&
	    pscope_addr_format(&h->dst, dst, sizeof(dst)) >= 0)
		printf(" pp_src=%s pp_dst=%s", src, dst);
	if (names_unix(h)) {
		char usrc[4 * PSCOPE_PROXY_UNIX_LEN + 2], udst[sizeof(usrc)];

		unix_text(h->unix_src, usrc, sizeof(usrc));
		unix_text(h->unix_dst, udst, sizeof(udst));
		printf(" pp_src=%s pp_dst=%s", usrc, udst);
	}
	printf(" pp_len=%zu", h->len);
	if (h->tlv_count) {
		tlv_list(h, ":", ",", list, sizeof(list));
		printf(" pp_tlvs=%s", list);
	}
}

static void json_addr(struct pscope_json *j, const char *key, const struct pscope_addr *a)
{
	char text[PSCOPE_ADDRSTRLEN];

	if (a->len && pscope_addr_format(a, text, sizeof(text)) >= 0)
		pscope_json_string(j, key, text);
	else
		pscope_json_null(j, key);
}

static void json_tlv(struct pscope_json *j, const struct pscope_proxy_tlv *t)
{
	const char *name = pscope_proxy_tlv_name(t->type);
	char hex[2 * 1024 + 1];
	size_t o = 0;

	pscope_json_object_begin(j, NULL);
	pscope_json_uint(j, "type", t->type);
	if (name)
		pscope_json_string(j, "name", name);
	else
		pscope_json_null(j, "name");
	pscope_json_uint(j, "length", t->len);
	for (size_t i = 0; i < t->len && o + 2 < sizeof(hex); i++)
		o += (size_t)snprintf(hex + o, sizeof(hex) - o, "%02x", t->value[i]);
	hex[o] = '\0';
	pscope_json_string(j, "hex", hex);
	pscope_json_object_end(j);
}

void pp_json(struct pscope_json *j, const struct pscope_proxy_hdr *h)
{
	pscope_json_object_begin(j, "proxy");
	pscope_json_uint(j, "version", h->version);
	pscope_json_string(j, "command", h->command == PSCOPE_PROXY_LOCAL ? "LOCAL" : "PROXY");
	pscope_json_string(j, "proto", pp_proto_name(h));
	if (names_unix(h)) {
		char usrc[4 * PSCOPE_PROXY_UNIX_LEN + 2], udst[sizeof(usrc)];

		unix_text(h->unix_src, usrc, sizeof(usrc));
		unix_text(h->unix_dst, udst, sizeof(udst));
		pscope_json_string(j, "src", usrc);
		pscope_json_string(j, "dst", udst);
	} else {
		json_addr(j, "src", &h->src);
		json_addr(j, "dst", &h->dst);
	}
	pscope_json_uint(j, "length", h->len);
	pscope_json_array_begin(j, "tlvs");
	for (unsigned i = 0; i < h->ntlv; i++)
		json_tlv(j, &h->tlv[i]);
	pscope_json_array_end(j);
	pscope_json_uint(j, "tlv_count", h->tlv_count);
	if (h->authority.value)
		pscope_json_string_n(j, "authority", (const char *)h->authority.value, h->authority.len);
	if (h->alpn.value)
		pscope_json_string_n(j, "alpn", (const char *)h->alpn.value, h->alpn.len);
	if (h->unique_id.value)
		pscope_json_string_n(j, "unique_id", (const char *)h->unique_id.value, h->unique_id.len);
	pscope_json_bool(j, "crc32c_verified", h->has_crc32c);
	if (h->ssl.value) {
		pscope_json_object_begin(j, "ssl");
		pscope_json_uint(j, "client", h->ssl_client);
		pscope_json_uint(j, "verify", h->ssl_verify);
		if (h->ssl_version.value)
			pscope_json_string_n(j, "version", (const char *)h->ssl_version.value,
					     h->ssl_version.len);
		if (h->ssl_cn.value)
			pscope_json_string_n(j, "cn", (const char *)h->ssl_cn.value, h->ssl_cn.len);
		if (h->ssl_cipher.value)
			pscope_json_string_n(j, "cipher", (const char *)h->ssl_cipher.value,
					     h->ssl_cipher.len);
		pscope_json_object_end(j);
	}
	pscope_json_object_end(j);
}

int pp_send_pieces(int fd, const uint8_t *buf, size_t len, const size_t *cut, int ncut,
		   int pause_ms, pp_pause_fn *pause, void *arg)
{
	size_t from = 0;

	for (int k = 0; k <= ncut; k++) {
		size_t to = k < ncut && cut[k] < len ? cut[k] : len;

		while (to > from) {
			ssize_t n = send(fd, buf + from, to - from, MSG_NOSIGNAL);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return n < 0 ? -errno : -EIO;
			from += (size_t)n;
		}
		if (k < ncut && from < len && pause(fd, pause_ms, arg))
			return 1;	/* it did not wait for the rest */
	}
	return 0;
}

int pp_parse_split(const char *arg, size_t *cut, int *ncut)
{
	const char *p = arg;

	*ncut = 0;
	while (*p) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(p, &end, 10);
		if (errno || end == p || (*end && *end != ',') || v == 0 || v > PSCOPE_PROXY_V2_MAX ||
		    (*ncut && v <= cut[*ncut - 1]))
			return cli_usage_error("bad split '%s': give increasing byte offsets above 0, "
					       "comma-separated (e.g. 1,12,16)", arg), -1;
		if (*ncut == PP_MAX_CUTS)
			return cli_usage_error("bad split '%s': at most %d cuts", arg, PP_MAX_CUTS), -1;
		cut[(*ncut)++] = v;
		p = *end ? end + 1 : end;
		if (*end && !*p)
			return cli_usage_error("bad split '%s': nothing after the last comma", arg), -1;
	}
	if (!*ncut)
		return cli_usage_error("bad split '%s': give byte offsets, e.g. 1,12,16", arg), -1;
	return 0;
}

/* A TLV type by the spec's name (without PP2_TYPE_ or PP2_SUBTYPE_), or -1. */
static int tlv_type_named(const char *s, size_t len)
{
	for (int t = 0; t < 256; t++) {
		const char *name = pscope_proxy_tlv_name((uint8_t)t);

		if (name && strlen(name) == len && !strncasecmp(name, s, len))
			return t;
	}
	return -1;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int pp_parse_tlv(const char *arg, uint8_t *type, uint8_t *val, size_t size)
{
	const char *eq = strchr(arg, '=');
	const char *hex;
	size_t n = 0, hlen;
	int t;

	if (!eq || eq == arg)
		return cli_usage_error("bad TLV '%s': give TYPE=HEX, e.g. 0xe0=0102 or AUTHORITY=6578", arg), -1;
	t = tlv_type_named(arg, (size_t)(eq - arg));
	if (t < 0) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(arg, &end, 0);
		if (errno || end != eq || v > 255)
			return cli_usage_error("bad TLV type in '%s': a number 0 to 255 (0xe0) or a name "
					       "such as AUTHORITY", arg), -1;
		t = (int)v;
	}
	hex = eq + 1;
	if (!strncmp(hex, "0x", 2) || !strncmp(hex, "0X", 2))
		hex += 2;
	hlen = strlen(hex);
	if (hlen % 2 || hlen / 2 > size)
		return cli_usage_error("bad TLV value in '%s': an even number of hex digits, at most %zu "
				       "bytes", arg, size), -1;
	for (n = 0; n < hlen / 2; n++) {
		int hi = hex_digit(hex[2 * n]), lo = hex_digit(hex[2 * n + 1]);

		if (hi < 0 || lo < 0)
			return cli_usage_error("bad TLV value in '%s': not hex", arg), -1;
		val[n] = (uint8_t)(hi << 4 | lo);
	}
	*type = (uint8_t)t;
	return (int)n;
}

/* --- connect --send-proxy --- */

int pp_send_option(struct pp_send *p, int opt, const char *arg)
{
	double secs;
	int n;

	switch (opt) {
	case PP_OPT_SEND:
		if (strcmp(arg, "v1") && strcmp(arg, "v2"))
			return cli_usage_error("bad --send-proxy '%s': use v1 or v2", arg), -1;
		p->version = (uint8_t)(arg[1] - '0');
		return 0;
	case PP_OPT_TLV:
		if (p->ntlv == PP_SEND_TLV_MAX)
			return cli_usage_error("too many --pp-tlv: at most %d", PP_SEND_TLV_MAX), -1;
		n = pp_parse_tlv(arg, &p->tlv[p->ntlv].type, p->tlv[p->ntlv].value, PP_SEND_TLV_LEN);
		if (n < 0)
			return -1;
		p->tlv[p->ntlv++].len = (uint16_t)n;
		return 0;
	case PP_OPT_CRC:
		p->crc32c = true;
		return 0;
	case PP_OPT_LOCAL:
		p->local = true;
		return 0;
	case PP_OPT_SPLIT:
		return pp_parse_split(arg, p->cut, &p->ncut);
	case PP_OPT_PAUSE:
		if (cli_parse_seconds("pause", arg, &secs) < 0)
			return -1;
		if (secs > 60)
			return cli_usage_error("bad --pp-pause '%s': at most 60 seconds", arg), -1;
		p->pause_ms = (int)(secs * 1000 + 0.5);
		p->pause_set = true;
		return 0;
	default:
		/* A numeric address and port: the header says what the user wrote, nothing is resolved. */
		if (pscope_addr_parse(arg, strlen(arg), opt == PP_OPT_SRC ? &p->src : &p->dst) < 0)
			return cli_usage_error("bad %s '%s': give a numeric ADDRESS:PORT, [IPv6]:PORT",
					       opt == PP_OPT_SRC ? "--pp-src" : "--pp-dst", arg), -1;
		return 0;
	}
}

int pp_send_check(const struct pp_send *p, bool any_pp_opt)
{
	if (!p->version)
		return any_pp_opt ? cli_usage_error("the --pp-* options go with --send-proxy v1|v2") : 0;
	if (p->version == 1 && (p->ntlv || p->crc32c || p->local))
		return cli_usage_error("--pp-tlv, --pp-crc32c and --pp-local need --send-proxy v2 "
				       "(a v1 line has no TLVs and no LOCAL command)");
	if (p->pause_set && !p->ncut)
		return cli_usage_error("--pp-pause goes with --pp-split (the pause is between pieces)");
	for (int i = 0; i < p->ntlv; i++)
		if (p->tlv[i].type == PSCOPE_PP2_TYPE_CRC32C && p->tlv[i].len != 4)
			return cli_usage_error("bad --pp-tlv CRC32C: its value is 4 bytes (spec 2.2.3), "
					       "not %u; --pp-crc32c adds one with the right value",
					       p->tlv[i].len);
	return 0;
}

/* Between pieces: the server's answer or close ends the sending. */
static bool pause_readable(int fd, int ms, void *arg)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	long long end = pscope_now_ms() + ms;

	(void)arg;
	for (;;) {
		long long left = end - pscope_now_ms();
		int rc;

		if (left <= 0)
			return false;
		rc = poll(&pfd, 1, (int)left);
		if (rc > 0)
			return true;
		if (rc < 0 && errno != EINTR)
			return false;
	}
}

/* A's family in the header's terms; an IPv4-mapped pair is sent as IPv4, as a proxy would. */
static void unmapped(const struct pscope_addr *a, struct pscope_addr *out)
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

/* An IPv4 address as IPv4-mapped IPv6 (::ffff:a.b.c.d), in place; IPv6 stays. */
static void mapped(struct pscope_addr *a)
{
	struct pscope_addr v4 = *a;

	if (a->u.sa.sa_family != AF_INET)
		return;
	memset(a, 0, sizeof(*a));
	a->len = sizeof(struct sockaddr_in6);
	a->u.sin6.sin6_family = AF_INET6;
	a->u.sin6.sin6_port = v4.u.sin.sin_port;
	a->u.sin6.sin6_addr.s6_addr[10] = a->u.sin6.sin6_addr.s6_addr[11] = 0xff;
	memcpy(&a->u.sin6.sin6_addr.s6_addr[12], &v4.u.sin.sin_addr, 4);
}

int pp_send_header(int fd, struct pp_send *p, const struct pscope_sockinfo *si)
{
	struct pscope_proxy_hdr *h = &p->hdr;
	uint8_t buf[PSCOPE_PROXY_V2_MAX];
	ssize_t n;
	int one = 1;

	pscope_proxy_hdr_init(h);
	h->version = p->version;
	h->command = p->local ? PSCOPE_PROXY_LOCAL : PSCOPE_PROXY_PROXY;
	h->transport = PSCOPE_PROXY_STREAM;
	if (p->local && !p->src.len && !p->dst.len) {
		/* What HAProxy's and other proxies' health checks send: LOCAL, UNSPEC, no addresses. */
		h->family = PSCOPE_PROXY_AF_UNSPEC;
		h->transport = PSCOPE_PROXY_TRANSPORT_UNSPEC;
	} else {
		unmapped(p->src.len ? &p->src : &si->local, &h->src);
		unmapped(p->dst.len ? &p->dst : &si->peer, &h->dst);
		if (h->src.u.sa.sa_family != h->dst.u.sa.sa_family) {
			/* --pp-src of one family over a connection of the other: both IPv6, mapped, as HAProxy does. */
			mapped(&h->src);
			mapped(&h->dst);
		}
		h->family = h->src.u.sa.sa_family == AF_INET ? PSCOPE_PROXY_AF_INET
							     : PSCOPE_PROXY_AF_INET6;
	}
	for (int i = 0; i < p->ntlv; i++)
		pscope_proxy_add_tlv(h, p->tlv[i].type, p->tlv[i].value, p->tlv[i].len);
	n = pscope_proxy_build(h, p->crc32c, buf, sizeof(buf));
	if (n < 0)
		return cli_usage_error("cannot build the PROXY header the --send-proxy options ask "
				       "for: %s", pscope_proxy_strerror((int)n)), PP_SEND_REFUSED;
	if (p->ncut && p->cut[p->ncut - 1] >= (size_t)n)
		return cli_usage_error("bad --pp-split: a cut after byte %zu, but the header is %zd "
				       "bytes", p->cut[p->ncut - 1], n), PP_SEND_REFUSED;
	p->len = (size_t)n;
	/* Each piece its own segment. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return pp_send_pieces(fd, buf, (size_t)n, p->cut, p->ncut, p->pause_ms, pause_readable, NULL);
}

static void text_of(const struct pscope_addr *a, char *buf, size_t size)
{
	if (!a->len || pscope_addr_format(a, buf, size) < 0)
		snprintf(buf, size, "?");
}

/*
 * Through a proxy, with a header of this client's own: did the proxy pass it
 * on?  Only the addresses tell: a proxy that takes a header (accept-proxy)
 * may send it on in the other version, and one that does not sends its own
 * header naming this client's real address, with this client's after it as
 * data.  When this client's header named its own address, both look alike.
 */
static void proxied_sent(const struct pp_send *p, const struct pscope_sockinfo *si,
			 const struct pscope_whoami *w, const char *told, const char *sent,
			 char *detail, size_t size)
{
	bool named_sent = pscope_addr_same(&w->src, &p->hdr.src);
	bool named_self = pscope_addr_same(&w->src, &si->local);
	char versions[96] = "";

	if (w->pp != p->version)
		snprintf(versions, sizeof(versions), " (this client sent v%u, the server got v%u)",
			 p->version, w->pp);
	if (named_sent && !named_self)
		snprintf(detail, size, "; the proxy told the server you are %s, what this client's own "
			 "PROXY header said: the proxy passed it on%s", told, versions);
	else if (named_sent)
		snprintf(detail, size, "; the proxy told the server you are %s, this client's own "
			 "address, which its PROXY header named too%s: the proxy passed it on, or sent "
			 "a header of its own with this client's after it as data (cannot tell: "
			 "--pp-src with another address would)", told, versions);
	else if (named_self)
		snprintf(detail, size, "; the proxy told the server you are %s, this client's own "
			 "address, not what its PROXY header said (%s)%s: the proxy sent a header of "
			 "its own and did not take this client's (a frontend without accept-proxy "
			 "sends it on as data)", told, sent, versions);
	else
		snprintf(detail, size, "; the proxy told the server you are %s, but this client sent "
			 "%s%s: a proxy that rewrote the address", told, sent, versions);
}

bool pp_explain(const struct pp_send *p, const struct pscope_sockinfo *si,
		const struct pscope_whoami *w, char *detail, size_t size)
{
	char reached[PSCOPE_ADDRSTRLEN], saw[PSCOPE_ADDRSTRLEN], told[PSCOPE_ADDRSTRLEN],
		self[PSCOPE_ADDRSTRLEN], want[PSCOPE_ADDRSTRLEN];
	bool direct = pscope_addr_same(&w->you, &si->local);
	const struct pscope_addr *expect = p->version ? &p->hdr.src : &si->local;
	bool same;
	size_t used;

	text_of(&si->peer, reached, sizeof(reached));
	text_of(&w->you, saw, sizeof(saw));
	text_of(&w->src, told, sizeof(told));
	text_of(&si->local, self, sizeof(self));
	text_of(expect, want, sizeof(want));
	if (direct)
		used = (size_t)snprintf(detail, size, "no proxy in between: the server's socket saw "
					"this client itself (%s), and took the PROXY header", self);
	else
		used = (size_t)snprintf(detail, size, "you reached a proxy at %s; the server's socket "
					"saw the proxy at %s", reached, saw);
	if (used >= size)
		return false;
	detail += used, size -= used;
	if (!w->pp_command || !w->src.len) {
		snprintf(detail, size, "; the %sv%u header (%s%s) told the server nothing of you: "
			 "it knows no client address", direct ? "" : "proxy's ", w->pp,
			 w->pp_command ? "PROXY " : "LOCAL", w->pp_command ? w->pp_proto : "");
		return p->version && (p->local || !p->hdr.src.len);
	}
	same = pscope_addr_same(&w->src, expect);
	if (direct && p->version)
		snprintf(detail, size, " this client sent, which names the client %s (%s)%s", told,
			 same ? (p->src.len ? "as --pp-src said" : "this client's own address")
			      : "not what this client sent: ",
			 same ? "" : want);
	else if (direct)
		snprintf(detail, size, " that names the client %s, though this client sent none", told);
	else if (p->version)
		proxied_sent(p, si, w, told, want, detail, size);
	else if (same)
		snprintf(detail, size, "; the proxy told the server you are %s, this client's own "
			 "address: the server knows who you are", told);
	else
		snprintf(detail, size, "; the proxy told the server you are %s, but this client %s %s: "
			 "a NAT between you and the proxy, or a proxy that rewrote the address", told,
			 p->version ? "sent" : "sees itself as", want);
	if (!direct && p->version)
		return same || pscope_addr_same(&w->src, &si->local);
	return same && !(direct && !p->version);
}
