/*
 * Shared by the cmocka unit tests: an integer assertion that prints both
 * values in decimal and names any error code, as cmocka 1.1's
 * assert_int_equal prints hexadecimal (-4100 would read 0xffffffffffffeffc).
 */
#ifndef PORTSCOPE_TEST_UNIT_H
#define PORTSCOPE_TEST_UNIT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "portscope/portscope.h"

/* The symbolic name of a return value, for failure messages: "-PSCOPE_E_PORT", "-ENOTCONN". */
static inline const char *rc_name(long long v, char *buf, size_t size)
{
	static const char *const names[] = {
		"PSCOPE_E_EMPTY", "PSCOPE_E_TOOLONG", "PSCOPE_E_NUL", "PSCOPE_E_PORT",
		"PSCOPE_E_NOPORT", "PSCOPE_E_HOST_EMPTY", "PSCOPE_E_BRACKET",
		"PSCOPE_E_BAD_IPV6", "PSCOPE_E_AMBIGUOUS", "PSCOPE_E_NEED_BRACKETS",
		"PSCOPE_E_NOT_NUMERIC", "PSCOPE_E_PROTO",
	};
	long long e = -v;

	if (v >= 0)
		snprintf(buf, size, "ok");
	else if (e > PSCOPE_ERR_BASE && e < PSCOPE_E_LAST &&
		 (size_t)(e - PSCOPE_ERR_BASE - 1) < sizeof(names) / sizeof(names[0]))
		snprintf(buf, size, "-%s", names[e - PSCOPE_ERR_BASE - 1]);
	else if (e > PSCOPE_EAI_BASE && e < PSCOPE_EAI_BASE + 1000)
		snprintf(buf, size, "getaddrinfo %lld", PSCOPE_EAI_BASE - e);
	else if (e < PSCOPE_ERR_BASE)
		snprintf(buf, size, "-%s", pscope_errno_name((int)e));
	else
		snprintf(buf, size, "?");
	return buf;
}

static inline void num_equal(long long got, long long want, const char *expr,
			     const char *file, int line)
{
	char g[64], w[64];

	if (got == want)
		return;
	print_error("%s: got %lld (%s), want %lld (%s)\n", expr, got,
		    rc_name(got, g, sizeof(g)), want, rc_name(want, w, sizeof(w)));
	_fail(file, line);
}

/* Like assert_int_equal, but prints decimal values and error names. */
#define assert_num_equal(got, want) \
	num_equal((long long)(got), (long long)(want), #got, __FILE__, __LINE__)

/* The C string S with its length, for the functions that take (s, len). */
#define SL(s) (s), strlen(s)

#endif
