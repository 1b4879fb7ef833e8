/* portscope lab: experiments on the rules of port sharing (being written). */
#include "cli.h"

int cmd_lab(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_warn("lab: not written yet");
	return EXIT_FAIL;
}
