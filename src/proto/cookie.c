/* mac1 / mac2 / cookie replies (protocol-checklist.md section 5).
 * mac1 proves the sender knows our public key; mac2 proves it can receive at its source
 * address (it holds a cookie we sent there), which is what we demand under load. */
#include "proto/cookie.h"

#include <string.h>

#include "crypto/crypto.h"

#define COOKIE_MAX_INPUT (16 + 2) /* IPv6 address + port */

cookie_verdict cookie_decide(bool under_load, bool mac1_valid, bool mac2_valid)
{
	if (!mac1_valid)
		return COOKIE_VERDICT_DROP;
	if (!under_load || mac2_valid)
		return COOKIE_VERDICT_PROCESS;
	return COOKIE_VERDICT_SEND_REPLY;
}

/* The type (1 or 2) of a well-formed handshake message, 0 otherwise. */
static int handshake_type(const uint8_t *msg, size_t len)
{
	int type = wg_msg_classify(msg, len);

	return type == WG_MSG_INITIATION || type == WG_MSG_RESPONSE ? type : 0;
}

/* ---- responder ---- */

void cookie_checker_init(cookie_checker *c, const wg_identity *identity)
{
	memset(c, 0, sizeof(*c));
	c->identity = identity;
}

void cookie_checker_wipe(cookie_checker *c)
{
	crypto_aead_worker_free(c->xaead);
	crypto_wipe(c, sizeof(*c));
}

bool cookie_checker_mac1_valid(cookie_checker *c, const uint8_t *msg, size_t len)
{
	uint8_t mac[WG_MAC_LEN];
	size_t off;
	bool ok;
	int type = handshake_type(msg, len);

	if (!type || !c->identity || !c->identity->has_public_key)
		return false;
	off = wg_msg_mac1_offset((enum wg_message_type)type);
	crypto_mac_key_use(&c->mac1, c->identity->mac1_key, WG_HASH_LEN);
	crypto_mac_keyed(mac, &c->mac1, msg, off);
	ok = crypto_equal(mac, msg + off, WG_MAC_LEN);
	crypto_wipe(mac, sizeof(mac));
	return ok;
}

/* Rm older than the refresh time is replaced, so cookies handed out before stop working.
 * -1 when the RNG fails: the old secret is forgotten, not kept past its time. */
static int refresh_secret(cookie_checker *c, wg_time_ns now, const wg_rng *rng)
{
	if (c->has_secret && now >= c->secret_birth &&
	    now - c->secret_birth <= WG_COOKIE_REFRESH_TIME)
		return 0;
	if (wg_rng_fill(rng, c->secret, sizeof(c->secret)) != 0) {
		crypto_wipe(c->secret, sizeof(c->secret));
		c->has_secret = false;
		return -1;
	}
	c->secret_birth = now;
	c->has_secret = true;
	return 0;
}

cookie_result cookie_checker_make_cookie(cookie_checker *c, const uint8_t *addr, size_t addr_len,
					 uint16_t port, wg_time_ns now, const wg_rng *rng,
					 uint8_t cookie[WG_COOKIE_LEN])
{
	uint8_t input[COOKIE_MAX_INPUT];

	if (addr_len != 4 && addr_len != 16)
		return COOKIE_ERR_MALFORMED;
	if (refresh_secret(c, now, rng) != 0)
		return COOKIE_ERR_RNG;
	/* Private encoding (only we make and check it): address bytes || port big-endian. */
	memcpy(input, addr, addr_len);
	input[addr_len] = (uint8_t)(port >> 8);
	input[addr_len + 1] = (uint8_t)port;
	crypto_mac_key_use(&c->secret_mac, c->secret, sizeof(c->secret));
	crypto_mac_keyed(cookie, &c->secret_mac, input, addr_len + 2);
	return COOKIE_OK;
}

