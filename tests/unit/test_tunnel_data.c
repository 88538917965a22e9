/* Two tunnels in memory (tests/support/tunsim.h): the handshake and data both ways, responder
 * confirmation, byte accounting, loss and reordering, PSK mismatch, a peer restart, and
 * deferred (parallel-path) crypto byte-identical to the one-shot calls. */
#include "tunsim.h"
#include "test.h"

#include "crypto/crypto.h"
#include "proto/cookie.h"
#include "proto/identity.h"
#include "proto/messages.h"
#include "proto/timers.h"
#include "proto/tunnel.h"

#include <stdlib.h>

static void test_handshake_and_data(void)
{
	peer a, b;
	tunsim_setup(&a, &b, 1);
	tunsim_start(&a, &b);
	CHECK_EQ_U64(wg_tunnel_next_deadline(a.t), WG_TIME_NEVER);
	CHECK_EQ_INT(tunsim_send_packet(&a, 84, 1), WG_TUN_WRITE_NETWORK);
	CHECK_EQ_INT(a.inits, 1);
	CHECK_EQ_INT(wg_tunnel_staged_count(a.t), 1);
	/* A second packet while the handshake runs: staged, no second initiation (5 s rule). */
	CHECK_EQ_INT(tunsim_send_packet(&a, 84, 2), WG_TUN_DONE);
	CHECK_EQ_INT(a.inits, 1);
	tunsim_deliver_all(&a, &b);
	CHECK_EQ_INT(b.resps, 1);
	CHECK_EQ_INT(b.tun_packets, 2);
	CHECK_EQ_INT(b.tun_ids[0], 1);
	CHECK_EQ_INT(b.tun_ids[1], 2);
	CHECK_EQ_INT(a.keepalives, 0); /* the staged data was the key confirmation */
	CHECK(tunsim_stats(&a).has_session && tunsim_stats(&b).has_session);
	CHECK(tunsim_stats(&a).last_handshake_wall_ns == tunsim_wall_base + tunsim_now);
	CHECK(tunsim_stats(&b).last_handshake_wall_ns == tunsim_wall_base + tunsim_now);
	/* Both ways, IPv4 packets of many sizes. */
	for (uint32_t i = 0; i < 50; i++) {
		CHECK_EQ_INT(tunsim_send_packet(&a, 20 + i * 29, 100 + i), WG_TUN_WRITE_NETWORK);
		CHECK_EQ_INT(tunsim_send_packet(&b, 1420 - i * 7, 200 + i), WG_TUN_WRITE_NETWORK);
	}
	tunsim_deliver_all(&a, &b);
	CHECK_EQ_INT(b.tun_packets, 52);
	CHECK_EQ_INT(a.tun_packets, 50);
	CHECK_EQ_INT(a.last_tun_id, 249);
	CHECK_EQ_INT(tunsim_stats(&a).dropped + tunsim_stats(&b).dropped, 0);
	tunsim_teardown(&a, &b);
}

static void test_responder_confirmation(void)
{
	peer a, b;
	tunsim_setup(&a, &b, 2);
	tunsim_start(&a, &b);
	uint8_t out[BUF_CAP];
	size_t n;
	CHECK_EQ_INT(wg_tunnel_force_handshake(a.t, tunsim_now, out, sizeof(out), &n),
		     WG_TUN_WRITE_NETWORK);
	tunsim_net_send(&a, out, n);
	/* Deliver only the initiation: B has a `next` keypair, cannot send yet. */
	uint8_t buf[HEADROOM + BUF_CAP];
	memcpy(buf + HEADROOM, a.q[0].buf + HEADROOM, a.q[0].len);
	size_t len = a.q[0].len;
	a.nq = 0;
	tunsim_deliver_one(&b, buf, len);
	CHECK(!tunsim_stats(&b).has_session);
	CHECK_EQ_INT(tunsim_send_packet(&b, 100, 7), WG_TUN_DONE); /* staged, 5 s rule: no init */
	CHECK_EQ_INT(b.inits, 0);
	CHECK_EQ_INT(wg_tunnel_staged_count(b.t), 1);
	tunsim_deliver_all(&a, &b); /* response -> A; A's keepalive -> B: confirmation */
	CHECK_EQ_INT(a.keepalives, 1);
	CHECK(tunsim_stats(&b).has_session);
	/* B's staged packet is released by flush after the confirmation. */
	CHECK_EQ_INT(a.tun_packets, 1);
	CHECK_EQ_INT(a.last_tun_id, 7);
	CHECK_EQ_INT(wg_tunnel_staged_count(b.t), 0);
	/* Force while a session exists and no handshake is pending: a new one goes out, but
	 * only after 5 s. */
	CHECK_EQ_INT(wg_tunnel_force_handshake(a.t, tunsim_now, out, sizeof(out), &n), WG_TUN_DONE);
	tunsim_teardown(&a, &b);
}

