/* Maybenot v2 machine strings: every layer against the vectors in tests/vectors/maybenot
 * (bincode bytes, canonical JSON text, the 57 rejected strings), the round trip through our
 * serializer, and hostile inputs (huge counts, length fields beyond the input, zlib bombs,
 * truncated streams, non-minimal varints, validation boundaries). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "daita/bincode.h"
#include "daita/machine.h"
#include "test.h"
#include "tjson.h"

/* The 35-byte no-op machine: 0, 0.0, 0, 0.0, one state with nothing. */
static const uint8_t noop_bincode[35] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

static char *machine_json(const struct daita_machine *m)
{
	char *j = NULL;
	size_t n;

	if (daita_machine_to_json(m, &j, &n) != 0)
		return NULL;
	return j;
}

/* The canonical JSON text of entry `id` exactly as written in machines.json (each entry is
 * one line ending in `"machine": {...}},`), so the comparison is byte for byte. */
static char *raw_machine_text(const char *file, const char *id)
{
	char pat[128], *start, *eol, *out;
	const char *key = "\"machine\": ";

	snprintf(pat, sizeof(pat), "\"id\": \"%s\"", id);
	start = strstr(file, pat);
	if (!start)
		return NULL;
	eol = strchr(start, '\n');
	start = strstr(start, key);
	if (!start || !eol || start > eol)
		return NULL;
	start += strlen(key);
	while (eol > start && eol[-1] != '}')
		eol--;
	eol--; /* drop the entry's own closing brace */
	out = malloc((size_t)(eol - start) + 1);
	if (!out)
		abort();
	memcpy(out, start, (size_t)(eol - start));
	out[eol - start] = 0;
	return out;
}

/* "02" + base64(zlib level 9 (raw)) */
static char *make_string(const uint8_t *raw, size_t len)
{
	uLongf zlen = compressBound((uLong)len);
	uint8_t *z = malloc(zlen), *s = NULL;
	struct daita_wbuf b = {0};

	if (!z || compress2(z, &zlen, raw, (uLong)len, 9) != Z_OK)
		abort();
	daita_wbuf_puts(&b, "02");
	daita_base64_encode(&b, z, zlen);
	free(z);
	if (daita_wbuf_finish(&b, &s, NULL))
		abort();
	return (char *)s;
}

/* "02" + base64(bytes) — for hand-made (possibly broken) zlib streams. */
static char *make_string_z(const uint8_t *z, size_t zlen)
{
	struct daita_wbuf b = {0};
	uint8_t *s = NULL;

	daita_wbuf_puts(&b, "02");
	daita_base64_encode(&b, z, zlen);
	if (daita_wbuf_finish(&b, &s, NULL))
		abort();
	return (char *)s;
}

