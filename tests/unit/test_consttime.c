/* Constant time, checked mechanically (the ctgrind method): secret bytes are marked
 * undefined for valgrind memcheck (VALGRIND_MAKE_MEM_UNDEFINED), so any branch or memory
 * index that depends on a secret is reported as "Conditional jump or move depends on
 * uninitialised value(s)" / "Use of uninitialised value". Results that are public by design
 * (a MAC check's verdict, a public key derived from a private one, a decoder's valid/invalid
 * status) are declassified (VALGRIND_MAKE_MEM_DEFINED) by this test right after the call.
 *
 * Run plainly (ctest) the client requests do nothing and the test only checks that every
 * call still gives the right answer. The check itself is `scripts/valgrind.sh BUILD` (CI's
 * valgrind step), where any report fails the run; under valgrind this test also forks a
 * child that runs a deliberately early-exit compare on a secret and demands that memcheck
 * reports it (so a valgrind that stopped seeing secrets would fail, not pass silently).
 * docs/constant-time.md lists what is covered and where OpenSSL is trusted. */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>

#include "crypto/crypto.h"
#include "proto/cookie.h"
#include "proto/identity.h"
#include "proto/keypair.h"
#include "proto/messages.h"
#include "proto/noise.h"
#include "proto/transport.h"
#include "proto/tunnel.h"
#include "test.h"

#define SECRET(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#define PUBLIC(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + 31 * i + (i >> 3));
}

/* A secret copy of src in dst (src stays public for the reference computation). */
static void secret_copy(void *dst, const void *src, size_t n)
{
	memcpy(dst, src, n);
	SECRET(dst, n);
}

static bool declassify_bool(bool b)
{
	PUBLIC(&b, sizeof(b));
	return b;
}

static int declassify_int(int v)
{
	PUBLIC(&v, sizeof(v));
	return v;
}

static void test_compare(void)
{
	uint8_t a[32], b[32], sa[32], z[32] = {0};

	fill(a, 32, 1);
	memcpy(b, a, 32);
	secret_copy(sa, a, 32);
	CHECK(declassify_bool(crypto_equal(sa, b, 32)));
	b[31] ^= 1;
	CHECK(!declassify_bool(crypto_equal(sa, b, 32)));
	b[31] ^= 1;
	b[0] ^= 0x80;
	CHECK(!declassify_bool(crypto_equal(sa, b, 32)));
	SECRET(z, 32);
	CHECK(declassify_bool(crypto_is_zero(z, 32)));
	CHECK(!declassify_bool(crypto_is_zero(sa, 32)));
	z[17] = 4;
	SECRET(z, 32);
	CHECK(!declassify_bool(crypto_is_zero(z, 32)));

	/* Every path of crypto_equal's word loop: n == 32 straight, whole words, a byte tail
	 * (lengths 1..40; the callers use 16 and 32). */
	for (size_t n = 1; n <= 40; n++) {
		uint8_t x[40], y[40], sx[40];

		fill(x, n, (uint8_t)n);
		memcpy(y, x, n);
		secret_copy(sx, x, n);
		CHECK(declassify_bool(crypto_equal(sx, y, n)));
		y[0] ^= 1;
		CHECK(!declassify_bool(crypto_equal(sx, y, n)));
		y[0] ^= 1;
		y[n - 1] ^= 0x80;
		CHECK(!declassify_bool(crypto_equal(sx, y, n)));
	}
}

/* BLAKE2s, keyed MAC, HMAC and the KDF (our own code, src/crypto/blake2s.c) with secret keys
 * and secret inputs, every length class (empty, < block, = block, > block). */
