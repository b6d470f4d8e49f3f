# Reference values for the golden tests of analyzers/effect.c, computed independently of the C
# code: t.test(paired = TRUE) for the mean change and its CI, the effect sizes and the reliable
# change index written out from their published formulas (docs/effects.md), lm() with
# predict(interval = "confidence"), confint() and summary() for the comparison of modes,
# quantile(type = 7) for durations, and effectsize::cohens_d/hedges_g(paired = TRUE) as a
# cross-check of the point estimate of d_z (effectsize's CIs use a noncentral t, ours the
# Borenstein normal approximation, so only point estimates are compared).
# Seeded synthetic data, ZRM-like scores 1..5 with ties; nothing in it is about real people.
# Writes to the directory given as the first argument (default tests/data/golden):
#   effect_data.tsv       set, i, before, after, group     inputs of the paired and modes sets
#   effect_paired.tsv     one row per set and parameter combination: effect_result
#   effect_modes.tsv      one row per set, level and mode: effect_mode and the baseline slope
#   effect_durations.tsv  set, i, value                    inputs of the quantile sets
#   effect_quantile.tsv   set, q, value
#   effect_versions.tsv   package, version                 R and effectsize that wrote them
# Numbers with 17 significant digits; NA/NaN as "nan", so that strtod reads every field. Needs
# R with the Debian package r-cran-effectsize; run through tests/golden/make.sh. The outputs are
# committed.
suppressMessages(library(effectsize))
args <- commandArgs(trailingOnly = TRUE)
out_dir <- if (length(args) > 0) args[1] else "tests/data/golden"

fmt <- function(x) {
  ifelse(is.na(x), "nan",
         ifelse(x == Inf, "inf", ifelse(x == -Inf, "-inf", sprintf("%.17g", x))))
}
write_tsv <- function(df, name) {
  df[] <- lapply(df, function(col) if (is.numeric(col)) fmt(col) else col)
  write.table(df, file.path(out_dir, name), sep = "\t", quote = FALSE, row.names = FALSE)
  cat("wrote", nrow(df), "rows to", file.path(out_dir, name), "\n")
}

set.seed(20261207)
zrm <- function(x) pmin(5, pmax(1, round(x)))
baseline <- function(n) sample(1:5, n, replace = TRUE, prob = c(0.20, 0.30, 0.30, 0.15, 0.05))
# A draw of n pairs with a mean gain and noise on the ZRM scale; redrawn until `ok` holds.
draw <- function(n, gain, noise = 0.9, ok = function(b, a) TRUE) {
  repeat {
    b <- baseline(n)
    a <- zrm(b + gain + rnorm(n, 0, noise))
    if (ok(b, a)) return(list(before = b, after = a))
  }
}
spread <- function(b, a) sd(b) > 0 && sd(a) > 0 && sd(a - b) > 0

paired_sets <- list(
  n2 = draw(2, 0.8, ok = function(b, a) spread(b, a) && mean(a - b) != 0),
  n3 = draw(3, 0.8, ok = spread),
  n8 = draw(8, 0.6, ok = spread),
  n30 = draw(30, 0.5),
  n200 = draw(200, 0.4),
  # everybody starts at 2: sd_before = 0, correlation undefined, no RCI
  before_const = list(before = rep(2, 12), after = c(2, 3, 3, 4, 2, 1, 3, 5, 3, 2, 4, 3)),
  # ceiling: everybody ends at 5, sd_after = 0
  after_const = list(before = c(3, 4, 5, 2, 4, 3, 5, 4, 3, 4), after = rep(5, 10)),
  # every change +1: sd_change = 0, d_z undefined, r = 1
  shift = list(before = c(1, 2, 2, 3, 4, 1, 3, 2), after = c(2, 3, 3, 4, 5, 2, 4, 3)),
  # nothing varies: -EINVAL with the raw figures filled
  all_const = list(before = rep(3, 6), after = rep(4, 6)),
  # a problem-severity scale (lower is better), improving on average
  lower_better = {
    b <- 6 - baseline(30)
    list(before = b, after = zrm(b - 0.7 + rnorm(30, 0, 0.9)))
  }
)
params <- data.frame(level = c(0.95, 0.90, 0.99), reliability = c(0.80, 0.70, 0.90),
                     higher_is_better = c(TRUE, FALSE, TRUE))

