/*
 * mkdump: derives the netlink dumps in tests/data/ from one good recording,
 * so that each malformed file can be made again byte for byte.
 *
 *   mkdump GOOD.nldump OUTDIR
 *
 * GOOD is what `portscope ls --dump` writes: for each dump its request, then
 * the kernel's reply (SOCK_DIAG_BY_FAMILY messages, then NLMSG_DONE).  The
 * first dump must list at least one socket.  Each variant changes one thing;
 * tests/data/README.md says what, and what a replay of it must return.
 */
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MSGS 1024
#define MAX_DUMPS 16

struct msg {
	size_t off, len;	/* in GOOD; LEN is nlmsg_len, unaligned */
	int dump;		/* index of the request it belongs to (or is) */
	bool request;
	uint16_t type;
};

static uint8_t *good;
static size_t good_len;
static struct msg msgs[MAX_MSGS];
static size_t nmsgs;
static int ndumps;

/* A growing output file. */
struct out {
	uint8_t *buf;
	size_t len, cap;
};

static _Noreturn void die(const char *what)
{
	fprintf(stderr, "mkdump: %s\n", what);
	exit(1);
}

/* Appends N bytes (P may be NULL for zeros). Returns their offset. */
static size_t put(struct out *o, const void *p, size_t n)
{
	size_t off = o->len;

	if (o->len + n > o->cap) {
		size_t cap = (o->len + n) * 2 + 256;
		uint8_t *b = realloc(o->buf, cap);

		if (!b)
			die("out of memory");
		o->buf = b;
		o->cap = cap;
	}
	if (p)
		memcpy(o->buf + o->len, p, n);
	else
		memset(o->buf + o->len, 0, n);
	o->len += n;
	return off;
}

static size_t put_msg(struct out *o, size_t i)
{
	return put(o, good + msgs[i].off, NLMSG_ALIGN(msgs[i].len));
}

static struct nlmsghdr get_hdr(const struct out *o, size_t off)
{
	struct nlmsghdr h;

	memcpy(&h, o->buf + off, sizeof(h));
	return h;
}

static void set_hdr(struct out *o, size_t off, const struct nlmsghdr *h)
{
	memcpy(o->buf + off, h, sizeof(*h));
}

/* The first message of TYPE that belongs to dump D and is not its request. */
static size_t find(int d, uint16_t type)
{
	for (size_t i = 0; i < nmsgs; i++)
		if (msgs[i].dump == d && !msgs[i].request && msgs[i].type == type)
			return i;
	die("the recording lacks a message the variants need");
}

static size_t request_of(int d)
{
	for (size_t i = 0; i < nmsgs; i++)
		if (msgs[i].dump == d && msgs[i].request)
			return i;
	die("no such dump");
}

/* Copies messages FROM to TO (exclusive), all of them: the good recording's bytes. */
static void put_range(struct out *o, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		put_msg(o, i);
}

/* The kernel's answer to a request it refuses: NLMSG_ERROR with ERR and the request's header. */
static void put_error(struct out *o, int d, int err)
{
	const struct msg *q = &msgs[request_of(d)];
	struct nlmsghdr h = { 0 }, req;
	size_t done = find(d, NLMSG_DONE);

	memcpy(&req, good + q->off, sizeof(req));
	memcpy(&h, good + msgs[done].off, sizeof(h)); /* the reply's seq and port id */
	h.nlmsg_type = NLMSG_ERROR;
	h.nlmsg_flags = 0;
	h.nlmsg_len = NLMSG_LENGTH(sizeof(int) + sizeof(req));
	put(o, &h, sizeof(h));
	put(o, &err, sizeof(err));
	put(o, &req, sizeof(req));
}

/* The whole recording, every dump's replies to dump D replaced by NLMSG_ERROR ERR. */
static void error_for(struct out *o, int d, int err)
{
	for (size_t i = 0; i < nmsgs; i++) {
		if (msgs[i].dump != d || msgs[i].request) {
			put_msg(o, i);
			continue;
		}
		if (msgs[i].type == NLMSG_DONE)
			put_error(o, d, err);
	}
}

/* Copies the recording, handing the first socket message of dump 0 to EDIT. */
static void edit_first_sock(struct out *o, void (*edit)(struct out *, size_t))
{
	size_t first = find(0, SOCK_DIAG_BY_FAMILY);

	for (size_t i = 0; i < nmsgs; i++) {
		size_t off = put_msg(o, i);

		if (i == first)
			edit(o, off);
	}
}

