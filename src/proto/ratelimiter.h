/* Handshake-initiation rate limiter: a token bucket per source, 20 packets/s with a burst of 5
 * (kernel and wireguard-go numbers). The clock is passed in; GC runs inside the calls.
 *
 * Source key: an IPv4 address, or the upper 64 bits of an IPv6 address. One host usually owns
 * a whole /64 (SLAAC, privacy addresses) and could rotate through it to get a fresh bucket per
 * packet; grouping by /64 (as the kernel does) takes that away.
 *
 * Bounds: at most WG_RATELIMITER_MAX_ENTRIES sources (memory reserved by the first
 * ratelimiter_allow, pages of the entries touched only as used; an idle device never asks).
 * When full after GC, or when that first reservation fails, a new source is refused, i.e.
 * treated as rate limited; known sources keep their buckets. Buckets are chosen by SipHash with a random key from
 * the injected RNG, so an attacker cannot aim many sources at one chain.
 * Thread-safety: none; the caller serializes (the device's handshake path holds a lock). */
#ifndef WGTUN_PROTO_RATELIMITER_H
#define WGTUN_PROTO_RATELIMITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/common.h"

#define WG_RATELIMITER_PACKETS_PER_SECOND 20
#define WG_RATELIMITER_BURST 5
#define WG_RATELIMITER_MAX_ENTRIES (8192 * 8)
/* Per-call GC work limit (entries); a full table GCs without limit before refusing. */
#define WG_RATELIMITER_GC_BATCH 64
/* An entry idle this long has refilled completely (burst/rate = 250 ms), so dropping it
 * changes no decision. */
#define WG_RATELIMITER_IDLE_NS WG_SEC(1)

typedef struct ratelimiter ratelimiter;

/* max_entries: 1..WG_RATELIMITER_MAX_ENTRIES (tests use small tables). rng seeds the hash
 * key. NULL on bad argument, a failed rng or no memory (for the struct alone: the tables
 * come with the first source). */
ratelimiter *ratelimiter_new(const wg_rng *rng, uint32_t max_entries);
void ratelimiter_free(ratelimiter *rl);

/* true = let this initiation through (a token was spent); false = drop it. family is AF_INET
 * (addr 4 bytes) or AF_INET6 (16 bytes); any other family is refused. now must not go
 * backwards (an earlier now is treated as now = last seen). An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d, from a dual-stack socket) counts as the IPv4 address: its /64 would
 * otherwise put every IPv4 source into one bucket. */
bool ratelimiter_allow(ratelimiter *rl, wg_time_ns now, int family, const uint8_t *addr);

/* Drops every entry idle for more than WG_RATELIMITER_IDLE_NS (allow() already does this
 * incrementally; a caller may also run it from a timer). */
void ratelimiter_gc(ratelimiter *rl, wg_time_ns now);

/* Sources currently tracked. */
uint32_t ratelimiter_count(const ratelimiter *rl);

/* SipHash-2-4 (Aumasson & Bernstein) of data with a 128-bit key given as two little-endian
 * 64-bit words. The rate limiter's keyed bucket hash; usable for any table that must resist
 * chosen keys. */
uint64_t wg_siphash24(const uint64_t key[2], const void *data, size_t len);

#endif
