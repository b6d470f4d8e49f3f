"""Shared helpers for the detection and alert end-to-end tests (test_detect.py,
test_alerts_api.py).

Data: the labelled synthetic Leeuwarden set of deploy/synthetic.py (a loneliness rise, EENZAAM
in WK008020 Oud-Oost, over the last weeks), uploaded with the real `wijkradar ingest` through a
running daemon. Uploading 270 weeks (about 69,000 signals) takes seconds, so a test module does
it once into a *template* database, and each test gets a copy of it (CREATE DATABASE ...
TEMPLATE, a file copy) in the database of conftest's `db` fixture. The template carries the
schema, the areas, the signals and the tokens, so token ids are the same in every copy.

The end week of the data is the last complete ISO week (UTC), as the daemon reckons it, so that
a scheduled run or `analyze` without --week looks at the week with the rise.
"""

import contextlib
import csv
import datetime
import json
import re
import subprocess
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

import ingestlib as il
import wrtest

ORG_A = "welzijn-noord"
ORG_B = "welzijn-zuid"
SOURCE = "regas"
RISE_AREA, RISE_THEME = "WK008020", "EENZAAM"
AREAS_CSV = il.AREAS_CSV
DATA = wrtest.source_root() / "tests" / "data" / "detect"
SYNTHETIC = wrtest.source_root() / "deploy" / "synthetic.py"
INITIATIVES_DEMO = wrtest.source_root() / "deploy" / "data" / "initiatives_demo.csv"
PYTHON = "/usr/bin/python3"

# The detection settings of most tests: runs happen only when the test asks for one.
DETECT_OFF = {"detect": {"schedule": "false"}}

# The advisory lock key of daemon/analysis.c (the ASCII bytes of "wr-analy").
ANALYSIS_LOCK = 8606991734345395321

SUMMARY_RE = re.compile(
    r"analysis of ([0-9]{4}-W[0-9]{2}) \(run ([0-9]+)\): ([0-9]+) series, ([0-9]+) evaluated, "
    r"([0-9]+) alerts raised, ([0-9]+) updated")
WEEK_RE = re.compile(r"^[0-9]{4}-W[0-9]{2}$")


# --- weeks -----------------------------------------------------------------------------------

def last_complete_week():
    """The ISO week before the current one (UTC): what the daemon analyses by default."""
    return il.week_text(il.today_utc() - datetime.timedelta(weeks=1))


def week_add(week, n):
    """The ISO week n weeks after week ("YYYY-Www")."""
    return il.week_text(il.monday(week) + datetime.timedelta(weeks=n))


def same_week_guard(week):
    """Skips the calling test when `week` is no longer the last complete week (the test ran
    across a Monday 00:00 UTC, so the daemon's default week moved under it)."""
    if last_complete_week() != week:
        pytest.skip(f"the ISO week changed during the test ({week} is no longer the last "
                    "complete week)")


# --- synthetic data --------------------------------------------------------------------------

def synthetic(path, end_week, weeks=None, rise=None, rise_weeks=None, seed=None):
    """Writes deploy/synthetic.py's CSV export to path; returns the path."""
    cmd = [PYTHON, str(SYNTHETIC), "--end-week", end_week, "--out", str(path)]
    for opt, value in (("--weeks", weeks), ("--rise", rise), ("--rise-weeks", rise_weeks),
                       ("--seed", seed)):
        if value is not None:
            cmd += [opt, str(value)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=wrtest.CLI_TIMEOUT_S)
    assert proc.returncode == 0, f"synthetic.py failed\n{wrtest.describe_run(proc)}"
    return Path(path)


def need_signals(prefix, area, theme, weeks, persons):
    """`persons` need signals (distinct persons) in each of weeks, in the JSON wire form."""
    out = []
    for week in weeks:
        for i in range(persons):
            out.append(il.signal(f"{prefix}-{week}-{i:03d}", area=area, theme=theme, week=week,
                                 team="team-extra", subj=il.subject(f"{prefix}-{week}-{i}")))
    return out


