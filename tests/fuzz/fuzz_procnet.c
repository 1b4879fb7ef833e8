/*
 * Fuzz target: pscope_diag_proc_line on arbitrary bytes, as a line of
 * /proc/net/tcp (IPv4) and of /proc/net/udp6 (IPv6).  It must return 1, 0 or
 * -PSCOPE_E_PROC_LINE, and a socket it returns must be a sane one.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "portscope/diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run(const uint8_t *data, size_t size, int family, int proto)
{
	struct pscope_diag_sock s, bare;
	struct pscope_diag_filter f = { .port = -1 };
	int rc = pscope_diag_proc_line((const char *)data, size, family, proto, &s);

	if (rc != 1 && rc != 0 && rc != -PSCOPE_E_PROC_LINE)
		abort();
	/* The newline that ends a line of at most 512 bytes changes nothing. */
	if (size > 0 && size <= 512 && data[size - 1] == '\n' && (size < 2 || data[size - 2] != '\n') &&
	    (pscope_diag_proc_line((const char *)data, size - 1, family, proto, &bare) != rc ||
	     (rc == 1 && memcmp(&s, &bare, sizeof(s)) != 0)))
		abort();
	if (rc != 1)
		return;
	if (size > 512 || s.family != family || s.proto != proto)
		abort();
	if (s.state < 1 || s.state > 12 || s.cookie != 0)
		abort();
	if (!pscope_diag_match(&f, &s) || s.side != PSCOPE_SIDE_ANY)
		abort();
	f.port = s.lport;
	if (!pscope_diag_match(&f, &s) || s.side != PSCOPE_SIDE_LOCAL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size, AF_INET, IPPROTO_TCP);
	run(data, size, AF_INET6, IPPROTO_UDP);
	return 0;
}
