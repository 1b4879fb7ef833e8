/* Messages for every error code the library returns. */
#include <netdb.h>
#include <string.h>

#include "portscope/addr.h"
#include "portscope/diag.h"

#define MSG(code, text) [(code) - PSCOPE_ERR_BASE] = (text)

static const char *const messages[] = {
	MSG(PSCOPE_E_EMPTY, "empty endpoint"),
	MSG(PSCOPE_E_TOOLONG, "host name longer than 253 characters"),
	MSG(PSCOPE_E_NUL, "endpoint contains a NUL byte"),
	MSG(PSCOPE_E_PORT, "port must be a decimal number from 0 to 65535"),
	MSG(PSCOPE_E_NOPORT, "a port is required (ADDR:PORT)"),
	MSG(PSCOPE_E_HOST_EMPTY,
	    "no host before ':' (write PORT alone, or HOST:PORT; '*:PORT' is any address)"),
	MSG(PSCOPE_E_BRACKET, "unbalanced brackets: write [IPv6]:PORT"),
	MSG(PSCOPE_E_BAD_IPV6, "not a valid IPv6 address"),
	MSG(PSCOPE_E_AMBIGUOUS,
	    "ambiguous: an IPv6 address, or an address and a port? Use brackets: [IPv6]:PORT"),
	MSG(PSCOPE_E_NEED_BRACKETS,
	    "an IPv6 address with a port must be written in brackets: [IPv6]:PORT"),
	MSG(PSCOPE_E_NOT_NUMERIC, "not a numeric address"),
	MSG(PSCOPE_E_PROTO, "not a well-formed portscope/1 line"),
	MSG(PSCOPE_E_RANGE, "not an address or an IPv4 range FIRST-LAST (at most 65536 addresses)"),
	MSG(PSCOPE_E_PORT_RANGE, "port larger than 65535"),
	MSG(PSCOPE_E_SPACE, "white space in the endpoint"),
	MSG(PSCOPE_E_CONTROL, "a control character in the endpoint"),
	MSG(PSCOPE_E_NOT_QUAD, "not a dotted quad (four decimal numbers from 0 to 255)"),
	MSG(PSCOPE_E_NAME_CHAR, "a host name has only letters, digits, hyphens and dots"),
	MSG(PSCOPE_E_LABEL, "an empty label, or one that starts or ends with a hyphen"),
	MSG(PSCOPE_E_LABEL_LONG, "a label of the host name is longer than 63 characters"),
	MSG(PSCOPE_E_SCOPE_BAD, "a zone after '%' is an interface name or index"),
	MSG(PSCOPE_E_SCOPE_NOT_LL, "a zone belongs to a link-local address only"),
	MSG(PSCOPE_E_SCOPE_NEEDED, "a link-local address needs its interface: [fe80::1%IFACE]"),
	MSG(PSCOPE_E_SCOPE_UNKNOWN, "the zone names no interface of this machine"),
	MSG(PSCOPE_E_ANY_NOT_DEST, "any address (*, 0.0.0.0, ::) is not a destination"),
	MSG(PSCOPE_E_NOT_UNICAST, "a multicast or broadcast address is no TCP endpoint"),
	MSG(PSCOPE_E_V4COMPAT, "an IPv4-compatible IPv6 address (deprecated, RFC 4291)"),
	MSG(PSCOPE_E_FAMILY, "an address of the other family than the one asked for"),
	MSG(PSCOPE_E_NAME_UNUSABLE, "the name resolves to no address that can be used here"),
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
