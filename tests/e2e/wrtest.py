"""Shared helpers for the wijkradar end-to-end tests.

They run the real `wijkradar` binary against the throw-away PostgreSQL cluster that
tests/pg-env.sh provides, and talk HTTP to it on 127.0.0.1. Only the standard library,
pytest and psycopg2 are used. Waits poll a condition until a deadline; nothing sleeps to wait.
"""

import http.client
import json
import os
import re
import signal
import subprocess
import time
from collections import namedtuple
from pathlib import Path

import psycopg2
import pytest

# Generous deadlines: they only bound a hang (sanitizer builds are slow), they assert no speed.
START_TIMEOUT_S = 30
EXIT_TIMEOUT_S = 30
CLI_TIMEOUT_S = 120
HTTP_TIMEOUT_S = 15
POLL_TIMEOUT_S = 30
POLL_INTERVAL_S = 0.05

# Lines that sanitizers print when they find a bug; a run containing one has failed even if
# the exit status says otherwise (UBSan without halt_on_error exits 0).
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def source_root():
    """Absolute source root: $WR_SOURCE_ROOT, or two levels above this file."""
    root = os.environ.get("WR_SOURCE_ROOT")
    return Path(root) if root else Path(__file__).resolve().parents[2]


def wr_bin():
    """Path of the binary under test: $WR_BIN, or build/daemon/wijkradar in the source tree."""
    path = os.environ.get("WR_BIN") or str(source_root() / "build" / "daemon" / "wijkradar")
    if not os.access(path, os.X_OK):
        pytest.fail(f"wijkradar binary not found or not executable: {path} (set WR_BIN)")
    return path


def tail(text, n=6000):
    """The last n characters of text, marked when cut."""
    return text if len(text) <= n else "[...]\n" + text[-n:]


def check_sanitizers(what, text):
    """Fails the test when text (a process's stderr) holds a sanitizer report."""
    for marker in SANITIZER_MARKERS:
        if marker in text:
            pytest.fail(f"{what}: sanitizer report ({marker!r}) in stderr:\n{tail(text)}")


