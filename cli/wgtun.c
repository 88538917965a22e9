/* wgtun: the userspace WireGuard daemon, a drop-in for wireguard-go driven by wg / wg-quick.
 *
 *   wgtun [-f|--foreground] [-v|--verbosity LEVEL] [-l|--log FILE] [--version] [--help] IFACE
 *
 * Environment (as wireguard-go): WG_TUN_FD / WG_UAPI_FD (inherited TUN and listening UAPI
 * socket), WG_PROCESS_FOREGROUND=1 (same as -f), LOG_LEVEL or WG_LOG_LEVEL (silent, error,
 * verbose or debug; default error). Ours: WGTUN_CRYPTO_WORKERS=N, threads for packet crypto
 * (0 or unset = one per online CPU, 1 = the data-path thread alone; docs/parallel.md).
 *
 * Without -f the parent creates the TUN interface and the listening UAPI socket itself, then
 * re-executes this program with them as fds 3 and 4 and exits 0 only once the child runs:
 * wg-quick calls `wg setconf` right after we return, and both already exist by then.
 * The daemon stops cleanly on SIGINT/SIGTERM, when the interface is deleted and when its
 * socket file is removed. SIGUSR1 logs the drop counters (wgtun_device_stats) as one
 * "stats: ..." line at verbose level. Bad usage: one line on stderr, exit 2. */
#define _GNU_SOURCE
#include "wgtun.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 2
/* The fds the parent hands to the child (wireguard-go's numbers; 5 is ours). */
#define CHILD_TUN_FD 3
#define CHILD_UAPI_FD 4
#define CHILD_READY_FD 5
#define READY_ENV "WGTUN_READY_FD"
/* wireguard-go gives a TUN it creates this MTU (wg-quick then sets its own). */
#define DEFAULT_MTU 1420

enum { LVL_SILENT = 0, LVL_ERROR = 1, LVL_INFO = 2, LVL_VERBOSE = 3 };

typedef struct {
	bool foreground;
	int level;
	bool level_given; /* -v or an environment variable asked for a level */
	const char *log_file;
	const char *iface;
	bool no_offload; /* WGTUN_NO_OFFLOAD (docs/offloads.md) */
} options;

/* Logging: one write() per line so that lines from the library's threads do not mix. */
static struct {
	int fd;
	int level;
	char iface[16];
} logger = {.fd = STDERR_FILENO, .level = LVL_ERROR};

static void log_line(int level, const char *msg)
{
	char line[1200];
	struct tm tm;
	time_t now;
	int n;

	if (level > logger.level || logger.fd < 0)
		return;
	now = time(NULL);
	localtime_r(&now, &tm);
	n = snprintf(line, sizeof(line), "%s: (%s) %04d/%02d/%02d %02d:%02d:%02d %s\n",
		     level <= WGTUN_LOG_ERROR ? "ERROR" : "DEBUG", logger.iface,
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, msg);
	if (n > 0) {
		ssize_t w = write(logger.fd, line, (size_t)n < sizeof(line) ? (size_t)n
									 : sizeof(line) - 1);
		(void)w;
	}
}

static void lib_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	log_line(level, msg);
}

__attribute__((format(printf, 2, 3))) static void logf_(int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_line(level, msg);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: wgtun [-f|--foreground] [-v|--verbosity silent|error|info|verbose] "
		   "[-l|--log FILE] [--version] [--help] INTERFACE-NAME\n");
}

static int parse_level(const char *s)
{
	/* wireguard-go's names, plus BoringTun's info/trace */
	if (!strcmp(s, "verbose") || !strcmp(s, "debug") || !strcmp(s, "trace"))
		return LVL_VERBOSE;
	if (!strcmp(s, "info"))
		return LVL_INFO;
	if (!strcmp(s, "error"))
		return LVL_ERROR;
	if (!strcmp(s, "silent"))
		return LVL_SILENT;
	return -1;
}

