/* Responder cost per handshake initiation on one core, the way a device handles one: find the
 * sender (mac1, decrypt its static key), then the peer's tunnel consumes it and creates the
 * response. Two variants:
 *   plain     wg_tunnel_initiation_sender() + wg_tunnel_decapsulate(): the anonymous step
 *             (one X25519) runs twice;
 *   prepared  wg_tunnel_initiation_prepare() + wg_tunnel_decapsulate_initiation(): once.
 * Only the responder's work is timed (thread CPU time); the initiator's side runs untimed on
 * a virtual clock. Usage: bench_responder [handshakes per variant, default 2000] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "proto/identity.h"
#include "proto/tunnel.h"
#include "tunpair.h"

static wg_time_ns g_now = WG_SEC(1);

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static wg_tunnel *make(const wg_identity *self, const wg_identity *peer)
{
	return tunpair_tunnel(self, peer->public_key, (wg_rng){tunpair_os_rng, NULL},
			      (wg_wallclock){tunpair_wall, &g_now}, g_now);
}

/* Returns the responder's CPU seconds for n handshakes, or -1 on any failure. */
static double run(const wg_identity *ia, const wg_identity *ib, int n, int prepared)
{
	wg_tunnel *a = make(ia, ib), *b = make(ib, ia);
	uint8_t init[256], resp[256], out[256];
	double cpu = 0;

	if (!a || !b)
		return -1;
	for (int i = 0; i < n; i++) {
		size_t in_len, rn, on;
		bool auth;
		double t0;
		wg_tun_result r;

		g_now += WG_SEC(6); /* past the 5 s initiation limit */
		if (wg_tunnel_force_handshake(a, g_now, init, sizeof(init), &in_len) !=
		    WG_TUN_WRITE_NETWORK)
			return -1;
		t0 = cpu_s();
		if (prepared) {
			wg_tunnel_initiation prep;
			if (wg_tunnel_initiation_prepare(ib, init, in_len, &prep) != WG_TUN_DONE ||
			    memcmp(prep.in.remote_static, ia->public_key, 32) != 0)
				return -1;
			r = wg_tunnel_decapsulate_initiation(b, g_now, init, in_len, &prep, resp,
							     sizeof(resp), &rn, &auth);
		} else {
			uint8_t who[32];
			if (wg_tunnel_initiation_sender(ib, init, in_len, who) != WG_TUN_DONE ||
			    memcmp(who, ia->public_key, 32) != 0)
				return -1;
			r = wg_tunnel_decapsulate(b, g_now, init, in_len, resp, sizeof(resp), &rn,
						  &auth);
		}
		cpu += cpu_s() - t0;
		if (r != WG_TUN_WRITE_NETWORK)
			return -1;
		/* untimed: the initiator completes, its keepalive confirms the session at B */
		if (wg_tunnel_decapsulate(a, g_now, resp, rn, out, sizeof(out), &on, &auth) !=
			    WG_TUN_WRITE_NETWORK ||
		    wg_tunnel_decapsulate(b, g_now, out, on, resp, sizeof(resp), &rn, &auth) !=
			    WG_TUN_DONE)
			return -1;
	}
	wg_tunnel_free(a);
	wg_tunnel_free(b);
	return cpu;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000;
	wg_identity ia, ib;
	uint8_t k[32];

	if (n <= 0 || crypto_random(k, 32) || wg_identity_set(&ia, k) || crypto_random(k, 32) ||
	    wg_identity_set(&ib, k))
		return 1;
	crypto_wipe(k, sizeof(k));
	/* alternate the variants so machine load drifts hit both alike */
	double plain = 0, prep = 0;
	for (int round = 0; round < 4; round++) {
		double p = run(&ia, &ib, n / 4, 0), q = run(&ia, &ib, n / 4, 1);
		if (p < 0 || q < 0) {
			fprintf(stderr, "bench_responder: a handshake failed\n");
			return 1;
		}
		plain += p;
		prep += q;
	}
	n = n / 4 * 4;
	printf("bench_responder: plain    %.1f us CPU per initiation (%.0f/s per core)\n",
	       plain * 1e6 / n, n / plain);
	printf("bench_responder: prepared %.1f us CPU per initiation (%.0f/s per core), %.0f %% "
	       "less\n",
	       prep * 1e6 / n, n / prep, 100.0 * (plain - prep) / plain);
	wg_identity_clear(&ia);
	wg_identity_clear(&ib);
	return 0;
}
