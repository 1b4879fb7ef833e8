/*
 * Unit tests of line.h: the line framing every reader shares.  Expected
 * results are written out by hand from the rule line.h states (a line's
 * bytes before "\n" or "\r\n", the end of line not counted against the
 * limit), and checked for every way the bytes can be cut into pieces: every
 * split point, and every pair of split points for short lines.
 */
#include <stdlib.h>
#include <string.h>

#include "unit.h"

static const char *result_name(int r)
{
	static const char *const names[] = { "MORE", "LF", "CRLF", "TOO_LONG", "BAD_END", "NONE",
					     "UNENDED" };

	return r >= 0 && (size_t)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

/* The first decision on IN[0..N) fed in the pieces that end at CUTS (ascending), and the bytes taken by then. */
struct outcome {
	int result;	/* PSCOPE_LINE_*; at the end of IN without a decision, pscope_line_fin()'s */
	size_t taken;
};

static struct outcome frame_pieces(const char *in, size_t n, const size_t *cuts, size_t ncuts,
				   uint32_t limit, unsigned flags)
{
	struct pscope_line l = { 0 };
	size_t at = 0;

	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : n;
		/* An exact-size copy of the piece, so that a read past it trips AddressSanitizer. */
		char *piece = malloc(end - at ? end - at : 1);
		size_t used = 12345;
		int r;

		assert_non_null(piece);
		memcpy(piece, in + at, end - at);
		r = pscope_line_feed(&l, piece, end - at, limit, flags, &used);
		free(piece);
		assert_true(used <= end - at);
		if (r != PSCOPE_LINE_MORE)
			return (struct outcome){ r, at + used };
		assert_num_equal(used, end - at);
		at = end;
	}
	return (struct outcome){ pscope_line_fin(&l), n };
}

static void outcome_is(struct outcome got, int result, size_t taken, const char *in, size_t n,
		       const size_t *cuts, size_t ncuts)
{
	if (got.result == result && got.taken == taken)
		return;
	print_error("line of %zu bytes cut at", n);
	for (size_t i = 0; i < ncuts; i++)
		print_error(" %zu", cuts[i]);
	print_error(": got %s after %zu bytes, want %s after %zu\n", result_name(got.result), got.taken,
		    result_name(result), taken);
	(void)in;
	fail();
}

/* IN (N bytes) gives RESULT after TAKEN bytes, whole and cut at every point and (N <= 40) every pair of points. */
static void check_splits(const char *in, size_t n, uint32_t limit, unsigned flags, int result,
			 size_t taken)
{
	size_t cuts[2];

	outcome_is(frame_pieces(in, n, NULL, 0, limit, flags), result, taken, in, n, NULL, 0);
	for (cuts[0] = 0; cuts[0] <= n; cuts[0]++) {
		outcome_is(frame_pieces(in, n, cuts, 1, limit, flags), result, taken, in, n, cuts, 1);
		if (n > 40)
			continue;
		for (cuts[1] = cuts[0]; cuts[1] <= n; cuts[1]++)
			outcome_is(frame_pieces(in, n, cuts, 2, limit, flags), result, taken, in, n, cuts,
				   2);
	}
}