static bool starts_with(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

static int parse_str(struct daita_machine *m, const char *s, char *err)
{
	return daita_machine_parse(m, s, strlen(s), err);
}

static void test_vector_machines(void)
{
	tjson *root = tjson_load_vector("maybenot/machines.json");
	tjson *arr = tjson_get(root, "machines");
	char *file = test_read_file(test_vector_path("maybenot/machines.json"), NULL);
	size_t count = 0;

	CHECK(arr != NULL && file != NULL);
	for (size_t i = 0; arr && file && i < arr->n; i++) {
		const tjson *v = tjson_at(arr, i);
		const char *id = tjson_str(v, "id");
		const char *str = tjson_str(v, "string");
		size_t blen, enc_len = 0, slen = 0;
		uint8_t *bin = test_unhex_alloc(tjson_str(v, "bincode"), &blen);
		uint8_t *enc = NULL;
		char *want = raw_machine_text(file, id), *j1 = NULL, *j2 = NULL, *j3 = NULL;
		char *j4 = NULL, *ser = NULL, err[DAITA_ERR_LEN] = "";
		struct daita_machine a, b, c, d;

		count++;
		CHECK_MSG(want != NULL, "%s: no machine text", id);
		CHECK_EQ_U64(blen, tjson_u64(v, "bincode_len"));
		/* bincode layer alone */
		CHECK_MSG(daita_machine_decode_bincode(&a, bin, blen, err) == 0, "%s: %s", id, err);
		CHECK_MSG(daita_machine_validate(&a, err) == 0, "%s: %s", id, err);
		CHECK(daita_machine_encode_bincode(&a, &enc, &enc_len) == 0);
		CHECK_EQ_U64(enc_len, blen);
		if (enc && enc_len == blen)
			CHECK_MEM(enc, bin, blen);
		j1 = machine_json(&a);
		CHECK_MSG(j1 && want && strcmp(j1, want) == 0, "%s: json\n got  %s\n want %s", id,
			  j1 ? j1 : "(null)", want ? want : "(null)");
		/* the full string */
		CHECK_MSG(parse_str(&b, str, err) == 0, "%s: %s", id, err);
		j2 = machine_json(&b);
		CHECK_MSG(j2 && want && strcmp(j2, want) == 0, "%s: parsed json differs", id);
		/* serialize -> parse gives the same machine */
		CHECK(daita_machine_serialize(&b, &ser, &slen) == 0);
		CHECK(ser && slen == strlen(ser) && starts_with(ser, "02"));
		CHECK_MSG(ser && daita_machine_parse(&c, ser, slen, err) == 0, "%s: reparse %s", id,
			  err);
		j3 = machine_json(&c);
		CHECK_MSG(j3 && want && strcmp(j3, want) == 0, "%s: round trip differs", id);
		/* clone is deep and equal */
		CHECK(daita_machine_clone(&d, &b) == 0);
		daita_machine_free(&b);
		j4 = machine_json(&d);
		CHECK_MSG(j4 && want && strcmp(j4, want) == 0, "%s: clone differs", id);
		/* every strict prefix of the bincode is rejected, never a crash */
		for (size_t cut = 0; cut < blen; cut++) {
			struct daita_machine t;

			CHECK_MSG(daita_machine_decode_bincode(&t, bin, cut, err) != 0,
				  "%s: prefix %zu accepted", id, cut);
			CHECK(t.states == NULL && t.num_states == 0);
		}
		daita_machine_free(&a);
		daita_machine_free(&c);
		daita_machine_free(&d);
		free(bin);
		free(enc);
		free(want);
		free(j1);
		free(j2);
		free(j3);
		free(j4);
		free(ser);
	}
	CHECK_EQ_U64(count, 28);
	free(file);
	tjson_free(root);
}

static void test_vector_invalid(void)
{
	tjson *root = tjson_load_vector("maybenot/invalid.json");
	tjson *arr = tjson_get(root, "invalid");
	size_t count = 0;

	for (size_t i = 0; arr && i < arr->n; i++) {
		const tjson *v = tjson_at(arr, i);
		const char *id = tjson_str(v, "id");
		const char *str = tjson_str(v, "string");
		char err[DAITA_ERR_LEN] = "", prefix[32];
		struct daita_machine m;

		count++;
		memset(&m, 0xa5, sizeof(m));
		CHECK_MSG(parse_str(&m, str, err) != 0, "%s: accepted", id);
		CHECK_MSG(m.states == NULL && m.num_states == 0, "%s: output not cleared", id);
		/* Our layers are ordered like the strict layered decoder, so the failing layer
		 * must be the one the vector names. */
		snprintf(prefix, sizeof(prefix), "%s: ", tjson_str(v, "stage"));
		CHECK_MSG(starts_with(err, prefix), "%s: error '%s' not at stage %s", id, err,
			  prefix);
	}
	CHECK_EQ_U64(count, 57);
	tjson_free(root);
}

/* A one-state machine with the given transition list on NormalSent, encoded by hand. */
static size_t build_trans_machine(uint8_t *out, uint64_t n_states, const uint8_t *list,
				  size_t list_len)
{
	size_t o = 0;

	memset(out, 0, 18); /* u64 0, f64 0, u64 0, f64 0 */
	o = 18;
	out[o++] = (uint8_t)n_states; /* small */
	for (uint64_t s = 0; s < n_states; s++) {
		out[o++] = 0; /* action */
		out[o++] = 0; /* counter A */
		out[o++] = 0; /* counter B */
		for (unsigned ev = 0; ev < DAITA_EVENT_NUM; ev++) {
			if (s == 0 && ev == DAITA_EV_NORMAL_SENT) {
				out[o++] = 1;
				memcpy(out + o, list, list_len);
				o += list_len;
			} else {
				out[o++] = 0;
			}
		}
	}
	return o;
}

static void test_varints(void)
{
	uint8_t buf[64];
	struct daita_machine m;
	char err[DAITA_ERR_LEN];

	/* non-minimal encodings of 5 are accepted (bincode 1.x does) */
	static const uint8_t forms[][9] = {{0xfb, 5, 0}, {0xfc, 5, 0, 0, 0},
					   {0xfd, 5, 0, 0, 0, 0, 0, 0, 0}};
	static const size_t flen[] = {3, 5, 9};
	for (int f = 0; f < 3; f++) {
		memcpy(buf, forms[f], flen[f]);
		memcpy(buf + flen[f], noop_bincode + 1, sizeof(noop_bincode) - 1);
		CHECK(daita_machine_decode_bincode(&m, buf, flen[f] + sizeof(noop_bincode) - 1,
						   err) == 0);
		CHECK_EQ_U64(m.allowed_padding_packets, 5);
		daita_machine_free(&m);
	}
	/* u64::MAX and the boundaries of each width */
	{
		static const uint8_t mx[] = {0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
		memcpy(buf, mx, 9);
		memcpy(buf + 9, noop_bincode + 1, sizeof(noop_bincode) - 1);
		CHECK(daita_machine_decode_bincode(&m, buf, 9 + sizeof(noop_bincode) - 1, err) ==
		      0);
		CHECK_EQ_U64(m.allowed_padding_packets, UINT64_MAX);
		daita_machine_free(&m);
	}
	/* 0xFE (u128) and 0xFF prefixes are rejected */
	for (int p = 0xfe; p <= 0xff; p++) {
		memcpy(buf, noop_bincode, sizeof(noop_bincode));
		buf[0] = (uint8_t)p;
		CHECK(daita_machine_decode_bincode(&m, buf, sizeof(noop_bincode), err) != 0);
		CHECK(starts_with(err, "bincode: invalid varint prefix"));
	}
	/* the writer uses the minimal form at each boundary and the reader inverts it */
	static const uint64_t vals[] = {0, 250, 251, 65535, 65536, 4294967295ULL,
					4294967296ULL, UINT64_MAX};
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		uint8_t *enc = NULL;
		size_t len = 0;

		CHECK(daita_machine_decode_bincode(&m, noop_bincode, sizeof(noop_bincode), err) ==
		      0);
		m.allowed_blocked_microsec = vals[i];
		CHECK(daita_machine_encode_bincode(&m, &enc, &len) == 0);
		daita_machine_free(&m);
		size_t want = vals[i] < 251 ? 1 : vals[i] <= 65535 ? 3 : vals[i] <= 4294967295ULL ? 5 : 9;
		CHECK_EQ_U64(len, sizeof(noop_bincode) - 1 + want);
		CHECK(enc && daita_machine_decode_bincode(&m, enc, len, err) == 0);
		CHECK_EQ_U64(m.allowed_blocked_microsec, vals[i]);
		daita_machine_free(&m);
		free(enc);
	}
}

static void test_bincode_hostile(void)
{
	uint8_t buf[512];
	struct daita_machine m;
	char err[DAITA_ERR_LEN];
	size_t n;

	/* state count 2^60 with two states of data: rejected before any allocation of that
	 * size (ASan would report the attempt) */
	memset(buf, 0, sizeof(buf));
	n = 18;
	buf[n++] = 0xfd;
	memset(buf + n, 0, 8);
	buf[n + 7] = 0x10;
	n += 8;
	n += 32; /* two empty states */
	CHECK(daita_machine_decode_bincode(&m, buf, n, err) != 0);
	CHECK(strcmp(err, "bincode: unexpected end of input") == 0);
	/* state count that fits the bytes left exactly is decoded */
	n = 18;
	buf[n++] = 2;
	memset(buf + n, 0, 32);
	n += 32;
	CHECK(daita_machine_decode_bincode(&m, buf, n, err) == 0);
	CHECK_EQ_U64(m.num_states, 2);
	daita_machine_free(&m);

	/* Vec<Trans> length beyond the input (1000 and 2^63) */
	{
		uint8_t list[16] = {0xfb, 0xe8, 0x03, 0, 0, 0, 0, 0x80, 0x3f};
		n = build_trans_machine(buf, 1, list, 9);
		CHECK(daita_machine_decode_bincode(&m, buf, n, err) != 0);
		CHECK(strcmp(err, "bincode: unexpected end of input") == 0);
		uint8_t big[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0x80, 0x3f};
		n = build_trans_machine(buf, 1, big, 13);
		CHECK(daita_machine_decode_bincode(&m, buf, n, err) != 0);
	}
	/* enum variant index beyond u32 and far out of range */
	{
		uint8_t b2[64];
		memcpy(b2, noop_bincode, 19);
		b2[19] = 1;                     /* Some(action) */
		static const uint8_t idx[] = {0xfd, 0, 0, 0, 0, 1, 0, 0, 0}; /* 2^32 */
		memcpy(b2 + 20, idx, 9);
		memset(b2 + 29, 0, 20);
		CHECK(daita_machine_decode_bincode(&m, b2, 49, err) != 0);
		CHECK(strstr(err, "Action variant index") != NULL);
	}
	/* transition target u32::MAX + 1 is rejected, u32::MAX (END) and SIGNAL pass */
	{
		uint8_t l1[16] = {1, 0xfd, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x80, 0x3f};
		n = build_trans_machine(buf, 1, l1, 14);
		CHECK(daita_machine_decode_bincode(&m, buf, n, err) != 0);
		CHECK(strstr(err, "target 4294967296 out of range") != NULL);
		/* [(END, 0.5), (SIGNAL, 0.5)] */
		static const uint8_t l2b[19] = {2,    0xfc, 0xff, 0xff, 0xff, 0xff, 0,
						0,    0,    0x3f, 0xfc, 0xfe, 0xff, 0xff,
						0xff, 0,    0,    0,    0x3f};
		n = build_trans_machine(buf, 1, l2b, 19);
		CHECK(daita_machine_decode_bincode(&m, buf, n, err) == 0);
		CHECK(daita_machine_validate(&m, err) == 0);
		CHECK_EQ_U64(m.states[0].trans[DAITA_EV_NORMAL_SENT].items[0].next_state,
			     DAITA_STATE_END);
		CHECK_EQ_U64(m.states[0].trans[DAITA_EV_NORMAL_SENT].items[1].next_state,
			     DAITA_STATE_SIGNAL);
		/* duplicate pseudo-state */
		m.states[0].trans[DAITA_EV_NORMAL_SENT].items[1].next_state = DAITA_STATE_END;
		CHECK(daita_machine_validate(&m, err) != 0);
		CHECK(strstr(err, "duplicate target 4294967295") != NULL);
		daita_machine_free(&m);
	}
	/* trailing bytes */
	memcpy(buf, noop_bincode, sizeof(noop_bincode));
	buf[sizeof(noop_bincode)] = 0;
	CHECK(daita_machine_decode_bincode(&m, buf, sizeof(noop_bincode) + 1, err) != 0);
	CHECK(strcmp(err, "bincode: 1 trailing bytes") == 0);
	/* random bytes never crash and leave nothing behind */
	{
		test_rng r;
		test_rng_seed(&r, 42);
		for (int it = 0; it < 20000; it++) {
			size_t len = 19 + test_rng_next(&r) % 200;
			test_rng_bytes(&r, buf, len);
			buf[18] = (uint8_t)(test_rng_next(&r) % 4); /* plausible state count */
			if (daita_machine_decode_bincode(&m, buf, len, err) == 0) {
				(void)daita_machine_validate(&m, err);
				daita_machine_free(&m);
			} else {
				CHECK(m.states == NULL);
			}
		}
	}
}

static void test_zlib_hostile(void)
{
	struct daita_machine m;
	char err[DAITA_ERR_LEN];
	size_t big = DAITA_MAX_DECOMPRESSED_SIZE;
	uint8_t *zeros = calloc(2 * big, 1);
	char *s;

	CHECK(zeros != NULL);
	if (!zeros)
		return;
	/* bomb: 2 MiB of zeros compresses to ~2 KiB */
	s = make_string(zeros, 2 * big);
	CHECK(strlen(s) < 8192);
	CHECK(parse_str(&m, s, err) != 0);
	CHECK(strcmp(err, "zlib: decompressed size exceeds 1 MiB") == 0);
	free(s);
	/* exactly 1 MiB passes the zlib layer (and fails in bincode: trailing zeros) */
	s = make_string(zeros, big);
	CHECK(parse_str(&m, s, err) != 0);
	CHECK(starts_with(err, "bincode: "));
	free(s);
	s = make_string(zeros, big + 1);
	CHECK(parse_str(&m, s, err) != 0);
	CHECK(strcmp(err, "zlib: decompressed size exceeds 1 MiB") == 0);
	free(s);
	free(zeros);

	/* every truncation of a real stream is rejected at the zlib layer */
	{
		uLongf zlen = compressBound(sizeof(noop_bincode));
		uint8_t z[256];

		CHECK(compress2(z, &zlen, noop_bincode, sizeof(noop_bincode), 9) == Z_OK);
		s = make_string_z(z, zlen);
		CHECK(parse_str(&m, s, err) == 0);
		daita_machine_free(&m);
		free(s);
		for (size_t cut = 0; cut < zlen; cut++) {
			s = make_string_z(z, cut);
			CHECK_MSG(parse_str(&m, s, err) != 0, "zlib cut %zu accepted", cut);
			CHECK_MSG(cut == 0 ? starts_with(err, "string: ") || starts_with(err, "zlib: ")
					   : starts_with(err, "zlib: "),
				  "cut %zu: %s", cut, err);
			free(s);
		}
		/* bytes after the stream end */
		z[zlen] = 0;
		s = make_string_z(z, zlen + 1);
		CHECK(parse_str(&m, s, err) != 0);
		CHECK(starts_with(err, "zlib: "));
		free(s);
		/* flipped bit in the Adler-32 */
		z[zlen - 1] ^= 1;
		s = make_string_z(z, zlen);
		CHECK(parse_str(&m, s, err) != 0);
		CHECK(starts_with(err, "zlib: "));
		free(s);
	}
	/* a preset dictionary is refused */
	{
		z_stream zs;
		uint8_t z[256];

		memset(&zs, 0, sizeof(zs));
		CHECK(deflateInit(&zs, 9) == Z_OK);
		CHECK(deflateSetDictionary(&zs, (const Bytef *)"abc", 3) == Z_OK);
		zs.next_in = (Bytef *)(uintptr_t)noop_bincode;
		zs.avail_in = sizeof(noop_bincode);
		zs.next_out = z;
		zs.avail_out = sizeof(z);
		CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END);
		s = make_string_z(z, zs.total_out);
		deflateEnd(&zs);
		CHECK(parse_str(&m, s, err) != 0);
		CHECK(strcmp(err, "zlib: preset dictionary not supported") == 0);
		free(s);
	}
}

