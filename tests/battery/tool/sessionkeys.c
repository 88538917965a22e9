/* battery_tool sessionkeys: a legitimate peer that tells which session secrets the daemon holds.
 * A wgtun_tunnel (the public sans-I/O API) as initiator with our static key and the PSK does a
 * handshake with the daemon at DST, then sends an ICMP echo from INNER_SRC to INNER_DST
 * through it and waits for the echo reply (both directions work). Its randomness callback
 * records what it hands out, so the ephemeral private key is known (the one whose public key
 * is in the initiation); with it, the static keys, the PSK and the responder's ephemeral
 * public key from the response, the Noise IKpsk2 chain is recomputed here with the crypto
 * layer, exactly as both sides compute it. Each secret the daemon computed is printed as
 * "name hex": the transport keys (the daemon's send and receive keys), the four DH results,
 * the handshake's AEAD keys and chaining keys. The receive key is checked by decrypting the
 * daemon's reply with it. */
#define _GNU_SOURCE
#include "tool.h"
#include "crypto/crypto.h"
#include "noise_chain.h"
#include "proto/messages.h"
#include "wgtun.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define SK_MAX_RANDOM 64
static struct {
	uint8_t buf[SK_MAX_RANDOM][32];
	size_t n;
} sk_rec;

static int sk_random(void *ctx, void *out, size_t n)
{
	(void)ctx;
	if (getrandom(out, n, 0) != (ssize_t)n)
		abort();
	if (n == 32 && sk_rec.n < SK_MAX_RANDOM)
		memcpy(sk_rec.buf[sk_rec.n++], out, 32);
	return 0;
}

static int sk_recv(int fd, uint8_t *buf, size_t cap, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n;

	if (poll(&p, 1, ms) <= 0)
		return -1;
	n = recv(fd, buf, cap, 0);
	return n < 0 ? -1 : (int)n;
}

static void sk_print(const char *name, const uint8_t k[32])
{
	char hex[65];

	hex32(hex, k);
	printf("%s %s\n", name, hex);
}

static uint16_t sk_csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

