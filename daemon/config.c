/* Configuration table, INI loading (libinih), validation and reload merging (see config.h).
 * Does not apply anything: the modules read the struct they are handed. */
#include "config.h"

#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

enum config_type {
	CONFIG_STRING,
	CONFIG_INT,
	CONFIG_BOOL,
};

/* Extra check for a string value; returns 0 or fills e (without file/line context). */
typedef int config_check_fn(const char *value, struct err *e);

struct config_key {
	const char *section;
	const char *name;
	enum config_type type;
	size_t offset;
	const char *def;
	bool reloadable;
	const char *env; /* environment variable that overrides the file, or NULL */
	long min, max;   /* for CONFIG_INT */
	config_check_fn *check;
	const char *help;
};

static int check_listen(const char *value, struct err *e);
static int check_log_level(const char *value, struct err *e);
static int check_nonempty(const char *value, struct err *e);
static int check_probability(const char *value, struct err *e);
static int check_ratio(const char *value, struct err *e);
static int check_base_url(const char *value, struct err *e);
static int check_smtp_url(const char *value, struct err *e);
static int check_address(const char *value, struct err *e);
static int check_starttls(const char *value, struct err *e);
static int check_log_format(const char *value, struct err *e);

#define OFF(field) offsetof(struct config, field)

