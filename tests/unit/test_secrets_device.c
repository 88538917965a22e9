/* Session secrets leave a running device's memory when the session expires and when the
 * peer is removed: a real device A (loop thread, crypto pool with 2 threads, batch buffers,
 * loopback UDP) whose monotonic clock is virtual (real time + an offset the test moves), and
 * a peer T in this process: the public tunnel API as initiator on a UDP socket, whose
 * randomness callback records (masked) what it hands out, so the Noise chain of each
 * handshake, A's transport keys included, can be recomputed (tests/support/noise_chain.h)
 * and searched for in this process's memory (tests/support/memscan.h).
 *   1. handshake, bursts both ways (A seals and opens on the pool), T freed: A's send and
 *      receive keys found (the scanner's control), the handshake temporaries gone;
 *   2. A's clock + 541 s (3 x REJECT_AFTER_TIME + 1): once A's timers zeroed the keys, no
 *      copy of any of them is left anywhere (only the static-static DH, cached per peer);
 *   3. a second session, then A's link set down (device_link_set, docs/linkstate.md): no
 *      copy of its keys is left (only the per-peer static-static DH and the PSK); link up
 *      again, then `peer remove`: every secret of it, the static-static DH and the PSK gone.
 * Under valgrind the scans are skipped (its own memory would be in the maps), the rest runs.
 * SECRETS_WHERE=1 prints where each copy was found. */
#define _GNU_SOURCE
#include "memscan.h"
#include "noise_chain.h"
#include "test.h"
#include "testdev.h"
#include "wgtun.h"

#include "device/device.h"
#include "device/device_impl.h"
#include "io/linux/loop.h"
#include "proto/tunnel_impl.h"

#include <arpa/inet.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

#define CAP 2048
#define MAX_REC 64
#define BURST 48
#define PKT_LEN 1400

static memscan_set set;
static struct {
	uint8_t masked[MAX_REC][32];
	int n;
} rec;
static int g_wait_ms = 5000; /* per packet; x10 under valgrind */
static bool g_scan = true;   /* not under valgrind */

/* ---- A's virtual clock ---- */
static _Atomic wg_time_ns g_offset;

static wg_time_ns vclock(void *ctx)
{
	(void)ctx;
	return io_now() + atomic_load(&g_offset);
}

/* ---- T ---- */
static int t_random(void *ctx, void *out, size_t n)
{
	(void)ctx;
	if (getrandom(out, n, 0) != (ssize_t)n)
		abort();
	if (n == 32 && rec.n < MAX_REC) {
		memcpy(rec.masked[rec.n], out, 32);
		memscan_mask(&set, rec.masked[rec.n++]);
	}
	return 0;
}

typedef struct {
	device *dev;
	int app;              /* A's TUN, the test's end */
	uint8_t priv[32], pub[32];
	struct sockaddr_in at; /* A's UDP address */
	int u;                /* T's UDP socket */
	uint8_t t_priv[32], t_pub[32], psk[32]; /* psk and t_priv masked */
	wgtun_tunnel *t;
	uint8_t init[CAP], resp[CAP];
	size_t init_len, resp_len;
} rig;

static void ip4_packet(uint8_t *p, size_t len, const char *src, const char *dst, uint32_t id)
{
	memset(p, 0, len);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[8] = 64;
	p[9] = 17;
	CHECK(inet_pton(AF_INET, src, p + 12) == 1);
	CHECK(inet_pton(AF_INET, dst, p + 16) == 1);
	memcpy(p + 20, &id, 4);
	for (size_t i = 24; i < len; i++)
		p[i] = (uint8_t)(i * 7 + id);
}

static void t_send(rig *r, const uint8_t *d, size_t n)
{
	CHECK(sendto(r->u, d, n, 0, (struct sockaddr *)&r->at, sizeof(r->at)) == (ssize_t)n);
}

/* One datagram for T within g_wait_ms; its length or -1. A's own initiations are not
 * handed to T (A starts one when its clock jumps past the session: it sent data last and
 * heard nothing for 15 s), so T stays the initiator of every session. */
