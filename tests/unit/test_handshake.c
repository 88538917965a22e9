/* The device's handshake path (src/device/handshake.c), driven directly on a device whose loop
 * is not running (single-threaded, config lock taken shared as the loop does): the queue's
 * bound and drop counter, under-load from queue depth, the per-round budget, mac1 before mac2
 * (or the cookie reply) before the rate limiter, cookie replies that decrypt with distinct
 * nonces drawn from the pool in large draws, and a failing RNG: every operation that needs randomness
 * fails, counted and logged, nothing is sent; plus the protocol core's own RNG failure paths.
 * Kernel-side shedding (shed.c) on a real loopback socket: no filter while idle, attached
 * when the queue puts the device under load, re-judged once a period and replaced only when p
 * or the endpoints change, the kernel's drops counted and keeping the load on, below the 1/4
 * floor only in a period in which the queue overflowed (and bounded), the queue's reserve for
 * the filter's always-pass sources, removed when the load ends; a failing setsockopt leaves
 * the socket unfiltered, counted. */
#define _GNU_SOURCE
#include "test.h"
#include "testdev.h"

#include "crypto/crypto.h"
#include "device/device.h"
#include "device/device_impl.h"
#include "io/linux/loop.h"
#include "proto/cookie.h"
#include "proto/noise.h"
#include "proto/ratelimiter.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
	device *dev;
	int app;
	uint8_t priv[32], pub[32];
	int rng_logs; /* "random source failed" log lines */
	unsigned source_calls;
	bool source_fails;
} node;

static void on_log(void *ctx, int level, const char *msg)
{
	node *n = ctx;

	if (level == DEVICE_LOG_ERROR && strstr(msg, "random source failed"))
		n->rng_logs++;
}

/* The injected random source: the OS CSPRNG, counted, or failing on demand. */
static int source_fill(void *ctx, void *out, size_t n)
{
	node *nd = ctx;

	nd->source_calls++;
	if (nd->source_fails) {
		memset(out, 0, n);
		return -1;
	}
	return io_rng_fill(NULL, out, n);
}

static void node_init(node *n)
{
	device_params p;
	wg_config_change c;

	memset(n, 0, sizeof(*n));
	memset(&p, 0, sizeof(p));
	p.log = on_log;
	p.ctx = n;
	n->dev = testdev_new(&p, &n->app, n->priv, n->pub);
	memset(&c, 0, sizeof(c));
	c.has_private_key = true;
	memcpy(c.private_key, n->priv, 32);
	CHECK_EQ_INT(device_apply(n->dev, &c), 0);
	n->dev->rng_source = (wg_rng){source_fill, n};
}

static void node_free(node *n)
{
	device_free(n->dev);
	close(n->app);
}

static void src4(wg_endpoint *e, unsigned i)
{
	memset(e, 0, sizeof(*e));
	e->in4.sin_family = AF_INET;
	e->in4.sin_port = htons((uint16_t)(1000 + i % 50000));
	e->in4.sin_addr.s_addr = htonl(0x0a010000u + i); /* 10.1.x.y: one source each */
}

/* An initiation with a valid mac1 for n (garbage inside, so no Noise step could pass); mac2
 * zero. The cookie maker remembers its mac1 to open the reply. */
static void make_init(const node *n, cookie_maker *m, uint8_t msg[WG_MSG_INITIATION_LEN],
		      uint32_t sender, wg_time_ns now)
{
	memset(msg, 0, WG_MSG_INITIATION_LEN);
	msg[0] = WG_MSG_INITIATION;
	wg_le32_write(msg + 4, sender);
	for (int k = 8; k < 116; k++)
		msg[k] = (uint8_t)(k * 13 + sender);
	cookie_maker_init(m, n->pub);
	CHECK_EQ_INT(cookie_maker_add_macs(m, msg, WG_MSG_INITIATION_LEN, now), COOKIE_OK);
}

static unsigned run(node *n, wg_time_ns now, unsigned budget)
{
	unsigned left;

	pthread_rwlock_rdlock(&n->dev->cfg_lock);
	left = device_handshake_run(n->dev, now, budget);
	pthread_rwlock_unlock(&n->dev->cfg_lock);
	return left;
}

static device_stats stats(node *n)
{
	device_stats st;

	device_get_stats(n->dev, &st);
	return st;
}

