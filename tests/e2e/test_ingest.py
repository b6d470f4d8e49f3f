"""Uploads of case signals (POST /v1/signals): what is stored, byte for byte; idempotent
re-sends; all-or-nothing batches; every rejection with the field at fault; limits, content
types, malformed bodies and tokens; the re-keyed pseudonyms; the weekly distinct-person counts;
the ingest metrics.

Rejection cases share one daemon and database (module scope): a rejected batch stores nothing,
and each of those tests asserts that the signal table did not change. Tests that check whole
tables get a fresh database and daemon of their own.
"""

import datetime
import hashlib
import hmac
import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

import ingestlib as il
import wrtest

FORMATS = ["protobuf", "json"]


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture
def start(db, make_config, daemon):
    """start(overrides=None) -> namespace(cfg, d, token, db): a fresh, migrated database with
    the Leeuwarden areas, a source token of org-a (any source) and a ready daemon."""
    return lambda overrides=None: il.setup(db, make_config, daemon, overrides)


@pytest.fixture
def fresh(start):
    return start()


@pytest.fixture(scope="module")
def shared(pg, tmp_path_factory):
    """One daemon and database for the rejection tests, with tokens of several kinds."""
    tmp = tmp_path_factory.mktemp("ingest-shared")
    name = "wr_e2e_" + uuid.uuid4().hex[:12]
    wrtest.create_database(pg, name)
    database = wrtest.Database(pg, name)
    cfg = tmp / "wijkradar.conf"
    cfg.write_text(wrtest.config_text(database.conninfo))
    wrtest.run_wr_ok("migrate", "--config", cfg)
    wrtest.run_wr_ok("areas", "import", "--config", cfg, il.AREAS_CSV)
    tokens = {
        "org-a": il.create_token(cfg)[0],
        "org-a/regas": il.create_token(cfg, source="regas")[0],
        "org-b": il.create_token(cfg, organisation="org-b")[0],
        "teamlead": il.create_token(cfg, role="teamlead")[0],
        "analyst": il.create_token(cfg, role="analyst")[0],
        "admin": il.create_token(cfg, role="admin")[0],
    }
    d = wrtest.Daemon(cfg, tmp, name="wijkradar-shared").start()
    try:
        wrtest.wait_until("/readyz to answer 200", lambda: d.get("/readyz").status == 200,
                          describe=lambda: wrtest.tail(d.stderr()))
        yield SimpleNamespace(cfg=cfg, d=d, db=database, tokens=tokens,
                              token=tokens["org-a"])
        d.stop()
    finally:
        d.kill()
        wrtest.drop_database(pg, name)


class Unchanged:
    """Asserts that the signal and count tables are the same after the block as before."""

    def __init__(self, database):
        self.db = database

    def snapshot(self):
        return (il.signal_rows(self.db), il.need_counts(self.db))

    def __enter__(self):
        self.before = self.snapshot()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            after = self.snapshot()
            added = set(after[0]) - set(self.before[0])
            assert after[0] == self.before[0], f"signal table changed; new rows: {added}"
            assert after[1] == self.before[1], "need_week_count changed"
        return False


class WeekGuard:
    """Skips the test if the ISO week changed while it ran: tests at the week boundary would
    otherwise race the daemon's clock (the reply is then not wrong, only unpredictable)."""

    def __enter__(self):
        self.week = il.week_from_now(0)
        return self

    def __exit__(self, exc_type, exc, tb):
        if il.week_from_now(0) != self.week:
            pytest.skip("the ISO week changed during the test")
        return False


