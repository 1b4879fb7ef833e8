/*
 * Unit tests of diag.h's netlink half: replay of the recorded dumps in
 * tests/data/netlink/ (the good one and each malformed variant), the user-space
 * filter, state names, and one live listing of sockets this test opens.
 * Run from the repository root: the data paths are relative to it.
 */
#include <net/if.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "unit.h"

#define DATA "tests/data/netlink/"
#define GOOD DATA "ls-basic.nldump"
#define MAX_SOCKS 64


/* Reads PATH into a buffer of exactly its size, so that ASan sees a read past the end. */
static uint8_t *read_data(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0)
		fail_msg("%s: %s (run the tests from the repository root)", path, strerror(errno));
	*len = (size_t)st.st_size;
	buf = malloc(*len ? *len : 1);
	assert_non_null(buf);
	if (read(fd, buf, *len) != (ssize_t)*len)
		fail_msg("%s: short read", path);
	close(fd);
	return buf;
}

/* What a listing handed to its callback, as ls collects it: a NULL socket starts it over. */
struct collected {
	struct pscope_diag_sock s[MAX_SOCKS];
	size_t n;
	unsigned calls;		/* every call, NULL included */
	unsigned restarts;	/* NULL calls */
	int stop_after;		/* return -1 on this call (1-based); 0: never */
};

static int collect(const struct pscope_diag_sock *s, void *ctx)
{
	struct collected *c = ctx;

	c->calls++;
	if (c->stop_after && c->calls == (unsigned)c->stop_after)
		return -1;
	if (!s) {
		c->restarts++;
		c->n = 0;
		return 0;
	}
	if (c->n == MAX_SOCKS)
		fail_msg("more than %d sockets", MAX_SOCKS);
	c->s[c->n++] = *s;
	return 0;
}

static int replay_file(const char *path, const struct pscope_diag_filter *f, struct collected *c,
		       struct pscope_diag_stats *st)
{
	size_t len;
	uint8_t *buf = read_data(path, &len);
	int rc;

	memset(c, 0, sizeof(*c));
	rc = pscope_diag_replay(buf, len, f, collect, c, st);
	free(buf);
	return rc;
}

static const struct pscope_diag_filter any = { .port = -1 };

/* The port of the recording: its IPv4 listener's. */
static int recorded_port(void)
{
	struct collected c;
	struct pscope_diag_filter f = { .port = -1, .states = 1u << TCP_LISTEN,
					.families = PSCOPE_DIAG_V4 };

	assert_rc(replay_file(GOOD, &f, &c, NULL), 1);
	return c.s[0].lport;
}

/* "[::1]:P", with the recorded port written P and a client's port C, so the test survives a new recording. */
static void end_text(const struct pscope_diag_sock *s, bool local, int port, char *buf, size_t size)
{
	struct pscope_addr a;
	char host[PSCOPE_ADDRSTRLEN], num[8];
	int p = local ? s->lport : s->rport;

	if (local)
		pscope_diag_local(s, &a);
	else
		pscope_diag_peer(s, &a);
	assert_true(pscope_addr_host(&a, host, sizeof(host)) > 0);
	if (p == port)
		snprintf(num, sizeof(num), "P");
	else if (p == 0)
		snprintf(num, sizeof(num), "0");
	else
		snprintf(num, sizeof(num), "C");
	snprintf(buf, size, s->family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, num);
}

static void describe(const struct pscope_diag_sock *s, int port, char *buf, size_t size)
{
	static const char *const sides[] = { "any", "local", "remote" };
	char l[PSCOPE_ADDRSTRLEN], r[PSCOPE_ADDRSTRLEN];

	end_text(s, true, port, l, sizeof(l));
	end_text(s, false, port, r, sizeof(r));
	assert_true(s->side <= PSCOPE_SIDE_REMOTE);
	snprintf(buf, size, "%s %s %s %s %s", s->proto == IPPROTO_UDP ? "udp" : "tcp",
		 pscope_diag_state_name(s), l, r, sides[s->side]);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sockets in C, described, must be exactly those in WANT, in any order. */
static void assert_sockets(const struct collected *c, int port, const char *const *want, size_t nwant)
{
	char text[MAX_SOCKS][256], *got[MAX_SOCKS];
	const char *w[MAX_SOCKS];

	assert_true(nwant <= MAX_SOCKS);
	for (size_t i = 0; i < c->n; i++) {
		describe(&c->s[i], port, text[i], sizeof(text[i]));
		got[i] = text[i];
	}
	memcpy(w, want, nwant * sizeof(*w));
	qsort(got, c->n, sizeof(*got), cmp_str);
	qsort(w, nwant, sizeof(*w), cmp_str);
	for (size_t i = 0; i < c->n || i < nwant; i++) {
		const char *g = i < c->n ? got[i] : "(none)", *x = i < nwant ? w[i] : "(none)";

		if (strcmp(g, x) != 0) {
			for (size_t k = 0; k < c->n; k++)
				print_message("  got: %s\n", got[k]);
			fail_msg("socket %zu: got \"%s\", want \"%s\"", i, g, x);
		}
	}
}

/* What the recording holds on its port P (see tests/data/record.sh). */
static const char *const recorded[] = {
	"tcp LISTEN 127.0.0.1:P 0.0.0.0:0 local",
	"tcp LISTEN [::1]:P [::]:0 local",
	"tcp ESTABLISHED 127.0.0.1:P 127.0.0.1:C local",
	"tcp ESTABLISHED 127.0.0.1:P 127.0.0.1:C local",
	"tcp ESTABLISHED 127.0.0.1:P 127.0.0.1:C local",
	"tcp ESTABLISHED 127.0.0.1:C 127.0.0.1:P remote",
	"tcp ESTABLISHED 127.0.0.1:C 127.0.0.1:P remote",
	"tcp ESTABLISHED [::ffff:127.0.0.1]:C [::ffff:127.0.0.1]:P remote",
	"udp UNCONN 127.0.0.1:P 0.0.0.0:0 local",
	"udp UNCONN [::1]:P [::]:0 local",
	"udp ESTABLISHED 127.0.0.1:C 127.0.0.1:P remote",
};
#define NRECORDED (sizeof(recorded) / sizeof(recorded[0]))

static bool has_inode(const struct collected *c, uint64_t inode)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->s[i].inode == inode)
			return true;
	return false;
}

