/* The public sans-I/O tunnel API (include/wgtun.h, "Tunnel"), used only through the header:
 * two tunnels in memory with a virtual clock, the app's own index table, config checks,
 * struct versioning, the default RNG and wall clock, and the BoringTun "empty read = flush"
 * convention. The protocol behaviour behind it is tested in depth by test_tunnel_*.c. */
#include "test.h"
#include "wgtun.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#define CAP 2048
#define SEC 1000000000ULL

/* ---- the app side: virtual clock, seeded RNG, an index table ---- */

static uint64_t g_now = 5 * SEC;
static const uint64_t g_wall0 = 1750000000ULL * SEC;

#define MAX_IDX 64
typedef struct {
	test_rng rng;
	uint32_t idx[MAX_IDX];
	int nidx;
	int allocs, releases;
	bool refuse; /* table "full" */
	bool rng_fails; /* app_random reports failure */
	int rng_failed_calls;
} app;

static int app_random(void *ctx, void *out, size_t n)
{
	app *a = ctx;

	if (a->rng_fails) {
		a->rng_failed_calls++;
		memset(out, 0x5a, n); /* what a broken source might leave: must not be used */
		return -1;
	}
	test_rng_bytes(&a->rng, out, n);
	return 0;
}

static uint64_t app_wall(void *ctx)
{
	(void)ctx;
	return g_wall0 + g_now;
}

static int app_index_alloc(void *ctx, uint32_t *index)
{
	app *a = ctx;
	uint32_t v;

	if (a->refuse || a->nidx == MAX_IDX)
		return -1;
	test_rng_bytes(&a->rng, &v, sizeof(v));
	a->idx[a->nidx++] = v;
	a->allocs++;
	*index = v;
	return 0;
}

static void app_index_release(void *ctx, uint32_t index)
{
	app *a = ctx;

	for (int i = 0; i < a->nidx; i++) {
		if (a->idx[i] == index) {
			a->idx[i] = a->idx[--a->nidx];
			a->releases++;
			return;
		}
	}
	CHECK_MSG(0, "release of unknown index %u", index);
}

