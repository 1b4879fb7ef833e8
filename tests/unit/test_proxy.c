/*
 * Unit tests of proxy.h: the PROXY protocol parser and builder, and CRC32c.
 * Expected bytes are written out here from the specification's text
 * (HAProxy's doc/proxy-protocol.txt) and RFC 3720's check values; expected
 * addresses come from inet_pton.  Every parse runs on an exact-size copy of
 * its input, so a read past it trips AddressSanitizer (and valgrind).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

/* Asserts a parse result, naming PROXY protocol codes. */
static void pp_equal(long long got, long long want, const char *what, const char *file, int line)
{
	const char *g, *w;

	if (got == want)
		return;
	g = pscope_proxy_error_name((int)got);
	w = pscope_proxy_error_name((int)want);
	print_error("%s: got %lld (%s), want %lld (%s)\n", what, got, g ? g : "-",
		       want, w ? w : "-");
	_fail(file, line);
}
#define assert_pp(got, want) pp_equal((got), (want), #got, __FILE__, __LINE__)

/* Parses IN (N bytes) fed as the pieces that end at CUTS (ascending, < N), then the rest. */
static ssize_t parse_pieces(const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts,
			    unsigned accept, size_t max, struct pscope_proxy_hdr *h)
{
	struct pscope_proxy_parser p;
	ssize_t rc = 0;

	pscope_proxy_parser_init(&p, accept, max);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t len = i < ncuts ? cuts[i] : n;
		/* An exact-size buffer of what has arrived so far. */
		uint8_t *buf = malloc(len ? len : 1);

		assert_non_null(buf);
		memcpy(buf, in, len);
		rc = pscope_proxy_parse(&p, buf, len, h);
		if (rc != 0) {
			/* The decoded header points into BUF: into IN from now on. */
			if (rc > 0) {
				ptrdiff_t shift = in - buf;
#define MOVE(t) do { if ((t).value) (t).value += shift; } while (0)
				for (unsigned k = 0; k < h->ntlv; k++)
					MOVE(h->tlv[k]);
				for (unsigned k = 0; k < h->nssl_sub; k++)
					MOVE(h->ssl_sub[k]);
				MOVE(h->alpn); MOVE(h->authority); MOVE(h->unique_id);
				MOVE(h->netns); MOVE(h->ssl); MOVE(h->ssl_version); MOVE(h->ssl_cn);
				MOVE(h->ssl_cipher); MOVE(h->ssl_sig_alg); MOVE(h->ssl_key_alg);
				MOVE(h->ssl_group); MOVE(h->ssl_sig_scheme); MOVE(h->ssl_client_cert);
#undef MOVE
				if (h->addr_raw)
					h->addr_raw += shift;
				if (h->unix_src)
					h->unix_src += shift, h->unix_dst += shift;
			}
			free(buf);
			return rc;
		}
		free(buf);
	}
	return rc;
}

static ssize_t parse_whole(const uint8_t *in, size_t n, struct pscope_proxy_hdr *h)
{
	return parse_pieces(in, n, NULL, 0, PSCOPE_PROXY_ANY, PSCOPE_PROXY_DEFAULT_MAX, h);
}

static void assert_same_hdr(const struct pscope_proxy_hdr *a, const struct pscope_proxy_hdr *b)
{
	assert_num_equal(a->version, b->version);
	assert_num_equal(a->command, b->command);
	assert_num_equal(a->family, b->family);
	assert_num_equal(a->transport, b->transport);
	assert_num_equal(a->len, b->len);
	assert_num_equal(a->src.len, b->src.len);
	assert_memory_equal(&a->src.u, &b->src.u, a->src.len);
	assert_memory_equal(&a->dst.u, &b->dst.u, a->dst.len);
	assert_num_equal(a->addr_len, b->addr_len);
	assert_num_equal(a->ntlv, b->ntlv);
	assert_num_equal(a->tlv_count, b->tlv_count);
	for (unsigned i = 0; i < a->ntlv; i++) {
		assert_num_equal(a->tlv[i].type, b->tlv[i].type);
		assert_num_equal(a->tlv[i].len, b->tlv[i].len);
		assert_num_equal(a->tlv[i].off, b->tlv[i].off);
		assert_ptr_equal(a->tlv[i].value, b->tlv[i].value);
	}
	assert_num_equal(a->has_crc32c, b->has_crc32c);
	assert_num_equal(a->crc32c, b->crc32c);
	assert_num_equal(a->nssl_sub, b->nssl_sub);
	assert_num_equal(a->ssl_client, b->ssl_client);
	assert_num_equal(a->ssl_verify, b->ssl_verify);
}

/*
 * IN parses to WANT whole; and the same (result and header) fed one byte at a
 * time, split at every single byte, and split at every pair of bytes.
 */
static void check_splits(const uint8_t *in, size_t n, ssize_t want)
{
	struct pscope_proxy_hdr whole, h;
	size_t cuts[PSCOPE_PROXY_DEFAULT_MAX];
	ssize_t rc = parse_whole(in, n, &whole);

	assert_pp(rc, want);
	for (size_t i = 0; i < n && i < PSCOPE_PROXY_DEFAULT_MAX; i++)
		cuts[i] = i;
	assert_pp(parse_pieces(in, n, cuts, n < PSCOPE_PROXY_DEFAULT_MAX ? n : PSCOPE_PROXY_DEFAULT_MAX,
			       PSCOPE_PROXY_ANY, PSCOPE_PROXY_DEFAULT_MAX, &h), want);
	if (want > 0)
		assert_same_hdr(&whole, &h);
	for (size_t a = 0; a <= n; a++) {
		cuts[0] = a;
		assert_pp(parse_pieces(in, n, cuts, 1, PSCOPE_PROXY_ANY, PSCOPE_PROXY_DEFAULT_MAX, &h), want);
		if (want > 0)
			assert_same_hdr(&whole, &h);
		if (n > 300)
			continue;
		for (size_t b = a; b <= n; b++) {
			cuts[1] = b;
			assert_pp(parse_pieces(in, n, cuts, 2, PSCOPE_PROXY_ANY,
					       PSCOPE_PROXY_DEFAULT_MAX, &h), want);
			if (want > 0)
				assert_same_hdr(&whole, &h);
		}
	}
}

