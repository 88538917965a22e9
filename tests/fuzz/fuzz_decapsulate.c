/* libFuzzer harness for wg_tunnel_decapsulate: a responder tunnel (B) next to a partner
 * tunnel (A) that can build genuine messages, so the fuzzer gets past mac1 and the AEAD.
 *
 * Input: byte 0 = mode, rest = data.
 *   mode % 4 == 0: data is a raw datagram for B.
 *   mode % 4 == 1: A's genuine initiation, XOR-mutated by (offset, value) pairs from data,
 *                  mac1 recomputed for B (so Noise itself gets fuzzed).
 *   mode % 4 == 2: handshake completed, then A encapsulates data as an "IP packet" (so B's
 *                  inner header check sees arbitrary plaintext); bit 2 of mode: flip one
 *                  header/ciphertext byte chosen by data[0].
 *   mode % 4 == 3: a script of steps: [len u8][kind u8][bytes...] where kind selects raw
 *                  datagram / A's next data packet / advance time by kind*7 s and tick.
 *   bit 3 of mode: decapsulate out of place (separate buffer) instead of in place.
 *   bit 4 of mode: initiations take the device's two-step path (wg_tunnel_initiation_prepare
 *                  on B's identity, then wg_tunnel_decapsulate_initiation); bit 5 also
 *                  corrupts the prepared state (it must then be ignored or fail cleanly).
 * Invariants (trap): every result is a wg_tun_result value; out_len <= cap; errors give
 * out_len 0; a TUN packet is no longer than the datagram minus 32; a produced datagram is a
 * well-formed message; and after all the hostile input, if both sides still report a session,
 * a genuine packet from A still arrives intact at B. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "crypto/crypto.h"
#include "fuzz_lcg.h"
#include "proto/identity.h"
#include "proto/messages.h"
#include "proto/tunnel.h"
#include "tunpair.h"

#define HEAD WG_DATA_HEADER_LEN
#define CAP 4096

static wg_time_ns g_now;

static wg_identity g_ida, g_idb;
static fuzz_lcg g_rnga, g_rngb;

typedef struct {
	wg_tunnel *a, *b;
	bool prepared, corrupt_prep;
	uint8_t buf[HEAD + CAP];
	uint8_t out[CAP];
} harness;

static wg_tunnel *make(const wg_identity *self, const wg_identity *peer, fuzz_lcg *r)
{
	return tunpair_tunnel(self, peer->public_key, (wg_rng){fuzz_lcg_fill, r},
			      (wg_wallclock){tunpair_wall, &g_now}, g_now);
}

static void check_result(wg_tun_result r, size_t out_len, size_t cap, size_t in_len)
{
	CHECK_OR_TRAP(r >= WG_TUN_ERR_NO_KEY && r <= WG_TUN_WRITE_TUN_V6);
	CHECK_OR_TRAP(out_len <= cap);
	if (r < 0 || r == WG_TUN_DONE)
		CHECK_OR_TRAP(out_len == 0);
	if (r == WG_TUN_WRITE_TUN_V4 || r == WG_TUN_WRITE_TUN_V6)
		CHECK_OR_TRAP(in_len >= WG_MSG_DATA_MIN_LEN &&
			      out_len <= in_len - WG_MSG_DATA_MIN_LEN);
}

/* Hands msg (len bytes, at h->buf + HEAD) to B; replies are drained and dropped. */
static wg_tun_result to_b(harness *h, size_t len, bool out_of_place)
{
	uint8_t *msg = h->buf + HEAD;
	uint8_t *out = out_of_place ? h->out : msg + HEAD;
	size_t cap = out_of_place ? sizeof(h->out) : sizeof(h->buf) - 2 * HEAD;
	size_t n = 7;
	bool auth = false;
	wg_tun_result r;

	if (h->prepared && wg_msg_classify(msg, len) == WG_MSG_INITIATION) {
		wg_tunnel_initiation prep;
		wg_tun_result p = wg_tunnel_initiation_prepare(&g_idb, msg, len, &prep);

		CHECK_OR_TRAP(p == WG_TUN_DONE ? prep.in.valid : !prep.in.valid);
		if (h->corrupt_prep)
			prep.in.chaining_key[len % 32] ^= 0x40;
		r = wg_tunnel_decapsulate_initiation(h->b, g_now, msg, len, &prep, out, cap, &n,
						     &auth);
		CHECK_OR_TRAP(!prep.in.valid); /* always consumed */
		if (p != WG_TUN_DONE && r == WG_TUN_WRITE_NETWORK)
			__builtin_trap(); /* what the anonymous step refused, the tunnel must too */
	} else {
		r = wg_tunnel_decapsulate(h->b, g_now, msg, len, out, cap, &n, &auth);
	}
	check_result(r, n, cap, len);
	if (r == WG_TUN_WRITE_NETWORK)
		CHECK_OR_TRAP(wg_msg_classify(out, n) != 0 && auth);
	if (r < 0)
		CHECK_OR_TRAP(!auth || r == WG_TUN_ERR_MALFORMED);
	for (int i = 0; i < 200; i++) {
		wg_tun_result f = wg_tunnel_flush(h->b, g_now, h->out, sizeof(h->out), &n);
		check_result(f, n, sizeof(h->out), 0);
		if (f != WG_TUN_WRITE_NETWORK)
			break;
	}
	return r;
}

