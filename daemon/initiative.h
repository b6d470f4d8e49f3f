/* The registry of existing collective initiatives (a walking club, a debt café): validation of
 * one record, shared by the CSV import and the API. Contact by role, never a person: names and
 * roles that hold an e-mail address, a phone number or a BSN are refused. Pure. */
#ifndef WR_INITIATIVE_H
#define WR_INITIATIVE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define INITIATIVE_MAX_LIST 64

struct initiative {
	char code[65];
	char name[201];
	char themes[INITIATIVE_MAX_LIST][33];
	int n_themes;
	char areas[INITIATIVE_MAX_LIST][33];
	int n_areas;
	char contact_role[201];
	char url[301];
	bool active;
};

/* Fills `in` from text fields; `themes` and `areas` are lists separated by ';' (or ',' or
 * spaces). Returns 0, or -EINVAL with `e` naming the field (status 400). Theme existence is
 * checked by the database. Strings are borrowed; contact_role and url may be NULL or "". */
int initiative_parse(const char *code, const char *name, const char *themes, const char *areas,
                     const char *contact_role, const char *url, const char *active,
                     struct initiative *in, struct err *e) __attribute__((warn_unused_result));

/* Writes `in`'s themes or areas as a PostgreSQL array literal into buf. Returns 0, or -ENOSPC
 * when buf is too small. */
int initiative_array(const struct initiative *in, bool areas, char *buf, size_t size);

/* The upsert statement of one initiative, shared by the API and the CSV import:
 * $1 organisation, $2 code, $3 name, $4 themes (array literal), $5 areas, $6 contact_role,
 * $7 url, $8 active. Returns the initiative as JSON text; no row when a theme is unknown. */
extern const char initiative_sql_upsert[];

#endif
