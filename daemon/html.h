/* Writing text into HTML: the one escaping function of the e-mails and the reports. */
#ifndef WR_HTML_H
#define WR_HTML_H

#include <stdio.h>

/* Writes `s` to `f` with <, >, &, " and ' escaped (safe in text and in quoted attributes).
 * NULL writes nothing. */
void html_escape(FILE *f, const char *s);

#endif
