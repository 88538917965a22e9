/* Framing of one UAPI stream connection: "get=1\n\n" and "set=1\n...\n\n" requests in
 * sequence. Differences from wireguard-go, all on input it never gets from wg: a set request
 * is read to its blank line before the reply (so a failed set leaves the stream framed and
 * changes nothing), and lines / requests are bounded. */
#include "uapi/uapi.h"

#include "crypto/crypto.h"

#include <errno.h>
#include <string.h>

enum {
	ST_OP = 0, /* reading "get=1" / "set=1" */
	ST_GET_NL, /* after "get=1\n": only a bare '\n' may follow */
	ST_SET,    /* reading key=value lines up to the blank line */
	ST_CLOSED,
};

void uapi_conn_init(uapi_conn *c, size_t max_line, size_t max_request, uapi_zone_resolver zone)
{
	memset(c, 0, sizeof(*c));
	c->max_line = (max_line == 0 || max_line > UAPI_MAX_LINE) ? UAPI_MAX_LINE : max_line;
	c->max_request = (max_request == 0 || max_request > UAPI_MAX_REQUEST) ? UAPI_MAX_REQUEST
									      : max_request;
	c->state = ST_OP;
	uapi_set_init(&c->set, zone);
}

void uapi_conn_clear(uapi_conn *c)
{
	uapi_set_clear(&c->set);
	crypto_wipe(c->line, sizeof(c->line));
	c->line_len = 0;
}

static void ev_set(uapi_event *ev, uapi_event_type type, int err)
{
	ev->type = type;
	ev->err = err;
}

static void conn_close(uapi_conn *c, uapi_event *ev, int err)
{
	uapi_conn_clear(c);
	c->state = ST_CLOSED;
	ev_set(ev, UAPI_EV_CLOSE, err);
}

/* The set request ended (blank line or EOF): hand out the change or the error. */
static void finish_set(uapi_conn *c, uapi_event *ev)
{
	int r = uapi_set_finish(&c->set, &ev->change);

	ev_set(ev, r ? UAPI_EV_ERROR : UAPI_EV_SET, r);
	c->state = ST_OP;
	c->request_bytes = 0;
}

static bool line_is(const uapi_conn *c, const char *lit)
{
	size_t n = strlen(lit);
	return c->line_len == n && memcmp(c->line, lit, n) == 0;
}

/* A complete line in ST_OP or ST_SET; returns true if it produced an event. */
static bool on_line(uapi_conn *c, uapi_event *ev)
{
	bool done = false;

	if (c->state == ST_OP) {
		if (line_is(c, "get=1")) {
			c->state = ST_GET_NL;
		} else if (line_is(c, "set=1")) {
			c->state = ST_SET;
			c->request_bytes = c->line_len + 1;
		} else {
			/* wireguard-go drops the connection on an unknown operation, no reply */
			conn_close(c, ev, 0);
			done = true;
		}
	} else if (c->line_len == 0) {
		finish_set(c, ev);
		done = true;
	} else {
		uapi_set_line(&c->set, c->line, c->line_len);
	}
	crypto_wipe(c->line, c->line_len);
	c->line_len = 0;
	return done;
}

size_t uapi_conn_feed(uapi_conn *c, const void *data, size_t len, uapi_event *ev)
{
	const char *d = data;
	size_t i = 0;

	memset(ev, 0, sizeof(*ev));
	if (c->state == ST_CLOSED) {
		ev_set(ev, UAPI_EV_CLOSE, 0);
		return 0;
	}
	while (i < len) {
		char ch = d[i++];
		if (c->state == ST_GET_NL) {
			if (ch != '\n') {
				conn_close(c, ev, -EINVAL);
				return i;
			}
			c->state = ST_OP;
			ev_set(ev, UAPI_EV_GET, 0);
			return i;
		}
		if (c->state == ST_SET && ++c->request_bytes > c->max_request) {
			conn_close(c, ev, -ENOMEM);
			return i;
		}
		if (ch == '\n') {
			if (on_line(c, ev))
				return i;
			continue;
		}
		if (c->line_len >= c->max_line) {
			/* In ST_OP there is no request to answer yet: close silently, as for any
			 * unknown operation. */
			conn_close(c, ev, c->state == ST_SET ? -EINVAL : 0);
			return i;
		}
		c->line[c->line_len++] = ch;
	}
	return i;
}

void uapi_conn_eof(uapi_conn *c, uapi_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (c->state != ST_SET) {
		conn_close(c, ev, 0);
		return;
	}
	if (c->line_len > 0)
		uapi_set_line(&c->set, c->line, c->line_len);
	crypto_wipe(c->line, sizeof(c->line));
	c->line_len = 0;
	finish_set(c, ev);
	c->state = ST_CLOSED;
}
