"""Enrollment over the real HTTPS endpoint, against a real mutual-TLS Mosquitto."""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from allhours.broker import PrivateMosquitto, free_port
from backend.enrollment import enrollment_server
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from cloud_bridge.link import wait_until
from provisioning import pki
from provisioning.authority import EnrollmentRefused, SiteAuthority
from provisioning.bundle import IdentityError, TerminalIdentity
from provisioning.enroll_client import EnrollmentFailed, enroll, renew
from provisioning.tokens import EnrollmentToken

pytestmark = pytest.mark.broker


@pytest.fixture
def backend(broker: PrivateMosquitto, tmp_path: Path):
    """A backend database and its enrollment endpoint (no ingest needed here)."""
    service = BackendService(
        f"sqlite:///{tmp_path / 'b.sqlite'}", tmp_path / "blobs", broker_port=None
    )
    server = enrollment_server(
        service,
        broker.authority,
        broker_host=broker.host,
        broker_port=broker.port,
        host="127.0.0.1",
        port=free_port(),
    ).start()
    try:
        yield server
    finally:
        server.stop()
        service.stop()


def test_a_token_enrolls_its_terminal_once_and_the_key_never_leaves(broker, backend, tmp_path):
    token = broker.authority.issue_token("T0002")
    identity = enroll(backend.url, str(token), tmp_path / "T0002")

    assert identity.terminal_id == "T0002"
    cert = pki.load_cert(identity.tls.cert_file.read_bytes())
    assert pki.common_name(cert.subject) == "T0002"
    assert (identity.tls.key_file.stat().st_mode & 0o777) == 0o600
    assert identity.bundle.broker_port == broker.port
    assert len(identity.bundle.pickup_code_key) == 32
    assert identity.bundle.backend_signing_keys
    # The registry keeps only a digest of the token, never the secret.
    raw = (broker.authority.dir / "registry.sqlite").read_bytes()
    assert token.secret.encode() not in raw

    with pytest.raises(EnrollmentFailed) as again:
        enroll(backend.url, str(token), tmp_path / "elsewhere")
    assert again.value.code == "token_used"
    assert not (tmp_path / "elsewhere" / "identity").exists()


def test_an_enrolled_terminal_reaches_the_broker_with_its_bundle(broker, backend, tmp_path):
    from allhours.bootstrap import training_terminal

    enroll(backend.url, str(broker.authority.issue_token("T0003")), tmp_path / "T")
    node = training_terminal(tmp_path / "T").node
    node.start()
    try:
        assert node.link.wait_connected(10)
    finally:
        node.stop()


@pytest.mark.parametrize(
    ("spoil", "code"),
    [
        (lambda t: EnrollmentToken(t.terminal_id, "A" * 43, t.ca_fingerprint), "token_unknown"),
        (lambda t: EnrollmentToken("T0009", t.secret, t.ca_fingerprint), "token_unknown"),
        (lambda t: EnrollmentToken(t.terminal_id, t.secret, "0" * 64), "wrong_backend"),
    ],
    ids=["bad-secret", "other-terminal", "other-ca"],
)
def test_a_bad_token_is_refused_naming_the_cause(broker, backend, tmp_path, spoil, code):
    token = broker.authority.issue_token("T0002")
    with pytest.raises(EnrollmentFailed) as refused:
        enroll(backend.url, str(spoil(token)), tmp_path / "T0002")
    assert refused.value.code == code
    assert not (tmp_path / "T0002" / "identity").exists()
    # The real token still works afterwards: nothing was spent by the failures.
    enroll(backend.url, str(token), tmp_path / "T0002")


