/* Helpers shared by the subcommands: messages, option values, stdout. */
#include <ctype.h>
#include <getopt.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
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

void cli_opts_init(struct cli_opts *o, const char *shortopts, const struct option *longopts)
{
	memset(o, 0, sizeof(*o));
	o->longopts = longopts;
	/* ':' first: a missing value is told apart from an unknown option. */
	snprintf(o->shortopts, sizeof(o->shortopts), ":%s", shortopts);
}

/* The long option WORD ("--name" or "--name=value") names: its length without "--" and "=...". */
static size_t long_name_len(const char *word)
{
	return strcspn(word + 2, "=");
}

/*
 * Says what was wrong with the option getopt_long just refused (RC is '?' or
 * ':'), naming it as the user wrote it.  getopt_long leaves optind past the
 * word it refused, except inside a cluster of short options ("-qz"), where
 * only optopt tells which one.
 */
static void bad_option(const struct cli_opts *o, int argc, char **argv, int rc)
{
	const char *word = optind > 0 && optind <= argc ? argv[optind - 1] : "";
	bool is_long = !strncmp(word, "--", 2) && word[2];
	size_t len = is_long ? long_name_len(word) : 0;
	const char *name = word + 2;	/* the long option's full name, once known */
	char matches[256] = "";
	int n = 0;

	/* A long word there may be an earlier, good option if a short one was refused. */
	if (is_long && optopt) {
		const struct option *lo = o->longopts;

		while (lo && lo->name && !(lo->val == optopt && !strncmp(lo->name, word + 2, len)))
			lo++;
		is_long = lo && lo->name && (rc == ':' || word[2 + len] == '=');
		if (is_long) {
			name = lo->name;
			len = strlen(name);
		}
	}
	if (rc == ':') {
		if (is_long)
			cli_usage_error("option '--%.*s' needs a value", (int)len, name);
		else
			cli_usage_error("option '-%c' needs a value", optopt);
		return;
	}
	/* "-1" reads as an option to getopt, but the user meant a port. */
	if (!is_long && isdigit(optopt))
		for (int i = 1; i < argc; i++)
			if (is_negative_number(argv[i])) {
				struct pscope_endpoint ep;

				cli_parse_endpoint(argv[i], NULL, 0, &ep);
				return;
			}
	if (!is_long) {
		cli_usage_error("unknown option '-%c'", isprint(optopt) ? optopt : '?');
		return;
	}
	if (optopt) {
		cli_usage_error("option '--%.*s' takes no value", (int)len, name);
		return;
	}
	for (const struct option *lo = o->longopts; lo && lo->name; lo++)
		if (!strncmp(lo->name, word + 2, len) && strlen(matches) + strlen(lo->name) + 8 <
							       sizeof(matches)) {
			snprintf(matches + strlen(matches), sizeof(matches) - strlen(matches), "%s--%s",
				 n ? ", " : "", lo->name);
			n++;
		}
	if (n > 1)
		cli_usage_error("option '--%.*s' is ambiguous: %s", (int)len, word + 2, matches);
	else
		cli_usage_error("unknown option '--%.*s'", (int)len, word + 2);
}

int cli_getopt(struct cli_opts *o, int argc, char **argv)
{
	int index = -1, c;

	opterr = 0;
	c = getopt_long(argc, argv, o->shortopts, o->longopts, &index);
	if (c == -1)
		return -1;
	if (c == '?' || c == ':') {
		bad_option(o, argc, argv, c);
		return '?';
	}
	if (c < 0 || c >= CLI_OPT_MAX)
		return c;
	if (index >= 0)
		snprintf(o->seen[c], sizeof(o->seen[c]), "--%s", o->longopts[index].name);
	else
		snprintf(o->seen[c], sizeof(o->seen[c]), "-%c", c);
	/* Help is all a command line with --help asks for: anything else is a mistake. */
	if (c == 'h' && (argc > 2 || (index < 0 && strcmp(argv[1], "-h")))) {
		cli_usage_error("'%s' goes alone: it takes no other option or argument", o->seen[c]);
		return '?';
	}
	return c;
}

const char *cli_opt(const struct cli_opts *o, int val)
{
	return val >= 0 && val < CLI_OPT_MAX && o->seen[val][0] ? o->seen[val] : NULL;
}

int cli_opt_conflict(const struct cli_opts *o, int a, int b, const char *why)
{
	if (!cli_opt(o, a) || !cli_opt(o, b))
		return 0;
	return cli_usage_error("'%s' and '%s' do not go together%s%s", cli_opt(o, a), cli_opt(o, b),
			       why ? ": " : "", why ? why : "");
}

