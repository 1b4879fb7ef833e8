/*
 * The kernel's socket list through NETLINK_SOCK_DIAG: request, receive,
 * validate, parse, filter.  A recorded dump is the same bytes, requests
 * included, so replay runs through the same validation as a live reply.
 */
#include <ctype.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "portscope/diag.h"
#include "portscope/netns.h"
#include "portscope/net.h"

/* A dump is restarted this many times when the kernel says it was interrupted. */
#define MAX_RESTARTS 3
/* The kernel sends at most 32 KiB of a dump per read; twice that leaves room. */
#define RECV_BUF 65536

static const char *const state_names[] = {
	[TCP_ESTABLISHED] = "ESTABLISHED", [TCP_SYN_SENT] = "SYN_SENT",
	[TCP_SYN_RECV] = "SYN_RECV",	   [TCP_FIN_WAIT1] = "FIN_WAIT1",
	[TCP_FIN_WAIT2] = "FIN_WAIT2",	   [TCP_TIME_WAIT] = "TIME_WAIT",
	[TCP_CLOSE] = "CLOSE",		   [TCP_CLOSE_WAIT] = "CLOSE_WAIT",
	[TCP_LAST_ACK] = "LAST_ACK",	   [TCP_LISTEN] = "LISTEN",
	[TCP_CLOSING] = "CLOSING",	   [12] = "NEW_SYN_RECV",
};

const char *pscope_diag_state_name(const struct pscope_diag_sock *s)
{
	if (s->proto == IPPROTO_UDP && s->state == TCP_CLOSE)
		return "UNCONN";
	/* A request in a SYN queue: the kernel's /proc and ss both call it SYN_RECV. */
	if (s->state == 12)
		return "SYN_RECV";
	if (s->state < sizeof(state_names) / sizeof(state_names[0]) && state_names[s->state])
		return state_names[s->state];
	return "UNKNOWN";
}

#define BIT(st) (1u << (st))
#define SYN_RECV_BITS (BIT(TCP_SYN_RECV) | BIT(12)) /* 12: TCP_NEW_SYN_RECV, a request */
#define BUCKET_BITS (SYN_RECV_BITS | BIT(TCP_TIME_WAIT))

/* ss(8)'s STATE-FILTER names and groups (scan_state() in iproute2's misc/ss.c), then portscope's own. */
static const struct {
	const char *name;
	uint32_t mask;
} state_filters[] = {
	{ "established", BIT(TCP_ESTABLISHED) },
	{ "syn-sent", BIT(TCP_SYN_SENT) },
	{ "syn-recv", SYN_RECV_BITS },
	{ "fin-wait-1", BIT(TCP_FIN_WAIT1) },
	{ "fin-wait-2", BIT(TCP_FIN_WAIT2) },
	{ "time-wait", BIT(TCP_TIME_WAIT) },
	{ "closed", BIT(TCP_CLOSE) },
	{ "close-wait", BIT(TCP_CLOSE_WAIT) },
	{ "last-ack", BIT(TCP_LAST_ACK) },
	{ "listening", BIT(TCP_LISTEN) },
	{ "closing", BIT(TCP_CLOSING) },
	{ "all", PSCOPE_DIAG_STATES_ALL },
	{ "connected", PSCOPE_DIAG_STATES_ALL & ~(BIT(TCP_LISTEN) | BIT(TCP_CLOSE)) },
	{ "synchronized", PSCOPE_DIAG_STATES_ALL & ~(BIT(TCP_LISTEN) | BIT(TCP_CLOSE) | BIT(TCP_SYN_SENT)) },
	{ "bucket", BUCKET_BITS },
	{ "big", PSCOPE_DIAG_STATES_ALL & ~BUCKET_BITS },
	/* ss's other spellings (scan_state()) */
	{ "syn-rcv", SYN_RECV_BITS },
	{ "unconnected", BIT(TCP_CLOSE) },
	/* portscope's own names, which clash with none of ss's; the kernel's names (FIN_WAIT1) match too */
	{ "listen", BIT(TCP_LISTEN) },
	{ "close", BIT(TCP_CLOSE) },
	{ "unconn", BIT(TCP_CLOSE) },
};

const char pscope_diag_state_names[] =
	"established, syn-sent, syn-recv, fin-wait-1, fin-wait-2, time-wait, closed, close-wait, "
	"last-ack, listening, closing, all, connected, synchronized, bucket, big, syn-rcv, unconnected, "
	"listen, close, unconn";

