"""Shared helpers for the alert delivery end-to-end tests (test_delivery.py, docs/delivery.md).

The tests need alerts, not detection: a module builds one small *template* database (schema,
the Leeuwarden wijken, tokens) and each test gets a copy of it. Alerts are inserted with SQL,
the alert row and its alert_event in one transaction, as a weekly run does; the outbox trigger
of sql/004_delivery.sql then writes the deliveries. A World bundles one copy with its daemon,
the webhook receivers and SMTP sinks of receivers.py, and the tokens.
"""

import contextlib
import datetime
import json
import time
from pathlib import Path

import psycopg2

import detectlib as dl
import ingestlib as il
import receivers as rc
import wrtest

A, B = dl.ORG_A, dl.ORG_B
AREA_YEAR = 2024
AREA_NAMES = {"WK008010": "Binnenstad", "WK008011": "Potmargezone", "WK008020": "Oud-Oost",
              "WK008030": "Sonnenborgh e.o.", "WK008031": "Westeinde e.o.",
              "WK008040": "Huizum-West"}
THEME_LABELS = {"EENZAAM": "Eenzaamheid en sociaal netwerk", "GELD": "Geldzaken en schulden",
                "MANTELZORG": "Mantelzorg", "WONEN": "Wonen"}
EVENT_TYPES = ["alert.raised", "alert.escalated", "alert.state_changed"]
PUBLIC_BASE_URL = "https://wijkradar.example.nl"
SMTP_FROM = "wijkradar@test.invalid"

TOKEN_SPECS = {
    "teamlead_a": ("teamlead", A, None), "teamlead_b": ("teamlead", B, None),
    "analyst_a": ("analyst", A, None), "source_a": ("source", A, dl.SOURCE),
    "admin": ("admin", A, None),
}

# Fast delivery for tests: quick polls, short timeouts and back-off, three attempts.
TIMEOUT_S = 2
FAST = {
    "delivery": {"poll_interval_ms": "100", "timeout_s": str(TIMEOUT_S),
                 "backoff_base_ms": "200", "backoff_max_s": "1", "max_attempts": "3",
                 "allow_http": "true", "allow_private_networks": "true",
                 "public_base_url": PUBLIC_BASE_URL},
    "detect": {"schedule": "false"},
    "daemon": {"shutdown_grace_s": "3"},
}

# How long a test watches for something that must NOT happen (a repeat, a stray delivery):
# several poll intervals and more than the longest back-off of FAST.
QUIET_S = 1.5
# Bound of a wait for something that must happen soon.
WAIT_S = 15

DELIVERY_COLUMNS = ("id", "msg_id", "subscription_id", "organisation", "alert_id", "event_id",
                    "type", "payload", "state", "attempts", "next_attempt_at", "lease_until",
                    "lease_token", "last_attempt_at", "last_status", "last_error",
                    "created_at", "delivered_at", "dead_at")


def merge(*layers):
    """{section: {key: value}} layers merged left to right (None values drop a key later)."""
    out = {}
    for layer in layers:
        for section, keys in (layer or {}).items():
            out.setdefault(section, {}).update(keys)
    return out


# --- the template ----------------------------------------------------------------------------

@contextlib.contextmanager
def template(pg, tmp):
    """A migrated database with the wijken of 2024 and the tokens of TOKEN_SPECS:
    yields namespace(db, tokens {key: (token, id)})."""
    with dl.scratch_database(pg) as database:
        cfg = dl.write_config(Path(tmp) / "template.conf", database)
        dl.prepare(cfg)
        yield dl.ns(db=database, tokens=dl.tokens(cfg, TOKEN_SPECS))


# --- alerts and events in SQL ----------------------------------------------------------------

def last_monday():
    """The Monday of the last complete ISO week."""
    return il.monday(dl.last_complete_week())


def connect(db):
    """A psycopg2 connection to db with explicit transactions (autocommit off)."""
    conn = psycopg2.connect(db.conninfo)
    conn.autocommit = False
    return conn


@contextlib.contextmanager
def transaction(db, conn=None):
    """A cursor in a transaction that commits at the end (rolls back on an exception). With
    conn, the caller's connection is used and left open, and nothing is committed."""
    if conn is not None:
        with conn.cursor() as cur:
            yield cur
        return
    conn = connect(db)
    try:
        with conn.cursor() as cur:
            yield cur
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()


