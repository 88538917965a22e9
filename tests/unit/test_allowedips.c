/* Allowed IPs: fixed cases (the kernel netns.sh shapes, masking, moves, removal rules, /0,
 * /32, /128, bounds, allocation failure) and a differential test against a naive linear list
 * with >= 1,000,000 random lookups over random inserts/removes/moves of both families. */
#include "test.h"

#include "allowedips_model.h"
#include "proto/allowedips.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

static int peers[64]; /* distinct addresses serve as opaque peer pointers */
#define PEER(i) ((void *)&peers[(i)])

static void v4(uint8_t out[4], const char *s)
{
	CHECK_EQ_INT(inet_pton(AF_INET, s, out), 1);
}

static void v6(uint8_t out[16], const char *s)
{
	CHECK_EQ_INT(inet_pton(AF_INET6, s, out), 1);
}

static int ins(allowedips *t, const char *s, unsigned cidr, void *peer)
{
	uint8_t a[16];

	if (strchr(s, ':')) {
		v6(a, s);
		return allowedips_insert(t, AF_INET6, a, (uint8_t)cidr, peer);
	}
	v4(a, s);
	return allowedips_insert(t, AF_INET, a, (uint8_t)cidr, peer);
}

static int rem(allowedips *t, const char *s, unsigned cidr, void *peer)
{
	uint8_t a[16];

	if (strchr(s, ':')) {
		v6(a, s);
		return allowedips_remove(t, AF_INET6, a, (uint8_t)cidr, peer);
	}
	v4(a, s);
	return allowedips_remove(t, AF_INET, a, (uint8_t)cidr, peer);
}

static void *look(const allowedips *t, const char *s)
{
	uint8_t a[16];

	if (strchr(s, ':')) {
		v6(a, s);
		return allowedips_lookup(t, AF_INET6, a);
	}
	v4(a, s);
	return allowedips_lookup(t, AF_INET, a);
}

#define EXPECT_LOOKUP(t, s, p)                                                             \
	CHECK_MSG(look((t), (s)) == (p), "lookup %s: got %p want %p", (s), look((t), (s)),  \
		  (void *)(p))

/* ---- walk collection ---- */

typedef struct {
	int n;
	int family[1 << 18];
	uint8_t addr[1 << 18][16];
	uint8_t cidr[1 << 18];
	int stop_after; /* 0 = never */
} walk_out;

static int walk_collect(void *ctx, int family, const uint8_t *addr, uint8_t cidr)
{
	walk_out *w = ctx;

	if (w->n < (1 << 18)) {
		w->family[w->n] = family;
		memset(w->addr[w->n], 0, 16);
		memcpy(w->addr[w->n], addr, family == AF_INET ? 4 : 16);
		w->cidr[w->n] = cidr;
	}
	w->n++;
	return w->stop_after && w->n >= w->stop_after ? 7 : 0;
}

static walk_out *W;

static int walk_count(const allowedips *t, void *peer)
{
	W->n = 0;
	W->stop_after = 0;
	CHECK_EQ_INT(allowedips_walk_by_peer(t, peer, walk_collect, W), 0);
	return W->n;
}

/* ---- allocation failure: the table must be unchanged after -ENOMEM ---- */

static long alloc_budget = -1; /* -1 = unlimited */
static long alloc_live;

static void *failing_alloc(size_t n)
{
	void *p;

	if (alloc_budget == 0)
		return NULL;
	if (alloc_budget > 0)
		alloc_budget--;
	p = malloc(n);
	if (p)
		alloc_live++;
	return p;
}

static void counting_free(void *p)
{
	if (p)
		alloc_live--;
	free(p);
}

/* ---- fixed cases ---- */

