/* Public device API (wgtun_device_*): config versioning, set/get in UAPI text over a device
 * made from a packet fd (a socketpair, as an embedding app would pass a TUN fd), all-or-nothing
 * set, the UAPI socket served by the library, stop semantics. */
#include "test.h"
#include "wgtun.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define K1 "0101010101010101010101010101010101010101010101010101010101010101"
#define K2 "0202020202020202020202020202020202020202020202020202020202020202"

static int events;
static void on_event(void *ctx, const wgtun_event *ev)
{
	(void)ctx;
	(void)ev;
	events++;
}

/* A fresh config whose TUN is sp[0] of a new socketpair (the test keeps sp[1]), MTU 1420. */
static void config_on_socketpair(wgtun_device_config *cfg, int sp[2])
{
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) == 0);
	wgtun_device_config_init(cfg);
	cfg->tun_fd = sp[0];
	cfg->mtu = 1420;
}

/* wgtun_device_new(cfg) gives want; the TUN fd is taken over either way, so a refused config
 * has closed it. Frees the device and closes the test's end. */
static void check_new_on_socketpair(const wgtun_device_config *cfg, int sp[2], int want)
{
	wgtun_device *dev = NULL;

	CHECK_EQ_INT(wgtun_device_new(cfg, &dev), want);
	if (want != 0)
		CHECK(fcntl(sp[0], F_GETFD) == -1); /* closed */
	wgtun_device_free(dev);
	close(sp[1]);
}

static wgtun_device *make(int *peer_fd, int uapi_fd, const char *uapi_path)
{
	wgtun_device_config cfg;
	wgtun_device *dev = NULL;
	int sp[2];

	config_on_socketpair(&cfg, sp);
	cfg.event = on_event;
	cfg.uapi_fd = uapi_fd;
	cfg.uapi_path = uapi_path;
	CHECK_EQ_INT(wgtun_device_new(&cfg, &dev), 0);
	*peer_fd = sp[1];
	return dev;
}

static void test_config_versions(void)
{
	struct {
		wgtun_device_config cfg;
		uint64_t future_field;
	} big;
	wgtun_device_config cfg;
	wgtun_device *dev = (wgtun_device *)&cfg; /* must be reset to NULL on error */

	wgtun_device_config_init(&cfg);
	CHECK_EQ_INT(cfg.struct_size, sizeof(cfg));
	CHECK(cfg.tun_fd == -1 && cfg.uapi_fd == -1 && cfg.ifname == NULL);
	cfg.struct_size = 8;
	CHECK_EQ_INT(wgtun_device_new(&cfg, &dev), -EINVAL);
	CHECK(dev == NULL);
	/* no TUN fd and no name */
	wgtun_device_config_init(&cfg);
	CHECK_EQ_INT(wgtun_device_new(&cfg, &dev), -EINVAL);
	/* a newer app's struct: unknown fields must be zero */
	wgtun_device_config_init(&big.cfg);
	big.cfg.struct_size = sizeof(big);
	big.future_field = 1;
	CHECK_EQ_INT(wgtun_device_new(&big.cfg, &dev), -EINVAL);
	/* crypto_workers: more than 64 refused (the TUN fd is still taken over and closed); an
	 * app built before the field (struct_size without it) is not read there. */
	for (int v1 = 0; v1 < 2; v1++) {
		int sp[2];

		config_on_socketpair(&cfg, sp);
		cfg.crypto_workers = 65;
		if (v1)
			cfg.struct_size = offsetof(wgtun_device_config, crypto_workers);
		check_new_on_socketpair(&cfg, sp, v1 ? 0 : -EINVAL);
	}
	/* busy_poll_us: 1000 accepted, more refused (fd closed); an older struct not read. */
	for (int k = 0; k < 3; k++) {
		int sp[2];

		config_on_socketpair(&cfg, sp);
		cfg.busy_poll_us = k == 0 ? 1000 : 1001;
		if (k == 2)
			cfg.struct_size = offsetof(wgtun_device_config, busy_poll_us);
		check_new_on_socketpair(&cfg, sp, k == 1 ? -EINVAL : 0);
	}
}

static char offload_line[256];
static void on_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	(void)level;
	if (strstr(msg, "offloads:")) {
		size_t n = strnlen(msg, sizeof(offload_line) - 1);
		memcpy(offload_line, msg, n);
		offload_line[n] = '\0';
	}
}

/* An older app's struct ends before no_offload: whatever lies there is not read (UDP GSO
 * stays on, as loopback has it); no_offload set turns it off (the device logs what it got). */
static void test_config_v1_and_no_offload(void)
{
	wgtun_device_config cfg;
	wgtun_device *dev = NULL;
	int sp[2];

	for (int v1 = 1; v1 >= 0; v1--) {
		config_on_socketpair(&cfg, sp);
		cfg.log = on_log;
		cfg.no_offload = v1 ? 7 : 1;
		if (v1)
			cfg.struct_size = offsetof(wgtun_device_config, no_offload);
		CHECK_EQ_INT(wgtun_device_new(&cfg, &dev), 0);
		CHECK(dev != NULL);
		offload_line[0] = '\0';
		CHECK_EQ_INT(wgtun_device_set(dev, "private_key=" K1 "\nlisten_port=0\n"), 0);
		CHECK_EQ_INT(wgtun_device_start(dev), 0);
		CHECK_MSG(strstr(offload_line, v1 ? "UDP GSO v4 1" : "UDP GSO v4 0") != NULL,
			  "%s", offload_line);
		wgtun_device_free(dev);
		dev = NULL;
		close(sp[1]);
	}
}

