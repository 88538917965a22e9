/* Handshake rate limiter: see ratelimiter.h.
 *
 * Tokens are kept in nanoseconds of credit: a packet costs 1 s / 20 = 50 ms and the bucket
 * holds at most 5 packets' worth. Entries live in one array reserved up front (a free list
 * recycles them), chained into hash buckets by index, and threaded on a list ordered by last
 * use: since time never goes backwards, GC only ever looks at the head of that list. */
#include "proto/ratelimiter.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define PACKET_COST (WG_NS_PER_SEC / WG_RATELIMITER_PACKETS_PER_SECOND)
#define TOKEN_MAX (PACKET_COST * WG_RATELIMITER_BURST)
#define NIL UINT32_MAX
#define ENTRIES_PER_BUCKET 8 /* kernel's ratio of max entries to buckets */

typedef struct {
	uint64_t key; /* IPv4 address, or the upper 64 bits of an IPv6 address */
	wg_time_ns last;
	uint64_t tokens; /* ns of credit, <= TOKEN_MAX */
	uint32_t chain;  /* next in bucket (or in the free list) */
	uint32_t prev, next; /* by last use, oldest first */
	uint8_t family;
} rl_entry;

struct ratelimiter {
	uint64_t hashkey[2];
	uint32_t max_entries, bucket_mask;
	uint32_t count, high_water, free_head;
	uint32_t oldest, newest;
	wg_time_ns now;
	uint32_t *buckets;
	rl_entry *entries;
};

/* ---- SipHash-2-4 ---- */

static uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static void sip_round(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = rotl(v[1], 13) ^ v[0];
	v[0] = rotl(v[0], 32);
	v[2] += v[3];
	v[3] = rotl(v[3], 16) ^ v[2];
	v[0] += v[3];
	v[3] = rotl(v[3], 21) ^ v[0];
	v[2] += v[1];
	v[1] = rotl(v[1], 17) ^ v[2];
	v[2] = rotl(v[2], 32);
}

