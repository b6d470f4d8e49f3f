/* Reading the tab-separated golden and fixture files of the unit tests. */
#ifndef WR_TEST_TSV_H
#define WR_TEST_TSV_H

#include <stddef.h>

/* Splits `line` in place at tabs, after cutting the line end, into at most `max` fields.
 * Returns the number of fields. */
size_t tsv_split(char *line, char **field, size_t max);

#endif
