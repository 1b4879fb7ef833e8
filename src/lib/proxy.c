/*
 * The PROXY protocol, versions 1 and 2 (HAProxy's doc/proxy-protocol.txt):
 * an incremental parser that allocates nothing and reads nothing past the
 * header, and a builder.  See proxy.h for the contracts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "portscope/line.h"
#include "portscope/proxy.h"

/* Spec 2.2: the 12 bytes that start a version 2 header. */
static const uint8_t v2_sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
				    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };
/* Spec 2.1: "PROXY" and exactly one space. */
static const char v1_sig[] = "PROXY ";
#define V1_SIG_LEN 6
#define V2_VERSION 0x2
#define TLV_HDR 3
#define SSL_HDR 5		/* client (1) and verify (4), spec 2.2.6 */
#define NO_SIZE ((size_t)-1)

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* Spec 2.2: the size of a family's address block, or NO_SIZE for a family it does not define. */
static size_t addr_block(unsigned family)
{
	switch (family) {
	case PSCOPE_PROXY_AF_UNSPEC:
		return 0;
	case PSCOPE_PROXY_AF_INET:
		return 2 * 4 + 2 * 2;
	case PSCOPE_PROXY_AF_INET6:
		return 2 * 16 + 2 * 2;
	case PSCOPE_PROXY_AF_UNIX:
		return 2 * PSCOPE_PROXY_UNIX_LEN;
	default:
		return NO_SIZE;
	}
}

void pscope_proxy_hdr_init(struct pscope_proxy_hdr *h)
{
	memset(h, 0, sizeof(*h));
}

int pscope_proxy_add_tlv(struct pscope_proxy_hdr *h, uint8_t type, const void *value, uint16_t len)
{
	if (h->ntlv >= PSCOPE_PROXY_TLV_MAX)
		return -ENOSPC;
	h->tlv[h->ntlv++] = (struct pscope_proxy_tlv){ .type = type, .len = len, .value = value };
	h->tlv_count = h->ntlv;
	return 0;
}

void pscope_proxy_parser_init(struct pscope_proxy_parser *p, unsigned accept, size_t max)
{
	memset(p, 0, sizeof(*p));
	p->accept = accept & PSCOPE_PROXY_ANY ? accept & PSCOPE_PROXY_ANY : PSCOPE_PROXY_ANY;
	p->max = max ? max : PSCOPE_PROXY_V2_MAX;
	if (p->max < PSCOPE_PROXY_V2_FIXED)
		p->max = PSCOPE_PROXY_V2_FIXED;
}

/* --- version 1 ---------------------------------------------------------- */

/* Spec 2.1: a decimal number of at most MAXDIGITS digits without leading zeroes, up to MAXVAL. */
static int v1_number(const char *s, size_t n, unsigned maxdigits, unsigned long maxval,
		     unsigned long *v)
{
	unsigned long x = 0;

	if (n == 0 || n > maxdigits || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		x = x * 10 + (unsigned long)(s[i] - '0');
	}
	if (x > maxval)
		return -1;
	*v = x;
	return 0;
}

/* Spec 2.1: exactly four decimal numbers of 0 to 255 without leading zeroes, one dot apart. */
static int v1_ipv4(const char *s, size_t n, struct in_addr *a)
{
	uint8_t b[4];
	size_t start = 0;
	int part = 0;

	for (size_t i = 0; i <= n; i++) {
		unsigned long v;

		if (i < n && s[i] != '.')
			continue;
		if (part == 4 || v1_number(s + start, i - start, 3, 255, &v) < 0)
			return -1;
		b[part++] = (uint8_t)v;
		start = i + 1;
	}
	if (part != 4)
		return -1;
	memcpy(a, b, 4);
	return 0;
}

/* Spec 2.1: IPv6 text as inet_pton(3) reads it (which rejects anything else). */
static int v1_ipv6(const char *s, size_t n, struct in6_addr *a)
{
	char text[INET6_ADDRSTRLEN];

	if (n == 0 || n >= sizeof(text))
		return -1;
	memcpy(text, s, n);
	text[n] = '\0';
	return inet_pton(AF_INET6, text, a) == 1 ? 0 : -1;
}

static int v1_addr(int family, const char *s, size_t n, const char *port, size_t pn,
		   struct pscope_addr *a)
{
	unsigned long v;

