/* portscope ls: the kernel's view of every socket on a port, with owners and options. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "portscope/json.h"
#include "portscope/netns.h"

/* A replay file larger than this is not a dump we wrote. */
#define REPLAY_MAX (1024UL * 1024 * 1024)
#define NO_OWNER UINT32_MAX

/*
 * Roles, in enum pscope_role's order (pscope_diag_role()).  queued: handshake
 * done, in a listener's accept queue, accept() not called yet; handshake: a
 * SYN_RECV socket, the handshake not done; orphaned: closed by its owner, the
 * kernel ends the connection alone.
 */
enum role { R_LISTENER, R_ACCEPTED, R_QUEUED, R_HANDSHAKE, R_ORPHANED, R_BOUND, R_CONNECTED,
	    R_CLIENT, R_OTHER, R_COUNT };
static const char *const role_names[] = { "listener", "accepted", "queued", "handshake", "orphaned",
					  "bound", "connected", "client", "-" };
_Static_assert(R_OTHER == (int)PSCOPE_ROLE_NONE && R_QUEUED == (int)PSCOPE_ROLE_QUEUED &&
		       R_CLIENT == (int)PSCOPE_ROLE_CLIENT, "ls's roles follow enum pscope_role");

struct owner {
	pid_t pid;
	int fd;
	uint32_t next;		/* the next owner of the same socket, or NO_OWNER */
};

struct extra {
	uint32_t owner;		/* first owner, or NO_OWNER */
	uint16_t group;		/* SO_REUSEPORT group number, 0 if none */
	bool opts_known;
	struct pscope_sockopts opts;
};

/* The sockets from socks[start] to the next range's start came from this namespace. */
struct ns_range {
	size_t start;
	uint64_t inode;
	char label[48];
};

struct listing {
	struct pscope_diag_sock *socks;
	size_t n, cap;
	struct extra *extra;
	struct owner *owners;
	size_t nowners, owners_cap;
	struct pscope_owner_stats ost;
	unsigned unknown_owner;	/* sockets whose owner may be among the unreadable processes */
	unsigned reuseport_groups;
	int oom;
	size_t base;		/* where the namespace being read starts in socks */
	struct ns_range *ns;	/* with --netns: the namespaces, in the order read */
	size_t nns;
};

struct ls_opts {
	struct pscope_diag_filter f;
	enum { OUT_TABLE, OUT_JSON } fmt;
	bool processes, extended, options, proc, summary_only, no_header;
	const char *dump, *replay;
	const char *source;
	const char *netns;	/* --netns NAME or "all", or NULL */
};

static const char usage[] =
	"usage: portscope ls [OPTIONS] [PORT | ADDR:PORT | *:PORT]\n"
	"\n"
	"List every TCP and UDP socket on PORT as the kernel sees it: those whose local\n"
	"port is PORT (the listener and the connections it accepted) and those whose\n"
	"remote port is PORT (clients on this machine), then say in one sentence how\n"
	"many sockets share the port.  Without PORT, list every TCP and UDP socket.\n"
	"ADDR:PORT also requires that address (IPv4, [IPv6] or [IPv6%ZONE]) at the\n"
	"matching end; *:PORT is PORT on any address, as in ss.  Names are refused.\n"
	"A socket bound to a device shows it as ss does, 0.0.0.0%lo:PORT (%- where\n"
	"/proc cannot tell).\n"
	"\n"
	"Options:\n"
	"  -t, --tcp            TCP only            -u, --udp    UDP only\n"
	"  -4                   IPv4 only           -6           IPv6 only\n"
	"  -l, --local-only     only sockets whose local port is PORT (the server side)\n"
	"      --state LIST     only these states, comma-separated, as ss(8) names them:\n"
	"                       established, syn-sent, syn-recv, fin-wait-1, fin-wait-2,\n"
	"                       time-wait, closed, close-wait, last-ack, listening, closing;\n"
	"                       all, connected (all but listening and closed), synchronized\n"
	"                       (connected but syn-sent), bucket (syn-recv, time-wait),\n"
	"                       big (all but bucket); also syn-rcv, unconnected, listen,\n"
	"                       close, unconn\n"
	"  -p, --processes      the processes that hold each socket (pid, command, fd)\n"
	"  -e, --extended       uid, inode and the kernel's socket cookie\n"
	"  -o, --options        SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY, IP_BIND_ADDRESS_NO_PORT\n"
	"                       (reuseaddr, reuseport, v6only, bind_address_no_port), read\n"
	"                       from the owner (root, or the same user); listeners the kernel\n"
	"                       put in one SO_REUSEPORT group (same family, v6only, device,\n"
	"                       port, uid and address, SO_REUSEPORT on all) share a number\n"
	"  -f, --format FMT     table (default) or json\n"
	"  -s, --summary        only the summary sentence (or JSON summary)\n"
	"  -H, --no-header      no column header\n"
	"      --proc           read /proc/net instead of netlink sock_diag\n"
	"      --dump FILE      also save the raw netlink requests and replies to FILE\n"
	"      --replay FILE    read a saved dump instead of asking the kernel\n"
	"      --netns NAME     the sockets of network namespace NAME (/run/netns/NAME, as\n"
	"                       ip netns names it, or a path such as /proc/PID/ns/net);\n"
	"                       'all': every namespace on the host (named ones, then those\n"
	"                       of the processes, each once); each socket is labelled with\n"
	"                       its namespace: its name, else net:[INODE]\n"
	"  -h, --help           show this help\n"
	"\n"
	"Roles of a socket whose local port is PORT: listener; accepted (it has a socket\n"
	"file: accept() took it); queued (no file, ESTABLISHED or CLOSE_WAIT: waiting in\n"
	"the accept queue); handshake (no file, SYN_RECV); orphaned (no file: closed by\n"
	"its owner); bound or connected (UDP).  Remote port PORT: client.  '-' (JSON\n"
	"null) is a value the source does not give, e.g. a listener's backlog in\n"
	"/proc/net.  --proc refuses a filter on an interface ([fe80::1%lo]:PORT).\n"
	"\n"
	"Exit status: 0 (even if no socket matched), 1 if the kernel could not be read\n"
	"or a dump is malformed, 2 for a bad command line.\n";

static bool is_listener(const struct pscope_diag_sock *s)
{
	return s->proto == IPPROTO_TCP && s->state == TCP_LISTEN;
}

