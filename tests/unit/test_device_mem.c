/* The device gives its buffers' pages back after a busy stretch (tests/support/devnode.h):
 * deterministically on a device whose loop never runs, and between two devices over loopback
 * UDP with traffic before and after. */
#define _GNU_SOURCE
#include "devnode.h"
#include "test.h"

#include "crypto/crypto.h"
#include "device/device.h"
#include "device/device_impl.h" /* the batch arrays, device_mem_idle */

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* count packets a (src) -> b (dst), byte-exact and in order (seq from *seq on). Returns how
 * many did not arrive so. */
#define BURST_MAX 64 /* packets of one burst_one_way */
static unsigned burst_one_way(node *a, node *b, const char *src, const char *dst, unsigned count,
			      uint32_t *seq)
{
	static uint8_t burst[BURST_MAX][1420];
	uint8_t pkt[1500], got[2048];
	unsigned bad = 0;
	uint32_t first = *seq;

	if (count > BURST_MAX) {
		CHECK(count <= BURST_MAX);
		return count;
	}
	/* Built first, then sent back to back, so a's loop finds the burst queued at once and
	 * takes it in few rounds (not one round per slow make_seq4 under a sanitizer). */
	for (unsigned k = 0; k < count; k++)
		devnode_make_seq4(burst[k], 600 + ((first + k) * 53u) % 820u, src, dst, 7, first + k);
	for (unsigned k = 0; k < count; k++) {
		size_t len = 600 + ((first + k) * 53u) % 820u;
		CHECK(send(a->app, burst[k], len, 0) == (ssize_t)len);
	}
	for (unsigned k = 0; k < count; k++) {
		size_t len = 600 + ((first + k) * 53u) % 820u;
		long n = devnode_app_recv(b, got, sizeof(got), devnode_wait_ms(2000));
		if (n < 0)
			return bad + count - k;
		devnode_make_seq4(pkt, len, src, dst, 7, first + k);
		if ((size_t)n != len || memcmp(got, pkt, len) != 0)
			bad++;
	}
	*seq = first + count;
	return bad;
}

static uint64_t mem_stat(node *n, bool bytes)
{
	device_stats st;

	device_get_stats(n->dev, &st);
	return bytes ? st.mem_released_bytes : st.mem_releases;
}

/* After a burst the idle device gives its buffers' pages back at the next wakeup at least
 * DEVICE_MEM_IDLE later (here: a lone packet; in the field the passive keepalive), never
 * before any burst, and the buffers work again afterwards (fresh zero pages). */
static void test_mem_release(void)
{
	node a, b;
	uint32_t seq = 0;
	uint8_t pkt[1500];
	int tries;

	devnode_pair_start(&a, &b, 0);
	CHECK_EQ_INT(devnode_add_peer(&a, &b, "10.8.0.2", "fd08::2"), 0);
	CHECK_EQ_INT(devnode_add_peer(&b, &a, "10.8.0.1", "fd08::1"), 0);
	devnode_make_seq4(pkt, 100, "10.8.0.1", "10.8.0.2", 7, 999999);
	CHECK_MSG(devnode_deliver(&a, &b, pkt, 100), "handshake");
	devnode_app_drain(&b);
	/* The handshake and one packet stay under the floor: nothing to give back. */
	usleep(1200 * 1000);
	CHECK(devnode_deliver(&a, &b, pkt, 100));
	devnode_app_drain(&b);
	CHECK_EQ_U64(mem_stat(&a, false), 0);
	CHECK_EQ_U64(mem_stat(&b, false), 0);

	/* a's loop may read a burst in several small rounds when the writer is slower than the
	 * reader (seen once under ASan): then it touched only a few slots and rightly has
	 * little to give back. So the burst is repeated (at most 5 times) until one burst was
	 * taken in one round; the checks below are on that burst's release alone. */
	uint64_t rel_a = 0, rel_b = 0, bytes_a = 0, bytes_b = 0;
	tries = 0;
	for (int burst = 0; burst < 5 && (rel_a == 0 || rel_b == 0 || bytes_a < 64 * 4096);
	     burst++) {
		uint64_t ra0 = mem_stat(&a, false), rb0 = mem_stat(&b, false);
		uint64_t ba0 = mem_stat(&a, true), bb0 = mem_stat(&b, true);
		CHECK_EQ_INT((int)burst_one_way(&a, &b, "10.8.0.1", "10.8.0.2", 64, &seq), 0);
		/* Idle past DEVICE_MEM_IDLE, then a lone packet wakes both loops (a: TUN, b: UDP). */
		for (int t = 0; t < 8 && (mem_stat(&a, false) == ra0 || mem_stat(&b, false) == rb0);
		     t++, tries++) {
			usleep(1200 * 1000);
			CHECK(devnode_deliver(&a, &b, pkt, 100));
			devnode_app_drain(&b);
		}
		rel_a = mem_stat(&a, false) - ra0;
		rel_b = mem_stat(&b, false) - rb0;
		bytes_a = mem_stat(&a, true) - ba0;
		bytes_b = mem_stat(&b, true) - bb0;
	}
	CHECK_MSG(rel_a >= 1 && rel_b >= 1, "no release after %d idle wakeups (a %llu, b %llu)",
		  tries, (unsigned long long)rel_a, (unsigned long long)rel_b);
	/* a sealed 64 packets in 64 transmit slots: their pages at least (one per slot). */
	CHECK_MSG(bytes_a >= 64 * 4096, "a gave back %llu bytes", (unsigned long long)bytes_a);
	CHECK(bytes_b >= 4096);
	/* Traffic after the release: both ways, byte-exact and in order. */
	CHECK_EQ_INT((int)burst_one_way(&a, &b, "10.8.0.1", "10.8.0.2", 64, &seq), 0);
	{
		uint32_t back = 0;
		CHECK_EQ_INT((int)burst_one_way(&b, &a, "10.8.0.2", "10.8.0.1", 64, &back), 0);
	}
	node_free(&a);
	node_free(&b);
}

