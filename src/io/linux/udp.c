#define _GNU_SOURCE
#include "io/linux/udp.h"

#include "io/linux/loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/sock_diag.h>
#include <netinet/udp.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

void udp_bind_init(udp_bind *b)
{
	b->fd4 = b->fd6 = -1;
	b->port = 0;
	b->fwmark = 0;
	b->gso4 = b->gso6 = false;
}

/* UDP GRO on receive (ignored where the kernel lacks it: datagrams then come one by one);
 * returns whether UDP_SEGMENT can be used for sending. */
static bool udp_set_offloads(int fd, bool offload)
{
	int one = 1, v = 0;
	socklen_t len = sizeof(v);

	if (!offload)
		return false;
	(void)setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one));
	return getsockopt(fd, SOL_UDP, UDP_SEGMENT, &v, &len) == 0;
}

static void udp_set_buffers(int fd)
{
	int size = UDP_SOCKET_BUFFER;

	/* The FORCE variants pass net.core.[rw]mem_max but need CAP_NET_ADMIN; the plain ones
	 * are capped at that limit by the kernel, which is the best we can do unprivileged. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

/* One socket bound to port; -errno on failure. */
static int udp_socket_open(int family, uint16_t port, uint32_t fwmark, udp_socket_cb cb,
			   void *ctx)
{
	udp_addr a;
	socklen_t alen;
	int fd, one = 1, ret;

	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (cb && cb(ctx, fd) != 0) {
		ret = -EPERM;
		goto fail;
	}
	udp_set_buffers(fd);
	if (fwmark && setsockopt(fd, SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark)) < 0)
		goto fail_errno;
	memset(&a, 0, sizeof(a));
	if (family == AF_INET) {
		a.in4.sin_family = AF_INET;
		a.in4.sin_port = htons(port);
		alen = sizeof(a.in4);
	} else {
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
			goto fail_errno;
		a.in6.sin6_family = AF_INET6;
		a.in6.sin6_port = htons(port);
		alen = sizeof(a.in6);
	}
	/* Sticky sources: the local address of each datagram (IPV6_RECVPKTINFO also covers
	 * IPv4 on a dual-stack socket, as v4-mapped). Best effort: without it replies take the
	 * route's source, as before. */
	if (family == AF_INET)
		(void)setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	else
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	if (bind(fd, &a.sa, alen) < 0)
		goto fail_errno;
	return fd;
fail_errno:
	ret = -errno;
fail:
	close(fd);
	return ret;
}

static int udp_bound_port(int fd)
{
	udp_addr a;
	socklen_t alen = sizeof(a);

	memset(&a, 0, sizeof(a)); /* an unexpected short answer must not leave the family unset */
	if (getsockname(fd, &a.sa, &alen) < 0)
		return -errno;
	return a.sa.sa_family == AF_INET ? ntohs(a.in4.sin_port) : ntohs(a.in6.sin6_port);
}

/* A family the host lacks (no IPv6, or IPv6 disabled) is skipped, not an error. */
static bool udp_family_missing(int err)
{
	return err == -EAFNOSUPPORT || err == -EPROTONOSUPPORT || err == -EADDRNOTAVAIL;
}

/* One attempt: v4 on port (maybe 0), then v6 on the port v4 got. */
static int udp_bind_try(udp_bind *out, uint16_t port, uint32_t fwmark, bool offload,
			udp_socket_cb cb, void *ctx)
{
	int fd4, fd6, p;

	fd4 = udp_socket_open(AF_INET, port, fwmark, cb, ctx);
	if (fd4 < 0 && !udp_family_missing(fd4))
		return fd4;
	if (fd4 >= 0) {
		p = udp_bound_port(fd4);
		if (p < 0) {
			close(fd4);
			return p;
		}
		port = (uint16_t)p;
	}
	fd6 = udp_socket_open(AF_INET6, port, fwmark, cb, ctx);
	if (fd6 < 0 && (!udp_family_missing(fd6) || fd4 < 0)) {
		if (fd4 >= 0)
			close(fd4);
		return fd6;
	}
	if (fd4 < 0) {
		p = udp_bound_port(fd6);
		if (p < 0) {
			close(fd6);
			return p;
		}
		port = (uint16_t)p;
	}
	out->fd4 = fd4;
	out->fd6 = fd6 >= 0 ? fd6 : -1;
	out->gso4 = fd4 >= 0 && udp_set_offloads(fd4, offload);
	out->gso6 = fd6 >= 0 && udp_set_offloads(fd6, offload);
	out->port = port;
	out->fwmark = fwmark;
	return 0;
}

