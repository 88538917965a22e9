/* The baselines for bench_crypto: OpenSSL called directly (no wgtun code), single thread,
 * thread CPU time, median of 5 runs. ChaCha20-Poly1305 on 1420-byte packets:
 *   stream only   EVP update on a keyed context, no per-packet nonce or tag: what
 *                 `openssl speed -evp chacha20-poly1305 -bytes 1420` reports; an upper bound
 *                 no per-packet AEAD reaches.
 *   per packet    nonce set, update, final, tag get (seal) / tag set and check (open): the
 *                 least work one WireGuard data packet needs, i.e. what src/crypto/aead.c
 *                 does; compare with bench_crypto's "aead_ctx seal/open 1420 B".
 * BLAKE2s through EVP (digest BLAKE2S-256; MAC BLAKE2SMAC with size 16, one context per
 * MAC), which src/crypto/blake2s.c does not use: compare with bench_crypto's hash and mac.
 * A benchmark, not library code: it may include OpenSSL headers (the library may not outside
 * src/crypto). Usage: bench_openssl [seconds per run, default 0.3] */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS 5
#define PKT 1420

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
	EVP_CIPHER_CTX *enc, *dec;
	EVP_MD *blake2s;
	EVP_MAC *b2smac;
	unsigned char buf[PKT + 16], sealed[PKT + 16], tag[16];
} state;

static void nonce(unsigned char iv[12], uint64_t n)
{
	memset(iv, 0, 4);
	for (int i = 0; i < 8; i++)
		iv[4 + i] = (unsigned char)(n >> (8 * i));
}

/* 0 = stream only, 1 = per-packet seal, 2 = per-packet open, 3 = BLAKE2s-256 of 32 bytes,
 * 4 = keyed BLAKE2s-128 (mac1: 32-byte key, 116 bytes). Exits on any failure so a broken
 * call cannot look fast. */
static void op(state *s, int mode, uint64_t n)
{
	unsigned char iv[12], fin[16];
	int outl, ok = 1;

	switch (mode) {
	case 0:
		ok = EVP_EncryptUpdate(s->enc, s->buf, &outl, s->buf, PKT);
		break;
	case 1:
		nonce(iv, n);
		ok = EVP_EncryptInit_ex2(s->enc, NULL, NULL, iv, NULL) &&
		     EVP_EncryptUpdate(s->enc, s->buf, &outl, s->buf, PKT) &&
		     EVP_EncryptFinal_ex(s->enc, fin, &outl) &&
		     EVP_CIPHER_CTX_ctrl(s->enc, EVP_CTRL_AEAD_GET_TAG, 16, s->buf + PKT);
		break;
	case 3: {
		unsigned int mdlen;
		ok = EVP_Digest(s->buf, 32, fin, &mdlen, s->blake2s, NULL) && mdlen == 32;
		break;
	}
	case 4: {
		size_t size = 16, macl;
		OSSL_PARAM params[2] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
					OSSL_PARAM_construct_end()};
		EVP_MAC_CTX *m = EVP_MAC_CTX_new(s->b2smac);
		ok = m && EVP_MAC_init(m, s->sealed, 32, params) &&
		     EVP_MAC_update(m, s->buf, 116) && EVP_MAC_final(m, fin, &macl, 16) &&
		     macl == 16;
		EVP_MAC_CTX_free(m);
		break;
	}
	default:
		memcpy(s->buf, s->sealed, PKT); /* a fresh copy, as bench_crypto does */
		nonce(iv, 1);
		ok = EVP_DecryptInit_ex2(s->dec, NULL, NULL, iv, NULL) &&
		     EVP_CIPHER_CTX_ctrl(s->dec, EVP_CTRL_AEAD_SET_TAG, 16, s->tag) &&
		     EVP_DecryptUpdate(s->dec, s->buf, &outl, s->buf, PKT) &&
		     EVP_DecryptFinal_ex(s->dec, fin, &outl);
		break;
	}
	if (!ok) {
		fprintf(stderr, "bench_openssl: mode %d failed\n", mode);
		exit(1);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median_rate(state *s, int mode, double secs)
{
	double r[RUNS];

	for (int i = 0; i < RUNS; i++) {
		uint64_t n = 0;
		double t0 = cpu_s(), t;

		do {
			for (int k = 0; k < 64; k++, n++)
				op(s, mode, n);
			t = cpu_s();
		} while (t - t0 < secs);
		r[i] = (double)n / (t - t0);
	}
	qsort(r, RUNS, sizeof(r[0]), cmp_double);
	return r[RUNS / 2];
}

int main(int argc, char **argv)
{
	static const char *names[5] = {"openssl stream only 1420 B", "openssl per-packet seal 1420 B",
				       "openssl per-packet open 1420 B",
				       "openssl blake2s-256 hash 32 B", "openssl blake2smac-128 116 B"};
	double secs = argc > 1 ? atof(argv[1]) : 0.3;
	unsigned char key[32], iv[12];
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
	state *s = calloc(1, sizeof(*s));
	int outl;

	if (!c || !s || secs <= 0)
		return 1;
	for (int i = 0; i < 32; i++)
		key[i] = (unsigned char)(i * 29 + 7);
	memset(s->buf, 0xab, sizeof(s->buf));
	s->enc = EVP_CIPHER_CTX_new();
	s->dec = EVP_CIPHER_CTX_new();
	s->blake2s = EVP_MD_fetch(NULL, "BLAKE2S-256", NULL);
	s->b2smac = EVP_MAC_fetch(NULL, "BLAKE2SMAC", NULL);
	if (!s->blake2s || !s->b2smac)
		return 1;
	if (!s->enc || !s->dec || !EVP_EncryptInit_ex2(s->enc, c, key, NULL, NULL) ||
	    !EVP_DecryptInit_ex2(s->dec, c, key, NULL, NULL))
		return 1;
	/* One genuine packet (counter 1) for the open runs. */
	nonce(iv, 1);
	memcpy(s->sealed, s->buf, PKT);
	if (!EVP_EncryptInit_ex2(s->enc, NULL, NULL, iv, NULL) ||
	    !EVP_EncryptUpdate(s->enc, s->sealed, &outl, s->sealed, PKT) ||
	    !EVP_EncryptFinal_ex(s->enc, s->sealed + PKT, &outl) ||
	    !EVP_CIPHER_CTX_ctrl(s->enc, EVP_CTRL_AEAD_GET_TAG, 16, s->tag))
		return 1;
	printf("%s, single thread, median of %d runs x %.2f s of thread CPU time\n",
	       OpenSSL_version(OPENSSL_VERSION), RUNS, secs);
	for (int mode = 0; mode < 5; mode++) {
		double rate = median_rate(s, mode, secs);

		if (mode < 3)
			printf("%-34s %12.0f pkt/s %9.1f MB/s %8.0f ns/op\n", names[mode], rate,
			       rate * PKT / 1e6, 1e9 / rate);
		else
			printf("%-34s %12.0f op/s  %9s      %8.0f ns/op\n", names[mode], rate, "",
			       1e9 / rate);
	}
	EVP_CIPHER_CTX_free(s->enc);
	EVP_CIPHER_CTX_free(s->dec);
	EVP_CIPHER_free(c);
	EVP_MD_free(s->blake2s);
	EVP_MAC_free(s->b2smac);
	free(s);
	return 0;
}
