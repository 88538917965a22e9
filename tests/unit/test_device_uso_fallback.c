/* The TUN offload fallbacks of tun_offload_set (src/io/linux/tun.c), on real vnet-header TUNs
 * in the test's own network namespace (needs root; tests/support/vnetnode.h), with the
 * kernel's refusal injected (ioctl is wrapped, tests/support/syswrap.c): TUNSETOFFLOAD with
 * USO4/USO6 fails with EINVAL, as on kernels before 6.2.
 * - B (USO refused) gets checksum + TSO, one refused call; C, beside it on an unrefused TUN,
 *   gets USO too (the control).
 * - UDP still flows both ways through B: a UDP_SEGMENT send of 8 x 1000 bytes through B's
 *   TUN reaches B's peer as 8 datagrams with valid checksums, byte-exact, and B cut nothing
 *   (the kernel segmented: tun_split_udp 0), where C cut one super-packet into 8; a burst of
 *   one UDP flow to B's TUN arrives whole and in order, never coalesced into a UDP
 *   super-packet (tun_gro_udp 0: the kernel was not offered USO), where C coalesces.
 * - TSO refused too: checksum only. Every TUNSETOFFLOAD refused, even "none": device_new
 *   fails with EINVAL (the kernel could hand over super-packets never asked for). */
#define _GNU_SOURCE
#include "devnode.h"
#include "syswrap.h"
#include "test.h"
#include "vnetnode.h"

#include "device/device_impl.h"
#include "io/linux/tun.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BURST 32
#define SEGS 8

typedef struct {
	node tun, peer; /* the device on the vnet TUN, its devnode peer */
	const char *tun_ip, *peer_ip;
	uint16_t rx_port;
	int rx;
} side;

static bool side_up(side *s)
{
	uint8_t pkt[2048];

	node_start_bare(&s->peer);
	s->rx = vnet_udp_listen(s->tun_ip, s->rx_port);
	CHECK(s->rx >= 0);
	if (!s->tun.dev || !s->peer.dev || s->rx < 0)
		return false;
	CHECK_EQ_INT(devnode_add_peer(&s->peer, &s->tun, s->tun_ip, "fd00::1"), 0);
	CHECK_EQ_INT(devnode_add_peer(&s->tun, &s->peer, s->peer_ip, "fd00::2"), 0);
	for (int i = 0; i < 3; i++) {
		size_t len = vnet_udp4(pkt, s->peer_ip, s->tun_ip, 4000, s->rx_port, 1);
		CHECK(send(s->peer.app, pkt, len, 0) == (ssize_t)len);
		if (vnet_expect(s->rx, 1, 1, devnode_wait_ms(2000)) == 1)
			return true;
	}
	CHECK_MSG(0, "no packet through the tunnel to %s", s->tun_ip);
	return false;
}

static void side_free(side *s)
{
	if (s->rx >= 0)
		close(s->rx);
	node_free(&s->peer);
	node_free(&s->tun);
}

/* The kernel sends one UDP_SEGMENT super-packet of SEGS x 1000 bytes to the peer's address,
 * through the side's TUN; the peer's app side must get SEGS datagrams with valid checksums,
 * byte-exact. Returns the growth of the TUN device's tun_split_udp. */
static uint64_t segmented_send(side *s, uint8_t salt)
{
	static uint8_t payload[SEGS * 1000];
	uint8_t got[2048];
	struct sockaddr_in to;
	uint64_t split0 = devnode_stats(&s->tun).tun_split_udp;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), seg = 1000;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 13 + salt);
	memset(&to, 0, sizeof(to));
	to.sin_family = AF_INET;
	to.sin_port = htons(9);
	inet_pton(AF_INET, s->peer_ip, &to.sin_addr);
	CHECK(fd >= 0);
	CHECK(setsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg)) == 0);
	CHECK_MSG(sendto(fd, payload, sizeof(payload), 0, (struct sockaddr *)&to, sizeof(to)) ==
			  (ssize_t)sizeof(payload),
		  "GSO send: %s", strerror(errno));
	close(fd);
	for (unsigned i = 0; i < SEGS; i++) {
		long n = devnode_app_recv(&s->peer, got, sizeof(got), devnode_wait_ms(2000));
		CHECK_MSG(n == 1028, "segment %u via %s: %ld bytes", i, s->tun_ip, n);
		if (n != 1028)
			return devnode_stats(&s->tun).tun_split_udp - split0;
		CHECK_MSG(vnet_udp4_csum_ok(got, (size_t)n), "segment %u: bad checksum", i);
		CHECK_MEM(got + 28, payload + i * 1000, 1000);
	}
	return devnode_stats(&s->tun).tun_split_udp - split0;
}

/* Bursts of one UDP flow from the peer to the TUN's address (at most tries of them, until
 * one was coalesced if want_gro): each arrives whole. Returns tun_gro_udp's growth. */
