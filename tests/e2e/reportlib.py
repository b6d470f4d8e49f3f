"""Shared helpers for the report end-to-end tests (test_reports.py; docs/benchmark.md).

Data: the synthetic care set of deploy/synthetic_care.py (eight organisations over the 22
Leeuwarden wijken, 78 weeks ending at the last complete ISO week), uploaded with the real
`wijkradar ingest` through a running daemon into a module *template* database, plus a little
that the generator does not make: contacts and measurements without a trajectory for one
organisation, a rejected upload, alerts and an initiative.

Everything the tests expect is computed here, from the CSV files, by the definitions of
docs/benchmark.md (a week belongs to the period of its Thursday, one pair per person, ...),
never by running the daemon's SQL. Published figures pass disclosure control (random rounding
to a multiple of 5 with a secret seed), so an expected figure is a *range*: the values the
published figure can take for any rounding of its counts (see Expect).
"""

import concurrent.futures
import contextlib
import csv
import datetime
import hashlib
import json
import math
import re
import struct
import subprocess
import zlib
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import psycopg2

import detectlib as dl
import ingestlib as il
import wrtest

SYNTHETIC_CARE = wrtest.source_root() / "deploy" / "synthetic_care.py"
PYTHON = "/usr/bin/python3"
SOURCE = "care-export"
INSTRUMENT = "ZRM"
RELIABILITY = 0.80          # instrument ZRM in sql/002_signals.sql
A, B = "kwadrant", "samen-west"
MODES = ("individual", "online", "group", "blended", "none")
CLASSES = ("individual", "online", "group", "blended")

# The status codes of analyzers/disclosure.h (dc_reason_code) and their Dutch notes.
STATUSES = {"shown", "secret", "small_n", "small_denominator", "small_population",
            "secondary", "peer_few", "peer_dominant", "depends"}

# docs/benchmark.md, "Indicators": id -> kind of figure.
INDICATORS = {
    "reach_per_1000": "rate", "collective_reach_per_1000": "rate",
    "blended_pct": "percent", "collective_pct": "percent", "online_pct": "percent",
    "alerts_raised": "plain", "initiatives_after_alerts": "plain",
    "waiting_median_weeks": "quantile", "waiting_p90_weeks": "quantile",
    "duration_median_weeks": "quantile", "duration_p90_weeks": "quantile",
    "with_measurement_pct": "percent", "outcome_change": "mean",
    "reliably_improved_pct": "percent", "reregistered_pct": "percent",
    "rejected_pct": "records", "incomplete_pct": "records",
}

TOKEN_SPECS = {
    "analyst_a": ("analyst", A, None), "analyst_b": ("analyst", B, None),
    "admin": ("admin", A, None), "teamlead_a": ("teamlead", A, None),
    "source_a": ("source", A, SOURCE),
}

# What the template adds to the generated data (see template()).
EXTRA_PERSONS = 9           # persons of A with contacts without a trajectory in the period
EXTRA_OUTCOMES = 4          # ... and measurements without a trajectory
BAD_BATCH = 1000          # records of A's rejected upload ...
BAD_RECORDS = 250         # ... of which invalid (an unknown area)
ALERTS_IN_PERIOD = {A: 3, B: 1}
INITIATIVES_IN_PERIOD = {A: 1}


# --- periods ---------------------------------------------------------------------------------

def period_bounds(label):
    """(first day, day after the last) of "YYYY-Qn" or "YYYY"."""
    m = re.fullmatch(r"([0-9]{4})(?:-Q([1-4]))?", label)
    assert m, label
    year, q = int(m.group(1)), int(m.group(2) or 0)
    if q == 0:
        return datetime.date(year, 1, 1), datetime.date(year + 1, 1, 1)
    start = datetime.date(year, 3 * q - 2, 1)
    end = datetime.date(year + 1, 1, 1) if q == 4 else datetime.date(year, 3 * q + 1, 1)
    return start, end


