"""A remote identity-verification service on loopback, speaking the same JSON API over HTTP(S).

The portrait comparison is injected (`compare(registered_jpeg, live_jpeg) -> similarity`),
so devices/ stays free of face code; tests plug in face_recognition on real photos.
"""

from __future__ import annotations

import base64
import binascii
import json
import ssl
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from .http_adapter import PATH

Compare = Callable[[bytes, bytes], float]


@dataclass(frozen=True)
class RegisteredPerson:
    """What the service holds for one ID number."""

    name: str
    portrait_jpeg: bytes = field(repr=False)


class RemoteVerifyEmulator:
    """start(); point HttpRemoteVerifier at `base_url`; stop()."""

    def __init__(
        self,
        compare: Compare,
        *,
        registry: dict[str, RegisteredPerson] | None = None,
        threshold: float = 0.5,
        api_key: str = "test-key",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.compare = compare
        self.registry = dict(registry or {})
        self.threshold = threshold
        self.api_key = api_key
        self.ssl_context = ssl_context
        self.fail_next: list[int] = []  # statuses to answer the next requests with (e.g. 503)
        self.delay_s = 0.0  # added before each answer (to test client timeouts)
        # (HTTP status, body) sent back instead of the answer, as a gateway or proxy between
        # may: the request itself is served. The body is sent `mangled_repeat` times in a row
        # (hundreds of MB without holding them), with a Content-Length unless `mangled_length`
        # is False (the body then ends when the connection closes, as HTTP/1.0 allows).
        # `mangled_sent` counts the bytes of mangled bodies the client took before hanging up.
        self.mangled: tuple[int, bytes] | None = None
        self.mangled_repeat = 1
        self.mangled_length = True
        self.mangled_sent = 0
        # Drip-feeding, as a slow or hostile service or gateway may: with `drip_s` > 0 the
        # answer's status line and headers go at once, then its body one byte every `drip_s`
        # seconds (each gap can be under a client's read timeout while the whole takes
        # minutes); `drip_headers` drips the status line and headers too. `drip_sent` counts
        # the bytes dripped before the client hung up.
        self.drip_s = 0.0
        self.drip_headers = False
        self.drip_sent = 0
        self.requests: list[dict[str, Any]] = []  # what arrived (photo replaced by its size)
        self._done: dict[str, tuple[int, dict[str, Any]]] = {}  # Idempotency-Key -> answer
        self._server: HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def base_url(self) -> str:
        """e.g. http://127.0.0.1:40123 (https with an ssl_context)."""
        assert self._server is not None, "start() first"
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> RemoteVerifyEmulator:
        """Listen on a free loopback port and serve in one thread."""
        server = HTTPServer(("127.0.0.1", 0), _handler_for(self))
        if self.ssl_context is not None:
            server.socket = self.ssl_context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="remote-verify-emu"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is None:
            return
        self._stop.set()
        self._server.shutdown()
        assert self._thread is not None
        self._thread.join(timeout=5)
        self._server.server_close()
        self._server = None
        self._thread = None

    def __enter__(self) -> RemoteVerifyEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(self, headers: Any, raw: bytes) -> tuple[int, dict[str, Any]]:
        """The service's logic: (HTTP status, JSON body) for one request."""
        if headers.get("Authorization") != f"Bearer {self.api_key}":
            return 401, {"error": "unauthorized", "detail": "missing or wrong bearer key"}
        if self.fail_next:
            status = self.fail_next.pop(0)
            return status, {"error": "unavailable", "detail": "injected failure"}
        key = headers.get("Idempotency-Key")
        if key and key in self._done:
            return self._done[key]
        try:
            body = json.loads(raw)
            name, number = body["name"], body["id_number"]
            live = base64.b64decode(body["portrait_jpeg"], validate=True)
            if not (isinstance(name, str) and isinstance(number, str)):
                raise TypeError
        except (ValueError, KeyError, TypeError, binascii.Error):
            return 400, {"error": "bad_request", "detail": "name, id_number, portrait_jpeg"}
        self.requests.append(
            {"request_id": body.get("request_id"), "id_len": len(number), "photo_bytes": len(live)}
        )
        tx = uuid.uuid4().hex
        person = self.registry.get(number)
        if person is None:
            verdict = {"result": "not_found", "matched": False, "score": 0.0}
        elif person.name != name:
            verdict = {"result": "name_mismatch", "matched": False, "score": 0.0}
        else:
            score = min(1.0, max(0.0, float(self.compare(person.portrait_jpeg, live))))
            matched = score >= self.threshold
            verdict = {"result": "match" if matched else "no_match", "matched": matched,
                       "score": round(score, 4)}  # fmt: skip
        answer = (200, {"transaction_id": tx, **verdict})
        if key:
            self._done[key] = answer
        return answer


def _handler_for(emulator: RemoteVerifyEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, so no handler outlives its request.
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            if self.path == "/v1/health":
                self._send(200, {"status": "ok"})
            else:
                self._send(404, {"error": "not_found"})

        def do_POST(self) -> None:
            if self.path != PATH:
                self._send(404, {"error": "not_found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if emulator.delay_s and emulator._stop.wait(emulator.delay_s):
                return
            status, body = emulator.answer(self.headers, raw)
            if emulator.mangled is not None:
                status, payload = emulator.mangled
                repeat = emulator.mangled_repeat
                length = len(payload) * repeat if emulator.mangled_length else None
                self._write(status, payload, repeat=repeat, length=length, count=True)
                return
            if emulator.drip_s:
                self._drip(status, json.dumps(body).encode(), emulator.drip_s)
                return
            self._send(status, body)

        def _drip(self, status: int, payload: bytes, interval_s: float) -> None:
            head = (
                f"{self.protocol_version} {status} {self.responses[status][0]}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
            ).encode("latin-1")
            try:
                if not emulator.drip_headers:
                    self.wfile.write(head)
                    head = b""
                for byte in head + payload:
                    if emulator._stop.wait(interval_s):
                        return
                    self.wfile.write(bytes((byte,)))  # wfile is unbuffered: one byte sent
                    emulator.drip_sent += 1
            except OSError:
                pass  # the client gave up

        def _send(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self._write(status, payload, length=len(payload))

        def _write(
            self,
            status: int,
            payload: bytes,
            *,
            repeat: int = 1,
            length: int | None,
            count: bool = False,
        ) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if length is not None:
                    self.send_header("Content-Length", str(length))
                self.end_headers()
                for _ in range(repeat):
                    self.wfile.write(payload)
                    if count:
                        emulator.mangled_sent += len(payload)
            except OSError:
                pass  # the client gave up (timeout, or an answer it would not read)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # requests carry ID numbers: no access log

    return Handler