static const struct config_key keys[] = {
    {"http", "listen", CONFIG_STRING, OFF(http_listen), "127.0.0.1:8080", false, NULL, 0, 0,
     check_listen,
     "address and TCP port of the HTTP API, HOST:PORT ([ADDR]:PORT for IPv6); "
     "port 0 picks a free port (reported in the log and --port-file)"},
    {"http", "max_body_bytes", CONFIG_INT, OFF(http_max_body_bytes), "8388608", true, NULL, 1024,
     1073741824, NULL, "largest request body accepted; larger requests get 413"},
    {"http", "max_header_bytes", CONFIG_INT, OFF(http_max_header_bytes), "16384", true, NULL, 1024,
     1048576, NULL, "largest total size of request headers"},
    {"http", "timeout_s", CONFIG_INT, OFF(http_timeout_s), "30", true, NULL, 1, 3600, NULL,
     "seconds a connection may stay idle, and the most time a client has to send one whole "
     "request (headers and body, counted from the connection or the previous reply), before it "
     "is closed"},
    {"http", "max_connections", CONFIG_INT, OFF(http_max_connections), "1024", true, NULL, 1,
     1000000, NULL,
     "most client connections open at once; at the limit new connections wait in the "
     "kernel's backlog until others close (keep it below the process's open-file limit)"},
    {"http", "tls_cert_file", CONFIG_STRING, OFF(http_tls_cert_file), "", true, NULL, 0, 0, NULL,
     "PEM certificate chain (leaf first) for HTTPS; with tls_key_file it turns TLS on; both "
     "files are read again on SIGHUP (a failed read keeps the old certificate)"},
    {"http", "tls_key_file", CONFIG_STRING, OFF(http_tls_key_file), "", true, NULL, 0, 0, NULL,
     "PEM private key of that certificate"},
    {"http", "allow_plain_http", CONFIG_BOOL, OFF(http_allow_plain), "false", true, NULL, 0, 0,
     NULL,
     "serve plain HTTP on an address other than loopback (only behind a TLS-terminating proxy "
     "on a trusted network); off, such a listen address without TLS is refused"},
    {"auth", "rate_limit_per_s", CONFIG_INT, OFF(auth_rate_per_s), "50", true, NULL, 0, 1000000,
     NULL,
     "requests per second one API token may make to this daemon on average (0: no limit); "
     "over it the API answers 429 with Retry-After; each replica counts on its own"},
    {"auth", "rate_limit_burst", CONFIG_INT, OFF(auth_rate_burst), "200", true, NULL, 1, 1000000,
     NULL, "requests one token may make at once after a quiet spell (the bucket's size)"},
    {"database", "conninfo", CONFIG_STRING, OFF(db_conninfo), "dbname=wijkradar", false,
     "WIJKRADAR_DATABASE", 0, 0, check_nonempty,
     "libpq connection string or URI; the environment variable WIJKRADAR_DATABASE overrides "
     "it, and libpq's PG* variables and ~/.pgpass apply (keep passwords out of this file)"},
    {"database", "pool_size", CONFIG_INT, OFF(db_pool_size), "4", false, NULL, 1, 64, NULL,
     "number of PostgreSQL connections the daemon keeps open"},
    {"database", "queue_max", CONFIG_INT, OFF(db_queue_max), "1024", true, NULL, 1, 1000000, NULL,
     "most database requests that may wait for a free connection; beyond it the API "
     "answers 503 with Retry-After"},
    {"database", "connect_timeout_s", CONFIG_INT, OFF(db_connect_timeout_s), "10", true, NULL, 1,
     600, NULL, "seconds one connection attempt may take"},
    {"database", "reconnect_min_ms", CONFIG_INT, OFF(db_reconnect_min_ms), "100", true, NULL, 10,
     600000, NULL,
     "first delay before reconnecting after a lost connection; doubles per "
     "failed attempt"},
    {"database", "reconnect_max_ms", CONFIG_INT, OFF(db_reconnect_max_ms), "5000", true, NULL, 10,
     3600000, NULL, "longest delay between reconnection attempts"},
    {"database", "migrate_on_start", CONFIG_BOOL, OFF(db_migrate_on_start), "true", false, NULL, 0,
     0, NULL, "apply pending schema migrations when `serve` starts"},
    {"privacy", "pseudonym_key_file", CONFIG_STRING, OFF(pseudonym_key_file), "", false, NULL, 0, 0,
     NULL,
     "file holding the server's secret for re-keying pseudonyms (at least 32 bytes, e.g. "
     "`openssl rand -hex 32`); keep it outside the database and its backups; the "
     "environment variable WIJKRADAR_PSEUDONYM_KEY (the key itself) takes precedence"},
    {"ingest", "max_signals_per_batch", CONFIG_INT, OFF(ingest_max_signals), "10000", true, NULL, 1,
     1000000, NULL, "most signals in one upload batch; larger batches get 413"},
    {"ingest", "max_inflight_batches", CONFIG_INT, OFF(ingest_max_inflight), "64", true, NULL, 1,
     100000, NULL,
     "most upload batches being stored at once; beyond it uploads get 503 with Retry-After"},
    {"ingest", "timeout_s", CONFIG_INT, OFF(ingest_timeout_s), "30", true, NULL, 1, 3600, NULL,
     "an upload the database has not stored within this many seconds gets 503 (it was not "
     "acknowledged; re-sending is harmless)"},
    {"ingest", "max_age_weeks", CONFIG_INT, OFF(ingest_max_age_weeks), "520", true, NULL, 1, 5200,
     NULL, "signals for weeks older than this many weeks are rejected"},
    {"retention", "enabled", CONFIG_BOOL, OFF(retention_enabled), "true", true, NULL, 0, 0, NULL,
     "remove raw signals past the retention period once a day (one replica does it)"},
    {"retention", "months", CONFIG_INT, OFF(retention_months), "24", true, NULL, 1, 1200, NULL,
     "months raw signals are kept after their trajectory closes (signals without a trajectory "
     "or without trajectory events: after their week); weekly counts and alerts are kept"},
    {"retention", "hour", CONFIG_INT, OFF(retention_hour), "3", true, NULL, 0, 23, NULL,
     "hour (UTC) of the day from which the retention run starts"},
    {"detect", "schedule", CONFIG_BOOL, OFF(detect_schedule), "true", true, NULL, 0, 0, NULL,
     "run the weekly analysis inside the daemon (one replica runs it; the others skip)"},
    {"detect", "weekday", CONFIG_INT, OFF(detect_weekday), "1", true, NULL, 1, 7, NULL,
     "ISO weekday (1 = Monday) on which the previous week is analysed"},
    {"detect", "hour", CONFIG_INT, OFF(detect_hour), "6", true, NULL, 0, 23, NULL,
     "hour (UTC) of that day from which the analysis runs"},
    {"detect", "years_back", CONFIG_INT, OFF(detect_b), "4", true, NULL, 1, 10, NULL,
     "Farrington: years of history in the baseline (b); five years of data allow 4"},
    {"detect", "half_window", CONFIG_INT, OFF(detect_w), "3", true, NULL, 0, 10, NULL,
     "Farrington: weeks either side of the same week in earlier years (w)"},
    {"detect", "periods", CONFIG_INT, OFF(detect_no_periods), "10", true, NULL, 1, 20, NULL,
     "Farrington: seasonal periods per year (noPeriods; Noufaily 2013: 10)"},
    {"detect", "past_weeks_excluded", CONFIG_INT, OFF(detect_past_weeks), "26", true, NULL, 0, 52,
     NULL, "Farrington: recent weeks left out of the baseline"},
    {"detect", "alpha", CONFIG_STRING, OFF(detect_alpha), "0.01", true, NULL, 0, 0,
     check_probability, "one-sided level of the upper bound"},
    {"detect", "min_persons", CONFIG_INT, OFF(detect_min_persons), "8", true, NULL, 1, 100000, NULL,
     "an alert needs at least this many distinct persons in a week"},
    {"detect", "min_ratio", CONFIG_STRING, OFF(detect_min_ratio), "1.5", true, NULL, 0, 0,
     check_ratio, "an alert needs observed >= this times expected"},
    {"detect", "consecutive_weeks", CONFIG_INT, OFF(detect_consecutive), "2", true, NULL, 1, 8,
     NULL, "an alert needs this many weekly exceedances in a row"},
    {"detect", "cooldown_weeks", CONFIG_INT, OFF(detect_cooldown), "8", true, NULL, 0, 520, NULL,
     "after an alert is closed, no new one for the same area and theme for this long"},
    {"detect", "scan", CONFIG_BOOL, OFF(detect_scan), "true", true, NULL, 0, 0, NULL,
     "also run the space-time scan per organisation and theme, for clusters spanning adjacent "
     "areas (needs centroids or neighbour lists in the area registry)"},
    {"detect", "scan_alpha", CONFIG_STRING, OFF(detect_scan_alpha), "0.001", true, NULL, 0, 0,
     check_probability,
     "a scan cluster alerts when its Monte Carlo p-value is at most this; every (organisation, "
     "theme) map is a test each week, so keep it small (0.001: the cluster beat all 999 "
     "replications)"},
    {"detect", "scan_replications", CONFIG_INT, OFF(detect_scan_replications), "999", true, NULL,
     19, 99999, NULL, "Monte Carlo replications of the scan"},
    {"detect", "scan_max_weeks", CONFIG_INT, OFF(detect_scan_max_weeks), "4", true, NULL, 1, 26,
     NULL, "longest scan window in weeks (always ending at the analysed week)"},
    {"detect", "scan_max_pop_share", CONFIG_STRING, OFF(detect_scan_max_pop_share), "0.25", true,
     NULL, 0, 0, check_probability,
     "largest scan window, as a share of the organisation's population"},
    {"delivery", "enabled", CONFIG_BOOL, OFF(delivery_enabled), "true", true, NULL, 0, 0, NULL,
     "send alert deliveries (webhooks, e-mail) from this daemon; replicas share the outbox"},
    {"delivery", "poll_interval_ms", CONFIG_INT, OFF(delivery_poll_interval_ms), "1000", true, NULL,
     10, 60000, NULL, "how often the outbox is checked for deliveries that are due"},
    {"delivery", "max_in_flight", CONFIG_INT, OFF(delivery_max_in_flight), "16", true, NULL, 1,
     1000, NULL, "deliveries this daemon sends at once"},
    {"delivery", "max_in_flight_per_subscription", CONFIG_INT, OFF(delivery_max_per_subscription),
     "2", true, NULL, 1, 1000, NULL,
     "deliveries in flight at once for one subscription (over all replicas), so a slow "
     "receiver holds only a few slots"},
    {"delivery", "timeout_s", CONFIG_INT, OFF(delivery_timeout_s), "10", true, NULL, 1, 300, NULL,
     "longest time one attempt may take (connect, TLS, request and answer)"},
    {"delivery", "max_attempts", CONFIG_INT, OFF(delivery_max_attempts), "20", true, NULL, 1, 1000,
     NULL, "attempts before a delivery is dead (listed for an admin to retry)"},
    {"delivery", "backoff_base_ms", CONFIG_INT, OFF(delivery_backoff_base_ms), "10000", true, NULL,
     1, 3600000, NULL, "delay before the first retry; it doubles with every failed attempt"},
    {"delivery", "backoff_max_s", CONFIG_INT, OFF(delivery_backoff_max_s), "3600", true, NULL, 1,
     86400, NULL, "longest delay between two attempts (a longer Retry-After still wins)"},
    {"delivery", "public_base_url", CONFIG_STRING, OFF(delivery_public_base_url), "", true, NULL, 0,
     0, check_base_url,
     "URL at which people reach this API, for the alert link in webhooks and e-mail, e.g. "
     "https://wijkradar.example.nl; empty: the link is a bare path"},
    {"delivery", "allow_http", CONFIG_BOOL, OFF(delivery_allow_http), "false", true, NULL, 0, 0,
     NULL, "accept webhook URLs with plain http:// (only for receivers on a trusted network)"},
    {"delivery", "allow_private_networks", CONFIG_BOOL, OFF(delivery_allow_private_networks),
     "false", true, NULL, 0, 0, NULL,
     "let webhooks go to loopback, private and link-local addresses (receivers inside the "
     "operator's own network); off, such deliveries are dead at once"},
    {"delivery", "ca_file", CONFIG_STRING, OFF(delivery_ca_file), "", true, NULL, 0, 0, NULL,
     "PEM file of CA certificates to verify webhook receivers and the SMTP server with; empty: "
     "the system's store"},
    {"smtp", "url", CONFIG_STRING, OFF(smtp_url), "", true, NULL, 0, 0, check_smtp_url,
     "SMTP server for e-mail alerts, smtp://HOST:PORT or smtps://HOST:PORT; empty: no e-mail"},
    {"smtp", "from", CONFIG_STRING, OFF(smtp_from), "wijkradar@localhost", true, NULL, 0, 0,
     check_address, "sender address of alert e-mails"},
    {"smtp", "username", CONFIG_STRING, OFF(smtp_username), "", true, NULL, 0, 0, NULL,
     "user name for SMTP authentication; empty: none"},
    {"smtp", "password", CONFIG_STRING, OFF(smtp_password), "", true, "WIJKRADAR_SMTP_PASSWORD", 0,
     0, NULL,
     "password for SMTP authentication; the environment variable WIJKRADAR_SMTP_PASSWORD "
     "overrides it (keep it out of this file)"},
    {"smtp", "starttls", CONFIG_STRING, OFF(smtp_starttls), "try", true, NULL, 0, 0, check_starttls,
     "try: upgrade with STARTTLS when the server offers it; require: never send without TLS; "
     "off: never upgrade"},
    {"report", "max_concurrent", CONFIG_INT, OFF(report_max_concurrent), "2", true, NULL, 1, 64,
     NULL, "benchmark and effect reports made at once for the API; more get 503"},
    {"report", "timeout_s", CONFIG_INT, OFF(report_timeout_s), "120", true, NULL, 1, 3600, NULL,
     "longest time one report query may take"},
    {"report", "instrument", CONFIG_STRING, OFF(report_instrument), "ZRM", true, NULL, 0, 0,
     check_nonempty, "outcome instrument of the benchmark and effect reports (table instrument)"},
    {"log", "level", CONFIG_STRING, OFF(log_level), "info", true, NULL, 0, 0, check_log_level,
     "error, warn, info or debug"},
    {"log", "format", CONFIG_STRING, OFF(log_format), "plain", true, NULL, 0, 0, check_log_format,
     "plain: \"level: module: message\" lines; json: one JSON object per line with time, level, "
     "module, msg and request_id"},
    {"daemon", "shutdown_grace_s", CONFIG_INT, OFF(shutdown_grace_s), "10", true, NULL, 0, 3600,
     NULL, "on SIGTERM, seconds to let in-flight requests finish before exiting"},
    {"daemon", "readiness_timeout_ms", CONFIG_INT, OFF(readiness_timeout_ms), "2000", true, NULL,
     10, 60000, NULL, "how long /readyz waits for the database before answering 503"},
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static int check_listen(const char *value, struct err *e)
{
	char host[256];
	int port;
	if (config_parse_listen(value, host, sizeof(host), &port) < 0)
		return err_set(e, 0, "invalid_config", "expected HOST:PORT with a port 0..65535");
	return 0;
}

static int check_log_level(const char *value, struct err *e)
{
	enum log_level level;
	if (log_level_parse(value, &level) < 0)
		return err_set(e, 0, "invalid_config", "expected error, warn, info or debug");
	return 0;
}

static int check_nonempty(const char *value, struct err *e)
{
	if (value[0] == '\0')
		return err_set(e, 0, "invalid_config", "must not be empty");
	return 0;
}

/* A number in (lo, hi); fills e otherwise. */
static int check_number(const char *value, double lo, double hi, struct err *e)
{
	char *end;
	double v = strtod(value, &end);
	if (end == value || *end != '\0' || !(v > lo && v < hi))
		return err_set(e, 0, "invalid_config", "expected a number between %g and %g", lo,
		               hi);
	return 0;
}

static int check_probability(const char *value, struct err *e)
{
	return check_number(value, 0, 1, e);
}

static int check_ratio(const char *value, struct err *e)
{
	return check_number(value, 0, 1000, e);
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int check_base_url(const char *value, struct err *e)
{
	size_t n = strlen(value);
	if (n > 0 && ((!has_prefix(value, "https://") && !has_prefix(value, "http://")) ||
	              value[n - 1] == '/' || strpbrk(value, " \t\"<>") != NULL))
		return err_set(e, 0, "invalid_config",
		               "expected empty or an http(s):// URL without a trailing slash");
	return 0;
}

static int check_smtp_url(const char *value, struct err *e)
{
	if (value[0] != '\0' && !has_prefix(value, "smtp://") && !has_prefix(value, "smtps://"))
		return err_set(e, 0, "invalid_config",
		               "expected empty, smtp://HOST:PORT or smtps://HOST:PORT");
	return 0;
}

static int check_address(const char *value, struct err *e)
{
	const char *at = strchr(value, '@');
	if (at == NULL || at == value || at[1] == '\0' || strchr(at + 1, '@') != NULL ||
	    strpbrk(value, " \t\r\n<>\"") != NULL)
		return err_set(e, 0, "invalid_config", "expected an e-mail address, name@domain");
	return 0;
}

static int check_log_format(const char *value, struct err *e)
{
	if (strcmp(value, "plain") != 0 && strcmp(value, "json") != 0)
		return err_set(e, 0, "invalid_config", "expected plain or json");
	return 0;
}

static int check_starttls(const char *value, struct err *e)
{
	if (strcmp(value, "try") != 0 && strcmp(value, "require") != 0 && strcmp(value, "off") != 0)
		return err_set(e, 0, "invalid_config", "expected try, require or off");
	return 0;
}

int config_parse_listen(const char *listen, char *host, size_t host_size, int *port)
{
	const char *colon;
	const char *h = listen;
	size_t hlen;
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (close == NULL || close[1] != ':')
			return -EINVAL;
		h = listen + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(listen, ':');
		if (colon == NULL || memchr(listen, ':', (size_t)(colon - listen)) != NULL)
			return -EINVAL;
		hlen = (size_t)(colon - listen);
	}
	if (hlen == 0 || hlen >= host_size)
		return -EINVAL;
	const char *p = colon + 1;
	if (*p == '\0' || strlen(p) > 5 || strspn(p, "0123456789") != strlen(p))
		return -EINVAL;
	long v = strtol(p, NULL, 10);
	if (v > 65535)
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (int)v;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* Sets one key from text; fills e with "invalid value for ..." on failure. */
static int set_value(struct config *c, const struct config_key *k, const char *value, struct err *e)
{
	char *base = (char *)c + k->offset;
	switch (k->type) {
	case CONFIG_STRING: {
		if (k->check != NULL && k->check(value, e) < 0)
			goto invalid;
		char *copy = strdup(value);
		if (copy == NULL)
			return -ENOMEM;
		char **slot = (char **)(void *)base;
		free(*slot);
		*slot = copy;
		return 0;
	}
	case CONFIG_INT: {
		char *end;
		errno = 0;
		long v = strtol(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0' || v < k->min || v > k->max) {
			err_set(e, 0, "invalid_config", "expected an integer from %ld to %ld",
			        k->min, k->max);
			goto invalid;
		}
		*(int *)(void *)base = (int)v;
		return 0;
	}
	case CONFIG_BOOL:
		if (parse_bool(value, (bool *)(void *)base) < 0) {
			err_set(e, 0, "invalid_config", "expected true or false");
			goto invalid;
		}
		return 0;
	}
	return -EINVAL;
invalid : {
	char reason[sizeof(e->msg)];
	memcpy(reason, e->msg, sizeof(reason));
	return err_set(e, 0, "invalid_config", "invalid value for \"%s.%s\": \"%.100s\": %s",
	               k->section, k->name, value, reason);
}
}

static const struct config_key *find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	}
	return NULL;
}

