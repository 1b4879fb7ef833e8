/*
 * Unit tests of diag.h's /proc/net half: single lines (good, IPv6 word order,
 * malformed), and whole roots in tests/data/proc/ (recorded while the sockets
 * of tests/data/netlink/ls-basic.nldump were open, so both must list the same ones).
 * Run from the repository root: the data paths are relative to it.
 */
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "unit.h"

#define PROC "tests/data/proc/"
#define MAX_SOCKS 64


struct collected {
	struct pscope_diag_sock s[MAX_SOCKS];
	size_t n;
	int stop_after;		/* return -1 on this socket (1-based); 0: never */
};

static int collect(const struct pscope_diag_sock *s, void *ctx)
{
	struct collected *c = ctx;

	assert_non_null(s); /* /proc is read once: there is no restart */
	if (c->n == MAX_SOCKS)
		fail_msg("more than %d sockets", MAX_SOCKS);
	c->s[c->n++] = *s;
	return c->stop_after && c->n == (size_t)c->stop_after ? -1 : 0;
}

static int proc_root(const char *root, const struct pscope_diag_filter *f, struct collected *c,
		     struct pscope_diag_stats *st)
{
	memset(c, 0, sizeof(*c));
	return pscope_diag_proc(root, f, collect, c, st);
}

static const struct pscope_diag_filter any = { .port = -1 };

/* Parses LINE (a C string) into S, copied first to a buffer of exactly its length for ASan. */
static int parse(const char *line, int family, int proto, struct pscope_diag_sock *s)
{
	size_t len = strlen(line);
	char *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, line, len);
	rc = pscope_diag_proc_line(copy, len, family, proto, s);
	free(copy);
	return rc;
}

/* The address at the local (or remote) end of S as "host", e.g. "::1". */
static const char *host_of(const struct pscope_diag_sock *s, bool local, char *buf, size_t size)
{
	struct pscope_addr a;

	if (local)
		pscope_diag_local(s, &a);
	else
		pscope_diag_peer(s, &a);
	assert_true(pscope_addr_host(&a, buf, size) > 0);
	return buf;
}

#define TCP4_LISTEN \
	"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 " \
	"12345 1 0000000000000000 100 0 0 10 0                     \n"
#define TCP4_EST \
	"   3: 0100007F:C350 0202000A:0050 01 00000010:00000020 02:000002D2 00000000     0        0 " \
	"987654321 2 0000000000000000 20 4 30 10 -1\n"
#define HEADER4 \
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
#define HEADER6 \
	"  sl  local_address                         remote_address                        st tx_queue " \
	"rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

static void test_line_good(void **state)
{
	struct pscope_diag_sock s;
	char buf[PSCOPE_ADDRSTRLEN];

	(void)state;
	assert_rc(parse(TCP4_LISTEN, AF_INET, IPPROTO_TCP, &s), 1);
	assert_num_equal(s.family, AF_INET);
	assert_num_equal(s.proto, IPPROTO_TCP);
	assert_num_equal(s.state, TCP_LISTEN);
	assert_num_equal(s.lport, 8080);
	assert_num_equal(s.rport, 0);
	assert_string_equal(host_of(&s, true, buf, sizeof(buf)), "127.0.0.1");
	assert_string_equal(host_of(&s, false, buf, sizeof(buf)), "0.0.0.0");
	assert_num_equal(s.uid, 1000);
	assert_num_equal(s.inode, 12345);
	assert_num_equal(s.cookie, 0);

	assert_rc(parse(TCP4_EST, AF_INET, IPPROTO_TCP, &s), 1);
	assert_num_equal(s.state, TCP_ESTABLISHED);
	assert_num_equal(s.lport, 50000);
	assert_num_equal(s.rport, 80);
	assert_string_equal(host_of(&s, false, buf, sizeof(buf)), "10.0.2.2");
	assert_num_equal(s.wqueue, 0x10);
	assert_num_equal(s.rqueue, 0x20);
	assert_num_equal(s.inode, 987654321);

	/* Without its newline, a line is just as good to this function. */
	assert_rc(parse("   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000"
			"  1000        0 12345", AF_INET, IPPROTO_UDP, &s), 1);
	assert_num_equal(s.proto, IPPROTO_UDP);
	assert_num_equal(s.inode, 12345);
	/* Lower-case hex, as another kernel might print it. */
	assert_rc(parse("0: 0100007f:1f90 00000000:0000 0a 00000000:00000000 00:00000000 00000000 0 0 1\n",
			AF_INET, IPPROTO_TCP, &s), 1);
	assert_num_equal(s.lport, 8080);
}

