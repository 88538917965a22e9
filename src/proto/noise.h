/* Noise IKpsk2 handshake (protocol-checklist.md sections 4, 7, 9), one object per peer.
 *
 * Sans I/O: no clock, no RNG, no allocation. Ephemeral keys come from the injected wg_rng,
 * wall time (for TAI64N) and monotonic time (flood rule) are parameters. Not thread-safe:
 * the caller serializes calls on one noise_handshake (the peer's handshake lock).
 *
 * Typical flows (mac1/mac2 are added/checked by cookie.h, never here):
 *   initiator: noise_create_initiation -> [send] ... noise_consume_response ->
 *              noise_begin_session(&keys)
 *   responder: noise_consume_initiation_static (anonymous: which peer?) -> find peer ->
 *              noise_consume_initiation -> noise_create_response -> [send] ->
 *              noise_begin_session(&keys)
 * Every function validates state and input first and commits nothing on failure; every
 * secret temporary is wiped on every path. */
#ifndef WGTUN_PROTO_NOISE_H
#define WGTUN_PROTO_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/common.h"
#include "proto/identity.h"
#include "proto/messages.h"

/* Result codes. Values equal the matching wg_tun_result codes in tunnel.h so a tunnel can
 * return them unchanged. */
typedef enum {
	NOISE_OK = 0,
	NOISE_ERR_MALFORMED = -1, /* bad type/length/reserved bytes */
	NOISE_ERR_DECRYPT = -3,   /* AEAD failed: wrong key, wrong peer, wrong PSK, tampering */
	NOISE_ERR_REPLAY = -4,    /* initiation timestamp not newer than the newest accepted */
	NOISE_ERR_STATE = -5,     /* no matching pending handshake (index or state) */
	NOISE_ERR_FLOOD = -8,     /* initiation < 1/50 s after the previous accepted one */
	NOISE_ERR_NO_KEY = -9,    /* no private key, low-order peer key, or zero DH */
	NOISE_ERR_PEER = -10,     /* initiation's static key is not this peer's */
} noise_result;

typedef enum {
	NOISE_STATE_ZEROED = 0,
	NOISE_STATE_INITIATION_CREATED,  /* initiator: waiting for the response */
	NOISE_STATE_INITIATION_CONSUMED, /* responder: may create a response */
	NOISE_STATE_RESPONSE_CREATED,    /* responder: may begin the session */
	NOISE_STATE_RESPONSE_CONSUMED,   /* initiator: may begin the session */
} noise_state;

/* Construction parameters. WireGuard uses prologue = WG_IDENTIFIER (noise_params_wireguard()).
 * Tests use other prologues to replay the published Noise vectors. */
typedef struct {
	uint8_t initial_chaining_key[WG_HASH_LEN]; /* C0 = HASH(construction) */
	uint8_t initial_hash[WG_HASH_LEN];         /* H0 = HASH(C0 || prologue) */
} noise_params;

/* The WireGuard parameters (static, precomputed constants). */
const noise_params *noise_params_wireguard(void);
/* Parameters for another prologue (test hook for the cacophony vector). */
void noise_params_init(noise_params *p, const uint8_t *prologue, size_t prologue_len);

/* The output of a completed handshake: plain data for the keypair owner, who wipes it. */
typedef struct {
	uint8_t send_key[WG_KEY_LEN];
	uint8_t recv_key[WG_KEY_LEN];
	uint32_t local_index;  /* our index: the receiver_index of packets sent to us */
	uint32_t remote_index; /* the peer's index: the receiver_index we put in data packets */
	bool is_initiator;
} noise_session_keys;

typedef struct {
	/* configuration */
	const wg_identity *identity; /* owner keeps it alive; call noise_handshake_identity_changed */
	const noise_params *params;
	uint8_t remote_static[WG_KEY_LEN];
	uint8_t preshared_key[WG_KEY_LEN];  /* zeros when none */
	uint8_t static_static[WG_KEY_LEN];  /* DH(our static, peer static), precomputed */
	bool has_static_static;             /* false: no private key or zero DH => refuse */

	/* handshake in progress */
	noise_state state;
	uint8_t chaining_key[WG_HASH_LEN];
	uint8_t hash[WG_HASH_LEN];
	uint8_t ephemeral_private[WG_KEY_LEN];
	uint8_t remote_ephemeral[WG_KEY_LEN];
	uint32_t local_index;
	uint32_t remote_index;

	/* replay and flood protection of initiations (responder side, kept across handshakes) */
	uint8_t latest_timestamp[WG_TIMESTAMP_LEN];
	bool has_accepted_initiation;
	wg_time_ns last_initiation_consumption;
} noise_handshake;

/* Intermediate result of the anonymous first step of consuming an initiation. Holds secrets:
 * noise_consume_initiation wipes it; if it is not called, call noise_initiation_wipe. */
typedef struct {
	uint8_t chaining_key[WG_HASH_LEN];
	uint8_t hash[WG_HASH_LEN];
	uint8_t remote_ephemeral[WG_KEY_LEN];
	uint8_t remote_static[WG_KEY_LEN]; /* the initiator's static public key */
	uint32_t remote_index;
	bool valid;
} noise_initiation;

