/* Two tunnels in memory (tests/support/tunsim.h) against bad input and bad randomness:
 * malformed datagrams, config checks, receiver indices as fresh random draws, a constant RNG
 * and one that fails when an initiation is due. */
#include "tunsim.h"
#include "test.h"

#include "crypto/crypto.h"
#include "proto/cookie.h"
#include "proto/identity.h"
#include "proto/messages.h"
#include "proto/timers.h"
#include "proto/tunnel.h"

#include <stdlib.h>

static void test_malformed(void)
{
	peer a, b;
	tunsim_setup(&a, &b, 17);
	tunsim_start(&a, &b);
	tunsim_send_packet(&a, 60, 0);
	tunsim_deliver_all(&a, &b);
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
		CHECK_MSG(tunsim_deliver_one(&b, buf, cases[i].len) == cases[i].want, "case %zu", i);
		drops++;
	}
	/* A genuine data packet with one flipped ciphertext bit. */
	tunsim_send_packet(&a, 60, 1);
	a.q[0].buf[HEADROOM + 40] ^= 0x10;
	CHECK_EQ_INT(tunsim_deliver_one(&b, a.q[0].buf, a.q[0].len), WG_TUN_ERR_DECRYPT);
	drops++;
	a.nq = 0;
	/* An authentic packet whose inner header lies about its length. */
	uint8_t pkt[HEADROOM + 200];
	size_t n;
	tunsim_make_packet(pkt + HEADROOM, 60, 9);
	pkt[HEADROOM + 3] = 200; /* total length 200 > 60 */
	CHECK_EQ_INT(wg_tunnel_encapsulate(a.t, tunsim_now, pkt + HEADROOM, 60, pkt, sizeof(pkt), &n),
		     WG_TUN_WRITE_NETWORK);
	CHECK_EQ_INT(tunsim_deliver_one(&b, pkt, n), WG_TUN_ERR_MALFORMED);
	drops++;
	/* A TUN packet of length 0 and too small a buffer. */
	CHECK_EQ_INT(wg_tunnel_encapsulate(a.t, tunsim_now, pkt, 0, pkt, sizeof(pkt), &n),
		     WG_TUN_ERR_MALFORMED);
	CHECK_EQ_INT(wg_tunnel_encapsulate(a.t, tunsim_now, pkt + 100, 60, pkt, 80, &n),
		     WG_TUN_ERR_BUFFER);
	CHECK_EQ_U64(tunsim_stats(&b).dropped, (uint64_t)drops);
	CHECK_EQ_U64(tunsim_stats(&a).dropped, 2);
	/* Still working. */
	tunsim_send_packet(&a, 60, 77);
	tunsim_deliver_all(&a, &b);
	CHECK_EQ_INT(b.last_tun_id, 77);
	tunsim_teardown(&a, &b);
}

/* Receiver indices are fresh 32-bit random draws (no counter, no tunnel id in some bits):
 * over many handshakes every bit is set about half the time and no index repeats. */
