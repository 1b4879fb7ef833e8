/* Describing a socket: the kernel's view, rendered as Python's repr or JSON. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "portscope/json.h"
#include "portscope/sock.h"

static int get_int_opt(int fd, int opt, int *val)
{
	socklen_t len = sizeof(*val);

	return getsockopt(fd, SOL_SOCKET, opt, val, &len) < 0 ? -errno : 0;
}

/* The address that NAME (getsockname or getpeername) gives for FD, into *A. */
static int sock_name(int (*name)(int, struct sockaddr *, socklen_t *), int fd, struct pscope_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(a, 0, sizeof(*a));
	if (name(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	return pscope_addr_set(a, (struct sockaddr *)&ss, len);
}

int pscope_sock_local(int fd, struct pscope_addr *a)
{
	return sock_name(getsockname, fd, a);
}

int pscope_sock_peer(int fd, struct pscope_addr *a)
{
	return sock_name(getpeername, fd, a);
}

int pscope_sock_describe(int fd, struct pscope_sockinfo *si)
{
	int rc;

	memset(si, 0, sizeof(*si));
	si->fd = fd;
	rc = get_int_opt(fd, SO_TYPE, &si->type);
	if (rc < 0)
		return rc;
	if (get_int_opt(fd, SO_DOMAIN, &si->family) < 0)
		si->family = AF_UNSPEC;
	if (get_int_opt(fd, SO_PROTOCOL, &si->protocol) < 0)
		si->protocol = 0;

	/* A missing address (a listener's peer) is described too, by the errno that says so. */
	si->local_err = pscope_sock_local(fd, &si->local);
	si->peer_err = pscope_sock_peer(fd, &si->peer);
	return 0;
}

int pscope_sock_tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return -errno;
	return ti.tcpi_state;
}

const char *pscope_family_name(int family)
{
	switch (family) {
	case AF_INET: return "AF_INET";
	case AF_INET6: return "AF_INET6";
	case AF_UNIX: return "AF_UNIX";
	default: return NULL;
	}
}

const char *pscope_socktype_name(int type)
{
	switch (type) {
	case SOCK_STREAM: return "SOCK_STREAM";
	case SOCK_DGRAM: return "SOCK_DGRAM";
	case SOCK_RAW: return "SOCK_RAW";
	case SOCK_SEQPACKET: return "SOCK_SEQPACKET";
	default: return NULL;
	}
}

const char *pscope_proto_name(int type)
{
	switch (type) {
	case SOCK_STREAM: return "tcp";
	case SOCK_DGRAM: return "udp";
	default: return NULL;
	}
}

const char *pscope_errno_name(int err)
{
	const char *name = strerrorname_np(err < 0 ? -err : err);

	return name ? name : "E?";
}

/* A small append-only writer that remembers whether anything was cut. */
struct out {
	char *buf;
	size_t size, len;
	bool full;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	size_t room = o->len < o->size ? o->size - o->len : 0;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->buf + (room ? o->len : 0), room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		o->full = true;
		o->len = o->size;
		return;
	}
	o->len += (size_t)n;
}

static int finish(const struct out *o)
{
	if (o->full) {
		if (o->size)
			o->buf[0] = '\0';
		return -ENOSPC;
	}
	return (int)o->len;
}

static bool default_protocol(const struct pscope_sockinfo *si)
{
	if (si->family != AF_INET && si->family != AF_INET6)
		return si->protocol == 0;
	return si->protocol == 0 ||
	       (si->type == SOCK_STREAM && si->protocol == IPPROTO_TCP) ||
	       (si->type == SOCK_DGRAM && si->protocol == IPPROTO_UDP);
}

static void put_py_addr(struct out *o, const char *key, const struct pscope_addr *a)
{
	char tuple[PSCOPE_ADDRSTRLEN];

	if (pscope_addr_py(a, tuple, sizeof(tuple)) >= 0)
		put(o, ", %s=%s", key, tuple);
}

int pscope_sock_repr_py(const struct pscope_sockinfo *si, char *buf, size_t size)
{
	struct out o = { buf, size, 0, false };
	const char *fam = pscope_family_name(si->family);
	const char *type = pscope_socktype_name(si->type);

	put(&o, "<socket.socket fd=%d, family=", si->fd);
	if (fam)
		put(&o, "AddressFamily.%s", fam);
	else
		put(&o, "%d", si->family);
	if (type)
		put(&o, ", type=SocketKind.%s", type);
	else
		put(&o, ", type=%d", si->type);
	put(&o, ", proto=%d", default_protocol(si) ? 0 : si->protocol);
	if (!si->local_err)
		put_py_addr(&o, "laddr", &si->local);
	if (!si->peer_err)
		put_py_addr(&o, "raddr", &si->peer);
	put(&o, ">");
	return finish(&o);
}

/* The longest object pscope_sock_json writes: four ints, two addresses each escaped at most sixfold. */
#define SOCK_JSON_MAX (160 + 2 * (16 + 6 * PSCOPE_ADDRSTRLEN))

static void json_addr(struct pscope_json *j, const char *key, const struct pscope_addr *a, int err)
{
	char text[PSCOPE_ADDRSTRLEN], errkey[16];
	int rc = err ? err : pscope_addr_format(a, text, sizeof(text));

	if (rc >= 0) {
		/* Numeric addresses need no escaping; an interface name in a scope might. */
		pscope_json_string(j, key, text);
	} else {
		snprintf(errkey, sizeof(errkey), "%s_error", key);
		pscope_json_null(j, key);
		pscope_json_string(j, errkey, pscope_errno_name(rc));
	}
}

static void json_name_or_number(struct pscope_json *j, const char *key, const char *name, int v)
{
	if (name)
		pscope_json_string(j, key, name);
	else
		pscope_json_int(j, key, v);
}

void pscope_sock_json_members(struct pscope_json *j, const struct pscope_sockinfo *si)
{
	pscope_json_int(j, "fd", si->fd);
	json_name_or_number(j, "family", pscope_family_name(si->family), si->family);
	json_name_or_number(j, "type", pscope_socktype_name(si->type), si->type);
	pscope_json_int(j, "proto", si->protocol);
	json_addr(j, "laddr", &si->local, si->local_err);
	json_addr(j, "raddr", &si->peer, si->peer_err);
}

/*
 * Rendered whole into a buffer of its own, then copied: the caller gets the
 * object or, when it does not fit, an empty string and -ENOSPC.
 */
int pscope_sock_json(const struct pscope_sockinfo *si, char *buf, size_t size)
{
	char text[SOCK_JSON_MAX];
	struct pscope_json j;
	size_t n;

	pscope_json_init_buf(&j, text, sizeof(text));
	pscope_json_object_begin(&j, NULL);
	pscope_sock_json_members(&j, si);
	pscope_json_object_end(&j);
	n = pscope_json_end(&j);
	if (n >= sizeof(text) || n >= size) {
		if (size)
			buf[0] = '\0';
		return -ENOSPC;
	}
	memcpy(buf, text, n + 1);
	return (int)n;
}
