/* See vnetnode.h. */
#define _GNU_SOURCE
#include "vnetnode.h"

#include "crypto/crypto.h"
#include "io/linux/tun.h"
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

bool vnet_netns(void)
{
	FILE *f;

	if (unshare(CLONE_NEWNET) != 0) {
		CHECK_MSG(0, "unshare(CLONE_NEWNET): %s (needs root)", strerror(errno));
		return false;
	}
	f = fopen("/proc/sys/net/ipv6/conf/default/disable_ipv6", "w");
	if (f) {
		fputs("1", f);
		fclose(f);
	}
	if (system("ip link set lo up") != 0) {
		CHECK_MSG(0, "ip link set lo up failed");
		return false;
	}
	return true;
}

int vnet_tun(const char *pattern, const char *addr, char name[16])
{
	char cmd[160];
	int fd = tun_create(pattern, name, true);

	if (fd < 0) {
		CHECK_MSG(0, "tun_create(%s): %d", pattern, fd);
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "ip addr add %s/24 dev %s && ip link set %s up", addr, name,
		 name);
	if (system(cmd) != 0) {
		CHECK_MSG(0, "ip: could not set up %s", name);
		close(fd);
		return -1;
	}
	return fd;
}

void vnet_node_start(node *n, int tun_fd)
{
	device_params p;

	memset(n, 0, sizeof(*n));
	n->app = -1;
	memset(&p, 0, sizeof(p));
	p.tun_fd = tun_fd;
	CHECK(crypto_x25519_generate(n->priv, n->pub) == 0);
	n->dev = device_new(&p);
	CHECK_MSG(n->dev != NULL, "device_new on the vnet TUN: %s", strerror(errno));
	if (!n->dev)
		return;
	CHECK_EQ_INT(devnode_set_key(n), 0);
	CHECK_EQ_INT(device_start(n->dev), 0);
	n->port = node_port(n);
}

static uint32_t sum16(const uint8_t *p, size_t len, uint32_t s)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (uint32_t)(p[len - 1] << 8);
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

size_t vnet_udp4(uint8_t *pkt, const char *src, const char *dst, uint16_t sport, uint16_t dport,
		 uint32_t seq)
{
	size_t len = 28 + VNET_PLEN, ulen = 8 + VNET_PLEN;
	uint8_t *u = pkt + 20;
	uint16_t c;
	uint32_t s;

	memset(pkt, 0, 28);
	devnode_ip4_udp_hdr(pkt, len, src, dst);
	c = fold(sum16(pkt, 20, 0));
	pkt[10] = (uint8_t)(c >> 8);
	pkt[11] = (uint8_t)c;
	u[0] = (uint8_t)(sport >> 8);
	u[1] = (uint8_t)sport;
	u[2] = (uint8_t)(dport >> 8);
	u[3] = (uint8_t)dport;
	u[4] = (uint8_t)(ulen >> 8);
	u[5] = (uint8_t)ulen;
	memcpy(u + 8, &seq, 4);
	for (size_t i = 4; i < VNET_PLEN; i++)
		u[8 + i] = (uint8_t)(i * 7 + seq);
	/* Pseudo header: the addresses, protocol 17, UDP length. */
	s = sum16(pkt + 12, 8, 17 + (uint32_t)ulen);
	c = fold(sum16(u, ulen, s));
	if (c == 0)
		c = 0xffff;
	u[6] = (uint8_t)(c >> 8);
	u[7] = (uint8_t)c;
	return len;
}

bool vnet_payload_ok(const uint8_t *payload, size_t len, uint32_t seq)
{
	if (len != VNET_PLEN || memcmp(payload, &seq, 4) != 0)
		return false;
	for (size_t i = 4; i < VNET_PLEN; i++)
		if (payload[i] != (uint8_t)(i * 7 + seq))
			return false;
	return true;
}

bool vnet_udp4_csum_ok(const uint8_t *pkt, size_t len)
{
	size_t ihl, ulen;

	if (len < 28 || pkt[0] >> 4 != 4 || pkt[9] != 17)
		return false;
	ihl = (size_t)(pkt[0] & 15) * 4;
	if (ihl < 20 || ihl + 8 > len || fold(sum16(pkt, ihl, 0)) != 0)
		return false;
	ulen = (size_t)(pkt[ihl + 4] << 8 | pkt[ihl + 5]);
	if (ulen != len - ihl || (pkt[ihl + 6] == 0 && pkt[ihl + 7] == 0))
		return false;
	return fold(sum16(pkt + ihl, ulen, sum16(pkt + 12, 8, 17 + (uint32_t)ulen))) == 0;
}

int vnet_udp_listen(const char *ip, uint16_t port)
{
	struct sockaddr_in sa;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), size = 4 << 20;

	if (s < 0)
		return -1;
	(void)setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	inet_pton(AF_INET, ip, &sa.sin_addr);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(s);
		return -1;
	}
	return s;
}

unsigned vnet_expect(int fd, uint32_t first, unsigned count, int wait_ms)
{
	static uint8_t buf[65536];
	unsigned got = 0;

	while (got < count) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;
		if (poll(&p, 1, wait_ms) <= 0)
			break;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			continue;
		CHECK_MSG(vnet_payload_ok(buf, (size_t)n, first + got),
			  "datagram %u of the burst at %u: %zd bytes, not the one sent", got, first,
			  n);
		got++;
	}
	return got;
}
