#define _GNU_SOURCE
#include "memscan.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

enum { SCAN_CHUNK = 1 << 20 };

void memscan_init(memscan_set *s)
{
	memset(s, 0, sizeof(*s));
	CHECK_EQ_INT(getrandom(s->mask, sizeof(s->mask), 0), 32);
}

void memscan_mask(const memscan_set *s, uint8_t v[32])
{
	for (int i = 0; i < 32; i++)
		v[i] ^= s->mask[i];
}

int memscan_add_masked(memscan_set *s, const char *name, const uint8_t masked[32])
{
	if (s->n >= MEMSCAN_MAX)
		return 0;
	memcpy(s->masked[s->n], masked, 32);
	s->name[s->n++] = name;
	return 1;
}

static bool read_all(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t m = read(fd, (uint8_t *)buf + got, n - got);
		if (m <= 0)
			return false;
		got += (size_t)m;
	}
	return true;
}

int memscan_derive_in_child(memscan_set *s, void (*derive)(memscan_set *s, void *arg),
			    void *arg)
{
	int fds[2], status = 0;
	pid_t pid;
	bool ok;

	if (pipe(fds) != 0)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		derive(s, arg);
		/* the mask is the parent's already; the names point into the same image */
		_exit(write(fds[1], s, sizeof(*s)) == (ssize_t)sizeof(*s) ? 0 : 1);
	}
	close(fds[1]);
	ok = read_all(fds[0], s, sizeof(*s));
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		ok = false;
	return ok ? 0 : -1;
}

/* The search and the wipe touch only the scanner's own buffer, which no sanitizer needs to
 * see; the reads go around the sanitizers' pread interceptor by syscall(). Under TSan the
 * maps hold ~300 MB to read, and the interceptors' shadow updates were most of the time. */
#if defined(__clang__)
#define MEMSCAN_UNINSTRUMENTED __attribute__((no_sanitize("thread", "address")))
#else
#define MEMSCAN_UNINSTRUMENTED __attribute__((no_sanitize_thread, no_sanitize_address))
#endif

MEMSCAN_UNINSTRUMENTED
static void search(const memscan_set *s, const bool first[256], const uint8_t first2[8192],
		   const uint8_t *buf, size_t got, unsigned long at, const char *line,
		   bool where, int counts[MEMSCAN_MAX])
{
	for (size_t i = 0; i + 32 <= got; i++) {
		unsigned two;
		if (!first[buf[i]])
			continue; /* no needle starts with this byte */
		two = (unsigned)buf[i] | (unsigned)buf[i + 1] << 8;
		if (!(first2[two >> 3] & (1u << (two & 7))))
			continue; /* nor with these two */
		for (int k = 0; k < s->n; k++) {
			int j = 0;
			while (j < 32 && (uint8_t)(buf[i + j] ^ s->mask[j]) == s->masked[k][j])
				j++;
			counts[k] += j == 32;
			if (j == 32 && where)
				fprintf(stderr, "  %s at %#lx in %s\n", s->name[k],
					at + (unsigned long)i, line);
		}
	}
}

MEMSCAN_UNINSTRUMENTED
static void wipe(uint8_t *buf, size_t n)
{
	volatile uint64_t *w = (volatile uint64_t *)(void *)buf;

	for (size_t i = 0; i < n / 8; i++)
		w[i] = 0;
}

void memscan_run(const memscan_set *s, int counts[MEMSCAN_MAX], size_t *scanned)
{
	static uint8_t *buf;
	FILE *maps = fopen("/proc/self/maps", "r");
	int mem = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	bool where = getenv("SECRETS_WHERE") != NULL;
	bool first[256] = {false};
	static uint8_t first2[8192]; /* a bit per value of a needle's first two bytes */
	char line[512];

	/* Two clear bytes per needle (flags in tables) are no secret worth hiding; they make the
	 * scan ~10x faster. The first byte alone was not enough: in a run where a needle started
	 * with 0x00, every byte of the zero pages (~400 MB of maps under TSan) went on to the
	 * full compare against every needle (test_secrets: 2 s -> 40-75 s). */
	memset(first2, 0, sizeof(first2));
	for (int k = 0; k < s->n; k++) {
		uint8_t b0 = s->masked[k][0] ^ s->mask[0], b1 = s->masked[k][1] ^ s->mask[1];
		unsigned two = (unsigned)b0 | (unsigned)b1 << 8;

		first[b0] = true;
		first2[two >> 3] |= (uint8_t)(1u << (two & 7));
	}
	memset(counts, 0, sizeof(int) * MEMSCAN_MAX);
	*scanned = 0;
	if (where)
		fprintf(stderr, "scan:\n");
	if (!buf)
		buf = mmap(NULL, SCAN_CHUNK + 32, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(maps && mem >= 0 && buf != MAP_FAILED);
	if (!maps || mem < 0 || buf == MAP_FAILED)
		goto out;
	while (fgets(line, sizeof(line), maps)) {
		unsigned long lo, hi;
		char perms[8] = "", path[256] = "";

		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255s", &lo, &hi, perms, path) < 3)
			continue;
		if (perms[0] != 'r' || hi - lo > (1UL << 30) || !strcmp(path, "[vvar]") ||
		    !strcmp(path, "[vsyscall]") || (uint8_t *)lo == buf)
			continue;
		for (unsigned long at = lo; at < hi; at += SCAN_CHUNK) {
			size_t want = hi - at > SCAN_CHUNK + 31 ? SCAN_CHUNK + 31 : hi - at;
			long got = syscall(SYS_pread64, mem, buf, want, (off_t)at);

			if (got < 32)
				continue;
			*scanned += (size_t)got;
			search(s, first, first2, buf, (size_t)got, at, line, where, counts);
		}
		wipe(buf, SCAN_CHUNK + 32);
	}
out:
	if (maps)
		fclose(maps);
	if (mem >= 0)
		close(mem);
}

int memscan_count_of(const memscan_set *s, const int counts[MEMSCAN_MAX], const char *name)
{
	for (int k = 0; k < s->n; k++)
		if (!strcmp(s->name[k], name))
			return counts[k];
	return -1;
}
