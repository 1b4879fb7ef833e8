/* portscope connect: the note's client, and a check of what the server saw. */
#include <errno.h>
#include <getopt.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include <stdlib.h>

#include "load.h"
#include "pp.h"
#include "portscope/connfail.h"
#include "portscope/json.h"
#include "report.h"

#define MAX_ADDRS 16

enum verdict { V_MATCH, V_MISMATCH, V_NO_REPLY, V_BAD_REPLY, V_RESET, V_PROXIED, V_PROXY_MISMATCH };
static const char *const verdict_names[] = { "match", "mismatch", "no-reply", "bad-reply",
					     "reset", "proxied", "proxy-mismatch" };

/* How the server's reply ended, when it is not a whole line. */
enum reply_end { END_FIN, END_TIMEOUT, END_TOO_LONG };

struct client {
	enum format fmt;
	bool before;
	bool help;
	bool strict;			/* --strict: the verdict decides the exit status */
	struct load_opts load;		/* with -n */
	const char *source;
	int timeout_ms;
	int reply_ms;
	struct pscope_sockinfo pre;	/* the socket before connect(), with --before */
	bool have_pre;
	struct pscope_sockinfo si;	/* the connected socket */
	char reply[PSCOPE_WHOAMI_BUF];
	size_t reply_len;		/* bytes read of it, the newline included */
	enum reply_end end;
	bool have_reply;		/* a whole line: it ended with \n before the FIN */
	bool reset;			/* the server reset the connection after the handshake */
	struct pscope_whoami who;
	enum verdict verdict;
	char detail[1024];
	struct pscope_connfail why;	/* how the last connect failed */
	struct pp_send pp;		/* --send-proxy */
	bool pp_opt;			/* a --pp-* option was given */
};

/* The server's line was read and parsed: its view can be shown. */
static bool have_server(const struct client *c)
{
	return c->verdict != V_NO_REPLY && c->verdict != V_BAD_REPLY && c->verdict != V_RESET;
}

static const char usage[] =
	"usage: portscope connect [OPTIONS] [ENDPOINT]\n"
	"\n"
	"Connect to ENDPOINT (default 127.0.0.1:8080) and print this end's address, as the\n"
	"note's Python client does.  Then read the server's portscope/1 line, if it sends\n"
	"one, and say whether the server saw the same 4-tuple as this end, or how it\n"
	"differs (a NAT or proxy in between).\n"
	"\n"
	"ENDPOINT is PORT (on 127.0.0.1), HOST, HOST:PORT, IPv4:PORT or [IPv6]:PORT\n"
	"(a dotted quad, an IPv6 literal, a name); '*', 0.0.0.0 and :: are no destination.\n"
	"\n"
	"Options:\n"
	"  -f, --format FMT   seed (the note's lines, default), line, or json\n"
	"  -w, --wait SECS    give up connecting after SECS (default 10)\n"
	"  -r, --reply-wait SECS  wait this long for the server's line (default 2)\n"
	"  -b, --before       also show getsockname() before connect(): ('0.0.0.0', 0)\n"
	"                     (not with -n)\n"
	"      --strict       fail unless the server's line shows this very 4-tuple (or a\n"
	"                     proxy that named this client): exit 8 on a mismatch or a\n"
	"                     proxy-mismatch, 9 with no line, or a bad one, to judge by\n"
	"  -4, -6             only IPv4, or only IPv6, addresses of ENDPOINT\n"
	"  -h, --help         show this help\n"
	"\n"
	"Through a proxy (a server's portscope/1 line with pp= src= dst= is explained:\n"
	"the proxy you reached, what the server's socket saw, whom the header named):\n"
	"      --send-proxy v1|v2  send a PROXY protocol header first, as a proxy does;\n"
	"                     it names this connection's own 4-tuple unless told otherwise\n"
	"      --pp-src ADDR:PORT, --pp-dst ADDR:PORT  the addresses the header names\n"
	"      --pp-tlv TYPE=HEX  add a TLV (v2; repeatable): 0xe0=0102, AUTHORITY=6578\n"
	"      --pp-crc32c    add a CRC32C TLV (v2)\n"
	"                     (an IPv4 with an IPv6 address: both IPv6, the IPv4 mapped)\n"
	"      --pp-local     a LOCAL header (v2): the proxy's own connection, family\n"
	"                     UNSPEC without addresses unless --pp-src/--pp-dst\n"
	"      --pp-split 1,12,16  send the header in pieces cut after these bytes, each\n"
	"                     its own segment, --pp-pause apart\n"
	"      --pp-pause S   the pause between the pieces of --pp-split (default 0.2 s)\n"
	"\n"
	"Many connections (ENDPOINT may then be a range, 127.0.0.1-127.0.0.80:8080):\n"
	"  -n N               make N connections, non-blocking, and check every server line\n"
	"  -c N               connections in flight at once, per process: connecting, or\n"
	"                     waiting for the server's line (default 1000)\n"
	"      --rate R       at most R new connections a second in all (default: no limit)\n"
	"      --procs P      spread them over P client processes (default 1)\n"
	"      --hold SECS    once all are made, hold them SECS seconds, or 'forever' (until\n"
	"                     SIGINT or SIGTERM), then close them all (default 0)\n"
	"      --source RANGE source addresses, e.g. 127.0.0.2-127.0.0.80; the kernel picks\n"
	"                     each port (IP_BIND_ADDRESS_NO_PORT)\n"
	"      --progress     the progress line every 0.25 s on stderr as whole lines,\n"
	"                     also when stderr is not a terminal (for a program to read)\n"
	"  With -n, -f line or seed prints a summary, -f json the same as one object; on a\n"
	"  terminal a progress line shows established, in flight, failed and the rate.\n"
	"\n"
	"A reply is a line only if its \\n comes before the server's FIN, with at most 512\n"
	"bytes before its \\n or \\r\\n (else: bad reply).\n"
	"\n"
	"How a connection failed is read from the kernel: the ICMP error it queued (IP_RECVERR),\n"
	"named with its type, code and sender, the socket's state, the errno.  With -f json\n"
	"a failure is also an object on stdout (failure: kind, errno, icmp, elapsed_s, syns).\n"
	"\n"
	"Exit status: 0 once connected, whatever the server replied (with -n: when all N\n"
	"were established, none reset); 2 for a bad command line.  When the connection fails:\n"
	"3 a TCP reset came back (nothing listens, or a firewall's reset); 4 an ICMP error\n"
	"came back (any ICMP or ICMPv6 unreachable: a firewall's reject, a router with no\n"
	"route), or this host refused it (no route, its own firewall); 5 no answer: silence\n"
	"until -w or until the kernel stopped retrying the SYN, or no ARP/neighbour answer\n"
	"(the host is down or absent on the link); 1 for any other failure and for -n with\n"
	"any failure.  6 if the server accepted the connection, then reset it before its\n"
	"line (with -n: if all N were established and at least one was reset, and none\n"
	"failed otherwise).  With --strict: 8 on a mismatch (with -n: any), 9 when\n"
	"there was no line to judge.\n";

