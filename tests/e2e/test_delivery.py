"""Alert delivery (docs/delivery.md): subscriptions, the transactional outbox, Standard Webhooks
signed webhooks over HTTP and HTTPS, e-mail over SMTP (STARTTLS), retries and dead letters,
restarts mid-delivery, slow receivers, scope, the pull feed GET /v1/alerts?since= and the
delivery metrics.

Alerts are inserted with SQL (deliverylib.py), so no detection run is needed: the alert row and
its alert_event in one transaction, as a weekly run writes them. The receivers of receivers.py
check signatures with their own implementation. The tests that start with test_receiver_ test
those doubles themselves and need neither PostgreSQL nor the daemon.
"""

import base64
import email.utils
import http.client
import re
import smtplib
import threading
import time
from email.message import EmailMessage

import pytest

import deliverylib as dv
import detectlib as dl
import ingestlib as il
import receivers as rc
import wrtest

A, B = dv.A, dv.B
OUD_OOST, BINNENSTAD = "WK008020", "WK008010"
SECRET_RE = re.compile(r"^whsec_[A-Za-z0-9+/]{43}=$")
RFC3339_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
                        r"(Z|[+-][0-9]{2}:[0-9]{2})$")

# The published example of the Standard Webhooks specification.
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TIMESTAMP = 1614265330
SW_BODY = b'{"test": 2432232314}'
SW_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return dv.certs(tmp_path_factory.mktemp("delivery-certs"))


@pytest.fixture(scope="module")
def template(pg, tmp_path_factory):
    with dv.template(pg, tmp_path_factory.mktemp("delivery-template")) as t:
        yield t


@pytest.fixture
def w(template, certs, db, make_config, daemon, tmp_path):
    """A fresh copy of the template; the test starts its daemon with w.start(...). Receivers
    and sinks are closed before the daemon fixture stops the daemons."""
    dl.clone_into(db, template.db.name)
    world = dv.World(template, db, make_config, daemon, tmp_path, certs)
    yield world
    world.close()


@pytest.fixture(scope="module")
def scratch(template, certs, pg, tmp_path_factory):
    """One copy with a daemon for requests that must be refused and change nothing (each test
    checks that): delivery off, plain http:// refused, no smtp.url."""
    tmp = tmp_path_factory.mktemp("delivery-scratch")
    with dl.scratch_database(pg, prefix="wr_e2e_dscratch_") as database:
        dl.drop_database(pg, database.name)
        dl.create_database(pg, database.name, template.db.name)
        cfg = dl.write_config(tmp / "scratch.conf", database,
                              dv.merge(dv.FAST, {"delivery": {"allow_http": "false",
                                                              "enabled": "false"}}))
        with dl.running_daemon(cfg, tmp, name="wijkradar-scratch") as d:
            world = dv.World(template, database, None, None, tmp, certs)
            world.d, world.cfg = d, cfg
            world.daemons.append(d)
            yield world


# --- the test doubles themselves -------------------------------------------------------------

def test_receiver_signature_vector():
    """The verifier against the published Standard Webhooks example, and that it can fail."""
    assert rc.signature(SW_SECRET, SW_ID, SW_TIMESTAMP, SW_BODY) == SW_SIGNATURE
    assert rc.verify_signature(SW_SECRET, SW_ID, str(SW_TIMESTAMP), SW_BODY, SW_SIGNATURE)
    # Several signatures, one of them right; another version is ignored.
    assert rc.verify_signature(SW_SECRET, SW_ID, str(SW_TIMESTAMP), SW_BODY,
                               "v1,Zm9vYmFy " + SW_SIGNATURE)
    other_secret = "whsec_" + "QUJD" * 10 + "QUI="
    for bad in [(SW_SECRET, SW_ID, str(SW_TIMESTAMP), SW_BODY + b" ", SW_SIGNATURE),
                (SW_SECRET, SW_ID, str(SW_TIMESTAMP + 1), SW_BODY, SW_SIGNATURE),
                (SW_SECRET, SW_ID + "x", str(SW_TIMESTAMP), SW_BODY, SW_SIGNATURE),
                (other_secret, SW_ID, str(SW_TIMESTAMP), SW_BODY, SW_SIGNATURE),
                (SW_SECRET, SW_ID, str(SW_TIMESTAMP), SW_BODY, "v2" + SW_SIGNATURE[2:]),
                (SW_SECRET, SW_ID, str(SW_TIMESTAMP), SW_BODY, SW_SIGNATURE[3:]),
                (SW_SECRET, SW_ID, str(SW_TIMESTAMP), SW_BODY, ""),
                ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", SW_ID, str(SW_TIMESTAMP), SW_BODY,
                 SW_SIGNATURE)]:
        assert not rc.verify_signature(*bad), f"verified although wrong: {bad}"


def _post(receiver, body=b'{"x": 1}', context=None, timeout=5):
    """A signed POST to the receiver; returns the status or the transport exception."""
    if receiver.cert:
        conn = http.client.HTTPSConnection("127.0.0.1", receiver.port, timeout=timeout,
                                           context=context or receiver.cert.client_context())
    else:
        conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=timeout)
    ts = str(int(time.time()))
    try:
        conn.request("POST", "/hook", body=body, headers={
            "Content-Type": "application/json", "webhook-id": SW_ID, "webhook-timestamp": ts,
            "webhook-signature": rc.signature(SW_SECRET, SW_ID, ts, body)})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (OSError, http.client.HTTPException) as e:
        return e
    finally:
        conn.close()


def test_receiver_webhook_script(certs):
    """Scripted answers in order, then the default; hang until released; reset; HTTPS with a
    trusted certificate works and an untrusted one is a recorded handshake failure."""
    with rc.WebhookReceiver(cert=certs.trusted, secret=SW_SECRET) as r:
        r.script(rc.answer(500), rc.answer(429, {"Retry-After": "2"}), rc.reset(), rc.hang())
        assert _post(r) == 500
        assert _post(r) == 429
        assert isinstance(_post(r), (ConnectionError, http.client.HTTPException))
        out = []
        t = threading.Thread(target=lambda: out.append(_post(r)))
        t.start()
        r.wait_for(4, timeout=5)
        time.sleep(0.3)
        assert out == [], "a hanging request was answered"
        r.release()
        t.join(5)
        assert out and not isinstance(out[0], int), out
        assert _post(r, b"y" * 5000) == 200
        reqs = r.wait_for(5)
        assert [q.verified for q in reqs] == [True] * 5
        assert r.ids() == [SW_ID] * 5
        assert reqs[4].body == b"y" * 5000
        r.secret = "whsec_" + "QUJD" * 10 + "QUI="
        assert _post(r) == 200
        assert r.requests[-1].verified is False
        assert isinstance(_post(r, context=certs.untrusted.client_context()), OSError)
        r.wait_tls_failures(1)
        assert r.count() == 6, r.describe()


def test_receiver_smtp_sink(certs):
    """The SMTP sink: refusals at RCPT and DATA as scripted, then a message over STARTTLS."""
    with rc.SmtpSink(cert=certs.trusted) as sink:
        sink.fail_next("550 5.1.1 no such user", 1, "rcpt")
        sink.fail_next("451 4.3.0 try later", 1, "data")
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = "a@example.test", "b@example.test", "Nieuw patroon"
        m.set_content("tekst")
        m.add_alternative("<p>tekst</p>", subtype="html")
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as c:
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                c.send_message(m)
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as c:
            with pytest.raises(smtplib.SMTPDataError) as e:
                c.send_message(m)
            assert e.value.smtp_code == 451
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as c:
            c.starttls(context=certs.trusted.client_context())
            c.send_message(m)
        msgs = sink.wait_for(1)
        assert len(msgs) == 1 and msgs[0].tls is True, sink.describe()
        assert msgs[0].rcpt_tos == ["b@example.test"]
        assert msgs[0].message.get_content_type() == "multipart/alternative"
        assert set(rc.parts(msgs[0].message)) == {"text/plain", "text/html"}
        assert [(a.stage, a.outcome[:3]) for a in sink.attempts] == \
            [("rcpt", "550"), ("data", "451"), ("data", "acc")], sink.attempts
    with rc.SmtpSink() as plain:
        with smtplib.SMTP("127.0.0.1", plain.port, timeout=5) as c:
            c.send_message(m)
        assert plain.wait_for(1)[0].tls is False


# --- helpers ---------------------------------------------------------------------------------

