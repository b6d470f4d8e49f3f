"""`wijkradar ingest`, the upload client: CSV and protobuf exports sent in batches to a real
daemon, its summary line and exit status, line numbers of rejected records, re-runs with and
without --state, and retries while the database is down.

Spec: `wijkradar ingest --url URL [--batch-size N] [--source S --organisation O]
[--format csv|protobuf] [--state FILE] FILE`, token in $WIJKRADAR_TOKEN; the summary on stdout is
`ingest: FILE: N signals in B batches: S stored, D duplicates, R rejected`; exit 0 when nothing
was rejected, 1 otherwise.
"""

import datetime
import re
import subprocess

import pytest

import ingestlib as il
import wrtest

SUMMARY_RE = re.compile(r"^ingest: (?P<file>.+): (?P<n>[0-9]+) signals in (?P<b>[0-9]+) "
                        r"batches: (?P<s>[0-9]+) stored, (?P<d>[0-9]+) duplicates, "
                        r"(?P<r>[0-9]+) rejected", re.M)
SAMPLE = wrtest.source_root() / "tests" / "data" / "ingest" / "sample.csv"


@pytest.fixture
def env(db, make_config, daemon):
    return il.setup(db, make_config, daemon)


def ingest(env, *args, token=None, url=None):
    """Runs `wijkradar ingest --url URL ARGS...` with the token in WIJKRADAR_TOKEN."""
    extra = {"WIJKRADAR_TOKEN": env.token if token is None else token}
    environ = wrtest.daemon_env(extra, drop=("WIJKRADAR_DATABASE", "WIJKRADAR_TOKEN",
                                             "WIJKRADAR_CONFIG"))
    if token == "":
        del environ["WIJKRADAR_TOKEN"]
    return wrtest.run_wr("ingest", "--url", url or f"http://127.0.0.1:{env.d.port}", *args,
                         env=environ)


def summary(proc, path=None):
    """(N, B, S, D, R) of the summary line on stdout."""
    m = SUMMARY_RE.search(proc.stdout)
    assert m, f"no summary line on stdout\n{wrtest.describe_run(proc)}"
    if path is not None:
        assert m.group("file") == str(path), wrtest.describe_run(proc)
    return tuple(int(m.group(k)) for k in "nbsdr")


def csv_batch(signals, source="regas", organisation="org-a"):
    """The batch the daemon sees for a CSV export (batch ids are the client's)."""
    return il.batch(signals, "from-csv", source, organisation)


def batch_ids(db):
    return {r[0] for r in db.query("SELECT DISTINCT batch_id FROM signal")}


def uploads(env, result="stored"):
    return il.counter(env.d.metrics(), "wijkradar_ingest_batches_total", result=result)


# --- CSV -------------------------------------------------------------------------------------

def test_sample_csv(env):
    """The hand-written sample, with the stored values worked out by hand."""
    proc = ingest(env, "--source", "regas", "--organisation", "org-a", SAMPLE)
    assert proc.returncode == 0, wrtest.describe_run(proc)
    assert summary(proc, SAMPLE) == (8, 1, 8, 0, 0)
    a, b, c = "a1" * 32, "b2" * 32, "c3" * 32
    t, t2 = "d4" * 32, "e5" * 32
    w10, w11, w12 = (datetime.date(2025, 3, 3), datetime.date(2025, 3, 10),
                     datetime.date(2025, 3, 17))
    cols = ("signal_id", "team", "area_year", "area_code", "week", "kind", "theme", "age_band",
            "subject", "trajectory", "mode", "instrument", "domain", "phase", "score", "event")
    k = il.rekey
    want = [
        ("s-001", "wijkteam-oost", 2024, "WK008020", w10, "need", "EENZAAM", 6, k(a), None,
         None, None, None, None, None, None),
        ("s-002", "wijkteam-oost", 2024, "WK008020", w10, "need", "EENZAAM", 7, k(b), None,
         None, None, None, None, None, None),
        ("s-003", "wijkteam-oost", 2024, "WK008020", w10, "need", "EENZAAM", 6, k(a), None,
         None, None, None, None, None, None),
        ("s-004", "wijkteam-oost", 2024, "WK008010", w11, "contact", "GELD", 6, k(a), k(t),
         "online", None, None, None, None, None),
        ("s-005", "wijkteam-noord", 2024, "WK008030", w11, "outcome", "GELD", 7, k(b), k(t2),
         None, "ZRM", "FINANCIEN", "intake", 2.0, None),
        ("s-006", "wijkteam-noord", 2024, "WK008030", w12, "outcome", "GELD", 7, k(b), k(t2),
         None, "ZRM", "FINANCIEN", "end", 4.5, None),
        ("s-007", "wijkteam-noord", 2024, "WK008030", w12, "trajectory", "GELD", 7, k(b), k(t2),
         None, None, None, None, None, "closed"),
        ("s-008", "wijkteam-zuid", 2024, "WK008040", w12, "need", "OPGROEIEN", 1, k(c), None,
         None, None, None, None, None, None),
    ]
    rows = env.db.query(f"SELECT {', '.join(cols)} FROM signal WHERE organisation = 'org-a'"
                        " AND source = 'regas' ORDER BY signal_id")
    got = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows]
    assert got == want
    assert env.db.scalar("SELECT count(*) FROM signal") == 8
    assert il.need_counts(env.db) == {("org-a", 2024, "WK008020", "EENZAAM", w10): 2,
                                      ("org-a", 2024, "WK008040", "OPGROEIEN", w12): 1}


