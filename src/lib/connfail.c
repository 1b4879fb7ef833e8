/* How a TCP connect failed: the socket's error queue, its state, and the errno. */
#include <errno.h>
#include <ifaddrs.h>
#include <linux/errqueue.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <netinet/icmp6.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "portscope/connfail.h"
#include "portscope/net.h"
#include "portscope/sock.h"

int pscope_recverr(int fd, int family, bool on)
{
	int v = on;

	/* An IPv6 socket sends to an IPv4-mapped address over IPv4: its ICMP is IPv4's. */
	if (setsockopt(fd, IPPROTO_IP, IP_RECVERR, &v, sizeof(v)) < 0 && family == AF_INET)
		return -errno;
	if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &v, sizeof(v)) < 0)
		return -errno;
	return 0;
}

/* True if A is an address of one of this host's interfaces (getifaddrs(3)). */
static bool is_local(const struct pscope_addr *a)
{
	struct ifaddrs *list, *i;
	bool found = false;

	if (getifaddrs(&list) < 0)
		return false;
	for (i = list; i && !found; i = i->ifa_next) {
		const struct sockaddr *sa = i->ifa_addr;

		if (!sa || sa->sa_family != a->u.sa.sa_family)
			continue;
		if (sa->sa_family == AF_INET)
			found = ((const struct sockaddr_in *)sa)->sin_addr.s_addr == a->u.sin.sin_addr.s_addr;
		else
			found = !memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr, &a->u.sin6.sin6_addr,
					sizeof(struct in6_addr));
	}
	freeifaddrs(list);
	return found;
}

/* The ICMP error in one control message, if it is one.  Returns true if it was. */
static bool icmp_of(const struct cmsghdr *cm, struct pscope_icmp *icmp)
{
	struct sock_extended_err ee;
	const struct sockaddr *off;
	bool v4 = cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_RECVERR;
	bool v6 = cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_RECVERR;

	if ((!v4 && !v6) || cm->cmsg_len < CMSG_LEN(sizeof(ee)))
		return false;
	memcpy(&ee, CMSG_DATA(cm), sizeof(ee));
	if (ee.ee_origin != SO_EE_ORIGIN_ICMP && ee.ee_origin != SO_EE_ORIGIN_ICMP6)
		return false;
	memset(icmp, 0, sizeof(*icmp));
	icmp->family = ee.ee_origin == SO_EE_ORIGIN_ICMP ? AF_INET : AF_INET6;
	icmp->type = ee.ee_type;
	icmp->code = ee.ee_code;
	icmp->info = ee.ee_info;
	icmp->err = (int)ee.ee_errno;
	/* The offender's address follows the struct in the same message (SO_EE_OFFENDER). */
	off = (const struct sockaddr *)(CMSG_DATA(cm) + sizeof(ee));
	if (off->sa_family == AF_INET &&
	    cm->cmsg_len >= CMSG_LEN(sizeof(ee) + sizeof(struct sockaddr_in)))
		pscope_addr_set(&icmp->offender, off, sizeof(struct sockaddr_in));
	else if (off->sa_family == AF_INET6 &&
		 cm->cmsg_len >= CMSG_LEN(sizeof(ee) + sizeof(struct sockaddr_in6)))
		pscope_addr_set(&icmp->offender, off, sizeof(struct sockaddr_in6));
	if (icmp->offender.len)
		icmp->offender_local = is_local(&icmp->offender);
	return true;
}

int pscope_icmp_read(int fd, struct pscope_icmp *icmp)
{
	for (;;) {
		union {
			char buf[CMSG_SPACE(sizeof(struct sock_extended_err) +
					    sizeof(struct sockaddr_in6)) + 64];
			struct cmsghdr align;
		} ctl;
		char data[64];
		struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
		struct cmsghdr *cm;

		if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		}
		for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
			if (icmp_of(cm, icmp))
				return 1;
	}
}