/* Strings over DAITA_MAX_STRING_LEN are refused before any decoding; at the limit they
 * reach the base64 layer. Empty deflate blocks make such a string a valid zlib stream with
 * a tiny output, so only the length cap stops them. */
static void test_string_length_cap(void)
{
	size_t n = DAITA_MAX_STRING_LEN + 1;
	char *s = malloc(n + 1), err[DAITA_ERR_LEN];
	struct daita_machine m;

	CHECK(s != NULL);
	if (!s)
		return;
	memset(s, 'A', n);
	s[0] = '0';
	s[1] = '2';
	s[n] = 0;
	CHECK(daita_machine_parse(&m, s, n, err) != 0);
	CHECK(starts_with(err, "string: longer than"));
	CHECK(m.states == NULL);
	/* 4 MiB: 2 + (4 MiB - 2) base64 chars, not a multiple of 4 -> a base64 error */
	CHECK(daita_machine_parse(&m, s, n - 1, err) != 0);
	CHECK(starts_with(err, "base64: "));
	free(s);
}

static void test_base64(void)
{
	test_rng r;
	uint8_t in[64], out[64];
	char err[DAITA_ERR_LEN];

	test_rng_seed(&r, 7);
	for (size_t n = 0; n < 40; n++) {
		struct daita_wbuf b = {0};
		uint8_t *txt = NULL;
		size_t tl = 0;

		test_rng_bytes(&r, in, n);
		daita_base64_encode(&b, in, n);
		CHECK(daita_wbuf_finish(&b, &txt, &tl) == 0);
		CHECK_EQ_U64(tl, (n + 2) / 3 * 4);
		CHECK(daita_base64_decode(out, (const char *)txt, tl, err) == (long)n);
		CHECK(memcmp(in, out, n) == 0);
		free(txt);
	}
	CHECK(daita_base64_decode(out, "QQ==", 4, err) == 1 && out[0] == 'A');
	CHECK(daita_base64_decode(out, "QR==", 4, err) < 0); /* trailing bits */
	CHECK(daita_base64_decode(out, "QUI=", 4, err) == 2);
	CHECK(daita_base64_decode(out, "QUJ=", 4, err) < 0);
	CHECK(daita_base64_decode(out, "Q===", 4, err) < 0);
	CHECK(daita_base64_decode(out, "QQ=A", 4, err) < 0);
	CHECK(daita_base64_decode(out, "QQ==QUJD", 8, err) < 0); /* padding mid-string */
	CHECK(daita_base64_decode(out, "QQ", 2, err) < 0);       /* unpadded */
	CHECK(daita_base64_decode(out, "Q-_A", 4, err) < 0);     /* URL-safe alphabet */
	CHECK(daita_base64_decode(out, "QU\0A", 4, err) < 0);    /* NUL */
	CHECK(daita_base64_decode(out, "", 0, err) == 0);
}

