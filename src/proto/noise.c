/* Noise IKpsk2 as WireGuard uses it (protocol-checklist.md section 4):
 *   <- s
 *   ...
 *   -> e, es, s, ss, {payload1}
 *   <- e, ee, se, psk, {payload2}
 * Each message function computes into locals and copies into the handshake only after the
 * last check passed, so a failure never leaves a half-updated state. Each wipes its locals
 * and then the stack below it (crypto_burn_stack): the callees' dead frames may hold copies
 * no local names (gcc's TSan runtime saves the vector registers, which held a chaining key
 * for BLAKE2s, in a frame below b2s_compress: tests/unit/test_secrets.c found ck_se there). */
#include "proto/noise.h"

#include <string.h>

#include "crypto/crypto.h"
#include "proto/tai64n.h"

#define EPH_OFF 0
#define STATIC_OFF WG_KEY_LEN                               /* msg1: enc(s) */
#define PAYLOAD1_OFF (WG_KEY_LEN + WG_KEY_LEN + WG_TAG_LEN) /* msg1: enc(payload) */
#define PAYLOAD2_OFF WG_KEY_LEN                             /* msg2: enc(payload) */

/* C0 = HASH(WG_CONSTRUCTION), H0 = HASH(C0 || WG_IDENTIFIER); checked against
 * noise_params_init() by the unit test. */
static const noise_params wireguard_params = {
	.initial_chaining_key = {0x60, 0xe2, 0x6d, 0xae, 0xf3, 0x27, 0xef, 0xc0, 0x2e, 0xc3, 0x35,
				 0xe2, 0xa0, 0x25, 0xd2, 0xd0, 0x16, 0xeb, 0x42, 0x06, 0xf8, 0x72,
				 0x77, 0xf5, 0x2d, 0x38, 0xd1, 0x98, 0x8b, 0x78, 0xcd, 0x36},
	.initial_hash = {0x22, 0x11, 0xb3, 0x61, 0x08, 0x1a, 0xc5, 0x66, 0x69, 0x12, 0x43,
			 0xdb, 0x45, 0x8a, 0xd5, 0x32, 0x2d, 0x9c, 0x6c, 0x66, 0x22, 0x93,
			 0xe8, 0xb7, 0x0e, 0xe1, 0x9c, 0x65, 0xba, 0x07, 0x9e, 0xf3},
};

const noise_params *noise_params_wireguard(void)
{
	return &wireguard_params;
}

void noise_params_init(noise_params *p, const uint8_t *prologue, size_t prologue_len)
{
	crypto_hash(p->initial_chaining_key, WG_CONSTRUCTION, WG_CONSTRUCTION_LEN);
	crypto_hash2(p->initial_hash, p->initial_chaining_key, WG_HASH_LEN, prologue,
		     prologue_len);
}

/* ---- symmetric state helpers (all tolerate any aliasing by using temporaries) ---- */

/* H = HASH(H || data) */
static void mix_hash(uint8_t h[WG_HASH_LEN], const void *data, size_t len)
{
	uint8_t t[WG_HASH_LEN];

	crypto_hash2(t, h, WG_HASH_LEN, data, len);
	memcpy(h, t, WG_HASH_LEN);
	crypto_wipe(t, sizeof(t));
}

/* (C, key) = KDF2(C, data); key may be NULL (KDF1). */
static void mix_key(uint8_t c[WG_HASH_LEN], uint8_t *key, const void *data, size_t len)
{
	uint8_t t1[WG_HASH_LEN], t2[WG_HASH_LEN];

	crypto_kdf(t1, key ? t2 : NULL, NULL, c, data, len);
	memcpy(c, t1, WG_HASH_LEN);
	if (key)
		memcpy(key, t2, WG_KEY_LEN);
	crypto_wipe(t1, sizeof(t1));
	crypto_wipe(t2, sizeof(t2));
}

