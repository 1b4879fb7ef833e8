/*
 * Fuzz target: pscope_whoami_parse on arbitrary bytes.  A line it accepts is
 * formatted again and parsed again, and must come back the same: you and me
 * the same addresses, proto, conn and fd unchanged.  abort() otherwise.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "portscope/whoami.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pscope_whoami w, back;
	char line[PSCOPE_WHOAMI_BUF];
	int n;

	if (pscope_whoami_parse((const char *)data, size, &w) < 0)
		return 0;
	if (memchr(w.proto, '\0', sizeof(w.proto)) == NULL)
		abort();
	n = pscope_whoami_format(&w, line, sizeof(line));
	if (n < 0 || (size_t)n >= sizeof(line) || line[n - 1] != '\n' || strlen(line) != (size_t)n)
		abort();
	if (pscope_whoami_parse(line, (size_t)n, &back) < 0)
		abort();
	if (!pscope_addr_same(&w.you, &back.you) || !pscope_addr_same(&w.me, &back.me))
		abort();
	if (strcmp(w.proto, back.proto) != 0 || w.conn != back.conn || w.fd != back.fd)
		abort();
	return 0;
}