bool cookie_checker_mac2_valid(cookie_checker *c, const uint8_t *msg, size_t len,
			       const uint8_t *addr, size_t addr_len, uint16_t port,
			       wg_time_ns now, const wg_rng *rng)
{
	uint8_t cookie[WG_COOKIE_LEN], mac[WG_MAC_LEN];
	size_t off;
	bool ok = false;
	int type = handshake_type(msg, len);

	if (!type)
		return false;
	if (cookie_checker_make_cookie(c, addr, addr_len, port, now, rng, cookie) != COOKIE_OK)
		goto out;
	off = wg_msg_mac2_offset((enum wg_message_type)type);
	crypto_mac(mac, cookie, sizeof(cookie), msg, off);
	ok = crypto_equal(mac, msg + off, WG_MAC_LEN);
out:
	crypto_wipe(cookie, sizeof(cookie));
	crypto_wipe(mac, sizeof(mac));
	return ok;
}

cookie_verdict cookie_checker_validate(cookie_checker *c, const uint8_t *msg, size_t len,
				       const uint8_t *addr, size_t addr_len, uint16_t port,
				       bool under_load, wg_time_ns now, const wg_rng *rng)
{
	bool mac1 = cookie_checker_mac1_valid(c, msg, len);
	bool mac2 = false;

	/* mac2 costs a MAC and may rotate the secret: only compute it when it matters. */
	if (mac1 && under_load)
		mac2 = cookie_checker_mac2_valid(c, msg, len, addr, addr_len, port, now, rng);
	return cookie_decide(under_load, mac1, mac2);
}

/* The reply to msg (type 1 or 2) carrying cookie; out is fully written. COOKIE_ERR_RNG
 * (out zeroed) without a fresh nonce: a repeated nonce would reuse the XChaCha keystream. */
static cookie_result seal_reply(cookie_checker *c, const uint8_t *msg, int type,
				const uint8_t cookie[WG_COOKIE_LEN], const wg_rng *rng,
				wg_msg_cookie_reply *out)
{
	const uint8_t *ad;

	memset(out, 0, sizeof(*out));
	wg_msg_set_header(out->header, WG_MSG_COOKIE_REPLY);
	/* sender_index sits at offset 4 in both handshake messages */
	memcpy(out->receiver_index, msg + WG_INIT_OFF_SENDER, 4);
	if (wg_rng_fill(rng, out->nonce, sizeof(out->nonce)) != 0) {
		memset(out, 0, sizeof(*out));
		return COOKIE_ERR_RNG;
	}
	ad = msg + wg_msg_mac1_offset((enum wg_message_type)type);
	if (!c->xaead)
		c->xaead = crypto_aead_worker_new(); /* once per checker, not per reply */
	/* c->xaead keeps the subkey between replies: it derives from cookie_key (a hash of our
	 * public key) and the nonce sent in the clear, so it protects nothing an observer who
	 * knows our public key could not compute. */
	if (!c->xaead || crypto_xaead_worker_seal(c->xaead, out->encrypted_cookie, cookie,
						  WG_COOKIE_LEN, ad, WG_MAC_LEN, out->nonce,
						  c->identity->cookie_key) != 0)
		crypto_xaead_seal(out->encrypted_cookie, cookie, WG_COOKIE_LEN, ad, WG_MAC_LEN,
				  out->nonce, c->identity->cookie_key);
	return COOKIE_OK;
}

/* What both reply paths start with: a handshake message, our public key, then the cookie for
 * the sender's address (*type: the message's type). */
static cookie_result reply_cookie(cookie_checker *c, const uint8_t *msg, size_t len,
				  const uint8_t *addr, size_t addr_len, uint16_t port,
				  wg_time_ns now, const wg_rng *rng, int *type,
				  uint8_t cookie[WG_COOKIE_LEN])
{
	*type = handshake_type(msg, len);
	if (!*type)
		return COOKIE_ERR_MALFORMED;
	if (!c->identity || !c->identity->has_public_key)
		return COOKIE_ERR_NO_KEY;
	return cookie_checker_make_cookie(c, addr, addr_len, port, now, rng, cookie);
}

cookie_result cookie_checker_create_reply(cookie_checker *c, const uint8_t *msg, size_t len,
					  const uint8_t *addr, size_t addr_len, uint16_t port,
					  wg_time_ns now, const wg_rng *rng,
					  wg_msg_cookie_reply *out)
{
	uint8_t cookie[WG_COOKIE_LEN];
	cookie_result ret;
	int type;

	ret = reply_cookie(c, msg, len, addr, addr_len, port, now, rng, &type, cookie);
	if (ret == COOKIE_OK)
		ret = seal_reply(c, msg, type, cookie, rng, out);
	crypto_wipe(cookie, sizeof(cookie));
	return ret;
}

