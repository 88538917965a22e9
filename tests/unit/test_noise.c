/* Noise IKpsk2: the published cacophony vector and the WireGuard vector byte for byte, then
 * behaviour (round trips, wrong keys, replay, flood, stale indices, bit flips, lengths,
 * low-order keys). */
#include <stdlib.h>

#include "crypto/crypto.h"
#include "noise_testutil.h"
#include "proto/cookie.h"
#include "proto/identity.h"
#include "proto/messages.h"
#include "proto/noise.h"
#include "proto/tai64n.h"
#include "test.h"
#include "tjson.h"

static uint8_t zero_psk[32];

/* ---------------------------------------------------------------- vectors */

static void test_constants(void)
{
	noise_params p;
	uint8_t c0[32], h0[32];
	tjson *root = tjson_load_vector("noise/wireguard_handshake.json");
	const tjson *k = tjson_get(root, "constants");

	noise_params_init(&p, (const uint8_t *)WG_IDENTIFIER, WG_IDENTIFIER_LEN);
	hex_field(c0, 32, k, "C0");
	hex_field(h0, 32, k, "H0");
	CHECK_MEM(p.initial_chaining_key, c0, 32);
	CHECK_MEM(p.initial_hash, h0, 32);
	CHECK_MEM(noise_params_wireguard()->initial_chaining_key, c0, 32);
	CHECK_MEM(noise_params_wireguard()->initial_hash, h0, 32);
	CHECK_EQ_INT(strlen(WG_CONSTRUCTION), WG_CONSTRUCTION_LEN);
	CHECK_EQ_INT(strlen(WG_IDENTIFIER), WG_IDENTIFIER_LEN);
	tjson_free(root);
}

static void test_tai64n(void)
{
	uint8_t t[12], want[12], t2[12];

	test_unhex(want, 12, "400000006553f10a07000000");
	tai64n_from_unix_ns(t, 1700000000ULL * WG_NS_PER_SEC + 123456789);
	CHECK_MEM(t, want, 12);
	/* rounding: everything below the next 2^24 multiple maps to the same value */
	tai64n_from_unix_ns(t2, 1700000000ULL * WG_NS_PER_SEC + 7 * (1u << 24));
	CHECK_MEM(t2, want, 12);
	tai64n_from_unix_ns(t2, 1700000000ULL * WG_NS_PER_SEC + 8 * (1u << 24) - 1);
	CHECK_MEM(t2, want, 12);
	tai64n_from_unix_ns(t2, 1700000000ULL * WG_NS_PER_SEC + 8 * (1u << 24));
	CHECK(tai64n_after(t2, t));
	CHECK(!tai64n_after(t, t2));
	CHECK(!tai64n_after(t, t));
	tai64n_from_unix_ns(t2, 1700000001ULL * WG_NS_PER_SEC);
	CHECK(tai64n_after(t2, t));
	CHECK_EQ_INT(t2[11], 0);
	CHECK_EQ_INT(t2[7], 0x0b);
	/* the largest nanosecond value rounds to 59 * 2^24 */
	tai64n_from_unix_ns(t2, 999999999);
	CHECK_EQ_INT(((uint32_t)t2[8] << 24 | (uint32_t)t2[9] << 16 | (uint32_t)t2[10] << 8 |
		      t2[11]),
		     59u << 24);
}

