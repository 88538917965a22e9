/* mac1, mac2 and cookie replies (protocol-checklist.md section 5): the DoS shield in front of
 * the handshake. Sans I/O: time is a parameter, randomness the injected wg_rng. Not
 * thread-safe: the caller serializes calls on one object.
 *
 * Source addresses are passed as raw bytes: 4 (IPv4) or 16 (IPv6) address bytes + port. */
#ifndef WGTUN_PROTO_COOKIE_H
#define WGTUN_PROTO_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/common.h"
#include "crypto/crypto.h"
#include "proto/identity.h"
#include "proto/messages.h"

/* Return codes (values match wg_tun_result where they overlap). */
typedef enum {
	COOKIE_OK = 0,
	COOKIE_ERR_MALFORMED = -1, /* bad type/length/header, bad address length */
	COOKIE_ERR_MAC = -2,       /* mac1 invalid */
	COOKIE_ERR_DECRYPT = -3,   /* cookie reply does not authenticate */
	COOKIE_ERR_STATE = -5,     /* cookie reply but no mac1 sent to answer */
	COOKIE_ERR_NO_KEY = -9,    /* no private key */
	COOKIE_ERR_RNG = -11,      /* the RNG failed (secret rotation or nonce): nothing sent */
} cookie_result;

/* What the responder does with a handshake message (the under-load rule). */
typedef enum {
	COOKIE_VERDICT_DROP = 0,       /* mac1 invalid: drop silently */
	COOKIE_VERDICT_SEND_REPLY = 1, /* under load and mac2 invalid: answer with a cookie reply */
	COOKIE_VERDICT_PROCESS = 2,    /* go on (rate limiter, then Noise) */
} cookie_verdict;

/* Pure rule: mac1 invalid -> drop; not under load -> process (mac2 ignored); under load ->
 * process only with a valid mac2, else send a cookie reply. */
cookie_verdict cookie_decide(bool under_load, bool mac1_valid, bool mac2_valid);

/* ---- responder side, one per device ---- */
typedef struct {
	const wg_identity *identity; /* mac1_key and cookie_key come from it */
	uint8_t secret[WG_HASH_LEN]; /* Rm, regenerated when older than WG_COOKIE_REFRESH_TIME */
	wg_time_ns secret_birth;
	bool has_secret;
	/* Reply sealing context, made on the first reply and kept (a flood sends many); NULL
	 * until then, or if making it failed (each reply then makes its own). */
	struct crypto_aead_worker *xaead;
	/* mac1's key and the secret with their key block compressed once (a flood MACs every
	 * message with both); checked against identity->mac1_key / secret on each use. */
	crypto_mac_key mac1;
	crypto_mac_key secret_mac;
} cookie_checker;

void cookie_checker_init(cookie_checker *c, const wg_identity *identity);
/* Wipes the secret and frees the sealing context: call it before a checker is dropped or
 * initialized again. */
void cookie_checker_wipe(cookie_checker *c);
/* msg is a handshake message of type 1 or 2 with exact length (else false). Constant time. */
bool cookie_checker_mac1_valid(cookie_checker *c, const uint8_t *msg, size_t len);
/* mac2 == MAC(cookie for this source, msg[0:mac2 offset]). May rotate the secret (rng). */
bool cookie_checker_mac2_valid(cookie_checker *c, const uint8_t *msg, size_t len,
			       const uint8_t *addr, size_t addr_len, uint16_t port,
			       wg_time_ns now, const wg_rng *rng);
/* mac1 + (if under_load) mac2 checks combined into the verdict. */
cookie_verdict cookie_checker_validate(cookie_checker *c, const uint8_t *msg, size_t len,
				       const uint8_t *addr, size_t addr_len, uint16_t port,
				       bool under_load, wg_time_ns now, const wg_rng *rng);
/* Cookie reply to handshake message msg (type 1 or 2, exact length) from addr:port.
 * receiver_index = msg's sender_index, AD = msg's mac1, fresh random 24-byte nonce. */
cookie_result cookie_checker_create_reply(cookie_checker *c, const uint8_t *msg, size_t len,
					  const uint8_t *addr, size_t addr_len, uint16_t port,
					  wg_time_ns now, const wg_rng *rng,
					  wg_msg_cookie_reply *out);
/* Under load, for a message whose mac1 already passed: COOKIE_OK with *reply_made false when
 * mac2 is valid (go on); else COOKIE_OK with *reply_made true and the cookie reply in out (the
 * cookie is computed once for both steps). rng gives the nonce (and a rotated secret). */
cookie_result cookie_checker_mac2_or_reply(cookie_checker *c, const uint8_t *msg, size_t len,
					   const uint8_t *addr, size_t addr_len, uint16_t port,
					   wg_time_ns now, const wg_rng *rng,
					   wg_msg_cookie_reply *out, bool *reply_made);
/* The cookie itself: MAC(secret, addr || port big-endian). Exposed for tests. */
cookie_result cookie_checker_make_cookie(cookie_checker *c, const uint8_t *addr, size_t addr_len,
					 uint16_t port, wg_time_ns now, const wg_rng *rng,
					 uint8_t cookie[WG_COOKIE_LEN]);

/* ---- initiator side, one per peer ---- */
typedef struct {
	uint8_t mac1_key[WG_HASH_LEN];   /* HASH("mac1----" || peer public) */
	uint8_t cookie_key[WG_HASH_LEN]; /* HASH("cookie--" || peer public) */
	uint8_t cookie[WG_COOKIE_LEN];
	wg_time_ns cookie_birth;
	bool has_cookie;
	uint8_t last_mac1[WG_MAC_LEN]; /* AD of the cookie reply we may receive */
	bool has_last_mac1;
} cookie_maker;

void cookie_maker_init(cookie_maker *m, const uint8_t peer_public[WG_KEY_LEN]);
void cookie_maker_wipe(cookie_maker *m);
/* Fills mac1 and mac2 of an outgoing handshake message (type 1 or 2, exact length; the other
 * bytes already final). mac2 = zeros unless the cookie is fresh (age < 120 s). Remembers mac1. */
cookie_result cookie_maker_add_macs(cookie_maker *m, uint8_t *msg, size_t len, wg_time_ns now);
/* Stores the cookie of a valid reply (AD = the last mac1 we sent, then forgotten). The caller
 * found this peer by the reply's receiver_index. Never retransmits anything. */
cookie_result cookie_maker_consume_reply(cookie_maker *m, const uint8_t *msg, size_t len,
					 wg_time_ns now);

#endif
