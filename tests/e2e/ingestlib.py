"""Shared helpers for the ingestion end-to-end tests (test_ingest*.py).

Batches are written once, in the JSON form of the wire format (proto/codec.h: the proto's
snake_case field names, the kind as a nested object, enums by their proto names), and encoded
either as JSON or, through Google's Python protobuf runtime, as a protobuf SignalBatch. The
Python module for proto/wijkradar.proto is generated with protoc at test time.

Expected database rows and weekly counts are computed here from the batches sent, independently
of the daemon: pseudonyms re-keyed with Python's hmac, weeks turned into their Monday with
datetime.
"""

import atexit
import csv
import datetime
import hashlib
import hmac
import http.client
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from types import SimpleNamespace

import pytest

import wrtest

AREAS_CSV = wrtest.source_root() / "deploy" / "data" / "leeuwarden_wijken_2024.csv"
AREA_YEAR = 2024
TOKEN_RE = re.compile(r"^(wr_[0-9a-f]{64})\n?$")
TOKEN_ID_RE = re.compile(r"created token ([0-9]+)")

PB_TYPE = "application/x-protobuf"
JSON_TYPE = "application/json"

# A week safely inside the accepted range (not in the future, well under 520 weeks old).
PAST_WEEK = "2025-W10"

AGE_BANDS = ["AGE_BAND_0_11", "AGE_BAND_12_17", "AGE_BAND_18_26", "AGE_BAND_27_44",
             "AGE_BAND_45_64", "AGE_BAND_65_74", "AGE_BAND_75_PLUS"]
MODES = ["SERVICE_MODE_INDIVIDUAL", "SERVICE_MODE_ONLINE", "SERVICE_MODE_GROUP"]
PHASES = ["PHASE_INTAKE", "PHASE_INTERMEDIATE", "PHASE_END", "PHASE_FOLLOW_UP"]
EVENTS = ["TRAJECTORY_EVENT_TYPE_OPENED", "TRAJECTORY_EVENT_TYPE_CLOSED"]
THEMES = ["GELD", "WERK", "WONEN", "RELATIES", "OPGROEIEN", "MANTELZORG", "EENZAAM", "MEEDOEN",
          "PSYCHE", "LICHAAM", "MIDDELEN", "ZELFZORG", "VEILIG", "OVERIG"]

# How the daemon stores the enum values (sql/002_signals.sql).
AGE_BAND_NUMBER = {name: i + 1 for i, name in enumerate(AGE_BANDS)}
MODE_TEXT = {"SERVICE_MODE_INDIVIDUAL": "individual", "SERVICE_MODE_ONLINE": "online",
             "SERVICE_MODE_GROUP": "group"}
PHASE_TEXT = {"PHASE_INTAKE": "intake", "PHASE_INTERMEDIATE": "intermediate",
              "PHASE_END": "end", "PHASE_FOLLOW_UP": "follow_up"}
EVENT_TEXT = {"TRAJECTORY_EVENT_TYPE_OPENED": "opened", "TRAJECTORY_EVENT_TYPE_CLOSED": "closed"}
KINDS = ("need", "contact", "outcome", "trajectory_event")
KIND_TEXT = {"need": "need", "contact": "contact", "outcome": "outcome",
             "trajectory_event": "trajectory"}


def wijken():
    """The WK codes of the Leeuwarden area file (year 2024), in file order."""
    with open(AREAS_CSV, newline="", encoding="utf-8") as f:
        return [r["wk_code"] for r in csv.DictReader(f) if r["wk_code"].startswith("WK")]


# --- generated protobuf module ---------------------------------------------------------------

_pb2 = None