/* Appends an attribute of RTA_LEN (claimed) and REAL bytes to the message at OFF, the last one. */
static void append_attr(struct out *o, size_t off, uint16_t rta_len, size_t real)
{
	struct nlmsghdr h = get_hdr(o, off);
	uint8_t attr[64] = { 0 };

	if (real > sizeof(attr) || off + NLMSG_ALIGN(h.nlmsg_len) != o->len)
		die("append_attr");
	memcpy(attr, &rta_len, 2);
	attr[2] = 1; /* INET_DIAG_MEMINFO: any type will do */
	put(o, attr, real);
	h.nlmsg_len = (uint32_t)(NLMSG_ALIGN(h.nlmsg_len) + real);
	set_hdr(o, off, &h);
}

static void attr_len2(struct out *o, size_t off)
{
	append_attr(o, off, 2, 4);
}

static void attr_long(struct out *o, size_t off)
{
	append_attr(o, off, 200, 8);
}

static void wrong_family(struct out *o, size_t off)
{
	o->buf[off + NLMSG_HDRLEN] = AF_INET6; /* idiag_family, in a dump of AF_INET */
}

static void foreign_seq(struct out *o, size_t off)
{
	struct nlmsghdr h = get_hdr(o, off);

	h.nlmsg_seq += 1000;
	set_hdr(o, off, &h);
}

static void len_under(struct out *o, size_t off)
{
	struct nlmsghdr h = get_hdr(o, off);

	h.nlmsg_len = 8;
	set_hdr(o, off, &h);
}

static void len_zero(struct out *o, size_t off)
{
	struct nlmsghdr h = get_hdr(o, off);

	h.nlmsg_len = 0;
	set_hdr(o, off, &h);
}

/* A socket message cut to 20 bytes of inet_diag_msg: the data stays consistent, the type does not. */
static void short_diag(struct out *o, size_t off)
{
	struct nlmsghdr h = get_hdr(o, off);
	size_t old = NLMSG_ALIGN(h.nlmsg_len), keep = NLMSG_HDRLEN + 20;

	memmove(o->buf + off + keep, o->buf + off + old, o->len - off - old);
	o->len -= old - keep;
	h.nlmsg_len = (uint32_t)keep;
	set_hdr(o, off, &h);
}

static void dump_intr(struct out *o, size_t off)
{
	struct nlmsghdr h = get_hdr(o, off);

	h.nlmsg_flags |= NLM_F_DUMP_INTR;
	set_hdr(o, off, &h);
}

/* The first socket as the interrupted dump saw it: flagged, and with an inode that went away. */
static void stale_intr(struct out *o, size_t off)
{
	struct inet_diag_msg m;
	uint32_t inode = 4242;

	dump_intr(o, off);
	memcpy(&m, o->buf + off + NLMSG_HDRLEN, sizeof(m));
	m.idiag_inode = inode;
	memcpy(o->buf + off + NLMSG_HDRLEN, &m, sizeof(m));
}

/* Adds SHIFT to the sequence number of every message of the copy at BASE.. of the recording. */
static void shift_seq(struct out *o, size_t base, uint32_t shift)
{
	for (size_t off = base; off < o->len;) {
		struct nlmsghdr h = get_hdr(o, off);

		h.nlmsg_seq += shift;
		set_hdr(o, off, &h);
		off += NLMSG_ALIGN(h.nlmsg_len);
	}
}

/* Dump 0 interrupted and the whole listing run again with new sequence numbers, as the library does. */
static void v_intr_restart(struct out *o)
{
	size_t base;

	edit_first_sock(o, stale_intr);
	base = o->len;
	put_range(o, 0, nmsgs);
	shift_seq(o, base, (uint32_t)ndumps);
}

static void v_intr_last(struct out *o)
{
	edit_first_sock(o, dump_intr);
}

static void v_trunc_msg(struct out *o)
{
	put_range(o, 0, nmsgs);
	o->len = msgs[find(0, SOCK_DIAG_BY_FAMILY) + 1].off + 40;
}

static void v_trunc_header(struct out *o)
{
	put_range(o, 0, nmsgs);
	o->len = msgs[find(0, SOCK_DIAG_BY_FAMILY) + 1].off + 8;
}

/* The first socket message claims 4 bytes more than the rest of the file. */
static void v_len_over(struct out *o)
{
	size_t first = find(0, SOCK_DIAG_BY_FAMILY);
	struct nlmsghdr h;

	put_range(o, 0, nmsgs);
	h = get_hdr(o, msgs[first].off);
	h.nlmsg_len = (uint32_t)(o->len - msgs[first].off + 4);
	set_hdr(o, msgs[first].off, &h);
}

