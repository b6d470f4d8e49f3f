/* Token buckets in an open-addressing hash table keyed by token id (see ratelimit.h). */
#include "ratelimit.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

struct bucket {
	long long key;
	double tokens; /* requests left at `at` */
	double at;     /* time of the last update */
	bool used;
};

struct ratelimit {
	struct bucket *slots;
	size_t size; /* a power of two */
	size_t n;
};

struct ratelimit *ratelimit_new(void)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));
	if (rl == NULL)
		return NULL;
	rl->size = 64;
	rl->slots = calloc(rl->size, sizeof(*rl->slots));
	if (rl->slots == NULL) {
		free(rl);
		return NULL;
	}
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	free(rl->slots);
	free(rl);
}

static size_t slot_of(long long key, size_t size)
{
	/* Token ids are sequential: mix them so neighbours do not cluster. */
	uint64_t x = (uint64_t)key * 0x9E3779B97F4A7C15ull;
	return (size_t)(x >> 32) & (size - 1);
}

static struct bucket *find(struct bucket *slots, size_t size, long long key)
{
	size_t i = slot_of(key, size);
	while (slots[i].used && slots[i].key != key)
		i = (i + 1) & (size - 1);
	return &slots[i];
}

/* Rebuilds the table without the buckets that are full again at `now` (forgetting them
 * changes nothing), doubling it when it would still be more than half full. */
static int rebuild(struct ratelimit *rl, double rate, double burst, double now)
{
	size_t keep = 0;
	for (size_t i = 0; i < rl->size; i++) {
		const struct bucket *b = &rl->slots[i];
		if (b->used && b->tokens + (now - b->at) * rate < burst)
			keep++;
	}
	size_t size = rl->size;
	while (keep + 1 > size / 2)
		size *= 2;
	struct bucket *slots = calloc(size, sizeof(*slots));
	if (slots == NULL)
		return -1;
	for (size_t i = 0; i < rl->size; i++) {
		const struct bucket *b = &rl->slots[i];
		if (b->used && b->tokens + (now - b->at) * rate < burst)
			*find(slots, size, b->key) = *b;
	}
	free(rl->slots);
	rl->slots = slots;
	rl->size = size;
	rl->n = keep;
	return 0;
}

double ratelimit_take(struct ratelimit *rl, long long key, double rate, double burst, double now)
{
	struct bucket *b = find(rl->slots, rl->size, key);
	if (!b->used) {
		if (rl->n + 1 > rl->size / 2) {
			if (rebuild(rl, rate, burst, now) < 0)
				return 0;
			b = find(rl->slots, rl->size, key);
		}
		*b = (struct bucket){.key = key, .tokens = burst, .at = now, .used = true};
		rl->n++;
	}
	double tokens = b->tokens + (now - b->at) * rate;
	if (tokens > burst)
		tokens = burst;
	b->at = now;
	if (tokens >= 1) {
		b->tokens = tokens - 1;
		return 0;
	}
	b->tokens = tokens;
	return rate > 0 ? (1 - tokens) / rate : 1;
}
