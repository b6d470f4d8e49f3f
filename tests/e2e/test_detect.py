"""Detection end to end: `wijkradar analyze`, the scheduled run inside the daemon and the admin
API, on the labelled synthetic Leeuwarden data of deploy/synthetic.py (BRIEF.md §6).

The data are uploaded once per module with `wijkradar ingest` into template databases (see
detectlib.py); each test works on a copy. The data end at the last complete ISO week W, so the
injected rise (EENZAAM in WK008020 Oud-Oost, +10 persons a week) covers W-2, W-1 and W, and the
series reach back 270 weeks: enough for Farrington Flexible (4 years + 3 weeks).

What is expected is computed here, not read back from the daemon: the weekly distinct-person
counts come from the CSV files the tests upload, the weeks from Python's calendar.
"""

import math

import psycopg2
import pytest

import detectlib as dl
import wrtest


# --- fixtures --------------------------------------------------------------------------------

def build_template(pg, tmp_path_factory, label, week=None, **synthetic_args):
    """A template database with org A's synthetic data ending at week (default: the last
    complete week W); yields a namespace."""
    tmp = tmp_path_factory.mktemp(f"detect-{label}")
    week = week or dl.last_complete_week()
    csv_path = dl.synthetic(tmp / f"{label}.csv", week, **synthetic_args)
    with dl.scratch_database(pg) as database:
        # Old weeks are accepted, so that a fixed end week keeps working for years.
        cfg = dl.write_config(tmp / "template.conf", database,
                              {"ingest": {"max_age_weeks": "5200"}})
        dl.prepare(cfg)
        toks = dl.tokens(cfg, {
            "source_a": ("source", dl.ORG_A, dl.SOURCE),
            "source_b": ("source", dl.ORG_B, dl.SOURCE),
            "teamlead_a": ("teamlead", dl.ORG_A, None),
            "analyst_a": ("analyst", dl.ORG_A, None),
            "admin": ("admin", dl.ORG_A, None),
        })
        with dl.running_daemon(cfg, tmp) as d:
            stored = dl.ingest(d, toks["source_a"][0], csv_path, dl.ORG_A)
        yield dl.ns(db=database, tokens=toks, week=week, csv=csv_path, stored=stored,
                    counts=dl.csv_counts(csv_path))


@pytest.fixture(scope="module")
def rise_template(pg, tmp_path_factory):
    yield from build_template(pg, tmp_path_factory, "rise")


# The null data end at a fixed week, so that they are the same file on every day the test
# runs (synthetic.py's draws depend on the weeks of the year it covers), in December, when
# loneliness and money questions peak: the hardest time of year for false alarms.
NULL_END_WEEK = "2025-W50"


@pytest.fixture(scope="module")
def null_template(pg, tmp_path_factory):
    yield from build_template(pg, tmp_path_factory, "null", week=NULL_END_WEEK, rise=0)


def world_of(template, db, make_config):
    dl.clone_into(db, template.db.name)
    cfg = make_config(dl.DETECT_OFF)
    return dl.ns(db=db, cfg=cfg, tokens=template.tokens, week=template.week,
                 counts=template.counts, make_config=make_config)


@pytest.fixture
def world(rise_template, db, make_config):
    """A copy of the rise data; config with the schedule off."""
    return world_of(rise_template, db, make_config)


@pytest.fixture
def null_world(null_template, db, make_config):
    return world_of(null_template, db, make_config)


def token(w, key):
    return w.tokens[key][0]


def token_id(w, key):
    return w.tokens[key][1]


def rise_count(w, week):
    return w.counts.get((dl.RISE_AREA, dl.RISE_THEME, week), 0)


def only_alert(database):
    found = dl.alerts(database)
    assert len(found) == 1, f"expected exactly one alert:\n{dl.describe_alerts(database)}"
    return found[0]


# --- one run on the synthetic data -----------------------------------------------------------

