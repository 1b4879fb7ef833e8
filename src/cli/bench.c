/*
 * portscope bench: many connections held on one port, measured from the
 * server, the clients and the kernel at once.  It runs this very program:
 * `serve --workers` for the server and `connect -n --procs` for the clients,
 * reads their output, and asks the kernel itself.  --accept-only measures
 * the note's pattern instead: accept, report, close.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <netinet/in.h>

#include "cli.h"

#define PER_PROC 18000		/* connections per client process: under the 20,000 descriptors */
#define PER_WORKER 15000	/* connections per server worker, on average */
#define PER_PAIR 14000		/* connections per (source, destination) address pair */
#define SAMPLE_MS 250
#define MAX_WORKERS 1024
#define MAX_SAMPLES 100000
#define ACCEPT_INFLIGHT 64	/* --accept-only: unanswered connections per client process */

struct child {
	pid_t pid;
	int out, err;			/* read ends of its stdout and stderr, or -1 */
	char buf[8192];			/* partial stdout line */
	size_t len;
	char errbuf[4096];		/* the start of its stderr, for messages */
	size_t errlen;
};

struct sample {
	double t;
	unsigned long conns;
};

struct bench {
	unsigned long n;
	double hold_s;
	unsigned workers, procs, srcs;
	enum format fmt;
	const char *chart;
	const char *note;		/* --note: the note's directory (or file) */
	bool accept_only;
	char left_out[2][256];		/* --accept-only: why the python, nginx peer was left out */
	int port;
	struct child server, client;
	pid_t wpid[MAX_WORKERS];
	unsigned long wopen[MAX_WORKERS], wserved[MAX_WORKERS];
	struct sample *samples;
	size_t nsamples;
	/* results */
	double ramp_s, rate;
	unsigned long held_server, held_client, held_kernel, failures;
	double cpu_us_per_conn, server_b, client_b, kernel_b, ls_s, ss_s;
	double held_s;
	char client_json[4096];
};

static const char usage[] =
	"usage: portscope bench [OPTIONS]\n"
	"\n"
	"Hold many loopback connections on one port and measure them from the server,\n"
	"the clients and the kernel: it runs 'portscope serve --workers' and\n"
	"'portscope connect -n --procs', ramps to N connections, holds them, checks that\n"
	"all three counts agree, and reports the ramp rate, server CPU per accepted\n"
	"connection, user-space memory per connection (server and client), kernel\n"
	"memory per connection (slab growth), and 'portscope ls' against 'ss' on them.\n"
	"\n"
	"Options:\n"
	"  -n, --connections N  connections to hold (default 100000; 20000 with --accept-only)\n"
	"      --hold SECS      hold them this long once all are made (default 5)\n"
	"      --workers W      server worker processes (default: enough for N)\n"
	"      --procs P        client processes (default: enough for N)\n"
	"  -f, --format FMT     text (default) or json\n"
	"      --chart FILE     draw the ramp (connections and rate against time) as SVG\n"
	"      --accept-only    the note's pattern instead: accept, report, close, as fast\n"
	"                       as clients come, against the note's Python server and\n"
	"                       nginx's stream module when they are installed\n"
	"      --note DIR       with --accept-only: the note's directory (its .txt file);\n"
	"                       default: ../shared/seed beside the source tree this\n"
	"                       program was built in (found from the program's own path)\n"
	"  -h, --help           show this help\n"
	"\n"
	"A process may hold at most a limited number of descriptors, so N connections\n"
	"take about N/15000 server workers, N/18000 client processes and N/14000\n"
	"source addresses (127.0.0.2 and up).  Exit status: 0 if every connection was held and every\n"
	"count agreed, 1 if not, 2 for a bad command line.\n";

static double now_s(void)
{
	return (double)pscope_now_ms() / 1000;
}

/* Starts this program with ARGV (argv[0] is replaced), its stdout and stderr on pipes. */
/*
 * This program's own file, for running it again as server and clients.  The
 * path, not /proc/self/exe itself: under a tool such as valgrind that link is
 * the tool, and readlink() is the one the tool answers for its client.
 */
static const char *self_path(void)
{
	static char path[PATH_MAX];
	ssize_t n;

	if (path[0])
		return path;
	n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n <= 0 || n >= (ssize_t)sizeof(path) - 1 || access(path, X_OK) != 0)
		snprintf(path, sizeof(path), "/proc/self/exe");
	else
		path[n] = '\0';
	return path;
}

