/* Public under-load shield for the sans-I/O tunnel API (include/wgtun.h, "Limiter"): the
 * device's handshake admission (src/device/handshake.c) for apps that own their sockets. It
 * is the proto cookie checker (mac1, mac2, cookie replies) and rate limiter behind a lock,
 * plus a load estimate from the handshake count, since such an app has no queue whose depth
 * we could watch. */
#include "wgtun.h"

#include "api/api_struct.h"

#include "crypto/crypto.h"
#include "proto/cookie.h"
#include "proto/identity.h"
#include "proto/messages.h"
#include "proto/ratelimiter.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* The public numbers are the proto ones. */
_Static_assert(WGTUN_LIMITER_REPLY_LEN == WG_MSG_COOKIE_REPLY_LEN, "reply length");
_Static_assert(WGTUN_LIMITER_MAX_SOURCES == WG_RATELIMITER_MAX_ENTRIES, "max sources");
_Static_assert((int)WGTUN_TUNNEL_ERR_RANDOM == (int)COOKIE_ERR_RNG, "rng error");
_Static_assert((int)WGTUN_TUNNEL_ERR_MALFORMED == (int)COOKIE_ERR_MALFORMED, "malformed");
_Static_assert((int)WGTUN_TUNNEL_ERR_NO_KEY == (int)COOKIE_ERR_NO_KEY, "no key");

/* Under load this long after the last sign of load: the kernel's and wireguard-go's time, and
 * the device's (DEVICE_UNDER_LOAD_TIME). */
#define LIMITER_UNDER_LOAD_TIME WG_SEC(1)
/* The window the handshake count is taken over (load_per_second is per this). */
#define LIMITER_WINDOW WG_SEC(1)

/* The first published layouts end with ctx / under_load. */
#define CONFIG_V1_SIZE (offsetof(wgtun_limiter_config, ctx) + sizeof(void *))
#define STATS_V1_SIZE (offsetof(wgtun_limiter_stats, under_load) + sizeof(int))

struct wgtun_limiter {
	/* lock: everything below, except the constants set by new (random, ctx, load) */
	pthread_mutex_t lock;
	wg_identity identity; /* public half only: the checker points here */
	cookie_checker cookies;
	ratelimiter *sources;
	int (*random)(void *ctx, void *out, size_t n);
	void *ctx;
	uint32_t load_per_second; /* UINT32_MAX: load only from report_load */

	wg_time_ns now;              /* latest time seen: time never goes backwards in here */
	wg_time_ns window_start;     /* the count's current window */
	uint32_t window_count;       /* handshakes with a valid mac1 in it */
	bool window_started;
	wg_time_ns under_load_until; /* 0 = never under load yet */
	wgtun_limiter_stats stats;
};

static int limiter_rng_fill(void *ctx, void *out, size_t n)
{
	const wgtun_limiter *l = ctx;

	/* A failure fails the step (no reply, no secret), never zeros or stale bytes. */
	if (l->random)
		return l->random(l->ctx, out, n) == 0 ? 0 : -1;
	return crypto_random(out, n) == 0 ? 0 : -1;
}

/* The rate limiter's creation draws its hash key and also fails on no memory: this tells
 * the two apart. */
struct first_draw {
	wgtun_limiter *l;
	bool failed;
};

static int first_rng_fill(void *ctx, void *out, size_t n)
{
	struct first_draw *d = ctx;
	int r = limiter_rng_fill(d->l, out, n);

	if (r != 0)
		d->failed = true;
	return r;
}

void wgtun_limiter_config_init(wgtun_limiter_config *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->struct_size = sizeof(*cfg);
}

/* Copies the caller's struct over our defaults (api_struct.h). */
static int config_copy(wgtun_limiter_config *dst, const wgtun_limiter_config *src)
{
	wgtun_limiter_config_init(dst);
	return api_struct_take(dst, sizeof(*dst), src, src->struct_size, CONFIG_V1_SIZE);
}

int wgtun_limiter_new(const wgtun_limiter_config *user_cfg, uint64_t now_ns, wgtun_limiter **out)
{
	wgtun_limiter_config cfg;
	struct first_draw first;
	wgtun_limiter *l;
	wg_rng rng;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!user_cfg)
		return -EINVAL;
	ret = config_copy(&cfg, user_cfg);
	if (ret != 0)
		return ret;
	if (crypto_is_zero(cfg.public_key, sizeof(cfg.public_key)) ||
	    cfg.max_sources > WGTUN_LIMITER_MAX_SOURCES)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	if (pthread_mutex_init(&l->lock, NULL) != 0) {
		free(l);
		return -ENOMEM;
	}
	l->random = cfg.random;
	l->ctx = cfg.ctx;
	l->load_per_second = cfg.load_per_second ? cfg.load_per_second : WGTUN_LIMITER_DEFAULT_LOAD;
	l->now = now_ns;
	(void)wg_identity_set_public(&l->identity, cfg.public_key); /* non-zero: cannot fail */
	cookie_checker_init(&l->cookies, &l->identity);
	first.l = l;
	first.failed = false;
	rng = (wg_rng){first_rng_fill, &first};
	l->sources = ratelimiter_new(&rng, cfg.max_sources ? cfg.max_sources
							   : WGTUN_LIMITER_MAX_SOURCES);
	if (!l->sources) {
		ret = first.failed ? -EIO : -ENOMEM;
		wgtun_limiter_free(l);
		return ret;
	}
	*out = l;
	return 0;
}

void wgtun_limiter_free(wgtun_limiter *l)
{
	if (!l)
		return;
	cookie_checker_wipe(&l->cookies);
	ratelimiter_free(l->sources);
	wg_identity_clear(&l->identity);
	pthread_mutex_destroy(&l->lock);
	crypto_wipe(l, sizeof(*l));
	free(l);
}