	memset(a, 0, sizeof(*a));
	if (family == AF_INET) {
		if (v1_ipv4(s, n, &a->u.sin.sin_addr) < 0)
			return -PSCOPE_PROXY_E_V1_ADDR;
		a->u.sin.sin_family = AF_INET;
		a->len = sizeof(a->u.sin);
	} else {
		if (v1_ipv6(s, n, &a->u.sin6.sin6_addr) < 0)
			return -PSCOPE_PROXY_E_V1_ADDR;
		a->u.sin6.sin6_family = AF_INET6;
		a->len = sizeof(a->u.sin6);
	}
	if (v1_number(port, pn, 5, 65535, &v) < 0)
		return -PSCOPE_PROXY_E_V1_PORT;
	if (family == AF_INET)
		a->u.sin.sin_port = htons((uint16_t)v);
	else
		a->u.sin6.sin6_port = htons((uint16_t)v);
	return 0;
}

/*
 * Decodes a whole v1 line of N bytes, CRLF included: "PROXY " PROTO, then for
 * TCP4 and TCP6 exactly " SRC DST SPORT DPORT"; for UNKNOWN anything (spec 2.1).
 */
static int v1_decode(const uint8_t *buf, size_t n, struct pscope_proxy_hdr *h)
{
	const char *s = (const char *)buf + V1_SIG_LEN;
	size_t len = n - V1_SIG_LEN - 2, start, nf = 0;
	const char *field[5];
	size_t flen[5];
	int family, rc;

	pscope_proxy_hdr_init(h);
	h->version = 1;
	h->command = PSCOPE_PROXY_PROXY;
	h->len = n;
	if (len >= 7 && !memcmp(s, "UNKNOWN", 7) && (len == 7 || s[7] == ' ')) {
		h->family = PSCOPE_PROXY_AF_UNSPEC;
		h->transport = PSCOPE_PROXY_TRANSPORT_UNSPEC;
		return 0;
	}
	if (len < 4 || memcmp(s, "TCP", 3) || (s[3] != '4' && s[3] != '6') ||
	    (len > 4 && s[4] != ' '))
		return -PSCOPE_PROXY_E_V1_PROTO;
	family = s[3] == '4' ? AF_INET : AF_INET6;
	h->family = family == AF_INET ? PSCOPE_PROXY_AF_INET : PSCOPE_PROXY_AF_INET6;
	h->transport = PSCOPE_PROXY_STREAM;
	/* Four fields after "TCPx ", each one or more bytes, one space between. */
	if (len < 5)
		return -PSCOPE_PROXY_E_V1_SYNTAX;
	start = 5;
	for (size_t i = 5; i <= len; i++) {
		if (i < len && s[i] != ' ')
			continue;
		if (i == start || nf == 4)
			return -PSCOPE_PROXY_E_V1_SYNTAX;
		field[nf] = s + start;
		flen[nf++] = i - start;
		start = i + 1;
	}
	if (nf != 4)
		return -PSCOPE_PROXY_E_V1_SYNTAX;
	rc = v1_addr(family, field[0], flen[0], field[2], flen[2], &h->src);
	if (rc == 0)
		rc = v1_addr(family, field[1], flen[1], field[3], flen[3], &h->dst);
	/* An address error is named before a port error, whichever end it is at. */
	if (rc == -PSCOPE_PROXY_E_V1_PORT) {
		struct pscope_addr tmp;

		if (v1_addr(family, field[1], flen[1], "0", 1, &tmp) < 0)
			rc = -PSCOPE_PROXY_E_V1_ADDR;
	}
	return rc;
}

static ssize_t parse_v1(struct pscope_proxy_parser *p, const uint8_t *buf, size_t len,
			struct pscope_proxy_hdr *h)
{
	size_t i, n, max = p->max < PSCOPE_PROXY_V1_MAX ? p->max : PSCOPE_PROXY_V1_MAX;
	struct pscope_line l = { 0 };
	int rc;

