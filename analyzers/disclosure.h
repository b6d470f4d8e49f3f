/* Statistical disclosure control for published figures (BRIEF.md section 5), applied before a
 * figure leaves the daemon: counts 0-7 are secret, other counts are rounded to a multiple of 5 by
 * unbiased random rounding seeded per publication and cell (so the same report shows the same
 * figures on every request), rates and percentages come from rounded counts with minimum
 * denominators, means and effect sizes need n >= 8 (indicative below 30), peer aggregates need at
 * least 3 other contributors none above 85% of the total, and secondary suppression keeps a
 * suppressed cell from being recovered from the totals of its additive groups. Pure. */
#ifndef WR_DISCLOSURE_H
#define WR_DISCLOSURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a figure is not shown (DC_SHOWN: it is). Stable codes for JSON/CSV, see dc_reason_code. */
enum dc_reason {
	DC_SHOWN = 0,
	DC_SECRET,            /* a count of 0 to 7 persons */
	DC_SMALL_N,           /* a mean or effect of fewer than 8 persons */
	DC_SMALL_DENOMINATOR, /* a percentage whose (rounded) denominator is under 20 */
	DC_SMALL_POPULATION,  /* a rate for a population under 100 */
	DC_SECONDARY,         /* suppressed so that another suppressed cell cannot be derived */
	DC_PEER_FEW,          /* fewer than 3 other organisations contribute */
	DC_PEER_DOMINANT,     /* one contributor has more than 85% of the total */
	DC_DEPENDS,           /* computed from a figure that is itself not shown */
};

#define DC_SECRET_MAX      7
#define DC_ROUND_BASE      5
#define DC_MIN_SHOWN       10
#define DC_MIN_N           8
#define DC_INDICATIVE_N    30
#define DC_MIN_DENOMINATOR 20
#define DC_MIN_POPULATION  100
#define DC_MIN_PEERS       3
#define DC_MAX_SHARE       0.85

/* The stable code: "secret", "small_n", ... ("shown" for DC_SHOWN, "unknown" for a value
 * outside the enum). A static string; cannot fail. */
const char *dc_reason_code(enum dc_reason r);
/* A short Dutch sentence for a report footnote, e.g. "geheim: 0 tot 7 personen". A static
 * UTF-8 string; cannot fail. */
const char *dc_reason_nl(enum dc_reason r);

/* The publication's random rounding of `count` (>= 0) to a multiple of 5: down to 5*floor(c/5)
 * with probability 1 - (c mod 5)/5, else up, so the expected value is the count; multiples of 5
 * stay. The draw is a pure function of (seed, key): u = x / 2^64, x the first 8 bytes (read
 * little-endian) of SHA-256(the seed's 8 bytes little-endian || the key's bytes), and the count
 * goes up when u < (c mod 5)/5. `seed` is the publication's (derived by the caller from its
 * secret and the publication id); `key` names the cell uniquely and stably within the
 * publication (borrowed; NULL is ""). Negative counts round by the same rule (floor). Cannot
 * fail: should libcrypto fail (out of memory) the count is rounded down. */
long dc_round(long count, uint64_t seed, const char *key);

/* A published count: DC_SECRET for 0..7 (and for a negative count) with *out 0, else DC_SHOWN
 * with *out = dc_round(count, seed, key), but at least DC_MIN_SHOWN (a count of 8 or 9 rounded
 * down to 5 is published as 10: a 5 would read as a group too small to show). `out` may be
 * NULL. */
enum dc_reason dc_count(long count, uint64_t seed, const char *key, long *out);

/* A percentage 100 * num / den from published (rounded) counts and their reasons: DC_DEPENDS
 * when either is not shown, else DC_SMALL_DENOMINATOR when den < 20. *out is the percentage
 * when shown, else 0 (`out` may be NULL). Rounded counts are not clamped: num > den can give
 * more than 100%. */
enum dc_reason dc_percent(long num, enum dc_reason num_reason, long den, enum dc_reason den_reason,
                          double *out);

/* A rate num * per / population from a published (rounded) count: DC_DEPENDS when the count is
 * not shown, else DC_SMALL_POPULATION when population < 100 or NaN. *out is the rate when
 * shown, else 0 (`out` may be NULL). */
enum dc_reason dc_rate(long num, enum dc_reason num_reason, double population, double per,
                       double *out);

/* Whether a mean or effect of `n` persons may be shown (DC_SMALL_N below 8). *indicative is set
 * to n < 30 whatever the verdict (`indicative` may be NULL). */
enum dc_reason dc_mean(long n, bool *indicative);

/* Whether an aggregate over the other organisations may be shown: `contrib` holds each other
 * organisation's share of the aggregate's base (for example its persons), n of them (borrowed;
 * may be NULL when n is 0). Only positive contributions count as contributors (0, negative and
 * NaN count as none). DC_PEER_FEW with fewer than 3 contributors (so also when the sum is 0)
 * or an infinite sum; else DC_PEER_DOMINANT when one has more than 85% of the sum (exactly
 * 85% is shown); else DC_SHOWN. */
enum dc_reason dc_peer(const double *contrib, size_t n);

/* An additive group: the cells `members` add up to the cell `total`. */
struct dc_group {
	const size_t *members;
	size_t n;
	size_t total;
};

/* Secondary suppression over cells 0 .. n_cells-1 with true counts `value`; reason[i] !=
 * DC_SHOWN counts as suppressed, and the cells it adds get DC_SECONDARY. A cell may be in
 * several groups (rows and columns of a 2-D table, levels of a hierarchy); a group's members
 * are distinct and exclude its total, and every index is below n_cells. Repeats, until neither
 * adds a cell: (1) while some group has exactly one suppressed cell among its members and
 * total, suppress that group's shown member with the smallest value, a positive value before a
 * zero (ties: the lowest index), or its total when no member is shown; (2) for each suppressed
 * cell that the published cells still determine through a combination of groups (a linear
 * check), suppress such a complement in one of its groups. If phase 2 cannot allocate its
 * work matrix, every group holding a suppressed cell is suppressed whole instead. Does not
 * guarantee minimal loss, nor protection against bounds (see docs/disclosure.md). Returns the
 * number of cells it suppressed. All arrays borrowed. */
size_t dc_secondary(enum dc_reason *reason, const long *value, size_t n_cells,
                    const struct dc_group *groups, size_t n_groups);

/* Secondary suppression for groups whose cells carry more than a count (means, effects): the
 * shown total minus the shown members gives the combined figures of the hidden members, so
 * their true counts (`value`) together must be 0 or at least `min_sum`. While a group with a
 * shown total hides members holding 1 to min_sum - 1 persons in all, suppresses (DC_SECONDARY)
 * its smallest shown member holding persons, or the total when there is none. Zero cells do not
 * protect. Returns the number of cells it suppressed. Run after dc_secondary, and run both
 * again until neither adds a cell. */
size_t dc_secondary_sums(enum dc_reason *reason, const long *value, size_t n_cells,
                         const struct dc_group *groups, size_t n_groups, long min_sum);

#endif