/* (C, key) = KDF2(C, DH(priv, pub)); -1 if the DH result is zero (low-order point). */
static int mix_dh(uint8_t c[WG_HASH_LEN], uint8_t *key, const uint8_t priv[WG_KEY_LEN],
		  const uint8_t pub[WG_KEY_LEN])
{
	uint8_t dh[WG_KEY_LEN];

	if (crypto_x25519(dh, priv, pub) != 0)
		return -1;
	mix_key(c, key, dh, sizeof(dh));
	crypto_wipe(dh, sizeof(dh));
	return 0;
}

/* (C, tau, key) = KDF3(C, psk); H = HASH(H || tau) */
static void mix_psk(uint8_t c[WG_HASH_LEN], uint8_t h[WG_HASH_LEN], uint8_t key[WG_KEY_LEN],
		    const uint8_t psk[WG_KEY_LEN])
{
	uint8_t t1[WG_HASH_LEN], tau[WG_HASH_LEN], t3[WG_HASH_LEN];

	crypto_kdf(t1, tau, t3, c, psk, WG_KEY_LEN);
	memcpy(c, t1, WG_HASH_LEN);
	memcpy(key, t3, WG_KEY_LEN);
	mix_hash(h, tau, sizeof(tau));
	crypto_wipe(t1, sizeof(t1));
	crypto_wipe(tau, sizeof(tau));
	crypto_wipe(t3, sizeof(t3));
}

/* dst = AEAD(key, 0, src, H) (len + 16 bytes); H = HASH(H || dst). */
static void encrypt_and_hash(uint8_t *dst, const uint8_t *src, size_t len,
			     const uint8_t key[WG_KEY_LEN], uint8_t h[WG_HASH_LEN])
{
	static const uint8_t empty[1];

	crypto_aead_seal(dst, len ? src : empty, len, h, WG_HASH_LEN, 0, key);
	mix_hash(h, dst, len + WG_TAG_LEN);
}

/* dst = open(key, 0, src[0..len), H) (len - 16 bytes); H = HASH(H || src). 0 / -1. */
static int decrypt_and_hash(uint8_t *dst, const uint8_t *src, size_t len,
			    const uint8_t key[WG_KEY_LEN], uint8_t h[WG_HASH_LEN])
{
	uint8_t empty[1] = {0}; /* output of an empty plaintext: never written or read */

	if (crypto_aead_open(len > WG_TAG_LEN ? dst : empty, src, len, h, WG_HASH_LEN, 0, key) !=
	    0)
		return -1;
	mix_hash(h, src, len);
	return 0;
}

/* Ephemeral key pair from the injected RNG (clamped like every X25519 private key). */
static int generate_ephemeral(uint8_t priv[WG_KEY_LEN], uint8_t pub[WG_KEY_LEN],
			      const wg_rng *rng)
{
	if (wg_rng_fill(rng, priv, WG_KEY_LEN) != 0) {
		crypto_wipe(priv, WG_KEY_LEN);
		return -1; /* never a predictable ephemeral key */
	}
	crypto_x25519_clamp(priv);
	if (crypto_x25519_public(pub, priv) != 0) {
		crypto_wipe(priv, WG_KEY_LEN);
		return -1;
	}
	return 0;
}

static const noise_params *params_or_default(const noise_params *p)
{
	return p ? p : &wireguard_params;
}

/* C = C0, H = HASH(H0 || responder static) */
static void initialize_state(uint8_t c[WG_HASH_LEN], uint8_t h[WG_HASH_LEN],
			     const noise_params *p, const uint8_t responder_static[WG_KEY_LEN])
{
	memcpy(c, p->initial_chaining_key, WG_HASH_LEN);
	crypto_hash2(h, p->initial_hash, WG_HASH_LEN, responder_static, WG_KEY_LEN);
}

static bool can_handshake(const noise_handshake *hs)
{
	return hs->identity && hs->identity->has_private_key && hs->has_static_static;
}

/* ---- lifecycle ---- */

