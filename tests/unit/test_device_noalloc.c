/* "No allocation per packet" (DESIGN.md, issue #5) for the running device, not only for the
 * tunnel API (test_failalloc_rx covers that): two devices over loopback UDP with 1 and with 2
 * crypto workers. After a warm-up of the same bursts (handshake done, pools and queues as deep
 * as the traffic takes them), 40 bursts of 64 packets each way, both at once, must arrive whole
 * and in order while malloc, calloc, realloc and OpenSSL's allocator are not called once: on
 * the loop thread, the crypto helpers or the test. Every allocation counts (--wrap at link
 * time, tests/support/failalloc_wrap.c, plus OpenSSL's hooks; the handshake's allocations show
 * the count is live); none is made to fail. */
#define _GNU_SOURCE
#include "devnode.h"
#include "failalloc_wrap.h"
#include "test.h"

#include <stdatomic.h>
#include <sys/socket.h>

static atomic_bool counting;
static atomic_long allocations;

bool failalloc_should_fail(void)
{
	if (atomic_load_explicit(&counting, memory_order_relaxed))
		atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
	return false;
}

enum { BURST = 64 };

/* One burst of BURST packets each way at once; returns the packets lost or altered. */
static unsigned bursts(node *a, node *b, int n, uint32_t next_tx[2])
{
	node *from[2] = {a, b}, *to[2] = {b, a};
	static const char *const addr[2] = {"10.12.0.1", "10.12.0.2"};
	uint8_t pkt[1500], got[2048];
	unsigned bad = 0;

	for (int burst = 0; burst < n && bad == 0; burst++) {
		uint32_t first[2] = {next_tx[0], next_tx[1]};
		for (int d = 0; d < 2; d++)
			for (int k = 0; k < BURST; k++) {
				uint32_t seq = next_tx[d]++;
				size_t len = 600 + (seq * 53u) % 820u;
				devnode_make_seq4(pkt, len, addr[d], addr[1 - d], (uint8_t)d, seq);
				if (send(from[d]->app, pkt, len, 0) != (ssize_t)len)
					bad++;
			}
		for (int d = 0; d < 2; d++)
			for (uint32_t seq = first[d]; seq < next_tx[d]; seq++) {
				long got_n = devnode_app_recv(to[d], got, sizeof(got), devnode_wait_ms(2000));
				size_t len = 600 + (seq * 53u) % 820u;
				if (got_n < 0) {
					bad += next_tx[d] - seq;
					break;
				}
				devnode_make_seq4(pkt, len, addr[d], addr[1 - d], (uint8_t)d, seq);
				if ((size_t)got_n != len || memcmp(got, pkt, len) != 0)
					bad++;
			}
	}
	return bad;
}

static void test_no_allocation(unsigned workers)
{
	node a, b;
	uint32_t next_tx[2] = {0, 0};
	uint8_t pkt[128];
	unsigned bad;
	long n;

	devnode_pair_start(&a, &b, workers);
	CHECK_EQ_INT(devnode_add_peer(&a, &b, "10.12.0.2", "fd12::2"), 0);
	CHECK_EQ_INT(devnode_add_peer(&b, &a, "10.12.0.1", "fd12::1"), 0);
	devnode_make_seq4(pkt, 100, "10.12.0.1", "10.12.0.2", 9, 0);
	/* The positive control: the handshake allocates on the loop thread (OpenSSL's X25519
	 * does per DH), so a count of 0 below means none, not a wrap that is not there. */
	atomic_store(&allocations, 0);
	atomic_store(&counting, true);
	CHECK_MSG(devnode_deliver(&a, &b, pkt, 100), "handshake");
	atomic_store(&counting, false);
	CHECK_MSG(atomic_load(&allocations) > 0, "workers %u: the handshake counted no allocation",
		  workers);
	devnode_app_drain(&a);
	devnode_app_drain(&b);
	CHECK_MSG(bursts(&a, &b, 20, next_tx) == 0, "workers %u: warm-up lost packets", workers);

	atomic_store(&allocations, 0);
	atomic_store(&counting, true);
	bad = bursts(&a, &b, 40, next_tx);
	atomic_store(&counting, false);
	n = atomic_load(&allocations);

	CHECK_MSG(bad == 0, "workers %u: %u packets lost or altered", workers, bad);
	CHECK_MSG(n == 0, "workers %u: %ld allocations during %u packets", workers, n,
		  (unsigned)(2 * 40 * BURST));
	node_free(&a);
	node_free(&b);
}

int main(void)
{
	/* Before OpenSSL allocates anything, so its allocations are counted too. */
	CHECK(failalloc_hook_openssl() == 1);
	test_no_allocation(1);
	test_no_allocation(2);
	return test_finish("device_noalloc");
}