/* SYNs sent so far: the first and its retransmissions (TCP_INFO), or 0 if unknown. */
static unsigned syns_sent(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return 0;
	return ti.tcpi_total_retrans + 1;
}

/* Host or address unreachable: what this host sends itself when the link's neighbour does not answer. */
static bool is_neigh_code(const struct pscope_icmp *icmp)
{
	if (icmp->family == AF_INET)
		return icmp->type == ICMP_DEST_UNREACH && icmp->code == ICMP_HOST_UNREACH;
	return icmp->type == ICMP6_DST_UNREACH && icmp->code == ICMP6_DST_UNREACH_ADDR;
}

struct nexthop {
	int family;
	uint8_t addr[16];	/* the gateway, or the destination itself when it is on the link */
	int oif;
	bool found;		/* the route was read (route) or the neighbour is failed (neigh) */
};

typedef void (*rtnl_cb)(const struct nlmsghdr *h, struct nexthop *nh);

/* Sends one rtnetlink request and hands each reply message to CB.  Returns 0 or -errno. */
static int rtnl_query(const void *req, size_t len, rtnl_cb cb, struct nexthop *nh)
{
	union {
		char buf[16384];
		struct nlmsghdr align;
	} u;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), rc = 0;

	if (fd < 0)
		return -errno;
	if (send(fd, req, len, 0) < 0) {
		rc = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n = recv(fd, u.buf, sizeof(u.buf), 0);
		struct nlmsghdr *h;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			goto out;
		}
		for (h = &u.align; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR)
				goto out;
			cb(h, nh);
			if (!(h->nlmsg_flags & NLM_F_MULTI))
				goto out;
		}
	}
out:
	close(fd);
	return rc;
}

/* RTM_NEWROUTE: the gateway (RTA_GATEWAY) and the device (RTA_OIF) of the route. */
static void on_route(const struct nlmsghdr *h, struct nexthop *nh)
{
	const struct rtmsg *rt = NLMSG_DATA(h);
	int len = (int)RTM_PAYLOAD(h);
	size_t alen = nh->family == AF_INET ? 4 : 16;

	if (h->nlmsg_type != RTM_NEWROUTE)
		return;
	for (const struct rtattr *a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == RTA_GATEWAY && RTA_PAYLOAD(a) == alen)
			memcpy(nh->addr, RTA_DATA(a), alen);
		else if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) == sizeof(int))
			memcpy(&nh->oif, RTA_DATA(a), sizeof(int));
	}
	nh->found = true;
}

/* RTM_NEWNEIGH: found if it is the next hop's entry, failed or still unresolved. */
static void on_neigh(const struct nlmsghdr *h, struct nexthop *nh)
{
	const struct ndmsg *nd = NLMSG_DATA(h);
	int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*nd)));
	size_t alen = nh->family == AF_INET ? 4 : 16;

	if (h->nlmsg_type != RTM_NEWNEIGH || len < 0 || nd->ndm_ifindex != nh->oif ||
	    !(nd->ndm_state & (NUD_FAILED | NUD_INCOMPLETE)))
		return;
	for (const struct rtattr *a = (const struct rtattr *)((const char *)nd + NLMSG_ALIGN(sizeof(*nd)));
	     RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == NDA_DST && RTA_PAYLOAD(a) == alen && !memcmp(RTA_DATA(a), nh->addr, alen))
			nh->found = true;
}

/*
 * True if the kernel's neighbour entry (ARP, neighbour discovery) of the next
 * hop towards DST is failed or unresolved (NUD_FAILED, NUD_INCOMPLETE): the
 * route to DST read with RTM_GETROUTE, its gateway's or DST's own entry in
 * the RTM_GETNEIGH dump (rtnetlink(7), ip-route(8) get, ip-neighbour(8)).
 */
