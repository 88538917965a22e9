/* The batch data path, run by the loop thread with the config lock held shared:
 * TUN batch -> route by inner destination -> encapsulate in place -> sendmmsg;
 * recvmmsg batch -> type/length -> handshake messages into the handshake queue (handshake.c),
 * data by index -> decapsulate in place -> source allowed-IP check -> TUN. Buffers are
 * preallocated slots (datamem.c); nothing is allocated per packet. */
#define _GNU_SOURCE
#include "device/device_impl.h"

#include "io/linux/tun.h"
#include "proto/messages.h"

#include <arpa/inet.h>

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

_Static_assert(sizeof(udp_addr) == sizeof(wg_endpoint), "udp_addr mirrors wg_endpoint");
_Static_assert(DEVICE_SLOT_SIZE >= DEVICE_SLOT_HEAD + DEVICE_MAX_PACKET + WG_TUNNEL_OVERHEAD,
	       "slot holds a full packet with its WireGuard overhead");

/* ---- transmit queue ---- */

/* tx slot i was not sent: counted, and noted for its peer's tx_bytes (which counted it when
 * it was made; device_peer_unsent_fold takes it out). No peer lock: the flush may run under
 * p's lock already. Config lock shared: the peer is still there (removal takes it
 * exclusively, and the queue is flushed before each round lets go of it). */
static void tx_not_sent(device *dev, unsigned i)
{
	peer *p = dev->tx_peer[i];

	DEVICE_STAT_INC(dev, tx_send_error);
	if (p)
		__atomic_fetch_add(&p->unsent, dev->tx_len[i], __ATOMIC_RELAXED);
}

void device_peer_unsent_fold(peer *p)
{
	uint64_t n = __atomic_exchange_n(&p->unsent, 0, __ATOMIC_RELAXED);

	if (n)
		wg_tunnel_unsent(p->tun, (size_t)n);
}

/* The kernel refused tx slot i's source (the address is gone) and it went without: its
 * peer forgets that source (unless a newer one came meanwhile), counted once per peer.
 * No peer lock: p->src is the loop thread's (a flush may run under p's lock already). */
static void tx_src_refused(device *dev, unsigned i)
{
	peer *p = dev->tx_peer[i];

	if (!p) { /* a cookie reply: nothing remembered */
		DEVICE_STAT_INC(dev, tx_src_refused);
		return;
	}
	if (p->src.family != AF_UNSPEC && udp_src_eq(&p->src, &dev->tx.src[i])) {
		memset(&p->src, 0, sizeof(p->src));
		DEVICE_STAT_INC(dev, tx_src_refused);
	}
}

/* Sends tx slots idx[0..n) on fd. */
static void tx_send(device *dev, int fd, const uint16_t *idx, unsigned n, bool *gso)
{
	bool failed[DEVICE_BATCH], had_gso = *gso;
	unsigned refused = 0, nfailed;

	if (n == 0)
		return;
	nfailed = udp_send_batch(fd, &dev->tx, idx, n, gso, failed, &refused);
	if (had_gso && !*gso) {
		DEVICE_STAT_INC(dev, tx_gso_off);
		device_log(dev, DEVICE_LOG_INFO,
			   "UDP GSO off on the IPv%c socket: a segmented send failed with EIO",
			   fd == dev->bind.fd4 ? '4' : '6');
	}
	if (nfailed == 0 && !refused)
		return;
	for (unsigned k = 0; k < n; k++) {
		if (failed[k])
			tx_not_sent(dev, idx[k]);
		else if (dev->tx.src[idx[k]].refused)
			tx_src_refused(dev, idx[k]);
	}
}

/* Crypto worker job: seal transmit job k in its slot. Any thread; no lock (the job and its
 * slot are this call's alone until the barrier). */
static void seal_one(void *ctx, crypto_aead_worker *w, unsigned k)
{
	device *dev = ctx;
	unsigned slot = dev->seal_slot[k];

	if (!wg_tunnel_seal_run(&dev->seal[k], w, dev->tx_mem + (size_t)slot * DEVICE_SLOT_SIZE))
		dev->tx.iov[slot].iov_len = 0; /* library failure: dropped below */
}

