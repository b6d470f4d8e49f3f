"""Several replicas on one PostgreSQL (issue 8): two real `wijkradar serve` processes on one
database serve the API side by side, run the scheduled analysis once per week and send each
delivery once, and a replica that is killed leaves its work to the other.

What the code promises (README "Detection and alerts", "Alert delivery"; docs/delivery.md
"Concurrency, restarts, replicas"; docs/architecture.md "A weekly analysis, step by step"):

- the weekly analysis runs under the session advisory lock "wr-analy" (daemon/analysis.c); a
  scheduled run that finds a succeeded run of its week skips it, one that finds the lock taken
  gives up ("another process is analysing") and records nothing;
- every daemon claims due deliveries with FOR UPDATE SKIP LOCKED and a lease of
  delivery.timeout_s + 10 s; a killed daemon's leases expire and another daemon sends those
  deliveries again with the same webhook-id; max_in_flight_per_subscription counts the open
  attempts of all daemons.

Data: one module template with organisation A's labelled synthetic data (deploy/synthetic.py,
the EENZAAM rise in WK008020 over the last weeks, see detectlib.py) and the tokens; each test
gets a copy. The delivery tests insert their alerts with SQL (deliverylib.py) and keep the
schedule off.
"""

import re
import signal
import time

import psycopg2
import pytest

import deliverylib as dv
import detectlib as dl
import ingestlib as il
import receivers as rc
import wrtest

A = dl.ORG_A
OUD_OOST = dl.RISE_AREA
TOKEN_SPECS = {
    "source_a": ("source", A, dl.SOURCE),
    "teamlead_a": ("teamlead", A, None),
    "analyst_a": ("analyst", A, None),
    "admin": ("admin", A, None),
}
# Due at once: from Monday 00:00 UTC on, every day of the week, the previous ISO week is due
# (daemon/scheduler.c on_tick), so the first tick (1 s after start) starts the run.
SCHEDULE_NOW = {"detect": {"schedule": "true", "weekday": "1", "hour": "0"}}
SCHEDULE_OFF = {"detect": {"schedule": "false"}}
# How long a test watches for a second run that must not come.
QUIET_S = 2.0
LEASE_S = dv.TIMEOUT_S + 10  # daemon/delivery.c: timeout_s + LEASE_MARGIN_S


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def template(pg, tmp_path_factory):
    """A database with the synthetic data of organisation A ending at the last complete week
    W (about 69,000 signals, uploaded with `wijkradar ingest`), the wijken and the tokens."""
    tmp = tmp_path_factory.mktemp("replicas-template")
    week = dl.last_complete_week()
    csv_path = dl.synthetic(tmp / "rise.csv", week)
    with dl.scratch_database(pg) as database:
        cfg = dl.write_config(tmp / "template.conf", database,
                              {"ingest": {"max_age_weeks": "5200"}})
        dl.prepare(cfg)
        toks = dl.tokens(cfg, TOKEN_SPECS)
        with dl.running_daemon(cfg, tmp) as d:
            dl.ingest(d, toks["source_a"][0], csv_path, A)
        yield dl.ns(db=database, tokens=toks, week=week)


