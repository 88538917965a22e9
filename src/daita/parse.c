/* Machine string -> machine: "02" + base64 + zlib + bincode, then validation, plus the
 * machine's lifecycle (free, clone). The inflated size is capped at
 * DAITA_MAX_DECOMPRESSED_SIZE: the output buffer grows with the data actually produced and
 * never beyond the cap, so a zlib bomb costs at most 1 MiB. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "daita/bincode.h"
#include "daita/machine.h"

#define INFLATE_FIRST_CHUNK 4096

void daita_machine_free(struct daita_machine *m)
{
	if (!m)
		return;
	if (m->states) {
		for (uint32_t i = 0; i < m->num_states; i++)
			for (unsigned ev = 0; ev < DAITA_EVENT_NUM; ev++)
				free(m->states[i].trans[ev].items);
		free(m->states);
	}
	memset(m, 0, sizeof(*m));
}

int daita_machine_clone(struct daita_machine *dst, const struct daita_machine *src)
{
	*dst = *src;
	dst->states = NULL;
	dst->num_states = 0;
	if (src->num_states == 0 || !src->states)
		return 0;
	dst->states = calloc(src->num_states, sizeof(*dst->states));
	if (!dst->states)
		goto fail;
	dst->num_states = src->num_states;
	for (uint32_t i = 0; i < src->num_states; i++) {
		struct daita_state *d = &dst->states[i];

		*d = src->states[i];
		for (unsigned ev = 0; ev < DAITA_EVENT_NUM; ev++) {
			const struct daita_trans_list *l = &src->states[i].trans[ev];

			d->trans[ev].items = NULL;
			if (l->len == 0 || !l->items) {
				d->trans[ev].len = l->items ? l->len : 0;
				continue;
			}
			d->trans[ev].items = malloc(l->len * sizeof(*l->items));
			if (!d->trans[ev].items) {
				/* Later lists of this state still alias src: cut them off. */
				for (unsigned k = ev; k < DAITA_EVENT_NUM; k++)
					d->trans[k].items = NULL;
				for (uint32_t s = i + 1; s < src->num_states; s++)
					memset(dst->states[s].trans, 0, sizeof(dst->states[s].trans));
				goto fail;
			}
			memcpy(d->trans[ev].items, l->items, l->len * sizeof(*l->items));
		}
	}
	return 0;
fail:
	daita_machine_free(dst);
	return -1;
}

/* Inflates a complete zlib stream (RFC 1950) into a malloc'd buffer of at most
 * DAITA_MAX_DECOMPRESSED_SIZE bytes. Rejects: bad header or data, a preset dictionary,
 * a stream that ends early, a bad Adler-32, output over the cap, bytes after the stream. */
static int zlib_inflate_capped(const uint8_t *in, size_t inlen, uint8_t **out, size_t *outlen,
			       char *err)
{
	z_stream zs;
	uint8_t *buf = NULL, spill;
	size_t cap = 0;
	int zrc, rc = -1;

	memset(&zs, 0, sizeof(zs));
	if (inlen > UINT_MAX) {
		daita_set_err(err, "zlib", "compressed data too large");
		return -1;
	}
	if (inflateInit(&zs) != Z_OK) {
		daita_set_err(err, "zlib", "init failed");
		return -1;
	}
	zs.next_in = (Bytef *)(uintptr_t)in; /* zlib's API is not const-clean */
	zs.avail_in = (uInt)inlen;
	for (;;) {
		if (zs.total_out == cap) {
			size_t ncap = cap ? cap * 2 : INFLATE_FIRST_CHUNK;
			uint8_t *nb;

			if (cap == DAITA_MAX_DECOMPRESSED_SIZE) {
				/* Buffer full at the cap: fine only if the stream ends now. */
				zs.next_out = &spill;
				zs.avail_out = 1;
				zrc = inflate(&zs, Z_FINISH);
				if (zrc == Z_STREAM_END && zs.avail_out == 1)
					break;
				if (zs.avail_out == 0) {
					daita_set_err(err, "zlib",
						      "decompressed size exceeds 1 MiB");
					goto out;
				}
				goto zerror;
			}
			if (ncap > DAITA_MAX_DECOMPRESSED_SIZE)
				ncap = DAITA_MAX_DECOMPRESSED_SIZE;
			nb = realloc(buf, ncap);
			if (!nb) {
				daita_set_err(err, "zlib", "out of memory");
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		zs.next_out = buf + zs.total_out;
		zs.avail_out = (uInt)(cap - zs.total_out);
		zrc = inflate(&zs, Z_NO_FLUSH);
		if (zrc == Z_STREAM_END)
			break;
		if (zrc == Z_OK)
			continue;
		if (zrc == Z_BUF_ERROR && zs.avail_in == 0) {
			daita_set_err(err, "zlib", "truncated stream");
			goto out;
		}
		goto zerror;
	}
	/* Stricter than the reference (which ignores what follows the stream): a machine
	 * string has exactly one stream. */
	if (zs.avail_in != 0) {
		daita_set_err(err, "zlib", "%u bytes after the end of the stream", zs.avail_in);
		goto out;
	}
	*out = buf;
	*outlen = zs.total_out;
	buf = NULL;
	rc = 0;
	goto out;
zerror:
	if (zrc == Z_NEED_DICT)
		daita_set_err(err, "zlib", "preset dictionary not supported");
	else if (zrc == Z_BUF_ERROR)
		daita_set_err(err, "zlib", "truncated stream");
	else
		daita_set_err(err, "zlib", "%s", zs.msg ? zs.msg : "invalid data");
out:
	inflateEnd(&zs);
	free(buf);
	return rc;
}

int daita_machine_parse(struct daita_machine *out, const char *str, size_t len, char *err)
{
	uint8_t *compressed = NULL, *raw = NULL;
	size_t rawlen = 0;
	long clen;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (len < 3) {
		daita_set_err(err, "string", "too short");
		return -1;
	}
	if (len > DAITA_MAX_STRING_LEN) {
		daita_set_err(err, "string", "longer than %u bytes", DAITA_MAX_STRING_LEN);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)str[i] > 0x7f) {
			daita_set_err(err, "string", "not ASCII");
			return -1;
		}
	}
	if (str[0] != '0' || str[1] != '2') {
		daita_set_err(err, "version", "expected \"02\", got \"%c%c\"",
			      (str[0] >= 0x20 && str[0] < 0x7f) ? str[0] : '?',
			      (str[1] >= 0x20 && str[1] < 0x7f) ? str[1] : '?');
		return -1;
	}
	compressed = malloc((len - 2) / 4 * 3 + 1);
	if (!compressed) {
		daita_set_err(err, "base64", "out of memory");
		return -1;
	}
	clen = daita_base64_decode(compressed, str + 2, len - 2, err);
	if (clen < 0)
		goto out;
	if (zlib_inflate_capped(compressed, (size_t)clen, &raw, &rawlen, err))
		goto out;
	if (daita_machine_decode_bincode(out, raw, rawlen, err))
		goto out;
	if (daita_machine_validate(out, err)) {
		daita_machine_free(out);
		goto out;
	}
	rc = 0;
out:
	free(compressed);
	free(raw);
	return rc;
}