/* Every socket has an inode and a cookie, and no two share one: no socket is listed twice. */
static void assert_unique(const struct collected *c)
{
	for (size_t i = 0; i < c->n; i++) {
		assert_true(c->s[i].inode != 0);
		assert_true(c->s[i].cookie != 0);
		for (size_t j = i + 1; j < c->n; j++) {
			assert_true(c->s[i].inode != c->s[j].inode);
			assert_true(c->s[i].cookie != c->s[j].cookie);
		}
	}
}

static void test_replay_good_port(void **state)
{
	struct collected c;
	struct pscope_diag_stats st;
	int port = recorded_port();
	struct pscope_diag_filter f = { .port = port };
	int accepted[8], nacc = 0;

	(void)state;
	assert_rc(replay_file(GOOD, &f, &c, &st), (int)NRECORDED);
	assert_num_equal(c.n, NRECORDED);
	assert_sockets(&c, port, recorded, NRECORDED);
	assert_unique(&c);
	assert_num_equal(st.messages, NRECORDED + 4); /* and four NLMSG_DONE */
	assert_num_equal(st.restarts, 0);
	assert_false(st.inconsistent);
	assert_num_equal(st.skipped_protos, 0);
	/* Each TCP client's port is the peer port of one accepted socket. */
	for (size_t i = 0; i < c.n; i++)
		if (c.s[i].proto == IPPROTO_TCP && c.s[i].state == TCP_ESTABLISHED &&
		    c.s[i].side == PSCOPE_SIDE_LOCAL)
			accepted[nacc < 8 ? nacc++ : nacc] = c.s[i].rport;
	assert_num_equal(nacc, 3);
	for (size_t i = 0; i < c.n; i++) {
		int k;

		if (c.s[i].proto != IPPROTO_TCP || c.s[i].side != PSCOPE_SIDE_REMOTE)
			continue;
		for (k = 0; k < nacc && accepted[k] != c.s[i].lport; k++)
			;
		assert_true(k < nacc);
		assert_num_equal(c.s[i].rport, port);
	}
}

/* Without a port every socket comes through, side "any"; the kernel filtered them already. */
static void test_replay_good_all(void **state)
{
	struct collected c;
	struct pscope_diag_stats st;
	unsigned tcp = 0, v6 = 0;

	(void)state;
	assert_rc(replay_file(GOOD, &any, &c, &st), (int)NRECORDED);
	for (size_t i = 0; i < c.n; i++) {
		assert_num_equal(c.s[i].side, PSCOPE_SIDE_ANY);
		assert_true(c.s[i].family == AF_INET || c.s[i].family == AF_INET6);
		tcp += c.s[i].proto == IPPROTO_TCP;
		v6 += c.s[i].family == AF_INET6;
	}
	assert_num_equal(tcp, 8);
	assert_num_equal(v6, 3);
	assert_unique(&c);
}

static void test_replay_filters(void **state)
{
	struct collected c;
	int port = recorded_port();
	struct pscope_diag_filter f = { .port = port, .local_only = true };
	static const char *const local[] = {
		"tcp LISTEN 127.0.0.1:P 0.0.0.0:0 local",
		"tcp LISTEN [::1]:P [::]:0 local",
		"tcp ESTABLISHED 127.0.0.1:P 127.0.0.1:C local",
		"tcp ESTABLISHED 127.0.0.1:P 127.0.0.1:C local",
		"tcp ESTABLISHED 127.0.0.1:P 127.0.0.1:C local",
		"udp UNCONN 127.0.0.1:P 0.0.0.0:0 local",
		"udp UNCONN [::1]:P [::]:0 local",
	};
	static const char *const loopback6[] = {
		"tcp LISTEN [::1]:P [::]:0 local",
		"udp UNCONN [::1]:P [::]:0 local",
	};

	(void)state;
	assert_rc(replay_file(GOOD, &f, &c, NULL), 7);
	assert_sockets(&c, port, local, 7);

	f = (struct pscope_diag_filter){ .port = port, .states = 1u << TCP_LISTEN };
	assert_rc(replay_file(GOOD, &f, &c, NULL), 2);
	f = (struct pscope_diag_filter){ .port = port, .protos = PSCOPE_DIAG_UDP };
	assert_rc(replay_file(GOOD, &f, &c, NULL), 3);
	f = (struct pscope_diag_filter){ .port = port, .families = PSCOPE_DIAG_V6 };
	assert_rc(replay_file(GOOD, &f, &c, NULL), 3);
	f = (struct pscope_diag_filter){ .port = port, .protos = PSCOPE_DIAG_TCP,
					 .families = PSCOPE_DIAG_V4,
					 .states = pscope_diag_state_mask("established") };
	assert_rc(replay_file(GOOD, &f, &c, NULL), 5);
	f = (struct pscope_diag_filter){ .port = 1 };
	assert_rc(replay_file(GOOD, &f, &c, NULL), 0);

	/* ::1 on the matching end: the two IPv6 loopback sockets. */
	f = (struct pscope_diag_filter){ .port = port, .has_addr = true };
	addr_or_fail("[::1]:0", &f.addr);
	assert_rc(replay_file(GOOD, &f, &c, NULL), 2);
	assert_sockets(&c, port, loopback6, 2);
	/* 127.0.0.1 matches the IPv4 sockets and the IPv4-mapped client: all but those two. */
	addr_or_fail("127.0.0.1:0", &f.addr);
	assert_rc(replay_file(GOOD, &f, &c, NULL), (int)NRECORDED - 2);
	/* So does the same address written IPv4-mapped. */
	addr_or_fail("[::ffff:127.0.0.1]:0", &f.addr);
	assert_rc(replay_file(GOOD, &f, &c, NULL), (int)NRECORDED - 2);
}

/* A cut anywhere inside a message is a truncated reply; a cut between messages lacks NLMSG_DONE,
 * unless it falls between two dumps, where what came before is a complete listing. */