def last_full_quarter(first_week, last_week):
    """The last quarter all of whose weeks (by their Thursday) lie in first_week..last_week."""
    first_thu = il.monday(first_week) + datetime.timedelta(days=3)
    last_thu = il.monday(last_week) + datetime.timedelta(days=3)
    year, q = last_thu.year, (last_thu.month - 1) // 3 + 1
    while True:
        label = f"{year}-Q{q}"
        start, end = period_bounds(label)
        # Complete when no Thursday of the quarter lies after last_thu.
        if end <= last_thu + datetime.timedelta(days=7):
            assert start >= first_thu, f"no full quarter in {first_week}..{last_week}"
            return label
        year, q = (year, q - 1) if q > 1 else (year - 1, 4)


def shift(period, days):
    """(start, end) of a period moved by days."""
    return period[0] + datetime.timedelta(days=days), period[1] + datetime.timedelta(days=days)


def in_period(monday, period):
    """A week (its Monday) is in the period that holds its Thursday."""
    thursday = monday + datetime.timedelta(days=3)
    return period[0] <= thursday < period[1]


# --- the data --------------------------------------------------------------------------------

def generate(out_dir, end_week):
    """Runs deploy/synthetic_care.py into out_dir; returns truth.json as a dict."""
    cmd = [PYTHON, str(SYNTHETIC_CARE), "--out-dir", str(out_dir), "--end-week", end_week]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=wrtest.CLI_TIMEOUT_S)
    assert proc.returncode == 0, f"synthetic_care.py failed\n{wrtest.describe_run(proc)}"
    return json.loads((Path(out_dir) / "truth.json").read_text())


HEADER = ["signal_id", "team", "area_code", "area_year", "iso_week", "subject", "age_band",
          "trajectory", "kind", "theme", "mode", "instrument", "domain", "phase", "score",
          "event"]


def write_extra(path, org, area, period):
    """A CSV export of `org` with contacts and ZRM intakes WITHOUT a trajectory in the weeks
    of the period: EXTRA_PERSONS persons (individual help, some online too), EXTRA_OUTCOMES
    measurements. Contacts without a trajectory count per person (docs/benchmark.md)."""
    weeks = []
    monday = period[0] - datetime.timedelta(days=period[0].weekday())
    while monday < period[1]:
        if in_period(monday, period):
            weeks.append(monday)
        monday += datetime.timedelta(weeks=1)
    rows = []
    for i in range(EXTRA_PERSONS):
        subject = hashlib.sha256(f"report-e2e|{org}|loose|{i}".encode()).hexdigest()
        w1, w2 = weeks[(2 * i) % len(weeks)], weeks[(2 * i + 3) % len(weeks)]
        rows.append([f"extra-{org}-{i}-c1", "team-extra", area, 2024, il.week_text(w1),
                     subject, "27-44", "", "contact", "GELD", "individual", "", "", "", "", ""])
        if i % 3 == 0:
            rows.append([f"extra-{org}-{i}-c2", "team-extra", area, 2024, il.week_text(w2),
                         subject, "27-44", "", "contact", "GELD", "online", "", "", "", "",
                         ""])
        if i < EXTRA_OUTCOMES:
            rows.append([f"extra-{org}-{i}-zrm", "team-extra", area, 2024, il.week_text(w1),
                         subject, "27-44", "", "outcome", "GELD", "", INSTRUMENT, "FINANCIEN",
                         "intake", "2", ""])
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(rows)
    return Path(path)


def read_rows(path):
    """The records of a CSV export, with "monday" (a date) added."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["monday"] = il.monday(r["iso_week"])
    return rows


def populations():
    """{wk_code: inhabitants} of the area file (year 2024)."""
    with open(il.AREAS_CSV, newline="", encoding="utf-8") as f:
        return {r["wk_code"]: int(r["inwoners_2024"]) for r in csv.DictReader(f)
                if r["wk_code"].startswith("WK")}


def quantile7(values, q):
    """R's default (type 7) quantile."""
    v = sorted(values)
    h = (len(v) - 1) * q
    lo = math.floor(h)
    return v[lo] + (h - lo) * (v[min(lo + 1, len(v) - 1)] - v[lo])


def median(values):
    return quantile7(values, 0.5)


def sd(values):
    """Sample standard deviation (n - 1)."""
    n = len(values)
    m = sum(values) / n
    return math.sqrt(sum((x - m) ** 2 for x in values) / (n - 1))


