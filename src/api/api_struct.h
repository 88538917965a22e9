/* The versioned-struct rule of include/wgtun.h, shared by the config copies of the API: the
 * caller's struct_size says how much of the struct it knows. Older apps pass less (the rest
 * keeps our defaults); newer apps may pass more, but only zeros there, since we cannot honour
 * a field we do not know. */
#ifndef WGTUN_API_API_STRUCT_H
#define WGTUN_API_API_STRUCT_H

#include <errno.h>
#include <stddef.h>
#include <string.h>

/* dst holds our defaults (dst_size bytes). Copies src's src_size bytes over them: 0, or
 * -EINVAL (src_size below v1_size, or a non-zero byte past dst_size) with dst unchanged. */
static inline int api_struct_take(void *dst, size_t dst_size, const void *src, size_t src_size,
				  size_t v1_size)
{
	const unsigned char *s = src;

	if (src_size < v1_size)
		return -EINVAL;
	for (size_t i = dst_size; i < src_size; i++)
		if (s[i])
			return -EINVAL;
	memcpy(dst, src, src_size < dst_size ? src_size : dst_size);
	return 0;
}

#endif
