/* Public sans-I/O tunnel API (include/wgtun.h, "Tunnel"): a thin checked wrapper over
 * src/proto/tunnel.h. It adds what an embedder cannot supply through the internal types: an
 * owned identity (the private key), default RNG and wall clock, plain-int index callbacks and
 * versioned structs. Every packet call maps 1:1 onto the proto call. */
#include "wgtun.h"

#include "api/api_struct.h"

#include "crypto/crypto.h"
#include "proto/identity.h"
#include "proto/messages.h"
#include "proto/tunnel.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The public result codes are the proto ones: the wrapper returns them unchanged. */
_Static_assert((int)WGTUN_TUNNEL_DONE == (int)WG_TUN_DONE, "done");
_Static_assert((int)WGTUN_TUNNEL_WRITE_NETWORK == (int)WG_TUN_WRITE_NETWORK, "network");
_Static_assert((int)WGTUN_TUNNEL_WRITE_TUN_V4 == (int)WG_TUN_WRITE_TUN_V4, "tun v4");
_Static_assert((int)WGTUN_TUNNEL_WRITE_TUN_V6 == (int)WG_TUN_WRITE_TUN_V6, "tun v6");
_Static_assert((int)WGTUN_TUNNEL_ERR_MALFORMED == (int)WG_TUN_ERR_MALFORMED, "malformed");
_Static_assert((int)WGTUN_TUNNEL_ERR_MAC == (int)WG_TUN_ERR_MAC, "mac");
_Static_assert((int)WGTUN_TUNNEL_ERR_DECRYPT == (int)WG_TUN_ERR_DECRYPT, "decrypt");
_Static_assert((int)WGTUN_TUNNEL_ERR_REPLAY == (int)WG_TUN_ERR_REPLAY, "replay");
_Static_assert((int)WGTUN_TUNNEL_ERR_NO_SESSION == (int)WG_TUN_ERR_NO_SESSION, "no session");
_Static_assert((int)WGTUN_TUNNEL_ERR_BUFFER == (int)WG_TUN_ERR_BUFFER, "buffer");
_Static_assert((int)WGTUN_TUNNEL_ERR_FLOOD == (int)WG_TUN_ERR_FLOOD, "flood");
_Static_assert((int)WGTUN_TUNNEL_ERR_NO_KEY == (int)WG_TUN_ERR_NO_KEY, "no key");
_Static_assert(WGTUN_TUNNEL_HEADROOM == WG_DATA_HEADER_LEN, "headroom");
/* NOLINTNEXTLINE(misc-redundant-expression): both spell 16 + 16 + 15; they must agree */
_Static_assert(WGTUN_TUNNEL_OVERHEAD == WG_TUNNEL_OVERHEAD, "overhead");
_Static_assert(WGTUN_TUNNEL_MIN_OUT == WG_TUNNEL_MIN_OUT, "min out");
_Static_assert(WGTUN_TUNNEL_NEVER == WG_TIME_NEVER, "never");

/* The first published layouts end with ctx / staged. */
#define CONFIG_V1_SIZE (offsetof(wgtun_tunnel_config, ctx) + sizeof(void *))
#define STATS_V1_SIZE (offsetof(wgtun_tunnel_stats, staged) + sizeof(size_t))

struct wgtun_tunnel {
	wg_identity identity; /* the proto tunnel points here: must outlive it (freed after) */
	wg_tunnel *tun;
	int (*random)(void *ctx, void *out, size_t n);
	uint64_t (*wall_clock_ns)(void *ctx);
	int (*index_alloc)(void *ctx, uint32_t *index);
	void (*index_release)(void *ctx, uint32_t index);
	void *ctx;
};

/* ---- defaults and adapters for the proto callbacks ---- */

static int tunnel_rng_fill(void *ctx, void *out, size_t n)
{
	wgtun_tunnel *t = ctx;

	/* The app's source or the OS CSPRNG: a failure fails the operation (handshake, index,
	 * cookie), never zeros or stale bytes. */
	if (t->random)
		return t->random(t->ctx, out, n) == 0 ? 0 : -1;
	return crypto_random(out, n) == 0 ? 0 : -1;
}

