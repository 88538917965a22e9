/* battery_failalloc: allocation-failure sweep over device setup (tests/battery/t_failalloc.sh).
 *
 *   battery_failalloc DIR
 *
 * Runs the setup an embedder does (UAPI socket in DIR, wgtun_device_new on a socketpair TUN,
 * wgtun_device_set with a key and three peers, wgtun_device_start, wgtun_device_get, a `get`
 * over the UAPI socket, wgtun_device_free) again and again, failing the Nth allocation in
 * run N (N = 1, 2, ...) until a run no longer reaches N allocations. Every allocation of the
 * library (malloc/calloc/realloc/strdup, wrapped at link time with --wrap) and of OpenSSL
 * (CRYPTO_set_mem_functions) counts. Checks per run: the failing call returns -errno (never
 * crashes), a failed set changes nothing (no key, no peer afterwards), fds are back to the
 * start value after the free. Leaks are LeakSanitizer's job (ASan build).
 *
 * Then the same sweep over runtime reconfiguration: a running device configured as above
 * (no injection) takes one `set` (the UAPI text `wg set` / `wg syncconf` sends: a new private
 * key, a peer's allowed IPs replaced with a new PSK and endpoint, a peer removed, four peers
 * added with PSKs, endpoints, keepalives and allowed IPs) with its Nth allocation failed.
 * Checks per run: a failed set returns -errno and `get` is byte-identical to the one taken just
 * before it (nothing half-applied, nothing sent); a set that succeeds despite the failure (the
 * allocation was optional) gives the state of an uninjected reference run (apart from the
 * random port and the traffic counters). */
#define _GNU_SOURCE
#include "failalloc_wrap.h"
#include "wgtun.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static long alloc_count, fail_at = -1, injected;

bool failalloc_should_fail(void)
{
	/* atomic: the device's loop and UAPI threads allocate too */
	if (__atomic_add_fetch(&alloc_count, 1, __ATOMIC_RELAXED) == __atomic_load_n(&fail_at, __ATOMIC_RELAXED)) {
		__atomic_add_fetch(&injected, 1, __ATOMIC_RELAXED);
		return true;
	}
	return false;
}

/* strdup/strndup only here: the battery wraps them too (tests/support/failalloc_wrap.c has
 * the rest). */
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

char *__wrap_strdup(const char *s) { return failalloc_should_fail() ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return failalloc_should_fail() ? NULL : __real_strndup(s, n); }

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

static int uapi_get(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[8192];
	size_t len = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (strlen(path) >= sizeof(sa.sun_path)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, "get=1\n\n", 7) != 7) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* The server keeps the connection for more requests: the reply ends with "errno=N\n\n"
	 * (or the server drops the connection). Silence for 10 s is a hang: an error. */
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;
		if (poll(&p, 1, 10000) <= 0) {
			close(fd);
			return -2;
		}
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = 0;
		if (len >= sizeof(buf) - 1 || (strstr(buf, "errno=") && len >= 2 && !strcmp(buf + len - 2, "\n\n")))
			break;
	}
	buf[len] = 0;
	close(fd);
	/* A failed allocation in the server may end the reply early or give an errno: fine,
	 * as long as it answers or closes (no hang, no crash). */
	return strstr(buf, "errno=0") ? 0 : 1;
}

static const char *config =
	"private_key=e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a\n"
	"listen_port=0\n"
	"public_key=b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33\n"
	"preshared_key=188515093e952f5f22e865cef3012e72f8b5f0b598ac0309d5dacce3b70fcf52\n"
	"endpoint=127.0.0.1:9\npersistent_keepalive_interval=25\n"
	"allowed_ip=192.168.4.4/32\nallowed_ip=fd00::4/128\n"
	"public_key=58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376\n"
	"allowed_ip=10.0.0.0/8\nallowed_ip=0.0.0.0/0\n"
	"public_key=662e14fd594556f522604703340351258903b64f35553763f19426ab2a515c58\n"
	"endpoint=[::1]:51820\nallowed_ip=::/0\n";

typedef struct {
	int failed_step; /* 0 = all steps succeeded */
	int error;
} run_result;

