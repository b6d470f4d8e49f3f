"""pytest fixtures for the wijkradar end-to-end tests (helpers live in wrtest.py).

- pg: the private cluster of tests/pg-env.sh, with stop(mode)/start() (session-wide);
- db: a fresh database per test, dropped afterwards (the cluster is restarted first if a test
  left it stopped);
- make_config: writes a config file for db, with overrides;
- daemon: starts `wijkradar serve` processes; any still running at the end must exit cleanly.
"""

import uuid

import pytest

import wrtest


@pytest.fixture(scope="session")
def pg():
    cluster = wrtest.PgCluster()
    yield cluster
    cluster.ensure_running()


@pytest.fixture
def db(pg):
    name = "wr_e2e_" + uuid.uuid4().hex[:12]
    wrtest.create_database(pg, name)
    yield wrtest.Database(pg, name)
    wrtest.drop_database(pg, name)


@pytest.fixture
def make_config(tmp_path, db):
    """make_config(overrides=None, extra="", conninfo=None, name="wijkradar.conf") -> Path.

    overrides is {section: {key: value}} over wrtest.default_config (None drops a key); extra is
    raw text appended to the file. Writing the same name again replaces the file (for SIGHUP).
    """
    def make(overrides=None, extra="", conninfo=None, name="wijkradar.conf"):
        path = tmp_path / name
        path.write_text(wrtest.config_text(conninfo or db.conninfo, overrides, extra))
        return path
    return make


@pytest.fixture
def daemon(tmp_path, db):
    """daemon(config_path, env=None, wait=True) -> a started wrtest.Daemon.

    Depends on db so that daemons are stopped before their database is dropped. At teardown a
    daemon still running gets SIGTERM and must exit with status 0.
    """
    started = []

    def start(config_path, env=None, wait=True):
        d = wrtest.Daemon(config_path, tmp_path, name=f"wijkradar{len(started)}", env=env)
        started.append(d)
        return d.start(wait=wait)

    yield start
    problems = []
    for d in started:
        if d.running():
            try:
                d.stop()
            except (Exception, pytest.fail.Exception) as e:
                d.kill()
                problems.append(str(e))
    if problems:
        pytest.fail("at teardown: " + "\n".join(problems))