static noise_result precompute_static_static(noise_handshake *hs)
{
	hs->has_static_static = false;
	crypto_wipe(hs->static_static, sizeof(hs->static_static));
	if (!hs->identity || !hs->identity->has_private_key)
		return NOISE_ERR_NO_KEY;
	if (crypto_x25519(hs->static_static, hs->identity->private_key, hs->remote_static) != 0)
		return NOISE_ERR_NO_KEY; /* low-order peer key: never handshake */
	hs->has_static_static = true;
	return NOISE_OK;
}

noise_result noise_handshake_init(noise_handshake *hs, const wg_identity *identity,
				  const uint8_t remote_static[WG_KEY_LEN],
				  const uint8_t preshared_key[WG_KEY_LEN],
				  const noise_params *params)
{
	memset(hs, 0, sizeof(*hs));
	hs->identity = identity;
	hs->params = params_or_default(params);
	memcpy(hs->remote_static, remote_static, WG_KEY_LEN);
	noise_handshake_set_preshared_key(hs, preshared_key);
	return precompute_static_static(hs);
}

noise_result noise_handshake_identity_changed(noise_handshake *hs)
{
	noise_handshake_clear(hs);
	return precompute_static_static(hs);
}

void noise_handshake_set_preshared_key(noise_handshake *hs, const uint8_t psk[WG_KEY_LEN])
{
	if (psk)
		memcpy(hs->preshared_key, psk, WG_KEY_LEN);
	else
		crypto_wipe(hs->preshared_key, WG_KEY_LEN);
}

void noise_handshake_clear(noise_handshake *hs)
{
	crypto_wipe(hs->chaining_key, sizeof(hs->chaining_key));
	crypto_wipe(hs->hash, sizeof(hs->hash));
	crypto_wipe(hs->ephemeral_private, sizeof(hs->ephemeral_private));
	crypto_wipe(hs->remote_ephemeral, sizeof(hs->remote_ephemeral));
	hs->local_index = 0;
	hs->remote_index = 0;
	hs->state = NOISE_STATE_ZEROED;
}

void noise_handshake_wipe(noise_handshake *hs)
{
	crypto_wipe(hs, sizeof(*hs));
}

void noise_initiation_wipe(noise_initiation *in)
{
	crypto_wipe(in, sizeof(*in));
	in->valid = false;
}

/* ---- message 1 ---- */

noise_result noise_write_message1(noise_handshake *hs, const wg_rng *rng,
				  const uint8_t *payload, size_t payload_len, uint8_t *out)
{
	struct {
		uint8_t c[WG_HASH_LEN], h[WG_HASH_LEN], key[WG_KEY_LEN];
		uint8_t e_priv[WG_KEY_LEN];
	} s;
	noise_result ret = NOISE_ERR_NO_KEY;

	memset(&s, 0, sizeof(s));
	if (!can_handshake(hs))
		goto out;
	initialize_state(s.c, s.h, hs->params, hs->remote_static);
	/* e */
	if (generate_ephemeral(s.e_priv, out + EPH_OFF, rng) != 0)
		goto out;
	mix_key(s.c, NULL, out + EPH_OFF, WG_KEY_LEN);
	mix_hash(s.h, out + EPH_OFF, WG_KEY_LEN);
	/* es */
	if (mix_dh(s.c, s.key, s.e_priv, hs->remote_static) != 0)
		goto out;
	/* s */
	encrypt_and_hash(out + STATIC_OFF, hs->identity->public_key, WG_KEY_LEN, s.key, s.h);
	/* ss (precomputed) */
	mix_key(s.c, s.key, hs->static_static, WG_KEY_LEN);
	/* payload */
	encrypt_and_hash(out + PAYLOAD1_OFF, payload, payload_len, s.key, s.h);

	memcpy(hs->chaining_key, s.c, WG_HASH_LEN);
	memcpy(hs->hash, s.h, WG_HASH_LEN);
	memcpy(hs->ephemeral_private, s.e_priv, WG_KEY_LEN);
	crypto_wipe(hs->remote_ephemeral, WG_KEY_LEN);
	hs->remote_index = 0;
	hs->state = NOISE_STATE_INITIATION_CREATED;
	ret = NOISE_OK;
out:
	crypto_wipe(&s, sizeof(s));
	crypto_burn_stack();
	return ret;
}