class Replicas:
    """A copy of the template plus the daemons of one test (started through conftest's
    `daemon` fixture) and its webhook receivers, which close() shuts down first."""

    def __init__(self, tmpl, db, make_config, daemon_factory):
        self.tokens = tmpl.tokens
        self.week = tmpl.week
        self.db = db
        self.make_config = make_config
        self.daemon_factory = daemon_factory
        self.daemons = []
        self.receivers = []

    def config(self, name, *layers):
        """Writes the config file `name` from layers {section: {key: value}} (a later layer
        wins); writing the same name again replaces the file (for SIGHUP)."""
        return self.make_config(dv.merge(*layers), name=name)

    def start(self, *cfgs):
        """Starts one daemon per config at the same time; returns them once each listens."""
        ds = [self.daemon_factory(cfg, wait=False) for cfg in cfgs]
        self.daemons += ds
        for d in ds:
            d.wait_listening()
        return ds

    def ready(self, d):
        wrtest.wait_until(f"/readyz of {d.name} to answer 200",
                          lambda: d.get("/readyz").status == 200,
                          describe=lambda: wrtest.tail(d.stderr()))

    def webhook(self):
        r = rc.WebhookReceiver()
        self.receivers.append(r)
        return r

    def close(self):
        for r in self.receivers:
            try:
                r.close()
            except Exception:  # noqa: BLE001 - teardown goes on
                pass

    def tok(self, key):
        return self.tokens[key][0]

    def call(self, d, method, path, key=None, body=None, token=None):
        if key is not None:
            token = self.tok(key)
        return dl.call(d, method, path, token, body)

    def stderr(self):
        return "\n".join(f"--- {d.name} stderr ---\n{wrtest.tail(d.stderr(), 4000)}"
                         for d in self.daemons) or "(no daemon)"

    def describe(self, *receivers):
        parts = [f"--- deliveries ---\n{dv.describe_rows(dv.delivery_rows(self.db))}"]
        parts += [f"--- receiver ---\n{r.describe()}" for r in receivers]
        parts.append(self.stderr())
        return "\n".join(parts)

    def describe_runs(self):
        return (f"--- analysis_run ---\n{dl.runs(self.db)}\n--- alerts ---\n"
                f"{dl.describe_alerts(self.db)}\n{self.stderr()}")

    def subscribe(self, d, receiver, key="teamlead_a"):
        """A webhook subscription of organisation A for receiver (all areas, themes, events)."""
        r = self.call(d, "POST", "/v1/subscriptions", key,
                      {"channel": "webhook", "url": receiver.url})
        assert r.status == 201, f"POST /v1/subscriptions\n{r.describe()}\n{self.stderr()}"
        sub = dl.reply(r, 201)
        receiver.secret = sub["secret"]
        return sub

    def wait_rows(self, what, predicate, timeout=dv.WAIT_S, receivers=()):
        box = {}

        def check():
            box["rows"] = dv.delivery_rows(self.db)
            return predicate(box["rows"])
        wrtest.wait_until(what, check, timeout, lambda: self.describe(*receivers))
        return box["rows"]


@pytest.fixture
def world(template, db, make_config, daemon):
    dl.clone_into(db, template.db.name)
    w = Replicas(template, db, make_config, daemon)
    yield w
    w.close()


def sent(d):
    """wijkradar_deliveries_sent_total{channel="webhook"} of one daemon."""
    return il.counter(d.metrics(), "wijkradar_deliveries_sent_total", channel="webhook")


def run_results(d):
    """{result: count} of wijkradar_analysis_runs_total of one daemon (counts > 0 only)."""
    return {ls.get("result"): v for n, ls, v in d.metrics()
            if n == "wijkradar_analysis_runs_total" and v}


def max_open(requests):
    """The largest number of requests the receiver held open (arrived, not yet answered) at
    once; a request never answered counts as open until now."""
    points = []
    for q in requests:
        points.append((q.mono, 1))
        points.append((q.answered_mono if q.answered_mono is not None else time.monotonic(),
                       -1))
    open_now = peak = 0
    for _, step in sorted(points, key=lambda p: (p[0], p[1])):  # ends before starts on ties
        open_now += step
        peak = max(peak, open_now)
    return peak


def alert_specs(n):
    """n (organisation A, wijk, theme) triples, all different (one open alert per key)."""
    specs = [(A, area, theme) for theme in dv.THEME_LABELS for area in dv.AREA_NAMES]
    assert n <= len(specs)
    return specs[:n]


# --- 1. the API on two replicas --------------------------------------------------------------