static void test_replay_every_prefix(void **state)
{
	size_t len;
	uint8_t *good = read_data(GOOD, &len);
	size_t boundary = 0; /* where the next message starts */
	bool after_done = false;

	(void)state;
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *buf = malloc(cut ? cut : 1);
		struct collected c;
		struct nlmsghdr h;
		int rc, want;

		if (cut == boundary) {
			memcpy(&h, good + cut, sizeof(h));
			want = cut == 0 ? -PSCOPE_E_NL_NODONE
			     : after_done && (h.nlmsg_flags & NLM_F_REQUEST) ? -1 /* a count */
			     : -PSCOPE_E_NL_NODONE;
			after_done = h.nlmsg_type == NLMSG_DONE;
			boundary += NLMSG_ALIGN(h.nlmsg_len);
		} else {
			want = -PSCOPE_E_NL_TRUNC;
		}
		assert_non_null(buf);
		memcpy(buf, good, cut);
		memset(&c, 0, sizeof(c));
		rc = pscope_diag_replay(buf, cut, &any, collect, &c, NULL);
		free(buf);
		if (want == -1 ? rc < 0 : rc != want)
			fail_msg("cut at %zu: got %d (%s)", cut, rc, rc < 0 ? pscope_strerror(rc) : "ok");
	}
	free(good);
}

static void test_replay_empty(void **state)
{
	static const uint8_t nothing[1];
	struct collected c = { 0 };

	(void)state;
	assert_rc(pscope_diag_replay(nothing, 0, &any, collect, &c, NULL), -PSCOPE_E_NL_NODONE);
	assert_num_equal(c.calls, 0);
}

/* A callback that returns a negative number stops the listing. */
static void test_replay_cancel(void **state)
{
	size_t len;
	uint8_t *buf = read_data(GOOD, &len);
	struct collected c = { .stop_after = 3 };

	(void)state;
	assert_rc(pscope_diag_replay(buf, len, &any, collect, &c, NULL), -ECANCELED);
	assert_num_equal(c.calls, 3);
	free(buf);
}

/* No udp_diag: both UDP dumps answer -ENOENT; they are skipped and TCP is listed. */
static void test_replay_udp_enoent(void **state)
{
	struct collected c;
	struct pscope_diag_stats st;

	(void)state;
	assert_rc(replay_file(DATA "ok-udp-enoent.nldump", &any, &c, &st), 8);
	assert_num_equal(st.skipped_protos, 2);
	for (size_t i = 0; i < c.n; i++)
		assert_num_equal(c.s[i].proto, IPPROTO_TCP);
}

/*
 * The first dump was interrupted (NLM_F_DUMP_INTR, on a socket that then went
 * away, inode 4242) and the listing ran again: the callback hears NULL once,
 * and the result is the second run's, without duplicates or the stale socket.
 */
static void test_replay_dump_intr_restart(void **state)
{
	struct collected c, good;
	struct pscope_diag_stats st;
	int port = recorded_port();
	struct pscope_diag_filter f = { .port = port };

	(void)state;
	assert_rc(replay_file(DATA "ok-dump-intr-restart.nldump", &any, &c, &st), (int)NRECORDED);
	assert_num_equal(c.restarts, 1);
	assert_num_equal(st.restarts, 1);
	assert_false(st.inconsistent);
	assert_num_equal(c.n, NRECORDED);
	assert_unique(&c);
	assert_false(has_inode(&c, 4242));
	assert_rc(replay_file(GOOD, &any, &good, NULL), (int)NRECORDED);
	for (size_t i = 0; i < good.n; i++)
		assert_true(has_inode(&c, good.s[i].inode));

	assert_rc(replay_file(DATA "ok-dump-intr-restart.nldump", &f, &c, &st), (int)NRECORDED);
	assert_sockets(&c, port, recorded, NRECORDED);
	assert_num_equal(st.restarts, 1);
}

/* Interrupted and not run again: the listing stands, marked inconsistent. */
static void test_replay_dump_intr_last(void **state)
{
	struct collected c;
	struct pscope_diag_stats st;

	(void)state;
	assert_rc(replay_file(DATA "ok-dump-intr-last.nldump", &any, &c, &st), (int)NRECORDED);
	assert_true(st.inconsistent);
	assert_num_equal(st.restarts, 0);
	assert_num_equal(c.restarts, 0);
}

static void test_replay_first_dump(void **state)
{
	struct collected c;

	(void)state;
	assert_rc(replay_file(DATA "ok-first-dump.nldump", &any, &c, NULL), 6);
	for (size_t i = 0; i < c.n; i++) {
		assert_num_equal(c.s[i].family, AF_INET);
		assert_num_equal(c.s[i].proto, IPPROTO_TCP);
	}
}

/* One malformed recording and the error its replay must give, whatever the filter. */
struct bad_case {
	const char *path;
	int rc;
};

static void test_bad_dump(void **state)
{
	const struct bad_case *bc = *state;
	struct pscope_diag_filter port1 = { .port = 1 }, local = { .port = 1, .local_only = true };
	struct collected c;
	struct pscope_diag_stats st;

	assert_rc(replay_file(bc->path, &any, &c, &st), bc->rc);
	assert_true(c.n <= NRECORDED);
	assert_rc(replay_file(bc->path, &port1, &c, &st), bc->rc);
	assert_num_equal(c.n, 0);
	assert_rc(replay_file(bc->path, &local, &c, NULL), bc->rc);
}

#define BAD(name, code) \
	{ "replay " name, test_bad_dump, NULL, NULL, \
	  &(struct bad_case){ DATA name ".nldump", (code) } }

/* A hand-made socket: family, proto, state, local and remote ends. */
static struct pscope_diag_sock sock_of(int proto, int state, const char *local, const char *remote)
{
	struct pscope_diag_sock s = { .proto = (uint8_t)proto, .state = (uint8_t)state };
	struct pscope_addr l, r;

	addr_or_fail(local, &l);
	addr_or_fail(remote, &r);
	assert_num_equal(l.u.sa.sa_family, r.u.sa.sa_family);
	s.family = (uint8_t)l.u.sa.sa_family;
	s.lport = (uint16_t)pscope_addr_port(&l);
	s.rport = (uint16_t)pscope_addr_port(&r);
	if (s.family == AF_INET6) {
		memcpy(s.laddr, &l.u.sin6.sin6_addr, 16);
		memcpy(s.raddr, &r.u.sin6.sin6_addr, 16);
	} else {
		memcpy(s.laddr, &l.u.sin.sin_addr, 4);
		memcpy(s.raddr, &r.u.sin.sin_addr, 4);
	}
	return s;
}

/* pscope_diag_match on S, with the side it sets (or -1 for no match). */
static int side_of(const struct pscope_diag_filter *f, struct pscope_diag_sock s)
{
	return pscope_diag_match(f, &s) ? s.side : -1;
}

