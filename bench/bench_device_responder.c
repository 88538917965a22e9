/* The device's CPU per handshake initiation, end to end: a started device with BENCH_PEERS
 * configured peers receives valid initiations over loopback UDP and answers each with a
 * response. One initiation at a time (the next goes out 1 ms after the response came back),
 * so the device is never under load (no cookies) and no peer hits its 20 ms flood window;
 * the initiators are sans-I/O tunnels on a virtual clock. Timed: the device's loop thread
 * CPU time (receive, mac1, the handshake, send), not the sender.
 * Usage: bench_device_responder [initiations, default 1000] */
#define _GNU_SOURCE
#include "crypto/crypto.h"
#include "device/device_impl.h" /* the loop thread, for its CPU clock */
#include "tunpair.h"

#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BENCH_PEERS 32

static wg_time_ns g_now = WG_SEC(1);

static double cpu_s(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A fresh initiator for each message: force_handshake then always starts one. */
static int make_initiation(const wg_identity *self, const uint8_t responder[32], uint8_t *out,
			   size_t *len)
{
	wg_tunnel *t;
	wg_tun_result r;

	t = tunpair_tunnel(self, responder, (wg_rng){ tunpair_os_rng, NULL },
			   (wg_wallclock){ tunpair_wall, &g_now }, g_now);
	if (!t)
		return -1;
	r = wg_tunnel_force_handshake(t, g_now, out, 256, len);
	wg_tunnel_free(t);
	return r == WG_TUN_WRITE_NETWORK ? 0 : -1;
}

/* Waits up to 2 s for a handshake response on s. 0 = got one. */
static int await_response(int s)
{
	uint8_t buf[256];
	struct pollfd pf = { .fd = s, .events = POLLIN };

	while (poll(&pf, 1, 2000) == 1) {
		ssize_t n = recv(s, buf, sizeof(buf), 0);
		if (n == WG_MSG_RESPONSE_LEN && buf[0] == WG_MSG_RESPONSE)
			return 0;
	}
	return -1;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000, sv[2], s = -1, rc = 1;
	static wg_identity ib, ia[BENCH_PEERS];
	static wg_peer_change pcs[BENCH_PEERS];
	uint8_t k[32], msg[256];
	device_params dp;
	device *dev = NULL;
	wg_config_change c;
	wg_config_info info;
	struct sockaddr_in to;
	struct timespec gap = { 0, 1000000 };
	device_stats st;
	clockid_t clk;
	double c0, c1;

	if (n <= 0 || crypto_random(k, 32) != 0 || wg_identity_set(&ib, k) != 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return 1;
	memset(&dp, 0, sizeof(dp));
	dp.tun_fd = sv[0];
	dp.mtu = 1420;
	if (!(dev = device_new(&dp)))
		goto out;
	memset(&c, 0, sizeof(c));
	c.has_private_key = true;
	memcpy(c.private_key, k, 32);
	c.has_listen_port = true;
	for (int i = 0; i < BENCH_PEERS; i++) {
		if (crypto_random(k, 32) != 0 || wg_identity_set(&ia[i], k) != 0)
			goto out;
		memcpy(pcs[i].public_key, ia[i].public_key, 32);
	}
	crypto_wipe(k, sizeof(k));
	c.peers = pcs;
	c.n_peers = BENCH_PEERS;
	if (device_apply(dev, &c) != 0 || device_start(dev) != 0 ||
	    device_get_info(dev, &info) != 0)
		goto out;
	crypto_wipe(c.private_key, sizeof(c.private_key));
	memset(&to, 0, sizeof(to));
	to.sin_family = AF_INET;
	to.sin_port = htons(info.listen_port);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	wg_config_info_clear(&info);
	if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
	    pthread_getcpuclockid(dev->thread, &clk) != 0)
		goto out;
	c0 = cpu_s(clk);
	for (int i = 0; i < n; i++) {
		size_t len;
		if (i % BENCH_PEERS == 0)
			g_now += WG_SEC(1); /* later timestamps: no replay */
		if (make_initiation(&ia[i % BENCH_PEERS], ib.public_key, msg, &len) != 0 ||
		    sendto(s, msg, len, 0, (struct sockaddr *)&to, sizeof(to)) != (ssize_t)len ||
		    await_response(s) != 0) {
			fprintf(stderr, "bench_device_responder: initiation %d got no response\n", i);
			goto out;
		}
		nanosleep(&gap, NULL);
	}
	c1 = cpu_s(clk);
	device_get_stats(dev, &st);
	if (st.under_load_batches || st.rx_flood) {
		fprintf(stderr, "bench_device_responder: disturbed (under load %llu, flood %llu)\n",
			(unsigned long long)st.under_load_batches, (unsigned long long)st.rx_flood);
		goto out;
	}
	printf("bench_device_responder: %d initiations answered, %.1f us loop-thread CPU each "
	       "(%.0f/s per core)\n",
	       n, (c1 - c0) * 1e6 / n, n / (c1 - c0));
	rc = 0;
out:
	if (s >= 0)
		close(s);
	device_free(dev); /* owns sv[0], also when device_new failed */
	close(sv[1]);
	for (int i = 0; i < BENCH_PEERS; i++)
		wg_identity_clear(&ia[i]);
	wg_identity_clear(&ib);
	return rc;
}