def test_csv_in_batches_and_rerun(env, tmp_path):
    signals = il.many_signals("export", 2500)
    path = il.write_csv(tmp_path / "export-week.csv", signals)
    args = ("--source", "regas", "--organisation", "org-a", "--batch-size", "400", path)

    proc = ingest(env, *args)
    assert proc.returncode == 0, wrtest.describe_run(proc)
    assert summary(proc, path) == (2500, 7, 2500, 0, 0)
    assert "ingest:" in proc.stderr, f"no progress on stderr\n{wrtest.describe_run(proc)}"
    b = csv_batch(signals)
    il.assert_rows(env.db, b, ignore=("batch_id",))
    il.assert_need_counts(env.db, [b])
    ids = batch_ids(env.db)
    assert len(ids) == 7, ids
    sizes = sorted(n for _, n in env.db.query("SELECT batch_id, count(*) FROM signal GROUP BY 1"))
    assert sizes == [100] + [400] * 6
    assert uploads(env) == 7

    # Without --state a re-run sends everything again and stores nothing twice.
    rows, counts = il.signal_rows(env.db), il.need_counts(env.db)
    proc = ingest(env, *args)
    assert proc.returncode == 0, wrtest.describe_run(proc)
    assert summary(proc, path) == (2500, 7, 0, 2500, 0)
    assert il.signal_rows(env.db) == rows
    assert il.need_counts(env.db) == counts


def test_state_file_skips_what_was_acknowledged(env, tmp_path):
    signals = il.many_signals("stateful", 1000)
    path = il.write_csv(tmp_path / "stateful.csv", signals)
    state = tmp_path / "stateful.state"
    args = ("--source", "regas", "--organisation", "org-a", "--batch-size", "300",
            "--state", state, path)
    proc = ingest(env, *args)
    assert proc.returncode == 0, wrtest.describe_run(proc)
    assert summary(proc, path) == (1000, 4, 1000, 0, 0)
    assert state.is_file(), f"no state file {state}\n{wrtest.describe_run(proc)}"
    before = uploads(env) + uploads(env, "rejected")

    proc = ingest(env, *args)
    assert proc.returncode == 0, wrtest.describe_run(proc)
    n, batches, stored, dups, rejected = summary(proc, path)
    assert (n, batches, stored, dups, rejected) == (0, 0, 0, 0, 0), wrtest.describe_run(proc)
    assert uploads(env) + uploads(env, "rejected") == before, "the re-run uploaded again"
    il.assert_rows(env.db, csv_batch(signals), ignore=("batch_id",))


def test_state_file_resumes_after_a_rejected_batch(env, tmp_path):
    """Batch 3 of 5 refers to a theme that does not exist yet: exit 1, the state records the
    first two batches only. Once the theme exists, a re-run with the same state sends
    batches 3 to 5 (3 is stored now, 4 and 5 were stored the first time)."""
    signals = il.many_signals("resume", 500)
    bad = 250                                           # in batch 3 (signals 200..299)
    signals[bad] = il.signal(signals[bad]["signal_id"], "need", theme="NIEUWTHEMA")
    path = il.write_csv(tmp_path / "resume.csv", signals)
    state = tmp_path / "resume.state"
    args = ("--source", "regas", "--organisation", "org-a", "--batch-size", "100",
            "--state", state, path)
    proc = ingest(env, *args)
    assert proc.returncode == 1, wrtest.describe_run(proc)
    n, batches, stored, dups, rejected = summary(proc, path)
    assert (n, batches, stored, dups) == (500, 5, 400, 0), wrtest.describe_run(proc)
    assert rejected >= 1
    assert re.search(rf"line {bad + 2}: need\.theme: ", proc.stderr), wrtest.describe_run(proc)
    stored_ids = {r[0] for r in env.db.query("SELECT signal_id FROM signal")}
    assert stored_ids == {s["signal_id"] for i, s in enumerate(signals) if not 200 <= i < 300}

    env.db.query("INSERT INTO theme (code, label_nl, label_en) VALUES"
                 " ('NIEUWTHEMA', 'Nieuw', 'New')")
    proc = ingest(env, *args)
    assert proc.returncode == 0, wrtest.describe_run(proc)
    assert summary(proc, path) == (300, 3, 100, 200, 0), wrtest.describe_run(proc)
    il.assert_rows(env.db, csv_batch(signals), ignore=("batch_id",))
    il.assert_need_counts(env.db, [csv_batch(signals)])


