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
#include <sys/ioctl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>

#include "cli.h"

#define PER_PROC 18000		/* connections per client process: under the 20,000 descriptors */
#define PER_WORKER 15000	/* connections per server worker, on average */
#define PER_PAIR 14000		/* connections per (source, destination) address pair */
#define MAX_DSTS 16		/* destination addresses, in a namespace of its own */
#define SAMPLE_MS 250		/* the chart's and the live line's period */
#define COUNT_MS 50		/* the server's count period: the ramp's end is known to so much */
#define MAX_WORKERS 1024
#define MAX_SAMPLES 100000
#define MAX_RUNS 100		/* --accept-only --runs */
#define INFLIGHT 2048		/* connections in flight, all client processes together */
#define ACCEPT_INFLIGHT 64	/* --accept-only: unanswered connections per client process */
#define FLOOR_HELD 6000		/* the floor's connections per round, held (two descriptors each) */
#define FLOOR_CLOSED 10000	/* the same, each closed once accepted (--accept-only) */
#define FLOOR_ROUNDS 3		/* the floor is the fastest of so many rounds */
#define STOP_WAIT_S 3		/* once stopped, how long a child may take to end before SIGKILL */

struct child {
	pid_t pid;
	int out, err;			/* read ends of its stdout and stderr, or -1 */
	char buf[8192];			/* partial stdout line */
	size_t len;
	char errbuf[4096];		/* the start of its stderr, for messages (progress lines apart) */
	size_t errlen;
	char line[512];			/* partial stderr line */
	size_t linelen;
	unsigned long established;	/* connect --progress: its latest count */
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
	bool no_netns;			/* --no-netns */
	bool in_netns;			/* runs in a network namespace of its own */
	unsigned dsts;			/* destination addresses (127.1.0.1 and up), in a namespace */
	long ehash;			/* its established-socket table's buckets, or 0 */
	unsigned runs;			/* --accept-only: rounds */
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
	double floor;			/* the kernel's floor, connections a second */
	double floor_held;		/* the same, measured again while the N connections are held */
	bool kernel_counted;		/* held_kernel and kernel_b were measured */
	const char *phase;		/* "the floor", "the start", "the ramp", ..., "the hold", "the end" */
	const char *stopped_in;		/* the phase a signal stopped */
	bool progress;			/* a live line on the terminal */
	int interrupted;		/* the signal that stopped the run, or 0 */
	long slab0_kb, rss0_kb;
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
	"      --chart FILE     draw the ramp (connections and rate against time) as SVG,\n"
	"                       the kernel's floor as a line\n"
	"      --no-netns       run in this network namespace, not in one of its own\n"
	"      --accept-only    the note's pattern instead: accept, report, close, as fast\n"
	"                       as clients come, against the note's Python server and\n"
	"                       nginx's stream module when they are installed, and the\n"
	"                       kernel's floor (one thread: connect, accept, close)\n"
	"      --runs K         with --accept-only: K rounds, each server and the floor\n"
	"                       in turn, the order reversed each round; the median and\n"
	"                       the range of each figure (default 5)\n"
	"      --note DIR       with --accept-only: the note's directory (its .txt file);\n"
	"                       default: ../shared/seed beside the source tree this\n"
	"                       program was built in (found from the program's own path)\n"
	"  -h, --help           show this help\n"
	"\n"
	"A process may hold at most a limited number of descriptors, so N connections\n"
	"take about N/15000 server workers, N/18000 client processes and N/14000\n"
	"source addresses (127.0.0.2 and up).  As root it runs in a network namespace\n"
	"of its own (removed at its end), its established-socket table sized for N,\n"
	"and spreads the clients over up to 16 destination addresses (127.1.0.1 and up)\n"
	"as well: fewer source ports then serve them all.\n"
	"\n"
	"Before it starts, it measures the kernel's floor: one thread, blocking\n"
	"connect() then accept() to itself over loopback, the same way every run; each\n"
	"rate is printed as a ratio to it.  Once the N are held, one more round of that\n"
	"loop, with no warm-up, gives the floor at scale: what a new connection costs\n"
	"the kernel with N held (new memory, full tables).  On a terminal a live line shows the ramp and\n"
	"the hold.  SIGINT (Ctrl-C) or SIGTERM stops the run: every process it started\n"
	"ends, and what was measured so far is printed, marked interrupted.\n"
	"\n"
	"Exit status: 0 if every connection was held and every count agreed, 1 if not,\n"
	"2 for a bad command line, 128 + the signal's number (130 for SIGINT, 143 for\n"
	"SIGTERM) when a signal stopped it.\n";

static double now_s(void)
{
	return (double)pscope_now_ms() / 1000;
}

/* The same clock to the nanosecond, for the floor's short rounds. */
static double fine_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The signal that asked the run to stop; the loops look at it between their waits. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	if (!stop_signal)
		stop_signal = sig;
}

/*
 * SIGINT and SIGTERM stop the run.  Caught, not ignored, even when started
 * with SIGINT ignored (a shell's background job); without SA_RESTART, so a
 * wait in poll(), read() or waitpid() returns at once.  A program run with
 * exec(2) starts with them at their default action again.
 */
static void catch_stop_signals(void)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* Connections a second of one thread doing COUNT blocking connect() + accept() to LFD's address. */
static double floor_round(int lfd, const struct sockaddr_in *a, int count, bool close_each)
{
	static int fds[2 * FLOOR_HELD];
	int nfds = 0, made = 0;
	double t0 = fine_now_s(), t;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	for (; made < count && !stop_signal; made++) {
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), s;

		if (c < 0)
			break;
		if (connect(c, (const struct sockaddr *)a, sizeof(*a)) < 0 ||
		    (s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
			close(c);
			break;
		}
		if (close_each) {
			close(s);
			close(c);
		} else if (nfds + 2 <= (int)(sizeof(fds) / sizeof(fds[0]))) {
			fds[nfds++] = c;
			fds[nfds++] = s;
		}
	}
	t = fine_now_s() - t0;
	/* Not timed: a reset ends both ends at once, and leaves no TIME-WAIT behind. */
	for (int i = 0; i < nfds; i++) {
		setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fds[i]);
	}
	return made == count && t > 0 ? count / t : -1;
}

