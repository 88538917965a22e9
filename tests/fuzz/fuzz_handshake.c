/* libFuzzer harness for the handshake surface: arbitrary bytes as an initiation (to a
 * responder), a response (to an initiator with a pending initiation) or a cookie reply (to
 * that initiator's cookie maker). Keys, ephemerals, index and timestamp are the ones of
 * tests/vectors/noise/wireguard_handshake.json, so the seed packets are valid and the fuzzer
 * starts from inside the protocol.
 *
 * Input: byte 0 = selector, rest = message bytes.
 *   bit 0: recompute mac1 (and mac2 from a cookie if one is held) over the fuzzer's bytes, so
 *          half of the inputs get past the mac1 gate; the buffer is then forced to the exact
 *          length and header of the chosen type.
 *   bits 1-2: (value % 3) 0 = initiation, 1 = response, 2 = cookie reply.
 *   bit 3: responder under load (mac2 required).
 * Invariants checked (trap on violation): a refused message changes no state; an accepted
 * initiation yields a response and both sides' keys agree when the pair completes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "crypto/crypto.h"
#include "proto/cookie.h"
#include "proto/identity.h"
#include "proto/messages.h"
#include "proto/noise.h"

static const char *const hex_keys[] = {
	/* initiator static, responder static, initiator ephemeral, responder ephemeral, psk */
	"685135b5ccf7cbafba3cae9ef01ae69f601891b3450060b841c99627c2a89348",
	"48efa16e75f326111b5ec34369b42bacbe01cbeed74fa4a98151136ceaa9cd68",
	"b07583601d93b2bc5ae2a2290925d35e1f780e6898121a691b0dc539ced91e7a",
	"28e2dd05c7ea1344811f5092f6fb3cbacf082c44d9d15d834d5bd01fd3cf5344",
	"1e7194f0103c008813c644c3c669329c821e3c11e6784b798b99678bacf98c8e",
};
#define VECTOR_WALL_NS (1700000000ULL * 1000000000ULL + 123456789ULL)
#define VECTOR_INIT_INDEX 1009426199u
#define VECTOR_RESP_INDEX 3494604421u
static const uint8_t src_addr[4] = {192, 0, 2, 1};
#define SRC_PORT 51820
#define NOW WG_SEC(10)

/* Deterministic RNG: scripted bytes first (the vector ephemerals), then a counter stream. */
typedef struct {
	const uint8_t *script;
	size_t len, pos;
	uint64_t counter;
} fuzz_rng_ctx;

static int fuzz_rng_fill(void *ctx, void *out, size_t n)
{
	fuzz_rng_ctx *r = ctx;
	uint8_t *o = out;

	for (size_t i = 0; i < n; i++) {
		if (r->pos < r->len)
			o[i] = r->script[r->pos++];
		else
			o[i] = (uint8_t)(++r->counter * 0x9e3779b97f4a7c15ULL >> 56);
	}
	return 0;
}

typedef struct {
	wg_identity id_i, id_r;
	noise_handshake hs_i, hs_r; /* hs_i: initiation pending; hs_r: fresh */
	cookie_maker mk_i, mk_r;    /* mk_i has sent the initiation's mac1 */
	cookie_checker ck_i, ck_r;
	uint8_t e_r[32];
} world;

static world pristine;

static int unhex32(uint8_t out[32], const char *hex)
{
	return crypto_key_from_hex(out, hex, 64);
}

static void setup(void)
{
	uint8_t k[5][32];
	wg_msg_initiation init;
	fuzz_rng_ctx rc = {0};
	wg_rng rng = {fuzz_rng_fill, &rc};

	for (size_t i = 0; i < 5; i++)
		CHECK_OR_TRAP(unhex32(k[i], hex_keys[i]) == 0);
	CHECK_OR_TRAP(wg_identity_set(&pristine.id_i, k[0]) == 0);
	CHECK_OR_TRAP(wg_identity_set(&pristine.id_r, k[1]) == 0);
	memcpy(pristine.e_r, k[3], 32);
	/* identity pointers are fixed up per run (they point into the working copy) */
	CHECK_OR_TRAP(noise_handshake_init(&pristine.hs_i, &pristine.id_i, pristine.id_r.public_key,
					   k[4], NULL) == NOISE_OK);
	CHECK_OR_TRAP(noise_handshake_init(&pristine.hs_r, &pristine.id_r, pristine.id_i.public_key,
					   k[4], NULL) == NOISE_OK);
	cookie_maker_init(&pristine.mk_i, pristine.id_r.public_key);
	cookie_maker_init(&pristine.mk_r, pristine.id_i.public_key);
	rc.script = k[2];
	rc.len = 32;
	CHECK_OR_TRAP(noise_create_initiation(&pristine.hs_i, VECTOR_WALL_NS, &rng,
					      VECTOR_INIT_INDEX, &init) == NOISE_OK);
	CHECK_OR_TRAP(cookie_maker_add_macs(&pristine.mk_i, (uint8_t *)&init, sizeof(init), NOW) ==
		      COOKIE_OK);
	crypto_wipe(k, sizeof(k));
}

static void bind(world *w)
{
	w->hs_i.identity = &w->id_i;
	w->hs_r.identity = &w->id_r;
	cookie_checker_init(&w->ck_i, &w->id_i);
	cookie_checker_init(&w->ck_r, &w->id_r);
}