static uint64_t tunnel_wall_now(void *ctx)
{
	wgtun_tunnel *t = ctx;
	struct timespec ts;

	if (t->wall_clock_ns)
		return t->wall_clock_ns(t->ctx);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * WG_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static int tunnel_index_alloc(void *ctx, wg_tunnel *tun, uint32_t *index)
{
	wgtun_tunnel *t = ctx;

	(void)tun;
	return t->index_alloc(t->ctx, index) == 0 ? 0 : -1;
}

static void tunnel_index_release(void *ctx, uint32_t index)
{
	wgtun_tunnel *t = ctx;

	t->index_release(t->ctx, index);
}

static uint32_t mtu_or_default(uint32_t mtu)
{
	return mtu ? mtu : WG_DEFAULT_MTU;
}

/* ---- public API ---- */

void wgtun_tunnel_config_init(wgtun_tunnel_config *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->struct_size = sizeof(*cfg);
}

uint64_t wgtun_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * WG_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Copies the caller's struct over our defaults (api_struct.h). */
static int config_copy(wgtun_tunnel_config *dst, const wgtun_tunnel_config *src)
{
	wgtun_tunnel_config_init(dst);
	return api_struct_take(dst, sizeof(*dst), src, src->struct_size, CONFIG_V1_SIZE);
}

int wgtun_tunnel_new(const wgtun_tunnel_config *user_cfg, uint64_t now_ns, wgtun_tunnel **out)
{
	wgtun_tunnel_config cfg;
	wg_tunnel_config tc;
	wgtun_tunnel *t;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!user_cfg)
		return -EINVAL;
	ret = config_copy(&cfg, user_cfg);
	if (ret != 0)
		goto out;
	ret = -EINVAL;
	if ((cfg.index_alloc == NULL) != (cfg.index_release == NULL) ||
	    crypto_is_zero(cfg.private_key, sizeof(cfg.private_key)))
		goto out;
	ret = -ENOMEM;
	t = calloc(1, sizeof(*t));
	if (!t)
		goto out;
	if (wg_identity_set(&t->identity, cfg.private_key) != 0) {
		free(t);
		goto out;
	}
	t->random = cfg.random;
	t->wall_clock_ns = cfg.wall_clock_ns;
	t->index_alloc = cfg.index_alloc;
	t->index_release = cfg.index_release;
	t->ctx = cfg.ctx;

	memset(&tc, 0, sizeof(tc));
	tc.identity = &t->identity;
	memcpy(tc.peer_public_key, cfg.peer_public_key, WG_KEY_LEN);
	memcpy(tc.preshared_key, cfg.preshared_key, WG_KEY_LEN);
	tc.persistent_keepalive = cfg.persistent_keepalive;
	tc.mtu = mtu_or_default(cfg.mtu);
	tc.rng = (wg_rng){tunnel_rng_fill, t};
	tc.wall = (wg_wallclock){tunnel_wall_now, t};
	if (t->index_alloc)
		tc.index = (wg_index_ops){tunnel_index_alloc, tunnel_index_release, t};
	t->tun = wg_tunnel_new(&tc, now_ns);
	crypto_wipe(&tc, sizeof(tc));
	if (!t->tun) {
		/* The proto constructor refuses only a low-order peer key; the rest is memory. */
		uint8_t probe[WG_KEY_LEN];
		bool low = crypto_x25519(probe, t->identity.private_key, cfg.peer_public_key) != 0;

		crypto_wipe(probe, sizeof(probe));
		ret = low ? -EINVAL : -ENOMEM;
		wg_identity_clear(&t->identity);
		free(t);
		goto out;
	}
	*out = t;
	ret = 0;
out:
	crypto_wipe(&cfg, sizeof(cfg));
	return ret;
}

void wgtun_tunnel_free(wgtun_tunnel *t)
{
	if (!t)
		return;
	wg_tunnel_free(t->tun); /* releases indices through our callbacks: t still valid */
	wg_identity_clear(&t->identity);
	crypto_wipe(t, sizeof(*t));
	free(t);
}

/* Common argument check of the packet calls: a bad call is a caller bug, reported without
 * touching the tunnel. */
static bool args_ok(const wgtun_tunnel *t, const uint8_t *out, size_t *out_len)
{
	if (out_len)
		*out_len = 0;
	return t && out && out_len;
}

int wgtun_tunnel_write(wgtun_tunnel *t, uint64_t now_ns, const uint8_t *pkt, size_t len,
		       uint8_t *out, size_t cap, size_t *out_len)
{
	if (!args_ok(t, out, out_len) || (!pkt && len))
		return WGTUN_TUNNEL_ERR_MALFORMED;
	return wg_tunnel_encapsulate(t->tun, now_ns, pkt, len, out, cap, out_len);
}

int wgtun_tunnel_read(wgtun_tunnel *t, uint64_t now_ns, const uint8_t *dgram, size_t len,
		      uint8_t *out, size_t cap, size_t *out_len, int *authenticated)
{
	bool auth = false;
	int r;

	if (authenticated)
		*authenticated = 0;
	if (!args_ok(t, out, out_len) || (!dgram && len))
		return WGTUN_TUNNEL_ERR_MALFORMED;
	if (len == 0) /* BoringTun's convention: an empty read drains what is owed */
		return wg_tunnel_flush(t->tun, now_ns, out, cap, out_len);
	r = wg_tunnel_decapsulate(t->tun, now_ns, dgram, len, out, cap, out_len, &auth);
	if (authenticated)
		*authenticated = auth ? 1 : 0;
	return r;
}

int wgtun_tunnel_flush(wgtun_tunnel *t, uint64_t now_ns, uint8_t *out, size_t cap,
		       size_t *out_len)
{
	if (!args_ok(t, out, out_len))
		return WGTUN_TUNNEL_ERR_MALFORMED;
	return wg_tunnel_flush(t->tun, now_ns, out, cap, out_len);
}