/* A listener on 127.0.0.1 (port chosen by the kernel) for the floor's loop, its address in A.  Returns it, or -1. */
static int floor_listener(struct sockaddr_in *a)
{
	socklen_t len = sizeof(*a);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	*a = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (lfd < 0 || bind(lfd, (struct sockaddr *)a, sizeof(*a)) < 0 || listen(lfd, 128) < 0 ||
	    getsockname(lfd, (struct sockaddr *)a, &len) < 0) {
		if (lfd >= 0)
			close(lfd);
		return -1;
	}
	return lfd;
}

/*
 * The floor at scale: one round of FLOOR_HELD held connections, no warm-up
 * (run_hold() calls it while the N connections are held).  Returns connections
 * a second, or -1.
 */
static double kernel_floor_at_scale(void)
{
	struct sockaddr_in a;
	int lfd = floor_listener(&a);
	double r;

	if (lfd < 0)
		return -1;
	r = floor_round(lfd, &a, FLOOR_HELD, false);
	close(lfd);
	return r;
}

/*
 * The kernel's floor: one thread, blocking connect() then accept() over
 * loopback to a listener of its own, no event loop and no other process.
 * CLOSE_EACH closes both ends once accepted (--accept-only's pattern);
 * otherwise they are held to the end of the round, as the ramp holds them.
 * The fastest of FLOOR_ROUNDS rounds, after a short warm-up.  Returns
 * connections a second, or -1.
 */