def unique(prefix="s"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def varied_batch(prefix, batch_id="batch-varied", organisation="org-a", source="regas"):
    """40 valid signals of every kind, with every enum value, several areas, weeks, themes,
    subjects (some repeated), with and without trajectories, scores at both ends."""
    areas = il.wijken()
    scores = [1.0, 2.0, 3.0, 4.0, 5.0, 2.5]
    first = datetime.date(2025, 1, 6)
    sigs = []
    for i in range(40):
        week = il.week_text(first + datetime.timedelta(weeks=i % 7))
        if i == 38:
            week = "2020-W53"
        if i == 39:
            week = il.week_from_now(0)
        sigs.append(il.signal(
            f"{prefix}:{i:03d}", il.KINDS[i % 4], team=f"wijkteam-{i % 3}",
            area=areas[i % len(areas)], week=week, subj=il.subject(f"client-{i % 9}"),
            age=il.AGE_BANDS[i % 7], trajectory=il.subject(f"traj-{i % 5}") if i % 2 else None,
            theme=il.THEMES[i % len(il.THEMES)], mode=il.MODES[i % 3],
            domain=["FINANCIEN", "HUISVESTING", "DAGBESTEDING"][i % 3],
            phase=il.PHASES[(i // 4) % 4], score=scores[i % 6], event=il.EVENTS[(i // 4) % 2]))
    return il.batch(sigs, batch_id, source, organisation)


# --- storing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_upload_stores_exact_rows(fresh, fmt):
    with WeekGuard():
        b = varied_batch("regas-2025", batch_id="export-0001")
        assert {il.kind_of(s) for s in b["signals"]} == set(il.KINDS)
        il.assert_stored(il.upload(fresh.d, fresh.token, b, fmt), b)
    il.assert_rows(fresh.db, b)
    il.assert_need_counts(fresh.db, [b])


def test_protobuf_and_json_store_the_same(fresh):
    """The same signals through both decoders give the same rows (other source, same ids)."""
    b_pb = varied_batch("x", batch_id="b-pb", source="via-protobuf")
    b_js = varied_batch("x", batch_id="b-pb", source="via-json")
    il.assert_stored(il.upload(fresh.d, fresh.token, b_pb, "protobuf"), b_pb)
    il.assert_stored(il.upload(fresh.d, fresh.token, b_js, "json"), b_js)
    rows = il.signal_rows(fresh.db)
    assert len(rows) == 80
    for (org, source, sid), row in rows.items():
        if source == "via-protobuf":
            other = dict(rows[(org, "via-json", sid)], source="via-protobuf")
            assert other == row, sid
    il.assert_rows(fresh.db, b_pb, b_js)


def test_content_type_parameters_are_accepted(fresh):
    b1 = il.batch([il.signal("ct-1")], "ct-b1")
    b2 = il.batch([il.signal("ct-2")], "ct-b2")
    b3 = il.batch([il.signal("ct-3")], "ct-b3")
    body, _ = il.encode(b1, "json")
    il.assert_stored(il.post(fresh.d, body, "application/json; charset=utf-8", fresh.token), b1)
    body, _ = il.encode(b2, "protobuf")
    il.assert_stored(il.post(fresh.d, body, "application/protobuf", fresh.token), b2)
    body, _ = il.encode(b3, "protobuf")
    il.assert_stored(il.post(fresh.d, body, "Application/X-Protobuf; proto=wijkradar.v1",
                             fresh.token), b3)
    il.assert_rows(fresh.db, b1, b2, b3)


@pytest.mark.parametrize("fmt", FORMATS)
def test_resend_is_idempotent(fresh, fmt):
    b = varied_batch("idem", batch_id="first")
    il.assert_stored(il.upload(fresh.d, fresh.token, b, fmt), b)
    rows = il.signal_rows(fresh.db)
    received = dict(fresh.db.query("SELECT signal_id, received_at FROM signal"))
    counts = il.need_counts(fresh.db)

    # The same batch again, in both encodings: all duplicates, nothing changes.
    for f in FORMATS:
        il.assert_stored(il.upload(fresh.d, fresh.token, b, f), b, stored=0)
    # Same ids under another batch id with changed contents: still duplicates; the first
    # version stays (the signal id is the idempotency key, per organisation and source).
    changed = il.batch([dict(s, team="ander-team") for s in b["signals"]], "second")
    il.assert_stored(il.upload(fresh.d, fresh.token, changed, fmt), changed, stored=0)
    assert il.signal_rows(fresh.db) == rows
    assert dict(fresh.db.query("SELECT signal_id, received_at FROM signal")) == received
    assert il.need_counts(fresh.db) == counts

    # Half old, half new: only the new ones are stored.
    new = [il.signal(f"idem-new:{i}", subj=il.subject(f"new-client-{i}")) for i in range(10)]
    mixed = il.batch(b["signals"][:10] + new, "third")
    il.assert_stored(il.upload(fresh.d, fresh.token, mixed, fmt), mixed, stored=10)
    il.assert_rows(fresh.db, b, il.batch(new, "third"))
    il.assert_need_counts(fresh.db, [b, mixed])


def test_signal_ids_are_per_organisation_and_source(start):
    env = start()
    token_b, _ = il.create_token(env.cfg, organisation="org-b")
    sigs = [il.signal("same-id-1"), il.signal("same-id-2", "contact")]
    batches = [il.batch(sigs, "b", "regas", "org-a"), il.batch(sigs, "b", "other", "org-a")]
    for b in batches:
        il.assert_stored(il.upload(env.d, env.token, b), b)
    b_org = il.batch(sigs, "b", "regas", "org-b")
    il.assert_stored(il.upload(env.d, token_b, b_org), b_org)
    il.assert_rows(env.db, *batches, b_org)
    il.assert_need_counts(env.db, batches + [b_org])


# --- all or nothing --------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("bad,field", [
    ({"area_year": 2023}, "area_code"),        # found by the database check
    ({"iso_week": "2026-14"}, "iso_week"),     # found before the database is asked
])
def test_one_bad_signal_rejects_the_whole_batch(fresh, fmt, bad, field):
    sigs = [il.signal(f"atom-{i}", il.KINDS[i % 4]) for i in range(7)]
    sigs[4] = dict(sigs[4], **bad)
    b = il.batch(sigs, "atomic")
    body = il.assert_rejected(il.upload(fresh.d, fresh.token, b, fmt), b, [(4, field)])
    assert body["rejected"][0]["signal_id"] == "atom-4"
    assert fresh.db.scalar("SELECT count(*) FROM signal") == 0
    assert fresh.db.scalar("SELECT count(*) FROM need_person_week") == 0
    assert fresh.db.scalar("SELECT count(*) FROM need_week_count") == 0
    # Corrected, the same batch is stored whole.
    sigs[4] = il.signal("atom-4", il.KINDS[0])
    b = il.batch(sigs, "atomic")
    il.assert_stored(il.upload(fresh.d, fresh.token, b, fmt), b)
    il.assert_rows(fresh.db, b)


def test_every_invalid_signal_is_listed(shared):
    """A batch with problems of both kinds (format and references) lists all of them, so a
    source can correct everything before it sends the batch again."""
    sigs = [il.signal(unique()) for _ in range(5)]
    sigs[1]["iso_week"] = "2026-W54"          # format
    sigs[3]["area_code"] = "WK009999"         # no such area
    b = il.batch(sigs, "both-kinds")
    with Unchanged(shared.db):
        il.assert_rejected(il.upload(shared.d, shared.token, b), b,
                           [(1, "iso_week"), (3, "area_code")])


# --- rejections, one per case ----------------------------------------------------------------

def set_kind(kind, **fields):
    """A mutation that makes the signal of `kind` with these kind fields (None drops one)."""
    def mutate(s):
        s = il.signal(s["signal_id"], kind)
        s[kind] = il.drop_none(dict(s[kind], **fields))
        return s
    return mutate


def set_fields(**fields):
    def mutate(s):
        return il.drop_none(dict(s, **fields))
    return mutate


def no_kind(s):
    return {k: v for k, v in s.items() if k not in il.KINDS}


BSN = "111222333"      # passes the eleven-test: 9+8+7+12+10+8+9+6-3 = 66 = 6 * 11
EMAIL = "j.jansen@example.nl"
PHONE = "0612345678"
DATE = "12-05-1980"
FREE_TEXT = "mevrouw heeft schulden"

# (id, mutation of the middle signal of a batch of three, field expected, formats)
REJECTIONS = [
    ("area-unknown-for-year", set_fields(area_year=2023), "area_code", FORMATS),
    ("area-unknown", set_fields(area_code="WK009999"), "area_code", FORMATS),
    ("area-gemeente", set_fields(area_code="GM0080"), "area_code", FORMATS),
    ("area-not-a-code", set_fields(area_code="Oud-Oost"), "area_code", FORMATS),
    ("area-missing", set_fields(area_code=None), "area_code", FORMATS),
    ("area-year-missing", set_fields(area_year=None), "area_year", FORMATS),
    ("need-theme-unknown", set_kind("need", theme="ONBEKEND"), "need.theme", FORMATS),
    ("need-theme-jongeren", set_kind("need", theme="JONGEREN"), "need.theme", FORMATS),
    ("contact-theme-unknown", set_kind("contact", theme="ONBEKEND"), "contact.theme", FORMATS),
    ("outcome-theme-unknown", set_kind("outcome", theme="ONBEKEND"), "outcome.theme", FORMATS),
    ("event-theme-unknown", set_kind("trajectory_event", theme="X1"), "trajectory_event.theme",
     FORMATS),
    ("week-future", lambda s: dict(s, iso_week=il.week_from_now(1)), "iso_week", FORMATS),
    ("week-far-future", set_fields(iso_week="2099-W01"), "iso_week", FORMATS),
    ("week-too-old", lambda s: dict(s, iso_week=il.week_from_now(-521)), "iso_week", FORMATS),
    ("week-no-w", set_fields(iso_week="2026-14"), "iso_week", FORMATS),
    ("week-54", set_fields(iso_week="2026-W54"), "iso_week", FORMATS),
    ("week-00", set_fields(iso_week="2025-W00"), "iso_week", FORMATS),
    ("week-53-of-52-week-year", set_fields(iso_week="2021-W53"), "iso_week", FORMATS),
    ("week-a-date", set_fields(iso_week="2025-03-03"), "iso_week", FORMATS),
    ("week-missing", set_fields(iso_week=None), "iso_week", FORMATS),
    ("score-0", set_kind("outcome", score=0.0), "outcome.score", FORMATS),
    ("score-below-1", set_kind("outcome", score=0.5), "outcome.score", FORMATS),
    ("score-above-5", set_kind("outcome", score=5.5), "outcome.score", FORMATS),
    ("score-6", set_kind("outcome", score=6), "outcome.score", FORMATS),
    ("score-negative", set_kind("outcome", score=-3), "outcome.score", FORMATS),
    ("score-nan", set_kind("outcome", score="NaN"), "outcome.score", ["protobuf"]),
    ("score-infinite", set_kind("outcome", score="Infinity"), "outcome.score", ["protobuf"]),
    ("instrument-unknown", set_kind("outcome", instrument="SDQ"), "outcome.instrument", FORMATS),
    ("need-theme-missing", set_kind("need", theme=None), "need.theme", FORMATS),
    ("contact-theme-missing", set_kind("contact", theme=None), "contact.theme", FORMATS),
    ("contact-mode-missing", set_kind("contact", mode=None), "contact.mode", FORMATS),
    ("outcome-theme-missing", set_kind("outcome", theme=None), "outcome.theme", FORMATS),
    ("outcome-instrument-missing", set_kind("outcome", instrument=None), "outcome.instrument",
     FORMATS),
    ("outcome-domain-missing", set_kind("outcome", domain=None), "outcome.domain", FORMATS),
    ("outcome-phase-missing", set_kind("outcome", phase=None), "outcome.phase", FORMATS),
    ("event-type-missing", set_kind("trajectory_event", type=None), "trajectory_event.type",
     FORMATS),
    ("event-theme-missing", set_kind("trajectory_event", theme=None), "trajectory_event.theme",
     FORMATS),
    ("event-without-trajectory", lambda s: {k: v for k, v in set_kind("trajectory_event")(
        s).items() if k != "trajectory"}, "trajectory", FORMATS),
    ("subject-missing", set_fields(subject=None), "subject", FORMATS),
    ("subject-upper-case", lambda s: dict(s, subject=s["subject"].upper()), "subject", FORMATS),
    ("subject-short", lambda s: dict(s, subject=s["subject"][:63]), "subject", FORMATS),
    ("subject-a-bsn", set_fields(subject=BSN), "subject", FORMATS),
    ("trajectory-malformed", set_fields(trajectory="abc"), "trajectory", FORMATS),
    ("team-missing", set_fields(team=None), "team", FORMATS),
    ("signal-id-missing", set_fields(signal_id=None), "signal_id", FORMATS),
    ("age-band-missing", set_fields(age_band=None), "age_band", FORMATS),
    ("age-band-unspecified", set_fields(age_band="AGE_BAND_UNSPECIFIED"), "age_band", FORMATS),
    ("no-kind", no_kind, "kind", FORMATS),
    ("team-bsn", set_fields(team=BSN), "team", FORMATS),
    ("signal-id-bsn", set_fields(signal_id=BSN), "signal_id", FORMATS),
    ("team-bsn-8-digits", set_fields(team="12345672"), "team", FORMATS),  # 112 - 2 = 110
    ("team-email", set_fields(team=EMAIL), "team", FORMATS),
    ("signal-id-email", set_fields(signal_id=EMAIL), "signal_id", FORMATS),
    ("team-phone", set_fields(team=PHONE), "team", FORMATS),
    ("team-phone-international", set_fields(team="+31612345678"), "team", FORMATS),
    ("signal-id-date", set_fields(signal_id=DATE), "signal_id", FORMATS),
    ("team-iso-date", set_fields(team="1980-05-12"), "team", FORMATS),
    ("team-free-text", set_fields(team=FREE_TEXT), "team", FORMATS),
    ("signal-id-free-text", set_fields(signal_id=FREE_TEXT), "signal_id", FORMATS),
    ("theme-bsn", set_kind("need", theme=BSN), "need.theme", FORMATS),
    ("domain-date", set_kind("outcome", domain=DATE), "outcome.domain", FORMATS),
    ("domain-free-text", set_kind("outcome", domain="woont alleen"), "outcome.domain", FORMATS),
    ("area-year-1900", set_fields(area_year=1900), "area_year", FORMATS),
    ("area-year-9999", set_fields(area_year=9999), "area_year", FORMATS),
    ("signal-id-too-long", set_fields(signal_id="s" * 65), "signal_id", FORMATS),
    ("team-too-long", set_fields(team="t" * 65), "team", FORMATS),
    ("team-not-ascii", set_fields(team="tëam-oost"), "team", FORMATS),
    ("team-starts-with-dash", set_fields(team="-oost"), "team", FORMATS),
    ("team-bad-characters", set_fields(team="team/oost"), "team", FORMATS),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("mutate,field,formats", [pytest.param(m, f, fs, id=i)
                                                  for i, m, f, fs in REJECTIONS])
def test_rejection(shared, fmt, mutate, field, formats):
    if fmt not in formats:
        pytest.skip(f"not expressible in {fmt}")
    with WeekGuard():
        sigs = [il.signal(unique(), k) for k in ("need", "contact", "outcome")]
        sigs[1] = mutate(sigs[1])
        b = il.batch(sigs, unique("batch"))
        with Unchanged(shared.db):
            il.assert_rejected(il.upload(shared.d, shared.token, b, fmt), b, [(1, field)])


@pytest.mark.parametrize("fmt", FORMATS)
def test_repeated_signal_id_in_one_batch(shared, fmt):
    a, b_, c = unique(), unique(), unique()
    sigs = [il.signal(a), il.signal(b_, "contact"), il.signal(c), il.signal(a, "outcome"),
            il.signal(b_)]
    b = il.batch(sigs, unique("batch"))
    with Unchanged(shared.db):
        il.assert_rejected(il.upload(shared.d, shared.token, b, fmt), b,
                           [(3, "signal_id"), (4, "signal_id")])


def test_identifying_values_stay_out_of_the_log(shared):
    """Rejected identifying values are not written to the daemon's log."""
    values = [BSN, EMAIL, PHONE, DATE, FREE_TEXT]
    for v in values:
        b = il.batch([il.signal(unique()), il.signal(unique(), team=v)], unique("batch"))
        il.assert_rejected(il.upload(shared.d, shared.token, b), b, [(1, "team")])
    log = shared.d.stderr()
    leaked = [v for v in values if v in log]
    assert not leaked, f"the daemon log holds {leaked}:\n{wrtest.tail(log)}"


def test_accepted_edges(shared):
    """The edges of the accepted ranges: this week, 520 weeks back, week 53 of a long year,
    scores 1 and 5, an 8-digit id that fails the eleven-test, codes of 64 characters."""
    with WeekGuard():
        sigs = [
            il.signal(unique(), week=il.week_from_now(0)),
            il.signal(unique(), week=il.week_from_now(-520)),
            il.signal(unique(), week="2020-W53"),
            il.signal(unique(), "outcome", score=1),
            il.signal(unique(), "outcome", score=5),
            il.signal("11122234", "contact"),          # not a BSN (fails the eleven-test)
            il.signal(unique(), team="t" * 64),
            il.signal("regas:2025.W10_x-1", "trajectory_event"),
        ]
        b = il.batch(sigs, unique("batch"), source=unique("src"))
        il.assert_stored(il.upload(shared.d, shared.token, b), b)
    rows = il.signal_rows(shared.db)
    for key, row in il.expected_rows(b).items():
        assert rows.get(key) == row, key


# --- batch-level fields ----------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("field,value", [("source", None), ("source", ""),
                                         ("source", EMAIL), ("source", FREE_TEXT),
                                         ("organisation", None), ("batch_id", None),
                                         ("batch_id", BSN)])
def test_invalid_batch_fields(shared, fmt, field, value):
    b = il.batch([il.signal(unique())], unique("batch"))
    if value is None:
        del b[field]
    else:
        b[field] = value
    with Unchanged(shared.db):
        body = il.assert_reply(il.upload(shared.d, shared.token, b, fmt), 422, "invalid_batch")
    assert field in body["error"], body


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_batch(shared, fmt):
    b = il.batch([], unique("batch"))
    with Unchanged(shared.db):
        il.assert_reply(il.upload(shared.d, shared.token, b, fmt), 422, "empty_batch")


# --- limits, content types, malformed bodies -------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_too_many_signals(start, fmt):
    env = start({"ingest": {"max_signals_per_batch": "5"}})
    b = il.batch([il.signal(f"many-{i}") for i in range(6)], "six")
    il.assert_reply(il.upload(env.d, env.token, b, fmt), 413, "too_many_signals")
    assert env.db.scalar("SELECT count(*) FROM signal") == 0
    ok = il.batch(b["signals"][:5], "five")
    il.assert_stored(il.upload(env.d, env.token, ok, fmt), ok)
    il.assert_rows(env.db, ok)


def test_max_age_weeks_is_configurable(start):
    env = start({"ingest": {"max_age_weeks": "4"}})
    with WeekGuard():
        ok = il.batch([il.signal("age-ok", week=il.week_from_now(-4))], "ok")
        il.assert_stored(il.upload(env.d, env.token, ok), ok)
        old = il.batch([il.signal("age-old", week=il.week_from_now(-5))], "old")
        il.assert_rejected(il.upload(env.d, env.token, old), old, [(0, "iso_week")])
    il.assert_rows(env.db, ok)


def test_body_over_max_body_bytes(start):
    env = start({"http": {"max_body_bytes": "1024"}})
    small = il.batch([il.signal("small-1")], "small")
    body, ctype = il.encode(small, "json")
    assert len(body) < 1024
    il.assert_stored(il.post(env.d, body, ctype, env.token), small)
    big = il.batch([il.signal(f"big-{i}") for i in range(12)], "big")
    for fmt in FORMATS:
        body, ctype = il.encode(big, fmt)
        assert len(body) > 1024
        r = il.post(env.d, body, ctype, env.token)
        assert r.status == 413, r.describe()
    il.assert_rows(env.db, small)


@pytest.mark.parametrize("ctype", [None, "text/plain", "application/xml",
                                   "application/x-www-form-urlencoded", "application/jsonx",
                                   "multipart/form-data; boundary=x"])
def test_unsupported_content_type(shared, ctype):
    body, _ = il.encode(il.batch([il.signal(unique())], unique("batch")), "json")
    with Unchanged(shared.db):
        r = il.post(shared.d, body, ctype, shared.token)
        il.assert_reply(r, 415, "unsupported_media_type")


def pb_batch_prefix():
    """A valid protobuf batch, to be cut or corrupted."""
    return il.encode(il.batch([il.signal("pb-1"), il.signal("pb-2")], "pb"), "protobuf")[0]


MALFORMED_PROTOBUF = [
    ("varint-never-ends", b"\xff" * 12),
    ("truncated", pb_batch_prefix()[:-5]),
    ("length-past-end", b"\x0a\xff\xff\xff\x0f" + b"x" * 10),
    ("signal-length-past-end", b"\x22\x05\x0a\x03ab"),
    ("signals-as-varint", b"\x20\x01"),
    ("signal-id-as-varint", b"\x22\x02\x08\x01"),
    ("group-tag", b"\x0b\x0c"),
    ("field-number-0", b"\x02\x01a"),
    ("enum-age-band-out-of-range", b"\x22\x02\x38\x63"),
]


@pytest.mark.parametrize("body", [pytest.param(b, id=i) for i, b in MALFORMED_PROTOBUF])
def test_malformed_protobuf(shared, body):
    with Unchanged(shared.db):
        r = il.post(shared.d, body, il.PB_TYPE, shared.token)
        il.assert_reply(r, 400, "malformed_batch")


@pytest.mark.parametrize("where", ["signal_id", "team", "area_code", "subject", "theme",
                                   "batch_id", "source"])
def test_protobuf_string_with_nul_is_refused(shared, where):
    """A NUL byte inside a protobuf string must not cut the value short: "ab\\0cd" is not the
    code "ab". The batch is refused (400, or 422 naming the field) and nothing is stored."""
    b = il.batch([il.signal(unique()), il.signal(unique())], unique("batch"))
    m = il.to_message(b)
    for sig in m.signals:
        if where == "theme":
            sig.need.theme = "EENZAAM\x00" + unique()
        elif where in ("batch_id", "source"):
            setattr(m, where, getattr(m, where) + "\x00" + unique())
        else:
            setattr(sig, where, getattr(sig, where) + "\x00" + unique())
    with Unchanged(shared.db):
        r = il.post(shared.d, m.SerializeToString(), il.PB_TYPE, shared.token)
        assert r.status in (400, 422), r.describe()
        body = r.json()
        if r.status == 400:
            assert body.get("code") == "malformed_batch", r.describe()
        elif where in ("batch_id", "source"):
            assert body.get("code") == "invalid_batch", r.describe()
        else:
            field = "need.theme" if where == "theme" else where
            il.assert_rejected(r, b, [(0, field), (1, field)])


def test_json_string_with_nul_is_refused(shared):
    b = il.batch([il.signal(unique(), team="team\x00oost")], unique("batch"))
    with Unchanged(shared.db):
        r = il.post(shared.d, json.dumps(b).encode(), il.JSON_TYPE, shared.token)
        assert r.status in (400, 422), r.describe()


def good_json(**top):
    """A valid JSON batch as a dict, to be spoiled."""
    return il.batch([il.signal(unique())], unique("batch"), **top)


def spoil_signal(**fields):
    b = good_json()
    b["signals"][0].update(fields)
    return json.dumps(b).encode()


MALFORMED_JSON = [
    ("empty-body", b""),
    ("not-json", b"{\"batch_id\": "),
    ("trailing-garbage", json.dumps(good_json()).encode() + b" x"),
    ("array", b"[]"),
    ("string", b"\"batch\""),
    ("signals-not-array", json.dumps(dict(good_json(), signals={})).encode()),
    ("signal-not-object", json.dumps(dict(good_json(), signals=["s"])).encode()),
    ("unknown-top-field", json.dumps(dict(good_json(), extra="x")).encode()),
    ("unknown-signal-field", spoil_signal(name="Jan")),
    ("unknown-signal-field-birth-date", spoil_signal(birth_date="1980-05-12")),
    ("unknown-kind-field", spoil_signal(need={"theme": "GELD", "note": "x"})),
    ("two-kinds", spoil_signal(contact={"theme": "GELD", "mode": "SERVICE_MODE_GROUP"})),
    ("kind-not-object", spoil_signal(need="GELD")),
    ("area-year-string", spoil_signal(area_year="2024")),
    ("area-year-float", spoil_signal(area_year=2024.5)),
    ("age-band-unknown-name", spoil_signal(age_band="AGE_BAND_99")),
    ("age-band-number", spoil_signal(age_band=6)),
    ("team-number", spoil_signal(team=7)),
    ("team-null", spoil_signal(team=None)),
    ("batch-id-number", json.dumps(dict(good_json(), batch_id=12)).encode()),
    ("duplicate-key", b'{"batch_id": "a", "batch_id": "b", "source": "regas", '
                      b'"organisation": "org-a", "signals": []}'),
    ("score-string", json.dumps(il.batch([il.signal("s", "outcome", score="3")],
                                         "b")).encode()),
]


@pytest.mark.parametrize("body", [pytest.param(b, id=i) for i, b in MALFORMED_JSON])
def test_malformed_json(shared, body):
    with Unchanged(shared.db):
        r = il.post(shared.d, body, il.JSON_TYPE, shared.token)
        il.assert_reply(r, 400, "malformed_batch")


def test_wrong_method(shared):
    r = shared.d.request("GET", "/v1/signals")
    il.assert_reply(r, 405, "method_not_allowed")


# --- tokens ----------------------------------------------------------------------------------

def assert_unauthorized(r):
    il.assert_reply(r, 401, "unauthorized")
    www = r.headers.get("WWW-Authenticate", "")
    assert www.startswith("Bearer"), f"WWW-Authenticate {www!r}\n{r.describe()}"


@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "Bearer garbage", "Basic d3I6d3I=",
    "Bearer wr_" + "0" * 64,                        # well-formed, unknown
    "Bearer wr_" + "A" * 64,                        # upper-case hex
    "Bearer wr_" + "0" * 63,
])
def test_bad_token_is_401(shared, header):
    body, ctype = il.encode(il.batch([il.signal(unique())], unique("batch")), "protobuf")
    headers = {"Content-Type": ctype}
    if header is not None:
        headers["Authorization"] = header
    with Unchanged(shared.db):
        assert_unauthorized(shared.d.request("POST", "/v1/signals", headers=headers, body=body))