enum pscope_role pscope_diag_role(const struct pscope_diag_sock *s)
{
	if (s->proto == IPPROTO_TCP && s->state == TCP_LISTEN)
		return PSCOPE_ROLE_LISTENER;
	if (s->side == PSCOPE_SIDE_REMOTE)
		return PSCOPE_ROLE_CLIENT;
	if (s->side != PSCOPE_SIDE_LOCAL)
		return PSCOPE_ROLE_NONE;
	if (s->proto == IPPROTO_UDP)
		return s->state == TCP_CLOSE ? PSCOPE_ROLE_BOUND : PSCOPE_ROLE_CONNECTED;
	if (s->state == TCP_SYN_RECV || s->state == 12 /* TCP_NEW_SYN_RECV */)
		return s->inode ? PSCOPE_ROLE_ACCEPTED : PSCOPE_ROLE_HANDSHAKE;
	if (s->inode)
		return PSCOPE_ROLE_ACCEPTED;
	if (s->state == TCP_ESTABLISHED || s->state == TCP_CLOSE_WAIT)
		return PSCOPE_ROLE_QUEUED;
	return PSCOPE_ROLE_ORPHANED;
}

const char *pscope_diag_role_name(enum pscope_role r)
{
	static const char *const names[PSCOPE_ROLES] = {
		"listener", "accepted", "queued", "handshake", "orphaned", "bound", "connected", "client",
	};

	return r < PSCOPE_ROLES ? names[r] : NULL;
}

uint32_t pscope_diag_state_mask(const char *name)
{
	for (size_t i = 0; i < sizeof(state_filters) / sizeof(state_filters[0]); i++) {
		const char *a = state_filters[i].name, *b = name;

		for (; *a; a++, b++) {
			/* The kernel's FIN_WAIT1 for ss's fin-wait-1: no '-' before the digit. */
			if (*a == '-' && a[1] >= '0' && a[1] <= '9' && *b == a[1])
				a++;
			if (tolower((unsigned char)*b) != *a && !(*a == '-' && *b == '_'))
				break;
		}
		if (!*a && !*b)
			return state_filters[i].mask;
	}
	return 0;
}

int pscope_diag_proc_filter_ok(const struct pscope_diag_filter *f)
{
	if (f->has_addr && f->addr.u.sa.sa_family == AF_INET6 && f->addr.u.sin6.sin6_scope_id)
		return -PSCOPE_E_PROC_FILTER;
	return 0;
}

static void to_addr(int family, const uint8_t *ip, uint16_t port, uint32_t ifindex,
		    struct pscope_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (family == AF_INET6) {
		a->len = sizeof(a->u.sin6);
		a->u.sin6.sin6_family = AF_INET6;
		a->u.sin6.sin6_port = htons(port);
		memcpy(&a->u.sin6.sin6_addr, ip, 16);
		if (IN6_IS_ADDR_LINKLOCAL(&a->u.sin6.sin6_addr))
			a->u.sin6.sin6_scope_id = ifindex;
	} else {
		a->len = sizeof(a->u.sin);
		a->u.sin.sin_family = AF_INET;
		a->u.sin.sin_port = htons(port);
		memcpy(&a->u.sin.sin_addr, ip, 4);
	}
}

void pscope_diag_local(const struct pscope_diag_sock *s, struct pscope_addr *a)
{
	to_addr(s->family, s->laddr, s->lport, s->ifindex, a);
}

void pscope_diag_peer(const struct pscope_diag_sock *s, struct pscope_addr *a)
{
	to_addr(s->family, s->raddr, s->rport, s->ifindex, a);
}

/*
 * True if IP (of socket S's family) is the filter's address, IPv4-mapped counting
 * as IPv4.  A link-local address matches on the socket's interface when the
 * filter names a scope, and on any interface when it does not.
 */
static bool addr_matches(const struct pscope_diag_filter *f, const struct pscope_diag_sock *s,
			 const uint8_t *ip)
{
	struct pscope_addr a, want = f->addr;

	to_addr(s->family, ip, 0, s->ifindex, &a);
	pscope_addr_set_port(&want, 0);
	if (a.u.sa.sa_family == AF_INET6 && want.u.sa.sa_family == AF_INET6 &&
	    !want.u.sin6.sin6_scope_id)
		a.u.sin6.sin6_scope_id = 0;
	return pscope_addr_same(&a, &want);
}

