/* One log line through a log callback (the device's and the UAPI server's share this). */
#ifndef WGTUN_PROTO_LOGLINE_H
#define WGTUN_PROTO_LOGLINE_H

#include <stdarg.h>
#include <stdio.h>

__attribute__((format(printf, 4, 0))) static inline void
wg_log_vprintf(void (*log)(void *ctx, int level, const char *msg), void *ctx, int level,
	       const char *fmt, va_list ap)
{
	char msg[256];

	if (!log)
		return;
	(void)vsnprintf(msg, sizeof(msg), fmt, ap); /* truncation is fine for a log line */
	log(ctx, level, msg);
}

#endif
