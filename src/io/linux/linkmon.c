#define _GNU_SOURCE
#include "io/linux/linkmon.h"

#include <errno.h>
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINKMON_BUF 8192 /* one recv; link messages are a few hundred bytes each */

int linkmon_open(void)
{
	struct sockaddr_nl sa;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
	int ret;

	if (fd < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	sa.nl_groups = RTMGRP_LINK;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/* Netlink's NLMSG_ and RTA_ macros cast away const and mix signedness, so the walk is written
 * out with explicit bounds instead. */
static void linkmon_parse_link(const uint8_t *msg, size_t len, uint16_t type, int ifindex,
			       linkmon_news *news)
{
	struct ifinfomsg ifi;
	size_t off = NLMSG_ALIGN(sizeof(ifi));

	if (len < sizeof(ifi))
		return;
	memcpy(&ifi, msg, sizeof(ifi));
	if (ifi.ifi_index != ifindex)
		return;
	if (type == RTM_DELLINK) {
		news->gone = true;
		return;
	}
	/* Every RTM_NEWLINK carries the flags; the latest one tells the state now. */
	news->has_state = true;
	news->running = (ifi.ifi_flags & IFF_RUNNING) != 0;
	if (!news->running)
		news->was_down = true;
	while (off + sizeof(struct rtattr) <= len) {
		struct rtattr rta;
		uint32_t mtu;

		memcpy(&rta, msg + off, sizeof(rta));
		if (rta.rta_len < sizeof(rta) || rta.rta_len > len - off)
			return;
		if (rta.rta_type == IFLA_MTU && rta.rta_len >= sizeof(rta) + sizeof(mtu)) {
			memcpy(&mtu, msg + off + RTA_ALIGN(sizeof(rta)), sizeof(mtu));
			news->mtu = mtu;
		}
		off += RTA_ALIGN(rta.rta_len);
	}
}

int linkmon_read(int fd, int ifindex, linkmon_news *news)
{
	uint8_t buf[LINKMON_BUF];

	memset(news, 0, sizeof(*news));
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		size_t off = 0;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		}
		while (off + sizeof(struct nlmsghdr) <= (size_t)n) {
			struct nlmsghdr h;

			memcpy(&h, buf + off, sizeof(h));
			if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > (size_t)n - off)
				break;
			if (h.nlmsg_type == RTM_NEWLINK || h.nlmsg_type == RTM_DELLINK)
				linkmon_parse_link(buf + off + NLMSG_HDRLEN, h.nlmsg_len - NLMSG_HDRLEN,
						   h.nlmsg_type, ifindex, news);
			off += NLMSG_ALIGN(h.nlmsg_len);
		}
	}
}
