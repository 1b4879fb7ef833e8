/*
 * Unit tests of net.h on loopback: listen, connect with a deadline, read a
 * line with a deadline.  Every port is chosen by the kernel (port 0), and
 * every wait is bounded.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "portscope/hist.h"
#include "unit.h"

static int int_opt(int fd, int level, int opt)
{
	int v = -1;
	socklen_t len = sizeof(v);

	assert_num_equal(getsockopt(fd, level, opt, &v, &len), 0);
	return v;
}

/* A descriptor from this library is non-blocking and close-on-exec. */
static void assert_nonblock_cloexec(int fd)
{
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

/* A loopback port nothing listens on: bound by the kernel's choice, then closed. */
static void closed_port(const char *any, struct pscope_addr *a)
{
	int fd;

	addr_or_fail(any, a);
	fd = pscope_socket(a->u.sa.sa_family, SOCK_STREAM);
	assert_true(fd >= 0);
	assert_num_equal(bind(fd, &a->u.sa, a->len), 0);
	a->len = sizeof(a->u);
	assert_num_equal(getsockname(fd, &a->u.sa, &a->len), 0);
	assert_true(pscope_addr_port(a) > 0);
	close(fd);
}

/* A connected pair on loopback: *CLIENT from pscope_connect, *SERVER accepted. */
static void connected_pair(int *client, int *server)
{
	struct pscope_addr bound;
	int lfd = listen_or_skip("127.0.0.1:0", 0, &bound);

	*client = connect_or_fail(&bound);
	*server = accept_or_fail(lfd);
	close(lfd);
}

static void send_all(int fd, const char *s)
{
	assert_num_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), strlen(s));
}

