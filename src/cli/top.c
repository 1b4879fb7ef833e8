/*
 * portscope top: one row per listening port, refreshed in place (ncurses):
 * listeners, SO_REUSEPORT group size, accept queue against its backlog,
 * established, syn-recv, time-wait, clients, new and closed per second, owners.
 * One sock_diag dump a frame (portstats.c); the event loop runs the clock, the
 * keys and the signals.
 */
#include <curses.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "portscope/diagmon.h"
#include "portstats.h"

#define MAX_OWNERS_TEXT 48
/* Connections closed in the last two frames, by 4-tuple (so that a TIME_WAIT stand-in is not news). */
#define CLOSED_SET 65536

enum col { C_PORT, C_LISTENERS, C_QUEUE, C_ESTAB, C_SYNRECV, C_TIMEWAIT, C_CLIENTS, C_NEW,
	   C_CLOSED, C_COLS };
/* The key that sorts by each column. */
static const char sort_keys[C_COLS + 1] = "plqestcnx";
static const char *const col_names[C_COLS] = { "port", "listeners", "queue", "established",
					       "syn-recv", "time-wait", "clients", "new/s", "closed/s" };

/* A connection seen in the last frame: its cookie, its port, and whether it was open then. */
struct seen {
	uint64_t cookie;
	uint16_t port;
	bool open;
	uint64_t tuple;		/* tuple_key() of its 4-tuple */
};

struct row {
	const struct ps_port *p;
	double rate_new, rate_closed;	/* < 0: not known yet (first frame) */
	char owners[MAX_OWNERS_TEXT];
	bool owners_cut;		/* more owners than the text holds: shown as "+more" */
};

struct top {
	double delay;
	bool once;
	enum col sort;
	bool reverse;
	struct portstats ps;
	struct row *rows;
	size_t nrows;
	struct seen *prev, *cur;
	size_t nprev, ncur, cur_cap;
	uint32_t *new_count, *closed_count;	/* per port, this frame */
	double prev_time;
	bool have_prev;
	bool lost;			/* notifications were lost since the last frame */
	struct pscope_loop *loop;
	int mon;			/* destroy notifications, or -1: dumps only */
	uint8_t *serving;		/* TCP ports with a listener in the last frame */
	uint64_t *closed_set[2];	/* 4-tuple keys: this frame's and the last one's */
	bool curses;
	int status;
	char error[160];
};

static const char usage[] =
	"usage: portscope top [-d SECS] [--once] [-s KEY]\n"
	"\n"
	"A live view of this host's listening ports, one row each, refreshed in place:\n"
	"  PORT       the port and protocol          LSN   listeners (SO_REUSEPORT: GRP in a group)\n"
	"  QUEUE      accept queue / backlog, summed over the port's listeners, and how full:\n"
	"             connections queued (role queued, as ls says: not accepted yet)\n"
	"  ESTAB      accepted connections established   SYNR  handshakes under way (SYN_RECV)\n"
	"  TW         server ends in TIME_WAIT           CLI   this host's clients of the port\n"
	"  NEW/s      connections accepted per second    CLS/s closed per second\n"
	"  OWNERS     the processes that hold the listeners\n"
	"\n"
	"Keys: p l q e s t c n x sort by port, listeners, queue, established, syn-recv,\n"
	"time-wait, clients, new/s, closed/s; r reverses; q quits.\n"
	"\n"
	"Options:\n"
	"  -d, --delay SECS   seconds between frames (default 1)\n"
	"      --sort KEY     the sort key at the start (default e)\n"
	"      --once         print one frame as text and exit (new/s and closed/s are '-':\n"
	"                     they need two frames)\n"
	"  -h, --help         show this help\n"
	"\n"
	"The terminal is restored on q, SIGINT, SIGTERM, and if the view crashes.\n"
	"Exit status: 0; 1 if the kernel cannot be read or there is no terminal;\n"
	"2 for a bad command line.\n";

/* ---- the terminal, restored whatever happens ---- */

static struct termios saved_termios;
static bool termios_saved;

/*
 * A crash of the view must not leave the terminal raw and on the alternate
 * screen: only async-signal-safe calls here (write, tcsetattr), then the
 * signal again, with its default action, for the core dump.
 */
