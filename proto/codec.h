/* Decoding and encoding of upload batches (wire format wijkradar.v1) to and from our own
 * structs: protobuf (protobuf-c) and the JSON form with the same field names (jansson).
 * Generated protobuf types never leave proto/. Decoding checks shape only (types, sizes,
 * enum values); the meaning of the values is checked by daemon/ingest.c. */
#ifndef WR_CODEC_H
#define WR_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum signal_kind {
	SIGNAL_KIND_NONE = 0,
	SIGNAL_KIND_NEED,
	SIGNAL_KIND_CONTACT,
	SIGNAL_KIND_OUTCOME,
	SIGNAL_KIND_TRAJECTORY,
};

/* One signal. Strings are owned by the batch, never NULL ("" when absent). Enum fields hold
 * the wire numbers of proto/wijkradar.proto (0 = unspecified). */
struct signal {
	char *signal_id;
	char *team;
	char *area_code;
	int area_year;
	char *iso_week;
	char *subject;
	int age_band;
	char *trajectory;
	enum signal_kind kind;
	char *theme;      /* need, contact, outcome, trajectory event */
	int mode;         /* contact: ServiceMode */
	char *instrument; /* outcome */
	char *domain;     /* outcome */
	int phase;        /* outcome: Phase */
	double score;     /* outcome */
	int event;        /* trajectory event: TrajectoryEventType */
};

struct batch {
	char *batch_id;
	char *source;
	char *organisation;
	struct signal *signals;
	size_t n_signals;
};

/* Why decoding failed; `field` names the place ("signals[3].area_year"), may be empty. */
struct codec_error {
	char field[64];
	char msg[192];
};

/* Decodes a protobuf SignalBatch of `len` bytes. Memory used while decoding is capped (16
 * times the input plus 1 MiB), so a small body cannot make the daemon allocate without bound.
 * Returns 0 and a new batch in *out (free with batch_free); -EBADMSG for malformed input or
 * input that would need more memory than the cap; -E2BIG when it holds more than
 * `max_signals` signals; -ENOMEM. `ce` says why. `data` is borrowed. */
int codec_decode_protobuf(const uint8_t *data, size_t len, size_t max_signals, struct batch **out,
                          struct codec_error *ce) __attribute__((warn_unused_result));

/* Decodes the JSON form: an object {"batch_id", "source", "organisation", "signals": [...]},
 * each signal an object with the proto's field names (snake_case) and one of "need",
 * "contact", "outcome", "trajectory_event" as a nested object; enums as their proto names
 * ("AGE_BAND_65_74", "SERVICE_MODE_GROUP", "PHASE_INTAKE", ...). Unknown keys, duplicate keys,
 * wrong types and two kinds in one signal are errors. Returns as codec_decode_protobuf. */
int codec_decode_json(const char *data, size_t len, size_t max_signals, struct batch **out,
                      struct codec_error *ce) __attribute__((warn_unused_result));

/* Encodes `b` as a protobuf SignalBatch. Returns 0 with a malloc'd buffer in *out and its
 * length in *len (caller frees), or -ENOMEM. `b` is borrowed. */
int codec_encode_protobuf(const struct batch *b, uint8_t **out, size_t *len)
    __attribute__((warn_unused_result));

/* Allocates an empty batch with room for `n` zeroed signals whose strings are all "" (owned).
 * Returns NULL with errno = ENOMEM. */
struct batch *batch_new(size_t n);

/* Replaces *slot (a string of a batch made here) with a copy of `s`. Returns 0 or -ENOMEM. */
int batch_set_string(char **slot, const char *s) __attribute__((warn_unused_result));

/* Frees a batch and all its strings. batch_free(NULL) does nothing. */
void batch_free(struct batch *b);

#endif
