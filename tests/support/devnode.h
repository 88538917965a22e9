/* Devices for the device unit tests (tests/unit/test_device_*.c): a node is a device whose
 * "TUN" is a SOCK_SEQPACKET socketpair (one IP packet per read/write, like a TUN fd), the test
 * holding the other end; two nodes talk over real loopback UDP. Configured through
 * device_apply only. */
#ifndef WGTUN_DEVNODE_H
#define WGTUN_DEVNODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device/device.h"

typedef struct {
	device *dev;
	int app;              /* our end of the stand-in TUN */
	uint8_t priv[32], pub[32];
	uint16_t port;
	int handshakes;       /* DEVICE_EVENT_HANDSHAKE_DONE seen */
	int sockets;          /* socket_created calls */
	int last_socket;      /* fd of the latest one */
	int logs[4];          /* log lines by device_log_level (devnode_pair_start_logged) */
} node;

void node_init_opts(node *n, unsigned workers, unsigned busy_poll_us);
/* n's device counters now. */
device_stats devnode_stats(node *n);
/* Ends the process with "NAME: hung" on stderr (exit 1) if it still runs after seconds: a
 * test whose device loop spins or blocks fails instead of holding ctest until its timeout. */
void devnode_watchdog(const char *name, unsigned seconds);
void node_init_workers(node *n, unsigned workers);
void node_init(node *n);
void node_free(node *n);
uint16_t node_port(node *n);
size_t node_npeers(node *n);
void devnode_ip4(wg_allowed_ip *a, const char *s, uint8_t cidr);
void devnode_ip6(wg_allowed_ip *a, const char *s, uint8_t cidr);
void devnode_loopback(wg_endpoint *e, uint16_t port);
void devnode_endpoint4(wg_endpoint *e, const char *ip, uint16_t port);

/* Configures `self` with one peer `other` owning v4/32 and v6/128, at other's port. */
int devnode_add_peer(node *self, const node *other, const char *v4, const char *v6);
int devnode_set_key(node *n);
/* Configures `self` with one peer `other` owning v4/32 only, at ip:other's port if ip is not
 * NULL (no endpoint otherwise). */
int devnode_add_peer4(node *self, const node *other, const char *v4, const char *ip);

/* An ICMP-echo-shaped IPv4 packet (checksums are not checked by the device). */
size_t devnode_make_ping4(uint8_t *pkt, const char *src, const char *dst, uint16_t seq);
size_t devnode_make_ping6(uint8_t *pkt, const char *src, const char *dst, uint16_t seq);

/* A wait for a packet that should come: under valgrind (threads serialized, 20-50x slower;
 * on a loaded machine a 2 s wait once expired in test_parallel_order) 10x as long. Only a
 * failing run waits it out. */
int devnode_wait_ms(int ms);

/* Reads one packet from the app side within timeout_ms; its length or -1. */
long devnode_app_recv(node *n, uint8_t *buf, size_t cap, int timeout_ms);
void devnode_app_drain(node *n);

/* Sends pkt into `from`'s TUN and expects it unchanged out of `to`'s TUN. Retries a few
 * times: the first packet may wait for a handshake. */
bool devnode_deliver(node *from, node *to, const uint8_t *pkt, size_t len);

/* The 20-byte IPv4 header of a UDP packet of len bytes (TTL 64, no checksum). */
void devnode_ip4_udp_hdr(uint8_t *pkt, size_t len, const char *src, const char *dst);
/* An IPv4 packet of len bytes from src to dst carrying (dir, seq) and a pattern of both. */
void devnode_make_seq4(uint8_t *pkt, size_t len, const char *src, const char *dst, uint8_t dir,
	       uint32_t seq);

/* A keyed, started device without the event and socket callbacks (nor their checks), its
 * port known; n->dev NULL if it could not be made (a failed check). */
void node_start_bare(node *n);

/* Two keyed, started devices (workers crypto threads each), their ports known; no peers. */
void devnode_pair_start(node *a, node *b, unsigned workers);
/* The same with busy polling (device_params.busy_poll_us). */
void devnode_pair_start_opts(node *a, node *b, unsigned workers, unsigned busy_poll_us);
/* The same (no busy polling) with log lines counted by level in logs[] (atomics). */
void devnode_pair_start_logged(node *a, node *b, unsigned workers);

#endif