void device_tx_flush(device *dev)
{
	uint16_t idx4[DEVICE_BATCH], idx6[DEVICE_BATCH];
	unsigned n4 = 0, n6 = 0;

	device_mem_note(dev, &dev->mem_tx_hwm, dev->tx_used);

	/* The barrier: every queued data message is sealed before any is sent (in queue order,
	 * which keeps each peer's counters in order on the wire). */
	if (dev->seal_n) {
		size_t bytes = 0;
		for (unsigned k = 0; k < dev->seal_n; k++)
			bytes += dev->seal[k].body_len;
		crypto_pool_run(&dev->crypto, dev->seal_n, bytes, seal_one, dev);
		dev->seal_n = 0;
	}
	for (unsigned i = 0; i < dev->tx_used; i++) {
		bool v4 = dev->tx.addr[i].sa.sa_family == AF_INET;

		if (dev->tx.iov[i].iov_len == 0 || (v4 ? dev->bind.fd4 : dev->bind.fd6) < 0)
			tx_not_sent(dev, i); /* its seal failed, or no socket of its family */
		else if (v4)
			idx4[n4++] = (uint16_t)i;
		else
			idx6[n6++] = (uint16_t)i;
	}
	tx_send(dev, dev->bind.fd4, idx4, n4, &dev->bind.gso4);
	tx_send(dev, dev->bind.fd6, idx6, n6, &dev->bind.gso6);
	dev->tx_used = 0;
}

uint8_t *device_tx_slot(device *dev)
{
	if (dev->tx_used == DEVICE_BATCH)
		device_tx_flush(dev);
	return dev->tx_mem + (size_t)dev->tx_used * DEVICE_SLOT_SIZE;
}

bool device_tx_queue(device *dev, const uint8_t *data, size_t len, const wg_endpoint *dst,
		     const udp_src *local)
{
	unsigned i = dev->tx_used;

	if (dst->sa.sa_family != AF_INET && dst->sa.sa_family != AF_INET6) {
		DEVICE_STAT_INC(dev, tx_no_endpoint);
		return false;
	}
	dev->tx.iov[i].iov_base = (void *)(uintptr_t)data;
	dev->tx.iov[i].iov_len = len;
	memcpy(&dev->tx.addr[i], dst, sizeof(*dst));
	/* A source of the other family cannot go on this socket (a v4-mapped endpoint set by
	 * hand goes out of the IPv4 socket): the route's then. */
	if (local && local->family == dst->sa.sa_family)
		dev->tx.src[i] = *local;
	else
		memset(&dev->tx.src[i], 0, sizeof(dev->tx.src[i]));
	dev->tx.src[i].refused = false;
	dev->tx_peer[i] = NULL;
	dev->tx_len[i] = (uint32_t)len;
	dev->tx_used++;
	return true;
}

/* Queues what p's tunnel produced (and counted in its tx_bytes) to p's endpoint; false (and
 * uncounted) if p has none. Peer lock held. */
static bool peer_tx_queue(device *dev, peer *p, const uint8_t *data, size_t len)
{
	if (!device_tx_queue(dev, data, len, &p->endpoint, &p->src)) {
		wg_tunnel_unsent(p->tun, len); /* never sent: not in tx_bytes */
		return false;
	}
	dev->tx_peer[dev->tx_used - 1] = p;
	return true;
}

void device_count_tunnel_error(device *dev, wg_tun_result r)
{
	switch (r) {
	case WG_TUN_ERR_MALFORMED: DEVICE_STAT_INC(dev, rx_malformed); break;
	case WG_TUN_ERR_MAC: DEVICE_STAT_INC(dev, rx_mac); break;
	case WG_TUN_ERR_DECRYPT: DEVICE_STAT_INC(dev, rx_decrypt); break;
	case WG_TUN_ERR_REPLAY: DEVICE_STAT_INC(dev, rx_replay); break;
	case WG_TUN_ERR_NO_SESSION: DEVICE_STAT_INC(dev, rx_no_session); break;
	case WG_TUN_ERR_ALLOWED_IP: DEVICE_STAT_INC(dev, rx_allowed_ip); break;
	case WG_TUN_ERR_FLOOD: DEVICE_STAT_INC(dev, rx_flood); break;
	case WG_TUN_ERR_NO_KEY: DEVICE_STAT_INC(dev, rx_no_key); break;
	default: DEVICE_STAT_INC(dev, rx_malformed); break;
	}
}

