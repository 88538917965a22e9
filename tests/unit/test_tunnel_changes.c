/* Two tunnels in memory (tests/support/tunsim.h) through configuration changes: the identity
 * changing under a tunnel, a local rebind, a new peer endpoint during an initiation, and a
 * private key flipped and restored. */
#include "tunsim.h"
#include "test.h"

#include "crypto/crypto.h"
#include "proto/cookie.h"
#include "proto/identity.h"
#include "proto/messages.h"
#include "proto/timers.h"
#include "proto/tunnel.h"

#include <stdlib.h>

static void test_identity_change_and_sender(void)
{
	peer a, b;
	tunsim_setup(&a, &b, 18);
	tunsim_start(&a, &b);
	uint8_t out[BUF_CAP], who[32];
	size_t n;
	CHECK_EQ_INT(wg_tunnel_force_handshake(a.t, tunsim_now, out, sizeof(out), &n),
		     WG_TUN_WRITE_NETWORK);
	CHECK_EQ_INT(wg_tunnel_initiation_sender(&b.id, out, n, who), WG_TUN_DONE);
	CHECK_MEM(who, a.id.public_key, 32);
	/* Sent to the wrong responder: mac1 fails. */
	CHECK_EQ_INT(wg_tunnel_initiation_sender(&a.id, out, n, who), WG_TUN_ERR_MAC);
	CHECK_EQ_INT(wg_tunnel_initiation_sender(&b.id, out, n - 1, who), WG_TUN_ERR_MALFORMED);
	tunsim_net_send(&a, out, n);
	tunsim_deliver_all(&a, &b);
	CHECK(tunsim_stats(&a).has_session);

	/* B's key changes: B's sessions stop sending, a handshake can start at once. */
	uint8_t priv[32];
	memset(priv, 0x33, 32);
	CHECK_EQ_INT(wg_identity_set(&b.id, priv), 0);
	wg_tunnel_identity_changed(b.t, tunsim_now);
	CHECK(!tunsim_stats(&b).has_session);
	/* A still expects B's old public key: B's initiation passes mac1 (made with A's key)
	 * but carries a static key that is not A's peer. */
	CHECK_EQ_INT(tunsim_send_packet(&b, 60, 5), WG_TUN_WRITE_NETWORK);
	CHECK_EQ_INT(b.inits, 1);
	tunsim_deliver_all(&a, &b);
	CHECK_EQ_INT(a.errors[-WG_TUN_ERR_DECRYPT], 1);
	CHECK_EQ_INT(a.tun_packets, 0);
	/* A restarted with B's new key: the handshake works again. */
	wg_tunnel_free(a.t);
	a.t = tunsim_make_tunnel(&a, tunsim_now);
	tunsim_run_until(&a, &b, tunsim_now + WG_SEC(6));
	CHECK_EQ_INT(a.last_tun_id, 5);
	tunsim_teardown(&a, &b);
}

/* A rebind (new listen port): with a session, one keepalive goes out at once so the peer
 * roams to the new port; without one, nothing (no handshake). */
