"""The remote identity-verification service over HTTPS (JSON API, see docs/identity-cnid.md).

POST {base_url}/v1/verifications with a bearer key and an Idempotency-Key; retried only on
5xx answers (the request id makes a retry safe), never on 4xx, never on timeouts, so a slow
service does not keep the citizen waiting for several timeouts in a row.

`timeout_s` is a total deadline for each attempt: connecting, the TLS handshake, sending the
request, its headers and its body all end by then (`RemoteVerifyUnavailable`, "did not answer
in time"). httpx's own timeouts bound each socket operation only, so a service or gateway
sending a byte just before each read timeout (headers or body) could hold the citizen for as
long as it liked. Every read and write on the connection gets the time left before the
attempt's deadline as its timeout (`_DeadlineBackend`), and none starts once it has passed.
Connecting ends by the deadline too: the service's name is resolved in a thread the attempt
stops waiting for at its deadline (getaddrinfo has no timeout), and each of the name's
addresses is tried with only the time left (socket.create_connection gives each the whole
timeout).
"""

from __future__ import annotations

import base64
import contextvars
import ipaddress
import json
import logging
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
from httpcore._backends.sync import SyncStream

from privacy import mask_id_number

from .port import (
    RemoteVerdict,
    RemoteVerifyProtocolError,
    RemoteVerifyRejected,
    RemoteVerifyTlsError,
    RemoteVerifyUnavailable,
)

log = logging.getLogger(__name__)

PATH = "/v1/verifications"
RESULTS = ("match", "no_match", "not_found", "name_mismatch")
# The API's answers are a few hundred bytes and a gateway's error page a few KB. The answer is
# read as a stream and refused past this, so a broken or hostile gateway answering hundreds of
# MB cannot exhaust a kiosk's memory (about 2 GB) in the middle of a face check. It is also one
# socket read (httpcore reads 64 KiB at a time). Compression is declined (Accept-Encoding:
# identity) and the bound counts the bytes as received, so a compressed body cannot expand
# past it either: one sent compressed anyway is not the agreed JSON.
MAX_ANSWER_BYTES = 64 * 1024
# The request goes out in pieces of this size, each with the time left as its timeout: httpcore
# gives each partial send of a write the whole timeout, so one write of the whole request (a
# photo of up to 2 MB) to a peer reading slowly could last many timeouts. A piece takes one or
# a few sends, so a write ends at most a few sends' waits past the deadline.
WRITE_PIECE_BYTES = 16 * 1024
# Name lookups (getaddrinfo, which has no timeout: a DNS server that does not answer holds it for
# the resolver's own tries, 5 s per try and per name server by default) run in a daemon thread
# each, which the attempt stops waiting for at its deadline; a lookup given up on runs on until
# the resolver gives up. At most this many run at once (a slot is taken before a thread starts
# and freed when its lookup ends): past them an attempt waits, within its deadline, for a slot,
# so a dead DNS server leaves at most this many threads behind however many citizens try. The
# kiosk verifies one citizen at a time; a few slots let later attempts resolve while earlier
# lookups are still stuck. Not concurrent.futures: its workers are joined at interpreter exit
# (a stuck lookup would hold the kiosk's shutdown) and a queued lookup would still run after
# its attempt had given up on it.
RESOLVER_THREADS = 4
_resolver_slots = threading.BoundedSemaphore(RESOLVER_THREADS)
# time.monotonic() by which the running attempt ends (per thread, as httpx's sync client does
# its I/O in the caller's thread); None outside an attempt.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "remote_verify_deadline", default=None
)


