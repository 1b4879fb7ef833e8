/*
 * pshostile: badly behaved clients for the hardening tests, each bounded in
 * count and time.  TARGET is PORT (on 127.0.0.1) or HOST:PORT ([v6]:PORT).
 * Each prints one line of key=value results; exit 0 unless the tool itself failed.
 *
 *   pshostile flood TARGET N        open N connections at once; after 1 s say how
 *                                   many were served (a line), shed (EOF or reset at
 *                                   once) or left waiting; then hold them until
 *                                   killed or 20 s
 *   pshostile probe TARGET          connect and time the server's first line
 *   pshostile trickle TARGET N S    N clients that each send one byte a second,
 *                                   never a newline, for S seconds at most; when
 *                                   each was closed, and the slowest of a new
 *                                   client's first line meanwhile
 *   pshostile longline TARGET BYTES send BYTES without a newline; was it closed?
 *   pshostile slowread TARGET [MAX] a tiny receive buffer, never read: send lines
 *                                   until the server stops taking them (or MAX
 *                                   bytes are sent); when was it closed?
 *   pshostile halfclose TARGET L    send L lines, shut the write side, read to the end
 *   pshostile resets TARGET N WHEN  N clients reset (SO_LINGER 0): WHEN is "now"
 *                                   (before reading), "after" (after the first line)
 *                                   or "lines" (after sending 1000 lines, unread)
 *   pshostile finwait TARGET N      open N, read each first line, print "ready N",
 *                                   then count how each ends: FIN, reset, or open,
 *                                   and when the last ended (ms after "ready")
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "portscope/portscope.h"

#define DEADLINE_MS 20000

static struct pscope_addr target;

static int die(const char *what, int err)
{
	fprintf(stderr, "pshostile: %s: %s\n", what, pscope_strerror(err));
	exit(1);
}

static void parse_target(const char *arg)
{
	struct pscope_endpoint ep;
	int rc = pscope_endpoint_parse(arg, strlen(arg), "127.0.0.1", 0, &ep);

	if (rc == 0)
		rc = pscope_endpoint_resolve(&ep, AF_UNSPEC, SOCK_STREAM, PSCOPE_RESOLVE_NUMERIC,
					     &target, 1);
	if (rc < 0)
		die(arg, rc);
}

static int elapsed_ms(long long since)
{
	return (int)(pscope_now_ms() - since);
}

/* A connected socket, or death.  RCVBUF > 0 sets the receive buffer first. */
static int dial(int rcvbuf)
{
	int fd = pscope_socket(target.u.sa.sa_family, SOCK_STREAM);
	int rc;

	if (fd < 0)
		die("socket", fd);
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	rc = pscope_connect(fd, &target, 5000);
	if (rc < 0)
		die("connect", rc);
	return fd;
}

/* Starts a connection without waiting for it. */
static int dial_async(void)
{
	int fd = pscope_socket(target.u.sa.sa_family, SOCK_STREAM);

	if (fd < 0)
		die("socket", fd);
	if (connect(fd, &target.u.sa, target.len) < 0 && errno != EINPROGRESS)
		die("connect", -errno);
	return fd;
}

/* Reads the server's first line.  Returns 1 if one came, 0 at EOF, -errno otherwise. */
static int first_line(int fd, int timeout_ms)
{
	char line[PSCOPE_WHOAMI_BUF];
	struct pscope_whoami w;
	size_t len;
	int rc = pscope_read_line(fd, line, sizeof(line), &len, timeout_ms);

	if (rc < 0)
		return rc;
	if (rc == PSCOPE_LINE_NONE)
		return 0;
	if ((rc != PSCOPE_LINE_LF && rc != PSCOPE_LINE_CRLF) || pscope_whoami_parse(line, len, &w) < 0)
		return -PSCOPE_E_PROTO;
	return 1;
}

/* What became of a connection: 1 ended by FIN, 2 by a reset, 0 still open (nothing to read now). */
static int ended(int fd)
{
	char buf[4096];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 0)
			return 1;
		if (n > 0)
			continue;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? 0 : 2;
	}
}

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int cmd_flood(int n)
{
	struct pollfd *p = calloc((size_t)n, sizeof(*p));
	int served = 0, shed = 0, waiting = 0;
	long long start;

	if (!p)
		die("flood", -ENOMEM);
	for (int i = 0; i < n; i++)
		p[i] = (struct pollfd){ .fd = dial_async(), .events = POLLIN };
	/* Each client either gets its line, or is shed (EOF or reset) at once; one second is plenty. */
	start = pscope_now_ms();
	while (elapsed_ms(start) < 1000)
		poll(NULL, 0, 50);
	for (int i = 0; i < n; i++) {
		int rc = first_line(p[i].fd, 0);

		if (rc == 1)
			served++;
		else if (rc == -ETIMEDOUT || rc == -EAGAIN)
			waiting++;
		else
			shed++;
	}
	printf("served=%d shed=%d waiting=%d\n", served, shed, waiting);
	fflush(stdout);
	signal(SIGTERM, on_term);
	for (start = pscope_now_ms(); !stop && elapsed_ms(start) < DEADLINE_MS;)
		poll(NULL, 0, 100);
	free(p);
	return 0;
}