static void test_line_header(void **state)
{
	struct pscope_diag_sock s;

	(void)state;
	assert_rc(parse(HEADER4, AF_INET, IPPROTO_TCP, &s), 0);
	assert_rc(parse(HEADER6, AF_INET6, IPPROTO_TCP, &s), 0);
	assert_rc(parse("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   "
			"uid  timeout inode ref pointer drops\n", AF_INET, IPPROTO_UDP, &s), 0);
}

/*
 * The kernel prints each 32-bit word of an IPv6 address as a host-order
 * integer: on little-endian ::1 is 00000000000000000000000001000000.
 */
static void test_line_ipv6_word_order(void **state)
{
	static const struct {
		const char *hex, *text;
	} cases[] = {
		{ "00000000000000000000000001000000", "::1" },
		{ "00000000000000000000000000000000", "::" },
		{ "0000000000000000FFFF00000100007F", "::ffff:127.0.0.1" },
		{ "B80D0120000000000000000001000000", "2001:db8::1" },
		{ "B80D01200000A3852E8A000034737003", "2001:db8:85a3::8a2e:370:7334" },
		{ "000080FE00000000FF2B00020D0C0BFE", "fe80::200:2bff:fe0b:c0d" },
	};
	struct pscope_diag_sock s;
	char line[512], buf[PSCOPE_ADDRSTRLEN];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(line, sizeof(line),
			 "   1: %s:0050 %s:D431 01 00000000:00000000 00:00000000 00000000     0        0 "
			 "4242 1 0000000000000000 20 4 30 10 -1\n", cases[i].hex, cases[i].hex);
		assert_rc(parse(line, AF_INET6, IPPROTO_TCP, &s), 1);
		assert_num_equal(s.family, AF_INET6);
		assert_string_equal(host_of(&s, true, buf, sizeof(buf)), cases[i].text);
		assert_string_equal(host_of(&s, false, buf, sizeof(buf)), cases[i].text);
		assert_num_equal(s.lport, 80);
		assert_num_equal(s.rport, 54321);
	}
}

/* Each line must be refused with -PSCOPE_E_PROC_LINE by both families' parsers where it applies. */
static void test_line_bad(void **state)
{
	static const char *const bad4[] = {
		"",
		"\n",
		"   \n",
		"garbage\n",
		"   0 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n",
		"   0: 0100007G:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n",
		"   0: 0100007F:1F9 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n",
		"   0: 0100007F1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n",
		"   0: 100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n",
		"   0: 0100007F:1F90x 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n",
		"   0: 0100007F:1F90 00000000:0000 00 00000000:00000000 00:00000000 00000000 0 0 1\n",
		"   0: 0100007F:1F90 00000000:0000 0D 00000000:00000000 00:00000000 00000000 0 0 1\n",
		"   0: 0100007F:1F90 00000000:0000 FF 00000000:00000000 00:00000000 00000000 0 0 1\n",
		"   0: 0100007F:1F90 00000000:0000 0A 00000000-00000000 00:00000000 00000000 0 0 1\n",
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0\n",
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 \n",
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 x1\n",
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1x\n",
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 -1 0 1\n",
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 4294967296 0 1\n",
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 "
		"123456789012345678901\n",
		"   0:\t0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n",
		"   0: 00000000000000000000000001000000:1F90 00000000:0000 0A 00000000:00000000 "
		"00:00000000 00000000 0 0 1\n",
	};
	static const char *const bad6[] = {
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n",
		"   0: 0000000000000000000000000100000:1F90 00000000000000000000000000000000:0000 0A "
		"00000000:00000000 00:00000000 00000000 0 0 1\n",
		"   0: 0000000000000000000000000G000000:1F90 00000000000000000000000000000000:0000 0A "
		"00000000:00000000 00:00000000 00000000 0 0 1\n",
		"   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A "
		"00000000:00000000 00:00000000 00000000 0 0\n",
	};
	struct pscope_diag_sock s;

	(void)state;
	for (size_t i = 0; i < sizeof(bad4) / sizeof(bad4[0]); i++)
		if (parse(bad4[i], AF_INET, IPPROTO_TCP, &s) != -PSCOPE_E_PROC_LINE)
			fail_msg("IPv4 line %zu accepted: \"%s\"", i, bad4[i]);
	for (size_t i = 0; i < sizeof(bad6) / sizeof(bad6[0]); i++)
		if (parse(bad6[i], AF_INET6, IPPROTO_UDP, &s) != -PSCOPE_E_PROC_LINE)
			fail_msg("IPv6 line %zu accepted: \"%s\"", i, bad6[i]);
}

