/* Session secrets leave memory when they die, on the paths the daemon battery cannot drive
 * in bounded time: key expiry (WG_ZERO_KEY_MATERIAL_TIME, 540 s without a new handshake) on
 * a virtual clock, and wgtun_tunnel_free.
 *
 * Two tunnels (public API) do a handshake and exchange data. The app's randomness callback
 * records every 32-byte value it hands out, masked, so the ephemeral private keys are known;
 * from them tests/support/noise_chain.h recomputes the whole Noise chain (DH results,
 * chaining keys, tau, handshake AEAD keys, the transport keys). Then this process's own
 * readable memory (/proc/self/maps + /proc/self/mem) is scanned for each secret, without
 * the test holding any of them in clear (tests/support/memscan.h); every clear temporary is
 * wiped at once.
 *   - live session: both transport keys found (the scanner's positive control), every
 *     handshake temporary and both ephemeral private keys already gone;
 *   - 541 s later (virtual), after the timers ran: the transport keys gone too;
 *   - a second session, then wgtun_tunnel_free of both: everything gone.
 * Not under valgrind (its own memory would be in the maps and the scan would take minutes):
 * there the test does the handshakes and checks the answers only.
 * SECRETS_WHERE=1 prints the mapping and address of every copy found (for diagnosis).
 * test_secrets_device.c does the same for the expiry in a running device. */
#include "memscan.h"
#include "noise_chain.h"
#include "test.h"
#include "wgtun.h"

#include <stdlib.h>
#include <sys/random.h>
#include <valgrind/valgrind.h>

#define CAP 2048
#define SEC 1000000000ULL
#define MAX_REC 64

static memscan_set set; /* the mask, and the needles of the current session */
static struct {
	uint8_t masked[MAX_REC][32];
	int n;
} rec;

static void mask_in_place(uint8_t v[32])
{
	memscan_mask(&set, v);
}

static int app_random(void *ctx, void *out, size_t n)
{
	(void)ctx;
	if (getrandom(out, n, 0) != (ssize_t)n)
		abort();
	if (n == 32 && rec.n < MAX_REC) {
		memcpy(rec.masked[rec.n], out, 32);
		mask_in_place(rec.masked[rec.n++]);
	}
	return 0;
}

enum { NEEDLES = CHAIN_N + 4 };

/* ---- two tunnels ---- */
typedef struct {
	wgtun_tunnel *i, *r;
	uint8_t init[CAP], resp[CAP];
	size_t init_len, resp_len;
	uint8_t psk[32], s_priv_i[32], s_pub_r[32]; /* masked */
} pair;

static uint64_t g_now = 10 * SEC;

static void pair_new(pair *p)
{
	wgtun_tunnel_config ci, cr;
	uint8_t pub_i[32];

	memset(p, 0, sizeof(*p));
	wgtun_tunnel_config_init(&ci);
	wgtun_tunnel_config_init(&cr);
	CHECK_EQ_INT(getrandom(ci.private_key, 32, 0), 32);
	CHECK_EQ_INT(getrandom(cr.private_key, 32, 0), 32);
	CHECK_EQ_INT(getrandom(ci.preshared_key, 32, 0), 32);
	memcpy(cr.preshared_key, ci.preshared_key, 32);
	CHECK_EQ_INT(wgtun_key_public(pub_i, ci.private_key), 0);
	CHECK_EQ_INT(wgtun_key_public(ci.peer_public_key, cr.private_key), 0);
	memcpy(cr.peer_public_key, pub_i, 32);
	ci.random = cr.random = app_random;
	memcpy(p->psk, ci.preshared_key, 32);
	memcpy(p->s_priv_i, ci.private_key, 32);
	memcpy(p->s_pub_r, ci.peer_public_key, 32);
	mask_in_place(p->psk);
	mask_in_place(p->s_priv_i);
	mask_in_place(p->s_pub_r); /* public, masked only to keep one code path */
	CHECK_EQ_INT(wgtun_tunnel_new(&ci, g_now, &p->i), 0);
	CHECK_EQ_INT(wgtun_tunnel_new(&cr, g_now, &p->r), 0);
	/* the configs are copied: wipe ours */
	memset(&ci, 0, sizeof(ci));
	memset(&cr, 0, sizeof(cr));
	__asm__ __volatile__("" ::"r"(&ci), "r"(&cr) : "memory");
}

static void derive_needles(memscan_set *s, void *arg);