/* A valid 1-state machine (from the no-op vector) to mutate in place. */
static void noop_machine(struct daita_machine *m)
{
	char err[DAITA_ERR_LEN];

	if (daita_machine_decode_bincode(m, noop_bincode, sizeof(noop_bincode), err) != 0)
		abort();
}

static int validate_dist(struct daita_dist d)
{
	return daita_dist_validate(&d, NULL);
}

static void test_dist_rules(void)
{
	struct daita_dist d = {0};
	const double inf = INFINITY, nan = NAN;

#define DIST(T, ...) (d = (struct daita_dist){.type = DAITA_DIST_##T, .p = {__VA_ARGS__}}, d)
	CHECK(validate_dist(DIST(UNIFORM, .uniform = {5, 5})) == 0);
	CHECK(validate_dist(DIST(UNIFORM, .uniform = {-1e308, 1e308})) != 0);
	CHECK(validate_dist(DIST(UNIFORM, .uniform = {nan, 1})) != 0);
	CHECK(validate_dist(DIST(UNIFORM, .uniform = {0, inf})) != 0);
	CHECK(validate_dist(DIST(NORMAL, .normal = {nan, -3})) == 0); /* mean unchecked */
	CHECK(validate_dist(DIST(NORMAL, .normal = {0, nan})) != 0);
	CHECK(validate_dist(DIST(SKEW_NORMAL, .skew_normal = {0, 1, -5})) == 0);
	CHECK(validate_dist(DIST(SKEW_NORMAL, .skew_normal = {0, inf, 1})) != 0);
	CHECK(validate_dist(DIST(SKEW_NORMAL, .skew_normal = {0, 1, inf})) != 0);
	CHECK(validate_dist(DIST(LOG_NORMAL, .log_normal = {0, -1})) == 0);
	CHECK(validate_dist(DIST(LOG_NORMAL, .log_normal = {0, inf})) != 0);
	CHECK(validate_dist(DIST(BINOMIAL, .binomial = {1000000000, 1e-9})) == 0);
	CHECK(validate_dist(DIST(BINOMIAL, .binomial = {1000000001, 0.5})) != 0);
	CHECK(validate_dist(DIST(BINOMIAL, .binomial = {0, 0})) == 0);
	CHECK(validate_dist(DIST(BINOMIAL, .binomial = {10, 9e-10})) != 0);
	CHECK(validate_dist(DIST(BINOMIAL, .binomial = {10, nan})) != 0);
	CHECK(validate_dist(DIST(BINOMIAL, .binomial = {10, 1.0000001})) != 0);
	CHECK(validate_dist(DIST(GEOMETRIC, .geometric = {0})) == 0);
	CHECK(validate_dist(DIST(GEOMETRIC, .geometric = {1})) == 0);
	CHECK(validate_dist(DIST(GEOMETRIC, .geometric = {-0.0})) == 0);
	CHECK(validate_dist(DIST(GEOMETRIC, .geometric = {5e-10})) != 0);
	CHECK(validate_dist(DIST(GEOMETRIC, .geometric = {nan})) != 0);
	CHECK(validate_dist(DIST(PARETO, .pareto = {inf, inf})) == 0); /* > 0 only */
	CHECK(validate_dist(DIST(PARETO, .pareto = {nan, 1})) != 0);
	CHECK(validate_dist(DIST(POISSON, .poisson = {1.844e19})) == 0);
	CHECK(validate_dist(DIST(POISSON, .poisson = {nextafter(1.844e19, inf)})) != 0);
	CHECK(validate_dist(DIST(POISSON, .poisson = {inf})) != 0);
	CHECK(validate_dist(DIST(POISSON, .poisson = {1e-300})) == 0);
	CHECK(validate_dist(DIST(WEIBULL, .weibull = {1, 0})) != 0);
	CHECK(validate_dist(DIST(WEIBULL, .weibull = {1, 2})) == 0);
	CHECK(validate_dist(DIST(GAMMA, .gamma = {2, 1e-300})) == 0);
	CHECK(validate_dist(DIST(GAMMA, .gamma = {-1, 1})) != 0);
	CHECK(validate_dist(DIST(BETA, .beta = {inf, 0.5})) == 0);
	CHECK(validate_dist(DIST(BETA, .beta = {0.5, -0.0})) != 0);
	d.type = (enum daita_dist_type)11;
	CHECK(daita_dist_validate(&d, NULL) != 0);
#undef DIST
}

