/* Replay window: see replay.h. The ring holds one bit per counter for the blocks
 * [last/64 - 127, last/64]; advancing clears only the blocks that newly enter the ring, so a
 * packet costs O(1) amortized (at most the whole ring on a big jump). */
#include "proto/replay.h"

#include <string.h>

#define BLOCK_SHIFT 6 /* log2(WG_REPLAY_BLOCK_BITS) */
#define RING_MASK (WG_REPLAY_RING_BLOCKS - 1)

_Static_assert((1u << BLOCK_SHIFT) == WG_REPLAY_BLOCK_BITS, "block shift");
_Static_assert((WG_REPLAY_RING_BLOCKS & RING_MASK) == 0, "ring size must be a power of two");

void replay_init(replay_window *r)
{
	memset(r, 0, sizeof(*r));
}

/* Clears the ring blocks after last's block up to and including new_block's. */
static void replay_advance(replay_window *r, uint64_t counter)
{
	uint64_t old_block = r->last >> BLOCK_SHIFT;
	uint64_t new_block = counter >> BLOCK_SHIFT;
	uint64_t diff = new_block - old_block;

	if (diff > WG_REPLAY_RING_BLOCKS)
		diff = WG_REPLAY_RING_BLOCKS; /* everything is stale: clear the ring once */
	for (uint64_t i = 1; i <= diff; i++)
		r->ring[(old_block + i) & RING_MASK] = 0;
	r->last = counter;
}

bool replay_check_limit(replay_window *r, uint64_t counter, uint64_t reject_after)
{
	uint64_t block, bit;

	if (counter >= reject_after)
		return false;
	if (counter <= r->last && r->last - counter > WG_REPLAY_WINDOW_SIZE)
		return false; /* too old: its bit may already belong to a newer counter */
	block = (counter >> BLOCK_SHIFT) & RING_MASK;
	bit = 1ULL << (counter & (WG_REPLAY_BLOCK_BITS - 1));
	/* Test before any write, so a rejected counter changes nothing. */
	if (counter <= r->last && (r->ring[block] & bit))
		return false;
	if (counter > r->last)
		replay_advance(r, counter);
	r->ring[block] |= bit;
	return true;
}

bool replay_check(replay_window *r, uint64_t counter)
{
	return replay_check_limit(r, counter, WG_REJECT_AFTER_MESSAGES);
}
