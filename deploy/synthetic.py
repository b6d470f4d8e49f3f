#!/usr/bin/env python3
"""Writes a SYNTHETIC, labelled data set of case signals for Leeuwarden, for the demo and the
tests: a CSV export in the format of `wijkradar ingest` (README.md, "Uploading case signals").

Nothing in it describes real people. Per wijk of deploy/data/leeuwarden_wijken_2024.csv, per
need theme and per ISO week, the number of distinct persons with a need is drawn from a Poisson
distribution with mean population x weekly rate of the theme x season, where the season is
1 + amplitude x cos(2 pi (week - peak) / 52) (loneliness peaks in winter, money questions in
January). One rise is injected, labelled in the output: EENZAAM (loneliness) in WK008020
Oud-Oost, `--rise` extra persons per week over the last `--rise-weeks` weeks. Subjects are
64-hex pseudonyms (SHA-256 of a synthetic id), as a source system would send. Seeded: the same
arguments give the same file.

Usage: deploy/synthetic.py [--weeks 270] [--end-week YYYY-Www] [--seed 20261125]
                           [--rise 10] [--rise-weeks 3] [--out FILE]
"""
import argparse
import csv
import datetime
import hashlib
import math
import os
import random
import sys

# Weekly distinct persons per 1,000 inhabitants, and the season (amplitude, peak week).
THEMES = {
    "GELD": (0.30, 0.20, 3), "WERK": (0.20, 0.10, 36), "WONEN": (0.15, 0.05, 10),
    "RELATIES": (0.14, 0.10, 2), "OPGROEIEN": (0.16, 0.15, 38), "MANTELZORG": (0.10, 0.05, 48),
    "EENZAAM": (0.28, 0.30, 51), "MEEDOEN": (0.12, 0.20, 40), "PSYCHE": (0.18, 0.15, 5),
    "LICHAAM": (0.12, 0.10, 6), "MIDDELEN": (0.05, 0.05, 1), "ZELFZORG": (0.09, 0.10, 50),
    "VEILIG": (0.04, 0.05, 30), "OVERIG": (0.06, 0.00, 1),
}
AGE_BANDS = ["0-11", "12-17", "18-26", "27-44", "45-64", "65-74", "75+"]
RISE_AREA, RISE_THEME = "WK008020", "EENZAAM"


def iso_week_monday(year, week):
    return datetime.date.fromisocalendar(year, week, 1)


def week_label(monday):
    y, w, _ = monday.isocalendar()
    return f"{y}-W{w:02d}"


def poisson(rng, mean):
    # Knuth's method; means here are small.
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weeks", type=int, default=270)
    ap.add_argument("--end-week", help="last week, YYYY-Www (default: last complete week)")
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--rise", type=int, default=10)
    ap.add_argument("--rise-weeks", type=int, default=3)
    ap.add_argument("--areas", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    "data", "leeuwarden_wijken_2024.csv"))
    ap.add_argument("--out", default="-")
    args = ap.parse_args()

    if args.end_week:
        y, w = args.end_week.split("-W")
        end = iso_week_monday(int(y), int(w))
    else:
        today = datetime.date.today()
        end = today - datetime.timedelta(days=today.weekday() + 7)
    weeks = [end - datetime.timedelta(weeks=k) for k in range(args.weeks - 1, -1, -1)]
    with open(args.areas, newline="", encoding="utf-8") as f:
        areas = [(r["wk_code"], int(r["inwoners_2024"])) for r in csv.DictReader(f)
                 if r["wk_code"].startswith("WK")]

    rng = random.Random(args.seed)
    out = sys.stdout if args.out == "-" else open(args.out, "w", newline="", encoding="utf-8")
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["signal_id", "team", "area_code", "area_year", "iso_week", "subject", "age_band",
                "trajectory", "kind", "theme", "mode", "instrument", "domain", "phase", "score",
                "event"])
    n = 0
    for i, monday in enumerate(weeks):
        label = week_label(monday)
        woy = monday.isocalendar()[1]
        for code, population in areas:
            for theme, (rate, amplitude, peak) in THEMES.items():
                season = 1 + amplitude * math.cos(2 * math.pi * (woy - peak) / 52)
                mean = population / 1000 * rate * season
                k = poisson(rng, mean)
                if code == RISE_AREA and theme == RISE_THEME and i >= len(weeks) - args.rise_weeks:
                    k += args.rise
                for person in rng.sample(range(population), min(k, population)):
                    subject = hashlib.sha256(f"synthetic|{code}|{person}".encode()).hexdigest()
                    w.writerow([f"syn-{label}-{code}-{theme}-{person}", f"team-{code[-2:]}", code,
                                2024, label, subject, rng.choice(AGE_BANDS), "", "need", theme,
                                "", "", "", "", "", ""])
                    n += 1
    if out is not sys.stdout:
        out.close()
    print(f"synthetic.py: {n} need signals, {len(areas)} wijken, {len(THEMES)} themes, weeks "
          f"{week_label(weeks[0])}..{week_label(weeks[-1])}; injected: {RISE_THEME} in "
          f"{RISE_AREA} +{args.rise} persons/week over the last {args.rise_weeks} weeks "
          f"(seed {args.seed})", file=sys.stderr)


if __name__ == "__main__":
    main()