#define CHECK(s, limit, flags, result, taken) \
	check_splits((s), sizeof(s) - 1, (limit), (flags), PSCOPE_LINE_##result, (taken))

/* Limit 5: lines under, at and over it, ended by "\n" and by "\r\n". */
static void at_under_over(void **state)
{
	(void)state;
	CHECK("abcd\n", 5, 0, LF, 5);
	CHECK("abcd\r\n", 5, 0, CRLF, 6);
	CHECK("abcde\n", 5, 0, LF, 6);
	CHECK("abcde\r\n", 5, 0, CRLF, 7);
	/* The sixth byte makes it too long, whatever follows. */
	CHECK("abcdef\n", 5, 0, TOO_LONG, 6);
	CHECK("abcdef\r\n", 5, 0, TOO_LONG, 6);
	CHECK("abcdefghij", 5, 0, TOO_LONG, 6);
	/* A "\r" after five bytes waits for the next: not "\n", and both are the line's. */
	CHECK("abcde\rx\n", 5, 0, TOO_LONG, 7);
	CHECK("abcde\r\r\n", 5, 0, TOO_LONG, 7);
	CHECK("\n", 5, 0, LF, 1);
	CHECK("\r\n", 5, 0, CRLF, 2);
	/* Limit 0: only an empty line. */
	CHECK("\n", 0, 0, LF, 1);
	CHECK("\r\n", 0, 0, CRLF, 2);
	CHECK("x\n", 0, 0, TOO_LONG, 1);
	CHECK("\r\r\n", 0, 0, TOO_LONG, 2);
}

/* A "\r" not followed by "\n" is a byte of the line, and counts. */
static void lone_cr_is_data(void **state)
{
	(void)state;
	CHECK("ab\rc\n", 5, 0, LF, 5);
	CHECK("ab\r\r\n", 5, 0, CRLF, 5);
	CHECK("abc\r\rd\n", 5, 0, TOO_LONG, 6);
	CHECK("\r\r\r\r\r\r\n", 5, 0, CRLF, 7);
	CHECK("\r\r\r\r\r\r\r\n", 5, 0, TOO_LONG, 7);
}

/* At the end of the stream: nothing, or part of a line (a "\r" alone is part of one). */
static void fin(void **state)
{
	(void)state;
	CHECK("", 5, 0, NONE, 0);
	CHECK("abc", 5, 0, UNENDED, 3);
	CHECK("abcde", 5, 0, UNENDED, 5);
	CHECK("abcde\r", 5, 0, UNENDED, 6);
	CHECK("\r", 5, 0, UNENDED, 1);
}

/* PSCOPE_LINE_CRLF_ONLY, as the PROXY protocol's version 1 line. */
static void crlf_only(void **state)
{
	(void)state;
	CHECK("abc\r\n", 5, PSCOPE_LINE_CRLF_ONLY, CRLF, 5);
	CHECK("abcde\r\n", 5, PSCOPE_LINE_CRLF_ONLY, CRLF, 7);
	CHECK("abc\n", 5, PSCOPE_LINE_CRLF_ONLY, BAD_END, 4);
	CHECK("\n", 5, PSCOPE_LINE_CRLF_ONLY, BAD_END, 1);
	CHECK("a\rb\r\n", 5, PSCOPE_LINE_CRLF_ONLY, BAD_END, 3);
	CHECK("a\r\r\n", 5, PSCOPE_LINE_CRLF_ONLY, BAD_END, 3);
	CHECK("abcdef\r\n", 5, PSCOPE_LINE_CRLF_ONLY, TOO_LONG, 6);
	CHECK("abcde\rx", 5, PSCOPE_LINE_CRLF_ONLY, BAD_END, 7);
	CHECK("abc\r", 5, PSCOPE_LINE_CRLF_ONLY, UNENDED, 4);
}

/* Lines at, under and over whoami's limit, cut at every point. */
static void long_lines(void **state)
{
	const size_t lim = PSCOPE_WHOAMI_MAX;
	char *s = malloc(lim + 8);

	(void)state;
	assert_non_null(s);
	for (size_t len = lim - 1; len <= lim + 1; len++) {
		memset(s, 'x', len);
		memcpy(s + len, "\r\n", 2);
		if (len <= lim) {
			check_splits(s, len + 1, (uint32_t)lim, 0, PSCOPE_LINE_UNENDED, len + 1);
			s[len] = '\n';
			check_splits(s, len + 1, (uint32_t)lim, 0, PSCOPE_LINE_LF, len + 1);
			s[len] = '\r';
			check_splits(s, len + 2, (uint32_t)lim, 0, PSCOPE_LINE_CRLF, len + 2);
		} else {
			check_splits(s, len + 2, (uint32_t)lim, 0, PSCOPE_LINE_TOO_LONG, lim + 1);
			s[len] = '\n';
			check_splits(s, len + 1, (uint32_t)lim, 0, PSCOPE_LINE_TOO_LONG, lim + 1);
		}
	}
	free(s);
}

/* Bytes after a line's end are the next line's: two lines, and what each takes. */
static void lines_in_a_row(void **state)
{
	const char *in = "ab\ncd\r\n\nxyzxyz\n";
	size_t used, at = 0;
	struct pscope_line l;

	(void)state;
	pscope_line_init(&l);
	assert_num_equal(pscope_line_feed(&l, in, strlen(in), 5, 0, &used), PSCOPE_LINE_LF);
	assert_num_equal(used, 3);
	at += used;
	assert_num_equal(pscope_line_feed(&l, in + at, strlen(in) - at, 5, 0, &used), PSCOPE_LINE_CRLF);
	assert_num_equal(used, 4);
	at += used;
	assert_num_equal(pscope_line_feed(&l, in + at, strlen(in) - at, 5, 0, &used), PSCOPE_LINE_LF);
	assert_num_equal(used, 1);
	at += used;
	assert_num_equal(pscope_line_feed(&l, in + at, strlen(in) - at, 5, 0, &used),
			 PSCOPE_LINE_TOO_LONG);
	assert_num_equal(used, 6);
	assert_num_equal(pscope_line_fin(&(struct pscope_line){ 0 }), PSCOPE_LINE_NONE);
}

/* A limit past PSCOPE_LINE_LIMIT_MAX is that; the state stays 4 bytes (serve --keep holds one per connection). */
static void limits_and_size(void **state)
{
	struct pscope_line l = { .len = PSCOPE_LINE_LIMIT_MAX };
	size_t used;

	(void)state;
	assert_num_equal(sizeof(struct pscope_line), 4);
	assert_num_equal(pscope_line_feed(&l, "\r", 1, UINT32_MAX, 0, &used), PSCOPE_LINE_MORE);
	assert_num_equal(pscope_line_feed(&l, "\n", 1, UINT32_MAX, 0, &used), PSCOPE_LINE_CRLF);
	l.len = PSCOPE_LINE_LIMIT_MAX;
	assert_num_equal(pscope_line_feed(&l, "x", 1, UINT32_MAX, 0, &used), PSCOPE_LINE_TOO_LONG);
	assert_string_equal(pscope_line_result_name(PSCOPE_LINE_UNENDED), "no end of line");
	assert_string_equal(pscope_line_result_name(99), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(at_under_over),
		cmocka_unit_test(lone_cr_is_data),
		cmocka_unit_test(fin),
		cmocka_unit_test(crlf_only),
		cmocka_unit_test(long_lines),
		cmocka_unit_test(lines_in_a_row),
		cmocka_unit_test(limits_and_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