static void fuzz_initiation(world *w, uint8_t *msg, size_t len, bool under_load,
			    const wg_rng *rng)
{
	noise_initiation in;
	noise_handshake before = w->hs_r;
	wg_msg_response resp;
	wg_msg_cookie_reply reply;
	noise_session_keys kr, ki;
	noise_result r;

	switch (cookie_checker_validate(&w->ck_r, msg, len, src_addr, 4, SRC_PORT, under_load, NOW,
					rng)) {
	case COOKIE_VERDICT_DROP:
		return;
	case COOKIE_VERDICT_SEND_REPLY:
		CHECK_OR_TRAP(cookie_checker_create_reply(&w->ck_r, msg, len, src_addr, 4, SRC_PORT,
							  NOW, rng, &reply) == COOKIE_OK);
		return;
	case COOKIE_VERDICT_PROCESS:
		break;
	}
	r = noise_consume_initiation_static(&w->id_r, NULL, msg, len, &in);
	if (r != NOISE_OK) {
		CHECK_OR_TRAP(!in.valid);
		return;
	}
	r = noise_consume_initiation(&w->hs_r, &in, (const wg_msg_initiation *)(const void *)msg,
				     NOW);
	CHECK_OR_TRAP(!in.valid);
	if (r != NOISE_OK) {
		CHECK_OR_TRAP(memcmp(&w->hs_r, &before, sizeof(before)) == 0);
		return;
	}
	CHECK_OR_TRAP(noise_create_response(&w->hs_r, rng, VECTOR_RESP_INDEX, &resp) == NOISE_OK);
	CHECK_OR_TRAP(cookie_maker_add_macs(&w->mk_r, (uint8_t *)&resp, sizeof(resp), NOW) ==
		      COOKIE_OK);
	CHECK_OR_TRAP(noise_begin_session(&w->hs_r, &kr) == NOISE_OK);
	/* if the initiation was our pending one, the response completes it with equal keys */
	if (noise_consume_response(&w->hs_i, (const uint8_t *)&resp, sizeof(resp)) == NOISE_OK) {
		CHECK_OR_TRAP(noise_begin_session(&w->hs_i, &ki) == NOISE_OK);
		CHECK_OR_TRAP(memcmp(ki.send_key, kr.recv_key, 32) == 0);
		CHECK_OR_TRAP(memcmp(ki.recv_key, kr.send_key, 32) == 0);
	}
}

static void fuzz_response(world *w, const uint8_t *msg, size_t len)
{
	noise_handshake before = w->hs_i;
	noise_session_keys ki;

	if (!cookie_checker_mac1_valid(&w->ck_i, msg, len))
		return;
	if (noise_consume_response(&w->hs_i, msg, len) != NOISE_OK) {
		CHECK_OR_TRAP(memcmp(&w->hs_i, &before, sizeof(before)) == 0);
		return;
	}
	CHECK_OR_TRAP(noise_begin_session(&w->hs_i, &ki) == NOISE_OK);
	CHECK_OR_TRAP(ki.is_initiator && ki.local_index == VECTOR_INIT_INDEX);
}

static void fuzz_cookie_reply(world *w, const uint8_t *msg, size_t len)
{
	cookie_maker before = w->mk_i;
	uint8_t pkt[WG_MSG_INITIATION_LEN] = {WG_MSG_INITIATION};

	if (cookie_maker_consume_reply(&w->mk_i, msg, len, NOW) != COOKIE_OK) {
		CHECK_OR_TRAP(memcmp(&w->mk_i, &before, sizeof(before)) == 0);
		return;
	}
	/* a stored cookie shows up as a non-zero mac2 on the next message */
	CHECK_OR_TRAP(cookie_maker_add_macs(&w->mk_i, pkt, sizeof(pkt), NOW + 1) == COOKIE_OK);
	CHECK_OR_TRAP(!crypto_is_zero(pkt + WG_INIT_OFF_MAC2, 16));
}

static const size_t kind_len[3] = {WG_MSG_INITIATION_LEN, WG_MSG_RESPONSE_LEN,
				   WG_MSG_COOKIE_REPLY_LEN};
static const uint8_t kind_type[3] = {WG_MSG_INITIATION, WG_MSG_RESPONSE, WG_MSG_COOKIE_REPLY};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	static world w;
	uint8_t buf[512];
	size_t len;
	uint8_t sel;
	unsigned kind;
	fuzz_rng_ctx rc = {0};
	wg_rng rng = {fuzz_rng_fill, &rc};

	if (!ready) {
		setup();
		ready = true;
	}
	if (size < 1 || size - 1 > sizeof(buf))
		return 0;
	sel = data[0];
	kind = (unsigned)(sel >> 1 & 3) % 3;
	len = size - 1;
	memcpy(buf, data + 1, len);
	w = pristine;
	bind(&w);
	rc.script = w.e_r; /* the responder's first ephemeral is the vector's */
	rc.len = 32;

	if (sel & 1) {
		/* force shape, then authenticate the fuzzer's bytes with a valid mac1 */
		if (len < kind_len[kind])
			memset(buf + len, 0, kind_len[kind] - len);
		len = kind_len[kind];
		wg_msg_set_header(buf, (enum wg_message_type)kind_type[kind]);
		if (kind == 0)
			cookie_maker_add_macs(&w.mk_i, buf, len, NOW);
		else if (kind == 1)
			cookie_maker_add_macs(&w.mk_r, buf, len, NOW);
		if (kind == 0)
			w.mk_i = pristine.mk_i; /* keep the pending initiation's mac1 */
	}
	switch (kind) {
	case 0:
		fuzz_initiation(&w, buf, len, (sel & 8) != 0, &rng);
		break;
	case 1:
		fuzz_response(&w, buf, len);
		break;
	default:
		fuzz_cookie_reply(&w, buf, len);
		break;
	}
	cookie_checker_wipe(&w.ck_i); /* frees their reply-sealing contexts */
	cookie_checker_wipe(&w.ck_r);
	crypto_wipe(&w, sizeof(w));
	return 0;
}
