/* The tunnel API limiter's per-source rate limiter and its load (fixtures:
 * tests/support/limiter_util.h): burst, refill on the virtual clock, IPv6 /64, full table,
 * only proven sources spend tokens; load from the handshake count per one-second window and
 * from report_load; several receive threads on one limiter (run under TSan by CI). */
#include "limiter_util.h"

#include <pthread.h>

static void test_ratelimit(void)
{
	uint8_t pub[32], out[CAP];
	lim_src src;
	wgtun_limiter *l;
	crafter c1, c2, ca, cb, cc;
	const uint8_t *m1, *m2, *ma, *mb, *mc;
	size_t n = 0;
	wgtun_limiter_stats st;
	int pass = 0;

	memset(pub, 0x44, sizeof(pub));
	l = limiter_make(pub, &src, 40, UINT32_MAX, 0);
	crafter_init(&c1, pub, 41);
	crafter_init(&c2, pub, 42);
	crafter_init(&ca, pub, 43);
	crafter_init(&cb, pub, 44);
	crafter_init(&cc, pub, 45);

	/* Not under load the rate limiter is not asked: 50 from one source all pass. */
	for (int i = 0; i < 50; i++)
		pass += check4(l, crafted(&c1), sizeof(c1.msg), addr1, 1, out, &n) ==
			WGTUN_LIMITER_PASS;
	CHECK_EQ_INT(pass, 50);
	CHECK_EQ_U64(stats_of(l).sources, 0);

	wgtun_limiter_report_load(l, g_now);
	m1 = proven(&c1, l, addr1, 4, 1);
	/* the burst: 5 pass, the 6th is rate limited (a distinct code) */
	for (int i = 0; i < 5; i++)
		CHECK_EQ_INT(check4(l, m1, sizeof(c1.msg), addr1, 1, out, &n), WGTUN_LIMITER_PASS);
	CHECK_EQ_INT(check4(l, m1, sizeof(c1.msg), addr1, 1, out, &n),
		     WGTUN_TUNNEL_ERR_RATELIMITED);
	CHECK_EQ_U64(n, 0);
	/* the same host on another port is the same source */
	{
		crafter cp;
		crafter_init(&cp, pub, 46);
		CHECK_EQ_INT(check4(l, proven(&cp, l, addr1, 4, 2), sizeof(cp.msg), addr1, 2, out,
				    &n),
			     WGTUN_TUNNEL_ERR_RATELIMITED);
		cookie_maker_wipe(&cp.mk);
	}
	/* cookie-less messages from the limited source are still answered, and spend nothing */
	for (int i = 0; i < 20; i++) {
		uint8_t plain[WG_MSG_INITIATION_LEN];

		memcpy(plain, m1, sizeof(plain));
		memset(plain + 132, 0, 16);
		CHECK_EQ_INT(check4(l, plain, sizeof(plain), addr1, 1, out, &n),
			     WGTUN_TUNNEL_WRITE_NETWORK);
	}
	/* another source has its own bucket */
	m2 = proven(&c2, l, addr2, 4, 1);
	CHECK_EQ_INT(check4(l, m2, sizeof(c2.msg), addr2, 1, out, &n), WGTUN_LIMITER_PASS);
	/* IPv6: one bucket per /64 */
	ma = proven(&ca, l, v6a, 16, 7);
	mb = proven(&cb, l, v6b, 16, 7);
	mc = proven(&cc, l, v6c, 16, 7);
	for (int i = 0; i < 5; i++)
		CHECK_EQ_INT(wgtun_limiter_check(l, g_now, ma, sizeof(ca.msg), v6a, 16, 7, out,
						 sizeof(out), &n),
			     WGTUN_LIMITER_PASS);
	CHECK_EQ_INT(wgtun_limiter_check(l, g_now, mb, sizeof(cb.msg), v6b, 16, 7, out, sizeof(out),
					 &n),
		     WGTUN_TUNNEL_ERR_RATELIMITED);
	CHECK_EQ_INT(wgtun_limiter_check(l, g_now, mc, sizeof(cc.msg), v6c, 16, 7, out, sizeof(out),
					 &n),
		     WGTUN_LIMITER_PASS);
	st = stats_of(l);
	CHECK_EQ_U64(st.sources, 4);
	CHECK_EQ_U64(st.ratelimited, 3);

	/* the virtual clock refills: 50 ms = one more, 250 ms = the whole burst */
	g_now += 50 * MS;
	wgtun_limiter_report_load(l, g_now);
	CHECK_EQ_INT(check4(l, m1, sizeof(c1.msg), addr1, 1, out, &n), WGTUN_LIMITER_PASS);
	CHECK_EQ_INT(check4(l, m1, sizeof(c1.msg), addr1, 1, out, &n),
		     WGTUN_TUNNEL_ERR_RATELIMITED);
	g_now += 250 * MS;
	wgtun_limiter_report_load(l, g_now);
	for (int i = 0; i < 5; i++)
		CHECK_EQ_INT(check4(l, m1, sizeof(c1.msg), addr1, 1, out, &n), WGTUN_LIMITER_PASS);
	CHECK_EQ_INT(check4(l, m1, sizeof(c1.msg), addr1, 1, out, &n),
		     WGTUN_TUNNEL_ERR_RATELIMITED);
	/* sources idle for over a second are forgotten as the table is used */
	g_now += 2 * SEC;
	wgtun_limiter_report_load(l, g_now);
	CHECK_EQ_INT(check4(l, m1, sizeof(c1.msg), addr1, 1, out, &n), WGTUN_LIMITER_PASS);
	CHECK_EQ_U64(stats_of(l).sources, 1);
	wgtun_limiter_free(l);

	/* A full table refuses a newcomer while its sources are active, and takes it once they
	 * are idle. */
	l = limiter_make(pub, &src, 47, UINT32_MAX, 2);
	wgtun_limiter_report_load(l, g_now);
	m1 = proven(&c1, l, addr1, 4, 1);
	m2 = proven(&c2, l, addr2, 4, 1);
	ma = proven(&ca, l, addr3, 4, 1);
	CHECK_EQ_INT(check4(l, m1, sizeof(c1.msg), addr1, 1, out, &n), WGTUN_LIMITER_PASS);
	CHECK_EQ_INT(check4(l, m2, sizeof(c2.msg), addr2, 1, out, &n), WGTUN_LIMITER_PASS);
	CHECK_EQ_INT(check4(l, ma, sizeof(ca.msg), addr3, 1, out, &n),
		     WGTUN_TUNNEL_ERR_RATELIMITED);
	g_now += 1100 * MS;
	wgtun_limiter_report_load(l, g_now);
	CHECK_EQ_INT(check4(l, ma, sizeof(ca.msg), addr3, 1, out, &n), WGTUN_LIMITER_PASS);
	CHECK_EQ_U64(stats_of(l).sources, 1);
	wgtun_limiter_free(l);
	cookie_maker_wipe(&c1.mk);
	cookie_maker_wipe(&c2.mk);
	cookie_maker_wipe(&ca.mk);
	cookie_maker_wipe(&cb.mk);
	cookie_maker_wipe(&cc.mk);
}

