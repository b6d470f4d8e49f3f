/* Fuzz target for the configuration file parser: the input is a config file, loaded with
 * config_load_buffer (the code config_load runs on a file). A config that loads must pass
 * config_validate, its http.listen must split with config_parse_listen, loading the same text
 * twice must give the same config, and merging it into the defaults (a SIGHUP reload) must
 * leave nothing to report the second time. abort() on a broken invariant. Built against
 * libFuzzer with -Dfuzz_engine=libfuzzer; otherwise replay.c replays tests/fuzz/corpus/config. */
#include "config.h"
#include "log.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count_change(const char *key, void *arg)
{
	(void)key;
	(*(int *)arg)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c = NULL, *again = NULL, *defaults = NULL;
	struct err e;
	err_clear(&e);
	if (config_load_buffer((const char *)data, size, "fuzz.conf", &c, &e) != 0) {
		if (!err_is_set(&e) || memchr(e.msg, '\0', sizeof(e.msg)) == NULL)
			abort(); /* a failure always says why */
		return 0;
	}
	err_clear(&e);
	if (config_validate(c, &e) != 0)
		abort(); /* loaded means valid */
	char host[256];
	int port = -1;
	if (config_parse_listen(c->http_listen, host, sizeof(host), &port) != 0 || port < 0 ||
	    port > 65535 || host[0] == '\0')
		abort();
	enum log_level level;
	if (log_level_parse(c->log_level, &level) != 0)
		abort();
	/* Loading is deterministic: the same text reloaded changes no key. */
	int changes = 0;
	if (config_load_buffer((const char *)data, size, "fuzz.conf", &again, &e) != 0 ||
	    config_merge_reload(c, again, count_change, &changes) != 0 || changes != 0)
		abort();
	/* A reload onto the defaults keeps the running restart-only keys; after it, nothing is
	 * left to report and the result is still valid. */
	if (config_load_buffer("", 0, "empty", &defaults, &e) == 0 &&
	    config_merge_reload(c, defaults, NULL, NULL) == 0) {
		changes = 0;
		if (config_merge_reload(c, defaults, count_change, &changes) != 0 || changes != 0 ||
		    config_validate(defaults, &e) != 0)
			abort();
	}
	config_free(defaults);
	config_free(again);
	config_free(c);
	return 0;
}