static void test_match_port(void **state)
{
	struct pscope_diag_filter f = { .port = 80 };
	struct pscope_diag_sock listener = sock_of(IPPROTO_TCP, TCP_LISTEN, "0.0.0.0:80", "0.0.0.0:0");
	struct pscope_diag_sock accepted = sock_of(IPPROTO_TCP, TCP_ESTABLISHED, "127.0.0.1:80",
						   "127.0.0.1:50000");
	struct pscope_diag_sock client = sock_of(IPPROTO_TCP, TCP_ESTABLISHED, "127.0.0.1:50000",
						 "127.0.0.1:80");
	struct pscope_diag_sock self = sock_of(IPPROTO_TCP, TCP_ESTABLISHED, "127.0.0.1:80",
					       "127.0.0.1:80");
	struct pscope_diag_sock other = sock_of(IPPROTO_TCP, TCP_ESTABLISHED, "127.0.0.1:8080",
						"127.0.0.1:50000");

	(void)state;
	assert_num_equal(side_of(&f, listener), PSCOPE_SIDE_LOCAL);
	assert_num_equal(side_of(&f, accepted), PSCOPE_SIDE_LOCAL);
	assert_num_equal(side_of(&f, client), PSCOPE_SIDE_REMOTE);
	assert_num_equal(side_of(&f, self), PSCOPE_SIDE_LOCAL);
	assert_num_equal(side_of(&f, other), -1);
	f.local_only = true;
	assert_num_equal(side_of(&f, listener), PSCOPE_SIDE_LOCAL);
	assert_num_equal(side_of(&f, accepted), PSCOPE_SIDE_LOCAL);
	assert_num_equal(side_of(&f, client), -1);
	assert_num_equal(side_of(&f, self), PSCOPE_SIDE_LOCAL);
	f = (struct pscope_diag_filter){ .port = -1 };
	assert_num_equal(side_of(&f, client), PSCOPE_SIDE_ANY);
	assert_num_equal(side_of(&f, other), PSCOPE_SIDE_ANY);
	/* Port 0 is a port like any other: the listener's peer end has it. */
	f = (struct pscope_diag_filter){ .port = 0 };
	assert_num_equal(side_of(&f, listener), PSCOPE_SIDE_REMOTE);
	assert_num_equal(side_of(&f, client), -1);
}

static void test_match_addr(void **state)
{
	struct pscope_diag_filter f = { .port = 80, .has_addr = true };
	struct pscope_diag_sock v4 = sock_of(IPPROTO_TCP, TCP_ESTABLISHED, "127.0.0.1:80", "10.0.0.2:50000");
	struct pscope_diag_sock v4other = sock_of(IPPROTO_TCP, TCP_ESTABLISHED, "127.0.0.2:80",
						  "127.0.0.1:50000");
	struct pscope_diag_sock client = sock_of(IPPROTO_TCP, TCP_ESTABLISHED, "10.0.0.2:50000",
						 "127.0.0.1:80");
	struct pscope_diag_sock mapped = sock_of(IPPROTO_TCP, TCP_ESTABLISHED, "[::ffff:127.0.0.1]:80",
						 "[::ffff:10.0.0.2]:50000");
	struct pscope_diag_sock v6 = sock_of(IPPROTO_TCP, TCP_ESTABLISHED, "[::1]:80", "[::1]:50000");

	(void)state;
	/* The filter's own port does not count: only PORT does. */
	addr_or_fail("127.0.0.1:9999", &f.addr);
	assert_num_equal(side_of(&f, v4), PSCOPE_SIDE_LOCAL);
	assert_num_equal(side_of(&f, v4other), -1); /* 127.0.0.1 is at the end whose port is not 80 */
	assert_num_equal(side_of(&f, client), PSCOPE_SIDE_REMOTE);
	assert_num_equal(side_of(&f, mapped), PSCOPE_SIDE_LOCAL);
	assert_num_equal(side_of(&f, v6), -1);
	addr_or_fail("[::ffff:127.0.0.1]:0", &f.addr);
	assert_num_equal(side_of(&f, v4), PSCOPE_SIDE_LOCAL);
	assert_num_equal(side_of(&f, mapped), PSCOPE_SIDE_LOCAL);
	assert_num_equal(side_of(&f, v6), -1);
	addr_or_fail("[::1]:0", &f.addr);
	assert_num_equal(side_of(&f, v6), PSCOPE_SIDE_LOCAL);
	assert_num_equal(side_of(&f, v4), -1);
	assert_num_equal(side_of(&f, mapped), -1);
	addr_or_fail("10.0.0.2:0", &f.addr);
	assert_num_equal(side_of(&f, v4), -1); /* 10.0.0.2 is its peer, but on port 50000 */
	f.port = -1; /* any port: the address at either end */
	assert_num_equal(side_of(&f, v4), PSCOPE_SIDE_ANY);
	assert_num_equal(side_of(&f, mapped), PSCOPE_SIDE_ANY);
	assert_num_equal(side_of(&f, v4other), -1);
}

/* A link-local filter: with a scope it matches on that interface only; without, on any. */
static void test_match_addr_scope(void **state)
{
	struct pscope_diag_filter f = { .port = 80, .has_addr = true };
	struct pscope_diag_sock ll = sock_of(IPPROTO_TCP, TCP_LISTEN, "[fe80::1]:80", "[::]:0");
	unsigned lo = if_nametoindex("lo");

	(void)state;
	if (!lo)
		skip();
	ll.ifindex = lo;
	addr_or_fail("[fe80::1%lo]:80", &f.addr);
	assert_num_equal(side_of(&f, ll), PSCOPE_SIDE_LOCAL);
	ll.ifindex = lo + 1000;
	assert_num_equal(side_of(&f, ll), -1);
	addr_or_fail("[fe80::1]:80", &f.addr);
	assert_num_equal(side_of(&f, ll), PSCOPE_SIDE_LOCAL);
}