static void v_len_under(struct out *o)
{
	edit_first_sock(o, len_under);
}

static void v_len_zero(struct out *o)
{
	edit_first_sock(o, len_zero);
}

static void v_short_diag(struct out *o)
{
	edit_first_sock(o, short_diag);
}

static void v_eperm(struct out *o)
{
	error_for(o, 0, -EPERM);
}

/* No udp_diag: the kernel refuses both UDP dumps. */
static void v_udp_enoent(struct out *o)
{
	for (size_t i = 0; i < nmsgs; i++) {
		uint8_t proto = good[msgs[request_of(msgs[i].dump)].off + NLMSG_HDRLEN + 1];

		if (proto != IPPROTO_UDP || msgs[i].request)
			put_msg(o, i);
		else if (msgs[i].type == NLMSG_DONE)
			put_error(o, msgs[i].dump, -ENOENT);
	}
}

static void v_tcp_enoent(struct out *o)
{
	error_for(o, 0, -ENOENT);
}

static void v_error_ack(struct out *o)
{
	error_for(o, 0, 0);
}

/* An NLMSG_ERROR whose payload is 2 bytes: too short for its error code. */
static void v_error_short(struct out *o)
{
	size_t done = find(0, NLMSG_DONE);

	for (size_t i = 0; i < nmsgs; i++) {
		if (i == done) {
			struct nlmsghdr h;

			memcpy(&h, good + msgs[i].off, sizeof(h));
			h.nlmsg_type = NLMSG_ERROR;
			h.nlmsg_len = NLMSG_LENGTH(2);
			put(o, &h, sizeof(h));
			put(o, NULL, 4);
			continue;
		}
		put_msg(o, i);
	}
}

static void v_foreign_seq(struct out *o)
{
	edit_first_sock(o, foreign_seq);
}

static void v_reply_first(struct out *o)
{
	put_range(o, 1, nmsgs);
}

static void v_no_done(struct out *o)
{
	put_range(o, 0, nmsgs - 1);
}

static void v_no_done_mid(struct out *o)
{
	size_t done = find(0, NLMSG_DONE);

	put_range(o, 0, done);
	put_range(o, done + 1, nmsgs);
}

static void v_attr_len2(struct out *o)
{
	edit_first_sock(o, attr_len2);
}

static void v_attr_long(struct out *o)
{
	edit_first_sock(o, attr_long);
}

static void v_family(struct out *o)
{
	edit_first_sock(o, wrong_family);
}

/* Dump 0 fails part way: the kernel puts the dump's error in NLMSG_DONE's payload. */
static void v_done_error(struct out *o)
{
	size_t done = find(0, NLMSG_DONE);

	for (size_t i = 0; i < nmsgs; i++) {
		size_t off = put_msg(o, i);

		if (i == done) {
			int err = -EMSGSIZE;

			if (msgs[i].len < NLMSG_LENGTH(sizeof(err)))
				die("NLMSG_DONE without its payload");
			memcpy(o->buf + off + NLMSG_HDRLEN, &err, sizeof(err));
		}
	}
}

/* A message of a type no dump carries, with the right sequence number, before dump 0's NLMSG_DONE. */
static void v_unknown_type(struct out *o)
{
	size_t done = find(0, NLMSG_DONE);

	for (size_t i = 0; i < nmsgs; i++) {
		if (i == done) {
			struct nlmsghdr h;

			memcpy(&h, good + msgs[i].off, sizeof(h));
			h.nlmsg_type = 0x1234;
			h.nlmsg_len = NLMSG_LENGTH(4);
			put(o, &h, sizeof(h));
			put(o, NULL, 4);
		}
		put_msg(o, i);
	}
}

/* A socket message after the last NLMSG_DONE. */
static void v_after_done(struct out *o)
{
	put_range(o, 0, nmsgs);
	put_msg(o, find(ndumps - 1, NLMSG_DONE) - 1);
}

static void edit_request(struct out *o, int d, void (*edit)(uint8_t *req))
{
	size_t q = request_of(d);

	for (size_t i = 0; i < nmsgs; i++) {
		size_t off = put_msg(o, i);

		if (i == q)
			edit(o->buf + off);
	}
}

