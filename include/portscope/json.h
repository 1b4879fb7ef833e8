/*
 * portscope: the JSON writer (RFC 8259).  Every command writes its JSON
 * through this, so that every string is escaped one way:
 *
 *   - `"` and `\` as `\"` and `\\`; \b \f \n \r \t by their short forms; every
 *     other byte below 0x20, and DEL (0x7f), as `\u00XX` (RFC 8259, section 7);
 *   - valid UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past
 *     U+10FFFF) is copied as it is;
 *   - each byte that is not part of valid UTF-8 is written as `\ufffd`, the
 *     replacement character, so the output is always valid UTF-8, and valid
 *     JSON (within PSCOPE_JSON_MAX_DEPTH), whatever bytes a peer or the kernel handed us.
 *
 * The writer puts the commas and the colons: each value is given with its key
 * (inside an object) or with a NULL key (inside an array, or at the top).  It
 * writes to a stdio stream or into a caller's buffer, allocates nothing and
 * never fails on its own: a stream's errors are the stream's (ferror(3)); a
 * buffer too small is cut short, and pscope_json_end() says how much was
 * needed, as snprintf(3) does.
 */
#ifndef PORTSCOPE_JSON_H
#define PORTSCOPE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Deepest nesting of objects and arrays the writer keeps track of.  Deeper
 * levels get no commas between their values: their output is not valid JSON,
 * so a caller must not nest deeper (portscope's commands nest 3 deep at most).
 */
#define PSCOPE_JSON_MAX_DEPTH 32

struct pscope_json {
	FILE *f;		/* the stream, or NULL: the buffer */
	char *buf;
	size_t size;		/* of buf, with its NUL */
	size_t len;		/* bytes written, or that would have been */
	unsigned depth;
	uint32_t started;	/* bit D: level D holds a value already (a comma before the next) */
};

/* Starts a writer on stream F. */
void pscope_json_init_file(struct pscope_json *j, FILE *f);

/* Starts a writer into BUF of SIZE bytes (kept NUL-terminated; SIZE may be 0). */
void pscope_json_init_buf(struct pscope_json *j, char *buf, size_t size);

/*
 * Opens an object or an array, as the value of KEY (NULL inside an array or at
 * the top), and closes the innermost one.
 */
void pscope_json_object_begin(struct pscope_json *j, const char *key);
void pscope_json_object_end(struct pscope_json *j);
void pscope_json_array_begin(struct pscope_json *j, const char *key);
void pscope_json_array_end(struct pscope_json *j);

/* A string value (S NULL: null), NUL-terminated or of LEN bytes (which may hold NULs, as \u0000). */
void pscope_json_string(struct pscope_json *j, const char *key, const char *s);
void pscope_json_string_n(struct pscope_json *j, const char *key, const char *s, size_t len);

/* Numbers; a double that is not finite (NaN, infinity) is written null, as JSON has no such number. */
void pscope_json_int(struct pscope_json *j, const char *key, long long v);
void pscope_json_uint(struct pscope_json *j, const char *key, unsigned long long v);
/* V with DECIMALS digits after the point (0 to 9). */
void pscope_json_double(struct pscope_json *j, const char *key, double v, int decimals);
void pscope_json_bool(struct pscope_json *j, const char *key, bool v);
void pscope_json_null(struct pscope_json *j, const char *key);

/* TEXT, already JSON (from another writer's buffer), as the value of KEY. */
void pscope_json_raw(struct pscope_json *j, const char *key, const char *text);

/*
 * Ends the writing: nothing is added to a stream; a buffer is NUL-terminated.
 * Returns the length of the whole text (without the NUL), which is >= the
 * buffer's size if it was cut short.
 */
size_t pscope_json_end(struct pscope_json *j);

/*
 * Escapes LEN bytes of S into DST of SIZE bytes as the inside of a JSON
 * string (no quotes), by the rules above, NUL-terminated (SIZE may be 0).
 * Returns the length of the whole escaped text, as snprintf(3) does.
 */
size_t pscope_json_escape(char *dst, size_t size, const char *s, size_t len);

#endif
