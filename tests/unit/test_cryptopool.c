/* The crypto pool: its default size follows the creating thread's CPU affinity (a daemon
 * under taskset gets one worker per CPU it may use, not per online CPU), and every job of a
 * batch runs exactly once, inline or on helpers. */
#define _GNU_SOURCE
#include "test.h"

#include "crypto/crypto.h"
#include "device/cryptopool.h"

#include <sched.h>

#define JOBS 200

static unsigned hits[JOBS];

static void count_job(void *ctx, crypto_aead_worker *w, unsigned i)
{
	(void)ctx;
	(void)w;
	__atomic_fetch_add(&hits[i], 1, __ATOMIC_RELAXED);
}

static unsigned affinity_count(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 0;
	return (unsigned)CPU_COUNT(&set);
}

static void test_default_follows_affinity(void)
{
	cpu_set_t orig, one;
	crypto_pool p;
	unsigned want = affinity_count();
	int first = -1;

	CHECK(want >= 1);
	CHECK_EQ_INT(crypto_pool_init(&p, 0), 0);
	CHECK_EQ_INT(p.workers, want > CRYPTO_POOL_MAX_WORKERS ? CRYPTO_POOL_MAX_WORKERS : want);
	crypto_pool_free(&p);

	/* Narrowed to one CPU (what taskset -c N does): one worker, the loop thread alone. */
	CHECK_EQ_INT(sched_getaffinity(0, sizeof(orig), &orig), 0);
	for (int c = 0; c < CPU_SETSIZE && first < 0; c++)
		if (CPU_ISSET(c, &orig))
			first = c;
	CHECK(first >= 0);
	CPU_ZERO(&one);
	CPU_SET(first, &one);
	CHECK_EQ_INT(sched_setaffinity(0, sizeof(one), &one), 0);
	CHECK_EQ_INT(crypto_pool_init(&p, 0), 0);
	CHECK_EQ_INT(p.workers, 1);
	crypto_pool_free(&p);
	/* An explicit count is taken as given, whatever the affinity. */
	CHECK_EQ_INT(crypto_pool_init(&p, 3), 0);
	CHECK_EQ_INT(p.workers, 3);
	crypto_pool_free(&p);
	CHECK_EQ_INT(sched_setaffinity(0, sizeof(orig), &orig), 0);
}

static void run_and_check(crypto_pool *p, unsigned n, size_t bytes)
{
	memset(hits, 0, sizeof(hits));
	crypto_pool_run(p, n, bytes, count_job, NULL);
	for (unsigned i = 0; i < JOBS; i++)
		CHECK_EQ_INT(hits[i], i < n ? 1 : 0);
}

static void test_every_job_once(void)
{
	crypto_pool p;

	CHECK_EQ_INT(crypto_pool_init(&p, 3), 0);
	crypto_pool_start(&p);
	CHECK_EQ_INT(crypto_pool_threads(&p), 2);
	run_and_check(&p, 5, 5 * 1420);                   /* few jobs: inline */
	run_and_check(&p, JOBS, JOBS * 64);               /* small packets: inline */
	CHECK_EQ_U64(p.parallel_runs, 0);
	for (int r = 0; r < 20; r++)
		run_and_check(&p, JOBS - (unsigned)r, (size_t)JOBS * 1420); /* helpers */
	CHECK_EQ_U64(p.parallel_runs, 20);
	crypto_pool_free(&p);
}

int main(void)
{
	test_default_follows_affinity();
	test_every_job_once();
	return test_finish("cryptopool");
}