def test_batch_ids_are_not_reused(env, tmp_path):
    """A batch id is unique per source (proto/wijkradar.proto): a resumed run must not label
    its first batch with the id an earlier run gave to other signals."""
    signals = il.many_signals("ids", 300)
    signals[150] = il.signal(signals[150]["signal_id"], "need", theme="LATERTHEMA")
    path = il.write_csv(tmp_path / "ids.csv", signals)
    state = tmp_path / "ids.state"
    args = ("--source", "regas", "--organisation", "org-a", "--batch-size", "100",
            "--state", state, path)
    assert ingest(env, *args).returncode == 1
    env.db.query("INSERT INTO theme (code, label_nl, label_en) VALUES"
                 " ('LATERTHEMA', 'Later', 'Later')")
    proc = ingest(env, *args)
    assert proc.returncode == 0, wrtest.describe_run(proc)
    il.assert_rows(env.db, csv_batch(signals), ignore=("batch_id",))
    per_batch = dict(env.db.query("SELECT batch_id, count(*) FROM signal GROUP BY 1"))
    assert len(per_batch) == 3 and max(per_batch.values()) == 100, \
        f"signals per batch id: {per_batch}"


def test_csv_with_bom_and_crlf(env, tmp_path):
    """An export as spreadsheet programs write it (UTF-8 byte order mark, CRLF) reads the same."""
    path = tmp_path / "sample-crlf.csv"
    path.write_bytes(b"\xef\xbb\xbf" + SAMPLE.read_bytes().replace(b"\n", b"\r\n"))
    proc = ingest(env, "--source", "regas", "--organisation", "org-a", path)
    assert proc.returncode == 0, wrtest.describe_run(proc)
    assert summary(proc, path) == (8, 1, 8, 0, 0)
    got = dict(env.db.query("SELECT signal_id, event FROM signal"))
    assert sorted(got) == [f"s-00{i}" for i in range(1, 9)]
    assert got["s-007"] == "closed", "the last column lost its value to the CR"


def test_rejected_rows_name_their_lines(env, tmp_path):
    signals = il.many_signals("lines", 300)
    # Record i is on line i + 2. Line 57: an area unknown for its year (the daemon says so);
    # line 190: a GM code; line 251: an age band the client cannot map.
    signals[55] = dict(signals[55], area_code="WK008020", area_year=2023)
    signals[188] = dict(signals[188], area_code="GM0080")

    def edit(i, record):
        if i == 249:
            record[il.CSV_HEADER.index("age_band")] = "66-74"

    path = il.write_csv(tmp_path / "lines.csv", signals, edit)
    assert path.read_text().splitlines()[250].startswith(signals[249]["signal_id"] + ",")

    proc = ingest(env, "--source", "regas", "--organisation", "org-a", "--batch-size", "100",
                  path)
    assert proc.returncode == 1, wrtest.describe_run(proc)
    assert re.search(r"line 57: area_code: .*unrecognized area", proc.stderr), \
        wrtest.describe_run(proc)
    assert re.search(r"line 190: area_code: ", proc.stderr), wrtest.describe_run(proc)
    assert re.search(r"line 251: age_band: ", proc.stderr), wrtest.describe_run(proc)
    n, batches, stored, dups, rejected = summary(proc, path)
    assert rejected >= 3 and stored + dups + rejected >= 299, wrtest.describe_run(proc)
    # Signals of the batches with a rejection are not stored, nor the record the client could
    # not read.
    stored_ids = {r[0] for r in env.db.query("SELECT signal_id FROM signal")}
    assert not stored_ids & {s["signal_id"] for s in signals[:200]}
    assert stored_ids <= {s["signal_id"] for s in signals[200:]}
    assert signals[249]["signal_id"] not in stored_ids


# --- protobuf --------------------------------------------------------------------------------

@pytest.mark.parametrize("name,options", [("export.pb", ()), ("export.bin", ()),
                                          ("export.dat", ("--format", "protobuf"))])