int cmd_sessionkeys(char **av)
{
	wgtun_tunnel_config cfg;
	wgtun_tunnel *t = NULL;
	uint8_t init[256], resp[256], out[2048], pkt[84], e_priv[32], e_pub_i[32], e_pub_r[32];
	uint8_t chain[CHAIN_N][32], tmp[32];
	struct sockaddr_in dst = {.sin_family = AF_INET};
	size_t olen = 0, ilen = 0;
	int fd, n = -1, r, found = 0;
	uint64_t now;

	wgtun_tunnel_config_init(&cfg);
	if (crypto_key_from_hex(cfg.private_key, av[0], strlen(av[0])) ||
	    crypto_key_from_hex(cfg.peer_public_key, av[1], strlen(av[1])) ||
	    crypto_key_from_hex(cfg.preshared_key, av[2], strlen(av[2])) ||
	    inet_pton(AF_INET, av[3], &dst.sin_addr) != 1) {
		fprintf(stderr, "sessionkeys: bad key or address\n");
		return 2;
	}
	dst.sin_port = htons((uint16_t)atoi(av[4]));
	cfg.random = sk_random;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 ||
	    wgtun_tunnel_new(&cfg, wgtun_monotonic_ns(), &t) < 0) {
		perror("sessionkeys: setup");
		return 1;
	}
	/* handshake: up to 3 tries (the first initiation may meet a cold ARP cache) */
	for (int tries = 0; tries < 3 && n < 0; tries++) {
		now = wgtun_monotonic_ns() + (uint64_t)tries * 6000000000ULL; /* past the 5 s rule */
		if (wgtun_tunnel_force_handshake(t, now, init, sizeof(init), &ilen) !=
		    WGTUN_TUNNEL_WRITE_NETWORK)
			continue;
		if (send(fd, init, ilen, 0) < 0)
			continue;
		n = sk_recv(fd, resp, sizeof(resp), 3000);
		if (n > 0 && resp[0] != WG_MSG_RESPONSE)
			n = -1;
	}
	if (n < 0) {
		fprintf(stderr, "sessionkeys: no handshake response\n");
		return 1;
	}
	r = wgtun_tunnel_read(t, now, resp, (size_t)n, out, sizeof(out), &olen, NULL);
	while (r == WGTUN_TUNNEL_WRITE_NETWORK) {
		if (send(fd, out, olen, 0) < 0)
			break;
		r = wgtun_tunnel_flush(t, now, out, sizeof(out), &olen);
	}
	/* an ICMP echo request INNER_SRC -> INNER_DST */
	memset(pkt, 0, sizeof(pkt));
	pkt[0] = 0x45;
	pkt[3] = sizeof(pkt);
	pkt[8] = 64;
	pkt[9] = 1;
	if (inet_pton(AF_INET, av[5], pkt + 12) != 1 || inet_pton(AF_INET, av[6], pkt + 16) != 1)
		return 2;
	{
		uint16_t c = sk_csum(pkt, 20);
		pkt[10] = (uint8_t)(c >> 8), pkt[11] = (uint8_t)c;
	}
	pkt[20] = 8;
	pkt[24] = 0x77;
	{
		uint16_t c = sk_csum(pkt + 20, sizeof(pkt) - 20);
		pkt[22] = (uint8_t)(c >> 8), pkt[23] = (uint8_t)c;
	}
	if (wgtun_tunnel_write(t, now, pkt, sizeof(pkt), out, sizeof(out), &olen) !=
		    WGTUN_TUNNEL_WRITE_NETWORK ||
	    send(fd, out, olen, 0) < 0) {
		fprintf(stderr, "sessionkeys: could not send the echo request\n");
		return 1;
	}
	for (int i = 0; i < 20; i++) {
		uint8_t reply[2048];
		n = sk_recv(fd, reply, sizeof(reply), 3000);
		if (n < 0)
			break;
		if (reply[0] != WG_MSG_DATA || n < 32)
			continue;
		r = wgtun_tunnel_read(t, now, reply, (size_t)n, out, sizeof(out), &olen, NULL);
		if (r == WGTUN_TUNNEL_WRITE_TUN_V4 && olen >= 28 && out[9] == 1 && out[20] == 0) {
			found = n;
			memcpy(out, reply, (size_t)n);
			break;
		}
	}
	if (!found) {
		fprintf(stderr, "sessionkeys: no echo reply through the tunnel\n");
		return 1;
	}
	/* the ephemeral private key: the recorded 32 random bytes whose public key is in the
	 * initiation (sender index 4..8, ephemeral 8..40) */
	memcpy(e_pub_i, init + 8, 32);
	memcpy(e_pub_r, resp + 12, 32);
	r = -1;
	for (size_t i = 0; i < sk_rec.n && r < 0; i++) {
		memcpy(e_priv, sk_rec.buf[i], 32);
		crypto_x25519_clamp(e_priv);
		if (crypto_x25519_public(tmp, e_priv) == 0 && !memcmp(tmp, e_pub_i, 32))
			r = 0;
	}
	if (r < 0) {
		fprintf(stderr, "sessionkeys: ephemeral key not among the recorded random bytes\n");
		return 1;
	}
	if (noise_chain(chain, e_priv, cfg.private_key, e_pub_i, cfg.peer_public_key, e_pub_r,
			cfg.preshared_key))
		return 1;
	for (int i = 0; i < CHAIN_I_SEND; i++)
		sk_print(chain_names[i], chain[i]);
	/* the daemon's view: it sends with our receive key */
	sk_print("daemon_send_key", chain[CHAIN_I_RECV]);
	sk_print("daemon_recv_key", chain[CHAIN_I_SEND]);
	{
		uint64_t ctr = 0;
		uint8_t plain[2048];
		for (int b = 7; b >= 0; b--)
			ctr = ctr << 8 | out[8 + b];
		if (crypto_aead_open(plain, out + 16, (size_t)found - 16, NULL, 0, ctr, chain[CHAIN_I_RECV]) != 0) {
			fprintf(stderr, "sessionkeys: derived receive key does not open the reply\n");
			return 1;
		}
	}
	wgtun_tunnel_free(t);
	close(fd);
	crypto_wipe(e_priv, 32);
	return 0;
}
