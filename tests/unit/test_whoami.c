/* Unit tests of whoami.h: the portscope/1 line, written and read. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#define YOU "you=127.0.0.1:49400"
#define ME "me=127.0.0.1:8080"

/* Prints LINE with its control bytes escaped, to name the case that fails. */
static void show(const char *line, size_t len)
{
	char out[4 * PSCOPE_WHOAMI_MAX + 1];
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < sizeof(out); i++) {
		unsigned char c = (unsigned char)line[i];

		if (c == '\n')
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\n");
		else if (c == '\r')
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\r");
		else if (c < 0x20 || c >= 0x7f)
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	print_message("  \"%s\"\n", out);
}

static void make_whoami(struct pscope_whoami *w, const char *you, const char *me,
			const char *proto, uint64_t conn, int fd)
{
	memset(w, 0, sizeof(*w));
	addr_or_fail(you, &w->you);
	addr_or_fail(me, &w->me);
	snprintf(w->proto, sizeof(w->proto), "%s", proto);
	w->conn = conn;
	w->fd = fd;
}

/* Format must give WANT, -ENOSPC for every smaller buffer, and never write past one
 * (each buffer is allocated at its exact size so that ASan sees it). */
static void check_format(const struct pscope_whoami *w, const char *want)
{
	size_t n = strlen(want);
	char *buf;

	for (size_t size = 0; size <= n; size++) {
		buf = malloc(size);
		assert_num_equal(pscope_whoami_format(w, buf, size), -ENOSPC);
		free(buf);
	}
	buf = malloc(n + 1);
	assert_non_null(buf);
	assert_num_equal(pscope_whoami_format(w, buf, n + 1), n);
	assert_string_equal(buf, want);
	free(buf);
}

static void format_full(void **state)
{
	struct pscope_whoami w;

	(void)state;
	make_whoami(&w, "127.0.0.1:49400", "127.0.0.1:8080", "tcp", 1, 5);
	check_format(&w, "portscope/1 you=127.0.0.1:49400 me=127.0.0.1:8080 proto=tcp conn=1 fd=5\n");
}

/* The PROXY protocol keys: written after the others, read back the same. */
static void pp_keys_round_trip(void **state)
{
	struct pscope_whoami w, r;
	char buf[PSCOPE_WHOAMI_MAX];

	(void)state;
	make_whoami(&w, "127.0.0.1:49400", "127.0.0.1:8080", "tcp", 1, 5);
	w.pp = 2;
	w.pp_command = 1;
	snprintf(w.pp_proto, sizeof(w.pp_proto), "tcp6");
	addr_or_fail("[2001:db8::1]:50001", &w.src);
	addr_or_fail("[2001:db8::2]:443", &w.dst);
	check_format(&w, "portscope/1 you=127.0.0.1:49400 me=127.0.0.1:8080 proto=tcp conn=1 fd=5 "
			 "pp=2 pp_cmd=proxy pp_proto=tcp6 src=[2001:db8::1]:50001 dst=[2001:db8::2]:443\n");
	assert_true(pscope_whoami_format(&w, buf, sizeof(buf)) > 0);
	assert_num_equal(pscope_whoami_parse(buf, strlen(buf), &r), 0);
	assert_num_equal(r.pp, 2);
	assert_num_equal(r.pp_command, 1);
	assert_string_equal(r.pp_proto, "tcp6");
	assert_true(pscope_addr_same(&r.src, &w.src));
	assert_true(pscope_addr_same(&r.dst, &w.dst));
	/* LOCAL: no addresses. */
	memset(&w.src, 0, sizeof(w.src));
	memset(&w.dst, 0, sizeof(w.dst));
	w.pp_command = 0;
	snprintf(w.pp_proto, sizeof(w.pp_proto), "unspec");
	check_format(&w, "portscope/1 you=127.0.0.1:49400 me=127.0.0.1:8080 proto=tcp conn=1 fd=5 "
			 "pp=2 pp_cmd=local pp_proto=unspec\n");
}

