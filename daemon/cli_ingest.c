/* The upload client (see cli_ingest.h). Reads the export in chunks of --batch-size signals,
 * encodes each chunk as a protobuf SignalBatch and POSTs it with libcurl (blocking: this is a
 * one-shot command). 503, 429, 5xx and network errors are retried with exponential backoff
 * and jitter, honouring Retry-After. With --state FILE, the number of leading signals the
 * daemon acknowledged is recorded after every batch, and a re-run of the same file starts
 * after them. */
#include "cli_ingest.h"

#include "codec.h"
#include "signal_csv.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

struct options {
	const char *url;
	const char *file;
	const char *source;
	const char *organisation;
	const char *state;
	const char *ca_file; /* PEM CAs to verify an https:// daemon with; NULL: system's */
	bool protobuf;
	long batch_size;
	int max_retries;
	long timeout_s;
};

/* ---- reading the export ---- */

struct reader {
	const struct options *o;
	/* CSV */
	FILE *f;
	struct signal_csv *csv;
	/* protobuf */
	struct batch *all;
	size_t next; /* next signal of `all` */
};

/* Fills up to `max` signals of `b` (made with room for max). Records each signal's line in
 * lines[] (CSV) or its index in the file (protobuf). Local format problems are counted into
 * *bad with a message printed. Returns the number filled (0 at the end), or -errno. */
static long read_chunk(struct reader *rd, struct batch *b, size_t max, long *lines, long *bad)
{
	char msg[256];
	size_t k = 0;
	if (rd->all != NULL) {
		for (; k < max && rd->next < rd->all->n_signals; k++, rd->next++) {
			/* Move the decoded signal into the chunk (the chunk frees it). */
			b->signals[k] = rd->all->signals[rd->next];
			memset(&rd->all->signals[rd->next], 0, sizeof(struct signal));
			lines[k] = (long)rd->next;
		}
		return (long)k;
	}
	while (k < max) {
		int line;
		int r = signal_csv_next(rd->csv, &b->signals[k], &line, msg, sizeof(msg));
		if (r == 0)
			break;
		if (r == -EIO || r == -ENOMEM) {
			fprintf(stderr, "error: %s: %s\n", rd->o->file, msg);
			return r;
		}
		if (r < 0) {
			fprintf(stderr, "%s: line %d: %s\n", rd->o->file, line, msg);
			(*bad)++;
			continue;
		}
		lines[k++] = line;
	}
	return (long)k;
}

/* ---- state file ---- */

struct state {
	long long size;
	long long mtime;
	long long acknowledged;
};

static int file_identity(const char *path, struct state *st)
{
	struct stat sb;
	if (stat(path, &sb) < 0)
		return -errno;
	st->size = (long long)sb.st_size;
	st->mtime = (long long)sb.st_mtime;
	return 0;
}

/* Reads the acknowledged count for the same file (same size and mtime); 0 otherwise. */
static long long state_read(const struct options *o, const struct state *now)
{
	struct state st = {0, 0, 0};
	FILE *f = o->state != NULL ? fopen(o->state, "r") : NULL;
	if (f == NULL)
		return 0;
	int n = fscanf(f, "wijkradar-ingest-state 1 size=%lld mtime=%lld acknowledged=%lld",
	               &st.size, &st.mtime, &st.acknowledged);
	fclose(f);
	if (n != 3 || st.size != now->size || st.mtime != now->mtime || st.acknowledged < 0) {
		fprintf(stderr,
		        "ingest: state file \"%s\" is for another version of the file; "
		        "starting from the beginning\n",
		        o->state);
		return 0;
	}
	return st.acknowledged;
}

static void state_write(const struct options *o, const struct state *st)
{
	char tmp[PATH_MAX];
	if (o->state == NULL || snprintf(tmp, sizeof(tmp), "%s.tmp", o->state) >= (int)sizeof(tmp))
		return;
	FILE *f = fopen(tmp, "w");
	if (f == NULL) {
		fprintf(stderr, "warning: could not write state file \"%s\": %s\n", tmp,
		        strerror(errno));
		return;
	}
	fprintf(f, "wijkradar-ingest-state 1 size=%lld mtime=%lld acknowledged=%lld\n", st->size,
	        st->mtime, st->acknowledged);
	if (fclose(f) != 0 || rename(tmp, o->state) != 0)
		fprintf(stderr, "warning: could not write state file \"%s\": %s\n", o->state,
		        strerror(errno));
}

/* ---- sending ---- */

struct response {
	char *body;
	size_t len;
	long retry_after_s; /* -1: none */
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct response *r = arg;
	size_t n = size * nmemb;
	char *p = realloc(r->body, r->len + n + 1);
	if (p == NULL)
		return 0;
	memcpy(p + r->len, data, n);
	r->len += n;
	p[r->len] = '\0';
	r->body = p;
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct response *r = arg;
	size_t n = size * nmemb;
	if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0)
		r->retry_after_s = strtol(data + 12, NULL, 10);
	return n;
}

