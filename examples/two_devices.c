/* Embedding libwgtun: two WireGuard devices in one process (the library has no global state),
 * talking to each other over UDP on 127.0.0.1.
 *
 * Each device is created from a "TUN" fd that the app owns. Here that is one end of a
 * socketpair, standing in for the fd that Android's VpnService.Builder.establish() or an iOS
 * packet tunnel gives you: one IP packet per read()/write(). The app writes an IPv4 packet into
 * device A's fd; A encrypts it and sends it to B; B decrypts it and the app reads it from B's
 * fd. Then B answers on the endpoint it learned from A's authenticated packets.
 *
 * Shown: creation from an fd, the socket_created callback (where an Android app calls
 * VpnService.protect(fd)), the log and event callbacks, configuration with UAPI text
 * (wgtun_device_set) and reading it back (wgtun_device_get). Only include/wgtun.h is used.
 * No root needed. Exit status 0 = the packets made it both ways. */
#define _GNU_SOURCE
#include <wgtun.h>

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
	const char *name;
	atomic_int sockets;    /* UDP sockets the device created */
	atomic_int handshakes; /* WGTUN_EVENT_HANDSHAKE_DONE seen */
} app_ctx;

/* Callbacks run on the library's threads: keep them short. */
static void on_log(void *ctx, int level, const char *msg)
{
	const app_ctx *app = ctx;
	if (level <= WGTUN_LOG_INFO)
		fprintf(stderr, "  [%s] %s\n", app->name, msg);
}

static int on_socket(void *ctx, int fd)
{
	app_ctx *app = ctx;
	/* Android: return protect(fd) ? 0 : -1, so the tunnel's own traffic bypasses the VPN. */
	atomic_fetch_add(&app->sockets, 1);
	(void)fd;
	return 0;
}

static void on_event(void *ctx, const wgtun_event *ev)
{
	app_ctx *app = ctx;
	if (ev->type == WGTUN_EVENT_HANDSHAKE_DONE)
		atomic_fetch_add(&app->handshakes, 1);
}

/* An IPv4/UDP packet src -> dst (10.0.0.x) carrying text; returns its length. */
static size_t make_packet(uint8_t *p, uint8_t src, uint8_t dst, const char *text)
{
	size_t n = strlen(text), len = 20 + 8 + n;
	uint32_t sum = 0;

	memset(p, 0, 28);
	p[0] = 0x45; /* IPv4, 20-byte header */
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[8] = 64; /* TTL */
	p[9] = 17; /* UDP */
	p[12] = 10, p[15] = src;
	p[16] = 10, p[19] = dst;
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	p[10] = (uint8_t)(~sum >> 8);
	p[11] = (uint8_t)~sum;
	p[20] = 0x30, p[21] = 0x39; /* source port 12345 */
	p[22] = 0x30, p[23] = 0x39; /* destination port 12345 */
	p[24] = (uint8_t)((8 + n) >> 8);
	p[25] = (uint8_t)(8 + n); /* UDP checksum 0 = none (IPv4) */
	memcpy(p + 28, text, n);
	return len;
}

/* Waits up to timeout_ms for one packet on fd. Its length, or -1. */
static ssize_t recv_packet(int fd, uint8_t *buf, size_t cap, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	if (poll(&pfd, 1, timeout_ms) != 1)
		return -1;
	return read(fd, buf, cap);
}

/* The value of "key=" in a UAPI get response (first match), or 0. */
static unsigned long get_number(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	return p ? strtoul(p + strlen(key), NULL, 10) : 0;
}

typedef struct {
	app_ctx app;
	int app_fd; /* our end of the "TUN" */
	wgtun_device *dev;
	uint8_t priv[WGTUN_KEY_LEN], pub[WGTUN_KEY_LEN];
	char pub_hex[WGTUN_KEY_HEX_LEN + 1];
	unsigned port;
} side;

static int side_open(side *s, const char *name)
{
	char priv_hex[WGTUN_KEY_HEX_LEN + 1], conf[128], *got = NULL;
	wgtun_device_config cfg;
	int sp[2], r;

	s->app.name = name;
	if (wgtun_key_generate(s->priv) || wgtun_key_public(s->pub, s->priv) ||
	    wgtun_key_to_hex(s->pub_hex, s->pub) || wgtun_key_to_hex(priv_hex, s->priv))
		return -EINVAL;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	s->app_fd = sp[0];

	wgtun_device_config_init(&cfg);
	cfg.tun_fd = sp[1]; /* the device owns it from now on */
	cfg.mtu = 1420;     /* a bare fd has no interface to read the MTU from */
	cfg.log = on_log;
	cfg.socket_created = on_socket;
	cfg.event = on_event;
	cfg.ctx = &s->app;
	r = wgtun_device_new(&cfg, &s->dev);
	if (r < 0)
		return r;

	/* listen_port=0: the kernel picks a free port when the device starts */
	snprintf(conf, sizeof(conf), "private_key=%s\nlisten_port=0\n", priv_hex);
	memset(priv_hex, 0, sizeof(priv_hex));
	r = wgtun_device_set(s->dev, conf);
	memset(conf, 0, sizeof(conf));
	if (r < 0 || (r = wgtun_device_start(s->dev)) < 0 || (r = wgtun_device_get(s->dev, &got)) < 0)
		return r;
	s->port = (unsigned)get_number(got, "listen_port=");
	wgtun_string_free(got); /* wipes: the text holds the private key */
	return s->port ? 0 : -EIO;
}

