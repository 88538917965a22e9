/* Shared by the device-level fuzz harnesses (fuzz_device.c, fuzz_device_tun.c).
 *
 * It compiles the device's datapath.c into the harness (#include below) so the harness can
 * call the loop's per-datagram functions (rx_datagram, rx_finish,
 * tun_packet, the seal barrier of device_tx_flush) directly, single-threaded
 * and without sockets: the archive's datapath.o is then not linked (every symbol it defines is
 * already defined here). The device is made with device_new, configured with device_apply,
 * but never started: what it would send is taken out of its transmit queue (dev->tx) before
 * any flush, and what it writes to the TUN arrives on the other end of a socketpair.
 *
 * The harness-side peer "A" is a sans-I/O wg_tunnel with its own static key, so the fuzzer
 * can send genuine initiations, responses (to the device's initiations), cookie-driven
 * retries and data packets, and mutate them after the MACs were computed (or recompute mac1).
 * Randomness and the wall clock of both sides are deterministic (seeded per input). */
#ifndef WGTUN_FUZZ_DEVICE_HARNESS_H
#define WGTUN_FUZZ_DEVICE_HARNESS_H

#include "../../src/device/datapath.c"

#include "crypto/crypto.h"
#include "fuzz_lcg.h"
#include "io/linux/loop.h"
#include "tunpair.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHECK_OR_TRAP(c)                                                                   \
	do {                                                                               \
		if (!(c)) {                                                                \
			fprintf(stderr, "invariant failed: %s (line %d)\n", #c, __LINE__); \
			__builtin_trap();                                                  \
		}                                                                          \
	} while (0)

#define FH_QLEN 16      /* datagrams held per direction; more are dropped (a lossy network) */
#define FH_MAXDGRAM 2048 /* longest datagram kept in a queue */

typedef struct {
	size_t len;
	uint8_t data[FH_MAXDGRAM];
} fh_dgram;

typedef struct {
	fh_dgram q[FH_QLEN];
	unsigned head, count;
} fh_queue;

typedef struct {
	device *dev;
	int tun_app;       /* our end of the device's "TUN" */
	wg_identity id_a;  /* the harness peer */
	wg_identity id_d;  /* the device's identity (mac1 key for recomputing MACs) */
	wg_tunnel *a;
	fuzz_lcg rng_a, rng_d;
	wg_time_ns now;    /* the virtual monotonic clock both sides see */
	wg_time_ns base;
	wg_endpoint ep_a;  /* where A "lives" */
	wg_endpoint ep_c;  /* the passive second peer's endpoint (its traffic is discarded) */
	fh_queue to_dev, to_a;
	fh_dgram last;     /* the last datagram handed to the device (for replays) */
	uint64_t tun_packets; /* packets the device wrote to the TUN */
} fh;

static const uint8_t fh_priv_d[32] = {0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
				      16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 0x31};
static const uint8_t fh_priv_a[32] = {0x20, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5,
				      6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 0x41};
static const uint8_t fh_priv_c[32] = {0x30, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
				      3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0x43};

/* A's allowed IPs on the device (the source check reference below mirrors them). */
static const uint8_t fh_a_v4[4] = {10, 0, 0, 2};
static const uint8_t fh_a_net4[4] = {10, 9, 0, 0}; /* /16 */
static const uint8_t fh_a_v6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

static inline uint64_t fh_wall(void *ctx)
{
	const fh *h = ctx;

	return TUNPAIR_WALL0 + (h->now - h->base);
}

static inline void fh_ip4(wg_allowed_ip *ip, const uint8_t a[4], uint8_t cidr)
{
	memset(ip, 0, sizeof(*ip));
	ip->family = AF_INET;
	ip->cidr = cidr;
	memcpy(ip->addr, a, 4);
}

static inline void fh_ip6(wg_allowed_ip *ip, const uint8_t a[16], uint8_t cidr)
{
	memset(ip, 0, sizeof(*ip));
	ip->family = AF_INET6;
	ip->cidr = cidr;
	memcpy(ip->addr, a, 16);
}

/* True when src (family 4/6) is one of A's allowed IPs (the naive reference). */
static inline bool fh_a_allows(int family, const uint8_t *src)
{
	if (family == AF_INET)
		return memcmp(src, fh_a_v4, 4) == 0 || memcmp(src, fh_a_net4, 2) == 0;
	return memcmp(src, fh_a_v6, 16) == 0;
}

static inline void fh_push(fh_queue *q, const uint8_t *d, size_t n)
{
	fh_dgram *slot;

	if (q->count == FH_QLEN || n > FH_MAXDGRAM)
		return;
	slot = &q->q[(q->head + q->count) % FH_QLEN];
	memcpy(slot->data, d, n);
	slot->len = n;
	q->count++;
}

static fh_dgram *fh_peek(fh_queue *q)
{
	return q->count ? &q->q[q->head] : NULL;
}

static inline void fh_pop(fh_queue *q)
{
	if (q->count) {
		q->head = (q->head + 1) % FH_QLEN;
		q->count--;
	}
}

/* Everything the device wrote to the TUN: each packet must come from one of A's allowed IPs
 * (A is the only peer that can authenticate), and be an IPv4/IPv6 packet. */
static inline void fh_drain_tun(fh *h, uint8_t *last, size_t *last_len)
{
	uint8_t buf[DEVICE_MAX_PACKET + 1];

	for (;;) {
		ssize_t n = recv(h->tun_app, buf, sizeof(buf), MSG_DONTWAIT);
		if (n <= 0)
			break;
		CHECK_OR_TRAP(n >= 20);
		if ((buf[0] >> 4) == 4)
			CHECK_OR_TRAP(fh_a_allows(AF_INET, buf + 12));
		else
			CHECK_OR_TRAP((buf[0] >> 4) == 6 && n >= 40 && fh_a_allows(AF_INET6, buf + 8));
		h->tun_packets++;
		if (last && (size_t)n <= *last_len) {
			memcpy(last, buf, (size_t)n);
			*last_len = (size_t)n;
			last = NULL;
		}
	}
}

/* Takes what the device queued for sending: datagrams for C are discarded, the rest go to A
 * (A's endpoint may have roamed to a fuzzer-chosen source). Every one is a well-formed
 * WireGuard message. */
static inline void fh_take_tx(fh *h)
{
	device *dev = h->dev;

	/* device_tx_flush's barrier: data messages are queued unsealed and sealed here (on the
	 * calling thread: the harness's device has no crypto workers running, and 0 bytes keeps
	 * the batch inline anyway). */
	crypto_pool_run(&dev->crypto, dev->seal_n, 0, seal_one, dev);
	dev->seal_n = 0;
	for (unsigned i = 0; i < dev->tx_used; i++) {
		const uint8_t *d = dev->tx.iov[i].iov_base;
		size_t n = dev->tx.iov[i].iov_len;

		if (n == 0)
			continue; /* a seal failed: the flush counts it and sends nothing */
		CHECK_OR_TRAP(wg_msg_classify(d, n) != 0);
		/* A source is none or one a received datagram brought, of the endpoint's family. */
		if (dev->tx.src[i].family != AF_UNSPEC) {
			const udp_src *ls = &dev->tx.src[i];
			CHECK_OR_TRAP(ls->family == dev->tx.addr[i].sa.sa_family && !ls->refused);
			if (ls->family == AF_INET)
				CHECK_OR_TRAP((ntohl(ls->in4.s_addr) & ~3u) == 0x0a630004u);
			else
				CHECK_OR_TRAP(ls->family == AF_INET6 && ls->in6.s6_addr[0] == 0xfd &&
					      ls->in6.s6_addr[1] == 0x99 && ls->ifindex == 1);
		}
		if (memcmp(&dev->tx.addr[i], &h->ep_c, sizeof(h->ep_c)) == 0)
			continue;
		fh_push(&h->to_a, d, n);
	}
	dev->tx_used = 0;
}

/* The device's receive of rx slot 0 (n bytes from src) as one round of the loop does it:
 * device_handle_udp's own dispatch (rx_datagram: data through the batch path, handshake
 * messages queued, cookie replies handled), the batch's crypto and in-order finish
 * (rx_finish), then the round's handshake queue. */
static inline void fh_device_rx(fh *h, size_t n, const wg_endpoint *src)
{
	device *dev = h->dev;

	memcpy(&dev->rx.addr[0], src, sizeof(*src));
	/* The local address it "arrived on" (sticky source): one of four per family, picked by
	 * the source port, so a roam changes it too. fh_take_tx checks sends use only these. */
	memset(&dev->rx.src[0], 0, sizeof(dev->rx.src[0]));
	dev->rx.src[0].family = src->sa.sa_family;
	if (src->sa.sa_family == AF_INET)
		dev->rx.src[0].in4.s_addr = htonl(0x0a630004u + (ntohs(src->in4.sin_port) & 3));
	else if (src->sa.sa_family == AF_INET6) {
		dev->rx.src[0].in6.s6_addr[0] = 0xfd;
		dev->rx.src[0].in6.s6_addr[1] = 0x99;
		dev->rx.src[0].in6.s6_addr[15] = (uint8_t)(1 + (ntohs(src->in6.sin6_port) & 3));
		dev->rx.src[0].ifindex = 1;
	} else
		dev->rx.src[0].family = AF_UNSPEC;
	dev->rx.msg[0].msg_len = (unsigned)n;
	dev->rx.seg[0] = 0; /* one datagram, no GRO segments */
	pthread_rwlock_rdlock(&dev->cfg_lock);
	rx_datagram(dev, 0, h->now);
	rx_finish(dev, h->now);
	/* One harness step = one loop round: a queued handshake is handled now. */
	(void)device_handshake_run(dev, h->now, DEVICE_HANDSHAKE_BUDGET);
	device_tun_flush(dev);
	pthread_rwlock_unlock(&dev->cfg_lock);
	fh_take_tx(h);
}

/* Hands one datagram to the device as the loop would (a copy in an rx slot). */
static inline void fh_to_device(fh *h, const uint8_t *d, size_t n, const wg_endpoint *src)
{
	device *dev = h->dev;
	uint8_t *slot = dev->rx.iov[0].iov_base;

	if (n > DEVICE_SLOT_SIZE)
		n = DEVICE_SLOT_SIZE;
	memcpy(slot, d, n);
	if (n <= FH_MAXDGRAM) {
		memcpy(h->last.data, d, n);
		h->last.len = n;
	}
	fh_device_rx(h, n, src);
	fh_drain_tun(h, NULL, NULL);
}

/* Hands an IP packet to the device as if read from the TUN. */
static inline void fh_from_tun(fh *h, const uint8_t *pkt, size_t n)
{
	device *dev = h->dev;
	uint8_t *slot;

	if (n > DEVICE_MAX_PACKET)
		n = DEVICE_MAX_PACKET;
	pthread_rwlock_rdlock(&dev->cfg_lock);
	slot = device_tx_slot(dev);
	memcpy(slot + DEVICE_SLOT_HEAD, pkt, n);
	tun_packet(dev, slot, n, h->now);
	pthread_rwlock_unlock(&dev->cfg_lock);
	fh_take_tx(h);
}

static inline void fh_timers(fh *h)
{
	pthread_rwlock_rdlock(&h->dev->cfg_lock);
	device_handle_timers(h->dev, h->now);
	pthread_rwlock_unlock(&h->dev->cfg_lock);
	fh_take_tx(h);
}

/* Drains A's outputs (flush or tick) into the queue to the device. */
static inline void fh_a_outputs(fh *h, bool tick)
{
	uint8_t out[FH_MAXDGRAM];

	for (int i = 0; i < 64; i++) {
		size_t n = 0;
		wg_tun_result r = tick ? wg_tunnel_tick(h->a, h->now, out, sizeof(out), &n)
				       : wg_tunnel_flush(h->a, h->now, out, sizeof(out), &n);
		if (r != WG_TUN_WRITE_NETWORK)
			break;
		fh_push(&h->to_dev, out, n);
	}
}

/* A receives one datagram from the device; its answers are queued to the device. */
static inline void fh_a_receive(fh *h, const uint8_t *d, size_t n)
{
	uint8_t buf[FH_MAXDGRAM], out[FH_MAXDGRAM];
	size_t on = 0;
	bool auth = false;
	wg_tun_result r;

	memcpy(buf, d, n);
	r = wg_tunnel_decapsulate(h->a, h->now, buf, n, out, sizeof(out), &on, &auth);
	if (r == WG_TUN_WRITE_NETWORK)
		fh_push(&h->to_dev, out, on);
	if (r >= 0)
		fh_a_outputs(h, false);
}

static inline void fh_a_initiate(fh *h)
{
	uint8_t out[FH_MAXDGRAM];
	size_t n = 0;

	if (wg_tunnel_force_handshake(h->a, h->now, out, sizeof(out), &n) == WG_TUN_WRITE_NETWORK)
		fh_push(&h->to_dev, out, n);
}

/* A encapsulates pkt (any bytes: the inner "IP packet"); false if A has no session. */
static inline bool fh_a_send(fh *h, const uint8_t *pkt, size_t n)
{
	uint8_t buf[WG_DATA_HEADER_LEN + FH_MAXDGRAM];
	size_t on = 0;

	if (n == 0 || n > FH_MAXDGRAM - WG_TUNNEL_OVERHEAD)
		return false;
	memcpy(buf + WG_DATA_HEADER_LEN, pkt, n);
	if (wg_tunnel_encapsulate(h->a, h->now, buf + WG_DATA_HEADER_LEN, n, buf, sizeof(buf),
				  &on) != WG_TUN_WRITE_NETWORK)
		return false;
	if (wg_msg_classify(buf, on) != WG_MSG_DATA) {
		/* no session yet: A staged the packet and sent an initiation */
		fh_push(&h->to_dev, buf, on);
		return false;
	}
	fh_push(&h->to_dev, buf, on);
	return true;
}

/* Moves queued datagrams both ways until both queues are empty (bounded). */
static inline void fh_settle(fh *h)
{
	for (int i = 0; i < 64 && (h->to_dev.count || h->to_a.count); i++) {
		fh_dgram *d = fh_peek(&h->to_dev);
		if (d) {
			fh_dgram copy = *d;
			fh_pop(&h->to_dev);
			fh_to_device(h, copy.data, copy.len, &h->ep_a);
		}
		d = fh_peek(&h->to_a);
		if (d) {
			fh_dgram copy = *d;
			fh_pop(&h->to_a);
			fh_a_receive(h, copy.data, copy.len);
		}
	}
}

/* Recomputes mac1 of a handshake message for the device's key (so mutations of the body
 * get past mac1 and reach Noise). */
static inline void fh_fix_mac1(fh *h, uint8_t *d, size_t n)
{
	int t = wg_msg_classify(d, n);

	if (t == WG_MSG_INITIATION)
		crypto_mac(d + WG_INIT_OFF_MAC1, h->id_d.mac1_key, 32, d, WG_INIT_OFF_MAC1);
	else if (t == WG_MSG_RESPONSE)
		crypto_mac(d + WG_RESP_OFF_MAC1, h->id_d.mac1_key, 32, d, WG_RESP_OFF_MAC1);
}

static inline void fh_endpoint4(wg_endpoint *e, const uint8_t a[4], uint16_t port)
{
	memset(e, 0, sizeof(*e));
	e->in4.sin_family = AF_INET;
	e->in4.sin_port = htons(port);
	memcpy(&e->in4.sin_addr, a, 4);
}

/* A fresh device with peers A and C, and A's tunnel. seed varies the randomness. */
static inline void fh_init(fh *h, uint64_t seed)
{
	static const uint8_t lo[4] = {127, 0, 0, 1};
	static const uint8_t c_net4[4] = {10, 0, 1, 0};
	static const uint8_t c_net6[16] = {0xfd, 0, 0, 1};
	device_params p;
	wg_config_change ch;
	wg_peer_change peers[2];
	wg_allowed_ip ips_a[3], ips_c[2];
	wg_identity id_c;
	int sv[2];

	memset(h, 0, sizeof(*h));
	CHECK_OR_TRAP(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	h->tun_app = sv[1];
	memset(&p, 0, sizeof(p));
	p.tun_fd = sv[0];
	p.mtu = 1420;
	h->dev = device_new(&p);
	CHECK_OR_TRAP(h->dev);
	h->rng_d.s = seed ^ 0x9e3779b97f4a7c15ULL;
	h->rng_a.s = seed;
	h->dev->rng = (wg_rng){fuzz_lcg_fill, &h->rng_d};
	h->dev->wall = (wg_wallclock){fh_wall, h};

	CHECK_OR_TRAP(wg_identity_set(&h->id_a, fh_priv_a) == 0);
	CHECK_OR_TRAP(wg_identity_set(&h->id_d, fh_priv_d) == 0);
	CHECK_OR_TRAP(wg_identity_set(&id_c, fh_priv_c) == 0);
	fh_endpoint4(&h->ep_a, lo, 51000);
	memset(&h->ep_c, 0, sizeof(h->ep_c));
	h->ep_c.in6.sin6_family = AF_INET6;
	h->ep_c.in6.sin6_port = htons(51001);
	h->ep_c.in6.sin6_addr = in6addr_loopback;

	memset(&ch, 0, sizeof(ch));
	memset(peers, 0, sizeof(peers));
	ch.has_private_key = true;
	memcpy(ch.private_key, fh_priv_d, 32);
	ch.n_peers = 2;
	ch.peers = peers;
	memcpy(peers[0].public_key, h->id_a.public_key, 32);
	peers[0].has_endpoint = true;
	peers[0].endpoint = h->ep_a;
	fh_ip4(&ips_a[0], fh_a_v4, 32);
	fh_ip4(&ips_a[1], fh_a_net4, 16);
	fh_ip6(&ips_a[2], fh_a_v6, 128);
	peers[0].n_allowed_ips = 3;
	peers[0].allowed_ips = ips_a;
	memcpy(peers[1].public_key, id_c.public_key, 32);
	peers[1].has_endpoint = true;
	peers[1].endpoint = h->ep_c;
	fh_ip4(&ips_c[0], c_net4, 24);
	fh_ip6(&ips_c[1], c_net6, 64);
	peers[1].n_allowed_ips = 2;
	peers[1].allowed_ips = ips_c;
	CHECK_OR_TRAP(device_apply(h->dev, &ch) == 0);
	wg_identity_clear(&id_c);

	/* The device stamped its peers with io_now(): the virtual clock starts there. */
	h->now = h->base = io_now();

	h->a = tunpair_tunnel(&h->id_a, h->id_d.public_key, (wg_rng){fuzz_lcg_fill, &h->rng_a},
			      (wg_wallclock){fh_wall, h}, h->now);
	CHECK_OR_TRAP(h->a);
}

static inline void fh_free(fh *h)
{
	wg_tunnel_free(h->a);
	device_free(h->dev);
	close(h->tun_app);
	wg_identity_clear(&h->id_a);
	wg_identity_clear(&h->id_d);
}

/* A valid IPv4 packet from src to dst with payload (total len <= cap); its length. */
static inline size_t fh_ipv4(uint8_t *pkt, size_t cap, const uint8_t src[4], const uint8_t dst[4],
		      const uint8_t *payload, size_t plen)
{
	size_t total = 20 + plen;

	if (total > cap)
		total = cap, plen = cap - 20;
	memset(pkt, 0, 20);
	pkt[0] = 0x45;
	pkt[2] = (uint8_t)(total >> 8);
	pkt[3] = (uint8_t)total;
	pkt[8] = 64;
	pkt[9] = 17;
	memcpy(pkt + 12, src, 4);
	memcpy(pkt + 16, dst, 4);
	if (plen)
		memcpy(pkt + 20, payload, plen);
	return total;
}

/* One round of a clean network in the liveness check: the device's timers, then A's, and
 * after each everything in flight is delivered (zero latency, no loss). */
static inline void fh_clean_round(fh *h)
{
	fh_timers(h);
	fh_settle(h);
	fh_a_outputs(h, true);
	fh_settle(h);
}

/* After any hostile input: a fresh handshake from A still works and a genuine packet from A
 * arrives at the TUN byte for byte. Time moves past every session and limiter state first.
 *
 * The network from here on is clean and has no latency: each side's output is delivered
 * before the other side acts. With latency, initiations that cross (A's and the device's
 * retransmission in flight at once) cancel each other, as in every WireGuard implementation
 * (one handshake slot per peer), and only the retransmit jitter breaks the tie. Both sides'
 * jitter comes from the fuzzer's seed, so it can pick a seed where every retry collides
 * (corpus/fuzz_device/liveness_crossing_*: seven crossings in a row with 50 ms steps);
 * that is a lottery the fuzzer controls, not device state, so it is not checked here. */
static inline void fh_check_still_works(fh *h)
{
	static const uint8_t dev_ip[4] = {10, 0, 0, 1};
	static const uint8_t payload[24] = "still-works-after-fuzz!";
	uint8_t pkt[64], got[64];
	size_t n, got_len = sizeof(got);
	wg_tunnel_stats st;
	fh_dgram d;

	h->now += WG_SEC(600);
	h->dev->under_load_until = 0;
	memset(&h->to_dev, 0, sizeof(h->to_dev));
	memset(&h->to_a, 0, sizeof(h->to_a));
	/* A's tick may retransmit a pending initiation (then force_handshake sees one under way
	 * and adds nothing). */
	fh_clean_round(h);
	fh_a_initiate(h);
	fh_settle(h);
	/* The 5 s rule may hold an initiation back; run time in 50 ms steps until A has a
	 * session (bounded: 30 s, six retransmissions). */
	for (int i = 0; i < 600; i++) {
		wg_tunnel_get_stats(h->a, &st);
		if (st.has_session)
			break;
		h->now += WG_MS(50);
		fh_clean_round(h);
	}
	/* A keeps packets staged by the input in order ahead of new ones (up to
	 * WG_TUNNEL_MAX_STAGED): send them first, so the next datagram is the genuine one. */
	for (int i = 0; i < 8 && wg_tunnel_staged_count(h->a); i++) {
		fh_a_outputs(h, false);
		fh_settle(h);
	}
	CHECK_OR_TRAP(wg_tunnel_staged_count(h->a) == 0);
	memset(&h->to_dev, 0, sizeof(h->to_dev));
	fh_drain_tun(h, NULL, NULL);
	n = fh_ipv4(pkt, sizeof(pkt), fh_a_v4, dev_ip, payload, sizeof(payload));
	CHECK_OR_TRAP(fh_a_send(h, pkt, n));
	CHECK_OR_TRAP(h->to_dev.count == 1);
	d = *fh_peek(&h->to_dev);
	fh_pop(&h->to_dev);
	memcpy(h->dev->rx.iov[0].iov_base, d.data, d.len);
	fh_device_rx(h, d.len, &h->ep_a);
	fh_drain_tun(h, got, &got_len);
	CHECK_OR_TRAP(got_len == n && memcmp(got, pkt, n) == 0);
}

#endif
