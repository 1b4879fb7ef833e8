/* portscope lab: output, checks, logged system calls and the kernel's view, for the experiments. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "portscope/loop.h"

#include "lab.h"

void lab_say(struct lab *x, const char *fmt, ...)
{
	va_list ap;

	fputs("  ", x->out);
	va_start(ap, fmt);
	vfprintf(x->out, fmt, ap);
	va_end(ap);
	fputc('\n', x->out);
}

void lab_step(struct lab *x, const char *fmt, ...)
{
	va_list ap;

	if (!x->verbose)
		return;
	fprintf(x->out, "  %s%s$ ", x->part ? x->part : "", x->part ? " " : "");
	va_start(ap, fmt);
	vfprintf(x->out, fmt, ap);
	va_end(ap);
	fputc('\n', x->out);
}

static struct lab_check *new_check(struct lab *x, const char *what, const char *source)
{
	struct lab_check *c = &x->checks[x->nchecks < LAB_MAX_CHECKS ? x->nchecks : LAB_MAX_CHECKS - 1];

	if (x->nchecks < LAB_MAX_CHECKS)
		x->nchecks++;
	memset(c, 0, sizeof(*c));
	if ((size_t)snprintf(c->what, sizeof(c->what), "%s%s%s", x->part ? x->part : "",
			     x->part ? ": " : "", what) >= sizeof(c->what) ||
	    (size_t)snprintf(c->source, sizeof(c->source), "%s", source ? source : "") >=
		    sizeof(c->source))
		c->cut = true;
	return c;
}

/* Copies TEXT into a check's field; true if it had to be cut. */
static bool put(char *field, size_t size, const char *prefix, const char *text)
{
	return (size_t)snprintf(field, size, "%s%s", prefix, text) >= size;
}

/*
 * A check whose text did not fit its fields is a FAIL that says so: a cut
 * name, source or value would pass off part of what was compared as all of it.
 */
static void check_cut(struct lab *x, struct lab_check *c)
{
	if (!c->cut)
		return;
	c->result = LAB_FAIL;
	fprintf(x->out, "  UNEXPECTED: the text of check '%s' is cut: it does not fit the lab's fields\n",
		c->what);
}

static const char *const result_names[] = { "PASS", "FAIL", "SKIP" };

bool lab_check(struct lab *x, const char *what, const char *source, const char *predicted,
	       const char *observed)
{
	struct lab_check *c = new_check(x, what, source);
	bool same = !strcmp(predicted, observed);

	c->cut |= put(c->predicted, sizeof(c->predicted), x->flip ? "anything but: " : "", predicted);
	c->cut |= put(c->observed, sizeof(c->observed), "", observed);
	c->result = same != x->flip ? LAB_PASS : LAB_FAIL;
	check_cut(x, c);
	fprintf(x->out, "  check: %s  [%s]\n", c->what, c->source);
	fprintf(x->out, "    predicted: %s\n", c->predicted);
	fprintf(x->out, "    observed:  %s\n", c->observed);
	fprintf(x->out, "    -> %s\n", result_names[c->result]);
	return c->result == LAB_PASS;
}

void lab_skip(struct lab *x, const char *what, const char *why)
{
	struct lab_check *c = new_check(x, what, NULL);

	c->result = LAB_SKIP;
	c->cut |= put(c->observed, sizeof(c->observed), "skipped: ", why);
	check_cut(x, c);
	fprintf(x->out, "  check: %s\n    -> SKIP: %s\n", c->what, why);
}

bool lab_broke(struct lab *x, const char *step, int err)
{
	struct lab_check *c = new_check(x, step, "the experiment's own set-up");

	snprintf(c->predicted, sizeof(c->predicted), "succeeds");
	if (err == -E2BIG) /* lab_kernel's: say what it means here */
		snprintf(c->observed, sizeof(c->observed), "fails: E2BIG (more sockets on the port than "
			 "the lab's list holds, %d: nothing is concluded from a cut list)", LAB_MAX_ROWS);
	else
		snprintf(c->observed, sizeof(c->observed), "fails: %s (%s)", pscope_errno_name(err),
			 err > -PSCOPE_ERR_BASE ? strerror(-err) : pscope_strerror(err));
	c->result = LAB_FAIL;
	fprintf(x->out, "  UNEXPECTED: %s %s\n    -> FAIL\n", c->what, c->observed);
	return false;
}