static void test_blake2s(void)
{
	static const size_t lens[] = {0, 1, 31, 32, 63, 64, 65, 128, 200};
	uint8_t in[200], key[100], sin[200], skey[100], want[32], got[32], w2[32], w3[32],
		g2[32], g3[32];

	fill(in, sizeof(in), 7);
	fill(key, sizeof(key), 99);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t n = lens[i];

		secret_copy(sin, in, n);
		crypto_hash(want, in, n);
		crypto_hash(got, sin, n);
		PUBLIC(got, 32);
		CHECK_MEM(got, want, 32);

		crypto_hash2(want, in, n, key, 32);
		secret_copy(skey, key, 32);
		crypto_hash2(got, sin, n, skey, 32);
		PUBLIC(got, 32);
		CHECK_MEM(got, want, 32);

		for (size_t kl = 16; kl <= 32; kl += 16) {
			crypto_mac(want, key, kl, in, n);
			secret_copy(skey, key, kl);
			crypto_mac(got, skey, kl, sin, n);
			PUBLIC(got, CRYPTO_MAC_LEN);
			CHECK_MEM(got, want, CRYPTO_MAC_LEN);
		}
		CHECK_EQ_INT(crypto_blake2s(want, 32, key, 32, in, n), 0);
		secret_copy(skey, key, 32);
		CHECK_EQ_INT(crypto_blake2s(got, 32, skey, 32, sin, n), 0);
		PUBLIC(got, 32);
		CHECK_MEM(got, want, 32);

		/* HMAC: key shorter and longer than the block (the latter is hashed first) */
		for (size_t kl = 32; kl <= 100; kl += 68) {
			crypto_hmac(want, key, kl, in, n);
			secret_copy(skey, key, kl);
			crypto_hmac(got, skey, kl, sin, n);
			PUBLIC(got, 32);
			CHECK_MEM(got, want, 32);
		}
		crypto_kdf(want, w2, w3, key, in, n);
		secret_copy(skey, key, 32);
		crypto_kdf(got, g2, g3, skey, sin, n);
		PUBLIC(got, 32);
		PUBLIC(g2, 32);
		PUBLIC(g3, 32);
		CHECK_MEM(got, want, 32);
		CHECK_MEM(g2, w2, 32);
		CHECK_MEM(g3, w3, 32);
	}
}

static void test_hchacha(void)
{
	uint8_t key[32], skey[32], nonce[16], want[32], got[32];

	fill(key, 32, 3);
	fill(nonce, 16, 200);
	crypto_hchacha20(want, key, nonce);
	secret_copy(skey, key, 32);
	crypto_hchacha20(got, skey, nonce);
	PUBLIC(got, 32);
	CHECK_MEM(got, want, 32);
}

