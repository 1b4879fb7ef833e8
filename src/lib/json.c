/* The JSON writer (see json.h): one escaper, one place for commas. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "portscope/json.h"

/* Where the text goes: a stream, or a buffer kept NUL-terminated (cut short when full). */
struct sink {
	FILE *f;
	char *buf;
	size_t size, len;
};

static void put(struct sink *s, const char *p, size_t n)
{
	if (s->f) {
		fwrite(p, 1, n, s->f);
	} else if (s->len + 1 < s->size) {
		/* Once full, nothing more is written: not even the NUL, which is in place. */
		size_t room = s->size - 1 - s->len;
		size_t k = n < room ? n : room;

		memcpy(s->buf + s->len, p, k);
		s->buf[s->len + k] = '\0';
	}
	s->len += n;
}

/*
 * The length of the valid UTF-8 sequence at P (of N bytes left), or 0 if the
 * byte at P does not start one (RFC 3629, section 4: its table of well-formed
 * sequences, which rules out overlong forms and surrogates).
 */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t need;

	if (c >= 0xc2 && c <= 0xdf)
		need = 2;
	else if (c >= 0xe0 && c <= 0xef)
		need = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;	/* U+D800 to U+DFFF are surrogates, not characters */
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;	/* nothing past U+10FFFF */
	if (n < need || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < need; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return need;
}

/* Writes the inside of a JSON string: runs of plain bytes in one go, the rest escaped. */
static void put_escaped(struct sink *s, const char *str, size_t len)
{
	const unsigned char *p = (const unsigned char *)str;
	size_t i = 0, run = 0;

	while (i < len) {
		unsigned char c = p[i];
		char esc[8];
		const char *e = NULL;
		size_t k;

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			i++;
			continue;
		}
		if (c >= 0x80 && (k = utf8_len(p + i, len - i)) > 0) {
			i += k;
			continue;
		}
		put(s, str + run, i - run);
		switch (c) {
		case '"': e = "\\\""; break;
		case '\\': e = "\\\\"; break;
		case '\b': e = "\\b"; break;
		case '\f': e = "\\f"; break;
		case '\n': e = "\\n"; break;
		case '\r': e = "\\r"; break;
		case '\t': e = "\\t"; break;
		default:
			if (c >= 0x80)
				e = "\\ufffd";
			else
				snprintf(esc, sizeof(esc), "\\u%04x", c), e = esc;
		}
		put(s, e, strlen(e));
		run = ++i;
	}
	put(s, str + run, len - run);
}

size_t pscope_json_escape(char *dst, size_t size, const char *s, size_t len)
{
	struct sink k = { .buf = dst, .size = size };

	if (size)
		dst[0] = '\0';
	put_escaped(&k, s, len);
	return k.len;
}

static struct sink sink_of(const struct pscope_json *j)
{
	return (struct sink){ .f = j->f, .buf = j->buf, .size = j->size, .len = j->len };
}

static void emit(struct pscope_json *j, const char *p, size_t n)
{
	struct sink s = sink_of(j);

	put(&s, p, n);
	j->len = s.len;
}

/* The comma before a value if its level has one already, then "KEY": if given. */
static void begin_value(struct pscope_json *j, const char *key)
{
	uint32_t bit = j->depth < PSCOPE_JSON_MAX_DEPTH ? 1u << j->depth : 0;
	struct sink s = sink_of(j);

	if (j->started & bit)
		put(&s, ",", 1);
	j->started |= bit;
	if (key) {
		put(&s, "\"", 1);
		put_escaped(&s, key, strlen(key));
		put(&s, "\":", 2);
	}
	j->len = s.len;
}

void pscope_json_init_file(struct pscope_json *j, FILE *f)
{
	*j = (struct pscope_json){ .f = f };
}

void pscope_json_init_buf(struct pscope_json *j, char *buf, size_t size)
{
	*j = (struct pscope_json){ .buf = buf, .size = size };
	if (size)
		buf[0] = '\0';
}

static void open_level(struct pscope_json *j, const char *key, const char *brace)
{
	begin_value(j, key);
	emit(j, brace, 1);
	j->depth++;
	if (j->depth < PSCOPE_JSON_MAX_DEPTH)
		j->started &= ~(1u << j->depth);
}

static void close_level(struct pscope_json *j, const char *brace)
{
	if (j->depth)
		j->depth--;
	emit(j, brace, 1);
}

void pscope_json_object_begin(struct pscope_json *j, const char *key)
{
	open_level(j, key, "{");
}

void pscope_json_object_end(struct pscope_json *j)
{
	close_level(j, "}");
}

void pscope_json_array_begin(struct pscope_json *j, const char *key)
{
	open_level(j, key, "[");
}

void pscope_json_array_end(struct pscope_json *j)
{
	close_level(j, "]");
}

void pscope_json_string_n(struct pscope_json *j, const char *key, const char *str, size_t len)
{
	struct sink s;

	begin_value(j, key);
	s = sink_of(j);
	put(&s, "\"", 1);
	put_escaped(&s, str, len);
	put(&s, "\"", 1);
	j->len = s.len;
}

void pscope_json_string(struct pscope_json *j, const char *key, const char *s)
{
	if (!s)
		pscope_json_null(j, key);
	else
		pscope_json_string_n(j, key, s, strlen(s));
}

static void number(struct pscope_json *j, const char *key, const char *text, int n)
{
	begin_value(j, key);
	if (n > 0)
		emit(j, text, (size_t)n);
}

void pscope_json_int(struct pscope_json *j, const char *key, long long v)
{
	char t[32];

	number(j, key, t, snprintf(t, sizeof(t), "%lld", v));
}

void pscope_json_uint(struct pscope_json *j, const char *key, unsigned long long v)
{
	char t[32];

	number(j, key, t, snprintf(t, sizeof(t), "%llu", v));
}

void pscope_json_double(struct pscope_json *j, const char *key, double v, int decimals)
{
	char t[352];

	if (!isfinite(v)) {
		pscope_json_null(j, key);
		return;
	}
	if (decimals < 0)
		decimals = 0;
	if (decimals > 9)
		decimals = 9;
	number(j, key, t, snprintf(t, sizeof(t), "%.*f", decimals, v));
}

void pscope_json_bool(struct pscope_json *j, const char *key, bool v)
{
	begin_value(j, key);
	emit(j, v ? "true" : "false", v ? 4 : 5);
}

void pscope_json_null(struct pscope_json *j, const char *key)
{
	begin_value(j, key);
	emit(j, "null", 4);
}

void pscope_json_raw(struct pscope_json *j, const char *key, const char *text)
{
	begin_value(j, key);
	emit(j, text, strlen(text));
}

size_t pscope_json_end(struct pscope_json *j)
{
	return j->len;
}