paired_row <- function(set, b, a, level, rxx, hib) {
  n <- length(b)
  ch <- a - b
  sdb <- sd(b)
  sda <- sd(a)
  sdc <- sd(ch)
  r <- if (sdb > 0 && sda > 0) cor(b, a) else NaN
  if (sdc > 0) {
    tt <- t.test(a, b, paired = TRUE, conf.level = level)
    lo <- tt$conf.int[1]
    hi <- tt$conf.int[2]
    stopifnot(isTRUE(all.equal(unname(tt$estimate), mean(ch))))
  } else {
    # t.test stops on constant data; the interval of a constant change is the point
    lo <- hi <- mean(ch)
  }
  z <- qnorm((1 + level) / 2)
  J <- 1 - 3 / (4 * (n - 1) - 1)
  corrected <- n > 2 # J = 0 at one degree of freedom: corrected d's are NaN
  sd_av <- sqrt((sdb^2 + sda^2) / 2)
  d_av_u <- d_av <- d_av_lo <- d_av_hi <- NaN
  if (sd_av > 0) {
    d_av_u <- mean(ch) / sd_av
    r0 <- if (is.nan(r)) 0 else r # exact when one SD is 0
    se <- J * sqrt((1 / n + d_av_u^2 / (2 * n)) * 2 * (1 - r0))
    if (corrected) {
      d_av <- J * d_av_u
      d_av_lo <- d_av - z * se
      d_av_hi <- d_av + z * se
    }
  }
  d_z_u <- d_z <- d_z_lo <- d_z_hi <- NaN
  es_d <- es_g <- es_j <- NaN
  if (sdc > 0) {
    d_z_u <- mean(ch) / sdc
    se <- J * sqrt(1 / n + d_z_u^2 / (2 * n))
    if (corrected) {
      d_z <- J * d_z_u
      d_z_lo <- d_z - z * se
      d_z_hi <- d_z + z * se
    }
    # effectsize: d of the paired differences after - before; g uses the exact
    # J(df) = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2)), ours Hedges' approximation
    es_d <- suppressWarnings(cohens_d(a, b, paired = TRUE, ci = NULL))$Cohens_d
    es_g <- suppressWarnings(hedges_g(a, b, paired = TRUE, ci = NULL))$Hedges_g
    df <- n - 1
    es_j <- exp(lgamma(df / 2) - log(sqrt(df / 2)) - lgamma((df - 1) / 2))
    stopifnot(isTRUE(all.equal(es_d, d_z_u, tolerance = 1e-12)))
    stopifnot(isTRUE(all.equal(es_g, es_j * d_z_u, tolerance = 1e-12)))
  }
  thr <- NaN
  n_imp <- n_worse <- 0
  share_imp <- share_worse <- NaN
  if (sdb > 0) {
    thr <- qnorm(0.975) * sdb * sqrt(2 * (1 - rxx)) # Jacobson & Truax 1991
    gain <- if (hib) ch else -ch
    n_imp <- sum(gain > thr)
    n_worse <- sum(gain < -thr)
    share_imp <- n_imp / n
    share_worse <- n_worse / n
  }
  data.frame(set = set, level = level, reliability = rxx, higher_is_better = as.integer(hib),
             status = if (sd_av > 0) "ok" else "einval", n = n,
             mean_before = mean(b), mean_after = mean(a), sd_before = sdb, sd_after = sda,
             correlation = r, mean_change = mean(ch), sd_change = sdc,
             change_lo = lo, change_hi = hi, d_av = d_av, d_av_lo = d_av_lo, d_av_hi = d_av_hi,
             d_z = d_z, d_z_lo = d_z_lo, d_z_hi = d_z_hi, d_av_uncorrected = d_av_u,
             d_z_uncorrected = d_z_u, rci_threshold = thr, n_improved = n_imp,
             n_worse = n_worse, share_improved = share_imp, share_worse = share_worse,
             es_cohens_d = es_d, es_hedges_g = es_g, es_exact_j = es_j,
             stringsAsFactors = FALSE)
}

# Service modes with unequal sizes and different mean gains (mode 0 the reference).
draw_modes <- function(sizes, gains) {
  g <- rep(seq_along(sizes) - 1, sizes)
  b <- baseline(length(g))
  a <- zrm(b + gains[g + 1] + rnorm(length(g), 0, 0.9))
  o <- sample(length(g)) # interleave the modes
  list(before = b[o], after = a[o], group = g[o], n_groups = length(sizes))
}
modes_sets <- list(
  modes1 = draw_modes(10, 0.5),
  modes2 = draw_modes(c(25, 15), c(0.4, 0.9)),
  modes3 = draw_modes(c(30, 18, 12), c(0.5, 0.2, 1.0)),
  modes3_small = draw_modes(c(2, 3, 4), c(0.5, 0.5, 1.0)),
  modes4_200 = draw_modes(c(90, 60, 35, 15), c(0.4, 0.6, 0.3, 0.8))
)

