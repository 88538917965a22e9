/* The inbound handshake path (loop thread, config lock held shared).
 *
 * The receive batch only copies handshake messages (types 1 and 2) into a bounded queue; data
 * messages are handled at once, so a flood of initiations never delays them. After the round's
 * receive work the loop takes at most DEVICE_HANDSHAKE_BUDGET messages off the queue (while a
 * shedding filter is on, its last DEVICE_HANDSHAKE_RESERVE entries are kept for the filter's
 * always-pass sources, the configured peers' endpoints). Under
 * load (queue depth reached DEVICE_UNDER_LOAD_THRESHOLD within the last
 * DEVICE_UNDER_LOAD_TIME, the kernel's and wireguard-go's rule) each message passes, in their
 * order: mac1, mac2 (a cookie reply when it is missing), then the per-source rate limiter;
 * only then the Noise work (one X25519 for the anonymous step, then the peer's tunnel).
 * Cookie replies go into the round's send batch (one sendmmsg); their nonces come from a
 * random pool refilled in DEVICE_NONCE_POOL-byte draws instead of one RNG call each. */
#define _GNU_SOURCE
#include "device/device_impl.h"

#include "crypto/crypto.h"
#include "proto/messages.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int device_handshake_init(device *dev)
{
	/* calloc: pages are touched only as deep as the queue ever gets (a flood fills it). */
	dev->hsq.ring = calloc(DEVICE_HANDSHAKE_QUEUE, sizeof(*dev->hsq.ring));
	return dev->hsq.ring ? 0 : -ENOMEM;
}

void device_handshake_free(device *dev)
{
	if (dev->hsq.ring)
		crypto_wipe(dev->hsq.ring, DEVICE_HANDSHAKE_QUEUE * sizeof(*dev->hsq.ring));
	free(dev->hsq.ring);
	dev->hsq.ring = NULL;
	dev->hsq.head = dev->hsq.count = 0;
	crypto_wipe(dev->hsq.pool, sizeof(dev->hsq.pool));
	dev->hsq.pool_left = 0;
}

unsigned device_handshake_pending(const device *dev)
{
	return dev->hsq.count;
}

void device_handshake_enqueue(device *dev, const uint8_t *msg, size_t len,
			      const wg_endpoint *src, const udp_src *local, wg_time_ns now)
{
	device_hs_queue *q = &dev->hsq;
	device_hs_msg *m;
	device_shed *s = &dev->shed[device_shed_index(src)];

	s->in++; /* shed.c: what arrived on this socket */
	if (len > sizeof(m->msg)) { /* the caller classified it: cannot happen */
		DEVICE_STAT_INC(dev, rx_malformed);
		return;
	}
	if (q->count >= DEVICE_UNDER_LOAD_THRESHOLD)
		dev->under_load_until = s->loaded_until = now + DEVICE_UNDER_LOAD_TIME;
	/* Drop newest: what is queued was paid for (copied) already. With a filter on, the
	 * reserve is for its always-pass sources (the check only runs when nearly full). */
	if (q->count == DEVICE_HANDSHAKE_QUEUE ||
	    (s->on && q->count >= DEVICE_HANDSHAKE_QUEUE - DEVICE_HANDSHAKE_RESERVE &&
	     !device_shed_allowed(dev, src))) {
		DEVICE_STAT_INC(dev, rx_handshake_queue_full);
		s->overflow++; /* shed.c: intake above what the loop handles */
		return;
	}
	m = &q->ring[(q->head + q->count) % DEVICE_HANDSHAKE_QUEUE];
	if ((unsigned)(m - q->ring) >= dev->mem_hsq_hwm) {
		dev->mem_hsq_hwm = (unsigned)(m - q->ring) + 1; /* entries touched (datapath.c) */
		if (dev->mem_hsq_hwm > DEVICE_MEM_FLOOR_SLOTS)
			dev->mem_busy_round = true;
	}
	memcpy(m->msg, msg, len);
	m->len = (uint16_t)len;
	m->src = *src;
	if (local)
		m->local = *local;
	else
		memset(&m->local, 0, sizeof(m->local));
	q->count++;
}

/* wg_rng fill from the pool: n bytes (n <= the pool), each handed out once and wiped from the
 * pool. A failed refill fails the draw (the caller's operation), never hands out stale bytes. */
static int pool_fill(void *ctx, void *out, size_t n)
{
	device *dev = ctx;
	device_hs_queue *q = &dev->hsq;
	uint8_t *from;

	if (n > sizeof(q->pool))
		return wg_rng_fill(&dev->rng, out, n);
	if (q->pool_left < n) {
		if (wg_rng_fill(&dev->rng, q->pool, sizeof(q->pool)) != 0) {
			q->pool_left = 0;
			return -1;
		}
		q->pool_left = sizeof(q->pool);
	}
	from = q->pool + sizeof(q->pool) - q->pool_left;
	memcpy(out, from, n);
	crypto_wipe(from, n);
	q->pool_left -= n;
	return 0;
}

static size_t endpoint_ip(const wg_endpoint *e, const uint8_t **addr, uint16_t *port)
{
	if (e->sa.sa_family == AF_INET) {
		*addr = (const uint8_t *)&e->in4.sin_addr;
		*port = ntohs(e->in4.sin_port);
		return 4;
	}
	*addr = (const uint8_t *)&e->in6.sin6_addr;
	*port = ntohs(e->in6.sin6_port);
	return 16;
}

