/* libFuzzer harness for the UDP receive path's control-message parser (udp_parse_cmsgs:
 * UDP_GRO segment size, IP_PKTINFO / IPV6_PKTINFO local address), which udp_recv_batch runs
 * on what the kernel wrote for each datagram.
 *
 * Input: bytes 0-1 = the datagram's length (u16 LE), the rest = the control data, copied to
 * a heap block of exactly its size (ASan sees any read past it) at an odd or even offset.
 * Invariants (trap): the segment size is 0 or below the datagram's length; the source is
 * none, IPv4 or IPv6, and never unspecified, multicast or the limited broadcast. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "io/linux/udp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msghdr h;
	udp_src src;
	uint16_t seg;
	size_t len, n;
	uint8_t *ctl;

	if (size < 2)
		return 0;
	len = (size_t)data[0] | (size_t)data[1] << 8;
	n = size - 2;
	ctl = malloc(n ? n : 1);
	if (!ctl)
		return 0;
	memcpy(ctl, data + 2, n);
	memset(&h, 0, sizeof(h));
	h.msg_control = n ? ctl : NULL;
	h.msg_controllen = n;
	udp_parse_cmsgs(&h, len, &seg, &src);
	CHECK_OR_TRAP(seg == 0 || seg < len);
	CHECK_OR_TRAP(src.family == AF_UNSPEC || src.family == AF_INET ||
		      src.family == AF_INET6);
	if (src.family == AF_INET) {
		uint32_t a = ntohl(src.in4.s_addr);
		CHECK_OR_TRAP(a != INADDR_ANY && a != INADDR_BROADCAST && !IN_MULTICAST(a));
	} else if (src.family == AF_INET6) {
		CHECK_OR_TRAP(!IN6_IS_ADDR_UNSPECIFIED(&src.in6) &&
			      !IN6_IS_ADDR_MULTICAST(&src.in6));
	}
	CHECK_OR_TRAP(!src.refused);
	/* Unaligned control data (the parser must not assume the kernel's alignment). */
	if (n > 1) {
		h.msg_control = ctl + 1;
		h.msg_controllen = n - 1;
		udp_parse_cmsgs(&h, len, &seg, &src);
		CHECK_OR_TRAP(seg == 0 || seg < len);
	}
	free(ctl);
	return 0;
}