int cli_opt_needs(const struct cli_opts *o, int val, bool have, const char *what)
{
	if (!cli_opt(o, val) || have)
		return 0;
	return cli_usage_error("'%s' needs %s", cli_opt(o, val), what);
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

/* ARG as it is quoted in a message: cut after 60 bytes. */
#define ARG_SHOWN 60

/* ARG for a one-line message: control characters as \xNN, cut after ARG_SHOWN bytes. */
static void shown_arg(const char *arg, char *out, size_t size)
{
	size_t n = 0, i;

	for (i = 0; arg[i] && i < ARG_SHOWN && n + 5 < size; i++) {
		unsigned char c = (unsigned char)arg[i];

		if (c < 0x20 || c == 0x7f)
			n += (size_t)snprintf(out + n, size - n, "\\x%02x", c);
		else
			out[n++] = (char)c;
	}
	strcpy(out + n, arg[i] ? "..." : "");
}

static void endpoint_error(const char *arg, const struct pscope_endpoint *ep, int rc)
{
	char why[512], shown[ARG_SHOWN * 4 + 8];
	const char *colon = strrchr(arg, ':');

	pscope_endpoint_explain(ep, arg, strlen(arg), rc, why, sizeof(why));
	shown_arg(arg, shown, sizeof(shown));
	if ((rc == -PSCOPE_E_AMBIGUOUS || rc == -PSCOPE_E_NEED_BRACKETS) && colon)
		cli_usage_error("bad endpoint '%s': %s (did you mean [%.*s]:%s?)", shown, why,
				(int)(colon - arg), arg, colon + 1);
	else
		cli_usage_error("bad endpoint '%s': %s", shown, why);
}

int cli_parse_endpoint(const char *arg, const char *default_host, uint16_t default_port,
		       struct pscope_endpoint *ep)
{
	int rc = pscope_endpoint_parse(arg, strlen(arg), default_host, default_port, ep);

	if (rc == 0)
		return 0;
	endpoint_error(arg, ep, rc);
	return -1;
}

int cli_resolve_endpoint(const char *arg, const struct pscope_endpoint *ep, int family,
			 int flags, struct pscope_addr *out, size_t max)
{
	/* One slot more than asked for: a name with more addresses than MAX is said, not cut unannounced. */
	struct pscope_addr *all = max ? calloc(max + 1, sizeof(*all)) : NULL;
	int n = pscope_endpoint_resolve(ep, family, SOCK_STREAM, flags, all ? all : out,
					all ? max + 1 : max);
	char why[512];

	if (all && n > 0) {
		if ((size_t)n > max) {
			char first[PSCOPE_ADDRSTRLEN];

			n = (int)max;
			pscope_addr_host(&all[0], first, sizeof(first));
			if (max == 1)
				cli_warn("%s has more than one usable address; using the first, %s",
					 ep->host[0] ? ep->host : arg, first);
			else
				cli_warn("%s has more than %zu usable addresses; using the first %zu",
					 ep->host[0] ? ep->host : arg, max, max);
		}
		memcpy(out, all, (size_t)n * sizeof(*out));
	}
	free(all);
	if (n > 0)
		return n;
	/* What this machine says (a name, an interface) is a runtime failure; the text's own fault is a usage error. */
	if (n == -PSCOPE_E_SCOPE_UNKNOWN || n == -PSCOPE_E_NAME_UNUSABLE || n > -PSCOPE_ERR_BASE ||
	    n < -PSCOPE_EAI_BASE) {
		pscope_endpoint_explain(ep, arg, strlen(arg), n, why, sizeof(why));
		cli_warn("%s: %s", ep->host[0] ? ep->host : arg, why);
		return -EXIT_FAIL;
	}
	endpoint_error(arg, ep, n);
	return -EXIT_USAGE;
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

int cli_reserve(void **array, size_t *cap, size_t index, size_t size, size_t first, bool zeroed)
{
	size_t n = *cap ? *cap : first ? first : 1;
	void *p;

	if (index < *cap)
		return 0;
	while (n <= index) {
		if (n > SIZE_MAX / 2)
			return -ENOMEM;
		n *= 2;
	}
	if (n > SIZE_MAX / size)
		return -ENOMEM;
	if (zeroed) {
		p = calloc(n, size);
		if (p && *cap)
			memcpy(p, *array, *cap * size);
		if (p)
			free(*array);
	} else {
		p = realloc(*array, n * size);
	}
	if (!p)
		return -ENOMEM;
	*array = p;
	*cap = n;
	return 0;
}