static int run_once(const char *dir, run_result *res, char *why, size_t whycap)
{
	wgtun_device_config cfg;
	wgtun_device *dev = NULL;
	char path[128], *out = NULL;
	int sp[2], uapi, r;

	memset(res, 0, sizeof(*res));
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return -1;
	close(sp[1]); /* the device must cope with a peerless TUN: it only reads on events */
	uapi = wgtun_uapi_listen(dir, "wgffail", path, sizeof(path));
	if (uapi < 0) {
		close(sp[0]);
		res->failed_step = 1, res->error = uapi;
		return 0;
	}
	wgtun_device_config_init(&cfg);
	cfg.tun_fd = sp[0];
	cfg.ifname = "wgffail";
	cfg.mtu = 1420;
	cfg.uapi_fd = uapi;
	cfg.uapi_path = path;
	r = wgtun_device_new(&cfg, &dev);
	if (r < 0) {
		res->failed_step = 2, res->error = r;
		if (dev) {
			snprintf(why, whycap, "device_new failed (%d) but returned a device", r);
			return -1;
		}
		unlink(path);
		return 0;
	}
	r = wgtun_device_set(dev, config);
	if (r < 0) {
		res->failed_step = 3, res->error = r;
		/* all or nothing: still no key and no peer */
		if (wgtun_device_get(dev, &out) == 0 &&
		    (strstr(out, "private_key=") || strstr(out, "public_key="))) {
			snprintf(why, whycap, "failed set (%d) left a change behind:\n%s", r, out);
			wgtun_string_free(out);
			wgtun_device_free(dev);
			return -1;
		}
		wgtun_string_free(out);
		wgtun_device_free(dev);
		return 0;
	}
	r = wgtun_device_start(dev);
	if (r < 0) {
		res->failed_step = 4, res->error = r;
		wgtun_device_free(dev);
		return 0;
	}
	r = wgtun_device_get(dev, &out);
	if (r < 0) {
		res->failed_step = 5, res->error = r;
	} else if (!strstr(out, "public_key=662e14fd")) {
		snprintf(why, whycap, "get after a successful set lacks a peer:\n%s", out);
		wgtun_string_free(out);
		wgtun_device_free(dev);
		return -1;
	}
	wgtun_string_free(out);
	if (!res->failed_step) {
		r = uapi_get(path);
		if (r == -2) {
			snprintf(why, whycap, "UAPI get on %s: no answer and no close within 10 s", path);
			wgtun_device_free(dev);
			return -1;
		}
		if (r != 0)
			res->failed_step = 6;
	}
	wgtun_device_free(dev);
	if (access(path, F_OK) == 0) {
		snprintf(why, whycap, "UAPI socket file %s left behind", path);
		return -1;
	}
	return 0;
}

/* ---- runtime reconfiguration ---- */

static char reconfig[4096];

static void build_reconfig(void)
{
	size_t o = 0;

	o += (size_t)snprintf(reconfig + o, sizeof(reconfig) - o,
		"private_key=a84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba520277\n"
		"public_key=b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33\n"
		"preshared_key=288515093e952f5f22e865cef3012e72f8b5f0b598ac0309d5dacce3b70fcf52\n"
		"endpoint=127.0.0.2:19\nreplace_allowed_ips=true\n"
		"allowed_ip=192.168.5.0/24\nallowed_ip=fd00:5::/64\n"
		"public_key=58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376\n"
		"remove=true\n");
	for (int i = 0; i < 4; i++)
		o += (size_t)snprintf(reconfig + o, sizeof(reconfig) - o,
			"public_key=%02x2e14fd594556f522604703340351258903b64f35553763f19426ab2a515c%02x\n"
			"preshared_key=%02x8515093e952f5f22e865cef3012e72f8b5f0b598ac0309d5dacce3b70fcf%02x\n"
			"endpoint=[fd00::%d]:%d\npersistent_keepalive_interval=%d\n"
			"allowed_ip=10.%d.0.0/16\nallowed_ip=10.%d.1.0/24\nallowed_ip=fd00:%d::/48\n",
			0x10 + i, i, 0x20 + i, i, i + 1, 51000 + i, 10 + i, 100 + i, 100 + i, 100 + i);
}

