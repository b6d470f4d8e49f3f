/* Error values for person-readable failures (see err.h). */
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(struct err *e, int http_status, const char *code, const char *fmt, ...)
{
	va_list ap;
	e->http_status = http_status;
	snprintf(e->code, sizeof(e->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	e->detail[0] = '\0';
	return -EINVAL;
}

void err_detail(struct err *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
	va_end(ap);
}

void err_clear(struct err *e)
{
	memset(e, 0, sizeof(*e));
}

bool err_is_set(const struct err *e)
{
	return e->msg[0] != '\0';
}
