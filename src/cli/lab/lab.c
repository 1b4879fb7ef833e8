/*
 * portscope lab: the rules of port sharing, each one predicted, run against
 * this kernel, and checked.  Each experiment runs in a child process (in a
 * network namespace of its own when it binds wildcards or narrows port
 * ranges), so a hang is cut off, every descriptor is closed when it ends, and
 * the host's network is left as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "portscope/json.h"

#include "lab.h"

/* How long one experiment may run before it is stopped and counted a FAIL. */
#define CHILD_TIMEOUT_MS 20000
/* More output than this from one experiment is cut. */
#define TEXT_MAX (1024 * 1024)

static const struct lab_experiment *const experiments[] = {
	&lab_accept_shares_port, &lab_no_peer_yet, &lab_bind_conflict, &lab_reuseport,
	&lab_specific_beats_wildcard, &lab_client_port_reuse, &lab_ephemeral_ports,
	&lab_time_wait, &lab_dual_stack, &lab_udp_demux, &lab_accept_queue,
};
#define N_EXPERIMENTS (sizeof(experiments) / sizeof(experiments[0]))

static const char usage[] =
	"usage: portscope lab [-v] [-f text|json] [NAME... | all]\n"
	"\n"
	"The rules of port sharing, each one predicted (with the man page that says so),\n"
	"run against this kernel on loopback, and checked.  Without NAME, list the\n"
	"experiments; with NAME, run it; with 'all', run every one.\n"
	"\n"
	"Each experiment tells what it shows, states its predictions and their sources,\n"
	"runs (ports chosen by the kernel, loopback only, or a network namespace of its\n"
	"own when it binds a wildcard address or narrows the port range), shows the\n"
	"evidence (getsockname, getpeername, the kernel's list of sockets on the port)\n"
	"and prints each prediction next to what was observed: PASS, FAIL or SKIP.  A\n"
	"check that needs root (acting as another user) is skipped, and says so, when\n"
	"run as an ordinary user.\n"
	"\n"
	"Options:\n"
	"  -v, --verbose        show the steps: each system call with its addresses,\n"
	"                       descriptors and errno names; loops of many connections\n"
	"                       in one line (text output only)\n"
	"  -f, --format FMT     text (default) or json: one object,\n"
	"                       {\"kernel\": ..., \"experiments\": [{\"name\", \"result\",\n"
	"                       \"predicted\", \"observed\", \"why\", \"checks\"}]}\n"
	"  -h, --help           show this help\n"
	"\n"
	"Environment:\n"
	"  PORTSCOPE_LAB_WRONG=NAME  negate every prediction of experiment NAME (for\n"
	"                       testing that a wrong prediction is reported as a FAIL)\n"
	"\n"
	"Exit status: 0 if every prediction held (or was skipped), 1 if any failed or an\n"
	"experiment could not run, 2 for a bad command line.\n";

/* What a child reports back, followed by TEXT_LEN bytes of its text. */
/*
 * Sized so that every check fits (RECORD_SIDE: "what: value; " for each; the
 * why: each check's "FAILED what: predicted ..., observed ...", and a line of
 * sources): nothing is cut.
 */
#define RECORD_SIDE (LAB_MAX_CHECKS * (sizeof(((struct lab_check *)0)->what) + LAB_TEXT + 4))
#define RECORD_WHY (LAB_MAX_CHECKS * (sizeof(((struct lab_check *)0)->what) + 2 * LAB_TEXT + 40) + \
		    LAB_TEXT * 4 + 256)
struct record {
	enum lab_result result;
	int nchecks;
	char predicted[RECORD_SIDE];
	char observed[RECORD_SIDE];
	char why[RECORD_WHY];
	size_t text_len;
};

struct outcome {
	const struct lab_experiment *e;
	struct record rec;
};

struct opts {
	bool verbose, json;
	const char *wrong;	/* PORTSCOPE_LAB_WRONG */
};

static char kernel_release[sizeof(((struct utsname *)0)->release)];

/*
 * Appends "; TEXT" (or TEXT first) to BUF of SIZE.  The record is sized to
 * hold every check; should it not, the end says so ("[cut]") rather than stop
 * mid-word unannounced.
 */