static uint64_t flow_bursts(side *s, int tries, bool want_gro, uint32_t seq)
{
	uint64_t g0 = devnode_stats(&s->tun).tun_gro_udp;
	uint8_t pkt[2048];

	for (int t = 0; t < tries; t++) {
		for (unsigned i = 0; i < BURST; i++) {
			size_t len = vnet_udp4(pkt, s->peer_ip, s->tun_ip, 4000, s->rx_port,
					       seq + i);
			CHECK(send(s->peer.app, pkt, len, 0) == (ssize_t)len);
		}
		CHECK_EQ_INT(vnet_expect(s->rx, seq, BURST, devnode_wait_ms(2000)), BURST);
		seq += BURST;
		if (want_gro && devnode_stats(&s->tun).tun_gro_udp > g0)
			break;
	}
	return devnode_stats(&s->tun).tun_gro_udp - g0;
}

/* A device on a fresh vnet TUN with TUNSETOFFLOAD refused for flags in mask; what it got. */
static unsigned offload_with_refusal(unsigned long mask, const char *ip)
{
	char name[16];
	unsigned long r0 = syswrap_ioctl_refused();
	unsigned got = TUN_OFFLOAD_FAILED;
	node n;
	int fd = vnet_tun("g2uo%d", ip, name);

	if (fd < 0)
		return got;
	syswrap_ioctl_fail(TUNSETOFFLOAD, mask, EINVAL);
	vnet_node_start(&n, fd);
	syswrap_ioctl_fail(0, 0, 0);
	CHECK(syswrap_ioctl_refused() > r0);
	if (n.dev)
		got = n.dev->tun_offload;
	node_free(&n);
	return got;
}

int main(void)
{
	side b = { .tun_ip = "10.77.0.1", .peer_ip = "10.77.0.2", .rx_port = 5001, .rx = -1 };
	side c = { .tun_ip = "10.78.0.1", .peer_ip = "10.78.0.2", .rx_port = 5002, .rx = -1 };
	char name[16];
	unsigned long r0;
	device_params p;
	int fd;

	devnode_watchdog("test_device_uso_fallback", 120);
	b.tun.app = b.peer.app = c.tun.app = c.peer.app = -1;
	if (!vnet_netns())
		return test_finish("device_uso_fallback");
	fd = vnet_tun("g2ub%d", b.tun_ip, name);
	if (fd >= 0) {
		r0 = syswrap_ioctl_refused();
		syswrap_ioctl_fail(TUNSETOFFLOAD, TUN_F_USO4 | TUN_F_USO6, EINVAL);
		vnet_node_start(&b.tun, fd);
		syswrap_ioctl_fail(0, 0, 0);
		CHECK_EQ_U64(syswrap_ioctl_refused() - r0, 1);
		if (b.tun.dev)
			CHECK_EQ_INT(b.tun.dev->tun_offload, TUN_OFFLOAD_CSUM | TUN_OFFLOAD_TSO);
	}
	fd = vnet_tun("g2uc%d", c.tun_ip, name);
	if (fd >= 0) {
		vnet_node_start(&c.tun, fd);
		if (c.tun.dev)
			CHECK_MSG(c.tun.dev->tun_offload ==
					  (TUN_OFFLOAD_CSUM | TUN_OFFLOAD_TSO | TUN_OFFLOAD_USO),
				  "control: USO granted (Linux >= 6.2): %#x", c.tun.dev->tun_offload);
	}
	if (side_up(&b) && side_up(&c)) {
		/* Kernel -> TUN: B gets segments (nothing to cut), C a super-packet. */
		CHECK_EQ_U64(segmented_send(&b, 1), 0);
		CHECK_EQ_U64(segmented_send(&c, 2), 1);
		CHECK_EQ_U64(devnode_stats(&b.tun).tun_split_segs, 0);
		/* TUN writes: B never coalesces UDP; C does (within 10 bursts). */
		CHECK_EQ_U64(flow_bursts(&b, 3, false, 100), 0);
		CHECK(flow_bursts(&c, 10, true, 100) > 0);
		CHECK_EQ_U64(devnode_stats(&b.tun).tun_write_error, 0);
	}
	side_free(&b);
	side_free(&c);

	/* Further down the ladder: TSO refused too -> checksum only. */
	CHECK_EQ_INT(offload_with_refusal(TUN_F_TSO4 | TUN_F_USO4, "10.79.0.1"), TUN_OFFLOAD_CSUM);
	/* Every TUNSETOFFLOAD refused, even "none": the device is not made. */
	fd = vnet_tun("g2un%d", "10.80.0.1", name);
	if (fd >= 0) {
		device *dev;
		memset(&p, 0, sizeof(p));
		p.tun_fd = fd;
		syswrap_ioctl_fail(TUNSETOFFLOAD, 0, EINVAL);
		errno = 0;
		dev = device_new(&p);
		syswrap_ioctl_fail(0, 0, 0);
		CHECK_MSG(dev == NULL && errno == EINVAL, "device_new with no offload settable: %p %d",
			  (void *)dev, errno);
		device_free(dev);
	}
	return test_finish("device_uso_fallback");
}
