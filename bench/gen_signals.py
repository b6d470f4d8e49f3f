#!/usr/bin/python3
"""Generates a realistic synthetic export of case signals for the ingest benchmark.

Writes the CSV export that `wijkradar ingest` reads (header and value spellings of
daemon/cli_ingest.c) and, with --protobuf, the same signals as one SignalBatch file.
Deterministic for a given --seed and current ISO week. Standard library only (plus
google.protobuf and protoc for --protobuf).

Shape of the data: mostly need signals, then service contacts, ZRM outcome measurements (scores
1..5) and trajectory events; 20 Leeuwarden wijken (WK0080xx, area year 2024); ISO weeks over the
two years before the current week (the daemon rejects future weeks); about 50,000 persons, each
living in one wijk with one age band, most with a trajectory; signal ids unique
("bench-0000001"). Rows are in chronological order, as a nightly export would be.
"""

import argparse
import datetime
import hashlib
import os
import random
import subprocess
import sys
import tempfile

# 20 of the 22 wijken in deploy/data/leeuwarden_wijken_2024.csv, with a rough population weight.
WIJKEN = [
    ("WK008010", 6710), ("WK008011", 8590), ("WK008020", 12410), ("WK008030", 8255),
    ("WK008031", 3840), ("WK008032", 5170), ("WK008040", 6430), ("WK008041", 4050),
    ("WK008050", 3630), ("WK008051", 10370), ("WK008060", 6910), ("WK008061", 3630),
    ("WK008062", 3595), ("WK008063", 8625), ("WK008070", 6990), ("WK008071", 3355),
    ("WK008072", 5770), ("WK008073", 4000), ("WK008080", 4035), ("WK008082", 8390),
]
AREA_YEAR = 2024

# Themes of sql/002_signals.sql with a rough frequency in a wijkteam's registrations.
THEMES = [
    ("GELD", 18), ("WONEN", 10), ("EENZAAM", 12), ("PSYCHE", 12), ("RELATIES", 9),
    ("OPGROEIEN", 8), ("WERK", 6), ("MANTELZORG", 5), ("MEEDOEN", 4), ("LICHAAM", 6),
    ("ZELFZORG", 4), ("MIDDELEN", 3), ("VEILIG", 2), ("OVERIG", 1),
]
# Kinds: (csv spelling, weight).
KINDS = [("need", 60), ("contact", 25), ("outcome", 10), ("trajectory", 5)]
AGE_BANDS = [("0-11", 6), ("12-17", 8), ("18-26", 12), ("27-44", 24), ("45-64", 24),
             ("65-74", 13), ("75+", 13)]
MODES = [("individual", 70), ("online", 15), ("group", 15)]
PHASES = [("intake", 40), ("intermediate", 25), ("end", 25), ("follow_up", 10)]
ZRM_DOMAINS = ["FINANCIEN", "DAGBESTEDING", "HUISVESTING", "HUISELIJKE_RELATIES",
               "GEESTELIJKE_GEZONDHEID", "LICHAMELIJKE_GEZONDHEID", "MIDDELENGEBRUIK",
               "ADL", "SOCIAAL_NETWERK", "MAATSCHAPPELIJKE_PARTICIPATIE", "JUSTITIE"]

CSV_HEADER = ("signal_id,team,area_code,area_year,iso_week,subject,age_band,trajectory,kind,"
              "theme,mode,instrument,domain,phase,score,event")

# Wire enum numbers (proto/wijkradar.proto) of the CSV spellings.
AGE_ENUM = {name: i + 1 for i, (name, _) in enumerate(AGE_BANDS)}
MODE_ENUM = {"individual": 1, "online": 2, "group": 3}
PHASE_ENUM = {"intake": 1, "intermediate": 2, "end": 3, "follow_up": 4}
EVENT_ENUM = {"opened": 1, "closed": 2}


def weighted(pairs):
    """(values, cumulative weights) for random.choices."""
    values = [v for v, _ in pairs]
    cum, total = [], 0
    for _, w in pairs:
        total += w
        cum.append(total)
    return values, cum


def current_monday_utc():
    """Monday of the current ISO week in UTC (the daemon judges "future" in UTC)."""
    today = datetime.datetime.now(datetime.timezone.utc).date()
    return today - datetime.timedelta(days=today.weekday())


def iso_week_of(monday):
    y, w, _ = monday.isocalendar()
    return f"{y}-W{w:02d}"


def pseudonym(label):
    """64 lower-case hex characters, as a source's HMAC-SHA-256 pseudonym looks."""
    return hashlib.sha256(label.encode()).hexdigest()