/* 0 = run, 1 = exit 0 (help/version printed), 2 = usage error (message printed). */
static int parse_args(int argc, char **argv, options *o)
{
	static const struct option longopts[] = {
		{"foreground", no_argument, NULL, 'f'}, {"verbosity", required_argument, NULL, 'v'},
		{"log", required_argument, NULL, 'l'},  {"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
	};
	const char *env = getenv("WG_LOG_LEVEL");
	int c;

	memset(o, 0, sizeof(*o));
	o->level = LVL_ERROR;
	if (!env || !*env)
		env = getenv("LOG_LEVEL");
	if (env && *env) {
		/* wireguard-go: an unknown LOG_LEVEL means "error" */
		int l = parse_level(env);
		o->level = l < 0 ? LVL_ERROR : l;
		o->level_given = true;
	}
	opterr = 0;
	while ((c = getopt_long(argc, argv, "fv:l:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			o->foreground = true;
			break;
		case 'v':
			o->level = parse_level(optarg);
			if (o->level < 0) {
				fprintf(stderr, "wgtun: invalid verbosity '%s' (silent, error, info, verbose)\n",
					optarg);
				return EXIT_USAGE;
			}
			o->level_given = true;
			break;
		case 'l':
			o->log_file = optarg;
			break;
		case 'V':
			printf("wgtun v%s\n\nUserspace WireGuard daemon for Linux.\n", wgtun_version());
			return 1;
		case 'h':
			usage(stdout);
			return 1;
		default:
			fprintf(stderr, "wgtun: bad or incomplete option '%s' (try --help)\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "wgtun: expected exactly one INTERFACE-NAME (try --help)\n");
		return EXIT_USAGE;
	}
	o->iface = argv[optind];
	env = getenv("WG_PROCESS_FOREGROUND");
	if (env && !strcmp(env, "1"))
		o->foreground = true;
	/* anything but unset, "" or "0" turns the offloads off */
	env = getenv("WGTUN_NO_OFFLOAD");
	o->no_offload = env && *env && strcmp(env, "0") != 0;
	return 0;
}

/* WGTUN_CRYPTO_WORKERS: threads for packet crypto (0 or unset = one per CPU). 0 / -1. */
static int env_workers(unsigned *out)
{
	const char *s = getenv("WGTUN_CRYPTO_WORKERS");
	char *end;
	long v;

	*out = 0;
	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 64)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* A decimal fd from the environment: -1 if unset, -2 if malformed. */
static int env_fd(const char *name)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > INT_MAX)
		return -2;
	return (int)v;
}

/* Truncating string copy into a 16-byte name buffer (interface names are < 16 bytes). */
static void copy_name(char dst[16], const char *src)
{
	size_t n = strnlen(src, 15);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Creates the TUN interface with wireguard-go's default MTU. fd or -errno. */
static int tun_create_default(const char *want, char name[16], bool no_offload)
{
	struct ifreq ifr;
	int fd = no_offload ? wgtun_tun_open_plain(want, name) : wgtun_tun_open(want, name), s;

	if (fd < 0)
		return fd;
	memset(&ifr, 0, sizeof(ifr));
	copy_name(ifr.ifr_name, name);
	ifr.ifr_mtu = DEFAULT_MTU;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	/* not fatal: the device reads whatever MTU the interface has */
	if (s < 0 || ioctl(s, SIOCSIFMTU, &ifr) < 0)
		fprintf(stderr, "wgtun: could not set MTU %d on %s: %s\n", DEFAULT_MTU, name,
			strerror(errno));
	if (s >= 0)
		close(s);
	return fd;
}

/* ---- parent: create TUN + socket, re-exec as the daemon, wait until it runs ---- */
static int move_fd(int fd, int to)
{
	if (fd == to)
		return fcntl(fd, F_SETFD, 0); /* dup2 would keep close-on-exec */
	return dup2(fd, to) < 0 ? -1 : 0;
}

static void child_exec(char **argv, const options *o, int tun, int uapi, int ready)
{
	int devnull;

	setsid();
	/* Take the three fds out of the way of 3..5 first, then put them there. */
	tun = fcntl(tun, F_DUPFD_CLOEXEC, 10);
	uapi = fcntl(uapi, F_DUPFD_CLOEXEC, 10);
	ready = fcntl(ready, F_DUPFD_CLOEXEC, 10);
	if (tun < 0 || uapi < 0 || ready < 0 || move_fd(tun, CHILD_TUN_FD) < 0 ||
	    move_fd(uapi, CHILD_UAPI_FD) < 0 || move_fd(ready, CHILD_READY_FD) < 0)
		_exit(1);
	/* Nothing else of the caller's leaks into the daemon (an inherited pipe would keep a
	 * caller that reads our output waiting, as wg-quick in $(...) does). */
	close_range(CHILD_READY_FD + 1, ~0U, 0);
	/* wireguard-go keeps stdout/stderr only if a log level was asked for (and not silent);
	 * otherwise a caller reading our output (wg-quick in $(...)) would wait forever. */
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, STDIN_FILENO);
		if (!o->level_given || o->level == LVL_SILENT || o->log_file) {
			dup2(devnull, STDOUT_FILENO);
			dup2(devnull, STDERR_FILENO);
		}
	}
	if (setenv("WG_TUN_FD", "3", 1) || setenv("WG_UAPI_FD", "4", 1) ||
	    setenv("WG_PROCESS_FOREGROUND", "1", 1) || setenv(READY_ENV, "5", 1))
		_exit(1);
	/* The real path keeps the process name "wgtun" (ps, pgrep); executing /proc/self/exe
	 * would name it "exe". That link is the fallback if the binary was replaced. */
	{
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

		if (n > 0) {
			self[n] = '\0';
			execv(self, argv);
		}
	}
	execv("/proc/self/exe", argv);
	_exit(1);
}

static int run_parent(int argc, char **argv, const options *o)
{
	char name[16], path[128];
	char **cargv = NULL;
	int tun = env_fd("WG_TUN_FD"), uapi = env_fd("WG_UAPI_FD");
	int pipefd[2] = {-1, -1}, status, r = 1;
	bool made_socket = false;
	char ok = 0;
	pid_t pid;

	if (tun == -2 || uapi == -2) {
		fprintf(stderr, "wgtun: WG_TUN_FD / WG_UAPI_FD must be a decimal fd\n");
		return 1;
	}
	if (tun < 0) {
		tun = tun_create_default(o->iface, name, o->no_offload);
		if (tun < 0) {
			fprintf(stderr, "wgtun: failed to create TUN device %s: %s\n", o->iface,
				strerror(-tun));
			goto out;
		}
	} else {
		copy_name(name, o->iface);
	}
	if (uapi < 0) {
		uapi = wgtun_uapi_listen(NULL, name, path, sizeof(path));
		if (uapi < 0) {
			fprintf(stderr, "wgtun: failed to create UAPI socket for %s: %s\n", name,
				strerror(-uapi));
			goto out;
		}
		made_socket = true;
	}
	/* the child gets the kernel's name (for "wg%d" patterns) as its last argument */
	cargv = calloc((size_t)argc + 1, sizeof(*cargv));
	if (!cargv || pipe2(pipefd, O_CLOEXEC) < 0)
		goto out;
	memcpy(cargv, argv, (size_t)argc * sizeof(*cargv));
	cargv[argc - 1] = name;
	pid = fork();
	if (pid < 0)
		goto out;
	if (pid == 0)
		child_exec(cargv, o, tun, uapi, pipefd[1]);
	close(pipefd[1]);
	pipefd[1] = -1;
	/* The child writes one byte once it serves; EOF first means it died. */
	while (read(pipefd[0], &ok, 1) < 0 && errno == EINTR)
		;
	if (ok == '1') {
		r = 0;
	} else {
		fprintf(stderr, "wgtun: the daemon for %s failed to start\n", name);
		waitpid(pid, &status, 0);
		/* the child never served it: do not leave a stale socket file behind */
		if (made_socket)
			unlink(path);
	}
out:
	free(cargv);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (tun >= 0)
		close(tun);
	if (uapi >= 0)
		close(uapi);
	return r;
}

/* ---- the daemon itself ---- */
static const char *reason_text(int reason)
{
	switch (reason) {
	case -ENODEV:
		return "the interface was deleted";
	case -ENOENT:
		return "the UAPI socket file was removed";
	default:
		return strerror(-reason);
	}
}

static void notify_ready(void)
{
	int fd = env_fd(READY_ENV);

	unsetenv(READY_ENV);
	if (fd < 0)
		return;
	if (write(fd, "1", 1) != 1)
		logf_(WGTUN_LOG_ERROR, "could not tell the parent we are ready");
	close(fd);
}

/* One line "stats: rx_malformed=N rx_mac=N ..." (the battery tests read it). */
static void log_stats(wgtun_device *dev)
{
	char *st = NULL;

	if (wgtun_device_stats(dev, &st) < 0)
		return;
	for (char *c = st; *c; c++)
		if (*c == '\n')
			*c = ' ';
	logf_(WGTUN_LOG_INFO, "stats: %s", st);
	wgtun_string_free(st);
}

static int run_daemon(const options *o)
{
	wgtun_device_config cfg;
	wgtun_device *dev = NULL;
	char path[128], name[16];
	struct pollfd pfd[2];
	sigset_t sigs;
	int tun = env_fd("WG_TUN_FD"), uapi = env_fd("WG_UAPI_FD");
	int sfd = -1, r, reason = 0;

	if (tun == -2 || uapi == -2) {
		logf_(WGTUN_LOG_ERROR, "WG_TUN_FD / WG_UAPI_FD must be a decimal fd");
		return 1;
	}
	copy_name(name, o->iface);
	if (tun < 0) {
		tun = tun_create_default(o->iface, name, o->no_offload);
		if (tun < 0) {
			logf_(WGTUN_LOG_ERROR, "failed to create TUN device %s: %s", name,
			      strerror(-tun));
			return 1;
		}
	}
	/* Signals arrive through a signalfd; blocked before the library starts threads so that
	 * none of them receives SIGINT/SIGTERM. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd < 0) {
		logf_(WGTUN_LOG_ERROR, "signalfd: %s", strerror(errno));
		r = 1;
		goto out;
	}
	wgtun_device_config_init(&cfg);
	cfg.ifname = name;
	cfg.tun_fd = tun;
	cfg.log = lib_log;
	if (env_workers(&cfg.crypto_workers) != 0) {
		logf_(WGTUN_LOG_ERROR, "WGTUN_CRYPTO_WORKERS must be a number from 0 to 64");
		r = 1;
		goto out;
	}
	cfg.no_offload = o->no_offload;
	if (uapi < 0) {
		uapi = wgtun_uapi_listen(NULL, name, path, sizeof(path));
		if (uapi < 0) {
			logf_(WGTUN_LOG_ERROR, "failed to create UAPI socket: %s", strerror(-uapi));
			r = 1;
			goto out;
		}
	} else if (snprintf(path, sizeof(path), "/var/run/wireguard/%s.sock", name) >=
		   (int)sizeof(path)) {
		r = 1;
		goto out;
	}
	cfg.uapi_fd = uapi;
	cfg.uapi_path = path;
	r = wgtun_device_new(&cfg, &dev);
	if (r < 0) {
		logf_(WGTUN_LOG_ERROR, "failed to create device %s: %s", name, strerror(-r));
		r = 1;
		goto out;
	}
	r = wgtun_device_start(dev);
	if (r < 0) {
		logf_(WGTUN_LOG_ERROR, "failed to bring up device: %s", strerror(-r));
		r = 1;
		goto out;
	}
	logf_(WGTUN_LOG_INFO, "device started, UAPI listening on %s", path);
	notify_ready();

	pfd[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
	pfd[1] = (struct pollfd){.fd = wgtun_device_stop_fd(dev), .events = POLLIN};
	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
				continue;
			if (si.ssi_signo == SIGUSR1) {
				log_stats(dev);
				continue;
			}
			logf_(WGTUN_LOG_INFO, "received %s, shutting down",
			      strsignal((int)si.ssi_signo));
			break;
		}
		if (pfd[1].revents && wgtun_device_wait(dev, 0, &reason)) {
			logf_(WGTUN_LOG_INFO, "shutting down: %s", reason_text(reason));
			break;
		}
	}
	r = 0;
out:
	/* Removes the socket file, closes the TUN (the interface goes away), wipes the keys. */
	wgtun_device_free(dev);
	if (sfd >= 0)
		close(sfd);
	return r;
}

int main(int argc, char **argv)
{
	options o;
	int r = parse_args(argc, argv, &o);

	if (r)
		return r == 1 ? 0 : r;
#ifdef __GLIBC__
	/* One malloc arena: the threads allocate almost nothing (buffers come from pools), and
	 * each extra arena keeps its own touched pages (~20-40 KB idle RSS measured). */
	mallopt(M_ARENA_MAX, 1);
#endif
	/* This process owns its OpenSSL: no openssl.cnf, no error strings (~0.5 MB less RSS). */
	if (wgtun_crypto_init_lean() != 0) {
		fprintf(stderr, "wgtun: OpenSSL initialisation failed\n");
		return 1;
	}
	copy_name(logger.iface, o.iface);
	logger.level = o.level;
	if (o.log_file) {
		logger.fd = open(o.log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (logger.fd < 0) {
			fprintf(stderr, "wgtun: cannot open log file %s: %s\n", o.log_file,
				strerror(errno));
			return 1;
		}
	}
	if (!o.foreground)
		return run_parent(argc, argv, &o);
	return run_daemon(&o);
}