def test_protobuf_file(env, tmp_path, name, options):
    signals = il.many_signals("pbfile", 1200)
    b = il.batch(signals, "whole-file", source="regas-pb", organisation="org-a")
    path = tmp_path / name
    path.write_bytes(il.to_message(b).SerializeToString())
    proc = ingest(env, "--batch-size", "500", *options, path)
    assert proc.returncode == 0, wrtest.describe_run(proc)
    assert summary(proc, path) == (1200, 3, 1200, 0, 0)
    il.assert_rows(env.db, b, ignore=("batch_id",))
    il.assert_need_counts(env.db, [b])
    assert len(batch_ids(env.db)) == 3


def test_protobuf_file_for_another_organisation_fails(env, tmp_path):
    b = il.batch(il.many_signals("pbother", 10), "x", source="regas", organisation="org-b")
    path = tmp_path / "other.pb"
    path.write_bytes(il.to_message(b).SerializeToString())
    proc = ingest(env, path)
    assert proc.returncode != 0, wrtest.describe_run(proc)
    assert "403" in proc.stderr or "may not" in proc.stderr, wrtest.describe_run(proc)
    assert env.db.scalar("SELECT count(*) FROM signal") == 0


def test_not_a_protobuf_file(env, tmp_path):
    path = tmp_path / "broken.pb"
    path.write_bytes(b"\xff" * 40)
    proc = ingest(env, path)
    assert proc.returncode == 1, wrtest.describe_run(proc)
    assert "broken.pb" in proc.stderr, wrtest.describe_run(proc)
    assert uploads(env) == 0


# --- tokens and usage ------------------------------------------------------------------------

def test_missing_token(env):
    proc = ingest(env, "--source", "regas", "--organisation", "org-a", SAMPLE, token="")
    assert proc.returncode != 0, wrtest.describe_run(proc)
    assert "WIJKRADAR_TOKEN" in proc.stderr, wrtest.describe_run(proc)
    assert env.db.scalar("SELECT count(*) FROM signal") == 0


def test_unknown_token(env):
    proc = ingest(env, "--source", "regas", "--organisation", "org-a", SAMPLE,
                  token="wr_" + "5" * 64)
    assert proc.returncode == 1, wrtest.describe_run(proc)
    assert "401" in proc.stderr, wrtest.describe_run(proc)
    assert env.db.scalar("SELECT count(*) FROM signal") == 0


def test_csv_needs_source_and_organisation(env):
    proc = ingest(env, "--organisation", "org-a", SAMPLE)
    assert proc.returncode == 2, wrtest.describe_run(proc)
    assert "--source" in proc.stderr, wrtest.describe_run(proc)


def test_missing_file(env, tmp_path):
    proc = ingest(env, "--source", "regas", "--organisation", "org-a", tmp_path / "nope.csv")
    assert proc.returncode == 1, wrtest.describe_run(proc)
    assert "nope.csv" in proc.stderr, wrtest.describe_run(proc)


# --- retries ---------------------------------------------------------------------------------

def test_retries_while_the_database_is_down(pg, env, tmp_path):
    """503 is retried (after Retry-After): the upload completes once PostgreSQL is back."""
    signals = il.many_signals("retry", 60)
    path = il.write_csv(tmp_path / "retry.csv", signals)
    environ = wrtest.daemon_env({"WIJKRADAR_TOKEN": env.token})
    err = tmp_path / "ingest.stderr"
    pg.stop("fast")
    try:
        with open(err, "wb") as e:
            proc = subprocess.Popen(
                [wrtest.wr_bin(), "ingest", "--url", f"http://127.0.0.1:{env.d.port}",
                 "--source", "regas", "--organisation", "org-a", "--batch-size", "20",
                 str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=e,
                env=environ)
        try:
            wrtest.wait_until("ingest to report a retry",
                              lambda: "retrying" in err.read_text() or proc.poll() is not None,
                              describe=lambda: err.read_text())
            assert proc.poll() is None, f"ingest exited while the database was down:\n" \
                                        f"{err.read_text()}"
        finally:
            pg.start()
        try:
            out, _ = proc.communicate(timeout=wrtest.CLI_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail(f"ingest did not finish\n{err.read_text()}")
    finally:
        pg.ensure_running()
    stderr = err.read_text()
    wrtest.check_sanitizers("wijkradar ingest", stderr)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out.decode()}\n{stderr}"
    m = SUMMARY_RE.search(out.decode())
    assert m and (m.group("n"), m.group("s"), m.group("r")) == ("60", "60", "0"), out
    il.assert_rows(env.db, csv_batch(signals), ignore=("batch_id",))