/* Queue bound, under load from depth, budget; every reply is a valid cookie reply to its
 * message, with its own nonce; nonces come from the pool in DEVICE_NONCE_POOL draws. */
static void test_queue_and_replies(void)
{
	enum { N = DEVICE_HANDSHAKE_QUEUE + 100, B = DEVICE_HANDSHAKE_BUDGET };
	static cookie_maker makers[DEVICE_HANDSHAKE_QUEUE];
	static uint8_t nonces[DEVICE_HANDSHAKE_QUEUE][24];
	uint8_t msg[WG_MSG_INITIATION_LEN];
	wg_time_ns now = io_now();
	unsigned replies = 0, left, calls0;
	node n;
	device_stats st;

	node_init(&n);
	CHECK(now >= n.dev->under_load_until);
	for (unsigned i = 0; i < N; i++) {
		wg_endpoint e;
		cookie_maker m;

		src4(&e, i);
		make_init(&n, i < DEVICE_HANDSHAKE_QUEUE ? &makers[i] : &m, msg, i, now);
		device_handshake_enqueue(n.dev, msg, sizeof(msg), &e, NULL, now);
		/* Under load from the moment the depth reached 1/8 of the bound. */
		CHECK_EQ_INT(now < n.dev->under_load_until, i >= DEVICE_UNDER_LOAD_THRESHOLD);
	}
	st = stats(&n);
	CHECK_EQ_U64(device_handshake_pending(n.dev), DEVICE_HANDSHAKE_QUEUE);
	CHECK_EQ_U64(st.rx_handshake_queue_full, N - DEVICE_HANDSHAKE_QUEUE);
	CHECK_EQ_U64(n.dev->under_load_until, now + DEVICE_UNDER_LOAD_TIME);

	calls0 = n.source_calls;
	for (unsigned round = 0; device_handshake_pending(n.dev); round++) {
		pthread_rwlock_rdlock(&n.dev->cfg_lock);
		left = device_handshake_run(n.dev, now, B);
		/* The budget: at most B per call, in queue order. */
		CHECK_EQ_U64(left, DEVICE_HANDSHAKE_QUEUE > (round + 1) * B
					   ? DEVICE_HANDSHAKE_QUEUE - (round + 1) * B
					   : 0);
		for (unsigned k = 0; k < n.dev->tx_used; k++) {
			const uint8_t *r = n.dev->tx.iov[k].iov_base;
			uint32_t to = wg_le32_read(r + 4);

			CHECK_EQ_U64(n.dev->tx.iov[k].iov_len, WG_MSG_COOKIE_REPLY_LEN);
			CHECK_EQ_INT(r[0], WG_MSG_COOKIE_REPLY);
			CHECK(to < DEVICE_HANDSHAKE_QUEUE);
			if (to >= DEVICE_HANDSHAKE_QUEUE)
				continue;
			/* The reply opens with the cookie key for n and the mac1 of message `to`. */
			CHECK_EQ_INT(cookie_maker_consume_reply(&makers[to], r, WG_MSG_COOKIE_REPLY_LEN,
								now),
				     COOKIE_OK);
			memcpy(nonces[replies], r + 8, 24);
			replies++;
		}
		n.dev->tx_used = 0; /* no socket: taken here instead of sent */
		pthread_rwlock_unlock(&n.dev->cfg_lock);
		CHECK(round < DEVICE_HANDSHAKE_QUEUE / B + 1);
	}
	st = stats(&n);
	CHECK_EQ_U64(replies, DEVICE_HANDSHAKE_QUEUE);
	CHECK_EQ_U64(st.cookie_replies_sent, DEVICE_HANDSHAKE_QUEUE);
	CHECK_EQ_U64(st.under_load_batches, DEVICE_HANDSHAKE_QUEUE);
	CHECK_EQ_U64(st.rx_ratelimited, 0); /* one message per source */
	CHECK_EQ_U64(st.rng_error, 0);
	/* 1024 nonces + the cookie secret = 24,608 bytes: 7 draws of 4096, not 1025 calls. */
	CHECK_EQ_U64(n.source_calls - calls0,
		     (DEVICE_HANDSHAKE_QUEUE * 24 + 32 + DEVICE_NONCE_POOL - 1) / DEVICE_NONCE_POOL);
	for (unsigned i = 0; i < replies; i++)
		for (unsigned j = 0; j < i; j++)
			if (memcmp(nonces[i], nonces[j], 24) == 0)
				CHECK_MSG(false, "nonce %u repeats nonce %u", i, j);
	node_free(&n);
}

