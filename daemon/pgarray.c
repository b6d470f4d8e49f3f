/* PostgreSQL array literals (see pgarray.h). Inside double quotes only '"' and '\' need a
 * backslash; quoting every element also protects values such as "NULL" or ones with commas. */
#include "pgarray.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(struct pgarray *a, size_t more)
{
	if (a->failed)
		return false;
	if (a->len + more + 2 <= a->cap) /* room for '}' and NUL */
		return true;
	size_t ncap = a->cap != 0 ? a->cap : 256;
	while (ncap < a->len + more + 2)
		ncap *= 2;
	char *p = realloc(a->buf, ncap);
	if (p == NULL) {
		a->failed = true;
		return false;
	}
	a->buf = p;
	a->cap = ncap;
	return true;
}

/* Adds '{' before the first element, ',' before the others. */
static bool separator(struct pgarray *a)
{
	if (!reserve(a, 1))
		return false;
	a->buf[a->len++] = a->n++ == 0 ? '{' : ',';
	return true;
}

void pgarray_add(struct pgarray *a, const char *value)
{
	if (!separator(a))
		return;
	if (value == NULL) {
		if (reserve(a, 4)) {
			memcpy(a->buf + a->len, "NULL", 4);
			a->len += 4;
		}
		return;
	}
	size_t n = strlen(value);
	if (!reserve(a, 2 * n + 2))
		return;
	a->buf[a->len++] = '"';
	for (size_t i = 0; i < n; i++) {
		if (value[i] == '"' || value[i] == '\\')
			a->buf[a->len++] = '\\';
		a->buf[a->len++] = value[i];
	}
	a->buf[a->len++] = '"';
}

void pgarray_add_double(struct pgarray *a, double v)
{
	char num[32];
	snprintf(num, sizeof(num), "%.17g", v);
	pgarray_add(a, num);
}

void pgarray_add_long(struct pgarray *a, long v)
{
	char num[24];
	snprintf(num, sizeof(num), "%ld", v);
	pgarray_add(a, num);
}

const char *pgarray_text(struct pgarray *a)
{
	if (a->len == 0) {
		if (!reserve(a, 1))
			return NULL;
		a->buf[a->len++] = '{';
	}
	if (!reserve(a, 0))
		return NULL;
	a->buf[a->len] = '}';
	a->buf[a->len + 1] = '\0';
	return a->buf;
}

void pgarray_free(struct pgarray *a)
{
	if (a == NULL)
		return;
	free(a->buf);
	memset(a, 0, sizeof(*a));
}