static void append(char *buf, size_t size, const char *text)
{
	static const char cut[] = " [cut]";
	size_t len = strlen(buf);

	if (len + sizeof(cut) >= size)
		return;
	if ((size_t)snprintf(buf + len, size - len - sizeof(cut) + 1, "%s%s", len ? "; " : "", text) >=
	    size - len - sizeof(cut) + 1)
		strcpy(buf + size - sizeof(cut), cut);
}

/* Turns the checks into the record: the result, both sides joined, and why. */
static void summarize(const struct lab *x, struct record *r)
{
	int pass = 0, fail = 0, skip = 0;
	char item[LAB_TEXT * 4];

	memset(r, 0, sizeof(*r));
	r->nchecks = x->nchecks;
	for (int i = 0; i < x->nchecks; i++) {
		const struct lab_check *c = &x->checks[i];

		if (c->result == LAB_SKIP) {
			skip++;
			snprintf(item, sizeof(item), "%s: %s", c->what, c->observed);
			append(r->observed, sizeof(r->observed), item);
			continue;
		}
		c->result == LAB_PASS ? pass++ : fail++;
		snprintf(item, sizeof(item), "%s: %s", c->what, c->predicted);
		append(r->predicted, sizeof(r->predicted), item);
		snprintf(item, sizeof(item), "%s: %s", c->what, c->observed);
		append(r->observed, sizeof(r->observed), item);
	}
	r->result = fail || !x->nchecks ? LAB_FAIL : pass ? LAB_PASS : LAB_SKIP;
	if (!x->nchecks)
		append(r->why, sizeof(r->why), "the experiment made no check");
	for (int i = 0; i < x->nchecks; i++) {
		const struct lab_check *c = &x->checks[i];

		if (c->result == LAB_FAIL) {
			snprintf(item, sizeof(item), "FAILED %s: predicted %s, observed %s", c->what,
				 c->predicted, c->observed);
			append(r->why, sizeof(r->why), item);
		}
	}
	if (fail) {
		snprintf(item, sizeof(item), "kernel %s", kernel_release);
		append(r->why, sizeof(r->why), item);
	}
	for (int i = 0; i < x->nchecks; i++) {
		const struct lab_check *c = &x->checks[i];

		if (c->result == LAB_SKIP) {
			snprintf(item, sizeof(item), "%s %s", c->what, c->observed);
			append(r->why, sizeof(r->why), item);
		}
	}
	if (!fail && pass) {
		int left = 0;

		snprintf(item, sizeof(item), "%d prediction%s held, as %s", pass, pass == 1 ? "" : "s",
			 x->checks[0].source);
		for (int i = 1; i < x->nchecks; i++) {
			const char *src = x->checks[i].source;
			bool seen = !*src;

			for (int j = 0; j < i && !seen; j++)
				seen = !strcmp(src, x->checks[j].source);
			if (seen)
				continue;
			if (strlen(item) + strlen(src) + 40 < sizeof(item))
				strcat(strcat(item, "; "), src);
			else
				left++;
		}
		if (left) /* said, not dropped: the checks above name each one */
			snprintf(item + strlen(item), sizeof(item) - strlen(item), "; and %d more source%s",
				 left, left == 1 ? "" : "s");
		append(r->why, sizeof(r->why), item);
	}
}

/* Prints the experiment's heading, story and predictions. */
static void introduce(struct lab *x, const struct lab_experiment *e)
{
	const char *p;

	fprintf(x->out, "== %s: %s\n\n", e->name, e->title);
	for (p = e->story; *p;) {
		size_t n = strcspn(p, "\n");

		fprintf(x->out, "  %.*s\n", (int)n, p);
		p += n + (p[n] == '\n');
	}
	fputs("\n  Predictions:\n", x->out);
	for (p = e->predict; *p;) {
		size_t n = strcspn(p, "\n");

		fprintf(x->out, "    %.*s\n", (int)n, p);
		p += n + (p[n] == '\n');
	}
	if (x->flip)
		fputs("  (PORTSCOPE_LAB_WRONG: every prediction below is negated, to show a FAIL)\n",
		      x->out);
	fputc('\n', x->out);
}