def test_analyze_raises_one_alert_for_the_injected_rise(world):
    W = world.week
    s = dl.analyze(world.cfg, W)
    assert s["week"] == W and s["raised"] == 1 and s["updated"] == 0, s["proc"].stdout
    assert s["series"] > 250, s["proc"].stdout

    a = only_alert(world.db)
    assert (a["organisation"], a["area_code"], a["area_year"], a["theme"]) == \
        (dl.ORG_A, dl.RISE_AREA, 2024, dl.RISE_THEME), a
    assert a["state"] == "new" and a["closed_at"] is None, a
    assert a["method"] == "farrington_flexible", a
    assert a["run_id"] == s["run_id"], a
    # The rule: >= 8 persons, above the upper bound, >= 1.5 x expected, 2 weeks in a row.
    assert a["observed"] == rise_count(world, W), "observed differs from the uploaded data"
    assert a["observed"] >= 8 and a["observed"] > a["upperbound"], a
    assert a["ratio"] >= 1.5 and a["observed"] >= 1.5 * a["expected"], a
    assert a["ratio"] == pytest.approx(a["observed"] / a["expected"], rel=1e-9), a
    assert (a["first_week"], a["last_week"]) == (dl.week_add(W, -1), W), a
    assert 0 < a["pvalue"] < 0.01, a
    assert a["strength"] == pytest.approx(min(30, -math.log10(a["pvalue"])), rel=1e-9), a
    assert a["recurrence_weeks"] == pytest.approx(1 / a["pvalue"], rel=1e-9), a
    assert a["trend"] in ("rising", "falling", "none"), a

    ev = a["evidence"]
    assert ev["week"] == W and ev["method"] == "farrington_flexible", ev
    assert ev["population"] == 12410, ev  # Oud-Oost, CBS 2024
    assert "trend" in ev, ev
    if a["trend"] == "none":
        assert ev["trend"] is None, ev
    else:
        assert ev["trend"]["direction"] == a["trend"], ev
        assert isinstance(ev["trend"]["per_week"], float), ev
    weeks = ev["weeks"]
    assert [x["week"] for x in weeks] == [W, dl.week_add(W, -1)], weeks
    for x in weeks:
        assert x["exceeds"] is True, x
        assert x["observed"] == rise_count(world, x["week"]), x
        assert x["observed"] >= 8 and x["observed"] > x["upperbound"], x
        assert x["observed"] >= 1.5 * x["expected"], x
        assert 0 < x["pvalue"] < 0.01, x
    assert weeks[0]["expected"] == pytest.approx(a["expected"], rel=1e-12), (weeks, a)
    assert weeks[0]["upperbound"] == pytest.approx(a["upperbound"], rel=1e-12), (weeks, a)
    # The last two years of the series, week by week, as uploaded.
    series = ev["series"]
    assert len(series) == 104, len(series)
    want = [dl.week_add(W, k) for k in range(-103, 1)]
    assert [x["week"] for x in series] == want, series[:3]
    assert [x["persons"] for x in series] == [rise_count(world, wk) for wk in want]
    p = ev["params"]
    assert (p["b"], p["w"], p["no_periods"], p["past_weeks_not_included"]) == (4, 3, 10, 26), p
    assert p["alpha"] == pytest.approx(0.01) and p["population_offset"] is True, p
    assert ev["rule"] == {"min_persons": 8, "min_ratio": 1.5, "consecutive_weeks": 2}, ev

    assert dl.events(world.db, a["id"]) == [
        ("raised", None, None, None, f"analysis run {s['run_id']}", None)]

    (run,) = dl.runs(world.db)
    assert run["id"] == s["run_id"] and run["week"] == W, run
    assert (run["trigger"], run["requested_by"], run["status"]) == ("cli", "cli", "succeeded")
    assert run["series_total"] == s["series"] and run["series_analysed"] >= 1, run
    assert (run["alerts_raised"], run["alerts_updated"]) == (1, 0), run
    assert run["finished_at"] is not None and run["error"] is None, run
    # The command names the alert it raised.
    assert f"{dl.ORG_A} {dl.RISE_AREA} Oud-Oost {dl.RISE_THEME}" in s["proc"].stdout, \
        s["proc"].stdout


