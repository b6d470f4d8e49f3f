#!/usr/bin/python3
"""Shared pieces of the Python benchmark drivers (bench/ingest_bench.py, bench/load_bench.py).

The tests/pg-env.sh cluster, `wijkradar` commands and a `wijkradar serve` daemon with a generated
configuration, the database every benchmark starts from (migrations, the Leeuwarden wijken, a
source token), and the CPU and memory figures they read from /proc. Standard library and
psycopg2 only.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import http.client
from pathlib import Path

import psycopg2

BENCH_DIR = Path(__file__).resolve().parent
# The source tree the binary was built from (the bench/* scripts set it): data files and SQL.
ROOT = Path(os.environ.get("WR_BENCH_SRC") or BENCH_DIR.parent).resolve()
AREAS_CSV = ROOT / "deploy" / "data" / "leeuwarden_wijken_2024.csv"
PG_SHOW = ("server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_level",
           "shared_buffers", "wal_buffers", "max_wal_size", "checkpoint_timeout", "work_mem",
           "autovacuum")
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 60


class BenchError(Exception):
    """A failure of the benchmark itself (not a missed target)."""


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class Cluster:
    """The pg-env.sh cluster; restart() applies different server options."""

    def __init__(self):
        missing = [v for v in ("PGHOST", "PGUSER", "WR_PGDATA", "WR_PGBIN", "WR_PGLOG",
                               "WR_PGSOCKDIR") if not os.environ.get(v)]
        if missing:
            raise BenchError(f"environment lacks {', '.join(missing)}: run through "
                             "tests/pg-env.sh (the bench/* scripts do)")
        self.host = os.environ["PGHOST"]
        self.user = os.environ["PGUSER"]
        self.data = os.environ["WR_PGDATA"]
        self.bin = os.environ["WR_PGBIN"]
        self.log = os.environ["WR_PGLOG"]
        self.sockdir = os.environ["WR_PGSOCKDIR"]
        self.as_user = os.environ.get("WR_PG_ASUSER", "")

    def restart(self, settings):
        opts = f"-k {self.sockdir} -c listen_addresses=" + "".join(
            f" -c {k}={v}" for k, v in settings)
        cmd = [os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l", self.log, "-w",
               "-t", "120", "-m", "fast", "-o", opts, "restart"]
        if self.as_user:
            cmd = ["runuser", "-u", self.as_user, "--", *cmd]
        p = subprocess.run(cmd, cwd=self.sockdir, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise BenchError(f"could not restart PostgreSQL with {opts}:\n{p.stdout}{p.stderr}"
                             f"\n--- {self.log} (tail) ---\n{tail_file(self.log)}")

    def connect(self, dbname, autocommit=True):
        conn = psycopg2.connect(host=self.host, user=self.user, dbname=dbname)
        conn.autocommit = autocommit
        return conn

    def conninfo(self, dbname):
        return f"host={self.host} user={self.user} dbname={dbname}"


def in_workdir(args, prefix, fn):
    """fn(workdir) in a new temporary directory, removed afterwards unless args.keep."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        return fn(workdir)
    finally:
        if args.keep:
            log(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def run_in_cluster(args, prefix, run):
    """run(args, cluster, workdir) on a new private cluster and work directory, once the
    binary args.bin is found."""
    if not os.access(args.bin, os.X_OK):
        raise BenchError(f"wijkradar binary not found: {args.bin}")
    cluster = Cluster()
    return in_workdir(args, prefix, lambda workdir: run(args, cluster, workdir))


def run_main(main):
    """Runs main(argv) as a bench script: exit status, a one-line error for BenchError."""
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


def tail_file(path, n=3000):
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as e:
        return f"(could not read {path}: {e})"
    return text[-n:]


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid, reaped_children=False):
    """CPU seconds (user + system) of a live process, optionally with its reaped children."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    f = text[text.rindex(")") + 2:].split()
    ticks = int(f[11]) + int(f[12])
    if reaped_children:
        ticks += int(f[13]) + int(f[14])
    return ticks / CLK_TCK


def cluster_cpu_s(cluster):
    """CPU seconds used so far by the PostgreSQL server: the postmaster, its live children
    (backends, WAL writer, checkpointer, ...) and the children it has reaped."""
    pm = int(Path(cluster.data, "postmaster.pid").read_text().split()[0])
    total = proc_cpu_s(pm, reaped_children=True)
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            text = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        if int(text[text.rindex(")") + 2:].split()[1]) == pm:
            total += proc_cpu_s(int(d))
    return total


def scalar(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def run_wr(args, cfg, *cmd, env=None):
    """Runs a wijkradar command to completion; returns stdout. Raises BenchError on failure."""
    full = [args.bin, "--config", str(cfg), *cmd]
    p = subprocess.run(full, capture_output=True, text=True, env=env or wr_env(),
                       stdin=subprocess.DEVNULL, timeout=600)
    if p.returncode != 0:
        raise BenchError(f"{' '.join(full)} failed with status {p.returncode}:\n"
                         f"{p.stdout}{p.stderr}")
    return p.stdout


def wr_env(extra=None):
    env = {k: v for k, v in os.environ.items()
           if k not in ("WIJKRADAR_DATABASE", "WIJKRADAR_PSEUDONYM_KEY", "WIJKRADAR_CONFIG",
                        "WIJKRADAR_TOKEN")}
    env.update(extra or {})
    return env


def has_detect_schedule(args):
    """Whether the binary knows detect.schedule (the weekly analysis inside serve)."""
    p = subprocess.run([args.bin, "--print-default-config"], capture_output=True, text=True,
                       env=wr_env(), stdin=subprocess.DEVNULL)
    return p.returncode == 0 and re.search(r"^\[detect\][^\[]*^schedule\s*=", p.stdout,
                                           re.M) is not None


def write_config(path, conninfo, pool_size, batch_size, no_detect, *, max_inflight=64,
                 queue_max=None, max_connections=None, title="ingest"):
    """Writes the daemon's configuration: a free port, the test pseudonym key, room for
    `batch_size` signals per batch, `pool_size` connections and at most `max_inflight` uploads
    being stored; `queue_max` (database.queue_max) only when given."""
    # A due weekly analysis would run on a worker thread at every start of serve and take CPU
    # from the measurement: it is switched off.
    detect = "[detect]\nschedule = false\n" if no_detect else ""
    queue = "" if queue_max is None else f"queue_max = {queue_max}\n"
    conns = "" if max_connections is None else f"max_connections = {max_connections}\n"
    path.write_text(
        f"; wijkradar {title} benchmark\n"
        "[http]\nlisten = 127.0.0.1:0\nmax_body_bytes = 67108864\ntimeout_s = 120\n" + conns +
        f"[database]\nconninfo = {conninfo}\npool_size = {pool_size}\n" + queue +
        "migrate_on_start = true\n"
        f"[privacy]\npseudonym_key_file = {ROOT / 'tests' / 'data' / 'test-pseudonym.key'}\n"
        f"[ingest]\nmax_signals_per_batch = {max(10000, batch_size)}\n"
        f"max_inflight_batches = {max_inflight}\n"
        "[log]\nlevel = info\n"
        # Capacity is measured: no per-token rate limit, and no retention run deleting the
        # generated history in the middle of a measurement.
        "[auth]\nrate_limit_per_s = 0\n[retention]\nenabled = false\n" + detect)


def prepare_database(args, cluster, cfg, db, organisation, source):
    """(Re)creates database `db`, applies the migrations, imports the Leeuwarden wijken and
    makes a source token for `organisation` and `source`. Returns the token."""
    conn = cluster.connect("postgres")
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        cur.execute(f"CREATE DATABASE {db}")
    conn.close()
    run_wr(args, cfg, "migrate")
    run_wr(args, cfg, "areas", "import", str(AREAS_CSV))
    return make_token(args, cfg, "source", organisation, source)


def make_token(args, cfg, role, organisation, source=None):
    """Creates a token with `wijkradar token create`; returns it."""
    cmd = ["token", "create", "--role", role, "--organisation", organisation, "--name", "bench"]
    if source is not None:
        cmd += ["--source", source]
    token = run_wr(args, cfg, *cmd).strip().splitlines()[-1]
    if not re.fullmatch(r"wr_[0-9a-f]{64}", token):
        raise BenchError(f"unexpected token output: {token!r}")
    return token


class Daemon:
    def __init__(self, args, cfg, workdir):
        self.args, self.cfg, self.workdir = args, cfg, workdir
        self.proc = None
        self.port = None
        self.port_file = workdir / "serve.port"
        self.stderr_path = workdir / "serve.stderr"

    def start(self):
        self.port_file.unlink(missing_ok=True)
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                [self.args.bin, "--config", str(self.cfg), "serve", "--port-file",
                 str(self.port_file)], stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                env=wr_env(), cwd=self.workdir)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"wijkradar serve exited with status {self.proc.returncode}"
                                 f"\n{tail_file(self.stderr_path)}")
            try:
                text = self.port_file.read_text()
            except FileNotFoundError:
                text = ""
            if text.endswith("\n"):
                self.port = int(text)
                status, _ = self.get("/readyz")
                if status == 200:
                    return
            if time.monotonic() > deadline:
                raise BenchError("wijkradar serve did not become ready within "
                                 f"{START_TIMEOUT_S} s\n{tail_file(self.stderr_path)}")
            time.sleep(0.05)

    def get(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.read().decode()
        except OSError:
            return None, ""
        finally:
            conn.close()

    def metrics(self):
        """{(name, labels text): value} of GET /metrics."""
        status, text = self.get("/metrics")
        if status != 200:
            rc = self.proc.poll()
            raise BenchError(f"GET /metrics answered {status}" + (
                "" if rc is None else f": wijkradar serve exited with status {rc}"))
        out = {}
        for line in text.splitlines():
            m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)", line)
            if m:
                out[(m.group(1), m.group(2) or "")] = float(m.group(3))
        return out

    def peak_rss_kb(self):
        return status_kb(self.proc.pid, "VmHWM")

    def stop(self):
        """SIGTERM and wait; raises BenchError unless it exits 0."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise BenchError(f"wijkradar serve did not stop within {STOP_TIMEOUT_S} s")
        if rc != 0:
            raise BenchError(f"wijkradar serve exited with status {rc}\n"
                             f"{tail_file(self.stderr_path)}")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def pg_settings(cluster):
    conn = cluster.connect("postgres")
    vals = {}
    with conn.cursor() as cur:
        for s in PG_SHOW:
            cur.execute(f"SHOW {s}")
            vals[s] = cur.fetchone()[0]
    conn.close()
    return vals


# --- memory ----------------------------------------------------------------------------------

def status_kb(pid, field):
    """Field `field` (VmRSS, VmHWM, ...) of /proc/PID/status, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise BenchError(f"no {field} in /proc/{pid}/status")


RSS_INTERVAL_S = 0.2


class RssSampler(threading.Thread):
    """Samples VmRSS of a process every RSS_INTERVAL_S into self.samples [(t, kB)]."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.samples = []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            try:
                self.samples.append((time.monotonic(), status_kb(self.pid, "VmRSS")))
            except (OSError, BenchError):
                return
            self.halt.wait(RSS_INTERVAL_S)

    def stop(self):
        self.halt.set()
        self.join()
