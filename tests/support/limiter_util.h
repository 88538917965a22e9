/* Fixtures of the tunnel-API limiter tests (tests/unit/test_tunnel_limiter*.c, the public
 * under-load shield of include/wgtun.h "Limiter"): a virtual clock, source addresses, a
 * seeded random source that can fail and logs its draws (and a replay of them, to feed the
 * device's checker the same bytes), tunnels through the public API, and crafted handshake
 * messages with valid macs for a key. Linked into those tests only (CMakeLists.txt). */
#ifndef WGTUN_LIMITER_UTIL_H
#define WGTUN_LIMITER_UTIL_H

#include "test.h"
#include "wgtun.h"

#include "proto/cookie.h"
#include "proto/identity.h"
#include "proto/messages.h"

#define CAP 2048
#define SEC 1000000000ULL
#define MS 1000000ULL

/* The virtual clock (7 s at start; the tests move it). */
extern uint64_t g_now;

extern const uint8_t addr1[4], addr2[4], addr3[4];
/* two addresses of one /64, and one of another */
extern const uint8_t v6a[16], v6b[16], v6c[16];

uint32_t le32(const uint8_t *p);

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

int lim_random(void *ctx, void *out, size_t n);

/* A wg_rng that hands out the draws a lim_src logged, from draw `next` on. */
typedef struct {
	const lim_src *src;
	int next;
} replay_src;

int replay_fill(void *ctx, void *out, size_t n);

/* A limiter for pub drawing from src (reset and seeded here); 0s are the defaults. */
wgtun_limiter *limiter_make(const uint8_t pub[32], lim_src *src, uint64_t seed,
			    uint32_t load_per_second, uint32_t max_sources);
wgtun_limiter_stats stats_of(wgtun_limiter *l);
/* wgtun_limiter_check at g_now from an IPv4 source, into out (CAP bytes). */
int check4(wgtun_limiter *l, const uint8_t *msg, size_t len, const uint8_t addr[4],
	   uint16_t port, uint8_t *out, size_t *n);

/* ---- tunnels through the public API ---- */

typedef struct {
	test_rng rng;
	uint8_t priv[32], pub[32];
	wgtun_tunnel *t;
} side;

int side_random(void *ctx, void *out, size_t n);
uint64_t side_wall(void *ctx);
void side_keys(side *s, uint64_t seed);
void side_tunnel(side *s, const side *peer);
wgtun_tunnel_stats tunnel_stats(const side *s);
/* Runs s's timers up to `until` and returns the first datagram they produce (0 if none). */
size_t next_from_timers(side *s, uint64_t until, uint8_t *out);

/* ---- crafted handshake messages for a key (proto cookie maker, as an initiator has) ---- */

typedef struct {
	cookie_maker mk;
	uint8_t msg[WG_MSG_INITIATION_LEN];
} crafter;

void crafter_init(crafter *c, const uint8_t pub[32], uint64_t seed);
/* The message with a valid mac1 (and mac2 once the crafter holds a cookie). */
const uint8_t *crafted(crafter *c);
/* Gets a cookie for addr:port (the limiter must be under load) and returns the message with
 * a valid mac2 for that source. */
const uint8_t *proven(crafter *c, wgtun_limiter *l, const uint8_t *addr, size_t alen,
		      uint16_t port);

#endif
