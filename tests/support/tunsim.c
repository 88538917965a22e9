/* Two tunnels in memory (see tunsim.h). */
#include "tunsim.h"

#include "crypto/crypto.h"

wg_time_ns tunsim_now;
const uint64_t tunsim_wall_base = 1700000000ULL * WG_NS_PER_SEC;

int tunsim_rng_fill(void *ctx, void *out, size_t n)
{
	test_rng_bytes(ctx, out, n);
	return 0;
}

uint64_t tunsim_wall_now(void *ctx)
{
	(void)ctx;
	return tunsim_wall_base + tunsim_now;
}

wg_tunnel *tunsim_make_tunnel(peer *p, wg_time_ns now)
{
	wg_tunnel_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.identity = &p->id;
	memcpy(cfg.peer_public_key, p->other->id.public_key, 32);
	memcpy(cfg.preshared_key, p->psk, 32);
	cfg.persistent_keepalive = p->pk;
	cfg.mtu = 1420;
	cfg.rng = (wg_rng){tunsim_rng_fill, &p->rng};
	cfg.wall = (wg_wallclock){tunsim_wall_now, NULL};
	return wg_tunnel_new(&cfg, now);
}

void tunsim_setup(peer *a, peer *b, uint64_t seed)
{
	uint8_t priv[32];
	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	a->name = "A";
	b->name = "B";
	a->other = b;
	b->other = a;
	test_rng_seed(&a->rng, seed);
	test_rng_seed(&b->rng, seed + 1000);
	test_rng_bytes(&a->rng, priv, 32);
	CHECK_EQ_INT(wg_identity_set(&a->id, priv), 0);
	test_rng_bytes(&b->rng, priv, 32);
	CHECK_EQ_INT(wg_identity_set(&b->id, priv), 0);
	cookie_checker_init(&a->checker, &a->id);
	cookie_checker_init(&b->checker, &b->id);
	tunsim_now = WG_SEC(1);
}

void tunsim_start(peer *a, peer *b)
{
	a->t = tunsim_make_tunnel(a, tunsim_now);
	b->t = tunsim_make_tunnel(b, tunsim_now);
	CHECK(a->t && b->t);
}

void tunsim_teardown(peer *a, peer *b)
{
	wg_tunnel_free(a->t);
	wg_tunnel_free(b->t);
	a->t = b->t = NULL;
	cookie_checker_wipe(&a->checker);
	cookie_checker_wipe(&b->checker);
	wg_identity_clear(&a->id);
	wg_identity_clear(&b->id);
}

/* Records a datagram p sends (classified by type for the counters). */
void tunsim_net_send(peer *p, const uint8_t *buf, size_t len)
{
	int type = wg_msg_classify(buf, len);
	CHECK(type != 0);
	if (type == WG_MSG_INITIATION) {
		if (p->inits < 64) {
			p->init_index[p->inits] = wg_le32_read(buf + WG_INIT_OFF_SENDER);
			memcpy(p->init_ephemeral[p->inits], buf + WG_INIT_OFF_EPHEMERAL, 32);
		}
		p->inits++;
	}
	else if (type == WG_MSG_RESPONSE)
		p->resps++;
	else if (type == WG_MSG_COOKIE_REPLY)
		p->cookies++;
	else if (len == 32)
		p->keepalives++;
	else
		p->data++;
	if (p->blackhole || p->nq == NET_QUEUE)
		return;
	memcpy(p->q[p->nq].buf + HEADROOM, buf, len);
	p->q[p->nq].len = len;
	p->nq++;
}

/* Calls fn-like output producers until DONE, sending what they produce. */
void tunsim_drain_flush(peer *p)
{
	uint8_t out[BUF_CAP];
	size_t n;
	wg_tun_result r;
	int guard = 0;
	while ((r = wg_tunnel_flush(p->t, tunsim_now, out, sizeof(out), &n)) == WG_TUN_WRITE_NETWORK &&
	       guard++ < 1000)
		tunsim_net_send(p, out, n);
	CHECK(r == WG_TUN_DONE);
}

void tunsim_drain_tick(peer *p)
{
	uint8_t out[BUF_CAP];
	size_t n;
	wg_tun_result r;
	int guard = 0;
	while ((r = wg_tunnel_tick(p->t, tunsim_now, out, sizeof(out), &n)) == WG_TUN_WRITE_NETWORK &&
	       guard++ < 1000)
		tunsim_net_send(p, out, n);
	CHECK_MSG(r == WG_TUN_DONE || r == WG_TUN_ERR_NO_KEY, "tick returned %d", r);
}

static const uint8_t addr_a[4] = {192, 0, 2, 1}, addr_b[4] = {192, 0, 2, 2};