/* Brings up the loopback interface of a new network namespace. */
static int loopback_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		rc = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (rc == 0 && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/*
 * Moves this process into a network namespace of its own: as root directly,
 * otherwise inside a user namespace (which also makes it no longer able to act
 * as another user).  Returns 0 or -errno.
 */
static int enter_netns(struct lab *x)
{
	const char *how = "unshare(CLONE_NEWNET)";
	int rc;

	if (unshare(CLONE_NEWNET) < 0) {
		rc = -errno;
		if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0) {
			fprintf(x->out, "  (no network namespace: %s, then %s; running in this one)\n\n",
				pscope_errno_name(rc), pscope_errno_name(-errno));
			return rc;
		}
		how = "unshare(CLONE_NEWUSER | CLONE_NEWNET), as an ordinary user";
		x->root = false;
	}
	rc = loopback_up();
	if (rc < 0) {
		fprintf(x->out, "  (a network namespace, but lo would not come up: %s)\n\n",
			pscope_errno_name(rc));
		return rc;
	}
	x->own_netns = true;
	fprintf(x->out, "  (runs in a network namespace of its own, made by %s: only lo,\n"
		"   nothing else on any port; it disappears when the experiment ends)\n\n", how);
	return 0;
}

/* Writes all of BUF to FD. */
static void put_all(int fd, const void *buf, size_t len)
{
	(void)pscope_write_all(fd, buf, len);
}

/* The child: runs E, then writes its record and text to WFD.  Never returns. */
static void run_child(const struct lab_experiment *e, const struct opts *o, int wfd)
{
	static struct lab x;
	struct record rec;
	char *text = NULL;
	size_t len = 0;

	x.out = open_memstream(&text, &len);
	if (!x.out)
		_exit(3);
	x.verbose = o->verbose;
	x.flip = o->wrong && !strcmp(o->wrong, e->name);
	x.root = geteuid() == 0;
	introduce(&x, e);
	if (e->netns)
		(void)enter_netns(&x);
	if (e->each_family)
		lab_each_family(&x, e->each_family);
	else
		e->run(&x);
	summarize(&x, &rec);
	if (fclose(x.out) != 0)
		_exit(3);
	rec.text_len = len;
	put_all(wfd, &rec, sizeof(rec));
	put_all(wfd, text, len);
	free(text);
	_exit(0);
}

/* Reads what the child sends until end of file, the size cap or the deadline. */
static int read_child(int rfd, char **buf, size_t *len)
{
	long long deadline = pscope_now_ms() + CHILD_TIMEOUT_MS;
	size_t cap = 64 * 1024;

	*len = 0;
	*buf = malloc(cap);
	if (!*buf)
		return -ENOMEM;
	for (;;) {
		int left = (int)(deadline - pscope_now_ms()), rc;
		ssize_t n;

		if (left <= 0)
			return -ETIMEDOUT;
		/* The pipe blocks: read only once it is readable, or a hung child hangs us too. */
		rc = lab_wait(rfd, POLLIN, left);
		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0)
			return rc;
		if (*len == cap) {
			char *more = cap >= sizeof(struct record) + TEXT_MAX ? NULL : realloc(*buf, cap * 2);

			if (!more)
				return -EFBIG;
			*buf = more;
			cap *= 2;
		}
		n = read(rfd, *buf + *len, cap - *len);
		if (n == 0)
			return 0;
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return -errno;
		if (n > 0)
			*len += (size_t)n;
	}
}

/* Sets R to a FAIL that says what went wrong with the experiment's process: WHAT, then VALUE. */
static void child_failed(struct record *r, const char *what, const char *value)
{
	char why[256];

	memset(r, 0, sizeof(*r));
	r->result = LAB_FAIL;
	snprintf(why, sizeof(why), "%s%s", what, value);
	snprintf(r->why, sizeof(r->why), "%s; kernel %s", why, kernel_release);
	snprintf(r->predicted, sizeof(r->predicted), "the experiment runs to its end");
	snprintf(r->observed, sizeof(r->observed), "%s", why);
}