/* Key encodings: secret key -> text and secret text -> key, valid and invalid inputs. */
static void test_encodings(void)
{
	uint8_t key[32], skey[32], back[32];
	char hex[CRYPTO_KEY_HEX_LEN + 1], b64[CRYPTO_KEY_B64_LEN + 1], shex[CRYPTO_KEY_HEX_LEN + 1],
		sb64[CRYPTO_KEY_B64_LEN + 1], want_hex[CRYPTO_KEY_HEX_LEN + 1],
		want_b64[CRYPTO_KEY_B64_LEN + 1];

	fill(key, 32, 0xa5);
	crypto_key_to_hex(want_hex, key);
	crypto_key_to_base64(want_b64, key);
	secret_copy(skey, key, 32);
	crypto_key_to_hex(hex, skey);
	crypto_key_to_base64(b64, skey);
	PUBLIC(hex, sizeof(hex));
	PUBLIC(b64, sizeof(b64));
	CHECK(strcmp(hex, want_hex) == 0);
	CHECK(strcmp(b64, want_b64) == 0);

	/* both cases of hex digits */
	for (int upper = 0; upper < 2; upper++) {
		memcpy(shex, want_hex, sizeof(shex));
		for (int i = 0; upper && i < CRYPTO_KEY_HEX_LEN; i++)
			if (shex[i] >= 'a' && shex[i] <= 'f')
				shex[i] = (char)(shex[i] - 'a' + 'A');
		SECRET(shex, CRYPTO_KEY_HEX_LEN);
		CHECK_EQ_INT(declassify_int(crypto_key_from_hex(back, shex, CRYPTO_KEY_HEX_LEN)), 0);
		PUBLIC(back, 32);
		CHECK_MEM(back, key, 32);
	}
	memcpy(sb64, want_b64, sizeof(sb64));
	SECRET(sb64, CRYPTO_KEY_B64_LEN);
	CHECK_EQ_INT(declassify_int(crypto_key_from_base64(back, sb64, CRYPTO_KEY_B64_LEN)), 0);
	PUBLIC(back, 32);
	CHECK_MEM(back, key, 32);

	/* invalid characters in the middle and at the end, non-canonical last char */
	static const char bad_hex[] = {'g', 'G', '/', ':', '@', '`', ' ', '\0'};
	for (size_t k = 0; k < sizeof(bad_hex); k++) {
		memcpy(shex, want_hex, sizeof(shex));
		shex[k * 7] = bad_hex[k];
		SECRET(shex, CRYPTO_KEY_HEX_LEN);
		CHECK_EQ_INT(declassify_int(crypto_key_from_hex(back, shex, CRYPTO_KEY_HEX_LEN)), -1);
	}
	static const char bad_b64[] = {'-', '_', '*', ' ', '=', '\0', '\x80'};
	for (size_t k = 0; k < sizeof(bad_b64); k++) {
		memcpy(sb64, want_b64, sizeof(sb64));
		sb64[k * 6] = bad_b64[k];
		SECRET(sb64, CRYPTO_KEY_B64_LEN);
		CHECK_EQ_INT(declassify_int(crypto_key_from_base64(back, sb64, CRYPTO_KEY_B64_LEN)),
			     -1);
	}
	memcpy(sb64, want_b64, sizeof(sb64));
	sb64[42] = sb64[42] == 'A' ? 'B' : 'A'; /* unused low bits set or changed */
	sb64[42] = 'B';
	SECRET(sb64, CRYPTO_KEY_B64_LEN);
	CHECK_EQ_INT(declassify_int(crypto_key_from_base64(back, sb64, CRYPTO_KEY_B64_LEN)), -1);
	memcpy(sb64, want_b64, sizeof(sb64));
	sb64[43] = 'A'; /* no padding */
	SECRET(sb64, CRYPTO_KEY_B64_LEN);
	CHECK_EQ_INT(declassify_int(crypto_key_from_base64(back, sb64, CRYPTO_KEY_B64_LEN)), -1);
}

/* mac1 and mac2 verification: the MAC the checker computes is what an attacker would try
 * to learn byte by byte, so the keys it comes from are secret here. */
static void test_macs(void)
{
	wg_identity id;
	cookie_checker c;
	uint8_t priv[32], msg[WG_MSG_INITIATION_LEN], cookie[WG_COOKIE_LEN];
	static const uint8_t addr[4] = {192, 0, 2, 1};
	size_t off1 = wg_msg_mac1_offset(WG_MSG_INITIATION), off2;

	off2 = wg_msg_mac2_offset(WG_MSG_INITIATION);
	fill(priv, 32, 77);
	CHECK_EQ_INT(wg_identity_set(&id, priv), 0);
	memset(msg, 0, sizeof(msg));
	msg[0] = WG_MSG_INITIATION;
	fill(msg + 4, off1 - 4, 5);
	crypto_mac(msg + off1, id.mac1_key, 32, msg, off1);
	cookie_checker_init(&c, &id);
	fill(c.secret, sizeof(c.secret), 9);
	c.has_secret = true;
	c.secret_birth = 0;
	/* Secret before the first use, so the compressed key state (crypto_mac_key) the checker
	 * keeps is made from the secret under the check too. */
	SECRET(id.mac1_key, sizeof(id.mac1_key));
	SECRET(c.secret, sizeof(c.secret));
	CHECK_EQ_INT(cookie_checker_make_cookie(&c, addr, 4, 51820, 0, NULL, cookie), COOKIE_OK);
	PUBLIC(cookie, sizeof(cookie)); /* the test plays the initiator that was handed it */
	crypto_mac(msg + off2, cookie, WG_COOKIE_LEN, msg, off2);

	CHECK(declassify_bool(cookie_checker_mac1_valid(&c, msg, sizeof(msg))));
	CHECK(declassify_bool(
		cookie_checker_mac2_valid(&c, msg, sizeof(msg), addr, 4, 51820, 0, NULL)));
	for (size_t byte = 0; byte < WG_MAC_LEN; byte += 15) {
		msg[off1 + byte] ^= 1;
		CHECK(!declassify_bool(cookie_checker_mac1_valid(&c, msg, sizeof(msg))));
		msg[off1 + byte] ^= 1;
		msg[off2 + byte] ^= 1;
		CHECK(!declassify_bool(
			cookie_checker_mac2_valid(&c, msg, sizeof(msg), addr, 4, 51820, 0, NULL)));
		msg[off2 + byte] ^= 1;
	}
	/* The limiter's path: a valid mac2 makes no reply (no randomness needed). */
	{
		wg_msg_cookie_reply reply;
		bool made = true;

		CHECK_EQ_INT(declassify_int(cookie_checker_mac2_or_reply(&c, msg, sizeof(msg), addr,
									 4, 51820, 0, NULL, &reply,
									 &made)),
			     COOKIE_OK);
		CHECK(!declassify_bool(made));
	}
	/* A new secret: the cached key state differs from it and is made again, from the
	 * secret; the old cookie's mac2 no longer verifies. */
	fill(c.secret, sizeof(c.secret), 10);
	SECRET(c.secret, sizeof(c.secret));
	CHECK(!declassify_bool(
		cookie_checker_mac2_valid(&c, msg, sizeof(msg), addr, 4, 51820, 0, NULL)));
	cookie_checker_wipe(&c);
	wg_identity_clear(&id);
}

