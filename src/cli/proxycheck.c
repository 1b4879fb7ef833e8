/*
 * portscope proxycheck: runs a table of PROXY protocol headers (HAProxy's
 * doc/proxy-protocol.txt), good and bad, whole and in pieces, against a
 * receiver and says, case by case, what it did: served (it answered), closed,
 * reset, or kept the connection open without a word until the deadline.  One
 * connection per case, one case at a time, only to the address the user
 * wrote; every wait is a poll(2) with a deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "pp.h"

static const char usage[] =
	"usage: portscope proxycheck [OPTIONS] ENDPOINT\n"
	"\n"
	"Probes a receiver of the PROXY protocol (HAProxy's accept-proxy, nginx's\n"
	"'listen ... proxy_protocol', a server behind a load balancer) with a table of\n"
	"headers, version 1 and 2, good and bad, whole and split with pauses, and says\n"
	"what it did with each: served (it answered: its first line is shown), closed,\n"
	"reset, or timed out (open and silent).  One connection per case, one at a time,\n"
	"to ENDPOINT only.  Each header says the client is 192.0.2.1 (TEST-NET-1), port\n"
	"50000 + the case's number, so a reply or a log line that shows it names the case.\n"
	"\n"
	"Options:\n"
	"  -f, --format F     text (the default: a table) or json (one object)\n"
	"  -w, --wait SECS    give up connecting after SECS (default 5)\n"
	"  -r, --reply-wait SECS  wait SECS for an answer in each case (default 2)\n"
	"  --silent-wait SECS how long the client that sends nothing waits to be\n"
	"                     closed (default 5)\n"
	"  --pause SECS       pause between the pieces of a split header (default 0.2)\n"
	"      --case NAME    run only this case (repeatable)\n"
	"      --list         list the cases and exit\n"
	"  -4, -6             resolve ENDPOINT to IPv4 or IPv6 only\n"
	"  -h, --help         show this help\n"
	"\n"
	"Each case has what the specification expects: accept, refuse (close or reset),\n"
	"either, or close (a header deadline); the verdict is 'ok' or 'differs'.\n"
	"A receiver that answers with a portscope/1 line without pp= took no header\n"
	"(it read the header's bytes as data, or none): 'differs', whatever was expected.\n"
	"Exit status: 0 when every case ran, whatever the receiver did; 2 on a bad\n"
	"command line; when a case cannot connect, the run stops there with connect's\n"
	"words and status: 3 refused, 4 unreachable, 5 timed out, 1 another failure.\n";

enum expect { EXPECT_ACCEPT, EXPECT_REFUSE, EXPECT_EITHER, EXPECT_CLOSE };
static const char *const expect_name[] = { "accept", "refuse", "either", "close" };

enum result { R_SERVED, R_CLOSED, R_RESET, R_TIMEOUT, R_CONNECT };
static const char *const result_name[] = { "served", "closed", "reset", "timed out",
					    "no connection" };

#define MAX_PIECES 3
#define MAX_CASE_BYTES 4200
#define REPLY_MAX 512

struct pcase {
	const char *name;
	const char *what;
	enum expect expect;
};

/* The table.  The header of case I is made by make_case(I). */
static const struct pcase cases[] = {
	{ "v1", "v1 TCP4, whole", EXPECT_ACCEPT },
	{ "v1-unknown", "v1 UNKNOWN", EXPECT_ACCEPT },
	{ "v2", "v2 PROXY TCP4, whole", EXPECT_ACCEPT },
	{ "v2-split-1", "v2 split after byte 1", EXPECT_ACCEPT },
	{ "v2-split-12", "v2 split after byte 12 (the signature)", EXPECT_ACCEPT },
	{ "v2-split-14", "v2 split after byte 14 (family)", EXPECT_ACCEPT },
	{ "v2-split-16", "v2 split after byte 16 (length)", EXPECT_ACCEPT },
	{ "v2-3-pieces", "v2 in three pieces (after 5, 20)", EXPECT_ACCEPT },
	{ "v2-with-data", "v2 and first data in one segment", EXPECT_ACCEPT },
	{ "v2-local", "v2 LOCAL, no addresses", EXPECT_ACCEPT },
	{ "v2-local-addr", "v2 LOCAL with TCP4 addresses", EXPECT_ACCEPT },
	{ "v2-unspec", "v2 PROXY, AF_UNSPEC, no addresses", EXPECT_EITHER },
	{ "v2-tcp6-mapped", "v2 TCP6, IPv4-mapped addresses", EXPECT_ACCEPT },
	{ "v2-tlv-empty", "v2, a zero-length TLV (NOOP)", EXPECT_ACCEPT },
	{ "v2-tlv-unknown", "v2, an unassigned TLV type (0x5a)", EXPECT_ACCEPT },
	{ "v2-crc-good", "v2, a correct CRC32C TLV", EXPECT_ACCEPT },
	{ "v2-crc-bad", "v2, a wrong CRC32C TLV", EXPECT_EITHER },
	{ "v2-108", "v2 of 108 bytes (v1's longest + 1)", EXPECT_ACCEPT },
	{ "v2-4095", "v2 of 4095 bytes (a NOOP TLV)", EXPECT_ACCEPT },
	{ "v2-4097", "v2 of 4097 bytes (a NOOP TLV)", EXPECT_EITHER },
	{ "no-header", "data without a header", EXPECT_REFUSE },
	{ "v1-lf", "v1 line ended by LF alone", EXPECT_REFUSE },
	{ "v1-port", "v1 with source port 65536", EXPECT_REFUSE },
	{ "v2-tlv-overrun", "v2, a TLV past the header's end", EXPECT_EITHER },
	{ "silent", "connects and sends nothing", EXPECT_CLOSE },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* What a case sends: BYTES in pieces that end at CUT[0..NCUT) and at LEN. */
struct sent {
	uint8_t bytes[MAX_CASE_BYTES];
	size_t len;
	size_t cut[MAX_PIECES - 1];
	int ncut;
	char src[PSCOPE_ADDRSTRLEN];	/* the source the header names, as text; "" if none */
};

struct outcome {
	enum result result;
	double after_s;		/* from the last byte sent to the result */
	char reply[REPLY_MAX];	/* the answer's first line, as received */
	size_t reply_len;
	int err;		/* the errno of a reset or a failed connect */
	bool names_src;		/* the answer holds the header's source address */
	bool no_header;		/* the answer is a portscope/1 line without PROXY keys */
	bool ok;
};

struct opts {
	bool json, list, help;
	int wait_ms, reply_ms, silent_ms, pause_ms;
	bool only[NCASES];
	bool any_only;
};

static const char test_net_src[] = "192.0.2.1";	/* RFC 5737 */
static const char test_net_dst[] = "192.0.2.2";
#define DST_PORT 443
#define SRC_PORT_BASE 50000

static int case_index(const char *name)
{
	for (size_t i = 0; i < NCASES; i++)
		if (!strcmp(cases[i].name, name))
			return (int)i;
	return -1;
}

static void set_v4(struct pscope_proxy_hdr *h, uint16_t sport)
{
	h->family = PSCOPE_PROXY_AF_INET;
	h->transport = PSCOPE_PROXY_STREAM;
	h->src.len = h->dst.len = sizeof(struct sockaddr_in);
	h->src.u.sin.sin_family = h->dst.u.sin.sin_family = AF_INET;
	inet_pton(AF_INET, test_net_src, &h->src.u.sin.sin_addr);
	inet_pton(AF_INET, test_net_dst, &h->dst.u.sin.sin_addr);
	h->src.u.sin.sin_port = htons(sport);
	h->dst.u.sin.sin_port = htons(DST_PORT);
}

static void set_v6_mapped(struct pscope_proxy_hdr *h, uint16_t sport)
{
	char s[64], d[64];

	snprintf(s, sizeof(s), "::ffff:%s", test_net_src);
	snprintf(d, sizeof(d), "::ffff:%s", test_net_dst);
	h->family = PSCOPE_PROXY_AF_INET6;
	h->transport = PSCOPE_PROXY_STREAM;
	h->src.len = h->dst.len = sizeof(struct sockaddr_in6);
	h->src.u.sin6.sin6_family = h->dst.u.sin6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, s, &h->src.u.sin6.sin6_addr);
	inet_pton(AF_INET6, d, &h->dst.u.sin6.sin6_addr);
	h->src.u.sin6.sin6_port = htons(sport);
	h->dst.u.sin6.sin6_port = htons(DST_PORT);
}