const char *lab_fmt(const struct pscope_addr *a, char *buf, size_t size)
{
	if (pscope_addr_format(a, buf, size) < 0)
		snprintf(buf, size, "?");
	return buf;
}

const char *lab_outcome(int rc)
{
	return rc >= 0 ? "ok" : pscope_errno_name(rc);
}

void lab_addr(struct pscope_addr *a, const char *host, int port)
{
	memset(a, 0, sizeof(*a));
	if (strchr(host, ':')) {
		a->u.sin6.sin6_family = AF_INET6;
		inet_pton(AF_INET6, host, &a->u.sin6.sin6_addr);
		a->u.sin6.sin6_port = htons((uint16_t)port);
		a->len = sizeof(a->u.sin6);
	} else {
		a->u.sin.sin_family = AF_INET;
		inet_pton(AF_INET, host, &a->u.sin.sin_addr);
		a->u.sin.sin_port = htons((uint16_t)port);
		a->len = sizeof(a->u.sin);
	}
}

const struct lab_family lab_families[LAB_NFAMILIES] = {
	{ AF_INET, "IPv4", "127.0.0.1", "0.0.0.0" },
	{ AF_INET6, "IPv6", "::1", "::" },
};

void lab_loopback(struct pscope_addr *a, int family, int port)
{
	lab_addr(a, lab_families[family == AF_INET6].loopback, port);
}

void lab_each_family(struct lab *x, void (*body)(struct lab *x, const struct lab_family *f))
{
	for (int i = 0; i < LAB_NFAMILIES; i++) {
		x->part = lab_families[i].label;
		body(x, &lab_families[i]);
	}
	x->part = NULL;
}

static const char *type_name(int type)
{
	return type == SOCK_DGRAM ? "SOCK_DGRAM" : "SOCK_STREAM";
}

int lab_socket(struct lab *x, int family, int type)
{
	int fd = pscope_socket(family, type);

	if (fd >= 0)
		lab_step(x, "socket(%s, %s) = fd %d", pscope_family_name(family), type_name(type), fd);
	else
		lab_step(x, "socket(%s, %s) = -1 %s", pscope_family_name(family), type_name(type),
			 pscope_errno_name(fd));
	return fd;
}

int lab_setopt(struct lab *x, int fd, int level, int name, const char *optname, int value)
{
	int rc = setsockopt(fd, level, name, &value, sizeof(value)) < 0 ? -errno : 0;

	lab_step(x, "setsockopt(fd %d, %s, %d) = %s", fd, optname, value,
		 rc ? pscope_errno_name(rc) : "0");
	return rc;
}

int lab_bind(struct lab *x, int fd, const struct pscope_addr *a)
{
	char want[PSCOPE_ADDRSTRLEN], got[PSCOPE_ADDRSTRLEN];
	struct pscope_addr now;
	int rc = bind(fd, &a->u.sa, a->len) < 0 ? -errno : 0;

	lab_fmt(a, want, sizeof(want));
	if (rc < 0) {
		lab_step(x, "bind(fd %d, %s) = -1 %s", fd, want, pscope_errno_name(rc));
		return rc;
	}
	if (pscope_sock_local(fd, &now) == 0)
		lab_step(x, "bind(fd %d, %s) = 0; getsockname: %s", fd, want,
			 lab_fmt(&now, got, sizeof(got)));
	return 0;
}

int lab_listen(struct lab *x, int fd, int backlog)
{
	int rc = listen(fd, backlog) < 0 ? -errno : 0;

	lab_step(x, "listen(fd %d, %d) = %s", fd, backlog, rc ? pscope_errno_name(rc) : "0");
	return rc;
}

