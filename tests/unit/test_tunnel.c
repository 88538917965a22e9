/* Two tunnels in memory: datagrams pass through a simulated network (loss, reordering,
 * duplication by the test), time is virtual, randomness a seeded generator. Covers the
 * handshake, data both ways, rekeys, expiry, give-up, PSK mismatch, restarts, the cookie path,
 * byte accounting, the staged bound, keepalives and malformed input. */
#include "crypto/crypto.h"
#include "proto/cookie.h"
#include "proto/identity.h"
#include "proto/messages.h"
#include "proto/timers.h"
#include "proto/tunnel.h"
#include "test.h"

#include <stdlib.h>

#define HEADROOM WG_DATA_HEADER_LEN
#define BUF_CAP 2048
#define NET_QUEUE 512

typedef struct {
	uint8_t buf[HEADROOM + BUF_CAP];
	size_t len;
} dgram;

typedef struct peer peer;
struct peer {
	const char *name;
	wg_identity id;
	test_rng rng;
	wg_tunnel *t;
	peer *other;
	uint8_t psk[32];
	uint16_t pk;
	/* datagrams sent by this peer, not yet delivered */
	dgram q[NET_QUEUE];
	size_t nq;
	/* what it sent */
	int inits, resps, keepalives, data, cookies;
	/* sender index and ephemeral of the first initiations it sent */
	uint32_t init_index[64];
	uint8_t init_ephemeral[64][32];
	/* what its TUN got */
	int tun_packets;
	uint32_t last_tun_id;
	uint32_t tun_ids[512];
	int errors[16]; /* indexed by -wg_tun_result */
	/* the network drops what this peer sends while set */
	bool blackhole;
	/* device-side cookie checker, used when under_load */
	bool under_load;
	cookie_checker checker;
};

static wg_time_ns g_now;
#define MS(x) ((wg_time_ns)(x) * 1000000)
static const uint64_t g_wall_base = 1700000000ULL * WG_NS_PER_SEC;

static int rng_fill(void *ctx, void *out, size_t n)
{
	test_rng_bytes(ctx, out, n);
	return 0;
}

static uint64_t wall_now(void *ctx)
{
	(void)ctx;
	return g_wall_base + g_now;
}

static wg_tunnel *make_tunnel(peer *p, wg_time_ns now)
{
	wg_tunnel_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.identity = &p->id;
	memcpy(cfg.peer_public_key, p->other->id.public_key, 32);
	memcpy(cfg.preshared_key, p->psk, 32);
	cfg.persistent_keepalive = p->pk;
	cfg.mtu = 1420;
	cfg.rng = (wg_rng){rng_fill, &p->rng};
	cfg.wall = (wg_wallclock){wall_now, NULL};
	return wg_tunnel_new(&cfg, now);
}

static void setup(peer *a, peer *b, uint64_t seed)
{
	uint8_t priv[32];
	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	a->name = "A";
	b->name = "B";
	a->other = b;
	b->other = a;
	test_rng_seed(&a->rng, seed);
	test_rng_seed(&b->rng, seed + 1000);
	test_rng_bytes(&a->rng, priv, 32);
	CHECK_EQ_INT(wg_identity_set(&a->id, priv), 0);
	test_rng_bytes(&b->rng, priv, 32);
	CHECK_EQ_INT(wg_identity_set(&b->id, priv), 0);
	cookie_checker_init(&a->checker, &a->id);
	cookie_checker_init(&b->checker, &b->id);
	g_now = WG_SEC(1);
}

static void start(peer *a, peer *b)
{
	a->t = make_tunnel(a, g_now);
	b->t = make_tunnel(b, g_now);
	CHECK(a->t && b->t);
}

static void teardown(peer *a, peer *b)
{
	wg_tunnel_free(a->t);
	wg_tunnel_free(b->t);
	a->t = b->t = NULL;
	cookie_checker_wipe(&a->checker);
	cookie_checker_wipe(&b->checker);
	wg_identity_clear(&a->id);
	wg_identity_clear(&b->id);
}

/* Records a datagram p sends (classified by type for the counters). */
static void net_send(peer *p, const uint8_t *buf, size_t len)
{
	int type = wg_msg_classify(buf, len);
	CHECK(type != 0);
	if (type == WG_MSG_INITIATION) {
		if (p->inits < 64) {
			p->init_index[p->inits] = wg_le32_read(buf + WG_INIT_OFF_SENDER);
			memcpy(p->init_ephemeral[p->inits], buf + WG_INIT_OFF_EPHEMERAL, 32);
		}
		p->inits++;
	}
	else if (type == WG_MSG_RESPONSE)
		p->resps++;
	else if (type == WG_MSG_COOKIE_REPLY)
		p->cookies++;
	else if (len == 32)
		p->keepalives++;
	else
		p->data++;
	if (p->blackhole || p->nq == NET_QUEUE)
		return;
	memcpy(p->q[p->nq].buf + HEADROOM, buf, len);
	p->q[p->nq].len = len;
	p->nq++;
}

/* Calls fn-like output producers until DONE, sending what they produce. */
static void drain_flush(peer *p)
{
	uint8_t out[BUF_CAP];
	size_t n;
	wg_tun_result r;
	int guard = 0;
	while ((r = wg_tunnel_flush(p->t, g_now, out, sizeof(out), &n)) == WG_TUN_WRITE_NETWORK &&
	       guard++ < 1000)
		net_send(p, out, n);
	CHECK(r == WG_TUN_DONE);
}

static void drain_tick(peer *p)
{
	uint8_t out[BUF_CAP];
	size_t n;
	wg_tun_result r;
	int guard = 0;
	while ((r = wg_tunnel_tick(p->t, g_now, out, sizeof(out), &n)) == WG_TUN_WRITE_NETWORK &&
	       guard++ < 1000)
		net_send(p, out, n);
	CHECK_MSG(r == WG_TUN_DONE || r == WG_TUN_ERR_NO_KEY, "tick returned %d", r);
}

static const uint8_t addr_a[4] = {192, 0, 2, 1}, addr_b[4] = {192, 0, 2, 2};

/* Hands one datagram (in place: out = dgram + 16) to receiver p, as a device would. */
static wg_tun_result deliver_one(peer *p, uint8_t *buf, size_t len)
{
	uint8_t *msg = buf + HEADROOM;
	size_t n = 0;
	bool auth = false;
	wg_tun_result r;
	const uint8_t *src = p->name[0] == 'A' ? addr_b : addr_a; /* the sender's address */
	wg_rng rng = {rng_fill, &p->rng};

	if (p->under_load && (wg_msg_classify(msg, len) == WG_MSG_INITIATION ||
			      wg_msg_classify(msg, len) == WG_MSG_RESPONSE)) {
		cookie_verdict v = cookie_checker_validate(&p->checker, msg, len, src, 4, 51820,
							   true, g_now, &rng);
		if (v == COOKIE_VERDICT_DROP)
			return WG_TUN_ERR_MAC;
		if (v == COOKIE_VERDICT_SEND_REPLY) {
			wg_msg_cookie_reply reply;
			CHECK_EQ_INT(cookie_checker_create_reply(&p->checker, msg, len, src, 4,
								 51820, g_now, &rng, &reply),
				     COOKIE_OK);
			net_send(p, (const uint8_t *)&reply, sizeof(reply));
			return WG_TUN_DONE;
		}
	}
	r = wg_tunnel_decapsulate(p->t, g_now, msg, len, msg + HEADROOM,
				  sizeof(((dgram *)0)->buf) - 2 * HEADROOM, &n, &auth);
	if (r < 0) {
		p->errors[-r]++;
		CHECK(n == 0);
		return r;
	}
	if (r == WG_TUN_WRITE_NETWORK) {
		CHECK(auth);
		net_send(p, msg + HEADROOM, n);
	} else if (r == WG_TUN_WRITE_TUN_V4 || r == WG_TUN_WRITE_TUN_V6) {
		CHECK(auth);
		p->tun_packets++;
		p->last_tun_id = wg_le32_read(msg + HEADROOM + 20);
		if (p->tun_packets <= 512)
			p->tun_ids[p->tun_packets - 1] = p->last_tun_id;
	}
	drain_flush(p);
	return r;
}

/* Delivers everything queued in both directions until the network is quiet. */
static void deliver_all(peer *a, peer *b)
{
	int guard = 0;
	while ((a->nq || b->nq) && guard++ < 1000) {
		peer *ps[2] = {a, b};
		for (int k = 0; k < 2; k++) {
			peer *from = ps[k];
			size_t n = from->nq;
			static dgram batch[NET_QUEUE];
			memcpy(batch, from->q, n * sizeof(dgram));
			from->nq = 0;
			for (size_t i = 0; i < n; i++)
				deliver_one(from->other, batch[i].buf, batch[i].len);
		}
	}
}