	for (i = p->seen; i < len && i < V1_SIG_LEN; i++)
		if (buf[i] != (uint8_t)v1_sig[i])
			return -PSCOPE_PROXY_E_SIGNATURE;
	if (i < V1_SIG_LEN) {
		p->seen = i;
		return 0;
	}
	if (!(p->accept & PSCOPE_PROXY_V1))
		return -PSCOPE_PROXY_E_NOT_ACCEPTED;
	/* Framed as every line is (line.h), again from its start: "\r\n" only, MAX bytes with it. */
	switch (pscope_line_feed(&l, buf, len, (uint32_t)(max - 2), PSCOPE_LINE_CRLF_ONLY, &n)) {
	case PSCOPE_LINE_MORE:
		p->seen = len;
		return 0;
	case PSCOPE_LINE_CRLF:
		break;
	case PSCOPE_LINE_TOO_LONG:
		/* Cut by the caller's cap, not by the spec's 107 bytes: say which. */
		return max < PSCOPE_PROXY_V1_MAX ? -PSCOPE_PROXY_E_TOO_BIG : -PSCOPE_PROXY_E_V1_TOO_LONG;
	default:
		return -PSCOPE_PROXY_E_V1_CRLF;
	}
	rc = v1_decode(buf, n, h);
	return rc < 0 ? rc : (ssize_t)n;
}

/* --- version 2 ---------------------------------------------------------- */

/* The CRC32c of the header's TOTAL bytes with the 4 at VALUE_OFF taken as zeroes (spec 2.2.3). */
static uint32_t crc_zeroed(const uint8_t *buf, size_t total, size_t value_off)
{
	static const uint8_t zero[4];
	uint32_t c = PSCOPE_CRC32C_INIT;

	c = pscope_crc32c_update(c, buf, value_off);
	c = pscope_crc32c_update(c, zero, 4);
	c = pscope_crc32c_update(c, buf + value_off + 4, total - value_off - 4);
	return pscope_crc32c_final(c);
}

static void name_ssl_sub(struct pscope_proxy_hdr *h, const struct pscope_proxy_tlv *t)
{
	struct pscope_proxy_tlv *slot = NULL;

	switch (t->type) {
	case PSCOPE_PP2_SUBTYPE_SSL_VERSION: slot = &h->ssl_version; break;
	case PSCOPE_PP2_SUBTYPE_SSL_CN: slot = &h->ssl_cn; break;
	case PSCOPE_PP2_SUBTYPE_SSL_CIPHER: slot = &h->ssl_cipher; break;
	case PSCOPE_PP2_SUBTYPE_SSL_SIG_ALG: slot = &h->ssl_sig_alg; break;
	case PSCOPE_PP2_SUBTYPE_SSL_KEY_ALG: slot = &h->ssl_key_alg; break;
	case PSCOPE_PP2_SUBTYPE_SSL_GROUP: slot = &h->ssl_group; break;
	case PSCOPE_PP2_SUBTYPE_SSL_SIG_SCHEME: slot = &h->ssl_sig_scheme; break;
	case PSCOPE_PP2_SUBTYPE_SSL_CLIENT_CERT: slot = &h->ssl_client_cert; break;
	}
	if (slot && !slot->value)
		*slot = *t;
}

/* Spec 2.2.6: client, verify, then sub-TLVs that fill the value exactly. */
static int decode_ssl(struct pscope_proxy_hdr *h, const uint8_t *buf, const struct pscope_proxy_tlv *t)
{
	size_t off = t->off + SSL_HDR, end = t->off + t->len;

	if (t->len < SSL_HDR)
		return -PSCOPE_PROXY_E_SSL;
	h->ssl = *t;
	h->ssl_client = buf[t->off];
	h->ssl_verify = be32(buf + t->off + 1);
	while (off < end) {
		struct pscope_proxy_tlv sub;

		if (end - off < TLV_HDR || be16(buf + off + 1) > end - off - TLV_HDR)
			return -PSCOPE_PROXY_E_SSL;
		sub = (struct pscope_proxy_tlv){ .type = buf[off], .len = be16(buf + off + 1),
						 .off = (uint32_t)(off + TLV_HDR),
						 .value = buf + off + TLV_HDR };
		if (h->nssl_sub < PSCOPE_PROXY_SSL_SUB_MAX)
			h->ssl_sub[h->nssl_sub++] = sub;
		h->ssl_sub_count++;
		name_ssl_sub(h, &sub);
		off += TLV_HDR + sub.len;
	}
	return 0;
}