class HttpRemoteVerifier:
    """RemoteIdentityVerifier over HTTP(S) with httpx."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str,
        timeout_s: float = 5.0,
        retries: int = 2,
        backoff_s: float = 0.2,
        verify: bool | str | ssl.SSLContext = True,
        client_cert: str | tuple[str, str] | None = None,
        max_photo_bytes: int = 2_000_000,
    ) -> None:
        if retries < 0 or timeout_s <= 0:
            raise ValueError("retries must be >= 0 and timeout_s > 0")
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_photo_bytes = max_photo_bytes
        self._api_key = api_key
        if isinstance(verify, str):  # a CA bundle for a private service
            verify = ssl.create_default_context(cafile=verify)
        if client_cert is not None:
            ctx = verify if isinstance(verify, ssl.SSLContext) else ssl.create_default_context()
            if verify is False:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            certfile, keyfile = (
                client_cert if isinstance(client_cert, tuple) else (client_cert, None)
            )
            ctx.load_cert_chain(certfile, keyfile)
            verify = ctx
        self.timeout_s = timeout_s
        self._client = httpx.Client(
            base_url=self.base_url, timeout=httpx.Timeout(timeout_s), verify=verify
        )
        # Every connection pool of the client (the direct one and any proxy from the
        # environment) opens its connections through the deadline. httpx offers no public way
        # to pass a network backend; this fails here, loudly, if its internals change.
        pools = [t._pool for t in (self._client._transport, *self._client._mounts.values()) if t]
        for pool in pools:
            if not isinstance(pool._network_backend, httpcore.SyncBackend):
                raise TypeError(f"unexpected network backend {pool._network_backend!r}")
            pool._network_backend = _DeadlineBackend(pool._network_backend)
        self.requests = 0

    def verify(self, name: str, id_number: str, live_jpeg: bytes) -> RemoteVerdict:
        """Ask the service whether live_jpeg is the registered holder of id_number and name."""
        if not live_jpeg.startswith(b"\xff\xd8\xff"):
            raise RemoteVerifyRejected("the live photo is not a JPEG; nothing was sent")
        if len(live_jpeg) > self.max_photo_bytes:
            raise RemoteVerifyRejected(
                f"the live photo has {len(live_jpeg)} bytes, over {self.max_photo_bytes}"
            )
        request_id = uuid.uuid4().hex
        body = {
            "request_id": request_id,
            "name": name,
            "id_number": id_number,
            "portrait_jpeg": base64.b64encode(live_jpeg).decode("ascii"),
        }
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Idempotency-Key": request_id,
            "Accept-Encoding": "identity",
        }
        for attempt in range(self.retries + 1):
            status, answer = self._post(body, headers)
            if status < 500:
                break
            log.warning(
                "identity verification for %s: HTTP %d (attempt %d of %d)",
                mask_id_number(id_number),
                status,
                attempt + 1,
                self.retries + 1,
            )
            if attempt < self.retries:
                time.sleep(self.backoff_s * 2**attempt)
        else:
            raise RemoteVerifyUnavailable(
                f"{self.base_url}{PATH} answered HTTP {status} {self.retries + 1} times"
            )
        if status in (401, 403):
            raise RemoteVerifyRejected(
                f"{self.base_url}{PATH} refused our credentials (HTTP {status})"
            )
        if status != 200:
            raise RemoteVerifyRejected(
                f"{self.base_url}{PATH} refused the request (HTTP {status}):"
                f" {_error_detail(answer)}"
            )
        verdict = _parse_verdict(answer)
        log.info(
            "identity verification for %s: %s (score %.3f, transaction %s)",
            mask_id_number(id_number),
            verdict.result,
            verdict.score,
            verdict.transaction_id,
        )
        return verdict

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> HttpRemoteVerifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self, body: dict[str, str], headers: dict[str, str]) -> tuple[int, bytes | None]:
        """(HTTP status, the answer's bytes); the bytes are None when the answer was over
        MAX_ANSWER_BYTES or, for a 5xx (retried, its body unused), not read at all. Leaving the
        stream with the answer unread closes the connection."""
        self.requests += 1
        token = _deadline.set(time.monotonic() + self.timeout_s)
        try:
            with self._client.stream("POST", PATH, json=body, headers=headers) as response:
                if response.status_code >= 500 or response.status_code in (401, 403):
                    return response.status_code, None
                return response.status_code, _read_bounded(response, MAX_ANSWER_BYTES)
        except httpx.TimeoutException as exc:
            raise RemoteVerifyUnavailable(
                f"{self.base_url}{PATH} did not answer in time ({type(exc).__name__})"
            ) from exc
        except httpx.ConnectError as exc:
            if "CERTIFICATE" in str(exc).upper() or isinstance(exc.__cause__, ssl.SSLError):
                raise RemoteVerifyTlsError(f"TLS with {self.base_url} failed: {exc}") from exc
            raise RemoteVerifyUnavailable(f"cannot connect to {self.base_url}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise RemoteVerifyUnavailable(f"{self.base_url}{PATH} failed: {exc}") from exc
        finally:
            _deadline.reset(token)


def _time_left(timeout: float | None, expired: type[httpcore.TimeoutException]) -> float | None:
    """An operation's timeout cut to the time left before the attempt's deadline; `expired`
    raised when none is left."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the attempt's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read, write and TLS handshake ends by the attempt's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        for start in range(0, len(buffer), WRITE_PIECE_BYTES):
            piece = buffer[start : start + WRITE_PIECE_BYTES]
            self._stream.write(piece, _time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _time_left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> object:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's SyncBackend, its connections ending by the attempt's deadline."""

    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[tuple[Any, ...]] | None = None,
    ) -> httpcore.NetworkStream:
        """SyncBackend.connect_tcp, with the name resolved and its addresses tried within the
        connect timeout cut to the time left: the whole connect ends by then."""
        timeout = _time_left(timeout, httpcore.ConnectTimeout)
        if timeout is None:  # no deadline and no timeout: nothing to bound
            stream = self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
            return _DeadlineStream(stream)
        end = time.monotonic() + timeout
        source_address = None if local_address is None else (local_address, 0)
        try:
            sock = _connect(_resolve(host, port, end), end, source_address)
            try:
                for option in socket_options or ():
                    sock.setsockopt(*option)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except BaseException:
                sock.close()
                raise
        except TimeoutError as exc:  # socket.timeout
            raise httpcore.ConnectTimeout(exc) from exc
        except OSError as exc:  # gaierror included
            raise httpcore.ConnectError(exc) from exc
        return _DeadlineStream(SyncStream(sock))

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[tuple[Any, ...]] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _time_left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _resolve(host: str, port: int, end: float) -> list[tuple[Any, ...]]:
    """getaddrinfo's addresses for host as socket.create_connection asks for them, or
    ConnectTimeout at time.monotonic() `end`. A literal address is converted at once, never
    looked up (AI_NUMERICHOST)."""
    try:
        ipaddress.ip_address(host.partition("%")[0])  # an IPv6 address may carry a zone
    except ValueError:
        pass
    else:
        return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    if not _resolver_slots.acquire(timeout=max(0.0, end - time.monotonic())):
        raise httpcore.ConnectTimeout(
            f"resolving {host} did not start in time: {RESOLVER_THREADS} lookups still hang"
        )
    done = threading.Event()
    outcome: list[Any] = []

    def lookup() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
        except BaseException as exc:
            outcome.append(exc)
        finally:
            _resolver_slots.release()
            done.set()

    try:
        threading.Thread(target=lookup, name=f"resolve {host}", daemon=True).start()
    except BaseException:
        _resolver_slots.release()
        raise
    if not done.wait(max(0.0, end - time.monotonic())):
        raise httpcore.ConnectTimeout(f"resolving {host} did not end in time")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def _connect(
    addresses: list[tuple[Any, ...]], end: float, source_address: tuple[str, int] | None
) -> socket.socket:
    """socket.create_connection's loop over the addresses: the first that connects, or the
    last error; each try with only the time left before time.monotonic() `end`, and none once
    it has passed."""
    error: OSError = OSError("getaddrinfo returns an empty list")
    for family, type_, proto, _, sockaddr in addresses:
        left = end - time.monotonic()
        if left <= 0:
            raise httpcore.ConnectTimeout(f"no time left to connect to {sockaddr[0]}")
        sock = None
        try:
            sock = socket.socket(family, type_, proto)
            sock.settimeout(left)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
        except OSError as exc:
            if sock is not None:
                sock.close()
            error = exc
            continue
        return sock
    raise error


def _read_bounded(response: httpx.Response, limit: int) -> bytes | None:
    """The answer's bytes as received, or None as soon as it declares or sends over `limit`."""
    try:
        declared = int(response.headers.get("Content-Length", "0"))
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    chunks: list[bytes] = []
    received = 0
    for chunk in response.iter_raw():
        received += len(chunk)
        if received > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _error_detail(answer: bytes | None) -> str:
    if answer is None:
        return f"an answer over {MAX_ANSWER_BYTES} bytes, not read"
    try:
        error = json.loads(answer)
        return f"{error.get('error')}: {error.get('detail', '')}".strip(": ")
    except (ValueError, AttributeError, RecursionError):
        return answer[:200].decode("utf-8", "replace")


def _parse_verdict(answer: bytes | None) -> RemoteVerdict:
    if answer is None:
        raise RemoteVerifyProtocolError(
            f"the service's answer is over {MAX_ANSWER_BYTES} bytes (the API's are a few hundred)"
        )
    try:
        data = json.loads(answer)
    except (ValueError, RecursionError):
        # RecursionError: JSON nested thousands deep (json recurses).
        raise RemoteVerifyProtocolError("the service's answer is not JSON") from None
    if not isinstance(data, dict):
        raise RemoteVerifyProtocolError("the service's answer is not a JSON object")
    result, matched, score, tx = (
        data.get("result"),
        data.get("matched"),
        data.get("score"),
        data.get("transaction_id"),
    )
    if result not in RESULTS:
        raise RemoteVerifyProtocolError(f"unknown result {result!r}")
    if not isinstance(matched, bool) or matched != (result == "match"):
        raise RemoteVerifyProtocolError(f"'matched' {matched!r} contradicts result {result!r}")
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        raise RemoteVerifyProtocolError(f"score {score!r} is not a number in [0, 1]")
    if not isinstance(tx, str) or not tx:
        raise RemoteVerifyProtocolError("the answer has no transaction_id")
    return RemoteVerdict(matched=matched, score=float(score), transaction_id=tx, result=result)
