/*
 * portscope watch: a stream of events about the sockets of a port.  Dumps
 * filtered by port in the kernel, at an interval, diffed by socket cookie;
 * between them, the kernel's destroy notifications, so that a connection born
 * and gone between two dumps is still reported.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "portscope/diagmon.h"
#include "portscope/json.h"
#include "portscope/netns.h"

#define MAX_UNTIL 8
#define NOTIFY_BATCH 4096

enum { EV_APPEARED, EV_CHANGED, EV_GONE };
static const char *const event_names[] = { "appeared", "changed", "gone" };

struct owner {
	pid_t pid;
	int fd;
};

/* One socket known to be there, or recently gone (a tombstone, so that a late notification is not news). */
struct entry {
	struct pscope_diag_sock s;	/* cookie 0: an empty slot */
	uint32_t seen;			/* the dump that last listed it */
	uint32_t gone;			/* the dump after which it was reported gone; 0: alive */
	struct owner *owners;
	uint16_t nowners;
	uint16_t ns;			/* its namespace: an index into watch.ns */
};

struct watch;

/* A namespace watched (with --netns; else our own alone), with sockets created inside it. */
struct wns {
	struct watch *w;
	int fd;			/* the namespace (-1: our own) */
	int mon, lookup;	/* destroy notifications, lookups by 4-tuple */
	uint64_t inode;
	char label[48];
};
#define MAX_NS 4096

enum cmp { CMP_GE, CMP_LE, CMP_EQ, CMP_NE, CMP_GT, CMP_LT };

struct until {
	const char *text;
	uint32_t states;	/* a state's mask, or 0 */
	int role;		/* a role, or -1 */
	enum cmp op;
	unsigned long n;
};

/* ls's roles: enum pscope_role's order (pscope_diag_role()), then what --until adds. */
enum role { R_LISTENER, R_ACCEPTED, R_QUEUED, R_HANDSHAKE, R_ORPHANED, R_BOUND, R_CONNECTED,
	    R_CLIENT, R_NONE, R_ANY };
static const char *const role_names[] = { "listener", "accepted", "queued", "handshake", "orphaned",
					  "bound", "connected", "client" };
_Static_assert(R_NONE == (int)PSCOPE_ROLE_NONE && R_QUEUED == (int)PSCOPE_ROLE_QUEUED &&
		       R_CLIENT == (int)PSCOPE_ROLE_CLIENT, "watch's roles follow enum pscope_role");

struct watch {
	struct pscope_diag_filter f;
	bool json, processes, no_initial, quiet;
	double interval;
	double timeout;
	int rcvbuf;
	struct until until[MAX_UNTIL];
	unsigned nuntil;

	struct pscope_loop *loop;
	const char *netns;	/* --netns NAME or "all", or NULL */
	struct wns *ns[MAX_NS];
	size_t nns;
	int rcvbuf_got;
	struct entry *tab;
	size_t cap, used;
	uint32_t epoch;
	int status;
	bool done;

	/* One dump, gathered before it is diffed (owners are looked up for all of it at once). */
	struct pscope_diag_sock *dump;
	uint16_t *dump_ns;	/* per listed socket: its namespace */
	size_t ndump, dump_cap, dump_base;
	uint16_t cur_ns;	/* the namespace being listed */
	bool dump_oom;
	struct { size_t idx; struct owner o; } *found;
	size_t nfound, found_cap;
	unsigned long events;
};

static const char usage[] =
	"usage: portscope watch [OPTIONS] [PORT | ADDR:PORT]\n"
	"\n"
	"Print an event each time a socket on PORT appears, changes state or goes away,\n"
	"keyed by the kernel's socket cookie: TCP and UDP, the port as local or remote\n"
	"port (as ls lists it).  The kernel lists the port every --interval; between\n"
	"lists, its destroy notifications (as ss -E reads them; root) report sockets\n"
	"that close, even one born and gone between two lists.  The sockets there at\n"
	"the start are reported first, marked initial.  Without PORT, every socket.\n"
	"\n"
	"Options:\n"
	"  -f, --format FMT     json (one object per line: the default when stdout is\n"
	"                       not a terminal) or text (the default on a terminal)\n"
	"  -i, --interval S     seconds between two lists of the port (default 1)\n"
	"  -p, --processes      the processes that hold each socket, as it appears\n"
	"      --no-initial     do not report the sockets there at the start\n"
	"  -q, --quiet          no events (with --until: only the exit status)\n"
	"      --until COND     exit 0 as soon as COND holds: NAME OP N, NAME a state\n"
	"                       (listen, established, time-wait, syn-recv, ...), a role\n"
	"                       (listener, accepted, queued, handshake, orphaned, bound,\n"
	"                       connected, client: as ls) or\n"
	"                       sockets; OP one of >= <= == != > <.  'listen>=1' waits\n"
	"                       for a server on PORT.  Repeated: all must hold\n"
	"      --timeout S      stop after S seconds: exit 5 if an --until condition\n"
	"                       has not held, 0 otherwise\n"
	"  -t, --tcp            TCP only            -u, --udp    UDP only\n"
	"  -4                   IPv4 only           -6           IPv6 only\n"
	"  -l, --local-only     only sockets whose local port is PORT\n"
	"      --rcvbuf BYTES   the notification queue's size (default 4 MiB)\n"
	"      --netns NAME     watch network namespace NAME (/run/netns/NAME, or a path\n"
	"                       such as /proc/PID/ns/net); 'all': every namespace on the\n"
	"                       host, those that appear later too (found at each list);\n"
	"                       each event names its namespace (net:[INODE] unnamed)\n"
	"  -h, --help           show this help\n"
	"\n"
	"If the kernel drops notifications (its queue overflowed), a 'lost' event says\n"
	"so and the port is listed again at once.  SIGINT or SIGTERM ends the watch.\n"
	"Exit status: 0; 1 if the kernel could not be read; 2 for a bad command line;\n"
	"5 if --timeout came before --until held.\n";

