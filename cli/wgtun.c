/* wgtun: the userspace WireGuard daemon, a drop-in for wireguard-go driven by wg / wg-quick.
 *
 *   wgtun [-f|--foreground] [-v|--verbosity LEVEL] [-l|--log FILE] [--user USER] [--version]
 *         [--help] IFACE
 *
 * Environment (as wireguard-go): WG_TUN_FD / WG_UAPI_FD (inherited TUN and listening UAPI
 * socket), WG_PROCESS_FOREGROUND=1 (same as -f), LOG_LEVEL or WG_LOG_LEVEL (silent, error,
 * verbose or debug; default error). Ours: WGTUN_CRYPTO_WORKERS=N, threads for packet crypto
 * (0 or unset = one per CPU the daemon may run on, 1 = the data-path thread alone; docs/parallel.md);
 * WGTUN_BUSY_POLL_US=N, busy poll of the data-path loop for N microseconds after traffic (0 or
 * unset = off, at most 1000; docs/latency.md); WGTUN_USER=USER (same as --user, which wins).
 *
 * --user USER (opt-in; wireguard-go has no such flag): once the TUN and the UAPI socket exist
 * and before the library starts any thread, drop to USER keeping only CAP_NET_ADMIN and
 * CAP_NET_BIND_SERVICE (see drop_privileges below and docs/hardening.md).
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
#include <linux/if_tun.h>
#include <grp.h>
#include <pwd.h>
#include <linux/capability.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
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
	const char *user; /* --user / WGTUN_USER: drop privileges to this user after setup */
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
		   "[-l|--log FILE] [--user USER] [--version] [--help] INTERFACE-NAME\n");
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
		{"help", no_argument, NULL, 'h'},       {"user", required_argument, NULL, 'U'},
		{NULL, 0, NULL, 0},
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
		case 'U':
			if (!*optarg) {
				fprintf(stderr, "wgtun: --user needs a user name\n");
				return EXIT_USAGE;
			}
			o->user = optarg;
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
	env = getenv("WGTUN_USER");
	if (!o->user && env && *env)
		o->user = env;
	/* anything but unset, "" or "0" turns the offloads off */
	env = getenv("WGTUN_NO_OFFLOAD");
	o->no_offload = env && *env && strcmp(env, "0") != 0;
	return 0;
}

/* A decimal from 0 to max in environment variable name (unset or "" = 0). 0 / -1. */
static int env_uint(const char *name, long max, unsigned *out)
{
	const char *s = getenv(name);
	char *end;
	long v;

	*out = 0;
	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > max)
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

/* An inherited TUN fd names the interface (wireguard-go takes the name from the fd too): the
 * UAPI socket, the link monitor and the log then follow the interface the fd belongs to,
 * whatever the argument says. An fd that is not a TUN keeps the argument's name. */
static void tun_fd_name(int fd, char name[16])
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) == 0 && ifr.ifr_name[0])
		copy_name(name, ifr.ifr_name);
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

/* ---- optional privilege drop (--user) ----
 * Order matters: capabilities are per thread (capset changes only the caller) and threads
 * inherit them, so the drop happens while the daemon is still single-threaded, after the TUN
 * and the listening UAPI socket exist and before wgtun_device_new starts the UAPI thread and
 * wgtun_device_start the event loop. Every thread then runs as USER with exactly the two
 * capabilities the running device still uses: CAP_NET_ADMIN (SO_MARK for fwmark,
 * SO_RCVBUFFORCE/SO_SNDBUFFORCE when `wg set listen-port` rebinds) and CAP_NET_BIND_SERVICE
 * (a listen port below 1024). No file-system capability is kept. */
typedef struct {
	uid_t uid;
	gid_t gid;
} drop_target;

/* USER as a name from the password database, or a decimal uid (gid = uid then). */
static int resolve_user(const char *user, drop_target *t)
{
	struct passwd pw, *res = NULL;
	char buf[4096], *end;
	unsigned long v;

	if (getpwnam_r(user, &pw, buf, sizeof(buf), &res) == 0 && res) {
		t->uid = pw.pw_uid;
		t->gid = pw.pw_gid;
	} else {
		errno = 0;
		v = strtoul(user, &end, 10);
		if (errno || end == user || *end || v > 0xfffffffeUL)
			return -ENOENT;
		t->uid = (uid_t)v;
		t->gid = (gid_t)v;
	}
	return t->uid == 0 ? -EINVAL : 0; /* root would keep everything: refuse, not pretend */
}

static int set_caps(uint32_t keep)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	d[0].effective = d[0].permitted = keep; /* both kept caps are < 32; inheritable none */
	return (int)syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

/* Removes the socket file once the daemon is gone (any way, SIGKILL included). A process
 * that runs as USER cannot unlink in the root-owned /var/run/wireguard, and keeping a
 * file-system capability (CAP_DAC_OVERRIDE) for that would give the whole daemon write
 * access everywhere. So a child forked here, still single-threaded and root, keeps nothing
 * but that job: it closes every fd but the pipe, drops all capabilities (uid 0 owns the
 * directory, so none is needed to unlink in it), ignores the terminal's signals, waits for
 * EOF on the pipe (the daemon's end is closed by the kernel when the daemon exits) and
 * removes the file if it is still the one we created (a newer daemon may own the path). */