/* Load from the count of handshakes with a valid mac1, per one-second window. */
static void test_load_by_count(void)
{
	uint8_t pub[32], out[CAP], bad[WG_MSG_INITIATION_LEN];
	lim_src src;
	wgtun_limiter *l;
	crafter c;
	size_t n = 0;
	uint64_t t11;

	memset(pub, 0x55, sizeof(pub));
	l = limiter_make(pub, &src, 50, 10, 0);
	crafter_init(&c, pub, 51);
	/* messages with a bad mac1 do not count (only someone with our public key can load us) */
	memcpy(bad, crafted(&c), sizeof(bad));
	bad[116] ^= 0xff;
	for (int i = 0; i < 100; i++)
		CHECK_EQ_INT(check4(l, bad, sizeof(bad), addr1, 1, out, &n), WGTUN_TUNNEL_ERR_MAC);
	CHECK_EQ_INT(wgtun_limiter_under_load(l, g_now), 0);
	for (int i = 0; i < 10; i++) {
		CHECK_EQ_INT(check4(l, crafted(&c), sizeof(c.msg), addr1, 1, out, &n),
			     WGTUN_LIMITER_PASS);
		g_now += 10 * MS;
	}
	CHECK_EQ_INT(wgtun_limiter_under_load(l, g_now), 0);
	/* the 11th within the second: under load, and it is the first to need a cookie */
	CHECK_EQ_INT(check4(l, crafted(&c), sizeof(c.msg), addr1, 1, out, &n),
		     WGTUN_TUNNEL_WRITE_NETWORK);
	t11 = g_now;
	CHECK_EQ_INT(wgtun_limiter_under_load(l, t11 + SEC - 1), 1);
	CHECK_EQ_INT(wgtun_limiter_under_load(l, t11 + SEC), 0);
	CHECK_EQ_INT(stats_of(l).under_load, 0);
	/* an earlier time than one seen counts as that one */
	CHECK_EQ_INT(wgtun_limiter_under_load(l, t11), 0);
	g_now = t11 + SEC;
	CHECK_EQ_INT(check4(l, crafted(&c), sizeof(c.msg), addr1, 1, out, &n), WGTUN_LIMITER_PASS);
	wgtun_limiter_free(l);

	/* UINT32_MAX: never by count; report_load still works, 1 s from each report */
	l = limiter_make(pub, &src, 52, UINT32_MAX, 0);
	for (int i = 0; i < 1000; i++)
		CHECK_EQ_INT(check4(l, crafted(&c), sizeof(c.msg), addr1, 1, out, &n),
			     WGTUN_LIMITER_PASS);
	CHECK_EQ_INT(wgtun_limiter_under_load(l, g_now), 0);
	wgtun_limiter_report_load(l, g_now);
	wgtun_limiter_report_load(l, g_now + 500 * MS);
	CHECK_EQ_INT(wgtun_limiter_under_load(l, g_now + 1500 * MS - 1), 1);
	CHECK_EQ_INT(wgtun_limiter_under_load(l, g_now + 1500 * MS), 0);
	g_now += 1500 * MS;
	wgtun_limiter_free(l);

	/* 0 = the default: 1000 per second */
	l = limiter_make(pub, &src, 53, 0, 0);
	for (int i = 0; i < WGTUN_LIMITER_DEFAULT_LOAD; i++)
		CHECK_EQ_INT(check4(l, crafted(&c), sizeof(c.msg), addr1, 1, out, &n),
			     WGTUN_LIMITER_PASS);
	CHECK_EQ_INT(check4(l, crafted(&c), sizeof(c.msg), addr1, 1, out, &n),
		     WGTUN_TUNNEL_WRITE_NETWORK);
	wgtun_limiter_free(l);
	cookie_maker_wipe(&c.mk);
}

