#!/usr/bin/env python3
"""Writes a SYNTHETIC, labelled data set of the CARE side (trajectories, service contacts, ZRM
outcome measurements) of eight welfare organisations in Leeuwarden, for the benchmark and the
effect measurement: one CSV export per organisation in the format of `wijkradar ingest`
(README.md, "Uploading case signals"), ORG.csv in --out-dir, plus truth.json with what was
planted.

Nothing in it describes real people. Each organisation serves a disjoint set of the 22 wijken of
deploy/data/leeuwarden_wijken_2024.csv (ORGS below; sizes differ, de-brug is small). Per week
and wijk the number of new trajectories is Poisson with mean population / 1,000 x the
organisation's weekly rate. A trajectory has a theme (GELD, RELATIES, OPGROEIEN, MANTELZORG,
EENZAAM, weighted), a person (64-hex pseudonym: SHA-256 of a synthetic id), an age band (by
theme) and a trajectory pseudonym, and gives these signals:
  - `trajectory` opened in its start week;
  - `contact`s: the first after a waiting time (geometric, capped; per organisation), then each
    week with the organisation's contact probability until it closes (or the data end). Its
    modes come from the organisation's mix (kwadrant is strong in group work, samen-west in
    online help, the others mostly individual); a share is blended (two or three modes, each
    used at least once, the first contacts);
  - `outcome` ZRM in the theme's domain (DOMAINS): phase intake at the first contact, phase end
    in the closing week; intake 1..4 (mostly 2-3), end = round(intake + effect + noise) clipped
    to 1..5, where the effect depends on theme and service class (EFFECT: individual best on
    GELD, group and blended better on EENZAAM, online small); a share per organisation (about
    15%) lacks the end measurement;
  - `trajectory` closed after waiting + a gamma-distributed service time (per organisation),
    only when that week is within the data; the others stay open.
About 10% of the persons whose trajectory closed come back with a new trajectory 2..50 weeks
later (re-registration within 12 months). Service class of a trajectory: "blended" when its
contacts use two or more modes, else that one mode. Seeded: the same arguments give the same
files (each organisation has its own generator, so one file does not depend on the others).

At the end one summary line per organisation goes to stderr, then the planted and realised mean
ZRM change per theme and service class; truth.json holds these, per organisation too, with the
benchmark figures as generated (reach, mode mix, waiting time, duration, % before and after,
re-registrations).

Usage: deploy/synthetic_care.py --out-dir DIR [--weeks 78] [--end-week YYYY-Www]
                                [--seed 20261126] [--scale 1.0]
"""
import argparse
import csv
import datetime
import hashlib
import json
import math
import os
import random
import sys

# The calendar helpers and the Poisson draw of the need-signal generator beside this file.
from synthetic import iso_week_monday, poisson, week_label

# code: (wijken, new trajectories per 1,000 inhabitants per week, mode mix (individual, online,
# group), share blended, waiting time (geometric p, cap in weeks), mean service weeks,
# contact probability per week, share without end measurement)
ORGS = {
    "welzijn-noord": (["WK008060", "WK008061", "WK008062", "WK008063"],
                      0.90, (0.75, 0.10, 0.15), 0.20, (0.45, 12), 12, 0.60, 0.12),
    "sociaal-oost": (["WK008020", "WK008050", "WK008051"],
                     1.30, (0.70, 0.10, 0.20), 0.25, (0.30, 16), 16, 0.55, 0.18),
    "samen-west": (["WK008030", "WK008031", "WK008032"],
                   0.80, (0.45, 0.40, 0.15), 0.35, (0.60, 8), 10, 0.70, 0.15),
    "welzijn-zuid": (["WK008070", "WK008071", "WK008072", "WK008073", "WK008074"],
                     0.60, (0.80, 0.08, 0.12), 0.15, (0.50, 12), 14, 0.60, 0.10),
    "kwadrant": (["WK008010", "WK008011"],
                 1.00, (0.40, 0.10, 0.50), 0.35, (0.40, 12), 12, 0.75, 0.14),
    "buurtkracht": (["WK008040", "WK008041"],
                    1.10, (0.70, 0.12, 0.18), 0.20, (0.25, 20), 18, 0.50, 0.25),
    "het-anker": (["WK008081", "WK008082"],
                  0.70, (0.78, 0.12, 0.10), 0.12, (0.55, 10), 8, 0.65, 0.08),
    "de-brug": (["WK008080"],
                0.50, (0.72, 0.15, 0.13), 0.18, (0.35, 14), 10, 0.60, 0.20),
}
THEMES = {"GELD": 30, "RELATIES": 20, "OPGROEIEN": 15, "MANTELZORG": 12, "EENZAAM": 23}
# ZRM domain measured per theme (the daemon takes any code; these follow the ZRM's domains).
DOMAINS = {"GELD": "FINANCIEN", "RELATIES": "HUISELIJKE_RELATIES", "OPGROEIEN": "OPVOEDING",
           "MANTELZORG": "MANTELZORG", "EENZAAM": "SOCIAAL_NETWERK"}