/* ---- per-peer helpers (peer lock held) ---- */

/* Hands out everything the tunnel has queued (staged packets, key confirmation). */
static void peer_drain(device *dev, peer *p, wg_time_ns now, bool tick)
{
	for (int k = 0; k < DEVICE_MAX_OUTPUTS_PER_CALL; k++) {
		uint8_t *slot = device_tx_slot(dev);
		size_t len = 0;
		wg_tun_result r = tick ? wg_tunnel_tick(p->tun, now, slot, DEVICE_SLOT_SIZE, &len)
				       : wg_tunnel_flush(p->tun, now, slot, DEVICE_SLOT_SIZE, &len);
		if (r != WG_TUN_WRITE_NETWORK)
			break;
		peer_tx_queue(dev, p, slot, len);
	}
}

static void peer_events(device *dev, peer *p)
{
	wg_tunnel_stats st;

	if (!dev->params.event)
		return;
	wg_tunnel_get_stats(p->tun, &st);
	if (st.last_handshake_wall_ns && st.last_handshake_wall_ns != p->last_handshake_seen) {
		p->last_handshake_seen = st.last_handshake_wall_ns;
		p->unreachable_reported = false;
		device_emit(dev, DEVICE_EVENT_HANDSHAKE_DONE, p->public_key, 0);
	} else if (!st.has_session && st.handshake_attempts >= WG_MAX_TIMER_HANDSHAKES &&
		   !p->unreachable_reported) {
		p->unreachable_reported = true;
		device_emit(dev, DEVICE_EVENT_PEER_UNREACHABLE, p->public_key, 0);
	}
}

/* ---- outbound ---- */

/* The inner destination of an IP packet: family and address pointer, or 0. */
static int ip_addr_of(const uint8_t *pkt, size_t len, bool source, const uint8_t **addr)
{
	if (len >= 20 && (pkt[0] >> 4) == 4) {
		*addr = pkt + (source ? 12 : 16);
		return AF_INET;
	}
	if (len >= 40 && (pkt[0] >> 4) == 6) {
		*addr = pkt + (source ? 8 : 24);
		return AF_INET6;
	}
	return 0;
}

/* Our own outer datagram to p, routed back into the TUN (the route to p's endpoint points
 * into this interface, e.g. AllowedIPs 0.0.0.0/0 without wg-quick's fwmark rules): encrypting
 * it again would send a bigger one the same way, without end (reliability.md B11). The kernel
 * refused such a route (ELOOP) until 2020 (netns-port.md); we recognise the packet: UDP from our
 * listen port to p's endpoint, carrying a WireGuard message type. The endpoint matters: a
 * forwarded client's own WireGuard (nested, often on the same port number) goes elsewhere.
 * Loop thread: p's endpoint changes only there or under the exclusive config lock. */
static bool tun_own_datagram(const device *dev, const peer *p, const uint8_t *pkt, size_t len)
{
	const wg_endpoint *e = &p->endpoint;
	const uint8_t *dst, *m;
	uint16_t eport;
	size_t off;

	if (len >= 20 && (pkt[0] >> 4) == 4) {
		/* a later fragment has no UDP header; the first one is enough to break the loop */
		if (pkt[9] != 17 || ((pkt[6] & 0x1f) | pkt[7]) != 0)
			return false;
		off = (size_t)(pkt[0] & 0x0f) * 4;
		dst = pkt + 16;
		if (e->sa.sa_family == AF_INET) {
			if (memcmp(dst, &e->in4.sin_addr, 4) != 0)
				return false;
			eport = ntohs(e->in4.sin_port);
		} else if (e->sa.sa_family == AF_INET6 &&
			   IN6_IS_ADDR_V4MAPPED(&e->in6.sin6_addr)) {
			if (memcmp(dst, e->in6.sin6_addr.s6_addr + 12, 4) != 0)
				return false;
			eport = ntohs(e->in6.sin6_port);
		} else {
			return false;
		}
	} else if (len >= 40 && (pkt[0] >> 4) == 6) {
		if (pkt[6] != 17 || e->sa.sa_family != AF_INET6 || /* our socket adds no */
		    memcmp(pkt + 24, &e->in6.sin6_addr, 16) != 0)  /* extension header */
			return false;
		off = 40;
		eport = ntohs(e->in6.sin6_port);
	} else {
		return false;
	}
	if (off < 20 || len < off + 8 + 4 || dev->bind.port == 0 ||
	    (uint16_t)(pkt[off] << 8 | pkt[off + 1]) != dev->bind.port ||
	    (uint16_t)(pkt[off + 2] << 8 | pkt[off + 3]) != eport)
		return false;
	m = pkt + off + 8;
	return m[0] >= 1 && m[0] <= 4 && m[1] == 0 && m[2] == 0 && m[3] == 0;
}