static void addr_text(const struct pscope_addr *a, char *buf, size_t size)
{
	if (pscope_addr_format(a, buf, size) < 0)
		snprintf(buf, size, "?");
}

/* Compares the server's view with this end's and writes the verdict's words. */
static void judge(struct client *c)
{
	char you[PSCOPE_ADDRSTRLEN], me[PSCOPE_ADDRSTRLEN], local[PSCOPE_ADDRSTRLEN],
		peer[PSCOPE_ADDRSTRLEN];
	bool same_you, same_me;
	size_t used = 0;

	if (!c->have_reply && c->reset) {
		c->verdict = V_RESET;
		snprintf(c->detail, sizeof(c->detail),
			 "reset: the server accepted the connection, then reset it before a whole "
			 "portscope/1 line%s", c->reply_len ? " (it had sent part of one)" : "");
		return;
	}
	if (!c->have_reply && c->reply_len) {
		c->verdict = V_BAD_REPLY;
		if (c->end == END_TOO_LONG)
			snprintf(c->detail, sizeof(c->detail), "bad reply: too long (more than %d bytes "
				 "before an end of line: no portscope/1 line is)", PSCOPE_WHOAMI_MAX);
		else
			snprintf(c->detail, sizeof(c->detail), "bad reply: no end of line (%s)",
				 c->end == END_FIN ? "the server closed the connection before its \\n" :
				 "its \\n did not come in time: see -r");
		return;
	}
	if (!c->have_reply) {
		c->verdict = V_NO_REPLY;
		snprintf(c->detail, sizeof(c->detail),
			 "no portscope/1 line from the server (not a portscope server?): nothing to compare");
		return;
	}
	if (pscope_whoami_parse(c->reply, c->reply_len, &c->who) < 0) {
		c->verdict = V_BAD_REPLY;
		snprintf(c->detail, sizeof(c->detail),
			 "the server's reply is not a portscope/1 line: nothing to compare");
		return;
	}
	if (c->who.pp) {
		/* Reached directly (the server's socket saw this client), the usual verdict. */
		bool named = pp_explain(&c->pp, &c->si, &c->who, c->detail, sizeof(c->detail));
		bool direct = pscope_addr_same(&c->who.you, &c->si.local);

		if (direct)
			c->verdict = named && pscope_addr_same(&c->who.me, &c->si.peer) ? V_MATCH : V_MISMATCH;
		else
			c->verdict = named ? V_PROXIED : V_PROXY_MISMATCH;
		return;
	}
	addr_text(&c->who.you, you, sizeof(you));
	addr_text(&c->who.me, me, sizeof(me));
	addr_text(&c->si.local, local, sizeof(local));
	addr_text(&c->si.peer, peer, sizeof(peer));
	same_you = pscope_addr_same(&c->who.you, &c->si.local);
	same_me = pscope_addr_same(&c->who.me, &c->si.peer);
	if (same_you && same_me) {
		c->verdict = V_MATCH;
		snprintf(c->detail, sizeof(c->detail),
			 "match: the server saw the same 4-tuple <%s, %s>: no NAT or proxy in between%s",
			 local, peer,
			 pscope_addr_is_v4mapped(&c->who.you) ?
				 " (its IPv6 socket shows this IPv4 address as IPv4-mapped)" : "");
		return;
	}
	c->verdict = V_MISMATCH;
	if (!same_you)
		used += (size_t)snprintf(c->detail, sizeof(c->detail),
			 "mismatch: the server saw this client as %s, but this end is %s "
			 "(source NAT or a proxy in between)", you, local);
	if (!same_me && used < sizeof(c->detail))
		snprintf(c->detail + used, sizeof(c->detail) - used,
			 "%s the server's end is %s, but this client connected to %s "
			 "(destination NAT, port forwarding or a proxy)",
			 used ? ";" : "mismatch:", me, peer);
}

