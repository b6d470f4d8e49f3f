"""Test doubles for alert delivery (docs/delivery.md): a webhook receiver and an SMTP sink.

Both run in threads of the test process on 127.0.0.1, record what the daemon sends, and answer
as a test scripts them. They do not depend on pytest: failed waits raise AssertionError.

- WebhookReceiver: an HTTP or HTTPS server that records every request and checks its Standard
  Webhooks signature with an implementation of its own (verify_signature), so a daemon that
  signs wrongly is caught by code that shares nothing with it. Answers come from a queue
  (answer(), hang(), reset()), then from `default` (200).
- SmtpSink: an aiosmtpd server, optionally offering STARTTLS, that records each message and
  can refuse the next ones at RCPT or DATA with a given reply.
- make_cert(): a self-signed certificate for 127.0.0.1 and localhost made by the openssl CLI.
"""

import base64
import binascii
import collections
import email
import email.policy
import hashlib
import hmac
import http.server
import json
import re
import socket
import ssl
import struct
import subprocess
import threading
import time
from pathlib import Path

# Standard Webhooks: receivers should refuse timestamps further than this from their clock.
TIMESTAMP_TOLERANCE_S = 300


# --- certificates ----------------------------------------------------------------------------

class Cert:
    """A self-signed certificate (cert, key: paths of PEM files) for 127.0.0.1 and localhost."""

    def __init__(self, cert, key):
        self.cert = Path(cert)
        self.key = Path(key)

    def server_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx

    def client_context(self):
        """A client context that trusts this certificate only."""
        ctx = ssl.create_default_context(cafile=str(self.cert))
        return ctx