static ssize_t build(const struct pscope_proxy_hdr *h, bool crc, struct sent *s)
{
	ssize_t n = pscope_proxy_build(h, crc, s->bytes, sizeof(s->bytes));

	if (n > 0)
		s->len = (size_t)n;
	return n;
}

static void append(struct sent *s, const void *data, size_t len)
{
	memcpy(s->bytes + s->len, data, len);
	s->len += len;
}

/* A v2 header of exactly TOTAL bytes: TCP4 and one NOOP TLV that fills the rest. */
static void sized_v2(struct pscope_proxy_hdr *h, size_t total, struct sent *s)
{
	static const uint8_t zeroes[MAX_CASE_BYTES];

	pscope_proxy_add_tlv(h, PSCOPE_PP2_TYPE_NOOP, zeroes,
			     (uint16_t)(total - PSCOPE_PROXY_V2_FIXED - 12 - 3));
	build(h, false, s);
}

/* Fills S with case I's bytes and its pieces. */
static void make_case(size_t i, struct sent *s)
{
	static const char request[] = "GET / HTTP/1.0\r\n\r\n";
	struct pscope_proxy_hdr h;
	const char *name = cases[i].name;
	uint16_t sport = (uint16_t)(SRC_PORT_BASE + i + 1);
	char line[128];

	memset(s, 0, sizeof(*s));
	pscope_proxy_hdr_init(&h);
	h.version = 2;
	h.command = PSCOPE_PROXY_PROXY;
	set_v4(&h, sport);
	snprintf(s->src, sizeof(s->src), "%s:%u", test_net_src, sport);
	if (!strcmp(name, "v2")) {
		build(&h, false, s);
	} else if (!strcmp(name, "v1") || !strcmp(name, "v1-unknown")) {
		h.version = 1;
		if (!strcmp(name, "v1-unknown"))
			h.family = PSCOPE_PROXY_AF_UNSPEC, s->src[0] = '\0';
		build(&h, false, s);
	} else if (!strncmp(name, "v2-split-", 9)) {
		build(&h, false, s);
		s->cut[0] = (size_t)atoi(name + 9);
		s->ncut = 1;
	} else if (!strcmp(name, "v2-3-pieces")) {
		build(&h, false, s);
		s->cut[0] = 5, s->cut[1] = 20, s->ncut = 2;
	} else if (!strcmp(name, "v2-with-data")) {
		build(&h, false, s);
		append(s, request, sizeof(request) - 1);
	} else if (!strcmp(name, "v2-local") || !strcmp(name, "v2-unspec")) {
		h.command = !strcmp(name, "v2-local") ? PSCOPE_PROXY_LOCAL : PSCOPE_PROXY_PROXY;
		h.family = PSCOPE_PROXY_AF_UNSPEC;
		h.transport = PSCOPE_PROXY_TRANSPORT_UNSPEC;
		s->src[0] = '\0';
		build(&h, false, s);
	} else if (!strcmp(name, "v2-local-addr")) {
		h.command = PSCOPE_PROXY_LOCAL;
		s->src[0] = '\0';	/* a receiver must not take it */
		build(&h, false, s);
	} else if (!strcmp(name, "v2-tcp6-mapped")) {
		set_v6_mapped(&h, sport);
		build(&h, false, s);
	} else if (!strcmp(name, "v2-tlv-empty")) {
		pscope_proxy_add_tlv(&h, PSCOPE_PP2_TYPE_NOOP, NULL, 0);
		build(&h, false, s);
	} else if (!strcmp(name, "v2-tlv-unknown")) {
		pscope_proxy_add_tlv(&h, 0x5a, "portscope", 9);
		build(&h, false, s);
	} else if (!strcmp(name, "v2-crc-good") || !strcmp(name, "v2-crc-bad")) {
		build(&h, true, s);
		if (!strcmp(name, "v2-crc-bad"))
			s->bytes[s->len - 1] ^= 0x01;
	} else if (!strcmp(name, "v2-108") || !strcmp(name, "v2-4095") || !strcmp(name, "v2-4097")) {
		sized_v2(&h, (size_t)atoi(name + 3), s);
	} else if (!strcmp(name, "no-header")) {
		append(s, request, sizeof(request) - 1);
		s->src[0] = '\0';
	} else if (!strcmp(name, "v1-lf") || !strcmp(name, "v1-port")) {
		int n = !strcmp(name, "v1-lf")
			? snprintf(line, sizeof(line), "PROXY TCP4 %s %s %u %u\n", test_net_src,
				   test_net_dst, sport, DST_PORT)
			: snprintf(line, sizeof(line), "PROXY TCP4 %s %s 65536 %u\r\n", test_net_src,
				   test_net_dst, DST_PORT);
		append(s, line, (size_t)n);
	} else if (!strcmp(name, "v2-tlv-overrun")) {
		pscope_proxy_add_tlv(&h, PSCOPE_PP2_TYPE_NOOP, "abcd", 4);
		build(&h, false, s);
		s->bytes[s->len - 5] = 0x09;	/* the TLV's length: 9 bytes, 4 there */
	}
	/* "silent" sends nothing. */
}

