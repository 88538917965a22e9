/* Two tunnels in memory (tests/support/tunsim.h) as a device under load drives them: cookie
 * replies to initiations and to responses, the staged-packet bound, and the two-step
 * responder path (prepare, then finish). */
#include "tunsim.h"
#include "test.h"

#include "crypto/crypto.h"
#include "proto/cookie.h"
#include "proto/identity.h"
#include "proto/messages.h"
#include "proto/timers.h"
#include "proto/tunnel.h"

#include <stdlib.h>

static void test_cookie_under_load(void)
{
	peer a, b;
	tunsim_setup(&a, &b, 13);
	tunsim_start(&a, &b);
	b.under_load = true;
	tunsim_send_packet(&a, 60, 1);
	/* The initiation reaches B, which answers with a cookie reply (no response). */
	CHECK_EQ_INT(a.nq, 1);
	{
		uint8_t buf[HEADROOM + BUF_CAP], out[BUF_CAP];
		size_t len = a.q[0].len, n = 7;
		bool auth = true;
		memcpy(buf + HEADROOM, a.q[0].buf + HEADROOM, len);
		a.nq = 0;
		tunsim_deliver_one(&b, buf, len);
		CHECK_EQ_INT(b.nq, 1);
		CHECK_EQ_INT(b.q[0].len, WG_MSG_COOKIE_REPLY_LEN);
		/* A takes the cookie: not an authenticated packet (no roaming), no timer moves,
		 * nothing is sent at once. */
		wg_time_ns deadline = wg_tunnel_next_deadline(a.t);
		wg_tunnel_stats before = tunsim_stats(&a);
		CHECK_EQ_INT(wg_tunnel_decapsulate(a.t, tunsim_now, b.q[0].buf + HEADROOM, b.q[0].len, out,
						   sizeof(out), &n, &auth),
			     WG_TUN_DONE);
		CHECK(!auth);
		CHECK_EQ_U64(n, 0);
		CHECK_EQ_U64(wg_tunnel_next_deadline(a.t), deadline);
		CHECK_EQ_U64(tunsim_stats(&a).rx_bytes, before.rx_bytes);
		CHECK_EQ_U64(tunsim_stats(&a).dropped, before.dropped);
		/* The same reply again: its mac1 was answered already (cookie.h: STATE = -5). */
		CHECK_EQ_INT(wg_tunnel_decapsulate(a.t, tunsim_now, b.q[0].buf + HEADROOM, b.q[0].len, out,
						   sizeof(out), &n, &auth),
			     WG_TUN_ERR_NO_SESSION);
		b.nq = 0;
	}
	CHECK_EQ_INT(b.cookies, 1);
	CHECK_EQ_INT(b.resps, 0);
	CHECK(!tunsim_stats(&a).has_session);
	/* The cookie reply is not retransmission: the next initiation waits for the timer and
	 * then carries a valid mac2. */
	CHECK_EQ_INT(a.inits, 1);
	tunsim_run_until(&a, &b, tunsim_now + WG_SEC(6));
	CHECK_EQ_INT(a.inits, 2);
	CHECK_EQ_INT(b.cookies, 1);
	CHECK_EQ_INT(b.resps, 1);
	CHECK_EQ_INT(b.tun_packets, 1);
	/* A forged cookie reply (wrong index) is refused. */
	wg_msg_cookie_reply bogus;
	memset(&bogus, 0, sizeof(bogus));
	wg_msg_set_header(bogus.header, WG_MSG_COOKIE_REPLY);
	uint8_t buf[HEADROOM + 64];
	memcpy(buf + HEADROOM, &bogus, 64);
	CHECK_EQ_INT(tunsim_deliver_one(&a, buf, 64), WG_TUN_ERR_NO_SESSION);
	tunsim_teardown(&a, &b);
}

