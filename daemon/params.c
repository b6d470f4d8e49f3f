/* API parameter parsing (see params.h). */
#include "params.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int params_int(const char *v, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0 || n < lo || n > hi)
		return -EINVAL;
	*out = n;
	return 0;
}

bool params_id(const char *v)
{
	size_t n = strlen(v);
	return n >= 1 && n <= 18 && strspn(v, "0123456789") == n && v[0] != '0';
}

int params_cursor_parse(const char *v, struct params_cursor *out)
{
	if (strcmp(v, "0") == 0) {
		snprintf(out->xid, sizeof(out->xid), "0");
		snprintf(out->event, sizeof(out->event), "0");
		return 0;
	}
	const char *dot = strchr(v, '.');
	size_t nx = dot != NULL ? (size_t)(dot - v) : 0, ne = dot != NULL ? strlen(dot + 1) : 0;
	if (dot == NULL || nx == 0 || ne == 0 || nx >= sizeof(out->xid) ||
	    ne >= sizeof(out->event) || strspn(v, "0123456789") != nx ||
	    strspn(dot + 1, "0123456789") != ne)
		return -EINVAL;
	snprintf(out->xid, sizeof(out->xid), "%.*s", (int)nx, v);
	snprintf(out->event, sizeof(out->event), "%s", dot + 1);
	return 0;
}

bool params_one_of(const char *v, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v, set[i]) == 0)
			return true;
	}
	return false;
}

bool params_theme(const char *v)
{
	size_t n = strlen(v);
	return n <= 32 && strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
}
