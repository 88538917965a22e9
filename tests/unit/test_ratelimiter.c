/* Handshake rate limiter with a virtual clock: burst then 20/s, independent sources, /64
 * grouping (and IPv4-mapped addresses), GC, the full-table policy, the long-run rate, and a
 * differential run against a naive per-source bucket model that never forgets anything
 * (GC must not change any decision, since an idle entry has refilled completely). */
#include "test.h"

#include "proto/ratelimiter.h"

#include <arpa/inet.h>
#include <stdlib.h>

#define MS(x) WG_MS(x)
#define SEC(x) WG_SEC(x)

static unsigned rng_calls;

static int rng_fill(void *ctx, void *out, size_t n)
{
	rng_calls++;
	test_rng_bytes(ctx, out, n);
	return 0;
}

static test_rng seed_rng;
static const wg_rng RNG = { rng_fill, &seed_rng };

static bool allow(ratelimiter *rl, wg_time_ns now, const char *ip)
{
	uint8_t a[16];

	if (strchr(ip, ':')) {
		CHECK_EQ_INT(inet_pton(AF_INET6, ip, a), 1);
		return ratelimiter_allow(rl, now, AF_INET6, a);
	}
	CHECK_EQ_INT(inet_pton(AF_INET, ip, a), 1);
	return ratelimiter_allow(rl, now, AF_INET, a);
}

/* How many of n back-to-back packets at time now get through. */
static int burst(ratelimiter *rl, wg_time_ns now, const char *ip, int n)
{
	int ok = 0;
	for (int i = 0; i < n; i++)
		ok += allow(rl, now, ip);
	return ok;
}

static void test_siphash(void)
{
	/* Reference vectors from the SipHash paper (key 00..0f; message 00..0e) and the
	 * reference implementation's table (empty message). */
	uint64_t key[2] = { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL };
	uint8_t msg[64];

	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	CHECK_EQ_U64(wg_siphash24(key, msg, 15), 0xa129ca6149be45e5ULL);
	CHECK_EQ_U64(wg_siphash24(key, msg, 0), 0x726fdb47dd0e0e31ULL);
	CHECK_EQ_U64(wg_siphash24(key, msg, 8), 0x93f5f5799a932462ULL);
	CHECK_EQ_U64(wg_siphash24(key, msg, 63), 0x958a324ceb064572ULL);
}

static void test_burst_and_refill(void)
{
	ratelimiter *rl = ratelimiter_new(&RNG, WG_RATELIMITER_MAX_ENTRIES);
	wg_time_ns t = SEC(1000);

	CHECK(rl != NULL);
	CHECK_EQ_INT(burst(rl, t, "192.0.2.1", 10), 5);
	CHECK(!allow(rl, t + MS(49), "192.0.2.1"));
	/* The refused packet at +49 ms still moved last; its 49 ms of credit were kept. */
	CHECK(allow(rl, t + MS(50), "192.0.2.1"));
	CHECK(!allow(rl, t + MS(50), "192.0.2.1"));
	CHECK(!allow(rl, t + MS(99), "192.0.2.1"));
	CHECK(allow(rl, t + MS(100), "192.0.2.1"));
	/* 20/s: one packet every 50 ms gets through indefinitely. */
	for (int i = 1; i <= 100; i++)
		CHECK(allow(rl, t + MS(100) + MS(50) * (wg_time_ns)i, "192.0.2.1"));
	/* After a long pause the bucket is full again, but never more than the burst. */
	CHECK_EQ_INT(burst(rl, t + SEC(100), "192.0.2.1", 20), 5);
	/* Time going backwards gives no extra credit. */
	CHECK(!allow(rl, t, "192.0.2.1"));
	CHECK(!allow(rl, t + SEC(100), "192.0.2.1"));
	ratelimiter_free(rl);
}

static void test_sources(void)
{
	ratelimiter *rl = ratelimiter_new(&RNG, WG_RATELIMITER_MAX_ENTRIES);
	wg_time_ns t = SEC(5);

	CHECK_EQ_INT(burst(rl, t, "10.0.0.1", 6), 5);
	CHECK_EQ_INT(burst(rl, t, "10.0.0.2", 6), 5); /* IPv4: every address is its own */
	CHECK_EQ_INT(burst(rl, t, "10.0.0.1", 1), 0);
	/* IPv6: one bucket per /64. */
	CHECK_EQ_INT(burst(rl, t, "2001:db8:1:2::1", 3), 3);
	CHECK_EQ_INT(burst(rl, t, "2001:db8:1:2:ffff:ffff:ffff:ffff", 3), 2);
	CHECK_EQ_INT(burst(rl, t, "2001:db8:1:2:1234::99", 1), 0);
	CHECK_EQ_INT(burst(rl, t, "2001:db8:1:3::1", 6), 5);
	CHECK_EQ_INT(burst(rl, t, "2001:db8:1:1::1", 6), 5);
	/* An IPv6 /64 never aliases an IPv4 address with the same leading bytes. */
	CHECK_EQ_INT(burst(rl, t, "a00:1::", 6), 5);
	/* IPv4-mapped IPv6 is the IPv4 source: 10.0.0.1 is spent, 10.0.0.3 is fresh and then
	 * shared with its plain IPv4 form. */
	CHECK_EQ_INT(burst(rl, t, "::ffff:10.0.0.1", 1), 0);
	CHECK_EQ_INT(burst(rl, t, "::ffff:10.0.0.3", 2), 2);
	CHECK_EQ_INT(burst(rl, t, "10.0.0.3", 6), 3);
	CHECK_EQ_INT(ratelimiter_count(rl), 7);
	/* Unknown family or no address: refused, nothing stored. */
	{
		uint8_t a[16] = { 1 };
		CHECK(!ratelimiter_allow(rl, t, 0, a));
		CHECK(!ratelimiter_allow(rl, t, AF_INET, NULL));
		CHECK_EQ_INT(ratelimiter_count(rl), 7);
	}
	ratelimiter_free(rl);
}