def make_cert(directory, name="cert"):
    """Makes NAME.pem and NAME.key in directory with the openssl CLI; returns a Cert."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    cmd = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
           "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
           "-keyout", str(key), "-out", str(cert)]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60)
    if proc.returncode != 0:
        raise AssertionError(f"openssl req failed ({proc.returncode}):\n{proc.stderr}")
    return Cert(cert, key)


# --- Standard Webhooks -----------------------------------------------------------------------

def signature(secret, msg_id, timestamp, body):
    """The v1 signature ("v1,<base64>") of body (bytes) for secret "whsec_..."."""
    if not secret.startswith("whsec_"):
        raise ValueError(f"secret does not start with whsec_: {secret!r}")
    key = base64.b64decode(secret[len("whsec_"):], validate=True)
    content = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify_signature(secret, msg_id, timestamp, body, header):
    """True when one of the space-separated signatures in header is the v1 signature of
    (msg_id, timestamp, body) under secret. Other versions ("v1a,...") are ignored."""
    if not secret or not msg_id or not timestamp or not header:
        return False
    try:
        want = signature(secret, msg_id, timestamp, body).split(",", 1)[1].encode()
    except (ValueError, binascii.Error):
        return False
    for sig in header.split(" "):
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), want):
            return True
    return False


# --- the webhook receiver --------------------------------------------------------------------

class Action:
    """What the receiver does with one request: see answer(), hang(), reset()."""

    def __init__(self, kind, status=200, headers=None, body=b"", delay=0.0, release=None,
                 then=None):
        self.kind = kind
        self.status = status
        self.headers = dict(headers or {})
        self.body = body if isinstance(body, bytes) else str(body).encode()
        self.delay = delay
        self.release = release
        self.then = then

    def __repr__(self):
        if self.kind == "answer":
            return f"answer({self.status}, delay={self.delay})"
        return f"{self.kind}()"


def answer(status=200, headers=None, delay=0.0, body=b""):
    """Answer with status and headers after delay seconds (the body is read first)."""
    return Action("answer", status, headers, body, delay)


def hang(event=None, then=None):
    """Accept the request and never answer, until event (a threading.Event, default the
    receiver's own release event) is set or the receiver closes; then close the connection
    without an answer, or do `then` (an answer() Action)."""
    return Action("hang", release=event, then=then)


def reset():
    """Close the connection without an answer, with a TCP RST (SO_LINGER 0)."""
    return Action("reset")


class Request:
    """One request as received: method, path, headers (lower-case names), body (bytes), time
    (time.time()), mono (time.monotonic()), verified (signature check against the receiver's
    secret at that moment; None when it had none), action (what the receiver did)."""

    def __init__(self, method, path, headers, body, verified, action):
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.time = time.time()
        self.mono = time.monotonic()
        self.verified = verified
        self.action = action
        self.answered_mono = None

    @property
    def msg_id(self):
        return self.headers.get("webhook-id")

    @property
    def timestamp(self):
        return self.headers.get("webhook-timestamp")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise AssertionError(f"request body is not JSON ({e}): {self.body[:500]!r}") from None

    def describe(self):
        head = "".join(f"  {k}: {v}\n" for k, v in self.headers.items())
        return (f"{self.method} {self.path} at {self.time:.3f} verified={self.verified} "
                f"action={self.action!r}\n{head}  body: {self.body[:300]!r}")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "wijkradar-test-receiver"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _handle(self):
        receiver = self.server.receiver
        body = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        action = receiver._next_action()
        req = Request(self.command, self.path, headers, body, receiver._verify(headers, body),
                      action)
        receiver._record(req)
        self._act(receiver, req, action)

    def _act(self, receiver, req, action):
        if action.kind == "hang":
            event = action.release or receiver.release_event
            while not event.is_set() and not receiver.closing.is_set():
                event.wait(0.05)
            if action.then is not None and not receiver.closing.is_set():
                self._act(receiver, req, action.then)
                return
            self.close_connection = True
            self._drop(rst=False)
            return
        if action.kind == "reset":
            self.close_connection = True
            self._drop(rst=True)
            return
        if action.delay:
            deadline = time.monotonic() + action.delay
            while time.monotonic() < deadline and not receiver.closing.is_set():
                time.sleep(0.02)
        self.send_response(action.status)
        for k, v in action.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(action.body)))
        if action.body:
            self.send_header("Content-Type", "text/plain")
        self.end_headers()
        if action.body:
            self.wfile.write(action.body)
        self.wfile.flush()
        req.answered_mono = time.monotonic()

    def _drop(self, rst):
        try:
            if rst:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    do_POST = _handle
    do_GET = _handle
    do_PUT = _handle
    do_PATCH = _handle
    do_DELETE = _handle


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, receiver, ssl_context):
        self.receiver = receiver
        self.ssl_context = ssl_context
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request, client_address):
        # TLS handshakes happen here, in the connection's own thread, so a client that never
        # completes one cannot hold up the accept loop.
        if self.ssl_context is not None:
            request.settimeout(10)
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                self.receiver._tls_failure(e)
                return
            request.settimeout(None)
        try:
            self.RequestHandlerClass(request, client_address, self)
        finally:
            try:
                request.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        # A client that went away (the daemon was killed, or gave up) is no test failure.
        pass


class WebhookReceiver:
    """An HTTP(S) server on 127.0.0.1 that records webhook requests.

    receiver = WebhookReceiver(cert=None)  # a Cert for HTTPS
    receiver.secret = reply["secret"]       # to verify signatures of later requests
    receiver.script(answer(500), answer(429, {"Retry-After": "2"}), hang(), reset())
    receiver.default = answer(200)         # once the script is used up
    receiver.wait_for(3, timeout=10)       # -> the first 3 requests
    receiver.close()
    """

    def __init__(self, cert=None, secret=None):
        self.cert = cert
        self.secret = secret
        self.default = answer(200)
        self.release_event = threading.Event()
        self.closing = threading.Event()
        self.tls_failures = []
        self._requests = []
        self._script = collections.deque()
        self._cond = threading.Condition()
        self._server = _Server(self, cert.server_context() if cert else None)
        self.port = self._server.server_address[1]
        self.url = f"{'https' if cert else 'http'}://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    # behaviour

    def script(self, *actions):
        """Appends actions for the next requests, in order."""
        with self._cond:
            self._script.extend(actions)

    def release(self):
        """Lets every hang() that waits on the receiver's own event go on."""
        self.release_event.set()

    def _next_action(self):
        with self._cond:
            return self._script.popleft() if self._script else self.default

    def _verify(self, headers, body):
        secret = self.secret
        if not secret:
            return None
        return verify_signature(secret, headers.get("webhook-id"),
                                headers.get("webhook-timestamp"), body,
                                headers.get("webhook-signature"))

    def _record(self, req):
        with self._cond:
            self._requests.append(req)
            self._cond.notify_all()

    def _tls_failure(self, error):
        with self._cond:
            self.tls_failures.append(repr(error))
            self._cond.notify_all()

    # what was received

    @property
    def requests(self):
        with self._cond:
            return list(self._requests)

    def count(self):
        with self._cond:
            return len(self._requests)

    def ids(self):
        """The webhook-id header of each request, in order of arrival."""
        return [r.msg_id for r in self.requests]

    def describe(self):
        reqs = self.requests
        text = "\n".join(r.describe() for r in reqs) or "  (no requests)"
        if self.tls_failures:
            text += f"\nTLS handshake failures: {self.tls_failures}"
        return f"{self.url}: {len(reqs)} requests\n{text}"

    def wait_for(self, n, timeout=10.0, describe=None):
        """Waits until at least n requests have arrived; returns all received so far.
        Raises AssertionError after timeout seconds (describe() may add context)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    extra = f"\n{describe()}" if describe else ""
                    raise AssertionError(f"timed out after {timeout} s waiting for {n} requests"
                                         f"\n{self.describe()}{extra}")
                self._cond.wait(min(left, 0.1))
            return list(self._requests)

    def wait_tls_failures(self, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.tls_failures) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout} s waiting for {n} TLS "
                                         f"handshake failures\n{self.describe()}")
                self._cond.wait(min(left, 0.1))
            return list(self.tls_failures)

    def close(self):
        self.closing.set()
        self.release_event.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- the SMTP sink ---------------------------------------------------------------------------

class SmtpMessage:
    """One message accepted at DATA: mail_from, rcpt_tos, content (raw bytes), message
    (email.message.EmailMessage), tls (the session had done STARTTLS), time."""

    def __init__(self, mail_from, rcpt_tos, content, tls):
        self.mail_from = mail_from
        self.rcpt_tos = list(rcpt_tos)
        self.content = content
        self.message = email.message_from_bytes(content, policy=email.policy.default)
        self.tls = tls
        self.time = time.time()

    def describe(self):
        return (f"MAIL FROM {self.mail_from} RCPT TO {self.rcpt_tos} tls={self.tls}\n"
                f"{self.content[:1500].decode(errors='replace')}")


class SmtpAttempt:
    """One mail transaction (MAIL FROM ... ) as seen: mail_from, rcpt_tos, outcome
    ("accepted" or the refusal reply), stage ("rcpt", "data"), tls."""

    def __init__(self, mail_from, tls):
        self.mail_from = mail_from
        self.rcpt_tos = []
        self.outcome = None
        self.stage = None
        self.tls = tls
        self.time = time.time()

    def __repr__(self):
        return (f"SmtpAttempt(from={self.mail_from!r}, rcpt={self.rcpt_tos!r}, "
                f"stage={self.stage!r}, outcome={self.outcome!r}, tls={self.tls})")


class _SmtpHandler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        attempt = SmtpAttempt(address, session.ssl is not None)
        session.wr_attempt = attempt
        session.wr_action = self.sink._next_action()
        self.sink._record_attempt(attempt)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        attempt = getattr(session, "wr_attempt", None)
        action = getattr(session, "wr_action", None)
        if attempt is not None:
            attempt.rcpt_tos.append(address)
        if action is not None and action[0] == "rcpt":
            if attempt is not None:
                attempt.stage, attempt.outcome = "rcpt", action[1]
            self.sink._notify()
            return action[1]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        attempt = getattr(session, "wr_attempt", None)
        action = getattr(session, "wr_action", None)
        session.wr_action = None
        if action is not None and action[0] == "data":
            if attempt is not None:
                attempt.stage, attempt.outcome = "data", action[1]
            self.sink._notify()
            return action[1]
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode()
        if attempt is not None:
            attempt.stage, attempt.outcome = "data", "accepted"
        self.sink._record_message(SmtpMessage(envelope.mail_from, envelope.rcpt_tos, content,
                                              session.ssl is not None))
        return "250 OK: queued"


def _controller_class():
    from aiosmtpd.controller import Controller

    class _BoundController(Controller):
        """A Controller on a socket bound beforehand, so port 0 works without a race."""

        def __init__(self, handler, sock, **kwargs):
            self._wr_sock = sock
            super().__init__(handler, hostname="127.0.0.1", port=sock.getsockname()[1],
                             **kwargs)

        def _create_server(self):
            return self.loop.create_server(self._factory_invoker, sock=self._wr_sock,
                                           ssl=self.ssl_context)

    return _BoundController


class SmtpSink:
    """An SMTP server on 127.0.0.1 (aiosmtpd) that records messages.

    sink = SmtpSink(cert=None, require_starttls=False)  # a Cert: STARTTLS is offered
    sink.fail_next("550 5.1.1 no such user", n=1, stage="rcpt")
    sink.fail_next("451 4.3.0 try later", n=2, stage="data")
    sink.wait_for(1) -> [SmtpMessage]; sink.attempts -> [SmtpAttempt]
    sink.close()
    """

    def __init__(self, cert=None, require_starttls=False):
        self.cert = cert
        self._cond = threading.Condition()
        self._messages = []
        self._attempts = []
        self._script = collections.deque()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        self.url = f"smtp://127.0.0.1:{self.port}"
        kwargs = {}
        if cert is not None:
            kwargs["tls_context"] = cert.server_context()
            kwargs["require_starttls"] = require_starttls
        self._controller = _controller_class()(_SmtpHandler(self), sock, **kwargs)
        self._controller.start()

    def fail_next(self, reply, n=1, stage="rcpt"):
        """The next n mail transactions get reply (e.g. "550 5.1.1 no such user") at RCPT
        (stage "rcpt") or at the end of DATA (stage "data")."""
        assert stage in ("rcpt", "data"), stage
        with self._cond:
            self._script.extend([(stage, reply)] * n)

    def _next_action(self):
        with self._cond:
            return self._script.popleft() if self._script else None

    def _record_attempt(self, attempt):
        with self._cond:
            self._attempts.append(attempt)
            self._cond.notify_all()

    def _record_message(self, msg):
        with self._cond:
            self._messages.append(msg)
            self._cond.notify_all()

    def _notify(self):
        with self._cond:
            self._cond.notify_all()

    @property
    def messages(self):
        with self._cond:
            return list(self._messages)

    @property
    def attempts(self):
        with self._cond:
            return list(self._attempts)

    def describe(self):
        msgs = self.messages
        return (f"{self.url}: {len(msgs)} messages, attempts {self.attempts}\n" +
                "\n".join(m.describe() for m in msgs))

    def _wait(self, what, predicate, timeout, describe):
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    extra = f"\n{describe()}" if describe else ""
                    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n"
                                         f"{self.describe()}{extra}")
                self._cond.wait(min(left, 0.1))

    def wait_for(self, n, timeout=10.0, describe=None):
        """Waits until n messages were accepted; returns all accepted so far."""
        self._wait(f"{n} messages", lambda: len(self._messages) >= n, timeout, describe)
        return self.messages

    def wait_attempts(self, n, timeout=10.0, describe=None):
        """Waits until n mail transactions have an outcome; returns all attempts."""
        self._wait(f"{n} finished mail transactions",
                   lambda: sum(a.outcome is not None for a in self._attempts) >= n, timeout,
                   describe)
        return self.attempts

    def close(self):
        try:
            self._controller.stop()
        except (AssertionError, RuntimeError):
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- message helpers -------------------------------------------------------------------------

def parts(message):
    """{content type: decoded text} of the leaf parts of an email.message.EmailMessage."""
    out = {}
    for part in message.walk():
        if part.is_multipart():
            continue
        out[part.get_content_type()] = part.get_content()
    return out


MSG_ID_RE = re.compile(r"^msg_[0-9a-f]{32}$")
