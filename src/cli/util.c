/* Helpers shared by the subcommands: messages, option values, stdout. */
#include <ctype.h>
#include <getopt.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char *cli_cmd = NULL;

static void vwarn(const char *fmt, va_list ap)
{
	fprintf(stderr, "portscope%s%s: ", cli_cmd ? " " : "", cli_cmd ? cli_cmd : "");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try 'portscope %s%s--help' for more information.\n",
		cli_cmd ? cli_cmd : "", cli_cmd ? " " : "");
	return EXIT_USAGE;
}

static bool is_negative_number(const char *s)
{
	if (s[0] != '-' || !isdigit((unsigned char)s[1]))
		return false;
	for (s++; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

int cli_bad_option(int argc, char **argv, int rc)
{
	const char *word = optind > 0 && optind <= argc ? argv[optind - 1] : "?";

	if (rc == ':')
		return cli_usage_error("option '%s' needs a value", word);
	/* "-1" reads as an option to getopt, but the user meant a port. */
	if (isdigit(optopt))
		for (int i = 1; i < argc; i++)
			if (is_negative_number(argv[i]))
				return cli_usage_error("bad endpoint '%s': %s", argv[i],
						       pscope_strerror(-PSCOPE_E_PORT));
	if (optopt == 0 || optopt == '?')
		return cli_usage_error("unknown option '%s'", word);
	return cli_usage_error("unknown option '-%c'", optopt);
}

int cli_parse_format(const char *s, enum format *fmt)
{
	if (!strcmp(s, "seed"))
		*fmt = FMT_SEED;
	else if (!strcmp(s, "line"))
		*fmt = FMT_LINE;
	else if (!strcmp(s, "json"))
		*fmt = FMT_JSON;
	else
		return cli_usage_error("bad format '%s': use seed, line or json", s), -1;
	return 0;
}

int cli_parse_count(const char *what, const char *s, unsigned long min, unsigned long max,
		    unsigned long *v)
{
	char *end;

	errno = 0;
	*v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || *v < min || *v > max)
		return cli_usage_error("bad %s '%s': give a whole number from %lu to %lu", what, s,
				       min, max), -1;
	return 0;
}

int cli_parse_seconds(const char *what, const char *s, double *secs)
{
	char *end;

	errno = 0;
	*secs = strtod(s, &end);
	if (errno || end == s || *end || !(*secs > 0) || *secs > 86400 * 365)
		return cli_usage_error("bad %s '%s': give a number of seconds above 0", what, s), -1;
	return 0;
}

int cli_parse_endpoint(const char *arg, const char *default_host, uint16_t default_port,
		       struct pscope_endpoint *ep)
{
	size_t len = strlen(arg);
	int rc = pscope_endpoint_parse(arg, len, default_host, default_port, ep);
	const char *colon;

	if (rc == 0)
		return 0;
	colon = strrchr(arg, ':');
	if ((rc == -PSCOPE_E_AMBIGUOUS || rc == -PSCOPE_E_NEED_BRACKETS) && colon)
		cli_usage_error("bad endpoint '%s': %s (did you mean [%.*s]:%s?)", arg,
				pscope_strerror(rc), (int)(colon - arg), arg, colon + 1);
	else if (rc == -PSCOPE_E_TOOLONG)
		cli_usage_error("bad endpoint '%.40s...': %s", arg, pscope_strerror(rc));
	else
		cli_usage_error("bad endpoint '%s': %s", arg, pscope_strerror(rc));
	return -1;
}

/* The errno of the first failed write to stdout, caught before later calls change errno. */
static int stdout_errno;

void cli_check_stdout(void)
{
	if (ferror(stdout) && !stdout_errno)
		stdout_errno = errno ? errno : EIO;
}

int cli_flush(void)
{
	int e;

	errno = 0;
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	e = stdout_errno ? stdout_errno : errno ? errno : EIO;
	stdout_errno = e;
	if (e == EPIPE)
		return 1;
	if (e == EINTR)
		return 2;
	cli_warn("write error: %s", strerror(e));
	return -1;
}

int cli_finish(int status)
{
	int rc = cli_flush();

	if (rc != 0 && rc != 1)
		return EXIT_FAIL;
	return status;
}

void cli_line(const char *prefix, const char *line)
{
	fputs(prefix, stdout);
	fputs(line, stdout);
	fputc('\n', stdout);
}

void cli_ignore_sigpipe(void)
{
	signal(SIGPIPE, SIG_IGN);
}
