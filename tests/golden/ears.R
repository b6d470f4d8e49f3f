# Reference outputs of surveillance::earsC for the golden tests of analyzers/ears.c: for every
# series of series.tsv and every control set below, the upper bound and alarm of earsC at the
# first 10 and the last 150 time points of its feasible range. earsC runs on the whole
# contiguous range (its C3 branch assumes one), the rows are subsampled afterwards.
# Columns: series, method, baseline, min_sigma, alpha, t (1-based), observed, upperbound,
# alarm (1/0). Numbers with 17 significant digits; NA/NaN as "nan", Inf as "inf"/"-inf", so
# that strtod reads every field (an NA alarm is "nan" too). Run as
#   Rscript tests/golden/ears.R tests/data/golden/series.tsv tests/data/golden/ears.tsv
# (needs R with the Debian package r-cran-surveillance); the output is committed.
suppressMessages(library(surveillance))
args <- commandArgs(trailingOnly = TRUE)
input <- if (length(args) > 0) args[1] else "tests/data/golden/series.tsv"
out <- if (length(args) > 1) args[2] else "tests/data/golden/ears.tsv"
rows <- read.delim(input, stringsAsFactors = FALSE)

# Per method: R's defaults (alpha left to earsC), longer baselines, a floor on sigma (which
# removes the sd = 0 NaN/Inf cases of sparse series) and another alpha.
controls <- list()
for (m in c("C1", "C2", "C3")) {
  controls <- c(controls, list(
    list(method = m),
    list(method = m, baseline = 10),
    list(method = m, baseline = 14, minSigma = 0.5),
    list(method = m, minSigma = 0.5),
    list(method = m, alpha = 0.01)))
}

fmt <- function(x) {
  ifelse(is.na(x), "nan",
         ifelse(x == Inf, "inf", ifelse(x == -Inf, "-inf", sprintf("%.17g", x))))
}
n_first <- 10
n_last <- 150
results <- list()
for (s in unique(rows$series)) {
  d <- rows[rows$series == s, ]
  d <- d[order(d$t), ]
  stopifnot(all(d$t == seq_len(nrow(d))))
  for (control in controls) {
    st <- sts(observed = d$observed, frequency = 52, start = c(2001, 1))
    res <- earsC(st, control = control)
    range <- res@control$range
    keep <- seq_along(range) <= n_first | seq_along(range) > length(range) - n_last
    alarm <- as.integer(alarms(res)[, 1])
    results[[length(results) + 1]] <- data.frame(
      series = s, method = res@control$method, baseline = res@control$baseline,
      min_sigma = fmt(res@control$minSigma), alpha = fmt(res@control$alpha),
      t = range[keep], observed = fmt(d$observed[range[keep]]),
      upperbound = fmt(upperbound(res)[keep, 1]), alarm = fmt(alarm[keep]),
      stringsAsFactors = FALSE)
  }
}
all <- do.call(rbind, results)
write.table(all, out, sep = "\t", quote = FALSE, row.names = FALSE)
cat("wrote", nrow(all), "rows to", out, "\n")
