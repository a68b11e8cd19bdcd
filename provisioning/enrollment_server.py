"""The backend's HTTPS enrollment endpoint.

    GET  /v1/ca      the site CA certificate (the client checks it against its token)
    POST /v1/enroll  {"token", "csr"} -> certificate, CA and bundle; the token is spent
    POST /v1/renew   {"csr"}, over mutual TLS with the current certificate -> new certificate
    POST /v1/keys    {}, over mutual TLS -> the backend signing keys to trust now (rotation)

Bodies are JSON of at most 16 KiB; a refusal is a 4xx with {"error": code, "message": text},
and each one is logged for the operator with the terminal id and the cause.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
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
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._httpd.socket = ctx.wrap_socket(
            self._httpd.socket, server_side=True, do_handshake_on_connect=False
        )
        self.host, self.port = host, self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

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


def _handler_for(server: EnrollmentServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # A client that stalls mid-request is dropped, not waited for.
        timeout = 10
        server_version = "allhours-enrollment"
        sys_version = ""

        def do_GET(self) -> None:
            if self.path != "/v1/ca":
                self._send(HTTPStatus.NOT_FOUND, {"error": "not_found", "message": self.path})
                return
            self._send_raw(HTTPStatus.OK, server.authority.ca_pem, "application/x-pem-file")

        def do_POST(self) -> None:
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