static void test_set_get(void)
{
	int peer;
	wgtun_device *dev = make(&peer, -1, NULL);
	char *out = NULL;

	CHECK_EQ_INT(wgtun_device_get(dev, &out), 0);
	CHECK(out && out[0] == '\0');
	wgtun_string_free(out);
	CHECK_EQ_INT(wgtun_device_set(dev, "private_key=" K1 "\nfwmark=3\n"
					   "public_key=" K2 "\nendpoint=[::ffff:127.0.0.1]:9\n"
					   "allowed_ip=10.0.0.0/8\nallowed_ip=fd00::/8\n\n"),
		     0);
	CHECK_EQ_INT(wgtun_device_get(dev, &out), 0);
	CHECK(strstr(out, "fwmark=3\n") != NULL);
	CHECK(strstr(out, "public_key=" K2 "\n") != NULL);
	CHECK(strstr(out, "endpoint=127.0.0.1:9\n") != NULL);
	CHECK(strstr(out, "allowed_ip=10.0.0.0/8\nallowed_ip=fd00::/8\n") != NULL);
	CHECK(strstr(out, "errno") == NULL);
	wgtun_string_free(out);

	/* all or nothing: a bad line at the end leaves everything as it was */
	CHECK_EQ_INT(wgtun_device_set(dev, "fwmark=4\npublic_key=" K2 "\nremove=true\nbad=1\n"),
		     -EINVAL);
	CHECK_EQ_INT(wgtun_device_set(dev, "fwmark=4\nlisten_port"), -EPROTO);
	CHECK_EQ_INT(wgtun_device_get(dev, &out), 0);
	CHECK(strstr(out, "fwmark=3\n") != NULL && strstr(out, K2) != NULL);
	wgtun_string_free(out);
	CHECK_EQ_INT(wgtun_device_set(dev, NULL), -EINVAL);

	CHECK_EQ_INT(wgtun_device_start(dev), 0);
	CHECK_EQ_INT(wgtun_device_get(dev, &out), 0);
	CHECK(strstr(out, "listen_port=") != NULL); /* bound to a random port */
	wgtun_string_free(out);

	wgtun_device_stop(dev);
	wgtun_device_stop(dev); /* idempotent */
	CHECK_EQ_INT(wgtun_device_set(dev, "fwmark=1\n"), -ESHUTDOWN);
	CHECK_EQ_INT(wgtun_device_get(dev, &out), -ESHUTDOWN);
	CHECK(out == NULL);
	CHECK_EQ_INT(wgtun_device_start(dev), -ESHUTDOWN);
	wgtun_device_free(dev);
	close(peer);
	wgtun_device_free(NULL);
}

static void test_uapi_socket(void)
{
	char dir[] = "/tmp/wgtun-api-XXXXXX", path[128], resp[256];
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat st;
	wgtun_device *dev;
	int peer, lfd, c, reason = 0;
	ssize_t n;
	size_t got = 0;

	CHECK(mkdtemp(dir) != NULL);
	CHECK_EQ_INT(wgtun_uapi_listen(dir, "a/b", path, sizeof(path)), -EINVAL);
	lfd = wgtun_uapi_listen(dir, "wgapi0", path, sizeof(path));
	CHECK(lfd >= 0);
	dev = make(&peer, lfd, path);
	CHECK_EQ_INT(wgtun_device_wait(dev, 0, &reason), 0);

	strcpy(sun.sun_path, path);
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(connect(c, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	CHECK(write(c, "set=1\nfwmark=9\n\nget=1\n\n", 23) == 23);
	shutdown(c, SHUT_WR);
	while ((n = read(c, resp + got, sizeof(resp) - 1 - got)) > 0)
		got += (size_t)n;
	resp[got] = '\0';
	close(c);
	CHECK_MSG(!strcmp(resp, "errno=0\n\nfwmark=9\nerrno=0\n\n"), "got %s", resp);

	/* removing the socket file stops the device (as wireguard-go), visible on stop_fd */
	CHECK(unlink(path) == 0);
	CHECK_EQ_INT(wgtun_device_wait(dev, 5000, &reason), 1);
	CHECK_EQ_INT(reason, -ENOENT);
	{
		struct pollfd pfd = {.fd = wgtun_device_stop_fd(dev), .events = POLLIN};
		CHECK_EQ_INT(poll(&pfd, 1, 0), 1);
	}
	wgtun_device_free(dev);
	close(peer);

	/* stop removes the socket file */
	lfd = wgtun_uapi_listen(dir, "wgapi1", path, sizeof(path));
	dev = make(&peer, lfd, path);
	CHECK(stat(path, &st) == 0);
	wgtun_device_stop(dev);
	CHECK(stat(path, &st) < 0 && errno == ENOENT);
	wgtun_device_free(dev);
	close(peer);
	rmdir(dir);
}

int main(void)
{
	test_config_versions();
	test_config_v1_and_no_offload();
	test_set_get();
	test_uapi_socket();
	return test_finish("device_api");
}
