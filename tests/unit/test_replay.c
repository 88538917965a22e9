/* Replay window: the known-answer tables (kernel selftest, wireguard-go tests, extras) for
 * both REJECT_AFTER_MESSAGES values, and a differential test against a naive model (a set of
 * seen counters plus the window rule) over millions of random operations. */
#include "test.h"
#include "tjson.h"

#include "proto/replay.h"

#include <stdlib.h>

#define KERNEL_REJECT_AFTER (UINT64_MAX - WG_REPLAY_WINDOW_SIZE - 1)
#define WGGO_REJECT_AFTER (UINT64_MAX - (1ULL << 13))

/* Runs one step; also checks that a rejected counter leaves the window untouched. */
static bool step(replay_window *r, uint64_t counter, uint64_t limit)
{
	replay_window before = *r;
	bool ok = replay_check_limit(r, counter, limit);

	if (!ok)
		CHECK_MSG(memcmp(&before, r, sizeof(before)) == 0,
			  "rejected counter %" PRIu64 " changed the window", counter);
	return ok;
}

static void run_table(const tjson *table, uint64_t limit, const char *name)
{
	replay_window r;

	replay_init(&r);
	for (size_t i = 0; i < table->n; i++) {
		const tjson *e = tjson_at(table, i);
		uint64_t c = tjson_u64(e, "counter");
		bool want = tjson_bool(e, "expect");

		CHECK_EQ_U64(c, strtoull(tjson_str(e, "counter_str"), NULL, 10));
		CHECK_MSG(step(&r, c, limit) == want, "%s test %" PRIu64 " (%s): counter %" PRIu64
			  " expected %d", name, tjson_u64(e, "test"), tjson_str(e, "expr"), c, want);
	}
}

static void run_steps(const tjson *seq, uint64_t limit)
{
	const char *name = tjson_str(seq, "name");
	const tjson *steps = tjson_get(seq, "steps");
	replay_window r;
	unsigned long n = 0;

	replay_init(&r);
	for (size_t i = 0; i < steps->n; i++) {
		const tjson *s = tjson_at(steps, i);
		const tjson *range = tjson_get(s, "range");
		bool want = tjson_bool(s, "expect");

		if (!range) {
			uint64_t c = tjson_u64(s, "counter");
			CHECK_MSG(step(&r, c, limit) == want, "%s step %zu: counter %" PRIu64, name, i, c);
			n++;
			continue;
		}
		uint64_t first = tjson_node_u64(tjson_at(range, 0));
		uint64_t last = tjson_node_u64(tjson_at(range, 1));
		double dir = tjson_node_num(tjson_at(range, 2));
		CHECK(dir == 1.0 || dir == -1.0);
		for (uint64_t c = first;; c = dir > 0 ? c + 1 : c - 1) {
			bool got = replay_check_limit(&r, c, limit); /* bulk: skip the state copy */
			CHECK_MSG(got == want, "%s step %zu: counter %" PRIu64, name, i, c);
			n++;
			if (c == last)
				break;
		}
	}
	CHECK_MSG(n > 0, "%s: empty sequence", name);
}

static void test_vectors(void)
{
	tjson *j = tjson_load_vector("replay/counter_window.json");
	const tjson *ram = tjson_get(j, "reject_after_messages");
	const uint64_t lim_k = tjson_u64(tjson_get(ram, "kernel"), "value");
	const uint64_t lim_g = tjson_u64(tjson_get(ram, "wireguard_go"), "value");
	const uint64_t limits[2] = { lim_k, lim_g };
	const char *lists[2] = { "bulk", "computed_extra" };

	CHECK_EQ_U64(tjson_u64(j, "window_size"), WG_REPLAY_WINDOW_SIZE);
	CHECK_EQ_U64(lim_k, KERNEL_REJECT_AFTER);
	CHECK_EQ_U64(lim_g, WGGO_REJECT_AFTER);
	CHECK_EQ_U64(lim_g, WG_REJECT_AFTER_MESSAGES);
	CHECK_EQ_INT(tjson_get(j, "main_table_kernel")->n, 34);
	run_table(tjson_get(j, "main_table_kernel"), lim_k, "kernel");
	run_table(tjson_get(j, "main_table_wireguard_go"), lim_g, "wireguard-go");
	/* The default entry point must behave as the wireguard-go instantiation. */
	{
		const tjson *t = tjson_get(j, "main_table_wireguard_go");
		replay_window r;
		replay_init(&r);
		for (size_t i = 0; i < t->n; i++)
			CHECK(replay_check(&r, tjson_u64(tjson_at(t, i), "counter")) ==
			      tjson_bool(tjson_at(t, i), "expect"));
	}
	/* Bulk and extra sequences do not depend on the limit: run them under both. */
	for (int l = 0; l < 2; l++) {
		for (int k = 0; k < 2; k++) {
			const tjson *list = tjson_get(j, lists[k]);
			CHECK(list && list->n > 0);
			for (size_t i = 0; list && i < list->n; i++)
				run_steps(tjson_at(list, i), limits[l]);
		}
	}
	tjson_free(j);
}

/* ---- naive model: every accepted counter in a hash set, plus the window rule ---- */

#define SET_BITS 16
#define SET_CAP (1u << SET_BITS)
#define OPS_PER_RUN 12000 /* < SET_CAP / 2 keeps the open-addressing set fast */

typedef struct {
	uint64_t keys[SET_CAP];
	bool used[SET_CAP];
	uint64_t last;
	uint64_t limit;
} naive;

static uint32_t naive_slot(uint64_t k)
{
	return (uint32_t)((k * 0x9e3779b97f4a7c15ULL) >> (64 - SET_BITS));
}

