/* The public under-load shield of the tunnel API (include/wgtun.h, "Limiter"), through the
 * header, with a virtual clock (fixtures: tests/support/limiter_util.h): its config, cookie
 * replies under load and none without, their bytes against the device's cookie path (the
 * proto checker the device calls, fed the same random draws), our own tunnel taking the
 * cookie and its next initiation passing with mac2 and reaching the right tunnel through the
 * initiation dispatch, and a reply written over the datagram it answers. The rate limiter
 * and the load: test_tunnel_limiter_rate.c; hostile input: test_tunnel_limiter_hostile.c. */
#include "limiter_util.h"

#include "crypto/crypto.h"

#include <errno.h>

static void test_config(void)
{
	wgtun_limiter_config cfg;
	static char not_null;
	wgtun_limiter *l = (wgtun_limiter *)(void *)&not_null; /* reset to NULL on error */
	lim_src src;
	struct {
		wgtun_limiter_config c;
		uint8_t extra[16];
	} big;

	memset(&src, 0, sizeof(src));
	test_rng_seed(&src.rng, 1);
	CHECK_EQ_INT(wgtun_limiter_new(NULL, 0, &l), -EINVAL);
	CHECK(l == NULL);
	wgtun_limiter_config_init(&cfg);
	CHECK_EQ_U64(cfg.struct_size, sizeof(cfg));
	CHECK_EQ_INT(wgtun_limiter_new(&cfg, 0, NULL), -EINVAL);
	CHECK_EQ_INT(wgtun_limiter_new(&cfg, 0, &l), -EINVAL); /* all-zero public key */
	CHECK(l == NULL);
	memset(cfg.public_key, 0x42, 32);
	cfg.max_sources = WGTUN_LIMITER_MAX_SOURCES + 1;
	CHECK_EQ_INT(wgtun_limiter_new(&cfg, 0, &l), -EINVAL);
	cfg.max_sources = 0;
	cfg.struct_size = 8;
	CHECK_EQ_INT(wgtun_limiter_new(&cfg, 0, &l), -EINVAL);
	cfg.struct_size = sizeof(cfg);
	memset(&big, 0, sizeof(big));
	big.c = cfg;
	big.c.struct_size = sizeof(big);
	CHECK_EQ_INT(wgtun_limiter_new(&big.c, 0, &l), 0); /* zero tail: fine */
	CHECK(l != NULL);
	wgtun_limiter_free(l);
	big.extra[5] = 1; /* a field this library does not know */
	CHECK_EQ_INT(wgtun_limiter_new(&big.c, 0, &l), -EINVAL);
	CHECK(l == NULL);
	/* the random source fails at creation (the rate limiter's hash key): -EIO, no limiter */
	cfg.random = lim_random;
	cfg.ctx = &src;
	src.fails = true;
	CHECK_EQ_INT(wgtun_limiter_new(&cfg, 0, &l), -EIO);
	CHECK(l == NULL);
	CHECK(src.failed_calls > 0);
	src.fails = false;
	/* defaults: the OS CSPRNG, not under load */
	cfg.random = NULL;
	CHECK_EQ_INT(wgtun_limiter_new(&cfg, g_now, &l), 0);
	CHECK_EQ_INT(wgtun_limiter_under_load(l, g_now), 0);
	wgtun_limiter_report_load(l, g_now);
	CHECK_EQ_INT(wgtun_limiter_under_load(l, g_now), 1);
	{
		crafter c;
		uint8_t out[CAP];
		size_t n = 0;

		crafter_init(&c, cfg.public_key, 2);
		proven(&c, l, addr1, 4, 1000); /* a reply made with the OS CSPRNG's nonce */
		CHECK_EQ_INT(check4(l, crafted(&c), sizeof(c.msg), addr1, 1000, out, &n),
			     WGTUN_LIMITER_PASS);
		cookie_maker_wipe(&c.mk);
	}
	wgtun_limiter_free(l);
	wgtun_limiter_free(NULL);
	CHECK_EQ_INT(wgtun_limiter_under_load(NULL, 0), 0);
	wgtun_limiter_report_load(NULL, 0);
}