static int cmd_probe(void)
{
	long long start = pscope_now_ms();
	int fd = dial(0), rc = first_line(fd, 5000);

	printf("ms=%d line=%s\n", elapsed_ms(start), rc == 1 ? "yes" : "no");
	close(fd);
	return 0;
}

static int probe_ms(void)
{
	long long start = pscope_now_ms();
	int fd = dial(0), rc = first_line(fd, 5000);

	close(fd);
	return rc == 1 ? elapsed_ms(start) : 99999;
}

static int cmd_trickle(int n, int secs)
{
	int *fd = calloc((size_t)n, sizeof(*fd));
	long long *closed_at = calloc((size_t)n, sizeof(*closed_at));
	long long start;
	int left = n, probe_max = 0, first = -1, last = -1;

	if (!fd || !closed_at)
		die("trickle", -ENOMEM);
	for (int i = 0; i < n; i++) {
		fd[i] = dial(0);
		if (first_line(fd[i], 5000) != 1)
			die("trickle: no first line", -PSCOPE_E_PROTO);
	}
	/* The clock starts with the first byte of the unfinished line. */
	start = pscope_now_ms();
	for (int sec = 0; left > 0 && sec < secs; sec++) {
		for (int i = 0; i < n; i++)
			if (!closed_at[i] && (ended(fd[i]) ||
					      send(fd[i], "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)) {
				closed_at[i] = pscope_now_ms();
				left--;
			}
		int ms = probe_ms();

		if (ms > probe_max)
			probe_max = ms;
		/* Until the next second, watch for closes. */
		for (long long until = start + (sec + 1) * 1000LL; pscope_now_ms() < until;) {
			poll(NULL, 0, 20);
			for (int i = 0; i < n; i++)
				if (!closed_at[i] && ended(fd[i])) {
					closed_at[i] = pscope_now_ms();
					left--;
				}
		}
	}
	for (int i = 0; i < n; i++) {
		int at;

		if (!closed_at[i])
			continue;
		at = (int)(closed_at[i] - start);
		if (first < 0 || at < first)
			first = at;
		if (at > last)
			last = at;
	}
	printf("closed=%d of=%d first_ms=%d last_ms=%d probe_max_ms=%d\n", n - left, n, first, last,
	       probe_max);
	free(fd);
	free(closed_at);
	return 0;
}

static int cmd_longline(long bytes)
{
	static char chunk[65536];
	int fd = dial(0);
	long sent = 0;
	long long start;
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	if (first_line(fd, 5000) != 1)
		die("longline: no first line", -PSCOPE_E_PROTO);
	memset(chunk, 'x', sizeof(chunk));
	start = pscope_now_ms();
	while (sent < bytes && elapsed_ms(start) < 10000) {
		size_t want = bytes - sent < (long)sizeof(chunk) ? (size_t)(bytes - sent) : sizeof(chunk);
		ssize_t n = send(fd, chunk, want, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			sent += n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			break;
		poll(&p, 1, 100);
	}
	/* However much went out, the server must end the connection. */
	for (start = pscope_now_ms(); elapsed_ms(start) < 5000 && !ended(fd);)
		poll(NULL, 0, 20);
	printf("sent=%ld closed=%s\n", sent, ended(fd) ? "yes" : "no");
	return 0;
}

static int cmd_slowread(long max)
{
	static char lines[4096];
	int fd = dial(1);	/* the kernel rounds it up to its minimum */
	long sent = 0;
	long long start = pscope_now_ms(), stuck = 0, gone = 0;
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int end = 0;

	for (size_t i = 0; i < sizeof(lines); i += 2)
		memcpy(lines + i, "?\n", 2);
	/* One byte first, so that the server's reads end mid-line: an unfinished line is pending too. */
	if (send(fd, "x", 1, MSG_NOSIGNAL) != 1)
		die("send", -errno);
	/* Send until the server stops reading (it does while its answers wait): 2 s without progress,
	 * or until it gives up on us. */
	while (sent < max && elapsed_ms(start) < 15000 && (!stuck || elapsed_ms(stuck) < 2000)) {
		size_t want = max - sent < (long)sizeof(lines) ? (size_t)(max - sent) & ~(size_t)1 : sizeof(lines);
		ssize_t n = want ? send(fd, lines, want, MSG_NOSIGNAL | MSG_DONTWAIT) : 0;

		if (!want)
			break;

		if (n > 0) {
			sent += n;
			stuck = 0;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			/* Given up on already, while still sending. */
			end = errno == ECONNRESET || errno == EPIPE ? 2 : 1;
			gone = pscope_now_ms();
			break;
		}
		if (!stuck)
			stuck = pscope_now_ms();
		poll(&p, 1, 100);
	}
	/* Never read: the server must give up on us.  The time counts from when sending stuck. */
	start = stuck ? stuck : pscope_now_ms();
	p.events = 0;
	while (!end && elapsed_ms(start) < DEADLINE_MS) {
		p.revents = 0;
		if (poll(&p, 1, 50) > 0 && (p.revents & (POLLERR | POLLHUP))) {
			end = p.revents & POLLERR ? 2 : 1;
			gone = pscope_now_ms();
		}
	}
	printf("sent_lines=%ld closed_after_ms=%d end=%s\n", sent / 2, end ? (int)(gone - start) : -1,
	       end == 2 ? "reset" : end == 1 ? "fin" : "open");
	return 0;
}

static int cmd_halfclose(int nlines)
{
	int fd = dial(0), lines = 0, bad = 0;
	char buf[PSCOPE_WHOAMI_BUF];
	const char *end = "timeout";
	long long start = pscope_now_ms();

	for (int i = 0; i < nlines; i++)
		if (pscope_write_all(fd, "again\n", 6) < 0)
			die("send", -errno);
	if (shutdown(fd, SHUT_WR) < 0)
		die("shutdown", -errno);
	while (elapsed_ms(start) < 5000) {
		struct pscope_whoami w;
		size_t len;
		int rc = pscope_read_line(fd, buf, sizeof(buf), &len, 5000 - elapsed_ms(start));

		if (rc == PSCOPE_LINE_NONE) {
			end = "eof";
			break;
		}
		if (rc < 0) {
			end = rc == -ECONNRESET ? "reset" : "timeout";
			break;
		}
		if ((rc == PSCOPE_LINE_LF || rc == PSCOPE_LINE_CRLF) && pscope_whoami_parse(buf, len, &w) == 0)
			lines++;
		else
			bad++;
	}
	printf("lines=%d bad=%d end=%s\n", lines, bad, end);
	return 0;
}

static int cmd_resets(int n, const char *when)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	static char many[6000];

	for (size_t i = 0; i < sizeof(many); i += 6)
		memcpy(many + i, "again\n", 6);
	for (int i = 0; i < n; i++) {
		int fd = dial(0);

		if (!strcmp(when, "after"))
			first_line(fd, 5000);
		else if (!strcmp(when, "lines"))
			(void)pscope_write_all(fd, many, sizeof(many));
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
	}
	printf("reset=%d\n", n);
	return 0;
}

static int cmd_finwait(int n)
{
	int *fd = calloc((size_t)n, sizeof(*fd));
	int fin = 0, rst = 0, open = n, ready = 0, last = -1;
	char *state;
	long long start;

	state = calloc((size_t)n, 1);
	if (!fd || !state)
		die("finwait", -ENOMEM);
	for (int i = 0; i < n; i++)
		fd[i] = dial_async();
	for (int i = 0; i < n; i++)
		ready += first_line(fd[i], 5000) == 1;
	printf("ready %d\n", ready);
	fflush(stdout);
	for (start = pscope_now_ms(); open > 0 && elapsed_ms(start) < DEADLINE_MS;) {
		poll(NULL, 0, 20);
		for (int i = 0; i < n; i++) {
			int e;

			if (state[i] || !(e = ended(fd[i])))
				continue;
			state[i] = (char)e;
			last = elapsed_ms(start);
			open--;
			fin += e == 1;
			rst += e == 2;
		}
	}
	printf("fin=%d reset=%d open=%d last_ms=%d\n", fin, rst, open, last);
	free(fd);
	free(state);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 2 ? argv[1] : "";

	if (argc > 2)
		parse_target(argv[2]);
	if (!strcmp(cmd, "flood") && argc == 4)
		return cmd_flood(atoi(argv[3]));
	if (!strcmp(cmd, "probe") && argc == 3)
		return cmd_probe();
	if (!strcmp(cmd, "trickle") && argc == 5)
		return cmd_trickle(atoi(argv[3]), atoi(argv[4]));
	if (!strcmp(cmd, "longline") && argc == 4)
		return cmd_longline(atol(argv[3]));
	if (!strcmp(cmd, "slowread") && (argc == 3 || argc == 4))
		return cmd_slowread(argc == 4 ? atol(argv[3]) : 1L << 40);
	if (!strcmp(cmd, "halfclose") && argc == 4)
		return cmd_halfclose(atoi(argv[3]));
	if (!strcmp(cmd, "resets") && argc == 5)
		return cmd_resets(atoi(argv[3]), argv[4]);
	if (!strcmp(cmd, "finwait") && argc == 4)
		return cmd_finwait(atoi(argv[3]));
	fprintf(stderr, "usage: pshostile flood|probe|trickle|longline|slowread|halfclose|resets|finwait TARGET ...\n");
	return 2;
}
