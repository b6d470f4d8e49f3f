# Writes the input series of the golden tests: tests/data/golden/series.tsv with columns
# series, t (1-based week index), observed, population. Real surveillance datasets with known
# outbreaks plus seeded simulations. Run by tests/golden/make.sh; needs R with the Debian
# package r-cran-surveillance. The output is committed, so CI does not need R.
suppressMessages(library(surveillance))
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) > 0) args[1] else "tests/data/golden/series.tsv"

series <- list()
pops <- list()
add <- function(name, y, pop = rep(1, length(y))) {
  series[[name]] <<- as.numeric(y)
  pops[[name]] <<- as.numeric(pop)
}

data(salmNewport)
add("salmNewport_total", rowSums(observed(salmNewport)))
add("salmNewport_Bavaria", observed(salmNewport)[, "Bavaria"])
add("salmNewport_Hesse", observed(salmNewport)[, "Hesse"])
data(salmonella.agona)
add("salmonella_agona", salmonella.agona$observed)
data(campyDE)
add("campyDE", campyDE$case)
data(influMen)
add("influMen_meningococcus", influMen$observed[, 2])

# Simulated point-source outbreaks (Hoehle's sim.pointSource), seeded.
set.seed(20261125)
sim <- sim.pointSource(p = 0.99, r = 0.5, length = 416, A = 1, alpha = 1, beta = 0,
                       phi = 0, frequency = 1, state = NULL, K = 1.7)
add("sim_pointsource", sim$observed)

# A wijkradar-like weekly need series: distinct persons per week in one wijk of 12,410
# inhabitants with a yearly season, a slow population change (offset), and a rise in the
# last weeks.
set.seed(42)
n <- 312
t <- 1:n
pop <- round(12000 + 2 * t)
rate <- exp(-7.2 + 0.35 * sin(2 * pi * t / 52) + 0.15 * cos(2 * pi * t / 52))
y <- rpois(n, pop * rate)
y[(n - 5):n] <- y[(n - 5):n] + c(3, 5, 8, 10, 12, 14)
add("wijk_eenzaam", y, pop)

# Low counts with many zeros (limit54 and convergence edge cases).
set.seed(7)
add("sparse", rpois(312, 0.3))
# Overdispersed counts with a trend.
set.seed(11)
mu <- exp(1.5 + 0.004 * (1:364) + 0.4 * sin(2 * pi * (1:364) / 52))
add("trend_overdispersed", rnbinom(364, size = 3, mu = mu))

rows <- do.call(rbind, lapply(names(series), function(s)
  data.frame(series = s, t = seq_along(series[[s]]), observed = series[[s]],
             population = pops[[s]])))
write.table(rows, out, sep = "\t", quote = FALSE, row.names = FALSE)
cat("wrote", nrow(rows), "rows of", length(series), "series to", out, "\n")
