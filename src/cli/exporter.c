/*
 * portscope exporter: Prometheus metrics in the text exposition format
 * (https://prometheus.io/docs/instrumenting/exposition_formats/), served
 * over HTTP by libmicrohttpd from the event loop, or written for
 * node_exporter's textfile collector.  One sock_diag dump per scrape.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <microhttpd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "portscope/netns.h"
#include "portstats.h"

/*
 * The Prometheus community's list of default exporter ports has filled its
 * range, 9100 to 9999, since 2023; exporters since pick a port outside it.
 * 29100 is node_exporter's 9100 with a 2 before it (portscope adds per-port
 * counts to what node_exporter's collectors show), below the kernel's
 * ephemeral range (32768-60999), so that no client's port takes it first.
 */
#define DEFAULT_LISTEN "127.0.0.1:29100"
#define TEXTFILE_NAME "portscope.prom"

struct exporter {
	const char *listen;
	const char *textfile;
	double interval;
	bool once;
	struct pscope_loop *loop;
	struct MHD_Daemon *httpd;
	const char *netns;	/* --netns NAME or "all", or NULL: our own */
	struct nsstats *ns;	/* one per namespace read by the last scrape */
	size_t nns, ns_cap;
	int status;
	unsigned long scrapes;
};

/* One namespace's counts, and its label prefix ('netns="NAME",' or ""). */
struct nsstats {
	struct portstats ps;
	char label[160];
};

struct text {
	char *buf;
	size_t len, cap;
	bool oom;
};

static const char usage[] =
	"usage: portscope exporter [--listen ADDR:PORT] [--textfile DIR [--interval S]] [--once]\n"
	"                          [--netns NAME|all]\n"
	"\n"
	"Prometheus metrics about every TCP and UDP socket of this host, counted by\n"
	"port: sockets by port, protocol, role and state; each listener's accept queue\n"
	"and its limit; SO_REUSEPORT group sizes; the scrape's duration.  A client with\n"
	"an ephemeral port is counted under the port it connects to.  One sock_diag\n"
	"dump per scrape.\n"
	"\n"
	"Options:\n"
	"      --listen ADDR:PORT  serve /metrics over HTTP there (default " DEFAULT_LISTEN ";\n"
	"                          0.0.0.0:PORT or [::]:PORT must be asked for)\n"
	"      --textfile DIR      write DIR/" TEXTFILE_NAME " (a temporary file, then\n"
	"                          rename(2)) for node_exporter's textfile collector, and exit\n"
	"      --interval S        with --textfile: write it again every S seconds until\n"
	"                          SIGINT or SIGTERM\n"
	"      --once              print the metrics on stdout and exit\n"
	"      --netns NAME        the sockets of network namespace NAME (/run/netns/NAME,\n"
	"                          or a path such as /proc/PID/ns/net); 'all': every one on\n"
	"                          the host, read again at each scrape; each series gets a\n"
	"                          label netns=\"NAME\" (net:[INODE] for one without a name)\n"
	"  -h, --help              show this help\n"
	"\n"
	"Exit status: 0; 1 if the port cannot be served, the kernel cannot be read or\n"
	"the file cannot be written; 2 for a bad command line.\n";

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = t->cap - t->len;

		va_start(ap, fmt);
		n = vsnprintf(t->buf ? t->buf + t->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0 || t->oom)
			return;
		if ((size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		{
			size_t cap = (t->cap ? t->cap * 2 : 16384) + (size_t)n;
			char *p = realloc(t->buf, cap);

			if (!p) {
				t->oom = true;
				return;
			}
			t->buf = p;
			t->cap = cap;
		}
	}
}

