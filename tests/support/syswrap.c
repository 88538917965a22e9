/* See syswrap.h. Only the binaries linked with --wrap get these symbols used; the wraps of
 * a call that is not wrapped are never referenced. */
#define _GNU_SOURCE
#include "syswrap.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

static int send_match, send_err, write_fd = -1, write_err, writev_fd = -1, writev_err;
static unsigned long send_calls, send_refused, send_gso, write_refused;
static unsigned long writev_calls, writev_refused, writev_refused_bytes;
static unsigned long ioctl_req, ioctl_mask, ioctl_refused;
static int ioctl_err, sockopt_err;
static unsigned long long sockopt_names;
static unsigned long sockopt_refused, sockopt_seen[SYSWRAP_SOCKOPT_SLOTS];
static int sockopt_val[SYSWRAP_SOCKOPT_SLOTS];

int __real_sendmmsg(int fd, struct mmsghdr *m, unsigned int n, int flags);
int __wrap_sendmmsg(int fd, struct mmsghdr *m, unsigned int n, int flags);
ssize_t __real_write(int fd, const void *buf, size_t len);
ssize_t __wrap_write(int fd, const void *buf, size_t len);
ssize_t __real_writev(int fd, const struct iovec *iov, int n);
ssize_t __wrap_writev(int fd, const struct iovec *iov, int n);
int __real_ioctl(int fd, unsigned long req, ...);
int __wrap_ioctl(int fd, unsigned long req, ...);
int __real_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int __wrap_setsockopt(int fd, int level, int name, const void *val, socklen_t len);

#define LOAD(v) __atomic_load_n(&(v), __ATOMIC_RELAXED)
#define STORE(v, x) __atomic_store_n(&(v), (x), __ATOMIC_RELAXED)
#define BUMP(v) __atomic_fetch_add(&(v), 1, __ATOMIC_RELAXED)

void syswrap_send_fail(syswrap_match match, int err)
{
	STORE(send_match, err ? (int)match : 0);
	STORE(send_err, err);
}

unsigned long syswrap_send_calls(void) { return LOAD(send_calls); }
unsigned long syswrap_send_refused(void) { return LOAD(send_refused); }
unsigned long syswrap_send_gso_msgs(void) { return LOAD(send_gso); }

void syswrap_write_fail(int fd, int err)
{
	STORE(write_err, err);
	STORE(write_fd, err ? fd : -1);
}

unsigned long syswrap_write_refused(void) { return LOAD(write_refused); }

void syswrap_writev_fail(int fd, int err)
{
	STORE(writev_err, err);
	STORE(writev_fd, err ? fd : -1);
}

unsigned long syswrap_writev_calls(void) { return LOAD(writev_calls); }
unsigned long syswrap_writev_refused(void) { return LOAD(writev_refused); }
unsigned long syswrap_writev_refused_bytes(void) { return LOAD(writev_refused_bytes); }

void syswrap_ioctl_fail(unsigned long req, unsigned long mask, int err)
{
	STORE(ioctl_mask, mask);
	STORE(ioctl_err, err);
	STORE(ioctl_req, err ? req : 0);
}

unsigned long syswrap_ioctl_refused(void) { return LOAD(ioctl_refused); }

void syswrap_sockopt_fail(unsigned long long names, int err)
{
	STORE(sockopt_err, err);
	STORE(sockopt_names, err ? names : 0);
}

unsigned long syswrap_sockopt_refused(void) { return LOAD(sockopt_refused); }

unsigned long syswrap_sockopt_seen(int name, int *last)
{
	if (name < 0 || name >= SYSWRAP_SOCKOPT_SLOTS)
		return 0;
	if (last)
		*last = LOAD(sockopt_val[name]);
	return LOAD(sockopt_seen[name]);
}

static bool is_gso(struct msghdr *h)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_SEGMENT)
			return true;
	return false;
}

static bool is_data(const struct msghdr *h)
{
	return h->msg_iovlen > 0 && h->msg_iov[0].iov_len > 0 &&
	       ((const uint8_t *)h->msg_iov[0].iov_base)[0] == 4;
}

int __wrap_sendmmsg(int fd, struct mmsghdr *m, unsigned int n, int flags)
{
	int match = LOAD(send_match), err = LOAD(send_err);

	BUMP(send_calls);
	for (unsigned i = 0; i < n; i++) {
		bool gso = is_gso(&m[i].msg_hdr), hit;

		if (gso)
			BUMP(send_gso);
		hit = (match == SYSWRAP_MSG_GSO && gso) ||
		      (match == SYSWRAP_MSG_DATA && is_data(&m[i].msg_hdr));
		if (!hit)
			continue;
		BUMP(send_refused);
		if (i == 0) {
			errno = err;
			return -1;
		}
		return __real_sendmmsg(fd, m, i, flags);
	}
	return __real_sendmmsg(fd, m, n, flags);
}

ssize_t __wrap_write(int fd, const void *buf, size_t len)
{
	int err = LOAD(write_err);

	if (err && fd == LOAD(write_fd)) {
		BUMP(write_refused);
		errno = err;
		return -1;
	}
	return __real_write(fd, buf, len);
}

ssize_t __wrap_writev(int fd, const struct iovec *iov, int n)
{
	int err = LOAD(writev_err);

	BUMP(writev_calls);
	if (err && fd == LOAD(writev_fd)) {
		unsigned long bytes = 0;
		for (int i = 0; i < n; i++)
			bytes += iov[i].iov_len;
		BUMP(writev_refused);
		__atomic_fetch_add(&writev_refused_bytes, bytes, __ATOMIC_RELAXED);
		errno = err;
		return -1;
	}
	return __real_writev(fd, iov, n);
}

/* Every ioctl this project makes passes one pointer or integer argument. */
int __wrap_ioctl(int fd, unsigned long req, ...)
{
	unsigned long want = LOAD(ioctl_req), arg;
	va_list ap;

	va_start(ap, req);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	/* The rule compares the argument as flags (TUNSETOFFLOAD's): refused if any bit of the
	 * mask is asked for (mask 0: every such call). */
	if (want && req == want) {
		unsigned long mask = LOAD(ioctl_mask);
		if (!mask || (arg & mask)) {
			BUMP(ioctl_refused);
			errno = LOAD(ioctl_err);
			return -1;
		}
	}
	return __real_ioctl(fd, req, arg);
}

int __wrap_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	if (level == SOL_SOCKET && name >= 0 && name < SYSWRAP_SOCKOPT_SLOTS) {
		BUMP(sockopt_seen[name]);
		if (val && len >= sizeof(int))
			STORE(sockopt_val[name], *(const int *)val);
		if (LOAD(sockopt_names) & (1ULL << name)) {
			BUMP(sockopt_refused);
			errno = LOAD(sockopt_err);
			return -1;
		}
	}
	return __real_setsockopt(fd, level, name, val, len);
}
