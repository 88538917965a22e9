/* The TUN link going down and up (device_link_set, what the link monitor calls; docs/linkstate.md):
 * two devices over loopback UDP (tests/support/devnode.h). Down closes a's sockets (its port
 * can be bound by anyone), wipes its session (a packet from b that a would have decrypted
 * before is not delivered; a's tunnel has no keypair, handshake or staged packet), keeps its
 * counters, last handshake and listen port in get; a config change while down is stored and
 * acts at up (a persistent keepalive set while down makes a handshake at up with no traffic);
 * up reopens the same port and a new handshake carries traffic both ways. Then many cycles
 * with the process's fds and threads back where they were. A second up, and the device
 * without any down, are the controls: nothing changes (session, port, counters). */
#define _GNU_SOURCE
#include "devnode.h"
#include "linkstate.h"
#include "test.h"

#include "device/device.h"
#include "device/device_impl.h" /* the peer's tunnel, to look at its session */
#include "io/linux/loop.h"

#include <dirent.h>
#include <errno.h>

#define CYCLES 25

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The tunnel of n's only peer: session, staged packets, deadline. */
static void peer_state(node *n, bool *session, size_t *staged, bool *timer)
{
	device *dev = n->dev;
	wg_tunnel_stats st;
	peer *p;

	pthread_rwlock_rdlock(&dev->cfg_lock);
	p = dev->first;
	pthread_mutex_lock(&p->lock);
	wg_tunnel_get_stats(p->tun, &st);
	*staged = wg_tunnel_staged_count(p->tun);
	*timer = wg_tunnel_next_deadline(p->tun) != WG_TIME_NEVER;
	pthread_mutex_unlock(&p->lock);
	pthread_rwlock_unlock(&dev->cfg_lock);
	*session = st.has_session;
}

static void peer_info(node *n, wg_peer_info *out, uint16_t *listen_port)
{
	wg_config_info info;

	CHECK_EQ_INT(device_get_info(n->dev, &info), 0);
	CHECK_EQ_INT(info.n_peers, 1);
	memset(out, 0, sizeof(*out));
	if (info.n_peers == 1) {
		*out = info.peers[0];
		out->allowed_ips = NULL;
		out->n_allowed_ips = 0;
	}
	*listen_port = info.listen_port;
	wg_config_info_clear(&info);
}

static int set_keepalive(node *self, const node *other, uint16_t seconds)
{
	wg_config_change c;
	wg_peer_change pc;

	memset(&c, 0, sizeof(c));
	memset(&pc, 0, sizeof(pc));
	memcpy(pc.public_key, other->pub, 32);
	pc.has_persistent_keepalive = true;
	pc.persistent_keepalive = seconds;
	c.peers = &pc;
	c.n_peers = 1;
	return device_apply(self->dev, &c);
}

