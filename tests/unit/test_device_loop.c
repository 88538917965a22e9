/* Routing loop (reliability.md B11; the kernel's netns.sh loop test, where a deliberate loop
 * must leak < 70,000 bytes): when the route to a peer's endpoint points into the WireGuard
 * interface itself (AllowedIPs 0.0.0.0/0 without wg-quick's fwmark rules), the daemon's own
 * outer datagrams come back through the TUN. Encrypting them again sends a bigger datagram to
 * the same endpoint, which comes back again: a loop that never ends. Here the test plays the
 * kernel's part: A's peer endpoint is a UDP socket of the test, and what arrives there is
 * written back into A's TUN as the IP packet the kernel would route into it (UDP from A's
 * listen port). A must drop it (counted in tx_loop) and send nothing more; a WireGuard
 * datagram from the same port number to another destination (a forwarded client's nested
 * WireGuard) goes through. */
#include "devnode.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

static uint16_t csum_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* IPv4 + UDP 127.0.0.1:sport -> 127.0.0.1:dport around payload: what the kernel hands the
 * TUN when the route to 127.0.0.1 goes through it. */
static size_t wrap4(uint8_t *out, uint16_t sport, uint16_t dport, const uint8_t *payload,
		    size_t len)
{
	size_t total = 20 + 8 + len;
	uint32_t s = 0;

	memset(out, 0, 28);
	out[0] = 0x45;
	out[2] = (uint8_t)(total >> 8), out[3] = (uint8_t)total;
	out[8] = 64;
	out[9] = 17;
	out[12] = 127, out[15] = 1; /* 127.0.0.1 */
	out[16] = 127, out[19] = 1;
	for (int i = 0; i < 20; i += 2)
		s += (uint32_t)(out[i] << 8 | out[i + 1]);
	s = csum_fold(s);
	out[10] = (uint8_t)(s >> 8), out[11] = (uint8_t)s;
	out[20] = (uint8_t)(sport >> 8), out[21] = (uint8_t)sport;
	out[22] = (uint8_t)(dport >> 8), out[23] = (uint8_t)dport;
	out[24] = (uint8_t)((8 + len) >> 8), out[25] = (uint8_t)(8 + len);
	memcpy(out + 28, payload, len);
	return total;
}

static long recv_wait(int fd, uint8_t *buf, size_t cap, int ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	if (poll(&pfd, 1, ms) != 1)
		return -1;
	return recv(fd, buf, cap, 0);
}

int main(void)
{
	node a, b;
	wg_allowed_ip all[2];
	wg_peer_change pc;
	wg_config_change c;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	uint16_t port;
	uint8_t pkt[256], d[2048], loop[2048 + 28];
	size_t len;
	long n, n2;
	device_stats before, after;

	CHECK(s >= 0 && bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	      getsockname(s, (struct sockaddr *)&sin, &sl) == 0);
	port = ntohs(sin.sin_port);

	devnode_pair_start(&a, &b, 0);
	/* A routes everything to B (a full tunnel); B routes A's addresses. */
	memset(&c, 0, sizeof(c));
	memset(&pc, 0, sizeof(pc));
	memcpy(pc.public_key, b.pub, 32);
	pc.has_endpoint = true;
	devnode_loopback(&pc.endpoint, b.port);
	pc.replace_allowed_ips = true;
	devnode_ip4(&all[0], "0.0.0.0", 0);
	devnode_ip6(&all[1], "::", 0);
	pc.allowed_ips = all;
	pc.n_allowed_ips = 2;
	c.peers = &pc;
	c.n_peers = 1;
	CHECK_EQ_INT(device_apply(a.dev, &c), 0);
	CHECK_EQ_INT(devnode_add_peer(&b, &a, "10.0.0.1", "fd00::1"), 0);
	len = devnode_make_ping4(pkt, "10.0.0.1", "10.0.0.2", 1);
	CHECK_MSG(devnode_deliver(&a, &b, pkt, len), "session A <-> B");

	/* B's endpoint at A becomes the test's socket: A's data now comes here. */
	pc.replace_allowed_ips = false;
	pc.n_allowed_ips = 0;
	pc.allowed_ips = NULL;
	devnode_loopback(&pc.endpoint, port);
	CHECK_EQ_INT(device_apply(a.dev, &c), 0);
	len = devnode_make_ping4(pkt, "10.0.0.1", "10.0.0.2", 2);
	CHECK(send(a.app, pkt, len, 0) == (ssize_t)len);
	n = recv_wait(s, d, sizeof(d), devnode_wait_ms(2000));
	CHECK_MSG(n >= 32 && d[0] == 4, "A's data message at the endpoint: %ld bytes", n);

	/* The kernel's part: A's own datagram routed back into A's TUN. */
	device_get_stats(a.dev, &before);
	if (n > 0) {
		size_t l = wrap4(loop, a.port, port, d, (size_t)n);

		CHECK(send(a.app, loop, l, 0) == (ssize_t)l);
	}
	n2 = recv_wait(s, d, sizeof(d), devnode_wait_ms(300));
	CHECK_MSG(n2 < 0, "A encrypted its own datagram again (%ld bytes): a routing loop", n2);
	device_get_stats(a.dev, &after);
	CHECK_EQ_U64(after.tx_loop, before.tx_loop + 1);

	/* A forwarded client's own WireGuard from the same port number, but to another
	 * destination than A's endpoint for B (nested WireGuard): not a loop, it goes to B. */
	{
		uint8_t other[64 + 28], got[2048];
		size_t l;

		memset(d, 0, 64);
		d[0] = 4; /* a data message's header */
		l = wrap4(other, a.port, (uint16_t)(port + 1), d, 64);
		CHECK(send(a.app, other, l, 0) == (ssize_t)l);
		n2 = recv_wait(s, got, sizeof(got), devnode_wait_ms(2000));
		CHECK_MSG(n2 >= 32 + 92 && got[0] == 4, "forwarded WireGuard: %ld bytes", n2);
		device_get_stats(a.dev, &before);
		CHECK_EQ_U64(before.tx_loop, after.tx_loop);
	}

	/* Other UDP through the tunnel is not touched: from another port it goes to B. */
	{
		uint8_t other[64 + 28], got[2048];
		size_t l;

		memset(d, 0x11, 64);
		l = wrap4(other, (uint16_t)(a.port + 1), port, d, 64);
		CHECK(send(a.app, other, l, 0) == (ssize_t)l);
		n2 = recv_wait(s, got, sizeof(got), devnode_wait_ms(2000));
		CHECK_MSG(n2 >= 32 + 92 && got[0] == 4, "other UDP: %ld bytes", n2);
	}

	close(s);
	node_free(&a);
	node_free(&b);
	return test_finish("device_loop");
}
