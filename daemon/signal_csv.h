/* The CSV export of case signals that `wijkradar ingest` uploads: a header row naming the
 * columns (any order, case-insensitive; signal_id, team, area_code, area_year, iso_week,
 * subject, age_band, kind and theme required) and one signal per record, with short spellings of
 * the enums ("75+", "need", "group", "follow_up", "opened"). Converts shape only: the daemon checks
 * the meaning. Pure: reads a FILE, prints nothing. */
#ifndef WR_SIGNAL_CSV_H
#define WR_SIGNAL_CSV_H

#include <stddef.h>
#include <stdio.h>

#include "codec.h"

struct signal_csv;

/* Starts reading `in` (borrowed; the caller closes it after signal_csv_free) and reads the
 * header row. Returns a new reader, or NULL with the reason in msg ("line 1: file is empty",
 * "line 1: missing column \"team\"", a csvread message, "out of memory"). */
struct signal_csv *signal_csv_open(FILE *in, char *msg, size_t size);

/* Reads the next record into *s, a signal of a batch from batch_new (its strings are
 * replaced with batch_set_string). Returns 1 with the record's line in *line; 0 at the end;
 * -EINVAL for a record that is malformed or does not convert, with *line set and the reason
 * ("area_year: not a year: ...") in msg: the caller may go on with the next record (*s is then
 * emptied, its strings freed); -EIO or -ENOMEM, with msg saying why. */
int signal_csv_next(struct signal_csv *r, struct signal *s, int *line, char *msg, size_t size)
    __attribute__((warn_unused_result));

/* Frees the reader. NULL-safe. */
void signal_csv_free(struct signal_csv *r);

#endif
