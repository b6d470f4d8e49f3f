"""Uploads when things go wrong: PostgreSQL stopped and started again under a stream of uploads,
the daemon killed (SIGKILL) during concurrent uploads, a database that does not answer in time,
and more uploads at once than the daemon takes.

The invariants: a 200 is sent only after the batch committed, so every acknowledged signal is
in the database; a batch is stored whole or not at all; while the database is unreachable the
daemon answers 503 with Retry-After at once (clients use a timeout of a few seconds, so a hang
fails the test); and re-sending everything afterwards stores every signal exactly once, with
exact weekly person counts.
"""

import socket
import threading
import time
import zlib

import psycopg2
import pytest

import ingestlib as il
import wrtest

# Clients give up after this long: the daemon must answer well within it, also with the
# database gone. Generous for sanitizer builds; it asserts no speed, only that there is no hang.
CLIENT_TIMEOUT_S = 5
# Upper bound on the run of a streaming test, so that a broken daemon cannot keep it going.
STREAM_LIMIT_S = 40

PERSONS = [il.subject(f"fault-person-{i}") for i in range(40)]
AREAS = ["WK008010", "WK008020", "WK008030", "WK008040"]
WEEKS = ["2025-W40", "2025-W41", "2025-W42"]


def make_batch(tag, size):
    """A batch of `size` signals with ids unique to `tag`; mostly needs, persons overlapping
    with every other batch, so that the weekly counts are exercised across batches."""
    sigs = []
    for i in range(size):
        j = zlib.crc32(f"{tag}/{i}".encode())
        kind = "need" if i % 4 else ("contact", "outcome", "trajectory_event")[j % 3]
        sigs.append(il.signal(f"{tag}-{i:04d}", kind, subj=PERSONS[j % len(PERSONS)],
                              area=AREAS[(j >> 8) % len(AREAS)], week=WEEKS[(j >> 12) % 3],
                              theme=("GELD", "EENZAAM", "WONEN")[(j >> 16) % 3]))
    return il.batch(sigs, tag)


def assert_503(r):
    """A 503 for an unreachable database: JSON, database_unavailable, Retry-After seconds."""
    body = il.assert_reply(r, 503, "database_unavailable")
    retry = r.headers.get("Retry-After", "")
    assert retry.isdigit() and int(retry) >= 1, f"Retry-After {retry!r}\n{r.describe()}"
    return body


def stored_batches(db, batches):
    """Asserts that the signal table holds whole batches only, nothing else, no key twice;
    returns the ids of the batches stored."""
    keys = il.signal_keys(db)
    assert len(keys) == len(set(keys)), "a signal is stored twice"
    by_batch = {}
    for b in batches:
        for s in b["signals"]:
            by_batch[(b["organisation"], b["source"], s["signal_id"])] = b["batch_id"]
    extra = [k for k in keys if k not in by_batch]
    assert not extra, f"{len(extra)} stored signals were never sent: {extra[:5]}"
    present = {}
    for k in keys:
        present[by_batch[k]] = present.get(by_batch[k], 0) + 1
    sizes = {b["batch_id"]: len(b["signals"]) for b in batches}
    partial = {bid: f"{n} of {sizes[bid]}" for bid, n in present.items() if n != sizes[bid]}
    assert not partial, f"batches stored in part: {partial}"
    return set(present)


# --- PostgreSQL stopped and started under a stream of uploads ---------------------------------

