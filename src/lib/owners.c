/* Socket owners from /proc/PID/fd, and socket options through pidfd_getfd. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "portscope/owners.h"

#ifndef SO_BINDTOIFINDEX
#define SO_BINDTOIFINDEX 62	/* Linux 5.7's getsockopt of the bound device's index */
#endif

#define EMPTY UINT32_MAX

size_t pscope_owner_hash_size(size_t n)
{
	size_t size = 16;

	while (size < 2 * n)
		size <<= 1;
	return size;
}

static size_t slot(uint64_t inode, size_t mask)
{
	/* Inodes are nearly sequential: a multiplicative hash spreads them over the table. */
	return (size_t)((inode * 0x9E3779B97F4A7C15ULL) >> 20) & mask;
}

static void hash_build(const uint64_t *inodes, size_t n, uint32_t *hash, size_t size)
{
	memset(hash, 0xff, size * sizeof(*hash));
	for (size_t i = 0; i < n; i++) {
		size_t h;

		if (!inodes[i])
			continue;
		for (h = slot(inodes[i], size - 1); hash[h] != EMPTY; h = (h + 1) & (size - 1))
			if (inodes[hash[h]] == inodes[i])
				break;
		if (hash[h] == EMPTY)
			hash[h] = (uint32_t)i;
	}
}

static uint32_t hash_find(const uint64_t *inodes, const uint32_t *hash, size_t size, uint64_t inode)
{
	for (size_t h = slot(inode, size - 1); hash[h] != EMPTY; h = (h + 1) & (size - 1))
		if (inodes[hash[h]] == inode)
			return hash[h];
	return EMPTY;
}

/* Parses "socket:[12345]". Returns the inode, or 0. */
static uint64_t socket_inode(const char *link, ssize_t len)
{
	uint64_t v = 0;

	if (len < 10 || memcmp(link, "socket:[", 8) != 0 || link[len - 1] != ']')
		return 0;
	for (ssize_t i = 8; i < len - 1; i++) {
		if (link[i] < '0' || link[i] > '9' || i > 28)
			return 0;
		v = v * 10 + (uint64_t)(link[i] - '0');
	}
	return v;
}

static bool is_pid(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Scans one process's descriptors. Returns how many matched, or a negative error. */
static int scan_pid(int procfd, const char *pidname, const uint64_t *inodes, const uint32_t *hash,
		    size_t size, pscope_owner_cb cb, void *ctx, struct pscope_owner_stats *st)
{
	char path[300];
	struct dirent *e;
	int found = 0, dfd;
	pid_t pid = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/fd", pidname);
	dfd = openat(procfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		if (errno == ENOENT || errno == ESRCH)
			st->vanished++;
		else
			st->unreadable++;
		return 0;
	}
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;
	}
	for (const char *p = pidname; *p; p++)
		pid = pid * 10 + (*p - '0');
	st->processes++;
	while ((e = readdir(d))) {
		char link[64];
		ssize_t len;
		uint64_t inode;
		uint32_t idx;

		if (e->d_name[0] == '.')
			continue;
		len = readlinkat(dfd, e->d_name, link, sizeof(link));
		if (len <= 0 || !(inode = socket_inode(link, len)))
			continue;
		idx = hash_find(inodes, hash, size, inode);
		if (idx == EMPTY)
			continue;
		found++;
		if (cb(idx, pid, (int)strtol(e->d_name, NULL, 10), ctx) < 0) {
			closedir(d);
			return -ECANCELED;
		}
	}
	closedir(d);
	return found;
}

int pscope_owners_scan(const char *root, const uint64_t *inodes, size_t n, uint32_t *hash,
		       pscope_owner_cb cb, void *ctx, struct pscope_owner_stats *st)
{
	struct pscope_owner_stats dummy;
	size_t size = pscope_owner_hash_size(n);
	struct dirent *e;
	int procfd, found = 0;
	DIR *d;

	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	hash_build(inodes, n, hash, size);
	procfd = open(root ? root : "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0)
		return -errno;
	d = fdopendir(procfd);
	if (!d) {
		int err = -errno;

		close(procfd);
		return err;
	}
	while ((e = readdir(d))) {
		int rc;

		if (!is_pid(e->d_name))
			continue;
		rc = scan_pid(procfd, e->d_name, inodes, hash, size, cb, ctx, st);
		if (rc < 0) {
			closedir(d);
			return rc;
		}
		found += rc;
	}
	closedir(d);
	return found;
}

int pscope_proc_comm(pid_t pid, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	if (size == 0)
		return -ENOSPC;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	while (n > 0 && (buf[n - 1] == '\n'))
		n--;
	buf[n] = '\0';
	return (int)n;
}

static int int_opt(int fd, int level, int opt)
{
	int v = 0;
	socklen_t len = sizeof(v);

	return getsockopt(fd, level, opt, &v, &len) < 0 ? -1 : v != 0;
}

int pscope_sockopts_get(pid_t pid, int fd, int *pidfd_cache, pid_t *pid_cache,
			struct pscope_sockopts *o)
{
	int pidfd = pidfd_cache && *pid_cache == pid ? *pidfd_cache : -1;
	int dup, family = 0, ifindex = 0;
	socklen_t len = sizeof(family);

	memset(o, 0, sizeof(*o));
	if (pidfd < 0) {
		pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (pidfd < 0)
			return -errno;
		if (pidfd_cache) {
			if (*pidfd_cache >= 0)
				close(*pidfd_cache);
			*pidfd_cache = pidfd;
			*pid_cache = pid;
		}
	}
	dup = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	if (dup < 0) {
		int err = -errno;

		if (!pidfd_cache)
			close(pidfd);
		return err;
	}
	if (!pidfd_cache)
		close(pidfd);
	o->reuseaddr = int_opt(dup, SOL_SOCKET, SO_REUSEADDR) == 1;
	o->reuseport = int_opt(dup, SOL_SOCKET, SO_REUSEPORT) == 1;
	getsockopt(dup, SOL_SOCKET, SO_DOMAIN, &family, &len);
	o->v6only = family == AF_INET6 ? int_opt(dup, IPPROTO_IPV6, IPV6_V6ONLY) : -1;
	o->bind_address_no_port = int_opt(dup, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT);
	len = sizeof(ifindex);
	o->bound_dev_if = getsockopt(dup, SOL_SOCKET, SO_BINDTOIFINDEX, &ifindex, &len) < 0 ? -1 : ifindex;
	close(dup);
	return 0;
}