int lab_wait(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	long long deadline = pscope_now_ms() + timeout_ms;

	for (;;) {
		int left = (int)(deadline - pscope_now_ms()), n;

		if (left < 0)
			left = 0;
		n = poll(&p, 1, left);
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

int lab_connect(struct lab *x, int fd, const struct pscope_addr *a, int timeout_ms)
{
	char to[PSCOPE_ADDRSTRLEN], from[PSCOPE_ADDRSTRLEN];
	struct pscope_addr me;
	int rc = connect(fd, &a->u.sa, a->len) < 0 ? -errno : 0;
	socklen_t len = sizeof(int);
	int err = 0;

	lab_fmt(a, to, sizeof(to));
	if (rc == -EINPROGRESS && timeout_ms > 0) {
		rc = lab_wait(fd, POLLOUT, timeout_ms);
		if (rc == 0)
			rc = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 ? -errno : -err;
	}
	if (rc == 0 || rc == -EINPROGRESS) {
		if (pscope_sock_local(fd, &me) < 0)
			snprintf(from, sizeof(from), "?");
		else
			lab_fmt(&me, from, sizeof(from));
		lab_step(x, "connect(fd %d, %s) = %s; getsockname: %s", fd, to,
			 rc ? "EINPROGRESS (not waited for)" : "0", from);
	} else {
		lab_step(x, "connect(fd %d, %s) = -1 %s", fd, to, pscope_errno_name(rc));
	}
	return rc;
}

int lab_accept(struct lab *x, int lfd, int timeout_ms)
{
	char peer[PSCOPE_ADDRSTRLEN];
	struct pscope_addr from;
	int rc = lab_wait(lfd, POLLIN, timeout_ms), fd;

	if (rc < 0) {
		lab_step(x, "poll(fd %d) for a connection: %s after %d ms", lfd, pscope_errno_name(rc),
			 timeout_ms);
		return rc;
	}
	fd = pscope_accept(lfd, NULL, NULL);
	if (fd < 0) {
		lab_step(x, "accept(fd %d) = -1 %s", lfd, pscope_errno_name(fd));
		return fd;
	}
	if (pscope_sock_peer(fd, &from) < 0)
		snprintf(peer, sizeof(peer), "?");
	else
		lab_fmt(&from, peer, sizeof(peer));
	lab_step(x, "accept(fd %d) = fd %d; getpeername: %s", lfd, fd, peer);
	return fd;
}

void lab_close(struct lab *x, int *fd, bool reset)
{
	struct linger l = { 1, 0 };

	if (*fd < 0)
		return;
	if (reset)
		(void)setsockopt(*fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(*fd);
	lab_step(x, "close(fd %d)%s", *fd, reset ? " after SO_LINGER 0 (reset: no TIME_WAIT)" : "");
	*fd = -1;
}

void lab_close_all(struct lab *x, int *fds, int n, bool reset)
{
	for (int i = 0; i < n; i++)
		lab_close(x, &fds[i], reset);
}

int lab_socket_opts(struct lab *x, int family, int type, unsigned flags)
{
	int fd = lab_socket(x, family, type), rc = 0;

	if (fd < 0)
		return fd;
	if (family == AF_INET6)
		rc = lab_setopt(x, fd, IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY",
				!(flags & LAB_DUALSTACK));
	if (rc == 0 && (flags & LAB_REUSEADDR))
		rc = lab_setopt(x, fd, SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR", 1);
	if (rc == 0 && (flags & LAB_REUSEPORT))
		rc = lab_setopt(x, fd, SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT", 1);
	if (rc == 0 && (flags & LAB_NO_PORT))
		rc = lab_setopt(x, fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, "IP_BIND_ADDRESS_NO_PORT", 1);
	if (rc < 0) {
		lab_close(x, &fd, false);
		return rc;
	}
	return fd;
}

int lab_listener(struct lab *x, const struct pscope_addr *a, int backlog, unsigned flags)
{
	int fd = lab_socket_opts(x, a->u.sa.sa_family, SOCK_STREAM, flags), rc;

	if (fd < 0)
		return fd;
	rc = lab_bind(x, fd, a);
	if (rc == 0)
		rc = lab_listen(x, fd, backlog);
	if (rc < 0) {
		lab_close(x, &fd, false);
		return rc;
	}
	return fd;
}

static int keep_row(const struct pscope_diag_sock *s, void *ctx)
{
	struct lab_rows *r = ctx;

	if (!s) {
		r->n = 0; /* the kernel restarted its dump */
		r->more = false;
	} else if (r->n < LAB_MAX_ROWS) {
		r->s[r->n++] = *s;
	} else {
		r->more = true;
	}
	return 0;
}

int lab_kernel(int proto, int family, int port, struct lab_rows *r)
{
	struct pscope_diag_filter f = {
		.protos = proto == IPPROTO_UDP ? PSCOPE_DIAG_UDP : PSCOPE_DIAG_TCP,
		.families = family == AF_INET6 ? PSCOPE_DIAG_V6 : PSCOPE_DIAG_V4,
		.port = port,
	};
	int rc;

	r->n = 0;
	r->more = false;
	rc = pscope_diag_netlink(&f, keep_row, r, -1, NULL);
	if (rc < 0) {
		r->n = 0;
		rc = pscope_diag_proc(NULL, &f, keep_row, r, NULL);
	}
	/* A list cut at LAB_MAX_ROWS would make every count drawn from it wrong: none is drawn. */
	return rc < 0 ? rc : r->more ? -E2BIG : r->n;
}

struct owner_hit {
	pid_t pid[LAB_MAX_ROWS];
	int fd[LAB_MAX_ROWS];
};

static int note_owner(size_t i, pid_t pid, int fd, void *ctx)
{
	struct owner_hit *o = ctx;

	if (i < LAB_MAX_ROWS && !o->pid[i]) {
		o->pid[i] = pid;
		o->fd[i] = fd;
	}
	return 0;
}

void lab_show_kernel(struct lab *x, int port, const struct lab_rows *r, bool owners)
{
	uint64_t inodes[LAB_MAX_ROWS];
	uint32_t *hash = NULL;
	struct owner_hit o;

	memset(&o, 0, sizeof(o));
	if (owners) {
		for (int i = 0; i < r->n; i++)
			inodes[i] = r->s[i].inode;
		hash = malloc(pscope_owner_hash_size((size_t)r->n) * sizeof(*hash));
		if (!hash || pscope_owners_scan(NULL, inodes, (size_t)r->n, hash, note_owner, &o,
						NULL) < 0)
			owners = false;
		free(hash);
	}
	if (x->own_netns)
		lab_say(x, "the kernel's list of sockets on port %d (in this network namespace):", port);
	else
		lab_say(x, "the kernel's list of sockets on port %d (as portscope ls %d shows it):", port, port);
	/* Listeners first, then the sockets with the port as local port, then the rest. */
	for (int k = 0; k < 3 * r->n; k++) {
		const struct pscope_diag_sock *s = &r->s[k % r->n];
		int i = k % r->n, rank = s->state == TCP_LISTEN ? 0 : s->lport == port ? 1 : 2;
		char l[PSCOPE_ADDRSTRLEN], p[PSCOPE_ADDRSTRLEN], who[64] = "";
		struct pscope_addr a;

		if (rank != k / r->n)
			continue;

		pscope_diag_local(s, &a);
		lab_fmt(&a, l, sizeof(l));
		pscope_diag_peer(s, &a);
		if (s->rport == 0)
			snprintf(p, sizeof(p), "*");
		else
			lab_fmt(&a, p, sizeof(p));
		if (owners && o.pid[i])
			snprintf(who, sizeof(who), "  owner: pid %d fd %d", (int)o.pid[i], o.fd[i]);
		else if (owners && s->inode == 0)
			snprintf(who, sizeof(who), "  owner: none (no inode)");
		else if (owners)
			snprintf(who, sizeof(who), "  owner: none found");
		if (*who)
			lab_say(x, "  %-12s %-24s %-24s%s", pscope_diag_state_name(s), l, p, who);
		else
			lab_say(x, "  %-12s %-24s %s", pscope_diag_state_name(s), l, p);
	}
	if (r->n == 0)
		lab_say(x, "  (none)");
	if (r->more)
		lab_say(x, "  ... and more");
}

int lab_count(const struct lab_rows *r, int state, int port, bool local)
{
	int n = 0;

	for (int i = 0; i < r->n; i++)
		n += r->s[i].state == state && (local ? r->s[i].lport : r->s[i].rport) == port;
	return n;
}

void lab_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* A wait of lab_wait_readable(): the descriptors, the caller's callback, how it ended. */
struct readable {
	const int *fds;
	int n;
	lab_ready_fn *ready;
	void *arg;
	int rc;
};

static void on_readable(struct pscope_loop *l, int fd, uint32_t events, void *arg)
{
	struct readable *w = arg;

	if (!(events & PSCOPE_EV_READ))
		return;
	for (int i = 0; i < w->n; i++)
		if (w->fds[i] == fd && w->ready(i, w->arg)) {
			w->rc = 0;
			pscope_loop_stop(l);
			return;
		}
}

static long long on_deadline(struct pscope_loop *l, long long id, void *arg)
{
	(void)id;
	(void)arg;
	pscope_loop_stop(l);
	return -1;
}

int lab_wait_readable(const int *fds, int n, int timeout_ms, lab_ready_fn *ready, void *arg)
{
	struct readable w = { fds, n, ready, arg, -ETIMEDOUT };
	struct pscope_loop *l;
	long long id;
	int rc = pscope_loop_new(&l);

	if (rc < 0)
		return rc;
	for (int i = 0; i < n && rc == 0; i++)
		rc = pscope_loop_watch(l, fds[i], PSCOPE_EV_READ, on_readable, &w);
	id = rc < 0 ? rc : pscope_loop_timer(l, timeout_ms, on_deadline, NULL);
	rc = id < 0 ? (int)id : pscope_loop_run(l);
	pscope_loop_free(l);
	return rc < 0 ? rc : w.rc;
}

int lab_bind_as_nobody(const struct pscope_addr *a, unsigned flags)
{
	int p[2], rc = -EIO, status;
	pid_t pid;

	if (pipe(p) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		close(p[0]);
		close(p[1]);
		return rc;
	}
	if (pid == 0) {
		int one = 1, fd;

		close(p[0]);
		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			rc = -errno;
		else if ((fd = socket(a->u.sa.sa_family, SOCK_STREAM, 0)) < 0)
			rc = -errno;
		else if (a->u.sa.sa_family == AF_INET6 &&
			 setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
			rc = -errno;
		else if ((flags & LAB_REUSEADDR) &&
			 setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
			rc = -errno;
		else if ((flags & LAB_REUSEPORT) &&
			 setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
			rc = -errno;
		else
			rc = bind(fd, &a->u.sa, a->len) < 0 ? -errno : 0;
		(void)pscope_write_all(p[1], &rc, sizeof(rc));
		_exit(0);
	}
	close(p[1]);
	if (lab_wait(p[0], POLLIN, LAB_TIMEOUT_MS) < 0 || pscope_read_full(p[0], &rc, sizeof(rc)) < 0) {
		kill(pid, SIGKILL);
		rc = -ETIMEDOUT;
	}
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return rc;
}

int lab_tun(struct lab *x)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), rc = 0;

	if (fd < 0) {
		rc = -errno;
	} else {
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", LAB_TUN);
		ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
		if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
			rc = -errno;
			close(fd);
		}
	}
	lab_step(x, "open(/dev/net/tun), ioctl(TUNSETIFF, %s) = %s", LAB_TUN,
		 rc ? pscope_errno_name(rc) : "0");
	return rc < 0 ? rc : fd;
}

int lab_bind_device(struct lab *x, int fd, const char *dev)
{
	int rc = setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, (socklen_t)strlen(dev) + 1) < 0 ? -errno : 0;

	lab_step(x, "setsockopt(fd %d, SO_BINDTODEVICE, %s) = %s", fd, dev, rc ? pscope_errno_name(rc) : "0");
	return rc;
}