def test_null_data_raise_no_alert(null_world):
    """The same synthetic data without the injected rise (ending at a fixed week): no alert in
    any of six weekly runs, each a fresh trial on other weeks of all 308 series.

    Why one seed is enough: the file is the same on every run (seeded, fixed weeks) and the
    detection is deterministic, so the outcome never varies: the test is not flaky. And on
    such data an alert is a false alarm that the rule makes rare: it needs, in two weeks in a
    row, at least 8 persons above the 99% upper bound at 1.5x the expectation. The largest
    weekly expectations here are about 3-6 persons (GELD and EENZAAM in the biggest wijken, in
    season), where 8 or more above the bound has a Poisson tail of at most about 1%; squared
    for two weeks and summed over the series that is about 0.1% per run (computed from the
    generator's rates), under 1% for six runs. A detector that alarms on noise fails here."""
    W = null_world.week
    for k in range(6):
        week = dl.week_add(W, -k)
        s = dl.analyze(null_world.cfg, week)
        assert s["raised"] == 0 and s["updated"] == 0, (week, s["proc"].stdout)
        assert s["series"] > 250, s["proc"].stdout
    assert dl.alerts(null_world.db) == [], dl.describe_alerts(null_world.db)
    runs = dl.runs(null_world.db)
    assert [r["status"] for r in runs] == ["succeeded"] * 6, runs
    assert all(r["alerts_raised"] == 0 for r in runs), runs
    # Not vacuous: in some of these weeks series reached 8 persons and were evaluated.
    assert sum(r["series_analysed"] for r in runs) >= 1, runs


# --- one open alert per series, updated rather than repeated ----------------------------------

def test_rerun_of_the_same_week_updates_the_alert(world):
    W = world.week
    first = dl.analyze(world.cfg, W)
    assert first["raised"] == 1, first["proc"].stdout
    a1 = only_alert(world.db)
    second = dl.analyze(world.cfg, W)
    assert (second["raised"], second["updated"]) == (0, 1), second["proc"].stdout
    a2 = only_alert(world.db)
    assert a2["id"] == a1["id"] and a2["run_id"] == second["run_id"], (a1, a2)
    assert (a2["first_week"], a2["last_week"], a2["state"]) == (dl.week_add(W, -1), W, "new")
    assert a2["updated_at"] >= a1["updated_at"], (a1, a2)
    assert [e[0] for e in dl.events(world.db, a1["id"])] == ["raised", "updated"]
    assert dl.events(world.db, a1["id"])[1][4] == f"analysis run {second['run_id']}"
    runs = dl.runs(world.db)
    assert [(r["alerts_raised"], r["alerts_updated"]) for r in runs] == [(1, 0), (0, 1)], runs


def test_next_week_with_the_rise_continuing_moves_last_week(world):
    """Week W-1 alerts (rise in W-2 and W-1); the run of W updates that alert's last week; a
    late re-run of W-1 does not move it back."""
    W = world.week
    early = dl.analyze(world.cfg, dl.week_add(W, -1))
    assert early["raised"] == 1, early["proc"].stdout
    a = only_alert(world.db)
    assert (a["first_week"], a["last_week"]) == (dl.week_add(W, -2), dl.week_add(W, -1)), a
    assert a["observed"] == rise_count(world, dl.week_add(W, -1)), a

    now = dl.analyze(world.cfg, W)
    assert (now["raised"], now["updated"]) == (0, 1), now["proc"].stdout
    b = only_alert(world.db)
    assert b["id"] == a["id"], (a, b)
    assert (b["first_week"], b["last_week"]) == (dl.week_add(W, -2), W), b
    assert b["observed"] == rise_count(world, W) and b["evidence"]["week"] == W, b

    late = dl.analyze(world.cfg, dl.week_add(W, -1))
    assert (late["raised"], late["updated"]) == (0, 0), late["proc"].stdout
    c = only_alert(world.db)
    assert (c["last_week"], c["observed"], c["run_id"]) == (W, b["observed"], now["run_id"]), c
    # More persons than at the run before is an escalation (sent to subscribers); the same
    # number or fewer a plain update.
    second = "escalated" if b["observed"] > a["observed"] else "updated"
    assert [e[0] for e in dl.events(world.db, a["id"])] == ["raised", second], (a, b)


