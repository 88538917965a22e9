/* Allocation failure on the receive path (reliability.md B2; the AmneziaWG kernel fork's
 * #188: an unchecked allocation on every received initiation, a remote NULL dereference under
 * memory pressure). Two public-API tunnels in memory with a virtual clock; for each step of a
 * session (B consumes A's initiation, A consumes B's response, B opens A's first data, B seals,
 * A opens) the Nth allocation made during that one call fails, for N = 1, 2, ... until the
 * call no longer reaches N allocations. Every allocation counts: the library's own (--wrap at
 * link time) and OpenSSL's (CRYPTO_set_mem_functions; its X25519 allocates per DH).
 *
 * Per run: the call returns a result the API documents (the step's normal result, or a
 * negative WGTUN_TUNNEL_ERR_*), a data packet that comes out is intact, and afterwards (no
 * injection) the pair recovers by itself: after the retransmission timeout the handshake
 * completes and packets go both ways. The data steps must not allocate at all (the header's
 * "no allocation per packet"). Crashes and leaks are for ASan/valgrind to see. */
#include "failalloc_wrap.h"
#include "test.h"
#include "wgtun.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <valgrind/valgrind.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

#define CAP 2048
#define SEC 1000000000ULL

/* ---- allocation counting and injection ---- */

static long alloc_count, fail_at, injected;
static bool armed;

bool failalloc_should_fail(void)
{
	if (!armed)
		return false;
	if (++alloc_count == fail_at) {
		injected++;
		return true;
	}
	return false;
}

static void arm(long n)
{
	alloc_count = 0;
	injected = 0;
	fail_at = n;
	armed = true;
}

static void disarm(void) { armed = false; }

/* ---- two tunnels, a virtual clock ---- */

static uint64_t g_now;
static const uint64_t g_wall0 = 1750000000ULL * SEC;

typedef struct {
	wgtun_tunnel *t;
	test_rng rng;
	uint8_t priv[WGTUN_KEY_LEN], pub[WGTUN_KEY_LEN];
	uint8_t tun[CAP]; /* the last packet it handed to its TUN */
	size_t tun_len;
	int tun_count;
} side;

static int side_random(void *ctx, void *out, size_t n)
{
	test_rng_bytes(&((side *)ctx)->rng, out, n);
	return 0;
}

static uint64_t side_wall(void *ctx)
{
	(void)ctx;
	return g_wall0 + g_now;
}

static void make_key(side *s, uint64_t seed)
{
	test_rng_seed(&s->rng, seed);
	test_rng_bytes(&s->rng, s->priv, sizeof(s->priv));
	CHECK_EQ_INT(wgtun_key_public(s->pub, s->priv), 0);
}

/* Same seeds every run: each run makes the same allocations in the same order. */
static void pair_new(side *a, side *b)
{
	side *s[2] = {a, b};

	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	g_now = 10 * SEC;
	make_key(a, 1);
	make_key(b, 2);
	for (int i = 0; i < 2; i++) {
		wgtun_tunnel_config cfg;

		wgtun_tunnel_config_init(&cfg);
		memcpy(cfg.private_key, s[i]->priv, WGTUN_KEY_LEN);
		memcpy(cfg.peer_public_key, s[1 - i]->pub, WGTUN_KEY_LEN);
		cfg.random = side_random;
		cfg.wall_clock_ns = side_wall;
		cfg.ctx = s[i];
		CHECK_EQ_INT(wgtun_tunnel_new(&cfg, g_now, &s[i]->t), 0);
	}
}

static void pair_free(side *a, side *b)
{
	wgtun_tunnel_free(a->t);
	wgtun_tunnel_free(b->t);
}

static void make_ipv4(uint8_t *p, size_t len, uint32_t id)
{
	memset(p, 0, len);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[8] = 64;
	p[9] = 17;
	memcpy(p + 20, &id, 4);
	for (size_t i = 24; i < len; i++)
		p[i] = (uint8_t)(i * 7 + id);
}

static bool documented(int r)
{
	return r == WGTUN_TUNNEL_DONE || r == WGTUN_TUNNEL_WRITE_NETWORK ||
	       r == WGTUN_TUNNEL_WRITE_TUN_V4 || r == WGTUN_TUNNEL_WRITE_TUN_V6 ||
	       (r <= WGTUN_TUNNEL_ERR_MALFORMED && r >= WGTUN_TUNNEL_ERR_NO_KEY);
}

static void deliver(side *from, side *to, const uint8_t *dgram, size_t len, int depth);

/* What a call produced: a datagram goes to the other side (answers come back), a packet to
 * this side's TUN; then the side's flush queue is drained the same way. */
