/* Messages for every error code the library returns. */
#include <netdb.h>
#include <string.h>

#include "portscope/addr.h"
#include "portscope/diag.h"

#define MSG(code, text) [(code) - PSCOPE_ERR_BASE] = (text)

static const char *const messages[] = {
	MSG(PSCOPE_E_EMPTY, "empty endpoint"),
	MSG(PSCOPE_E_TOOLONG, "endpoint longer than 255 characters"),
	MSG(PSCOPE_E_NUL, "endpoint contains a NUL byte"),
	MSG(PSCOPE_E_PORT, "port must be a number from 0 to 65535"),
	MSG(PSCOPE_E_NOPORT, "a port is required (ADDR:PORT)"),
	MSG(PSCOPE_E_HOST_EMPTY,
	    "no host before ':' (write 0.0.0.0:PORT for every interface, or PORT for 127.0.0.1)"),
	MSG(PSCOPE_E_BRACKET, "unbalanced brackets: write [IPv6]:PORT"),
	MSG(PSCOPE_E_BAD_IPV6, "not a valid IPv6 address"),
	MSG(PSCOPE_E_AMBIGUOUS,
	    "ambiguous: an IPv6 address, or an address and a port? Use brackets: [IPv6]:PORT"),
	MSG(PSCOPE_E_NEED_BRACKETS,
	    "an IPv6 address with a port must be written in brackets: [IPv6]:PORT"),
	MSG(PSCOPE_E_NOT_NUMERIC, "not a numeric address"),
	MSG(PSCOPE_E_PROTO, "not a well-formed portscope/1 line"),
	MSG(PSCOPE_E_RANGE, "not an address or an IPv4 range FIRST-LAST (at most 65536 addresses)"),
	MSG(PSCOPE_E_NL_TRUNC, "netlink reply truncated: a message runs past the data"),
	MSG(PSCOPE_E_NL_SHORT, "netlink message too short for its type"),
	MSG(PSCOPE_E_NL_FOREIGN, "netlink message with a foreign sequence number or port id"),
	MSG(PSCOPE_E_NL_TYPE, "unexpected netlink message type in a socket dump"),
	MSG(PSCOPE_E_NL_ATTR, "netlink attribute with a bad length"),
	MSG(PSCOPE_E_NL_NODONE, "netlink dump ended without NLMSG_DONE"),
	MSG(PSCOPE_E_NL_FAMILY, "netlink reply names a socket family that was not asked for"),
	MSG(PSCOPE_E_NL_REQUEST, "malformed request in a recorded netlink dump"),
	MSG(PSCOPE_E_PROC_LINE, "malformed /proc/net line (truncated, too long or not hex)"),
	MSG(PSCOPE_E_PROC_FILTER, "the address names an interface (%scope), which /proc/net does not "
				  "give: netlink sock_diag can filter on it, /proc/net cannot"),
};

const char *pscope_strerror(int err)
{
	int e = -err;
	size_t i = (size_t)(e - PSCOPE_ERR_BASE);

	if (e > PSCOPE_ERR_BASE && i < sizeof(messages) / sizeof(messages[0]) && messages[i])
		return messages[i];
	if (e > PSCOPE_EAI_BASE && e < PSCOPE_EAI_BASE + 1000)
		return gai_strerror(-(e - PSCOPE_EAI_BASE));
	if (e > 0 && e < PSCOPE_ERR_BASE)
		return strerror(e);
	return "unknown error";
}
