"""Process lifecycle: command line, config validation at start, SIGHUP reload, SIGTERM shutdown,
and starting without a database."""

import re
import signal
import socket
import threading

import pytest

import wrtest

RELOADS = "wijkradar_config_reloads_total"


def serve_fails(config, env=None):
    """Runs serve expecting it to exit by itself; returns the CompletedProcess."""
    port_file = config.parent / "never.port"
    proc = wrtest.run_wr("serve", "--config", config, "--port-file", port_file, env=env,
                         timeout=wrtest.START_TIMEOUT_S * 2)
    assert not (port_file.exists() and port_file.read_text()), (
        f"serve wrote a port file although it should not have started\n"
        f"{wrtest.describe_run(proc)}")
    return proc


def test_help_lists_subcommands():
    proc = wrtest.run_wr_ok("--help")
    for command in ("serve", "migrate", "areas"):
        assert re.search(rf"\b{command}\b", proc.stdout), (
            f"--help does not list {command!r}\n{wrtest.describe_run(proc)}")


# (overrides, extra text, key that the message must name in double quotes)
BAD_CONFIGS = {
    "bad_listen": ({"http": {"listen": "nonsense"}}, "", "http.listen"),
    "bad_port": ({"http": {"listen": "127.0.0.1:99999"}}, "", "http.listen"),
    "unknown_key": ({"http": {"bogus": "1"}}, "", "http.bogus"),
    "bad_integer": ({"database": {"pool_size": "four"}}, "", "database.pool_size"),
    "bad_log_level": ({"log": {"level": "loud"}}, "", "log.level"),
    "bad_bool": ({"database": {"migrate_on_start": "perhaps"}}, "",
                 "database.migrate_on_start"),
    "unknown_section": (None, "[nosuchsection]\nkey = 1\n", "nosuchsection"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_invalid_config_is_fatal_at_start(make_config, case):
    overrides, extra, key = BAD_CONFIGS[case]
    config = make_config(overrides, extra)
    proc = serve_fails(config)
    assert proc.returncode == 1, f"expected exit status 1\n{wrtest.describe_run(proc)}"
    # The key in double quotes; for a section, the key may follow it ("section.key").
    assert re.search(rf'"{re.escape(key)}[".]', proc.stderr), (
        f'message does not name "{key}"\n{wrtest.describe_run(proc)}')
    assert str(config) in proc.stderr, (
        f"message does not name the config file\n{wrtest.describe_run(proc)}")
    if case == "bad_listen":
        line = wrtest.line_of(config.read_text(), "listen = nonsense")
        assert re.search(rf"\bline {line}\b", proc.stderr), wrtest.describe_run(proc)
        assert '"nonsense"' in proc.stderr, wrtest.describe_run(proc)


def test_missing_config_file_is_fatal(tmp_path):
    missing = tmp_path / "does-not-exist.conf"
    proc = serve_fails(missing)
    assert proc.returncode == 1, f"expected exit status 1\n{wrtest.describe_run(proc)}"
    assert str(missing) in proc.stderr, wrtest.describe_run(proc)


def test_default_config_is_accepted(db, daemon, tmp_path):
    proc = wrtest.run_wr_ok("--print-default-config")
    text = proc.stdout
    # Every key that the tests use is documented in the default file.
    for section, keys in wrtest.default_config("x").items():
        assert re.search(rf"^\[{section}\]$", text, re.M), f"no [{section}] section:\n{text}"
        for key in keys:
            assert re.search(rf"^{key}\s*=", text, re.M), f"no {section}.{key} key:\n{text}"
    # Only the database changes; listen moves to port 0 so that parallel test runs
    # cannot collide on the default port.
    text, n = re.subn(r"(?m)^conninfo\s*=.*$", f"conninfo = {db.conninfo}", text)
    assert n == 1, f"expected one active conninfo line:\n{proc.stdout}"
    text, n = re.subn(r"(?m)^listen\s*=.*$", "listen = 127.0.0.1:0", text)
    assert n == 1, f"expected one active listen line:\n{proc.stdout}"
    # The one thing with no default: the pseudonym key, here from the environment.
    config = tmp_path / "default.conf"
    config.write_text(text)
    d = daemon(config, env={"WIJKRADAR_PSEUDONYM_KEY": "k" * 32})
    assert d.get("/healthz").status == 200
    wrtest.wait_until("/readyz to answer 200", lambda: d.get("/readyz").status == 200)
    d.stop()


def test_serve_refuses_to_start_without_pseudonym_key(make_config, daemon):
    config = make_config({"privacy": {"pseudonym_key_file": None}})
    proc = wrtest.run_wr("serve", "--config", str(config), env=wrtest.daemon_env())
    assert proc.returncode == 1, wrtest.describe_run(proc)
    assert "no pseudonym key" in proc.stderr, wrtest.describe_run(proc)
    short = config.parent / "short.key"
    short.write_text("too short\n")
    config = make_config({"privacy": {"pseudonym_key_file": str(short)}})
    proc = wrtest.run_wr("check-config", "--config", str(config), env=wrtest.daemon_env())
    assert proc.returncode == 1, wrtest.describe_run(proc)
    assert "too short" in proc.stderr and "9 bytes" in proc.stderr, wrtest.describe_run(proc)


def test_sighup_with_broken_config_keeps_serving(make_config, daemon):
    config = make_config()
    d = daemon(config)
    good = config.read_text()
    config.write_text(good.replace("level = info", "level = loud"))
    d.signal(signal.SIGHUP)
    d.wait_log(r"error: config: could not reload configuration: .*")
    line = re.search(r"error: config: could not reload configuration: .*", d.stderr()).group(0)
    assert '"log.level"' in line, f"reload error does not name the key: {line}"
    assert d.running(), f"daemon exited on a bad reload\n{wrtest.tail(d.stderr())}"
    assert d.get("/healthz").status == 200
    assert d.get("/readyz").status == 200
    samples = d.metrics()
    assert wrtest.metric(samples, RELOADS, result="failure") == 1
    assert wrtest.metric(samples, RELOADS, result="success") == 0

    # Mending the file and reloading again succeeds.
    config.write_text(good)
    d.signal(signal.SIGHUP)
    d.wait_log(r"info: config: configuration reloaded")
    samples = d.metrics()
    assert wrtest.metric(samples, RELOADS, result="failure") == 1
    assert wrtest.metric(samples, RELOADS, result="success") == 1
    d.stop()


def test_sighup_with_good_config_reloads(make_config, daemon):
    config = make_config()
    d = daemon(config)
    make_config({"log": {"level": "debug"}, "daemon": {"shutdown_grace_s": "5"}})
    for n in (1, 2):
        d.signal(signal.SIGHUP)
        wrtest.wait_until(f"reload success counter to reach {n}",
                          lambda: wrtest.metric(d.metrics(), RELOADS, result="success") == n,
                          describe=lambda: wrtest.tail(d.stderr()))
    assert len(re.findall(r"info: config: configuration reloaded", d.stderr())) == 2, d.stderr()
    assert wrtest.metric(d.metrics(), RELOADS, result="failure") == 0
    assert d.get("/healthz").status == 200
    d.stop()


def test_sigterm_exits_cleanly(make_config, daemon):
    d = daemon(make_config())
    # The log names the port that was bound, not only the configured port 0.
    assert re.search(rf"^info: http: listening on 127\.0\.0\.1:.*\b{d.port}\b", d.stderr(),
                     re.M), f"no 'listening on' log line naming port {d.port}\n{d.stderr()}"
    assert d.get("/healthz").status == 200
    d.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", d.port), timeout=5).close()


def test_sigterm_with_idle_and_partial_connections(make_config, daemon):
    """Open connections (one idle keep-alive, one with half a request) must not keep a
    stopping daemon alive past its grace period, nor leak."""
    d = daemon(make_config({"daemon": {"shutdown_grace_s": "2"}}))
    idle = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert idle.recv(4096).startswith(b"HTTP/1.1 200"), "no reply on the keep-alive connection"
    partial = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    try:
        d.stop()
    finally:
        idle.close()
        partial.close()


def test_sigterm_finishes_request_in_flight(db, make_config, daemon):
    """A /readyz that waits on a table lock is in flight when SIGTERM arrives: the daemon stops
    accepting connections, still answers it once the lock goes, then exits with status 0.
    daemon.readiness_timeout_ms is raised so that /readyz waits for the lock, not gives up."""
    d = daemon(make_config({"daemon": {"shutdown_grace_s": "60",
                                       "readiness_timeout_ms": "60000"}}))
    holder = db.cluster.connect(db.name)
    holder.autocommit = False
    result = {}

    def client():
        try:
            result["r"] = d.request("GET", "/readyz", timeout=90)
        except BaseException as e:  # pytest.fail in a thread: keep it for the main thread
            result["e"] = e

    thread = threading.Thread(target=client)
    try:
        with holder.cursor() as cur:
            cur.execute("LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE")
        thread.start()
        waiting = ("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                   "AND wait_event_type = 'Lock' AND query LIKE '%%schema_migrations%%'")
        wrtest.wait_until("the /readyz query to wait on the lock",
                          lambda: db.scalar(waiting, (db.name,)) == 1,
                          describe=lambda: wrtest.tail(d.stderr()))
        d.signal(signal.SIGTERM)

        def refused():
            try:
                socket.create_connection(("127.0.0.1", d.port), timeout=5).close()
            except ConnectionRefusedError:
                return True
            return False

        wrtest.wait_until("the daemon to stop accepting connections", refused,
                          describe=lambda: wrtest.tail(d.stderr()))
        assert d.running(), f"the daemon exited with a request in flight\n{d.stderr()}"
    finally:
        holder.rollback()
        holder.close()
    thread.join(wrtest.HTTP_TIMEOUT_S * 6)
    assert not thread.is_alive(), "the in-flight /readyz got no reply"
    if "e" in result:
        raise result["e"]
    r = result["r"]
    assert r.status == 200, f"the in-flight request was not finished properly\n{r.describe()}"
    assert r.json().get("status") == "ready", r.describe()
    rc = d.wait_exit()
    assert rc == 0, f"exit status {rc} after SIGTERM\n{wrtest.tail(d.stderr())}"


def test_unreachable_database_is_fatal(tmp_path, make_config):
    nowhere = tmp_path / "no-postgres-here"
    nowhere.mkdir()
    config = make_config(conninfo=f"host={nowhere} dbname=wijkradar connect_timeout=5")
    proc = serve_fails(config)
    assert proc.returncode != 0, wrtest.describe_run(proc)
    assert "could not connect to database" in proc.stderr, wrtest.describe_run(proc)


def test_environment_overrides_conninfo(db, tmp_path, make_config, daemon):
    nowhere = tmp_path / "no-postgres-here"
    nowhere.mkdir()
    config = make_config(conninfo=f"host={nowhere} dbname=wijkradar")
    env = wrtest.daemon_env({"WIJKRADAR_DATABASE": db.conninfo})
    d = daemon(config, env=env)
    assert d.get("/readyz").status == 200
    assert db.table_exists("schema_migrations"), "serve migrated some other database"
    d.stop()
