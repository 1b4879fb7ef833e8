/*
 * The PROXY protocol in the command layer, shared by serve, connect and
 * proxycheck: a decoded header rendered for a report (the note's style, a
 * line, JSON) and as portscope/1 keys, a header sent in pieces with pauses,
 * and the options that describe what to send.
 */
#ifndef PORTSCOPE_PP_H
#define PORTSCOPE_PP_H

#include "cli.h"
#include "portscope/json.h"
#include "portscope/proxy.h"

/* The most pieces a header is sent in (--pp-split: up to 15 cuts). */
#define PP_MAX_CUTS 15

/* "tcp4", "tcp6", "udp4", "udp6", "unix_stream", "unix_dgram", "unspec", or v1's "unknown". */
const char *pp_proto_name(const struct pscope_proxy_hdr *h);

/* Fills W's PROXY keys (pp, pp_cmd, pp_proto, src, dst) from H. */
void pp_whoami(const struct pscope_proxy_hdr *h, struct pscope_whoami *w);

/* The note's style: a few lines, each after PREFIX, saying what H said. */
void pp_print_seed(const char *prefix, const struct pscope_proxy_hdr *h);

/* " pp=2 pp_cmd=proxy pp_proto=tcp4 pp_src=A pp_dst=B pp_len=N pp_tlvs=..." to stdout. */
void pp_print_line(const struct pscope_proxy_hdr *h);

/* The member "proxy": {version, command, proto, src, dst, length, tlvs, ...}. */
void pp_json(struct pscope_json *j, const struct pscope_proxy_hdr *h);

/*
 * Called between two pieces: waits up to MS milliseconds, and returns true
 * if the receiver did something (answered, closed) and no more is to be sent.
 */
typedef bool pp_pause_fn(int fd, int ms, void *arg);

/*
 * Sends BUF[0..LEN) on FD (blocking) in pieces that end at CUT[0..NCUT) and
 * at LEN, calling PAUSE(fd, PAUSE_MS, ARG) between pieces.  Returns 0 when all
 * was sent, 1 when PAUSE said to stop, or -errno of send(2).
 */
int pp_send_pieces(int fd, const uint8_t *buf, size_t len, const size_t *cut, int ncut,
		   int pause_ms, pp_pause_fn *pause, void *arg);

/* Parses "1,12,16" (increasing byte offsets above 0) into CUT.  Returns 0, or -1 after a usage message. */
int pp_parse_split(const char *arg, size_t *cut, int *ncut);

/*
 * Parses "TYPE=HEX" (TYPE a number, 0x.. or decimal, or a name of the
 * spec's: ALPN, AUTHORITY, NOOP, UNIQUE_ID, NETNS, ...) into *TYPE and the
 * bytes VAL (at most SIZE).  Returns the value's length, or -1 after a usage message.
 */
int pp_parse_tlv(const char *arg, uint8_t *type, uint8_t *val, size_t size);

#endif

/* --- connect --send-proxy --- */

#define PP_SEND_TLV_MAX 16
#define PP_SEND_TLV_LEN 1024

struct pp_send {
	uint8_t version;		/* 0: no header; 1 or 2 */
	bool local, crc32c;
	size_t cut[PP_MAX_CUTS];
	int ncut;
	int pause_ms;
	bool pause_set;			/* --pp-pause was given */
	struct {
		uint8_t type;
		uint16_t len;
		uint8_t value[PP_SEND_TLV_LEN];
	} tlv[PP_SEND_TLV_MAX];
	int ntlv;
	struct pscope_addr src, dst;	/* --pp-src, --pp-dst; len 0: the connection's own */
	struct pscope_proxy_hdr hdr;	/* what was sent */
	size_t len;
};

/* Options of connect: the --send-proxy family. */
enum { PP_OPT_SEND = 300, PP_OPT_TLV, PP_OPT_CRC, PP_OPT_LOCAL, PP_OPT_SPLIT, PP_OPT_PAUSE,
       PP_OPT_SRC, PP_OPT_DST, PP_OPT_LAST = PP_OPT_DST };
#define PP_SEND_LONGOPTS \
	{ "send-proxy", required_argument, NULL, PP_OPT_SEND }, \
	{ "pp-tlv", required_argument, NULL, PP_OPT_TLV }, \
	{ "pp-crc32c", no_argument, NULL, PP_OPT_CRC }, \
	{ "pp-local", no_argument, NULL, PP_OPT_LOCAL }, \
	{ "pp-split", required_argument, NULL, PP_OPT_SPLIT }, \
	{ "pp-pause", required_argument, NULL, PP_OPT_PAUSE }, \
	{ "pp-src", required_argument, NULL, PP_OPT_SRC }, \
	{ "pp-dst", required_argument, NULL, PP_OPT_DST }

/* One --send-proxy option (OPT one of PP_OPT_*) into P.  Returns 0, or -1 after a usage message. */
int pp_send_option(struct pp_send *p, int opt, const char *arg);

/* Options that go together, or not.  ANY_PP_OPT: a --pp-* option was given.  Returns 0, or EXIT_USAGE after saying why. */
int pp_send_check(const struct pp_send *p, bool any_pp_opt);

/* pp_send_header's "nothing sent: the options ask for a header that cannot be sent" (said already). */
#define PP_SEND_REFUSED (-10000)

/*
 * Builds the header for the connection SI (its own 4-tuple, unless --pp-src,
 * --pp-dst; an IPv4 address with an IPv6 one: both IPv6, the IPv4 one mapped;
 * LOCAL without them: family UNSPEC, no addresses) and sends it on FD in P's
 * pieces.  Returns 0 when all was sent, 1 when the server answered or closed
 * before the last piece, PP_SEND_REFUSED when nothing was sent because the
 * header cannot be built or a --pp-split cut is past its end (a usage message
 * said why), or -errno of send(2).
 */
int pp_send_header(int fd, struct pp_send *p, const struct pscope_sockinfo *si);

/*
 * Explains the chain when the server's portscope/1 line W carries PROXY
 * keys: who this client reached (SI's peer), whom the server's socket saw,
 * whom the header named, and whether that is this client.  Writes one or two
 * sentences to DETAIL and returns true if the header named this client (or
 * what P sent), false if not.
 */
bool pp_explain(const struct pp_send *p, const struct pscope_sockinfo *si,
		const struct pscope_whoami *w, char *detail, size_t size);