class _Endpoint:
    """HTTPS with the site's own server certificate, answering each path with fixed bytes: an
    enrollment endpoint gone wrong, or (for the CA, fetched before anything is trusted)
    someone in between."""

    def __init__(self, authority, tls_dir: Path, answers: dict[str, tuple[int, bytes]]):
        files = authority.issue_server("enrollment", tls_dir, ("127.0.0.1",))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(files.cert_file), str(files.key_file))
        posted = self.posted = []  # what was sent to it: a token, if the client was fooled

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                posted.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                self._answer()

            def _answer(self) -> None:
                status, body = answers.get(self.path, (404, b"{}"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _Endpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


DEEP = b"[" * 5000 + b"]" * 5000  # JSON nested thousands deep: json.loads recurses


@pytest.mark.parametrize(
    ("enroll_answer", "code"),
    [
        ((200, DEEP), "bad_answer"),
        ((200, b'["certificate"]'), "bad_answer"),
        ((200, b"<html>gateway</html>"), "bad_answer"),
        ((200, "bundle"), "bad_answer"),  # a certificate, and a bundle that is none
        ((403, b'{"error": ' + DEEP + b"}"), "403"),
        ((502, b"[]"), "502"),
    ],
    ids=["nested", "a-list", "not-json", "no-bundle", "refusal-nested", "refusal-a-list"],
)
def test_an_enrollment_answer_that_is_not_the_apis_is_refused_naming_it(
    site_ca, tmp_path, enroll_answer, code
):
    ca = site_ca.ca_pem
    if enroll_answer[1] == "bundle":
        enroll_answer = (200, json.dumps({"certificate": ca.decode(), "bundle": 5}).encode())
    answers = {"/v1/ca": (200, ca), "/v1/enroll": enroll_answer}
    token = str(site_ca.issue_token("T0002"))
    with (
        _Endpoint(site_ca, tmp_path / "tls", answers) as endpoint,
        pytest.raises(EnrollmentFailed) as refused,
    ):
        enroll(endpoint.url, token, tmp_path / "T0002")
    assert refused.value.code == code
    assert not (tmp_path / "T0002" / "identity").exists()


@pytest.mark.parametrize(
    ("date", "code"),
    [("Mon, 01 Jan 2001 00:00:00 -0000", "clock_skew"), ("not a date", "bad_answer")],
    ids=["utc-unknown-zone", "not-a-date"],
)
def test_a_date_header_of_another_form_is_read_or_passed_over(site_ca, tmp_path, date, code):
    # The CA is fetched before anything is trusted; its Date header raised a TypeError
    # ("-0000" parses without a zone) or a ValueError out of enroll().
    class Dated(_Endpoint):
        def __init__(self, *args):
            super().__init__(*args)
            handler = self.httpd.RequestHandlerClass
            handler.date_time_string = lambda self, timestamp=None: date

    answers = {"/v1/ca": (200, site_ca.ca_pem), "/v1/enroll": (200, b"[]")}
    token = str(site_ca.issue_token("T0002"))
    with (
        Dated(site_ca, tmp_path / "tls", answers) as endpoint,
        pytest.raises(EnrollmentFailed) as refused,
    ):
        enroll(endpoint.url, token, tmp_path / "T0002")
    # A date read as UTC is years behind the terminal's; one that is no date is passed over, and
    # enrollment goes on (to an answer that is not the API's).
    assert refused.value.code == code


def test_a_ca_answer_that_is_no_certificate_is_the_wrong_backend(site_ca, tmp_path):
    # Fetched before anything is trusted, from whoever answers at the address: a captive portal.
    answers = {"/v1/ca": (200, b"<html>Sign in to the lobby Wi-Fi</html>")}
    token = str(site_ca.issue_token("T0002"))
    with (
        _Endpoint(site_ca, tmp_path / "tls", answers) as endpoint,
        pytest.raises(EnrollmentFailed) as refused,
    ):
        enroll(endpoint.url, token, tmp_path / "T0002")
    assert refused.value.code == "wrong_backend"
    assert "the token was not sent" in str(refused.value)


def test_a_fake_endpoint_answering_the_genuine_ca_and_its_own_gets_no_token(site_ca, tmp_path):
    # Someone in the lobby (ARP or DNS spoofing) answers /v1/ca with the genuine CA followed by
    # its own, and serves TLS with a certificate of its own CA. The client checked the first
    # certificate's fingerprint but trusted every one in the body: it sent the token, which the
    # attacker spent on a certificate for this terminal id.
    attacker = SiteAuthority.create(tmp_path / "attacker-ca")
    body = site_ca.ca_pem + attacker.ca_pem
    token = str(site_ca.issue_token("T0002"))
    with (
        _Endpoint(attacker, tmp_path / "tls", {"/v1/ca": (200, body)}) as endpoint,
        pytest.raises(EnrollmentFailed) as refused,
    ):
        enroll(endpoint.url, token, tmp_path / "T0002")
    assert refused.value.code == "wrong_backend" and endpoint.posted == []


def test_an_expired_or_withdrawn_token_is_refused(broker, backend, tmp_path):
    later = broker.authority.issue_token("T0004", ttl=timedelta(minutes=1))
    authority_later = type(broker.authority)(
        broker.authority.dir, clock=lambda: datetime.now(UTC) + timedelta(minutes=2)
    )
    with pytest.raises(EnrollmentRefused) as expired:
        authority_later.enroll(str(later), pki.make_csr(pki.new_key(), "T0004"))
    assert expired.value.code == "token_expired"

    withdrawn = broker.authority.issue_token("T0005")
    assert broker.authority.revoke_tokens("T0005") == 1
    with pytest.raises(EnrollmentFailed) as refused:
        enroll(backend.url, str(withdrawn), tmp_path / "T0005")
    assert refused.value.code == "token_revoked"


def test_a_request_for_another_terminal_id_is_refused(broker):
    token = broker.authority.issue_token("T0002")
    with pytest.raises(EnrollmentRefused) as refused:
        broker.authority.enroll(str(token), pki.make_csr(pki.new_key(), "T0001"))
    assert refused.value.code == "cn_mismatch"
    assert [t.state for t in broker.authority.tokens()] == ["pending"]


def test_a_terminal_clock_off_by_hours_is_told_before_the_token_is_spent(broker, backend, tmp_path):
    token = broker.authority.issue_token("T0002")
    with pytest.raises(EnrollmentFailed) as skew:
        enroll(
            backend.url,
            str(token),
            tmp_path / "T0002",
            clock=lambda: datetime.now(UTC) - timedelta(hours=3),
        )
    assert skew.value.code == "clock_skew"
    assert "3.0 h behind" in str(skew.value)
    assert [t.state for t in broker.authority.tokens()] == ["pending"]


def test_a_backend_name_cannot_be_enrolled_as_a_terminal(broker):
    with pytest.raises(EnrollmentRefused) as refused:
        broker.authority.issue_token("backend.1")
    assert refused.value.code == "bad_terminal_id"


def test_a_terminal_id_that_would_make_anothers_application_numbers_is_refused(site_ca):
    # t_01 and T-01 both make AH-T-01-…; the backend holds each terminal to its own numbers,
    # so the second would find every number of the first taken, or take them.
    site_ca.issue_token("t_01")
    for twin in ("T-01", "T_01", "t-01"):
        with pytest.raises(EnrollmentRefused) as refused:
            site_ca.issue_token(twin)
        assert refused.value.code == "terminal_id_clash"
        assert "same application numbers as t_01 (AH-T-01-" in refused.value.message
    site_ca.issue_token("t_01")  # its own id again: a new token, as before
    site_ca.issue_token("T-011")


def test_a_revoked_terminal_is_disconnected_at_once_and_refused_after(broker, backend, tmp_path):
    from allhours.bootstrap import training_terminal

    enroll(backend.url, str(broker.authority.issue_token("T0006")), tmp_path / "T")
    node = training_terminal(tmp_path / "T").node
    node.start()
    try:
        assert node.link.wait_connected(10)
        broker.authority.revoke("T0006")
        # docs/provisioning.md promises: disconnected within 5 s of `allhours provision revoke`.
        assert wait_until(lambda: not node.link.connected.is_set(), 5)
        assert not node.link.wait_connected(3)  # its reconnects are refused (CRL)
    finally:
        node.stop()
    assert "certificate verify failed" in broker.tail_log(60)
    with pytest.raises(EnrollmentRefused):
        broker.authority.issue_token("T0006")


def test_a_re_enrolled_terminal_ids_old_certificate_is_ended_everywhere(broker, backend, tmp_path):
    # Replaced hardware, or a move to another broker: a new token for the same id. The old
    # device's certificate stayed active: it connected as T0011, its signatures were trusted
    # beside the new key's, and it renewed itself a fresh year, again and again.
    from allhours.bootstrap import training_terminal

    old = enroll(backend.url, str(broker.authority.issue_token("T0011")), tmp_path / "old")
    old_node = training_terminal(tmp_path / "old").node
    new_node = None
    old_node.start()
    try:
        assert old_node.link.wait_connected(10)
        new = enroll(backend.url, str(broker.authority.issue_token("T0011")), tmp_path / "new")
        new_node = training_terminal(tmp_path / "new").node
        new_node.start()
        assert new_node.link.wait_connected(10)  # it takes the client id over
        assert wait_until(lambda: not old_node.link.connected.is_set(), 10)
        assert not old_node.link.wait_connected(3)  # and the old one's reconnects are refused
        assert new_node.link.connected.is_set()
    finally:
        old_node.stop()
        if new_node is not None:
            new_node.stop()
    assert "certificate verify failed" in broker.tail_log(80)
    assert not broker.authority.is_active_certificate(pki.load_cert(old.tls.cert_file.read_bytes()))
    with pytest.raises(EnrollmentFailed) as renewal:
        renew(tmp_path / "old")
    assert renewal.value.code == "revoked"
    new_cert = pki.load_cert(new.tls.cert_file.read_bytes())
    keys = broker.authority.terminal_public_keys("T0011")
    assert [k.public_numbers() for k in keys] == [new_cert.public_key().public_numbers()]


def test_revoke_says_so_when_a_broker_could_not_be_told(site_ca, tmp_path, capsys):
    # It printed "broker access removed" whatever happened: a broker it could not reach keeps
    # the revoked terminal's connection until that broker restarts.
    from allhours.cli import main

    key = pki.new_key()
    site_ca.enroll(str(site_ca.issue_token("T0012")), pki.make_csr(key, "T0012"))
    site_ca.register_broker("east", tmp_path / "east", tmp_path / "gone.pid", "127.0.0.1", 1)
    (tmp_path / "east").mkdir()

    assert main(["provision", "revoke", "T0012", "--ca-dir", str(site_ca.dir)]) == 1
    said = capsys.readouterr()
    assert "T0012 revoked: 1 certificate(s) on the CRL, but broker(s) east" in said.err
    assert "broker access removed" not in said.out
    assert b"BEGIN X509 CRL" in (tmp_path / "east" / "crl.pem").read_bytes()  # written anyway


def test_the_certificate_renewed_from_goes_on_the_crl_a_week_after(tmp_path):
    # It stayed valid until it expired, up to a year: a copy of the key taken before the
    # renewal went on connecting, signing and renewing itself a fresh year.
    from cryptography import x509

    now = [datetime.now(UTC)]
    site = SiteAuthority.create(tmp_path / "ca", clock=lambda: now[0])
    key = pki.new_key()
    first, _ = site.enroll(str(site.issue_token("T0013")), pki.make_csr(key, "T0013"))
    now[0] += timedelta(days=300)
    second = site.renew(first, pki.make_csr(pki.new_key(), "T0013"))

    def on_crl(cert) -> bool:
        crl = x509.load_pem_x509_crl(site.crl_pem())  # signed daily by a running broker
        return crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None

    now[0] += timedelta(days=6)  # time to take the new one up: both still valid
    assert not on_crl(first) and site.is_active_certificate(first)
    now[0] += timedelta(days=2)
    assert on_crl(first) and not site.is_active_certificate(first)
    assert not on_crl(second) and site.is_active_certificate(second)
    keys = site.terminal_public_keys("T0013")
    assert [k.public_numbers() for k in keys] == [second.public_key().public_numbers()]
    with pytest.raises(EnrollmentRefused) as refused:
        site.renew(first, pki.make_csr(key, "T0013"))  # the copy renews itself no more
    assert refused.value.code == "revoked"
    third = site.renew(second, pki.make_csr(pki.new_key(), "T0013"))
    assert site.is_active_certificate(third) and site.is_active_certificate(second)


def test_renewal_swaps_the_certificate_and_the_outbox_drains_after(broker, backend, tmp_path):
    from allhours.bootstrap import training_terminal
    from backend.enrollment import worker_identity

    data = tmp_path / "T"
    identity = enroll(backend.url, str(broker.authority.issue_token("T0007")), data)
    old_serial = pki.load_cert(identity.tls.cert_file.read_bytes()).serial_number
    node = training_terminal(data).node
    ingest = BackendService(
        f"sqlite:///{tmp_path / 'b.sqlite'}",  # the database enrollment registered T0007 in
        tmp_path / "blobs",
        broker_port=broker.port,
        client_id="backend.renewal",
        credentials=worker_identity(broker.authority, "backend.renewal"),
        shared_group=None,
    )
    node.start()
    try:
        assert node.link.wait_connected(10)
        # A backlog: no backend is listening yet, so nothing is receipted.
        for n in range(5):
            node.outbox.put(
                m.Alarm(
                    terminal_id="T0007",
                    operation_id=f"alarm-renewal-{n}",
                    kind=m.AlarmKind.LOW_PAPER,
                    severity=m.Severity.WARNING,
                    detail=f"paper low ({n})",
                    raised_at=m.utcnow(),
                )
            )
        assert node.outbox.backlog() == 5
        renewed = renew(data)
        node.link.use_renewed_identity()
        assert wait_until(lambda: node.link.connected.is_set(), 10)
        assert node.outbox.backlog() == 5  # nothing lost by the swap
        ingest.start()
        assert wait_until(lambda: node.outbox.backlog() == 0, 30), node.outbox.backlog()
    finally:
        node.stop()
        ingest.stop()
    new_cert = pki.load_cert(renewed.tls.cert_file.read_bytes())
    assert new_cert.serial_number != old_serial
    assert broker.authority.is_active_certificate(new_cert)
    assert "as T0007 (" in broker.tail_log(80)


def test_a_terminal_renews_by_itself_when_its_certificate_nears_expiry(broker, backend, tmp_path):
    from allhours.bootstrap import training_terminal

    data = tmp_path / "T"
    identity = enroll(backend.url, str(broker.authority.issue_token("T0010")), data)
    old = pki.load_cert(identity.tls.cert_file.read_bytes()).serial_number
    near_expiry = identity.not_after - timedelta(days=10)
    started = datetime.now(UTC)
    node = training_terminal(data, clock=lambda: near_expiry + (datetime.now(UTC) - started)).node
    node.start()
    try:
        assert wait_until(
            lambda: pki.load_cert(identity.tls.cert_file.read_bytes()).serial_number != old, 15
        )
        assert wait_until(lambda: node.link.connected.is_set(), 10)
    finally:
        node.stop()
    renewed = pki.load_cert(identity.tls.cert_file.read_bytes())
    assert broker.authority.is_active_certificate(renewed)


def test_an_expired_certificate_is_refused_at_start_with_what_to_do(broker, backend, tmp_path):
    identity = enroll(backend.url, str(broker.authority.issue_token("T0008")), tmp_path / "T")
    with pytest.raises(IdentityError) as expired:
        TerminalIdentity.load(tmp_path / "T", identity.not_after + timedelta(seconds=1))
    assert "expired" in str(expired.value) and "allhours enroll" in str(expired.value)
    shutil.rmtree(tmp_path / "T" / "identity")
    with pytest.raises(IdentityError) as missing:
        TerminalIdentity.load(tmp_path / "T", datetime.now(UTC))
    assert "allhours enroll" in str(missing.value)


def test_only_an_enrolled_terminal_may_ask_for_the_keys_to_trust(broker, backend, tmp_path):
    import ssl

    import httpx

    anonymous = ssl.create_default_context(cadata=broker.authority.ca_pem.decode())
    r = httpx.post(f"{backend.url}/v1/keys", json={}, verify=anonymous, timeout=10)
    assert r.status_code == 401 and r.json()["error"] == "no_client_certificate"

    identity = enroll(backend.url, str(broker.authority.issue_token("T0011")), tmp_path / "T")
    broker.authority.rotate_signing_key("announce")
    from provisioning.enroll_client import refresh_trusted_keys

    assert refresh_trusted_keys(tmp_path / "T")
    keys = TerminalIdentity.load(tmp_path / "T", datetime.now(UTC)).bundle.backend_signing_keys
    assert len(keys) == 2 and keys[0] == identity.bundle.backend_signing_keys[0]
    assert not refresh_trusted_keys(tmp_path / "T")  # nothing new the second time


@pytest.mark.parametrize(
    "keys",
    [["base64"], [], "0" * 64, [5], ["ab" * 31]],
    ids=["base64", "none", "not-a-list", "a-number", "31-bytes"],
)
def test_a_key_list_the_terminal_could_not_load_is_refused_and_the_bundle_kept(
    site_ca, tmp_path, keys
):
    # Written into the bundle unchecked, such a key stopped the kiosk at its next start (the
    # link loads every key), and the renewal that could have repaired it never ran again.
    from demo_support.enrollment import enroll_at_site
    from provisioning.enroll_client import refresh_trusted_keys

    data = enroll_at_site(site_ca, tmp_path / "T0001")
    good = site_ca.backend_signing_keys()[0]
    if keys == ["base64"]:  # the same key, announced in another encoding
        keys = [base64.b64encode(bytes.fromhex(good)).decode(), good]
    answer = (200, json.dumps({"backend_signing_keys": keys}).encode())
    with _Endpoint(site_ca, tmp_path / "tls", {"/v1/keys": answer}) as endpoint:
        bundle_file = TerminalIdentity.dir_of(data) / "bundle.json"
        bundle = json.loads(bundle_file.read_text())
        bundle_file.write_text(json.dumps({**bundle, "enroll_url": endpoint.url}))
        before = bundle_file.read_bytes()
        with pytest.raises(EnrollmentFailed) as refused:
            refresh_trusted_keys(data)

    assert refused.value.code == "bad_answer"
    assert bundle_file.read_bytes() == before
    loaded = TerminalIdentity.load(data, datetime.now(UTC))
    assert loaded.bundle.backend_signing_keys == (good,)


def test_a_bundle_holding_a_key_the_terminal_cannot_load_is_damaged(site_ca, tmp_path):
    from demo_support.enrollment import enroll_at_site

    data = enroll_at_site(site_ca, tmp_path / "T0001")
    bundle_file = TerminalIdentity.dir_of(data) / "bundle.json"
    bundle = json.loads(bundle_file.read_text())
    bundle_file.write_text(json.dumps({**bundle, "backend_signing_keys": ["not hex"]}))

    with pytest.raises(IdentityError, match="not an Ed25519 public key in hex"):
        TerminalIdentity.load(data, datetime.now(UTC))


def test_the_endpoint_refuses_anonymous_renewal_oversized_and_malformed_bodies(broker, backend):
    import ssl

    import httpx

    anonymous = ssl.create_default_context(cadata=broker.authority.ca_pem.decode())
    post = lambda path, **kw: httpx.post(  # noqa: E731
        f"{backend.url}{path}", verify=anonymous, timeout=10, **kw
    )
    csr = pki.make_csr(pki.new_key(), "T0001").decode()

    renewal = post("/v1/renew", json={"csr": csr})
    assert (renewal.status_code, renewal.json()["error"]) == (401, "no_client_certificate")
    huge = post("/v1/enroll", content=b"{" + b" " * 20_000 + b"}")
    assert (huge.status_code, huge.json()["error"]) == (413, "too_large")
    for body in (b"[[[[]]]]", b"not json", b'{"token": 1, "csr": 2}'):
        r = post("/v1/enroll", content=body)
        assert (r.status_code, r.json()["error"]) == (400, "bad_request"), body
    assert httpx.get(f"{backend.url}/v1/nothing", verify=anonymous, timeout=10).status_code == 404