def test_revoked_and_expired_tokens_are_401(shared):
    token, tid = il.create_token(shared.cfg)
    b1 = il.batch([il.signal(unique())], unique("batch"))
    il.assert_stored(il.upload(shared.d, token, b1), b1)
    proc = wrtest.run_wr_ok("token", "revoke", "--config", shared.cfg, tid)
    listing = wrtest.run_wr_ok("token", "list", "--config", shared.cfg).stdout
    assert any(line.split()[:1] == [str(tid)] and "revoked" in line
               for line in listing.splitlines()), f"{wrtest.describe_run(proc)}\n{listing}"
    b2 = il.batch([il.signal(unique())], unique("batch"))
    with Unchanged(shared.db):
        assert_unauthorized(il.upload(shared.d, token, b2))

    token, tid = il.create_token(shared.cfg)
    shared.db.query("UPDATE api_token SET expires_at = now() - interval '1 second'"
                    " WHERE id = %s", (tid,))
    with Unchanged(shared.db):
        assert_unauthorized(il.upload(shared.d, token, b2))


@pytest.mark.parametrize("token,organisation,source", [
    ("org-a", "org-b", "regas"),            # another organisation
    ("org-b", "org-a", "regas"),
    ("org-a/regas", "org-a", "other"),      # a source-bound token, another source
    ("org-a/regas", "org-b", "regas"),
    ("admin", "org-b", "regas"),            # admins too write only their organisation
    ("teamlead", "org-a", "regas"),         # roles that may not upload
    ("analyst", "org-a", "regas"),
])
def test_forbidden(shared, token, organisation, source):
    b = il.batch([il.signal(unique())], unique("batch"), source, organisation)
    with Unchanged(shared.db):
        il.assert_reply(il.upload(shared.d, shared.tokens[token], b), 403, "forbidden")