noise_result noise_read_message1_static(const wg_identity *identity, const noise_params *params,
					const uint8_t *msg1, size_t len, noise_initiation *out)
{
	struct {
		uint8_t c[WG_HASH_LEN], h[WG_HASH_LEN], key[WG_KEY_LEN];
		uint8_t remote_static[WG_KEY_LEN];
	} s;
	noise_result ret = NOISE_ERR_NO_KEY;

	memset(&s, 0, sizeof(s));
	noise_initiation_wipe(out);
	if (!identity || !identity->has_private_key)
		goto out;
	ret = NOISE_ERR_MALFORMED;
	if (len < NOISE_MSG1_LEN(0))
		goto out;
	ret = NOISE_ERR_DECRYPT;
	initialize_state(s.c, s.h, params_or_default(params), identity->public_key);
	/* e */
	mix_key(s.c, NULL, msg1 + EPH_OFF, WG_KEY_LEN);
	mix_hash(s.h, msg1 + EPH_OFF, WG_KEY_LEN);
	/* es: a low-order ephemeral gives a zero DH */
	if (mix_dh(s.c, s.key, identity->private_key, msg1 + EPH_OFF) != 0)
		goto out;
	/* s */
	if (decrypt_and_hash(s.remote_static, msg1 + STATIC_OFF, WG_KEY_LEN + WG_TAG_LEN, s.key,
			     s.h) != 0)
		goto out;

	memcpy(out->chaining_key, s.c, WG_HASH_LEN);
	memcpy(out->hash, s.h, WG_HASH_LEN);
	memcpy(out->remote_ephemeral, msg1 + EPH_OFF, WG_KEY_LEN);
	memcpy(out->remote_static, s.remote_static, WG_KEY_LEN);
	/* An authenticated public key (encrypted only to hide it from observers): the caller
	 * looks its peer up by it, which may take time that depends on it (constant-time.md). */
	crypto_declassify(out->remote_static, WG_KEY_LEN);
	out->valid = true;
	ret = NOISE_OK;
out:
	crypto_wipe(&s, sizeof(s));
	crypto_burn_stack();
	return ret;
}

/* Per-peer part of message 1: ss and the payload. Writes the resulting C and H to c_out and
 * h_out (the caller commits them after its own checks). */
static noise_result read_message1_payload(const noise_handshake *hs, const noise_initiation *in,
					  const uint8_t *msg1, size_t len, uint8_t *payload_out,
					  uint8_t c_out[WG_HASH_LEN], uint8_t h_out[WG_HASH_LEN])
{
	uint8_t key[WG_KEY_LEN];
	noise_result ret = NOISE_ERR_STATE;

	if (!in->valid)
		goto out;
	ret = NOISE_ERR_NO_KEY;
	if (!can_handshake(hs))
		goto out;
	ret = NOISE_ERR_PEER;
	if (!crypto_equal(in->remote_static, hs->remote_static, WG_KEY_LEN))
		goto out;
	ret = NOISE_ERR_MALFORMED;
	if (len < NOISE_MSG1_LEN(0))
		goto out;
	ret = NOISE_ERR_DECRYPT;
	memcpy(c_out, in->chaining_key, WG_HASH_LEN);
	memcpy(h_out, in->hash, WG_HASH_LEN);
	mix_key(c_out, key, hs->static_static, WG_KEY_LEN);
	if (decrypt_and_hash(payload_out, msg1 + PAYLOAD1_OFF, len - PAYLOAD1_OFF, key, h_out) !=
	    0)
		goto out;
	ret = NOISE_OK;
out:
	crypto_wipe(key, sizeof(key));
	crypto_burn_stack();
	return ret;
}