/* The same with maker m as it is (its cookie kept): mac2 made with that cookie if it has one. */
static void make_init_keep(cookie_maker *m, uint8_t msg[WG_MSG_INITIATION_LEN], uint32_t sender,
			   wg_time_ns now)
{
	memset(msg, 0, WG_MSG_INITIATION_LEN);
	msg[0] = WG_MSG_INITIATION;
	wg_le32_write(msg + 4, sender);
	for (int k = 8; k < 116; k++)
		msg[k] = (uint8_t)(k * 13 + sender);
	CHECK_EQ_INT(cookie_maker_add_macs(m, msg, WG_MSG_INITIATION_LEN, now), COOKIE_OK);
}

/* Under load, the kernel's and wireguard-go's order: mac1 first (bad ones get nothing), then
 * mac2 (every cookie-less message gets a cookie reply), and only messages with a valid mac2
 * meet the per-source rate limiter. So cookie-less messages from a source, e.g. a spoofer
 * using a peer's address, never spend that source's tokens: the peer's next message, with
 * the cookie it received at that address, still reaches the Noise step (before the fix the
 * limiter came first and the spoofer's burst starved it). Not under load: no cookie, the
 * message goes to the Noise step (which rejects this garbage as undecryptable). */
static void test_order_of_checks(void)
{
	uint8_t msg[WG_MSG_INITIATION_LEN];
	wg_time_ns now = io_now();
	cookie_maker m;
	wg_endpoint e;
	device_stats st;
	node n;

	node_init(&n);
	src4(&e, 7);
	make_init(&n, &m, msg, 1, now);
	device_handshake_enqueue(n.dev, msg, sizeof(msg), &e, NULL, now);
	CHECK_EQ_U64(run(&n, now, 1), 0);
	st = stats(&n);
	CHECK_EQ_U64(st.rx_decrypt, 1);
	CHECK_EQ_U64(st.cookie_replies_sent + st.under_load_batches + n.dev->tx_used, 0);

	n.dev->under_load_until = now + DEVICE_UNDER_LOAD_TIME;
	msg[116] ^= 1; /* mac1 broken */
	for (int i = 0; i < 20; i++)
		device_handshake_enqueue(n.dev, msg, sizeof(msg), &e, NULL, now);
	CHECK_EQ_U64(run(&n, now, 100), 0);
	st = stats(&n);
	CHECK_EQ_U64(st.rx_mac, 20);
	CHECK_EQ_U64(st.rx_ratelimited + st.cookie_replies_sent + n.dev->tx_used, 0);
	msg[116] ^= 1;
	/* 20 cookie-less messages from one address (4x the burst): every one is answered. */
	for (int i = 0; i < 20; i++)
		device_handshake_enqueue(n.dev, msg, sizeof(msg), &e, NULL, now);
	CHECK_EQ_U64(run(&n, now, 100), 0);
	st = stats(&n);
	CHECK_EQ_U64(st.cookie_replies_sent, 20);
	CHECK_EQ_U64(n.dev->tx_used, 20);
	CHECK_EQ_U64(st.rx_ratelimited, 0);
	CHECK_EQ_U64(st.rx_decrypt, 1);
	/* The owner of the address takes the cookie from the last reply (m made that message). */
	if (n.dev->tx_used == 20)
		CHECK_EQ_INT(cookie_maker_consume_reply(&m, n.dev->tx.iov[19].iov_base,
							WG_MSG_COOKIE_REPLY_LEN, now),
			     COOKIE_OK);
	n.dev->tx_used = 0;
	/* Its messages with that cookie: past the limiter, up to its burst, into the Noise step. */
	for (int i = 0; i < 20; i++) {
		make_init_keep(&m, msg, 100 + (uint32_t)i, now);
		device_handshake_enqueue(n.dev, msg, sizeof(msg), &e, NULL, now);
	}
	CHECK_EQ_U64(run(&n, now, 100), 0);
	st = stats(&n);
	CHECK_EQ_U64(st.rx_decrypt, 1 + WG_RATELIMITER_BURST);
	CHECK_EQ_U64(st.rx_ratelimited, 20 - WG_RATELIMITER_BURST);
	CHECK_EQ_U64(st.cookie_replies_sent, 20);
	CHECK_EQ_U64(n.dev->tx_used, 0);
	node_free(&n);
}