@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_database_stopped_mid_stream(pg, db, make_config, daemon, mode):
    env = il.setup(db, make_config, daemon)
    phase = {"now": "before"}           # before, down, starting, after; set by this thread
    log = []                            # (batch, phase at start, phase at end, result)
    done = threading.Event()
    batches = []

    def stream():
        """Sends batches one after another; a batch not acknowledged is sent again (as a
        real client does) until it is, then the next one."""
        client = il.Client(env.d.port, env.token, timeout=CLIENT_TIMEOUT_S)
        deadline = time.monotonic() + STREAM_LIMIT_S
        k = 0
        b = None
        while time.monotonic() < deadline:
            if b is None:
                if done.is_set():
                    break
                b = make_batch(f"{mode}-{k:03d}", 50)
                batches.append(b)
                k += 1
            started = phase["now"]
            body, ctype = il.encode(b, "protobuf")
            r = client.post(body, ctype)
            log.append((b, started, phase["now"], r))
            if isinstance(r, wrtest.Response) and r.status == 200:
                b = None
            elif not isinstance(r, wrtest.Response) or r.status != 503:
                break                   # anything else fails the test below
            else:
                done.wait(0.02)         # pacing of retries, not a wait for a condition
        client.close()

    t = threading.Thread(target=stream, name="stream")
    t.start()
    try:
        def count(ph, status):
            return sum(1 for _, s, e, r in log if s == e == ph
                       and isinstance(r, wrtest.Response) and r.status == status)

        def problems():
            return [(b["batch_id"], r) for b, _, _, r in log
                    if not isinstance(r, wrtest.Response) or r.status not in (200, 503)]

        def state():
            return f"{len(log)} requests; problems: {problems()[:3]}; alive {t.is_alive()}"

        wrtest.wait_until("3 batches stored before the stop",
                          lambda: count("before", 200) >= 3 or not t.is_alive(),
                          describe=state)
        pg.stop(mode)
        phase["now"] = "down"
        wrtest.wait_until("3 answers with PostgreSQL stopped",
                          lambda: count("down", 503) + count("down", 200) >= 3
                          or not t.is_alive(), describe=state)
        phase["now"] = "starting"      # pg_ctl start returns only after the server is up
        pg.start()
        phase["now"] = "after"
        wrtest.wait_until("3 batches stored after PostgreSQL restarted",
                          lambda: count("after", 200) >= 3 or not t.is_alive(),
                          timeout=STREAM_LIMIT_S, describe=state)
    finally:
        done.set()
        t.join(STREAM_LIMIT_S + CLIENT_TIMEOUT_S)
        pg.ensure_running()
    assert not t.is_alive(), "the upload stream did not end"

    # Every request was answered (no client timeout), with 200 or 503 only.
    for b, started, ended, r in log:
        assert isinstance(r, wrtest.Response), (f"batch {b['batch_id']} ({started} -> "
                                                f"{ended}): no answer: {r!r}\n"
                                                f"{wrtest.tail(env.d.stderr())}")
        assert r.status in (200, 503), f"batch {b['batch_id']} ({started} -> {ended}):\n" \
                                       f"{r.describe()}"
        if r.status == 503:
            assert_503(r)
        else:
            body = il.assert_reply(r, 200)
            n = len(b["signals"])
            assert body["received"] == n and body["stored"] + body["duplicates"] == n, body
    down = [r for _, s, e, r in log if s == e == "down"]
    assert down, "no upload was answered while PostgreSQL was stopped"
    assert all(r.status == 503 for r in down), \
        [r.describe() for r in down if r.status != 503][:1]
    assert env.d.running(), "the daemon exited"

    # Each batch was sent until acknowledged: all of them are stored, exactly once.
    acked = {b["batch_id"] for b, _, _, r in log if r.status == 200}
    assert acked == {b["batch_id"] for b in batches}, "the stream ended before its last ack"
    assert stored_batches(env.db, batches) == acked
    il.assert_rows(env.db, *batches)
    il.assert_need_counts(env.db, batches)
    # And a re-send of everything now stores nothing.
    for b in batches[:5]:
        il.assert_stored(il.upload(env.d, env.token, b), b, stored=0)
    il.assert_need_counts(env.db, batches)


def test_database_down_from_the_start(pg, db, make_config, daemon):
    """Stopped before the upload: a prompt 503, then 200 once it is back, same daemon."""
    env = il.setup(db, make_config, daemon)
    b = make_batch("early", 20)
    pg.stop("fast")
    try:
        for fmt in ("protobuf", "json"):
            body, ctype = il.encode(b, fmt)
            r = il.try_post(env.d.port, body, ctype, env.token, CLIENT_TIMEOUT_S)
            assert isinstance(r, wrtest.Response), f"no answer: {r!r}"
            assert_503(r)
        assert env.d.get("/healthz").status == 200
    finally:
        pg.start()
    last = {}

    def stored():
        body, ctype = il.encode(b, "protobuf")
        last["r"] = il.try_post(env.d.port, body, ctype, env.token, CLIENT_TIMEOUT_S)
        assert isinstance(last["r"], wrtest.Response), f"no answer: {last['r']!r}"
        if last["r"].status == 503:
            assert_503(last["r"])
            return False
        return True

    wrtest.wait_until("the upload to be stored after PostgreSQL restarted", stored,
                      describe=lambda: last["r"].describe())
    il.assert_stored(last["r"], b)
    il.assert_rows(env.db, b)
    il.assert_need_counts(env.db, [b])


# --- the daemon killed during concurrent uploads ---------------------------------------------