static long t_recv(rig *r, uint8_t *buf)
{
	struct pollfd pf = {.fd = r->u, .events = POLLIN};
	long n;

	do {
		if (poll(&pf, 1, g_wait_ms) != 1)
			return -1;
		n = (long)recv(r->u, buf, CAP, MSG_DONTWAIT);
	} while (n == 148 && buf[0] == 1);
	return n;
}

static long app_recv(rig *r, uint8_t *buf)
{
	struct pollfd pf = {.fd = r->app, .events = POLLIN};

	if (poll(&pf, 1, g_wait_ms) != 1)
		return -1;
	return (long)recv(r->app, buf, CAP, MSG_DONTWAIT);
}

/* Hands a datagram A sent to T: the number of inner packets T got (0 or 1), -1 on error;
 * anything T sends back (a keepalive) goes to A. */
static int t_take(rig *r, uint8_t *dg, size_t n, uint32_t *id)
{
	uint8_t out[CAP];
	size_t on = 0;
	int res = wgtun_tunnel_read(r->t, vclock(NULL), dg, n, out, CAP, &on, NULL);

	if (res == WGTUN_TUNNEL_WRITE_TUN_V4) {
		if (id)
			memcpy(id, out + 20, 4);
		return 1;
	}
	while (res == WGTUN_TUNNEL_WRITE_NETWORK) {
		t_send(r, out, on);
		res = wgtun_tunnel_flush(r->t, vclock(NULL), out, CAP, &on);
	}
	return res < 0 ? -1 : 0;
}

static void derive(memscan_set *s, void *arg)
{
	const rig *r = arg;
	uint8_t e[32], pub[32], chain[CHAIN_N][32], psk[32], spriv[32];
	int found = -1;

	/* which recorded value is T's ephemeral (its public key is in bytes 8..40) */
	for (int k = 0; k < rec.n && found < 0; k++) {
		memcpy(e, rec.masked[k], 32);
		memscan_mask(s, e);
		crypto_x25519_clamp(e);
		if (crypto_x25519_public(pub, e) == 0 && !memcmp(pub, r->init + 8, 32))
			found = k;
	}
	if (found < 0)
		return;
	memcpy(e, rec.masked[found], 32);
	memscan_mask(s, e);
	memcpy(psk, r->psk, 32);
	memscan_mask(s, psk);
	memcpy(spriv, r->t_priv, 32);
	memscan_mask(s, spriv);
	if (noise_chain(chain, e, spriv, r->init + 8, r->pub, r->resp + 12, psk) == 0)
		for (int k = 0; k < CHAIN_N; k++) {
			memscan_mask(s, chain[k]);
			memscan_add_masked(s, chain_names[k], chain[k]);
		}
	crypto_wipe(e, 32);
	crypto_wipe(psk, 32);
	crypto_wipe(spriv, 32);
	crypto_wipe(chain, sizeof(chain));
}

/* A new T (fresh ephemeral, same static key), a handshake with A, bursts both ways; the
 * needles of this session (plus the PSK) derived, T freed. */