modes_rows <- function(set, s, level) {
  d <- data.frame(change = s$after - s$before, before = s$before,
                  group = factor(s$group, levels = seq_len(s$n_groups) - 1))
  k <- s$n_groups
  fit <- if (k > 1) lm(change ~ before + group, data = d) else lm(change ~ before, data = d)
  stopifnot(fit$rank == k + 1, fit$df.residual == nrow(d) - k - 1)
  new <- data.frame(before = mean(d$before),
                    group = factor(seq_len(k) - 1, levels = seq_len(k) - 1))
  pr <- predict(fit, newdata = new, interval = "confidence", level = level)
  ci <- confint(fit, level = level)
  co <- summary(fit)$coefficients
  rows <- list()
  for (g in seq_len(k) - 1) {
    if (g == 0) {
      diff <- diff_lo <- diff_hi <- 0
      p <- NaN
    } else {
      name <- paste0("group", g)
      diff <- unname(coef(fit)[name])
      diff_lo <- ci[name, 1]
      diff_hi <- ci[name, 2]
      p <- co[name, "Pr(>|t|)"]
    }
    rows[[g + 1]] <- data.frame(
      set = set, level = level, n_groups = k, group = g, n = sum(s$group == g),
      mean_change = mean(d$change[s$group == g]), adjusted = pr[g + 1, "fit"],
      adjusted_lo = pr[g + 1, "lwr"], adjusted_hi = pr[g + 1, "upr"], diff = diff,
      diff_lo = diff_lo, diff_hi = diff_hi, diff_p = p,
      slope = unname(coef(fit)["before"]), stringsAsFactors = FALSE)
  }
  do.call(rbind, rows)
}

durations <- list(
  one = 14,
  two = c(3, 10),
  ties7 = c(7, 7, 14, 3, 7, 21, 14),
  days50 = round(rexp(50, 1 / 20)),
  decimal13 = round(rlnorm(13, 2, 0.8), 2)
)
probs <- c(0, 0.05, 0.1, 0.25, 1 / 3, 0.5, 2 / 3, 0.75, 0.9, 0.95, 0.99, 1)

data_rows <- list()
paired_out <- list()
for (set in names(paired_sets)) {
  s <- paired_sets[[set]]
  data_rows[[length(data_rows) + 1]] <- data.frame(
    set = set, i = seq_along(s$before), before = s$before, after = s$after, group = 0)
  for (k in seq_len(nrow(params)))
    paired_out[[length(paired_out) + 1]] <- paired_row(
      set, s$before, s$after, params$level[k], params$reliability[k],
      params$higher_is_better[k])
}
modes_out <- list()
for (set in names(modes_sets)) {
  s <- modes_sets[[set]]
  data_rows[[length(data_rows) + 1]] <- data.frame(
    set = set, i = seq_along(s$before), before = s$before, after = s$after, group = s$group)
  for (level in c(0.95, 0.90))
    modes_out[[length(modes_out) + 1]] <- modes_rows(set, s, level)
}
dur_rows <- list()
quant_rows <- list()
for (set in names(durations)) {
  v <- durations[[set]]
  dur_rows[[length(dur_rows) + 1]] <- data.frame(set = set, i = seq_along(v), value = v)
  quant_rows[[length(quant_rows) + 1]] <- data.frame(
    set = set, q = probs, value = unname(quantile(v, probs, type = 7)))
}

write_tsv(do.call(rbind, data_rows), "effect_data.tsv")
write_tsv(do.call(rbind, paired_out), "effect_paired.tsv")
write_tsv(do.call(rbind, modes_out), "effect_modes.tsv")
write_tsv(do.call(rbind, dur_rows), "effect_durations.tsv")
write_tsv(do.call(rbind, quant_rows), "effect_quantile.tsv")
write_tsv(data.frame(package = c("R", "effectsize"),
                     version = c(paste(R.version$major, R.version$minor, sep = "."),
                                 as.character(packageVersion("effectsize")))),
          "effect_versions.tsv")
