/*
 * portscope lab: the framework the experiments share.  Each experiment runs in
 * a child process of its own; what it prints goes to LAB->out (a memory
 * stream the parent prints), and its checks decide PASS, FAIL or SKIP.
 */
#ifndef PORTSCOPE_LAB_H
#define PORTSCOPE_LAB_H

#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>

#include "../cli.h"

#define LAB_MAX_CHECKS 48
#define LAB_TEXT 512
#define LAB_TIMEOUT_MS 3000	/* the longest any one wait inside an experiment may take */

enum lab_result { LAB_PASS, LAB_FAIL, LAB_SKIP };

struct lab_check {
	char what[160];
	char source[320];
	char predicted[LAB_TEXT];
	char observed[LAB_TEXT];
	enum lab_result result;
	bool cut;		/* a text did not fit its field: the check is a FAIL that says so */
};

struct lab {
	FILE *out;		/* the experiment's text */
	bool verbose;		/* show every step */
	bool flip;		/* PORTSCOPE_LAB_WRONG: every prediction of this experiment negated */
	bool root;		/* may act as another user */
	bool own_netns;		/* runs in a network namespace of its own */
	const char *part;	/* "IPv4", "IPv6", or NULL: prefixes steps and checks */
	struct lab_check checks[LAB_MAX_CHECKS];
	int nchecks;
};

/* One address family as the experiments use it. */
struct lab_family {
	int family;		/* AF_INET or AF_INET6 */
	const char *label;	/* "IPv4" or "IPv6": prefixes steps and checks */
	const char *loopback;	/* "127.0.0.1" or "::1" */
	const char *any;	/* the wildcard address: "0.0.0.0" or "::" */
};

/* IPv4, then IPv6: the order every experiment runs them in. */
#define LAB_NFAMILIES 2
extern const struct lab_family lab_families[LAB_NFAMILIES];

struct lab_experiment {
	const char *name;
	const char *title;	/* one line, for the list */
	const char *story;	/* the narrative, lines separated by \n */
	const char *predict;	/* the predictions in words, each with its source */
	bool netns;		/* wants a network namespace of its own (wildcard binds, port ranges) */
	/* The experiment: run once, or (if set instead) once per family through lab_each_family(). */
	void (*run)(struct lab *x);
	void (*each_family)(struct lab *x, const struct lab_family *f);
};

/* The experiments, in the order `lab all` runs them. */
extern const struct lab_experiment lab_accept_shares_port, lab_no_peer_yet, lab_bind_conflict,
	lab_reuseport, lab_specific_beats_wildcard, lab_client_port_reuse, lab_ephemeral_ports,
	lab_time_wait, lab_dual_stack, lab_udp_demux, lab_accept_queue;

