/* Which pages a process really touched, against what its RSS counts (bench/touched.sh).
 * Reads valgrind --tool=lackey --trace-mem=yes lines on stdin ("I addr,size", " L", " S",
 * " M") and keeps the set of 4 KiB pages seen; on SIGUSR1 or at end of input writes them,
 * one hex page number a line, to argv[1] (and its own pid to argv[1].pid first). */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CAP (1u << 22) /* open-addressing table: 4 Mi pages = 16 GiB of address space */

static uint64_t tab[CAP]; /* page number + 1, 0 = empty */
static volatile sig_atomic_t dump;

static void on_usr1(int s)
{
	(void)s;
	dump = 1;
}

/* Written to PATH.tmp and renamed: a reader never sees half a list. */
static int write_pages(const char *path)
{
	char tmp[4096];
	FILE *o;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	o = fopen(tmp, "w");
	if (!o)
		return -1;
	for (unsigned i = 0; i < CAP; i++)
		if (tab[i])
			fprintf(o, "%llx\n", (unsigned long long)(tab[i] - 1));
	if (fclose(o) != 0)
		return -1;
	return rename(tmp, path);
}

int main(int argc, char **argv)
{
	char line[256], pidf[4096];
	struct sigaction sa;
	FILE *p;

	if (argc != 2)
		return 2;
	snprintf(pidf, sizeof(pidf), "%s.pid", argv[1]);
	p = fopen(pidf, "w");
	if (!p)
		return 1;
	fprintf(p, "%d\n", (int)getpid());
	fclose(p);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1; /* no SA_RESTART: a blocked read returns, and we write */
	sigaction(SIGUSR1, &sa, NULL);
	for (;;) {
		if (dump) {
			dump = 0;
			if (write_pages(argv[1]) != 0)
				return 1;
		}
		if (!fgets(line, sizeof(line), stdin)) {
			if (dump) {
				clearerr(stdin);
				continue;
			}
			break;
		}
		if (!((line[0] == 'I' && line[1] == ' ') ||
		      (line[0] == ' ' && strchr("LSM", line[1]) && line[1])))
			continue;
		uint64_t pg = strtoull(line + 3, NULL, 16) >> 12;
		unsigned h = (unsigned)((pg * 0x9E3779B97F4A7C15ull) >> 42) & (CAP - 1);
		while (tab[h] && tab[h] != pg + 1)
			h = (h + 1) & (CAP - 1);
		tab[h] = pg + 1;
	}
	return write_pages(argv[1]) != 0;
}