static void on_crash(int sig)
{
	static const char reset[] = "\033[?1049l\033[?25h\033[0m\r\n";

	if (termios_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
	if (write(STDOUT_FILENO, reset, sizeof(reset) - 1) < 0) {
		/* nothing more can be done */
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void catch_crashes(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
	struct sigaction sa = { .sa_handler = on_crash, .sa_flags = SA_RESETHAND };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

static void end_curses(struct top *t)
{
	if (t->curses) {
		endwin();
		t->curses = false;
	}
}

/* ---- one frame ---- */

static int cmp_seen(const void *a, const void *b)
{
	const struct seen *x = a, *y = b;

	return x->cookie < y->cookie ? -1 : x->cookie > y->cookie;
}

static bool is_open(uint8_t state)
{
	return state == TCP_ESTABLISHED || state == TCP_SYN_RECV || state == 12;
}

static bool closed_has(const struct top *t, uint64_t key)
{
	for (int g = 0; g < 2; g++)
		for (size_t i = key % CLOSED_SET, n = 0; n < CLOSED_SET && t->closed_set[g][i];
		     i = (i + 1) % CLOSED_SET, n++)
			if (t->closed_set[g][i] == key)
				return true;
	return false;
}

static void closed_add(struct top *t, uint64_t key)
{
	for (size_t i = key % CLOSED_SET, n = 0; n < CLOSED_SET / 2; i = (i + 1) % CLOSED_SET, n++)
		if (!t->closed_set[0][i] || t->closed_set[0][i] == key) {
			t->closed_set[0][i] = key;
			return;
		}
}

static bool seen_before(const struct top *t, uint64_t cookie)
{
	struct seen k = { .cookie = cookie };

	return t->have_prev && bsearch(&k, t->prev, t->nprev, sizeof(k), cmp_seen);
}

/*
 * A connection of a listening port freed (the kernel's notification): closed;
 * and new too if the last frame did not have it (born and gone in between).
 */
static int on_destroy(const struct pscope_diag_sock *s, void *ctx)
{
	struct top *t = ctx;

	if (s->proto != IPPROTO_TCP || s->state == TCP_LISTEN || !t->serving[s->lport])
		return 0;
	t->closed_count[s->lport]++;
	if (!seen_before(t, s->cookie))
		t->new_count[s->lport]++;
	closed_add(t, ps_tuple_key(s->lport, s->rport, s->raddr));
	return 0;
}

static void read_notifications(struct top *t)
{
	int rc = pscope_diagmon_read(t->mon, NULL, on_destroy, t, 0);

	/* Notifications lost: this frame's counts fall back to what the dumps show. */
	if (rc == -ENOBUFS)
		t->lost = true;
}

static void on_notify(struct pscope_loop *l, int fd, uint32_t events, void *arg)
{
	(void)l;
	(void)fd;
	(void)events;
	read_notifications(arg);
}

/*
 * New and closed connections per port since the last frame, by cookie: new
 * if not seen before.  With the kernel's notifications, each freed connection
 * was counted closed as it went (and new, if no frame had it): the dumps add
 * only the connections that opened, and a TIME_WAIT stand-in whose closing was
 * counted is not counted again.  Without them (or when some were lost), a
 * connection is closed if it was open and is not now, or was born and closed
 * in between (first seen closed); one that leaves no stand-in is missed.
 */
static void count_changes(struct top *t)
{
	const struct portstats *ps = &t->ps;
	bool live = t->mon >= 0 && !t->lost;
	size_t i, j;

	t->ncur = 0;
	for (i = 0; i < ps->nsocks; i++) {
		const struct ps_sock *s = &ps->socks[i];

		if (s->proto != IPPROTO_TCP || s->state == TCP_LISTEN || s->lport != ps->port_of[i])
			continue;
		t->cur[t->ncur++] = (struct seen){ s->cookie, s->lport, is_open(s->state), s->tuple };
	}
	qsort(t->cur, t->ncur, sizeof(*t->cur), cmp_seen);
	if (!t->have_prev)
		return;
	for (i = 0, j = 0; i < t->ncur || j < t->nprev;) {
		if (j == t->nprev || (i < t->ncur && t->cur[i].cookie < t->prev[j].cookie)) {
			const struct seen *c = &t->cur[i];

			if (c->open || !live || !closed_has(t, c->tuple)) {
				t->new_count[c->port]++;
				t->closed_count[c->port] += !c->open;
			}
			i++;
		} else if (i == t->ncur || t->prev[j].cookie < t->cur[i].cookie) {
			t->closed_count[t->prev[j].port] += !live && t->prev[j].open;
			j++;
		} else {
			t->closed_count[t->cur[i].port] += !live && t->prev[j].open && !t->cur[i].open;
			i++;
			j++;
		}
	}
}

struct owner_ctx {
	struct top *t;
	const struct ps_listener **by_index;
};

/* True if WORD is one of the space-separated words of TEXT (not merely inside one: 12/a in 112/ab). */
static bool has_word(const char *text, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = text; (p = strstr(p, word)); p++)
		if ((p == text || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

static int add_owner(size_t idx, pid_t pid, int fd, void *ctx)
{
	struct owner_ctx *o = ctx;
	const struct ps_listener *l = o->by_index[idx];
	char comm[32], item[48];

	(void)fd;
	if (pid == getpid())
		return 0;
	for (size_t r = 0; r < o->t->nrows; r++) {
		struct row *row = &o->t->rows[r];

		if (row->p->proto != IPPROTO_TCP || row->p->port != l->s.lport)
			continue;
		if (pscope_proc_comm(pid, comm, sizeof(comm)) < 0)
			snprintf(comm, sizeof(comm), "?");
		snprintf(item, sizeof(item), "%d/%s", (int)pid, comm);
		if (has_word(row->owners, item))
			return 0;
		if (strlen(row->owners) + strlen(item) + 2 < sizeof(row->owners))
			snprintf(row->owners + strlen(row->owners),
				 sizeof(row->owners) - strlen(row->owners), "%s%s",
				 row->owners[0] ? " " : "", item);
		else
			row->owners_cut = true;
	}
	return 0;
}

/* The owners of the listeners, in one pass over /proc (only their inodes are looked for). */
static void find_owners(struct top *t)
{
	size_t n = t->ps.nlisteners;
	uint64_t *inodes = calloc(n ? n : 1, sizeof(*inodes));
	uint32_t *hash = malloc(pscope_owner_hash_size(n) * sizeof(*hash));
	const struct ps_listener **by_index = calloc(n ? n : 1, sizeof(*by_index));
	struct owner_ctx ctx = { t, by_index };
	struct pscope_owner_stats st;

	if (inodes && hash && by_index) {
		for (size_t i = 0; i < n; i++) {
			inodes[i] = t->ps.listeners[i].s.inode;
			by_index[i] = &t->ps.listeners[i];
		}
		pscope_owners_scan(NULL, inodes, n, hash, add_owner, &ctx, &st);
	}
	free(inodes);
	free(hash);
	free(by_index);
}

static uint32_t sum_role(const struct ps_port *p, enum ps_role r, int state)
{
	uint32_t n = 0;

	for (int s = 0; s < PS_STATES; s++)
		if (state < 0 || s == state || (state == TCP_SYN_RECV && s == 12))
			n += p->count[r][s];
	return n;
}

/* Server-side sockets of P in STATE, whatever their role (accepted, queued, handshake, orphaned). */
static uint32_t sum_server(const struct ps_port *p, int state)
{
	uint32_t n = 0;

	for (int r = PS_ACCEPTED; r <= PS_ORPHANED; r++)
		n += sum_role(p, (enum ps_role)r, state);
	return n;
}

static double key_of(const struct row *r, enum col c)
{
	switch (c) {
	case C_PORT: return r->p->port + (r->p->proto == IPPROTO_UDP ? 65536 : 0);
	case C_LISTENERS: return r->p->listeners;
	case C_QUEUE: return r->p->queued;
	case C_ESTAB: return sum_role(r->p, PS_ACCEPTED, TCP_ESTABLISHED);
	case C_SYNRECV: return sum_server(r->p, TCP_SYN_RECV);
	case C_TIMEWAIT: return sum_server(r->p, TCP_TIME_WAIT);
	case C_CLIENTS: return sum_role(r->p, PS_CLIENT, -1);
	case C_NEW: return r->rate_new;
	case C_CLOSED: return r->rate_closed;
	case C_COLS: break;
	}
	return 0;
}

static struct top *sorting;

static int cmp_rows(const void *a, const void *b)
{
	double x = key_of(a, sorting->sort), y = key_of(b, sorting->sort);
	int c = x < y ? -1 : x > y;

	/* Numbers biggest first; ports smallest first; r turns either round. */
	if (sorting->sort != C_PORT)
		c = -c;
	if (!c) {
		x = key_of(a, C_PORT);
		y = key_of(b, C_PORT);
		c = x < y ? -1 : x > y;
	}
	return sorting->reverse ? -c : c;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Takes a frame: a dump, the rows of the listening ports, rates, owners, the order. */
static int sample(struct top *t)
{
	double now;
	int rc;

	/* What the kernel said before this dump belongs to this frame. */
	if (t->mon >= 0)
		read_notifications(t);
	rc = portstats_collect(&t->ps);
	if (rc < 0)
		return rc;
	now = now_s();
	if (t->ps.nsocks > t->cur_cap) {
		size_t cap = t->ps.nsocks * 2;
		struct seen *a = realloc(t->cur, cap * sizeof(*a));

		if (!a)
			return -ENOMEM;
		t->cur = a;
		a = realloc(t->prev, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		t->prev = a;
		t->cur_cap = cap;
	}
	count_changes(t);
	free(t->rows);
	t->rows = calloc(t->ps.nports ? t->ps.nports : 1, sizeof(*t->rows));
	if (!t->rows)
		return -ENOMEM;
	t->nrows = 0;
	for (size_t i = 0; i < t->ps.nports; i++) {
		const struct ps_port *p = &t->ps.ports[i];
		struct row *r;

		if (!p->listeners || !p->port)
			continue;
		r = &t->rows[t->nrows++];
		r->p = p;
		r->rate_new = r->rate_closed = -1;
		if (t->have_prev && p->proto == IPPROTO_TCP && now > t->prev_time) {
			r->rate_new = t->new_count[p->port] / (now - t->prev_time);
			r->rate_closed = t->closed_count[p->port] / (now - t->prev_time);
		}
	}
	find_owners(t);
	/* The next frame starts counting afresh, knowing this frame's listening ports. */
	memset(t->new_count, 0, 65536 * sizeof(*t->new_count));
	memset(t->closed_count, 0, 65536 * sizeof(*t->closed_count));
	memset(t->serving, 0, 65536);
	for (size_t i = 0; i < t->ps.nlisteners; i++)
		t->serving[t->ps.listeners[i].s.lport] = 1;
	{
		uint64_t *old = t->closed_set[1];

		t->closed_set[1] = t->closed_set[0];
		t->closed_set[0] = old;
		memset(old, 0, CLOSED_SET * sizeof(*old));
	}
	t->lost = false;
	sorting = t;
	qsort(t->rows, t->nrows, sizeof(*t->rows), cmp_rows);
	/* This frame becomes the one the next is compared with. */
	{
		struct seen *s = t->prev;

		t->prev = t->cur;
		t->cur = s;
		t->nprev = t->ncur;
	}
	t->prev_time = now;
	t->have_prev = true;
	return 0;
}

static void format_rate(char *buf, size_t size, double v)
{
	if (v < 0)
		snprintf(buf, size, "-");
	else if (v < 10)
		snprintf(buf, size, "%.1f", v);
	else
		snprintf(buf, size, "%.0f", v);
}

/* The frame's lines; LINE(i, text) is called for each, the header first. */
static void render(const struct top *t, void (*line)(void *, int, const char *), void *arg)
{
	char buf[512], clock[16], newr[16], closedr[16], queue[32];
	time_t now = time(NULL);
	struct tm tm;
	uint32_t ports = 0, sockets = (uint32_t)t->ps.nsocks;
	int n = 0;

	localtime_r(&now, &tm);
	strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	for (size_t i = 0; i < t->nrows; i++)
		ports++;
	snprintf(buf, sizeof(buf), "portscope top - %s - %u listening ports, %u sockets - sorted by %s%s (p l q e s t c n x, r, q quits)%s",
		 clock, ports, sockets, col_names[t->sort], t->reverse ? ", reversed" : "",
		 t->mon < 0 && !t->once ? " - rates from dumps only" : "");
	line(arg, n++, buf);
	line(arg, n++, "");
	snprintf(buf, sizeof(buf), "%-11s %4s %4s %15s %5s %7s %5s %6s %5s %7s %7s  %s", "PORT", "LSN",
		 "GRP", "QUEUE", "FILL", "ESTAB", "SYNR", "TW", "CLI", "NEW/s", "CLS/s", "OWNERS");
	line(arg, n++, buf);
	for (size_t i = 0; i < t->nrows; i++) {
		const struct row *r = &t->rows[i];
		const struct ps_port *p = r->p;
		char port[16];
		bool tcp = p->proto == IPPROTO_TCP;

		snprintf(port, sizeof(port), "%u/%s", p->port, tcp ? "tcp" : "udp");
		format_rate(newr, sizeof(newr), r->rate_new);
		format_rate(closedr, sizeof(closedr), r->rate_closed);
		if (tcp)
			snprintf(queue, sizeof(queue), "%u/%u", p->queued, p->backlog);
		else
			snprintf(queue, sizeof(queue), "-");
		snprintf(buf, sizeof(buf), "%-11s %4u %4u %15s %4u%% %7u %5u %6u %5u %7s %7s  %s", port,
			 p->listeners, tcp ? p->biggest_group : 0, queue,
			 tcp && p->backlog ? (unsigned)(100.0 * p->queued / p->backlog) : 0,
			 sum_role(p, tcp ? PS_ACCEPTED : PS_CONNECTED, tcp ? TCP_ESTABLISHED : -1),
			 sum_server(p, TCP_SYN_RECV), sum_server(p, TCP_TIME_WAIT),
			 sum_role(p, PS_CLIENT, -1), newr, closedr, r->owners[0] ? r->owners : "-");
		if (r->owners_cut) /* said, not dropped: there are more than the column shows */
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), " +more");
		line(arg, n++, buf);
	}
}

static void print_line(void *arg, int n, const char *text)
{
	(void)arg;
	(void)n;
	puts(text);
}

static void screen_line(void *arg, int n, const char *text)
{
	(void)arg;
	if (n >= LINES)
		return;
	mvaddnstr(n, 0, text, COLS);
	if (n == 2)
		mvchgat(n, 0, COLS, A_REVERSE, 0, NULL);
}

static void draw(struct top *t)
{
	erase();
	if (t->error[0])
		mvaddnstr(0, 0, t->error, COLS);
	else
		render(t, screen_line, NULL);
	refresh();
}

/* ---- the loop ---- */

static long long on_tick(struct pscope_loop *l, long long id, void *arg)
{
	struct top *t = arg;
	int rc = sample(t);

	(void)l;
	(void)id;
	if (rc < 0)
		snprintf(t->error, sizeof(t->error), "portscope top: netlink sock_diag: %s",
			 pscope_strerror(rc));
	else
		t->error[0] = '\0';
	draw(t);
	return (long long)(t->delay * 1000);
}

static void on_key(struct pscope_loop *l, int fd, uint32_t events, void *arg)
{
	struct top *t = arg;
	int ch;

	(void)fd;
	(void)events;
	while ((ch = getch()) != ERR) {
		if (ch == 'q' || ch == 'Q') {
			pscope_loop_stop(l);
			return;
		}
		if (ch == 'r') {
			t->reverse = !t->reverse;
		} else if (ch == KEY_RESIZE) {
			/* ncurses has the new size: only draw again */
		} else {
			for (int c = 0; c < C_COLS; c++)
				if (ch == sort_keys[c]) {
					t->sort = (enum col)c;
					t->reverse = false;
				}
		}
		sorting = t;
		qsort(t->rows, t->nrows, sizeof(*t->rows), cmp_rows);
		draw(t);
	}
}

static void on_signal(struct pscope_loop *l, int sig, void *arg)
{
	(void)sig;
	(void)arg;
	pscope_loop_stop(l);
}

static int run_screen(struct top *t)
{
	int rc;

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		cli_warn("top needs a terminal (for scripts: --once)");
		return EXIT_FAIL;
	}
	if ((rc = pscope_loop_new(&t->loop)) < 0) {
		cli_warn("event loop: %s", pscope_strerror(rc));
		return EXIT_FAIL;
	}
	termios_saved = tcgetattr(STDIN_FILENO, &saved_termios) == 0;
	catch_crashes();
	if (!initscr()) {
		cli_warn("cannot start the terminal (TERM=%s)", getenv("TERM") ? getenv("TERM") : "");
		pscope_loop_free(t->loop);
		return EXIT_FAIL;
	}
	t->curses = true;
	cbreak();
	noecho();
	curs_set(0);
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	pscope_loop_watch(t->loop, STDIN_FILENO, PSCOPE_EV_READ, on_key, t);
	/* Connections born and gone between two frames are seen through the kernel's notifications. */
	t->mon = pscope_diagmon_open(PSCOPE_DIAG_TCP, 0, -1, 0, NULL);
	if (t->mon >= 0)
		pscope_loop_watch(t->loop, t->mon, PSCOPE_EV_READ, on_notify, t);
	pscope_loop_signal(t->loop, SIGINT, on_signal, t);
	pscope_loop_signal(t->loop, SIGTERM, on_signal, t);
	pscope_loop_signal(t->loop, SIGHUP, on_signal, t);
	pscope_loop_timer(t->loop, 0, on_tick, t);
	rc = pscope_loop_run(t->loop);
	end_curses(t);
	pscope_loop_free(t->loop);
	if (t->mon >= 0)
		close(t->mon);
	if (rc < 0) {
		cli_warn("event loop: %s", pscope_strerror(rc));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

enum { OPT_SORT = 256 };

int cmd_top(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "delay", required_argument, NULL, 'd' }, { "sort", required_argument, NULL, OPT_SORT },
		{ "once", no_argument, NULL, 'o' },	   { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct top t = { .delay = 1, .sort = C_ESTAB, .mon = -1 };
	struct cli_opts opts;
	int c, rc;

	cli_opts_init(&opts, "d:s:h", longopts);
	while ((c = cli_getopt(&opts, argc, argv)) != -1) {
		switch (c) {
		case 'd':
			if (cli_parse_seconds("--delay", optarg, &t.delay) < 0)
				return EXIT_USAGE;
			if (t.delay < 0.1)
				return cli_usage_error("bad --delay '%s': at least 0.1 s", optarg);
			break;
		case 's':
			/* ls's -s is --summary: one letter, one meaning. */
			return cli_usage_error("'-s' is not top's: write --sort KEY (-s is ls's --summary)");
		case OPT_SORT:
			if (strlen(optarg) != 1 || !strchr(sort_keys, optarg[0]) || !optarg[0])
				return cli_usage_error("bad --sort '%s': one of p l q e s t c n x", optarg);
			t.sort = (enum col)(strchr(sort_keys, optarg[0]) - sort_keys);
			break;
		case 'o': t.once = true; break;
		case 'h':
			fputs(usage, stdout);
			return cli_finish(EXIT_OK);
		default:
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_usage_error("unexpected argument '%s'", argv[optind]);
	t.new_count = calloc(65536, sizeof(*t.new_count));
	t.closed_count = calloc(65536, sizeof(*t.closed_count));
	t.serving = calloc(65536, 1);
	t.closed_set[0] = calloc(CLOSED_SET, sizeof(uint64_t));
	t.closed_set[1] = calloc(CLOSED_SET, sizeof(uint64_t));
	if (!t.new_count || !t.closed_count || !t.serving || !t.closed_set[0] || !t.closed_set[1]) {
		cli_warn("%s", strerror(ENOMEM));
		return EXIT_FAIL;
	}
	cli_ignore_sigpipe();
	if (t.once) {
		rc = sample(&t);
		if (rc < 0) {
			cli_warn("netlink sock_diag: %s", pscope_strerror(rc));
			rc = EXIT_FAIL;
		} else {
			render(&t, print_line, NULL);
			rc = EXIT_OK;
		}
	} else {
		rc = run_screen(&t);
	}
	portstats_free(&t.ps);
	free(t.rows);
	free(t.prev);
	free(t.cur);
	free(t.new_count);
	free(t.closed_count);
	free(t.serving);
	free(t.closed_set[0]);
	free(t.closed_set[1]);
	return cli_finish(rc);
}