static void test_cacophony(void)
{
	tjson *root = tjson_load_vector("noise/cacophony_ikpsk2.json");
	const tjson *v = tjson_get(root, "vector");
	const tjson *d = tjson_get(root, "derived_not_in_source");
	const tjson *msgs = tjson_get(v, "messages");
	uint8_t prologue[64], psk[32], s_i[32], e_i[32], s_r[32], e_r[32], rs[32], hash[32];
	uint8_t t1[32], t2[32], pub[32];
	uint8_t buf[256], want[256], pl[256], pl_want[256];
	long plen, prolen, wlen;
	noise_params p;
	wg_identity id_i, id_r;
	noise_handshake hs_i, hs_r;
	noise_initiation in;
	noise_session_keys ki, kr;
	script_rng_ctx rc_i, rc_r;
	wg_rng rng_i = script_rng_init(&rc_i, 1), rng_r = script_rng_init(&rc_r, 2);

	prolen = test_unhex(prologue, sizeof(prologue), tjson_str(v, "init_prologue"));
	CHECK(prolen == 9);
	CHECK(test_unhex(psk, 32, tjson_at(tjson_get(v, "init_psks"), 0)->str) == 32);
	hex_field(s_i, 32, v, "init_static");
	hex_field(e_i, 32, v, "init_ephemeral");
	hex_field(s_r, 32, v, "resp_static");
	hex_field(e_r, 32, v, "resp_ephemeral");
	hex_field(rs, 32, v, "init_remote_static");
	hex_field(hash, 32, v, "handshake_hash");
	hex_field(t1, 32, d, "initiator_send_key_T1");
	hex_field(t2, 32, d, "initiator_recv_key_T2");

	noise_params_init(&p, prologue, (size_t)prolen);
	CHECK_EQ_INT(wg_identity_set(&id_i, s_i), 0);
	CHECK_EQ_INT(wg_identity_set(&id_r, s_r), 0);
	CHECK_MEM(id_r.public_key, rs, 32);
	hex_field(pub, 32, d, "initiator_static_public");
	CHECK_MEM(id_i.public_key, pub, 32);
	CHECK_EQ_INT(noise_handshake_init(&hs_i, &id_i, id_r.public_key, psk, &p), NOISE_OK);
	CHECK_EQ_INT(noise_handshake_init(&hs_r, &id_r, id_i.public_key, psk, &p), NOISE_OK);
	script_rng_push(&rc_i, e_i, 32);
	script_rng_push(&rc_r, e_r, 32);

	/* message 1 */
	plen = test_unhex(pl, sizeof(pl), tjson_str(tjson_at(msgs, 0), "payload"));
	wlen = test_unhex(want, sizeof(want), tjson_str(tjson_at(msgs, 0), "ciphertext"));
	CHECK(wlen == NOISE_MSG1_LEN(plen));
	CHECK_EQ_INT(noise_write_message1(&hs_i, &rng_i, pl, (size_t)plen, buf), NOISE_OK);
	CHECK_MEM(buf, want, (size_t)wlen);
	CHECK_EQ_INT(noise_read_message1_static(&id_r, &p, buf, (size_t)wlen, &in), NOISE_OK);
	CHECK_MEM(in.remote_static, id_i.public_key, 32);
	memset(pl_want, 0xee, sizeof(pl_want));
	CHECK_EQ_INT(noise_read_message1_payload(&hs_r, &in, buf, (size_t)wlen, pl_want),
		     NOISE_OK);
	CHECK_MEM(pl_want, pl, (size_t)plen);
	CHECK(!in.valid);

	/* message 2 */
	plen = test_unhex(pl, sizeof(pl), tjson_str(tjson_at(msgs, 1), "payload"));
	wlen = test_unhex(want, sizeof(want), tjson_str(tjson_at(msgs, 1), "ciphertext"));
	CHECK(wlen == NOISE_MSG2_LEN(plen));
	CHECK_EQ_INT(noise_write_message2(&hs_r, &rng_r, pl, (size_t)plen, buf), NOISE_OK);
	CHECK_MEM(buf, want, (size_t)wlen);
	memset(pl_want, 0xee, sizeof(pl_want));
	CHECK_EQ_INT(noise_read_message2(&hs_i, buf, (size_t)wlen, pl_want), NOISE_OK);
	CHECK_MEM(pl_want, pl, (size_t)plen);
	CHECK_MEM(hs_i.hash, hash, 32);
	CHECK_MEM(hs_r.hash, hash, 32);

	/* split */
	CHECK_EQ_INT(noise_begin_session(&hs_i, &ki), NOISE_OK);
	CHECK_EQ_INT(noise_begin_session(&hs_r, &kr), NOISE_OK);
	CHECK_MEM(ki.send_key, t1, 32);
	CHECK_MEM(ki.recv_key, t2, 32);
	CHECK_MEM(kr.send_key, t2, 32);
	CHECK_MEM(kr.recv_key, t1, 32);
	CHECK(ki.is_initiator && !kr.is_initiator);
	CHECK(crypto_is_zero(hs_i.chaining_key, 32) && crypto_is_zero(hs_i.hash, 32) &&
	      crypto_is_zero(hs_i.ephemeral_private, 32));
	CHECK(crypto_is_zero(hs_r.chaining_key, 32) && crypto_is_zero(hs_r.ephemeral_private, 32));

	/* transport messages: even = initiator->responder, odd = back; counters per direction */
	for (size_t i = 2; i < msgs->n; i++) {
		const tjson *m = tjson_at(msgs, i);
		uint64_t ctr = (i - 2) / 2;
		bool from_init = (i % 2) == 0;

		plen = test_unhex(pl, sizeof(pl), tjson_str(m, "payload"));
		wlen = test_unhex(want, sizeof(want), tjson_str(m, "ciphertext"));
		CHECK(wlen == plen + 16);
		crypto_aead_seal(buf, pl, (size_t)plen, NULL, 0, ctr,
				 from_init ? ki.send_key : kr.send_key);
		CHECK_MEM(buf, want, (size_t)wlen);
		CHECK_EQ_INT(crypto_aead_open(pl_want, buf, (size_t)wlen, NULL, 0, ctr,
					      from_init ? kr.recv_key : ki.recv_key),
			     0);
		CHECK_MEM(pl_want, pl, (size_t)plen);
	}
	wg_identity_clear(&id_i);
	wg_identity_clear(&id_r);
	tjson_free(root);
}

typedef struct {
	wg_identity id_i, id_r;
	noise_handshake hs_i, hs_r;
	cookie_maker mk_i, mk_r; /* mk_i: initiator's maker for messages to the responder */
	cookie_checker ck_i, ck_r;
	script_rng_ctx rc;
	wg_rng rng;
} pair;

static void pair_init(pair *p, const uint8_t s_i[32], const uint8_t s_r[32],
		      const uint8_t psk[32], uint64_t seed)
{
	memset(p, 0, sizeof(*p));
	p->rng = script_rng_init(&p->rc, seed);
	CHECK_EQ_INT(wg_identity_set(&p->id_i, s_i), 0);
	CHECK_EQ_INT(wg_identity_set(&p->id_r, s_r), 0);
	CHECK_EQ_INT(noise_handshake_init(&p->hs_i, &p->id_i, p->id_r.public_key, psk, NULL),
		     NOISE_OK);
	CHECK_EQ_INT(noise_handshake_init(&p->hs_r, &p->id_r, p->id_i.public_key, psk, NULL),
		     NOISE_OK);
	cookie_maker_init(&p->mk_i, p->id_r.public_key);
	cookie_maker_init(&p->mk_r, p->id_i.public_key);
	cookie_checker_init(&p->ck_i, &p->id_i);
	cookie_checker_init(&p->ck_r, &p->id_r);
}

static void pair_random(pair *p, uint64_t seed)
{
	uint8_t s_i[32], s_r[32], psk[32];
	test_rng r;

	test_rng_seed(&r, seed);
	test_rng_bytes(&r, s_i, 32);
	test_rng_bytes(&r, s_r, 32);
	test_rng_bytes(&r, psk, 32);
	pair_init(p, s_i, s_r, (seed & 1) ? psk : zero_psk, seed);
}

/* Responder side of an initiation: mac1, anonymous step, per-peer step. */
static noise_result responder_consume(pair *p, const uint8_t *msg, size_t len, wg_time_ns now)
{
	noise_initiation in;
	noise_result r;

	if (!cookie_checker_mac1_valid(&p->ck_r, msg, len))
		return NOISE_ERR_MALFORMED;
	r = noise_consume_initiation_static(&p->id_r, NULL, msg, len, &in);
	if (r != NOISE_OK)
		return r;
	if (!crypto_equal(in.remote_static, p->id_i.public_key, 32)) {
		noise_initiation_wipe(&in);
		return NOISE_ERR_PEER;
	}
	return noise_consume_initiation(&p->hs_r, &in, (const wg_msg_initiation *)(const void *)msg,
					now);
}

