/* libFuzzer harness for the rtnetlink link-event parser (src/io/linux/linkmon.c): what the
 * kernel sends on the RTMGRP_LINK socket, given to linkmon_read through a local datagram
 * socket (recv works the same on it; nothing in src/ is changed for fuzzing).
 *
 * Input: byte 0 = the watched ifindex (0..3, so the seeds' index 1 is hit often), then a script
 * of datagrams [len u16 LE][bytes] (at most FUZZ_MAX_DGRAMS, each at most 16 KiB: longer than
 * linkmon's buffer, which truncates it).
 * Invariants (trap): linkmon_read returns 0 (all read, nothing else pending) and its news
 * equal a naive reference walk of the same bytes: `gone` once an RTM_DELLINK for the index
 * came, `mtu` the last IFLA_MTU (4 bytes or more) of an RTM_NEWLINK for it, 0 if none,
 * `has_state` once an RTM_NEWLINK for it came, `running` its latest one's IFF_RUNNING,
 * `was_down` once one of them had it clear. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "io/linux/linkmon.h"

#define FUZZ_MAX_DGRAMS 8
#define FUZZ_MAX_DGRAM 16384
#define LINKMON_RECV_CAP 8192 /* linkmon.c's LINKMON_BUF: one recv, the rest is cut off */

static uint32_t rd16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t rd32(const uint8_t *p)
{
	return rd16(p) | rd16(p + 2) << 16;
}

static size_t align4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

/* The attributes of one link message for the watched interface (host byte order, which is
 * little-endian here: rd16/rd32). */
static void ref_attrs(const uint8_t *p, size_t len, linkmon_news *news)
{
	size_t off = 16; /* struct ifinfomsg */

	while (off + 4 <= len) {
		size_t alen = rd16(p + off);

		if (alen < 4 || alen > len - off)
			return;
		if (rd16(p + off + 2) == IFLA_MTU && alen >= 8)
			news->mtu = rd32(p + off + 4);
		off += align4(alen);
	}
}

static void ref_dgram(const uint8_t *p, size_t n, int ifindex, linkmon_news *news)
{
	size_t off = 0;

	if (n > LINKMON_RECV_CAP)
		n = LINKMON_RECV_CAP;
	while (off + 16 <= n) {
		size_t len = rd32(p + off);
		uint32_t type = rd16(p + off + 4);
		const uint8_t *msg = p + off + 16;

		if (len < 16 || len > n - off)
			return;
		if ((type == RTM_NEWLINK || type == RTM_DELLINK) && len - 16 >= 16 &&
		    (int)rd32(msg + 4) == ifindex) {
			if (type == RTM_DELLINK) {
				news->gone = true;
			} else {
				news->has_state = true;
				news->running = (rd32(msg + 8) & IFF_RUNNING) != 0;
				news->was_down |= !news->running;
				ref_attrs(msg, len - 16, news);
			}
		}
		off += align4(len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	linkmon_news got, want;
	int sv[2], ifindex, ndgrams = 0;
	size_t off = 1;

	if (size < 1)
		return 0;
	ifindex = data[0] & 3;
	memset(&want, 0, sizeof(want));
	/* SOCK_DGRAM keeps the datagram boundaries a netlink socket has. */
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
		return 0;
	while (off + 2 <= size && ndgrams < FUZZ_MAX_DGRAMS) {
		size_t len = rd16(data + off);

		off += 2;
		if (len > size - off)
			len = size - off;
		if (len > FUZZ_MAX_DGRAM)
			len = FUZZ_MAX_DGRAM;
		/* A datagram the socket did not take is not in the reference either. */
		if (send(sv[1], data + off, len, 0) == (ssize_t)len)
			ref_dgram(data + off, len, ifindex, &want);
		off += len;
		ndgrams++;
	}
	memset(&got, 0xa5, sizeof(got));
	CHECK_OR_TRAP(linkmon_read(sv[0], ifindex, &got) == 0);
	CHECK_OR_TRAP(got.gone == want.gone);
	CHECK_OR_TRAP(got.mtu == want.mtu);
	CHECK_OR_TRAP(got.has_state == want.has_state);
	CHECK_OR_TRAP(got.running == want.running);
	CHECK_OR_TRAP(got.was_down == want.was_down);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
