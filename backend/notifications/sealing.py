"""Secret template variables (pickup codes) sealed with AES-GCM while a message waits."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE = 12


class SealError(Exception):
    """A sealed value that cannot be opened (wrong key, or tampered with)."""


class Sealer:
    """Seals a dict of secret variables to one message (its out id is the associated data)."""

    def __init__(self, key: bytes):
        if len(key) != 32:
            raise ValueError("the notification key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)

    def seal(self, out_id: str, values: dict[str, str]) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        plain = json.dumps(values, separators=(",", ":")).encode()
        return nonce + self._aead.encrypt(nonce, plain, out_id.encode())

    def open(self, out_id: str, sealed: bytes) -> dict[str, str]:
        try:
            plain = self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], out_id.encode())
        except InvalidTag:
            raise SealError(f"sealed variables of {out_id} do not open with this key") from None
        return json.loads(plain)


def load_or_create_key(path: Path) -> bytes:
    """The notification key kept in `path` (mode 0600), made on first start."""
    if path.exists():
        key = path.read_bytes()
        if len(key) != 32:
            raise ValueError(f"{path} does not hold a 32-byte notification key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def mask_secret(value: str) -> str:
    """What logs and the API show for a secret variable."""
    return "*" * len(value)