def only(items, what="items"):
    assert len(items) == 1, f"expected exactly one of {what}: {items}"
    return items[0]


def check_signed(w, req, receiver):
    """The Standard Webhooks headers of one request, checked independently."""
    h = req.headers
    assert rc.MSG_ID_RE.match(h.get("webhook-id") or ""), \
        f"webhook-id {h.get('webhook-id')!r} is not msg_ + 32 hex digits\n{req.describe()}"
    ts = h.get("webhook-timestamp") or ""
    assert re.fullmatch(r"[0-9]{9,11}", ts), f"webhook-timestamp {ts!r}\n{req.describe()}"
    assert abs(int(ts) - req.time) <= 60, \
        f"webhook-timestamp {ts} is not the time of the attempt ({req.time:.0f})"
    assert req.verified is True, (f"signature does not verify with the secret of the "
                                  f"subscription\n{req.describe()}\n{w.stderr()}")
    assert h.get("content-type", "").startswith("application/json"), req.describe()
    assert h.get("user-agent", "").startswith("wijkradar/"), req.describe()
    assert req.method == "POST" and req.path == "/hook", req.describe()


def sub_rows(w):
    return w.db.query("SELECT id, organisation, channel, target, active FROM subscription"
                      " ORDER BY id")


# --- a. a raised alert reaches a webhook -----------------------------------------------------

def test_raised_alert_reaches_webhook(w):
    w.start()
    r = w.webhook()
    sub = w.subscribe(r)
    assert SECRET_RE.match(sub.get("secret") or ""), f"secret is not whsec_ + base64: {sub}"
    aid, eid = dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM", observed=14)

    req = r.wait_for(1, describe=w.describe)[0]
    check_signed(w, req, r)
    body = req.json()
    assert body["type"] == "alert.raised", body
    assert RFC3339_RE.match(body.get("timestamp", "")), body.get("timestamp")
    alert, event, links = body["data"]["alert"], body["data"]["event"], body["data"]["links"]
    assert (alert["id"], alert["organisation"], alert["area_code"], alert["area_name"],
            alert["theme"], alert["theme_label"], alert["state"], alert["observed"]) == \
        (aid, A, OUD_OOST, "Oud-Oost", "EENZAAM", dv.THEME_LABELS["EENZAAM"], "new", 14), alert
    assert (event["id"], event["kind"], event["from"], event["to"]) == \
        (eid, "raised", None, None), event
    assert links["alert"] == f"{dv.PUBLIC_BASE_URL}/v1/alerts/{aid}", links
    assert links["alert"].endswith(f"/v1/alerts/{aid}")
    # data.alert has the fields of GET /v1/alerts/{id}, without the events.
    detail = dl.reply(w.call("GET", f"/v1/alerts/{aid}", "teamlead_a"), 200)
    missing = set(detail) - {"events"} - set(alert)
    assert not missing, f"data.alert lacks fields of GET /v1/alerts/{aid}: {sorted(missing)}"
    assert "events" not in alert, alert.keys()

    row = w.wait_state(only(dv.delivery_rows(w.db), "deliveries")["id"], "delivered",
                       receivers=[r])
    listed = w.deliveries(key="teamlead_a")
    d = only(listed["deliveries"], "GET /v1/deliveries")
    assert listed["total"] == 1, listed
    assert d["msg_id"] == req.msg_id == row["msg_id"], (d, req.msg_id)
    assert (d["id"], d["subscription_id"], d["organisation"], d["alert_id"], d["event_id"],
            d["type"], d["state"], d["attempts"], d["last_status"]) == \
        (row["id"], sub["id"], A, aid, eid, "alert.raised", "delivered", 1, 200), d
    assert d["delivered_at"] and d["dead_at"] is None, d

    w.quiet()
    assert r.count() == 1, f"expected exactly one POST\n{r.describe()}"
    assert w.wait_counter("wijkradar_deliveries_sent_total", 1, channel="webhook") == 1
    samples = w.metrics()
    assert wrtest.metric(samples, "wijkradar_delivery_latency_seconds_count",
                         channel="webhook") == 1
    assert wrtest.metric(samples, "wijkradar_deliveries_in_flight") == 0


# --- b. HTTPS: trusted and untrusted certificates --------------------------------------------

def test_https_with_ca_file_and_an_untrusted_certificate(w, certs):
    w.start({"delivery": {"max_attempts": "20"}}, ca_file=certs.trusted.cert)
    good, bad = w.webhook(https=True), w.webhook(https=True, trusted=False)
    s_good, s_bad = w.subscribe(good), w.subscribe(bad)
    aid, _ = dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM")

    req = good.wait_for(1, describe=w.describe)[0]
    check_signed(w, req, good)
    assert req.json()["data"]["alert"]["id"] == aid
    w.wait_rows("the delivery to the trusted receiver to be delivered",
                lambda rows: rows and rows[0]["state"] == "delivered",
                "subscription_id = %s", (s_good["id"],), receivers=[good])

    bad.wait_tls_failures(2, timeout=dv.WAIT_S)
    w.wait_counter("wijkradar_deliveries_failed_total", 2, channel="webhook", reason="tls")
    assert w.wait_counter("wijkradar_deliveries_retried_total", 1, channel="webhook") >= 1
    row = only(dv.delivery_rows(w.db, "subscription_id = %s", (s_bad["id"],)))
    assert row["state"] == "pending" and row["attempts"] >= 1 and row["delivered_at"] is None, \
        f"the untrusted receiver's delivery must stay pending and be retried\n{w.describe(bad)}"
    assert bad.requests == [], f"a request passed an untrusted certificate\n{bad.describe()}"
    assert w.counter("wijkradar_deliveries_sent_total", channel="webhook") == 1


# --- c. e-mail -------------------------------------------------------------------------------

def test_email_over_starttls(w, certs):
    sink = w.smtp(starttls=True)
    w.start(smtp=sink, ca_file=certs.trusted.cert)
    to = "teamlead-noord@wijk.test"
    sub = w.subscribe(to)
    assert "secret" not in sub or sub["secret"] is None, sub
    assert sub["channel"] == "email" and sub["email"] == to, sub
    aid, _ = dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM", observed=14)

    msg = sink.wait_for(1, describe=w.describe)[0]
    row = w.wait_state(only(dv.delivery_rows(w.db))["id"], "delivered")
    m = msg.message
    assert msg.tls is True, f"the session did not use STARTTLS although offered\n{w.stderr()}"
    assert msg.mail_from == dv.SMTP_FROM and msg.rcpt_tos == [to], msg.describe()
    assert to in str(m["To"]) and dv.SMTP_FROM in str(m["From"]), msg.describe()
    p = rc.parts(m)
    assert set(p) == {"text/plain", "text/html"}, f"parts {list(p)}\n{msg.describe()}"
    subject = str(m["Subject"])
    assert "Oud-Oost" in subject and "Eenzaamheid" in subject, subject
    assert row["msg_id"] in str(m["Message-ID"]), (m["Message-ID"], row["msg_id"])
    link = f"{dv.PUBLIC_BASE_URL}/v1/alerts/{aid}"
    for ctype in ("text/plain", "text/html"):
        assert "Oud-Oost" in p[ctype] and "14" in p[ctype] and link in p[ctype], \
            f"{ctype} part lacks the area, the count or the link:\n{p[ctype]}"
    assert "<" in p["text/html"], p["text/html"]
    w.quiet()
    assert len(sink.messages) == 1 and len(sink.attempts) == 1, sink.describe()
    assert w.wait_counter("wijkradar_deliveries_sent_total", 1, channel="email") == 1
    # The message itself is multipart/alternative (not a multipart/mixed around one).
    structure = [part.get_content_type() for part in m.walk()]
    assert m.get_content_type() == "multipart/alternative", \
        f"message structure {structure}, expected multipart/alternative at the top\n" \
        f"{msg.describe()}"


def test_email_550_is_dead_at_once(w):
    sink = w.smtp()
    w.start(smtp=sink)
    w.subscribe("niemand@wijk.test")
    sink.fail_next("550 5.1.1 no such user", 1, "rcpt")
    dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM")
    row = w.wait_state(only(dv.delivery_rows(w.db))["id"], "dead")
    w.quiet()
    assert [a.outcome for a in sink.attempts] == ["550 5.1.1 no such user"], sink.describe()
    assert sink.messages == []
    row = only(dv.delivery_rows(w.db))
    assert row["state"] == "dead" and row["attempts"] == 1 and row["dead_at"], row
    assert row["last_status"] == 550 or "550" in (row["last_error"] or ""), row
    assert w.wait_counter("wijkradar_deliveries_dead_lettered_total", 1, channel="email") == 1
    assert w.counter("wijkradar_deliveries_failed_total", channel="email",
                     reason="smtp_5xx") == 1
    assert w.counter("wijkradar_deliveries_retried_total", channel="email") == 0