/* The role, by the library's rule (pscope_diag_role(): the kernel's facts behind it). */
static enum role role_of(const struct pscope_diag_sock *s)
{
	return (enum role)pscope_diag_role(s);
}

/* The namespace socket I came from (with --netns). */
static const struct ns_range *ns_of(const struct listing *l, size_t i)
{
	size_t lo = 0, hi = l->nns;

	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (l->ns[mid].start <= i)
			lo = mid;
		else
			hi = mid;
	}
	return &l->ns[lo];
}

static int collect(const struct pscope_diag_sock *s, void *ctx)
{
	struct listing *l = ctx;

	if (!s) {
		l->n = l->base; /* the kernel restarted its dump: start this namespace again */
		return 0;
	}
	if (CLI_RESERVE(l->socks, l->cap, l->n, 1024, false) < 0) {
		l->oom = 1;
		return -1;
	}
	l->socks[l->n++] = *s;
	return 0;
}

/*
 * One walk of the kernel's TCP tables gives both families mixed (build_request()
 * in diag.c): the TCP rows from FROM on (they come before the UDP ones) are put
 * back in the order of one dump per family, IPv4 then IPv6, each in the kernel's
 * order.  Without memory for that, they stay as the kernel gave them.
 */
static void tcp_families_in_order(struct listing *l, size_t from)
{
	struct pscope_diag_sock *six;
	size_t n6 = 0, j = 0, w = from, i;

	for (i = from; i < l->n && l->socks[i].proto == IPPROTO_TCP; i++)
		n6 += l->socks[i].family == AF_INET6;
	if (n6 == 0 || !(six = malloc(n6 * sizeof(*six))))
		return;
	for (i = from; i < l->n && l->socks[i].proto == IPPROTO_TCP; i++) {
		if (l->socks[i].family == AF_INET6)
			six[j++] = l->socks[i];
		else
			l->socks[w++] = l->socks[i];
	}
	memcpy(l->socks + w, six, n6 * sizeof(*six));
	free(six);
}

static int add_owner(size_t idx, pid_t pid, int fd, void *ctx)
{
	struct listing *l = ctx;

	/* Descriptors this process inherited (from a shell holding a socket) are not owners. */
	if (pid == getpid())
		return 0;
	if (CLI_RESERVE(l->owners, l->owners_cap, l->nowners, 1024, false) < 0)
		return -1;
	l->owners[l->nowners] = (struct owner){ pid, fd, l->extra[idx].owner };
	l->extra[idx].owner = (uint32_t)l->nowners++;
	return 0;
}

static int find_owners(struct listing *l)
{
	uint64_t *inodes = malloc((l->n ? l->n : 1) * sizeof(*inodes));
	uint32_t *hash = malloc(pscope_owner_hash_size(l->n) * sizeof(*hash));
	int rc = -ENOMEM;

	if (inodes && hash) {
		for (size_t i = 0; i < l->n; i++)
			inodes[i] = l->socks[i].inode;
		rc = pscope_owners_scan(NULL, inodes, l->n, hash, add_owner, l, &l->ost);
	}
	free(inodes);
	free(hash);
	if (rc < 0)
		return rc;
	if (l->ost.unreadable)
		for (size_t i = 0; i < l->n; i++)
			l->unknown_owner += l->socks[i].inode && l->extra[i].owner == NO_OWNER;
	return 0;
}

/* The options of socket I, or NULL if they could not be read. */
static const struct pscope_sockopts *opts_of(const struct listing *l, size_t i)
{
	return l->extra && l->extra[i].opts_known ? &l->extra[i].opts : NULL;
}

/* True if the kernel put listeners I and J in one SO_REUSEPORT group (its rule: reuseport.h). */
static bool shares_port(const struct listing *l, size_t i, size_t j)
{
	return pscope_reuseport_same_group(&l->socks[i], opts_of(l, i), &l->socks[j], opts_of(l, j));
}

/*
 * Reads each owned socket's options, then numbers the SO_REUSEPORT groups of two or
 * more listeners, as the kernel forms them (pscope_reuseport_same_group()).
 */
static void read_options(struct listing *l)
{
	int pidfd = -1;
	pid_t cached = -1;

	for (size_t i = 0; i < l->n; i++) {
		struct extra *x = &l->extra[i];

		if (x->owner == NO_OWNER)
			continue;
		x->opts_known = pscope_sockopts_get(l->owners[x->owner].pid, l->owners[x->owner].fd,
						    &pidfd, &cached, &x->opts) == 0;
	}
	if (pidfd >= 0)
		close(pidfd);
	for (size_t i = 0; i < l->n; i++) {
		struct extra *x = &l->extra[i];
		unsigned members = 0;

		if (x->group || !shares_port(l, i, i))
			continue;
		for (size_t j = i + 1; j < l->n; j++)
			members += shares_port(l, i, j);
		if (!members)
			continue;
		x->group = (uint16_t)++l->reuseport_groups;
		for (size_t j = i + 1; j < l->n; j++)
			if (shares_port(l, i, j))
				l->extra[j].group = x->group;
	}
}

/*
 * The name of interface IFINDEX into BUF (IF_NAMESIZE bytes), or its number if it has
 * none here.  The last answer is kept: the sockets bound to a device are usually few
 * and bound to the same one.
 */
static const char *dev_name(unsigned ifindex, char *buf)
{
	static unsigned last;
	static char last_name[IF_NAMESIZE];

	if (ifindex != last || !last_name[0]) {
		if (!if_indextoname(ifindex, last_name))
			snprintf(last_name, sizeof(last_name), "%u", ifindex);
		last = ifindex;
	}
	memcpy(buf, last_name, IF_NAMESIZE);
	return buf;
}

/* Socket I's bound device (sk_bound_dev_if): 0 for none, -ENODATA if the listing does not say. */
static long dev_of(const struct listing *l, size_t i)
{
	return pscope_bound_dev_if(&l->socks[i], opts_of(l, i));
}

/*
 * Socket S's local (LOCAL) or peer end as text.  The local end carries the bound
 * device DEV as ss writes it, "0.0.0.0%lo:80", "[::]%eth0:80", and "%-" where the
 * listing cannot know it (/proc); a link-local address already names it as its scope.
 */
