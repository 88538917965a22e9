/* A small JSON reader for test vectors. Numbers keep their source text so that u64 values
 * above 2^53 survive (tjson_u64). Test-only: aborts on malformed input. */
#ifndef WGTUN_TJSON_H
#define WGTUN_TJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { TJ_NULL, TJ_BOOL, TJ_NUM, TJ_STR, TJ_ARR, TJ_OBJ } tjson_type;

typedef struct tjson tjson;
struct tjson {
	tjson_type type;
	bool b;
	char *str;   /* TJ_STR: decoded string; TJ_NUM: the number's text */
	size_t n;    /* TJ_ARR/TJ_OBJ: number of items */
	tjson **items;
	char **keys; /* TJ_OBJ only */
};

/* Parses text; aborts with a message on a syntax error. */
tjson *tjson_parse(const char *text);
/* Reads and parses a file under tests/vectors (relative path). Aborts if missing. */
tjson *tjson_load_vector(const char *rel);
void tjson_free(tjson *j);

/* Object member or NULL. */
tjson *tjson_get(const tjson *obj, const char *key);
/* Array item or NULL. */
tjson *tjson_at(const tjson *arr, size_t i);
/* Typed accessors: abort if the member is missing or of the wrong type. */
const char *tjson_str(const tjson *obj, const char *key);
uint64_t tjson_u64(const tjson *obj, const char *key);
int64_t tjson_i64(const tjson *obj, const char *key);
double tjson_num(const tjson *obj, const char *key);
bool tjson_bool(const tjson *obj, const char *key);
/* Number value of a node itself. */
uint64_t tjson_node_u64(const tjson *node);
double tjson_node_num(const tjson *node);

#endif