int udp_bind_open(udp_bind *b, uint16_t port, uint32_t fwmark, bool offload, udp_socket_cb cb,
		  void *ctx)
{
	udp_bind nb;
	int ret = -EADDRINUSE;

	udp_bind_init(&nb);
	/* Port 0: the kernel picks v4's port, which may be taken in v6; retry with another. */
	for (int i = 0; i < (port ? 1 : UDP_PORT_RETRIES); i++) {
		ret = udp_bind_try(&nb, port, fwmark, offload, cb, ctx);
		if (ret != -EADDRINUSE)
			break;
	}
	if (ret == 0)
		*b = nb;
	return ret;
}

void udp_bind_close(udp_bind *b)
{
	if (b->fd4 >= 0)
		close(b->fd4);
	if (b->fd6 >= 0)
		close(b->fd6);
	udp_bind_init(b);
}

int udp_bind_set_mark(udp_bind *b, uint32_t fwmark)
{
	int fds[2] = { b->fd4, b->fd6 };
	int ret = 0, i;

	for (i = 0; i < 2; i++) {
		if (fds[i] < 0)
			continue;
		if (setsockopt(fds[i], SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark)) < 0) {
			ret = -errno;
			break;
		}
	}
	if (ret < 0) {
		/* Put back what we changed so a failed set changes nothing. */
		while (--i >= 0)
			if (fds[i] >= 0)
				(void)setsockopt(fds[i], SOL_SOCKET, SO_MARK, &b->fwmark,
						 sizeof(b->fwmark));
		return ret;
	}
	b->fwmark = fwmark;
	return 0;
}

bool udp_src_eq(const udp_src *a, const udp_src *b)
{
	if (a->family != b->family)
		return false;
	if (a->family == AF_INET)
		return a->in4.s_addr == b->in4.s_addr;
	if (a->family == AF_INET6)
		return a->ifindex == b->ifindex && !memcmp(&a->in6, &b->in6, sizeof(a->in6));
	return true;
}

/* A source we can send from: not unspecified, multicast or the limited broadcast. */
static void src_set4(udp_src *s, struct in_addr a, uint32_t ifindex)
{
	uint32_t h = ntohl(a.s_addr);

	if (h == INADDR_ANY || h == INADDR_BROADCAST || IN_MULTICAST(h))
		return;
	s->family = AF_INET;
	s->in4 = a;
	s->ifindex = ifindex;
}

static void src_set6(udp_src *s, const struct in6_addr *a, uint32_t ifindex)
{
	if (IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_MULTICAST(a))
		return;
	s->family = AF_INET6;
	s->in6 = *a;
	s->ifindex = ifindex;
}