static double now_s(void)
{
	return (double)pscope_now_ms() / 1000.0;
}

/*
 * Waits until FD is readable or DEADLINE (pscope_now_ms) passes.  Returns 1
 * readable, 0 at the deadline.
 */
static int wait_readable(int fd, long long deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - pscope_now_ms();
		int rc;

		if (left <= 0)
			return 0;
		rc = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (rc > 0)
			return 1;
		if (rc < 0 && errno != EINTR)
			return 1;	/* let the read say what is wrong */
	}
}

/*
 * Reads what the receiver does until DEADLINE: an answer (up to its first
 * newline), end of file or a reset.  Returns true when it is decided.
 */
static bool read_outcome(int fd, long long deadline, struct outcome *o)
{
	while (wait_readable(fd, deadline)) {
		ssize_t n = recv(fd, o->reply + o->reply_len, sizeof(o->reply) - 1 - o->reply_len,
				 MSG_DONTWAIT);

		if (n > 0) {
			o->reply_len += (size_t)n;
			o->result = R_SERVED;
			if (memchr(o->reply, '\n', o->reply_len) || o->reply_len == sizeof(o->reply) - 1)
				return true;
			continue;
		}
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (o->result == R_SERVED)
			return true;	/* answered, then closed or reset */
		if (n == 0) {
			o->result = R_CLOSED;
		} else {
			o->result = R_RESET;
			o->err = errno;
		}
		return true;
	}
	return o->result == R_SERVED;
}