# --- databases -------------------------------------------------------------------------------

# create_database and drop_database live in wrtest; kept here under their old names.
create_database = wrtest.create_database
drop_database = wrtest.drop_database


def clone_into(database, template):
    """Replaces the (empty) test database `database` by a copy of the template database."""
    drop_database(database.cluster, database.name)
    create_database(database.cluster, database.name, template)


@contextlib.contextmanager
def scratch_database(pg, prefix="wr_e2e_tmpl_"):
    """A database of a module's own (a template or a shared copy), dropped at the end."""
    pg.ensure_running()
    name = prefix + uuid.uuid4().hex[:12]
    create_database(pg, name)
    try:
        yield wrtest.Database(pg, name)
    finally:
        drop_database(pg, name)


def write_config(path, database, overrides=None):
    sections = {"detect": dict(DETECT_OFF["detect"])}
    for section, keys in (overrides or {}).items():
        sections.setdefault(section, {}).update(keys)
    Path(path).write_text(wrtest.config_text(database.conninfo, sections))
    return Path(path)


def prepare(cfg, area_files=(AREAS_CSV,)):
    """Migrates the database of cfg and imports the area files (year 2024)."""
    wrtest.run_wr_ok("migrate", "--config", cfg)
    for f in area_files:
        wrtest.run_wr_ok("areas", "import", "--config", cfg, f)


def tokens(cfg, specs):
    """Creates tokens: specs {key: (role, organisation, source or None)} -> {key: (token, id)}."""
    return {key: il.create_token(cfg, role=role, organisation=org, source=src)
            for key, (role, org, src) in specs.items()}


@contextlib.contextmanager
def running_daemon(cfg, workdir, name="wijkradar-setup"):
    """A daemon for setting a database up (uploads); stopped cleanly at the end."""
    d = wrtest.Daemon(cfg, workdir, name=name)
    try:
        d.start()
        wrtest.wait_until("/readyz to answer 200", lambda: d.get("/readyz").status == 200,
                          describe=lambda: wrtest.tail(d.stderr()))
        yield d
        d.stop()
    finally:
        d.kill()


def ingest(d, token, path, organisation, source=SOURCE):
    """Uploads a CSV export with `wijkradar ingest`; asserts that everything was stored.
    Returns the number of signals stored."""
    env = wrtest.daemon_env({"WIJKRADAR_TOKEN": token},
                            drop=("WIJKRADAR_DATABASE", "WIJKRADAR_TOKEN"))
    proc = wrtest.run_wr("ingest", "--url", f"http://127.0.0.1:{d.port}", "--source", source,
                         "--organisation", organisation, path, env=env)
    assert proc.returncode == 0, f"ingest failed\n{wrtest.describe_run(proc)}"
    m = re.search(r"([0-9]+) signals in [0-9]+ batch(?:es)?: ([0-9]+) stored, ([0-9]+) "
                  r"duplicates, ([0-9]+) rejected", proc.stdout)
    assert m, f"no ingest summary\n{wrtest.describe_run(proc)}"
    assert m.group(1) == m.group(2) and m.group(4) == "0", wrtest.describe_run(proc)
    return int(m.group(2))


def upload_json(d, token, signals, organisation, batch_id, source=SOURCE):
    """POSTs signals (JSON wire form) in batches of 1000; asserts each was stored."""
    for k in range(0, len(signals), 1000):
        b = il.batch(signals[k:k + 1000], batch_id=f"{batch_id}-{k}", source=source,
                     organisation=organisation)
        il.assert_stored(il.upload(d, token, b, fmt="json"), b)


# --- runs and alerts -------------------------------------------------------------------------