/* Moves one datagram from A (in h->out, n bytes) to B and B's answer back to A. */
static void exchange(harness *h, const uint8_t *msg, size_t n)
{
	uint8_t reply[CAP];
	size_t rn = 0, fn = 0;
	bool auth;

	memcpy(h->buf + HEAD, msg, n);
	if (wg_tunnel_decapsulate(h->b, g_now, h->buf + HEAD, n, reply, sizeof(reply), &rn,
				  &auth) != WG_TUN_WRITE_NETWORK)
		return;
	if (wg_tunnel_decapsulate(h->a, g_now, reply, rn, h->out, sizeof(h->out), &fn, &auth) ==
	    WG_TUN_WRITE_NETWORK) {
		/* A's key confirmation */
		memcpy(h->buf + HEAD, h->out, fn);
		(void)wg_tunnel_decapsulate(h->b, g_now, h->buf + HEAD, fn, reply, sizeof(reply),
					    &rn, &auth);
	}
}

static size_t a_initiation(harness *h)
{
	size_t n = 0;

	if (wg_tunnel_force_handshake(h->a, g_now, h->out, sizeof(h->out), &n) !=
	    WG_TUN_WRITE_NETWORK)
		return 0;
	return n;
}

static void handshake(harness *h)
{
	uint8_t init[WG_MSG_INITIATION_LEN];
	size_t n = a_initiation(h);

	if (n != WG_MSG_INITIATION_LEN)
		return;
	memcpy(init, h->out, n);
	exchange(h, init, n);
}

/* A encapsulates data as if it were an IP packet; the datagram lands in h->buf + HEAD. */
static size_t a_data(harness *h, const uint8_t *data, size_t len)
{
	uint8_t pkt[HEAD + CAP];
	size_t n = 0;

	if (len == 0 || len > CAP - 64)
		return 0;
	memcpy(pkt + HEAD, data, len);
	if (wg_tunnel_encapsulate(h->a, g_now, pkt + HEAD, len, pkt, sizeof(pkt), &n) !=
	    WG_TUN_WRITE_NETWORK)
		return 0;
	if (wg_msg_classify(pkt, n) != WG_MSG_DATA)
		return 0;
	memcpy(h->buf + HEAD, pkt, n);
	return n;
}

static void recompute_mac1(uint8_t *msg)
{
	crypto_mac(msg + WG_INIT_OFF_MAC1, g_idb.mac1_key, 32, msg, WG_INIT_OFF_MAC1);
}

static void check_still_works(harness *h)
{
	wg_tunnel_stats sa, sb;
	uint8_t pkt[60];
	size_t n, m = 0;
	bool auth;

	(void)wg_tunnel_flush(h->a, g_now, h->out, sizeof(h->out), &n);
	(void)wg_tunnel_flush(h->b, g_now, h->out, sizeof(h->out), &n);
	wg_tunnel_get_stats(h->a, &sa);
	wg_tunnel_get_stats(h->b, &sb);
	if (!sa.has_session || !sb.has_session || wg_tunnel_staged_count(h->a))
		return;
	memset(pkt, 0x5a, sizeof(pkt));
	pkt[0] = 0x45;
	pkt[2] = 0;
	pkt[3] = sizeof(pkt);
	n = a_data(h, pkt, sizeof(pkt));
	CHECK_OR_TRAP(n > 0);
	CHECK_OR_TRAP(wg_tunnel_decapsulate(h->b, g_now, h->buf + HEAD, n, h->out,
					    sizeof(h->out), &m, &auth) == WG_TUN_WRITE_TUN_V4);
	CHECK_OR_TRAP(m == sizeof(pkt) && memcmp(h->out, pkt, m) == 0);
}