class Trajectory:
    def __init__(self, key, subject):
        self.key = key
        self.subject = subject
        self.themes = set()
        self.opened = []
        self.closed = []
        self.contacts = []          # (monday, mode)
        self.outcomes = []          # rows

    @property
    def first_contact(self):
        return min((w for w, _ in self.contacts), default=None)

    @property
    def service_class(self):
        modes = {m for _, m in self.contacts}
        return "none" if not modes else ("blended" if len(modes) > 1 else modes.pop())

    def pair(self):
        """(before, after) on the instrument: per domain the first intake and the last end,
        averaged over the domains that have both; None without one."""
        by_domain = defaultdict(lambda: {"intake": [], "end": []})
        for r in self.outcomes:
            if r["instrument"] == INSTRUMENT and r["phase"] in ("intake", "end"):
                by_domain[r["domain"]][r["phase"]].append((r["monday"], r["signal_id"],
                                                           float(r["score"])))
        bs, as_ = [], []
        for d in by_domain.values():
            if d["intake"] and d["end"]:
                bs.append(min(d["intake"])[2])
                as_.append(max(d["end"])[2])
        return (sum(bs) / len(bs), sum(as_) / len(as_)) if bs else None


class Org:
    """One organisation's records and the true (undisclosed) figures of a period, computed
    from the records by the definitions of docs/benchmark.md."""

    def __init__(self, name, rows, population, received=0, rejected=0, alerts=0,
                 initiatives=0):
        self.name = name
        self.rows = rows
        self.population_of = population
        self.received, self.rejected = received, rejected
        self.alerts, self.initiatives = alerts, initiatives
        self.trajectories = {}
        for r in rows:
            if not r["trajectory"]:
                continue
            t = self.trajectories.get(r["trajectory"])
            if t is None:
                t = self.trajectories[r["trajectory"]] = Trajectory(r["trajectory"],
                                                                     r["subject"])
            t.themes.add(r["theme"])
            if r["kind"] == "trajectory":
                (t.opened if r["event"] == "opened" else t.closed).append(r["monday"])
            elif r["kind"] == "contact":
                t.contacts.append((r["monday"], r["mode"]))
            elif r["kind"] == "outcome":
                t.outcomes.append(r)

    def figures(self, period):
        """The true counts and values of the period: a SimpleNamespace."""
        P = period
        f = SimpleNamespace()
        rows_p = [r for r in self.rows if in_period(r["monday"], P)]
        f.persons = len({r["subject"] for r in rows_p if r["kind"] in ("need", "contact")})
        f.collective_persons = len({r["subject"] for r in rows_p
                                    if r["kind"] == "contact" and r["mode"] == "group"})
        f.areas = sorted({r["area_code"] for r in rows_p})
        f.population = sum(self.population_of[a] for a in f.areas)
        # Trajectories with contacts in P (contacts without one count per person).
        modes = defaultdict(set)
        for r in rows_p:
            if r["kind"] == "contact":
                modes[r["trajectory"] or ("person", r["subject"])].add(r["mode"])
        f.with_contacts = len(modes)
        f.blended = sum(len(m) > 1 for m in modes.values())
        f.collective = sum("group" in m for m in modes.values())
        f.online = sum("online" in m for m in modes.values())
        ts = list(self.trajectories.values())
        f.waits, f.durations = [], []
        for t in ts:
            if not t.opened:
                continue
            opened = min(t.opened)
            fc = t.first_contact
            if in_period(opened, P) and fc is not None and fc >= opened:
                f.waits.append((fc - opened).days / 7)
            if t.closed and in_period(max(t.closed), P) and max(t.closed) >= opened:
                f.durations.append((max(t.closed) - opened).days / 7)
        closed_p = [t for t in ts if t.closed and in_period(max(t.closed), P)]
        f.closed = len(closed_p)
        with_pair = [(t, t.pair()) for t in closed_p]
        with_pair = [(t, p) for t, p in with_pair if p is not None]
        f.closed_with_pair = len(with_pair)
        # One pair per person: their latest trajectory closed in P (with a pair).
        latest = {}
        f.pair_ties = 0
        for t, p in with_pair:
            cur = latest.get(t.subject)
            if cur is None or max(t.closed) > max(cur[0].closed):
                latest[t.subject] = (t, p)
            elif max(t.closed) == max(cur[0].closed):
                f.pair_ties += 1
        f.pairs = [SimpleNamespace(theme=min(t.themes), mode=t.service_class, before=p[0],
                                   after=p[1], subject=t.subject)
                   for t, p in latest.values()]
        # Re-registration: closed in the same period 52 weeks earlier; the person opened a
        # new trajectory within 52 weeks after closing.
        earlier = shift(P, -364)
        opened_by_person = defaultdict(list)
        for t in ts:
            if t.opened:
                opened_by_person[t.subject].append(min(t.opened))
        cohort = [t for t in ts if t.closed and in_period(max(t.closed), earlier)]
        f.closed_year_before = len(cohort)
        f.reregistered = sum(
            any(max(t.closed) < o <= max(t.closed) + datetime.timedelta(days=364)
                for o in opened_by_person[t.subject]) for t in cohort)
        care = [r for r in rows_p if r["kind"] in ("contact", "outcome")]
        f.care_signals = len(care)
        f.incomplete = sum(not r["trajectory"] for r in care)
        f.received, f.rejected = self.received, self.rejected
        f.alerts, f.initiatives = self.alerts, self.initiatives
        return f


