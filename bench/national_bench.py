#!/usr/bin/python3
"""National-scale benchmark driver (issue 8): load five years into `wijkradar serve`, the last
year as raw signals over HTTP, run the weekly analysis inside the daemon, and watch its memory.

Run by bench/national inside tests/pg-env.sh. The data set is the one of the detection benchmark
(bench/detect_national --dump-db: 3,300 wijken in 330 municipalities, one wijkteam organisation
per municipality, 15 themes, 261 weeks of distinct-person counts ending at --week):

  * the area registry (one row per wijk and year, population and centroid) and the weekly
    counts of the four older years go in with COPY;
  * the last 52 weeks are uploaded as need signals with POST /v1/signals (protobuf, one source
    token per organisation, several concurrent uploaders, unique signal ids), and the daemon
    builds need_week_count for them itself. Every (organisation, wijk, theme, week) count of
    the dump becomes that many distinct persons with a need signal, plus --repeat-share of
    them a second need signal in the same week (a repeat registration, which must not be
    counted twice); the same person numbers recur from week to week within a series. After
    the upload the driver checks that need_week_count equals the dump row for row, so the
    analysis sees exactly the counts bench/detect --db analyses;
  * with --orgs N only the first N organisations upload their last year over HTTP; the others'
    last year is COPYed like the older years (a documented fraction, for a slower machine).

Then POST /v1/admin/analyze {"week": W} runs the default analysis (temporal detection and the
space-time scan) on the daemon's worker thread; the driver polls GET /v1/analysis/runs until it
has finished. VmRSS of the daemon is sampled every 200 ms throughout (load_bench.RssSampler),
VmHWM read at the end. Prints figures; exits non-zero only when something failed.
Standard library, psycopg2 and google.protobuf only.
"""

import argparse
import datetime
import http.client
import json
import os
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_signals  # noqa: E402
from benchlib import (PG_SHOW, ROOT, BenchError, Daemon, RssSampler,  # noqa: E402
                      cluster_cpu_s, log, make_token, pg_settings, proc_cpu_s, run_in_cluster,
                      run_main, run_wr, scalar, status_kb, write_config)

