/* Fetch-once OpenSSL algorithm handles, from a library context that offers only what wgtun
 * uses (see crypto_ossl.h). */
#include "crypto_ossl.h"

#include "crypto.h"

#include <openssl/core_dispatch.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/provider.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

int crypto_init_lean(void)
{
	/* wgtun never prints OpenSSL's error strings and needs nothing from openssl.cnf: its
	 * algorithms are fixed by the protocol. Loading both costs ~0.5 MB of touched pages.
	 * Nor does it look algorithms up by their legacy names (EVP_get_cipherbyname): without
	 * the two NO_ADD_ALL flags the first fetch registers every legacy cipher and digest
	 * (OpenSSL's name map takes their names over), ~70 KB more. */
	return OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS |
					   OPENSSL_INIT_NO_ADD_ALL_CIPHERS |
					   OPENSSL_INIT_NO_ADD_ALL_DIGESTS,
				   NULL) == 1
		       ? 0
		       : -1;
}

/* Why a library context of our own: OpenSSL 3 builds every algorithm of an operation type the
 * first time any one of them is fetched (fetching ChaCha20-Poly1305 makes method objects,
 * name-map entries and cached parameters for all ~140 ciphers of the default provider; X25519
 * does the same for all key managers and key exchanges): ~200 KB of heap and the code of
 * every cipher's parameter functions (docs/memory.md). wgtun needs three algorithms, so it
 * fetches them from a context whose only provider, "wgtun-lean", offers just those three:
 * the default provider's own implementations, taken from its algorithm tables. The default
 * provider itself is loaded into a second private context, so the process-wide context, and
 * whatever an embedding app configured there, is left alone. If any step fails, everything
 * falls back to the process-wide context (NULL), which works as before. */

/* Set up on first use, under ossl_lock, until a setup succeeds; then final and read-only:
 * readers that see ossl_ready (acquire) see the handles. A failed setup is not kept: one
 * failed allocation there must not disable crypto for the life of the process (reliability.md
 * B2; test_failalloc_rx). They live for the whole process (an EVP_PKEY or cipher context may
 * outlive any owner we could tie them to). */
static pthread_mutex_t ossl_lock = PTHREAD_MUTEX_INITIALIZER;
static bool ossl_ready;
static OSSL_LIB_CTX *ossl_base, *ossl_lean;
static OSSL_PROVIDER *ossl_deflt;
static OSSL_ALGORITHM lean_cipher[2], lean_keymgmt[2], lean_keyexch[2];
static EVP_CIPHER *ossl_chacha20poly1305;
/* The default provider's ChaCha20-Poly1305 functions and provider context, for aead.c's
 * direct calls; NULL in the fallback (no private context). */
static const OSSL_DISPATCH *ossl_cp_dispatch;
static void *ossl_cp_provctx;

/* names is OpenSSL's "A:B:C" list; names compare case-insensitively, as OpenSSL's do. */
static bool names_have(const char *names, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = names; p != NULL; p = strchr(p, ':'), p = p ? p + 1 : NULL)
		if (strncasecmp(p, name, n) == 0 && (p[n] == '\0' || p[n] == ':'))
			return true;
	return false;
}

/* out[0] = the default provider's algorithm named name for operation op, out[1] = the end. */
static bool lean_pick(int op, const char *name, OSSL_ALGORITHM out[2])
{
	int no_cache = 0;
	const OSSL_ALGORITHM *all = OSSL_PROVIDER_query_operation(ossl_deflt, op, &no_cache);
	bool found = false;

	memset(out, 0, 2 * sizeof(*out));
	for (const OSSL_ALGORITHM *a = all; a != NULL && a->algorithm_names != NULL; a++) {
		if (names_have(a->algorithm_names, name)) {
			/* Names, properties and functions are the default provider's static data:
			 * the copy stays valid after the unquery. */
			out[0] = *a;
			found = true;
			break;
		}
	}
	if (all != NULL)
		OSSL_PROVIDER_unquery_operation(ossl_deflt, op, all);
	return found;
}

static const OSSL_ALGORITHM *lean_query(void *provctx, int op, int *no_cache)
{
	(void)provctx;
	*no_cache = 0;
	switch (op) {
	case OSSL_OP_CIPHER:
		return lean_cipher;
	case OSSL_OP_KEYMGMT:
		return lean_keymgmt;
	case OSSL_OP_KEYEXCH:
		return lean_keyexch;
	default:
		return NULL;
	}
}

static const OSSL_DISPATCH lean_dispatch[] = {
	{ OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))lean_query },
	{ 0, NULL },
};

/* The implementations are the default provider's, so they get its provider context (its
 * library context, core handle) as they would there. */
static int lean_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
		     const OSSL_DISPATCH **out, void **provctx)
{
	(void)handle;
	(void)in;
	*out = lean_dispatch;
	*provctx = OSSL_PROVIDER_get0_provider_ctx(ossl_deflt);
	return *provctx != NULL;
}

static bool lean_setup(void)
{
	ossl_base = OSSL_LIB_CTX_new();
	ossl_lean = OSSL_LIB_CTX_new();
	if (ossl_base == NULL || ossl_lean == NULL)
		return false;
	ossl_deflt = OSSL_PROVIDER_load(ossl_base, "default");
	return ossl_deflt != NULL && lean_pick(OSSL_OP_CIPHER, "ChaCha20-Poly1305", lean_cipher) &&
	       lean_pick(OSSL_OP_KEYMGMT, "X25519", lean_keymgmt) &&
	       lean_pick(OSSL_OP_KEYEXCH, "X25519", lean_keyexch) &&
	       OSSL_PROVIDER_add_builtin(ossl_lean, "wgtun-lean", lean_init) == 1 &&
	       OSSL_PROVIDER_load(ossl_lean, "wgtun-lean") != NULL;
}