static void addr_is(const struct pscope_addr *a, const char *ip, unsigned port)
{
	char buf[INET6_ADDRSTRLEN];
	int af = strchr(ip, ':') ? AF_INET6 : AF_INET;

	assert_num_equal(a->u.sa.sa_family, af);
	if (af == AF_INET) {
		struct in_addr want;

		assert_num_equal(inet_pton(AF_INET, ip, &want), 1);
		inet_ntop(AF_INET, &a->u.sin.sin_addr, buf, sizeof(buf));
		assert_memory_equal(&a->u.sin.sin_addr, &want, 4);
		assert_num_equal(ntohs(a->u.sin.sin_port), port);
	} else {
		struct in6_addr want;

		assert_num_equal(inet_pton(AF_INET6, ip, &want), 1);
		assert_memory_equal(&a->u.sin6.sin6_addr, &want, 16);
		assert_num_equal(ntohs(a->u.sin6.sin6_port), port);
	}
}

/* --- CRC32c --------------------------------------------------------------- */

/* A second, bitwise CRC32c (no table), to check the library's against. */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
	}
	return ~c;
}

/* RFC 3720, appendix B.4: the CRC's bytes as the RFC lists them (least significant first). */
static void crc32c_rfc3720(void **state)
{
	uint8_t buf[48];
	static const uint8_t pdu[48] = {
		0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
		0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	uint32_t c;

	(void)state;
	memset(buf, 0, 32);
	assert_num_equal(pscope_crc32c(buf, 32), 0x8a9136aa);	/* aa 36 91 8a */
	memset(buf, 0xff, 32);
	assert_num_equal(pscope_crc32c(buf, 32), 0x62a8ab43);	/* 43 ab a8 62 */
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	assert_num_equal(pscope_crc32c(buf, 32), 0x46dd794e);	/* 4e 79 dd 46 */
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	assert_num_equal(pscope_crc32c(buf, 32), 0x113fdb5c);	/* 5c db 3f 11 */
	assert_num_equal(pscope_crc32c(pdu, 48), 0xd9963a56);	/* 56 3a 96 d9 */
	/* The usual check value: CRC-32C of "123456789". */
	assert_num_equal(pscope_crc32c("123456789", 9), 0xe3069283);
	assert_num_equal(pscope_crc32c("", 0), 0);
	/* In pieces, as the parser runs it. */
	c = pscope_crc32c_update(PSCOPE_CRC32C_INIT, pdu, 13);
	c = pscope_crc32c_update(c, pdu + 13, 35);
	assert_num_equal(pscope_crc32c_final(c), 0xd9963a56);
	/* Every table entry: the CRC of each one-byte input against the bitwise one. */
	for (int i = 0; i < 256; i++) {
		uint8_t b = (uint8_t)i;

		assert_num_equal(pscope_crc32c(&b, 1), crc32c_bitwise(&b, 1));
	}
}

/* --- version 1 ------------------------------------------------------------ */

#define V1_EXAMPLE "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
#define HTTP_GET "GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n"

/* Spec 2.1's example: the line before an HTTP request; the request is left alone. */
static void v1_spec_example(void **state)
{
	const char *in = V1_EXAMPLE HTTP_GET;
	struct pscope_proxy_hdr h;

	(void)state;
	assert_pp(parse_whole((const uint8_t *)in, strlen(in), &h), strlen(V1_EXAMPLE));
	assert_num_equal(h.version, 1);
	assert_num_equal(h.command, PSCOPE_PROXY_PROXY);
	assert_num_equal(h.family, PSCOPE_PROXY_AF_INET);
	assert_num_equal(h.transport, PSCOPE_PROXY_STREAM);
	addr_is(&h.src, "192.168.0.1", 56324);
	addr_is(&h.dst, "192.168.0.11", 443);
	assert_num_equal(h.ntlv, 0);
	check_splits((const uint8_t *)in, strlen(in), (ssize_t)strlen(V1_EXAMPLE));
}

/* Spec 2.1's longest lines of each kind are accepted; one byte more is not. */
static void v1_spec_lengths(void **state)
{
	static const struct {
		const char *line;
		size_t len;
	} cases[] = {
		{ "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", 56 },
		{ "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
		  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n", 104 },
		{ "PROXY UNKNOWN\r\n", 15 },
		{ "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
		  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n", 107 },
	};
	const char *over = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
			   "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655350\r\n";
	struct pscope_proxy_hdr h;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_num_equal(strlen(cases[i].line), cases[i].len);
		check_splits((const uint8_t *)cases[i].line, cases[i].len, (ssize_t)cases[i].len);
	}
	parse_whole((const uint8_t *)cases[1].line, cases[1].len, &h);
	addr_is(&h.src, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	parse_whole((const uint8_t *)cases[3].line, cases[3].len, &h);
	assert_num_equal(h.family, PSCOPE_PROXY_AF_UNSPEC);
	assert_num_equal(h.src.len, 0);
	/*
	 * 108 bytes: refused at its 106th byte, which leaves no room for the CRLF
	 * within 107 (line.h's framing), without waiting for the CRLF.
	 */
	assert_num_equal(strlen(over), 108);
	check_splits((const uint8_t *)over, strlen(over), -PSCOPE_PROXY_E_V1_TOO_LONG);
	check_splits((const uint8_t *)over, 106, -PSCOPE_PROXY_E_V1_TOO_LONG);
	assert_pp(parse_whole((const uint8_t *)over, 105, &h), 0);
}

static void v1_accepts(void **state)
{
	static const struct {
		const char *line, *src, *dst;
		unsigned sport, dport;
	} cases[] = {
		{ "PROXY TCP4 0.0.0.0 10.0.0.1 0 1\r\n", "0.0.0.0", "10.0.0.1", 0, 1 },
		{ "PROXY TCP6 ::1 ::ffff:127.0.0.1 65535 8080\r\n", "::1", "::ffff:127.0.0.1", 65535, 8080 },
		{ "PROXY TCP6 2001:DB8::A 2001:db8:0:0:0:0:0:b 1 2\r\n", "2001:db8::a", "2001:db8::b", 1, 2 },
		{ "PROXY UNKNOWN anything at all \x01\r\n", NULL, NULL, 0, 0 },
	};
	struct pscope_proxy_hdr h;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].line);

		print_message("  %s", cases[i].line);
		assert_pp(parse_whole((const uint8_t *)cases[i].line, n, &h), n);
		if (cases[i].src) {
			addr_is(&h.src, cases[i].src, cases[i].sport);
			addr_is(&h.dst, cases[i].dst, cases[i].dport);
		}
	}
}