void udp_parse_cmsgs(const struct msghdr *h, size_t len, uint16_t *seg, udp_src *src)
{
	const uint8_t *base = h->msg_control;
	size_t total = base ? h->msg_controllen : 0, off = 0;

	*seg = 0;
	memset(src, 0, sizeof(*src));
	/* By hand, not CMSG_NXTHDR: every header and its payload must lie inside the control
	 * data, and memcpy reads them whatever the buffer's alignment (the fuzz harness). */
	while (total - off >= sizeof(struct cmsghdr)) {
		struct cmsghdr c;
		const uint8_t *data = base + off + CMSG_LEN(0);
		size_t dlen;

		memcpy(&c, base + off, sizeof(c));
		if (c.cmsg_len < CMSG_LEN(0) || c.cmsg_len > total - off)
			break;
		dlen = c.cmsg_len - CMSG_LEN(0);
		if (c.cmsg_level == SOL_UDP && c.cmsg_type == UDP_GRO && dlen >= sizeof(int)) {
			int gs;
			memcpy(&gs, data, sizeof(gs));
			/* Hostile-proof: a size the split loop can use, else one datagram. */
			if (gs > 0 && gs < 65536 && (size_t)gs < len)
				*seg = (uint16_t)gs;
		} else if (c.cmsg_level == IPPROTO_IP && c.cmsg_type == IP_PKTINFO &&
			   dlen >= sizeof(struct in_pktinfo)) {
			struct in_pktinfo pi;
			memcpy(&pi, data, sizeof(pi));
			/* spec_dst: the local address replies come from (ipi_addr is the header's
			 * destination, a broadcast one for a broadcast datagram). */
			memset(src, 0, sizeof(*src));
			src_set4(src, pi.ipi_spec_dst, (uint32_t)pi.ipi_ifindex);
		} else if (c.cmsg_level == IPPROTO_IPV6 && c.cmsg_type == IPV6_PKTINFO &&
			   dlen >= sizeof(struct in6_pktinfo)) {
			struct in6_pktinfo pi;
			memcpy(&pi, data, sizeof(pi));
			memset(src, 0, sizeof(*src));
			src_set6(src, &pi.ipi6_addr, pi.ipi6_ifindex);
		}
		if (CMSG_ALIGN(c.cmsg_len) >= total - off)
			break;
		off += CMSG_ALIGN(c.cmsg_len);
	}
}

int udp_recv_batch(int fd, udp_batch *b, unsigned n)
{
	int got;

	if (n > UDP_BATCH_MAX)
		n = UDP_BATCH_MAX;
	/* Built once: the kernel writes only msg_len, msg_namelen, msg_controllen and
	 * msg_flags, and those are put back below for the datagrams it filled. */
	for (unsigned i = b->hdr_ready; i < n; i++) {
		memset(&b->msg[i].msg_hdr, 0, sizeof(b->msg[i].msg_hdr));
		b->msg[i].msg_hdr.msg_iov = &b->iov[i];
		b->msg[i].msg_hdr.msg_iovlen = 1;
		b->msg[i].msg_hdr.msg_name = &b->addr[i];
		b->msg[i].msg_hdr.msg_namelen = sizeof(b->addr[i]);
		b->msg[i].msg_hdr.msg_control = b->ctrl[i].buf;
		b->msg[i].msg_hdr.msg_controllen = sizeof(b->ctrl[i].buf);
		b->msg[i].msg_len = 0;
	}
	if (b->hdr_ready < n)
		b->hdr_ready = n;
	do
		got = recvmmsg(fd, b->msg, n, MSG_DONTWAIT, NULL);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	for (int i = 0; i < got; i++) {
		struct msghdr *h = &b->msg[i].msg_hdr;
		if (h->msg_flags & MSG_TRUNC)
			b->msg[i].msg_len = 0;
		udp_parse_cmsgs(h, b->msg[i].msg_len, &b->seg[i], &b->src[i]);
		h->msg_namelen = sizeof(b->addr[i]);
		h->msg_controllen = sizeof(b->ctrl[i].buf);
		h->msg_flags = 0;
	}
	return got;
}

static socklen_t udp_addr_len(const udp_addr *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof(a->in6) : sizeof(a->in4);
}

static bool udp_addr_eq(const udp_addr *a, const udp_addr *b)
{
	return a->sa.sa_family == b->sa.sa_family && memcmp(a, b, udp_addr_len(a)) == 0;
}

