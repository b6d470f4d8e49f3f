/* Tab-separated test data (see tsv.h). */
#include "tsv.h"

#include <string.h>

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