static wg_time_ns next_deadline(peer *a, peer *b)
{
	wg_time_ns da = wg_tunnel_next_deadline(a->t), db = wg_tunnel_next_deadline(b->t);
	return da < db ? da : db;
}

/* Runs timers and the network until `until`, then sets the clock to it. */
static void run_until(peer *a, peer *b, wg_time_ns until)
{
	int guard = 0;
	deliver_all(a, b);
	for (;;) {
		wg_time_ns d = next_deadline(a, b);
		if (d > until)
			break;
		if (d > g_now)
			g_now = d;
		drain_tick(a);
		drain_tick(b);
		deliver_all(a, b);
		if (guard++ > 100000) {
			CHECK_MSG(0, "timer loop does not settle at %llu",
				  (unsigned long long)g_now);
			break;
		}
	}
	g_now = until;
}

/* An IPv4 packet of total length len carrying id at offset 20. */
static void make_packet(uint8_t *p, size_t len, uint32_t id)
{
	memset(p, 0, len);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[9] = 1;
	wg_le32_write(p + 20, id);
	for (size_t i = 24; i < len; i++)
		p[i] = (uint8_t)(id + i);
}

/* p's TUN produced a packet: encapsulate in place (pkt = out + 16). */
static wg_tun_result send_packet(peer *p, size_t len, uint32_t id)
{
	uint8_t buf[HEADROOM + BUF_CAP];
	size_t n = 0;
	wg_tun_result r;

	make_packet(buf + HEADROOM, len, id);
	r = wg_tunnel_encapsulate(p->t, g_now, buf + HEADROOM, len, buf, sizeof(buf), &n);
	if (r == WG_TUN_WRITE_NETWORK)
		net_send(p, buf, n);
	return r;
}

static wg_tunnel_stats stats(peer *p)
{
	wg_tunnel_stats s;
	wg_tunnel_get_stats(p->t, &s);
	return s;
}

/* ------------------------------------------------------------------------------------- */

static void test_handshake_and_data(void)
{
	peer a, b;
	setup(&a, &b, 1);
	start(&a, &b);
	CHECK_EQ_U64(wg_tunnel_next_deadline(a.t), WG_TIME_NEVER);
	CHECK_EQ_INT(send_packet(&a, 84, 1), WG_TUN_WRITE_NETWORK);
	CHECK_EQ_INT(a.inits, 1);
	CHECK_EQ_INT(wg_tunnel_staged_count(a.t), 1);
	/* A second packet while the handshake runs: staged, no second initiation (5 s rule). */
	CHECK_EQ_INT(send_packet(&a, 84, 2), WG_TUN_DONE);
	CHECK_EQ_INT(a.inits, 1);
	deliver_all(&a, &b);
	CHECK_EQ_INT(b.resps, 1);
	CHECK_EQ_INT(b.tun_packets, 2);
	CHECK_EQ_INT(b.tun_ids[0], 1);
	CHECK_EQ_INT(b.tun_ids[1], 2);
	CHECK_EQ_INT(a.keepalives, 0); /* the staged data was the key confirmation */
	CHECK(stats(&a).has_session && stats(&b).has_session);
	CHECK(stats(&a).last_handshake_wall_ns == g_wall_base + g_now);
	CHECK(stats(&b).last_handshake_wall_ns == g_wall_base + g_now);
	/* Both ways, IPv4 packets of many sizes. */
	for (uint32_t i = 0; i < 50; i++) {
		CHECK_EQ_INT(send_packet(&a, 20 + i * 29, 100 + i), WG_TUN_WRITE_NETWORK);
		CHECK_EQ_INT(send_packet(&b, 1420 - i * 7, 200 + i), WG_TUN_WRITE_NETWORK);
	}
	deliver_all(&a, &b);
	CHECK_EQ_INT(b.tun_packets, 52);
	CHECK_EQ_INT(a.tun_packets, 50);
	CHECK_EQ_INT(a.last_tun_id, 249);
	CHECK_EQ_INT(stats(&a).dropped + stats(&b).dropped, 0);
	teardown(&a, &b);
}

static void test_responder_confirmation(void)
{
	peer a, b;
	setup(&a, &b, 2);
	start(&a, &b);
	uint8_t out[BUF_CAP];
	size_t n;
	CHECK_EQ_INT(wg_tunnel_force_handshake(a.t, g_now, out, sizeof(out), &n),
		     WG_TUN_WRITE_NETWORK);
	net_send(&a, out, n);
	/* Deliver only the initiation: B has a `next` keypair, cannot send yet. */
	uint8_t buf[HEADROOM + BUF_CAP];
	memcpy(buf + HEADROOM, a.q[0].buf + HEADROOM, a.q[0].len);
	size_t len = a.q[0].len;
	a.nq = 0;
	deliver_one(&b, buf, len);
	CHECK(!stats(&b).has_session);
	CHECK_EQ_INT(send_packet(&b, 100, 7), WG_TUN_DONE); /* staged, 5 s rule: no init */
	CHECK_EQ_INT(b.inits, 0);
	CHECK_EQ_INT(wg_tunnel_staged_count(b.t), 1);
	deliver_all(&a, &b); /* response -> A; A's keepalive -> B: confirmation */
	CHECK_EQ_INT(a.keepalives, 1);
	CHECK(stats(&b).has_session);
	/* B's staged packet is released by flush after the confirmation. */
	CHECK_EQ_INT(a.tun_packets, 1);
	CHECK_EQ_INT(a.last_tun_id, 7);
	CHECK_EQ_INT(wg_tunnel_staged_count(b.t), 0);
	/* Force while a session exists and no handshake is pending: a new one goes out, but
	 * only after 5 s. */
	CHECK_EQ_INT(wg_tunnel_force_handshake(a.t, g_now, out, sizeof(out), &n), WG_TUN_DONE);
	teardown(&a, &b);
}

static void test_stats_accounting(void)
{
	peer a, b;
	setup(&a, &b, 3);
	start(&a, &b);
	/* 10 pings of 56 bytes payload (84-byte IPv4 packets), each answered. */
	for (int i = 0; i < 10; i++) {
		send_packet(&a, 84, (uint32_t)i);
		deliver_all(&a, &b);
		send_packet(&b, 84, 1000 + (uint32_t)i);
		run_until(&a, &b, g_now + WG_SEC(1));
	}
	CHECK_EQ_U64(stats(&a).tx_bytes, 148 + 10 * 128);
	CHECK_EQ_U64(stats(&a).rx_bytes, 92 + 10 * 128);
	CHECK_EQ_U64(stats(&b).tx_bytes, 92 + 10 * 128);
	CHECK_EQ_U64(stats(&b).rx_bytes, 148 + 10 * 128);
	/* 10 s later A owes one keepalive for B's last reply (checklist: 1460). */
	run_until(&a, &b, g_now + WG_SEC(15));
	CHECK_EQ_U64(stats(&a).tx_bytes, 148 + 10 * 128 + 32);
	CHECK_EQ_INT(a.keepalives, 1);
	teardown(&a, &b);
}

static void test_loss_and_reordering(void)
{
	peer a, b;
	setup(&a, &b, 4);
	start(&a, &b);
	send_packet(&a, 60, 0);
	deliver_all(&a, &b);
	CHECK_EQ_INT(b.tun_packets, 1);
	for (uint32_t i = 1; i <= 100; i++)
		send_packet(&a, 60, i);
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
		CHECK(deliver_one(&b, batch[i].buf, batch[i].len) == WG_TUN_WRITE_TUN_V4);
		expected++;
		if (i % 10 == 0) {
			CHECK_EQ_INT(deliver_one(&b, copy.buf, copy.len), WG_TUN_ERR_REPLAY);
			replays++;
		}
	}
	CHECK_EQ_INT(b.tun_packets, 1 + expected);
	CHECK_EQ_INT(b.errors[-WG_TUN_ERR_REPLAY], replays);
	CHECK_EQ_INT(stats(&b).dropped, replays);
	/* Far behind the window: counter 4 (never delivered) after 9000 newer ones. */
	for (uint32_t i = 0; i < 9000; i++) {
		send_packet(&a, 60, 5000 + i);
		if (a.nq == NET_QUEUE) {
			deliver_all(&a, &b);
		}
	}
	deliver_all(&a, &b);
	int before = b.errors[-WG_TUN_ERR_REPLAY];
	CHECK_EQ_INT(deliver_one(&b, batch[3].buf, batch[3].len), WG_TUN_ERR_REPLAY);
	CHECK_EQ_INT(b.errors[-WG_TUN_ERR_REPLAY], before + 1);
	free(batch);
	teardown(&a, &b);
}