static void test_local_address_changed(void)
{
	peer a, b;
	tunsim_setup(&a, &b, 40);
	tunsim_now = WG_SEC(100); /* a monotonic clock well past REKEY_TIMEOUT, as in real use */
	tunsim_start(&a, &b);
	wg_tunnel_local_address_changed(a.t, tunsim_now);
	tunsim_run_until(&a, &b, tunsim_now + WG_SEC(1));
	CHECK_EQ_INT(a.inits, 0);
	CHECK_EQ_INT(a.keepalives, 0);
	tunsim_send_packet(&a, 60, 1);
	tunsim_run_until(&a, &b, tunsim_now + MS(1));
	tunsim_send_packet(&b, 60, 2);
	tunsim_run_until(&a, &b, tunsim_now + MS(1));
	CHECK_EQ_INT(a.last_tun_id, 2);
	int k0 = a.keepalives, i0 = a.inits;
	uint64_t rx0 = tunsim_stats(&b).rx_bytes;
	wg_tunnel_local_address_changed(a.t, tunsim_now);
	CHECK(wg_tunnel_next_deadline(a.t) <= tunsim_now);
	tunsim_run_until(&a, &b, tunsim_now);
	CHECK_EQ_INT(a.keepalives, k0 + 1);
	CHECK_EQ_U64(tunsim_stats(&b).rx_bytes, rx0 + 32);
	CHECK_EQ_INT(a.inits, i0);
	/* No usable session (our key changed): nothing goes out. */
	wg_tunnel_identity_changed(a.t, tunsim_now);
	wg_tunnel_local_address_changed(a.t, tunsim_now);
	tunsim_run_until(&a, &b, tunsim_now + WG_SEC(1));
	CHECK_EQ_INT(a.keepalives, k0 + 1);
	CHECK_EQ_INT(a.inits, i0);
	/* An initiation in flight whose response is lost (it went to the old port): sent again
	 * at once, not after REKEY_TIMEOUT. */
	CHECK_EQ_INT(tunsim_send_packet(&a, 60, 3), WG_TUN_WRITE_NETWORK);
	CHECK_EQ_INT(a.inits, i0 + 1);
	b.blackhole = true;
	tunsim_deliver_all(&a, &b);
	b.blackhole = false;
	CHECK_EQ_INT(b.last_tun_id, 1);
	wg_time_ns t1 = tunsim_now;
	tunsim_now += MS(5);
	wg_tunnel_local_address_changed(a.t, tunsim_now);
	/* not sooner than the peer's flood rule allows, and nothing else may send sooner */
	CHECK_EQ_U64(wg_tunnel_next_deadline(a.t), t1 + TIMERS_RESEND_GAP);
	CHECK_EQ_INT(tunsim_send_packet(&a, 60, 4), WG_TUN_DONE); /* staged */
	CHECK_EQ_INT(a.inits, i0 + 1);
	tunsim_run_until(&a, &b, t1 + TIMERS_RESEND_GAP);
	CHECK_EQ_INT(a.inits, i0 + 2);
	CHECK_EQ_INT(b.last_tun_id, 4);
	tunsim_teardown(&a, &b);
}

/* The peer's endpoint is set to a new address (wg set ... endpoint) while an initiation is
 * in flight: it went to the old address, so it is sent again to the new one
 * TIMERS_RESEND_GAP after it (not REKEY_TIMEOUT + jitter), counted as a retry. With a
 * session, or without an initiation in flight, nothing changes. */
static void test_endpoint_changed(void)
{
	peer a, b;
	tunsim_setup(&a, &b, 42);
	tunsim_now = WG_SEC(100);
	tunsim_start(&a, &b);
	/* nothing in flight: no deadline, nothing sent */
	wg_tunnel_endpoint_changed(a.t, tunsim_now);
	CHECK_EQ_U64(wg_tunnel_next_deadline(a.t), WG_TIME_NEVER);
	tunsim_run_until(&a, &b, tunsim_now + WG_SEC(1));
	CHECK_EQ_INT(a.inits, 0);
	/* the first initiation goes to the old address: lost */
	CHECK_EQ_INT(tunsim_send_packet(&a, 60, 1), WG_TUN_WRITE_NETWORK);
	CHECK_EQ_INT(a.inits, 1);
	a.nq = 0;
	wg_time_ns t1 = tunsim_now;
	CHECK(wg_tunnel_next_deadline(a.t) >= t1 + WG_REKEY_TIMEOUT);
	tunsim_now += MS(5);
	wg_tunnel_endpoint_changed(a.t, tunsim_now);
	CHECK_EQ_U64(wg_tunnel_next_deadline(a.t), t1 + TIMERS_RESEND_GAP);
	/* no other trigger sends sooner (the 5 s rule opens at the new deadline) */
	CHECK_EQ_INT(tunsim_send_packet(&a, 60, 2), WG_TUN_DONE);
	CHECK_EQ_INT(a.inits, 1);
	tunsim_now = t1 + TIMERS_RESEND_GAP;
	tunsim_drain_tick(&a);
	CHECK_EQ_INT(a.inits, 2);
	CHECK_EQ_U64(tunsim_stats(&a).handshake_attempts, 1); /* a retry */
	tunsim_deliver_all(&a, &b);
	CHECK(tunsim_stats(&a).has_session);
	CHECK_EQ_INT(b.last_tun_id, 2);
	CHECK_EQ_INT(b.tun_packets, 2);
	/* with a session: no handshake, no keepalive, deadlines unchanged */
	wg_time_ns d = wg_tunnel_next_deadline(a.t);
	int k0 = a.keepalives;
	wg_tunnel_endpoint_changed(a.t, tunsim_now);
	CHECK_EQ_U64(wg_tunnel_next_deadline(a.t), d);
	CHECK_EQ_INT(a.inits, 2);
	CHECK_EQ_INT(a.keepalives, k0);
	tunsim_teardown(&a, &b);
}

