/* Allowed IPs (cryptokey routing): one longest-prefix-match table per address family, a
 * path-compressed binary trie whose values are opaque peer pointers. Each prefix belongs to
 * exactly one peer; inserting a prefix that exists moves it to the new peer. Host bits past
 * the prefix length are masked off when stored.
 *
 * Bounds: at most WG_ALLOWEDIPS_MAX prefixes per family; insert beyond that returns -ENOSPC
 * and changes nothing. A failed allocation returns -ENOMEM and changes nothing.
 * Lookups allocate nothing and do not recurse (the data path calls them per packet).
 * Thread-safety: none. Lookups may run concurrently with each other; any change needs the
 * caller's exclusive lock (the device's config lock held for writing). */
#ifndef WGTUN_PROTO_ALLOWEDIPS_H
#define WGTUN_PROTO_ALLOWEDIPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WG_ALLOWEDIPS_MAX (1u << 20) /* prefixes per family table */

struct allowedips_node;
struct allowedips_peerslot;

typedef struct {
	struct allowedips_node *root4, *root6;
	size_t count4, count6; /* prefixes (nodes holding a peer) */
	size_t max_per_family; /* allowedips_init sets WG_ALLOWEDIPS_MAX; tests may lower it */
	/* Per-peer lists of prefixes, so walk/remove by peer cost O(that peer's prefixes). */
	struct allowedips_peerslot *peers;
	size_t peers_cap, peers_used;
	/* Allocator (allowedips_init sets malloc/free; tests swap in a failing one). */
	void *(*mem_alloc)(size_t n);
	void (*mem_free)(void *p);
} allowedips;

void allowedips_init(allowedips *t);
/* Frees every node; t is then empty and usable again. */
void allowedips_free(allowedips *t);

/* family is AF_INET (addr 4 bytes, cidr <= 32) or AF_INET6 (16 bytes, cidr <= 128); peer
 * non-NULL. 0 = stored (or moved/kept), -EINVAL bad argument, -ENOSPC table full,
 * -ENOMEM out of memory. On error nothing changed. */
int allowedips_insert(allowedips *t, int family, const uint8_t *addr, uint8_t cidr, void *peer);

/* The "allowed_ip=-prefix" form: removes the prefix (host bits masked) only if it exists
 * exactly and belongs to peer. 0 = removed, -ENOENT = absent or someone else's (no change),
 * -EINVAL bad argument. */
int allowedips_remove(allowedips *t, int family, const uint8_t *addr, uint8_t cidr,
		      const void *peer);

/* Removes every prefix of peer (both families); returns how many. */
size_t allowedips_remove_by_peer(allowedips *t, const void *peer);

/* Longest-prefix match; NULL if nothing matches or family is unknown. addr is 4 or 16 bytes. */
void *allowedips_lookup(const allowedips *t, int family, const uint8_t *addr);

/* Calls fn for each prefix of peer (masked address: 4 or 16 bytes, family, cidr), in the order
 * the peer got them (a move counts as getting it anew), so `get` echoes the configuration.
 * A non-zero return from fn stops the walk and is returned. fn must not change the table. */
typedef int (*allowedips_walk_fn)(void *ctx, int family, const uint8_t *addr, uint8_t cidr);
int allowedips_walk_by_peer(const allowedips *t, const void *peer, allowedips_walk_fn fn,
			    void *ctx);

/* Number of prefixes of one family (AF_INET / AF_INET6), or of both when family is 0. */
size_t allowedips_count(const allowedips *t, int family);

#endif