static void pp_keys_rejected(void **state)
{
	static const char *const bad[] = {
		"portscope/1 " YOU " " ME " pp=3",
		"portscope/1 " YOU " " ME " pp=",
		"portscope/1 " YOU " " ME " pp=22",
		"portscope/1 " YOU " " ME " pp=2 pp_cmd=maybe",
		"portscope/1 " YOU " " ME " pp=2 src=192.0.2.1",
		"portscope/1 " YOU " " ME " pp=2 dst=nowhere:1",
		"portscope/1 " YOU " " ME " pp=2 pp_proto=abcdefghijklmnopq",
	};
	struct pscope_whoami w;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		show(bad[i], strlen(bad[i]));
		assert_num_equal(pscope_whoami_parse(bad[i], strlen(bad[i]), &w), -PSCOPE_E_PROTO);
	}
	/* Without pp: none of the keys, pp 0. */
	assert_num_equal(pscope_whoami_parse("portscope/1 " YOU " " ME, strlen("portscope/1 " YOU " " ME), &w), 0);
	assert_num_equal(w.pp, 0);
	assert_num_equal(w.src.len, 0);
}

/* The optional fields are left out when not known. */
static void format_optional_fields(void **state)
{
	struct pscope_whoami w;

	(void)state;
	make_whoami(&w, "127.0.0.1:49400", "127.0.0.1:8080", "", 0, -1);
	check_format(&w, "portscope/1 you=127.0.0.1:49400 me=127.0.0.1:8080\n");

	make_whoami(&w, "127.0.0.1:49400", "127.0.0.1:8080", "", 0, 0);
	check_format(&w, "portscope/1 you=127.0.0.1:49400 me=127.0.0.1:8080 fd=0\n");

	make_whoami(&w, "127.0.0.1:49400", "127.0.0.1:8080", "udp", 0, -1);
	check_format(&w, "portscope/1 you=127.0.0.1:49400 me=127.0.0.1:8080 proto=udp\n");

	make_whoami(&w, "[::ffff:10.0.0.1]:1", "[fe80::1%lo]:8080", "tcp", 18446744073709551ULL, INT_MAX);
	check_format(&w, "portscope/1 you=[::ffff:10.0.0.1]:1 me=[fe80::1%lo]:8080 proto=tcp "
			 "conn=18446744073709551 fd=2147483647\n");
}

static void format_bad_address(void **state)
{
	struct pscope_whoami w;
	char buf[PSCOPE_WHOAMI_MAX];

	(void)state;
	make_whoami(&w, "127.0.0.1:1", "127.0.0.1:2", "tcp", 1, 1);
	memset(&w.me, 0, sizeof(w.me));
	assert_num_equal(pscope_whoami_format(&w, buf, sizeof(buf)), -EAFNOSUPPORT);
	make_whoami(&w, "127.0.0.1:1", "127.0.0.1:2", "tcp", 1, 1);
	memset(&w.you, 0, sizeof(w.you));
	assert_num_equal(pscope_whoami_format(&w, buf, sizeof(buf)), -EAFNOSUPPORT);
}

static void check_round_trip(const struct pscope_whoami *w)
{
	char line[PSCOPE_WHOAMI_MAX];
	struct pscope_whoami back;
	int n = pscope_whoami_format(w, line, sizeof(line));

	assert_true(n > 0);
	show(line, (size_t)n);
	assert_num_equal(pscope_whoami_parse(line, (size_t)n, &back), 0);
	assert_true(pscope_addr_same(&back.you, &w->you));
	assert_true(pscope_addr_same(&back.me, &w->me));
	assert_string_equal(back.proto, w->proto);
	assert_num_equal(back.conn, w->conn);
	assert_num_equal(back.fd, w->fd);
}

static void round_trip(void **state)
{
	struct pscope_whoami w;

	(void)state;
	make_whoami(&w, "127.0.0.1:49400", "127.0.0.1:8080", "tcp", 1, 5);
	check_round_trip(&w);
	make_whoami(&w, "[::1]:49400", "[::1]:8080", "udp", 0, -1);
	check_round_trip(&w);
	make_whoami(&w, "[::ffff:192.0.2.7]:65535", "[fe80::1%lo]:0", "", 42, 0);
	check_round_trip(&w);
	/* The largest values the reader takes: 19 digits and INT_MAX, and a 7-byte proto. */
	make_whoami(&w, "0.0.0.0:0", "255.255.255.255:65535", "sctpish", 9999999999999999999ULL,
		    INT_MAX);
	check_round_trip(&w);
}

