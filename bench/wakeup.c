/* What one thread wakeup costs on this machine: ping-pong between two threads over an
 * eventfd, a pipe or a pair of loopback UDP sockets, each side blocked in epoll_wait, on the
 * same CPU or on two CPUs (sched_setaffinity). Also a spin variant (epoll_wait timeout 0 in a
 * loop: no sleep, no wakeup) as the floor. Reports min and median microseconds per one-way
 * hop (half a round trip), and first the cost of a system call that wakes nobody.
 * docs/latency.md has the figures.
 *
 *     cc -O2 -pthread -o wakeup bench/wakeup.c && ./wakeup [rounds [gap_us]]
 * gap_us: idle pause between round trips (default 10000, ping -i 0.01), so the CPUs go idle
 * as between pings; a short gap (200) keeps them in the guest's haltpoll polling window.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { KIND_EVENTFD, KIND_PIPE, KIND_UDP };
static const char *kind_name[] = { "eventfd", "pipe", "udp" };

typedef struct {
	int kind;
	int rfd, wfd; /* this side reads rfd, writes wfd */
	int cpu;      /* -1 = no pinning */
	int spin;     /* poll with timeout 0 instead of sleeping */
	int rounds;
	int initiator;
	int gap_us; /* initiator: pause between round trips */
	double *samples; /* initiator: round trip ns */
} side;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t s;

	if (cpu < 0)
		return;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	if (sched_setaffinity(0, sizeof(s), &s) != 0)
		perror("sched_setaffinity");
}

static void put(const side *s)
{
	uint64_t one = 1;
	char b = 'x';
	ssize_t r = s->kind == KIND_EVENTFD ? write(s->wfd, &one, 8)
		    : s->kind == KIND_PIPE  ? write(s->wfd, &b, 1)
					    : send(s->wfd, &b, 1, 0);
	if (r < 0) {
		perror("write");
		exit(1);
	}
}

/* Waits until rfd is readable (sleeping in epoll_wait, or spinning), then consumes it. */
static void get(const side *s, int ep)
{
	struct epoll_event e;
	uint64_t v;
	char b[8];

	for (;;) {
		int n = epoll_wait(ep, &e, 1, s->spin ? 0 : -1);
		if (n == 1)
			break;
		if (n < 0 && errno != EINTR) {
			perror("epoll_wait");
			exit(1);
		}
	}
	if ((s->kind == KIND_EVENTFD ? read(s->rfd, &v, 8)
	     : s->kind == KIND_PIPE  ? read(s->rfd, b, 1)
				     : recv(s->rfd, b, sizeof(b), 0)) < 0) {
		perror("read");
		exit(1);
	}
}

static void *run(void *arg)
{
	side *s = arg;
	struct epoll_event e = { .events = EPOLLIN };
	int ep = epoll_create1(0);

	pin(s->cpu);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s->rfd, &e) < 0) {
		perror("epoll");
		exit(1);
	}
	for (int i = 0; i < s->rounds; i++) {
		if (s->initiator) {
			double t0 = now_ns();
			put(s);
			get(s, ep);
			s->samples[i] = now_ns() - t0;
			/* Let both sides go idle, as between two pings (ping -i 0.01: 10 ms). */
			usleep((useconds_t)s->gap_us);
		} else {
			get(s, ep);
			put(s);
		}
	}
	close(ep);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void make_pair(int kind, int a[2], int b[2])
{
	/* a: (rfd, wfd) of side A; b: of side B */
	if (kind == KIND_EVENTFD) {
		int ab = eventfd(0, EFD_NONBLOCK), ba = eventfd(0, EFD_NONBLOCK);
		a[0] = ba, a[1] = ab, b[0] = ab, b[1] = ba;
	} else if (kind == KIND_PIPE) {
		int p1[2], p2[2];
		if (pipe2(p1, O_NONBLOCK) || pipe2(p2, O_NONBLOCK)) {
			perror("pipe");
			exit(1);
		}
		a[0] = p2[0], a[1] = p1[1], b[0] = p1[0], b[1] = p2[1];
	} else {
		struct sockaddr_in sa = { .sin_family = AF_INET };
		socklen_t l = sizeof(sa);
		int s1 = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		int s2 = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		struct sockaddr_in a1, a2;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(s1, (void *)&sa, sizeof(sa)) || bind(s2, (void *)&sa, sizeof(sa))) {
			perror("bind");
			exit(1);
		}
		getsockname(s1, (void *)&a1, &l);
		l = sizeof(a2);
		getsockname(s2, (void *)&a2, &l);
		if (connect(s1, (void *)&a2, sizeof(a2)) || connect(s2, (void *)&a1, sizeof(a1))) {
			perror("connect");
			exit(1);
		}
		a[0] = a[1] = s1, b[0] = b[1] = s2;
	}
}

