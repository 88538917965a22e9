/* Watches one network interface through rtnetlink (RTMGRP_LINK): MTU changes and removal.
 * wg-quick sets the TUN's MTU only after the daemon started, so the device learns it here
 * instead of polling. */
#ifndef WGTUN_IO_LINUX_LINKMON_H
#define WGTUN_IO_LINUX_LINKMON_H

#include <stdbool.h>
#include <stdint.h>

/* A netlink socket (non-blocking) subscribed to link events; -errno on failure. */
int linkmon_open(void);

typedef struct {
	bool gone;    /* the interface was deleted */
	uint32_t mtu; /* its MTU changed to this (0 = no news) */
} linkmon_news;

/* Reads every pending message and reports what happened to interface ifindex. 0, or
 * -errno (-ENOBUFS: events were lost; the caller should re-check the interface itself). */
int linkmon_read(int fd, int ifindex, linkmon_news *news);

#endif