static void handle(side *self, side *peer, int r, const uint8_t *out, size_t n, int depth)
{
	CHECK_MSG(documented(r), "undocumented result %d", r);
	if (r == WGTUN_TUNNEL_WRITE_NETWORK) {
		deliver(self, peer, out, n, depth + 1);
	} else if (r == WGTUN_TUNNEL_WRITE_TUN_V4 || r == WGTUN_TUNNEL_WRITE_TUN_V6) {
		CHECK(n <= sizeof(self->tun));
		memcpy(self->tun, out, n);
		self->tun_len = n;
		self->tun_count++;
	}
	if (r == WGTUN_TUNNEL_WRITE_NETWORK || r == WGTUN_TUNNEL_WRITE_TUN_V4 ||
	    r == WGTUN_TUNNEL_WRITE_TUN_V6) {
		uint8_t f[CAP];
		size_t fn;
		int fr, guard = 0;

		while ((fr = wgtun_tunnel_flush(self->t, g_now, f, sizeof(f), &fn)) ==
			       WGTUN_TUNNEL_WRITE_NETWORK &&
		       guard++ < 200)
			deliver(self, peer, f, fn, depth + 1);
		CHECK_EQ_INT(fr, WGTUN_TUNNEL_DONE);
	}
}

static void deliver(side *from, side *to, const uint8_t *dgram, size_t len, int depth)
{
	uint8_t out[CAP];
	size_t n = 0;
	int r;

	if (depth > 8) {
		CHECK_MSG(0, "ping-pong between the tunnels");
		return;
	}
	r = wgtun_tunnel_read(to->t, g_now, dgram, len, out, sizeof(out), &n, NULL);
	handle(to, from, r, out, n, depth);
}

static void tick(side *self, side *peer)
{
	uint8_t out[CAP];
	size_t n;
	int r, guard = 0;

	while ((r = wgtun_tunnel_tick(self->t, g_now, out, sizeof(out), &n)) ==
		       WGTUN_TUNNEL_WRITE_NETWORK &&
	       guard++ < 20)
		deliver(self, peer, out, n, 0);
	CHECK_MSG(r == WGTUN_TUNNEL_DONE, "tick: %d", r);
}

/* A packet from->to through the tunnel (a handshake first if needed); true if it arrived
 * intact. */
static bool send_one(side *from, side *to, uint32_t id)
{
	uint8_t pkt[200], out[CAP];
	size_t n = 0;
	int before = to->tun_count, r;

	make_ipv4(pkt, sizeof(pkt), id);
	r = wgtun_tunnel_write(from->t, g_now, pkt, sizeof(pkt), out, sizeof(out), &n);
	handle(from, to, r, out, n, 0);
	return to->tun_count == before + 1 && to->tun_len == sizeof(pkt) &&
	       memcmp(to->tun, pkt, sizeof(pkt)) == 0;
}

/* After an injected failure: the timers alone must bring the session back (retransmitted
 * initiation after REKEY_TIMEOUT), then packets go both ways. */
static bool recovers(side *a, side *b)
{
	for (int round = 0; round < 4; round++) {
		if (send_one(a, b, 7000 + (uint32_t)round) && send_one(b, a, 8000 + (uint32_t)round))
			return true;
		g_now += 6 * SEC;
		tick(a, b);
		tick(b, a);
	}
	return false;
}

enum { ST_STAGE, ST_INIT, ST_RESP, ST_FIRST_DATA, ST_SEAL, ST_OPEN, ST_COUNT };
static const char *const st_name[ST_COUNT] = {"write, no session", "initiation consume",
					      "response consume", "first data open",
					      "data seal", "data open"};

/* One run: sets the pair up to just before step st, fails its Nth allocation, checks. Returns
 * the allocations the step made (so the caller knows when it has seen them all). */