def wait_until(what, predicate, timeout=POLL_TIMEOUT_S, describe=None):
    """Polls predicate() until it returns a true value, which is returned.

    Fails the test after timeout seconds; describe() (optional) then adds the last state seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{describe()}" if describe else ""
            pytest.fail(f"timed out after {timeout} s waiting for {what}{extra}")
        time.sleep(POLL_INTERVAL_S)


def daemon_env(extra=None, drop=("WIJKRADAR_DATABASE",)):
    """Environment for wijkradar: ours (keeps ASAN_OPTIONS, PG*), minus drop, plus extra."""
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra or {})
    return env


def run_wr(*args, env=None, timeout=CLI_TIMEOUT_S, cwd=None):
    """Runs `wijkradar ARGS...` to completion; returns the CompletedProcess (text output).

    Fails the test on a hang or a sanitizer report. The exit status is the caller's to check.
    """
    cmd = [wr_bin(), *map(str, args)]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              env=daemon_env() if env is None else env, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{' '.join(cmd)} did not finish within {timeout} s\n"
                    f"stdout:\n{e.stdout}\nstderr:\n{e.stderr}")
    check_sanitizers(" ".join(cmd), proc.stderr)
    return proc


def describe_run(proc):
    """Command, exit status and output of a finished process, for failure messages."""
    cmd = " ".join(proc.args)
    return (f"$ {cmd}\nexit status {proc.returncode}\n"
            f"--- stdout ---\n{tail(proc.stdout)}\n--- stderr ---\n{tail(proc.stderr)}")


def run_wr_ok(*args, **kwargs):
    """run_wr() that also asserts exit status 0."""
    proc = run_wr(*args, **kwargs)
    assert proc.returncode == 0, f"expected exit status 0\n{describe_run(proc)}"
    return proc


# --- configuration ---------------------------------------------------------------------------

def default_config(conninfo):
    """The test configuration as {section: {key: value}}: port 0, short reconnect delays."""
    return {
        "http": {"listen": "127.0.0.1:0", "max_body_bytes": "8388608", "timeout_s": "30"},
        "database": {"conninfo": conninfo, "pool_size": "4", "reconnect_min_ms": "100",
                     "reconnect_max_ms": "2000", "migrate_on_start": "true"},
        "privacy": {"pseudonym_key_file": str(source_root() / "tests" / "data" /
                                              "test-pseudonym.key")},
        "log": {"level": "info"},
        "daemon": {"shutdown_grace_s": "10"},
        # Test data has weeks of years ago: retention only where a test asks for it.
        "retention": {"enabled": "false"},
    }


def render_config(sections, extra=""):
    """INI text for {section: {key: value}} (a value of None leaves the key out) plus extra."""
    lines = ["; wijkradar e2e test configuration"]
    for section, keys in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{k} = {v}" for k, v in keys.items() if v is not None)
    text = "\n".join(lines) + "\n"
    return text + extra if extra else text


def config_text(conninfo, overrides=None, extra=""):
    """render_config() of default_config(conninfo) with overrides {section: {key: value}}."""
    sections = default_config(conninfo)
    for section, keys in (overrides or {}).items():
        sections.setdefault(section, {}).update(keys)
    return render_config(sections, extra)


def line_of(text, needle):
    """1-based number of the first line of text that contains needle."""
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in config text")


# --- PostgreSQL ------------------------------------------------------------------------------

class PgCluster:
    """The cluster of tests/pg-env.sh, which tests may stop and start again."""

    def __init__(self):
        names = ("PGHOST", "PGUSER", "WR_PGDATA", "WR_PGBIN", "WR_PGLOG", "WR_PGSOCKDIR")
        missing = [n for n in names if not os.environ.get(n)]
        if missing:
            pytest.fail(f"environment lacks {', '.join(missing)}: run the tests through "
                        "tests/pg-env.sh")
        self.host = os.environ["PGHOST"]
        self.user = os.environ["PGUSER"]
        self.data = os.environ["WR_PGDATA"]
        self.bin = os.environ["WR_PGBIN"]
        self.log = os.environ["WR_PGLOG"]
        self.sockdir = os.environ["WR_PGSOCKDIR"]
        self.as_user = os.environ.get("WR_PG_ASUSER", "")

    def pg_ctl(self, *args, check=True):
        """Runs pg_ctl -D DATA ARGS as the cluster's owner; returns the CompletedProcess."""
        cmd = [os.path.join(self.bin, "pg_ctl"), "-D", self.data, *args]
        if self.as_user:
            cmd = ["runuser", "-u", self.as_user, "--", *cmd]
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              cwd=self.sockdir, timeout=CLI_TIMEOUT_S)
        if check and proc.returncode != 0:
            pytest.fail(f"pg_ctl failed\n{describe_run(proc)}\n--- {self.log} ---\n"
                        f"{tail(self.read_log())}")
        return proc

    def read_log(self):
        try:
            return Path(self.log).read_text(errors="replace")
        except OSError as e:
            return f"(could not read: {e})"

    def stop(self, mode="fast"):
        """Stops the server with pg_ctl -m MODE (fast or immediate) and waits for it."""
        self.pg_ctl("-m", mode, "-w", "stop")

    def start(self):
        """Starts the server with the options of pg-env.sh and waits until it accepts."""
        self.pg_ctl("-l", self.log, "-w", "-t", "120",
                    "-o", f"-k {self.sockdir} -c listen_addresses= -c fsync=off", "start")

    def is_running(self):
        return self.pg_ctl("status", check=False).returncode == 0

    def ensure_running(self):
        if not self.is_running():
            self.start()

    def connect(self, dbname="postgres"):
        """A new autocommit psycopg2 connection to dbname."""
        conn = psycopg2.connect(host=self.host, user=self.user, dbname=dbname)
        conn.autocommit = True
        return conn

    def conninfo(self, dbname):
        """A libpq conninfo for dbname on the private socket."""
        return f"host={self.host} user={self.user} dbname={dbname}"


