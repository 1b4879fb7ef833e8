/* The kernel's socket list from /proc/net/{tcp,tcp6,udp,udp6}, for kernels without sock_diag. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "portscope/diag.h"

/* Real lines are about 150 bytes; anything past this is not a line the kernel wrote. */
#define LINE_MAX_LEN 512

struct cursor {
	const char *p, *end;
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void skip_spaces(struct cursor *c)
{
	while (c->p < c->end && *c->p == ' ')
		c->p++;
}

/* Exactly N hex digits into *V (N <= 16). */
static int hex_n(struct cursor *c, int n, uint64_t *v)
{
	*v = 0;
	if (c->end - c->p < n)
		return -1;
	for (int i = 0; i < n; i++) {
		int d = hexval(c->p[i]);

		if (d < 0)
			return -1;
		*v = *v << 4 | (uint64_t)d;
	}
	c->p += n;
	return 0;
}

/* 1 to 20 decimal digits, ending at a space or the end. */
static int dec(struct cursor *c, uint64_t *v)
{
	int n = 0;

	*v = 0;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && n < 20) {
		*v = *v * 10 + (uint64_t)(*c->p++ - '0');
		n++;
	}
	return n > 0 && (c->p == c->end || *c->p == ' ') ? 0 : -1;
}

static int expect(struct cursor *c, char ch)
{
	if (c->p >= c->end || *c->p != ch)
		return -1;
	c->p++;
	return 0;
}

/*
 * An address as the kernel prints it: each 32-bit word of the network-order
 * address read as a host-order integer, in hex.  Writing the word back in host
 * order restores the bytes, which is what keeps IPv6's word order right.
 */
static int address(struct cursor *c, int family, uint8_t *ip, uint16_t *port)
{
	int words = family == AF_INET6 ? 4 : 1;
	uint64_t v;

	for (int i = 0; i < words; i++) {
		uint32_t w;

		if (hex_n(c, 8, &v) < 0)
			return -1;
		w = (uint32_t)v;
		memcpy(ip + 4 * i, &w, 4);
	}
	if (expect(c, ':') < 0 || hex_n(c, 4, &v) < 0)
		return -1;
	*port = (uint16_t)v;
	return c->p < c->end && *c->p == ' ' ? 0 : -1;
}

/*
 * Marks the fields this line does not really give (see diag.h): /proc/net
 * never gives the cookie or the bound device; a TCP listener's tx_queue is 0,
 * not its backlog (get_tcp4_sock() in net/ipv4/tcp_ipv4.c, and its IPv6 twin);
 * a TIME_WAIT minisocket, the only line with timer 3, has 0 for both queues
 * and the uid (get_timewait4_sock()); a request in a SYN queue, the only line
 * with reference count 0, has 0 for both queues (get_openreq4()).
 */
static void placeholders(struct pscope_diag_sock *s, uint64_t timer, uint64_t ref)
{
	s->absent = PSCOPE_DIAG_NO_COOKIE | PSCOPE_DIAG_NO_IFINDEX;
	if (!s->inode)
		s->absent |= PSCOPE_DIAG_NO_INODE;
	if (s->proto != IPPROTO_TCP)
		return;
	if (s->state == TCP_LISTEN)
		s->absent |= PSCOPE_DIAG_NO_WQUEUE;
	if (timer == 3)
		s->absent |= PSCOPE_DIAG_NO_RQUEUE | PSCOPE_DIAG_NO_WQUEUE | PSCOPE_DIAG_NO_UID;
	if (s->state == TCP_SYN_RECV && ref == 0)
		s->absent |= PSCOPE_DIAG_NO_RQUEUE | PSCOPE_DIAG_NO_WQUEUE;
}

int pscope_diag_proc_line(const char *line, size_t len, int family, int proto,
			  struct pscope_diag_sock *s)
{
	struct cursor c = { line, line + len };
	uint64_t v, tx, rx, timer, ref;

