/*
 * Fuzz target: pscope_proxy_parse on arbitrary bytes, whole and in pieces.
 *   - Fed in pieces (one byte at a time, and split where the input's last
 *     byte says), the result and the decoded header must be the same.
 *   - A header it accepts is built again from what was decoded: a v2 header
 *     must come back byte for byte (with the address block copied, and
 *     encoded again from the addresses when its family is one the spec
 *     defines); a v1 line must parse again to the same addresses.
 * abort() otherwise.  The input is an exact-size buffer: a read past it is
 * an AddressSanitizer error.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "portscope/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct pscope_proxy_hdr *a, const struct pscope_proxy_hdr *b)
{
	if (a->version != b->version || a->command != b->command || a->family != b->family ||
	    a->transport != b->transport || a->len != b->len || a->src.len != b->src.len ||
	    a->dst.len != b->dst.len || memcmp(&a->src.u, &b->src.u, a->src.len) ||
	    memcmp(&a->dst.u, &b->dst.u, a->dst.len) || a->ntlv != b->ntlv ||
	    a->tlv_count != b->tlv_count || a->has_crc32c != b->has_crc32c ||
	    a->crc32c != b->crc32c || a->nssl_sub != b->nssl_sub || a->addr_len != b->addr_len)
		abort();
	for (unsigned i = 0; i < a->ntlv; i++)
		if (a->tlv[i].type != b->tlv[i].type || a->tlv[i].len != b->tlv[i].len ||
		    a->tlv[i].off != b->tlv[i].off || a->tlv[i].value != b->tlv[i].value)
			abort();
}

/* Parses DATA fed up to each cut in turn, then whole. */
static ssize_t pieces(const uint8_t *data, size_t size, size_t step, size_t first,
		      struct pscope_proxy_hdr *h)
{
	struct pscope_proxy_parser p;
	ssize_t rc;

	pscope_proxy_parser_init(&p, PSCOPE_PROXY_ANY, PSCOPE_PROXY_DEFAULT_MAX);
	for (size_t len = first; len < size; len += step) {
		rc = pscope_proxy_parse(&p, data, len, h);
		if (rc != 0)
			return rc;
	}
	return pscope_proxy_parse(&p, data, size, h);
}

static void rebuild(const uint8_t *data, const struct pscope_proxy_hdr *h, size_t n)
{
	static uint8_t out[PSCOPE_PROXY_DEFAULT_MAX];
	struct pscope_proxy_hdr copy = *h, back;
	struct pscope_proxy_parser p;
	ssize_t m;

	if (h->tlv_count != h->ntlv)
		return;		/* not every TLV recorded: cannot be written again */
	m = pscope_proxy_build(h, false, out, sizeof(out));
	if (h->version == 1) {
		/* UNKNOWN's ignored rest of line is not kept: the addresses must match. */
		if (m <= 0)
			abort();
		pscope_proxy_parser_init(&p, PSCOPE_PROXY_V1, 0);
		if (pscope_proxy_parse(&p, out, (size_t)m, &back) != m)
			abort();
		back.len = h->len;
		if (back.version != 1 || back.family != h->family || back.src.len != h->src.len ||
		    memcmp(&back.src.u, &h->src.u, h->src.len) ||
		    memcmp(&back.dst.u, &h->dst.u, h->dst.len))
			abort();
		return;
	}
	if (m != (ssize_t)n || memcmp(out, data, n))
		abort();
	/* Encoded from the decoded addresses, when they were decoded. */
	if (h->src.len || h->unix_src ||
	    (h->family == PSCOPE_PROXY_AF_UNSPEC && h->addr_len == 0)) {
		copy.addr_raw = NULL;
		m = pscope_proxy_build(&copy, false, out, sizeof(out));
		if (m != (ssize_t)n || memcmp(out, data, n))
			abort();
	}
	/* And parsed again. */
	pscope_proxy_parser_init(&p, PSCOPE_PROXY_V2, 0);
	if (pscope_proxy_parse(&p, out, (size_t)m, &back) != m)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pscope_proxy_hdr whole, part;
	ssize_t rc, rc2;

	if (size > 2 * PSCOPE_PROXY_DEFAULT_MAX)
		return 0;
	rc = pieces(data, size, size + 1, size, &whole);
	if (rc > (ssize_t)size || rc > PSCOPE_PROXY_DEFAULT_MAX)
		abort();
	if (rc < 0 && !pscope_proxy_error_name((int)rc))
		abort();	/* every error is one of the named codes */
	rc2 = pieces(data, size, 1, 0, &part);
	if (rc2 != rc)
		abort();
	if (rc > 0)
		same(&whole, &part);
	if (size > 1) {
		size_t step = 1 + data[size - 1] % 37;

		rc2 = pieces(data, size, step, step, &part);
		if (rc2 != rc)
			abort();
		if (rc > 0)
			same(&whole, &part);
	}
	if (rc > 0)
		rebuild(data, &whole, (size_t)rc);
	return 0;
}