static void print_seed(const struct client *c)
{
	char buf[PSCOPE_ADDRSTRLEN + 64], you[PSCOPE_ADDRSTRLEN], me[PSCOPE_ADDRSTRLEN];

	if (c->have_pre) {
		cli_line("", "client socket address before connect is ");
		report_py_addr(&c->pre.local, c->pre.local_err, buf, sizeof(buf));
		cli_line("", buf);
	}
	cli_line("", "client socket address is ");
	report_py_addr(&c->si.local, c->si.local_err, buf, sizeof(buf));
	cli_line("", buf);
	if (have_server(c)) {
		report_py_addr(&c->who.you, 0, you, sizeof(you));
		report_py_addr(&c->who.me, 0, me, sizeof(me));
		printf("server saw this client as %s and itself as %s\n", you, me);
	}
	cli_line("", c->detail);
}

static void print_line(const struct client *c)
{
	char local[PSCOPE_ADDRSTRLEN], peer[PSCOPE_ADDRSTRLEN], you[PSCOPE_ADDRSTRLEN] = "-",
		me[PSCOPE_ADDRSTRLEN] = "-", pre[PSCOPE_ADDRSTRLEN];

	addr_text(&c->si.local, local, sizeof(local));
	addr_text(&c->si.peer, peer, sizeof(peer));
	if (have_server(c)) {
		addr_text(&c->who.you, you, sizeof(you));
		addr_text(&c->who.me, me, sizeof(me));
	}
	if (c->have_pre) {
		addr_text(&c->pre.local, pre, sizeof(pre));
		printf("before=%s ", pre);
	}
	printf("local=%s peer=%s server_you=%s server_me=%s", local, peer, you, me);
	if (c->who.pp) {
		addr_text(&c->who.src, you, sizeof(you));
		addr_text(&c->who.dst, me, sizeof(me));
		printf(" server_pp=%u server_src=%s server_dst=%s", c->who.pp,
		       c->who.src.len ? you : "-", c->who.dst.len ? me : "-");
	}
	printf(" verdict=%s\n", verdict_names[c->verdict]);
}

/* A socket's description as the value of KEY (null if it could not be written). */
static void json_sock(struct pscope_json *j, const char *key, const struct pscope_sockinfo *si)
{
	char buf[1024];

	if (pscope_sock_json(si, buf, sizeof(buf)) < 0)
		pscope_json_null(j, key);
	else
		pscope_json_raw(j, key, buf);
}

