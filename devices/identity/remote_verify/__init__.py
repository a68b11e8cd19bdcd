"""Remote identity verification: does this live face belong to this ID number and name?

Used when the card's photo cannot be decoded on the terminal (no WLT decoder): a remote
service that holds the registered portraits (like the public-security portrait comparison
services) compares the live photo and answers with a verdict.
"""

from .port import (
    RemoteIdentityVerifier,
    RemoteVerdict,
    RemoteVerifyError,
    RemoteVerifyProtocolError,
    RemoteVerifyRejected,
    RemoteVerifyTlsError,
    RemoteVerifyUnavailable,
)

__all__ = [
    "RemoteIdentityVerifier",
    "RemoteVerdict",
    "RemoteVerifyError",
    "RemoteVerifyProtocolError",
    "RemoteVerifyRejected",
    "RemoteVerifyTlsError",
    "RemoteVerifyUnavailable",
]
