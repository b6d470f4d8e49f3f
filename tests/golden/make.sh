#!/usr/bin/env bash
# Regenerates the golden reference outputs in tests/data/golden/ with R's surveillance package
# (Debian: r-base-core, r-cran-surveillance) and, for the effect figures, effectsize (Debian:
# r-cran-effectsize). Only needed when the series, the control sets or the effect data sets
# change; the outputs are committed so that CI does not need R.
#   bash tests/golden/make.sh
set -eu
cd "$(dirname "$0")/../.."
if ! Rscript -e 'suppressMessages(library(surveillance))' 2>/dev/null; then
    echo "make.sh: needs R with surveillance: apt-get install r-cran-surveillance" >&2
    exit 1
fi
if ! Rscript -e 'suppressMessages(library(effectsize))' 2>/dev/null; then
    echo "make.sh: needs R with effectsize: apt-get install r-cran-effectsize" >&2
    exit 1
fi
out=tests/data/golden
Rscript tests/golden/series.R "$out/series.tsv"
Rscript tests/golden/farrington.R "$out/series.tsv" "$out/farrington.tsv"
if [ -f tests/golden/ears.R ]; then
    Rscript tests/golden/ears.R "$out/series.tsv" "$out/ears.tsv"
fi
Rscript tests/golden/effect.R "$out"
Rscript -e 'cat("surveillance", as.character(packageVersion("surveillance")), "\n")' \
    >"$out/VERSION"
echo "make.sh: golden files written to $out"
