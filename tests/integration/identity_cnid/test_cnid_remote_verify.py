"""The remote identity-verification adapter against its emulator over real HTTP(S)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cnid_support import face_encoding, face_similarity
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from demo_support.samples import sample_bytes
from devices.identity.remote_verify import (
    RemoteVerifyProtocolError,
    RemoteVerifyRejected,
    RemoteVerifyTlsError,
    RemoteVerifyUnavailable,
)
from devices.identity.remote_verify.emulator import RegisteredPerson, RemoteVerifyEmulator
from devices.identity.remote_verify.http_adapter import (
    MAX_ANSWER_BYTES,
    RESOLVER_THREADS,
    HttpRemoteVerifier,
)

NUMBER = "11010519491231002X"
NAME = "张三"


@pytest.fixture(scope="module", autouse=True)
def _face_encodings_ready() -> None:
    """Encode the sample faces once, so no request waits on a cold face model."""
    for name in ("obama", "obama2", "obama3", "biden"):
        face_encoding(sample_bytes(name))


@pytest.fixture
def service() -> Iterator[RemoteVerifyEmulator]:
    registry = {NUMBER: RegisteredPerson(NAME, sample_bytes("obama"))}
    emu = RemoteVerifyEmulator(face_similarity, registry=registry, threshold=0.4).start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def verifier(service: RemoteVerifyEmulator) -> Iterator[HttpRemoteVerifier]:
    with HttpRemoteVerifier(
        service.base_url, api_key="test-key", timeout_s=30, backoff_s=0.01
    ) as v:
        yield v


def test_the_holder_matches_and_another_person_does_not(verifier: HttpRemoteVerifier) -> None:
    same = verifier.verify(NAME, NUMBER, sample_bytes("obama2"))
    other = verifier.verify(NAME, NUMBER, sample_bytes("biden"))
    assert same.matched and same.result == "match"
    assert not other.matched and other.result == "no_match"
    assert same.score > other.score
    assert same.transaction_id != other.transaction_id


def test_unknown_number_and_wrong_name_are_negative_verdicts(verifier: HttpRemoteVerifier) -> None:
    unknown = verifier.verify(NAME, "440305198706154138", sample_bytes("obama2"))
    assert (unknown.matched, unknown.result) == (False, "not_found")
    wrong_name = verifier.verify("李四", NUMBER, sample_bytes("obama2"))
    assert (wrong_name.matched, wrong_name.result) == (False, "name_mismatch")


def test_5xx_is_retried_with_the_same_request(
    service: RemoteVerifyEmulator, verifier: HttpRemoteVerifier
) -> None:
    service.fail_next = [503, 502]
    verdict = verifier.verify(NAME, NUMBER, sample_bytes("obama3"))
    assert verdict.matched
    assert verifier.requests == 3


def test_persistent_5xx_is_unavailable(
    service: RemoteVerifyEmulator, verifier: HttpRemoteVerifier
) -> None:
    service.fail_next = [500, 500, 500]
    with pytest.raises(RemoteVerifyUnavailable, match="HTTP 500 3 times"):
        verifier.verify(NAME, NUMBER, sample_bytes("obama3"))


def test_4xx_is_not_retried(service: RemoteVerifyEmulator) -> None:
    with HttpRemoteVerifier(service.base_url, api_key="wrong", backoff_s=0.01) as v:
        with pytest.raises(RemoteVerifyRejected, match="credentials"):
            v.verify(NAME, NUMBER, sample_bytes("obama3"))
        assert v.requests == 1


def test_a_slow_service_times_out_once(service: RemoteVerifyEmulator) -> None:
    service.delay_s = 2.0
    with HttpRemoteVerifier(service.base_url, api_key="test-key", timeout_s=0.2) as v:
        with pytest.raises(RemoteVerifyUnavailable, match="did not answer in time"):
            v.verify(NAME, NUMBER, sample_bytes("obama3"))
        assert v.requests == 1


@pytest.mark.parametrize(
    ("scheme", "drip_headers"),
    [("http", False), ("http", True), ("https", False)],
    ids=["body", "headers", "tls_body"],
)
def test_a_drip_fed_answer_ends_at_the_attempts_deadline(
    tmp_path: Path, scheme: str, drip_headers: bool
) -> None:
    # A service or gateway sending a byte just before each read timeout: every read succeeds,
    # so httpx's per-operation timeout never fires and the whole answer (about 100 bytes at
    # 0.3 s each, 30 s and more) would keep the citizen waiting. timeout_s bounds the attempt.
    ctx, verify = None, True
    if scheme == "https":
        cert, key = _self_signed(tmp_path)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        verify = str(cert)
    registry = {NUMBER: RegisteredPerson(NAME, sample_bytes("obama"))}
    service = RemoteVerifyEmulator(
        face_similarity, registry=registry, threshold=0.4, ssl_context=ctx
    )
    service.drip_s = 0.3  # each gap well under the 1 s read timeout
    service.drip_headers = drip_headers
    with (
        service,
        HttpRemoteVerifier(service.base_url, api_key="test-key", timeout_s=1.0, verify=verify) as v,
    ):
        start = time.monotonic()
        with pytest.raises(RemoteVerifyUnavailable, match="did not answer in time"):
            v.verify(NAME, NUMBER, sample_bytes("obama3"))
        elapsed = time.monotonic() - start
        assert v.requests == 1  # a timeout is not retried
        assert elapsed < 1.0 + 2.0, f"{elapsed:.1f} s for an attempt with a 1 s deadline"
        assert service.drip_sent < 40, f"{service.drip_sent} bytes dripped"
        # The adapter hung up: the single-threaded service is free for the next citizen.
        service.drip_s = 0.0
        nxt = HttpRemoteVerifier(service.base_url, api_key="test-key", timeout_s=10, verify=verify)
        with nxt:
            assert nxt.verify(NAME, NUMBER, sample_bytes("obama2")).matched


@pytest.mark.parametrize("drip_headers", [False, True], ids=["body", "headers"])
def test_a_slow_answer_within_the_deadline_is_read(
    service: RemoteVerifyEmulator, drip_headers: bool
) -> None:
    # About 100 (body) or 200 (headers and body) bytes 5 ms apart: slow, but in time.
    service.drip_s = 0.005
    service.drip_headers = drip_headers
    with HttpRemoteVerifier(service.base_url, api_key="test-key", timeout_s=10) as v:
        assert v.verify(NAME, NUMBER, sample_bytes("obama3")).matched
    assert service.drip_sent > (150 if drip_headers else 50)


def test_nobody_listening_is_unavailable() -> None:
    emu = RemoteVerifyEmulator(lambda a, b: 1.0).start()
    url = emu.base_url
    emu.stop()
    v = HttpRemoteVerifier(url, api_key="k", timeout_s=1)
    with v, pytest.raises(RemoteVerifyUnavailable, match="cannot connect"):
        v.verify(NAME, NUMBER, sample_bytes("obama3"))


# The service by name: the tests answer its lookups (socket.getaddrinfo) as a DNS server would.
SERVICE_HOST = "verify.kiosk.test"
# How long a lookup hangs with a DNS server that never answers: two of glibc's 5 s tries.
HUNG_LOOKUP_S = 10.0


def _is_literal(host: str | bytes | None) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii")
    try:
        ipaddress.ip_address((host or "").split("%")[0])
    except ValueError:
        return False
    return True


@pytest.fixture
def resolve_as(monkeypatch) -> Callable[[Callable[[], list[tuple[str, int]]]], None]:
    """resolve_as(answer): a lookup of any name gets answer()'s (address, port)s, in order, as
    the system resolver's; a literal address is answered at once, as the resolver does without
    asking a DNS server."""
    real = socket.getaddrinfo

    def install(answer: Callable[[], list[tuple[str, int]]]) -> None:
        def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
            if _is_literal(host):
                return real(host, port, family, type, proto, flags)
            return [
                (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)
                for address in answer()
            ]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    return install


@pytest.fixture
def hung_resolver(resolve_as) -> Iterator[None]:
    """A DNS server that reads queries and never replies: a name's lookup hangs HUNG_LOOKUP_S,
    then fails as glibc's does once its tries are spent."""
    release = threading.Event()

    def never() -> list[tuple[str, int]]:
        release.wait(HUNG_LOOKUP_S)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    resolve_as(never)
    try:
        yield
    finally:
        release.set()  # the lookups the adapter gave up on end with the test