static void parse_full(void **state)
{
	static const char line[] = "portscope/1 " YOU " " ME " proto=tcp conn=1 fd=5\n";
	struct pscope_whoami w;
	char text[PSCOPE_ADDRSTRLEN];

	(void)state;
	assert_num_equal(pscope_whoami_parse(line, sizeof(line) - 1, &w), 0);
	pscope_addr_format(&w.you, text, sizeof(text));
	assert_string_equal(text, "127.0.0.1:49400");
	pscope_addr_format(&w.me, text, sizeof(text));
	assert_string_equal(text, "127.0.0.1:8080");
	assert_string_equal(w.proto, "tcp");
	assert_num_equal(w.conn, 1);
	assert_num_equal(w.fd, 5);
}

/* Fields not given read as "", 0 and -1. */
static void parse_defaults(void **state)
{
	struct pscope_whoami w;

	(void)state;
	assert_num_equal(pscope_whoami_parse(SL("portscope/1 " YOU " " ME), &w), 0);
	assert_string_equal(w.proto, "");
	assert_num_equal(w.conn, 0);
	assert_num_equal(w.fd, -1);
}

static const char *const good_lines[] = {
	"portscope/1 " YOU " " ME "\n",
	"portscope/1 " YOU " " ME "\r\n",
	"portscope/1 " YOU " " ME,
	"portscope/1 " ME " " YOU "\n",
	"portscope/1 " YOU " " ME " future=1 x_2=[::1]:5 nat=yes\n",
	"portscope/1 " YOU " " ME " empty=\n",
	"portscope/1  " YOU "   " ME "  \n",
	"portscope/1 " YOU " " ME " proto= conn=0\n",
	"portscope/1 you=[::1]:49400 me=[::ffff:127.0.0.1]:8080\n",
	"portscope/1 " YOU " " ME " conn=0000000000000000001 fd=0000000005\n",
};

static void parse_accepts(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good_lines) / sizeof(good_lines[0]); i++) {
		struct pscope_whoami w;

		show(SL(good_lines[i]));
		assert_num_equal(pscope_whoami_parse(SL(good_lines[i]), &w), 0);
		assert_num_equal(pscope_addr_port(&w.you), 49400);
		assert_num_equal(pscope_addr_port(&w.me), 8080);
	}
}

static const char *const bad_lines[] = {
	"",
	"\n",
	"portscope/1",
	"portscope/1 \n",
	YOU " " ME "\n",
	"portscope/2 " YOU " " ME "\n",
	"Portscope/1 " YOU " " ME "\n",
	" portscope/1 " YOU " " ME "\n",
	"portscope/1" YOU " " ME "\n",
	/* "you" and "me" are both required, once each. */
	"portscope/1 " YOU "\n",
	"portscope/1 " ME "\n",
	"portscope/1 " YOU " " YOU " " ME "\n",
	"portscope/1 " YOU " " ME " " ME "\n",
	"portscope/1 " YOU " " ME " you=127.0.0.1:1\n",
	/* Numeric addresses with ports only. */
	"portscope/1 you=localhost:80 " ME "\n",
	"portscope/1 " YOU " me=example.com:8080\n",
	"portscope/1 you=127.0.0.1 " ME "\n",
	"portscope/1 you=49400 " ME "\n",
	"portscope/1 you= " ME "\n",
	"portscope/1 you=::1:80 " ME "\n",
	"portscope/1 you=127.0.0.1:65536 " ME "\n",
	/* Control characters, anywhere. */
	"portscope/1 " YOU "\t" ME "\n",
	"portscope/1 " YOU " " ME " x=a\tb\n",
	"portscope/1 " YOU " " ME " x=a\x01\n",
	"portscope/1 " YOU " " ME " x=a\x7f\n",
	"portscope/1 " YOU " " ME " x=\xc3\xa9\n",
	"portscope/1 " YOU " " ME "\r\r\n",
	"portscope/1 " YOU "\r " ME "\n",
	"portscope/1 " YOU "\n " ME "\n",
	"portscope/1 " YOU " " ME "\n\n",
	/* Every word is key=value, with a lowercase key. */
	"portscope/1 " YOU " " ME " flag\n",
	"portscope/1 " YOU " flag " ME "\n",
	"portscope/1 " YOU " " ME " =1\n",
	"portscope/1 " YOU " " ME " Conn=1\n",
	"portscope/1 YOU=127.0.0.1:49400 " ME "\n",
	"portscope/1 " YOU " " ME " a-b=1\n",
	/* Known keys with bad values. */
	"portscope/1 " YOU " " ME " conn=12345678901234567890\n",
	"portscope/1 " YOU " " ME " conn=99999999999999999999\n",
	"portscope/1 " YOU " " ME " conn=-1\n",
	"portscope/1 " YOU " " ME " conn=1x\n",
	"portscope/1 " YOU " " ME " conn=\n",
	"portscope/1 " YOU " " ME " fd=2147483648\n",
	"portscope/1 " YOU " " ME " fd=-1\n",
	"portscope/1 " YOU " " ME " fd=\n",
	"portscope/1 " YOU " " ME " proto=tcptcptc\n",
};