static void bench(int kind, int cpu_a, int cpu_b, int spin, int rounds, int gap)
{
	int a[2], b[2];
	side sa = { .kind = kind, .cpu = cpu_a, .spin = spin, .rounds = rounds, .initiator = 1,
		     .gap_us = gap };
	side sb = { .kind = kind, .cpu = cpu_b, .spin = spin, .rounds = rounds };
	pthread_t ta, tb;
	double med, mn;

	make_pair(kind, a, b);
	sa.rfd = a[0], sa.wfd = a[1], sb.rfd = b[0], sb.wfd = b[1];
	sa.samples = calloc((size_t)rounds, sizeof(double));
	pthread_create(&tb, NULL, run, &sb);
	pthread_create(&ta, NULL, run, &sa);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	qsort(sa.samples, (size_t)rounds, sizeof(double), cmp);
	/* one-way = half a round trip; the first 5 % are warm-up noise, kept (min is min) */
	mn = sa.samples[0] / 2e3;
	med = sa.samples[rounds / 2] / 2e3;
	printf("gap %5d us %-8s %-10s %-6s one-way us: min %6.2f  median %6.2f  p90 %6.2f\n", gap, kind_name[kind],
	       cpu_a < 0 ? "unpinned" : cpu_a == cpu_b ? "same-cpu" : "cross-cpu",
	       spin ? "spin" : "sleep", mn, med, sa.samples[rounds * 9 / 10] / 2e3);
	free(sa.samples);
	close(a[0]);
	if (a[1] != a[0])
		close(a[1]);
	close(b[0]);
	if (b[1] != b[0])
		close(b[1]);
}

/* The floor under every figure above: one system call that does nothing (getppid) and an
 * eventfd write + read with nobody waiting (no wakeup), in ns per call. */
static void syscall_floor(void)
{
	enum { N = 200000 };
	int fd = eventfd(0, EFD_NONBLOCK);
	uint64_t one = 1, v;
	double t0 = now_ns();

	for (int i = 0; i < N; i++)
		(void)getppid();
	printf("syscall floor: getppid %.0f ns", (now_ns() - t0) / N);
	t0 = now_ns();
	for (int i = 0; i < N; i++)
		if (write(fd, &one, 8) != 8 || read(fd, &v, 8) != 8)
			exit(1);
	printf(", eventfd write+read (no waiter) %.0f ns\n", (now_ns() - t0) / N);
	close(fd);
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 500;
	int gap = argc > 2 ? atoi(argv[2]) : 10000;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (rounds < 10)
		rounds = 10;
	syscall_floor();
	for (int kind = 0; kind < 3; kind++) {
		bench(kind, 0, 0, 0, rounds, gap);
		if (ncpu > 1) {
			bench(kind, 0, 1, 0, rounds, gap);
			bench(kind, 0, 1, 1, rounds, gap);
		}
		bench(kind, -1, -1, 0, rounds, gap);
	}
	return 0;
}
