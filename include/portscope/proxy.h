/*
 * portscope: the PROXY protocol, versions 1 and 2, as HAProxy's
 * doc/proxy-protocol.txt specifies it (the "spec" below; section numbers are
 * its own), and CRC32c (Castagnoli), which its version 2 uses.
 *
 * The parser is incremental and allocates nothing.  The caller keeps every
 * byte it has received from the start of the connection in one buffer of its
 * own and calls pscope_proxy_parse() with that buffer and its length after
 * each read; the parser remembers how far it has looked (a call resumes
 * there), looks at no byte past the end of the header, and reports
 * "need more", "done: the header was N bytes" or why the input is not a
 * header.  The decoded header points into the caller's buffer (TLV values,
 * AF_UNIX paths), which must therefore stay where it is as long as the
 * decoded header is used.  A header split at any byte gives the same result.
 * A server that keeps no buffer per connection can instead peek the bytes
 * (recv(2) with MSG_PEEK, into a buffer of the cap's size on its stack) on
 * each readable event, parse what it peeked, and once the parser returns N,
 * read exactly N bytes to take the header off the stream.  Peeked bytes stay
 * queued, so a level-triggered poll would report the socket readable again
 * at once: after "need more", set SO_RCVLOWAT (socket(7)) to one byte more
 * than was peeked, and the socket is readable again only when more bytes,
 * or the end, arrive (Linux's TCP poll honours it).
 *
 * The builder writes a version 1 line or a version 2 header from the same
 * struct the parser fills, so that a header parsed can be written again.
 *
 * Errors are negative: -errno (for misuse: -EINVAL, -ENOSPC), or one of the
 * PSCOPE_PROXY_E_* codes below, negated; pscope_proxy_strerror() names each.
 */
#ifndef PORTSCOPE_PROXY_H
#define PORTSCOPE_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"

/* The longest version 1 line, CRLF included (spec 2.1: "UNKNOWN" with two IPv6 addresses). */
#define PSCOPE_PROXY_V1_MAX 107
/* The fixed part of a version 2 header (spec 2.2): signature, ver_cmd, fam, len. */
#define PSCOPE_PROXY_V2_FIXED 16
/* The longest version 2 header the format allows: 16 bytes and a 16-bit length. */
#define PSCOPE_PROXY_V2_MAX (PSCOPE_PROXY_V2_FIXED + 65535)
/* A size cap a receiver should set unless it has a reason to choose another (nginx has 4096). */
#define PSCOPE_PROXY_DEFAULT_MAX 4096
/* TLVs recorded in struct pscope_proxy_hdr (more are checked, counted and not recorded). */
#define PSCOPE_PROXY_TLV_MAX 32
/* Sub-TLVs of the SSL TLV recorded (spec 2.2.6). */
#define PSCOPE_PROXY_SSL_SUB_MAX 16
/* The longest UNIQUE_ID value (spec 2.2.5). */
#define PSCOPE_PROXY_UNIQUE_ID_MAX 128
/* An AF_UNIX address in a version 2 header (spec 2.2). */
#define PSCOPE_PROXY_UNIX_LEN 108

/* Which versions a parser accepts (the spec forbids guessing whether a header is there at all). */
enum {
	PSCOPE_PROXY_V1 = 1,
	PSCOPE_PROXY_V2 = 2,
	PSCOPE_PROXY_ANY = PSCOPE_PROXY_V1 | PSCOPE_PROXY_V2,
};

/* Commands (spec 2.2: the low nibble of the 13th byte).  A version 1 line is always PROXY. */
enum { PSCOPE_PROXY_LOCAL = 0x0, PSCOPE_PROXY_PROXY = 0x1 };

/* Address families (the high nibble of the 14th byte); v1's TCP4, TCP6, UNKNOWN map to INET, INET6, UNSPEC. */
enum {
	PSCOPE_PROXY_AF_UNSPEC = 0x0,
	PSCOPE_PROXY_AF_INET = 0x1,
	PSCOPE_PROXY_AF_INET6 = 0x2,
	PSCOPE_PROXY_AF_UNIX = 0x3,
};