static void test_machine_rules(void)
{
	struct daita_machine m;
	struct daita_trans t[3];
	char err[DAITA_ERR_LEN], *j;

	noop_machine(&m);
	/* NaN fractions pass ("not < 0 and not > 1"), 1.0 passes, -0.0 passes */
	m.max_padding_frac = NAN;
	m.max_blocking_frac = -0.0;
	CHECK(daita_machine_validate(&m, err) == 0);
	m.max_blocking_frac = nextafter(1.0, 2.0);
	CHECK(daita_machine_validate(&m, err) != 0);
	m.max_blocking_frac = -0.0;
	/* NaN, -0.0 and the other special floats survive JSON and a round trip */
	j = machine_json(&m);
	CHECK(j && strstr(j, "\"max_padding_frac\":\"NaN\"") &&
	      strstr(j, "\"max_blocking_frac\":-0.0"));
	free(j);

	/* transitions: sum in f32, NaN probability passes like the reference */
	m.states[0].trans[DAITA_EV_TUNNEL_SENT] =
		(struct daita_trans_list){.present = true, .len = 2, .items = t};
	t[0] = (struct daita_trans){0, NAN};
	t[1] = (struct daita_trans){DAITA_STATE_SIGNAL, 0.5f};
	CHECK(daita_machine_validate(&m, err) == 0);
	t[0] = (struct daita_trans){1, 0.5f}; /* == num_states */
	CHECK(daita_machine_validate(&m, err) != 0);
	CHECK(strstr(err, "target 1 out of range") != NULL);
	t[0] = (struct daita_trans){0, 0.5f};
	t[1] = (struct daita_trans){DAITA_STATE_END, 0.5f};
	CHECK(daita_machine_validate(&m, err) == 0);
	/* 0.5 + (0.5 + 2^-24) rounds to exactly 1.0 in binary32: accepted, like the
	 * reference; 0.5 + (0.5 + 2^-23) is 1 + 2^-23 > 1: rejected */
	t[1].probability = nextafterf(0.5f, 1.0f);
	CHECK(daita_machine_validate(&m, err) == 0);
	t[1].probability = 0.5f + 4 * 0x1p-25f;
	CHECK(daita_machine_validate(&m, err) != 0);
	CHECK(strstr(err, "probability sum") != NULL);
	/* the same target in two different lists is fine */
	t[1].probability = 0.5f;
	t[2] = (struct daita_trans){0, 1.0f};
	m.states[0].trans[DAITA_EV_SIGNAL] =
		(struct daita_trans_list){.present = true, .len = 1, .items = &t[2]};
	CHECK(daita_machine_validate(&m, err) == 0);
	/* an earlier failing list must not leave marks that break a later, valid one */
	t[0].next_state = 7;
	CHECK(daita_machine_validate(&m, err) != 0);
	t[0].next_state = 0;
	CHECK(daita_machine_validate(&m, err) == 0);
	j = machine_json(&m);
	CHECK(j && strstr(j, "\"TunnelSent\":[[0,0.5],[4294967295,0.5]],\"Signal\":[[0,1.0]]"));
	free(j);
	/* Some(empty list) is invalid */
	m.states[0].trans[DAITA_EV_SIGNAL].len = 0;
	CHECK(daita_machine_validate(&m, err) != 0);
	memset(m.states[0].trans, 0, sizeof(m.states[0].trans)); /* t is on the stack */
	daita_machine_free(&m);

	/* STATE_MAX boundary, built directly */
	m = (struct daita_machine){0};
	m.states = calloc(DAITA_STATE_MAX + 1, sizeof(*m.states));
	CHECK(m.states != NULL);
	if (m.states) {
		m.num_states = DAITA_STATE_MAX;
		CHECK(daita_machine_validate(&m, err) == 0);
		m.num_states = DAITA_STATE_MAX + 1;
		CHECK(daita_machine_validate(&m, err) != 0);
		CHECK(starts_with(err, "validate: too many states"));
		daita_machine_free(&m);
	}
	m = (struct daita_machine){0};
	CHECK(daita_machine_validate(&m, err) != 0);
}