static void test_match_states_families(void **state)
{
	struct pscope_diag_filter f = { .port = -1, .states = pscope_diag_state_mask("listen") };
	struct pscope_diag_sock listener = sock_of(IPPROTO_TCP, TCP_LISTEN, "[::]:80", "[::]:0");
	struct pscope_diag_sock est = sock_of(IPPROTO_TCP, TCP_ESTABLISHED, "127.0.0.1:80",
					      "127.0.0.1:5000");
	struct pscope_diag_sock udp = sock_of(IPPROTO_UDP, TCP_CLOSE, "0.0.0.0:53", "0.0.0.0:0");

	(void)state;
	assert_true(pscope_diag_match(&f, &listener));
	assert_false(pscope_diag_match(&f, &est));
	assert_false(pscope_diag_match(&f, &udp));
	f.states |= pscope_diag_state_mask("unconn");
	assert_true(pscope_diag_match(&f, &udp));
	f = (struct pscope_diag_filter){ .port = -1, .families = PSCOPE_DIAG_V4 };
	assert_false(pscope_diag_match(&f, &listener));
	assert_true(pscope_diag_match(&f, &est));
	f.families = PSCOPE_DIAG_V6;
	assert_true(pscope_diag_match(&f, &listener));
	f = (struct pscope_diag_filter){ .port = -1, .protos = PSCOPE_DIAG_UDP };
	assert_true(pscope_diag_match(&f, &udp));
	assert_false(pscope_diag_match(&f, &est));
	f.protos = PSCOPE_DIAG_TCP;
	assert_false(pscope_diag_match(&f, &udp));
	/* A state number past the mask's 32 bits matches nothing in a mask, and does not shift too far. */
	est.state = 200;
	f = (struct pscope_diag_filter){ .port = -1, .states = ~0u };
	assert_false(pscope_diag_match(&f, &est));
	/* 200 is 8 (CLOSE_WAIT) modulo 32: not a match for a close-wait mask either. */
	f.states = pscope_diag_state_mask("close-wait");
	assert_false(pscope_diag_match(&f, &est));
	est.state = TCP_CLOSE_WAIT;
	assert_true(pscope_diag_match(&f, &est));
}

static void test_state_mask(void **state)
{
	(void)state;
	assert_num_equal(pscope_diag_state_mask("listen"), 1u << TCP_LISTEN);
	assert_num_equal(pscope_diag_state_mask("LISTEN"), 1u << TCP_LISTEN);
	assert_num_equal(pscope_diag_state_mask("established"), 1u << TCP_ESTABLISHED);
	assert_num_equal(pscope_diag_state_mask("time-wait"), 1u << TCP_TIME_WAIT);
	assert_num_equal(pscope_diag_state_mask("TIME_WAIT"), 1u << TCP_TIME_WAIT);
	assert_num_equal(pscope_diag_state_mask("fin-wait-1"), 1u << TCP_FIN_WAIT1);
	assert_num_equal(pscope_diag_state_mask("fin-wait-2"), 1u << TCP_FIN_WAIT2);
	assert_num_equal(pscope_diag_state_mask("close-wait"), 1u << TCP_CLOSE_WAIT);
	assert_num_equal(pscope_diag_state_mask("last-ack"), 1u << TCP_LAST_ACK);
	assert_num_equal(pscope_diag_state_mask("closing"), 1u << TCP_CLOSING);
	assert_num_equal(pscope_diag_state_mask("syn-sent"), 1u << TCP_SYN_SENT);
	assert_num_equal(pscope_diag_state_mask("syn-recv"), (1u << TCP_SYN_RECV) | (1u << 12));
	assert_num_equal(pscope_diag_state_mask("unconn"), 1u << TCP_CLOSE);
	assert_num_equal(pscope_diag_state_mask("close"), 1u << TCP_CLOSE);
	assert_true(pscope_diag_state_mask("connected") & (1u << TCP_ESTABLISHED));
	assert_true(pscope_diag_state_mask("connected") & (1u << TCP_CLOSE_WAIT));
	assert_false(pscope_diag_state_mask("connected") & (1u << TCP_LISTEN));
	assert_false(pscope_diag_state_mask("connected") & (1u << TCP_CLOSE));
	assert_num_equal(pscope_diag_state_mask("bogus"), 0);
	assert_num_equal(pscope_diag_state_mask(""), 0);
	assert_num_equal(pscope_diag_state_mask("fin-wait"), 0);
	assert_num_equal(pscope_diag_state_mask("listen "), 0);
	/* Longer than any name: not truncated into one. */
	assert_num_equal(pscope_diag_state_mask("listenlistenlistenlistenlistenlisten"), 0);
	assert_num_equal(pscope_diag_state_mask("established-established-established"), 0);
}

/* ss(8)'s STATE-FILTER, each name and group with ss's meaning (scan_state() in iproute2's ss.c). */
static void test_state_mask_ss(void **state)
{
	const uint32_t all = 0x1ffe, syn_recv = (1u << TCP_SYN_RECV) | (1u << 12);
	const uint32_t bucket = syn_recv | (1u << TCP_TIME_WAIT);

	(void)state;
	assert_num_equal(pscope_diag_state_mask("listening"), 1u << TCP_LISTEN);
	assert_num_equal(pscope_diag_state_mask("closed"), 1u << TCP_CLOSE);
	assert_num_equal(pscope_diag_state_mask("unconnected"), 1u << TCP_CLOSE);
	assert_num_equal(pscope_diag_state_mask("syn-rcv"), syn_recv);
	assert_num_equal(pscope_diag_state_mask("all"), all);
	/* connected: all but listening and closed; SYN-SENT belongs. */
	assert_num_equal(pscope_diag_state_mask("connected"),
			 all & ~((1u << TCP_LISTEN) | (1u << TCP_CLOSE)));
	assert_true(pscope_diag_state_mask("connected") & (1u << TCP_SYN_SENT));
	assert_num_equal(pscope_diag_state_mask("synchronized"),
			 all & ~((1u << TCP_LISTEN) | (1u << TCP_CLOSE) | (1u << TCP_SYN_SENT)));
	assert_num_equal(pscope_diag_state_mask("bucket"), bucket);
	assert_num_equal(pscope_diag_state_mask("big"), all & ~bucket);
	/* Never bit 13: bound-inactive sockets are no state of ss's "all". */
	assert_false(pscope_diag_state_mask("all") & (1u << 13));
	/* The kernel's spellings, as ls prints them, are taken back. */
	assert_num_equal(pscope_diag_state_mask("FIN_WAIT1"), 1u << TCP_FIN_WAIT1);
	assert_num_equal(pscope_diag_state_mask("fin-wait2"), 1u << TCP_FIN_WAIT2);
	assert_num_equal(pscope_diag_state_mask("Synchronized"), pscope_diag_state_mask("synchronized"));
	assert_num_equal(pscope_diag_state_mask("fin-wait-"), 0);
	assert_num_equal(pscope_diag_state_mask("fin-wait-12"), 0);
	assert_num_equal(pscope_diag_state_mask("new-syn-recv"), 0);
	assert_num_equal(pscope_diag_state_mask("bound-inactive"), 0);
	/* Every name in the list given to users is one the parser takes. */
	{
		char names[512], *save = NULL;
		unsigned n = 0;

		assert_true(strlen(pscope_diag_state_names) < sizeof(names));
		strcpy(names, pscope_diag_state_names);
		for (char *t = strtok_r(names, ", ", &save); t; t = strtok_r(NULL, ", ", &save), n++)
			if (!pscope_diag_state_mask(t))
				fail_msg("'%s' is listed but not taken", t);
		assert_num_equal(n, 21);
	}
}

