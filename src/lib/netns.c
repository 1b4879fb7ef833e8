/* Network namespaces: open one by name, create a socket inside one, list them all. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "portscope/netns.h"

int pscope_netns_open(const char *name)
{
	char path[4096];
	struct statfs sfs;
	int fd, saved;

	if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	if (strchr(name, '/'))
		snprintf(path, sizeof(path), "%s", name);
	else if (snprintf(path, sizeof(path), "%s/%s", PSCOPE_NETNS_RUN_DIR, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/*
	 * A namespace file is on nsfs; that it is a network namespace, setns()
	 * itself says (EINVAL otherwise), tried here once so that the caller
	 * hears it now.  (ioctl NS_GET_NSTYPE would say it too, but valgrind does
	 * not know that ioctl.)
	 */
	if (fstatfs(fd, &sfs) < 0 || sfs.f_type != NSFS_MAGIC) {
		close(fd);
		return -EINVAL;
	}
	saved = pscope_netns_enter(fd);
	if (saved < 0) {
		close(fd);
		return saved;
	}
	if (pscope_netns_leave(saved) < 0) {
		close(fd);
		return -ENOTRECOVERABLE;
	}
	return fd;
}

int pscope_netns_enter(int nsfd)
{
	int saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

	if (saved < 0)
		return -errno;
	if (setns(nsfd, CLONE_NEWNET) < 0) {
		int e = errno;

		close(saved);
		return -e;
	}
	return saved;
}

int pscope_netns_leave(int saved)
{
	int rc = setns(saved, CLONE_NEWNET) < 0 ? -errno : 0;

	close(saved);
	return rc;
}

int pscope_netns_socket(int nsfd, int domain, int type, int proto)
{
	int saved, fd, e;

	if (nsfd < 0) {
		fd = socket(domain, type, proto);
		return fd < 0 ? -errno : fd;
	}
	saved = pscope_netns_enter(nsfd);
	if (saved < 0)
		return saved;
	fd = socket(domain, type, proto);
	e = errno;
	if (pscope_netns_leave(saved) < 0) {
		if (fd >= 0)
			close(fd);
		return -ENOTRECOVERABLE;
	}
	return fd < 0 ? -e : fd;
}

struct seen {
	uint64_t *inodes;
	size_t n, cap;
};

/* True if INODE was seen before; else remembers it.  -ENOMEM if it cannot. */
static int seen_before(struct seen *s, uint64_t inode)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->inodes[i] == inode)
			return 1;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		void *p = realloc(s->inodes, cap * sizeof(*s->inodes));

		if (!p)
			return -ENOMEM;
		s->inodes = p;
		s->cap = cap;
	}
	s->inodes[s->n++] = inode;
	return 0;
}

/* Offers the namespace at PATH (name or pid known) to CB unless seen; returns CB's or 0. */
static int offer(struct seen *s, const char *path, const char *name, pid_t pid,
		 int (*cb)(const struct pscope_netns *, void *), void *ctx, int *count)
{
	struct pscope_netns ns = { .name = name, .pid = pid };
	struct stat st;
	int rc = 0;

	ns.fd = pscope_netns_open(path);
	if (ns.fd < 0)
		return 0; /* gone, not ours to read, or not a namespace: skip it */
	if (fstat(ns.fd, &st) < 0 || (rc = seen_before(s, st.st_ino)) != 0) {
		close(ns.fd);
		return rc < 0 ? rc : 0;
	}
	ns.inode = st.st_ino;
	if (name)
		snprintf(ns.label, sizeof(ns.label), "%s", name);
	else
		snprintf(ns.label, sizeof(ns.label), "net:[%llu]", (unsigned long long)ns.inode);
	(*count)++;
	rc = cb(&ns, ctx);
	close(ns.fd);
	return rc < 0 ? rc : 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int no_dots(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static int named(struct seen *s, int (*cb)(const struct pscope_netns *, void *), void *ctx,
		 int *count)
{
	struct dirent **names;
	int n = scandir(PSCOPE_NETNS_RUN_DIR, &names, no_dots, by_name), rc = 0;

	if (n < 0)
		return 0; /* no /run/netns: no named namespace */
	for (int i = 0; i < n; i++) {
		char path[512];

		snprintf(path, sizeof(path), "%s/%s", PSCOPE_NETNS_RUN_DIR, names[i]->d_name);
		if (rc == 0)
			rc = offer(s, path, names[i]->d_name, 0, cb, ctx, count);
		free(names[i]);
	}
	free(names);
	return rc;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return x < y ? -1 : x > y;
}

static int of_processes(struct seen *s, int (*cb)(const struct pscope_netns *, void *), void *ctx,
			int *count)
{
	DIR *d = opendir("/proc");
	pid_t *pids = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	int rc = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		if (n == cap) {
			void *p = realloc(pids, (cap = cap ? cap * 2 : 256) * sizeof(*pids));

			if (!p) {
				rc = -ENOMEM;
				break;
			}
			pids = p;
		}
		pids[n++] = (pid_t)pid;
	}
	closedir(d);
	if (rc == 0)
		qsort(pids, n, sizeof(*pids), cmp_pid);
	for (size_t i = 0; i < n && rc == 0; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pids[i]);
		rc = offer(s, path, NULL, pids[i], cb, ctx, count);
	}
	free(pids);
	return rc;
}

int pscope_netns_list(int (*cb)(const struct pscope_netns *ns, void *ctx), void *ctx)
{
	struct seen s = { 0 };
	int count = 0, rc = named(&s, cb, ctx, &count);

	if (rc == 0)
		rc = of_processes(&s, cb, ctx, &count);
	free(s.inodes);
	return rc < 0 ? rc : count;
}
