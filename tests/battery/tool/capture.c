/* battery_tool capture: saves the UDP payloads sent to a port, as seen on an interface. */
#define _GNU_SOURCE
#include "tool.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5 /* Linux 4.18; older uapi headers lack it */
#endif
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int cmd_capture(char **av)
{
	const char *ifname = av[0];
	int port = atoi(av[1]), want = atoi(av[2]);
	double end = now_s() + atof(av[4]);
	FILE *f = fopen(av[3], "wb");
	/* ETH_P_ALL: protocol-specific packet sockets do not see outgoing packets */
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	uint8_t pkt[65536];
	int fd, got = 0;

	if (!f)
		die("open capture file");
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)); /* RAW: vnet header */
	if (fd < 0)
		die("AF_PACKET socket");
	/* The sender uses UDP GSO: a vnet header gives the segment size of super-packets. */
	int one = 1;
	if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0)
		die("PACKET_VNET_HDR");
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (!sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		die("bind AF_PACKET");
	while (got < want && now_s() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;
		if (poll(&p, 1, 200) <= 0)
			continue;
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		struct virtio_net_hdr vh;
		n = recvfrom(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&from, &fl);
		if (n < (ssize_t)sizeof(vh) + ETH_HLEN + 28 || from.sll_protocol != htons(ETH_P_IP))
			continue;
		memcpy(&vh, pkt, sizeof(vh));
		uint8_t *ip = pkt + sizeof(vh) + ETH_HLEN;
		n -= (ssize_t)(sizeof(vh) + ETH_HLEN);
		size_t ihl = (size_t)(ip[0] & 15) * 4;
		if ((ip[0] >> 4) != 4 || ip[9] != IPPROTO_UDP || (size_t)n < ihl + 8)
			continue;
		if ((ip[6] & 0x3f) || ip[7]) /* an IP fragment (MF or offset): not a whole datagram */
			continue;
		if (((ip[ihl + 2] << 8) | ip[ihl + 3]) != port)
			continue;
		size_t total = (size_t)n - ihl - 8, seg = total;
		if ((vh.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_UDP_L4 && vh.gso_size)
			seg = vh.gso_size;
		for (size_t off = 0; off < total && got < want; off += seg) {
			uint16_t len = (uint16_t)(total - off < seg ? total - off : seg);
			if (len > MAX_DGRAM)
				break;
			fwrite(&len, sizeof(len), 1, f);
			fwrite(ip + ihl + 8 + off, 1, len, f);
			got++;
		}
	}
	fclose(f);
	printf("captured=%d\n", got);
	return got > 0 ? 0 : 1;
}