static bool neigh_failed(const struct pscope_addr *dst, struct pscope_addr *hop)
{
	struct {
		struct nlmsghdr h;
		struct rtmsg rt;
		struct rtattr a;
		uint8_t addr[16];
	} rq = { 0 };
	struct {
		struct nlmsghdr h;
		struct ndmsg nd;
	} nq = { 0 };
	struct nexthop nh = { .family = dst->u.sa.sa_family };
	size_t alen = nh.family == AF_INET ? 4 : 16;

	memcpy(nh.addr, nh.family == AF_INET ? (const void *)&dst->u.sin.sin_addr :
	       (const void *)&dst->u.sin6.sin6_addr, alen);
	rq.h.nlmsg_len = (uint32_t)(NLMSG_LENGTH(sizeof(rq.rt)) + RTA_LENGTH(alen));
	rq.h.nlmsg_type = RTM_GETROUTE;
	rq.h.nlmsg_flags = NLM_F_REQUEST;
	rq.rt.rtm_family = (unsigned char)nh.family;
	rq.rt.rtm_dst_len = (unsigned char)(alen * 8);
	rq.a.rta_type = RTA_DST;
	rq.a.rta_len = (unsigned short)RTA_LENGTH(alen);
	memcpy(rq.addr, nh.addr, alen);
	if (rtnl_query(&rq, rq.h.nlmsg_len, on_route, &nh) < 0 || !nh.found)
		return false;
	nh.found = false;
	nq.h.nlmsg_len = NLMSG_LENGTH(sizeof(nq.nd));
	nq.h.nlmsg_type = RTM_GETNEIGH;
	nq.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nq.nd.ndm_family = (unsigned char)nh.family;
	if (rtnl_query(&nq, nq.h.nlmsg_len, on_neigh, &nh) < 0 || !nh.found)
		return false;
	*hop = *dst;
	memcpy(nh.family == AF_INET ? (void *)&hop->u.sin.sin_addr : (void *)&hop->u.sin6.sin6_addr,
	       nh.addr, alen);
	pscope_addr_set_port(hop, 0);
	return true;
}

int pscope_connfail_explain(int fd, const struct pscope_addr *dst, int err, long long elapsed_ms,
			    bool deadline_passed, struct pscope_connfail *why)
{
	if (err == 0)
		return -EINVAL;
	memset(why, 0, sizeof(*why));
	why->err = err < 0 ? -err : err;
	why->elapsed_ms = elapsed_ms;
	why->syns = syns_sent(fd);
	why->have_icmp = pscope_icmp_read(fd, &why->icmp) == 1;
	if (why->have_icmp) {
		if (!why->icmp.offender_local)
			why->kind = PSCOPE_FAIL_ICMP;
		else
			why->kind = is_neigh_code(&why->icmp) && neigh_failed(dst, &why->neighbour) ?
				PSCOPE_FAIL_NEIGH : PSCOPE_FAIL_LOCAL_ICMP;
		return 0;
	}
	switch (why->err) {
	case ECONNREFUSED:
		why->kind = PSCOPE_FAIL_RESET;
		break;
	case ETIMEDOUT:
		/* Our deadline leaves the socket in SYN-SENT; the kernel's own gives up and closes it. */
		why->kind = deadline_passed && pscope_sock_tcp_state(fd) == TCP_SYN_SENT ?
			PSCOPE_FAIL_DEADLINE : PSCOPE_FAIL_SYN_RETRIES;
		break;
	case ENETUNREACH:
	case EHOSTUNREACH:
	case EACCES:
	case EPERM:
		why->kind = PSCOPE_FAIL_LOCAL;
		break;
	default:
		why->kind = PSCOPE_FAIL_OTHER;
	}
	return 0;
}

int pscope_connect_explained(int fd, const struct pscope_addr *a, int timeout_ms,
			     struct pscope_connfail *why)
{
	long long t0 = pscope_now_ms();
	int rc = pscope_recverr(fd, a->u.sa.sa_family, true);