struct pause_arg {
	struct outcome *o;
};

/* Between pieces: what the receiver did meanwhile, if anything (it did not wait for the rest). */
static bool pause_watch(int fd, int ms, void *arg)
{
	return read_outcome(fd, pscope_now_ms() + ms, ((struct pause_arg *)arg)->o);
}

/* Sends the pieces with pauses, watching for the receiver closing in between. */
static bool send_pieces(int fd, const struct sent *s, const struct opts *op, struct outcome *o)
{
	struct pause_arg pa = { .o = o };
	int rc = pp_send_pieces(fd, s->bytes, s->len, s->cut, s->ncut, op->pause_ms, pause_watch, &pa);

	if (rc < 0) {
		o->result = rc == -ECONNRESET || rc == -EPIPE ? R_RESET : R_CLOSED;
		o->err = -rc;
	}
	return rc != 0;
}

/* The answer's first line, for the table: printable ASCII, at most MAX characters. */
static void reply_text(const struct outcome *o, char *out, size_t max)
{
	size_t j = 0;

	for (size_t i = 0; i < o->reply_len && j + 1 < max; i++) {
		unsigned char c = (unsigned char)o->reply[i];

		if (c == '\n' || c == '\r')
			break;
		out[j++] = c >= 0x20 && c < 0x7f ? (char)c : '.';
	}
	out[j] = '\0';
}

/*
 * True if the answer's first line is a portscope/1 line without PROXY keys
 * (a server that took the header's bytes as data, or never read them); *W
 * (if not NULL) is the line parsed, whatever its keys.
 */
static bool portscope_line(const struct outcome *o, struct pscope_whoami *w)
{
	struct pscope_whoami tmp;
	const char *nl = memchr(o->reply, '\n', o->reply_len);

	if (!w)
		w = &tmp;
	if (!nl || pscope_whoami_parse(o->reply, (size_t)(nl - o->reply), w) < 0) {
		w->pp = 1;	/* not a portscope/1 line */
		return false;
	}
	return !w->pp;
}