/* The running device's base: the setup config without its keepalive, so that nothing is
 * sent (and no counter moves) before the set under test. */
static const char *base_config =
	"private_key=e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a\n"
	"listen_port=0\n"
	"public_key=b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33\n"
	"preshared_key=188515093e952f5f22e865cef3012e72f8b5f0b598ac0309d5dacce3b70fcf52\n"
	"endpoint=127.0.0.1:9\n"
	"allowed_ip=192.168.4.4/32\nallowed_ip=fd00::4/128\n"
	"public_key=58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376\n"
	"allowed_ip=10.0.0.0/8\nallowed_ip=0.0.0.0/0\n"
	"public_key=662e14fd594556f522604703340351258903b64f35553763f19426ab2a515c58\n"
	"endpoint=[::1]:51820\nallowed_ip=::/0\n";

static void drop_lines(char *s, const char *prefix)
{
	size_t pl = strlen(prefix);
	char *l = s;

	while (*l) {
		char *e = strchr(l, '\n');
		e = e ? e + 1 : l + strlen(l);
		if (!strncmp(l, prefix, pl))
			memmove(l, e, strlen(e) + 1);
		else
			l = e;
	}
}

/* get; for a successful set without what differs between two devices by design: the
 * random port (listen_port=0) and the traffic counters (a keepalive the set turns on sends
 * at once, as in wireguard-go, so an initiation may or may not have left yet). */
static char *get_state(wgtun_device *dev, bool volatile_out)
{
	char *out = NULL;

	if (wgtun_device_get(dev, &out) < 0)
		return NULL;
	if (volatile_out) {
		drop_lines(out, "listen_port=");
		drop_lines(out, "tx_bytes=");
		drop_lines(out, "rx_bytes=");
		drop_lines(out, "last_handshake_time_");
	}
	return out;
}