def insert_alert(cur, org, area, theme, observed=12, expected=4.0, method="farrington"):
    """Inserts an alert and its 'raised' event with cursor cur; returns (alert id, event id)."""
    last = last_monday()
    first = last - datetime.timedelta(weeks=1)
    upper = expected * 2.0
    evidence = {"weeks": [{"week": dl.last_complete_week(), "observed": observed,
                           "expected": expected, "upperbound": upper}],
                "note": "inserted by test_delivery"}
    cur.execute(
        "INSERT INTO alert (organisation, area_year, area_code, theme, method, first_week,"
        " last_week, observed, expected, upperbound, ratio, pvalue, recurrence_weeks, strength,"
        " trend, evidence) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0.001, 52,"
        " %s, 'rising', %s::jsonb) RETURNING id",
        (org, AREA_YEAR, area, theme, method, first, last, observed, expected, upper,
         observed / expected, observed / upper, json.dumps(evidence)))
    alert_id = cur.fetchone()[0]
    return alert_id, insert_event(cur, alert_id, "raised")


def insert_event(cur, alert_id, kind, actor="analysis run 999"):
    """Inserts an alert_event of kind for alert_id; returns its id."""
    cur.execute("INSERT INTO alert_event (alert_id, kind, actor) VALUES (%s, %s, %s)"
                " RETURNING id", (alert_id, kind, actor))
    return cur.fetchone()[0]


def raise_alert(db, org, area, theme, observed=12, expected=4.0, conn=None):
    """A new alert with its 'raised' event in one transaction (committed unless conn is
    given); returns (alert id, event id)."""
    with transaction(db, conn) as cur:
        return insert_alert(cur, org, area, theme, observed, expected)


def raise_alerts(db, specs):
    """Several alerts [(org, area, theme)] in ONE transaction; returns [(alert id, event id)]."""
    with transaction(db) as cur:
        return [insert_alert(cur, *spec) for spec in specs]


def escalate(db, alert_id, observed, conn=None):
    """A later run counted more persons: UPDATE the alert and INSERT an 'escalated' event, in
    one transaction; returns the event id."""
    with transaction(db, conn) as cur:
        cur.execute("UPDATE alert SET observed = %s, ratio = %s / expected, updated_at = now()"
                    " WHERE id = %s", (observed, observed, alert_id))
        return insert_event(cur, alert_id, "escalated")


def update_quietly(db, alert_id, conn=None):
    """A later run without more persons: an 'updated' event (recorded, never sent)."""
    with transaction(db, conn) as cur:
        cur.execute("UPDATE alert SET updated_at = now() WHERE id = %s", (alert_id,))
        return insert_event(cur, alert_id, "updated")


# --- the database's view ---------------------------------------------------------------------

def delivery_rows(db, where="true", params=None):
    """delivery rows as dicts, by id."""
    rows = db.query(f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM delivery WHERE {where}"
                    " ORDER BY id", params)
    return [dict(zip(DELIVERY_COLUMNS, r)) for r in rows]


def describe_rows(rows):
    keys = ("id", "msg_id", "subscription_id", "alert_id", "type", "state", "attempts",
            "last_status", "last_error", "next_attempt_at", "lease_until")
    return "\n".join("  " + " ".join(f"{k}={r[k]!r}" for k in keys) for r in rows) or \
        "  (no deliveries)"


# --- one test's world ------------------------------------------------------------------------