/* Checks and decodes the TLVs the spec defines; others are kept raw only. */
static int decode_tlv(struct pscope_proxy_hdr *h, const uint8_t *buf, size_t total,
		      const struct pscope_proxy_tlv *t)
{
	struct pscope_proxy_tlv *slot = NULL;

	switch (t->type) {
	case PSCOPE_PP2_TYPE_CRC32C:
		if (t->len != 4 || h->has_crc32c)
			return -PSCOPE_PROXY_E_CRC32C_LEN;
		if (crc_zeroed(buf, total, t->off) != be32(t->value))
			return -PSCOPE_PROXY_E_CRC32C;
		h->has_crc32c = true;
		h->crc32c = be32(t->value);
		return 0;
	case PSCOPE_PP2_TYPE_UNIQUE_ID:
		if (t->len > PSCOPE_PROXY_UNIQUE_ID_MAX)
			return -PSCOPE_PROXY_E_UNIQUE_ID_LEN;
		slot = &h->unique_id;
		break;
	case PSCOPE_PP2_TYPE_SSL:
		if (h->ssl.value)
			return 0;	/* the first one is decoded */
		return decode_ssl(h, buf, t);
	case PSCOPE_PP2_TYPE_ALPN: slot = &h->alpn; break;
	case PSCOPE_PP2_TYPE_AUTHORITY: slot = &h->authority; break;
	case PSCOPE_PP2_TYPE_NETNS: slot = &h->netns; break;
	}
	if (slot && !slot->value)
		*slot = *t;
	return 0;
}

static void v2_addresses(struct pscope_proxy_hdr *h, const uint8_t *a)
{
	switch (h->family) {
	case PSCOPE_PROXY_AF_INET:
		h->src.len = h->dst.len = sizeof(struct sockaddr_in);
		h->src.u.sin.sin_family = h->dst.u.sin.sin_family = AF_INET;
		memcpy(&h->src.u.sin.sin_addr, a, 4);
		memcpy(&h->dst.u.sin.sin_addr, a + 4, 4);
		memcpy(&h->src.u.sin.sin_port, a + 8, 2);
		memcpy(&h->dst.u.sin.sin_port, a + 10, 2);
		break;
	case PSCOPE_PROXY_AF_INET6:
		h->src.len = h->dst.len = sizeof(struct sockaddr_in6);
		h->src.u.sin6.sin6_family = h->dst.u.sin6.sin6_family = AF_INET6;
		memcpy(&h->src.u.sin6.sin6_addr, a, 16);
		memcpy(&h->dst.u.sin6.sin6_addr, a + 16, 16);
		memcpy(&h->src.u.sin6.sin6_port, a + 32, 2);
		memcpy(&h->dst.u.sin6.sin6_port, a + 34, 2);
		break;
	case PSCOPE_PROXY_AF_UNIX:
		h->unix_src = a;
		h->unix_dst = a + PSCOPE_PROXY_UNIX_LEN;
		break;
	}
}

/*
 * Spec 2.2, the 14th byte: the only combinations it lists are \x00 (UNSPEC),
 * \x11 \x12 (TCP and UDP over IPv4), \x21 \x22 (IPv6), \x31 \x32 (UNIX).
 * A known family with an UNSPEC transport (\x10) or the reverse (\x01) is
 * not one of them.
 */
static bool v2_fam_listed(uint8_t b)
{
	unsigned fam = b >> 4, transport = b & 0x0F;

	if (b == 0x00)
		return true;
	return fam >= PSCOPE_PROXY_AF_INET && fam <= PSCOPE_PROXY_AF_UNIX &&
	       transport >= PSCOPE_PROXY_STREAM && transport <= PSCOPE_PROXY_DGRAM;
}

/* A LOCAL header whose block is skipped whole: no addresses, no TLVs (spec 2.2). */
static int v2_opaque(struct pscope_proxy_hdr *h, size_t alen)
{
	uint8_t version = h->version, command = h->command, family = h->family,
		transport = h->transport;
	const uint8_t *raw = h->addr_raw;
	size_t len = h->len;

	pscope_proxy_hdr_init(h);
	h->version = version;
	h->command = command;
	h->family = family;
	h->transport = transport;
	h->addr_raw = raw;
	h->len = len;
	h->addr_len = (uint16_t)alen;
	return 0;
}