/* 0 only in the test-only build of the netns loop test's negative control (CMake option
 * WGTUN_TEST_NO_LOOP_DROP). */
#ifdef WGTUN_TEST_NO_LOOP_DROP
#define DEVICE_LOOP_DROP 0
#else
#define DEVICE_LOOP_DROP 1
#endif

/* The peer an outbound packet is routed to (by inner destination), or NULL (counted). */
static peer *tun_route(device *dev, const uint8_t *pkt, size_t len)
{
	const uint8_t *dst;
	int family = ip_addr_of(pkt, len, false, &dst);
	peer *p = family ? allowedips_lookup(&dev->aips, family, dst) : NULL;

	if (DEVICE_LOOP_DROP && p && tun_own_datagram(dev, p, pkt, len)) {
		DEVICE_STAT_INC(dev, tx_loop);
		return NULL;
	}
	if (!p)
		DEVICE_STAT_INC(dev, tx_no_route);
	return p;
}

/* Encapsulates the packet at slot + DEVICE_SLOT_HEAD in place and queues it. Peer lock held. */
static void tun_encap(device *dev, peer *p, uint8_t *slot, size_t len, wg_time_ns now)
{
	size_t out_len = 0;
	wg_tunnel_seal *job;
	wg_tun_result r;

	if (p->endpoint.sa.sa_family == AF_UNSPEC) {
		DEVICE_STAT_INC(dev, tx_no_endpoint);
		return;
	}
	job = &dev->seal[dev->seal_n];
	r = wg_tunnel_encapsulate_deferred(p->tun, now, slot + DEVICE_SLOT_HEAD, len, slot,
					   DEVICE_SLOT_SIZE, &out_len, job);
	if (r == WG_TUN_SEAL_LATER) {
		/* Sealed with the rest of the queue in device_tx_flush. */
		if (peer_tx_queue(dev, p, slot, out_len))
			dev->seal_slot[dev->seal_n++] = (uint16_t)(dev->tx_used - 1);
		else
			crypto_wipe(job->key, sizeof(job->key));
	} else if (r == WG_TUN_WRITE_NETWORK)
		peer_tx_queue(dev, p, slot, out_len);
	else if (r < 0)
		DEVICE_STAT_INC(dev, tx_no_route);
}

static void tun_packet(device *dev, uint8_t *slot, size_t len, wg_time_ns now)
{
	peer *p = tun_route(dev, slot + DEVICE_SLOT_HEAD, len);

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	tun_encap(dev, p, slot, len, now);
	device_peer_update_deadline(dev, p);
	pthread_mutex_unlock(&p->lock);
}

/* 0, or -ENODEV when the TUN is gone (the device stops). */
static int tun_gone_check(device *dev, long err)
{
	if (err < 0 && tun_error_is_gone((int)err))
		return -ENODEV;
	/* An error we cannot classify: the interface decides (a stand-in fd has none). */
	if (!dev->has_ifname || tun_exists(dev->ifname) == 0)
		return -ENODEV;
	return 0;
}

/* One read from a vnet-header TUN: split into MTU-sized packets, each encapsulated. Returns
 * the packets handled, or -1 when nothing was waiting (n from tun_read in *n). */
