/* Linux TUN: open an interface by name, read its MTU, tell whether it still exists. */
#ifndef WGTUN_IO_LINUX_TUN_H
#define WGTUN_IO_LINUX_TUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* TUNSETOFFLOAD flags of the Linux 6.2 uapi; Debian 12's headers (6.1) lack them. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

#define TUN_NAME_MAX 16 /* IFNAMSIZ, including the NUL */

/* Creates (or attaches to) the TUN interface `name` (IFF_TUN|IFF_NO_PI, plus IFF_VNET_HDR
 * when vnet_hdr, i.e. when offloads may be used; non-blocking, close-on-exec) through /dev/net/tun. name may be a pattern like "wg%d" or empty (kernel
 * picks). On success returns the fd and writes the actual name into actual_name (may be
 * NULL). Returns -errno on failure (-EINVAL for a name that is too long or contains '/',
 * -EPERM without CAP_NET_ADMIN, -ENOENT without /dev/net/tun). Thread-safe. */
int tun_create(const char *name, char actual_name[TUN_NAME_MAX], bool vnet_hdr);

/* MTU of the interface `name` (SIOCGIFMTU). > 0, or -errno. Thread-safe. */
int tun_mtu(const char *name);

/* ifindex of the interface `name` (> 0), or -errno (-ENODEV if it does not exist). */
int tun_ifindex(const char *name);

/* Raises the interface's transmit queue (for a TUN: the packets the kernel holds for our
 * reads, txqueuelen, default 500) to want if it is shorter; a longer one is left alone.
 * The queue length now (> 0), or -errno (-EPERM without CAP_NET_ADMIN). */
int tun_txqueuelen_raise(const char *name, int want);

/* 1 if an interface called `name` exists, 0 if it does not, -errno if that cannot be told. */
int tun_exists(const char *name);
/* 1 if the interface is running (IFF_RUNNING: up, with carrier), 0 if not, -errno. */
int tun_running(const char *name);

/* One packet from a TUN fd (non-blocking). > 0 = length, 0 = nothing waiting (*closed is set
 * when the read returned end-of-file: a socket or pipe standing in for a TUN was closed),
 * -errno on error. A packet longer than cap
 * is cut by the kernel; the caller sees cap and should treat len == cap as suspect. */
long tun_read(int fd, void *buf, size_t cap, bool *closed);
/* One packet to a TUN fd. 0, or -errno (-EAGAIN: queue full, packet dropped). */
int tun_write(int fd, const void *buf, size_t len);
/* Writes one packet gathered from iov[0..n) (a vnet header first when the fd has one). */
struct iovec;
int tun_writev(int fd, const struct iovec *iov, int n);

/* Whether fd is a TUN opened with IFF_VNET_HDR (every read/write then carries a 10-byte
 * virtio_net_hdr). false for anything that is not a TUN. */
bool tun_has_vnet_hdr(int fd);
#define TUN_OFFLOAD_CSUM 1u
#define TUN_OFFLOAD_TSO 2u  /* TCP segmentation (TSO4+TSO6) */
#define TUN_OFFLOAD_USO 4u  /* UDP segmentation (USO4+USO6, Linux >= 6.2) */
#define TUN_OFFLOAD_FAILED 0x100u
/* On a vnet-header TUN: sets a 10-byte header and asks for checksum + TSO + USO offloads,
 * falling back to fewer (enable false: none). Returns the TUN_OFFLOAD_* granted, or
 * TUN_OFFLOAD_FAILED if the fd refused even "none" (then it cannot be used with offloads). */
unsigned tun_offload_set(int fd, bool enable);

/* true if err (a -errno from tun_read / tun_write) means the interface is gone. */
bool tun_error_is_gone(int err);

#endif
