/* Two tunnels in memory, virtual time (tests/support/tunsim.h): rekeys by time and by
 * messages, expiry and key zeroing, giving up, keepalives (one-way, persistent, and one made
 * before the device has a key). */
#include "tunsim.h"
#include "test.h"

#include "crypto/crypto.h"
#include "proto/cookie.h"
#include "proto/identity.h"
#include "proto/messages.h"
#include "proto/timers.h"
#include "proto/tunnel.h"

#include <stdlib.h>

static void test_rekey_by_time(void)
{
	peer a, b;
	tunsim_setup(&a, &b, 5);
	tunsim_start(&a, &b);
	wg_time_ns t0 = tunsim_now;
	tunsim_send_packet(&a, 60, 0);
	tunsim_deliver_all(&a, &b);
	/* Only the responder sends, every second: it must never initiate on time. The
	 * initiator answers with keepalives every ~10 s; the first one on a keypair >= 120 s old
	 * starts its rekey (send-side keep_key_fresh applies to keepalives too). */
	int first_new_init_at = -1;
	for (int s = 1; s <= 200; s++) {
		tunsim_run_until(&a, &b, t0 + WG_SEC(s));
		tunsim_send_packet(&b, 60, (uint32_t)s);
		tunsim_run_until(&a, &b, tunsim_now);
		if (first_new_init_at < 0 && a.inits > 1)
			first_new_init_at = s;
	}
	CHECK_EQ_INT(b.inits, 0);
	CHECK_MSG(first_new_init_at >= 120 && first_new_init_at <= 131, "rekey at %d s",
		  first_new_init_at);
	CHECK_EQ_INT(a.tun_packets, 200); /* nothing lost across the rekey */
	tunsim_teardown(&a, &b);

	/* The last-minute rule: the initiator sends nothing at all, data from the responder
	 * arrives on a keypair >= 165 s old -> the initiator starts a handshake. */
	tunsim_setup(&a, &b, 55);
	tunsim_start(&a, &b);
	t0 = tunsim_now;
	tunsim_send_packet(&a, 60, 0);
	tunsim_deliver_all(&a, &b);
	tunsim_run_until(&a, &b, t0 + WG_SEC(164));
	tunsim_send_packet(&b, 60, 1);
	tunsim_run_until(&a, &b, tunsim_now);
	CHECK_EQ_INT(a.inits, 1);
	tunsim_run_until(&a, &b, t0 + WG_SEC(165));
	tunsim_send_packet(&b, 60, 2);
	tunsim_run_until(&a, &b, tunsim_now);
	CHECK_EQ_INT(a.inits, 2);
	CHECK_EQ_INT(b.inits, 0);
	/* Both packets of the responder arrived. */
	CHECK_EQ_INT(a.tun_packets, 2);
	tunsim_teardown(&a, &b);

	/* The initiator sending: rekey at 120 s. */
	tunsim_setup(&a, &b, 6);
	tunsim_start(&a, &b);
	t0 = tunsim_now;
	tunsim_send_packet(&a, 60, 0);
	tunsim_deliver_all(&a, &b);
	first_new_init_at = -1;
	for (int s = 1; s <= 130; s++) {
		tunsim_run_until(&a, &b, t0 + WG_SEC(s));
		tunsim_send_packet(&a, 60, (uint32_t)s);
		tunsim_run_until(&a, &b, tunsim_now); /* work due now (the rekey initiation) */
		if (first_new_init_at < 0 && a.inits > 1)
			first_new_init_at = s;
	}
	CHECK_MSG(first_new_init_at == 120, "rekey at %d s", first_new_init_at);
	CHECK_EQ_INT(a.inits, 2);
	CHECK_EQ_INT(b.resps, 2);
	CHECK_EQ_INT(b.tun_packets, 131);
	CHECK_EQ_INT(b.inits, 0);
	tunsim_teardown(&a, &b);
}

static void test_rekey_by_messages(void)
{
	peer a, b;
	tunsim_setup(&a, &b, 7);
	tunsim_start(&a, &b);
	tunsim_send_packet(&a, 60, 0);
	tunsim_deliver_all(&a, &b);
	tunsim_run_until(&a, &b, tunsim_now + WG_SEC(6)); /* past the 5 s rule */
	/* Rekey once the next counter passes the limit, i.e. after sending nonce REKEY. */
	wg_tunnel_test_set_send_counter(a.t, WG_REKEY_AFTER_MESSAGES - 1);
	CHECK_EQ_INT(tunsim_send_packet(&a, 60, 1), WG_TUN_WRITE_NETWORK);
	CHECK(wg_tunnel_next_deadline(a.t) > tunsim_now); /* not yet */
	CHECK_EQ_INT(tunsim_send_packet(&a, 60, 2), WG_TUN_WRITE_NETWORK);
	CHECK(wg_tunnel_next_deadline(a.t) <= tunsim_now); /* initiation due */
	tunsim_run_until(&a, &b, tunsim_now);
	CHECK_EQ_INT(a.inits, 2);
	CHECK_EQ_INT(b.tun_packets, 3);
	/* REJECT_AFTER_MESSAGES: the last counter is usable, then packets wait for a new
	 * session. */
	tunsim_run_until(&a, &b, tunsim_now + WG_SEC(6));
	wg_tunnel_test_set_send_counter(a.t, WG_REJECT_AFTER_MESSAGES - 1);
	CHECK_EQ_INT(tunsim_send_packet(&a, 60, 3), WG_TUN_WRITE_NETWORK);
	CHECK(a.q[a.nq - 1].len == 96 && a.q[a.nq - 1].buf[HEADROOM] == 4);
	int inits = a.inits;
	CHECK_EQ_INT(tunsim_send_packet(&a, 60, 4), WG_TUN_WRITE_NETWORK); /* an initiation */
	CHECK_EQ_INT(a.inits, inits + 1);
	CHECK_EQ_INT(wg_tunnel_staged_count(a.t), 1);
	tunsim_run_until(&a, &b, tunsim_now);
	CHECK_EQ_INT(b.tun_packets, 5);
	CHECK_EQ_INT(b.last_tun_id, 4);
	tunsim_teardown(&a, &b);
}

