/* A small error value for paths whose errors a person reads: a rejected upload, a bad config
 * key, a bad area file. Pure code fills it; the HTTP layer or the CLI prints it. */
#ifndef WR_ERR_H
#define WR_ERR_H

#include <stdbool.h>

/* Message wording follows PostgreSQL's style: lower case, no final period. */
struct err {
	int http_status;  /* 4xx/5xx for the API; 0 when unset */
	char code[48];    /* stable machine-readable code, e.g. "invalid_config" */
	char msg[512];    /* primary message */
	char detail[512]; /* optional full sentence, may be empty */
};

/* Sets status, code and message (printf-style); clears detail. Returns -EINVAL so that
 * callers can write `return err_set(...)`. All pointers are borrowed. */
int err_set(struct err *e, int http_status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sets the detail sentence (printf-style). This function can't fail. */
void err_detail(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clears `e`. This function can't fail. */
void err_clear(struct err *e);

/* True when `e` holds an error. */
bool err_is_set(const struct err *e);

#endif
