/* mac1 / mac2 / cookie replies: the vector's cookie example byte for byte, the under-load
 * rule, secret rotation, cookie freshness, and hostile cookie replies. */
#include <stdlib.h>

#include "crypto/crypto.h"
#include "noise_testutil.h"
#include "proto/cookie.h"
#include "proto/identity.h"
#include "proto/messages.h"
#include "test.h"
#include "tjson.h"

static const uint8_t addr4[4] = {192, 0, 2, 1};
static const uint8_t addr6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};

typedef struct {
	tjson *root;
	wg_identity id_i, id_r;
	uint8_t init[WG_MSG_INITIATION_LEN]; /* the vector initiation, mac2 = 0 */
	uint8_t resp[WG_MSG_RESPONSE_LEN];
	script_rng_ctx rc;
	wg_rng rng;
} fixture;

static void fixture_init(fixture *f, uint64_t seed)
{
	uint8_t k[32];
	const tjson *keys;

	memset(f, 0, sizeof(*f));
	f->root = tjson_load_vector("noise/wireguard_handshake.json");
	keys = tjson_get(f->root, "keys");
	hex_field(k, 32, keys, "initiator_static_private");
	CHECK_EQ_INT(wg_identity_set(&f->id_i, k), 0);
	hex_field(k, 32, keys, "responder_static_private");
	CHECK_EQ_INT(wg_identity_set(&f->id_r, k), 0);
	hex_field(f->init, sizeof(f->init), tjson_get(f->root, "initiation"), "packet");
	hex_field(f->resp, sizeof(f->resp), tjson_get(f->root, "response"), "packet");
	f->rng = script_rng_init(&f->rc, seed);
}

static void fixture_free(fixture *f)
{
	tjson_free(f->root);
}

static void test_decide(void)
{
	for (int load = 0; load < 2; load++)
		for (int m1 = 0; m1 < 2; m1++)
			for (int m2 = 0; m2 < 2; m2++) {
				cookie_verdict v = cookie_decide(load, m1, m2);
				cookie_verdict want = !m1		? COOKIE_VERDICT_DROP
						      : !load || m2 ? COOKIE_VERDICT_PROCESS
								    : COOKIE_VERDICT_SEND_REPLY;
				CHECK_EQ_INT(v, want);
			}
	CHECK_EQ_INT(cookie_decide(true, true, false), COOKIE_VERDICT_SEND_REPLY);
	CHECK_EQ_INT(cookie_decide(false, false, true), COOKIE_VERDICT_DROP);
}

