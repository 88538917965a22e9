/* UAPI socket server: listener setup with stale-socket detection, a poll loop on its own
 * thread, per-connection framing (uapi_conn) and reply buffers, socket-file watch (inotify). */
#define _GNU_SOURCE
#include "uapi/server.h"

#include "crypto/crypto.h"
#include "proto/logline.h"
#include "uapi/uapi.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct {
	int fd; /* -1 = free slot */
	bool closing;   /* close once out is flushed */
	char *out;      /* pending reply bytes (may hold keys: wiped) */
	size_t out_len, out_off, out_cap;
	uapi_conn conn;
} server_conn;

struct uapi_server {
	int listen_fd;
	int inotify_fd; /* -1 without a path */
	int wake_fd;    /* eventfd: free() asks the thread to stop */
	int stop_fd;    /* eventfd: the thread stopped on its own */
	int reason;     /* written by the thread, read by others: __atomic */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool has_path;
	ino_t ino; /* inode of our socket file (to tell "ours" from a replacement) */
	dev_t dev;
	uapi_backend be;
	pthread_t thread;
	server_conn conns[UAPI_SERVER_MAX_CONNS];
};

int uapi_socket_path(char *buf, size_t cap, const char *dir, const char *ifname)
{
	struct sockaddr_un sun;
	int n;

	if (!ifname || !ifname[0] || strchr(ifname, '/'))
		return -EINVAL;
	n = snprintf(buf, cap, "%s/%s.sock", dir ? dir : UAPI_SOCKET_DIR, ifname);
	if (n < 0 || (size_t)n >= cap || (size_t)n >= sizeof(sun.sun_path))
		return -EINVAL;
	return 0;
}

static int make_addr(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -EINVAL;
	strcpy(sun->sun_path, path);
	return 0;
}

static int make_parent_dir(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	if (strlen(path) >= sizeof(dir))
		return -EINVAL;
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) == 0)
		return chmod(dir, 0755) < 0 ? -errno : 0; /* whatever the umask */
	return errno == EEXIST ? 0 : -errno;
}

