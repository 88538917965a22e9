/* A device on a real vnet-header TUN (IFF_VNET_HDR, offloads asked for) in the test's own
 * network namespace (needs root), for the tests of the vnet write path and the offload
 * fallbacks (tests/unit/test_device_ioerr_vnet.c, test_device_uso_fallback.c). The peer is a
 * devnode (socketpair TUN) over loopback in the same namespace; the kernel sits behind the
 * real TUN: packets the peer sends to the TUN's address reach a UDP socket of the test, and
 * the test's sends to the peer's tunnel address go through the TUN. */
#ifndef WGTUN_VNETNODE_H
#define WGTUN_VNETNODE_H

#include "devnode.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* UDP GSO (Linux 4.18); not in every libc's headers. */
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

#define VNET_PLEN 1000 /* UDP payload bytes of vnet_udp4's packets */

/* Moves the process into a new network namespace with lo up and IPv6 off by default (no
 * router solicitation or MLD report through the TUN). false (a failed check) if not root. */
bool vnet_netns(void);

/* Creates a vnet-header TUN named after pattern (e.g. "g2ev%d") with addr/24 and sets it
 * up; its fd (the kernel's name in name), or -1 (a failed check). */
int vnet_tun(const char *pattern, const char *addr, char name[16]);

/* n: a started, keyed device on tun_fd (no ifname, so no link monitor), like node_start_bare
 * for a devnode; n->app is -1, n->dev NULL on failure (a failed check). */
void vnet_node_start(node *n, int tun_fd);

/* An IPv4/UDP packet src:sport -> dst:dport of 28 + VNET_PLEN bytes with valid IP and UDP
 * checksums (so the device's GRO may coalesce it and the kernel accepts it); its payload
 * carries seq and a pattern of it. Returns the length. */
size_t vnet_udp4(uint8_t *pkt, const char *src, const char *dst, uint16_t sport, uint16_t dport,
		 uint32_t seq);
/* Whether payload (len bytes) is exactly the payload vnet_udp4 made for seq. */
bool vnet_payload_ok(const uint8_t *payload, size_t len, uint32_t seq);

/* Whether pkt (len bytes) is an IPv4/UDP packet whose IP and UDP checksums verify (a UDP
 * checksum of 0, "none", does not). */
bool vnet_udp4_csum_ok(const uint8_t *pkt, size_t len);

/* A non-blocking UDP socket bound to ip:port (large receive buffer), or -1. */
int vnet_udp_listen(const char *ip, uint16_t port);
/* Receives datagrams on fd until count arrived or wait_ms passed without one; checks each is
 * vnet_udp4's payload for seq first, first+1, ... in order. Returns how many arrived. */
unsigned vnet_expect(int fd, uint32_t first, unsigned count, int wait_ms);

#endif