static void test_wireguard_vector(void)
{
	tjson *root = tjson_load_vector("noise/wireguard_handshake.json");
	const tjson *k = tjson_get(root, "keys");
	const tjson *ini = tjson_get(root, "initiation");
	const tjson *res = tjson_get(root, "response");
	const tjson *tk = tjson_get(root, "transport_keys");
	const tjson *tr = tjson_get(root, "transport");
	uint8_t s_i[32], s_r[32], e_i[32], e_r[32], psk[32], x[32], hash[32];
	uint8_t want[256], buf[256];
	wg_msg_initiation init;
	wg_msg_response resp;
	noise_session_keys ki, kr;
	uint64_t wall;
	pair p;

	hex_field(s_i, 32, k, "initiator_static_private");
	hex_field(s_r, 32, k, "responder_static_private");
	hex_field(e_i, 32, k, "initiator_ephemeral_private");
	hex_field(e_r, 32, k, "responder_ephemeral_private");
	hex_field(psk, 32, k, "preshared_key");
	pair_init(&p, s_i, s_r, psk, 7);

	hex_field(x, 32, k, "initiator_static_public");
	CHECK_MEM(p.id_i.public_key, x, 32);
	hex_field(x, 32, k, "responder_static_public");
	CHECK_MEM(p.id_r.public_key, x, 32);
	hex_field(x, 32, k, "static_static_dh");
	CHECK_MEM(p.hs_i.static_static, x, 32);
	CHECK_MEM(p.hs_r.static_static, x, 32);
	hex_field(x, 32, k, "mac1_key_for_messages_to_responder");
	CHECK_MEM(p.id_r.mac1_key, x, 32);
	CHECK_MEM(p.mk_i.mac1_key, x, 32);
	hex_field(x, 32, k, "mac1_key_for_messages_to_initiator");
	CHECK_MEM(p.id_i.mac1_key, x, 32);
	CHECK_MEM(p.mk_r.mac1_key, x, 32);
	hex_field(x, 32, k, "cookie_encryption_key_of_responder");
	CHECK_MEM(p.id_r.cookie_key, x, 32);
	CHECK_MEM(p.mk_i.cookie_key, x, 32);
	hex_field(x, 32, k, "cookie_encryption_key_of_initiator");
	CHECK_MEM(p.id_i.cookie_key, x, 32);

	/* initiation */
	script_rng_push(&p.rc, e_i, 32);
	wall = tjson_u64(ini, "timestamp_unix_seconds") * WG_NS_PER_SEC +
	       tjson_u64(ini, "timestamp_unix_nanoseconds_before_rounding");
	CHECK_EQ_INT(noise_create_initiation(&p.hs_i, wall, &p.rng,
					     (uint32_t)tjson_u64(ini, "sender_index"), &init),
		     NOISE_OK);
	CHECK(crypto_is_zero(init.mac1, 16) && crypto_is_zero(init.mac2, 16));
	CHECK_EQ_INT(cookie_maker_add_macs(&p.mk_i, (uint8_t *)&init, sizeof(init), WG_SEC(1)),
		     COOKIE_OK);
	hex_field(want, 148, ini, "packet");
	CHECK_MEM(&init, want, 148);

	/* responder consumes, answers */
	CHECK_EQ_INT(responder_consume(&p, (const uint8_t *)&init, sizeof(init), WG_SEC(1)),
		     NOISE_OK);
	CHECK_EQ_INT(p.hs_r.state, NOISE_STATE_INITIATION_CONSUMED);
	CHECK_EQ_U64(p.hs_r.remote_index, tjson_u64(ini, "sender_index"));
	script_rng_push(&p.rc, e_r, 32);
	CHECK_EQ_INT(noise_create_response(&p.hs_r, &p.rng,
					   (uint32_t)tjson_u64(res, "sender_index"), &resp),
		     NOISE_OK);
	CHECK_EQ_INT(cookie_maker_add_macs(&p.mk_r, (uint8_t *)&resp, sizeof(resp), WG_SEC(1)),
		     COOKIE_OK);
	hex_field(want, 92, res, "packet");
	CHECK_MEM(&resp, want, 92);

	/* initiator consumes */
	CHECK(cookie_checker_mac1_valid(&p.ck_i, (const uint8_t *)&resp, sizeof(resp)));
	CHECK_EQ_INT(noise_consume_response(&p.hs_i, (const uint8_t *)&resp, sizeof(resp)),
		     NOISE_OK);
	hex_field(hash, 32, root, "handshake_hash");
	CHECK_MEM(p.hs_i.hash, hash, 32);
	CHECK_MEM(p.hs_r.hash, hash, 32);
	CHECK_EQ_INT(noise_begin_session(&p.hs_i, &ki), NOISE_OK);
	CHECK_EQ_INT(noise_begin_session(&p.hs_r, &kr), NOISE_OK);
	hex_field(x, 32, tk, "T1");
	CHECK_MEM(ki.send_key, x, 32);
	CHECK_MEM(kr.recv_key, x, 32);
	hex_field(x, 32, tk, "T2");
	CHECK_MEM(ki.recv_key, x, 32);
	CHECK_MEM(kr.send_key, x, 32);
	CHECK_EQ_U64(ki.local_index, tjson_u64(ini, "sender_index"));
	CHECK_EQ_U64(ki.remote_index, tjson_u64(res, "sender_index"));
	CHECK_EQ_U64(kr.local_index, tjson_u64(res, "sender_index"));
	CHECK_EQ_U64(kr.remote_index, tjson_u64(ini, "sender_index"));

	/* transport packets with the derived keys */
	for (size_t i = 0; i < tr->n; i++) {
		const tjson *t = tjson_at(tr, i);
		const char *key = tjson_str(t, "key");
		const uint8_t *send = strcmp(key, "initiator_send") == 0 ? ki.send_key
									 : kr.send_key;
		uint8_t pt[256];
		long ptlen = test_unhex(pt, sizeof(pt), tjson_str(t, "padded_plaintext"));
		long plen = test_unhex(want, sizeof(want), tjson_str(t, "packet"));
		uint64_t ctr = tjson_u64(t, "counter");

		CHECK(ptlen >= 0 && plen == ptlen + 32);
		CHECK(strcmp(key, "initiator_send") == 0 || strcmp(key, "responder_send") == 0);
		wg_msg_set_header(buf, WG_MSG_DATA);
		wg_le32_write(buf + 4, (uint32_t)tjson_u64(t, "receiver_index"));
		wg_le64_write(buf + 8, ctr);
		crypto_aead_seal(buf + 16, pt, (size_t)ptlen, NULL, 0, ctr, send);
		CHECK_MEM(buf, want, (size_t)plen);
		CHECK(wg_msg_check(buf, (size_t)plen, WG_MSG_DATA));
		CHECK_EQ_U64(wg_le32_read(buf + 4),
			     send == ki.send_key ? ki.remote_index : kr.remote_index);
	}
	tjson_free(root);
}

