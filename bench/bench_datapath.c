/* The user-space half of the bulk TCP data path, both ends on one thread, on a fixed
 * workload: a 64 KiB TCP/IPv4 TSO super-packet (what one TUN read yields during a bulk
 * transfer) is cut into MTU-sized segments (offload_split), each encapsulated and sealed in
 * its slot (as the device does: encapsulate_deferred + seal_run), then opened at the other
 * end (decapsulate_prepare / open_run / finish) and coalesced back for the TUN write
 * (offload_gro). No system calls, no threads: the figure is what the loop and the crypto
 * cost per packet without the kernel. Checks that the coalesced packet is the original's
 * payload, so a broken step cannot look fast.
 *
 * Usage: bench_datapath [rounds, default 2000]
 * Prints ns per packet (thread CPU time). For a load-independent figure count instructions:
 *     valgrind --tool=callgrind --toggle-collect=run_round bench_datapath 200
 * and divide the Ir total by the packets it prints. */
#include "crypto/crypto.h"
#include "io/linux/offload.h"
#include "proto/identity.h"
#include "proto/messages.h"
#include "proto/tunnel.h"
#include "tunpair.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MSS 1368             /* TCP payload per segment at tunnel MTU 1420 (IPv4, timestamps) */
#define TCPH 32              /* TCP header with the timestamp option */
#define SUPER (65535 - 20 - TCPH) / MSS * MSS /* payload of one super-packet */
#define NSEG ((SUPER + MSS - 1) / MSS)
#define SLOT (WG_DATA_HEADER_LEN + 1500 + 64)

static wg_time_ns g_now = WG_SEC(1);
static uint64_t g_rng_state = 0x9e3779b97f4a7c15ull;

static int rng_fill(void *ctx, void *out, size_t n)
{
	uint8_t *p = out;

	(void)ctx;
	for (size_t i = 0; i < n; i++) {
		g_rng_state = g_rng_state * 6364136223846793005ull + 1442695040888963407ull;
		p[i] = (uint8_t)(g_rng_state >> 56);
	}
	return 0;
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_datapath: %s\n", what);
	exit(1);
}

static wg_identity id_a, id_b;
static wg_tunnel *ta, *tb;
static crypto_aead_worker *wk;
static uint8_t super[OFFLOAD_VNET_HDR_LEN + 20 + TCPH + SUPER];
static size_t super_len;
static uint8_t slots[NSEG][SLOT];
static size_t slot_len[NSEG];
static wg_tunnel_seal seal[NSEG];
static wg_tunnel_open open_job[NSEG];
static offload_gro gro;
static uint32_t seq0 = 1000;

static wg_tunnel *make(const wg_identity *self, const wg_identity *other)
{
	return tunpair_tunnel(self, other->public_key, (wg_rng){ rng_fill, NULL },
			      (wg_wallclock){ tunpair_wall, &g_now }, g_now);
}

/* A's first packet starts the handshake; B answers; A then has a session. */
static void handshake(void)
{
	static uint8_t a[2048], b[2048], pkt[64];
	size_t la = 0, lb = 0, n = 0;
	bool auth;

	memset(pkt, 0, sizeof(pkt));
	pkt[0] = 0x45;
	pkt[3] = sizeof(pkt);
	if (wg_tunnel_encapsulate(ta, g_now, pkt, sizeof(pkt), a, sizeof(a), &la) !=
	    WG_TUN_WRITE_NETWORK)
		die("no initiation");
	if (wg_tunnel_decapsulate(tb, g_now, a, la, b, sizeof(b), &lb, &auth) != WG_TUN_WRITE_NETWORK)
		die("no response");
	if (wg_tunnel_decapsulate(ta, g_now, b, lb, a, sizeof(a), &n, &auth) < 0)
		die("response refused");
	/* The staged packet goes out (and confirms the keypair at B). */
	while (wg_tunnel_flush(ta, g_now, a, sizeof(a), &la) == WG_TUN_WRITE_NETWORK)
		(void)wg_tunnel_decapsulate(tb, g_now, a, la, b, sizeof(b), &lb, &auth);
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* vnet header (GSO TCPv4, NEEDS_CSUM) + IPv4 + TCP with timestamps + payload. */
static void build_super(void)
{
	uint8_t *ip = super + OFFLOAD_VNET_HDR_LEN, *tcp = ip + 20;
	offload_vnet v = { .flags = OFFLOAD_F_NEEDS_CSUM, .gso_type = OFFLOAD_GSO_TCPV4,
			   .hdr_len = 20 + TCPH, .gso_size = MSS, .csum_start = 20,
			   .csum_offset = 16 };

	memset(super, 0, sizeof(super));
	offload_vnet_put(&v, super);
	ip[0] = 0x45;
	put16(ip + 2, 20 + TCPH + SUPER);
	ip[6] = 0x40; /* DF */
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, "\x0a\xf1\x00\x01\x0a\xf1\x00\x02", 8);
	put16(tcp, 40000);
	put16(tcp + 2, 5201);
	tcp[8] = 0x12;
	tcp[12] = (TCPH / 4) << 4;
	tcp[13] = 0x18; /* ACK PSH */
	put16(tcp + 14, 512);
	memcpy(tcp + 20, "\x01\x01\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x02", 12);
	for (size_t i = 0; i < SUPER; i++)
		tcp[TCPH + i] = (uint8_t)(i * 7 + 3);
	super_len = sizeof(super);
}