static void req_family(uint8_t *req)
{
	req[NLMSG_HDRLEN] = 7; /* sdiag_family: neither AF_INET nor AF_INET6 */
}

static void req_seq(uint8_t *req)
{
	struct nlmsghdr h;

	memcpy(&h, req, sizeof(h));
	h.nlmsg_seq = 1; /* the first dump's number again, without a restart's new number */
	memcpy(req, &h, sizeof(h));
}

static void v_request_family(struct out *o)
{
	edit_request(o, 0, req_family);
}

static void v_request_seq(struct out *o)
{
	edit_request(o, 1, req_seq);
}

/* A request of 20 bytes: a header and no inet_diag_req_v2. */
static void v_request_short(struct out *o)
{
	struct nlmsghdr h;

	memcpy(&h, good + msgs[0].off, sizeof(h));
	h.nlmsg_len = NLMSG_LENGTH(4);
	put(o, &h, sizeof(h));
	put(o, NULL, 4);
	put_range(o, 1, nmsgs);
}

/* Just the first dump: a small seed for the fuzzer. */
static void v_first_dump(struct out *o)
{
	put_range(o, 0, find(0, NLMSG_DONE) + 1);
}

static const struct variant {
	const char *name;
	void (*make)(struct out *);
} variants[] = {
	{ "ok-first-dump", v_first_dump },
	{ "ok-dump-intr-restart", v_intr_restart },
	{ "ok-dump-intr-last", v_intr_last },
	{ "ok-udp-enoent", v_udp_enoent },
	{ "bad-trunc-msg", v_trunc_msg },
	{ "bad-trunc-header", v_trunc_header },
	{ "bad-len-over", v_len_over },
	{ "bad-len-under", v_len_under },
	{ "bad-len-zero", v_len_zero },
	{ "bad-short-diag", v_short_diag },
	{ "bad-eperm", v_eperm },
	{ "bad-tcp-enoent", v_tcp_enoent },
	{ "bad-error-ack", v_error_ack },
	{ "bad-error-short", v_error_short },
	{ "bad-foreign-seq", v_foreign_seq },
	{ "bad-reply-first", v_reply_first },
	{ "bad-no-done", v_no_done },
	{ "bad-no-done-mid", v_no_done_mid },
	{ "bad-attr-len2", v_attr_len2 },
	{ "bad-attr-long", v_attr_long },
	{ "bad-family", v_family },
	{ "bad-done-error", v_done_error },
	{ "bad-unknown-type", v_unknown_type },
	{ "bad-after-done", v_after_done },
	{ "bad-request-family", v_request_family },
	{ "bad-request-seq", v_request_seq },
	{ "bad-request-short", v_request_short },
};

/* Splits GOOD into messages, trusting nothing: the recording itself may be damaged. */
static void split(void)
{
	size_t off = 0;

	ndumps = 0;
	while (off < good_len) {
		struct nlmsghdr h;
		struct msg *m = &msgs[nmsgs];

		if (nmsgs == MAX_MSGS || good_len - off < sizeof(h))
			die("recording too long or truncated");
		memcpy(&h, good + off, sizeof(h));
		if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > good_len - off)
			die("recording has a bad message length");
		m->off = off;
		m->len = h.nlmsg_len;
		m->type = h.nlmsg_type;
		m->request = h.nlmsg_flags & NLM_F_REQUEST;
		if (m->request && ++ndumps > MAX_DUMPS)
			die("too many dumps");
		if (ndumps == 0)
			die("the recording does not start with a request");
		m->dump = ndumps - 1;
		nmsgs++;
		off += NLMSG_ALIGN(h.nlmsg_len);
	}
	if (nmsgs < 2 || msgs[1].type != SOCK_DIAG_BY_FAMILY)
		die("the first dump must list a socket");
}

static void load(const char *path)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (!f || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) < 0)
		die("cannot read the recording");
	good = malloc((size_t)n);
	if (!good || fread(good, 1, (size_t)n, f) != (size_t)n)
		die("cannot read the recording");
	fclose(f);
	good_len = (size_t)n;
}

static void save(const char *dir, const char *name, const struct out *o)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.nldump", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(o->buf, 1, o->len, f) != o->len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	printf("%-40s %6zu bytes\n", path, o->len);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: mkdump GOOD.nldump OUTDIR\n");
		return 2;
	}
	load(argv[1]);
	split();
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		struct out o = { 0 };

		variants[i].make(&o);
		save(argv[2], variants[i].name, &o);
		free(o.buf);
	}
	free(good);
	return 0;
}