/* X25519 and ChaCha20-Poly1305 work in ctx: the three algorithms are fetched (so they sit in
 * its method store) and one key and one seal are made. This must be tried here, not left to
 * the first use: when an allocation fails while OpenSSL sets a context or provider up, parts
 * of it can stay broken for good (seen: providers marked as queried although the method was
 * never built; the default provider loaded but every X25519 key refused afterwards), and a
 * context that fails here is dropped and set up anew on the next call. */
static bool ossl_works(OSSL_LIB_CTX *ctx)
{
	/* RFC 7748 section 6.1: Alice's private and public key. */
	static const uint8_t priv[32] = {
		0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2, 0x66, 0x45,
		0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5, 0x1d, 0xb9, 0x2c, 0x2a};
	static const uint8_t pub_want[32] = {
		0x85, 0x20, 0xf0, 0x09, 0x89, 0x30, 0xa7, 0x54, 0x74, 0x8b, 0x7d, 0xdc, 0xb4, 0x3e, 0xf7, 0x5a,
		0x0d, 0xbf, 0x3a, 0x0d, 0x26, 0x38, 0x1a, 0xf4, 0xeb, 0xa4, 0xa9, 0x8e, 0xaa, 0x9b, 0x4e, 0x6a};
	static const uint8_t zero[32];
	uint8_t pub[32], tag[16];
	size_t len = sizeof(pub);
	int outl = 0;
	EVP_CIPHER *c = EVP_CIPHER_fetch(ctx, "ChaCha20-Poly1305", NULL);
	EVP_KEYMGMT *km = EVP_KEYMGMT_fetch(ctx, "X25519", NULL);
	EVP_KEYEXCH *kx = EVP_KEYEXCH_fetch(ctx, "X25519", NULL);
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key_ex(ctx, "X25519", NULL, priv, sizeof(priv));
	EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
	bool ok = c != NULL && km != NULL && kx != NULL && k != NULL && cc != NULL &&
		  EVP_PKEY_get_raw_public_key(k, pub, &len) == 1 && len == sizeof(pub) &&
		  memcmp(pub, pub_want, sizeof(pub)) == 0 &&
		  EVP_CipherInit_ex2(cc, c, zero, zero + 20, 1, NULL) == 1 &&
		  EVP_CipherFinal_ex(cc, tag, &outl) == 1 &&
		  EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_AEAD_GET_TAG, sizeof(tag), tag) == 1;

	EVP_CIPHER_CTX_free(cc);
	EVP_PKEY_free(k);
	EVP_KEYMGMT_free(km);
	EVP_KEYEXCH_free(kx);
	if (ok)
		ossl_chacha20poly1305 = c; /* kept: an explicit fetch avoids a lookup per init */
	else
		EVP_CIPHER_free(c);
	return ok;
}

/* Contexts of failed setups: not freed (freeing a half-set-up context crashed inside
 * OpenSSL) but kept reachable; a few KB each, only ever after an allocation failed. */
#define OSSL_ABANDONED_MAX 16
static OSSL_LIB_CTX *ossl_abandoned[OSSL_ABANDONED_MAX];
static unsigned ossl_nabandoned;

static void ossl_abandon(OSSL_LIB_CTX *c)
{
	if (c != NULL && ossl_nabandoned < OSSL_ABANDONED_MAX)
		ossl_abandoned[ossl_nabandoned++] = c;
}

/* Our own context; if it cannot even be made, the process-wide one (NULL), as before. False
 * if neither works now (the next call tries again). */
static bool ossl_setup(void)
{
	bool made = lean_setup();

	if (made && ossl_works(ossl_lean)) {
		ossl_cp_dispatch = lean_cipher[0].implementation;
		ossl_cp_provctx = OSSL_PROVIDER_get0_provider_ctx(ossl_deflt);
		return true;
	}
	ossl_abandon(ossl_lean);
	ossl_abandon(ossl_base);
	ossl_lean = ossl_base = NULL;
	ossl_deflt = NULL;
	return !made && ossl_works(NULL);
}

bool crypto_ossl_ready(void)
{
	bool ok;

	if (__atomic_load_n(&ossl_ready, __ATOMIC_ACQUIRE))
		return true;
	pthread_mutex_lock(&ossl_lock);
	if (!ossl_ready && ossl_setup())
		__atomic_store_n(&ossl_ready, true, __ATOMIC_RELEASE);
	ok = ossl_ready;
	pthread_mutex_unlock(&ossl_lock);
	ERR_clear_error();
	return ok;
}

OSSL_LIB_CTX *crypto_ossl_libctx(void)
{
	return crypto_ossl_ready() ? ossl_lean : NULL;
}

const EVP_CIPHER *crypto_ossl_chacha20poly1305(void)
{
	return crypto_ossl_ready() ? ossl_chacha20poly1305 : NULL;
}

const OSSL_DISPATCH *crypto_ossl_chacha20poly1305_dispatch(void **provctx)
{
	*provctx = NULL;
	if (!crypto_ossl_ready() || ossl_cp_dispatch == NULL || ossl_cp_provctx == NULL)
		return NULL;
	*provctx = ossl_cp_provctx;
	return ossl_cp_dispatch;
}
