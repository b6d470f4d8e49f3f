"""Benchmark and effect-measurement reports (docs/benchmark.md, analyzers/disclosure.h):
GET /v1/benchmark and /v1/effects in JSON, CSV and HTML, `wijkradar report`, disclosure
control, access, and the HTML report rendered by a headless Chromium.

Data: deploy/synthetic_care.py's eight organisations, uploaded with `wijkradar ingest` into a
module template (reportlib.py). The report period is the last full quarter of the data. The
expected figures are computed in reportlib.py from the CSV files by the definitions of
docs/benchmark.md, independently of the daemon's SQL; as published figures are randomly
rounded with a secret seed, each is checked against the range that any rounding allows.
"""

import csv
import io
import json
import math
import os
import shutil
import subprocess
from types import SimpleNamespace

import pytest

import detectlib as dl
import reportlib as rl
import wrtest

A, B = rl.A, rl.B
CHROMIUM = "/usr/bin/chromium"


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def template(pg, tmp_path_factory):
    with rl.template(pg, tmp_path_factory.mktemp("reports-template")) as t:
        yield t


@pytest.fixture(scope="module")
def world(template, pg, tmp_path_factory):
    """One copy of the template with a running daemon. Every test here only reads, so they
    share it."""
    tmp = tmp_path_factory.mktemp("reports-world")
    with dl.scratch_database(pg, prefix="wr_e2e_reports_") as database:
        dl.drop_database(pg, database.name)
        dl.create_database(pg, database.name, template.db.name)
        cfg = dl.write_config(tmp / "reports.conf", database)
        with dl.running_daemon(cfg, tmp, name="wijkradar-reports") as d:
            figures = {n: o.figures(template.bounds) for n, o in template.orgs.items()}
            expects = {n: rl.expected_indicators(f) for n, f in figures.items()}
            yield SimpleNamespace(d=d, cfg=cfg, db=database, t=template, tokens=template.tokens,
                                  period=template.period, figures=figures, expects=expects,
                                  tmp=tmp)


def get(w, path, token=None):
    return dl.call(w.d, "GET", path, token=token)


def fetch(w, kind, org=None, token=None, fmt=None):
    """GET /v1/KIND?period=P[&organisation=ORG][&format=F] (admin token unless given); asserts
    200 and returns the response."""
    q = f"/v1/{kind}?period={w.period}"
    if org is not None:
        q += f"&organisation={org}"
    if fmt is not None:
        q += f"&format={fmt}"
    r = get(w, q, token or w.tokens["admin"][0])
    assert r.status == 200, f"GET {q}:\n{r.describe()}\n--- daemon stderr ---\n" \
                            f"{wrtest.tail(w.d.stderr())}"
    return r


@pytest.fixture(scope="module")
def reports(world):
    """{(kind, org): (body bytes, parsed JSON)} of every organisation's two reports, as admin."""
    out = {}
    for org in world.t.names:
        for kind in ("benchmark", "effects"):
            r = fetch(world, kind, org)
            assert r.headers.get("Content-Type", "").startswith("application/json"), \
                r.describe()
            out[(kind, org)] = (r.body, r.json())
    return out


def fail_if(problems, what):
    if problems:
        shown = "\n  ".join(problems[:60])
        more = f"\n  ... and {len(problems) - 60} more" if len(problems) > 60 else ""
        pytest.fail(f"{what}: {len(problems)} problem(s)\n  {shown}{more}")


# --- the benchmark figures -------------------------------------------------------------------

def decimals_of(ind_id):
    return 0 if rl.INDICATORS[ind_id] == "plain" else 1


def check_figure(pub, exp, decimals, where, indicative_below=None):
    """Problems of a published figure {"value", "status", ...} against an Expect."""
    problems = []
    status = pub.get("status")
    if status not in exp.statuses:
        problems.append(f"{where}: status {status!r}, expected one of {sorted(exp.statuses)} "
                        f"(true value {exp.exact}, base {exp.base})")
        return problems
    value = pub.get("value")
    if status != "shown":
        if value is not None:
            problems.append(f"{where}: status {status} but value {value!r}")
        return problems
    if not isinstance(value, (int, float)):
        return problems + [f"{where}: shown without a numeric value: {pub}"]
    slack = 0.5 * 10 ** -decimals + 1e-9
    if not exp.lo - slack <= value <= exp.hi + slack:
        problems.append(f"{where}: value {value}, expected {exp.lo:.4f}..{exp.hi:.4f} "
                        f"(true {exp.exact:.4f}; any rounding of the counts, "
                        f"{decimals} decimals)")
    if indicative_below is not None:
        want = exp.base < indicative_below
        if bool(pub.get("indicative")) != want:
            problems.append(f"{where}: indicative={pub.get('indicative')!r} with n={exp.base}")
    return problems