static int spawn(struct child *c, char *const argv[], bool want_out)
{
	int out[2] = { -1, -1 }, err[2];

	memset(c, 0, sizeof(*c));
	if ((want_out && pipe2(out, O_CLOEXEC) < 0) || pipe2(err, O_CLOEXEC) < 0)
		return -errno;
	fflush(stdout);
	c->pid = fork();
	if (c->pid < 0)
		return -errno;
	if (c->pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		/* If the parent dies, even by SIGKILL, this process must not live on. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);

		dup2(want_out ? out[1] : null, STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		execv(self_path(), argv);
		_exit(127);
	}
	if (want_out)
		close(out[1]);
	close(err[1]);
	c->out = want_out ? out[0] : -1;
	c->err = err[0];
	fcntl(c->err, F_SETFL, O_NONBLOCK);
	if (c->out >= 0)
		fcntl(c->out, F_SETFL, O_NONBLOCK);
	return 0;
}

static void read_err(struct child *c)
{
	char tmp[4096];
	ssize_t n = -1;

	while (c->err >= 0 && (n = read(c->err, tmp, sizeof(tmp))) > 0) {
		size_t room = sizeof(c->errbuf) - 1 - c->errlen;
		size_t k = (size_t)n < room ? (size_t)n : room;

		memcpy(c->errbuf + c->errlen, tmp, k);
		c->errlen += k;
		c->errbuf[c->errlen] = '\0';
	}
	if (n == 0 && c->err >= 0) {
		close(c->err);
		c->err = -1;
	}
}

/* "worker 3 pid 1234: open 500 served 600": the server's periodic count. */
static void server_line(struct bench *b, const char *line)
{
	unsigned w;
	int pid;
	unsigned long open, served;

	if (sscanf(line, "worker %u pid %d: open %lu served %lu", &w, &pid, &open, &served) != 4 ||
	    w < 1 || w > MAX_WORKERS)
		return;
	b->wpid[w - 1] = pid;
	b->wopen[w - 1] = open;
	b->wserved[w - 1] = served;
}

/* Reads whatever the server printed; calls server_line for each whole line. */
static void read_server(struct bench *b)
{
	struct child *c = &b->server;
	ssize_t n;

	read_err(c);
	while (c->out >= 0 && (n = read(c->out, c->buf + c->len, sizeof(c->buf) - 1 - c->len)) > 0) {
		char *start = c->buf, *nl;

		c->len += (size_t)n;
		c->buf[c->len] = '\0';
		while ((nl = strchr(start, '\n'))) {
			*nl = '\0';
			server_line(b, start);
			start = nl + 1;
		}
		c->len -= (size_t)(start - c->buf);
		memmove(c->buf, start, c->len);
	}
}

static unsigned long server_open(const struct bench *b)
{
	unsigned long sum = 0;

	for (unsigned i = 0; i < b->workers; i++)
		sum += b->wopen[i];
	return sum;
}

static bool all_workers_seen(const struct bench *b)
{
	for (unsigned i = 0; i < b->workers; i++)
		if (!b->wpid[i])
			return false;
	return true;
}

/* Waits up to MS for the server's output. */
static void wait_server(struct bench *b, int ms)
{
	struct pollfd p[2] = { { .fd = b->server.out, .events = POLLIN },
			       { .fd = b->server.err, .events = POLLIN } };

	poll(p, 2, ms);
	read_server(b);
}

static long read_meminfo_kb(const char *key)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':')
			v = strtol(line + strlen(key) + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static long proc_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "RssAnon:", 8))
			v = strtol(line + 8, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

/* User plus system CPU time of PID, in microseconds. */
static double proc_cpu_us(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	int fd, n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = (int)read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The command may hold spaces and parentheses: fields count from the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

static double workers_cpu_us(const struct bench *b)
{
	double sum = 0;

	for (unsigned i = 0; i < b->workers; i++)
		sum += proc_cpu_us(b->wpid[i]);
	return sum;
}

static long workers_rss_kb(const struct bench *b)
{
	long sum = 0;

	for (unsigned i = 0; i < b->workers; i++)
		sum += proc_rss_kb(b->wpid[i]);
	return sum;
}

static int count_kernel(const struct pscope_diag_sock *s, void *ctx)
{
	unsigned long *n = ctx;

	if (!s)
		*n = 0;
	else
		(*n)++;
	return 0;
}

/* Established TCP sockets whose local port is the port: the kernel's count of connections. */
static unsigned long kernel_count(int port)
{
	struct pscope_diag_filter f = { .protos = PSCOPE_DIAG_TCP, .port = port, .local_only = true,
					.states = 1u << 1 };
	unsigned long n = 0;

	if (pscope_diag_netlink(&f, count_kernel, &n, -1, NULL) < 0)
		pscope_diag_proc(NULL, &f, count_kernel, &n, NULL);
	return n;
}

/* Wall-clock seconds of a command, its output discarded; -1 if it failed or is missing. */
static double time_command(char *const argv[], bool self)
{
	double t0 = now_s();
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (self)
			execv(self_path(), argv);
		else
			execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	return now_s() - t0;
}

static void add_sample(struct bench *b, double t)
{
	if (b->nsamples < MAX_SAMPLES)
		b->samples[b->nsamples++] = (struct sample){ t, server_open(b) };
}

static int start_server(struct bench *b, bool keep)
{
	char workers[16];
	char *argv[] = { "portscope", "serve", "--workers", workers, "-q", "--interval", "0.25",
			 "127.0.0.1:0", keep ? "--keep" : NULL, NULL };
	double deadline = now_s() + 10;

	snprintf(workers, sizeof(workers), "%u", b->workers);
	if (spawn(&b->server, argv, true) < 0)
		return -1;
	while (now_s() < deadline && !b->port) {
		const char *p;

		const char *nl;

		wait_server(b, 100);
		p = strstr(b->server.errbuf, "listening on ");
		nl = p ? strchr(p, '\n') : NULL;
		if (nl) {
			/* The line ends in ":PORT". */
			while (nl > p && nl[-1] != ':')
				nl--;
			b->port = atoi(nl);
		}
	}
	while (now_s() < deadline && !all_workers_seen(b))
		wait_server(b, 100);
	if (!b->port || !all_workers_seen(b)) {
		cli_warn("the server did not start: %s", b->server.errbuf);
		return -1;
	}
	return 0;
}

static int start_clients(struct bench *b, bool hold)
{
	char n[24], procs[16], src[64], port[16], inflight[16];
	char *argv[] = { "portscope", "connect", "-n", n, "--procs", procs, "-c", inflight,
			 "--source", src, "-f", "json", "--hold", hold ? "forever" : "0", port, NULL };

	snprintf(n, sizeof(n), "%lu", b->n);
	snprintf(procs, sizeof(procs), "%u", b->procs);
	snprintf(inflight, sizeof(inflight), "%u", 256);
	snprintf(src, sizeof(src), "127.0.0.2-127.0.%u.%u", (1 + b->srcs) / 256, (1 + b->srcs) % 256);
	snprintf(port, sizeof(port), "%d", b->port);
	return spawn(&b->client, argv, true);
}

/* Reads the client's JSON summary (it prints it when it ends) and waits for it. */
static int finish_clients(struct bench *b)
{
	size_t len = 0;
	int status;

	fcntl(b->client.out, F_SETFL, 0);
	for (;;) {
		ssize_t n = read(b->client.out, b->client_json + len, sizeof(b->client_json) - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
	}
	b->client_json[len] = '\0';
	read_err(&b->client);
	waitpid(b->client.pid, &status, 0);
	return len ? 0 : -1;
}

static unsigned long json_ulong(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	return p ? strtoul(p + strlen(pat), NULL, 10) : 0;
}

static void stop_server(struct bench *b)
{
	int status;

	kill(b->server.pid, SIGTERM);
	fcntl(b->server.out, F_SETFL, 0);
	while (read(b->server.out, b->server.buf, sizeof(b->server.buf)) > 0)
		;
	waitpid(b->server.pid, &status, 0);
}

/* Ramps until the server holds N, the clients give up, or progress stops for 20 s. */
static void ramp(struct bench *b, double t0)
{
	double last_progress = t0, next_sample = t0;
	unsigned long last = 0;

	for (;;) {
		double t = now_s();
		unsigned long open;
		int status;

		wait_server(b, SAMPLE_MS / 2);
		open = server_open(b);
		if (t >= next_sample) {
			add_sample(b, t - t0);
			next_sample += (double)SAMPLE_MS / 1000;
		}
		if (open > last) {
			last = open;
			last_progress = t;
		}
		if (open >= b->n) {
			b->ramp_s = t - t0;
			break;
		}
		if (t - last_progress > 20 || waitpid(b->client.pid, &status, WNOHANG) == b->client.pid) {
			b->ramp_s = t - t0;
			break;
		}
	}
	add_sample(b, now_s() - t0);
}

static void time_listings(struct bench *b)
{
	char port[16], filter[96];
	char *ls_argv[] = { "portscope", "ls", port, NULL };
	char *ss_argv[] = { "ss", "-tan", filter, NULL };

	snprintf(port, sizeof(port), "%d", b->port);
	snprintf(filter, sizeof(filter), "sport = :%d or dport = :%d", b->port, b->port);
	b->ls_s = time_command(ls_argv, true);
	b->ss_s = time_command(ss_argv, false);
}

static void write_chart(const struct bench *b)
{
	FILE *f = fopen(b->chart, "w");
	double tmax = 1, cmax = 1, rmax = 1;
	const double W = 800, H = 400, L = 70, R = 70, T = 40, B = 50;

	if (!f) {
		cli_warn("%s: %s", b->chart, strerror(errno));
		return;
	}
	for (size_t i = 0; i < b->nsamples; i++) {
		const struct sample *s = &b->samples[i];

		tmax = s->t > tmax ? s->t : tmax;
		cmax = (double)s->conns > cmax ? (double)s->conns : cmax;
		if (i > 0 && s->t > b->samples[i - 1].t) {
			double r = (double)(s->conns - b->samples[i - 1].conns) / (s->t - b->samples[i - 1].t);

			rmax = r > rmax ? r : rmax;
		}
	}
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		"font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
	fprintf(f, "<text x=\"%.0f\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">portscope bench: "
		"%lu connections on port %d (%u workers, %u client processes)</text>\n",
		W / 2, b->n, b->port, b->workers, b->procs);
	fprintf(f, "<g stroke=\"#999\"><line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\"/>"
		"<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\"/>"
		"<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\"/></g>\n",
		L, H - B, W - R, H - B, L, T, L, H - B, W - R, T, W - R, H - B);
	for (int k = 0; k <= 4; k++) {
		double y = H - B - (H - T - B) * k / 4;

		fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\" fill=\"#1f5fbf\">%.0f</text>\n",
			L - 6, y + 4, cmax * k / 4);
		fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" fill=\"#c0392b\">%.0f</text>\n", W - R + 6, y + 4,
			rmax * k / 4);
		fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">%.1f</text>\n",
			L + (W - L - R) * k / 4, H - B + 16, tmax * k / 4);
	}
	fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">seconds</text>\n", W / 2, H - 12);
	fprintf(f, "<text x=\"14\" y=\"%.0f\" fill=\"#1f5fbf\" transform=\"rotate(-90 14 %.0f)\" "
		"text-anchor=\"middle\">connections held</text>\n", H / 2, H / 2);
	fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" fill=\"#c0392b\" transform=\"rotate(90 %.0f %.0f)\" "
		"text-anchor=\"middle\">new connections per second</text>\n", W - 14, H / 2, W - 14, H / 2);
	fprintf(f, "<polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2\" points=\"");
	for (size_t i = 0; i < b->nsamples; i++)
		fprintf(f, "%.1f,%.1f ", L + (W - L - R) * b->samples[i].t / tmax,
			H - B - (H - T - B) * (double)b->samples[i].conns / cmax);
	fprintf(f, "\"/>\n<polyline fill=\"none\" stroke=\"#c0392b\" stroke-width=\"1.5\" points=\"");
	for (size_t i = 1; i < b->nsamples; i++) {
		const struct sample *s = &b->samples[i], *p = &b->samples[i - 1];
		double r = s->t > p->t ? (double)(s->conns - p->conns) / (s->t - p->t) : 0;

		fprintf(f, "%.1f,%.1f ", L + (W - L - R) * s->t / tmax, H - B - (H - T - B) * r / rmax);
	}
	fprintf(f, "\"/>\n</svg>\n");
	if (fclose(f) != 0)
		cli_warn("%s: %s", b->chart, strerror(errno));
}

