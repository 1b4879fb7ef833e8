/*
 * Unit tests of json.h: commas and nesting, RFC 8259 escapes, UTF-8 copied
 * or replaced byte by byte, numbers, and a buffer cut short.  Every expected
 * text is written out here, not computed by the code under test.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "portscope/json.h"

/* What BUILD writes, into a buffer large enough and into a stream: both must be WANT. */
static void check_doc(void (*build)(struct pscope_json *), const char *want)
{
	struct pscope_json j;
	char buf[1024], *text = NULL;
	size_t len = 0;
	FILE *f;

	pscope_json_init_buf(&j, buf, sizeof(buf));
	build(&j);
	assert_num_equal(pscope_json_end(&j), strlen(want));
	assert_string_equal(buf, want);

	f = open_memstream(&text, &len);
	assert_non_null(f);
	pscope_json_init_file(&j, f);
	build(&j);
	assert_num_equal(pscope_json_end(&j), strlen(want));
	assert_num_equal(fclose(f), 0);
	assert_num_equal(len, strlen(want));
	assert_memory_equal(text, want, len);
	free(text);
}

/* The inside of the JSON string that LEN bytes of S become, compared with WANT. */
static void check_escape(const char *s, size_t len, const char *want)
{
	char buf[256];

	assert_num_equal(pscope_json_escape(buf, sizeof(buf), s, len), strlen(want));
	assert_string_equal(buf, want);
}

#define ESC(lit, want) check_escape((lit), sizeof(lit) - 1, (want))

static void build_nested(struct pscope_json *j)
{
	pscope_json_object_begin(j, NULL);
	pscope_json_int(j, "a", 1);
	pscope_json_array_begin(j, "b");
	pscope_json_int(j, NULL, 2);
	pscope_json_object_begin(j, NULL);
	pscope_json_object_end(j);
	pscope_json_array_begin(j, NULL);
	pscope_json_array_end(j);
	pscope_json_object_begin(j, NULL);
	pscope_json_bool(j, "t", true);
	pscope_json_bool(j, "f", false);
	pscope_json_object_end(j);
	pscope_json_null(j, NULL);
	pscope_json_array_end(j);
	pscope_json_object_begin(j, "c");
	pscope_json_array_begin(j, "d");
	pscope_json_array_begin(j, NULL);
	pscope_json_string(j, NULL, "x");
	pscope_json_string(j, NULL, "y");
	pscope_json_array_end(j);
	pscope_json_array_end(j);
	pscope_json_string(j, "e", NULL);
	pscope_json_object_end(j);
	pscope_json_uint(j, "z", 0);
	pscope_json_object_end(j);
}

static void commas_and_nesting(void **state)
{
	(void)state;
	check_doc(build_nested,
		  "{\"a\":1,\"b\":[2,{},[],{\"t\":true,\"f\":false},null],"
		  "\"c\":{\"d\":[[\"x\",\"y\"]],\"e\":null},\"z\":0}");
}

static void build_empty_object(struct pscope_json *j)
{
	pscope_json_object_begin(j, NULL);
	pscope_json_object_end(j);
}

static void build_top_array(struct pscope_json *j)
{
	pscope_json_array_begin(j, NULL);
	pscope_json_object_begin(j, NULL);
	pscope_json_int(j, "k", -1);
	pscope_json_object_end(j);
	pscope_json_object_begin(j, NULL);
	pscope_json_int(j, "k", -2);
	pscope_json_object_end(j);
	pscope_json_array_end(j);
}

static void build_raw(struct pscope_json *j)
{
	pscope_json_object_begin(j, NULL);
	pscope_json_raw(j, "sock", "{\"fd\":3}");
	pscope_json_raw(j, "n", "7");
	pscope_json_array_begin(j, "l");
	pscope_json_raw(j, NULL, "[1]");
	pscope_json_raw(j, NULL, "true");
	pscope_json_array_end(j);
	pscope_json_object_end(j);
}

static void empty_top_and_raw(void **state)
{
	(void)state;
	check_doc(build_empty_object, "{}");
	check_doc(build_top_array, "[{\"k\":-1},{\"k\":-2}]");
	check_doc(build_raw, "{\"sock\":{\"fd\":3},\"n\":7,\"l\":[[1],true]}");
}

static void escapes(void **state)
{
	(void)state;
	ESC("plain text, 0-9 ~!@#$%^&*()", "plain text, 0-9 ~!@#$%^&*()");
	ESC("", "");
	ESC("\"", "\\\"");
	ESC("\\", "\\\\");
	ESC("a\"b\\c", "a\\\"b\\\\c");
	ESC("/", "/");
	ESC("\b\f\n\r\t", "\\b\\f\\n\\r\\t");
	ESC("\x01", "\\u0001");
	ESC("\x07\x0b\x0e", "\\u0007\\u000b\\u000e");
	ESC("\x1b[0m", "\\u001b[0m");
	ESC("\x1f", "\\u001f");
	ESC("\x7f", "\\u007f");
	ESC("a\x7f" "b", "a\\u007fb");
	ESC(" ~", " ~");
}