/* One super-packet through both ends. Returns the packets moved. */
__attribute__((noinline)) static unsigned run_round(void)
{
	offload_vnet h;
	offload_split sp;
	uint8_t *ip = super + OFFLOAD_VNET_HDR_LEN;
	unsigned ns, moved = 0;

	/* Each round a fresh sequence range, so B's coalescer sees one flow in order. */
	ip[20 + 4] = (uint8_t)(seq0 >> 24);
	ip[20 + 5] = (uint8_t)(seq0 >> 16);
	ip[20 + 6] = (uint8_t)(seq0 >> 8);
	ip[20 + 7] = (uint8_t)seq0;
	seq0 += SUPER;
	offload_vnet_parse(&h, super);
	if (offload_split_init(&sp, &h, ip, super_len - OFFLOAD_VNET_HDR_LEN) != NSEG)
		die("split");
	ns = sp.nseg;
	for (unsigned k = 0; k < ns; k++) {
		uint8_t *s = slots[k];
		size_t len = offload_split_segment(&sp, k, s + WG_DATA_HEADER_LEN, SLOT - 64);
		if (!len || wg_tunnel_encapsulate_deferred(ta, g_now, s + WG_DATA_HEADER_LEN, len, s,
							   SLOT, &slot_len[k], &seal[k]) !=
				    WG_TUN_SEAL_LATER)
			die("encapsulate");
	}
	for (unsigned k = 0; k < ns; k++)
		if (!wg_tunnel_seal_run(&seal[k], wk, slots[k]))
			die("seal");
	crypto_aead_worker_forget(wk);
	for (unsigned k = 0; k < ns; k++)
		if (wg_tunnel_decapsulate_prepare(tb, g_now, slots[k], slot_len[k], &open_job[k]) !=
		    WG_TUN_OPEN_LATER)
			die("prepare");
	for (unsigned k = 0; k < ns; k++)
		(void)wg_tunnel_open_run(&open_job[k], wk, slots[k], slot_len[k]);
	crypto_aead_worker_forget(wk);
	offload_gro_reset(&gro);
	for (unsigned k = 0; k < ns; k++) {
		size_t out_len = 0;
		bool auth = false;
		wg_tun_result r = wg_tunnel_decapsulate_finish(tb, g_now, slots[k], slot_len[k],
							       &open_job[k], &out_len, &auth);
		if (r != WG_TUN_WRITE_TUN_V4 ||
		    !offload_gro_add(&gro, slots[k] + WG_DATA_HEADER_LEN, out_len))
			die("open");
		moved++;
	}
	offload_gro_finish(&gro);
	return moved;
}

/* The coalesced write must carry the super-packet's payload, in one piece. */
static void verify(void)
{
	struct iovec iov[2 + OFFLOAD_GRO_MAX_SEGS];
	const uint8_t *pay = super + OFFLOAD_VNET_HDR_LEN + 20 + TCPH;
	size_t off = 0;
	unsigned n;

	if (offload_gro_count(&gro) != 1)
		die("not coalesced into one write");
	n = offload_gro_iov(&gro, 0, iov);
	for (unsigned i = 1; i < n; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t l = iov[i].iov_len, skip = i == 1 ? 20 + TCPH : 0;
		if (memcmp(p + skip, pay + off, l - skip) != 0)
			die("payload differs");
		off += l - skip;
	}
	if (off != SUPER)
		die("payload length differs");
}

int main(int argc, char **argv)
{
	unsigned rounds = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 2000, pkts = 0;
	uint8_t priv[32];
	double t0, t;

	if (rounds == 0)
		rounds = 1;
	rng_fill(NULL, priv, 32);
	if (wg_identity_set(&id_a, priv) != 0)
		die("identity");
	rng_fill(NULL, priv, 32);
	if (wg_identity_set(&id_b, priv) != 0)
		die("identity");
	ta = make(&id_a, &id_b);
	tb = make(&id_b, &id_a);
	wk = crypto_aead_worker_new();
	if (!ta || !tb || !wk)
		die("setup");
	handshake();
	build_super();
	offload_gro_init(&gro, true, false);
	(void)run_round(); /* warm-up */
	verify();
	t0 = cpu_s();
	for (unsigned r = 0; r < rounds; r++)
		pkts += run_round();
	t = cpu_s() - t0;
	verify();
	printf("bench_datapath: %u rounds, %u packets of %u B payload (%d per super-packet)\n",
	       rounds, pkts, MSS, NSEG);
	printf("  %.1f ns per packet (split + seal + open + coalesce, both ends, one thread)\n",
	       t * 1e9 / pkts);
	wg_tunnel_free(ta);
	wg_tunnel_free(tb);
	crypto_aead_worker_free(wk);
	wg_identity_clear(&id_a);
	wg_identity_clear(&id_b);
	return 0;
}
