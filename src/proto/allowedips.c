/* Allowed IPs: a path-compressed binary trie per family (see allowedips.h).
 *
 * Keys are held as two 64-bit words, most significant bit first (IPv4 in the top 32 bits of
 * hi), so both families share one code path. A node is either a prefix (peer != NULL) or a
 * branch (peer == NULL), and a branch always has two children: that keeps the node count
 * below twice the prefix count and makes removal local. Each prefix node is also on its
 * peer's list (found through a small pointer-keyed hash table), so walking or removing one
 * peer's prefixes never scans the whole trie. */
#include "proto/allowedips.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct {
	uint64_t hi, lo;
} ipkey;

struct allowedips_node {
	struct allowedips_node *child[2];
	struct allowedips_node *parent;
	void *peer; /* NULL = branch */
	struct allowedips_node *peer_prev, *peer_next;
	ipkey key;     /* masked to cidr */
	uint8_t cidr;
	uint8_t maxbits; /* 32 or 128: the family */
};

struct allowedips_peerslot {
	const void *peer; /* NULL = empty slot */
	struct allowedips_node *head, *tail;
};

#define PEERMAP_MIN_CAP 16

/* ---- keys ---- */

static uint64_t load_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void store_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static ipkey key_from_bytes(int family, const uint8_t *addr)
{
	ipkey k = { 0, 0 };

	if (family == AF_INET) {
		k.hi = (uint64_t)addr[0] << 56 | (uint64_t)addr[1] << 48 | (uint64_t)addr[2] << 40 |
		       (uint64_t)addr[3] << 32;
	} else {
		k.hi = load_be64(addr);
		k.lo = load_be64(addr + 8);
	}
	return k;
}

static ipkey key_mask(ipkey k, unsigned cidr)
{
	if (cidr == 0) {
		k.hi = k.lo = 0;
	} else if (cidr <= 64) {
		k.hi &= ~0ULL << (64 - cidr);
		k.lo = 0;
	} else {
		k.lo &= ~0ULL << (128 - cidr);
	}
	return k;
}

static bool key_eq(ipkey a, ipkey b)
{
	return a.hi == b.hi && a.lo == b.lo;
}

/* Bit i (0 = most significant); i < 128. */
static unsigned key_bit(ipkey k, unsigned i)
{
	return i < 64 ? (unsigned)(k.hi >> (63 - i)) & 1 : (unsigned)(k.lo >> (127 - i)) & 1;
}

static unsigned key_common_bits(ipkey a, ipkey b)
{
	uint64_t x = a.hi ^ b.hi;

	if (x)
		return (unsigned)__builtin_clzll(x);
	x = a.lo ^ b.lo;
	return x ? 64 + (unsigned)__builtin_clzll(x) : 128;
}

static bool family_ok(int family, unsigned *maxbits)
{
	if (family == AF_INET)
		*maxbits = 32;
	else if (family == AF_INET6)
		*maxbits = 128;
	else
		return false;
	return true;
}

static struct allowedips_node **root_of(allowedips *t, unsigned maxbits)
{
	return maxbits == 32 ? &t->root4 : &t->root6;
}

static size_t *count_of(allowedips *t, unsigned maxbits)
{
	return maxbits == 32 ? &t->count4 : &t->count6;
}

/* ---- peer map: open addressing, linear probing, load <= 1/2 ---- */

static size_t peermap_home(const allowedips *t, const void *peer)
{
	uint64_t h = (uint64_t)(uintptr_t)peer * 0x9e3779b97f4a7c15ULL;
	return (size_t)(h >> 32) & (t->peers_cap - 1);
}

static struct allowedips_peerslot *peermap_find(const allowedips *t, const void *peer)
{
	if (!t->peers_cap)
		return NULL;
	for (size_t i = peermap_home(t, peer);; i = (i + 1) & (t->peers_cap - 1)) {
		if (t->peers[i].peer == peer)
			return &t->peers[i];
		if (!t->peers[i].peer)
			return NULL;
	}
}

