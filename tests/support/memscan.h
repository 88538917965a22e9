/* Scans this process's own readable memory (/proc/self/maps + /proc/self/mem) for 32-byte
 * secrets, without the test holding any of them in clear: needles are stored XOR a random
 * mask and compared as (byte ^ mask) == masked (tests/unit/test_secrets*.c).
 * Mappings over 1 GiB (sanitizer shadow) and the scanner's own buffer are skipped.
 * SECRETS_WHERE=1 prints the mapping and address of every copy found (for diagnosis). */
#ifndef WGTUN_MEMSCAN_H
#define WGTUN_MEMSCAN_H

#include <stddef.h>
#include <stdint.h>

#define MEMSCAN_MAX 48

typedef struct {
	uint8_t mask[32];
	int n;
	const char *name[MEMSCAN_MAX]; /* string literals: valid in a forked child and back */
	uint8_t masked[MEMSCAN_MAX][32];
} memscan_set;

/* Empty set with a fresh random mask. */
void memscan_init(memscan_set *s);
/* v ^= mask (masks a clear value, or unmasks a masked one). */
void memscan_mask(const memscan_set *s, uint8_t v[32]);
/* Adds a needle given masked; false when the set is full. */
int memscan_add_masked(memscan_set *s, const char *name, const uint8_t masked[32]);
/* Runs derive(s, arg) in a forked child, so no clear copy it makes (stack frames of the
 * crypto calls included) can end up in the memory this process scans; the needles it added
 * come back through a pipe. 0, or -1 (fork/pipe failure, or the child failed). */
int memscan_derive_in_child(memscan_set *s, void (*derive)(memscan_set *s, void *arg),
			    void *arg);
/* counts[k] = copies of needle k found; *scanned = bytes read. */
void memscan_run(const memscan_set *s, int counts[MEMSCAN_MAX], size_t *scanned);
/* Count of the needle called name, or -1 if there is none. */
int memscan_count_of(const memscan_set *s, const int counts[MEMSCAN_MAX], const char *name);

#endif
