/* Logging (see log.h). The level and the format are the mutable globals of the daemon; JSON
 * lines are written with jansson, which escapes whatever a message holds. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

static enum log_level current_level = LOG_LEVEL_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};
static bool json_lines;

void log_set_json(bool json)
{
	json_lines = json;
}

/* The JSON line of a message, with "request_id" taken from a leading "request ID: ". */
static void write_json(enum log_level level, const char *module, const char *msg)
{
	char when[40], id[80] = "";
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + n, sizeof(when) - n, ".%03ldZ", ts.tv_nsec / 1000000);
	if (strncmp(msg, "request ", 8) == 0) {
		size_t len = strcspn(msg + 8, ": ");
		if (len > 0 && len < sizeof(id) && msg[8 + len] == ':')
			snprintf(id, sizeof(id), "%.*s", (int)len, msg + 8);
	}
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "time", when, "level", level_names[level],
	                      "module", module, "msg", msg);
	if (o != NULL && id[0] != '\0')
		json_object_set_new(o, "request_id", json_string(id));
	char *text = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (text != NULL) {
		size_t len = strlen(text);
		char *line = realloc(text, len + 2);
		if (line != NULL) {
			line[len] = '\n';
			line[len + 1] = '\0';
			fputs(line, stderr);
			text = line;
		}
	}
	free(text);
	json_decref(o);
}

void log_set_level(enum log_level level)
{
	current_level = level;
}

bool log_enabled(enum log_level level)
{
	return level <= current_level;
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i <= LOG_LEVEL_DEBUG; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_write(enum log_level level, const char *module, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	if (json_lines) {
		/* Invalid UTF-8 in a message (it should hold none) makes jansson refuse the line;
		 * then the plain line is written. */
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		json_t *probe = json_string(line);
		if (probe != NULL) {
			json_decref(probe);
			write_json(level, module, line);
			return;
		}
	}
	int n = snprintf(line, sizeof(line), "%s: %s: ", level_names[level], module);
	if (n < 0)
		return;
	va_start(ap, fmt);
	if ((size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One fputs per line so that concurrent writers do not interleave within a line. */
	size_t len = strlen(line);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len] = '\n';
	line[len + 1] = '\0';
	fputs(line, stderr);
}