/* Handshake and one packet each way; fills the needles for this session. */
static void pair_handshake(pair *p)
{
	uint8_t out[CAP], pkt[60];
	size_t n = 0;
	int r;

	CHECK_EQ_INT(wgtun_tunnel_force_handshake(p->i, g_now, p->init, CAP, &p->init_len),
		     WGTUN_TUNNEL_WRITE_NETWORK);
	CHECK_EQ_INT(wgtun_tunnel_read(p->r, g_now, p->init, p->init_len, p->resp, CAP,
				       &p->resp_len, NULL),
		     WGTUN_TUNNEL_WRITE_NETWORK);
	r = wgtun_tunnel_read(p->i, g_now, p->resp, p->resp_len, out, CAP, &n, NULL);
	/* the initiator's keepalive confirms the session to the responder */
	while (r == WGTUN_TUNNEL_WRITE_NETWORK) {
		uint8_t tun[CAP];
		size_t tl = 0;
		CHECK(wgtun_tunnel_read(p->r, g_now, out, n, tun, CAP, &tl, NULL) >= 0);
		r = wgtun_tunnel_flush(p->i, g_now, out, CAP, &n);
	}
	/* data both ways (an IPv4 header is all the tunnel looks at) */
	memset(pkt, 0, sizeof(pkt));
	pkt[0] = 0x45, pkt[3] = sizeof(pkt), pkt[8] = 64, pkt[9] = 17;
	for (int dir = 0; dir < 2; dir++) {
		wgtun_tunnel *a = dir ? p->r : p->i, *b = dir ? p->i : p->r;
		uint8_t tun[CAP];
		size_t tl = 0;
		CHECK_EQ_INT(wgtun_tunnel_write(a, g_now, pkt, sizeof(pkt), out, CAP, &n),
			     WGTUN_TUNNEL_WRITE_NETWORK);
		CHECK_EQ_INT(wgtun_tunnel_read(b, g_now, out, n, tun, CAP, &tl, NULL),
			     WGTUN_TUNNEL_WRITE_TUN_V4);
	}
	set.n = 0;
	CHECK_EQ_INT(memscan_derive_in_child(&set, derive_needles, p), 0);
	CHECK_EQ_INT(set.n, NEEDLES);
}

/* The derivation, run in a forked child so that no clear copy it makes (stack frames of
 * the crypto calls included) can end up in the memory this process scans; the child sends
 * the masked needles back through a pipe. */
static void derive_needles(memscan_set *s, void *arg)
{
	uint8_t e[32], pub[32], chain[CHAIN_N][32], psk[32], spriv[32], spub[32];
	const pair *p = arg;
	int found = -1;

	/* which recorded value is the initiator's ephemeral (its public key is in bytes 8..40) */
	for (int k = 0; k < rec.n && found < 0; k++) {
		memcpy(e, rec.masked[k], 32);
		mask_in_place(e);
		crypto_x25519_clamp(e);
		if (crypto_x25519_public(pub, e) == 0 && !memcmp(pub, p->init + 8, 32))
			found = k;
		crypto_wipe(e, 32);
	}
	if (found < 0)
		return;
	memcpy(e, rec.masked[found], 32);
	mask_in_place(e);
	memcpy(psk, p->psk, 32);
	mask_in_place(psk);
	memcpy(spriv, p->s_priv_i, 32);
	mask_in_place(spriv);
	memcpy(spub, p->s_pub_r, 32);
	mask_in_place(spub);
	if (noise_chain(chain, e, spriv, p->init + 8, spub, p->resp + 12, psk))
		return; /* no needles: the parent's count check fails */
	crypto_wipe(e, 32);
	crypto_wipe(psk, 32);
	crypto_wipe(spriv, 32);
	for (int k = 0; k < CHAIN_N; k++) {
		mask_in_place(chain[k]);
		memscan_add_masked(s, chain_names[k], chain[k]);
	}
	crypto_wipe(chain, sizeof(chain));
	/* the two ephemeral private keys as drawn and clamped: the initiator's, and the
	 * responder's (the recorded value whose public key is in the response, bytes 12..44) */
	for (int k = 0; k < rec.n; k++) {
		bool is_i = k == found, is_r = false;

		memcpy(e, rec.masked[k], 32);
		mask_in_place(e);
		crypto_x25519_clamp(e);
		if (!is_i)
			is_r = crypto_x25519_public(pub, e) == 0 && !memcmp(pub, p->resp + 12, 32);
		if (is_i || is_r) {
			mask_in_place(e);
			memscan_add_masked(s, is_i ? "initiator_ephemeral" : "responder_ephemeral",
					   rec.masked[k]);
			memscan_add_masked(s, is_i ? "initiator_ephemeral_clamped"
						   : "responder_ephemeral_clamped",
					   e);
		}
		crypto_wipe(e, 32);
	}
}

