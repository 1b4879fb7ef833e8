/*
 * The kernel's destroy notifications (the sock_diag multicast groups that
 * `ss -E` joins) and the exact lookup of one socket.  Every message is
 * validated as diag.c validates a dump: lengths, sender, type, attributes.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "portscope/diagmon.h"

/* Room for a burst of notifications when the caller names no size: some 10,000 of them. */
#define DEFAULT_RCVBUF (4 << 20)
/* One notification is under 400 bytes; a lookup's reply one message. */
#define MSG_BUF 8192

static unsigned group_bit(int group)
{
	return 1u << (group - 1);
}

static unsigned groups_of(unsigned protos, unsigned families)
{
	bool tcp = !protos || (protos & PSCOPE_DIAG_TCP), udp = !protos || (protos & PSCOPE_DIAG_UDP);
	bool v4 = !families || (families & PSCOPE_DIAG_V4), v6 = !families || (families & PSCOPE_DIAG_V6);
	unsigned g = 0;

	if (tcp && v4)
		g |= group_bit(SKNLGRP_INET_TCP_DESTROY);
	if (tcp && v6)
		g |= group_bit(SKNLGRP_INET6_TCP_DESTROY);
	if (udp && v4)
		g |= group_bit(SKNLGRP_INET_UDP_DESTROY);
	if (udp && v6)
		g |= group_bit(SKNLGRP_INET6_UDP_DESTROY);
	return g;
}

/*
 * A classic BPF program over the notification as the kernel queues it: the
 * netlink header, then struct inet_diag_msg, whose id.idiag_sport and
 * id.idiag_dport (network byte order, which BPF_H loads read) sit 4 and 6
 * bytes in.  Keeps the message if either is PORT.
 */
static int attach_port_filter(int fd, uint16_t port)
{
	const uint32_t sport = NLMSG_HDRLEN + offsetof(struct inet_diag_msg, id.idiag_sport);
	const uint32_t dport = NLMSG_HDRLEN + offsetof(struct inet_diag_msg, id.idiag_dport);
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, sport),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 2, 0),
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, dport),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ? -errno : 0;
}

int pscope_diagmon_open(unsigned protos, unsigned families, int port, int rcvbuf,
			int *rcvbuf_got)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int size = rcvbuf > 0 ? rcvbuf : DEFAULT_RCVBUF, rc;
	socklen_t len = sizeof(size);
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_SOCK_DIAG);

	if (fd < 0)
		return -errno;
	/* SO_RCVBUFFORCE passes net.core.rmem_max (CAP_NET_ADMIN, which joining needs anyway). */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (port >= 0 && (rc = attach_port_filter(fd, (uint16_t)port)) < 0)
		goto error;
	sa.nl_groups = groups_of(protos, families);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		goto error;
	}
	if (rcvbuf_got && getsockopt(fd, SOL_SOCKET, SO_RCVBUF, rcvbuf_got, &len) < 0)
		*rcvbuf_got = 0;
	return fd;
error:
	close(fd);
	return rc;
}

int pscope_diagmon_parse(const void *msg, size_t len, int proto, struct pscope_diag_sock *s)
{
	const uint8_t *p = msg;
	struct nlmsghdr h;
	struct inet_diag_msg m;
	size_t off, end;
	bool full = false;

	if (len < sizeof(h))
		return -PSCOPE_E_NL_TRUNC;
	memcpy(&h, p, sizeof(h));
	if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > len)
		return -PSCOPE_E_NL_TRUNC;
	if (h.nlmsg_type != SOCK_DIAG_BY_FAMILY)
		return -PSCOPE_E_NL_TYPE;
	end = h.nlmsg_len;
	if (end - NLMSG_HDRLEN < sizeof(m))
		return -PSCOPE_E_NL_SHORT;
	memcpy(&m, p + NLMSG_HDRLEN, sizeof(m));
	if (m.idiag_family != AF_INET && m.idiag_family != AF_INET6)
		return -PSCOPE_E_NL_FAMILY;
	for (off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(m)); off < end;) {
		struct rtattr rta;

		if (end - off < sizeof(rta))
			return -PSCOPE_E_NL_ATTR;
		memcpy(&rta, p + off, sizeof(rta));
		if (rta.rta_len < sizeof(rta) || rta.rta_len > end - off)
			return -PSCOPE_E_NL_ATTR;
		if (rta.rta_type == INET_DIAG_PROTOCOL) {
			if (rta.rta_len < RTA_LENGTH(1))
				return -PSCOPE_E_NL_ATTR;
			proto = p[off + RTA_LENGTH(0)];
		}
		/* Only a full socket has it (inet_diag_msg_attrs_fill()), as in diag.c. */
		full |= rta.rta_type == INET_DIAG_SHUTDOWN;
		off += RTA_ALIGN(rta.rta_len);
	}
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return -PSCOPE_E_NL_ATTR;
	memset(s, 0, sizeof(*s));
	s->family = m.idiag_family;
	s->proto = (uint8_t)proto;
	s->state = m.idiag_state;
	s->lport = ntohs(m.id.idiag_sport);
	s->rport = ntohs(m.id.idiag_dport);
	memcpy(s->laddr, m.id.idiag_src, s->family == AF_INET6 ? 16 : 4);
	memcpy(s->raddr, m.id.idiag_dst, s->family == AF_INET6 ? 16 : 4);
	s->ifindex = m.id.idiag_if;
	s->rqueue = m.idiag_rqueue;
	s->wqueue = m.idiag_wqueue;
	s->uid = m.idiag_uid;
	s->inode = m.idiag_inode;
	s->cookie = (uint64_t)m.id.idiag_cookie[0] | (uint64_t)m.id.idiag_cookie[1] << 32;
	/*
	 * A minisocket (TIME_WAIT, a request) has 0 for its queues and uid, and so
	 * has a notification, which the kernel fills without them
	 * (inet_diag_handler_get_info()): placeholders, not values.
	 */
	if (!full)
		s->absent |= PSCOPE_DIAG_NO_RQUEUE | PSCOPE_DIAG_NO_WQUEUE | PSCOPE_DIAG_NO_UID;
	if (!s->inode)
		s->absent |= PSCOPE_DIAG_NO_INODE;
	return 0;
}