def pb2():
    """The module protoc generates from proto/wijkradar.proto (made once per process)."""
    global _pb2
    if _pb2 is not None:
        return _pb2
    protoc = shutil.which("protoc")
    if protoc is None:
        pytest.fail("protoc not found on PATH (Debian package protobuf-compiler)")
    out = tempfile.mkdtemp(prefix="wr-pb2-")
    atexit.register(shutil.rmtree, out, True)
    proto_dir = wrtest.source_root() / "proto"
    proc = subprocess.run([protoc, f"--proto_path={proto_dir}", f"--python_out={out}",
                           "wijkradar.proto"], capture_output=True, text=True,
                          timeout=wrtest.CLI_TIMEOUT_S)
    assert proc.returncode == 0, f"protoc failed\n{wrtest.describe_run(proc)}"
    spec = importlib.util.spec_from_file_location("wijkradar_pb2", f"{out}/wijkradar_pb2.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["wijkradar_pb2"] = module
    spec.loader.exec_module(module)
    _pb2 = module
    return module


def to_message(batch):
    """A SignalBatch message from the JSON form of a batch."""
    from google.protobuf import json_format
    return json_format.ParseDict(batch, pb2().SignalBatch())


def encode(batch, fmt):
    """(body bytes, content type) of a batch in the JSON form, as "protobuf" or "json"."""
    if fmt == "protobuf":
        return to_message(batch).SerializeToString(), PB_TYPE
    assert fmt == "json", fmt
    return json.dumps(batch).encode(), JSON_TYPE


# --- pseudonyms and weeks --------------------------------------------------------------------

def pseudonym_key():
    """The server's secret of the test configuration: the key file minus its final newline."""
    data = (wrtest.source_root() / "tests" / "data" / "test-pseudonym.key").read_bytes()
    assert data.endswith(b"\n"), "test-pseudonym.key should end in a newline"
    return data[:-1]


def subject(label):
    """A source pseudonym as a source system makes it: HMAC-SHA-256 of a client id, hex."""
    return hmac.new(b"source-key-of-the-test-team-system", str(label).encode(),
                    hashlib.sha256).hexdigest()


def rekey(source_hex):
    """What the daemon must store for a source pseudonym: HMAC-SHA-256(server key, bytes)."""
    return hmac.new(pseudonym_key(), bytes.fromhex(source_hex), hashlib.sha256).digest()


def week_text(d):
    """The ISO week "YYYY-Www" of a date."""
    y, w, _ = d.isocalendar()
    return f"{y:04d}-W{w:02d}"


def monday(week):
    """The Monday (a date) of an ISO week "YYYY-Www"."""
    m = re.fullmatch(r"([0-9]{4})-W([0-9]{2})", week)
    assert m, week
    return datetime.date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)


def today_utc():
    return datetime.datetime.now(datetime.timezone.utc).date()


def week_from_now(n):
    """The ISO week n weeks after the current one (UTC, as the daemon reckons)."""
    return week_text(today_utc() + datetime.timedelta(weeks=n))


# --- batches in the JSON form ----------------------------------------------------------------

def signal(signal_id, kind="need", *, team="team-oost", area="WK008020", year=AREA_YEAR,
           week=PAST_WEEK, subj=None, age="AGE_BAND_65_74", trajectory=None, theme="EENZAAM",
           mode="SERVICE_MODE_GROUP", instrument="ZRM", domain="FINANCIEN",
           phase="PHASE_INTAKE", score=3.0, event="TRAJECTORY_EVENT_TYPE_OPENED"):
    """One valid signal in the JSON form; pass None to leave a field out."""
    s = {"signal_id": signal_id, "team": team, "area_code": area, "area_year": year,
         "iso_week": week, "subject": subject(signal_id) if subj is None else subj,
         "age_band": age, "trajectory": trajectory}
    if kind == "trajectory_event" and trajectory is None:
        s["trajectory"] = subject("trajectory-" + signal_id)
    if kind == "need":
        s["need"] = {"theme": theme}
    elif kind == "contact":
        s["contact"] = {"theme": theme, "mode": mode}
    elif kind == "outcome":
        s["outcome"] = {"instrument": instrument, "domain": domain, "phase": phase,
                        "score": score, "theme": theme}
    elif kind == "trajectory_event":
        s["trajectory_event"] = {"type": event, "theme": theme}
    else:
        assert kind is None, kind
    return drop_none(s)


