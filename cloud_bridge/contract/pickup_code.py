"""The keyed digest of a pickup code, shared by the backend (which issues codes) and terminals.

The backend sends only `digest(...)` to the terminal; the clear code goes to the applicant's
phone and is stored nowhere. The key is the terminal's pickup-code key, held by the backend
and by that terminal alone.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

CODE_DIGITS = 6
_DOMAIN = b"allhours/v1/pickup-code"
_TAIL_DOMAIN = b"allhours/v1/pickup-phone-tail"


def new_code() -> str:
    """A fresh random numeric pickup code."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def digest(key: bytes, terminal_id: str, code: str) -> str:
    """HMAC-SHA256 over the domain, the terminal id and the code, as 64 hex digits."""
    msg = b"|".join((_DOMAIN, terminal_id.encode(), code.strip().encode()))
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def tail_digest(key: bytes, terminal_id: str, load_id: str, tail: str) -> str:
    """HMAC-SHA256 of a phone's last four digits, bound to one load (ADR 0011), as 64 hex."""
    msg = b"|".join((_TAIL_DOMAIN, terminal_id.encode(), load_id.encode(), tail.strip().encode()))
    return hmac.new(key, msg, hashlib.sha256).hexdigest()
