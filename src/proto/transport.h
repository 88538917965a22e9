/* Transport data messages (type 4, protocol-checklist.md sections 3 and 10): padding,
 * in-place encryption with headroom, in-place decryption, replay check, inner IP header check.
 * Thread-safety: none (per keypair direction, the caller serializes). */
#ifndef WGTUN_PROTO_TRANSPORT_H
#define WGTUN_PROTO_TRANSPORT_H

#include "proto/common.h"
#include "proto/keypair.h"

/* Plaintext length after padding: multiple of 16 but never beyond the MTU (GSO-sized packets:
 * the rule applies to the last MTU-sized unit); mtu 0 = just round up to 16; an mtu above
 * WG_MAX_CONTENT_LEN counts as that. */
size_t transport_padded_len(size_t len, uint32_t mtu);

/* Message length for a plaintext of len bytes. */
static inline size_t transport_message_len(size_t len, uint32_t mtu)
{
	return WG_MSG_DATA_HEADER_LEN + transport_padded_len(len, mtu) + WG_TAG_LEN;
}

/* buf[WG_MSG_DATA_HEADER_LEN .. +len) holds the plaintext (the header room before it is
 * overwritten); buf has cap bytes. Pads, encrypts in place with kp's next send counter and
 * writes the header. Returns the message length, or 0 if cap is too small or kp cannot send
 * (nothing consumed). */
size_t transport_seal(wg_keypair *kp, uint8_t *buf, size_t len, size_t cap, uint32_t mtu,
		      wg_time_ns now);

/* The in-order half of transport_seal: pads, writes the header and takes kp's next counter
 * (*counter) without encrypting; the caller then encrypts buf[WG_MSG_DATA_HEADER_LEN ..
 * + *body_len) in place with kp->send_key and *counter (on any thread, see tunnel.h).
 * Returns the message length, or 0 as transport_seal (nothing consumed). */
size_t transport_seal_reserve(wg_keypair *kp, uint8_t *buf, size_t len, size_t cap, uint32_t mtu,
			      wg_time_ns now, uint64_t *counter, size_t *body_len);

/* body[0..len) is the ciphertext + tag of a type-4 message for kp, whose header carried
 * counter. Decrypts in place: on success the plaintext is body[0 .. *plain_len) and the
 * counter is recorded in the replay window. Returns 0, or WG_TUN_ERR_MALFORMED (len < 16),
 * WG_TUN_ERR_NO_SESSION (kp expired), WG_TUN_ERR_DECRYPT (not authentic; window unchanged),
 * WG_TUN_ERR_REPLAY. */
int transport_open(wg_keypair *kp, uint64_t counter, uint8_t *body, size_t len,
		   size_t *plain_len, wg_time_ns now);

/* Inner packet check: plaintext of len bytes must be an IPv4 or IPv6 packet whose length field
 * fits; *inner_len gets that length (the padding is trimmed). Returns WG_TUN_WRITE_TUN_V4 /
 * WG_TUN_WRITE_TUN_V6, WG_TUN_DONE for an empty plaintext (keepalive), or
 * WG_TUN_ERR_MALFORMED. */
int transport_inner_check(const uint8_t *plain, size_t len, size_t *inner_len);

#endif