static void parse_rejects(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++) {
		struct pscope_whoami w;

		show(SL(bad_lines[i]));
		assert_num_equal(pscope_whoami_parse(SL(bad_lines[i]), &w), -PSCOPE_E_PROTO);
	}
}

static void parse_rejects_nul(void **state)
{
	static const char line[] = "portscope/1 " YOU " " ME " x=a\0b\n";
	static const char prefix[] = "portscope/1\0" YOU " " ME "\n";
	struct pscope_whoami w;

	(void)state;
	assert_num_equal(pscope_whoami_parse(line, sizeof(line) - 1, &w), -PSCOPE_E_PROTO);
	assert_num_equal(pscope_whoami_parse(prefix, sizeof(prefix) - 1, &w), -PSCOPE_E_PROTO);
}

/* A line of LEN bytes, newline included, padded with an unknown key. */
static char *padded_line(size_t len)
{
	static const char head[] = "portscope/1 " YOU " " ME " pad=";
	char *line = malloc(len + 1);

	assert_non_null(line);
	assert_true(len > sizeof(head));
	memcpy(line, head, sizeof(head) - 1);
	memset(line + sizeof(head) - 1, 'x', len - sizeof(head));
	line[len - 1] = '\n';
	line[len] = '\0';
	assert_num_equal(strlen(line), len);
	return line;
}

static void parse_length_limit(void **state)
{
	struct pscope_whoami w;
	char *line;

	(void)state;
	/* PSCOPE_WHOAMI_MAX bytes before the end of line, which is not counted (line.h's rule). */
	line = padded_line(PSCOPE_WHOAMI_MAX + 1);
	assert_num_equal(pscope_whoami_parse(line, PSCOPE_WHOAMI_MAX + 1, &w), 0);
	free(line);

	line = padded_line(PSCOPE_WHOAMI_MAX + 2);
	assert_num_equal(pscope_whoami_parse(line, PSCOPE_WHOAMI_MAX + 2, &w), -PSCOPE_E_PROTO);
	line[PSCOPE_WHOAMI_MAX] = '\r';
	line[PSCOPE_WHOAMI_MAX + 1] = '\n';
	assert_num_equal(pscope_whoami_parse(line, PSCOPE_WHOAMI_MAX + 2, &w), 0);
	free(line);

	line = padded_line(4096);
	assert_num_equal(pscope_whoami_parse(line, 4096, &w), -PSCOPE_E_PROTO);
	free(line);
}

/* Only LEN bytes are read, so the line need not be NUL-terminated: a
 * buffer of exactly that size lets ASan catch any read past it. */
static void parse_reads_only_len(void **state)
{
	static const char text[] = "portscope/1 " YOU " " ME " conn=7";
	size_t n = sizeof(text) - 1;
	char *line = malloc(n);
	struct pscope_whoami w;

	(void)state;
	assert_non_null(line);
	memcpy(line, text, n);
	assert_num_equal(pscope_whoami_parse(line, n, &w), 0);
	assert_num_equal(w.conn, 7);
	/* One byte less leaves "conn=" empty, which is not a number. */
	assert_num_equal(pscope_whoami_parse(line, n - 1, &w), -PSCOPE_E_PROTO);
	free(line);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(format_full),
		cmocka_unit_test(pp_keys_round_trip),
		cmocka_unit_test(pp_keys_rejected),
		cmocka_unit_test(format_optional_fields),
		cmocka_unit_test(format_bad_address),
		cmocka_unit_test(round_trip),
		cmocka_unit_test(parse_full),
		cmocka_unit_test(parse_defaults),
		cmocka_unit_test(parse_accepts),
		cmocka_unit_test(parse_rejects),
		cmocka_unit_test(parse_rejects_nul),
		cmocka_unit_test(parse_length_limit),
		cmocka_unit_test(parse_reads_only_len),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
