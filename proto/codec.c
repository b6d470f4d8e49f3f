/* Upload batch codec (see codec.h). protobuf-c unpacks with a budgeted allocator and the
 * generated message is converted and freed before returning; JSON goes through jansson with
 * duplicate keys rejected. Both produce the same struct batch. */
#include "codec.h"

#include "wijkradar.pb-c.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* The one empty string every absent field points to; never freed. */
static char empty[] = "";

static const char *const age_band_names[] = {
    "AGE_BAND_UNSPECIFIED", "AGE_BAND_0_11",  "AGE_BAND_12_17", "AGE_BAND_18_26",
    "AGE_BAND_27_44",       "AGE_BAND_45_64", "AGE_BAND_65_74", "AGE_BAND_75_PLUS"};
static const char *const mode_names[] = {"SERVICE_MODE_UNSPECIFIED", "SERVICE_MODE_INDIVIDUAL",
                                         "SERVICE_MODE_ONLINE", "SERVICE_MODE_GROUP"};
static const char *const phase_names[] = {"PHASE_UNSPECIFIED", "PHASE_INTAKE", "PHASE_INTERMEDIATE",
                                          "PHASE_END", "PHASE_FOLLOW_UP"};
static const char *const event_names[] = {"TRAJECTORY_EVENT_TYPE_UNSPECIFIED",
                                          "TRAJECTORY_EVENT_TYPE_OPENED",
                                          "TRAJECTORY_EVENT_TYPE_CLOSED"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static int fail(struct codec_error *ce, int r, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct codec_error *ce, int r, const char *field, const char *fmt, ...)
{
	va_list ap;
	snprintf(ce->field, sizeof(ce->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(ce->msg, sizeof(ce->msg), fmt, ap);
	va_end(ap);
	return r;
}

/* ---- struct batch ---- */

static void signal_init(struct signal *s)
{
	memset(s, 0, sizeof(*s));
	s->signal_id = s->team = s->area_code = s->iso_week = s->subject = s->trajectory = empty;
	s->theme = s->instrument = s->domain = empty;
}

static void free_string(char *s)
{
	if (s != empty)
		free(s);
}

struct batch *batch_new(size_t n)
{
	struct batch *b = calloc(1, sizeof(*b));
	if (b == NULL)
		goto nomem;
	b->batch_id = b->source = b->organisation = empty;
	if (n > 0) {
		b->signals = calloc(n, sizeof(*b->signals));
		if (b->signals == NULL)
			goto nomem;
	}
	b->n_signals = n;
	for (size_t i = 0; i < n; i++)
		signal_init(&b->signals[i]);
	return b;
nomem:
	free(b);
	errno = ENOMEM;
	return NULL;
}

int batch_set_string(char **slot, const char *s)
{
	char *copy = empty;
	if (s != NULL && s[0] != '\0' && (copy = strdup(s)) == NULL)
		return -ENOMEM;
	free_string(*slot);
	*slot = copy;
	return 0;
}

void batch_free(struct batch *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n_signals; i++) {
		struct signal *s = &b->signals[i];
		char *strings[] = {s->signal_id,  s->team,  s->area_code,  s->iso_week, s->subject,
		                   s->trajectory, s->theme, s->instrument, s->domain};
		for (size_t k = 0; k < N_OF(strings); k++)
			free_string(strings[k]);
	}
	free(b->signals);
	free_string(b->batch_id);
	free_string(b->source);
	free_string(b->organisation);
	free(b);
}

/* ---- protobuf ---- */

/* protobuf-c allocator that refuses to hand out more than `cap` bytes in total. */
struct budget {
	size_t used, cap;
};

/* Each block carries its size in front (16 bytes keep malloc's alignment), so that a decoded
 * string's wire length can be told from its C length. */
#define BLOCK_HEADER 16

static void *budget_alloc(void *data, size_t size)
{
	struct budget *b = data;
	if (size > b->cap - b->used || size > SIZE_MAX - BLOCK_HEADER)
		return NULL;
	b->used += size;
	unsigned char *p = malloc(size + BLOCK_HEADER);
	if (p == NULL)
		return NULL;
	memcpy(p, &size, sizeof(size));
	return p + BLOCK_HEADER;
}

static void budget_free(void *data, void *p)
{
	if (p != NULL)
		free((unsigned char *)p - BLOCK_HEADER);
}

/* protobuf-c copies a string's wire bytes into a block of exactly their length + 1 and ends it
 * with NUL: a shorter C string means a NUL inside, which would silently cut the value. */
static bool has_inner_nul(const char *s)
{
	size_t size;
	if (s == NULL || s == protobuf_c_empty_string)
		return false;
	memcpy(&size, s - BLOCK_HEADER, sizeof(size));
	return strlen(s) + 1 != size;
}

/* -EBADMSG naming field `name` of signal i (i == SIZE_MAX: of the batch) if `v` has a NUL. */
static int check_nul(struct codec_error *ce, size_t i, const char *name, const char *v)
{
	char field[64];
	if (!has_inner_nul(v))
		return 0;
	if (i == SIZE_MAX)
		snprintf(field, sizeof(field), "%s", name);
	else
		snprintf(field, sizeof(field), "signals[%zu].%s", i, name);
	return fail(ce, -EBADMSG, field, "contains a NUL byte");
}

static int check_enum(struct codec_error *ce, size_t i, const char *name, int v, size_t n)
{
	char field[64];
	if (v >= 0 && (size_t)v < n)
		return 0;
	snprintf(field, sizeof(field), "signals[%zu].%s", i, name);
	return fail(ce, -EBADMSG, field, "unrecognized enum value %d", v);
}

static int convert_signal(const Wijkradar__V1__Signal *m, size_t i, struct signal *s,
                          struct codec_error *ce)
{
	const char *theme =
	    m->kind_case == WIJKRADAR__V1__SIGNAL__KIND_NEED      ? m->need->theme
	    : m->kind_case == WIJKRADAR__V1__SIGNAL__KIND_CONTACT ? m->contact->theme
	    : m->kind_case == WIJKRADAR__V1__SIGNAL__KIND_OUTCOME ? m->outcome->theme
	    : m->kind_case == WIJKRADAR__V1__SIGNAL__KIND_TRAJECTORY_EVENT
	        ? m->trajectory_event->theme
	        : NULL;
	const char *outcome_instrument =
	    m->kind_case == WIJKRADAR__V1__SIGNAL__KIND_OUTCOME ? m->outcome->instrument : NULL;
	const char *outcome_domain =
	    m->kind_case == WIJKRADAR__V1__SIGNAL__KIND_OUTCOME ? m->outcome->domain : NULL;
	if (check_nul(ce, i, "signal_id", m->signal_id) < 0 ||
	    check_nul(ce, i, "team", m->team) < 0 ||
	    check_nul(ce, i, "area_code", m->area_code) < 0 ||
	    check_nul(ce, i, "iso_week", m->iso_week) < 0 ||
	    check_nul(ce, i, "subject", m->subject) < 0 ||
	    check_nul(ce, i, "trajectory", m->trajectory) < 0 ||
	    check_nul(ce, i, "theme", theme) < 0 ||
	    check_nul(ce, i, "outcome.instrument", outcome_instrument) < 0 ||
	    check_nul(ce, i, "outcome.domain", outcome_domain) < 0)
		return -EBADMSG;
	int r = 0;
	r |= batch_set_string(&s->signal_id, m->signal_id);
	r |= batch_set_string(&s->team, m->team);
	r |= batch_set_string(&s->area_code, m->area_code);
	r |= batch_set_string(&s->iso_week, m->iso_week);
	r |= batch_set_string(&s->subject, m->subject);
	r |= batch_set_string(&s->trajectory, m->trajectory);
	if (r != 0)
		return -ENOMEM;
	if (m->area_year > 9999) {
		char field[64];
		snprintf(field, sizeof(field), "signals[%zu].area_year", i);
		return fail(ce, -EBADMSG, field, "value %u is out of range", m->area_year);
	}
	s->area_year = (int)m->area_year;
	s->age_band = (int)m->age_band;
	if (check_enum(ce, i, "age_band", s->age_band, N_OF(age_band_names)) < 0)
		return -EBADMSG;
	switch (m->kind_case) {
	case WIJKRADAR__V1__SIGNAL__KIND_NEED:
		s->kind = SIGNAL_KIND_NEED;
		return batch_set_string(&s->theme, m->need->theme);
	case WIJKRADAR__V1__SIGNAL__KIND_CONTACT:
		s->kind = SIGNAL_KIND_CONTACT;
		s->mode = (int)m->contact->mode;
		if (check_enum(ce, i, "contact.mode", s->mode, N_OF(mode_names)) < 0)
			return -EBADMSG;
		return batch_set_string(&s->theme, m->contact->theme);
	case WIJKRADAR__V1__SIGNAL__KIND_OUTCOME:
		s->kind = SIGNAL_KIND_OUTCOME;
		s->phase = (int)m->outcome->phase;
		s->score = m->outcome->score;
		if (check_enum(ce, i, "outcome.phase", s->phase, N_OF(phase_names)) < 0)
			return -EBADMSG;
		if (batch_set_string(&s->theme, m->outcome->theme) < 0 ||
		    batch_set_string(&s->instrument, m->outcome->instrument) < 0 ||
		    batch_set_string(&s->domain, m->outcome->domain) < 0)
			return -ENOMEM;
		return 0;
	case WIJKRADAR__V1__SIGNAL__KIND_TRAJECTORY_EVENT:
		s->kind = SIGNAL_KIND_TRAJECTORY;
		s->event = (int)m->trajectory_event->type;
		if (check_enum(ce, i, "trajectory_event.type", s->event, N_OF(event_names)) < 0)
			return -EBADMSG;
		return batch_set_string(&s->theme, m->trajectory_event->theme);
	default:
		s->kind = SIGNAL_KIND_NONE;
		return 0;
	}
}

int codec_decode_protobuf(const uint8_t *data, size_t len, size_t max_signals, struct batch **out,
                          struct codec_error *ce)
{
	/* Decoded structs are larger than their encoding: a real signal of ~150 bytes decodes to
	 * about twice that. 16x plus a floor is ample for real batches and bounds what a hostile
	 * body (millions of empty submessages) can make us allocate on the event loop. */
	struct budget budget = {0, len * 16 + (1u << 20)};
	ProtobufCAllocator alloc = {budget_alloc, budget_free, &budget};
	Wijkradar__V1__SignalBatch *m = wijkradar__v1__signal_batch__unpack(&alloc, len, data);
	struct batch *b = NULL;
	int r = 0;
	if (m == NULL) {
		if (budget.used >= budget.cap / 2)
			return fail(ce, -EBADMSG, "", "batch needs too much memory to decode");
		return fail(ce, -EBADMSG, "", "not a valid protobuf SignalBatch");
	}
	if (m->n_signals > max_signals) {
		r = fail(ce, -E2BIG, "signals", "batch has %zu signals, the limit is %zu",
		         m->n_signals, max_signals);
		goto out;
	}
	if (check_nul(ce, SIZE_MAX, "batch_id", m->batch_id) < 0 ||
	    check_nul(ce, SIZE_MAX, "source", m->source) < 0 ||
	    check_nul(ce, SIZE_MAX, "organisation", m->organisation) < 0) {
		r = -EBADMSG;
		goto out;
	}
	b = batch_new(m->n_signals);
	if (b == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (batch_set_string(&b->batch_id, m->batch_id) < 0 ||
	    batch_set_string(&b->source, m->source) < 0 ||
	    batch_set_string(&b->organisation, m->organisation) < 0) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < m->n_signals && r == 0; i++)
		r = convert_signal(m->signals[i], i, &b->signals[i], ce);
out:
	wijkradar__v1__signal_batch__free_unpacked(m, &alloc);
	if (r < 0) {
		batch_free(b);
		return r;
	}
	*out = b;
	return 0;
}

/* The empty string is the protobuf default; protobuf-c wants a non-NULL pointer. */
static char *wire(char *s)
{
	return s != NULL ? s : empty;
}

int codec_encode_protobuf(const struct batch *b, uint8_t **out, size_t *len)
{
	Wijkradar__V1__SignalBatch m = WIJKRADAR__V1__SIGNAL_BATCH__INIT;
	Wijkradar__V1__Signal *sig = calloc(b->n_signals + 1, sizeof(*sig));
	Wijkradar__V1__Signal **ptrs = calloc(b->n_signals + 1, sizeof(*ptrs));
	/* One kind submessage per signal; a union of the four keeps one allocation. */
	union kind {
		Wijkradar__V1__NeedSignal need;
		Wijkradar__V1__ServiceContact contact;
		Wijkradar__V1__OutcomeMeasurement outcome;
		Wijkradar__V1__TrajectoryEvent event;
	} *kinds = calloc(b->n_signals + 1, sizeof(*kinds));
	uint8_t *buf = NULL;
	int r = -ENOMEM;
	if (sig == NULL || ptrs == NULL || kinds == NULL)
		goto out;
	m.batch_id = wire(b->batch_id);
	m.source = wire(b->source);
	m.organisation = wire(b->organisation);
	m.n_signals = b->n_signals;
	m.signals = ptrs;
	for (size_t i = 0; i < b->n_signals; i++) {
		const struct signal *s = &b->signals[i];
		Wijkradar__V1__Signal *p = &sig[i];
		wijkradar__v1__signal__init(p);
		p->signal_id = wire(s->signal_id);
		p->team = wire(s->team);
		p->area_code = wire(s->area_code);
		p->area_year = (uint32_t)s->area_year;
		p->iso_week = wire(s->iso_week);
		p->subject = wire(s->subject);
		p->age_band = (Wijkradar__V1__AgeBand)s->age_band;
		p->trajectory = wire(s->trajectory);
		union kind *k = &kinds[i];
		switch (s->kind) {
		case SIGNAL_KIND_NEED:
			wijkradar__v1__need_signal__init(&k->need);
			k->need.theme = wire(s->theme);
			p->kind_case = WIJKRADAR__V1__SIGNAL__KIND_NEED;
			p->need = &k->need;
			break;
		case SIGNAL_KIND_CONTACT:
			wijkradar__v1__service_contact__init(&k->contact);
			k->contact.theme = wire(s->theme);
			k->contact.mode = (Wijkradar__V1__ServiceMode)s->mode;
			p->kind_case = WIJKRADAR__V1__SIGNAL__KIND_CONTACT;
			p->contact = &k->contact;
			break;
		case SIGNAL_KIND_OUTCOME:
			wijkradar__v1__outcome_measurement__init(&k->outcome);
			k->outcome.instrument = wire(s->instrument);
			k->outcome.domain = wire(s->domain);
			k->outcome.phase = (Wijkradar__V1__Phase)s->phase;
			k->outcome.score = s->score;
			k->outcome.theme = wire(s->theme);
			p->kind_case = WIJKRADAR__V1__SIGNAL__KIND_OUTCOME;
			p->outcome = &k->outcome;
			break;
		case SIGNAL_KIND_TRAJECTORY:
			wijkradar__v1__trajectory_event__init(&k->event);
			k->event.type = (Wijkradar__V1__TrajectoryEventType)s->event;
			k->event.theme = wire(s->theme);
			p->kind_case = WIJKRADAR__V1__SIGNAL__KIND_TRAJECTORY_EVENT;
			p->trajectory_event = &k->event;
			break;
		case SIGNAL_KIND_NONE:
			break;
		}
		ptrs[i] = p;
	}
	*len = wijkradar__v1__signal_batch__get_packed_size(&m);
	buf = malloc(*len + 1);
	if (buf == NULL)
		goto out;
	wijkradar__v1__signal_batch__pack(&m, buf);
	*out = buf;
	r = 0;
out:
	free(sig);
	free(ptrs);
	free(kinds);
	return r;
}

/* ---- JSON ---- */

enum jtype {
	J_STRING,
	J_YEAR,
	J_SCORE,
	J_ENUM,
};

/* A JSON key of a signal or of one of its kind objects, and where it goes. */
struct jfield {
	const char *name;
	enum jtype type;
	size_t offset;
	const char *const *names; /* J_ENUM */
	size_t n_names;
};

#define SOFF(f) offsetof(struct signal, f)

static const struct jfield signal_fields[] = {
    {"signal_id", J_STRING, SOFF(signal_id), NULL, 0},
    {"team", J_STRING, SOFF(team), NULL, 0},
    {"area_code", J_STRING, SOFF(area_code), NULL, 0},
    {"area_year", J_YEAR, SOFF(area_year), NULL, 0},
    {"iso_week", J_STRING, SOFF(iso_week), NULL, 0},
    {"subject", J_STRING, SOFF(subject), NULL, 0},
    {"age_band", J_ENUM, SOFF(age_band), age_band_names, N_OF(age_band_names)},
    {"trajectory", J_STRING, SOFF(trajectory), NULL, 0},
    {NULL, 0, 0, NULL, 0},
};
static const struct jfield need_fields[] = {
    {"theme", J_STRING, SOFF(theme), NULL, 0},
    {NULL, 0, 0, NULL, 0},
};
static const struct jfield contact_fields[] = {
    {"theme", J_STRING, SOFF(theme), NULL, 0},
    {"mode", J_ENUM, SOFF(mode), mode_names, N_OF(mode_names)},
    {NULL, 0, 0, NULL, 0},
};
static const struct jfield outcome_fields[] = {
    {"instrument", J_STRING, SOFF(instrument), NULL, 0},
    {"domain", J_STRING, SOFF(domain), NULL, 0},
    {"phase", J_ENUM, SOFF(phase), phase_names, N_OF(phase_names)},
    {"score", J_SCORE, SOFF(score), NULL, 0},
    {"theme", J_STRING, SOFF(theme), NULL, 0},
    {NULL, 0, 0, NULL, 0},
};
static const struct jfield event_fields[] = {
    {"type", J_ENUM, SOFF(event), event_names, N_OF(event_names)},
    {"theme", J_STRING, SOFF(theme), NULL, 0},
    {NULL, 0, 0, NULL, 0},
};

static const struct {
	const char *name;
	enum signal_kind kind;
	const struct jfield *fields;
} kinds[] = {
    {"need", SIGNAL_KIND_NEED, need_fields},
    {"contact", SIGNAL_KIND_CONTACT, contact_fields},
    {"outcome", SIGNAL_KIND_OUTCOME, outcome_fields},
    {"trajectory_event", SIGNAL_KIND_TRAJECTORY, event_fields},
};

static int set_jfield(const struct jfield *f, json_t *v, struct signal *s, const char *path,
                      struct codec_error *ce)
{
	char *base = (char *)s + f->offset;
	switch (f->type) {
	case J_STRING:
		if (!json_is_string(v))
			return fail(ce, -EBADMSG, path, "expected a string");
		return batch_set_string((char **)(void *)base, json_string_value(v));
	case J_YEAR:
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 9999)
			return fail(ce, -EBADMSG, path, "expected an integer year");
		*(int *)(void *)base = (int)json_integer_value(v);
		return 0;
	case J_SCORE:
		if (!json_is_number(v) || !isfinite(json_number_value(v)))
			return fail(ce, -EBADMSG, path, "expected a number");
		*(double *)(void *)base = json_number_value(v);
		return 0;
	case J_ENUM:
		if (json_is_string(v)) {
			for (size_t k = 0; k < f->n_names; k++) {
				if (strcmp(json_string_value(v), f->names[k]) == 0) {
					*(int *)(void *)base = (int)k;
					return 0;
				}
			}
		}
		return fail(ce, -EBADMSG, path, "expected one of %s .. %s", f->names[1],
		            f->names[f->n_names - 1]);
	}
	return -EINVAL;
}

/* Copies the keys of object `o` listed in `fields` into s; any other key is an error. */
static int read_object(json_t *o, const struct jfield *fields, struct signal *s, const char *prefix,
                       bool allow_kinds, struct codec_error *ce)
{
	const char *key;
	json_t *v;
	char path[64];
	json_object_foreach(o, key, v)
	{
		snprintf(path, sizeof(path), "%s.%.30s", prefix, key);
		const struct jfield *f = NULL;
		for (size_t i = 0; fields[i].name != NULL && f == NULL; i++) {
			if (strcmp(fields[i].name, key) == 0)
				f = &fields[i];
		}
		if (f != NULL) {
			int r = set_jfield(f, v, s, path, ce);
			if (r < 0)
				return r;
			continue;
		}
		size_t k = 0;
		while (allow_kinds && k < N_OF(kinds) && strcmp(kinds[k].name, key) != 0)
			k++;
		if (!allow_kinds || k == N_OF(kinds))
			return fail(ce, -EBADMSG, path, "unrecognized field");
		if (s->kind != SIGNAL_KIND_NONE)
			return fail(ce, -EBADMSG, path, "a signal has exactly one kind");
		if (!json_is_object(v))
			return fail(ce, -EBADMSG, path, "expected an object");
		s->kind = kinds[k].kind;
		int r = read_object(v, kinds[k].fields, s, path, false, ce);
		if (r < 0)
			return r;
	}
	return 0;
}

int codec_decode_json(const char *data, size_t len, size_t max_signals, struct batch **out,
                      struct codec_error *ce)
{
	json_error_t je;
	struct batch *b = NULL;
	int r = 0;
	json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL)
		return fail(ce, -EBADMSG, "", "invalid JSON at line %d, column %d: %s", je.line,
		            je.column, je.text);
	if (!json_is_object(root)) {
		r = fail(ce, -EBADMSG, "", "expected a JSON object");
		goto out;
	}
	json_t *signals = json_object_get(root, "signals");
	if (signals != NULL && !json_is_array(signals)) {
		r = fail(ce, -EBADMSG, "signals", "expected an array");
		goto out;
	}
	size_t n = signals != NULL ? json_array_size(signals) : 0;
	if (n > max_signals) {
		r = fail(ce, -E2BIG, "signals", "batch has %zu signals, the limit is %zu", n,
		         max_signals);
		goto out;
	}
	b = batch_new(n);
	if (b == NULL) {
		r = -ENOMEM;
		goto out;
	}
	const char *key;
	json_t *v;
	json_object_foreach(root, key, v)
	{
		char **slot = strcmp(key, "batch_id") == 0       ? &b->batch_id
		              : strcmp(key, "source") == 0       ? &b->source
		              : strcmp(key, "organisation") == 0 ? &b->organisation
		                                                 : NULL;
		if (strcmp(key, "signals") == 0)
			continue;
		if (slot == NULL) {
			r = fail(ce, -EBADMSG, key, "unrecognized field");
			goto out;
		}
		if (!json_is_string(v)) {
			r = fail(ce, -EBADMSG, key, "expected a string");
			goto out;
		}
		if (batch_set_string(slot, json_string_value(v)) < 0) {
			r = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		char prefix[32];
		json_t *o = json_array_get(signals, i);
		snprintf(prefix, sizeof(prefix), "signals[%zu]", i);
		if (!json_is_object(o))
			r = fail(ce, -EBADMSG, prefix, "expected an object");
		else
			r = read_object(o, signal_fields, &b->signals[i], prefix, true, ce);
	}
out:
	json_decref(root);
	if (r < 0) {
		batch_free(b);
		return r;
	}
	*out = b;
	return 0;
}
