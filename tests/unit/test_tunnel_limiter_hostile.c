/* The tunnel API limiter against hostile input and failures (fixtures:
 * tests/support/limiter_util.h): bad arguments refused with nothing changed, a failing
 * random source, and a flood from spoofed sources while a real peer connects. */
#include "limiter_util.h"

#include <errno.h>

static void test_bad_input(void)
{
	uint8_t pub[32], out[CAP], msg[CAP];
	lim_src src;
	wgtun_limiter *l;
	wgtun_limiter_stats before, after;
	crafter c;
	size_t n;

	memset(pub, 0x66, sizeof(pub));
	/* load_per_second 1: anything that counted as a handshake would show as load */
	l = limiter_make(pub, &src, 60, 1, 0);
	crafter_init(&c, pub, 61);
	memcpy(msg, crafted(&c), WG_MSG_INITIATION_LEN);
	before = stats_of(l);
	/* caller bugs: refused, nothing changes, *out_len = 0 */
#define BAD(call, want)                                                                    \
	do {                                                                               \
		n = 99;                                                                    \
		CHECK_EQ_INT(call, want);                                                  \
		CHECK_EQ_U64(n, 0);                                                        \
	} while (0)
	BAD(wgtun_limiter_check(NULL, g_now, msg, 148, addr1, 4, 1, out, CAP, &n),
	    WGTUN_TUNNEL_ERR_MALFORMED);
	BAD(wgtun_limiter_check(l, g_now, NULL, 148, addr1, 4, 1, out, CAP, &n),
	    WGTUN_TUNNEL_ERR_MALFORMED);
	BAD(wgtun_limiter_check(l, g_now, msg, 148, NULL, 4, 1, out, CAP, &n),
	    WGTUN_TUNNEL_ERR_MALFORMED);
	BAD(wgtun_limiter_check(l, g_now, msg, 148, addr1, 0, 1, out, CAP, &n),
	    WGTUN_TUNNEL_ERR_MALFORMED);
	BAD(wgtun_limiter_check(l, g_now, msg, 148, addr1, 5, 1, out, CAP, &n),
	    WGTUN_TUNNEL_ERR_MALFORMED);
	BAD(wgtun_limiter_check(l, g_now, msg, 148, v6a, 17, 1, out, CAP, &n),
	    WGTUN_TUNNEL_ERR_MALFORMED);
	BAD(wgtun_limiter_check(l, g_now, msg, 148, addr1, 4, 1, NULL, CAP, &n),
	    WGTUN_TUNNEL_ERR_MALFORMED);
	BAD(wgtun_limiter_check(l, g_now, msg, 148, addr1, 4, 1, out, 63, &n),
	    WGTUN_TUNNEL_ERR_BUFFER);
	BAD(wgtun_limiter_check(l, g_now, msg, 148, addr1, 4, 1, out, 0, &n),
	    WGTUN_TUNNEL_ERR_BUFFER);
	CHECK_EQ_INT(wgtun_limiter_check(l, g_now, msg, 148, addr1, 4, 1, out, CAP, NULL),
		     WGTUN_TUNNEL_ERR_MALFORMED);
	after = stats_of(l);
	CHECK_MEM(&after, &before, sizeof(before));
	CHECK_EQ_INT(src.ndraws, 1);

	/* hostile datagrams: counted as malformed, nothing else moves (no load, no source) */
	{
		static const size_t lens[] = {0, 3, 4, 147, 149, 91, 93, 1000};
		uint8_t g[CAP];
		int k = 0;

		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			memcpy(g, msg, 148);
			if (lens[i] == 91 || lens[i] == 93)
				g[0] = 2; /* a response of the wrong size */
			BAD(wgtun_limiter_check(l, g_now, g, lens[i], addr1, 4, 1, out, CAP, &n),
			    WGTUN_TUNNEL_ERR_MALFORMED);
			k++;
		}
		memcpy(g, msg, 148);
		g[1] = 1; /* reserved bytes */
		BAD(wgtun_limiter_check(l, g_now, g, 148, addr1, 4, 1, out, CAP, &n),
		    WGTUN_TUNNEL_ERR_MALFORMED);
		g[1] = 0;
		g[0] = 5; /* no such type */
		BAD(wgtun_limiter_check(l, g_now, g, 148, addr1, 4, 1, out, CAP, &n),
		    WGTUN_TUNNEL_ERR_MALFORMED);
		g[0] = 3; /* a cookie reply of the wrong size */
		BAD(wgtun_limiter_check(l, g_now, g, 63, addr1, 4, 1, out, CAP, &n),
		    WGTUN_TUNNEL_ERR_MALFORMED);
		g[0] = 4; /* a data message too short */
		BAD(wgtun_limiter_check(l, g_now, g, 31, addr1, 4, 1, out, CAP, &n),
		    WGTUN_TUNNEL_ERR_MALFORMED);
		k += 4;
		after = stats_of(l);
		CHECK_EQ_U64(after.malformed, (uint64_t)k);
		after.malformed = 0;
		CHECK_MEM(&after, &before, sizeof(before));
		/* well-formed types 3 and 4 pass unexamined and uncounted */
		BAD(wgtun_limiter_check(l, g_now, g, 32, addr1, 4, 1, out, CAP, &n),
		    WGTUN_LIMITER_PASS);
		g[0] = 3;
		BAD(wgtun_limiter_check(l, g_now, g, 64, addr1, 4, 1, out, CAP, &n),
		    WGTUN_LIMITER_PASS);
		after = stats_of(l);
		CHECK_EQ_U64(after.malformed, (uint64_t)k);
	}
	CHECK_EQ_INT(wgtun_limiter_under_load(l, g_now), 0);
	CHECK_EQ_INT(src.ndraws, 1);