def test_kill_during_concurrent_uploads(db, make_config, daemon):
    env = il.setup(db, make_config, daemon)
    threads, size, max_batches = 4, 200, 60
    sent = {t: [] for t in range(threads)}      # batches whose request was started
    results = {}                                # batch id -> Response or exception
    lock = threading.Lock()
    stop = threading.Event()

    def run(t):
        client = il.Client(env.d.port, env.token, timeout=wrtest.HTTP_TIMEOUT_S)
        for k in range(max_batches):
            if stop.is_set():
                break
            b = make_batch(f"t{t}-b{k:03d}", size)
            sent[t].append(b)
            body, ctype = il.encode(b, "protobuf" if k % 2 else "json")
            r = client.post(body, ctype)
            with lock:
                results[b["batch_id"]] = r
            if not isinstance(r, wrtest.Response):
                break                   # the daemon is gone
        client.close()

    workers = [threading.Thread(target=run, args=(t,), name=f"upload-{t}")
               for t in range(threads)]
    for w in workers:
        w.start()
    try:
        def n_acked():
            with lock:
                return sum(1 for r in results.values()
                           if isinstance(r, wrtest.Response) and r.status == 200)
        wrtest.wait_until("8 batches acknowledged", lambda: n_acked() >= 8
                          or not any(w.is_alive() for w in workers),
                          describe=lambda: f"results: {list(results.values())[:4]}")
        running = sum(w.is_alive() for w in workers)
        env.d.proc.kill()
        env.d.proc.wait(wrtest.EXIT_TIMEOUT_S)
    finally:
        stop.set()
        for w in workers:
            w.join(wrtest.HTTP_TIMEOUT_S + 5)
    assert not any(w.is_alive() for w in workers), "upload threads did not end"
    assert running > 0, "every upload thread had finished before the kill"
    wrtest.check_sanitizers("wijkradar serve", env.d.stderr())
    # A statement the daemon sent before it died still runs to its end (and may commit):
    # look at the database only once the dead daemon's sessions are gone.
    wrtest.wait_until("the killed daemon's database sessions to end", lambda: db.scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
        " AND backend_type = 'client backend'", (db.name,)) == 0)

    batches = [b for t in range(threads) for b in sent[t]]
    for b in batches:
        r = results.get(b["batch_id"])
        if isinstance(r, wrtest.Response):
            assert r.status == 200, f"batch {b['batch_id']}:\n{r.describe()}"
            il.assert_stored(r, b)
    acked = [b for b in batches if isinstance(results.get(b["batch_id"]), wrtest.Response)]
    unacked = [b for b in batches if b not in acked]
    assert acked and unacked, f"{len(acked)} acknowledged, {len(unacked)} not"

    # After the kill: every acknowledged batch is there, whole; nothing is there in part.
    stored = stored_batches(env.db, batches)
    missing = [b["batch_id"] for b in acked if b["batch_id"] not in stored]
    assert not missing, f"acknowledged batches missing after the kill: {missing}"
    il.assert_rows(env.db, *[b for b in batches if b["batch_id"] in stored])
    il.assert_need_counts(env.db, [b for b in batches if b["batch_id"] in stored])

    # Restarted, everything is sent again: stored exactly once, counts exact.
    d2 = il.serve(daemon, env.cfg)
    for b in batches:
        r = il.upload(d2, env.token, b)
        body = il.assert_reply(r, 200)
        want_stored = 0 if b["batch_id"] in stored else len(b["signals"])
        assert body["stored"] == want_stored and body["duplicates"] == size - want_stored, \
            f"batch {b['batch_id']}: {body}"
    il.assert_rows(env.db, *batches)
    il.assert_need_counts(env.db, batches)
    stored_batches(env.db, batches)


# --- a database that does not answer in time, and too many uploads at once --------------------

class TableLock:
    """Holds an exclusive lock on the signal table, so that stores wait for it."""

    def __init__(self, db):
        self.conn = psycopg2.connect(host=db.cluster.host, user=db.cluster.user,
                                     dbname=db.name)
        self.db = db

    def __enter__(self):
        with self.conn.cursor() as cur:
            cur.execute("LOCK TABLE signal IN ACCESS EXCLUSIVE MODE")
        return self

    def __exit__(self, *exc):
        self.conn.rollback()
        self.conn.close()
        return False

    def waiters(self):
        return self.db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                              " AND wait_event_type = 'Lock'", (self.db.name,))


