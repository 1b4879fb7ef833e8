/* Rendering an accepted connection: the note's block, a line, or JSON. */
#include <string.h>

#include "pp.h"
#include "report.h"

#define STARS "************************************************"

void report_py_addr(const struct pscope_addr *a, int err, char *buf, size_t size)
{
	/* Where Python would raise, show what it would say: "[Errno 107] Transport ...". */
	if (err || pscope_addr_py(a, buf, size) < 0)
		snprintf(buf, size, "[Errno %d] %s", err ? -err : 97,
			 err ? pscope_strerror(err) : "Address family not supported");
}

static void print_seed(const char *prefix, const struct conn_report *r)
{
	char buf[512];

	cli_line(prefix, "client address is");
	report_py_addr(&r->from, 0, buf, sizeof(buf));
	cli_line(prefix, buf);
	pscope_sock_repr_py(&r->conn, buf, sizeof(buf));
	cli_line(prefix, buf);
	pscope_sock_repr_py(r->listener, buf, sizeof(buf));
	cli_line(prefix, buf);
	cli_line(prefix, "server listen socket is ");
	report_py_addr(&r->listener->local, r->listener->local_err, buf, sizeof(buf));
	cli_line(prefix, buf);
	cli_line(prefix, "server conn socket is ");
	report_py_addr(&r->conn.local, r->conn.local_err, buf, sizeof(buf));
	cli_line(prefix, buf);
	cli_line(prefix, "server conn socket connected to client socket ");
	report_py_addr(&r->conn.peer, r->conn.peer_err, buf, sizeof(buf));
	cli_line(prefix, buf);
	cli_line(prefix, STARS);
	/* The note's block stays as it is; what the header said comes after it. */
	if (r->pp)
		pp_print_seed(prefix, r->pp);
}

static void format_addr(const struct pscope_addr *a, int err, char *buf, size_t size)
{
	if (err || pscope_addr_format(a, buf, size) < 0)
		snprintf(buf, size, "%s", err ? pscope_errno_name(err) : "?");
}

static void print_line(const char *prefix, const struct conn_report *r)
{
	char local[PSCOPE_ADDRSTRLEN], peer[PSCOPE_ADDRSTRLEN], lst[PSCOPE_ADDRSTRLEN];
	const char *proto = pscope_proto_name(r->conn.type);

	format_addr(&r->conn.local, r->conn.local_err, local, sizeof(local));
	format_addr(&r->conn.peer, r->conn.peer_err, peer, sizeof(peer));
	format_addr(&r->listener->local, r->listener->local_err, lst, sizeof(lst));
	printf("%sconn=%llu %s fd=%d local=%s peer=%s listener_fd=%d listener=%s", prefix,
	       r->seq, proto ? proto : "?", r->conn.fd, local, peer, r->listener->fd, lst);
	if (r->pp)
		pp_print_line(r->pp);
	putchar('\n');
}

static void print_json(const char *prefix, const struct conn_report *r)
{
	struct pscope_json j;

	fputs(prefix, stdout);
	pscope_json_init_file(&j, stdout);
	pscope_json_object_begin(&j, NULL);
	pscope_json_uint(&j, "conn", r->seq);
	pscope_sock_json_members(&j, &r->conn);
	pscope_json_object_begin(&j, "listener");
	pscope_sock_json_members(&j, r->listener);
	pscope_json_object_end(&j);
	if (r->pp)
		pp_json(&j, r->pp);
	pscope_json_object_end(&j);
	putchar('\n');
}

void report_print(enum format fmt, const char *prefix, const struct conn_report *r)
{
	switch (fmt) {
	case FMT_SEED:
		print_seed(prefix, r);
		break;
	case FMT_LINE:
		print_line(prefix, r);
		break;
	case FMT_JSON:
		print_json(prefix, r);
		break;
	}
}

int report_whoami(const struct conn_report *r, char *buf, size_t size)
{
	struct pscope_whoami w = { .conn = r->seq, .fd = r->conn.fd };
	const char *proto = pscope_proto_name(r->conn.type);

	w.you = r->conn.peer_err ? r->from : r->conn.peer;
	w.me = r->conn.local;
	snprintf(w.proto, sizeof(w.proto), "%s", proto ? proto : "");
	if (r->pp)
		pp_whoami(r->pp, &w);
	return pscope_whoami_format(&w, buf, size);
}