def paired(pairs):
    """Paired statistics of pairs (objects with before, after): n, means, mean change, d_av
    (Hedges-corrected) and the counts reliably improved / worse (Jacobson-Truax, 1.96 S_diff,
    higher is better)."""
    n = len(pairs)
    b = [p.before for p in pairs]
    a = [p.after for p in pairs]
    s = SimpleNamespace(n=n, mean_before=sum(b) / n, mean_after=sum(a) / n)
    s.mean_change = s.mean_after - s.mean_before
    s.d_av = None
    s.improved = s.worse = 0
    if n >= 3:
        sb, sa = sd(b), sd(a)
        if sb > 0 or sa > 0:
            j = 1 - 3 / (4 * (n - 1) - 1)
            s.d_av = s.mean_change / math.sqrt((sb * sb + sa * sa) / 2) * j
        if sb > 0:
            threshold = 1.959964 * sb * math.sqrt(2 * (1 - RELIABILITY))
            s.improved = sum(y - x > threshold for x, y in zip(b, a))
            s.worse = sum(x - y > threshold for x, y in zip(b, a))
    return s


# --- what a published figure may be ----------------------------------------------------------

def roundings(count):
    """The values random rounding to a multiple of 5 can publish for a true count (>= 8)."""
    low = count - count % 5
    return {count} if count % 5 == 0 else {low, low + 5}


class Expect:
    """What disclosure control can make of a true figure: the possible statuses, the range
    [lo, hi] of the value when shown (before rounding to the published decimals), the possible
    published denominators (funnel) and the base for the peer-dominance rule."""

    def __init__(self, statuses, lo=None, hi=None, denominators=None, base=None, exact=None,
                 parts=None, per=None):
        self.statuses = set(statuses)
        self.lo, self.hi = lo, hi
        self.denominators = denominators
        self.base = base
        self.exact = exact
        self.parts, self.per = parts, per

    def candidates(self, denominator):
        """The values the figure can have given its published denominator (rates and
        percentages: per x a rounding of the numerator / the denominator), or None."""
        if self.parts is None or not denominator:
            return None
        return sorted(self.per * p / denominator for p in self.parts)

    def __repr__(self):
        return (f"Expect(statuses={sorted(self.statuses)}, lo={self.lo}, hi={self.hi}, "
                f"denominators={self.denominators})")

    @property
    def certain(self):
        return len(self.statuses) == 1


def expect_rate(persons, population, per=1000):
    if persons <= 7:
        return Expect({"depends"}, base=population)
    if population < 100:
        return Expect({"small_population"}, base=population)
    vals = [per * r / population for r in roundings(persons)]
    return Expect({"shown"}, min(vals), max(vals), {population}, base=population,
                  exact=per * persons / population, parts=roundings(persons), per=per)


