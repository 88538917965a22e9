/* The TUN discard while down with a vnet-header TUN (docs/linkstate.md, "While down"): a real
 * TUN with IFF_VNET_HDR and USO in the test's own network namespace (needs root), the kernel
 * sending through it: a UDP GSO super-packet (8 x 1000 bytes), a plain datagram, and a
 * super-packet of the largest size (65,535 bytes of IP: its read is 10 bytes longer than the
 * discard buffer, so it is cut, and must still count once). Control, up without peers: each
 * of the three reaches the router once (tx_no_route +3, not +56: the kernel handed over
 * super-packets, not segments). Down: the same three are read and dropped before any parse
 * or split: tun_while_down +3 (one per read, i.e. per super-packet), tx_no_route unchanged. */
#define _GNU_SOURCE
#include "devnode.h" /* devnode_wait_ms */
#include "linkstate.h" /* sleep_ms */
#include "test.h"
#include "vnetnode.h" /* vnet_netns, vnet_tun */

#include "crypto/crypto.h"
#include "device/device.h"
#include "device/device_impl.h" /* tun_offload, what the TUN granted */
#include "io/linux/tun.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SENDS 3 /* 8 + 1 + 47 = 56 segments */

/* The kernel sends these through the TUN (10.77.0.2 is behind it). */
static void send_three(void)
{
	static uint8_t payload[65535 - 28];
	struct sockaddr_in to;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int seg;

	CHECK(s >= 0);
	memset(&to, 0, sizeof(to));
	to.sin_family = AF_INET;
	to.sin_port = htons(9);
	inet_pton(AF_INET, "10.77.0.2", &to.sin_addr);
	seg = 1000;
	CHECK(setsockopt(s, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg)) == 0);
	CHECK_MSG(sendto(s, payload, 8000, 0, (struct sockaddr *)&to, sizeof(to)) == 8000,
		  "GSO send: %s", strerror(errno));
	seg = 0;
	CHECK(setsockopt(s, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg)) == 0);
	CHECK(sendto(s, payload, 100, 0, (struct sockaddr *)&to, sizeof(to)) == 100);
	seg = 1400;
	CHECK(setsockopt(s, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg)) == 0);
	CHECK_MSG(sendto(s, payload, sizeof(payload), 0, (struct sockaddr *)&to, sizeof(to)) ==
			  (ssize_t)sizeof(payload),
		  "largest GSO send: %s", strerror(errno));
	close(s);
}

/* Waits until *field of the stats reaches want (or 2 s), then a moment for any surplus. */
static uint64_t settle(device *dev, size_t off, uint64_t want)
{
	device_stats st;
	uint64_t v = 0;

	for (int i = 0; i < devnode_wait_ms(2000) / 5; i++) {
		device_get_stats(dev, &st);
		memcpy(&v, (const uint8_t *)&st + off, sizeof(v));
		if (v >= want)
			break;
		sleep_ms(5);
	}
	sleep_ms(100);
	device_get_stats(dev, &st);
	memcpy(&v, (const uint8_t *)&st + off, sizeof(v));
	return v;
}

int main(void)
{
	char name[TUN_NAME_MAX];
	uint8_t priv[32], pub[32];
	device_params p;
	wg_config_change c;
	device_stats st0, st;
	device *dev;
	int fd;

	if (!vnet_netns() || (fd = vnet_tun("gpvn%d", "10.77.0.1", name)) < 0)
		return test_finish("device_linkstate_vnet");
	memset(&p, 0, sizeof(p));
	p.tun_fd = fd; /* no ifname: no link monitor, the test says down and up */
	dev = device_new(&p);
	CHECK(dev != NULL);
	if (!dev)
		return test_finish("device_linkstate_vnet");
	CHECK_MSG(dev->tun_vnet, "the TUN has a vnet header");
	CHECK_MSG(dev->tun_offload & TUN_OFFLOAD_USO, "USO granted (Linux >= 6.2): %#x",
		  dev->tun_offload);
	CHECK(crypto_x25519_generate(priv, pub) == 0);
	memset(&c, 0, sizeof(c));
	c.has_private_key = true;
	memcpy(c.private_key, priv, 32);
	CHECK_EQ_INT(device_apply(dev, &c), 0);
	CHECK_EQ_INT(device_start(dev), 0);
	CHECK(device_is_up(dev));

	/* Control, up: one routing decision per super-packet (no peer: tx_no_route). */
	device_get_stats(dev, &st0);
	send_three();
	CHECK_EQ_U64(settle(dev, offsetof(device_stats, tx_no_route), st0.tx_no_route + SENDS),
		     st0.tx_no_route + SENDS);

	/* Down: read and dropped, one count per read. */
	device_link_set(dev, false);
	for (int i = 0; i < devnode_wait_ms(2000) / 5 && device_is_up(dev); i++)
		sleep_ms(5);
	CHECK(!device_is_up(dev));
	device_get_stats(dev, &st0);
	send_three();
	CHECK_EQ_U64(settle(dev, offsetof(device_stats, tun_while_down),
			    st0.tun_while_down + SENDS),
		     st0.tun_while_down + SENDS);
	device_get_stats(dev, &st);
	CHECK_EQ_U64(st.tx_no_route, st0.tx_no_route); /* nothing parsed, split or routed */

	/* Up again: the TUN path works as before. */
	device_link_set(dev, true);
	for (int i = 0; i < devnode_wait_ms(2000) / 5 && !device_is_up(dev); i++)
		sleep_ms(5);
	CHECK(device_is_up(dev));
	send_three();
	CHECK_EQ_U64(settle(dev, offsetof(device_stats, tx_no_route), st.tx_no_route + SENDS),
		     st.tx_no_route + SENDS);
	device_free(dev);
	return test_finish("device_linkstate_vnet");
}