/* Decodes a whole v2 header of TOTAL bytes, whose fixed part was checked as it came. */
static int v2_decode(const uint8_t *buf, size_t total, struct pscope_proxy_hdr *h)
{
	size_t alen = total - PSCOPE_PROXY_V2_FIXED, ablock, off;
	int rc;

	pscope_proxy_hdr_init(h);
	h->version = 2;
	h->command = buf[12] & 0x0F;
	h->family = buf[13] >> 4;
	h->transport = buf[13] & 0x0F;
	h->len = total;
	h->addr_raw = buf + PSCOPE_PROXY_V2_FIXED;
	ablock = addr_block(h->family);
	/*
	 * Spec 2.2: a LOCAL header's family is ignored, but its length must be
	 * skipped ("discard the protocol block").  When the family byte is one
	 * the spec lists and its addresses fit, they are read and TLVs follow
	 * them; otherwise the whole length is skipped.  Under LOCAL, bytes
	 * after the addresses that are not whole TLVs (padding) are skipped
	 * too: the header is accepted with the whole length as its address
	 * block and no TLVs.  A CRC32C TLV before the padding is still checked
	 * (spec 2.2.3: a receiver drops a header whose checksum does not match).
	 */
	if (!v2_fam_listed(buf[13]) || ablock > alen)
		return v2_opaque(h, alen);
	h->addr_len = (uint16_t)ablock;
	v2_addresses(h, h->addr_raw);
	for (off = PSCOPE_PROXY_V2_FIXED + ablock; off < total;) {
		struct pscope_proxy_tlv t;

		if (total - off < TLV_HDR || be16(buf + off + 1) > total - off - TLV_HDR) {
			if (h->command == PSCOPE_PROXY_LOCAL)
				return v2_opaque(h, alen);
			return -PSCOPE_PROXY_E_TLV_OVERRUN;
		}
		t = (struct pscope_proxy_tlv){ .type = buf[off], .len = be16(buf + off + 1),
					       .off = (uint32_t)(off + TLV_HDR),
					       .value = buf + off + TLV_HDR };
		rc = decode_tlv(h, buf, total, &t);
		if (rc < 0)
			return rc;
		if (h->ntlv < PSCOPE_PROXY_TLV_MAX)
			h->tlv[h->ntlv++] = t;
		h->tlv_count++;
		off += TLV_HDR + t.len;
	}
	return 0;
}

static ssize_t parse_v2(struct pscope_proxy_parser *p, const uint8_t *buf, size_t len,
			struct pscope_proxy_hdr *h)
{
	size_t i;
	int rc;

	for (i = p->seen; i < len && i < sizeof(v2_sig); i++)
		if (buf[i] != v2_sig[i])
			return -PSCOPE_PROXY_E_SIGNATURE;
	if (i < sizeof(v2_sig)) {
		p->seen = i;
		return 0;
	}
	if (!(p->accept & PSCOPE_PROXY_V2))
		return -PSCOPE_PROXY_E_NOT_ACCEPTED;
	/* Each byte of the fixed part is judged as soon as it is in (spec 2.2). */
	if (p->seen <= 12 && len > 12) {
		if (buf[12] >> 4 != V2_VERSION)
			return -PSCOPE_PROXY_E_VERSION;
		if ((buf[12] & 0x0F) > PSCOPE_PROXY_PROXY)
			return -PSCOPE_PROXY_E_COMMAND;
	}
	if (p->seen <= 13 && len > 13 && (buf[12] & 0x0F) == PSCOPE_PROXY_PROXY &&
	    !v2_fam_listed(buf[13]))
		return -PSCOPE_PROXY_E_FAMILY;
	if (len < PSCOPE_PROXY_V2_FIXED) {
		p->seen = len;
		return 0;
	}
	if (!p->total) {
		size_t alen = be16(buf + 14);

		if (PSCOPE_PROXY_V2_FIXED + alen > p->max)
			return -PSCOPE_PROXY_E_TOO_BIG;
		if ((buf[12] & 0x0F) == PSCOPE_PROXY_PROXY && alen < addr_block(buf[13] >> 4))
			return -PSCOPE_PROXY_E_ADDR_LEN;
		p->total = PSCOPE_PROXY_V2_FIXED + alen;
	}
	if (len < p->total) {
		p->seen = len;
		return 0;
	}
	p->seen = p->total;
	rc = v2_decode(buf, p->total, h);
	return rc < 0 ? rc : (ssize_t)p->total;
}

