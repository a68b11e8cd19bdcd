"""One-time enrollment tokens: what a technician carries to the lobby, and how it is checked.

A token reads `ah1.<terminal id>.<secret>.<CA fingerprint>`. The secret is 256 random bits
and the site stores only its SHA-256. The fingerprint lets the terminal trust the enrollment
endpoint before it has any certificate (ADR 0006).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

PREFIX = "ah1"
_TOKEN = re.compile(
    r"^ah1\.(?P<tid>[A-Za-z0-9][A-Za-z0-9_-]{0,63})\.(?P<secret>[A-Za-z0-9_-]{43})"
    r"\.(?P<fp>[0-9a-f]{64})$"
)


class TokenFormatError(ValueError):
    """The string is not an enrollment token (mistyped or truncated)."""


@dataclass(frozen=True)
class EnrollmentToken:
    """A parsed token: which terminal it enrolls, its secret, and the CA it trusts."""

    terminal_id: str
    secret: str
    ca_fingerprint: str

    @classmethod
    def new(cls, terminal_id: str, ca_fingerprint: str) -> EnrollmentToken:
        return cls(terminal_id, secrets.token_urlsafe(32), ca_fingerprint)

    @classmethod
    def parse(cls, text: str) -> EnrollmentToken:
        found = _TOKEN.fullmatch(text.strip())
        if not found:
            raise TokenFormatError(
                "this is not an enrollment token (expected ah1.<terminal>.<secret>.<fingerprint>); "
                "copy it again from `allhours provision token`"
            )
        return cls(found["tid"], found["secret"], found["fp"])

    def __str__(self) -> str:
        return f"{PREFIX}.{self.terminal_id}.{self.secret}.{self.ca_fingerprint}"

    def __repr__(self) -> str:
        return f"EnrollmentToken({self.terminal_id!r}, <secret>)"

    @property
    def digest(self) -> str:
        """What the registry keeps: SHA-256 of the secret, bound to the terminal id."""
        return hashlib.sha256(f"{self.terminal_id}\0{self.secret}".encode()).hexdigest()