def check_benchmark(w, report, org):
    """Problems of one organisation's benchmark JSON against the independent computation."""
    problems = []
    where = f"benchmark of {org}"
    for key, want in (("report", "benchmark"), ("period", w.period), ("organisation", org),
                      ("organisations", len(w.t.names))):
        if report.get(key) != want:
            problems.append(f"{where}: {key} = {report.get(key)!r}, expected {want!r}")
    ids = [i.get("id") for i in report.get("indicators", [])]
    if ids != list(rl.INDICATORS):
        problems.append(f"{where}: indicators {ids}, expected those of docs/benchmark.md "
                        f"{list(rl.INDICATORS)}")
    inds = rl.indicator_map(report)
    for ind_id, kind in rl.INDICATORS.items():
        ind = inds.get(ind_id)
        if ind is None:
            continue
        at = f"{where}, {ind_id}"
        if not isinstance(ind.get("own"), dict) or not isinstance(ind.get("peer"), dict):
            problems.append(f"{at}: lacks own or peer: {ind}")
            continue
        if not ind.get("label"):
            problems.append(f"{at}: no label")
        exp = w.expects[org][ind_id]
        dec = decimals_of(ind_id)
        problems += check_figure(ind["own"], exp, dec, f"{at}, own",
                                 30 if kind in ("quantile", "mean") else None)
        # The funnel: the published denominator, only for shown rates and percentages.
        funnel = ind.get("funnel")
        shown = ind["own"].get("status") == "shown"
        if kind in ("rate", "percent", "records") and shown:
            scale = 1000 if kind == "rate" else 100
            if not funnel or funnel.get("scale") != scale:
                problems.append(f"{at}: funnel {funnel}, expected scale {scale}")
            elif funnel.get("denominator") not in exp.denominators:
                problems.append(f"{at}: funnel denominator {funnel.get('denominator')}, "
                                f"expected one of {sorted(exp.denominators)}")
            else:
                # Given the published denominator, the value is a rounding of the numerator
                # over it (rates and percentages come from the rounded counts).
                cands = exp.candidates(funnel["denominator"])
                v = ind["own"]["value"]
                if cands and min(abs(v - c) for c in cands) > 0.05 + 1e-9:
                    problems.append(f"{at}: value {v} over denominator "
                                    f"{funnel['denominator']}, expected one of "
                                    f"{[round(c, 2) for c in cands]} (true {exp.exact:.3f})")
        elif funnel is not None:
            problems.append(f"{at}: funnel {funnel} on a figure that has none or is not shown")
        # The peer median over the other organisations' published figures.
        others = [w.expects[k][ind_id] for k in w.t.names if k != org]
        ep = rl.expect_peer(others)
        peer = ind["peer"]
        if ep is None:
            continue
        if peer.get("status") not in ep.statuses:
            problems.append(f"{at}, peer: status {peer.get('status')!r}, expected "
                            f"{sorted(ep.statuses)}")
        if peer.get("organisations") != ep.organisations:
            problems.append(f"{at}, peer: organisations {peer.get('organisations')!r}, "
                            f"expected {ep.organisations}")
        if "shown" in ep.statuses and peer.get("status") == "shown":
            v = peer.get("value")
            slack = 0.5 * 10 ** -dec + 1e-9
            if not isinstance(v, (int, float)) or not ep.lo - slack <= v <= ep.hi + slack:
                problems.append(f"{at}, peer: median {v!r}, expected {ep.lo:.4f}..{ep.hi:.4f}"
                                f" (median of the others' possible published values)")
    return problems


def test_benchmark_as_analyst(world):
    """Analyst of A: 200 JSON with every indicator of docs/benchmark.md, own and peer, each
    consistent with the figures computed here from the CSV files."""
    r = fetch(world, "benchmark", token=world.tokens["analyst_a"][0])
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.describe()
    report = r.json()
    assert report.get("organisation") == A, report.get("organisation")
    fail_if(check_benchmark(world, report, A), f"GET /v1/benchmark?period={world.period} as "
                                                f"analyst of {A}")


def test_benchmark_every_organisation(world, reports):
    """The same checks for each of the eight organisations (admin with &organisation=)."""
    problems = []
    for org in world.t.names:
        problems += check_benchmark(world, reports[("benchmark", org)][1], org)
    fail_if(problems, "benchmark figures")


