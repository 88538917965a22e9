/* The socket-buffer fallback of udp_set_buffers (src/io/linux/udp.c): SO_RCVBUFFORCE /
 * SO_SNDBUFFORCE ask for UDP_SOCKET_BUFFER past net.core.[rw]mem_max, which needs
 * CAP_NET_ADMIN; refused, the code asks the plain SO_RCVBUF / SO_SNDBUF for the same size,
 * which the kernel caps at [rw]mem_max (and doubles, as it reports every buffer size).
 * - Control, as root: the FORCE size (2 x 7 MiB), no plain call made.
 * - FORCE refused with EPERM (setsockopt is wrapped, tests/support/syswrap.c): one plain call
 *   per socket and option for 7 MiB; the sizes are the capped ones; the sockets work.
 * - Every buffer option refused: the sockets open anyway with the kernel's default sizes,
 *   and work.
 * - The kernel's own refusal: a child process without CAP_NET_ADMIN (its FORCE calls really
 *   fail with EPERM) gets the capped sizes through the plain calls, and its sockets work.
 * "Work": a datagram from another socket arrives through udp_recv_batch and one sent back
 * through udp_send_batch arrives, on IPv4 and (where the host has it) IPv6 loopback. */
#define _GNU_SOURCE
#include "io/linux/udp.h"
#include "syswrap.h"
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/capability.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define FORCE_BITS ((1ULL << SO_RCVBUFFORCE) | (1ULL << SO_SNDBUFFORCE))
#define PLAIN_BITS ((1ULL << SO_RCVBUF) | (1ULL << SO_SNDBUF))

static long sysctl_core(const char *name)
{
	char path[96];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/net/core/%s", name);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static long bufsize(int fd, int opt)
{
	int v = -1;
	socklen_t len = sizeof(v);

	CHECK(getsockopt(fd, SOL_SOCKET, opt, &v, &len) == 0);
	return v;
}

static long min_l(long a, long b) { return a < b ? a : b; }

static unsigned nsock(const udp_bind *b) { return (b->fd4 >= 0) + (b->fd6 >= 0); }

/* Both of b's sockets have these receive and send buffer sizes. */
static void expect_sizes(const udp_bind *b, long rcv, long snd, const char *what)
{
	int fds[2] = { b->fd4, b->fd6 };

	for (int i = 0; i < 2; i++) {
		if (fds[i] < 0)
			continue;
		long r = bufsize(fds[i], SO_RCVBUF), s = bufsize(fds[i], SO_SNDBUF);
		CHECK_MSG(r == rcv && s == snd, "%s, %s socket: SO_RCVBUF %ld (want %ld), SO_SNDBUF %ld (want %ld)",
			  what, i ? "IPv6" : "IPv4", r, rcv, s, snd);
	}
}

/* One datagram in through udp_recv_batch and one out through udp_send_batch on fd. */
static void exchange(int fd, int family, uint16_t port)
{
	static uint8_t mem[2][2048];
	static udp_batch batch;
	uint8_t msg[300], got[400];
	udp_addr to, from;
	socklen_t flen = sizeof(from);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint16_t idx = 0;
	int other = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0), n;

	CHECK(other >= 0);
	if (other < 0)
		return;
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 3 + family + port);
	memset(&to, 0, sizeof(to));
	if (family == AF_INET) {
		to.in4.sin_family = AF_INET;
		to.in4.sin_port = htons(port);
		to.in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		to.in6.sin6_family = AF_INET6;
		to.in6.sin6_port = htons(port);
		to.in6.sin6_addr = in6addr_loopback;
	}
	CHECK(sendto(other, msg, sizeof(msg), 0, &to.sa,
		     family == AF_INET ? sizeof(to.in4) : sizeof(to.in6)) == (ssize_t)sizeof(msg));
	CHECK(poll(&p, 1, 2000) == 1);
	memset(&batch, 0, sizeof(batch));
	batch.iov[0].iov_base = mem[0];
	batch.iov[0].iov_len = sizeof(mem[0]);
	n = udp_recv_batch(fd, &batch, 1);
	CHECK_EQ_INT(n, 1);
	if (n != 1) {
		close(other);
		return;
	}
	CHECK_EQ_INT(batch.msg[0].msg_len, sizeof(msg));
	CHECK_MEM(mem[0], msg, sizeof(msg));
	/* Back to where it came from. */
	msg[0] ^= 0xff;
	memcpy(mem[1], msg, sizeof(msg));
	from = batch.addr[0];
	memset(&batch, 0, sizeof(batch));
	batch.iov[0].iov_base = mem[1];
	batch.iov[0].iov_len = sizeof(msg);
	batch.addr[0] = from;
	CHECK_EQ_INT(udp_send_batch(fd, &batch, &idx, 1, NULL, NULL, NULL), 0);
	p.fd = other;
	CHECK(poll(&p, 1, 2000) == 1);
	CHECK(recvfrom(other, got, sizeof(got), MSG_DONTWAIT, &from.sa, &flen) ==
	      (ssize_t)sizeof(msg));
	CHECK_MEM(got, msg, sizeof(msg));
	close(other);
}

static void works(const udp_bind *b)
{
	CHECK(b->fd4 >= 0);
	if (b->fd4 >= 0)
		exchange(b->fd4, AF_INET, b->port);
	if (b->fd6 >= 0)
		exchange(b->fd6, AF_INET6, b->port);
}

/* Opens a bind with the given setsockopt refusal armed; the plain calls it made (by option),
 * through *plain_rcv / *plain_snd, with the last values asked. */
