/* TAI64N timestamps for handshake initiations (12 bytes, big-endian). */
#ifndef WGTUN_PROTO_TAI64N_H
#define WGTUN_PROTO_TAI64N_H

#include <stdbool.h>
#include <stdint.h>

#define TAI64N_LEN 12
#define TAI64N_BASE 0x400000000000000aULL /* 2^62 + 10 (TAI-UTC offset as WireGuard uses it) */
/* Nanoseconds are rounded down to a multiple of 2^24 (~16.8 ms) so a peer cannot read our
 * precise clock from initiations. */
#define TAI64N_NSEC_GRANULARITY (1u << 24)

/* wall_ns: nanoseconds since the Unix epoch. */
void tai64n_from_unix_ns(uint8_t out[TAI64N_LEN], uint64_t wall_ns);
/* true if a is strictly later than b (big-endian, so bytewise order). */
bool tai64n_after(const uint8_t a[TAI64N_LEN], const uint8_t b[TAI64N_LEN]);

#endif