@pytest.fixture
def black_holes() -> Iterator[list[tuple[str, int]]]:
    """Five loopback addresses where a connect hangs, as with an address that black-holes (a
    firewall dropping SYNs, a host gone): listeners whose backlog is full, so the kernel drops a
    new connection's SYN and the client retries it for minutes."""
    listeners: list[socket.socket] = []
    held: list[socket.socket] = []
    try:
        for _ in range(5):
            listener = socket.socket()
            listeners.append(listener)
            listener.bind(("127.0.0.1", 0))
            listener.listen(0)
            for _ in range(16):  # fill the backlog: a connect that hangs says it is full
                probe = socket.socket()
                probe.settimeout(0.1)
                try:
                    probe.connect(listener.getsockname())
                except TimeoutError:
                    probe.close()
                    break
                held.append(probe)
            else:
                pytest.skip("a full backlog does not drop SYNs here")
        yield [listener.getsockname() for listener in listeners]
    finally:
        for s in held + listeners:
            s.close()


def test_a_resolver_that_does_not_answer_ends_at_the_attempts_deadline(hung_resolver) -> None:
    # getaddrinfo has no timeout: a DNS server that never replies held the citizen for the
    # resolver's own tries (5 s each, per try and per name server), past any timeout_s.
    v = HttpRemoteVerifier(f"http://{SERVICE_HOST}:8443", api_key="k", timeout_s=1.0)
    with v:
        start = time.monotonic()
        with pytest.raises(RemoteVerifyUnavailable, match="did not answer in time"):
            v.verify(NAME, NUMBER, sample_bytes("obama3"))
        elapsed = time.monotonic() - start
        assert v.requests == 1  # a timeout is not retried
    assert elapsed < 1.0 + 2.0, f"{elapsed:.1f} s for an attempt with a 1 s deadline"


