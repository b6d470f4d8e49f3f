/* Fuzz target for the CSV export `wijkradar ingest` reads (signal_csv, and so csvread): the
 * input is a CSV file. The signals it yields are gathered into batches as the CLI does, then
 * checked and validated as the daemon would, and sent through the protobuf encoder and decoder,
 * which must give back the same signals (abort() otherwise). Built against libFuzzer with
 * -Dfuzz_engine=libfuzzer; otherwise replay.c replays tests/fuzz/corpus/signal_csv. */
#include "codec.h"
#include "ingest.h"
#include "signal_csv.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHUNK 16

/* Equal as the wire format carries them: the fields of the signal's kind only (a CSV row has
 * every column; the instrument of a contact, say, is not sent). */
static bool same_signal(const struct signal *a, const struct signal *b)
{
	const char *sa[] = {a->signal_id, a->team,    a->area_code,
	                    a->iso_week,  a->subject, a->trajectory};
	const char *sb[] = {b->signal_id, b->team,    b->area_code,
	                    b->iso_week,  b->subject, b->trajectory};
	for (size_t i = 0; i < sizeof(sa) / sizeof(sa[0]); i++) {
		if (strcmp(sa[i], sb[i]) != 0)
			return false;
	}
	if (a->area_year != b->area_year || a->age_band != b->age_band || a->kind != b->kind)
		return false;
	if (a->kind != SIGNAL_KIND_NONE && strcmp(a->theme, b->theme) != 0)
		return false;
	if (a->kind == SIGNAL_KIND_CONTACT && a->mode != b->mode)
		return false;
	if (a->kind == SIGNAL_KIND_TRAJECTORY && a->event != b->event)
		return false;
	return a->kind != SIGNAL_KIND_OUTCOME ||
	       (strcmp(a->instrument, b->instrument) == 0 && strcmp(a->domain, b->domain) == 0 &&
	        a->phase == b->phase && (a->score == b->score || a->score != a->score));
}

/* What happens to a chunk: the daemon's checks, and the wire format round trip. */
static void exercise(struct batch *b)
{
	struct err e;
	struct ingest_params p = {{2026, 47}, 520};
	struct ingest_report *rep = calloc(1, sizeof(*rep));
	bool *bad = calloc(b->n_signals + 1, sizeof(bool));
	err_clear(&e);
	if (ingest_check_batch(b, &e) == 0 && rep != NULL && bad != NULL &&
	    ingest_validate(b, &p, rep, bad) == 0 && rep->n_rejected != 0)
		abort(); /* "valid" must mean no rejections */
	free(rep);
	free(bad);
	uint8_t *wire = NULL;
	size_t len = 0;
	struct batch *back = NULL;
	struct codec_error ce;
	if (codec_encode_protobuf(b, &wire, &len) != 0)
		return;
	int r = codec_decode_protobuf(wire, len, CHUNK, &back, &ce);
	free(wire);
	if (r == -ENOMEM)
		return;
	/* Every signal the CSV reader gives must survive the wire format unchanged. */
	if (r != 0 || back->n_signals != b->n_signals)
		abort();
	for (size_t i = 0; i < b->n_signals; i++) {
		if (!same_signal(&b->signals[i], &back->signals[i]))
			abort();
	}
	batch_free(back);
}

static struct batch *new_chunk(void)
{
	struct batch *b = batch_new(CHUNK);
	if (b != NULL && (batch_set_string(&b->batch_id, "export.csv-1764000000000000-1") < 0 ||
	                  batch_set_string(&b->source, "regas") < 0 ||
	                  batch_set_string(&b->organisation, "welzijn-noord") < 0)) {
		batch_free(b);
		return NULL;
	}
	return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char msg[256] = "";
	if (size == 0)
		return 0;
	FILE *f = fmemopen((void *)data, size, "r");
	if (f == NULL)
		return 0;
	struct signal_csv *csv = signal_csv_open(f, msg, sizeof(msg));
	struct batch *b = csv != NULL ? new_chunk() : NULL;
	size_t k = 0;
	int last = 0;
	/* As cli_ingest's read_chunk: fill a batch made with room for CHUNK, then cut it to the
	 * number filled. */
	while (b != NULL) {
		int line = -1;
		int r = signal_csv_next(csv, &b->signals[k], &line, msg, sizeof(msg));
		if (r == 0 || r == -EIO || r == -ENOMEM)
			break;
		if (line <= last || memchr(msg, '\0', sizeof(msg)) == NULL)
			abort(); /* lines go forward; messages end */
		last = line;
		if (r < 0)
			continue;
		if (++k == CHUNK) {
			exercise(b);
			batch_free(b);
			b = new_chunk();
			k = 0;
		}
	}
	if (b != NULL) {
		b->n_signals = k;
		if (k > 0)
			exercise(b);
	}
	batch_free(b);
	signal_csv_free(csv);
	fclose(f);
	return 0;
}