static void test_expiry_and_zeroing(void)
{
	peer a, b;
	tunsim_setup(&a, &b, 8);
	tunsim_start(&a, &b);
	wg_time_ns t0 = tunsim_now;
	tunsim_send_packet(&a, 60, 0);
	tunsim_deliver_all(&a, &b);
	tunsim_send_packet(&b, 60, 1);
	dgram late = b.q[0]; /* captured, delivered much later */
	tunsim_deliver_all(&a, &b);
	tunsim_run_until(&a, &b, t0 + WG_SEC(179));
	CHECK(tunsim_stats(&a).has_session);
	tunsim_run_until(&a, &b, t0 + WG_SEC(180));
	/* stats are as of the latest call: give both tunnels the time. */
	tunsim_drain_flush(&a);
	tunsim_drain_flush(&b);
	CHECK(!tunsim_stats(&a).has_session && !tunsim_stats(&b).has_session);
	/* Receive side: the keypair is too old. */
	CHECK_EQ_INT(tunsim_deliver_one(&a, late.buf, late.len), WG_TUN_ERR_NO_SESSION);
	/* Zeroing at 540 s after the session was derived; then zero wakeups. */
	CHECK(tunsim_next_deadline(&a, &b) != WG_TIME_NEVER);
	tunsim_run_until(&a, &b, t0 + WG_SEC(539));
	CHECK(tunsim_next_deadline(&a, &b) <= t0 + WG_SEC(540));
	tunsim_run_until(&a, &b, t0 + WG_SEC(541));
	CHECK_EQ_U64(tunsim_next_deadline(&a, &b), WG_TIME_NEVER);
	CHECK_EQ_INT(a.inits, 1);
	/* After zeroing a new packet starts a fresh handshake and gets through. */
	tunsim_send_packet(&a, 60, 2);
	tunsim_run_until(&a, &b, tunsim_now + WG_SEC(1));
	CHECK_EQ_INT(a.inits, 2);
	CHECK_EQ_INT(b.last_tun_id, 2);
	tunsim_teardown(&a, &b);
}

static void test_give_up(void)
{
	peer a, b;
	tunsim_setup(&a, &b, 9);
	tunsim_start(&a, &b);
	a.blackhole = true;
	wg_time_ns t0 = tunsim_now, last_init = 0;
	tunsim_send_packet(&a, 60, 0);
	for (int s = 1; s <= 200; s++) {
		int before = a.inits;
		tunsim_run_until(&a, &b, t0 + WG_SEC(s));
		if (a.inits != before)
			last_init = tunsim_now - t0;
	}
	CHECK_EQ_INT(a.inits, 20);
	CHECK(last_init >= WG_SEC(95) && last_init <= WG_SEC(102));
	/* Every retry is a new initiation: fresh index and fresh ephemeral key. */
	int same = 0;
	for (int i = 0; i < 20; i++)
		for (int j = 0; j < i; j++)
			same += a.init_index[i] == a.init_index[j] ||
				memcmp(a.init_ephemeral[i], a.init_ephemeral[j], 32) == 0;
	CHECK_EQ_INT(same, 0);
	CHECK_EQ_INT(wg_tunnel_staged_count(a.t), 0); /* dropped on give-up */
	CHECK_EQ_INT(tunsim_stats(&a).handshake_attempts, WG_MAX_TIMER_HANDSHAKES + 1);
	/* Only the zero-key timer is left; then nothing. */
	tunsim_run_until(&a, &b, t0 + WG_SEC(800));
	CHECK_EQ_U64(wg_tunnel_next_deadline(a.t), WG_TIME_NEVER);
	CHECK_EQ_INT(a.inits, 20);
	tunsim_teardown(&a, &b);
}

