/* Public device API (include/wgtun.h, "Device"): a thin shell over src/device plus the UAPI
 * text parser/serializer and, optionally, the UAPI socket server. */
#define _GNU_SOURCE
#include "wgtun.h"

#include "api/api_struct.h"

#include "crypto/crypto.h"
#include "device/cryptopool.h"
#include "device/device.h"
#include "io/linux/tun.h"
#include "uapi/server.h"
#include "uapi/uapi.h"

#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* The first published layout ends with uapi_path. */
#define CONFIG_V1_SIZE (offsetof(wgtun_device_config, uapi_path) + sizeof(const char *))

struct wgtun_device {
	/* Held shared by set/get/start, exclusively by stop: a stop never pulls the device out
	 * from under a running call. */
	pthread_rwlock_t lock;
	device *dev;         /* NULL once stopped */
	uapi_server *server; /* NULL without a UAPI socket */
	int stop_epoll;      /* readable when the device's or the server's stop fd is */
	char name[TUN_NAME_MAX];
	wgtun_device_config cfg;
};

void wgtun_device_config_init(wgtun_device_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->struct_size = sizeof(*cfg);
	cfg->tun_fd = -1;
	cfg->uapi_fd = -1;
}

/* Copies the caller's struct over our defaults (api_struct.h), then checks the values. */
static int config_copy(wgtun_device_config *dst, const wgtun_device_config *src)
{
	int ret;

	if (!src)
		return -EINVAL;
	wgtun_device_config_init(dst);
	ret = api_struct_take(dst, sizeof(*dst), src, src->struct_size, CONFIG_V1_SIZE);
	if (ret)
		return ret;
	return dst->crypto_workers > CRYPTO_POOL_MAX_WORKERS ||
			       dst->busy_poll_us > DEVICE_BUSY_POLL_MAX_US
		       ? -EINVAL
		       : 0;
}

static void on_device_event(void *ctx, const device_event *dev_ev)
{
	wgtun_device *d = ctx;
	wgtun_event ev = {
		.type = (int)dev_ev->type,
		.peer_public_key = dev_ev->peer_public_key,
		.error = dev_ev->error,
	};

	if (d->cfg.event)
		d->cfg.event(d->cfg.ctx, &ev);
}

/* The inner layers call back with ctx = the wrapper; the app's callbacks get the app's ctx. */
static void on_device_log(void *ctx, int level, const char *msg)
{
	wgtun_device *d = ctx;

	if (d->cfg.log)
		d->cfg.log(d->cfg.ctx, level, msg);
}

static int on_socket_created(void *ctx, int fd)
{
	wgtun_device *d = ctx;

	return d->cfg.socket_created ? d->cfg.socket_created(d->cfg.ctx, fd) : 0;
}

static int backend_apply(void *ctx, const wg_config_change *c)
{
	wgtun_device *d = ctx;
	return device_apply(d->dev, c);
}

static int backend_get(void *ctx, wg_config_info *info)
{
	wgtun_device *d = ctx;
	return device_get_info(d->dev, info);
}