static void judge(size_t i, const struct sent *s, struct outcome *o)
{
	char first[REPLY_MAX];

	reply_text(o, first, sizeof(first));
	o->names_src = s->src[0] && strstr(first, s->src) != NULL;
	if (!o->names_src && s->src[0]) {
		/* "[::ffff:192.0.2.1]:50013", "::ffff:192.0.2.1:50013", "192.0.2.1 50013" */
		char alt[PSCOPE_ADDRSTRLEN];
		const char *colon = strrchr(s->src, ':');

		snprintf(alt, sizeof(alt), "%.*s %s", (int)(colon - s->src), s->src, colon + 1);
		o->names_src = strstr(first, alt) != NULL ||
			       (strstr(first, test_net_src) && strstr(first, colon + 1));
	}
	switch (cases[i].expect) {
	case EXPECT_ACCEPT:
		o->ok = o->result == R_SERVED;
		break;
	case EXPECT_REFUSE:
	case EXPECT_CLOSE:
		o->ok = o->result == R_CLOSED || o->result == R_RESET;
		break;
	case EXPECT_EITHER:
		o->ok = o->result != R_CONNECT;
		break;
	}
	/* A portscope server that read no header answers without PROXY keys: it took none. */
	o->no_header = portscope_line(o, NULL);
	if (o->no_header)
		o->ok = false;
}

/* How the last connect of run_case() failed, as the kernel said it (connfail.h). */
static struct pscope_connfail connect_why;