/* Makes room for one more peer; the only step of an insert besides node allocation that
 * can fail, and it changes no observable state. */
static int peermap_reserve(allowedips *t)
{
	struct allowedips_peerslot *old = t->peers, *nw;
	size_t old_cap = t->peers_cap, cap;

	if ((t->peers_used + 1) * 2 <= old_cap)
		return 0;
	cap = old_cap ? old_cap * 2 : PEERMAP_MIN_CAP;
	nw = t->mem_alloc(cap * sizeof(*nw));
	if (!nw)
		return -ENOMEM;
	memset(nw, 0, cap * sizeof(*nw));
	t->peers = nw;
	t->peers_cap = cap;
	for (size_t i = 0; i < old_cap; i++) {
		if (!old[i].peer)
			continue;
		size_t j = peermap_home(t, old[i].peer);
		while (nw[j].peer)
			j = (j + 1) & (cap - 1);
		nw[j] = old[i];
	}
	t->mem_free(old);
	return 0;
}

/* Slot for peer, created if absent; room must have been reserved. */
static struct allowedips_peerslot *peermap_get(allowedips *t, const void *peer)
{
	size_t i = peermap_home(t, peer);

	while (t->peers[i].peer && t->peers[i].peer != peer)
		i = (i + 1) & (t->peers_cap - 1);
	if (!t->peers[i].peer) {
		t->peers[i].peer = peer;
		t->peers[i].head = t->peers[i].tail = NULL;
		t->peers_used++;
	}
	return &t->peers[i];
}

/* Backward-shift deletion keeps every probe chain unbroken without tombstones. */
static void peermap_delete(allowedips *t, struct allowedips_peerslot *slot)
{
	size_t mask = t->peers_cap - 1;
	size_t hole = (size_t)(slot - t->peers);

	for (size_t j = (hole + 1) & mask; t->peers[j].peer; j = (j + 1) & mask) {
		size_t home = peermap_home(t, t->peers[j].peer);
		/* Move j into the hole unless its home lies cyclically in (hole, j]. */
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			t->peers[hole] = t->peers[j];
			hole = j;
		}
	}
	memset(&t->peers[hole], 0, sizeof(t->peers[hole]));
	t->peers_used--;
}

static void peerlist_append(struct allowedips_peerslot *s, struct allowedips_node *n)
{
	n->peer_next = NULL;
	n->peer_prev = s->tail;
	if (s->tail)
		s->tail->peer_next = n;
	else
		s->head = n;
	s->tail = n;
}

/* Takes n off its peer's list (dropping the peer's slot when empty) and makes it a branch. */
static void peerlist_unlink(allowedips *t, struct allowedips_node *n)
{
	struct allowedips_peerslot *s = peermap_find(t, n->peer);

	if (!s) { /* cannot happen: a node with a peer is on that peer's list */
		n->peer = NULL;
		n->peer_prev = n->peer_next = NULL;
		return;
	}
	if (n->peer_prev)
		n->peer_prev->peer_next = n->peer_next;
	else
		s->head = n->peer_next;
	if (n->peer_next)
		n->peer_next->peer_prev = n->peer_prev;
	else
		s->tail = n->peer_prev;
	n->peer = NULL;
	n->peer_prev = n->peer_next = NULL;
	if (!s->head)
		peermap_delete(t, s);
}

/* ---- trie ---- */

void allowedips_init(allowedips *t)
{
	memset(t, 0, sizeof(*t));
	t->max_per_family = WG_ALLOWEDIPS_MAX;
	t->mem_alloc = malloc;
	t->mem_free = free;
}

static void trie_free(allowedips *t, struct allowedips_node *n)
{
	/* Post-order without recursion: descend to a leaf, free it, climb. */
	while (n) {
		if (n->child[0]) {
			n = n->child[0];
		} else if (n->child[1]) {
			n = n->child[1];
		} else {
			struct allowedips_node *p = n->parent;
			if (p)
				p->child[p->child[1] == n] = NULL;
			t->mem_free(n);
			n = p;
		}
	}
}