/* ---------------------------------------------------------------- behaviour */

/* One full handshake at monotonic time now; returns 0 if both sides got matching keys. */
static int full_handshake(pair *p, uint32_t idx_i, uint32_t idx_r, uint64_t wall,
			  wg_time_ns now, noise_session_keys *ki, noise_session_keys *kr)
{
	wg_msg_initiation init;
	wg_msg_response resp;

	if (noise_create_initiation(&p->hs_i, wall, &p->rng, idx_i, &init) != NOISE_OK ||
	    cookie_maker_add_macs(&p->mk_i, (uint8_t *)&init, sizeof(init), now) != COOKIE_OK ||
	    responder_consume(p, (const uint8_t *)&init, sizeof(init), now) != NOISE_OK ||
	    noise_create_response(&p->hs_r, &p->rng, idx_r, &resp) != NOISE_OK ||
	    cookie_maker_add_macs(&p->mk_r, (uint8_t *)&resp, sizeof(resp), now) != COOKIE_OK ||
	    !cookie_checker_mac1_valid(&p->ck_i, (const uint8_t *)&resp, sizeof(resp)) ||
	    noise_consume_response(&p->hs_i, (const uint8_t *)&resp, sizeof(resp)) != NOISE_OK ||
	    noise_begin_session(&p->hs_i, ki) != NOISE_OK ||
	    noise_begin_session(&p->hs_r, kr) != NOISE_OK)
		return -1;
	return 0;
}

static void test_round_trips(void)
{
	for (uint64_t seed = 1; seed <= 16; seed++) {
		pair p;
		noise_session_keys ki, kr;
		uint64_t wall = 1600000000ULL * WG_NS_PER_SEC;

		pair_random(&p, seed);
		/* two consecutive handshakes on the same objects (rekey) */
		for (int round = 0; round < 2; round++) {
			CHECK_EQ_INT(full_handshake(&p, 100 + (uint32_t)round, 200 + (uint32_t)round,
						    wall + WG_SEC(round), WG_SEC(10 + round), &ki,
						    &kr),
				     0);
			CHECK_MEM(ki.send_key, kr.recv_key, 32);
			CHECK_MEM(ki.recv_key, kr.send_key, 32);
			CHECK(memcmp(ki.send_key, ki.recv_key, 32) != 0);
			CHECK_EQ_U64(ki.local_index, 100 + (uint32_t)round);
			CHECK_EQ_U64(kr.remote_index, 100 + (uint32_t)round);
			CHECK_EQ_U64(kr.local_index, 200 + (uint32_t)round);
			CHECK_EQ_U64(ki.remote_index, 200 + (uint32_t)round);
			CHECK_EQ_INT(p.hs_i.state, NOISE_STATE_ZEROED);
			CHECK_EQ_INT(p.hs_r.state, NOISE_STATE_ZEROED);
		}
		/* session keys can only be taken once */
		CHECK_EQ_INT(noise_begin_session(&p.hs_i, &ki), NOISE_ERR_STATE);
	}
}

static void test_wrong_responder_key(void)
{
	pair p, other;
	wg_msg_initiation init;
	noise_initiation in;

	pair_random(&p, 21);
	pair_random(&other, 22);
	/* initiator of `other` believes the responder is other.id_r; p's responder gets it */
	CHECK_EQ_INT(noise_create_initiation(&other.hs_i, WG_SEC(1700000000), &other.rng, 5, &init),
		     NOISE_OK);
	cookie_maker_add_macs(&other.mk_i, (uint8_t *)&init, sizeof(init), 0);
	CHECK(!cookie_checker_mac1_valid(&p.ck_r, (const uint8_t *)&init, sizeof(init)));
	/* even skipping mac1 (as if the attacker recomputed it), Noise refuses */
	CHECK_EQ_INT(noise_consume_initiation_static(&p.id_r, NULL, (const uint8_t *)&init,
						     sizeof(init), &in),
		     NOISE_ERR_DECRYPT);
	CHECK(!in.valid && crypto_is_zero(&in, offsetof(noise_initiation, valid)));
}

static void test_unknown_peer(void)
{
	pair p, stranger;
	wg_msg_initiation init;
	noise_initiation in;
	noise_handshake before;

	pair_random(&p, 31);
	pair_random(&stranger, 32);
	/* the stranger knows our responder's public key but we do not know the stranger */
	CHECK_EQ_INT(noise_handshake_init(&stranger.hs_i, &stranger.id_i, p.id_r.public_key, NULL,
					  NULL),
		     NOISE_OK);
	CHECK_EQ_INT(noise_create_initiation(&stranger.hs_i, WG_SEC(1700000000), &stranger.rng, 9,
					     &init),
		     NOISE_OK);
	cookie_maker_init(&stranger.mk_i, p.id_r.public_key);
	cookie_maker_add_macs(&stranger.mk_i, (uint8_t *)&init, sizeof(init), 0);
	CHECK(cookie_checker_mac1_valid(&p.ck_r, (const uint8_t *)&init, sizeof(init)));
	CHECK_EQ_INT(noise_consume_initiation_static(&p.id_r, NULL, (const uint8_t *)&init,
						     sizeof(init), &in),
		     NOISE_OK);
	/* the device would find no peer; handing it to the wrong peer must be refused */
	CHECK_MEM(in.remote_static, stranger.id_i.public_key, 32);
	before = p.hs_r;
	CHECK_EQ_INT(noise_consume_initiation(&p.hs_r, &in, &init, WG_SEC(1)), NOISE_ERR_PEER);
	CHECK(!in.valid);
	CHECK_MEM(&p.hs_r, &before, sizeof(before));
	/* a wiped step-1 result is refused */
	CHECK_EQ_INT(noise_consume_initiation(&p.hs_r, &in, &init, WG_SEC(1)), NOISE_ERR_STATE);
}