struct ini_state {
	struct config *c;
	struct err *e;
	int status; /* first failure */
	FILE *f;
	int line;          /* line being parsed, counted by read_line */
	int error_line;    /* line of the failure in `status` */
	char section[64];  /* section of the line being read */
	int long_line;     /* first line longer than inih's buffer, 0 when none */
	char long_key[64]; /* its key */
	char long_section[64];
};

/* inih's line reader: fgets, counting lines so that errors can name theirs, and catching lines
 * longer than inih's fixed buffer, which inih would otherwise split into two. */
static char *read_line(char *str, int num, void *stream)
{
	struct ini_state *st = stream;
	char *s = fgets(str, num, st->f);
	if (s == NULL)
		return NULL;
	st->line++;
	const char *p = s + strspn(s, " \t");
	if (*p == '[') {
		size_t n = strcspn(p + 1, "]");
		snprintf(st->section, sizeof(st->section), "%.*s", (int)n, p + 1);
	}
	if (strchr(s, '\n') == NULL && (int)strlen(s) == num - 1) {
		int ch = fgetc(st->f);
		if (ch != EOF && ch != '\n') {
			/* Too long: remember it, and skip the rest of the physical line. */
			if (st->long_line == 0) {
				st->long_line = st->line;
				size_t n = strcspn(p, " \t=:");
				snprintf(st->long_key, sizeof(st->long_key), "%.*s", (int)n, p);
				snprintf(st->long_section, sizeof(st->long_section), "%s",
				         st->section);
			}
			while (ch != EOF && ch != '\n')
				ch = fgetc(st->f);
		}
	}
	return s;
}