static long run(int st, long nth)
{
	side a, b;
	uint8_t pkt[200], init[CAP], resp[CAP], data[CAP], out[CAP];
	size_t init_len = 0, resp_len = 0, data_len = 0, n = 0;
	long made;
	int r;

	pair_new(&a, &b);
	make_ipv4(pkt, sizeof(pkt), 1);
	/* A's first packet: staged (a copy is allocated), the initiation goes out. */
	if (st == ST_STAGE)
		arm(nth);
	r = wgtun_tunnel_write(a.t, g_now, pkt, sizeof(pkt), init, sizeof(init), &init_len);
	if (st == ST_STAGE) {
		disarm();
		/* DONE: staged, but no initiation could be made (the retransmit timer retries) */
		CHECK_MSG(r == WGTUN_TUNNEL_WRITE_NETWORK || r == WGTUN_TUNNEL_DONE || r < 0,
			  "%s: %d", st_name[st], r);
		if (r == WGTUN_TUNNEL_WRITE_NETWORK)
			CHECK(init_len == 148 && init[0] == 1);
		goto check;
	}
	CHECK_EQ_INT(r, WGTUN_TUNNEL_WRITE_NETWORK);
	if (st > ST_INIT) {
		r = wgtun_tunnel_read(b.t, g_now, init, init_len, resp, sizeof(resp), &resp_len, NULL);
		CHECK_EQ_INT(r, WGTUN_TUNNEL_WRITE_NETWORK);
	}
	if (st > ST_RESP) {
		/* A's answer to the response: the staged packet (first data, confirms the key). */
		r = wgtun_tunnel_read(a.t, g_now, resp, resp_len, data, sizeof(data), &data_len, NULL);
		CHECK_EQ_INT(r, WGTUN_TUNNEL_WRITE_NETWORK);
	}
	if (st > ST_FIRST_DATA) {
		r = wgtun_tunnel_read(b.t, g_now, data, data_len, out, sizeof(out), &n, NULL);
		CHECK_EQ_INT(r, WGTUN_TUNNEL_WRITE_TUN_V4);
		while (wgtun_tunnel_flush(a.t, g_now, out, sizeof(out), &n) == WGTUN_TUNNEL_WRITE_NETWORK)
			;
	}
	if (st > ST_SEAL) {
		make_ipv4(pkt, sizeof(pkt), 2);
		r = wgtun_tunnel_write(b.t, g_now, pkt, sizeof(pkt), data, sizeof(data), &data_len);
		CHECK_EQ_INT(r, WGTUN_TUNNEL_WRITE_NETWORK);
	}

	arm(nth);
	switch (st) {
	case ST_INIT:
		r = wgtun_tunnel_read(b.t, g_now, init, init_len, out, sizeof(out), &n, NULL);
		disarm();
		CHECK_MSG(r == WGTUN_TUNNEL_WRITE_NETWORK || r < 0, "%s: %d", st_name[st], r);
		if (r == WGTUN_TUNNEL_WRITE_NETWORK)
			CHECK(n == 92 && out[0] == 2);
		break;
	case ST_RESP:
		r = wgtun_tunnel_read(a.t, g_now, resp, resp_len, out, sizeof(out), &n, NULL);
		disarm();
		CHECK_MSG(r == WGTUN_TUNNEL_WRITE_NETWORK || r < 0, "%s: %d", st_name[st], r);
		if (r == WGTUN_TUNNEL_WRITE_NETWORK)
			CHECK(out[0] == 4);
		break;
	case ST_FIRST_DATA:
	case ST_OPEN: {
		side *rx = st == ST_OPEN ? &a : &b;

		make_ipv4(pkt, sizeof(pkt), st == ST_OPEN ? 2 : 1);
		r = wgtun_tunnel_read(rx->t, g_now, data, data_len, out, sizeof(out), &n, NULL);
		disarm();
		CHECK_MSG(r == WGTUN_TUNNEL_WRITE_TUN_V4 || r < 0, "%s: %d", st_name[st], r);
		if (r == WGTUN_TUNNEL_WRITE_TUN_V4)
			CHECK(n == sizeof(pkt) && memcmp(out, pkt, n) == 0);
		break;
	}
	case ST_SEAL:
		make_ipv4(pkt, sizeof(pkt), 3);
		r = wgtun_tunnel_write(b.t, g_now, pkt, sizeof(pkt), out, sizeof(out), &n);
		disarm();
		CHECK_MSG(r == WGTUN_TUNNEL_WRITE_NETWORK || r < 0, "%s: %d", st_name[st], r);
		if (r == WGTUN_TUNNEL_WRITE_NETWORK)
			CHECK(out[0] == 4);
		break;
	default:
		disarm();
		break;
	}
check:
	made = alloc_count;
	if (injected)
		CHECK_MSG(recovers(&a, &b), "%s, allocation %ld failed: no recovery", st_name[st], nth);
	pair_free(&a, &b);
	return made;
}

static void sweep(int st, long min_allocs, long max_allocs)
{
	long nth = 1, made;

	/* made < nth: this run's step made fewer than nth allocations, so none failed. */
	while ((made = run(st, nth)) >= nth && nth < 1000)
		nth++;
	printf("  %-18s: %ld allocations, each failed once\n", st_name[st], made);
	CHECK_MSG(made >= min_allocs && made <= max_allocs, "%s: %ld allocations, expected %ld..%ld",
		  st_name[st], made, min_allocs, max_allocs);
}

