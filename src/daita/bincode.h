/* Internal to src/daita: a growable output buffer and the bincode 1.x (DefaultOptions)
 * primitives shared by the machine codec and the JSON writer. */
#ifndef WGTUN_DAITA_BINCODE_H
#define WGTUN_DAITA_BINCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Growable byte buffer. Once an allocation fails, `failed` sticks and further writes are
 * ignored, so callers check once at the end. */
struct daita_wbuf {
	uint8_t *data;
	size_t len;
	size_t cap;
	bool failed;
};

void daita_wbuf_put(struct daita_wbuf *b, const void *p, size_t n);
void daita_wbuf_puts(struct daita_wbuf *b, const char *s);
void daita_wbuf_byte(struct daita_wbuf *b, uint8_t c);
/* Appends a NUL (not counted in len) and hands the data over; -1 if any write failed
 * (buffer freed). */
int daita_wbuf_finish(struct daita_wbuf *b, uint8_t **out, size_t *len);
void daita_wbuf_free(struct daita_wbuf *b);

/* Writes the reason "<layer>: <fmt...>" into err (DAITA_ERR_LEN bytes) if err != NULL. */
void daita_set_err(char *err, const char *layer, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Strict standard base64 (RFC 4648 alphabet, '=' padding required, canonical trailing bits).
 * out must hold (len / 4) * 3 bytes. Returns the decoded length, or -1 with err set. */
long daita_base64_decode(uint8_t *out, const char *in, size_t len, char *err);
/* Padded standard base64 of n bytes, appended to b. */
void daita_base64_encode(struct daita_wbuf *b, const uint8_t *in, size_t n);

#endif