void allowedips_free(allowedips *t)
{
	void *(*a)(size_t) = t->mem_alloc;
	void (*f)(void *) = t->mem_free;
	size_t max = t->max_per_family;

	trie_free(t, t->root4);
	trie_free(t, t->root6);
	f(t->peers);
	memset(t, 0, sizeof(*t));
	t->mem_alloc = a;
	t->mem_free = f;
	t->max_per_family = max;
}

static struct allowedips_node *node_new(allowedips *t, ipkey key, unsigned cidr,
					unsigned maxbits)
{
	struct allowedips_node *n = t->mem_alloc(sizeof(*n));

	if (n) {
		memset(n, 0, sizeof(*n));
		n->key = key;
		n->cidr = (uint8_t)cidr;
		n->maxbits = (uint8_t)maxbits;
	}
	return n;
}

static void replace_child(struct allowedips_node **root, struct allowedips_node *parent,
			  struct allowedips_node *old, struct allowedips_node *nw)
{
	if (!parent)
		*root = nw;
	else
		parent->child[parent->child[1] == old] = nw;
	if (nw)
		nw->parent = parent;
}

/* Gives an existing node (branch or someone's prefix) to peer. */
static int node_assign(allowedips *t, struct allowedips_node *n, void *peer)
{
	size_t *count = count_of(t, n->maxbits);

	if (n->peer == peer)
		return 0;
	if (!n->peer && *count >= t->max_per_family)
		return -ENOSPC;
	if (peermap_reserve(t))
		return -ENOMEM;
	if (n->peer)
		peerlist_unlink(t, n);
	else
		(*count)++;
	n->peer = peer;
	peerlist_append(peermap_get(t, peer), n);
	return 0;
}

int allowedips_insert(allowedips *t, int family, const uint8_t *addr, uint8_t cidr, void *peer)
{
	struct allowedips_node **root, **slot, *parent = NULL, *n, *leaf, *branch = NULL;
	unsigned maxbits, cpl = 0;
	size_t *count;
	ipkey k;

	if (!t || !addr || !peer || !family_ok(family, &maxbits) || cidr > maxbits)
		return -EINVAL;
	root = root_of(t, maxbits);
	count = count_of(t, maxbits);
	k = key_mask(key_from_bytes(family, addr), cidr);

	/* Descend while the node's prefix is a proper prefix of k. */
	slot = root;
	while ((n = *slot) != NULL) {
		cpl = key_common_bits(n->key, k);
		if (cpl > cidr)
			cpl = cidr;
		if (cpl > n->cidr)
			cpl = n->cidr;
		if (cpl < n->cidr)
			break; /* k leaves n's subtree, or k is shorter than n */
		if (n->cidr == cidr)
			return node_assign(t, n, peer);
		parent = n;
		slot = &n->child[key_bit(k, n->cidr)];
	}

	if (*count >= t->max_per_family)
		return -ENOSPC;
	if (peermap_reserve(t))
		return -ENOMEM;
	leaf = node_new(t, k, cidr, maxbits);
	if (!leaf)
		return -ENOMEM;
	if (n && cpl < cidr) {
		/* k and n diverge at bit cpl: a branch holds both. */
		branch = node_new(t, key_mask(k, cpl), cpl, maxbits);
		if (!branch) {
			t->mem_free(leaf);
			return -ENOMEM;
		}
	}

	if (!n) {
		*slot = leaf;
		leaf->parent = parent;
	} else if (!branch) {
		/* k is a prefix of n: the new node goes between parent and n. */
		replace_child(root, parent, n, leaf);
		leaf->child[key_bit(n->key, cidr)] = n;
		n->parent = leaf;
	} else {
		replace_child(root, parent, n, branch);
		branch->child[key_bit(k, cpl)] = leaf;
		branch->child[key_bit(n->key, cpl)] = n;
		leaf->parent = branch;
		n->parent = branch;
	}
	leaf->peer = peer;
	peerlist_append(peermap_get(t, peer), leaf);
	(*count)++;
	return 0;
}