@pytest.mark.parametrize("token,organisation,source", [
    ("org-a/regas", "org-a", "regas"),
    ("org-b", "org-b", "regas"),
    ("admin", "org-a", "beheer"),
])
def test_allowed(shared, token, organisation, source):
    b = il.batch([il.signal(unique())], unique("batch"), source, organisation)
    il.assert_stored(il.upload(shared.d, shared.tokens[token], b), b)
    rows = il.signal_rows(shared.db)
    for key, row in il.expected_rows(b).items():
        assert rows.get(key) == row, key


# --- pseudonyms ------------------------------------------------------------------------------

def test_pseudonyms_are_rekeyed(fresh):
    subjects = [il.subject(f"client-{i}") for i in range(4)]
    trajectories = [il.subject(f"traject-{i}") for i in range(2)]
    sigs = [il.signal(f"pseudo-{i}", il.KINDS[i % 4], subj=subjects[i % 4],
                      trajectory=trajectories[i % 2]) for i in range(12)]
    # A fixed case, worked out independently of ingestlib: HMAC-SHA-256 keyed with the key
    # file's text (64 hex characters, used as they are) over the 32 bytes of the subject.
    fixed = "00" * 31 + "01"
    sigs.append(il.signal("pseudo-fixed", subj=fixed))
    b = il.batch(sigs, "pseudo")
    il.assert_stored(il.upload(fresh.d, fresh.token, b), b)

    rows = il.signal_rows(fresh.db)
    for s in sigs:
        row = rows[("org-a", "regas", s["signal_id"])]
        assert row["subject"] == il.rekey(s["subject"]), s["signal_id"]
        assert row["trajectory"] == (il.rekey(s["trajectory"]) if "trajectory" in s else None)
        assert row["subject"] != bytes.fromhex(s["subject"])
    key = (wrtest.source_root() / "tests" / "data" / "test-pseudonym.key").read_text().rstrip("\n")
    want = hmac.new(key.encode(), bytes.fromhex(fixed), hashlib.sha256).digest()
    assert rows[("org-a", "regas", "pseudo-fixed")]["subject"] == want
    # One person, one stored pseudonym; different persons, different ones.
    assert len({r["subject"] for r in rows.values()}) == 5
    # The source pseudonyms appear nowhere in the database or the log, in hex or as bytes.
    for h in subjects + trajectories + [fixed]:
        n = fresh.db.scalar("SELECT count(*) FROM signal s WHERE s::text LIKE %s"
                            " OR subject = decode(%s, 'hex') OR trajectory = decode(%s, 'hex')",
                            (f"%{h}%", h, h))
        assert n == 0, f"source pseudonym {h} stored"
        n = fresh.db.scalar("SELECT count(*) FROM need_person_week WHERE subject = decode(%s, "
                            "'hex')", (h,))
        assert n == 0
        assert h not in fresh.d.stderr()
    # need_person_week holds the re-keyed subjects of the need signals.
    got = {bytes(r[0]) for r in fresh.db.query("SELECT subject FROM need_person_week")}
    assert got == {il.rekey(s["subject"]) for s in sigs if "need" in s}