DB = "wr_national"
SOURCE = "national"
PB_TYPE = "application/x-protobuf"
LAST_WEEKS = 52
POLL_S = 0.5
REQUEST_TIMEOUT_S = 120


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="bench/national",
        description="National-scale load and weekly analysis inside wijkradar serve, with the "
                    "daemon's memory sampled throughout (issue 8).")
    ap.add_argument("--dump", required=not any(a in ("--parse-only", "-h", "--help")
                                               for a in argv),
                    help="directory written by detect_national --dump-db (the wrapper sets it)")
    ap.add_argument("--week", default="2025-W47",
                    help="last week of the data set, analysed (2025-W47, as bench/detect)")
    ap.add_argument("--orgs", type=int, default=0, metavar="N",
                    help="organisations whose last year is uploaded over HTTP (0 = all)")
    ap.add_argument("--uploaders", type=int, default=4, metavar="C",
                    help="concurrent uploading connections; also database.pool_size (4)")
    ap.add_argument("--batch-size", type=int, default=1000, metavar="B",
                    help="most signals per POST, all of one organisation (1000)")
    ap.add_argument("--repeat-share", type=float, default=0.1, metavar="X",
                    help="share of persons with a second need signal in the same week (0.1)")
    ap.add_argument("--analysis-timeout", type=float, default=1800, metavar="S",
                    help="seconds to wait for the analysis run (1800)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--bin", default=os.environ.get("WR_BENCH_BIN",
                                                    "/tmp/wr-bench-national/daemon/wijkradar"),
                    help="wijkradar binary")
    ap.add_argument("--parse-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.orgs < 0 or not 1 <= args.uploaders <= 64 or not 1 <= args.batch_size <= 10000 \
            or not 0 <= args.repeat_share <= 1:
        ap.error("--orgs >= 0, --uploaders 1..64, --batch-size 1..10000, "
                 "--repeat-share 0..1")
    return args


# --- data ------------------------------------------------------------------------------------

def monday_of(week):
    y, w = week.split("-W")
    return datetime.date.fromisocalendar(int(y), int(w), 1)


def iso_label(monday_text):
    y, w, _ = datetime.date.fromisoformat(monday_text).isocalendar()
    return f"{y}-W{w:02d}"


def split_dump(args, workdir):
    """Splits need_week_count.tsv into the rows loaded with COPY (older weeks, and the last year
    of organisations that do not upload) and the rows of the uploading organisations' last
    year. Returns (copy path, upload path, uploading organisations, all organisations,
    figures)."""
    last = monday_of(args.week)
    cutoff = (last - datetime.timedelta(weeks=LAST_WEEKS - 1)).isoformat()
    last_text = last.isoformat()
    src = Path(args.dump) / "need_week_count.tsv"
    orgs = set()
    with open(src) as f:
        for line in f:
            orgs.add(line.split("\t", 1)[0])
    orgs = sorted(orgs)
    uploading = set(orgs if args.orgs in (0, len(orgs)) else orgs[:args.orgs])
    if args.orgs > len(orgs):
        raise BenchError(f"--orgs {args.orgs}: the data set has {len(orgs)} organisations")
    copy_path, up_path = workdir / "copy.tsv", workdir / "upload.tsv"
    n_copy = n_up = persons_up = 0
    with open(src) as f, open(copy_path, "w") as fc, open(up_path, "w") as fu:
        for line in f:
            org, _, rest = line.partition("\t")
            week = line.split("\t", 5)[4]
            if week > last_text:
                raise BenchError(f"{src}: week {week} after --week {args.week}")
            if week >= cutoff and org in uploading:
                fu.write(line)
                n_up += 1
                persons_up += int(line.rsplit("\t", 1)[1])
            else:
                fc.write(line)
                n_copy += 1
    return copy_path, up_path, sorted(uploading), orgs, {
        "copy_rows": n_copy, "upload_rows": n_up, "upload_persons": persons_up,
        "first_upload_week": iso_label(cutoff), "last_week": args.week}


AGE_NAMES, AGE_CUM = gen_signals.weighted(gen_signals.AGE_BANDS)


def org_lines(up_path):
    """{organisation: [count rows (organisation, year, wijk, theme, Monday, persons)]}."""
    by_org = {}
    with open(up_path) as f:
        for line in f:
            row = line.rstrip("\n").split("\t")
            by_org.setdefault(row[0], []).append(row)
    return by_org


def signal_rows(count_rows, repeat_share, rng):
    """CSV-layout rows of gen_signals (chronological) for one organisation's count rows:
    `persons` distinct persons per row, each with one need signal, and repeat_share of them a
    second one that week."""
    rows = []
    for org, year, area, theme, monday, persons in sorted(count_rows, key=lambda r: r[4]):
        wk = iso_label(monday)
        team = "team-" + area[2:].lower()
        for k in range(int(persons)):
            # Person k of this series (the same person in other weeks of the series).
            subject = gen_signals.pseudonym(f"{org}/{area}/{theme}/{k}")
            age = rng.choices(AGE_NAMES, cum_weights=AGE_CUM)[0]
            for r in range(2 if rng.random() < repeat_share else 1):
                rows.append([f"{area}-{theme}-{wk}-{k}-{r}", team, area, year, wk, subject,
                             age, "", "need", theme, "", "", "", "", "", ""])
    return rows


def encode_batches(args, up_path, workdir):
    """Encodes every uploading organisation's signals as SignalBatch messages of at most
    --batch-size signals (gen_signals.signal_batch) into one file, one organisation at a time;
    returns (path, number of signals, [(org, offset, length, n, first week)] ordered by first
    week, then organisation: a year replayed roughly in order)."""
    pb = gen_signals.protobuf_module(str(workdir))
    rng = random.Random(20251125)
    out = []
    path = workdir / "batches.bin"
    off = n_signals = 0
    by_org = org_lines(up_path)
    with open(path, "wb") as f:
        for org in sorted(by_org):
            rows = signal_rows(by_org.pop(org), args.repeat_share, rng)
            n_signals += len(rows)
            for i in range(0, len(rows), args.batch_size):
                chunk = rows[i:i + args.batch_size]
                body = gen_signals.signal_batch(pb, chunk, org, SOURCE,
                                                f"{org}-{i // args.batch_size:05d}"
                                                ).SerializeToString()
                f.write(body)
                out.append((org, off, len(body), len(chunk), chunk[0][4]))
                off += len(body)
    out.sort(key=lambda b: (b[4], b[0], b[1]))
    return path, n_signals, out


# --- upload ----------------------------------------------------------------------------------

class Uploads:
    """Hands batches to uploader threads and gathers their answers."""

    def __init__(self, batches, path, tokens):
        self.batches, self.path, self.tokens = batches, path, tokens
        self.next = 0
        self.lock = threading.Lock()
        self.stored = self.duplicates = self.signals = 0
        self.retries = {}
        self.errors = []
        self.latency = []

    def take(self):
        with self.lock:
            if self.next >= len(self.batches) or self.errors:
                return None
            b = self.batches[self.next]
            self.next += 1
            return b

    def worker(self, port):
        conn = None
        with open(self.path, "rb") as f:
            while True:
                b = self.take()
                if b is None:
                    break
                org, off, length, n, _ = b
                body = os.pread(f.fileno(), length, off)
                headers = {"Authorization": f"Bearer {self.tokens[org]}",
                           "Content-Type": PB_TYPE}
                while True:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", port,
                                                          timeout=REQUEST_TIMEOUT_S)
                    t0 = time.monotonic()
                    try:
                        conn.request("POST", "/v1/signals", body, headers)
                        r = conn.getresponse()
                        data = r.read()
                    except OSError as e:
                        conn.close()
                        conn = None
                        with self.lock:
                            self.errors.append(f"{org} batch at {off}: {type(e).__name__}: "
                                               f"{e}")
                        return
                    if r.status == 503:
                        with self.lock:
                            key = (503, r.getheader("Retry-After"))
                            self.retries[key] = self.retries.get(key, 0) + 1
                        time.sleep(float(r.getheader("Retry-After") or 1))
                        continue
                    if r.status != 200:
                        with self.lock:
                            self.errors.append(f"{org} batch at {off}: HTTP {r.status}: "
                                               f"{data[:500]!r}")
                        return
                    reply = json.loads(data)
                    with self.lock:
                        self.latency.append(time.monotonic() - t0)
                        self.stored += reply.get("stored", 0)
                        self.duplicates += reply.get("duplicates", 0)
                        self.signals += n
                    break
        if conn is not None:
            conn.close()