static void v1_rejects(void **state)
{
	static const struct {
		const char *line;
		int err;
	} cases[] = {
		{ "GET / HTTP/1.1\r\n", PSCOPE_PROXY_E_SIGNATURE },
		{ "PROXY\r\n", PSCOPE_PROXY_E_SIGNATURE },
		{ "PROXY  TCP4 1.2.3.4 1.2.3.4 1 2\r\n", PSCOPE_PROXY_E_V1_PROTO },
		{ "proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n", PSCOPE_PROXY_E_SIGNATURE },
		{ "PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n", PSCOPE_PROXY_E_V1_CRLF },
		{ "PROXY TCP4 1.2.3.4 1.2.3.4 1 2\rX\n", PSCOPE_PROXY_E_V1_CRLF },
		{ "PROXY TCP4 1.2.3.4\r 1.2.3.4 1 2\r\n", PSCOPE_PROXY_E_V1_CRLF },
		{ "PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n", PSCOPE_PROXY_E_V1_PROTO },
		{ "PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n", PSCOPE_PROXY_E_V1_PROTO },
		{ "PROXY TCP44 1.2.3.4 1.2.3.4 1 2\r\n", PSCOPE_PROXY_E_V1_PROTO },
		{ "PROXY UNKNOWNX\r\n", PSCOPE_PROXY_E_V1_PROTO },
		{ "PROXY \r\n", PSCOPE_PROXY_E_V1_PROTO },
		{ "PROXY TCP4\r\n", PSCOPE_PROXY_E_V1_SYNTAX },
		{ "PROXY TCP4 \r\n", PSCOPE_PROXY_E_V1_SYNTAX },
		{ "PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n", PSCOPE_PROXY_E_V1_SYNTAX },
		{ "PROXY TCP4 1.2.3.4 1.2.3.4 1 2 3\r\n", PSCOPE_PROXY_E_V1_SYNTAX },
		{ "PROXY TCP4 1.2.3.4  1.2.3.4 1 2\r\n", PSCOPE_PROXY_E_V1_SYNTAX },
		{ "PROXY TCP4 1.2.3.4 1.2.3.4 1 2 \r\n", PSCOPE_PROXY_E_V1_SYNTAX },
		{ "PROXY TCP4 1.2.3.4 1.2.3.4 1 65536\r\n", PSCOPE_PROXY_E_V1_PORT },
		{ "PROXY TCP4 1.2.3.4 1.2.3.4 99999 1\r\n", PSCOPE_PROXY_E_V1_PORT },
		{ "PROXY TCP4 1.2.3.4 1.2.3.4 100000 1\r\n", PSCOPE_PROXY_E_V1_PORT },
		{ "PROXY TCP4 1.2.3.4 1.2.3.4 080 1\r\n", PSCOPE_PROXY_E_V1_PORT },
		{ "PROXY TCP4 1.2.3.4 1.2.3.4 -1 1\r\n", PSCOPE_PROXY_E_V1_PORT },
		{ "PROXY TCP4 1.2.3.4 1.2.3.4 +1 1\r\n", PSCOPE_PROXY_E_V1_PORT },
		{ "PROXY TCP4 1.2.3.04 1.2.3.4 1 1\r\n", PSCOPE_PROXY_E_V1_ADDR },
		{ "PROXY TCP4 1.2.3.256 1.2.3.4 1 1\r\n", PSCOPE_PROXY_E_V1_ADDR },
		{ "PROXY TCP4 1.2.3 1.2.3.4 1 1\r\n", PSCOPE_PROXY_E_V1_ADDR },
		{ "PROXY TCP4 1.2.3.4.5 1.2.3.4 1 1\r\n", PSCOPE_PROXY_E_V1_ADDR },
		{ "PROXY TCP4 1..3.4 1.2.3.4 1 1\r\n", PSCOPE_PROXY_E_V1_ADDR },
		{ "PROXY TCP4 0x1.2.3.4 1.2.3.4 1 1\r\n", PSCOPE_PROXY_E_V1_ADDR },
		{ "PROXY TCP4 ::1 1.2.3.4 1 1\r\n", PSCOPE_PROXY_E_V1_ADDR },
		{ "PROXY TCP6 1.2.3.4 ::1 1 1\r\n", PSCOPE_PROXY_E_V1_ADDR },
		{ "PROXY TCP6 ::1 ::1::2 1 1\r\n", PSCOPE_PROXY_E_V1_ADDR },
		{ "PROXY TCP6 ::1%lo ::1 1 1\r\n", PSCOPE_PROXY_E_V1_ADDR },
		/* An address error is named before a port error, wherever each is. */
		{ "PROXY TCP4 1.2.3.4 1.2.3.x 65536 1\r\n", PSCOPE_PROXY_E_V1_ADDR },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("  %s\n", cases[i].line);
		check_splits((const uint8_t *)cases[i].line, strlen(cases[i].line), -cases[i].err);
	}
}

/* A byte that cannot start or continue the signature is refused when it arrives. */
static void refused_early(void **state)
{
	struct pscope_proxy_parser p;
	struct pscope_proxy_hdr h;

	(void)state;
	pscope_proxy_parser_init(&p, PSCOPE_PROXY_ANY, 0);
	assert_pp(pscope_proxy_parse(&p, (const uint8_t *)"G", 1, &h), -PSCOPE_PROXY_E_SIGNATURE);
	pscope_proxy_parser_init(&p, PSCOPE_PROXY_ANY, 0);
	assert_pp(pscope_proxy_parse(&p, (const uint8_t *)"PRO", 3, &h), 0);
	assert_pp(pscope_proxy_parse(&p, (const uint8_t *)"PROXX", 5, &h), -PSCOPE_PROXY_E_SIGNATURE);
	pscope_proxy_parser_init(&p, PSCOPE_PROXY_ANY, 0);
	assert_pp(pscope_proxy_parse(&p, (const uint8_t *)"\r\n\r\n\0\r\n", 7, &h), 0);
	assert_pp(pscope_proxy_parse(&p, (const uint8_t *)"\r\n\r\n\0\r\nX", 8, &h),
		  -PSCOPE_PROXY_E_SIGNATURE);
	/* Shrinking input is the caller's mistake. */
	pscope_proxy_parser_init(&p, PSCOPE_PROXY_ANY, 0);
	assert_pp(pscope_proxy_parse(&p, (const uint8_t *)"PRO", 3, &h), 0);
	assert_pp(pscope_proxy_parse(&p, (const uint8_t *)"PR", 2, &h), -EINVAL);
	/* Nothing yet: need more. */
	pscope_proxy_parser_init(&p, PSCOPE_PROXY_ANY, 0);
	assert_pp(pscope_proxy_parse(&p, (const uint8_t *)"", 0, &h), 0);
}