/* ---- the table of sockets, by cookie (open addressing, linear probing) ---- */

static size_t slot_of(const struct watch *w, uint64_t cookie)
{
	uint64_t h = cookie * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 16) & (w->cap - 1);
}

static struct entry *find(struct watch *w, uint64_t cookie)
{
	if (!w->cap || !cookie)
		return NULL;
	for (size_t i = slot_of(w, cookie);; i = (i + 1) & (w->cap - 1)) {
		if (w->tab[i].s.cookie == cookie)
			return &w->tab[i];
		if (!w->tab[i].s.cookie)
			return NULL;
	}
}

static int grow(struct watch *w)
{
	size_t cap = w->cap ? w->cap * 2 : 1024;
	struct entry *old = w->tab, *tab = calloc(cap, sizeof(*tab));
	size_t ocap = w->cap;

	if (!tab)
		return -ENOMEM;
	w->tab = tab;
	w->cap = cap;
	for (size_t i = 0; i < ocap; i++) {
		size_t j;

		if (!old[i].s.cookie)
			continue;
		for (j = slot_of(w, old[i].s.cookie); tab[j].s.cookie; j = (j + 1) & (cap - 1))
			;
		tab[j] = old[i];
	}
	free(old);
	return 0;
}

static struct entry *insert(struct watch *w, const struct pscope_diag_sock *s)
{
	size_t i;

	if ((w->used + 1) * 2 > w->cap && grow(w) < 0)
		return NULL;
	for (i = slot_of(w, s->cookie); w->tab[i].s.cookie; i = (i + 1) & (w->cap - 1))
		;
	w->tab[i] = (struct entry){ .s = *s, .seen = w->epoch, .ns = w->cur_ns };
	w->used++;
	return &w->tab[i];
}

/* Removes E, moving back the entries after it that probed past its slot. */
static void erase(struct watch *w, struct entry *e)
{
	size_t i = (size_t)(e - w->tab), j = i;

	free(e->owners);
	for (;;) {
		size_t k;

		j = (j + 1) & (w->cap - 1);
		if (!w->tab[j].s.cookie)
			break;
		k = slot_of(w, w->tab[j].s.cookie);
		/* Entry j may move to i only if its home slot k is not in (i, j]. */
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			w->tab[i] = w->tab[j];
			i = j;
		}
	}
	memset(&w->tab[i], 0, sizeof(w->tab[i]));
	w->used--;
}

/* ---- events ---- */

/* The role, as ls gives it: pscope_diag_role(), in enum pscope_role's order. */
static enum role role_of(const struct watch *w, const struct pscope_diag_sock *s)
{
	if (w->f.port < 0)
		return R_NONE;
	return (enum role)pscope_diag_role(s);
}

/* A number the kernel gave, or null where it gave none (a minisocket's queues, a freed socket's inode). */
static void json_known(struct pscope_json *j, const char *key, uint64_t v, bool absent)
{
	if (absent)
		pscope_json_null(j, key);
	else
		pscope_json_uint(j, key, v);
}

static const char *text_known(char *buf, size_t size, uint64_t v, bool absent)
{
	if (absent)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%llu", (unsigned long long)v);
	return buf;
}

static void format_end(const struct pscope_diag_sock *s, bool local, char *buf, size_t size)
{
	static const uint8_t zero[16];
	struct pscope_addr a;

	if (!local && s->rport == 0 && !memcmp(s->raddr, zero, 16)) {
		snprintf(buf, size, "%s", s->family == AF_INET6 ? "[::]:*" : "0.0.0.0:*");
		return;
	}
	if (local)
		pscope_diag_local(s, &a);
	else
		pscope_diag_peer(s, &a);
	if (pscope_addr_format(&a, buf, size) < 0)
		snprintf(buf, size, "?");
}

static void now_text(char *buf, size_t size, bool json)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (json) {
		gmtime_r(&ts.tv_sec, &tm);
		snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 ts.tv_nsec / 1000000);
	} else {
		localtime_r(&ts.tv_sec, &tm);
		snprintf(buf, size, "%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min, tm.tm_sec,
			 ts.tv_nsec / 1000000);
	}
}

static void json_owners(struct pscope_json *j, const struct entry *e)
{
	pscope_json_array_begin(j, "processes");
	for (uint16_t k = 0; e && k < e->nowners; k++) {
		char comm[64];

		if (pscope_proc_comm(e->owners[k].pid, comm, sizeof(comm)) < 0)
			snprintf(comm, sizeof(comm), "?");
		pscope_json_object_begin(j, NULL);
		pscope_json_int(j, "pid", e->owners[k].pid);
		pscope_json_string(j, "comm", comm);
		pscope_json_int(j, "fd", e->owners[k].fd);
		pscope_json_object_end(j);
	}
	pscope_json_array_end(j);
}