static void test_vector_cookie_example(void)
{
	fixture f;
	const tjson *ce;
	uint8_t secret[32], nonce[24], cookie[16], want[148], mac2[16], x[16];
	cookie_checker ck;
	cookie_maker mk;
	wg_msg_cookie_reply reply;
	uint8_t pkt[148];

	fixture_init(&f, 1);
	ce = tjson_get(f.root, "cookie_example");
	hex_field(secret, 32, ce, "responder_cookie_secret");
	hex_field(nonce, 24, ce, "nonce");
	hex_field(cookie, 16, ce, "cookie");
	hex_field(mac2, 16, ce, "mac2");
	CHECK_EQ_U64(tjson_u64(ce, "source_port"), 51820);
	CHECK(strcmp(tjson_str(ce, "source_ip"), "192.0.2.1") == 0);
	script_rng_push(&f.rc, secret, 32);
	script_rng_push(&f.rc, nonce, 24);

	cookie_checker_init(&ck, &f.id_r);
	CHECK(cookie_checker_mac1_valid(&ck, f.init, sizeof(f.init)));
	/* under load, no mac2 yet: answer with a cookie reply */
	CHECK_EQ_INT(cookie_checker_validate(&ck, f.init, sizeof(f.init), addr4, 4, 51820, true,
					     WG_SEC(5), &f.rng),
		     COOKIE_VERDICT_SEND_REPLY);
	CHECK_EQ_INT(cookie_checker_make_cookie(&ck, addr4, 4, 51820, WG_SEC(5), &f.rng, x),
		     COOKIE_OK);
	CHECK_MEM(x, cookie, 16);
	CHECK_EQ_INT(cookie_checker_create_reply(&ck, f.init, sizeof(f.init), addr4, 4, 51820,
						 WG_SEC(5), &f.rng, &reply),
		     COOKIE_OK);
	hex_field(want, 64, ce, "cookie_reply_packet");
	CHECK_MEM(&reply, want, 64);

	/* the initiator: it sent this initiation (mac1 remembered), stores the cookie */
	cookie_maker_init(&mk, f.id_r.public_key);
	memcpy(pkt, f.init, sizeof(pkt));
	CHECK_EQ_INT(cookie_maker_add_macs(&mk, pkt, sizeof(pkt), WG_SEC(4)), COOKIE_OK);
	CHECK_MEM(pkt, f.init, sizeof(pkt));
	CHECK_EQ_INT(cookie_maker_consume_reply(&mk, (const uint8_t *)&reply, sizeof(reply),
						WG_SEC(6)),
		     COOKIE_OK);
	CHECK(mk.has_cookie);
	CHECK_MEM(mk.cookie, cookie, 16);
	/* its next initiation (here: the same bytes) carries mac2 */
	CHECK_EQ_INT(cookie_maker_add_macs(&mk, pkt, sizeof(pkt), WG_SEC(7)), COOKIE_OK);
	hex_field(want, 148, ce, "initiation_with_mac2");
	CHECK_MEM(pkt, want, 148);
	CHECK_MEM(pkt + WG_INIT_OFF_MAC2, mac2, 16);
	CHECK(cookie_checker_mac2_valid(&ck, pkt, sizeof(pkt), addr4, 4, 51820, WG_SEC(8), &f.rng));
	CHECK_EQ_INT(cookie_checker_validate(&ck, pkt, sizeof(pkt), addr4, 4, 51820, true, WG_SEC(8),
					     &f.rng),
		     COOKIE_VERDICT_PROCESS);
	/* bound to the source: another port or address does not validate */
	CHECK(!cookie_checker_mac2_valid(&ck, pkt, sizeof(pkt), addr4, 4, 51821, WG_SEC(8), &f.rng));
	CHECK(!cookie_checker_mac2_valid(&ck, pkt, sizeof(pkt), addr6, 16, 51820, WG_SEC(8),
					 &f.rng));
	CHECK_EQ_INT(cookie_checker_validate(&ck, pkt, sizeof(pkt), addr4, 4, 1, true, WG_SEC(8),
					     &f.rng),
		     COOKIE_VERDICT_SEND_REPLY);
	/* not under load: mac2 is not needed */
	CHECK_EQ_INT(cookie_checker_validate(&ck, f.init, sizeof(f.init), addr4, 4, 1, false,
					     WG_SEC(8), &f.rng),
		     COOKIE_VERDICT_PROCESS);
	cookie_checker_wipe(&ck);
	cookie_maker_wipe(&mk);
	fixture_free(&f);
}