bool pscope_diag_match(const struct pscope_diag_filter *f, struct pscope_diag_sock *s)
{
	bool local, remote;

	if (f->states && (s->state > 31 || !(f->states & (1u << s->state))))
		return false;
	if (f->families && !(f->families & (s->family == AF_INET6 ? PSCOPE_DIAG_V6 : PSCOPE_DIAG_V4)))
		return false;
	if (f->protos && !(f->protos & (s->proto == IPPROTO_UDP ? PSCOPE_DIAG_UDP : PSCOPE_DIAG_TCP)))
		return false;
	if (f->port < 0) {
		s->side = PSCOPE_SIDE_ANY;
		return !f->has_addr || addr_matches(f, s, s->laddr) || addr_matches(f, s, s->raddr);
	}
	local = s->lport == f->port && (!f->has_addr || addr_matches(f, s, s->laddr));
	if (f->remote_only && local) /* the local half has it */
		return false;
	remote = !f->local_only && s->rport == f->port &&
		 (!f->has_addr || addr_matches(f, s, s->raddr));
	/* A listener's peer is all zeros, port 0: it can only match on its local side. */
	s->side = local ? PSCOPE_SIDE_LOCAL : PSCOPE_SIDE_REMOTE;
	return local || remote;
}

/* One dump in progress: what was asked, and where the reply stands. */
struct session {
	const struct pscope_diag_filter *f;
	pscope_diag_cb cb;
	void *ctx;
	struct pscope_diag_stats *st;
	int count;
	uint32_t seq;
	uint32_t pid;
	bool check_pid;
	int family;		/* AF_UNSPEC: both, in one TCPDIAG_GETSOCK walk */
	int proto;
	bool compat_refused;	/* the kernel refused TCPDIAG_GETSOCK: one dump per family */
	int count_at_start;	/* COUNT when the current dump began */
	bool done;
	bool intr;
	unsigned seen;		/* replay: the dumps met since the last restart */
};

/* Errors of a kernel that lacks what was asked for. */
static bool unsupported(int rc)
{
	return rc == -ENOENT || rc == -EINVAL || rc == -EOPNOTSUPP;
}

/* Protocols a kernel may lack (udp_diag is a module) are skipped, not fatal. */
static bool proto_missing(const struct session *ss, int rc)
{
	return ss->proto == IPPROTO_UDP && unsupported(rc);
}

/*
 * A kernel that refuses the compat request (TCPDIAG_GETSOCK) before listing
 * anything gets one dump per family instead.
 */
static bool refuses_compat(const struct session *ss, int rc)
{
	return ss->family == AF_UNSPEC && unsupported(rc) && ss->count == ss->count_at_start;
}

static int parse_sock(struct session *ss, const uint8_t *p, size_t len)
{
	struct inet_diag_msg m;
	struct pscope_diag_sock s = { 0 };
	size_t off = NLMSG_ALIGN(sizeof(m));
	bool full = false;

	if (len < sizeof(m))
		return -PSCOPE_E_NL_SHORT;
	memcpy(&m, p, sizeof(m));
	if (ss->family == AF_UNSPEC ? m.idiag_family != AF_INET && m.idiag_family != AF_INET6
				    : m.idiag_family != ss->family)
		return -PSCOPE_E_NL_FAMILY;
	/* Each attribute must fit: a bad length means a bad reply. */
	while (off < len) {
		struct rtattr rta;

		if (len - off < sizeof(rta))
			return -PSCOPE_E_NL_ATTR;
		memcpy(&rta, p + off, sizeof(rta));
		if (rta.rta_len < sizeof(rta) || rta.rta_len > len - off)
			return -PSCOPE_E_NL_ATTR;
		/* Only a full socket has it (inet_diag_msg_attrs_fill()); a minisocket has none. */
		full |= rta.rta_type == INET_DIAG_SHUTDOWN;
		off += RTA_ALIGN(rta.rta_len);
	}
	s.family = m.idiag_family;
	s.proto = (uint8_t)ss->proto;
	s.state = m.idiag_state;
	s.lport = ntohs(m.id.idiag_sport);
	s.rport = ntohs(m.id.idiag_dport);
	memcpy(s.laddr, m.id.idiag_src, s.family == AF_INET6 ? 16 : 4);
	memcpy(s.raddr, m.id.idiag_dst, s.family == AF_INET6 ? 16 : 4);
	s.ifindex = m.id.idiag_if;
	s.rqueue = m.idiag_rqueue;
	s.wqueue = m.idiag_wqueue;
	s.uid = m.idiag_uid;
	s.inode = m.idiag_inode;
	s.cookie = (uint64_t)m.id.idiag_cookie[0] | (uint64_t)m.id.idiag_cookie[1] << 32;
	/* A TIME_WAIT or request minisocket: the kernel writes 0 for its queues and uid. */
	if (!full)
		s.absent |= PSCOPE_DIAG_NO_RQUEUE | PSCOPE_DIAG_NO_WQUEUE | PSCOPE_DIAG_NO_UID;
	if (!s.inode)
		s.absent |= PSCOPE_DIAG_NO_INODE;
	if (!pscope_diag_match(ss->f, &s))
		return 0;
	ss->count++;
	return ss->cb(&s, ss->ctx) < 0 ? -ECANCELED : 0;
}