/* --- version 2 ------------------------------------------------------------ */

#define SIG 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A

/* Spec 2.2: PROXY, TCP over IPv4, 192.168.0.1:56324 -> 192.168.0.11:443, no TLVs. */
static const uint8_t v2_tcp4[] = {
	SIG, 0x21, 0x11, 0x00, 0x0C,
	192, 168, 0, 1, 192, 168, 0, 11, 0xDC, 0x04, 0x01, 0xBB,
};

static void v2_tcp4_whole(void **state)
{
	uint8_t in[sizeof(v2_tcp4) + 4];
	struct pscope_proxy_hdr h;

	(void)state;
	memcpy(in, v2_tcp4, sizeof(v2_tcp4));
	memcpy(in + sizeof(v2_tcp4), "DATA", 4);
	assert_pp(parse_whole(in, sizeof(in), &h), 28);
	assert_num_equal(h.version, 2);
	assert_num_equal(h.command, PSCOPE_PROXY_PROXY);
	assert_num_equal(h.family, PSCOPE_PROXY_AF_INET);
	assert_num_equal(h.transport, PSCOPE_PROXY_STREAM);
	assert_num_equal(h.addr_len, 12);
	addr_is(&h.src, "192.168.0.1", 56324);
	addr_is(&h.dst, "192.168.0.11", 443);
	check_splits(in, sizeof(in), 28);
	check_splits(v2_tcp4, sizeof(v2_tcp4), 28);
}

/* TCP over IPv6 carrying IPv4-mapped addresses, and UDP over IPv6. */
static void v2_tcp6(void **state)
{
	uint8_t in[] = {
		SIG, 0x21, 0x21, 0x00, 0x24,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 2,
		0x30, 0x39, 0x00, 0x50,
	};
	struct pscope_proxy_hdr h;

	(void)state;
	assert_pp(parse_whole(in, sizeof(in), &h), 52);
	addr_is(&h.src, "::ffff:10.0.0.1", 12345);
	addr_is(&h.dst, "::ffff:10.0.0.2", 80);
	check_splits(in, sizeof(in), 52);
	in[13] = 0x22;
	assert_pp(parse_whole(in, sizeof(in), &h), 52);
	assert_num_equal(h.transport, PSCOPE_PROXY_DGRAM);
	addr_is(&h.src, "::ffff:10.0.0.1", 12345);
}

/* LOCAL without addresses; LOCAL with addresses (ignored but decoded); LOCAL with any family. */
static void v2_local(void **state)
{
	const uint8_t bare[] = { SIG, 0x20, 0x00, 0x00, 0x00 };
	uint8_t with[sizeof(v2_tcp4)];
	const uint8_t odd[] = { SIG, 0x20, 0xF7, 0x00, 0x02, 0xAA, 0xBB };
	const uint8_t pad[] = { SIG, 0x20, 0x00, 0x00, 0x02, 0xFF, 0xFF };
	uint8_t stray[sizeof(v2_tcp4) + 2];
	struct pscope_proxy_hdr h;

	(void)state;
	check_splits(bare, sizeof(bare), 16);
	parse_whole(bare, sizeof(bare), &h);
	assert_num_equal(h.command, PSCOPE_PROXY_LOCAL);
	assert_num_equal(h.src.len, 0);
	memcpy(with, v2_tcp4, sizeof(with));
	with[12] = 0x20;
	check_splits(with, sizeof(with), 28);
	parse_whole(with, sizeof(with), &h);
	assert_num_equal(h.command, PSCOPE_PROXY_LOCAL);
	addr_is(&h.src, "192.168.0.1", 56324);
	/* Spec 2.2: under LOCAL the family is ignored and the length skipped. */
	check_splits(odd, sizeof(odd), 18);
	parse_whole(odd, sizeof(odd), &h);
	assert_num_equal(h.addr_len, 2);
	assert_num_equal(h.ntlv, 0);
	/*
	 * Spec 2.2 ("discard the protocol block"): LOCAL with 2 bytes of padding
	 * and no family, LOCAL TCP4 with 2 stray bytes after its addresses, and
	 * LOCAL with a family the spec does not list: accepted, skipped whole.
	 */
	check_splits(pad, sizeof(pad), 18);
	parse_whole(pad, sizeof(pad), &h);
	assert_num_equal(h.command, PSCOPE_PROXY_LOCAL);
	assert_num_equal(h.addr_len, 2);
	assert_num_equal(h.ntlv, 0);
	memcpy(stray, v2_tcp4, sizeof(v2_tcp4));
	stray[12] = 0x20;
	stray[15] = 14;
	stray[28] = 0xAB;
	stray[29] = 0xCD;
	check_splits(stray, sizeof(stray), 30);
	parse_whole(stray, sizeof(stray), &h);
	assert_num_equal(h.addr_len, 14);
	assert_num_equal(h.src.len, 0);
	assert_num_equal(h.ntlv, 0);
	memcpy(stray, v2_tcp4, sizeof(v2_tcp4));
	stray[12] = 0x20;
	stray[13] = 0x10;
	check_splits(stray, 28, 28);
	parse_whole(stray, 28, &h);
	assert_num_equal(h.addr_len, 12);
	assert_num_equal(h.src.len, 0);
	/* The same bytes under PROXY are refused: stray bytes overrun, \x10 is not listed. */
	stray[12] = 0x21;
	check_splits(stray, 28, -PSCOPE_PROXY_E_FAMILY);
}

