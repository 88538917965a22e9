/* Cost of the tunnel API's under-load shield (wgtun_limiter_check) per handshake message, by
 * path, next to what it protects (wgtun_tunnel_initiation_sender: mac1 + one X25519 + the
 * static key's decryption). Count instructions with callgrind, which does not depend on the
 * machine's load:
 *   valgrind --tool=callgrind --toggle-collect=wgtun_limiter_check bench_limiter MODE 1000
 *   valgrind --tool=callgrind --toggle-collect=wgtun_tunnel_initiation_sender \
 *       bench_limiter sender 1000
 * and divide callgrind_annotate's total by the count. It also prints thread CPU time per call.
 * MODE: pass (not under load: mac1 only), reply (under load, no mac2: a cookie reply),
 * proven (under load, valid mac2: passes the rate limiter), badmac (mac1 invalid), sender.
 * The clock steps 50 ms per message, the rate limiter's refill of one message, so a proven
 * source is never rate limited; proven takes at most 2000 calls (100 s: the cookie secret is
 * renewed after 120 s, and the old cookie would then get replies). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wgtun.h"

#include "proto/cookie.h"
#include "proto/messages.h"

#define STEP_NS 50000000ULL

static double thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	static const uint8_t src[4] = {192, 0, 2, 1};
	uint8_t priv[32], pub[32], peer_priv[32], peer_pub[32], msg[WG_MSG_INITIATION_LEN];
	uint8_t out[256], who[32];
	const char *mode = argc > 1 ? argv[1] : "reply";
	long count = argc > 2 ? atol(argv[2]) : 1000;
	wgtun_limiter_config lc;
	wgtun_tunnel_config tc;
	wgtun_limiter *l = NULL;
	wgtun_tunnel *resp = NULL, *init = NULL;
	cookie_maker mk;
	uint64_t now = 1000000000ULL;
	long results[16] = {0};
	bool loaded = strcmp(mode, "reply") == 0 || strcmp(mode, "proven") == 0;
	size_t n = 0;
	double t0;

	if (count <= 0 || (strcmp(mode, "proven") == 0 && count > 2000) || (!loaded && strcmp(mode, "pass") && strcmp(mode, "badmac") &&
			   strcmp(mode, "sender"))) {
		fprintf(stderr, "usage: bench_limiter pass|reply|proven|badmac|sender [count]\n");
		return 2;
	}
	if (wgtun_key_generate(priv) || wgtun_key_public(pub, priv) ||
	    wgtun_key_generate(peer_priv) || wgtun_key_public(peer_pub, peer_priv))
		return 1;
	wgtun_limiter_config_init(&lc);
	memcpy(lc.public_key, pub, 32);
	lc.load_per_second = UINT32_MAX; /* load only where the mode says */
	wgtun_tunnel_config_init(&tc);
	memcpy(tc.private_key, peer_priv, 32);
	memcpy(tc.peer_public_key, pub, 32);
	if (wgtun_limiter_new(&lc, now, &l) || wgtun_tunnel_new(&tc, now, &init))
		return 1;
	memcpy(tc.private_key, priv, 32);
	memcpy(tc.peer_public_key, peer_pub, 32);
	if (wgtun_tunnel_new(&tc, now, &resp) ||
	    wgtun_tunnel_force_handshake(init, now, msg, sizeof(msg), &n) !=
		    WGTUN_TUNNEL_WRITE_NETWORK)
		return 1;
	memset(&tc, 0, sizeof(tc));
	cookie_maker_init(&mk, pub);
	if (loaded)
		wgtun_limiter_report_load(l, now);
	if (strcmp(mode, "proven") == 0) { /* the source's cookie, as its tunnel would take it */
		(void)cookie_maker_add_macs(&mk, msg, sizeof(msg), now);
		if (wgtun_limiter_check(l, now, msg, sizeof(msg), src, 4, 51820, out, sizeof(out),
					&n) != WGTUN_TUNNEL_WRITE_NETWORK ||
		    cookie_maker_consume_reply(&mk, out, n, now) != COOKIE_OK ||
		    cookie_maker_add_macs(&mk, msg, sizeof(msg), now) != COOKIE_OK)
			return 1;
	}
	if (strcmp(mode, "badmac") == 0)
		msg[WG_INIT_OFF_MAC1] ^= 1;

	t0 = thread_cpu_ns();
	for (long i = 0; i < count; i++) {
		int r;

		if (strcmp(mode, "sender") == 0) {
			wgtun_tunnel_initiation prep;

			r = wgtun_tunnel_initiation_sender(resp, msg, sizeof(msg), who, &prep);
			wgtun_tunnel_initiation_wipe(&prep);
		} else {
			now += STEP_NS;
			if (loaded)
				wgtun_limiter_report_load(l, now);
			r = wgtun_limiter_check(l, now, msg, sizeof(msg), src, 4, 51820, out,
						sizeof(out), &n);
		}
		results[(r + 12) & 15]++;
	}
	printf("%s: %.0f ns CPU per call over %ld calls;", mode,
	       (thread_cpu_ns() - t0) / (double)count, count);
	for (int i = 0; i < 16; i++)
		if (results[i])
			printf(" result %d x%ld", i - 12, results[i]);
	printf("\n");
	cookie_maker_wipe(&mk);
	wgtun_limiter_free(l);
	wgtun_tunnel_free(init);
	wgtun_tunnel_free(resp);
	return 0;
}