static void text_owners(const struct entry *e)
{
	for (uint16_t k = 0; e && k < e->nowners; k++) {
		char comm[64];

		if (pscope_proc_comm(e->owners[k].pid, comm, sizeof(comm)) < 0)
			snprintf(comm, sizeof(comm), "?");
		printf(" %d/%s/fd=%d", (int)e->owners[k].pid, comm, e->owners[k].fd);
	}
	if (!e || !e->nowners)
		fputs(" -", stdout);
}

/*
 * Prints one event about S.  PREV is the state it had (changed, gone), or -1;
 * VIA names what told us: "dump", "destroy" (a notification), "lookup" (a
 * notification, then the kernel's answer about the 4-tuple).  E (may be NULL)
 * carries the owners.
 */
static void emit(struct watch *w, int kind, const struct pscope_diag_sock *s, int prev,
		 const char *via, bool initial, const struct entry *e)
{
	char t[96], local[PSCOPE_ADDRSTRLEN], peer[PSCOPE_ADDRSTRLEN];
	enum role r = role_of(w, s);
	struct pscope_diag_sock p = *s;

	w->events++;
	if (w->quiet || (initial && w->no_initial))
		return;
	now_text(t, sizeof(t), w->json);
	format_end(s, true, local, sizeof(local));
	format_end(s, false, peer, sizeof(peer));
	if (prev >= 0)
		p.state = (uint8_t)prev;
	if (w->json) {
		struct pscope_json j;

		pscope_json_init_file(&j, stdout);
		pscope_json_object_begin(&j, NULL);
		pscope_json_string(&j, "event", event_names[kind]);
		pscope_json_string(&j, "time", t);
		if (w->netns)
			pscope_json_string(&j, "netns", w->ns[e ? e->ns : w->cur_ns]->label);
		if (kind == EV_APPEARED)
			pscope_json_bool(&j, "initial", initial);
		pscope_json_string(&j, "via", via);
		pscope_json_uint(&j, "cookie", s->cookie);
		pscope_json_string(&j, "proto", s->proto == IPPROTO_UDP ? "udp" : "tcp");
		pscope_json_string(&j, "state", pscope_diag_state_name(s));
		if (prev >= 0)
			pscope_json_string(&j, "prev_state", pscope_diag_state_name(&p));
		pscope_json_string(&j, "local", local);
		pscope_json_string(&j, "peer", strchr(peer, '*') ? NULL : peer);
		if (r == R_NONE)
			pscope_json_null(&j, "role");
		else
			pscope_json_string(&j, "role", role_names[r]);
		json_known(&j, "recv_q", s->rqueue, s->absent & PSCOPE_DIAG_NO_RQUEUE);
		json_known(&j, "send_q", s->wqueue, s->absent & PSCOPE_DIAG_NO_WQUEUE);
		json_known(&j, "inode", s->inode, s->absent & PSCOPE_DIAG_NO_INODE);
		if (w->processes)
			json_owners(&j, e);
		pscope_json_object_end(&j);
		putchar('\n');
	} else {
		char state[48], rq[24], sq[24];

		if (prev >= 0 && kind == EV_CHANGED)
			snprintf(state, sizeof(state), "%s->%s", pscope_diag_state_name(&p),
				 pscope_diag_state_name(s));
		else
			snprintf(state, sizeof(state), "%s", pscope_diag_state_name(s));
		printf("%s %-8s %s %-23s %-22s %-22s %-9s rq=%s sq=%s cookie=%llu %s%s", t,
		       event_names[kind], s->proto == IPPROTO_UDP ? "udp" : "tcp", state, local, peer,
		       r == R_NONE ? "-" : role_names[r],
		       text_known(rq, sizeof(rq), s->rqueue, s->absent & PSCOPE_DIAG_NO_RQUEUE),
		       text_known(sq, sizeof(sq), s->wqueue, s->absent & PSCOPE_DIAG_NO_WQUEUE),
		       (unsigned long long)s->cookie, via, initial ? " initial" : "");
		if (w->netns)
			printf(" netns=%s", w->ns[e ? e->ns : w->cur_ns]->label);
		if (w->processes)
			text_owners(e);
		putchar('\n');
	}
	cli_check_stdout();
}

static void emit_lost(struct watch *w, const char *why)
{
	char t[96];

	w->events++;
	if (w->quiet)
		return;
	now_text(t, sizeof(t), w->json);
	if (w->json) {
		struct pscope_json j;

		pscope_json_init_file(&j, stdout);
		pscope_json_object_begin(&j, NULL);
		pscope_json_string(&j, "event", "lost");
		pscope_json_string(&j, "time", t);
		pscope_json_string(&j, "detail", why);
		pscope_json_object_end(&j);
		putchar('\n');
	} else {
		printf("%s lost     %s\n", t, why);
	}
	cli_check_stdout();
}

/* ---- --until ---- */

static bool compare(unsigned long v, enum cmp op, unsigned long n)
{
	switch (op) {
	case CMP_GE: return v >= n;
	case CMP_LE: return v <= n;
	case CMP_EQ: return v == n;
	case CMP_NE: return v != n;
	case CMP_GT: return v > n;
	case CMP_LT: return v < n;
	}
	return false;
}