static int on_ini_value(void *user, const char *section, const char *name, const char *value)
{
	struct ini_state *st = user;
	struct err e;
	if (st->status != 0)
		return 1; /* report only the first problem */
	const struct config_key *k = find_key(section, name);
	if (k == NULL) {
		err_set(st->e, 0, "invalid_config", "unrecognized configuration key \"%s.%s\"",
		        section, name);
		st->status = -EINVAL;
		st->error_line = st->line;
		return 0;
	}
	err_clear(&e);
	int r = set_value(st->c, k, value, &e);
	if (r < 0) {
		*st->e = e;
		st->status = r;
		st->error_line = st->line;
		return 0;
	}
	return 1;
}

void config_free(struct config *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < N_KEYS; i++) {
		if (keys[i].type == CONFIG_STRING)
			free(*(char **)(void *)((char *)c + keys[i].offset));
	}
	free(c);
}

bool config_listen_is_loopback(const char *listen)
{
	char host[256];
	int port;
	unsigned char addr[sizeof(struct in6_addr)];
	if (config_parse_listen(listen, host, sizeof(host), &port) < 0)
		return false;
	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, addr) == 1)
		return addr[0] == 127;
	if (inet_pton(AF_INET6, host, addr) == 1)
		return IN6_IS_ADDR_LOOPBACK((struct in6_addr *)(void *)addr);
	return false;
}