/* Every state from 01 to 0C is one the kernel may print. */
static void test_line_states(void **state)
{
	struct pscope_diag_sock s;
	char line[256];

	(void)state;
	for (int st = 1; st <= 12; st++) {
		snprintf(line, sizeof(line),
			 "0: 0100007F:1F90 00000000:0000 %02X 00000000:00000000 00:00000000 00000000 0 0 1\n",
			 st);
		assert_rc(parse(line, AF_INET, IPPROTO_TCP, &s), 1);
		assert_num_equal(s.state, st);
	}
}

/* A line cut short anywhere before its inode is refused, with or without a newline after the cut. */
static void test_line_every_prefix(void **state)
{
	const char *line = TCP4_EST;
	const char *inode = strstr(line, "987654321");
	struct pscope_diag_sock s;
	char cut[256];

	(void)state;
	for (size_t n = 0; line + n < inode; n++) {
		assert_rc(pscope_diag_proc_line(line, n, AF_INET, IPPROTO_TCP, &s), -PSCOPE_E_PROC_LINE);
		memcpy(cut, line, n);
		cut[n] = '\n';
		assert_rc(pscope_diag_proc_line(cut, n + 1, AF_INET, IPPROTO_TCP, &s), -PSCOPE_E_PROC_LINE);
	}
}

/* 512 bytes with the newline is the longest line; one more byte is too long. */
static void test_line_length(void **state)
{
	char line[1024];
	struct pscope_diag_sock s;
	size_t base = strlen(TCP4_LISTEN) - 1; /* without its newline */

	(void)state;
	memcpy(line, TCP4_LISTEN, base);
	memset(line + base, ' ', sizeof(line) - base);
	line[511] = '\n';
	assert_rc(pscope_diag_proc_line(line, 512, AF_INET, IPPROTO_TCP, &s), 1);
	assert_num_equal(s.inode, 12345);
	line[511] = ' ';
	line[512] = '\n';
	assert_rc(pscope_diag_proc_line(line, 513, AF_INET, IPPROTO_TCP, &s), -PSCOPE_E_PROC_LINE);
	assert_rc(pscope_diag_proc_line(line, 600, AF_INET, IPPROTO_TCP, &s), -PSCOPE_E_PROC_LINE);
}

/* The recorded root: 11 sockets on one port, as in tests/data/netlink/ls-basic.nldump. */
static void test_proc_good(void **state)
{
	struct collected c;
	struct pscope_diag_stats st;
	unsigned tcp4 = 0, tcp6 = 0, udp4 = 0, udp6 = 0, listen = 0, unconn = 0;
	char buf[PSCOPE_ADDRSTRLEN];

	(void)state;
	assert_rc(proc_root(PROC "good", &any, &c, &st), 11);
	assert_num_equal(st.skipped_protos, 0);
	assert_num_equal(st.messages, 11 + 4); /* and four header lines */
	assert_num_equal(st.restarts, 0);
	for (size_t i = 0; i < c.n; i++) {
		const struct pscope_diag_sock *s = &c.s[i];
		bool v6 = s->family == AF_INET6;

		assert_true(s->inode != 0);
		assert_num_equal(s->side, PSCOPE_SIDE_ANY);
		if (s->proto == IPPROTO_TCP)
			*(v6 ? &tcp6 : &tcp4) += 1;
		else
			*(v6 ? &udp6 : &udp4) += 1;
		listen += s->state == TCP_LISTEN;
		unconn += s->proto == IPPROTO_UDP && !strcmp(pscope_diag_state_name(s), "UNCONN");
		host_of(s, true, buf, sizeof(buf));
		if (v6)
			assert_true(!strcmp(buf, "::1") || !strcmp(buf, "::ffff:127.0.0.1"));
		else
			assert_string_equal(buf, "127.0.0.1");
		for (size_t j = i + 1; j < c.n; j++)
			assert_true(s->inode != c.s[j].inode);
	}
	assert_num_equal(tcp4, 6);
	assert_num_equal(tcp6, 2);
	assert_num_equal(udp4, 2);
	assert_num_equal(udp6, 1);
	assert_num_equal(listen, 2);
	assert_num_equal(unconn, 2);
}

