/* CSV of the published reports (see report_csv.h): RFC 4180, every text quoted, numbers as JSON
 * wrote them, suppressed figures empty with their status beside them. */
#include "report_csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void text(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s != NULL && *s != '\0'; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* A number (empty when null), then a comma unless last. */
static void number(FILE *f, const json_t *v)
{
	if (json_is_integer(v))
		fprintf(f, "%lld", (long long)json_integer_value(v));
	else if (json_is_number(v))
		fprintf(f, "%.10g", json_number_value(v));
}

static const json_t *path(const json_t *o, const char *a, const char *b)
{
	const json_t *v = json_object_get(o, a);
	return b != NULL ? json_object_get(v, b) : v;
}

static void benchmark(FILE *f, const json_t *report)
{
	fputs("period,organisation,indicator,label,unit,value,status,indicative,peer_median,"
	      "peer_status,peer_organisations\n",
	      f);
	size_t i;
	const json_t *ind;
	json_array_foreach(json_object_get(report, "indicators"), i, ind)
	{
		text(f, json_string_value(json_object_get(report, "period")));
		fputc(',', f);
		text(f, json_string_value(json_object_get(report, "organisation")));
		fputc(',', f);
		text(f, json_string_value(json_object_get(ind, "id")));
		fputc(',', f);
		text(f, json_string_value(json_object_get(ind, "label")));
		fputc(',', f);
		text(f, json_string_value(json_object_get(ind, "unit")));
		fputc(',', f);
		number(f, path(ind, "own", "value"));
		fputc(',', f);
		text(f, json_string_value(path(ind, "own", "status")));
		fputs(json_is_true(path(ind, "own", "indicative")) ? ",true," : ",false,", f);
		number(f, path(ind, "peer", "value"));
		fputc(',', f);
		text(f, json_string_value(path(ind, "peer", "status")));
		fputc(',', f);
		number(f, path(ind, "peer", "organisations"));
		fputc('\n', f);
	}
}

static void effects(FILE *f, const json_t *report)
{
	static const char *const ci[] = {"mean_change", "d_av", "d_z"};
	fputs("period,organisation,instrument,theme,mode,status,n,indicative,mean_before,"
	      "mean_after,mean_change,mean_change_lo,mean_change_hi,d_av,d_av_lo,d_av_hi,d_z,"
	      "d_z_lo,d_z_hi,reliably_improved_pct,reliably_worse_pct,peer_mean_change,"
	      "peer_status\n",
	      f);
	size_t i;
	const json_t *e;
	json_array_foreach(json_object_get(report, "effects"), i, e)
	{
		static const char *const keys[] = {"period", "organisation", "instrument"};
		for (size_t k = 0; k < 3; k++) {
			text(f, json_string_value(json_object_get(report, keys[k])));
			fputc(',', f);
		}
		text(f, json_string_value(json_object_get(e, "theme")));
		fputc(',', f);
		text(f, json_string_value(json_object_get(e, "mode")));
		fputc(',', f);
		text(f, json_string_value(json_object_get(e, "status")));
		fputc(',', f);
		number(f, json_object_get(e, "n"));
		fputs(json_is_true(json_object_get(e, "indicative")) ? ",true," : ",false,", f);
		number(f, path(e, "mean_before", "value"));
		fputc(',', f);
		number(f, path(e, "mean_after", "value"));
		for (size_t k = 0; k < 3; k++) {
			static const char *const part[] = {"value", "lo", "hi"};
			for (size_t p = 0; p < 3; p++) {
				fputc(',', f);
				number(f, path(e, ci[k], part[p]));
			}
		}
		fputc(',', f);
		number(f, path(e, "reliably_improved_pct", "value"));
		fputc(',', f);
		number(f, path(e, "reliably_worse_pct", "value"));
		fputc(',', f);
		number(f, path(e, "peer", "value"));
		fputc(',', f);
		text(f, json_string_value(path(e, "peer", "status")));
		fputc('\n', f);
	}
}

char *report_csv(const json_t *report)
{
	const char *kind = json_string_value(json_object_get(report, "report"));
	if (kind == NULL || (strcmp(kind, "benchmark") != 0 && strcmp(kind, "effects") != 0))
		return NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f == NULL)
		return NULL;
	if (strcmp(kind, "benchmark") == 0)
		benchmark(f, report);
	else
		effects(f, report);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
