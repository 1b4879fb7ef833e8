/* serve --proxy-protocol: a header at the start of every connection (see ppserve.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cli.h"
#include "portscope/loop.h"
#include "pp.h"
#include "ppserve.h"

/* Log lines of refused headers a second; past that they are only counted. */
#define LOG_PER_SEC 20

/* What the header said, kept for --keep's answers: 40 bytes. */
struct pp_seen {
	uint8_t version;	/* 0: none */
	uint8_t command;
	uint8_t family;		/* AF_INET, AF_INET6, or 0: no addresses */
	uint8_t proto;		/* index in proto_names */
	uint16_t sport, dport;	/* network order */
	uint8_t src[16], dst[16];
};

/*
 * The bytes of a header read off the stream: for a connection the kernel
 * woke although fewer bytes than SO_RCVLOWAT were queued (see drain()).
 */
struct pp_held {
	size_t have;
	uint8_t data[];		/* the cap's size */
};

/* A connection: waiting for its header (in the list), or past it (SEEN holds what it said). */
struct pp_conn {
	int32_t prev, next;	/* the waiting list, by descriptor; -1: none */
	uint32_t deadline;	/* pscope_now_ms(), low 32 bits */
	uint8_t li;		/* the listener */
	uint8_t waiting : 1;
	uint8_t lowat : 1;	/* SO_RCVLOWAT was raised */
	struct pp_seen seen;
	struct pp_held *held;	/* NULL unless the header is being read off (drain()) */
};

static const char *const proto_names[] = { "tcp4", "tcp6", "udp4", "udp6", "unix_stream",
					   "unix_dgram", "unspec", "unknown" };

void pp_opts_init(struct pp_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max = PSCOPE_PROXY_DEFAULT_MAX;
	o->timeout_ms = 3000;
	pp_parse_from(o, "127.0.0.0/8,::1/128");
}

int pp_parse_versions(struct pp_opts *o, const char *arg)
{
	if (!strcmp(arg, "v1"))
		o->accept = PSCOPE_PROXY_V1;
	else if (!strcmp(arg, "v2"))
		o->accept = PSCOPE_PROXY_V2;
	else if (!strcmp(arg, "any"))
		o->accept = PSCOPE_PROXY_ANY;
	else
		return cli_usage_error("bad --proxy-protocol '%s': use v1, v2 or any", arg), -1;
	return 0;
}

/* One "ADDR[/BITS]" of LEN bytes.  Returns 0 or -1. */
static int parse_cidr(const char *s, size_t len, struct pp_cidr *c)
{
	char text[64];
	const char *slash;
	unsigned long bits;
	char *end;

	if (len == 0 || len >= sizeof(text))
		return -1;
	memcpy(text, s, len);
	text[len] = '\0';
	slash = strchr(text, '/');
	if (slash)
		text[slash - text] = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, text, c->addr) == 1)
		c->family = AF_INET;
	else if (inet_pton(AF_INET6, text, c->addr) == 1)
		c->family = AF_INET6;
	else
		return -1;
	bits = c->family == AF_INET ? 32 : 128;
	if (slash) {
		/* Decimal digits only: strtoul would take " 8", "+8" and "-0". */
		if (strspn(slash + 1, "0123456789") != strlen(slash + 1) || strlen(slash + 1) > 3)
			return -1;
		errno = 0;
		bits = strtoul(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || bits > (c->family == AF_INET ? 32u : 128u))
			return -1;
	}
	c->bits = (unsigned)bits;
	return 0;
}

