/* diagmon: destroy notifications (parsed and live, with the port filter) and exact lookups. */
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "unit.h"

/* A notification as the kernel builds it: header, inet_diag_msg, INET_DIAG_PROTOCOL. */
struct note {
	struct nlmsghdr h;
	struct inet_diag_msg m;
	struct rtattr rta;
	uint8_t proto, pad[3];
};

static void make_note(struct note *n, uint8_t family, uint8_t proto)
{
	memset(n, 0, sizeof(*n));
	n->h.nlmsg_len = sizeof(*n);
	n->h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	n->m.idiag_family = family;
	n->m.idiag_state = TCP_CLOSE;
	n->m.id.idiag_sport = htons(8080);
	n->m.id.idiag_dport = htons(40000);
	n->m.id.idiag_src[0] = htonl(0x7f000001);
	n->m.id.idiag_dst[0] = htonl(0x7f000002);
	n->m.id.idiag_cookie[0] = 0x89abcdef;
	n->m.id.idiag_cookie[1] = 0x01234567;
	n->m.idiag_rqueue = 3;
	n->m.idiag_wqueue = 4;
	n->rta.rta_type = INET_DIAG_PROTOCOL;
	n->rta.rta_len = RTA_LENGTH(1);
	n->proto = proto;
}

static void test_parse(void **state)
{
	struct pscope_diag_sock s;
	struct note n;

	(void)state;
	make_note(&n, AF_INET, IPPROTO_UDP);
	/* The attribute wins over the protocol assumed. */
	assert_rc(pscope_diagmon_parse(&n, sizeof(n), IPPROTO_TCP, &s), 0);
	assert_num_equal(s.proto, IPPROTO_UDP);
	assert_num_equal(s.family, AF_INET);
	assert_num_equal(s.lport, 8080);
	assert_num_equal(s.rport, 40000);
	assert_num_equal(s.laddr[0], 127);
	assert_num_equal(s.raddr[3], 2);
	assert_true(s.cookie == 0x0123456789abcdefull);
	assert_num_equal(s.rqueue, 3);
	assert_num_equal(s.wqueue, 4);
	/* Without the attribute, the protocol assumed. */
	n.h.nlmsg_len = NLMSG_LENGTH(sizeof(n.m));
	assert_rc(pscope_diagmon_parse(&n, n.h.nlmsg_len, IPPROTO_TCP, &s), 0);
	assert_num_equal(s.proto, IPPROTO_TCP);
}

static void test_parse_bad(void **state)
{
	struct pscope_diag_sock s;
	struct note n;

	(void)state;
	make_note(&n, AF_INET6, IPPROTO_TCP);
	assert_rc(pscope_diagmon_parse(&n, 8, IPPROTO_TCP, &s), -PSCOPE_E_NL_TRUNC);
	assert_rc(pscope_diagmon_parse(&n, sizeof(n) - 1, IPPROTO_TCP, &s), -PSCOPE_E_NL_TRUNC);
	n.h.nlmsg_len = NLMSG_LENGTH(sizeof(n.m) - 1);
	assert_rc(pscope_diagmon_parse(&n, sizeof(n), IPPROTO_TCP, &s), -PSCOPE_E_NL_SHORT);
	make_note(&n, AF_INET6, IPPROTO_TCP);
	n.rta.rta_len = 40;	/* past the message */
	assert_rc(pscope_diagmon_parse(&n, sizeof(n), IPPROTO_TCP, &s), -PSCOPE_E_NL_ATTR);
	make_note(&n, AF_INET6, IPPROTO_TCP);
	n.rta.rta_len = RTA_LENGTH(0);	/* a protocol attribute without its byte */
	assert_rc(pscope_diagmon_parse(&n, sizeof(n), IPPROTO_TCP, &s), -PSCOPE_E_NL_ATTR);
	make_note(&n, AF_UNIX, IPPROTO_TCP);
	assert_rc(pscope_diagmon_parse(&n, sizeof(n), IPPROTO_TCP, &s), -PSCOPE_E_NL_FAMILY);
	make_note(&n, AF_INET, 17 + 1);
	assert_rc(pscope_diagmon_parse(&n, sizeof(n), IPPROTO_TCP, &s), -PSCOPE_E_NL_ATTR);
	make_note(&n, AF_INET, IPPROTO_TCP);
	n.h.nlmsg_type = NLMSG_DONE;
	assert_rc(pscope_diagmon_parse(&n, sizeof(n), IPPROTO_TCP, &s), -PSCOPE_E_NL_TYPE);
}

