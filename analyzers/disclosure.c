/* Statistical disclosure control (see disclosure.h and docs/disclosure.md for the rules).
 * The rounding draw is a hash of (seed, key), not a stream from an RNG, so that a cell's
 * rounding does not depend on which other cells were computed before it, or in what order:
 * the same publication shows the same figures on every request. SHA-256 comes from libcrypto. */
#include "disclosure.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

const char *dc_reason_code(enum dc_reason r)
{
	switch (r) {
	case DC_SHOWN:
		return "shown";
	case DC_SECRET:
		return "secret";
	case DC_SMALL_N:
		return "small_n";
	case DC_SMALL_DENOMINATOR:
		return "small_denominator";
	case DC_SMALL_POPULATION:
		return "small_population";
	case DC_SECONDARY:
		return "secondary";
	case DC_PEER_FEW:
		return "peer_few";
	case DC_PEER_DOMINANT:
		return "peer_dominant";
	case DC_DEPENDS:
		return "depends";
	}
	return "unknown";
}

const char *dc_reason_nl(enum dc_reason r)
{
	switch (r) {
	case DC_SHOWN:
		return "getoond";
	case DC_SECRET:
		return "geheim: 0 tot 7 personen";
	case DC_SMALL_N:
		return "te weinig personen voor een gemiddelde (minder dan 8)";
	case DC_SMALL_DENOMINATOR:
		return "noemer kleiner dan 20";
	case DC_SMALL_POPULATION:
		return "minder dan 100 inwoners";
	case DC_SECONDARY:
		return "onderdrukt om terugrekenen te voorkomen";
	case DC_PEER_FEW:
		return "minder dan 3 andere organisaties";
	case DC_PEER_DOMINANT:
		return "één organisatie levert meer dan 85%";
	case DC_DEPENDS:
		return "afgeleid van een onderdrukt cijfer";
	}
	return "onbekende reden";
}

/* The first 8 bytes (little-endian) of SHA-256(seed as 8 little-endian bytes || key), or
 * UINT64_MAX when libcrypto fails (only on allocation failure), which makes dc_round round
 * down: a multiple of 5 either way, only not unbiased. */
static uint64_t draw(uint64_t seed, const char *key)
{
	unsigned char seed_le[8];
	for (size_t i = 0; i < sizeof(seed_le); i++)
		seed_le[i] = (unsigned char)(seed >> (8 * i));

	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	         EVP_DigestUpdate(ctx, seed_le, sizeof(seed_le)) == 1 &&
	         EVP_DigestUpdate(ctx, key, strlen(key)) == 1 &&
	         EVP_DigestFinal_ex(ctx, md, &md_len) == 1 && md_len >= 8;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return UINT64_MAX;

	uint64_t x = 0;
	for (size_t i = 0; i < 8; i++)
		x |= (uint64_t)md[i] << (8 * i);
	return x;
}

long dc_round(long count, uint64_t seed, const char *key)
{
	/* Floor division, so that a negative count rounds the same way as a positive one. */
	long rem = count % DC_ROUND_BASE;
	if (rem < 0)
		rem += DC_ROUND_BASE;
	if (rem == 0)
		return count;
	/* No count comes near either end; there, take the direction that does not overflow. */
	if (count < LONG_MIN + DC_ROUND_BASE)
		return count + (DC_ROUND_BASE - rem);
	long down = count - rem;
	if (down > LONG_MAX - DC_ROUND_BASE)
		return down;

	/* Up when u = x / 2^64 < rem / 5, i.e. 5x < rem * 2^64. With 2^64 = 5Q + 1 (Q =
	 * UINT64_MAX / 5 exactly) that is 5x < 5 rem Q + rem, i.e. x <= rem * Q for rem in 1..4:
	 * the comparison in exact integers, with no rounding of x / 2^64 to a double. */
	uint64_t x = draw(seed, key != NULL ? key : "");
	uint64_t q = UINT64_MAX / DC_ROUND_BASE;
	return x <= (uint64_t)rem * q ? down + DC_ROUND_BASE : down;
}

enum dc_reason dc_count(long count, uint64_t seed, const char *key, long *out)
{
	enum dc_reason r = DC_SHOWN;
	long v = 0;
	if (count <= DC_SECRET_MAX)
		r = DC_SECRET;
	else
		v = dc_round(count, seed, key);
	/* 8 and 9 may round down to 5, which would read as a group smaller than may be shown. */
	if (r == DC_SHOWN && v < DC_MIN_SHOWN)
		v = DC_MIN_SHOWN;
	if (out != NULL)
		*out = v;
	return r;
}