/* Validates and parses one reply message of the current dump. */
static int parse_reply(struct session *ss, const struct nlmsghdr *h, const uint8_t *payload)
{
	size_t plen = h->nlmsg_len - NLMSG_HDRLEN;
	struct nlmsgerr e;

	if (ss->seq == 0)
		return -PSCOPE_E_NL_FOREIGN;
	if (ss->done)
		return -PSCOPE_E_NL_TYPE;
	if (h->nlmsg_seq != ss->seq || (ss->check_pid && h->nlmsg_pid != ss->pid))
		return -PSCOPE_E_NL_FOREIGN;
	if (h->nlmsg_flags & NLM_F_DUMP_INTR)
		ss->intr = true;
	ss->st->messages++;
	switch (h->nlmsg_type) {
	case NLMSG_DONE:
		/* A dump that fails part way reports its error in NLMSG_DONE's payload. */
		if (plen >= sizeof(e.error)) {
			memcpy(&e.error, payload, sizeof(e.error));
			if (e.error < 0)
				return e.error > -PSCOPE_ERR_BASE ? e.error : -PSCOPE_E_NL_TYPE;
		}
		ss->done = true;
		return 0;
	case NLMSG_ERROR:
		if (plen < sizeof(e.error))
			return -PSCOPE_E_NL_SHORT;
		memcpy(&e.error, payload, sizeof(e.error));
		/* An error of 0 is an acknowledgement, which a dump never sends. */
		if (e.error >= 0 || e.error <= -PSCOPE_ERR_BASE)
			return -PSCOPE_E_NL_TYPE;
		if (refuses_compat(ss, e.error)) {
			/* Nothing was listed: the per-family requests follow (a replay's seen bits too). */
			ss->done = true;
			ss->compat_refused = true;
			ss->seen &= ~3u;
			return 0;
		}
		if (proto_missing(ss, e.error)) {
			ss->done = true;
			ss->st->skipped_protos++;
			return 0;
		}
		return e.error;
	case SOCK_DIAG_BY_FAMILY:
	case TCPDIAG_GETSOCK:
		/* Each request's replies carry its own type. */
		if (h->nlmsg_type != (ss->family == AF_UNSPEC ? TCPDIAG_GETSOCK : SOCK_DIAG_BY_FAMILY))
			return -PSCOPE_E_NL_TYPE;
		return parse_sock(ss, payload, plen);
	default:
		return -PSCOPE_E_NL_TYPE;
	}
}

/*
 * Walks the netlink messages in BUF.  REQUEST, if not NULL, receives requests
 * found in the data (a recorded dump); live replies have none.
 */
static int parse_stream(struct session *ss, const uint8_t *buf, size_t len,
			int (*request)(struct session *, const uint8_t *, size_t))
{
	while (len > 0) {
		struct nlmsghdr h;
		size_t step;
		int rc;

		if (len < sizeof(h))
			return -PSCOPE_E_NL_TRUNC;
		memcpy(&h, buf, sizeof(h));
		if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > len)
			return -PSCOPE_E_NL_TRUNC;
		if (request && (h.nlmsg_flags & NLM_F_REQUEST))
			rc = request(ss, buf, h.nlmsg_len);
		else
			rc = parse_reply(ss, &h, buf + NLMSG_HDRLEN);
		if (rc < 0)
			return rc;
		step = NLMSG_ALIGN(h.nlmsg_len);
		if (step > len)
			step = len;
		buf += step;
		len -= step;
	}
	return 0;
}

