/*
 * Fuzz target: pscope_endpoint_parse on arbitrary bytes.  An endpoint whose
 * host is a numeric address must survive resolve -> format -> parse as the
 * same address and port, and a refused one must be explained in a sentence
 * that fits; anything else is a bug, and abort() says so.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "portscope/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const struct pscope_endpoint *ep)
{
	struct pscope_addr a, back;
	char text[PSCOPE_ADDRSTRLEN];
	int n;

	if (pscope_endpoint_resolve(ep, AF_UNSPEC, SOCK_STREAM, PSCOPE_RESOLVE_NUMERIC, &a, 1) < 1)
		return; /* a name, not a numeric address: nothing to check without a resolver */
	n = pscope_addr_format(&a, text, sizeof(text));
	if (n < 0 || (size_t)n >= sizeof(text) || strlen(text) != (size_t)n)
		abort();
	if (pscope_addr_parse(text, (size_t)n, &back) < 0)
		abort();
	if (!pscope_addr_same(&a, &back) || pscope_addr_port(&back) != ep->port)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pscope_endpoint ep;
	int rc;

	rc = pscope_endpoint_parse((const char *)data, size, NULL, 0, &ep);
	if (rc > 0)
		abort();
	/* The sentence for a refusal names a part inside the text, and fits its buffer. */
	if (rc < 0) {
		char why[160];
		int n;

		if (ep.err_at > size || ep.err_len > size - ep.err_at)
			abort();
		n = pscope_endpoint_explain(&ep, (const char *)data, size, rc, why, sizeof(why));
		if (n < 0 || (size_t)n >= sizeof(why) || strlen(why) != (size_t)n)
			abort();
	}
	if (rc == 0) {
		if (strlen(ep.host) > PSCOPE_ENDPOINT_MAX || (ep.host[0] && !ep.host_given))
			abort();
		if (ep.host_given && ep.host[0])
			round_trip(&ep);
	}
	/* With defaults: a bare port takes the default host, which must then be there. */
	rc = pscope_endpoint_parse((const char *)data, size, "127.0.0.1", 8080, &ep);
	if (rc == 0 && !ep.host_given && strcmp(ep.host, "127.0.0.1") != 0)
		abort();
	if (rc == 0 && !ep.port_given && ep.port != 8080)
		abort();
	return 0;
}