def test_email_451_is_retried_then_delivered(w):
    sink = w.smtp()
    w.start(smtp=sink)
    w.subscribe("teamlead@wijk.test")
    sink.fail_next("451 4.3.0 try later", 2, "data")
    dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM")
    row = w.wait_state(only(dv.delivery_rows(w.db))["id"], "delivered")
    assert row["attempts"] == 3, f"delivered on attempt {row['attempts']}, expected 3\n{row}"
    assert [a.outcome[:3] for a in sink.attempts] == ["451", "451", "acc"], sink.describe()
    msg = only(sink.messages)
    assert row["msg_id"] in str(msg.message["Message-ID"])
    assert w.wait_counter("wijkradar_deliveries_retried_total", 2, channel="email") == 2
    assert w.counter("wijkradar_deliveries_failed_total", channel="email",
                     reason="smtp_4xx") == 2


@pytest.mark.parametrize("mode, offered, sent, tls", [
    ("require", False, False, None),
    ("off", True, True, False),
    ("require", True, True, True),
])
def test_starttls_modes(w, certs, mode, offered, sent, tls):
    """smtp.starttls: require refuses to send without STARTTLS, off never upgrades."""
    sink = w.smtp(starttls=offered)
    w.start({"smtp": {"starttls": mode}}, smtp=sink, ca_file=certs.trusted.cert)
    w.subscribe("teamlead@wijk.test")
    dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM")
    row = w.wait_state(only(dv.delivery_rows(w.db))["id"], "delivered" if sent else "dead")
    if sent:
        msg = only(sink.messages)
        assert msg.tls is tls, f"starttls = {mode}: session tls={msg.tls}\n{msg.describe()}"
    else:
        assert sink.attempts == [], \
            f"starttls = require sent MAIL FROM without TLS\n{sink.describe()}"
        assert row["attempts"] == 3, row
        assert w.counter("wijkradar_deliveries_failed_total", channel="email") == 3


# --- d. retries ------------------------------------------------------------------------------

def test_5xx_is_retried_with_the_same_id(w):
    w.start()
    r = w.webhook()
    r.script(rc.answer(500), rc.answer(503))
    w.subscribe(r)
    dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM")
    reqs = r.wait_for(3, describe=w.describe)
    row = w.wait_state(only(dv.delivery_rows(w.db))["id"], "delivered", receivers=[r])
    assert row["attempts"] == 3 and row["last_status"] == 200, row
    assert len(set(r.ids())) == 1 and r.ids()[0] == row["msg_id"], r.describe()
    assert len({q.body for q in reqs}) == 1, "the body changed between attempts"
    for q in reqs:
        check_signed(w, q, r)
    stamps = [int(q.timestamp) for q in reqs]
    assert stamps == sorted(stamps), f"timestamps go back: {stamps}"
    # Equal jitter: at least half of base * 2^(attempt-1) between attempts.
    gaps = [reqs[1].mono - reqs[0].mono, reqs[2].mono - reqs[1].mono]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19, f"retried too soon: gaps {gaps}"
    w.quiet()
    assert r.count() == 3, r.describe()
    assert w.wait_counter("wijkradar_deliveries_retried_total", 2, channel="webhook") == 2
    assert w.counter("wijkradar_deliveries_failed_total", channel="webhook",
                     reason="http_5xx") == 2
    assert w.counter("wijkradar_deliveries_sent_total", channel="webhook") == 1


@pytest.mark.parametrize("status, retry_after, reason", [
    (429, "2", "http_429"),
    (503, "date+3", "http_5xx"),
])
def test_retry_after_sets_the_delay(w, status, retry_after, reason):
    """Retry-After in seconds or as an HTTP date wins over the shorter back-off."""
    w.start()
    r = w.webhook()
    w.subscribe(r)
    if retry_after == "date+3":
        retry_after = email.utils.formatdate(time.time() + 3, usegmt=True)
        least = 1.5  # one second of rounding, and the time until the first attempt
    else:
        least = 1.9
    r.script(rc.answer(status, {"Retry-After": retry_after}))
    dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM")
    reqs = r.wait_for(2, describe=w.describe)
    gap = reqs[1].mono - reqs[0].mono
    assert gap >= least, f"Retry-After: {retry_after} not honoured: retried after {gap:.2f} s"
    assert gap <= 6, f"retried only after {gap:.2f} s"
    assert reqs[0].msg_id == reqs[1].msg_id
    w.wait_state(only(dv.delivery_rows(w.db))["id"], "delivered", receivers=[r])
    assert w.counter("wijkradar_deliveries_failed_total", channel="webhook",
                     reason=reason) == 1


@pytest.mark.parametrize("status, headers, reason", [
    (410, {}, "http_4xx"),
    (400, {}, "http_4xx"),
    (302, {"Location": "/elsewhere"}, "http_3xx"),
])
def test_refusals_are_dead_at_once(w, status, headers, reason):
    w.start()
    r = w.webhook()
    r.default = rc.answer(status, headers)
    w.subscribe(r)
    dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM")
    row = w.wait_state(only(dv.delivery_rows(w.db))["id"], "dead", receivers=[r])
    w.quiet()
    assert r.count() == 1 and r.requests[0].path == "/hook", \
        f"expected exactly one attempt (redirects not followed)\n{r.describe()}"
    row = only(dv.delivery_rows(w.db))
    assert (row["state"], row["attempts"], row["last_status"]) == ("dead", 1, status), row
    assert w.wait_counter("wijkradar_deliveries_dead_lettered_total", 1, channel="webhook") == 1
    assert w.counter("wijkradar_deliveries_failed_total", channel="webhook", reason=reason) == 1
    assert w.counter("wijkradar_deliveries_retried_total", channel="webhook") == 0


def test_reset_and_timeout_are_retried(w):
    """A connection closed without an answer and a receiver slower than timeout_s: both
    retried (reasons network and timeout), then delivered."""
    w.start({"delivery": {"timeout_s": "1"}})
    r = w.webhook()
    r.script(rc.reset(), rc.answer(200, delay=2.5))
    w.subscribe(r)
    dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM")
    row = w.wait_state(only(dv.delivery_rows(w.db))["id"], "delivered", receivers=[r])
    assert row["attempts"] == 3, row
    assert len(set(r.ids())) == 1, r.describe()
    assert w.counter("wijkradar_deliveries_failed_total", channel="webhook",
                     reason="network") == 1
    assert w.counter("wijkradar_deliveries_failed_total", channel="webhook",
                     reason="timeout") == 1


# --- e. dead letters and manual retry --------------------------------------------------------