static void test_psk_mismatch(void)
{
	pair p;
	uint8_t psk2[32];
	wg_msg_initiation init;
	wg_msg_response resp;
	noise_handshake before;
	noise_session_keys ki, kr;

	pair_random(&p, 41);
	memset(psk2, 0x42, 32);
	noise_handshake_set_preshared_key(&p.hs_r, psk2);
	CHECK_EQ_INT(noise_create_initiation(&p.hs_i, WG_SEC(1700000000), &p.rng, 1, &init),
		     NOISE_OK);
	cookie_maker_add_macs(&p.mk_i, (uint8_t *)&init, sizeof(init), 0);
	/* the PSK is not in message 1: the responder accepts the initiation */
	CHECK_EQ_INT(responder_consume(&p, (const uint8_t *)&init, sizeof(init), WG_SEC(1)),
		     NOISE_OK);
	CHECK_EQ_INT(noise_create_response(&p.hs_r, &p.rng, 2, &resp), NOISE_OK);
	before = p.hs_i;
	CHECK_EQ_INT(noise_consume_response(&p.hs_i, (const uint8_t *)&resp, sizeof(resp)),
		     NOISE_ERR_DECRYPT);
	CHECK_MEM(&p.hs_i, &before, sizeof(before));
	CHECK_EQ_INT(noise_begin_session(&p.hs_i, &ki), NOISE_ERR_STATE);
	/* with matching PSKs the same initiator state still completes */
	noise_handshake_set_preshared_key(&p.hs_r, p.hs_i.preshared_key);
	CHECK_EQ_INT(responder_consume(&p, (const uint8_t *)&init, sizeof(init), WG_SEC(2)),
		     NOISE_ERR_REPLAY);
	noise_handshake_clear(&p.hs_r);
	CHECK_EQ_INT(full_handshake(&p, 3, 4, WG_SEC(1700000001), WG_SEC(3), &ki, &kr), 0);
	CHECK_MEM(ki.send_key, kr.recv_key, 32);
}

static void test_replay_and_flood(void)
{
	pair p;
	wg_msg_initiation a, b, c;
	noise_handshake before;
	uint64_t wall = WG_SEC(1700000000);

	pair_random(&p, 51);
	CHECK_EQ_INT(noise_create_initiation(&p.hs_i, wall, &p.rng, 1, &a), NOISE_OK);
	cookie_maker_add_macs(&p.mk_i, (uint8_t *)&a, sizeof(a), 0);
	/* next one 1 s later (new timestamp), third in the same 2^24 ns bucket as the second */
	CHECK_EQ_INT(noise_create_initiation(&p.hs_i, wall + WG_SEC(1), &p.rng, 2, &b), NOISE_OK);
	cookie_maker_add_macs(&p.mk_i, (uint8_t *)&b, sizeof(b), 0);
	CHECK_EQ_INT(noise_create_initiation(&p.hs_i, wall + WG_SEC(1) + 1000, &p.rng, 3, &c),
		     NOISE_OK);
	cookie_maker_add_macs(&p.mk_i, (uint8_t *)&c, sizeof(c), 0);

	CHECK_EQ_INT(responder_consume(&p, (const uint8_t *)&a, sizeof(a), WG_SEC(10)), NOISE_OK);
	before = p.hs_r;
	/* the same packet again, long after: replay */
	CHECK_EQ_INT(responder_consume(&p, (const uint8_t *)&a, sizeof(a), WG_SEC(20)),
		     NOISE_ERR_REPLAY);
	CHECK_MEM(&p.hs_r, &before, sizeof(before));
	/* a newer timestamp 10 ms after the last accepted one: flood */
	CHECK_EQ_INT(responder_consume(&p, (const uint8_t *)&b, sizeof(b),
				       WG_SEC(10) + WG_MS(10)),
		     NOISE_ERR_FLOOD);
	CHECK_MEM(&p.hs_r, &before, sizeof(before));
	CHECK_EQ_INT(responder_consume(&p, (const uint8_t *)&b, sizeof(b),
				       WG_SEC(10) + WG_MS(20) - 1),
		     NOISE_ERR_FLOOD);
	/* at 20 ms it is accepted */
	CHECK_EQ_INT(responder_consume(&p, (const uint8_t *)&b, sizeof(b),
				       WG_SEC(10) + WG_MS(20)),
		     NOISE_OK);
	CHECK_EQ_U64(p.hs_r.remote_index, 2);
	/* equal timestamp (rounded to 2^24 ns): replay, even though it is another packet */
	CHECK_EQ_INT(responder_consume(&p, (const uint8_t *)&c, sizeof(c), WG_SEC(30)),
		     NOISE_ERR_REPLAY);
	/* an older one: replay */
	CHECK_EQ_INT(responder_consume(&p, (const uint8_t *)&a, sizeof(a), WG_SEC(40)),
		     NOISE_ERR_REPLAY);
	CHECK_EQ_U64(p.hs_r.remote_index, 2);
}