static void print_results_json(const struct bench *b, bool ok)
{
	struct pscope_json j;

	pscope_json_init_file(&j, stdout);
	pscope_json_object_begin(&j, NULL);
	pscope_json_uint(&j, "connections", b->n);
	pscope_json_uint(&j, "connections_held", ok ? b->n : b->held_kernel);
	pscope_json_uint(&j, "server_count", b->held_server);
	pscope_json_uint(&j, "client_count", b->held_client);
	pscope_json_uint(&j, "kernel_count", b->held_kernel);
	pscope_json_uint(&j, "failures", b->failures);
	pscope_json_double(&j, "held_seconds", b->held_s, 1);
	pscope_json_double(&j, "ramp_seconds", b->ramp_s, 3);
	pscope_json_double(&j, "rate_per_s", b->rate, 0);
	pscope_json_double(&j, "server_cpu_us_per_conn", b->cpu_us_per_conn, 2);
	pscope_json_double(&j, "server_bytes_per_conn", b->server_b, 1);
	pscope_json_double(&j, "client_bytes_per_conn", b->client_b, 1);
	pscope_json_double(&j, "kernel_bytes_per_conn", b->kernel_b, 0);
	pscope_json_double(&j, "ls_seconds", b->ls_s, 3);
	pscope_json_double(&j, "ss_seconds", b->ss_s, 3);
	pscope_json_uint(&j, "workers", b->workers);
	pscope_json_uint(&j, "client_procs", b->procs);
	pscope_json_uint(&j, "source_addresses", b->srcs);
	pscope_json_int(&j, "port", b->port);
	pscope_json_bool(&j, "ok", ok);
	pscope_json_object_end(&j);
	putchar('\n');
}

