/*
 * portscope: line framing, the one rule by which every reader in portscope
 * finds a line in a byte stream (connect's reply, connect -n's replies,
 * serve --keep's requests, the PROXY protocol's version 1 header).
 *
 * A line is the bytes before its end of line, "\n" or "\r\n"; the end of line
 * is not part of the line and does not count against the limit.  A "\r" not
 * followed by "\n" is a byte of the line.  A line longer than LIMIT bytes is
 * refused as soon as it is certain: at the byte that makes it LIMIT + 1 bytes
 * long (a "\r" right after LIMIT bytes waits for the next byte, which ends the
 * line if it is "\n").  The PROXY protocol's version 1 line, "at most 107
 * bytes including the CRLF" (HAProxy's doc/proxy-protocol.txt, 2.1), is LIMIT
 * 105 with PSCOPE_LINE_CRLF_ONLY.
 *
 * The framing is incremental: bytes are fed as they arrive, in pieces of any
 * size, and the answer does not depend on where the pieces were cut.  The
 * state is 4 bytes and holds no byte of the line: the caller keeps the bytes
 * if it needs them.
 */
#ifndef PORTSCOPE_LINE_H
#define PORTSCOPE_LINE_H

#include <stddef.h>
#include <stdint.h>

/* The largest LIMIT pscope_line_feed() applies; a larger one is taken as this. */
#define PSCOPE_LINE_LIMIT_MAX (1U << 30)

/* pscope_line_feed()'s FLAGS: "\r\n" is the only end of line; a lone "\r" or "\n" is refused. */
#define PSCOPE_LINE_CRLF_ONLY 1U

/* The framing of one line so far.  Zeroed (or pscope_line_init()) before the first byte. */
struct pscope_line {
	uint32_t len : 31;	/* bytes of the line so far, a "\r" that may start its end not counted */
	uint32_t cr : 1;	/* the last byte fed was such a "\r" */
};

enum pscope_line_result {
	PSCOPE_LINE_MORE = 0,	/* every byte fed was taken; the line has not ended */
	PSCOPE_LINE_LF,		/* the line ended with "\n" */
	PSCOPE_LINE_CRLF,	/* the line ended with "\r\n" */
	PSCOPE_LINE_TOO_LONG,	/* more than LIMIT bytes before an end of line */
	PSCOPE_LINE_BAD_END,	/* PSCOPE_LINE_CRLF_ONLY: a "\n" without its "\r", or a "\r" without its "\n" */
	PSCOPE_LINE_NONE,	/* pscope_line_fin(): the stream ended between lines */
	PSCOPE_LINE_UNENDED,	/* pscope_line_fin(): the stream ended inside a line, before its end of line */
};

/* Sets L to the start of a line. */
void pscope_line_init(struct pscope_line *l);

/*
 * Feeds the N bytes at BUF, the next bytes of the stream, to L under LIMIT
 * (bytes a line may have before its end of line; see above) and FLAGS (0 or
 * PSCOPE_LINE_CRLF_ONLY).  Takes bytes up to the first that decides the line,
 * and sets *USED to how many it took.  Returns:
 *   PSCOPE_LINE_MORE      all N taken; the line goes on: feed the next bytes;
 *   PSCOPE_LINE_LF, _CRLF the line ended with the *USED-th byte (its "\n"); L
 *                         is at the start of the next line, whose bytes begin
 *                         at BUF + *USED;
 *   PSCOPE_LINE_TOO_LONG  the *USED-th byte made the line longer than LIMIT;
 *   PSCOPE_LINE_BAD_END   the *USED-th byte is a lone "\r" or "\n" (CRLF_ONLY).
 * After TOO_LONG or BAD_END the stream has no more lines: L must be set up
 * again before it frames another stream.
 */
enum pscope_line_result pscope_line_feed(struct pscope_line *l, const void *buf, size_t n,
					 uint32_t limit, unsigned flags, size_t *used);

/*
 * The stream ended (the peer's FIN) after the bytes fed to L.  Returns
 * PSCOPE_LINE_NONE if it ended where a line would start, PSCOPE_LINE_UNENDED
 * if bytes of a line came without their end of line.
 */
enum pscope_line_result pscope_line_fin(const struct pscope_line *l);

/* Words for R, as in "bad reply: no end of line". */
const char *pscope_line_result_name(enum pscope_line_result r);

#endif
