"""Connection limits under hostile or careless clients: slow-loris clients that trickle a request
byte by byte, many idle connections, and connections that fill the cap. The daemon must close
what does not send a whole request within http.timeout_s, keep at most http.max_connections
open, and keep answering well-behaved clients within those limits."""

import socket
import threading
import time

import wrtest

CONNS = "wijkradar_http_connections"
CLOSED = "wijkradar_http_connections_closed_total"


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=wrtest.HTTP_TIMEOUT_S)


def closed_by_server(s, within):
    """True when the server closes `s` (EOF or reset) within `within` seconds."""
    s.settimeout(within)
    try:
        return s.recv(4096) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


class Loris:
    """Connections that send a request line and then one header byte every `gap` seconds,
    never finishing the headers, until stopped or closed by the server."""

    def __init__(self, port, n, gap=0.3):
        self.socks = [connect(port) for _ in range(n)]
        self.closed_at = {}
        self.stop = threading.Event()
        self.started = time.monotonic()
        for s in self.socks:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        self.thread = threading.Thread(target=self.run, args=(gap,), daemon=True)
        self.thread.start()

    def run(self, gap):
        while not self.stop.is_set() and len(self.closed_at) < len(self.socks):
            for i, s in enumerate(self.socks):
                if i in self.closed_at:
                    continue
                try:
                    s.sendall(b"a")
                except OSError:
                    self.closed_at[i] = time.monotonic() - self.started
            self.stop.wait(gap)

    def close(self):
        self.stop.set()
        self.thread.join(10)
        for s in self.socks:
            s.close()


def timed_get(d, path="/healthz"):
    t0 = time.monotonic()
    r = d.get(path)
    return r.status, time.monotonic() - t0


def test_slow_loris_is_closed_and_others_are_served(make_config, daemon):
    d = daemon(make_config({"http": {"timeout_s": "2", "max_connections": "100"}}))
    loris = Loris(d.port, 20)
    try:
        # Below the cap, well-behaved clients are answered at once meanwhile.
        for _ in range(5):
            status, secs = timed_get(d)
            assert status == 200 and secs < 2, f"{status} after {secs:.2f} s"
        # Trickling does not keep a connection: each is closed soon after 2 s.
        wrtest.wait_until("every slow-loris connection to be closed",
                          lambda: len(loris.closed_at) == 20, timeout=15,
                          describe=lambda: f"closed: {sorted(loris.closed_at.values())}")
        assert max(loris.closed_at.values()) < 8, sorted(loris.closed_at.values())
    finally:
        loris.close()
    samples = d.metrics()
    assert wrtest.metric(samples, CLOSED, reason="request_timeout") >= 20
    d.stop()


def test_slow_loris_cannot_hold_every_slot(make_config, daemon):
    d = daemon(make_config({"http": {"timeout_s": "2", "max_connections": "10"}}))
    loris = Loris(d.port, 10)
    try:
        time.sleep(0.5)  # all ten slots are taken now
        # The request waits in the backlog until the deadline frees the slots, not forever.
        status, secs = timed_get(d)
        assert status == 200, status
        assert secs < 6, f"answered after {secs:.2f} s"
    finally:
        loris.close()
    d.stop()


def test_idle_connections_stay_within_the_cap(make_config, daemon):
    cap = 30
    d = daemon(make_config({"http": {"timeout_s": "2", "max_connections": str(cap)}}))
    peak = []
    stop = threading.Event()

    idle = []
    try:
        for _ in range(2 * cap):     # half of them wait in the listen backlog
            idle.append(connect(d.port))
        time.sleep(0.5)

        def watch():
            # /metrics itself needs a slot: read it between the waves of idle clients.
            while not stop.is_set():
                try:
                    c = connect(d.port)
                    c.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
                    c.settimeout(wrtest.HTTP_TIMEOUT_S)
                    data = b""
                    while chunk := c.recv(65536):
                        data += chunk
                    c.close()
                    text = data.split(b"\r\n\r\n", 1)[1].decode()
                    peak.append(wrtest.metric(wrtest.parse_metrics(text), CONNS))
                except OSError:
                    pass
                stop.wait(0.2)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        # Every idle connection is closed by the daemon in time, the waiting ones included.
        for s in idle:
            assert closed_by_server(s, 15), "an idle connection was never closed"
        status, secs = timed_get(d)
        assert status == 200 and secs < 2, f"{status} after {secs:.2f} s"
        stop.set()
        watcher.join(10)
    finally:
        stop.set()
        for s in idle:
            s.close()
    assert peak, "no /metrics reading succeeded while the idle connections were open"
    assert max(peak) <= cap, f"open connections peaked at {max(peak)} over the cap {cap}"
    wrtest.wait_until("the connection gauge to fall back",
                      lambda: wrtest.metric(d.metrics(), CONNS) <= 2)
    d.stop()


def test_keep_alive_gets_the_full_time_for_each_request(make_config, daemon):
    d = daemon(make_config({"http": {"timeout_s": "2"}}))
    s = connect(d.port)
    try:
        # Requests every 0.5 s for longer than the timeout: the connection stays open.
        t0 = time.monotonic()
        while time.monotonic() - t0 < 4:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            s.settimeout(wrtest.HTTP_TIMEOUT_S)
            data = s.recv(4096)
            assert data.startswith(b"HTTP/1.1 200"), data[:80]
            time.sleep(0.5)
        # Then idle: closed after the timeout.
        assert closed_by_server(s, 10)
    finally:
        s.close()
    d.stop()


def test_a_slow_upload_body_is_cut_off(make_config, daemon):
    d = daemon(make_config({"http": {"timeout_s": "2"}}))
    s = connect(d.port)
    try:
        s.sendall(b"POST /v1/signals HTTP/1.1\r\nHost: localhost\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        t0 = time.monotonic()
        closed = False
        while time.monotonic() - t0 < 10:
            try:
                s.sendall(b"x" * 10)
            except OSError:
                closed = True
                break
            s.settimeout(0.3)
            try:
                if s.recv(4096) == b"":
                    closed = True
                    break
            except socket.timeout:
                pass
            except ConnectionResetError:
                closed = True
                break
        assert closed, "a body trickled in for 10 s was not cut off"
        assert time.monotonic() - t0 < 6
    finally:
        s.close()
    assert d.get("/healthz").status == 200
    d.stop()