/* Posts one encoded batch; returns the HTTP status, or -1 for a network error (printed in
 * `why`). The response body is in r (caller frees r->body). */
static long post(CURL *curl, const struct options *o, struct curl_slist *headers,
                 const uint8_t *body, size_t len, struct response *r, char *why, size_t why_size)
{
	char url[1024];
	long status = -1;
	snprintf(url, sizeof(url), "%s/v1/signals", o->url);
	r->body = NULL;
	r->len = 0;
	r->retry_after_s = -1;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char *)body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, o->timeout_s);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	if (o->ca_file != NULL)
		curl_easy_setopt(curl, CURLOPT_CAINFO, o->ca_file);
	CURLcode cc = curl_easy_perform(curl);
	if (cc != CURLE_OK) {
		snprintf(why, why_size, "%s", curl_easy_strerror(cc));
		return -1;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

static bool retryable(long status)
{
	return status < 0 || status == 429 || status == 500 || status == 502 || status == 503 ||
	       status == 504;
}

/* Waits before retry `attempt` (0-based): Retry-After when given, else 0.5 s doubling, capped
 * at 60 s, with up to 25% jitter. */
static void backoff(int attempt, long retry_after_s)
{
	double s = retry_after_s >= 0 ? (double)retry_after_s : 0.5 * (double)(1L << attempt);
	if (s > 60)
		s = 60;
	s += s * 0.25 * ((double)rand() / RAND_MAX);
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
	nanosleep(&ts, NULL);
}

struct totals {
	long long sent, stored, duplicates, rejected, batches;
};

/* Prints the rejections of a 422 answer with the file's line numbers. */
static void print_rejections(const struct options *o, json_t *reply, const long *lines, size_t n,
                             bool csv)
{
	json_t *arr = json_object_get(reply, "rejected");
	size_t i;
	json_t *item;
	json_array_foreach(arr, i, item)
	{
		json_int_t idx = json_integer_value(json_object_get(item, "index"));
		const char *field = json_string_value(json_object_get(item, "field"));
		const char *reason = json_string_value(json_object_get(item, "reason"));
		if (idx < 0 || (size_t)idx >= n)
			continue;
		fprintf(stderr, "%s: %s %ld: %s: %s\n", o->file, csv ? "line" : "signal",
		        lines[idx], field != NULL ? field : "?", reason != NULL ? reason : "?");
	}
	json_int_t total = json_integer_value(json_object_get(reply, "rejected_count"));
	if (total > (json_int_t)json_array_size(arr))
		fprintf(stderr, "%s: ... and %lld more in this batch\n", o->file,
		        (long long)(total - (json_int_t)json_array_size(arr)));
}

/* Sends one chunk until it is answered for good. Returns 0 (stored), 1 (rejected), or -1
 * (failed: printed; stop). */
static int send_chunk(CURL *curl, struct curl_slist *headers, const struct options *o,
                      struct batch *b, const long *lines, struct totals *t)
{
	uint8_t *body = NULL;
	size_t len = 0;
	char why[256] = "";
	if (codec_encode_protobuf(b, &body, &len) < 0) {
		fputs("error: out of memory encoding a batch\n", stderr);
		return -1;
	}
	int rc = -1;
	for (int attempt = 0;; attempt++) {
		struct response r;
		long status = post(curl, o, headers, body, len, &r, why, sizeof(why));
		json_t *reply = r.body != NULL ? json_loadb(r.body, r.len, 0, NULL) : NULL;
		if (status == 200) {
			t->stored += json_integer_value(json_object_get(reply, "stored"));
			t->duplicates += json_integer_value(json_object_get(reply, "duplicates"));
			rc = 0;
		} else if (status == 422) {
			print_rejections(o, reply, lines, b->n_signals, !o->protobuf);
			t->rejected += (long long)b->n_signals;
			rc = 1;
		} else if (retryable(status) && attempt < o->max_retries) {
			fprintf(stderr, "ingest: batch %s: %s; retrying\n", b->batch_id,
			        status < 0 ? why : "the daemon is busy or unavailable");
			json_decref(reply);
			free(r.body);
			backoff(attempt, r.retry_after_s);
			continue;
		} else {
			const char *err = json_string_value(json_object_get(reply, "error"));
			const char *detail = json_string_value(json_object_get(reply, "detail"));
			if (status < 0)
				fprintf(stderr, "error: could not reach %s: %s\n", o->url, why);
			else
				fprintf(stderr, "error: batch %s: HTTP %ld: %s\n%s%s%s",
				        b->batch_id, status,
				        err != NULL ? err : "(no error message)",
				        detail != NULL ? "DETAIL: " : "",
				        detail != NULL ? detail : "", detail != NULL ? "\n" : "");
		}
		json_decref(reply);
		free(r.body);
		break;
	}
	free(body);
	return rc;
}

/* ---- the command ---- */

static int usage(void)
{
	fputs("usage: wijkradar ingest [--url URL] [--batch-size N] [--source SOURCE\n"
	      "                        --organisation ORG] [--format csv|protobuf]\n"
	      "                        [--state FILE] [--max-retries N] [--timeout-s N]\n"
	      "                        [--ca-file PEM] FILE\n"
	      "The bearer token is read from the environment variable WIJKRADAR_TOKEN.\n",
	      stderr);
	return 2;
}

static int parse_options(int argc, char **argv, const struct config *c, struct options *o,
                         char *url_buf, size_t url_size)
{
	static const struct option opts[] = {{"url", required_argument, NULL, 'u'},
	                                     {"batch-size", required_argument, NULL, 'b'},
	                                     {"source", required_argument, NULL, 's'},
	                                     {"organisation", required_argument, NULL, 'o'},
	                                     {"format", required_argument, NULL, 'f'},
	                                     {"state", required_argument, NULL, 'S'},
	                                     {"max-retries", required_argument, NULL, 'r'},
	                                     {"timeout-s", required_argument, NULL, 't'},
	                                     {"ca-file", required_argument, NULL, 'C'},
	                                     {NULL, 0, NULL, 0}};
	const char *format = NULL;
	int opt;
	memset(o, 0, sizeof(*o));
	o->batch_size = 1000;
	o->max_retries = 10;
	o->timeout_s = 120;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "u:b:s:o:f:S:r:t:C:", opts, NULL)) != -1) {
		switch (opt) {
		case 'u':
			o->url = optarg;
			break;
		case 'b':
			o->batch_size = strtol(optarg, NULL, 10);
			break;
		case 's':
			o->source = optarg;
			break;
		case 'o':
			o->organisation = optarg;
			break;
		case 'f':
			format = optarg;
			break;
		case 'S':
			o->state = optarg;
			break;
		case 'r':
			o->max_retries = atoi(optarg);
			break;
		case 't':
			o->timeout_s = strtol(optarg, NULL, 10);
			break;
		case 'C':
			o->ca_file = optarg;
			break;
		default:
			return usage();
		}
	}
	if (optind != argc - 1 || o->batch_size < 1 || o->batch_size > 1000000 ||
	    o->max_retries < 0 || o->max_retries > 30 || o->timeout_s < 1)
		return usage();
	o->file = argv[optind];
	if (format != NULL) {
		if (strcmp(format, "csv") != 0 && strcmp(format, "protobuf") != 0)
			return usage();
		o->protobuf = strcmp(format, "protobuf") == 0;
	} else {
		const char *dot = strrchr(o->file, '.');
		o->protobuf = dot != NULL && (strcmp(dot, ".pb") == 0 || strcmp(dot, ".bin") == 0);
	}
	if (!o->protobuf && (o->source == NULL || o->organisation == NULL)) {
		fputs("error: a CSV upload needs --source and --organisation\n", stderr);
		return 2;
	}
	if (o->url == NULL) {
		/* The daemon of this configuration; a wildcard address is reached on loopback. */
		const char *listen = c->http_listen;
		if (strncmp(listen, "0.0.0.0:", 8) == 0)
			snprintf(url_buf, url_size, "http://127.0.0.1:%s", listen + 8);
		else
			snprintf(url_buf, url_size, "http://%s", listen);
		o->url = url_buf;
	}
	return 0;
}

