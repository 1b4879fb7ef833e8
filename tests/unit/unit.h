/*
 * Shared by the cmocka unit tests: an integer assertion that prints both
 * values in decimal and names any error code, as cmocka 1.1's
 * assert_int_equal prints hexadecimal (-4100 would read 0xffffffffffffeffc),
 * and loopback helpers in which every wait has a deadline.
 */
#ifndef PORTSCOPE_TEST_UNIT_H
#define PORTSCOPE_TEST_UNIT_H

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "portscope/portscope.h"

/* How many descriptors this process has open (from /proc/self/fd), to see that nothing leaks. */
static inline int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the directory's own descriptor */
}

/* The symbolic name of a return value, for failure messages: "-PSCOPE_E_PORT", "-ENOTCONN". */
static inline const char *rc_name(long long v, char *buf, size_t size)
{
	static const char *const names[] = {
		"PSCOPE_E_EMPTY", "PSCOPE_E_TOOLONG", "PSCOPE_E_NUL", "PSCOPE_E_PORT",
		"PSCOPE_E_NOPORT", "PSCOPE_E_HOST_EMPTY", "PSCOPE_E_BRACKET",
		"PSCOPE_E_BAD_IPV6", "PSCOPE_E_AMBIGUOUS", "PSCOPE_E_NEED_BRACKETS",
		"PSCOPE_E_NOT_NUMERIC", "PSCOPE_E_PROTO", "PSCOPE_E_RANGE",
		"PSCOPE_E_PORT_RANGE", "PSCOPE_E_SPACE", "PSCOPE_E_CONTROL", "PSCOPE_E_NOT_QUAD",
		"PSCOPE_E_NAME_CHAR", "PSCOPE_E_LABEL", "PSCOPE_E_LABEL_LONG", "PSCOPE_E_SCOPE_BAD",
		"PSCOPE_E_SCOPE_NOT_LL", "PSCOPE_E_SCOPE_NEEDED", "PSCOPE_E_SCOPE_UNKNOWN",
		"PSCOPE_E_ANY_NOT_DEST", "PSCOPE_E_NOT_UNICAST", "PSCOPE_E_V4COMPAT",
		"PSCOPE_E_FAMILY", "PSCOPE_E_NAME_UNUSABLE",
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

static inline void rc_equal(int got, int want, const char *expr, const char *file, int line)
{
	if (got == want)
		return;
	print_error("%s: got %d (%s), want %d (%s)\n", expr, got,
		    got < 0 ? pscope_strerror(got) : "ok", want, want < 0 ? pscope_strerror(want) : "ok");
	_fail(file, line);
}

/* Like assert_num_equal, for return codes: names both sides with pscope_strerror. */
#define assert_rc(got, want) rc_equal((got), (want), #got, __FILE__, __LINE__)

/* The C string S with its length, for the functions that take (s, len). */
#define SL(s) (s), strlen(s)

/* How long a test waits for anything on loopback before it fails rather than hangs. */
#define WAIT_MS 2000

/* Parses the numeric address TEXT or fails the test. */
static inline void addr_or_fail(const char *text, struct pscope_addr *a)
{
	int rc = pscope_addr_parse(text, strlen(text), a);

	if (rc < 0)
		fail_msg("pscope_addr_parse(\"%s\"): %s", text, pscope_strerror(rc));
}

/*
 * A listener on TEXT ("127.0.0.1:0": the kernel picks the port), its bound
 * address in BOUND.  Returns the descriptor, or -errno when the address
 * cannot be used here (no IPv6 loopback): the caller may skip.
 */
static inline int listen_on(const char *text, int flags, struct pscope_addr *bound)
{
	struct pscope_addr a;
	int fd;

	addr_or_fail(text, &a);
	fd = pscope_listen(&a, 8, flags);
	if (fd < 0)
		return fd;
	bound->len = sizeof(bound->u);
	if (getsockname(fd, &bound->u.sa, &bound->len) < 0)
		fail_msg("getsockname: %s", strerror(errno));
	return fd;
}

/* Like listen_on, but skips the test when the address family is not available. */
static inline int listen_or_skip(const char *text, int flags, struct pscope_addr *bound)
{
	int fd = listen_on(text, flags, bound);

	if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL) {
		print_message("  %s unavailable here (%s): skipped\n", text, pscope_strerror(fd));
		skip();
	}
	if (fd < 0)
		fail_msg("pscope_listen(%s): %s", text, pscope_strerror(fd));
	return fd;
}

/* A client socket connected to A, or a failed test. */
static inline int connect_or_fail(const struct pscope_addr *a)
{
	int fd = pscope_socket(a->u.sa.sa_family, SOCK_STREAM);
	int rc;

	if (fd < 0)
		fail_msg("pscope_socket: %s", pscope_strerror(fd));
	rc = pscope_connect(fd, a, WAIT_MS);
	if (rc < 0)
		fail_msg("pscope_connect: %s", pscope_strerror(rc));
	return fd;
}

/* Accepts one connection on the non-blocking LISTENER within WAIT_MS, or fails the test. */
static inline int accept_or_fail(int listener)
{
	struct pollfd p = { .fd = listener, .events = POLLIN };
	int fd;

	if (poll(&p, 1, WAIT_MS) != 1)
		fail_msg("no connection to accept within %d ms", WAIT_MS);
	fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		fail_msg("accept4: %s", strerror(errno));
	return fd;
}

#endif