/* The churn battery's key flip: A's private key changes and is restored 0.3 s later while
 * B streams to A. B's session keeps working towards A throughout (A still receives on it);
 * A's own traffic waits for a handshake, the one A sends under the foreign key is dropped by
 * B, and the restore starts a new one at once (no REKEY_TIMEOUT wait): A's staged packet is
 * through within the same instant. */
static void test_key_flip_restored(void)
{
	peer a, b;
	uint8_t orig[32], other[32];
	tunsim_setup(&a, &b, 41);
	tunsim_start(&a, &b);
	tunsim_send_packet(&a, 60, 1);
	tunsim_run_until(&a, &b, tunsim_now + MS(1));
	tunsim_send_packet(&b, 60, 2);
	tunsim_run_until(&a, &b, tunsim_now + MS(1));
	CHECK(tunsim_stats(&a).has_session && tunsim_stats(&b).has_session);
	memcpy(orig, a.id.private_key, 32);
	memset(other, 0x5a, 32);
	CHECK_EQ_INT(wg_identity_set(&a.id, other), 0);
	wg_tunnel_identity_changed(a.t, tunsim_now);
	CHECK(!tunsim_stats(&a).has_session);
	/* B -> A on the old session still arrives */
	CHECK_EQ_INT(tunsim_send_packet(&b, 60, 3), WG_TUN_WRITE_NETWORK);
	tunsim_deliver_all(&a, &b);
	CHECK_EQ_INT(a.last_tun_id, 3);
	/* A -> B: staged, an initiation under the foreign key, which B refuses */
	int i0 = a.inits;
	CHECK_EQ_INT(tunsim_send_packet(&a, 60, 4), WG_TUN_WRITE_NETWORK);
	CHECK_EQ_INT(a.inits, i0 + 1);
	tunsim_deliver_all(&a, &b);
	CHECK_EQ_INT(b.errors[-WG_TUN_ERR_DECRYPT], 1);
	CHECK_EQ_INT(b.last_tun_id, 1);
	tunsim_now += MS(300);
	CHECK_EQ_INT(wg_identity_set(&a.id, orig), 0);
	wg_tunnel_identity_changed(a.t, tunsim_now);
	CHECK(wg_tunnel_next_deadline(a.t) <= tunsim_now);
	tunsim_run_until(&a, &b, tunsim_now);
	CHECK_EQ_INT(a.inits, i0 + 2);
	CHECK_EQ_INT(b.last_tun_id, 4);
	CHECK(tunsim_stats(&a).has_session);
	crypto_wipe(orig, sizeof(orig));
	tunsim_teardown(&a, &b);
}

int main(void)
{
	test_identity_change_and_sender();
	test_local_address_changed();
	test_endpoint_changed();
	test_key_flip_restored();
	return test_finish("tunnel_changes");
}