static int open_reader(struct reader *rd, const struct options *o)
{
	char msg[256];
	rd->o = o;
	rd->f = fopen(o->file, "rb");
	if (rd->f == NULL) {
		fprintf(stderr, "error: could not open \"%s\": %s\n", o->file, strerror(errno));
		return -1;
	}
	if (!o->protobuf) {
		rd->csv = signal_csv_open(rd->f, msg, sizeof(msg));
		if (rd->csv == NULL) {
			fprintf(stderr, "error: %s: %s\n", o->file, msg);
			return -1;
		}
		return 0;
	}
	/* A protobuf file is one SignalBatch; it is read whole and sent in slices. */
	struct codec_error ce = {"", ""};
	uint8_t *data = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			cap = cap != 0 ? cap * 2 : 1 << 20;
			uint8_t *p = realloc(data, cap);
			if (p == NULL) {
				free(data);
				fputs("error: out of memory reading the file\n", stderr);
				return -1;
			}
			data = p;
		}
		size_t n = fread(data + len, 1, cap - len, rd->f);
		len += n;
		if (n == 0)
			break;
	}
	int r = ferror(rd->f) ? -EIO : codec_decode_protobuf(data, len, SIZE_MAX, &rd->all, &ce);
	free(data);
	if (r < 0) {
		fprintf(stderr, "error: %s: not a valid SignalBatch file: %s%s%s\n", o->file,
		        ce.field, ce.field[0] != '\0' ? ": " : "", ce.msg);
		return -1;
	}
	return 0;
}