def test_lookups_left_hanging_are_bounded(hung_resolver) -> None:
    # Each attempt gives up on its lookup at its deadline; the lookup runs on in a thread of
    # its own until the resolver gives up. However many citizens try, at most RESOLVER_THREADS
    # are left, and an attempt finding them all taken still ends by its deadline.
    before = threading.active_count()
    attempts = RESOLVER_THREADS + 2
    with HttpRemoteVerifier(f"http://{SERVICE_HOST}", api_key="k", timeout_s=0.3) as v:
        for _ in range(attempts):
            start = time.monotonic()
            with pytest.raises(RemoteVerifyUnavailable, match="did not answer in time"):
                v.verify(NAME, NUMBER, sample_bytes("obama3"))
            elapsed = time.monotonic() - start
            assert elapsed < 0.3 + 1.5, f"{elapsed:.1f} s for an attempt with a 0.3 s deadline"
        assert v.requests == attempts
    assert threading.active_count() - before <= RESOLVER_THREADS


def test_a_service_at_a_literal_address_needs_no_lookup(
    hung_resolver, service: RemoteVerifyEmulator, monkeypatch
) -> None:
    # An address is converted where the attempt runs, with no lookup thread: the service at
    # 127.0.0.1 answers though every name's lookup hangs.
    converted_in: list[threading.Thread] = []
    hung = socket.getaddrinfo

    def getaddrinfo(*args, **kwargs):
        converted_in.append(threading.current_thread())
        return hung(*args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    assert service.base_url.startswith("http://127.0.0.1:")
    with HttpRemoteVerifier(service.base_url, api_key="test-key", timeout_s=30) as v:
        assert v.verify(NAME, NUMBER, sample_bytes("obama3")).matched
    assert converted_in == [threading.current_thread()]


def test_several_addresses_that_black_hole_share_one_deadline(
    resolve_as, black_holes: list[tuple[str, int]]
) -> None:
    # create_connection tries each address of the name in turn with the whole timeout: five
    # that black-hole held the citizen five times timeout_s.
    resolve_as(lambda: black_holes)
    v = HttpRemoteVerifier(f"http://{SERVICE_HOST}", api_key="k", timeout_s=1.0)
    with v:
        start = time.monotonic()
        with pytest.raises(RemoteVerifyUnavailable, match="did not answer in time"):
            v.verify(NAME, NUMBER, sample_bytes("obama3"))
        elapsed = time.monotonic() - start
        assert v.requests == 1
    assert elapsed < 1.0 + 2.0, f"{elapsed:.1f} s for an attempt with a 1 s deadline"


def test_the_next_address_is_tried_when_one_refuses(
    resolve_as, service: RemoteVerifyEmulator
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refusing = closed.getsockname()  # nobody listens: refused at once
    closed.close()
    port = int(service.base_url.rsplit(":", 1)[1])
    resolve_as(lambda: [refusing, refusing, ("127.0.0.1", port)])
    with HttpRemoteVerifier(f"http://{SERVICE_HOST}", api_key="test-key", timeout_s=30) as v:
        assert v.verify(NAME, NUMBER, sample_bytes("obama3")).matched
    resolve_as(lambda: [refusing])
    v = HttpRemoteVerifier(f"http://{SERVICE_HOST}", api_key="test-key", timeout_s=5)
    with v, pytest.raises(RemoteVerifyUnavailable, match="cannot connect"):
        v.verify(NAME, NUMBER, sample_bytes("obama3"))


def test_only_jpeg_photos_are_sent(verifier: HttpRemoteVerifier) -> None:
    with pytest.raises(RemoteVerifyRejected, match="not a JPEG"):
        verifier.verify(NAME, NUMBER, b"\x89PNG\r\n\x1a\n")
    assert verifier.requests == 0


@pytest.mark.parametrize(
    "answer",
    [
        {"result": "match", "matched": False, "score": 0.9, "transaction_id": "t"},
        {"result": "maybe", "matched": False, "score": 0.9, "transaction_id": "t"},
        {"result": "match", "matched": True, "score": 1.5, "transaction_id": "t"},
        {"result": "match", "matched": True, "score": 0.9},
    ],
)
def test_contradictory_answers_are_protocol_errors(
    service: RemoteVerifyEmulator, verifier: HttpRemoteVerifier, monkeypatch, answer
) -> None:
    monkeypatch.setattr(service, "answer", lambda headers, raw: (200, answer))
    with pytest.raises(RemoteVerifyProtocolError):
        verifier.verify(NAME, NUMBER, sample_bytes("obama3"))


@pytest.mark.parametrize(
    ("mangled", "error"),
    [
        ((200, b"[" * 5000 + b"]" * 5000), RemoteVerifyProtocolError),
        ((200, b'{"result": "match", "matched": tr'), RemoteVerifyProtocolError),
        ((200, b'["match"]'), RemoteVerifyProtocolError),
        ((200, b"<html>Service Unavailable</html>"), RemoteVerifyProtocolError),
        ((400, b'{"error": ' + b"[" * 5000 + b"]" * 5000 + b"}"), RemoteVerifyRejected),
    ],
)
def test_an_answer_that_is_not_the_apis_is_an_error_of_the_adapter_not_a_crash(
    service: RemoteVerifyEmulator, verifier: HttpRemoteVerifier, mangled, error
) -> None:
    # A gateway or proxy between may answer anything. The port promises its own errors, which
    # say what the service did; JSON nested thousands deep escaped as a RecursionError.
    service.mangled = mangled
    with pytest.raises(error):
        verifier.verify(NAME, NUMBER, sample_bytes("obama3"))


@pytest.mark.parametrize("declared", [True, False], ids=["content_length", "until_close"])
@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (200, RemoteVerifyProtocolError, "answer is over 65536 bytes"),
        (400, RemoteVerifyRejected, r"HTTP 400\): an answer over 65536 bytes, not read"),
        (503, RemoteVerifyUnavailable, "HTTP 503 3 times"),
    ],
)
def test_a_huge_answer_is_refused_after_a_bounded_read(
    service: RemoteVerifyEmulator, verifier: HttpRemoteVerifier, declared, status, error, message
) -> None:
    # A broken or hostile gateway answering 256 MB: read whole, it took a kiosk (about 2 GB)
    # from 29 MB to over 700 MB. The adapter reads at most MAX_ANSWER_BYTES and hangs up.
    chunk = b" " * MAX_ANSWER_BYTES
    total = len(chunk) * 4096
    service.mangled = (status, chunk)
    service.mangled_repeat = 4096
    service.mangled_length = declared
    unknown = "440305198706154138"  # the service answers not_found: no face comparison runs
    tracemalloc.start()
    try:
        with pytest.raises(error) as refused:
            verifier.verify(NAME, unknown, sample_bytes("obama3"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    service.stop()  # waits for the handler: its writes fail once the adapter has hung up
    assert peak < 16 * 2**20, f"{peak / 2**20:.1f} MiB traced while reading the answer"
    # What the kernel's socket buffers take in is sent too; the rest never was.
    assert service.mangled_sent < total // 4, f"{service.mangled_sent / 2**20:.1f} MiB sent"
    refused.match(message)


def test_errors_and_logs_never_carry_the_number_or_name(
    service: RemoteVerifyEmulator, verifier: HttpRemoteVerifier, caplog
) -> None:
    caplog.set_level("INFO")
    service.fail_next = [500, 500, 500]
    with pytest.raises(RemoteVerifyUnavailable) as info:
        verifier.verify(NAME, NUMBER, sample_bytes("obama3"))
    verifier.verify(NAME, NUMBER, sample_bytes("obama3"))
    text = str(info.value) + caplog.text
    assert NUMBER not in text and NAME not in text
    assert "1101**********002X" in caplog.text


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "service.crt", tmp / "service.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_with_a_private_ca_works_and_an_untrusted_certificate_is_refused(
    tmp_path: Path,
) -> None:
    cert, key = _self_signed(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    registry = {NUMBER: RegisteredPerson(NAME, sample_bytes("obama"))}
    with RemoteVerifyEmulator(lambda a, b: 0.9, registry=registry, ssl_context=ctx) as emu:
        assert emu.base_url.startswith("https://")
        with HttpRemoteVerifier(emu.base_url, api_key="test-key", verify=str(cert)) as v:
            assert v.verify(NAME, NUMBER, sample_bytes("obama3")).matched
        untrusting = HttpRemoteVerifier(emu.base_url, api_key="test-key", timeout_s=2)
        with untrusting, pytest.raises(RemoteVerifyTlsError, match="TLS"):
            untrusting.verify(NAME, NUMBER, sample_bytes("obama3"))


def test_a_card_read_without_photo_is_verified_remotely_with_the_live_face(
    emulator, reader
) -> None:
    from cnid_support import CITIZEN_NUMBER

    document = reader.read(2.0)
    assert document.photo is None  # no WLT decoder: the remote service holds the portrait
    registry = {CITIZEN_NUMBER: RegisteredPerson(document.name, sample_bytes("obama"))}
    with (
        RemoteVerifyEmulator(face_similarity, registry=registry, threshold=0.4) as service,
        HttpRemoteVerifier(service.base_url, api_key="test-key", timeout_s=30) as verifier,
    ):
        assert verifier.verify(document.name, document.number, sample_bytes("obama2")).matched
        impostor = verifier.verify(document.name, document.number, sample_bytes("biden"))
        assert not impostor.matched
    assert service.requests[0]["photo_bytes"] == len(sample_bytes("obama2"))