ssize_t pscope_proxy_parse(struct pscope_proxy_parser *p, const uint8_t *buf, size_t len,
			   struct pscope_proxy_hdr *h)
{
	if (len < p->seen)
		return -EINVAL;
	if (len == 0)
		return 0;
	if (!p->version) {
		if (buf[0] == (uint8_t)v1_sig[0])
			p->version = 1;
		else if (buf[0] == v2_sig[0])
			p->version = 2;
		else
			return -PSCOPE_PROXY_E_SIGNATURE;
	}
	return p->version == 1 ? parse_v1(p, buf, len, h) : parse_v2(p, buf, len, h);
}

/* --- the builder -------------------------------------------------------- */

static ssize_t build_v1(const struct pscope_proxy_hdr *h, uint8_t *buf, size_t size)
{
	char line[PSCOPE_PROXY_V1_MAX + 1], s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	int n, af;
	const void *sa, *da;
	unsigned sp, dp;

	if (h->command != PSCOPE_PROXY_PROXY || h->ntlv)
		return -EINVAL;
	if (h->family == PSCOPE_PROXY_AF_UNSPEC) {
		n = snprintf(line, sizeof(line), "PROXY UNKNOWN\r\n");
	} else {
		af = h->family == PSCOPE_PROXY_AF_INET ? AF_INET
		   : h->family == PSCOPE_PROXY_AF_INET6 ? AF_INET6 : AF_UNSPEC;
		if (af == AF_UNSPEC || h->transport != PSCOPE_PROXY_STREAM ||
		    h->src.u.sa.sa_family != af || h->dst.u.sa.sa_family != af)
			return -EINVAL;
		if (af == AF_INET) {
			sa = &h->src.u.sin.sin_addr, da = &h->dst.u.sin.sin_addr;
			sp = ntohs(h->src.u.sin.sin_port), dp = ntohs(h->dst.u.sin.sin_port);
		} else {
			sa = &h->src.u.sin6.sin6_addr, da = &h->dst.u.sin6.sin6_addr;
			sp = ntohs(h->src.u.sin6.sin6_port), dp = ntohs(h->dst.u.sin6.sin6_port);
		}
		inet_ntop(af, sa, s, sizeof(s));
		inet_ntop(af, da, d, sizeof(d));
		n = snprintf(line, sizeof(line), "PROXY TCP%c %s %s %u %u\r\n",
			     af == AF_INET ? '4' : '6', s, d, sp, dp);
	}
	if ((size_t)n > size)
		return -ENOSPC;
	memcpy(buf, line, (size_t)n);
	return n;
}

/* Writes the address block H describes (LEN bytes) at A. */
static int v2_put_addresses(const struct pscope_proxy_hdr *h, uint8_t *a)
{
	switch (h->family) {
	case PSCOPE_PROXY_AF_INET:
		if (h->src.u.sa.sa_family != AF_INET || h->dst.u.sa.sa_family != AF_INET)
			return -EINVAL;
		memcpy(a, &h->src.u.sin.sin_addr, 4);
		memcpy(a + 4, &h->dst.u.sin.sin_addr, 4);
		memcpy(a + 8, &h->src.u.sin.sin_port, 2);
		memcpy(a + 10, &h->dst.u.sin.sin_port, 2);
		return 0;
	case PSCOPE_PROXY_AF_INET6:
		if (h->src.u.sa.sa_family != AF_INET6 || h->dst.u.sa.sa_family != AF_INET6)
			return -EINVAL;
		memcpy(a, &h->src.u.sin6.sin6_addr, 16);
		memcpy(a + 16, &h->dst.u.sin6.sin6_addr, 16);
		memcpy(a + 32, &h->src.u.sin6.sin6_port, 2);
		memcpy(a + 34, &h->dst.u.sin6.sin6_port, 2);
		return 0;
	case PSCOPE_PROXY_AF_UNIX:
		memset(a, 0, 2 * PSCOPE_PROXY_UNIX_LEN);
		if (h->unix_src)
			memcpy(a, h->unix_src, PSCOPE_PROXY_UNIX_LEN);
		if (h->unix_dst)
			memcpy(a + PSCOPE_PROXY_UNIX_LEN, h->unix_dst, PSCOPE_PROXY_UNIX_LEN);
		return 0;
	default:
		return 0;
	}
}

