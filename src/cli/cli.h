/* The command layer: what the user sees, and the exit status. */
#ifndef PORTSCOPE_CLI_H
#define PORTSCOPE_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "portscope/portscope.h"

/* Exit statuses. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/*
 * connect's exit statuses when the connection itself fails, by how; and when
 * the server accepted it, then reset it before its portscope/1 line.
 */
enum { EXIT_REFUSED = 3, EXIT_UNREACHABLE = 4, EXIT_TIMEOUT = 5, EXIT_RESET = 6 };

/*
 * connect --strict: the server's line showed another 4-tuple (a NAT or a proxy
 * in between), or there was no line to judge by.
 */
enum { EXIT_MISMATCH = 8, EXIT_UNJUDGED = 9 };

/* Output formats; a command accepts a subset. */
enum format { FMT_SEED, FMT_LINE, FMT_JSON };

/* The subcommand being run, for messages: "serve", "connect", ... */
extern const char *cli_cmd;

/* "portscope: MESSAGE" on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Reports a bad command line: the message, then "Try 'portscope CMD --help'".
 * Returns EXIT_USAGE so callers can `return cli_usage_error(...)`.
 */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * "connect TEXT: why (what it means)" on stderr for a connect(2) to DST that
 * failed as WHY explains it (connfail.h: pscope_connect_explained()) with -w
 * TIMEOUT_MS; returns the exit status connect uses: EXIT_REFUSED (a reset),
 * EXIT_UNREACHABLE (an ICMP error, or refused here), EXIT_TIMEOUT (no answer,
 * or none to ARP or neighbour discovery) or EXIT_FAIL (in connect.c).
 */
struct pscope_connfail;
int cli_connect_failed(const char *text, const struct pscope_addr *dst,
		       const struct pscope_connfail *why, int timeout_ms);

/*
 * Option parsing, one way for every command: getopt_long, with each option
 * named in messages as the user wrote it ("-k", or "--keep" for "--keep",
 * "--kee" and "--keep=1"), and remembered, so that checks made after the
 * loop can name it too.
 */
#define CLI_OPT_MAX 320		/* option values: characters, and long-only ones from 256 */

struct cli_opts {
	char shortopts[64];
	const struct option *longopts;
	char seen[CLI_OPT_MAX][24];	/* each option given, as last written; "" if not */
};

/* Starts parsing with getopt's SHORTOPTS (no leading ':') and LONGOPTS. */
void cli_opts_init(struct cli_opts *o, const char *shortopts, const struct option *longopts);

/*
 * The next option's value (optarg set as by getopt_long), -1 at the end, or
 * '?' after a usage message: an unknown, ambiguous or misused option, a
 * missing value ("-1" is reported as a bad port: the user meant one), or
 * -h/--help with anything else on the line.  On '?', return EXIT_USAGE.
 */
int cli_getopt(struct cli_opts *o, int argc, char **argv);

/* Option VAL as the user last wrote it ("-c", "--procs"), or NULL if it was not given. */
const char *cli_opt(const struct cli_opts *o, int val);

/*
 * If options A and B were both given, says so (with WHY, if not NULL) and
 * returns EXIT_USAGE; else returns 0.
 */
int cli_opt_conflict(const struct cli_opts *o, int a, int b, const char *why);

/* If option VAL was given without HAVE, says "'-c' needs WHAT" and returns EXIT_USAGE; else 0. */
int cli_opt_needs(const struct cli_opts *o, int val, bool have, const char *what);

/* Parses "seed", "line" or "json" into *FMT. Returns 0 or -1 (message printed). */
int cli_parse_format(const char *s, enum format *fmt);

/* Parses a whole number from MIN to MAX into *V. Returns 0 or -1 (message printed). */
int cli_parse_count(const char *what, const char *s, unsigned long min, unsigned long max,
		    unsigned long *v);