static void commit_initiation(noise_handshake *hs, const noise_initiation *in,
			      const uint8_t c[WG_HASH_LEN], const uint8_t h[WG_HASH_LEN])
{
	/* A valid initiation from the peer replaces whatever we had in progress, including our
	 * own pending initiation (its response would no longer match the state). */
	noise_handshake_clear(hs);
	memcpy(hs->chaining_key, c, WG_HASH_LEN);
	memcpy(hs->hash, h, WG_HASH_LEN);
	memcpy(hs->remote_ephemeral, in->remote_ephemeral, WG_KEY_LEN);
	hs->remote_index = in->remote_index;
	hs->state = NOISE_STATE_INITIATION_CONSUMED;
}

noise_result noise_read_message1_payload(noise_handshake *hs, noise_initiation *in,
					 const uint8_t *msg1, size_t len, uint8_t *payload_out)
{
	uint8_t c[WG_HASH_LEN], h[WG_HASH_LEN];
	noise_result ret;

	ret = read_message1_payload(hs, in, msg1, len, payload_out, c, h);
	if (ret == NOISE_OK)
		commit_initiation(hs, in, c, h);
	crypto_wipe(c, sizeof(c));
	crypto_wipe(h, sizeof(h));
	noise_initiation_wipe(in);
	return ret;
}

/* ---- message 2 ---- */

noise_result noise_write_message2(noise_handshake *hs, const wg_rng *rng,
				  const uint8_t *payload, size_t payload_len, uint8_t *out)
{
	struct {
		uint8_t c[WG_HASH_LEN], h[WG_HASH_LEN], key[WG_KEY_LEN];
		uint8_t e_priv[WG_KEY_LEN];
	} s;
	noise_result ret = NOISE_ERR_STATE;

	memset(&s, 0, sizeof(s));
	if (hs->state != NOISE_STATE_INITIATION_CONSUMED)
		goto out;
	ret = NOISE_ERR_NO_KEY;
	if (!can_handshake(hs))
		goto out;
	memcpy(s.c, hs->chaining_key, WG_HASH_LEN);
	memcpy(s.h, hs->hash, WG_HASH_LEN);
	/* e */
	if (generate_ephemeral(s.e_priv, out + EPH_OFF, rng) != 0)
		goto out;
	mix_key(s.c, NULL, out + EPH_OFF, WG_KEY_LEN);
	mix_hash(s.h, out + EPH_OFF, WG_KEY_LEN);
	ret = NOISE_ERR_DECRYPT;
	/* ee, se */
	if (mix_dh(s.c, NULL, s.e_priv, hs->remote_ephemeral) != 0 ||
	    mix_dh(s.c, NULL, s.e_priv, hs->remote_static) != 0)
		goto out;
	/* psk */
	mix_psk(s.c, s.h, s.key, hs->preshared_key);
	/* payload */
	encrypt_and_hash(out + PAYLOAD2_OFF, payload, payload_len, s.key, s.h);

	memcpy(hs->chaining_key, s.c, WG_HASH_LEN);
	memcpy(hs->hash, s.h, WG_HASH_LEN);
	memcpy(hs->ephemeral_private, s.e_priv, WG_KEY_LEN);
	hs->state = NOISE_STATE_RESPONSE_CREATED;
	ret = NOISE_OK;
out:
	crypto_wipe(&s, sizeof(s));
	crypto_burn_stack();
	return ret;
}