static void utf8_copied(void **state)
{
	(void)state;
	ESC("\xc2\x80", "\xc2\x80");				/* U+0080, the first 2-byte */
	ESC("caf\xc3\xa9", "caf\xc3\xa9");			/* é */
	ESC("\xdf\xbf", "\xdf\xbf");				/* U+07FF */
	ESC("\xe0\xa0\x80", "\xe0\xa0\x80");			/* U+0800, the first 3-byte */
	ESC("\xe2\x82\xac 5", "\xe2\x82\xac 5");		/* € */
	ESC("\xed\x9f\xbf", "\xed\x9f\xbf");			/* U+D7FF, just below the surrogates */
	ESC("\xee\x80\x80", "\xee\x80\x80");			/* U+E000, just above them */
	ESC("\xef\xbf\xbf", "\xef\xbf\xbf");			/* U+FFFF */
	ESC("\xf0\x90\x80\x80", "\xf0\x90\x80\x80");		/* U+10000, the first 4-byte */
	ESC("\xf0\x9f\x98\x80!", "\xf0\x9f\x98\x80!");		/* 😀 */
	ESC("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf");		/* U+10FFFF, the last */
	ESC("\xce\xb1\n\xe2\x82\xac", "\xce\xb1\\n\xe2\x82\xac");
}

static void utf8_invalid_replaced(void **state)
{
	(void)state;
	/* Lone continuation bytes. */
	ESC("\x80", "\\ufffd");
	ESC("a\xbf" "b", "a\\ufffdb");
	ESC("\x80\x80", "\\ufffd\\ufffd");
	/* Overlong forms: each byte is replaced. */
	ESC("\xc0\x80", "\\ufffd\\ufffd");
	ESC("\xc1\xbf", "\\ufffd\\ufffd");
	ESC("\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd");
	ESC("\xe0\x9f\xbf", "\\ufffd\\ufffd\\ufffd");
	ESC("\xf0\x80\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd");
	ESC("\xf0\x8f\xbf\xbf", "\\ufffd\\ufffd\\ufffd\\ufffd");
	/* Surrogates, U+D800 and U+DFFF. */
	ESC("\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd");
	ESC("\xed\xbf\xbf", "\\ufffd\\ufffd\\ufffd");
	/* Past U+10FFFF, and bytes that never occur. */
	ESC("\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd");
	ESC("\xf5\x80\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd");
	ESC("\xf8\x88\x80\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd");
	ESC("\xfe\xff", "\\ufffd\\ufffd");
	/* A sequence cut short: at the end, before ASCII, before another sequence. */
	ESC("a\xe2\x82", "a\\ufffd\\ufffd");
	ESC("\xf0\x9f\x98", "\\ufffd\\ufffd\\ufffd");
	ESC("\xc3", "\\ufffd");
	ESC("\xe2\x82" "A", "\\ufffd\\ufffdA");
	ESC("\xc3\xc3\xa9", "\\ufffd\xc3\xa9");
	ESC("\xe2\xf0\x9f\x98\x80", "\\ufffd\xf0\x9f\x98\x80");
	/* Invalid bytes among escapes and valid text. */
	ESC("\xff\"\xc3\xa9\x01", "\\ufffd\\\"\xc3\xa9\\u0001");
}

static void build_nul(struct pscope_json *j)
{
	pscope_json_array_begin(j, NULL);
	pscope_json_string_n(j, NULL, "a\0b", 3);
	pscope_json_string_n(j, NULL, "\0", 1);
	pscope_json_string_n(j, NULL, "cut", 2);
	pscope_json_string_n(j, NULL, "", 0);
	pscope_json_array_end(j);
}

static void embedded_nul(void **state)
{
	(void)state;
	check_doc(build_nul, "[\"a\\u0000b\",\"\\u0000\",\"cu\",\"\"]");
	check_escape("x\0\0y", 4, "x\\u0000\\u0000y");
}

static void build_keys(struct pscope_json *j)
{
	pscope_json_object_begin(j, NULL);
	pscope_json_string(j, "a\"b", "1");
	pscope_json_int(j, "back\\slash", 2);
	pscope_json_object_begin(j, "new\nline\x01");
	pscope_json_bool(j, "\xc3\xa9t\xc3\xa9", true);
	pscope_json_null(j, "\xff");
	pscope_json_object_end(j);
	pscope_json_object_end(j);
}

static void keys_escaped(void **state)
{
	(void)state;
	check_doc(build_keys,
		  "{\"a\\\"b\":\"1\",\"back\\\\slash\":2,"
		  "\"new\\nline\\u0001\":{\"\xc3\xa9t\xc3\xa9\":true,\"\\ufffd\":null}}");
}