static void test_random_indices(void)
{
	peer a, b;
	enum { ROUNDS = 300 };
	uint32_t seen[2 * ROUNDS];
	int nseen = 0, ones[32] = {0}, dups = 0;

	tunsim_setup(&a, &b, 21);
	tunsim_start(&a, &b);
	for (int i = 0; i < ROUNDS; i++) {
		uint8_t out[BUF_CAP];
		size_t n;
		tunsim_now += WG_SEC(6); /* past the 5 s initiation limit */
		CHECK_EQ_INT(wg_tunnel_force_handshake(a.t, tunsim_now, out, sizeof(out), &n),
			     WG_TUN_WRITE_NETWORK);
		seen[nseen++] = wg_le32_read(out + WG_INIT_OFF_SENDER);
		tunsim_net_send(&a, out, n);
		/* B's response carries B's fresh index; deliver_all runs the whole exchange */
		CHECK_EQ_INT(b.nq, 0);
		size_t before = (size_t)b.resps;
		uint8_t buf[HEADROOM + BUF_CAP];
		memcpy(buf + HEADROOM, a.q[0].buf + HEADROOM, a.q[0].len);
		size_t len = a.q[0].len;
		a.nq = 0;
		tunsim_deliver_one(&b, buf, len);
		CHECK_EQ_INT(b.resps, (int)before + 1);
		CHECK_EQ_INT(b.q[b.nq - 1].buf[HEADROOM], WG_MSG_RESPONSE);
		seen[nseen++] = wg_le32_read(b.q[b.nq - 1].buf + HEADROOM + WG_RESP_OFF_SENDER);
		tunsim_deliver_all(&a, &b);
	}
	CHECK(tunsim_stats(&a).has_session && tunsim_stats(&b).has_session);
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
	tunsim_teardown(&a, &b);
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

	tunsim_setup(&a, &b, 26);
	memset(&cfg, 0, sizeof(cfg));
	cfg.identity = &a.id;
	memcpy(cfg.peer_public_key, b.id.public_key, 32);
	cfg.mtu = 1420;
	cfg.rng = (wg_rng){const_fill, NULL};
	cfg.wall = (wg_wallclock){tunsim_wall_now, NULL};
	a.t = wg_tunnel_new(&cfg, tunsim_now);
	b.t = tunsim_make_tunnel(&b, tunsim_now);
	CHECK(a.t && b.t);
	tunsim_send_packet(&a, 60, 1);
	tunsim_deliver_all(&a, &b);
	CHECK(tunsim_stats(&a).has_session);
	CHECK_EQ_U64(a.init_index[0], 0x5a5a5a5aU);
	/* The next initiation would need another index: every draw collides with the live
	 * keypair's. */
	tunsim_now += WG_SEC(6);
	CHECK_EQ_INT(wg_tunnel_force_handshake(a.t, tunsim_now, out, sizeof(out), &n),
		     WG_TUN_ERR_NO_SESSION);
	CHECK_EQ_U64(n, 0);
	CHECK_EQ_INT(tunsim_send_packet(&a, 60, 2), WG_TUN_WRITE_NETWORK);
	tunsim_deliver_all(&a, &b);
	CHECK_EQ_INT(b.last_tun_id, 2);
	tunsim_teardown(&a, &b);
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
		tunsim_setup(&a, &b, 43);
		tunsim_now = WG_SEC(100);
		memset(&f, 0, sizeof(f));
		test_rng_seed(&f.rng, 4300);
		memset(&cfg, 0, sizeof(cfg));
		cfg.identity = &a.id;
		memcpy(cfg.peer_public_key, b.id.public_key, 32);
		cfg.mtu = 1420;
		cfg.rng = (wg_rng){flaky_fill, &f};
		cfg.wall = (wg_wallclock){tunsim_wall_now, NULL};
		a.t = wg_tunnel_new(&cfg, tunsim_now);
		b.t = tunsim_make_tunnel(&b, tunsim_now);
		CHECK(a.t && b.t);
		f.fails = true;
		CHECK_EQ_INT(tunsim_send_packet(&a, 60, 1), WG_TUN_DONE); /* staged, no initiation */
		CHECK(f.failed_calls > 0);
		CHECK_EQ_INT(a.inits, 0);
		CHECK_EQ_U64(wg_tunnel_staged_count(a.t), 1);
		wg_time_ns t0 = tunsim_now;
		CHECK_EQ_U64(wg_tunnel_next_deadline(a.t), t0 + TIMERS_FAILED_RETRY);
		/* still failing at the first retry: counted, armed again */
		tunsim_run_until(&a, &b, t0 + TIMERS_FAILED_RETRY);
		CHECK_EQ_INT(a.inits, 0);
		CHECK_EQ_U64(tunsim_stats(&a).handshake_attempts, 1);
		CHECK_EQ_U64(wg_tunnel_next_deadline(a.t), t0 + 2 * TIMERS_FAILED_RETRY);
		if (heals) {
			/* healed: the next retry brings the initiation, the packet goes through */
			f.fails = false;
			tunsim_run_until(&a, &b, t0 + 2 * TIMERS_FAILED_RETRY);
			CHECK_EQ_INT(a.inits, 1);
			CHECK(tunsim_stats(&a).has_session);
			CHECK_EQ_INT(b.last_tun_id, 1);
			CHECK_EQ_U64(tunsim_stats(&a).handshake_attempts, 0);
		} else {
			int calls;
			tunsim_run_until(&a, &b, t0 + WG_SEC(60));
			CHECK_EQ_INT(a.inits, 0);
			CHECK_EQ_U64(wg_tunnel_staged_count(a.t), 0); /* given up */
			CHECK_EQ_U64(tunsim_stats(&a).handshake_attempts, WG_MAX_TIMER_HANDSHAKES + 1);
			calls = f.failed_calls;
			CHECK(calls <= 4 * (WG_MAX_TIMER_HANDSHAKES + 2));
			/* silent from now on: only the key-zeroing timer is left, once */
			tunsim_run_until(&a, &b, t0 + WG_SEC(3600));
			CHECK_EQ_INT(f.failed_calls, calls);
			CHECK_EQ_U64(wg_tunnel_next_deadline(a.t), WG_TIME_NEVER);
		}
		tunsim_teardown(&a, &b);
	}
}

static void test_config_checks(void)
{
	peer a, b;
	tunsim_setup(&a, &b, 19);
	wg_tunnel_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.identity = &a.id;
	cfg.rng = (wg_rng){tunsim_rng_fill, &a.rng};
	cfg.wall = (wg_wallclock){tunsim_wall_now, NULL};
	/* Low-order point (zero, one): refused. */
	CHECK(wg_tunnel_new(&cfg, 0) == NULL);
	cfg.peer_public_key[0] = 1;
	CHECK(wg_tunnel_new(&cfg, 0) == NULL);
	memcpy(cfg.peer_public_key, b.id.public_key, 32);
	cfg.wall.now = NULL;
	CHECK(wg_tunnel_new(&cfg, 0) == NULL);
	cfg.wall.now = tunsim_wall_now;
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
	tunsim_make_packet(buf + 16, 60, 1);
	CHECK_EQ_INT(wg_tunnel_encapsulate(t, 0, buf + 16, 60, buf, sizeof(buf), &n), WG_TUN_DONE);
	CHECK_EQ_INT(wg_tunnel_force_handshake(t, 0, buf, sizeof(buf), &n), WG_TUN_ERR_NO_KEY);
	CHECK_EQ_U64(wg_tunnel_next_deadline(t), WG_TIME_NEVER);
	wg_tunnel_free(t);
	tunsim_teardown(&a, &b);
}

int main(void)
{
	test_malformed();
	test_random_indices();
	test_broken_rng();
	test_initiation_rng_retry();
	test_config_checks();
	return test_finish("tunnel_hostile");
}