static void socket_flags(void **state)
{
	int fd;

	(void)state;
	fd = pscope_socket(AF_INET, SOCK_STREAM);
	assert_true(fd >= 0);
	assert_nonblock_cloexec(fd);
	assert_num_equal(int_opt(fd, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
	close(fd);

	fd = pscope_socket(AF_INET6, SOCK_DGRAM);
	if (fd != -EAFNOSUPPORT) {
		assert_true(fd >= 0);
		assert_nonblock_cloexec(fd);
		assert_num_equal(int_opt(fd, SOL_SOCKET, SO_TYPE), SOCK_DGRAM);
		close(fd);
	}

	assert_num_equal(pscope_socket(12345, SOCK_STREAM), -EAFNOSUPPORT);
}

static void listen_ipv4(void **state)
{
	struct pscope_addr bound;
	char host[PSCOPE_ADDRSTRLEN];
	int fd;

	(void)state;
	fd = listen_or_skip("127.0.0.1:0", 0, &bound);
	assert_true(pscope_addr_port(&bound) > 0);
	assert_num_equal(pscope_addr_host(&bound, host, sizeof(host)), 9);
	assert_string_equal(host, "127.0.0.1");
	assert_nonblock_cloexec(fd);
	assert_num_equal(int_opt(fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
	assert_num_equal(int_opt(fd, SOL_SOCKET, SO_REUSEADDR), 1);
	assert_num_equal(int_opt(fd, SOL_SOCKET, SO_REUSEPORT), 0);
	close(fd);
}

static void listen_ipv6(void **state)
{
	struct pscope_addr bound;
	char host[PSCOPE_ADDRSTRLEN];
	int fd;

	(void)state;
	fd = listen_or_skip("[::1]:0", 0, &bound);
	assert_num_equal(bound.u.sa.sa_family, AF_INET6);
	assert_true(pscope_addr_port(&bound) > 0);
	assert_num_equal(pscope_addr_host(&bound, host, sizeof(host)), 3);
	assert_string_equal(host, "::1");
	assert_nonblock_cloexec(fd);
	assert_num_equal(int_opt(fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
	assert_num_equal(int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY), 1);
	close(fd);
}

/*
 * An IPv6 socket takes IPv4 only when dual-stack.  The IPv4-mapped loopback
 * address shows it without listening beyond loopback.  The kernel refuses to
 * bind it to an IPv6-only socket (EINVAL, __inet6_bind), so a mapped address
 * is always bound with IPV6_V6ONLY off, as Python does: written, it asks for
 * IPv4 through an IPv6 socket.  A client socket that is IPv6-only still
 * reaches it: pscope_connect turns IPV6_V6ONLY off for a mapped destination.
 */
static void listen_dualstack(void **state)
{
	struct pscope_addr bound, v4, mapped;
	struct pscope_sockinfo csi, asi;
	int lfd, cfd, afd, on = 1;

	(void)state;
	lfd = listen_or_skip("[::ffff:127.0.0.1]:0", 0, &bound);
	assert_num_equal(int_opt(lfd, IPPROTO_IPV6, IPV6_V6ONLY), 0);
	mapped = bound;
	cfd = pscope_socket(AF_INET6, SOCK_STREAM);
	assert_true(cfd >= 0);
	assert_num_equal(setsockopt(cfd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)), 0);
	assert_rc(pscope_connect(cfd, &mapped, WAIT_MS), 0);
	assert_num_equal(int_opt(cfd, IPPROTO_IPV6, IPV6_V6ONLY), 0);
	afd = accept_or_fail(lfd);
	close(afd);
	close(cfd);
	close(lfd);

	lfd = listen_or_skip("[::ffff:127.0.0.1]:0", PSCOPE_LISTEN_DUALSTACK, &bound);
	assert_num_equal(int_opt(lfd, IPPROTO_IPV6, IPV6_V6ONLY), 0);
	addr_or_fail("127.0.0.1:0", &v4);
	pscope_addr_set_port(&v4, (uint16_t)pscope_addr_port(&bound));
	cfd = connect_or_fail(&v4);
	afd = accept_or_fail(lfd);

	assert_num_equal(pscope_sock_describe(cfd, &csi), 0);
	assert_num_equal(pscope_sock_describe(afd, &asi), 0);
	assert_num_equal(asi.family, AF_INET6);
	assert_true(pscope_addr_is_v4mapped(&asi.peer));
	assert_true(pscope_addr_same(&asi.peer, &csi.local));
	assert_true(pscope_addr_same(&asi.local, &csi.peer));
	close(afd);
	close(cfd);
	close(lfd);
}

static void listen_errors(void **state)
{
	struct pscope_addr bound, zero;
	int fd, fds;

	(void)state;
	memset(&zero, 0, sizeof(zero));
	fds = open_fds();
	assert_num_equal(pscope_listen(&zero, 8, 0), -EAFNOSUPPORT);
	assert_num_equal(open_fds(), fds);

	/* A port in use: the failed bind closes its socket. */
	fd = listen_or_skip("127.0.0.1:0", 0, &bound);
	fds = open_fds();
	assert_num_equal(pscope_listen(&bound, 8, 0), -EADDRINUSE);
	assert_num_equal(pscope_listen(&bound, 8, PSCOPE_LISTEN_REUSEPORT), -EADDRINUSE);
	assert_num_equal(open_fds(), fds);
	close(fd);
}

/* With SO_REUSEPORT on both, two listeners share one port. */
static void listen_reuseport(void **state)
{
	struct pscope_addr bound, second;
	int a, b;

	(void)state;
	a = listen_or_skip("127.0.0.1:0", PSCOPE_LISTEN_REUSEPORT, &bound);
	assert_num_equal(int_opt(a, SOL_SOCKET, SO_REUSEPORT), 1);
	b = pscope_listen(&bound, 8, PSCOPE_LISTEN_REUSEPORT);
	assert_true(b >= 0);
	second.len = sizeof(second.u);
	assert_num_equal(getsockname(b, &second.u.sa, &second.len), 0);
	assert_true(pscope_addr_same(&bound, &second));
	close(b);
	close(a);
}

static void check_connect(const char *any)
{
	struct pscope_addr bound;
	struct pscope_sockinfo si;
	int lfd, cfd, afd;

	lfd = listen_or_skip(any, 0, &bound);
	cfd = pscope_socket(bound.u.sa.sa_family, SOCK_STREAM);
	assert_true(cfd >= 0);
	assert_num_equal(pscope_connect(cfd, &bound, WAIT_MS), 0);
	assert_num_equal(pscope_sock_describe(cfd, &si), 0);
	assert_num_equal(si.peer_err, 0);
	assert_true(pscope_addr_same(&si.peer, &bound));
	afd = accept_or_fail(lfd);
	close(afd);
	close(cfd);
	close(lfd);
}

/* pscope_accept: the new socket is non-blocking and close-on-exec, PEER is the client's
 * own address (as the client's getsockname has it); with nothing pending, -EAGAIN. */
static void check_accept(const char *any)
{
	struct pscope_addr bound, peer, client;
	struct pollfd p;
	int lfd, cfd, afd;

	lfd = listen_or_skip(any, 0, &bound);
	assert_num_equal(pscope_accept(lfd, &peer, NULL), -EAGAIN);
	cfd = pscope_socket(bound.u.sa.sa_family, SOCK_STREAM);
	assert_true(cfd >= 0);
	assert_num_equal(pscope_connect(cfd, &bound, WAIT_MS), 0);
	assert_num_equal(pscope_sock_local(cfd, &client), 0);
	p = (struct pollfd){ .fd = lfd, .events = POLLIN };
	assert_num_equal(poll(&p, 1, WAIT_MS), 1);
	memset(&peer, 0, sizeof(peer));
	afd = pscope_accept(lfd, &peer, NULL);
	assert_true(afd >= 0);
	assert_nonblock_cloexec(afd);
	assert_true(pscope_addr_same(&peer, &client));
	assert_num_equal(pscope_addr_port(&peer), pscope_addr_port(&client));
	close(afd);
	close(cfd);
	close(lfd);
}

static void accept_ipv4(void **state)
{
	(void)state;
	check_accept("127.0.0.1:0");
}

static void accept_ipv6(void **state)
{
	(void)state;
	check_accept("[::1]:0");
}

static void connect_ipv4(void **state)
{
	(void)state;
	check_connect("127.0.0.1:0");
}

static void connect_ipv6(void **state)
{
	(void)state;
	check_connect("[::1]:0");
}

/* A negative timeout is no limit: on loopback the connection is made at once. */
static void connect_no_limit(void **state)
{
	struct pscope_addr bound;
	int lfd, cfd;

	(void)state;
	lfd = listen_or_skip("127.0.0.1:0", 0, &bound);
	cfd = pscope_socket(AF_INET, SOCK_STREAM);
	assert_true(cfd >= 0);
	assert_num_equal(pscope_connect(cfd, &bound, -1), 0);
	close(cfd);
	close(lfd);
}

static void connect_refused(void **state)
{
	const char *const anys[] = { "127.0.0.1:0", "[::1]:0" };

	(void)state;
	for (size_t i = 0; i < sizeof(anys) / sizeof(anys[0]); i++) {
		struct pscope_addr a;
		long long t0;
		int fd;

		addr_or_fail(anys[i], &a);
		fd = pscope_socket(a.u.sa.sa_family, SOCK_STREAM);
		if (fd == -EAFNOSUPPORT)
			continue;
		close(fd);
		closed_port(anys[i], &a);
		fd = pscope_socket(a.u.sa.sa_family, SOCK_STREAM);
		assert_true(fd >= 0);
		t0 = pscope_now_ms();
		assert_num_equal(pscope_connect(fd, &a, WAIT_MS), -ECONNREFUSED);
		/* Refused at once: no waiting out the deadline. */
		assert_true(pscope_now_ms() - t0 < WAIT_MS / 2);
		close(fd);
	}
}

/*
 * A listener with a backlog of 0 whose queue holds a connection nobody
 * accepts drops further SYNs, so a later connect waits until its deadline.
 */
static void connect_timeout(void **state)
{
	struct pscope_addr bound;
	int lfd, fds[8], n = 0, rc = 0;
	long long t0 = 0, waited = 0;

	(void)state;
	lfd = listen_on("127.0.0.1:0", 0, &bound);
	assert_true(lfd >= 0);
	assert_num_equal(listen(lfd, 0), 0);
	while (n < 8) {
		fds[n] = pscope_socket(AF_INET, SOCK_STREAM);
		assert_true(fds[n] >= 0);
		t0 = pscope_now_ms();
		rc = pscope_connect(fds[n++], &bound, 150);
		waited = pscope_now_ms() - t0;
		if (rc != 0)
			break;
	}
	assert_num_equal(rc, -ETIMEDOUT);
	assert_true(waited >= 145);
	assert_true(waited < WAIT_MS);
	while (n > 0)
		close(fds[--n]);
	close(lfd);
}

static void connect_bad_fd(void **state)
{
	struct pscope_addr a;

	(void)state;
	addr_or_fail("127.0.0.1:9", &a);
	assert_num_equal(pscope_connect(-1, &a, 100), -EBADF);
}

static void read_line_reads_a_line(void **state)
{
	char buf[64];
	size_t len;
	int c, s;

	(void)state;
	connected_pair(&c, &s);
	send_all(s, "portscope/1 hello\n");
	assert_num_equal(pscope_read_line(c, buf, sizeof(buf), &len, WAIT_MS), PSCOPE_LINE_LF);
	assert_num_equal(len, 18);
	assert_string_equal(buf, "portscope/1 hello\n");

	/* And the other way, with "\r\n". */
	send_all(c, "hi\r\n");
	assert_num_equal(pscope_read_line(s, buf, sizeof(buf), &len, WAIT_MS), PSCOPE_LINE_CRLF);
	assert_num_equal(len, 4);
	assert_string_equal(buf, "hi\r\n");
	close(c);
	close(s);
}

static void read_line_eof(void **state)
{
	char buf[64];
	size_t len;
	int c, s;

	(void)state;
	connected_pair(&c, &s);
	close(s);
	memset(buf, 'x', sizeof(buf));
	assert_num_equal(pscope_read_line(c, buf, sizeof(buf), &len, WAIT_MS), PSCOPE_LINE_NONE);
	assert_num_equal(len, 0);
	assert_string_equal(buf, "");
	close(c);

	/* What came before the end of file, without a newline: not a line. */
	connected_pair(&c, &s);
	send_all(s, "no newline\r");
	close(s);
	assert_num_equal(pscope_read_line(c, buf, sizeof(buf), &len, WAIT_MS), PSCOPE_LINE_UNENDED);
	assert_num_equal(len, 11);
	assert_string_equal(buf, "no newline\r");
	close(c);
}

static void read_line_timeout(void **state)
{
	char buf[64];
	long long t0, waited;
	size_t len;
	int c, s;

	(void)state;
	connected_pair(&c, &s);
	t0 = pscope_now_ms();
	assert_num_equal(pscope_read_line(c, buf, sizeof(buf), &len, 100), -ETIMEDOUT);
	waited = pscope_now_ms() - t0;
	assert_true(waited >= 99);
	assert_true(waited < 1000);
	assert_string_equal(buf, "");

	/* Part of a line at the deadline is kept in BUF, and said to be no line. */
	send_all(s, "abc");
	t0 = pscope_now_ms();
	assert_num_equal(pscope_read_line(c, buf, sizeof(buf), &len, 100), -ETIMEDOUT);
	waited = pscope_now_ms() - t0;
	assert_true(waited >= 99);
	assert_true(waited < 1000);
	assert_num_equal(len, 3);
	assert_string_equal(buf, "abc");
	close(c);
	close(s);
}

/*
 * SIZE - 3 bytes before the end of line at most (line.h's rule): a line of
 * that many is read whole, with "\n" or "\r\n" however it arrives; one byte
 * more is too long, the byte that made it so taken and nothing after it.
 */
static void read_line_limit(void **state)
{
	char buf[8];
	size_t len;
	int c, s;

	(void)state;
	connected_pair(&c, &s);
	send_all(s, "abcde\r");
	usleep(20000);
	send_all(s, "\nabcde\nabcdef\n");
	memset(buf, 'x', sizeof(buf));
	assert_num_equal(pscope_read_line(c, buf, sizeof(buf), &len, WAIT_MS), PSCOPE_LINE_CRLF);
	assert_num_equal(len, 7);
	assert_string_equal(buf, "abcde\r\n");
	assert_num_equal(pscope_read_line(c, buf, sizeof(buf), &len, WAIT_MS), PSCOPE_LINE_LF);
	assert_string_equal(buf, "abcde\n");
	assert_num_equal(pscope_read_line(c, buf, sizeof(buf), &len, WAIT_MS), PSCOPE_LINE_TOO_LONG);
	assert_num_equal(len, 6);
	assert_string_equal(buf, "abcdef");
	/* What followed stays: its "\n".  Then a "\r" after five bytes that is not the end of line. */
	send_all(s, "abcde\rx");
	assert_num_equal(pscope_read_line(c, buf, sizeof(buf), &len, WAIT_MS), PSCOPE_LINE_LF);
	assert_string_equal(buf, "\n");
	assert_num_equal(pscope_read_line(c, buf, sizeof(buf), &len, WAIT_MS), PSCOPE_LINE_TOO_LONG);
	assert_num_equal(len, 7);
	assert_string_equal(buf, "abcde\rx");

	/* No room for a line and its end. */
	assert_num_equal(pscope_read_line(c, buf, 2, &len, WAIT_MS), -EINVAL);
	close(c);
	close(s);
}

/* Only this line's bytes are taken: two lines sent together come back one by one. */
static void read_line_stops_at_newline(void **state)
{
	char buf[64];
	size_t len;
	int c, s;

	(void)state;
	connected_pair(&c, &s);
	send_all(s, "one\ntwo\n");
	assert_num_equal(pscope_read_line(c, buf, sizeof(buf), &len, WAIT_MS), PSCOPE_LINE_LF);
	assert_string_equal(buf, "one\n");
	assert_num_equal(pscope_read_line(c, buf, sizeof(buf), &len, WAIT_MS), PSCOPE_LINE_LF);
	assert_string_equal(buf, "two\n");
	close(c);
	close(s);
}

static void read_line_errors(void **state)
{
	char buf[16];
	size_t len;
	int p[2];

	(void)state;
	assert_num_equal(pscope_read_line(-1, buf, sizeof(buf), &len, 100), -EBADF);
	assert_num_equal(pipe(p), 0);
	assert_num_equal(pscope_read_line(p[0], buf, sizeof(buf), &len, 100), -ENOTSOCK);
	close(p[0]);
	close(p[1]);
}

static void now_ms(void **state)
{
	struct timespec ts = { 0, 30 * 1000000 };
	long long t0, t1;

	(void)state;
	t0 = pscope_now_ms();
	assert_true(t0 >= 0);
	nanosleep(&ts, NULL);
	t1 = pscope_now_ms();
	/* Each reading may lose up to a millisecond to truncation. */
	assert_true(t1 - t0 >= 29);
	assert_true(t1 - t0 < 1000);
}

/* The latency histogram connect reports from (here with the timing code it serves). */
static void hist_quantiles(void **state)
{
	struct pscope_hist h = { 0 }, g = { 0 };

	(void)state;
	assert_true(pscope_hist_quantile(&h, 500) == 0);
	/* Below 16 every value has a bucket of its own: quantiles are exact. */
	for (uint64_t v = 1; v <= 10; v++)
		pscope_hist_add(&h, v);
	assert_true(h.count == 10 && h.sum == 55 && h.max == 10);
	assert_true(pscope_hist_quantile(&h, 0) == 1);
	assert_true(pscope_hist_quantile(&h, 100) == 1);
	assert_true(pscope_hist_quantile(&h, 500) == 5);
	assert_true(pscope_hist_quantile(&h, 501) == 6);	/* rounds up: 5.01 samples is the 6th */
	assert_true(pscope_hist_quantile(&h, 900) == 9);
	assert_true(pscope_hist_quantile(&h, 990) == 10);	/* p99 of 10 is the largest */
	assert_true(pscope_hist_quantile(&h, 1000) == 10);
	/* Larger values: the upper edge of the bucket (100 is in 96..103), never past the maximum. */
	pscope_hist_add(&g, 100);
	assert_true(pscope_hist_quantile(&g, 500) == 100);
	pscope_hist_add(&g, 1000);
	assert_true(pscope_hist_quantile(&g, 500) == 103);
	assert_true(pscope_hist_quantile(&g, 1000) == 1000);
	pscope_hist_add(&g, UINT64_C(1) << 40);	/* past 2^33: the last bucket, whose edge is 2^35 - 1 */
	assert_true(pscope_hist_quantile(&g, 1000) >= UINT64_C(1) << 33);
	assert_true(pscope_hist_quantile(&g, 1000) <= UINT64_C(1) << 40);
	pscope_hist_merge(&h, &g);
	assert_true(h.count == 13 && h.max == UINT64_C(1) << 40 && h.sum == 55 + 1100 + (UINT64_C(1) << 40));
	assert_true(pscope_hist_quantile(&h, 500) == 7);
	assert_true(pscope_hist_quantile(&h, 800) == 103);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(socket_flags),
		cmocka_unit_test(listen_ipv4),
		cmocka_unit_test(listen_ipv6),
		cmocka_unit_test(listen_dualstack),
		cmocka_unit_test(listen_errors),
		cmocka_unit_test(listen_reuseport),
		cmocka_unit_test(connect_ipv4),
		cmocka_unit_test(connect_ipv6),
		cmocka_unit_test(connect_no_limit),
		cmocka_unit_test(connect_refused),
		cmocka_unit_test(connect_timeout),
		cmocka_unit_test(connect_bad_fd),
		cmocka_unit_test(read_line_reads_a_line),
		cmocka_unit_test(read_line_eof),
		cmocka_unit_test(read_line_timeout),
		cmocka_unit_test(read_line_limit),
		cmocka_unit_test(read_line_stops_at_newline),
		cmocka_unit_test(read_line_errors),
		cmocka_unit_test(now_ms),
		cmocka_unit_test(hist_quantiles),
		cmocka_unit_test(accept_ipv4),
		cmocka_unit_test(accept_ipv6),
	};

	/* A safety net: the waits have deadlines, but no test may hang the build. */
	alarm(30);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
