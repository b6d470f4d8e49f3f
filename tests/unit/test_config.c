/* Unit tests for daemon/config: defaults, INI loading and its error messages, the environment
 * override, reload merging, the printed default file and HOST:PORT parsing. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define ENV_DATABASE "WIJKRADAR_DATABASE"

/* Writes `text` to a new file under /tmp and stores its name in `path` (at least 32 bytes). */
static void write_temp(char *path, const char *text)
{
	strcpy(path, "/tmp/wr-test-config.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t len = strlen(text);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* Loads `text` as a config file; the file is removed again before returning. */
static int load_text(const char *text, char *path, struct config **out, struct err *e)
{
	write_temp(path, text);
	int r = config_load(path, out, e);
	unlink(path);
	return r;
}

/* Fails unless `haystack` contains `needle`, printing both. */
static void assert_contains(const char *haystack, const char *needle)
{
	assert_non_null(haystack);
	assert_non_null(needle);
	if (strstr(haystack, needle) == NULL) {
		print_error("\"%s\"\ndoes not contain\n\"%s\"\n", haystack != NULL ? haystack : "",
		            needle != NULL ? needle : "");
		fail();
	}
}

static void assert_config_equal(const struct config *a, const struct config *b)
{
	assert_string_equal(a->http_listen, b->http_listen);
	assert_int_equal(a->http_max_body_bytes, b->http_max_body_bytes);
	assert_int_equal(a->http_max_header_bytes, b->http_max_header_bytes);
	assert_int_equal(a->http_timeout_s, b->http_timeout_s);
	assert_string_equal(a->db_conninfo, b->db_conninfo);
	assert_int_equal(a->db_pool_size, b->db_pool_size);
	assert_int_equal(a->db_queue_max, b->db_queue_max);
	assert_int_equal(a->db_connect_timeout_s, b->db_connect_timeout_s);
	assert_int_equal(a->db_reconnect_min_ms, b->db_reconnect_min_ms);
	assert_int_equal(a->db_reconnect_max_ms, b->db_reconnect_max_ms);
	assert_int_equal(a->db_migrate_on_start, b->db_migrate_on_start);
	assert_string_equal(a->pseudonym_key_file, b->pseudonym_key_file);
	assert_int_equal(a->ingest_max_signals, b->ingest_max_signals);
	assert_int_equal(a->ingest_max_inflight, b->ingest_max_inflight);
	assert_int_equal(a->ingest_max_age_weeks, b->ingest_max_age_weeks);
	assert_string_equal(a->log_level, b->log_level);
	assert_int_equal(a->shutdown_grace_s, b->shutdown_grace_s);
	assert_int_equal(a->readiness_timeout_ms, b->readiness_timeout_ms);
}

/* The documented defaults, as written in config.c's key table and the example config. */
static void assert_defaults(const struct config *c)
{
	assert_string_equal(c->http_listen, "127.0.0.1:8080");
	assert_int_equal(c->http_max_body_bytes, 8388608);
	assert_int_equal(c->http_max_header_bytes, 16384);
	assert_int_equal(c->http_timeout_s, 30);
	assert_string_equal(c->db_conninfo, "dbname=wijkradar");
	assert_int_equal(c->db_pool_size, 4);
	assert_int_equal(c->db_queue_max, 1024);
	assert_int_equal(c->db_connect_timeout_s, 10);
	assert_int_equal(c->db_reconnect_min_ms, 100);
	assert_int_equal(c->db_reconnect_max_ms, 5000);
	assert_true(c->db_migrate_on_start);
	assert_string_equal(c->pseudonym_key_file, "");
	assert_int_equal(c->ingest_max_signals, 10000);
	assert_int_equal(c->ingest_max_inflight, 64);
	assert_int_equal(c->ingest_max_age_weeks, 520);
	assert_string_equal(c->log_level, "info");
	assert_int_equal(c->shutdown_grace_s, 10);
	assert_int_equal(c->readiness_timeout_ms, 2000);
}

/* Every test starts and ends without the environment override. */
static int unset_env(void **state)
{
	return unsetenv(ENV_DATABASE);
}

static void test_defaults(void **state)
{
	struct config *c = NULL;
	struct err e;
	err_clear(&e);
	assert_int_equal(config_load(NULL, &c, &e), 0);
	assert_non_null(c);
	assert_false(err_is_set(&e));
	assert_defaults(c);
	config_free(c);
}

static void test_free_null(void **state)
{
	config_free(NULL);
}

static void test_load_good(void **state)
{
	static const char text[] = "# wijkradar test configuration\n"
	                           "[http]\n"
	                           "listen = [::1]:0\n"
	                           "max_body_bytes = 1024\n"
	                           "max_header_bytes=2048\n"
	                           "timeout_s   =   5\n"
	                           "\n"
	                           "; a comment in the other style\n"
	                           "[database]\n"
	                           "conninfo = host=/tmp/wr dbname=t user=u\n"
	                           "pool_size = 64\n"
	                           "queue_max = 1\n"
	                           "connect_timeout_s = 600\n"
	                           "reconnect_min_ms = 10\n"
	                           "reconnect_max_ms = 10\n"
	                           "migrate_on_start = off\n"
	                           "\n"
	                           "[log]\n"
	                           "level = debug\n"
	                           "\n"
	                           "[daemon]\n"
	                           "shutdown_grace_s = 0\n"
	                           "readiness_timeout_ms = 60000\n";
	char path[32];
	struct config *c = NULL;
	struct err e;
	err_clear(&e);
	int r = load_text(text, path, &c, &e);
	if (r != 0)
		print_error("%s\n", e.msg);
	assert_int_equal(r, 0);
	assert_string_equal(c->http_listen, "[::1]:0");
	assert_int_equal(c->http_max_body_bytes, 1024);
	assert_int_equal(c->http_max_header_bytes, 2048);
	assert_int_equal(c->http_timeout_s, 5);
	/* the value runs to the end of the line, '=' and spaces included */
	assert_string_equal(c->db_conninfo, "host=/tmp/wr dbname=t user=u");
	assert_int_equal(c->db_pool_size, 64);
	assert_int_equal(c->db_queue_max, 1);
	assert_int_equal(c->db_connect_timeout_s, 600);
	assert_int_equal(c->db_reconnect_min_ms, 10);
	assert_int_equal(c->db_reconnect_max_ms, 10);
	assert_false(c->db_migrate_on_start);
	assert_string_equal(c->log_level, "debug");
	assert_int_equal(c->shutdown_grace_s, 0);
	assert_int_equal(c->readiness_timeout_ms, 60000);
	config_free(c);
}

static void test_load_partial(void **state)
{
	/* keys the file leaves out keep their defaults */
	char path[32];
	struct config *c = NULL;
	struct err e;
	err_clear(&e);
	assert_int_equal(load_text("[log]\nlevel = warn\n", path, &c, &e), 0);
	assert_string_equal(c->log_level, "warn");
	/* put the default back to compare the rest with the defaults */
	free(c->log_level);
	c->log_level = strdup("info");
	assert_non_null(c->log_level);
	assert_defaults(c);
	config_free(c);
}

static void test_load_bools(void **state)
{
	static const struct {
		const char *text;
		bool value;
	} cases[] = {
	    {"true", true},   {"yes", true}, {"on", true},   {"1", true},  {"TRUE", true},
	    {"false", false}, {"no", false}, {"off", false}, {"0", false}, {"False", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[96], path[32];
		struct config *c = NULL;
		struct err e;
		err_clear(&e);
		snprintf(text, sizeof(text), "[database]\nmigrate_on_start = %s\n", cases[i].text);
		int r = load_text(text, path, &c, &e);
		if (r != 0)
			print_error("\"%s\": %s\n", cases[i].text, e.msg);
		assert_int_equal(r, 0);
		assert_int_equal(c->db_migrate_on_start, cases[i].value);
		config_free(c);
	}
}

/* A file with one fault that a single key can be blamed for. */
struct bad_key_case {
	const char *text;
	int line;
	const char *key;    /* "section.name" */
	const char *reason; /* part of the message after the key */
};

static const struct bad_key_case bad_key_cases[] = {
    {"[http]\nlisten = 127.0.0.1:1\nbogus = 1\n", 3, "http.bogus",
     "unrecognized configuration key \"http.bogus\""},
    {"[nope]\nlisten = 127.0.0.1:1\n", 2, "nope.listen",
     "unrecognized configuration key \"nope.listen\""},
    /* comments and blank lines count as lines */
    {"# first\n\n[log]\n; fourth\nlevel = loud\n", 5, "log.level",
     "\"loud\": expected error, warn, info or debug"},
    {"[log]\nlevel =\n", 2, "log.level", "expected error, warn, info or debug"},
    /* integers: not a number, trailing junk, empty, out of range, overflow */
    {"[database]\npool_size = four\n", 2, "database.pool_size",
     "\"four\": expected an integer from 1 to 64"},
    {"[database]\npool_size = 4x\n", 2, "database.pool_size", "expected an integer from 1 to 64"},
    {"[database]\npool_size = 4.0\n", 2, "database.pool_size", "expected an integer from 1 to 64"},
    {"[database]\npool_size =\n", 2, "database.pool_size", "expected an integer from 1 to 64"},
    {"[database]\npool_size = 65\n", 2, "database.pool_size",
     "\"65\": expected an integer from 1 to 64"},
    {"[database]\npool_size = 0\n", 2, "database.pool_size", "expected an integer from 1 to 64"},
    {"[http]\ntimeout_s = -1\n", 2, "http.timeout_s", "expected an integer from 1 to 3600"},
    {"[http]\ntimeout_s = 99999999999999999999\n", 2, "http.timeout_s",
     "expected an integer from 1 to 3600"},
    {"[http]\ntimeout_s = 4294967326\n", 2, "http.timeout_s", /* 2^32 + 30 */
     "expected an integer from 1 to 3600"},
    {"[http]\nmax_body_bytes = 1023\n", 2, "http.max_body_bytes",
     "expected an integer from 1024 to 1073741824"},
    {"[daemon]\nshutdown_grace_s = 3601\n", 2, "daemon.shutdown_grace_s",
     "expected an integer from 0 to 3600"},
    /* booleans */
    {"[database]\nmigrate_on_start = maybe\n", 2, "database.migrate_on_start",
     "\"maybe\": expected true or false"},
    {"[database]\nmigrate_on_start = 2\n", 2, "database.migrate_on_start",
     "expected true or false"},
    /* listen addresses */
    {"[http]\nlisten = nonsense\n", 2, "http.listen",
     "\"nonsense\": expected HOST:PORT with a port 0..65535"},
    {"[http]\nlisten = host:\n", 2, "http.listen", "expected HOST:PORT"},
    {"[http]\nlisten = :80\n", 2, "http.listen", "expected HOST:PORT"},
    {"[http]\nlisten = h:70000\n", 2, "http.listen", "expected HOST:PORT"},
    {"[http]\n\nlisten = [::1]80\n", 3, "http.listen", "expected HOST:PORT"},
    {"[http]\nlisten = ::1:80\n", 2, "http.listen", "expected HOST:PORT"},
    /* empty connection string */
    {"[database]\nconninfo =\n", 2, "database.conninfo", "must not be empty"},
};

static void test_load_bad_key(void **state)
{
	for (size_t i = 0; i < sizeof(bad_key_cases) / sizeof(bad_key_cases[0]); i++) {
		const struct bad_key_case *t = &bad_key_cases[i];
		char path[32], want[128];
		struct config *c = NULL;
		struct err e;
		err_clear(&e);
		int r = load_text(t->text, path, &c, &e);
		if (r != -EINVAL)
			print_error("case %zu (%s): %d\n", i, t->key, r);
		assert_int_equal(r, -EINVAL);
		assert_null(c);
		assert_string_equal(e.code, "invalid_config");
		snprintf(want, sizeof(want), "config file \"%s\", line %d: ", path, t->line);
		assert_contains(e.msg, want);
		snprintf(want, sizeof(want), "\"%s\"", t->key);
		assert_contains(e.msg, want);
		assert_contains(e.msg, t->reason);
	}
}

static void test_load_syntax_error(void **state)
{
	char path[32], want[96];
	struct config *c = NULL;
	struct err e;
	err_clear(&e);
	assert_int_equal(load_text("[http]\nlisten\n", path, &c, &e), -EINVAL);
	assert_null(c);
	snprintf(want, sizeof(want), "config file \"%s\", line 2: syntax error", path);
	assert_string_equal(e.msg, want);
}

static void test_load_key_error_then_syntax_error(void **state)
{
	/* the first problem is reported: the key on line 2 */
	char path[32], want[128];
	struct config *c = NULL;
	struct err e;
	err_clear(&e);
	assert_int_equal(load_text("[http]\nbogus = 1\nnot ini at all\n", path, &c, &e), -EINVAL);
	assert_null(c);
	snprintf(want, sizeof(want),
	         "config file \"%s\", line 2: unrecognized configuration key \"http.bogus\"", path);
	assert_string_equal(e.msg, want);
}

static void test_load_syntax_error_then_key_error(void **state)
{
	/* The first problem is the syntax error on line 2; the message must not pair that
	 * line number with the text of the later problem on line 3. */
	char path[32], want[96];
	struct config *c = NULL;
	struct err e;
	err_clear(&e);
	assert_int_equal(load_text("[http]\nnot ini at all\nbogus = 1\n", path, &c, &e), -EINVAL);
	assert_null(c);
	snprintf(want, sizeof(want), "config file \"%s\", line 2: syntax error", path);
	assert_string_equal(e.msg, want);
}

static void test_load_long_line(void **state)
{
	/* A libpq URI or keyword string can be longer than inih's 200-byte line buffer. Such a
	 * line must either load whole or be rejected with a message that names its line (2)
	 * and key; it must not be split into a second line that is then misreported. */
	static const char *const tails[] = {
	    "",                 /* tail without '=' */
	    " sslmode=require", /* tail that looks like a key = value pair */
	};
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		char conninfo[400], text[512], path[32];
		struct config *c = NULL;
		struct err e;
		err_clear(&e);
		strcpy(conninfo, "host=/var/run/postgresql dbname=");
		size_t n = strlen(conninfo);
		memset(conninfo + n, 'w', 250);
		conninfo[n + 250] = '\0';
		strcat(conninfo, tails[i]);
		snprintf(text, sizeof(text), "[database]\nconninfo = %s\n[log]\nlevel = warn\n",
		         conninfo);
		int r = load_text(text, path, &c, &e);
		if (r == 0) {
			assert_string_equal(c->db_conninfo, conninfo);
			assert_string_equal(c->log_level, "warn");
			config_free(c);
			continue;
		}
		char want[64];
		snprintf(want, sizeof(want), "config file \"%s\", line 2: ", path);
		assert_int_equal(r, -EINVAL);
		assert_null(c);
		assert_contains(e.msg, want);
		assert_contains(e.msg, "\"database.conninfo\"");
	}
}

static void test_load_reconnect_order(void **state)
{
	static const struct {
		const char *text;
		int min, max;
	} cases[] = {
	    {"[database]\nreconnect_min_ms = 6000\n", 6000, 5000}, /* above the default max */
	    {"[database]\nreconnect_max_ms = 50\n", 100, 50},      /* below the default min */
	    {"[database]\nreconnect_min_ms = 200\nreconnect_max_ms = 199\n", 200, 199},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[32], want[64];
		struct config *c = NULL;
		struct err e;
		err_clear(&e);
		assert_int_equal(load_text(cases[i].text, path, &c, &e), -EINVAL);
		assert_null(c);
		assert_string_equal(e.code, "invalid_config");
		assert_contains(e.msg, "\"database.reconnect_min_ms\"");
		assert_contains(e.msg, "\"database.reconnect_max_ms\"");
		snprintf(want, sizeof(want), "%d", cases[i].min);
		assert_contains(e.msg, want);
		snprintf(want, sizeof(want), "(%d)", cases[i].max);
		assert_contains(e.msg, want);
	}
	/* equal is fine */
	char path[32];
	struct config *c = NULL;
	struct err e;
	err_clear(&e);
	assert_int_equal(
	    load_text("[database]\nreconnect_min_ms = 300\nreconnect_max_ms = 300\n", path, &c, &e),
	    0);
	assert_int_equal(c->db_reconnect_min_ms, 300);
	assert_int_equal(c->db_reconnect_max_ms, 300);
	config_free(c);
}

static void test_load_missing_file(void **state)
{
	struct config *c = NULL;
	struct err e;
	err_clear(&e);
	assert_int_equal(config_load("/nonexistent-wr-dir/wijkradar.conf", &c, &e), -EINVAL);
	assert_null(c);
	assert_string_equal(e.code, "invalid_config");
	assert_contains(e.msg, "could not open config file \"/nonexistent-wr-dir/wijkradar.conf\"");
	assert_contains(e.msg, strerror(ENOENT));
}

static void test_env_override(void **state)
{
	char path[32];
	struct config *c = NULL;
	struct err e;
	err_clear(&e);

	/* the environment wins over the file */
	assert_int_equal(setenv(ENV_DATABASE, "host=/tmp dbname=fromenv", 1), 0);
	assert_int_equal(load_text("[database]\nconninfo = dbname=fromfile\n", path, &c, &e), 0);
	assert_string_equal(c->db_conninfo, "host=/tmp dbname=fromenv");
	config_free(c);
	c = NULL;

	/* and over the default */
	assert_int_equal(config_load(NULL, &c, &e), 0);
	assert_string_equal(c->db_conninfo, "host=/tmp dbname=fromenv");
	config_free(c);
	c = NULL;

	/* without it the file counts again */
	assert_int_equal(unsetenv(ENV_DATABASE), 0);
	assert_int_equal(load_text("[database]\nconninfo = dbname=fromfile\n", path, &c, &e), 0);
	assert_string_equal(c->db_conninfo, "dbname=fromfile");
	config_free(c);
}

static void test_env_override_invalid(void **state)
{
	struct config *c = NULL;
	struct err e;
	err_clear(&e);
	assert_int_equal(setenv(ENV_DATABASE, "", 1), 0);
	assert_int_equal(config_load(NULL, &c, &e), -EINVAL);
	assert_null(c);
	assert_contains(e.msg, ENV_DATABASE);
	assert_contains(e.msg, "\"database.conninfo\"");
	assert_contains(e.msg, "must not be empty");
}

/* Records the keys config_merge_reload reports. */
struct reports {
	char keys[16][64];
	size_t n;
};

static void on_changed(const char *key, void *arg)
{
	struct reports *rep = arg;
	assert_true(rep->n < 16);
	snprintf(rep->keys[rep->n++], sizeof(rep->keys[0]), "%s", key);
}

static void test_merge_reload(void **state)
{
	static const char running_text[] = "[http]\n"
	                                   "listen = 127.0.0.1:8080\n"
	                                   "timeout_s = 30\n"
	                                   "[database]\n"
	                                   "conninfo = dbname=a\n"
	                                   "pool_size = 4\n"
	                                   "[log]\n"
	                                   "level = info\n";
	static const char fresh_text[] = "[http]\n"
	                                 "listen = 127.0.0.1:9090\n"
	                                 "timeout_s = 60\n"
	                                 "[database]\n"
	                                 "conninfo = dbname=b\n"
	                                 "pool_size = 8\n"
	                                 "queue_max = 7\n"
	                                 "migrate_on_start = false\n"
	                                 "[log]\n"
	                                 "level = debug\n";
	char path[32];
	struct config *running = NULL, *fresh = NULL;
	struct err e;
	struct reports rep = {.n = 0};
	err_clear(&e);
	assert_int_equal(load_text(running_text, path, &running, &e), 0);
	assert_int_equal(load_text(fresh_text, path, &fresh, &e), 0);

	assert_int_equal(config_merge_reload(running, fresh, on_changed, &rep), 0);

	/* non-reloadable keys keep the running value and are reported once each */
	assert_string_equal(fresh->http_listen, "127.0.0.1:8080");
	assert_string_equal(fresh->db_conninfo, "dbname=a");
	assert_int_equal(fresh->db_pool_size, 4);
	assert_true(fresh->db_migrate_on_start);
	assert_int_equal(rep.n, 4);
	static const char *const want[] = {"http.listen", "database.conninfo", "database.pool_size",
	                                   "database.migrate_on_start"};
	for (size_t i = 0; i < 4; i++) {
		size_t seen = 0;
		for (size_t j = 0; j < rep.n; j++)
			seen += strcmp(rep.keys[j], want[i]) == 0;
		if (seen != 1)
			print_error("\"%s\" reported %zu times\n", want[i], seen);
		assert_int_equal(seen, 1);
	}
	/* reloadable keys take the new value */
	assert_string_equal(fresh->log_level, "debug");
	assert_int_equal(fresh->http_timeout_s, 60);
	assert_int_equal(fresh->db_queue_max, 7);
	/* running is untouched */
	assert_string_equal(running->http_listen, "127.0.0.1:8080");
	assert_string_equal(running->log_level, "info");
	assert_int_equal(running->http_timeout_s, 30);

	/* a second merge finds nothing left to report; without a callback it still works */
	rep.n = 0;
	assert_int_equal(config_merge_reload(running, fresh, on_changed, &rep), 0);
	assert_int_equal(rep.n, 0);
	assert_int_equal(config_merge_reload(running, fresh, NULL, NULL), 0);
	assert_string_equal(fresh->db_conninfo, "dbname=a");

	config_free(running);
	config_free(fresh);
}

static void test_merge_reload_no_report(void **state)
{
	/* report may be NULL; the values are still kept */
	char path[32];
	struct config *running = NULL, *fresh = NULL;
	struct err e;
	err_clear(&e);
	assert_int_equal(config_load(NULL, &running, &e), 0);
	assert_int_equal(
	    load_text(
	        "[http]\nlisten = 0.0.0.0:1\nallow_plain_http = true\n[database]\npool_size = 2\n",
	        path, &fresh, &e),
	    0);
	assert_int_equal(config_merge_reload(running, fresh, NULL, NULL), 0);
	assert_config_equal(running, fresh);
	config_free(running);
	config_free(fresh);
}

static void test_listen_is_loopback(void **state)
{
	static const struct {
		const char *listen;
		bool loopback;
	} cases[] = {
	    {"127.0.0.1:8080", true},  {"127.9.8.7:1", true},   {"[::1]:0", true},
	    {"localhost:80", true},    {"LocalHost:80", true},  {"0.0.0.0:8080", false},
	    {"[::]:8080", false},      {"10.0.0.1:80", false},  {"192.168.1.5:80", false},
	    {"example.nl:443", false}, {"128.0.0.1:80", false}, {"[::ffff:127.0.0.1]:80", false},
	    {"nonsense", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (config_listen_is_loopback(cases[i].listen) != cases[i].loopback)
			fail_msg("case %zu: \"%s\"", i, cases[i].listen);
	}
}

static void test_plain_http_and_tls_rules(void **state)
{
	static const struct {
		const char *text;
		const char *error; /* NULL: accepted */
	} cases[] = {
	    {"[http]\nlisten = 127.0.0.1:1\n", NULL},
	    {"[http]\nlisten = 0.0.0.0:1\n", "not a loopback address"},
	    {"[http]\nlisten = [::]:1\n", "not a loopback address"},
	    {"[http]\nlisten = 0.0.0.0:1\nallow_plain_http = true\n", NULL},
	    {"[http]\nlisten = 0.0.0.0:1\ntls_cert_file = c.pem\ntls_key_file = k.pem\n", NULL},
	    {"[http]\ntls_cert_file = c.pem\n", "go together"},
	    {"[http]\ntls_key_file = k.pem\n", "go together"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[32];
		struct config *c = NULL;
		struct err e;
		err_clear(&e);
		int r = load_text(cases[i].text, path, &c, &e);
		if (cases[i].error == NULL) {
			if (r != 0)
				fail_msg("case %zu refused: %s", i, e.msg);
		} else if (r == 0 || strstr(e.msg, cases[i].error) == NULL) {
			fail_msg("case %zu: expected \"%s\", got %d \"%s\"", i, cases[i].error, r,
			         e.msg);
		}
		config_free(c);
	}
}

static void test_print_defaults_round_trip(void **state)
{
	char path[32];
	struct config *defaults = NULL, *loaded = NULL;
	struct err e;
	err_clear(&e);
	strcpy(path, "/tmp/wr-test-config.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w+");
	assert_non_null(f);
	config_print_defaults(f);
	assert_int_equal(fflush(f), 0);

	/* the text holds the sections and values an operator looks for */
	long size = ftell(f);
	assert_true(size > 0);
	char *text = calloc(1, (size_t)size + 1);
	assert_non_null(text);
	rewind(f);
	assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
	assert_int_equal(fclose(f), 0);
	assert_contains(text, "[http]\n");
	assert_contains(text, "[database]\n");
	assert_contains(text, "[log]\n");
	assert_contains(text, "\nlisten = 127.0.0.1:8080\n");
	assert_contains(text, "\nconninfo = dbname=wijkradar\n");
	assert_contains(text, "\npool_size = 4\n");
	assert_contains(text, "\nlevel = info\n");
	assert_contains(text, ENV_DATABASE);
	free(text);

	int r = config_load(path, &loaded, &e);
	unlink(path);
	if (r != 0)
		print_error("%s\n", e.msg);
	assert_int_equal(r, 0);
	assert_int_equal(config_load(NULL, &defaults, &e), 0);
	assert_defaults(loaded);
	assert_config_equal(loaded, defaults);
	config_free(loaded);
	config_free(defaults);
}

/* config_load_buffer reads text as config_load reads a file: same result, same messages
 * (with the buffer's name), and the text need not end in a newline or a NUL. */
static void test_load_buffer(void **state)
{
	const char text[] = "[http]\nlisten = [::1]:9090\n[database]\npool_size = 7\n"
	                    "[log]\nlevel = debug";
	struct config *from_file = NULL, *from_buffer = NULL;
	struct err e;
	char path[32];
	err_clear(&e);
	assert_int_equal(load_text(text, path, &from_file, &e), 0);
	char *copy = malloc(sizeof(text) - 1); /* no NUL after the text */
	assert_non_null(copy);
	memcpy(copy, text, sizeof(text) - 1);
	assert_int_equal(config_load_buffer(copy, sizeof(text) - 1, "buf", &from_buffer, &e), 0);
	free(copy);
	assert_config_equal(from_file, from_buffer);
	assert_int_equal(from_buffer->db_pool_size, 7);
	assert_int_equal(config_validate(from_buffer, &e), 0);
	config_free(from_file);
	config_free(from_buffer);

	struct config *c = NULL;
	assert_int_equal(config_load_buffer("[http]\nnope = 1\n", 17, "buf", &c, &e), -EINVAL);
	assert_null(c);
	assert_contains(e.msg, "config file \"buf\", line 2: unrecognized configuration key "
	                       "\"http.nope\"");
	assert_int_equal(config_load_buffer("", 0, "empty", &c, &e), 0);
	assert_defaults(c);
	config_free(c);
}

/* config_validate checks ranges and checks on a config built by hand. */
static void test_validate(void **state)
{
	struct config *c = NULL;
	struct err e;
	err_clear(&e);
	assert_int_equal(config_load(NULL, &c, &e), 0);
	assert_int_equal(config_validate(c, &e), 0);
	c->db_pool_size = 0;
	assert_int_equal(config_validate(c, &e), -EINVAL);
	assert_contains(e.msg, "\"database.pool_size\": 0");
	c->db_pool_size = 4;
	c->db_reconnect_min_ms = c->db_reconnect_max_ms + 1;
	assert_int_equal(config_validate(c, &e), -EINVAL);
	assert_contains(e.msg, "reconnect_min_ms");
	config_free(c);
}

static void test_parse_listen_good(void **state)
{
	static const struct {
		const char *listen;
		const char *host;
		int port;
	} cases[] = {
	    {"127.0.0.1:8080", "127.0.0.1", 8080},
	    {"[::1]:8080", "::1", 8080},
	    {"127.0.0.1:0", "127.0.0.1", 0},
	    {"[::]:0", "::", 0},
	    {"0.0.0.0:65535", "0.0.0.0", 65535},
	    {"localhost:1", "localhost", 1},
	    {"[2001:db8::1]:443", "2001:db8::1", 443},
	    {"abc:80", "abc", 80}, /* exactly host_size - 1 bytes below */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char host[64];
		int port = -1;
		size_t size = i == sizeof(cases) / sizeof(cases[0]) - 1 ? 4 : sizeof(host);
		int r = config_parse_listen(cases[i].listen, host, size, &port);
		if (r != 0)
			print_error("\"%s\" rejected\n", cases[i].listen);
		assert_int_equal(r, 0);
		assert_string_equal(host, cases[i].host);
		assert_int_equal(port, cases[i].port);
	}
}

static void test_parse_listen_bad(void **state)
{
	static const char *const cases[] = {
	    "nonsense", "host:",  ":80",    "h:70000", "h:65536", "[::1]80", "[::1]",
	    "[::1:80",  "[]:80",  "::1:80", "h:-1",    "h:+80",   "h:80x",   "h: 80",
	    "h:123456", "h:0x50", "",       ":",       "abcd:80", /* 4 bytes of host do not fit in 4
	                                                             with the terminator */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char host[4] = "xyz";
		int port = -1;
		int r = config_parse_listen(cases[i], host, sizeof(host), &port);
		if (r != -EINVAL)
			print_error("\"%s\" gave %d\n", cases[i], r);
		assert_int_equal(r, -EINVAL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_free_null),
	    cmocka_unit_test(test_load_good),
	    cmocka_unit_test(test_load_partial),
	    cmocka_unit_test(test_load_bools),
	    cmocka_unit_test(test_load_bad_key),
	    cmocka_unit_test(test_load_syntax_error),
	    cmocka_unit_test(test_load_key_error_then_syntax_error),
	    cmocka_unit_test(test_load_syntax_error_then_key_error),
	    cmocka_unit_test(test_load_long_line),
	    cmocka_unit_test(test_load_reconnect_order),
	    cmocka_unit_test(test_load_missing_file),
	    cmocka_unit_test_teardown(test_env_override, unset_env),
	    cmocka_unit_test_teardown(test_env_override_invalid, unset_env),
	    cmocka_unit_test(test_merge_reload),
	    cmocka_unit_test(test_merge_reload_no_report),
	    cmocka_unit_test(test_print_defaults_round_trip),
	    cmocka_unit_test(test_listen_is_loopback),
	    cmocka_unit_test(test_plain_http_and_tls_rules),
	    cmocka_unit_test(test_load_buffer),
	    cmocka_unit_test(test_validate),
	    cmocka_unit_test(test_parse_listen_good),
	    cmocka_unit_test(test_parse_listen_bad),
	};
	return cmocka_run_group_tests(tests, unset_env, NULL);
}