noise_result noise_read_message2(noise_handshake *hs, const uint8_t *msg2, size_t len,
				 uint8_t *payload_out)
{
	struct {
		uint8_t c[WG_HASH_LEN], h[WG_HASH_LEN], key[WG_KEY_LEN];
	} s;
	noise_result ret = NOISE_ERR_STATE;

	memset(&s, 0, sizeof(s));
	if (hs->state != NOISE_STATE_INITIATION_CREATED)
		goto out;
	ret = NOISE_ERR_NO_KEY;
	if (!can_handshake(hs))
		goto out;
	ret = NOISE_ERR_MALFORMED;
	if (len < NOISE_MSG2_LEN(0))
		goto out;
	ret = NOISE_ERR_DECRYPT;
	memcpy(s.c, hs->chaining_key, WG_HASH_LEN);
	memcpy(s.h, hs->hash, WG_HASH_LEN);
	/* e */
	mix_key(s.c, NULL, msg2 + EPH_OFF, WG_KEY_LEN);
	mix_hash(s.h, msg2 + EPH_OFF, WG_KEY_LEN);
	/* ee, se */
	if (mix_dh(s.c, NULL, hs->ephemeral_private, msg2 + EPH_OFF) != 0 ||
	    mix_dh(s.c, NULL, hs->identity->private_key, msg2 + EPH_OFF) != 0)
		goto out;
	/* psk */
	mix_psk(s.c, s.h, s.key, hs->preshared_key);
	/* payload */
	if (decrypt_and_hash(payload_out, msg2 + PAYLOAD2_OFF, len - PAYLOAD2_OFF, s.key, s.h) !=
	    0)
		goto out;

	memcpy(hs->chaining_key, s.c, WG_HASH_LEN);
	memcpy(hs->hash, s.h, WG_HASH_LEN);
	memcpy(hs->remote_ephemeral, msg2 + EPH_OFF, WG_KEY_LEN);
	hs->state = NOISE_STATE_RESPONSE_CONSUMED;
	ret = NOISE_OK;
out:
	crypto_wipe(&s, sizeof(s));
	crypto_burn_stack();
	return ret;
}

/* ---- WireGuard messages ---- */

noise_result noise_create_initiation(noise_handshake *hs, uint64_t wall_ns, const wg_rng *rng,
				     uint32_t local_index, wg_msg_initiation *msg)
{
	uint8_t timestamp[TAI64N_LEN];
	noise_result ret;

	memset(msg, 0, sizeof(*msg));
	tai64n_from_unix_ns(timestamp, wall_ns);
	ret = noise_write_message1(hs, rng, timestamp, sizeof(timestamp),
				   (uint8_t *)msg + WG_INIT_OFF_EPHEMERAL);
	if (ret != NOISE_OK) {
		memset(msg, 0, sizeof(*msg));
		return ret;
	}
	wg_msg_set_header(msg->header, WG_MSG_INITIATION);
	wg_le32_write(msg->sender_index, local_index);
	hs->local_index = local_index;
	return NOISE_OK;
}

noise_result noise_consume_initiation_static(const wg_identity *identity,
					     const noise_params *params,
					     const uint8_t *msg, size_t len, noise_initiation *out)
{
	noise_result ret;

	if (!wg_msg_check(msg, len, WG_MSG_INITIATION)) {
		noise_initiation_wipe(out);
		return NOISE_ERR_MALFORMED;
	}
	ret = noise_read_message1_static(identity, params, msg + WG_INIT_OFF_EPHEMERAL,
					 WG_INIT_OFF_MAC1 - WG_INIT_OFF_EPHEMERAL, out);
	if (ret == NOISE_OK)
		out->remote_index = wg_le32_read(msg + WG_INIT_OFF_SENDER);
	return ret;
}

/* The previous accepted initiation was less than 1/50 s before now. */
static bool is_flood(const noise_handshake *hs, wg_time_ns now)
{
	if (!hs->has_accepted_initiation)
		return false;
	if (now < hs->last_initiation_consumption)
		return true; /* clock went backwards: be conservative */
	return now - hs->last_initiation_consumption < WG_INITIATION_MIN_INTERVAL;
}

