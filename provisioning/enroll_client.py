"""The terminal's side of enrollment and renewal: its key is made here and never leaves.

Enrollment trusts nothing it has not checked: the CA certificate fetched from the endpoint must
hash to the fingerprint carried in the token, and only then is the token sent, over TLS
verified against that CA. The identity directory is written only when everything arrived, so a
failure leaves no half-enrolled terminal.
"""

from __future__ import annotations

import json
import logging
import shutil
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from . import pki
from .bundle import EnrollmentBundle, IdentityError, TerminalIdentity, signing_keys
from .tls import ClientTls, write_private
from .tokens import EnrollmentToken

log = logging.getLogger(__name__)

# Beyond this, certificates issued "now" are not yet or no longer valid on one of the two sides.
MAX_CLOCK_SKEW = timedelta(minutes=5)
TIMEOUT_S = 15.0


class EnrollmentFailed(RuntimeError):
    """Enrollment or renewal did not happen; `code` names the cause, the message what to do."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _post(url: str, body: dict[str, Any], verify: ssl.SSLContext) -> dict[str, Any]:
    try:
        r = httpx.post(url, json=body, verify=verify, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise EnrollmentFailed("unreachable", f"{url}: {exc}") from None
    try:
        data = r.json()
    except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
        data = None
    if r.status_code != 200:
        error = data if isinstance(data, dict) else {}
        code = str(error.get("error", r.status_code))
        raise EnrollmentFailed(code, str(error.get("message", r.text[:200])))
    if not isinstance(data, dict):
        raise EnrollmentFailed("bad_answer", f"{url}: the backend's answer is not a JSON object")
    return data


def _check_clock(date_header: str | None, now: datetime) -> None:
    if not date_header:
        return
    try:
        server = parsedate_to_datetime(date_header)
    except (TypeError, ValueError):
        return  # not a date: nothing to compare (TLS with the pinned CA still checks the clock)
    if server.tzinfo is None:  # "-0000": UTC, says RFC 5322, with no local zone known
        server = server.replace(tzinfo=UTC)
    skew = pki.utc(now) - server
    if abs(skew) > MAX_CLOCK_SKEW:
        hours = skew.total_seconds() / 3600
        raise EnrollmentFailed(
            "clock_skew",
            f"this terminal's clock is {abs(hours):.1f} h {'ahead of' if hours > 0 else 'behind'} "
            "the backend's: set the time (NTP) and enroll again; the token was not used",
        )


def enroll(
    url: str, token_text: str, data_dir: Path, *, clock: Callable[[], datetime] = _utcnow
) -> TerminalIdentity:
    """Enroll this terminal with a one-time token; returns the identity now on disk."""
    token = EnrollmentToken.parse(token_text)
    target = TerminalIdentity.dir_of(data_dir)
    if (target / "cert.pem").exists():
        raise EnrollmentFailed(
            "already_enrolled", f"{target} already holds an identity: move it away to re-enroll"
        )
    base = url.rstrip("/")
    try:
        # Unverified on purpose: what comes back is checked against the token's fingerprint.
        r = httpx.get(f"{base}/v1/ca", verify=False, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise EnrollmentFailed("unreachable", f"{base}: {exc}") from None
    if r.status_code != 200:
        raise EnrollmentFailed("unreachable", f"{base}/v1/ca answered {r.status_code}")
    try:
        # One certificate and nothing else: more PEM blocks after the genuine CA were trusted
        # too (a fake endpoint's own CA behind the real one passed the fingerprint check).
        ca = pki.load_cert(r.content) if r.content.count(b"-----BEGIN") == 1 else None
    except pki.PkiError:
        ca = None
    if ca is None or pki.fingerprint(ca) != token.ca_fingerprint:
        raise EnrollmentFailed(
            "wrong_backend",
            "the enrollment endpoint's CA does not match the token's fingerprint: wrong address, "
            "or someone in between; the token was not sent",
        )
    _check_clock(r.headers.get("Date"), clock())
    # Trust exactly the certificate whose fingerprint was checked, not the body it came in.
    verify = ssl.create_default_context(cadata=pki.cert_pem(ca).decode())
    key = pki.new_key()
    answer = _post(
        f"{base}/v1/enroll",
        {"token": str(token), "csr": pki.make_csr(key, token.terminal_id).decode()},
        verify,
    )
    try:
        cert = pki.load_cert(answer["certificate"].encode())
        bundle = EnrollmentBundle.from_json(answer["bundle"])
    except (KeyError, AttributeError, ValueError, IdentityError) as exc:
        raise EnrollmentFailed("bad_answer", f"the backend's answer is incomplete: {exc}") from None
    if pki.common_name(cert.subject) != token.terminal_id or cert.public_key() != key.public_key():
        raise EnrollmentFailed("bad_answer", "the certificate is not for this terminal's key")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".identity-", dir=target.parent))
    try:
        files = ClientTls.in_dir(staging)
        write_private(files.key_file, pki.key_pem(key))
        write_private(files.cert_file, pki.cert_pem(cert), mode=0o644)
        write_private(files.ca_file, pki.cert_pem(ca), mode=0o644)
        write_private(staging / "bundle.json", json.dumps(bundle.to_json()).encode())
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return TerminalIdentity.load(data_dir, clock())


def renew(data_dir: Path, *, clock: Callable[[], datetime] = _utcnow) -> TerminalIdentity:
    """A new key and certificate over mutual TLS with the current one; swapped in atomically."""
    current = TerminalIdentity.load(data_dir, clock())
    files = current.tls
    ctx = files.context()
    key = pki.new_key()
    answer = _post(
        f"{current.bundle.enroll_url.rstrip('/')}/v1/renew",
        {"csr": pki.make_csr(key, current.terminal_id).decode()},
        ctx,
    )
    try:
        cert = pki.load_cert(answer["certificate"].encode())
    except (KeyError, AttributeError, ValueError) as exc:
        raise EnrollmentFailed("bad_answer", f"the backend's answer is incomplete: {exc}") from None
    if cert.public_key() != key.public_key():
        raise EnrollmentFailed("bad_answer", "the certificate is not for the new key")
    bundle = current.bundle
    if "backend_signing_keys" in answer:
        try:
            keys = signing_keys(answer["backend_signing_keys"])
            bundle = replace(bundle, backend_signing_keys=keys)
        except ValueError as exc:  # the certificate is good: renewed, trusting the keys as before
            log.warning("renewal: the backend's key list is malformed (%s); keys kept", exc)
    # Key first, then certificate: a crash in between leaves a pair that a retry repairs, since
    # the old certificate stays valid until it expires.
    write_private(files.key_file.with_suffix(".new"), pki.key_pem(key))
    write_private(files.cert_file.with_suffix(".new"), pki.cert_pem(cert), mode=0o644)
    files.key_file.with_suffix(".new").replace(files.key_file)
    files.cert_file.with_suffix(".new").replace(files.cert_file)
    write_private(current.directory / "bundle.json", json.dumps(bundle.to_json()).encode())
    return TerminalIdentity.load(data_dir, clock())


def refresh_trusted_keys(data_dir: Path, *, clock: Callable[[], datetime] = _utcnow) -> bool:
    """Ask which backend keys to trust now; rewrite the bundle and return True if they changed."""
    current = TerminalIdentity.load(data_dir, clock())
    answer = _post(f"{current.bundle.enroll_url.rstrip('/')}/v1/keys", {}, current.tls.context())
    try:
        keys = signing_keys(answer.get("backend_signing_keys"))
    except ValueError as exc:
        raise EnrollmentFailed("bad_answer", f"the backend's key list: {exc}") from None
    if keys == current.bundle.backend_signing_keys:
        return False
    bundle = replace(current.bundle, backend_signing_keys=keys)
    write_private(current.directory / "bundle.json", json.dumps(bundle.to_json()).encode())
    return True
