/*
 * Fuzz target: the JSON writer (json.h).  The input is read as a little
 * program: each byte an operation (open an object or an array, close one, a
 * string of the next N bytes, a number from the next 8, true, null, ...), and
 * inside an object each value first takes its key from the input.  The root
 * is one object or array, and nesting stops short of PSCOPE_JSON_MAX_DEPTH
 * (deeper levels get no commas, as json.h says).
 *
 * The program is written three times: to a stream, into a buffer of the exact
 * size and into one cut short.  All three must agree, the short one holding
 * the text's beginning, NUL-terminated, with nothing written past it.  Then a
 * strict RFC 8259 parser written here reads the text back: the value grammar,
 * string escapes (surrogates only in pairs), raw bytes that are valid UTF-8
 * (RFC 3629) and no control characters; and the writer's own form (json.h):
 * DEL escaped, \u only for control characters, DEL and U+FFFD, no "\/".  Each
 * key and string must decode to its input, each byte that is not part of valid
 * UTF-8 as U+FFFD; numbers must read back as written, and a double that is not
 * finite as null.  pscope_json_escape() of the whole input is checked the same
 * way.  abort() on any failure.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portscope/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Open containers at most: a value at level PSCOPE_JSON_MAX_DEPTH would get no comma. */
#define MAX_OPEN (PSCOPE_JSON_MAX_DEPTH - 1)
#define KEY_MAX 40
#define CANARY 16

static void fail(const char *why, size_t at) __attribute__((noreturn));
static void fail(const char *why, size_t at)
{
	fprintf(stderr, "fuzz_json: %s (at byte %zu)\n", why, at);
	abort();
}

/*
 * The code point of the UTF-8 sequence at P (N bytes left) in *CP, and its
 * length; 0 if the bytes there are not a well-formed sequence (RFC 3629: no
 * overlong form, no surrogate, nothing past U+10FFFF).  Decoded and then
 * range-checked, unlike the writer's table, so that the two are independent.
 */