static void close_reader(struct reader *rd)
{
	signal_csv_free(rd->csv);
	batch_free(rd->all);
	if (rd->f != NULL)
		fclose(rd->f);
}

int cli_ingest(int argc, char **argv, const struct config *c)
{
	struct options o;
	char url[512], auth[160];
	int r = parse_options(argc, argv, c, &o, url, sizeof(url));
	if (r != 0)
		return r;
	const char *token = getenv("WIJKRADAR_TOKEN");
	if (token == NULL || token[0] == '\0') {
		fputs("error: no token: set WIJKRADAR_TOKEN to a source token made by "
		      "\"wijkradar token create --role source ...\"\n",
		      stderr);
		return 1;
	}
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	struct state st = {0, 0, 0};
	if (file_identity(o.file, &st) < 0) {
		fprintf(stderr, "error: could not open \"%s\": %s\n", o.file, strerror(errno));
		return 1;
	}
	long long skip = state_read(&o, &st);
	struct reader rd;
	memset(&rd, 0, sizeof(rd));
	if (open_reader(&rd, &o) < 0) {
		close_reader(&rd);
		return 1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		close_reader(&rd);
		fputs("error: could not initialise libcurl\n", stderr);
		return 1;
	}
	CURL *curl = curl_easy_init();
	struct curl_slist *headers = NULL;
	headers = curl_slist_append(headers, "Content-Type: application/x-protobuf");
	headers = curl_slist_append(headers, "Expect:");
	headers = curl_slist_append(headers, auth);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	/* Batch ids are unique per source: file name, start of this run (microseconds), batch
	 * number. */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	long long run_started = (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000;

	struct totals t = {0, 0, 0, 0, 0};
	long bad_local = 0, skipped = 0;
	bool failed = curl == NULL || headers == NULL;
	bool in_order = true; /* every batch so far was acknowledged */
	long *lines = calloc((size_t)o.batch_size, sizeof(*lines));
	const char *base = strrchr(o.file, '/') != NULL ? strrchr(o.file, '/') + 1 : o.file;
	failed = failed || lines == NULL;
	while (!failed) {
		struct batch *b = batch_new((size_t)o.batch_size);
		if (b == NULL) {
			failed = true;
			break;
		}
		long n = read_chunk(&rd, b, (size_t)o.batch_size, lines, &bad_local);
		if (n <= 0) {
			failed = n < 0;
			batch_free(b);
			break;
		}
		b->n_signals = (size_t)n;
		long long first = t.sent + skipped;
		if (first + n <= skip) {
			skipped += n; /* acknowledged in an earlier run */
			batch_free(b);
			continue;
		}
		char batch_id[96];
		snprintf(batch_id, sizeof(batch_id), "%.40s-%lld-%lld", base, run_started,
		         t.batches + 1);
		const char *src = o.protobuf ? rd.all->source : o.source;
		const char *org = o.protobuf ? rd.all->organisation : o.organisation;
		if (batch_set_string(&b->batch_id, batch_id) < 0 ||
		    batch_set_string(&b->source, src) < 0 ||
		    batch_set_string(&b->organisation, org) < 0) {
			batch_free(b);
			failed = true;
			break;
		}
		int sr = send_chunk(curl, headers, &o, b, lines, &t);
		batch_free(b);
		t.batches++;
		t.sent += n;
		if (sr < 0) {
			failed = true;
			break;
		}
		in_order = in_order && sr == 0;
		if (in_order) {
			st.acknowledged = t.sent + skipped;
			state_write(&o, &st);
		}
		fprintf(stderr,
		        "ingest: %lld signals sent in %lld batches: %lld stored, %lld "
		        "duplicates, %lld rejected\n",
		        t.sent, t.batches, t.stored, t.duplicates, t.rejected);
	}
	if (skipped > 0)
		fprintf(stderr, "ingest: skipped %ld signals acknowledged in an earlier run\n",
		        skipped);
	printf("ingest: %s: %lld signals in %lld batches: %lld stored, %lld duplicates, %lld "
	       "rejected%s\n",
	       o.file, t.sent, t.batches, t.stored, t.duplicates, t.rejected + bad_local,
	       failed ? " (stopped early)" : "");
	free(lines);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	curl_global_cleanup();
	close_reader(&rd);
	return failed || t.rejected > 0 || bad_local > 0 ? 1 : 0;
}