enum dc_reason dc_percent(long num, enum dc_reason num_reason, long den, enum dc_reason den_reason,
                          double *out)
{
	enum dc_reason r = DC_SHOWN;
	if (num_reason != DC_SHOWN || den_reason != DC_SHOWN)
		r = DC_DEPENDS;
	else if (den < DC_MIN_DENOMINATOR)
		r = DC_SMALL_DENOMINATOR;
	if (out != NULL)
		*out = r == DC_SHOWN ? 100.0 * (double)num / (double)den : 0.0;
	return r;
}

enum dc_reason dc_rate(long num, enum dc_reason num_reason, double population, double per,
                       double *out)
{
	enum dc_reason r = DC_SHOWN;
	if (num_reason != DC_SHOWN)
		r = DC_DEPENDS;
	else if (!(population >= DC_MIN_POPULATION)) /* NaN is not a population either */
		r = DC_SMALL_POPULATION;
	if (out != NULL)
		*out = r == DC_SHOWN ? (double)num * per / population : 0.0;
	return r;
}

enum dc_reason dc_mean(long n, bool *indicative)
{
	if (indicative != NULL)
		*indicative = n < DC_INDICATIVE_N;
	return n < DC_MIN_N ? DC_SMALL_N : DC_SHOWN;
}

enum dc_reason dc_peer(const double *contrib, size_t n)
{
	/* Only organisations with something in the aggregate count as contributors: with
	 * {50, 50, 0} either of the two real contributors could subtract its own figure and read
	 * the other's. NaN and negative contributions are invalid and count as nothing. */
	size_t contributors = 0;
	double sum = 0.0;
	for (size_t i = 0; i < n; i++) {
		if (contrib[i] > 0.0) {
			contributors++;
			sum += contrib[i];
		}
	}
	if (contributors < DC_MIN_PEERS || !isfinite(sum))
		return DC_PEER_FEW;
	/* Exactly 85% is not dominant: for whole counts, contrib / sum then rounds to the same
	 * double as the constant 0.85. */
	for (size_t i = 0; i < n; i++) {
		if (contrib[i] > 0.0 && contrib[i] / sum > DC_MAX_SHARE)
			return DC_PEER_DOMINANT;
	}
	return DC_SHOWN;
}

/* Secondary suppression in two phases, repeated until neither adds a cell:
 *
 * 1. The lone-cell rule (the usual heuristic): a group with exactly one suppressed cell gives
 *    it away by subtraction, so another of its cells goes too.
 * 2. A linear check: phase 1 leaves every group with 0 or >= 2 suppressed cells, but a
 *    combination of groups can still pin a cell. In a 2-D table, two blocks of suppressed
 *    cells joined by a single suppressed cell (a bridge) give it away: the sum of the rows
 *    on one side minus the sum of their columns. With the suppressed cells as unknowns, a
 *    cell is determined exactly when its unit vector lies in the row space of the groups'
 *    equations; one reduced row echelon form answers that for all of them. Each determined
 *    cell gets a complement in one of its groups.
 *
 * Complements are the cell with the smallest true value (less information lost), but a
 * positive value before a zero: with a secret 0 whose row and column complements are also 0,
 * non-negativity alone pins all of them (the rectangle 0 0 / 0 x can only be that).
 *
 * Phase 2 needs memory. If it cannot get it, every group that holds a suppressed cell is
 * suppressed whole: more than needed, never less. */

/* Whether cell a is a better complement than cell b: a positive value before 0, then the
 * smaller value, then the lower index. */
static bool better(const long *value, size_t a, size_t b)
{
	bool pa = value[a] > 0, pb = value[b] > 0;
	if (pa != pb)
		return pa;
	if (value[a] != value[b])
		return value[a] < value[b];
	return a < b;
}

static bool in_group(const struct dc_group *g, size_t cell)
{
	if (g->total == cell)
		return true;
	for (size_t j = 0; j < g->n; j++)
		if (g->members[j] == cell)
			return true;
	return false;
}

/* How many of the group's cells (members and total) are suppressed. */
static size_t n_suppressed(const enum dc_reason *reason, size_t n_cells, const struct dc_group *g)
{
	assert(g->total < n_cells);
	size_t k = reason[g->total] != DC_SHOWN;
	for (size_t j = 0; j < g->n; j++) {
		assert(g->members[j] < n_cells);
		k += reason[g->members[j]] != DC_SHOWN;
	}
	(void)n_cells;
	return k;
}

/* The complement a group offers: its best shown member, else its total if shown; n_cells
 * when every cell of the group is suppressed. */
