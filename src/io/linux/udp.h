/* Linux UDP for the device: an IPv4 and an IPv6 (v6-only) socket bound to one port, and
 * batched receive/send (recvmmsg/sendmmsg, up to UDP_BATCH_MAX datagrams per call). */
#ifndef WGTUN_IO_LINUX_UDP_H
#define WGTUN_IO_LINUX_UDP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* struct mmsghdr needs _GNU_SOURCE: define it before any include in files using this. */
#include <sys/uio.h>

#define UDP_BATCH_MAX 128              /* datagrams per recvmmsg/sendmmsg */
#define UDP_SOCKET_BUFFER (7 << 20)    /* SO_RCVBUF/SO_SNDBUF wish (wireguard-go's 7 MiB) */
#define UDP_PORT_RETRIES 100           /* port 0: attempts to find a port free in v4 and v6 */
#define UDP_GSO_MAX_SEGS 64            /* datagrams per UDP_SEGMENT send (kernel limit) */
#define UDP_GSO_MAX_BYTES 65000        /* payload bytes per UDP_SEGMENT send (< 65507) */
#define UDP_SEND_WAIT_MS 20            /* a full send buffer is waited on this long, then the
					* rest of the batch is dropped (UDP: loss is allowed) */

typedef union {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
} udp_addr; /* same layout as wg_endpoint */

/* A local address for a datagram ("sticky sockets", docs/sticky.md). Receive: the address
 * (and interface) datagram i arrived on, from IP_PKTINFO / IPV6_PKTINFO. Send: the source to
 * use (in_pktinfo ipi_spec_dst; in6_pktinfo with the interface, which scopes a link-local
 * address). family AF_UNSPEC = none: the kernel's route picks the source. */
typedef struct {
	uint16_t family;  /* AF_UNSPEC, AF_INET or AF_INET6 */
	/* Send: set by udp_send_batch when the kernel refused this source (the address is
	 * gone: EINVAL, EADDRNOTAVAIL...) and the datagram went out without it. */
	bool refused;
	uint32_t ifindex; /* IPv6: the arrival interface (0 = any); IPv4: recorded, not sent */
	union {
		struct in_addr in4;
		struct in6_addr in6;
	};
} udp_src;

/* Same family and address (and IPv6 interface); two "none" are equal. */
bool udp_src_eq(const udp_src *a, const udp_src *b);

/* Called for each socket before bind (Android protect()); nonzero refuses it (-EPERM). */
typedef int (*udp_socket_cb)(void *ctx, int fd);

typedef struct {
	int fd4, fd6;    /* -1 when that family is unavailable on this host */
	uint16_t port;   /* bound port */
	uint32_t fwmark; /* SO_MARK applied (0 = none) */
	/* UDP_SEGMENT usable on fd4 / fd6: probed at open, cleared when a send fails with EIO
	 * (the egress cannot checksum offload); UDP_GRO is asked for at open (receive side). */
	bool gso4, gso6;
} udp_bind;

/* Sets fds to -1 (an unbound, closed state). */
void udp_bind_init(udp_bind *b);
/* Opens and binds both sockets on port (0 = a port free in both families, picked by the
 * kernel). Non-blocking, close-on-exec, large buffers (with fallback), SO_MARK if fwmark,
 * UDP GRO and (where the kernel has it) GSO when offload. 0, or -errno (-EADDRINUSE,
 * -EPERM ...) with *b untouched. */
int udp_bind_open(udp_bind *b, uint16_t port, uint32_t fwmark, bool offload, udp_socket_cb cb,
		  void *ctx);
/* Closes both sockets; *b is then closed (fds -1). */
void udp_bind_close(udp_bind *b);
/* Sets SO_MARK on both sockets; on failure the previous mark is restored. 0 / -errno. */
int udp_bind_set_mark(udp_bind *b, uint32_t fwmark);

/* Control data room per datagram. Receive: UDP_GRO's segment size and the packet info;
 * send: UDP_SEGMENT and the source's packet info (the larger, IPv6, of each). */
#define UDP_CTRL_SIZE                                                                      \
	(CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct in6_pktinfo)) +                \
	 CMSG_SPACE(sizeof(struct in_pktinfo))) /* + room for a dual-stack socket's IPv4 one */

/* A batch of datagram descriptors. The caller points iov[i] at its buffers. iov comes first:
 * everything after it is rewritten by every call (or by the kernel), or rebuilt when found
 * zero, so a caller may give those pages back between calls (they read back as zeros) and
 * keep only the iovecs (device_mem_idle). A batch starts zeroed (static, calloc, memset). */