static void test_stale_response(void)
{
	pair p;
	wg_msg_initiation i1, i2;
	wg_msg_response r1, r2;
	noise_handshake before;
	noise_session_keys ki, kr;

	pair_random(&p, 61);
	/* response while nothing is pending */
	CHECK_EQ_INT(full_handshake(&p, 1, 2, WG_SEC(1700000000), WG_SEC(1), &ki, &kr), 0);
	CHECK_EQ_INT(noise_create_initiation(&p.hs_i, WG_SEC(1700000001), &p.rng, 10, &i1),
		     NOISE_OK);
	cookie_maker_add_macs(&p.mk_i, (uint8_t *)&i1, sizeof(i1), 0);
	CHECK_EQ_INT(responder_consume(&p, (const uint8_t *)&i1, sizeof(i1), WG_SEC(2)), NOISE_OK);
	CHECK_EQ_INT(noise_create_response(&p.hs_r, &p.rng, 11, &r1), NOISE_OK);
	/* a response can only be created once per initiation */
	CHECK_EQ_INT(noise_create_response(&p.hs_r, &p.rng, 12, &r2), NOISE_ERR_STATE);
	CHECK(crypto_is_zero(&r2, sizeof(r2)));

	/* the initiator retried meanwhile: r1 answers the old index 10 */
	CHECK_EQ_INT(noise_create_initiation(&p.hs_i, WG_SEC(1700000002), &p.rng, 20, &i2),
		     NOISE_OK);
	before = p.hs_i;
	CHECK_EQ_INT(noise_consume_response(&p.hs_i, (const uint8_t *)&r1, sizeof(r1)),
		     NOISE_ERR_STATE);
	CHECK_MEM(&p.hs_i, &before, sizeof(before));
	/* r1 with the receiver index patched to 20: index matches, but the ephemeral does not */
	wg_le32_write(r1.receiver_index, 20);
	CHECK_EQ_INT(noise_consume_response(&p.hs_i, (const uint8_t *)&r1, sizeof(r1)),
		     NOISE_ERR_DECRYPT);
	CHECK_MEM(&p.hs_i, &before, sizeof(before));
	/* nothing pending on a fresh object */
	noise_handshake_clear(&p.hs_i);
	wg_le32_write(r1.receiver_index, 0);
	CHECK_EQ_INT(noise_consume_response(&p.hs_i, (const uint8_t *)&r1, sizeof(r1)),
		     NOISE_ERR_STATE);
	/* a responder that consumed nothing cannot respond */
	noise_handshake_clear(&p.hs_r);
	CHECK_EQ_INT(noise_create_response(&p.hs_r, &p.rng, 12, &r2), NOISE_ERR_STATE);
}

static const uint8_t localhost[4] = {127, 0, 0, 1};

/* Sends msg (mac1 added) to the checker, which answers with a cookie reply the maker stores. */
static void give_cookie(cookie_maker *m, cookie_checker *c, void *msg, size_t len,
			const wg_rng *rng)
{
	wg_msg_cookie_reply reply;

	CHECK_EQ_INT(cookie_maker_add_macs(m, msg, len, 0), COOKIE_OK);
	CHECK_EQ_INT(cookie_checker_create_reply(c, msg, len, localhost, 4, 1, 0, rng, &reply),
		     COOKIE_OK);
	CHECK_EQ_INT(cookie_maker_consume_reply(m, (const uint8_t *)&reply, sizeof(reply), 0),
		     COOKIE_OK);
}

/* Every single-bit flip of an initiation and a response is rejected: by mac1 as sent, and
 * by Noise itself when the attacker recomputes mac1 (everything but the unauthenticated
 * sender index, which only mac1 covers). */
