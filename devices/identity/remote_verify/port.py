"""The remote identity-verification port and its errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Result = Literal["match", "no_match", "not_found", "name_mismatch"]


@dataclass(frozen=True)
class RemoteVerdict:
    """The service's answer: `matched` only when the face, number and name all agree.

    `score` is the service's similarity in [0, 1] (higher is more alike); `result` says why
    a verdict is negative: the face differs, the number is unknown, or the name differs.
    """

    matched: bool
    score: float
    transaction_id: str
    result: Result = "match"


class RemoteVerifyError(Exception):
    """No verdict was obtained; `str()` is for the technician (the kiosk words it from its
    catalogs)."""


class RemoteVerifyUnavailable(RemoteVerifyError):
    """The service could not be reached, timed out, or kept failing (5xx)."""


class RemoteVerifyTlsError(RemoteVerifyUnavailable):
    """The service's TLS certificate was not trusted (or ours was refused)."""


class RemoteVerifyRejected(RemoteVerifyError):
    """The service refused the request (4xx): bad credentials or a malformed request."""


class RemoteVerifyProtocolError(RemoteVerifyError):
    """The service answered something that is not the agreed JSON."""


class RemoteIdentityVerifier(Protocol):
    """A remote service comparing a live face with the portrait registered for an ID number."""

    def verify(self, name: str, id_number: str, live_jpeg: bytes) -> RemoteVerdict:
        """One comparison; RemoteVerifyError when no verdict could be obtained."""
        ...