	if (rc < 0)
		return rc;
	rc = pscope_connect(fd, a, timeout_ms);
	if (rc == 0)
		return pscope_recverr(fd, a->u.sa.sa_family, false);
	/* -ETIMEDOUT is ours if the deadline has passed; the kernel's SO_ERROR may say it too. */
	pscope_connfail_explain(fd, a, rc, pscope_now_ms() - t0,
				rc == -ETIMEDOUT && timeout_ms >= 0 && pscope_now_ms() - t0 >= timeout_ms,
				why);
	return rc;
}

const char *pscope_icmp_type_name(int family, unsigned type)
{
	static const char *const v4[] = {
		[ICMP_ECHOREPLY] = "echo reply", [ICMP_DEST_UNREACH] = "destination unreachable",
		[ICMP_SOURCE_QUENCH] = "source quench", [ICMP_REDIRECT] = "redirect",
		[ICMP_ECHO] = "echo", [ICMP_TIME_EXCEEDED] = "time exceeded",
		[ICMP_PARAMETERPROB] = "parameter problem",
	};
	static const char *const v6[] = {
		[ICMP6_DST_UNREACH] = "destination unreachable", [ICMP6_PACKET_TOO_BIG] = "packet too big",
		[ICMP6_TIME_EXCEEDED] = "time exceeded", [ICMP6_PARAM_PROB] = "parameter problem",
	};

	if (family == AF_INET)
		return type < sizeof(v4) / sizeof(v4[0]) ? v4[type] : NULL;
	return type < sizeof(v6) / sizeof(v6[0]) ? v6[type] : NULL;
}

const char *pscope_icmp_code_name(int family, unsigned type, unsigned code)
{
	/* RFC 792, RFC 1122 3.2.2.1 (6-12), RFC 1812 5.2.7.1 (13-15). */
	static const char *const unreach4[] = {
		"net unreachable", "host unreachable", "protocol unreachable", "port unreachable",
		"fragmentation needed and DF set", "source route failed",
		"destination network unknown", "destination host unknown", "source host isolated",
		"communication with destination network administratively prohibited",
		"communication with destination host administratively prohibited",
		"destination network unreachable for type of service",
		"destination host unreachable for type of service",
		"communication administratively prohibited", "host precedence violation",
		"precedence cutoff in effect",
	};
	/* RFC 4443 3.1 (0-6), RFC 6550 20.18 (7), RFC 8883 (8). */
	static const char *const unreach6[] = {
		"no route to destination", "communication with destination administratively prohibited",
		"beyond scope of source address", "address unreachable", "port unreachable",
		"source address failed ingress/egress policy", "reject route to destination",
		"error in source routing header", "headers too long",
	};
	static const char *const exceeded[] = { "hop limit exceeded in transit",
						"fragment reassembly time exceeded" };

	if (family == AF_INET && type == ICMP_DEST_UNREACH)
		return code < sizeof(unreach4) / sizeof(unreach4[0]) ? unreach4[code] : NULL;
	if (family == AF_INET6 && type == ICMP6_DST_UNREACH)
		return code < sizeof(unreach6) / sizeof(unreach6[0]) ? unreach6[code] : NULL;
	if ((family == AF_INET && type == ICMP_TIME_EXCEEDED) ||
	    (family == AF_INET6 && type == ICMP6_TIME_EXCEEDED))
		return code < 2 ? (family == AF_INET && code == 0 ? "time to live exceeded in transit" :
				   exceeded[code]) : NULL;
	return NULL;
}

const char *pscope_fail_kind_name(enum pscope_fail_kind kind)
{
	static const char *const names[] = {
		[PSCOPE_FAIL_RESET] = "reset", [PSCOPE_FAIL_ICMP] = "icmp",
		[PSCOPE_FAIL_NEIGH] = "host-down", [PSCOPE_FAIL_LOCAL_ICMP] = "local-icmp",
		[PSCOPE_FAIL_LOCAL] = "local", [PSCOPE_FAIL_DEADLINE] = "timeout",
		[PSCOPE_FAIL_SYN_RETRIES] = "syn-retries", [PSCOPE_FAIL_OTHER] = "other",
	};

	return (unsigned)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "other";
}