/* Runs E in a child process; fills OUT and prints the experiment's text unless JSON. */
static void run_one(const struct lab_experiment *e, const struct opts *o, struct outcome *out)
{
	int p[2], status = 0, rc;
	char num[16], *buf = NULL;
	size_t len = 0;
	pid_t pid;

	out->e = e;
	if (pipe2(p, O_CLOEXEC) < 0) {
		child_failed(&out->rec, "pipe: ", pscope_errno_name(errno));
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		child_failed(&out->rec, "fork: ", pscope_errno_name(errno));
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		close(p[0]);
		run_child(e, o, p[1]);
	}
	close(p[1]);
	rc = read_child(p[0], &buf, &len);
	close(p[0]);
	if (rc < 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc == -ETIMEDOUT)
		child_failed(&out->rec, "it did not finish: stopped after ",
			     (snprintf(num, sizeof(num), "%d s", CHILD_TIMEOUT_MS / 1000), num));
	else if (rc < 0)
		child_failed(&out->rec, "reading its report failed: ", pscope_errno_name(rc));
	else if (WIFSIGNALED(status))
		child_failed(&out->rec, "its process was killed by signal ",
			     (snprintf(num, sizeof(num), "%d", WTERMSIG(status)), num));
	else if (len < sizeof(struct record) || WEXITSTATUS(status) != 0)
		child_failed(&out->rec, "its process ended without a report, exit status ",
			     (snprintf(num, sizeof(num), "%d", WEXITSTATUS(status)), num));
	else
		memcpy(&out->rec, buf, sizeof(out->rec));
	if (!o->json) {
		if (rc == 0 && len >= sizeof(struct record) &&
		    out->rec.text_len == len - sizeof(struct record))
			fwrite(buf + sizeof(struct record), 1, out->rec.text_len, stdout);
		else
			printf("== %s: %s\n\n", e->name, e->title);
	}
	free(buf);
}

static const char *const result_names[] = { "PASS", "FAIL", "SKIP" };

/* The verdict line of one experiment, on a FAIL the kernel, and why (a FAIL: each failed check, both sides). */
static void print_verdict(const struct outcome *out)
{
	const struct record *r = &out->rec;

	printf("\n  result: %s  %s\n", result_names[r->result], out->e->name);
	if (r->result == LAB_FAIL)
		printf("  kernel: Linux %s (uname -r)\n", kernel_release);
	printf("  why: %s\n\n", r->why);
}

/* Opens the one object: the kernel, then the array of experiments. */
static void json_open(struct pscope_json *j)
{
	pscope_json_init_file(j, stdout);
	pscope_json_object_begin(j, NULL);
	pscope_json_string(j, "kernel", kernel_release);
	pscope_json_array_begin(j, "experiments");
}

/* Closes what json_open() opened, and the line. */
static void json_close(struct pscope_json *j)
{
	pscope_json_array_end(j);
	pscope_json_object_end(j);
	pscope_json_end(j);
	putchar('\n');
}

/* The results of the N experiments run, as one JSON object. */
static void print_json(const struct outcome *outs, size_t n)
{
	struct pscope_json j;

	json_open(&j);
	for (size_t i = 0; i < n; i++) {
		const struct record *r = &outs[i].rec;

		pscope_json_object_begin(&j, NULL);
		pscope_json_string(&j, "name", outs[i].e->name);
		pscope_json_string(&j, "result", result_names[r->result]);
		pscope_json_string(&j, "predicted", r->predicted);
		pscope_json_string(&j, "observed", r->observed);
		pscope_json_string(&j, "why", r->why);
		pscope_json_int(&j, "checks", r->nchecks);
		pscope_json_object_end(&j);
	}
	json_close(&j);
}

static void print_list(bool json)
{
	if (json) {
		struct pscope_json j;

		json_open(&j);
		for (size_t i = 0; i < N_EXPERIMENTS; i++) {
			pscope_json_object_begin(&j, NULL);
			pscope_json_string(&j, "name", experiments[i]->name);
			pscope_json_string(&j, "title", experiments[i]->title);
			pscope_json_object_end(&j);
		}
		json_close(&j);
		return;
	}
	printf("portscope lab: %zu experiments on the rules of port sharing (Linux %s).\n"
	       "Run one with 'portscope lab NAME', all with 'portscope lab all'; -v shows each step.\n\n",
	       N_EXPERIMENTS, kernel_release);
	for (size_t i = 0; i < N_EXPERIMENTS; i++)
		printf("  %-24s %s\n", experiments[i]->name, experiments[i]->title);
}

static const struct lab_experiment *find(const char *name)
{
	for (size_t i = 0; i < N_EXPERIMENTS; i++)
		if (!strcmp(name, experiments[i]->name))
			return experiments[i];
	return NULL;
}

