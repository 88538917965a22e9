/* Two devices over loopback UDP (tests/support/devnode.h), a fresh pair per test: an endpoint
 * change resends an initiation in flight, bursts both ways arrive whole and in order whatever
 * the crypto worker count, and busy polling is bounded and ends when the traffic does. */
#define _GNU_SOURCE
#include "devnode.h"
#include "test.h"

#include "crypto/crypto.h"
#include "device/device.h"
#include "device/device_impl.h" /* parallel runs of the crypto pool */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* `wg set a peer B endpoint ...` while a's initiation to B's old address is in flight: the
 * initiation is sent again to the new address right away (TIMERS_RESEND_GAP after the first),
 * not REKEY_TIMEOUT later. The old address is a socket that never answers. */
static void test_endpoint_change_resends(void)
{
	node a, b, b_at_hole;
	struct sockaddr_in h;
	socklen_t hl = sizeof(h);
	struct pollfd pf;
	uint8_t pkt[256], got[2048];
	wg_peer_change pc;
	wg_config_change c;
	wg_time_ns seen, done;
	size_t len;
	long n;
	int hole = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	CHECK(hole >= 0);
	memset(&h, 0, sizeof(h));
	h.sin_family = AF_INET;
	h.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(hole, (struct sockaddr *)&h, sizeof(h)) == 0);
	CHECK(getsockname(hole, (struct sockaddr *)&h, &hl) == 0);
	devnode_pair_start(&a, &b, 0);
	b_at_hole = b;
	b_at_hole.port = ntohs(h.sin_port);
	CHECK_EQ_INT(devnode_add_peer(&a, &b_at_hole, "10.6.0.2", "fd06::2"), 0);
	CHECK_EQ_INT(devnode_add_peer(&b, &a, "10.6.0.1", "fd06::1"), 0);
	len = devnode_make_ping4(pkt, "10.6.0.1", "10.6.0.2", 1);
	CHECK(send(a.app, pkt, len, 0) == (ssize_t)len);
	pf = (struct pollfd){.fd = hole, .events = POLLIN};
	CHECK(poll(&pf, 1, 10000) == 1);
	seen = io_now();
	n = recv(hole, got, sizeof(got), MSG_DONTWAIT);
	CHECK_MSG(n == WG_MSG_INITIATION_LEN && got[0] == WG_MSG_INITIATION,
		  "the old address got %ld bytes", n);
	memset(&c, 0, sizeof(c));
	memset(&pc, 0, sizeof(pc));
	memcpy(pc.public_key, b.pub, 32);
	pc.has_endpoint = true;
	devnode_loopback(&pc.endpoint, b.port);
	c.peers = &pc;
	c.n_peers = 1;
	CHECK_EQ_INT(device_apply(a.dev, &c), 0);
	/* the staged ping arrives once the resent initiation's handshake is done */
	n = devnode_app_recv(&b, got, sizeof(got), 10000);
	done = io_now();
	CHECK_MSG(n == (long)len && !memcmp(got, pkt, len), "the ping did not arrive (%ld)", n);
	/* without the resend: >= REKEY_TIMEOUT after the first initiation */
	CHECK_MSG(done - seen < WG_REKEY_TIMEOUT - WG_SEC(1), "through %.2f s after the first initiation",
		  (double)(done - seen) / 1e9);
	CHECK_EQ_INT(recv(hole, got, sizeof(got), MSG_DONTWAIT), -1); /* nothing more went there */
	close(hole);
	node_free(&a);
	node_free(&b);
}

/* Bursts both ways at once through two devices with `workers` crypto threads: every packet
 * arrives, byte for byte, in the order it was sent (per peer), whatever the worker count. */
static void test_parallel_order(unsigned workers)
{
	enum { BURSTS = 40, BURST = 64 };
	node a, b;
	node *from[2] = {&a, &b}, *to[2] = {&b, &a};
	static const char *const addr[2] = {"10.9.0.1", "10.9.0.2"};
	uint32_t next_tx[2] = {0, 0}, next_rx[2] = {0, 0};
	unsigned lost = 0, bad = 0;
	uint8_t pkt[1500], got[2048];

	devnode_pair_start(&a, &b, workers);
	CHECK_EQ_INT(devnode_add_peer(&a, &b, "10.9.0.2", "fd09::2"), 0);
	CHECK_EQ_INT(devnode_add_peer(&b, &a, "10.9.0.1", "fd09::1"), 0);
	devnode_make_seq4(pkt, 100, addr[0], addr[1], 9, 0);
	CHECK_MSG(devnode_deliver(&a, &b, pkt, 100), "handshake");
	devnode_app_drain(&a);
	devnode_app_drain(&b);
	/* A lost packet ends the bursts: one timeout, not one per burst. */
	for (int burst = 0; burst < BURSTS && lost == 0; burst++) {
		for (int d = 0; d < 2; d++)
			for (int k = 0; k < BURST; k++) {
				uint32_t seq = next_tx[d]++;
				size_t len = 600 + (seq * 53u) % 820u;
				devnode_make_seq4(pkt, len, addr[d], addr[1 - d], (uint8_t)d, seq);
				CHECK(send(from[d]->app, pkt, len, 0) == (ssize_t)len);
			}
		for (int d = 0; d < 2; d++)
			while (next_rx[d] < next_tx[d]) {
				long n = devnode_app_recv(to[d], got, sizeof(got), devnode_wait_ms(2000));
				uint32_t seq;
				size_t len;
				if (n < 0) {
					lost += next_tx[d] - next_rx[d];
					next_rx[d] = next_tx[d];
					break;
				}
				memcpy(&seq, got + 21, 4);
				len = 600 + (next_rx[d] * 53u) % 820u;
				devnode_make_seq4(pkt, len, addr[d], addr[1 - d], (uint8_t)d, next_rx[d]);
				if ((size_t)n != len || memcmp(got, pkt, len) != 0 || got[20] != d) {
					bad++;
					if (bad < 5)
						fprintf(stderr, "dir %d: expected seq %u, got %u (%ld bytes)\n",
							d, next_rx[d], seq, n);
				}
				next_rx[d]++;
			}
	}
	CHECK_MSG(lost == 0 && bad == 0, "workers %u: %u lost, %u out of order or altered", workers,
		  lost, bad);
	if (workers > 1)
		CHECK_MSG(__atomic_load_n(&a.dev->crypto.parallel_runs, __ATOMIC_RELAXED) +
				  __atomic_load_n(&b.dev->crypto.parallel_runs, __ATOMIC_RELAXED) >
			  0,
			  "workers %u: no batch went parallel", workers);
	else
		CHECK(a.dev->crypto.parallel_runs == 0 && b.dev->crypto.parallel_runs == 0);
	node_free(&a);
	node_free(&b);
}