static void test_gc(void)
{
	ratelimiter *rl = ratelimiter_new(&RNG, WG_RATELIMITER_MAX_ENTRIES);
	wg_time_ns t = SEC(50);
	uint8_t a[4] = { 198, 51, 100, 0 };

	for (int i = 0; i < 200; i++) {
		a[3] = (uint8_t)i;
		CHECK(ratelimiter_allow(rl, t, AF_INET, a));
	}
	CHECK_EQ_INT(ratelimiter_count(rl), 200);
	a[3] = 7;
	CHECK(ratelimiter_allow(rl, t + MS(500), AF_INET, a)); /* 7 stays fresh */
	/* Exactly 1 s idle is not yet "more than 1 s". */
	ratelimiter_gc(rl, t + SEC(1));
	CHECK_EQ_INT(ratelimiter_count(rl), 200);
	/* allow() does bounded GC work per call... */
	CHECK(allow(rl, t + SEC(1) + 1, "203.0.113.9"));
	CHECK_EQ_INT(ratelimiter_count(rl), 200 - WG_RATELIMITER_GC_BATCH + 1);
	CHECK(allow(rl, t + SEC(1) + 2, "203.0.113.9"));
	CHECK_EQ_INT(ratelimiter_count(rl), 200 - 2 * WG_RATELIMITER_GC_BATCH + 1);
	/* ...and the explicit sweep finishes: only 7 and the newcomer are left. */
	ratelimiter_gc(rl, t + SEC(1) + 3);
	CHECK_EQ_INT(ratelimiter_count(rl), 2);
	ratelimiter_gc(rl, t + SEC(2) + 3);
	CHECK_EQ_INT(ratelimiter_count(rl), 0);
	/* A collected source starts with a full burst again. */
	a[3] = 7;
	for (int i = 0; i < 5; i++)
		CHECK(ratelimiter_allow(rl, t + SEC(3), AF_INET, a));
	CHECK(!ratelimiter_allow(rl, t + SEC(3), AF_INET, a));
	ratelimiter_free(rl);
}

static void test_full_table(void)
{
	ratelimiter *rl = ratelimiter_new(&RNG, 16);
	wg_time_ns t = SEC(7);
	uint8_t a[4] = { 192, 0, 2, 0 };

	for (int i = 0; i < 16; i++) {
		a[3] = (uint8_t)i;
		CHECK(ratelimiter_allow(rl, t + (wg_time_ns)i, AF_INET, a));
	}
	CHECK_EQ_INT(ratelimiter_count(rl), 16);
	/* Full of active sources: a newcomer is refused (treated as rate limited)... */
	a[3] = 100;
	CHECK(!ratelimiter_allow(rl, t + MS(10), AF_INET, a));
	CHECK(!ratelimiter_allow(rl, t + SEC(1), AF_INET, a));
	/* ...while known sources keep their buckets. */
	a[3] = 3;
	CHECK(ratelimiter_allow(rl, t + MS(20), AF_INET, a));
	CHECK_EQ_INT(ratelimiter_count(rl), 16);
	/* Once entries idle out, room is made on demand even past the per-call GC budget. */
	a[3] = 100;
	CHECK(ratelimiter_allow(rl, t + SEC(1) + MS(15), AF_INET, a));
	CHECK_EQ_INT(ratelimiter_count(rl), 2); /* 3 (touched at +20 ms) and 100 */
	ratelimiter_free(rl);

	/* Bad arguments. */
	CHECK(ratelimiter_new(&RNG, 0) == NULL);
	CHECK(ratelimiter_new(&RNG, WG_RATELIMITER_MAX_ENTRIES + 1) == NULL);
	CHECK(ratelimiter_new(NULL, 16) == NULL);
	ratelimiter_free(NULL);
}

