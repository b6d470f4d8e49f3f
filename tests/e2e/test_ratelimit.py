"""Per-token rate limits: a token over auth.rate_limit_per_s (after its burst) gets 429 with
Retry-After and a JSON error, other tokens are not affected, the budget refills at the rate,
nothing of a refused upload is stored, and a reload changes the limits of a running daemon."""

import signal
import time

import ingestlib as il
import wrtest

LIMITED = "wijkradar_http_rate_limited_total"


def get(d, token, path="/v1/alerts"):
    return d.request("GET", path, headers={"Authorization": f"Bearer {token}"})


def limits(rate, burst):
    return {"auth": {"rate_limit_per_s": str(rate), "rate_limit_burst": str(burst)}}


def test_over_the_limit_is_429_per_token(db, make_config, daemon):
    env = il.setup(db, make_config, daemon, limits(1, 5))
    lead, _ = il.create_token(env.cfg, role="teamlead")
    other, _ = il.create_token(env.cfg, role="teamlead", organisation="org-b")

    statuses = [get(env.d, lead).status for _ in range(5)]
    assert statuses == [200] * 5, statuses
    r = get(env.d, lead)
    assert r.status == 429, r.describe()
    body = r.json()
    assert body["code"] == "rate_limited" and "1 per second" in body["error"], body
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= 2, r.headers["Retry-After"]
    # Another token has its own budget.
    assert get(env.d, other).status == 200
    # After Retry-After the token may go on, one request per second.
    time.sleep(retry)
    assert get(env.d, lead).status == 200
    assert get(env.d, lead).status == 429

    samples = env.d.metrics()
    assert wrtest.metric(samples, LIMITED, role="teamlead") == 2
    assert wrtest.metric(samples, LIMITED, role="source") == 0
    env.d.stop()


def test_a_refused_upload_stores_nothing(db, make_config, daemon):
    env = il.setup(db, make_config, daemon, limits(1, 2))
    batches = [il.batch([il.signal(f"rl-{k}-{i}") for i in range(3)], f"rl-{k}")
               for k in range(3)]
    replies = [il.upload(env.d, env.token, b) for b in batches]
    assert [r.status for r in replies] == [200, 200, 429], [r.describe() for r in replies]
    il.assert_rows(env.db, *batches[:2])
    # Sent again after the wait, it is stored like any other.
    time.sleep(int(replies[2].headers["Retry-After"]))
    il.assert_stored(il.upload(env.d, env.token, batches[2]), batches[2])
    env.d.stop()


def test_reload_changes_the_limit(db, make_config, daemon):
    env = il.setup(db, make_config, daemon, limits(1, 1))
    lead, _ = il.create_token(env.cfg, role="teamlead")
    assert [get(env.d, lead).status for _ in range(2)] == [200, 429]
    make_config(limits(0, 1))     # 0: no limit
    env.d.signal(signal.SIGHUP)
    env.d.wait_log(r"info: config: configuration reloaded")
    statuses = [get(env.d, lead).status for _ in range(30)]
    assert statuses == [200] * 30, statuses
    env.d.stop()


def test_unauthenticated_requests_are_401_not_429(db, make_config, daemon):
    env = il.setup(db, make_config, daemon, limits(1, 1))
    for _ in range(5):
        r = get(env.d, "wr_" + "0" * 64)
        assert r.status == 401, r.describe()
    env.d.stop()
