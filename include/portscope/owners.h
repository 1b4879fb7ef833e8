/*
 * portscope: which processes hold which sockets, and the socket options that
 * decide how a port is shared.
 *
 * Owners are found in one pass over /proc/PID/fd, matching each descriptor's
 * "socket:[INODE]" against a hash of only the inodes asked about.  Options are
 * read through a duplicate of the owner's descriptor (pidfd_open + pidfd_getfd).
 * Returns are as in addr.h: a value >= 0, or -errno.
 */
#ifndef PORTSCOPE_OWNERS_H
#define PORTSCOPE_OWNERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Called for each descriptor found whose socket inode is one of those asked about. */
typedef int (*pscope_owner_cb)(size_t index, pid_t pid, int fd, void *ctx);

struct pscope_owner_stats {
	unsigned processes;	/* processes whose descriptors were read */
	unsigned unreadable;	/* processes whose descriptors this user may not read */
	unsigned vanished;	/* processes that exited during the scan */
};

/*
 * Scans /proc under ROOT ("/proc" if NULL) for descriptors of the N sockets
 * whose inodes are INODES[0..N-1] (0 entries are ignored) and calls CB with
 * the index into INODES of each one found.  HASH is caller-owned scratch of
 * pscope_owner_hash_size(N) entries.  Returns the number of descriptors found,
 * or a negative error code.
 */
int pscope_owners_scan(const char *root, const uint64_t *inodes, size_t n, uint32_t *hash,
		       pscope_owner_cb cb, void *ctx, struct pscope_owner_stats *st);

/* How many uint32_t entries of scratch pscope_owners_scan() needs for N sockets. */
size_t pscope_owner_hash_size(size_t n);

/* Reads /proc/PID/comm into BUF (without the newline). Returns its length or -errno. */
int pscope_proc_comm(pid_t pid, char *buf, size_t size);

/* The sharing options of a socket, read from its owner. */
struct pscope_sockopts {
	bool reuseaddr;
	bool reuseport;
	int v6only;		/* -1 for an IPv4 socket */
	int bind_address_no_port; /* IP_BIND_ADDRESS_NO_PORT; -1 if the kernel cannot tell */
	long bound_dev_if;	/* SO_BINDTOIFINDEX: the bound device, 0 for none; -1 if the
				   kernel cannot tell (before Linux 5.7) */
};

/*
 * Reads the options of descriptor FD of process PID.  PIDFD_CACHE, if not
 * NULL, holds a pidfd for *PID_CACHE between calls (start both at -1; close
 * *PIDFD_CACHE when done).  Returns 0, or -errno (-EPERM: not ours to inspect).
 */
int pscope_sockopts_get(pid_t pid, int fd, int *pidfd_cache, pid_t *pid_cache,
			struct pscope_sockopts *o);

#endif