/* The device's key handling: setting a secret private key (clamp, zero check, public key and
 * mac1/cookie keys through X25519 and BLAKE2s), comparing it with the current one (what
 * `wg set private-key` does, src/device/apply.c), and a DH with it. X25519 runs in OpenSSL:
 * trusted, but still under the same check (no declassification around it). */
static void test_identity_and_dh(void)
{
	wg_identity id, ref;
	uint8_t priv[32], spriv[32], other[32], other_pub[32], dh[32], want[32];

	fill(priv, 32, 42);
	CHECK_EQ_INT(wg_identity_set(&ref, priv), 0);
	secret_copy(spriv, priv, 32);
	CHECK(!declassify_bool(crypto_is_zero(spriv, 32)));
	CHECK_EQ_INT(declassify_int(wg_identity_set(&id, spriv)), 0);
	/* the public key and what is derived from it are public */
	PUBLIC(id.public_key, 32);
	PUBLIC(id.mac1_key, 32);
	PUBLIC(id.cookie_key, 32);
	PUBLIC(&id.has_private_key, sizeof(id.has_private_key));
	CHECK_MEM(id.public_key, ref.public_key, 32);
	CHECK_MEM(id.mac1_key, ref.mac1_key, 32);
	CHECK(declassify_bool(crypto_equal(id.private_key, ref.private_key, 32)));
	ref.private_key[5] ^= 1;
	CHECK(!declassify_bool(crypto_equal(id.private_key, ref.private_key, 32)));

	fill(other, 32, 11);
	CHECK_EQ_INT(crypto_x25519_public(other_pub, other), 0);
	CHECK_EQ_INT(crypto_x25519(want, priv, other_pub), 0);
	secret_copy(spriv, priv, 32);
	CHECK_EQ_INT(declassify_int(crypto_x25519(dh, spriv, other_pub)), 0);
	PUBLIC(dh, 32);
	CHECK_MEM(dh, want, 32);
	wg_identity_clear(&id);
	wg_identity_clear(&ref);
}

/* ChaCha20-Poly1305 and XChaCha20-Poly1305 with secret keys (OpenSSL's assembly, plus our
 * HChaCha20 for the latter); a forged tag is rejected without a secret-dependent branch
 * before the verdict. */
