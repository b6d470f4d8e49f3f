#!/usr/bin/env python3
"""Pretty-prints API answers for deploy/demo.sh (reads JSON on stdin).

  demo_show.py run      the newest analysis run of GET /v1/analysis/runs
  demo_show.py alert    one alert of GET /v1/alerts/{id}, as a team lead would read it
  demo_show.py state    the state and events of an alert after a PATCH
  demo_show.py first    the id of the first alert of GET /v1/alerts (empty when none)
  demo_show.py done     exit status 0 when the newest run of GET /v1/analysis/runs has ended
"""
import json
import sys


def run(doc):
    r = doc["runs"][0]
    print(f"run {r['id']} of {r['week']}: {r['status']}, {r['series_total']} series, "
          f"{r['series_analysed']} could alert, {r['alerts_raised']} alert(s) raised, "
          f"{r['duration_ms']:.0f} ms")


def alert(a):
    ev = a["evidence"]
    print(f"ALERT {a['id']}: {a['theme_label']} ({a['theme']}) in {a['area_name']} "
          f"({a['area_code']}, {a['area_population']} inwoners)")
    print(f"  {a['observed']} distinct persons in {a['last_week']}, expected {a['expected']}, "
          f"upper bound {a['upperbound']:.0f}, ratio {a['ratio']}, trend {a['trend']}")
    print(f"  weeks above the bound: {a['first_week']} .. {a['last_week']}; this strong by chance "
          f"about once in {a['recurrence_weeks'] / 52:,.0f} years")
    print(f"  method: {ev['description']}")
    for w in ev["weeks"]:
        print(f"    {w['week']}: observed {w['observed']:.0f}, expected {w['expected']:.1f}, "
              f"upper bound {w['upperbound']:.0f}, p {w['pvalue']:.2g}")
    print("  last 12 weeks:", " ".join(f"{s['persons']:.0f}" for s in ev["series"][-12:]))
    print("  what is already there:")
    for i in a["initiatives"]:
        print(f"    - {i['name']} ({i['where']}), contact: {i['contact_role']}")
    if not a["initiatives"]:
        print("    (no initiative registered for this theme here)")


def state(a):
    if "error" in a:
        print(f"not changed: {a['error']} (a demo run before did it already)")
        return
    events = ", ".join(e["kind"] + (" -> " + e["to"] if e["to"] else "") for e in a["events"])
    print(f"state: {a['state']} | events: {events}")


def done(doc):
    sys.exit(0 if doc["runs"] and doc["runs"][0]["status"] != "running" else 1)


def first(doc):
    print(doc["alerts"][0]["id"] if doc["alerts"] else "")


if __name__ == "__main__":
    {"run": run, "alert": alert, "state": state, "first": first, "done": done}[sys.argv[1]](json.load(sys.stdin))