static int listener_port(void)
{
	struct collected c;
	struct pscope_diag_filter f = { .port = -1, .states = 1u << TCP_LISTEN,
					.families = PSCOPE_DIAG_V4 };

	assert_rc(proc_root(PROC "good", &f, &c, NULL), 1);
	return c.s[0].lport;
}

static void test_proc_filters(void **state)
{
	struct collected c;
	int port = listener_port();
	struct pscope_diag_filter f = { .port = port };
	unsigned local = 0, remote = 0;

	(void)state;
	assert_rc(proc_root(PROC "good", &f, &c, NULL), 11);
	for (size_t i = 0; i < c.n; i++) {
		local += c.s[i].side == PSCOPE_SIDE_LOCAL;
		remote += c.s[i].side == PSCOPE_SIDE_REMOTE;
	}
	assert_num_equal(local, 7);
	assert_num_equal(remote, 4);
	f.local_only = true;
	assert_rc(proc_root(PROC "good", &f, &c, NULL), 7);
	f = (struct pscope_diag_filter){ .port = port, .families = PSCOPE_DIAG_V6 };
	assert_rc(proc_root(PROC "good", &f, &c, NULL), 3);
	f = (struct pscope_diag_filter){ .port = port, .protos = PSCOPE_DIAG_UDP };
	assert_rc(proc_root(PROC "good", &f, &c, NULL), 3);
	f = (struct pscope_diag_filter){ .port = port, .has_addr = true };
	addr_or_fail("[::1]:0", &f.addr);
	assert_rc(proc_root(PROC "good", &f, &c, NULL), 2);
	addr_or_fail("127.0.0.1:0", &f.addr);
	assert_rc(proc_root(PROC "good", &f, &c, NULL), 9);
	f = (struct pscope_diag_filter){ .port = 1 };
	assert_rc(proc_root(PROC "good", &f, &c, NULL), 0);
}

/* The /proc samples were taken with the netlink recording's sockets open: the same sockets. */
static int replay_cb(const struct pscope_diag_sock *s, void *ctx)
{
	return s ? collect(s, ctx) : 0;
}

static void test_proc_matches_netlink(void **state)
{
	struct collected p, n;
	struct stat st;
	uint8_t *buf;
	int fd = open("tests/data/netlink/ls-basic.nldump", O_RDONLY | O_CLOEXEC);

	(void)state;
	assert_true(fd >= 0 && fstat(fd, &st) == 0);
	buf = malloc((size_t)st.st_size);
	assert_non_null(buf);
	assert_num_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	memset(&n, 0, sizeof(n));
	assert_rc(pscope_diag_replay(buf, (size_t)st.st_size, &any, replay_cb, &n, NULL), 11);
	free(buf);
	assert_rc(proc_root(PROC "good", &any, &p, NULL), 11);
	for (size_t i = 0; i < p.n; i++) {
		const struct pscope_diag_sock *a = &p.s[i];
		size_t j;

		for (j = 0; j < n.n && n.s[j].inode != a->inode; j++)
			;
		if (j == n.n)
			fail_msg("inode %llu from /proc is not in the netlink dump",
				 (unsigned long long)a->inode);
		assert_num_equal(a->family, n.s[j].family);
		assert_num_equal(a->proto, n.s[j].proto);
		assert_num_equal(a->state, n.s[j].state);
		assert_num_equal(a->lport, n.s[j].lport);
		assert_num_equal(a->rport, n.s[j].rport);
		assert_memory_equal(a->laddr, n.s[j].laddr, 16);
		assert_memory_equal(a->raddr, n.s[j].raddr, 16);
		assert_num_equal(a->uid, n.s[j].uid);
	}
}