static void session(rig *r)
{
	wgtun_tunnel_config c;
	uint8_t out[CAP], pkt[CAP], got[CAP];
	size_t on = 0;
	long n;
	uint32_t id;
	uint64_t par0 = __atomic_load_n(&r->dev->crypto.parallel_runs, __ATOMIC_RELAXED);
	int tries;

	wgtun_tunnel_config_init(&c);
	memcpy(c.private_key, r->t_priv, 32);
	memscan_mask(&set, c.private_key);
	memcpy(c.preshared_key, r->psk, 32);
	memscan_mask(&set, c.preshared_key);
	memcpy(c.peer_public_key, r->pub, 32);
	c.random = t_random;
	rec.n = 0;
	CHECK_EQ_INT(wgtun_tunnel_new(&c, vclock(NULL), &r->t), 0);
	memset(&c, 0, sizeof(c));
	__asm__ __volatile__("" ::"r"(&c) : "memory");
	if (!r->t)
		return;

	CHECK_EQ_INT(wgtun_tunnel_force_handshake(r->t, vclock(NULL), r->init, CAP, &r->init_len),
		     WGTUN_TUNNEL_WRITE_NETWORK);
	t_send(r, r->init, r->init_len);
	n = t_recv(r, r->resp);
	CHECK_MSG(n == 92 && r->resp[0] == 2, "no response from A (%ld)", n);
	r->resp_len = n > 0 ? (size_t)n : 0;
	memcpy(got, r->resp, r->resp_len);
	CHECK_EQ_INT(t_take(r, got, r->resp_len, NULL), 0); /* + T's confirming keepalive */

	/* T -> A: a burst of datagrams A opens (on the pool when they come as one batch) */
	for (uint32_t k = 0; k < BURST; k++) {
		ip4_packet(pkt, PKT_LEN, "10.7.0.2", "10.7.0.1", k);
		CHECK_EQ_INT(wgtun_tunnel_write(r->t, vclock(NULL), pkt, PKT_LEN, out, CAP, &on),
			     WGTUN_TUNNEL_WRITE_NETWORK);
		t_send(r, out, on);
	}
	for (uint32_t k = 0; k < BURST; k++) {
		n = app_recv(r, got);
		memcpy(&id, got + 20, 4);
		CHECK_MSG(n == PKT_LEN && id == k, "T -> A packet %u: %ld bytes", k, n);
		if (n != PKT_LEN)
			break;
	}
	/* A -> T: bursts A seals, until one went to the pool (at most 5) */
	for (tries = 0; tries < 5; tries++) {
		/* Queued while the config lock is held for writing: A's loop reads its TUN only
		 * under the read lock, so it finds the whole burst in one round, a batch the pool
		 * takes however slowly a sanitizer build sends (CI's TSan run once saw only
		 * small rounds). 48 packets fit the socket pair's buffer, so no send blocks. */
		pthread_rwlock_wrlock(&r->dev->cfg_lock);
		for (uint32_t k = 0; k < BURST; k++) {
			ip4_packet(pkt, PKT_LEN, "10.7.0.1", "10.7.0.2", 1000 + k);
			CHECK(send(r->app, pkt, PKT_LEN, 0) == PKT_LEN);
		}
		pthread_rwlock_unlock(&r->dev->cfg_lock);
		for (uint32_t k = 0; k < BURST; k++) {
			int t;
			n = t_recv(r, got);
			t = n > 0 ? t_take(r, got, (size_t)n, &id) : -1;
			CHECK_MSG(t == 1 && id == 1000 + k, "A -> T packet %u: %ld bytes", k, n);
			if (t != 1)
				break;
		}
		if (__atomic_load_n(&r->dev->crypto.parallel_runs, __ATOMIC_RELAXED) > par0)
			break;
	}
	CHECK_MSG(tries < 5, "no batch of A went to the crypto pool");

	/* (not under valgrind: its leak check in the forked child, which has lost the device's
	 * threads, would fail the child, and nothing is scanned there anyway) */
	set.n = 0;
	if (g_scan) {
		CHECK_EQ_INT(memscan_derive_in_child(&set, derive, r), 0);
		CHECK_EQ_INT(set.n, CHAIN_N);
		memscan_add_masked(&set, "psk", r->psk);
	}
	wgtun_tunnel_free(r->t);
	r->t = NULL;
}