/* Parses the options into O; returns the index of the first name, or -1 after a usage error. */
static int parse_args(int argc, char **argv, struct opts *o, int *status)
{
	static const struct option longopts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_opts opts;
	int c;

	cli_opts_init(&opts, "vf:h", longopts);
	while ((c = cli_getopt(&opts, argc, argv)) != -1) {
		switch (c) {
		case 'v':
			o->verbose = true;
			break;
		case 'f':
			if (strcmp(optarg, "text") && strcmp(optarg, "json")) {
				*status = cli_usage_error("bad format '%s': use text or json", optarg);
				return -1;
			}
			o->json = !strcmp(optarg, "json");
			break;
		case 'h':
			fputs(usage, stdout);
			*status = cli_finish(EXIT_OK);
			return -1;
		default:
			*status = EXIT_USAGE;
			return -1;
		}
	}
	/* The steps are text, and only an experiment has steps. */
	if (o->verbose && (o->json || optind >= argc)) {
		*status = cli_usage_error("'%s' shows an experiment's steps in text: %s",
					  cli_opt(&opts, 'v'), o->json ? "not with JSON output" :
					  "name one (or all)");
		return -1;
	}
	return optind;
}

/* Runs the experiments named in ARGV[FIRST..] ("all": every one). */
static int run_named(int argc, char **argv, int first, const struct opts *o)
{
	const struct lab_experiment *chosen[N_EXPERIMENTS];
	static struct outcome outs[N_EXPERIMENTS];	/* large records: not on the stack */
	size_t n = 0, counts[3] = { 0, 0, 0 };
	bool all = false;

	for (int i = first; i < argc; i++) {
		const struct lab_experiment *e = find(argv[i]);

		if (!strcmp(argv[i], "all")) {
			all = true;
			continue;
		}
		if (!e)
			return cli_usage_error("unknown experiment '%s' (run 'portscope lab' for the list)",
					       argv[i]);
		for (size_t j = 0; j < n && e; j++)
			if (chosen[j] == e)
				e = NULL;
		if (e && n < N_EXPERIMENTS)
			chosen[n++] = e;
	}
	if (all) {
		if (argc - first > 1)
			return cli_usage_error("'all' runs every experiment: give it alone");
		for (n = 0; n < N_EXPERIMENTS; n++)
			chosen[n] = experiments[n];
	}
	if (o->wrong && !find(o->wrong))
		cli_warn("PORTSCOPE_LAB_WRONG=%s names no experiment: ignored", o->wrong);
	for (size_t i = 0; i < n; i++) {
		int rc;

		run_one(chosen[i], o, &outs[i]);
		counts[outs[i].rec.result]++;
		if (o->json)
			continue;
		print_verdict(&outs[i]);
		rc = cli_flush();
		if (rc == 1) /* the reader has gone: stop quietly */
			return counts[LAB_FAIL] ? EXIT_FAIL : EXIT_OK;
		if (rc != 0)
			return EXIT_FAIL;
	}
	if (o->json) {
		print_json(outs, n);
	} else if (n > 1) {
		printf("portscope lab on Linux %s: %zu experiments, %zu PASS, %zu FAIL, %zu SKIP\n", kernel_release,
		       n, counts[LAB_PASS], counts[LAB_FAIL], counts[LAB_SKIP]);
		for (size_t i = 0; i < n; i++)
			printf("  %s  %s\n", result_names[outs[i].rec.result], outs[i].e->name);
	}
	return cli_finish(counts[LAB_FAIL] ? EXIT_FAIL : EXIT_OK);
}

int cmd_lab(int argc, char **argv)
{
	struct opts o = { .wrong = getenv("PORTSCOPE_LAB_WRONG") };
	struct utsname u;
	int status = EXIT_OK, first = parse_args(argc, argv, &o, &status);

	if (first < 0)
		return status;
	if (o.wrong && !*o.wrong)
		o.wrong = NULL;
	snprintf(kernel_release, sizeof(kernel_release), "%s", uname(&u) == 0 ? u.release : "?");
	cli_ignore_sigpipe();
	if (first >= argc) {
		print_list(o.json);
		return cli_finish(EXIT_OK);
	}
	return run_named(argc, argv, first, &o);
}