static bool until_holds(const struct watch *w)
{
	unsigned long count[MAX_UNTIL] = { 0 };

	if (!w->nuntil)
		return false;
	for (size_t i = 0; i < w->cap; i++) {
		const struct entry *e = &w->tab[i];

		if (!e->s.cookie || e->gone)
			continue;
		for (unsigned k = 0; k < w->nuntil; k++) {
			const struct until *u = &w->until[k];

			if (u->states)
				count[k] += e->s.state < 32 && (u->states & (1u << e->s.state));
			else if (u->role == R_ANY)
				count[k]++;
			else
				count[k] += (int)role_of(w, &e->s) == u->role;
		}
	}
	for (unsigned k = 0; k < w->nuntil; k++)
		if (!compare(count[k], w->until[k].op, w->until[k].n))
			return false;
	return true;
}

static void check_until(struct watch *w)
{
	if (!w->done && until_holds(w)) {
		w->status = EXIT_OK;
		w->done = true;
		pscope_loop_stop(w->loop);
	}
}

/* ---- notifications ---- */

static void fail(struct watch *w, const char *what, int rc)
{
	cli_warn("%s: %s", what, pscope_strerror(rc));
	w->status = EXIT_FAIL;
	w->done = true;
	pscope_loop_stop(w->loop);
}

/* States from which a closing TCP socket cannot leave a TIME_WAIT stand-in behind. */
static bool no_time_wait_after(uint8_t state)
{
	return state == TCP_LISTEN || state == TCP_CLOSE_WAIT || state == TCP_LAST_ACK ||
	       state == TCP_SYN_SENT;
}

/* A timewait socket (TIME_WAIT, or FIN_WAIT2 orphaned) left behind by a closing TCP socket. */
static bool stand_in(const struct pscope_diag_sock *s)
{
	return s->state == TCP_TIME_WAIT || s->state == TCP_FIN_WAIT2;
}

static int on_destroy(const struct pscope_diag_sock *s, void *ctx)
{
	struct watch *w = ctx;
	struct entry *e = find(w, s->cookie);
	struct pscope_diag_sock now, key = *s;
	int found = 0;

	if (e && e->gone)
		return 0;
	/*
	 * A TCP socket that went to TIME_WAIT was freed, but its stand-in holds the
	 * 4-tuple on: ask for it by the 4-tuple alone, as it has the socket's cookie
	 * only if the socket had been given one before (listed by a dump).
	 */
	int lookup = w->ns[w->cur_ns]->lookup;

	if (s->proto == IPPROTO_TCP && lookup >= 0 && !(e && no_time_wait_after(e->s.state))) {
		key.cookie = 0;
		found = pscope_diag_lookup(lookup, &key, &now) > 0 && stand_in(&now);
	}
	if (found) {
		struct entry *t = find(w, now.cookie);

		if (t && t != e)
			return 0; /* a dump listed the stand-in already */
		if (!e) {
			e = insert(w, &now);
			if (!e)
				return -1;
			emit(w, EV_APPEARED, &now, -1, "lookup", false, e);
		} else if (e->s.state != now.state) {
			int prev = e->s.state;

			e->s = now;
			emit(w, EV_CHANGED, &e->s, prev, "lookup", false, e);
		}
		return 0;
	}
	if (!e) {
		/*
		 * Born and gone between two dumps: only the notification saw it.  Its
		 * queues are read from a socket being freed (a UDP socket's send
		 * queue has already dropped below zero): not worth reporting.
		 */
		struct pscope_diag_sock g = *s;

		g.rqueue = g.wqueue = 0;
		g.absent |= PSCOPE_DIAG_NO_RQUEUE | PSCOPE_DIAG_NO_WQUEUE;
		e = insert(w, &g);
		if (!e)
			return -1;
		emit(w, EV_APPEARED, &g, -1, "destroy", false, e);
		emit(w, EV_GONE, &g, -1, "destroy", false, e);
	} else {
		/* Gone: as it was last seen. */
		emit(w, EV_GONE, &e->s, -1, "destroy", false, e);
	}
	e->gone = w->epoch + 1;
	return 0;
}

static void dump_cycle(struct watch *w, bool initial);

/* Reads namespace N's notifications: at most BATCH (0: all there are). */
static int read_ns(struct watch *w, size_t n, unsigned batch)
{
	w->cur_ns = (uint16_t)n;
	return pscope_diagmon_read(w->ns[n]->mon, &w->f, on_destroy, w, batch);
}

static void read_notifications(struct wns *ns)
{
	struct watch *w = ns->w;
	size_t n;
	int rc;

	for (n = 0; n < w->nns && w->ns[n] != ns; n++)
		;
	rc = read_ns(w, n, NOTIFY_BATCH);

	if (rc == -ENOBUFS) {
		emit_lost(w, "the kernel dropped destroy notifications (its queue overflowed, "
			     "ENOBUFS): listing the port again");
		dump_cycle(w, false);
		return;
	}
	if (rc < 0) {
		fail(w, "destroy notifications", rc == -ECANCELED ? -ENOMEM : rc);
		return;
	}
	check_until(w);
}

static int add_all(struct watch *w);

static void on_notify(struct pscope_loop *l, int fd, uint32_t events, void *arg)
{
	(void)l;
	(void)fd;
	(void)events;
	read_notifications(arg);
}

/* ---- dumps ---- */

