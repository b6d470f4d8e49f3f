/* Fuzz target for the upload decoders: the same bytes go to the protobuf and the JSON decoder,
 * and a batch that decodes is validated and re-encoded, as the daemon would. Built against
 * libFuzzer with -Dfuzz_engine=libfuzzer; otherwise replay.c replays tests/fuzz/corpus/codec. */
#include "codec.h"
#include "ingest.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(struct batch *b)
{
	struct err e;
	struct ingest_report *rep = calloc(1, sizeof(*rep));
	bool *bad = calloc(b->n_signals + 1, sizeof(bool));
	struct ingest_params p = {{2026, 20}, 520};
	uint8_t *out = NULL;
	size_t len = 0;
	err_clear(&e);
	if (ingest_check_batch(b, &e) == 0 && rep != NULL && bad != NULL &&
	    ingest_validate(b, &p, rep, bad) == 0 && rep->n_rejected != 0)
		abort(); /* "valid" must mean no rejections */
	if (codec_encode_protobuf(b, &out, &len) == 0)
		free(out);
	free(rep);
	free(bad);
	batch_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct batch *b = NULL;
	struct codec_error ce;
	if (codec_decode_protobuf(data, size, 10000, &b, &ce) == 0)
		exercise(b);
	b = NULL;
	if (codec_decode_json((const char *)data, size, 10000, &b, &ce) == 0)
		exercise(b);
	return 0;
}