static void family_header(struct text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A listener's address for a label: numeric, no port; a bound device as %NAME. */
static void address_label(const struct pscope_diag_sock *s, char *buf, size_t size)
{
	char ifname[IF_NAMESIZE];

	if (!inet_ntop(s->family, s->laddr, buf, (socklen_t)size))
		snprintf(buf, size, "?");
	if (s->ifindex && if_indextoname(s->ifindex, ifname))
		snprintf(buf + strlen(buf), size - strlen(buf), "%%%s", ifname);
}

static void put_sockets(struct text *t, const struct portstats *ps, const char *lab)
{
	for (size_t i = 0; i < ps->nports; i++) {
		const struct ps_port *p = &ps->ports[i];
		const char *proto = p->proto == IPPROTO_UDP ? "udp" : "tcp";

		for (int r = 0; r < PS_ROLES; r++)
			for (int st = 0; st < PS_STATES; st++) {
				/* NEW_SYN_RECV (12) is SYN_RECV too: one series. */
				uint32_t n = p->count[r][st];

				if (st == TCP_SYN_RECV)
					n += p->count[r][12];
				if (st == 12 || !n)
					continue;
				char port[8];

				if (p->port)
					snprintf(port, sizeof(port), "%u", p->port);
				else
					snprintf(port, sizeof(port), "other");
				put(t, "portscope_sockets{%sport=\"%s\",proto=\"%s\",role=\"%s\",state=\"%s\"} %u\n",
				    lab, port, proto, ps_role_names[r], ps_state_label(p->proto, (uint8_t)st), n);
			}
	}
}

/* One namespace's listeners: the queue's length (K 0) or limit (K 1) of each, under NAME. */
static void put_queues(struct text *t, const char *name, int k, const struct portstats *ps,
		       const char *lab)
{
	for (size_t i = 0; i < ps->nlisteners; i++) {
		const struct pscope_diag_sock *s = &ps->listeners[i].s;
		char addr[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];

		address_label(s, addr, sizeof(addr));
		put(t, "%s{%saddress=\"%s\",port=\"%u\",cookie=\"%llu\"} %u\n", name, lab, addr,
		    s->lport, (unsigned long long)s->cookie, k ? s->wqueue : s->rqueue);
	}
}

/* One namespace's SO_REUSEPORT groups: one series per group, its first member speaking for all. */
static void put_groups(struct text *t, const struct portstats *ps, const char *lab)
{
	for (size_t i = 0; i < ps->nlisteners; i++) {
		const struct pscope_diag_sock *s = &ps->listeners[i].s;
		char addr[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
		bool first = true;

		for (size_t j = 0; j < i && first; j++) {
			const struct pscope_diag_sock *o = &ps->listeners[j].s;

			first = !(o->family == s->family && o->lport == s->lport &&
				  o->ifindex == s->ifindex && !memcmp(o->laddr, s->laddr, 16));
		}
		if (!first)
			continue;
		address_label(s, addr, sizeof(addr));
		put(t, "portscope_reuseport_group_listeners{%saddress=\"%s\",port=\"%u\"} %u\n",
		    lab, addr, s->lport, ps->listeners[i].group_size);
	}
}

static void put_listeners(struct text *t, const struct nsstats *ns, size_t nns)
{
	static const struct { const char *name, *help; } fam[] = {
		{ "portscope_listener_accept_queue_length",
		  "Connections established and waiting in a TCP listener's accept queue." },
		{ "portscope_listener_accept_queue_limit",
		  "The accept queue's limit: the listen() backlog, capped by net.core.somaxconn." },
	};

	for (int k = 0; k < 2; k++) {
		family_header(t, fam[k].name, "gauge", fam[k].help);
		for (size_t n = 0; n < nns; n++)
			put_queues(t, fam[k].name, k, &ns[n].ps, ns[n].label);
	}
	family_header(t, "portscope_reuseport_group_listeners", "gauge",
		      "TCP listeners on one address and port; more than one only through SO_REUSEPORT.");
	for (size_t n = 0; n < nns; n++)
		put_groups(t, &ns[n].ps, ns[n].label);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A label value as the exposition format writes it: \\, \" and \n escaped. */
static void label_value(char *buf, size_t size, const char *v)
{
	size_t n = 0;

	for (; *v && n + 3 < size; v++) {
		if (*v == '\\' || *v == '"' || *v == '\n')
			buf[n++] = '\\';
		buf[n++] = *v == '\n' ? 'n' : *v;
	}
	buf[n] = '\0';
}

/* The next namespace's slot (its arrays kept from the last scrape), or NULL. */
static struct nsstats *ns_slot(struct exporter *e, const char *label)
{
	struct nsstats *x;
	char v[128];

	if (CLI_RESERVE(e->ns, e->ns_cap, e->nns, 4, true) < 0)
		return NULL;
	x = &e->ns[e->nns++];
	x->label[0] = '\0';
	if (label) {
		label_value(v, sizeof(v), label);
		snprintf(x->label, sizeof(x->label), "netns=\"%s\",", v);
	}
	return x;
}

static int collect_ns(const struct pscope_netns *ns, void *ctx)
{
	struct exporter *e = ctx;
	struct nsstats *x = ns_slot(e, ns->label);
	int rc;

	if (!x)
		return -ENOMEM;
	rc = portstats_collect_in(&x->ps, ns->fd);
	if (rc < 0)
		cli_warn("netlink sock_diag in namespace %s: %s", ns->label, pscope_strerror(rc));
	return rc;
}

/* Every namespace asked for, each into a slot of E->ns.  0 or a negative error. */
static int collect(struct exporter *e)
{
	struct pscope_netns ns = { .name = e->netns };
	int rc;

	e->nns = 0;
	if (!e->netns) {
		struct nsstats *x = ns_slot(e, NULL);

		rc = x ? portstats_collect(&x->ps) : -ENOMEM;
		if (rc < 0)
			cli_warn("netlink sock_diag: %s", pscope_strerror(rc));
		return rc;
	}
	if (!strcmp(e->netns, "all")) {
		rc = pscope_netns_list(collect_ns, e);
		return rc < 0 ? rc : 0;
	}
	ns.fd = pscope_netns_open(e->netns);
	if (ns.fd < 0) {
		cli_warn("--netns '%s': %s", e->netns,
			 ns.fd == -EINVAL ? "not a network namespace" : strerror(-ns.fd));
		return ns.fd;
	}
	snprintf(ns.label, sizeof(ns.label), "%s", e->netns);
	rc = collect_ns(&ns, e);
	close(ns.fd);
	return rc;
}

static void free_ns(struct exporter *e)
{
	for (size_t i = 0; i < e->ns_cap; i++)
		portstats_free(&e->ns[i].ps);
	free(e->ns);
}

/* One scrape: a dump per namespace, the counts, the text.  Returns 0, or the error (the text says so too). */
static int scrape(struct exporter *e, struct text *t)
{
	double start = now_s();
	int rc = collect(e);

	e->scrapes++;
	if (rc == 0) {
		family_header(t, "portscope_sockets", "gauge",
			      "Sockets by the port they serve or connect to (a client with an ephemeral "
			      "port counts under the port it connects to), protocol, role and state.");
		for (size_t n = 0; n < e->nns; n++)
			put_sockets(t, &e->ns[n].ps, e->ns[n].label);
		put_listeners(t, e->ns, e->nns);
	}
	family_header(t, "portscope_scrape_success", "gauge",
		      "1 if the kernel's socket list was read (NETLINK_SOCK_DIAG), 0 if not.");
	put(t, "portscope_scrape_success %d\n", rc == 0);
	family_header(t, "portscope_scrape_duration_seconds", "gauge",
		      "How long this scrape took: one sock_diag dump of every TCP and UDP socket, and the counting.");
	put(t, "portscope_scrape_duration_seconds %.6f\n", now_s() - start);
	return t->oom ? -ENOMEM : rc;
}

/* ---- HTTP ---- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *type, char *body,
			     size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result rc;

	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rc = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return rc;
}

static char index_html[] = "<html><head><title>portscope exporter</title></head><body>"
			  "<h1>portscope exporter</h1><p><a href=\"/metrics\">Metrics</a></p>"
			  "</body></html>\n";
static char not_allowed[] = "only GET and HEAD\n";
static char not_found[] = "not found: try /metrics\n";
static char no_memory[] = "out of memory\n";

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	static int marker;
	struct exporter *e = cls;
	struct text t = { 0 };

	(void)version;
	(void)upload;
	if (*req_cls != &marker) {
		/* First call: headers only.  The answer comes when the request is whole. */
		*req_cls = &marker;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0; /* a body is read and ignored: /metrics takes none */
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", not_allowed,
			     sizeof(not_allowed) - 1, MHD_RESPMEM_PERSISTENT);
	if (!strcmp(url, "/"))
		return reply(c, MHD_HTTP_OK, "text/html; charset=utf-8", index_html,
			     sizeof(index_html) - 1, MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", not_found, sizeof(not_found) - 1,
			     MHD_RESPMEM_PERSISTENT);
	if (scrape(e, &t) == -ENOMEM) {
		free(t.buf);
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", no_memory,
			     sizeof(no_memory) - 1, MHD_RESPMEM_PERSISTENT);
	}
	return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", t.buf, t.len,
		     MHD_RESPMEM_MUST_FREE);
}