def test_acknowledged_alert_is_updated_and_closed_one_cools_down(world, daemon):
    W = world.week
    d = dl.serve(daemon, world.cfg)
    lead = token(world, "teamlead_a")
    assert dl.analyze(world.cfg, W)["raised"] == 1
    a = only_alert(world.db)
    path = f"/v1/alerts/{a['id']}"
    body = dl.reply(dl.call(d, "PATCH", path, lead, {"state": "acknowledged"}), 200)
    assert body["state"] == "acknowledged", body

    # An open (acknowledged) alert is updated, keeping its state.
    s = dl.analyze(world.cfg, W)
    assert (s["raised"], s["updated"]) == (0, 1), s["proc"].stdout
    b = only_alert(world.db)
    assert (b["id"], b["state"]) == (a["id"], "acknowledged"), b

    # Closed: within the cooldown (8 weeks by default) the rise raises nothing.
    body = dl.reply(dl.call(d, "PATCH", path, lead, {"state": "closed"}), 200)
    assert body["state"] == "closed" and body["closed_at"], body
    s = dl.analyze(world.cfg, W)
    assert (s["raised"], s["updated"]) == (0, 0), s["proc"].stdout
    c = only_alert(world.db)
    assert (c["id"], c["state"], c["run_id"]) == (a["id"], "closed", b["run_id"]), c
    assert dl.runs(world.db)[-1]["status"] == "succeeded"

    # Without a cooldown the same rise raises a new alert; the closed one stays closed.
    cfg0 = world.make_config({"detect": {"schedule": "false", "cooldown_weeks": "0"}},
                             name="no-cooldown.conf")
    s = dl.analyze(cfg0, W)
    assert (s["raised"], s["updated"]) == (1, 0), s["proc"].stdout
    found = dl.alerts(world.db)
    assert [(x["id"] == a["id"], x["state"]) for x in found] == [(True, "closed"),
                                                                 (False, "new")], found
    assert (found[1]["area_code"], found[1]["theme"]) == (dl.RISE_AREA, dl.RISE_THEME)


# --- history length: Farrington, EARS, and organisations that start late -----------------------

def test_short_history_uses_ears(db, make_config, daemon, tmp_path):
    W = dl.last_complete_week()
    cfg = make_config(dl.DETECT_OFF)
    dl.prepare(cfg)
    tok, _ = dl.tokens(cfg, {"s": ("source", dl.ORG_A, dl.SOURCE)})["s"]
    csv_path = dl.synthetic(tmp_path / "short.csv", W, weeks=20)
    counts = dl.csv_counts(csv_path)
    d = dl.serve(daemon, cfg)
    dl.ingest(d, tok, csv_path, dl.ORG_A)
    s = dl.analyze(cfg, W)
    found = dl.alerts(db)
    rise = [a for a in found if (a["area_code"], a["theme"]) == (dl.RISE_AREA, dl.RISE_THEME)]
    assert len(rise) == 1, f"no alert for the rise:\n{dl.describe_alerts(db)}"
    a = rise[0]
    assert s["raised"] == len(found), s["proc"].stdout
    assert all(x["method"] == "ears" for x in found), dl.describe_alerts(db)
    assert a["observed"] == counts[(dl.RISE_AREA, dl.RISE_THEME, W)], a
    assert (a["first_week"], a["last_week"]) == (dl.week_add(W, -1), W), a
    assert a["observed"] >= 8 and a["observed"] > a["upperbound"], a
    assert a["observed"] >= 1.5 * a["expected"], a
    ev = a["evidence"]
    assert ev["method"] == "ears", ev
    assert ev["params"] == {"ears_method": "C2", "baseline": 7, "alpha": 0.025}, ev
    assert [x["exceeds"] for x in ev["weeks"]] == [True, True], ev
    # The series shown is the history there is: 20 weeks, not two years of zeros.
    assert [x["week"] for x in ev["series"]] == [dl.week_add(W, k) for k in range(-19, 1)]