static void mode_raw(harness *h, const uint8_t *d, size_t n, bool oop)
{
	if (n > CAP)
		n = CAP;
	memcpy(h->buf + HEAD, d, n);
	(void)to_b(h, n, oop);
}

static void mode_initiation(harness *h, const uint8_t *d, size_t n, bool oop)
{
	size_t len = a_initiation(h);

	if (len != WG_MSG_INITIATION_LEN)
		return;
	memcpy(h->buf + HEAD, h->out, len);
	for (size_t i = 0; i + 1 < n; i += 2)
		h->buf[HEAD + 4 + d[i] % (WG_INIT_OFF_MAC1 - 4)] ^= d[i + 1];
	recompute_mac1(h->buf + HEAD);
	(void)to_b(h, len, oop);
}

static void mode_data(harness *h, uint8_t mode, const uint8_t *d, size_t n, bool oop)
{
	size_t len;

	handshake(h);
	len = a_data(h, d, n);
	if (!len)
		return;
	if ((mode & 4) && n > 0)
		h->buf[HEAD + d[0] % len] ^= (uint8_t)(1u << (d[n - 1] & 7));
	(void)to_b(h, len, oop);
	check_still_works(h);
}

static void mode_script(harness *h, const uint8_t *d, size_t n, bool oop)
{
	size_t pos = 0;

	handshake(h);
	while (pos + 2 <= n) {
		size_t len = d[pos];
		uint8_t kind = d[pos + 1];
		const uint8_t *p = d + pos + 2;

		pos += 2;
		if (len > n - pos)
			len = n - pos;
		pos += len;
		switch (kind % 4) {
		case 0:
			memcpy(h->buf + HEAD, p, len);
			(void)to_b(h, len, oop);
			break;
		case 1: {
			size_t m = a_data(h, p, len);
			if (m)
				(void)to_b(h, m, oop);
			break;
		}
		case 2: {
			size_t m = a_initiation(h);
			uint8_t init[WG_MSG_INITIATION_LEN];
			if (m == WG_MSG_INITIATION_LEN) {
				memcpy(init, h->out, m);
				exchange(h, init, m);
			}
			break;
		}
		default: {
			size_t on = 0;
			g_now += WG_SEC((wg_time_ns)(kind >> 2) * 7);
			for (int i = 0; i < 200; i++) {
				wg_tun_result r = wg_tunnel_tick(h->b, g_now, h->out,
								 sizeof(h->out), &on);
				check_result(r, on, sizeof(h->out), 0);
				if (r != WG_TUN_WRITE_NETWORK)
					break;
			}
			for (int i = 0; i < 200; i++)
				if (wg_tunnel_tick(h->a, g_now, h->out, sizeof(h->out), &on) !=
				    WG_TUN_WRITE_NETWORK)
					break;
			break;
		}
		}
	}
	check_still_works(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static harness h;
	static bool init;
	uint8_t mode;
	bool oop;

	if (!init) {
		uint8_t k[32];
		fuzz_lcg seed = {42};
		fuzz_lcg_fill(&seed, k, 32);
		CHECK_OR_TRAP(wg_identity_set(&g_ida, k) == 0);
		fuzz_lcg_fill(&seed, k, 32);
		CHECK_OR_TRAP(wg_identity_set(&g_idb, k) == 0);
		init = true;
	}
	if (size < 1)
		return 0;
	/* Same state for the same input: fresh tunnels, clock and generators every run. */
	g_now = WG_SEC(100);
	g_rnga.s = 1;
	g_rngb.s = 2;
	h.a = make(&g_ida, &g_idb, &g_rnga);
	h.b = make(&g_idb, &g_ida, &g_rngb);
	CHECK_OR_TRAP(h.a && h.b);
	mode = data[0];
	oop = (mode & 8) != 0;
	h.prepared = (mode & 16) != 0;
	h.corrupt_prep = (mode & 32) != 0;
	data++;
	size--;
	switch (mode % 4) {
	case 0:
		mode_raw(&h, data, size, oop);
		break;
	case 1:
		mode_initiation(&h, data, size, oop);
		break;
	case 2:
		mode_data(&h, mode, data, size, oop);
		break;
	default:
		mode_script(&h, data, size, oop);
		break;
	}
	wg_tunnel_free(h.a);
	wg_tunnel_free(h.b);
	h.a = h.b = NULL;
	return 0;
}