MODES = ("individual", "online", "group")
CLASSES = MODES + ("blended",)
# Planted mean ZRM change (end - intake, before rounding and clipping) per theme and class.
EFFECT = {
    "GELD":       {"individual": 1.00, "online": 0.30, "group": 0.50, "blended": 0.80},
    "RELATIES":   {"individual": 0.70, "online": 0.30, "group": 0.50, "blended": 0.70},
    "OPGROEIEN":  {"individual": 0.70, "online": 0.40, "group": 0.60, "blended": 0.80},
    "MANTELZORG": {"individual": 0.60, "online": 0.30, "group": 0.70, "blended": 0.80},
    "EENZAAM":    {"individual": 0.50, "online": 0.20, "group": 0.90, "blended": 1.00},
}
NOISE_SD = 0.75
INTAKE = {1: 10, 2: 40, 3: 40, 4: 10}
AGE_BY_THEME = {
    "GELD": {"18-26": 15, "27-44": 35, "45-64": 30, "65-74": 12, "75+": 8},
    "RELATIES": {"18-26": 12, "27-44": 45, "45-64": 30, "65-74": 8, "75+": 5},
    "OPGROEIEN": {"12-17": 20, "18-26": 10, "27-44": 55, "45-64": 15},
    "MANTELZORG": {"18-26": 5, "27-44": 15, "45-64": 40, "65-74": 25, "75+": 15},
    "EENZAAM": {"18-26": 12, "27-44": 10, "45-64": 18, "65-74": 25, "75+": 35},
}
RETURN_SHARE = 0.10          # persons with a closed trajectory who come back ...
RETURN_GAP = (2, 50)         # ... this many weeks after closing
RETURN_SAME_THEME = 0.6
HEADER = ["signal_id", "team", "area_code", "area_year", "iso_week", "subject", "age_band",
          "trajectory", "kind", "theme", "mode", "instrument", "domain", "phase", "score",
          "event"]




