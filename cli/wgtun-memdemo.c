/* wgtun-memdemo: two WireGuard peers in one process, no sockets, no TUN. Shows what the
 * sans-I/O tunnel does (handshake, transport data, keepalive, a rekey) on a virtual clock,
 * then measures encrypt+decrypt throughput through the two tunnels on the real clock.
 *
 * Usage: wgtun-memdemo [--bench-seconds N]   (N = 0..60, default 2; 0 skips the benchmark) */
#include "crypto/crypto.h"
#include "proto/identity.h"
#include "proto/messages.h"
#include "proto/tunnel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HEAD WG_DATA_HEADER_LEN
#define BUF 2048
#define DEMO_MTU 1420

typedef struct {
	const char *name;
	wg_identity id;
	wg_tunnel *t;
} demo_peer;

static wg_time_ns g_now; /* virtual monotonic clock of the demo */
static uint64_t g_wall0;

static int os_rng(void *ctx, void *out, size_t n)
{
	(void)ctx;
	if (crypto_random(out, n) != 0) {
		fprintf(stderr, "wgtun-memdemo: no randomness from the OS\n");
		exit(1);
	}
	return 0;
}

static uint64_t demo_wall(void *ctx)
{
	(void)ctx;
	return g_wall0 + g_now;
}

static wg_time_ns mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (wg_time_ns)ts.tv_sec * WG_NS_PER_SEC + (wg_time_ns)ts.tv_nsec;
}

static void stamp(void)
{
	printf("[%8.3fs] ", (double)g_now / 1e9);
}

static const char *describe(const uint8_t *m, size_t n)
{
	switch (wg_msg_classify(m, n)) {
	case WG_MSG_INITIATION:
		return "handshake initiation";
	case WG_MSG_RESPONSE:
		return "handshake response";
	case WG_MSG_COOKIE_REPLY:
		return "cookie reply";
	case WG_MSG_DATA:
		return n == WG_MSG_DATA_MIN_LEN ? "keepalive" : "transport data";
	default:
		return "garbage";
	}
}

static void show_sent(const demo_peer *from, const demo_peer *to, const uint8_t *m, size_t n)
{
	stamp();
	printf("%s -> %s: %s, %zu bytes", from->name, to->name, describe(m, n), n);
	if (wg_msg_classify(m, n) == WG_MSG_DATA)
		printf(" (receiver index %08x, counter %llu)", wg_le32_read(m + 4),
		       (unsigned long long)wg_le64_read(m + 8));
	else if (wg_msg_classify(m, n) != 0)
		printf(" (sender index %08x)", wg_le32_read(m + 4));
	printf("\n");
}

static void deliver(demo_peer *from, demo_peer *to, const uint8_t *dgram, size_t n);

/* Hands out what flush()/tick() owe, until DONE. */
/* A handshake ends after three messages (a keepalive gets no answer): that bounds the
 * drain/deliver recursion. */
/* NOLINTNEXTLINE(misc-no-recursion) */
static void drain(demo_peer *p, demo_peer *other, bool tick)
{
	uint8_t buf[HEAD + BUF];
	size_t n;

	for (;;) {
		wg_tun_result r = tick ? wg_tunnel_tick(p->t, g_now, buf + HEAD, BUF, &n)
				       : wg_tunnel_flush(p->t, g_now, buf + HEAD, BUF, &n);
		if (r != WG_TUN_WRITE_NETWORK)
			break;
		show_sent(p, other, buf + HEAD, n);
		deliver(p, other, buf + HEAD, n);
	}
}

/* A datagram of n bytes arrives at `to`: copied into a receive buffer with headroom, as a
 * device would, and decapsulated in place. */
