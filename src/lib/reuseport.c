/* The kernel's rule for SO_REUSEPORT groups of TCP listeners (see reuseport.h). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#include "portscope/reuseport.h"

long pscope_bound_dev_if(const struct pscope_diag_sock *s, const struct pscope_sockopts *o)
{
	if (!(s->absent & PSCOPE_DIAG_NO_IFINDEX))
		return s->ifindex;
	if (o && o->bound_dev_if >= 0)
		return o->bound_dev_if;
	return -ENODATA;
}

/* True if S is a listener whose rule inputs are all known; sets *DEV to its bound device. */
static bool decidable(const struct pscope_diag_sock *s, const struct pscope_sockopts *o, long *dev)
{
	if (!o || s->proto != IPPROTO_TCP || s->state != TCP_LISTEN || (s->absent & PSCOPE_DIAG_NO_UID))
		return false;
	*dev = pscope_bound_dev_if(s, o);
	return *dev >= 0;
}

bool pscope_reuseport_same_group(const struct pscope_diag_sock *a, const struct pscope_sockopts *ao,
				 const struct pscope_diag_sock *b, const struct pscope_sockopts *bo)
{
	long adev, bdev;

	if (!decidable(a, ao, &adev) || !decidable(b, bo, &bdev))
		return false;
	return a->family == b->family &&
	       ao->v6only == bo->v6only &&
	       adev == bdev &&
	       a->lport == b->lport &&
	       ao->reuseport && bo->reuseport &&
	       a->uid == b->uid &&
	       !memcmp(a->laddr, b->laddr, a->family == AF_INET6 ? 16 : 4);
}
