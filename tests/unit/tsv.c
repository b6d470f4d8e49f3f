/* Tab-separated test data (see tsv.h). */
#include "tsv.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

size_t tsv_split(char *line, char **field, size_t max)
{
	line[strcspn(line, "\r\n")] = '\0';
	size_t n = 0;
	char *p = line;
	while (n < max) {
		field[n++] = p;
		char *tab = strchr(p, '\t');
		if (tab == NULL)
			break;
		*tab = '\0';
		p = tab + 1;
	}
	return n;
}

double tsv_number(const char *s)
{
	char *end = NULL;
	double v = strtod(s, &end);
	if (end == s || *end != '\0')
		fail_msg("not a number: \"%s\"", s);
	return v;
}
