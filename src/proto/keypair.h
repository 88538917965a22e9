/* Keypairs of one peer and their rotation (protocol-checklist.md section 9).
 *
 * A keypair is the output of one handshake: send/receive AEAD contexts, the send counter, the
 * receive replay window, its birth time and which side initiated. A peer keeps three:
 *   previous  the one before current, still accepted on receive (packets in flight);
 *   current   the one we send with;
 *   next      responder only: derived but not yet confirmed by the initiator's first packet.
 * Storage is fixed (WG_KEYPAIR_SLOTS, no allocation of keypairs themselves); the crypto layer
 * allocates the AEAD contexts. Dropping a keypair wipes it and hands its local index to the
 * release callback (the device index table).
 *
 * Thread-safety: none; the owning tunnel serializes. */
#ifndef WGTUN_PROTO_KEYPAIR_H
#define WGTUN_PROTO_KEYPAIR_H

#include "crypto/crypto.h"
#include "proto/common.h"
#include "proto/messages.h"
#include "proto/noise.h"
#include "proto/replay.h"

/* previous + current + next, plus one being installed before the rotation drops another. */
#define WG_KEYPAIR_SLOTS 4

typedef struct wg_keypair {
	bool in_use;
	bool is_initiator;
	bool send_valid; /* false once expired by a private key change */
	crypto_aead_ctx *send_ctx;
	crypto_aead_ctx *recv_ctx;
	/* The raw keys, for deferred sealing/opening on crypto workers (tunnel.h): a copy goes
	 * with each job so a worker never touches the keypair, which may rotate meanwhile. */
	uint8_t send_key[WG_KEY_LEN], recv_key[WG_KEY_LEN];
	uint64_t send_counter; /* next counter to use */
	replay_window replay;
	wg_time_ns created;
	uint32_t local_index;  /* receiver_index of packets sent to us */
	uint32_t remote_index; /* receiver_index we write */
} wg_keypair;

typedef struct {
	void (*fn)(void *ctx, uint32_t local_index);
	void *ctx;
} wg_keypair_release;

typedef struct {
	wg_keypair slot[WG_KEYPAIR_SLOTS];
	wg_keypair *previous, *current, *next;
	wg_keypair_release release;
} wg_keypairs;

void keypairs_init(wg_keypairs *k, wg_keypair_release release);
/* Drops (wipes, releases) all three. */
void keypairs_clear(wg_keypairs *k);

/* Builds a keypair from a finished handshake and rotates it in: initiator -> current at once
 * (old next, if any, becomes previous; else old current does); responder -> next (previous
 * dropped, current kept for sending). Returns the new keypair, or NULL if the crypto layer
 * could not allocate (nothing changed; the caller releases keys->local_index). */
wg_keypair *keypairs_install(wg_keypairs *k, const noise_session_keys *keys, wg_time_ns now);
/* Authenticated data arrived on kp. If kp is `next`, promote it to current (the old current
 * becomes previous) and return true: the handshake is complete from the responder's view. */
bool keypairs_received_with(wg_keypairs *k, wg_keypair *kp);
/* The keypair among previous/current/next with this local index, or NULL. */
wg_keypair *keypairs_lookup(wg_keypairs *k, uint32_t local_index);
/* Private key changed: current and next may no longer send (receive still works). */
void keypairs_expire_send(wg_keypairs *k);

/* May kp encrypt one more message at now? (valid, younger than REJECT_AFTER_TIME, counter
 * below REJECT_AFTER_MESSAGES) */
bool keypair_can_send(const wg_keypair *kp, wg_time_ns now);
/* May kp still decrypt at now? (younger than REJECT_AFTER_TIME, window below the limit) */
bool keypair_can_receive(const wg_keypair *kp, wg_time_ns now);
/* Send-side rekey rule: counter past REKEY_AFTER_MESSAGES, or we initiated it and it is at
 * least REKEY_AFTER_TIME old. */
bool keypair_should_rekey(const wg_keypair *kp, wg_time_ns now);
wg_time_ns keypair_age(const wg_keypair *kp, wg_time_ns now);

#endif
