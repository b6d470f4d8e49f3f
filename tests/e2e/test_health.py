"""Operator endpoints: /healthz, /readyz, /metrics, errors for unknown routes, request ids,
and readiness that follows PostgreSQL going away and coming back."""

import re

import pytest

import wrtest


@pytest.fixture
def served(make_config, daemon):
    """A running daemon on a fresh database, once its pool has connected (/readyz 200).

    Readiness lags the start by the time the pool takes to connect; that is by design.
    """
    d = daemon(make_config())
    wrtest.wait_until("/readyz to answer 200 after start", lambda: d.get("/readyz").status == 200)
    return d


def assert_json(r, status):
    assert r.status == status, f"expected HTTP {status}\n{r.describe()}"
    ctype = r.headers.get("Content-Type", "")
    assert ctype.startswith("application/json"), f"Content-Type {ctype!r}\n{r.describe()}"
    return r.json()


def test_healthz(served):
    assert assert_json(served.get("/healthz"), 200).get("status") == "ok"


def test_readyz_reports_schema_version(db, served):
    body = assert_json(served.get("/readyz"), 200)
    assert body.get("status") == "ready", body
    version = db.scalar("SELECT max(version) FROM schema_migrations")
    assert body.get("schema_version") == version, body


def test_unknown_path_is_404_json(served):
    body = assert_json(served.get("/no/such/thing"), 404)
    assert body.get("code") == "not_found", body
    assert isinstance(body.get("error"), str) and body["error"], body


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_wrong_method_is_405_json(served, method):
    r = served.request(method, "/healthz", body=b"{}" if method == "POST" else None,
                       headers={"Content-Type": "application/json"})
    body = assert_json(r, 405)
    assert body.get("code") == "method_not_allowed", body
    assert isinstance(body.get("error"), str) and body["error"], body


def test_every_reply_carries_a_request_id(served):
    ids = []
    for method, path in [("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"),
                         ("GET", "/nope"), ("POST", "/healthz"), ("GET", "/healthz")]:
        r = served.request(method, path)
        rid = r.headers.get("X-Request-Id")
        assert rid and rid.strip(), f"{method} {path}: no X-Request-Id\n{r.describe()}"
        ids.append(rid)
    assert len(set(ids)) == len(ids), f"request ids repeat: {ids}"
    # A sane id sent by the client is echoed, also on errors.
    for path in ("/healthz", "/nope"):
        r = served.get(path, headers={"X-Request-Id": "e2e-test-0123456789"})
        assert r.headers.get("X-Request-Id") == "e2e-test-0123456789", r.describe()


def test_metrics(served):
    for _ in range(3):
        assert served.get("/healthz").status == 200
    assert served.get("/nope").status == 404
    r = served.get("/metrics")
    assert r.status == 200, r.describe()
    ctype = r.headers.get("Content-Type", "")
    assert ctype.startswith("text/plain"), f"Content-Type {ctype!r}"
    text = r.body.decode()
    assert re.search(r"^# TYPE wijkradar_http_requests_total counter$", text, re.M), text
    assert re.search(r"^# TYPE wijkradar_http_request_duration_seconds histogram$", text,
                     re.M), text
    samples = wrtest.parse_metrics(text)

    requests = "wijkradar_http_requests_total"
    assert wrtest.metric(samples, requests, route="/healthz", method="GET", code="200") == 3

    hist = "wijkradar_http_request_duration_seconds"
    buckets = [(float(ls["le"]), v) for n, ls, v in samples
               if n == hist + "_bucket" and ls.get("route") == "/healthz"]
    assert buckets, f"no {hist}_bucket for route /healthz"
    buckets.sort()
    assert buckets[-1][0] == float("inf"), f"no le=\"+Inf\" bucket: {buckets}"
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), f"histogram buckets are not cumulative: {buckets}"
    assert buckets[-1][1] == 3
    assert sum(wrtest.metric_values(samples, hist + "_count", route="/healthz")) == 3
    assert sum(wrtest.metric_values(samples, hist + "_sum", route="/healthz")) >= 0

    up = wrtest.metric(samples, "wijkradar_db_connections_up")
    assert 1 <= up <= 4, f"wijkradar_db_connections_up = {up}, pool_size is 4"
    reloads = "wijkradar_config_reloads_total"
    assert wrtest.metric(samples, reloads, result="success") == 0
    assert wrtest.metric(samples, reloads, result="failure") == 0

    # Counters only grow.
    assert served.get("/healthz").status == 200
    again = served.metrics()
    assert wrtest.metric(again, requests, route="/healthz", method="GET", code="200") == 4
    assert sum(wrtest.metric_values(again, hist + "_count", route="/healthz")) == 4
    assert wrtest.metric(again, requests, route="/metrics", method="GET", code="200") >= 1


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_readyz_follows_database(pg, served, mode):
    assert assert_json(served.get("/readyz"), 200).get("status") == "ready"

    pg.stop(mode)
    last = {}

    def unready():
        last["r"] = served.get("/readyz")
        return last["r"].status == 503

    wrtest.wait_until("/readyz to answer 503 with PostgreSQL stopped", unready,
                      describe=lambda: last["r"].describe())
    body = assert_json(last["r"], 503)
    assert body.get("code") == "database_unavailable", body
    # Liveness does not depend on the database.
    assert assert_json(served.get("/healthz"), 200).get("status") == "ok"
    wrtest.wait_until("wijkradar_db_connections_up to drop to 0",
                      lambda: wrtest.metric(served.metrics(), "wijkradar_db_connections_up") == 0)

    pg.start()

    def ready():
        last["r"] = served.get("/readyz")
        return last["r"].status == 200

    wrtest.wait_until("/readyz to answer 200 after PostgreSQL restarted", ready,
                      describe=lambda: last["r"].describe())
    assert assert_json(last["r"], 200).get("status") == "ready"
    wrtest.wait_until("wijkradar_db_connections_up to be 1 or more again",
                      lambda: wrtest.metric(served.metrics(), "wijkradar_db_connections_up") >= 1)
    assert served.running(), "the daemon exited while PostgreSQL was down"
    served.stop()


def test_json_log_lines_carry_the_request_id(make_config, daemon):
    """With log.format = json every line of the daemon's log is one JSON object with time,
    level, module and msg; a request's lines carry its id as request_id."""
    import json
    d = daemon(make_config({"log": {"format": "json", "level": "debug"}}))
    wrtest.wait_until("/readyz to answer 200", lambda: d.get("/readyz").status == 200)
    r = d.get("/healthz", headers={"X-Request-Id": "e2e-json-0001"})
    assert r.status == 200, r.describe()
    wrtest.wait_until("the request's log line", lambda: "e2e-json-0001" in d.stderr())
    lines = [x for x in d.stderr().splitlines() if x.strip()]
    objects = []
    for line in lines:
        try:
            objects.append(json.loads(line))
        except ValueError:
            pytest.fail(f"a log line is not JSON: {line!r}\n--- stderr ---\n{d.stderr()}")
    for o in objects:
        assert set(o) >= {"time", "level", "module", "msg"}, o
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o["time"]), o
        assert o["level"] in ("error", "warn", "info", "debug"), o
    mine = [o for o in objects if o.get("request_id") == "e2e-json-0001"]
    assert mine and mine[0]["module"] == "http" and "/healthz" in mine[0]["msg"], objects[-5:]
