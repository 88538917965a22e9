/* Poll storm (reliability.md B4, battery item C3; Mullvad's "calling get_config too
 * frequently could cause wggo to crash", mullvad/mullvadvpn-app#9724): two threads read the
 * configuration and statistics of a device as fast as they can (what `wg show` / a
 * connectivity monitor does through the UAPI get: device_get_info + uapi_format_get, and the
 * stats) while packets go both ways through it and its crypto workers. Asserts: thousands of
 * polls (>= 1 kHz), every poll complete and consistent (one peer, its key, counters that never
 * go back), every packet delivered intact. The races it is for are TSan's to report (CI runs
 * this under TSan). */
#include "devnode.h"
#include "test.h"
#include "uapi/uapi.h"

#include <pthread.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

typedef struct {
	node *n;
	const uint8_t *peer_pub;
	volatile int stop; /* written by main, read by the poller (atomics below) */
	long polls, bad;
	uint64_t last_tx, last_rx;
} poller;

static void *poll_loop(void *arg)
{
	poller *p = arg;

	while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
		wg_config_info info;
		device_stats st;
		char *text = NULL;
		size_t len = 0;

		if (device_get_info(p->n->dev, &info) != 0) {
			p->bad++;
			continue;
		}
		if (info.n_peers != 1 || memcmp(info.peers[0].public_key, p->peer_pub, 32) != 0 ||
		    info.peers[0].tx_bytes < p->last_tx || info.peers[0].rx_bytes < p->last_rx)
			p->bad++;
		if (info.n_peers == 1) {
			p->last_tx = info.peers[0].tx_bytes;
			p->last_rx = info.peers[0].rx_bytes;
		}
		if (uapi_format_get(&info, &text, &len) != 0 || len == 0 ||
		    strstr(text, "tx_bytes=") == NULL)
			p->bad++;
		free(text);
		wg_config_info_clear(&info);
		device_get_stats(p->n->dev, &st);
		p->polls++;
		if (RUNNING_ON_VALGRIND) /* it runs one thread at a time: leave the device some */
			usleep(2000);
	}
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
	node a, b;
	poller pa = {0}, pb = {0};
	pthread_t ta, tb;
	const bool vg = RUNNING_ON_VALGRIND;
	const double secs = vg ? 4.0 : 1.5;
	long sent = 0, delivered = 0;
	double t0, elapsed;
	uint8_t pkt[1400], got[2048];

	devnode_pair_start(&a, &b, 2);
	CHECK_EQ_INT(devnode_add_peer(&a, &b, "10.0.0.2", "fd00::2"), 0);
	CHECK_EQ_INT(devnode_add_peer(&b, &a, "10.0.0.1", "fd00::1"), 0);
	{
		size_t len = devnode_make_ping4(pkt, "10.0.0.1", "10.0.0.2", 1);

		CHECK_MSG(devnode_deliver(&a, &b, pkt, len), "first packet (handshake)");
	}

	pa.n = &a, pa.peer_pub = b.pub;
	pb.n = &b, pb.peer_pub = a.pub;
	CHECK(pthread_create(&ta, NULL, poll_loop, &pa) == 0);
	CHECK(pthread_create(&tb, NULL, poll_loop, &pb) == 0);

	/* Packets one at a time both ways (each waits for the last), of growing sizes, so the
	 * counters move under the pollers the whole time. */
	t0 = now_s();
	while (now_s() - t0 < secs) {
		bool a_to_b = sent & 1;
		node *from = a_to_b ? &a : &b, *to = a_to_b ? &b : &a;
		size_t len = 64 + (size_t)(sent % 1300);
		long n;

		devnode_make_seq4(pkt, len, a_to_b ? "10.0.0.1" : "10.0.0.2", a_to_b ? "10.0.0.2" : "10.0.0.1",
			  a_to_b ? 1 : 2, (uint32_t)sent);
		sent++;
		if (send(from->app, pkt, len, 0) != (ssize_t)len)
			continue;
		n = devnode_app_recv(to, got, sizeof(got), devnode_wait_ms(1000));
		if (n == (long)len && memcmp(got, pkt, len) == 0)
			delivered++;
	}
	__atomic_store_n(&pa.stop, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&pb.stop, 1, __ATOMIC_RELEASE);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	elapsed = now_s() - t0;

	printf("  %.1f s: %ld + %ld polls (%.0f/s), %ld of %ld packets delivered intact\n", elapsed,
	       pa.polls, pb.polls, (double)(pa.polls + pb.polls) / elapsed, delivered, sent);
	CHECK_EQ_INT(pa.bad + pb.bad, 0);
	/* >= 1 kHz of polls in all (the C3 figure); valgrind serializes the threads. */
	CHECK_MSG((double)(pa.polls + pb.polls) >= (vg ? 5.0 : 1000.0) * elapsed,
		  "%ld polls in %.1f s", pa.polls + pb.polls, elapsed);
	CHECK(sent >= (vg ? 3 : 100));
	/* Loopback UDP in one process: nothing is lost unless the device drops it. */
	CHECK_MSG(delivered == sent, "%ld of %ld delivered", delivered, sent);

	node_free(&a);
	node_free(&b);
	return test_finish("device_pollstorm");
}