static void test_staged_bound(void)
{
	peer a, b;
	tunsim_setup(&a, &b, 14);
	tunsim_start(&a, &b);
	a.blackhole = true;
	for (uint32_t i = 0; i < 200; i++)
		tunsim_send_packet(&a, 60, i);
	CHECK_EQ_INT(wg_tunnel_staged_count(a.t), WG_TUNNEL_MAX_STAGED);
	CHECK_EQ_U64(tunsim_stats(&a).dropped, 200 - WG_TUNNEL_MAX_STAGED);
	a.blackhole = false;
	tunsim_run_until(&a, &b, tunsim_now + WG_SEC(6)); /* the retransmission gets through */
	CHECK_EQ_INT(b.tun_packets, WG_TUNNEL_MAX_STAGED);
	CHECK_EQ_INT(b.tun_ids[0], 200 - WG_TUNNEL_MAX_STAGED); /* oldest dropped */
	CHECK_EQ_INT(b.last_tun_id, 199);
	bool in_order = true;
	for (int i = 1; i < WG_TUNNEL_MAX_STAGED; i++)
		in_order &= b.tun_ids[i] == b.tun_ids[i - 1] + 1;
	CHECK(in_order);
	tunsim_teardown(&a, &b);
}

/* The device's two-step responder path: prepare (find the sender, one X25519) then
 * decapsulate_initiation reusing that work. A prep is used only for the message and identity
 * it was made for. */
static void test_prepared_initiation(void)
{
	peer a, b;
	wg_identity c_id;
	uint8_t out[BUF_CAP], msg[WG_MSG_INITIATION_LEN], other[WG_MSG_INITIATION_LEN];
	size_t n;
	bool auth = false;
	wg_tunnel_initiation prep;

	tunsim_setup(&a, &b, 22);
	tunsim_start(&a, &b);
	CHECK_EQ_INT(wg_tunnel_force_handshake(a.t, tunsim_now, out, sizeof(out), &n),
		     WG_TUN_WRITE_NETWORK);
	memcpy(msg, out, sizeof(msg));
	/* Malformed or not for us: an error and a wiped prep. */
	memset(&prep, 0x55, sizeof(prep));
	CHECK_EQ_INT(wg_tunnel_initiation_prepare(&b.id, msg, sizeof(msg) - 1, &prep),
		     WG_TUN_ERR_MALFORMED);
	CHECK(!prep.in.valid && crypto_is_zero(&prep.in, sizeof(prep.in)));
	CHECK_EQ_INT(wg_tunnel_initiation_prepare(&a.id, msg, sizeof(msg), &prep), WG_TUN_ERR_MAC);
	CHECK(!prep.in.valid);
	/* A used prep is proven by a tampered chaining key: the timestamp no longer decrypts,
	 * whereas a recomputation would have succeeded. Nothing is committed. */
	CHECK_EQ_INT(wg_tunnel_initiation_prepare(&b.id, msg, sizeof(msg), &prep), WG_TUN_DONE);
	CHECK_MEM(prep.in.remote_static, a.id.public_key, 32);
	prep.in.chaining_key[0] ^= 1;
	CHECK_EQ_INT(wg_tunnel_decapsulate_initiation(b.t, tunsim_now, msg, sizeof(msg), &prep, out,
						      sizeof(out), &n, &auth),
		     WG_TUN_ERR_DECRYPT);
	CHECK(!auth && n == 0);
	CHECK(!prep.in.valid && crypto_is_zero(&prep, sizeof(prep)));
	/* A prep of another initiation (another ephemeral) is ignored: recomputed, works. */
	tunsim_now += WG_SEC(6);
	CHECK_EQ_INT(wg_tunnel_tick(a.t, tunsim_now, out, sizeof(out), &n), WG_TUN_WRITE_NETWORK);
	CHECK_EQ_U64(n, sizeof(other)); /* the retransmission: a new initiation */
	memcpy(other, out, sizeof(other));
	CHECK_EQ_INT(wg_tunnel_initiation_prepare(&b.id, msg, sizeof(msg), &prep), WG_TUN_DONE);
	CHECK_EQ_INT(wg_tunnel_decapsulate_initiation(b.t, tunsim_now, other, sizeof(other), &prep, out,
						      sizeof(out), &n, &auth),
		     WG_TUN_WRITE_NETWORK);
	CHECK(auth && n == WG_MSG_RESPONSE_LEN && out[0] == WG_MSG_RESPONSE);
	CHECK(!prep.in.valid);
	tunsim_teardown(&a, &b);

	/* A prep made for another identity (C's key) is not trusted either. */
	tunsim_setup(&a, &b, 24);
	tunsim_start(&a, &b);
	{
		uint8_t priv[32];
		memset(priv, 0x61, 32);
		CHECK_EQ_INT(wg_identity_set(&c_id, priv), 0);
	}
	tunsim_now += WG_SEC(1);
	CHECK_EQ_INT(wg_tunnel_force_handshake(a.t, tunsim_now, out, sizeof(out), &n),
		     WG_TUN_WRITE_NETWORK);
	memcpy(msg, out, sizeof(msg));
	/* mac1 is for B: C cannot prepare it; forge a prep claiming to be from it */
	CHECK_EQ_INT(wg_tunnel_initiation_prepare(&b.id, msg, sizeof(msg), &prep), WG_TUN_DONE);
	memcpy(prep.responder_public, c_id.public_key, 32);
	prep.in.chaining_key[0] ^= 1; /* would fail if it were used */
	CHECK_EQ_INT(wg_tunnel_decapsulate_initiation(b.t, tunsim_now, msg, sizeof(msg), &prep, out,
						      sizeof(out), &n, &auth),
		     WG_TUN_WRITE_NETWORK);
	tunsim_net_send(&b, out, n);
	tunsim_deliver_all(&a, &b);
	CHECK(tunsim_stats(&a).has_session && tunsim_stats(&b).has_session);
	/* The honest fast path end to end: prepare, decapsulate, session. */
	tunsim_now += WG_SEC(6);
	CHECK_EQ_INT(wg_tunnel_force_handshake(a.t, tunsim_now, out, sizeof(out), &n),
		     WG_TUN_WRITE_NETWORK);
	memcpy(msg, out, sizeof(msg));
	CHECK_EQ_INT(wg_tunnel_initiation_prepare(&b.id, msg, sizeof(msg), &prep), WG_TUN_DONE);
	int resps = b.resps;
	CHECK_EQ_INT(wg_tunnel_decapsulate_initiation(b.t, tunsim_now, msg, sizeof(msg), &prep, out,
						      sizeof(out), &n, &auth),
		     WG_TUN_WRITE_NETWORK);
	tunsim_net_send(&b, out, n);
	CHECK_EQ_INT(b.resps, resps + 1);
	tunsim_deliver_all(&a, &b);
	CHECK(tunsim_stats(&a).has_session && tunsim_stats(&b).has_session);
	/* Replaying it through the fast path: refused as a replay. */
	CHECK_EQ_INT(wg_tunnel_initiation_prepare(&b.id, msg, sizeof(msg), &prep), WG_TUN_DONE);
	CHECK_EQ_INT(wg_tunnel_decapsulate_initiation(b.t, tunsim_now + WG_SEC(1), msg, sizeof(msg),
						      &prep, out, sizeof(out), &n, &auth),
		     WG_TUN_ERR_REPLAY);
	CHECK(!auth);
	wg_identity_clear(&c_id);
	tunsim_teardown(&a, &b);
}