def test_new_organisation_is_not_compared_with_zeros(world, daemon, tmp_path):
    """Organisation B starts uploading 20 weeks ago. Its series start at its first upload
    week: short, so EARS; were the 250 weeks before counted as zeros, Farrington would see a
    sudden rise everywhere B has 8 persons in a week."""
    W = world.week
    d = dl.serve(daemon, world.cfg)
    csv_path = dl.synthetic(tmp_path / "org-b.csv", W, weeks=20, seed=4242)
    counts = dl.csv_counts(csv_path)
    dl.ingest(d, token(world, "source_b"), csv_path, dl.ORG_B)
    s = dl.analyze(world.cfg, W)

    a = dl.alerts(world.db, dl.ORG_A)
    assert [(x["area_code"], x["theme"], x["method"]) for x in a] == \
        [(dl.RISE_AREA, dl.RISE_THEME, "farrington_flexible")], dl.describe_alerts(world.db)
    b = dl.alerts(world.db, dl.ORG_B)
    assert s["raised"] == len(a) + len(b), s["proc"].stdout
    assert all(x["method"] == "ears" for x in b), dl.describe_alerts(world.db)
    # B's data have the same rise (synthetic.py injects it): EARS finds it on 20 weeks.
    assert [(x["area_code"], x["theme"]) for x in b] == [(dl.RISE_AREA, dl.RISE_THEME)], \
        dl.describe_alerts(world.db)
    assert b[0]["observed"] == counts[(dl.RISE_AREA, dl.RISE_THEME, W)], b
    assert len(b[0]["evidence"]["series"]) == 20, b[0]["evidence"]["series"][:3]
    # A's evidence is not mixed with B's persons.
    assert a[0]["observed"] == rise_count(world, W), a


# --- configurable thresholds -----------------------------------------------------------------

def test_thresholds_are_configurable(world):
    W = world.week
    obs = [rise_count(world, dl.week_add(W, -k)) for k in range(4)]  # W, W-1, W-2, W-3

    def run(name, **detect):
        keys = {"schedule": "false"}
        keys.update({k: str(v) for k, v in detect.items()})
        cfg = world.make_config({"detect": keys}, name=f"{name}.conf")
        return dl.analyze(cfg, W)

    # min_persons above the smaller of the two weeks' counts: no alert.
    s = run("persons", min_persons=min(obs[0], obs[1]) + 1)
    assert s["raised"] == 0, s["proc"].stdout
    # A ratio no rise reaches.
    s = run("ratio", min_ratio="100")
    assert s["raised"] == 0, s["proc"].stdout
    # Four weeks in a row: the rise lasts three (W-3 is ordinary unless chance made it >= 8).
    if obs[3] < 8:
        s = run("four", consecutive_weeks=4)
        assert s["raised"] == 0, s["proc"].stdout
    assert dl.alerts(world.db) == [], dl.describe_alerts(world.db)

    # Three weeks in a row: the alert spans W-2..W and the evidence shows three weeks.
    s = run("three", consecutive_weeks=3)
    assert s["raised"] == 1, s["proc"].stdout
    a = only_alert(world.db)
    assert (a["first_week"], a["last_week"]) == (dl.week_add(W, -2), W), a
    assert [x["week"] for x in a["evidence"]["weeks"]] == [dl.week_add(W, -k) for k in range(3)]
    assert a["evidence"]["rule"]["consecutive_weeks"] == 3, a["evidence"]

    # min_persons equal to the smaller count still alerts (at least, not more than).
    s = run("persons-eq", min_persons=min(obs[0], obs[1]))
    assert (s["raised"], s["updated"]) == (0, 1), s["proc"].stdout
    assert only_alert(world.db)["evidence"]["rule"]["min_persons"] == min(obs[0], obs[1])


# --- the analyze command ---------------------------------------------------------------------

def test_analyze_refuses_while_another_run_holds_the_lock(world):
    """Another process holds the analysis lock: the command fails at once, records nothing."""
    conn = psycopg2.connect(world.db.conninfo)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (dl.ANALYSIS_LOCK,))
        proc = dl.analyze(world.cfg, world.week, ok=False)
        assert proc.returncode == 1, wrtest.describe_run(proc)
        assert "another analysis is running" in proc.stderr, wrtest.describe_run(proc)
        assert dl.runs(world.db) == [] and dl.alerts(world.db) == []
    finally:
        conn.close()
    assert dl.analyze(world.cfg, world.week)["raised"] == 1


@pytest.mark.parametrize("args", [["--week", "2026-W99"], ["--week", "bad"], ["extra"]])
def test_analyze_usage_errors(world, args):
    proc = wrtest.run_wr("analyze", "--config", world.cfg, *args)
    assert proc.returncode == 2, wrtest.describe_run(proc)
    assert "usage" in proc.stderr, wrtest.describe_run(proc)
    assert dl.runs(world.db) == []


# --- the scheduled run -----------------------------------------------------------------------

SCHEDULE_NOW = {"detect": {"schedule": "true", "weekday": "1", "hour": "0"}}  # always due


