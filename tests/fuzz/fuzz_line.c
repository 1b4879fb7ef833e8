/*
 * Fuzz target: pscope_line_feed on arbitrary bytes.  The first byte is the
 * limit, the second the flags (bit 0: CRLF only) and a cut, the rest the
 * stream.  The stream is framed whole, cut in two, and one byte at a time:
 * the three must find the same lines, ending at the same bytes, with the same
 * results, and no line longer than the limit.  abort() otherwise.
 */
#include <stdint.h>
#include <stdlib.h>

#include "portscope/line.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EVENTS 4096

struct events {
	size_t n;
	int result[MAX_EVENTS];
	size_t at[MAX_EVENTS];	/* bytes of the stream taken when it was decided */
};

/* Frames S[0..N) fed in pieces of at most STEP bytes, the first piece FIRST bytes (0: STEP). */
static void frame(const uint8_t *s, size_t n, uint32_t limit, unsigned flags, size_t first,
		  size_t step, struct events *e)
{
	struct pscope_line l = { 0 };
	size_t at = 0, start = 0, end;

	e->n = 0;
	while (at < n && e->n < MAX_EVENTS) {
		size_t used;
		int r;

		end = at == 0 && first ? first : at + step;
		if (end > n)
			end = n;
		r = pscope_line_feed(&l, s + at, end - at, limit, flags, &used);
		if (used > end - at || (r == PSCOPE_LINE_MORE && used != end - at))
			abort();
		at += used;
		if (r == PSCOPE_LINE_MORE)
			continue;
		/* A line's bytes, its end of line not counted, are within the limit. */
		if ((r == PSCOPE_LINE_LF && at - start - 1 > limit) ||
		    (r == PSCOPE_LINE_CRLF && (at - start < 2 || at - start - 2 > limit || s[at - 2] != '\r')))
			abort();
		e->result[e->n] = r;
		e->at[e->n++] = at;
		start = at;
		if (r == PSCOPE_LINE_TOO_LONG || r == PSCOPE_LINE_BAD_END)
			return;
	}
	if (e->n < MAX_EVENTS) {
		e->result[e->n] = pscope_line_fin(&l);
		e->at[e->n++] = at;
	}
}

static int same(const struct events *a, const struct events *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (a->result[i] != b->result[i] || a->at[i] != b->at[i])
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct events whole, cut, bytes;
	uint32_t limit;
	unsigned flags;
	size_t n;

	if (size < 2)
		return 0;
	limit = data[0];
	flags = data[1] & 1 ? PSCOPE_LINE_CRLF_ONLY : 0;
	n = size - 2;
	frame(data + 2, n, limit, flags, 0, n ? n : 1, &whole);
	frame(data + 2, n, limit, flags, n ? (size_t)(data[1] >> 1) % n + 1 : 0, n ? n : 1, &cut);
	frame(data + 2, n, limit, flags, 0, 1, &bytes);
	if (!same(&whole, &cut) || !same(&whole, &bytes))
		abort();
	return 0;
}