/* Under load lasts DEVICE_UNDER_LOAD_TIME (1 s) after the queue last reached its threshold:
 * a cookie-less message 1 ns before the end gets a cookie reply, one at the end goes to the
 * Noise step (mac2 ignored again). */
static void test_under_load_ends(void)
{
	uint8_t msg[WG_MSG_INITIATION_LEN];
	wg_time_ns t = io_now();
	cookie_maker m;
	wg_endpoint e;
	device_stats st;
	node n;

	node_init(&n);
	src4(&e, 9);
	make_init(&n, &m, msg, 1, t);
	for (unsigned i = 0; i <= DEVICE_UNDER_LOAD_THRESHOLD; i++)
		device_handshake_enqueue(n.dev, msg, sizeof(msg), &e, NULL, t);
	CHECK_EQ_U64(n.dev->under_load_until, t + DEVICE_UNDER_LOAD_TIME);
	/* All but one taken under load at t (all answered), the last one 1 ns before the end. */
	CHECK_EQ_U64(run(&n, t, DEVICE_UNDER_LOAD_THRESHOLD), 1);
	CHECK_EQ_U64(run(&n, t + DEVICE_UNDER_LOAD_TIME - 1, 1), 0);
	st = stats(&n);
	CHECK_EQ_U64(st.cookie_replies_sent, DEVICE_UNDER_LOAD_THRESHOLD + 1);
	CHECK_EQ_U64(st.rx_decrypt, 0);
	n.dev->tx_used = 0;
	/* At the end: no longer under load, whatever the queue held before. */
	device_handshake_enqueue(n.dev, msg, sizeof(msg), &e, NULL, t + DEVICE_UNDER_LOAD_TIME);
	CHECK_EQ_U64(run(&n, t + DEVICE_UNDER_LOAD_TIME, 1), 0);
	st = stats(&n);
	CHECK_EQ_U64(st.cookie_replies_sent, DEVICE_UNDER_LOAD_THRESHOLD + 1);
	CHECK_EQ_U64(st.under_load_batches, DEVICE_UNDER_LOAD_THRESHOLD + 1);
	CHECK_EQ_U64(st.rx_decrypt, 1);
	CHECK_EQ_U64(n.dev->tx_used, 0);
	node_free(&n);
}

/* A failing random source: cookie replies (secret, then nonces), receiver indices and the
 * tunnel's handshake all fail, counted in rng_error and logged; nothing is queued to send.
 * Once the source works again, replies resume. */
static void test_rng_failure(void)
{
	uint8_t msg[WG_MSG_INITIATION_LEN], pk[32];
	wg_time_ns now = io_now();
	cookie_maker m;
	wg_endpoint e;
	device_stats st;
	wg_index_ops ops;
	uint32_t idx;
	peer *p;
	node n;

	node_init(&n);
	n.dev->under_load_until = now + DEVICE_UNDER_LOAD_TIME;
	n.source_fails = true;
	for (unsigned i = 0; i < 8; i++) {
		src4(&e, i);
		make_init(&n, &m, msg, i, now);
		device_handshake_enqueue(n.dev, msg, sizeof(msg), &e, NULL, now);
	}
	CHECK_EQ_U64(run(&n, now, 100), 0);
	st = stats(&n);
	CHECK_EQ_U64(st.cookie_replies_sent, 0);
	CHECK_EQ_U64(n.dev->tx_used, 0);
	CHECK_EQ_U64(st.rng_error, 8); /* each message's cookie secret draw failed */
	CHECK(n.rng_logs >= 1 && n.rng_logs <= 4); /* logged 1st, 2nd, 4th, 8th */

	/* A receiver index cannot be drawn: the allocation fails (no fixed fallback index). */
	memset(pk, 0x33, sizeof(pk));
	p = device_peer_new(n.dev, pk, now);
	CHECK(p != NULL);
	if (p) {
		uint8_t out[256];
		size_t len = 0;
		uint64_t before = stats(&n).rng_error;

		ops = device_index_ops(p);
		CHECK_EQ_INT(ops.alloc(ops.ctx, p->tun, &idx), -1);
		CHECK_EQ_U64(stats(&n).handshake_no_index, 1);
		/* The peer's tunnel cannot start a handshake: no index, no ephemeral key. */
		CHECK(wg_tunnel_force_handshake(p->tun, now, out, sizeof(out), &len) !=
		      WG_TUN_WRITE_NETWORK);
		CHECK(stats(&n).rng_error > before);
		device_peer_destroy(p);
	}

	/* The source heals: the next message is answered. */
	n.source_fails = false;
	src4(&e, 100);
	make_init(&n, &m, msg, 100, now);
	device_handshake_enqueue(n.dev, msg, sizeof(msg), &e, NULL, now);
	CHECK_EQ_U64(run(&n, now, 1), 0);
	CHECK_EQ_U64(stats(&n).cookie_replies_sent, 1);
	CHECK_EQ_U64(n.dev->tx_used, 1);
	n.dev->tx_used = 0;
	node_free(&n);
}