/*
 * Lines of tests/data/proc/states/tcp (tests/tools/states.py's sockets): a
 * listener, a TIME_WAIT and a FIN_WAIT2 minisocket (timer 3), a request in the
 * SYN queue (SYN_RECV, reference count 0), a connection in the accept queue
 * (inode 0) and an accepted one.
 */
#define ST_LISTEN "   0: 0100007F:9F3B 00000000:0000 0A 00000000:00000003 00:00000000 00000000     0        0 " \
	"30898990 5 00000000d1a26b98 100 0 0 10 0\n"
#define ST_TIME_WAIT "   3: 0100007F:9F3B 0100007F:B1CE 06 00000000:00000000 03:00001766 00000000     0        0 " \
	"0 3 000000006bcf8118\n"
#define ST_FIN_WAIT2 "  17: 0100007F:9F3B 0100007F:B1C0 05 00000000:00000000 03:00001766 00000000     0        0 " \
	"0 3 0000000042199ec4\n"
#define ST_REQUEST "  19: 0100007F:9F3B 0100007F:9059 03 00000000:00000000 01:0000005E 00000000     0        0 " \
	"0 0 00000000d22db2e8\n"
#define ST_QUEUED "   6: 0100007F:9F3B 0100007F:B220 08 00000000:00000001 00:00000000 00000000     0        0 " \
	"0 1 000000006aa49bac 20 4 0 10 -1\n"
#define ST_ACCEPTED "   7: 0100007F:9F3B 0100007F:B1B8 01 00000000:00000000 00:00000000 00000000     0        0 " \
	"30898992 1 000000006c24ef49 20 0 0 10 -1\n"
#define NEVER (PSCOPE_DIAG_NO_COOKIE | PSCOPE_DIAG_NO_IFINDEX)
#define MINI (PSCOPE_DIAG_NO_RQUEUE | PSCOPE_DIAG_NO_WQUEUE | PSCOPE_DIAG_NO_UID | PSCOPE_DIAG_NO_INODE)

/* A 0 that /proc writes without knowing the value is marked absent, never taken as the value. */
static void test_line_placeholders(void **state)
{
	struct pscope_diag_sock s;

	(void)state;
	/* A listener's tx_queue is not its backlog; its rx_queue is its accept queue. */
	assert_rc(parse(ST_LISTEN, AF_INET, IPPROTO_TCP, &s), 1);
	assert_num_equal(s.absent, NEVER | PSCOPE_DIAG_NO_WQUEUE);
	assert_num_equal(s.rqueue, 3);
	assert_rc(parse(ST_TIME_WAIT, AF_INET, IPPROTO_TCP, &s), 1);
	assert_num_equal(s.absent, NEVER | MINI);
	assert_rc(parse(ST_FIN_WAIT2, AF_INET, IPPROTO_TCP, &s), 1);
	assert_num_equal(s.state, TCP_FIN_WAIT2);
	assert_num_equal(s.absent, NEVER | MINI);
	/* A request has its listener's uid, but no queues of its own. */
	assert_rc(parse(ST_REQUEST, AF_INET, IPPROTO_TCP, &s), 1);
	assert_num_equal(s.absent, NEVER | PSCOPE_DIAG_NO_RQUEUE | PSCOPE_DIAG_NO_WQUEUE |
			 PSCOPE_DIAG_NO_INODE);
	assert_rc(parse(ST_QUEUED, AF_INET, IPPROTO_TCP, &s), 1);
	assert_num_equal(s.absent, NEVER | PSCOPE_DIAG_NO_INODE);
	assert_num_equal(s.rqueue, 1);
	assert_rc(parse(ST_ACCEPTED, AF_INET, IPPROTO_TCP, &s), 1);
	assert_num_equal(s.absent, NEVER);
	/* A UDP socket has no backlog: its tx_queue is its send queue, even in state 0A. */
	assert_rc(parse(ST_LISTEN, AF_INET, IPPROTO_UDP, &s), 1);
	assert_num_equal(s.absent, NEVER);
	/* A line that ends at its inode has no reference count: nothing is taken for a request. */
	assert_rc(parse("0: 0100007F:1F90 0100007F:1F91 03 00000000:00000000 00:00000000 00000000 0 0 7\n",
			AF_INET, IPPROTO_TCP, &s), 1);
	assert_num_equal(s.absent, NEVER);
}