/* The protocol a notification's group stands for, should its attribute be missing. */
static int proto_of_groups(uint32_t groups)
{
	if (groups & (group_bit(SKNLGRP_INET_UDP_DESTROY) | group_bit(SKNLGRP_INET6_UDP_DESTROY)))
		return IPPROTO_UDP;
	return IPPROTO_TCP;
}

int pscope_diagmon_read(int fd, const struct pscope_diag_filter *f, pscope_diag_cb cb,
			void *ctx, unsigned max)
{
	uint8_t buf[MSG_BUF] __attribute__((aligned(8)));
	unsigned seen = 0;
	int passed = 0;

	while (!max || seen < max) {
		struct sockaddr_nl from;
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof(from),
				      .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(fd, &msg, 0);
		size_t off = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? passed : -errno;
		if (msg.msg_flags & MSG_TRUNC)
			return -PSCOPE_E_NL_TRUNC;
		/* Only the kernel (port id 0) may speak on a multicast group of sock_diag. */
		if (from.nl_pid != 0)
			return -PSCOPE_E_NL_FOREIGN;
		while (off < (size_t)n) {
			struct pscope_diag_sock s;
			struct nlmsghdr h;
			int rc;

			if ((size_t)n - off < sizeof(h))
				return -PSCOPE_E_NL_TRUNC;
			memcpy(&h, buf + off, sizeof(h));
			rc = pscope_diagmon_parse(buf + off, (size_t)n - off, proto_of_groups(from.nl_groups), &s);
			if (rc < 0)
				return rc;
			seen++;
			off += NLMSG_ALIGN(h.nlmsg_len);
			if (f && !pscope_diag_match(f, &s))
				continue;
			passed++;
			if (cb(&s, ctx) < 0)
				return -ECANCELED;
		}
	}
	return passed;
}

int pscope_diag_lookup_open(void)
{
	struct timeval tv = { .tv_sec = 2 };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

int pscope_diag_lookup(int fd, const struct pscope_diag_sock *key, struct pscope_diag_sock *out)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} q;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	uint8_t buf[MSG_BUF] __attribute__((aligned(8)));
	static uint32_t seq;
	ssize_t n;
	size_t alen = key->family == AF_INET6 ? 16 : 4;

	memset(&q, 0, sizeof(q));
	q.nlh.nlmsg_len = sizeof(q);
	q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nlh.nlmsg_flags = NLM_F_REQUEST;
	q.nlh.nlmsg_seq = ++seq;
	q.r.sdiag_family = key->family;
	q.r.sdiag_protocol = key->proto;
	q.r.idiag_states = ~0u;
	q.r.id.idiag_sport = htons(key->lport);
	q.r.id.idiag_dport = htons(key->rport);
	memcpy(q.r.id.idiag_src, key->laddr, alen);
	memcpy(q.r.id.idiag_dst, key->raddr, alen);
	q.r.id.idiag_if = key->ifindex;
	q.r.id.idiag_cookie[0] = key->cookie ? (uint32_t)key->cookie : INET_DIAG_NOCOOKIE;
	q.r.id.idiag_cookie[1] = key->cookie ? (uint32_t)(key->cookie >> 32) : INET_DIAG_NOCOOKIE;
	if (sendto(fd, &q, sizeof(q), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	for (;;) {
		struct nlmsghdr h;
		struct nlmsgerr e;

		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		if ((size_t)n < sizeof(h))
			return -PSCOPE_E_NL_TRUNC;
		memcpy(&h, buf, sizeof(h));
		if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > (size_t)n)
			return -PSCOPE_E_NL_TRUNC;
		/* A reply to an earlier request that timed out: not ours any more. */
		if (h.nlmsg_seq != q.nlh.nlmsg_seq)
			continue;
		if (h.nlmsg_type == NLMSG_ERROR) {
			if (h.nlmsg_len < NLMSG_LENGTH(sizeof(e.error)))
				return -PSCOPE_E_NL_SHORT;
			memcpy(&e.error, buf + NLMSG_HDRLEN, sizeof(e.error));
			if (e.error == -ENOENT || e.error == -ESTALE)
				return 0;
			return e.error < 0 ? e.error : -PSCOPE_E_NL_TYPE;
		}
		{
			int rc = pscope_diagmon_parse(buf, (size_t)n, key->proto, out);

			if (rc < 0)
				return rc;
		}
		out->side = key->side;
		return 1;
	}
}