static void format_end(const struct pscope_diag_sock *s, bool local, long dev, char *buf,
		       size_t size)
{
	struct pscope_addr a;
	const uint8_t *ip = local ? s->laddr : s->raddr;
	static const uint8_t zero[16];
	char name[IF_NAMESIZE], *colon;
	const char *dev_text;
	size_t n, len;

	if (local)
		pscope_diag_local(s, &a);
	else
		pscope_diag_peer(s, &a);
	if (!local && s->rport == 0 && !memcmp(ip, zero, 16)) {
		snprintf(buf, size, s->family == AF_INET6 ? "[::]:*" : "0.0.0.0:*");
		return;
	}
	if (pscope_addr_format(&a, buf, size) < 0) {
		snprintf(buf, size, "?");
		return;
	}
	if (!local || dev == 0 || (a.u.sa.sa_family == AF_INET6 && a.u.sin6.sin6_scope_id == dev))
		return;
	colon = strrchr(buf, ':');
	n = strlen(buf);
	if (!colon)
		return;
	dev_text = dev < 0 ? "-" : dev_name((unsigned)dev, name);
	len = strlen(dev_text);
	if (n + 1 + len >= size)
		return;
	memmove(colon + 1 + len, colon, strlen(colon) + 1);
	colon[0] = '%';
	memcpy(colon + 1, dev_text, len);
}

/*
 * Each process's command, read once: rows of many owners interleave, and
 * reading /proc/PID/comm per row would cost an open() per socket.  A process
 * beyond the cache's size is read each time, which is right, only slower.
 */
#define COMM_CACHE 4096
static struct {
	pid_t pid;
	char comm[20];
} comm_cache[COMM_CACHE];

static const char *comm_of(pid_t pid)
{
	static char buf[64];
	unsigned h = (unsigned)pid * 2654435761u % COMM_CACHE;

	for (unsigned k = 0; k < 8; k++, h = (h + 1) % COMM_CACHE) {
		if (comm_cache[h].pid == pid)
			return comm_cache[h].comm;
		if (comm_cache[h].pid == 0) {
			comm_cache[h].pid = pid;
			if (pscope_proc_comm(pid, comm_cache[h].comm, sizeof(comm_cache[h].comm)) < 0)
				snprintf(comm_cache[h].comm, sizeof(comm_cache[h].comm), "?");
			return comm_cache[h].comm;
		}
	}
	if (pscope_proc_comm(pid, buf, sizeof(buf)) < 0)
		snprintf(buf, sizeof(buf), "?");
	return buf;
}

static void print_processes(const struct listing *l, size_t i)
{
	const struct extra *x = &l->extra[i];

	if (x->owner == NO_OWNER) {
		fputs(l->socks[i].inode && l->ost.unreadable ? " ?" : " -", stdout);
		return;
	}
	for (uint32_t o = x->owner; o != NO_OWNER; o = l->owners[o].next)
		printf(" %d/%s/fd=%d", (int)l->owners[o].pid, comm_of(l->owners[o].pid),
		       l->owners[o].fd);
}

static void print_options(const struct extra *x)
{
	if (!x->opts_known) {
		fputs(" ?", stdout);
		return;
	}
	printf(" reuseaddr=%d reuseport=%d", x->opts.reuseaddr, x->opts.reuseport);
	if (x->opts.v6only >= 0)
		printf(" v6only=%d", x->opts.v6only);
	if (x->opts.bind_address_no_port >= 0)
		printf(" bind_address_no_port=%d", x->opts.bind_address_no_port);
	if (x->group)
		printf(" reuseport_group=%u", x->group);
}

/* A line under construction: rows are built by hand, as printf dominates at a million rows. */
struct linebuf {
	char buf[1024];
	size_t len;
};

static void lb_pad(struct linebuf *b, const char *s, size_t width)
{
	size_t n = strlen(s);

	if (n > sizeof(b->buf) - b->len - 64)
		n = sizeof(b->buf) - b->len - 64;
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	while (n++ < width)
		b->buf[b->len++] = ' ';
	b->buf[b->len++] = ' ';
}

static void lb_num(struct linebuf *b, uint32_t v, size_t width)
{
	char tmp[12];
	size_t n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	for (size_t k = n; k < width; k++)
		b->buf[b->len++] = ' ';
	while (n > 0)
		b->buf[b->len++] = tmp[--n];
	b->buf[b->len++] = ' ';
}

/* A queue length, or "-" where the source gave none (ABSENT has FLAG). */
static void lb_queue(struct linebuf *b, uint32_t v, bool absent, size_t width)
{
	if (!absent) {
		lb_num(b, v, width);
		return;
	}
	for (size_t k = 1; k < width; k++)
		b->buf[b->len++] = ' ';
	b->buf[b->len++] = '-';
	b->buf[b->len++] = ' ';
}

/* -e: uid, inode and cookie, each "-" where the source did not give it. */
static void print_extended(const struct pscope_diag_sock *s)
{
	if (s->absent & PSCOPE_DIAG_NO_UID)
		fputs(" uid=-", stdout);
	else
		printf(" uid=%u", s->uid);
	if (s->absent & PSCOPE_DIAG_NO_INODE)
		fputs(" inode=-", stdout);
	else
		printf(" inode=%llu", (unsigned long long)s->inode);
	if (s->absent & PSCOPE_DIAG_NO_COOKIE)
		fputs(" cookie=-", stdout);
	else
		printf(" cookie=%llu", (unsigned long long)s->cookie);
}

static void print_row(const struct ls_opts *o, const struct listing *l, size_t i)
{
	const struct pscope_diag_sock *s = &l->socks[i];
	char local[PSCOPE_ADDRSTRLEN], peer[PSCOPE_ADDRSTRLEN];
	struct linebuf b = { .len = 0 };

	format_end(s, true, dev_of(l, i), local, sizeof(local));
	format_end(s, false, 0, peer, sizeof(peer));
	if (o->netns)
		lb_pad(&b, ns_of(l, i)->label, 17);
	lb_pad(&b, s->proto == IPPROTO_UDP ? "udp" : "tcp", 5);
	lb_pad(&b, pscope_diag_state_name(s), 11);
	lb_queue(&b, s->rqueue, s->absent & PSCOPE_DIAG_NO_RQUEUE, 6);
	lb_queue(&b, s->wqueue, s->absent & PSCOPE_DIAG_NO_WQUEUE, 6);
	lb_pad(&b, local, 25);
	lb_pad(&b, peer, o->f.port >= 0 || o->extended || o->processes || o->options ? 25 : 0);
	if (o->f.port >= 0)
		lb_pad(&b, role_names[role_of(s)], 9);
	while (b.len > 0 && b.buf[b.len - 1] == ' ')
		b.len--;
	fwrite(b.buf, 1, b.len, stdout);
	if (o->extended)
		print_extended(s);
	if (o->processes)
		print_processes(l, i);
	if (o->options)
		print_options(&l->extra[i]);
	putchar('\n');
}

