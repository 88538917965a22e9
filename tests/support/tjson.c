#include "tjson.h"
#include "test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	const char *p;
} cursor;

static void die(const cursor *c, const char *what)
{
	fprintf(stderr, "tjson: %s near '%.20s'\n", what, c->p);
	abort();
}

static void *xalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);
	if (!p)
		abort();
	return p;
}

static void skip_ws(cursor *c)
{
	while (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t')
		c->p++;
}

static void put_utf8(char **o, unsigned cp)
{
	char *d = *o;
	if (cp < 0x80) {
		*d++ = (char)cp;
	} else if (cp < 0x800) {
		*d++ = (char)(0xc0 | cp >> 6);
		*d++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*d++ = (char)(0xe0 | cp >> 12);
		*d++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*d++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*d++ = (char)(0xf0 | cp >> 18);
		*d++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*d++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*d++ = (char)(0x80 | (cp & 0x3f));
	}
	*o = d;
}

static unsigned hex4(cursor *c)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char ch = *c->p++;
		v <<= 4;
		if (ch >= '0' && ch <= '9')
			v |= (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			v |= (unsigned)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			v |= (unsigned)(ch - 'A' + 10);
		else
			die(c, "bad \\u escape");
	}
	return v;
}

static char *parse_string(cursor *c)
{
	const char *start;
	char *out, *o;
	if (*c->p != '"')
		die(c, "expected string");
	start = ++c->p;
	while (*c->p && *c->p != '"') /* upper bound of the decoded length */
		c->p += (*c->p == '\\' && c->p[1]) ? 2 : 1;
	if (!*c->p)
		die(c, "unterminated string");
	out = o = xalloc((size_t)(c->p - start) * 2 + 1);
	c->p = start;
	while (*c->p != '"') {
		char ch = *c->p++;
		if (ch != '\\') {
			*o++ = ch;
			continue;
		}
		ch = *c->p++;
		switch (ch) {
		case 'n': *o++ = '\n'; break;
		case 't': *o++ = '\t'; break;
		case 'r': *o++ = '\r'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'u': {
			unsigned cp = hex4(c);
			if (cp >= 0xd800 && cp < 0xdc00 && c->p[0] == '\\' && c->p[1] == 'u') {
				c->p += 2;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (hex4(c) - 0xdc00);
			}
			put_utf8(&o, cp);
			break;
		}
		default: *o++ = ch; break;
		}
	}
	c->p++;
	*o = 0;
	return out;
}

static tjson *parse_value(cursor *c, int depth);

static void push(tjson *j, tjson *item, char *key, size_t *cap)
{
	if (j->n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		j->items = realloc(j->items, *cap * sizeof(*j->items));
		if (j->type == TJ_OBJ)
			j->keys = realloc(j->keys, *cap * sizeof(*j->keys));
		if (!j->items || (j->type == TJ_OBJ && !j->keys))
			abort();
	}
	j->items[j->n] = item;
	if (j->type == TJ_OBJ)
		j->keys[j->n] = key;
	j->n++;
}

static tjson *parse_container(cursor *c, int depth, tjson_type type)
{
	tjson *j = xalloc(sizeof(*j));
	size_t cap = 0;
	char close = type == TJ_OBJ ? '}' : ']';
	j->type = type;
	c->p++;
	skip_ws(c);
	if (*c->p == close) {
		c->p++;
		return j;
	}
	for (;;) {
		char *key = NULL;
		skip_ws(c);
		if (type == TJ_OBJ) {
			key = parse_string(c);
			skip_ws(c);
			if (*c->p++ != ':')
				die(c, "expected ':'");
		}
		push(j, parse_value(c, depth + 1), key, &cap);
		skip_ws(c);
		if (*c->p == ',') {
			c->p++;
			continue;
		}
		if (*c->p++ != close)
			die(c, "expected ',' or close");
		return j;
	}
}