static double kernel_floor(bool close_each)
{
	struct sockaddr_in a;
	int lfd = floor_listener(&a);
	int count = close_each ? FLOOR_CLOSED : FLOOR_HELD;
	double best = -1;

	if (lfd < 0)
		return -1;
	floor_round(lfd, &a, count / 10, close_each);
	for (int i = 0; i < FLOOR_ROUNDS; i++) {
		double r = floor_round(lfd, &a, count, close_each);

		best = r > best ? r : best;
	}
	close(lfd);
	return best;
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
		/*
		 * A process group of its own: a Ctrl-C on the terminal reaches bench
		 * alone, which stops the clients first and then the server.  In bench's
		 * group all would get it at once, and a server that closed first would
		 * take connections from the clients' count.
		 */
		setpgid(0, 0);

		dup2(want_out ? out[1] : null, STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		execv(self_path(), argv);
		_exit(127);
	}
	setpgid(c->pid, c->pid); /* as the child does: whichever runs first */
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

/* One line of a child's stderr: connect --progress's count, or a message kept for later. */
static void err_line(struct child *c, const char *line, size_t len)
{
	unsigned long established;
	size_t room = sizeof(c->errbuf) - 1 - c->errlen, k = len < room ? len : room;

	if (sscanf(line, "portscope: established %lu, in flight", &established) == 1) {
		c->established = established;
		return;
	}
	memcpy(c->errbuf + c->errlen, line, k);
	c->errlen += k;
	c->errbuf[c->errlen] = '\0';
}

static void read_err(struct child *c)
{
	ssize_t n = -1;

	while (c->err >= 0 &&
	       (n = read(c->err, c->line + c->linelen, sizeof(c->line) - 1 - c->linelen)) > 0) {
		char *start = c->line, *nl;

		c->linelen += (size_t)n;
		c->line[c->linelen] = '\0';
		while ((nl = strchr(start, '\n'))) {
			err_line(c, start, (size_t)(nl + 1 - start));
			start = nl + 1;
		}
		c->linelen -= (size_t)(start - c->line);
		memmove(c->line, start, c->linelen);
		if (c->linelen == sizeof(c->line) - 1) {	/* a line longer than the buffer */
			err_line(c, c->line, c->linelen);
			c->linelen = 0;
		}
	}
	if (n == 0 && c->err >= 0) {
		if (c->linelen)
			err_line(c, c->line, c->linelen);
		c->linelen = 0;
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

/* N new bytes of the server's stdout end its buffer: server_line() for each whole line. */
static void server_text(struct bench *b, size_t n)
{
	struct child *c = &b->server;
	char *start = c->buf, *nl;

	c->len += n;
	c->buf[c->len] = '\0';
	while ((nl = strchr(start, '\n'))) {
		*nl = '\0';
		server_line(b, start);
		start = nl + 1;
	}
	c->len -= (size_t)(start - c->buf);
	memmove(c->buf, start, c->len);
	if (c->len == sizeof(c->buf) - 1)	/* no line is that long: drop it */
		c->len = 0;
}

/* Reads whatever the server printed. */
static void read_server(struct bench *b)
{
	struct child *c = &b->server;
	ssize_t n;

	read_err(c);
	while (c->out >= 0 && (n = read(c->out, c->buf + c->len, sizeof(c->buf) - 1 - c->len)) > 0)
		server_text(b, (size_t)n);
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

/* Waits up to MS for the server's output, and the clients' progress once they run. */
static void wait_server(struct bench *b, int ms)
{
	struct pollfd p[3] = { { .fd = b->server.out, .events = POLLIN },
			       { .fd = b->server.err, .events = POLLIN },
			       { .fd = b->client.pid > 0 ? b->client.err : -1, .events = POLLIN } };

	poll(p, 3, ms);
	read_server(b);
	if (b->client.pid > 0)
		read_err(&b->client);
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
	pid_t pid = stop_signal ? -1 : fork();
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
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
		if (stop_signal) {	/* stopped: the listing is not waited for */
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
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
	/* In a namespace of its own, where lo is the only interface, every address of 127.0.0.0/8. */
	char *argv[] = { "portscope", "serve", "--workers", workers, "-q", "--interval", "0.05",
			 b->in_netns ? "0.0.0.0:0" : "127.0.0.1:0", keep ? "--keep" : NULL, NULL };
	double deadline = now_s() + 10;

	snprintf(workers, sizeof(workers), "%u", b->workers);
	if (spawn(&b->server, argv, true) < 0)
		return -1;
	while (now_s() < deadline && !b->port && !stop_signal) {
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
	while (now_s() < deadline && !all_workers_seen(b) && !stop_signal)
		wait_server(b, 100);
	if (stop_signal)
		return -1;
	if (!b->port || !all_workers_seen(b)) {
		cli_warn("the server did not start: %s", b->server.errbuf);
		return -1;
	}
	return 0;
}

/*
 * Connections in flight per client process: INFLIGHT in all, spread over
 * them.  Each process alone keeps up with its share; more in flight all told
 * only lengthens the accept queues, and past the SYN queue's length
 * (tcp_max_syn_backlog) a SYN dropped is sent again a second later.
 */
static unsigned client_inflight(const struct bench *b)
{
	unsigned each = INFLIGHT / b->procs;

	return each < 16 ? 16 : each > 256 ? 256 : each;
}

static int start_clients(struct bench *b, bool hold)
{
	char n[24], procs[16], src[64], port[64], inflight[16];
	char *argv[] = { "portscope", "connect", "-n", n, "--procs", procs, "-c", inflight,
			 "--source", src, "-f", "json", "--hold", hold ? "forever" : "0", "--progress",
			 port, NULL };

	snprintf(n, sizeof(n), "%lu", b->n);
	snprintf(procs, sizeof(procs), "%u", b->procs);
	snprintf(inflight, sizeof(inflight), "%u", client_inflight(b));
	snprintf(src, sizeof(src), "127.0.0.2-127.0.%u.%u", (1 + b->srcs) / 256, (1 + b->srcs) % 256);
	if (b->dsts > 1)	/* 127.1.0.1 and up */
		snprintf(port, sizeof(port), "127.1.0.1-127.1.%u.%u:%d", b->dsts / 256, b->dsts % 256,
			 b->port);
	else
		snprintf(port, sizeof(port), "%d", b->port);
	return spawn(&b->client, argv, true);
}

/*
 * Reads what is there of C's stdout: the server's lines to server_line(),
 * another's into BUF (SIZE bytes; the rest is dropped).  Returns 0 at its end.
 */
static int drain_out(struct bench *b, struct child *c, char *buf, size_t size, size_t *len)
{
	for (;;) {
		char drop[4096];
		ssize_t n;

		if (c == &b->server) {
			n = read(c->out, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
			if (n > 0)
				server_text(b, (size_t)n);
		} else if (buf && *len < size - 1) {
			n = read(c->out, buf + *len, size - 1 - *len);
			*len += n > 0 ? (size_t)n : 0;
		} else {
			n = read(c->out, drop, sizeof(drop));
		}
		if (n == 0)
			return 0;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 1 : 0;
	}
}

/*
 * Waits for child C to end, reading its stdout (the server's lines, or into
 * BUF, SIZE bytes) and its stderr.  A stop signal meanwhile sends it SIG
 * once; STOP_WAIT_S seconds after that it is killed.  Returns the bytes in BUF.
 */
static size_t reap_child(struct bench *b, struct child *c, int sig, char *buf, size_t size)
{
	double signalled_at = 0, killed_at = 0;
	size_t len = 0;

	while ((c->out >= 0 || c->err >= 0) && (!killed_at || now_s() - killed_at < STOP_WAIT_S)) {
		struct pollfd p[2] = { { .fd = c->out, .events = POLLIN },
				       { .fd = c->err, .events = POLLIN } };

		if (stop_signal && !signalled_at) {
			kill(c->pid, sig);
			signalled_at = now_s();
		}
		if (signalled_at && !killed_at && now_s() - signalled_at > STOP_WAIT_S) {
			cli_warn("process %d did not end %d s after it was told to: killed", (int)c->pid,
				 STOP_WAIT_S);
			kill(c->pid, SIGKILL);
			killed_at = now_s();
		}
		poll(p, 2, 200);
		if (c->out >= 0 && drain_out(b, c, buf, size, &len) == 0) {
			close(c->out);
			c->out = -1;
		}
		read_err(c);
	}
	if (buf)
		buf[len] = '\0';
	while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
		;
	c->pid = 0;
	return len;
}

/* Reads the client's JSON summary (it prints it when it ends) and waits for it. */
static int finish_clients(struct bench *b)
{
	size_t len = reap_child(b, &b->client, SIGINT, b->client_json, sizeof(b->client_json));

	b->client_json[len] = '\0';
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

/* Stops the server (SIGTERM), reading its last counts, and waits for it to end. */
static void stop_server(struct bench *b)
{
	kill(b->server.pid, SIGTERM);
	reap_child(b, &b->server, SIGTERM, NULL, 0);
}

/*
 * The live line, on a terminal: PHASE and its seconds, connections held as
 * the server and the clients count them, the rate and its ratio to the
 * floor, and memory (the kernel's slab growth, the server's).  Cut to the
 * terminal's width, so that a carriage return goes back to its start.
 */
static void progress_line(struct bench *b, const char *phase, double t0)
{
	double t = now_s() - t0;
	unsigned long open = server_open(b);
	double rate = b->ramp_s > 0 ? b->rate : t > 0 ? (double)open / t : 0;
	struct winsize ws;
	char line[256];
	int n, cols = 80;

	if (!b->progress)
		return;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
		cols = ws.ws_col;
	n = snprintf(line, sizeof(line), "%s %.1f s: held server %lu, clients %lu; %.0f/s, %.2f of "
		     "the floor; memory kernel +%.0f MiB, server +%.1f MiB", phase, t, open,
		     b->client.established, rate, b->floor > 0 ? rate / b->floor : 0,
		     (double)(read_meminfo_kb("Slab") - b->slab0_kb) / 1024,
		     (double)(workers_rss_kb(b) - b->rss0_kb) / 1024);
	if (n >= cols)
		line[cols - 1] = '\0';
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
}

/* Ramps until the server holds N, the clients give up, progress stops for 20 s, or a signal. */
static void ramp(struct bench *b, double t0)
{
	double last_progress = t0, next_sample = t0;
	unsigned long last = 0;

	while (!stop_signal) {
		double t = now_s();
		unsigned long open;
		int status;

		wait_server(b, COUNT_MS / 2);
		open = server_open(b);
		if (t >= next_sample) {
			add_sample(b, t - t0);
			progress_line(b, "ramp", t0);
			next_sample += (double)SAMPLE_MS / 1000;
		}
		if (open > last) {
			last = open;
			last_progress = t;
		}
		if (open >= b->n)
			break;
		if (t - last_progress > 20 || waitpid(b->client.pid, &status, WNOHANG) == b->client.pid)
			break;
	}
	b->ramp_s = now_s() - t0;
	add_sample(b, b->ramp_s);
}

/* Holds until HOLD_END, watching the counts; a signal ends it early. */
static void hold(struct bench *b, double hold_end)
{
	double t0 = now_s(), next = t0;

	while (now_s() < hold_end && !stop_signal) {
		wait_server(b, SAMPLE_MS / 2);
		if (now_s() >= next) {
			progress_line(b, "hold", t0);
			next += (double)SAMPLE_MS / 1000;
		}
	}
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
	rmax = b->floor * 1.1 > rmax ? b->floor * 1.1 : rmax;
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
	fprintf(f, "\"/>\n");
	if (b->floor > 0) {
		double y = H - B - (H - T - B) * b->floor / rmax;

		fprintf(f, "<line class=\"floor\" x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" "
			"stroke=\"#c0392b\" stroke-dasharray=\"6 4\"/>\n", L, y, W - R, y);
		fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#c0392b\">kernel "
			"floor %.0f/s (one thread, blocking connect() + accept())</text>\n", W - R - 4,
			y - 4, b->floor);
	}
	fprintf(f, "</svg>\n");
	if (fclose(f) != 0)
		cli_warn("%s: %s", b->chart, strerror(errno));
}

/* What server, clients and kernel all held (the kernel's count left out if not taken). */
static unsigned long held_by_all(const struct bench *b)
{
	unsigned long n = b->held_server < b->held_client ? b->held_server : b->held_client;

	return b->kernel_counted && b->held_kernel < n ? b->held_kernel : n;
}

/* The floor and RATE's ratio to it; null when the floor could not be measured. */
static void json_floor(struct pscope_json *j, double floor, double rate)
{
	if (floor > 0) {
		pscope_json_double(j, "floor_per_s", floor, 0);
		pscope_json_double(j, "rate_to_floor", rate / floor, 3);
	} else {
		pscope_json_null(j, "floor_per_s");
		pscope_json_null(j, "rate_to_floor");
	}
}

/* KEY: V, or null if it was not measured (the run was stopped first). */
static void json_measured(struct pscope_json *j, const char *key, double v, int decimals,
			  bool measured)
{
	if (measured)
		pscope_json_double(j, key, v, decimals);
	else
		pscope_json_null(j, key);
}

static void print_results_json(const struct bench *b, bool ok)
{
	bool ramped = b->ramp_s > 0, counted = b->kernel_counted;
	struct pscope_json j;

	pscope_json_init_file(&j, stdout);
	pscope_json_object_begin(&j, NULL);
	pscope_json_uint(&j, "connections", b->n);
	pscope_json_uint(&j, "connections_held", held_by_all(b));
	pscope_json_uint(&j, "server_count", b->held_server);
	pscope_json_uint(&j, "client_count", b->held_client);
	json_measured(&j, "kernel_count", (double)b->held_kernel, 0, counted);
	pscope_json_uint(&j, "failures", b->failures);
	pscope_json_double(&j, "held_seconds", b->held_s, 1);
	json_measured(&j, "ramp_seconds", b->ramp_s, 3, ramped);
	json_measured(&j, "rate_per_s", b->rate, 0, ramped);
	json_floor(&j, b->floor, ramped ? b->rate : 0);
	json_measured(&j, "floor_held_per_s", b->floor_held, 0, b->floor_held > 0);
	json_measured(&j, "rate_to_floor_held", ramped && b->floor_held > 0 ? b->rate / b->floor_held : 0,
		      3, ramped && b->floor_held > 0);
	json_measured(&j, "server_cpu_us_per_conn", b->cpu_us_per_conn, 2, b->held_server > 0);
	json_measured(&j, "server_bytes_per_conn", b->server_b, 1, b->held_server > 0);
	json_measured(&j, "client_bytes_per_conn", b->client_b, 1, b->held_client > 0);
	json_measured(&j, "kernel_bytes_per_conn", b->kernel_b, 0, counted && b->held_kernel > 0);
	json_measured(&j, "ls_seconds", b->ls_s, 3, b->ls_s > 0);
	json_measured(&j, "ss_seconds", b->ss_s, 3, b->ss_s > 0);
	pscope_json_uint(&j, "workers", b->workers);
	pscope_json_uint(&j, "client_procs", b->procs);
	pscope_json_uint(&j, "source_addresses", b->srcs);
	pscope_json_uint(&j, "destination_addresses", b->dsts);
	pscope_json_bool(&j, "own_netns", b->in_netns);
	if (b->in_netns)
		pscope_json_int(&j, "ehash_entries", b->ehash);
	pscope_json_int(&j, "port", b->port);
	pscope_json_bool(&j, "interrupted", b->interrupted != 0);
	if (b->interrupted) {
		pscope_json_string(&j, "signal", sigabbrev_np(b->interrupted));
		pscope_json_string(&j, "stopped_in", b->stopped_in);
	}
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
	if (b->dsts > 1)
		printf("portscope bench: %lu connections to 127.1.0.1-127.1.%u.%u:%d, %u server workers, "
		       "%u client processes, %u source addresses\n", b->n, b->dsts / 256, b->dsts % 256,
		       b->port, b->workers, b->procs, b->srcs);
	else
		printf("portscope bench: %lu connections to 127.0.0.1:%d, %u server workers, %u client "
		       "processes, %u source addresses\n", b->n, b->port, b->workers, b->procs, b->srcs);
	if (b->interrupted)
		printf("  interrupted     by SIG%s in %s: what was measured until then\n",
		       sigabbrev_np(b->interrupted), b->stopped_in);
	if (!b->kernel_counted)
		printf("  held            server %lu, clients %lu, for %.1f s; %lu failures\n",
		       b->held_server, b->held_client, b->held_s, b->failures);
	else
		printf("  held            server %lu, clients %lu, kernel %lu, for %.1f s; %lu failures%s\n",
		       b->held_server, b->held_client, b->held_kernel, b->held_s, b->failures,
		       ok || b->interrupted ? "" : "  <- the counts disagree or fall short");
	if (b->ramp_s > 0)
		printf("  ramp            %.2f s, %.0f connections/s, %.2f of the floor\n", b->ramp_s,
		       b->rate, b->floor > 0 ? b->rate / b->floor : 0);
	if (b->floor > 0)
		printf("  kernel floor    %.0f connections/s (one thread, blocking connect() + accept())\n",
		       b->floor);
	if (b->floor_held > 0)
		printf("  floor at scale  %.0f connections/s, one round with the %lu held (the ramp: %.2f "
		       "of it)\n", b->floor_held, b->held_server, b->ramp_s > 0 ? b->rate / b->floor_held : 0);
	if (!b->held_server) {
		if (b->chart)
			printf("  chart           %s\n", b->chart);
		return;
	}
	printf("  server CPU      %.2f us per accepted connection\n", b->cpu_us_per_conn);
	printf("  user memory     server %.1f B, client %.1f B per connection\n", b->server_b,
	       b->client_b);
	if (b->kernel_counted)
		printf("  kernel memory   %.0f B per connection (slab, both ends)\n", b->kernel_b);
	if (b->ls_s > 0 && b->ss_s > 0)
		printf("  listing         portscope ls %.3f s, ss %.3f s (ss takes %.1fx as long)\n",
		       b->ls_s, b->ss_s, b->ss_s / b->ls_s);
	else if (b->ls_s > 0)
		printf("  listing         portscope ls %.3f s (ss: not run)\n", b->ls_s);
	if (b->in_netns)
		printf("  namespace       its own, established-socket table of %ld buckets\n", b->ehash);
	else
		printf("  namespace       the caller's\n");
	if (b->chart)
		printf("  chart           %s\n", b->chart);
}

static long read_sysctl(const char *path)
{
	char buf[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return LONG_MIN;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

static int write_sysctl(const char *path, long value)
{
	char buf[32];
	int fd = open(path, O_WRONLY | O_CLOEXEC), n, rc = 0;

	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%ld\n", value);
	if (write(fd, buf, (size_t)n) != n)
		rc = -errno;
	close(fd);
	return rc;
}

/* The inode of this process's network namespace, or 0. */
static ino_t netns_inode(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) == 0 ? st.st_ino : 0;
}

/*
 * Moves this process (and so every process it starts) into a network
 * namespace of its own, made with unshare(2) and removed by the kernel once
 * its last process has ended.  There no other program's socket dump walks the
 * run's sockets, and its established-socket table is sized for them:
 * net.ipv4.tcp_child_ehash_entries is read, in the namespace that makes one,
 * when it is made (inet_pernet_hashinfo_alloc()); it is set there for that
 * instant and put back.  Its lo is brought up.  Returns 0, or -errno
 * (-EPERM without CAP_SYS_ADMIN), having stayed where it was.
 */
static int enter_netns(struct bench *b)
{
	static const char child[] = "/proc/sys/net/ipv4/tcp_child_ehash_entries";
	long old = read_sysctl(child), want = 65536;
	int oldns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), newns = -1, rc = 0, fd;
	ino_t before = netns_inode();
	struct ifreq ifr = { .ifr_name = "lo" };
	bool sized;

	/* A bucket per socket, both ends of each connection: chains of one on average. */
	while (want < 2 * (long)b->n && want < 1L << 24)
		want <<= 1;
	if (oldns < 0)
		return -errno;
	sized = old != LONG_MIN && write_sysctl(child, want) == 0;
	if (unshare(CLONE_NEWNET) < 0)
		rc = -errno;
	if (sized) {
		if (rc == 0 && ((newns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0 ||
				setns(oldns, CLONE_NEWNET) < 0))
			rc = -errno;
		write_sysctl(child, old);
		if (newns >= 0 && rc == 0 && setns(newns, CLONE_NEWNET) < 0)
			rc = -errno;
		if (newns >= 0)
			close(newns);
	}
	close(oldns);
	if (rc < 0 || netns_inode() == before)
		return rc < 0 ? rc : -EPERM;
	b->ehash = read_sysctl("/proc/sys/net/ipv4/tcp_ehash_entries");
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 ||
	    (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr)) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * In a namespace of its own, the server listens on every address and the
 * clients go to DSTS destinations, 127.1.0.1 and up: each source address and
 * port then serves a connection to each (the kernel's connect() reuses a
 * port for another destination), which keeps the bind table (the kernel's
 * inet_bind2_bucket_find() walks it on each connect()) a DSTS-th as full.
 */
static void spread_addresses(struct bench *b)
{
	unsigned long pairs = (b->n + PER_PAIR - 1) / PER_PAIR;

	b->dsts = b->in_netns ? (unsigned)(pairs < MAX_DSTS ? pairs : MAX_DSTS) : 1;
	b->srcs = (unsigned)((pairs + b->dsts - 1) / b->dsts);
}

/* Enters PHASE; the first phase a signal is seen in is the one it stopped. */
static void set_phase(struct bench *b, const char *phase)
{
	if (stop_signal && !b->stopped_in)
		b->stopped_in = b->phase;
	b->phase = phase;
}

/* The clients' summary, once they have ended: what they held, failed, and their memory. */
static void client_figures(struct bench *b)
{
	const char *p = strstr(b->client_json, "\"peak\":");
	const char *q = strstr(b->client_json, "\"before\":");

	b->held_client = json_ulong(b->client_json, "established") -
			 json_ulong(b->client_json, "closed_by_server");
	b->failures = json_ulong(b->client_json, "failed");
	if (p && q && b->held_client)
		b->client_b = (double)(strtol(p + 7, NULL, 10) - strtol(q + 9, NULL, 10)) * 1024 /
			      (double)b->held_client;
}

/* The exit status: EXIT_OK if all held and agreed, 128 + the signal if one stopped the run. */
static int hold_status(const struct bench *b, bool ok)
{
	int status = cli_finish(ok ? EXIT_OK : EXIT_FAIL);

	return b->interrupted ? 128 + b->interrupted : status;
}

static int run_hold(struct bench *b)
{
	long slab1, rss1;
	double cpu0, cpu1, t0;
	bool ok;

	if (!b->no_netns) {
		int rc = enter_netns(b);

		if (rc < 0)
			cli_warn("no network namespace of its own (%s): running in this one", strerror(-rc));
		else
			b->in_netns = true;
	}
	spread_addresses(b);
	set_phase(b, "the floor");
	b->floor = kernel_floor(false);
	set_phase(b, "the start");
	if (!stop_signal && start_server(b, true) < 0 && !stop_signal) {
		if (b->server.pid > 0)
			stop_server(b);
		return EXIT_FAIL;
	}
	b->slab0_kb = read_meminfo_kb("Slab");
	b->rss0_kb = workers_rss_kb(b);
	cpu0 = workers_cpu_us(b);
	t0 = now_s();
	if (!stop_signal && start_clients(b, true) < 0) {
		stop_server(b);
		return EXIT_FAIL;
	}
	set_phase(b, "the ramp");
	if (!stop_signal)
		ramp(b, t0);
	set_phase(b, "the count");
	cpu1 = workers_cpu_us(b);
	rss1 = workers_rss_kb(b);
	slab1 = read_meminfo_kb("Slab");
	b->held_server = server_open(b);
	b->rate = b->ramp_s > 0 ? (double)b->held_server / b->ramp_s : 0;
	b->cpu_us_per_conn = b->held_server ? (cpu1 - cpu0) / (double)b->held_server : 0;
	b->server_b = b->held_server ? (double)(rss1 - b->rss0_kb) * 1024 / (double)b->held_server : 0;
	/* Once stopped, nothing more is measured: the kernel's count and the listings take seconds. */
	if (!stop_signal) {
		b->held_kernel = kernel_count(b->port);
		b->kernel_counted = true;
		b->kernel_b = b->held_kernel ? (double)(slab1 - b->slab0_kb) * 1024 /
					       (double)b->held_kernel : 0;
		set_phase(b, "the listings");
		time_listings(b);
		/*
		 * The floor at scale: one round of the floor's loop, no warm-up, while
		 * the N connections are held.  Its connections need new kernel memory
		 * (no round before it freed any) and go into tables holding N, as the
		 * ramp's last ones did: what adding a connection costs the kernel at
		 * this size, beside the floor the ramp is judged by.
		 */
		set_phase(b, "the floor at scale");
		b->floor_held = kernel_floor_at_scale();
	}
	/* Hold, watching that no connection is lost. */
	set_phase(b, "the hold");
	hold(b, t0 + b->ramp_s + b->hold_s);
	set_phase(b, "the end");
	b->held_s = b->ramp_s > 0 ? now_s() - (t0 + b->ramp_s) : 0;
	if (server_open(b) < b->held_server)
		b->held_server = server_open(b);
	if (b->progress)
		fputc('\n', stderr);
	b->interrupted = stop_signal;
	if (b->interrupted && !b->stopped_in)
		b->stopped_in = "the end";
	/* The clients end first: a server that closes first would take connections from their count. */
	if (b->client.pid > 0)
		kill(b->client.pid, SIGINT);
	if (b->client.pid > 0 && finish_clients(b) == 0)
		client_figures(b);
	if (b->server.pid > 0)
		stop_server(b);
	if (b->chart)
		write_chart(b);
	ok = !b->interrupted && b->held_server == b->n && b->held_client == b->n &&
	     b->held_kernel == b->n && !b->failures;
	print_results(b, ok);
	return hold_status(b, ok);
}

static int cmd_bench_accept(struct bench *b);

int cmd_bench(int argc, char **argv)
{
	enum { OPT_HOLD = 256, OPT_WORKERS, OPT_PROCS, OPT_CHART, OPT_ACCEPT, OPT_NOTE, OPT_RUNS,
	       OPT_NO_NETNS };
	static const int hold_only[] = { OPT_HOLD, OPT_WORKERS, OPT_CHART, OPT_NO_NETNS };
	static const struct option longopts[] = {
		{ "connections", required_argument, NULL, 'n' },
		{ "hold", required_argument, NULL, OPT_HOLD },
		{ "workers", required_argument, NULL, OPT_WORKERS },
		{ "procs", required_argument, NULL, OPT_PROCS },
		{ "format", required_argument, NULL, 'f' },
		{ "chart", required_argument, NULL, OPT_CHART },
		{ "accept-only", no_argument, NULL, OPT_ACCEPT },
		{ "note", required_argument, NULL, OPT_NOTE },
		{ "runs", required_argument, NULL, OPT_RUNS },
		{ "no-netns", no_argument, NULL, OPT_NO_NETNS },
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
		case OPT_NO_NETNS:
			b.no_netns = true;
			break;
		case OPT_RUNS:
			if (cli_parse_count("number of runs", optarg, 1, MAX_RUNS, &count) < 0)
				return EXIT_USAGE;
			b.runs = (unsigned)count;
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
	if ((status = cli_opt_needs(&o, OPT_RUNS, b.accept_only,
				    "--accept-only (a held run is made once)")))
		return status;
	if (!b.runs)
		b.runs = 5;
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
	catch_stop_signals();
	b.progress = b.fmt != FMT_JSON && isatty(STDOUT_FILENO) && isatty(STDERR_FILENO);
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
	while (now_s() < deadline && !nl && !stop_signal) {
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

/* One figure over the rounds: its values, in the order measured. */
struct series {
	double v[MAX_RUNS];
	int n;
};

static void series_add(struct series *s, double v)
{
	if (s->n < MAX_RUNS)
		s->v[s->n++] = v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median (the mean of the middle two for an even count), lowest and highest of S. */
static void series_stats(const struct series *s, double *median, double *lo, double *hi)
{
	double v[MAX_RUNS];

	memcpy(v, s->v, sizeof(double) * (size_t)s->n);
	qsort(v, (size_t)s->n, sizeof(double), cmp_double);
	*median = s->n % 2 ? v[s->n / 2] : (v[s->n / 2 - 1] + v[s->n / 2]) / 2;
	*lo = v[0];
	*hi = v[s->n - 1];
}

/* Everything measured by --accept-only, round by round. */
struct accept_figures {
	struct series floor, rate[3], cpu[3];	/* rate, cpu: portscope, python, nginx */
	struct series to_floor, to_nginx;	/* portscope's rate over the floor's, nginx's; same round */
};

static const char *const server_names[] = { "portscope serve -f line", "the note's Python server",
					    "nginx stream 'return'" };
static const char *const server_keys[] = { "portscope", "python", "nginx" };

/* KEY: {"median", "min", "max"} of S, or null when nothing was measured. */
static void json_series(struct pscope_json *j, const char *key, const struct series *s,
			int decimals)
{
	double m, lo, hi;

	if (!s->n) {
		pscope_json_null(j, key);
		return;
	}
	series_stats(s, &m, &lo, &hi);
	pscope_json_object_begin(j, key);
	pscope_json_double(j, "median", m, decimals);
	pscope_json_double(j, "min", lo, decimals);
	pscope_json_double(j, "max", hi, decimals);
	pscope_json_object_end(j);
}

/* The peers measured, as members NAME: their median of S[1], S[2], in an object KEY. */
static void json_peers(struct pscope_json *j, const char *key, const struct series *s, int decimals)
{
	pscope_json_object_begin(j, key);
	for (int i = 1; i < 3; i++)
		if (s[i].n) {
			double m, lo, hi;

			series_stats(&s[i], &m, &lo, &hi);
			pscope_json_double(j, server_keys[i], m, decimals);
		}
	pscope_json_object_end(j);
}

static void print_accept_json(const struct bench *b, const struct accept_figures *f)
{
	struct pscope_json j;
	double m, lo, hi;

	pscope_json_init_file(&j, stdout);
	pscope_json_object_begin(&j, NULL);
	pscope_json_string(&j, "mode", "accept-only");
	pscope_json_uint(&j, "connections", b->n);
	pscope_json_uint(&j, "runs", (unsigned long)f->rate[0].n);
	pscope_json_bool(&j, "interrupted", b->interrupted != 0);
	if (b->interrupted)
		pscope_json_string(&j, "signal", sigabbrev_np(b->interrupted));
	series_stats(&f->rate[0], &m, &lo, &hi);
	pscope_json_double(&j, "rate_per_s", m, 0);
	series_stats(&f->cpu[0], &m, &lo, &hi);
	pscope_json_double(&j, "server_cpu_us_per_conn", m, 2);
	json_peers(&j, "peers", f->rate, 0);
	json_peers(&j, "peers_cpu_us_per_conn", f->cpu, 2);
	pscope_json_object_begin(&j, "left_out");
	for (int i = 0; i < 2; i++)
		if (b->left_out[i][0])
			pscope_json_string(&j, i ? "nginx" : "python", b->left_out[i]);
	pscope_json_object_end(&j);
	json_series(&j, "floor_per_s", &f->floor, 0);
	pscope_json_object_begin(&j, "rates_per_s");
	for (int i = 0; i < 3; i++)
		json_series(&j, server_keys[i], &f->rate[i], 0);
	pscope_json_object_end(&j);
	json_series(&j, "portscope_to_floor", &f->to_floor, 3);
	json_series(&j, "portscope_to_nginx", &f->to_nginx, 3);
	pscope_json_object_end(&j);
	putchar('\n');
}

/* "MEDIAN (LO to HI)" of S, or "-" when nothing was measured. */
static const char *series_text(const struct series *s, int decimals, char *buf, size_t size)
{
	double m, lo, hi;

	if (!s->n)
		return "-";
	series_stats(s, &m, &lo, &hi);
	if (s->n == 1)
		snprintf(buf, size, "%.*f", decimals, m);
	else
		snprintf(buf, size, "%.*f (%.*f to %.*f)", decimals, m, decimals, lo, decimals, hi);
	return buf;
}

static void print_accept_text(const struct bench *b, const struct accept_figures *f)
{
	char t1[96], t2[96];

	printf("portscope bench --accept-only: %lu connections each, accept, report, close; "
	       "%u client process%s, %d unanswered connections at most each (4 in all for "
	       "the note's server: its backlog is 5); %d round%s, the servers in turn, the order "
	       "reversed each round: the median (lowest to highest)\n", b->n, b->procs,
	       b->procs == 1 ? "" : "es", ACCEPT_INFLIGHT, f->rate[0].n, f->rate[0].n == 1 ? "" : "s");
	if (b->interrupted)
		printf("  interrupted by SIG%s: the rounds until then\n", sigabbrev_np(b->interrupted));
	printf("  %-26s %-28s %s\n", "server", "conn/s", "CPU us per conn");
	printf("  %-26s %-28s %s\n", "kernel floor (one thread)",
	       series_text(&f->floor, 0, t1, sizeof(t1)), "-");
	for (int i = 0; i < 3; i++)
		if (f->rate[i].n)
			printf("  %-26s %-28s %s\n", server_names[i], series_text(&f->rate[i], 0, t1, sizeof(t1)),
			       series_text(&f->cpu[i], 2, t2, sizeof(t2)));
	printf("  portscope / floor          %s\n", series_text(&f->to_floor, 2, t1, sizeof(t1)));
	if (f->to_nginx.n)
		printf("  portscope / nginx          %s\n", series_text(&f->to_nginx, 2, t1, sizeof(t1)));
}

/* Runs server I (0 portscope, 1 python, 2 nginx) once, adding its rate and CPU.  Returns it or -1. */
static double accept_one(struct bench *b, int i, const char *dir, struct accept_figures *f)
{
	double cpu = 0, rate;

	if (i > 0 && b->left_out[i - 1][0])
		return -1;
	rate = i == 0 ? run_self(b, &cpu) : i == 1 ? run_python(b, dir, &cpu) : run_nginx(b, dir, &cpu);
	if (rate > 0 && !stop_signal) {
		series_add(&f->rate[i], rate);
		series_add(&f->cpu[i], cpu);
	}
	return stop_signal ? -1 : rate;
}

/* One round: the floor and each server, in ORDER's direction.  Returns -1 if portscope failed. */
static int accept_round(struct bench *b, int round, const char *dir, struct accept_figures *f)
{
	/* 0..2 the servers, 3 the floor; the order is reversed every other round. */
	static const int order[] = { 3, 0, 2, 1 };
	double rate[4] = { -1, -1, -1, -1 };

	for (int k = 0; k < 4 && !stop_signal; k++) {
		int i = order[round % 2 ? 3 - k : k];

		if (i == 3) {
			rate[3] = kernel_floor(true);
			if (rate[3] > 0 && !stop_signal)
				series_add(&f->floor, rate[3]);
		} else {
			rate[i] = accept_one(b, i, dir, f);
			if (i == 0 && rate[0] <= 0 && !stop_signal)
				return -1;
		}
	}
	if (stop_signal)
		return 0;
	if (rate[0] > 0 && rate[3] > 0)
		series_add(&f->to_floor, rate[0] / rate[3]);
	if (rate[0] > 0 && rate[2] > 0)
		series_add(&f->to_nginx, rate[0] / rate[2]);
	return 0;
}

static int cmd_bench_accept(struct bench *b)
{
	char dir[] = "/tmp/portscope-bench.XXXXXX", cmd[600];
	struct accept_figures *f = calloc(1, sizeof(*f));
	int rc = 0;

	if (!f || !mkdtemp(dir)) {
		cli_warn("%s", f ? strerror(errno) : strerror(ENOMEM));
		free(f);
		return EXIT_FAIL;
	}
	for (unsigned r = 0; r < b->runs && !stop_signal && rc == 0; r++)
		rc = accept_round(b, (int)r, dir, f);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		cli_warn("could not remove %s", dir);
	b->interrupted = stop_signal;
	if (rc < 0 || (!f->rate[0].n && !b->interrupted)) {
		cli_warn("portscope serve could not be measured");
		free(f);
		return EXIT_FAIL;
	}
	if (f->rate[0].n) {
		if (b->fmt == FMT_JSON)
			print_accept_json(b, f);
		else
			print_accept_text(b, f);
	} else if (b->fmt == FMT_JSON) {
		printf("{\"mode\":\"accept-only\",\"connections\":%lu,\"runs\":0,\"interrupted\":true,"
		       "\"signal\":\"%s\"}\n", b->n, sigabbrev_np(b->interrupted));
	} else {
		printf("portscope bench --accept-only: interrupted by SIG%s before a round was done\n",
		       sigabbrev_np(b->interrupted));
	}
	free(f);
	rc = cli_finish(EXIT_OK);
	return b->interrupted ? 128 + b->interrupted : rc;
}
