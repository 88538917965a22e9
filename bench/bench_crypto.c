/* Crypto micro-benchmarks, single thread: data-path AEAD (keyed context vs one-shot),
 * X25519, BLAKE2s/MAC/HMAC/KDF. Each figure is the median of RUNS timed runs, timed in
 * thread CPU time so that other processes on a shared machine do not count against us
 * (cache and frequency effects still do: compare figures from the same run).
 * Usage: bench_crypto [seconds per run, default 0.3] */
#include "crypto/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS 5
#define PKT 1420 /* a full-MTU inner packet */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef int (*bench_fn)(void *arg, uint64_t i);

/* Calls fn in batches until `secs` pass; returns calls per second. Exits on an op failure,
 * so a broken primitive cannot produce a fast-looking figure. */
static double run_once(bench_fn fn, void *arg, double secs)
{
	uint64_t n = 0;
	double t0 = now_s(), t;

	do {
		for (int k = 0; k < 64; k++, n++) {
			if (fn(arg, n) != 0) {
				fprintf(stderr, "bench: operation failed\n");
				exit(1);
			}
		}
		t = now_s();
	} while (t - t0 < secs);
	return (double)n / (t - t0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median_rate(bench_fn fn, void *arg, double secs)
{
	double r[RUNS];

	for (int i = 0; i < RUNS; i++)
		r[i] = run_once(fn, arg, secs);
	qsort(r, RUNS, sizeof(r[0]), cmp_double);
	return r[RUNS / 2];
}

/* ---- operations ---- */

struct aead_arg {
	crypto_aead_ctx *ctx;
	uint8_t key[32];
	uint8_t buf[PKT + 16];
	uint8_t sealed[PKT + 16];
	size_t len;
};

static int op_ctx_seal(void *p, uint64_t i)
{
	struct aead_arg *a = p;

	return crypto_aead_ctx_seal(a->ctx, a->buf, a->len, i);
}

/* Opens a fresh copy of one sealed packet (the memcpy is ~1% of the op). */
static int op_ctx_open(void *p, uint64_t i)
{
	struct aead_arg *a = p;

	(void)i;
	memcpy(a->buf, a->sealed, a->len + 16);
	return crypto_aead_ctx_open(a->ctx, a->buf, a->len + 16, 1);
}

static int op_oneshot_seal(void *p, uint64_t i)
{
	struct aead_arg *a = p;

	crypto_aead_seal(a->buf, a->buf, a->len, NULL, 0, i, a->key);
	return 0;
}

static int op_oneshot_open(void *p, uint64_t i)
{
	struct aead_arg *a = p;

	(void)i;
	return crypto_aead_open(a->buf, a->sealed, a->len + 16, NULL, 0, 1, a->key);
}

struct dh_arg {
	uint8_t priv[32], pub[32], out[32];
	crypto_x25519_key *key;
};

static int op_x25519_key(void *p, uint64_t i)
{
	struct dh_arg *a = p;

	(void)i;
	return crypto_x25519_key_dh(a->out, a->key, a->pub);
}

static int op_x25519(void *p, uint64_t i)
{
	struct dh_arg *a = p;

	(void)i;
	return crypto_x25519(a->out, a->priv, a->pub);
}

static int op_x25519_public(void *p, uint64_t i)
{
	struct dh_arg *a = p;

	(void)i;
	return crypto_x25519_public(a->out, a->priv);
}

struct hash_arg {
	uint8_t in[256], out[32], key[32];
	size_t len;
};

static int op_hash(void *p, uint64_t i)
{
	struct hash_arg *a = p;

	(void)i;
	crypto_hash(a->out, a->in, a->len);
	return 0;
}

static int op_mac(void *p, uint64_t i)
{
	struct hash_arg *a = p;

	(void)i;
	crypto_mac(a->out, a->key, 32, a->in, a->len);
	return 0;
}

static int op_hmac(void *p, uint64_t i)
{
	struct hash_arg *a = p;

	(void)i;
	crypto_hmac(a->out, a->key, 32, a->in, a->len);
	return 0;
}

static int op_kdf3(void *p, uint64_t i)
{
	struct hash_arg *a = p;
	uint8_t t1[32], t2[32], t3[32];

	(void)i;
	crypto_kdf(t1, t2, t3, a->key, a->in, a->len);
	a->out[0] ^= t3[0];
	return 0;
}

static int op_xaead_cookie(void *p, uint64_t i)
{
	struct hash_arg *a = p;
	uint8_t nonce[24] = {0}, sealed[32];

	memcpy(nonce, &i, sizeof(i));
	crypto_xaead_seal(sealed, a->in, 16, a->out, 16, nonce, a->key);
	return 0;
}

static void print_aead(const char *name, double rate, size_t len)
{
	printf("%-34s %12.0f pkt/s %9.1f MB/s %8.0f ns/op\n", name, rate,
	       rate * (double)len / 1e6, 1e9 / rate);
}

static void print_ops(const char *name, double rate)
{
	printf("%-34s %12.0f op/s  %9s      %8.0f ns/op\n", name, rate, "", 1e9 / rate);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 0.3;
	struct aead_arg *a = calloc(1, sizeof(*a));
	struct dh_arg dh;
	struct hash_arg h;
	uint8_t dummy[32];

	if (a == NULL || secs <= 0 || crypto_random(a->key, 32) != 0)
		return 1;
	a->ctx = crypto_aead_ctx_new(a->key);
	if (a->ctx == NULL)
		return 1;
	printf("single thread, median of %d runs x %.2f s of thread CPU time\n", RUNS, secs);

	for (int e = 0; e < 2; e++) {
		a->len = e ? 0 : PKT;
		memset(a->buf, 0xab, sizeof(a->buf));
		crypto_aead_seal(a->sealed, a->buf, a->len, NULL, 0, 1, a->key);
		if (e == 0) {
			print_aead("aead_ctx seal 1420 B", median_rate(op_ctx_seal, a, secs), a->len);
			print_aead("aead_ctx open 1420 B", median_rate(op_ctx_open, a, secs), a->len);
			print_aead("one-shot seal 1420 B", median_rate(op_oneshot_seal, a, secs),
				   a->len);
			print_aead("one-shot open 1420 B", median_rate(op_oneshot_open, a, secs),
				   a->len);
		} else {
			print_ops("aead_ctx seal 0 B (keepalive)", median_rate(op_ctx_seal, a, secs));
			print_ops("aead_ctx open 0 B (keepalive)", median_rate(op_ctx_open, a, secs));
		}
	}
	crypto_aead_ctx_free(a->ctx);

	if (crypto_x25519_generate(dh.priv, dummy) != 0 ||
	    crypto_x25519_generate(dummy, dh.pub) != 0)
		return 1;
	dh.key = crypto_x25519_key_new(dh.priv);
	if (dh.key == NULL)
		return 1;
	print_ops("x25519 shared secret (raw keys)", median_rate(op_x25519, &dh, secs));
	print_ops("x25519 shared secret (prepared)", median_rate(op_x25519_key, &dh, secs));
	crypto_x25519_key_free(dh.key);
	print_ops("x25519 public key", median_rate(op_x25519_public, &dh, secs));

	memset(&h, 0x5c, sizeof(h));
	h.len = 32;
	print_ops("blake2s-256 hash 32 B", median_rate(op_hash, &h, secs));
	h.len = 116; /* mac1 covers the first 116 bytes of an initiation */
	print_ops("mac (keyed blake2s-128) 116 B", median_rate(op_mac, &h, secs));
	h.len = 32;
	print_ops("hmac-blake2s 32 B", median_rate(op_hmac, &h, secs));
	print_ops("kdf3 (4 hmac) 32 B", median_rate(op_kdf3, &h, secs));
	print_ops("xchacha cookie seal 16 B", median_rate(op_xaead_cookie, &h, secs));
	free(a);
	return 0;
}