static int fail_fill(void *ctx, void *out, size_t n)
{
	(void)ctx;
	memset(out, 0xaa, n);
	return -1;
}

/* The protocol core with a failing RNG: no operation goes on with unfilled bytes. */
static void test_proto_rng_failure(void)
{
	const wg_rng bad = {fail_fill, NULL};
	uint8_t priv[32], pub[32], peer_priv[32], peer_pub[32], msg[WG_MSG_INITIATION_LEN];
	const uint8_t zero[32] = {0};
	wg_identity id;
	cookie_checker ck;
	cookie_maker m;
	wg_msg_cookie_reply reply;
	noise_handshake hs;
	wg_msg_initiation init;
	bool made = true;
	uint8_t addr[4] = {10, 0, 0, 1};

	CHECK(crypto_x25519_generate(priv, pub) == 0);
	CHECK(crypto_x25519_generate(peer_priv, peer_pub) == 0);
	memset(&id, 0, sizeof(id));
	CHECK_EQ_INT(wg_identity_set(&id, priv), 0);
	cookie_checker_init(&ck, &id);
	memset(msg, 0, sizeof(msg));
	msg[0] = WG_MSG_INITIATION;
	cookie_maker_init(&m, pub);
	CHECK_EQ_INT(cookie_maker_add_macs(&m, msg, sizeof(msg), 1), COOKIE_OK);

	memset(&reply, 0x55, sizeof(reply));
	CHECK_EQ_INT(cookie_checker_create_reply(&ck, msg, sizeof(msg), addr, 4, 1, 1, &bad,
						 &reply),
		     COOKIE_ERR_RNG);
	CHECK_EQ_INT(cookie_checker_mac2_or_reply(&ck, msg, sizeof(msg), addr, 4, 1, 1, &bad,
						  &reply, &made),
		     COOKIE_ERR_RNG);
	CHECK(!made);
	CHECK(!ck.has_secret);
	CHECK(!cookie_checker_mac2_valid(&ck, msg, sizeof(msg), addr, 4, 1, 1, &bad));

	CHECK(ratelimiter_new(&bad, 64) == NULL);

	CHECK_EQ_INT(noise_handshake_init(&hs, &id, peer_pub, NULL, NULL), NOISE_OK);
	memset(&init, 0, sizeof(init));
	CHECK(noise_create_initiation(&hs, 1, &bad, 7, &init) != NOISE_OK);
	/* Nothing of a would-be ephemeral key (or the failing source's 0xaa fill) went out. */
	CHECK_MEM(init.ephemeral, zero, sizeof(init.ephemeral));
	noise_handshake_wipe(&hs);
	cookie_checker_wipe(&ck);
	wg_identity_clear(&id);
	crypto_wipe(priv, sizeof(priv));
	crypto_wipe(peer_priv, sizeof(peer_priv));
}


static unsigned filter_len(int fd)
{
	struct sock_filter f[1024];
	socklen_t len = sizeof(f) / sizeof(f[0]);

	CHECK(getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, f, &len) == 0);
	return (unsigned)len;
}

static int sender4(const char *ip)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	inet_pton(AF_INET, ip, &a.sin_addr);
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	return fd;
}

/* Sends count datagrams (first byte type, len bytes) from fd to port on 127.0.0.1 and
 * receives what the filter lets through on rfd: returns how many arrived. */