static void print_results(const struct bench *b, bool ok)
{
	if (b->fmt == FMT_JSON) {
		print_results_json(b, ok);
		return;
	}
	printf("portscope bench: %lu connections to 127.0.0.1:%d, %u server workers, %u client "
	       "processes, %u source addresses\n", b->n, b->port, b->workers, b->procs, b->srcs);
	printf("  held            server %lu, clients %lu, kernel %lu, for %.1f s; %lu failures%s\n",
	       b->held_server, b->held_client, b->held_kernel, b->held_s, b->failures,
	       ok ? "" : "  <- the counts disagree or fall short");
	printf("  ramp            %.2f s, %.0f connections/s\n", b->ramp_s, b->rate);
	printf("  server CPU      %.2f us per accepted connection\n", b->cpu_us_per_conn);
	printf("  user memory     server %.1f B, client %.1f B per connection\n", b->server_b,
	       b->client_b);
	printf("  kernel memory   %.0f B per connection (slab, both ends)\n", b->kernel_b);
	if (b->ls_s > 0 && b->ss_s > 0)
		printf("  listing         portscope ls %.3f s, ss %.3f s (ss takes %.1fx as long)\n",
		       b->ls_s, b->ss_s, b->ss_s / b->ls_s);
	else if (b->ls_s > 0)
		printf("  listing         portscope ls %.3f s (ss: not run)\n", b->ls_s);
	if (b->chart)
		printf("  chart           %s\n", b->chart);
}