#undef BAD

	/* stats versions */
	{
		struct {
			wgtun_limiter_stats s;
			uint8_t tail[8];
		} raw;
		size_t v1 = offsetof(wgtun_limiter_stats, under_load) + sizeof(int);

		CHECK_EQ_INT(wgtun_limiter_get_stats(NULL, &raw.s), -EINVAL);
		CHECK_EQ_INT(wgtun_limiter_get_stats(l, NULL), -EINVAL);
		memset(&raw, 0x5a, sizeof(raw));
		raw.s.struct_size = offsetof(wgtun_limiter_stats, sources);
		CHECK_EQ_INT(wgtun_limiter_get_stats(l, &raw.s), -EINVAL);
		raw.s.struct_size = v1;
		CHECK_EQ_INT(wgtun_limiter_get_stats(l, &raw.s), 0);
		CHECK_EQ_U64(raw.s.malformed, 12);
		CHECK_EQ_INT(raw.tail[0], 0x5a);
		raw.s.struct_size = sizeof(raw);
		CHECK_EQ_INT(wgtun_limiter_get_stats(l, &raw.s), 0);
		CHECK_EQ_INT(raw.tail[7], 0x5a);
	}
	wgtun_limiter_free(l);
	cookie_maker_wipe(&c.mk);
}

/* The random source fails under load: no reply made, nothing sent, a distinct code; fine
 * again once it works. */
static void test_random_fails(void)
{
	uint8_t pub[32], out[CAP];
	lim_src src;
	wgtun_limiter *l;
	crafter c;
	size_t n = 99;
	wgtun_limiter_stats st;

	memset(pub, 0x77, sizeof(pub));
	l = limiter_make(pub, &src, 70, 0, 0);
	crafter_init(&c, pub, 71);
	wgtun_limiter_report_load(l, g_now);
	src.fails = true;
	CHECK_EQ_INT(check4(l, crafted(&c), sizeof(c.msg), addr1, 1, out, &n),
		     WGTUN_TUNNEL_ERR_RANDOM);
	CHECK_EQ_U64(n, 0);
	CHECK(src.failed_calls > 0);
	st = stats_of(l);
	CHECK_EQ_U64(st.random_errors, 1);
	CHECK_EQ_U64(st.cookie_replies + st.passed, 0);
	src.fails = false;
	proven(&c, l, addr1, 4, 1);
	CHECK_EQ_INT(check4(l, crafted(&c), sizeof(c.msg), addr1, 1, out, &n), WGTUN_LIMITER_PASS);
	/* a failure on the nonce alone (the secret is fresh) is the same */
	src.fails = true;
	{
		uint8_t plain[WG_MSG_INITIATION_LEN];

		memcpy(plain, c.msg, sizeof(plain));
		memset(plain + 132, 0, 16);
		CHECK_EQ_INT(check4(l, plain, sizeof(plain), addr1, 1, out, &n),
			     WGTUN_TUNNEL_ERR_RANDOM);
		CHECK_EQ_U64(n, 0);
		/* a proven message needs no random bytes: it passes */
		CHECK_EQ_INT(check4(l, c.msg, sizeof(c.msg), addr1, 1, out, &n),
			     WGTUN_LIMITER_PASS);
	}
	src.fails = false;
	st = stats_of(l);
	CHECK_EQ_U64(st.random_errors, 2);
	CHECK_EQ_U64(st.cookie_replies, 1);
	CHECK_EQ_U64(st.passed, 2);
	wgtun_limiter_free(l);
	cookie_maker_wipe(&c.mk);
}