static ssize_t build_v2(const struct pscope_proxy_hdr *h, bool crc32c, uint8_t *buf, size_t size)
{
	size_t ablock = h->addr_raw ? h->addr_len : addr_block(h->family), total, off;
	int crc_tlv = -1;

	if (h->command > 0x0F || h->family > 0x0F || h->transport > 0x0F || ablock == NO_SIZE ||
	    h->ntlv > PSCOPE_PROXY_TLV_MAX)
		return -EINVAL;
	total = PSCOPE_PROXY_V2_FIXED + ablock;
	for (unsigned i = 0; i < h->ntlv; i++) {
		if (h->tlv[i].type == PSCOPE_PP2_TYPE_CRC32C && crc_tlv < 0) {
			if (h->tlv[i].len != 4)
				return -EINVAL;
			crc_tlv = (int)i;
		}
		total += TLV_HDR + h->tlv[i].len;
	}
	if (crc32c && crc_tlv < 0)
		total += TLV_HDR + 4;
	if (total - PSCOPE_PROXY_V2_FIXED > 0xFFFF)
		return -EINVAL;
	if (!h->addr_raw && h->family != PSCOPE_PROXY_AF_UNSPEC &&
	    h->family != PSCOPE_PROXY_AF_UNIX) {
		int af = h->family == PSCOPE_PROXY_AF_INET ? AF_INET : AF_INET6;

		if (h->src.u.sa.sa_family != af || h->dst.u.sa.sa_family != af)
			return -EINVAL;
	}
	if (total > size)
		return -ENOSPC;
	memcpy(buf, v2_sig, sizeof(v2_sig));
	buf[12] = (uint8_t)(V2_VERSION << 4 | h->command);
	buf[13] = (uint8_t)(h->family << 4 | h->transport);
	put16(buf + 14, (uint16_t)(total - PSCOPE_PROXY_V2_FIXED));
	off = PSCOPE_PROXY_V2_FIXED;
	if (h->addr_raw)
		memcpy(buf + off, h->addr_raw, ablock);
	else
		v2_put_addresses(h, buf + off);
	off += ablock;
	for (unsigned i = 0; i < h->ntlv; i++) {
		buf[off] = h->tlv[i].type;
		put16(buf + off + 1, h->tlv[i].len);
		if (h->tlv[i].len)
			memcpy(buf + off + TLV_HDR, h->tlv[i].value, h->tlv[i].len);
		if ((int)i == crc_tlv && crc32c)
			memset(buf + off + TLV_HDR, 0, 4);
		off += TLV_HDR + h->tlv[i].len;
	}
	if (crc32c && crc_tlv < 0) {
		buf[off] = PSCOPE_PP2_TYPE_CRC32C;
		put16(buf + off + 1, 4);
		memset(buf + off + TLV_HDR, 0, 4);
		off += TLV_HDR + 4;
	}
	if (crc32c) {
		size_t at = total - 4;	/* the added one, or the first in the list: */

		if (crc_tlv >= 0) {
			at = PSCOPE_PROXY_V2_FIXED + ablock;
			for (int i = 0; i < crc_tlv; i++)
				at += TLV_HDR + h->tlv[i].len;
			at += TLV_HDR;
		}
		put32(buf + at, pscope_crc32c(buf, total));
	}
	return (ssize_t)total;
}

ssize_t pscope_proxy_build(const struct pscope_proxy_hdr *h, bool crc32c, uint8_t *buf, size_t size)
{
	if (h->version == 1)
		return crc32c ? -EINVAL : build_v1(h, buf, size);
	if (h->version == 2)
		return build_v2(h, crc32c, buf, size);
	return -EINVAL;
}

/* --- names and messages ------------------------------------------------- */