def test_dead_letter_and_manual_retry(w):
    w.start()
    r = w.webhook()
    r.default = rc.answer(500)
    w.subscribe(r)
    (a1, _), (a2, _) = dv.raise_alerts(w.db, [(A, OUD_OOST, "EENZAAM"),
                                             (A, BINNENSTAD, "GELD")])
    rows = w.wait_rows("both deliveries to be dead",
                       lambda rows: len(rows) == 2 and all(x["state"] == "dead" for x in rows),
                       receivers=[r])
    w.quiet()
    assert r.count() == 6, f"expected 3 attempts for each of 2 deliveries\n{r.describe()}"
    assert all(x["attempts"] == 3 and x["dead_at"] for x in rows), dv.describe_rows(rows)
    d1 = next(x for x in rows if x["alert_id"] == a1)
    d2 = next(x for x in rows if x["alert_id"] == a2)

    for key in ("admin", "teamlead_a"):
        listed = w.deliveries("state=dead", key)
        assert sorted(x["id"] for x in listed["deliveries"]) == [d1["id"], d2["id"]], \
            (key, listed)
        assert all(x["state"] == "dead" for x in listed["deliveries"]), listed
    assert w.deliveries("state=dead", "teamlead_b")["deliveries"] == []
    assert w.deliveries("state=delivered", "admin")["deliveries"] == []
    assert w.wait_counter("wijkradar_deliveries_dead_lettered_total", 2, channel="webhook") == 2

    # Only an admin retries.
    path = f"/v1/deliveries/{d1['id']}"
    dl.reply(w.call("PATCH", path, "teamlead_a", {"state": "pending"}), 403, "forbidden")
    dl.reply(w.call("PATCH", path, "teamlead_b", {"state": "pending"}), 403)
    assert dv.delivery_rows(w.db, "id = %s", (d1["id"],))[0]["state"] == "dead"
    r.default = rc.answer(200)
    got = dl.reply(w.call("PATCH", path, "admin", {"state": "pending"}), 200)
    assert got.get("id", d1["id"]) == d1["id"], got
    row = w.wait_state(d1["id"], "delivered", receivers=[r])
    assert row["attempts"] == 1, f"attempts must start again from zero: {row}"
    assert r.ids().count(d1["msg_id"]) == 4, r.describe()
    assert r.requests[-1].verified is True
    r2 = w.call("PATCH", path, "admin", {"state": "pending"})
    dl.reply(r2, 409)

    # The CLI: list the dead ones, retry one.
    proc = wrtest.run_wr_ok("deliveries", "list", "--config", w.cfg, "--state", "dead")
    assert listed_in(proc.stdout, d2), \
        f"dead delivery {d2['id']} not listed\n{wrtest.describe_run(proc)}"
    assert not listed_in(proc.stdout, d1), \
        f"delivered delivery {d1['id']} listed as dead\n{wrtest.describe_run(proc)}"
    wrtest.run_wr_ok("deliveries", "retry", "--config", w.cfg, d2["id"])
    row = w.wait_state(d2["id"], "delivered", receivers=[r])
    assert row["attempts"] == 1, row
    proc = wrtest.run_wr_ok("deliveries", "list", "--config", w.cfg, "--state", "dead")
    assert not listed_in(proc.stdout, d2), wrtest.describe_run(proc)
    proc = wrtest.run_wr("deliveries", "retry", "--config", w.cfg, "99999999")
    assert proc.returncode != 0, wrtest.describe_run(proc)


def listed_in(text, row):
    """Whether a CLI listing names the delivery: a line starting with its id, or its msg_id."""
    return any(ln.split()[:1] == [str(row["id"])] or row["msg_id"] in ln
               for ln in text.splitlines())


def test_patch_delivery_bad_bodies(w):
    w.start({"delivery": {"enabled": "false"}})
    r = w.webhook()
    w.subscribe(r)
    dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM")
    row = only(dv.delivery_rows(w.db))
    for body in ({"state": "delivered"}, {"state": "bogus"}, {}, "not json", [],
                 {"state": "pending", "x": 1}, {"state": 1}):
        res = w.call("PATCH", f"/v1/deliveries/{row['id']}", "admin", body)
        assert res.status in (400, 422), f"expected 400 or 422 for {body!r}\n{res.describe()}"
        dl.reply(res, res.status)
    for path in ("/v1/deliveries/99999999", "/v1/deliveries/abc"):
        dl.reply(w.call("PATCH", path, "admin", {"state": "pending"}), 404)
    dl.reply(w.call("PATCH", f"/v1/deliveries/{row['id']}", None, {"state": "pending"}), 401)
    assert dv.delivery_rows(w.db) == [row]


# --- f. a daemon killed mid-delivery ---------------------------------------------------------

def test_restart_mid_delivery_sends_again_with_the_same_id(w):
    w.start()
    r = w.webhook()
    r.script(rc.hang())
    w.subscribe(r)
    dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM")
    first = r.wait_for(1, describe=w.describe)[0]
    w.d.kill()  # SIGKILL, during the attempt
    w.serve()
    lease = dv.TIMEOUT_S + 10
    reqs = r.wait_for(2, timeout=lease + 10, describe=w.describe)
    assert reqs[1].msg_id == first.msg_id, r.describe()
    assert reqs[1].json() == first.json()
    assert reqs[1].mono - first.mono >= lease - 1.5, \
        (f"sent again {reqs[1].mono - first.mono:.1f} s later, before the lease of {lease} s "
         f"ended")
    check_signed(w, reqs[1], r)
    row = w.wait_state(only(dv.delivery_rows(w.db))["id"], "delivered", receivers=[r])
    assert row["msg_id"] == first.msg_id


def test_sigterm_lets_an_open_attempt_finish(w):
    w.start()
    r = w.webhook()
    r.script(rc.answer(200, delay=1.0))
    w.subscribe(r)
    dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM")
    r.wait_for(1, describe=w.describe)
    w.d.stop()  # SIGTERM during the attempt; exit status 0
    row = only(dv.delivery_rows(w.db))
    assert row["state"] == "delivered" and row["attempts"] == 1, \
        f"the open attempt was not finished and stored before exit\n{w.describe(r)}"


def test_sigterm_abandons_a_hanging_attempt_to_its_lease(w):
    w.start({"daemon": {"shutdown_grace_s": "1"}, "delivery": {"timeout_s": "20"}})
    r = w.webhook()
    r.script(rc.hang())
    w.subscribe(r)
    dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM")
    r.wait_for(1, describe=w.describe)
    t0 = time.monotonic()
    w.d.stop()
    assert time.monotonic() - t0 < 8, "shutdown waited for the hanging attempt"
    row = only(dv.delivery_rows(w.db))
    assert row["state"] == "pending" and row["delivered_at"] is None, row
    assert w.db.scalar("SELECT lease_until > now() FROM delivery WHERE id = %s",
                       (row["id"],)), f"the lease was not left behind: {row}"


def test_result_lost_while_database_away_is_sent_again(w, pg):
    """The receiver answers 200 while PostgreSQL is down: the result cannot be stored, and
    the delivery must not be lost (at least once)."""
    w.start()
    r = w.webhook()
    go = threading.Event()
    r.script(rc.hang(go, then=rc.answer(200)))
    w.subscribe(r)
    dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM")
    first = r.wait_for(1, describe=w.describe)[0]
    pg.stop("fast")
    try:
        go.set()
        wrtest.wait_until("the answer to be sent", lambda: first.answered_mono is not None,
                          timeout=5)
        time.sleep(0.5)  # the daemon tries to store the result meanwhile
    finally:
        pg.start()
    lease = dv.TIMEOUT_S + 10
    row = w.wait_state(only(dv.delivery_rows(w.db))["id"], "delivered",
                       timeout=lease + 15, receivers=[r])
    assert set(r.ids()) == {row["msg_id"]}, r.describe()
    assert r.count() <= 2, r.describe()


# --- g. a slow receiver does not block the others --------------------------------------------

def test_hanging_subscription_does_not_block_others(w):
    w.start({"delivery": {"timeout_s": "6", "max_in_flight": "4",
                          "max_in_flight_per_subscription": "2"}})
    slow, fast = w.webhook(), w.webhook()
    slow.default = rc.hang()
    w.subscribe(slow)
    s_fast = w.subscribe(fast)
    areas = [BINNENSTAD, "WK008011", OUD_OOST, "WK008030", "WK008031"]
    ids = [a for a, _ in dv.raise_alerts(w.db, [(A, x, "EENZAAM") for x in areas])]
    t0 = time.monotonic()
    reqs = fast.wait_for(5, timeout=4, describe=lambda: w.describe(slow))
    took = time.monotonic() - t0
    assert sorted(q.json()["data"]["alert"]["id"] for q in reqs) == sorted(ids)
    assert slow.count() <= 2, \
        f"more than max_in_flight_per_subscription requests open to one receiver\n" \
        f"{slow.describe()}"
    assert slow.count() >= 1, f"the slow receiver got nothing\n{w.describe(slow)}"
    assert all(q.answered_mono is None for q in slow.requests), slow.describe()
    assert took < 3, f"the fast receiver waited {took:.1f} s for the hanging one"
    assert wrtest.metric(w.metrics(), "wijkradar_deliveries_in_flight") >= 1
    w.wait_rows("the fast receiver's deliveries to be delivered",
                lambda rows: len(rows) == 5 and all(x["state"] == "delivered" for x in rows),
                "subscription_id = %s", (s_fast["id"],))


# --- h. scope --------------------------------------------------------------------------------

