/* Watches one network interface through rtnetlink (RTMGRP_LINK): MTU changes, removal, and
 * the link going down and up. wg-quick sets the TUN's MTU and brings it up only after the
 * daemon started, so the device learns both here instead of polling. */
#ifndef WGTUN_IO_LINUX_LINKMON_H
#define WGTUN_IO_LINUX_LINKMON_H

#include <stdbool.h>
#include <stdint.h>

/* A netlink socket (non-blocking) subscribed to link events; -errno on failure. */
int linkmon_open(void);

typedef struct {
	bool gone;    /* the interface was deleted */
	uint32_t mtu; /* its MTU changed to this (0 = no news) */
	/* An RTM_NEWLINK for it came; running = IFF_RUNNING in the latest one (up and with
	 * carrier: what wireguard-go follows; a TUN has carrier while its fd is attached). */
	bool has_state;
	bool running;
	/* Some RTM_NEWLINK for it had IFF_RUNNING clear: a down and up read in one go is
	 * still a down (its sessions must go). */
	bool was_down;
} linkmon_news;

/* Reads every pending message and reports what happened to interface ifindex. 0, or
 * -errno (-ENOBUFS: events were lost; the caller should re-check the interface itself). */
int linkmon_read(int fd, int ifindex, linkmon_news *news);

#endif
