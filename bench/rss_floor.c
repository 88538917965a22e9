/* The resident-memory floor of OpenSSL 3 for what wgtun needs: a process that only
 * initialises libcrypto the way the daemon does (no openssl.cnf, no error strings), fetches
 * ChaCha20-Poly1305, seals one 1420-byte packet and does one X25519 key + shared secret, then
 * prints VmRSS after each step. Compare with the idle daemon's VmRSS (bench/README.md,
 * "Idle RSS"). Not built by CMake (no test depends on it):
 *     cc -O2 -o /tmp/rss_floor bench/rss_floor.c -lcrypto && /tmp/rss_floor
 *     cc -O2 -o /tmp/rss_floor bench/rss_floor.c -l:libcrypto.a -lpthread   # static libcrypto
 * Argument "default" skips the lean init (OpenSSL's implicit init, as a library user gets). */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

static void rss(const char *step)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6) || !strncmp(line, "RssAnon:", 8))
			printf("%-8s %s", step, line);
	if (f)
		fclose(f);
}

int main(int argc, char **argv)
{
	unsigned char key[32] = {1}, nonce[12] = {0}, buf[1420] = {0}, tag[16], sk[32] = {9};
	unsigned char pk[32], shared[32];
	size_t len = sizeof(pk);
	int n;

	rss("start");
	if (argc < 2 || strcmp(argv[1], "default") != 0) {
		if (OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS,
					NULL) != 1)
			return 1;
		rss("init");
	}
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	if (!c || !x)
		return 1;
	rss("fetch");
	if (EVP_EncryptInit_ex(x, c, NULL, key, nonce) != 1 ||
	    EVP_EncryptUpdate(x, buf, &n, buf, sizeof(buf)) != 1 ||
	    EVP_EncryptFinal_ex(x, buf, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, tag) != 1)
		return 1;
	rss("seal");
	EVP_PKEY *p = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, sk, sizeof(sk));
	if (!p || EVP_PKEY_get_raw_public_key(p, pk, &len) != 1)
		return 1;
	EVP_PKEY *q = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pk, sizeof(pk));
	EVP_PKEY_CTX *d = EVP_PKEY_CTX_new_from_pkey(NULL, p, NULL);
	len = sizeof(shared);
	if (!q || !d || EVP_PKEY_derive_init(d) != 1 || EVP_PKEY_derive_set_peer_ex(d, q, 0) != 1 ||
	    EVP_PKEY_derive(d, shared, &len) != 1)
		return 1;
	rss("x25519");
	return 0;
}
