/* Socket and TUN errors injected into two running devices (sendmmsg and write are wrapped,
 * tests/support/syswrap.c), each while a tunnel is up:
 * - EIO on A's GSO sends: A turns GSO off once (tx_gso_off), the refused runs go again
 *   datagram by datagram and B's TUN gets every packet in order, byte-exact; later bursts
 *   offer no GSO message; nothing is counted lost.
 * - ENOBUFS and EAGAIN on A's data sends: each packet is counted once (tx_send_error) and
 *   dropped, not retried; A's loop does not spin (wakeups and calls over an idle window
 *   bounded); traffic goes through again once the error stops.
 * - EIO, EAGAIN and ENOBUFS on B's TUN writes: each decrypted packet is counted once
 *   (tun_write_error) and dropped, B's loop does not spin, and writes work again after (EIO
 *   on a write does not take the device down). */
#define _GNU_SOURCE
#include "devnode.h"
#include "syswrap.h"
#include "test.h"

#include "device/device_impl.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PKT_LEN 1000
#define BURST 32
/* Loop wakeups allowed in an idle window while an error persists: a timer or two; a loop
 * retrying the failure would make thousands. */
#define IDLE_WINDOW_MS 400
#define IDLE_WAKEUPS_MAX 5

/* Sends count packets (seq from first) from a's app side without waiting. */
static void burst(node *a, uint32_t first, unsigned count)
{
	uint8_t pkt[PKT_LEN];

	for (unsigned i = 0; i < count; i++) {
		devnode_make_seq4(pkt, PKT_LEN, "10.0.0.1", "10.0.0.2", 1, first + i);
		CHECK(send(a->app, pkt, PKT_LEN, 0) == PKT_LEN);
	}
}

/* b's app side gets exactly packets first..first+count, in order, byte-exact. */
static void expect_burst(node *b, uint32_t first, unsigned count)
{
	uint8_t want[PKT_LEN], got[2048];

	for (unsigned i = 0; i < count; i++) {
		long n = devnode_app_recv(b, got, sizeof(got), devnode_wait_ms(2000));
		devnode_make_seq4(want, PKT_LEN, "10.0.0.1", "10.0.0.2", 1, first + i);
		CHECK_MSG(n == PKT_LEN && !memcmp(got, want, PKT_LEN),
			  "packet %u of the burst at %u: got %ld bytes", i, first, n);
		if (n != PKT_LEN || memcmp(got, want, PKT_LEN))
			return;
	}
}

/* Nothing reaches b's app side within ms. */
static void expect_nothing(node *b, int ms)
{
	uint8_t got[2048];

	CHECK_EQ_INT(devnode_app_recv(b, got, sizeof(got), ms), -1);
}

/* n's loop wakeups over an idle window (the error still armed). */
static uint64_t idle_wakeups(node *n)
{
	uint64_t w0 = devnode_stats(n).loop_wakeups;

	usleep(IDLE_WINDOW_MS * 1000);
	return devnode_stats(n).loop_wakeups - w0;
}

/* Waits until *counter of n's stats reaches want (2 s, more under valgrind). */
static uint64_t wait_stat(node *n, size_t off, uint64_t want)
{
	uint64_t v = 0;

	for (int i = 0; i < devnode_wait_ms(2000) / 10; i++) {
		device_stats st = devnode_stats(n);
		memcpy(&v, (const uint8_t *)&st + off, sizeof(v));
		if (v >= want)
			break;
		usleep(10 * 1000);
	}
	return v;
}

static void pair_up(node *a, node *b)
{
	uint8_t pkt[128];
	size_t len;

	devnode_pair_start(a, b, 0);
	CHECK_EQ_INT(devnode_add_peer(a, b, "10.0.0.2", "fd00::2"), 0);
	CHECK_EQ_INT(devnode_add_peer(b, a, "10.0.0.1", "fd00::1"), 0);
	len = devnode_make_ping4(pkt, "10.0.0.1", "10.0.0.2", 1);
	CHECK(devnode_deliver(a, b, pkt, len));
}

static void gso_eio(node *a, node *b)
{
	device_stats s0 = devnode_stats(a), s1;
	unsigned long refused = syswrap_send_refused(), gsos;
	uint32_t seq = 1000;

	syswrap_send_fail(SYSWRAP_MSG_GSO, EIO);
	/* A batch of more than one packet in one loop round forms a GSO run: bursts until one
	 * did (the loop may take a burst one packet at a time now and then). */
	for (int i = 0; i < 20 && devnode_stats(a).tx_gso_off == s0.tx_gso_off; i++) {
		burst(a, seq, BURST);
		expect_burst(b, seq, BURST);
		seq += BURST;
	}
	s1 = devnode_stats(a);
	CHECK_EQ_U64(s1.tx_gso_off - s0.tx_gso_off, 1);
	CHECK(syswrap_send_refused() > refused);
	CHECK_EQ_U64(s1.tx_send_error, s0.tx_send_error);
	/* GSO stays off: three more bursts, no segmented message offered, all delivered. */
	gsos = syswrap_send_gso_msgs();
	refused = syswrap_send_refused();
	for (int i = 0; i < 3; i++) {
		burst(a, seq, BURST);
		expect_burst(b, seq, BURST);
		seq += BURST;
	}
	CHECK_EQ_U64(syswrap_send_gso_msgs(), gsos);
	CHECK_EQ_U64(syswrap_send_refused(), refused);
	s1 = devnode_stats(a);
	CHECK_EQ_U64(s1.tx_gso_off - s0.tx_gso_off, 1);
	CHECK_EQ_U64(s1.tx_send_error, s0.tx_send_error);
	CHECK(idle_wakeups(a) <= IDLE_WAKEUPS_MAX);
	syswrap_send_fail(SYSWRAP_MSG_GSO, 0);
}