/* PROXY with AF_UNSPEC (the spec's \x00), AF_UNIX stream and datagram. */
static void v2_unspec_unix(void **state)
{
	const uint8_t unspec[] = { SIG, 0x21, 0x00, 0x00, 0x03, 0x04, 0x00, 0x00 };
	uint8_t unx[16 + 216];
	struct pscope_proxy_hdr h;

	(void)state;
	check_splits(unspec, sizeof(unspec), 19);
	parse_whole(unspec, sizeof(unspec), &h);
	assert_num_equal(h.family, PSCOPE_PROXY_AF_UNSPEC);
	assert_num_equal(h.addr_len, 0);
	assert_num_equal(h.ntlv, 1);	/* the NOOP */
	memset(unx, 0, sizeof(unx));
	memcpy(unx, (const uint8_t[]){ SIG, 0x21, 0x31, 0x00, 216 }, 16);
	memcpy(unx + 16, "/run/a.sock", 11);
	memcpy(unx + 16 + 108, "/run/b.sock", 11);
	check_splits(unx, sizeof(unx), (ssize_t)sizeof(unx));
	parse_whole(unx, sizeof(unx), &h);
	assert_num_equal(h.family, PSCOPE_PROXY_AF_UNIX);
	assert_string_equal((const char *)h.unix_src, "/run/a.sock");
	assert_string_equal((const char *)h.unix_dst, "/run/b.sock");
	unx[13] = 0x32;
	assert_pp(parse_whole(unx, sizeof(unx), &h), (ssize_t)sizeof(unx));
	assert_num_equal(h.transport, PSCOPE_PROXY_DGRAM);
}