static void test_filled_to_max(void)
{
	ratelimiter *rl;
	unsigned before = rng_calls;
	uint8_t a[16] = { 0x20, 0x01, 0x0d, 0xb8 };
	wg_time_ns t = SEC(1);
	uint32_t refused = 0;

	rl = ratelimiter_new(&RNG, WG_RATELIMITER_MAX_ENTRIES);
	CHECK_EQ_INT(rng_calls, before + 1); /* the hash key came from the injected RNG */
	/* A flood from many /64s within one second: the table fills, then refuses. */
	for (uint32_t i = 0; i < WG_RATELIMITER_MAX_ENTRIES + 1000; i++) {
		a[4] = (uint8_t)(i >> 16);
		a[5] = (uint8_t)(i >> 8);
		a[6] = (uint8_t)i;
		refused += !ratelimiter_allow(rl, t + i * 10ULL, AF_INET6, a);
	}
	CHECK_EQ_INT(refused, 1000);
	CHECK_EQ_INT(ratelimiter_count(rl), WG_RATELIMITER_MAX_ENTRIES);
	ratelimiter_gc(rl, t + SEC(3));
	CHECK_EQ_INT(ratelimiter_count(rl), 0);
	ratelimiter_free(rl);
}

static void test_long_run_rate(void)
{
	ratelimiter *rl = ratelimiter_new(&RNG, WG_RATELIMITER_MAX_ENTRIES);
	wg_time_ns t0 = SEC(10);
	int ok = 0;

	/* 1000 attempts/s for 100 s, with jitter: 5 (burst) + 20/s get through. */
	test_rng g;
	test_rng_seed(&g, 99);
	for (wg_time_ns t = t0; t < t0 + SEC(100); t += MS(1) - 500000 + test_rng_next(&g) % 1000000)
		ok += allow(rl, t, "2001:db8::77");
	CHECK_MSG(ok >= 2000 && ok <= 2006, "long-run: %d allowed in 100 s", ok);
	printf("ratelimiter: %d initiations allowed in 100 s at ~1000/s offered (%.2f/s)\n", ok,
	       ok / 100.0);
	ratelimiter_free(rl);
}

/* Naive model: one unbounded bucket per source, never collected. */
typedef struct {
	int fam;
	uint8_t key[8];
	wg_time_ns last;
	double tokens; /* packets */
	bool used;
} naive_src;

static bool naive_allow(naive_src *s, wg_time_ns now, int fam, const uint8_t *key)
{
	if (!s->used) {
		s->used = true;
		s->fam = fam;
		memcpy(s->key, key, 8);
		s->last = now;
		s->tokens = 4;
		return true;
	}
	if (now < s->last)
		now = s->last;
	s->tokens += (double)(now - s->last) / 5e7; /* 50 ms per packet */
	if (s->tokens > 5)
		s->tokens = 5;
	s->last = now;
	if (s->tokens >= 1 - 1e-9) {
		s->tokens -= 1;
		return true;
	}
	return false;
}

static void test_differential(void)
{
	enum { NSRC = 24 };
	ratelimiter *rl = ratelimiter_new(&RNG, WG_RATELIMITER_MAX_ENTRIES);
	naive_src *model = calloc(NSRC, sizeof(*model));
	uint8_t addrs[NSRC][16];
	int fams[NSRC];
	test_rng g;
	wg_time_ns now = SEC(1);
	unsigned long bad = 0, allowed = 0, n = 0;

	test_rng_seed(&g, 7);
	for (int i = 0; i < NSRC; i++) {
		test_rng_bytes(&g, addrs[i], 16);
		fams[i] = (i & 1) ? AF_INET : AF_INET6;
		addrs[i][0] = (uint8_t)i; /* distinct keys */
	}
	for (int op = 0; op < 300000; op++) {
		uint64_t x = test_rng_next(&g);
		int s = (int)(x % NSRC);
		uint8_t a[16];
		bool want, got;

		/* Time steps: same instant, sub-cost, a few costs, seconds (GC territory). */
		switch ((x >> 8) & 7) {
		case 0: case 1: break;
		case 2: case 3: case 4: now += (x >> 16) % MS(3); break;
		case 5: now += (x >> 16) % MS(10); break;
		case 6: now += (x >> 40) % 512 ? 1 : (x >> 16) % SEC(3); break;
		default: now += MS(1); break;
		}
		memcpy(a, addrs[s], 16);
		if (fams[s] == AF_INET6)
			test_rng_bytes(&g, a + 8, 8); /* any host in the /64 */
		want = naive_allow(&model[s], now, fams[s], addrs[s]);
		got = ratelimiter_allow(rl, now, fams[s], a);
		if (want != got && bad++ < 5)
			test_fail(__FILE__, __LINE__, "op %d source %d: got %d want %d", op, s, got,
				  want);
		allowed += got;
		n++;
	}
	CHECK_EQ_U64(bad, 0);
	CHECK(allowed > n / 5 && allowed < n);
	printf("ratelimiter differential: %lu decisions (%lu allowed), %lu mismatches\n", n,
	       allowed, bad);
	free(model);
	ratelimiter_free(rl);
}

int main(void)
{
	test_rng_seed(&seed_rng, 1);
	test_siphash();
	test_burst_and_refill();
	test_sources();
	test_gc();
	test_full_table();
	test_filled_to_max();
	test_long_run_rate();
	test_differential();
	return test_finish("ratelimiter");
}