/* Cross-key checks that no single key can make. */
static int validate_cross(const struct config *c, struct err *e)
{
	if (c->db_reconnect_min_ms > c->db_reconnect_max_ms)
		return err_set(e, 0, "invalid_config",
		               "invalid value for \"database.reconnect_min_ms\": %d: must not "
		               "exceed \"database.reconnect_max_ms\" (%d)",
		               c->db_reconnect_min_ms, c->db_reconnect_max_ms);
	bool cert = c->http_tls_cert_file[0] != '\0', key = c->http_tls_key_file[0] != '\0';
	if (cert != key)
		return err_set(e, 0, "invalid_config",
		               "\"http.tls_cert_file\" and \"http.tls_key_file\" go together: set "
		               "both for HTTPS, or neither");
	if (!cert && !c->http_allow_plain && !config_listen_is_loopback(c->http_listen)) {
		err_set(e, 0, "invalid_config",
		        "plain HTTP on \"%s\", which is not a loopback address: tokens and data "
		        "would cross the network unencrypted",
		        c->http_listen);
		err_detail(e,
		           "Set \"http.tls_cert_file\" and \"http.tls_key_file\", or, behind a "
		           "TLS-terminating proxy on a trusted network, \"http.allow_plain_http = "
		           "true\".");
		return -EINVAL;
	}
	return 0;
}

