/* A send that fails while the loop thread holds the sending peer's lock. The transmit
 * queue is flushed when it is full, and that can happen under a peer's lock: here, A's 128
 * staged packets are queued under A's lock for B when B's handshake response arrives, and
 * the 129th slot flushes the queue. Data sends fail (sendmmsg is wrapped, tests/support/
 * syswrap.c: ENETUNREACH for data messages while armed), and each unsent datagram is taken
 * out of its peer's tx_bytes. That used to take the peer's lock again from the same thread: A's loop
 * hung for good. Checked: A's loop goes on (a ping gets through once sends work again),
 * the failures are counted, and A's tx_bytes counts only what went out. */
#define _GNU_SOURCE
#include "devnode.h"
#include "syswrap.h"
#include "test.h"

#include "proto/messages.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void on_alarm(int sig)
{
	static const char msg[] = "test_device_senderr: hung (A's loop deadlocked?)\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

static uint64_t peer_bytes(node *n, bool tx)
{
	wg_config_info info;
	uint64_t v = 0;

	CHECK_EQ_INT(device_get_info(n->dev, &info), 0);
	if (info.n_peers == 1)
		v = tx ? info.peers[0].tx_bytes : info.peers[0].rx_bytes;
	wg_config_info_clear(&info);
	return v;
}

static void test_send_error_under_peer_lock(void)
{
	uint8_t pkt[128];
	device_stats st;
	node a, b;
	size_t len;

	devnode_pair_start(&a, &b, 0);
	CHECK_EQ_INT(devnode_add_peer(&a, &b, "10.0.0.2", "fd00::2"), 0);
	/* B does not know A yet: A's first initiation goes unanswered, so A stages all of
	 * these (its bound is 128) and nothing else happens meanwhile. */
	for (uint16_t i = 0; i < 160; i++) {
		len = devnode_make_ping4(pkt, "10.0.0.1", "10.0.0.2", i);
		CHECK(send(a.app, pkt, len, 0) == (ssize_t)len);
	}
	usleep(300 * 1000);
	syswrap_send_fail(SYSWRAP_MSG_DATA, ENETUNREACH);
	CHECK_EQ_INT(devnode_add_peer(&b, &a, "10.0.0.1", "fd00::1"), 0);
	/* A retries after REKEY_TIMEOUT (5 s + jitter); B answers; A drains its staged
	 * packets under its lock for B, and the full queue is flushed there. */
	for (int i = 0; i < 300 && syswrap_send_refused() == 0; i++)
		usleep(50 * 1000);
	CHECK(syswrap_send_refused() > 0);
	usleep(300 * 1000);
	/* The handshake's event comes after the staged packets are out: not if A hung. */
	CHECK(__atomic_load_n(&a.handshakes, __ATOMIC_RELAXED) > 0);
	syswrap_send_fail(SYSWRAP_MSG_DATA, 0);
	devnode_app_drain(&b);

	/* A's loop still runs. */
	len = devnode_make_ping4(pkt, "10.0.0.1", "10.0.0.2", 1000);
	CHECK(devnode_deliver(&a, &b, pkt, len));
	device_get_stats(a.dev, &st);
	CHECK(st.tx_send_error >= 128);
	usleep(200 * 1000);
	/* What A counted as sent is what B got (loopback loses nothing here), but for A's
	 * first initiation, which B dropped before it knew A (no peer to count it for). The
	 * failed data messages are not in A's tx_bytes. */
	CHECK_EQ_U64(peer_bytes(&a, true), peer_bytes(&b, false) + WG_MSG_INITIATION_LEN);
	node_free(&a);
	node_free(&b);
}

int main(void)
{
	signal(SIGALRM, on_alarm);
	alarm(120);
	test_send_error_under_peer_lock();
	return test_finish("device_senderr");
}