def pick(rng, weights):
    """A key of {key: weight}."""
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def quantile(values, q):
    """R's default (type 7) quantile; None for no values."""
    if not values:
        return None
    v = sorted(values)
    h = (len(v) - 1) * q
    lo = math.floor(h)
    return v[lo] + (h - lo) * (v[min(lo + 1, len(v) - 1)] - v[lo])


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def generate(org, spec, population, weeks, seed, scale):
    """The signals of one organisation, as (week index, row) in export order, and its truth."""
    wijken, rate, mix, p_blend, (p_wait, wait_cap), service_mean, p_contact, p_no_end = spec
    rng = random.Random(f"{seed}|{org}")
    n_weeks = len(weeks)
    labels = [week_label(m) for m in weeks]
    rows = []
    persons = {}        # person number -> wijk
    returns = {}        # week index -> [(person, wijk, age band, previous theme, close week)]
    traj = []           # per trajectory: dict of what was generated (for the truth)
    pairs = []          # (theme, class, intake, end)
    next_person = 0

    def emit(i, sid, code, subject, age, tpseudo, kind, theme, mode="", domain="", phase="",
             score="", event=""):
        rows.append((i, [f"care-{org}-{sid}", f"team-{code[-2:]}", code, 2024, labels[i],
                         subject, age, tpseudo, kind, theme, mode,
                         "ZRM" if kind == "outcome" else "", domain, phase, score, event]))

    def trajectory(i, code, person, age, theme, returning):
        t = len(traj)
        subject = sha(f"synthetic-care|{org}|person|{person}")
        tpseudo = sha(f"synthetic-care|{org}|trajectory|{t}")
        sid = f"t{t:06d}"
        emit(i, f"{sid}-open", code, subject, age, tpseudo, "trajectory", theme, event="opened")
        wait = 0
        while wait < wait_cap and rng.random() > p_wait:
            wait += 1
        service = max(1, min(52, round(rng.gammavariate(2.0, service_mean / 2.0))))
        first, close = i + wait, i + wait + service
        # Planned modes: one from the mix, or two or three distinct ones (blended).
        k = 1 if rng.random() >= p_blend else (3 if rng.random() < 0.2 else 2)
        modes = []
        while len(modes) < k:
            m = rng.choices(MODES, weights=mix)[0]
            if m not in modes:
                modes.append(m)
        contacts = []
        if first < n_weeks:
            contact_weeks = [first] + [w for w in range(first + 1, min(close, n_weeks - 1) + 1)
                                       if rng.random() < p_contact]
            while len(contact_weeks) < k:      # every planned mode used at least once
                contact_weeks.append(contact_weeks[-1])
            order = rng.sample(modes, k)
            for j, w in enumerate(contact_weeks):
                m = order[j] if j < k else rng.choices(modes, weights=[2] + [1] * (k - 1))[0]
                contacts.append((w, m))
        used = sorted({m for _, m in contacts})
        cls = None if not used else ("blended" if len(used) > 1 else used[0])
        for j, (w, m) in enumerate(contacts):
            emit(w, f"{sid}-c{j:03d}", code, subject, age, tpseudo, "contact", theme, mode=m)
        intake = end = None
        if contacts:
            intake = pick(rng, INTAKE)
            emit(first, f"{sid}-zrm-intake", code, subject, age, tpseudo, "outcome", theme,
                 domain=DOMAINS[theme], phase="intake", score=intake)
        closed = close < n_weeks
        if closed:
            after = intake + EFFECT[theme][cls] + rng.gauss(0.0, NOISE_SD)
            if rng.random() >= p_no_end:
                end = max(1, min(5, round(after)))
                emit(close, f"{sid}-zrm-end", code, subject, age, tpseudo, "outcome", theme,
                     domain=DOMAINS[theme], phase="end", score=end)
                pairs.append((theme, cls, intake, end))
            emit(close, f"{sid}-close", code, subject, age, tpseudo, "trajectory", theme,
                 event="closed")
            if not returning and rng.random() < RETURN_SHARE:
                back = close + rng.randint(*RETURN_GAP)
                if back < n_weeks:
                    returns.setdefault(back, []).append((person, code, age, theme, close))
        traj.append({"person": person, "open": i, "first": first if contacts else None,
                     "close": close if closed else None, "class": cls, "modes": used,
                     "returning": returning})

    for i in range(n_weeks):
        for person, code, age, theme, _ in returns.pop(i, []):
            if rng.random() >= RETURN_SAME_THEME:
                theme = pick(rng, THEMES)
            trajectory(i, code, person, age, theme, True)
        for code in wijken:
            for _ in range(poisson(rng, population[code] / 1000 * rate * scale)):
                theme = pick(rng, THEMES)
                person, next_person = next_person, next_person + 1
                persons[person] = code
                trajectory(i, code, person, pick(rng, AGE_BY_THEME[theme]), theme, False)
    rows.sort(key=lambda r: r[0])      # stable: an export in week order

    # The truth of this organisation, as generated.
    pop = sum(population[c] for c in wijken)
    served = [t for t in traj if t["class"] is not None]
    closed = [t for t in traj if t["close"] is not None]
    n_pairs = len(pairs)
    truth = {
        "wijken": wijken, "population": pop, "signals": len(rows),
        "trajectories": len(traj), "trajectories_closed": len(closed),
        "trajectories_open": len(traj) - len(closed), "persons": len(persons),
        "reach_per_1000_whole_period": round(len(persons) / pop * 1000, 3),
        "planted": {"rate_per_1000_per_week": rate * scale,
                    "mode_mix": dict(zip(MODES, mix)), "share_blended": p_blend,
                    "waiting_geometric_p": p_wait, "waiting_cap_weeks": wait_cap,
                    "service_weeks_mean": service_mean, "contact_probability": p_contact,
                    "share_without_end": p_no_end},
        "service_class_share": {c: round(sum(t["class"] == c for t in served) /
                                         max(1, len(served)), 4) for c in CLASSES},
        "share_with_group_contact": round(sum("group" in t["modes"] for t in served) /
                                          max(1, len(served)), 4),
        "share_with_online_contact": round(sum("online" in t["modes"] for t in served) /
                                           max(1, len(served)), 4),
        "waiting_weeks": {"n": len(served),
                          "median": quantile([t["first"] - t["open"] for t in served], 0.5),
                          "p90": quantile([t["first"] - t["open"] for t in served], 0.9)},
        "duration_weeks_closed": {"n": len(closed),
                                  "median": quantile([t["close"] - t["open"] for t in closed],
                                                     0.5),
                                  "p90": quantile([t["close"] - t["open"] for t in closed],
                                                  0.9)},
        "pairs": n_pairs,
        "share_closed_with_before_and_after": round(n_pairs / max(1, len(closed)), 4),
        "reregistrations": sum(t["returning"] for t in traj),
    }
    # Persons whose first trajectory closed with the whole return window inside the data.
    back = {t["person"] for t in traj if t["returning"]}
    cohort = [t["person"] for t in closed
              if not t["returning"] and t["close"] + RETURN_GAP[1] < n_weeks]
    truth["reregistration_cohort"] = {
        "persons_closed_with_full_window": len(cohort),
        "came_back": sum(p in back for p in cohort),
        "share": round(sum(p in back for p in cohort) / len(cohort), 4) if cohort else None}
    return rows, truth, pairs