/* A (initiator) -> B (responder behind a limiter for B's key). */
static void test_cookie_round_trip(void)
{
	side a, b, c, b_for_c;
	lim_src src, src_a;
	wgtun_limiter *lim, *lim_a;
	uint8_t init[CAP], init2[CAP], out[CAP], reply[CAP], resp[CAP], tun[CAP], who[32];
	size_t n = 0, in = 0, rn = 0, tn = 0;
	wgtun_limiter_stats st;
	wgtun_tunnel_stats ts;
	int auth = -1;

	side_keys(&a, 10);
	side_keys(&b, 11);
	side_keys(&c, 12);
	b_for_c = b; /* B's key, peer C: a second tunnel of the same identity */
	test_rng_seed(&b_for_c.rng, 13);
	side_tunnel(&a, &b);
	side_tunnel(&b, &a);
	side_tunnel(&c, &b);
	side_tunnel(&b_for_c, &c);
	lim = limiter_make(b.pub, &src, 20, 0, 0);
	CHECK_EQ_INT(src.ndraws, 1); /* the rate limiter's hash key */

	/* Not under load: A's initiation passes as it is, nothing to send. */
	CHECK_EQ_INT(wgtun_tunnel_force_handshake(a.t, g_now, init, sizeof(init), &in),
		     WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK_EQ_U64(in, 148);
	n = 99;
	CHECK_EQ_INT(check4(lim, init, in, addr1, 40000, out, &n), WGTUN_LIMITER_PASS);
	CHECK_EQ_U64(n, 0);
	st = stats_of(lim);
	CHECK_EQ_U64(st.handshakes, 1);
	CHECK_EQ_U64(st.passed, 1);
	CHECK_EQ_U64(st.cookie_replies + st.ratelimited + st.bad_mac + st.malformed, 0);
	CHECK_EQ_INT(st.under_load, 0);
	CHECK_EQ_INT(src.ndraws, 1); /* no cookie work at all */
	/* a flipped mac1 byte: not for this key */
	init[120] ^= 1;
	CHECK_EQ_INT(check4(lim, init, in, addr1, 40000, out, &n), WGTUN_TUNNEL_ERR_MAC);
	init[120] ^= 1;
	CHECK_EQ_U64(stats_of(lim).bad_mac, 1);

	/* Under load: the same initiation (mac2 all zero) gets a cookie reply. */
	wgtun_limiter_report_load(lim, g_now);
	CHECK_EQ_INT(wgtun_limiter_under_load(lim, g_now), 1);
	CHECK_EQ_INT(check4(lim, init, in, addr1, 40000, reply, &rn), WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK_EQ_U64(rn, WGTUN_LIMITER_REPLY_LEN);
	CHECK(reply[0] == 3 && reply[1] == 0 && reply[2] == 0 && reply[3] == 0);
	CHECK_EQ_U64(le32(reply + 4), le32(init + 4)); /* receiver = the initiation's sender */
	st = stats_of(lim);
	CHECK_EQ_U64(st.handshakes, 2);
	CHECK_EQ_U64(st.cookie_replies, 1);
	CHECK_EQ_U64(st.passed, 1);
	CHECK_EQ_INT(st.under_load, 1);
	/* The device's cookie path (the proto checker its handshake_admit calls) makes the same
	 * bytes from the same random draws: the secret (draw 1) and the nonce (draw 2). */
	CHECK_EQ_INT(src.ndraws, 3);
	{
		wg_identity id;
		cookie_checker ck;
		replay_src rs = {&src, 1};
		const wg_rng rng = {replay_fill, &rs};
		wg_msg_cookie_reply dev_reply;
		bool made = false;

		CHECK_EQ_INT(wg_identity_set(&id, b.priv), 0);
		cookie_checker_init(&ck, &id);
		CHECK_EQ_INT(cookie_checker_mac2_or_reply(&ck, init, in, addr1, 4, 40000, g_now, &rng,
							  &dev_reply, &made),
			     COOKIE_OK);
		CHECK(made);
		CHECK_MEM(&dev_reply, reply, WGTUN_LIMITER_REPLY_LEN);
		CHECK_EQ_INT(rs.next, 3);
		cookie_checker_wipe(&ck);
		wg_identity_clear(&id);
	}

	/* A's tunnel takes the cookie: nothing to send, nothing authenticated, no drop. */
	CHECK_EQ_INT(wgtun_tunnel_read(a.t, g_now, reply, rn, out, sizeof(out), &n, &auth),
		     WGTUN_TUNNEL_DONE);
	CHECK_EQ_INT(auth, 0);
	CHECK_EQ_U64(n, 0);
	ts = tunnel_stats(&a);
	CHECK_EQ_U64(ts.dropped, 0);
	CHECK_EQ_INT(ts.has_session, 0);
	/* a second copy of the reply answers nothing (one reply per mac1 sent) */
	CHECK(wgtun_tunnel_read(a.t, g_now, reply, rn, out, sizeof(out), &n, NULL) < 0);

	/* A retries on its own timer (5 s + jitter); the retry carries mac2 and passes. */
	in = next_from_timers(&a, g_now + 7 * SEC, init2);
	CHECK_EQ_U64(in, 148);
	CHECK_EQ_INT(init2[0], 1);
	CHECK(!crypto_is_zero(init2 + 132, 16));
	CHECK_EQ_INT(wgtun_limiter_under_load(lim, g_now), 0); /* 1 s is long over */
	wgtun_limiter_report_load(lim, g_now);
	CHECK_EQ_INT(check4(lim, init2, in, addr1, 40000, out, &n), WGTUN_LIMITER_PASS);
	CHECK_EQ_U64(n, 0);
	/* the cookie is the source's: another port or address gets a reply of its own */
	CHECK_EQ_INT(check4(lim, init2, in, addr1, 40001, out, &n), WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK_EQ_INT(check4(lim, init2, in, addr2, 40000, out, &n), WGTUN_TUNNEL_WRITE_NETWORK);
	st = stats_of(lim);
	CHECK_EQ_U64(st.passed, 2);
	CHECK_EQ_U64(st.cookie_replies, 3);
	CHECK_EQ_U64(st.sources, 1); /* only the passed one reached the rate limiter */

	/* Dispatch as an app with many tunnels does it: the sender lookup on any tunnel of the
	 * key, then that sender's tunnel. */
	{
		wgtun_tunnel_initiation prep;

		CHECK_EQ_INT(wgtun_tunnel_initiation_sender(b_for_c.t, init2, in, who, &prep),
			     WGTUN_TUNNEL_DONE);
		CHECK_MEM(who, a.pub, 32);
		CHECK_EQ_INT(wgtun_tunnel_read_initiation(b.t, g_now, init2, in, &prep, resp,
							  sizeof(resp), &rn, &auth),
			     WGTUN_TUNNEL_WRITE_NETWORK);
		CHECK(auth == 1 && rn == 92 && resp[0] == 2);
	}
	/* The response, at A, through A's own limiter: passes unloaded; under load B has no
	 * cookie from A, so it gets one, and B's tunnel takes it (the receiver index is its
	 * response's sender index, known to it). */
	lim_a = limiter_make(a.pub, &src_a, 21, 0, 0);
	CHECK_EQ_INT(check4(lim_a, resp, rn, addr2, 51820, out, &n), WGTUN_LIMITER_PASS);
	wgtun_limiter_report_load(lim_a, g_now);
	CHECK_EQ_INT(check4(lim_a, resp, rn, addr2, 51820, reply, &n),
		     WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK_EQ_U64(le32(reply + 4), le32(resp + 4));
	CHECK_EQ_INT(wgtun_tunnel_read(b.t, g_now, reply, n, out, sizeof(out), &tn, &auth),
		     WGTUN_TUNNEL_DONE);
	CHECK_EQ_U64(tunnel_stats(&b).dropped, 0);
	/* A completes the handshake with the response (its limiter's first verdict) */
	CHECK(wgtun_tunnel_read(a.t, g_now, resp, rn, out, sizeof(out), &n, &auth) >= 0);
	CHECK_EQ_INT(auth, 1);
	CHECK_EQ_INT(tunnel_stats(&a).has_session, 1);
	/* data messages pass the limiter unexamined, under load too */
	{
		uint8_t pkt[64];
		wgtun_limiter_stats after;

		memset(pkt, 0, sizeof(pkt));
		pkt[0] = 0x45;
		pkt[3] = sizeof(pkt);
		CHECK_EQ_INT(wgtun_tunnel_write(a.t, g_now, pkt, sizeof(pkt), out, sizeof(out), &n),
			     WGTUN_TUNNEL_WRITE_NETWORK);
		CHECK_EQ_INT(out[0], 4);
		CHECK_EQ_INT(wgtun_limiter_under_load(lim, g_now), 1);
		st = stats_of(lim);
		CHECK_EQ_INT(check4(lim, out, n, addr1, 40000, reply, &rn), WGTUN_LIMITER_PASS);
		CHECK_EQ_U64(rn, 0);
		after = stats_of(lim);
		CHECK_MEM(&after, &st, sizeof(st));
		CHECK_EQ_INT(wgtun_tunnel_read(b.t, g_now, out, n, tun, sizeof(tun), &tn, &auth),
			     WGTUN_TUNNEL_WRITE_TUN_V4);
		CHECK_EQ_U64(tn, sizeof(pkt));
		CHECK_MEM(tun, pkt, sizeof(pkt));
	}
	/* C, the other peer of B's key, is unknown to nothing: its initiation under load gets a
	 * cookie like anyone's, and after its retry reaches b_for_c through the dispatch. */
	CHECK_EQ_INT(wgtun_tunnel_force_handshake(c.t, g_now, init, sizeof(init), &in),
		     WGTUN_TUNNEL_WRITE_NETWORK);
	wgtun_limiter_report_load(lim, g_now);
	CHECK_EQ_INT(check4(lim, init, in, addr3, 9, reply, &rn), WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK_EQ_INT(wgtun_tunnel_read(c.t, g_now, reply, rn, out, sizeof(out), &n, NULL),
		     WGTUN_TUNNEL_DONE);
	in = next_from_timers(&c, g_now + 7 * SEC, init2);
	CHECK_EQ_U64(in, 148);
	wgtun_limiter_report_load(lim, g_now);
	CHECK_EQ_INT(check4(lim, init2, in, addr3, 9, out, &n), WGTUN_LIMITER_PASS);
	{
		wgtun_tunnel_initiation prep;

		CHECK_EQ_INT(wgtun_tunnel_initiation_sender(b.t, init2, in, who, &prep),
			     WGTUN_TUNNEL_DONE);
		CHECK_MEM(who, c.pub, 32);
		CHECK_EQ_INT(wgtun_tunnel_read_initiation(b_for_c.t, g_now, init2, in, &prep, resp,
							  sizeof(resp), &rn, &auth),
			     WGTUN_TUNNEL_WRITE_NETWORK);
		CHECK_EQ_INT(auth, 1);
	}
	wgtun_limiter_free(lim);
	wgtun_limiter_free(lim_a);
	wgtun_tunnel_free(a.t);
	wgtun_tunnel_free(b.t);
	wgtun_tunnel_free(c.t);
	wgtun_tunnel_free(b_for_c.t);
}

/* The reply may overwrite the datagram it answers (out == dgram). */
static void test_in_place(void)
{
	uint8_t pub[32], buf[WG_MSG_INITIATION_LEN];
	lim_src src;
	wgtun_limiter *l;
	crafter c;
	size_t n = 0;

	memset(pub, 0x33, sizeof(pub));
	l = limiter_make(pub, &src, 30, 0, 0);
	crafter_init(&c, pub, 31);
	memcpy(buf, crafted(&c), sizeof(buf));
	wgtun_limiter_report_load(l, g_now);
	CHECK_EQ_INT(wgtun_limiter_check(l, g_now, buf, sizeof(buf), v6a, 16, 443, buf, sizeof(buf),
					 &n),
		     WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK_EQ_U64(n, 64);
	/* sealed with the message's mac1 as AD before it was overwritten: the maker opens it */
	CHECK_EQ_INT(cookie_maker_consume_reply(&c.mk, buf, n, g_now), COOKIE_OK);
	CHECK_EQ_INT(wgtun_limiter_check(l, g_now, crafted(&c), sizeof(c.msg), v6a, 16, 443, buf,
					 sizeof(buf), &n),
		     WGTUN_LIMITER_PASS);
	cookie_maker_wipe(&c.mk);
	wgtun_limiter_free(l);
}

int main(void)
{
	test_config();
	test_cookie_round_trip();
	test_in_place();
	return test_finish("tunnel_limiter");
}