def test_subscription_scope_and_roles(w):
    w.start()
    ra, rb = w.webhook(), w.webhook()
    r = w.call("POST", "/v1/subscriptions", "teamlead_a",
               {"channel": "webhook", "url": rb.url, "organisation": B})
    dl.reply(r, 403, "forbidden")
    assert sub_rows(w) == []
    sa = w.subscribe(ra, organisation=A)
    sb = w.subscribe(rb, key="teamlead_b")
    assert (sa["organisation"], sb["organisation"]) == (A, B)
    for method in ("GET", "DELETE"):
        dl.reply(w.call(method, f"/v1/subscriptions/{sb['id']}", "teamlead_a"), 404,
                 "not_found")
    assert [x[4] for x in sub_rows(w)] == [True, True]
    listed = dl.reply(w.call("GET", "/v1/subscriptions", "teamlead_a"), 200)["subscriptions"]
    assert [x["id"] for x in listed] == [sa["id"]], listed
    listed = dl.reply(w.call("GET", "/v1/subscriptions", "admin"), 200)["subscriptions"]
    assert sorted(x["id"] for x in listed) == [sa["id"], sb["id"]], listed
    listed = dl.reply(w.call("GET", f"/v1/subscriptions?organisation={B}", "admin"),
                      200)["subscriptions"]
    assert [x["id"] for x in listed] == [sb["id"]], listed
    # An admin must name the organisation.
    r = w.call("POST", "/v1/subscriptions", "admin", {"channel": "webhook", "url": ra.url})
    assert r.status in (400, 422), r.describe()
    sc = w.subscribe(ra, key="admin", organisation=B, description="via admin")
    assert sc["organisation"] == B
    dl.reply(w.call("DELETE", f"/v1/subscriptions/{sc['id']}", "admin"), 200)
    for key in ("analyst_a", "source_a"):
        dl.reply(w.call("GET", "/v1/subscriptions", key), 403, "forbidden")
        dl.reply(w.call("POST", "/v1/subscriptions", key,
                        {"channel": "webhook", "url": ra.url}), 403, "forbidden")
        dl.reply(w.call("GET", "/v1/deliveries", key), 403, "forbidden")
    dl.reply(w.call("GET", "/v1/subscriptions", None), 401, "unauthorized")
    assert len(sub_rows(w)) == 3

    # A's subscription never gets B's alerts, and the other way round.
    xa, _ = dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM")
    xb, _ = dv.raise_alert(w.db, B, OUD_OOST, "EENZAAM")
    ra.wait_for(1, describe=w.describe)
    rb.wait_for(1, describe=w.describe)
    w.quiet()
    assert [q.json()["data"]["alert"]["id"] for q in ra.requests] == [xa], ra.describe()
    assert [q.json()["data"]["alert"]["id"] for q in rb.requests] == [xb], rb.describe()
    assert {q.json()["data"]["alert"]["organisation"] for q in rb.requests} == {B}
    # Deliveries too are scoped.
    da = w.deliveries(key="teamlead_a")["deliveries"]
    assert [x["alert_id"] for x in da] == [xa], da
    db_ = w.deliveries(key="teamlead_b")["deliveries"]
    assert [x["alert_id"] for x in db_] == [xb], db_
    assert w.deliveries(key="admin")["total"] == 2


# --- i. the outbox is transactional ----------------------------------------------------------

def test_outbox_is_written_in_the_alerts_transaction(w):
    w.start()
    r, other = w.webhook(), w.webhook()
    w.subscribe(r)
    w.subscribe(other, themes=["GELD"])  # does not match EENZAAM

    conn = dv.connect(w.db)
    try:
        with conn.cursor() as cur:
            aid, _ = dv.insert_alert(cur, A, OUD_OOST, "EENZAAM")
            cur.execute("SELECT count(*) FROM delivery WHERE alert_id = %s", (aid,))
            assert cur.fetchone()[0] == 1, "the trigger did not write the delivery"
        conn.rollback()
    finally:
        conn.close()
    assert w.db.scalar("SELECT count(*) FROM delivery") == 0
    assert w.db.scalar("SELECT count(*) FROM alert") == 0
    w.quiet()
    assert r.count() == 0 and other.count() == 0, r.describe()

    conn = dv.connect(w.db)
    try:
        with conn.cursor() as cur:
            aid, eid = dv.insert_alert(cur, A, OUD_OOST, "EENZAAM")
            cur.execute("SELECT count(*), min(event_id) FROM delivery WHERE alert_id = %s",
                        (aid,))
            assert cur.fetchone() == (1, eid)
            time.sleep(0.5)  # the daemon polls meanwhile and must not see it
            assert r.count() == 0, "a delivery was sent before its transaction committed"
        conn.commit()
    finally:
        conn.close()
    req = r.wait_for(1, describe=w.describe)[0]
    assert req.json()["data"]["alert"]["id"] == aid
    w.quiet()
    assert other.count() == 0, other.describe()


# --- j. filters and kinds of events ----------------------------------------------------------

def types_of(receiver):
    return [(q.json()["type"], q.json()["data"]["alert"]["id"]) for q in receiver.requests]


def test_filters_and_event_kinds(w):
    w.start()
    narrow, every = w.webhook(), w.webhook()
    w.subscribe(narrow, areas=[OUD_OOST], themes=["EENZAAM"], events=["alert.raised"])
    s_every = w.subscribe(every)
    assert s_every["events"] == dv.EVENT_TYPES and s_every["areas"] == [] and \
        s_every["themes"] == [], s_every
    match, _ = dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM", observed=10)
    other_area, _ = dv.raise_alert(w.db, A, BINNENSTAD, "EENZAAM")
    other_theme, _ = dv.raise_alert(w.db, A, OUD_OOST, "GELD")
    every.wait_for(3, describe=w.describe)
    narrow.wait_for(1, describe=w.describe)

    dv.escalate(w.db, match, observed=17)
    every.wait_for(4, describe=w.describe)
    dv.update_quietly(w.db, other_area)
    patched = dl.reply(w.call("PATCH", f"/v1/alerts/{other_theme}", "teamlead_a",
                              {"state": "acknowledged", "note": "gezien"}), 200)
    assert patched["state"] == "acknowledged"
    every.wait_for(5, describe=w.describe)
    w.quiet()

    assert types_of(narrow) == [("alert.raised", match)], narrow.describe()
    got = types_of(every)
    assert sorted(got) == sorted([("alert.raised", match), ("alert.raised", other_area),
                                  ("alert.raised", other_theme), ("alert.escalated", match),
                                  ("alert.state_changed", other_theme)]), \
        f"unexpected deliveries (an 'updated' event must send nothing): {got}"
    by = {(q.json()["type"], q.json()["data"]["alert"]["id"]): q.json() for q in every.requests}
    raised, escalated = by[("alert.raised", match)], by[("alert.escalated", match)]
    # Each payload shows the alert as it was when the event happened.
    assert raised["data"]["alert"]["observed"] == 10, raised
    assert escalated["data"]["alert"]["observed"] == 17, escalated
    assert escalated["data"]["event"]["kind"] == "escalated", escalated
    changed = by[("alert.state_changed", other_theme)]["data"]
    assert (changed["event"]["kind"], changed["event"]["from"], changed["event"]["to"],
            changed["event"]["note"], changed["alert"]["state"]) == \
        ("state", "new", "acknowledged", "gezien", "acknowledged"), changed
    assert changed["event"]["actor"] == f"token {w.tok_id('teamlead_a')} (teamlead)"
    assert len(set(every.ids())) == 5, "each delivery has its own id"
    assert all(q.verified for q in every.requests + narrow.requests)
    listed = w.deliveries(f"subscription={s_every['id']}", "teamlead_a")
    assert sorted(x["type"] for x in listed["deliveries"]) == sorted(t for t, _ in got), listed
    listed = w.deliveries(f"alert={match}", "teamlead_a")
    assert len(listed["deliveries"]) == 3, listed


def test_deliveries_of_one_alert_stay_in_order(w):
    """raised, then escalated: the escalation waits while the first needs retries."""
    w.start()
    r = w.webhook()
    r.script(rc.answer(500), rc.answer(500))
    w.subscribe(r)
    aid, _ = dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM", observed=10)
    dv.escalate(w.db, aid, observed=15)
    reqs = r.wait_for(4, describe=w.describe)
    assert [q.json()["type"] for q in reqs] == ["alert.raised"] * 3 + ["alert.escalated"], \
        f"out of order\n{r.describe()}"
    assert reqs[3].mono >= reqs[2].answered_mono, "escalation sent before raised was delivered"
    assert len(set(r.ids()[:3])) == 1 and r.ids()[3] != r.ids()[0]
    w.wait_rows("both delivered", lambda rows: len(rows) == 2 and
                all(x["state"] == "delivered" for x in rows), receivers=[r])