def many_signals(prefix, n, areas=None):
    """n valid signals of every kind with every enum value, several areas, weeks, themes and
    teams; 1 in 3 persons recurs, half of them with a trajectory."""
    areas = areas or wijken()
    first = datetime.date(2025, 1, 6)
    out = []
    for i in range(n):
        kind = KINDS[i % 4] if i % 8 else "need"
        out.append(signal(
            f"{prefix}:{i:05d}", kind, team=f"wijkteam-{i % 3}", area=areas[(i // 3) % len(areas)],
            week=week_text(first + datetime.timedelta(weeks=(i // 5) % 9)),
            subj=subject(f"{prefix}-client-{i // 3 if i % 3 == 0 else i}"),
            age=AGE_BANDS[i % 7], trajectory=subject(f"{prefix}-traj-{i // 7}") if i % 2 else None,
            theme=THEMES[(i // 2) % len(THEMES)], mode=MODES[i % 3],
            domain=["FINANCIEN", "HUISVESTING", "DAGBESTEDING"][i % 3],
            phase=PHASES[(i // 4) % 4], score=float(1 + i % 5), event=EVENTS[(i // 4) % 2]))
    return out


def drop_none(d):
    """d without the keys whose value is None (also inside the kind object)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            v = drop_none(v)
        if v is not None:
            out[k] = v
    return out


def batch(signals, batch_id="batch-1", source="regas", organisation="org-a"):
    return drop_none({"batch_id": batch_id, "source": source, "organisation": organisation,
                      "signals": list(signals)})


def kind_of(s):
    found = [k for k in KINDS if k in s]
    assert len(found) == 1, s
    return found[0]


def expected_row(b, s):
    """The signal table row (SIGNAL_COLUMNS) the daemon must store for signal s of batch b."""
    kind = kind_of(s)
    k = s[kind]
    return {
        "organisation": b["organisation"], "source": b["source"], "signal_id": s["signal_id"],
        "batch_id": b["batch_id"], "team": s["team"], "area_year": s["area_year"],
        "area_code": s["area_code"], "week": monday(s["iso_week"]), "kind": KIND_TEXT[kind],
        "theme": k["theme"], "age_band": AGE_BAND_NUMBER[s["age_band"]],
        "subject": rekey(s["subject"]),
        "trajectory": rekey(s["trajectory"]) if s.get("trajectory") else None,
        "mode": MODE_TEXT[k["mode"]] if kind == "contact" else None,
        "instrument": k["instrument"] if kind == "outcome" else None,
        "domain": k["domain"] if kind == "outcome" else None,
        "phase": PHASE_TEXT[k["phase"]] if kind == "outcome" else None,
        "score": float(k["score"]) if kind == "outcome" else None,
        "event": EVENT_TEXT[k["type"]] if kind == "trajectory_event" else None,
    }


def expected_rows(*batches):
    """{(organisation, source, signal_id): row} for the batches (first use of an id wins)."""
    out = {}
    for b in batches:
        for s in b["signals"]:
            out.setdefault((b["organisation"], b["source"], s["signal_id"]), expected_row(b, s))
    return out


def assert_rows(db, *batches, ignore=()):
    """Asserts that the signal table holds exactly the signals of the batches (columns in
    ignore are not compared)."""
    got, want = signal_rows(db), expected_rows(*batches)
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    assert not missing and not extra, (f"stored signals differ: {len(missing)} missing "
                                       f"{missing[:5]}, {len(extra)} extra {extra[:5]}")
    for key, row in want.items():
        g = {k: v for k, v in got[key].items() if k not in ignore}
        w = {k: v for k, v in row.items() if k not in ignore}
        assert g == w, f"row {key} differs:\n  got  {g}\n  want {w}"


SIGNAL_COLUMNS = ("organisation", "source", "signal_id", "batch_id", "team", "area_year",
                  "area_code", "week", "kind", "theme", "age_band", "subject", "trajectory",
                  "mode", "instrument", "domain", "phase", "score", "event")


def signal_rows(db):
    """{(organisation, source, signal_id): {column: value}} of the whole signal table."""
    rows = db.query(f"SELECT {', '.join(SIGNAL_COLUMNS)} FROM signal")
    out = {}
    for r in rows:
        d = dict(zip(SIGNAL_COLUMNS, r))
        for c in ("subject", "trajectory"):
            if d[c] is not None:
                d[c] = bytes(d[c])
        out[(d["organisation"], d["source"], d["signal_id"])] = d
    return out


def signal_keys(db):
    """[(organisation, source, signal_id)] of every stored signal (with repeats, if any)."""
    return [tuple(r) for r in db.query("SELECT organisation, source, signal_id FROM signal")]


def expected_need_counts(batches):
    """{(organisation, area_year, area_code, theme, week): persons} from the batches sent:
    distinct re-keyed subjects with a need signal, each signal id counted once per source."""
    seen = {}
    for b in batches:
        for s in b["signals"]:
            seen.setdefault((b["organisation"], b["source"], s["signal_id"]), (b, s))
    persons = defaultdict(set)
    for b, s in seen.values():
        if "need" in s:
            key = (b["organisation"], s["area_year"], s["area_code"], s["need"]["theme"],
                   monday(s["iso_week"]))
            persons[key].add(rekey(s["subject"]))
    return {k: len(v) for k, v in persons.items()}


def need_counts(db):
    """need_week_count as {(organisation, area_year, area_code, theme, week): persons}."""
    rows = db.query("SELECT organisation, area_year, area_code, theme, week, persons"
                    " FROM need_week_count")
    return {tuple(r[:5]): r[5] for r in rows}


def need_person_weeks(db):
    """need_week_count recomputed from need_person_week (must agree with it)."""
    rows = db.query("SELECT organisation, area_year, area_code, theme, week, count(*)"
                    " FROM need_person_week GROUP BY 1, 2, 3, 4, 5")
    return {tuple(r[:5]): r[5] for r in rows}


def assert_need_counts(db, batches):
    want = expected_need_counts(batches)
    got = need_counts(db)
    assert got == want, f"need_week_count differs:\n  got  {sorted(got.items())}\n  want " \
                        f"{sorted(want.items())}"
    assert need_person_weeks(db) == want, "need_person_week disagrees with the signals sent"


# --- setup: schema, areas, tokens ------------------------------------------------------------

def prepare(make_config, overrides=None):
    """A config for the test database, migrated, with the Leeuwarden wijken of 2024."""
    cfg = make_config(overrides)
    wrtest.run_wr_ok("migrate", "--config", cfg)
    wrtest.run_wr_ok("areas", "import", "--config", cfg, AREAS_CSV)
    return cfg


def create_token(cfg, role="source", organisation="org-a", source=None):
    """Runs `token create`; returns (token, id)."""
    args = ["token", "create", "--config", cfg, "--role", role, "--organisation", organisation]
    if source is not None:
        args += ["--source", source]
    proc = wrtest.run_wr_ok(*args)
    m = TOKEN_RE.match(proc.stdout)
    assert m, f"stdout is not one wr_ token\n{wrtest.describe_run(proc)}"
    idm = TOKEN_ID_RE.search(proc.stderr)
    assert idm, f"stderr does not name the token id\n{wrtest.describe_run(proc)}"
    return m.group(1), int(idm.group(1))


def setup(db, make_config, daemon, overrides=None):
    """A fresh, migrated database with the Leeuwarden areas, a source token of org-a (any
    source) and a ready daemon: namespace(cfg, d, token, db)."""
    cfg = prepare(make_config, overrides)
    token, _ = create_token(cfg)
    return SimpleNamespace(cfg=cfg, d=serve(daemon, cfg), token=token, db=db)


def serve(daemon, cfg):
    """Starts the daemon on cfg and waits until /readyz answers 200."""
    d = daemon(cfg)
    wrtest.wait_until("/readyz to answer 200", lambda: d.get("/readyz").status == 200,
                      describe=lambda: wrtest.tail(d.stderr()))
    return d


# --- HTTP ------------------------------------------------------------------------------------

def post(d, body, ctype=PB_TYPE, token=None, headers=None, timeout=wrtest.HTTP_TIMEOUT_S):
    """POST /v1/signals; returns a wrtest.Response (fails the test on a transport error)."""
    h = dict(headers or {})
    if ctype is not None:
        h["Content-Type"] = ctype
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    return d.request("POST", "/v1/signals", headers=h, body=body, timeout=timeout)


def upload(d, token, b, fmt="protobuf", **kwargs):
    body, ctype = encode(b, fmt)
    return post(d, body, ctype, token, **kwargs)


def try_post(port, body, ctype, token, timeout):
    """POST /v1/signals on a fresh connection; returns a Response or the transport exception."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/v1/signals", body=body,
                     headers={"Content-Type": ctype, "Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        return wrtest.Response(resp.status, resp.headers, resp.read())
    except (OSError, http.client.HTTPException) as e:
        return e
    finally:
        conn.close()


class Client:
    """One keep-alive HTTP connection to the daemon, for a thread of its own. post() returns a
    wrtest.Response, or the transport exception (the next call then reconnects)."""

    def __init__(self, port, token, timeout=wrtest.HTTP_TIMEOUT_S):
        self.port = port
        self.token = token
        self.timeout = timeout
        self.conn = None

    def post(self, body, ctype=PB_TYPE):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            self.conn.request("POST", "/v1/signals", body=body,
                              headers={"Content-Type": ctype,
                                       "Authorization": f"Bearer {self.token}"})
            resp = self.conn.getresponse()
            r = wrtest.Response(resp.status, resp.headers, resp.read())
            if resp.will_close:
                self.close()
            return r
        except (OSError, http.client.HTTPException) as e:
            self.close()
            return e

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def counter(samples, name, **labels):
    """Sum of the samples of name with these labels (0 when the daemon has none yet)."""
    return sum(wrtest.metric_values(samples, name, **labels))


def assert_reply(r, status, code=None):
    """Asserts the status (and for JSON errors the code); returns the JSON body."""
    assert r.status == status, f"expected HTTP {status}\n{r.describe()}"
    ctype = r.headers.get("Content-Type", "")
    assert ctype.startswith("application/json"), f"Content-Type {ctype!r}\n{r.describe()}"
    body = r.json()
    if code is not None:
        assert body.get("code") == code, f"expected code {code!r}\n{r.describe()}"
    if status >= 400:
        assert isinstance(body.get("error"), str) and body["error"], r.describe()
    return body


def assert_stored(r, b, stored=None):
    """Asserts a 200 reply for batch b: received all, stored (default all), no rejections."""
    body = assert_reply(r, 200)
    n = len(b["signals"])
    stored = n if stored is None else stored
    want = {"batch_id": b["batch_id"], "received": n, "stored": stored,
            "duplicates": n - stored, "rejected": []}
    assert body == want, f"reply differs from {want}\n{r.describe()}"
    return body


def assert_rejected(r, b, expected):
    """Asserts a 422 invalid_signals reply for batch b naming exactly the rejections
    expected: [(index, field)]; returns the body."""
    body = assert_reply(r, 422, "invalid_signals")
    n = len(b["signals"])
    assert body.get("batch_id") == b["batch_id"], r.describe()
    assert body.get("received") == n and body.get("stored") == 0, r.describe()
    assert body.get("rejected_count") == len(expected), r.describe()
    got = [(x.get("index"), x.get("field")) for x in body.get("rejected", [])]
    assert got == list(expected), f"rejections {got}, expected {list(expected)}\n{r.describe()}"
    for x in body["rejected"]:
        assert x.get("signal_id") == b["signals"][x["index"]].get("signal_id", ""), x
        assert isinstance(x.get("reason"), str) and x["reason"], x
    return body


# --- the CSV export of `wijkradar ingest` ----------------------------------------------------

CSV_HEADER = ["signal_id", "team", "area_code", "area_year", "iso_week", "subject", "age_band",
              "trajectory", "kind", "theme", "mode", "instrument", "domain", "phase", "score",
              "event"]
AGE_CSV = {"AGE_BAND_0_11": "0-11", "AGE_BAND_12_17": "12-17", "AGE_BAND_18_26": "18-26",
           "AGE_BAND_27_44": "27-44", "AGE_BAND_45_64": "45-64", "AGE_BAND_65_74": "65-74",
           "AGE_BAND_75_PLUS": "75+"}


def csv_record(s):
    """The CSV record (a list in CSV_HEADER order) of a signal in the JSON form."""
    kind = kind_of(s)
    k = s[kind]
    row = {"signal_id": s["signal_id"], "team": s["team"], "area_code": s["area_code"],
           "area_year": str(s["area_year"]), "iso_week": s["iso_week"],
           "subject": s["subject"], "age_band": AGE_CSV[s["age_band"]],
           "trajectory": s.get("trajectory", ""), "kind": KIND_TEXT[kind], "theme": k["theme"],
           "mode": MODE_TEXT[k["mode"]] if kind == "contact" else "",
           "instrument": k["instrument"] if kind == "outcome" else "",
           "domain": k["domain"] if kind == "outcome" else "",
           "phase": PHASE_TEXT[k["phase"]] if kind == "outcome" else "",
           "score": repr(float(k["score"])) if kind == "outcome" else "",
           "event": EVENT_TEXT[k["type"]] if kind == "trajectory_event" else ""}
    return [row[c] for c in CSV_HEADER]


def write_csv(path, signals, edit=None):
    """Writes signals (JSON form) as a CSV export; returns the path. Record i is on line i + 2.
    edit(i, record) may change a record (a list in CSV_HEADER order) in place."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(CSV_HEADER)
        for i, s in enumerate(signals):
            record = csv_record(s)
            if edit is not None:
                edit(i, record)
            w.writerow(record)
    return path