static void test_aead(void)
{
	uint8_t key[32], skey[32], pt[100], buf[116], want[116], out[100],
		nonce[CRYPTO_XAEAD_NONCE_LEN];

	fill(key, 32, 13);
	fill(pt, sizeof(pt), 17);
	fill(nonce, sizeof(nonce), 19);
	crypto_aead_seal(want, pt, sizeof(pt), "ad", 2, 7, key);
	secret_copy(skey, key, 32);
	crypto_aead_seal(buf, pt, sizeof(pt), "ad", 2, 7, skey);
	PUBLIC(buf, sizeof(buf)); /* ciphertext and tag go on the wire */
	CHECK_MEM(buf, want, sizeof(buf));
	CHECK_EQ_INT(declassify_int(crypto_aead_open(out, buf, sizeof(buf), "ad", 2, 7, skey)), 0);
	PUBLIC(out, sizeof(out));
	CHECK_MEM(out, pt, sizeof(pt));
	buf[110] ^= 1;
	CHECK_EQ_INT(declassify_int(crypto_aead_open(out, buf, sizeof(buf), "ad", 2, 7, skey)), -1);
	/* The same through the EVP fallback (crypto_aead_open runs the direct provider path). */
	{
		uint8_t n12[12] = {0, 0, 0, 0, 7};

		buf[110] ^= 1;
		CHECK_EQ_INT(declassify_int(crypto_aead_open_detached_impl(
				     CRYPTO_AEAD_IMPL_EVP, out, buf, 100, buf + 100, "ad", 2, n12, skey)),
			     0);
		PUBLIC(out, sizeof(out));
		CHECK_MEM(out, pt, sizeof(pt));
		buf[110] ^= 1;
		CHECK_EQ_INT(declassify_int(crypto_aead_open_detached_impl(
				     CRYPTO_AEAD_IMPL_EVP, out, buf, 100, buf + 100, "ad", 2, n12, skey)),
			     -1);
	}

	crypto_xaead_seal(want, pt, 32, "ad", 2, nonce, key);
	crypto_xaead_seal(buf, pt, 32, "ad", 2, nonce, skey);
	PUBLIC(buf, 48);
	CHECK_MEM(buf, want, 48);
	CHECK_EQ_INT(declassify_int(crypto_xaead_open(out, buf, 48, "ad", 2, nonce, skey)), 0);
	PUBLIC(out, 32);
	CHECK_MEM(out, pt, 32);
	buf[3] ^= 1;
	CHECK_EQ_INT(declassify_int(crypto_xaead_open(out, buf, 48, "ad", 2, nonce, skey)), -1);

	/* A crypto worker (the device's pool): the key comes with each call and is compared
	 * with the cached one (worker_key); same key twice, then another secret key. */
	{
		crypto_aead_worker *w = crypto_aead_worker_new();
		uint8_t key2[32], skey2[32], pkt[64 + 16];

		CHECK(w != NULL);
		if (!w)
			return;
		fill(key2, 32, 14);
		secret_copy(skey2, key2, 32);
		crypto_aead_seal(want, pt, 64, NULL, 0, 3, key);
		for (int round = 0; round < 2; round++) {
			memcpy(pkt, pt, 64);
			CHECK_EQ_INT(declassify_int(crypto_aead_worker_seal(w, skey, pkt, 64, 3)), 0);
			PUBLIC(pkt, sizeof(pkt));
			CHECK_MEM(pkt, want, sizeof(pkt));
			CHECK_EQ_INT(declassify_int(crypto_aead_worker_open(w, skey, pkt, sizeof(pkt), 3)),
				     0);
			PUBLIC(pkt, 64);
			CHECK_MEM(pkt, pt, 64);
		}
		memcpy(pkt, want, sizeof(pkt));
		CHECK_EQ_INT(declassify_int(crypto_aead_worker_open(w, skey2, pkt, sizeof(pkt), 3)),
			     -1);
		crypto_aead_worker_free(w);
	}
}

/* The handshake's randomness (ephemeral private keys): deterministic, and secret. */
static int secret_fill(void *ctx, void *out, size_t n)
{
	uint8_t *seed = ctx;

	fill(out, n, (*seed)++);
	SECRET(out, n);
	return 0;
}

