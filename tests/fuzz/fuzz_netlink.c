/*
 * Fuzz target: pscope_diag_replay on arbitrary bytes, as if they were a
 * recorded dump, with no port filter and with one.  Every socket the
 * callback gets must be one the filter asked for, and the return value one
 * the header allows.  abort() otherwise.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "portscope/diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PORT 8080

struct seen {
	const struct pscope_diag_filter *f;
	int count;		/* sockets since the last restart */
	unsigned restarts;
};

static int check(const struct pscope_diag_sock *s, void *ctx)
{
	struct seen *v = ctx;
	const struct pscope_diag_filter *f = v->f;

	if (!s) {
		v->count = 0;
		v->restarts++;
		return 0;
	}
	if (s->family != AF_INET && s->family != AF_INET6)
		abort();
	if (s->proto != IPPROTO_TCP && s->proto != IPPROTO_UDP)
		abort();
	/* The state name is always a string, whatever the number. */
	if (!pscope_diag_state_name(s)[0])
		abort();
	if (f->port < 0 && s->side != PSCOPE_SIDE_ANY)
		abort();
	if (f->port >= 0 && !(s->side == PSCOPE_SIDE_LOCAL && s->lport == f->port) &&
	    !(s->side == PSCOPE_SIDE_REMOTE && s->rport == f->port && !f->local_only))
		abort();
	if (f->states && !(f->states & (1u << (s->state & 31))))
		abort();
	v->count++;
	return 0;
}

static int run(const uint8_t *data, size_t size, const struct pscope_diag_filter *f)
{
	struct seen v = { .f = f };
	struct pscope_diag_stats st;
	int rc = pscope_diag_replay(data, size, f, check, &v, &st);

	if (rc >= 0 && rc != v.count)
		abort();
	/* Errors are -errno from an NLMSG_ERROR, or one of ours. */
	if (rc < 0 && !(rc > -PSCOPE_ERR_BASE || (rc <= -PSCOPE_E_NL_TRUNC && rc > -PSCOPE_E_DIAG_LAST)))
		abort();
	if (st.restarts != v.restarts)
		abort();
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pscope_diag_filter any = { .port = -1 };
	struct pscope_diag_filter port = { .port = PORT };
	struct pscope_diag_filter local = { .port = PORT, .local_only = true,
					    .states = (1u << 10) | (1u << 7) };

	int all = run(data, size, &any);
	int some = run(data, size, &port);
	int fewer = run(data, size, &local);

	/* The filter comes after validation: it changes what is listed, never whether it is valid. */
	if ((all < 0 || some < 0 || fewer < 0) && !(all == some && some == fewer))
		abort();
	if (all >= 0 && !(some <= all && fewer <= some))
		abort();
	return 0;
}