static int start_cleaner(const char *path, pid_t *out)
{
	struct stat st;
	int p[2];
	pid_t pid;
	char c;

	if (lstat(path, &st) < 0)
		return -errno;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return -e;
	}
	if (pid == 0) {
		struct stat now;
		sigset_t all;

		if (dup2(p[0], 0) < 0)
			_exit(1);
		close_range(1, ~0U, 0); /* the TUN, the UAPI listener, the log: not ours */
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGUSR1, SIG_IGN);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		prctl(PR_SET_NAME, "wgtun-cleanup", 0, 0, 0);
		if (set_caps(0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			_exit(1);
		while (read(0, &c, 1) != 0 && (errno == EINTR || errno == EAGAIN))
			;
		if (lstat(path, &now) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev)
			unlink(path);
		_exit(0);
	}
	close(p[0]); /* p[1] stays open (close-on-exec) for the daemon's lifetime */
	*out = pid;
	return 0;
}

static int drop_privileges(const drop_target *t)
{
	const uint32_t keep = (1U << CAP_NET_ADMIN) | (1U << CAP_NET_BIND_SERVICE);
	int r;

	/* The bounding set first (needs CAP_SETPCAP, which setuid takes away). */
	for (int cap = 0; cap <= 63; cap++) {
		if (cap == CAP_NET_ADMIN || cap == CAP_NET_BIND_SERVICE)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -errno;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	/* Keep the permitted set across setuid, then cut it to the two. */
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return -errno;
	if (setgroups(1, &t->gid) < 0 || setresgid(t->gid, t->gid, t->gid) < 0 ||
	    setresuid(t->uid, t->uid, t->uid) < 0)
		return -errno;
	r = set_caps(keep);
	if (r < 0)
		return r;
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	/* Paranoia: there must be no way back. */
	if (setuid(0) == 0 || getuid() != t->uid || geteuid() != t->uid || getegid() != t->gid)
		return -EPERM;
	return 0;
}

/* Called by run_daemon once the TUN and the UAPI socket exist, before any thread. */
static int privdrop_setup(const options *o, const char *path)
{
	drop_target t;
	pid_t cleaner = -1;
	int r = resolve_user(o->user, &t);

	if (r < 0) {
		logf_(WGTUN_LOG_ERROR, r == -EINVAL ? "--user %s is root: nothing would be dropped"
						    : "--user %s: no such user",
		      o->user);
		return r;
	}
	/* The UAPI thread watches the socket file (inotify needs read access to it); root's
	 * `wg` still connects (mode 0700 stays, root bypasses it). */
	if (fchownat(AT_FDCWD, path, t.uid, t.gid, AT_SYMLINK_NOFOLLOW) < 0) {
		r = -errno;
		logf_(WGTUN_LOG_ERROR, "--user: chown %s: %s", path, strerror(-r));
		return r;
	}
	r = start_cleaner(path, &cleaner);
	if (r < 0) {
		logf_(WGTUN_LOG_ERROR, "--user: cannot start the socket cleaner: %s", strerror(-r));
		return r;
	}
	r = drop_privileges(&t);
	if (r < 0) {
		logf_(WGTUN_LOG_ERROR, "--user %s: dropping privileges failed: %s", o->user,
		      strerror(-r));
		return r;
	}
	logf_(WGTUN_LOG_INFO, "running as uid %u gid %u with CAP_NET_ADMIN, CAP_NET_BIND_SERVICE "
			      "(socket cleaner pid %d)",
	      (unsigned)t.uid, (unsigned)t.gid, (int)cleaner);
	return 0;
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
	if (o->user) { /* say it here: the daemon's own message may go to /dev/null */
		drop_target t;
		if (resolve_user(o->user, &t) < 0) {
			fprintf(stderr, "wgtun: --user %s: no such user, or root\n", o->user);
			return 1;
		}
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
		tun_fd_name(tun, name);
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
	bool made_socket = false;

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
	} else {
		tun_fd_name(tun, name);
		copy_name(logger.iface, name);
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
	/* WGTUN_CRYPTO_WORKERS: threads for packet crypto (0 or unset = one per CPU). */
	if (env_uint("WGTUN_CRYPTO_WORKERS", 64, &cfg.crypto_workers) != 0) {
		logf_(WGTUN_LOG_ERROR, "WGTUN_CRYPTO_WORKERS must be a number from 0 to 64");
		r = 1;
		goto out;
	}
	if (env_uint("WGTUN_BUSY_POLL_US", 1000, &cfg.busy_poll_us) != 0) {
		logf_(WGTUN_LOG_ERROR, "WGTUN_BUSY_POLL_US must be a number from 0 to 1000");
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
		made_socket = true;
	} else if (snprintf(path, sizeof(path), "/var/run/wireguard/%s.sock", name) >=
		   (int)sizeof(path)) {
		r = 1;
		goto out;
	}
	if (o->user && privdrop_setup(o, path) < 0) {
		if (made_socket)
			unlink(path); /* still root unless the cleaner runs, which then removes it */
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