/* A request: the header, the request proper (v2 or compat), the port filter. */
struct request {
	uint8_t b[NLMSG_ALIGN(NLMSG_HDRLEN) + NLMSG_ALIGN(sizeof(struct inet_diag_req)) +
		  RTA_LENGTH(5 * sizeof(struct inet_diag_bc_op))] __attribute__((aligned(8)));
};

/*
 * Builds the request for one dump.  FAMILY AF_UNSPEC (TCP only) is the compat
 * request TCPDIAG_GETSOCK with a struct inet_diag_req: inet_diag_dump_compat()
 * in net/ipv4/inet_diag.c runs it with family AF_UNSPEC, so that one walk of the
 * TCP tables gives the sockets of both families, where SOCK_DIAG_BY_FAMILY with
 * a struct inet_diag_req_v2 walks them once per family (and most of a large
 * listing's time is the kernel's walk).
 *
 * The port filter is inet_diag bytecode: a condition goes on by "yes" bytes when
 * true and "no" bytes when false; landing exactly on the end accepts, and jumping
 * 4 bytes past it rejects.  The kernel checks every "no" target by walking the
 * "yes" chain from the start, so the true path runs straight through and "or" is
 * a JMP over the second test, as ss does it.
 */
static size_t build_request(struct request *q, const struct pscope_diag_filter *f, int family,
			    int proto, uint32_t seq)
{
	struct nlmsghdr nlh = { .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = seq };
	struct inet_diag_bc_op ops[5];
	size_t bc = 0, rlen;
	/*
	 * Never ~0: in recent kernels bit 13 (TCP_BOUND_INACTIVE) asks for TCP sockets
	 * that are only bound, which neither /proc/net nor ss's "all" lists.
	 */
	uint32_t states = (f->states ? f->states : ~0u) & PSCOPE_DIAG_STATES_ALL;

	memset(q, 0, sizeof(*q));
	if (family == AF_UNSPEC) {
		struct inet_diag_req r = { .idiag_family = AF_UNSPEC, .idiag_states = states };

		nlh.nlmsg_type = TCPDIAG_GETSOCK;
		rlen = sizeof(r);
		memcpy(q->b + NLMSG_HDRLEN, &r, rlen);
	} else {
		struct inet_diag_req_v2 r = { .sdiag_family = (uint8_t)family,
					      .sdiag_protocol = (uint8_t)proto,
					      .idiag_states = states };

		nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
		rlen = sizeof(r);
		memcpy(q->b + NLMSG_HDRLEN, &r, rlen);
	}
	if (f->port >= 0) {
		uint16_t port = (uint16_t)f->port;
		struct rtattr rta = { .rta_type = INET_DIAG_REQ_BYTECODE };

		if (f->local_only) {
			/* sport == P */
			ops[0] = (struct inet_diag_bc_op){ INET_DIAG_BC_S_EQ, 8, 12 };
			ops[1] = (struct inet_diag_bc_op){ 0, 0, port };
			bc = 8;
		} else if (f->remote_only) {
			/* dport == P (a socket whose sport is P too is dropped in pscope_diag_match()) */
			ops[0] = (struct inet_diag_bc_op){ INET_DIAG_BC_D_EQ, 8, 12 };
			ops[1] = (struct inet_diag_bc_op){ 0, 0, port };
			bc = 8;
		} else {
			/* sport == P ? accept : (dport == P ? accept : reject) */
			ops[0] = (struct inet_diag_bc_op){ INET_DIAG_BC_S_EQ, 8, 12 };
			ops[1] = (struct inet_diag_bc_op){ 0, 0, port };
			ops[2] = (struct inet_diag_bc_op){ INET_DIAG_BC_JMP, 4, 12 };
			ops[3] = (struct inet_diag_bc_op){ INET_DIAG_BC_D_EQ, 8, 12 };
			ops[4] = (struct inet_diag_bc_op){ 0, 0, port };
			bc = 20;
		}
		rta.rta_len = (unsigned short)RTA_LENGTH(bc);
		memcpy(q->b + NLMSG_LENGTH(rlen), &rta, sizeof(rta));
		memcpy(q->b + NLMSG_LENGTH(rlen) + RTA_LENGTH(0), ops, bc);
	}
	nlh.nlmsg_len = (uint32_t)(NLMSG_LENGTH(rlen) + (bc ? RTA_LENGTH(bc) : 0));
	memcpy(q->b, &nlh, sizeof(nlh));
	return nlh.nlmsg_len;
}