static bool app_has_index(const app *a, uint32_t index)
{
	for (int i = 0; i < a->nidx; i++)
		if (a->idx[i] == index)
			return true;
	return false;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void keypair(test_rng *r, uint8_t priv[32], uint8_t pub[32])
{
	test_rng_bytes(r, priv, 32);
	CHECK_EQ_INT(wgtun_key_public(pub, priv), 0);
}

typedef struct {
	app app;
	uint8_t priv[32], pub[32];
	wgtun_tunnel *t;
} side;

static int make(side *s, const side *peer, const uint8_t psk[32], uint16_t keepalive,
		bool own_indices)
{
	wgtun_tunnel_config cfg;
	int r;

	wgtun_tunnel_config_init(&cfg);
	memcpy(cfg.private_key, s->priv, 32);
	memcpy(cfg.peer_public_key, peer->pub, 32);
	if (psk)
		memcpy(cfg.preshared_key, psk, 32);
	cfg.persistent_keepalive = keepalive;
	cfg.random = app_random;
	cfg.wall_clock_ns = app_wall;
	if (own_indices) {
		cfg.index_alloc = app_index_alloc;
		cfg.index_release = app_index_release;
	}
	cfg.ctx = &s->app;
	r = wgtun_tunnel_new(&cfg, g_now, &s->t);
	memset(&cfg, 0, sizeof(cfg));
	return r;
}

static void pair_setup(side *a, side *b, uint64_t seed)
{
	test_rng r;

	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	test_rng_seed(&r, seed);
	test_rng_seed(&a->app.rng, seed + 1);
	test_rng_seed(&b->app.rng, seed + 2);
	keypair(&r, a->priv, a->pub);
	keypair(&r, b->priv, b->pub);
}

static void make_ipv4(uint8_t *p, size_t len, uint32_t id)
{
	memset(p, 0, len);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[9] = 17;
	memcpy(p + 20, &id, 4);
	for (size_t i = 24; i < len; i++)
		p[i] = (uint8_t)(i * 7 + id);
}

static void make_ipv6(uint8_t *p, size_t len, uint32_t id)
{
	memset(p, 0, len);
	p[0] = 0x60;
	p[4] = (uint8_t)((len - 40) >> 8);
	p[5] = (uint8_t)(len - 40);
	p[6] = 17;
	p[7] = 64;
	memcpy(p + 40, &id, 4);
	for (size_t i = 44; i < len; i++)
		p[i] = (uint8_t)(i * 3 + id);
}

/* Delivers dgram to `to`; everything `to` answers (read + flush) goes back, recursively,
 * until both are quiet. Returns the number of TUN packets `to` produced for the first read;
 * *tun receives the first one. */
static int deliver(side *to, side *from, const uint8_t *dgram, size_t len, uint8_t *tun,
		   size_t *tun_len, int depth)
{
	uint8_t out[CAP];
	size_t n;
	int auth = -1, r, tun_packets = 0;

	CHECK(depth < 8);
	r = wgtun_tunnel_read(to->t, g_now, dgram, len, out, sizeof(out), &n, &auth);
	/* errors are the caller's to count; they never authenticate */
	CHECK(r < 0 ? auth == 0 && n == 0 : auth == 1 || r == WGTUN_TUNNEL_DONE);
	if (r == WGTUN_TUNNEL_WRITE_TUN_V4 || r == WGTUN_TUNNEL_WRITE_TUN_V6) {
		tun_packets++;
		if (tun) {
			memcpy(tun, out, n);
			*tun_len = n;
		}
	} else if (r == WGTUN_TUNNEL_WRITE_NETWORK) {
		uint8_t copy[CAP];
		size_t cn = n;

		memcpy(copy, out, n);
		deliver(from, to, copy, cn, NULL, NULL, depth + 1);
		/* What waited for the session, via the BoringTun convention (empty read). */
		while ((r = wgtun_tunnel_read(to->t, g_now, NULL, 0, out, sizeof(out), &n,
					      NULL)) == WGTUN_TUNNEL_WRITE_NETWORK) {
			memcpy(copy, out, n);
			deliver(from, to, copy, n, NULL, NULL, depth + 1);
		}
		CHECK_EQ_INT(r, WGTUN_TUNNEL_DONE);
	}
	return tun_packets;
}

/* ---- tests ---- */

static void test_config_checks(void)
{
	side a, b;
	wgtun_tunnel_config cfg;
	static char not_null;
	wgtun_tunnel *t = (wgtun_tunnel *)(void *)&not_null; /* must be reset to NULL on error */
	struct {
		wgtun_tunnel_config c;
		uint8_t extra[16];
	} big;

	pair_setup(&a, &b, 100);
	CHECK_EQ_INT(wgtun_tunnel_new(NULL, 0, &t), -EINVAL);
	CHECK(t == NULL);
	wgtun_tunnel_config_init(&cfg);
	CHECK_EQ_U64(cfg.struct_size, sizeof(cfg));
	memcpy(cfg.peer_public_key, b.pub, 32);
	CHECK_EQ_INT(wgtun_tunnel_new(&cfg, 0, NULL), -EINVAL);
	/* no private key */
	CHECK_EQ_INT(wgtun_tunnel_new(&cfg, 0, &t), -EINVAL);
	CHECK(t == NULL);
	memcpy(cfg.private_key, a.priv, 32);
	/* low-order peer keys: 0 and 1 */
	memset(cfg.peer_public_key, 0, 32);
	CHECK_EQ_INT(wgtun_tunnel_new(&cfg, 0, &t), -EINVAL);
	cfg.peer_public_key[0] = 1;
	CHECK_EQ_INT(wgtun_tunnel_new(&cfg, 0, &t), -EINVAL);
	memcpy(cfg.peer_public_key, b.pub, 32);
	/* one index callback without the other */
	cfg.index_alloc = app_index_alloc;
	CHECK_EQ_INT(wgtun_tunnel_new(&cfg, 0, &t), -EINVAL);
	cfg.index_alloc = NULL;
	cfg.index_release = app_index_release;
	CHECK_EQ_INT(wgtun_tunnel_new(&cfg, 0, &t), -EINVAL);
	cfg.index_release = NULL;
	/* struct versions: too small refused; larger with a zero tail accepted, a non-zero tail
	 * (a field this library does not know) refused */
	cfg.struct_size = 8;
	CHECK_EQ_INT(wgtun_tunnel_new(&cfg, 0, &t), -EINVAL);
	cfg.struct_size = sizeof(cfg);
	memset(&big, 0, sizeof(big));
	big.c = cfg;
	big.c.struct_size = sizeof(big);
	CHECK_EQ_INT(wgtun_tunnel_new(&big.c, 0, &t), 0);
	CHECK(t != NULL);
	wgtun_tunnel_free(t);
	big.extra[3] = 1;
	CHECK_EQ_INT(wgtun_tunnel_new(&big.c, 0, &t), -EINVAL);
	CHECK(t == NULL);
	/* plain defaults work */
	CHECK_EQ_INT(wgtun_tunnel_new(&cfg, 0, &t), 0);
	CHECK_EQ_U64(wgtun_tunnel_next_deadline(t), WGTUN_TUNNEL_NEVER); /* idle: no wakeups */
	wgtun_tunnel_free(t);
	wgtun_tunnel_free(NULL);
	/* NULL arguments to the packet calls are refused, not crashed on */
	{
		uint8_t out[CAP];
		size_t n = 99;
		CHECK_EQ_INT(wgtun_tunnel_write(NULL, 0, out, 10, out, sizeof(out), &n),
			     WGTUN_TUNNEL_ERR_MALFORMED);
		CHECK_EQ_U64(n, 0);
		CHECK_EQ_INT(wgtun_tunnel_read(NULL, 0, out, 10, out, sizeof(out), &n, NULL),
			     WGTUN_TUNNEL_ERR_MALFORMED);
		CHECK_EQ_INT(wgtun_tunnel_tick(NULL, 0, out, sizeof(out), &n),
			     WGTUN_TUNNEL_ERR_MALFORMED);
		CHECK_EQ_U64(wgtun_tunnel_next_deadline(NULL), WGTUN_TUNNEL_NEVER);
	}
}

static void test_two_tunnels(void)
{
	side a, b;
	uint8_t buf[WGTUN_TUNNEL_HEADROOM + CAP], tun[CAP], out[CAP];
	size_t n, tn = 0;
	wgtun_tunnel_stats st;
	int r;

	pair_setup(&a, &b, 200);
	CHECK_EQ_INT(make(&a, &b, NULL, 0, true), 0);
	CHECK_EQ_INT(make(&b, &a, NULL, 0, true), 0);
	CHECK_EQ_INT(a.app.allocs + b.app.allocs, 0); /* nothing before the first handshake */

	/* A's first packet: kept, the initiation goes out; its sender index is A's table's. */
	make_ipv4(buf + WGTUN_TUNNEL_HEADROOM, 100, 1);
	r = wgtun_tunnel_write(a.t, g_now, buf + WGTUN_TUNNEL_HEADROOM, 100, buf, sizeof(buf), &n);
	CHECK_EQ_INT(r, WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK_EQ_U64(n, 148);
	CHECK_EQ_INT(buf[0], 1);
	CHECK(app_has_index(&a.app, le32(buf + 4)));
	st.struct_size = sizeof(st);
	CHECK_EQ_INT(wgtun_tunnel_get_stats(a.t, &st), 0);
	CHECK_EQ_U64(st.staged, 1);
	CHECK_EQ_INT(st.has_session, 0);
	CHECK_EQ_U64(st.tx_bytes, 148);

	/* B answers with a response from its own table; A then sends the staged packet. */
	memcpy(out, buf, n);
	CHECK_EQ_INT(deliver(&b, &a, out, n, NULL, NULL, 0), 0);
	CHECK_EQ_INT(b.app.allocs, 1);
	CHECK_EQ_INT(a.app.allocs, 1);
	CHECK_EQ_INT(wgtun_tunnel_get_stats(a.t, &st), 0);
	CHECK_EQ_INT(st.has_session, 1);
	CHECK_EQ_U64(st.staged, 0);
	CHECK_EQ_U64(st.last_handshake_wall_ns, g_wall0 + g_now);
	CHECK_EQ_U64(st.tx_bytes, 148 + 32 + 112); /* initiation + the 100-byte packet */
	CHECK_EQ_INT(wgtun_tunnel_get_stats(b.t, &st), 0);
	CHECK_EQ_INT(st.has_session, 1);
	CHECK_EQ_U64(st.rx_bytes, 148 + 144);

	/* Data both ways, IPv4 and IPv6, in place and out of place; every datagram carries a
	 * receiver index of the other side's table, and the padded length never passes the
	 * MTU (1420 by default). */
	for (uint32_t i = 0; i < 40; i++) {
		side *from = (i & 1) ? &b : &a, *to = (i & 1) ? &a : &b;
		size_t len = i == 39 ? 1420 : 48 + (size_t)i * 35;
		uint8_t pkt[CAP], again[CAP];
		size_t want_len;

		if (i % 3 == 0)
			make_ipv6(pkt, len, 1000 + i);
		else
			make_ipv4(pkt, len, 1000 + i);
		want_len = (len + 15) / 16 * 16;
		if (want_len > 1420)
			want_len = 1420;
		if (i & 2) { /* in place */
			memcpy(buf + WGTUN_TUNNEL_HEADROOM, pkt, len);
			r = wgtun_tunnel_write(from->t, g_now, buf + WGTUN_TUNNEL_HEADROOM, len, buf,
					       sizeof(buf), &n);
		} else {
			r = wgtun_tunnel_write(from->t, g_now, pkt, len, buf, sizeof(buf), &n);
		}
		CHECK_EQ_INT(r, WGTUN_TUNNEL_WRITE_NETWORK);
		CHECK_EQ_U64(n, 32 + want_len);
		CHECK_EQ_INT(buf[0], 4);
		CHECK(app_has_index(&to->app, le32(buf + 4)));
		memcpy(again, buf, n); /* in-place decryption overwrites buf */
		if (i & 4) { /* in place: out = dgram + 16 */
			int auth = 0;
			r = wgtun_tunnel_read(to->t, g_now, buf, n, buf + WGTUN_TUNNEL_HEADROOM,
					      sizeof(buf) - WGTUN_TUNNEL_HEADROOM, &tn, &auth);
			CHECK_EQ_INT(auth, 1);
			memcpy(tun, buf + WGTUN_TUNNEL_HEADROOM, tn);
		} else {
			r = wgtun_tunnel_read(to->t, g_now, buf, n, tun, sizeof(tun), &tn, NULL);
		}
		CHECK_EQ_INT(r, i % 3 == 0 ? WGTUN_TUNNEL_WRITE_TUN_V6 : WGTUN_TUNNEL_WRITE_TUN_V4);
		CHECK_EQ_U64(tn, len);
		CHECK_MEM(tun, pkt, len);
		/* The same datagram again: a replay, counted, nothing delivered. */
		if (i % 10 == 5) {
			int auth = 1;
			CHECK_EQ_INT(wgtun_tunnel_read(to->t, g_now, again, n, tun, sizeof(tun), &tn,
						       &auth),
				     WGTUN_TUNNEL_ERR_REPLAY);
			CHECK_EQ_INT(auth, 0);
			CHECK_EQ_U64(tn, 0);
		}
	}
	/* The replays (i = 5, 15, 25, 35) all went to A. */
	CHECK_EQ_INT(wgtun_tunnel_get_stats(a.t, &st), 0);
	CHECK_EQ_U64(st.dropped, 4);
	CHECK_EQ_INT(wgtun_tunnel_get_stats(b.t, &st), 0);
	CHECK_EQ_U64(st.dropped, 0);
	/* Garbage is dropped and counted. */
	memset(out, 0xee, 64);
	CHECK_EQ_INT(wgtun_tunnel_read(b.t, g_now, out, 64, tun, sizeof(tun), &tn, NULL),
		     WGTUN_TUNNEL_ERR_MALFORMED);
	CHECK_EQ_INT(wgtun_tunnel_get_stats(b.t, &st), 0);
	CHECK_EQ_U64(st.dropped, 1);
	/* A too small output buffer is an error, not an overflow. */
	make_ipv4(buf, 1000, 5);
	CHECK_EQ_INT(wgtun_tunnel_write(a.t, g_now, buf, 1000, out, 1000, &n),
		     WGTUN_TUNNEL_ERR_BUFFER);

	/* An older app's shorter stats struct: only its fields are written. */
	{
		struct {
			wgtun_tunnel_stats s;
			uint8_t tail[8];
		} raw;
		size_t v1 = offsetof(wgtun_tunnel_stats, staged) + sizeof(size_t);

		memset(&raw, 0x5a, sizeof(raw));
		raw.s.struct_size = offsetof(wgtun_tunnel_stats, has_session) + sizeof(int);
		CHECK_EQ_INT(wgtun_tunnel_get_stats(a.t, &raw.s), -EINVAL); /* below v1 */
		raw.s.struct_size = v1;
		CHECK_EQ_INT(wgtun_tunnel_get_stats(a.t, &raw.s), 0);
		CHECK_EQ_INT(raw.s.has_session, 1);
		CHECK_EQ_INT(raw.tail[0], 0x5a);
		/* a newer app's larger struct: the unknown tail stays as it was */
		raw.s.struct_size = sizeof(raw);
		CHECK_EQ_INT(wgtun_tunnel_get_stats(a.t, &raw.s), 0);
		CHECK_EQ_INT(raw.tail[7], 0x5a);
	}

	/* Free releases every index the tunnel registered. */
	wgtun_tunnel_free(a.t);
	wgtun_tunnel_free(b.t);
	CHECK_EQ_INT(a.app.nidx, 0);
	CHECK_EQ_INT(b.app.nidx, 0);
	CHECK_EQ_INT(a.app.allocs, a.app.releases);
	CHECK(b.app.allocs >= 1 && b.app.allocs == b.app.releases);
}

/* Timers through the API: next_deadline/tick with a virtual clock; persistent keepalive and
 * key expiry until the tunnel is idle (NEVER). */
static void run_timers(side *a, side *b, uint64_t until)
{
	uint8_t out[CAP], copy[CAP];
	size_t n;
	int guard = 0;

	for (;;) {
		uint64_t da = wgtun_tunnel_next_deadline(a->t), db = wgtun_tunnel_next_deadline(b->t);
		uint64_t d = da < db ? da : db;
		if (d > until || guard++ > 10000)
			break;
		if (d > g_now)
			g_now = d;
		for (int k = 0; k < 2; k++) {
			side *s = k ? b : a, *o = k ? a : b;
			int r;
			while ((r = wgtun_tunnel_tick(s->t, g_now, out, sizeof(out), &n)) ==
			       WGTUN_TUNNEL_WRITE_NETWORK) {
				memcpy(copy, out, n);
				deliver(o, s, copy, n, NULL, NULL, 0);
			}
			CHECK_EQ_INT(r, WGTUN_TUNNEL_DONE);
		}
	}
	CHECK(guard < 10000);
	g_now = until;
}

static void test_timers_and_keepalive(void)
{
	side a, b;
	wgtun_tunnel_stats st;
	uint64_t t0;

	pair_setup(&a, &b, 300);
	t0 = g_now;
	CHECK_EQ_INT(make(&a, &b, NULL, 25, false), 0);
	CHECK_EQ_INT(make(&b, &a, NULL, 0, false), 0);
	/* Persistent keepalive configured: due at once, which brings up the session. */
	CHECK(wgtun_tunnel_next_deadline(a.t) <= g_now);
	CHECK_EQ_U64(wgtun_tunnel_next_deadline(b.t), WGTUN_TUNNEL_NEVER);
	run_timers(&a, &b, t0 + 60 * SEC);
	st.struct_size = sizeof(st);
	CHECK_EQ_INT(wgtun_tunnel_get_stats(b.t, &st), 0);
	CHECK_EQ_INT(st.has_session, 1);
	/* init 148 + keepalives at 0, 25, 50 s (32 each) */
	CHECK_EQ_U64(st.rx_bytes, 148 + 3 * 32);
	/* Off: after the keys are zeroed (540 s after the last handshake, itself at most
	 * 120 s + 180 s later) nothing is scheduled any more. */
	wgtun_tunnel_set_persistent_keepalive(a.t, g_now, 0);
	run_timers(&a, &b, t0 + 1000 * SEC);
	CHECK_EQ_U64(wgtun_tunnel_next_deadline(a.t), WGTUN_TUNNEL_NEVER);
	CHECK_EQ_U64(wgtun_tunnel_next_deadline(b.t), WGTUN_TUNNEL_NEVER);
	CHECK_EQ_INT(wgtun_tunnel_get_stats(a.t, &st), 0);
	CHECK_EQ_INT(st.has_session, 0);
	/* force_handshake brings it back; a second one right after is refused (5 s rule). */
	{
		uint8_t out[CAP], copy[CAP];
		size_t n;
		CHECK_EQ_INT(wgtun_tunnel_force_handshake(a.t, g_now, out, sizeof(out), &n),
			     WGTUN_TUNNEL_WRITE_NETWORK);
		memcpy(copy, out, n);
		deliver(&b, &a, copy, n, NULL, NULL, 0);
		CHECK_EQ_INT(wgtun_tunnel_force_handshake(a.t, g_now, out, sizeof(out), &n),
			     WGTUN_TUNNEL_DONE);
		CHECK_EQ_INT(wgtun_tunnel_get_stats(b.t, &st), 0);
		CHECK_EQ_INT(st.has_session, 1);
	}
	wgtun_tunnel_free(a.t);
	wgtun_tunnel_free(b.t);
}

static void test_psk_and_mtu(void)
{
	side a, b;
	uint8_t psk[32], other[32], buf[CAP], out[CAP], copy[CAP];
	size_t n;
	wgtun_tunnel_stats st;

	pair_setup(&a, &b, 400);
	memset(psk, 0x21, 32);
	memset(other, 0x22, 32);
	CHECK_EQ_INT(make(&a, &b, psk, 0, false), 0);
	CHECK_EQ_INT(make(&b, &a, other, 0, false), 0);
	make_ipv4(buf, 60, 9);
	CHECK_EQ_INT(wgtun_tunnel_write(a.t, g_now, buf, 60, out, sizeof(out), &n),
		     WGTUN_TUNNEL_WRITE_NETWORK);
	memcpy(copy, out, n);
	deliver(&b, &a, copy, n, NULL, NULL, 0);
	st.struct_size = sizeof(st);
	CHECK_EQ_INT(wgtun_tunnel_get_stats(a.t, &st), 0);
	CHECK_EQ_INT(st.has_session, 0); /* A refused B's response: wrong PSK */
	CHECK_EQ_U64(st.dropped, 1);
	CHECK_EQ_U64(st.staged, 1);
	/* Fix the key on B; A's retransmission (5 s + jitter) completes the handshake and the
	 * staged packet arrives. */
	wgtun_tunnel_set_preshared_key(b.t, psk);
	run_timers(&a, &b, g_now + 6 * SEC);
	CHECK_EQ_INT(wgtun_tunnel_get_stats(a.t, &st), 0);
	CHECK_EQ_INT(st.has_session, 1);
	CHECK_EQ_U64(st.staged, 0);
	/* A smaller MTU caps the padding: 1299 -> 1300 (not 1312); 1290 -> 1296. */
	wgtun_tunnel_set_mtu(a.t, 1300);
	make_ipv4(buf, 1299, 1);
	CHECK_EQ_INT(wgtun_tunnel_write(a.t, g_now, buf, 1299, out, sizeof(out), &n),
		     WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK_EQ_U64(n, 32 + 1300);
	make_ipv4(buf, 1290, 2);
	CHECK_EQ_INT(wgtun_tunnel_write(a.t, g_now, buf, 1290, out, sizeof(out), &n),
		     WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK_EQ_U64(n, 32 + 1296);
	wgtun_tunnel_set_mtu(a.t, 0); /* back to 1420 */
	make_ipv4(buf, 1419, 3);
	CHECK_EQ_INT(wgtun_tunnel_write(a.t, g_now, buf, 1419, out, sizeof(out), &n),
		     WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK_EQ_U64(n, 32 + 1420);
	wgtun_tunnel_free(a.t);
	wgtun_tunnel_free(b.t);
}

static void test_index_table_full(void)
{
	side a, b;
	uint8_t buf[CAP], out[CAP];
	size_t n;

	pair_setup(&a, &b, 500);
	CHECK_EQ_INT(make(&a, &b, NULL, 0, true), 0);
	a.app.refuse = true;
	make_ipv4(buf, 60, 1);
	/* No index for the handshake: the packet waits, nothing is sent, nothing crashes. */
	CHECK(wgtun_tunnel_write(a.t, g_now, buf, 60, out, sizeof(out), &n) !=
	      WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK_EQ_U64(n, 0);
	a.app.refuse = false;
	CHECK_EQ_INT(wgtun_tunnel_force_handshake(a.t, g_now, out, sizeof(out), &n),
		     WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK(app_has_index(&a.app, le32(out + 4)));
	wgtun_tunnel_free(a.t);
	CHECK_EQ_INT(a.app.nidx, 0);
}

/* No RNG and no wall clock given: the OS CSPRNG and the real-time clock are used. */
static void test_defaults(void)
{
	uint8_t pa[32], pb[32], ka[32], kb[32], buf[CAP], out[CAP], copy[CAP], tun[CAP];
	wgtun_tunnel_config cfg;
	side a, b;
	size_t n, tn = 0;
	wgtun_tunnel_stats st;
	uint64_t before = 0;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	CHECK_EQ_INT(wgtun_key_generate(pa), 0);
	CHECK_EQ_INT(wgtun_key_generate(pb), 0);
	CHECK_EQ_INT(wgtun_key_public(ka, pa), 0);
	CHECK_EQ_INT(wgtun_key_public(kb, pb), 0);
	wgtun_tunnel_config_init(&cfg);
	memcpy(cfg.private_key, pa, 32);
	memcpy(cfg.peer_public_key, kb, 32);
	CHECK_EQ_INT(wgtun_tunnel_new(&cfg, wgtun_monotonic_ns(), &a.t), 0);
	memcpy(cfg.private_key, pb, 32);
	memcpy(cfg.peer_public_key, ka, 32);
	CHECK_EQ_INT(wgtun_tunnel_new(&cfg, wgtun_monotonic_ns(), &b.t), 0);
	g_now = wgtun_monotonic_ns();
	{
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		before = (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
	}
	make_ipv4(buf, 200, 77);
	CHECK_EQ_INT(wgtun_tunnel_write(a.t, g_now, buf, 200, out, sizeof(out), &n),
		     WGTUN_TUNNEL_WRITE_NETWORK);
	memcpy(copy, out, n);
	deliver(&b, &a, copy, n, NULL, NULL, 0);
	/* the staged packet went out during deliver(); send one more and check it arrives */
	make_ipv4(buf, 200, 78);
	CHECK_EQ_INT(wgtun_tunnel_write(a.t, g_now, buf, 200, out, sizeof(out), &n),
		     WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK_EQ_INT(deliver(&b, &a, out, n, tun, &tn, 0), 1);
	CHECK_EQ_U64(tn, 200);
	CHECK_MEM(tun, buf, 200);
	st.struct_size = sizeof(st);
	CHECK_EQ_INT(wgtun_tunnel_get_stats(a.t, &st), 0);
	CHECK(st.last_handshake_wall_ns >= before &&
	      st.last_handshake_wall_ns < before + 60 * SEC);
	CHECK(wgtun_monotonic_ns() >= g_now);
	wgtun_tunnel_free(a.t);
	wgtun_tunnel_free(b.t);
}

/* One responder key, two peers: the app finds the sender of an initiation through any of its
 * tunnels and hands the datagram to the right one. */
static void test_initiation_demux(void)
{
	side a, b, c, b_for_c;
	uint8_t out[CAP], who[32];
	size_t n;
	test_rng r;

	pair_setup(&a, &b, 600);
	memset(&c, 0, sizeof(c));
	test_rng_seed(&r, 601);
	test_rng_seed(&c.app.rng, 602);
	keypair(&r, c.priv, c.pub);
	b_for_c = b; /* same private key as b, peer c */
	test_rng_seed(&b_for_c.app.rng, 603);
	CHECK_EQ_INT(make(&a, &b, NULL, 0, false), 0);
	CHECK_EQ_INT(make(&c, &b, NULL, 0, false), 0);
	CHECK_EQ_INT(make(&b, &a, NULL, 0, false), 0);
	CHECK_EQ_INT(make(&b_for_c, &c, NULL, 0, false), 0);

	CHECK_EQ_INT(wgtun_tunnel_force_handshake(c.t, g_now, out, sizeof(out), &n),
		     WGTUN_TUNNEL_WRITE_NETWORK);
	/* asked through b's tunnel for a: the answer is c's key */
	CHECK_EQ_INT(wgtun_tunnel_initiation_sender(b.t, out, n, who, NULL), WGTUN_TUNNEL_DONE);
	CHECK_MEM(who, c.pub, 32);
	CHECK_EQ_INT(wgtun_tunnel_initiation_sender(b_for_c.t, out, n, who, NULL),
		     WGTUN_TUNNEL_DONE);
	CHECK_MEM(who, c.pub, 32);
	/* not for us (a's key): mac1 fails; truncated: malformed; NULL: refused */
	CHECK_EQ_INT(wgtun_tunnel_initiation_sender(a.t, out, n, who, NULL),
		     WGTUN_TUNNEL_ERR_MAC);
	CHECK_EQ_INT(wgtun_tunnel_initiation_sender(b.t, out, n - 1, who, NULL),
		     WGTUN_TUNNEL_ERR_MALFORMED);
	CHECK_EQ_INT(wgtun_tunnel_initiation_sender(NULL, out, n, who, NULL),
		     WGTUN_TUNNEL_ERR_MALFORMED);
	/* a flipped mac1 byte is refused */
	out[120] ^= 1;
	CHECK_EQ_INT(wgtun_tunnel_initiation_sender(b.t, out, n, who, NULL),
		     WGTUN_TUNNEL_ERR_MAC);
	out[120] ^= 1;
	/* the right tunnel takes it, reusing the sender lookup's work; b's peer-a tunnel is
	 * untouched by the question */
	{
		uint8_t copy[CAP], resp[CAP], zero[sizeof(wgtun_tunnel_initiation)];
		wgtun_tunnel_initiation prep;
		wgtun_tunnel_stats st;
		size_t rn = 9;
		int auth = 0;

		memset(zero, 0, sizeof(zero));
		memset(&prep, 0x77, sizeof(prep));
		CHECK_EQ_INT(wgtun_tunnel_initiation_sender(b.t, out, n - 1, who, &prep),
			     WGTUN_TUNNEL_ERR_MALFORMED);
		CHECK_MEM(&prep, zero, sizeof(prep)); /* wiped on error */
		CHECK_EQ_INT(wgtun_tunnel_initiation_sender(b.t, out, n, who, &prep),
			     WGTUN_TUNNEL_DONE);
		CHECK_MEM(who, c.pub, 32);
		CHECK(memcmp(&prep, zero, sizeof(prep)) != 0);
		memcpy(copy, out, n);
		CHECK_EQ_INT(wgtun_tunnel_read_initiation(b_for_c.t, g_now, copy, n, &prep, resp,
							  sizeof(resp), &rn, &auth),
			     WGTUN_TUNNEL_WRITE_NETWORK);
		CHECK(auth == 1 && rn == 92 && resp[0] == 2);
		CHECK_MEM(&prep, zero, sizeof(prep)); /* consumed */
		memcpy(copy, resp, rn);
		deliver(&c, &b_for_c, copy, rn, NULL, NULL, 0);
		/* the same initiation again through the prepared path: a replay */
		CHECK_EQ_INT(wgtun_tunnel_initiation_sender(b.t, out, n, who, &prep),
			     WGTUN_TUNNEL_DONE);
		CHECK_EQ_INT(wgtun_tunnel_read_initiation(b_for_c.t, g_now + SEC, out, n, &prep,
							  resp, sizeof(resp), &rn, &auth),
			     WGTUN_TUNNEL_ERR_REPLAY);
		CHECK(auth == 0 && rn == 0);
		CHECK_MEM(&prep, zero, sizeof(prep));
		/* a NULL prep is the ordinary read (here: garbage, dropped) */
		memset(copy, 0xee, 64);
		CHECK_EQ_INT(wgtun_tunnel_read_initiation(b_for_c.t, g_now, copy, 64, NULL, resp,
							  sizeof(resp), &rn, &auth),
			     WGTUN_TUNNEL_ERR_MALFORMED);
		st.struct_size = sizeof(st);
		CHECK_EQ_INT(wgtun_tunnel_get_stats(b_for_c.t, &st), 0);
		CHECK_EQ_INT(st.has_session, 1);
		CHECK_EQ_U64(st.dropped, 2);
		CHECK_EQ_INT(wgtun_tunnel_get_stats(c.t, &st), 0);
		CHECK_EQ_INT(st.has_session, 1);
		CHECK_EQ_INT(wgtun_tunnel_get_stats(b.t, &st), 0);
		CHECK_EQ_U64(st.rx_bytes + st.dropped, 0);
	}
	wgtun_tunnel_free(a.t);
	wgtun_tunnel_free(b.t);
	wgtun_tunnel_free(c.t);
	wgtun_tunnel_free(b_for_c.t);
}

/* After a call that hit s's failing random source (result r): nothing for the network, the
 * source was asked, and s has no session and sent nothing. */
static void check_random_failed(const side *s, int r)
{
	wgtun_tunnel_stats st;

	st.struct_size = sizeof(st);
	CHECK(r != WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK(s->app.rng_failed_calls > 0);
	CHECK_EQ_INT(wgtun_tunnel_get_stats(s->t, &st), 0);
	CHECK_EQ_U64(st.tx_bytes, 0);
	CHECK_EQ_INT(st.has_session, 0);
}

/* A random callback that reports failure: no initiation or response goes out (none with
 * the bytes the source left), nothing breaks, and the handshake succeeds once it works. */
static void test_random_fails(void)
{
	side a, b;
	uint8_t buf[WGTUN_TUNNEL_HEADROOM + CAP], init[CAP], tun[CAP];
	size_t n = 7, tn = 0;
	wgtun_tunnel_stats st;
	int r;

	pair_setup(&a, &b, 300);
	CHECK_EQ_INT(make(&a, &b, NULL, 0, false), 0);
	CHECK_EQ_INT(make(&b, &a, NULL, 0, false), 0);
	st.struct_size = sizeof(st);

	/* Initiator side: the packet is kept, no initiation is made. */
	a.app.rng_fails = true;
	make_ipv4(buf + WGTUN_TUNNEL_HEADROOM, 100, 1);
	r = wgtun_tunnel_write(a.t, g_now, buf + WGTUN_TUNNEL_HEADROOM, 100, buf, sizeof(buf), &n);
	check_random_failed(&a, r);

	/* Working again: the next packet brings the initiation (both packets are kept). */
	a.app.rng_fails = false;
	make_ipv4(buf + WGTUN_TUNNEL_HEADROOM, 100, 2);
	r = wgtun_tunnel_write(a.t, g_now, buf + WGTUN_TUNNEL_HEADROOM, 100, init, sizeof(init),
			       &n);
	CHECK_EQ_INT(r, WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK_EQ_U64(n, 148);
	CHECK_EQ_INT(wgtun_tunnel_get_stats(a.t, &st), 0);
	CHECK_EQ_U64(st.staged, 2);

	/* Responder side: B's source fails, so B sends no response and has no session. */
	b.app.rng_fails = true;
	memcpy(buf, init, n);
	r = wgtun_tunnel_read(b.t, g_now, buf, n, tun, sizeof(tun), &tn, NULL);
	check_random_failed(&b, r);

	/* B works again: A's retransmission (REKEY_TIMEOUT + jitter later) completes the
	 * handshake, and the kept packets arrive. */
	b.app.rng_fails = false;
	g_now += 6 * SEC;
	r = wgtun_tunnel_tick(a.t, g_now, init, sizeof(init), &n);
	CHECK_EQ_INT(r, WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK_EQ_U64(n, 148);
	CHECK_EQ_INT(deliver(&b, &a, init, n, NULL, NULL, 0), 0);
	CHECK_EQ_INT(wgtun_tunnel_get_stats(a.t, &st), 0);
	CHECK_EQ_INT(st.has_session, 1);
	CHECK_EQ_U64(st.staged, 0);
	CHECK_EQ_INT(wgtun_tunnel_get_stats(b.t, &st), 0);
	CHECK_EQ_INT(st.has_session, 1);
	wgtun_tunnel_free(a.t);
	wgtun_tunnel_free(b.t);
}

int main(void)
{
	test_config_checks();
	test_two_tunnels();
	test_timers_and_keepalive();
	test_psk_and_mtu();
	test_index_table_full();
	test_defaults();
	test_initiation_demux();
	test_random_fails();
	return test_finish("tunnel_api");
}