def expect_percent(part, whole):
    if part <= 7 or whole <= 7:
        return Expect({"depends"}, base=0)
    statuses, vals, dens = set(), [], set()
    for w in roundings(whole):
        if w < 20:
            statuses.add("small_denominator")
            continue
        statuses.add("shown")
        dens.add(w)
        vals += [100 * p / w for p in roundings(part)]
    return Expect(statuses, min(vals, default=None), max(vals, default=None), dens,
                  base=min(dens, default=0), exact=100 * part / whole, parts=roundings(part),
                  per=100)


def expect_records(part, whole):
    if whole < 20:
        return Expect({"small_denominator"}, base=whole)
    v = 100 * part / whole
    return Expect({"shown"}, v, v, {whole}, base=whole, exact=v)


def expect_quantile(values, q):
    if len(values) < 8:
        return Expect({"small_n"}, base=len(values))
    v = quantile7(values, q)
    return Expect({"shown"}, v, v, base=len(values), exact=v)


def expect_mean(pairs):
    if len(pairs) < 8:
        return Expect({"small_n"}, base=len(pairs))
    v = paired(pairs).mean_change
    return Expect({"shown"}, v, v, base=len(pairs), exact=v)


def expect_plain(n):
    return Expect({"shown"}, n, n, base=1, exact=n)


def expected_indicators(f):
    """{indicator id: Expect} of one organisation's true figures f (Org.figures)."""
    s = paired(f.pairs) if len(f.pairs) >= 2 else None
    return {
        "reach_per_1000": expect_rate(f.persons, f.population),
        "collective_reach_per_1000": expect_rate(f.collective_persons, f.population),
        "blended_pct": expect_percent(f.blended, f.with_contacts),
        "collective_pct": expect_percent(f.collective, f.with_contacts),
        "online_pct": expect_percent(f.online, f.with_contacts),
        "alerts_raised": expect_plain(f.alerts),
        "initiatives_after_alerts": expect_plain(f.initiatives),
        "waiting_median_weeks": expect_quantile(f.waits, 0.5),
        "waiting_p90_weeks": expect_quantile(f.waits, 0.9),
        "duration_median_weeks": expect_quantile(f.durations, 0.5),
        "duration_p90_weeks": expect_quantile(f.durations, 0.9),
        "with_measurement_pct": expect_percent(f.closed_with_pair, f.closed),
        "outcome_change": expect_mean(f.pairs),
        "reliably_improved_pct": expect_percent(s.improved if s else 0, len(f.pairs)),
        "reregistered_pct": expect_percent(f.reregistered, f.closed_year_before),
        "rejected_pct": expect_records(f.rejected, f.received),
        "incomplete_pct": expect_records(f.incomplete, f.care_signals),
    }


def expect_peer(others):
    """What the peer median can be, from the other organisations' Expects: (statuses, lo, hi,
    organisations), or None when it cannot be pinned down (a contributor's status unsure)."""
    if not all(e.certain for e in others):
        return None
    shown = [e for e in others if "shown" in e.statuses]
    if len(shown) < 3:
        return SimpleNamespace(statuses={"peer_few"}, lo=None, hi=None, organisations=len(shown))
    total = sum(e.base for e in shown)
    shares = [e.base / total for e in shown] if total > 0 else []
    top = max(shares, default=0)
    if 0.80 < top < 0.90:
        return None             # too close to the 85% rule to say
    if top > 0.85:
        return SimpleNamespace(statuses={"peer_dominant"}, lo=None, hi=None,
                               organisations=len(shown))
    return SimpleNamespace(statuses={"shown"}, lo=median([e.lo for e in shown]),
                           hi=median([e.hi for e in shown]), organisations=len(shown))


# --- effects ---------------------------------------------------------------------------------

def effect_cells(pairs, themes):
    """{(theme or "ALL", mode or "all"): [pairs]} of one organisation's pairs."""
    cells = {}
    for theme in list(themes) + ["ALL"]:
        for mode in list(MODES) + ["all"]:
            cells[(theme, mode)] = [p for p in pairs
                                    if theme in ("ALL", p.theme) and mode in ("all", p.mode)]
    return cells


# --- JSON ------------------------------------------------------------------------------------