/* The server's view, from its portscope/1 line, or null if there was none. */
static void json_server(struct pscope_json *j, const struct client *c)
{
	char you[PSCOPE_ADDRSTRLEN], me[PSCOPE_ADDRSTRLEN];

	if (!have_server(c)) {
		pscope_json_null(j, "server");
		return;
	}
	addr_text(&c->who.you, you, sizeof(you));
	addr_text(&c->who.me, me, sizeof(me));
	pscope_json_object_begin(j, "server");
	pscope_json_string(j, "you", you);
	pscope_json_string(j, "me", me);
	/* portscope counts connections from 1: 0 is a line without conn=, and says so. */
	if (c->who.conn)
		pscope_json_uint(j, "conn", c->who.conn);
	else
		pscope_json_null(j, "conn");
	if (c->who.pp) {
		pscope_json_object_begin(j, "proxy");
		pscope_json_uint(j, "version", c->who.pp);
		pscope_json_string(j, "command", c->who.pp_command ? "PROXY" : "LOCAL");
		pscope_json_string(j, "proto", c->who.pp_proto);
		addr_text(&c->who.src, you, sizeof(you));
		addr_text(&c->who.dst, me, sizeof(me));
		if (c->who.src.len)
			pscope_json_string(j, "src", you);
		else
			pscope_json_null(j, "src");
		if (c->who.dst.len)
			pscope_json_string(j, "dst", me);
		else
			pscope_json_null(j, "dst");
		pscope_json_object_end(j);
	}
	pscope_json_object_end(j);
}

static void print_json(const struct client *c)
{
	struct pscope_json j;

	pscope_json_init_file(&j, stdout);
	pscope_json_object_begin(&j, NULL);
	json_sock(&j, "socket", &c->si);
	if (c->have_pre)
		json_sock(&j, "before", &c->pre);
	json_server(&j, c);
	if (c->pp.version) {
		char src[PSCOPE_ADDRSTRLEN], dst[PSCOPE_ADDRSTRLEN];

		addr_text(&c->pp.hdr.src, src, sizeof(src));
		addr_text(&c->pp.hdr.dst, dst, sizeof(dst));
		pscope_json_object_begin(&j, "sent_proxy");
		pscope_json_uint(&j, "version", c->pp.version);
		pscope_json_string(&j, "command", c->pp.local ? "LOCAL" : "PROXY");
		pscope_json_string(&j, "src", src);
		pscope_json_string(&j, "dst", dst);
		pscope_json_uint(&j, "length", c->pp.len);
		pscope_json_object_end(&j);
	}
	if (c->reply_len)
		pscope_json_string_n(&j, "reply", c->reply, strcspn(c->reply, "\r\n"));
	else
		pscope_json_null(&j, "reply");
	pscope_json_string(&j, "verdict", verdict_names[c->verdict]);
	pscope_json_string(&j, "detail", c->detail);
	pscope_json_object_end(&j);
	putchar('\n');
}

/*
 * Reads the server's line, framed as every reader frames one (line.h): a
 * reply only if its end of line comes before the FIN, within
 * PSCOPE_WHOAMI_MAX bytes, as connect -n counts it.  Notes how it ended
 * otherwise, and a reset.
 */
static void read_reply(struct client *c, int fd)
{
	/* After a reset in connect(), what the server sent before it is still there to read. */
	int rc = pscope_read_line(fd, c->reply, sizeof(c->reply), &c->reply_len, c->reply_ms);

	if (rc == PSCOPE_LINE_LF || rc == PSCOPE_LINE_CRLF) {
		c->have_reply = true;
		return;
	}
	/*
	 * A reset's error is told once, to whichever call came first (connect(), a
	 * read above): the state says it for good.  A FIN alone leaves CLOSE-WAIT;
	 * a reset, CLOSE.
	 */
	if (rc == -ECONNRESET || rc == -EPIPE || pscope_sock_tcp_state(fd) == TCP_CLOSE)
		c->reset = true;
	c->end = rc == PSCOPE_LINE_TOO_LONG ? END_TOO_LONG : rc == -ETIMEDOUT ? END_TIMEOUT : END_FIN;
}

/* Tries each address in turn, as nc does. Returns the connected descriptor or -errno of the last failure. */
static int connect_any(struct client *c, const struct pscope_addr *addrs, int n, size_t *which)
{
	int rc = -ECONNREFUSED;

	for (int i = 0; i < n; i++) {
		int fd = pscope_socket(addrs[i].u.sa.sa_family, SOCK_STREAM);

		if (fd < 0) {
			rc = fd;
			c->why = (struct pscope_connfail){ .kind = PSCOPE_FAIL_OTHER, .err = -fd };
			continue;
		}
		if (c->before && !c->have_pre) {
			pscope_sock_describe(fd, &c->pre);
			c->have_pre = true;
		}
		*which = (size_t)i;
		c->why = (struct pscope_connfail){ .kind = PSCOPE_FAIL_OTHER };
		rc = pscope_connect_explained(fd, &addrs[i], c->timeout_ms, &c->why);
		c->why.err = -rc;
		/*
		 * A reset in SYN-SENT is ECONNREFUSED; ECONNRESET (EPIPE after the
		 * server's FIN) only comes once the handshake is done (the kernel's
		 * tcp_reset()): the server accepted, then reset.  That is the same
		 * connection as one reset a moment later, while its reply is awaited.
		 */
		if (rc == -ECONNRESET || rc == -EPIPE)
			c->reset = true;
		if (rc == 0 || c->reset)
			return fd;
		close(fd);
	}
	return rc;
}