int config_validate(const struct config *c, struct err *e)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct config_key *k = &keys[i];
		const char *base = (const char *)c + k->offset;
		if (k->type == CONFIG_STRING) {
			const char *v = *(char *const *)(const void *)base;
			if (v == NULL)
				return err_set(e, 0, "invalid_config", "\"%s.%s\" is not set",
				               k->section, k->name);
			if (k->check != NULL && k->check(v, e) < 0) {
				char reason[sizeof(e->msg)];
				memcpy(reason, e->msg, sizeof(reason));
				return err_set(e, 0, "invalid_config",
				               "invalid value for \"%s.%s\": \"%.100s\": %s",
				               k->section, k->name, v, reason);
			}
		} else if (k->type == CONFIG_INT) {
			int v = *(const int *)(const void *)base;
			if (v < k->min || v > k->max)
				return err_set(
				    e, 0, "invalid_config",
				    "invalid value for \"%s.%s\": %d: expected an integer "
				    "from %ld to %ld",
				    k->section, k->name, v, k->min, k->max);
		}
	}
	return validate_cross(c, e);
}

/* Reads the INI text of `f` into `c`. `name` names the file in messages. */
static int load_stream(struct config *c, FILE *f, const char *name, struct err *e)
{
	struct ini_state st = {.c = c, .e = e, .f = f};
	int line = ini_parse_stream(read_line, &st, on_ini_value, &st);
	if (st.long_line != 0 && (line == 0 || line >= st.long_line)) {
		int r = err_set(e, 0, "invalid_config",
		                "config file \"%s\", line %d: value of \"%s.%s\" is too long "
		                "(lines hold at most %d bytes)",
		                name, st.long_line, st.long_section, st.long_key, INI_MAX_LINE - 2);
		err_detail(e, "Give a long database connection string in the environment "
		              "variable WIJKRADAR_DATABASE.");
		return r;
	}
	if (line == -2)
		return -ENOMEM;
	if (line > 0) {
		char msg[sizeof(e->msg)];
		/* inih reports the first bad line; ours may be a later one. */
		if (st.status == 0 || st.error_line != line)
			err_set(e, 0, "invalid_config", "syntax error");
		memcpy(msg, e->msg, sizeof(msg));
		return err_set(e, 0, "invalid_config", "config file \"%s\", line %d: %s", name,
		               line, msg);
	}
	return 0;
}

