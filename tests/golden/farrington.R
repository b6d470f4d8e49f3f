# Reference outputs of surveillance::farringtonFlexible for the golden tests of
# analyzers/farrington.c: for every series of series.tsv and every control set below, the
# upper bound, expected value, alarm, trend decision, p-value, score, mu0 and phi of each time
# point in the range. Numbers with 17 significant digits; "nan" for NA. Run by
# tests/golden/make.sh (needs R with r-cran-surveillance); the output is committed.
suppressMessages(library(surveillance))
args <- commandArgs(trailingOnly = TRUE)
input <- if (length(args) > 0) args[1] else "tests/data/golden/series.tsv"
out <- if (length(args) > 1) args[2] else "tests/data/golden/farrington.tsv"
rows <- read.delim(input, stringsAsFactors = FALSE)

controls <- list(
  # Farrington et al. (1996) as the package's flexible version runs it.
  farrington = list(b = 5, w = 3, noPeriods = 1, reweight = TRUE, weightsThreshold = 1,
                    thresholdMethod = "delta", powertrans = "2/3", trend = TRUE, alpha = 0.05),
  # Noufaily et al. (2013): 10 periods, 26 recent weeks left out, NB plug-in threshold.
  noufaily = list(b = 5, w = 3, noPeriods = 10, pastWeeksNotIncluded = 26, reweight = TRUE,
                  weightsThreshold = 2.58, thresholdMethod = "nbPlugin", trend = TRUE,
                  alpha = 0.05),
  noufaily_muan = list(b = 5, w = 3, noPeriods = 10, pastWeeksNotIncluded = 26,
                       reweight = TRUE, weightsThreshold = 2.58, thresholdMethod = "muan",
                       trend = TRUE, alpha = 0.05),
  noufaily_b4_pop = list(b = 4, w = 3, noPeriods = 10, pastWeeksNotIncluded = 26,
                         reweight = TRUE, weightsThreshold = 2.58, thresholdMethod = "nbPlugin",
                         trend = TRUE, alpha = 0.05, populationOffset = TRUE),
  delta_none_notrend = list(b = 3, w = 2, noPeriods = 1, reweight = FALSE,
                            thresholdMethod = "delta", powertrans = "none", trend = FALSE,
                            alpha = 0.01),
  delta_half_w1 = list(b = 4, w = 1, noPeriods = 1, reweight = TRUE, weightsThreshold = 2.58,
                       thresholdMethod = "delta", powertrans = "1/2", trend = TRUE,
                       alpha = 0.025, limit54 = c(3, 3))
)

fmt <- function(x) ifelse(is.na(x), "nan", sprintf("%.17g", x))
results <- list()
for (s in unique(rows$series)) {
  d <- rows[rows$series == s, ]
  d <- d[order(d$t), ]
  for (cname in names(controls)) {
    control <- controls[[cname]]
    first <- 52 * control$b + control$w + 1
    if (nrow(d) < first) next
    control$range <- seq(max(first, nrow(d) - 99), nrow(d))
    control$glmWarnings <- FALSE
    st <- sts(observed = matrix(d$observed), population = matrix(d$population),
              frequency = 52, start = c(2001, 1))
    res <- farringtonFlexible(st, control = control)
    results[[length(results) + 1]] <- data.frame(
      series = s, control = cname, t = control$range, observed = d$observed[control$range],
      upperbound = fmt(upperbound(res)[, 1]), expected = fmt(res@control$expected[, 1]),
      alarm = as.integer(alarms(res)[, 1]), trend = as.integer(res@control$trend[, 1]),
      pvalue = fmt(res@control$pvalue[, 1]), score = fmt(res@control$score[, 1]),
      mu0 = fmt(res@control$mu0Vector[, 1]), phi = fmt(res@control$phiVector[, 1]),
      stringsAsFactors = FALSE)
  }
}
all <- do.call(rbind, results)
all$alarm[is.na(all$alarm)] <- 0
write.table(all, out, sep = "\t", quote = FALSE, row.names = FALSE)
cat("wrote", nrow(all), "rows to", out, "\n")
