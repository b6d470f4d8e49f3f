/* Reads CSV records one physical line at a time, with libcsv doing the quoting (RFC 4180,
 * strict). A record may not span lines, so every message can name its line. Skips a UTF-8
 * byte order mark and blank lines; refuses NUL bytes. Used by the area import and by
 * `wijkradar ingest`. */
#ifndef WR_CSVREAD_H
#define WR_CSVREAD_H

#include <stddef.h>
#include <stdio.h>

#define CSVREAD_MAX_FIELDS 256

struct csvread;

/* Starts reading `in` (borrowed; the caller closes it). Returns NULL with errno = ENOMEM. */
struct csvread *csvread_new(FILE *in);

/* Frees the reader. NULL-safe. */
void csvread_free(struct csvread *r);

/* Reads the next record. Returns 1 and sets *fields and *n_fields (owned by the reader, valid and
 * writable until the next call) and *line (1-based physical line); 0 at end of input; -EINVAL
 * for malformed input, with *line set, *column set to the 0-based field where reading failed
 * (-1 for the whole line) and a reason in msg (for example "malformed quoting"); -EIO when
 * reading failed; -ENOMEM. */
int csvread_next(struct csvread *r, char ***fields, size_t *n_fields, int *line, int *column,
                 char *msg, size_t msg_size) __attribute__((warn_unused_result));

#endif
