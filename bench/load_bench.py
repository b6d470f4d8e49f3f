#!/usr/bin/python3
"""Load test driver: concurrent uploaders over HTTP against `wijkradar serve` for a fixed time.

Run by bench/load inside tests/pg-env.sh. Three phases, each against a freshly started daemon on
the same database: (1) normal load, POST /v1/signals from a few keep-alive connections; (2)
overload, many connections against a daemon with max_inflight_batches and database.queue_max set
low, which must shed load with 503 + Retry-After while its memory stays bounded; (3) GET
/v1/alerts reads. Per phase it prints requests/s, signals/s, latency percentiles per HTTP status,
errors by status and code and by kind of connection error, the daemon's RSS (VmRSS sampled every
200 ms: start, peak, end) and the CPU of daemon, PostgreSQL and this client.

The client is asyncio in this process rather than wrk: every request carries new signal ids and
persons (so every accepted batch stores rows), and latency is kept per HTTP status (wrk keeps one
latency distribution for all answers; in overload the fast 503s would hide the slow stores).
Bodies are made by substituting a fixed-width request number into a few pre-encoded batches, so
making a request costs the client next to nothing. Standard library, psycopg2 and google.protobuf.
"""

import argparse
import asyncio
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_signals  # noqa: E402
from benchlib import (PG_SHOW, ROOT, RSS_INTERVAL_S, BenchError, Daemon,  # noqa: E402
                      RssSampler, cluster_cpu_s, has_detect_schedule, log, make_token,
                      pg_settings, prepare_database, proc_cpu_s, run_in_cluster, run_main,
                      scalar, status_kb, write_config)