#define MINI (PSCOPE_DIAG_NO_RQUEUE | PSCOPE_DIAG_NO_WQUEUE | PSCOPE_DIAG_NO_UID | PSCOPE_DIAG_NO_INODE)

/*
 * tests/data/netlink/states.nldump (tests/tools/states.py's sockets): the
 * minisockets, told by the missing INET_DIAG_SHUTDOWN attribute, have their
 * queues and uid marked unknown; full sockets keep theirs, even with no inode.
 */
static void test_replay_states_placeholders(void **state)
{
	struct collected c;
	unsigned mini = 0, queued = 0;

	(void)state;
	assert_rc(replay_file(DATA "states.nldump", &any, &c, NULL), 23);
	for (size_t i = 0; i < c.n; i++) {
		const struct pscope_diag_sock *s = &c.s[i];

		/* sock_diag gives every socket's cookie and device. */
		assert_false(s->absent & (PSCOPE_DIAG_NO_COOKIE | PSCOPE_DIAG_NO_IFINDEX));
		assert_num_equal(!!(s->absent & PSCOPE_DIAG_NO_INODE), s->inode == 0);
		if (s->state == TCP_TIME_WAIT || (s->state == TCP_SYN_RECV && !s->inode)) {
			assert_num_equal(s->absent, MINI);
			mini++;
		} else if (s->state == TCP_FIN_WAIT2 && !s->inode) {
			/* An orphan in FIN_WAIT2 becomes a minisocket (tcp_time_wait()). */
			assert_num_equal(s->absent, MINI);
			mini++;
		} else if (!s->inode) {
			/* In the accept queue: a full socket, queues and uid known. */
			assert_num_equal(s->absent, PSCOPE_DIAG_NO_INODE);
			assert_true(s->state == TCP_ESTABLISHED || s->state == TCP_CLOSE_WAIT);
			queued++;
		} else {
			assert_num_equal(s->absent, 0);
		}
		if (s->state == TCP_LISTEN) {
			assert_num_equal(s->rqueue, 3); /* its accept queue */
			assert_num_equal(s->wqueue, 8); /* its backlog */
		}
	}
	assert_num_equal(mini, 5);
	assert_num_equal(queued, 3);
}

static void test_state_name(void **state)
{
	struct pscope_diag_sock s = { .proto = IPPROTO_UDP, .state = 7 };

	(void)state;
	assert_string_equal(pscope_diag_state_name(&s), "UNCONN");
	s.state = TCP_ESTABLISHED;
	assert_string_equal(pscope_diag_state_name(&s), "ESTABLISHED");
	s.proto = IPPROTO_TCP;
	s.state = 7;
	assert_string_equal(pscope_diag_state_name(&s), "CLOSE");
	s.state = TCP_LISTEN;
	assert_string_equal(pscope_diag_state_name(&s), "LISTEN");
	s.state = TCP_TIME_WAIT;
	assert_string_equal(pscope_diag_state_name(&s), "TIME_WAIT");
	s.state = TCP_FIN_WAIT1;
	assert_string_equal(pscope_diag_state_name(&s), "FIN_WAIT1");
	s.state = 12;
	assert_string_equal(pscope_diag_state_name(&s), "SYN_RECV"); /* as /proc and ss name a request */
	s.state = 0;
	assert_string_equal(pscope_diag_state_name(&s), "UNKNOWN");
	s.state = 13;
	assert_string_equal(pscope_diag_state_name(&s), "UNKNOWN");
	s.state = 255;
	assert_string_equal(pscope_diag_state_name(&s), "UNKNOWN");
	/* Every name a mask accepts names that state back. */
	for (int st = 1; st <= 12; st++) {
		s.state = (uint8_t)st;
		assert_num_equal(pscope_diag_state_mask(pscope_diag_state_name(&s)) & (1u << st), 1u << st);
	}
}

