/* The sans-I/O tunnels the bench and fuzz programs build (bench/bench_datapath.c,
 * bench_responder.c, bench_device_responder.c, tests/fuzz/fuzz_decapsulate.c,
 * tests/fuzz/device_harness.h): one config for all, MTU 1420, randomness and the wall clock
 * as the program wants them (deterministic for fuzzing). Header only: the fuzz and bench
 * programs are one file each. */
#ifndef WGTUN_TUNPAIR_H
#define WGTUN_TUNPAIR_H

#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "proto/identity.h"
#include "proto/tunnel.h"

#define TUNPAIR_MTU 1420
#define TUNPAIR_WALL0 (1700000000ULL * WG_NS_PER_SEC) /* the wall clock at virtual time 0 */

/* A wg_wallclock reading TUNPAIR_WALL0 plus the virtual clock ctx points to (a wg_time_ns). */
static inline uint64_t tunpair_wall(void *ctx)
{
	return TUNPAIR_WALL0 + *(const wg_time_ns *)ctx;
}

/* A wg_rng fill from the OS; a bench cannot go on without it. */
static inline int tunpair_os_rng(void *ctx, void *out, size_t n)
{
	(void)ctx;
	if (crypto_random(out, n) != 0)
		abort();
	return 0;
}

/* self's tunnel to the peer with public key peer_public; NULL on failure. */
static inline wg_tunnel *tunpair_tunnel(const wg_identity *self, const uint8_t peer_public[32],
					wg_rng rng, wg_wallclock wall, wg_time_ns now)
{
	wg_tunnel_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.identity = self;
	memcpy(cfg.peer_public_key, peer_public, 32);
	cfg.mtu = TUNPAIR_MTU;
	cfg.rng = rng;
	cfg.wall = wall;
	return wg_tunnel_new(&cfg, now);
}

#endif
