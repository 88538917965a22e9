/* Allowed IPs differential fuzzer: the input is a program of insert / remove / remove-by-peer
 * / lookup / walk / allocation-failure operations, run on the trie and on the naive linear
 * model (tests/unit/allowedips_model.h); any disagreement aborts.
 *
 * Encoding, repeated until the input ends:
 *   op byte (op % 8), then per op:
 *   0,1 insert / 2 remove:  hdr, cidr, addr bytes   (hdr: bit0 family v6, bits1-3 peer,
 *                                                      bits4-7 count of address bytes given,
 *                                                      v4: n % 5, v6: n, 15 = all 16; the
 *                                                      rest of the address is zero)
 *   3 remove_by_peer:       hdr
 *   4 lookup:               hdr, addr bytes (as above, no cidr)
 *   5 lookup near a stored prefix: index byte, host-bits byte
 *   6 walk one peer and compare in order: hdr
 *   7 next insert may allocate only (byte % 3) times: byte */
#include "../unit/allowedips_model.h"
#include "proto/allowedips.h"

#include <errno.h>
#include <stdlib.h>

#define NPEERS 8
static int peer_ids[NPEERS];
#define PEER(i) ((void *)&peer_ids[(i)])

static long budget = -1;

static void *fuzz_alloc(size_t n)
{
	if (budget == 0)
		return NULL;
	if (budget > 0)
		budget--;
	return malloc(n);
}

typedef struct {
	const uint8_t *p;
	size_t n;
} input;

static bool take(input *in, uint8_t *b)
{
	if (!in->n)
		return false;
	*b = *in->p++;
	in->n--;
	return true;
}

/* Reads hdr-described address bytes; returns false at end of input. */
static bool take_addr(input *in, uint8_t hdr, int *fam, uint8_t addr[16])
{
	unsigned len, given;

	*fam = (hdr & 1) ? AF_INET6 : AF_INET;
	len = *fam == AF_INET ? 4 : 16;
	given = hdr >> 4;
	given = len == 4 ? given % 5 : (given == 15 ? 16 : given);
	memset(addr, 0, 16);
	for (unsigned i = 0; i < given; i++)
		if (!take(in, &addr[i]))
			return false;
	return true;
}

typedef struct {
	const model *m;
	const void *peer;
	int k;
} walk_ctx;

static int walk_cmp(void *ctx, int family, const uint8_t *addr, uint8_t cidr)
{
	walk_ctx *w = ctx;
	uint8_t full[16] = { 0 };

	memcpy(full, addr, family == AF_INET ? 4 : 16);
	while (w->k < w->m->n && w->m->e[w->k].peer != w->peer)
		w->k++;
	if (w->k == w->m->n)
		abort(); /* the trie has more prefixes for this peer */
	const model_entry *e = &w->m->e[w->k++];
	if (e->family != family || e->cidr != cidr || memcmp(e->addr, full, 16) != 0)
		abort(); /* different prefix, or a different order */
	return 0;
}

static void check_walk(const allowedips *t, const model *m, const void *peer)
{
	walk_ctx w = { m, peer, 0 };

	if (allowedips_walk_by_peer(t, peer, walk_cmp, &w) != 0)
		abort();
	while (w.k < m->n) /* the model must have no further prefix of this peer */
		if (m->e[w.k++].peer == peer)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static model m;
	allowedips t;
	input in = { data, size };
	uint8_t op, hdr, cidr, b, addr[16];
	int fam, rc;

	m.n = 0;
	allowedips_init(&t);
	t.mem_alloc = fuzz_alloc;
	budget = -1;
	while (take(&in, &op)) {
		switch (op % 8) {
		case 0:
		case 1:
			if (!take(&in, &hdr) || !take(&in, &cidr) || !take_addr(&in, hdr, &fam, addr))
				goto out;
			cidr = (uint8_t)(cidr % (fam == AF_INET ? 33 : 129));
			if (m.n == MODEL_MAX && model_find(&m, fam, addr, cidr) < 0)
				break; /* the model is full; the trie is not the subject here */
			rc = allowedips_insert(&t, fam, addr, cidr, PEER((hdr >> 1) & 7));
			budget = -1;
			if (rc == 0)
				model_insert(&m, fam, addr, cidr, PEER((hdr >> 1) & 7));
			else if (rc != -ENOMEM)
				abort();
			break;
		case 2:
			if (!take(&in, &hdr) || !take(&in, &cidr) || !take_addr(&in, hdr, &fam, addr))
				goto out;
			cidr = (uint8_t)(cidr % (fam == AF_INET ? 33 : 129));
			rc = allowedips_remove(&t, fam, addr, cidr, PEER((hdr >> 1) & 7));
			if ((rc == 0) != model_remove(&m, fam, addr, cidr, PEER((hdr >> 1) & 7)) ||
			    (rc != 0 && rc != -ENOENT))
				abort();
			break;
		case 3:
			if (!take(&in, &hdr))
				goto out;
			if (allowedips_remove_by_peer(&t, PEER((hdr >> 1) & 7)) !=
			    (size_t)model_remove_by_peer(&m, PEER((hdr >> 1) & 7)))
				abort();
			break;
		case 4:
			if (!take(&in, &hdr) || !take_addr(&in, hdr, &fam, addr))
				goto out;
			if (allowedips_lookup(&t, fam, addr) != model_lookup(&m, fam, addr))
				abort();
			break;
		case 5:
			if (!take(&in, &b) || !take(&in, &hdr))
				goto out;
			if (!m.n)
				break;
			{
				const model_entry *e = &m.e[b % m.n];
				memcpy(addr, e->addr, 16);
				addr[(e->family == AF_INET ? 3 : 15)] ^= hdr;
				if (allowedips_lookup(&t, e->family, addr) !=
				    model_lookup(&m, e->family, addr))
					abort();
			}
			break;
		case 6:
			if (!take(&in, &hdr))
				goto out;
			check_walk(&t, &m, PEER((hdr >> 1) & 7));
			break;
		default:
			if (!take(&in, &b))
				goto out;
			budget = b % 3;
			break;
		}
		if (allowedips_count(&t, AF_INET) != (size_t)model_count(&m, AF_INET) ||
		    allowedips_count(&t, AF_INET6) != (size_t)model_count(&m, AF_INET6))
			abort();
	}
out:
	budget = -1;
	/* Every stored prefix resolves as the model says, and every peer's list matches. */
	for (int i = 0; i < m.n; i++) {
		memcpy(addr, m.e[i].addr, 16);
		if (allowedips_lookup(&t, m.e[i].family, addr) != model_lookup(&m, m.e[i].family, addr))
			abort();
	}
	for (int p = 0; p < NPEERS; p++)
		check_walk(&t, &m, PEER(p));
	allowedips_free(&t); /* LeakSanitizer checks that every node went */
	return 0;
}