static int gather(const struct pscope_diag_sock *s, void *ctx)
{
	struct watch *w = ctx;

	if (!s) {
		w->ndump = w->dump_base; /* the kernel restarted its dump of this namespace */
		return 0;
	}
	if (w->ndump == w->dump_cap) {
		size_t cap = w->dump_cap ? w->dump_cap * 2 : 256;
		void *p = realloc(w->dump, cap * sizeof(*w->dump));
		void *q = p ? realloc(w->dump_ns, cap * sizeof(*w->dump_ns)) : NULL;

		if (p)
			w->dump = p;
		if (!q) {
			w->dump_oom = true;
			return -1;
		}
		w->dump_ns = q;
		w->dump_cap = cap;
	}
	w->dump_ns[w->ndump] = w->cur_ns;
	w->dump[w->ndump++] = *s;
	return 0;
}

static int add_found(size_t idx, pid_t pid, int fd, void *ctx)
{
	struct watch *w = ctx;

	if (pid == getpid())
		return 0;
	if (CLI_RESERVE(w->found, w->found_cap, w->nfound, 64, false) < 0)
		return -1;
	w->found[w->nfound].idx = idx;
	w->found[w->nfound].o = (struct owner){ pid, fd };
	w->nfound++;
	return 0;
}

/* Looks up the owners of the listed sockets that are new, or whose inode changed (accept()). */
static void find_owners(struct watch *w)
{
	uint64_t *inodes = calloc(w->ndump ? w->ndump : 1, sizeof(*inodes));
	uint32_t *hash = malloc(pscope_owner_hash_size(w->ndump) * sizeof(*hash));
	struct pscope_owner_stats st;
	size_t want = 0;

	w->nfound = 0;
	if (inodes && hash) {
		for (size_t i = 0; i < w->ndump; i++) {
			const struct entry *e = find(w, w->dump[i].cookie);

			if (w->dump[i].inode && (!e || e->s.inode != w->dump[i].inode)) {
				inodes[i] = w->dump[i].inode;
				want++;
			}
		}
		if (want)
			pscope_owners_scan(NULL, inodes, w->ndump, hash, add_found, w, &st);
	}
	free(inodes);
	free(hash);
}

static void attach_owners(struct watch *w, struct entry *e, size_t idx)
{
	uint16_t n = 0;

	for (size_t k = 0; k < w->nfound; k++)
		n += w->found[k].idx == idx;
	free(e->owners);
	e->owners = NULL;
	e->nowners = 0;
	if (!n || !(e->owners = malloc(n * sizeof(*e->owners))))
		return;
	for (size_t k = 0; k < w->nfound; k++)
		if (w->found[k].idx == idx)
			e->owners[e->nowners++] = w->found[k].o;
}

static void diff_dump(struct watch *w, bool initial)
{
	w->epoch++;
	for (size_t i = 0; i < w->ndump; i++) {
		const struct pscope_diag_sock *s = &w->dump[i];
		struct entry *e = find(w, s->cookie);

		if (e && e->gone)
			continue;
		if (!e) {
			w->cur_ns = w->dump_ns[i];
			e = insert(w, s);
			if (!e) {
				fail(w, "watch", -ENOMEM);
				return;
			}
			if (w->processes)
				attach_owners(w, e, i);
			emit(w, EV_APPEARED, s, -1, "dump", initial, e);
			continue;
		}
		e->seen = w->epoch;
		if (e->s.state != s->state || e->s.inode != s->inode) {
			int prev = e->s.state;

			if (w->processes && e->s.inode != s->inode)
				attach_owners(w, e, i);
			e->s = *s;
			emit(w, EV_CHANGED, s, prev, "dump", false, e);
		} else {
			e->s.rqueue = s->rqueue;
			e->s.wqueue = s->wqueue;
		}
	}
	/* What the dump no longer lists is gone; tombstones two dumps old are forgotten. */
	for (size_t i = 0; i < w->cap; i++) {
		struct entry *e = &w->tab[i];

		if (!e->s.cookie)
			continue;
		if (!e->gone && e->seen != w->epoch) {
			emit(w, EV_GONE, &e->s, -1, "dump", false, e);
			e->gone = w->epoch;
		}
	}
	for (size_t i = 0; i < w->cap;) {
		struct entry *e = &w->tab[i];

		/* erase() may move a later entry into slot i: look at it again. */
		if (e->s.cookie && e->gone && e->gone + 2 <= w->epoch)
			erase(w, e);
		else
			i++;
	}
}

static void dump_cycle(struct watch *w, bool initial)
{
	struct pscope_diag_stats st;
	int rc;

	bool inconsistent = false;

	if (w->netns && !strcmp(w->netns, "all") && !initial && (rc = add_all(w)) < 0)
		return fail(w, "--netns all", rc);
	/* Notifications queued before the dump are older than it: take them first. */
	for (size_t n = 0; n < w->nns && !initial; n++) {
		if (w->ns[n]->mon < 0)
			continue;
		rc = read_ns(w, n, 0);
		if (rc == -ENOBUFS)
			emit_lost(w, "the kernel dropped destroy notifications (its queue overflowed, "
				     "ENOBUFS): listing the port again");
		else if (rc < 0)
			return fail(w, "destroy notifications", rc);
	}
	w->ndump = 0;
	w->dump_oom = false;
	for (size_t n = 0; n < w->nns; n++) {
		w->cur_ns = (uint16_t)n;
		w->dump_base = w->ndump;
		rc = pscope_diag_netlink_in(w->ns[n]->fd, &w->f, gather, w, -1, &st);
		if (rc < 0)
			return fail(w, w->nns > 1 ? w->ns[n]->label : "netlink sock_diag",
				    w->dump_oom ? -ENOMEM : rc);
		inconsistent |= st.inconsistent;
	}
	if (inconsistent)
		cli_warn("the kernel's socket list kept changing during the dump: this one is skipped");
	else {
		if (w->processes)
			find_owners(w);
		diff_dump(w, initial);
	}
	check_until(w);
}

