"""The enrollment endpoint against lobby clients that stall, flood or hang up: each connection
has an overall deadline, connections are capped in total and per source address, and a failed
connection is one log line, not a traceback."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import struct
import time
from contextlib import ExitStack, suppress
from pathlib import Path

import pytest

from provisioning import pki
from provisioning.enrollment_server import EnrollmentServer

LOG = "provisioning.enrollment_server"


@pytest.fixture
def start_server(site_ca, tmp_path: Path):
    servers: list[EnrollmentServer] = []

    def start(**limits) -> EnrollmentServer:
        server = EnrollmentServer(
            site_ca,
            lambda tid, broker, url: {"terminal": tid},
            host="127.0.0.1",
            port=0,
            tls_dir=tmp_path / "enrollment-tls",
            **limits,
        ).start()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


def _tls(site_ca) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=site_ca.ca_pem.decode())


def _connect(server, site_ca, source: str = "127.0.0.1") -> ssl.SSLSocket:
    """A TLS connection from `source` (any 127/8 address reaches the loopback server)."""
    raw = socket.create_connection((server.host, server.port), 5, source_address=(source, 0))
    try:
        return _tls(site_ca).wrap_socket(raw, server_hostname="127.0.0.1")
    except BaseException:
        raw.close()
        raise


def _slow_client(server, site_ca, source: str = "127.0.0.1") -> ssl.SSLSocket:
    conn = _connect(server, site_ca, source)
    conn.sendall(b"POST /v1/enroll HTTP/1.1\r\nHost: x\r\n")
    return conn


def _refused(server, site_ca, source: str) -> bool:
    try:
        conn = _connect(server, site_ca, source)
    except OSError:  # closed at once: reset, or EOF in the handshake
        return True
    with conn:
        conn.settimeout(2)
        try:
            return conn.recv(1) == b""
        except TimeoutError:
            return False  # held open: accepted
        except OSError:
            return True


def _enroll(server, site_ca, terminal_id: str) -> tuple[int, dict]:
    token = site_ca.issue_token(terminal_id)
    csr = pki.make_csr(pki.new_key(), terminal_id).decode()
    conn = http.client.HTTPSConnection(server.host, server.port, context=_tls(site_ca), timeout=10)
    try:
        conn.request(
            "POST",
            "/v1/enroll",
            json.dumps({"token": str(token), "csr": csr}),
            {"Content-Type": "application/json"},
        )
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        conn.close()


@pytest.mark.parametrize(
    "prefix",
    [
        b"POST /v1/enroll HTTP/1.1\r\nHost: x\r\nX-Drip: ",
        b"POST /v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
    ],
    ids=["headers", "body"],
)
def test_a_client_dripping_bytes_is_cut_off_at_the_deadline(start_server, site_ca, prefix):
    server = start_server(request_deadline=1.0)
    conn = _connect(server, site_ca)
    with conn:
        conn.sendall(prefix)
        started = time.monotonic()
        conn.settimeout(0.2)
        closed_after = None
        while time.monotonic() - started < 8:
            try:
                if conn.recv(1) == b"":
                    closed_after = time.monotonic() - started
                    break
            except TimeoutError:
                try:
                    conn.sendall(b"x")  # one byte every 0.2 s: each read is quick
                except OSError:
                    closed_after = time.monotonic() - started
                    break
            except OSError:
                closed_after = time.monotonic() - started
                break
    assert closed_after is not None, "the dripping client was never disconnected"
    assert closed_after < 1.0 + 2.0
    deadline = time.monotonic() + 3
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.open_connections == 0


def test_slow_clients_from_one_address_hold_only_their_share(start_server, site_ca):
    server = start_server(request_deadline=5.0, max_connections=64, max_per_address=3)
    with ExitStack() as stack:
        for _ in range(3):
            stack.enter_context(_slow_client(server, site_ca, "127.0.0.2"))
        # That address is at its cap: a further connection from it is closed at once ...
        assert _refused(server, site_ca, "127.0.0.2")
        # ... while a terminal from another address enrolls as quickly as ever.
        started = time.monotonic()
        status, answer = _enroll(server, site_ca, "T0001")
        assert status == 200, answer
        assert "certificate" in answer
        assert time.monotonic() - started < 2.0
    # The slow clients gone, their slots are given back.
    deadline = time.monotonic() + 3
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.open_connections == 0
    assert not _refused(server, site_ca, "127.0.0.2")


def test_connections_beyond_the_total_cap_are_refused_until_slots_free(start_server, site_ca):
    server = start_server(request_deadline=1.5, max_connections=3, max_per_address=10)
    with ExitStack() as stack:
        slow = [
            stack.enter_context(_slow_client(server, site_ca, f"127.0.0.{n}")) for n in (2, 3, 4)
        ]
        assert _refused(server, site_ca, "127.0.0.5")
        # The deadline cuts the slow clients off (they stay open on this side) ...
        for conn in slow:
            conn.settimeout(5)
            with suppress(OSError):  # EOF, or a TLS error for the unclean close
                assert conn.recv(1) == b""
        # ... and a real enrollment gets a slot again.
        deadline = time.monotonic() + 3
        while server.open_connections and time.monotonic() < deadline:
            time.sleep(0.02)
        started = time.monotonic()
        status, answer = _enroll(server, site_ca, "T0001")
        assert status == 200, answer
        assert time.monotonic() - started < 2.0


def _untrusting(server) -> None:
    """A client that does not trust the site CA: it sends an alert and hangs up mid-handshake."""
    raw = socket.create_connection((server.host, server.port), 5)
    with raw, pytest.raises(ssl.SSLError):
        ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")


def _plain_http(server) -> None:
    with socket.create_connection((server.host, server.port), 5) as raw:
        raw.sendall(b"GET /v1/ca HTTP/1.0\r\n\r\n")
        raw.recv(100)


def _reset(server) -> None:
    raw = socket.create_connection((server.host, server.port), 5)
    # The start of a ClientHello record, then a reset once the server is in the handshake.
    raw.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 16)
    deadline = time.monotonic() + 3
    while server.open_connections == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raw.close()


@pytest.mark.parametrize("hang_up", [_untrusting, _plain_http, _reset], ids=lambda f: f.__name__)
def test_a_failed_handshake_is_one_log_line_not_a_traceback(
    start_server, site_ca, caplog, capfd, hang_up
):
    caplog.set_level(logging.INFO, logger=LOG)
    server = start_server(request_deadline=5.0)
    hang_up(server)

    printed = ""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        printed += capfd.readouterr().err
        logged = [r for r in caplog.records if r.name == LOG and "ended" in r.getMessage()]
        if logged or "Traceback" in printed:
            break
        time.sleep(0.05)
    assert "Traceback" not in printed
    assert len(logged) == 1
    assert logged[0].exc_info is None
    assert "127.0.0.1" in logged[0].getMessage()


def test_an_unexpected_error_is_answered_with_a_500(start_server, site_ca, monkeypatch, caplog):
    server = start_server()

    def broken(body):
        raise RuntimeError("a bug")

    monkeypatch.setattr(server, "enroll", broken)
    with caplog.at_level(logging.ERROR, logger=LOG):
        status, answer = _enroll(server, site_ca, "T0001")
    assert status == 500
    assert answer == {"error": "internal"}
    assert any("a bug" in (r.exc_text or "") or r.exc_info for r in caplog.records)