static void test_bit_flips(void)
{
	pair p;
	wg_msg_initiation init, bad;
	wg_msg_response resp, rbad;
	noise_handshake hs_r0, hs_i0;
	unsigned rejected = 0, accepted_index_flips = 0;
	noise_session_keys ki, kr;

	pair_random(&p, 71);
	hs_r0 = p.hs_r;
	CHECK_EQ_INT(noise_create_initiation(&p.hs_i, WG_SEC(1700000000), &p.rng, 77, &init),
		     NOISE_OK);
	/* both sides hold a cookie for 127.0.0.1:1, so mac2 is valid under load */
	give_cookie(&p.mk_i, &p.ck_r, &init, sizeof(init), &p.rng);
	cookie_maker_add_macs(&p.mk_i, (uint8_t *)&init, sizeof(init), 0);
	CHECK(cookie_checker_validate(&p.ck_r, (const uint8_t *)&init, sizeof(init), localhost, 4,
				      1, true, 0, &p.rng) == COOKIE_VERDICT_PROCESS);
	for (size_t bit = 0; bit < 8 * sizeof(init); bit++) {
		for (int remac = 0; remac < 2; remac++) {
			noise_result r;
			bool in_mac2 = bit / 8 >= WG_INIT_OFF_MAC2;
			bool in_index = bit / 8 >= 4 && bit / 8 < 8;

			if (remac && bit / 8 >= WG_INIT_OFF_MAC1)
				continue; /* the mac fields are what remac rewrites */
			bad = init;
			((uint8_t *)&bad)[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			if (remac)
				cookie_maker_add_macs(&p.mk_i, (uint8_t *)&bad, sizeof(bad), 0);
			p.hs_r = hs_r0;
			r = responder_consume(&p, (const uint8_t *)&bad, sizeof(bad), WG_SEC(1));
			if (in_mac2) {
				/* mac2 only counts under load: there a flipped mac2 fails */
				CHECK(cookie_checker_validate(&p.ck_r, (const uint8_t *)&bad,
							      sizeof(bad), localhost, 4, 1, true, 0, &p.rng) !=
				      COOKIE_VERDICT_PROCESS);
				rejected++;
			} else if (remac && in_index) {
				CHECK_EQ_INT(r, NOISE_OK);
				accepted_index_flips++;
			} else {
				CHECK_MSG(r != NOISE_OK, "init bit %zu remac %d accepted", bit,
					  remac);
				CHECK_MEM(&p.hs_r, &hs_r0, sizeof(hs_r0));
				rejected++;
			}
		}
	}
	CHECK_EQ_INT(accepted_index_flips, 32);
	CHECK_EQ_INT(rejected, 148 * 8 + 116 * 8 - 32);

	/* the untouched initiation still works, then every flipped response is refused */
	p.hs_r = hs_r0;
	CHECK_EQ_INT(responder_consume(&p, (const uint8_t *)&init, sizeof(init), WG_SEC(1)),
		     NOISE_OK);
	CHECK_EQ_INT(noise_create_response(&p.hs_r, &p.rng, 78, &resp), NOISE_OK);
	give_cookie(&p.mk_r, &p.ck_i, &resp, sizeof(resp), &p.rng);
	cookie_maker_add_macs(&p.mk_r, (uint8_t *)&resp, sizeof(resp), 0);
	CHECK(cookie_checker_validate(&p.ck_i, (const uint8_t *)&resp, sizeof(resp), localhost, 4,
				      1, true, 0, &p.rng) == COOKIE_VERDICT_PROCESS);
	hs_i0 = p.hs_i;
	accepted_index_flips = 0;
	for (size_t bit = 0; bit < 8 * sizeof(resp); bit++) {
		for (int remac = 0; remac < 2; remac++) {
			bool in_mac2 = bit / 8 >= WG_RESP_OFF_MAC2;
			bool in_sender = bit / 8 >= 4 && bit / 8 < 8;
			noise_result r = NOISE_ERR_MALFORMED;

			if (remac && bit / 8 >= WG_RESP_OFF_MAC1)
				continue;
			rbad = resp;
			((uint8_t *)&rbad)[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			if (remac)
				cookie_maker_add_macs(&p.mk_r, (uint8_t *)&rbad, sizeof(rbad), 0);
			if (in_mac2) {
				CHECK(cookie_checker_validate(&p.ck_i, (const uint8_t *)&rbad,
							      sizeof(rbad), localhost, 4, 1, true, 0, &p.rng) !=
				      COOKIE_VERDICT_PROCESS);
				continue;
			}
			if (cookie_checker_mac1_valid(&p.ck_i, (const uint8_t *)&rbad, sizeof(rbad)))
				r = noise_consume_response(&p.hs_i, (const uint8_t *)&rbad,
							   sizeof(rbad));
			if (remac && in_sender) {
				/* responder's sender index is covered by mac1 only */
				CHECK_EQ_INT(r, NOISE_OK);
				accepted_index_flips++;
				p.hs_i = hs_i0;
				continue;
			}
			CHECK_MSG(r != NOISE_OK, "resp bit %zu remac %d accepted", bit, remac);
			CHECK_MEM(&p.hs_i, &hs_i0, sizeof(hs_i0));
		}
	}
	CHECK_EQ_INT(accepted_index_flips, 32);
	CHECK_EQ_INT(noise_consume_response(&p.hs_i, (const uint8_t *)&resp, sizeof(resp)),
		     NOISE_OK);
	CHECK_EQ_INT(noise_begin_session(&p.hs_i, &ki), NOISE_OK);
	CHECK_EQ_INT(noise_begin_session(&p.hs_r, &kr), NOISE_OK);
	CHECK_MEM(ki.send_key, kr.recv_key, 32);
	cookie_checker_wipe(&p.ck_r);
	cookie_checker_wipe(&p.ck_i);
}

static void test_lengths_and_reserved(void)
{
	pair p;
	uint8_t buf[200];
	wg_msg_initiation init;
	wg_msg_response resp;
	noise_initiation in;
	noise_handshake before;

	pair_random(&p, 81);
	CHECK_EQ_INT(noise_create_initiation(&p.hs_i, WG_SEC(1700000000), &p.rng, 1, &init),
		     NOISE_OK);
	cookie_maker_add_macs(&p.mk_i, (uint8_t *)&init, sizeof(init), 0);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &init, sizeof(init));
	for (size_t len = 0; len < sizeof(buf); len++) {
		noise_result r = noise_consume_initiation_static(&p.id_r, NULL, buf, len, &in);

		if (len == 148) {
			CHECK_EQ_INT(r, NOISE_OK);
			noise_initiation_wipe(&in);
		} else {
			CHECK_EQ_INT(r, NOISE_ERR_MALFORMED);
			CHECK(!cookie_checker_mac1_valid(&p.ck_r, buf, len));
			CHECK_EQ_INT(wg_msg_classify(buf, len), 0);
		}
	}
	for (size_t i = 0; i < 4; i++) {
		memcpy(buf, &init, sizeof(init));
		buf[i] ^= (uint8_t)(i == 0 ? 0x02 : 0x01); /* type 3, or a reserved byte set */
		CHECK_EQ_INT(noise_consume_initiation_static(&p.id_r, NULL, buf, 148, &in),
			     NOISE_ERR_MALFORMED);
		CHECK(!cookie_checker_mac1_valid(&p.ck_r, buf, 148));
	}

	CHECK_EQ_INT(responder_consume(&p, (const uint8_t *)&init, sizeof(init), WG_SEC(1)),
		     NOISE_OK);
	CHECK_EQ_INT(noise_create_response(&p.hs_r, &p.rng, 2, &resp), NOISE_OK);
	cookie_maker_add_macs(&p.mk_r, (uint8_t *)&resp, sizeof(resp), 0);
	before = p.hs_i;
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &resp, sizeof(resp));
	for (size_t len = 0; len < sizeof(buf); len++) {
		if (len == 92)
			continue;
		CHECK_EQ_INT(noise_consume_response(&p.hs_i, buf, len), NOISE_ERR_MALFORMED);
	}
	for (size_t i = 1; i < 4; i++) {
		memcpy(buf, &resp, sizeof(resp));
		buf[i] = 0x80;
		CHECK_EQ_INT(noise_consume_response(&p.hs_i, buf, 92), NOISE_ERR_MALFORMED);
	}
	memcpy(buf, &resp, sizeof(resp));
	buf[0] = WG_MSG_INITIATION;
	CHECK_EQ_INT(noise_consume_response(&p.hs_i, buf, 92), NOISE_ERR_MALFORMED);
	CHECK_MEM(&p.hs_i, &before, sizeof(before));
	CHECK_EQ_INT(noise_consume_response(&p.hs_i, (const uint8_t *)&resp, 92), NOISE_OK);

	/* classify */
	memset(buf, 0, sizeof(buf));
	buf[0] = 4;
	CHECK_EQ_INT(wg_msg_classify(buf, 31), 0);
	CHECK_EQ_INT(wg_msg_classify(buf, 32), WG_MSG_DATA);
	CHECK_EQ_INT(wg_msg_classify(buf, 200), WG_MSG_DATA);
	buf[3] = 1;
	CHECK_EQ_INT(wg_msg_classify(buf, 32), 0);
	buf[3] = 0;
	buf[0] = 3;
	CHECK_EQ_INT(wg_msg_classify(buf, 64), WG_MSG_COOKIE_REPLY);
	CHECK_EQ_INT(wg_msg_classify(buf, 65), 0);
	buf[0] = 5;
	CHECK_EQ_INT(wg_msg_classify(buf, 64), 0);
	buf[0] = 0;
	CHECK_EQ_INT(wg_msg_classify(buf, 148), 0);
	CHECK_EQ_INT(wg_msg_classify(NULL, 0), 0);
}

