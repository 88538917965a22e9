#define _GNU_SOURCE
#include "io/linux/linkmon.h"

#include <errno.h>
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

static void linkmon_parse_link(const struct nlmsghdr *h, int ifindex, linkmon_news *news)
{
	const struct ifinfomsg *ifi;
	const struct rtattr *rta;
	int len;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return;
	ifi = NLMSG_DATA(h);
	if (ifi->ifi_index != ifindex)
		return;
	if (h->nlmsg_type == RTM_DELLINK) {
		news->gone = true;
		return;
	}
	len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi)));
	for (rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		uint32_t mtu;
		if (rta->rta_type != IFLA_MTU || RTA_PAYLOAD(rta) < sizeof(mtu))
			continue;
		memcpy(&mtu, RTA_DATA(rta), sizeof(mtu));
		news->mtu = mtu;
	}
}

int linkmon_read(int fd, int ifindex, linkmon_news *news)
{
	/* uint32_t alignment: nlmsghdr and rtattr are read in place. */
	uint32_t buf[LINKMON_BUF / sizeof(uint32_t)];

	memset(news, 0, sizeof(*news));
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		const struct nlmsghdr *h;
		int left;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		}
		left = (int)n;
		for (h = (const struct nlmsghdr *)buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left))
			if (h->nlmsg_type == RTM_NEWLINK || h->nlmsg_type == RTM_DELLINK)
				linkmon_parse_link(h, ifindex, news);
	}
}
