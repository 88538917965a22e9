/* A port taken while the link was down (docs/linkstate.md, "A port taken at up"): a's port is
 * bound by the test (another process) while a is down, then the link comes up. A configured
 * port: a stays down, each up is counted (link_up_failed) and the stall logged once, the loop
 * sleeps (wakeups bounded over a window), get and apply still answer, a listen-port set on
 * the taken port fails with -EADDRINUSE and changes nothing; once the port is free the next
 * link up, or a listen-port set, opens it and a new handshake carries traffic. A random port
 * (listen-port 0) taken while down: the up takes a new random port (link_up_new_port, no
 * error), traffic goes on, and the next down/up keeps the new one. */
#define _GNU_SOURCE
#include "devnode.h"
#include "linkstate.h"
#include "test.h"

#include "device/device.h"

#include <errno.h>

#define STALL_WINDOW_MS 500
#define STALL_MAX_WAKEUPS 5 /* idle loop: 0 expected; a few for stray wakes */

/* Waits until a's link_up_failed reaches want; false after timeout. */
static bool wait_failed(node *a, uint64_t want)
{
	for (int i = 0; i < devnode_wait_ms(2000) / 5; i++) {
		if (devnode_stats(a).link_up_failed >= want)
			return true;
		sleep_ms(5);
	}
	return devnode_stats(a).link_up_failed >= want;
}

/* Traffic after a restart of a: its new initiation must carry a later timestamp than the one
 * before (TAI64N in steps of 2^24 ns, about 17 ms; b drops an equal one as a replay and a
 * resends it only after 5 s): the test runs faster than that. */
static void traffic_new(node *a, node *b, uint16_t seq)
{
	sleep_ms(40);
	devnode_app_drain(a);
	devnode_app_drain(b);
	traffic(a, b, seq);
}

static int set_port(node *n, uint16_t port)
{
	wg_config_change c;

	memset(&c, 0, sizeof(c));
	c.has_listen_port = true;
	c.listen_port = port;
	return device_apply(n->dev, &c);
}

static int errors(node *n)
{
	return __atomic_load_n(&n->logs[DEVICE_LOG_ERROR], __ATOMIC_RELAXED);
}

/* Down, port taken by the test (returned: the holder's fd), up: stalled. */
static int stall(node *a, uint16_t port, uint64_t *failed)
{
	int holder, err0;

	device_link_set(a->dev, false);
	CHECK(wait_up(a, false));
	holder = port_take(port);
	CHECK_MSG(holder >= 0, "the test takes port %u while a is down", port);
	err0 = errors(a);
	device_link_set(a->dev, true);
	CHECK_MSG(wait_failed(a, *failed + 1), "the up with port %u taken is counted", port);
	(*failed)++;
	CHECK_MSG(!device_is_up(a->dev), "port taken: a stays down");
	CHECK_EQ_INT(errors(a), err0 + 1); /* said once */
	return holder;
}

