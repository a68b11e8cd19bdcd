"""The enrollment bundle and the terminal's identity directory that holds it.

`DATA_DIR/identity/` on a terminal:

    key.pem      the terminal's private key, made there, never sent anywhere (0600)
    cert.pem     its certificate from the site CA (CN = terminal id)
    ca.pem       the site CA, the only trust anchor for broker and enrollment endpoint
    bundle.json  what the terminal needs from the backend: broker address and shared keys (0600)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from . import pki
from .tls import ClientTls

BUNDLE_VERSION = 1
# A certificate is renewed once less than this is left of it.
RENEW_BEFORE = timedelta(days=30)


class IdentityError(RuntimeError):
    """The terminal has no usable identity; the message says what the technician does."""


def signing_keys(value: object) -> tuple[str, ...]:
    """The backend's signing keys as a bundle holds them: at least one Ed25519 public key, in
    hex; ValueError naming the first that is not. A key the terminal cannot load would stop it
    at its next start, so none is kept unchecked (the backend's answers included)."""
    if not isinstance(value, list | tuple) or not value:
        raise ValueError("backend_signing_keys is not a list of keys")
    for key in value:
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(key))
        except (TypeError, ValueError):
            raise ValueError(f"{str(key)[:24]!r} is not an Ed25519 public key in hex") from None
    return tuple(value)


@dataclass(frozen=True)
class EnrollmentBundle:
    """What the backend hands a terminal at enrollment, besides its certificate."""

    terminal_id: str
    broker_host: str
    broker_port: int
    enroll_url: str
    pickup_code_key: bytes
    applicant_key: bytes
    backend_signing_keys: tuple[str, ...]  # Ed25519 public keys, hex; newest first

    def to_json(self) -> dict[str, Any]:
        return {
            "version": BUNDLE_VERSION,
            "terminal_id": self.terminal_id,
            "broker": {"host": self.broker_host, "port": self.broker_port},
            "enroll_url": self.enroll_url,
            "pickup_code_key": self.pickup_code_key.hex(),
            "applicant_key": self.applicant_key.hex(),
            "backend_signing_keys": list(self.backend_signing_keys),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EnrollmentBundle:
        """Parse a bundle; IdentityError naming the bad key when it is not one."""
        try:
            if data["version"] != BUNDLE_VERSION:
                raise IdentityError(f"bundle version {data['version']} is not supported")
            bundle = cls(
                terminal_id=str(data["terminal_id"]),
                broker_host=str(data["broker"]["host"]),
                broker_port=int(data["broker"]["port"]),
                enroll_url=str(data["enroll_url"]),
                pickup_code_key=bytes.fromhex(data["pickup_code_key"]),
                applicant_key=bytes.fromhex(data["applicant_key"]),
                backend_signing_keys=signing_keys(data["backend_signing_keys"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IdentityError(
                f"the enrollment bundle is damaged ({exc!r}): enroll again"
            ) from None
        if len(bundle.pickup_code_key) < 16 or len(bundle.applicant_key) < 16:
            raise IdentityError("the enrollment bundle's keys are too short: enroll again")
        return bundle

    def __repr__(self) -> str:
        return f"EnrollmentBundle({self.terminal_id!r}, {self.broker_host}:{self.broker_port})"


@dataclass(frozen=True)
class TerminalIdentity:
    """A terminal's identity directory, loaded and checked."""

    directory: Path
    bundle: EnrollmentBundle
    not_after: datetime

    @property
    def tls(self) -> ClientTls:
        return ClientTls.in_dir(self.directory)

    @property
    def terminal_id(self) -> str:
        return self.bundle.terminal_id

    @staticmethod
    def dir_of(data_dir: Path) -> Path:
        return Path(data_dir) / "identity"

    @classmethod
    def load(cls, data_dir: Path, now: datetime) -> TerminalIdentity:
        """The identity under `data_dir`; IdentityError when missing, damaged or expired."""
        d = cls.dir_of(data_dir)
        files = ClientTls.in_dir(d)
        if not (d / "bundle.json").exists() or not files.cert_file.exists():
            raise IdentityError(
                f"{d} holds no enrollment: run `allhours enroll --token ...` on this terminal"
            )
        try:
            bundle = EnrollmentBundle.from_json(json.loads((d / "bundle.json").read_text()))
        except (OSError, ValueError, RecursionError) as exc:
            raise IdentityError(f"{d / 'bundle.json'}: unreadable ({exc}); enroll again") from None
        try:
            cert = pki.load_cert(files.cert_file.read_bytes())
            cn = pki.common_name(cert.subject)
        except (OSError, ValueError) as exc:
            raise IdentityError(f"{files.cert_file}: unreadable ({exc}); enroll again") from None
        if cn != bundle.terminal_id:
            raise IdentityError(f"{d}: certificate is for {cn}, bundle for {bundle.terminal_id}")
        not_after = cert.not_valid_after_utc
        if not_after <= pki.utc(now):
            raise IdentityError(
                f"this terminal's certificate expired at {not_after:%Y-%m-%d %H:%M} UTC: the broker"
                " refuses it. Ask the operator for a new token and run `allhours enroll` again"
            )
        if cert.not_valid_before_utc > pki.utc(now):
            raise IdentityError(
                f"this terminal's clock ({pki.utc(now):%Y-%m-%d %H:%M} UTC) is before its"
                f" certificate's start ({cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC):"
                " set the clock"
            )
        return cls(d, bundle, not_after)

    def due_for_renewal(self, now: datetime) -> bool:
        return self.not_after - pki.utc(now) < RENEW_BEFORE