/* 1 if something listens at path, 0 if not (stale or absent), -errno if a non-socket is there. */
static int path_in_use(const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, r;

	if (lstat(sun->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 ? 1 : 0;
	close(fd);
	return r;
}

int uapi_listen(const char *path)
{
	struct sockaddr_un sun;
	int fd = -1, r;

	r = make_addr(&sun, path);
	if (r < 0)
		goto out;
	r = make_parent_dir(path);
	if (r < 0)
		goto out;
	r = path_in_use(&sun);
	if (r != 0) {
		r = r > 0 ? -EADDRINUSE : r;
		goto out;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		r = -errno;
		goto out;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	/* The socket inode's mode (minus umask) becomes the file's mode at bind: 0700 from the
	 * start, without changing the process-wide umask under other threads. */
	if (fchmod(fd, 0700) < 0 || bind(fd, (const struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(path, 0700) < 0 || listen(fd, UAPI_SERVER_BACKLOG) < 0) {
		r = -errno;
		goto out;
	}
	return fd;
out:
	if (fd >= 0)
		close(fd);
	return r;
}

__attribute__((format(printf, 3, 4))) static void slog(uapi_server *s, int level,
						       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	wg_log_vprintf(s->be.log, s->be.ctx, level, fmt, ap);
	va_end(ap);
}

static void conn_free(server_conn *c)
{
	if (c->fd < 0)
		return;
	close(c->fd);
	c->fd = -1;
	if (c->out) {
		crypto_wipe(c->out, c->out_cap);
		free(c->out);
	}
	c->out = NULL;
	c->out_len = c->out_off = c->out_cap = 0;
	c->closing = false;
	uapi_conn_clear(&c->conn);
}

/* Appends to the reply buffer; false (and the connection is to be dropped) over the bound. */
static bool conn_append(server_conn *c, const char *data, size_t len)
{
	size_t need = c->out_len + len;

	if (len == 0)
		return true;
	if (need > UAPI_SERVER_MAX_PENDING)
		return false;
	if (need > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *nb;
		while (cap < need)
			cap *= 2;
		nb = malloc(cap);
		if (!nb)
			return false;
		if (c->out) {
			memcpy(nb, c->out, c->out_len);
			crypto_wipe(c->out, c->out_cap);
			free(c->out);
		}
		c->out = nb;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return true;
}

static bool reply_errno(server_conn *c, int err)
{
	char buf[32];
	size_t n = uapi_format_errno(buf, err);
	return conn_append(c, buf, n);
}

static bool reply_get(uapi_server *s, server_conn *c)
{
	wg_config_info info;
	char *text = NULL;
	size_t len = 0;
	bool ok;
	int r;

	memset(&info, 0, sizeof(info));
	r = s->be.get(s->be.ctx, &info);
	if (r == 0)
		r = uapi_format_get(&info, &text, &len);
	wg_config_info_clear(&info);
	ok = (r == 0 ? conn_append(c, text, len) : true) && reply_errno(c, r);
	if (text) {
		crypto_wipe(text, len);
		free(text);
	}
	return ok;
}

/* Handles one framing event; false = drop the connection now. */
static bool on_event(uapi_server *s, server_conn *c, uapi_event *ev)
{
	bool ok = true;
	int r;

	switch (ev->type) {
	case UAPI_EV_GET:
		ok = reply_get(s, c);
		break;
	case UAPI_EV_SET:
		r = s->be.apply(s->be.ctx, &ev->change);
		if (r < 0)
			/* glibc/musl/bionic strerror is thread-safe for the errnos it knows */
			/* NOLINTNEXTLINE(concurrency-mt-unsafe) */
			slog(s, 1, "UAPI: set failed: %s", strerror(-r));
		ok = reply_errno(c, r);
		break;
	case UAPI_EV_ERROR:
		/* NOLINTNEXTLINE(concurrency-mt-unsafe): as above */
		slog(s, 1, "UAPI: invalid set request: %s", strerror(-ev->err));
		ok = reply_errno(c, ev->err);
		break;
	case UAPI_EV_CLOSE:
		if (ev->err)
			ok = reply_errno(c, ev->err);
		c->closing = true;
		break;
	case UAPI_EV_NONE:
		break;
	}
	wg_config_change_clear(&ev->change);
	return ok;
}

static bool conn_read(uapi_server *s, server_conn *c)
{
	char buf[UAPI_SERVER_READ_CHUNK];
	uapi_event ev;
	ssize_t n = read(c->fd, buf, sizeof(buf));
	size_t pos = 0;
	bool ok = true;

	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0) {
		uapi_conn_eof(&c->conn, &ev);
		ok = on_event(s, c, &ev);
		c->closing = true;
		goto out;
	}
	while (ok && !c->closing && pos < (size_t)n) {
		pos += uapi_conn_feed(&c->conn, buf + pos, (size_t)n - pos, &ev);
		ok = on_event(s, c, &ev);
	}
out:
	crypto_wipe(buf, sizeof(buf));
	return ok;
}

static bool conn_write(server_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR;
		c->out_off += (size_t)n;
	}
	crypto_wipe(c->out, c->out_len);
	c->out_len = c->out_off = 0;
	return !c->closing;
}

static void accept_one(uapi_server *s)
{
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (size_t i = 0; i < UAPI_SERVER_MAX_CONNS; i++) {
		server_conn *c = &s->conns[i];
		if (c->fd >= 0)
			continue;
		c->fd = fd;
		uapi_conn_init(&c->conn, 0, 0, if_nametoindex);
		return;
	}
	slog(s, 1, "UAPI: too many connections (%d), refusing one", UAPI_SERVER_MAX_CONNS);
	close(fd);
}

/* true if our socket file is gone or is no longer ours. */
static bool socket_file_gone(uapi_server *s)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct stat st;

	while (read(s->inotify_fd, buf, sizeof(buf)) > 0)
		;
	if (lstat(s->path, &st) < 0)
		return errno == ENOENT;
	return st.st_ino != s->ino || st.st_dev != s->dev;
}

static void signal_fd(int fd)
{
	uint64_t one = 1;
	ssize_t n = write(fd, &one, sizeof(one));
	(void)n;
}

static void *server_thread(void *arg)
{
	uapi_server *s = arg;
	struct pollfd pfd[3 + UAPI_SERVER_MAX_CONNS];
	size_t map[UAPI_SERVER_MAX_CONNS];

	for (;;) {
		nfds_t n = 0;
		pfd[n++] = (struct pollfd){.fd = s->wake_fd, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = s->inotify_fd, .events = POLLIN};
		for (size_t i = 0; i < UAPI_SERVER_MAX_CONNS; i++) {
			server_conn *c = &s->conns[i];
			if (c->fd < 0)
				continue;
			/* While a reply is pending, read nothing more: that bounds the buffer. */
			map[n - 3] = i;
			pfd[n++] = (struct pollfd){.fd = c->fd,
						   .events = c->out_len ? POLLOUT : POLLIN};
		}
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			__atomic_store_n(&s->reason, -errno, __ATOMIC_RELEASE);
			break;
		}
		if (pfd[0].revents)
			return NULL; /* asked to stop */
		if (pfd[2].revents && socket_file_gone(s)) {
			slog(s, 2, "UAPI: socket file %s removed, stopping", s->path);
			__atomic_store_n(&s->reason, -ENOENT, __ATOMIC_RELEASE);
			break;
		}
		if (pfd[1].revents & (POLLERR | POLLNVAL)) {
			__atomic_store_n(&s->reason, -EBADF, __ATOMIC_RELEASE);
			break;
		}
		if (pfd[1].revents & POLLIN)
			accept_one(s);
		for (nfds_t k = 3; k < n; k++) {
			server_conn *c = &s->conns[map[k - 3]];
			bool keep = true;
			if (!pfd[k].revents)
				continue;
			if (pfd[k].revents & POLLOUT)
				keep = conn_write(c);
			else if (pfd[k].revents & POLLIN)
				keep = conn_read(s, c);
			else
				keep = false; /* POLLERR / POLLHUP with nothing to read */
			/* Try to answer at once (the common case) instead of waiting for POLLOUT. */
			if (keep && c->out_len)
				keep = conn_write(c);
			if (!keep || (c->closing && !c->out_len))
				conn_free(c);
		}
	}
	signal_fd(s->stop_fd);
	return NULL;
}

static int setup_watch(uapi_server *s, const char *path)
{
	struct stat st;

	if (strlen(path) >= sizeof(s->path))
		return -EINVAL;
	strcpy(s->path, path);
	if (lstat(path, &st) < 0)
		return -errno;
	s->ino = st.st_ino;
	s->dev = st.st_dev;
	s->has_path = true;
	s->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (s->inotify_fd < 0)
		return -errno;
	/* IN_ATTRIB fires on unlink (link count) and chmod; either way we re-check the file. */
	if (inotify_add_watch(s->inotify_fd, path, IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) < 0)
		return -errno;
	return 0;
}

int uapi_server_start(uapi_server **out, int listen_fd, const char *path,
		      const uapi_backend *backend)
{
	uapi_server *s = calloc(1, sizeof(*s));
	int r;

	*out = NULL;
	if (!s) {
		close(listen_fd);
		return -ENOMEM;
	}
	s->listen_fd = listen_fd;
	s->inotify_fd = s->wake_fd = s->stop_fd = -1;
	s->be = *backend;
	for (size_t i = 0; i < UAPI_SERVER_MAX_CONNS; i++)
		s->conns[i].fd = -1;
	if (fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK) < 0 ||
	    fcntl(listen_fd, F_SETFD, FD_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	if (path && (r = setup_watch(s, path)) < 0)
		goto fail;
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0 || s->stop_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = -pthread_create(&s->thread, NULL, server_thread, s);
	if (r < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	s->has_path = false; /* not started: leave the file to the caller */
	s->thread = pthread_self();
	uapi_server_free(s);
	return r;
}

int uapi_server_stop_fd(const uapi_server *s)
{
	return s->stop_fd;
}

int uapi_server_reason(const uapi_server *s)
{
	return __atomic_load_n(&s->reason, __ATOMIC_ACQUIRE);
}

void uapi_server_free(uapi_server *s)
{
	struct stat st;

	if (!s)
		return;
	if (!pthread_equal(s->thread, pthread_self())) {
		signal_fd(s->wake_fd);
		pthread_join(s->thread, NULL);
	}
	for (size_t i = 0; i < UAPI_SERVER_MAX_CONNS; i++)
		conn_free(&s->conns[i]);
	/* Remove the file only if it is still ours: a newer instance may own the path now. */
	if (s->has_path && lstat(s->path, &st) == 0 && st.st_ino == s->ino && st.st_dev == s->dev)
		unlink(s->path);
	close(s->listen_fd);
	if (s->inotify_fd >= 0)
		close(s->inotify_fd);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	free(s);
}
