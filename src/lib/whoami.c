/* The portscope/1 line: what a server saw of a connection, told to the client. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "portscope/whoami.h"

/* " pp=2 pp_cmd=proxy pp_proto=tcp4 src=A dst=B", or "" when W has no header. */
static int format_pp(const struct pscope_whoami *w, char *buf, size_t size)
{
	char src[PSCOPE_ADDRSTRLEN] = "", dst[PSCOPE_ADDRSTRLEN] = "";
	int n;

	buf[0] = '\0';
	if (w->pp != 1 && w->pp != 2)
		return 0;
	if (w->src.len && pscope_addr_format(&w->src, src, sizeof(src)) < 0)
		return -EINVAL;
	if (w->dst.len && pscope_addr_format(&w->dst, dst, sizeof(dst)) < 0)
		return -EINVAL;
	n = snprintf(buf, size, " pp=%u pp_cmd=%s%s%.15s%s%s%s%s", w->pp,
		     w->pp_command ? "proxy" : "local", w->pp_proto[0] ? " pp_proto=" : "",
		     w->pp_proto, src[0] ? " src=" : "", src, dst[0] ? " dst=" : "", dst);
	return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

int pscope_whoami_format(const struct pscope_whoami *w, char *buf, size_t size)
{
	char you[PSCOPE_ADDRSTRLEN], me[PSCOPE_ADDRSTRLEN], extra[64] = "";
	char pp[2 * PSCOPE_ADDRSTRLEN + 64];
	size_t used = 0;
	int rc, n;

	rc = pscope_addr_format(&w->you, you, sizeof(you));
	if (rc < 0)
		return rc;
	rc = pscope_addr_format(&w->me, me, sizeof(me));
	if (rc < 0)
		return rc;
	if (w->proto[0])
		used += (size_t)snprintf(extra + used, sizeof(extra) - used, " proto=%.7s", w->proto);
	if (w->conn)
		used += (size_t)snprintf(extra + used, sizeof(extra) - used, " conn=%llu",
					 (unsigned long long)w->conn);
	if (w->fd >= 0)
		snprintf(extra + used, sizeof(extra) - used, " fd=%d", w->fd);
	rc = format_pp(w, pp, sizeof(pp));
	if (rc < 0)
		return rc;
	n = snprintf(buf, size, PSCOPE_WHOAMI_PREFIX "you=%s me=%s%s%s\n", you, me, extra, pp);
	return n < 0 || (size_t)n >= size ? -ENOSPC : n;
}

static bool is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* Parses a decimal number of at most 19 digits. Returns 0 or -1. */
static int parse_u64(const char *s, size_t len, uint64_t *v)
{
	*v = 0;
	if (len == 0 || len > 19)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (uint64_t)(s[i] - '0');
	}
	return 0;
}

static bool key_is(const char *key, size_t klen, const char *name)
{
	return klen == strlen(name) && !memcmp(key, name, klen);
}

/* The PROXY protocol keys.  Returns 0 (a key not known is ignored), or -1 for a bad value. */
static int apply_pp(struct pscope_whoami *w, const char *key, size_t klen, const char *val,
		    size_t vlen)
{
	if (key_is(key, klen, "pp")) {
		if (vlen != 1 || (val[0] != '1' && val[0] != '2'))
			return -1;
		w->pp = (uint8_t)(val[0] - '0');
		return 0;
	}
	if (key_is(key, klen, "pp_cmd")) {
		if (key_is(val, vlen, "proxy") || key_is(val, vlen, "local")) {
			w->pp_command = val[0] == 'p';
			return 0;
		}
		return -1;
	}
	if (key_is(key, klen, "pp_proto")) {
		if (vlen >= sizeof(w->pp_proto))
			return -1;
		memcpy(w->pp_proto, val, vlen);
		w->pp_proto[vlen] = '\0';
		return 0;
	}
	if (key_is(key, klen, "src"))
		return pscope_addr_parse(val, vlen, &w->src) < 0 ? -1 : 0;
	if (key_is(key, klen, "dst"))
		return pscope_addr_parse(val, vlen, &w->dst) < 0 ? -1 : 0;
	return 0; /* a key from a later version: ignored */
}

/* Applies one key=value pair. Returns 0, or -1 if a known key has a bad value. */
static int apply(struct pscope_whoami *w, const char *key, size_t klen,
		 const char *val, size_t vlen, unsigned *have)
{
	uint64_t v;

	if (klen == 3 && !memcmp(key, "you", 3)) {
		*have |= (*have & 1) ? 4 : 1;
		return pscope_addr_parse(val, vlen, &w->you) < 0 ? -1 : 0;
	}
	if (klen == 2 && !memcmp(key, "me", 2)) {
		*have |= (*have & 2) ? 4 : 2;
		return pscope_addr_parse(val, vlen, &w->me) < 0 ? -1 : 0;
	}
	if (klen == 5 && !memcmp(key, "proto", 5)) {
		if (vlen >= sizeof(w->proto))
			return -1;
		memcpy(w->proto, val, vlen);
		w->proto[vlen] = '\0';
		return 0;
	}
	if (klen == 4 && !memcmp(key, "conn", 4))
		return parse_u64(val, vlen, &w->conn);
	if (klen == 2 && !memcmp(key, "fd", 2)) {
		if (parse_u64(val, vlen, &v) < 0 || v > 0x7fffffff)
			return -1;
		w->fd = (int)v;
		return 0;
	}
	return apply_pp(w, key, klen, val, vlen);
}

int pscope_whoami_parse(const char *line, size_t len, struct pscope_whoami *w)
{
	const size_t plen = sizeof(PSCOPE_WHOAMI_PREFIX) - 1;
	unsigned have = 0;
	size_t i;

	memset(w, 0, sizeof(*w));
	w->fd = -1;
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > PSCOPE_WHOAMI_MAX)
		return -PSCOPE_E_PROTO;
	if (len < plen || memcmp(line, PSCOPE_WHOAMI_PREFIX, plen) != 0)
		return -PSCOPE_E_PROTO;
	for (i = plen; i < len;) {
		size_t k = i, v;

		if (line[i] == ' ') {
			i++;
			continue;
		}
		while (i < len && is_key_char(line[i]))
			i++;
		if (i == k || i >= len || line[i] != '=')
			return -PSCOPE_E_PROTO;
		v = ++i;
		while (i < len && line[i] != ' ') {
			if ((unsigned char)line[i] < 0x21 || (unsigned char)line[i] > 0x7e)
				return -PSCOPE_E_PROTO;
			i++;
		}
		if (apply(w, line + k, v - 1 - k, line + v, i - v, &have) < 0)
			return -PSCOPE_E_PROTO;
	}
	return have == 3 ? 0 : -PSCOPE_E_PROTO;
}
