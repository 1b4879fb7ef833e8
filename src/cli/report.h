/* One accepted connection, reported as the note's server does, or as a line or JSON. */
#ifndef PORTSCOPE_REPORT_H
#define PORTSCOPE_REPORT_H

#include "cli.h"
#include "portscope/proxy.h"

struct conn_report {
	unsigned long long seq;		/* 1 for the first connection served */
	struct pscope_addr from;	/* the address accept() returned */
	struct pscope_sockinfo conn;	/* the connected socket */
	const struct pscope_sockinfo *listener;
	const struct pscope_proxy_hdr *pp;	/* serve --proxy-protocol: the header; else NULL */
};

/* Writes R to stdout in FMT, each line after PREFIX. */
void report_print(enum format fmt, const char *prefix, const struct conn_report *r);

/* The portscope/1 line for R. Returns its length or -ENOSPC. */
int report_whoami(const struct conn_report *r, char *buf, size_t size);

/* Python's rendering of an address, or of the error that stands in for it. */
void report_py_addr(const struct pscope_addr *a, int err, char *buf, size_t size);

#endif