def test_benchmark_against_truth(world, reports):
    """Where truth.json's definitions match the indicators': the population the reach is over,
    the waiting time (truth: every trajectory of the 78 weeks; here: those opened in the
    quarter), and the alerts and initiatives the template planted."""
    problems = []
    for org in world.t.names:
        inds = rl.indicator_map(reports[("benchmark", org)][1])
        truth = world.t.truth["organisations"][org]
        den = (inds["reach_per_1000"].get("funnel") or {}).get("denominator")
        if den != truth["population"]:
            problems.append(f"{org}: reach over {den} inhabitants, truth.json says "
                            f"{truth['population']} ({truth['wijken']})")
        wait = inds["waiting_median_weeks"]["own"].get("value")
        if wait is None or abs(wait - truth["waiting_weeks"]["median"]) > 1:
            problems.append(f"{org}: waiting median {wait}, truth.json "
                            f"{truth['waiting_weeks']['median']} (over all weeks)")
        for ind_id, planted in (("alerts_raised", rl.ALERTS_IN_PERIOD),
                                ("initiatives_after_alerts", rl.INITIATIVES_IN_PERIOD)):
            got = inds[ind_id]["own"].get("value")
            if got != planted.get(org, 0):
                problems.append(f"{org}: {ind_id} {got}, planted {planted.get(org, 0)}")
    # A's records without a trajectory and its rejected upload.
    inds = rl.indicator_map(reports[("benchmark", A)][1])
    f = world.figures[A]
    # write_extra: a contact per person, a second one for every third, EXTRA_OUTCOMES intakes.
    planted = rl.EXTRA_PERSONS + -(-rl.EXTRA_PERSONS // 3) + rl.EXTRA_OUTCOMES
    assert f.incomplete == planted, f"extra records miscounted here: {f.incomplete}"
    if inds["incomplete_pct"]["own"].get("value") in (None, 0):
        problems.append(f"{A}: incomplete_pct {inds['incomplete_pct']['own']} although "
                        f"{f.incomplete} contacts and measurements lack a trajectory")
    if inds["rejected_pct"]["own"].get("value") in (None, 0):
        problems.append(f"{A}: rejected_pct {inds['rejected_pct']['own']} although "
                        f"{rl.BAD_RECORDS} of {f.received} records were rejected")
    fail_if(problems, "benchmark against truth.json")


# --- disclosure ------------------------------------------------------------------------------

def disclosure_problems(kind, org, report):
    problems = []
    notes = report.get("notes") or {}
    for code in rl.STATUSES - {"shown"}:
        if not notes.get(code):
            problems.append(f"{kind} of {org}: notes lack {code!r}")
    if notes.get("secret") != "geheim: 0 tot 7 personen":
        problems.append(f"{kind} of {org}: notes.secret = {notes.get('secret')!r}")
    for path, obj in rl.walk(report):
        at = f"{kind} of {org} {path}"
        if "n" in obj and obj["n"] is not None and kind == "benchmark":
            n = obj["n"]
            if not isinstance(n, int) or n % 5 != 0 or n < 8:
                problems.append(f"{at}: person count n = {n!r} (must be a multiple of 5 and "
                                f"at least 8; 1..7 would show a small group)")
        if "status" in obj:
            status = obj["status"]
            if status not in rl.STATUSES:
                problems.append(f"{at}: status {status!r} is not a code of disclosure.h")
            elif status != "shown":
                for key in ("value", "n"):
                    if key in obj and obj[key] is not None:
                        problems.append(f"{at}: {status} but {key} = {obj[key]!r}")
                if obj.get("note") != notes.get(status) or not obj.get("note"):
                    problems.append(f"{at}: {status} with note {obj.get('note')!r}, expected "
                                    f"the Dutch note {notes.get(status)!r}")
                for key in ("mean_change", "mean_before", "mean_after", "d_av", "d_z"):
                    if key in obj:
                        problems.append(f"{at}: {status} cell still has {key}")
    if kind == "benchmark":
        for ind in report.get("indicators", []):
            at = f"benchmark of {org}, {ind.get('id')}"
            peer = ind.get("peer", {})
            if peer.get("status") == "shown" and (peer.get("organisations") or 0) < 3:
                problems.append(f"{at}: peer median shown over {peer.get('organisations')} "
                                "organisations (at least 3)")
            kind_of = rl.INDICATORS.get(ind.get("id"))
            if ind.get("own", {}).get("status") == "shown" and kind_of in ("percent",
                                                                           "records"):
                den = (ind.get("funnel") or {}).get("denominator")
                if den is None or den < 20:
                    problems.append(f"{at}: percentage shown over denominator {den!r} (< 20)")
                if kind_of == "percent" and den is not None and den % 5 != 0:
                    problems.append(f"{at}: person denominator {den} is not rounded to 5")
    else:
        for e in report.get("effects", []):
            at = f"effects of {org}, {e.get('theme')}/{e.get('mode')}"
            if e.get("status") == "shown":
                n = e.get("n")
                if not isinstance(n, int) or n % 5 != 0 or n < 8:
                    problems.append(f"{at}: shown with person count n = {n!r} (must be a "
                                    "multiple of 5 and at least 8; 1..7 reads as a small "
                                    "group)")
                for key in ("reliably_improved_pct", "reliably_worse_pct"):
                    if e.get(key, {}).get("status") == "shown" and (e.get("n") or 0) < 20:
                        problems.append(f"{at}: {key} shown over n = {e.get('n')} (< 20)")
            peer = e.get("peer") or {}
            if peer.get("status") == "shown" and (peer.get("organisations") or 0) < 3:
                problems.append(f"{at}: peer shown over {peer.get('organisations')} "
                                "organisations (at least 3)")
    return problems


def test_disclosure_invariants(world, reports):
    """Over the whole JSON of every organisation's benchmark and effects: person counts are
    multiples of 5 and never 1..7, percentages have a denominator of at least 20, effect cells
    shown have n >= 8, peer figures are over at least 3 organisations, statuses are the codes
    of disclosure.h, suppressed figures have no value and a Dutch note."""
    problems = []
    for (kind, org), (_, report) in sorted(reports.items()):
        problems += disclosure_problems(kind, org, report)
    fail_if(problems, "disclosure invariants")


def test_same_count_rounded_alike(world, reports):
    """A count that appears in several places is published the same way everywhere (report.h:
    one seed per publication, "so a count is rounded the same way wherever it appears"):
    otherwise two roundings of one count narrow it down. The trajectories with contacts are the
    denominator of blended_pct, collective_pct and online_pct; the pairs are the denominator of
    reliably_improved_pct and the n of the effects' ALL/all cell."""
    problems = []
    for org in world.t.names:
        inds = rl.indicator_map(reports[("benchmark", org)][1])
        dens = {i: (inds[i].get("funnel") or {}).get("denominator")
                for i in ("blended_pct", "collective_pct", "online_pct")}
        if len({d for d in dens.values() if d is not None}) > 1:
            problems.append(f"{org}: one count ({world.figures[org].with_contacts} trajectories "
                            f"with contacts) published as {dens}")
        cell = next(e for e in reports[("effects", org)][1]["effects"]
                    if e["theme"] == "ALL" and e["mode"] == "all")
        den = (inds["reliably_improved_pct"].get("funnel") or {}).get("denominator")
        if den is not None and cell.get("n") is not None and den != cell["n"]:
            problems.append(f"{org}: one count ({len(world.figures[org].pairs)} pairs) published"
                            f" as {den} (reliably_improved_pct denominator) and {cell['n']} "
                            f"(effects ALL/all n)")
    fail_if(problems, "the same count rounded differently")


def test_repeated_requests_identical(world, reports):
    """The rounding seed is per publication: the same report is byte-identical on every
    request, for an analyst and for the admin alike."""
    for kind in ("benchmark", "effects"):
        first = reports[(kind, A)][0]
        for token in (world.tokens["admin"][0], world.tokens["analyst_a"][0]):
            org = A if token == world.tokens["admin"][0] else None
            again = fetch(world, kind, org, token=token).body
            assert again == first, (f"{kind} of {A} differs between requests:\n"
                                    f"{first[:300]!r}\n{again[:300]!r}")


def test_suppressed_cells_cannot_be_recovered(world, reports):
    """For every suppressed effect cell: subtracting the shown members of its row (or column)
    from the total must not give its true n. Either another cell of the group is suppressed too,
    or the rounding of the published n's makes the difference wrong; and even bounding every
    rounded n by +-4 leaves more than one value possible."""
    problems = []
    attacks = small_attacked = 0
    themes = sorted({p.theme for f in world.figures.values() for p in f.pairs})
    for org in world.t.names:
        cells = {(e["theme"], e["mode"]): e for e in reports[("effects", org)][1]["effects"]}
        true_n = {k: len(v) for k, v in rl.effect_cells(world.figures[org].pairs,
                                                        themes).items()}
        groups = [([(t, m) for m in rl.MODES], (t, "all")) for t in themes + ["ALL"]]
        groups += [([(t, m) for t in themes], ("ALL", m)) for m in list(rl.MODES) + ["all"]]
        for members, total in groups:
            hidden = [c for c in members + [total] if cells[c]["status"] != "shown"]
            for target in hidden:
                if target == total:
                    continue
                attacks += 1
                small_attacked += 1 <= true_n[target] <= 7
                where = f"{org} {target} (true n {true_n[target]}, {cells[target]['status']})"
                others = [c for c in members if c != target]
                if len(hidden) == 1:
                    naive = cells[total]["n"] - sum(cells[c]["n"] for c in others)
                    if naive == true_n[target]:
                        problems.append(f"{where}: total {cells[total]['n']} minus the others "
                                        f"gives exactly its n = {naive}")
                # Bounds: a shown n is true +-4, a secret one 0..7, a secondary one >= 8.
                def bounds(c):
                    if cells[c]["status"] == "shown":
                        return max(8, cells[c]["n"] - 4), cells[c]["n"] + 4
                    return (0, 7) if cells[c]["status"] == "secret" else (8, 10 ** 6)
                t_lo, t_hi = bounds(total)
                lo = t_lo - sum(bounds(c)[1] for c in others)
                hi = t_hi - sum(bounds(c)[0] for c in others)
                own_lo, own_hi = bounds(target)
                lo, hi = max(lo, own_lo), min(hi, own_hi)
                if not lo <= true_n[target] <= hi:
                    problems.append(f"{where}: true n outside the bounds {lo}..{hi}: the test's"
                                    " computation disagrees with the published table")
                elif hi - lo < 1:
                    problems.append(f"{where}: pinned to {lo} by the row/column bounds")
    assert attacks > 0, "no suppressed effect cell to attack: the data set is too large"
    assert small_attacked > 0, "no suppressed cell with 1..7 persons: nothing tested"
    fail_if(problems, f"recovering suppressed cells ({attacks} attempts)")


# --- access ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["benchmark", "effects"])
def test_access(world, kind):
    """Analyst: own organisation only; admin must name one; teamlead and source: 403; no
    token: 401."""
    q = f"/v1/{kind}?period={world.period}"
    tok = world.tokens

    def expect(path, token, status, code=None):
        r = get(world, path, token)
        assert r.status == status, (f"GET {path} with {token and token[:8]}...: expected "
                                    f"{status}\n{r.describe()}")
        body = r.json()
        if status != 200:
            assert isinstance(body.get("error"), str) and body["error"], body
        if code is not None:
            assert body.get("code") == code, f"expected error code {code}: {body}"
        return body

    assert expect(q, tok["analyst_a"][0], 200)["organisation"] == A
    assert expect(q + f"&organisation={A}", tok["analyst_a"][0], 200)["organisation"] == A
    assert expect(q, tok["analyst_b"][0], 200)["organisation"] == B
    expect(q + f"&organisation={B}", tok["analyst_a"][0], 403, "forbidden")
    expect(q + f"&organisation={A}", tok["analyst_b"][0], 403, "forbidden")
    expect(q, tok["admin"][0], 400, "bad_request")
    assert expect(q + f"&organisation={B}", tok["admin"][0], 200)["organisation"] == B
    expect(q, tok["teamlead_a"][0], 403)
    expect(q + f"&organisation={A}", tok["teamlead_a"][0], 403)
    expect(q, tok["source_a"][0], 403)
    expect(q, None, 401)
    expect(q, "wr_" + "0" * 64, 401)


def test_no_other_organisation_in_reports(world):
    """A's reports (JSON, CSV, HTML of both) never name another organisation."""
    others = [o for o in world.t.names if o != A]
    token = world.tokens["analyst_a"][0]
    for kind in ("benchmark", "effects"):
        for fmt in ("json", "csv", "html"):
            text = fetch(world, kind, token=token, fmt=fmt).body.decode()
            assert A in text, f"{kind} {fmt} of {A} does not name {A}"
            found = [o for o in others if o in text]
            assert not found, f"{kind} {fmt} of {A} names {found}:\n{text[:1500]}"


# --- formats ---------------------------------------------------------------------------------

def test_formats(world, reports):
    """format=csv: text/csv, the header and one line per indicator (or effect cell) with the
    JSON's values; format=html: text/html; bad period or format: 400 with a JSON error."""
    token = world.tokens["analyst_a"][0]
    for kind, items, key in (("benchmark", "indicators", "indicator"),
                             ("effects", "effects", None)):
        report = reports[(kind, A)][1]
        r = fetch(world, kind, token=token, fmt="csv")
        assert r.headers.get("Content-Type", "").startswith("text/csv"), r.describe()
        text = r.body.decode()
        lines = text.splitlines()
        assert len(lines) == 1 + len(report[items]), \
            f"{kind} CSV: {len(lines)} lines for {len(report[items])} {items}\n{text[:800]}"
        rows = list(csv.DictReader(io.StringIO(text)))
        head = lines[0].split(",")
        assert head[:2] == ["period", "organisation"] and "status" in head, lines[0]
        for row, item in zip(rows, report[items]):
            assert row["period"] == world.period and row["organisation"] == A, row
            if key:
                assert row[key] == item["id"], (row, item["id"])
                v = item["own"]["value"]
                assert row["status"] == item["own"]["status"], (row, item)
                assert (row["value"] == "" if v is None else
                        math.isclose(float(row["value"]), v, abs_tol=1e-9)), (row, item)
                pv = item["peer"]["value"]
                assert (row["peer_median"] == "" if pv is None else
                        math.isclose(float(row["peer_median"]), pv, abs_tol=1e-9)), (row, item)
            else:
                assert (row["theme"], row["mode"], row["status"]) == \
                    (item["theme"], item["mode"], item["status"]), (row, item)
                assert row["n"] == ("" if item.get("n") is None else str(item["n"])), (row, item)
        r = fetch(world, kind, token=token, fmt="html")
        assert r.headers.get("Content-Type", "").startswith("text/html"), r.describe()
        assert b"<h1>Benchmark en effectmeting</h1>" in r.body, r.body[:500]
        r = fetch(world, kind, token=token, fmt="json")
        assert r.body == reports[(kind, A)][0], "format=json differs from the default"
    for query in ("period=2026-Q5", "period=2026Q3", "period=26-Q3", "period=", "",
                  "period=2026-Q3-", "period=1999", f"period={world.period}&format=xml",
                  f"period={world.period}&format=", f"period={world.period}&format=JSON"):
        for kind in ("benchmark", "effects"):
            r = get(world, f"/v1/{kind}?{query}", token)
            assert r.status == 400, f"GET /v1/{kind}?{query}: expected 400\n{r.describe()}"
            assert r.headers.get("Content-Type", "").startswith("application/json"), \
                r.describe()
            body = r.json()
            assert body.get("code") == "bad_request" and body.get("error"), body


# --- effects ---------------------------------------------------------------------------------

def check_effects(w, report, org):
    problems = []
    where = f"effects of {org}"
    themes = sorted({p.theme for f in w.figures.values() for p in f.pairs})
    for key, want in (("report", "effects"), ("period", w.period), ("organisation", org),
                      ("instrument", rl.INSTRUMENT)):
        if report.get(key) != want:
            problems.append(f"{where}: {key} = {report.get(key)!r}, expected {want!r}")
    keys = [(e.get("theme"), e.get("mode")) for e in report.get("effects", [])]
    want_keys = [(t, m) for t in themes + ["ALL"] for m in list(rl.MODES) + ["all"]]
    if keys != want_keys:
        return problems + [f"{where}: cells {keys}, expected {want_keys}"]
    cells = dict(zip(keys, report["effects"]))
    mine = rl.effect_cells(w.figures[org].pairs, themes)
    theirs = {k: rl.effect_cells(w.figures[k].pairs, themes) for k in w.t.names if k != org}
    truth = w.t.truth["organisations"][org]["effect"]
    for key, e in cells.items():
        at = f"{where}, {key[0]}/{key[1]}"
        pairs = mine[key]
        n = len(pairs)
        status = e.get("status")
        if n <= 7 and status != "secret":
            problems.append(f"{at}: {n} persons but status {status!r} (expected secret)")
        if n >= 8 and status not in ("shown", "secondary"):
            problems.append(f"{at}: {n} persons but status {status!r}")
        if status == "shown" and n >= 8:
            s = rl.paired(pairs)
            if e.get("n") not in rl.roundings(n):
                problems.append(f"{at}: n = {e.get('n')}, true {n} (expected one of "
                                f"{sorted(rl.roundings(n))})")
            # Indicative by the published n, so that the flag does not tell the true one.
            if bool(e.get("indicative")) != ((e.get("n") or 0) < 30):
                problems.append(f"{at}: indicative={e.get('indicative')!r} at published n = "
                                f"{e.get('n')} (true {n})")
            for name, want in (("mean_change", s.mean_change), ("mean_before", s.mean_before),
                               ("mean_after", s.mean_after), ("d_av", s.d_av)):
                got = (e.get(name) or {}).get("value")
                if want is None:
                    continue
                if got is None or abs(got - want) > 0.005 + 1e-9:
                    problems.append(f"{at}: {name} {got}, computed {want:.4f}")
            ri = e.get("reliably_improved_pct", {})
            problems += check_figure(ri, rl.expect_percent(s.improved, n), 1,
                                     f"{at}, reliably_improved_pct")
            # Against truth.json's realised change of this organisation (all pairs of the 78
            # weeks; the quarter's are a subset of them, one per person).
            if key[0] != "ALL" and key[1] in rl.CLASSES and n >= 30:
                t = truth[key[0]][key[1]]
                changes = [p.after - p.before for p in pairs]
                tol = 4 * rl.sd(changes) * math.sqrt(max(1 / n - 1 / t["n"], 0)) + 0.02
                got = e["mean_change"]["value"]
                if abs(got - t["mean_change"]) > tol:
                    problems.append(f"{at}: mean change {got}, truth.json {t['mean_change']} "
                                    f"over {t['n']} pairs (tolerance {tol:.3f})")
        # The peer: the other organisations' pairs of the cell, pooled.
        contrib = [len(c[key]) for c in theirs.values() if c[key]]
        pooled = [p for c in theirs.values() for p in c[key]]
        peer = e.get("peer") or {}
        # How many others contribute is shown only with the peer figure itself.
        want_orgs = len(contrib) if peer.get("status") == "shown" else None
        if peer.get("organisations") != want_orgs:
            problems.append(f"{at}, peer: organisations {peer.get('organisations')}, expected "
                            f"{want_orgs}")
        if len(contrib) < 3:
            want = "peer_few"
        elif max(contrib) / sum(contrib) > 0.85:
            want = "peer_dominant"
        elif len(pooled) < 8:
            want = "small_n"
        else:
            want = "shown"
        if peer.get("status") != want:
            problems.append(f"{at}, peer: status {peer.get('status')!r}, expected {want}")
        elif want == "shown":
            s = rl.paired(pooled)
            if abs(peer.get("value", math.inf) - s.mean_change) > 0.005 + 1e-9:
                problems.append(f"{at}, peer: mean change {peer.get('value')}, computed "
                                f"{s.mean_change:.4f} over {len(pooled)} pairs")
            if s.d_av is not None and abs(peer.get("d_av", math.inf) - s.d_av) > 0.005 + 1e-9:
                problems.append(f"{at}, peer: d_av {peer.get('d_av')}, computed {s.d_av:.4f}")
    # Comparisons of the modes shown in a theme (at least two), labelled as no proof.
    comparisons = {c.get("theme"): c for c in report.get("comparisons", [])}
    for theme in themes + ["ALL"]:
        shown = [m for m in rl.CLASSES if cells[(theme, m)]["status"] == "shown"]
        c = comparisons.get(theme)
        if len(shown) < 2:
            if c is not None:
                problems.append(f"{where}: comparison for {theme} with modes shown {shown}")
            continue
        if c is None:
            problems.append(f"{where}: no comparison for {theme} (modes shown: {shown})")
            continue
        if "geen bewijs van effect" not in c.get("label", ""):
            problems.append(f"{where}, comparison {theme}: label {c.get('label')!r}")
        modes = c.get("modes", [])
        if [m.get("mode") for m in modes] != shown:
            problems.append(f"{where}, comparison {theme}: modes "
                            f"{[m.get('mode') for m in modes]}, expected {shown}")
            continue
        if [m.get("reference") for m in modes] != [True] + [False] * (len(modes) - 1):
            problems.append(f"{where}, comparison {theme}: reference flags wrong: {modes}")
        ref = modes[0]["adjusted_change"]
        for m in modes:
            if abs(m["difference"] - (m["adjusted_change"] - ref)) > 0.011:
                problems.append(f"{where}, comparison {theme}: {m['mode']} difference "
                                f"{m['difference']} but adjusted {m['adjusted_change']} - {ref}")
            if not m["lo"] <= m["adjusted_change"] <= m["hi"]:
                problems.append(f"{where}, comparison {theme}: {m} outside its interval")
    for theme in comparisons:
        if theme not in themes + ["ALL"]:
            problems.append(f"{where}: comparison for unknown theme {theme!r}")
    return problems


def test_effects(world, reports):
    """GET /v1/effects: a cell per theme x mode with statuses; the shown cells' n, means and
    d_av as computed here; large cells' mean change close to truth.json; the peer figures; the
    comparisons labelled "geen bewijs van effect". A as analyst, every organisation as admin."""
    r = fetch(world, "effects", token=world.tokens["analyst_a"][0])
    assert r.body == reports[("effects", A)][0], "the analyst's effects differ from the admin's"
    problems = []
    for org in world.t.names:
        problems += check_effects(world, reports[("effects", org)][1], org)
    fail_if(problems, "effects")
    # The planted contrast must show where the cells are large: on GELD individual help
    # (planted +1.0) beats online help (+0.3) in the other organisations' pooled pairs.
    cells = {(e["theme"], e["mode"]): e for e in reports[("effects", A)][1]["effects"]}
    best, worst = cells[("GELD", "individual")]["peer"], cells[("GELD", "online")]["peer"]
    assert best.get("value") is not None and worst.get("value") is not None, (best, worst)
    assert best["value"] > worst["value"], f"planted GELD individual > online not seen: " \
                                           f"{best} {worst}"


# --- the command line ------------------------------------------------------------------------

def test_cli_reports(world, reports, tmp_path):
    """`wijkradar report benchmark --out DIR/r.html` writes one file per organisation;
    `--organisation A --format csv` prints the API's CSV; `report effects --format json` parses
    and equals the API's JSON (same seed: the pseudonym key and the publication)."""
    out = tmp_path / "r.html"
    proc = wrtest.run_wr_ok("report", "benchmark", "--period", world.period, "--out", out,
                            "--config", world.cfg)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == sorted(f"r-{o}.html" for o in world.t.names), \
        f"files written: {files}\n{wrtest.describe_run(proc)}"
    for org in world.t.names:
        text = (tmp_path / f"r-{org}.html").read_text()
        assert "<h1>Benchmark en effectmeting</h1>" in text and org in text, text[:400]
        assert not [o for o in world.t.names if o != org and o in text], \
            f"r-{org}.html names another organisation"
    api_html = fetch(world, "benchmark", A, fmt="html").body.decode()
    assert (tmp_path / f"r-{A}.html").read_text() == api_html, "CLI and API HTML differ"
    proc = wrtest.run_wr_ok("report", "benchmark", "--period", world.period, "--organisation", A,
                            "--format", "csv", "--config", world.cfg)
    assert proc.stdout == fetch(world, "benchmark", A, fmt="csv").body.decode(), \
        f"CLI CSV differs from the API's\n{wrtest.describe_run(proc)}"
    assert len(proc.stdout.splitlines()) == 1 + len(rl.INDICATORS), proc.stdout
    proc = wrtest.run_wr_ok("report", "effects", "--period", world.period, "--organisation", A,
                            "--format", "json", "--config", world.cfg)
    assert json.loads(proc.stdout) == reports[("effects", A)][1], "CLI effects JSON differs"
    assert proc.stdout.encode() == reports[("effects", A)][0], "CLI effects bytes differ"
    proc = wrtest.run_wr("report", "benchmark", "--period", "2026-Q9", "--organisation", A,
                         "--config", world.cfg)
    assert proc.returncode == 2 and "usage" in proc.stderr, wrtest.describe_run(proc)
    proc = wrtest.run_wr("report", "benchmark", "--period", world.period, "--config", world.cfg)
    assert proc.returncode == 2, f"no --out and no --organisation\n{wrtest.describe_run(proc)}"


# --- the HTML in a browser -------------------------------------------------------------------

def chromium_or_skip():
    path = shutil.which("chromium") or (CHROMIUM if os.access(CHROMIUM, os.X_OK) else None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (Debian package chromium), and CI is set")
        pytest.skip("chromium is not installed (Debian package chromium)")
    return path


def run_chromium(chromium, *args, cwd):
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-dev-shm-usage", f"--user-data-dir={cwd}/profile", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90, cwd=cwd,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"chromium did not finish in 90 s: {cmd}\n{e.stderr}")
    assert proc.returncode == 0, f"chromium failed\n{wrtest.describe_run(proc)}"
    return proc


def test_html_renders_in_chromium(world, reports, tmp_path):
    """Chromium renders A's HTML report: the h1, the tables, the charts (funnel plots with the
    own point and the peer line, the mode mix with own and peer bars, the effect sizes) and a
    screenshot that is not blank and shows the charts' blue."""
    chromium = chromium_or_skip()
    page = tmp_path / f"report-{A}.html"
    page.write_bytes(fetch(world, "benchmark", token=world.tokens["analyst_a"][0],
                           fmt="html").body)
    proc = run_chromium(chromium, "--dump-dom", page.as_uri(), cwd=tmp_path)
    dom = rl.Dom(proc.stdout)
    assert "Benchmark en effectmeting" in dom.text["h1"], f"no h1:\n{proc.stdout[:1000]}"
    assert len(dom.find("table")) >= 2, "the indicator and effect tables are missing"
    rows = [e for e in dom.elements if e[0] == "tr"]
    assert len(rows) >= 1 + len(rl.INDICATORS), f"only {len(rows)} table rows"
    funnels = dom.charts("funnel")
    inds = rl.indicator_map(reports[("benchmark", A)][1])
    drawable = [i for i in inds.values() if i.get("funnel") and
                i["peer"].get("value") is not None]
    assert funnels, "no svg.chart.funnel"
    assert len(funnels) <= len(drawable), (len(funnels), len(drawable))
    for k, els in enumerate(funnels):
        assert any(t == "circle" and "own" in a.get("class", "").split() for t, a in els), \
            f"funnel {k} has no circle.own: {els}"
        assert any(t == "line" and "peer" in a.get("class", "").split() for t, a in els), \
            f"funnel {k} has no line.peer: {els}"
    mix = dom.charts("mix")
    assert len(mix) == 1, f"{len(mix)} svg.chart.mix"
    classes = [(t, a.get("class", "")) for t, a in mix[0]]
    assert ("rect", "own") in classes and ("rect", "peer") in classes, classes
    effects = dom.charts("effects")
    assert len(effects) == 1, f"{len(effects)} svg.chart.effects"
    estimates = [a for t, a in effects[0] if t == "rect" and a.get("class") == "estimate"]
    shown = [e for e in reports[("effects", A)][1]["effects"]
             if e["theme"] == "ALL" and e.get("d_av")]
    assert estimates and len(estimates) == min(len(shown), 6), (len(estimates), len(shown))
    # A screenshot: not blank, with the charts' blue (#1565c0) somewhere.
    shot = tmp_path / "shot.png"
    run_chromium(chromium, f"--screenshot={shot}", "--window-size=1000,1800",
                 "--hide-scrollbars", page.as_uri(), cwd=tmp_path)
    assert shot.exists() and shot.stat().st_size > 20000, \
        f"screenshot missing or tiny: {shot.stat().st_size if shot.exists() else None} bytes"
    width, height, bpp, lines = rl.png_pixels(shot)
    colours = set()
    blue = 0
    for line in lines[::2]:
        for x in range(0, width * bpp, bpp * 2):
            px = tuple(line[x:x + 3])
            colours.add(px)
            blue += abs(px[0] - 0x15) <= 6 and abs(px[1] - 0x65) <= 6 and abs(px[2] - 0xC0) <= 6
    assert len(colours) > 16, f"screenshot has {len(colours)} colours: blank?"
    assert blue > 50, f"only {blue} pixels of the charts' blue: charts not drawn?"


def test_report_reads_are_audited(world):
    """Every read of a report is recorded in audit_read: which token, role and organisation,
    what was asked (resource and target), the request id; never the answer."""
    token, token_id = world.tokens["analyst_a"][0], world.tokens["analyst_a"][1]
    before = world.db.scalar("SELECT count(*) FROM audit_read")
    r = fetch(world, "effects", token=token, fmt="csv")
    rid = r.headers.get("X-Request-Id")
    rows = wrtest.wait_until("the audit row", lambda: world.db.query(
        "SELECT token_id, role, organisation, resource, target FROM audit_read"
        " WHERE request_id = %s", (rid,)) or None)
    assert rows == [(token_id, "analyst", A, "effects",
                     f"organisation={A} period={world.period} instrument=ZRM format=csv")], rows
    assert world.db.scalar("SELECT count(*) FROM audit_read") == before + 1