enum { OPT_RATE = 256, OPT_PROCS, OPT_HOLD, OPT_SOURCE, OPT_PROGRESS, OPT_STRICT };

static int parse_load_opt(struct client *c, int ch, const char *arg)
{
	struct load_opts *l = &c->load;
	unsigned long v;
	double secs;

	switch (ch) {
	case 'n':
		if (cli_parse_count("connection count", arg, 1, 100000000, &v) < 0)
			return -1;
		l->n = v;
		return 0;
	case 'c':
		if (cli_parse_count("in-flight count", arg, 1, 1000000, &v) < 0)
			return -1;
		l->inflight = (unsigned)v;
		return 0;
	case OPT_PROCS:
		if (cli_parse_count("process count", arg, 1, 4096, &v) < 0)
			return -1;
		l->procs = (unsigned)v;
		return 0;
	case OPT_RATE: {
		char *end;

		errno = 0;
		l->rate = strtod(arg, &end);
		if (errno || end == arg || *end || !(l->rate > 0) || l->rate > 1e9)
			return cli_usage_error("bad rate '%s': give connections per second, above 0", arg), -1;
		return 0;
	}
	case OPT_HOLD:
		if (!strcmp(arg, "forever")) {
			l->hold_s = -1;
			return 0;
		}
		if (!strcmp(arg, "0")) {
			l->hold_s = 0;
			return 0;
		}
		if (cli_parse_seconds("hold", arg, &secs) < 0)
			return -1;
		l->hold_s = secs;
		return 0;
	case OPT_PROGRESS:
		l->progress = true;
		return 0;
	default:
		c->source = arg;
		return 0;
	}
}

/* Options that mean nothing in the mode given, or contradict each other.  Returns 0 or EXIT_USAGE. */
static int check_options(const struct client *c, const struct cli_opts *o, int args)
{
	static const int load_only[] = { 'c', OPT_RATE, OPT_PROCS, OPT_HOLD, OPT_SOURCE, OPT_PROGRESS };
	int rc;

	if (args > 1)
		return cli_usage_error("too many arguments: one ENDPOINT at most");
	if ((rc = cli_opt_conflict(o, '4', '6', "give one, or neither for both families")))
		return rc;
	for (size_t i = 0; i < sizeof(load_only) / sizeof(load_only[0]); i++)
		if ((rc = cli_opt_needs(o, load_only[i], c->load.n,
					"-n (it is about many connections)")))
			return rc;
	return cli_opt_conflict(o, 'n', 'b', "-n shows no socket before connect()");
}