/* Transport protocols (the low nibble of the 14th byte). */
enum {
	PSCOPE_PROXY_TRANSPORT_UNSPEC = 0x0,
	PSCOPE_PROXY_STREAM = 0x1,
	PSCOPE_PROXY_DGRAM = 0x2,
};

/* TLV types (spec 2.2, 2.2.1 to 2.2.8). */
enum {
	PSCOPE_PP2_TYPE_ALPN = 0x01,
	PSCOPE_PP2_TYPE_AUTHORITY = 0x02,
	PSCOPE_PP2_TYPE_CRC32C = 0x03,
	PSCOPE_PP2_TYPE_NOOP = 0x04,
	PSCOPE_PP2_TYPE_UNIQUE_ID = 0x05,
	PSCOPE_PP2_TYPE_SSL = 0x20,
	PSCOPE_PP2_SUBTYPE_SSL_VERSION = 0x21,
	PSCOPE_PP2_SUBTYPE_SSL_CN = 0x22,
	PSCOPE_PP2_SUBTYPE_SSL_CIPHER = 0x23,
	PSCOPE_PP2_SUBTYPE_SSL_SIG_ALG = 0x24,
	PSCOPE_PP2_SUBTYPE_SSL_KEY_ALG = 0x25,
	PSCOPE_PP2_SUBTYPE_SSL_GROUP = 0x26,
	PSCOPE_PP2_SUBTYPE_SSL_SIG_SCHEME = 0x27,
	PSCOPE_PP2_SUBTYPE_SSL_CLIENT_CERT = 0x28,
	PSCOPE_PP2_TYPE_NETNS = 0x30,
	PSCOPE_PP2_TYPE_MIN_CUSTOM = 0xE0,	/* application-specific: kept as raw bytes */
	PSCOPE_PP2_TYPE_MAX_CUSTOM = 0xEF,
};

/* Bits of the SSL TLV's client field (spec 2.2.6). */
enum {
	PSCOPE_PP2_CLIENT_SSL = 0x01,
	PSCOPE_PP2_CLIENT_CERT_CONN = 0x02,
	PSCOPE_PP2_CLIENT_CERT_SESS = 0x04,
};

/* Why bytes are not a PROXY protocol header.  Functions return them negated. */
#define PSCOPE_PROXY_ERR_BASE (PSCOPE_ERR_BASE + 128)
enum pscope_proxy_error {
	PSCOPE_PROXY_E_SIGNATURE = PSCOPE_PROXY_ERR_BASE + 1, /* neither "PROXY " nor the v2 signature */
	PSCOPE_PROXY_E_NOT_ACCEPTED,	/* a version the parser was told not to accept */
	PSCOPE_PROXY_E_VERSION,		/* v2: version nibble not 2 */
	PSCOPE_PROXY_E_COMMAND,		/* v2: command neither LOCAL nor PROXY */
	PSCOPE_PROXY_E_FAMILY,		/* v2 PROXY: a family/transport byte the spec does not list
					   (only \x00 \x11 \x12 \x21 \x22 \x31 \x32) */
	PSCOPE_PROXY_E_ADDR_LEN,	/* v2: length shorter than the family's addresses */
	PSCOPE_PROXY_E_TOO_BIG,		/* the header is longer than the caller's cap */
	PSCOPE_PROXY_E_TLV_OVERRUN,	/* a TLV runs past the end of the header (PROXY; under
					   LOCAL the block is skipped whole, spec 2.2) */
	PSCOPE_PROXY_E_CRC32C_LEN,	/* a CRC32C TLV not 4 bytes long, or a second one */
	PSCOPE_PROXY_E_CRC32C,		/* the CRC32c does not match the header */
	PSCOPE_PROXY_E_UNIQUE_ID_LEN,	/* a UNIQUE_ID longer than 128 bytes */
	PSCOPE_PROXY_E_SSL,		/* an SSL TLV under 5 bytes, or a sub-TLV that overruns it */
	PSCOPE_PROXY_E_V1_CRLF,		/* v1: a CR without LF, or an LF without CR */
	PSCOPE_PROXY_E_V1_TOO_LONG,	/* v1: no CRLF within 107 bytes (within a smaller cap: E_TOO_BIG) */
	PSCOPE_PROXY_E_V1_PROTO,	/* v1: protocol not TCP4, TCP6 or UNKNOWN */
	PSCOPE_PROXY_E_V1_SYNTAX,	/* v1: fields missing or extra, not one space apart */
	PSCOPE_PROXY_E_V1_ADDR,		/* v1: an address not in the protocol's family's form */
	PSCOPE_PROXY_E_V1_PORT,		/* v1: a port not a decimal 0 to 65535 without leading zeroes */
	PSCOPE_PROXY_E_LAST
};

