/* Unit tests of sock.h: socket descriptions by hand and from real loopback sockets. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include <sys/un.h>
#include <unistd.h>

#include "unit.h"

/* A described socket as the kernel would give it: PEER NULL for a listener. */
static void make_info(struct pscope_sockinfo *si, int fd, int family, int type, int protocol,
		      const char *local, const char *peer)
{
	memset(si, 0, sizeof(*si));
	si->fd = fd;
	si->family = family;
	si->type = type;
	si->protocol = protocol;
	if (local)
		addr_or_fail(local, &si->local);
	else
		si->local_err = -EBADF;
	if (peer)
		addr_or_fail(peer, &si->peer);
	else
		si->peer_err = -ENOTCONN;
}

/* FN must return -ENOSPC for every SIZE up to the text's length, and fit in one more byte.
 * Each buffer is allocated at its exact size so that ASan sees any write past it. */
static void check_fit(int (*fn)(const struct pscope_sockinfo *, char *, size_t),
		      const struct pscope_sockinfo *si, const char *want)
{
	size_t n = strlen(want);
	char *buf;

	for (size_t size = 0; size <= n; size++) {
		buf = malloc(size);
		assert_num_equal(fn(si, buf, size), -ENOSPC);
		if (size > 0)
			assert_true(memchr(buf, '\0', size) != NULL);
		free(buf);
	}
	buf = malloc(n + 1);
	assert_non_null(buf);
	assert_num_equal(fn(si, buf, n + 1), n);
	assert_string_equal(buf, want);
	free(buf);
}

static void repr_connected_ipv4(void **state)
{
	struct pscope_sockinfo si;

	(void)state;
	make_info(&si, 4, AF_INET, SOCK_STREAM, IPPROTO_TCP, "127.0.0.1:8080", "127.0.0.1:39992");
	check_fit(pscope_sock_repr_py, &si,
		  "<socket.socket fd=4, family=AddressFamily.AF_INET, type=SocketKind.SOCK_STREAM, "
		  "proto=0, laddr=('127.0.0.1', 8080), raddr=('127.0.0.1', 39992)>");
}

static void repr_listener_has_no_raddr(void **state)
{
	struct pscope_sockinfo si;

	(void)state;
	make_info(&si, 3, AF_INET, SOCK_STREAM, IPPROTO_TCP, "0.0.0.0:8080", NULL);
	check_fit(pscope_sock_repr_py, &si,
		  "<socket.socket fd=3, family=AddressFamily.AF_INET, type=SocketKind.SOCK_STREAM, "
		  "proto=0, laddr=('0.0.0.0', 8080)>");

	/* Without a local address either, as for a socket whose getsockname failed. */
	make_info(&si, 3, AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, NULL);
	check_fit(pscope_sock_repr_py, &si,
		  "<socket.socket fd=3, family=AddressFamily.AF_INET, type=SocketKind.SOCK_STREAM, "
		  "proto=0>");
}

static void repr_ipv6(void **state)
{
	struct pscope_sockinfo si;

	(void)state;
	make_info(&si, 7, AF_INET6, SOCK_STREAM, IPPROTO_TCP, "[::1]:8080", "[::1]:39992");
	check_fit(pscope_sock_repr_py, &si,
		  "<socket.socket fd=7, family=AddressFamily.AF_INET6, type=SocketKind.SOCK_STREAM, "
		  "proto=0, laddr=('::1', 8080, 0, 0), raddr=('::1', 39992, 0, 0)>");

	make_info(&si, 7, AF_INET6, SOCK_STREAM, IPPROTO_TCP, "[::ffff:127.0.0.1]:8080", NULL);
	check_fit(pscope_sock_repr_py, &si,
		  "<socket.socket fd=7, family=AddressFamily.AF_INET6, type=SocketKind.SOCK_STREAM, "
		  "proto=0, laddr=('::ffff:127.0.0.1', 8080, 0, 0)>");
}

static void repr_udp(void **state)
{
	struct pscope_sockinfo si;

	(void)state;
	make_info(&si, 5, AF_INET, SOCK_DGRAM, IPPROTO_UDP, "127.0.0.1:53", NULL);
	check_fit(pscope_sock_repr_py, &si,
		  "<socket.socket fd=5, family=AddressFamily.AF_INET, type=SocketKind.SOCK_DGRAM, "
		  "proto=0, laddr=('127.0.0.1', 53)>");
}