def upload_in_thread(env, b, out, timeout=wrtest.HTTP_TIMEOUT_S):
    def run():
        body, ctype = il.encode(b, "protobuf")
        out["r"] = il.try_post(env.d.port, body, ctype, env.token, timeout)
    t = threading.Thread(target=run)
    t.start()
    return t


def test_store_waiting_on_a_lock_times_out_with_503(db, make_config, daemon):
    """ingest.timeout_s bounds an upload whose store hangs: 503 database_timeout with
    Retry-After; the late commit is harmless (a re-send finds the signals as duplicates)."""
    env = il.setup(db, make_config, daemon, {"ingest": {"timeout_s": "2"}})
    b = make_batch("late", 30)
    out = {}
    with TableLock(db) as lock:
        t = upload_in_thread(env, b, out)
        wrtest.wait_until("the store to wait for the lock", lambda: lock.waiters() >= 1)
        # The event loop is not blocked meanwhile.
        assert env.d.get("/healthz").status == 200
        t.join(wrtest.HTTP_TIMEOUT_S + 5)
        assert not t.is_alive()
        r = out["r"]
        assert isinstance(r, wrtest.Response), f"no answer: {r!r}"
        il.assert_reply(r, 503, "database_timeout")
        assert r.headers.get("Retry-After", "").isdigit(), r.describe()
        assert lock.waiters() >= 1, "the late store should still be waiting"
    # The late store commits once the lock is gone; the re-send finds it whole.
    wrtest.wait_until("the late store to finish", lambda: lock.waiters() == 0)
    r = il.upload(env.d, env.token, b)
    body = il.assert_reply(r, 200)
    assert body["stored"] + body["duplicates"] == len(b["signals"]), body
    assert body["stored"] in (0, len(b["signals"])), body
    il.assert_rows(env.db, b)
    il.assert_need_counts(env.db, [b])
    assert env.d.running()


def test_too_many_uploads_in_flight_is_503(db, make_config, daemon):
    env = il.setup(db, make_config, daemon, {"ingest": {"max_inflight_batches": "1"}})
    first, second = make_batch("inflight-1", 20), make_batch("inflight-2", 20)
    out = {}
    with TableLock(db) as lock:
        t = upload_in_thread(env, first, out)
        wrtest.wait_until("the first store to wait for the lock", lambda: lock.waiters() >= 1)
        r = il.upload(env.d, env.token, second)
        il.assert_reply(r, 503, "overloaded")
        assert r.headers.get("Retry-After", "").isdigit(), r.describe()
    t.join(wrtest.HTTP_TIMEOUT_S + 5)
    assert not t.is_alive()
    assert isinstance(out["r"], wrtest.Response), f"no answer: {out['r']!r}"
    il.assert_stored(out["r"], first)
    il.assert_rows(env.db, first)
    # Once the first is done, the second goes through.
    il.assert_stored(il.upload(env.d, env.token, second), second)
    il.assert_rows(env.db, first, second)
    il.assert_need_counts(env.db, [first, second])


def test_client_hangs_up_while_the_batch_is_stored(db, make_config, daemon):
    """The client closes its connection while the store waits: the daemon does not crash or
    leak (sanitizer builds check at the clean stop), and the batch is stored whole or not at
    all; a re-send completes it."""
    env = il.setup(db, make_config, daemon)
    b = make_batch("hangup", 40)
    body, ctype = il.encode(b, "protobuf")
    with TableLock(db) as lock:
        sock = socket.create_connection(("127.0.0.1", env.d.port), timeout=CLIENT_TIMEOUT_S)
        try:
            sock.sendall(b"POST /v1/signals HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: " + ctype.encode() + b"\r\n"
                         b"Authorization: Bearer " + env.token.encode() + b"\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            wrtest.wait_until("the store to wait for the lock", lambda: lock.waiters() >= 1)
        finally:
            sock.close()
        assert env.d.get("/healthz").status == 200
    # Answered (to nobody) once the lock is gone; libevent may not notice the hang-up before
    # it writes the reply, so the status code recorded is not asserted.
    wrtest.wait_until("the abandoned upload to be answered", lambda: il.counter(
        env.d.metrics(), "wijkradar_http_requests_total", route="/v1/signals") == 1)
    assert stored_batches(env.db, [b]) in (set(), {b["batch_id"]})
    r = il.upload(env.d, env.token, b)
    body = il.assert_reply(r, 200)
    assert body["stored"] + body["duplicates"] == len(b["signals"]), body
    il.assert_rows(env.db, b)
    il.assert_need_counts(env.db, [b])
    assert env.d.running()
