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

static pthread_once_t ossl_once = PTHREAD_ONCE_INIT;
/* Written once inside pthread_once, read-only after: every reader goes through
 * pthread_once first, which orders the writes before the reads. They live for the whole
 * process (an EVP_PKEY or cipher context may outlive any owner we could tie them to). */
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

static void ossl_fetch(void)
{
	if (!lean_setup()) {
		/* Freeing a context unloads its providers. */
		OSSL_LIB_CTX_free(ossl_lean);
		OSSL_LIB_CTX_free(ossl_base);
		ossl_lean = ossl_base = NULL;
		ossl_deflt = NULL;
	} else {
		ossl_cp_dispatch = lean_cipher[0].implementation;
		ossl_cp_provctx = OSSL_PROVIDER_get0_provider_ctx(ossl_deflt);
	}
	/* An explicit fetch avoids OpenSSL's implicit per-init lookup on every packet. */
	ossl_chacha20poly1305 = EVP_CIPHER_fetch(ossl_lean, "ChaCha20-Poly1305", NULL);
	ERR_clear_error();
}

OSSL_LIB_CTX *crypto_ossl_libctx(void)
{
	if (pthread_once(&ossl_once, ossl_fetch) != 0)
		return NULL;
	return ossl_lean;
}

const EVP_CIPHER *crypto_ossl_chacha20poly1305(void)
{
	if (pthread_once(&ossl_once, ossl_fetch) != 0)
		return NULL;
	return ossl_chacha20poly1305;
}

const OSSL_DISPATCH *crypto_ossl_chacha20poly1305_dispatch(void **provctx)
{
	*provctx = NULL;
	if (pthread_once(&ossl_once, ossl_fetch) != 0 || ossl_cp_dispatch == NULL ||
	    ossl_cp_provctx == NULL)
		return NULL;
	*provctx = ossl_cp_provctx;
	return ossl_cp_dispatch;
}
