/* A log-linear histogram: eight sub-buckets per power of two. */
#include "portscope/hist.h"

static unsigned bucket_of(uint64_t v)
{
	unsigned lg;

	if (v < 8)
		return (unsigned)v;
	lg = 63u - (unsigned)__builtin_clzll(v);
	if (lg > 32)
		return PSCOPE_HIST_BUCKETS - 1;
	return (lg - 2) * 8 + (unsigned)((v >> (lg - 3)) & 7);
}

/* The largest value that falls in bucket B. */
static uint64_t bucket_top(unsigned b)
{
	unsigned lg = b / 8 + 2, sub = b % 8;

	if (b < 8)
		return b;
	return ((uint64_t)(8 + sub + 1) << (lg - 3)) - 1;
}

void pscope_hist_add(struct pscope_hist *h, uint64_t v)
{
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
	h->bucket[bucket_of(v)]++;
}

void pscope_hist_merge(struct pscope_hist *into, const struct pscope_hist *from)
{
	into->count += from->count;
	into->sum += from->sum;
	if (from->max > into->max)
		into->max = from->max;
	for (unsigned i = 0; i < PSCOPE_HIST_BUCKETS; i++)
		into->bucket[i] += from->bucket[i];
}

uint64_t pscope_hist_quantile(const struct pscope_hist *h, unsigned permille)
{
	uint64_t want, seen = 0;

	if (!h->count)
		return 0;
	want = (h->count * permille + 999) / 1000;
	if (want == 0)
		want = 1;
	for (unsigned i = 0; i < PSCOPE_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= want)
			return bucket_top(i) < h->max ? bucket_top(i) : h->max;
	}
	return h->max;
}
