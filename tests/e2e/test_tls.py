"""HTTPS on the listener: the daemon serves TLS 1.2+ with the configured certificate, refuses
plain HTTP on that port, reloads the certificate on SIGHUP (keeping the old one when the new one
is broken), and refuses to start with plain HTTP on a non-loopback address unless told to.
Uploads with `wijkradar ingest --ca-file` go through TLS end to end.

Certificates are made per test with the openssl command line tool (a throw-away CA)."""

import hashlib
import http.client
import re
import signal
import socket
import ssl
import subprocess
import warnings

import pytest

import ingestlib as il
import wrtest

SAMPLE = wrtest.source_root() / "tests" / "data" / "ingest" / "sample.csv"


def openssl(*args):
    proc = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, f"openssl {args}: {proc.stderr}"


class Pki:
    """A CA and server certificates it signs for localhost and 127.0.0.1."""

    def __init__(self, root):
        self.root = root
        self.ca_key, self.ca = root / "ca.key", root / "ca.pem"
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", self.ca_key, "-out", self.ca, "-days", "2",
                "-subj", "/CN=wijkradar test CA")

    def server(self, name):
        """(cert, key) for a new server certificate; cert holds the chain leaf first."""
        key, csr, cert = (self.root / f"{name}.{ext}" for ext in ("key", "csr", "pem"))
        ext = self.root / f"{name}.ext"
        ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
        openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext)
        return cert, key


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path)


def tls_context(pki, **kwargs):
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    for k, v in kwargs.items():
        setattr(ctx, k, v)
    return ctx


def https(port, pki, method="GET", path="/healthz", headers=None, body=None, conn=None):
    """One request over HTTPS; returns (status, body, leaf certificate DER, connection).
    Keeps the connection open when conn is given (or returns the new one)."""
    c = conn or http.client.HTTPSConnection("localhost", port, timeout=wrtest.HTTP_TIMEOUT_S,
                                            context=tls_context(pki))
    c.request(method, path, headers=headers or {}, body=body)
    r = c.getresponse()
    data = r.read()
    return r.status, data, c.sock.getpeercert(binary_form=True), c


def fingerprint(cert_pem):
    der = ssl.PEM_cert_to_DER_cert(cert_pem.read_text())
    return hashlib.sha256(der).hexdigest()


def tls_config(make_config, cert, key, extra=None):
    http = {"tls_cert_file": str(cert), "tls_key_file": str(key)}
    http.update(extra or {})
    return make_config({"http": http})


def test_serves_https_and_not_plain_http(pki, make_config, daemon):
    cert, key = pki.server("one")
    d = daemon(tls_config(make_config, cert, key))
    assert re.search(rf"listening on 127\.0\.0\.1:{d.port} \(HTTPS\)", d.stderr()), d.stderr()
    status, body, der, c = https(d.port, pki)
    assert status == 200 and b'"ok"' in body, body
    assert hashlib.sha256(der).hexdigest() == fingerprint(cert)
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3"), c.sock.version()
    c.close()

    # Plain HTTP to the TLS port gets no answer: the connection is closed.
    plain = http.client.HTTPConnection("127.0.0.1", d.port, timeout=wrtest.HTTP_TIMEOUT_S)
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        plain.request("GET", "/healthz")
        plain.getresponse().read()
    plain.close()

    # A client that offers only TLS 1.1 is refused in the handshake (the daemon's minimum is
    # TLS 1.2; OpenSSL's default security level would refuse it as well).
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(str(pki.ca))
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # that is the point
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection(("127.0.0.1", d.port), timeout=wrtest.HTTP_TIMEOUT_S) as s:
        with pytest.raises(ssl.SSLError):
            old.wrap_socket(s, server_hostname="localhost")

    # The daemon is still fine after the failed handshakes.
    assert https(d.port, pki)[0] == 200
    d.stop()