static void repr_unknown_family_and_type(void **state)
{
	struct pscope_sockinfo si;

	(void)state;
	memset(&si, 0, sizeof(si));
	si.fd = 9;
	si.family = 99;
	si.type = 42;
	si.local_err = -EOPNOTSUPP;
	si.peer_err = -EOPNOTSUPP;
	check_fit(pscope_sock_repr_py, &si, "<socket.socket fd=9, family=99, type=42, proto=0>");

	si.protocol = 5;
	check_fit(pscope_sock_repr_py, &si, "<socket.socket fd=9, family=99, type=42, proto=5>");

	/* An address the kernel gave without error but of a family with no tuple is left out. */
	si.family = AF_UNIX;
	si.type = SOCK_SEQPACKET;
	si.protocol = 0;
	si.local_err = 0;
	si.local.len = sizeof(sa_family_t);
	si.local.u.sa.sa_family = AF_UNIX;
	check_fit(pscope_sock_repr_py, &si,
		  "<socket.socket fd=9, family=AddressFamily.AF_UNIX, "
		  "type=SocketKind.SOCK_SEQPACKET, proto=0>");
}

/* proto is 0 only for the family and type's default protocol, as socket.socket() makes it. */
static void repr_protocol(void **state)
{
	struct pscope_sockinfo si;

	(void)state;
	make_info(&si, 4, AF_INET, SOCK_STREAM, IPPROTO_SCTP, "127.0.0.1:8080", NULL);
	check_fit(pscope_sock_repr_py, &si,
		  "<socket.socket fd=4, family=AddressFamily.AF_INET, type=SocketKind.SOCK_STREAM, "
		  "proto=132, laddr=('127.0.0.1', 8080)>");

	make_info(&si, 4, AF_INET, SOCK_RAW, IPPROTO_ICMP, NULL, NULL);
	check_fit(pscope_sock_repr_py, &si,
		  "<socket.socket fd=4, family=AddressFamily.AF_INET, type=SocketKind.SOCK_RAW, "
		  "proto=1>");

	/* TCP's number on a datagram socket is not the default. */
	make_info(&si, 4, AF_INET6, SOCK_DGRAM, IPPROTO_TCP, NULL, NULL);
	check_fit(pscope_sock_repr_py, &si,
		  "<socket.socket fd=4, family=AddressFamily.AF_INET6, type=SocketKind.SOCK_DGRAM, "
		  "proto=6>");
	make_info(&si, 4, AF_INET6, SOCK_DGRAM, 0, NULL, NULL);
	check_fit(pscope_sock_repr_py, &si,
		  "<socket.socket fd=4, family=AddressFamily.AF_INET6, type=SocketKind.SOCK_DGRAM, "
		  "proto=0>");
}

static void json_connected(void **state)
{
	struct pscope_sockinfo si;

	(void)state;
	make_info(&si, 4, AF_INET, SOCK_STREAM, IPPROTO_TCP, "127.0.0.1:8080", "127.0.0.1:39992");
	check_fit(pscope_sock_json, &si,
		  "{\"fd\":4,\"family\":\"AF_INET\",\"type\":\"SOCK_STREAM\",\"proto\":6,"
		  "\"laddr\":\"127.0.0.1:8080\",\"raddr\":\"127.0.0.1:39992\"}");

	make_info(&si, 4, AF_INET6, SOCK_STREAM, IPPROTO_TCP, "[fe80::1%lo]:80", "[::1]:39992");
	check_fit(pscope_sock_json, &si,
		  "{\"fd\":4,\"family\":\"AF_INET6\",\"type\":\"SOCK_STREAM\",\"proto\":6,"
		  "\"laddr\":\"[fe80::1%lo]:80\",\"raddr\":\"[::1]:39992\"}");
}

