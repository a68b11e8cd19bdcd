"""The backend's HTTPS enrollment endpoint.

    GET  /v1/ca      the site CA certificate (the client checks it against its token)
    POST /v1/enroll  {"token", "csr"} -> certificate, CA and bundle; the token is spent
    POST /v1/renew   {"csr"}, over mutual TLS with the current certificate -> new certificate
    POST /v1/keys    {}, over mutual TLS -> the backend signing keys to trust now (rotation)

Bodies are JSON of at most 16 KiB; a refusal is a 4xx with {"error": code, "message": text},
and each one is logged for the operator with the terminal id and the cause.

The lobby network is untrusted, so each connection has an overall deadline (TLS handshake,
request line, headers and body together) and the number of open connections is capped, in
total and per source address: a client that drips bytes or opens connections by the hundred
holds at most a few slots, for at most the deadline, and the process keeps its threads and file
descriptors.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509

from . import pki
from .authority import EnrollmentRefused, SiteAuthority
from .tls import ClientTls
from .tokens import EnrollmentToken, TokenFormatError

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024
# The whole of a request (TLS handshake, request line, headers, body) must arrive within this.
REQUEST_DEADLINE = 15.0
# Connections open at once, in total and from one source address; beyond them a new connection
# is closed at once.
MAX_CONNECTIONS = 64
MAX_PER_ADDRESS = 8
# Writing the (small) answer once the request is in.
_WRITE_TIMEOUT = 10.0
# What the backend adds to a terminal's bundle (broker address, the keys it shares), given the
# terminal id, the broker the registry assigns it to (None: the default one) and this
# endpoint's URL.
BundleSource = Callable[[str, str | None, str], dict[str, Any]]

_REFUSAL_STATUS = {
    "bad_request": HTTPStatus.BAD_REQUEST,
    "bad_csr": HTTPStatus.BAD_REQUEST,
    "cn_mismatch": HTTPStatus.FORBIDDEN,
    "too_large": HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    "no_client_certificate": HTTPStatus.UNAUTHORIZED,
    "unknown_broker": HTTPStatus.CONFLICT,
}


class EnrollmentServer:
    """A small threaded HTTPS server on its own port, run inside the backend process."""

    def __init__(
        self,
        authority: SiteAuthority,
        bundle_source: BundleSource,
        *,
        host: str = "127.0.0.1",
        port: int = 8443,
        server_names: tuple[str, ...] = (),
        tls_dir: Path,
        request_deadline: float = REQUEST_DEADLINE,
        max_connections: int = MAX_CONNECTIONS,
        max_per_address: int = MAX_PER_ADDRESS,
    ):
        self.authority = authority
        self.bundle_source = bundle_source
        names = ("127.0.0.1", "localhost", *server_names)
        files = ClientTls.in_dir(tls_dir)
        if not files.cert_file.exists():
            authority.issue_server("enrollment", tls_dir, names)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(files.cert_file), str(files.key_file))
        # Optional: enrollment has no certificate yet; renewal must show one.
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(cadata=authority.ca_pem.decode())
        self.request_deadline = request_deadline
        self._httpd = _LimitedHTTPServer(
            (host, port), _handler_for(self), max_connections, max_per_address
        )
        self._httpd.socket = ctx.wrap_socket(
            self._httpd.socket, server_side=True, do_handshake_on_connect=False
        )
        self.host, self.port = host, self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def open_connections(self) -> int:
        """Connections being served now."""
        return self._httpd.open_connections

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def start(self) -> EnrollmentServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="enrollment-https", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread:
            self._httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._httpd.server_close()

    # ------------------------------------------------------------------ operations

    def enroll(self, body: dict[str, Any]) -> dict[str, Any]:
        token_text, csr = body.get("token"), body.get("csr")
        if not isinstance(token_text, str) or not isinstance(csr, str):
            raise EnrollmentRefused("bad_request", "send {token, csr} as strings")
        try:
            terminal_id = EnrollmentToken.parse(token_text).terminal_id
        except TokenFormatError as exc:
            raise EnrollmentRefused("bad_request", str(exc)) from None
        cert, bundle = self.authority.enroll(
            token_text, csr.encode(), lambda tid, broker: self.bundle_source(tid, broker, self.url)
        )
        self.authority.publish()
        log.info("%s enrolled from the lobby", terminal_id)
        return {
            "certificate": pki.cert_pem(cert).decode(),
            "ca": self.authority.ca_pem.decode(),
            "bundle": bundle,
        }

    def trusted_keys(self, peer: x509.Certificate | None) -> dict[str, Any]:
        """The backend keys an enrolled terminal must trust now (announced, current, previous)."""
        if peer is None or not self.authority.is_active_certificate(peer):
            raise EnrollmentRefused(
                "no_client_certificate", "only an enrolled terminal may ask for the keys"
            )
        return {"backend_signing_keys": list(self.authority.backend_signing_keys())}

    def renew(self, peer: x509.Certificate | None, body: dict[str, Any]) -> dict[str, Any]:
        if peer is None:
            raise EnrollmentRefused(
                "no_client_certificate", "renewal needs the terminal's current certificate"
            )
        csr = body.get("csr")
        if not isinstance(csr, str):
            raise EnrollmentRefused("bad_request", "send {csr} as a string")
        cert = self.authority.renew(peer, csr.encode())
        # Renewal also hands out the backend keys to trust, so a key rotation reaches the fleet.
        return {
            "certificate": pki.cert_pem(cert).decode(),
            "backend_signing_keys": list(self.authority.backend_signing_keys()),
        }


class _LimitedHTTPServer(ThreadingHTTPServer):
    """A thread per connection, but only so many connections at once, in total and from one
    source address; errors on a connection are logged in a line, not printed as tracebacks."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        max_connections: int,
        max_per_address: int,
    ):
        super().__init__(address, handler)
        self.max_connections = max_connections
        self.max_per_address = max_per_address
        self._slots_lock = threading.Lock()
        self._per_address: dict[str, int] = {}
        self.open_connections = 0

    def process_request(self, request: Any, client_address: Any) -> None:
        who = client_address[0]
        with self._slots_lock:
            full = self.open_connections >= self.max_connections
            if not full and self._per_address.get(who, 0) < self.max_per_address:
                self.open_connections += 1
                self._per_address[who] = self._per_address.get(who, 0) + 1
                taken = True
            else:
                taken = False
        if not taken:
            log.warning(
                "enrollment connection from %s refused: %s",
                who,
                "too many connections" if full else "too many connections from this address",
            )
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            # The thread did not start: give the slot back and close the connection.
            self._release(who)
            self.shutdown_request(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release(client_address[0])

    def _release(self, who: str) -> None:
        with self._slots_lock:
            self.open_connections -= 1
            left = self._per_address.get(who, 0) - 1
            if left > 0:
                self._per_address[who] = left
            else:
                self._per_address.pop(who, None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        who = client_address[0] if client_address else "?"
        if isinstance(exc, OSError):  # ssl.SSLError, resets, timeouts, the deadline
            log.info("enrollment connection from %s ended: %s", who, exc or type(exc).__name__)
        else:
            log.error("enrollment connection from %s failed", who, exc_info=exc)


class _DeadlineReader(io.RawIOBase):
    """Reads from the socket with the timeout shrunk to what is left before the deadline."""

    def __init__(self, sock: socket.socket, deadline: float):
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request took longer than its deadline")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


def _handler_for(server: EnrollmentServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # A client that stalls mid-request is dropped, not waited for: each read waits at most
        # until the connection's deadline (see setup()).
        timeout = _WRITE_TIMEOUT
        server_version = "allhours-enrollment"
        sys_version = ""
        _answer_started = False

        def setup(self) -> None:
            deadline = time.monotonic() + server.request_deadline
            conn = self.request
            # The handshake (deferred from accept) runs here, in this connection's thread.
            conn.settimeout(server.request_deadline)
            conn.do_handshake()
            super().setup()
            # The socket is really closed only once every file made from it is closed.
            self.rfile.close()
            self.rfile = io.BufferedReader(_DeadlineReader(conn, deadline))

        def send_response(self, code: int, message: str | None = None) -> None:
            self._answer_started = True
            # The request is in: the answer gets its own write timeout.
            self.connection.settimeout(_WRITE_TIMEOUT)
            super().send_response(code, message)

        def do_GET(self) -> None:
            self._guarded(self._get)

        def do_POST(self) -> None:
            self._guarded(self._post)

        def _guarded(self, serve: Callable[[], None]) -> None:
            """Last resort: an unexpected error is logged and answered with a 500."""
            try:
                serve()
            except (TimeoutError, ConnectionError):
                raise  # the connection itself failed: nothing to answer on
            except Exception:
                log.exception(
                    "enrollment %s %s from %s failed",
                    self.command,
                    self.path,
                    self.client_address[0],
                )
                if not self._answer_started:
                    self.close_connection = True
                    self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal"})

        def _get(self) -> None:
            if self.path != "/v1/ca":
                self._send(HTTPStatus.NOT_FOUND, {"error": "not_found", "message": self.path})
                return
            self._send_raw(HTTPStatus.OK, server.authority.ca_pem, "application/x-pem-file")

        def _post(self) -> None:
            who = self.client_address[0]
            try:
                body = self._body()
                if self.path == "/v1/enroll":
                    answer = server.enroll(body)
                elif self.path == "/v1/renew":
                    answer = server.renew(self._peer(), body)
                elif self.path == "/v1/keys":
                    answer = server.trusted_keys(self._peer())
                else:
                    self._send(HTTPStatus.NOT_FOUND, {"error": "not_found", "message": self.path})
                    return
            except EnrollmentRefused as exc:
                log.warning("enrollment refused (%s from %s): %s", exc.code, who, exc.message)
                status = _REFUSAL_STATUS.get(exc.code, HTTPStatus.FORBIDDEN)
                self._send(status, {"error": exc.code, "message": exc.message})
                return
            self._send(HTTPStatus.OK, answer)

        def _body(self) -> dict[str, Any]:
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                raise EnrollmentRefused("bad_request", "Content-Length is required") from None
            if length > MAX_BODY or length < 0:
                raise EnrollmentRefused("too_large", f"requests are at most {MAX_BODY} bytes")
            try:
                data = json.loads(self.rfile.read(length))
            except (ValueError, RecursionError):
                raise EnrollmentRefused("bad_request", "the body is not JSON") from None
            if not isinstance(data, dict):
                raise EnrollmentRefused("bad_request", "the body must be a JSON object")
            return data

        def _peer(self) -> x509.Certificate | None:
            der = self.connection.getpeercert(binary_form=True)  # type: ignore[attr-defined]
            return x509.load_der_x509_certificate(der) if der else None

        def _send(self, status: HTTPStatus, data: dict[str, Any]) -> None:
            self._send_raw(status, json.dumps(data).encode(), "application/json")

        def _send_raw(self, status: HTTPStatus, payload: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("enrollment %s: " + format, self.client_address[0], *args)

    return Handler