/* Marks datagrams first..first+cnt as not sent (failed may be NULL); returns cnt. */
static unsigned mark_failed(bool *failed, unsigned first, unsigned cnt)
{
	if (failed)
		for (unsigned i = first; i < first + cnt; i++)
			failed[i] = true;
	return cnt;
}

/* Errors with which the kernel refuses a source (and maybe its interface) it no longer has:
 * EINVAL (IPv4 route lookup, IPv6 address check), EADDRNOTAVAIL, ENODEV (the interface is
 * gone), ENETUNREACH (no route from that source). Only a resend without the source that then
 * goes through counts as a refusal. */
static bool udp_src_refusal(int err)
{
	return err == EINVAL || err == EADDRNOTAVAIL || err == ENODEV || err == ENETUNREACH;
}

/* Appends one control message (level, type, data) at *len of buf (UDP_CTRL_SIZE bytes). */
static void ctrl_put(char *buf, size_t *len, int level, int type, const void *data, size_t dlen)
{
	struct cmsghdr c;

	memset(buf + *len, 0, CMSG_SPACE(dlen));
	memset(&c, 0, sizeof(c));
	c.cmsg_level = level;
	c.cmsg_type = type;
	c.cmsg_len = CMSG_LEN(dlen);
	memcpy(buf + *len, &c, sizeof(c));
	memcpy(buf + *len + CMSG_LEN(0), data, dlen);
	*len += CMSG_SPACE(dlen);
}

/* A message's control data: UDP_SEGMENT first (seg 0 = none), then the source (NULL = none),
 * so that dropping the source is cutting msg_controllen. */
static void msg_ctrl(struct msghdr *h, char *buf, uint16_t seg, const udp_src *s)
{
	size_t len = 0;

	if (seg)
		ctrl_put(buf, &len, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg));
	if (s && s->family == AF_INET) {
		struct in_pktinfo pi;
		memset(&pi, 0, sizeof(pi));
		/* The address only, as the kernel's WireGuard does: the route picks the device. */
		pi.ipi_spec_dst = s->in4;
		ctrl_put(buf, &len, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
	} else if (s && s->family == AF_INET6) {
		struct in6_pktinfo pi;
		memset(&pi, 0, sizeof(pi));
		pi.ipi6_addr = s->in6;
		pi.ipi6_ifindex = s->ifindex; /* scopes a link-local source */
		ctrl_put(buf, &len, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof(pi));
	}
	h->msg_control = len ? buf : NULL;
	h->msg_controllen = len;
}

/* One message of a send: datagrams first..first+cnt of the call, GSO segment size (0 = a
 * single datagram), whether it carries a source and whether that was taken out. */
typedef struct {
	uint16_t first, cnt, seg;
	bool src, stripped;
} udp_msg_info;