/* A running device with the setup config; NULL on failure (no injection is armed). */
static wgtun_device *running_device(void)
{
	wgtun_device_config cfg;
	wgtun_device *dev = NULL;
	int sp[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return NULL;
	close(sp[1]);
	wgtun_device_config_init(&cfg);
	cfg.tun_fd = sp[0];
	cfg.ifname = "wgffail";
	cfg.mtu = 1420;
	if (wgtun_device_new(&cfg, &dev) < 0)
		return NULL;
	if (wgtun_device_set(dev, base_config) < 0 || wgtun_device_start(dev) < 0) {
		wgtun_device_free(dev);
		return NULL;
	}
	return dev;
}

/* 0 = fine (*failed says whether the set failed), -1 = broken invariant (why). */
static int runtime_once(const char *want_after, long n, bool *failed, int *err, char *why,
			size_t whycap)
{
	wgtun_device *dev = running_device();
	char *before, *after;
	int r;

	if (!dev) {
		snprintf(why, whycap, "could not set up the running device");
		return -1;
	}
	before = get_state(dev, false);
	if (!before) {
		wgtun_device_free(dev);
		snprintf(why, whycap, "get before the set failed");
		return -1;
	}
	__atomic_store_n(&alloc_count, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&injected, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fail_at, n, __ATOMIC_RELAXED);
	r = wgtun_device_set(dev, reconfig);
	__atomic_store_n(&fail_at, -1, __ATOMIC_RELAXED);
	*failed = r < 0;
	*err = r;
	after = get_state(dev, r == 0);
	r = 0;
	if (!after) {
		snprintf(why, whycap, "get after the set failed");
		r = -1;
	} else if (*failed && strcmp(before, after) != 0) {
		snprintf(why, whycap, "failed set (%d) changed the state:\n--- before\n%s--- after\n%s",
			 *err, before, after);
		r = -1;
	} else if (!*failed && strcmp(after, want_after) != 0) {
		snprintf(why, whycap, "set succeeded but the state differs:\n--- want\n%s--- got\n%s",
			 want_after, after);
		r = -1;
	}
	wgtun_string_free(before);
	wgtun_string_free(after);
	wgtun_device_free(dev);
	return r;
}

/* The sweep; prints its figures. 0 / 1. */
static int runtime_sweep(int fds0)
{
	wgtun_device *dev;
	char why[8192] = "", *want;
	long n, nfailed = 0, tolerated = 0;
	bool failed;
	int err;

	build_reconfig();
	dev = running_device();
	if (!dev || wgtun_device_set(dev, reconfig) < 0 || !(want = get_state(dev, true))) {
		fprintf(stderr, "battery_failalloc: runtime set fails without injection\n");
		wgtun_device_free(dev);
		return 1;
	}
	wgtun_device_free(dev);
	for (n = 1;; n++) {
		if (runtime_once(want, n, &failed, &err, why, sizeof(why)) < 0) {
			fprintf(stderr, "battery_failalloc: runtime allocation %ld: %s\n", n, why);
			wgtun_string_free(want);
			return 1;
		}
		if (failed && err > -1) {
			fprintf(stderr, "battery_failalloc: runtime allocation %ld: error %d\n", n, err);
			wgtun_string_free(want);
			return 1;
		}
		if (count_fds() != fds0) {
			fprintf(stderr, "battery_failalloc: runtime allocation %ld: fds %d -> %d\n", n,
				fds0, count_fds());
			wgtun_string_free(want);
			return 1;
		}
		if (!__atomic_load_n(&injected, __ATOMIC_RELAXED))
			break; /* the set made fewer than n allocations */
		nfailed += failed;
		tolerated += !failed;
	}
	wgtun_string_free(want);
	printf(" runtime_allocations_failed=%ld runtime_set_allocations=%ld runtime_set_failed=%ld "
	       "runtime_tolerated=%ld\n",
	       n - 1, alloc_count, nfailed, tolerated);
	return 0;
}

int main(int argc, char **argv)
{
	long n, by_step[7] = {0}, sites;
	int fds0;
	char why[4096] = "";
	run_result res;

	if (argc != 2) {
		fprintf(stderr, "usage: battery_failalloc DIR\n");
		return 2;
	}
	if (!failalloc_hook_openssl()) {
		fprintf(stderr, "battery_failalloc: OpenSSL allocated before main\n");
		return 1;
	}
	/* a warm-up run without failure: lazy one-time allocations (OpenSSL's provider tables,
	 * libc buffers) happen here instead of in a measured run */
	if (run_once(argv[1], &res, why, sizeof(why)) < 0 || res.failed_step) {
		fprintf(stderr, "battery_failalloc: setup fails without injection (step %d, %d) %s\n",
			res.failed_step, res.error, why);
		return 1;
	}
	fds0 = count_fds();
	for (n = 1;; n++) {
		alloc_count = 0;
		injected = 0;
		fail_at = n;
		if (run_once(argv[1], &res, why, sizeof(why)) < 0) {
			fprintf(stderr, "battery_failalloc: allocation %ld: %s\n", n, why);
			return 1;
		}
		fail_at = -1;
		if (res.failed_step && res.error != 0 && res.error > -1) {
			fprintf(stderr, "battery_failalloc: allocation %ld: step %d error %d\n", n,
				res.failed_step, res.error);
			return 1;
		}
		by_step[res.failed_step]++;
		if (count_fds() != fds0) {
			fprintf(stderr, "battery_failalloc: allocation %ld (step %d): fds %d -> %d\n", n,
				res.failed_step, fds0, count_fds());
			return 1;
		}
		if (!injected)
			break; /* run n made fewer than n allocations: every one has been failed */
	}
	sites = n - 1;
	printf("allocations_failed=%ld setup_allocations=%ld failed_at uapi_listen=%ld device_new=%ld "
	       "set=%ld start=%ld get=%ld uapi_get=%ld tolerated=%ld fds=%d",
	       sites, alloc_count, by_step[1], by_step[2], by_step[3], by_step[4], by_step[5],
	       by_step[6], by_step[0] - 1, fds0);
	fflush(stdout);
	return runtime_sweep(fds0);
}
