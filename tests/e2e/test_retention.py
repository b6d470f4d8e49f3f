"""Retention (BRIEF §5): raw signals are kept retention.months after their trajectory closes,
weekly aggregates are kept. Signals go through the real upload path; `wijkradar maintain`
runs the job the daemon runs daily, and two replicas run it once a day between them.

H is the horizon: the Monday on or before today minus retention.months (24)."""

import datetime
import re
import time

import ingestlib as il
import wrtest

TRAJ = "TRAJECTORY_EVENT_TYPE_"


def months_back(d, n):
    """d minus n calendar months, the day clamped to the month's length (as PostgreSQL)."""
    k = d.year * 12 + d.month - 1 - n
    y, m = divmod(k, 12)
    m += 1
    last = (datetime.date(y + (m == 12), m % 12 + 1, 1) - datetime.timedelta(days=1)).day
    return datetime.date(y, m, min(d.day, last))


def horizon(today, months=24):
    h = months_back(today, months)
    return h - datetime.timedelta(days=h.weekday())


def wk(h, weeks):
    """The ISO week `weeks` weeks after the horizon's."""
    return il.week_text(h + datetime.timedelta(weeks=weeks))


def maintain(cfg):
    proc = wrtest.run_wr("maintain", "--config", cfg, env=wrtest.daemon_env())
    assert proc.returncode == 0, wrtest.describe_run(proc)
    return proc.stdout


def ids(db):
    return {r[0] for r in db.query("SELECT signal_id FROM signal")}


def counts(db):
    return dict(((r[0], r[1], r[2], r[3], r[4]), r[5]) for r in db.query(
        "SELECT organisation, area_year, area_code, theme, week, persons FROM need_week_count"))