def test_pseudonym_key_from_environment(db, make_config, daemon):
    """WIJKRADAR_PSEUDONYM_KEY takes precedence over the key file."""
    cfg = il.prepare(make_config)
    token, _ = il.create_token(cfg)
    env_key = "an-other-server-secret-of-at-least-32-bytes-long"
    d = daemon(cfg, env=wrtest.daemon_env({"WIJKRADAR_PSEUDONYM_KEY": env_key}))
    wrtest.wait_until("/readyz to answer 200", lambda: d.get("/readyz").status == 200)
    s = il.signal("env-key-1")
    b = il.batch([s], "env-key")
    il.assert_stored(il.upload(d, token, b), b)
    want = hmac.new(env_key.encode(), bytes.fromhex(s["subject"]), hashlib.sha256).digest()
    assert bytes(db.scalar("SELECT subject FROM signal")) == want


# --- weekly distinct-person counts -----------------------------------------------------------

def test_weekly_person_counts_are_exact(start):
    env = start()
    token_b, _ = il.create_token(env.cfg, organisation="org-b")
    p = {i: il.subject(f"person-{i}") for i in range(1, 7)}
    w1, w2 = "2025-W10", "2025-W11"
    n = iter(range(1000))

    def need(person, week=w1, area="WK008020", theme="EENZAAM", kind="need"):
        return il.signal(f"cnt-{next(n)}", kind, subj=p[person], week=week, area=area,
                         theme=theme)

    b1 = il.batch([need(1), need(1), need(2)], "c1")           # same person twice: once
    b2 = il.batch([need(1), need(3), need(1, week=w2), need(1, theme="GELD"),
                   need(1, area="WK008010"), need(4, kind="contact"),
                   need(5, kind="outcome")], "c2")              # only needs count
    b3 = il.batch([need(2), need(3), need(6, week=w2)], "c3", source="other-system")
    b_org = il.batch([need(1), need(2, week=w2)], "c4", organisation="org-b")
    for b in (b1, b2, b3):
        il.assert_stored(il.upload(env.d, env.token, b), b)
    il.assert_stored(il.upload(env.d, token_b, b_org), b_org)
    # Re-sends change nothing.
    il.assert_stored(il.upload(env.d, env.token, b1, "json"), b1, stored=0)
    il.assert_stored(il.upload(env.d, env.token, b2), b2, stored=0)

    m1, m2 = datetime.date(2025, 3, 3), datetime.date(2025, 3, 10)
    want = {
        ("org-a", 2024, "WK008020", "EENZAAM", m1): 3,   # persons 1, 2, 3
        ("org-a", 2024, "WK008020", "EENZAAM", m2): 2,   # persons 1, 6
        ("org-a", 2024, "WK008020", "GELD", m1): 1,
        ("org-a", 2024, "WK008010", "EENZAAM", m1): 1,
        ("org-b", 2024, "WK008020", "EENZAAM", m1): 1,
        ("org-b", 2024, "WK008020", "EENZAAM", m2): 1,
    }
    assert il.need_counts(env.db) == want
    assert il.expected_need_counts([b1, b2, b3, b_org]) == want
    il.assert_need_counts(env.db, [b1, b2, b3, b_org])


