/* The PROXY protocol in the command layer: rendering a header, sending one in pieces (see pp.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pp.h"
#include "report.h"

const char *pp_proto_name(const struct pscope_proxy_hdr *h)
{
	bool dgram = h->transport == PSCOPE_PROXY_DGRAM;

	switch (h->family) {
	case PSCOPE_PROXY_AF_INET:
		return dgram ? "udp4" : "tcp4";
	case PSCOPE_PROXY_AF_INET6:
		return dgram ? "udp6" : "tcp6";
	case PSCOPE_PROXY_AF_UNIX:
		return dgram ? "unix_dgram" : "unix_stream";
	case PSCOPE_PROXY_AF_UNSPEC:
		return h->version == 1 ? "unknown" : "unspec";
	default:
		return "other";
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

void pp_print_seed(const char *prefix, const struct pscope_proxy_hdr *h)
{
	char buf[PSCOPE_PROXY_TLV_MAX * 180];

	if (h->command == PSCOPE_PROXY_LOCAL) {
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
	if (names_client(h) && pscope_addr_format(&h->src, src, sizeof(src)) == 0 &&
	    pscope_addr_format(&h->dst, dst, sizeof(dst)) == 0)
		printf(" pp_src=%s pp_dst=%s", src, dst);
	printf(" pp_len=%zu", h->len);
	if (h->tlv_count) {
		tlv_list(h, ":", ",", list, sizeof(list));
		printf(" pp_tlvs=%s", list);
	}
}

static void json_addr(struct pscope_json *j, const char *key, const struct pscope_addr *a)
{
	char text[PSCOPE_ADDRSTRLEN];

	if (a->len && pscope_addr_format(a, text, sizeof(text)) == 0)
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
	json_addr(j, "src", &h->src);
	json_addr(j, "dst", &h->dst);
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