/* The recorded states: what each kind of socket leaves unknown, and the same sockets as netlink's. */
static void test_proc_states(void **state)
{
	struct collected p, n;
	struct stat st;
	uint8_t *buf;
	unsigned mini = 0;
	int fd = open("tests/data/netlink/states.nldump", O_RDONLY | O_CLOEXEC);

	(void)state;
	assert_rc(proc_root(PROC "states", &any, &p, NULL), 23);
	for (size_t i = 0; i < p.n; i++) {
		const struct pscope_diag_sock *s = &p.s[i];

		assert_true((s->absent & NEVER) == NEVER);
		assert_num_equal(!!(s->absent & PSCOPE_DIAG_NO_INODE), s->inode == 0);
		mini += (s->absent & MINI) == MINI;
		if (s->state == TCP_LISTEN)
			assert_num_equal(s->absent, NEVER | PSCOPE_DIAG_NO_WQUEUE);
	}
	/* Two TIME_WAIT, two FIN_WAIT2 after a close: minisockets. */
	assert_num_equal(mini, 4);
	assert_true(fd >= 0 && fstat(fd, &st) == 0);
	buf = malloc((size_t)st.st_size);
	assert_non_null(buf);
	assert_num_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	memset(&n, 0, sizeof(n));
	assert_rc(pscope_diag_replay(buf, (size_t)st.st_size, &any, replay_cb, &n, NULL), 23);
	free(buf);
	/* Each socket, by its 4-tuple (most have no inode): /proc knows less, never more, but a request's uid. */
	for (size_t i = 0; i < p.n; i++) {
		const struct pscope_diag_sock *a = &p.s[i];
		size_t j;
		uint16_t want;

		for (j = 0; j < n.n && (n.s[j].proto != a->proto || n.s[j].lport != a->lport ||
				       n.s[j].rport != a->rport); j++)
			;
		if (j == n.n)
			fail_msg("%u -> %u from /proc is not in the netlink dump", a->lport, a->rport);
		assert_num_equal(a->state, n.s[j].state);
		assert_num_equal(a->inode, n.s[j].inode);
		want = n.s[j].absent | NEVER;
		if (a->state == TCP_LISTEN)
			want |= PSCOPE_DIAG_NO_WQUEUE;
		if (a->state == TCP_SYN_RECV && !a->inode)
			want &= (uint16_t)~PSCOPE_DIAG_NO_UID;
		assert_num_equal(a->absent, want);
		if (!(a->absent & PSCOPE_DIAG_NO_RQUEUE))
			assert_num_equal(a->rqueue, n.s[j].rqueue);
		if (!(a->absent & PSCOPE_DIAG_NO_WQUEUE))
			assert_num_equal(a->wqueue, n.s[j].wqueue);
	}
}

/* /proc/net has no interface: a filter on an address's scope is refused, not ignored. */
static void test_proc_scope_filter(void **state)
{
	struct collected c;
	struct pscope_diag_filter f = { .port = -1, .has_addr = true };

	(void)state;
	addr_or_fail("[fe80::1%1]:0", &f.addr);
	assert_rc(pscope_diag_proc_filter_ok(&f), -PSCOPE_E_PROC_FILTER);
	assert_rc(proc_root(PROC "good", &f, &c, NULL), -PSCOPE_E_PROC_FILTER);
	assert_num_equal(c.n, 0);
	/* Without a scope it filters on the address alone, which /proc gives. */
	addr_or_fail("[fe80::1]:0", &f.addr);
	assert_rc(pscope_diag_proc_filter_ok(&f), 0);
	assert_rc(proc_root(PROC "good", &f, &c, NULL), 0);
	addr_or_fail("127.0.0.1:0", &f.addr);
	assert_rc(pscope_diag_proc_filter_ok(&f), 0);
}