int main(void)
{
	side a = {.app_fd = -1}, b = {.app_fd = -1};
	uint8_t pkt[1500], in[1500];
	char conf[512], *got = NULL;
	size_t len;
	ssize_t n;
	int r, status = 1;

	printf("libwgtun %s: two devices in one process\n", wgtun_version());
	if ((r = side_open(&a, "A")) < 0 || (r = side_open(&b, "B")) < 0) {
		fprintf(stderr, "device setup failed: %s\n", strerror(-r));
		goto out;
	}
	printf("A listens on 127.0.0.1:%u, B on 127.0.0.1:%u\n", a.port, b.port);

	/* A knows where B is; B only knows A's key and learns A's endpoint from its packets. */
	snprintf(conf, sizeof(conf),
		 "public_key=%s\nendpoint=127.0.0.1:%u\nallowed_ip=10.0.0.2/32\n", b.pub_hex, b.port);
	if ((r = wgtun_device_set(a.dev, conf)) < 0)
		goto fail;
	snprintf(conf, sizeof(conf), "public_key=%s\nallowed_ip=10.0.0.1/32\n", a.pub_hex);
	if ((r = wgtun_device_set(b.dev, conf)) < 0)
		goto fail;
	/* A bad line is refused and changes nothing (all or nothing). */
	if (wgtun_device_set(b.dev, "listen_port=1\nno_such_key=1\n") != -EINVAL) {
		fprintf(stderr, "a bad configuration was accepted\n");
		goto out;
	}

	len = make_packet(pkt, 1, 2, "hello from A");
	if (write(a.app_fd, pkt, len) != (ssize_t)len)
		goto out;
	/* the first packet waits for the handshake, then goes out */
	n = recv_packet(b.app_fd, in, sizeof(in), 5000);
	if (n != (ssize_t)len || memcmp(in, pkt, len) != 0) {
		fprintf(stderr, "B did not receive A's packet (%zd)\n", n);
		goto out;
	}
	printf("B received %zd bytes: \"%.*s\"\n", n, (int)(n - 28), (const char *)in + 28);

	len = make_packet(pkt, 2, 1, "hello from B");
	if (write(b.app_fd, pkt, len) != (ssize_t)len)
		goto out;
	n = recv_packet(a.app_fd, in, sizeof(in), 5000);
	if (n != (ssize_t)len || memcmp(in, pkt, len) != 0) {
		fprintf(stderr, "A did not receive B's answer (%zd)\n", n);
		goto out;
	}
	printf("A received %zd bytes: \"%.*s\"\n", n, (int)(n - 28), (const char *)in + 28);

	if ((r = wgtun_device_get(b.dev, &got)) < 0)
		goto fail;
	printf("B's view of A: endpoint %s", strstr(got, "endpoint=") ? "learned, " : "missing, ");
	printf("rx_bytes=%lu tx_bytes=%lu\n", get_number(got, "rx_bytes="),
	       get_number(got, "tx_bytes="));
	printf("callbacks: A made %d UDP sockets, handshake events A=%d B=%d\n",
	       atomic_load(&a.app.sockets), atomic_load(&a.app.handshakes),
	       atomic_load(&b.app.handshakes));
	if (!strstr(got, "endpoint=127.0.0.1:") || atomic_load(&a.app.sockets) < 1 ||
	    atomic_load(&a.app.handshakes) < 1)
		goto out;
	status = 0;
	printf("ok\n");
	goto out;
fail:
	fprintf(stderr, "configuration failed: %s\n", strerror(-r));
out:
	wgtun_string_free(got);
	wgtun_device_free(a.dev); /* stops, closes its sockets and fd, wipes its keys */
	wgtun_device_free(b.dev);
	if (a.app_fd >= 0)
		close(a.app_fd);
	if (b.app_fd >= 0)
		close(b.app_fd);
	memset(a.priv, 0, sizeof(a.priv));
	memset(b.priv, 0, sizeof(b.priv));
	return status;
}