/*
 * One TLV: its type, the length of its value, and where the value is: OFF
 * bytes from the header's first byte, that is VALUE in the caller's buffer.
 * The builder reads TYPE, LEN and VALUE only.
 */
struct pscope_proxy_tlv {
	uint8_t type;
	uint16_t len;
	uint32_t off;
	const uint8_t *value;
};

/* A decoded header (also the builder's input). */
struct pscope_proxy_hdr {
	uint8_t version;	/* 1 or 2 */
	uint8_t command;	/* PSCOPE_PROXY_LOCAL or PSCOPE_PROXY_PROXY */
	uint8_t family;		/* PSCOPE_PROXY_AF_* (under LOCAL, v2's nibble as sent, any value) */
	uint8_t transport;	/* PSCOPE_PROXY_STREAM, ... (v1: STREAM, or UNSPEC for UNKNOWN) */
	/*
	 * The source and destination (address and port), for families INET
	 * and INET6; len 0 otherwise.  Under LOCAL, what was sent, which the
	 * spec says to ignore.
	 */
	struct pscope_addr src, dst;
	/* AF_UNIX: the two 108-byte addresses, in the caller's buffer; NULL otherwise. */
	const uint8_t *unix_src, *unix_dst;
	/*
	 * v2: the address block as sent (ADDR_LEN bytes after the fixed 16,
	 * before the TLVs), in the caller's buffer.  The builder copies it
	 * verbatim when ADDR_RAW is not NULL, and encodes SRC and DST (or the
	 * UNIX paths) otherwise.  A LOCAL header whose family/transport byte is
	 * not one of the spec's, or whose bytes after its addresses are not
	 * whole TLVs (padding), has its whole length here, and no TLVs.
	 */
	const uint8_t *addr_raw;
	uint16_t addr_len;
	size_t len;		/* of the whole header, in bytes */
	/* Every TLV in order, up to PSCOPE_PROXY_TLV_MAX; TLV_COUNT counts all of them. */
	struct pscope_proxy_tlv tlv[PSCOPE_PROXY_TLV_MAX];
	unsigned ntlv, tlv_count;
	/* The spec's TLVs decoded (the first of each type); VALUE NULL when absent. */
	struct pscope_proxy_tlv alpn, authority, unique_id, netns, ssl;
	bool has_crc32c;	/* a CRC32C TLV was present, and matched */
	uint32_t crc32c;	/* its value */
	/* The SSL TLV (spec 2.2.6): client bits, verify, and each sub-TLV. */
	uint8_t ssl_client;
	uint32_t ssl_verify;
	struct pscope_proxy_tlv ssl_sub[PSCOPE_PROXY_SSL_SUB_MAX];
	unsigned nssl_sub, ssl_sub_count;
	struct pscope_proxy_tlv ssl_version, ssl_cn, ssl_cipher, ssl_sig_alg, ssl_key_alg,
		ssl_group, ssl_sig_scheme, ssl_client_cert;
};

/* The parser's state; the caller owns it.  Only pscope_proxy_parser_init sets its fields. */
struct pscope_proxy_parser {
	unsigned accept;	/* PSCOPE_PROXY_V1, _V2 or _ANY */
	size_t max;		/* cap on the header's length */
	size_t seen;		/* bytes examined so far */
	size_t total;		/* v2: the header's length once the fixed part is in; else 0 */
	uint8_t version;	/* 0 until the first byte says which */
};

/*
 * Prepares P for a new connection.  ACCEPT is PSCOPE_PROXY_V1, _V2 or _ANY
 * (0 counts as ANY); MAX caps the header's length in bytes (0: the largest
 * the versions allow; a v1 line is never longer than 107 bytes).
 */
void pscope_proxy_parser_init(struct pscope_proxy_parser *p, unsigned accept, size_t max);

