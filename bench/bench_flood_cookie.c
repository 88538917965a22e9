/* The protocol work per handshake-flood message under load, without I/O: what
 * src/device/handshake.c does for a cookie-less initiation with a valid mac1 from one of 256
 * sources (mac1, the cookie and mac2 check, the cookie reply, the reply limiter's estimate).
 * For callgrind: instructions per message are the difference of two runs' totals divided by
 * the difference in messages (start-up cancels out), e.g.
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null bench_flood_cookie 1000
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null bench_flood_cookie 11000
 * Usage: bench_flood_cookie [messages, default 100000]; prints messages/s of thread CPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "crypto/crypto.h"
#include "proto/cookie.h"
#include "proto/identity.h"
#include "proto/messages.h"
#include "proto/ratelimiter.h"

#define SOURCES 256

static int os_rng_fill(void *ctx, void *out, size_t n)
{
	(void)ctx;
	if (crypto_random(out, n) != 0)
		abort();
	return 0;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	const wg_rng rng = {os_rng_fill, NULL};
	uint8_t priv[32], msgs[SOURCES][WG_MSG_INITIATION_LEN];
	wg_identity id;
	cookie_checker c;
	ratelimiter *rl;
	wg_msg_cookie_reply out;
	struct timespec t0, t1;
	unsigned long replies = 0, bad = 0, allowed = 0;

	if (crypto_random(priv, sizeof(priv)) != 0 || wg_identity_set(&id, priv) != 0)
		return 1;
	cookie_checker_init(&c, &id);
	rl = ratelimiter_new(&rng, 8192);
	if (!rl)
		return 1;
	for (int s = 0; s < SOURCES; s++) { /* what the battery's flood tool sends */
		if (crypto_random(msgs[s], sizeof(msgs[s])) != 0)
			return 1;
		wg_msg_set_header(msgs[s], WG_MSG_INITIATION);
		crypto_mac(msgs[s] + WG_INIT_OFF_MAC1, id.mac1_key, WG_HASH_LEN, msgs[s],
			   WG_INIT_OFF_MAC1);
		memset(msgs[s] + WG_INIT_OFF_MAC1 + WG_MAC_LEN, 0, WG_MAC_LEN);
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	for (long i = 0; i < n; i++) {
		const uint8_t *m = msgs[i % SOURCES];
		uint8_t addr[4] = {10, 250, (uint8_t)((i % SOURCES) >> 8), (uint8_t)(i % SOURCES)};
		wg_time_ns now = WG_SEC(1) + (wg_time_ns)i * 10000; /* 100,000 messages/s */
		bool reply;

		if (!cookie_checker_mac1_valid(&c, m, sizeof(msgs[0]))) {
			bad++;
			continue;
		}
		if (cookie_checker_mac2_or_reply(&c, m, sizeof(msgs[0]), addr, 4, 51820, now, &rng,
						 &out, &reply) != COOKIE_OK || !reply) {
			bad++;
			continue;
		}
		replies++;
		allowed += ratelimiter_allow(rl, now, AF_INET, addr);
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("%ld messages, %lu cookie replies, %lu past the limiter, %lu bad: %.0f messages/s "
	       "(%.2f us each)\n", n, replies, allowed, bad, s > 0 ? n / s : 0, s * 1e6 / n);
	ratelimiter_free(rl);
	cookie_checker_wipe(&c);
	wg_identity_clear(&id);
	return bad != 0;
}
