"""The keyed digest that names an applicant on the wire where the ID number need not travel.

A terminal asks which materials the backend holds for the citizen at the card reader with
`digest(applicant_key, document_type, number)` instead of the number. The backend keeps the
same digest of every application's applicant, computed with the same key, to look them up.
The key is the fleet's applicant key, held by the backend and the terminals (see ADR 0003).
The digest is a pseudonym: still personal data, but useless without the key.
"""

from __future__ import annotations

import hashlib
import hmac

_DOMAIN = b"allhours/v1/applicant"


def normalize(number: str) -> str:
    """The form an ID number is digested in: no spaces, upper case (a final `x` is `X`)."""
    return "".join(number.split()).upper()


def digest(key: bytes, document_type: str, number: str) -> str:
    """HMAC-SHA256 over the domain, the document type and the number, as 64 hex digits."""
    if len(key) < 16:
        raise ValueError("the applicant key must have at least 16 bytes")
    msg = b"|".join((_DOMAIN, document_type.encode(), normalize(number).encode()))
    return hmac.new(key, msg, hashlib.sha256).hexdigest()