def test_two_replicas_serve_the_same_api(world):
    cfg = world.config("replica.conf", SCHEDULE_OFF, {"delivery": {"enabled": "false"}})
    d1, d2 = world.start(cfg, cfg)
    assert d1.port != d2.port
    for d in (d1, d2):
        r = d.get("/readyz")
        assert r.status == 200, f"{d.name}: GET /readyz\n{r.describe()}\n{world.stderr()}"
        assert r.json().get("status") == "ready", r.describe()
    assert d1.get("/readyz").json() == d2.get("/readyz").json()

    aid, _ = dv.raise_alert(world.db, A, OUD_OOST, "EENZAAM", observed=14)
    # The same token on both; both read the same alert.
    seen = [dl.reply(world.call(d, "GET", f"/v1/alerts/{aid}", "teamlead_a"), 200)
            for d in (d1, d2)]
    assert [(a["id"], a["state"], a["observed"]) for a in seen] == [(aid, "new", 14)] * 2, seen

    # The pull feed: a cursor from one replica goes on at the other.
    feed = dl.reply(world.call(d1, "GET", "/v1/alerts?since=0", "teamlead_a"), 200)
    assert [c["event"]["kind"] for c in feed["changes"]] == ["raised"], feed
    cursor = feed["next"]

    # A change through replica 1 is what replica 2 answers at once.
    note = "Gezien via replica 1."
    changed = dl.reply(world.call(d1, "PATCH", f"/v1/alerts/{aid}", "teamlead_a",
                                  {"state": "acknowledged", "note": note}), 200)
    assert changed["state"] == "acknowledged", changed
    a = dl.reply(world.call(d2, "GET", f"/v1/alerts/{aid}", "teamlead_a"), 200)
    assert a["state"] == "acknowledged", f"replica 2 does not see the change\n{a}"
    assert [(e["kind"], e["from"], e["to"], e["note"]) for e in a["events"]] == \
        [("raised", None, None, None), ("state", "new", "acknowledged", note)], a["events"]
    listed = dl.reply(world.call(d2, "GET", "/v1/alerts?state=acknowledged", "analyst_a"), 200)
    assert [x["id"] for x in listed["alerts"]] == [aid], listed
    # A step back through replica 2 is refused: both work on the same row.
    dl.reply(world.call(d2, "PATCH", f"/v1/alerts/{aid}", "teamlead_a", {"state": "new"}),
             409, "invalid_transition")

    body = wrtest.wait_until("the state change in replica 2's feed", lambda: (
        lambda b: b if b["changes"] else None)(dl.reply(world.call(
            d2, "GET", f"/v1/alerts?since={cursor}", "teamlead_a"), 200)),
        timeout=10, describe=world.stderr)
    assert [(c["event"]["kind"], c["event"]["to"], c["alert"]["id"]) for c in
            body["changes"]] == [("state", "acknowledged", aid)], body

    # A token made after both started works on both; revoked, it works on neither.
    tok, tok_id = il.create_token(d1.config_path, role="teamlead", organisation=A)
    for d in (d1, d2):
        dl.reply(world.call(d, "GET", f"/v1/alerts/{aid}", token=tok), 200)
    wrtest.run_wr_ok("token", "revoke", "--config", d1.config_path, tok_id)
    for d in (d1, d2):
        dl.reply(world.call(d, "GET", f"/v1/alerts/{aid}", token=tok), 401, "unauthorized")


# --- 2. the scheduled analysis runs once -----------------------------------------------------

RUN_LOG = r"run ([0-9]+) of week {week} \(schedule\)"