/* Rows come in three passes, without sorting: listeners, other local sockets, clients. */
static int print_pass(const struct pscope_diag_sock *s)
{
	enum role r = role_of(s);

	return r == R_LISTENER ? 0 : r == R_CLIENT ? 2 : 1;
}

/* Rows in a readable order without sorting: listeners, other local sockets, then clients. */
static void print_table(const struct ls_opts *o, const struct listing *l)
{
	if (!o->no_header) {
		if (o->netns)
			printf("%-17s ", "Netns");
		printf("%-5s %-11s %6s %6s %-25s %-25s", "Proto", "State", "Recv-Q", "Send-Q", "Local",
		       "Peer");
		if (o->f.port >= 0)
			printf(" %-9s", "Role");
		if (o->extended)
			fputs(" Extended", stdout);
		if (o->processes)
			fputs(" Processes (pid/command/fd)", stdout);
		if (o->options)
			fputs(" Options", stdout);
		putchar('\n');
	}
	for (int pass = 0; pass < 3; pass++)
		for (size_t i = 0; i < l->n; i++) {
			if (print_pass(&l->socks[i]) == pass)
				print_row(o, l, i);
		}
}

struct summary {
	unsigned role[R_COUNT];
	unsigned tcp, udp, time_wait;
	pid_t pids[6];
	unsigned npids;
	bool more_pids;
};

static void summarize(const struct listing *l, struct summary *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (size_t i = 0; i < l->n; i++) {
		const struct pscope_diag_sock *s = &l->socks[i];

		sum->role[role_of(s)]++;
		*(s->proto == IPPROTO_UDP ? &sum->udp : &sum->tcp) += 1;
		sum->time_wait += s->proto == IPPROTO_TCP && s->state == 6;
		for (uint32_t o = l->extra ? l->extra[i].owner : NO_OWNER; o != NO_OWNER;
		     o = l->owners[o].next) {
			unsigned k;

			for (k = 0; k < sum->npids && sum->pids[k] != l->owners[o].pid; k++)
				;
			if (k < sum->npids)
				continue;
			if (sum->npids < 6)
				sum->pids[sum->npids++] = l->owners[o].pid;
			else
				sum->more_pids = true;
		}
	}
}

/* At most this many listeners' accept queues in the sentence; JSON has them all. */
#define QUEUES_SHOWN 4

/*
 * Each listener's accept queue as the kernel counts it: a listener's Recv-Q
 * is sk_ack_backlog, the connections in its accept queue, and its Send-Q
 * sk_max_ack_backlog, the backlog (tcp_diag_get_info(); /proc/net gives the
 * first, not the second).
 */
static void print_accept_queues(const struct listing *l)
{
	unsigned shown = 0;
	char local[PSCOPE_ADDRSTRLEN];

	for (size_t i = 0; i < l->n; i++) {
		const struct pscope_diag_sock *s = &l->socks[i];

		if (!is_listener(s) || s->side != PSCOPE_SIDE_LOCAL || (s->absent & PSCOPE_DIAG_NO_RQUEUE) ||
		    !s->rqueue)
			continue;
		if (shown++ == QUEUES_SHOWN) {
			fputs(", ...", stdout);
			break;
		}
		format_end(s, true, dev_of(l, i), local, sizeof(local));
		printf("%s %u waiting in the accept queue of %s", shown == 1 ? ";" : ",", s->rqueue, local);
		if (!(s->absent & PSCOPE_DIAG_NO_WQUEUE))
			printf(" (backlog %u)", s->wqueue);
	}
}

static void print_sentence(const struct ls_opts *o, const struct listing *l, const struct summary *sum)
{
	int port = o->f.port;
	const char *sep = "";

	if (port < 0) {
		printf("%zu socket%s: %u tcp, %u udp", l->n, l->n == 1 ? "" : "s", sum->tcp, sum->udp);
	} else {
		printf("port %d: %zu socket%s", port, l->n, l->n == 1 ? "" : "s");
		if (l->n)
			fputs(" -", stdout);
		if (sum->role[R_LISTENER])
			printf("%s %u listening", sep, sum->role[R_LISTENER]), sep = ",";
		if (sum->role[R_ACCEPTED])
			printf("%s %u accepted (local port %d)", sep, sum->role[R_ACCEPTED], port), sep = ",";
		if (sum->role[R_QUEUED])
			printf("%s %u queued (in an accept queue, not accepted yet)", sep, sum->role[R_QUEUED]),
				sep = ",";
		if (sum->role[R_HANDSHAKE])
			printf("%s %u in the handshake (SYN_RECV)", sep, sum->role[R_HANDSHAKE]), sep = ",";
		if (sum->role[R_ORPHANED])
			printf("%s %u orphaned (closed by the owner)", sep, sum->role[R_ORPHANED]), sep = ",";
		if (sum->role[R_BOUND])
			printf("%s %u bound udp", sep, sum->role[R_BOUND]), sep = ",";
		if (sum->role[R_CONNECTED])
			printf("%s %u connected udp (local port %d)", sep, sum->role[R_CONNECTED], port), sep = ",";
		if (sum->role[R_CLIENT])
			printf("%s %u client%s (remote port %d)", sep, sum->role[R_CLIENT],
			       sum->role[R_CLIENT] == 1 ? "" : "s", port);
	}
	if (port >= 0)
		print_accept_queues(l);
	if (sum->time_wait)
		printf("; %u in TIME_WAIT", sum->time_wait);
	if (sum->npids) {
		fputs("; owners:", stdout);
		for (unsigned k = 0; k < sum->npids; k++)
			printf("%s pid %d %s", k ? "," : "", (int)sum->pids[k], comm_of(sum->pids[k]));
		if (sum->more_pids)
			fputs(", ...", stdout);
	}
	if (l->reuseport_groups)
		printf("; %u SO_REUSEPORT group%s", l->reuseport_groups, l->reuseport_groups == 1 ? "" : "s");
	putchar('\n');
	if (port >= 0 && l->n > 1 &&
	    sum->role[R_ACCEPTED] + sum->role[R_QUEUED] + sum->role[R_HANDSHAKE] +
	    sum->role[R_ORPHANED] + sum->role[R_CONNECTED] > 0)
		printf("They share port %d because the kernel tells sockets apart by the whole 4-tuple "
		       "<client ip, client port, server ip, server port>%s.\n", port,
		       sum->role[R_LISTENER] ? "; a listener has no peer" : "");
	if (l->reuseport_groups)
		printf("Listeners in a SO_REUSEPORT group share one address, port, device, "
		       "IPV6_V6ONLY and owner uid; the kernel spreads new connections among them.\n");
	else if (port >= 0 && sum->role[R_LISTENER] > 1 && !o->options && l->nns <= 1)
		printf("%u listeners on one port: -o shows whether SO_REUSEPORT lets them share it.\n",
		       sum->role[R_LISTENER]);
}