static int watch_fd(int epfd, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int open_tun(wgtun_device *d)
{
	int fd = d->cfg.tun_fd;

	if (fd >= 0) {
		if (d->cfg.ifname && strlen(d->cfg.ifname) < sizeof(d->name))
			strcpy(d->name, d->cfg.ifname);
		return fd;
	}
	if (!d->cfg.ifname)
		return -EINVAL;
	return tun_create(d->cfg.ifname, d->name, !d->cfg.no_offload);
}

static int start_server(wgtun_device *d)
{
	uapi_backend be = {
		.apply = backend_apply,
		.get = backend_get,
		.log = d->cfg.log ? on_device_log : NULL,
		.ctx = d,
	};
	int fd = d->cfg.uapi_fd, r;

	d->cfg.uapi_fd = -1; /* taken over by the server, also on failure */
	r = uapi_server_start(&d->server, fd, d->cfg.uapi_path, &be);
	if (r == 0)
		r = watch_fd(d->stop_epoll, uapi_server_stop_fd(d->server));
	return r;
}

int wgtun_device_new(const wgtun_device_config *cfg, wgtun_device **out)
{
	wgtun_device *d = calloc(1, sizeof(*d));
	device_params p;
	int r, tun;

	*out = NULL;
	if (!d)
		r = -ENOMEM;
	else
		r = config_copy(&d->cfg, cfg);
	if (r < 0) {
		/* The fds are ours from here on, also on failure. */
		if (cfg && cfg->struct_size >= CONFIG_V1_SIZE) {
			if (cfg->tun_fd >= 0)
				close(cfg->tun_fd);
			if (cfg->uapi_fd >= 0)
				close(cfg->uapi_fd);
		}
		free(d);
		return r;
	}
	pthread_rwlock_init(&d->lock, NULL);
	d->stop_epoll = epoll_create1(EPOLL_CLOEXEC);
	tun = open_tun(d);
	d->cfg.tun_fd = -1;
	if (d->stop_epoll < 0 || tun < 0) {
		r = d->stop_epoll < 0 ? -errno : tun;
		if (tun >= 0)
			close(tun);
		goto fail;
	}
	memset(&p, 0, sizeof(p));
	p.tun_fd = tun;
	p.ifname = d->name[0] ? d->name : NULL;
	p.mtu = d->cfg.mtu;
	p.log = d->cfg.log ? on_device_log : NULL;
	p.socket_created = d->cfg.socket_created ? on_socket_created : NULL;
	p.event = on_device_event;
	p.ctx = d;
	p.crypto_workers = d->cfg.crypto_workers;
	p.no_offload = d->cfg.no_offload != 0;
	p.busy_poll_us = d->cfg.busy_poll_us;
	d->dev = device_new(&p);
	if (!d->dev) {
		r = -errno;
		goto fail;
	}
	r = watch_fd(d->stop_epoll, device_stop_fd(d->dev));
	if (r == 0 && d->cfg.uapi_fd >= 0)
		r = start_server(d);
	if (r < 0)
		goto fail;
	*out = d;
	return 0;
fail:
	wgtun_device_free(d);
	return r < 0 ? r : -EINVAL;
}

const char *wgtun_device_name(const wgtun_device *dev)
{
	return dev->name;
}

int wgtun_device_start(wgtun_device *dev)
{
	int r = -ESHUTDOWN;

	pthread_rwlock_rdlock(&dev->lock);
	if (dev->dev)
		r = device_start(dev->dev);
	pthread_rwlock_unlock(&dev->lock);
	return r;
}

int wgtun_device_set(wgtun_device *dev, const char *text)
{
	wg_config_change c;
	int r;

	if (!text)
		return -EINVAL;
	r = uapi_parse_set(text, strlen(text), if_nametoindex, &c);
	if (r < 0)
		return r;
	pthread_rwlock_rdlock(&dev->lock);
	r = dev->dev ? device_apply(dev->dev, &c) : -ESHUTDOWN;
	pthread_rwlock_unlock(&dev->lock);
	wg_config_change_clear(&c);
	return r;
}

int wgtun_device_get(wgtun_device *dev, char **out)
{
	wg_config_info info;
	size_t len;
	int r = -ESHUTDOWN;

	*out = NULL;
	memset(&info, 0, sizeof(info));
	pthread_rwlock_rdlock(&dev->lock);
	if (dev->dev)
		r = device_get_info(dev->dev, &info);
	pthread_rwlock_unlock(&dev->lock);
	if (r == 0)
		r = uapi_format_get(&info, out, &len);
	wg_config_info_clear(&info);
	return r;
}

int wgtun_device_stats(wgtun_device *dev, char **out)
{
	/* In device_stats field order. */
	static const char *const names[] = {
		"rx_malformed",   "rx_mac",          "rx_decrypt",          "rx_replay",
		"rx_no_session",  "rx_unknown_peer", "rx_allowed_ip",       "rx_ratelimited",
		"rx_flood",       "rx_no_key",       "cookie_replies_sent", "tx_no_route",
		"tx_no_endpoint", "tx_send_error",   "tun_write_error",     "under_load_batches",
		"loop_wakeups",   "handshake_no_index", "rx_handshake_queue_full", "rng_error",
		"mem_releases",   "mem_released_bytes",
		"busy_polls",     "busy_poll_hits",
		"shed_filter_set", "shed_filter_cleared", "shed_filter_error", "kernel_shed",
		"tx_src_refused", "tx_loop",
		"link_down",      "link_up",         "tun_while_down",
		"tx_gso_off",
		"link_up_failed", "link_up_new_port",
		"tun_split_tcp",  "tun_split_udp",   "tun_split_segs",
		"tun_gro_tcp",    "tun_gro_udp",     "tun_gro_segs",
	};
	_Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(device_stats) / sizeof(uint64_t),
		       "one name per device_stats counter");
	device_stats st;
	uint64_t v[sizeof(device_stats) / sizeof(uint64_t)];
	size_t cap = 64 * (sizeof(names) / sizeof(names[0])), len = 0;
	char *s;
	int r = -ESHUTDOWN;

	*out = NULL;
	pthread_rwlock_rdlock(&dev->lock);
	if (dev->dev) {
		device_get_stats(dev->dev, &st);
		r = 0;
	}
	pthread_rwlock_unlock(&dev->lock);
	if (r < 0)
		return r;
	s = malloc(cap);
	if (!s)
		return -ENOMEM;
	memcpy(v, &st, sizeof(v));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int n = snprintf(s + len, cap - len, "%s=%llu\n", names[i], (unsigned long long)v[i]);
		if (n < 0 || (size_t)n >= cap - len) {
			free(s);
			return -ENOMEM;
		}
		len += (size_t)n;
	}
	*out = s;
	return 0;
}