static tjson *parse_value(cursor *c, int depth)
{
	tjson *j;
	if (depth > 64)
		die(c, "too deep");
	skip_ws(c);
	if (*c->p == '{')
		return parse_container(c, depth, TJ_OBJ);
	if (*c->p == '[')
		return parse_container(c, depth, TJ_ARR);
	j = xalloc(sizeof(*j));
	if (*c->p == '"') {
		j->type = TJ_STR;
		j->str = parse_string(c);
	} else if (!strncmp(c->p, "true", 4)) {
		j->type = TJ_BOOL;
		j->b = true;
		c->p += 4;
	} else if (!strncmp(c->p, "false", 5)) {
		j->type = TJ_BOOL;
		c->p += 5;
	} else if (!strncmp(c->p, "null", 4)) {
		j->type = TJ_NULL;
		c->p += 4;
	} else {
		const char *s = c->p;
		while (*c->p && strchr("+-0123456789.eE", *c->p))
			c->p++;
		if (c->p == s)
			die(c, "unexpected character");
		j->type = TJ_NUM;
		j->str = xalloc((size_t)(c->p - s) + 1);
		memcpy(j->str, s, (size_t)(c->p - s));
	}
	return j;
}

tjson *tjson_parse(const char *text)
{
	cursor c = {text};
	tjson *j = parse_value(&c, 0);
	skip_ws(&c);
	if (*c.p)
		die(&c, "trailing data");
	return j;
}

tjson *tjson_load_vector(const char *rel)
{
	char *text = test_read_file(test_vector_path(rel), NULL);
	tjson *j;
	if (!text) {
		fprintf(stderr, "tjson: cannot read %s\n", test_vector_path(rel));
		abort();
	}
	j = tjson_parse(text);
	free(text);
	return j;
}

void tjson_free(tjson *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->n; i++) {
		tjson_free(j->items[i]);
		if (j->keys)
			free(j->keys[i]);
	}
	free(j->items);
	free(j->keys);
	free(j->str);
	free(j);
}

tjson *tjson_get(const tjson *obj, const char *key)
{
	if (!obj || obj->type != TJ_OBJ)
		return NULL;
	for (size_t i = 0; i < obj->n; i++)
		if (!strcmp(obj->keys[i], key))
			return obj->items[i];
	return NULL;
}

tjson *tjson_at(const tjson *arr, size_t i)
{
	if (!arr || (arr->type != TJ_ARR && arr->type != TJ_OBJ) || i >= arr->n)
		return NULL;
	return arr->items[i];
}

static const tjson *need(const tjson *obj, const char *key, tjson_type type)
{
	const tjson *j = tjson_get(obj, key);
	if (!j || j->type != type) {
		fprintf(stderr, "tjson: member '%s' missing or of wrong type\n", key);
		abort();
	}
	return j;
}

const char *tjson_str(const tjson *obj, const char *key)
{
	return need(obj, key, TJ_STR)->str;
}

uint64_t tjson_node_u64(const tjson *node)
{
	char *end;
	unsigned long long v;
	if (!node || node->type != TJ_NUM || node->str[0] == '-')
		abort();
	errno = 0;
	v = strtoull(node->str, &end, 10);
	if (errno || *end)
		abort();
	return (uint64_t)v;
}

double tjson_node_num(const tjson *node)
{
	if (!node || node->type != TJ_NUM)
		abort();
	return strtod(node->str, NULL);
}

uint64_t tjson_u64(const tjson *obj, const char *key)
{
	return tjson_node_u64(need(obj, key, TJ_NUM));
}

int64_t tjson_i64(const tjson *obj, const char *key)
{
	char *end;
	long long v;
	errno = 0;
	v = strtoll(need(obj, key, TJ_NUM)->str, &end, 10);
	if (errno || *end)
		abort();
	return (int64_t)v;
}

double tjson_num(const tjson *obj, const char *key)
{
	return tjson_node_num(need(obj, key, TJ_NUM));
}

bool tjson_bool(const tjson *obj, const char *key)
{
	return need(obj, key, TJ_BOOL)->b;
}