def partitions(db, table):
    return [r[0] for r in db.query(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass ORDER BY 1", (table,))]


def traj(name, *events):
    """Signals of one trajectory: (id suffix, kind, weeks after H[, event])."""
    t = il.subject("trajectory-" + name)
    person = il.subject("person-" + name)
    out = []
    for suffix, kind, weeks, *event in events:
        kw = {"trajectory": t, "subj": person}
        if event:
            kw["event"] = TRAJ + event[0]
        out.append((f"{name}-{suffix}", kind, weeks, kw))
    return out


def test_retention_keeps_open_trajectories_and_removes_the_rest(db, make_config, daemon):
    cfg = il.prepare(make_config, {"retention": {"enabled": "true"},
                                   "detect": {"schedule": "false"}})
    token, _ = il.create_token(cfg)
    d = il.serve(daemon, cfg)
    today = il.today_utc()
    h = horizon(today)

    plan = [
        ("old-need", "need", -10, {}),              # before H, no trajectory: removed
        ("edge-need", "need", -1, {}),              # the week before H: removed
        ("at-h-need", "need", 0, {}),               # the week of H: kept
        ("new-need", "need", 1, {}),                # after H: kept
        ("recent-need", "need", (today - h).days // 7 - 2, {}),
        ("no-events", "contact", -3, {"trajectory": il.subject("trajectory-without-events")}),
    ]
    plan += traj("open", ("o", "trajectory_event", -30, "OPENED"), ("c", "contact", -20),
                 ("m", "outcome", 5))
    plan += traj("closed", ("o", "trajectory_event", -40, "OPENED"), ("c", "contact", -30),
                 ("x", "trajectory_event", -5, "CLOSED"))
    plan += traj("closed-late", ("o", "trajectory_event", -20, "OPENED"), ("c", "contact", -15),
                 ("x", "trajectory_event", 2, "CLOSED"))
    plan += traj("reopened", ("o", "trajectory_event", -40, "OPENED"),
                 ("x", "trajectory_event", -30, "CLOSED"), ("r", "trajectory_event", -10, "OPENED"),
                 ("n", "need", -9))
    signals = [il.signal(sid, kind, week=wk(h, w), **kw) for sid, kind, w, kw in plan]
    b = il.batch(signals, "retention")
    il.assert_stored(il.upload(d, token, b), b)
    before = counts(db)
    assert db.scalar("SELECT count(*) FROM need_person_week WHERE week < %s", (h,)) > 0

    out = maintain(cfg)
    assert f"retention to {h.isoformat()}" in out, out

    removed = {"old-need", "edge-need", "no-events", "closed-o", "closed-c", "closed-x"}
    assert ids(db) == {p[0] for p in plan} - removed
    # What was kept from before H sits in the current week's partition now.
    monday = today - datetime.timedelta(days=today.weekday())
    held = dict(db.query("SELECT signal_id, held_week FROM signal WHERE week < %s", (h,)))
    assert set(held) == {"open-o", "open-c", "closed-late-o", "closed-late-c", "reopened-o",
                         "reopened-x", "reopened-r", "reopened-n"}, held
    assert set(held.values()) == {monday}, held
    # Weekly counts stay; the persons per week before H go.
    assert counts(db) == before
    assert db.scalar("SELECT count(*) FROM need_person_week WHERE week < %s", (h,)) == 0
    assert db.scalar("SELECT count(*) FROM need_person_week WHERE week >= %s", (h,)) > 0
    # No partition is left that lies wholly before H.
    for table in ("signal", "need_person_week"):
        for name in partitions(db, table):
            m = re.search(r"_y([0-9]{4})m([0-9]{2})$", name)
            if m:
                end = months_back(datetime.date(int(m.group(1)), int(m.group(2)), 1), -1)
                assert end > h, f"{name} is wholly before {h}"
    run = db.query("SELECT horizon, signals_removed, signals_carried FROM maintenance_run")
    assert run == [(h, len(removed), len(held))], run

    # The export sent again: every signal is a duplicate, nothing removed comes back.
    r = il.upload(d, token, b)
    body = il.assert_reply(r, 200)
    assert body["stored"] == 0 and body["duplicates"] == len(signals), body
    assert "old-need" not in ids(db)

    # The open trajectory closes before H after all (a late event): its signals before H go at
    # the next run, the carried ones included (the late event itself too: it is before H).
    late = il.batch([il.signal("open-x", "trajectory_event", week=wk(h, -2),
                               trajectory=il.subject("trajectory-open"),
                               subj=il.subject("person-open"), event=TRAJ + "CLOSED")], "late")
    il.assert_stored(il.upload(d, token, late), late)
    maintain(cfg)
    assert ids(db) == {p[0] for p in plan} - removed - {"open-o", "open-c"}
    assert counts(db) == before
    d.stop()


def test_retention_off_only_makes_partitions(db, make_config, daemon):
    cfg = il.prepare(make_config)     # retention.enabled = false (the tests' default)
    token, _ = il.create_token(cfg)
    d = il.serve(daemon, cfg)
    old = il.batch([il.signal("very-old", week=wk(horizon(il.today_utc()), -50))], "old")
    il.assert_stored(il.upload(d, token, old), old)
    out = maintain(cfg)
    assert "retention is off" in out, out
    assert ids(db) == {"very-old"}
    # The coming months have partitions of their own.
    today = il.today_utc()
    for k in range(4):
        m = months_back(today, -k)
        assert f"signal_y{m.year:04d}m{m.month:02d}" in partitions(db, "signal")
    d.stop()


def test_two_replicas_run_the_maintenance_once_a_day(db, make_config, daemon):
    cfg = il.prepare(make_config, {"retention": {"enabled": "true", "hour": "0"},
                                   "detect": {"schedule": "false"}})
    d1, d2 = daemon(cfg), daemon(cfg)
    wrtest.wait_until("a maintenance run to be recorded",
                      lambda: db.scalar("SELECT count(*) FROM maintenance_run") == 1)
    # The other replica sees it done (at once, or after its 1-minute wait when it found the
    # lock held): give it a moment, then there is still exactly one run today.
    time.sleep(3)
    assert db.scalar("SELECT count(*) FROM maintenance_run") == 1
    succeeded = [wrtest.metric(x.metrics(), "wijkradar_maintenance_runs_total",
                               result="succeeded") for x in (d1, d2)]
    assert sorted(succeeded) == [0, 1], succeeded
    d1.stop()
    d2.stop()