cookie_result cookie_checker_mac2_or_reply(cookie_checker *c, const uint8_t *msg, size_t len,
					   const uint8_t *addr, size_t addr_len, uint16_t port,
					   wg_time_ns now, const wg_rng *rng,
					   wg_msg_cookie_reply *out, bool *reply_made)
{
	uint8_t cookie[WG_COOKIE_LEN], mac[WG_MAC_LEN];
	cookie_result ret;
	size_t off;
	int type;

	*reply_made = false;
	ret = reply_cookie(c, msg, len, addr, addr_len, port, now, rng, &type, cookie);
	if (ret != COOKIE_OK)
		goto out;
	off = wg_msg_mac2_offset((enum wg_message_type)type);
	crypto_mac(mac, cookie, sizeof(cookie), msg, off);
	if (!crypto_equal(mac, msg + off, WG_MAC_LEN)) {
		ret = seal_reply(c, msg, type, cookie, rng, out);
		*reply_made = ret == COOKIE_OK;
	}
out:
	crypto_wipe(cookie, sizeof(cookie));
	crypto_wipe(mac, sizeof(mac));
	return ret;
}

/* ---- initiator ---- */

void cookie_maker_init(cookie_maker *m, const uint8_t peer_public[WG_KEY_LEN])
{
	memset(m, 0, sizeof(*m));
	crypto_hash2(m->mac1_key, WG_LABEL_MAC1, WG_LABEL_LEN, peer_public, WG_KEY_LEN);
	crypto_hash2(m->cookie_key, WG_LABEL_COOKIE, WG_LABEL_LEN, peer_public, WG_KEY_LEN);
}

void cookie_maker_wipe(cookie_maker *m)
{
	crypto_wipe(m, sizeof(*m));
}

static bool cookie_is_fresh(const cookie_maker *m, wg_time_ns now)
{
	return m->has_cookie && now >= m->cookie_birth &&
	       now - m->cookie_birth < WG_COOKIE_REFRESH_TIME;
}

cookie_result cookie_maker_add_macs(cookie_maker *m, uint8_t *msg, size_t len, wg_time_ns now)
{
	size_t off1, off2;
	int type = handshake_type(msg, len);

	if (!type)
		return COOKIE_ERR_MALFORMED;
	off1 = wg_msg_mac1_offset((enum wg_message_type)type);
	off2 = wg_msg_mac2_offset((enum wg_message_type)type);
	crypto_mac(msg + off1, m->mac1_key, WG_HASH_LEN, msg, off1);
	memcpy(m->last_mac1, msg + off1, WG_MAC_LEN);
	m->has_last_mac1 = true;
	if (cookie_is_fresh(m, now))
		crypto_mac(msg + off2, m->cookie, WG_COOKIE_LEN, msg, off2);
	else
		memset(msg + off2, 0, WG_MAC_LEN);
	return COOKIE_OK;
}

cookie_result cookie_maker_consume_reply(cookie_maker *m, const uint8_t *msg, size_t len,
					 wg_time_ns now)
{
	const wg_msg_cookie_reply *reply = (const wg_msg_cookie_reply *)(const void *)msg;
	uint8_t cookie[WG_COOKIE_LEN];
	cookie_result ret = COOKIE_ERR_MALFORMED;

	if (!wg_msg_check(msg, len, WG_MSG_COOKIE_REPLY))
		goto out;
	ret = COOKIE_ERR_STATE;
	if (!m->has_last_mac1)
		goto out;
	ret = COOKIE_ERR_DECRYPT;
	if (crypto_xaead_open(cookie, reply->encrypted_cookie, sizeof(reply->encrypted_cookie),
			      m->last_mac1, WG_MAC_LEN, reply->nonce, m->cookie_key) != 0)
		goto out;
	memcpy(m->cookie, cookie, WG_COOKIE_LEN);
	m->cookie_birth = now;
	m->has_cookie = true;
	/* One reply per mac1 sent: a second (replayed) reply has nothing to answer. */
	m->has_last_mac1 = false;
	ret = COOKIE_OK;
out:
	crypto_wipe(cookie, sizeof(cookie));
	return ret;
}