static size_t complement(const enum dc_reason *reason, const long *value, size_t n_cells,
                         const struct dc_group *g)
{
	size_t best = n_cells;
	for (size_t j = 0; j < g->n; j++) {
		size_t c = g->members[j];
		if (reason[c] == DC_SHOWN && (best == n_cells || better(value, c, best)))
			best = c;
	}
	if (best == n_cells && reason[g->total] == DC_SHOWN)
		best = g->total;
	return best;
}

/* Phase 1 to its fixed point; returns the cells it suppressed. Every pass either suppresses
 * a cell or ends the loop. A group of no members whose total is suppressed offers nothing
 * (its total is 0 and known anyway) and is left alone. */
static size_t lone_cells(enum dc_reason *reason, const long *value, size_t n_cells,
                         const struct dc_group *groups, size_t n_groups)
{
	size_t added = 0;
	bool changed = true;
	while (changed) {
		changed = false;
		for (size_t i = 0; i < n_groups; i++) {
			if (n_suppressed(reason, n_cells, &groups[i]) != 1)
				continue;
			size_t c = complement(reason, value, n_cells, &groups[i]);
			if (c == n_cells)
				continue;
			reason[c] = DC_SECONDARY;
			added++;
			changed = true;
		}
	}
	return added;
}

/* The fallback when phase 2 has no memory: suppresses every cell of each group that holds a
 * suppressed one, to a fixed point. Then no equation links a published cell to a suppressed
 * one. Returns the cells it suppressed. */
static size_t whole_groups(enum dc_reason *reason, size_t n_cells, const struct dc_group *groups,
                           size_t n_groups)
{
	size_t added = 0;
	bool changed = true;
	while (changed) {
		changed = false;
		for (size_t i = 0; i < n_groups; i++) {
			const struct dc_group *g = &groups[i];
			size_t k = n_suppressed(reason, n_cells, g);
			if (k == 0 || k == g->n + 1)
				continue;
			for (size_t j = 0; j <= g->n; j++) {
				size_t c = j < g->n ? g->members[j] : g->total;
				if (reason[c] == DC_SHOWN) {
					reason[c] = DC_SECONDARY;
					added++;
				}
			}
			changed = true;
		}
	}
	return added;
}

/* Brings the rows x cols matrix m (row-major) to reduced row echelon form in place, with
 * partial pivoting; pivot_col[r] is row r's pivot column, or cols past the last pivot row.
 * The entries start as -1, 0 or 1 (for two-way tables the matrix is totally unimodular, and
 * so stays), so a fixed tolerance tells zero from not. */
#define RREF_EPS 1e-9
static void rref(double *m, size_t rows, size_t cols, size_t *pivot_col)
{
	size_t r = 0;
	for (size_t c = 0; c < cols && r < rows; c++) {
		size_t best = r;
		for (size_t i = r + 1; i < rows; i++)
			if (fabs(m[i * cols + c]) > fabs(m[best * cols + c]))
				best = i;
		if (fabs(m[best * cols + c]) <= RREF_EPS)
			continue;
		if (best != r) {
			for (size_t j = 0; j < cols; j++) {
				double t = m[r * cols + j];
				m[r * cols + j] = m[best * cols + j];
				m[best * cols + j] = t;
			}
		}
		double p = m[r * cols + c];
		for (size_t j = 0; j < cols; j++)
			m[r * cols + j] /= p;
		for (size_t i = 0; i < rows; i++) {
			double f = m[i * cols + c];
			if (i == r || f == 0.0)
				continue;
			for (size_t j = 0; j < cols; j++)
				m[i * cols + j] -= f * m[r * cols + j];
		}
		pivot_col[r++] = c;
	}
	for (; r < rows; r++)
		pivot_col[r] = cols;
}

/* Phase 2: finds the suppressed cells that the published cells determine and suppresses a
 * complement for each (in the first of its groups not already given one in this call).
 * Returns the cells it suppressed, or -ENOMEM. */
