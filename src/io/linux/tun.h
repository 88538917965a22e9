/* Linux TUN: open an interface by name, read its MTU, tell whether it still exists. */
#ifndef WGTUN_IO_LINUX_TUN_H
#define WGTUN_IO_LINUX_TUN_H

#include <stddef.h>
#include <stdint.h>

#define TUN_NAME_MAX 16 /* IFNAMSIZ, including the NUL */

/* Creates (or attaches to) the TUN interface `name` (IFF_TUN|IFF_NO_PI, non-blocking,
 * close-on-exec) through /dev/net/tun. name may be a pattern like "wg%d" or empty (kernel
 * picks). On success returns the fd and writes the actual name into actual_name (may be
 * NULL). Returns -errno on failure (-EINVAL for a name that is too long or contains '/',
 * -EPERM without CAP_NET_ADMIN, -ENOENT without /dev/net/tun). Thread-safe. */
int tun_create(const char *name, char actual_name[TUN_NAME_MAX]);

/* MTU of the interface `name` (SIOCGIFMTU). > 0, or -errno. Thread-safe. */
int tun_mtu(const char *name);

/* 1 if an interface called `name` exists, 0 if it does not, -errno if that cannot be told. */
int tun_exists(const char *name);

#endif