static size_t utf8_decode(const uint8_t *p, size_t n, uint32_t *cp)
{
	uint32_t c, min;
	size_t len;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2, c = p[0] & 0x1f, min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3, c = p[0] & 0x0f, min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4, c = p[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[k] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* What the writer promises for LEN bytes of S: each character, or U+FFFD for each byte of none. */
static size_t expected_cps(const uint8_t *s, size_t len, uint32_t *out)
{
	size_t n = 0;

	for (size_t i = 0; i < len; n++) {
		size_t k = utf8_decode(s + i, len - i, &out[n]);

		if (k == 0) {
			out[n] = 0xfffd;
			k = 1;
		}
		i += k;
	}
	return n;
}

enum ev { EV_OBJ, EV_OBJ_END, EV_ARR, EV_ARR_END, EV_KEY, EV_STR, EV_INT, EV_UINT, EV_DOUBLE,
	  EV_BOOL, EV_NULL };

struct event {
	enum ev type;
	size_t cp, ncp;		/* EV_KEY, EV_STR: the code points, in the pool */
	long long i;
	unsigned long long u;
	double d;
	int decimals;
	bool b;
};

/* What was written, in order: the parser must find the same. */
struct expect {
	struct event *ev;
	size_t nev, cap_ev;
	uint32_t *cp;
	size_t ncp, cap_cp;
};

static struct event *add(struct expect *x, enum ev type)
{
	if (x->nev == x->cap_ev) {
		x->cap_ev = x->cap_ev ? 2 * x->cap_ev : 64;
		x->ev = realloc(x->ev, x->cap_ev * sizeof(*x->ev));
		if (!x->ev)
			abort();
	}
	x->ev[x->nev] = (struct event){ .type = type };
	return &x->ev[x->nev++];
}

static void add_string(struct expect *x, enum ev type, const uint8_t *s, size_t len)
{
	struct event *e = add(x, type);

	if (x->cap_cp - x->ncp < len)
		fail("too many code points for the pool", x->ncp);
	e->cp = x->ncp;
	e->ncp = expected_cps(s, len, x->cp + x->ncp);
	x->ncp += e->ncp;
}

struct input {
	const uint8_t *p;
	size_t n, i;
};

static int next(struct input *in)
{
	return in->i < in->n ? in->p[in->i++] : -1;
}

/* Up to WANT bytes of the input; returns how many there were. */
static size_t take(struct input *in, size_t want, const uint8_t **out)
{
	size_t k = in->n - in->i < want ? in->n - in->i : want;

	*out = in->p + in->i;
	in->i += k;
	return k;
}

static uint64_t take64(struct input *in)
{
	const uint8_t *b;
	size_t k = take(in, 8, &b);
	uint64_t v = 0;

	for (size_t m = 0; m < k; m++)
		v |= (uint64_t)b[m] << (8 * m);
	return v;
}

/* A key from the input, NUL-terminated: the writer takes a C string, so it ends at a NUL. */
static const char *read_key(struct input *in, char *buf, struct expect *x)
{
	const uint8_t *b;
	int len = next(in);
	size_t k = take(in, len < 0 ? 0 : (size_t)len % (KEY_MAX + 1), &b);

	memcpy(buf, b, k);
	buf[k] = '\0';
	if (x)
		add_string(x, EV_KEY, (const uint8_t *)buf, strlen(buf));
	return buf;
}

static void open_level(struct pscope_json *j, const char *key, bool obj, struct expect *x)
{
	if (obj)
		pscope_json_object_begin(j, key);
	else
		pscope_json_array_begin(j, key);
	if (x)
		add(x, obj ? EV_OBJ : EV_ARR);
}

static void close_level(struct pscope_json *j, bool obj, struct expect *x)
{
	if (obj)
		pscope_json_object_end(j);
	else
		pscope_json_array_end(j);
	if (x)
		add(x, obj ? EV_OBJ_END : EV_ARR_END);
}

/* The value of operation OP (a byte of the input; not 0 to 2, which open and close), as KEY's. */
static void value(struct input *in, int op, const char *key, struct pscope_json *j,
		  struct expect *x)
{
	const uint8_t *b;
	size_t k;

	switch (op % 16) {
	case 3: case 4: case 5:
		k = take(in, (size_t)(next(in) & 0xff), &b);
		pscope_json_string_n(j, key, (const char *)b, k);
		if (x)
			add_string(x, EV_STR, b, k);
		break;
	case 14:
		k = (size_t)(next(in) & 0xff) << 8;
		k = take(in, k | (size_t)(next(in) & 0xff), &b);
		pscope_json_string_n(j, key, (const char *)b, k);
		if (x)
			add_string(x, EV_STR, b, k);
		break;
	case 6: {
		/* A C string: what follows a NUL in it is not written. */
		char *s;

		k = take(in, (size_t)(next(in) & 0xff), &b);
		s = malloc(k + 1);
		if (!s)
			abort();
		memcpy(s, b, k);
		s[k] = '\0';
		pscope_json_string(j, key, s);
		if (x)
			add_string(x, EV_STR, (const uint8_t *)s, strlen(s));
		free(s);
		break;
	}
	case 7: {
		long long v = (long long)take64(in);

		pscope_json_int(j, key, v);
		if (x)
			add(x, EV_INT)->i = v;
		break;
	}
	case 8: {
		unsigned long long v = take64(in);

		pscope_json_uint(j, key, v);
		if (x)
			add(x, EV_UINT)->u = v;
		break;
	}
	case 9: {
		uint64_t bits = take64(in);
		int dec = (next(in) & 0xff) % 16 - 3;	/* -3 to 12: the writer clamps to 0 to 9 */
		struct event *e;
		double d;

		memcpy(&d, &bits, sizeof(d));
		pscope_json_double(j, key, d, dec);
		if (x) {
			e = add(x, EV_DOUBLE);
			e->d = d;
			e->decimals = dec < 0 ? 0 : dec > 9 ? 9 : dec;
		}
		break;
	}
	case 10: {
		bool v = next(in) & 1;

		pscope_json_bool(j, key, v);
		if (x)
			add(x, EV_BOOL)->b = v;
		break;
	}
	case 12:
		pscope_json_string(j, key, NULL);
		if (x)
			add(x, EV_NULL);
		break;
	case 13:
		pscope_json_raw(j, key, "{\"r\":[1,2]}");
		if (x) {
			add(x, EV_OBJ);
			add_string(x, EV_KEY, (const uint8_t *)"r", 1);
			add(x, EV_ARR);
			add(x, EV_INT)->i = 1;
			add(x, EV_INT)->i = 2;
			add(x, EV_ARR_END);
			add(x, EV_OBJ_END);
		}
		break;
	case 15:
		pscope_json_string_n(j, key, "", 0);
		if (x)
			add_string(x, EV_STR, (const uint8_t *)"", 0);
		break;
	default:	/* 11 */
		pscope_json_null(j, key);
		if (x)
			add(x, EV_NULL);
	}
}

/* Writes the program in DATA with J; records what it wrote in X (if not NULL). */
static void program(const uint8_t *data, size_t size, struct pscope_json *j, struct expect *x)
{
	struct input in = { data, size, 0 };
	bool obj[MAX_OPEN];
	unsigned depth = 1;	/* containers open */
	int op = next(&in);

	obj[0] = op >= 0 && (op & 1);
	open_level(j, NULL, obj[0], x);
	while ((op = next(&in)) >= 0) {
		char keybuf[KEY_MAX + 1];
		const char *key = NULL;

		if (op % 16 == 2) {
			if (depth > 1)
				depth--, close_level(j, obj[depth], x);
			continue;
		}
		if (obj[depth - 1])
			key = read_key(&in, keybuf, x);
		if (op % 16 <= 1 && depth < MAX_OPEN) {
			obj[depth] = op % 16 == 0;
			open_level(j, key, obj[depth], x);
			depth++;
		} else if (op % 16 <= 1) {
			pscope_json_null(j, key);
			if (x)
				add(x, EV_NULL);
		} else {
			value(&in, op, key, j, x);
		}
	}
	while (depth > 0)
		depth--, close_level(j, obj[depth], x);
}

/* The parser: reads TEXT back, event by event, against what was written. */
struct parser {
	const uint8_t *p;
	size_t n, i;
	const struct expect *x;
	size_t ev;
	uint32_t *cp;		/* room for the code points of one string */
	unsigned depth;
};

static const struct event *expect_ev(struct parser *pr, enum ev type)
{
	const struct event *e;

	if (pr->ev >= pr->x->nev)
		fail("more in the text than was written", pr->i);
	e = &pr->x->ev[pr->ev++];
	if (e->type != type && !(type == EV_NULL && e->type == EV_DOUBLE && !isfinite(e->d)))
		fail("the text holds another kind of value than was written", pr->i);
	return e;
}

static void ws(struct parser *pr)
{
	while (pr->i < pr->n && (pr->p[pr->i] == ' ' || pr->p[pr->i] == '\t' ||
				 pr->p[pr->i] == '\n' || pr->p[pr->i] == '\r'))
		pr->i++;
}

static int hex4(struct parser *pr)
{
	int v = 0;

	if (pr->n - pr->i < 4)
		fail("\\u with fewer than 4 hex digits", pr->i);
	for (int k = 0; k < 4; k++) {
		uint8_t c = pr->p[pr->i++];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			fail("\\u with a byte that is not a hex digit", pr->i - 1);
	}
	return v;
}

/* A \ escape, after the backslash: its code point. */
static uint32_t escape(struct parser *pr)
{
	static const char shorts[] = "\"\"\\\\b\bf\fn\nr\rt\t";
	uint32_t v;
	uint8_t c;

	if (pr->i >= pr->n)
		fail("a backslash at the end", pr->i);
	c = pr->p[pr->i++];
	if (c == '/')
		fail("\\/: valid JSON, but the writer never writes it", pr->i);
	for (const char *s = shorts; *s; s += 2)
		if (c == (uint8_t)s[0])
			return (uint8_t)s[1];
	if (c != 'u')
		fail("an escape RFC 8259 does not have", pr->i - 1);
	v = (uint32_t)hex4(pr);
	if (v >= 0xdc00 && v <= 0xdfff)
		fail("a low surrogate without a high one", pr->i);
	if (v >= 0xd800 && v <= 0xdbff) {
		uint32_t lo;

		if (pr->n - pr->i < 2 || pr->p[pr->i] != '\\' || pr->p[pr->i + 1] != 'u')
			fail("a high surrogate without a low one", pr->i);
		pr->i += 2;
		lo = (uint32_t)hex4(pr);
		if (lo < 0xdc00 || lo > 0xdfff)
			fail("a high surrogate without a low one", pr->i);
		v = 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
	}
	/* The writer's form: \u only where no other form will do, and for U+FFFD. */
	if ((v >= 0x20 || v == '\b' || v == '\f' || v == '\n' || v == '\r' || v == '\t') &&
	    v != 0x7f && v != 0xfffd)
		fail("\\u where the writer copies the character", pr->i);
	return v;
}

/* A string, at its opening quote, compared with the next event (a key or a string). */
static void string(struct parser *pr, enum ev type)
{
	const struct event *e;
	size_t n = 0;

	pr->i++;
	for (;;) {
		uint32_t cp;
		size_t k;

		if (pr->i >= pr->n)
			fail("a string without its closing quote", pr->i);
		if (pr->p[pr->i] == '"')
			break;
		if (pr->p[pr->i] == '\\') {
			pr->i++;
			cp = escape(pr);
		} else if (pr->p[pr->i] < 0x20) {
			fail("a raw control character in a string", pr->i);
		} else if (pr->p[pr->i] == 0x7f) {
			fail("a raw DEL: valid JSON, but the writer escapes it", pr->i);
		} else if ((k = utf8_decode(pr->p + pr->i, pr->n - pr->i, &cp)) == 0) {
			fail("a string with bytes that are not UTF-8", pr->i);
		} else {
			pr->i += k;
		}
		pr->cp[n++] = cp;
	}
	pr->i++;
	e = expect_ev(pr, type);
	if (e->ncp != n || memcmp(pr->cp, pr->x->cp + e->cp, n * sizeof(*pr->cp)) != 0)
		fail("a string that does not decode to what was written", pr->i);
}

static size_t digits(struct parser *pr)
{
	size_t start = pr->i;

	while (pr->i < pr->n && pr->p[pr->i] >= '0' && pr->p[pr->i] <= '9')
		pr->i++;
	return pr->i - start;
}

/* A number (RFC 8259, section 6), compared with the next event. */
static void number(struct parser *pr)
{
	static const double half_unit[] = { 0.5, 5e-2, 5e-3, 5e-4, 5e-5, 5e-6, 5e-7, 5e-8, 5e-9, 5e-10 };
	size_t start = pr->i, frac = 0;
	bool minus = false, point = false, has_exp = false;
	const struct event *e;
	char text[512];
	char *end;

	if (pr->p[pr->i] == '-')
		minus = true, pr->i++;
	if (pr->i < pr->n && pr->p[pr->i] == '0')
		pr->i++;
	else if (digits(pr) == 0)
		fail("a number without digits", pr->i);
	if (pr->i < pr->n && pr->p[pr->i] == '.') {
		point = true;
		pr->i++;
		if ((frac = digits(pr)) == 0)
			fail("a number with no digit after its point", pr->i);
	}
	if (pr->i < pr->n && (pr->p[pr->i] == 'e' || pr->p[pr->i] == 'E')) {
		has_exp = true;
		pr->i++;
		if (pr->i < pr->n && (pr->p[pr->i] == '+' || pr->p[pr->i] == '-'))
			pr->i++;
		if (digits(pr) == 0)
			fail("an exponent without digits", pr->i);
	}
	if (pr->i - start >= sizeof(text))
		fail("a number longer than any the writer makes", start);
	memcpy(text, pr->p + start, pr->i - start);
	text[pr->i - start] = '\0';
	if (pr->ev >= pr->x->nev)
		fail("more in the text than was written", start);
	e = &pr->x->ev[pr->ev];
	errno = 0;
	switch (e->type) {
	case EV_INT:
		if (point || has_exp || strtoll(text, &end, 10) != e->i || *end || errno)
			fail("an integer that does not read back", start);
		break;
	case EV_UINT:
		if (minus || point || has_exp || strtoull(text, &end, 10) != e->u || *end || errno)
			fail("an unsigned integer that does not read back", start);
		break;
	case EV_DOUBLE: {
		double got, diff;

		if (!isfinite(e->d))
			fail("a number where null was due", start);
		if (has_exp || frac != (size_t)e->decimals || point != (e->decimals > 0))
			fail("a double not in its fixed form", start);
		got = strtod(text, &end);
		diff = got > e->d ? got - e->d : e->d - got;
		if (*end || diff > half_unit[e->decimals] * (1 + 1e-9) + (e->d < 0 ? -e->d : e->d) * 1e-15)
			fail("a double that does not read back", start);
		break;
	}
	default:
		fail("a number where something else was written", start);
	}
	pr->ev++;
}

static void literal(struct parser *pr, const char *word)
{
	size_t len = strlen(word);

	if (pr->n - pr->i < len || memcmp(pr->p + pr->i, word, len) != 0)
		fail("a bare word that is not true, false or null", pr->i);
	pr->i += len;
}

static void value_of(struct parser *pr);

/* An object or an array, at its opening brace or bracket. */
static void container(struct parser *pr, bool obj)
{
	uint8_t close = obj ? '}' : ']';

	if (++pr->depth > 2 * PSCOPE_JSON_MAX_DEPTH)
		fail("nested deeper than was written", pr->i);
	expect_ev(pr, obj ? EV_OBJ : EV_ARR);
	pr->i++;
	ws(pr);
	if (pr->i < pr->n && pr->p[pr->i] == close) {
		pr->i++;
	} else {
		for (;;) {
			ws(pr);
			if (obj) {
				if (pr->i >= pr->n || pr->p[pr->i] != '"')
					fail("an object member without a string key", pr->i);
				string(pr, EV_KEY);
				ws(pr);
				if (pr->i >= pr->n || pr->p[pr->i] != ':')
					fail("a key without its colon", pr->i);
				pr->i++;
			}
			value_of(pr);
			ws(pr);
			if (pr->i < pr->n && pr->p[pr->i] == ',') {
				pr->i++;
				continue;
			}
			if (pr->i < pr->n && pr->p[pr->i] == close) {
				pr->i++;
				break;
			}
			fail("neither a comma nor the end after a member", pr->i);
		}
	}
	expect_ev(pr, obj ? EV_OBJ_END : EV_ARR_END);
	pr->depth--;
}

static void value_of(struct parser *pr)
{
	ws(pr);
	if (pr->i >= pr->n)
		fail("a value missing at the end", pr->i);
	switch (pr->p[pr->i]) {
	case '{': container(pr, true); break;
	case '[': container(pr, false); break;
	case '"': string(pr, EV_STR); break;
	case 't':
		literal(pr, "true");
		if (!expect_ev(pr, EV_BOOL)->b)
			fail("true where false was written", pr->i);
		break;
	case 'f':
		literal(pr, "false");
		if (expect_ev(pr, EV_BOOL)->b)
			fail("false where true was written", pr->i);
		break;
	case 'n':
		literal(pr, "null");
		expect_ev(pr, EV_NULL);
		break;
	default:
		if (pr->p[pr->i] == '-' || (pr->p[pr->i] >= '0' && pr->p[pr->i] <= '9'))
			number(pr);
		else
			fail("a byte that starts no JSON value", pr->i);
	}
}

/* TEXT must be exactly one JSON value, the one X recorded. */
static void parse(const char *text, size_t len, const struct expect *x)
{
	struct parser pr = { (const uint8_t *)text, len, 0, x, 0, NULL, 0 };

	pr.cp = malloc((len + 1) * sizeof(*pr.cp));
	if (!pr.cp)
		abort();
	value_of(&pr);
	ws(&pr);
	if (pr.i != len)
		fail("more after the value", pr.i);
	if (pr.ev != x->nev)
		fail("less in the text than was written", pr.i);
	free(pr.cp);
}

/* A buffer of SIZE bytes with CANARY more after it, all 0xa5. */
static char *guarded(size_t size)
{
	char *b = malloc(size + CANARY);

	if (!b)
		abort();
	memset(b, 0xa5, size + CANARY);
	return b;
}

/* A buffer cut short to SIZE must hold TEXT's first SIZE-1 bytes, a NUL, and nothing past. */
static void check_cut(const char *b, size_t size, const char *text, size_t len)
{
	for (size_t k = size; k < size + CANARY; k++)
		if ((uint8_t)b[k] != 0xa5)
			fail("a write past the end of a buffer cut short", k);
	if (size == 0)
		return;
	if (b[size - 1 < len ? size - 1 : len] != '\0' ||
	    memcmp(b, text, size - 1 < len ? size - 1 : len) != 0)
		fail("a buffer cut short that does not hold the text's beginning", size);
}

/* pscope_json_escape() of the whole input: a JSON string's inside, whole or cut short. */
static void check_escape(const uint8_t *data, size_t size, size_t cut_seed)
{
	size_t n = pscope_json_escape(NULL, 0, (const char *)data, size), cut;
	char *b = guarded(n + 3), *c;
	struct expect x = { 0 };

	if (pscope_json_escape(b + 1, n + 1, (const char *)data, size) != n || b[n + 1] != '\0')
		fail("pscope_json_escape: a length other than it said", n);
	b[0] = '"';
	b[n + 1] = '"';
	if (memchr(b + 1, '\0', n))
		fail("pscope_json_escape wrote a NUL", n);
	x.cap_cp = size + 1;
	x.cp = malloc(x.cap_cp * sizeof(*x.cp));
	if (!x.cp)
		abort();
	add_string(&x, EV_STR, data, size);
	parse(b, n + 2, &x);

	cut = cut_seed % (n + 1);
	c = guarded(cut);
	if (pscope_json_escape(c, cut, (const char *)data, size) != n)
		fail("pscope_json_escape cut short: a length other than the whole", cut);
	check_cut(c, cut, b + 1, n);
	free(c);
	free(b);
	free(x.ev);
	free(x.cp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct expect x = { 0 };
	struct pscope_json j;
	char *text = NULL, *b;
	size_t len = 0, cut, seed = size ? data[0] * 131u + data[size - 1] * 7u + size : 0;
	FILE *f;

	/* Each byte of input makes at most one code point of a key or a string. */
	x.cap_cp = size + 8;
	x.cp = malloc(x.cap_cp * sizeof(*x.cp));
	f = open_memstream(&text, &len);
	if (!x.cp || !f)
		abort();
	pscope_json_init_file(&j, f);
	program(data, size, &j, &x);
	if (fflush(f) != 0)
		abort();
	if (pscope_json_end(&j) != len)
		fail("the stream's length is not what pscope_json_end says", len);
	if (fclose(f) != 0)
		abort();
	if (memchr(text, '\0', len))
		fail("a NUL in the text", len);

	/* Into a buffer of the exact size: the same text. */
	b = guarded(len + 1);
	pscope_json_init_buf(&j, b, len + 1);
	program(data, size, &j, NULL);
	if (pscope_json_end(&j) != len || b[len] != '\0' || memcmp(b, text, len) != 0)
		fail("the buffer holds another text than the stream", len);
	check_cut(b, len + 1, text, len);
	free(b);

	/* Into one cut short: the text's beginning, and the whole length returned. */
	cut = seed % (len + 1);
	b = guarded(cut);
	pscope_json_init_buf(&j, b, cut);
	program(data, size, &j, NULL);
	if (pscope_json_end(&j) != len)
		fail("a buffer cut short: a length other than the whole", cut);
	check_cut(b, cut, text, len);
	free(b);

	parse(text, len, &x);
	check_escape(data, size, seed);
	free(text);
	free(x.ev);
	free(x.cp);
	return 0;
}