static void test_local_peer(void **state)
{
	struct pscope_diag_sock s = sock_of(IPPROTO_TCP, TCP_ESTABLISHED, "[fe80::1]:80", "[fe80::2]:5000");
	struct pscope_diag_sock v4 = sock_of(IPPROTO_UDP, TCP_ESTABLISHED, "10.1.2.3:53", "10.9.8.7:1053");
	struct pscope_addr a;
	char buf[PSCOPE_ADDRSTRLEN];

	(void)state;
	s.ifindex = 1; /* lo */
	pscope_diag_local(&s, &a);
	assert_num_equal(a.u.sa.sa_family, AF_INET6);
	assert_num_equal(a.u.sin6.sin6_scope_id, 1);
	assert_num_equal(pscope_addr_port(&a), 80);
	pscope_diag_peer(&s, &a);
	assert_num_equal(pscope_addr_port(&a), 5000);
	assert_true(pscope_addr_format(&a, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "[fe80::2%lo]:5000");
	pscope_diag_local(&v4, &a);
	assert_true(pscope_addr_format(&a, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "10.1.2.3:53");
	pscope_diag_peer(&v4, &a);
	assert_true(pscope_addr_format(&a, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "10.9.8.7:1053");
}

static uint64_t inode_of(int fd)
{
	struct stat st;

	assert_true(fstat(fd, &st) == 0);
	return st.st_ino;
}

/* The descriptors of one live connection on loopback, and the listing's view of them. */
struct live {
	int lfd, cfd, afd;
	int port;
};

static void live_open(struct live *l)
{
	struct pscope_addr bound;

	l->lfd = listen_or_skip("127.0.0.1:0", 0, &bound);
	l->port = pscope_addr_port(&bound);
	l->cfd = connect_or_fail(&bound);
	l->afd = accept_or_fail(l->lfd);
}

static void live_close(struct live *l)
{
	close(l->afd);
	close(l->cfd);
	close(l->lfd);
}

/* The listener, the accepted socket and the client, each once, with their own inodes. */
static void assert_live(const struct live *l, const struct collected *c)
{
	uint64_t li = inode_of(l->lfd), ai = inode_of(l->afd), ci = inode_of(l->cfd);
	unsigned listen = 0, local = 0, remote = 0;

	assert_num_equal(c->n, 3);
	for (size_t i = 0; i < c->n; i++) {
		const struct pscope_diag_sock *s = &c->s[i];

		assert_num_equal(s->family, AF_INET);
		assert_num_equal(s->proto, IPPROTO_TCP);
		if (s->state == TCP_LISTEN) {
			listen++;
			assert_num_equal(s->side, PSCOPE_SIDE_LOCAL);
			assert_num_equal(s->lport, l->port);
			assert_num_equal(s->inode, li);
		} else if (s->side == PSCOPE_SIDE_LOCAL) {
			local++;
			assert_num_equal(s->state, TCP_ESTABLISHED);
			assert_num_equal(s->lport, l->port);
			assert_num_equal(s->inode, ai);
		} else {
			remote++;
			assert_num_equal(s->state, TCP_ESTABLISHED);
			assert_num_equal(s->side, PSCOPE_SIDE_REMOTE);
			assert_num_equal(s->rport, l->port);
			assert_num_equal(s->inode, ci);
		}
		assert_true(s->cookie != 0);
	}
	assert_num_equal(listen, 1);
	assert_num_equal(local, 1);
	assert_num_equal(remote, 1);
}

/* Skips the test if this kernel (or sandbox) has no NETLINK_SOCK_DIAG for us. */
static void skip_unless_netlink(int rc)
{
	if (rc == -EPROTONOSUPPORT || rc == -EAFNOSUPPORT || rc == -EPERM || rc == -EACCES ||
	    rc == -ENOENT || rc == -EOPNOTSUPP) {
		print_message("  netlink sock_diag unavailable (%s): skipped\n", pscope_strerror(rc));
		skip();
	}
}

static void test_netlink_live(void **state)
{
	struct live l;
	struct collected c = { 0 };
	struct pscope_diag_stats st;
	struct pscope_diag_filter f = { .port = -1 };
	int rc;

	(void)state;
	live_open(&l);
	f.port = l.port;
	rc = pscope_diag_netlink(&f, collect, &c, -1, &st);
	skip_unless_netlink(rc);
	assert_rc(rc, 3);
	assert_live(&l, &c);
	assert_num_equal(st.restarts + c.restarts, 0);
	/* The server side only: the listener and the accepted socket. */
	f.local_only = true;
	memset(&c, 0, sizeof(c));
	assert_rc(pscope_diag_netlink(&f, collect, &c, -1, &st), 2);
	for (size_t i = 0; i < c.n; i++)
		assert_num_equal(c.s[i].side, PSCOPE_SIDE_LOCAL);
	live_close(&l);
}

/*
 * A dump recorded on a kernel that refused the compat request: the request, its
 * error, then the per-family dumps (GOOD's, their sequence numbers moved up by
 * one).  It replays to GOOD's sockets with no restart; an error that is not a
 * refusal (EPERM) is the replay's error.
 */
static uint8_t *refused_compat_dump(int error, size_t *len)
{
	size_t glen, off;
	uint8_t *good = read_data(GOOD, &glen), *buf;
	struct {
		struct nlmsghdr h;
		struct inet_diag_req r;
	} req = { .h = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct inet_diag_req)),
			 .nlmsg_type = TCPDIAG_GETSOCK, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			 .nlmsg_seq = 1 },
		  .r = { .idiag_family = AF_UNSPEC, .idiag_states = ~0u } };
	struct {
		struct nlmsghdr h;
		struct nlmsgerr e;
	} err = { .h = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct nlmsgerr)), .nlmsg_type = NLMSG_ERROR,
			 .nlmsg_seq = 1 },
		  .e = { .error = error } };

	*len = NLMSG_ALIGN(req.h.nlmsg_len) + NLMSG_ALIGN(err.h.nlmsg_len) + glen;
	buf = malloc(*len);
	assert_non_null(buf);
	memcpy(buf, &req, req.h.nlmsg_len);
	memcpy(buf + NLMSG_ALIGN(req.h.nlmsg_len), &err, err.h.nlmsg_len);
	off = NLMSG_ALIGN(req.h.nlmsg_len) + NLMSG_ALIGN(err.h.nlmsg_len);
	memcpy(buf + off, good, glen);
	free(good);
	while (off < *len) {
		struct nlmsghdr h;

		memcpy(&h, buf + off, sizeof(h));
		h.nlmsg_seq++;
		memcpy(buf + off, &h, sizeof(h));
		off += NLMSG_ALIGN(h.nlmsg_len);
	}
	return buf;
}

static void test_replay_compat_refused(void **state)
{
	struct collected c, want;
	struct pscope_diag_stats st;
	uint8_t *buf;
	size_t len;

	(void)state;
	assert_true(replay_file(GOOD, &any, &want, NULL) > 0);
	buf = refused_compat_dump(-EINVAL, &len);
	memset(&c, 0, sizeof(c));
	assert_rc(pscope_diag_replay(buf, len, &any, collect, &c, &st), (int)want.n);
	assert_num_equal(c.n, want.n);
	assert_num_equal(c.restarts, 0);
	assert_num_equal(st.restarts, 0);
	for (size_t i = 0; i < c.n; i++)
		assert_memory_equal(&c.s[i], &want.s[i], sizeof(c.s[i]));
	free(buf);
	buf = refused_compat_dump(-EPERM, &len);
	memset(&c, 0, sizeof(c));
	assert_rc(pscope_diag_replay(buf, len, &any, collect, &c, &st), -EPERM);
	free(buf);
}

/*
 * Lists F live into C, recording the dump: returns what pscope_diag_netlink wrote
 * to its DUMP_FD (LEN bytes, to free).  Skips the test without sock_diag.
 */
static uint8_t *record_live(const struct pscope_diag_filter *f, struct collected *c, int want,
			    size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = memfd_create("nldump", MFD_CLOEXEC), rc;

	assert_true(fd >= 0);
	memset(c, 0, sizeof(*c));
	rc = pscope_diag_netlink(f, collect, c, fd, NULL);
	skip_unless_netlink(rc);
	assert_rc(rc, want);
	assert_true(fstat(fd, &st) == 0);
	*len = (size_t)st.st_size;
	buf = malloc(*len);
	assert_non_null(buf);
	assert_num_equal(pread(fd, buf, *len, 0), st.st_size);
	close(fd);
	return buf;
}