static void send_error(node *a, node *b, int err, uint32_t seq)
{
	device_stats s0 = devnode_stats(a);
	unsigned long calls = syswrap_send_calls(), idle_calls;
	uint8_t pkt[128];
	size_t len;
	uint64_t w;

	syswrap_send_fail(SYSWRAP_MSG_DATA, err);
	burst(a, seq, BURST);
	/* Each packet counted once: dropped, not retried (none later, none twice). */
	CHECK_EQ_U64(wait_stat(a, offsetof(device_stats, tx_send_error),
			       s0.tx_send_error + BURST) - s0.tx_send_error, BURST);
	expect_nothing(b, 200);
	/* A datagram costs a failing call at most twice (a refused GSO run goes again one by
	 * one; EAGAIN waits once for room, then drops the rest of the batch). */
	CHECK(syswrap_send_calls() - calls <= 2 * BURST);
	idle_calls = syswrap_send_calls();
	w = idle_wakeups(a);
	CHECK_MSG(w <= IDLE_WAKEUPS_MAX, "errno %d: %llu loop wakeups in %d ms idle", err,
		  (unsigned long long)w, IDLE_WINDOW_MS);
	CHECK(syswrap_send_calls() - idle_calls <= 2);
	CHECK_EQ_U64(devnode_stats(a).tx_send_error - s0.tx_send_error, BURST);
	syswrap_send_fail(SYSWRAP_MSG_DATA, 0);
	/* The tunnel works again at once. */
	len = devnode_make_ping4(pkt, "10.0.0.1", "10.0.0.2", (uint16_t)seq);
	CHECK(devnode_deliver(a, b, pkt, len));
	burst(a, seq + BURST, BURST);
	expect_burst(b, seq + BURST, BURST);
	CHECK_EQ_U64(devnode_stats(a).tx_send_error - s0.tx_send_error, BURST);
}

static void tun_write_error(node *a, node *b, int err, uint32_t seq)
{
	device_stats s0 = devnode_stats(b);
	unsigned long refused = syswrap_write_refused();
	uint8_t pkt[128];
	size_t len;
	uint64_t w;

	syswrap_write_fail(b->dev->tun_fd, err);
	burst(a, seq, BURST);
	CHECK_EQ_U64(wait_stat(b, offsetof(device_stats, tun_write_error),
			       s0.tun_write_error + BURST) - s0.tun_write_error, BURST);
	/* Written once each (no retry) and nothing got through. */
	CHECK_EQ_U64(syswrap_write_refused() - refused, BURST);
	expect_nothing(b, 200);
	w = idle_wakeups(b);
	CHECK_MSG(w <= IDLE_WAKEUPS_MAX, "errno %d: %llu loop wakeups in %d ms idle", err,
		  (unsigned long long)w, IDLE_WINDOW_MS);
	CHECK_EQ_U64(syswrap_write_refused() - refused, BURST);
	syswrap_write_fail(-1, 0);
	/* B still runs and writes again (EIO on a write is not "the TUN is gone"). */
	len = devnode_make_ping4(pkt, "10.0.0.1", "10.0.0.2", (uint16_t)seq);
	CHECK(devnode_deliver(a, b, pkt, len));
	burst(a, seq + BURST, BURST);
	expect_burst(b, seq + BURST, BURST);
	CHECK_EQ_U64(devnode_stats(b).tun_write_error - s0.tun_write_error, BURST);
	CHECK_EQ_U64(devnode_stats(b).rx_decrypt, s0.rx_decrypt);
}

int main(void)
{
	node a, b;

	devnode_watchdog("test_device_ioerr", 120);
	pair_up(&a, &b);
	if (a.dev && b.dev) {
		gso_eio(&a, &b);
		send_error(&a, &b, ENOBUFS, 10000);
		send_error(&a, &b, EAGAIN, 20000);
		tun_write_error(&a, &b, EIO, 30000);
		tun_write_error(&a, &b, EAGAIN, 40000);
		tun_write_error(&a, &b, ENOBUFS, 50000);
	}
	node_free(&a);
	node_free(&b);
	return test_finish("device_ioerr");
}