static unsigned through(int fd, int rfd, uint16_t port, uint8_t type, size_t len,
			unsigned count)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
	uint8_t m[WG_MSG_INITIATION_LEN], buf[2048];
	unsigned got = 0;

	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memset(m, 0, sizeof(m));
	m[0] = type;
	for (unsigned i = 0; i < count; i++) {
		CHECK(sendto(fd, m, len, 0, (struct sockaddr *)&to, sizeof(to)) == (ssize_t)len);
		if (i % 64 == 63 || i + 1 == count) {
			usleep(i + 1 == count ? 2000 : 200);
			while (recv(rfd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
				got++;
		}
	}
	return got;
}

/* One DEVICE_SHED_PERIOD of socket 0 with these counts, then its judgement at the period's end. */
static void shed_period(node *n, wg_time_ns *t, uint32_t in, uint32_t useful, uint32_t handled,
			uint32_t overflow)
{
	n->dev->shed[0].in = in;
	n->dev->shed[0].useful = useful;
	n->dev->shed[0].handled = handled;
	n->dev->shed[0].overflow = overflow;
	*t += DEVICE_SHED_PERIOD;
	device_shed_update(n->dev, *t);
}

static void test_shed(void)
{
	enum { N = 1000 };
	uint8_t msg[WG_MSG_INITIATION_LEN];
	wg_time_ns now = io_now(), t;
	wg_peer_change pc;
	wg_config_change c;
	cookie_maker m;
	device_stats st;
	udp_bind b;
	unsigned from1, from2, data, from1_quarter, sets;
	wg_endpoint peer_src;
	int s1, s2, pipefd[2];
	node n;

	node_init(&n);
	/* A peer whose endpoint (127.0.0.2) the filter always passes. */
	memset(&pc, 0, sizeof(pc));
	CHECK(crypto_x25519_generate(msg, pc.public_key) == 0);
	pc.has_endpoint = true;
	pc.endpoint.in4.sin_family = AF_INET;
	pc.endpoint.in4.sin_port = htons(5555);
	inet_pton(AF_INET, "127.0.0.2", &pc.endpoint.in4.sin_addr);
	memset(&c, 0, sizeof(c));
	c.n_peers = 1;
	c.peers = &pc;
	CHECK_EQ_INT(device_apply(n.dev, &c), 0);
	udp_bind_init(&b);
	CHECK_EQ_INT(udp_bind_open(&b, 0, 0, true, NULL, NULL), 0);
	CHECK(b.fd4 >= 0);
	n.dev->bind.fd4 = b.fd4; /* the loop is not running: the test plays its rounds */
	n.dev->bind.fd6 = b.fd6; /* -1 on a host without IPv6 */
	s1 = sender4("127.0.0.1");
	s2 = sender4("127.0.0.2");

	/* Idle: nothing attached, nothing counted. */
	device_shed_update(n.dev, now);
	CHECK_EQ_INT(filter_len(b.fd4), 0);
	CHECK_EQ_U64(device_shed_deadline(n.dev), WG_TIME_NEVER);

	/* The queue's depth puts the device under load: attached at the floor. */
	for (unsigned i = 0; i <= DEVICE_UNDER_LOAD_THRESHOLD; i++) {
		wg_endpoint e;
		src4(&e, i);
		make_init(&n, &m, msg, i, now);
		device_handshake_enqueue(n.dev, msg, sizeof(msg), &e, NULL, now);
	}
	CHECK(now < n.dev->under_load_until);
	device_shed_update(n.dev, now);
	st = stats(&n);
	/* The loop wakes when this socket's load ends, to remove it. */
	CHECK_EQ_U64(device_shed_deadline(n.dev), now + DEVICE_UNDER_LOAD_TIME);
	CHECK(filter_len(b.fd4) > 0);
	/* The flood came in over IPv4 only: the IPv6 socket stays unfiltered. */
	CHECK(!n.dev->shed[1].on);
	if (b.fd6 >= 0)
		CHECK_EQ_INT(filter_len(b.fd6), 0);
	CHECK_EQ_U64(st.shed_filter_set, 1);
	CHECK_EQ_INT(n.dev->shed[0].steps, DEVICE_SHED_MIN_STEPS);
	CHECK_EQ_INT(n.dev->shed[0].nallow, 1);
	device_shed_update(n.dev, now + WG_MS(1)); /* within the period: nothing */
	CHECK_EQ_U64(stats(&n).shed_filter_set, 1);

	/* Through the filter: data always, the peer's endpoint always, others at about 1/4. */
	data = through(s1, b.fd4, b.port, WG_MSG_DATA, 64, N);
	from2 = through(s2, b.fd4, b.port, WG_MSG_INITIATION, WG_MSG_INITIATION_LEN, N);
	from1 = through(s1, b.fd4, b.port, WG_MSG_INITIATION, WG_MSG_INITIATION_LEN, N);
	CHECK_EQ_INT(data, N);
	CHECK_EQ_INT(from2, N);
	CHECK_MSG(from1 > N / 4 - 80 && from1 < N / 4 + 80, "%u of %u passed at p = 1/4", from1, N);
	from1_quarter = from1;

	/* The period ends: the kernel's drops are counted and keep the load on (the queue is
	 * no longer deep); p rises with what passed the rate limiter (2 x 1000 / 1750: top). */
	n.dev->shed[0].in = N;
	n.dev->shed[0].useful = N;
	t = now + DEVICE_SHED_PERIOD;
	device_shed_update(n.dev, t);
	st = stats(&n);
	CHECK_EQ_U64(st.kernel_shed, N - from1);
	CHECK_EQ_U64(n.dev->under_load_until, t + DEVICE_UNDER_LOAD_TIME);
	CHECK_EQ_U64(n.dev->shed[0].loaded_until, t + DEVICE_UNDER_LOAD_TIME);
	CHECK_EQ_INT(n.dev->shed[0].steps, DEVICE_SHED_TOP_STEPS);
	CHECK_EQ_U64(st.shed_filter_set, 2);
	/* Little useful work: p falls to the floor; the same figures again: not re-attached. */
	for (int k = 0; k < 2; k++) {
		n.dev->shed[0].in = N;
		n.dev->shed[0].useful = 10;
		t += DEVICE_SHED_PERIOD;
		device_shed_update(n.dev, t);
		CHECK_EQ_INT(n.dev->shed[0].steps, DEVICE_SHED_MIN_STEPS);
		CHECK_EQ_U64(stats(&n).shed_filter_set, 3);
	}
	sets = 3;

	/* With the filter on, the queue's last DEVICE_HANDSHAKE_RESERVE entries are for the
	 * always-pass sources: strangers are dropped (and counted as overflow) before that. */
	(void)device_handshake_drop_all(n.dev); /* the first phase's messages */
	for (unsigned i = 0; i < DEVICE_HANDSHAKE_QUEUE; i++) {
		wg_endpoint e;
		src4(&e, i);
		make_init(&n, &m, msg, i, t);
		device_handshake_enqueue(n.dev, msg, sizeof(msg), &e, NULL, t);
	}
	CHECK_EQ_U64(device_handshake_pending(n.dev),
		     DEVICE_HANDSHAKE_QUEUE - DEVICE_HANDSHAKE_RESERVE);
	CHECK_EQ_U64(n.dev->shed[0].overflow, DEVICE_HANDSHAKE_RESERVE);
	CHECK_EQ_U64(n.dev->shed[0].in, DEVICE_HANDSHAKE_QUEUE);
	memset(&peer_src, 0, sizeof(peer_src));
	peer_src.in4.sin_family = AF_INET;
	peer_src.in4.sin_port = htons(5555);
	inet_pton(AF_INET, "127.0.0.2", &peer_src.in4.sin_addr);
	CHECK(device_shed_allowed(n.dev, &peer_src));
	for (unsigned i = 0; i <= DEVICE_HANDSHAKE_RESERVE; i++)
		device_handshake_enqueue(n.dev, msg, sizeof(msg), &peer_src, NULL, t);
	/* The peer's endpoint fills the reserve; only the full queue drops it. */
	CHECK_EQ_U64(device_handshake_pending(n.dev), DEVICE_HANDSHAKE_QUEUE);
	CHECK_EQ_U64(n.dev->shed[0].overflow, DEVICE_HANDSHAKE_RESERVE + 1);
	/* What the loop handles is counted per socket. */
	CHECK_EQ_U64(run(&n, t, DEVICE_HANDSHAKE_BUDGET),
		     DEVICE_HANDSHAKE_QUEUE - DEVICE_HANDSHAKE_BUDGET);
	CHECK_EQ_U64(n.dev->shed[0].handled, DEVICE_HANDSHAKE_BUDGET);
	n.dev->tx_used = 0; /* the cookie replies: no socket to send them on here */
	(void)device_handshake_drop_all(n.dev);

	/* Below the floor only while the queue overflows: p = 2 x handled / arrived
	 * (2 x 50 / 1000 = 25.6, up: 26/256), not replaced while that stays the same. */
	for (int k = 0; k < 2; k++) {
		shed_period(&n, &t, N, 10, 50, 500);
		CHECK_EQ_INT(n.dev->shed[0].steps, 26);
		CHECK_EQ_U64(stats(&n).shed_filter_set, sets + 1);
	}
	sets++;
	/* The kernel applies it: strangers pass at 26/256 (mean 102, sd 9.5), the peer's
	 * endpoint always. */
	from1 = through(s1, b.fd4, b.port, WG_MSG_INITIATION, WG_MSG_INITIATION_LEN, N);
	CHECK_MSG(from1 > 102 - 48 && from1 < 102 + 48, "%u of %u passed at p = 26/256", from1, N);
	CHECK_EQ_INT(through(s2, b.fd4, b.port, WG_MSG_INITIATION, WG_MSG_INITIATION_LEN, 200),
		     200);
	/* The lower bound: the loop handled almost nothing (a stalled period). */
	shed_period(&n, &t, N, 0, 1, 1);
	st = stats(&n);
	CHECK_EQ_U64(st.kernel_shed, N - from1 + (N - from1_quarter));
	CHECK_EQ_INT(n.dev->shed[0].steps, DEVICE_SHED_OVER_MIN_STEPS);
	CHECK_EQ_U64(st.shed_filter_set, ++sets);
	/* The queue no longer overflows: back to the floor. */
	shed_period(&n, &t, N, 10, 100, 0);
	CHECK_EQ_INT(n.dev->shed[0].steps, DEVICE_SHED_MIN_STEPS);
	CHECK_EQ_U64(stats(&n).shed_filter_set, ++sets);
	/* Overflowing, but the loop's share is above the floor: p never rises by it. */
	shed_period(&n, &t, N, 10, 900, 10);
	CHECK_EQ_INT(n.dev->shed[0].steps, DEVICE_SHED_MIN_STEPS);
	CHECK_EQ_U64(stats(&n).shed_filter_set, sets);

	/* Nothing shed any more: the load ends 1 s after it was last extended; removed. */
	t = n.dev->shed[0].loaded_until;
	device_shed_update(n.dev, t - 1); /* a period with nothing at all: p to the top */
	CHECK(n.dev->shed[0].on);
	CHECK_EQ_INT(n.dev->shed[0].steps, DEVICE_SHED_TOP_STEPS);
	CHECK_EQ_U64(stats(&n).shed_filter_set, ++sets);
	device_shed_update(n.dev, t);
	st = stats(&n);
	CHECK_EQ_U64(device_shed_deadline(n.dev), WG_TIME_NEVER);
	CHECK_EQ_INT(filter_len(b.fd4), 0);
	CHECK_EQ_U64(st.shed_filter_cleared, 1);
	CHECK_EQ_U64(st.shed_filter_error, 0);
	CHECK_EQ_INT(through(s1, b.fd4, b.port, WG_MSG_INITIATION, WG_MSG_INITIATION_LEN, 100),
		     100);
	device_shed_update(n.dev, t + WG_SEC(10)); /* idle: nothing */
	CHECK_EQ_U64(stats(&n).shed_filter_set, sets);

	/* setsockopt fails (not a socket): counted once, the device runs unfiltered. */
	CHECK(pipe(pipefd) == 0);
	n.dev->bind.fd4 = pipefd[0];
	t += WG_SEC(20);
	n.dev->under_load_until = n.dev->shed[0].loaded_until = t + DEVICE_UNDER_LOAD_TIME;
	device_shed_update(n.dev, t);
	device_shed_update(n.dev, t + DEVICE_SHED_PERIOD);
	st = stats(&n);
	CHECK_EQ_U64(st.shed_filter_error, 1);
	CHECK_EQ_U64(device_shed_deadline(n.dev), WG_TIME_NEVER);
	device_shed_update(n.dev, t + DEVICE_UNDER_LOAD_TIME); /* load over: tries next time */
	CHECK(!n.dev->shed[0].failed);
	CHECK_EQ_U64(stats(&n).shed_filter_error, 1);

	n.dev->bind.fd4 = -1;
	close(pipefd[0]);
	close(pipefd[1]);
	close(s1);
	close(s2);
	udp_bind_close(&b);
	node_free(&n);
}

int main(void)
{
	test_queue_and_replies();
	test_order_of_checks();
	test_under_load_ends();
	test_rng_failure();
	test_proto_rng_failure();
	test_shed();
	return test_finish("handshake");
}