static void test_netns_large_one_peer(void)
{
	allowedips t;
	uint8_t a4[4], a6[16];
	int bad = 0;

	allowedips_init(&t);
	for (int a = 1; a <= 255; a++) {
		for (int b = 0; b <= 255; b++) {
			uint8_t x[4] = { (uint8_t)a, (uint8_t)b, 0, 0 };
			char s[64];
			snprintf(s, sizeof(s), "%x::%x", a, b); /* "$a::$b" read as hex groups */
			v6(a6, s);
			bad |= allowedips_insert(&t, AF_INET, x, 16, PEER(1));
			bad |= allowedips_insert(&t, AF_INET6, a6, 128, PEER(1));
		}
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_U64(allowedips_count(&t, 0), 255 * 256 * 2);
	CHECK_EQ_U64(allowedips_count(&t, AF_INET), 255 * 256);
	CHECK_EQ_INT(walk_count(&t, PEER(1)), 255 * 256 * 2);
	/* The walk gives them back in configuration order, masked. */
	CHECK_EQ_INT(W->family[0], AF_INET);
	CHECK(W->addr[0][0] == 1 && W->addr[0][1] == 0 && W->cidr[0] == 16);
	CHECK_EQ_INT(W->family[1], AF_INET6);
	CHECK(W->cidr[1] == 128 && W->addr[1][0] == 0 && W->addr[1][1] == 1 && W->addr[1][15] == 0);
	CHECK(W->addr[W->n - 2][0] == 255 && W->addr[W->n - 2][1] == 255);
	for (int a = 1; a <= 255; a += 7) {
		for (int b = 0; b <= 255; b += 3) {
			uint8_t x[4] = { (uint8_t)a, (uint8_t)b, (uint8_t)(a ^ b), 9 };
			bad |= allowedips_lookup(&t, AF_INET, x) != PEER(1);
		}
	}
	CHECK_EQ_INT(bad, 0);
	v4(a4, "0.255.255.255");
	CHECK(allowedips_lookup(&t, AF_INET, a4) == NULL);
	EXPECT_LOOKUP(&t, "ff::ff", PEER(1));
	EXPECT_LOOKUP(&t, "ff::100", NULL);
	CHECK_EQ_U64(allowedips_remove_by_peer(&t, PEER(1)), 255 * 256 * 2);
	CHECK_EQ_U64(allowedips_count(&t, 0), 0);
	CHECK(t.root4 == NULL && t.root6 == NULL);
	allowedips_free(&t);
}

static void test_netns_40_peers(void)
{
	allowedips t;
	int bad = 0;

	allowedips_init(&t);
	for (int a = 1; a <= 40; a++) {
		for (int b = 1; b <= 52; b++) {
			uint8_t x[4] = { (uint8_t)a, (uint8_t)b, 0, 0 };
			bad |= allowedips_insert(&t, AF_INET, x, 16, PEER(a));
		}
	}
	CHECK_EQ_INT(bad, 0);
	for (int a = 1; a <= 40; a++) {
		CHECK_EQ_INT(walk_count(&t, PEER(a)), 52);
		for (int i = 0; i < 52; i++)
			bad |= W->addr[i][0] != a || W->addr[i][1] != i + 1 || W->cidr[i] != 16;
		for (int b = 0; b <= 53; b++) {
			uint8_t x[4] = { (uint8_t)a, (uint8_t)b, 1, 2 };
			void *want = b >= 1 && b <= 52 ? PEER(a) : NULL;
			bad |= allowedips_lookup(&t, AF_INET, x) != want;
		}
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(walk_count(&t, PEER(41)), 0);
	CHECK_EQ_U64(allowedips_remove_by_peer(&t, PEER(20)), 52);
	EXPECT_LOOKUP(&t, "20.5.0.1", NULL);
	EXPECT_LOOKUP(&t, "21.5.0.1", PEER(21));
	CHECK_EQ_U64(allowedips_count(&t, AF_INET), 39 * 52);
	allowedips_free(&t);
	CHECK_EQ_U64(allowedips_count(&t, 0), 0);
}

static void test_netns_197(void)
{
	allowedips t;
	char s[64];

	allowedips_init(&t);
	/* netns.sh: the peer named first has none, the second gets abcd::1 .. abcd::197 (the
	 * decimal loop variable written into a hex group). */
	for (int i = 1; i <= 197; i++) {
		snprintf(s, sizeof(s), "abcd::%d", i);
		CHECK_EQ_INT(ins(&t, s, 128, PEER(2)), 0);
	}
	CHECK_EQ_INT(walk_count(&t, PEER(1)), 0);
	CHECK_EQ_INT(walk_count(&t, PEER(2)), 197);
	EXPECT_LOOKUP(&t, "abcd::197", PEER(2));
	EXPECT_LOOKUP(&t, "abcd::99", PEER(2));
	EXPECT_LOOKUP(&t, "abcd::9a", NULL);
	EXPECT_LOOKUP(&t, "abcd::198", NULL);
	/* And the 29 empty peers + one with 255.2.3.4/32,abcd::255/128 shape. */
	CHECK_EQ_INT(ins(&t, "255.2.3.4", 32, PEER(30)), 0);
	CHECK_EQ_INT(ins(&t, "abcd::255", 128, PEER(30)), 0);
	EXPECT_LOOKUP(&t, "255.2.3.4", PEER(30));
	EXPECT_LOOKUP(&t, "255.2.3.5", NULL);
	EXPECT_LOOKUP(&t, "abcd::255", PEER(30));
	allowedips_free(&t);
}

static void test_overlapping(void)
{
	allowedips t;

	allowedips_init(&t);
	t.mem_alloc = failing_alloc; /* unlimited budget: counts live allocations */
	t.mem_free = counting_free;
	CHECK_EQ_INT(ins(&t, "0.0.0.0", 0, PEER(1)), 0);
	CHECK_EQ_INT(ins(&t, "10.0.0.0", 8, PEER(2)), 0);
	CHECK_EQ_INT(ins(&t, "100.0.0.0", 10, PEER(3)), 0);
	CHECK_EQ_INT(ins(&t, "172.16.0.0", 12, PEER(4)), 0);
	CHECK_EQ_INT(ins(&t, "192.168.0.0", 16, PEER(5)), 0);
	EXPECT_LOOKUP(&t, "8.8.8.8", PEER(1));
	EXPECT_LOOKUP(&t, "10.255.255.255", PEER(2));
	EXPECT_LOOKUP(&t, "11.0.0.0", PEER(1));
	EXPECT_LOOKUP(&t, "100.63.255.255", PEER(3));
	EXPECT_LOOKUP(&t, "100.64.0.0", PEER(1));
	EXPECT_LOOKUP(&t, "172.31.1.1", PEER(4));
	EXPECT_LOOKUP(&t, "172.32.0.0", PEER(1));
	EXPECT_LOOKUP(&t, "172.15.255.255", PEER(1));
	EXPECT_LOOKUP(&t, "192.168.200.1", PEER(5));
	EXPECT_LOOKUP(&t, "192.169.0.0", PEER(1));
	EXPECT_LOOKUP(&t, "255.255.255.255", PEER(1));
	EXPECT_LOOKUP(&t, "::", NULL); /* families are separate */

	CHECK_EQ_INT(ins(&t, "::", 0, PEER(1)), 0);
	CHECK_EQ_INT(ins(&t, "1700::", 111, PEER(2)), 0);
	CHECK_EQ_INT(ins(&t, "5000::", 4, PEER(3)), 0);
	CHECK_EQ_INT(ins(&t, "e000::", 37, PEER(4)), 0);
	CHECK_EQ_INT(ins(&t, "9000::", 75, PEER(5)), 0);
	EXPECT_LOOKUP(&t, "1700::1:ffff", PEER(2));
	EXPECT_LOOKUP(&t, "1700::2:0", PEER(1));
	EXPECT_LOOKUP(&t, "5fff:ffff::1", PEER(3));
	EXPECT_LOOKUP(&t, "6000::", PEER(1));
	EXPECT_LOOKUP(&t, "4fff::", PEER(1));
	EXPECT_LOOKUP(&t, "e000:0:7ff:ffff::1", PEER(4));
	EXPECT_LOOKUP(&t, "e000:0:800::", PEER(1));
	EXPECT_LOOKUP(&t, "9000::1f:ffff:ffff:ffff", PEER(5));
	EXPECT_LOOKUP(&t, "9000::20:0:0:0", PEER(1));
	EXPECT_LOOKUP(&t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", PEER(1));
	EXPECT_LOOKUP(&t, "0.0.0.0", PEER(1));

	/* "allowed-ips 0.0.0.0/0" replacing the set = remove the peer's prefixes, add again. */
	for (int p = 2; p <= 5; p++)
		CHECK_EQ_U64(allowedips_remove_by_peer(&t, PEER(p)), 2);
	EXPECT_LOOKUP(&t, "10.1.1.1", PEER(1));
	EXPECT_LOOKUP(&t, "1700::1", PEER(1));
	CHECK_EQ_U64(allowedips_count(&t, 0), 2);
	/* Branch nodes went with the prefixes: two nodes and the peer map are left. */
	CHECK_EQ_INT(alloc_live, 3);
	CHECK_EQ_U64(allowedips_remove_by_peer(&t, PEER(1)), 2);
	EXPECT_LOOKUP(&t, "10.1.1.1", NULL);
	EXPECT_LOOKUP(&t, "::1", NULL);
	CHECK_EQ_INT(alloc_live, 1); /* every node is gone; the peer map is kept for reuse */
	allowedips_free(&t);
	CHECK_EQ_INT(alloc_live, 0);
}

/* Same shapes as the kernel selftest style: nested and sibling prefixes, both orders. */
static void test_masking_moves_removal(void)
{
	allowedips t;

	allowedips_init(&t);
	/* Host bits are masked when stored. */
	CHECK_EQ_INT(ins(&t, "192.168.77.99", 24, PEER(1)), 0);
	CHECK_EQ_INT(walk_count(&t, PEER(1)), 1);
	CHECK(W->addr[0][0] == 192 && W->addr[0][1] == 168 && W->addr[0][2] == 77 &&
	      W->addr[0][3] == 0 && W->cidr[0] == 24 && W->family[0] == AF_INET);
	CHECK_EQ_INT(ins(&t, "192.168.77.0", 24, PEER(1)), 0); /* same prefix, same peer */
	CHECK_EQ_U64(allowedips_count(&t, AF_INET), 1);
	CHECK_EQ_INT(ins(&t, "2001:db8:1234:5678:9abc::1", 33, PEER(1)), 0);
	CHECK_EQ_INT(walk_count(&t, PEER(1)), 2);
	{
		uint8_t want[16];
		v6(want, "2001:db8::"); /* /33: 0x1234 has its top bit clear */
		CHECK_MEM(W->addr[1], want, 16);
	}

	/* Move between peers: the prefix follows, the old peer loses it. */
	CHECK_EQ_INT(ins(&t, "192.168.77.1", 24, PEER(2)), 0);
	CHECK_EQ_U64(allowedips_count(&t, AF_INET), 1);
	EXPECT_LOOKUP(&t, "192.168.77.200", PEER(2));
	CHECK_EQ_INT(walk_count(&t, PEER(1)), 1);
	CHECK_EQ_INT(walk_count(&t, PEER(2)), 1);

	/* "-prefix" removal of someone else's prefix is a no-op. */
	CHECK_EQ_INT(rem(&t, "192.168.77.0", 24, PEER(1)), -ENOENT);
	EXPECT_LOOKUP(&t, "192.168.77.5", PEER(2));
	CHECK_EQ_INT(rem(&t, "192.168.77.0", 23, PEER(2)), -ENOENT); /* not exact */
	CHECK_EQ_INT(rem(&t, "192.168.77.0", 25, PEER(2)), -ENOENT);
	CHECK_EQ_INT(rem(&t, "192.168.77.0", 24, PEER(2)), 0);
	EXPECT_LOOKUP(&t, "192.168.77.5", NULL);
	CHECK_EQ_INT(rem(&t, "192.168.77.0", 24, PEER(2)), -ENOENT);
	CHECK_EQ_INT(rem(&t, "2001:db8::", 33, PEER(1)), 0);
	CHECK_EQ_U64(allowedips_count(&t, 0), 0);

	/* Nested prefixes: removing the middle keeps both ends reachable. */
	CHECK_EQ_INT(ins(&t, "10.0.0.0", 8, PEER(1)), 0);
	CHECK_EQ_INT(ins(&t, "10.1.0.0", 16, PEER(2)), 0);
	CHECK_EQ_INT(ins(&t, "10.1.1.0", 24, PEER(3)), 0);
	CHECK_EQ_INT(ins(&t, "10.1.1.1", 32, PEER(4)), 0);
	EXPECT_LOOKUP(&t, "10.1.1.1", PEER(4));
	EXPECT_LOOKUP(&t, "10.1.1.2", PEER(3));
	EXPECT_LOOKUP(&t, "10.1.2.2", PEER(2));
	EXPECT_LOOKUP(&t, "10.2.2.2", PEER(1));
	CHECK_EQ_INT(rem(&t, "10.1.0.0", 16, PEER(2)), 0);
	EXPECT_LOOKUP(&t, "10.1.2.2", PEER(1));
	EXPECT_LOOKUP(&t, "10.1.1.2", PEER(3));
	EXPECT_LOOKUP(&t, "10.1.1.1", PEER(4));
	CHECK_EQ_INT(rem(&t, "10.0.0.0", 8, PEER(1)), 0);
	EXPECT_LOOKUP(&t, "10.1.2.2", NULL);
	EXPECT_LOOKUP(&t, "10.1.1.1", PEER(4));
	/* Inserting a shorter prefix above existing ones, and a sibling that needs a branch. */
	CHECK_EQ_INT(ins(&t, "10.1.0.0", 15, PEER(5)), 0);
	CHECK_EQ_INT(ins(&t, "10.1.1.128", 25, PEER(6)), 0);
	EXPECT_LOOKUP(&t, "10.0.9.9", PEER(5));
	EXPECT_LOOKUP(&t, "10.1.1.129", PEER(6));
	EXPECT_LOOKUP(&t, "10.1.1.127", PEER(3));
	EXPECT_LOOKUP(&t, "10.1.1.1", PEER(4));
	EXPECT_LOOKUP(&t, "10.2.0.0", NULL);

	/* /32 and /128 and zero-length prefixes with everything else in place. */
	CHECK_EQ_INT(ins(&t, "255.255.255.255", 32, PEER(7)), 0);
	EXPECT_LOOKUP(&t, "255.255.255.255", PEER(7));
	EXPECT_LOOKUP(&t, "255.255.255.254", NULL);
	CHECK_EQ_INT(ins(&t, "1.2.3.4", 0, PEER(8)), 0); /* stored as 0.0.0.0/0 */
	EXPECT_LOOKUP(&t, "255.255.255.254", PEER(8));
	EXPECT_LOOKUP(&t, "10.1.1.1", PEER(4));
	CHECK_EQ_INT(rem(&t, "0.0.0.0", 0, PEER(8)), 0);
	EXPECT_LOOKUP(&t, "255.255.255.254", NULL);
	CHECK_EQ_INT(ins(&t, "::1", 128, PEER(9)), 0);
	CHECK_EQ_INT(ins(&t, "::", 128, PEER(10)), 0);
	CHECK_EQ_INT(ins(&t, "ffff::", 0, PEER(11)), 0);
	EXPECT_LOOKUP(&t, "::1", PEER(9));
	EXPECT_LOOKUP(&t, "::", PEER(10));
	EXPECT_LOOKUP(&t, "::2", PEER(11));
	CHECK_EQ_INT(walk_count(&t, PEER(11)), 1);
	CHECK(W->cidr[0] == 0 && W->family[0] == AF_INET6 && W->addr[0][0] == 0);

	/* Walk stops on a non-zero return and reports it. */
	CHECK_EQ_INT(ins(&t, "10.9.0.0", 16, PEER(9)), 0);
	W->n = 0;
	W->stop_after = 1;
	CHECK_EQ_INT(allowedips_walk_by_peer(&t, PEER(9), walk_collect, W), 7);
	CHECK_EQ_INT(W->n, 1);

	/* Bad arguments change nothing. */
	{
		uint8_t a[16] = { 0 };
		size_t before = allowedips_count(&t, 0);
		CHECK_EQ_INT(allowedips_insert(&t, AF_INET, a, 33, PEER(1)), -EINVAL);
		CHECK_EQ_INT(allowedips_insert(&t, AF_INET6, a, 129, PEER(1)), -EINVAL);
		CHECK_EQ_INT(allowedips_insert(&t, 12345, a, 8, PEER(1)), -EINVAL);
		CHECK_EQ_INT(allowedips_insert(&t, AF_INET, a, 8, NULL), -EINVAL);
		CHECK_EQ_INT(allowedips_insert(&t, AF_INET, NULL, 8, PEER(1)), -EINVAL);
		CHECK_EQ_INT(allowedips_remove(&t, AF_INET, a, 40, PEER(1)), -EINVAL);
		CHECK(allowedips_lookup(&t, 12345, a) == NULL);
		CHECK_EQ_U64(allowedips_count(&t, 0), before);
		CHECK_EQ_U64(allowedips_count(&t, 12345), 0);
		CHECK_EQ_U64(allowedips_remove_by_peer(&t, PEER(40)), 0);
	}
	allowedips_free(&t);
}

static void test_bound(void)
{
	allowedips t;
	uint8_t a[16] = { 0 };

	CHECK_EQ_U64(WG_ALLOWEDIPS_MAX, 1u << 20);
	allowedips_init(&t);
	CHECK_EQ_U64(t.max_per_family, WG_ALLOWEDIPS_MAX);
	t.max_per_family = 100;
	for (int i = 0; i < 100; i++) {
		a[0] = (uint8_t)i;
		CHECK_EQ_INT(allowedips_insert(&t, AF_INET, a, 32, PEER(i % 3)), 0);
	}
	a[0] = 200;
	CHECK_EQ_INT(allowedips_insert(&t, AF_INET, a, 32, PEER(0)), -ENOSPC);
	CHECK_EQ_INT(allowedips_insert(&t, AF_INET, a, 8, PEER(0)), -ENOSPC);
	CHECK(allowedips_lookup(&t, AF_INET, a) == NULL);
	CHECK_EQ_U64(allowedips_count(&t, AF_INET), 100);
	a[0] = 5; /* moving an existing prefix is not growth */
	CHECK_EQ_INT(allowedips_insert(&t, AF_INET, a, 32, PEER(7)), 0);
	CHECK(allowedips_lookup(&t, AF_INET, a) == PEER(7));
	CHECK_EQ_INT(allowedips_insert(&t, AF_INET6, a, 32, PEER(0)), 0); /* per family */
	CHECK_EQ_INT(allowedips_remove(&t, AF_INET, a, 32, PEER(7)), 0);
	a[0] = 200;
	CHECK_EQ_INT(allowedips_insert(&t, AF_INET, a, 32, PEER(0)), 0);
	/* A branch node turning into a prefix also counts: 0.0.0.0/1 would be new. Fill first. */
	a[0] = 0;
	CHECK_EQ_INT(allowedips_insert(&t, AF_INET, a, 1, PEER(0)), -ENOSPC);
	allowedips_free(&t);
	CHECK_EQ_U64(t.max_per_family, 100); /* free keeps the settings */
}

static bool table_equals_model(const allowedips *t, const model *m, test_rng *g, int probes)
{
	bool ok = allowedips_count(t, AF_INET) == (size_t)model_count(m, AF_INET) &&
		  allowedips_count(t, AF_INET6) == (size_t)model_count(m, AF_INET6);

	/* probes < 0: every stored prefix; else a sample of them (the model is O(n) a lookup). */
	int n = probes < 0 ? m->n : (m->n < probes ? m->n : probes);
	for (int j = 0; j < n && ok; j++) {
		int i = probes < 0 ? j : (int)(test_rng_next(g) % (uint64_t)m->n);
		uint8_t a[16];
		memcpy(a, m->e[i].addr, 16);
		ok = allowedips_lookup(t, m->e[i].family, a) == model_lookup(m, m->e[i].family, a);
	}
	for (int i = 0; i < (probes < 0 ? 100 : probes) && ok; i++) {
		uint8_t a[16];
		int fam = (i & 1) ? AF_INET : AF_INET6;
		test_rng_bytes(g, a, 16);
		if (m->n && (i & 2))
			memcpy(a, m->e[test_rng_next(g) % (uint64_t)m->n].addr, 4);
		ok = allowedips_lookup(t, fam, a) == model_lookup(m, fam, a);
	}
	return ok;
}

static void test_alloc_failure(void)
{
	allowedips t;
	model *m = calloc(1, sizeof(*m));
	test_rng g;
	int enomem = 0, bad = 0;

	test_rng_seed(&g, 42);
	allowedips_init(&t);
	t.mem_alloc = failing_alloc;
	t.mem_free = counting_free;
	for (int i = 0; i < 3000; i++) {
		uint8_t a[16];
		int fam = (i & 1) ? AF_INET : AF_INET6;
		unsigned cidr = (unsigned)(test_rng_next(&g) % (fam == AF_INET ? 33 : 129));
		void *peer = PEER(test_rng_next(&g) % 40); /* many peers: the peer map grows */
		int rc;

		test_rng_bytes(&g, a, 16);
		a[0] &= 0x3; /* overlap a lot: branches get created */
		alloc_budget = (long)(test_rng_next(&g) % 3); /* 0, 1 or 2 allocations allowed */
		rc = allowedips_insert(&t, fam, a, (uint8_t)cidr, peer);
		alloc_budget = -1;
		if (rc == -ENOMEM)
			enomem++;
		else if (rc == 0)
			bad += !model_insert(m, fam, a, cidr, peer); /* the model must not fill up */
		else
			bad++;
		if ((i % 50) == 0 || rc == -ENOMEM)
			bad += !table_equals_model(&t, m, &g, 20);
	}
	CHECK(table_equals_model(&t, m, &g, -1));
	CHECK_EQ_INT(bad, 0);
	CHECK_MSG(enomem > 100, "only %d allocation failures exercised", enomem);
	for (int p = 0; p < 40; p++)
		CHECK_EQ_INT(allowedips_remove_by_peer(&t, PEER(p)), model_remove_by_peer(m, PEER(p)));
	CHECK_EQ_U64(allowedips_count(&t, 0), 0);
	CHECK_EQ_INT(alloc_live, 1); /* removing every prefix frees every node (map kept) */
	allowedips_free(&t);
	CHECK_EQ_INT(alloc_live, 0);
	free(m);
}

/* ---- differential test ---- */

#define DIFF_ROUNDS 40
#define DIFF_OPS 2600
#define DIFF_LOOKUPS_PER_OP 10
#define DIFF_TARGET 160 /* model size around which inserts and removes balance */
#define DIFF_PEERS 12

typedef struct {
	uint8_t v4base[4][4];
	uint8_t v6base[4][16];
} universe;

static void random_addr(test_rng *g, const universe *u, int fam, uint8_t a[16])
{
	uint64_t x = test_rng_next(g);

	memset(a, 0, 16);
	if (fam == AF_INET) {
		memcpy(a, u->v4base[x & 3], 4);
		/* Randomize from a bit position chosen at random: deep and shallow differences. */
		unsigned from = (unsigned)((x >> 2) % 33);
		uint32_t r = (uint32_t)(x >> 32);
		for (unsigned b = from; b < 32; b++) {
			unsigned bit = (r >> (b & 31)) & 1;
			a[b / 8] = (uint8_t)((a[b / 8] & ~(0x80u >> (b % 8))) | (bit << (7 - b % 8)));
		}
		return;
	}
	memcpy(a, u->v6base[x & 3], 16);
	unsigned from = (x >> 2) & 1 ? (unsigned)((x >> 3) % 129) : 96 + (unsigned)((x >> 3) % 33);
	uint64_t r1 = test_rng_next(g), r2 = test_rng_next(g);
	for (unsigned b = from; b < 128; b++) {
		unsigned bit = (unsigned)(((b & 64) ? r2 : r1) >> (b & 63)) & 1;
		a[b / 8] = (uint8_t)((a[b / 8] & ~(0x80u >> (b % 8))) | (bit << (7 - b % 8)));
	}
}

static unsigned random_cidr(test_rng *g, int fam)
{
	uint64_t x = test_rng_next(g);
	unsigned max = fam == AF_INET ? 32 : 128;

	switch (x & 7) {
	case 0:
		return (unsigned)((x >> 8) % (max + 1));
	case 1:
		return max; /* host routes */
	case 2: /* short: covers a lot, so rarely */
		if ((x >> 60) == 0)
			return (unsigned)((x >> 8) % 9);
		return max - (unsigned)((x >> 8) % (max / 4 + 1));
	default:
		return max - (unsigned)((x >> 8) % (max / 2 + 1)); /* long-ish */
	}
}

static void check_walks(const allowedips *t, const model *m, unsigned long *bad)
{
	for (int p = 0; p < DIFF_PEERS; p++) {
		int k = 0;
		walk_count(t, PEER(p));
		for (int i = 0; i < m->n; i++) {
			const model_entry *e = &m->e[i];
			if (e->peer != PEER(p))
				continue;
			if (k >= W->n || W->family[k] != e->family || W->cidr[k] != e->cidr ||
			    memcmp(W->addr[k], e->addr, 16) != 0)
				(*bad)++;
			k++;
		}
		if (k != W->n)
			(*bad)++;
	}
}

static void test_differential(void)
{
	model *m = calloc(1, sizeof(*m));
	test_rng g;
	unsigned long lookups = 0, hits = 0, bad = 0, ops = 0, moves = 0, foreign = 0;

	test_rng_seed(&g, 0xa11083d1ULL);
	for (int round = 0; round < DIFF_ROUNDS; round++) {
		allowedips t;
		universe u;

		allowedips_init(&t);
		m->n = 0;
		test_rng_bytes(&g, &u, sizeof(u));
		for (int op = 0; op < DIFF_OPS; op++) {
			uint64_t x = test_rng_next(&g);
			int fam = (x & 1) ? AF_INET : AF_INET6;
			unsigned kind = (unsigned)((x >> 1) % 100);
			uint8_t a[16];
			void *peer = PEER((x >> 8) % DIFF_PEERS);
			bool grow = m->n < DIFF_TARGET;

			ops++;
			if (kind < (grow ? 55u : 30u)) { /* insert fresh or overlapping prefix */
				unsigned cidr = random_cidr(&g, fam);
				random_addr(&g, &u, fam, a);
				if (model_find(m, fam, a, cidr) >= 0)
					moves++;
				bad += !model_insert(m, fam, a, cidr, peer);
				bad += allowedips_insert(&t, fam, a, (uint8_t)cidr, peer) != 0;
			} else if (kind < 70 && m->n) { /* move or re-insert an existing prefix */
				model_entry e = m->e[(x >> 16) % (uint64_t)m->n];
				memcpy(a, e.addr, 16);
				/* the key may carry host bits: must be masked to the same prefix */
				if (e.family == AF_INET && e.cidr < 32)
					a[3] |= (uint8_t)(0xff >> (e.cidr > 24 ? e.cidr - 24 : 0)) & (uint8_t)(x >> 40);
				moves += e.peer != peer;
				bad += !model_insert(m, e.family, a, e.cidr, peer);
				bad += allowedips_insert(&t, e.family, a, e.cidr, peer) != 0;
			} else if (kind < 93 && m->n) { /* exact removal, sometimes by the wrong peer */
				model_entry e = m->e[(x >> 16) % (uint64_t)m->n];
				void *who = (x >> 50) & 3 ? e.peer : peer;
				bool want = model_remove(m, e.family, e.addr, e.cidr, who);
				foreign += e.peer != who;
				bad += allowedips_remove(&t, e.family, e.addr, e.cidr, who) !=
				       (want ? 0 : -ENOENT);
			} else if (kind < 96) { /* removal of a random (mostly absent) prefix */
				unsigned cidr = random_cidr(&g, fam);
				random_addr(&g, &u, fam, a);
				bool want = model_remove(m, fam, a, cidr, peer);
				bad += allowedips_remove(&t, fam, a, (uint8_t)cidr, peer) !=
				       (want ? 0 : -ENOENT);
			} else if (kind < 97) {
				bad += allowedips_remove_by_peer(&t, peer) !=
				       (size_t)model_remove_by_peer(m, peer);
			} else {
				check_walks(&t, m, &bad);
			}
			bad += allowedips_count(&t, AF_INET) != (size_t)model_count(m, AF_INET);
			bad += allowedips_count(&t, AF_INET6) != (size_t)model_count(m, AF_INET6);

			for (int l = 0; l < DIFF_LOOKUPS_PER_OP; l++) {
				int lf = (test_rng_next(&g) & 1) ? AF_INET : AF_INET6;
				void *want, *got;
				random_addr(&g, &u, lf, a);
				want = model_lookup(m, lf, a);
				got = allowedips_lookup(&t, lf, a);
				lookups++;
				hits += want != NULL;
				if (want != got && bad++ < 5)
					test_fail(__FILE__, __LINE__, "round %d op %d: lookup mismatch",
						  round, op);
			}
		}
		check_walks(&t, m, &bad);
		allowedips_free(&t);
	}
	CHECK_EQ_U64(bad, 0);
	CHECK(lookups >= 1000000);
	CHECK_MSG(hits > lookups / 3, "only %lu of %lu lookups hit", hits, lookups);
	CHECK(moves > 1000 && foreign > 500);
	printf("allowedips differential: %lu ops (%lu moves, %lu foreign removals), %lu lookups "
	       "(%lu hits), %lu mismatches\n", ops, moves, foreign, lookups, hits, bad);
	free(m);
}

int main(void)
{
	W = calloc(1, sizeof(*W));
	test_masking_moves_removal();
	test_overlapping();
	test_netns_197();
	test_netns_40_peers();
	test_netns_large_one_peer();
	test_bound();
	test_alloc_failure();
	test_differential();
	free(W);
	return test_finish("allowedips");
}
