/* Peer tables of a device: peers by public key, creation order, the device-wide receiver
 * index table (the tunnels' wg_index_ops) and the min-heap of timer deadlines. */
#define _GNU_SOURCE
#include "device/device_impl.h"

#include "crypto/crypto.h"
#include "proto/logline.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEER_TABLE_MIN_BUCKETS 16
#define INDEX_TABLE_MIN_BUCKETS 64

void device_log(device *dev, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	wg_log_vprintf(dev->params.log, dev->params.ctx, level, fmt, ap);
	va_end(ap);
}

void device_emit(device *dev, device_event_type type, const uint8_t *pub, int error)
{
	device_event ev = { .type = type, .peer_public_key = pub, .error = error };

	if (dev->params.event)
		dev->params.event(dev->params.ctx, &ev);
}

/* Public keys are chosen by whoever configures the device, and lookups with attacker-chosen
 * keys only walk configured entries, so a plain mix of the key bytes is enough. */
static size_t peer_hash(const uint8_t key[32])
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (int i = 0; i < 32; i++)
		h = (h ^ key[i]) * 0x100000001b3ULL;
	return (size_t)(h ^ (h >> 32));
}

static size_t pow2_at_least(size_t n, size_t min)
{
	size_t v = min;

	while (v < n)
		v <<= 1;
	return v;
}

/* Config lock exclusive. */
int device_tables_reserve(device *dev, size_t npeers)
{
	size_t nb = pow2_at_least(npeers, PEER_TABLE_MIN_BUCKETS);
	size_t nib = pow2_at_least(npeers * 4, INDEX_TABLE_MIN_BUCKETS);
	peer **buckets = NULL, **heap = NULL;
	device_index_entry **ib = NULL;

	if (npeers > WG_CONFIG_MAX_PEERS)
		return -EINVAL;
	if (nb > dev->peers.nbuckets && !(buckets = calloc(nb, sizeof(*buckets))))
		goto nomem;
	if (nib > dev->nibuckets && !(ib = calloc(nib, sizeof(*ib))))
		goto nomem;
	if (npeers > dev->heap_cap) {
		size_t cap = pow2_at_least(npeers, PEER_TABLE_MIN_BUCKETS);
		heap = realloc(dev->heap, cap * sizeof(*heap));
		if (!heap)
			goto nomem;
		dev->heap = heap; /* contents kept; only the capacity grew */
		dev->heap_cap = cap;
	}
	if (buckets) {
		for (size_t i = 0; i < dev->peers.nbuckets; i++) {
			peer *p = dev->peers.buckets[i], *next;
			for (; p; p = next) {
				size_t h = peer_hash(p->public_key) & (nb - 1);
				next = p->hash_next;
				p->hash_next = buckets[h];
				buckets[h] = p;
			}
		}
		free(dev->peers.buckets);
		dev->peers.buckets = buckets;
		dev->peers.nbuckets = nb;
	}
	if (ib) {
		pthread_mutex_lock(&dev->index_lock);
		for (size_t i = 0; i < dev->nibuckets; i++) {
			device_index_entry *e = dev->ibuckets[i], *next;
			for (; e; e = next) {
				size_t h = e->key & (nib - 1);
				next = e->next;
				e->next = ib[h];
				ib[h] = e;
			}
		}
		free(dev->ibuckets);
		dev->ibuckets = ib;
		dev->nibuckets = nib;
		pthread_mutex_unlock(&dev->index_lock);
	}
	return 0;
nomem:
	free(buckets);
	free(ib);
	return -ENOMEM;
}

/* Config lock held (either mode). */
peer *device_peer_find(device *dev, const uint8_t public_key[32])
{
	peer *p;

	if (!dev->peers.nbuckets)
		return NULL;
	p = dev->peers.buckets[peer_hash(public_key) & (dev->peers.nbuckets - 1)];
	for (; p; p = p->hash_next)
		if (crypto_equal(p->public_key, public_key, 32))
			return p;
	return NULL;
}

/* ---- receiver indices ---- */

static int index_alloc(void *ctx, wg_tunnel *t, uint32_t *out)
{
	peer *p = ctx;
	device *dev = p->dev;
	device_index_entry *slot = NULL, *e;
	uint32_t key;
	size_t h;

	(void)t;
	pthread_mutex_lock(&dev->index_lock);
	for (int i = 0; i < DEVICE_INDICES_PER_PEER && !slot; i++)
		if (!p->idx[i].used)
			slot = &p->idx[i];
	if (!slot || !dev->nibuckets) {
		pthread_mutex_unlock(&dev->index_lock);
		goto fail;
	}
	/* Random indices keep them unguessable to off-path attackers; redraw on collision. A
	 * working RNG collides with at most WG_CONFIG_MAX_PEERS * 8 / 2^32 per draw, so
	 * DEVICE_INDEX_DRAWS failures in a row mean a broken one (constant output): give up
	 * rather than spin with the index lock held. */
	for (int i = 0;; i++) {
		if (i == DEVICE_INDEX_DRAWS) {
			pthread_mutex_unlock(&dev->index_lock);
			goto fail;
		}
		if (wg_rng_u32(&dev->rng, &key) != 0) {
			pthread_mutex_unlock(&dev->index_lock);
			goto fail;
		}
		h = key & (dev->nibuckets - 1);
		for (e = dev->ibuckets[h]; e && e->key != key; e = e->next)
			;
		if (!e)
			break;
	}
	slot->key = key;
	slot->used = true;
	slot->owner = p;
	slot->next = dev->ibuckets[h];
	dev->ibuckets[h] = slot;
	pthread_mutex_unlock(&dev->index_lock);
	*out = key;
	return 0;
fail:
	/* The tunnel drops the handshake that needed the index. */
	DEVICE_STAT_INC(dev, handshake_no_index);
	return -1;
}