static void test_stats_accounting(void)
{
	peer a, b;
	tunsim_setup(&a, &b, 3);
	tunsim_start(&a, &b);
	/* 10 pings of 56 bytes payload (84-byte IPv4 packets), each answered. */
	for (int i = 0; i < 10; i++) {
		tunsim_send_packet(&a, 84, (uint32_t)i);
		tunsim_deliver_all(&a, &b);
		tunsim_send_packet(&b, 84, 1000 + (uint32_t)i);
		tunsim_run_until(&a, &b, tunsim_now + WG_SEC(1));
	}
	CHECK_EQ_U64(tunsim_stats(&a).tx_bytes, 148 + 10 * 128);
	CHECK_EQ_U64(tunsim_stats(&a).rx_bytes, 92 + 10 * 128);
	CHECK_EQ_U64(tunsim_stats(&b).tx_bytes, 92 + 10 * 128);
	CHECK_EQ_U64(tunsim_stats(&b).rx_bytes, 148 + 10 * 128);
	/* 10 s later A owes one keepalive for B's last reply (checklist: 1460). */
	tunsim_run_until(&a, &b, tunsim_now + WG_SEC(15));
	CHECK_EQ_U64(tunsim_stats(&a).tx_bytes, 148 + 10 * 128 + 32);
	CHECK_EQ_INT(a.keepalives, 1);
	tunsim_teardown(&a, &b);
}

static void test_loss_and_reordering(void)
{
	peer a, b;
	tunsim_setup(&a, &b, 4);
	tunsim_start(&a, &b);
	tunsim_send_packet(&a, 60, 0);
	tunsim_deliver_all(&a, &b);
	CHECK_EQ_INT(b.tun_packets, 1);
	for (uint32_t i = 1; i <= 100; i++)
		tunsim_send_packet(&a, 60, i);
	CHECK_EQ_INT(a.nq, 100);
	/* Deliver in reverse, drop every 7th, deliver every 10th twice. */
	dgram *batch = malloc(sizeof(dgram) * 100);
	memcpy(batch, a.q, sizeof(dgram) * 100);
	a.nq = 0;
	int expected = 0, replays = 0;
	for (int i = 99; i >= 0; i--) {
		if (i % 7 == 3)
			continue;
		dgram copy = batch[i];
		CHECK(tunsim_deliver_one(&b, batch[i].buf, batch[i].len) == WG_TUN_WRITE_TUN_V4);
		expected++;
		if (i % 10 == 0) {
			CHECK_EQ_INT(tunsim_deliver_one(&b, copy.buf, copy.len), WG_TUN_ERR_REPLAY);
			replays++;
		}
	}
	CHECK_EQ_INT(b.tun_packets, 1 + expected);
	CHECK_EQ_INT(b.errors[-WG_TUN_ERR_REPLAY], replays);
	CHECK_EQ_INT(tunsim_stats(&b).dropped, replays);
	/* Far behind the window: counter 4 (never delivered) after 9000 newer ones. */
	for (uint32_t i = 0; i < 9000; i++) {
		tunsim_send_packet(&a, 60, 5000 + i);
		if (a.nq == NET_QUEUE) {
			tunsim_deliver_all(&a, &b);
		}
	}
	tunsim_deliver_all(&a, &b);
	int before = b.errors[-WG_TUN_ERR_REPLAY];
	CHECK_EQ_INT(tunsim_deliver_one(&b, batch[3].buf, batch[3].len), WG_TUN_ERR_REPLAY);
	CHECK_EQ_INT(b.errors[-WG_TUN_ERR_REPLAY], before + 1);
	free(batch);
	tunsim_teardown(&a, &b);
}