static int run_hold(struct bench *b)
{
	long slab0, slab1, rss0, rss1;
	double cpu0, cpu1, t0, hold_end;
	bool ok;

	if (start_server(b, true) < 0)
		return EXIT_FAIL;
	slab0 = read_meminfo_kb("Slab");
	rss0 = workers_rss_kb(b);
	cpu0 = workers_cpu_us(b);
	t0 = now_s();
	if (start_clients(b, true) < 0) {
		stop_server(b);
		return EXIT_FAIL;
	}
	ramp(b, t0);
	cpu1 = workers_cpu_us(b);
	rss1 = workers_rss_kb(b);
	slab1 = read_meminfo_kb("Slab");
	b->held_server = server_open(b);
	b->held_kernel = kernel_count(b->port);
	b->rate = b->ramp_s > 0 ? (double)b->held_server / b->ramp_s : 0;
	b->cpu_us_per_conn = b->held_server ? (cpu1 - cpu0) / (double)b->held_server : 0;
	b->server_b = b->held_server ? (double)(rss1 - rss0) * 1024 / (double)b->held_server : 0;
	b->kernel_b = b->held_kernel ? (double)(slab1 - slab0) * 1024 / (double)b->held_kernel : 0;
	time_listings(b);
	/* Hold, watching that no connection is lost. */
	hold_end = t0 + b->ramp_s + b->hold_s;
	while (now_s() < hold_end)
		wait_server(b, SAMPLE_MS);
	b->held_s = now_s() - (t0 + b->ramp_s);
	if (server_open(b) < b->held_server)
		b->held_server = server_open(b);
	kill(b->client.pid, SIGINT);
	finish_clients(b);
	b->held_client = json_ulong(b->client_json, "established") -
			 json_ulong(b->client_json, "closed_by_server");
	b->failures = json_ulong(b->client_json, "failed");
	{
		const char *p = strstr(b->client_json, "\"peak\":");
		const char *q = strstr(b->client_json, "\"before\":");

		if (p && q && b->held_client)
			b->client_b = (double)(strtol(p + 7, NULL, 10) - strtol(q + 9, NULL, 10)) * 1024 /
				      (double)b->held_client;
	}
	stop_server(b);
	if (b->chart)
		write_chart(b);
	ok = b->held_server == b->n && b->held_client == b->n && b->held_kernel == b->n &&
	     !b->failures;
	print_results(b, ok);
	return cli_finish(ok ? EXIT_OK : EXIT_FAIL);
}

static int cmd_bench_accept(struct bench *b);

