/* portstats: every socket counted once, under the port it serves or connects to. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "portstats.h"

const char *const ps_role_names[PS_ROLES] = {
	[PS_LISTENER] = "listener", [PS_ACCEPTED] = "accepted", [PS_QUEUED] = "queued",
	[PS_HANDSHAKE] = "handshake", [PS_ORPHANED] = "orphaned", [PS_BOUND] = "bound",
	[PS_CONNECTED] = "connected", [PS_CLIENT] = "client",
};

const char *ps_state_label(uint8_t proto, uint8_t state)
{
	static const char *const names[PS_STATES] = {
		[TCP_ESTABLISHED] = "established", [TCP_SYN_SENT] = "syn_sent",
		[TCP_SYN_RECV] = "syn_recv",	   [TCP_FIN_WAIT1] = "fin_wait1",
		[TCP_FIN_WAIT2] = "fin_wait2",	   [TCP_TIME_WAIT] = "time_wait",
		[TCP_CLOSE] = "close",		   [TCP_CLOSE_WAIT] = "close_wait",
		[TCP_LAST_ACK] = "last_ack",	   [TCP_LISTEN] = "listen",
		[TCP_CLOSING] = "closing",	   [12] = "syn_recv",
	};

	if (proto == IPPROTO_UDP)
		return state == TCP_CLOSE ? "unconn" : "established";
	return state < PS_STATES && names[state] ? names[state] : "unknown";
}

uint64_t ps_tuple_key(uint16_t lport, uint16_t rport, const uint8_t raddr[16])
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (int i = 0; i < 16; i++)
		h = (h ^ raddr[i]) * 1099511628211ull;
	h ^= (uint64_t)lport << 32 | (uint64_t)rport << 16;
	return h ? h : 1;
}

static int add_sock(const struct pscope_diag_sock *s, void *ctx)
{
	struct portstats *ps = ctx;

	if (!s) {
		ps->nsocks = ps->nlisteners = 0; /* the kernel restarted its dump */
		return 0;
	}
	if (CLI_RESERVE(ps->socks, ps->socks_cap, ps->nsocks, 4096, false) < 0)
		return ps->oom = 1, -1;
	struct pscope_diag_sock local = *s;

	local.side = PSCOPE_SIDE_LOCAL;
	ps->socks[ps->nsocks++] = (struct ps_sock){ s->cookie, ps_tuple_key(s->lport, s->rport, s->raddr),
						    s->lport, s->rport, s->proto, s->state,
						    (uint8_t)pscope_diag_role(&local) };
	if (s->proto == IPPROTO_TCP && s->state == TCP_LISTEN) {
		if (CLI_RESERVE(ps->listeners, ps->listeners_cap, ps->nlisteners, 64, false) < 0)
			return ps->oom = 1, -1;
		ps->listeners[ps->nlisteners++] = (struct ps_listener){ .s = *s };
	}
	return 0;
}

static void ephemeral_range(unsigned *lo, unsigned *hi)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");

	*lo = 32768;
	*hi = 60999;
	if (f) {
		if (fscanf(f, "%u %u", lo, hi) != 2) {
			*lo = 32768;
			*hi = 60999;
		}
		fclose(f);
	}
}

static bool same_group(const struct pscope_diag_sock *a, const struct pscope_diag_sock *b)
{
	return a->family == b->family && a->lport == b->lport && a->ifindex == b->ifindex &&
	       !memcmp(a->laddr, b->laddr, 16);
}

/*
 * Two TCP listeners on one family, address, port and device can only be there
 * through SO_REUSEPORT (inet_csk_bind_conflict(): both set it, same owner), so
 * the count of such listeners is the size of their group.
 */
static void group_listeners(struct portstats *ps)
{
	for (size_t i = 0; i < ps->nlisteners; i++) {
		uint32_t n = 0;

		for (size_t j = 0; j < ps->nlisteners; j++)
			n += same_group(&ps->listeners[i].s, &ps->listeners[j].s);
		ps->listeners[i].group_size = n;
	}
}

static int cmp_port(const void *a, const void *b)
{
	const struct ps_port *x = a, *y = b;

	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return (int)x->port - (int)y->port;
}

/*
 * The role of socket S and the port it is counted under, given the serving
 * ports: the end on a serving port is the server's; else the end with an
 * ephemeral port is the client's, the other end the port it uses.  When both
 * or neither port is ephemeral (a server on a kernel-chosen port whose
 * listener is gone, say), nothing tells: port 0, "other", so that no series is
 * made per connection.
 */