/* Sets up a peer's handshake. psk NULL = no PSK; params NULL = WireGuard. Always initializes
 * hs; returns NOISE_OK if handshakes are possible, NOISE_ERR_NO_KEY if not (identity has no
 * private key, or the peer key is low order: static-static DH is zero). */
noise_result noise_handshake_init(noise_handshake *hs, const wg_identity *identity,
				  const uint8_t remote_static[WG_KEY_LEN],
				  const uint8_t preshared_key[WG_KEY_LEN],
				  const noise_params *params);
/* The identity's key changed: recompute the static-static DH and drop any handshake in
 * progress. Same return as init. */
noise_result noise_handshake_identity_changed(noise_handshake *hs);
/* psk NULL = none. Does not touch a handshake in progress (it uses the key at its time). */
void noise_handshake_set_preshared_key(noise_handshake *hs, const uint8_t psk[WG_KEY_LEN]);
/* Forget the handshake in progress (keeps config and replay/flood state). */
void noise_handshake_clear(noise_handshake *hs);
/* Wipe everything, including configuration. */
void noise_handshake_wipe(noise_handshake *hs);

/* ---- WireGuard messages ---- */
/* Initiator: writes type, sender_index, ephemeral, encrypted static and timestamp into msg;
 * mac1/mac2 are zeroed (cookie_maker_add_macs fills them). wall_ns = Unix time in ns.
 * local_index: fresh index registered by the caller. */
noise_result noise_create_initiation(noise_handshake *hs, uint64_t wall_ns, const wg_rng *rng,
				     uint32_t local_index, wg_msg_initiation *msg);
/* Responder, step 1, anonymous (needs only the identity): checks header/length, decrypts the
 * initiator's static key into out->remote_static so the caller can find the peer. Does not
 * check mac1 (cookie.h does, before). On failure out is wiped and !out->valid. */
noise_result noise_consume_initiation_static(const wg_identity *identity,
					     const noise_params *params,
					     const uint8_t *msg, size_t len, noise_initiation *out);
/* Responder, step 2, on the peer found for in->remote_static: decrypts the timestamp with the
 * precomputed static-static DH, applies the replay and flood rules (now = monotonic), and only
 * then commits (state INITIATION_CONSUMED). Always wipes *in. */
noise_result noise_consume_initiation(noise_handshake *hs, noise_initiation *in,
				      const wg_msg_initiation *msg, wg_time_ns now);
/* Responder: needs state INITIATION_CONSUMED. mac1/mac2 zeroed. local_index: fresh index. */
noise_result noise_create_response(noise_handshake *hs, const wg_rng *rng, uint32_t local_index,
				   wg_msg_response *msg);
/* Initiator: msg must answer the pending initiation (receiver_index == local index, state
 * INITIATION_CREATED). Commits only if it authenticates. */
noise_result noise_consume_response(noise_handshake *hs, const uint8_t *msg, size_t len);
/* After RESPONSE_CREATED / RESPONSE_CONSUMED: derives the transport keys (initiator send = T1,
 * recv = T2; responder reversed), wipes C, H and the ephemeral private key, state ZEROED. */
noise_result noise_begin_session(noise_handshake *hs, noise_session_keys *keys);
/* Wipes an unused step-1 result. */
void noise_initiation_wipe(noise_initiation *in);

/* ---- generic Noise messages (test hook: any prologue and payloads) ----
 * Message 1 = e || enc(s) || enc(payload): 32 + 48 + payload_len + 16 bytes.
 * Message 2 = e || enc(payload): 32 + payload_len + 16 bytes.
 * The WireGuard functions above are these with payload1 = TAI64N and payload2 empty. */
#define NOISE_MSG1_LEN(payload_len) (32 + 48 + (payload_len) + 16)
#define NOISE_MSG2_LEN(payload_len) (32 + (payload_len) + 16)
noise_result noise_write_message1(noise_handshake *hs, const wg_rng *rng,
				  const uint8_t *payload, size_t payload_len, uint8_t *out);
/* Step 1 on a raw message 1 (len >= NOISE_MSG1_LEN(0)); the payload stays encrypted. */
noise_result noise_read_message1_static(const wg_identity *identity, const noise_params *params,
					const uint8_t *msg1, size_t len, noise_initiation *out);
/* Step 2 without WireGuard's replay/flood rules: decrypts the payload (len - 96 bytes) into
 * payload_out and commits. Always wipes *in. */
noise_result noise_read_message1_payload(noise_handshake *hs, noise_initiation *in,
					 const uint8_t *msg1, size_t len, uint8_t *payload_out);
noise_result noise_write_message2(noise_handshake *hs, const wg_rng *rng,
				  const uint8_t *payload, size_t payload_len, uint8_t *out);
noise_result noise_read_message2(noise_handshake *hs, const uint8_t *msg2, size_t len,
				 uint8_t *payload_out);

#endif