def create_database(pg, name, template=None):
    """CREATE DATABASE name [TEMPLATE template] on the cluster."""
    pg.ensure_running()
    conn = pg.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template
                                                       else ""))
    finally:
        conn.close()


def drop_database(pg, name):
    """DROP DATABASE IF EXISTS name WITH (FORCE): a daemon that a failed test left behind must
    not keep the drop waiting."""
    pg.ensure_running()
    conn = pg.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


class Database:
    """One test database; query() opens a short connection, so DROP DATABASE is never blocked."""

    def __init__(self, cluster, name):
        self.cluster = cluster
        self.name = name
        self.conninfo = cluster.conninfo(name)

    def query(self, sql, params=None):
        """Rows of sql as a list of tuples ([] for statements without a result)."""
        conn = self.cluster.connect(self.name)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description is not None else []
        finally:
            conn.close()

    def scalar(self, sql, params=None):
        rows = self.query(sql, params)
        assert len(rows) == 1 and len(rows[0]) == 1, f"expected one value from {sql!r}: {rows}"
        return rows[0][0]

    def table_exists(self, name):
        return self.scalar("SELECT to_regclass(%s) IS NOT NULL", (name,))

    def migrations(self):
        """[(version, name, applied_at)] from schema_migrations, by version."""
        return self.query("SELECT version, name, applied_at FROM schema_migrations ORDER BY 1")


# --- the daemon ------------------------------------------------------------------------------

class Response(namedtuple("Response", "status headers body")):
    """An HTTP reply: status int, headers (http.client.HTTPMessage), body bytes."""

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise AssertionError(f"reply is not JSON ({e}): {self.body[:500]!r}") from None

    def describe(self):
        head = "".join(f"{k}: {v}\n" for k, v in self.headers.items())
        return f"HTTP {self.status}\n{head}\n{self.body[:2000]!r}"


