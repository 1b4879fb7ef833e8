/*
 * portscope: network namespaces (setns(2), ip-netns(8)).
 *
 * A netlink socket belongs to the network namespace it was created in
 * (netlink_create() takes sock_net() from the creating task), and keeps
 * talking to that namespace's tables for its whole life, whatever namespace
 * its owner enters later.  So reading another namespace's sockets means
 * creating the sock_diag socket there, then coming back.  Socket files (the
 * inodes) and /proc/PID/fd are not per network namespace: owners are found in
 * /proc as for the host.  /proc/net is: it shows the namespace of the task
 * that opens it.
 * Returns are -errno on failure; nothing is printed.
 */
#ifndef PORTSCOPE_NETNS_H
#define PORTSCOPE_NETNS_H

#include <stdint.h>
#include <sys/types.h>

/* Where ip-netns(8) keeps the namespaces it names (bind mounts of nsfs files). */
#define PSCOPE_NETNS_RUN_DIR "/run/netns"

/*
 * Opens network namespace NAME: a path if it holds a '/', else
 * /run/netns/NAME as ip-netns(8) names it.  Returns an O_RDONLY|O_CLOEXEC
 * descriptor, or -ENOENT (no such namespace), -EINVAL (an empty name, "." or
 * "..", a file not on nsfs (statfs(2), NSFS_MAGIC), or a namespace that
 * setns(CLONE_NEWNET) refuses as not a network one), -EPERM (setns(2) without
 * CAP_SYS_ADMIN: it is tried once, in and back out), or open(2)'s errors.
 */
int pscope_netns_open(const char *name);

/*
 * Creates socket(DOMAIN, TYPE, PROTO) inside the network namespace NSFD
 * (from pscope_netns_open, or -1: the caller's own): enters it with
 * setns(NSFD, CLONE_NEWNET), creates the socket, and returns to the calling
 * thread's namespace, which it holds open for the purpose
 * (/proc/thread-self/ns/net).  Returns the socket, or -errno: setns(2)'s
 * (-EPERM without CAP_SYS_ADMIN; -EINVAL if NSFD is not a network
 * namespace), socket(2)'s, or the failure to come back (then the thread may
 * still be in NSFD: -ENOTRECOVERABLE).
 */
int pscope_netns_socket(int nsfd, int domain, int type, int proto);

/*
 * Moves the calling thread into namespace NSFD, for reads that have no
 * socket to carry the namespace (/proc/net).  Returns a descriptor of the
 * namespace it left, for pscope_netns_leave(), or -errno as setns(2).
 */
int pscope_netns_enter(int nsfd);

/* Returns to the namespace SAVED (from pscope_netns_enter) and closes it.  0 or -errno. */
int pscope_netns_leave(int saved);

/* One network namespace found by pscope_netns_list(). */
struct pscope_netns {
	int fd;			/* open until the callback returns */
	uint64_t inode;		/* the namespace's inode (readlink /proc/PID/ns/net: net:[INODE]) */
	pid_t pid;		/* a process in it, or 0 if found by name only */
	const char *name;	/* its name under /run/netns, or NULL */
	char label[48];		/* the name, else "net:[INODE]" */
};

/*
 * Calls CB once for each network namespace on the host: first those named in
 * /run/netns (sorted by name), then those of the processes /proc shows
 * (/proc/PID/ns/net, by pid), each namespace once (by its inode; the first
 * name or pid found is kept).  Processes that vanish or cannot be read are
 * skipped.  A negative return of CB stops the walk and is returned.
 * Returns the number of namespaces, or -errno (-ENOMEM; opendir(3) on /proc).
 */
int pscope_netns_list(int (*cb)(const struct pscope_netns *ns, void *ctx), void *ctx);

#endif