static void on_http(struct pscope_loop *l, int fd, uint32_t events, void *arg)
{
	struct exporter *e = arg;

	(void)l;
	(void)fd;
	(void)events;
	MHD_run(e->httpd);
}

/* libmicrohttpd's own timeouts (idle connections) need it to run now and then. */
static long long on_tick(struct pscope_loop *l, long long id, void *arg)
{
	struct exporter *e = arg;
	MHD_UNSIGNED_LONG_LONG ms = 1000;

	(void)l;
	(void)id;
	MHD_run(e->httpd);
	if (MHD_get_timeout(e->httpd, &ms) == MHD_YES && ms < 1000)
		return (long long)ms;
	return 1000;
}

static void on_signal(struct pscope_loop *l, int sig, void *arg)
{
	(void)sig;
	(void)arg;
	pscope_loop_stop(l);
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	cli_warn("http: %s", msg);
}

static int open_listener(const char *arg, int *fd)
{
	struct pscope_endpoint ep;
	struct pscope_addr a;
	char text[PSCOPE_ADDRSTRLEN];
	socklen_t len = sizeof(a.u);
	int rc;

	if (cli_parse_endpoint(arg, "127.0.0.1", 29100, &ep) < 0)
		return EXIT_USAGE;
	rc = cli_resolve_endpoint(arg, &ep, AF_UNSPEC, PSCOPE_RESOLVE_PASSIVE, &a, 1);
	if (rc < 0)
		return -rc;
	*fd = pscope_listen(&a, 64, 0);
	if (*fd < 0) {
		cli_warn("cannot listen on %s: %s", arg, pscope_strerror(*fd));
		return EXIT_FAIL;
	}
	if (getsockname(*fd, &a.u.sa, &len) == 0) {
		a.len = len;
		if (pscope_addr_format(&a, text, sizeof(text)) >= 0)
			cli_warn("listening on %s: http://%s/metrics", text, text);
	}
	return EXIT_OK;
}