/* NOLINTNEXTLINE(misc-no-recursion): see drain */
static void deliver(demo_peer *from, demo_peer *to, const uint8_t *dgram, size_t n)
{
	uint8_t buf[BUF];
	uint8_t *msg = buf;
	size_t out_len = 0;
	bool auth = false;
	wg_tun_result r;

	if (n > sizeof(buf))
		return;
	memcpy(msg, dgram, n);
	r = wg_tunnel_decapsulate(to->t, g_now, msg, n, msg + HEAD, sizeof(buf) - HEAD, &out_len,
				  &auth);
	switch (r) {
	case WG_TUN_WRITE_NETWORK:
		show_sent(to, from, msg + HEAD, out_len);
		deliver(to, from, msg + HEAD, out_len);
		break;
	case WG_TUN_WRITE_TUN_V4:
	case WG_TUN_WRITE_TUN_V6:
		stamp();
		printf("%s: decrypted -> IPv%d packet of %zu bytes to its TUN\n", to->name,
		       r == WG_TUN_WRITE_TUN_V4 ? 4 : 6, out_len);
		break;
	case WG_TUN_DONE:
		break;
	default:
		stamp();
		printf("%s: dropped (%d)\n", to->name, (int)r);
		break;
	}
	drain(to, from, false);
}

static void make_ping(uint8_t *p, size_t len, uint8_t src, uint8_t dst)
{
	memset(p, 0, len);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[8] = 64;
	p[9] = 1; /* ICMP */
	p[12] = 10;
	p[15] = src;
	p[16] = 10;
	p[19] = dst;
	p[20] = 8; /* echo request */
}

static void send_ip(demo_peer *from, demo_peer *to, size_t len)
{
	uint8_t buf[HEAD + BUF];
	size_t n = 0;
	wg_tun_result r;

	make_ping(buf + HEAD, len, from->name[0] == 'A' ? 1 : 2, from->name[0] == 'A' ? 2 : 1);
	stamp();
	printf("%s: IPv4 packet of %zu bytes from its TUN\n", from->name, len);
	r = wg_tunnel_encapsulate(from->t, g_now, buf + HEAD, len, buf, sizeof(buf), &n);
	if (r == WG_TUN_WRITE_NETWORK) {
		show_sent(from, to, buf, n);
		deliver(from, to, buf, n);
	} else if (r == WG_TUN_DONE) {
		stamp();
		printf("%s: no session yet: packet staged\n", from->name);
	}
}

/* Advances the virtual clock to `until`, running every timer on the way. */
static void advance(demo_peer *a, demo_peer *b, wg_time_ns until)
{
	for (;;) {
		wg_time_ns da = wg_tunnel_next_deadline(a->t), db = wg_tunnel_next_deadline(b->t);
		wg_time_ns d = da < db ? da : db;
		if (d > until)
			break;
		if (d > g_now)
			g_now = d;
		drain(a, b, true);
		drain(b, a, true);
	}
	g_now = until;
}

static wg_tunnel *make_tunnel(demo_peer *self, const demo_peer *peer)
{
	wg_tunnel_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.identity = &self->id;
	memcpy(cfg.peer_public_key, peer->id.public_key, 32);
	cfg.mtu = DEMO_MTU;
	cfg.rng = (wg_rng){os_rng, NULL};
	cfg.wall = (wg_wallclock){demo_wall, NULL};
	return wg_tunnel_new(&cfg, g_now);
}

static int setup_peer(demo_peer *p, const char *name)
{
	uint8_t priv[32];
	char b64[CRYPTO_KEY_B64_LEN + 1];
	int rc;

	p->name = name;
	if (crypto_random(priv, sizeof(priv)) != 0)
		return -1;
	rc = wg_identity_set(&p->id, priv);
	crypto_wipe(priv, sizeof(priv));
	if (rc != 0)
		return -1;
	crypto_key_to_base64(b64, p->id.public_key);
	printf("peer %s public key %s\n", name, b64);
	return 0;
}

static void print_stats(const demo_peer *p)
{
	wg_tunnel_stats s;
	wg_tunnel_get_stats(p->t, &s);
	printf("  %s: tx %llu bytes, rx %llu bytes, dropped %llu, session %s\n", p->name,
	       (unsigned long long)s.tx_bytes, (unsigned long long)s.rx_bytes,
	       (unsigned long long)s.dropped, s.has_session ? "yes" : "no");
}