int cmd_bench(int argc, char **argv)
{
	enum { OPT_HOLD = 256, OPT_WORKERS, OPT_PROCS, OPT_CHART, OPT_ACCEPT, OPT_NOTE };
	static const int hold_only[] = { OPT_HOLD, OPT_WORKERS, OPT_CHART };
	static const struct option longopts[] = {
		{ "connections", required_argument, NULL, 'n' },
		{ "hold", required_argument, NULL, OPT_HOLD },
		{ "workers", required_argument, NULL, OPT_WORKERS },
		{ "procs", required_argument, NULL, OPT_PROCS },
		{ "format", required_argument, NULL, 'f' },
		{ "chart", required_argument, NULL, OPT_CHART },
		{ "accept-only", no_argument, NULL, OPT_ACCEPT },
		{ "note", required_argument, NULL, OPT_NOTE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b = { .n = 0, .hold_s = 5, .fmt = FMT_SEED };
	unsigned long count;
	struct cli_opts o;
	int c, status;

	cli_opts_init(&o, "n:f:h", longopts);
	while ((c = cli_getopt(&o, argc, argv)) != -1) {
		switch (c) {
		case 'n':
			if (cli_parse_count("number of connections", optarg, 1, 10000000, &b.n) < 0)
				return EXIT_USAGE;
			break;
		case OPT_HOLD:
			if (cli_parse_seconds("hold", optarg, &b.hold_s) < 0)
				return EXIT_USAGE;
			break;
		case OPT_WORKERS:
		case OPT_PROCS:
			if (cli_parse_count("process count", optarg, 1, MAX_WORKERS, &count) < 0)
				return EXIT_USAGE;
			*(c == OPT_WORKERS ? &b.workers : &b.procs) = (unsigned)count;
			break;
		case 'f':
			if (!strcmp(optarg, "text"))
				b.fmt = FMT_SEED;
			else if (!strcmp(optarg, "json"))
				b.fmt = FMT_JSON;
			else
				return cli_usage_error("bad format '%s': use text or json", optarg);
			break;
		case OPT_CHART:
			b.chart = optarg;
			break;
		case OPT_ACCEPT:
			b.accept_only = true;
			break;
		case OPT_NOTE:
			b.note = optarg;
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
	if ((status = cli_opt_needs(&o, OPT_NOTE, b.accept_only,
				    "--accept-only (only it runs the note's server)")))
		return status;
	/* --accept-only runs one server, unheld, and draws nothing. */
	for (size_t i = 0; i < sizeof(hold_only) / sizeof(hold_only[0]); i++)
		if ((status = cli_opt_conflict(&o, OPT_ACCEPT, hold_only[i], "--accept-only holds "
					       "nothing, runs one server and draws no chart")))
			return status;
	if (!b.n)
		b.n = b.accept_only ? 20000 : 100000;
	if (b.accept_only && !b.procs)
		b.procs = 2;
	/* Workers get a fifth more room than clients: SO_REUSEPORT spreads by hash, not evenly. */
	if (!b.workers)
		b.workers = (unsigned)((b.n + PER_WORKER - 1) / PER_WORKER + 1);
	if (!b.procs)
		b.procs = (unsigned)((b.n + PER_PROC - 1) / PER_PROC);
	b.srcs = (unsigned)((b.n + PER_PAIR - 1) / PER_PAIR);
	if (b.workers > MAX_WORKERS || b.procs > MAX_WORKERS || b.srcs > 65000)
		return cli_usage_error("%lu connections need more processes than this bench runs", b.n);
	b.samples = calloc(MAX_SAMPLES, sizeof(*b.samples));
	if (!b.samples) {
		cli_warn("%s", strerror(ENOMEM));
		return EXIT_FAIL;
	}
	cli_ignore_sigpipe();
	/* A chart that cannot be written is found out now, not after minutes of work. */
	if (b.chart) {
		FILE *f = fopen(b.chart, "w");

		if (!f || fclose(f) != 0) {
			cli_warn("%s: %s", b.chart, strerror(errno));
			free(b.samples);
			return EXIT_FAIL;
		}
	}
	status = b.accept_only ? cmd_bench_accept(&b) : run_hold(&b);
	free(b.samples);
	return status;
}

/* A loopback port nobody holds right now (a peer is then told to listen on it). */
static int free_port(void)
{
	struct pscope_endpoint ep;
	struct pscope_addr a;
	struct pscope_sockinfo si;
	int fd, port;

	pscope_endpoint_parse("127.0.0.1:0", 11, NULL, 0, &ep);
	if (pscope_endpoint_resolve(&ep, AF_INET, SOCK_STREAM, PSCOPE_RESOLVE_NUMERIC, &a, 1) < 0)
		return -1;
	fd = pscope_listen(&a, 1, PSCOPE_LISTEN_BIND_ONLY);
	if (fd < 0)
		return -1;
	pscope_sock_describe(fd, &si);
	port = pscope_addr_port(&si.local);
	close(fd);
	return port;
}

/* Waits up to 10 s until something accepts on PORT. */
static bool wait_listening(int port)
{
	struct pscope_addr a = { .len = sizeof(struct sockaddr_in) };

	a.u.sin.sin_family = AF_INET;
	a.u.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.u.sin.sin_port = htons((uint16_t)port);
	for (int i = 0; i < 100; i++) {
		int fd = pscope_socket(AF_INET, SOCK_STREAM), rc;

		if (fd < 0)
			return false;
		rc = pscope_connect(fd, &a, 1000);
		close(fd);
		if (rc == 0)
			return true;
		usleep(100000);
	}
	return false;
}

/*
 * Runs the clients against PORT (no hold) and returns their rate, or -1.
 * INFLIGHT bounds the connections not yet answered, per client process.
 */
static double client_rate(struct bench *b, int port, unsigned inflight, pid_t server,
			  double *cpu_us_per_conn)
{
	double cpu0 = proc_cpu_us(server);
	char n[24], procs[16], p[16], c[16], src[64];
	char *argv[] = { "portscope", "connect", "-n", n, "--procs", procs, "-c", c, "-r", "1",
			 "-w", "5", "-f", "json", "--source", src, p, NULL };

	snprintf(c, sizeof(c), "%u", inflight);
	snprintf(src, sizeof(src), "127.0.0.2-127.0.%u.%u", (1 + b->srcs) / 256, (1 + b->srcs) % 256);
	snprintf(n, sizeof(n), "%lu", b->n);
	snprintf(procs, sizeof(procs), "%u", b->procs);
	snprintf(p, sizeof(p), "%d", port);
	if (spawn(&b->client, argv, true) < 0 || finish_clients(b) < 0) {
		cli_warn("the clients failed: %s", b->client.errbuf);
		return -1;
	}
	if (json_ulong(b->client_json, "established") != b->n) {
		cli_warn("only %lu of %lu connections were made to port %d",
			 json_ulong(b->client_json, "established"), b->n, port);
		return -1;
	}
	*cpu_us_per_conn = (proc_cpu_us(server) - cpu0) / (double)b->n;
	return (double)b->n / strtod(strstr(b->client_json, "\"ramp_seconds\":") + 15, NULL);
}

static void stop_peer(pid_t pid)
{
	kill(pid, SIGTERM);
	for (int i = 0; i < 50 && waitpid(pid, NULL, WNOHANG) == 0; i++)
		usleep(100000);
	if (waitpid(pid, NULL, WNOHANG) == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

/* Starts a peer program (ARGV, from PATH) with stdout and stderr on /dev/null. */
static pid_t start_peer(char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Opens the first note (a .txt file) in DIR, or DIR itself if it is a file.  Returns it or NULL. */
static FILE *open_note(const char *dir)
{
	struct stat st;
	FILE *in = NULL;
	DIR *d;
	struct dirent *e;

	if (stat(dir, &st) == 0 && S_ISREG(st.st_mode))
		return fopen(dir, "r");
	d = opendir(dir);
	while (d && (e = readdir(d)) && !in) {
		size_t len = strlen(e->d_name);
		char path[PATH_MAX];

		if (len > 4 && !strcmp(e->d_name + len - 4, ".txt") &&
		    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < (int)sizeof(path))
			in = fopen(path, "r");
	}
	if (d)
		closedir(d);
	return in;
}

/*
 * The note's directory when --note does not give it: ../shared/seed beside the
 * source tree the program was built in.  The program is build/portscope (or
 * build/sanitize/portscope, ...) in that tree, so each directory above the
 * program's own is tried, nearest first: the current directory has nothing to do
 * with it.  Returns the first that has a note, or NULL; *TRIED says where it looked.
 */
static const char *find_note_dir(char *tried, size_t size)
{
	static char dir[PATH_MAX];
	char exe[PATH_MAX];
	FILE *in;

	snprintf(exe, sizeof(exe), "%s", self_path());
	snprintf(tried, size, "../shared/seed above %s", exe);
	for (char *slash = strrchr(exe, '/'); slash && slash > exe; slash = strrchr(exe, '/')) {
		*slash = '\0';
		if (snprintf(dir, sizeof(dir), "%s/../shared/seed", exe) >= (int)sizeof(dir))
			break;
		in = open_note(dir);
		if (in) {
			fclose(in);
			return dir;
		}
	}
	return NULL;
}

/*
 * The note's Python server, as written, but on PORT: its first python block,
 * with 8080 replaced.  Returns the file's path in DIR, or NULL with a reason.
 */
static const char *python_server(const struct bench *b, const char *dir, int port, char *path,
				 size_t size)
{
	static char why[PATH_MAX + 128];
	char text[16384], tried[PATH_MAX + 32], *code, *end;
	const char *note = b->note ? b->note : find_note_dir(tried, sizeof(tried));
	FILE *in = note ? open_note(note) : NULL, *out;
	size_t n;

	if (!in) {
		if (b->note)
			snprintf(why, sizeof(why), "no note (a .txt file) in %s", b->note);
		else
			snprintf(why, sizeof(why), "no note (a .txt file) in %s: give its directory "
				 "with --note DIR", tried);
		return why;
	}
	n = fread(text, 1, sizeof(text) - 1, in);
	fclose(in);
	text[n] = '\0';
	code = strstr(text, "``` python\n");
	if (!code)
		return "the note has no python block";
	code += 11;
	end = strstr(code, "```");
	if (!end)
		return "the note's python block does not end";
	*end = '\0';
	snprintf(path, size, "%s/note_server.py", dir);
	out = fopen(path, "w");
	if (!out)
		return strerror(errno);
	for (char *p = code; *p; p++) {
		if (!strncmp(p, "8080", 4)) {
			fprintf(out, "%d", port);
			p += 3;
		} else {
			fputc(*p, out);
		}
	}
	fclose(out);
	return NULL;
}

/* Says that peer I (0 python, 1 nginx) is left out, and why; the JSON output says it too. */
static void left_out(struct bench *b, int i, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void left_out(struct bench *b, int i, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->left_out[i], sizeof(b->left_out[i]), fmt, ap);
	va_end(ap);
	cli_warn("%s peer left out: %s", i ? "nginx" : "python", b->left_out[i]);
}

static double run_python(struct bench *b, const char *dir, double *cpu)
{
	char path[512], *argv[] = { "python3", path, NULL };
	int port = free_port();
	const char *why = python_server(b, dir, port, path, sizeof(path));
	pid_t pid;
	double rate;

	if (why) {
		left_out(b, 0, "%s", why);
		return -1;
	}
	pid = start_peer(argv);
	if (pid < 0 || !wait_listening(port)) {
		left_out(b, 0, "python3 did not start the note's server");
		if (pid > 0)
			stop_peer(pid);
		return -1;
	}
	/* Its listen(5) bounds what may wait: more in flight overflows its accept queue, and
	 * each dropped SYN is sent again a second later. */
	rate = client_rate(b, port, 4 / b->procs ? 4 / b->procs : 1, pid, cpu);
	stop_peer(pid);
	if (rate <= 0)
		left_out(b, 0, "its run failed");
	return rate;
}

static const char *nginx_module(void)
{
	static const char *const paths[] = { "/usr/lib/nginx/modules/ngx_stream_module.so",
					     "/usr/share/nginx/modules/ngx_stream_module.so", NULL };

	for (int i = 0; paths[i]; i++)
		if (access(paths[i], R_OK) == 0)
			return paths[i];
	return NULL;
}

static double run_nginx(struct bench *b, const char *dir, double *cpu)
{
	char conf[512], *argv[] = { "nginx", "-p", (char *)dir, "-c", conf, NULL };
	const char *module = nginx_module();
	int port = free_port();
	FILE *f;
	pid_t pid;
	double rate;

	if (!module) {
		left_out(b, 1, "no nginx stream module (apt-get install nginx libnginx-mod-stream)");
		return -1;
	}
	snprintf(conf, sizeof(conf), "%s/nginx.conf", dir);
	f = fopen(conf, "w");
	if (!f) {
		left_out(b, 1, "%s: %s", conf, strerror(errno));
		return -1;
	}
	fprintf(f, "load_module %s;\ndaemon off;\nmaster_process off;\nworker_processes 1;\n"
		"pid %s/nginx.pid;\nerror_log %s/error.log;\nevents { worker_connections 4096; }\n"
		"stream { server { listen 127.0.0.1:%d backlog=4096; return \"portscope/1 "
		"you=$remote_addr:$remote_port me=$server_addr:$server_port\\n\"; } }\n",
		module, dir, dir, port);
	fclose(f);
	pid = start_peer(argv);
	if (pid < 0 || !wait_listening(port)) {
		left_out(b, 1, "it did not start (see %s/error.log)", dir);
		if (pid > 0)
			stop_peer(pid);
		return -1;
	}
	rate = client_rate(b, port, ACCEPT_INFLIGHT, pid, cpu);
	stop_peer(pid);
	if (rate <= 0)
		left_out(b, 1, "its run failed");
	return rate;
}

static double run_self(struct bench *b, double *cpu)
{
	char *argv[] = { "portscope", "serve", "-f", "line", "127.0.0.1:0", NULL };
	double deadline = now_s() + 10, rate;
	const char *p = NULL, *nl = NULL;

	if (spawn(&b->server, argv, false) < 0)
		return -1;
	while (now_s() < deadline && !nl) {
		usleep(20000);
		read_err(&b->server);
		p = strstr(b->server.errbuf, "listening on ");
		nl = p ? strchr(p, '\n') : NULL;
	}
	if (!nl) {
		stop_peer(b->server.pid);
		return -1;
	}
	while (nl > p && nl[-1] != ':')
		nl--;
	b->port = atoi(nl);
	rate = client_rate(b, b->port, ACCEPT_INFLIGHT, b->server.pid, cpu);
	stop_peer(b->server.pid);
	return rate;
}

/* The peers measured (a rate > 0), as members NAME: VALUE of an object KEY. */
static void json_peers(struct pscope_json *j, const char *key, double python, double nginx,
		       double py_value, double ng_value, int decimals)
{
	pscope_json_object_begin(j, key);
	if (python > 0)
		pscope_json_double(j, "python", py_value, decimals);
	if (nginx > 0)
		pscope_json_double(j, "nginx", ng_value, decimals);
	pscope_json_object_end(j);
}

static void print_accept_json(const struct bench *b, double ours, double cpu_ours, double python,
			      double cpu_python, double nginx, double cpu_nginx)
{
	struct pscope_json j;

	pscope_json_init_file(&j, stdout);
	pscope_json_object_begin(&j, NULL);
	pscope_json_string(&j, "mode", "accept-only");
	pscope_json_uint(&j, "connections", b->n);
	pscope_json_double(&j, "rate_per_s", ours, 0);
	pscope_json_double(&j, "server_cpu_us_per_conn", cpu_ours, 2);
	json_peers(&j, "peers", python, nginx, python, nginx, 0);
	json_peers(&j, "peers_cpu_us_per_conn", python, nginx, cpu_python, cpu_nginx, 2);
	pscope_json_object_begin(&j, "left_out");
	for (int i = 0; i < 2; i++)
		if (b->left_out[i][0])
			pscope_json_string(&j, i ? "nginx" : "python", b->left_out[i]);
	pscope_json_object_end(&j);
	pscope_json_object_end(&j);
	putchar('\n');
}

static int cmd_bench_accept(struct bench *b)
{
	char dir[] = "/tmp/portscope-bench.XXXXXX";
	double ours, python = -1, nginx = -1, cpu_ours = 0, cpu_python = 0, cpu_nginx = 0;

	if (!mkdtemp(dir)) {
		cli_warn("mkdtemp: %s", strerror(errno));
		return EXIT_FAIL;
	}
	ours = run_self(b, &cpu_ours);
	if (ours > 0) {
		python = run_python(b, dir, &cpu_python);
		nginx = run_nginx(b, dir, &cpu_nginx);
	}
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			cli_warn("could not remove %s", dir);
	}
	if (ours <= 0) {
		cli_warn("portscope serve could not be measured");
		return EXIT_FAIL;
	}
	if (b->fmt == FMT_JSON) {
		print_accept_json(b, ours, cpu_ours, python, cpu_python, nginx, cpu_nginx);
	} else {
		printf("portscope bench --accept-only: %lu connections each, accept, report, close; "
		       "%u client process%s, %d unanswered connections at most each (4 in all for "
		       "the note's server: its backlog is 5)\n", b->n, b->procs,
		       b->procs == 1 ? "" : "es", ACCEPT_INFLIGHT);
		printf("  %-26s %9s %16s\n", "server", "conn/s", "CPU us per conn");
		printf("  %-26s %9.0f %16.2f\n", "portscope serve -f line", ours, cpu_ours);
		if (python > 0)
			printf("  %-26s %9.0f %16.2f   portscope: %.2fx its rate, %.2fx its CPU\n",
			       "the note's Python server", python, cpu_python, ours / python,
			       cpu_ours / cpu_python);
		if (nginx > 0)
			printf("  %-26s %9.0f %16.2f   portscope: %.2fx its rate, %.2fx its CPU\n",
			       "nginx stream 'return'", nginx, cpu_nginx, ours / nginx, cpu_ours / cpu_nginx);
	}
	return cli_finish(EXIT_OK);
}
