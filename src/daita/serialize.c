/* Machine -> "02" + base64(zlib(bincode)). C zlib at level 9 does not reproduce the
 * reference's miniz_oxide bytes, so the string differs from the published one; the bincode
 * is identical and the string parses back to the same machine. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "daita/bincode.h"
#include "daita/machine.h"

int daita_machine_serialize(const struct daita_machine *m, char **out, size_t *len)
{
	struct daita_wbuf b = {0};
	uint8_t *raw = NULL, *z = NULL, *str = NULL;
	size_t rawlen = 0;
	uLongf zlen;
	int rc = -1;

	*out = NULL;
	if (len)
		*len = 0;
	if (daita_machine_encode_bincode(m, &raw, &rawlen))
		return -1;
	if (rawlen > DAITA_MAX_DECOMPRESSED_SIZE)
		goto out; /* no parser would accept it */
	zlen = compressBound((uLong)rawlen);
	z = malloc(zlen);
	if (!z)
		goto out;
	if (compress2(z, &zlen, raw, (uLong)rawlen, Z_BEST_COMPRESSION) != Z_OK)
		goto out;
	daita_wbuf_puts(&b, "02");
	daita_base64_encode(&b, z, zlen);
	if (daita_wbuf_finish(&b, &str, len))
		goto out;
	*out = (char *)str;
	rc = 0;
out:
	daita_wbuf_free(&b);
	free(raw);
	free(z);
	return rc;
}
