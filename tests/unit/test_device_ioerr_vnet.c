/* TUN write errors on the vnet-header path (device_tun_flush's writev), injected into a real
 * vnet TUN in the test's own network namespace (needs root; tests/support/vnetnode.h): a
 * devnode peer A sends UDP packets through the tunnel to B, whose TUN hands them to the
 * kernel, where a UDP socket of the test receives them. For EIO, EAGAIN and ENOBUFS on B's
 * writev:
 * - 32 packets of 32 flows (nothing to coalesce): each is one refused write, counted once in
 *   tun_write_error (+32, as the plain path in test_device_ioerr), none retried;
 * - 32 packets of one flow (coalesced when they share a batch): tun_write_error grows by the
 *   refused writes exactly, and those carried every packet once (bytes accounted), none
 *   counted as written (tun_gro_udp unchanged);
 * - nothing reaches the kernel, B's loop does not spin (wakeups over an idle window bounded),
 *   B stays up, and once the error stops the next burst arrives whole, in order, byte-exact. */
#define _GNU_SOURCE
#include "devnode.h"
#include "syswrap.h"
#include "test.h"
#include "vnetnode.h"

#include "device/device_impl.h"
#include "io/linux/offload.h" /* OFFLOAD_VNET_HDR_LEN */

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BURST 32
#define RX_PORT 5001
#define IDLE_WINDOW_MS 400
#define IDLE_WAKEUPS_MAX 5

/* count packets seq first.. from A's app side; one flow, or one flow per packet. */
static void burst(node *a, uint32_t first, unsigned count, bool one_flow)
{
	uint8_t pkt[2048];

	for (unsigned i = 0; i < count; i++) {
		uint16_t sport = (uint16_t)(one_flow ? 4000 : 4000 + i);
		size_t len = vnet_udp4(pkt, "10.77.0.2", "10.77.0.1", sport, RX_PORT, first + i);
		CHECK(send(a->app, pkt, len, 0) == (ssize_t)len);
	}
}

static uint64_t idle_wakeups(node *n)
{
	uint64_t w0 = devnode_stats(n).loop_wakeups;

	usleep(IDLE_WINDOW_MS * 1000);
	return devnode_stats(n).loop_wakeups - w0;
}

/* Waits until the refused writes carried `payload` bytes of UDP payload (2 s, more under
 * valgrind), then a moment for any surplus; returns the payload bytes they carried. */
static unsigned long wait_refused_payload(unsigned long w0, unsigned long b0,
					  unsigned long payload)
{
	unsigned long got = 0;

	for (int i = 0; i < devnode_wait_ms(2000) / 10; i++) {
		unsigned long w = syswrap_writev_refused() - w0;
		got = syswrap_writev_refused_bytes() - b0 - w * (OFFLOAD_VNET_HDR_LEN + 28);
		if (got >= payload)
			break;
		usleep(10 * 1000);
	}
	usleep(100 * 1000);
	return syswrap_writev_refused_bytes() - b0 -
	       (syswrap_writev_refused() - w0) * (OFFLOAD_VNET_HDR_LEN + 28);
}