/* The initiator under load: B's response gets a cookie reply (receiver = B's index of the
 * new, unconfirmed keypair), B keeps the cookie without resending, and the response to A's
 * next initiation carries a valid mac2. */
static void test_cookie_for_response(void)
{
	peer a, b;
	tunsim_setup(&a, &b, 25);
	tunsim_start(&a, &b);
	a.under_load = true;
	tunsim_send_packet(&a, 60, 1);
	tunsim_deliver_all(&a, &b);
	CHECK_EQ_INT(b.resps, 1);
	CHECK_EQ_INT(a.cookies, 1);
	CHECK_EQ_INT(b.errors[-WG_TUN_ERR_NO_SESSION], 0); /* the reply found B's keypair */
	CHECK_EQ_INT(b.resps, 1);                         /* and did not trigger a resend */
	CHECK(!tunsim_stats(&a).has_session && !tunsim_stats(&b).has_session);
	tunsim_run_until(&a, &b, tunsim_now + WG_SEC(6));
	CHECK_EQ_INT(a.inits, 2);
	CHECK_EQ_INT(b.resps, 2);
	CHECK_EQ_INT(a.cookies, 1); /* the second response passed mac2 */
	CHECK(tunsim_stats(&a).has_session && tunsim_stats(&b).has_session);
	CHECK_EQ_INT(b.tun_packets, 1);
	tunsim_teardown(&a, &b);
}

int main(void)
{
	test_cookie_under_load();
	test_staged_bound();
	test_prepared_initiation();
	test_cookie_for_response();
	return test_finish("tunnel_load");
}
