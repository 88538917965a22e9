#define _GNU_SOURCE
#include "io/linux/tun.h"

#include "io/linux/loop.h"
#include "io/linux/offload.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static int tun_name_ok(const char *name)
{
	size_t len = strnlen(name, TUN_NAME_MAX);
	return len < TUN_NAME_MAX && strchr(name, '/') == NULL;
}

int tun_create(const char *name, char actual_name[TUN_NAME_MAX], bool vnet_hdr)
{
	struct ifreq ifr;
	int fd, ret;

	if (!name || !tun_name_ok(name))
		return -EINVAL;
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	/* With a vnet header the kernel may hand us TSO super-packets (see tun_offload_set). */
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet_hdr ? IFF_VNET_HDR : 0);
	memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (actual_name) {
		memcpy(actual_name, ifr.ifr_name, TUN_NAME_MAX);
		actual_name[TUN_NAME_MAX - 1] = '\0';
	}
	return fd;
}

/* An ioctl on a throwaway datagram socket: interface ioctls need any socket. */
static int tun_ifreq(const char *name, unsigned long req, struct ifreq *ifr)
{
	int s, ret = 0;

	if (!name || !tun_name_ok(name))
		return -EINVAL;
	memset(ifr, 0, sizeof(*ifr));
	memcpy(ifr->ifr_name, name, strlen(name));
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (ioctl(s, req, ifr) < 0)
		ret = -errno;
	close(s);
	return ret;
}

int tun_mtu(const char *name)
{
	struct ifreq ifr;
	int ret = tun_ifreq(name, SIOCGIFMTU, &ifr);

	if (ret < 0)
		return ret;
	return ifr.ifr_mtu > 0 ? ifr.ifr_mtu : -EINVAL;
}

int tun_ifindex(const char *name)
{
	struct ifreq ifr;
	int ret = tun_ifreq(name, SIOCGIFINDEX, &ifr);

	return ret < 0 ? ret : ifr.ifr_ifindex;
}

int tun_txqueuelen_raise(const char *name, int want)
{
	struct ifreq ifr;
	int ret = tun_ifreq(name, SIOCGIFTXQLEN, &ifr), s;

	if (ret < 0)
		return ret;
	if (ifr.ifr_qlen >= want)
		return ifr.ifr_qlen; /* set by the user (or already ours): left alone */
	ifr.ifr_qlen = want;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	ret = ioctl(s, SIOCSIFTXQLEN, &ifr) < 0 ? -errno : want;
	close(s);
	return ret;
}

int tun_running(const char *name)
{
	struct ifreq ifr;
	int ret = tun_ifreq(name, SIOCGIFFLAGS, &ifr);

	return ret < 0 ? ret : (ifr.ifr_flags & IFF_RUNNING) != 0;
}

int tun_exists(const char *name)
{
	struct ifreq ifr;
	int ret = tun_ifreq(name, SIOCGIFINDEX, &ifr);

	if (ret == -ENODEV)
		return 0;
	return ret < 0 ? ret : 1;
}

long tun_read(int fd, void *buf, size_t cap, bool *closed)
{
	ssize_t n;

	*closed = false;
	do
		n = read(fd, buf, cap);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	/* A TUN never returns 0 bytes; a socket or pipe standing in for it does at EOF. */
	if (n == 0)
		*closed = true;
	return (long)n;
}

int tun_write(int fd, const void *buf, size_t len)
{
	ssize_t n;

	do
		n = write(fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return 0;
}

bool tun_error_is_gone(int err)
{
	/* EBADFD: the TUN was detached (interface deleted); EIO/ENODEV: link gone; EPIPE /
	 * ECONNRESET: the peer end of a socketpair standing in for a TUN closed. */
	return err == -EBADFD || err == -EIO || err == -ENODEV || err == -EBADF || err == -EPIPE ||
	       err == -ECONNRESET || err == -ENXIO;
}

bool tun_has_vnet_hdr(int fd)
{
	struct ifreq ifr;

	/* Not a TUN (a socketpair, a pipe) or an older kernel: no vnet header. */
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		return false;
	return (ifr.ifr_flags & IFF_VNET_HDR) != 0;
}

unsigned tun_offload_set(int fd, bool enable)
{
	static const unsigned want[] = {
		TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6,
		TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
		TUN_F_CSUM,
	};
	int sz = OFFLOAD_VNET_HDR_LEN;

	/* The legacy 10-byte header (no num_buffers): what the offload module speaks. */
	if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0)
		return TUN_OFFLOAD_FAILED;
	/* Kernels before 6.2 refuse USO; fall back step by step. */
	for (size_t i = 0; enable && i < sizeof(want) / sizeof(want[0]); i++) {
		if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)want[i]) == 0) {
			unsigned got = TUN_OFFLOAD_CSUM;
			if (want[i] & TUN_F_TSO4)
				got |= TUN_OFFLOAD_TSO;
			if (want[i] & TUN_F_USO4)
				got |= TUN_OFFLOAD_USO;
			return got;
		}
	}
	if (ioctl(fd, TUNSETOFFLOAD, 0UL) < 0)
		return TUN_OFFLOAD_FAILED;
	return 0;
}

int tun_writev(int fd, const struct iovec *iov, int n)
{
	ssize_t r;

	do
		r = writev(fd, iov, n);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return 0;
}