static void test_psk(void)
{
	peer a, b;
	/* Matching PSK works. */
	tunsim_setup(&a, &b, 10);
	memset(a.psk, 0x42, 32);
	memset(b.psk, 0x42, 32);
	tunsim_start(&a, &b);
	tunsim_send_packet(&a, 60, 1);
	tunsim_deliver_all(&a, &b);
	CHECK_EQ_INT(b.tun_packets, 1);
	tunsim_teardown(&a, &b);

	/* Mismatch: B answers (the PSK enters only the response), A refuses the response. */
	tunsim_setup(&a, &b, 11);
	memset(a.psk, 0x42, 32);
	tunsim_start(&a, &b);
	tunsim_send_packet(&a, 60, 1);
	tunsim_deliver_all(&a, &b);
	CHECK_EQ_INT(b.resps, 1);
	CHECK_EQ_INT(a.errors[-WG_TUN_ERR_DECRYPT], 1);
	CHECK(!tunsim_stats(&a).has_session && !tunsim_stats(&b).has_session);
	CHECK_EQ_INT(b.tun_packets, 0);
	CHECK_EQ_INT(tunsim_stats(&a).dropped, 1);
	/* Fixing the key lets the next retransmission succeed. */
	wg_tunnel_set_preshared_key(b.t, a.psk);
	tunsim_run_until(&a, &b, tunsim_now + WG_SEC(6));
	CHECK_EQ_INT(b.tun_packets, 1);
	CHECK(tunsim_stats(&a).has_session && tunsim_stats(&b).has_session);
	tunsim_teardown(&a, &b);
}

static void test_peer_restart(void)
{
	peer a, b;
	tunsim_setup(&a, &b, 12);
	tunsim_start(&a, &b);
	tunsim_send_packet(&a, 60, 1);
	tunsim_deliver_all(&a, &b);
	tunsim_run_until(&a, &b, tunsim_now + WG_SEC(30));
	/* The initiator restarts: a new tunnel with the same keys, newer timestamp. */
	wg_tunnel_free(a.t);
	a.t = tunsim_make_tunnel(&a, tunsim_now);
	tunsim_send_packet(&a, 60, 2);
	tunsim_deliver_all(&a, &b);
	CHECK_EQ_INT(b.last_tun_id, 2);
	CHECK_EQ_INT(a.inits, 2);
	tunsim_run_until(&a, &b, tunsim_now + WG_SEC(30));

	/* The responder restarts; the initiator keeps sending into the void until its
	 * new-handshake timer (15 s without an answer) fires. */
	wg_tunnel_free(b.t);
	b.t = tunsim_make_tunnel(&b, tunsim_now);
	int tun = b.tun_packets;
	for (int s = 0; s < 20; s++) {
		tunsim_send_packet(&a, 60, 100 + (uint32_t)s);
		tunsim_run_until(&a, &b, tunsim_now + WG_SEC(1));
	}
	CHECK(b.errors[-WG_TUN_ERR_NO_SESSION] >= 15);
	CHECK_EQ_INT(a.inits, 3);
	CHECK(b.tun_packets > tun);
	CHECK_EQ_INT(b.last_tun_id, 119);
	tunsim_teardown(&a, &b);
}

/* Deferred crypto (the device's parallel path): byte-identical to the one-shot calls, the
 * crypto jobs run in any order, the in-order finish keeps order, replay and authentication. */