/* Recurses once at most: the retry of a failed GSO message passes gso = NULL. */
/* NOLINTNEXTLINE(misc-no-recursion,readability-function-cognitive-complexity) */
unsigned udp_send_batch(int fd, udp_batch *b, const uint16_t *idx, unsigned n, bool *gso,
			bool *failed, unsigned *refused)
{
	struct mmsghdr m[UDP_BATCH_MAX];
	struct iovec iov[UDP_BATCH_MAX];
	udp_msg_info info[UDP_BATCH_MAX];
	unsigned nm = 0, done = 0, nfailed = 0, k = 0;
	bool waited = false;

	if (n > UDP_BATCH_MAX)
		n = UDP_BATCH_MAX;
	for (unsigned i = 0; i < n; i++) {
		iov[i] = b->iov[idx[i]];
		if (failed)
			failed[i] = false;
	}
	/* Group into messages: with GSO a run of equal sizes to one address from one source
	 * (the last may be shorter and ends it); without, one datagram each. */
	while (k < n) {
		unsigned start = k;
		/* cppcheck-suppress uninitvar ; iov[0..n) was filled above and k < n */
		size_t sz = iov[k].iov_len, total = sz;
		const udp_addr *a = &b->addr[idx[k]];
		const udp_src *s = &b->src[idx[k]];

		k++;
		if (gso && *gso) {
			while (k < n && k - start < UDP_GSO_MAX_SEGS && iov[k - 1].iov_len == sz &&
			       iov[k].iov_len <= sz && iov[k].iov_len > 0 &&
			       total + iov[k].iov_len <= UDP_GSO_MAX_BYTES &&
			       udp_addr_eq(&b->addr[idx[k]], a) && udp_src_eq(&b->src[idx[k]], s)) {
				total += iov[k].iov_len;
				k++;
			}
		}
		memset(&m[nm], 0, sizeof(m[nm]));
		m[nm].msg_hdr.msg_iov = &iov[start];
		m[nm].msg_hdr.msg_iovlen = k - start;
		m[nm].msg_hdr.msg_name = (void *)(uintptr_t)a;
		m[nm].msg_hdr.msg_namelen = udp_addr_len(a);
		info[nm].first = (uint16_t)start;
		info[nm].cnt = (uint16_t)(k - start);
		info[nm].seg = k - start > 1 ? (uint16_t)sz : 0;
		info[nm].src = s->family == AF_INET || s->family == AF_INET6;
		info[nm].stripped = false;
		/* The control data lives at the message's first datagram: a nested retry of this
		 * run uses only its own datagrams' buffers. */
		msg_ctrl(&m[nm].msg_hdr, b->ctrl[idx[start]].buf, info[nm].seg,
			 info[nm].src ? s : NULL);
		nm++;
	}
	while (done < nm) {
		int sent = sendmmsg(fd, m + done, nm - done, MSG_DONTWAIT);
		int err = errno;

		if (sent > (int)(nm - done)) /* never more than asked; the analyzers cannot know */
			sent = (int)(nm - done);
		if (sent > 0) {
			for (unsigned j = done; j < done + (unsigned)sent; j++) {
				udp_src was;
				if (!info[j].stripped)
					continue;
				/* It went without its source: the source was the refusal. The later
				 * messages from it go without it too (no failing call each). */
				was = b->src[idx[info[j].first]];
				for (unsigned d = info[j].first; d < info[j].first + info[j].cnt; d++)
					b->src[idx[d]].refused = true;
				if (refused)
					*refused += info[j].cnt;
				info[j].stripped = false;
				for (unsigned q = done + (unsigned)sent; q < nm; q++) {
					if (!info[q].src || info[q].stripped ||
					    !udp_src_eq(&b->src[idx[info[q].first]], &was))
						continue;
					msg_ctrl(&m[q].msg_hdr, b->ctrl[idx[info[q].first]].buf,
						 info[q].seg, NULL);
					info[q].stripped = true;
				}
			}
			done += (unsigned)sent;
			continue;
		}
		if (sent < 0 && err == EINTR)
			continue;
		if (sent < 0 && (err == EAGAIN || err == EWOULDBLOCK) && !waited) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			waited = true;
			(void)poll(&p, 1, UDP_SEND_WAIT_MS);
			continue;
		}
		if (sent < 0 && (err == EAGAIN || err == EWOULDBLOCK)) {
			for (; done < nm; done++)
				nfailed += mark_failed(failed, info[done].first, info[done].cnt);
			break;
		}
		if (info[done].src && !info[done].stripped &&
		    udp_src_refusal(err)) {
			/* Once more without the source (a message is stripped at most once). */
			msg_ctrl(&m[done].msg_hdr, b->ctrl[idx[info[done].first]].buf,
				 info[done].seg, NULL);
			info[done].stripped = true;
			continue;
		}
		info[done].stripped = false;
		if (info[done].cnt > 1) {
			/* EIO: the egress cannot segment or checksum; stop using GSO on this socket.
			 * Anything else (too big for the path...): this run goes out unsegmented. */
			if (err == EIO && gso)
				*gso = false;
			nfailed += udp_send_batch(fd, b, idx + info[done].first, info[done].cnt, NULL,
						  failed ? failed + info[done].first : NULL, refused);
		} else {
			/* This datagram alone was refused (no route, too big...): skip it. */
			nfailed += mark_failed(failed, info[done].first, 1);
		}
		done++;
	}
	return nfailed;
}

