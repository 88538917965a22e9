/* Deliberately naive allowed-IPs reference for differential tests (unit test and fuzzer):
 * an insertion-ordered array, scanned linearly for the longest matching prefix. Shares no code
 * with src/proto/allowedips.c. */
#ifndef WGTUN_TEST_ALLOWEDIPS_MODEL_H
#define WGTUN_TEST_ALLOWEDIPS_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#define MODEL_MAX 1024

typedef struct {
	int family;
	uint8_t addr[16]; /* masked; v4 uses the first 4 bytes */
	uint8_t cidr;
	void *peer;
} model_entry;

typedef struct {
	model_entry e[MODEL_MAX];
	int n;
} model;

static inline void model_mask(uint8_t *out, const uint8_t *addr, int family, unsigned cidr)
{
	unsigned len = family == AF_INET ? 4 : 16;

	memset(out, 0, 16);
	for (unsigned i = 0; i < len; i++) {
		if (cidr >= 8 * (i + 1))
			out[i] = addr[i];
		else if (cidr > 8 * i)
			out[i] = (uint8_t)(addr[i] & (0xff00u >> (cidr - 8 * i)));
	}
}

static inline bool model_matches(const model_entry *e, int family, const uint8_t *addr)
{
	unsigned full = e->cidr / 8, rem = e->cidr % 8;

	if (e->family != family)
		return false;
	for (unsigned i = 0; i < full; i++) /* a plain loop: no sanitizer interceptor per entry */
		if (addr[i] != e->addr[i])
			return false;
	return rem == 0 || ((addr[full] ^ e->addr[full]) & (0xff00u >> rem) & 0xff) == 0;
}

static inline int model_find(const model *m, int family, const uint8_t *addr, unsigned cidr)
{
	uint8_t k[16];

	model_mask(k, addr, family, cidr);
	for (int i = 0; i < m->n; i++)
		if (m->e[i].family == family && m->e[i].cidr == cidr && !memcmp(m->e[i].addr, k, 16))
			return i;
	return -1;
}

static inline void model_delete(model *m, int i)
{
	memmove(&m->e[i], &m->e[i + 1], (size_t)(m->n - i - 1) * sizeof(m->e[0]));
	m->n--;
}

/* Returns false only when the model is full (the caller avoids that). A move re-appends. */
static inline bool model_insert(model *m, int family, const uint8_t *addr, unsigned cidr, void *peer)
{
	int i = model_find(m, family, addr, cidr);

	if (i >= 0) {
		if (m->e[i].peer == peer)
			return true;
		model_delete(m, i);
	}
	if (m->n == MODEL_MAX)
		return false;
	m->e[m->n].family = family;
	model_mask(m->e[m->n].addr, addr, family, cidr);
	m->e[m->n].cidr = (uint8_t)cidr;
	m->e[m->n].peer = peer;
	m->n++;
	return true;
}

static inline bool model_remove(model *m, int family, const uint8_t *addr, unsigned cidr,
				const void *peer)
{
	int i = model_find(m, family, addr, cidr);

	if (i < 0 || m->e[i].peer != peer)
		return false;
	model_delete(m, i);
	return true;
}

static inline int model_remove_by_peer(model *m, const void *peer)
{
	int removed = 0;

	for (int i = 0; i < m->n;) {
		if (m->e[i].peer == peer) {
			model_delete(m, i);
			removed++;
		} else {
			i++;
		}
	}
	return removed;
}

static inline void *model_lookup(const model *m, int family, const uint8_t *addr)
{
	int best = -1;

	for (int i = 0; i < m->n; i++)
		if (model_matches(&m->e[i], family, addr) && (best < 0 || m->e[i].cidr > m->e[best].cidr))
			best = i;
	return best < 0 ? NULL : m->e[best].peer;
}

static inline int model_count(const model *m, int family)
{
	int c = 0;
	for (int i = 0; i < m->n; i++)
		c += m->e[i].family == family;
	return c;
}

#endif