DB = "wr_load"
ORG, SOURCE = "org-a", "load"
# Placeholders in the encoded batches, replaced per request by its number: decimal in batch and
# signal ids ("load-0000000042-0007"), hex in the last 10 characters of each person's pseudonym
# (so every request brings new persons and the weekly aggregates grow too). Same length, so the
# protobuf encoding stays valid.
REQ_DEC = b"QQQQQQQQQQ"
REQ_HEX = b"ZZZZZZZZZZ"
TEMPLATES = 16
REQUEST_TIMEOUT_S = 60.0
PB_TYPE = "application/x-protobuf"
JSON_TYPE = "application/json"


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="bench/load",
        description="Load test of wijkradar serve: normal upload load, overload (503 with "
                    "Retry-After, bounded memory) and alert reads, each for a fixed time.")
    ap.add_argument("--duration", type=float, default=30, metavar="S",
                    help="seconds of the normal and overload phases (30)")
    ap.add_argument("--connections", type=int, default=8, metavar="C",
                    help="uploading connections in the normal phase (8)")
    ap.add_argument("--batch-size", type=int, default=500, metavar="B",
                    help="signals per POST (500)")
    ap.add_argument("--format", choices=("protobuf", "json"), default="protobuf",
                    help="body format (protobuf, what `wijkradar ingest` sends)")
    ap.add_argument("--pool-size", type=int, default=4, metavar="N",
                    help="database.pool_size in every phase (4)")
    ap.add_argument("--overload-connections", type=int, default=256, metavar="C",
                    help="uploading connections in the overload phase (256)")
    ap.add_argument("--overload-inflight", type=int, default=8, metavar="N",
                    help="ingest.max_inflight_batches in the overload phase (8; normal: 64)")
    ap.add_argument("--overload-queue-max", type=int, default=4, metavar="N",
                    help="database.queue_max in the overload phase (4; normal: 1024)")
    ap.add_argument("--overload-max-connections", type=int, default=1024, metavar="N",
                    help="http.max_connections in the overload phase (1024, the default)")
    ap.add_argument("--overload-duration", type=float, metavar="S",
                    help="seconds of the overload phase (default --duration)")
    ap.add_argument("--honour-retry-after", action="store_true",
                    help="after a 503 a connection waits Retry-After seconds (default: it "
                         "sends the next batch at once, the harsher case)")
    ap.add_argument("--alerts-duration", type=float, default=10, metavar="S",
                    help="seconds of the GET /v1/alerts phase; 0 skips it (10)")
    ap.add_argument("--alerts-connections", type=int, default=8, metavar="C",
                    help="connections of the alerts phase (8)")
    ap.add_argument("--phases", default="normal,overload,alerts",
                    help="phases to run, comma-separated (normal,overload,alerts)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--bin", default=os.environ.get("WR_BENCH_BIN",
                                                    "/tmp/wr-bench-load/daemon/wijkradar"),
                    help="wijkradar binary")
    ap.add_argument("--parse-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.overload_duration is None:
        args.overload_duration = args.duration
    phases = [p for p in args.phases.split(",") if p]
    if not phases or any(p not in ("normal", "overload", "alerts") for p in phases):
        ap.error("--phases takes normal, overload and/or alerts")
    if args.alerts_duration <= 0:
        phases = [p for p in phases if p != "alerts"]
    args.phase_list = phases
    if args.duration <= 0 or args.overload_duration <= 0 or args.alerts_duration < 0:
        ap.error("durations must be > 0")
    if not 1 <= args.batch_size <= 10000:
        ap.error("--batch-size must be 1..10000 (ingest.max_signals_per_batch)")
    for name in ("connections", "overload_connections", "alerts_connections", "pool_size",
                 "overload_inflight", "overload_queue_max", "overload_max_connections"):
        if not 1 <= getattr(args, name) <= 4096:
            ap.error(f"--{name.replace('_', '-')} must be 1..4096")
    return args


# --- request bodies --------------------------------------------------------------------------

def make_templates(args, workdir):
    """TEMPLATES encoded batches of --batch-size realistic signals (bench/gen_signals.py) with
    the request-number placeholders in place. Returns (bodies, content type, kinds)."""
    n = TEMPLATES * args.batch_size
    rows = list(gen_signals.generate(n, max(1000, n // 3), seed=20261125))
    kinds = {}
    for r in rows:
        kinds[r[8]] = kinds.get(r[8], 0) + 1
    pb = gen_signals.protobuf_module(str(workdir))
    bodies = []
    for t in range(TEMPLATES):
        chunk = []
        for i, r in enumerate(rows[t * args.batch_size:(t + 1) * args.batch_size]):
            r = list(r)
            r[0] = f"load-{REQ_DEC.decode()}-{i:04d}"
            r[5] = r[5][:-len(REQ_HEX)] + REQ_HEX.decode()
            chunk.append(r)
        msg = gen_signals.signal_batch(pb, chunk, ORG, SOURCE, f"load-{REQ_DEC.decode()}")
        if args.format == "protobuf":
            body = msg.SerializeToString()
        else:
            from google.protobuf import json_format
            body = json.dumps(json_format.MessageToDict(
                msg, preserving_proto_field_name=True)).encode()
        bodies.append(body)
    return bodies, PB_TYPE if args.format == "protobuf" else JSON_TYPE, kinds


class Requests:
    """Hands out numbered upload requests (the number is unique across all phases)."""

    def __init__(self, port, token, bodies, ctype, batch_size, first=1):
        self.head = (f"POST /v1/signals HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     f"Authorization: Bearer {token}\r\nContent-Type: {ctype}\r\n").encode()
        self.bodies = bodies
        self.next = first
        self.batch_size = batch_size

    def take(self):
        n = self.next
        self.next += 1
        body = self.bodies[n % len(self.bodies)].replace(REQ_DEC, b"%010d" % n).replace(
            REQ_HEX, b"%010x" % n)
        return self.head + b"Content-Length: %d\r\n\r\n" % len(body) + body


class Gets:
    """GET requests of one path with a token."""

    def __init__(self, port, token, path):
        self.req = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                    f"Authorization: Bearer {token}\r\n\r\n").encode()
        self.batch_size = 0

    def take(self):
        return self.req


# --- the client ------------------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.latency = {}  # status -> [seconds]
        self.codes = {}  # (status, body code or "") -> count
        self.conn_errors = {}  # kind -> count
        self.retry_after = {}  # (status, Retry-After value or None) -> count
        self.stored = 0
        self.duplicates = 0
        self.inflight = 0
        self.max_inflight = 0

    def answer(self, status, latency, headers, body):
        self.latency.setdefault(status, []).append(latency)
        code = ""
        if status == 200 and body.startswith(b"{\"batch_id\""):
            reply = json.loads(body)
            self.stored += reply.get("stored", 0)
            self.duplicates += reply.get("duplicates", 0)
        elif status != 200:
            try:
                code = json.loads(body).get("code", "")
            except ValueError:
                code = "(no JSON body)"
        self.codes[(status, code)] = self.codes.get((status, code), 0) + 1
        if status >= 500 or status == 429:
            key = (status, headers.get("retry-after"))
            self.retry_after[key] = self.retry_after.get(key, 0) + 1

    def conn_error(self, kind):
        self.conn_errors[kind] = self.conn_errors.get(kind, 0) + 1


async def read_response(reader):
    """(status, headers with lower-case names, body) of one HTTP/1.1 response."""
    line = await reader.readuntil(b"\r\n")
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ValueError(f"bad status line {line[:80]!r}")
    status = int(parts[1])
    headers = {}
    while True:
        line = await reader.readuntil(b"\r\n")
        if line == b"\r\n":
            break
        k, _, v = line.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


def error_kind(e):
    if isinstance(e, asyncio.TimeoutError):
        return f"timeout (no answer within {REQUEST_TIMEOUT_S:.0f} s)"
    if isinstance(e, asyncio.IncompleteReadError):
        return "connection closed before a full answer"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, ConnectionResetError):
        return "connection reset"
    if isinstance(e, BrokenPipeError):
        return "broken pipe (closed while sending)"
    if isinstance(e, OSError):
        return f"{type(e).__name__} errno {e.errno}"
    return f"{type(e).__name__}: {e}"


async def connection(port, source, stats, stop_at, honour_retry_after):
    reader = writer = None
    while time.monotonic() < stop_at:
        if writer is None:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), REQUEST_TIMEOUT_S)
            except (OSError, asyncio.TimeoutError) as e:
                stats.conn_error("connect: " + error_kind(e))
                await asyncio.sleep(0.1)
                continue
        req = source.take()
        t0 = time.monotonic()
        stats.inflight += 1
        stats.max_inflight = max(stats.max_inflight, stats.inflight)
        try:
            writer.write(req)
            status, headers, body = await asyncio.wait_for(
                drain_and_read(writer, reader), REQUEST_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as e:
            stats.conn_error(error_kind(e))
            writer.close()
            reader = writer = None
            continue
        finally:
            stats.inflight -= 1
        stats.answer(status, time.monotonic() - t0, headers, body)
        if headers.get("connection", "").lower() == "close":
            writer.close()
            reader = writer = None
        if honour_retry_after and status == 503:
            await asyncio.sleep(float(headers.get("retry-after", "1")))
    if writer is not None:
        writer.close()


async def drain_and_read(writer, reader):
    await writer.drain()
    return await read_response(reader)


async def drive(port, source, connections, duration, honour_retry_after):
    """Runs `connections` closed-loop connections for `duration` seconds; answers that are in
    flight at the end are waited for. Returns (stats, seconds from start to the last answer)."""
    stats = Stats()
    t0 = time.monotonic()
    stop_at = t0 + duration
    await asyncio.gather(*(connection(port, source, stats, stop_at, honour_retry_after)
                           for _ in range(connections)))
    return stats, time.monotonic() - t0


# --- phases ----------------------------------------------------------------------------------

def seed_alerts(cluster):
    """One open synthetic alert per wijk and theme of the organisation (308 rows), so that
    GET /v1/alerts reads and pages real rows. Returns their number."""
    conn = cluster.connect(DB)
    with conn.cursor() as cur:
        cur.execute("""
            INSERT INTO alert (organisation, area_year, area_code, theme, method, first_week,
                               last_week, observed, expected, upperbound, ratio, pvalue,
                               strength, trend, evidence)
            SELECT %s, a.year, a.code, t.code, 'farrington', date '2026-11-09',
                   date '2026-11-16', 12, 4.5, 9, 2.7, 0.0001, 3.5, 'rising', '{}'::jsonb
            FROM area a CROSS JOIN theme t
            WHERE a.year = 2024 AND a.code LIKE 'WK%%'
            ON CONFLICT DO NOTHING""", (ORG,))
        n = cur.rowcount
    conn.close()
    return n


def run_phase(args, cluster, cfg, workdir, name, make_source, connections, duration, honour):
    d = Daemon(args, cfg, workdir)
    try:
        d.start()
        time.sleep(0.5)  # let the start-up work (migrations check, pool connects) settle
        source = make_source(d.port)
        sampler = RssSampler(d.proc.pid)
        sampler.start()
        time.sleep(2 * RSS_INTERVAL_S)
        load = os.getloadavg()[0]
        pg0, d0, c0 = cluster_cpu_s(cluster), proc_cpu_s(d.proc.pid), time.process_time()
        t_start = time.monotonic()
        stats, elapsed = asyncio.run(drive(d.port, source, connections, duration, honour))
        t_end = time.monotonic()
        cpu = (time.process_time() - c0, proc_cpu_s(d.proc.pid) - d0, cluster_cpu_s(cluster) - pg0)
        time.sleep(2.0)  # RSS once the load is gone
        sampler.stop()
        alive = d.proc.poll() is None
        try:
            hwm = status_kb(d.proc.pid, "VmHWM") if alive else 0
            metrics = d.metrics() if alive else {}
        except (OSError, BenchError) as e:
            log(f"phase {name}: {e}")
            hwm, metrics = hwm if "hwm" in locals() else 0, {}
        d.stop()
    finally:
        d.kill()
    s = sampler.samples
    before = [kb for t, kb in s if t < t_start]
    during = [(t, kb) for t, kb in s if t_start <= t <= t_end]
    after = [kb for t, kb in s if t > t_end + 1.5]
    return {"name": name, "stats": stats, "elapsed": elapsed, "duration": duration,
            "connections": connections, "load": load, "cpu": cpu, "hwm": hwm,
            "metrics": metrics, "cfg": cfg.read_text(), "t_start": t_start,
            "rss_start": before[-1] if before else s[0][1],
            "rss_peak": max(kb for _, kb in s),
            "rss_end": during[-1][1] if during else s[-1][1],
            "rss_idle": after[-1] if after else s[-1][1],
            "rss_series": during, "batch_size": source.batch_size}


def percentile(xs, q):
    """Nearest-rank percentile of a sorted list."""
    return xs[max(0, math.ceil(q / 100 * len(xs)) - 1)]


def report_phase(p, out):
    st = p["stats"]
    n = sum(len(v) for v in st.latency.values())
    errs = sum(st.conn_errors.values())
    ok = len(st.latency.get(200, []))
    el = p["elapsed"]
    out(f"  wall {el:.1f} s ({p['duration']:.0f} s of sending, then the answers in flight), "
        f"{p['connections']} connections, 1-min load average at start {p['load']:.2f}")
    line = f"  answers {n} ({n / el:.1f}/s), of which 200: {ok} ({ok / el:.1f}/s)"
    if p["batch_size"]:
        line += (f"; signals stored {st.stored} ({st.stored / el:,.0f}/s), "
                 f"duplicates {st.duplicates}")
    out(line)
    out(f"  connection errors: {errs}" + ("" if not errs else " (" + ", ".join(
        f"{k}: {v}" for k, v in sorted(st.conn_errors.items())) + ")"))
    out("  answers by status and code:")
    for (status, code), c in sorted(st.codes.items()):
        out(f"    {status} {code or '-':<22} {c:>8} ({100 * c / n:.1f}%)")
    for (status, ra), c in sorted(st.retry_after.items(), key=lambda kv: str(kv[0])):
        out(f"    {status} with Retry-After: {ra if ra is not None else 'MISSING'}: {c}")
    out(f"  latency per status (ms): {'status':>6} {'n':>8} {'p50':>8} {'p90':>8} {'p99':>8} "
        f"{'max':>8}")
    for status, xs in sorted(st.latency.items()):
        xs.sort()
        out(f"  {'':>24} {status:>6} {len(xs):>8} {1000 * percentile(xs, 50):>8.1f} "
            f"{1000 * percentile(xs, 90):>8.1f} {1000 * percentile(xs, 99):>8.1f} "
            f"{1000 * xs[-1]:>8.1f}")
    allx = sorted(x for xs in st.latency.values() for x in xs)
    if allx:
        out(f"  {'':>24} {'all':>6} {len(allx):>8} {1000 * percentile(allx, 50):>8.1f} "
            f"{1000 * percentile(allx, 90):>8.1f} {1000 * percentile(allx, 99):>8.1f} "
            f"{1000 * allx[-1]:>8.1f}")
    mb = 1 / 1024
    out(f"  daemon RSS (MiB): start {p['rss_start'] * mb:.1f}, peak {p['rss_peak'] * mb:.1f} "
        f"(VmHWM {p['hwm'] * mb:.1f}), end of load {p['rss_end'] * mb:.1f}, "
        f"2 s later {p['rss_idle'] * mb:.1f}")
    series = p["rss_series"]
    if series:
        step = 5.0 if p["duration"] >= 15 else 2.0
        slices = {}
        for t, kb in series:
            k = int((t - p["t_start"]) // step)
            slices[k] = max(slices.get(k, 0), kb)
        out(f"  RSS peak per {step:.0f} s of load (MiB): " + " ".join(
            f"{slices[k] * mb:.1f}" for k in sorted(slices)))
    cl, dm, pg = p["cpu"]
    out(f"  CPU s: daemon {dm:.1f}, PostgreSQL {pg:.1f}, this client {cl:.1f} "
        f"(cores busy {(cl + dm + pg) / el:.2f} of {os.cpu_count()})")
    m = p["metrics"]
    res = {re.sub(r'^\{result="(.*)"\}$', r"\1", k[1]): int(v) for k, v in m.items()
           if k[0] == "wijkradar_ingest_batches_total"}
    if res:
        out("  daemon metric wijkradar_ingest_batches_total: " + ", ".join(
            f"{k} {v}" for k, v in sorted(res.items())))
    if not m:
        out("  the daemon did not answer GET /metrics at the end of the phase")


def source_commit():
    """The short commit of the source tree, "+ changes" when it has uncommitted ones."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except OSError:
        return "unknown"
    return (head or "unknown") + (" + changes" if dirty else "")


def main(argv):
    args = parse_args(argv)
    if args.parse_only:
        return 0
    return run_in_cluster(args, "wr-load.", run)


def run(args, cluster, workdir):
    no_detect = has_detect_schedule(args)
    normal_cfg = workdir / "normal.conf"
    write_config(normal_cfg, cluster.conninfo(DB), args.pool_size, args.batch_size, no_detect,
                 title="load (normal)")
    over_cfg = workdir / "overload.conf"
    write_config(over_cfg, cluster.conninfo(DB), args.pool_size, args.batch_size, no_detect,
                 max_inflight=args.overload_inflight, queue_max=args.overload_queue_max,
                 max_connections=args.overload_max_connections, title="load (overload)")
    token = prepare_database(args, cluster, normal_cfg, DB, ORG, SOURCE)
    reader = make_token(args, normal_cfg, "teamlead", ORG)
    bodies, ctype, kinds = make_templates(args, workdir)
    log(f"{len(bodies)} batch templates of {args.batch_size} signals, "
        f"{sum(map(len, bodies)) // len(bodies)} bytes each ({args.format})")
    next_req = [1]

    def uploads(port):
        r = Requests(port, token, bodies, ctype, args.batch_size, next_req[0])
        uploads.last = r
        return r

    results = []
    for phase in args.phase_list:
        if phase == "normal":
            log(f"phase normal: {args.connections} connections, {args.duration:.0f} s")
            p = run_phase(args, cluster, normal_cfg, workdir, "normal", uploads,
                          args.connections, args.duration, False)
        elif phase == "overload":
            log(f"phase overload: {args.overload_connections} connections, "
                f"{args.overload_duration:.0f} s")
            p = run_phase(args, cluster, over_cfg, workdir, "overload", uploads,
                          args.overload_connections, args.overload_duration,
                          args.honour_retry_after)
        else:
            n_alerts = seed_alerts(cluster)
            log(f"phase alerts: {n_alerts} alerts, {args.alerts_connections} connections, "
                f"{args.alerts_duration:.0f} s")
            p = run_phase(args, cluster, normal_cfg, workdir, "alerts",
                          lambda port: Gets(port, reader, "/v1/alerts?limit=50"),
                          args.alerts_connections, args.alerts_duration, False)
            p["alerts"] = n_alerts
        if phase != "alerts":
            next_req[0] = uploads.last.next
        results.append(p)

    conn = cluster.connect(DB)
    rows = scalar(conn, "SELECT count(*) FROM signal")
    conn.close()
    stored = sum(p["stats"].stored for p in results)
    settings = pg_settings(cluster)

    out = print
    cmdline = os.environ.get("WR_BENCH_CMDLINE") or " ".join(["bench/load", *sys.argv[1:]])
    out()
    out("wijkradar load test (issue 7)")
    out(f"command:    {cmdline}")
    out(f"date:       {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    out(f"binary:     {args.bin} (meson --buildtype=release), source {ROOT}, commit "
        f"{source_commit()}")
    out(f"machine:    {os.cpu_count()} CPUs, SHARED with other work (1-min load average per "
        "phase below); the client runs on the same machine")
    out(f"PostgreSQL: {settings['server_version']}, throw-away cluster (tests/pg-env.sh), unix "
        "socket; " + ", ".join(f"{k}={settings[k]}" for k in PG_SHOW[1:5]))
    mix = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    out(f"uploads:    POST /v1/signals, {args.format}, {args.batch_size} signals per batch "
        f"(bench/gen_signals.py mix over {TEMPLATES} batches: {mix}); every request new "
        "signal ids and new persons; closed loop, keep-alive; timeout "
        f"{REQUEST_TIMEOUT_S:.0f} s per request")
    out(f"daemon:     a fresh `wijkradar serve` per phase, pool_size {args.pool_size}; normal and "
        f"alerts phases max_inflight_batches 64, queue_max 1024 (defaults); overload phase "
        f"max_inflight_batches {args.overload_inflight}, queue_max {args.overload_queue_max}, "
        f"max_connections {args.overload_max_connections}")
    out(f"memory:     VmRSS from /proc/PID/status every {1000 * RSS_INTERVAL_S:.0f} ms; start = "
        "just before the load, end = at the last answer")
    for p in results:
        out()
        if p["name"] == "normal":
            out(f"phase 1, normal load: {p['connections']} connections x {p['duration']:.0f} s")
        elif p["name"] == "overload":
            out(f"phase 2, overload: {p['connections']} connections x {p['duration']:.0f} s, "
                + ("honouring Retry-After" if args.honour_retry_after else
                   "next batch at once after a 503 (Retry-After not honoured)"))
        else:
            out(f"phase 3, reads: GET /v1/alerts?limit=50 (teamlead token, {p['alerts']} open "
                f"alerts, each read also written to audit_read), {p['connections']} connections "
                f"x {p['duration']:.0f} s")
        report_phase(p, out)
    out()
    peaks = {p["name"]: p["rss_peak"] for p in results}
    if "normal" in peaks and "overload" in peaks:
        out(f"peak RSS overload / normal: {peaks['overload'] / 1024:.1f} / "
            f"{peaks['normal'] / 1024:.1f} MiB = {peaks['overload'] / peaks['normal']:.2f}x")
    out(f"rows in signal: {rows}; signals the 200 answers report stored: {stored} "
        + ("(equal)" if rows == stored else "(DIFFERENT)"))
    problems = []
    if rows != stored:
        problems.append(f"the table holds {rows} signals but the answers acknowledged {stored}")
    for p in results:
        if not p["metrics"]:
            problems.append(f"the daemon did not answer GET /metrics after phase {p['name']}")
    for msg in problems:
        out(f"PROBLEM: {msg}")
    return 1 if problems else 0


if __name__ == "__main__":
    run_main(main)