/* Busy poll: bounded; on, after a request of ours, a packet that comes within the window is
 * taken without a sleep; a device that only receives never polls; once the traffic stops, the
 * spin ends and the loop sleeps (no polls, no rounds). */
static void test_busy_poll(void)
{
	node a, b;
	device_params p;
	device_stats sa1, sb1, sa2, sb2;
	uint8_t pkt[256], buf[2048];
	uint64_t hits = 0;
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	memset(&p, 0, sizeof(p));
	p.tun_fd = sv[0];
	p.busy_poll_us = DEVICE_BUSY_POLL_MAX_US + 1;
	errno = 0;
	CHECK(device_new(&p) == NULL && errno == EINVAL);
	CHECK(fcntl(sv[0], F_GETFD) == -1); /* taken over and closed */
	close(sv[1]);

	devnode_pair_start_opts(&a, &b, 1, DEVICE_BUSY_POLL_MAX_US);
	CHECK_EQ_INT(devnode_add_peer(&a, &b, "10.8.0.2", "fd08::2"), 0);
	CHECK_EQ_INT(devnode_add_peer(&b, &a, "10.8.0.1", "fd08::1"), 0);
	CHECK_MSG(devnode_deliver(&a, &b, pkt, devnode_make_ping4(pkt, "10.8.0.1", "10.8.0.2", 0)), "handshake");
	devnode_app_drain(&a);
	devnode_app_drain(&b);
	/* a's loop polls after a round that sent a packet read from its TUN (a request of ours):
	 * a second packet written to a's TUN a little later is taken by a poll, without a sleep.
	 * The delay cycles so that some attempts land in the window (after a's loop has handled
	 * the first, before the 1 ms are over) however slow the machine (sanitizers, load). */
	for (uint16_t i = 1; i <= 300 && hits == 0; i++) {
		static const unsigned delay_us[] = { 50, 100, 200, 400, 700 };
		size_t len = devnode_make_ping4(pkt, "10.8.0.1", "10.8.0.2", i);
		CHECK(send(a.app, pkt, len, 0) == (ssize_t)len);
		usleep(delay_us[i % 5]);
		CHECK(send(a.app, pkt, len, 0) == (ssize_t)len);
		CHECK(devnode_app_recv(&b, buf, sizeof(buf), devnode_wait_ms(2000)) == (long)len);
		CHECK(devnode_app_recv(&b, buf, sizeof(buf), devnode_wait_ms(2000)) == (long)len);
		device_get_stats(a.dev, &sa1);
		device_get_stats(b.dev, &sb1);
		hits = sa1.busy_poll_hits;
		usleep(2000); /* past the window: the next attempt starts from a sleeping loop */
	}
	CHECK_MSG(hits > 0, "no packet was taken by a busy poll");
	CHECK(sa1.busy_polls > 0);
	/* b only received (wrote to its TUN, read nothing from it): it never polled. */
	CHECK_EQ_U64(sb1.busy_polls, 0);
	/* Traffic over: the window (1 ms) ends by the clock; then nothing runs. 100 ms of slack
	 * for a loaded machine, then 400 ms without a poll or a loop round. */
	usleep(100 * 1000);
	device_get_stats(a.dev, &sa1);
	device_get_stats(b.dev, &sb1);
	usleep(400 * 1000);
	device_get_stats(a.dev, &sa2);
	device_get_stats(b.dev, &sb2);
	CHECK_EQ_U64(sa2.busy_polls, sa1.busy_polls);
	CHECK_EQ_U64(sb2.busy_polls, sb1.busy_polls);
	CHECK_EQ_U64(sa2.loop_wakeups, sa1.loop_wakeups);
	CHECK_EQ_U64(sb2.loop_wakeups, sb1.loop_wakeups);
	node_free(&a);
	node_free(&b);
}

int main(void)
{
	test_endpoint_change_resends();
	test_parallel_order(1);
	test_parallel_order(2);
	test_parallel_order(4);
	test_busy_poll();
	return test_finish("device_datapath");
}