/* n has just lost its peer: drop it from the trie unless it is still a useful branch. */
static void trie_prune(allowedips *t, struct allowedips_node *n)
{
	struct allowedips_node **root = root_of(t, n->maxbits);
	struct allowedips_node *p = n->parent, *c;

	if (n->child[0] && n->child[1])
		return;
	c = n->child[0] ? n->child[0] : n->child[1];
	replace_child(root, p, n, c);
	t->mem_free(n);
	/* A branch parent that lost a child has one left: splice it out too. */
	if (!c && p && !p->peer) {
		c = p->child[0] ? p->child[0] : p->child[1];
		replace_child(root, p->parent, p, c);
		t->mem_free(p);
	}
}

static void node_remove(allowedips *t, struct allowedips_node *n)
{
	(*count_of(t, n->maxbits))--;
	peerlist_unlink(t, n);
	trie_prune(t, n);
}

static struct allowedips_node *find_exact(const allowedips *t, unsigned maxbits, ipkey k,
					  unsigned cidr)
{
	struct allowedips_node *n = maxbits == 32 ? t->root4 : t->root6;

	while (n && n->cidr <= cidr && key_eq(key_mask(k, n->cidr), n->key)) {
		if (n->cidr == cidr)
			return n;
		n = n->child[key_bit(k, n->cidr)];
	}
	return NULL;
}

int allowedips_remove(allowedips *t, int family, const uint8_t *addr, uint8_t cidr,
		      const void *peer)
{
	struct allowedips_node *n;
	unsigned maxbits;

	if (!t || !addr || !peer || !family_ok(family, &maxbits) || cidr > maxbits)
		return -EINVAL;
	n = find_exact(t, maxbits, key_mask(key_from_bytes(family, addr), cidr), cidr);
	if (!n || n->peer != peer)
		return -ENOENT;
	node_remove(t, n);
	return 0;
}

size_t allowedips_remove_by_peer(allowedips *t, const void *peer)
{
	struct allowedips_peerslot *s;
	size_t removed = 0;

	if (!t || !peer)
		return 0;
	/* Each removal may move slots (and the last one deletes this peer's): look it up anew. */
	while ((s = peermap_find(t, peer)) != NULL) {
		node_remove(t, s->head);
		removed++;
	}
	return removed;
}

void *allowedips_lookup(const allowedips *t, int family, const uint8_t *addr)
{
	const struct allowedips_node *n;
	void *best = NULL;
	unsigned maxbits;
	ipkey k;

	if (!family_ok(family, &maxbits))
		return NULL;
	k = key_from_bytes(family, addr);
	n = maxbits == 32 ? t->root4 : t->root6;
	while (n && key_eq(key_mask(k, n->cidr), n->key)) {
		if (n->peer)
			best = n->peer;
		if (n->cidr == maxbits)
			break;
		n = n->child[key_bit(k, n->cidr)];
	}
	return best;
}

int allowedips_walk_by_peer(const allowedips *t, const void *peer, allowedips_walk_fn fn,
			    void *ctx)
{
	const struct allowedips_peerslot *s = peer ? peermap_find(t, peer) : NULL;
	uint8_t addr[16];
	int rc = 0;

	for (const struct allowedips_node *n = s ? s->head : NULL; n && !rc; n = n->peer_next) {
		store_be64(addr, n->key.hi);
		store_be64(addr + 8, n->key.lo);
		rc = fn(ctx, n->maxbits == 32 ? AF_INET : AF_INET6, addr, n->cidr);
	}
	return rc;
}

size_t allowedips_count(const allowedips *t, int family)
{
	if (family == AF_INET)
		return t->count4;
	if (family == AF_INET6)
		return t->count6;
	return family == 0 ? t->count4 + t->count6 : 0;
}