/* Float spelling: Python repr layout (the reference's writer) for a few binary64 values
 * whose repr is known; they go through a Uniform's start field. */
static void test_json_numbers(void)
{
	static const struct {
		double v;
		const char *want;
	} cases[] = {
		{1e16, "1e+16"},
		{1234567890123456.0, "1234567890123456.0"},
		{0.0001, "0.0001"},
		{0.00001, "1e-05"},
		{1.844e19, "1.844e+19"},
		{1e-9, "1e-09"},
		{5e-324, "5e-324"},
		{1.7976931348623157e308, "1.7976931348623157e+308"},
		{0.1, "0.1"},
		{-2.5, "-2.5"},
		{123456789.125, "123456789.125"},
		{0.30000000000000004, "0.30000000000000004"},
		{9598.682, "9598.682"},
	};
	struct daita_machine m;
	struct daita_trans t = {0, 0.1f};
	char want[128], *j;

	noop_machine(&m);
	m.states[0].has_action = true;
	m.states[0].action.kind = DAITA_ACTION_SEND_PADDING;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		m.states[0].action.timeout.start = cases[i].v;
		j = machine_json(&m);
		snprintf(want, sizeof(want), "\"start\":%s,", cases[i].want);
		CHECK_MSG(j && strstr(j, want), "%.17g: %s", cases[i].v, j ? j : "(null)");
		free(j);
	}
	/* binary32 probabilities: shortest digits for binary32, not for binary64 */
	m.states[0].trans[0] = (struct daita_trans_list){.present = true, .len = 1, .items = &t};
	j = machine_json(&m);
	CHECK(j && strstr(j, "\"NormalRecv\":[[0,0.1]]"));
	free(j);
	t.probability = 0.54347825f;
	j = machine_json(&m);
	CHECK(j && strstr(j, "[[0,0.54347825]]"));
	free(j);
	t.probability = 1e-7f;
	j = machine_json(&m);
	CHECK(j && strstr(j, "[[0,1e-07]]"));
	free(j);
	memset(&m.states[0].trans[0], 0, sizeof(m.states[0].trans[0]));
	daita_machine_free(&m);
}

int main(void)
{
	test_vector_machines();
	test_vector_invalid();
	test_varints();
	test_bincode_hostile();
	test_zlib_hostile();
	test_string_length_cap();
	test_base64();
	test_dist_rules();
	test_machine_rules();
	test_json_numbers();
	return test_finish("daita_machine");
}
