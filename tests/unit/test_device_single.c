/* One device alone (tests/support/devnode.h): it sleeps when idle, stops when its TUN goes
 * away, does not count what it could not send, and its receiver index allocator is bounded. */
#define _GNU_SOURCE
#include "devnode.h"
#include "test.h"

#include "crypto/crypto.h"
#include "device/device.h"
#include "device/device_impl.h" /* index allocator test: the device RNG, peers */

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* A device with nothing to do sleeps: no wakeups at all. */
static void test_idle(void)
{
	node n;
	device_stats s1, s2;

	node_init(&n);
	CHECK_EQ_INT(devnode_set_key(&n), 0);
	CHECK_EQ_INT(device_start(n.dev), 0);
	CHECK_EQ_INT(device_start(n.dev), -EALREADY);
	/* set_key's apply left one wake pending, so the loop's first wait returns at once. On a
	 * loaded machine the thread may take long to get there: wait for that wakeup (bounded)
	 * instead of a fixed settle time, then the device must stay asleep. */
	for (int i = 0; i < 500; i++) {
		device_get_stats(n.dev, &s1);
		if (s1.loop_wakeups)
			break;
		usleep(10 * 1000);
	}
	CHECK_EQ_U64(s1.loop_wakeups, 1);
	usleep(50 * 1000);
	device_get_stats(n.dev, &s1);
	usleep(400 * 1000);
	device_get_stats(n.dev, &s2);
	CHECK_EQ_U64(s2.loop_wakeups, s1.loop_wakeups);
	CHECK(n.sockets >= 1);
	node_free(&n);
}

/* Gives n its own key and one peer (pub) with persistent keepalive 25, so an initiation
 * is due at once; ep is the peer's endpoint or NULL for none. */
static void apply_keepalive_peer(node *n, const uint8_t pub[32], const struct sockaddr_in *ep)
{
	wg_peer_change pc;
	wg_config_change c;

	memset(&c, 0, sizeof(c));
	memset(&pc, 0, sizeof(pc));
	/* Key and peer in one change, as `wg setconf` sends them. */
	c.has_private_key = true;
	memcpy(c.private_key, n->priv, 32);
	memcpy(pc.public_key, pub, 32);
	if (ep) {
		pc.has_endpoint = true;
		pc.endpoint.in4 = *ep;
	}
	pc.has_persistent_keepalive = true;
	pc.persistent_keepalive = 25;
	c.peers = &pc;
	c.n_peers = 1;
	CHECK_EQ_INT(device_apply(n->dev, &c), 0);
}

/* The only peer's tx_bytes, which must be 0: nothing it was to send left the device. */
static void check_peer_tx_zero(node *n)
{
	wg_config_info info;

	CHECK_EQ_INT(device_get_info(n->dev, &info), 0);
	CHECK(info.n_peers == 1);
	if (info.n_peers == 1)
		CHECK_EQ_U64(info.peers[0].tx_bytes, 0);
	wg_config_info_clear(&info);
}

/* A persistent-keepalive peer without an endpoint: the initiation its keepalive asks for
 * cannot go anywhere, so it is not counted as sent (wireguard-go shows tx 0 too). */
static void test_no_endpoint_not_counted(void)
{
	node n;
	uint8_t priv[32], pub[32];
	device_stats st;

	node_init(&n);
	CHECK_EQ_INT(device_start(n.dev), 0);
	CHECK(crypto_x25519_generate(priv, pub) == 0);
	apply_keepalive_peer(&n, pub, NULL);
	st.tx_no_endpoint = 0;
	for (int i = 0; i < 100 && st.tx_no_endpoint == 0; i++) {
		usleep(10 * 1000);
		device_get_stats(n.dev, &st);
	}
	CHECK(st.tx_no_endpoint >= 1); /* the keepalive did ask for an initiation */
	check_peer_tx_zero(&n);
	crypto_wipe(priv, sizeof(priv));
	node_free(&n);
}

/* A datagram the kernel refuses (the broadcast address, without SO_BROADCAST: EACCES) is
 * counted in tx_send_error and not in the peer's tx_bytes. */
static void test_send_error_not_counted(void)
{
	node n;
	uint8_t priv[32], pub[32];
	struct sockaddr_in bcast;
	device_stats st;

	node_init(&n);
	CHECK_EQ_INT(device_start(n.dev), 0);
	CHECK(crypto_x25519_generate(priv, pub) == 0);
	memset(&bcast, 0, sizeof(bcast));
	bcast.sin_family = AF_INET;
	bcast.sin_port = htons(9);
	bcast.sin_addr.s_addr = htonl(INADDR_BROADCAST);
	apply_keepalive_peer(&n, pub, &bcast);
	st.tx_send_error = 0;
	for (int i = 0; i < 100 && st.tx_send_error == 0; i++) {
		usleep(10 * 1000);
		device_get_stats(n.dev, &st);
	}
	CHECK(st.tx_send_error >= 1);
	CHECK_EQ_U64(st.tx_no_endpoint, 0);
	check_peer_tx_zero(&n);
	crypto_wipe(priv, sizeof(priv));
	node_free(&n);
}