static void test_rekey_by_time(void)
{
	peer a, b;
	setup(&a, &b, 5);
	start(&a, &b);
	wg_time_ns t0 = g_now;
	send_packet(&a, 60, 0);
	deliver_all(&a, &b);
	/* Only the responder sends, every second: it must never initiate on time. The
	 * initiator answers with keepalives every ~10 s; the first one on a keypair >= 120 s old
	 * starts its rekey (send-side keep_key_fresh applies to keepalives too). */
	int first_new_init_at = -1;
	for (int s = 1; s <= 200; s++) {
		run_until(&a, &b, t0 + WG_SEC(s));
		send_packet(&b, 60, (uint32_t)s);
		run_until(&a, &b, g_now);
		if (first_new_init_at < 0 && a.inits > 1)
			first_new_init_at = s;
	}
	CHECK_EQ_INT(b.inits, 0);
	CHECK_MSG(first_new_init_at >= 120 && first_new_init_at <= 131, "rekey at %d s",
		  first_new_init_at);
	CHECK_EQ_INT(a.tun_packets, 200); /* nothing lost across the rekey */
	teardown(&a, &b);

	/* The last-minute rule: the initiator sends nothing at all, data from the responder
	 * arrives on a keypair >= 165 s old -> the initiator starts a handshake. */
	setup(&a, &b, 55);
	start(&a, &b);
	t0 = g_now;
	send_packet(&a, 60, 0);
	deliver_all(&a, &b);
	run_until(&a, &b, t0 + WG_SEC(164));
	send_packet(&b, 60, 1);
	run_until(&a, &b, g_now);
	CHECK_EQ_INT(a.inits, 1);
	run_until(&a, &b, t0 + WG_SEC(165));
	send_packet(&b, 60, 2);
	run_until(&a, &b, g_now);
	CHECK_EQ_INT(a.inits, 2);
	CHECK_EQ_INT(b.inits, 0);
	/* Both packets of the responder arrived. */
	CHECK_EQ_INT(a.tun_packets, 2);
	teardown(&a, &b);

	/* The initiator sending: rekey at 120 s. */
	setup(&a, &b, 6);
	start(&a, &b);
	t0 = g_now;
	send_packet(&a, 60, 0);
	deliver_all(&a, &b);
	first_new_init_at = -1;
	for (int s = 1; s <= 130; s++) {
		run_until(&a, &b, t0 + WG_SEC(s));
		send_packet(&a, 60, (uint32_t)s);
		run_until(&a, &b, g_now); /* work due now (the rekey initiation) */
		if (first_new_init_at < 0 && a.inits > 1)
			first_new_init_at = s;
	}
	CHECK_MSG(first_new_init_at == 120, "rekey at %d s", first_new_init_at);
	CHECK_EQ_INT(a.inits, 2);
	CHECK_EQ_INT(b.resps, 2);
	CHECK_EQ_INT(b.tun_packets, 131);
	CHECK_EQ_INT(b.inits, 0);
	teardown(&a, &b);
}

static void test_rekey_by_messages(void)
{
	peer a, b;
	setup(&a, &b, 7);
	start(&a, &b);
	send_packet(&a, 60, 0);
	deliver_all(&a, &b);
	run_until(&a, &b, g_now + WG_SEC(6)); /* past the 5 s rule */
	/* Rekey once the next counter passes the limit, i.e. after sending nonce REKEY. */
	wg_tunnel_test_set_send_counter(a.t, WG_REKEY_AFTER_MESSAGES - 1);
	CHECK_EQ_INT(send_packet(&a, 60, 1), WG_TUN_WRITE_NETWORK);
	CHECK(wg_tunnel_next_deadline(a.t) > g_now); /* not yet */
	CHECK_EQ_INT(send_packet(&a, 60, 2), WG_TUN_WRITE_NETWORK);
	CHECK(wg_tunnel_next_deadline(a.t) <= g_now); /* initiation due */
	run_until(&a, &b, g_now);
	CHECK_EQ_INT(a.inits, 2);
	CHECK_EQ_INT(b.tun_packets, 3);
	/* REJECT_AFTER_MESSAGES: the last counter is usable, then packets wait for a new
	 * session. */
	run_until(&a, &b, g_now + WG_SEC(6));
	wg_tunnel_test_set_send_counter(a.t, WG_REJECT_AFTER_MESSAGES - 1);
	CHECK_EQ_INT(send_packet(&a, 60, 3), WG_TUN_WRITE_NETWORK);
	CHECK(a.q[a.nq - 1].len == 96 && a.q[a.nq - 1].buf[HEADROOM] == 4);
	int inits = a.inits;
	CHECK_EQ_INT(send_packet(&a, 60, 4), WG_TUN_WRITE_NETWORK); /* an initiation */
	CHECK_EQ_INT(a.inits, inits + 1);
	CHECK_EQ_INT(wg_tunnel_staged_count(a.t), 1);
	run_until(&a, &b, g_now);
	CHECK_EQ_INT(b.tun_packets, 5);
	CHECK_EQ_INT(b.last_tun_id, 4);
	teardown(&a, &b);
}

static void test_expiry_and_zeroing(void)
{
	peer a, b;
	setup(&a, &b, 8);
	start(&a, &b);
	wg_time_ns t0 = g_now;
	send_packet(&a, 60, 0);
	deliver_all(&a, &b);
	send_packet(&b, 60, 1);
	dgram late = b.q[0]; /* captured, delivered much later */
	deliver_all(&a, &b);
	run_until(&a, &b, t0 + WG_SEC(179));
	CHECK(stats(&a).has_session);
	run_until(&a, &b, t0 + WG_SEC(180));
	/* stats are as of the latest call: give both tunnels the time. */
	drain_flush(&a);
	drain_flush(&b);
	CHECK(!stats(&a).has_session && !stats(&b).has_session);
	/* Receive side: the keypair is too old. */
	CHECK_EQ_INT(deliver_one(&a, late.buf, late.len), WG_TUN_ERR_NO_SESSION);
	/* Zeroing at 540 s after the session was derived; then zero wakeups. */
	CHECK(next_deadline(&a, &b) != WG_TIME_NEVER);
	run_until(&a, &b, t0 + WG_SEC(539));
	CHECK(next_deadline(&a, &b) <= t0 + WG_SEC(540));
	run_until(&a, &b, t0 + WG_SEC(541));
	CHECK_EQ_U64(next_deadline(&a, &b), WG_TIME_NEVER);
	CHECK_EQ_INT(a.inits, 1);
	/* After zeroing a new packet starts a fresh handshake and gets through. */
	send_packet(&a, 60, 2);
	run_until(&a, &b, g_now + WG_SEC(1));
	CHECK_EQ_INT(a.inits, 2);
	CHECK_EQ_INT(b.last_tun_id, 2);
	teardown(&a, &b);
}