static void index_release(void *ctx, uint32_t key)
{
	peer *p = ctx;
	device *dev = p->dev;
	device_index_entry **pp;

	pthread_mutex_lock(&dev->index_lock);
	if (dev->nibuckets) {
		for (pp = &dev->ibuckets[key & (dev->nibuckets - 1)]; *pp; pp = &(*pp)->next) {
			if ((*pp)->key == key && (*pp)->owner == p) {
				device_index_entry *e = *pp;
				*pp = e->next;
				e->used = false;
				e->owner = NULL;
				e->next = NULL;
				break;
			}
		}
	}
	pthread_mutex_unlock(&dev->index_lock);
}

wg_index_ops device_index_ops(peer *p)
{
	wg_index_ops ops = { .alloc = index_alloc, .release = index_release, .ctx = p };
	return ops;
}

peer *device_index_lookup(device *dev, uint32_t key)
{
	device_index_entry *e;
	peer *p = NULL;

	pthread_mutex_lock(&dev->index_lock);
	if (dev->nibuckets)
		for (e = dev->ibuckets[key & (dev->nibuckets - 1)]; e; e = e->next)
			if (e->key == key) {
				p = e->owner;
				break;
			}
	pthread_mutex_unlock(&dev->index_lock);
	return p;
}

/* ---- deadline heap (loop thread, or config lock exclusive) ---- */

static void heap_swap(device *dev, size_t a, size_t b)
{
	peer *t = dev->heap[a];

	dev->heap[a] = dev->heap[b];
	dev->heap[b] = t;
	dev->heap[a]->heap_pos = a;
	dev->heap[b]->heap_pos = b;
}

static void heap_fix(device *dev, size_t i)
{
	size_t n = dev->peers.count;

	while (i > 0 && dev->heap[(i - 1) / 2]->deadline > dev->heap[i]->deadline) {
		heap_swap(dev, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && dev->heap[l]->deadline < dev->heap[m]->deadline)
			m = l;
		if (r < n && dev->heap[r]->deadline < dev->heap[m]->deadline)
			m = r;
		if (m == i)
			break;
		heap_swap(dev, i, m);
		i = m;
	}
}

void device_peer_update_deadline(device *dev, peer *p)
{
	wg_time_ns d = wg_tunnel_next_deadline(p->tun);

	if (d == p->deadline)
		return;
	p->deadline = d;
	heap_fix(dev, p->heap_pos);
}

peer *device_heap_top(device *dev)
{
	return dev->peers.count ? dev->heap[0] : NULL;
}

/* ---- peer lifecycle ---- */

peer *device_peer_new(device *dev, const uint8_t public_key[32], wg_time_ns now)
{
	wg_tunnel_config cfg;
	peer *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->dev = dev;
	memcpy(p->public_key, public_key, 32);
	if (pthread_mutex_init(&p->lock, NULL) != 0) {
		free(p);
		return NULL;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.identity = &dev->identity;
	memcpy(cfg.peer_public_key, public_key, 32);
	cfg.mtu = atomic_load(&dev->mtu);
	cfg.rng = dev->rng;
	cfg.wall = dev->wall;
	cfg.index = device_index_ops(p);
	p->tun = wg_tunnel_new(&cfg, now);
	crypto_wipe(&cfg, sizeof(cfg));
	if (!p->tun) {
		pthread_mutex_destroy(&p->lock);
		free(p);
		return NULL;
	}
	p->deadline = WG_TIME_NEVER;
	return p;
}

/* Config lock exclusive; tables reserved for one more peer. */
void device_peer_link(device *dev, peer *p)
{
	size_t h = peer_hash(p->public_key) & (dev->peers.nbuckets - 1);

	p->hash_next = dev->peers.buckets[h];
	dev->peers.buckets[h] = p;
	p->created_seq = dev->next_seq++;
	p->linked = true;
	p->prev = dev->last;
	p->next = NULL;
	if (dev->last)
		dev->last->next = p;
	else
		dev->first = p;
	dev->last = p;
	p->heap_pos = dev->peers.count;
	dev->heap[dev->peers.count++] = p;
	p->deadline = wg_tunnel_next_deadline(p->tun);
	heap_fix(dev, p->heap_pos);
}

void device_peer_destroy(peer *p)
{
	if (!p)
		return;
	wg_tunnel_free(p->tun); /* wipes keys and releases every index through the ops */
	pthread_mutex_destroy(&p->lock);
	crypto_wipe(p, sizeof(*p));
	free(p);
}

/* Config lock exclusive. */
static void peer_unlink(device *dev, peer *p)
{
	peer **pp = &dev->peers.buckets[peer_hash(p->public_key) & (dev->peers.nbuckets - 1)];
	size_t last;

	for (; *pp; pp = &(*pp)->hash_next)
		if (*pp == p) {
			*pp = p->hash_next;
			break;
		}
	if (p->prev)
		p->prev->next = p->next;
	else
		dev->first = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		dev->last = p->prev;
	last = --dev->peers.count;
	if (p->heap_pos != last) {
		size_t pos = p->heap_pos;
		dev->heap[pos] = dev->heap[last];
		dev->heap[pos]->heap_pos = pos;
		heap_fix(dev, pos);
	}
	allowedips_remove_by_peer(&dev->aips, p);
	p->linked = false;
}

/* Config lock exclusive. */
void device_peer_remove(device *dev, peer *p)
{
	if (p->linked)
		peer_unlink(dev, p);
	device_peer_destroy(p);
}

void device_forget_sources(device *dev)
{
	for (peer *p = dev->first; p; p = p->next)
		memset(&p->src, 0, sizeof(p->src));
}