/* lock held. The caller's time, never earlier than what was seen (threads race). */
static wg_time_ns limiter_time(wgtun_limiter *l, uint64_t now_ns)
{
	if (now_ns > l->now)
		l->now = now_ns;
	return l->now;
}

/* lock held. One more handshake with a valid mac1: the count of its window decides load. */
static void count_handshake(wgtun_limiter *l, wg_time_ns now)
{
	if (!l->window_started || now - l->window_start >= LIMITER_WINDOW) {
		l->window_start = now;
		l->window_count = 0;
		l->window_started = true;
	}
	if (l->window_count < UINT32_MAX)
		l->window_count++;
	if (l->load_per_second != UINT32_MAX && l->window_count > l->load_per_second)
		l->under_load_until = now + LIMITER_UNDER_LOAD_TIME;
}

/* lock held. The device's handshake_admit, past its own load test: mac1 (checked by the
 * caller), mac2 or a cookie reply, then the per-source rate limiter. */
static int admit_handshake(wgtun_limiter *l, wg_time_ns now, const uint8_t *dgram, size_t len,
			   const uint8_t *addr, size_t addr_len, uint16_t port, uint8_t *out,
			   size_t *out_len)
{
	const wg_rng rng = {limiter_rng_fill, l};
	wg_msg_cookie_reply reply; /* local: out may be dgram, which the reply is made from */
	bool made = false;
	cookie_result r;

	count_handshake(l, now);
	if (now >= l->under_load_until) {
		l->stats.passed++;
		return WGTUN_LIMITER_PASS; /* mac2 is ignored when not under load */
	}
	r = cookie_checker_mac2_or_reply(&l->cookies, dgram, len, addr, addr_len, port, now, &rng,
					 &reply, &made);
	if (r != COOKIE_OK) {
		/* the message and the key were checked: only the random source can fail */
		if (r == COOKIE_ERR_RNG)
			l->stats.random_errors++;
		return (int)r;
	}
	if (made) {
		memcpy(out, &reply, sizeof(reply));
		*out_len = sizeof(reply);
		l->stats.cookie_replies++;
		return WGTUN_TUNNEL_WRITE_NETWORK;
	}
	/* Only a proven source (valid mac2) spends tokens, so spoofed cookie-less messages
	 * cannot drain a real peer's bucket. */
	if (!ratelimiter_allow(l->sources, now, addr_len == 4 ? AF_INET : AF_INET6, addr)) {
		l->stats.ratelimited++;
		return WGTUN_TUNNEL_ERR_RATELIMITED;
	}
	l->stats.passed++;
	return WGTUN_LIMITER_PASS;
}

int wgtun_limiter_check(wgtun_limiter *l, uint64_t now_ns, const uint8_t *dgram, size_t len,
			const uint8_t *addr, size_t addr_len, uint16_t port, uint8_t *out,
			size_t cap, size_t *out_len)
{
	wg_time_ns now;
	int type, r;

	if (out_len)
		*out_len = 0;
	/* Caller bugs: refused before the limiter is touched. */
	if (!l || !dgram || !out || !out_len || !addr || (addr_len != 4 && addr_len != 16))
		return WGTUN_TUNNEL_ERR_MALFORMED;
	if (cap < WGTUN_LIMITER_REPLY_LEN)
		return WGTUN_TUNNEL_ERR_BUFFER;
	type = wg_msg_classify(dgram, len);
	if (type == WG_MSG_COOKIE_REPLY || type == WG_MSG_DATA)
		return WGTUN_LIMITER_PASS; /* the tunnel authenticates these; no lock taken */

	pthread_mutex_lock(&l->lock);
	now = limiter_time(l, now_ns);
	if (type != WG_MSG_INITIATION && type != WG_MSG_RESPONSE) {
		l->stats.malformed++;
		r = WGTUN_TUNNEL_ERR_MALFORMED;
	} else if (!cookie_checker_mac1_valid(&l->cookies, dgram, len)) {
		l->stats.bad_mac++;
		r = WGTUN_TUNNEL_ERR_MAC; /* not meant for this key: costs nothing more */
	} else {
		l->stats.handshakes++;
		r = admit_handshake(l, now, dgram, len, addr, addr_len, port, out, out_len);
	}
	pthread_mutex_unlock(&l->lock);
	return r;
}

void wgtun_limiter_report_load(wgtun_limiter *l, uint64_t now_ns)
{
	wg_time_ns now;

	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	now = limiter_time(l, now_ns);
	if (now + LIMITER_UNDER_LOAD_TIME > l->under_load_until)
		l->under_load_until = now + LIMITER_UNDER_LOAD_TIME;
	pthread_mutex_unlock(&l->lock);
}

int wgtun_limiter_under_load(wgtun_limiter *l, uint64_t now_ns)
{
	int on;

	if (!l)
		return 0;
	pthread_mutex_lock(&l->lock);
	on = limiter_time(l, now_ns) < l->under_load_until;
	pthread_mutex_unlock(&l->lock);
	return on;
}

int wgtun_limiter_get_stats(wgtun_limiter *l, wgtun_limiter_stats *st)
{
	wgtun_limiter_stats full;
	size_t n;

	if (!l || !st || st->struct_size < STATS_V1_SIZE)
		return -EINVAL;
	n = st->struct_size < sizeof(full) ? st->struct_size : sizeof(full);
	pthread_mutex_lock(&l->lock);
	full = l->stats;
	full.sources = ratelimiter_count(l->sources);
	full.under_load = l->now < l->under_load_until;
	pthread_mutex_unlock(&l->lock);
	full.struct_size = n;
	/* A newer app's larger struct keeps its unknown tail as it was. */
	memcpy(st, &full, n);
	return 0;
}