/*
 * Looks at BUF, LEN bytes: every byte received on the connection so far
 * (the bytes of an earlier call, with more after them).  Returns:
 *   0     a header may follow, and is not complete yet: read more, call again;
 *   N > 0 the header is complete: its first N bytes, decoded into *H (which
 *         points into BUF); bytes after N are the connection's data;
 *   < 0   not a header: -PSCOPE_PROXY_E_* says why; -EINVAL if LEN is less
 *         than in the call before.
 * A byte that cannot start or continue a header is refused when it arrives
 * (a client that sends "GET" is refused at its first byte), whatever follows.
 * Reads no byte of BUF at or past LEN, nor past the header's end.  After a
 * result other than 0, P must be initialised again before further use.
 */
ssize_t pscope_proxy_parse(struct pscope_proxy_parser *p, const uint8_t *buf, size_t len,
			   struct pscope_proxy_hdr *h);

/*
 * Writes the header H describes into BUF of SIZE bytes (no NUL added):
 * version 1 (H->version 1: "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" from
 * SRC and DST, or "PROXY UNKNOWN\r\n" when H->family is UNSPEC) or version 2
 * (command, family, transport, the address block from ADDR_RAW or encoded
 * from SRC and DST or the UNIX paths, then H->tlv[0..ntlv) in order).  With
 * CRC32C true (v2 only) the value of the first CRC32C TLV in H->tlv (which
 * must be 4 bytes long) is computed over the whole header as the spec's 2.2.3
 * says; if there is none, one is added at the end.  Reads only version,
 * command, family, transport, src, dst, unix_src, unix_dst, addr_raw,
 * addr_len, tlv and ntlv.
 * Returns the header's length; -ENOSPC if SIZE is too small; -EINVAL if H
 * cannot be written: a version other than 1 or 2, a v1 header with a LOCAL
 * command, TLVs or a transport other than STREAM, a family or transport
 * that does not fit its nibble, addresses of another family than H->family,
 * a CRC32C TLV not 4 bytes long, or more than 65535 bytes after the fixed 16.
 */
ssize_t pscope_proxy_build(const struct pscope_proxy_hdr *h, bool crc32c, uint8_t *buf,
			   size_t size);

/* Sets *H to an empty header: every field zero or NULL, no TLVs. */
void pscope_proxy_hdr_init(struct pscope_proxy_hdr *h);

/*
 * Adds a TLV of TYPE with LEN bytes at VALUE (not copied: it must outlive
 * the build) to H's list.  Returns 0, or -ENOSPC when H holds
 * PSCOPE_PROXY_TLV_MAX already.
 */
int pscope_proxy_add_tlv(struct pscope_proxy_hdr *h, uint8_t type, const void *value,
			 uint16_t len);

/* The spec's name of a TLV type or SSL sub-type ("ALPN", "SSL_CN"), or NULL for another. */
const char *pscope_proxy_tlv_name(uint8_t type);

/* A message for any code the library returns: PSCOPE_PROXY_E_*, -errno or pscope_strerror's. */
const char *pscope_proxy_strerror(int err);

/* The constant's name of a PSCOPE_PROXY_E_* code, negated or not ("PSCOPE_PROXY_E_CRC32C"), or NULL. */
const char *pscope_proxy_error_name(int err);

/*
 * CRC32c, the Castagnoli polynomial 0x1EDC6F41 (reflected 0x82F63B78), as
 * RFC 3720, appendix B.4 and RFC 4960, appendix B define it.
 * pscope_crc32c_update(CRC, ...) continues a running value that starts as
 * PSCOPE_CRC32C_INIT and is finished by pscope_crc32c_final; pscope_crc32c
 * does all three for one buffer.  The result is a number: put it on the wire
 * as the protocol says (the PROXY protocol's TLV: big-endian).
 */
#define PSCOPE_CRC32C_INIT 0xFFFFFFFFu
uint32_t pscope_crc32c_update(uint32_t crc, const void *buf, size_t len);
static inline uint32_t pscope_crc32c_final(uint32_t crc)
{
	return crc ^ 0xFFFFFFFFu;
}
uint32_t pscope_crc32c(const void *buf, size_t len);

#endif