static void rig_start(rig *r)
{
	device_params p;
	wg_config_change c;
	wg_peer_change pc;
	wg_allowed_ip ip;
	wg_config_info info;
	socklen_t sl = sizeof(r->at);

	memset(r, 0, sizeof(*r));
	memset(&p, 0, sizeof(p));
	p.crypto_workers = 2;
	r->dev = testdev_new(&p, &r->app, r->priv, r->pub);
	if (!r->dev)
		return;
	r->dev->clock = (device_clock){vclock, NULL}; /* before anything reads it */
	CHECK(crypto_x25519_generate(r->t_priv, r->t_pub) == 0);
	CHECK_EQ_INT(getrandom(r->psk, 32, 0), 32);
	memset(&c, 0, sizeof(c));
	memset(&pc, 0, sizeof(pc));
	memset(&ip, 0, sizeof(ip));
	c.has_private_key = true;
	memcpy(c.private_key, r->priv, 32);
	c.has_listen_port = true;
	memcpy(pc.public_key, r->t_pub, 32);
	pc.has_preshared_key = true;
	memcpy(pc.preshared_key, r->psk, 32);
	pc.replace_allowed_ips = true;
	ip.family = AF_INET;
	ip.cidr = 32;
	CHECK(inet_pton(AF_INET, "10.7.0.2", ip.addr) == 1);
	pc.allowed_ips = &ip;
	pc.n_allowed_ips = 1;
	c.peers = &pc;
	c.n_peers = 1;
	CHECK_EQ_INT(device_apply(r->dev, &c), 0);
	crypto_wipe(&c, sizeof(c));
	crypto_wipe(&pc, sizeof(pc));
	crypto_wipe(r->priv, 32); /* A holds its key; the test needs only the public one */
	memscan_mask(&set, r->psk);
	memscan_mask(&set, r->t_priv);
	CHECK_EQ_INT(device_start(r->dev), 0);
	CHECK_EQ_INT(device_get_info(r->dev, &info), 0);
	r->at.sin_family = AF_INET;
	r->at.sin_port = htons(info.listen_port);
	r->at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	wg_config_info_clear(&info);
	r->u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(r->u >= 0);
	{
		struct sockaddr_in me = {.sin_family = AF_INET};
		me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		CHECK(bind(r->u, (struct sockaddr *)&me, sizeof(me)) == 0);
		CHECK(getsockname(r->u, (struct sockaddr *)&me, &sl) == 0);
	}
}

/* A's peer has no keypair left (its timers zeroed them). */
static bool keys_zeroed(rig *r)
{
	bool zero = false;

	pthread_rwlock_rdlock(&r->dev->cfg_lock);
	if (r->dev->first) {
		peer *p = r->dev->first;
		pthread_mutex_lock(&p->lock);
		zero = !p->tun->keypairs.current && !p->tun->keypairs.previous &&
		       !p->tun->keypairs.next;
		pthread_mutex_unlock(&p->lock);
	}
	pthread_rwlock_unlock(&r->dev->cfg_lock);
	return zero;
}

/* The loop finished the round it is in (so the stack burn that ends a round where keys
 * died is done): it is woken, and its next wait must return. */
static void loop_round_done(rig *r)
{
	device_stats st;
	uint64_t w0;
	wg_time_ns t0 = io_now();

	/* apply's request is taken by the loop's next round */
	while (atomic_load(&r->dev->burn_stack) && io_now() - t0 < (wg_time_ns)g_wait_ms * WG_MS(1))
		usleep(1000);
	CHECK(!atomic_load(&r->dev->burn_stack));
	device_get_stats(r->dev, &st);
	w0 = st.loop_wakeups;
	io_loop_wake(r->dev->loop);
	do {
		usleep(1000);
		device_get_stats(r->dev, &st);
	} while (st.loop_wakeups == w0 && io_now() - t0 < (wg_time_ns)g_wait_ms * WG_MS(1));
	CHECK(st.loop_wakeups > w0);
}

static bool is_transport(const char *name)
{
	return !strcmp(name, "initiator_send_key") || !strcmp(name, "initiator_recv_key");
}

/* Every needle at 0 copies, except those `keep` accepts. */
static void check_gone(const char *when, bool (*keep)(const char *name), int counts[MEMSCAN_MAX])
{
	size_t scanned = 0;

	memscan_run(&set, counts, &scanned);
	CHECK(scanned > 100000);
	for (int k = 0; k < set.n; k++)
		if (!keep || !keep(set.name[k]))
			CHECK_MSG(counts[k] == 0, "%s: %s still in memory (%d copies)", when,
				  set.name[k], counts[k]);
	printf("secrets_device: %s: send %d recv %d dh_ss %d psk %d copies, %zu bytes scanned\n",
	       when, memscan_count_of(&set, counts, "initiator_send_key"),
	       memscan_count_of(&set, counts, "initiator_recv_key"),
	       memscan_count_of(&set, counts, "dh_ss"), memscan_count_of(&set, counts, "psk"),
	       scanned);
}

