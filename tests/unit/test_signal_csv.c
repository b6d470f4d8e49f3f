/* Tests of daemon/signal_csv.c: columns by header name in any order, the short enum spellings,
 * a missing column, and a record that does not convert: reported with its line and left empty,
 * so that the caller's batch, cut to the signals read, frees everything (found by
 * tests/fuzz/fuzz_signal_csv.c as a leak). */
#include "signal_csv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define SUBJECT "3f1c2a9b8e7d6c5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f"

static void test_reads_columns_by_name(void **state)
{
	const char text[] =
	    "kind,theme,SIGNAL_ID,team,area_code,area_year,iso_week,subject,"
	    "age_band,mode\n"
	    "contact,EENZAAM,r-1,oud-oost,WK008020,2024,2026-W47," SUBJECT ",75+,Group\n";
	char msg[128];
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	assert_non_null(f);
	struct signal_csv *csv = signal_csv_open(f, msg, sizeof(msg));
	assert_non_null(csv);
	struct batch *b = batch_new(1);
	assert_non_null(b);
	int line = 0;
	assert_int_equal(signal_csv_next(csv, &b->signals[0], &line, msg, sizeof(msg)), 1);
	assert_int_equal(line, 2);
	const struct signal *s = &b->signals[0];
	assert_string_equal(s->signal_id, "r-1");
	assert_string_equal(s->area_code, "WK008020");
	assert_int_equal(s->area_year, 2024);
	assert_int_equal(s->kind, SIGNAL_KIND_CONTACT);
	assert_int_equal(s->age_band, 7);
	assert_int_equal(s->mode, 3);
	assert_int_equal(signal_csv_next(csv, &b->signals[0], &line, msg, sizeof(msg)), 0);
	batch_free(b);
	signal_csv_free(csv);
	fclose(f);
}

static void test_missing_column(void **state)
{
	const char text[] = "signal_id,team,area_code,area_year,iso_week,subject,age_band,kind\n";
	char msg[128];
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	assert_non_null(f);
	assert_null(signal_csv_open(f, msg, sizeof(msg)));
	assert_string_equal(msg, "line 1: missing column \"theme\"");
	fclose(f);
}

static void test_bad_record_is_left_empty(void **state)
{
	/* The strings of the bad record are read before its year fails; a batch cut to zero
	 * signals (as `wijkradar ingest` cuts its last one) must still free everything, which
	 * the leak checker of this sanitized test verifies. */
	const char text[] =
	    "signal_id,team,area_code,area_year,iso_week,subject,age_band,kind,theme\n"
	    "r-2,oud-oost,WK008020,20x4,2026-W47," SUBJECT ",75+,need,EENZAAM\n";
	char msg[128];
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	assert_non_null(f);
	struct signal_csv *csv = signal_csv_open(f, msg, sizeof(msg));
	assert_non_null(csv);
	struct batch *b = batch_new(4);
	assert_non_null(b);
	int line = 0;
	assert_int_equal(signal_csv_next(csv, &b->signals[0], &line, msg, sizeof(msg)), -EINVAL);
	assert_int_equal(line, 2);
	assert_string_equal(msg, "area_year: not a year: \"20x4\"");
	assert_string_equal(b->signals[0].signal_id, "");
	assert_string_equal(b->signals[0].subject, "");
	assert_int_equal(b->signals[0].kind, SIGNAL_KIND_NONE);
	assert_int_equal(signal_csv_next(csv, &b->signals[0], &line, msg, sizeof(msg)), 0);
	b->n_signals = 0;
	batch_free(b);
	signal_csv_free(csv);
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reads_columns_by_name),
	    cmocka_unit_test(test_missing_column),
	    cmocka_unit_test(test_bad_record_is_left_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