/* The under-load shield, in the kernel's and wireguard-go's order: mac1, then mac2 (a missing
 * one is answered with a cookie reply, always), then the per-source rate limiter. Only messages
 * with a valid mac2 spend the limiter's tokens: their source is proven, so a spoofer who knows
 * our public key cannot drain a peer's bucket with cookie-less messages from its address.
 * true = go on to the Noise work. */
static bool handshake_admit(device *dev, const device_hs_msg *m, wg_time_ns now)
{
	const wg_rng pool = {pool_fill, dev};
	const uint8_t *addr;
	uint16_t port;
	size_t alen = endpoint_ip(&m->src, &addr, &port);
	int family = m->src.sa.sa_family == AF_INET ? AF_INET : AF_INET6;
	device_shed *s = &dev->shed[device_shed_index(&m->src)];
	bool reply = false;
	uint8_t *slot;
	cookie_result r;

	if (now >= dev->under_load_until)
		return true; /* the tunnel checks mac1 before its DH; mac2 is ignored unloaded */
	DEVICE_STAT_INC(dev, under_load_batches);
	if (!cookie_checker_mac1_valid(&dev->cookies, m->msg, m->len)) {
		DEVICE_STAT_INC(dev, rx_mac);
		return false;
	}
	slot = device_tx_slot(dev);
	r = cookie_checker_mac2_or_reply(&dev->cookies, m->msg, m->len, addr, alen, port, now,
					 &pool, (wg_msg_cookie_reply *)slot, &reply);
	if (r == COOKIE_ERR_RNG)
		return false; /* counted and logged by the device's RNG; nothing sent */
	if (r != COOKIE_OK) {
		device_count_tunnel_error(dev, (wg_tun_result)r);
		return false;
	}
	if (reply) {
		/* shed.c's estimate keeps its meaning (what a source within 20/s sends); this
		 * limiter decides nothing else. */
		if (ratelimiter_allow(dev->reply_limiter, now, family, addr))
			s->useful++;
		if (device_tx_queue(dev, slot, WG_MSG_COOKIE_REPLY_LEN, &m->src, &m->local))
			DEVICE_STAT_INC(dev, cookie_replies_sent);
		return false;
	}
	if (!ratelimiter_allow(dev->limiter, now, family, addr)) {
		DEVICE_STAT_INC(dev, rx_ratelimited);
		return false;
	}
	s->useful++;
	return true;
}

static void handshake_one(device *dev, device_hs_msg *m, wg_time_ns now)
{
	wg_tunnel_initiation prep; /* secrets: wiped on every path */
	uint8_t *buf = m->msg;
	size_t len = m->len;
	wg_tun_result r;
	peer *p;

	if (!handshake_admit(dev, m, now))
		return;
	if (wg_msg_classify(buf, len) == WG_MSG_INITIATION) {
		/* The anonymous step (one X25519) runs once: the peer's tunnel reuses it. */
		r = wg_tunnel_initiation_prepare(&dev->identity, buf, len, &prep);
		if (r != WG_TUN_DONE) {
			wg_tunnel_initiation_wipe(&prep);
			device_count_tunnel_error(dev, r);
			return;
		}
		p = device_peer_find(dev, prep.in.remote_static);
		if (!p) {
			wg_tunnel_initiation_wipe(&prep);
			DEVICE_STAT_INC(dev, rx_unknown_peer);
			return;
		}
		device_peer_receive(dev, p, buf, len, &prep, &m->src, &m->local, now);
		wg_tunnel_initiation_wipe(&prep); /* already wiped by the tunnel; cheap */
		return;
	}
	p = device_index_lookup(dev, wg_le32_read(buf + WG_RESP_OFF_RECEIVER));
	if (!p) {
		DEVICE_STAT_INC(dev, rx_no_session);
		return;
	}
	device_peer_receive(dev, p, buf, len, NULL, &m->src, &m->local, now);
}

unsigned device_handshake_run(device *dev, wg_time_ns now, unsigned budget)
{
	device_hs_queue *q = &dev->hsq;

	while (q->count && budget--) {
		device_hs_msg *m = &q->ring[q->head];

		handshake_one(dev, m, now);
		dev->shed[device_shed_index(&m->src)].handled++; /* shed.c */
		q->head = (q->head + 1) % DEVICE_HANDSHAKE_QUEUE;
		q->count--;
	}
	/* Empty: start over at entry 0, so a trickle of handshakes keeps touching one entry
	 * instead of walking the whole ring's pages over the days. */
	if (!q->count)
		q->head = 0;
	return q->count;
}

size_t device_handshake_give_back(device *dev)
{
	device_hs_queue *q = &dev->hsq;

	if (q->count) /* queued messages live there (cannot happen when idle: kept) */
		return 0;
	return device_mem_give_back(dev, q->ring, (size_t)dev->mem_hsq_hwm * sizeof(*q->ring));
}

unsigned device_handshake_drop_all(device *dev)
{
	device_hs_queue *q = &dev->hsq;
	unsigned n = q->count;

	q->head = q->count = 0;
	return n;
}