static void test_deferred_crypto(void)
{
	enum { N = 100 };
	static uint8_t one[N][HEADROOM + BUF_CAP], two[N][HEADROOM + BUF_CAP];
	static wg_tunnel_seal seals[N];
	static wg_tunnel_open opens[N];
	size_t len1[N], len2[N];
	peer a1, b1, a2, b2;
	crypto_aead_worker *w = crypto_aead_worker_new(), *w2 = crypto_aead_worker_new();
	uint8_t zero[WG_KEY_LEN] = {0};
	size_t n;
	bool auth;

	CHECK(w && w2);
	tunsim_setup(&a1, &b1, 77);
	tunsim_start(&a1, &b1);
	tunsim_setup(&a2, &b2, 77);
	tunsim_start(&a2, &b2);
	/* No session yet: the deferred call behaves as encapsulate (stages, sends an
	 * initiation), and both pairs stay identical. */
	tunsim_make_packet(two[0] + HEADROOM, 100, 1);
	CHECK_EQ_INT(wg_tunnel_encapsulate_deferred(a2.t, tunsim_now, two[0] + HEADROOM, 100, two[0],
						    sizeof(two[0]), &n, &seals[0]),
		     WG_TUN_WRITE_NETWORK);
	tunsim_net_send(&a2, two[0], n);
	CHECK_EQ_INT(tunsim_send_packet(&a1, 100, 1), WG_TUN_WRITE_NETWORK);
	CHECK(a1.nq == 1 && a2.nq == 1 && a1.q[0].len == a2.q[0].len &&
	      memcmp(a1.q[0].buf, a2.q[0].buf, a1.q[0].len) == 0);
	tunsim_deliver_all(&a1, &b1);
	tunsim_deliver_all(&a2, &b2);
	CHECK(tunsim_stats(&a1).has_session && tunsim_stats(&a2).has_session);
	/* Sealing: the jobs run backwards on two contexts; every byte equals the one-shot. */
	for (uint32_t i = 0; i < N; i++) {
		size_t len = 20 + (i * 37) % 1400;
		tunsim_make_packet(one[i] + HEADROOM, len, 100 + i);
		tunsim_make_packet(two[i] + HEADROOM, len, 100 + i);
		CHECK_EQ_INT(wg_tunnel_encapsulate(a1.t, tunsim_now, one[i] + HEADROOM, len, one[i],
						   sizeof(one[i]), &len1[i]),
			     WG_TUN_WRITE_NETWORK);
		CHECK_EQ_INT(wg_tunnel_encapsulate_deferred(a2.t, tunsim_now, two[i] + HEADROOM, len,
							    two[i], sizeof(two[i]), &len2[i],
							    &seals[i]),
			     WG_TUN_SEAL_LATER);
		CHECK(len2[i] == len1[i]);
	}
	for (int i = N - 1; i >= 0; i--)
		CHECK(wg_tunnel_seal_run(&seals[i], (i & 1) ? w : w2, two[i]));
	for (int i = 0; i < N; i++) {
		CHECK(memcmp(one[i], two[i], len1[i]) == 0);
		CHECK(memcmp(seals[i].key, zero, WG_KEY_LEN) == 0); /* wiped */
	}
	CHECK(tunsim_stats(&a1).tx_bytes == tunsim_stats(&a2).tx_bytes);
	/* Opening: prepare in order, run backwards, finish in order. One copy tampered, one a
	 * replay of the first. */
	two[5][40] ^= 1;
	memcpy(two[N - 1], two[0], len2[0]);
	len2[N - 1] = len2[0];
	for (int i = 0; i < N; i++)
		CHECK_EQ_INT(wg_tunnel_decapsulate_prepare(b2.t, tunsim_now, two[i], len2[i], &opens[i]),
			     WG_TUN_OPEN_LATER);
	for (int i = N - 1; i >= 0; i--)
		CHECK(wg_tunnel_open_run(&opens[i], (i & 1) ? w2 : w, two[i], len2[i]) == (i != 5));
	for (int i = 0; i < N; i++) {
		wg_tun_result r = wg_tunnel_decapsulate_finish(b2.t, tunsim_now, two[i], len2[i],
							       &opens[i], &n, &auth);
		CHECK(memcmp(opens[i].key, zero, WG_KEY_LEN) == 0);
		if (i == 5) {
			CHECK_EQ_INT(r, WG_TUN_ERR_DECRYPT);
			CHECK(!auth && n == 0);
		} else if (i == N - 1) {
			CHECK_EQ_INT(r, WG_TUN_ERR_REPLAY);
			CHECK(!auth && n == 0);
		} else {
			CHECK_EQ_INT(r, WG_TUN_WRITE_TUN_V4);
			CHECK(auth);
			CHECK(n == 20 + ((size_t)i * 37) % 1400);
			if (n >= 24) /* the id sits past a bare header (padding) */
				CHECK(wg_le32_read(two[i] + WG_DATA_HEADER_LEN + 20) ==
				      100 + (uint32_t)i);
		}
	}
	CHECK(tunsim_stats(&b2).dropped == 2);
	/* A datagram for no keypair of this tunnel, and one that is not data. */
	memcpy(two[0], one[1], len1[1]);
	wg_le32_write(two[0] + WG_DATA_OFF_RECEIVER, wg_le32_read(one[1] + 4) ^ 0x5a5a5a5a);
	CHECK_EQ_INT(wg_tunnel_decapsulate_prepare(b2.t, tunsim_now, two[0], len1[1], &opens[0]),
		     WG_TUN_ERR_NO_SESSION);
	CHECK_EQ_INT(wg_tunnel_decapsulate_prepare(b2.t, tunsim_now, two[0], 20, &opens[0]),
		     WG_TUN_ERR_MALFORMED);
	crypto_aead_worker_free(w);
	crypto_aead_worker_free(w2);
	tunsim_teardown(&a1, &b1);
	tunsim_teardown(&a2, &b2);
}

int main(void)
{
	test_handshake_and_data();
	test_responder_confirmation();
	test_stats_accounting();
	test_loss_and_reordering();
	test_psk();
	test_peer_restart();
	test_deferred_crypto();
	return test_finish("tunnel_data");
}