void wgtun_string_free(char *s)
{
	if (!s)
		return;
	crypto_wipe(s, strlen(s));
	free(s);
}

int wgtun_device_stop_fd(const wgtun_device *dev)
{
	return dev->stop_epoll;
}

int wgtun_device_wait(wgtun_device *dev, int timeout_ms, int *reason)
{
	struct pollfd pfd = {.fd = dev->stop_epoll, .events = POLLIN};
	int r, why = 0;

	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return 0;
	pthread_rwlock_rdlock(&dev->lock);
	if (dev->server && uapi_server_reason(dev->server))
		why = uapi_server_reason(dev->server);
	else if (dev->dev)
		device_wait(dev->dev, 0, &why);
	pthread_rwlock_unlock(&dev->lock);
	if (reason)
		*reason = why;
	return 1;
}

void wgtun_device_stop(wgtun_device *dev)
{
	pthread_rwlock_wrlock(&dev->lock);
	/* The server first: no UAPI request may reach a device being freed. */
	uapi_server_free(dev->server);
	dev->server = NULL;
	device_free(dev->dev);
	dev->dev = NULL;
	pthread_rwlock_unlock(&dev->lock);
}

void wgtun_device_free(wgtun_device *dev)
{
	if (!dev)
		return;
	wgtun_device_stop(dev);
	if (dev->cfg.uapi_fd >= 0)
		close(dev->cfg.uapi_fd);
	if (dev->stop_epoll >= 0)
		close(dev->stop_epoll);
	pthread_rwlock_destroy(&dev->lock);
	free(dev);
}

int wgtun_tun_open(const char *name, char actual_name[16])
{
	return tun_create(name, actual_name, true);
}

int wgtun_tun_open_plain(const char *name, char actual_name[16])
{
	return tun_create(name, actual_name, false);
}

int wgtun_uapi_listen(const char *dir, const char *ifname, char *path_out, size_t cap)
{
	int r = uapi_socket_path(path_out, cap, dir, ifname);
	return r < 0 ? r : uapi_listen(path_out);
}