/* Hands one datagram (in place: out = dgram + 16) to receiver p, as a device would. */
wg_tun_result tunsim_deliver_one(peer *p, uint8_t *buf, size_t len)
{
	uint8_t *msg = buf + HEADROOM;
	size_t n = 0;
	bool auth = false;
	wg_tun_result r;
	const uint8_t *src = p->name[0] == 'A' ? addr_b : addr_a; /* the sender's address */
	wg_rng rng = {tunsim_rng_fill, &p->rng};

	if (p->under_load && (wg_msg_classify(msg, len) == WG_MSG_INITIATION ||
			      wg_msg_classify(msg, len) == WG_MSG_RESPONSE)) {
		cookie_verdict v = cookie_checker_validate(&p->checker, msg, len, src, 4, 51820,
							   true, tunsim_now, &rng);
		if (v == COOKIE_VERDICT_DROP)
			return WG_TUN_ERR_MAC;
		if (v == COOKIE_VERDICT_SEND_REPLY) {
			wg_msg_cookie_reply reply;
			CHECK_EQ_INT(cookie_checker_create_reply(&p->checker, msg, len, src, 4,
								 51820, tunsim_now, &rng, &reply),
				     COOKIE_OK);
			tunsim_net_send(p, (const uint8_t *)&reply, sizeof(reply));
			return WG_TUN_DONE;
		}
	}
	r = wg_tunnel_decapsulate(p->t, tunsim_now, msg, len, msg + HEADROOM,
				  sizeof(((dgram *)0)->buf) - 2 * HEADROOM, &n, &auth);
	if (r < 0) {
		p->errors[-r]++;
		CHECK(n == 0);
		return r;
	}
	if (r == WG_TUN_WRITE_NETWORK) {
		CHECK(auth);
		tunsim_net_send(p, msg + HEADROOM, n);
	} else if (r == WG_TUN_WRITE_TUN_V4 || r == WG_TUN_WRITE_TUN_V6) {
		CHECK(auth);
		p->tun_packets++;
		p->last_tun_id = wg_le32_read(msg + HEADROOM + 20);
		if (p->tun_packets <= 512)
			p->tun_ids[p->tun_packets - 1] = p->last_tun_id;
	}
	tunsim_drain_flush(p);
	return r;
}

/* Delivers everything queued in both directions until the network is quiet. */
void tunsim_deliver_all(peer *a, peer *b)
{
	int guard = 0;
	while ((a->nq || b->nq) && guard++ < 1000) {
		peer *ps[2] = {a, b};
		for (int k = 0; k < 2; k++) {
			peer *from = ps[k];
			size_t n = from->nq;
			static dgram batch[NET_QUEUE];
			memcpy(batch, from->q, n * sizeof(dgram));
			from->nq = 0;
			for (size_t i = 0; i < n; i++)
				tunsim_deliver_one(from->other, batch[i].buf, batch[i].len);
		}
	}
}

wg_time_ns tunsim_next_deadline(peer *a, peer *b)
{
	wg_time_ns da = wg_tunnel_next_deadline(a->t), db = wg_tunnel_next_deadline(b->t);
	return da < db ? da : db;
}

/* Runs timers and the network until `until`, then sets the clock to it. */
void tunsim_run_until(peer *a, peer *b, wg_time_ns until)
{
	int guard = 0;
	tunsim_deliver_all(a, b);
	for (;;) {
		wg_time_ns d = tunsim_next_deadline(a, b);
		if (d > until)
			break;
		if (d > tunsim_now)
			tunsim_now = d;
		tunsim_drain_tick(a);
		tunsim_drain_tick(b);
		tunsim_deliver_all(a, b);
		if (guard++ > 100000) {
			CHECK_MSG(0, "timer loop does not settle at %llu",
				  (unsigned long long)tunsim_now);
			break;
		}
	}
	tunsim_now = until;
}

/* An IPv4 packet of total length len carrying id at offset 20. */
void tunsim_make_packet(uint8_t *p, size_t len, uint32_t id)
{
	memset(p, 0, len);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[9] = 1;
	wg_le32_write(p + 20, id);
	for (size_t i = 24; i < len; i++)
		p[i] = (uint8_t)(id + i);
}

/* p's TUN produced a packet: encapsulate in place (pkt = out + 16). */
wg_tun_result tunsim_send_packet(peer *p, size_t len, uint32_t id)
{
	uint8_t buf[HEADROOM + BUF_CAP];
	size_t n = 0;
	wg_tun_result r;

	tunsim_make_packet(buf + HEADROOM, len, id);
	r = wg_tunnel_encapsulate(p->t, tunsim_now, buf + HEADROOM, len, buf, sizeof(buf), &n);
	if (r == WG_TUN_WRITE_NETWORK)
		tunsim_net_send(p, buf, n);
	return r;
}

wg_tunnel_stats tunsim_stats(peer *p)
{
	wg_tunnel_stats s;
	wg_tunnel_get_stats(p->t, &s);
	return s;
}