/* Defaults, then the INI text of `f` (NULL: none), then the environment, then validation. */
static int load(FILE *f, const char *name, struct config **out, struct err *e)
{
	int r = 0;
	struct config *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < N_KEYS && r == 0; i++) {
		r = set_value(c, &keys[i], keys[i].def, e);
	}
	if (r == 0 && f != NULL)
		r = load_stream(c, f, name, e);
	for (size_t i = 0; i < N_KEYS && r == 0; i++) {
		const char *v = keys[i].env != NULL ? getenv(keys[i].env) : NULL;
		if (v == NULL)
			continue;
		r = set_value(c, &keys[i], v, e);
		if (r < 0) {
			char msg[sizeof(e->msg)];
			memcpy(msg, e->msg, sizeof(msg));
			err_set(e, 0, "invalid_config", "environment variable %s: %s", keys[i].env,
			        msg);
		}
	}
	if (r == 0)
		r = config_validate(c, e);
	if (r < 0) {
		config_free(c);
		return r;
	}
	*out = c;
	return 0;
}

int config_load(const char *path, struct config **out, struct err *e)
{
	if (path == NULL)
		return load(NULL, NULL, out, e);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return err_set(e, 0, "invalid_config", "could not open config file \"%s\": %s",
		               path, strerror(errno));
	int r = load(f, path, out, e);
	fclose(f);
	return r;
}