def test_dead_delivery_releases_the_next_one(w):
    """The next delivery of a (subscription, alert) waits until the earlier one is delivered,
    dead or cancelled: after a dead one, the next goes out."""
    w.start()
    r = w.webhook()
    r.script(rc.answer(410))
    w.subscribe(r)
    aid, _ = dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM")
    dv.escalate(w.db, aid, observed=20)
    reqs = r.wait_for(2, describe=w.describe)
    assert [q.json()["type"] for q in reqs] == ["alert.raised", "alert.escalated"], r.describe()
    rows = w.wait_rows("raised dead, escalated delivered", lambda rows: [
        (x["type"], x["state"]) for x in rows] == [("alert.raised", "dead"),
                                                   ("alert.escalated", "delivered")])
    assert rows[0]["attempts"] == 1


# --- k. the subscriptions API and CLI --------------------------------------------------------

HTTPS_URL = "https://hooks.example.test/wijkradar"


@pytest.mark.parametrize("body, statuses", [
    ({"channel": "pigeon", "url": HTTPS_URL}, (422,)),
    ({"channel": "webhook", "url": "http://hooks.example.test/x"}, (400, 422)),
    ({"channel": "webhook", "url": "ftp://hooks.example.test/x"}, (422,)),
    ({"channel": "webhook", "url": "not a url"}, (422,)),
    ({"channel": "webhook"}, (400, 422)),
    ({"channel": "email", "email": "geen-adres"}, (422,)),
    ({"channel": "email", "email": "a@b@c.test"}, (422,)),
    ({"channel": "webhook", "url": HTTPS_URL, "areas": ["WK999999"]}, (422,)),
    ({"channel": "webhook", "url": HTTPS_URL, "themes": ["NOPE"]}, (422,)),
    ({"channel": "webhook", "url": HTTPS_URL, "events": ["alert.deleted"]}, (422,)),
    ({"channel": "webhook", "url": HTTPS_URL, "description": "x" * 201}, (422,)),
    ({"channel": "webhook", "url": HTTPS_URL, "organisation": "bad org!"}, (400, 403, 422)),
    ({"channel": "webhook", "url": HTTPS_URL, "areas": OUD_OOST}, (400,)),
    ({"channel": "webhook", "url": HTTPS_URL, "description": 5}, (400,)),
    ({"channel": 5, "url": HTTPS_URL}, (400,)),
    ({"channel": "webhook", "url": HTTPS_URL, "colour": "blue"}, (400, 422)),
    ("not json", (400,)),
    ([], (400,)),
    ("null", (400,)),
])
def test_subscription_validation(scratch, body, statuses):
    before = sub_rows(scratch)
    r = scratch.call("POST", "/v1/subscriptions", "teamlead_a", body)
    assert r.status in statuses, f"expected one of {statuses} for {body!r}\n{r.describe()}"
    reply = dl.reply(r, r.status)
    if r.status == 422:
        assert reply.get("code") == "invalid", r.describe()
    elif r.status == 400:
        assert reply.get("code") == "bad_request", r.describe()
    assert sub_rows(scratch) == before, f"{body!r} stored something"


def test_email_needs_smtp_url(scratch):
    before = sub_rows(scratch)
    r = scratch.call("POST", "/v1/subscriptions", "teamlead_a",
                     {"channel": "email", "email": "teamlead@wijk.test"})
    assert r.status in (400, 409, 422), f"e-mail accepted without smtp.url\n{r.describe()}"
    dl.reply(r, r.status)
    assert sub_rows(scratch) == before


def test_subscription_lifecycle(w):
    w.start({"delivery": {"enabled": "false", "allow_http": "false"}})
    desc = "Teamoverleg Noord; " + "x" * 181
    assert len(desc) == 200
    sub = w.subscribe(None, channel="webhook", url=HTTPS_URL, areas=[OUD_OOST, BINNENSTAD],
                      themes=["EENZAAM"], description=desc)
    assert SECRET_RE.match(sub["secret"] or ""), sub
    assert len(base64.b64decode(sub["secret"][6:])) == 32
    assert (sub["organisation"], sub["channel"], sub["url"], sub["areas"], sub["themes"],
            sub["events"], sub["description"], sub["active"]) == \
        (A, "webhook", HTTPS_URL, [OUD_OOST, BINNENSTAD], ["EENZAAM"], dv.EVENT_TYPES, desc,
         True), sub
    assert isinstance(sub["id"], int) and RFC3339_RE.match(sub["created_at"]), sub
    assert w.db.scalar("SELECT secret FROM subscription WHERE id = %s", (sub["id"],)) == \
        sub["secret"]
    # The secret is shown once.
    for path in ("/v1/subscriptions", f"/v1/subscriptions/{sub['id']}"):
        for key in ("teamlead_a", "admin"):
            res = w.call("GET", path, key)
            body = dl.reply(res, 200)
            assert sub["secret"].encode() not in res.body and b"whsec_" not in res.body, \
                f"GET {path} shows the secret\n{res.describe()}"
            item = body["subscriptions"][0] if "subscriptions" in body else body
            assert "secret" not in item or item["secret"] is None, item
            assert item["id"] == sub["id"] and item["url"] == HTTPS_URL, item
    dl.reply(w.call("GET", "/v1/subscriptions/99999999", "teamlead_a"), 404, "not_found")

    # Two pending deliveries (delivery is off), then removal cancels them.
    (a1, _), (a2, _) = dv.raise_alerts(w.db, [(A, OUD_OOST, "EENZAAM"),
                                             (A, BINNENSTAD, "EENZAAM")])
    dv.raise_alert(w.db, A, "WK008030", "EENZAAM")  # another area: no delivery
    rows = dv.delivery_rows(w.db)
    assert sorted(x["alert_id"] for x in rows) == sorted([a1, a2]), dv.describe_rows(rows)
    assert all(x["state"] == "pending" for x in rows)
    gone = dl.reply(w.call("DELETE", f"/v1/subscriptions/{sub['id']}", "teamlead_a"), 200)
    assert gone["active"] is False and gone["cancelled_deliveries"] == 2, gone
    assert "secret" not in gone or gone["secret"] is None, gone
    assert [x["state"] for x in dv.delivery_rows(w.db)] == ["cancelled", "cancelled"]
    assert w.db.scalar("SELECT active FROM subscription WHERE id = %s", (sub["id"],)) is False
    # A removed subscription gets nothing more.
    dv.raise_alert(w.db, A, OUD_OOST, "GELD")
    aid, _ = dv.raise_alert(w.db, A, "WK008040", "EENZAAM")
    assert len(dv.delivery_rows(w.db)) == 2


def test_removal_cancels_dead_deliveries_too(w):
    w.start()
    r = w.webhook()
    r.default = rc.answer(500)
    sub = w.subscribe(r)
    dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM")
    w.wait_rows("the delivery to be dead",
                lambda rows: rows and rows[0]["state"] == "dead", receivers=[r])
    gone = dl.reply(w.call("DELETE", f"/v1/subscriptions/{sub['id']}", "admin"), 200)
    assert gone["cancelled_deliveries"] == 1, gone
    assert only(dv.delivery_rows(w.db))["state"] == "cancelled"
    dl.reply(w.call("PATCH", f"/v1/deliveries/{dv.delivery_rows(w.db)[0]['id']}", "admin",
                    {"state": "pending"}), 409)