static void test_give_up(void)
{
	peer a, b;
	setup(&a, &b, 9);
	start(&a, &b);
	a.blackhole = true;
	wg_time_ns t0 = g_now, last_init = 0;
	send_packet(&a, 60, 0);
	for (int s = 1; s <= 200; s++) {
		int before = a.inits;
		run_until(&a, &b, t0 + WG_SEC(s));
		if (a.inits != before)
			last_init = g_now - t0;
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
	CHECK_EQ_INT(stats(&a).handshake_attempts, WG_MAX_TIMER_HANDSHAKES + 1);
	/* Only the zero-key timer is left; then nothing. */
	run_until(&a, &b, t0 + WG_SEC(800));
	CHECK_EQ_U64(wg_tunnel_next_deadline(a.t), WG_TIME_NEVER);
	CHECK_EQ_INT(a.inits, 20);
	teardown(&a, &b);
}

static void test_psk(void)
{
	peer a, b;
	/* Matching PSK works. */
	setup(&a, &b, 10);
	memset(a.psk, 0x42, 32);
	memset(b.psk, 0x42, 32);
	start(&a, &b);
	send_packet(&a, 60, 1);
	deliver_all(&a, &b);
	CHECK_EQ_INT(b.tun_packets, 1);
	teardown(&a, &b);

	/* Mismatch: B answers (the PSK enters only the response), A refuses the response. */
	setup(&a, &b, 11);
	memset(a.psk, 0x42, 32);
	start(&a, &b);
	send_packet(&a, 60, 1);
	deliver_all(&a, &b);
	CHECK_EQ_INT(b.resps, 1);
	CHECK_EQ_INT(a.errors[-WG_TUN_ERR_DECRYPT], 1);
	CHECK(!stats(&a).has_session && !stats(&b).has_session);
	CHECK_EQ_INT(b.tun_packets, 0);
	CHECK_EQ_INT(stats(&a).dropped, 1);
	/* Fixing the key lets the next retransmission succeed. */
	wg_tunnel_set_preshared_key(b.t, a.psk);
	run_until(&a, &b, g_now + WG_SEC(6));
	CHECK_EQ_INT(b.tun_packets, 1);
	CHECK(stats(&a).has_session && stats(&b).has_session);
	teardown(&a, &b);
}

static void test_peer_restart(void)
{
	peer a, b;
	setup(&a, &b, 12);
	start(&a, &b);
	send_packet(&a, 60, 1);
	deliver_all(&a, &b);
	run_until(&a, &b, g_now + WG_SEC(30));
	/* The initiator restarts: a new tunnel with the same keys, newer timestamp. */
	wg_tunnel_free(a.t);
	a.t = make_tunnel(&a, g_now);
	send_packet(&a, 60, 2);
	deliver_all(&a, &b);
	CHECK_EQ_INT(b.last_tun_id, 2);
	CHECK_EQ_INT(a.inits, 2);
	run_until(&a, &b, g_now + WG_SEC(30));

	/* The responder restarts; the initiator keeps sending into the void until its
	 * new-handshake timer (15 s without an answer) fires. */
	wg_tunnel_free(b.t);
	b.t = make_tunnel(&b, g_now);
	int tun = b.tun_packets;
	for (int s = 0; s < 20; s++) {
		send_packet(&a, 60, 100 + (uint32_t)s);
		run_until(&a, &b, g_now + WG_SEC(1));
	}
	CHECK(b.errors[-WG_TUN_ERR_NO_SESSION] >= 15);
	CHECK_EQ_INT(a.inits, 3);
	CHECK(b.tun_packets > tun);
	CHECK_EQ_INT(b.last_tun_id, 119);
	teardown(&a, &b);
}

static void test_cookie_under_load(void)
{
	peer a, b;
	setup(&a, &b, 13);
	start(&a, &b);
	b.under_load = true;
	send_packet(&a, 60, 1);
	/* The initiation reaches B, which answers with a cookie reply (no response). */
	CHECK_EQ_INT(a.nq, 1);
	{
		uint8_t buf[HEADROOM + BUF_CAP], out[BUF_CAP];
		size_t len = a.q[0].len, n = 7;
		bool auth = true;
		memcpy(buf + HEADROOM, a.q[0].buf + HEADROOM, len);
		a.nq = 0;
		deliver_one(&b, buf, len);
		CHECK_EQ_INT(b.nq, 1);
		CHECK_EQ_INT(b.q[0].len, WG_MSG_COOKIE_REPLY_LEN);
		/* A takes the cookie: not an authenticated packet (no roaming), no timer moves,
		 * nothing is sent at once. */
		wg_time_ns deadline = wg_tunnel_next_deadline(a.t);
		wg_tunnel_stats before = stats(&a);
		CHECK_EQ_INT(wg_tunnel_decapsulate(a.t, g_now, b.q[0].buf + HEADROOM, b.q[0].len, out,
						   sizeof(out), &n, &auth),
			     WG_TUN_DONE);
		CHECK(!auth);
		CHECK_EQ_U64(n, 0);
		CHECK_EQ_U64(wg_tunnel_next_deadline(a.t), deadline);
		CHECK_EQ_U64(stats(&a).rx_bytes, before.rx_bytes);
		CHECK_EQ_U64(stats(&a).dropped, before.dropped);
		/* The same reply again: its mac1 was answered already (cookie.h: STATE = -5). */
		CHECK_EQ_INT(wg_tunnel_decapsulate(a.t, g_now, b.q[0].buf + HEADROOM, b.q[0].len, out,
						   sizeof(out), &n, &auth),
			     WG_TUN_ERR_NO_SESSION);
		b.nq = 0;
	}
	CHECK_EQ_INT(b.cookies, 1);
	CHECK_EQ_INT(b.resps, 0);
	CHECK(!stats(&a).has_session);
	/* The cookie reply is not retransmission: the next initiation waits for the timer and
	 * then carries a valid mac2. */
	CHECK_EQ_INT(a.inits, 1);
	run_until(&a, &b, g_now + WG_SEC(6));
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
	CHECK_EQ_INT(deliver_one(&a, buf, 64), WG_TUN_ERR_NO_SESSION);
	teardown(&a, &b);
}

static void test_staged_bound(void)
{
	peer a, b;
	setup(&a, &b, 14);
	start(&a, &b);
	a.blackhole = true;
	for (uint32_t i = 0; i < 200; i++)
		send_packet(&a, 60, i);
	CHECK_EQ_INT(wg_tunnel_staged_count(a.t), WG_TUNNEL_MAX_STAGED);
	CHECK_EQ_U64(stats(&a).dropped, 200 - WG_TUNNEL_MAX_STAGED);
	a.blackhole = false;
	run_until(&a, &b, g_now + WG_SEC(6)); /* the retransmission gets through */
	CHECK_EQ_INT(b.tun_packets, WG_TUNNEL_MAX_STAGED);
	CHECK_EQ_INT(b.tun_ids[0], 200 - WG_TUNNEL_MAX_STAGED); /* oldest dropped */
	CHECK_EQ_INT(b.last_tun_id, 199);
	bool in_order = true;
	for (int i = 1; i < WG_TUNNEL_MAX_STAGED; i++)
		in_order &= b.tun_ids[i] == b.tun_ids[i - 1] + 1;
	CHECK(in_order);
	teardown(&a, &b);
}

static void test_keepalive_one_way(void)
{
	peer a, b;
	setup(&a, &b, 15);
	start(&a, &b);
	wg_time_ns t0 = g_now;
	send_packet(&a, 60, 0);
	deliver_all(&a, &b);
	/* A sends for 3 s, B never has data: B keeps A's new-handshake timer quiet with
	 * keepalives: one 10 s after the first data, one more because data kept coming. */
	for (int s = 1; s <= 3; s++) {
		run_until(&a, &b, t0 + WG_SEC(s));
		send_packet(&a, 60, (uint32_t)s);
		deliver_all(&a, &b);
	}
	run_until(&a, &b, t0 + WG_SEC(60));
	CHECK_EQ_INT(b.keepalives, 2);
	CHECK_EQ_INT(a.inits, 1); /* no new handshake: A heard from B */
	CHECK_EQ_INT(a.keepalives, 0);
	CHECK_EQ_U64(next_deadline(&a, &b), t0 + WG_SEC(540));
	teardown(&a, &b);
}

static void test_persistent_keepalive(void)
{
	peer a, b;
	setup(&a, &b, 16);
	a.pk = 25;
	start(&a, &b);
	wg_time_ns t0 = g_now;
	/* Configured at creation: a keepalive is owed at once, which needs a handshake. */
	CHECK(wg_tunnel_next_deadline(a.t) <= g_now);
	run_until(&a, &b, t0 + WG_SEC(1));
	CHECK_EQ_INT(a.inits, 1);
	CHECK_EQ_INT(a.keepalives, 1); /* the key confirmation */
	run_until(&a, &b, t0 + WG_SEC(101));
	CHECK_EQ_INT(a.keepalives, 5); /* at 0, 25, 50, 75, 100 */
	CHECK_EQ_INT(b.keepalives, 0);
	/* Off: silence. On again at runtime: one at once. */
	wg_tunnel_set_persistent_keepalive(a.t, g_now, 0);
	run_until(&a, &b, t0 + WG_SEC(119));
	CHECK_EQ_INT(a.keepalives, 5);
	CHECK_EQ_INT(a.inits, 1);
	wg_tunnel_set_persistent_keepalive(b.t, g_now, 10);
	run_until(&a, &b, g_now);
	CHECK_EQ_INT(b.keepalives, 1);
	run_until(&a, &b, g_now + WG_SEC(10));
	CHECK_EQ_INT(b.keepalives, 2);
	teardown(&a, &b);
}

static void test_malformed(void)
{
	peer a, b;
	setup(&a, &b, 17);
	start(&a, &b);
	send_packet(&a, 60, 0);
	deliver_all(&a, &b);
	uint8_t buf[HEADROOM + 256];
	uint8_t *m = buf + HEADROOM;
	int drops = 0;

	struct {
		uint8_t type;
		uint8_t reserved;
		size_t len;
		wg_tun_result want;
	} cases[] = {
		{0, 0, 32, WG_TUN_ERR_MALFORMED},   {5, 0, 32, WG_TUN_ERR_MALFORMED},
		{1, 0, 147, WG_TUN_ERR_MALFORMED},  {1, 0, 149, WG_TUN_ERR_MALFORMED},
		{1, 1, 148, WG_TUN_ERR_MALFORMED},  {2, 0, 91, WG_TUN_ERR_MALFORMED},
		{3, 0, 65, WG_TUN_ERR_MALFORMED},   {4, 0, 31, WG_TUN_ERR_MALFORMED},
		{4, 7, 32, WG_TUN_ERR_MALFORMED},   {1, 0, 148, WG_TUN_ERR_MAC},
		{2, 0, 92, WG_TUN_ERR_MAC},         {4, 0, 32, WG_TUN_ERR_NO_SESSION},
		{0, 0, 0, WG_TUN_ERR_MALFORMED},    {4, 0, 200, WG_TUN_ERR_NO_SESSION},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(m, 0xa5, 200);
		if (cases[i].len) {
			m[0] = cases[i].type;
			m[1] = m[2] = 0;
			m[3] = cases[i].reserved;
		}
		CHECK_MSG(deliver_one(&b, buf, cases[i].len) == cases[i].want, "case %zu", i);
		drops++;
	}
	/* A genuine data packet with one flipped ciphertext bit. */
	send_packet(&a, 60, 1);
	a.q[0].buf[HEADROOM + 40] ^= 0x10;
	CHECK_EQ_INT(deliver_one(&b, a.q[0].buf, a.q[0].len), WG_TUN_ERR_DECRYPT);
	drops++;
	a.nq = 0;
	/* An authentic packet whose inner header lies about its length. */
	uint8_t pkt[HEADROOM + 200];
	size_t n;
	make_packet(pkt + HEADROOM, 60, 9);
	pkt[HEADROOM + 3] = 200; /* total length 200 > 60 */
	CHECK_EQ_INT(wg_tunnel_encapsulate(a.t, g_now, pkt + HEADROOM, 60, pkt, sizeof(pkt), &n),
		     WG_TUN_WRITE_NETWORK);
	CHECK_EQ_INT(deliver_one(&b, pkt, n), WG_TUN_ERR_MALFORMED);
	drops++;
	/* A TUN packet of length 0 and too small a buffer. */
	CHECK_EQ_INT(wg_tunnel_encapsulate(a.t, g_now, pkt, 0, pkt, sizeof(pkt), &n),
		     WG_TUN_ERR_MALFORMED);
	CHECK_EQ_INT(wg_tunnel_encapsulate(a.t, g_now, pkt + 100, 60, pkt, 80, &n),
		     WG_TUN_ERR_BUFFER);
	CHECK_EQ_U64(stats(&b).dropped, (uint64_t)drops);
	CHECK_EQ_U64(stats(&a).dropped, 2);
	/* Still working. */
	send_packet(&a, 60, 77);
	deliver_all(&a, &b);
	CHECK_EQ_INT(b.last_tun_id, 77);
	teardown(&a, &b);
}

static void test_identity_change_and_sender(void)
{
	peer a, b;
	setup(&a, &b, 18);
	start(&a, &b);
	uint8_t out[BUF_CAP], who[32];
	size_t n;
	CHECK_EQ_INT(wg_tunnel_force_handshake(a.t, g_now, out, sizeof(out), &n),
		     WG_TUN_WRITE_NETWORK);
	CHECK_EQ_INT(wg_tunnel_initiation_sender(&b.id, out, n, who), WG_TUN_DONE);
	CHECK_MEM(who, a.id.public_key, 32);
	/* Sent to the wrong responder: mac1 fails. */
	CHECK_EQ_INT(wg_tunnel_initiation_sender(&a.id, out, n, who), WG_TUN_ERR_MAC);
	CHECK_EQ_INT(wg_tunnel_initiation_sender(&b.id, out, n - 1, who), WG_TUN_ERR_MALFORMED);
	net_send(&a, out, n);
	deliver_all(&a, &b);
	CHECK(stats(&a).has_session);

	/* B's key changes: B's sessions stop sending, a handshake can start at once. */
	uint8_t priv[32];
	memset(priv, 0x33, 32);
	CHECK_EQ_INT(wg_identity_set(&b.id, priv), 0);
	wg_tunnel_identity_changed(b.t, g_now);
	CHECK(!stats(&b).has_session);
	/* A still expects B's old public key: B's initiation passes mac1 (made with A's key)
	 * but carries a static key that is not A's peer. */
	CHECK_EQ_INT(send_packet(&b, 60, 5), WG_TUN_WRITE_NETWORK);
	CHECK_EQ_INT(b.inits, 1);
	deliver_all(&a, &b);
	CHECK_EQ_INT(a.errors[-WG_TUN_ERR_DECRYPT], 1);
	CHECK_EQ_INT(a.tun_packets, 0);
	/* A restarted with B's new key: the handshake works again. */
	wg_tunnel_free(a.t);
	a.t = make_tunnel(&a, g_now);
	run_until(&a, &b, g_now + WG_SEC(6));
	CHECK_EQ_INT(a.last_tun_id, 5);
	teardown(&a, &b);
}

/* A persistent-keepalive tunnel made before its device has a private key (one `wg setconf`
 * applies the peer, then the key): the key's arrival starts the handshake, without traffic. */
static void test_keepalive_waits_for_identity(void)
{
	peer a, b;
	uint8_t priv[32];
	setup(&a, &b, 23);
	memcpy(priv, a.id.private_key, 32);
	b.t = make_tunnel(&b, g_now); /* B knows A's public key */
	wg_identity_clear(&a.id);
	a.pk = 25;
	a.t = make_tunnel(&a, g_now);
	CHECK(a.t && b.t);
	drain_tick(&a);
	CHECK_EQ_INT(a.inits, 0); /* nothing can be sent without a key */
	CHECK_EQ_INT(wg_identity_set(&a.id, priv), 0);
	wg_tunnel_identity_changed(a.t, g_now);
	CHECK(wg_tunnel_next_deadline(a.t) == 0); /* due now */
	drain_tick(&a);
	CHECK_EQ_INT(a.inits, 1);
	deliver_all(&a, &b);
	CHECK(stats(&a).has_session);
	CHECK(stats(&b).has_session);
	/* Without anything staged, a key change alone starts nothing. */
	g_now += WG_SEC(6);
	memset(priv, 0x44, 32);
	CHECK_EQ_INT(wg_identity_set(&b.id, priv), 0);
	wg_tunnel_identity_changed(b.t, g_now);
	drain_tick(&b);
	CHECK_EQ_INT(b.inits, 0);
	/* A datagram the device could not send leaves tx_bytes; never below zero. */
	uint64_t tx = stats(&a).tx_bytes;
	CHECK(tx >= 148);
	wg_tunnel_unsent(a.t, 148);
	CHECK_EQ_U64(stats(&a).tx_bytes, tx - 148);
	wg_tunnel_unsent(a.t, (size_t)tx);
	CHECK_EQ_U64(stats(&a).tx_bytes, 0);
	crypto_wipe(priv, sizeof(priv));
	teardown(&a, &b);
}

/* Receiver indices are fresh 32-bit random draws (no counter, no tunnel id in some bits):
 * over many handshakes every bit is set about half the time and no index repeats. */
static void test_random_indices(void)
{
	peer a, b;
	enum { ROUNDS = 300 };
	uint32_t seen[2 * ROUNDS];
	int nseen = 0, ones[32] = {0}, dups = 0;

	setup(&a, &b, 21);
	start(&a, &b);
	for (int i = 0; i < ROUNDS; i++) {
		uint8_t out[BUF_CAP];
		size_t n;
		g_now += WG_SEC(6); /* past the 5 s initiation limit */
		CHECK_EQ_INT(wg_tunnel_force_handshake(a.t, g_now, out, sizeof(out), &n),
			     WG_TUN_WRITE_NETWORK);
		seen[nseen++] = wg_le32_read(out + WG_INIT_OFF_SENDER);
		net_send(&a, out, n);
		/* B's response carries B's fresh index; deliver_all runs the whole exchange */
		CHECK_EQ_INT(b.nq, 0);
		size_t before = (size_t)b.resps;
		uint8_t buf[HEADROOM + BUF_CAP];
		memcpy(buf + HEADROOM, a.q[0].buf + HEADROOM, a.q[0].len);
		size_t len = a.q[0].len;
		a.nq = 0;
		deliver_one(&b, buf, len);
		CHECK_EQ_INT(b.resps, (int)before + 1);
		CHECK_EQ_INT(b.q[b.nq - 1].buf[HEADROOM], WG_MSG_RESPONSE);
		seen[nseen++] = wg_le32_read(b.q[b.nq - 1].buf + HEADROOM + WG_RESP_OFF_SENDER);
		deliver_all(&a, &b);
	}
	CHECK(stats(&a).has_session && stats(&b).has_session);
	for (int i = 0; i < nseen; i++) {
		for (int k = 0; k < 32; k++)
			ones[k] += (seen[i] >> k) & 1;
		for (int j = 0; j < i; j++)
			dups += seen[i] == seen[j];
	}
	CHECK_EQ_INT(dups, 0);
	for (int k = 0; k < 32; k++)
		CHECK_MSG(ones[k] > nseen * 2 / 5 && ones[k] < nseen * 3 / 5,
			  "index bit %d set in %d of %d indices", k, ones[k], nseen);
	teardown(&a, &b);
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

	setup(&a, &b, 22);
	start(&a, &b);
	CHECK_EQ_INT(wg_tunnel_force_handshake(a.t, g_now, out, sizeof(out), &n),
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
	CHECK_EQ_INT(wg_tunnel_decapsulate_initiation(b.t, g_now, msg, sizeof(msg), &prep, out,
						      sizeof(out), &n, &auth),
		     WG_TUN_ERR_DECRYPT);
	CHECK(!auth && n == 0);
	CHECK(!prep.in.valid && crypto_is_zero(&prep, sizeof(prep)));
	/* A prep of another initiation (another ephemeral) is ignored: recomputed, works. */
	g_now += WG_SEC(6);
	CHECK_EQ_INT(wg_tunnel_tick(a.t, g_now, out, sizeof(out), &n), WG_TUN_WRITE_NETWORK);
	CHECK_EQ_U64(n, sizeof(other)); /* the retransmission: a new initiation */
	memcpy(other, out, sizeof(other));
	CHECK_EQ_INT(wg_tunnel_initiation_prepare(&b.id, msg, sizeof(msg), &prep), WG_TUN_DONE);
	CHECK_EQ_INT(wg_tunnel_decapsulate_initiation(b.t, g_now, other, sizeof(other), &prep, out,
						      sizeof(out), &n, &auth),
		     WG_TUN_WRITE_NETWORK);
	CHECK(auth && n == WG_MSG_RESPONSE_LEN && out[0] == WG_MSG_RESPONSE);
	CHECK(!prep.in.valid);
	teardown(&a, &b);

	/* A prep made for another identity (C's key) is not trusted either. */
	setup(&a, &b, 24);
	start(&a, &b);
	{
		uint8_t priv[32];
		memset(priv, 0x61, 32);
		CHECK_EQ_INT(wg_identity_set(&c_id, priv), 0);
	}
	g_now += WG_SEC(1);
	CHECK_EQ_INT(wg_tunnel_force_handshake(a.t, g_now, out, sizeof(out), &n),
		     WG_TUN_WRITE_NETWORK);
	memcpy(msg, out, sizeof(msg));
	/* mac1 is for B: C cannot prepare it; forge a prep claiming to be from it */
	CHECK_EQ_INT(wg_tunnel_initiation_prepare(&b.id, msg, sizeof(msg), &prep), WG_TUN_DONE);
	memcpy(prep.responder_public, c_id.public_key, 32);
	prep.in.chaining_key[0] ^= 1; /* would fail if it were used */
	CHECK_EQ_INT(wg_tunnel_decapsulate_initiation(b.t, g_now, msg, sizeof(msg), &prep, out,
						      sizeof(out), &n, &auth),
		     WG_TUN_WRITE_NETWORK);
	net_send(&b, out, n);
	deliver_all(&a, &b);
	CHECK(stats(&a).has_session && stats(&b).has_session);
	/* The honest fast path end to end: prepare, decapsulate, session. */
	g_now += WG_SEC(6);
	CHECK_EQ_INT(wg_tunnel_force_handshake(a.t, g_now, out, sizeof(out), &n),
		     WG_TUN_WRITE_NETWORK);
	memcpy(msg, out, sizeof(msg));
	CHECK_EQ_INT(wg_tunnel_initiation_prepare(&b.id, msg, sizeof(msg), &prep), WG_TUN_DONE);
	int resps = b.resps;
	CHECK_EQ_INT(wg_tunnel_decapsulate_initiation(b.t, g_now, msg, sizeof(msg), &prep, out,
						      sizeof(out), &n, &auth),
		     WG_TUN_WRITE_NETWORK);
	net_send(&b, out, n);
	CHECK_EQ_INT(b.resps, resps + 1);
	deliver_all(&a, &b);
	CHECK(stats(&a).has_session && stats(&b).has_session);
	/* Replaying it through the fast path: refused as a replay. */
	CHECK_EQ_INT(wg_tunnel_initiation_prepare(&b.id, msg, sizeof(msg), &prep), WG_TUN_DONE);
	CHECK_EQ_INT(wg_tunnel_decapsulate_initiation(b.t, g_now + WG_SEC(1), msg, sizeof(msg),
						      &prep, out, sizeof(out), &n, &auth),
		     WG_TUN_ERR_REPLAY);
	CHECK(!auth);
	wg_identity_clear(&c_id);
	teardown(&a, &b);
}

/* The initiator under load: B's response gets a cookie reply (receiver = B's index of the
 * new, unconfirmed keypair), B keeps the cookie without resending, and the response to A's
 * next initiation carries a valid mac2. */
static void test_cookie_for_response(void)
{
	peer a, b;
	setup(&a, &b, 25);
	start(&a, &b);
	a.under_load = true;
	send_packet(&a, 60, 1);
	deliver_all(&a, &b);
	CHECK_EQ_INT(b.resps, 1);
	CHECK_EQ_INT(a.cookies, 1);
	CHECK_EQ_INT(b.errors[-WG_TUN_ERR_NO_SESSION], 0); /* the reply found B's keypair */
	CHECK_EQ_INT(b.resps, 1);                         /* and did not trigger a resend */
	CHECK(!stats(&a).has_session && !stats(&b).has_session);
	run_until(&a, &b, g_now + WG_SEC(6));
	CHECK_EQ_INT(a.inits, 2);
	CHECK_EQ_INT(b.resps, 2);
	CHECK_EQ_INT(a.cookies, 1); /* the second response passed mac2 */
	CHECK(stats(&a).has_session && stats(&b).has_session);
	CHECK_EQ_INT(b.tun_packets, 1);
	teardown(&a, &b);
}

static int const_fill(void *ctx, void *out, size_t n)
{
	(void)ctx;
	memset(out, 0x5a, n);
	return 0;
}

/* A broken RNG (constant output) must not hang the tunnel: the index draw gives up after a
 * bounded number of collisions, the existing session keeps working. */
static void test_broken_rng(void)
{
	peer a, b;
	wg_tunnel_config cfg;
	uint8_t out[BUF_CAP];
	size_t n;

	setup(&a, &b, 26);
	memset(&cfg, 0, sizeof(cfg));
	cfg.identity = &a.id;
	memcpy(cfg.peer_public_key, b.id.public_key, 32);
	cfg.mtu = 1420;
	cfg.rng = (wg_rng){const_fill, NULL};
	cfg.wall = (wg_wallclock){wall_now, NULL};
	a.t = wg_tunnel_new(&cfg, g_now);
	b.t = make_tunnel(&b, g_now);
	CHECK(a.t && b.t);
	send_packet(&a, 60, 1);
	deliver_all(&a, &b);
	CHECK(stats(&a).has_session);
	CHECK_EQ_U64(a.init_index[0], 0x5a5a5a5aU);
	/* The next initiation would need another index: every draw collides with the live
	 * keypair's. */
	g_now += WG_SEC(6);
	CHECK_EQ_INT(wg_tunnel_force_handshake(a.t, g_now, out, sizeof(out), &n),
		     WG_TUN_ERR_NO_SESSION);
	CHECK_EQ_U64(n, 0);
	CHECK_EQ_INT(send_packet(&a, 60, 2), WG_TUN_WRITE_NETWORK);
	deliver_all(&a, &b);
	CHECK_EQ_INT(b.last_tun_id, 2);
	teardown(&a, &b);
}

/* A random source that fails while *fails is set (counting the failed calls). */
typedef struct {
	test_rng rng;
	bool fails;
	int failed_calls;
} flaky_rng;

static int flaky_fill(void *ctx, void *out, size_t n)
{
	flaky_rng *f = ctx;

	if (f->fails) {
		f->failed_calls++;
		memset(out, 0, n);
		return -1;
	}
	test_rng_bytes(&f->rng, out, n);
	return 0;
}

/* The RNG fails when the first initiation is due: the packet waits, and the tunnel tries
 * again by itself TIMERS_FAILED_RETRY later (a counted retry), not only at the next packet.
 * A source that never heals is given up on after WG_MAX_TIMER_HANDSHAKES retries: the
 * staged packets go, and the timers fall silent. */
static void test_initiation_rng_retry(void)
{
	peer a, b;
	wg_tunnel_config cfg;
	flaky_rng f;

	for (int heals = 1; heals >= 0; heals--) {
		setup(&a, &b, 43);
		g_now = WG_SEC(100);
		memset(&f, 0, sizeof(f));
		test_rng_seed(&f.rng, 4300);
		memset(&cfg, 0, sizeof(cfg));
		cfg.identity = &a.id;
		memcpy(cfg.peer_public_key, b.id.public_key, 32);
		cfg.mtu = 1420;
		cfg.rng = (wg_rng){flaky_fill, &f};
		cfg.wall = (wg_wallclock){wall_now, NULL};
		a.t = wg_tunnel_new(&cfg, g_now);
		b.t = make_tunnel(&b, g_now);
		CHECK(a.t && b.t);
		f.fails = true;
		CHECK_EQ_INT(send_packet(&a, 60, 1), WG_TUN_DONE); /* staged, no initiation */
		CHECK(f.failed_calls > 0);
		CHECK_EQ_INT(a.inits, 0);
		CHECK_EQ_U64(wg_tunnel_staged_count(a.t), 1);
		wg_time_ns t0 = g_now;
		CHECK_EQ_U64(wg_tunnel_next_deadline(a.t), t0 + TIMERS_FAILED_RETRY);
		/* still failing at the first retry: counted, armed again */
		run_until(&a, &b, t0 + TIMERS_FAILED_RETRY);
		CHECK_EQ_INT(a.inits, 0);
		CHECK_EQ_U64(stats(&a).handshake_attempts, 1);
		CHECK_EQ_U64(wg_tunnel_next_deadline(a.t), t0 + 2 * TIMERS_FAILED_RETRY);
		if (heals) {
			/* healed: the next retry brings the initiation, the packet goes through */
			f.fails = false;
			run_until(&a, &b, t0 + 2 * TIMERS_FAILED_RETRY);
			CHECK_EQ_INT(a.inits, 1);
			CHECK(stats(&a).has_session);
			CHECK_EQ_INT(b.last_tun_id, 1);
			CHECK_EQ_U64(stats(&a).handshake_attempts, 0);
		} else {
			int calls;
			run_until(&a, &b, t0 + WG_SEC(60));
			CHECK_EQ_INT(a.inits, 0);
			CHECK_EQ_U64(wg_tunnel_staged_count(a.t), 0); /* given up */
			CHECK_EQ_U64(stats(&a).handshake_attempts, WG_MAX_TIMER_HANDSHAKES + 1);
			calls = f.failed_calls;
			CHECK(calls <= 4 * (WG_MAX_TIMER_HANDSHAKES + 2));
			/* silent from now on: only the key-zeroing timer is left, once */
			run_until(&a, &b, t0 + WG_SEC(3600));
			CHECK_EQ_INT(f.failed_calls, calls);
			CHECK_EQ_U64(wg_tunnel_next_deadline(a.t), WG_TIME_NEVER);
		}
		teardown(&a, &b);
	}
}

static void test_config_checks(void)
{
	peer a, b;
	setup(&a, &b, 19);
	wg_tunnel_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.identity = &a.id;
	cfg.rng = (wg_rng){rng_fill, &a.rng};
	cfg.wall = (wg_wallclock){wall_now, NULL};
	/* Low-order point (zero, one): refused. */
	CHECK(wg_tunnel_new(&cfg, 0) == NULL);
	cfg.peer_public_key[0] = 1;
	CHECK(wg_tunnel_new(&cfg, 0) == NULL);
	memcpy(cfg.peer_public_key, b.id.public_key, 32);
	cfg.wall.now = NULL;
	CHECK(wg_tunnel_new(&cfg, 0) == NULL);
	cfg.wall.now = wall_now;
	wg_tunnel *t = wg_tunnel_new(&cfg, 0);
	CHECK(t != NULL);
	CHECK_MEM(wg_tunnel_peer_public_key(t), b.id.public_key, 32);
	wg_tunnel_free(t);
	wg_tunnel_free(NULL);
	/* Without a private key: the tunnel exists, stages, but never initiates. */
	wg_identity empty;
	memset(&empty, 0, sizeof(empty));
	cfg.identity = &empty;
	t = wg_tunnel_new(&cfg, 0);
	CHECK(t != NULL);
	uint8_t buf[256];
	size_t n;
	make_packet(buf + 16, 60, 1);
	CHECK_EQ_INT(wg_tunnel_encapsulate(t, 0, buf + 16, 60, buf, sizeof(buf), &n), WG_TUN_DONE);
	CHECK_EQ_INT(wg_tunnel_force_handshake(t, 0, buf, sizeof(buf), &n), WG_TUN_ERR_NO_KEY);
	CHECK_EQ_U64(wg_tunnel_next_deadline(t), WG_TIME_NEVER);
	wg_tunnel_free(t);
	teardown(&a, &b);
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
	setup(&a1, &b1, 77);
	start(&a1, &b1);
	setup(&a2, &b2, 77);
	start(&a2, &b2);
	/* No session yet: the deferred call behaves as encapsulate (stages, sends an
	 * initiation), and both pairs stay identical. */
	make_packet(two[0] + HEADROOM, 100, 1);
	CHECK_EQ_INT(wg_tunnel_encapsulate_deferred(a2.t, g_now, two[0] + HEADROOM, 100, two[0],
						    sizeof(two[0]), &n, &seals[0]),
		     WG_TUN_WRITE_NETWORK);
	net_send(&a2, two[0], n);
	CHECK_EQ_INT(send_packet(&a1, 100, 1), WG_TUN_WRITE_NETWORK);
	CHECK(a1.nq == 1 && a2.nq == 1 && a1.q[0].len == a2.q[0].len &&
	      memcmp(a1.q[0].buf, a2.q[0].buf, a1.q[0].len) == 0);
	deliver_all(&a1, &b1);
	deliver_all(&a2, &b2);
	CHECK(stats(&a1).has_session && stats(&a2).has_session);
	/* Sealing: the jobs run backwards on two contexts; every byte equals the one-shot. */
	for (uint32_t i = 0; i < N; i++) {
		size_t len = 20 + (i * 37) % 1400;
		make_packet(one[i] + HEADROOM, len, 100 + i);
		make_packet(two[i] + HEADROOM, len, 100 + i);
		CHECK_EQ_INT(wg_tunnel_encapsulate(a1.t, g_now, one[i] + HEADROOM, len, one[i],
						   sizeof(one[i]), &len1[i]),
			     WG_TUN_WRITE_NETWORK);
		CHECK_EQ_INT(wg_tunnel_encapsulate_deferred(a2.t, g_now, two[i] + HEADROOM, len,
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
	CHECK(stats(&a1).tx_bytes == stats(&a2).tx_bytes);
	/* Opening: prepare in order, run backwards, finish in order. One copy tampered, one a
	 * replay of the first. */
	two[5][40] ^= 1;
	memcpy(two[N - 1], two[0], len2[0]);
	len2[N - 1] = len2[0];
	for (int i = 0; i < N; i++)
		CHECK_EQ_INT(wg_tunnel_decapsulate_prepare(b2.t, g_now, two[i], len2[i], &opens[i]),
			     WG_TUN_OPEN_LATER);
	for (int i = N - 1; i >= 0; i--)
		CHECK(wg_tunnel_open_run(&opens[i], (i & 1) ? w2 : w, two[i], len2[i]) == (i != 5));
	for (int i = 0; i < N; i++) {
		wg_tun_result r = wg_tunnel_decapsulate_finish(b2.t, g_now, two[i], len2[i],
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
	CHECK(stats(&b2).dropped == 2);
	/* A datagram for no keypair of this tunnel, and one that is not data. */
	memcpy(two[0], one[1], len1[1]);
	wg_le32_write(two[0] + WG_DATA_OFF_RECEIVER, wg_le32_read(one[1] + 4) ^ 0x5a5a5a5a);
	CHECK_EQ_INT(wg_tunnel_decapsulate_prepare(b2.t, g_now, two[0], len1[1], &opens[0]),
		     WG_TUN_ERR_NO_SESSION);
	CHECK_EQ_INT(wg_tunnel_decapsulate_prepare(b2.t, g_now, two[0], 20, &opens[0]),
		     WG_TUN_ERR_MALFORMED);
	crypto_aead_worker_free(w);
	crypto_aead_worker_free(w2);
	teardown(&a1, &b1);
	teardown(&a2, &b2);
}

/* A rebind (new listen port): with a session, one keepalive goes out at once so the peer
 * roams to the new port; without one, nothing (no handshake). */
static void test_local_address_changed(void)
{
	peer a, b;
	setup(&a, &b, 40);
	g_now = WG_SEC(100); /* a monotonic clock well past REKEY_TIMEOUT, as in real use */
	start(&a, &b);
	wg_tunnel_local_address_changed(a.t, g_now);
	run_until(&a, &b, g_now + WG_SEC(1));
	CHECK_EQ_INT(a.inits, 0);
	CHECK_EQ_INT(a.keepalives, 0);
	send_packet(&a, 60, 1);
	run_until(&a, &b, g_now + MS(1));
	send_packet(&b, 60, 2);
	run_until(&a, &b, g_now + MS(1));
	CHECK_EQ_INT(a.last_tun_id, 2);
	int k0 = a.keepalives, i0 = a.inits;
	uint64_t rx0 = stats(&b).rx_bytes;
	wg_tunnel_local_address_changed(a.t, g_now);
	CHECK(wg_tunnel_next_deadline(a.t) <= g_now);
	run_until(&a, &b, g_now);
	CHECK_EQ_INT(a.keepalives, k0 + 1);
	CHECK_EQ_U64(stats(&b).rx_bytes, rx0 + 32);
	CHECK_EQ_INT(a.inits, i0);
	/* No usable session (our key changed): nothing goes out. */
	wg_tunnel_identity_changed(a.t, g_now);
	wg_tunnel_local_address_changed(a.t, g_now);
	run_until(&a, &b, g_now + WG_SEC(1));
	CHECK_EQ_INT(a.keepalives, k0 + 1);
	CHECK_EQ_INT(a.inits, i0);
	/* An initiation in flight whose response is lost (it went to the old port): sent again
	 * at once, not after REKEY_TIMEOUT. */
	CHECK_EQ_INT(send_packet(&a, 60, 3), WG_TUN_WRITE_NETWORK);
	CHECK_EQ_INT(a.inits, i0 + 1);
	b.blackhole = true;
	deliver_all(&a, &b);
	b.blackhole = false;
	CHECK_EQ_INT(b.last_tun_id, 1);
	wg_time_ns t1 = g_now;
	g_now += MS(5);
	wg_tunnel_local_address_changed(a.t, g_now);
	/* not sooner than the peer's flood rule allows, and nothing else may send sooner */
	CHECK_EQ_U64(wg_tunnel_next_deadline(a.t), t1 + TIMERS_RESEND_GAP);
	CHECK_EQ_INT(send_packet(&a, 60, 4), WG_TUN_DONE); /* staged */
	CHECK_EQ_INT(a.inits, i0 + 1);
	run_until(&a, &b, t1 + TIMERS_RESEND_GAP);
	CHECK_EQ_INT(a.inits, i0 + 2);
	CHECK_EQ_INT(b.last_tun_id, 4);
	teardown(&a, &b);
}

/* The peer's endpoint is set to a new address (wg set ... endpoint) while an initiation is
 * in flight: it went to the old address, so it is sent again to the new one
 * TIMERS_RESEND_GAP after it (not REKEY_TIMEOUT + jitter), counted as a retry. With a
 * session, or without an initiation in flight, nothing changes. */
static void test_endpoint_changed(void)
{
	peer a, b;
	setup(&a, &b, 42);
	g_now = WG_SEC(100);
	start(&a, &b);
	/* nothing in flight: no deadline, nothing sent */
	wg_tunnel_endpoint_changed(a.t, g_now);
	CHECK_EQ_U64(wg_tunnel_next_deadline(a.t), WG_TIME_NEVER);
	run_until(&a, &b, g_now + WG_SEC(1));
	CHECK_EQ_INT(a.inits, 0);
	/* the first initiation goes to the old address: lost */
	CHECK_EQ_INT(send_packet(&a, 60, 1), WG_TUN_WRITE_NETWORK);
	CHECK_EQ_INT(a.inits, 1);
	a.nq = 0;
	wg_time_ns t1 = g_now;
	CHECK(wg_tunnel_next_deadline(a.t) >= t1 + WG_REKEY_TIMEOUT);
	g_now += MS(5);
	wg_tunnel_endpoint_changed(a.t, g_now);
	CHECK_EQ_U64(wg_tunnel_next_deadline(a.t), t1 + TIMERS_RESEND_GAP);
	/* no other trigger sends sooner (the 5 s rule opens at the new deadline) */
	CHECK_EQ_INT(send_packet(&a, 60, 2), WG_TUN_DONE);
	CHECK_EQ_INT(a.inits, 1);
	g_now = t1 + TIMERS_RESEND_GAP;
	drain_tick(&a);
	CHECK_EQ_INT(a.inits, 2);
	CHECK_EQ_U64(stats(&a).handshake_attempts, 1); /* a retry */
	deliver_all(&a, &b);
	CHECK(stats(&a).has_session);
	CHECK_EQ_INT(b.last_tun_id, 2);
	CHECK_EQ_INT(b.tun_packets, 2);
	/* with a session: no handshake, no keepalive, deadlines unchanged */
	wg_time_ns d = wg_tunnel_next_deadline(a.t);
	int k0 = a.keepalives;
	wg_tunnel_endpoint_changed(a.t, g_now);
	CHECK_EQ_U64(wg_tunnel_next_deadline(a.t), d);
	CHECK_EQ_INT(a.inits, 2);
	CHECK_EQ_INT(a.keepalives, k0);
	teardown(&a, &b);
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
	setup(&a, &b, 41);
	start(&a, &b);
	send_packet(&a, 60, 1);
	run_until(&a, &b, g_now + MS(1));
	send_packet(&b, 60, 2);
	run_until(&a, &b, g_now + MS(1));
	CHECK(stats(&a).has_session && stats(&b).has_session);
	memcpy(orig, a.id.private_key, 32);
	memset(other, 0x5a, 32);
	CHECK_EQ_INT(wg_identity_set(&a.id, other), 0);
	wg_tunnel_identity_changed(a.t, g_now);
	CHECK(!stats(&a).has_session);
	/* B -> A on the old session still arrives */
	CHECK_EQ_INT(send_packet(&b, 60, 3), WG_TUN_WRITE_NETWORK);
	deliver_all(&a, &b);
	CHECK_EQ_INT(a.last_tun_id, 3);
	/* A -> B: staged, an initiation under the foreign key, which B refuses */
	int i0 = a.inits;
	CHECK_EQ_INT(send_packet(&a, 60, 4), WG_TUN_WRITE_NETWORK);
	CHECK_EQ_INT(a.inits, i0 + 1);
	deliver_all(&a, &b);
	CHECK_EQ_INT(b.errors[-WG_TUN_ERR_DECRYPT], 1);
	CHECK_EQ_INT(b.last_tun_id, 1);
	g_now += MS(300);
	CHECK_EQ_INT(wg_identity_set(&a.id, orig), 0);
	wg_tunnel_identity_changed(a.t, g_now);
	CHECK(wg_tunnel_next_deadline(a.t) <= g_now);
	run_until(&a, &b, g_now);
	CHECK_EQ_INT(a.inits, i0 + 2);
	CHECK_EQ_INT(b.last_tun_id, 4);
	CHECK(stats(&a).has_session);
	crypto_wipe(orig, sizeof(orig));
	teardown(&a, &b);
}

int main(void)
{
	test_handshake_and_data();
	test_responder_confirmation();
	test_stats_accounting();
	test_loss_and_reordering();
	test_rekey_by_time();
	test_rekey_by_messages();
	test_expiry_and_zeroing();
	test_give_up();
	test_psk();
	test_peer_restart();
	test_cookie_under_load();
	test_staged_bound();
	test_keepalive_one_way();
	test_persistent_keepalive();
	test_malformed();
	test_identity_change_and_sender();
	test_keepalive_waits_for_identity();
	test_config_checks();
	test_random_indices();
	test_prepared_initiation();
	test_cookie_for_response();
	test_broken_rng();
	test_initiation_rng_retry();
	test_deferred_crypto();
	test_local_address_changed();
	test_endpoint_changed();
	test_key_flip_restored();
	return test_finish("tunnel");
}