struct got {
	int n;
	struct pscope_diag_sock last;
};

static int keep(const struct pscope_diag_sock *s, void *ctx)
{
	struct got *g = ctx;

	g->n++;
	g->last = *s;
	return 0;
}

/* Reads notifications until one passed the callback or WAIT_MS passed. */
static int read_some(int fd, struct got *g)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int rc = 0;

	for (long long end = pscope_now_ms() + WAIT_MS; g->n == 0 && pscope_now_ms() < end;) {
		if (poll(&p, 1, 100) < 0)
			return -errno;
		rc = pscope_diagmon_read(fd, NULL, keep, g, 0);
		if (rc < 0)
			return rc;
	}
	return rc;
}

/* A listener closed: its notification, with its port; a listener of another port is filtered out in the kernel. */
static void test_live_destroy(void **state)
{
	struct pscope_addr a, b;
	struct got g = { 0 };
	int mon, l1, l2, port;

	(void)state;
	l1 = listen_on("127.0.0.1:0", 0, &a);
	l2 = listen_on("127.0.0.1:0", 0, &b);
	assert_true(l1 >= 0 && l2 >= 0);
	port = pscope_addr_port(&a);
	mon = pscope_diagmon_open(PSCOPE_DIAG_TCP, PSCOPE_DIAG_V4, port, 0, NULL);
	if (mon == -EPERM)
		skip();
	assert_true(mon >= 0);
	/* The other port first: the kernel's filter drops it; then ours. */
	close(l2);
	close(l1);
	assert_true(read_some(mon, &g) >= 0);
	assert_num_equal(g.n, 1);
	assert_num_equal(g.last.lport, port);
	assert_num_equal(g.last.proto, IPPROTO_TCP);
	/* Freed: the kernel closed it (inet_csk_listen_stop) before the notification. */
	assert_num_equal(g.last.state, TCP_CLOSE);
	assert_true(g.last.cookie != 0);
	close(mon);
}

/* An exact lookup finds a live listener by its 4-tuple (and cookie), and not a closed one. */
static void test_lookup(void **state)
{
	struct pscope_diag_filter f = { .port = -1, .protos = PSCOPE_DIAG_TCP };
	struct pscope_diag_sock key = { 0 }, out;
	struct pscope_addr a;
	struct got g = { 0 };
	int fd, l = listen_on("127.0.0.1:0", 0, &a);

	(void)state;
	assert_true(l >= 0);
	f.port = pscope_addr_port(&a);
	f.local_only = true;
	assert_rc(pscope_diag_netlink(&f, keep, &g, -1, NULL), 1);
	fd = pscope_diag_lookup_open();
	assert_true(fd >= 0);
	key = g.last;
	assert_rc(pscope_diag_lookup(fd, &key, &out), 1);
	assert_true(out.cookie == key.cookie);
	assert_num_equal(out.state, TCP_LISTEN);
	assert_num_equal(out.lport, f.port);
	key.cookie = 0; /* any cookie */
	assert_rc(pscope_diag_lookup(fd, &key, &out), 1);
	key.cookie = g.last.cookie + 1000000; /* another socket's: ESTALE */
	assert_rc(pscope_diag_lookup(fd, &key, &out), 0);
	close(l);
	key.cookie = g.last.cookie;
	assert_rc(pscope_diag_lookup(fd, &key, &out), 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_live_destroy),
		cmocka_unit_test(test_lookup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
