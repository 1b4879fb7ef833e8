/* portscope: one port, many sockets.  main() only dispatches to a subcommand. */
#include <string.h>

#include "cli.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "serve", cmd_serve, "listen and report each accepted connection as the note does" },
	{ "connect", cmd_connect, "connect, show this end, compare with what the server saw" },
	{ "ls", cmd_ls, "list every socket on a port as the kernel sees it, with owners" },
	{ "watch", cmd_watch, "a stream of events: sockets of a port appearing, changing, going away" },
	{ "exporter", cmd_exporter, "Prometheus metrics: sockets by port, accept queues, SO_REUSEPORT groups" },
	{ "top", cmd_top, "a live full-screen view: one row per listening port, refreshed each second" },
	{ "bench", cmd_bench, "hold many connections on one port and measure both ends and the kernel" },
	{ "demo", cmd_demo, "the note's experiment end to end: one port, many sockets" },
	{ "lab", cmd_lab, "the rules of port sharing: predict, run against this kernel, check" },
	{ "proxycheck", cmd_proxycheck, "probe a PROXY protocol receiver with a table of headers" },
};

static void print_usage(FILE *f)
{
	fputs("usage: portscope COMMAND [OPTIONS] [ARGS]\n"
	      "\n"
	      "One port can carry many sockets: a socket is identified by its 4-tuple\n"
	      "<client ip, client port, server ip, server port>.  portscope shows it.\n"
	      "\n"
	      "Commands:\n", f);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fputs("\n"
	      "Run 'portscope COMMAND --help' for a command's options.\n"
	      "Options: -h, --help  this help;  -V, --version  the version.\n", f);
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : NULL;

	if (!name) {
		print_usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
		if (!strcmp(name, "help") && argc == 3) {
			char *help_argv[] = { argv[2], "--help", NULL };

			for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
				if (!strcmp(argv[2], commands[i].name)) {
					cli_cmd = commands[i].name;
					return commands[i].run(2, help_argv);
				}
			return cli_usage_error("unknown command '%s'", argv[2]);
		}
		if (argc > 2)
			return cli_usage_error(!strcmp(name, "help") ?
					       "'help' takes one COMMAND at most" :
					       "'%s' goes alone: it takes no other option or argument",
					       name);
		print_usage(stdout);
		return cli_finish(EXIT_OK);
	}
	if (!strcmp(name, "-V") || !strcmp(name, "--version")) {
		if (argc > 2)
			return cli_usage_error("'%s' goes alone: it takes no other option or argument",
					       name);
		puts("portscope " PORTSCOPE_VERSION);
		return cli_finish(EXIT_OK);
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(name, commands[i].name)) {
			cli_cmd = commands[i].name;
			return commands[i].run(argc - 1, argv + 1);
		}
	if (name[0] == '-')
		return cli_usage_error("unknown option '%s'", name);
	return cli_usage_error("unknown command '%s'", name);
}
