#!/usr/bin/env python3
"""Compares the C and R Farrington results of the detection benchmark's sample (bench/detect).

    detect_compare.py DIR   (reads DIR/c_results.tsv, r_results.tsv, c_time.tsv, r_time.tsv,
                             sample_meta.tsv)

Per series (current week): upper bound, expected, p-value, score, mu0 and phi must agree within
1e-6 relative (the golden tests' tolerance; NaN only with NaN), alarm and trend decisions must be
identical. Prints the worst relative difference per field, the number of disagreements, and the
speed ratio R / C per series on the same sample. Exit status 3 when the results disagree, 1 when
the two sides do not hold the same series, else 0 (a missed speed target is a figure, not a
failure)."""
import csv
import math
import sys

FIELDS = ["upperbound", "expected", "pvalue", "score", "mu0", "phi"]
TOL = 1e-6


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def num(s):
    return float("nan") if s in ("nan", "NA", "") else float(s)


def rel(a, b):
    """Relative difference, or None when exactly one side is NaN/inf-mismatched."""
    if math.isnan(a) or math.isnan(b):
        return 0.0 if math.isnan(a) and math.isnan(b) else None
    if math.isinf(a) or math.isinf(b):
        return 0.0 if a == b else None
    return abs(a - b) / max(abs(a), 1e-12)


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "."
    c = {r["series"]: r for r in read(f"{d}/c_results.tsv")}
    r = {x["series"]: x for x in read(f"{d}/r_results.tsv")}
    meta = {m["series"]: m for m in read(f"{d}/sample_meta.tsv")}
    if set(c) != set(r):
        print(f"compare: the C and R sides hold different series ({len(c)} vs {len(r)})")
        return 1
    worst = {f: (0.0, "") for f in FIELDS}
    bad = []
    alarms_r = alarms_c = trends_r = planted = 0
    for name, rr in r.items():
        cc = c[name]
        planted += meta[name]["planted"] == "1"
        alarms_r += rr["alarm"] == "1"
        alarms_c += cc["alarm"] == "1"
        trends_r += rr["trend"] == "1"
        why = []
        if rr["alarm"] != cc["alarm"]:
            why.append(f"alarm R {rr['alarm']} C {cc['alarm']}")
        if rr["trend"] != cc["trend"]:
            why.append(f"trend R {rr['trend']} C {cc['trend']}")
        for f in FIELDS:
            a, b = num(rr[f]), num(cc[f])
            e = rel(a, b)
            if e is None or e > TOL:
                why.append(f"{f} R {rr[f]} C {cc[f]}")
            if e is not None and e > worst[f][0]:
                worst[f] = (e, name)
        if why:
            bad.append((name, why))
    n = len(r)
    print(f"compare    series={n} (planted rises {planted}) alarms R={alarms_r} C={alarms_c} "
          f"trend_kept R={trends_r} disagreements={len(bad)} (tolerance {TOL:g} relative; "
          "alarm and trend identical)")
    print("compare    worst relative difference: " +
          " ".join(f"{f}={worst[f][0]:.3g}" for f in FIELDS) +
          f" (upperbound at {worst['upperbound'][1] or '-'})")
    for name, why in bad[:20]:
        print(f"compare    DISAGREE {name}: " + "; ".join(why))
    ct = read(f"{d}/c_time.tsv")[0]
    rt = read(f"{d}/r_time.tsv")[0]
    c_us = float(ct["us_per_series_mean"])
    r_us = float(rt["us_per_series"])
    r_cpu = float(rt["cpu_us_per_series"])
    print(f"speed      same {n} series, current week, single-threaded: R {r_us:.0f} us/series "
          f"(cpu {r_cpu:.0f}; R {rt['r_version']}, surveillance {rt['surveillance']}), "
          f"C {c_us:.1f} us/series (mean of {ct['reps']} reps; best rep "
          f"{float(ct['us_per_series_best']):.1f}) -> R/C = {r_us / c_us:.1f}x "
          f"(best rep {r_us / float(ct['us_per_series_best']):.1f}x; target >= 100x)")
    c_cpu = float(ct["cpu_us_per_series_mean"])
    print(f"speed      by CPU time (less sensitive to other load): R {r_cpu:.0f} us/series, "
          f"C {c_cpu:.1f} us/series -> R/C = {r_cpu / c_cpu:.1f}x")
    return 3 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
