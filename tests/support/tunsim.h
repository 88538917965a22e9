/* Two tunnels in memory for the tunnel unit tests (tests/unit/test_tunnel_*.c): datagrams
 * pass through a simulated network (loss, reordering, duplication by the test), time is
 * virtual (tunsim_now), randomness a seeded generator per peer. */
#ifndef WGTUN_TUNSIM_H
#define WGTUN_TUNSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/cookie.h"
#include "proto/identity.h"
#include "proto/messages.h"
#include "proto/tunnel.h"
#include "test.h"

#define HEADROOM WG_DATA_HEADER_LEN
#define BUF_CAP 2048
#define NET_QUEUE 512
#define MS(x) ((wg_time_ns)(x) * 1000000)

typedef struct {
	uint8_t buf[HEADROOM + BUF_CAP];
	size_t len;
} dgram;

typedef struct peer peer;
struct peer {
	const char *name;
	wg_identity id;
	test_rng rng;
	wg_tunnel *t;
	peer *other;
	uint8_t psk[32];
	uint16_t pk;
	/* datagrams sent by this peer, not yet delivered */
	dgram q[NET_QUEUE];
	size_t nq;
	/* what it sent */
	int inits, resps, keepalives, data, cookies;
	/* sender index and ephemeral of the first initiations it sent */
	uint32_t init_index[64];
	uint8_t init_ephemeral[64][32];
	/* what its TUN got */
	int tun_packets;
	uint32_t last_tun_id;
	uint32_t tun_ids[512];
	int errors[16]; /* indexed by -wg_tun_result */
	/* the network drops what this peer sends while set */
	bool blackhole;
	/* device-side cookie checker, used when under_load */
	bool under_load;
	cookie_checker checker;
};

/* The virtual clock (tunsim_setup sets it to 1 s) and the wall
 * clock's value at tunsim_now == 0. */
extern wg_time_ns tunsim_now;
extern const uint64_t tunsim_wall_base;

int tunsim_rng_fill(void *ctx, void *out, size_t n);
uint64_t tunsim_wall_now(void *ctx);
wg_tunnel *tunsim_make_tunnel(peer *p, wg_time_ns now);
void tunsim_setup(peer *a, peer *b, uint64_t seed);
void tunsim_start(peer *a, peer *b);
void tunsim_teardown(peer *a, peer *b);

/* Records a datagram p sends (classified by type for the counters). */
void tunsim_net_send(peer *p, const uint8_t *buf, size_t len);

/* Calls fn-like output producers until DONE, sending what they produce. */
void tunsim_drain_flush(peer *p);
void tunsim_drain_tick(peer *p);

/* Hands one datagram (in place: out = dgram + 16) to receiver p, as a device would. */
wg_tun_result tunsim_deliver_one(peer *p, uint8_t *buf, size_t len);

/* Delivers everything queued in both directions until the network is quiet. */
void tunsim_deliver_all(peer *a, peer *b);
wg_time_ns tunsim_next_deadline(peer *a, peer *b);

/* Runs timers and the network until `until`, then sets the clock to it. */
void tunsim_run_until(peer *a, peer *b, wg_time_ns until);

/* An IPv4 packet of total length len carrying id at offset 20. */
void tunsim_make_packet(uint8_t *p, size_t len, uint32_t id);

/* p's TUN produced a packet: encapsulate in place (pkt = out + 16). */
wg_tun_result tunsim_send_packet(peer *p, size_t len, uint32_t id);
wg_tunnel_stats tunsim_stats(peer *p);

#endif