def analyze(cfg, week=None, ok=True):
    """Runs `wijkradar analyze [--week W]`. With ok, asserts success and returns the summary
    {week, run_id, series, evaluated, raised, updated} plus the process as "proc"."""
    args = ["analyze", "--config", cfg] + (["--week", week] if week else [])
    proc = wrtest.run_wr(*args)
    if not ok:
        return proc
    assert proc.returncode == 0, f"analyze failed\n{wrtest.describe_run(proc)}"
    m = SUMMARY_RE.search(proc.stdout)
    assert m, f"no summary line on stdout\n{wrtest.describe_run(proc)}"
    return {"week": m.group(1), "run_id": int(m.group(2)), "series": int(m.group(3)),
            "evaluated": int(m.group(4)), "raised": int(m.group(5)),
            "updated": int(m.group(6)), "proc": proc}


RUN_COLUMNS = ("id", "week", "trigger", "requested_by", "started_at", "finished_at", "status",
               "series_total", "series_analysed", "alerts_raised", "alerts_updated",
               "duration_ms", "error")


def runs(database):
    """analysis_run rows as dicts, by id; week as "YYYY-Www"."""
    out = []
    for r in database.query(f"SELECT {', '.join(RUN_COLUMNS)} FROM analysis_run ORDER BY id"):
        d = dict(zip(RUN_COLUMNS, r))
        d["week"] = il.week_text(d["week"])
        out.append(d)
    return out


ALERT_COLUMNS = ("id", "organisation", "area_year", "area_code", "theme", "state", "method",
                 "first_week", "last_week", "observed", "expected", "upperbound", "ratio",
                 "pvalue", "recurrence_weeks", "strength", "trend", "evidence", "run_id",
                 "created_at", "updated_at", "closed_at")


def alerts(database, organisation=None):
    """alert rows as dicts, by id; first_week and last_week as "YYYY-Www"."""
    sql = f"SELECT {', '.join(ALERT_COLUMNS)} FROM alert"
    params = None
    if organisation is not None:
        sql += " WHERE organisation = %s"
        params = (organisation,)
    out = []
    for r in database.query(sql + " ORDER BY id", params):
        d = dict(zip(ALERT_COLUMNS, r))
        d["first_week"] = il.week_text(d["first_week"])
        d["last_week"] = il.week_text(d["last_week"])
        out.append(d)
    return out


def events(database, alert_id):
    """alert_event rows of one alert: [(kind, from_state, to_state, token_id, actor, note)]."""
    return [tuple(r) for r in database.query(
        "SELECT kind, from_state, to_state, token_id, actor, note FROM alert_event"
        " WHERE alert_id = %s ORDER BY at, id", (alert_id,))]


def series_counts(database, organisation, area, theme):
    """{week "YYYY-Www": persons} of one series of need_week_count."""
    rows = database.query("SELECT week, sum(persons) FROM need_week_count WHERE organisation"
                          " = %s AND area_code = %s AND theme = %s GROUP BY week",
                          (organisation, area, theme))
    return {il.week_text(w): int(n) for w, n in rows}


def describe_alerts(database):
    return "\n".join(f"  {a['id']} {a['organisation']} {a['area_code']} {a['theme']} "
                     f"{a['method']} {a['state']} {a['first_week']}..{a['last_week']} "
                     f"observed {a['observed']} expected {a['expected']:.2f}"
                     for a in alerts(database)) or "  (no alerts)"


# --- HTTP ------------------------------------------------------------------------------------

def call(d, method, path, token=None, body=None, headers=None):
    """One request; body may be a dict/list (sent as JSON), bytes or str."""
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
        h.setdefault("Content-Type", "application/json")
    return d.request(method, path, headers=h, body=body)


def reply(r, status, code=None):
    """Asserts status (and the error code), JSON content; returns the body."""
    return il.assert_reply(r, status, code)


def serve(daemon, cfg):
    """Starts a daemon (conftest fixture) on cfg and waits for /readyz 200."""
    return il.serve(daemon, cfg)


def ns(**kw):
    return SimpleNamespace(**kw)


def csv_counts(path):
    """{(area_code, theme, "YYYY-Www"): distinct subjects} of the need records of a CSV export,
    counted here, independently of the daemon."""
    persons = {}
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["kind"] == "need":
                persons.setdefault((r["area_code"], r["theme"], r["iso_week"]),
                                   set()).add(r["subject"])
    return {k: len(v) for k, v in persons.items()}