static void json_missing_addresses(void **state)
{
	struct pscope_sockinfo si;

	(void)state;
	make_info(&si, 3, AF_INET, SOCK_STREAM, IPPROTO_TCP, "127.0.0.1:8080", NULL);
	check_fit(pscope_sock_json, &si,
		  "{\"fd\":3,\"family\":\"AF_INET\",\"type\":\"SOCK_STREAM\",\"proto\":6,"
		  "\"laddr\":\"127.0.0.1:8080\",\"raddr\":null,\"raddr_error\":\"ENOTCONN\"}");

	make_info(&si, 3, AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, NULL);
	check_fit(pscope_sock_json, &si,
		  "{\"fd\":3,\"family\":\"AF_INET\",\"type\":\"SOCK_STREAM\",\"proto\":6,"
		  "\"laddr\":null,\"laddr_error\":\"EBADF\","
		  "\"raddr\":null,\"raddr_error\":\"ENOTCONN\"}");
}

static void json_unknown_family_and_type(void **state)
{
	struct pscope_sockinfo si;

	(void)state;
	memset(&si, 0, sizeof(si));
	si.fd = 9;
	si.family = 99;
	si.type = 42;
	si.protocol = 5;
	si.local_err = -EOPNOTSUPP;
	si.peer_err = -ENOTCONN;
	check_fit(pscope_sock_json, &si,
		  "{\"fd\":9,\"family\":99,\"type\":42,\"proto\":5,"
		  "\"laddr\":null,\"laddr_error\":\"EOPNOTSUPP\","
		  "\"raddr\":null,\"raddr_error\":\"ENOTCONN\"}");

	/* An address of a family with no text form is null, with the reason. */
	si.family = AF_UNIX;
	si.type = SOCK_DGRAM;
	si.protocol = 0;
	si.local_err = 0;
	si.local.len = sizeof(sa_family_t);
	si.local.u.sa.sa_family = AF_UNIX;
	check_fit(pscope_sock_json, &si,
		  "{\"fd\":9,\"family\":\"AF_UNIX\",\"type\":\"SOCK_DGRAM\",\"proto\":0,"
		  "\"laddr\":null,\"laddr_error\":\"EAFNOSUPPORT\","
		  "\"raddr\":null,\"raddr_error\":\"ENOTCONN\"}");
}

static void names(void **state)
{
	(void)state;
	assert_string_equal(pscope_family_name(AF_INET), "AF_INET");
	assert_string_equal(pscope_family_name(AF_INET6), "AF_INET6");
	assert_string_equal(pscope_family_name(AF_UNIX), "AF_UNIX");
	assert_null(pscope_family_name(AF_UNSPEC));
	assert_null(pscope_family_name(99));

	assert_string_equal(pscope_socktype_name(SOCK_STREAM), "SOCK_STREAM");
	assert_string_equal(pscope_socktype_name(SOCK_DGRAM), "SOCK_DGRAM");
	assert_string_equal(pscope_socktype_name(SOCK_RAW), "SOCK_RAW");
	assert_string_equal(pscope_socktype_name(SOCK_SEQPACKET), "SOCK_SEQPACKET");
	assert_null(pscope_socktype_name(42));

	assert_string_equal(pscope_proto_name(SOCK_STREAM), "tcp");
	assert_string_equal(pscope_proto_name(SOCK_DGRAM), "udp");
	assert_null(pscope_proto_name(SOCK_RAW));

	assert_string_equal(pscope_errno_name(-ENOTCONN), "ENOTCONN");
	assert_string_equal(pscope_errno_name(ENOTCONN), "ENOTCONN");
	assert_string_equal(pscope_errno_name(-ECONNREFUSED), "ECONNREFUSED");
	assert_string_equal(pscope_errno_name(99999), "E?");
}

static void describe_listener(void **state)
{
	struct pscope_sockinfo si;
	struct pscope_addr bound;
	char text[PSCOPE_ADDRSTRLEN], want[256], got[256];
	int fd;

	(void)state;
	fd = listen_or_skip("127.0.0.1:0", 0, &bound);
	assert_num_equal(pscope_sock_describe(fd, &si), 0);
	assert_num_equal(si.fd, fd);
	assert_num_equal(si.family, AF_INET);
	assert_num_equal(si.type, SOCK_STREAM);
	assert_num_equal(si.protocol, IPPROTO_TCP);
	assert_num_equal(si.local_err, 0);
	assert_num_equal(si.peer_err, -ENOTCONN);
	assert_true(pscope_addr_port(&si.local) > 0);
	assert_true(pscope_addr_same(&si.local, &bound));
	pscope_addr_host(&si.local, text, sizeof(text));
	assert_string_equal(text, "127.0.0.1");

	snprintf(want, sizeof(want),
		 "<socket.socket fd=%d, family=AddressFamily.AF_INET, type=SocketKind.SOCK_STREAM, "
		 "proto=0, laddr=('127.0.0.1', %d)>", fd, pscope_addr_port(&bound));
	assert_num_equal(pscope_sock_repr_py(&si, got, sizeof(got)), strlen(want));
	assert_string_equal(got, want);
	close(fd);
}

