/* Builds PostgreSQL array literals ("{"a","b",NULL}") for sending many rows as a few array
 * parameters of one statement (unnest), with every element quoted and escaped. */
#ifndef WR_PGARRAY_H
#define WR_PGARRAY_H

#include <stdbool.h>
#include <stddef.h>

/* A growing array literal. Zero-initialise, append, then pgarray_text; free with pgarray_free. */
struct pgarray {
	char *buf;
	size_t len, cap;
	size_t n;    /* elements appended */
	bool failed; /* an allocation failed; pgarray_text returns NULL */
};

/* Appends one element: `value` (borrowed) quoted and escaped, or NULL for SQL NULL. */
void pgarray_add(struct pgarray *a, const char *value);

/* Appends a double with full precision (%.17g). */
void pgarray_add_double(struct pgarray *a, double v);

/* Appends an integer. */
void pgarray_add_long(struct pgarray *a, long v);

/* Closes and returns the literal ("{}" when empty); valid until pgarray_free. NULL when an
 * allocation failed. */
const char *pgarray_text(struct pgarray *a);

/* Frees the buffer and zeroes `a`. NULL-safe. */
void pgarray_free(struct pgarray *a);

#endif
