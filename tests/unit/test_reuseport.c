/*
 * Unit tests of reuseport.h: the kernel's SO_REUSEPORT group rule, one test per
 * condition of inet_reuseport_add_sock() (net/ipv4/inet_hashtables.c), each changing
 * that condition alone from a pair of listeners the kernel puts in one group.
 * Conditions that cannot be told apart on a live system (the kernel refuses the
 * bind: another uid on the same address and device) are only testable here.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "unit.h"

struct side {
	struct pscope_diag_sock s;
	struct pscope_sockopts o;
};

/* A TCP listener on 0.0.0.0:8080 (or [::]:8080), uid 1000, SO_REUSEPORT, no device. */
static struct side listener(int family)
{
	struct side x = { .s = { .family = (uint8_t)family, .proto = IPPROTO_TCP,
				 .state = TCP_LISTEN, .side = PSCOPE_SIDE_LOCAL, .lport = 8080,
				 .uid = 1000, .ifindex = 0 },
			  .o = { .reuseport = true, .v6only = family == AF_INET6 ? 1 : -1,
				 .bind_address_no_port = 0, .bound_dev_if = 0 } };
	return x;
}

static bool same(const struct side *a, const struct side *b)
{
	bool ab = pscope_reuseport_same_group(&a->s, &a->o, &b->s, &b->o);

	/* The rule is symmetric: the kernel's conditions are all equalities. */
	assert_int_equal(ab, pscope_reuseport_same_group(&b->s, &b->o, &a->s, &a->o));
	return ab;
}

static void alike_is_one_group(void **state)
{
	struct side a = listener(AF_INET), b = listener(AF_INET);
	struct side c = listener(AF_INET6), d = listener(AF_INET6);

	(void)state;
	assert_true(same(&a, &b));
	assert_true(same(&c, &d));
	/* SO_REUSEADDR and IP_BIND_ADDRESS_NO_PORT are not part of the rule. */
	b.o.reuseaddr = true;
	b.o.bind_address_no_port = 1;
	assert_true(same(&a, &b));
}

static void family(void **state)
{
	struct side a = listener(AF_INET), b = listener(AF_INET6);

	(void)state;
	/* Both wildcards, v6only the same "not v6-only": only the family differs. */
	b.o.v6only = -1;
	assert_false(same(&a, &b));
}

static void v6only(void **state)
{
	struct side a = listener(AF_INET6), b = listener(AF_INET6);

	(void)state;
	b.o.v6only = 0;
	assert_false(same(&a, &b));
}

static void bound_device(void **state)
{
	struct side a = listener(AF_INET), b = listener(AF_INET);

	(void)state;
	a.s.ifindex = 1;
	assert_false(same(&a, &b));
	b.s.ifindex = 2;
	assert_false(same(&a, &b));
	b.s.ifindex = 1;
	assert_true(same(&a, &b));
}

/* /proc has no device: the owner's SO_BINDTOIFINDEX stands in, and without it there is no answer. */
static void bound_device_from_options(void **state)
{
	struct side a = listener(AF_INET), b = listener(AF_INET);

	(void)state;
	a.s.absent = b.s.absent = PSCOPE_DIAG_NO_IFINDEX;
	a.o.bound_dev_if = 1;
	b.o.bound_dev_if = 1;
	assert_true(same(&a, &b));
	assert_int_equal(pscope_bound_dev_if(&a.s, &a.o), 1);
	b.o.bound_dev_if = 3;
	assert_false(same(&a, &b));
	b.o.bound_dev_if = -1;
	assert_false(same(&a, &b));
	assert_int_equal(pscope_bound_dev_if(&b.s, &b.o), -ENODATA);
	assert_int_equal(pscope_bound_dev_if(&b.s, NULL), -ENODATA);
	/* The kernel's listing, when it has the device, is taken before the options. */
	b.s.absent = 0;
	b.s.ifindex = 1;
	assert_int_equal(pscope_bound_dev_if(&b.s, &b.o), 1);
}

static void port(void **state)
{
	struct side a = listener(AF_INET), b = listener(AF_INET);

	(void)state;
	b.s.lport = 8081;
	assert_false(same(&a, &b));
}

static void reuseport_on_both(void **state)
{
	struct side a = listener(AF_INET), b = listener(AF_INET);

	(void)state;
	b.o.reuseport = false;
	assert_false(same(&a, &b));
	/* Nor is a listener without it a group with itself. */
	assert_false(same(&b, &b));
}

static void owner_uid(void **state)
{
	struct side a = listener(AF_INET), b = listener(AF_INET);

	(void)state;
	b.s.uid = 0;
	assert_false(same(&a, &b));
	/* A uid the source did not give (a minisocket's 0) decides nothing. */
	b.s.uid = 1000;
	b.s.absent = PSCOPE_DIAG_NO_UID;
	assert_false(same(&a, &b));
}

static void address(void **state)
{
	struct side a = listener(AF_INET), b = listener(AF_INET);
	struct side c = listener(AF_INET6), d = listener(AF_INET6);

	(void)state;
	/* inet_rcv_saddr_equal(..., false): the wildcard equals only the wildcard. */
	inet_pton(AF_INET, "127.0.0.1", b.s.laddr);
	assert_false(same(&a, &b));
	inet_pton(AF_INET, "127.0.0.1", a.s.laddr);
	assert_true(same(&a, &b));
	inet_pton(AF_INET, "127.0.0.2", a.s.laddr);
	assert_false(same(&a, &b));
	inet_pton(AF_INET6, "::1", d.s.laddr);
	assert_false(same(&c, &d));
	inet_pton(AF_INET6, "::1", c.s.laddr);
	assert_true(same(&c, &d));
	/* The last byte of an IPv6 address counts. */
	inet_pton(AF_INET6, "::2", c.s.laddr);
	assert_false(same(&c, &d));
}

static void listeners_only(void **state)
{
	struct side a = listener(AF_INET), b = listener(AF_INET);

	(void)state;
	b.s.state = TCP_ESTABLISHED;
	assert_false(same(&a, &b));
	/* UDP's rule (udp_reuseport_add_sock) is not this one: no answer for UDP. */
	a.s.proto = b.s.proto = IPPROTO_UDP;
	a.s.state = b.s.state = TCP_CLOSE;
	assert_false(same(&a, &b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(alike_is_one_group),
		cmocka_unit_test(family),
		cmocka_unit_test(v6only),
		cmocka_unit_test(bound_device),
		cmocka_unit_test(bound_device_from_options),
		cmocka_unit_test(port),
		cmocka_unit_test(reuseport_on_both),
		cmocka_unit_test(owner_uid),
		cmocka_unit_test(address),
		cmocka_unit_test(listeners_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