def test_subscriptions_cli(w):
    sink = w.smtp()
    w.config(smtp=sink)
    proc = wrtest.run_wr_ok("subscriptions", "add", "--config", w.cfg, "--organisation", A,
                            "--webhook", HTTPS_URL, "--areas", f"{OUD_OOST},{BINNENSTAD}",
                            "--themes", "EENZAAM,GELD", "--events",
                            "alert.raised,alert.escalated", "--description", "via de CLI")
    rows = w.db.query("SELECT id, organisation, channel, target, secret, areas, themes, events,"
                      " description, active FROM subscription")
    row = only(rows, "subscriptions")
    sid, secret = row[0], row[4]
    assert row[1:4] == (A, "webhook", HTTPS_URL) and row[5:] == (
        [OUD_OOST, BINNENSTAD], ["EENZAAM", "GELD"], ["alert.raised", "alert.escalated"],
        "via de CLI", True), row
    out = proc.stdout
    assert re.search(rf"(?m)^secret: {re.escape(secret)}$", out), \
        f"the secret is not printed as 'secret: whsec_...'\n{wrtest.describe_run(proc)}"
    assert SECRET_RE.match(secret)
    assert re.search(rf"\b{sid}\b", out), f"id {sid} not printed\n{wrtest.describe_run(proc)}"
    assert secret not in proc.stderr

    proc = wrtest.run_wr_ok("subscriptions", "add", "--config", w.cfg, "--organisation", B,
                            "--email", "teamlead-zuid@wijk.test")
    assert "whsec_" not in proc.stdout, wrtest.describe_run(proc)
    assert len(w.db.query("SELECT 1 FROM subscription")) == 2

    proc = wrtest.run_wr_ok("subscriptions", "list", "--config", w.cfg)
    assert HTTPS_URL in proc.stdout and "teamlead-zuid@wijk.test" in proc.stdout, proc.stdout
    assert "whsec_" not in proc.stdout + proc.stderr, "list shows a secret"
    proc = wrtest.run_wr_ok("subscriptions", "list", "--config", w.cfg, "--organisation", B)
    assert "teamlead-zuid@wijk.test" in proc.stdout and HTTPS_URL not in proc.stdout, \
        proc.stdout

    wrtest.run_wr_ok("subscriptions", "remove", "--config", w.cfg, sid)
    assert w.db.scalar("SELECT active FROM subscription WHERE id = %s", (sid,)) is False
    proc = wrtest.run_wr("subscriptions", "remove", "--config", w.cfg, "99999999")
    assert proc.returncode != 0, wrtest.describe_run(proc)
    for bad in (["--webhook", "ftp://x.test/"], ["--email", "geen-adres"],
                ["--webhook", HTTPS_URL, "--themes", "NOPE"],
                ["--webhook", HTTPS_URL, "--areas", "WK999999"]):
        proc = wrtest.run_wr("subscriptions", "add", "--config", w.cfg, "--organisation", A,
                             *bad)
        assert proc.returncode != 0, wrtest.describe_run(proc)
    assert len(w.db.query("SELECT 1 FROM subscription")) == 2


@pytest.mark.parametrize("query", ["state=bogus", "limit=0", "limit=x", "offset=-1",
                                   "subscription=abc", "alert=1x"])
def test_deliveries_bad_query(scratch, query):
    dl.reply(scratch.call("GET", f"/v1/deliveries?{query}", "admin"), 400, "bad_request")


def test_deliveries_listing_pages(w):
    w.start({"delivery": {"enabled": "false"}})
    r = w.webhook()
    sub = w.subscribe(r)
    ids = [a for a, _ in dv.raise_alerts(w.db, [(A, x, "EENZAAM") for x in
                                                (BINNENSTAD, OUD_OOST, "WK008030")])]
    every = w.deliveries(key="teamlead_a")
    assert every["total"] == 3 and len(every["deliveries"]) == 3, every
    assert sorted(x["alert_id"] for x in every["deliveries"]) == sorted(ids)
    assert all(x["state"] == "pending" and x["attempts"] == 0 and
               x["subscription_id"] == sub["id"] for x in every["deliveries"]), every
    pages = [w.deliveries(f"limit=2&offset={o}", "teamlead_a") for o in (0, 2)]
    assert [len(p["deliveries"]) for p in pages] == [2, 1], pages
    assert all(p["total"] == 3 for p in pages), pages
    assert sorted(x["id"] for p in pages for x in p["deliveries"]) == \
        sorted(x["id"] for x in every["deliveries"])
    one = w.deliveries(f"alert={ids[1]}", "teamlead_a")
    assert [x["alert_id"] for x in one["deliveries"]] == [ids[1]], one
    assert w.deliveries("state=delivered", "teamlead_a")["deliveries"] == []
    assert w.deliveries(f"subscription={sub['id'] + 1000}", "admin")["deliveries"] == []


# --- l. the pull feed ------------------------------------------------------------------------

def feed(w, since, key="teamlead_a", limit=None):
    q = f"/v1/alerts?since={since}" + (f"&limit={limit}" if limit else "")
    return dl.reply(w.call("GET", q, key), 200)


def event_ids(body):
    return [c["event"]["id"] for c in body["changes"]]


def a_events(w, org=A):
    return [r[0] for r in w.db.query(
        "SELECT e.id FROM alert_event e JOIN alert a ON a.id = e.alert_id"
        " WHERE a.organisation = %s ORDER BY e.id", (org,))]


def drain(w, since, key="teamlead_a", limit=None):
    """Polls from since until a page is empty; returns (all changes, last next)."""
    out = []
    for _ in range(100):
        body = feed(w, since, key, limit)
        out += body["changes"]
        assert isinstance(body["next"], str), body
        if not body["changes"]:
            assert body["more"] is False, body
            return out, body["next"]
        since = body["next"]
    raise AssertionError("the feed never ended")


def test_pull_feed(w):
    w.start({"delivery": {"enabled": "false"}})
    a1, _ = dv.raise_alert(w.db, A, BINNENSTAD, "EENZAAM")
    a2, _ = dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM")
    dv.raise_alert(w.db, B, OUD_OOST, "EENZAAM")
    dl.reply(w.call("PATCH", f"/v1/alerts/{a1}", "teamlead_a", {"state": "acknowledged"}), 200)
    want = a_events(w)
    assert len(want) == 3

    body = wrtest.wait_until("the feed to show A's three events",
                             lambda: (lambda b: b if len(b["changes"]) >= 3 else None)(
                                 feed(w, "0")), describe=w.stderr)
    assert event_ids(body) == want, body
    assert [c["alert"]["id"] for c in body["changes"]] == [a1, a2, a1], body
    assert [c["event"]["kind"] for c in body["changes"]] == ["raised", "raised", "state"]
    assert all(c["alert"]["state"] == "acknowledged" for c in body["changes"]
               if c["alert"]["id"] == a1), "the alert is shown as it is now"
    assert all(isinstance(c["cursor"], str) and c["cursor"] for c in body["changes"]), body
    assert len({c["cursor"] for c in body["changes"]}) == 3
    assert body["next"] == body["changes"][-1]["cursor"] and body["more"] is False, body
    nxt = body["next"]
    again = feed(w, nxt)
    assert again["changes"] == [] and again["next"] == nxt and again["more"] is False, again

    # Pages without repeats or gaps.
    p1 = feed(w, "0", limit=2)
    assert event_ids(p1) == want[:2] and p1["more"] is True, p1
    p2 = feed(w, p1["next"], limit=2)
    assert event_ids(p2) == want[2:] and p2["more"] is False, p2
    got, _ = drain(w, "0", limit=1)
    assert [c["event"]["id"] for c in got] == want

    # A new change comes after the cursor.
    e_new = dv.escalate(w.db, a2, observed=30)
    body = wrtest.wait_until("the new event", lambda: (lambda b: b if b["changes"] else None)(
        feed(w, nxt)))
    assert event_ids(body) == [e_new], body
    assert body["changes"][0]["event"]["kind"] == "escalated"
    nxt = body["next"]

    # Scope: B sees only its own, an admin everything.
    b_feed, _ = drain(w, "0", "teamlead_b")
    assert [c["event"]["id"] for c in b_feed] == a_events(w, B), b_feed
    assert all(c["alert"]["organisation"] == B for c in b_feed)
    all_feed, _ = drain(w, "0", "admin")
    assert sorted(c["event"]["id"] for c in all_feed) == sorted(a_events(w) + a_events(w, B))
    dl.reply(w.call("GET", "/v1/alerts?since=0", "source_a"), 403, "forbidden")


