#!/usr/bin/python3
"""Ingest benchmark driver: HTTP upload through `wijkradar serve` versus a raw COPY.

Run by bench/ingest inside tests/pg-env.sh (it needs PGHOST, PGUSER and the WR_PG* variables of
that script). Both sides use the same cluster with the same settings, the same unix socket and
the same rows. Prints figures; exits non-zero only when something failed (never for a missed
target). Standard library, psycopg2 and (for --format protobuf) google.protobuf only.
"""

import argparse
import io
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_signals  # noqa: E402
from benchlib import (PG_SHOW, ROOT, BenchError, Cluster, Daemon, cluster_cpu_s,  # noqa: E402
                      has_detect_schedule, in_workdir, log, pg_settings, prepare_database,
                      proc_cpu_s, run_main, scalar, wr_env, write_config)

DB = "wr_bench"
ORG, SOURCE = "org-a", "bench"
SIGNAL_COLS = ("organisation, source, signal_id, batch_id, team, area_year, area_code, week, "
               "kind, theme, age_band, subject, trajectory, mode, instrument, domain, phase, "
               "score, event, received_at")


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="bench/ingest",
        description="Measure sustained ingest over HTTP into PostgreSQL against a raw COPY "
                    "of the same rows (BRIEF.md section 9: HTTP >= 0.5 x COPY).")
    ap.add_argument("--signals", type=int, default=500000, metavar="N",
                    help="signals to upload (default 500000)")
    ap.add_argument("--uploaders", type=int, default=4, metavar="C",
                    help="concurrent `wijkradar ingest` processes; also database.pool_size "
                         "(default 4)")
    ap.add_argument("--batch-size", type=int, default=1000, metavar="B",
                    help="signals per POST (default 1000)")
    ap.add_argument("--repeat", type=int, default=3, metavar="R",
                    help="HTTP and COPY measurements each (default 3)")
    ap.add_argument("--subjects", type=int, default=50000, help="distinct persons (50000)")
    ap.add_argument("--format", choices=("csv", "protobuf"), default="csv",
                    help="export format the uploaders read (default csv)")
    ap.add_argument("--fsync", action="store_true",
                    help="run PostgreSQL with fsync=on and synchronous_commit=on "
                         "(pg-env.sh uses fsync=off)")
    ap.add_argument("--pg-set", action="append", default=[], metavar="NAME=VALUE",
                    help="extra server setting for both sides (repeatable)")
    ap.add_argument("--breakdown", action="store_true",
                    help="also time the store statement, a plain unnest INSERT and the "
                         "reference check directly over libpq (no HTTP), and EXPLAIN ANALYZE "
                         "the store of one batch")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--bin", default=os.environ.get("WR_BENCH_BIN",
                                                    "/tmp/wr-bench-build/daemon/wijkradar"),
                    help="wijkradar binary")
    ap.add_argument("--parse-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.signals < 1 or args.uploaders < 1 or args.uploaders > 64 or args.batch_size < 1 \
            or args.repeat < 1 or args.subjects < 1:
        ap.error("--signals, --batch-size, --repeat and --subjects must be >= 1, "
                 "--uploaders 1..64")
    for s in args.pg_set:
        if not re.fullmatch(r"[a-z_.]+=[^\s'\"]+", s):
            ap.error(f"--pg-set expects NAME=VALUE without spaces or quotes: {s!r}")
    return args


# --- PostgreSQL ------------------------------------------------------------------------------

def reset_tables(conn):
    """Empties the signal table, its idempotency keys and the aggregates, and checkpoints, so
    that every measured run starts from the same state with no dirty buffers of the previous
    one."""
    with conn.cursor() as cur:
        cur.execute("TRUNCATE signal, signal_key, need_person_week, need_week_count")
        cur.execute("CHECKPOINT")


# --- wijkradar processes ---------------------------------------------------------------------

# --- data ------------------------------------------------------------------------------------

def prepare_data(args, workdir):
    """Generates the export and splits it into one file per uploader (contiguous parts, as
    if C sources each sent their own chronological export). Returns the part paths."""
    rows = list(gen_signals.generate(args.signals, args.subjects, seed=20240))
    gen_signals.write_csv(workdir / "signals.csv", rows)
    n = len(rows)
    parts = []
    per = -(-n // args.uploaders)
    for k in range(args.uploaders):
        chunk = rows[k * per:(k + 1) * per]
        if not chunk:
            break
        if args.format == "csv":
            p = workdir / f"part{k + 1}.csv"
            gen_signals.write_csv(p, chunk)
        else:
            p = workdir / f"part{k + 1}.pb"
            gen_signals.write_protobuf(p, chunk, ORG, SOURCE, f"part{k + 1}", str(workdir))
        parts.append(p)
    kinds = {}
    for r in rows:
        kinds[r[8]] = kinds.get(r[8], 0) + 1
    subjects = len({r[5] for r in rows})
    weeks = sorted({r[4] for r in rows})
    areas = len({r[2] for r in rows})
    return parts, kinds, subjects, weeks, areas


# --- the two sides ---------------------------------------------------------------------------

def http_run(args, cluster, cfg, workdir, parts, token, run_no):
    """One HTTP measurement from empty tables. Returns a dict of figures."""
    conn = cluster.connect(DB)
    reset_tables(conn)
    d = Daemon(args, cfg, workdir)
    clients = []
    try:
        d.start()
        env = wr_env({"WIJKRADAR_TOKEN": token})
        url = f"http://127.0.0.1:{d.port}"
        load = os.getloadavg()[0]
        pg0, d0 = cluster_cpu_s(cluster), proc_cpu_s(d.proc.pid)
        t0 = time.monotonic()
        for k, p in enumerate(parts):
            out = open(workdir / f"ingest{k + 1}.r{run_no}.out", "wb")
            err = open(workdir / f"ingest{k + 1}.r{run_no}.err", "wb")
            cmd = [args.bin, "--config", str(cfg), "ingest", "--url", url,
                   "--batch-size", str(args.batch_size)]
            if args.format == "csv":
                cmd += ["--source", SOURCE, "--organisation", ORG]
            clients.append((subprocess.Popen(cmd + [str(p)], stdin=subprocess.DEVNULL,
                                             stdout=out, stderr=err, env=env, cwd=workdir),
                            out, err, k))
        rcs = []
        client_cpu = 0.0
        for proc, out, err, _ in clients:
            _, status, ru = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            rcs.append(proc.returncode)
            client_cpu += ru.ru_utime + ru.ru_stime
        elapsed = time.monotonic() - t0
        pg_cpu = cluster_cpu_s(cluster) - pg0
        daemon_cpu = proc_cpu_s(d.proc.pid) - d0
        for _, out, err, _ in clients:
            out.close()
            err.close()
        m = d.metrics()
        rss_kb = d.peak_rss_kb()
        d.stop()
    finally:
        for proc, out, err, _ in clients:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            out.close()
            err.close()
        d.kill()
    stored = dups = rejected = retries = 0
    for k in range(len(parts)):
        text = (workdir / f"ingest{k + 1}.r{run_no}.out").read_text()
        errtext = (workdir / f"ingest{k + 1}.r{run_no}.err").read_text(errors="replace")
        retries += errtext.count("retrying")
        mm = re.search(r"(\d+) stored, (\d+) duplicates, (\d+) rejected", text)
        if rcs[k] != 0 or not mm:
            raise BenchError(f"uploader {k + 1} exited with status {rcs[k]}\n{text}"
                             f"{errtext[-3000:]}")
        stored += int(mm.group(1))
        dups += int(mm.group(2))
        rejected += int(mm.group(3))
    rows = scalar(conn, "SELECT count(*) FROM signal")
    if rows != args.signals or stored != args.signals or rejected or dups:
        raise BenchError(f"HTTP run {run_no}: expected {args.signals} rows, table has {rows}; "
                         f"uploaders report {stored} stored, {dups} duplicates, "
                         f"{rejected} rejected")
    m_rej = m.get(("wijkradar_ingest_signals_total", '{result="rejected"}'), 0.0)
    if m_rej:
        raise BenchError(f"daemon metrics count {m_rej:.0f} rejected signals")
    # The aggregates must agree with the rows (exact distinct persons per cell).
    ok = scalar(conn, """
        SELECT (SELECT count(*) FROM need_person_week)
             = (SELECT count(*) FROM (SELECT DISTINCT area_year, area_code, theme, week, subject
                                      FROM signal WHERE kind = 'need') s)
           AND (SELECT coalesce(sum(persons), 0) FROM need_week_count)
             = (SELECT count(*) FROM need_person_week)""")
    if not ok:
        raise BenchError(f"HTTP run {run_no}: need_person_week / need_week_count disagree "
                         "with the stored need signals")
    n_batches = m.get(("wijkradar_ingest_batch_seconds_count", ""), 0.0)
    sum_s = m.get(("wijkradar_ingest_batch_seconds_sum", ""), 0.0)
    conn.close()
    return {"seconds": elapsed, "rate": args.signals / elapsed, "rss_kb": rss_kb,
            "retries": retries, "batches": int(n_batches), "load": load,
            "cpu": (client_cpu, daemon_cpu, pg_cpu),
            "batch_ms": 1000 * sum_s / n_batches if n_batches else float("nan")}


def export_rows(cluster, path):
    """Writes the rows the daemon stored, as COPY text, in their physical (arrival) order."""
    conn = cluster.connect(DB)
    with open(path, "w") as f, conn.cursor() as cur:
        cur.copy_expert(f"COPY (SELECT {SIGNAL_COLS} FROM signal) TO STDOUT", f)
    conn.close()


def copy_run(args, cluster, path, run_no):
    """One COPY of the exported rows into the empty signal table, in one transaction,
    timed from the start of COPY to the end of COMMIT."""
    conn = cluster.connect(DB)
    reset_tables(conn)
    conn.autocommit = False
    load = os.getloadavg()[0]
    with open(path) as f, conn.cursor() as cur:
        pg0, c0 = cluster_cpu_s(cluster), time.process_time()
        t0 = time.monotonic()
        cur.copy_expert(f"COPY signal ({SIGNAL_COLS}) FROM STDIN", f, size=1 << 20)
        conn.commit()
        elapsed = time.monotonic() - t0
        client_cpu, pg_cpu = time.process_time() - c0, cluster_cpu_s(cluster) - pg0
    conn.autocommit = True
    rows = scalar(conn, "SELECT count(*) FROM signal")
    conn.close()
    if rows != args.signals:
        raise BenchError(f"COPY run {run_no}: expected {args.signals} rows, table has {rows}")
    return {"seconds": elapsed, "rate": args.signals / elapsed, "load": load,
            "cpu": (client_cpu, 0.0, pg_cpu)}


# --- breakdown: the SQL of api_ingest.c without HTTP -----------------------------------------

def c_string(name):
    """The SQL text of `static const char NAME[] = "..." "...";` in daemon/api_ingest.c."""
    src = (ROOT / "daemon" / "api_ingest.c").read_text()
    m = re.search(r"static const char " + name + r"\[\]\s*=\s*((?:\s*\"(?:[^\"\\]|\\.)*\")+)\s*;",
                  src)
    if not m:
        raise BenchError(f"could not find {name} in daemon/api_ingest.c")
    parts = re.findall(r"\"((?:[^\"\\]|\\.)*)\"", m.group(1))
    return "".join(re.sub(r"\\(.)", r"\1", p) for p in parts)


def to_psycopg(sql):
    """$N placeholders to psycopg2's %(pN)s (and % to %%)."""
    return re.sub(r"\$(\d+)", r"%(p\1)s", sql.replace("%", "%%"))


def pg_array(values):
    out = []
    for v in values:
        if v is None:
            out.append("NULL")
        else:
            out.append('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(out) + "}"


COPY_ESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


def copy_field(v):
    """One field of COPY text format: None for \\N, backslash escapes undone."""
    if v == r"\N":
        return None
    if "\\" not in v:
        return v
    return re.sub(r"\\(.)", lambda m: COPY_ESCAPES.get(m.group(1), m.group(1)), v)


def batch_params(rows):
    """Parameters $1..$19 of sql_store for one batch of exported rows."""
    col = {name.strip(): i for i, name in enumerate(SIGNAL_COLS.split(","))}

    def arr(name, conv=lambda v: v):
        return pg_array(conv(r[col[name]]) if r[col[name]] is not None else None for r in rows)

    hexval = lambda v: v[2:]  # noqa: E731 (bytea text output is \x...)
    p = {"p1": rows[0][col["organisation"]], "p2": rows[0][col["source"]],
         "p3": rows[0][col["batch_id"]]}
    for i, (name, conv) in enumerate([
            ("signal_id", None), ("team", None), ("area_year", None), ("area_code", None),
            ("week", None), ("kind", None), ("theme", None), ("age_band", None),
            ("subject", hexval), ("trajectory", hexval), ("mode", None), ("instrument", None),
            ("domain", None), ("phase", None), ("score", None), ("event", None)], start=4):
        p[f"p{i}"] = arr(name, conv) if conv else arr(name)
    return p


def breakdown(args, cluster, export_path):
    """Times, over one connection and with the same rows: COPY whole, COPY in batches, COPY
    without foreign keys, and in batches of --batch-size the INSERT of api_ingest.c's store
    statement without and with ON CONFLICT, the whole store statement (with the aggregates)
    and the reference check; then EXPLAIN ANALYZEs the store of the last batch. Each line
    starts from empty tables. Returns printable lines."""
    store_sql = c_string("sql_store")
    refcheck_sql = c_string("sql_refcheck")
    m = re.search(r"^(WITH input AS \(.*?\)), ins AS \((.*?) RETURNING", store_sql)
    if not m:
        raise BenchError("could not split sql_store into its input and insert parts")
    upsert_sql = f"{m.group(1)} {m.group(2)}"
    insert_sql = re.sub(r" ON CONFLICT \([^)]*\) DO NOTHING", "", upsert_sql)
    if insert_sql == upsert_sql:
        raise BenchError("could not remove ON CONFLICT from the store statement's INSERT")
    with open(export_path) as f:
        lines = f.readlines()
    rows = [[copy_field(v) for v in line.rstrip("\n").split("\t")] for line in lines]
    n = len(rows)
    bs = args.batch_size
    chunks = [(i, min(i + bs, n)) for i in range(0, n, bs)]
    batches = [batch_params(rows[a:b]) for a, b in chunks]
    ref_params = [{"p1": b["p6"], "p2": b["p7"], "p3": b["p10"], "p4": b["p15"],
                   "p5": b["p18"]} for b in batches]
    if "$6" in refcheck_sql:  # the signals' own indices (0-based) within the batch
        for rp, (a, b) in zip(ref_params, chunks):
            rp["p6"] = "{" + ",".join(str(i) for i in range(b - a)) + "}"
    out = []
    conn = cluster.connect(DB)
    cur = conn.cursor()

    def measure(label, work):
        log(f"breakdown: {label}")
        reset_tables(conn)
        with conn.cursor() as c:
            c.execute("TRUNCATE bench_signal_nofk")
        pg0, t0 = cluster_cpu_s(cluster), time.monotonic()
        work()
        elapsed, pg = time.monotonic() - t0, cluster_cpu_s(cluster) - pg0
        out.append(f"  {label:<62} {n / elapsed:8.0f} rows/s {elapsed:7.2f} s "
                   f"{1e6 * pg / n:7.1f} PG us/row")

    def copy_whole(table="signal"):
        with conn:  # one transaction
            with conn.cursor() as c:
                c.copy_expert(f"COPY {table} ({SIGNAL_COLS}) FROM STDIN", io.StringIO(
                    "".join(lines)), size=1 << 20)

    def copy_batches():
        for a, b in chunks:
            with conn:
                with conn.cursor() as c:
                    c.copy_expert(f"COPY signal ({SIGNAL_COLS}) FROM STDIN",
                                  io.StringIO("".join(lines[a:b])), size=1 << 20)

    def each(sql, params_list):
        q = to_psycopg(sql)

        def work():
            for p in params_list:
                cur.execute(q, p)
        return work

    with conn.cursor() as c:
        c.execute("DROP TABLE IF EXISTS bench_signal_nofk")
        c.execute("CREATE TABLE bench_signal_nofk (LIKE signal INCLUDING DEFAULTS "
                  "INCLUDING CONSTRAINTS INCLUDING INDEXES)")
    try:
        measure("COPY, all rows in one transaction (the COPY side)", copy_whole)
        measure(f"COPY in batches of {bs}, one transaction each", copy_batches)
        measure("COPY, one transaction, into a copy of signal without FKs",
                lambda: copy_whole("bench_signal_nofk"))
        measure("INSERT ... SELECT FROM unnest($4..$19), per batch",
                each(insert_sql, batches))
        measure("  + ON CONFLICT DO NOTHING (the store's \"ins\" CTE alone)",
                each(upsert_sql, batches))
        measure("  + need_person_week + need_week_count (whole store statement)",
                each(store_sql, batches))
        measure("reference check query alone (read only), per batch",
                each(refcheck_sql, ref_params))
        # The plan of one store, on a table that already holds all other batches.
        reset_tables(conn)
        q = to_psycopg(store_sql)
        for p in batches[:-1]:
            cur.execute(q, p)
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + q, batches[-1])
        plan = [r[0] for r in cur.fetchall()]
    finally:
        with conn.cursor() as c:
            c.execute("DROP TABLE IF EXISTS bench_signal_nofk")
        conn.close()
    last = chunks[-1][1] - chunks[-1][0]
    out.append("")
    out.append(f"EXPLAIN (ANALYZE, BUFFERS) of the store statement for the last batch of {last} "
               f"(table already holding {n - last} rows):")
    out.extend("  " + line for line in plan)
    return out


# --- report ----------------------------------------------------------------------------------

def median(xs):
    return statistics.median(xs)


def main(argv):
    args = parse_args(argv)
    if args.parse_only:
        return 0
    if not os.access(args.bin, os.X_OK):
        raise BenchError(f"wijkradar binary not found: {args.bin}")
    cluster = Cluster()
    settings = []
    if args.fsync:
        settings += [("fsync", "on"), ("synchronous_commit", "on")]
    else:
        settings += [("fsync", "off")]
    settings += [tuple(s.split("=", 1)) for s in args.pg_set]
    if args.fsync or args.pg_set:
        log(f"restarting PostgreSQL with {' '.join(f'{k}={v}' for k, v in settings)}")
        cluster.restart(settings)
    return in_workdir(args, "wr-bench.", lambda workdir: run(args, cluster, workdir))


def run(args, cluster, workdir):
    cfg = workdir / "wijkradar.conf"
    write_config(cfg, cluster.conninfo(DB), args.uploaders, args.batch_size,
                 has_detect_schedule(args))
    token = prepare_database(args, cluster, cfg, DB, ORG, SOURCE)

    log(f"generating {args.signals} signals ({args.format})")
    t = time.monotonic()
    parts, kinds, subjects, weeks, areas = prepare_data(args, workdir)
    log(f"generated in {time.monotonic() - t:.1f} s: {len(parts)} part files")
    settings = pg_settings(cluster)

    export_path = workdir / "stored_rows.copy"
    https, copies = [], []
    for r in range(1, args.repeat + 1):
        log(f"run {r}/{args.repeat}: HTTP, {args.uploaders} uploaders, "
            f"batch size {args.batch_size}")
        h = http_run(args, cluster, cfg, workdir, parts, token, r)
        log(f"run {r}/{args.repeat}: HTTP {h['rate']:.0f} signals/s ({h['seconds']:.2f} s)")
        https.append(h)
        if r == 1:
            export_rows(cluster, export_path)
        log(f"run {r}/{args.repeat}: COPY")
        c = copy_run(args, cluster, export_path, r)
        log(f"run {r}/{args.repeat}: COPY {c['rate']:.0f} rows/s ({c['seconds']:.2f} s)")
        copies.append(c)

    extra = breakdown(args, cluster, export_path) if args.breakdown else []

    cmdline = os.environ.get("WR_BENCH_CMDLINE") or " ".join(["bench/ingest", *sys.argv[1:]])
    n = args.signals
    print()
    print("wijkradar ingest benchmark (BRIEF.md section 9: HTTP >= 0.5 x raw COPY)")
    print(f"command:        {cmdline}")
    print(f"binary:         {args.bin} (meson --buildtype=release -Dtests=false), "
          f"source {ROOT}")
    print(f"machine:        {os.cpu_count()} CPUs (shared with other work; see load below)")
    print(f"PostgreSQL:     {settings['server_version']}, one throw-away cluster "
          "(tests/pg-env.sh), unix socket, same settings for both sides")
    print("settings:       " + ", ".join(f"{k}={settings[k]}" for k in PG_SHOW[1:]))
    if settings["fsync"] == "off":
        print("                NOTE: fsync=off (pg-env.sh default): commits are not flushed "
              "to disk; run with --fsync for durable numbers")
    mix = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    print(f"data:           {n} signals ({mix}),"
          f" {subjects} persons, {areas} wijken, {len(weeks)} weeks {weeks[0]}..{weeks[-1]}")
    print(f"HTTP side:      {args.uploaders} x `wijkradar ingest --batch-size {args.batch_size}` "
          f"({args.format}, contiguous parts) -> wijkradar serve (pool_size {args.uploaders}); "
          "timed from starting the uploaders to the exit of the last one; the store also "
          "maintains need_person_week and need_week_count")
    print("COPY side:      COPY signal (...) FROM STDIN of the rows the daemon stored (exported "
          "after HTTP run 1), one transaction, psycopg2 copy_expert, timed to COMMIT")
    print()
    hdr = (f"{'run':>4} {'N':>8} {'upl':>4} {'batch':>6} {'HTTP sig/s':>11} {'HTTP s':>8} "
           f"{'ms/batch':>9} {'retries':>7} {'RSS MiB':>8} {'COPY rows/s':>12} {'COPY s':>7} "
           f"{'HTTP/COPY':>9}")
    print(hdr)
    print("-" * len(hdr))
    for i, (h, c) in enumerate(zip(https, copies), 1):
        print(f"{i:>4} {n:>8} {args.uploaders:>4} {args.batch_size:>6} {h['rate']:>11.0f} "
              f"{h['seconds']:>8.2f} {h['batch_ms']:>9.1f} {h['retries']:>7} "
              f"{h['rss_kb'] / 1024:>8.1f} {c['rate']:>12.0f} {c['seconds']:>7.2f} "
              f"{h['rate'] / c['rate']:>9.3f}")
    hm = median([h["rate"] for h in https])
    cm = median([c["rate"] for c in copies])
    print(f"{'med':>4} {n:>8} {args.uploaders:>4} {args.batch_size:>6} {hm:>11.0f} "
          f"{median([h['seconds'] for h in https]):>8.2f} "
          f"{median([h['batch_ms'] for h in https]):>9.1f} "
          f"{int(median([h['retries'] for h in https])):>7} "
          f"{max(h['rss_kb'] for h in https) / 1024:>8.1f} {cm:>12.0f} "
          f"{median([c['seconds'] for c in copies]):>7.2f} {hm / cm:>9.3f}")
    print()
    print("ms/batch: mean upload-to-commit time per batch (daemon metric "
          "wijkradar_ingest_batch_seconds); RSS: daemon VmHWM before SIGTERM (median row: max)")
    print()
    print("where the CPU went (seconds of CPU during the timed interval; load = 1-min load "
          "average when the run started, others share this machine):")
    hdr2 = (f"{'run':>4} {'side':>5} {'wall s':>7} {'clients':>8} {'daemon':>7} "
            f"{'postgres':>9} {'total':>7} {'cores busy':>10} {'PG us/row':>10} {'all us/row':>10} "
            f"{'load':>5}")
    print(hdr2)
    print("-" * len(hdr2))
    for i, (h, c) in enumerate(zip(https, copies), 1):
        for side, x in (("HTTP", h), ("COPY", c)):
            cl, dm, pg = x["cpu"]
            tot = cl + dm + pg
            print(f"{i:>4} {side:>5} {x['seconds']:>7.2f} {cl:>8.2f} "
                  f"{dm if side == 'HTTP' else float('nan'):>7.2f} {pg:>9.2f} {tot:>7.2f} "
                  f"{tot / x['seconds']:>10.2f} {1e6 * pg / n:>10.1f} {1e6 * tot / n:>10.1f} "
                  f"{x['load']:>5.2f}")
    print("cores busy = total CPU / wall: below 1 (COPY) or 2 (HTTP) the side waited for I/O, "
          "locks or for CPU taken by other processes")
    print()
    # CPU per row does not depend on what else runs on the machine; wall-clock rates do, and
    # C uploader processes win more of a contended machine than one COPY backend.
    hc = [median([h["cpu"][i] for h in https]) * 1e6 / n for i in range(3)]
    cc = [median([c["cpu"][i] for c in copies]) * 1e6 / n for i in range(3)]
    k = min(args.uploaders, os.cpu_count() or 1)
    print(f"CPU per row (median): HTTP {sum(hc):.1f} us (uploaders {hc[0]:.1f}, daemon "
          f"{hc[1]:.1f}, PostgreSQL {hc[2]:.1f}); COPY {sum(cc):.1f} us (client {cc[0]:.1f}, "
          f"PostgreSQL {cc[2]:.1f}): HTTP spends {sum(hc) / sum(cc):.2f}x the CPU of COPY "
          "per row")
    print(f"CPU-bound model for an otherwise idle machine: HTTP on {k} core(s), COPY on one "
          f"-> ratio about {k * sum(cc) / sum(hc):.2f} (an estimate, not a measurement)")
    verdict = "met" if hm / cm >= 0.5 else "NOT met"
    print(f"target HTTP/COPY >= 0.5: {verdict} (median ratio {hm / cm:.3f})")
    if extra:
        print()
        print("breakdown: the same rows over one psycopg2 connection, no HTTP, no daemon; "
              "tables emptied before each line; PG us/row = PostgreSQL CPU per row:")
        for line in extra:
            print(line)
    return 0


if __name__ == "__main__":
    run_main(main)