static void write_error(node *a, node *b, int rx, int err, uint32_t seq)
{
	device_stats s0 = devnode_stats(b), s1;
	unsigned long w0 = syswrap_writev_refused(), b0 = syswrap_writev_refused_bytes(), w;
	uint64_t wake;

	syswrap_writev_fail(b->dev->tun_fd, err);
	/* One flow per packet: one write each, each counted once. */
	burst(a, seq, BURST, false);
	CHECK_EQ_U64(wait_refused_payload(w0, b0, BURST * VNET_PLEN), BURST * VNET_PLEN);
	w = syswrap_writev_refused() - w0;
	CHECK_MSG(w == BURST, "errno %d: %lu refused writes for %d packets of %d flows", err, w,
		  BURST, BURST);
	s1 = devnode_stats(b);
	CHECK_EQ_U64(s1.tun_write_error - s0.tun_write_error, w);
	/* One flow: each refused write counted once, every packet in exactly one of them. */
	w0 = syswrap_writev_refused();
	b0 = syswrap_writev_refused_bytes();
	burst(a, seq + BURST, BURST, true);
	CHECK_EQ_U64(wait_refused_payload(w0, b0, BURST * VNET_PLEN), BURST * VNET_PLEN);
	w = syswrap_writev_refused() - w0;
	CHECK(w >= 1 && w <= BURST);
	CHECK_EQ_U64(devnode_stats(b).tun_write_error - s1.tun_write_error, w);
	CHECK_EQ_U64(devnode_stats(b).tun_gro_udp, s1.tun_gro_udp); /* nothing counted as written */
	CHECK_EQ_INT(vnet_expect(rx, seq, 1, 200), 0);
	wake = idle_wakeups(b);
	CHECK_MSG(wake <= IDLE_WAKEUPS_MAX, "errno %d: %llu loop wakeups in %d ms idle", err,
		  (unsigned long long)wake, IDLE_WINDOW_MS);
	CHECK_EQ_U64(devnode_stats(b).tun_write_error - s0.tun_write_error, BURST + w);
	CHECK(device_is_up(b->dev));
	syswrap_writev_fail(-1, 0);
	/* Writes work again at once: the next burst arrives whole, nothing more counted. */
	burst(a, seq + 2 * BURST, BURST, true);
	CHECK_EQ_INT(vnet_expect(rx, seq + 2 * BURST, BURST, devnode_wait_ms(2000)), BURST);
	CHECK_EQ_U64(devnode_stats(b).tun_write_error - s0.tun_write_error, BURST + w);
	CHECK_EQ_U64(devnode_stats(b).rx_decrypt, s0.rx_decrypt);
}

int main(void)
{
	char name[16];
	uint8_t pkt[2048];
	node a, b;
	int fd, rx = -1;
	bool ok = false;

	devnode_watchdog("test_device_ioerr_vnet", 120);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.app = b.app = -1;
	if (!vnet_netns() || (fd = vnet_tun("g2ev%d", "10.77.0.1", name)) < 0)
		return test_finish("device_ioerr_vnet");
	vnet_node_start(&b, fd);
	node_start_bare(&a);
	rx = vnet_udp_listen("10.77.0.1", RX_PORT);
	CHECK(rx >= 0);
	if (a.dev && b.dev && rx >= 0) {
		CHECK_MSG(b.dev->tun_vnet, "the TUN has a vnet header");
		CHECK_EQ_INT(devnode_add_peer(&a, &b, "10.77.0.1", "fd00::1"), 0);
		CHECK_EQ_INT(devnode_add_peer(&b, &a, "10.77.0.2", "fd00::2"), 0);
		/* The handshake: the first packet may wait for it; a few tries. */
		for (int i = 0; i < 3 && !ok; i++) {
			size_t len = vnet_udp4(pkt, "10.77.0.2", "10.77.0.1", 4000, RX_PORT, 1);
			CHECK(send(a.app, pkt, len, 0) == (ssize_t)len);
			ok = vnet_expect(rx, 1, 1, devnode_wait_ms(2000)) == 1;
		}
		CHECK_MSG(ok, "no packet through the tunnel to the vnet TUN");
	}
	if (ok) {
		/* Control: a burst goes through whole, nothing counted. */
		burst(&a, 100, BURST, true);
		CHECK_EQ_INT(vnet_expect(rx, 100, BURST, devnode_wait_ms(2000)), BURST);
		CHECK_EQ_U64(devnode_stats(&b).tun_write_error, 0);
		write_error(&a, &b, rx, EIO, 1000);
		write_error(&a, &b, rx, EAGAIN, 2000);
		write_error(&a, &b, rx, ENOBUFS, 3000);
	}
	if (rx >= 0)
		close(rx);
	node_free(&a);
	node_free(&b);
	return test_finish("device_ioerr_vnet");
}