def test_pull_feed_late_commit(w):
    """T1 inserts an event and stays open; T2 commits a later one. While T1 is open the feed
    shows neither; afterwards both, exactly once, T1's first (a late commit is never
    skipped)."""
    w.start({"delivery": {"enabled": "false"}})
    a1, _ = dv.raise_alert(w.db, A, BINNENSTAD, "EENZAAM")
    a2, _ = dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM")
    _, cursor = wrtest.wait_until("the first events", lambda: (
        lambda r: r if len(r[0]) == 2 else None)(drain(w, "0")))

    seen = []
    t1 = dv.connect(w.db)
    try:
        e1 = dv.escalate(w.db, a1, observed=40, conn=t1)  # T1, not committed
        e2 = dv.escalate(w.db, a2, observed=41)  # T2, committed
        assert e1 < e2
        changes, cursor = drain(w, cursor)
        seen += changes
        assert e1 not in [c["event"]["id"] for c in seen], "an uncommitted event was shown"
        time.sleep(0.3)
        changes, cursor = drain(w, cursor)
        seen += changes
        # T2 began after T1 took its transaction id: it waits behind T1 in the feed.
        assert e2 not in [c["event"]["id"] for c in seen], \
            "an event of a transaction newer than an open one was shown"
        t1.commit()
    finally:
        t1.close()

    def both():
        nonlocal cursor
        changes, cursor = drain(w, cursor)
        seen.extend(changes)
        ids = [c["event"]["id"] for c in seen]
        return e1 in ids and e2 in ids
    wrtest.wait_until("both events after T1 committed", both,
                      describe=lambda: f"seen {[c['event']['id'] for c in seen]}")
    ids = [c["event"]["id"] for c in seen]
    assert ids == [e1, e2], f"repeated, missing or misordered events: {ids}"
    assert feed(w, cursor)["changes"] == []


@pytest.mark.parametrize("query", ["since=abc", "since=1.x", "since=x.1", "since=-1.5",
                                   "since=1.2.3", "since=", "since=0&limit=0",
                                   "since=0&limit=1001", "since=0&limit=x",
                                   "since=" + "9" * 30 + ".1"])
def test_pull_feed_bad_cursor(scratch, query):
    dl.reply(scratch.call("GET", f"/v1/alerts?{query}", "teamlead_a"), 400, "bad_request")


# --- m. metrics ------------------------------------------------------------------------------

def test_delivery_metrics(w):
    w.start()
    r = w.webhook()
    r.script(rc.answer(410))
    w.subscribe(r)
    dv.raise_alerts(w.db, [(A, OUD_OOST, "EENZAAM"), (A, BINNENSTAD, "EENZAAM")])
    w.wait_rows("one dead, one delivered", lambda rows: sorted(x["state"] for x in rows) ==
                ["dead", "delivered"], receivers=[r])
    w.wait_counter("wijkradar_deliveries_sent_total", 1, channel="webhook")
    text = w.d.get("/metrics").body.decode()
    for name, kind in (("wijkradar_deliveries_sent_total", "counter"),
                       ("wijkradar_deliveries_failed_total", "counter"),
                       ("wijkradar_deliveries_retried_total", "counter"),
                       ("wijkradar_deliveries_dead_lettered_total", "counter"),
                       ("wijkradar_deliveries_in_flight", "gauge"),
                       ("wijkradar_delivery_latency_seconds", "histogram"),
                       ("wijkradar_delivery_request_seconds", "histogram")):
        assert f"# TYPE {name} {kind}\n" in text, f"no {kind} {name} on /metrics:\n{text}"
    s = wrtest.parse_metrics(text)
    c = il.counter
    assert c(s, "wijkradar_deliveries_sent_total", channel="webhook") == 1
    assert c(s, "wijkradar_deliveries_failed_total", channel="webhook", reason="http_4xx") == 1
    assert c(s, "wijkradar_deliveries_failed_total") == 1
    assert c(s, "wijkradar_deliveries_dead_lettered_total", channel="webhook") == 1
    assert c(s, "wijkradar_deliveries_retried_total") == 0
    assert wrtest.metric(s, "wijkradar_deliveries_in_flight") == 0
    assert wrtest.metric(s, "wijkradar_delivery_latency_seconds_count", channel="webhook") == 1
    assert wrtest.metric(s, "wijkradar_delivery_request_seconds_count", channel="webhook") == 2
    buckets = [(float(ls["le"]), v) for n, ls, v in s
               if n == "wijkradar_delivery_latency_seconds_bucket" and
               ls.get("channel") == "webhook"]
    assert buckets and buckets[-1] == (float("inf"), 1), buckets
    assert [v for _, v in buckets] == sorted(v for _, v in buckets), buckets
    for n, ls, _ in s:
        if n.startswith("wijkradar_deliver") and "reason" in ls:
            assert ls["reason"] in ("network", "timeout", "tls", "http_3xx", "http_4xx",
                                    "http_429", "http_5xx", "smtp_4xx", "smtp_5xx",
                                    "not_configured"), (n, ls)


def test_email_without_smtp_url_is_retried_as_not_configured(w):
    """A subscription made while smtp.url was set keeps its deliveries when it is gone: they
    are retried with reason not_configured and end dead."""
    sink = w.smtp()
    w.start({"delivery": {"enabled": "false"}}, smtp=sink)
    w.subscribe("teamlead@wijk.test")
    w.d.stop()
    w.config()  # no [smtp] url now
    w.serve()
    dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM")
    row = w.wait_state(only(dv.delivery_rows(w.db))["id"], "dead")
    assert row["attempts"] == 3, row
    assert w.counter("wijkradar_deliveries_failed_total", channel="email",
                     reason="not_configured") == 3
    assert sink.attempts == []


# --- review fixes: the network guard, removed subscriptions, spent attempts -------------------

def test_private_addresses_are_refused_unless_allowed(w):
    """With delivery.allow_private_networks off, a webhook to 127.0.0.1 is dead at once
    (invalid_target) and nothing reaches the receiver; a team lead sees only the reason
    class, an admin the whole message."""
    w.start({"delivery": {"allow_private_networks": "false"}})
    r = w.webhook()
    w.subscribe(r)
    dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM")
    row = w.wait_rows("the delivery to be dead", lambda rows: rows and
                      rows[0]["state"] == "dead", receivers=[r])[0]
    assert row["attempts"] == 1, w.describe(r)
    assert row["last_error"].startswith("invalid_target: "), row
    assert "allow_private_networks" in row["last_error"], row
    w.quiet(0.5)
    assert r.requests == [], f"a refused address received a request\n{w.describe(r)}"
    lead = only(w.deliveries(key="teamlead_a")["deliveries"], "team lead's deliveries")
    assert lead["last_error"] == "invalid_target", lead
    admin = only(w.deliveries(key="admin")["deliveries"], "admin's deliveries")
    assert admin["last_error"] == row["last_error"], admin
    assert w.counter("wijkradar_deliveries_failed_total", channel="webhook",
                     reason="invalid_target") == 1


def test_alert_committed_during_removal_is_cancelled_not_sent(w):
    """A delivery of a subscription that is no longer active (written by an alert transaction
    that committed after the removal) is cancelled by the claim, never sent, and cannot be
    retried."""
    w.start()
    r = w.webhook()
    sub = w.subscribe(r)
    # The race, made deterministic: the alert commits after the subscription was made
    # inactive without its deliveries being cancelled (as a concurrent removal leaves it).
    conn = dv.connect(w.db)
    try:
        aid, _ = dv.insert_alert(conn.cursor(), A, OUD_OOST, "EENZAAM")
        w.db.query("UPDATE subscription SET active = false, removed_at = now() WHERE id = %s",
                   (sub["id"],))
        conn.commit()
    finally:
        conn.close()
    row = w.wait_rows("the delivery to be cancelled", lambda rows: rows and
                      rows[0]["state"] == "cancelled", receivers=[r])[0]
    assert row["attempts"] == 0, row
    assert r.requests == [], f"a removed subscription received an alert\n{w.describe(r)}"
    w.db.query("UPDATE delivery SET state = 'dead' WHERE id = %s", (row["id"],))
    reply = w.call("PATCH", f"/v1/deliveries/{row['id']}", "admin", {"state": "pending"})
    body = dl.reply(reply, 409, "conflict")
    assert "subscription was removed" in body["error"], body


def test_deliveries_out_of_attempts_without_an_outcome_become_dead(w):
    """A pending delivery whose attempts ran out (its outcomes were never stored: the daemon
    died each time) is given up by the claim instead of being sent for ever."""
    w.start({"delivery": {"enabled": "false"}})
    r = w.webhook()
    w.subscribe(r)
    dv.raise_alert(w.db, A, OUD_OOST, "EENZAAM")
    row = only(dv.delivery_rows(w.db), "deliveries")
    w.db.query("UPDATE delivery SET attempts = 3 WHERE id = %s", (row["id"],))
    w.d.stop()
    w.config()  # delivery enabled again (max_attempts 3)
    w.serve()
    row = w.wait_state(row["id"], "dead", receivers=[r])
    assert row["attempts"] == 3 and row["last_error"] == "no outcome was stored", row
    assert r.requests == [], w.describe(r)