static int parse_args(struct client *c, int argc, char **argv, int *family)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "wait", required_argument, NULL, 'w' },
		{ "reply-wait", required_argument, NULL, 'r' },
		{ "before", no_argument, NULL, 'b' },
		{ "strict", no_argument, NULL, OPT_STRICT },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "procs", required_argument, NULL, OPT_PROCS },
		{ "hold", required_argument, NULL, OPT_HOLD },
		{ "source", required_argument, NULL, OPT_SOURCE },
		PP_SEND_LONGOPTS,
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_opts o;
	double secs;
	int ch, rc;

	cli_opts_init(&o, "f:w:r:b46hn:c:", longopts);
	while ((ch = cli_getopt(&o, argc, argv)) != -1) {
		switch (ch) {
		case 'n':
		case 'c':
		case OPT_RATE:
		case OPT_PROCS:
		case OPT_HOLD:
		case OPT_SOURCE:
		case OPT_PROGRESS:
			if (parse_load_opt(c, ch, optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'f':
			if (cli_parse_format(optarg, &c->fmt) < 0)
				return EXIT_USAGE;
			break;
		case 'w':
		case 'r':
			if (cli_parse_seconds(ch == 'w' ? "wait" : "reply wait", optarg, &secs) < 0)
				return EXIT_USAGE;
			*(ch == 'w' ? &c->timeout_ms : &c->reply_ms) = (int)(secs * 1000 + 0.5);
			break;
		case 'b':
			c->before = true;
			break;
		case OPT_STRICT:
			c->strict = true;
			break;
		case '4':
			*family = AF_INET;
			break;
		case '6':
			*family = AF_INET6;
			break;
		case 'h':
			c->help = true;
			return EXIT_OK;
		case PP_OPT_SEND ... PP_OPT_LAST:
			if (pp_send_option(&c->pp, ch, optarg) < 0)
				return EXIT_USAGE;
			c->pp_opt |= ch != PP_OPT_SEND;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	rc = check_options(c, &o, argc - optind);
	if (rc != EXIT_OK)
		return rc;
	return pp_send_check(&c->pp, c->pp_opt);
}

/* Parses the destination of -n: "A-B:PORT" (an IPv4 range) or any numeric ENDPOINT. */
static int parse_dest(const char *arg, int family, struct load_opts *l)
{
	const char *colon = strrchr(arg, ':');
	struct pscope_endpoint ep;
	struct pscope_addr a;
	int rc;

	if (strchr(arg, '-') && colon && !strchr(arg, '[')) {
		struct pscope_endpoint port_only;

		if (pscope_range_parse(arg, (size_t)(colon - arg), &l->dst) < 0)
			return cli_usage_error("bad destination '%s': %s", arg,
					       pscope_strerror(-PSCOPE_E_RANGE)), -1;
		if (cli_parse_endpoint(colon + 1, "127.0.0.1", 8080, &port_only) < 0)
			return -1;
		l->port = port_only.port;
	} else {
		if (cli_parse_endpoint(arg, "127.0.0.1", 8080, &ep) < 0)
			return -1;
		rc = cli_resolve_endpoint(arg, &ep, family, PSCOPE_RESOLVE_CONNECT, &a, 1);
		if (rc < 0)
			return rc == -EXIT_FAIL ? -2 : -1;
		l->dst = (struct pscope_range){ .first = a, .count = 1 };
		l->port = ep.port;
	}
	if (l->port == 0)
		return cli_usage_error("bad destination '%s': port 0 cannot be connected to", arg), -1;
	return 0;
}

static int run_load(struct client *c, const char *arg, int family)
{
	struct load_opts *l = &c->load;
	int rc = parse_dest(arg, family, l);

	if (rc < 0)
		return rc == -2 ? EXIT_FAIL : EXIT_USAGE;
	/* -4 and -6 are short options only: their name is known. */
	if (family != AF_UNSPEC && l->dst.first.u.sa.sa_family != family)
		return cli_usage_error("'-%c' but the destination '%s' is %s", family == AF_INET ? '4' : '6',
				       arg, family == AF_INET ? "IPv6" : "IPv4");
	if (c->source && pscope_range_parse(c->source, strlen(c->source), &l->src) < 0)
		return cli_usage_error("bad source '%s': %s", c->source,
				       pscope_strerror(-PSCOPE_E_RANGE));
	if (l->src.count && l->src.first.u.sa.sa_family != l->dst.first.u.sa.sa_family)
		return cli_usage_error("source and destination addresses are of different families");
	if (l->procs > l->n)
		l->procs = (unsigned)l->n;
	l->timeout_ms = c->timeout_ms;
	l->reply_ms = c->reply_ms;
	l->fmt = c->fmt;
	l->strict = c->strict;
	return load_run(l);
}

/* "ICMP destination unreachable, port unreachable (type 3, code 3) from 198.18.0.1" */
static void icmp_text(const struct pscope_icmp *icmp, char *buf, size_t size)
{
	const char *type = pscope_icmp_type_name(icmp->family, icmp->type);
	const char *code = pscope_icmp_code_name(icmp->family, icmp->type, icmp->code);
	char from[PSCOPE_ADDRSTRLEN] = "?";

	if (icmp->offender.len)
		pscope_addr_host(&icmp->offender, from, sizeof(from));
	snprintf(buf, size, "%s %s%s%s (type %u, code %u) from %s",
		 icmp->family == AF_INET ? "ICMP" : "ICMPv6", type ? type : "error",
		 code ? ", " : "", code ? code : "", icmp->type, icmp->code, from);
}

/* The words after "connect ADDR: " that say how the connect failed, and its exit status. */
static int failure_text(const struct pscope_connfail *w, const struct pscope_addr *dest,
			int timeout_ms, char *buf, size_t size)
{
	double secs = (double)w->elapsed_ms / 1000;
	char icmp[256], hop[PSCOPE_ADDRSTRLEN] = "?";
	struct pscope_addr host;
	bool gateway;

	if (w->have_icmp)
		icmp_text(&w->icmp, icmp, sizeof(icmp));
	switch (w->kind) {
	case PSCOPE_FAIL_RESET:
		snprintf(buf, size, "%s (a reset came back: nothing listens there, or a firewall "
			 "answered with a reset)", pscope_strerror(-w->err));
		return EXIT_REFUSED;
	case PSCOPE_FAIL_ICMP:
		snprintf(buf, size, "%s (a firewall rejected it, or a router could not deliver it)",
			 icmp);
		return EXIT_UNREACHABLE;
	case PSCOPE_FAIL_LOCAL_ICMP:
		snprintf(buf, size, "%s, this host itself (its own firewall rejected it)", icmp);
		return EXIT_UNREACHABLE;
	case PSCOPE_FAIL_NEIGH:
		/* The next hop is the destination on its link, or the gateway towards it. */
		host = *dest;
		pscope_addr_set_port(&host, 0);
		gateway = !pscope_addr_same(&w->neighbour, &host);
		pscope_addr_host(&w->neighbour, hop, sizeof(hop));
		snprintf(buf, size, "no answer to %s after %.1f s: %s%s is down or absent (%s, "
			 "this host itself)", w->icmp.family == AF_INET ? "ARP" : "neighbour discovery",
			 secs, gateway ? "the gateway " : "the host", gateway ? hop : "", icmp);
		return EXIT_TIMEOUT;
	case PSCOPE_FAIL_LOCAL:
		snprintf(buf, size, "%s (refused by this host before anything was sent: no route, a "
			 "prohibiting route, or its own firewall)", pscope_strerror(-w->err));
		return EXIT_UNREACHABLE;
	case PSCOPE_FAIL_DEADLINE:
		snprintf(buf, size, "timed out after %g s, -w (no answer to %u SYN%s: dropped by a "
			 "firewall, or no such host)", timeout_ms / 1000.0, w->syns,
			 w->syns == 1 ? "" : "s");
		return EXIT_TIMEOUT;
	case PSCOPE_FAIL_SYN_RETRIES:
		snprintf(buf, size, "timed out after %.1f s: the kernel stopped retrying the SYN "
			 "(net.ipv4.tcp_syn_retries) before -w %g s (no answer to %u SYN%s: dropped by a "
			 "firewall, or no such host)", secs, timeout_ms / 1000.0, w->syns,
			 w->syns == 1 ? "" : "s");
		return EXIT_TIMEOUT;
	default:
		snprintf(buf, size, "%s", pscope_strerror(-w->err));
		return EXIT_FAIL;
	}
}

/* With -f json, the failure as an object on stdout: what the message says, for scripts. */
static void failure_json(const struct client *c, const char *dest, const char *text, int status)
{
	const struct pscope_connfail *w = &c->why;
	const struct pscope_icmp *icmp = &w->icmp;
	char from[PSCOPE_ADDRSTRLEN] = "";
	const char *name;
	struct pscope_json j;

	pscope_json_init_file(&j, stdout);
	pscope_json_object_begin(&j, NULL);
	pscope_json_string(&j, "destination", dest);
	pscope_json_string(&j, "verdict", "failed");
	pscope_json_object_begin(&j, "failure");
	pscope_json_string(&j, "kind", pscope_fail_kind_name(w->kind));
	pscope_json_string(&j, "errno", pscope_errno_name(w->err));
	pscope_json_double(&j, "elapsed_s", (double)w->elapsed_ms / 1000, 3);
	pscope_json_uint(&j, "syns", w->syns);
	/* The next hop that did not answer ARP or neighbour discovery. */
	if (w->kind == PSCOPE_FAIL_NEIGH && pscope_addr_host(&w->neighbour, from, sizeof(from)) >= 0)
		pscope_json_string(&j, "neighbour", from);
	if (w->have_icmp) {
		pscope_json_object_begin(&j, "icmp");
		pscope_json_string(&j, "protocol", icmp->family == AF_INET ? "icmp" : "icmpv6");
		pscope_json_uint(&j, "type", icmp->type);
		pscope_json_uint(&j, "code", icmp->code);
		if ((name = pscope_icmp_type_name(icmp->family, icmp->type)))
			pscope_json_string(&j, "type_name", name);
		else
			pscope_json_null(&j, "type_name");
		if ((name = pscope_icmp_code_name(icmp->family, icmp->type, icmp->code)))
			pscope_json_string(&j, "code_name", name);
		else
			pscope_json_null(&j, "code_name");
		if (icmp->offender.len && pscope_addr_host(&icmp->offender, from, sizeof(from)) >= 0)
			pscope_json_string(&j, "offender", from);
		else
			pscope_json_null(&j, "offender");
		pscope_json_bool(&j, "offender_is_local", icmp->offender_local);
		pscope_json_object_end(&j);
	} else {
		pscope_json_null(&j, "icmp");
	}
	pscope_json_object_end(&j);
	pscope_json_uint(&j, "exit", (unsigned)status);
	pscope_json_string(&j, "detail", text);
	pscope_json_object_end(&j);
	putchar('\n');
}

/*
 * Says why a connection failed, from what the kernel reported (the error
 * queue's ICMP, the socket's state, the errno), and how in the exit status:
 * a reset 3, an ICMP error or a refusal here 4, no answer (silence, or none
 * to ARP or neighbour discovery) 5.  Shared with proxycheck (cli.h).
 */
int cli_connect_failed(const char *text, const struct pscope_addr *dst,
		       const struct pscope_connfail *why, int timeout_ms)
{
	char words[768];
	int status = failure_text(why, dst, timeout_ms, words, sizeof(words));

	cli_warn("connect %s: %s", text, words);
	return status;
}

/* As cli_connect_failed(), and with -f json the failure as an object on stdout. */
static int connect_failed(const struct client *c, const struct pscope_addr *addr, const char *dest)
{
	char text[768];
	int status = failure_text(&c->why, addr, c->timeout_ms, text, sizeof(text));

	cli_warn("connect %s: %s", dest, text);
	if (c->fmt == FMT_JSON) {
		failure_json(c, dest, text, status);
		return cli_finish(status);
	}
	return status;
}

/* The exit status of a connection made: a reset, or with --strict what the verdict says. */
static int exit_status(const struct client *c)
{
	if (c->verdict == V_RESET)
		return EXIT_RESET;
	if (!c->strict)
		return EXIT_OK;
	switch (c->verdict) {
	case V_MISMATCH:
	case V_PROXY_MISMATCH:
		return EXIT_MISMATCH;
	case V_NO_REPLY:
	case V_BAD_REPLY:
		return EXIT_UNJUDGED;
	default:
		return EXIT_OK;
	}
}

int cmd_connect(int argc, char **argv)
{
	struct client c = { .fmt = FMT_SEED, .timeout_ms = 10000, .reply_ms = 2000, .pp = { .pause_ms = 200 },
			    .load = { .inflight = 1000, .procs = 1 } };
	struct pscope_addr addrs[MAX_ADDRS];
	struct pscope_endpoint ep;
	char text[PSCOPE_ADDRSTRLEN];
	int family = AF_UNSPEC, n, fd, rc;
	size_t which = 0;

	rc = parse_args(&c, argc, argv, &family);
	if (rc != EXIT_OK)
		return rc;
	if (c.help) {
		fputs(usage, stdout);
		return cli_finish(EXIT_OK);
	}
	if (c.load.n && c.pp.version)
		return cli_usage_error("--send-proxy goes with one connection, not -n");
	if (c.load.n)
		return run_load(&c, optind < argc ? argv[optind] : "127.0.0.1:8080", family);
	if (cli_parse_endpoint(optind < argc ? argv[optind] : "127.0.0.1:8080", "127.0.0.1",
			       8080, &ep) < 0)
		return EXIT_USAGE;
	cli_ignore_sigpipe();
	n = cli_resolve_endpoint(optind < argc ? argv[optind] : "127.0.0.1:8080", &ep, family,
				 PSCOPE_RESOLVE_CONNECT, addrs, MAX_ADDRS);
	if (n < 0)
		return -n;
	fd = connect_any(&c, addrs, n, &which);
	if (fd < 0) {
		addr_text(&addrs[which], text, sizeof(text));
		return connect_failed(&c, &addrs[which], text);
	}
	pscope_sock_describe(fd, &c.si);
	if (c.pp.version && (rc = pp_send_header(fd, &c.pp, &c.si)) < 0) {
		if (rc == PP_SEND_REFUSED) {
			close(fd);
			return EXIT_USAGE;	/* nothing sent, nothing to judge */
		}
		addr_text(&c.si.peer, text, sizeof(text));
		cli_warn("sending the PROXY header to %s: %s", text, pscope_proxy_strerror(rc));
	}
	read_reply(&c, fd);
	close(fd);
	judge(&c);
	if (c.fmt == FMT_SEED)
		print_seed(&c);
	else if (c.fmt == FMT_LINE)
		print_line(&c);
	else
		print_json(&c);
	return cli_finish(exit_status(&c));
}