static long determined_cells(enum dc_reason *reason, const long *value, size_t n_cells,
                             const struct dc_group *groups, size_t n_groups)
{
	size_t n_sup = 0;
	for (size_t c = 0; c < n_cells; c++)
		n_sup += reason[c] != DC_SHOWN;
	if (n_sup == 0 || n_groups == 0)
		return 0;
	if (n_groups > SIZE_MAX / sizeof(double) / n_sup)
		return -ENOMEM;

	long added = -ENOMEM;
	size_t *col_of = malloc(n_cells * sizeof(*col_of));
	size_t *cell_of = malloc(n_sup * sizeof(*cell_of));
	size_t *pivot_col = malloc(n_groups * sizeof(*pivot_col));
	bool *touched = calloc(n_groups, sizeof(*touched));
	double *m = calloc(n_groups * n_sup, sizeof(*m));
	if (col_of == NULL || cell_of == NULL || pivot_col == NULL || touched == NULL || m == NULL)
		goto out;

	size_t k = 0;
	for (size_t c = 0; c < n_cells; c++) {
		col_of[c] = n_sup;
		if (reason[c] != DC_SHOWN) {
			cell_of[k] = c;
			col_of[c] = k++;
		}
	}
	/* Row g: sum of suppressed members - suppressed total = (published total - published
	 * members); only the left side matters for which cells are determined. */
	for (size_t g = 0; g < n_groups; g++) {
		const struct dc_group *grp = &groups[g];
		if (col_of[grp->total] < n_sup)
			m[g * n_sup + col_of[grp->total]] -= 1.0;
		for (size_t j = 0; j < grp->n; j++)
			if (col_of[grp->members[j]] < n_sup)
				m[g * n_sup + col_of[grp->members[j]]] += 1.0;
	}
	rref(m, n_groups, n_sup, pivot_col);

	added = 0;
	for (size_t r = 0; r < n_groups && pivot_col[r] < n_sup; r++) {
		/* Determined: the pivot row is the unit vector of its pivot column. */
		bool unit = true;
		for (size_t j = 0; j < n_sup && unit; j++)
			unit = j == pivot_col[r] || fabs(m[r * n_sup + j]) <= RREF_EPS;
		if (!unit)
			continue;
		size_t cell = cell_of[pivot_col[r]];
		/* A complement added in this call next to it may already have freed it; the
		 * next round checks again. */
		bool done = false;
		size_t best = n_cells;
		for (size_t g = 0; g < n_groups && !done; g++) {
			if (!in_group(&groups[g], cell))
				continue;
			done = touched[g];
			size_t c = complement(reason, value, n_cells, &groups[g]);
			if (c < n_cells && (best == n_cells || better(value, c, best)))
				best = c;
		}
		/* Every group around it suppressed whole: widen to any group that mixes
		 * published and suppressed cells. */
		for (size_t g = 0; g < n_groups && !done && best == n_cells; g++) {
			size_t s = n_suppressed(reason, n_cells, &groups[g]);
			if (s > 0 && s <= groups[g].n)
				best = complement(reason, value, n_cells, &groups[g]);
		}
		if (done || best == n_cells)
			continue;
		reason[best] = DC_SECONDARY;
		added++;
		for (size_t g = 0; g < n_groups; g++)
			if (in_group(&groups[g], best) || in_group(&groups[g], cell))
				touched[g] = true;
	}

out:
	free(m);
	free(touched);
	free(pivot_col);
	free(cell_of);
	free(col_of);
	return added;
}

size_t dc_secondary(enum dc_reason *reason, const long *value, size_t n_cells,
                    const struct dc_group *groups, size_t n_groups)
{
	/* Each round adds at least one cell or ends the loop. */
	size_t added = 0;
	for (;;) {
		added += lone_cells(reason, value, n_cells, groups, n_groups);
		long more = determined_cells(reason, value, n_cells, groups, n_groups);
		if (more < 0) {
			added += whole_groups(reason, n_cells, groups, n_groups);
			break;
		}
		if (more == 0)
			break;
		added += (size_t)more;
	}
	return added;
}

size_t dc_secondary_sums(enum dc_reason *reason, const long *value, size_t n_cells,
                         const struct dc_group *groups, size_t n_groups, long min_sum)
{
	size_t added = 0;
	bool changed = true;
	while (changed) {
		changed = false;
		for (size_t g = 0; g < n_groups; g++) {
			const struct dc_group *gr = &groups[g];
			assert(gr->total < n_cells);
			if (reason[gr->total] != DC_SHOWN)
				continue;
			long hidden = 0;
			size_t pick = n_cells;
			for (size_t k = 0; k < gr->n; k++) {
				size_t c = gr->members[k];
				assert(c < n_cells);
				if (reason[c] != DC_SHOWN)
					hidden += value[c];
				else if (value[c] > 0 &&
				         (pick == n_cells || value[c] < value[pick]))
					pick = c;
			}
			if (hidden <= 0 || hidden >= min_sum)
				continue;
			/* The hidden members together hold 1 to min_sum - 1 persons: what the total
			 * minus the shown members gives away. Hide one more person-holding member,
			 * or the total. */
			size_t c = pick != n_cells ? pick : gr->total;
			reason[c] = DC_SECONDARY;
			added++;
			changed = true;
		}
	}
	return added;
}