int wgtun_tunnel_tick(wgtun_tunnel *t, uint64_t now_ns, uint8_t *out, size_t cap,
		      size_t *out_len)
{
	if (!args_ok(t, out, out_len))
		return WGTUN_TUNNEL_ERR_MALFORMED;
	return wg_tunnel_tick(t->tun, now_ns, out, cap, out_len);
}

uint64_t wgtun_tunnel_next_deadline(const wgtun_tunnel *t)
{
	return t ? wg_tunnel_next_deadline(t->tun) : WGTUN_TUNNEL_NEVER;
}

int wgtun_tunnel_force_handshake(wgtun_tunnel *t, uint64_t now_ns, uint8_t *out, size_t cap,
				 size_t *out_len)
{
	if (!args_ok(t, out, out_len))
		return WGTUN_TUNNEL_ERR_MALFORMED;
	return wg_tunnel_force_handshake(t->tun, now_ns, out, cap, out_len);
}

void wgtun_tunnel_set_preshared_key(wgtun_tunnel *t, const uint8_t psk[WGTUN_KEY_LEN])
{
	if (t)
		wg_tunnel_set_preshared_key(t->tun, psk);
}

void wgtun_tunnel_set_persistent_keepalive(wgtun_tunnel *t, uint64_t now_ns, uint16_t seconds)
{
	if (t)
		wg_tunnel_set_persistent_keepalive(t->tun, now_ns, seconds);
}

void wgtun_tunnel_set_mtu(wgtun_tunnel *t, uint32_t mtu)
{
	if (t)
		wg_tunnel_set_mtu(t->tun, mtu_or_default(mtu));
}

/* The public prep is opaque storage; the proto struct is copied in and out (memcpy, so no
 * object is ever accessed through the other type). */
_Static_assert(sizeof(wg_tunnel_initiation) <= sizeof(wgtun_tunnel_initiation), "prep size");

void wgtun_tunnel_initiation_wipe(wgtun_tunnel_initiation *prep)
{
	if (prep)
		crypto_wipe(prep, sizeof(*prep));
}

int wgtun_tunnel_initiation_sender(const wgtun_tunnel *t, const uint8_t *dgram, size_t len,
				   uint8_t peer_public[WGTUN_KEY_LEN],
				   wgtun_tunnel_initiation *prep)
{
	wg_tunnel_initiation p;
	int r;

	wgtun_tunnel_initiation_wipe(prep);
	if (!t || !dgram || !peer_public)
		return WGTUN_TUNNEL_ERR_MALFORMED;
	r = wg_tunnel_initiation_prepare(&t->identity, dgram, len, &p);
	if (r == WG_TUN_DONE) {
		memcpy(peer_public, p.in.remote_static, WG_KEY_LEN);
		if (prep)
			memcpy(prep, &p, sizeof(p));
	}
	wg_tunnel_initiation_wipe(&p);
	return r;
}

int wgtun_tunnel_read_initiation(wgtun_tunnel *t, uint64_t now_ns, const uint8_t *dgram,
				 size_t len, wgtun_tunnel_initiation *prep, uint8_t *out,
				 size_t cap, size_t *out_len, int *authenticated)
{
	wg_tunnel_initiation p;
	bool auth = false;
	int r;

	if (authenticated)
		*authenticated = 0;
	if (!prep) /* nothing prepared: the ordinary path */
		return wgtun_tunnel_read(t, now_ns, dgram, len, out, cap, out_len, authenticated);
	memcpy(&p, prep, sizeof(p));
	wgtun_tunnel_initiation_wipe(prep);
	if (!args_ok(t, out, out_len) || !dgram) {
		wg_tunnel_initiation_wipe(&p);
		return WGTUN_TUNNEL_ERR_MALFORMED;
	}
	r = wg_tunnel_decapsulate_initiation(t->tun, now_ns, dgram, len, &p, out, cap, out_len,
					     &auth);
	wg_tunnel_initiation_wipe(&p); /* already wiped by the call; cheap insurance */
	if (authenticated)
		*authenticated = auth ? 1 : 0;
	return r;
}

int wgtun_tunnel_get_stats(const wgtun_tunnel *t, wgtun_tunnel_stats *st)
{
	wgtun_tunnel_stats full;
	wg_tunnel_stats s;
	size_t n;

	if (!t || !st || st->struct_size < STATS_V1_SIZE)
		return -EINVAL;
	n = st->struct_size < sizeof(full) ? st->struct_size : sizeof(full);
	wg_tunnel_get_stats(t->tun, &s);
	memset(&full, 0, sizeof(full));
	full.struct_size = n;
	full.tx_bytes = s.tx_bytes;
	full.rx_bytes = s.rx_bytes;
	full.last_handshake_wall_ns = s.last_handshake_wall_ns;
	full.dropped = s.dropped;
	full.handshake_attempts = s.handshake_attempts;
	full.has_session = s.has_session ? 1 : 0;
	full.staged = wg_tunnel_staged_count(t->tun);
	/* A newer app's larger struct keeps its unknown tail as it was. */
	memcpy(st, &full, n);
	return 0;
}