/* Runs case I against A.  Returns 0, or -errno when it could not connect. */
static int run_case(size_t i, const struct pscope_addr *a, const struct opts *op, struct outcome *o)
{
	struct sent s;
	int fd, rc, one = 1;
	double t0;
	long long wait = !strcmp(cases[i].name, "silent") ? op->silent_ms : op->reply_ms;

	memset(o, 0, sizeof(*o));
	o->result = R_TIMEOUT;
	make_case(i, &s);
	fd = pscope_socket(a->u.sa.sa_family, SOCK_STREAM);
	connect_why = (struct pscope_connfail){ .kind = PSCOPE_FAIL_OTHER, .err = fd < 0 ? -fd : 0 };
	if (fd < 0)
		return fd;
	rc = pscope_connect_explained(fd, a, op->wait_ms, &connect_why);
	if (rc < 0) {
		close(fd);
		o->result = R_CONNECT;
		o->err = -rc;
		return rc;
	}
	/* Each piece its own segment; the pieces are small and a write of them never blocks. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	t0 = now_s();
	if (!send_pieces(fd, &s, op, o)) {
		t0 = now_s();
		read_outcome(fd, pscope_now_ms() + wait, o);
	}
	o->after_s = now_s() - t0;
	close(fd);
	judge(i, &s, o);
	return 0;
}

static void print_text_head(const char *endpoint, const struct pscope_addr *a, const struct opts *op)
{
	char text[PSCOPE_ADDRSTRLEN];

	pscope_addr_format(a, text, sizeof(text));
	printf("proxycheck %s (%s): each case one connection; an answer awaited %g s, "
	       "the silent client %g s\n", endpoint, text, op->reply_ms / 1000.0,
	       op->silent_ms / 1000.0);
	printf("%-15s %-40s %-6s %-13s %-8s %-7s %s\n", "case", "sent", "expect", "result",
	       "after", "verdict", "answer");
}

/*
 * A portscope server's answer, shortened to what it took from the header:
 * "pp=2 src=192.0.2.1:50003", or "pp=2 local, you=127.0.0.1:41234" when the
 * header named no client.  Returns false for another answer.
 */
static bool portscope_answer(const struct outcome *o, char *out, size_t size)
{
	struct pscope_whoami w;
	char a[PSCOPE_ADDRSTRLEN];
	const char *nl = memchr(o->reply, '\n', o->reply_len);

	if (!nl || pscope_whoami_parse(o->reply, (size_t)(nl - o->reply), &w) < 0)
		return false;
	if (!w.pp) {
		pscope_addr_format(&w.you, a, sizeof(a));
		snprintf(out, size, "portscope/1 without pp=, you=%s: took no header", a);
	} else if (w.src.len && pscope_addr_format(&w.src, a, sizeof(a)) >= 0) {
		snprintf(out, size, "pp=%u src=%s", w.pp, a);
	} else {
		pscope_addr_format(&w.you, a, sizeof(a));
		snprintf(out, size, "pp=%u %s, you=%s", w.pp, w.pp_command ? w.pp_proto : "local", a);
	}
	return true;
}

static void print_text_row(size_t i, const struct outcome *o)
{
	char first[2 * PSCOPE_ADDRSTRLEN];

	if (!portscope_answer(o, first, sizeof(first)))
		reply_text(o, first, 61);
	printf("%-15s %-40s %-6s %-13s %6.2f s %-7s %s%s\n", cases[i].name, cases[i].what,
	       expect_name[cases[i].expect], result_name[o->result], o->after_s, o->ok ? "ok" : "differs", first,
	       o->names_src ? "  (the header's source)" : "");
}

static void print_json_case(struct pscope_json *j, size_t i, const struct outcome *o)
{
	char first[REPLY_MAX];

	reply_text(o, first, sizeof(first));
	pscope_json_object_begin(j, NULL);
	pscope_json_string(j, "case", cases[i].name);
	pscope_json_string(j, "sent", cases[i].what);
	pscope_json_string(j, "expect", expect_name[cases[i].expect]);
	pscope_json_string(j, "result", result_name[o->result]);
	if (o->err)
		pscope_json_string(j, "errno", pscope_errno_name(o->err));
	pscope_json_double(j, "after_s", o->after_s, 3);
	if (o->reply_len)
		pscope_json_string_n(j, "answer", o->reply, o->reply_len);
	else
		pscope_json_null(j, "answer");
	pscope_json_bool(j, "names_header_source", o->names_src);
	pscope_json_bool(j, "took_no_header", o->no_header);
	pscope_json_string(j, "verdict", o->ok ? "ok" : "differs");
	pscope_json_object_end(j);
}

static int parse_args(int argc, char **argv, struct opts *op, int *family)
{
	enum { OPT_SILENT = 256, OPT_PAUSE, OPT_CASE, OPT_LIST };
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "wait", required_argument, NULL, 'w' },
		{ "reply-wait", required_argument, NULL, 'r' },
		{ "silent-wait", required_argument, NULL, OPT_SILENT },
		{ "pause", required_argument, NULL, OPT_PAUSE },
		{ "case", required_argument, NULL, OPT_CASE },
		{ "list", no_argument, NULL, OPT_LIST },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_opts opts;
	double secs;
	int ch, k;

	cli_opts_init(&opts, "f:w:r:c:l46h", longopts);
	while ((ch = cli_getopt(&opts, argc, argv)) != -1) {
		switch (ch) {
		case 'f':
			if (strcmp(optarg, "text") && strcmp(optarg, "json"))
				return cli_usage_error("bad format '%s': use text or json", optarg);
			op->json = !strcmp(optarg, "json");
			break;
		case 'w':
		case 'r':
		case OPT_SILENT:
		case OPT_PAUSE:
			if (cli_parse_seconds(ch == 'w' ? "wait" : ch == 'r' ? "reply wait"
					      : ch == OPT_SILENT ? "silent wait" : "pause",
					      optarg, &secs) < 0)
				return EXIT_USAGE;
			if (secs > 3600)
				return cli_usage_error("bad time '%s': at most 3600 seconds", optarg);
			*(ch == 'w' ? &op->wait_ms : ch == 'r' ? &op->reply_ms
			  : ch == OPT_SILENT ? &op->silent_ms : &op->pause_ms) = (int)(secs * 1000 + 0.5);
			break;
		case 'c':
		case 'l':
			/* connect's -c is the in-flight count, ls's -l --local-only: one letter, one meaning. */
			return cli_usage_error("'-%c' is not proxycheck's: write %s", ch,
					       ch == 'c' ? "--case NAME" : "--list");
		case OPT_CASE:
			k = case_index(optarg);
			if (k < 0)
				return cli_usage_error("unknown case '%s' (see --list)", optarg);
			op->only[k] = op->any_only = true;
			break;
		case OPT_LIST:
			op->list = true;
			break;
		case '4':
			*family = AF_INET;
			break;
		case '6':
			*family = AF_INET6;
			break;
		case 'h':
			op->help = true;
			return EXIT_OK;
		default:
			return EXIT_USAGE;
		}
	}
	if ((ch = cli_opt_conflict(&opts, '4', '6', "give one, or neither for both families")))
		return ch;
	if (op->list)
		return argc - optind > 0 ? cli_usage_error("--list takes no ENDPOINT") : EXIT_OK;
	if (argc - optind != 1)
		return cli_usage_error(argc - optind ? "too many arguments: one ENDPOINT"
				       : "an ENDPOINT is required (the receiver to probe)");
	return EXIT_OK;
}