/* Packets of DEMO_MTU bytes: A encrypts in place, B decrypts in place. */
static int bench(demo_peer *a, demo_peer *b, double seconds)
{
	static uint8_t buf[HEAD + BUF];
	size_t n, m;
	bool auth;
	unsigned long long packets = 0, bytes = 0;
	wg_time_ns start = mono_ns(), end = start + (wg_time_ns)(seconds * 1e9), t = start;

	while (t < end) {
		for (int i = 0; i < 256; i++) {
			make_ping(buf + HEAD, DEMO_MTU, 1, 2);
			if (wg_tunnel_encapsulate(a->t, g_now, buf + HEAD, DEMO_MTU, buf, sizeof(buf),
						  &n) != WG_TUN_WRITE_NETWORK ||
			    wg_tunnel_decapsulate(b->t, g_now, buf, n, buf + HEAD,
						  sizeof(buf) - HEAD, &m,
						  &auth) != WG_TUN_WRITE_TUN_V4 ||
			    m != DEMO_MTU) {
				fprintf(stderr, "wgtun-memdemo: benchmark packet lost\n");
				return -1;
			}
			packets++;
			bytes += DEMO_MTU;
		}
		t = mono_ns();
	}
	double secs = (double)(t - start) / 1e9;
	printf("throughput: %llu packets of %d bytes in %.2f s: %.1f MB/s (%.0f packets/s), "
	       "encrypt (A) + decrypt (B) on one core\n",
	       packets, DEMO_MTU, secs, (double)bytes / secs / 1e6, (double)packets / secs);
	return 0;
}

int main(int argc, char **argv)
{
	demo_peer a = {0}, b = {0};
	double bench_seconds = 2;
	int rc = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--bench-seconds") && i + 1 < argc) {
			char *end;
			bench_seconds = strtod(argv[++i], &end);
			if (*end || !(bench_seconds >= 0 && bench_seconds <= 60)) {
				fprintf(stderr, "wgtun-memdemo: --bench-seconds wants 0..60\n");
				return 2;
			}
		} else {
			fprintf(stderr, "usage: wgtun-memdemo [--bench-seconds N]\n");
			return 2;
		}
	}
	{
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		g_wall0 = (uint64_t)ts.tv_sec * WG_NS_PER_SEC + (uint64_t)ts.tv_nsec;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("wgtun in-memory demo: two peers, one process, virtual clock, MTU %d\n", DEMO_MTU);
	if (setup_peer(&a, "A") || setup_peer(&b, "B"))
		goto out;
	a.t = make_tunnel(&a, &b);
	b.t = make_tunnel(&b, &a);
	if (!a.t || !b.t)
		goto out;

	printf("\n-- first packet: handshake on demand, the packet waits and confirms the keys\n");
	send_ip(&a, &b, 84);
	printf("\n-- data both ways (56-byte pings: 84-byte IP packets, 128-byte messages)\n");
	send_ip(&b, &a, 84);
	send_ip(&a, &b, 1420);
	printf("\n-- quiet: B received data last without answering, so B owes a keepalive "
	       "10 s later\n");
	advance(&a, &b, g_now + WG_SEC(12));
	printf("\n-- two minutes later: A's session is 120 s old, its next packet triggers a "
	       "rekey\n");
	advance(&a, &b, WG_SEC(121));
	send_ip(&a, &b, 84);
	advance(&a, &b, g_now + WG_MS(1));
	send_ip(&a, &b, 84);
	printf("\nbyte counters (whole WireGuard messages, as `wg show transfer`):\n");
	print_stats(&a);
	print_stats(&b);
	printf("\n");
	if (bench_seconds > 0 && bench(&a, &b, bench_seconds) != 0)
		goto out;
	rc = 0;
out:
	wg_tunnel_free(a.t);
	wg_tunnel_free(b.t);
	wg_identity_clear(&a.id);
	wg_identity_clear(&b.id);
	return rc;
}
