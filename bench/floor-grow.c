/*
 * The kernel's floor as the table grows: K processes in turn, each one thread
 * doing PER blocking connect() + accept() pairs to one loopback listener and
 * holding them (two descriptors each, so PER <= 9,000 under a 20,000-descriptor
 * limit), each from a source address of its own (127.0.0.2 and up, with
 * IP_BIND_ADDRESS_NO_PORT).  Prints "HELD RATE" after each process: the
 * connections held so far and that process's connections a second.  No event
 * loop, no data, no other work: what adding a connection costs the kernel as the
 * number held grows.  bench/floor-grow.sh builds and runs it in a network
 * namespace of its own.
 *   floor-grow K PER
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 250

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One process's round: PER pairs from SRC to A through LFD; writes its rate to OUT. */
static int round_of(int lfd, const struct sockaddr_in *a, int per, uint32_t src, int out)
{
	struct sockaddr_in from = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(src) };
	double t0 = now_s(), rate;
	int one = 1;

	for (int i = 0; i < per; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0);

		if (c < 0 || setsockopt(c, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) < 0 ||
		    bind(c, (const struct sockaddr *)&from, sizeof(from)) < 0 ||
		    connect(c, (const struct sockaddr *)a, sizeof(*a)) < 0 || accept(lfd, NULL, NULL) < 0) {
			perror("floor-grow");
			return 1;
		}
	}
	rate = per / (now_s() - t0);
	if (write(out, &rate, sizeof(rate)) != (ssize_t)sizeof(rate))
		return 1;
	pause();	/* hold until killed */
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	pid_t pids[MAX_PROCS];
	int k = argc == 3 ? atoi(argv[1]) : 0, per = argc == 3 ? atoi(argv[2]) : 0, lfd, n = 0, rc = 0;

	if (k < 1 || k > MAX_PROCS || per < 1 || per > 9000) {
		fprintf(stderr, "usage: floor-grow K PER (K 1..%d processes, PER 1..9000 connections each)\n",
			MAX_PROCS);
		return 2;
	}
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 128) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &len) < 0) {
		perror("floor-grow: listener");
		return 1;
	}
	for (; n < k; n++) {
		int p[2];
		double rate;

		if (pipe(p) < 0) {
			perror("floor-grow: pipe");
			rc = 1;
			break;
		}
		pids[n] = fork();
		if (pids[n] == 0) {
			close(p[0]);
			_exit(round_of(lfd, &a, per, 0x7f000002u + (uint32_t)n, p[1]));
		}
		close(p[1]);
		if (pids[n] < 0 || read(p[0], &rate, sizeof(rate)) != (ssize_t)sizeof(rate)) {
			fprintf(stderr, "floor-grow: process %d gave no rate\n", n + 1);
			close(p[0]);
			rc = 1;
			n += pids[n] > 0;
			break;
		}
		close(p[0]);
		printf("%d %.0f\n", (n + 1) * per, rate);
		fflush(stdout);
	}
	for (int i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	for (int i = 0; i < n; i++)
		waitpid(pids[i], NULL, 0);
	return rc;
}