int cmd_proxycheck(int argc, char **argv)
{
	struct opts op = { .wait_ms = 5000, .reply_ms = 2000, .silent_ms = 5000, .pause_ms = 200 };
	struct pscope_endpoint ep;
	struct pscope_addr a;
	struct pscope_json j;
	char text[PSCOPE_ADDRSTRLEN];
	int family = AF_UNSPEC, rc, status = EXIT_OK;
	unsigned ran = 0, differ = 0;

	rc = parse_args(argc, argv, &op, &family);
	if (rc != EXIT_OK)
		return rc;
	if (op.help) {
		fputs(usage, stdout);
		return cli_finish(EXIT_OK);
	}
	if (op.list && op.json) {
		pscope_json_init_file(&j, stdout);
		pscope_json_object_begin(&j, NULL);
		pscope_json_array_begin(&j, "cases");
		for (size_t i = 0; i < NCASES; i++) {
			pscope_json_object_begin(&j, NULL);
			pscope_json_string(&j, "case", cases[i].name);
			pscope_json_string(&j, "sent", cases[i].what);
			pscope_json_string(&j, "expect", expect_name[cases[i].expect]);
			pscope_json_object_end(&j);
		}
		pscope_json_array_end(&j);
		pscope_json_object_end(&j);
		pscope_json_end(&j);
		putchar('\n');
		return cli_finish(EXIT_OK);
	}
	if (op.list) {
		for (size_t i = 0; i < NCASES; i++)
			printf("%-15s %-40s %s\n", cases[i].name, cases[i].what,
			       expect_name[cases[i].expect]);
		return cli_finish(EXIT_OK);
	}
	if (cli_parse_endpoint(argv[optind], "127.0.0.1", 8080, &ep) < 0)
		return EXIT_USAGE;
	rc = cli_resolve_endpoint(argv[optind], &ep, family, PSCOPE_RESOLVE_CONNECT, &a, 1);
	if (rc < 0)
		return -rc;
	if (pscope_addr_port(&a) == 0)
		return cli_usage_error("bad endpoint '%s': port 0 cannot be connected to", argv[optind]);
	cli_ignore_sigpipe();
	for (size_t i = 0; i < NCASES; i++) {
		struct outcome o;

		if (op.any_only && !op.only[i])
			continue;
		rc = run_case(i, &a, &op, &o);
		if (rc < 0) {
			/* As connect says it, with its exit status; no case after it can run either. */
			pscope_addr_format(&a, text, sizeof(text));
			status = cli_connect_failed(text, &a, &connect_why, op.wait_ms);
			if (!ran)
				return cli_finish(status);	/* nothing ran: no table */
		}
		if (!ran && op.json) {
			pscope_json_init_file(&j, stdout);
			pscope_json_object_begin(&j, NULL);
			pscope_json_string(&j, "endpoint", argv[optind]);
			pscope_addr_format(&a, text, sizeof(text));
			pscope_json_string(&j, "address", text);
			pscope_json_array_begin(&j, "cases");
		} else if (!ran) {
			print_text_head(argv[optind], &a, &op);
		}
		ran++;
		differ += !o.ok;
		if (op.json)
			print_json_case(&j, i, &o);
		else
			print_text_row(i, &o);
		if (cli_flush() > 0)
			return EXIT_OK;
		if (rc < 0)
			break;
	}
	if (op.json) {
		pscope_json_array_end(&j);
		pscope_json_uint(&j, "ran", ran);
		pscope_json_uint(&j, "differ", differ);
		pscope_json_object_end(&j);
		pscope_json_end(&j);
		putchar('\n');
	} else {
		printf("%u cases: %u as the specification expects, %u differ\n", ran, ran - differ,
		       differ);
	}
	return cli_finish(status);
}