class Daemon:
    """One `wijkradar serve` process with port 0 and a port file; stderr goes to a file."""

    def __init__(self, config_path, workdir, name="wijkradar", env=None):
        self.config_path = Path(config_path)
        self.workdir = Path(workdir)
        self.name = name
        self.env = daemon_env() if env is None else env
        self.port_file = self.workdir / f"{name}.port"
        self.stderr_path = self.workdir / f"{name}.stderr"
        self.stdout_path = self.workdir / f"{name}.stdout"
        self.proc = None
        self.port = None

    # process

    def start(self, wait=True):
        """Starts serve; with wait, returns once the port file names the bound port."""
        assert self.proc is None, "daemon already started"
        for p in (self.port_file, self.stderr_path, self.stdout_path):
            p.unlink(missing_ok=True)
        cmd = [wr_bin(), "serve", "--config", str(self.config_path),
               "--port-file", str(self.port_file)]
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         env=self.env, cwd=self.workdir)
        if wait:
            self.wait_listening()
        return self

    def read_port_file(self):
        """The port in the port file once complete (ends in a newline), else None."""
        try:
            text = self.port_file.read_text()
        except FileNotFoundError:
            return None
        if not text.endswith("\n"):
            return None
        assert re.fullmatch(r"[0-9]+\n", text), f"port file holds {text!r}, expected PORT\\n"
        port = int(text)
        assert 0 < port < 65536, f"port file names port {port}"
        return port

    def wait_listening(self, timeout=START_TIMEOUT_S):
        """Waits for the port file; fails with the daemon's stderr if it exits first."""
        def ready():
            if self.proc.poll() is not None:
                pytest.fail(f"wijkradar serve exited with status {self.proc.returncode} "
                            f"before it wrote the port file\n--- stderr ---\n"
                            f"{tail(self.stderr())}")
            return self.read_port_file()
        self.port = wait_until(f"{self.port_file} to name the port", ready, timeout,
                               lambda: f"--- stderr ---\n{tail(self.stderr())}")
        return self.port

    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        assert self.running(), f"daemon is not running\n--- stderr ---\n{tail(self.stderr())}"
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=EXIT_TIMEOUT_S):
        """Waits for the process to exit; kills it and fails the test after timeout."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"wijkradar serve did not exit within {timeout} s\n--- stderr ---\n"
                        f"{tail(self.stderr())}")
        check_sanitizers("wijkradar serve", self.stderr())
        return rc

    def stop(self, timeout=EXIT_TIMEOUT_S):
        """Sends SIGTERM and asserts a clean exit (status 0, no sanitizer report)."""
        self.signal(signal.SIGTERM)
        rc = self.wait_exit(timeout)
        assert rc == 0, (f"wijkradar serve exited with status {rc} after SIGTERM, expected 0"
                         f"\n--- stderr ---\n{tail(self.stderr())}")
        return rc

    def kill(self):
        if self.running():
            self.proc.kill()
            self.proc.wait()

    def wait_log(self, pattern, timeout=POLL_TIMEOUT_S):
        """Waits until stderr matches the regular expression; returns the match."""
        rx = re.compile(pattern)
        return wait_until(f"daemon log line matching {pattern!r}",
                          lambda: rx.search(self.stderr()), timeout,
                          lambda: f"--- stderr ---\n{tail(self.stderr())}")

    # HTTP

    def request(self, method, path, headers=None, body=None, timeout=HTTP_TIMEOUT_S):
        """One request on a fresh connection; returns a Response."""
        assert self.port, "daemon has no port yet"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return Response(resp.status, resp.headers, resp.read())
        except (OSError, http.client.HTTPException) as e:
            pytest.fail(f"{method} {path} failed: {e!r}\n--- daemon stderr ---\n"
                        f"{tail(self.stderr())}")
        finally:
            conn.close()

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def metrics(self):
        """GET /metrics, parsed (see parse_metrics); asserts 200."""
        r = self.get("/metrics")
        assert r.status == 200, f"GET /metrics:\n{r.describe()}"
        return parse_metrics(r.body.decode())


# --- Prometheus text format ------------------------------------------------------------------

_SAMPLE_RE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+-?[0-9]+)?")
_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\\n]|\\.)*)"\s*(?:,|$)')


def _parse_labels(text, line):
    labels = {}
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _LABEL_RE.match(text, pos)
        assert m and m.end() > pos, f"malformed labels in metrics line {line!r}"
        labels[m.group(1)] = re.sub(r"\\(.)", lambda x: {"n": "\n"}.get(x.group(1), x.group(1)),
                                    m.group(2))
        pos = m.end()
    return labels


def parse_metrics(text):
    """Samples of a Prometheus text exposition as a list of (name, {label: value}, float).

    Comment lines (# HELP, # TYPE) are skipped; any other line must be a valid sample.
    """
    samples = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _SAMPLE_RE.fullmatch(line)
        assert m, f"malformed metrics line {line!r}"
        try:
            value = float(m.group(3))
        except ValueError:
            raise AssertionError(f"malformed value in metrics line {line!r}") from None
        samples.append((m.group(1), _parse_labels(m.group(2) or "", line), value))
    return samples


def metric_values(samples, name, **labels):
    """Values of the samples called name whose labels include the given ones."""
    return [v for n, ls, v in samples
            if n == name and all(ls.get(k) == want for k, want in labels.items())]


def metric(samples, name, **labels):
    """The one value of name with these labels; fails if there is none or several."""
    values = metric_values(samples, name, **labels)
    shown = "\n".join(f"  {n} {ls} {v}" for n, ls, v in samples if n == name) or "  (none)"
    assert len(values) == 1, (f"expected one sample {name}{labels}, found {len(values)}; "
                              f"samples of {name}:\n{shown}")
    return values[0]