/* A number the source gave, or null where it gave none. */
static void json_known(struct pscope_json *j, const char *key, uint64_t v, bool absent)
{
	if (absent)
		pscope_json_null(j, key);
	else
		pscope_json_uint(j, key, v);
}

/* The bound device DEV as "ifindex" (0: none; null: unknown) and "dev" (its name, or null). */
static void json_dev(struct pscope_json *j, long dev)
{
	char name[IF_NAMESIZE];

	if (dev < 0)
		pscope_json_null(j, "ifindex");
	else
		pscope_json_uint(j, "ifindex", (uint64_t)dev);
	pscope_json_string(j, "dev", dev > 0 ? dev_name((unsigned)dev, name) : NULL);
}

static void json_socket(struct pscope_json *j, const struct ls_opts *o, const struct listing *l,
			size_t i)
{
	const struct pscope_diag_sock *s = &l->socks[i];
	const struct extra *x = &l->extra[i];
	char local[PSCOPE_ADDRSTRLEN], peer[PSCOPE_ADDRSTRLEN];

	/* The device is a member of its own, "local" stays an address that ls -s takes back. */
	format_end(s, true, 0, local, sizeof(local));
	format_end(s, false, 0, peer, sizeof(peer));
	pscope_json_object_begin(j, NULL);
	if (o->netns) {
		pscope_json_string(j, "netns", ns_of(l, i)->label);
		pscope_json_uint(j, "netns_inode", ns_of(l, i)->inode);
	}
	pscope_json_string(j, "proto", s->proto == IPPROTO_UDP ? "udp" : "tcp");
	pscope_json_string(j, "state", pscope_diag_state_name(s));
	json_known(j, "recv_q", s->rqueue, s->absent & PSCOPE_DIAG_NO_RQUEUE);
	json_known(j, "send_q", s->wqueue, s->absent & PSCOPE_DIAG_NO_WQUEUE);
	pscope_json_string(j, "local", local);
	json_dev(j, dev_of(l, i));
	pscope_json_string(j, "peer", strchr(peer, '*') ? NULL : peer);
	if (o->f.port >= 0) {
		pscope_json_string(j, "side", s->side == PSCOPE_SIDE_REMOTE ? "remote" : "local");
		pscope_json_string(j, "role", role_names[role_of(s)]);
	}
	json_known(j, "inode", s->inode, s->absent & PSCOPE_DIAG_NO_INODE);
	json_known(j, "uid", s->uid, s->absent & PSCOPE_DIAG_NO_UID);
	json_known(j, "cookie", s->cookie, s->absent & PSCOPE_DIAG_NO_COOKIE);
	if (o->processes) {
		if (x->owner == NO_OWNER && s->inode && l->ost.unreadable) {
			pscope_json_null(j, "processes");
		} else {
			pscope_json_array_begin(j, "processes");
			for (uint32_t k = x->owner; k != NO_OWNER; k = l->owners[k].next) {
				pscope_json_object_begin(j, NULL);
				pscope_json_int(j, "pid", l->owners[k].pid);
				pscope_json_string(j, "comm", comm_of(l->owners[k].pid));
				pscope_json_int(j, "fd", l->owners[k].fd);
				pscope_json_object_end(j);
			}
			pscope_json_array_end(j);
		}
	}
	if (o->options) {
		if (!x->opts_known) {
			pscope_json_null(j, "options");
		} else {
			pscope_json_object_begin(j, "options");
			pscope_json_bool(j, "reuseaddr", x->opts.reuseaddr);
			pscope_json_bool(j, "reuseport", x->opts.reuseport);
			if (x->opts.v6only >= 0)
				pscope_json_bool(j, "v6only", x->opts.v6only);
			if (x->opts.bind_address_no_port >= 0)
				pscope_json_bool(j, "bind_address_no_port",
						 x->opts.bind_address_no_port);
			if (x->group)
				pscope_json_uint(j, "reuseport_group", x->group);
			pscope_json_object_end(j);
		}
	}
	pscope_json_object_end(j);
}

/* Every listener on the port: "local", "waiting" (its Recv-Q) and "backlog" (its Send-Q), or null. */
static void json_accept_queues(struct pscope_json *j, const struct listing *l)
{
	char local[PSCOPE_ADDRSTRLEN];

	pscope_json_array_begin(j, "accept_queues");
	for (size_t i = 0; i < l->n; i++) {
		const struct pscope_diag_sock *s = &l->socks[i];

		if (!is_listener(s) || s->side != PSCOPE_SIDE_LOCAL)
			continue;
		format_end(s, true, 0, local, sizeof(local));
		pscope_json_object_begin(j, NULL);
		pscope_json_string(j, "local", local);
		json_dev(j, dev_of(l, i));
		json_known(j, "waiting", s->rqueue, s->absent & PSCOPE_DIAG_NO_RQUEUE);
		json_known(j, "backlog", s->wqueue, s->absent & PSCOPE_DIAG_NO_WQUEUE);
		pscope_json_object_end(j);
	}
	pscope_json_array_end(j);
}

