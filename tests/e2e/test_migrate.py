"""Schema migrations: `wijkradar migrate`, migration on `serve` start, and the advisory lock."""

import re
import subprocess

import pytest

import wrtest

MIGRATE_RE = re.compile(r"schema version ([0-9]+) \(applied ([0-9]+) migrations?\)")


def sql_versions():
    """Versions of the migration files sql/NNN_*.sql in the source tree."""
    files = sorted((wrtest.source_root() / "sql").glob("[0-9][0-9][0-9]_*.sql"))
    assert files, f"no sql/NNN_*.sql files under {wrtest.source_root()}"
    return [int(f.name[:3]) for f in files]


def migrate(config):
    """Runs `wijkradar migrate`, asserts success; returns (schema version, number applied)."""
    proc = wrtest.run_wr_ok("migrate", "--config", config)
    m = MIGRATE_RE.search(proc.stdout)
    assert m, f"stdout lacks 'schema version N (applied K migrations)'\n{wrtest.describe_run(proc)}"
    return int(m.group(1)), int(m.group(2))


def test_migrate_applies_and_records_every_migration(db, make_config):
    assert not db.table_exists("area")
    version, applied = migrate(make_config())
    expected = sql_versions()
    assert version == max(expected), f"schema version {version}, sql/ has {expected}"
    assert applied == len(expected)
    rows = db.migrations()
    assert [r[0] for r in rows] == expected, f"schema_migrations holds {rows}"
    for v, name, applied_at in rows:
        assert name, f"migration {v} recorded without a name"
        assert applied_at is not None, f"migration {v} recorded without applied_at"
    # The first migration creates the area registry.
    assert db.table_exists("area")


def test_second_migrate_applies_nothing(db, make_config):
    config = make_config()
    version, applied = migrate(config)
    assert applied > 0
    before = db.migrations()
    again = migrate(config)
    assert again == (version, 0), f"second run reported {again}, expected ({version}, 0)"
    assert db.migrations() == before, "second run changed schema_migrations"


def test_concurrent_migrates_apply_each_version_once(db, make_config):
    config = make_config()
    n = 4
    procs = [subprocess.Popen([wrtest.wr_bin(), "migrate", "--config", str(config)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=wrtest.daemon_env())
             for _ in range(n)]
    results = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=wrtest.CLI_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail("concurrent migrate did not finish (deadlock on the advisory lock?)")
        results.append((p.returncode, out, err))
    report = "\n".join(f"#{i}: exit {rc}\nstdout: {out}\nstderr: {wrtest.tail(err, 2000)}"
                       for i, (rc, out, err) in enumerate(results))
    for _, _, err in results:
        wrtest.check_sanitizers("wijkradar migrate", err)
    assert all(rc == 0 for rc, _, _ in results), f"not every migrate succeeded:\n{report}"
    parsed = [MIGRATE_RE.search(out) for _, out, _ in results]
    assert all(parsed), f"a migrate printed no summary:\n{report}"
    expected = sql_versions()
    assert {int(m.group(1)) for m in parsed} == {max(expected)}, report
    assert sum(int(m.group(2)) for m in parsed) == len(expected), (
        f"the runs together applied more or fewer than {len(expected)} migrations:\n{report}")
    versions = [r[0] for r in db.migrations()]
    assert versions == expected, f"schema_migrations holds {versions}\n{report}"


def test_serve_migrates_on_start(db, make_config, daemon):
    d = daemon(make_config())
    expected = sql_versions()
    assert [r[0] for r in db.migrations()] == expected
    r = d.get("/readyz")
    assert r.status == 200, r.describe()
    assert r.json().get("schema_version") == max(expected), r.describe()
    d.stop()


def test_serve_without_migrate_on_start_leaves_schema_alone(db, make_config, daemon, tmp_path):
    config = make_config({"database": {"migrate_on_start": "false"}})
    d = daemon(config, wait=False)
    # Either serve refuses to run on an empty schema, or it runs and reports it is not ready.
    def settled():
        return not d.running() or d.read_port_file()
    wrtest.wait_until("serve to exit or write its port file", settled,
                      timeout=wrtest.START_TIMEOUT_S, describe=d.stderr)
    if d.running():
        d.wait_listening()
        # Until the pool has connected, readiness says database_unavailable; then it must
        # name the real reason.
        last = {}

        def reason_known():
            last["r"] = d.get("/readyz")
            return last["r"].json().get("code") != "database_unavailable"

        wrtest.wait_until("/readyz to report on the schema", reason_known,
                          describe=lambda: last["r"].describe())
        r = last["r"]
        assert r.status == 503, r.describe()
        assert r.json().get("code") == "schema_outdated", r.describe()
        d.stop()
    else:
        assert d.proc.returncode != 0
        assert "schema" in d.stderr(), f"exit message does not mention the schema:\n{d.stderr()}"
    assert not db.table_exists("schema_migrations") or db.migrations() == [], (
        "serve applied migrations although migrate_on_start = false")
    assert not db.table_exists("area")


def test_version_names_schema_version(db, make_config):
    proc = wrtest.run_wr_ok("--version")
    m = re.fullmatch(r"wijkradar ([0-9]+\.[0-9]+\.[0-9]+) \(schema ([0-9]+)\)\n", proc.stdout)
    assert m, f"unexpected --version output {proc.stdout!r}"
    assert m.group(1) == "0.1.0"
    assert int(m.group(2)) == max(sql_versions())
    version, _ = migrate(make_config())
    assert int(m.group(2)) == version