int main(void)
{
	node a, b;
	uint8_t pkt[256], buf[2048];
	size_t len, staged;
	bool session, timer;
	wg_peer_info before, during, after;
	uint16_t port, port_seen;
	device_stats st;
	int hs_a, hs_b, fds0, threads0;

	devnode_pair_start(&a, &b, 1);
	CHECK_EQ_INT(devnode_add_peer(&a, &b, "10.0.0.2", "fd00::2"), 0);
	CHECK_EQ_INT(devnode_add_peer(&b, &a, "10.0.0.1", "fd00::1"), 0);
	port = a.port;
	traffic(&a, &b, 1);
	CHECK(device_is_up(a.dev));
	CHECK_MSG(!port_free(port), "a holds its port while up");
	peer_info(&a, &before, &port_seen);

	/* Control: an up while up changes nothing (the session stays, no new handshake). */
	hs_a = __atomic_load_n(&a.handshakes, __ATOMIC_RELAXED);
	device_link_set(a.dev, true);
	sleep_ms(50);
	peer_state(&a, &session, &staged, &timer);
	CHECK_MSG(session, "an up while up keeps the session");
	device_get_stats(a.dev, &st);
	CHECK_EQ_U64(st.link_up, 0);
	CHECK_EQ_U64(st.link_down, 0);
	traffic(&a, &b, 3);
	CHECK_EQ_INT(__atomic_load_n(&a.handshakes, __ATOMIC_RELAXED), hs_a);

	/* Down. */
	device_link_set(a.dev, false);
	CHECK_MSG(wait_up(&a, false), "a went down");
	CHECK_MSG(port_free(port), "down: a's port %u is closed", port);
	peer_state(&a, &session, &staged, &timer);
	CHECK_MSG(!session && staged == 0 && !timer, "down: session %d staged %zu timer %d",
		  session, staged, timer);
	peer_info(&a, &during, &port_seen);
	CHECK_EQ_INT(port_seen, port); /* `wg show` still gives the port it will reopen */
	/* Counters and the last handshake are kept, as in the references (traffic 3 came
	 * after `before`: at least as much). */
	CHECK(during.rx_bytes >= before.rx_bytes && during.tx_bytes >= before.tx_bytes);
	CHECK_EQ_U64(during.last_handshake_sec, before.last_handshake_sec);
	CHECK(during.last_handshake_sec > 0);
	device_get_stats(a.dev, &st);
	CHECK_EQ_U64(st.link_down, 1);

	/* b still has its session: its packet reaches a's closed port and is lost. */
	hs_b = __atomic_load_n(&b.handshakes, __ATOMIC_RELAXED);
	len = devnode_make_ping4(pkt, "10.0.0.2", "10.0.0.1", 10);
	CHECK(send(b.app, pkt, len, 0) == (ssize_t)len);
	CHECK_MSG(devnode_app_recv(&a, buf, sizeof(buf), 300) < 0, "down: nothing arrives at a");
	/* a's TUN while down: dropped, no handshake started. */
	len = devnode_make_ping4(pkt, "10.0.0.1", "10.0.0.2", 11);
	CHECK(send(a.app, pkt, len, 0) == (ssize_t)len);
	sleep_ms(100);
	device_get_stats(a.dev, &st);
	CHECK_EQ_U64(st.tun_while_down, 1);
	peer_state(&a, &session, &staged, &timer);
	CHECK_MSG(!session && staged == 0 && !timer, "a TUN packet while down is dropped");
	CHECK_MSG(devnode_app_recv(&b, buf, sizeof(buf), 200) < 0, "down: nothing from a reaches b");

	/* A config change while down is stored: persistent keepalive, seen by get at once. */
	CHECK_EQ_INT(set_keepalive(&a, &b, 25), 0);
	peer_info(&a, &during, &port_seen);
	CHECK_EQ_INT(during.persistent_keepalive, 25);
	CHECK_MSG(port_free(port), "an apply while down opens no socket");
	sleep_ms(100);
	CHECK_EQ_INT(__atomic_load_n(&b.handshakes, __ATOMIC_RELAXED), hs_b);

	/* Up: the same port, and the keepalive makes a handshake with no traffic. */
	hs_a = __atomic_load_n(&a.handshakes, __ATOMIC_RELAXED);
	sleep_ms(1100); /* the last handshake time (seconds) must be able to move */
	device_link_set(a.dev, true);
	CHECK_MSG(wait_up(&a, true), "a came up");
	CHECK_EQ_INT(node_port(&a), port);
	CHECK_MSG(!port_free(port), "up: a holds its port again");
	for (int i = 0; i < devnode_wait_ms(3000) / 10 &&
			__atomic_load_n(&a.handshakes, __ATOMIC_RELAXED) == hs_a; i++)
		sleep_ms(10);
	CHECK_MSG(__atomic_load_n(&a.handshakes, __ATOMIC_RELAXED) > hs_a,
		  "up with persistent keepalive: a new handshake without traffic");
	devnode_app_drain(&a);
	devnode_app_drain(&b);
	traffic(&a, &b, 20);
	peer_info(&a, &after, &port_seen);
	CHECK(after.last_handshake_sec > before.last_handshake_sec);
	CHECK(after.rx_bytes > before.rx_bytes && after.tx_bytes > before.tx_bytes);
	device_get_stats(a.dev, &st);
	CHECK_EQ_U64(st.link_up, 1);
	CHECK_EQ_INT(set_keepalive(&a, &b, 0), 0);

	/* A port set while down is the one opened at up. */
	device_link_set(a.dev, false);
	CHECK(wait_up(&a, false));
	{
		wg_config_change c;
		uint16_t want;

		want = port_find_free();
		CHECK(want != 0);
		memset(&c, 0, sizeof(c));
		c.has_listen_port = true;
		c.listen_port = want;
		CHECK_EQ_INT(device_apply(a.dev, &c), 0);
		CHECK_EQ_INT(node_port(&a), want);
		CHECK_MSG(port_free(want), "the new port is not opened while down");
		device_link_set(a.dev, true);
		CHECK(wait_up(&a, true));
		CHECK_EQ_INT(node_port(&a), want);
		CHECK_MSG(!port_free(want), "up on the port set while down");
		/* b learns a's new port from a's authenticated packets (roaming). */
		devnode_app_drain(&a);
		devnode_app_drain(&b);
		traffic(&a, &b, 30);
		port = want;
	}

	/* Many cycles: fds and threads back where they were, traffic after each up. */
	fds0 = count_dir("/proc/self/fd");
	threads0 = count_dir("/proc/self/task");
	for (int i = 0; i < CYCLES; i++) {
		device_link_set(a.dev, false);
		CHECK(wait_up(&a, false));
		device_link_set(a.dev, true);
		CHECK(wait_up(&a, true));
		if (i % 5 == 4) {
			devnode_app_drain(&a);
			devnode_app_drain(&b);
			traffic(&a, &b, (uint16_t)(100 + 2 * i));
		}
	}
	CHECK_EQ_INT(node_port(&a), port);
	CHECK_EQ_INT(count_dir("/proc/self/fd"), fds0);
	CHECK_EQ_INT(count_dir("/proc/self/task"), threads0);
	device_get_stats(a.dev, &st);
	CHECK_EQ_U64(st.link_down, 2 + CYCLES);
	CHECK_EQ_U64(st.link_up, 2 + CYCLES);

	/* A down and an up read in one go (the link monitor's DEVICE_LINK_CYCLE): still a down,
	 * then an up on the same port. */
	traffic(&a, &b, 200);
	peer_state(&a, &session, &staged, &timer);
	CHECK(session);
	atomic_store(&a.dev->link_request, DEVICE_LINK_CYCLE);
	io_loop_wake(a.dev->loop);
	for (int i = 0; i < devnode_wait_ms(2000) / 5; i++) {
		device_get_stats(a.dev, &st);
		if (st.link_up == 3 + CYCLES)
			break;
		sleep_ms(5);
	}
	device_get_stats(a.dev, &st);
	CHECK_EQ_U64(st.link_down, 3 + CYCLES);
	CHECK_EQ_U64(st.link_up, 3 + CYCLES);
	CHECK(device_is_up(a.dev));
	CHECK_EQ_INT(node_port(&a), port);
	peer_state(&a, &session, &staged, &timer);
	CHECK_MSG(!session, "a down and up in one read still wipes the session");
	devnode_app_drain(&a);
	devnode_app_drain(&b);
	traffic(&a, &b, 210);

	/* Freed while down: nothing leaks (ASan / valgrind runs see it). */
	device_link_set(a.dev, false);
	CHECK(wait_up(&a, false));
	node_free(&a);
	node_free(&b);
	return test_finish("device_linkstate");
}