/*
 * The dumps to run, in order: TCP then UDP, IPv4 then IPv6, as the filter allows;
 * TCP of both families in one walk (AF_UNSPEC) when COMPAT.
 */
static int plan(const struct pscope_diag_filter *f, bool compat, int fam[4], int proto[4])
{
	int n = 0;

	for (int p = 0; p < 2; p++) {
		if (f->protos && !(f->protos & (p ? PSCOPE_DIAG_UDP : PSCOPE_DIAG_TCP)))
			continue;
		if (p == 0 && compat && !f->families) {
			fam[n] = AF_UNSPEC;
			proto[n++] = IPPROTO_TCP;
			continue;
		}
		for (int v = 0; v < 2; v++) {
			if (f->families && !(f->families & (v ? PSCOPE_DIAG_V6 : PSCOPE_DIAG_V4)))
				continue;
			fam[n] = v ? AF_INET6 : AF_INET;
			proto[n++] = p ? IPPROTO_UDP : IPPROTO_TCP;
		}
	}
	return n;
}

static int open_netlink(int nsfd, uint32_t *pid)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	socklen_t len = sizeof(sa);
	struct timeval tv = { .tv_sec = 10 };
	int fd = pscope_netns_socket(nsfd, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

	if (fd < 0)
		return fd;
	/* A kernel that never finishes its dump must not hang us. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	*pid = sa.nl_pid;
	return fd;
}

/* Runs one dump on FD and feeds the replies through the session. */
static int run_dump(struct session *ss, int fd, int dump_fd, uint8_t *buf)
{
	struct request q;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	size_t qlen = build_request(&q, ss->f, ss->family, ss->proto, ss->seq);
	int rc;

	if (sendto(fd, q.b, qlen, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	if (dump_fd >= 0 && (rc = pscope_write_all(dump_fd, q.b, NLMSG_ALIGN(qlen))) < 0)
		return rc;
	while (!ss->done) {
		struct sockaddr_nl from;
		struct iovec iov = { buf, RECV_BUF };
		struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof(from),
				      .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(fd, &msg, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -PSCOPE_E_NL_NODONE : -errno;
		if (n == 0)
			return -PSCOPE_E_NL_NODONE;
		if (msg.msg_flags & MSG_TRUNC)
			return -PSCOPE_E_NL_TRUNC;
		if (from.nl_pid != 0)
			return -PSCOPE_E_NL_FOREIGN;
		if (dump_fd >= 0 && (rc = pscope_write_all(dump_fd, buf, (size_t)n)) < 0)
			return rc;
		rc = parse_stream(ss, buf, (size_t)n, NULL);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void start_dump(struct session *ss, int family, int proto, uint32_t seq)
{
	ss->family = family;
	ss->proto = proto;
	ss->seq = seq;
	ss->done = false;
	ss->count_at_start = ss->count;
}

/* Forgets what was listed so far: the kernel's list changed while it was being read. */
static int restart(struct session *ss)
{
	ss->st->restarts++;
	ss->count = 0;
	ss->intr = false;
	return ss->cb(NULL, ss->ctx) < 0 ? -ECANCELED : 0;
}

int pscope_diag_netlink(const struct pscope_diag_filter *f, pscope_diag_cb cb, void *ctx,
			int dump_fd, struct pscope_diag_stats *st)
{
	return pscope_diag_netlink_in(-1, f, cb, ctx, dump_fd, st);
}

int pscope_diag_netlink_in(int nsfd, const struct pscope_diag_filter *f, pscope_diag_cb cb,
			   void *ctx, int dump_fd, struct pscope_diag_stats *st)
{
	/* On the stack, not static: two listings may run at once, in two threads. */
	uint8_t buf[RECV_BUF] __attribute__((aligned(8)));
	struct pscope_diag_stats dummy;
	struct session ss = { .f = f, .cb = cb, .ctx = ctx, .st = st ? st : &dummy };
	int fam[4], proto[4], n = plan(f, true, fam, proto), fd, rc = 0;
	uint32_t seq = 0;

	memset(ss.st, 0, sizeof(*ss.st));
	fd = open_netlink(nsfd, &ss.pid);
	if (fd < 0)
		return fd;
	ss.check_pid = true;
	for (int attempt = 0;; attempt++) {
		for (int i = 0; i < n && rc == 0; i++) {
			start_dump(&ss, fam[i], proto[i], ++seq);
			rc = run_dump(&ss, fd, dump_fd, buf);
			/*
			 * A kernel without the compat request (it is the first dump, so
			 * nothing was listed yet): one walk per family, as ss does.
			 */
			if (rc == 0 && ss.compat_refused) {
				ss.compat_refused = false;
				n = plan(f, false, fam, proto);
				i = -1;
			}
		}
		if (rc < 0 || !ss.intr)
			break;
		if (attempt == MAX_RESTARTS) {
			ss.st->inconsistent = true;
			break;
		}
		rc = restart(&ss);
		if (rc < 0)
			break;
	}
	close(fd);
	return rc < 0 ? rc : ss.count;
}

/* A request in a recorded dump: the previous dump must be complete; this one starts. */
static int replay_request(struct session *ss, const uint8_t *p, size_t len)
{
	struct nlmsghdr h;
	struct inet_diag_req_v2 r;
	struct inet_diag_req r1;
	unsigned bits;

	if (ss->seq && !ss->done)
		return -PSCOPE_E_NL_NODONE;
	if (len < NLMSG_HDRLEN)
		return -PSCOPE_E_NL_REQUEST;
	memcpy(&h, p, sizeof(h));
	if (h.nlmsg_type == TCPDIAG_GETSOCK) {
		/* The compat request: TCP of both families in one walk (build_request()). */
		if (len < NLMSG_LENGTH(sizeof(r1)))
			return -PSCOPE_E_NL_REQUEST;
		memcpy(&r1, p + NLMSG_HDRLEN, sizeof(r1));
		if (r1.idiag_family != AF_UNSPEC)
			return -PSCOPE_E_NL_REQUEST;
		r.sdiag_family = AF_UNSPEC;
		r.sdiag_protocol = IPPROTO_TCP;
		bits = 3;
	} else {
		if (len < NLMSG_LENGTH(sizeof(r)))
			return -PSCOPE_E_NL_REQUEST;
		memcpy(&r, p + NLMSG_HDRLEN, sizeof(r));
		if (h.nlmsg_type != SOCK_DIAG_BY_FAMILY ||
		    (r.sdiag_family != AF_INET && r.sdiag_family != AF_INET6) ||
		    (r.sdiag_protocol != IPPROTO_TCP && r.sdiag_protocol != IPPROTO_UDP))
			return -PSCOPE_E_NL_REQUEST;
		bits = 1u << ((r.sdiag_protocol == IPPROTO_UDP) * 2 + (r.sdiag_family == AF_INET6));
	}
	/* A dump that comes round to its first request again is a restart after NLM_F_DUMP_INTR. */
	if (ss->seq && h.nlmsg_seq <= ss->seq)
		return -PSCOPE_E_NL_REQUEST;
	if (ss->seen & bits) {
		int rc = restart(ss);

		if (rc < 0)
			return rc;
		ss->seen = 0;
	}
	ss->seen |= bits;
	start_dump(ss, r.sdiag_family, r.sdiag_protocol, h.nlmsg_seq);
	return 0;
}

int pscope_diag_replay(const void *buf, size_t len, const struct pscope_diag_filter *f,
		       pscope_diag_cb cb, void *ctx, struct pscope_diag_stats *st)
{
	struct pscope_diag_stats dummy;
	struct session ss = { .f = f, .cb = cb, .ctx = ctx, .st = st ? st : &dummy };
	int rc;

	memset(ss.st, 0, sizeof(*ss.st));
	/* The first message must be a request: replies before any request are foreign. */
	ss.done = true;
	rc = parse_stream(&ss, buf, len, replay_request);
	if (rc == 0 && (ss.seq == 0 || !ss.done))
		rc = -PSCOPE_E_NL_NODONE;
	if (rc == 0 && ss.intr)
		ss.st->inconsistent = true;
	return rc < 0 ? rc : ss.count;
}
