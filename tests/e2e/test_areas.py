"""The area registry: `wijkradar areas import` and `areas list` against the real CBS file."""

import csv
import re

import pytest

import wrtest

DATA = wrtest.source_root() / "tests" / "data" / "areas"
IMPORTED_RE = re.compile(r"imported ([0-9]+) areas? for year ([0-9]{4})")


@pytest.fixture
def config(db, make_config):
    """A config for a migrated test database."""
    path = make_config()
    wrtest.run_wr_ok("migrate", "--config", path)
    return path


@pytest.fixture
def leeuwarden():
    path = wrtest.source_root() / "deploy" / "data" / "leeuwarden_wijken_2024.csv"
    assert path.is_file(), f"missing the CBS area file {path}"
    return path


def import_ok(config, path, *options):
    """Runs `areas import`, asserts success; returns (count, year) from its summary line."""
    proc = wrtest.run_wr_ok("areas", "import", "--config", config, *options, path)
    m = IMPORTED_RE.search(proc.stdout)
    assert m, f"stdout lacks 'imported N areas for year YYYY'\n{wrtest.describe_run(proc)}"
    return int(m.group(1)), int(m.group(2))


def area_rows(db, year=None):
    """{code: {column: value}} of the area table (for one year if given)."""
    cols = ("code", "year", "kind", "name", "municipality", "population", "centroid_lat",
            "centroid_lon", "neighbours")
    sql = f"SELECT {', '.join(cols)} FROM area"
    rows = db.query(sql + " WHERE year = %s" if year else sql, (year,) if year else None)
    return {r[0]: dict(zip(cols, r)) for r in rows}


def test_import_leeuwarden(db, config, leeuwarden):
    assert import_ok(config, leeuwarden) == (23, 2024)
    rows = area_rows(db)
    with open(leeuwarden, newline="", encoding="utf-8") as f:
        expected = list(csv.DictReader(f))
    assert len(expected) == 23
    assert sorted(rows) == sorted(e["wk_code"] for e in expected)
    for e in expected:
        row = rows[e["wk_code"]]
        want = {"code": e["wk_code"], "year": 2024, "kind": e["wk_code"][:2],
                "name": e["wijk_naam"] or None, "municipality": e["gm_code"],
                "population": int(e["inwoners_2024"]), "centroid_lat": None,
                "centroid_lon": None}
        got = {k: row[k] for k in want}
        assert got == want, f"row {e['wk_code']} differs"
    kinds = [r["kind"] for r in rows.values()]
    assert kinds.count("GM") == 1 and kinds.count("WK") == 22
    # The cases the product brief names.
    assert rows["WK008020"]["name"] == "Oud-Oost" and rows["WK008020"]["population"] == 12410
    assert rows["WK008071"]["name"] is None, "an empty name must be stored as NULL"
    assert rows["WK008074"]["name"] == "Middelsee" and rows["WK008074"]["population"] == 140
    assert rows["GM0080"]["population"] == 128810


def test_reimport_is_idempotent(db, config, leeuwarden):
    import_ok(config, leeuwarden)
    first = area_rows(db)
    assert import_ok(config, leeuwarden) == (23, 2024)
    second = area_rows(db)
    assert second == first
    assert db.scalar("SELECT count(*) FROM area") == 23


def test_reimport_updates_changed_rows(db, config, leeuwarden, tmp_path):
    import_ok(config, leeuwarden)
    changed = tmp_path / "leeuwarden_changed.csv"
    text = leeuwarden.read_text(encoding="utf-8")
    assert "WK008020,GM0080,Oud-Oost,12410," in text
    changed.write_text(text.replace("WK008020,GM0080,Oud-Oost,12410,",
                                    "WK008020,GM0080,Oud-Oost (nieuw),12500,"), encoding="utf-8")
    assert import_ok(config, changed) == (23, 2024)
    rows = area_rows(db)
    assert len(rows) == 23
    assert (rows["WK008020"]["name"], rows["WK008020"]["population"]) == ("Oud-Oost (nieuw)",
                                                                          12500)
    assert rows["WK008010"]["population"] == 6710


def test_year_option_overrides_header_year(db, config, leeuwarden):
    assert import_ok(config, leeuwarden, "--year", "2023") == (23, 2023)
    assert db.query("SELECT year, count(*) FROM area GROUP BY year") == [(2023, 23)]
    # Areas are versioned by year: the same codes for another year are new rows.
    import_ok(config, leeuwarden)
    assert sorted(db.query("SELECT year, count(*) FROM area GROUP BY year")) == [(2023, 23),
                                                                               (2024, 23)]


