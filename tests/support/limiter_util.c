/* Shared fixtures of the tunnel-API limiter tests (tests/unit/test_tunnel_limiter*.c): see
 * limiter_util.h. */
#include "limiter_util.h"

#include "crypto/crypto.h"

#include <stdlib.h>
#include <string.h>

uint64_t g_now = 7 * SEC;

const uint8_t addr1[4] = {192, 0, 2, 1};
const uint8_t addr2[4] = {198, 51, 100, 2};
const uint8_t addr3[4] = {203, 0, 113, 3};
const uint8_t v6a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
const uint8_t v6b[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0xaa, 0, 0, 0, 0, 0, 0, 2};
const uint8_t v6c[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- the limiter's random source: seeded, can fail, logs every draw ---- */

int lim_random(void *ctx, void *out, size_t n)
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

int replay_fill(void *ctx, void *out, size_t n)
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

wgtun_limiter *limiter_make(const uint8_t pub[32], lim_src *src, uint64_t seed,
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

wgtun_limiter_stats stats_of(wgtun_limiter *l)
{
	wgtun_limiter_stats st;

	memset(&st, 0, sizeof(st));
	st.struct_size = sizeof(st);
	CHECK_EQ_INT(wgtun_limiter_get_stats(l, &st), 0);
	return st;
}

int check4(wgtun_limiter *l, const uint8_t *msg, size_t len, const uint8_t addr[4],
	   uint16_t port, uint8_t *out, size_t *n)
{
	return wgtun_limiter_check(l, g_now, msg, len, addr, 4, port, out, CAP, n);
}

/* ---- tunnels through the public API ---- */

int side_random(void *ctx, void *out, size_t n)
{
	side *s = ctx;

	test_rng_bytes(&s->rng, out, n);
	return 0;
}

uint64_t side_wall(void *ctx)
{
	(void)ctx;
	return 1750000000ULL * SEC + g_now;
}

void side_keys(side *s, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	test_rng_seed(&s->rng, seed);
	test_rng_bytes(&s->rng, s->priv, 32);
	CHECK_EQ_INT(wgtun_key_public(s->pub, s->priv), 0);
}

void side_tunnel(side *s, const side *peer)
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

wgtun_tunnel_stats tunnel_stats(const side *s)
{
	wgtun_tunnel_stats st;

	memset(&st, 0, sizeof(st));
	st.struct_size = sizeof(st);
	CHECK_EQ_INT(wgtun_tunnel_get_stats(s->t, &st), 0);
	return st;
}

size_t next_from_timers(side *s, uint64_t until, uint8_t *out)
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

void crafter_init(crafter *c, const uint8_t pub[32], uint64_t seed)
{
	test_rng r;

	test_rng_seed(&r, seed);
	cookie_maker_init(&c->mk, pub);
	test_rng_bytes(&r, c->msg, sizeof(c->msg));
	wg_msg_set_header(c->msg, WG_MSG_INITIATION);
}

const uint8_t *crafted(crafter *c)
{
	CHECK_EQ_INT(cookie_maker_add_macs(&c->mk, c->msg, sizeof(c->msg), g_now), COOKIE_OK);
	return c->msg;
}

const uint8_t *proven(crafter *c, wgtun_limiter *l, const uint8_t *addr, size_t alen,
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