static bool keep_configured(const char *name)
{
	return !strcmp(name, "dh_ss") || !strcmp(name, "psk"); /* per peer while it exists */
}

static bool keep_live(const char *name)
{
	return keep_configured(name) || is_transport(name);
}

int main(void)
{
	wg_time_ns t0;
	int counts[MEMSCAN_MAX];
	size_t scanned;
	rig r;

	memscan_init(&set);
	g_scan = !RUNNING_ON_VALGRIND;
	if (!g_scan) {
		g_wait_ms *= 10;
		printf("secrets_device: under valgrind: the device runs, no memory scan\n");
	}
	rig_start(&r);
	if (!r.dev)
		return test_finish("secrets_device");

	/* 1. a live session: A's keys are there (control), the temporaries are not */
	session(&r);
	if (g_scan) {
		check_gone("live", keep_live, counts);
		CHECK_MSG(memscan_count_of(&set, counts, "initiator_send_key") >= 1 &&
				  memscan_count_of(&set, counts, "initiator_recv_key") >= 1 &&
				  memscan_count_of(&set, counts, "dh_ss") >= 1 &&
				  memscan_count_of(&set, counts, "psk") >= 1,
			  "control: A's keys not found (scanner broken?)");
	}

	/* 2. expiry: A's clock jumps past 3 x REJECT_AFTER_TIME; the loop is woken to see it */
	atomic_fetch_add(&g_offset, 3 * WG_REJECT_AFTER_TIME + WG_SEC(1));
	io_loop_wake(r.dev->loop);
	t0 = io_now();
	while (!keys_zeroed(&r) && io_now() - t0 < (wg_time_ns)g_wait_ms * WG_MS(2))
		usleep(10 * 1000);
	CHECK_MSG(keys_zeroed(&r), "A's keypairs still there after the clock moved 541 s");
	loop_round_done(&r);
	if (g_scan)
		check_gone("after 541 s", keep_configured, counts);

	/* 3. a second session, then the peer removed */
	session(&r);
	if (g_scan) {
		memscan_run(&set, counts, &scanned);
		CHECK(memscan_count_of(&set, counts, "initiator_send_key") >= 1);
		CHECK(memscan_count_of(&set, counts, "psk") >= 1);
	}
	device_link_set(r.dev, false);
	t0 = io_now();
	while (device_is_up(r.dev) && io_now() - t0 < (wg_time_ns)g_wait_ms * WG_MS(1))
		usleep(1000);
	CHECK_MSG(!device_is_up(r.dev), "A did not go down");
	CHECK_MSG(keys_zeroed(&r), "A's keypairs still there after its link went down");
	loop_round_done(&r);
	if (g_scan)
		check_gone("after link down", keep_configured, counts);
	device_link_set(r.dev, true);
	t0 = io_now();
	while (!device_is_up(r.dev) && io_now() - t0 < (wg_time_ns)g_wait_ms * WG_MS(1))
		usleep(1000);
	CHECK_MSG(device_is_up(r.dev), "A did not come up");
	{
		wg_config_change c;
		wg_peer_change pc;

		memset(&c, 0, sizeof(c));
		memset(&pc, 0, sizeof(pc));
		memcpy(pc.public_key, r.t_pub, 32);
		pc.remove = true;
		c.peers = &pc;
		c.n_peers = 1;
		CHECK_EQ_INT(device_apply(r.dev, &c), 0);
	}
	loop_round_done(&r);
	if (g_scan)
		check_gone("after peer removal", NULL, counts);

	device_free(r.dev);
	close(r.app);
	close(r.u);
	return test_finish("secrets_device");
}