int config_load_buffer(const char *data, size_t len, const char *name, struct config **out,
                       struct err *e)
{
	if (len == 0)
		return load(NULL, name, out, e);
	FILE *f = fmemopen((void *)data, len, "r");
	if (f == NULL)
		return errno == ENOMEM
		           ? -ENOMEM
		           : err_set(e, 0, "invalid_config", "could not read \"%s\": %s", name,
		                     strerror(errno));
	int r = load(f, name, out, e);
	fclose(f);
	return r;
}

static bool same_value(const struct config *a, const struct config *b, const struct config_key *k)
{
	const char *pa = (const char *)a + k->offset;
	const char *pb = (const char *)b + k->offset;
	switch (k->type) {
	case CONFIG_STRING:
		return strcmp(*(char *const *)(const void *)pa, *(char *const *)(const void *)pb) ==
		       0;
	case CONFIG_INT:
		return *(const int *)(const void *)pa == *(const int *)(const void *)pb;
	case CONFIG_BOOL:
		return *(const bool *)(const void *)pa == *(const bool *)(const void *)pb;
	}
	return false;
}

int config_merge_reload(const struct config *running, struct config *fresh,
                        config_changed_fn *report, void *arg)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct config_key *k = &keys[i];
		if (k->reloadable || same_value(running, fresh, k))
			continue;
		if (report != NULL) {
			char name[96];
			snprintf(name, sizeof(name), "%s.%s", k->section, k->name);
			report(name, arg);
		}
		const char *src = (const char *)running + k->offset;
		char *dst = (char *)fresh + k->offset;
		if (k->type == CONFIG_STRING) {
			char *copy = strdup(*(char *const *)(const void *)src);
			if (copy == NULL)
				return -ENOMEM;
			free(*(char **)(void *)dst);
			*(char **)(void *)dst = copy;
		} else if (k->type == CONFIG_INT) {
			*(int *)(void *)dst = *(const int *)(const void *)src;
		} else {
			*(bool *)(void *)dst = *(const bool *)(const void *)src;
		}
	}
	return 0;
}

/* Writes `text` as "# " comment lines of at most 80 columns, breaking at spaces. */
static void print_comment(FILE *out, const char *text)
{
	const char *p = text;
	while (*p != '\0') {
		size_t n = strlen(p);
		if (n > 78) {
			n = 78;
			while (n > 0 && p[n] != ' ')
				n--;
			if (n == 0)
				n = strcspn(p, " ");
		}
		fprintf(out, "# %.*s\n", (int)n, p);
		p += n;
		while (*p == ' ')
			p++;
	}
}

void config_print_defaults(FILE *out)
{
	const char *section = "";
	fputs("# wijkradar configuration: every key with its default.\n"
	      "# Generated by `wijkradar --print-default-config`; keys marked (restart) take\n"
	      "# effect only after a restart, all others on SIGHUP.\n",
	      out);
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct config_key *k = &keys[i];
		if (strcmp(section, k->section) != 0) {
			section = k->section;
			fprintf(out, "\n[%s]\n", section);
		}
		char help[512];
		snprintf(help, sizeof(help), "%s%s", k->help, k->reloadable ? "" : " (restart)");
		print_comment(out, help);
		if (k->env != NULL)
			fprintf(out, "# environment override: %s\n", k->env);
		fprintf(out, "%s = %s\n", k->name, k->def);
	}
}