/* Missing files are skipped and counted: a kernel without IPv6, or a root that lacks them. */
static void test_proc_missing(void **state)
{
	struct collected c;
	struct pscope_diag_stats st;
	struct pscope_diag_filter f = { .port = -1, .families = PSCOPE_DIAG_V6 };

	(void)state;
	assert_rc(proc_root(PROC "tcp6-only", &any, &c, &st), 2);
	assert_num_equal(st.skipped_protos, 3);
	for (size_t i = 0; i < c.n; i++)
		assert_num_equal(c.s[i].family, AF_INET6);
	/* Files the filter leaves out are not opened, so not counted as missing. */
	assert_rc(proc_root(PROC "tcp6-only", &f, &c, &st), 2);
	assert_num_equal(st.skipped_protos, 1);
	assert_rc(proc_root(PROC "no-such-directory", &any, &c, &st), 0);
	assert_num_equal(st.skipped_protos, 4);
	/* A root that is a file: its "children" fail with ENOTDIR, not skipped. */
	assert_rc(proc_root(PROC "good/tcp", &any, &c, &st), -ENOTDIR);
}

/* Each bad root: a good socket line, then one bad line; the good one is passed on before the error. */
static void test_proc_bad(void **state)
{
	static const char *const roots[] = {
		"bad-truncated", "bad-long", "bad-nonhex", "bad-noinode",
		"bad-state00", "bad-state0d", "bad-nonewline",
	};
	struct collected c;
	struct pscope_diag_stats st;
	char path[256];

	(void)state;
	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		int rc;

		snprintf(path, sizeof(path), PROC "%s", roots[i]);
		rc = proc_root(path, &any, &c, &st);
		if (rc != -PSCOPE_E_PROC_LINE || c.n != 1)
			fail_msg("%s: got %d (%s) after %zu sockets, want %s after 1", path, rc,
				 rc < 0 ? pscope_strerror(rc) : "ok", c.n, pscope_strerror(-PSCOPE_E_PROC_LINE));
	}
}

static void test_proc_cancel(void **state)
{
	struct collected c;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	assert_rc(pscope_diag_proc(PROC "good", &any, collect, &c, NULL), -ECANCELED);
	assert_num_equal(c.n, 2);
}

/* The live /proc/net, if there is one: it parses, every line of it. */
static void test_proc_live(void **state)
{
	struct collected c;
	struct pscope_addr bound;
	struct pscope_diag_filter f = { .port = -1, .local_only = false };
	int fd = listen_or_skip("127.0.0.1:0", 0, &bound);
	struct stat st;
	int rc;

	(void)state;
	f.port = pscope_addr_port(&bound);
	rc = proc_root(NULL, &f, &c, NULL);
	if (rc == -ENOENT || rc == -EACCES) {
		close(fd);
		skip();
	}
	assert_rc(rc, 1);
	assert_true(fstat(fd, &st) == 0);
	assert_num_equal(c.s[0].inode, st.st_ino);
	assert_num_equal(c.s[0].state, TCP_LISTEN);
	/* Its address as the listener has it (getsockname), not as /proc's reader thinks. */
	assert_num_equal(c.s[0].family, AF_INET);
	assert_num_equal(c.s[0].lport, pscope_addr_port(&bound));
	assert_memory_equal(c.s[0].laddr, &bound.u.sin.sin_addr, 4);
	assert_num_equal(c.s[0].rport, 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_good),
		cmocka_unit_test(test_line_header),
		cmocka_unit_test(test_line_ipv6_word_order),
		cmocka_unit_test(test_line_bad),
		cmocka_unit_test(test_line_states),
		cmocka_unit_test(test_line_every_prefix),
		cmocka_unit_test(test_line_length),
		cmocka_unit_test(test_proc_good),
		cmocka_unit_test(test_proc_filters),
		cmocka_unit_test(test_proc_matches_netlink),
		cmocka_unit_test(test_line_placeholders),
		cmocka_unit_test(test_proc_states),
		cmocka_unit_test(test_proc_scope_filter),
		cmocka_unit_test(test_proc_missing),
		cmocka_unit_test(test_proc_bad),
		cmocka_unit_test(test_proc_cancel),
		cmocka_unit_test(test_proc_live),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