class World:
    """A copy of the template with (once start() ran) a daemon, plus receivers and sinks that
    close() shuts down (before the conftest fixture stops the daemon)."""

    def __init__(self, tmpl, db, make_config, daemon_factory, tmp_path, certs):
        self.tokens = tmpl.tokens
        self.db = db
        self.make_config = make_config
        self.daemon_factory = daemon_factory
        self.tmp_path = Path(tmp_path)
        self.certs = certs
        self.d = None
        self.daemons = []
        self.cfg = None
        self.overrides = None
        self._closers = []

    # setup

    def config(self, overrides=None, smtp=None, ca_file=None):
        """Writes the config: FAST, the SMTP sink's URL when given, ca_file, overrides."""
        layers = [FAST]
        if smtp is not None:
            layers.append({"smtp": {"url": smtp.url, "from": SMTP_FROM}})
        if ca_file is not None:
            layers.append({"delivery": {"ca_file": str(ca_file)}})
        layers.append(overrides)
        self.overrides = merge(*layers)
        self.cfg = self.make_config(self.overrides)
        return self.cfg

    def start(self, overrides=None, smtp=None, ca_file=None):
        """Writes the config and starts a daemon on it (ready: /readyz 200)."""
        self.config(overrides, smtp, ca_file)
        return self.serve()

    def serve(self):
        """Starts another daemon on the current config."""
        self.d = dl.serve(self.daemon_factory, self.cfg)
        self.daemons.append(self.d)
        return self.d

    def webhook(self, https=False, trusted=True):
        """A new WebhookReceiver (HTTPS with the trusted or the untrusted certificate)."""
        cert = None
        if https:
            cert = self.certs.trusted if trusted else self.certs.untrusted
        r = rc.WebhookReceiver(cert=cert)
        self._closers.append(r.close)
        return r

    def smtp(self, starttls=False, require_starttls=False):
        """A new SmtpSink, offering STARTTLS with the trusted certificate when asked."""
        sink = rc.SmtpSink(cert=self.certs.trusted if starttls else None,
                           require_starttls=require_starttls)
        self._closers.append(sink.close)
        return sink

    def close(self):
        for close in reversed(self._closers):
            try:
                close()
            except Exception:  # noqa: BLE001 - teardown goes on
                pass
        self._closers = []

    # tokens

    def tok(self, key):
        return self.tokens[key][0]

    def tok_id(self, key):
        return self.tokens[key][1]

    # diagnostics

    def stderr(self):
        return "\n".join(f"--- {d.name} stderr ---\n{wrtest.tail(d.stderr(), 4000)}"
                         for d in self.daemons) or "(no daemon)"

    def describe(self, *receivers):
        parts = [f"--- deliveries ---\n{describe_rows(delivery_rows(self.db))}"]
        parts += [f"--- receiver ---\n{r.describe()}" for r in receivers]
        parts.append(self.stderr())
        return "\n".join(parts)

    # HTTP

    def call(self, method, path, key=None, body=None):
        return dl.call(self.d, method, path, self.tok(key) if key else None, body)

    def subscribe(self, target=None, key="teamlead_a", **fields):
        """POST /v1/subscriptions for a WebhookReceiver or an e-mail address (str) with the
        extra fields; asserts 201; gives the receiver its secret; returns the reply."""
        body = dict(fields)
        if isinstance(target, rc.WebhookReceiver):
            body.setdefault("channel", "webhook")
            body.setdefault("url", target.url)
        elif isinstance(target, str):
            body.setdefault("channel", "email")
            body.setdefault("email", target)
        r = self.call("POST", "/v1/subscriptions", key, body)
        assert r.status == 201, f"POST /v1/subscriptions {body}\n{r.describe()}\n{self.stderr()}"
        sub = dl.reply(r, 201)
        if isinstance(target, rc.WebhookReceiver):
            target.secret = sub.get("secret")
        return sub

    def deliveries(self, query="", key="admin"):
        """GET /v1/deliveries[?query] -> the reply (asserts 200)."""
        r = self.call("GET", "/v1/deliveries" + (f"?{query}" if query else ""), key)
        assert r.status == 200, f"GET /v1/deliveries?{query}\n{r.describe()}\n{self.stderr()}"
        return dl.reply(r, 200)

    def metrics(self):
        return self.d.metrics()

    def counter(self, name, **labels):
        return il.counter(self.metrics(), name, **labels)

    # waits

    def wait_rows(self, what, predicate, where="true", params=None, timeout=WAIT_S,
                  receivers=()):
        """Waits until predicate(delivery rows matching where) is true; returns the rows."""
        box = {}

        def check():
            box["rows"] = delivery_rows(self.db, where, params)
            return predicate(box["rows"])
        wrtest.wait_until(what, check, timeout, lambda: self.describe(*receivers))
        return box["rows"]

    def wait_state(self, delivery_id, state, timeout=WAIT_S, receivers=()):
        """Waits until delivery delivery_id is in state; returns its row."""
        return self.wait_rows(f"delivery {delivery_id} to be {state}",
                              lambda rows: rows and rows[0]["state"] == state,
                              "id = %s", (delivery_id,), timeout, receivers)[0]

    def wait_counter(self, name, value, timeout=WAIT_S, **labels):
        """Waits until the counter name{labels} reaches value (at least); returns it."""
        box = {}

        def check():
            box["v"] = self.counter(name, **labels)
            return box["v"] >= value
        wrtest.wait_until(f"{name}{labels} >= {value}", check, timeout,
                          lambda: f"last value {box.get('v')}\n{self.stderr()}")
        return box["v"]

    def quiet(self, seconds=QUIET_S):
        """Lets the daemon run for a while, so that a test can check nothing more happened."""
        time.sleep(seconds)


def certs(tmp):
    """Two self-signed certificates: trusted (named in delivery.ca_file) and untrusted."""
    return dl.ns(trusted=rc.make_cert(tmp, "trusted"), untrusted=rc.make_cert(tmp, "untrusted"))
