/* Fuzz target for the area registry CSV parser (and so for csvread). Built against libFuzzer
 * with -Dfuzz_engine=libfuzzer; otherwise replay.c replays tests/fuzz/corpus/area_csv. */
#include "area_csv.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct area_list list = {0};
	struct err e;
	if (size == 0)
		return 0;
	FILE *f = fmemopen((void *)data, size, "r");
	if (f == NULL)
		return 0;
	err_clear(&e);
	if (area_csv_parse(f, "fuzz.csv", 0, &list, &e) == 0)
		area_list_free(&list);
	fclose(f);
	return 0;
}