/* An evidence line, indented, always shown. */
void lab_say(struct lab *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A step (a system call and its result), shown with -v only. */
void lab_step(struct lab *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Records a check of WHAT (its SOURCE: man page and section): PASS if
 * OBSERVED equals PREDICTED (with the prediction negated under
 * PORTSCOPE_LAB_WRONG, if it differs).  Prints both sides.  Returns true on PASS.
 */
bool lab_check(struct lab *x, const char *what, const char *source, const char *predicted,
	       const char *observed);

/* Records a check that could not be made, and why (printed). */
void lab_skip(struct lab *x, const char *what, const char *why);

/*
 * Records an unexpected failure of a step the experiment needs (ERR is
 * -errno): a FAIL that names the errno.  Returns false, for `return lab_broke(...)`.
 */
bool lab_broke(struct lab *x, const char *step, int err);

/* Formats A into BUF ("127.0.0.1:8080", "[::1]:8080") and returns BUF. */
const char *lab_fmt(const struct pscope_addr *a, char *buf, size_t size);

/* "ok" for RC >= 0, else the errno's name ("EADDRINUSE"). */
const char *lab_outcome(int rc);

/* Sets A to the numeric HOST ("127.0.0.1", "::1", "0.0.0.0", "::") and PORT. */
void lab_addr(struct pscope_addr *a, const char *host, int port);

/* The loopback address of FAMILY, with PORT. */
void lab_loopback(struct pscope_addr *a, int family, int port);

/* Runs BODY for each of lab_families in turn, with X->part set to the family's label. */
void lab_each_family(struct lab *x, void (*body)(struct lab *x, const struct lab_family *f));

/*
 * System calls, each shown as a step with real addresses, fds and errno
 * names.  Sockets are non-blocking and close-on-exec; every wait is bounded.
 * Each returns a descriptor or 0, or -errno.
 */
int lab_socket(struct lab *x, int family, int type);
int lab_setopt(struct lab *x, int fd, int level, int name, const char *optname, int value);
int lab_bind(struct lab *x, int fd, const struct pscope_addr *a);
int lab_listen(struct lab *x, int fd, int backlog);
/* Connects and waits up to TIMEOUT_MS for the outcome (0: do not wait; -EINPROGRESS then). */
int lab_connect(struct lab *x, int fd, const struct pscope_addr *a, int timeout_ms);
/* Waits up to TIMEOUT_MS for a connection on LFD and accepts it. */
int lab_accept(struct lab *x, int lfd, int timeout_ms);
/* Waits up to TIMEOUT_MS for EVENTS (POLLIN, POLLOUT) on FD.  Returns 0, -ETIMEDOUT or -errno of poll(2). */
int lab_wait(int fd, short events, int timeout_ms);
/* Closes *FD if open (with SO_LINGER 0 if RESET: no TIME_WAIT) and sets it to -1. */
void lab_close(struct lab *x, int *fd, bool reset);
/* Closes N descriptors (those >= 0), with SO_LINGER 0 if RESET. */
void lab_close_all(struct lab *x, int *fds, int n, bool reset);

/* Options for lab_socket_opts and lab_listener. */
enum {
	LAB_REUSEADDR = 1,	/* SO_REUSEADDR */
	LAB_REUSEPORT = 2,	/* SO_REUSEPORT */
	LAB_DUALSTACK = 4,	/* IPV6_V6ONLY off (it is set on every other IPv6 socket) */
	LAB_NO_PORT = 8,	/* IP_BIND_ADDRESS_NO_PORT */
};

/* A socket of FAMILY and TYPE with the options in FLAGS.  Returns fd or -errno. */
int lab_socket_opts(struct lab *x, int family, int type, unsigned flags);

/* A TCP socket with FLAGS, bound to A and listening.  Returns fd or -errno. */
int lab_listener(struct lab *x, const struct pscope_addr *a, int backlog, unsigned flags);

/*
 * As another user (uid 65534, in a child process after setresuid): a TCP
 * socket of A's family (IPV6_V6ONLY on, as lab_socket_opts sets it) with the
 * LAB_REUSEADDR and LAB_REUSEPORT of FLAGS, bound to A.  Returns 0 or -errno
 * of the first call that failed (-ETIMEDOUT if the child did not answer).
 * Needs root.
 */
int lab_bind_as_nobody(const struct pscope_addr *a, unsigned flags);

/*
 * A second network device, LAB_TUN (a tun device, down, no address), for
 * SO_BINDTODEVICE: it exists while the returned descriptor is open (close
 * it with lab_close).  Returns the descriptor or -errno: -EACCES or -EPERM
 * without root, -ENOENT without /dev/net/tun.  Only in a namespace of the
 * lab's own.
 */
#define LAB_TUN "pslab0"
int lab_tun(struct lab *x);

/* SO_BINDTODEVICE DEV on FD (socket(7)).  Returns 0 or -errno. */
int lab_bind_device(struct lab *x, int fd, const char *dev);

/* The kernel's list of sockets with local or remote port PORT, of PROTO and FAMILY. */
#define LAB_MAX_ROWS 96
struct lab_rows {
	struct pscope_diag_sock s[LAB_MAX_ROWS];
	int n;
	bool more;
};

/*
 * Lists the sockets on PORT (IPPROTO_TCP or IPPROTO_UDP).  Returns the count,
 * or -error: -E2BIG if there are more than LAB_MAX_ROWS (R holds the first
 * ones, R->more set; nothing is to be concluded from them).
 */
int lab_kernel(int proto, int family, int port, struct lab_rows *r);

/* Prints the rows as the kernel's view of PORT, each with its owner when OWNERS. */
void lab_show_kernel(struct lab *x, int port, const struct lab_rows *r, bool owners);

/*
 * How many rows are in STATE (TCP_LISTEN, TCP_ESTABLISHED, ... of
 * <netinet/tcp.h>; a UDP socket is TCP_CLOSE unconnected, TCP_ESTABLISHED
 * connected) with the local (or remote) port PORT.
 */
int lab_count(const struct lab_rows *r, int state, int port, bool local);

/* Sleeps MS milliseconds. */
void lab_sleep_ms(int ms);

/*
 * Called by lab_wait_readable() with the index of a readable descriptor.
 * Returns true when the wait is over.
 */
typedef bool lab_ready_fn(int i, void *arg);

/*
 * Waits, in the library's event loop, for any of the N descriptors FDS to be
 * readable and calls READY(index, ARG) for each that is, until READY returns
 * true or TIMEOUT_MS have passed.  Returns 0 once READY said so, -ETIMEDOUT,
 * or -errno of the loop (-ENOMEM, -EMFILE, -EBADF, ...).
 */
int lab_wait_readable(const int *fds, int n, int timeout_ms, lab_ready_fn *ready, void *arg);

#endif
