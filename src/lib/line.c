/* Line framing: one rule for every reader of a line (see line.h). */
#include "portscope/line.h"

void pscope_line_init(struct pscope_line *l)
{
	l->len = 0;
	l->cr = 0;
}

enum pscope_line_result pscope_line_feed(struct pscope_line *l, const void *buf, size_t n,
					 uint32_t limit, unsigned flags, size_t *used)
{
	const unsigned char *p = buf;
	uint32_t len = l->len;
	unsigned cr = l->cr;

	if (limit > PSCOPE_LINE_LIMIT_MAX)
		limit = PSCOPE_LINE_LIMIT_MAX;
	for (size_t i = 0; i < n; i++) {
		unsigned char b = p[i];

		*used = i + 1;
		if (b == '\n') {
			if (!cr && (flags & PSCOPE_LINE_CRLF_ONLY))
				return PSCOPE_LINE_BAD_END;
			pscope_line_init(l);
			return cr ? PSCOPE_LINE_CRLF : PSCOPE_LINE_LF;
		}
		/* A "\r" before this byte was not an end of line after all: it is the line's. */
		if (cr) {
			if (flags & PSCOPE_LINE_CRLF_ONLY)
				return PSCOPE_LINE_BAD_END;
			len++;
		}
		cr = b == '\r';
		len += !cr;
		if (len > limit) {
			l->len = len;
			l->cr = cr;
			return PSCOPE_LINE_TOO_LONG;
		}
	}
	*used = n;
	l->len = len;
	l->cr = cr;
	return PSCOPE_LINE_MORE;
}

enum pscope_line_result pscope_line_fin(const struct pscope_line *l)
{
	return l->len || l->cr ? PSCOPE_LINE_UNENDED : PSCOPE_LINE_NONE;
}

const char *pscope_line_result_name(enum pscope_line_result r)
{
	static const char *const names[] = {
		[PSCOPE_LINE_MORE] = "no end of line yet",
		[PSCOPE_LINE_LF] = "a line ended by \\n",
		[PSCOPE_LINE_CRLF] = "a line ended by \\r\\n",
		[PSCOPE_LINE_TOO_LONG] = "line too long",
		[PSCOPE_LINE_BAD_END] = "a lone \\r or \\n",
		[PSCOPE_LINE_NONE] = "no line",
		[PSCOPE_LINE_UNENDED] = "no end of line",
	};

	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}