noise_result noise_consume_initiation(noise_handshake *hs, noise_initiation *in,
				      const wg_msg_initiation *msg, wg_time_ns now)
{
	uint8_t c[WG_HASH_LEN], h[WG_HASH_LEN], timestamp[TAI64N_LEN];
	noise_result ret;

	ret = read_message1_payload(hs, in, (const uint8_t *)msg + WG_INIT_OFF_EPHEMERAL,
				    WG_INIT_OFF_MAC1 - WG_INIT_OFF_EPHEMERAL, timestamp, c, h);
	if (ret != NOISE_OK)
		goto out;
	/* Authenticated: the initiator's own clock, compared in the open for the replay rule
	 * (the order is all its timing could tell, and the initiator knows it). */
	crypto_declassify(timestamp, sizeof(timestamp));
	ret = NOISE_ERR_REPLAY;
	if (!tai64n_after(timestamp, hs->latest_timestamp))
		goto out;
	ret = NOISE_ERR_FLOOD;
	if (is_flood(hs, now))
		goto out;

	commit_initiation(hs, in, c, h);
	memcpy(hs->latest_timestamp, timestamp, TAI64N_LEN);
	hs->has_accepted_initiation = true;
	hs->last_initiation_consumption = now;
	ret = NOISE_OK;
out:
	crypto_wipe(c, sizeof(c));
	crypto_wipe(h, sizeof(h));
	crypto_wipe(timestamp, sizeof(timestamp));
	noise_initiation_wipe(in);
	return ret;
}

noise_result noise_create_response(noise_handshake *hs, const wg_rng *rng, uint32_t local_index,
				   wg_msg_response *msg)
{
	noise_result ret;

	memset(msg, 0, sizeof(*msg));
	ret = noise_write_message2(hs, rng, NULL, 0, (uint8_t *)msg + WG_RESP_OFF_EPHEMERAL);
	if (ret != NOISE_OK) {
		memset(msg, 0, sizeof(*msg));
		return ret;
	}
	wg_msg_set_header(msg->header, WG_MSG_RESPONSE);
	wg_le32_write(msg->sender_index, local_index);
	wg_le32_write(msg->receiver_index, hs->remote_index);
	hs->local_index = local_index;
	return NOISE_OK;
}

noise_result noise_consume_response(noise_handshake *hs, const uint8_t *msg, size_t len)
{
	noise_result ret;

	if (!wg_msg_check(msg, len, WG_MSG_RESPONSE))
		return NOISE_ERR_MALFORMED;
	if (hs->state != NOISE_STATE_INITIATION_CREATED ||
	    wg_le32_read(msg + WG_RESP_OFF_RECEIVER) != hs->local_index)
		return NOISE_ERR_STATE;
	ret = noise_read_message2(hs, msg + WG_RESP_OFF_EPHEMERAL,
				  WG_RESP_OFF_MAC1 - WG_RESP_OFF_EPHEMERAL, NULL);
	if (ret == NOISE_OK)
		hs->remote_index = wg_le32_read(msg + WG_RESP_OFF_SENDER);
	return ret;
}

noise_result noise_begin_session(noise_handshake *hs, noise_session_keys *keys)
{
	static const uint8_t empty[1];
	uint8_t t1[WG_HASH_LEN], t2[WG_HASH_LEN];
	bool initiator;

	if (hs->state == NOISE_STATE_RESPONSE_CONSUMED)
		initiator = true;
	else if (hs->state == NOISE_STATE_RESPONSE_CREATED)
		initiator = false;
	else
		return NOISE_ERR_STATE;
	/* Noise Split(): (T1, T2) = KDF2(C, empty) */
	crypto_kdf(t1, t2, NULL, hs->chaining_key, empty, 0);
	memcpy(keys->send_key, initiator ? t1 : t2, WG_KEY_LEN);
	memcpy(keys->recv_key, initiator ? t2 : t1, WG_KEY_LEN);
	keys->local_index = hs->local_index;
	keys->remote_index = hs->remote_index;
	keys->is_initiator = initiator;
	crypto_wipe(t1, sizeof(t1));
	crypto_wipe(t2, sizeof(t2));
	noise_handshake_clear(hs);
	crypto_burn_stack();
	return NOISE_OK;
}
