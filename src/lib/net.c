/* Socket helpers: listen, connect with a deadline, read one line with a deadline. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "portscope/net.h"

long long pscope_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Closes FD keeping errno, and returns -E. */
static int fail_close(int fd, int e)
{
	int saved = errno;

	close(fd);
	errno = saved;
	return -e;
}

int pscope_socket(int family, int type)
{
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	return fd < 0 ? -errno : fd;
}

int pscope_spare_open(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* Out of descriptors: the spare makes room to take one client and close it. */
static void shed_one(int lfd, struct pscope_spare *spare)
{
	int fd;

	if (spare->fd >= 0) {
		close(spare->fd);
		spare->fd = -1;
	}
	do
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd >= 0) {
		close(fd);
		spare->shed++;
	}
	fd = pscope_spare_open();
	spare->fd = fd < 0 ? -1 : fd;
}

int pscope_accept(int lfd, struct pscope_addr *peer, struct pscope_spare *spare)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd, e;

	do
		fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd >= 0) {
		if (peer)
			pscope_addr_set(peer, (struct sockaddr *)&ss, len);
		return fd;
	}
	e = errno;
	if ((e == EMFILE || e == ENFILE) && spare)
		shed_one(lfd, spare);
	return -e;
}

int pscope_listen(const struct pscope_addr *a, int backlog, int flags)
{
	int one = 1, v6only = !(flags & PSCOPE_LISTEN_DUALSTACK) && !pscope_addr_is_v4mapped(a);
	int fd = pscope_socket(a->u.sa.sa_family, SOCK_STREAM);

	if (fd < 0)
		return fd;
	/* A restarted server must not wait out the TIME_WAIT of its old connections. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return fail_close(fd, errno);
	if ((flags & PSCOPE_LISTEN_REUSEPORT) &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		return fail_close(fd, errno);
	if (a->u.sa.sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0)
		return fail_close(fd, errno);
	if (bind(fd, &a->u.sa, a->len) < 0)
		return fail_close(fd, errno);
	if (!(flags & PSCOPE_LISTEN_BIND_ONLY) && listen(fd, backlog) < 0)
		return fail_close(fd, errno);
	return fd;
}

static int wait_fd(int fd, short events, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int left = deadline < 0 ? -1 : (int)(deadline - pscope_now_ms());
		int n;

		if (deadline >= 0 && left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

int pscope_connect(int fd, const struct pscope_addr *a, int timeout_ms)
{
	long long deadline = timeout_ms < 0 ? -1 : pscope_now_ms() + timeout_ms;
	socklen_t len = sizeof(int);
	int err = 0, rc, off = 0;

	/* An IPv4-mapped destination is IPv4 through this socket: it must not be IPv6-only. */
	if (pscope_addr_is_v4mapped(a) &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0)
		return -errno;
	if (connect(fd, &a->u.sa, a->len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR)
		return -errno;
	rc = wait_fd(fd, POLLOUT, deadline);
	if (rc < 0)
		return rc;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return -err;
}

int pscope_read_line(int fd, char *buf, size_t size, size_t *len, int timeout_ms)
{
	long long deadline = timeout_ms < 0 ? -1 : pscope_now_ms() + timeout_ms;
	struct pscope_line l = { 0 };

	*len = 0;
	if (size < 3)
		return -EINVAL;
	buf[0] = '\0';
	for (;;) {
		/*
		 * Peek, frame, then take only the bytes framed, so the next line stays
		 * for the next call.  SIZE - 3 is the limit: SIZE - 1 bytes always
		 * decide a line, so the buffer never fills undecided.
		 */
		ssize_t n = recv(fd, buf + *len, size - 1 - *len, MSG_DONTWAIT | MSG_PEEK);
		enum pscope_line_result r;
		size_t used;
		int rc;

		if (n > 0) {
			r = pscope_line_feed(&l, buf + *len, (size_t)n, (uint32_t)(size - 3), 0, &used);
			n = recv(fd, buf + *len, used, MSG_DONTWAIT);
			if (n != (ssize_t)used)
				return n < 0 ? -errno : -EIO;	/* another reader took them */
			*len += used;
			buf[*len] = '\0';
			if (r != PSCOPE_LINE_MORE)
				return r;
			continue;
		}
		if (n == 0)
			return pscope_line_fin(&l);
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		rc = wait_fd(fd, POLLIN, deadline);
		if (rc < 0)
			return rc;
	}
}

int pscope_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int pscope_read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