static void build_numbers(struct pscope_json *j)
{
	pscope_json_array_begin(j, NULL);
	pscope_json_int(j, NULL, 0);
	pscope_json_int(j, NULL, LLONG_MIN);
	pscope_json_int(j, NULL, LLONG_MAX);
	pscope_json_uint(j, NULL, ULLONG_MAX);
	pscope_json_double(j, NULL, 1.5, 3);
	pscope_json_double(j, NULL, -0.25, 2);
	pscope_json_double(j, NULL, 2.5, 0);
	pscope_json_double(j, NULL, 0.1, 12);	/* at most 9 decimals */
	pscope_json_double(j, NULL, 3.0, -1);	/* at least 0 */
	pscope_json_double(j, NULL, NAN, 3);
	pscope_json_double(j, NULL, INFINITY, 3);
	pscope_json_double(j, NULL, -INFINITY, 3);
	pscope_json_array_end(j);
}

static void build_nan_keyed(struct pscope_json *j)
{
	pscope_json_object_begin(j, NULL);
	pscope_json_double(j, "rate", NAN, 1);
	pscope_json_double(j, "p50", 0.766, 3);
	pscope_json_object_end(j);
}

static void numbers(void **state)
{
	(void)state;
	check_doc(build_numbers,
		  "[0,-9223372036854775808,9223372036854775807,18446744073709551615,"
		  "1.500,-0.25,2,0.100000000,3,null,null,null]");
	check_doc(build_nan_keyed, "{\"rate\":null,\"p50\":0.766}");
}

/* The whole of build_nested, for the buffers cut short below. */
static const char nested_text[] =
	"{\"a\":1,\"b\":[2,{},[],{\"t\":true,\"f\":false},null],"
	"\"c\":{\"d\":[[\"x\",\"y\"]],\"e\":null},\"z\":0}";

/*
 * Into every buffer smaller than the text: the full length is returned, the
 * buffer holds the text's first SIZE-1 bytes and its NUL, and nothing is
 * written past it (a buffer of exactly SIZE bytes, for ASan; and bytes after
 * it in a larger array that must stay as they were, without ASan).
 */
static void truncation(void **state)
{
	size_t n = strlen(nested_text);
	struct pscope_json j;
	char area[sizeof(nested_text) + 16];

	(void)state;
	for (size_t size = 0; size <= n + 1; size++) {
		char *buf;

		memset(area, 'X', sizeof(area));
		pscope_json_init_buf(&j, area, size);
		build_nested(&j);
		assert_num_equal(pscope_json_end(&j), n);
		for (size_t k = size; k < sizeof(area); k++)
			if (area[k] != 'X')
				fail_msg("size %zu: byte %zu past the buffer was written", size, k);
		if (size) {
			assert_num_equal(strlen(area), size - 1 < n ? size - 1 : n);
			assert_memory_equal(area, nested_text, strlen(area));
		}

		buf = malloc(size ? size : 1);
		assert_non_null(buf);
		pscope_json_init_buf(&j, buf, size);
		build_nested(&j);
		assert_num_equal(pscope_json_end(&j), n);
		if (size)
			assert_true(memchr(buf, '\0', size) != NULL);
		free(buf);
	}
}

/* pscope_json_escape cut short: whole escapes or parts of them, always NUL-terminated. */
static void escape_truncation(void **state)
{
	static const char in[] = "a\"\xc3\xa9\x01\xff";
	static const char want[] = "a\\\"\xc3\xa9\\u0001\\ufffd";
	size_t n = strlen(want);
	char area[sizeof(want) + 16];

	(void)state;
	for (size_t size = 0; size <= n + 1; size++) {
		memset(area, 'X', sizeof(area));
		assert_num_equal(pscope_json_escape(area, size, in, sizeof(in) - 1), n);
		for (size_t k = size; k < sizeof(area); k++)
			if (area[k] != 'X')
				fail_msg("size %zu: byte %zu past the buffer was written", size, k);
		if (size) {
			assert_num_equal(strlen(area), size - 1 < n ? size - 1 : n);
			assert_memory_equal(area, want, strlen(area));
		}
	}
	assert_num_equal(pscope_json_escape(NULL, 0, in, sizeof(in) - 1), n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(commas_and_nesting),
		cmocka_unit_test(empty_top_and_raw),
		cmocka_unit_test(escapes),
		cmocka_unit_test(utf8_copied),
		cmocka_unit_test(utf8_invalid_replaced),
		cmocka_unit_test(embedded_nul),
		cmocka_unit_test(keys_escaped),
		cmocka_unit_test(numbers),
		cmocka_unit_test(truncation),
		cmocka_unit_test(escape_truncation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