static void open_with(udp_bind *b, unsigned long long refuse, int err, unsigned long *plain_rcv,
		      unsigned long *plain_snd, int *val_rcv, int *val_snd)
{
	unsigned long r0 = syswrap_sockopt_seen(SO_RCVBUF, NULL);
	unsigned long s0 = syswrap_sockopt_seen(SO_SNDBUF, NULL);

	udp_bind_init(b);
	syswrap_sockopt_fail(refuse, err);
	CHECK_EQ_INT(udp_bind_open(b, 0, 0, false, NULL, NULL), 0);
	syswrap_sockopt_fail(0, 0);
	*plain_rcv = syswrap_sockopt_seen(SO_RCVBUF, val_rcv) - r0;
	*plain_snd = syswrap_sockopt_seen(SO_SNDBUF, val_snd) - s0;
}

static bool drop_net_admin(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) != 0)
		return false;
	data[0].effective &= ~(1u << CAP_NET_ADMIN);
	data[0].permitted &= ~(1u << CAP_NET_ADMIN);
	data[0].inheritable &= ~(1u << CAP_NET_ADMIN);
	return syscall(SYS_capset, &hdr, data) == 0;
}

/* In a child without CAP_NET_ADMIN: the kernel refuses FORCE; exit status = failed checks. */
static void child_without_cap(long rcv_capped, long snd_capped)
{
	udp_bind b;
	int s, size = UDP_SOCKET_BUFFER;
	unsigned long r0 = syswrap_sockopt_seen(SO_RCVBUF, NULL);
	unsigned long s0 = syswrap_sockopt_seen(SO_SNDBUF, NULL);

	CHECK_MSG(drop_net_admin(), "capset: %s", strerror(errno));
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(s >= 0);
	errno = 0;
	CHECK_MSG(setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) == -1 &&
			  errno == EPERM,
		  "SO_RCVBUFFORCE without CAP_NET_ADMIN: errno %d (want EPERM)", errno);
	close(s);
	udp_bind_init(&b);
	CHECK_EQ_INT(udp_bind_open(&b, 0, 0, false, NULL, NULL), 0);
	CHECK_EQ_U64(syswrap_sockopt_seen(SO_RCVBUF, NULL) - r0, nsock(&b));
	CHECK_EQ_U64(syswrap_sockopt_seen(SO_SNDBUF, NULL) - s0, nsock(&b));
	expect_sizes(&b, rcv_capped, snd_capped, "without CAP_NET_ADMIN");
	works(&b);
	udp_bind_close(&b);
	fflush(NULL);
	_exit(test_failures ? 1 : 0);
}

int main(void)
{
	long rmax = sysctl_core("rmem_max"), wmax = sysctl_core("wmem_max");
	long rdef = sysctl_core("rmem_default"), wdef = sysctl_core("wmem_default");
	long rcv_capped = 2 * min_l(UDP_SOCKET_BUFFER, rmax);
	long snd_capped = 2 * min_l(UDP_SOCKET_BUFFER, wmax);
	unsigned long pr, ps, refused;
	int vr = 0, vs = 0, status = -1;
	udp_bind b;
	pid_t pid;

	CHECK(rmax > 0 && wmax > 0 && rdef > 0 && wdef > 0);
	if (rmax >= UDP_SOCKET_BUFFER || rdef == rmax)
		printf("note: rmem_max %ld, rmem_default %ld: the capped size is not told apart from "
		       "another by size alone (the call counts still are)\n", rmax, rdef);

	/* Control: root may force; no fallback call. */
	open_with(&b, 0, 0, &pr, &ps, &vr, &vs);
	CHECK_EQ_U64(pr, 0);
	CHECK_EQ_U64(ps, 0);
	expect_sizes(&b, 2L * UDP_SOCKET_BUFFER, 2L * UDP_SOCKET_BUFFER, "as root");
	works(&b);
	udp_bind_close(&b);

	/* FORCE refused: one plain call each, for the same size, capped by the kernel. */
	refused = syswrap_sockopt_refused();
	open_with(&b, FORCE_BITS, EPERM, &pr, &ps, &vr, &vs);
	CHECK_EQ_U64(syswrap_sockopt_refused() - refused, 2 * nsock(&b));
	CHECK_EQ_U64(pr, nsock(&b));
	CHECK_EQ_U64(ps, nsock(&b));
	CHECK_EQ_INT(vr, UDP_SOCKET_BUFFER);
	CHECK_EQ_INT(vs, UDP_SOCKET_BUFFER);
	expect_sizes(&b, rcv_capped, snd_capped, "FORCE refused");
	works(&b);
	udp_bind_close(&b);

	/* Every buffer option refused: open anyway, default sizes. */
	refused = syswrap_sockopt_refused();
	open_with(&b, FORCE_BITS | PLAIN_BITS, ENOBUFS, &pr, &ps, &vr, &vs);
	CHECK_EQ_U64(syswrap_sockopt_refused() - refused, 4 * nsock(&b));
	expect_sizes(&b, rdef, wdef, "all buffer options refused");
	works(&b);
	udp_bind_close(&b);

	/* The kernel's own EPERM, in a child without CAP_NET_ADMIN. */
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		child_without_cap(rcv_capped, snd_capped);
	if (pid > 0)
		CHECK(waitpid(pid, &status, 0) == pid);
	CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the child without CAP_NET_ADMIN failed (status %#x)", status);
	return test_finish("udp_bufs");
}