static void v2_rejects(void **state)
{
	static const struct {
		uint8_t b[40];
		size_t n;
		int err;
	} cases[] = {
		{ { SIG, 0x11, 0x11, 0x00, 0x0C }, 16, PSCOPE_PROXY_E_VERSION },
		{ { SIG, 0x31, 0x11, 0x00, 0x0C }, 16, PSCOPE_PROXY_E_VERSION },
		{ { SIG, 0x22, 0x11, 0x00, 0x0C }, 16, PSCOPE_PROXY_E_COMMAND },
		{ { SIG, 0x2F, 0x11, 0x00, 0x0C }, 16, PSCOPE_PROXY_E_COMMAND },
		{ { SIG, 0x21, 0x41, 0x00, 0x0C }, 16, PSCOPE_PROXY_E_FAMILY },
		{ { SIG, 0x21, 0x13, 0x00, 0x0C }, 16, PSCOPE_PROXY_E_FAMILY },
		/* Spec 2.2 lists \x00 \x11 \x12 \x21 \x22 \x31 \x32 only: a family with transport UNSPEC, or the reverse. */
		{ { SIG, 0x21, 0x10, 0x00, 0x0C }, 16, PSCOPE_PROXY_E_FAMILY },
		{ { SIG, 0x21, 0x20, 0x00, 0x24 }, 16, PSCOPE_PROXY_E_FAMILY },
		{ { SIG, 0x21, 0x30, 0x00, 0xD8 }, 16, PSCOPE_PROXY_E_FAMILY },
		{ { SIG, 0x21, 0x01, 0x00, 0x00 }, 16, PSCOPE_PROXY_E_FAMILY },
		{ { SIG, 0x21, 0x02, 0x00, 0x00 }, 16, PSCOPE_PROXY_E_FAMILY },
		{ { SIG, 0x21, 0x11, 0x00, 0x0B }, 16, PSCOPE_PROXY_E_ADDR_LEN },
		{ { SIG, 0x21, 0x21, 0x00, 0x0C }, 16, PSCOPE_PROXY_E_ADDR_LEN },
		{ { SIG, 0x21, 0x31, 0x00, 0xD7 }, 16, PSCOPE_PROXY_E_ADDR_LEN },
		/* TLVs: a header cut inside a TLV's type and length, and a value past the end. */
		{ { SIG, 0x21, 0x00, 0x00, 0x02, 0x04, 0x00 }, 18, PSCOPE_PROXY_E_TLV_OVERRUN },
		{ { SIG, 0x21, 0x00, 0x00, 0x04, 0x04, 0x00, 0x02, 0xAA }, 20, PSCOPE_PROXY_E_TLV_OVERRUN },
		{ { SIG, 0x21, 0x00, 0x00, 0x03, 0x04, 0xFF, 0xFF }, 19, PSCOPE_PROXY_E_TLV_OVERRUN },
		{ { SIG, 0x21, 0x00, 0x00, 0x06, 0x03, 0x00, 0x03, 1, 2, 3 }, 22, PSCOPE_PROXY_E_CRC32C_LEN },
		{ { SIG, 0x21, 0x00, 0x00, 0x07, 0x03, 0x00, 0x04, 1, 2, 3, 4 }, 23, PSCOPE_PROXY_E_CRC32C },
		{ { SIG, 0x21, 0x00, 0x00, 0x07, 0x20, 0x00, 0x04, 1, 0, 0, 0 }, 23, PSCOPE_PROXY_E_SSL },
		{ { SIG, 0x21, 0x00, 0x00, 0x0A, 0x20, 0x00, 0x07, 1, 0, 0, 0, 0, 0x21, 0 }, 26,
		  PSCOPE_PROXY_E_SSL },
		{ { SIG, 0x21, 0x00, 0x00, 0x0B, 0x20, 0x00, 0x08, 1, 0, 0, 0, 0, 0x21, 0, 1 }, 27,
		  PSCOPE_PROXY_E_SSL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("  case %zu\n", i);
		check_splits(cases[i].b, cases[i].n, -cases[i].err);
	}
}

/* Every TLV the spec defines, an application one, an unknown one and a zero-length one. */
static void v2_tlvs(void **state)
{
	uint8_t in[512];
	size_t n = 0;
	struct pscope_proxy_hdr h;
	uint32_t crc;
	size_t crc_at;
#define PUT(...) do { const uint8_t b_[] = { __VA_ARGS__ }; memcpy(in + n, b_, sizeof(b_)); n += sizeof(b_); } while (0)
#define PUTS(s) do { memcpy(in + n, s, strlen(s)); n += strlen(s); } while (0)

	(void)state;
	PUT(SIG, 0x21, 0x11, 0x00, 0x00);
	PUT(127, 0, 0, 1, 127, 0, 0, 2, 0x04, 0xD2, 0x16, 0x2E);	/* 1234 -> 5678 */
	PUT(0x01, 0x00, 0x02); PUTS("h2");
	PUT(0x02, 0x00, 0x0B); PUTS("example.com");
	PUT(0x04, 0x00, 0x00);						/* NOOP, zero length */
	PUT(0x05, 0x00, 0x03, 0xAB, 0xCD, 0xEF);
	/* SSL: client SSL|CERT_CONN, verify 0, then VERSION, CN, CIPHER, SIG_ALG, KEY_ALG, GROUP, SIG_SCHEME, CLIENT_CERT */
	PUT(0x20, 0x00, 5 + 10 + 14 + 30 + 13 + 10 + 12 + 22 + 5);
	PUT(0x03, 0x00, 0x00, 0x00, 0x00);
	PUT(0x21, 0x00, 0x07); PUTS("TLSv1.3");
	PUT(0x22, 0x00, 0x0B); PUTS("example.com");
	PUT(0x23, 0x00, 0x1B); PUTS("ECDHE-RSA-AES128-GCM-SHA256");
	PUT(0x24, 0x00, 0x0A); PUTS("RSA-SHA256");
	PUT(0x25, 0x00, 0x07); PUTS("RSA2048");
	PUT(0x26, 0x00, 0x09); PUTS("secp256r1");
	PUT(0x27, 0x00, 0x13); PUTS("rsa_pss_rsae_sha256");
	PUT(0x28, 0x00, 0x02, 0x30, 0x00);
	PUT(0x30, 0x00, 0x04); PUTS("blue");
	PUT(0xE0, 0x00, 0x03, 0x00, 0xFF, 0x00);			/* application range */
	PUT(0x99, 0x00, 0x01, 0x42);					/* unknown type */
	PUT(0xEF, 0x00, 0x00);						/* zero length */
	PUT(0x03, 0x00, 0x04, 0, 0, 0, 0);				/* CRC32C, filled below */
	crc_at = n - 4;
	in[14] = (uint8_t)((n - 16) >> 8);
	in[15] = (uint8_t)(n - 16);
	crc = crc32c_bitwise(in, n);	/* over the header with the field zero (spec 2.2.3) */
	in[crc_at] = (uint8_t)(crc >> 24), in[crc_at + 1] = (uint8_t)(crc >> 16);
	in[crc_at + 2] = (uint8_t)(crc >> 8), in[crc_at + 3] = (uint8_t)crc;

	assert_pp(parse_whole(in, n, &h), n);
	addr_is(&h.src, "127.0.0.1", 1234);
	addr_is(&h.dst, "127.0.0.2", 5678);
	assert_num_equal(h.ntlv, 10);
	assert_num_equal(h.tlv_count, 10);
	assert_num_equal(h.alpn.len, 2);
	assert_memory_equal(h.alpn.value, "h2", 2);
	assert_memory_equal(h.authority.value, "example.com", 11);
	assert_num_equal(h.unique_id.len, 3);
	assert_memory_equal(h.netns.value, "blue", 4);
	assert_true(h.has_crc32c);
	assert_num_equal(h.crc32c, crc);
	assert_num_equal(h.ssl_client, PSCOPE_PP2_CLIENT_SSL | PSCOPE_PP2_CLIENT_CERT_CONN);
	assert_num_equal(h.ssl_verify, 0);
	assert_num_equal(h.nssl_sub, 8);
	assert_memory_equal(h.ssl_version.value, "TLSv1.3", 7);
	assert_memory_equal(h.ssl_cn.value, "example.com", 11);
	assert_memory_equal(h.ssl_cipher.value, "ECDHE-RSA-AES128-GCM-SHA256", 27);
	assert_memory_equal(h.ssl_sig_alg.value, "RSA-SHA256", 10);
	assert_memory_equal(h.ssl_key_alg.value, "RSA2048", 7);
	assert_memory_equal(h.ssl_group.value, "secp256r1", 9);
	assert_memory_equal(h.ssl_sig_scheme.value, "rsa_pss_rsae_sha256", 19);
	assert_num_equal(h.ssl_client_cert.len, 2);
	assert_num_equal(h.tlv[2].type, PSCOPE_PP2_TYPE_NOOP);
	assert_num_equal(h.tlv[2].len, 0);
	assert_num_equal(h.tlv[6].type, 0xE0);
	assert_memory_equal(h.tlv[6].value, "\x00\xff\x00", 3);
	assert_num_equal(h.tlv[7].type, 0x99);
	assert_num_equal(h.tlv[7].value[0], 0x42);
	assert_num_equal(h.tlv[8].type, 0xEF);
	assert_num_equal(h.tlv[8].len, 0);
	assert_ptr_equal(h.tlv[9].value, in + crc_at);
	check_splits(in, n, (ssize_t)n);

	/*
	 * Any bit flipped in the header, the CRC field's own included, breaks
	 * it (but the CRC TLV's type: 0x03 flipped is another TLV, and no CRC).
	 */
	for (size_t i = 0; i < n * 8; i++) {
		ssize_t rc;

		if (i / 8 == crc_at - 3)
			continue;
		in[i / 8] ^= (uint8_t)(1u << (i % 8));
		rc = parse_whole(in, n, &h);
		in[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_true(rc != (ssize_t)n);
	}
	/* A second CRC32C TLV is refused (the first one right for the new header). */
	PUT(0x03, 0x00, 0x04, 0, 0, 0, 0);
	in[15] = (uint8_t)(n - 16);
	memset(in + crc_at, 0, 4);
	crc = crc32c_bitwise(in, n);
	in[crc_at] = (uint8_t)(crc >> 24), in[crc_at + 1] = (uint8_t)(crc >> 16);
	in[crc_at + 2] = (uint8_t)(crc >> 8), in[crc_at + 3] = (uint8_t)crc;
	assert_pp(parse_whole(in, n, &h), -PSCOPE_PROXY_E_CRC32C_LEN);
#undef PUT
#undef PUTS
}

/* UNIQUE_ID: 128 bytes accepted, 129 refused (spec 2.2.5). */
static void v2_unique_id(void **state)
{
	uint8_t in[16 + 3 + 129];
	struct pscope_proxy_hdr h;

	(void)state;
	memset(in, 'u', sizeof(in));
	memcpy(in, (const uint8_t[]){ SIG, 0x20, 0x00, 0x00, 3 + 128, 0x05, 0x00, 128 }, 19);
	assert_pp(parse_whole(in, 16 + 3 + 128, &h), 16 + 3 + 128);
	assert_num_equal(h.unique_id.len, 128);
	in[15] = 3 + 129, in[18] = 129;
	assert_pp(parse_whole(in, sizeof(in), &h), -PSCOPE_PROXY_E_UNIQUE_ID_LEN);
}

/* The cap: a header of exactly MAX bytes is accepted, one more is refused at byte 16. */
static void v2_size_cap(void **state)
{
	static uint8_t in[PSCOPE_PROXY_DEFAULT_MAX + 1];
	size_t alen = PSCOPE_PROXY_DEFAULT_MAX - 16;
	struct pscope_proxy_hdr h;
	struct pscope_proxy_parser p;

	(void)state;
	memset(in, 0, sizeof(in));
	memcpy(in, (const uint8_t[]){ SIG, 0x20, 0x00 }, 14);
	in[14] = (uint8_t)(alen >> 8), in[15] = (uint8_t)alen;
	in[16] = PSCOPE_PP2_TYPE_NOOP;
	in[17] = (uint8_t)((alen - 3) >> 8), in[18] = (uint8_t)(alen - 3);
	check_splits(in, PSCOPE_PROXY_DEFAULT_MAX, PSCOPE_PROXY_DEFAULT_MAX);
	alen++;
	in[14] = (uint8_t)(alen >> 8), in[15] = (uint8_t)alen;
	in[17] = (uint8_t)((alen - 3) >> 8), in[18] = (uint8_t)(alen - 3);
	pscope_proxy_parser_init(&p, PSCOPE_PROXY_ANY, PSCOPE_PROXY_DEFAULT_MAX);
	assert_pp(pscope_proxy_parse(&p, in, 15, &h), 0);
	assert_pp(pscope_proxy_parse(&p, in, 16, &h), -PSCOPE_PROXY_E_TOO_BIG);
	/* Without a cap the same header is fine. */
	assert_pp(parse_pieces(in, sizeof(in), NULL, 0, PSCOPE_PROXY_ANY, 0, &h), (ssize_t)sizeof(in));
	/* A v1 line longer than a small cap: the cap's error, not the spec's 107 bytes. */
	assert_pp(parse_pieces((const uint8_t *)V1_EXAMPLE, strlen(V1_EXAMPLE), NULL, 0,
			       PSCOPE_PROXY_ANY, 40, &h), -PSCOPE_PROXY_E_TOO_BIG);
}

/* A parser told to accept one version refuses the other once its signature is in. */
static void accept_mask(void **state)
{
	struct pscope_proxy_hdr h;

	(void)state;
	assert_pp(parse_pieces((const uint8_t *)V1_EXAMPLE, strlen(V1_EXAMPLE), NULL, 0,
			       PSCOPE_PROXY_V2, 0, &h), -PSCOPE_PROXY_E_NOT_ACCEPTED);
	assert_pp(parse_pieces(v2_tcp4, sizeof(v2_tcp4), NULL, 0, PSCOPE_PROXY_V1, 0, &h),
		  -PSCOPE_PROXY_E_NOT_ACCEPTED);
	assert_pp(parse_pieces(v2_tcp4, sizeof(v2_tcp4), NULL, 0, PSCOPE_PROXY_V2, 0, &h), 28);
	assert_pp(parse_pieces((const uint8_t *)"PROXZ", 5, NULL, 0, PSCOPE_PROXY_V2, 0, &h),
		  -PSCOPE_PROXY_E_SIGNATURE);
}

/* --- the builder ---------------------------------------------------------- */

static void build_exact(const struct pscope_proxy_hdr *h, bool crc, const uint8_t *want, size_t n)
{
	uint8_t *buf;

	for (size_t size = 0; size < n; size++) {
		buf = malloc(size ? size : 1);
		assert_pp(pscope_proxy_build(h, crc, buf, size), -ENOSPC);
		free(buf);
	}
	buf = malloc(n);
	assert_pp(pscope_proxy_build(h, crc, buf, n), (ssize_t)n);
	assert_memory_equal(buf, want, n);
	free(buf);
}

static void build_v1_v2(void **state)
{
	struct pscope_proxy_hdr h;
	const char *v6 = "PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 443 65535\r\n";
	const uint8_t local[] = { SIG, 0x20, 0x00, 0x00, 0x00 };
	uint8_t buf[64];

	(void)state;
	pscope_proxy_hdr_init(&h);
	h.version = 1;
	h.command = PSCOPE_PROXY_PROXY;
	h.family = PSCOPE_PROXY_AF_INET;
	h.transport = PSCOPE_PROXY_STREAM;
	addr_or_fail("192.168.0.1:56324", &h.src);
	addr_or_fail("192.168.0.11:443", &h.dst);
	build_exact(&h, false, (const uint8_t *)V1_EXAMPLE, strlen(V1_EXAMPLE));
	h.version = 2;
	build_exact(&h, false, v2_tcp4, sizeof(v2_tcp4));
	h.version = 1;
	h.family = PSCOPE_PROXY_AF_INET6;
	addr_or_fail("[2001:db8::1]:443", &h.src);
	addr_or_fail("[::ffff:10.0.0.1]:65535", &h.dst);
	build_exact(&h, false, (const uint8_t *)v6, strlen(v6));
	h.family = PSCOPE_PROXY_AF_UNSPEC;
	build_exact(&h, false, (const uint8_t *)"PROXY UNKNOWN\r\n", 15);
	/* What v1 cannot say. */
	h.family = PSCOPE_PROXY_AF_INET;	/* with IPv6 addresses */
	assert_pp(pscope_proxy_build(&h, false, buf, sizeof(buf)), -EINVAL);
	h.family = PSCOPE_PROXY_AF_INET6;
	assert_pp(pscope_proxy_build(&h, true, buf, sizeof(buf)), -EINVAL);
	h.command = PSCOPE_PROXY_LOCAL;
	assert_pp(pscope_proxy_build(&h, false, buf, sizeof(buf)), -EINVAL);
	h.command = PSCOPE_PROXY_PROXY;
	h.transport = PSCOPE_PROXY_DGRAM;
	assert_pp(pscope_proxy_build(&h, false, buf, sizeof(buf)), -EINVAL);
	h.transport = PSCOPE_PROXY_STREAM;
	assert_num_equal(pscope_proxy_add_tlv(&h, 0xE0, "x", 1), 0);
	assert_pp(pscope_proxy_build(&h, false, buf, sizeof(buf)), -EINVAL);
	h.version = 3;
	assert_pp(pscope_proxy_build(&h, false, buf, sizeof(buf)), -EINVAL);
	/* v2 LOCAL without addresses. */
	pscope_proxy_hdr_init(&h);
	h.version = 2;
	build_exact(&h, false, local, sizeof(local));
	/* v2 INET without addresses is refused. */
	h.family = PSCOPE_PROXY_AF_INET;
	assert_pp(pscope_proxy_build(&h, false, buf, sizeof(buf)), -EINVAL);
}

/* The builder's CRC32C: added at the end, or filled into the TLV the caller placed. */
static void build_crc32c(void **state)
{
	struct pscope_proxy_hdr h, back;
	uint8_t buf[128], want[128];
	ssize_t n;
	uint32_t crc;

	(void)state;
	pscope_proxy_hdr_init(&h);
	h.version = 2;
	h.command = PSCOPE_PROXY_PROXY;
	h.family = PSCOPE_PROXY_AF_INET;
	h.transport = PSCOPE_PROXY_STREAM;
	addr_or_fail("192.168.0.1:56324", &h.src);
	addr_or_fail("192.168.0.11:443", &h.dst);
	assert_num_equal(pscope_proxy_add_tlv(&h, PSCOPE_PP2_TYPE_ALPN, "h2", 2), 0);
	n = pscope_proxy_build(&h, true, buf, sizeof(buf));
	assert_num_equal(n, 28 + 5 + 7);
	/* The expected bytes, written out; the CRC from the bitwise reference. */
	memcpy(want, v2_tcp4, 28);
	want[15] = 12 + 5 + 7;
	memcpy(want + 28, "\x01\x00\x02h2\x03\x00\x04\0\0\0\0", 12);
	crc = crc32c_bitwise(want, 40);
	want[36] = (uint8_t)(crc >> 24), want[37] = (uint8_t)(crc >> 16);
	want[38] = (uint8_t)(crc >> 8), want[39] = (uint8_t)crc;
	assert_memory_equal(buf, want, 40);
	assert_pp(parse_whole(buf, (size_t)n, &back), n);
	assert_true(back.has_crc32c);
	assert_num_equal(back.crc32c, crc);
	/* A CRC32C TLV the caller placed first is filled in, wherever it is. */
	pscope_proxy_hdr_init(&h);
	h.version = 2;
	assert_num_equal(pscope_proxy_add_tlv(&h, PSCOPE_PP2_TYPE_CRC32C, "\xff\xff\xff\xff", 4), 0);
	assert_num_equal(pscope_proxy_add_tlv(&h, PSCOPE_PP2_TYPE_NOOP, NULL, 0), 0);
	n = pscope_proxy_build(&h, true, buf, sizeof(buf));
	assert_num_equal(n, 16 + 7 + 3);
	assert_pp(parse_whole(buf, (size_t)n, &back), n);
	assert_num_equal(back.tlv[0].type, PSCOPE_PP2_TYPE_CRC32C);
	assert_true(back.has_crc32c);
	/* Without CRC32C set, the caller's value is sent as it is: a bad checksum. */
	n = pscope_proxy_build(&h, false, buf, sizeof(buf));
	assert_pp(parse_whole(buf, (size_t)n, &back), -PSCOPE_PROXY_E_CRC32C);
	/* A CRC32C TLV of another length cannot be filled. */
	h.tlv[0].len = 3;
	assert_pp(pscope_proxy_build(&h, true, buf, sizeof(buf)), -EINVAL);
}

/* A header parsed, built again from what was decoded, is the same bytes. */
static void build_round_trip(void **state)
{
	const uint8_t local_odd[] = { SIG, 0x20, 0xF7, 0x00, 0x02, 0xAA, 0xBB };
	const uint8_t *inputs[] = { v2_tcp4, local_odd };
	const size_t sizes[] = { sizeof(v2_tcp4), sizeof(local_odd) };
	struct pscope_proxy_hdr h;
	uint8_t buf[64];

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		ssize_t n = parse_whole(inputs[i], sizes[i], &h);

		assert_pp(n, (ssize_t)sizes[i]);
		assert_pp(pscope_proxy_build(&h, false, buf, sizeof(buf)), n);
		assert_memory_equal(buf, inputs[i], sizes[i]);
	}
}

/* More TLVs than the header records: all checked and counted, the first 32 kept. */
static void many_tlvs(void **state)
{
	uint8_t in[16 + 3 * 100];
	struct pscope_proxy_hdr h;

	(void)state;
	memset(in, 0, sizeof(in));
	memcpy(in, (const uint8_t[]){ SIG, 0x20, 0x00, 0x01, 0x2C }, 16);
	for (int i = 0; i < 100; i++)
		in[16 + 3 * i] = (uint8_t)(0xE0 + i % 16);
	assert_pp(parse_whole(in, sizeof(in), &h), (ssize_t)sizeof(in));
	assert_num_equal(h.ntlv, PSCOPE_PROXY_TLV_MAX);
	assert_num_equal(h.tlv_count, 100);
	assert_num_equal(h.tlv[31].type, 0xE0 + 31 % 16);
}

static void messages(void **state)
{
	(void)state;
	for (int e = PSCOPE_PROXY_ERR_BASE + 1; e < PSCOPE_PROXY_E_LAST; e++) {
		assert_non_null(pscope_proxy_error_name(-e));
		assert_non_null(strstr(pscope_proxy_strerror(-e), " "));
		assert_string_not_equal(pscope_proxy_strerror(-e), "unknown error");
	}
	assert_string_equal(pscope_proxy_error_name(-PSCOPE_PROXY_E_CRC32C), "PSCOPE_PROXY_E_CRC32C");
	assert_null(pscope_proxy_error_name(-EINVAL));
	assert_string_equal(pscope_proxy_strerror(-EINVAL), strerror(EINVAL));
	assert_string_equal(pscope_proxy_tlv_name(0x28), "SSL_CLIENT_CERT");
	assert_null(pscope_proxy_tlv_name(0xE0));
	/* The README says what a connection's parser costs. */
	assert_num_equal(sizeof(struct pscope_proxy_parser), 40);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crc32c_rfc3720),
		cmocka_unit_test(v1_spec_example),
		cmocka_unit_test(v1_spec_lengths),
		cmocka_unit_test(v1_accepts),
		cmocka_unit_test(v1_rejects),
		cmocka_unit_test(refused_early),
		cmocka_unit_test(v2_tcp4_whole),
		cmocka_unit_test(v2_tcp6),
		cmocka_unit_test(v2_local),
		cmocka_unit_test(v2_unspec_unix),
		cmocka_unit_test(v2_rejects),
		cmocka_unit_test(v2_tlvs),
		cmocka_unit_test(v2_unique_id),
		cmocka_unit_test(v2_size_cap),
		cmocka_unit_test(accept_mask),
		cmocka_unit_test(build_v1_v2),
		cmocka_unit_test(build_crc32c),
		cmocka_unit_test(build_round_trip),
		cmocka_unit_test(many_tlvs),
		cmocka_unit_test(messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
