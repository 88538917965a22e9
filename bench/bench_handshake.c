/* Full WireGuard handshakes per second on one core: initiation (create + macs), responder
 * (mac1 check, both consume steps), response (create + macs), initiator (mac1 check, consume),
 * and both key derivations. Usage: bench_handshake [seconds, default 3] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "proto/cookie.h"
#include "proto/identity.h"
#include "proto/noise.h"

static int os_rng_fill(void *ctx, void *out, size_t n)
{
	(void)ctx;
	if (crypto_random(out, n) != 0)
		abort();
	return 0;
}

static double clock_seconds(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall time decides when to stop; thread CPU time gives the per-core rate, which other
 * processes on a shared machine do not dilute. */
static double mono_seconds(void)
{
	return clock_seconds(CLOCK_MONOTONIC);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3.0;
	wg_rng rng = {os_rng_fill, NULL};
	wg_identity id_i, id_r;
	noise_handshake hs_i, hs_r;
	cookie_maker mk_i, mk_r;
	cookie_checker ck_i, ck_r;
	uint8_t k[32], psk[32];
	/* virtual clocks: 25 ms per handshake keeps clear of the flood and TAI64N granularity */
	uint64_t wall = 1700000000ULL * WG_NS_PER_SEC;
	wg_time_ns now = WG_SEC(1);
	unsigned long n = 0;
	double start, elapsed, cpu_start, cpu;

	if (secs <= 0)
		secs = 3.0;
	if (crypto_random(k, 32) || wg_identity_set(&id_i, k) || crypto_random(k, 32) ||
	    wg_identity_set(&id_r, k) || crypto_random(psk, 32))
		return 1;
	if (noise_handshake_init(&hs_i, &id_i, id_r.public_key, psk, NULL) != NOISE_OK ||
	    noise_handshake_init(&hs_r, &id_r, id_i.public_key, psk, NULL) != NOISE_OK)
		return 1;
	cookie_maker_init(&mk_i, id_r.public_key);
	cookie_maker_init(&mk_r, id_i.public_key);
	cookie_checker_init(&ck_i, &id_i);
	cookie_checker_init(&ck_r, &id_r);

	start = mono_seconds();
	cpu_start = clock_seconds(CLOCK_THREAD_CPUTIME_ID);
	do {
		for (int batch = 0; batch < 64; batch++) {
			wg_msg_initiation init;
			wg_msg_response resp;
			noise_initiation in;
			noise_session_keys ki, kr;

			wall += WG_MS(25);
			now += WG_MS(25);
			if (noise_create_initiation(&hs_i, wall, &rng, (uint32_t)n, &init) ||
			    cookie_maker_add_macs(&mk_i, (uint8_t *)&init, sizeof(init), now) ||
			    !cookie_checker_mac1_valid(&ck_r, (uint8_t *)&init, sizeof(init)) ||
			    noise_consume_initiation_static(&id_r, NULL, (uint8_t *)&init,
							    sizeof(init), &in) ||
			    noise_consume_initiation(&hs_r, &in, &init, now) ||
			    noise_create_response(&hs_r, &rng, (uint32_t)n + 1, &resp) ||
			    cookie_maker_add_macs(&mk_r, (uint8_t *)&resp, sizeof(resp), now) ||
			    !cookie_checker_mac1_valid(&ck_i, (uint8_t *)&resp, sizeof(resp)) ||
			    noise_consume_response(&hs_i, (uint8_t *)&resp, sizeof(resp)) ||
			    noise_begin_session(&hs_i, &ki) || noise_begin_session(&hs_r, &kr) ||
			    !crypto_equal(ki.send_key, kr.recv_key, 32)) {
				fprintf(stderr, "handshake %lu failed\n", n);
				return 1;
			}
			crypto_wipe(&ki, sizeof(ki));
			crypto_wipe(&kr, sizeof(kr));
			n++;
		}
		elapsed = mono_seconds() - start;
	} while (elapsed < secs);

	cpu = clock_seconds(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
	printf("bench_handshake: %lu full handshakes (both sides) in %.2f s wall, %.2f s CPU = "
	       "%.0f handshakes/s per core (%.1f us CPU each; %.0f/s by wall clock)\n",
	       n, elapsed, cpu, (double)n / cpu, cpu * 1e6 / (double)n, (double)n / elapsed);
	noise_handshake_wipe(&hs_i);
	noise_handshake_wipe(&hs_r);
	wg_identity_clear(&id_i);
	wg_identity_clear(&id_r);
	crypto_wipe(k, sizeof(k));
	crypto_wipe(psk, sizeof(psk));
	return 0;
}