static long long on_timer(struct pscope_loop *l, long long id, void *arg)
{
	struct watch *w = arg;

	(void)l;
	(void)id;
	dump_cycle(w, false);
	return (long long)(w->interval * 1000);
}

static long long on_timeout(struct pscope_loop *l, long long id, void *arg)
{
	struct watch *w = arg;

	(void)id;
	if (!w->done) {
		w->status = w->nuntil ? EXIT_TIMEOUT : EXIT_OK;
		w->done = true;
		if (w->nuntil)
			cli_warn("--timeout: %g s passed and the --until condition did not hold",
				 w->timeout);
	}
	pscope_loop_stop(l);
	return -1;
}

static void on_signal(struct pscope_loop *l, int sig, void *arg)
{
	struct watch *w = arg;

	(void)sig;
	w->done = true;
	pscope_loop_stop(l);
}

static void before_sleep(struct pscope_loop *l, void *arg)
{
	struct watch *w = arg;
	int rc = cli_flush();

	if (rc == 1 || rc < 0) {
		w->status = rc < 0 ? EXIT_FAIL : w->status;
		w->done = true;
		pscope_loop_stop(l);
	}
}

/* ---- the command line ---- */

static int parse_until(struct watch *w, const char *arg)
{
	static const struct { const char *s; enum cmp op; } ops[] = {
		{ ">=", CMP_GE }, { "<=", CMP_LE }, { "==", CMP_EQ }, { "!=", CMP_NE },
		{ "=", CMP_EQ }, { ">", CMP_GT }, { "<", CMP_LT },
	};
	struct until *u = &w->until[w->nuntil];
	char name[32];
	size_t len = strcspn(arg, "<>=!");
	const char *rest = arg + len;
	unsigned k;

	if (w->nuntil == MAX_UNTIL)
		return cli_usage_error("at most %d --until conditions", MAX_UNTIL), -1;
	if (len == 0 || len >= sizeof(name) || !*rest)
		return cli_usage_error("bad --until '%s': give NAME OP N, e.g. 'established>=10'", arg), -1;
	memcpy(name, arg, len);
	name[len] = '\0';
	for (k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
		if (!strncmp(rest, ops[k].s, strlen(ops[k].s)))
			break;
	if (k == sizeof(ops) / sizeof(ops[0]))
		return cli_usage_error("bad --until '%s': the operator is one of >= <= == != > <", arg), -1;
	*u = (struct until){ .text = arg, .role = -1, .op = ops[k].op };
	rest += strlen(ops[k].s);
	if (cli_parse_count("--until count", rest, 0, 100000000, &u->n) < 0)
		return -1;
	for (int r = 0; r < R_NONE; r++)
		if (!strcmp(name, role_names[r]))
			u->role = r;
	if (!strcmp(name, "sockets"))
		u->role = R_ANY;
	if (u->role < 0 && !(u->states = pscope_diag_state_mask(name)))
		return cli_usage_error("bad --until '%s': '%s' is neither a state, a role nor 'sockets'",
				       arg, name), -1;
	w->nuntil++;
	return 0;
}

/* PORT or ADDR:PORT as ls reads it ('*' for any address).  Returns 0, or -1 after a message. */
static int parse_target(const char *arg, struct pscope_diag_filter *f)
{
	struct pscope_endpoint ep;

	if (cli_parse_endpoint(arg, NULL, 0, &ep) < 0)
		return -1;
	if (!ep.port_given)
		return cli_usage_error("bad port '%s': watch takes PORT or ADDR:PORT", arg), -1;
	if (ep.port == 0)
		return cli_usage_error("bad port '%s': no socket is on port 0; give 1 to 65535", arg), -1;
	f->port = ep.port;
	if (ep.kind == PSCOPE_HOST_NONE || ep.kind == PSCOPE_HOST_ANY)
		return 0;
	if (ep.kind == PSCOPE_HOST_NAME)
		return cli_usage_error("bad address '%s': '%s' is a host name; watch filters on a "
				       "numeric address (or * for any)", arg, ep.host), -1;
	if (cli_resolve_endpoint(arg, &ep, AF_UNSPEC, PSCOPE_RESOLVE_NUMERIC, &f->addr, 1) < 0)
		return -1;
	f->has_addr = true;
	return 0;
}

enum { OPT_UNTIL = 256, OPT_TIMEOUT, OPT_RCVBUF, OPT_NETNS, OPT_NO_INITIAL };

static int parse_args(struct watch *w, int argc, char **argv, bool *help)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' }, { "interval", required_argument, NULL, 'i' },
		{ "processes", no_argument, NULL, 'p' },    { "no-initial", no_argument, NULL, OPT_NO_INITIAL },
		{ "quiet", no_argument, NULL, 'q' },	    { "until", required_argument, NULL, OPT_UNTIL },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "tcp", no_argument, NULL, 't' },	    { "udp", no_argument, NULL, 'u' },
		{ "local-only", no_argument, NULL, 'l' },   { "rcvbuf", required_argument, NULL, OPT_RCVBUF },
		{ "netns", required_argument, NULL, OPT_NETNS },
		{ "help", no_argument, NULL, 'h' },	    { NULL, 0, NULL, 0 },
	};
	struct cli_opts opts;
	bool fmt_given = false;
	unsigned long v;
	int c;

	cli_opts_init(&opts, "f:i:pnqtu46lh", longopts);
	while ((c = cli_getopt(&opts, argc, argv)) != -1) {
		switch (c) {
		case 'f':
			if (!strcmp(optarg, "json"))
				w->json = true;
			else if (!strcmp(optarg, "text"))
				w->json = false;
			else
				return cli_usage_error("bad format '%s': use json or text", optarg);
			fmt_given = true;
			break;
		case 'i':
			if (cli_parse_seconds("--interval", optarg, &w->interval) < 0)
				return EXIT_USAGE;
			if (w->interval < 0.01)
				return cli_usage_error("bad --interval '%s': at least 0.01 s", optarg);
			break;
		case 'p': w->processes = true; break;
		case 'n':
			/* -n is a number of connections in connect and bench: one letter, one meaning. */
			return cli_usage_error("'-n' is not watch's: write --no-initial (-n is a number of "
					       "connections in connect and bench)");
		case OPT_NO_INITIAL: w->no_initial = true; break;
		case 'q': w->quiet = true; break;
		case 't': w->f.protos |= PSCOPE_DIAG_TCP; break;
		case 'u': w->f.protos |= PSCOPE_DIAG_UDP; break;
		case '4': w->f.families |= PSCOPE_DIAG_V4; break;
		case '6': w->f.families |= PSCOPE_DIAG_V6; break;
		case 'l': w->f.local_only = true; break;
		case 'h': *help = true; return EXIT_OK;
		case OPT_UNTIL:
			if (parse_until(w, optarg) < 0)
				return EXIT_USAGE;
			break;
		case OPT_TIMEOUT:
			if (cli_parse_seconds("--timeout", optarg, &w->timeout) < 0)
				return EXIT_USAGE;
			break;
		case OPT_NETNS:
			if (!*optarg)
				return cli_usage_error("--netns needs a namespace name, a path or 'all'");
			w->netns = optarg;
			break;
		case OPT_RCVBUF:
			if (cli_parse_count("--rcvbuf", optarg, 1024, 1UL << 30, &v) < 0)
				return EXIT_USAGE;
			w->rcvbuf = (int)v;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (argc - optind > 1)
		return cli_usage_error("too many arguments: one PORT or ADDR:PORT at most");
	if (optind < argc && parse_target(argv[optind], &w->f) < 0)
		return EXIT_USAGE;
	if (w->f.local_only && w->f.port < 0)
		return cli_usage_error("'%s' needs a PORT", cli_opt(&opts, 'l'));
	if (w->quiet && fmt_given)
		return cli_usage_error("'%s' prints no events: '%s' has nothing to format",
				       cli_opt(&opts, 'q'), cli_opt(&opts, 'f'));
	if (!fmt_given)
		w->json = !isatty(STDOUT_FILENO);
	return EXIT_OK;
}

static void describe_start(const struct watch *w, int rcvbuf)
{
	size_t alive = 0;
	char what[PSCOPE_ADDRSTRLEN + 16];

	for (size_t i = 0; i < w->cap; i++)
		alive += w->tab[i].s.cookie && !w->tab[i].gone;
	if (w->f.port < 0)
		snprintf(what, sizeof(what), "every port");
	else if (w->f.has_addr && pscope_addr_format(&w->f.addr, what, sizeof(what)) >= 0)
		; /* ADDR:PORT */
	else
		snprintf(what, sizeof(what), "port %d", w->f.port);
	if (w->nns > 1 || w->netns)
		cli_warn("watching %s in %zu network namespace%s: %zu socket%s now; a list every %g s%s",
			 what, w->nns, w->nns == 1 ? "" : "s", alive, alive == 1 ? "" : "s", w->interval,
			 w->ns[0]->mon >= 0 ? ", and the kernel's destroy notifications" : "");
	else if (w->ns[0]->mon >= 0)
		cli_warn("watching %s: %zu socket%s now; a list every %g s, and the kernel's destroy "
			 "notifications (queue %d bytes)", what, alive, alive == 1 ? "" : "s",
			 w->interval, rcvbuf);
	else
		cli_warn("watching %s: %zu socket%s now; a list every %g s", what, alive,
			 alive == 1 ? "" : "s", w->interval);
}

/*
 * Adds namespace NSFD (taken over; -1: our own) under LABEL: its notification
 * and lookup sockets are created inside it, and the loop watches the former.
 * Returns 0, or a negative error code.
 */
static int add_ns(struct watch *w, int nsfd, uint64_t inode, const char *label)
{
	struct wns *ns;
	int fd = -1, rc;

	if (w->nns == MAX_NS || !(ns = calloc(1, sizeof(*ns)))) {
		if (nsfd >= 0)
			close(nsfd);
		return -ENOMEM;
	}
	*ns = (struct wns){ .w = w, .fd = nsfd, .mon = -1, .lookup = -1, .inode = inode };
	snprintf(ns->label, sizeof(ns->label), "%s", label ? label : "");
	w->ns[w->nns++] = ns;
	if (nsfd >= 0) {
		int saved = pscope_netns_enter(nsfd);

		if (saved < 0)
			return saved;
		fd = pscope_diagmon_open(w->f.protos, w->f.families, w->f.port, w->rcvbuf, &w->rcvbuf_got);
		ns->lookup = fd >= 0 ? pscope_diag_lookup_open() : -1;
		if (pscope_netns_leave(saved) < 0)
			return -ENOTRECOVERABLE;
	} else {
		fd = pscope_diagmon_open(w->f.protos, w->f.families, w->f.port, w->rcvbuf, &w->rcvbuf_got);
		ns->lookup = fd >= 0 ? pscope_diag_lookup_open() : -1;
	}
	if (fd < 0) {
		if (w->nns == 1)
			cli_warn("no destroy notifications (%s%s): only the lists every %g s; a socket that "
				 "lives shorter than that may be missed", pscope_strerror(fd),
				 fd == -EPERM ? ": they need CAP_NET_ADMIN" : "", w->interval);
		return 0;
	}
	ns->mon = fd;
	if ((rc = pscope_loop_watch(w->loop, fd, PSCOPE_EV_READ, on_notify, ns)) < 0)
		return rc;
	return 0;
}

static int add_one(const struct pscope_netns *ns, void *ctx)
{
	struct watch *w = ctx;
	int fd;

	for (size_t n = 0; n < w->nns; n++)
		if (w->ns[n]->inode == ns->inode)
			return 0;
	fd = dup(ns->fd);
	if (fd < 0)
		return -errno;
	return add_ns(w, fd, ns->inode, ns->label);
}

/* Adds the namespaces not watched yet (--netns all). */
static int add_all(struct watch *w)
{
	int rc = pscope_netns_list(add_one, w);

	return rc < 0 ? rc : 0;
}

/* The namespaces to watch: our own, --netns NAME, or all.  Returns an exit status. */
static int open_namespaces(struct watch *w)
{
	struct stat sb;
	int fd, rc;

	if (!w->netns)
		rc = add_ns(w, -1, 0, NULL);
	else if (!strcmp(w->netns, "all"))
		rc = add_all(w);
	else if ((fd = pscope_netns_open(w->netns)) < 0) {
		cli_warn("--netns '%s': %s", w->netns,
			 fd == -EINVAL ? "not a network namespace" : strerror(-fd));
		return EXIT_FAIL;
	} else
		rc = add_ns(w, fd, fstat(fd, &sb) == 0 ? sb.st_ino : 0, w->netns);
	if (rc < 0) {
		cli_warn("--netns: %s", pscope_strerror(rc));
		return EXIT_FAIL;
	}
	if (w->nns == 0) {
		cli_warn("--netns all: no network namespace could be opened");
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static int run(struct watch *w)
{
	int rcvbuf = 0, rc;

	if ((rc = pscope_loop_new(&w->loop)) < 0) {
		cli_warn("event loop: %s", pscope_strerror(rc));
		return EXIT_FAIL;
	}
	pscope_loop_signal(w->loop, SIGINT, on_signal, w);
	pscope_loop_signal(w->loop, SIGTERM, on_signal, w);
	/* Subscribe before the first dump, so that nothing falls between them. */
	rc = open_namespaces(w);
	if (rc != EXIT_OK) {
		pscope_loop_free(w->loop);
		return rc;
	}
	rcvbuf = w->rcvbuf_got;
	dump_cycle(w, true);
	if (!w->done) {
		describe_start(w, rcvbuf);
		pscope_loop_timer(w->loop, (long long)(w->interval * 1000), on_timer, w);
		if (w->timeout > 0)
			pscope_loop_timer(w->loop, (long long)(w->timeout * 1000), on_timeout, w);
		pscope_loop_before_sleep(w->loop, before_sleep, w);
	}
	while (!w->done) {
		rc = pscope_loop_run(w->loop);
		if (rc < 0) {
			fail(w, "event loop", rc);
			break;
		}
	}
	pscope_loop_free(w->loop);
	return w->status;
}

int cmd_watch(int argc, char **argv)
{
	struct watch w = { .f = { .port = -1 }, .interval = 1 };
	bool help = false;
	int rc = parse_args(&w, argc, argv, &help);

	if (rc != EXIT_OK)
		return rc;
	if (help) {
		fputs(usage, stdout);
		return cli_finish(EXIT_OK);
	}
	cli_ignore_sigpipe();
	rc = run(&w);
	for (size_t i = 0; i < w.cap; i++)
		free(w.tab[i].owners);
	free(w.tab);
	free(w.dump);
	free(w.dump_ns);
	for (size_t n = 0; n < w.nns; n++) {
		if (w.ns[n]->fd >= 0)
			close(w.ns[n]->fd);
		if (w.ns[n]->mon >= 0)
			close(w.ns[n]->mon);
		if (w.ns[n]->lookup >= 0)
			close(w.ns[n]->lookup);
		free(w.ns[n]);
	}
	free(w.found);
	return cli_finish(rc);
}