static int zero_fill(void *ctx, void *out, size_t n)
{
	(void)ctx;
	memset(out, 0, n); /* what a failed OS random source may leave behind */
	return 0;
}

static int count_fill(void *ctx, void *out, size_t n)
{
	uint8_t *o = out;
	uint32_t *c = ctx;

	for (size_t i = 0; i < n; i++)
		o[i] = (uint8_t)(++*c * 0x9d);
	return 0;
}

/* The receiver index allocator gives up (counted) instead of spinning when every draw
 * collides, and when a peer's index slots are full; freed indices become usable again. */
static void test_index_alloc_bounded(void)
{
	node n;
	peer *p, *q;
	wg_index_ops po, qo;
	uint8_t pk[32];
	uint32_t idx[DEVICE_INDICES_PER_PEER], x = 1, ctr = 0;
	device_stats st;
	wg_rng good = { count_fill, &ctr };

	node_init(&n);
	n.dev->rng = (wg_rng){ zero_fill, NULL };
	memset(pk, 0x11, sizeof(pk));
	p = device_peer_new(n.dev, pk, io_now());
	memset(pk, 0x22, sizeof(pk));
	q = device_peer_new(n.dev, pk, io_now());
	CHECK(p && q);
	po = device_index_ops(p);
	qo = device_index_ops(q);

	CHECK_EQ_INT(po.alloc(po.ctx, p->tun, &idx[0]), 0);
	CHECK_EQ_U64(idx[0], 0);
	/* Every further draw is 0 again: a bounded number of tries, then -1. */
	CHECK_EQ_INT(po.alloc(po.ctx, p->tun, &x), -1);
	CHECK_EQ_INT(qo.alloc(qo.ctx, q->tun, &x), -1); /* the table is device-wide */
	device_get_stats(n.dev, &st);
	CHECK_EQ_U64(st.handshake_no_index, 2);
	CHECK_EQ_U64(device_index_lookup(n.dev, 0) == p, 1);
	/* Released, index 0 can be drawn again (by another peer). */
	po.release(po.ctx, idx[0]);
	CHECK(device_index_lookup(n.dev, 0) == NULL);
	CHECK_EQ_INT(qo.alloc(qo.ctx, q->tun, &x), 0);
	CHECK_EQ_U64(x, 0);
	CHECK(device_index_lookup(n.dev, 0) == q);
	qo.release(qo.ctx, x);

	/* A working RNG: DEVICE_INDICES_PER_PEER distinct indices, then the peer is full. */
	n.dev->rng = good;
	for (int i = 0; i < DEVICE_INDICES_PER_PEER; i++) {
		CHECK_EQ_INT(po.alloc(po.ctx, p->tun, &idx[i]), 0);
		CHECK(device_index_lookup(n.dev, idx[i]) == p);
		for (int j = 0; j < i; j++)
			CHECK(idx[j] != idx[i]);
	}
	CHECK_EQ_INT(po.alloc(po.ctx, p->tun, &x), -1);
	device_get_stats(n.dev, &st);
	CHECK_EQ_U64(st.handshake_no_index, 3);
	po.release(po.ctx, idx[3]);
	CHECK_EQ_INT(po.alloc(po.ctx, p->tun, &idx[3]), 0);
	for (int i = 0; i < DEVICE_INDICES_PER_PEER; i++)
		po.release(po.ctx, idx[i]);
	for (int i = 0; i < DEVICE_INDICES_PER_PEER; i++)
		CHECK(device_index_lookup(n.dev, idx[i]) == NULL);
	device_peer_destroy(p);
	device_peer_destroy(q);
	node_free(&n);
}

/* The TUN side going away stops the device on its own and signals it. */
static void test_tun_gone(void)
{
	node n;
	int reason = 0;
	struct pollfd p;

	node_init(&n);
	CHECK_EQ_INT(device_start(n.dev), 0);
	CHECK_EQ_INT(device_wait(n.dev, 0, &reason), 0);
	close(n.app);
	n.app = -1;
	p.fd = device_stop_fd(n.dev);
	p.events = POLLIN;
	CHECK_EQ_INT(poll(&p, 1, 5000), 1);
	CHECK_EQ_INT(device_wait(n.dev, 1000, &reason), 1);
	CHECK_EQ_INT(reason, -ENODEV);
	node_free(&n);
}

int main(void)
{
	test_idle();
	test_tun_gone();
	test_no_endpoint_not_counted();
	test_send_error_not_counted();
	test_index_alloc_bounded();
	return test_finish("device_single");
}