const char *pscope_proxy_tlv_name(uint8_t type)
{
	switch (type) {
	case PSCOPE_PP2_TYPE_ALPN: return "ALPN";
	case PSCOPE_PP2_TYPE_AUTHORITY: return "AUTHORITY";
	case PSCOPE_PP2_TYPE_CRC32C: return "CRC32C";
	case PSCOPE_PP2_TYPE_NOOP: return "NOOP";
	case PSCOPE_PP2_TYPE_UNIQUE_ID: return "UNIQUE_ID";
	case PSCOPE_PP2_TYPE_SSL: return "SSL";
	case PSCOPE_PP2_SUBTYPE_SSL_VERSION: return "SSL_VERSION";
	case PSCOPE_PP2_SUBTYPE_SSL_CN: return "SSL_CN";
	case PSCOPE_PP2_SUBTYPE_SSL_CIPHER: return "SSL_CIPHER";
	case PSCOPE_PP2_SUBTYPE_SSL_SIG_ALG: return "SSL_SIG_ALG";
	case PSCOPE_PP2_SUBTYPE_SSL_KEY_ALG: return "SSL_KEY_ALG";
	case PSCOPE_PP2_SUBTYPE_SSL_GROUP: return "SSL_GROUP";
	case PSCOPE_PP2_SUBTYPE_SSL_SIG_SCHEME: return "SSL_SIG_SCHEME";
	case PSCOPE_PP2_SUBTYPE_SSL_CLIENT_CERT: return "SSL_CLIENT_CERT";
	case PSCOPE_PP2_TYPE_NETNS: return "NETNS";
	default: return NULL;
	}
}

#define E(code, text) [(code) - PSCOPE_PROXY_ERR_BASE - 1] = { #code, text }

static const struct {
	const char *name, *text;
} errors[] = {
	E(PSCOPE_PROXY_E_SIGNATURE, "not a PROXY protocol header: neither \"PROXY \" nor the version 2 signature"),
	E(PSCOPE_PROXY_E_NOT_ACCEPTED, "a PROXY protocol version this receiver does not accept"),
	E(PSCOPE_PROXY_E_VERSION, "version 2 signature with a version other than 2"),
	E(PSCOPE_PROXY_E_COMMAND, "version 2 command neither LOCAL (0) nor PROXY (1)"),
	E(PSCOPE_PROXY_E_FAMILY, "version 2 address family or transport protocol the specification does not define"),
	E(PSCOPE_PROXY_E_ADDR_LEN, "version 2 length shorter than the addresses of its family"),
	E(PSCOPE_PROXY_E_TOO_BIG, "PROXY protocol header longer than the size limit"),
	E(PSCOPE_PROXY_E_TLV_OVERRUN, "a TLV runs past the end of the header"),
	E(PSCOPE_PROXY_E_CRC32C_LEN, "a CRC32C TLV not 4 bytes long, or more than one"),
	E(PSCOPE_PROXY_E_CRC32C, "CRC32c checksum does not match the header"),
	E(PSCOPE_PROXY_E_UNIQUE_ID_LEN, "UNIQUE_ID TLV longer than 128 bytes"),
	E(PSCOPE_PROXY_E_SSL, "SSL TLV shorter than 5 bytes, or a sub-TLV runs past it"),
	E(PSCOPE_PROXY_E_V1_CRLF, "version 1 line with a CR or LF alone (CRLF required)"),
	E(PSCOPE_PROXY_E_V1_TOO_LONG, "version 1 line without CRLF in its first 107 bytes"),
	E(PSCOPE_PROXY_E_V1_PROTO, "version 1 protocol not TCP4, TCP6 or UNKNOWN"),
	E(PSCOPE_PROXY_E_V1_SYNTAX, "version 1 line without its four fields, one space apart"),
	E(PSCOPE_PROXY_E_V1_ADDR, "version 1 address not in its family's form"),
	E(PSCOPE_PROXY_E_V1_PORT, "version 1 port not a decimal 0 to 65535 without leading zeroes"),
};

static int error_index(int err)
{
	int e = err < 0 ? -err : err;

	if (e > PSCOPE_PROXY_ERR_BASE && e < PSCOPE_PROXY_E_LAST)
		return e - PSCOPE_PROXY_ERR_BASE - 1;
	return -1;
}

const char *pscope_proxy_error_name(int err)
{
	int i = error_index(err);

	return i < 0 ? NULL : errors[i].name;
}

const char *pscope_proxy_strerror(int err)
{
	int i = error_index(err);

	return i < 0 ? pscope_strerror(err) : errors[i].text;
}