def run_results(d):
    """{result: count} of wijkradar_analysis_runs_total of a daemon."""
    samples = d.metrics()
    return {ls.get("result"): v for n, ls, v in samples if n == "wijkradar_analysis_runs_total"}


def test_scheduled_run_happens_once(world, daemon):
    W = world.week
    cfg = world.make_config(SCHEDULE_NOW, name="schedule.conf")
    d1 = daemon(cfg)
    run = wrtest.wait_until(
        "a succeeded scheduled run", lambda: [r for r in dl.runs(world.db)
                                              if r["status"] != "running"],
        describe=lambda: f"runs: {dl.runs(world.db)}\n{wrtest.tail(d1.stderr())}")
    dl.same_week_guard(W)
    assert len(run) == 1, run
    run = run[0]
    assert (run["week"], run["trigger"], run["status"]) == (W, "schedule", "succeeded"), run
    assert (run["alerts_raised"], run["series_total"] > 250) == (1, True), run
    a = only_alert(world.db)
    assert (a["area_code"], a["theme"], a["last_week"]) == (dl.RISE_AREA, dl.RISE_THEME, W)
    wrtest.wait_until("the run in the metrics",
                      lambda: run_results(d1).get("succeeded") == 1,
                      describe=lambda: str(run_results(d1)))
    samples = d1.metrics()
    assert wrtest.metric(samples, "wijkradar_alerts_raised_total") == 1
    assert wrtest.metric(samples, "wijkradar_analysis_series") == run["series_total"]
    d1.wait_log(rf"run {run['id']} of week {W} \(schedule\)")

    # Another daemon process (a restart, a replica) finds the week done and does not repeat it.
    d2 = daemon(cfg)
    wrtest.wait_until("the second daemon to skip the week",
                      lambda: run_results(d2).get("skipped") == 1,
                      describe=lambda: f"{run_results(d2)}\n{wrtest.tail(d2.stderr())}")
    d2.wait_log(rf"week {W} was analysed already; skipped")
    dl.same_week_guard(W)
    assert [r["id"] for r in dl.runs(world.db)] == [run["id"]], dl.runs(world.db)
    assert [e[0] for e in dl.events(world.db, a["id"])] == ["raised"]
    assert run_results(d1) == {"succeeded": 1}, run_results(d1)
    assert "succeeded" not in run_results(d2), run_results(d2)


def test_two_daemons_with_the_schedule_run_the_week_once(world, daemon):
    W = world.week
    cfg = world.make_config(SCHEDULE_NOW, name="schedule.conf")
    ds = [daemon(cfg, wait=False), daemon(cfg, wait=False)]
    for d in ds:
        d.wait_listening()

    def settled():
        results = [run_results(d) for d in ds]
        return results if all(sum(r.values()) >= 1 for r in results) else None
    results = wrtest.wait_until("both daemons to report their scheduled run", settled,
                                describe=lambda: "\n".join(wrtest.tail(d.stderr(), 2000)
                                                           for d in ds))
    dl.same_week_guard(W)
    outcomes = sorted(k for r in results for k, v in r.items() if v)
    assert outcomes in (["skipped", "succeeded"], ["busy", "succeeded"]), results
    runs = dl.runs(world.db)
    assert [(r["week"], r["trigger"], r["status"]) for r in runs] == \
        [(W, "schedule", "succeeded")], runs
    assert len(dl.alerts(world.db)) == 1, dl.describe_alerts(world.db)


# --- the admin API ---------------------------------------------------------------------------

