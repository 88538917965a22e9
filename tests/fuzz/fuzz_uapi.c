/* Fuzzes the UAPI framing and set parser with arbitrary bytes fed in arbitrary chunks. Every
 * accepted set is applied to a naive device model, serialized, turned back into a set, parsed,
 * applied to a fresh model and serialized again: both texts must be equal (the parser accepts
 * everything the serializer writes, and loses nothing). */
#include "uapi/uapi.h"

#include "uapi_fake.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_roundtrip(const wg_config_info *d)
{
	wg_config_info d2;
	wg_config_change c;
	char *g1, *g2, *set;
	size_t l1, l2;

	memset(&d2, 0, sizeof(d2));
	if (uapi_format_get(d, &g1, &l1) != 0)
		abort();
	if (strlen(g1) != l1)
		abort();
	set = fake_get_to_set(g1, l1);
	if (!set)
		abort();
	if (uapi_parse_set(set, strlen(set), NULL, &c) != 0)
		abort(); /* the serializer wrote something the parser refuses */
	if (fake_apply(&d2, &c) != 0)
		abort();
	if (uapi_format_get(&d2, &g2, &l2) != 0)
		abort();
	if (l1 != l2 || memcmp(g1, g2, l1) != 0)
		abort();
	wg_config_change_clear(&c);
	wg_config_info_clear(&d2);
	free(set);
	free(g1);
	free(g2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	wg_config_info model;
	wg_config_change whole;
	uapi_conn conn;
	uapi_event ev;
	size_t chunk, pos = 0;
	bool closed = false;

	if (size < 1)
		return 0;
	/* first byte: chunk size (1..256) so that every split point gets exercised */
	chunk = (size_t)data[0] + 1;
	data++;
	size--;

	/* the whole-body parser must never crash either */
	if (uapi_parse_set((const char *)data, size, NULL, &whole) == 0)
		wg_config_change_clear(&whole);

	memset(&model, 0, sizeof(model));
	/* small bounds so that the bound paths are reached with small inputs */
	uapi_conn_init(&conn, 200, 2000, NULL);
	while (pos < size && !closed) {
		size_t n = size - pos < chunk ? size - pos : chunk;
		size_t used = 0;
		while (used < n && !closed) {
			used += uapi_conn_feed(&conn, data + pos + used, n - used, &ev);
			if (ev.type == UAPI_EV_SET) {
				if (fake_apply(&model, &ev.change) != 0)
					abort();
				check_roundtrip(&model);
			} else if (ev.type == UAPI_EV_GET) {
				check_roundtrip(&model);
			} else if (ev.type == UAPI_EV_ERROR) {
				if (ev.err >= 0)
					abort();
			} else if (ev.type == UAPI_EV_CLOSE) {
				closed = true;
			}
			wg_config_change_clear(&ev.change);
		}
		pos += n;
	}
	if (!closed) {
		uapi_conn_eof(&conn, &ev);
		if (ev.type == UAPI_EV_SET && fake_apply(&model, &ev.change) == 0)
			check_roundtrip(&model);
		wg_config_change_clear(&ev.change);
	}
	uapi_conn_clear(&conn);
	wg_config_info_clear(&model);
	return 0;
}