int pp_parse_from(struct pp_opts *o, const char *arg)
{
	const char *p = arg;

	o->nfrom = 0;
	snprintf(o->from_text, sizeof(o->from_text), "%s", arg);
	for (;;) {
		size_t len = strcspn(p, ",");

		if (o->nfrom == PP_MAX_FROM)
			return cli_usage_error("bad --proxy-from '%s': at most %d networks", arg,
					       PP_MAX_FROM), -1;
		if (parse_cidr(p, len, &o->from[o->nfrom]) < 0)
			return cli_usage_error("bad --proxy-from '%s': '%.*s' is not ADDRESS or "
					       "ADDRESS/BITS (127.0.0.0/8, ::1/128)", arg, (int)len, p), -1;
		o->nfrom++;
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

static bool prefix_match(const uint8_t *a, const uint8_t *net, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(a, net, whole))
		return false;
	return !rest || ((a[whole] ^ net[whole]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/*
 * One rule for both families: an IPv4 address is the IPv6 address
 * ::ffff:a.b.c.d (RFC 4291 2.5.5.2), and an IPv4 network a.b.c.d/N the
 * network ::ffff:a.b.c.d/(96+N).  So 127.0.0.0/8 takes ::ffff:127.0.0.1 (a
 * peer of a dual-stack listener), and ::ffff:127.0.0.1 or ::/0 take
 * 127.0.0.1 (a peer of an IPv4 listener).
 */
bool pp_from_allowed(const struct pp_opts *o, const struct pscope_addr *a)
{
	uint8_t v6[16] = { [10] = 0xff, [11] = 0xff };

	if (a->u.sa.sa_family == AF_INET)
		memcpy(v6 + 12, &a->u.sin.sin_addr, 4);
	else if (a->u.sa.sa_family == AF_INET6)
		memcpy(v6, a->u.sin6.sin6_addr.s6_addr, 16);
	else
		return false;
	for (size_t i = 0; i < o->nfrom; i++) {
		const struct pp_cidr *c = &o->from[i];
		uint8_t net[16] = { [10] = 0xff, [11] = 0xff };

		if (c->family == AF_INET) {
			memcpy(net + 12, c->addr, 4);
			if (prefix_match(v6, net, 96 + c->bits))
				return true;
		} else if (prefix_match(v6, c->addr, c->bits)) {
			return true;
		}
	}
	return false;
}

static uint32_t now32(void)
{
	return (uint32_t)pscope_now_ms();
}

static int32_t ms_until(uint32_t at, uint32_t now)
{
	return (int32_t)(at - now);
}

int pp_init(struct pp_table *t, struct pscope_loop *loop, const struct pp_opts *o, pp_done_fn *done,
	    pp_fail_fn *fail, void *arg)
{
	memset(t, 0, sizeof(*t));
	t->o = o;
	t->loop = loop;
	t->done = done;
	t->fail = fail;
	t->arg = arg;
	t->head = t->tail = -1;
	t->timer = -1;
	t->log_timer = -1;
	t->buf = malloc(o->max);
	return t->buf ? 0 : -ENOMEM;
}

void pp_free(struct pp_table *t)
{
	for (size_t fd = 0; fd < t->size; fd++)
		free(t->c[fd].held);
	free(t->c);
	free(t->buf);
	t->c = NULL;
	t->buf = NULL;
	t->size = 0;
}

static int grow(struct pp_table *t, int fd)
{
	return CLI_RESERVE(t->c, t->size, (size_t)fd, 1024, true);
}

/* Takes FD out of the waiting list. */
static void unlink_fd(struct pp_table *t, int fd)
{
	struct pp_conn *c = &t->c[fd];

	if (!c->waiting)
		return;
	if (c->prev >= 0)
		t->c[c->prev].next = c->next;
	else
		t->head = c->next;
	if (c->next >= 0)
		t->c[c->next].prev = c->prev;
	else
		t->tail = c->prev;
	c->waiting = 0;
}

static void drop_held(struct pp_conn *c)
{
	free(c->held);
	c->held = NULL;
}

void pp_flush_log(struct pp_table *t)
{
	if (t->unlogged)
		cli_warn("%llu more connection%s refused for %s PROXY header in the last second "
			 "(not shown)", t->unlogged, t->unlogged == 1 ? "" : "s",
			 t->unlogged == 1 ? "its" : "their");
	t->unlogged = 0;
}

/* The second after lines were left out: says how many, even if no refusal follows. */
static long long on_log_second(struct pscope_loop *l, long long id, void *arg)
{
	struct pp_table *t = arg;

	(void)l;
	(void)id;
	t->log_timer = -1;
	pp_flush_log(t);
	return -1;
}

/* "PEER: WHAT: closed" on stderr, at most LOG_PER_SEC lines a second (the rest counted). */
static void log_refused(struct pp_table *t, int fd, const char *what)
{
	long long now = pscope_now_ms(), sec = now / 1000;
	char peer[PSCOPE_ADDRSTRLEN] = "?";
	struct pscope_addr a;

	if (sec != t->log_sec) {
		pp_flush_log(t);
		t->log_sec = sec;
		t->log_n = 0;
	}
	if (++t->log_n > LOG_PER_SEC) {
		/* Counted; said when the second is over (a timer), at the next refusal, or at exit. */
		if (!t->unlogged++ && t->log_timer < 0)
			t->log_timer = pscope_loop_timer(t->loop, (sec + 1) * 1000 - now + 1,
							 on_log_second, t);
		return;
	}
	if (pscope_sock_peer(fd, &a) == 0)
		pscope_addr_format(&a, peer, sizeof(peer));
	cli_warn("%s: %s: closed", peer, what);
}

/* Refuses FD for END: logged, counted, closed by the server. */
static void refuse(struct pp_table *t, int fd, enum pp_end end)
{
	unlink_fd(t, fd);
	drop_held(&t->c[fd]);
	pscope_loop_forget(t->loop, fd);
	t->ended[end]++;
	t->fail(t->arg, fd);
}

static uint8_t proto_index(const struct pscope_proxy_hdr *h)
{
	const char *name = pp_proto_name(h);

	for (uint8_t i = 0; i < sizeof(proto_names) / sizeof(proto_names[0]); i++)
		if (!strcmp(proto_names[i], name))
			return i;
	return 6;	/* "unspec"; every name pp_proto_name gives is listed */
}

static void remember(struct pp_conn *c, const struct pscope_proxy_hdr *h)
{
	struct pp_seen *s = &c->seen;

	memset(s, 0, sizeof(*s));
	s->version = h->version;
	s->command = h->command;
	s->proto = proto_index(h);
	if (h->src.len && h->dst.len && h->src.u.sa.sa_family == AF_INET) {
		s->family = AF_INET;
		memcpy(s->src, &h->src.u.sin.sin_addr, 4);
		memcpy(s->dst, &h->dst.u.sin.sin_addr, 4);
		s->sport = h->src.u.sin.sin_port;
		s->dport = h->dst.u.sin.sin_port;
	} else if (h->src.len && h->dst.len && h->src.u.sa.sa_family == AF_INET6) {
		s->family = AF_INET6;
		memcpy(s->src, &h->src.u.sin6.sin6_addr, 16);
		memcpy(s->dst, &h->dst.u.sin6.sin6_addr, 16);
		s->sport = h->src.u.sin6.sin6_port;
		s->dport = h->dst.u.sin6.sin6_port;
	}
}

static void seen_addr(int family, const uint8_t *addr, uint16_t port, struct pscope_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (family == AF_INET) {
		a->len = sizeof(struct sockaddr_in);
		a->u.sin.sin_family = AF_INET;
		memcpy(&a->u.sin.sin_addr, addr, 4);
		a->u.sin.sin_port = port;
	} else if (family == AF_INET6) {
		a->len = sizeof(struct sockaddr_in6);
		a->u.sin6.sin6_family = AF_INET6;
		memcpy(&a->u.sin6.sin6_addr, addr, 16);
		a->u.sin6.sin6_port = port;
	}
}

void pp_whoami_of(const struct pp_table *t, int fd, struct pscope_whoami *w)
{
	const struct pp_seen *s;

	if (fd < 0 || (size_t)fd >= t->size || !t->c[fd].seen.version)
		return;
	s = &t->c[fd].seen;
	w->pp = s->version;
	w->pp_command = s->command;
	snprintf(w->pp_proto, sizeof(w->pp_proto), "%s", proto_names[s->proto]);
	if (s->command == PSCOPE_PROXY_PROXY) {
		seen_addr(s->family, s->src, s->sport, &w->src);
		seen_addr(s->family, s->dst, s->dport, &w->dst);
	}
}

/* The header is whole: N bytes.  Takes them off the stream and hands the connection on. */
static void header_done(struct pp_table *t, int fd, size_t n, const struct pscope_proxy_hdr *h)
{
	struct pp_conn *c = &t->c[fd];
	ssize_t got;
	int one = 1;

	/* The bytes are the ones peeked, so the decoded header (pointing into T->buf) stays true. */
	do
		got = recv(fd, t->buf, n, MSG_DONTWAIT | MSG_WAITALL);
	while (got < 0 && errno == EINTR);
	if (got != (ssize_t)n) {
		refuse(t, fd, PP_CLOSED);
		return;
	}
	if (c->lowat)
		setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
	unlink_fd(t, fd);
	remember(c, h);
	t->done(t->arg, fd, c->li, h);
}

/* Refuses FD for the parser's ERR on BUF[0..LEN): the reason, with the option it comes from. */
static void refuse_bad(struct pp_table *t, int fd, int err, const uint8_t *buf, size_t len)
{
	char what[256], why[96] = "";

	if (err == -PSCOPE_PROXY_E_TOO_BIG)
		snprintf(why, sizeof(why), ": --proxy-max %zu", t->o->max);
	else if (err == -PSCOPE_PROXY_E_NOT_ACCEPTED)
		snprintf(why, sizeof(why), ": version %c sent, --proxy-protocol v%u",
			 buf[0] == 'P' ? '1' : '2', t->o->accept == PSCOPE_PROXY_V1 ? 1u : 2u);
	snprintf(what, sizeof(what), "bad PROXY header: %s%s (%zu bytes received)",
		 pscope_proxy_strerror(err), why, len);
	log_refused(t, fd, what);
	refuse(t, fd, PP_BAD);
}

/* recv(2) of exactly N bytes that a peek showed are queued: true if all came. */
static bool take(int fd, uint8_t *buf, size_t n)
{
	ssize_t got;

	do
		got = recv(fd, buf, n, MSG_DONTWAIT | MSG_WAITALL);
	while (got < 0 && errno == EINTR);
	return got == (ssize_t)n;
}

/*
 * The kernel woke the loop although fewer bytes than SO_RCVLOWAT are queued:
 * Linux's TCP poll (tcp_stream_is_readable, tcp_epollin_ready in
 * include/net/tcp.h) reports a socket readable below its low-water mark
 * when its receive queue uses more than 7/8 of its receive buffer
 * (tcp_rmem_pressure: small segments cost far more memory than their
 * bytes) or when the receive window is down to less than one MSS.  Peeking
 * takes nothing off, so the level-triggered loop would be woken again at
 * once, and a header longer than the queue can hold would never be whole
 * (the window stays closed).  Such a connection's header is read off the
 * stream instead, into a buffer of its own of the cap's size: each wake
 * takes every queued byte that belongs to the header (while the header is
 * not whole, all of them do), and once it is whole, exactly its rest.
 */
static void drain(struct pp_table *t, int fd, uint32_t events)
{
	struct pp_conn *c = &t->c[fd];
	struct pscope_proxy_parser p;
	struct pscope_proxy_hdr h;
	char what[256];
	ssize_t got, rc;
	int one = 1;

	if (!c->held) {
		c->held = malloc(sizeof(*c->held) + t->o->max);
		if (!c->held) {
			log_refused(t, fd, "no memory for the rest of the PROXY header");
			refuse(t, fd, PP_BAD);
			return;
		}
		c->held->have = 0;
		/* The queue is emptied on each wake from now on: readable means a byte. */
		setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
		c->lowat = 0;
	}
	do
		got = recv(fd, c->held->data + c->held->have, t->o->max - c->held->have,
			   MSG_PEEK | MSG_DONTWAIT);
	while (got < 0 && errno == EINTR);
	if (got < 0 && errno == EAGAIN)
		return;
	if (got <= 0) {
		snprintf(what, sizeof(what), "%s after %zu bytes, before a whole PROXY header",
			 got < 0 ? strerror(errno) : "closed by the client", c->held->have);
		log_refused(t, fd, what);
		refuse(t, fd, PP_CLOSED);
		return;
	}
	pscope_proxy_parser_init(&p, t->o->accept, t->o->max);
	rc = pscope_proxy_parse(&p, c->held->data, c->held->have + (size_t)got, &h);
	if (rc < 0) {
		refuse_bad(t, fd, (int)rc, c->held->data, c->held->have + (size_t)got);
		return;
	}
	/* Not whole: every byte peeked is the header's.  Whole: its rest only. */
	got = rc > 0 ? rc - (ssize_t)c->held->have : got;
	if (!take(fd, c->held->data + c->held->have, (size_t)got)) {
		refuse(t, fd, PP_CLOSED);
		return;
	}
	c->held->have += (size_t)got;
	if (rc > 0) {
		struct pp_held *held = c->held;	/* H points into it */

		c->held = NULL;
		unlink_fd(t, fd);
		remember(c, &h);
		t->done(t->arg, fd, c->li, &h);
		free(held);
		return;
	}
	if (events & (PSCOPE_EV_RDHUP | PSCOPE_EV_HUP | PSCOPE_EV_ERROR)) {
		snprintf(what, sizeof(what), "closed by the client after %zu bytes, before a whole "
			 "PROXY header", c->held->have);
		log_refused(t, fd, what);
		refuse(t, fd, PP_CLOSED);
	}
}

/* FD is readable (or closed): peek, parse from the start, and decide. */
static void on_readable(struct pscope_loop *l, int fd, uint32_t events, void *arg)
{
	struct pp_table *t = arg;
	struct pscope_proxy_parser p;
	struct pscope_proxy_hdr h;
	char what[256];
	ssize_t got, rc;
	int lowat;
	socklen_t optlen = sizeof(lowat);

	(void)l;
	if (fd < 0 || (size_t)fd >= t->size || !t->c[fd].waiting)
		return;
	if (t->c[fd].held) {
		drain(t, fd, events);
		return;
	}
	do
		got = recv(fd, t->buf, t->o->max, MSG_PEEK | MSG_DONTWAIT);
	while (got < 0 && errno == EINTR);
	if (got < 0 && errno == EAGAIN)
		return;
	if (got <= 0) {
		/* Nothing at all, then the end: a port check, not a bad header; a reset is said. */
		if (got < 0) {
			snprintf(what, sizeof(what), "%s before a PROXY header", strerror(errno));
			log_refused(t, fd, what);
		}
		refuse(t, fd, PP_CLOSED);
		return;
	}
	pscope_proxy_parser_init(&p, t->o->accept, t->o->max);
	rc = pscope_proxy_parse(&p, t->buf, (size_t)got, &h);
	if (rc > 0) {
		header_done(t, fd, (size_t)rc, &h);
		return;
	}
	if (rc < 0) {
		refuse_bad(t, fd, (int)rc, t->buf, (size_t)got);
		return;
	}
	if (events & (PSCOPE_EV_RDHUP | PSCOPE_EV_HUP | PSCOPE_EV_ERROR)) {
		/* The rest can never come; the peeked bytes would keep the socket readable. */
		snprintf(what, sizeof(what), "closed by the client after %zd bytes, before a whole "
			 "PROXY header", got);
		log_refused(t, fd, what);
		refuse(t, fd, PP_CLOSED);
		return;
	}
	/* Woken below the low-water mark set before: the kernel's pressure, see drain(). */
	if (t->c[fd].lowat && getsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, &optlen) == 0 &&
	    got < lowat) {
		drain(t, fd, events);
		return;
	}
	/* Not whole yet: wake again only when more than what was peeked is there. */
	lowat = (int)got + 1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat)) < 0) {
		snprintf(what, sizeof(what), "cannot wait for the rest of the PROXY header: %s",
			 strerror(errno));
		log_refused(t, fd, what);
		refuse(t, fd, PP_BAD);
		return;
	}
	t->c[fd].lowat = 1;
}

