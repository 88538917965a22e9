/* ChaCha20-based generator for the Maybenot framework (see rng.h). */
#include "daita/rng.h"

#include "crypto/crypto.h"

#include <string.h>

static uint32_t load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void store_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

void daita_chacha20_block(uint8_t out[64], const uint32_t key[8], uint32_t counter,
			  const uint32_t nonce[3])
{
	uint32_t in[16], x[16];
	int i;

	in[0] = 0x61707865;
	in[1] = 0x3320646e;
	in[2] = 0x79622d32;
	in[3] = 0x6b206574;
	for (i = 0; i < 8; i++)
		in[4 + i] = key[i];
	in[12] = counter;
	in[13] = nonce[0];
	in[14] = nonce[1];
	in[15] = nonce[2];
	memcpy(x, in, sizeof(x));
	crypto_chacha20_rounds(x);
	for (i = 0; i < 16; i++)
		store_le32(out + 4 * i, x[i] + in[i]);
	crypto_wipe(x, sizeof(x));
	crypto_wipe(in, sizeof(in));
}

static void csprng_refill(struct daita_csprng *c)
{
	uint32_t nonce[3];
	uint32_t i;

	nonce[0] = (uint32_t)c->refills;
	nonce[1] = (uint32_t)(c->refills >> 32);
	nonce[2] = 0;
	c->refills++;
	for (i = 0; i < DAITA_CSPRNG_BLOCKS; i++)
		daita_chacha20_block(c->buf + 64 * i, c->key, i, nonce);
	/* fast key erasure: the first 32 bytes replace the key and are never output */
	for (i = 0; i < 8; i++)
		c->key[i] = load_le32(c->buf + 4 * i);
	crypto_wipe(c->buf, 32);
	c->pos = 32;
}

void daita_csprng_init(struct daita_csprng *c, const uint8_t seed[32])
{
	int i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < 8; i++)
		c->key[i] = load_le32(seed + 4 * i);
	c->pos = DAITA_CSPRNG_BUF_LEN;
}

void daita_csprng_wipe(struct daita_csprng *c)
{
	crypto_wipe(c, sizeof(*c));
	c->pos = DAITA_CSPRNG_BUF_LEN;
}

uint64_t daita_csprng_next_u64(void *ctx)
{
	struct daita_csprng *c = ctx;
	uint64_t v;

	/* (BUF_LEN - 32) is a multiple of 8, so a word never straddles a refill */
	if (c->pos + sizeof(v) > DAITA_CSPRNG_BUF_LEN)
		csprng_refill(c);
	memcpy(&v, c->buf + c->pos, sizeof(v));
	crypto_wipe(c->buf + c->pos, sizeof(v));
	c->pos += sizeof(v);
	return v;
}

daita_rng daita_csprng_rng(struct daita_csprng *c)
{
	daita_rng r = { daita_csprng_next_u64, c };
	return r;
}