def generate(n, n_subjects, seed, n_weeks=104):
    """Yields n CSV rows (lists of 16 strings), chronological by week."""
    rng = random.Random(seed)
    last = current_monday_utc() - datetime.timedelta(weeks=1)
    weeks = [iso_week_of(last - datetime.timedelta(weeks=k)) for k in range(n_weeks)][::-1]
    # Mild seasonality: fewer registrations in summer and around new year, slow growth.
    week_w = []
    for i, wk in enumerate(weeks):
        num = int(wk[6:])
        season = 0.6 if 28 <= num <= 33 or num >= 52 or num == 1 else 1.0
        week_w.append(season * (1.0 + 0.3 * i / n_weeks))
    wijk_codes, wijk_cum = weighted(WIJKEN)
    theme_codes, theme_cum = weighted(THEMES)
    kind_names, kind_cum = weighted(KINDS)
    age_names, age_cum = weighted(AGE_BANDS)
    mode_names, mode_cum = weighted(MODES)
    phase_names, phase_cum = weighted(PHASES)

    subjects = []
    for s in range(n_subjects):
        area = rng.choices(wijk_codes, cum_weights=wijk_cum)[0]
        themes = rng.choices(theme_codes, cum_weights=theme_cum, k=2)
        traj = pseudonym(f"bench-trajectory-{s}") if rng.random() < 0.7 else ""
        subjects.append((pseudonym(f"bench-client-{s}"), area,
                         rng.choices(age_names, cum_weights=age_cum)[0], themes, traj))
    # Some persons come much more often than others.
    subj_w = [rng.paretovariate(1.5) for _ in range(n_subjects)]
    counts = [0] * n_weeks
    for i in rng.choices(range(n_weeks), weights=week_w, k=n):
        counts[i] += 1

    seq = 0
    for wi, wk in enumerate(weeks):
        for s in rng.choices(range(n_subjects), weights=subj_w, k=counts[wi]):
            subject, area, age, themes, traj = subjects[s]
            seq += 1
            kind = rng.choices(kind_names, cum_weights=kind_cum)[0]
            theme = themes[0] if rng.random() < 0.6 else (
                themes[1] if rng.random() < 0.5 else
                rng.choices(theme_codes, cum_weights=theme_cum)[0])
            if kind == "trajectory" and not traj:
                kind = "need"
            # Most persons stay in their wijk; a few signals come from a neighbouring team.
            if rng.random() < 0.03:
                area = rng.choices(wijk_codes, cum_weights=wijk_cum)[0]
            mode = instrument = domain = phase = score = event = ""
            if kind == "contact":
                mode = rng.choices(mode_names, cum_weights=mode_cum)[0]
            elif kind == "outcome":
                instrument = "ZRM"
                domain = rng.choice(ZRM_DOMAINS)
                phase = rng.choices(phase_names, cum_weights=phase_cum)[0]
                score = str(rng.choices((1, 2, 3, 4, 5), weights=(8, 22, 35, 25, 10))[0])
            elif kind == "trajectory":
                event = "opened" if rng.random() < 0.55 else "closed"
            use_traj = traj if kind != "need" or rng.random() < 0.3 else ""
            yield [f"bench-{seq:07d}", "team-" + area[2:].lower(), area, str(AREA_YEAR), wk,
                   subject, age, use_traj, kind, theme, mode, instrument, domain, phase,
                   score, event]


def write_csv(path, rows):
    """Writes the header and rows (no field needs quoting). Returns the number of rows."""
    n = 0
    with open(path, "w", encoding="ascii", newline="") as f:
        f.write(CSV_HEADER + "\n")
        for r in rows:
            f.write(",".join(r) + "\n")
            n += 1
    return n


def protobuf_module(workdir):
    """Imports wijkradar_pb2, generated with protoc from proto/wijkradar.proto into workdir."""
    proto_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "proto")
    subprocess.run(["protoc", f"--proto_path={proto_dir}", f"--python_out={workdir}",
                    "wijkradar.proto"], check=True)
    sys.path.insert(0, workdir)
    import wijkradar_pb2  # noqa: E402 (generated just now)
    return wijkradar_pb2


def signal_batch(pb, rows, organisation, source, batch_id):
    """A SignalBatch message (of module `pb`, see protobuf_module) holding rows."""
    batch = pb.SignalBatch(batch_id=batch_id, source=source, organisation=organisation)
    for (sid, team, area, year, wk, subject, age, traj, kind, theme, mode, instrument, domain,
         phase, score, event) in rows:
        s = batch.signals.add(signal_id=sid, team=team, area_code=area, area_year=int(year),
                              iso_week=wk, subject=subject, age_band=AGE_ENUM[age],
                              trajectory=traj)
        if kind == "need":
            s.need.theme = theme
        elif kind == "contact":
            s.contact.theme = theme
            s.contact.mode = MODE_ENUM[mode]
        elif kind == "outcome":
            s.outcome.theme = theme
            s.outcome.instrument = instrument
            s.outcome.domain = domain
            s.outcome.phase = PHASE_ENUM[phase]
            s.outcome.score = float(score)
        else:
            s.trajectory_event.theme = theme
            s.trajectory_event.type = EVENT_ENUM[event]
    return batch


def write_protobuf(path, rows, organisation, source, batch_id, workdir):
    """Writes rows as one SignalBatch. Returns the number of signals."""
    batch = signal_batch(protobuf_module(workdir), rows, organisation, source, batch_id)
    with open(path, "wb") as f:
        f.write(batch.SerializeToString())
    return len(batch.signals)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--signals", type=int, default=500000, help="number of signals (500000)")
    ap.add_argument("--subjects", type=int, default=50000, help="distinct persons (50000)")
    ap.add_argument("--seed", type=int, default=20240, help="random seed (20240)")
    ap.add_argument("--csv", help="write the CSV export here")
    ap.add_argument("--protobuf", help="write one SignalBatch here")
    ap.add_argument("--organisation", default="org-a", help="for --protobuf (org-a)")
    ap.add_argument("--source", default="bench", help="for --protobuf (bench)")
    args = ap.parse_args(argv)
    if args.signals < 1 or args.subjects < 1 or not (args.csv or args.protobuf):
        ap.error("need --signals >= 1, --subjects >= 1 and --csv and/or --protobuf")
    rows = list(generate(args.signals, args.subjects, args.seed))
    if args.csv:
        write_csv(args.csv, rows)
    if args.protobuf:
        with tempfile.TemporaryDirectory(prefix="wr-gen.") as tmp:
            write_protobuf(args.protobuf, rows, args.organisation, args.source, "bench-all",
                           tmp)
    print(f"gen_signals: {len(rows)} signals, {args.subjects} persons", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