static int tun_read_vnet(device *dev, long *n, bool *closed, wg_time_ns now)
{
	offload_vnet h;
	offload_split sp;
	peer *p;
	int ns;

	*n = tun_read(dev->tun_fd, dev->tun_buf, DEVICE_TUN_BUF, closed);
	if (*n <= 0 || *closed)
		return -1;
	if (*n <= OFFLOAD_VNET_HDR_LEN) {
		DEVICE_STAT_INC(dev, tx_no_route);
		return 0;
	}
	offload_vnet_parse(&h, dev->tun_buf);
	ns = offload_split_init(&sp, &h, dev->tun_buf + OFFLOAD_VNET_HDR_LEN,
				(size_t)*n - OFFLOAD_VNET_HDR_LEN);
	if (ns < 0) {
		DEVICE_STAT_INC(dev, tx_no_route); /* a super-packet we cannot cut */
		return 0;
	}
	if (!sp.gso) {
		uint8_t *slot = device_tx_slot(dev);
		size_t len = offload_split_segment(&sp, 0, slot + DEVICE_SLOT_HEAD, DEVICE_MAX_PACKET);
		if (len)
			tun_packet(dev, slot, len, now);
		else
			DEVICE_STAT_INC(dev, tx_no_route);
		return 1;
	}
	if (sp.tcp)
		DEVICE_STAT_INC(dev, tun_split_tcp);
	else
		DEVICE_STAT_INC(dev, tun_split_udp);
	DEVICE_STAT_ADD(dev, tun_split_segs, ns);
	/* The segments share the super-packet's addresses: one route and one lock for all. */
	p = tun_route(dev, sp.pkt, sp.len);
	if (!p)
		return ns;
	pthread_mutex_lock(&p->lock);
	for (int k = 0; k < ns; k++) {
		uint8_t *slot = device_tx_slot(dev);
		size_t len = offload_split_segment(&sp, (unsigned)k, slot + DEVICE_SLOT_HEAD,
						   DEVICE_MAX_PACKET);
		if (!len) {
			DEVICE_STAT_INC(dev, tx_no_route);
			break;
		}
		tun_encap(dev, p, slot, len, now);
	}
	device_peer_update_deadline(dev, p);
	pthread_mutex_unlock(&p->lock);
	return ns;
}

/* The first read of a round goes out at once, before the read that finds the TUN empty and
 * before the timers: a lone packet (a ping, a request) waits for nothing. Later reads of the
 * round batch up as before (one extra send per round under load). */
static void tun_first_out(device *dev, int i)
{
	if (i == 0)
		device_tx_flush(dev);
}

int device_handle_tun(device *dev, bool error_reported)
{
	wg_time_ns now = device_now(dev);
	int handled = 0;

	for (int i = 0; i < DEVICE_TUN_BATCH && handled < DEVICE_TUN_BATCH; i++) {
		bool closed;
		long n;

		if (dev->tun_vnet) {
			int got = tun_read_vnet(dev, &n, &closed, now);
			if (got >= 0) {
				handled += got;
				dev->round_from_tun = true;
				tun_first_out(dev, i);
				continue;
			}
		} else {
			uint8_t *slot = device_tx_slot(dev);
			n = tun_read(dev->tun_fd, slot + DEVICE_SLOT_HEAD, DEVICE_MAX_PACKET, &closed);
			if (n > 0 && !closed) {
				tun_packet(dev, slot, (size_t)n, now);
				handled++;
				dev->round_from_tun = true;
				tun_first_out(dev, i);
				continue;
			}
		}
		if (closed)
			return -ENODEV;
		if (n < 0) {
			int ret = tun_gone_check(dev, n);
			if (!ret)
				device_log(dev, DEVICE_LOG_ERROR, "TUN read failed (%ld)", n);
			return ret;
		}
		return i == 0 && error_reported ? tun_gone_check(dev, 0) : 0;
	}
	return 0;
}

/* ---- inbound ---- */

static void peer_roam(peer *p, const wg_endpoint *src, const udp_src *local)
{
	/* Only authenticated packets get here: the endpoint follows the peer, and replies
	 * leave from the address it reached us on. (No memcmp first: the union's bytes past
	 * an IPv4 address are stale, so it would compare garbage.) */
	p->endpoint = *src;
	if (local)
		p->src = *local;
	else
		memset(&p->src, 0, sizeof(p->src));
	p->src.refused = false;
}