static void test_low_order_and_no_key(void)
{
	/* Low-order points of Curve25519 (and 0): any DH with them is all zero. */
	static const char *low_order[] = {
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	};
	pair p;
	uint8_t key[32];
	noise_handshake hs;
	wg_msg_initiation init;
	noise_initiation in;
	wg_identity none;

	pair_random(&p, 91);
	for (size_t i = 0; i < sizeof(low_order) / sizeof(low_order[0]); i++) {
		test_unhex(key, 32, low_order[i]);
		CHECK_EQ_INT(noise_handshake_init(&hs, &p.id_i, key, NULL, NULL),
			     NOISE_ERR_NO_KEY);
		CHECK(!hs.has_static_static);
		CHECK_EQ_INT(noise_create_initiation(&hs, WG_SEC(1700000000), &p.rng, 1, &init),
			     NOISE_ERR_NO_KEY);
		CHECK(crypto_is_zero(&init, sizeof(init)));
		CHECK_EQ_INT(hs.state, NOISE_STATE_ZEROED);

		/* a valid initiation whose ephemeral is replaced by a low-order point */
		CHECK_EQ_INT(noise_create_initiation(&p.hs_i, WG_SEC(1700000000) + WG_SEC(i),
						     &p.rng, 1, &init),
			     NOISE_OK);
		memcpy(init.ephemeral, key, 32);
		cookie_maker_add_macs(&p.mk_i, (uint8_t *)&init, sizeof(init), 0);
		CHECK_EQ_INT(noise_consume_initiation_static(&p.id_r, NULL, (const uint8_t *)&init,
							     sizeof(init), &in),
			     NOISE_ERR_DECRYPT);
	}
	/* a peer whose key is low order can never be accepted either */
	test_unhex(key, 32, low_order[2]);
	CHECK_EQ_INT(noise_handshake_init(&hs, &p.id_r, key, NULL, NULL), NOISE_ERR_NO_KEY);
	memset(&in, 0, sizeof(in));
	memcpy(in.remote_static, key, 32);
	in.valid = true;
	CHECK_EQ_INT(noise_consume_initiation(&hs, &in, &init, WG_SEC(1)), NOISE_ERR_NO_KEY);
	CHECK(!in.valid);

	/* no private key: init says so, nothing can be sent or received */
	memset(key, 0, 32);
	CHECK_EQ_INT(wg_identity_set(&none, key), 0);
	CHECK(!none.has_private_key);
	CHECK_EQ_INT(noise_handshake_init(&hs, &none, p.id_r.public_key, NULL, NULL),
		     NOISE_ERR_NO_KEY);
	CHECK_EQ_INT(noise_create_initiation(&hs, WG_SEC(1700000000), &p.rng, 1, &init),
		     NOISE_ERR_NO_KEY);
	CHECK_EQ_INT(noise_create_initiation(&p.hs_i, WG_SEC(1700000100), &p.rng, 1, &init),
		     NOISE_OK);
	CHECK_EQ_INT(noise_consume_initiation_static(&none, NULL, (const uint8_t *)&init,
						     sizeof(init), &in),
		     NOISE_ERR_NO_KEY);
	/* identity gets a key: identity_changed makes the handshake usable */
	memset(key, 0x5a, 32);
	CHECK_EQ_INT(wg_identity_set(&none, key), 0);
	CHECK_EQ_INT(noise_handshake_identity_changed(&hs), NOISE_OK);
	CHECK_EQ_INT(noise_create_initiation(&hs, WG_SEC(1700000000), &p.rng, 1, &init), NOISE_OK);
	CHECK_EQ_INT(noise_handshake_identity_changed(&hs), NOISE_OK);
	CHECK_EQ_INT(hs.state, NOISE_STATE_ZEROED);
	CHECK(crypto_is_zero(hs.ephemeral_private, 32));
}

static void test_identity(void)
{
	wg_identity id;
	uint8_t key[32], pub[32];

	memset(key, 0xff, 32);
	CHECK_EQ_INT(wg_identity_set(&id, key), 0);
	CHECK(id.has_private_key);
	CHECK_EQ_INT(id.private_key[0], 0xf8);
	CHECK_EQ_INT(id.private_key[31], 0x7f);
	CHECK_EQ_INT(crypto_x25519_public(pub, key), 0);
	CHECK_MEM(id.public_key, pub, 32);
	/* setting the key from its own storage works */
	CHECK_EQ_INT(wg_identity_set(&id, id.private_key), 0);
	CHECK_MEM(id.public_key, pub, 32);
	wg_identity_clear(&id);
	CHECK(!id.has_private_key && crypto_is_zero(&id, sizeof(id)));
}

int main(void)
{
	test_constants();
	test_tai64n();
	test_identity();
	test_cacophony();
	test_wireguard_vector();
	test_round_trips();
	test_wrong_responder_key();
	test_unknown_peer();
	test_psk_mismatch();
	test_replay_and_flood();
	test_stale_response();
	test_bit_flips();
	test_lengths_and_reserved();
	test_low_order_and_no_key();
	return test_finish("noise");
}
