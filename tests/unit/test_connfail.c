/*
 * Unit tests of connfail.h on loopback: a reset is a reset (no ICMP queued),
 * the error queue is off again once connected, a deadline is ours while the
 * socket is still in SYN-SENT, and every ICMP and ICMPv6 unreachable code has
 * its RFC name.  The ICMP errors themselves come from real routers and
 * firewalls in tests/e2e/failures.bats.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include "portscope/connfail.h"
#include "unit.h"

static int int_opt(int fd, int level, int opt)
{
	int v = -1;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, level, opt, &v, &len) < 0)
		return -errno;
	return v;
}

/* A port nothing listens on: bound, read, closed. */
static void closed_port(const char *any, struct pscope_addr *a)
{
	int fd;

	addr_or_fail(any, a);
	fd = pscope_socket(a->u.sa.sa_family, SOCK_STREAM);
	assert_true(fd >= 0);
	assert_num_equal(bind(fd, &a->u.sa, a->len), 0);
	a->len = sizeof(a->u);
	assert_num_equal(getsockname(fd, &a->u.sa, &a->len), 0);
	close(fd);
}

static void reset_is_a_reset(void **state)
{
	const char *const anys[] = { "127.0.0.1:0", "[::1]:0" };

	(void)state;
	for (size_t i = 0; i < sizeof(anys) / sizeof(anys[0]); i++) {
		struct pscope_connfail why;
		struct pscope_addr a;
		int fd;

		closed_port(anys[i], &a);
		fd = pscope_socket(a.u.sa.sa_family, SOCK_STREAM);
		assert_true(fd >= 0);
		memset(&why, 0xff, sizeof(why));
		assert_num_equal(pscope_connect_explained(fd, &a, WAIT_MS, &why), -ECONNREFUSED);
		assert_num_equal(why.kind, PSCOPE_FAIL_RESET);
		assert_num_equal(why.err, ECONNREFUSED);
		assert_false(why.have_icmp);
		assert_num_equal(why.syns, 1);
		assert_true(why.elapsed_ms >= 0 && why.elapsed_ms < WAIT_MS / 2);
		assert_string_equal(pscope_fail_kind_name(why.kind), "reset");
		close(fd);
	}
}

/* Once connected the queue is off: IP_RECVERR would make soft ICMP errors fatal. */
static void recverr_off_once_connected(void **state)
{
	struct pscope_connfail why;
	struct pscope_addr bound;
	int lfd, fd;

	(void)state;
	lfd = listen_or_skip("[::1]:0", 0, &bound);
	fd = pscope_socket(AF_INET6, SOCK_STREAM);
	assert_true(fd >= 0);
	assert_num_equal(pscope_recverr(fd, AF_INET6, true), 0);
	assert_num_equal(int_opt(fd, IPPROTO_IPV6, IPV6_RECVERR), 1);
	assert_num_equal(int_opt(fd, IPPROTO_IP, IP_RECVERR), 1);
	assert_num_equal(pscope_connect_explained(fd, &bound, WAIT_MS, &why), 0);
	assert_num_equal(int_opt(fd, IPPROTO_IPV6, IPV6_RECVERR), 0);
	assert_num_equal(int_opt(fd, IPPROTO_IP, IP_RECVERR), 0);
	close(fd);
	close(lfd);
}

/* A listener whose queue is full drops SYNs: the deadline is ours, the socket still in SYN-SENT. */
static void deadline_is_ours(void **state)
{
	struct pscope_connfail why;
	struct pscope_addr bound;
	int lfd, fds[8], n = 0, rc = 0;

	(void)state;
	lfd = listen_on("127.0.0.1:0", 0, &bound);
	assert_true(lfd >= 0);
	assert_num_equal(listen(lfd, 0), 0);
	while (n < 8) {
		fds[n] = pscope_socket(AF_INET, SOCK_STREAM);
		assert_true(fds[n] >= 0);
		rc = pscope_connect_explained(fds[n++], &bound, 150, &why);
		if (rc != 0)
			break;
	}
	assert_num_equal(rc, -ETIMEDOUT);
	assert_num_equal(why.kind, PSCOPE_FAIL_DEADLINE);
	assert_true(why.elapsed_ms >= 145);
	assert_true(why.syns >= 1);
	assert_num_equal(pscope_sock_tcp_state(fds[n - 1]), TCP_SYN_SENT);
	while (n > 0)
		close(fds[--n]);
	close(lfd);
}

static void errors(void **state)
{
	struct pscope_connfail why;
	struct pscope_icmp icmp;

	(void)state;
	assert_num_equal(pscope_recverr(-1, AF_INET, true), -EBADF);
	assert_num_equal(pscope_icmp_read(-1, &icmp), -EBADF);
	assert_num_equal(pscope_connfail_explain(-1, NULL, 0, 0, false, &why), -EINVAL);
}

/* Every destination unreachable code, by RFC 792, 1122, 1812 (ICMP) and 4443, 6550, 8883 (ICMPv6). */
static void icmp_names(void **state)
{
	static const char *const v4[16] = {
		[0] = "net unreachable", [1] = "host unreachable", [2] = "protocol unreachable",
		[3] = "port unreachable", [4] = "fragmentation needed and DF set",
		[5] = "source route failed", [6] = "destination network unknown",
		[7] = "destination host unknown", [8] = "source host isolated",
		[9] = "communication with destination network administratively prohibited",
		[10] = "communication with destination host administratively prohibited",
		[11] = "destination network unreachable for type of service",
		[12] = "destination host unreachable for type of service",
		[13] = "communication administratively prohibited", [14] = "host precedence violation",
		[15] = "precedence cutoff in effect",
	};
	static const char *const v6[9] = {
		[0] = "no route to destination",
		[1] = "communication with destination administratively prohibited",
		[2] = "beyond scope of source address", [3] = "address unreachable",
		[4] = "port unreachable", [5] = "source address failed ingress/egress policy",
		[6] = "reject route to destination", [7] = "error in source routing header",
		[8] = "headers too long",
	};

	(void)state;
	for (unsigned c = 0; c < 16; c++)
		assert_string_equal(pscope_icmp_code_name(AF_INET, 3, c), v4[c]);
	assert_null(pscope_icmp_code_name(AF_INET, 3, 16));
	for (unsigned c = 0; c < 9; c++)
		assert_string_equal(pscope_icmp_code_name(AF_INET6, 1, c), v6[c]);
	assert_null(pscope_icmp_code_name(AF_INET6, 1, 9));
	assert_string_equal(pscope_icmp_type_name(AF_INET, 3), "destination unreachable");
	assert_string_equal(pscope_icmp_type_name(AF_INET, 11), "time exceeded");
	assert_string_equal(pscope_icmp_type_name(AF_INET6, 1), "destination unreachable");
	assert_string_equal(pscope_icmp_type_name(AF_INET6, 2), "packet too big");
	assert_null(pscope_icmp_type_name(AF_INET, 200));
	assert_null(pscope_icmp_type_name(AF_INET6, 200));
	assert_string_equal(pscope_icmp_code_name(AF_INET, 11, 0), "time to live exceeded in transit");
	assert_string_equal(pscope_icmp_code_name(AF_INET6, 3, 0), "hop limit exceeded in transit");
	assert_null(pscope_icmp_code_name(AF_INET, 12, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reset_is_a_reset),
		cmocka_unit_test(recverr_off_once_connected),
		cmocka_unit_test(deadline_is_ours),
		cmocka_unit_test(errors),
		cmocka_unit_test(icmp_names),
	};

	/* A safety net: the waits have deadlines, but no test may hang the build. */
	alarm(30);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