def test_import_centroids_and_neighbours(db, config):
    assert import_ok(config, DATA / "centroids.csv") == (5, 2023)
    rows = area_rows(db)
    assert sorted(rows) == ["BU00802001", "GM0080", "WK008010", "WK008011", "WK008020"]
    assert all(r["year"] == 2023 for r in rows.values())
    b = rows["WK008010"]
    assert (b["kind"], b["name"], b["municipality"], b["population"]) == ("WK", "Binnenstad",
                                                                          "GM0080", 6710)
    assert b["centroid_lat"] == pytest.approx(53.2030)
    assert b["centroid_lon"] == pytest.approx(5.7930)
    assert sorted(b["neighbours"]) == ["WK008011", "WK008020"]
    assert rows["WK008020"]["neighbours"] == ["WK008010"]
    assert rows["GM0080"]["neighbours"] in (None, [])
    bu = rows["BU00802001"]
    assert (bu["kind"], bu["name"], bu["population"]) == ("BU", "Oud-Oost, Noord", None)
    assert bu["centroid_lat"] == pytest.approx(53.2085)


# (file, line, allowed columns or None, regular expressions the message must also match)
BAD_FILES = [
    ("bad_population.csv", 5, {4}, [r'"inwoners_2024"', r'"abc"']),
    ("bad_code.csv", 4, {1}, [r'"XX123"']),
    ("wrong_municipality.csv", 5, {1, 2}, [r"WK008020|GM0014"]),
    ("duplicate_code.csv", 5, {1}, [r"WK008010"]),
    ("unterminated_quote.csv", 4, {3}, []),
    ("missing_column.csv", 1, None, [r"code"]),
]


@pytest.mark.parametrize("name,line,columns,patterns", BAD_FILES,
                         ids=[b[0].removesuffix(".csv") for b in BAD_FILES])
def test_bad_file_is_rejected_whole(db, config, name, line, columns, patterns):
    path = DATA / name
    codes = [r[0] for r in csv.reader(path.read_text().splitlines()[1:]) if r]
    before = db.scalar("SELECT count(*) FROM area")
    proc = wrtest.run_wr("areas", "import", "--config", config, path)
    assert proc.returncode == 1, f"expected exit status 1\n{wrtest.describe_run(proc)}"
    assert "imported" not in proc.stdout, wrtest.describe_run(proc)
    # Judge the message without the file's path, which could contain any word.
    assert name in proc.stderr, f"message does not name the file\n{wrtest.describe_run(proc)}"
    message = proc.stderr.replace(str(path), "FILE")
    assert re.search(rf"\bline {line}\b", message), (
        f"message does not name line {line}\n{wrtest.describe_run(proc)}")
    if columns:
        m = re.search(r"\bcolumn ([0-9]+)\b", message)
        assert m and int(m.group(1)) in columns, (
            f"message does not name column {sorted(columns)}\n{wrtest.describe_run(proc)}")
    for p in patterns:
        assert re.search(p, message, re.IGNORECASE), (
            f"message does not match {p!r}\n{wrtest.describe_run(proc)}")
    assert db.scalar("SELECT count(*) FROM area") == before, "a rejected file left rows behind"
    assert db.scalar("SELECT count(*) FROM area WHERE code = ANY(%s)", (codes,)) == 0


def test_list_shows_imported_areas(db, config, leeuwarden):
    import_ok(config, leeuwarden)
    proc = wrtest.run_wr_ok("areas", "list", "--config", config, "--year", "2024")
    lines = [ln for ln in proc.stdout.splitlines() if "WK008020" in ln]
    assert len(lines) == 1, f"expected one line for WK008020\n{wrtest.describe_run(proc)}"
    assert "Oud-Oost" in lines[0] and "12410" in lines[0], lines[0]
    wijken = {c for c in re.findall(r"\bWK0080[0-9]{2}\b", proc.stdout)}
    assert len(wijken) == 22, f"expected the 22 wijken\n{wrtest.describe_run(proc)}"
    other = wrtest.run_wr_ok("areas", "list", "--config", config, "--year", "2023")
    assert "WK008020" not in other.stdout, wrtest.describe_run(other)
