/* Daemon configuration: one struct, one table of keys (name, type, default, reloadable,
 * environment override, help). Parsing, defaults, validation and --print-default-config all
 * come from that table, so documentation and defaults cannot drift. */
#ifndef WR_CONFIG_H
#define WR_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "err.h"

/* All values; strings are owned by the struct (freed by config_free). */
struct config {
	char *http_listen;
	int http_max_body_bytes;
	int http_max_header_bytes;
	int http_timeout_s;
	int http_max_connections;
	char *http_tls_cert_file;
	char *http_tls_key_file;
	bool http_allow_plain;
	int auth_rate_per_s;
	int auth_rate_burst;
	char *db_conninfo;
	int db_pool_size;
	int db_queue_max;
	int db_connect_timeout_s;
	int db_reconnect_min_ms;
	int db_reconnect_max_ms;
	bool db_migrate_on_start;
	char *pseudonym_key_file;
	int ingest_max_signals;
	int ingest_max_inflight;
	int ingest_max_age_weeks;
	int ingest_timeout_s;
	bool retention_enabled;
	int retention_months;
	int retention_hour;
	bool detect_schedule;
	int detect_weekday;
	int detect_hour;
	int detect_b;
	int detect_w;
	int detect_no_periods;
	int detect_past_weeks;
	char *detect_alpha;
	int detect_min_persons;
	char *detect_min_ratio;
	int detect_consecutive;
	int detect_cooldown;
	bool detect_scan;
	char *detect_scan_alpha;
	int detect_scan_replications;
	int detect_scan_max_weeks;
	char *detect_scan_max_pop_share;
	bool delivery_enabled;
	int delivery_poll_interval_ms;
	int delivery_max_in_flight;
	int delivery_max_per_subscription;
	int delivery_timeout_s;
	int delivery_max_attempts;
	int delivery_backoff_base_ms;
	int delivery_backoff_max_s;
	char *delivery_public_base_url;
	bool delivery_allow_http;
	bool delivery_allow_private_networks;
	char *delivery_ca_file;
	char *smtp_url;
	char *smtp_from;
	char *smtp_username;
	char *smtp_password;
	char *smtp_starttls;
	int report_max_concurrent;
	int report_timeout_s;
	char *report_instrument;
	char *log_level;
	char *log_format;
	int shutdown_grace_s;
	int readiness_timeout_ms;
};

/* Loads a configuration: defaults, then the INI file at `path` (NULL: none), then the
 * environment overrides, then validates the whole. On success *out is a new config the caller
 * frees with config_free. On failure returns -EINVAL (or -ENOMEM) and fills `e` with a message
 * that names the file, line, key and reason. `path` is borrowed. */
int config_load(const char *path, struct config **out, struct err *e)
    __attribute__((warn_unused_result));

/* True when the host of a listen address (see config_parse_listen) is a loopback address
 * (127.0.0.0/8, ::1) or "localhost". */
bool config_listen_is_loopback(const char *listen);

/* As config_load, with the INI text in data[0..len) (borrowed; need not be NUL-terminated)
 * instead of a file; `name` (borrowed) names it in messages. config_load reads its file
 * through the same code. Used by the fuzz target tests/fuzz/fuzz_config.c. */
int config_load_buffer(const char *data, size_t len, const char *name, struct config **out,
                       struct err *e) __attribute__((warn_unused_result));

/* Checks a whole config: every string set and passing its key's check, every integer within
 * its key's range, and the cross-key rules. Returns 0, or -EINVAL with `e` filled. Every
 * config that config_load returns passes it (config_load ends with it). */
int config_validate(const struct config *c, struct err *e);

/* Frees `c` and everything it owns. config_free(NULL) does nothing. */
void config_free(struct config *c);

/* Called by config_merge_reload for each non-reloadable key whose value changed. */
typedef void config_changed_fn(const char *key, void *arg);

/* Prepares `fresh` (just loaded on SIGHUP) to replace `running`: every key that cannot change
 * without a restart keeps the running value, and `report` is called with its name when the file
 * asked for a different one. Returns 0, or -ENOMEM (fresh is then unusable and must be freed).
 * `running` is borrowed; `report` may be NULL. */
int config_merge_reload(const struct config *running, struct config *fresh,
                        config_changed_fn *report, void *arg) __attribute__((warn_unused_result));

/* Writes every key with its default and help text as an INI file (the example config). */
void config_print_defaults(FILE *out);

/* Splits "HOST:PORT" (IPv6 as "[addr]:PORT") into host and port. Returns 0, or -EINVAL when
 * the form is wrong, the host is empty or longer than host_size - 1, or the port is not
 * 0..65535. `listen` is borrowed. */
int config_parse_listen(const char *listen, char *host, size_t host_size, int *port);

#endif