static uint64_t load_le64(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

uint64_t wg_siphash24(const uint64_t key[2], const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t v[4] = { key[0] ^ 0x736f6d6570736575ULL, key[1] ^ 0x646f72616e646f6dULL,
			  key[0] ^ 0x6c7967656e657261ULL, key[1] ^ 0x7465646279746573ULL };
	uint64_t m;
	size_t off;

	for (off = 0; off + 8 <= len; off += 8) {
		m = load_le64(p + off, 8);
		v[3] ^= m;
		sip_round(v);
		sip_round(v);
		v[0] ^= m;
	}
	m = load_le64(p + off, len - off) | ((uint64_t)(len & 0xff) << 56);
	v[3] ^= m;
	sip_round(v);
	sip_round(v);
	v[0] ^= m;
	v[2] ^= 0xff;
	for (int i = 0; i < 4; i++)
		sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* ---- table ---- */

ratelimiter *ratelimiter_new(const wg_rng *rng, uint32_t max_entries)
{
	ratelimiter *rl;
	uint32_t nbuckets = 1;

	if (!rng || !rng->fill || max_entries == 0 || max_entries > WG_RATELIMITER_MAX_ENTRIES)
		return NULL;
	while (nbuckets * ENTRIES_PER_BUCKET < max_entries)
		nbuckets *= 2;
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return NULL;
	if (wg_rng_fill(rng, rl->hashkey, sizeof(rl->hashkey)) != 0) {
		ratelimiter_free(rl); /* a known hash key would let sources pick their buckets */
		return NULL;
	}
	rl->max_entries = max_entries;
	rl->bucket_mask = nbuckets - 1;
	rl->free_head = rl->oldest = rl->newest = NIL;
	return rl; /* the tables come with the first source (tables_alloc) */
}

/* The tables, made when the first source asks: a device asks only under load, so an idle
 * one never holds the buckets (32 KiB at WG_RATELIMITER_MAX_ENTRIES, all written to NIL) nor
 * the entry array's 2.6 MB of address space. false, and nothing kept, on no memory. */
static bool tables_alloc(ratelimiter *rl)
{
	size_t nbuckets = (size_t)rl->bucket_mask + 1;

	/* calloc: pages of the entry array are only touched as the high-water mark rises. */
	rl->entries = calloc(rl->max_entries, sizeof(*rl->entries));
	rl->buckets = malloc(nbuckets * sizeof(*rl->buckets));
	if (!rl->entries || !rl->buckets) {
		free(rl->entries);
		free(rl->buckets);
		rl->entries = NULL;
		rl->buckets = NULL;
		return false;
	}
	memset(rl->buckets, 0xff, nbuckets * sizeof(*rl->buckets)); /* all NIL */
	return true;
}

void ratelimiter_free(ratelimiter *rl)
{
	if (!rl)
		return;
	free(rl->entries);
	free(rl->buckets);
	free(rl);
}

uint32_t ratelimiter_count(const ratelimiter *rl)
{
	return rl->count;
}

static uint32_t bucket_of(const ratelimiter *rl, uint64_t key, uint8_t family)
{
	uint8_t in[9];

	for (int i = 0; i < 8; i++)
		in[i] = (uint8_t)(key >> (8 * i));
	in[8] = family;
	return (uint32_t)wg_siphash24(rl->hashkey, in, sizeof(in)) & rl->bucket_mask;
}

static void order_unlink(ratelimiter *rl, uint32_t i)
{
	rl_entry *e = &rl->entries[i];

	if (e->prev != NIL)
		rl->entries[e->prev].next = e->next;
	else
		rl->oldest = e->next;
	if (e->next != NIL)
		rl->entries[e->next].prev = e->prev;
	else
		rl->newest = e->prev;
}

static void order_append(ratelimiter *rl, uint32_t i)
{
	rl_entry *e = &rl->entries[i];

	e->prev = rl->newest;
	e->next = NIL;
	if (rl->newest != NIL)
		rl->entries[rl->newest].next = i;
	else
		rl->oldest = i;
	rl->newest = i;
}

static void entry_release(ratelimiter *rl, uint32_t i)
{
	rl_entry *e = &rl->entries[i];
	uint32_t *link = &rl->buckets[bucket_of(rl, e->key, e->family)];

	while (*link != i)
		link = &rl->entries[*link].chain;
	*link = e->chain;
	order_unlink(rl, i);
	e->chain = rl->free_head;
	rl->free_head = i;
	rl->count--;
}

/* Drops idle entries, oldest first, at most `budget` of them. */
static void gc(ratelimiter *rl, uint32_t budget)
{
	while (budget-- && rl->oldest != NIL &&
	       rl->now - rl->entries[rl->oldest].last > WG_RATELIMITER_IDLE_NS)
		entry_release(rl, rl->oldest);
}

void ratelimiter_gc(ratelimiter *rl, wg_time_ns now)
{
	if (now > rl->now)
		rl->now = now;
	gc(rl, UINT32_MAX);
}

static bool source_key(int family, const uint8_t *addr, uint64_t *key, uint8_t *fam)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (!addr)
		return false;
	if (family == AF_INET6 && memcmp(addr, v4mapped, sizeof(v4mapped)) == 0) {
		family = AF_INET;
		addr += sizeof(v4mapped);
	}
	if (family == AF_INET) {
		*key = load_le64(addr, 4);
		*fam = 4;
	} else if (family == AF_INET6) {
		*key = load_le64(addr, 8); /* the /64 */
		*fam = 6;
	} else {
		return false;
	}
	return true;
}

static uint32_t entry_new(ratelimiter *rl, uint32_t bucket, uint64_t key, uint8_t fam)
{
	uint32_t i;
	rl_entry *e;

	if (rl->count == rl->max_entries)
		gc(rl, UINT32_MAX);
	if (rl->count == rl->max_entries)
		return NIL; /* full of active sources: refuse the newcomer */
	if (rl->free_head != NIL) {
		i = rl->free_head;
		rl->free_head = rl->entries[i].chain;
	} else {
		i = rl->high_water++;
	}
	e = &rl->entries[i];
	e->key = key;
	e->family = fam;
	e->last = rl->now;
	e->tokens = TOKEN_MAX - PACKET_COST; /* this packet is the first one spent */
	e->chain = rl->buckets[bucket];
	rl->buckets[bucket] = i;
	order_append(rl, i);
	rl->count++;
	return i;
}

bool ratelimiter_allow(ratelimiter *rl, wg_time_ns now, int family, const uint8_t *addr)
{
	uint64_t key, tokens;
	uint32_t bucket, i;
	uint8_t fam;
	rl_entry *e;

	if (!source_key(family, addr, &key, &fam))
		return false;
	if (!rl->buckets && !tables_alloc(rl))
		return false; /* no memory: refused like a full table; the next call tries again */
	if (now > rl->now)
		rl->now = now;
	gc(rl, WG_RATELIMITER_GC_BATCH);

	bucket = bucket_of(rl, key, fam);
	for (i = rl->buckets[bucket]; i != NIL; i = rl->entries[i].chain)
		if (rl->entries[i].key == key && rl->entries[i].family == fam)
			break;
	if (i == NIL)
		return entry_new(rl, bucket, key, fam) != NIL;

	e = &rl->entries[i];
	tokens = e->tokens + (rl->now - e->last);
	if (tokens > TOKEN_MAX || tokens < e->tokens) /* cap, and guard the addition */
		tokens = TOKEN_MAX;
	e->last = rl->now;
	order_unlink(rl, i);
	order_append(rl, i);
	if (tokens < PACKET_COST) {
		e->tokens = tokens;
		return false;
	}
	e->tokens = tokens - PACKET_COST;
	return true;
}