static int serve_http(struct exporter *e)
{
	const union MHD_DaemonInfo *info;
	int fd, rc = open_listener(e->listen, &fd);

	if (rc != EXIT_OK)
		return rc;
	e->httpd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, e,
				    MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
				    MHD_OPTION_LISTEN_SOCKET, fd,
				    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64,
				    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10, MHD_OPTION_END);
	if (!e->httpd) {
		cli_warn("libmicrohttpd would not start");
		close(fd);
		return EXIT_FAIL;
	}
	info = MHD_get_daemon_info(e->httpd, MHD_DAEMON_INFO_EPOLL_FD);
	if ((rc = pscope_loop_new(&e->loop)) < 0 || !info ||
	    (rc = pscope_loop_watch(e->loop, info->epoll_fd, PSCOPE_EV_READ, on_http, e)) < 0) {
		cli_warn("event loop: %s", pscope_strerror(rc < 0 ? rc : -EINVAL));
		MHD_stop_daemon(e->httpd);
		pscope_loop_free(e->loop);
		return EXIT_FAIL;
	}
	pscope_loop_timer(e->loop, 1000, on_tick, e);
	pscope_loop_signal(e->loop, SIGINT, on_signal, e);
	pscope_loop_signal(e->loop, SIGTERM, on_signal, e);
	rc = pscope_loop_run(e->loop);
	if (rc < 0)
		cli_warn("event loop: %s", pscope_strerror(rc));
	MHD_stop_daemon(e->httpd);
	pscope_loop_free(e->loop);
	cli_warn("served %lu scrape%s", e->scrapes, e->scrapes == 1 ? "" : "s");
	return rc < 0 ? EXIT_FAIL : EXIT_OK;
}

/* ---- the textfile ---- */