	memset(s, 0, sizeof(*s));
	if (len > 0 && line[len - 1] == '\n')
		c.end--;
	if (len > LINE_MAX_LEN)
		return -PSCOPE_E_PROC_LINE;
	skip_spaces(&c);
	if (c.end - c.p >= 2 && c.p[0] == 's' && c.p[1] == 'l')
		return 0;
	s->family = (uint8_t)family;
	s->proto = (uint8_t)proto;
	/* "sl: local rem st tx:rx tr:when retrnsmt uid timeout inode ..." */
	if (c.p == c.end || *c.p < '0' || *c.p > '9')
		return -PSCOPE_E_PROC_LINE;
	while (c.p < c.end && *c.p >= '0' && *c.p <= '9')
		c.p++;
	if (expect(&c, ':') < 0)
		return -PSCOPE_E_PROC_LINE;
	skip_spaces(&c);
	if (address(&c, family, s->laddr, &s->lport) < 0)
		return -PSCOPE_E_PROC_LINE;
	skip_spaces(&c);
	if (address(&c, family, s->raddr, &s->rport) < 0)
		return -PSCOPE_E_PROC_LINE;
	skip_spaces(&c);
	if (hex_n(&c, 2, &v) < 0 || v == 0 || v > 12)
		return -PSCOPE_E_PROC_LINE;
	s->state = (uint8_t)v;
	skip_spaces(&c);
	if (hex_n(&c, 8, &tx) < 0 || expect(&c, ':') < 0 || hex_n(&c, 8, &rx) < 0)
		return -PSCOPE_E_PROC_LINE;
	s->wqueue = (uint32_t)tx;
	s->rqueue = (uint32_t)rx;
	skip_spaces(&c);
	if (hex_n(&c, 2, &timer) < 0 || expect(&c, ':') < 0 || hex_n(&c, 8, &v) < 0)
		return -PSCOPE_E_PROC_LINE;
	skip_spaces(&c);
	if (hex_n(&c, 8, &v) < 0)
		return -PSCOPE_E_PROC_LINE;
	skip_spaces(&c);
	if (dec(&c, &v) < 0 || v > UINT32_MAX)
		return -PSCOPE_E_PROC_LINE;
	s->uid = (uint32_t)v;
	skip_spaces(&c);
	if (dec(&c, &v) < 0)
		return -PSCOPE_E_PROC_LINE;
	skip_spaces(&c);
	if (dec(&c, &v) < 0)
		return -PSCOPE_E_PROC_LINE;
	s->inode = v;
	skip_spaces(&c);
	/* The reference count; a request (get_openreq4()) writes 0 there. */
	if (c.p == c.end || dec(&c, &ref) < 0)
		ref = 1;
	placeholders(s, timer, ref);
	return 1;
}

struct procfile {
	const char *name;
	int family;
	int proto;
	unsigned proto_bit, family_bit;
};

static const struct procfile files[] = {
	{ "tcp", AF_INET, IPPROTO_TCP, PSCOPE_DIAG_TCP, PSCOPE_DIAG_V4 },
	{ "tcp6", AF_INET6, IPPROTO_TCP, PSCOPE_DIAG_TCP, PSCOPE_DIAG_V6 },
	{ "udp", AF_INET, IPPROTO_UDP, PSCOPE_DIAG_UDP, PSCOPE_DIAG_V4 },
	{ "udp6", AF_INET6, IPPROTO_UDP, PSCOPE_DIAG_UDP, PSCOPE_DIAG_V6 },
};

/* Reads one file line by line through a fixed buffer; a line that does not fit is an error. */
static int read_file(int fd, const struct procfile *pf, const struct pscope_diag_filter *f,
		     pscope_diag_cb cb, void *ctx, struct pscope_diag_stats *st, int *count)
{
	char buf[65536];
	size_t have = 0;

	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		size_t start = 0;
		char *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		have += (size_t)n;
		while ((nl = memchr(buf + start, '\n', have - start))) {
			struct pscope_diag_sock s;
			size_t len = (size_t)(nl - (buf + start)) + 1;
			int rc = pscope_diag_proc_line(buf + start, len, pf->family, pf->proto, &s);

			start += len;
			if (rc < 0)
				return rc;
			st->messages++;
			if (rc == 0 || !pscope_diag_match(f, &s))
				continue;
			(*count)++;
			if (cb(&s, ctx) < 0)
				return -ECANCELED;
		}
		memmove(buf, buf + start, have - start);
		have -= start;
		if (n == 0)
			return have ? -PSCOPE_E_PROC_LINE : 0; /* a last line without its newline */
		if (have > LINE_MAX_LEN)
			return -PSCOPE_E_PROC_LINE;
	}
}

int pscope_diag_proc(const char *root, const struct pscope_diag_filter *f, pscope_diag_cb cb,
		     void *ctx, struct pscope_diag_stats *st)
{
	struct pscope_diag_stats dummy;
	int count = 0;

	int rc = pscope_diag_proc_filter_ok(f);

	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[4096];
		int fd;

		if ((f->protos && !(f->protos & files[i].proto_bit)) ||
		    (f->families && !(f->families & files[i].family_bit)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", root ? root : "/proc/net", files[i].name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			/* A kernel without IPv6 has no tcp6: nothing to list there. */
			if (errno == ENOENT) {
				st->skipped_protos++;
				continue;
			}
			return -errno;
		}
		rc = read_file(fd, &files[i], f, cb, ctx, st, &count);
		close(fd);
		if (rc < 0)
			return rc;
	}
	return count;
}