/* Parses a positive number of seconds (fractions allowed). Returns 0 or -1 (message printed). */
int cli_parse_seconds(const char *what, const char *s, double *secs);

/*
 * Parses ARG as an endpoint with the given defaults.  On error prints
 * "bad endpoint 'ARG': why" (with a bracketed suggestion where one helps)
 * and returns -1.
 */
int cli_parse_endpoint(const char *arg, const char *default_host, uint16_t default_port,
		       struct pscope_endpoint *ep);

/*
 * Resolves EP, parsed from ARG, into at most MAX addresses (TCP) of FAMILY
 * for the use FLAGS names (PSCOPE_RESOLVE_PASSIVE for serve,
 * PSCOPE_RESOLVE_CONNECT for connect).  On error prints one line and returns
 * -EXIT_USAGE (the text's own fault: "bad endpoint 'ARG': why") or
 * -EXIT_FAIL (what this machine said: a name that does not resolve, an
 * interface that does not exist).  Returns how many addresses otherwise; a
 * name with more than MAX usable addresses gives the first MAX, and a warning
 * on stderr says so.
 */
int cli_resolve_endpoint(const char *arg, const struct pscope_endpoint *ep, int family,
			 int flags, struct pscope_addr *out, size_t max);

/*
 * Flushes stdout.  Returns 0 if all was written; 1 if the reader has gone
 * (EPIPE: stop quietly); 2 if a signal interrupted a write that could not
 * proceed; -1 on another write error, after saying so.
 */
int cli_flush(void);

/* Notes the errno of a failed write to stdout at once, for cli_flush() to report. */
void cli_check_stdout(void);

/* Flushes stdout at the end of a command; turns STATUS into EXIT_FAIL on a write error. */
int cli_finish(int status);

/* Writes LINE (no newline) with PREFIX before it, to stdout. */
void cli_line(const char *prefix, const char *line);

/* Ignores SIGPIPE so that a vanished peer or reader is an error to handle, not death. */
void cli_ignore_sigpipe(void);

/*
 * Makes entry INDEX of the growing array *ARRAY (*CAP entries of SIZE bytes)
 * exist: if INDEX >= *CAP, the capacity doubles, from FIRST entries, until it
 * is past INDEX.  ZEROED: the new entries are zeroes, and the array is fresh
 * memory from calloc(3) with the old entries copied in (a large one comes from
 * mmap(2), so entries never reached cost no memory); otherwise realloc(3).
 * Returns 0, or -ENOMEM with *ARRAY and *CAP unchanged.
 */
int cli_reserve(void **array, size_t *cap, size_t index, size_t size, size_t first, bool zeroed);

/* cli_reserve() on the typed pointer ARRAY (an lvalue), its capacity CAP (an lvalue). */
#define CLI_RESERVE(array, cap, index, first, zeroed)                                               \
	__extension__({                                                                               \
		void *cli_array_ = (array);                                                           \
		int cli_rc_ = cli_reserve(&cli_array_, &(cap), (index), sizeof(*(array)), (first), (zeroed)); \
		(array) = cli_array_;                                                                 \
		cli_rc_;                                                                              \
	})

/* An account to run as, from serve --user. */
struct cli_user {
	uid_t uid;
	gid_t gid;
	char name[64];
};

/* Looks NAME (or a number) up.  Returns 0, or -1 after a usage message. */
int cli_user_lookup(const char *name, struct cli_user *u);

/*
 * Becomes U for good: its groups, gid and uid, an empty capability bounding
 * set and no_new_privs; checks that setuid(0) then fails.  Returns 0, or -1
 * after saying why.
 */
int cli_drop_privileges(const struct cli_user *u);

/* The subcommands. */
int cmd_serve(int argc, char **argv);
int cmd_connect(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_lab(int argc, char **argv);
int cmd_proxycheck(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_exporter(int argc, char **argv);
int cmd_top(int argc, char **argv);

#endif