/* Writes DIR/portscope.prom whole or not at all: a temporary file in DIR, fsync, rename(2). */
static int write_textfile(struct exporter *e)
{
	char tmp[4096], path[4096];
	struct text t = { 0 };
	int fd, rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", e->textfile, TEXTFILE_NAME) >= sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.%d.tmp", e->textfile, TEXTFILE_NAME,
			     (int)getpid()) >= sizeof(tmp)) {
		cli_warn("--textfile %s: path too long", e->textfile);
		return -1;
	}
	rc = scrape(e, &t);
	if (rc == -ENOMEM) {
		free(t.buf);
		cli_warn("%s", strerror(ENOMEM));
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		cli_warn("%s: %s", tmp, strerror(errno));
		free(t.buf);
		return -1;
	}
	rc = pscope_write_all(fd, t.buf ? t.buf : "", t.len);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	free(t.buf);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0) {
		cli_warn("%s: %s", path, pscope_strerror(rc));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static long long on_rewrite(struct pscope_loop *l, long long id, void *arg)
{
	struct exporter *e = arg;

	(void)id;
	if (write_textfile(e) < 0) {
		e->status = EXIT_FAIL;
		pscope_loop_stop(l);
		return -1;
	}
	return (long long)(e->interval * 1000);
}

static int run_textfile(struct exporter *e)
{
	struct stat st;
	int rc;

	if (stat(e->textfile, &st) < 0) {
		cli_warn("--textfile %s: %s", e->textfile, strerror(errno));
		return EXIT_FAIL;
	}
	if (!S_ISDIR(st.st_mode)) {
		cli_warn("--textfile %s: not a directory", e->textfile);
		return EXIT_FAIL;
	}
	if (write_textfile(e) < 0)
		return EXIT_FAIL;
	if (e->interval <= 0)
		return EXIT_OK;
	if ((rc = pscope_loop_new(&e->loop)) < 0) {
		cli_warn("event loop: %s", pscope_strerror(rc));
		return EXIT_FAIL;
	}
	pscope_loop_timer(e->loop, (long long)(e->interval * 1000), on_rewrite, e);
	pscope_loop_signal(e->loop, SIGINT, on_signal, e);
	pscope_loop_signal(e->loop, SIGTERM, on_signal, e);
	rc = pscope_loop_run(e->loop);
	pscope_loop_free(e->loop);
	return rc < 0 ? EXIT_FAIL : e->status;
}

enum { OPT_TEXTFILE = 256, OPT_INTERVAL, OPT_ONCE, OPT_NETNS, OPT_LISTEN };

int cmd_exporter(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "textfile", required_argument, NULL, OPT_TEXTFILE },
		{ "interval", required_argument, NULL, OPT_INTERVAL },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "netns", required_argument, NULL, OPT_NETNS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct exporter e = { .listen = DEFAULT_LISTEN };
	struct cli_opts opts;
	int c, rc;

	cli_opts_init(&opts, "l:h", longopts);
	while ((c = cli_getopt(&opts, argc, argv)) != -1) {
		switch (c) {
		case 'l':
			/* ls's and watch's -l is --local-only: one letter, one meaning. */
			return cli_usage_error("'-l' is not exporter's: write --listen ADDR:PORT (-l is "
					       "--local-only in ls and watch)");
		case OPT_LISTEN: e.listen = optarg; break;
		case OPT_TEXTFILE: e.textfile = optarg; break;
		case OPT_ONCE: e.once = true; break;
		case OPT_NETNS:
			if (!*optarg)
				return cli_usage_error("--netns needs a namespace name, a path or 'all'");
			e.netns = optarg;
			break;
		case OPT_INTERVAL:
			if (cli_parse_seconds("--interval", optarg, &e.interval) < 0)
				return EXIT_USAGE;
			break;
		case 'h':
			fputs(usage, stdout);
			return cli_finish(EXIT_OK);
		default:
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_usage_error("unexpected argument '%s'", argv[optind]);
	if ((rc = cli_opt_conflict(&opts, OPT_TEXTFILE, OPT_LISTEN, "--textfile writes a file")) ||
	    (rc = cli_opt_conflict(&opts, OPT_TEXTFILE, OPT_ONCE, "--textfile writes a file")) ||
	    (rc = cli_opt_conflict(&opts, OPT_ONCE, OPT_LISTEN, "--once prints the metrics")) ||
	    (rc = cli_opt_needs(&opts, OPT_INTERVAL, e.textfile != NULL,
				"--textfile (Prometheus decides when to scrape)")))
		return rc;
	cli_ignore_sigpipe();
	if (e.once) {
		struct text t = { 0 };

		rc = scrape(&e, &t);
		if (t.buf && fwrite(t.buf, 1, t.len, stdout) != t.len)
			cli_check_stdout();
		free(t.buf);
		free_ns(&e);
		return cli_finish(rc < 0 ? EXIT_FAIL : EXIT_OK);
	}
	rc = e.textfile ? run_textfile(&e) : serve_http(&e);
	free_ns(&e);
	return cli_finish(rc);
}