/* The filter's program: at most the fixed part plus 9 instructions per IPv6 address. */
#define UDP_SHED_MAX_INSNS (16 + 9 * UDP_SHED_MAX_ALLOW)
#define UDP_SHED_PASS 0xffffffffu /* bytes to keep: all */
/* UDP header + initiation / response (WireGuard's sizes; the device layer checks them). */
#define UDP_SHED_LEN_INIT (8 + 148)
#define UDP_SHED_LEN_RESP (8 + 92)

typedef struct {
	struct sock_filter insn[UDP_SHED_MAX_INSNS];
	unsigned n;
} udp_prog;

static void emit(udp_prog *p, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
	p->insn[p->n++] = (struct sock_filter)BPF_JUMP(code, k, jt, jf);
}

int udp_shed_attach(int fd, int family, uint32_t keep, const udp_ip *allow, unsigned nallow)
{
	udp_prog p = { .n = 0 };
	struct sock_fprog fp;

	if (nallow > UDP_SHED_MAX_ALLOW)
		nallow = UDP_SHED_MAX_ALLOW;
	/* Every jump is local (cBPF offsets are 8 bits): each "pass" is its own ret. */
	emit(&p, BPF_LD | BPF_W | BPF_LEN, 0, 0, 0);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, UDP_SHED_LEN_INIT);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 0, 3, UDP_SHED_LEN_RESP);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, 0, 0, 8); /* type + 3 reserved zero bytes */
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 2, 0, 0x01000000u);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 0x02000000u);
	emit(&p, BPF_RET | BPF_K, 0, 0, UDP_SHED_PASS); /* data, cookie replies, the rest */
	if (family == AF_INET && nallow) {
		emit(&p, BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t)SKF_NET_OFF + 12);
		for (unsigned i = 0; i < nallow; i++) {
			uint32_t w;
			memcpy(&w, allow[i].b, sizeof(w));
			emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, ntohl(w));
			emit(&p, BPF_RET | BPF_K, 0, 0, UDP_SHED_PASS);
		}
	} else if (family == AF_INET6) {
		for (unsigned i = 0; i < nallow; i++) {
			uint32_t w[4];
			memcpy(w, allow[i].b, sizeof(w));
			for (unsigned j = 0; j < 4; j++) {
				emit(&p, BPF_LD | BPF_W | BPF_ABS, 0, 0,
				     (uint32_t)SKF_NET_OFF + 8 + 4 * j);
				emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 0, (uint8_t)(7 - 2 * j),
				     ntohl(w[j]));
			}
			emit(&p, BPF_RET | BPF_K, 0, 0, UDP_SHED_PASS);
		}
	}
	emit(&p, BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t)SKF_AD_OFF + SKF_AD_RANDOM);
	emit(&p, BPF_JMP | BPF_JGE | BPF_K, 0, 1, keep);
	emit(&p, BPF_RET | BPF_K, 0, 0, 0); /* shed */
	emit(&p, BPF_RET | BPF_K, 0, 0, UDP_SHED_PASS);
	fp.len = (unsigned short)p.n;
	fp.filter = p.insn;
	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)) < 0 ? -errno : 0;
}

int udp_shed_detach(int fd)
{
	int unused = 0; /* the kernel wants an int-sized option even here */

	return setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof(unused)) < 0 ? -errno
											       : 0;
}

int udp_socket_drops(int fd, uint32_t *out)
{
	uint32_t m[SK_MEMINFO_VARS];
	socklen_t len = sizeof(m);

	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, m, &len) < 0)
		return -errno;
	if (len < (SK_MEMINFO_DROPS + 1) * sizeof(uint32_t))
		return -EOPNOTSUPP;
	*out = m[SK_MEMINFO_DROPS];
	return 0;
}