static void describe_listener_ipv6(void **state)
{
	struct pscope_sockinfo si;
	struct pscope_addr bound;
	char want[256], got[256];
	int fd;

	(void)state;
	fd = listen_or_skip("[::1]:0", 0, &bound);
	assert_num_equal(pscope_sock_describe(fd, &si), 0);
	assert_num_equal(si.family, AF_INET6);
	assert_num_equal(si.peer_err, -ENOTCONN);
	snprintf(want, sizeof(want),
		 "<socket.socket fd=%d, family=AddressFamily.AF_INET6, type=SocketKind.SOCK_STREAM, "
		 "proto=0, laddr=('::1', %d, 0, 0)>", fd, pscope_addr_port(&bound));
	assert_num_equal(pscope_sock_repr_py(&si, got, sizeof(got)), strlen(want));
	assert_string_equal(got, want);
	close(fd);
}

static void describe_unbound(void **state)
{
	struct pscope_sockinfo si;
	char text[PSCOPE_ADDRSTRLEN];
	int fd;

	(void)state;
	fd = pscope_socket(AF_INET, SOCK_STREAM);
	assert_true(fd >= 0);
	assert_num_equal(pscope_sock_describe(fd, &si), 0);
	assert_num_equal(si.local_err, 0);
	assert_num_equal(pscope_addr_format(&si.local, text, sizeof(text)), 9);
	assert_string_equal(text, "0.0.0.0:0");
	assert_num_equal(si.peer_err, -ENOTCONN);
	close(fd);

	fd = pscope_socket(AF_INET, SOCK_DGRAM);
	assert_true(fd >= 0);
	assert_num_equal(pscope_sock_describe(fd, &si), 0);
	assert_num_equal(si.type, SOCK_DGRAM);
	assert_num_equal(si.protocol, IPPROTO_UDP);
	assert_num_equal(si.peer_err, -ENOTCONN);
	close(fd);
}

static void describe_accepted_pair(void **state)
{
	struct pscope_sockinfo lsi, csi, asi;
	struct pscope_addr bound;
	int lfd, cfd, afd;

	(void)state;
	lfd = listen_or_skip("127.0.0.1:0", 0, &bound);
	cfd = connect_or_fail(&bound);
	afd = accept_or_fail(lfd);

	assert_num_equal(pscope_sock_describe(lfd, &lsi), 0);
	assert_num_equal(pscope_sock_describe(cfd, &csi), 0);
	assert_num_equal(pscope_sock_describe(afd, &asi), 0);
	assert_num_equal(csi.peer_err, 0);
	assert_num_equal(asi.local_err, 0);
	assert_num_equal(asi.peer_err, 0);

	/* The accepted socket shares the listener's address; its peer is the client. */
	assert_true(pscope_addr_same(&asi.local, &lsi.local));
	assert_true(pscope_addr_same(&asi.peer, &csi.local));
	assert_true(pscope_addr_same(&csi.peer, &lsi.local));
	assert_false(pscope_addr_same(&asi.peer, &asi.local));
	close(afd);
	close(cfd);
	close(lfd);
}

