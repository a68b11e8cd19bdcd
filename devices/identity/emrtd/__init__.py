"""ICAO 9303 eMRTD (passport chip) reading over PC/SC, and a virtual eMRTD for tests."""

from .errors import (
    AccessDenied,
    CardRemoved,
    ChipAuthenticationFailed,
    CorruptData,
    ReaderFault,
    SecureMessagingError,
    TlvError,
    UnsupportedDocument,
)
from .mrz import MrzError, MrzKey
from .reader import EmrtdReader
from .trust import TrustConfigError, TrustStore

__all__ = [
    "AccessDenied",
    "CardRemoved",
    "ChipAuthenticationFailed",
    "CorruptData",
    "EmrtdReader",
    "MrzError",
    "MrzKey",
    "ReaderFault",
    "SecureMessagingError",
    "TlvError",
    "TrustConfigError",
    "TrustStore",
    "UnsupportedDocument",
]