def test_admin_api_starts_a_run_and_lists_runs(world, daemon):
    W = world.week
    d = dl.serve(daemon, world.cfg)
    admin, analyst, lead = (token(world, k) for k in ("admin", "analyst_a", "teamlead_a"))

    body = dl.reply(dl.call(d, "POST", "/v1/admin/analyze", admin, {"week": W}), 202)
    assert body == {"status": "started", "week": W}, body

    def finished():
        r = dl.call(d, "GET", "/v1/analysis/runs", admin)
        runs = dl.reply(r, 200)["runs"]
        return runs if runs and runs[0]["status"] != "running" else None
    runs = wrtest.wait_until("the API run to finish", finished,
                             describe=lambda: wrtest.tail(d.stderr()))
    assert len(runs) == 1, runs
    r = runs[0]
    assert (r["week"], r["trigger"], r["status"]) == (W, "api", "succeeded"), r
    assert r["requested_by"] == f"token {token_id(world, 'admin')}", r
    assert (r["alerts_raised"], r["alerts_updated"]) == (1, 0), r
    assert r["series_total"] > 250 and r["series_analysed"] >= 1 and r["error"] is None, r
    assert r["started_at"] and r["finished_at"], r
    assert only_alert(world.db)["run_id"] == r["id"]

    # {} means the last complete week; the open alert is updated.
    body = dl.reply(dl.call(d, "POST", "/v1/admin/analyze", admin, {}), 202)
    dl.same_week_guard(W)
    assert body == {"status": "started", "week": W}, body
    runs = wrtest.wait_until(
        "the second run to finish",
        lambda: (lambda x: x if len(x) == 2 and x[0]["status"] != "running" else None)(
            dl.reply(dl.call(d, "GET", "/v1/analysis/runs", admin), 200)["runs"]))
    assert [x["id"] for x in runs] == sorted((x["id"] for x in runs), reverse=True), runs
    assert (runs[0]["status"], runs[0]["alerts_updated"]) == ("succeeded", 1), runs

    # Analysts may read the runs; team leads, sources and strangers may not.
    assert dl.reply(dl.call(d, "GET", "/v1/analysis/runs", analyst), 200)["runs"] == runs
    dl.reply(dl.call(d, "GET", "/v1/analysis/runs", lead), 403, "forbidden")
    dl.reply(dl.call(d, "GET", "/v1/analysis/runs", token(world, "source_a")), 403, "forbidden")
    dl.reply(dl.call(d, "GET", "/v1/analysis/runs"), 401, "unauthorized")
    dl.reply(dl.call(d, "GET", "/v1/analysis/runs", "wr_" + "0" * 64), 401, "unauthorized")

    # Only admins start runs; a bad body is refused; none of these starts a run.
    for key in ("teamlead_a", "analyst_a", "source_a"):
        dl.reply(dl.call(d, "POST", "/v1/admin/analyze", token(world, key), {"week": W}), 403,
                 "forbidden")
    dl.reply(dl.call(d, "POST", "/v1/admin/analyze", None, {"week": W}), 401, "unauthorized")
    for bad in ({"week": "bad"}, {"week": "2026-W60"}, {"week": 202647}, {"week": W, "x": 1},
                {"weeks": W}, [W], "not json", "null"):
        dl.reply(dl.call(d, "POST", "/v1/admin/analyze", admin, bad), 400, "bad_request")
    assert len(dl.runs(world.db)) == 2, dl.runs(world.db)
    samples = d.metrics()
    assert wrtest.metric(samples, "wijkradar_analysis_runs_total", result="succeeded") == 2


def test_weeks_that_have_not_ended_are_not_analysed(world, daemon):
    """A week after the current one has no data yet (ingestion refuses future weeks), and a
    run of it would be recorded as a succeeded analysis of that week, which is what makes the
    scheduled run skip a week ("analysed already") when it comes due. Both the command and the
    API must refuse it and record nothing."""
    future = dl.week_add(world.week, 3)
    d = dl.serve(daemon, world.cfg)
    proc = dl.analyze(world.cfg, future, ok=False)
    r = dl.call(d, "POST", "/v1/admin/analyze", token(world, "admin"), {"week": future})
    if r.status == 202:  # let the run end, so the database shows what it did
        wrtest.wait_until("the API run to end", lambda: (lambda rs: any(
            x["trigger"] == "api" for x in rs) and all(x["status"] != "running" for x in rs))(
            dl.runs(world.db)))
    problems = []
    if proc.returncode == 0:
        problems.append(f"`analyze --week {future}` succeeded:\n{wrtest.describe_run(proc)}")
    if r.status != 400:
        problems.append(f"POST /v1/admin/analyze {{\"week\": \"{future}\"}}: expected 400\n"
                        f"{r.describe()}")
    recorded = [(x["week"], x["trigger"], x["status"]) for x in dl.runs(world.db)]
    if recorded:
        problems.append(f"runs recorded for {future}: {recorded}")
    assert not problems, "\n".join(problems)
