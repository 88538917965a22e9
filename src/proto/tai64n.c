/* TAI64N: 8 bytes big-endian seconds (2^62 + 10 + Unix seconds), 4 bytes big-endian ns. */
#include "proto/tai64n.h"

#include <string.h>

#include "proto/common.h"

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void tai64n_from_unix_ns(uint8_t out[TAI64N_LEN], uint64_t wall_ns)
{
	uint64_t secs = TAI64N_BASE + wall_ns / WG_NS_PER_SEC;
	uint32_t nsec = (uint32_t)(wall_ns % WG_NS_PER_SEC);

	nsec -= nsec % TAI64N_NSEC_GRANULARITY;
	put_be32(out, (uint32_t)(secs >> 32));
	put_be32(out + 4, (uint32_t)secs);
	put_be32(out + 8, nsec);
}

bool tai64n_after(const uint8_t a[TAI64N_LEN], const uint8_t b[TAI64N_LEN])
{
	/* Timestamps are not secret (they travel encrypted but are checked after decryption,
	 * and their order is all an observer of our reply could learn), so memcmp is fine. */
	return memcmp(a, b, TAI64N_LEN) > 0;
}