def test_sighup_reloads_the_certificate(pki, make_config, daemon):
    cert, key = pki.server("one")
    cfg = tls_config(make_config, cert, key)
    d = daemon(cfg)
    status, _, der, kept = https(d.port, pki)
    assert status == 200 and hashlib.sha256(der).hexdigest() == fingerprint(cert)

    # Renewal in place (as certbot does): new files under the same names, then SIGHUP.
    cert2, key2 = pki.server("two")
    cert.write_bytes(cert2.read_bytes())
    key.write_bytes(key2.read_bytes())
    d.signal(signal.SIGHUP)
    d.wait_log(r"info: config: configuration reloaded")
    status, _, der, c = https(d.port, pki)
    assert status == 200 and hashlib.sha256(der).hexdigest() == fingerprint(cert2)
    c.close()
    # A connection opened before the reload carries on with its session.
    assert https(d.port, pki, conn=kept)[0] == 200
    kept.close()

    # A broken key at reload: an error, and the certificate loaded before stays in use.
    key.write_text("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
    d.signal(signal.SIGHUP)
    line = d.wait_log(r"error: http: could not load the TLS private key \"[^\"]+\": .*").group(0)
    assert str(key) in line, line
    status, _, der, c = https(d.port, pki)
    assert status == 200 and hashlib.sha256(der).hexdigest() == fingerprint(cert2)
    c.close()
    d.stop()


def test_ingest_over_https_with_a_private_ca(pki, db, make_config, daemon):
    cert, key = pki.server("one")
    cfg = tls_config(make_config, cert, key)
    wrtest.run_wr_ok("migrate", "--config", cfg)
    wrtest.run_wr_ok("areas", "import", "--config", cfg, il.AREAS_CSV)
    token, _ = il.create_token(cfg)
    d = daemon(cfg)
    environ = wrtest.daemon_env({"WIJKRADAR_TOKEN": token})
    url = f"https://localhost:{d.port}"
    args = ("ingest", "--url", url, "--source", "regas", "--organisation", "org-a")

    # Without the CA the certificate is not trusted and nothing is sent.
    proc = wrtest.run_wr(*args, "--max-retries", "0", str(SAMPLE), env=environ)
    assert proc.returncode != 0, wrtest.describe_run(proc)
    assert db.scalar("SELECT count(*) FROM signal") == 0

    proc = wrtest.run_wr(*args, "--ca-file", str(pki.ca), str(SAMPLE), env=environ)
    assert proc.returncode == 0, wrtest.describe_run(proc)
    assert "8 signals in 1 batches: 8 stored" in proc.stdout, wrtest.describe_run(proc)
    assert db.scalar("SELECT count(*) FROM signal") == 8
    # The API reads work too, with the bearer token over TLS.
    status, body, _, c = https(d.port, pki, path="/metrics")
    assert status == 200 and b"wijkradar_ingest_signals_total" in body
    c.close()
    d.stop()


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0"])
def test_plain_http_beyond_loopback_is_refused(make_config, listen):
    if listen.startswith("[") and not socket.has_ipv6:
        pytest.skip("no IPv6")
    cfg = make_config({"http": {"listen": listen}})
    proc = wrtest.run_wr("check-config", "--config", cfg, env=wrtest.daemon_env())
    assert proc.returncode == 1, wrtest.describe_run(proc)
    assert "not a loopback address" in proc.stderr, wrtest.describe_run(proc)
    assert "allow_plain_http" in proc.stderr, wrtest.describe_run(proc)


def test_plain_http_beyond_loopback_when_allowed(make_config, daemon):
    d = daemon(make_config({"http": {"listen": "0.0.0.0:0", "allow_plain_http": "true"}}))
    assert d.get("/healthz").status == 200
    d.stop()


def test_https_beyond_loopback(pki, make_config, daemon):
    cert, key = pki.server("one")
    d = daemon(tls_config(make_config, cert, key, {"listen": "0.0.0.0:0"}))
    assert https(d.port, pki)[0] == 200
    d.stop()


@pytest.mark.parametrize("which", ["tls_cert_file", "tls_key_file"])
def test_certificate_and_key_go_together(pki, make_config, which):
    cert, key = pki.server("one")
    cfg = make_config({"http": {which: str(cert if which == "tls_cert_file" else key)}})
    proc = wrtest.run_wr("check-config", "--config", cfg, env=wrtest.daemon_env())
    assert proc.returncode == 1, wrtest.describe_run(proc)
    assert "go together" in proc.stderr, wrtest.describe_run(proc)


def test_check_config_loads_the_certificate(pki, tmp_path, make_config):
    cert, key = pki.server("one")
    other_cert, other_key = pki.server("two")
    good = tls_config(make_config, cert, key)
    proc = wrtest.run_wr("check-config", "--config", good, env=wrtest.daemon_env())
    assert proc.returncode == 0, wrtest.describe_run(proc)
    mismatched = tls_config(make_config, cert, other_key)
    proc = wrtest.run_wr("check-config", "--config", mismatched, env=wrtest.daemon_env())
    assert proc.returncode == 1, wrtest.describe_run(proc)
    assert "private key" in proc.stderr and str(other_key) in proc.stderr, \
        wrtest.describe_run(proc)


def test_unreadable_certificate_is_fatal_at_start(pki, tmp_path, make_config, daemon):
    cert, key = pki.server("one")
    cfg = tls_config(make_config, tmp_path / "missing.pem", key)
    d = daemon(cfg, wait=False)
    rc = d.wait_exit()
    assert rc != 0
    assert re.search(r"could not load the TLS certificate chain \"[^\"]*missing\.pem\"",
                     d.stderr()), d.stderr()