static enum ps_role classify(const struct ps_sock *s, const uint8_t *serving, unsigned lo,
			     unsigned hi, uint16_t *port)
{
	bool udp = s->proto == IPPROTO_UDP;
	const uint8_t *serv = serving + (udp ? 65536 : 0);
	bool leph = s->lport >= lo && s->lport <= hi, reph = s->rport >= lo && s->rport <= hi;
	enum ps_role server = udp ? PS_CONNECTED : (enum ps_role)s->server_role;

	*port = s->lport;
	if (!udp && s->state == TCP_LISTEN)
		return PS_LISTENER;
	if (udp && s->state == TCP_CLOSE)
		return PS_BOUND;
	if (serv[s->lport])
		return server;
	*port = s->rport;
	if (serv[s->rport] || (leph && !reph))
		return PS_CLIENT;
	*port = s->lport;
	if (reph && !leph)
		return server;
	*port = 0;
	return PS_CLIENT;
}

static int count(struct portstats *ps)
{
	uint8_t *serving = calloc(2 * 65536, 1);
	uint32_t *index = calloc(2 * 65536, sizeof(*index));
	unsigned lo, hi;
	int rc = 0;

	free(ps->ports);
	free(ps->port_of);
	ps->ports = calloc(ps->nsocks ? ps->nsocks : 1, sizeof(*ps->ports));
	ps->port_of = malloc((ps->nsocks ? ps->nsocks : 1) * sizeof(*ps->port_of));
	ps->nports = 0;
	if (!serving || !index || !ps->ports || !ps->port_of) {
		rc = -ENOMEM;
		goto out;
	}
	ephemeral_range(&lo, &hi);
	for (size_t i = 0; i < ps->nsocks; i++) {
		const struct ps_sock *s = &ps->socks[i];

		if (s->proto == IPPROTO_TCP ? s->state == TCP_LISTEN : s->state == TCP_CLOSE)
			serving[(s->proto == IPPROTO_UDP) * 65536 + s->lport] = 1;
	}
	for (size_t i = 0; i < ps->nsocks; i++) {
		const struct ps_sock *s = &ps->socks[i];
		uint16_t port;
		enum ps_role r = classify(s, serving, lo, hi, &port);
		uint32_t key = (s->proto == IPPROTO_UDP) * 65536u + port;
		struct ps_port *pp;

		if (!index[key]) {
			ps->ports[ps->nports] = (struct ps_port){ .proto = s->proto, .port = port };
			index[key] = (uint32_t)++ps->nports;
		}
		pp = &ps->ports[index[key] - 1];
		pp->count[r][s->state < PS_STATES ? s->state : 0]++;
		ps->port_of[i] = port;
	}
	group_listeners(ps);
	/* Listener figures go to their port's row, found before the rows are sorted. */
	for (size_t i = 0; i < ps->nlisteners; i++) {
		const struct pscope_diag_sock *s = &ps->listeners[i].s;
		struct ps_port *pp = &ps->ports[index[s->lport] - 1];

		pp->listeners++;
		pp->queued += s->rqueue;
		pp->backlog += s->wqueue;
		if (ps->listeners[i].group_size > pp->biggest_group)
			pp->biggest_group = ps->listeners[i].group_size;
	}
	for (size_t i = 0; i < ps->nports; i++)
		if (ps->ports[i].proto == IPPROTO_UDP)
			ps->ports[i].listeners = ps->ports[i].count[PS_BOUND][TCP_CLOSE];
	qsort(ps->ports, ps->nports, sizeof(*ps->ports), cmp_port);
out:
	free(serving);
	free(index);
	return rc;
}

int portstats_collect(struct portstats *ps)
{
	return portstats_collect_in(ps, -1);
}

int portstats_collect_in(struct portstats *ps, int nsfd)
{
	struct pscope_diag_filter f = { .port = -1 };
	struct pscope_diag_stats st;
	int rc;

	ps->nsocks = ps->nlisteners = 0;
	ps->oom = 0;
	rc = pscope_diag_netlink_in(nsfd, &f, add_sock, ps, -1, &st);
	if (rc < 0)
		return ps->oom ? -ENOMEM : rc;
	return count(ps);
}

void portstats_free(struct portstats *ps)
{
	free(ps->socks);
	free(ps->listeners);
	free(ps->ports);
	free(ps->port_of);
	memset(ps, 0, sizeof(*ps));
}