static void test_mac1(void)
{
	fixture f;
	cookie_checker ck_r, ck_i;
	cookie_maker mk;
	uint8_t pkt[148];

	fixture_init(&f, 2);
	cookie_checker_init(&ck_r, &f.id_r);
	cookie_checker_init(&ck_i, &f.id_i);
	/* messages to the responder are checked with the responder's key only */
	CHECK(cookie_checker_mac1_valid(&ck_r, f.init, sizeof(f.init)));
	CHECK(!cookie_checker_mac1_valid(&ck_i, f.init, sizeof(f.init)));
	CHECK(cookie_checker_mac1_valid(&ck_i, f.resp, sizeof(f.resp)));
	CHECK(!cookie_checker_mac1_valid(&ck_r, f.resp, sizeof(f.resp)));
	CHECK_EQ_INT(cookie_checker_validate(&ck_i, f.init, sizeof(f.init), addr4, 4, 1, false, 0,
					     &f.rng),
		     COOKIE_VERDICT_DROP);
	/* wrong lengths and types are never valid */
	CHECK(!cookie_checker_mac1_valid(&ck_r, f.init, sizeof(f.init) - 1));
	memcpy(pkt, f.init, sizeof(pkt));
	pkt[0] = WG_MSG_COOKIE_REPLY;
	CHECK(!cookie_checker_mac1_valid(&ck_r, pkt, sizeof(pkt)));
	pkt[0] = WG_MSG_INITIATION;
	pkt[2] = 1;
	CHECK(!cookie_checker_mac1_valid(&ck_r, pkt, sizeof(pkt)));
	/* every bit of the covered bytes and of mac1 matters */
	for (size_t bit = 0; bit < 8 * WG_INIT_OFF_MAC2; bit++) {
		memcpy(pkt, f.init, sizeof(pkt));
		pkt[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CHECK_MSG(!cookie_checker_mac1_valid(&ck_r, pkt, sizeof(pkt)), "bit %zu", bit);
	}
	/* mac2 is outside mac1's coverage */
	memcpy(pkt, f.init, sizeof(pkt));
	pkt[WG_INIT_OFF_MAC2] ^= 1;
	CHECK(cookie_checker_mac1_valid(&ck_r, pkt, sizeof(pkt)));
	/* maker refuses non-handshake buffers */
	cookie_maker_init(&mk, f.id_r.public_key);
	CHECK_EQ_INT(cookie_maker_add_macs(&mk, pkt, 147, 0), COOKIE_ERR_MALFORMED);
	CHECK(!mk.has_last_mac1);
	/* a checker without a key validates nothing */
	{
		wg_identity none;
		cookie_checker ck_none;

		memset(&none, 0, sizeof(none));
		cookie_checker_init(&ck_none, &none);
		CHECK(!cookie_checker_mac1_valid(&ck_none, f.init, sizeof(f.init)));
		wg_msg_cookie_reply reply;
		CHECK_EQ_INT(cookie_checker_create_reply(&ck_none, f.init, sizeof(f.init), addr4, 4,
							 1, 0, &f.rng, &reply),
			     COOKIE_ERR_NO_KEY);
	}
	fixture_free(&f);
}

/* A cookie from the checker at time t for addr:port, through a real reply. */
static void fetch_cookie(cookie_maker *mk, cookie_checker *ck, uint8_t *pkt, size_t len,
			 const uint8_t *addr, size_t alen, uint16_t port, wg_time_ns t,
			 const wg_rng *rng)
{
	wg_msg_cookie_reply reply;

	CHECK_EQ_INT(cookie_maker_add_macs(mk, pkt, len, t), COOKIE_OK);
	CHECK_EQ_INT(cookie_checker_create_reply(ck, pkt, len, addr, alen, port, t, rng, &reply),
		     COOKIE_OK);
	CHECK_EQ_INT(cookie_maker_consume_reply(mk, (const uint8_t *)&reply, sizeof(reply), t),
		     COOKIE_OK);
}

static void test_secret_rotation(void)
{
	fixture f;
	cookie_checker ck;
	cookie_maker mk;
	uint8_t pkt[148], old_secret[32], c1[16], c2[16];
	wg_time_ns t0 = WG_SEC(1000);
	const struct crypto_aead_worker *xaead;

	fixture_init(&f, 3);
	cookie_checker_init(&ck, &f.id_r);
	cookie_maker_init(&mk, f.id_r.public_key);
	memcpy(pkt, f.init, sizeof(pkt));
	fetch_cookie(&mk, &ck, pkt, sizeof(pkt), addr6, 16, 443, t0, &f.rng);
	xaead = ck.xaead; /* made by the first reply, reused by the next (below) */
	CHECK(xaead != NULL);
	memcpy(old_secret, ck.secret, 32);
	CHECK_EQ_INT(cookie_maker_add_macs(&mk, pkt, sizeof(pkt), t0 + WG_SEC(1)), COOKIE_OK);
	CHECK(!crypto_is_zero(pkt + WG_INIT_OFF_MAC2, 16));

	/* 120 s after the secret was made it still validates */
	CHECK(cookie_checker_mac2_valid(&ck, pkt, sizeof(pkt), addr6, 16, 443, t0 + WG_SEC(120),
					&f.rng));
	CHECK_MEM(ck.secret, old_secret, 32);
	/* after that the secret is regenerated and the old cookie stops validating */
	CHECK(!cookie_checker_mac2_valid(&ck, pkt, sizeof(pkt), addr6, 16, 443,
					 t0 + WG_SEC(120) + 1, &f.rng));
	CHECK(memcmp(ck.secret, old_secret, 32) != 0);
	CHECK_EQ_U64(ck.secret_birth, t0 + WG_SEC(120) + 1);
	/* the cookie for the same source differs now; a new reply makes mac2 valid again */
	CHECK_EQ_INT(cookie_checker_make_cookie(&ck, addr6, 16, 443, t0 + WG_SEC(121), &f.rng, c2),
		     COOKIE_OK);
	CHECK(memcmp(c2, mk.cookie, 16) != 0);
	fetch_cookie(&mk, &ck, pkt, sizeof(pkt), addr6, 16, 443, t0 + WG_SEC(122), &f.rng);
	CHECK(ck.xaead == xaead);
	CHECK_EQ_INT(cookie_maker_add_macs(&mk, pkt, sizeof(pkt), t0 + WG_SEC(122)), COOKIE_OK);
	CHECK(cookie_checker_mac2_valid(&ck, pkt, sizeof(pkt), addr6, 16, 443, t0 + WG_SEC(123),
					&f.rng));
	/* cookie input: address length must be 4 or 16 */
	CHECK_EQ_INT(cookie_checker_make_cookie(&ck, addr6, 5, 443, t0, &f.rng, c1),
		     COOKIE_ERR_MALFORMED);
	CHECK(!cookie_checker_mac2_valid(&ck, pkt, sizeof(pkt), addr6, 0, 443, t0 + WG_SEC(123),
					 &f.rng));
	{
		wg_msg_cookie_reply reply;
		CHECK_EQ_INT(cookie_checker_create_reply(&ck, pkt, sizeof(pkt), addr6, 15, 1, 0,
							 &f.rng, &reply),
			     COOKIE_ERR_MALFORMED);
		CHECK_EQ_INT(cookie_checker_create_reply(&ck, pkt, 100, addr6, 16, 1, 0, &f.rng,
							 &reply),
			     COOKIE_ERR_MALFORMED);
	}
	/* IPv4 and IPv6 cookies differ, and so do ports */
	CHECK_EQ_INT(cookie_checker_make_cookie(&ck, addr4, 4, 443, t0 + WG_SEC(123), &f.rng, c1),
		     COOKIE_OK);
	CHECK_EQ_INT(cookie_checker_make_cookie(&ck, addr4, 4, 444, t0 + WG_SEC(123), &f.rng, c2),
		     COOKIE_OK);
	CHECK(memcmp(c1, c2, 16) != 0);
	cookie_checker_wipe(&ck);
	fixture_free(&f);
}

static void test_mac2_freshness(void)
{
	fixture f;
	cookie_checker ck;
	cookie_maker mk;
	uint8_t pkt[148], want[16];
	wg_time_ns t0 = WG_SEC(50);

	fixture_init(&f, 4);
	cookie_checker_init(&ck, &f.id_r);
	cookie_maker_init(&mk, f.id_r.public_key);
	memcpy(pkt, f.init, sizeof(pkt));
	/* no cookie: mac2 zero */
	CHECK_EQ_INT(cookie_maker_add_macs(&mk, pkt, sizeof(pkt), t0), COOKIE_OK);
	CHECK(crypto_is_zero(pkt + WG_INIT_OFF_MAC2, 16));
	fetch_cookie(&mk, &ck, pkt, sizeof(pkt), addr4, 4, 9, t0, &f.rng);
	CHECK_EQ_U64(mk.cookie_birth, t0);
	CHECK_EQ_INT(cookie_maker_add_macs(&mk, pkt, sizeof(pkt), t0 + WG_SEC(120) - 1),
		     COOKIE_OK);
	crypto_mac(want, mk.cookie, 16, pkt, WG_INIT_OFF_MAC2);
	CHECK_MEM(pkt + WG_INIT_OFF_MAC2, want, 16);
	CHECK(!crypto_is_zero(want, 16));
	/* 120 s old: not used any more */
	CHECK_EQ_INT(cookie_maker_add_macs(&mk, pkt, sizeof(pkt), t0 + WG_SEC(120)), COOKIE_OK);
	CHECK(crypto_is_zero(pkt + WG_INIT_OFF_MAC2, 16));
	/* mac2 on a response message works the same (type 2 offsets) */
	cookie_maker_init(&mk, f.id_i.public_key);
	cookie_checker_wipe(&ck); /* before it is initialized again */
	cookie_checker_init(&ck, &f.id_i);
	memcpy(want, f.resp + WG_RESP_OFF_MAC1, 16);
	fetch_cookie(&mk, &ck, f.resp, sizeof(f.resp), addr4, 4, 9, t0, &f.rng);
	CHECK_MEM(f.resp + WG_RESP_OFF_MAC1, want, 16); /* same mac1 as in the vector */
	CHECK_EQ_INT(cookie_maker_add_macs(&mk, f.resp, sizeof(f.resp), t0 + 1), COOKIE_OK);
	CHECK(!crypto_is_zero(f.resp + WG_RESP_OFF_MAC2, 16));
	CHECK(cookie_checker_mac2_valid(&ck, f.resp, sizeof(f.resp), addr4, 4, 9, t0 + 2, &f.rng));
	CHECK_EQ_INT(cookie_checker_validate(&ck, f.resp, sizeof(f.resp), addr4, 4, 9, true, t0 + 2,
					     &f.rng),
		     COOKIE_VERDICT_PROCESS);
	cookie_checker_wipe(&ck);
	fixture_free(&f);
}

static void test_hostile_replies(void)
{
	fixture f;
	cookie_checker ck;
	cookie_maker mk, before;
	uint8_t pkt[148];
	wg_msg_cookie_reply reply, bad;

	fixture_init(&f, 5);
	cookie_checker_init(&ck, &f.id_r);
	cookie_maker_init(&mk, f.id_r.public_key);
	memcpy(pkt, f.init, sizeof(pkt));
	CHECK_EQ_INT(cookie_checker_create_reply(&ck, pkt, sizeof(pkt), addr4, 4, 7, 0, &f.rng,
						 &reply),
		     COOKIE_OK);
	CHECK(wg_msg_check((const uint8_t *)&reply, sizeof(reply), WG_MSG_COOKIE_REPLY));
	CHECK_MEM(reply.receiver_index, pkt + WG_INIT_OFF_SENDER, 4);
	/* no mac1 sent yet: nothing to answer */
	CHECK_EQ_INT(cookie_maker_consume_reply(&mk, (const uint8_t *)&reply, sizeof(reply), 0),
		     COOKIE_ERR_STATE);
	CHECK(!mk.has_cookie);
	/* we sent a different message: AD mismatch */
	pkt[WG_INIT_OFF_SENDER] ^= 1;
	CHECK_EQ_INT(cookie_maker_add_macs(&mk, pkt, sizeof(pkt), 0), COOKIE_OK);
	before = mk;
	CHECK_EQ_INT(cookie_maker_consume_reply(&mk, (const uint8_t *)&reply, sizeof(reply), 0),
		     COOKIE_ERR_DECRYPT);
	CHECK_MEM(&mk, &before, sizeof(mk));
	pkt[WG_INIT_OFF_SENDER] ^= 1;
	CHECK_EQ_INT(cookie_maker_add_macs(&mk, pkt, sizeof(pkt), 0), COOKIE_OK);
	before = mk;
	/* every single-bit flip of the reply is refused and changes nothing */
	for (size_t bit = 0; bit < 8 * sizeof(reply); bit++) {
		cookie_result r;

		bad = reply;
		((uint8_t *)&bad)[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		r = cookie_maker_consume_reply(&mk, (const uint8_t *)&bad, sizeof(bad), 0);
		/* receiver_index is routing only (the device finds the peer by it) */
		if (bit / 8 >= 4 && bit / 8 < 8) {
			CHECK_EQ_INT(r, COOKIE_OK);
			mk = before;
			continue;
		}
		CHECK_MSG(r != COOKIE_OK, "reply bit %zu accepted", bit);
		CHECK_MEM(&mk, &before, sizeof(mk));
	}
	/* wrong lengths */
	CHECK_EQ_INT(cookie_maker_consume_reply(&mk, (const uint8_t *)&reply, 63, 0),
		     COOKIE_ERR_MALFORMED);
	{
		uint8_t big[65];
		memcpy(big, &reply, 64);
		big[64] = 0;
		CHECK_EQ_INT(cookie_maker_consume_reply(&mk, big, 65, 0), COOKIE_ERR_MALFORMED);
	}
	/* the genuine reply works once; a replay has no mac1 left to answer */
	CHECK_EQ_INT(cookie_maker_consume_reply(&mk, (const uint8_t *)&reply, sizeof(reply),
						WG_SEC(1)),
		     COOKIE_OK);
	CHECK_EQ_INT(cookie_maker_consume_reply(&mk, (const uint8_t *)&reply, sizeof(reply),
						WG_SEC(200)),
		     COOKIE_ERR_STATE);
	CHECK_EQ_U64(mk.cookie_birth, WG_SEC(1));
	/* two replies for the same message carry different random nonces */
	CHECK_EQ_INT(cookie_checker_create_reply(&ck, pkt, sizeof(pkt), addr4, 4, 7, 0, &f.rng,
						 &bad),
		     COOKIE_OK);
	CHECK(memcmp(bad.nonce, reply.nonce, 24) != 0);
	/* a reply sealed for another peer (the initiator's cookie key) fails */
	{
		cookie_checker ck_i;
		cookie_checker_init(&ck_i, &f.id_i);
		CHECK_EQ_INT(cookie_maker_add_macs(&mk, pkt, sizeof(pkt), 0), COOKIE_OK);
		CHECK_EQ_INT(cookie_checker_create_reply(&ck_i, pkt, sizeof(pkt), addr4, 4, 7, 0,
							 &f.rng, &bad),
			     COOKIE_OK);
		CHECK_EQ_INT(cookie_maker_consume_reply(&mk, (const uint8_t *)&bad, sizeof(bad), 0),
			     COOKIE_ERR_DECRYPT);
		cookie_checker_wipe(&ck_i);
	}
	cookie_checker_wipe(&ck);
	fixture_free(&f);
}

int main(void)
{
	test_decide();
	test_vector_cookie_example();
	test_mac1();
	test_secret_rotation();
	test_mac2_freshness();
	test_hostile_replies();
	return test_finish("cookie");
}