def admin_call(port, token, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body, headers)
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


# --- phases of memory ------------------------------------------------------------------------

class Phases:
    """Named time intervals, to split the RSS samples."""

    def __init__(self):
        self.marks = []

    def mark(self, name):
        self.marks.append((time.monotonic(), name))

    def of(self, t):
        name = None
        for t0, n in self.marks:
            if t0 <= t:
                name = n
        return name


def rss_summary(samples, phases, name):
    kb = [v for t, v in samples if phases.of(t) == name]
    if not kb:
        return None
    return {"n": len(kb), "first": kb[0], "peak": max(kb), "last": kb[-1]}


# --- run -------------------------------------------------------------------------------------

def psql_copy(conn, path, table, cols):
    with conn.cursor() as cur, open(path) as f:
        cur.copy_expert(f"COPY {table} ({cols}) FROM STDIN", f, size=1 << 20)


def run(args, cluster, workdir):
    t_all = time.monotonic()
    cfg = workdir / "wijkradar.conf"
    # schedule = false: the scheduler would otherwise analyse last week (not --week) at start.
    write_config(cfg, cluster.conninfo(DB), args.uploaders, args.batch_size, True,
                 title="national")
    conn = cluster.connect("postgres")
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"CREATE DATABASE {DB}")
    conn.close()
    run_wr(args, cfg, "migrate")

    log("splitting the data set: older years and non-uploading organisations by COPY, the "
        "uploading organisations' last year as signals")
    copy_path, up_path, uploading, orgs, fig = split_dump(args, workdir)
    log(f"{fig['copy_rows']} rows by COPY, {fig['upload_rows']} count rows "
        f"({fig['upload_persons']} person-weeks) of {len(uploading)} organisations to upload")

    t = time.monotonic()
    db = cluster.connect(DB, autocommit=False)
    with db.cursor() as cur:
        cur.execute("INSERT INTO theme (code, label_nl, label_en) VALUES ('DIGITAAL', "
                    "'Digitale vaardigheden', 'Digital skills') ON CONFLICT DO NOTHING")
    psql_copy(db, Path(args.dump) / "area.tsv", "area",
              "year, code, kind, name, municipality, population, centroid_lat, centroid_lon")
    psql_copy(db, copy_path, "need_week_count",
              "organisation, area_year, area_code, theme, week, persons")
    db.commit()
    db.autocommit = True
    with db.cursor() as cur:
        cur.execute("ANALYZE area")
        cur.execute("ANALYZE need_week_count")
    copy_s = time.monotonic() - t
    log(f"COPY + ANALYZE in {copy_s:.1f} s")

    log(f"making {len(uploading)} source tokens and an admin token")
    t = time.monotonic()
    tokens = {org: make_token(args, cfg, "source", org, SOURCE) for org in uploading}
    admin = make_token(args, cfg, "admin", orgs[0])
    log(f"tokens in {time.monotonic() - t:.1f} s")

    log("generating and encoding the signals (not timed)")
    t = time.monotonic()
    batch_path, n_signals, batches = encode_batches(args, up_path, workdir)
    gen_s = time.monotonic() - t
    log(f"{n_signals} signals in {len(batches)} batches "
        f"({batch_path.stat().st_size / 2**20:.0f} MiB protobuf) in {gen_s:.1f} s")

    settings = pg_settings(cluster)
    daemon = Daemon(args, cfg, workdir)
    phases = Phases()
    sampler = None
    try:
        daemon.start()
        pid = daemon.proc.pid
        sampler = RssSampler(pid)
        phases.mark("idle")
        sampler.start()
        time.sleep(1.0)

        # Upload.
        up = Uploads(batches, batch_path, tokens)
        load_up = os.getloadavg()[0]
        d_cpu0, pg_cpu0 = proc_cpu_s(pid), cluster_cpu_s(cluster)
        phases.mark("upload")
        log(f"uploading with {args.uploaders} connections")
        t0 = time.monotonic()
        threads = [threading.Thread(target=up.worker, args=(daemon.port,), daemon=True)
                   for _ in range(args.uploaders)]
        for th in threads:
            th.start()
        last_log = t0
        while any(th.is_alive() for th in threads):
            time.sleep(0.5)
            if time.monotonic() - last_log >= 30:
                last_log = time.monotonic()
                el = last_log - t0
                log(f"  {up.signals} signals in {el:.0f} s ({up.signals / el:.0f}/s), "
                    f"daemon VmRSS {status_kb(pid, 'VmRSS') / 1024:.1f} MiB")
        up_s = time.monotonic() - t0
        phases.mark("between")
        d_cpu_up, pg_cpu_up = proc_cpu_s(pid) - d_cpu0, cluster_cpu_s(cluster) - pg_cpu0
        hwm_after_upload = status_kb(pid, "VmHWM")
        if up.errors:
            raise BenchError("upload failed:\n" + "\n".join(up.errors[:10]))
        if up.signals != n_signals or up.stored != n_signals:
            raise BenchError(f"uploaded {up.signals} of {n_signals} signals, daemon stored "
                             f"{up.stored} ({up.duplicates} duplicates)")
        log(f"uploaded {n_signals} signals in {up_s:.1f} s ({n_signals / up_s:.0f}/s)")

        # Consistency: the counts the daemon built equal the dump's.
        with db.cursor() as cur:
            cur.execute("CREATE TEMP TABLE expected (LIKE need_week_count)")
        psql_copy(db, up_path, "expected",
                  "organisation, area_year, area_code, theme, week, persons")
        orgs_arr = list(uploading)
        with db.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM (SELECT * FROM need_week_count WHERE week >= %s"
                " AND organisation = ANY(%s)) n FULL JOIN expected e USING"
                " (organisation, area_year, area_code, theme, week)"
                " WHERE n.persons IS DISTINCT FROM e.persons",
                (monday_of(fig["first_upload_week"]), orgs_arr))
            mismatches = cur.fetchone()[0]
            cur.execute("DROP TABLE expected")
        if mismatches:
            raise BenchError(f"need_week_count differs from the dump in {mismatches} rows")
        stored_rows = scalar(db, "SELECT count(*) FROM signal")
        persons_rows = scalar(db, "SELECT count(*) FROM need_person_week")
        nwc_rows = scalar(db, "SELECT count(*) FROM need_week_count")
        log("need_week_count equals the dump; ANALYZE before the analysis")
        t = time.monotonic()
        with db.cursor() as cur:
            cur.execute("ANALYZE")
        analyze_s = time.monotonic() - t

        # Analysis inside the daemon.
        time.sleep(1.0)
        load_an = os.getloadavg()[0]
        d_cpu0, pg_cpu0 = proc_cpu_s(pid), cluster_cpu_s(cluster)
        phases.mark("analysis")
        t0 = time.monotonic()
        status, text = admin_call(daemon.port, admin, "POST", "/v1/admin/analyze",
                                  json.dumps({"week": args.week}))
        if status != 202:
            raise BenchError(f"POST /v1/admin/analyze answered {status}: {text}")
        log(f"analysis of {args.week} started")
        run_row = None
        while time.monotonic() - t0 < args.analysis_timeout:
            time.sleep(POLL_S)
            if daemon.proc.poll() is not None:
                raise BenchError(f"wijkradar serve exited with status "
                                 f"{daemon.proc.returncode} during the analysis")
            status, text = admin_call(daemon.port, admin, "GET", "/v1/analysis/runs")
            if status == 200:
                runs = json.loads(text)["runs"]
                if runs and runs[0]["status"] not in ("running", "queued", "started"):
                    run_row = runs[0]
                    break
        an_s = time.monotonic() - t0
        phases.mark("after")
        d_cpu_an, pg_cpu_an = proc_cpu_s(pid) - d_cpu0, cluster_cpu_s(cluster) - pg_cpu0
        if run_row is None:
            raise BenchError(f"the analysis did not finish within {args.analysis_timeout} s")
        log(f"analysis {run_row['status']} in {an_s:.1f} s")
        time.sleep(2.0)
        hwm_end = status_kb(pid, "VmHWM")
        rss_end = status_kb(pid, "VmRSS")
        sampler.stop()
        by_method = db.cursor()
        by_method.execute("SELECT method, count(*) FROM alert GROUP BY method ORDER BY method")
        methods = by_method.fetchall()
        db_size = scalar(db, "SELECT pg_database_size(current_database())")
        with db.cursor() as cur:
            # Partitioned tables (signal, need_person_week) with all their partitions.
            cur.execute("SELECT c.relname, coalesce((SELECT sum(pg_total_relation_size(relid))"
                        " FROM pg_partition_tree(c.oid)), pg_total_relation_size(c.oid))"
                        " FROM pg_class c"
                        " JOIN pg_namespace n ON n.oid = c.relnamespace"
                        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
                        " AND NOT c.relispartition ORDER BY 2 DESC LIMIT 5")
            tables = cur.fetchall()
        daemon.stop()
    finally:
        if sampler is not None and sampler.is_alive():
            sampler.stop()
        daemon.kill()
        db.close()

    log_text = daemon.stderr_path.read_text(errors="replace")
    bad_lines = [ln for ln in log_text.splitlines()
                 if '"level":"error"' in ln or '"level":"warn"' in ln
                 or " error " in ln.lower() or " warn" in ln.lower()]
    samples = sampler.samples
    mb = 1 / 1024
    s_idle = rss_summary(samples, phases, "idle")
    s_up = rss_summary(samples, phases, "upload")
    s_an = rss_summary(samples, phases, "analysis")
    s_after = rss_summary(samples, phases, "after")
    full = len(uploading) == len(orgs)

    cmdline = os.environ.get("WR_BENCH_CMDLINE") or " ".join(["bench/national", *sys.argv[1:]])
    P = print
    P()
    P("wijkradar national-scale benchmark (issue 8: five years, 3,300 wijken, analysed inside "
      "the daemon within the documented memory)")
    P(f"command:        {cmdline}")
    P(f"binary:         {args.bin} (meson --buildtype=release -Dtests=false), source {ROOT} "
      f"at {os.environ.get('WR_BENCH_COMMIT', '?')}")
    P(f"machine:        {os.cpu_count()} CPUs, SHARED with other work (1-min load average "
      f"{load_up:.2f} when the upload started, {load_an:.2f} when the analysis started); "
      "the daemon, PostgreSQL and the uploaders ran under nice")
    P(f"PostgreSQL:     {settings['server_version']}, throw-away cluster (tests/pg-env.sh), "
      "unix socket; " + ", ".join(f"{k}={settings[k]}" for k in PG_SHOW[1:]))
    P(f"data set:       detect_national --week {args.week} --dump-db: {len(orgs)} "
      f"organisations, 3,300 wijken x 15 themes, 261 weeks ending {args.week}")
    P(f"loaded by COPY: area registry, {fig['copy_rows']} need_week_count rows (weeks before "
      f"{fig['first_upload_week']}" + ("" if full else
                                       ", and the last year of the non-uploading organisations")
      + f") in {copy_s:.1f} s with ANALYZE")
    P(f"over HTTP:      {len(uploading)} of {len(orgs)} organisations' last year "
      f"({fig['first_upload_week']}..{fig['last_week']}): {fig['upload_rows']} weekly counts "
      f"= {fig['upload_persons']} person-weeks -> {n_signals} need signals ({n_signals - fig['upload_persons']} "
      f"repeat registrations of a person already counted that week)")
    P(f"                {len(batches)} protobuf batches of <= {args.batch_size} signals, one "
      f"organisation each, {args.uploaders} concurrent keep-alive connections "
      f"(database.pool_size {args.uploaders}); encoded before timing ({gen_s:.0f} s)")
    P()
    P("results")
    P(f"  signals uploaded           {n_signals} (stored {up.stored}, duplicates "
      f"{up.duplicates}, 503 retries {sum(up.retries.values())})")
    lat = sorted(up.latency)
    P(f"  upload wall time           {up_s:.1f} s -> {n_signals / up_s:.0f} signals/s "
      f"(batch latency median {1000 * lat[len(lat) // 2]:.0f} ms, "
      f"p99 {1000 * lat[int(len(lat) * 0.99)]:.0f} ms)")
    P(f"  CPU during upload          daemon {d_cpu_up:.1f} s "
      f"({1e6 * d_cpu_up / n_signals:.1f} us/signal), PostgreSQL {pg_cpu_up:.1f} s "
      f"({1e6 * pg_cpu_up / n_signals:.1f} us/signal)")
    P(f"  consistency                need_week_count of the uploaded year equals the dump "
      f"(0 differing rows); table rows: signal {stored_rows}, need_person_week "
      f"{persons_rows}, need_week_count {nwc_rows}")
    P(f"  ANALYZE before analysis    {analyze_s:.1f} s")
    P(f"  analysis                   run {run_row['id']} week {run_row['week']} status "
      f"{run_row['status']}{' error ' + str(run_row['error']) if run_row.get('error') else ''}")
    P(f"  analysis wall time         {an_s:.1f} s (from POST to the run seen finished, polled "
      f"every {POLL_S} s; run's own duration_ms {run_row['duration_ms']})")
    P(f"  CPU during analysis        daemon {d_cpu_an:.1f} s, PostgreSQL {pg_cpu_an:.1f} s")
    P(f"  series                     total {run_row['series_total']}, analysed "
      f"{run_row['series_analysed']}")
    P(f"  alerts                     raised {run_row['alerts_raised']}, updated "
      f"{run_row['alerts_updated']}; by method: "
      + (", ".join(f"{m} {c}" for m, c in methods) or "none"))
    P("  daemon RSS (VmRSS sampled every 0.2 s; MiB):")
    for label, s in (("after start (idle)", s_idle), ("during upload", s_up),
                     ("checks and ANALYZE", rss_summary(samples, phases, "between")),
                     ("during analysis", s_an), ("after analysis", s_after)):
        if s:
            P(f"    {label:<24} first {s['first'] * mb:7.1f}  peak {s['peak'] * mb:7.1f}  "
              f"last {s['last'] * mb:7.1f}  ({s['n']} samples)")
    P(f"    VmHWM after upload {hwm_after_upload * mb:.1f}, at the end {hwm_end * mb:.1f}; "
      f"VmRSS at the end {rss_end * mb:.1f}")
    P(f"  PostgreSQL database size   {db_size / 2**20:.0f} MiB; largest tables with indexes "
      "and partitions: " + ", ".join(f"{n} {int(b) / 2**20:.0f} MiB" for n, b in tables))
    P(f"  daemon log                 {len(bad_lines)} warning/error lines"
      + ("" if not bad_lines else ":"))
    for ln in bad_lines[:10]:
        P(f"    {ln[:300]}")
    if not full:
        frac = len(uploading) / len(orgs)
        P(f"  extrapolation              {frac:.1%} of the organisations uploaded: the whole "
          f"country's last year would be about {n_signals / frac:.0f} signals, "
          f"{n_signals / frac / (n_signals / up_s) / 60:.0f} min at this rate")
    P(f"  total run time             {time.monotonic() - t_all:.0f} s")
    return 0


def main(argv):
    args = parse_args(argv)
    if args.parse_only:
        return 0
    return run_in_cluster(args, "wr-national.", run)


if __name__ == "__main__":
    run_main(main)