def walk(node, path="$"):
    """Yields (path, dict) for every object in a JSON document."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")


def indicator_map(report):
    return {i["id"]: i for i in report["indicators"]}


# --- the template ----------------------------------------------------------------------------

def _wait_rows(database, sql, params, n, what):
    wrtest.wait_until(what, lambda: database.scalar(sql, params) >= n)


@contextlib.contextmanager
def template(pg, tmp):
    """A migrated database with the wijken of 2024, the synthetic care data of the eight
    organisations (generated into tmp/data, ending at the last complete week) uploaded through
    a daemon, A's contacts without a trajectory, A's rejected upload, alerts, and the tokens of
    TOKEN_SPECS. Yields namespace(db, tokens, period, bounds, data, truth, orgs {name: Org},
    counts {name: signals stored})."""
    tmp = Path(tmp)
    end_week = dl.last_complete_week()
    data = tmp / "data"
    truth = generate(data, end_week)
    period = last_full_quarter(truth["first_week"], truth["last_week"])
    bounds = period_bounds(period)
    names = sorted(truth["organisations"])
    extra = write_extra(tmp / f"extra-{A}.csv", A, truth["organisations"][A]["wijken"][0],
                        bounds)
    with dl.scratch_database(pg) as database:
        cfg = dl.write_config(tmp / "template.conf", database)
        dl.prepare(cfg)
        tokens = dl.tokens(cfg, TOKEN_SPECS)
        uploaders = dl.tokens(cfg, {n: ("source", n, SOURCE) for n in names})
        files = {n: [data / f"{n}.csv"] for n in names}
        files[A].append(extra)
        counts = {}
        with dl.running_daemon(cfg, tmp, name="wijkradar-report-setup") as d:
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                jobs = {(n, f): pool.submit(dl.ingest, d, uploaders[n][0], f, n, SOURCE)
                        for n in names for f in files[n]}
                for (n, f), job in jobs.items():
                    counts[n] = counts.get(n, 0) + job.result()
            # A rejected upload of A: BAD_BATCH records, BAD_RECORDS of them in an unknown
            # area. Nothing is stored; ingest_log counts all as received, the bad ones as
            # rejected (written after the reply, so wait for the row).
            sigs = [il.signal(f"bad-{i}", "contact", area="WK008099" if i < BAD_RECORDS
                              else "WK008010", trajectory=il.subject(f"bad-traj-{i}"))
                    for i in range(BAD_BATCH)]
            b = il.batch(sigs, batch_id="report-e2e-bad", source=SOURCE, organisation=A)
            r = il.upload(d, uploaders[A][0], b, fmt="json")
            assert r.status == 422, f"the bad batch was not refused:\n{r.describe()}"
            _wait_rows(database, "SELECT count(*) FROM ingest_log WHERE rejected > 0", None, 1,
                       "the rejected upload in ingest_log")
        # Uploads are counted by the day they happened: these happened in the period.
        mid = bounds[0] + (bounds[1] - bounds[0]) / 2
        database.query("UPDATE ingest_log SET received_at = %s", (mid,))
        insert_alerts(database, bounds, truth)
        rows = {n: [r for f in files[n] for r in read_rows(f)] for n in names}
        log = {o: (rec, rej) for o, rec, rej in database.query(
            "SELECT organisation, sum(received), sum(rejected) FROM ingest_log GROUP BY 1")}
        pops = populations()
        orgs = {n: Org(n, rows[n], pops, received=len(rows[n]) + (BAD_BATCH if n == A else 0),
                       rejected=BAD_RECORDS if n == A else 0,
                       alerts=ALERTS_IN_PERIOD.get(n, 0),
                       initiatives=INITIATIVES_IN_PERIOD.get(n, 0))
                for n in names}
        for n in names:
            assert log.get(n) == (orgs[n].received, orgs[n].rejected), \
                f"ingest_log of {n}: {log.get(n)}, expected {(orgs[n].received, orgs[n].rejected)}"
        yield SimpleNamespace(db=database, cfg=cfg, tokens=tokens, period=period, bounds=bounds,
                              data=data, truth=truth, orgs=orgs, names=names, counts=counts,
                              end_week=end_week)


def insert_alerts(database, bounds, truth):
    """ALERTS_IN_PERIOD alerts raised in the period, one raised before it and one initiative
    started after it (neither counts), INITIATIVES_IN_PERIOD initiatives started in it."""
    start, end = (datetime.datetime.combine(d, datetime.time(12), datetime.timezone.utc)
                  for d in bounds)
    themes = ["EENZAAM", "GELD", "WONEN", "MANTELZORG"]
    conn = psycopg2.connect(database.conninfo)
    try:
        with conn, conn.cursor() as cur:
            def alert(org, k, created):
                area = truth["organisations"][org]["wijken"][0]
                cur.execute(
                    "INSERT INTO alert (organisation, area_year, area_code, theme, method,"
                    " first_week, last_week, observed, expected, ratio, strength, trend,"
                    " evidence, created_at, updated_at, state) VALUES (%s, 2024, %s, %s,"
                    " 'farrington', %s, %s, 9, 3.0, 3.0, 1.5, 'rising', '{}'::jsonb, %s, %s,"
                    " 'new') RETURNING id",
                    (org, area, themes[k], created.date(), created.date(), created, created))
                return cur.fetchone()[0]
            ids = {}
            for org, n in ALERTS_IN_PERIOD.items():
                ids[org] = [alert(org, k, start + datetime.timedelta(days=10 + k))
                            for k in range(n)]
            old = alert(A, 3, start - datetime.timedelta(days=20))
            for org, n in INITIATIVES_IN_PERIOD.items():
                for alert_id in ids[org][:n]:
                    cur.execute("INSERT INTO alert_event (alert_id, at, kind, from_state,"
                                " to_state, actor) VALUES (%s, %s, 'state', 'new',"
                                " 'initiative_started', 'report e2e')",
                                (alert_id, start + datetime.timedelta(days=30)))
            cur.execute("INSERT INTO alert_event (alert_id, at, kind, from_state, to_state,"
                        " actor) VALUES (%s, %s, 'state', 'new', 'initiative_started',"
                        " 'report e2e')", (old, end + datetime.timedelta(days=2)))
    finally:
        conn.close()


# --- HTML and PNG ----------------------------------------------------------------------------

class Dom(HTMLParser):
    """Elements of an HTML document as (tag, {attr: value}, [ancestor tags and classes])."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.elements = []
        self.stack = []
        self.text = defaultdict(str)     # tag -> concatenated text of its elements
        self.feed(text)

    VOID = {"meta", "link", "br", "img", "input", "hr", "circle", "line", "rect", "polyline",
            "path"}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append((tag, a, list(self.stack)))
        if tag not in self.VOID:
            self.stack.append((tag, a.get("class", "")))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs), list(self.stack)))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        for tag, _ in self.stack:
            self.text[tag] += data

    def find(self, tag, cls=None):
        return [e for e in self.elements if e[0] == tag and
                (cls is None or cls in e[1].get("class", "").split())]

    def charts(self, kind):
        """Per svg.chart.KIND (in order): the list of its descendant elements."""
        out = []
        current = None
        for tag, attrs, stack in self.elements:
            classes = attrs.get("class", "").split()
            if tag == "svg":
                current = [] if "chart" in classes and kind in classes else None
                if current is not None:
                    out.append(current)
            elif current is not None and any(t == "svg" for t, _ in stack):
                current.append((tag, attrs))
            else:
                current = None
        return out


def png_pixels(path):
    """(width, height, rows of RGB(A) tuples) of an 8-bit RGB or RGBA PNG (no interlace)."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if ctype == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", chunk)
        elif ctype == b"IDAT":
            idat.append(chunk)
        elif ctype == b"IEND":
            break
        pos += 12 + length
    width, height, depth, color, _, _, interlace = ihdr
    assert depth == 8 and color in (2, 6) and interlace == 0, f"unsupported PNG {ihdr}"
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(height):
        off = y * (stride + 1)
        ftype, line = raw[off], bytearray(raw[off + 1:off + 1 + stride])
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:
            line = bytearray((x + p) & 0xFF for x, p in zip(line, prev))
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        else:
            assert ftype == 0, f"bad PNG filter {ftype}"
        rows.append(line)
        prev = line
    return width, height, bpp, rows
