/* Replay window for data-packet counters (RFC 6479 style bitmap, no shifting): a ring of
 * 128 x 64-bit blocks. Counters up to WG_REPLAY_WINDOW_SIZE behind the greatest accepted one
 * are tracked exactly; older ones and counters >= WG_REJECT_AFTER_MESSAGES are refused.
 *
 * Fixed size, no allocation. Not thread-safe: the caller serializes per keypair (the receive
 * path holds the keypair's receive lock around replay_check). */
#ifndef WGTUN_PROTO_REPLAY_H
#define WGTUN_PROTO_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/messages.h" /* WG_REJECT_AFTER_MESSAGES */

#define WG_REPLAY_BLOCK_BITS 64
#define WG_REPLAY_RING_BLOCKS 128 /* 8192 bits */
/* One block is always being filled, so the exact window is one block short of the ring. */
#define WG_REPLAY_WINDOW_SIZE ((WG_REPLAY_RING_BLOCKS - 1) * WG_REPLAY_BLOCK_BITS) /* 8128 */

/* replay_check uses wireguard-go's limit WG_REJECT_AFTER_MESSAGES = 2^64 - 2^13 - 1 (the
 * kernel's is 2^64 - WINDOW - 2; both are tested through replay_check_limit). */

typedef struct {
	uint64_t last; /* greatest accepted counter (0 also when nothing was accepted yet) */
	uint64_t ring[WG_REPLAY_RING_BLOCKS];
} replay_window;

/* Fresh window: every counter below the limit is acceptable once. */
void replay_init(replay_window *r);

/* Check AND mark: true = counter is new and inside the window, now recorded; false = replayed,
 * too old, or >= WG_REJECT_AFTER_MESSAGES, and the window is unchanged. Call only after the
 * packet authenticated, or an attacker could advance the window with forged counters. */
bool replay_check(replay_window *r, uint64_t counter);

/* Same with an explicit limit (tests run the kernel's and wireguard-go's constants). */
bool replay_check_limit(replay_window *r, uint64_t counter, uint64_t reject_after);

#endif
