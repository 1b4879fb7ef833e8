/*
 * portscope: a fixed-size latency histogram.  Buckets are powers of two split
 * eight ways (about 9% wide), so percentiles need no per-sample storage.
 */
#ifndef PORTSCOPE_HIST_H
#define PORTSCOPE_HIST_H

#include <stdint.h>

#define PSCOPE_HIST_BUCKETS (33 * 8)

struct pscope_hist {
	uint64_t count;
	uint64_t max;
	uint64_t sum;
	uint32_t bucket[PSCOPE_HIST_BUCKETS];
};

/* Records one value (e.g. microseconds). */
void pscope_hist_add(struct pscope_hist *h, uint64_t v);

/* Adds every sample of FROM to INTO. */
void pscope_hist_merge(struct pscope_hist *into, const struct pscope_hist *from);

/*
 * The value below which PERMILLE thousandths of the samples fall (500: the
 * median), as the upper edge of its bucket, never above the maximum seen;
 * 0 if there are no samples.
 */
uint64_t pscope_hist_quantile(const struct pscope_hist *h, unsigned permille);

#endif