static void print_json(const struct ls_opts *o, const struct listing *l, const struct summary *sum)
{
	struct pscope_json j;

	pscope_json_init_file(&j, stdout);
	pscope_json_object_begin(&j, NULL);
	pscope_json_array_begin(&j, "sockets");
	for (int pass = 0; pass < 3 && !o->summary_only; pass++)
		for (size_t i = 0; i < l->n; i++)
			if (print_pass(&l->socks[i]) == pass)
				json_socket(&j, o, l, i);
	pscope_json_array_end(&j);
	pscope_json_object_begin(&j, "summary");
	if (o->f.port >= 0)
		pscope_json_int(&j, "port", o->f.port);
	pscope_json_uint(&j, "sockets", l->n);
	pscope_json_uint(&j, "tcp", sum->tcp);
	pscope_json_uint(&j, "udp", sum->udp);
	pscope_json_uint(&j, "time_wait", sum->time_wait);
	if (o->f.port >= 0) {
		pscope_json_uint(&j, "listening", sum->role[R_LISTENER]);
		pscope_json_uint(&j, "accepted", sum->role[R_ACCEPTED]);
		pscope_json_uint(&j, "bound", sum->role[R_BOUND]);
		pscope_json_uint(&j, "connected", sum->role[R_CONNECTED]);
		pscope_json_uint(&j, "clients", sum->role[R_CLIENT]);
		pscope_json_uint(&j, "queued", sum->role[R_QUEUED]);
		pscope_json_uint(&j, "handshake", sum->role[R_HANDSHAKE]);
		pscope_json_uint(&j, "orphaned", sum->role[R_ORPHANED]);
		json_accept_queues(&j, l);
	}
	if (o->processes || o->options) {
		pscope_json_array_begin(&j, "owners");
		for (unsigned k = 0; k < sum->npids; k++) {
			pscope_json_object_begin(&j, NULL);
			pscope_json_int(&j, "pid", sum->pids[k]);
			pscope_json_string(&j, "comm", comm_of(sum->pids[k]));
			pscope_json_object_end(&j);
		}
		pscope_json_array_end(&j);
		pscope_json_uint(&j, "unreadable_processes", l->ost.unreadable);
	}
	if (o->options)
		pscope_json_uint(&j, "reuseport_groups", l->reuseport_groups);
	pscope_json_string(&j, "source", o->source);
	pscope_json_object_end(&j);
	pscope_json_object_end(&j);
	putchar('\n');
}

static int read_replay(const char *path, char **buf, size_t *len)
{
	struct stat stbuf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &stbuf) < 0 || (size_t)stbuf.st_size > REPLAY_MAX) {
		close(fd);
		return -EFBIG;
	}
	*buf = malloc((size_t)stbuf.st_size + 1);
	if (!*buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)stbuf.st_size) {
		ssize_t n = read(fd, *buf + got, (size_t)stbuf.st_size - got);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return 0;
}

/* One half of a listing split by side (see netlink_split()). */
struct half {
	struct pscope_diag_filter f;
	struct listing l;
	struct pscope_diag_stats st;
	int nsfd;
	int rc;
};

static void *run_half(void *arg)
{
	struct half *h = arg;

	h->rc = pscope_diag_netlink_in(h->nsfd, &h->f, collect, &h->l, -1, &h->st);
	return NULL;
}

/* True if this process may run on two CPUs or more. */
static bool several_cpus(void)
{
	cpu_set_t set;

	return sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 1;
}

/*
 * The kernel's dump of a port fills one message per socket, in the thread that
 * reads it, and most of the time of a large listing is that work.  Two dumps, the
 * local side (local port PORT) and the remote side (remote port PORT, local port
 * not), each on a netlink socket of its own in a thread of its own, share it
 * between two CPUs; each walks the whole table but fills only its half.  The
 * result is the local side's sockets then the remote side's, each in the kernel's
 * order: the order the rows, the summary and the JSON take them in (listeners,
 * other local sockets, clients).  Only where nothing depends on the interleaving
 * of the two sides (the owners' order does): see query().  Returns as
 * pscope_diag_netlink().
 */
static int netlink_split(const struct ls_opts *o, int nsfd, struct listing *l,
			 struct pscope_diag_stats *st)
{
	struct half remote = { .f = o->f, .nsfd = nsfd };
	pthread_t t;
	int rc;

	remote.f.remote_only = true;
	if (pthread_create(&t, NULL, run_half, &remote) != 0) {
		rc = pscope_diag_netlink_in(nsfd, &o->f, collect, l, -1, st);
		if (rc >= 0)
			tcp_families_in_order(l, l->base);
		return rc;
	}
	{
		struct pscope_diag_filter local = o->f;

		local.local_only = true;
		rc = pscope_diag_netlink_in(nsfd, &local, collect, l, -1, st);
	}
	pthread_join(t, NULL);
	/* Each half as one dump per family gives it (the rows' order stays the same). */
	tcp_families_in_order(l, l->base);
	tcp_families_in_order(&remote.l, 0);
	l->oom |= remote.l.oom;
	if (rc >= 0 && remote.rc < 0)
		rc = remote.rc;
	if (rc >= 0 && remote.l.n) {
		if (l->cap - l->n < remote.l.n) {
			void *p = realloc(l->socks, (l->n + remote.l.n) * sizeof(*l->socks));

			if (!p) {
				l->oom = 1;
				rc = -ENOMEM;
			} else {
				l->socks = p;
				l->cap = l->n + remote.l.n;
			}
		}
		if (rc >= 0) {
			memcpy(l->socks + l->n, remote.l.socks, remote.l.n * sizeof(*l->socks));
			l->n += remote.l.n;
			rc += remote.rc;
		}
	}
	free(remote.l.socks);
	st->messages += remote.st.messages;
	st->restarts += remote.st.restarts;
	st->inconsistent |= remote.st.inconsistent;
	return rc;
}

/* True for errors that mean "this kernel has no sock_diag for us": fall back to /proc. */
static bool netlink_unavailable(int rc)
{
	return rc == -EPROTONOSUPPORT || rc == -EAFNOSUPPORT || rc == -ENOENT || rc == -EPERM ||
	       rc == -EACCES || rc == -EOPNOTSUPP;
}

static int query_in(struct ls_opts *o, struct listing *l, struct pscope_diag_stats *st, int nsfd);
static int query_netns(struct ls_opts *o, struct listing *l, struct pscope_diag_stats *st);

static int query(struct ls_opts *o, struct listing *l, struct pscope_diag_stats *st)
{
	int rc;

	if (o->replay) {
		char *buf = NULL;
		size_t len = 0;

		o->source = "replay";
		rc = read_replay(o->replay, &buf, &len);
		if (rc < 0) {
			cli_warn("%s: %s", o->replay, strerror(-rc));
			return -1;
		}
		rc = pscope_diag_replay(buf, len, &o->f, collect, l, st);
		free(buf);
		if (rc < 0) {
			cli_warn("%s: %s", o->replay, l->oom ? strerror(ENOMEM) : pscope_strerror(rc));
			return -1;
		}
		tcp_families_in_order(l, 0);
		return 0;
	}
	if (o->netns)
		return query_netns(o, l, st);
	return query_in(o, l, st, -1);
}

