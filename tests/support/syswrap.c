/* See syswrap.h. Only the binaries linked with --wrap get these symbols used; the wraps of
 * a call that is not wrapped are never referenced. */
#define _GNU_SOURCE
#include "syswrap.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

static int send_match, send_err, write_fd = -1, write_err;
static unsigned long send_calls, send_refused, send_gso, write_refused;

int __real_sendmmsg(int fd, struct mmsghdr *m, unsigned int n, int flags);
int __wrap_sendmmsg(int fd, struct mmsghdr *m, unsigned int n, int flags);
ssize_t __real_write(int fd, const void *buf, size_t len);
ssize_t __wrap_write(int fd, const void *buf, size_t len);

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
