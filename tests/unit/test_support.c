/* The test support itself: the vector reader must keep u64 values above 2^53 exact, since
 * the replay and Maybenot vectors depend on it. */
#include "test.h"
#include "tjson.h"
#include "wgtun.h"

#include <stdlib.h>

int main(void)
{
	tjson *j = tjson_load_vector("replay/counter_window.json");
	tjson *ram = tjson_get(j, "reject_after_messages");
	tjson *obj;
	uint8_t buf[4];

	CHECK(ram != NULL);
	CHECK_EQ_U64(tjson_u64(tjson_get(ram, "kernel"), "value"), 18446744073709543486ULL);
	CHECK_EQ_U64(tjson_u64(tjson_get(ram, "wireguard_go"), "value"), 18446744073709543423ULL);
	CHECK_EQ_INT(tjson_u64(j, "window_size"), 8128);
	tjson_free(j);

	obj = tjson_parse("{\"a\": [1, \"x\\u00e9\\n\", true, null], \"b\": -3}");
	CHECK_EQ_INT(tjson_get(obj, "a")->n, 4);
	CHECK(!strcmp(tjson_at(tjson_get(obj, "a"), 1)->str, "x\xc3\xa9\n"));
	CHECK_EQ_INT(tjson_i64(obj, "b"), -3);
	tjson_free(obj);

	CHECK_EQ_INT(test_unhex(buf, sizeof(buf), "a0B1"), 2);
	CHECK(buf[0] == 0xa0 && buf[1] == 0xb1);
	CHECK_EQ_INT(test_unhex(buf, sizeof(buf), "zz"), -1);
	CHECK_EQ_INT(test_unhex(buf, sizeof(buf), "0011223344"), -1);
	CHECK(!strcmp(wgtun_version(), "0.1.0"));
	return test_finish("support");
}