/* Lists the sockets of namespace NSFD (-1: ours) after those listed so far. */
static int query_in(struct ls_opts *o, struct listing *l, struct pscope_diag_stats *st, int nsfd)
{
	int rc, dump_fd = -1, saved;

	if (!o->proc) {
		if (o->dump) {
			dump_fd = open(o->dump, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (dump_fd < 0) {
				cli_warn("%s: %s", o->dump, strerror(errno));
				return -1;
			}
		}
		o->source = "netlink";
		if (dump_fd < 0 && o->f.port >= 0 && !o->f.local_only && !o->processes &&
		    !o->options && several_cpus()) {
			rc = netlink_split(o, nsfd, l, st);
		} else {
			rc = pscope_diag_netlink_in(nsfd, &o->f, collect, l, dump_fd, st);
			if (rc >= 0)
				tcp_families_in_order(l, l->base);
		}
		if (dump_fd >= 0 && close(dump_fd) < 0 && rc >= 0) {
			cli_warn("%s: %s", o->dump, strerror(errno));
			return -1;
		}
		if (rc >= 0)
			return 0;
		if (!netlink_unavailable(rc) || o->dump) {
			cli_warn("netlink sock_diag: %s", l->oom ? strerror(ENOMEM) : pscope_strerror(rc));
			return -1;
		}
		cli_warn("netlink sock_diag unavailable (%s): reading /proc/net instead",
			 pscope_strerror(rc));
		l->n = l->base;
	}
	o->source = "proc";
	/* /proc/net shows the namespace of the task that opens it. */
	saved = nsfd >= 0 ? pscope_netns_enter(nsfd) : -1;
	if (nsfd >= 0 && saved < 0) {
		cli_warn("--netns: %s", strerror(-saved));
		return -1;
	}
	rc = pscope_diag_proc(NULL, &o->f, collect, l, st);
	if (saved >= 0 && pscope_netns_leave(saved) < 0) {
		cli_warn("--netns: cannot return to our own namespace: %s", strerror(errno));
		return -1;
	}
	if (rc < 0) {
		cli_warn("/proc/net: %s", l->oom ? strerror(ENOMEM) : pscope_strerror(rc));
		return -1;
	}
	return 0;
}

struct ns_walk {
	struct ls_opts *o;
	struct listing *l;
	struct pscope_diag_stats *st;
	bool inconsistent;
};

/* Reads one namespace into the listing, as a range labelled with its name. */
static int read_ns(const struct pscope_netns *ns, void *ctx)
{
	struct ns_walk *w = ctx;
	struct listing *l = w->l;
	void *p = realloc(l->ns, (l->nns + 1) * sizeof(*l->ns));

	if (!p) {
		cli_warn("%s", strerror(ENOMEM));
		return -ECANCELED;
	}
	l->ns = p;
	l->ns[l->nns] = (struct ns_range){ .start = l->n, .inode = ns->inode };
	snprintf(l->ns[l->nns].label, sizeof(l->ns[l->nns].label), "%s", ns->label);
	l->nns++;
	l->base = l->n;
	if (query_in(w->o, l, w->st, ns->fd) < 0)
		return -ECANCELED; /* said already */
	w->inconsistent |= w->st->inconsistent;
	return 0;
}

static int query_netns(struct ls_opts *o, struct listing *l, struct pscope_diag_stats *st)
{
	struct ns_walk w = { o, l, st, false };
	struct pscope_netns ns = { .name = o->netns };
	struct stat sb;
	int rc;

	if (!strcmp(o->netns, "all")) {
		rc = pscope_netns_list(read_ns, &w);
		if (rc < 0 && rc != -ECANCELED)
			cli_warn("--netns all: %s", strerror(-rc));
		st->inconsistent = w.inconsistent;
		return rc < 0 ? -1 : 0;
	}
	ns.fd = pscope_netns_open(o->netns);
	if (ns.fd < 0) {
		cli_warn("--netns '%s': %s", o->netns,
			 ns.fd == -EINVAL ? "not a network namespace" : strerror(-ns.fd));
		return -1;
	}
	ns.inode = fstat(ns.fd, &sb) == 0 ? sb.st_ino : 0;
	snprintf(ns.label, sizeof(ns.label), "%s", o->netns);
	rc = read_ns(&ns, &w);
	close(ns.fd);
	return rc < 0 ? -1 : 0;
}

/* --state LIST: ss's state names, comma-separated; an empty or unknown name is refused. */
static int parse_states(const char *list, uint32_t *mask)
{
	char buf[256];
	char *t = buf;

	if (strlen(list) >= sizeof(buf))
		return cli_usage_error("--state list too long"), -1;
	strcpy(buf, list);
	for (;;) {
		char *comma = strchr(t, ',');
		uint32_t m;

		if (comma)
			*comma = '\0';
		if (!*t)
			return cli_usage_error("empty state name in --state '%s': use one or more of %s",
					       list, pscope_diag_state_names), -1;
		m = pscope_diag_state_mask(t);
		if (!m)
			return cli_usage_error("unknown state '%s' in --state: use one or more of %s",
					       t, pscope_diag_state_names), -1;
		*mask |= m;
		if (!comma)
			return 0;
		t = comma + 1;
	}
}

/*
 * PORT, ADDR:PORT or *:PORT.  '*' is any address, as in ss: the port alone
 * filters, on both families.  A name is refused: a filter names one address.
 * Returns 0 or the exit status, negated.
 */
static int parse_target(const char *arg, struct pscope_diag_filter *f)
{
	struct pscope_endpoint ep;
	int rc;

	if (cli_parse_endpoint(arg, NULL, 0, &ep) < 0)
		return -EXIT_USAGE;
	if (!ep.port_given)
		return -cli_usage_error("bad port '%s': ls takes PORT or ADDR:PORT", arg);
	if (ep.port == 0)
		return -cli_usage_error("bad port '%s': no socket is on port 0; give 1 to 65535", arg);
	f->port = ep.port;
	if (ep.kind == PSCOPE_HOST_NONE || ep.kind == PSCOPE_HOST_ANY)
		return 0;
	if (ep.kind == PSCOPE_HOST_NAME)
		return -cli_usage_error("bad address '%s': '%s' is a host name; ls filters on a "
					"numeric address (or * for any)", arg, ep.host);
	rc = cli_resolve_endpoint(arg, &ep, AF_UNSPEC, PSCOPE_RESOLVE_NUMERIC, &f->addr, 1);
	if (rc < 0)
		return rc;
	f->has_addr = true;
	return 0;
}

enum { OPT_STATE = 256, OPT_PROC, OPT_DUMP, OPT_REPLAY, OPT_NETNS };

static int parse_args(struct ls_opts *o, int argc, char **argv, bool *help)
{
	static const struct option longopts[] = {
		{ "tcp", no_argument, NULL, 't' },	   { "udp", no_argument, NULL, 'u' },
		{ "local-only", no_argument, NULL, 'l' },  { "state", required_argument, NULL, OPT_STATE },
		{ "processes", no_argument, NULL, 'p' },   { "extended", no_argument, NULL, 'e' },
		{ "options", no_argument, NULL, 'o' },	   { "format", required_argument, NULL, 'f' },
		{ "summary", no_argument, NULL, 's' },	   { "no-header", no_argument, NULL, 'H' },
		{ "proc", no_argument, NULL, OPT_PROC },   { "dump", required_argument, NULL, OPT_DUMP },
		{ "replay", required_argument, NULL, OPT_REPLAY }, { "help", no_argument, NULL, 'h' },
		{ "netns", required_argument, NULL, OPT_NETNS },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_opts opts;
	int c;

	cli_opts_init(&opts, "tu46lpeof:sHh", longopts);
	while ((c = cli_getopt(&opts, argc, argv)) != -1) {
		switch (c) {
		case 't': o->f.protos |= PSCOPE_DIAG_TCP; break;
		case 'u': o->f.protos |= PSCOPE_DIAG_UDP; break;
		case '4': o->f.families |= PSCOPE_DIAG_V4; break;
		case '6': o->f.families |= PSCOPE_DIAG_V6; break;
		case 'l': o->f.local_only = true; break;
		case 'p': o->processes = true; break;
		case 'e': o->extended = true; break;
		case 'o': o->options = true; break;
		case 's': o->summary_only = true; break;
		case 'H': o->no_header = true; break;
		case 'h': *help = true; return EXIT_OK;
		case OPT_PROC: o->proc = true; break;
		case OPT_DUMP: o->dump = optarg; break;
		case OPT_REPLAY: o->replay = optarg; break;
		case OPT_NETNS:
			if (!*optarg)
				return cli_usage_error("--netns needs a namespace name, a path or 'all'");
			o->netns = optarg;
			break;
		case OPT_STATE:
			if (parse_states(optarg, &o->f.states) < 0)
				return EXIT_USAGE;
			break;
		case 'f':
			if (!strcmp(optarg, "table"))
				o->fmt = OUT_TABLE;
			else if (!strcmp(optarg, "json"))
				o->fmt = OUT_JSON;
			else
				return cli_usage_error("bad format '%s': use table or json", optarg);
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (argc - optind > 1)
		return cli_usage_error("too many arguments: one PORT or ADDR:PORT at most");
	if (o->fmt == OUT_JSON && cli_opt(&opts, 'H'))
		return cli_usage_error("'%s' is about the table: JSON has no header", cli_opt(&opts, 'H'));
	if ((c = cli_opt_conflict(&opts, 's', 'H', "a summary has no header")) ||
	    (c = cli_opt_conflict(&opts, 's', 'e', "a summary shows no socket to extend")))
		return c;
	if (o->replay && (o->dump || o->proc))
		return cli_usage_error("--replay reads a saved dump: it goes with neither --dump nor --proc");
	if (o->netns && (o->replay || o->dump))
		return cli_usage_error("--netns reads the kernel's namespaces: it goes with neither "
				       "--replay nor --dump");
	if (o->dump && o->proc)
		return cli_usage_error("--dump saves netlink replies: it does not go with --proc");
	if (optind < argc && (c = parse_target(argv[optind], &o->f)) < 0)
		return -c;
	if (o->f.local_only && o->f.port < 0)
		return cli_usage_error("'%s' needs a PORT", cli_opt(&opts, 'l'));
	if (o->proc && pscope_diag_proc_filter_ok(&o->f) < 0)
		return cli_usage_error("--proc cannot apply '%s': %s", argv[optind],
				       pscope_strerror(pscope_diag_proc_filter_ok(&o->f)));
	return EXIT_OK;
}

int cmd_ls(int argc, char **argv)
{
	struct ls_opts o = { .f = { .port = -1 } };
	struct listing l = { 0 };
	struct pscope_diag_stats st;
	struct summary sum;
	bool help = false;
	int rc = parse_args(&o, argc, argv, &help);

	if (rc != EXIT_OK)
		return rc;
	if (help) {
		fputs(usage, stdout);
		return cli_finish(EXIT_OK);
	}
	cli_ignore_sigpipe();
	/* A listing can be a hundred megabytes: write it in large blocks. */
	setvbuf(stdout, NULL, _IOFBF, 1 << 20);
	if (query(&o, &l, &st) < 0) {
		free(l.socks);
		free(l.ns);
		return EXIT_FAIL;
	}
	if (st.inconsistent)
		cli_warn("the kernel's socket list kept changing during the dump: it may be inconsistent");
	l.extra = malloc((l.n ? l.n : 1) * sizeof(*l.extra));
	if (!l.extra) {
		cli_warn("%s", strerror(ENOMEM));
		free(l.socks);
		return EXIT_FAIL;
	}
	for (size_t i = 0; i < l.n; i++)
		l.extra[i] = (struct extra){ .owner = NO_OWNER };
	if ((o.processes || o.options) && (rc = find_owners(&l)) < 0)
		cli_warn("cannot scan /proc for owners: %s", strerror(-rc));
	if (l.unknown_owner)
		cli_warn("%u socket%s may belong to processes this user cannot inspect (%u "
			 "unreadable): shown as '?'", l.unknown_owner, l.unknown_owner == 1 ? "" : "s",
			 l.ost.unreadable);
	if (o.options)
		read_options(&l);
	summarize(&l, &sum);
	if (o.fmt == OUT_JSON) {
		print_json(&o, &l, &sum);
	} else {
		if (!o.summary_only)
			print_table(&o, &l);
		print_sentence(&o, &l, &sum);
	}
	free(l.socks);
	free(l.extra);
	free(l.owners);
	free(l.ns);
	return cli_finish(EXIT_OK);
}