static void local_and_peer(void **state)
{
	struct pscope_addr bound, a, b;
	int lfd, cfd, afd, p[2];

	(void)state;
	lfd = listen_or_skip("127.0.0.1:0", 0, &bound);
	cfd = connect_or_fail(&bound);
	afd = accept_or_fail(lfd);

	assert_rc(pscope_sock_local(lfd, &a), 0);
	assert_true(pscope_addr_same(&a, &bound));
	assert_rc(pscope_sock_peer(lfd, &a), -ENOTCONN);
	/* Both ends see one 4-tuple, each from its own side. */
	assert_rc(pscope_sock_local(cfd, &a), 0);
	assert_rc(pscope_sock_peer(afd, &b), 0);
	assert_true(pscope_addr_same(&a, &b));
	assert_rc(pscope_sock_local(afd, &a), 0);
	assert_rc(pscope_sock_peer(cfd, &b), 0);
	assert_true(pscope_addr_same(&a, &b));
	assert_true(pscope_addr_same(&a, &bound));

	assert_rc(pscope_sock_local(-1, &a), -EBADF);
	assert_num_equal(pipe(p), 0);
	assert_rc(pscope_sock_peer(p[0], &a), -ENOTSOCK);
	close(p[0]);
	close(p[1]);
	close(afd);
	close(cfd);
	close(lfd);
}

/*
 * The TCP state as the kernel keeps it: a peer's FIN leaves CLOSE_WAIT, its
 * reset CLOSE, after the reset's error has been read (tcp_reset(), tcp(7)).
 */
static void tcp_state_fin_and_reset(void **state)
{
	struct linger reset = { .l_onoff = 1, .l_linger = 0 };
	struct pscope_addr bound;
	char byte;
	int lfd, cfd, afd, ufd, p[2];

	(void)state;
	lfd = listen_or_skip("127.0.0.1:0", 0, &bound);
	assert_num_equal(pscope_sock_tcp_state(lfd), TCP_LISTEN);
	cfd = connect_or_fail(&bound);
	afd = accept_or_fail(lfd);
	assert_num_equal(pscope_sock_tcp_state(cfd), TCP_ESTABLISHED);
	close(afd);
	assert_num_equal(recv(cfd, &byte, 1, 0), 0);
	assert_num_equal(pscope_sock_tcp_state(cfd), TCP_CLOSE_WAIT);
	close(cfd);

	cfd = connect_or_fail(&bound);
	afd = accept_or_fail(lfd);
	assert_num_equal(setsockopt(afd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)), 0);
	close(afd);
	/* The error is told once; the state stays. */
	assert_num_equal(recv(cfd, &byte, 1, 0), -1);
	assert_num_equal(errno, ECONNRESET);
	assert_num_equal(recv(cfd, &byte, 1, 0), 0);
	assert_num_equal(pscope_sock_tcp_state(cfd), TCP_CLOSE);
	close(cfd);
	close(lfd);

	ufd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_num_equal(pscope_sock_tcp_state(ufd), -EOPNOTSUPP);
	close(ufd);
	assert_num_equal(pipe(p), 0);
	assert_num_equal(pscope_sock_tcp_state(p[0]), -ENOTSOCK);
	close(p[0]);
	close(p[1]);
	assert_num_equal(pscope_sock_tcp_state(-1), -EBADF);
}

static void describe_not_a_socket(void **state)
{
	struct pscope_sockinfo si;
	int p[2];

	(void)state;
	assert_num_equal(pscope_sock_describe(-1, &si), -EBADF);
	assert_num_equal(pscope_sock_describe(1000000, &si), -EBADF);

	assert_num_equal(pipe(p), 0);
	assert_num_equal(pscope_sock_describe(p[0], &si), -ENOTSOCK);
	close(p[0]);
	close(p[1]);
	/* A descriptor just closed is bad too. */
	assert_num_equal(pscope_sock_describe(p[0], &si), -EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(repr_connected_ipv4),
		cmocka_unit_test(repr_listener_has_no_raddr),
		cmocka_unit_test(repr_ipv6),
		cmocka_unit_test(repr_udp),
		cmocka_unit_test(repr_unknown_family_and_type),
		cmocka_unit_test(repr_protocol),
		cmocka_unit_test(json_connected),
		cmocka_unit_test(json_missing_addresses),
		cmocka_unit_test(json_unknown_family_and_type),
		cmocka_unit_test(names),
		cmocka_unit_test(describe_listener),
		cmocka_unit_test(describe_listener_ipv6),
		cmocka_unit_test(describe_unbound),
		cmocka_unit_test(describe_accepted_pair),
		cmocka_unit_test(describe_not_a_socket),
		cmocka_unit_test(tcp_state_fin_and_reset),
		cmocka_unit_test(local_and_peer),
	};

	/* A safety net: the waits have deadlines, but no test may hang the build. */
	alarm(30);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