static void configured_port(node *a, node *b)
{
	uint64_t failed = 0, ups, wake0;
	uint16_t port = port_find_free();
	wg_config_info info;
	device_stats st;
	int holder, err0, hs;

	/* An explicit port, a session on it. */
	CHECK(port != 0);
	CHECK_EQ_INT(set_port(a, port), 0);
	traffic(a, b, 1);
	ups = devnode_stats(a).link_up;

	holder = stall(a, port, &failed);
	/* More ups while it is still taken: counted, not logged again, still down. */
	err0 = errors(a);
	for (int i = 0; i < 3; i++) {
		device_link_set(a->dev, true);
		CHECK(wait_failed(a, failed + 1));
		failed++;
	}
	CHECK_EQ_INT(errors(a), err0);
	CHECK(!device_is_up(a->dev));
	/* No busy loop: the stalled loop sleeps. */
	wake0 = devnode_stats(a).loop_wakeups;
	sleep_ms(STALL_WINDOW_MS);
	st = devnode_stats(a);
	CHECK_MSG(st.loop_wakeups - wake0 <= STALL_MAX_WAKEUPS, "stalled: %llu wakeups in %d ms",
		  (unsigned long long)(st.loop_wakeups - wake0), STALL_WINDOW_MS);
	CHECK_EQ_U64(st.link_up, ups);
	CHECK_EQ_U64(st.link_up_new_port, 0);
	/* get and apply still answer: the port it will try, a stored change. */
	CHECK_EQ_INT(node_port(a), port);
	CHECK_EQ_INT(node_npeers(a), 1);
	CHECK_EQ_INT(device_apply(a->dev, &(wg_config_change){ .has_fwmark = true }), 0);
	/* A listen-port set on the taken port fails as it would while up; nothing changed. */
	CHECK_EQ_INT(set_port(a, port), -EADDRINUSE);
	CHECK(!device_is_up(a->dev));
	CHECK_EQ_INT(node_port(a), port);

	/* Released: the next link up opens it; a new handshake carries traffic. */
	close(holder);
	hs = __atomic_load_n(&a->handshakes, __ATOMIC_RELAXED);
	device_link_set(a->dev, true);
	CHECK_MSG(wait_up(a, true), "port free again: the next link up opens it");
	CHECK_EQ_INT(node_port(a), port);
	CHECK_MSG(!port_free(port), "a holds port %u again", port);
	traffic_new(a, b, 10);
	CHECK(__atomic_load_n(&a->handshakes, __ATOMIC_RELAXED) > hs);
	st = devnode_stats(a);
	CHECK_EQ_U64(st.link_up, ups + 1);
	CHECK_EQ_U64(st.link_up_failed, failed);

	/* A new stall (after a down: logged again); a listen-port set is the retry. */
	holder = stall(a, port, &failed);
	close(holder);
	hs = __atomic_load_n(&a->handshakes, __ATOMIC_RELAXED);
	CHECK_EQ_INT(set_port(a, port), 0);
	CHECK_MSG(device_is_up(a->dev), "a listen-port set while stalled brings a up at once");
	CHECK(!port_free(port));
	traffic_new(a, b, 20);
	CHECK(__atomic_load_n(&a->handshakes, __ATOMIC_RELAXED) > hs);
	st = devnode_stats(a);
	CHECK_EQ_U64(st.link_up, ups + 2);
	CHECK_EQ_U64(st.link_up_failed, failed);

	/* Control: a set while simply down (not stalled) still opens nothing. */
	device_link_set(a->dev, false);
	CHECK(wait_up(a, false));
	CHECK_EQ_INT(set_port(a, port), 0);
	CHECK(!device_is_up(a->dev));
	CHECK_MSG(port_free(port), "down: a listen-port set opens no socket");
	device_link_set(a->dev, true);
	CHECK(wait_up(a, true));
	CHECK_EQ_INT(device_get_info(a->dev, &info), 0);
	CHECK_EQ_INT(info.listen_port, port);
	wg_config_info_clear(&info);
}

static void random_port(node *a, node *b)
{
	uint16_t was, now;
	device_stats st0, st;
	int holder, err0;

	/* listen-port 0: the kernel's pick, kept across a down/up. */
	CHECK_EQ_INT(set_port(a, 0), 0);
	was = node_port(a);
	CHECK(was != 0);
	traffic_new(a, b, 30);
	st0 = devnode_stats(a);
	err0 = errors(a);

	device_link_set(a->dev, false);
	CHECK(wait_up(a, false));
	CHECK_EQ_INT(node_port(a), was);
	holder = port_take(was);
	CHECK_MSG(holder >= 0, "the test takes a's random port %u while down", was);
	device_link_set(a->dev, true);
	CHECK_MSG(wait_up(a, true), "random port taken: up on a new random port");
	now = node_port(a);
	CHECK_MSG(now != 0 && now != was, "new port %u (was %u)", now, was);
	CHECK(!port_free(now));
	st = devnode_stats(a);
	CHECK_EQ_U64(st.link_up_new_port, st0.link_up_new_port + 1);
	CHECK_EQ_U64(st.link_up_failed, st0.link_up_failed);
	CHECK_EQ_U64(st.link_up, st0.link_up + 1);
	CHECK_EQ_INT(errors(a), err0); /* not an error: nobody chose that port */
	/* b learns the new port from a's new handshake. */
	traffic_new(a, b, 40);
	close(holder);

	/* The new pick is the one kept now. */
	device_link_set(a->dev, false);
	CHECK(wait_up(a, false));
	CHECK_EQ_INT(node_port(a), now);
	device_link_set(a->dev, true);
	CHECK(wait_up(a, true));
	CHECK_EQ_INT(node_port(a), now);
	CHECK_EQ_U64(devnode_stats(a).link_up_new_port, st0.link_up_new_port + 1);
	traffic_new(a, b, 50);
}

int main(void)
{
	node a, b;

	devnode_pair_start_logged(&a, &b, 1);
	CHECK_EQ_INT(devnode_add_peer(&a, &b, "10.0.0.2", "fd00::2"), 0);
	CHECK_EQ_INT(devnode_add_peer(&b, &a, "10.0.0.1", "fd00::1"), 0);
	configured_port(&a, &b);
	random_port(&a, &b);
	node_free(&a);
	node_free(&b);
	return test_finish("device_linkstate_port");
}