/* Pages wholly inside [p, p + len) that are resident (mincore), and how many there are. */
static unsigned resident_pages(const void *p, size_t len, unsigned *whole)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = ((uintptr_t)p + pg - 1) & ~(pg - 1), b = ((uintptr_t)p + len) & ~(pg - 1);
	unsigned char vec[64];
	unsigned n = 0;

	*whole = b > a ? (unsigned)((b - a) / pg) : 0;
	CHECK(*whole <= sizeof(vec));
	if (*whole == 0 || *whole > sizeof(vec) || mincore((void *)a, b - a, vec) != 0)
		return 0;
	for (unsigned i = 0; i < *whole; i++)
		n += vec[i] & 1;
	return n;
}

/* The two udp_batch descriptor arrays in the device struct go back with the other buffers
 * after a busy stretch, all but the receive iovecs, which must keep pointing at the slots.
 * Deterministic: a device whose loop never runs, a round simulated by writing the arrays,
 * device_mem_idle called with chosen times. */
static void test_mem_release_batch(void)
{
	node a;
	device *dev;
	unsigned rx_whole, tx_whole;
	uint8_t *rx_tail;
	size_t rx_tail_len;
	wg_time_ns t0 = 1000 * WG_NS_PER_SEC;
	device_stats st0, st1;

	node_init(&a);
	dev = a.dev;
	rx_tail = (uint8_t *)&dev->rx + sizeof(dev->rx.iov);
	rx_tail_len = sizeof(dev->rx) - sizeof(dev->rx.iov);
	/* A new device has not touched them (the struct's calloc did; the init gave them back). */
	CHECK_EQ_INT((int)resident_pages(rx_tail, rx_tail_len, &rx_whole), 0);
	CHECK_EQ_INT((int)resident_pages(&dev->tx, sizeof(dev->tx), &tx_whole), 0);
	memset(rx_tail, 0x5a, rx_tail_len);
	memset(&dev->tx, 0x5a, sizeof(dev->tx));
	CHECK_EQ_INT((int)resident_pages(rx_tail, rx_tail_len, &rx_whole), (int)rx_whole);
	CHECK_EQ_INT((int)resident_pages(&dev->tx, sizeof(dev->tx), &tx_whole), (int)tx_whole);
	/* 19.8 and 22 KiB: at least 3 and 4 whole pages wherever the struct lies. */
	CHECK(rx_whole >= 3 && tx_whole >= 4);

	device_get_stats(dev, &st0);
	/* Not busy: nothing goes back however long idle. */
	device_mem_idle(dev, t0, WG_TIME_NEVER);
	CHECK_EQ_INT((int)resident_pages(&dev->tx, sizeof(dev->tx), &tx_whole), (int)tx_whole);
	/* A busy round, then idle for less than DEVICE_MEM_IDLE: kept. */
	dev->mem_busy_round = true;
	device_mem_idle(dev, t0, WG_TIME_NEVER);
	device_mem_idle(dev, t0 + DEVICE_MEM_IDLE / 2, WG_TIME_NEVER);
	CHECK_EQ_INT((int)resident_pages(&dev->tx, sizeof(dev->tx), &tx_whole), (int)tx_whole);
	/* Idle long enough: both arrays go, all but the receive iovecs. */
	device_mem_idle(dev, t0 + 2 * DEVICE_MEM_IDLE, WG_TIME_NEVER);
	device_get_stats(dev, &st1);
	CHECK_EQ_U64(st1.mem_releases, st0.mem_releases + 1);
	CHECK(st1.mem_released_bytes - st0.mem_released_bytes >=
	      (uint64_t)(rx_whole + tx_whole) * (uint64_t)sysconf(_SC_PAGESIZE));
	CHECK_EQ_INT((int)resident_pages(rx_tail, rx_tail_len, &rx_whole), 0);
	CHECK_EQ_INT((int)resident_pages(&dev->tx, sizeof(dev->tx), &tx_whole), 0);
	for (unsigned i = 0; i < DEVICE_BATCH; i++) {
		CHECK(dev->rx.iov[i].iov_base == dev->rx_mem + (size_t)i * DEVICE_SLOT_SIZE);
		CHECK(dev->rx.iov[i].iov_len == DEVICE_SLOT_SIZE);
	}
	/* The released pages read back as zeros (fresh pages), the rest of the struct intact. */
	CHECK(dev->tx.msg[DEVICE_BATCH / 2].msg_len == 0 && dev->rx.seg[DEVICE_BATCH - 1] == 0);
	node_free(&a);
}

int main(void)
{
	test_mem_release_batch();
	test_mem_release();
	return test_finish("device_mem");
}