def test_concurrent_uploads_count_each_person_once(fresh):
    """Batches from several connections at once, with overlapping persons and the very same
    batch sent by every thread: each signal stored once, each person counted once."""
    threads, per_thread, size = 6, 4, 60
    persons = [il.subject(f"busy-{i}") for i in range(25)]
    areas = ["WK008020", "WK008010", "WK008030"]
    weeks = ["2025-W20", "2025-W21"]

    def make(t, k):
        sigs = []
        for i in range(size):
            j = t * 7919 + k * 104729 + i * 31
            sigs.append(il.signal(f"t{t}-b{k}-{i}", "need" if i % 5 else "contact",
                                  subj=persons[j % len(persons)], area=areas[j % 3],
                                  week=weeks[(j // 3) % 2], theme=["GELD", "WONEN"][j % 2]))
        return il.batch(sigs, f"t{t}-b{k}")

    same = il.batch([il.signal(f"same-{i}", subj=persons[i % len(persons)], week=weeks[i % 2])
                     for i in range(size)], "same")
    plans = [[make(t, k) for k in range(per_thread)] + [same] for t in range(threads)]
    barrier = threading.Barrier(threads)

    def run(plan):
        client = il.Client(fresh.d.port, fresh.token)
        barrier.wait(timeout=wrtest.POLL_TIMEOUT_S)
        out = []
        for b in plan:
            body, ctype = il.encode(b, "protobuf")
            out.append((b, client.post(body, ctype)))
        client.close()
        return out

    with ThreadPoolExecutor(threads) as pool:
        results = [x for f in [pool.submit(run, p) for p in plans] for x in f.result()]
    stored_same = 0
    for b, r in results:
        assert isinstance(r, wrtest.Response), f"batch {b['batch_id']}: {r!r}"
        body = il.assert_reply(r, 200)
        assert body["received"] == size and body["stored"] + body["duplicates"] == size, body
        if b is same:
            stored_same += body["stored"]
        else:
            assert body["stored"] == size, body
    assert stored_same == size, f"the shared batch was stored {stored_same} times over"
    everything = [b for plan in plans for b in plan]
    il.assert_rows(fresh.db, *everything)
    il.assert_need_counts(fresh.db, everything)


# --- metrics ---------------------------------------------------------------------------------

def test_ingest_metrics(fresh):
    d = fresh.d
    before = d.metrics()
    b = il.batch([il.signal("m-1"), il.signal("m-2", "contact"), il.signal("m-3")], "m")
    il.assert_stored(il.upload(d, fresh.token, b), b)
    il.assert_stored(il.upload(d, fresh.token, b, "json"), b, stored=0)
    bad = il.batch([il.signal("m-4"), il.signal("m-5", area="WK009999")], "bad")
    il.assert_rejected(il.upload(d, fresh.token, bad), bad, [(1, "area_code")])
    bad2 = il.batch([il.signal("m-7", week="2026-14"), il.signal("m-8"),
                     il.signal("m-9", team=BSN)], "bad2")
    il.assert_rejected(il.upload(d, fresh.token, bad2), bad2, [(0, "iso_week"), (2, "team")])
    assert_unauthorized(il.upload(d, "wr_" + "1" * 64, b))
    il.assert_reply(il.post(d, b"x", "text/plain", fresh.token), 415)
    il.assert_reply(il.post(d, b"{", il.JSON_TYPE, fresh.token), 400)
    after = d.metrics()

    def delta(name, **labels):
        return il.counter(after, name, **labels) - il.counter(before, name, **labels)

    batches, signals = "wijkradar_ingest_batches_total", "wijkradar_ingest_signals_total"
    assert delta(batches, result="stored") == 2
    assert delta(batches, result="rejected") == 2
    assert delta(batches, result="unauthorized") == 1
    assert delta(batches, result="bad_request") == 2
    assert delta(signals, result="stored") == 3
    assert delta(signals, result="duplicate") == 3
    assert delta(signals, result="rejected") == 5
    rej = "wijkradar_ingest_rejections_total"
    assert delta(rej, field="area_code") == 1
    assert delta(rej, field="iso_week") == 1
    assert delta(rej, field="team") == 1
    assert delta("wijkradar_ingest_batch_seconds_count") == 2
    assert il.counter(after, "wijkradar_ingest_batch_seconds_sum") > 0
    assert delta("wijkradar_http_requests_total", route="/v1/signals", method="POST",
                 code="200") == 2