typedef struct {
	struct iovec iov[UDP_BATCH_MAX];
	/* Receive: msg[0..hdr_ready) hold their pointers (only the fields the kernel writes
	 * are reset after each call); 0 = build them all at the next receive. A caller that
	 * gives the pages after iov back sets it to 0 (it may share a page with iov). */
	unsigned hdr_ready;
	struct mmsghdr msg[UDP_BATCH_MAX];
	udp_addr addr[UDP_BATCH_MAX];
	/* Receive: the local address datagram i arrived on (none if the kernel gave none);
	 * send: the source for datagram i (none = the route's). */
	udp_src src[UDP_BATCH_MAX];
	/* Receive: UDP_GRO segment size of datagram i (0 = one datagram, not coalesced). */
	uint16_t seg[UDP_BATCH_MAX];
	/* Receive: datagram i's control data; send: message k's, at its first datagram. */
	union {
		char buf[UDP_CTRL_SIZE];
		struct cmsghdr align;
	} ctrl[UDP_BATCH_MAX];
} udp_batch;

/* Receives up to n (<= UDP_BATCH_MAX) datagrams into iov[0..n); msg[i].msg_len = length,
 * addr[i] = source, src[i] = the local address it arrived on, seg[i] = GRO segment size
 * (datagram i is then several datagrams of seg[i] bytes, the last maybe shorter; buffers
 * should hold 64 KiB); truncated datagrams get msg_len 0 (the caller drops them). Returns the
 * count (>= 1), 0 if nothing was waiting, or -errno. */
int udp_recv_batch(int fd, udp_batch *b, unsigned n);

/* What one received datagram's control data says (udp_recv_batch's parser; the fuzz harness
 * fuzz_udp_cmsg calls it): *seg = the GRO segment size if usable for a datagram of len bytes
 * (else 0), *src = the packet info's local address (else none). Every message is bounds-
 * checked against h->msg_controllen; unknown or short ones are skipped. */
void udp_parse_cmsgs(const struct msghdr *h, size_t len, uint16_t *seg, udp_src *src);

/* Sends datagrams idx[0..n) of b (iov[idx[k]] to addr[idx[k]], from src[idx[k]] if set) on
 * fd, in order. With *gso (may be NULL = off), runs of equal-size datagrams to one address
 * from one source go as one UDP_SEGMENT send (the last of a run may be shorter); a run the
 * kernel refuses is resent datagram by datagram, and EIO clears *gso. A message whose source
 * the kernel refuses (UDP_SRC_REFUSED errors) is sent once more without it; if that goes
 * through, its datagrams and the later ones of the batch with the same source go without it,
 * with src[].refused set (*refused, if not NULL, gets how many; the caller clears refused
 * before the call).
 * Datagrams the kernel refuses one by one (unreachable, too big) are skipped.
 * n <= UDP_BATCH_MAX. Returns how many failed; failed (may be NULL, n entries) gets
 * failed[k] = true for each datagram idx[k] that was not sent, else false. */
unsigned udp_send_batch(int fd, udp_batch *b, const uint16_t *idx, unsigned n, bool *gso,
			bool *failed, unsigned *refused);

/* Kernel-side load shedding: a classic BPF socket filter (SO_ATTACH_FILTER; a second call
 * replaces it atomically) that passes every datagram except a lone WireGuard handshake
 * initiation or response (first word 1 or 2, exact length: a GRO train passes whole) from a
 * source outside allow[0..nallow); those pass with probability keep / 2^32 (SKF_AD_RANDOM).
 * The filter sees the UDP header at offset 0 (the payload at 8, checked by test_udp) and the
 * IP header at SKF_NET_OFF. allow holds IPv4 (family AF_INET) or IPv6 source addresses in
 * network order, at most UDP_SHED_MAX_ALLOW. 0 or -errno. */
#define UDP_SHED_MAX_ALLOW 64
typedef struct {
	uint8_t b[16]; /* IPv4: the first 4 bytes, the rest zero */
} udp_ip;
int udp_shed_attach(int fd, int family, uint32_t keep, const udp_ip *allow, unsigned nallow);
/* Removes the filter (SO_DETACH_FILTER). 0 or -errno (-ENOENT: none attached). */
int udp_shed_detach(int fd);
/* The socket's kernel drop counter (SO_MEMINFO SK_MEMINFO_DROPS: receive-buffer overflows
 * and filter drops alike; 32 bits, wraps). 0 or -errno. */
int udp_socket_drops(int fd, uint32_t *out);

#endif
