# R side of the detection benchmark (bench/detect): surveillance::farringtonFlexible on the
# current (last) week of every sample series written by bench/detect_national.c, with the
# control of the daemon's defaults (analyzers/detect.c: Noufaily, b 4, alpha 0.01, population
# offset), called as tests/golden/farrington.R calls it. Times the whole sample (one warm-up
# call first, not timed) and writes R's results next to the C results.
#   Rscript bench/detect_r.R DIR     (reads DIR/series.tsv; writes DIR/r_results.tsv, r_time.tsv)
suppressMessages(library(surveillance))
args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args) > 0) args[1] else "."
rows <- read.delim(file.path(dir, "series.tsv"), stringsAsFactors = FALSE)
names_in_order <- unique(rows$series)
series <- split(rows, factor(rows$series, levels = names_in_order))

control <- list(b = 4, w = 3, noPeriods = 10, pastWeeksNotIncluded = 26, reweight = TRUE,
                weightsThreshold = 2.58, thresholdMethod = "nbPlugin", trend = TRUE,
                alpha = 0.01, populationOffset = TRUE, glmWarnings = FALSE)

run_one <- function(d) {
  d <- d[order(d$t), ]
  k <- nrow(d)
  ctl <- control
  ctl$range <- k
  st <- sts(observed = matrix(d$observed), population = matrix(d$population),
            frequency = 52, start = c(2001, 1))
  list(k = k, observed = d$observed[k], res = farringtonFlexible(st, control = ctl))
}

invisible(run_one(series[[1]])) # warm-up: lazy loading, byte compilation

n <- length(series)
out <- vector("list", n)
t0 <- proc.time()
for (i in seq_len(n)) out[[i]] <- run_one(series[[i]])
t1 <- proc.time()
el <- t1 - t0

fmt <- function(x) ifelse(is.na(x), "nan", sprintf("%.17g", x))
res <- do.call(rbind, lapply(seq_len(n), function(i) {
  r <- out[[i]]$res
  data.frame(series = names(series)[i], t = out[[i]]$k, observed = out[[i]]$observed,
             upperbound = fmt(upperbound(r)[1, 1]), expected = fmt(r@control$expected[1, 1]),
             alarm = as.integer(isTRUE(alarms(r)[1, 1])),
             trend = as.integer(isTRUE(as.logical(r@control$trend[1, 1]))),
             pvalue = fmt(r@control$pvalue[1, 1]), score = fmt(r@control$score[1, 1]),
             mu0 = fmt(r@control$mu0Vector[1, 1]), phi = fmt(r@control$phiVector[1, 1]),
             stringsAsFactors = FALSE)
}))
write.table(res, file.path(dir, "r_results.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)

elapsed <- unname(el["elapsed"])
cpu <- unname(el["user.self"] + el["sys.self"])
write.table(data.frame(series = n, seconds = elapsed, cpu_seconds = cpu,
                       us_per_series = elapsed * 1e6 / n, cpu_us_per_series = cpu * 1e6 / n,
                       r_version = paste(R.version$major, R.version$minor, sep = "."),
                       surveillance = as.character(packageVersion("surveillance"))),
            file.path(dir, "r_time.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
cat(sprintf(paste0("R          series=%d seconds=%.3f (cpu %.3f) us/series=%.1f ",
                   "(R %s.%s, surveillance %s)\n"),
            n, elapsed, cpu, elapsed * 1e6 / n, R.version$major, R.version$minor,
            as.character(packageVersion("surveillance"))))