def test_scheduled_analysis_runs_once_with_two_replicas(world):
    W = world.week
    cfg = world.config("schedule.conf", SCHEDULE_NOW, {"delivery": {"enabled": "false"}})
    ds = world.start(cfg, cfg)

    def succeeded():
        return [r for r in dl.runs(world.db) if r["status"] == "succeeded"]
    wrtest.wait_until("a succeeded scheduled run", succeeded, describe=world.describe_runs)

    def settled():
        results = [run_results(d) for d in ds]
        return results if all(results) else None
    results = wrtest.wait_until("both daemons to report what their scheduled run did",
                                settled, describe=lambda: f"{[run_results(d) for d in ds]}\n"
                                                          f"{world.describe_runs()}")
    time.sleep(QUIET_S)  # a second run would be recorded by now
    dl.same_week_guard(W)

    runs = dl.runs(world.db)
    assert [(r["week"], r["trigger"], r["status"]) for r in runs] == \
        [(W, "schedule", "succeeded")], f"expected exactly one run\n{world.describe_runs()}"
    assert world.db.scalar("SELECT count(*) FROM analysis_run WHERE trigger = 'schedule'"
                           " AND week = %s", (il.monday(W),)) == 1
    run = runs[0]
    assert run["alerts_raised"] == 1 and run["alerts_updated"] == 0, run

    found = dl.alerts(world.db)
    assert [(a["area_code"], a["theme"], a["last_week"], a["run_id"]) for a in found] == \
        [(OUD_OOST, dl.RISE_THEME, W, run["id"])], world.describe_runs()
    assert [e[0] for e in dl.events(world.db, found[0]["id"])] == ["raised"], \
        dl.events(world.db, found[0]["id"])

    # One daemon ran it; the other found it done, or found the lock taken.
    results = [run_results(d) for d in ds]
    ran = [i for i, r in enumerate(results) if r.get("succeeded")]
    assert len(ran) == 1, f"expected one daemon to run the week: {results}\n{world.stderr()}"
    runner, other = ds[ran[0]], ds[1 - ran[0]]
    assert results[ran[0]] == {"succeeded": 1}, results
    assert results[1 - ran[0]] in ({"skipped": 1}, {"busy": 1}), results
    assert [il.counter(d.metrics(), "wijkradar_alerts_raised_total") for d in (runner, other)] \
        == [1, 0], world.stderr()

    m = runner.wait_log(RUN_LOG.format(week=W))
    assert int(m.group(1)) == run["id"], m.group(0)
    assert not re.search(RUN_LOG.format(week=W), other.stderr()), world.stderr()
    if "skipped" in results[1 - ran[0]]:
        other.wait_log(rf"week {W} was analysed already; skipped")
    else:
        other.wait_log(rf"week {W}: another process is analysing; skipped")
    for d in ds:
        assert not re.search(r"run of week \S+ failed", d.stderr()), world.stderr()


# --- 3. deliveries are sent once -------------------------------------------------------------

def test_two_replicas_send_each_delivery_once(world):
    """20 alerts, one webhook subscription, two delivering daemons. Each daemon may hold 4
    attempts open and the subscription 6 over both, so neither can take everything and both
    must claim; the receiver answers after 0.3 s, so their attempts overlap."""
    n, per_daemon, per_sub = 20, 4, 6
    cfg = world.config("delivery.conf", dv.FAST, {"delivery": {
        "max_in_flight": str(per_daemon), "max_in_flight_per_subscription": str(per_sub)}})
    d1, d2 = world.start(cfg, cfg)
    for d in (d1, d2):
        world.ready(d)
    r = world.webhook()
    r.default = rc.answer(200, delay=0.3)
    sub = world.subscribe(d1, r)
    ids = [a for a, _ in dv.raise_alerts(world.db, alert_specs(n))]

    rows = world.wait_rows(f"all {n} deliveries to be delivered", lambda rows: len(rows) == n
                           and all(x["state"] == "delivered" for x in rows), receivers=[r])
    time.sleep(dv.QUIET_S)  # a duplicate would arrive by now

    reqs = r.requests
    assert len(reqs) == n, f"expected {n} requests, one per delivery\n{world.describe(r)}"
    got = r.ids()
    dupes = sorted({x for x in got if got.count(x) > 1})
    assert not dupes, f"webhook-ids received more than once: {dupes}\n{world.describe(r)}"
    assert set(got) == {x["msg_id"] for x in rows}, world.describe(r)
    assert sorted(q.json()["data"]["alert"]["id"] for q in reqs) == sorted(ids)
    assert all(q.verified for q in reqs), f"a signature did not verify\n{r.describe()}"
    assert all(x["attempts"] == 1 and x["subscription_id"] == sub["id"] for x in rows), \
        dv.describe_rows(rows)
    # The links are the same whichever replica sent them (same public_base_url).
    assert all(q.json()["data"]["links"]["alert"] ==
               f"{dv.PUBLIC_BASE_URL}/v1/alerts/{q.json()['data']['alert']['id']}"
               for q in reqs)

    counts = [sent(d) for d in (d1, d2)]
    assert sum(counts) == n, f"sent_total per daemon {counts}, expected {n} in all"
    assert all(c > 0 for c in counts), \
        f"one daemon sent everything ({counts}): the replicas did not share the outbox"
    peak = max_open(reqs)
    assert peak <= per_sub, (f"{peak} requests open at once to one subscription, more than "
                             f"max_in_flight_per_subscription = {per_sub} over all daemons")