static void test_keepalive_one_way(void)
{
	peer a, b;
	tunsim_setup(&a, &b, 15);
	tunsim_start(&a, &b);
	wg_time_ns t0 = tunsim_now;
	tunsim_send_packet(&a, 60, 0);
	tunsim_deliver_all(&a, &b);
	/* A sends for 3 s, B never has data: B keeps A's new-handshake timer quiet with
	 * keepalives: one 10 s after the first data, one more because data kept coming. */
	for (int s = 1; s <= 3; s++) {
		tunsim_run_until(&a, &b, t0 + WG_SEC(s));
		tunsim_send_packet(&a, 60, (uint32_t)s);
		tunsim_deliver_all(&a, &b);
	}
	tunsim_run_until(&a, &b, t0 + WG_SEC(60));
	CHECK_EQ_INT(b.keepalives, 2);
	CHECK_EQ_INT(a.inits, 1); /* no new handshake: A heard from B */
	CHECK_EQ_INT(a.keepalives, 0);
	CHECK_EQ_U64(tunsim_next_deadline(&a, &b), t0 + WG_SEC(540));
	tunsim_teardown(&a, &b);
}

static void test_persistent_keepalive(void)
{
	peer a, b;
	tunsim_setup(&a, &b, 16);
	a.pk = 25;
	tunsim_start(&a, &b);
	wg_time_ns t0 = tunsim_now;
	/* Configured at creation: a keepalive is owed at once, which needs a handshake. */
	CHECK(wg_tunnel_next_deadline(a.t) <= tunsim_now);
	tunsim_run_until(&a, &b, t0 + WG_SEC(1));
	CHECK_EQ_INT(a.inits, 1);
	CHECK_EQ_INT(a.keepalives, 1); /* the key confirmation */
	tunsim_run_until(&a, &b, t0 + WG_SEC(101));
	CHECK_EQ_INT(a.keepalives, 5); /* at 0, 25, 50, 75, 100 */
	CHECK_EQ_INT(b.keepalives, 0);
	/* Off: silence. On again at runtime: one at once. */
	wg_tunnel_set_persistent_keepalive(a.t, tunsim_now, 0);
	tunsim_run_until(&a, &b, t0 + WG_SEC(119));
	CHECK_EQ_INT(a.keepalives, 5);
	CHECK_EQ_INT(a.inits, 1);
	wg_tunnel_set_persistent_keepalive(b.t, tunsim_now, 10);
	tunsim_run_until(&a, &b, tunsim_now);
	CHECK_EQ_INT(b.keepalives, 1);
	tunsim_run_until(&a, &b, tunsim_now + WG_SEC(10));
	CHECK_EQ_INT(b.keepalives, 2);
	tunsim_teardown(&a, &b);
}

/* A persistent-keepalive tunnel made before its device has a private key (one `wg setconf`
 * applies the peer, then the key): the key's arrival starts the handshake, without traffic. */
static void test_keepalive_waits_for_identity(void)
{
	peer a, b;
	uint8_t priv[32];
	tunsim_setup(&a, &b, 23);
	memcpy(priv, a.id.private_key, 32);
	b.t = tunsim_make_tunnel(&b, tunsim_now); /* B knows A's public key */
	wg_identity_clear(&a.id);
	a.pk = 25;
	a.t = tunsim_make_tunnel(&a, tunsim_now);
	CHECK(a.t && b.t);
	tunsim_drain_tick(&a);
	CHECK_EQ_INT(a.inits, 0); /* nothing can be sent without a key */
	CHECK_EQ_INT(wg_identity_set(&a.id, priv), 0);
	wg_tunnel_identity_changed(a.t, tunsim_now);
	CHECK(wg_tunnel_next_deadline(a.t) == 0); /* due now */
	tunsim_drain_tick(&a);
	CHECK_EQ_INT(a.inits, 1);
	tunsim_deliver_all(&a, &b);
	CHECK(tunsim_stats(&a).has_session);
	CHECK(tunsim_stats(&b).has_session);
	/* Without anything staged, a key change alone starts nothing. */
	tunsim_now += WG_SEC(6);
	memset(priv, 0x44, 32);
	CHECK_EQ_INT(wg_identity_set(&b.id, priv), 0);
	wg_tunnel_identity_changed(b.t, tunsim_now);
	tunsim_drain_tick(&b);
	CHECK_EQ_INT(b.inits, 0);
	/* A datagram the device could not send leaves tx_bytes; never below zero. */
	uint64_t tx = tunsim_stats(&a).tx_bytes;
	CHECK(tx >= 148);
	wg_tunnel_unsent(a.t, 148);
	CHECK_EQ_U64(tunsim_stats(&a).tx_bytes, tx - 148);
	wg_tunnel_unsent(a.t, (size_t)tx);
	CHECK_EQ_U64(tunsim_stats(&a).tx_bytes, 0);
	crypto_wipe(priv, sizeof(priv));
	tunsim_teardown(&a, &b);
}

int main(void)
{
	test_rekey_by_time();
	test_rekey_by_messages();
	test_expiry_and_zeroing();
	test_give_up();
	test_keepalive_one_way();
	test_persistent_keepalive();
	test_keepalive_waits_for_identity();
	return test_finish("tunnel_timers");
}
