#!/usr/bin/env bash
# Regenerates the golden reference outputs in tests/data/golden/ with R's surveillance package
# (Debian: r-base-core, r-cran-surveillance). Only needed when the series or the control sets
# change; the outputs are committed so that CI does not need R.
#   bash tests/golden/make.sh
set -eu
cd "$(dirname "$0")/../.."
if ! Rscript -e 'suppressMessages(library(surveillance))' 2>/dev/null; then
    echo "make.sh: needs R with surveillance: apt-get install r-cran-surveillance" >&2
    exit 1
fi
out=tests/data/golden
Rscript tests/golden/series.R "$out/series.tsv"
Rscript tests/golden/farrington.R "$out/series.tsv" "$out/farrington.tsv"
if [ -f tests/golden/ears.R ]; then
    Rscript tests/golden/ears.R "$out/series.tsv" "$out/ears.tsv"
fi
Rscript -e 'cat("surveillance", as.character(packageVersion("surveillance")), "\n")' \
    >"$out/VERSION"
echo "make.sh: golden files written to $out"
