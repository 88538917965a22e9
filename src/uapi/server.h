/* The UAPI unix-socket server: /var/run/wireguard/IFACE.sock (or an inherited listening fd),
 * one thread per server, non-blocking connections with bounded buffers, each request handed to
 * a backend (the device) through function pointers. Watches the socket file: when it is
 * removed (or replaced) the server stops on its own and says so through stop_fd (the daemon
 * then exits, as wireguard-go does). */
#ifndef WGTUN_UAPI_SERVER_H
#define WGTUN_UAPI_SERVER_H

#include "device/config.h"

#include <stddef.h>

#define UAPI_SOCKET_DIR "/var/run/wireguard"
/* Open connections served at once; a connection beyond it is accepted and closed at once
 * (wg then reports the error; it retries nothing). */
#define UAPI_SERVER_MAX_CONNS 32
/* Bytes read per read() call (the framing itself bounds lines and requests). */
#define UAPI_SERVER_READ_CHUNK 4096
/* Pending reply bytes per connection. A client that pipelines requests without reading the
 * replies past it is disconnected. Big enough for the get reply of a maximal device. */
#define UAPI_SERVER_MAX_PENDING (256u * 1024u * 1024u)
/* listen() backlog. */
#define UAPI_SERVER_BACKLOG 16

typedef struct {
	/* Applies a whole set request atomically: 0 or -errno (sent back as errno=N). */
	int (*apply)(void *ctx, const wg_config_change *change);
	/* Fills a snapshot for get (cleared by the server): 0 or -errno. */
	int (*get)(void *ctx, wg_config_info *info);
	/* Optional log sink; level as device_log_level (1 error, 2 info, 3 debug). */
	void (*log)(void *ctx, int level, const char *msg);
	void *ctx;
} uapi_backend;

/* "DIR/IFNAME.sock" into buf. -EINVAL if ifname is empty, has '/' or the path is too long for
 * a unix socket address. dir NULL = UAPI_SOCKET_DIR. */
int uapi_socket_path(char *buf, size_t cap, const char *dir, const char *ifname);

/* Creates the listening socket at path: makes the parent directory (0755) if missing; if a
 * socket file exists and accepts a connection another instance owns it (-EADDRINUSE),
 * otherwise it is stale and is replaced; a non-socket file there is -EEXIST. The socket file
 * gets mode 0700 (without touching the process umask). Returns the fd (close-on-exec) or
 * -errno. Thread-safe. */
int uapi_listen(const char *path);

typedef struct uapi_server uapi_server;

/* Starts serving listen_fd (taken over, also on failure) on a new thread. path: the socket
 * file to watch and to remove on free (NULL = none, e.g. a socketpair in tests). 0 or -errno. */
int uapi_server_start(uapi_server **out, int listen_fd, const char *path,
		      const uapi_backend *backend);

/* Readable (eventfd) once the server stopped on its own; uapi_server_reason() then says why:
 * -ENOENT = the socket file was removed or replaced, or -errno of a listener failure. */
int uapi_server_stop_fd(const uapi_server *s);
int uapi_server_reason(const uapi_server *s);

/* Stops the thread, closes every connection and the listener, and removes the socket file if
 * it is still ours. NULL is fine. Not concurrently with itself. */
void uapi_server_free(uapi_server *s);

#endif
