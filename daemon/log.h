/* Logging to stderr, one line per event: "level: module: message" (the journal adds time), or
 * a JSON object per line with time, level, module and message for log collectors. Never log
 * signal contents, resident attributes or free text: ids, counts, codes only. */
#ifndef WR_LOG_H
#define WR_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

/* Writes JSON lines ({"time", "level", "module", "msg", "request_id"?}) instead of plain
 * lines. A message that starts with "request ID:" gets the id as "request_id". This function
 * can't fail. */
void log_set_json(bool json);

/* Sets the level above which messages are dropped. This function can't fail. */
void log_set_level(enum log_level level);

/* True when messages of `level` are written; the macros test this before formatting. */
bool log_enabled(enum log_level level);

/* Parses "error", "warn", "info" or "debug". Returns 0, or -EINVAL for anything else. */
int log_level_parse(const char *s, enum log_level *out);

/* Writes one line; use the macros below instead. `module` and `fmt` are borrowed. */
void log_write(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(module, ...) log_write(LOG_LEVEL_ERROR, module, __VA_ARGS__)
#define log_warn(module, ...)                                                                      \
	do {                                                                                       \
		if (log_enabled(LOG_LEVEL_WARN))                                                   \
			log_write(LOG_LEVEL_WARN, module, __VA_ARGS__);                            \
	} while (0)
#define log_info(module, ...)                                                                      \
	do {                                                                                       \
		if (log_enabled(LOG_LEVEL_INFO))                                                   \
			log_write(LOG_LEVEL_INFO, module, __VA_ARGS__);                            \
	} while (0)
#define log_debug(module, ...)                                                                     \
	do {                                                                                       \
		if (log_enabled(LOG_LEVEL_DEBUG))                                                  \
			log_write(LOG_LEVEL_DEBUG, module, __VA_ARGS__);                           \
	} while (0)

#endif
