/* The public under-load shield of the tunnel API (include/wgtun.h, "Limiter"), through the
 * header, with a virtual clock: cookie replies under load and none without, their bytes
 * against the device's cookie path (the proto checker the device calls, fed the same random
 * draws), our own tunnel taking the cookie and its next initiation passing with mac2 and
 * reaching the right tunnel through the initiation dispatch, the per-source rate limiter
 * (burst, refill, IPv6 /64, full table, only proven sources spend tokens), load from the
 * handshake count and from report_load, bad input refused with nothing changed, a failing
 * random source, a flood from spoofed sources while a real peer connects, and concurrent
 * callers (run under TSan by CI). */
#include "test.h"
#include "wgtun.h"

#include "crypto/crypto.h"
#include "proto/cookie.h"
#include "proto/identity.h"
#include "proto/messages.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define CAP 2048
#define SEC 1000000000ULL
#define MS 1000000ULL

static uint64_t g_now = 7 * SEC;

static const uint8_t addr1[4] = {192, 0, 2, 1};
static const uint8_t addr2[4] = {198, 51, 100, 2};
static const uint8_t addr3[4] = {203, 0, 113, 3};
/* two addresses of one /64, and one of another */
static const uint8_t v6a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t v6b[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0xaa, 0, 0, 0, 0, 0, 0, 2};
static const uint8_t v6c[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- the limiter's random source: seeded, can fail, logs every draw ---- */

#define MAX_DRAWS 64
typedef struct {
	test_rng rng;
	bool fails;
	int failed_calls;
	int ndraws;
	size_t draw_len[MAX_DRAWS];
	uint8_t draw[MAX_DRAWS][32];
} lim_src;

static int lim_random(void *ctx, void *out, size_t n)
{
	lim_src *s = ctx;

	if (s->fails) {
		s->failed_calls++;
		memset(out, 0x5a, n); /* what a broken source might leave: must not be used */
		return -1;
	}
	test_rng_bytes(&s->rng, out, n);
	if (s->ndraws < MAX_DRAWS && n <= 32) {
		s->draw_len[s->ndraws] = n;
		memcpy(s->draw[s->ndraws], out, n);
	}
	s->ndraws++;
	return 0;
}

/* A wg_rng that hands out the draws a lim_src logged, from draw `next` on. */
typedef struct {
	const lim_src *src;
	int next;
} replay_src;

static int replay_fill(void *ctx, void *out, size_t n)
{
	replay_src *r = ctx;

	CHECK(r->next < r->src->ndraws && r->next < MAX_DRAWS);
	if (r->next >= r->src->ndraws || r->next >= MAX_DRAWS)
		return -1;
	CHECK_EQ_U64(r->src->draw_len[r->next], n);
	memcpy(out, r->src->draw[r->next], n);
	r->next++;
	return 0;
}

static wgtun_limiter *limiter_make(const uint8_t pub[32], lim_src *src, uint64_t seed,
				   uint32_t load_per_second, uint32_t max_sources)
{
	wgtun_limiter_config cfg;
	wgtun_limiter *l = NULL;

	memset(src, 0, sizeof(*src));
	test_rng_seed(&src->rng, seed);
	wgtun_limiter_config_init(&cfg);
	memcpy(cfg.public_key, pub, 32);
	cfg.load_per_second = load_per_second;
	cfg.max_sources = max_sources;
	cfg.random = lim_random;
	cfg.ctx = src;
	CHECK_EQ_INT(wgtun_limiter_new(&cfg, g_now, &l), 0);
	CHECK(l != NULL);
	return l;
}

static wgtun_limiter_stats stats_of(wgtun_limiter *l)
{
	wgtun_limiter_stats st;

	memset(&st, 0, sizeof(st));
	st.struct_size = sizeof(st);
	CHECK_EQ_INT(wgtun_limiter_get_stats(l, &st), 0);
	return st;
}

static int check4(wgtun_limiter *l, const uint8_t *msg, size_t len, const uint8_t addr[4],
		  uint16_t port, uint8_t *out, size_t *n)
{
	return wgtun_limiter_check(l, g_now, msg, len, addr, 4, port, out, CAP, n);
}

/* ---- tunnels through the public API ---- */

typedef struct {
	test_rng rng;
	uint8_t priv[32], pub[32];
	wgtun_tunnel *t;
} side;

static int side_random(void *ctx, void *out, size_t n)
{
	side *s = ctx;

	test_rng_bytes(&s->rng, out, n);
	return 0;
}

static uint64_t side_wall(void *ctx)
{
	(void)ctx;
	return 1750000000ULL * SEC + g_now;
}

static void side_keys(side *s, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	test_rng_seed(&s->rng, seed);
	test_rng_bytes(&s->rng, s->priv, 32);
	CHECK_EQ_INT(wgtun_key_public(s->pub, s->priv), 0);
}

static void side_tunnel(side *s, const side *peer)
{
	wgtun_tunnel_config cfg;

	wgtun_tunnel_config_init(&cfg);
	memcpy(cfg.private_key, s->priv, 32);
	memcpy(cfg.peer_public_key, peer->pub, 32);
	cfg.random = side_random;
	cfg.wall_clock_ns = side_wall;
	cfg.ctx = s;
	CHECK_EQ_INT(wgtun_tunnel_new(&cfg, g_now, &s->t), 0);
	memset(&cfg, 0, sizeof(cfg));
}

static wgtun_tunnel_stats tunnel_stats(const side *s)
{
	wgtun_tunnel_stats st;

	memset(&st, 0, sizeof(st));
	st.struct_size = sizeof(st);
	CHECK_EQ_INT(wgtun_tunnel_get_stats(s->t, &st), 0);
	return st;
}

/* Runs s's timers up to `until` and returns the first datagram they produce (0 if none). */
static size_t next_from_timers(side *s, uint64_t until, uint8_t *out)
{
	size_t n = 0;

	while (g_now < until) {
		uint64_t d = wgtun_tunnel_next_deadline(s->t);

		if (d > until)
			break;
		if (d > g_now)
			g_now = d;
		if (wgtun_tunnel_tick(s->t, g_now, out, CAP, &n) == WGTUN_TUNNEL_WRITE_NETWORK)
			return n;
		if (d <= g_now && wgtun_tunnel_next_deadline(s->t) <= g_now)
			g_now++; /* nothing more due now: step on */
	}
	return 0;
}

/* ---- crafted handshake messages for a key (proto cookie maker, as an initiator has) ---- */

typedef struct {
	cookie_maker mk;
	uint8_t msg[WG_MSG_INITIATION_LEN];
} crafter;

static void crafter_init(crafter *c, const uint8_t pub[32], uint64_t seed)
{
	test_rng r;

	test_rng_seed(&r, seed);
	cookie_maker_init(&c->mk, pub);
	test_rng_bytes(&r, c->msg, sizeof(c->msg));
	wg_msg_set_header(c->msg, WG_MSG_INITIATION);
}

/* The message with a valid mac1 (and mac2 once the crafter holds a cookie). */
static const uint8_t *crafted(crafter *c)
{
	CHECK_EQ_INT(cookie_maker_add_macs(&c->mk, c->msg, sizeof(c->msg), g_now), COOKIE_OK);
	return c->msg;
}

/* Gets a cookie for addr:port (the limiter must be under load) and returns the message with
 * a valid mac2 for that source. */
static const uint8_t *proven(crafter *c, wgtun_limiter *l, const uint8_t *addr, size_t alen,
			     uint16_t port)
{
	uint8_t out[CAP];
	size_t n = 0;

	CHECK_EQ_INT(wgtun_limiter_check(l, g_now, crafted(c), sizeof(c->msg), addr, alen, port,
					 out, sizeof(out), &n),
		     WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK_EQ_U64(n, WGTUN_LIMITER_REPLY_LEN);
	CHECK_EQ_INT(cookie_maker_consume_reply(&c->mk, out, n, g_now), COOKIE_OK);
	return crafted(c);
}

/* ---- tests ---- */

static void test_config(void)
{
	wgtun_limiter_config cfg;
	static char not_null;
	wgtun_limiter *l = (wgtun_limiter *)(void *)&not_null; /* reset to NULL on error */
	lim_src src;
	struct {
		wgtun_limiter_config c;
		uint8_t extra[16];
	} big;

	memset(&src, 0, sizeof(src));
	test_rng_seed(&src.rng, 1);
	CHECK_EQ_INT(wgtun_limiter_new(NULL, 0, &l), -EINVAL);
	CHECK(l == NULL);
	wgtun_limiter_config_init(&cfg);
	CHECK_EQ_U64(cfg.struct_size, sizeof(cfg));
	CHECK_EQ_INT(wgtun_limiter_new(&cfg, 0, NULL), -EINVAL);
	CHECK_EQ_INT(wgtun_limiter_new(&cfg, 0, &l), -EINVAL); /* all-zero public key */
	CHECK(l == NULL);
	memset(cfg.public_key, 0x42, 32);
	cfg.max_sources = WGTUN_LIMITER_MAX_SOURCES + 1;
	CHECK_EQ_INT(wgtun_limiter_new(&cfg, 0, &l), -EINVAL);
	cfg.max_sources = 0;
	cfg.struct_size = 8;
	CHECK_EQ_INT(wgtun_limiter_new(&cfg, 0, &l), -EINVAL);
	cfg.struct_size = sizeof(cfg);
	memset(&big, 0, sizeof(big));
	big.c = cfg;
	big.c.struct_size = sizeof(big);
	CHECK_EQ_INT(wgtun_limiter_new(&big.c, 0, &l), 0); /* zero tail: fine */
	CHECK(l != NULL);
	wgtun_limiter_free(l);
	big.extra[5] = 1; /* a field this library does not know */
	CHECK_EQ_INT(wgtun_limiter_new(&big.c, 0, &l), -EINVAL);
	CHECK(l == NULL);
	/* the random source fails at creation (the rate limiter's hash key): -EIO, no limiter */
	cfg.random = lim_random;
	cfg.ctx = &src;
	src.fails = true;
	CHECK_EQ_INT(wgtun_limiter_new(&cfg, 0, &l), -EIO);
	CHECK(l == NULL);
	CHECK(src.failed_calls > 0);
	src.fails = false;
	/* defaults: the OS CSPRNG, not under load */
	cfg.random = NULL;
	CHECK_EQ_INT(wgtun_limiter_new(&cfg, g_now, &l), 0);
	CHECK_EQ_INT(wgtun_limiter_under_load(l, g_now), 0);
	wgtun_limiter_report_load(l, g_now);
	CHECK_EQ_INT(wgtun_limiter_under_load(l, g_now), 1);
	{
		crafter c;
		uint8_t out[CAP];
		size_t n = 0;

		crafter_init(&c, cfg.public_key, 2);
		proven(&c, l, addr1, 4, 1000); /* a reply made with the OS CSPRNG's nonce */
		CHECK_EQ_INT(check4(l, crafted(&c), sizeof(c.msg), addr1, 1000, out, &n),
			     WGTUN_LIMITER_PASS);
		cookie_maker_wipe(&c.mk);
	}
	wgtun_limiter_free(l);
	wgtun_limiter_free(NULL);
	CHECK_EQ_INT(wgtun_limiter_under_load(NULL, 0), 0);
	wgtun_limiter_report_load(NULL, 0);
}

/* A (initiator) -> B (responder behind a limiter for B's key). */
static void test_cookie_round_trip(void)
{
	side a, b, c, b_for_c;
	lim_src src, src_a;
	wgtun_limiter *lim, *lim_a;
	uint8_t init[CAP], init2[CAP], out[CAP], reply[CAP], resp[CAP], tun[CAP], who[32];
	size_t n = 0, in = 0, rn = 0, tn = 0;
	wgtun_limiter_stats st;
	wgtun_tunnel_stats ts;
	int auth = -1;

	side_keys(&a, 10);
	side_keys(&b, 11);
	side_keys(&c, 12);
	b_for_c = b; /* B's key, peer C: a second tunnel of the same identity */
	test_rng_seed(&b_for_c.rng, 13);
	side_tunnel(&a, &b);
	side_tunnel(&b, &a);
	side_tunnel(&c, &b);
	side_tunnel(&b_for_c, &c);
	lim = limiter_make(b.pub, &src, 20, 0, 0);
	CHECK_EQ_INT(src.ndraws, 1); /* the rate limiter's hash key */

	/* Not under load: A's initiation passes as it is, nothing to send. */
	CHECK_EQ_INT(wgtun_tunnel_force_handshake(a.t, g_now, init, sizeof(init), &in),
		     WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK_EQ_U64(in, 148);
	n = 99;
	CHECK_EQ_INT(check4(lim, init, in, addr1, 40000, out, &n), WGTUN_LIMITER_PASS);
	CHECK_EQ_U64(n, 0);
	st = stats_of(lim);
	CHECK_EQ_U64(st.handshakes, 1);
	CHECK_EQ_U64(st.passed, 1);
	CHECK_EQ_U64(st.cookie_replies + st.ratelimited + st.bad_mac + st.malformed, 0);
	CHECK_EQ_INT(st.under_load, 0);
	CHECK_EQ_INT(src.ndraws, 1); /* no cookie work at all */
	/* a flipped mac1 byte: not for this key */
	init[120] ^= 1;
	CHECK_EQ_INT(check4(lim, init, in, addr1, 40000, out, &n), WGTUN_TUNNEL_ERR_MAC);
	init[120] ^= 1;
	CHECK_EQ_U64(stats_of(lim).bad_mac, 1);

	/* Under load: the same initiation (mac2 all zero) gets a cookie reply. */
	wgtun_limiter_report_load(lim, g_now);
	CHECK_EQ_INT(wgtun_limiter_under_load(lim, g_now), 1);
	CHECK_EQ_INT(check4(lim, init, in, addr1, 40000, reply, &rn), WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK_EQ_U64(rn, WGTUN_LIMITER_REPLY_LEN);
	CHECK(reply[0] == 3 && reply[1] == 0 && reply[2] == 0 && reply[3] == 0);
	CHECK_EQ_U64(le32(reply + 4), le32(init + 4)); /* receiver = the initiation's sender */
	st = stats_of(lim);
	CHECK_EQ_U64(st.handshakes, 2);
	CHECK_EQ_U64(st.cookie_replies, 1);
	CHECK_EQ_U64(st.passed, 1);
	CHECK_EQ_INT(st.under_load, 1);
	/* The device's cookie path (the proto checker its handshake_admit calls) makes the same
	 * bytes from the same random draws: the secret (draw 1) and the nonce (draw 2). */
	CHECK_EQ_INT(src.ndraws, 3);
	{
		wg_identity id;
		cookie_checker ck;
		replay_src rs = {&src, 1};
		const wg_rng rng = {replay_fill, &rs};
		wg_msg_cookie_reply dev_reply;
		bool made = false;

		CHECK_EQ_INT(wg_identity_set(&id, b.priv), 0);
		cookie_checker_init(&ck, &id);
		CHECK_EQ_INT(cookie_checker_mac2_or_reply(&ck, init, in, addr1, 4, 40000, g_now, &rng,
							  &dev_reply, &made),
			     COOKIE_OK);
		CHECK(made);
		CHECK_MEM(&dev_reply, reply, WGTUN_LIMITER_REPLY_LEN);
		CHECK_EQ_INT(rs.next, 3);
		cookie_checker_wipe(&ck);
		wg_identity_clear(&id);
	}

	/* A's tunnel takes the cookie: nothing to send, nothing authenticated, no drop. */
	CHECK_EQ_INT(wgtun_tunnel_read(a.t, g_now, reply, rn, out, sizeof(out), &n, &auth),
		     WGTUN_TUNNEL_DONE);
	CHECK_EQ_INT(auth, 0);
	CHECK_EQ_U64(n, 0);
	ts = tunnel_stats(&a);
	CHECK_EQ_U64(ts.dropped, 0);
	CHECK_EQ_INT(ts.has_session, 0);
	/* a second copy of the reply answers nothing (one reply per mac1 sent) */
	CHECK(wgtun_tunnel_read(a.t, g_now, reply, rn, out, sizeof(out), &n, NULL) < 0);

	/* A retries on its own timer (5 s + jitter); the retry carries mac2 and passes. */
	in = next_from_timers(&a, g_now + 7 * SEC, init2);
	CHECK_EQ_U64(in, 148);
	CHECK_EQ_INT(init2[0], 1);
	CHECK(!crypto_is_zero(init2 + 132, 16));
	CHECK_EQ_INT(wgtun_limiter_under_load(lim, g_now), 0); /* 1 s is long over */
	wgtun_limiter_report_load(lim, g_now);
	CHECK_EQ_INT(check4(lim, init2, in, addr1, 40000, out, &n), WGTUN_LIMITER_PASS);
	CHECK_EQ_U64(n, 0);
	/* the cookie is the source's: another port or address gets a reply of its own */
	CHECK_EQ_INT(check4(lim, init2, in, addr1, 40001, out, &n), WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK_EQ_INT(check4(lim, init2, in, addr2, 40000, out, &n), WGTUN_TUNNEL_WRITE_NETWORK);
	st = stats_of(lim);
	CHECK_EQ_U64(st.passed, 2);
	CHECK_EQ_U64(st.cookie_replies, 3);
	CHECK_EQ_U64(st.sources, 1); /* only the passed one reached the rate limiter */

	/* Dispatch as an app with many tunnels does it: the sender lookup on any tunnel of the
	 * key, then that sender's tunnel. */
	{
		wgtun_tunnel_initiation prep;

		CHECK_EQ_INT(wgtun_tunnel_initiation_sender(b_for_c.t, init2, in, who, &prep),
			     WGTUN_TUNNEL_DONE);
		CHECK_MEM(who, a.pub, 32);
		CHECK_EQ_INT(wgtun_tunnel_read_initiation(b.t, g_now, init2, in, &prep, resp,
							  sizeof(resp), &rn, &auth),
			     WGTUN_TUNNEL_WRITE_NETWORK);
		CHECK(auth == 1 && rn == 92 && resp[0] == 2);
	}
	/* The response, at A, through A's own limiter: passes unloaded; under load B has no
	 * cookie from A, so it gets one, and B's tunnel takes it (the receiver index is its
	 * response's sender index, known to it). */
	lim_a = limiter_make(a.pub, &src_a, 21, 0, 0);
	CHECK_EQ_INT(check4(lim_a, resp, rn, addr2, 51820, out, &n), WGTUN_LIMITER_PASS);
	wgtun_limiter_report_load(lim_a, g_now);
	CHECK_EQ_INT(check4(lim_a, resp, rn, addr2, 51820, reply, &n),
		     WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK_EQ_U64(le32(reply + 4), le32(resp + 4));
	CHECK_EQ_INT(wgtun_tunnel_read(b.t, g_now, reply, n, out, sizeof(out), &tn, &auth),
		     WGTUN_TUNNEL_DONE);
	CHECK_EQ_U64(tunnel_stats(&b).dropped, 0);
	/* A completes the handshake with the response (its limiter's first verdict) */
	CHECK(wgtun_tunnel_read(a.t, g_now, resp, rn, out, sizeof(out), &n, &auth) >= 0);
	CHECK_EQ_INT(auth, 1);
	CHECK_EQ_INT(tunnel_stats(&a).has_session, 1);
	/* data messages pass the limiter unexamined, under load too */
	{
		uint8_t pkt[64];
		wgtun_limiter_stats after;

		memset(pkt, 0, sizeof(pkt));
		pkt[0] = 0x45;
		pkt[3] = sizeof(pkt);
		CHECK_EQ_INT(wgtun_tunnel_write(a.t, g_now, pkt, sizeof(pkt), out, sizeof(out), &n),
			     WGTUN_TUNNEL_WRITE_NETWORK);
		CHECK_EQ_INT(out[0], 4);
		CHECK_EQ_INT(wgtun_limiter_under_load(lim, g_now), 1);
		st = stats_of(lim);
		CHECK_EQ_INT(check4(lim, out, n, addr1, 40000, reply, &rn), WGTUN_LIMITER_PASS);
		CHECK_EQ_U64(rn, 0);
		after = stats_of(lim);
		CHECK_MEM(&after, &st, sizeof(st));
		CHECK_EQ_INT(wgtun_tunnel_read(b.t, g_now, out, n, tun, sizeof(tun), &tn, &auth),
			     WGTUN_TUNNEL_WRITE_TUN_V4);
		CHECK_EQ_U64(tn, sizeof(pkt));
		CHECK_MEM(tun, pkt, sizeof(pkt));
	}
	/* C, the other peer of B's key, is unknown to nothing: its initiation under load gets a
	 * cookie like anyone's, and after its retry reaches b_for_c through the dispatch. */
	CHECK_EQ_INT(wgtun_tunnel_force_handshake(c.t, g_now, init, sizeof(init), &in),
		     WGTUN_TUNNEL_WRITE_NETWORK);
	wgtun_limiter_report_load(lim, g_now);
	CHECK_EQ_INT(check4(lim, init, in, addr3, 9, reply, &rn), WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK_EQ_INT(wgtun_tunnel_read(c.t, g_now, reply, rn, out, sizeof(out), &n, NULL),
		     WGTUN_TUNNEL_DONE);
	in = next_from_timers(&c, g_now + 7 * SEC, init2);
	CHECK_EQ_U64(in, 148);
	wgtun_limiter_report_load(lim, g_now);
	CHECK_EQ_INT(check4(lim, init2, in, addr3, 9, out, &n), WGTUN_LIMITER_PASS);
	{
		wgtun_tunnel_initiation prep;

		CHECK_EQ_INT(wgtun_tunnel_initiation_sender(b.t, init2, in, who, &prep),
			     WGTUN_TUNNEL_DONE);
		CHECK_MEM(who, c.pub, 32);
		CHECK_EQ_INT(wgtun_tunnel_read_initiation(b_for_c.t, g_now, init2, in, &prep, resp,
							  sizeof(resp), &rn, &auth),
			     WGTUN_TUNNEL_WRITE_NETWORK);
		CHECK_EQ_INT(auth, 1);
	}
	wgtun_limiter_free(lim);
	wgtun_limiter_free(lim_a);
	wgtun_tunnel_free(a.t);
	wgtun_tunnel_free(b.t);
	wgtun_tunnel_free(c.t);
	wgtun_tunnel_free(b_for_c.t);
}

/* The reply may overwrite the datagram it answers (out == dgram). */
static void test_in_place(void)
{
	uint8_t pub[32], buf[WG_MSG_INITIATION_LEN];
	lim_src src;
	wgtun_limiter *l;
	crafter c;
	size_t n = 0;

	memset(pub, 0x33, sizeof(pub));
	l = limiter_make(pub, &src, 30, 0, 0);
	crafter_init(&c, pub, 31);
	memcpy(buf, crafted(&c), sizeof(buf));
	wgtun_limiter_report_load(l, g_now);
	CHECK_EQ_INT(wgtun_limiter_check(l, g_now, buf, sizeof(buf), v6a, 16, 443, buf, sizeof(buf),
					 &n),
		     WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK_EQ_U64(n, 64);
	/* sealed with the message's mac1 as AD before it was overwritten: the maker opens it */
	CHECK_EQ_INT(cookie_maker_consume_reply(&c.mk, buf, n, g_now), COOKIE_OK);
	CHECK_EQ_INT(wgtun_limiter_check(l, g_now, crafted(&c), sizeof(c.msg), v6a, 16, 443, buf,
					 sizeof(buf), &n),
		     WGTUN_LIMITER_PASS);
	cookie_maker_wipe(&c.mk);
	wgtun_limiter_free(l);
}

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

static void test_bad_input(void)
{
	uint8_t pub[32], out[CAP], msg[CAP];
	lim_src src;
	wgtun_limiter *l;
	wgtun_limiter_stats before, after;
	crafter c;
	size_t n;

	memset(pub, 0x66, sizeof(pub));
	/* load_per_second 1: anything that counted as a handshake would show as load */
	l = limiter_make(pub, &src, 60, 1, 0);
	crafter_init(&c, pub, 61);
	memcpy(msg, crafted(&c), WG_MSG_INITIATION_LEN);
	before = stats_of(l);
	/* caller bugs: refused, nothing changes, *out_len = 0 */
#define BAD(call, want)                                                                    \
	do {                                                                               \
		n = 99;                                                                    \
		CHECK_EQ_INT(call, want);                                                  \
		CHECK_EQ_U64(n, 0);                                                        \
	} while (0)
	BAD(wgtun_limiter_check(NULL, g_now, msg, 148, addr1, 4, 1, out, CAP, &n),
	    WGTUN_TUNNEL_ERR_MALFORMED);
	BAD(wgtun_limiter_check(l, g_now, NULL, 148, addr1, 4, 1, out, CAP, &n),
	    WGTUN_TUNNEL_ERR_MALFORMED);
	BAD(wgtun_limiter_check(l, g_now, msg, 148, NULL, 4, 1, out, CAP, &n),
	    WGTUN_TUNNEL_ERR_MALFORMED);
	BAD(wgtun_limiter_check(l, g_now, msg, 148, addr1, 0, 1, out, CAP, &n),
	    WGTUN_TUNNEL_ERR_MALFORMED);
	BAD(wgtun_limiter_check(l, g_now, msg, 148, addr1, 5, 1, out, CAP, &n),
	    WGTUN_TUNNEL_ERR_MALFORMED);
	BAD(wgtun_limiter_check(l, g_now, msg, 148, v6a, 17, 1, out, CAP, &n),
	    WGTUN_TUNNEL_ERR_MALFORMED);
	BAD(wgtun_limiter_check(l, g_now, msg, 148, addr1, 4, 1, NULL, CAP, &n),
	    WGTUN_TUNNEL_ERR_MALFORMED);
	BAD(wgtun_limiter_check(l, g_now, msg, 148, addr1, 4, 1, out, 63, &n),
	    WGTUN_TUNNEL_ERR_BUFFER);
	BAD(wgtun_limiter_check(l, g_now, msg, 148, addr1, 4, 1, out, 0, &n),
	    WGTUN_TUNNEL_ERR_BUFFER);
	CHECK_EQ_INT(wgtun_limiter_check(l, g_now, msg, 148, addr1, 4, 1, out, CAP, NULL),
		     WGTUN_TUNNEL_ERR_MALFORMED);
	after = stats_of(l);
	CHECK_MEM(&after, &before, sizeof(before));
	CHECK_EQ_INT(src.ndraws, 1);

	/* hostile datagrams: counted as malformed, nothing else moves (no load, no source) */
	{
		static const size_t lens[] = {0, 3, 4, 147, 149, 91, 93, 1000};
		uint8_t g[CAP];
		int k = 0;

		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			memcpy(g, msg, 148);
			if (lens[i] == 91 || lens[i] == 93)
				g[0] = 2; /* a response of the wrong size */
			BAD(wgtun_limiter_check(l, g_now, g, lens[i], addr1, 4, 1, out, CAP, &n),
			    WGTUN_TUNNEL_ERR_MALFORMED);
			k++;
		}
		memcpy(g, msg, 148);
		g[1] = 1; /* reserved bytes */
		BAD(wgtun_limiter_check(l, g_now, g, 148, addr1, 4, 1, out, CAP, &n),
		    WGTUN_TUNNEL_ERR_MALFORMED);
		g[1] = 0;
		g[0] = 5; /* no such type */
		BAD(wgtun_limiter_check(l, g_now, g, 148, addr1, 4, 1, out, CAP, &n),
		    WGTUN_TUNNEL_ERR_MALFORMED);
		g[0] = 3; /* a cookie reply of the wrong size */
		BAD(wgtun_limiter_check(l, g_now, g, 63, addr1, 4, 1, out, CAP, &n),
		    WGTUN_TUNNEL_ERR_MALFORMED);
		g[0] = 4; /* a data message too short */
		BAD(wgtun_limiter_check(l, g_now, g, 31, addr1, 4, 1, out, CAP, &n),
		    WGTUN_TUNNEL_ERR_MALFORMED);
		k += 4;
		after = stats_of(l);
		CHECK_EQ_U64(after.malformed, (uint64_t)k);
		after.malformed = 0;
		CHECK_MEM(&after, &before, sizeof(before));
		/* well-formed types 3 and 4 pass unexamined and uncounted */
		BAD(wgtun_limiter_check(l, g_now, g, 32, addr1, 4, 1, out, CAP, &n),
		    WGTUN_LIMITER_PASS);
		g[0] = 3;
		BAD(wgtun_limiter_check(l, g_now, g, 64, addr1, 4, 1, out, CAP, &n),
		    WGTUN_LIMITER_PASS);
		after = stats_of(l);
		CHECK_EQ_U64(after.malformed, (uint64_t)k);
	}
	CHECK_EQ_INT(wgtun_limiter_under_load(l, g_now), 0);
	CHECK_EQ_INT(src.ndraws, 1);
#undef BAD

	/* stats versions */
	{
		struct {
			wgtun_limiter_stats s;
			uint8_t tail[8];
		} raw;
		size_t v1 = offsetof(wgtun_limiter_stats, under_load) + sizeof(int);

		CHECK_EQ_INT(wgtun_limiter_get_stats(NULL, &raw.s), -EINVAL);
		CHECK_EQ_INT(wgtun_limiter_get_stats(l, NULL), -EINVAL);
		memset(&raw, 0x5a, sizeof(raw));
		raw.s.struct_size = offsetof(wgtun_limiter_stats, sources);
		CHECK_EQ_INT(wgtun_limiter_get_stats(l, &raw.s), -EINVAL);
		raw.s.struct_size = v1;
		CHECK_EQ_INT(wgtun_limiter_get_stats(l, &raw.s), 0);
		CHECK_EQ_U64(raw.s.malformed, 12);
		CHECK_EQ_INT(raw.tail[0], 0x5a);
		raw.s.struct_size = sizeof(raw);
		CHECK_EQ_INT(wgtun_limiter_get_stats(l, &raw.s), 0);
		CHECK_EQ_INT(raw.tail[7], 0x5a);
	}
	wgtun_limiter_free(l);
	cookie_maker_wipe(&c.mk);
}

/* The random source fails under load: no reply made, nothing sent, a distinct code; fine
 * again once it works. */
static void test_random_fails(void)
{
	uint8_t pub[32], out[CAP];
	lim_src src;
	wgtun_limiter *l;
	crafter c;
	size_t n = 99;
	wgtun_limiter_stats st;

	memset(pub, 0x77, sizeof(pub));
	l = limiter_make(pub, &src, 70, 0, 0);
	crafter_init(&c, pub, 71);
	wgtun_limiter_report_load(l, g_now);
	src.fails = true;
	CHECK_EQ_INT(check4(l, crafted(&c), sizeof(c.msg), addr1, 1, out, &n),
		     WGTUN_TUNNEL_ERR_RANDOM);
	CHECK_EQ_U64(n, 0);
	CHECK(src.failed_calls > 0);
	st = stats_of(l);
	CHECK_EQ_U64(st.random_errors, 1);
	CHECK_EQ_U64(st.cookie_replies + st.passed, 0);
	src.fails = false;
	proven(&c, l, addr1, 4, 1);
	CHECK_EQ_INT(check4(l, crafted(&c), sizeof(c.msg), addr1, 1, out, &n), WGTUN_LIMITER_PASS);
	/* a failure on the nonce alone (the secret is fresh) is the same */
	src.fails = true;
	{
		uint8_t plain[WG_MSG_INITIATION_LEN];

		memcpy(plain, c.msg, sizeof(plain));
		memset(plain + 132, 0, 16);
		CHECK_EQ_INT(check4(l, plain, sizeof(plain), addr1, 1, out, &n),
			     WGTUN_TUNNEL_ERR_RANDOM);
		CHECK_EQ_U64(n, 0);
		/* a proven message needs no random bytes: it passes */
		CHECK_EQ_INT(check4(l, c.msg, sizeof(c.msg), addr1, 1, out, &n),
			     WGTUN_LIMITER_PASS);
	}
	src.fails = false;
	st = stats_of(l);
	CHECK_EQ_U64(st.random_errors, 2);
	CHECK_EQ_U64(st.cookie_replies, 1);
	CHECK_EQ_U64(st.passed, 2);
	wgtun_limiter_free(l);
	cookie_maker_wipe(&c.mk);
}

/* A flood of initiations with a valid mac1 (anyone with our public key can make them) from
 * spoofed sources, 150 a second for 8 s against load_per_second 100, while A connects to B:
 * only the first window's 100 reach the (costly) sender lookup, spoofed sources never enter
 * the rate limiter's table, and A gets through with its cookie on its own retry. */
static void test_flood(void)
{
	side a, b;
	lim_src src;
	wgtun_limiter *lim;
	crafter f;
	uint8_t init[CAP], out[CAP], resp[CAP], who[32];
	size_t n = 0, in = 0, rn = 0;
	uint64_t t0 = g_now, next_a;
	int flood_pass = 0, flood_reply = 0, a_replies = 0, a_pass = 0, auth = 0;
	wgtun_limiter_stats st;

	side_keys(&a, 90);
	side_keys(&b, 91);
	side_tunnel(&a, &b);
	side_tunnel(&b, &a);
	lim = limiter_make(b.pub, &src, 92, 100, 0);
	crafter_init(&f, b.pub, 93);
	next_a = t0 + 2 * SEC; /* A starts in the middle of the flood */
	for (int i = 0; i < 8 * 150; i++) {
		uint8_t spoofed[4] = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
		int r;

		g_now = t0 + (uint64_t)i * (SEC / 150);
		r = check4(lim, crafted(&f), sizeof(f.msg), spoofed, 1024, out, &n);
		flood_pass += r == WGTUN_LIMITER_PASS;
		flood_reply += r == WGTUN_TUNNEL_WRITE_NETWORK;
		/* A's handshake, its timers on the same clock */
		if (g_now >= next_a) {
			int ra;

			if (a_replies == 0 && a_pass == 0)
				ra = wgtun_tunnel_force_handshake(a.t, g_now, init, sizeof(init), &in);
			else
				ra = wgtun_tunnel_tick(a.t, g_now, init, sizeof(init), &in);
			next_a = wgtun_tunnel_next_deadline(a.t);
			if (ra != WGTUN_TUNNEL_WRITE_NETWORK || init[0] != 1)
				continue;
			r = check4(lim, init, in, addr1, 51820, out, &n);
			if (r == WGTUN_TUNNEL_WRITE_NETWORK) {
				a_replies++;
				CHECK_EQ_INT(wgtun_tunnel_read(a.t, g_now, out, n, resp, sizeof(resp),
							       &rn, NULL),
					     WGTUN_TUNNEL_DONE);
			} else if (r == WGTUN_LIMITER_PASS) {
				wgtun_tunnel_initiation prep;

				a_pass++;
				CHECK_EQ_INT(wgtun_tunnel_initiation_sender(b.t, init, in, who, &prep),
					     WGTUN_TUNNEL_DONE);
				CHECK_EQ_INT(wgtun_tunnel_read_initiation(b.t, g_now, init, in, &prep,
									  resp, sizeof(resp), &rn,
									  &auth),
					     WGTUN_TUNNEL_WRITE_NETWORK);
				/* A's key confirmation (a keepalive: type 4, passes unexamined) */
				r = wgtun_tunnel_read(a.t, g_now, resp, rn, out, sizeof(out), &n, &auth);
				while (r == WGTUN_TUNNEL_WRITE_NETWORK) {
					size_t kn = 0;

					CHECK_EQ_INT(check4(lim, out, n, addr1, 51820, resp, &kn),
						     WGTUN_LIMITER_PASS);
					CHECK(wgtun_tunnel_read(b.t, g_now, out, n, resp, sizeof(resp),
								&kn, NULL) >= 0);
					r = wgtun_tunnel_flush(a.t, g_now, out, sizeof(out), &n);
				}
				CHECK_EQ_INT(r, WGTUN_TUNNEL_DONE);
				next_a = UINT64_MAX;
			}
		}
	}
	CHECK_EQ_INT(flood_pass, 100);
	CHECK_EQ_INT(flood_reply, 8 * 150 - 100);
	CHECK_EQ_INT(a_replies, 1);
	CHECK_EQ_INT(a_pass, 1);
	CHECK_EQ_INT(tunnel_stats(&a).has_session, 1);
	CHECK_EQ_INT(tunnel_stats(&b).has_session, 1);
	st = stats_of(lim);
	CHECK_EQ_U64(st.sources, 1); /* A alone: no spoofed source reached the table */
	CHECK_EQ_INT(st.under_load, 1);
	CHECK_EQ_INT(wgtun_limiter_under_load(lim, g_now + SEC), 0); /* 1 s after the flood */
	g_now += SEC;
	cookie_maker_wipe(&f.mk);
	wgtun_limiter_free(lim);
	wgtun_tunnel_free(a.t);
	wgtun_tunnel_free(b.t);
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
	test_config();
	test_cookie_round_trip();
	test_in_place();
	test_ratelimit();
	test_load_by_count();
	test_bad_input();
	test_random_fails();
	test_flood();
	test_threads();
	return test_finish("tunnel_limiter");
}