void device_tun_flush(device *dev)
{
	struct iovec iov[2 + OFFLOAD_GRO_MAX_SEGS];

	if (!dev->gro || !offload_gro_count(dev->gro))
		return;
	offload_gro_finish(dev->gro);
	dev->round_to_tun = true;
	for (unsigned i = 0; i < offload_gro_count(dev->gro); i++) {
		const offload_item *it = &dev->gro->items[i];
		unsigned n = offload_gro_iov(dev->gro, i, iov);
		if (tun_writev(dev->tun_fd, iov, (int)n)) {
			DEVICE_STAT_INC(dev, tun_write_error);
		} else if (it->nseg > 1) {
			if (it->tcp)
				DEVICE_STAT_INC(dev, tun_gro_tcp);
			else
				DEVICE_STAT_INC(dev, tun_gro_udp);
			DEVICE_STAT_ADD(dev, tun_gro_segs, it->nseg);
		}
	}
	offload_gro_reset(dev->gro);
}

/* pkt stays where it is (in the receive batch) until device_tun_flush. */
static void deliver_to_tun(device *dev, peer *p, uint8_t *pkt, size_t len)
{
	const uint8_t *src;
	int family = ip_addr_of(pkt, len, true, &src);
	int ret;

	if (!family || allowedips_lookup(&dev->aips, family, src) != p) {
		DEVICE_STAT_INC(dev, rx_allowed_ip);
		return;
	}
	if (dev->tun_vnet) {
		if (!offload_gro_add(dev->gro, pkt, len)) {
			device_tun_flush(dev);
			(void)offload_gro_add(dev->gro, pkt, len); /* an empty batch takes it */
		}
		return;
	}
	dev->round_to_tun = true;
	ret = tun_write(dev->tun_fd, pkt, len);
	if (ret)
		DEVICE_STAT_INC(dev, tun_write_error);
}

/* Datagrams with the same receiver index handled under one peer lock (a GRO batch). */
#define DEVICE_RX_RUN 64

/* Hands one handshake message or cookie reply (buf, len) from src to p's tunnel, under p's
 * lock. Data messages never come here: they take the batch path (handle_data_run +
 * rx_finish). prep: for an initiation, the anonymous step already done (handshake.c),
 * consumed (wiped) by the tunnel; else NULL. */
void device_peer_receive(device *dev, peer *p, uint8_t *buf, size_t len,
			 wg_tunnel_initiation *prep, const wg_endpoint *src, const udp_src *local,
			 wg_time_ns now)
{
	uint8_t *out;
	size_t out_len = 0;
	bool auth = false;
	wg_tun_result r;

	pthread_mutex_lock(&p->lock);
	out = device_tx_slot(dev);
	if (prep)
		r = wg_tunnel_decapsulate_initiation(p->tun, now, buf, len, prep, out,
						     DEVICE_SLOT_SIZE, &out_len, &auth);
	else
		r = wg_tunnel_decapsulate(p->tun, now, buf, len, out, DEVICE_SLOT_SIZE, &out_len,
					  &auth);
	if (auth)
		peer_roam(p, src, local);
	if (r == WG_TUN_WRITE_NETWORK)
		peer_tx_queue(dev, p, out, out_len);
	else if (r < 0)
		device_count_tunnel_error(dev, r);
	/* Staged packets (key confirmation), events, the timer heap. */
	if (r >= 0)
		peer_drain(dev, p, now, false);
	peer_events(dev, p);
	device_peer_update_deadline(dev, p);
	pthread_mutex_unlock(&p->lock);
}

/* A cookie reply (or a malformed datagram): not part of a data run, handled now. */
static void handle_datagram(device *dev, uint8_t *buf, size_t len, const wg_endpoint *src,
			    const udp_src *local, wg_time_ns now)
{
	peer *p;

	if (wg_msg_classify(buf, len) != WG_MSG_COOKIE_REPLY) {
		DEVICE_STAT_INC(dev, rx_malformed);
		return;
	}
	p = device_index_lookup(dev, wg_le32_read(buf + WG_COOKIE_OFF_RECEIVER));
	if (!p) {
		DEVICE_STAT_INC(dev, rx_no_session);
		return;
	}
	device_peer_receive(dev, p, buf, len, NULL, src, local, now);
}