/* A flood of initiations with a valid mac1 (anyone with our public key can make them) from
 * spoofed sources, 150 a second for 8 s against load_per_second 100, while A connects to B:
 * only the first window's 100 reach the (costly) sender lookup, spoofed sources never enter
 * the rate limiter's table, and A gets through with its cookie on its own retry. */
static void test_flood(void)
{
	side a, b;
	lim_src src;
	wgtun_limiter *lim;
	crafter f;
	uint8_t init[CAP], out[CAP], resp[CAP], who[32];
	size_t n = 0, in = 0, rn = 0;
	uint64_t t0 = g_now, next_a;
	int flood_pass = 0, flood_reply = 0, a_replies = 0, a_pass = 0, auth = 0;
	wgtun_limiter_stats st;

	side_keys(&a, 90);
	side_keys(&b, 91);
	side_tunnel(&a, &b);
	side_tunnel(&b, &a);
	lim = limiter_make(b.pub, &src, 92, 100, 0);
	crafter_init(&f, b.pub, 93);
	next_a = t0 + 2 * SEC; /* A starts in the middle of the flood */
	for (int i = 0; i < 8 * 150; i++) {
		uint8_t spoofed[4] = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
		int r;

		g_now = t0 + (uint64_t)i * (SEC / 150);
		r = check4(lim, crafted(&f), sizeof(f.msg), spoofed, 1024, out, &n);
		flood_pass += r == WGTUN_LIMITER_PASS;
		flood_reply += r == WGTUN_TUNNEL_WRITE_NETWORK;
		/* A's handshake, its timers on the same clock */
		if (g_now >= next_a) {
			int ra;

			if (a_replies == 0 && a_pass == 0)
				ra = wgtun_tunnel_force_handshake(a.t, g_now, init, sizeof(init), &in);
			else
				ra = wgtun_tunnel_tick(a.t, g_now, init, sizeof(init), &in);
			next_a = wgtun_tunnel_next_deadline(a.t);
			if (ra != WGTUN_TUNNEL_WRITE_NETWORK || init[0] != 1)
				continue;
			r = check4(lim, init, in, addr1, 51820, out, &n);
			if (r == WGTUN_TUNNEL_WRITE_NETWORK) {
				a_replies++;
				CHECK_EQ_INT(wgtun_tunnel_read(a.t, g_now, out, n, resp, sizeof(resp),
							       &rn, NULL),
					     WGTUN_TUNNEL_DONE);
			} else if (r == WGTUN_LIMITER_PASS) {
				wgtun_tunnel_initiation prep;

				a_pass++;
				CHECK_EQ_INT(wgtun_tunnel_initiation_sender(b.t, init, in, who, &prep),
					     WGTUN_TUNNEL_DONE);
				CHECK_EQ_INT(wgtun_tunnel_read_initiation(b.t, g_now, init, in, &prep,
									  resp, sizeof(resp), &rn,
									  &auth),
					     WGTUN_TUNNEL_WRITE_NETWORK);
				/* A's key confirmation (a keepalive: type 4, passes unexamined) */
				r = wgtun_tunnel_read(a.t, g_now, resp, rn, out, sizeof(out), &n, &auth);
				while (r == WGTUN_TUNNEL_WRITE_NETWORK) {
					size_t kn = 0;

					CHECK_EQ_INT(check4(lim, out, n, addr1, 51820, resp, &kn),
						     WGTUN_LIMITER_PASS);
					CHECK(wgtun_tunnel_read(b.t, g_now, out, n, resp, sizeof(resp),
								&kn, NULL) >= 0);
					r = wgtun_tunnel_flush(a.t, g_now, out, sizeof(out), &n);
				}
				CHECK_EQ_INT(r, WGTUN_TUNNEL_DONE);
				next_a = UINT64_MAX;
			}
		}
	}
	CHECK_EQ_INT(flood_pass, 100);
	CHECK_EQ_INT(flood_reply, 8 * 150 - 100);
	CHECK_EQ_INT(a_replies, 1);
	CHECK_EQ_INT(a_pass, 1);
	CHECK_EQ_INT(tunnel_stats(&a).has_session, 1);
	CHECK_EQ_INT(tunnel_stats(&b).has_session, 1);
	st = stats_of(lim);
	CHECK_EQ_U64(st.sources, 1); /* A alone: no spoofed source reached the table */
	CHECK_EQ_INT(st.under_load, 1);
	CHECK_EQ_INT(wgtun_limiter_under_load(lim, g_now + SEC), 0); /* 1 s after the flood */
	g_now += SEC;
	cookie_maker_wipe(&f.mk);
	wgtun_limiter_free(lim);
	wgtun_tunnel_free(a.t);
	wgtun_tunnel_free(b.t);
}

int main(void)
{
	test_bad_input();
	test_random_fails();
	test_flood();
	return test_finish("tunnel_limiter_hostile");
}