static bool naive_seen(const naive *m, uint64_t k)
{
	for (uint32_t s = naive_slot(k);; s = (s + 1) & (SET_CAP - 1)) {
		if (!m->used[s])
			return false;
		if (m->keys[s] == k)
			return true;
	}
}

static void naive_add(naive *m, uint64_t k)
{
	uint32_t s = naive_slot(k);
	while (m->used[s])
		s = (s + 1) & (SET_CAP - 1);
	m->used[s] = true;
	m->keys[s] = k;
}

static bool naive_check(naive *m, uint64_t c)
{
	if (c >= m->limit)
		return false;
	if (c < m->last && m->last - c > WG_REPLAY_WINDOW_SIZE)
		return false;
	if (naive_seen(m, c))
		return false;
	naive_add(m, c);
	if (c > m->last)
		m->last = c;
	return true;
}

typedef struct {
	uint64_t recent[64]; /* recently offered counters, for duplicates */
	unsigned n_recent;
} history;

static uint64_t pick_counter(test_rng *g, const naive *m, history *h, int pattern)
{
	uint64_t x = test_rng_next(g);
	uint64_t last = m->last;
	uint64_t back;

	switch (pattern == 0 ? (int)(x % 7) + 1 : pattern) {
	case 1: /* in order, with small gaps */
		return last + 1 + (x >> 60) % 3;
	case 2: /* reorder inside (and just outside) the window */
		back = (x >> 8) % (WG_REPLAY_WINDOW_SIZE + 200);
		return last >= back ? last - back : (x >> 40) % 64;
	case 3: /* exact window edges */
		back = WG_REPLAY_WINDOW_SIZE - 2 + (x >> 61) % 4;
		return last >= back ? last - back : last + 1;
	case 4: /* duplicate of something recent */
		return h->n_recent ? h->recent[(x >> 20) % h->n_recent] : 0;
	case 5: /* jump ahead: within a block, a few blocks, past the ring, far */
		switch ((x >> 4) & 3) {
		case 0: return last + (x >> 50) % 64;
		case 1: return last + (x >> 40) % (3 * WG_REPLAY_WINDOW_SIZE);
		case 2: return last + 8128 + (x >> 60);
		default: return last + ((x >> 24) & ((1ULL << 36) - 1));
		}
	case 6: /* around the limit */
		return m->limit - 1 - (x >> 40) % 16 + (x >> 63) * 20;
	default: /* anything */
		return (x >> 62) ? last + ((x >> 32) % 100000) - 50000 : x;
	}
}

static unsigned long differential_run(test_rng *g, uint64_t limit, uint64_t start, int pattern)
{
	static naive m;
	static replay_window r;
	history h = { .n_recent = 0 };
	unsigned long mismatches = 0;

	memset(&m, 0, sizeof(m));
	m.limit = limit;
	replay_init(&r);
	/* Start some runs high up (near the limit) by accepting `start` first in both. */
	if (start) {
		bool a = naive_check(&m, start), b = replay_check_limit(&r, start, limit);
		CHECK(a == b);
	}
	for (int i = 0; i < OPS_PER_RUN; i++) {
		uint64_t c = pick_counter(g, &m, &h, pattern);
		bool want = naive_check(&m, c);
		bool got;

		if (!want && (i & 15) == 0) {
			got = step(&r, c, limit); /* sampled: rejected counters change nothing */
		} else {
			got = replay_check_limit(&r, c, limit);
		}
		if (got != want && mismatches++ < 5)
			test_fail(__FILE__, __LINE__, "differential: counter %" PRIu64 " last %" PRIu64
				  " pattern %d: got %d want %d", c, m.last, pattern, got, want);
		h.recent[h.n_recent < 64 ? h.n_recent++ : (unsigned)(test_rng_next(g) % 64)] = c;
	}
	test_checks++;
	return mismatches;
}

static void test_differential(void)
{
	test_rng g;
	unsigned long ops = 0, bad = 0;
	const uint64_t limits[2] = { KERNEL_REJECT_AFTER, WGGO_REJECT_AFTER };

	test_rng_seed(&g, 0x7265706c6179ULL);
	for (int run = 0; run < 200; run++) {
		int pattern = run % 8; /* 0 = mixed, 1..7 = one pattern only */
		uint64_t limit = limits[run & 1];
		uint64_t start = 0;

		if (run % 5 == 3)
			start = limit - 1 - test_rng_next(&g) % 50000;
		else if (run % 5 == 4)
			start = test_rng_next(&g) >> 4;
		bad += differential_run(&g, limit, start, pattern);
		ops += OPS_PER_RUN;
	}
	CHECK_EQ_U64(bad, 0);
	CHECK(ops >= 2000000);
	printf("replay differential: %lu operations, %lu mismatches\n", ops, bad);
}

static void test_basics(void)
{
	replay_window r;

	CHECK_EQ_INT(WG_REPLAY_WINDOW_SIZE, 8128);
	replay_init(&r);
	CHECK(replay_check(&r, 0));
	CHECK(!replay_check(&r, 0));
	CHECK(replay_check(&r, 8128 + 5));
	CHECK(!replay_check(&r, 4));     /* 8129 behind */
	CHECK(replay_check(&r, 5));      /* exactly the window */
	CHECK(!replay_check(&r, UINT64_MAX));
	CHECK(!replay_check(&r, WG_REJECT_AFTER_MESSAGES));
	CHECK(replay_check(&r, WG_REJECT_AFTER_MESSAGES - 1));
	CHECK(!replay_check(&r, 8128 + 6)); /* far too old now */
}

int main(void)
{
	test_basics();
	test_vectors();
	test_differential();
	return test_finish("replay");
}