/* Crypto worker job: open receive job k in place. Any thread; no lock. */
static void open_one(void *ctx, crypto_aead_worker *w, unsigned k)
{
	device_rx_job *j = &((device *)ctx)->rx_jobs[k];

	(void)wg_tunnel_open_run(&j->job, w, j->dgram, j->len);
}

/* Decrypts the prepared data messages on the crypto workers, then finishes them in arrival
 * order: replay window, keypair confirmation, roaming, allowed-IP source check, TUN. Loop
 * thread, config lock shared; takes each peer's lock. */
static void rx_finish(device *dev, wg_time_ns now)
{
	device_rx_job *jobs = dev->rx_jobs;
	unsigned n = dev->rx_n;
	size_t bytes = 0;

	device_mem_note(dev, &dev->mem_jobs_hwm, n);
	for (unsigned k = 0; k < n; k++)
		bytes += jobs[k].len;
	crypto_pool_run(&dev->crypto, n, bytes, open_one, dev);
	for (unsigned i = 0; i < n;) {
		peer *p = jobs[i].p;
		bool drain = false;

		/* Consecutive jobs of one peer (a GRO run, mostly) under one lock. */
		pthread_mutex_lock(&p->lock);
		for (; i < n && jobs[i].p == p; i++) {
			device_rx_job *j = &jobs[i];
			size_t out_len = 0;
			bool auth = false;
			wg_tun_result r = wg_tunnel_decapsulate_finish(p->tun, now, j->dgram, j->len,
								       &j->job, &out_len, &auth);
			if (auth) {
				wg_endpoint src;
				memcpy(&src, &dev->rx.addr[j->from], sizeof(src));
				peer_roam(p, &src, &dev->rx.src[j->from]);
			}
			if (r == WG_TUN_WRITE_TUN_V4 || r == WG_TUN_WRITE_TUN_V6)
				deliver_to_tun(dev, p, j->dgram + WG_DATA_HEADER_LEN, out_len);
			else if (r < 0)
				device_count_tunnel_error(dev, r);
			if (r >= 0)
				drain = true;
		}
		/* Once per run: staged packets (key confirmation), events, the timer heap. */
		if (drain)
			peer_drain(dev, p, now, false);
		peer_events(dev, p);
		device_peer_update_deadline(dev, p);
		pthread_mutex_unlock(&p->lock);
	}
	dev->rx_n = 0;
}

/* Data messages dgrams[0..n) of datagram from, all for receiver index idx: prepared in order
 * (the key and counter taken under the peer lock), decrypted later by rx_finish. Loop thread,
 * config lock shared; takes p's lock. */
static void handle_data_run(device *dev, uint8_t *const *dgrams, const size_t *lens, unsigned n,
			    uint32_t idx, uint16_t from, wg_time_ns now)
{
	peer *p = device_index_lookup(dev, idx);

	if (!p) {
		__atomic_fetch_add(&dev->stats.rx_no_session, n, __ATOMIC_RELAXED);
		return;
	}
	if (dev->rx_n + n > DEVICE_RX_JOBS)
		rx_finish(dev, now);
	pthread_mutex_lock(&p->lock);
	for (unsigned k = 0; k < n; k++) {
		device_rx_job *j = &dev->rx_jobs[dev->rx_n];
		wg_tun_result r = wg_tunnel_decapsulate_prepare(p->tun, now, dgrams[k], lens[k],
								&j->job);
		if (r != WG_TUN_OPEN_LATER) {
			device_count_tunnel_error(dev, r);
			continue;
		}
		j->p = p;
		j->dgram = dgrams[k];
		j->len = lens[k];
		j->from = from;
		dev->rx_n++;
	}
	pthread_mutex_unlock(&p->lock);
}

/* Segment j of received datagram i (GRO may have glued several together). */
static size_t rx_segment(device *dev, int i, size_t off, uint8_t **p)
{
	size_t len = dev->rx.msg[i].msg_len, seg = dev->rx.seg[i] ? dev->rx.seg[i] : len;

	*p = (uint8_t *)dev->rx.iov[i].iov_base + off;
	return len - off < seg ? len - off : seg;
}