/* The head's deadline: refuses every connection whose header is late. */
static long long on_deadline(struct pscope_loop *l, long long id, void *arg)
{
	struct pp_table *t = arg;
	uint32_t now = now32();
	char what[64];

	(void)l;
	(void)id;
	while (t->head >= 0 && ms_until(t->c[t->head].deadline, now) <= 0) {
		int fd = t->head;

		snprintf(what, sizeof(what), "no whole PROXY header within %g s",
			 t->o->timeout_ms / 1000.0);
		log_refused(t, fd, what);
		refuse(t, fd, PP_SLOW);
	}
	if (t->head < 0) {
		t->timer = -1;
		return -1;
	}
	return ms_until(t->c[t->head].deadline, now);
}

int pp_add(struct pp_table *t, int fd, unsigned li, const struct pscope_addr *from)
{
	struct pp_conn *c;
	int rc;

	if ((size_t)fd >= t->size && (rc = grow(t, fd)) < 0)
		return rc;
	c = &t->c[fd];
	memset(c, 0, sizeof(*c));
	if (!pp_from_allowed(t->o, from)) {
		char what[320];

		snprintf(what, sizeof(what), "not in --proxy-from %s: no PROXY header is taken "
			 "from it", t->o->from_text);
		log_refused(t, fd, what);
		t->ended[PP_NOT_FROM]++;
		return -EACCES;
	}
	rc = pscope_loop_watch(t->loop, fd, PSCOPE_EV_READ | PSCOPE_EV_RDHUP, on_readable, t);
	if (rc < 0)
		return rc;
	*c = (struct pp_conn){ .prev = t->tail, .next = -1, .li = (uint8_t)li, .waiting = 1,
			       .deadline = now32() + (uint32_t)t->o->timeout_ms };
	if (t->tail >= 0)
		t->c[t->tail].next = fd;
	else
		t->head = fd;
	t->tail = fd;
	if (t->timer < 0) {
		t->timer = pscope_loop_timer(t->loop, t->o->timeout_ms, on_deadline, t);
		if (t->timer < 0) {
			unlink_fd(t, fd);
			pscope_loop_forget(t->loop, fd);
			return (int)t->timer;
		}
	}
	return 0;
}

const char *pp_end_name(enum pp_end end)
{
	static const char *const names[PP_NENDS] = {
		[PP_NOT_FROM] = "refused: not from --proxy-from",
		[PP_BAD] = "refused: bad PROXY header",
		[PP_SLOW] = "refused: no PROXY header in time",
		[PP_CLOSED] = "closed before a whole PROXY header",
	};

	return (unsigned)end < PP_NENDS ? names[end] : "?";
}

/* The README says so. */
_Static_assert(sizeof(struct pp_conn) == 64, "64 bytes per connection with --proxy-protocol");