# --- 4. a killed replica's deliveries are taken over -----------------------------------------

def test_killed_replica_deliveries_are_taken_over(world):
    """Replica 1 (at most 3 attempts open) claims 3 of 6 deliveries, and the receiver hangs on
    them; replica 2 has delivery off. Replica 1 is killed (SIGKILL), the receiver answers
    200 from now on, and replica 2 is reloaded with delivery on: it sends the 3 unclaimed ones
    at once, and the 3 that replica 1 held when their leases (timeout_s + 10 s) expire, with
    the same webhook-id and body. All 6 end delivered."""
    n, held = 6, 3
    base = dv.merge(dv.FAST, {"delivery": {"max_in_flight": str(held),
                                           "max_in_flight_per_subscription": "10"}})
    cfg1 = world.config("replica1.conf", base)
    cfg2 = world.config("replica2.conf", base, {"delivery": {"enabled": "false"}})
    d1, d2 = world.start(cfg1, cfg2)
    for d in (d1, d2):
        world.ready(d)
    r = world.webhook()
    r.default = rc.hang()
    world.subscribe(d1, r)
    dv.raise_alerts(world.db, alert_specs(n))

    first = r.wait_for(held, describe=world.describe)
    time.sleep(dv.QUIET_S)
    assert r.count() == held, \
        f"expected only replica 1's {held} attempts (replica 2 is off)\n{world.describe(r)}"
    rows = dv.delivery_rows(world.db)
    in_flight = {q.msg_id: q for q in first}
    leased = {x["msg_id"] for x in rows if x["lease_until"] is not None}
    assert leased == set(in_flight), f"leases differ from the open requests\n{world.describe(r)}"

    d1.kill()  # SIGKILL while its requests hang
    r.default = rc.answer(200)
    world.config("replica2.conf", base)  # delivery on
    d2.signal(signal.SIGHUP)
    d2.wait_log("configuration reloaded")

    # The deliveries replica 1 never claimed go out at once, not after the dead leases.
    wrtest.wait_until("replica 2 to send the unclaimed deliveries",
                      lambda: len({q.msg_id for q in r.requests} - set(in_flight)) >= n - held,
                      timeout=LEASE_S - 4, describe=lambda: world.describe(r))
    early = [q for q in r.requests if q.msg_id not in in_flight]
    assert all(q.mono < min(p.mono for p in first) + LEASE_S - 1 for q in early), \
        "the unclaimed deliveries waited for replica 1's leases"

    rows = world.wait_rows("every delivery to be delivered", lambda rows: len(rows) == n and
                           all(x["state"] == "delivered" for x in rows),
                           timeout=LEASE_S + 15, receivers=[r])
    time.sleep(dv.QUIET_S)
    reqs = r.requests
    by_id = {}
    for q in reqs:
        by_id.setdefault(q.msg_id, []).append(q)
    assert set(by_id) == {x["msg_id"] for x in rows}, f"a delivery was lost\n{r.describe()}"
    for msg_id, q0 in in_flight.items():
        again = [q for q in by_id[msg_id] if q is not q0]
        assert again, f"{msg_id} (held by the killed replica) was not sent again\n" \
                      f"{world.describe(r)}"
        assert again[0].json() == q0.json(), f"the body of {msg_id} changed\n{r.describe()}"
        assert again[0].mono - q0.mono >= LEASE_S - 1.5, \
            f"{msg_id} was sent again {again[0].mono - q0.mono:.1f} s later, before its " \
            f"lease of {LEASE_S} s ended"
        assert again[0].answered_mono is not None and again[0].verified, again[0].describe()
    for msg_id in set(by_id) - set(in_flight):
        assert len(by_id[msg_id]) == 1, f"{msg_id} arrived more than once\n{r.describe()}"
    attempts = {x["msg_id"]: x["attempts"] for x in rows}
    assert attempts == {m: (2 if m in in_flight else 1) for m in attempts}, \
        dv.describe_rows(rows)
    assert sent(d2) == n, f"replica 2 should have sent all {n}\n{world.stderr()}"


# --- 5. the analysis lock keeps replicas from running at once --------------------------------

