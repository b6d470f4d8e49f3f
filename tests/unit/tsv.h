/* Reading the tab-separated golden and fixture files of the unit tests. */
#ifndef WR_TEST_TSV_H
#define WR_TEST_TSV_H

#include <stddef.h>

/* Splits `line` in place at tabs, after cutting the line end, into at most `max` fields.
 * Returns the number of fields. */
size_t tsv_split(char *line, char **field, size_t max);

/* strtod of a whole field ("nan" and "inf" included); fails the running cmocka test when the
 * field is empty or has anything after the number. */
double tsv_number(const char *s);

#endif