static int count_of(const int counts[MEMSCAN_MAX], const char *name)
{
	return memscan_count_of(&set, counts, name);
}

static bool is_transport(const char *name)
{
	return !strcmp(name, "initiator_send_key") || !strcmp(name, "initiator_recv_key");
}

static void run_ticks(pair *p)
{
	uint8_t out[CAP];
	size_t n;

	for (int k = 0; k < 16; k++) {
		int a = wgtun_tunnel_tick(p->i, g_now, out, CAP, &n);
		int b = wgtun_tunnel_tick(p->r, g_now, out, CAP, &n);
		if (a == WGTUN_TUNNEL_DONE && b == WGTUN_TUNNEL_DONE)
			break;
	}
}

int main(void)
{
	int counts[MEMSCAN_MAX];
	size_t scanned = 0;
	bool do_scan = !RUNNING_ON_VALGRIND;
	pair p;

	memscan_init(&set);
	if (!do_scan)
		printf("secrets: under valgrind: handshakes only, no memory scan\n");

	/* 1. expiry */
	pair_new(&p);
	pair_handshake(&p);
	if (do_scan) {
		memscan_run(&set, counts, &scanned);
		CHECK(scanned > 100000);
		for (int k = 0; k < set.n; k++) {
			if (is_transport(set.name[k]))
				CHECK_MSG(counts[k] >= 2, "live %s: %d copies, want >= 2 (one per side)",
					  set.name[k], counts[k]);
			else if (strcmp(set.name[k], "dh_ss") != 0) /* cached per peer */
				CHECK_MSG(counts[k] == 0, "%s still in memory after the handshake (%d)",
					  set.name[k], counts[k]);
		}
		printf("secrets: live: send %d recv %d dh_ss %d copies, %zu bytes scanned\n",
		       count_of(counts, "initiator_send_key"), count_of(counts, "initiator_recv_key"),
		       count_of(counts, "dh_ss"), scanned);
	}
	g_now += 541 * SEC;
	run_ticks(&p);
	if (do_scan) {
		memscan_run(&set, counts, &scanned);
		for (int k = 0; k < set.n; k++)
			if (strcmp(set.name[k], "dh_ss") != 0)
				CHECK_MSG(counts[k] == 0, "%s still in memory 541 s after the handshake (%d)",
					  set.name[k], counts[k]);
		printf("secrets: after 541 s: transport keys %d/%d copies\n",
		       count_of(counts, "initiator_send_key"), count_of(counts, "initiator_recv_key"));
	}
	{ /* no data message can be made now: the old keys are really gone, not just hidden */
		uint8_t pkt[60] = {0x45, 0, 0, 60}, out[CAP];
		size_t n = 0;
		int r;
		pkt[8] = 64, pkt[9] = 17;
		r = wgtun_tunnel_write(p.i, g_now, pkt, sizeof(pkt), out, CAP, &n);
		CHECK(r == WGTUN_TUNNEL_DONE || r == WGTUN_TUNNEL_WRITE_NETWORK);
		CHECK(r != WGTUN_TUNNEL_WRITE_NETWORK || out[0] == 1); /* queued, or an initiation */
	}
	wgtun_tunnel_free(p.i);
	wgtun_tunnel_free(p.r);

	/* 2. free with a live session */
	g_now += 10 * SEC;
	pair_new(&p);
	pair_handshake(&p);
	if (do_scan) {
		memscan_run(&set, counts, &scanned);
		CHECK(count_of(counts, "initiator_send_key") >= 2); /* control */
		CHECK(count_of(counts, "initiator_recv_key") >= 2);
	}
	wgtun_tunnel_free(p.i);
	wgtun_tunnel_free(p.r);
	if (do_scan) {
		memscan_run(&set, counts, &scanned);
		for (int k = 0; k < set.n; k++)
			CHECK_MSG(counts[k] == 0, "%s still in memory after wgtun_tunnel_free (%d)",
				  set.name[k], counts[k]);
		printf("secrets: after free: all %d secrets 0 copies\n", set.n);
	}
	return test_finish("secrets");
}