def test_replicas_do_not_analyse_while_the_lock_is_held(world):
    """Another process holds the analysis lock (as a replica that is analysing does): both
    replicas, with the schedule due, give up on the week and record nothing. Once the lock is
    free, a replica that starts then runs the week, once; the replica that gave up does not
    run it again, and when it restarts it finds the week done.

    The replicas that found the lock taken try again only 600 s later (scheduler.c: retry_at
    after any scheduled run that did not succeed, "busy" included), too long to wait for
    here, so the replica that takes over is a restarted one."""
    W = world.week
    cfg = world.config("schedule.conf", SCHEDULE_NOW, {"delivery": {"enabled": "false"}})
    holder = psycopg2.connect(world.db.conninfo)
    try:
        holder.autocommit = True
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (dl.ANALYSIS_LOCK,))
        d1, d2 = world.start(cfg, cfg)
        results = wrtest.wait_until(
            "both replicas to report their scheduled run",
            lambda: (lambda rs: rs if all(rs) else None)([run_results(d) for d in (d1, d2)]),
            describe=world.describe_runs)
        assert results == [{"busy": 1}] * 2, \
            f"expected both replicas to find the lock taken: {results}\n{world.describe_runs()}"
        for d in (d1, d2):
            assert f"week {W}: another process is analysing; skipped" in d.stderr(), d.stderr()
        time.sleep(QUIET_S)
        assert dl.runs(world.db) == [] and dl.alerts(world.db) == [], \
            f"a run happened while the lock was held\n{world.describe_runs()}"
    finally:
        holder.close()  # the session ends: the lock is free

    d1.stop()
    (d3,) = world.start(cfg)
    run = wrtest.wait_until("a succeeded run after the lock was released",
                            lambda: [r for r in dl.runs(world.db) if r["status"] != "running"],
                            describe=world.describe_runs)
    m = d3.wait_log(RUN_LOG.format(week=W))
    time.sleep(QUIET_S)
    dl.same_week_guard(W)
    runs = dl.runs(world.db)
    assert [(r["week"], r["trigger"], r["status"]) for r in runs] == \
        [(W, "schedule", "succeeded")], world.describe_runs()
    assert int(m.group(1)) == runs[0]["id"] == run[0]["id"]
    assert run_results(d3) == {"succeeded": 1}, run_results(d3)
    assert run_results(d2) == {"busy": 1}, f"replica 2 ran again: {run_results(d2)}"
    found = dl.alerts(world.db)
    assert len(found) == 1, dl.describe_alerts(world.db)
    assert [e[0] for e in dl.events(world.db, found[0]["id"])] == ["raised"]

    # Replica 2, restarted now, finds the week done and does not repeat it.
    d2.stop()
    (d4,) = world.start(cfg)
    wrtest.wait_until("the restarted replica 2 to report its scheduled run",
                      lambda: run_results(d4), describe=world.describe_runs)
    dl.same_week_guard(W)
    assert run_results(d4) == {"skipped": 1}, f"{run_results(d4)}\n{world.describe_runs()}"
    assert f"week {W} was analysed already; skipped" in d4.stderr(), d4.stderr()
    assert [r["id"] for r in dl.runs(world.db)] == [runs[0]["id"]], world.describe_runs()
    assert [e[0] for e in dl.events(world.db, found[0]["id"])] == ["raised"]


def test_run_of_a_dead_replica_is_closed_by_the_next_run(world):
    """A replica killed during its analysis leaves a 'running' row; the next run, holding the
    lock (so nothing else can be running), records it as failed (abandoned)."""
    W = world.week
    cfg = world.config("abandoned.conf", SCHEDULE_OFF, {"delivery": {"enabled": "false"}})
    world.db.query("INSERT INTO analysis_run (week, trigger, requested_by)"
                   " VALUES (%s, 'schedule', 'a replica that was killed')",
                   (il.monday(W),))
    dl.analyze(cfg, W)
    runs = dl.runs(world.db)
    assert [r["status"] for r in runs] == ["failed", "succeeded"], world.describe_runs()
    assert runs[0]["finished_at"] is not None and \
        runs[0]["error"].startswith("abandoned"), world.describe_runs()