def effect_summary(pairs):
    """{theme: {class: {"n", "mean_change"}}} of (theme, class, intake, end) pairs."""
    out = {}
    for theme in THEMES:
        out[theme] = {}
        for cls in CLASSES:
            d = [e - b for t, c, b, e in pairs if t == theme and c == cls]
            out[theme][cls] = {"n": len(d),
                               "mean_change": round(sum(d) / len(d), 4) if d else None}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", required=True, help="directory for ORG.csv and truth.json")
    ap.add_argument("--weeks", type=int, default=78)
    ap.add_argument("--end-week", help="last week, YYYY-Www (default: last complete week)")
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiplies every organisation's rate of new trajectories")
    ap.add_argument("--areas", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    "data", "leeuwarden_wijken_2024.csv"))
    args = ap.parse_args()

    if args.end_week:
        y, w = args.end_week.split("-W")
        end = iso_week_monday(int(y), int(w))
    else:
        today = datetime.date.today()
        end = today - datetime.timedelta(days=today.weekday() + 7)
    weeks = [end - datetime.timedelta(weeks=k) for k in range(args.weeks - 1, -1, -1)]
    with open(args.areas, newline="", encoding="utf-8") as f:
        population = {r["wk_code"]: int(r["inwoners_2024"]) for r in csv.DictReader(f)
                      if r["wk_code"].startswith("WK")}
    served = [c for spec in ORGS.values() for c in spec[0]]
    if sorted(served) != sorted(population) or len(set(served)) != len(served):
        sys.exit("synthetic_care.py: ORGS must split the wijken of --areas without overlap")

    os.makedirs(args.out_dir, exist_ok=True)
    truth = {"synthetic": True, "seed": args.seed, "weeks": args.weeks,
             "first_week": week_label(weeks[0]), "last_week": week_label(weeks[-1]),
             "instrument": "ZRM", "domains": DOMAINS, "theme_weights": THEMES,
             "service_class": "blended when a trajectory's contacts use two or more modes, "
                              "else its one mode",
             "planted_effect": {"noise_sd": NOISE_SD, "intake_weights": INTAKE,
                                "mean_change": EFFECT,
                                "end": "round(intake + mean_change + N(0, noise_sd)), "
                                       "clipped to 1..5"},
             "reregistration": {"share_of_closed_persons": RETURN_SHARE,
                                "weeks_after_closing": list(RETURN_GAP)},
             "organisations": {}}
    all_pairs = []
    for org, spec in ORGS.items():
        rows, org_truth, pairs = generate(org, spec, population, weeks, args.seed, args.scale)
        with open(os.path.join(args.out_dir, f"{org}.csv"), "w", newline="",
                  encoding="utf-8") as out:
            w = csv.writer(out, lineterminator="\n")
            w.writerow(HEADER)
            w.writerows(r for _, r in rows)
        org_truth["effect"] = effect_summary(pairs)
        truth["organisations"][org] = org_truth
        all_pairs += pairs
        print(f"synthetic_care.py: {org}: {org_truth['signals']} signals, "
              f"{org_truth['trajectories']} trajectories ({org_truth['trajectories_closed']} "
              f"closed), {org_truth['persons']} persons, {len(org_truth['wijken'])} wijken "
              f"({org_truth['population']} inhabitants), {org_truth['pairs']} ZRM pairs",
              file=sys.stderr)
    truth["effect"] = effect_summary(all_pairs)
    with open(os.path.join(args.out_dir, "truth.json"), "w", encoding="utf-8") as f:
        json.dump(truth, f, indent=1, sort_keys=False)
        f.write("\n")

    total = sum(o["signals"] for o in truth["organisations"].values())
    print(f"synthetic_care.py: {total} signals, weeks {truth['first_week']}.."
          f"{truth['last_week']} (seed {args.seed}); planted mean ZRM change per theme and "
          f"class (realised mean, pairs), all organisations:", file=sys.stderr)
    for theme in THEMES:
        cells = []
        for cls in CLASSES:
            r = truth["effect"][theme][cls]
            got = "-" if r["mean_change"] is None else f"{r['mean_change']:.2f}"
            cells.append(f"{cls} {EFFECT[theme][cls]:.2f} ({got}, n={r['n']})")
        print(f"  {theme}: " + "; ".join(cells), file=sys.stderr)
    print(f"synthetic_care.py: truth in {os.path.join(args.out_dir, 'truth.json')}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
