#include "tvec.h"

#include "test.h"

uint8_t *tvec_hex(const tjson *obj, const char *key, size_t *len)
{
	return test_unhex_alloc(tjson_str(obj, key), len);
}

void tvec_hex32(uint8_t out[32], const tjson *obj, const char *key)
{
	CHECK_EQ_INT(test_unhex(out, 32, tjson_str(obj, key)), 32);
}