/* What pscope_diag_netlink writes to DUMP_FD replays to the same sockets. */
static void test_netlink_dump_replay(void **state)
{
	struct live l;
	struct collected c, r;
	struct pscope_diag_filter f = { .port = -1 };
	uint8_t *buf;
	size_t len;

	(void)state;
	live_open(&l);
	f.port = l.port;
	buf = record_live(&f, &c, 3, &len);
	live_close(&l);
	memset(&r, 0, sizeof(r));
	assert_rc(pscope_diag_replay(buf, len, &f, collect, &r, NULL), 3);
	free(buf);
	assert_num_equal(r.n, 3);
	for (size_t i = 0; i < 3; i++)
		assert_memory_equal(&r.s[i], &c.s[i], sizeof(r.s[i]));
}

/*
 * TCP of both families is one compat request (TCPDIAG_GETSOCK, family AF_UNSPEC;
 * inet_diag_dump_compat()), its replies of that type; one family asked for is one
 * SOCK_DIAG_BY_FAMILY request.  A replay refuses a compat request of another
 * family, and a reply whose type is not its request's.
 */
static void test_netlink_compat_request(void **state)
{
	struct live l;
	struct collected c, r;
	struct pscope_diag_filter f = { .port = -1 };
	struct nlmsghdr h, reply;
	struct inet_diag_req req;
	uint8_t *buf;
	size_t len;

	(void)state;
	live_open(&l);
	f.port = l.port;
	buf = record_live(&f, &c, 3, &len);
	memcpy(&h, buf, sizeof(h));
	assert_num_equal(h.nlmsg_type, TCPDIAG_GETSOCK);
	assert_true(h.nlmsg_flags & NLM_F_REQUEST);
	memcpy(&req, buf + NLMSG_HDRLEN, sizeof(req));
	assert_num_equal(req.idiag_family, AF_UNSPEC);
	/* The first reply, a socket, has the request's type. */
	memcpy(&reply, buf + NLMSG_ALIGN(h.nlmsg_len), sizeof(reply));
	assert_num_equal(reply.nlmsg_type, TCPDIAG_GETSOCK);
	/* A compat request of family AF_INET is not one pscope_diag_netlink() makes. */
	buf[NLMSG_HDRLEN] = AF_INET;
	memset(&r, 0, sizeof(r));
	assert_rc(pscope_diag_replay(buf, len, &f, collect, &r, NULL), -PSCOPE_E_NL_REQUEST);
	buf[NLMSG_HDRLEN] = AF_UNSPEC;
	/* A reply of the other request's type. */
	reply.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	memcpy(buf + NLMSG_ALIGN(h.nlmsg_len), &reply, sizeof(reply));
	memset(&r, 0, sizeof(r));
	assert_rc(pscope_diag_replay(buf, len, &f, collect, &r, NULL), -PSCOPE_E_NL_TYPE);
	free(buf);
	/* One family: the per-family request. */
	f.families = PSCOPE_DIAG_V4;
	buf = record_live(&f, &c, 3, &len);
	memcpy(&h, buf, sizeof(h));
	free(buf);
	assert_num_equal(h.nlmsg_type, SOCK_DIAG_BY_FAMILY);
	live_close(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay_good_port),
		cmocka_unit_test(test_replay_good_all),
		cmocka_unit_test(test_replay_filters),
		cmocka_unit_test(test_replay_every_prefix),
		cmocka_unit_test(test_replay_empty),
		cmocka_unit_test(test_replay_cancel),
		cmocka_unit_test(test_replay_udp_enoent),
		cmocka_unit_test(test_replay_dump_intr_restart),
		cmocka_unit_test(test_replay_dump_intr_last),
		cmocka_unit_test(test_replay_first_dump),
		BAD("bad-trunc-msg", -PSCOPE_E_NL_TRUNC),
		BAD("bad-trunc-header", -PSCOPE_E_NL_TRUNC),
		BAD("bad-len-over", -PSCOPE_E_NL_TRUNC),
		BAD("bad-len-under", -PSCOPE_E_NL_TRUNC),
		BAD("bad-len-zero", -PSCOPE_E_NL_TRUNC),
		BAD("bad-short-diag", -PSCOPE_E_NL_SHORT),
		BAD("bad-eperm", -EPERM),
		BAD("bad-tcp-enoent", -ENOENT),
		BAD("bad-error-ack", -PSCOPE_E_NL_TYPE),
		BAD("bad-error-short", -PSCOPE_E_NL_SHORT),
		BAD("bad-foreign-seq", -PSCOPE_E_NL_FOREIGN),
		BAD("bad-reply-first", -PSCOPE_E_NL_FOREIGN),
		BAD("bad-no-done", -PSCOPE_E_NL_NODONE),
		BAD("bad-no-done-mid", -PSCOPE_E_NL_NODONE),
		BAD("bad-attr-len2", -PSCOPE_E_NL_ATTR),
		BAD("bad-attr-long", -PSCOPE_E_NL_ATTR),
		BAD("bad-family", -PSCOPE_E_NL_FAMILY),
		BAD("bad-done-error", -EMSGSIZE),
		BAD("bad-unknown-type", -PSCOPE_E_NL_TYPE),
		BAD("bad-after-done", -PSCOPE_E_NL_TYPE),
		BAD("bad-request-family", -PSCOPE_E_NL_REQUEST),
		BAD("bad-request-seq", -PSCOPE_E_NL_REQUEST),
		BAD("bad-request-short", -PSCOPE_E_NL_REQUEST),
		cmocka_unit_test(test_match_port),
		cmocka_unit_test(test_match_addr),
		cmocka_unit_test(test_match_addr_scope),
		cmocka_unit_test(test_match_states_families),
		cmocka_unit_test(test_state_mask),
		cmocka_unit_test(test_state_mask_ss),
		cmocka_unit_test(test_replay_states_placeholders),
		cmocka_unit_test(test_state_name),
		cmocka_unit_test(test_local_peer),
		cmocka_unit_test(test_netlink_live),
		cmocka_unit_test(test_netlink_dump_replay),
		cmocka_unit_test(test_netlink_compat_request),
		cmocka_unit_test(test_replay_compat_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