/* An identity with a secret private key; what it derives from its public key is public. */
static void secret_identity(wg_identity *id, uint8_t seed)
{
	uint8_t priv[32];

	fill(priv, 32, seed);
	SECRET(priv, 32);
	CHECK_EQ_INT(declassify_int(wg_identity_set(id, priv)), 0);
	PUBLIC(id->public_key, 32);
	PUBLIC(id->mac1_key, 32);
	PUBLIC(id->cookie_key, 32);
	PUBLIC(&id->has_private_key, sizeof(id->has_private_key));
	crypto_wipe(priv, sizeof(priv));
}

/* The Noise IKpsk2 handshake (noise.c: both sides, all four steps) and a data message each
 * way (transport.c, keypair.c) with the static and ephemeral private keys, the PSK and so
 * the chaining key, hash and transport keys secret. What goes on the wire is declassified
 * as it leaves; what the protocol itself makes public (an authenticated peer's static key
 * and timestamp, a decrypted packet) is declassified in noise.c / by the test. */
static void test_handshake_and_transport(void)
{
	wg_identity id_i, id_r;
	noise_handshake hs_i, hs_r;
	noise_initiation in;
	noise_session_keys ki, kr;
	wg_keypairs kps_i, kps_r;
	wg_keypair *kp_i, *kp_r;
	wg_msg_initiation init;
	wg_msg_response resp;
	uint8_t psk[32], seed = 50, pkt[WG_MSG_DATA_HEADER_LEN + 64 + 16], plain[64];
	wg_rng rng = {secret_fill, &seed};
	size_t n, plen = 0;
	const wg_time_ns now = WG_SEC(100);

	secret_identity(&id_i, 21);
	secret_identity(&id_r, 22);
	fill(psk, 32, 23);
	SECRET(psk, 32);
	CHECK_EQ_INT(declassify_int(noise_handshake_init(&hs_i, &id_i, id_r.public_key, psk, NULL)),
		     NOISE_OK);
	CHECK_EQ_INT(declassify_int(noise_handshake_init(&hs_r, &id_r, id_i.public_key, psk, NULL)),
		     NOISE_OK);

	CHECK_EQ_INT(declassify_int(noise_create_initiation(&hs_i, WG_SEC(1700000000), &rng, 1,
							    &init)),
		     NOISE_OK);
	PUBLIC(&init, sizeof(init)); /* on the wire */
	CHECK_EQ_INT(declassify_int(noise_consume_initiation_static(&id_r, NULL,
								    (const uint8_t *)&init,
								    sizeof(init), &in)),
		     NOISE_OK);
	CHECK(declassify_bool(crypto_equal(in.remote_static, id_i.public_key, 32)));
	CHECK_EQ_INT(declassify_int(noise_consume_initiation(&hs_r, &in, &init, now)), NOISE_OK);
	CHECK_EQ_INT(declassify_int(noise_create_response(&hs_r, &rng, 2, &resp)), NOISE_OK);
	PUBLIC(&resp, sizeof(resp));
	CHECK_EQ_INT(declassify_int(noise_consume_response(&hs_i, (const uint8_t *)&resp,
							   sizeof(resp))),
		     NOISE_OK);
	CHECK_EQ_INT(declassify_int(noise_begin_session(&hs_i, &ki)), NOISE_OK);
	CHECK_EQ_INT(declassify_int(noise_begin_session(&hs_r, &kr)), NOISE_OK);
	PUBLIC(&ki.local_index, sizeof(ki.local_index));
	PUBLIC(&ki.remote_index, sizeof(ki.remote_index));
	PUBLIC(&kr.local_index, sizeof(kr.local_index));
	PUBLIC(&kr.remote_index, sizeof(kr.remote_index));
	CHECK(declassify_bool(crypto_equal(ki.send_key, kr.recv_key, 32)));
	CHECK(declassify_bool(crypto_equal(ki.recv_key, kr.send_key, 32)));

	/* Transport: each side seals a packet the other opens (secret keys, public plaintext). */
	keypairs_init(&kps_i, (wg_keypair_release){NULL, NULL});
	keypairs_init(&kps_r, (wg_keypair_release){NULL, NULL});
	kp_i = keypairs_install(&kps_i, &ki, now);
	kp_r = keypairs_install(&kps_r, &kr, now);
	CHECK(kp_i && kp_r);
	crypto_wipe(&ki, sizeof(ki));
	crypto_wipe(&kr, sizeof(kr));
	for (int dir = 0; dir < 2 && kp_i && kp_r; dir++) {
		wg_keypair *from = dir ? kp_r : kp_i, *to = dir ? kp_i : kp_r;
		uint64_t counter;

		fill(plain, sizeof(plain), (uint8_t)(60 + dir));
		plain[0] = 0x45;
		plain[2] = 0;
		plain[3] = sizeof(plain);
		memcpy(pkt + WG_MSG_DATA_HEADER_LEN, plain, sizeof(plain));
		n = transport_seal(from, pkt, sizeof(plain), sizeof(pkt), 1420, now);
		CHECK_EQ_U64(n, sizeof(pkt));
		PUBLIC(pkt, sizeof(pkt)); /* on the wire */
		counter = wg_le64_read(pkt + WG_DATA_OFF_COUNTER);
		CHECK_EQ_INT(declassify_int(transport_open(to, counter, pkt + WG_MSG_DATA_HEADER_LEN,
							   n - WG_MSG_DATA_HEADER_LEN, &plen, now)),
			     0);
		PUBLIC(pkt + WG_MSG_DATA_HEADER_LEN, sizeof(plain)); /* the packet for the TUN */
		CHECK_EQ_U64(plen, sizeof(plain));
		CHECK_MEM(pkt + WG_MSG_DATA_HEADER_LEN, plain, sizeof(plain));
		/* A forged tag is refused (the verdict is public, the keys stay secret). */
		memcpy(pkt + WG_MSG_DATA_HEADER_LEN, plain, sizeof(plain));
		n = transport_seal(from, pkt, sizeof(plain), sizeof(pkt), 1420, now);
		PUBLIC(pkt, sizeof(pkt));
		pkt[sizeof(pkt) - 1] ^= 1;
		counter = wg_le64_read(pkt + WG_DATA_OFF_COUNTER);
		CHECK(declassify_int(transport_open(to, counter, pkt + WG_MSG_DATA_HEADER_LEN,
						    n - WG_MSG_DATA_HEADER_LEN, &plen, now)) ==
		      WG_TUN_ERR_DECRYPT);
	}
	keypairs_clear(&kps_i);
	keypairs_clear(&kps_r);
	noise_handshake_wipe(&hs_i);
	noise_handshake_wipe(&hs_r);
	wg_identity_clear(&id_i);
	wg_identity_clear(&id_r);
}

