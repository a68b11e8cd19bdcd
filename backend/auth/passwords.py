"""Password hashing with argon2id, and the rules a new password must meet."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 128  # bounds the hashing work one request can ask for

_HASHER = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile
# Verified against when the account does not exist, so both paths cost one argon2 run.
_DUMMY_HASH = _HASHER.hash("no such account: timing equaliser")


class WeakPassword(ValueError):
    """The new password breaks a rule; the message says which, for the person choosing it."""


def check_new_password(password: str, username: str) -> None:
    """Raise WeakPassword unless the password is long enough, varied, and not the username."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"at most {MAX_LENGTH} characters")
    if username.lower() in password.lower():
        raise WeakPassword("must not contain the username")
    if len(set(password)) < 5:
        raise WeakPassword("too few different characters")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when the password matches; a missing account still costs one verification."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _HASHER.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _HASHER.check_needs_rehash(stored_hash)