/* Without wgtun: can this process still make an X25519 key in a brand-new OpenSSL context?
 * If not, an earlier failed allocation damaged OpenSSL's own process-wide state (seen with
 * OpenSSL 3.0 while a provider loads), which no caller can repair. */
static bool openssl_usable(void)
{
	static const uint8_t k[32] = {1};
	OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
	OSSL_PROVIDER *prov = ctx ? OSSL_PROVIDER_load(ctx, "default") : NULL;
	EVP_PKEY *p = prov ? EVP_PKEY_new_raw_private_key_ex(ctx, "X25519", NULL, k, sizeof(k)) : NULL;
	bool ok = p != NULL;

	EVP_PKEY_free(p);
	return ok; /* the context is left behind: the process exits right after */
}

/* The first crypto call of the process sets OpenSSL up (library contexts, providers, the
 * cipher fetch) once for the process. Its Nth allocation fails, in a fresh child process per
 * N; then (no injection) a session must work: a failed setup must not stay cached. */
static void sweep_first_use(void)
{
	long nth, runs, ossl_broken = 0;
	int reached_end = 0;

	/* One process per N: every 3rd N (each window of allocation sites that broke crypto for
	 * good before the fix was >= 4 wide); WGTUN_FAILALLOC_ALL=1: every N. */
	long step = getenv("WGTUN_FAILALLOC_ALL") ? 1 : 3;

	/* Not under valgrind: its leak check would run in every child, which ends with what
	 * OpenSSL itself leaks on its failure paths (e.g. inside OSSL_LIB_CTX_new), and it would
	 * take ~50x longer. The ASan build runs the sweep. */
	if (RUNNING_ON_VALGRIND) {
		printf("  first crypto use  : not under valgrind (see the ASan run)\n");
		return;
	}
	/* Nor under TSan: one thread, nothing for it to see, and each child costs it ~0.1 s. */
	if (UNDER_TSAN) {
		printf("  first crypto use  : not under TSan (single-threaded; see the ASan run)\n");
		return;
	}

	for (nth = 1; nth < 20000; nth += step) {
		unsigned long failures0 = test_failures; /* the child inherits the count */
		pid_t pid = fork();
		int status;

		if (pid == 0) {
			side a, b;
			uint8_t priv[WGTUN_KEY_LEN] = {1}, pub[WGTUN_KEY_LEN];
			bool ok;
			int devnull = open("/dev/null", O_WRONLY);

			/* The parent reports this N; the child's own CHECK lines would only repeat it. */
			if (devnull >= 0)
				dup2(devnull, 2);
			arm(nth);
			(void)wgtun_key_public(pub, priv);
			disarm();
			if (alloc_count < nth)
				_exit(3);
			pair_new(&a, &b);
			ok = send_one(&a, &b, 1) && send_one(&b, &a, 2);
			if (!ok) /* the timers may need a round after a failure */
				ok = recovers(&a, &b);
			pair_free(&a, &b);
			if (!ok && !openssl_usable())
				_exit(4);
			_exit(ok && test_failures == failures0 ? 0 : 1);
		}
		CHECK(pid > 0);
		if (pid <= 0)
			return;
		CHECK(waitpid(pid, &status, 0) == pid);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
			reached_end = 1;
			break;
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == 4) {
			ossl_broken++;
			continue;
		}
		CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "first crypto use, allocation %ld failed: no session afterwards (status 0x%x)",
			  nth, status);
	}
	CHECK(reached_end);
	runs = (nth - 1) / step;
	printf("  %-18s: ~%ld allocations, %ld of them failed (one process each); after %ld OpenSSL "
	       "itself stayed broken (no fresh context works), wgtun failed cleanly\n",
	       "first crypto use", nth - 1, runs, ossl_broken);
	/* Most failures must be survivable, or the oracle above is hiding a wgtun bug. */
	CHECK_MSG(ossl_broken * 20 < runs, "%ld of %ld", ossl_broken, runs);
}

int main(void)
{
	/* Before OpenSSL allocates anything. */
	if (!failalloc_hook_openssl()) {
		fprintf(stderr, "CRYPTO_set_mem_functions refused\n");
		return 1;
	}
	sweep_first_use(); /* before this process makes its own first crypto call */
	/* The handshake steps allocate inside OpenSSL (an EVP_PKEY per X25519): the sweep must
	 * reach some, or it tests nothing. The data steps must not allocate. */
	sweep(ST_STAGE, 1, 999);
	sweep(ST_INIT, 1, 999);
	sweep(ST_RESP, 1, 999);
	sweep(ST_FIRST_DATA, 0, 0);
	sweep(ST_SEAL, 0, 0);
	sweep(ST_OPEN, 0, 0);
	return test_finish("failalloc_rx");
}