/* The control: an early-exit compare on a secret must be reported. Run in a child so its
 * report cannot fail this process; the child exits 42 if memcheck counted an error. */
static int leaky_compare(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

static void test_control(void)
{
	uint8_t a[32], b[32];
	int status = 0;
	pid_t pid;

	if (!RUNNING_ON_VALGRIND) {
		printf("consttime: not under valgrind, only the answers were checked "
		       "(scripts/valgrind.sh runs the check)\n");
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		unsigned before = VALGRIND_COUNT_ERRORS;
		int eq;

		fprintf(stderr, "consttime: the control's report (deliberate, expected) follows\n");
		fill(a, 32, 1);
		fill(b, 32, 1);
		SECRET(a, 32);
		eq = leaky_compare(a, b, 32);
		PUBLIC(&eq, sizeof(eq));
		_exit(VALGRIND_COUNT_ERRORS > before && eq ? 42 : 43);
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	/* 42 from the child, or valgrind's --error-exitcode that replaced it */
	CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) != 43 && WEXITSTATUS(status) != 0,
		  "memcheck did not report a secret-dependent branch (child status %d)", status);
}

int main(void)
{
	test_compare();
	test_blake2s();
	test_hchacha();
	test_encodings();
	test_macs();
	test_identity_and_dh();
	test_aead();
	test_handshake_and_transport();
	test_control();
	return test_finish("consttime");
}