/* Received datagram i of dev->rx (maybe several GRO segments): handshake messages queued,
 * data runs prepared for rx_finish, the rest handled now. Loop thread, config lock shared.
 * (The device fuzz harnesses call it too.) */
static void rx_datagram(device *dev, int i, wg_time_ns now)
{
	wg_endpoint src;
	size_t off = 0, end = dev->rx.msg[i].msg_len;

	memcpy(&src, &dev->rx.addr[i], sizeof(src));
	if (end == 0) /* an empty datagram, or one cut by MSG_TRUNC: still counted */
		DEVICE_STAT_INC(dev, rx_malformed);
	while (off < end) {
		uint8_t *run[DEVICE_RX_RUN];
		size_t lens[DEVICE_RX_RUN];
		unsigned k = 0;
		uint32_t idx;
		int t;

		lens[0] = rx_segment(dev, i, off, &run[0]);
		off += lens[0];
		t = wg_msg_classify(run[0], lens[0]);
		if (t == WG_MSG_INITIATION || t == WG_MSG_RESPONSE) {
			/* Only queued (handled after this round's data): a flood of them
			 * neither waits for nor breaks up the data's crypto batch. */
			device_handshake_enqueue(dev, run[0], lens[0], &src, &dev->rx.src[i], now);
			continue;
		}
		if (t != WG_MSG_DATA) {
			/* Data before it in the batch first (a cookie reply changes state). */
			rx_finish(dev, now);
			handle_datagram(dev, run[0], lens[0], &src, &dev->rx.src[i], now);
			continue;
		}
		/* GRO segments of one sender mostly share a receiver index: one lookup and
		 * one peer lock for the run. */
		idx = wg_le32_read(run[0] + WG_DATA_OFF_RECEIVER);
		for (k = 1; k < DEVICE_RX_RUN && off < end; k++) {
			size_t l = rx_segment(dev, i, off, &run[k]);
			if (wg_msg_classify(run[k], l) != WG_MSG_DATA ||
			    wg_le32_read(run[k] + WG_DATA_OFF_RECEIVER) != idx)
				break;
			lens[k] = l;
			off += l;
		}
		handle_data_run(dev, run, lens, k, idx, (uint16_t)i, now);
	}
}

void device_handle_udp(device *dev, int fd)
{
	wg_time_ns now;
	int n = udp_recv_batch(fd, &dev->rx, DEVICE_BATCH);

	if (n <= 0) {
		if (n < 0)
			device_log(dev, DEVICE_LOG_DEBUG, "UDP receive failed (%d)", n);
		return;
	}
	now = device_now(dev);
	device_mem_note(dev, &dev->mem_rx_hwm, (unsigned)n);
	for (int i = 0; i < n; i++) {
		size_t top = (size_t)i * DEVICE_SLOT_SIZE + dev->rx.msg[i].msg_len;
		if (top > dev->mem_rx_bytes)
			dev->mem_rx_bytes = top;
		if (dev->rx.seg[i]) /* GRO: the slot was filled deep */
			dev->mem_busy_round = true;
	}
	for (int i = 0; i < n; i++)
		rx_datagram(dev, i, now);
	rx_finish(dev, now);
	/* Before the receive buffers are reused. */
	device_tun_flush(dev);
}

void device_handle_timers(device *dev, wg_time_ns now)
{
	size_t budget = dev->peers.count;
	peer *p;

	/* Each due peer once per round: a tunnel whose deadline stays in the past cannot pin
	 * the loop here. */
	while (budget-- && (p = device_heap_top(dev)) && p->deadline <= now) {
		pthread_mutex_lock(&p->lock);
		peer_drain(dev, p, now, true);
		peer_events(dev, p);
		device_peer_update_deadline(dev, p);
		if (p->deadline <= now) {
			/* Nothing more to do now; look again next round instead of spinning. */
			pthread_mutex_unlock(&p->lock);
			break;
		}
		pthread_mutex_unlock(&p->lock);
	}
}