/* ---- several receive threads on one limiter ---- */

#define THREADS 3
#define ROUNDS 600

typedef struct {
	wgtun_limiter *l;
	const uint8_t *pub;
	int id;
	uint64_t pass, replies, limited, other, reply_bad;
} worker;

static void *worker_run(void *arg)
{
	worker *w = arg;
	crafter c;
	uint8_t out[CAP], addr[4] = {10, 0, 0, 0};
	uint64_t now = g_now;

	addr[3] = (uint8_t)(w->id + 1);
	crafter_init(&c, w->pub, 900 + (uint64_t)w->id);
	for (int i = 0; i < ROUNDS; i++) {
		size_t n = 0;
		int r;

		now += MS; /* each thread's own clock: they disagree a little */
		if (i % 50 == 0)
			wgtun_limiter_report_load(w->l, now);
		if (cookie_maker_add_macs(&c.mk, c.msg, sizeof(c.msg), now) != COOKIE_OK)
			w->other++;
		r = wgtun_limiter_check(w->l, now, c.msg, sizeof(c.msg), addr, 4, 5, out,
					sizeof(out), &n);
		if (r == WGTUN_LIMITER_PASS) {
			w->pass++;
		} else if (r == WGTUN_TUNNEL_WRITE_NETWORK) {
			w->replies++;
			if (n != 64 || cookie_maker_consume_reply(&c.mk, out, n, now) != COOKIE_OK)
				w->reply_bad++;
		} else if (r == WGTUN_TUNNEL_ERR_RATELIMITED) {
			w->limited++;
		} else {
			w->other++;
		}
		if (i % 97 == 0) {
			wgtun_limiter_stats st;

			st.struct_size = sizeof(st);
			if (wgtun_limiter_get_stats(w->l, &st) != 0)
				w->other++;
			(void)wgtun_limiter_under_load(w->l, now);
		}
	}
	cookie_maker_wipe(&c.mk);
	return NULL;
}

static void test_threads(void)
{
	uint8_t pub[32];
	lim_src src;
	wgtun_limiter *l;
	pthread_t th[THREADS];
	worker w[THREADS];
	wgtun_limiter_stats st;
	uint64_t pass = 0, replies = 0, limited = 0;

	memset(pub, 0x88, sizeof(pub));
	l = limiter_make(pub, &src, 80, UINT32_MAX, 0);
	for (int i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].l = l;
		w[i].pub = pub;
		w[i].id = i;
		CHECK_EQ_INT(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		CHECK_EQ_INT(pthread_join(th[i], NULL), 0);
		CHECK_EQ_U64(w[i].other, 0);
		CHECK_EQ_U64(w[i].reply_bad, 0);
		CHECK(w[i].replies >= 1 && w[i].pass >= 1 && w[i].limited >= 1);
		pass += w[i].pass;
		replies += w[i].replies;
		limited += w[i].limited;
	}
	st = stats_of(l);
	CHECK_EQ_U64(st.handshakes, (uint64_t)THREADS * ROUNDS);
	CHECK_EQ_U64(st.passed, pass);
	CHECK_EQ_U64(st.cookie_replies, replies);
	CHECK_EQ_U64(st.ratelimited, limited);
	CHECK_EQ_U64(pass + replies + limited, (uint64_t)THREADS * ROUNDS);
	wgtun_limiter_free(l);
}

int main(void)
{
	test_ratelimit();
	test_load_by_count();
	test_threads();
	return test_finish("tunnel_limiter_rate");
}
