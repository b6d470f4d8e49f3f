"""Alerts and initiatives over the API (BRIEF.md §6, README "Detection and alerts"):
GET /v1/alerts (scope, filters, ranking, pages), GET /v1/alerts/{id} (evidence, life cycle,
initiatives in and around the area), PATCH /v1/alerts/{id} (the life cycle), and the
initiatives registry (GET/POST /v1/initiatives, `wijkradar initiatives import`).

The module builds one template database (see detectlib.py): organisation A with the synthetic
Leeuwarden data (the EENZAAM rise in WK008020) plus two rises added here (GELD in WK008010,
MANTELZORG in WK008040), organisation B with 20 weeks of its own data (its own EENZAAM rise,
found by EARS), one `analyze` run, then the neighbour lists of tests/data/detect and the
initiatives. Read-only tests share one copy in which A's alerts are new (EENZAAM),
acknowledged (GELD) and closed (MANTELZORG); tests that change things get a copy each.
"""

import pytest

import detectlib as dl
import wrtest

A, B = dl.ORG_A, dl.ORG_B
EENZAAM = (dl.RISE_AREA, "EENZAAM")
GELD = ("WK008010", "GELD")
MANTELZORG = ("WK008040", "MANTELZORG")
AREA_NAMES = {"WK008010": "Binnenstad", "WK008020": "Oud-Oost", "WK008040": "Huizum-West"}
NEIGHBOURS_CSV = dl.DATA / "leeuwarden_neighbours_2024.csv"
MORE_INITIATIVES = dl.DATA / "initiatives_more.csv"


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def template(pg, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("alerts-api")
    W = dl.last_complete_week()
    csv_a = dl.synthetic(tmp / "org-a.csv", W)
    csv_b = dl.synthetic(tmp / "org-b.csv", W, weeks=20, seed=4242)
    with dl.scratch_database(pg) as database:
        cfg = dl.write_config(tmp / "template.conf", database)
        dl.prepare(cfg)
        toks = dl.tokens(cfg, {
            "source_a": ("source", A, dl.SOURCE), "source_b": ("source", B, dl.SOURCE),
            "teamlead_a": ("teamlead", A, None), "teamlead_b": ("teamlead", B, None),
            "analyst_a": ("analyst", A, None), "admin": ("admin", A, None),
        })
        with dl.running_daemon(cfg, tmp) as d:
            dl.ingest(d, toks["source_a"][0], csv_a, A)
            dl.ingest(d, toks["source_b"][0], csv_b, B)
            last_two = [dl.week_add(W, -1), W]
            extra = (dl.need_signals("geld", *GELD, last_two, 10) +
                     dl.need_signals("mz", *MANTELZORG, last_two, 9))
            dl.upload_json(d, toks["source_a"][0], extra, A, "extra-rises")
        s = dl.analyze(cfg, W)
        found = {(a["organisation"], a["area_code"], a["theme"]): a for a in dl.alerts(database)}
        want = {(A, *EENZAAM), (A, *GELD), (A, *MANTELZORG), (B, *EENZAAM)}
        assert set(found) == want, ("the template's run should raise exactly these alerts "
                                    f"{sorted(want)}:\n{dl.describe_alerts(database)}")
        # Geometry and initiatives only after the run: they are what a team lead reads.
        wrtest.run_wr_ok("areas", "import", "--config", cfg, NEIGHBOURS_CSV)
        wrtest.run_wr_ok("initiatives", "import", "--config", cfg, "--organisation", A,
                         dl.INITIATIVES_DEMO)
        wrtest.run_wr_ok("initiatives", "import", "--config", cfg, "--organisation", A,
                         MORE_INITIATIVES)
        yield dl.ns(db=database, tokens=toks, week=W, run_id=s["run_id"],
                    ids={k[1:] if k[0] == A else ("B",) + k[1:]: v["id"]
                         for k, v in found.items()})


def tok(t, key):
    return t.tokens[key][0]


def tok_id(t, key):
    return t.tokens[key][1]


@pytest.fixture(scope="module")
def shared(template, pg, tmp_path_factory):
    """A copy with a daemon, in which A's GELD alert is acknowledged and MANTELZORG closed."""
    tmp = tmp_path_factory.mktemp("alerts-shared")
    with dl.scratch_database(pg, prefix="wr_e2e_shared_") as database:
        dl.drop_database(pg, database.name)
        dl.create_database(pg, database.name, template.db.name)
        cfg = dl.write_config(tmp / "shared.conf", database)
        with dl.running_daemon(cfg, tmp, name="wijkradar-shared") as d:
            w = dl.ns(**dict(vars(template), db=database, d=d, cfg=cfg))
            lead = tok(template, "teamlead_a")
            for key, state in ((GELD, "acknowledged"), (MANTELZORG, "closed")):
                r = dl.call(d, "PATCH", f"/v1/alerts/{template.ids[key]}", lead,
                            {"state": state})
                assert dl.reply(r, 200)["state"] == state
            yield w


@pytest.fixture(scope="module")
def scratch(template, pg, tmp_path_factory):
    """A copy with a daemon for the requests that must be refused and change nothing (each
    test checks that): all of A's alerts are new."""
    tmp = tmp_path_factory.mktemp("alerts-scratch")
    with dl.scratch_database(pg, prefix="wr_e2e_scratch_") as database:
        dl.drop_database(pg, database.name)
        dl.create_database(pg, database.name, template.db.name)
        cfg = dl.write_config(tmp / "scratch.conf", database)
        with dl.running_daemon(cfg, tmp, name="wijkradar-scratch") as d:
            yield dl.ns(**dict(vars(template), db=database, d=d, cfg=cfg))


@pytest.fixture
def world(template, db, make_config, daemon):
    """A fresh copy of the template with a daemon of its own: all of A's alerts are new."""
    dl.clone_into(db, template.db.name)
    cfg = make_config(dl.DETECT_OFF)
    d = dl.serve(daemon, cfg)
    return dl.ns(**dict(vars(template), db=db, d=d, cfg=cfg))


def get(w, path, key="teamlead_a"):
    return dl.call(w.d, "GET", path, tok(w, key) if key else None)


def alerts_of(w, query="", key="teamlead_a"):
    return dl.reply(get(w, "/v1/alerts" + query, key), 200)


def pairs(body):
    return [(a["area_code"], a["theme"]) for a in body["alerts"]]


# --- GET /v1/alerts --------------------------------------------------------------------------

def test_list_for_the_teamlead(shared):
    body = alerts_of(shared)
    assert (body["total"], body["limit"], body["offset"]) == (3, 50, 0), body
    got = body["alerts"]
    rows = {a["id"]: a for a in dl.alerts(shared.db)}
    labels = dict(shared.db.query("SELECT code, label_nl FROM theme"))
    assert sorted(pairs(body)) == sorted([EENZAAM, GELD, MANTELZORG]), body
    # Ranked: strongest first (ties by id).
    keys = [(-rows[a["id"]]["strength"], a["id"]) for a in got]
    assert keys == sorted(keys), got
    states = {EENZAAM: "new", GELD: "acknowledged", MANTELZORG: "closed"}
    for a in got:
        r = rows[a["id"]]
        assert a["organisation"] == A and a["area_year"] == 2024, a
        assert a["area_name"] == AREA_NAMES[a["area_code"]], a
        assert a["theme_label"] == labels[a["theme"]], a
        assert a["state"] == states[(a["area_code"], a["theme"])], a
        assert (a["method"], a["first_week"], a["last_week"]) == \
            ("farrington_flexible", dl.week_add(shared.week, -1), shared.week), a
        assert a["observed"] == r["observed"], a
        assert a["expected"] == pytest.approx(round(r["expected"], 2), abs=1e-9), a
        assert a["upperbound"] == pytest.approx(r["upperbound"]), a
        assert a["ratio"] == pytest.approx(round(r["ratio"], 2), abs=1e-9), a
        assert a["strength"] == pytest.approx(round(r["strength"], 3), abs=1e-9), a
        assert a["trend"] == r["trend"], a
        assert (a["closed_at"] is not None) == (a["state"] == "closed"), a
    # The analyst of the organisation sees the same.
    assert alerts_of(shared, key="analyst_a") == body


@pytest.mark.parametrize("query, want", [
    ("?state=new", [EENZAAM]),
    ("?state=acknowledged", [GELD]),
    ("?state=closed", [MANTELZORG]),
    ("?state=initiative_started", []),
    ("?state=open", [EENZAAM, GELD]),
    ("?area=WK008010", [GELD]),
    ("?theme=EENZAAM", [EENZAAM]),
    ("?area=WK008020&theme=GELD", []),
    ("?area=WK008040&state=open", []),
    ("?theme=MANTELZORG&state=closed", [MANTELZORG]),
])
def test_list_filters(shared, query, want):
    body = alerts_of(shared, query)
    assert sorted(pairs(body)) == sorted(want), body
    assert body["total"] == len(want), body


def test_list_pages(shared):
    full = alerts_of(shared)["alerts"]
    pages = []
    for offset in range(3):
        body = alerts_of(shared, f"?limit=1&offset={offset}")
        assert (body["total"], body["limit"], body["offset"]) == (3, 1, offset), body
        assert len(body["alerts"]) == 1, body
        pages += body["alerts"]
    assert [a["id"] for a in pages] == [a["id"] for a in full]
    body = alerts_of(shared, "?limit=2&offset=1")
    assert [a["id"] for a in body["alerts"]] == [a["id"] for a in full[1:]], body
    body = alerts_of(shared, "?offset=3")
    assert (body["alerts"], body["total"]) == ([], 3), body
    body = alerts_of(shared, "?state=open&limit=1")
    assert body["total"] == 2 and len(body["alerts"]) == 1, body


@pytest.mark.parametrize("query", [
    "state=bogus", "state=OPEN", "state=", "area=XX123", "area=WK0080", "area=wk008020",
    "theme=eenzaam", "theme=EEN-ZAAM", "theme=" + "A" * 33, "limit=0", "limit=501",
    "limit=abc", "limit=", "limit=1.5", "offset=-1", "offset=x",
])
def test_list_bad_parameters(shared, query):
    body = dl.reply(get(shared, "/v1/alerts?" + query), 400, "bad_request")
    assert query.split("=")[0] in body["error"], body


def test_list_scope_and_roles(shared):
    t = shared
    # Another organisation's team lead sees only its own alert, and not A's by id.
    body = alerts_of(t, key="teamlead_b")
    assert [(a["organisation"], a["area_code"], a["theme"], a["method"])
            for a in body["alerts"]] == [(B, *EENZAAM, "ears")], body
    assert body["total"] == 1, body
    for key in (EENZAAM, GELD, MANTELZORG):
        dl.reply(get(t, f"/v1/alerts/{t.ids[key]}", "teamlead_b"), 404, "not_found")
    dl.reply(get(t, f"/v1/alerts/{t.ids[('B',) + EENZAAM]}", "teamlead_a"), 404, "not_found")
    # Asking for another organisation is refused; one's own is fine.
    dl.reply(get(t, f"/v1/alerts?organisation={B}"), 403, "forbidden")
    dl.reply(get(t, f"/v1/alerts?organisation={B}", "analyst_a"), 403, "forbidden")
    assert alerts_of(t, f"?organisation={A}")["total"] == 3
    # The admin sees everything, and may narrow it.
    body = alerts_of(t, key="admin")
    assert body["total"] == 4 and {a["organisation"] for a in body["alerts"]} == {A, B}, body
    assert pairs(alerts_of(t, f"?organisation={B}", "admin")) == [EENZAAM]
    assert alerts_of(t, "?organisation=nobody", "admin")["total"] == 0
    # Sources and strangers.
    dl.reply(get(t, "/v1/alerts", "source_a"), 403, "forbidden")
    dl.reply(get(t, "/v1/alerts", None), 401, "unauthorized")
    dl.reply(dl.call(t.d, "GET", "/v1/alerts", "wr_" + "1" * 64), 401, "unauthorized")
    dl.reply(t.d.get("/v1/alerts", headers={"Authorization": "Basic dXNlcjpwdw=="}), 401,
             "unauthorized")


# --- GET /v1/alerts/{id} ---------------------------------------------------------------------

def test_detail_with_evidence_events_and_initiatives(shared):
    t = shared
    aid = t.ids[EENZAAM]
    a = dl.reply(get(t, f"/v1/alerts/{aid}"), 200)
    row = next(r for r in dl.alerts(t.db) if r["id"] == aid)
    assert (a["id"], a["organisation"], a["area_code"], a["theme"], a["state"]) == \
        (aid, A, *EENZAAM, "new"), a
    assert a["evidence"] == row["evidence"], "evidence differs from the stored alert"
    assert a["evidence"]["method"] == "farrington_flexible" and \
        len(a["evidence"]["weeks"]) == 2, a["evidence"]
    assert a["area_population"] == 12410 and a["area_name"] == "Oud-Oost", a
    assert sorted(a["neighbours"]) == ["WK008010", "WK008040", "WK008051"], a
    assert [(e["kind"], e["from"], e["to"], e["actor"], e["note"]) for e in a["events"]] == \
        [("raised", None, None, f"analysis run {t.run_id}", None)], a["events"]
    assert a["events"][0]["at"], a["events"]
    # What is already there: the walking club in Oud-Oost, then the neighbour's buurtkamer;
    # not the inactive group, not another theme, not a wijk that is not a neighbour.
    got = [(i["code"], i["where"], i["started_after_this_alert"]) for i in a["initiatives"]]
    assert got == [("wandelclub-oud-oost", "in_area", False),
                   ("buurtkamer-binnenstad", "neighbouring_area", False)], a["initiatives"]
    club = a["initiatives"][0]
    assert club["organisation"] == A and club["contact_role"] == "coordinator buurthuis", club
    assert club["areas"] == ["WK008020"] and "EENZAAM" in club["themes"], club
    assert a["initiatives"][1]["url"] == "https://example.org/buurtkamer", a["initiatives"]
    # Analysts and admins read it too.
    assert dl.reply(get(t, f"/v1/alerts/{aid}", "analyst_a"), 200) == a
    assert dl.reply(get(t, f"/v1/alerts/{aid}", "admin"), 200)["id"] == aid
    dl.reply(get(t, f"/v1/alerts/{aid}", "source_a"), 403, "forbidden")
    dl.reply(get(t, f"/v1/alerts/{aid}", None), 401, "unauthorized")


def test_detail_of_acknowledged_and_closed_alerts(shared):
    t = shared
    g = dl.reply(get(t, f"/v1/alerts/{t.ids[GELD]}"), 200)
    assert [(e["kind"], e["from"], e["to"]) for e in g["events"]] == \
        [("raised", None, None), ("state", "new", "acknowledged")], g["events"]
    assert g["events"][1]["actor"] == f"token {tok_id(t, 'teamlead_a')} (teamlead)"
    assert [(i["code"], i["where"]) for i in g["initiatives"]] == \
        [("schuldhulp-cafe-binnenstad", "in_area")], g["initiatives"]
    m = dl.reply(get(t, f"/v1/alerts/{t.ids[MANTELZORG]}"), 200)
    assert m["state"] == "closed" and m["closed_at"], m
    assert [(i["code"], i["where"]) for i in m["initiatives"]] == \
        [("mantelzorg-huizum", "in_area")], m["initiatives"]


@pytest.mark.parametrize("alert_id", ["abc", "0", "-1", "1.5", "1e3", "99999999",
                                      "9" * 19, "1%20", "1x"])
def test_detail_of_no_such_alert_is_404(shared, alert_id):
    dl.reply(get(shared, f"/v1/alerts/{alert_id}"), 404, "not_found")


# --- PATCH /v1/alerts/{id}: the life cycle ---------------------------------------------------

def patch(w, alert_id, body, key="teamlead_a"):
    return dl.call(w.d, "PATCH", f"/v1/alerts/{alert_id}", tok(w, key) if key else None, body)


def test_lifecycle(world):
    w = world
    aid = w.ids[EENZAAM]
    actor = f"token {tok_id(w, 'teamlead_a')} (teamlead)"
    note = "Besproken in het teamoverleg; wandelclub benaderen."

    a = dl.reply(patch(w, aid, {"state": "acknowledged", "note": note}), 200)
    assert a["state"] == "acknowledged" and a["closed_at"] is None, a
    assert (a["events"][-1]["kind"], a["events"][-1]["from"], a["events"][-1]["to"],
            a["events"][-1]["actor"], a["events"][-1]["note"]) == \
        ("state", "new", "acknowledged", actor, note), a["events"]
    assert dl.events(w.db, aid)[-1] == ("state", "new", "acknowledged",
                                        tok_id(w, "teamlead_a"), actor, note)

    a = dl.reply(patch(w, aid, {"state": "initiative_started",
                                "initiative": "wandelclub-oud-oost"}), 200)
    assert a["state"] == "initiative_started", a
    club = [i for i in a["initiatives"] if i["code"] == "wandelclub-oud-oost"]
    assert club and club[0]["started_after_this_alert"] is True, a["initiatives"]
    assert all(i["started_after_this_alert"] is False for i in a["initiatives"]
               if i["code"] != "wandelclub-oud-oost"), a["initiatives"]
    listed = dl.reply(get(w, "/v1/initiatives?area=WK008020"), 200)["initiatives"]
    assert {i["code"]: i["started_after_alert"] for i in listed}["wandelclub-oud-oost"] == aid
    assert w.db.scalar("SELECT started_after_alert FROM initiative WHERE code ="
                       " 'wandelclub-oud-oost'") == aid

    a = dl.reply(patch(w, aid, {"state": "closed", "note": "Wandelclub loopt."}), 200)
    assert a["state"] == "closed" and a["closed_at"], a
    assert [(e["kind"], e["from"], e["to"]) for e in a["events"]] == [
        ("raised", None, None), ("state", "new", "acknowledged"),
        ("state", "acknowledged", "initiative_started"),
        ("state", "initiative_started", "closed")], a["events"]
    row = next(r for r in dl.alerts(w.db) if r["id"] == aid)
    assert row["state"] == "closed" and row["closed_at"] is not None, row

    # Closed is final.
    for state in ("acknowledged", "initiative_started", "closed", "new"):
        body = dl.reply(patch(w, aid, {"state": state}), 409, "invalid_transition")
        assert "closed" in body["error"], body
    assert len(dl.events(w.db, aid)) == 4


def test_invalid_transitions_are_409(world):
    """No step back, no standing still: each refused change leaves the alert as it was."""
    w = world
    aid = w.ids[GELD]

    def refused(bad):
        before = (dl.alerts(w.db), dl.events(w.db, aid))
        body = dl.reply(patch(w, aid, {"state": bad}), 409, "invalid_transition")
        assert bad in body["error"], body
        assert (dl.alerts(w.db), dl.events(w.db, aid)) == before

    refused("new")
    dl.reply(patch(w, aid, {"state": "acknowledged"}), 200)
    refused("acknowledged")
    refused("new")
    dl.reply(patch(w, aid, {"state": "initiative_started"}), 200)
    refused("acknowledged")
    refused("initiative_started")
    refused("new")
    dl.reply(patch(w, aid, {"state": "closed"}), 200)
    refused("closed")


def test_any_open_state_can_be_closed(world):
    w = world
    for key, steps in ((EENZAAM, []), (GELD, ["acknowledged"]),
                       (MANTELZORG, ["initiative_started"])):
        for state in steps + ["closed"]:
            assert dl.reply(patch(w, w.ids[key], {"state": state}), 200)["state"] == state


@pytest.mark.parametrize("body", [
    {"state": "closed", "foo": "x"}, {"state": 5}, {}, {"note": "x"}, {"state": "open"},
    {"state": "bogus"}, {"state": "closed", "note": "x" * 501}, {"state": "closed", "note": 1},
    {"state": "initiative_started", "initiative": ["wandelclub-oud-oost"]},
    [], "not json", '{"state": "closed", "state": "new"}', "", "null",
])
def test_bad_patch_bodies_are_400(scratch, body):
    w = scratch
    aid = w.ids[EENZAAM]
    dl.reply(patch(w, aid, body), 400, "bad_request")
    assert next(r for r in dl.alerts(w.db) if r["id"] == aid)["state"] == "new"
    assert [e[0] for e in dl.events(w.db, aid)] == ["raised"]


def test_patch_roles_and_scope(world):
    w = world
    aid = w.ids[EENZAAM]
    dl.reply(patch(w, aid, {"state": "acknowledged"}, "analyst_a"), 403, "forbidden")
    dl.reply(patch(w, aid, {"state": "acknowledged"}, "source_a"), 403, "forbidden")
    dl.reply(patch(w, aid, {"state": "acknowledged"}, None), 401, "unauthorized")
    dl.reply(patch(w, aid, {"state": "acknowledged"}, "teamlead_b"), 404, "not_found")
    dl.reply(patch(w, 99999999, {"state": "acknowledged"}), 404, "not_found")
    dl.reply(patch(w, "abc", {"state": "acknowledged"}), 404, "not_found")
    assert [e[0] for e in dl.events(w.db, aid)] == ["raised"]
    a = dl.reply(patch(w, aid, {"state": "acknowledged"}, "admin"), 200)
    assert a["events"][-1]["actor"] == f"token {tok_id(w, 'admin')} (admin)", a["events"]
    # Team lead B may move its own alert.
    assert dl.reply(patch(w, w.ids[("B",) + EENZAAM], {"state": "closed"}, "teamlead_b"),
                    200)["state"] == "closed"


@pytest.mark.parametrize("code", ["no-such-initiative", "taalhuis-zuid"])
def test_initiative_link_must_name_one_of_the_organisation(world, code):
    """{"initiative": code} records which initiative answered the alert. A code that is not
    an initiative of the alert's organisation cannot be recorded; accepting the change
    anyway would tell the team lead it was recorded when it was not."""
    w = world
    aid = w.ids[EENZAAM]
    # taalhuis-zuid exists, but belongs to organisation B.
    dl.reply(dl.call(w.d, "POST", "/v1/initiatives", tok(w, "teamlead_b"),
                     {"code": "taalhuis-zuid", "name": "Taalhuis", "themes": ["EENZAAM"],
                      "areas": ["WK008020"]}), 200)
    r = patch(w, aid, {"state": "initiative_started", "initiative": code})
    assert r.status in (400, 404, 409, 422), \
        f"expected a 4xx for an initiative that cannot be linked\n{r.describe()}"
    assert next(x for x in dl.alerts(w.db) if x["id"] == aid)["state"] == "new"
    assert w.db.scalar("SELECT count(*) FROM initiative WHERE started_after_alert IS NOT NULL"
                       ) == 0


# --- the initiatives registry ----------------------------------------------------------------

def initiatives(w, query="", key="teamlead_a"):
    return dl.reply(get(w, "/v1/initiatives" + query, key), 200)["initiatives"]


def codes(items):
    return [i["code"] for i in items]


def test_initiatives_list_and_filters(shared):
    w = shared
    every = initiatives(w)
    active = ["buurtkamer-binnenstad", "koffieochtend-grou", "mantelzorg-huizum",
              "schuldhulp-cafe-binnenstad", "speeltuin-oud-oost", "wandelclub-oud-oost"]
    assert sorted(codes(every)) == active, every  # not the inactive one
    assert [i["name"] for i in every] == sorted(i["name"] for i in every), every
    assert all(i["active"] is True and i["organisation"] == A for i in every), every
    assert sorted(codes(initiatives(w, "?area=WK008020"))) == ["speeltuin-oud-oost",
                                                              "wandelclub-oud-oost"]
    assert codes(initiatives(w, "?theme=GELD")) == ["schuldhulp-cafe-binnenstad"]
    assert codes(initiatives(w, "?area=WK008010&theme=EENZAAM")) == ["buurtkamer-binnenstad"]
    assert initiatives(w, "?area=WK008082&theme=GELD") == []
    assert initiatives(w, key="analyst_a") == every
    assert initiatives(w, key="teamlead_b") == every  # the registry is shared knowledge
    for q in ("?area=XX", "?area=wk008020", "?theme=geld", "?theme=A-B"):
        dl.reply(get(w, "/v1/initiatives" + q), 400, "bad_request")
    dl.reply(get(w, "/v1/initiatives", "source_a"), 403, "forbidden")
    dl.reply(get(w, "/v1/initiatives", None), 401, "unauthorized")


def post_initiative(w, body, key="teamlead_a"):
    return dl.call(w.d, "POST", "/v1/initiatives", tok(w, key) if key else None, body)


def initiative_rows(w):
    return w.db.query("SELECT organisation, code, name, themes, areas, contact_role, url, active,"
                      " started_after_alert FROM initiative ORDER BY organisation, code")


TAALCAFE = {"code": "taalcafe-oost", "name": "Taalcafé Oud-Oost", "themes": ["EENZAAM", "MEEDOEN"],
            "areas": ["WK008020"], "contact_role": "vrijwilligerscoördinator",
            "url": "https://example.org/taalcafe"}


def test_initiative_post_upserts_for_the_teamleads_organisation(world):
    w = world
    body = dl.reply(post_initiative(w, TAALCAFE), 200)
    assert (body["code"], body["organisation"], body["name"], body["themes"], body["areas"],
            body["contact_role"], body["url"], body["active"]) == \
        ("taalcafe-oost", A, TAALCAFE["name"], ["EENZAAM", "MEEDOEN"], ["WK008020"],
         TAALCAFE["contact_role"], TAALCAFE["url"], True), body
    # The same code again updates it.
    body = dl.reply(post_initiative(w, dict(TAALCAFE, name="Taalcafé Oost", active=False,
                                            organisation=A)), 200)
    assert (body["name"], body["active"]) == ("Taalcafé Oost", False), body
    rows = [r for r in initiative_rows(w) if r[1] == "taalcafe-oost"]
    assert rows == [(A, "taalcafe-oost", "Taalcafé Oost", ["EENZAAM", "MEEDOEN"], ["WK008020"],
                     TAALCAFE["contact_role"], TAALCAFE["url"], False, None)], rows
    # Active again: the EENZAAM alert of Oud-Oost now lists it.
    dl.reply(post_initiative(w, TAALCAFE), 200)
    a = dl.reply(get(w, f"/v1/alerts/{w.ids[EENZAAM]}"), 200)
    assert ("taalcafe-oost", "in_area") in [(i["code"], i["where"]) for i in a["initiatives"]]
    # An admin names the organisation.
    dl.reply(post_initiative(w, dict(TAALCAFE, code="taalcafe-zuid"), "admin"), 400,
             "bad_request")
    body = dl.reply(post_initiative(w, dict(TAALCAFE, code="taalcafe-zuid", organisation=B),
                                    "admin"), 200)
    assert body["organisation"] == B, body


@pytest.mark.parametrize("change, status", [
    ({"name": "Soepcafé, bel 06-12345678"}, 400),
    ({"name": "Soepcafé 0612345678"}, 400),
    ({"contact_role": "jan.jansen@example.nl"}, 400),
    ({"contact_role": "bel +31 6 12345678"}, 400),
    ({"themes": ["KLUSSEN"]}, 422),
    ({"themes": ["EENZAAM", "ONBEKEND"]}, 422),
    ({"themes": "EENZAAM"}, 400),
    ({"themes": []}, 400),
    ({"areas": ["XX8020"]}, 400),
    ({"areas": []}, 400),
    ({"name": ""}, 400),
    ({"code": "taal café"}, 400),
    ({"url": "ftp://example.org/x"}, 400),
    ({"active": "yes"}, 400),
    ({"colour": "blue"}, 400),
])
def test_initiative_post_refusals(scratch, change, status):
    w = scratch
    before = initiative_rows(w)
    body = dict(TAALCAFE, **change)
    dl.reply(post_initiative(w, body), status)
    assert initiative_rows(w) == before


def test_initiative_post_scope_and_roles(scratch):
    w = scratch
    before = initiative_rows(w)
    dl.reply(post_initiative(w, dict(TAALCAFE, organisation=B)), 403, "forbidden")
    dl.reply(post_initiative(w, TAALCAFE, "analyst_a"), 403, "forbidden")
    dl.reply(post_initiative(w, TAALCAFE, "source_a"), 403, "forbidden")
    dl.reply(post_initiative(w, TAALCAFE, None), 401, "unauthorized")
    for bad in ("not json", "[]", "null"):
        dl.reply(post_initiative(w, bad), 400, "bad_request")
    assert initiative_rows(w) == before


# --- `wijkradar initiatives import` ----------------------------------------------------------

@pytest.mark.parametrize("name, line", [
    ("initiatives_bad_email.csv", 3),
    ("initiatives_bad_phone.csv", 3),
    ("initiatives_bad_theme.csv", 4),
    ("initiatives_bad_area.csv", 4),
    ("initiatives_bad_fields.csv", 3),
    ("initiatives_missing_areas.csv", 1),
])
def test_cli_import_errors_name_the_line_and_import_nothing(scratch, name, line):
    w = scratch
    before = initiative_rows(w)
    path = dl.DATA / name
    proc = wrtest.run_wr("initiatives", "import", "--config", w.cfg, "--organisation", A, path)
    assert proc.returncode == 1, wrtest.describe_run(proc)
    assert f'"{path}", line {line}:' in proc.stderr, wrtest.describe_run(proc)
    assert "No initiatives were imported." in proc.stderr, wrtest.describe_run(proc)
    assert initiative_rows(w) == before


def test_cli_import_and_list(world, tmp_path):
    w = world
    path = tmp_path / "more.csv"
    path.write_text("code,name,themes,areas,contact_role,url,active\n"
                    "taalcafe-oost,Taalcafe Oud-Oost,MEEDOEN;EENZAAM,WK008020;WK008010,"
                    "vrijwilligerscoordinator,,ja\n"
                    "wandelclub-oud-oost,Wandelclub Oud-Oost,EENZAAM,WK008020,"
                    "coordinator buurthuis,,true\n")
    proc = wrtest.run_wr_ok("initiatives", "import", "--config", w.cfg, "--organisation", B,
                            path)
    assert f"imported 2 initiatives for organisation {B}" in proc.stdout, proc.stdout
    rows = [r for r in initiative_rows(w) if r[0] == B]
    assert [(r[1], r[3], r[4], r[7]) for r in rows] == [
        ("taalcafe-oost", ["MEEDOEN", "EENZAAM"], ["WK008020", "WK008010"], True),
        ("wandelclub-oud-oost", ["EENZAAM"], ["WK008020"], True)], rows
    # A's walking club of the same code is a different initiative.
    assert len([r for r in initiative_rows(w) if r[1] == "wandelclub-oud-oost"]) == 2
    proc = wrtest.run_wr_ok("initiatives", "list", "--config", w.cfg, "--organisation", B,
                            "--area", "WK008010")
    assert [line.split()[:2] for line in proc.stdout.splitlines()] == [[B, "taalcafe-oost"]], \
        proc.stdout
    proc = wrtest.run_wr("initiatives", "import", "--config", w.cfg, path)
    assert proc.returncode == 2, wrtest.describe_run(proc)


def test_alert_reads_are_audited(world):
    """Reads of the alert list, one alert and the change feed land in audit_read with the
    token, its role and organisation, what was asked and the request id; a state change is
    not a read (alert_event records it)."""
    aid = world.ids[EENZAAM]
    calls = [("/v1/alerts?state=open", "alerts",
              f"organisation={A} state=open area=* theme=* since=-"),
             (f"/v1/alerts/{aid}", "alert", str(aid)),
             ("/v1/alerts?since=0", "alert_changes",
              f"organisation={A} state=* area=* theme=* since=0")]
    for path, resource, target in calls:
        r = dl.call(world.d, "GET", path, tok(world, "teamlead_a"))
        assert r.status == 200, r.describe()
        rid = r.headers.get("X-Request-Id")
        rows = wrtest.wait_until(f"the audit row of {path}", lambda: world.db.query(
            "SELECT token_id, role, organisation, resource, target FROM audit_read"
            " WHERE request_id = %s", (rid,)) or None)
        assert rows == [(tok_id(world, "teamlead_a"), "teamlead", A, resource, target)], rows
    dl.reply(patch(world, aid, {"state": "acknowledged"}), 200)
    resources = [r[0] for r in world.db.query("SELECT resource FROM audit_read ORDER BY id")]
    assert resources == ["alerts", "alert", "alert_changes"], resources
